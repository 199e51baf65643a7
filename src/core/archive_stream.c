/*
 * archive_stream.c - reading the files of a tar archive that another tool wrote (DeepRacer's
 * model and log exports) as a stream, without extracting it (archive.h explains why this is
 * not td_archive_read_targz): each regular file's name and size go to the caller, who says
 * whether it wants the bytes. Archives are untrusted input: headers are checksummed, names
 * are only reported (never used as paths here), and a wanted file and the whole archive have
 * size limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "trackday/archive.h"

#define BLOCK 512

/* Reads exactly n bytes (n may be 0); -1 at a short read or an error. */
static int read_full(gzFile gz, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(gz, p, chunk);
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static int skip(gzFile gz, uint64_t n)
{
    char buf[8192];
    while (n > 0) {
        size_t k = n > sizeof(buf) ? sizeof(buf) : (size_t)n;
        if (read_full(gz, buf, k) != 0)
            return -1;
        n -= k;
    }
    return 0;
}

/* An octal (or GNU base-256) number field. */
static int parse_number(const unsigned char *f, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n > 0 && (f[0] & 0x80)) {
        for (size_t i = 1; i < n; i++) {
            if (v >> 55)
                return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < n && (f[i] == ' ' || f[i] == '\0'))
        i++;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    *out = v;
    return 0;
}

static int header_ok(const unsigned char *h)
{
    uint64_t stored;
    if (parse_number(h + 148, 8, &stored) != 0)
        return 0;
    unsigned long sum = 0;
    for (int i = 0; i < BLOCK; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return sum == stored;
}

static int all_zero(const unsigned char *h)
{
    for (int i = 0; i < BLOCK; i++)
        if (h[i])
            return 0;
    return 1;
}

/* The "path=" record of a pax extended header, if any. */
static void pax_path(const char *data, size_t len, char *out, size_t cap)
{
    size_t i = 0;
    while (i < len) {
        char *end;
        long rec = strtol(data + i, &end, 10);
        if (rec <= 0 || (size_t)rec > len - i || *end != ' ')
            return;
        const char *kv = end + 1;
        size_t kvlen = (size_t)(data + i + rec - kv);
        if (kvlen > 5 && !strncmp(kv, "path=", 5)) {
            size_t n = kvlen - 5 - 1; /* minus the record's newline */
            if (n >= cap)
                n = cap - 1;
            memcpy(out, kv + 5, n);
            out[n] = '\0';
        }
        i += (size_t)rec;
    }
}

int td_archive_stream_file(const char *path, td_tar_want_fn want, td_tar_file_fn file, void *user,
                           uint64_t max_total, uint64_t max_file, td_err *err)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return td_err_set(err, TD_EIO, "%s: cannot open", path);
    unsigned char h[BLOCK];
    char longname[4096] = "";
    uint64_t total = 0;
    int rc = 0, entries = 0;
    for (;;) {
        int got = gzread(gz, h, BLOCK);
        if (got == 0 && entries == 0) {
            rc = td_err_set(err, TD_EFORMAT, "%s: empty archive", path);
            break;
        }
        if (got != BLOCK) {
            /* Some writers stop after the last file without the two zero blocks. */
            if (got == 0)
                break;
            rc = td_err_set(err, TD_EFORMAT, "%s: truncated archive (a header is cut short)", path);
            break;
        }
        if (all_zero(h))
            break;
        if (!header_ok(h)) {
            rc = td_err_set(err, TD_EFORMAT,
                            "%s: not a tar.gz archive, or a damaged one (bad header checksum "
                            "after %d files)",
                            path, entries);
            break;
        }
        entries++;
        uint64_t size;
        if (parse_number(h + 124, 12, &size) != 0) {
            rc = td_err_set(err, TD_EFORMAT, "%s: bad size field", path);
            break;
        }
        uint64_t padded = (size + BLOCK - 1) / BLOCK * BLOCK;
        total += padded + BLOCK;
        if (total > max_total) {
            rc = td_err_set(err, TD_ERANGE, "%s: the archive holds more than %llu bytes", path,
                            (unsigned long long)max_total);
            break;
        }
        char type = (char)h[156];
        if (type == 'L' || type == 'x') {
            /* A long name (GNU) or extended header (pax) for the next entry. */
            if (size >= sizeof(longname) * 4) {
                rc = td_err_set(err, TD_EFORMAT, "%s: an extended header is too long", path);
                break;
            }
            char *data = td_malloc((size_t)padded + 1);
            if (!data) {
                rc = td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
                break;
            }
            if (read_full(gz, data, (size_t)padded) != 0) {
                td_free(data);
                rc = td_err_set(err, TD_EFORMAT, "%s: truncated archive", path);
                break;
            }
            data[size] = '\0';
            if (type == 'L')
                snprintf(longname, sizeof(longname), "%s", data);
            else
                pax_path(data, (size_t)size, longname, sizeof(longname));
            td_free(data);
            continue;
        }
        char name[4096];
        if (longname[0]) {
            snprintf(name, sizeof(name), "%s", longname);
            longname[0] = '\0';
        } else {
            char n[101], prefix[156];
            memcpy(n, h, 100);
            n[100] = '\0';
            memcpy(prefix, h + 345, 155);
            prefix[155] = '\0';
            if (!memcmp(h + 257, "ustar", 5) && prefix[0])
                snprintf(name, sizeof(name), "%s/%s", prefix, n);
            else
                snprintf(name, sizeof(name), "%s", n);
        }
        int regular = type == '0' || type == '\0' || type == '7';
        if (!regular || !want(user, name, size)) {
            if (skip(gz, padded) != 0) {
                rc = td_err_set(err, TD_EFORMAT, "%s: truncated archive (in %s)", path, name);
                break;
            }
            continue;
        }
        if (size > max_file) {
            rc = td_err_set(err, TD_ERANGE, "%s: %s is %llu bytes, more than the %llu allowed",
                            path, name, (unsigned long long)size, (unsigned long long)max_file);
            break;
        }
        char *data = td_malloc((size_t)padded + 1);
        if (!data) {
            rc = td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
            break;
        }
        if (read_full(gz, data, (size_t)padded) != 0) {
            td_free(data);
            rc = td_err_set(err, TD_EFORMAT, "%s: truncated archive (in %s)", path, name);
            break;
        }
        data[size] = '\0';
        rc = file(user, name, data, (size_t)size, err);
        td_free(data);
        if (rc)
            break;
    }
    gzclose(gz);
    return rc;
}
