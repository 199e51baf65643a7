/*
 * archive.c - .tar.gz in memory: a ustar writer (deterministic bytes) and a reader that
 * treats its input as hostile (size limits, header checksums, only regular files with safe
 * relative names). Compression by zlib.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "trackday/archive.h"

#define BLOCK 512

void td_archive_limits_default(td_archive_limits *l)
{
    l->max_entries = 64;
    l->max_total_bytes = (uint64_t)1 << 30;
    l->max_entry_bytes = (uint64_t)1 << 30;
}

void td_archive_init(td_archive *a)
{
    memset(a, 0, sizeof(*a));
}

void td_archive_free(td_archive *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->n; i++)
        td_free(a->entries[i].data);
    td_free(a->entries);
    memset(a, 0, sizeof(*a));
}

/* A name is safe when it is relative, made of [A-Za-z0-9._-] parts, none "." or "..". */
static int name_is_safe(const char *name)
{
    size_t n = strlen(name);
    const char *p = name;
    if (n == 0 || n > TD_ARCHIVE_NAME_LEN || name[0] == '/')
        return 0;
    while (*p) {
        const char *part = p;
        size_t len;
        while (*p && *p != '/') {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-'))
                return 0;
            p++;
        }
        len = (size_t)(p - part);
        if (len == 0 || (len == 1 && part[0] == '.') ||
            (len == 2 && part[0] == '.' && part[1] == '.'))
            return 0;
        if (*p == '/')
            p++;
        if (*p == '\0' && p[-1] == '/')
            return 0;
    }
    return 1;
}

const td_archive_entry *td_archive_find(const td_archive *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->entries[i].name, name) == 0)
            return &a->entries[i];
    return NULL;
}

/* Appends an entry taking ownership of data (td_malloc'd). */
static int add_owned(td_archive *a, const char *name, uint8_t *data, size_t size, td_err *err)
{
    if (!name_is_safe(name)) {
        td_free(data);
        return td_err_set(err, TD_EFORMAT,
                          "archive entry '%.120s': unsafe name (a relative path of at most %d "
                          "bytes of [A-Za-z0-9._-], no '.' or '..' parts)",
                          name, TD_ARCHIVE_NAME_LEN);
    }
    if (td_archive_find(a, name)) {
        td_free(data);
        return td_err_set(err, TD_EFORMAT, "archive entry '%s' appears twice", name);
    }
    if (a->n == a->cap) {
        int ncap = a->cap ? 2 * a->cap : 8;
        td_archive_entry *ne = td_realloc(a->entries, (size_t)ncap * sizeof(*ne));
        if (!ne) {
            td_free(data);
            return td_err_set(err, TD_ENOMEM, "archive: out of memory");
        }
        a->entries = ne;
        a->cap = ncap;
    }
    td_archive_entry *e = &a->entries[a->n++];
    memset(e, 0, sizeof(*e));
    memcpy(e->name, name, strlen(name) + 1);
    e->data = data;
    e->size = size;
    return 0;
}

int td_archive_add(td_archive *a, const char *name, const void *data, size_t size, td_err *err)
{
    uint8_t *copy = td_malloc(size ? size : 1);
    if (!copy)
        return td_err_set(err, TD_ENOMEM, "archive entry '%s': out of memory (%zu bytes)", name,
                          size);
    if (size)
        memcpy(copy, data, size);
    return add_owned(a, name, copy, size, err);
}

/* ---- writing ---------------------------------------------------------------------------- */

/* An octal field of width w (w - 1 digits and a NUL), as ustar writes numbers. */
static void octal(char *field, int w, uint64_t v)
{
    for (int i = w - 2; i >= 0; i--) {
        field[i] = (char)('0' + (v & 7));
        v >>= 3;
    }
    field[w - 1] = '\0';
}

static void ustar_header(uint8_t h[BLOCK], const char *name, uint64_t size, int64_t mtime)
{
    unsigned sum = 0;
    memset(h, 0, BLOCK);
    memcpy(h, name, strlen(name));
    octal((char *)h + 100, 8, 0644);
    octal((char *)h + 108, 8, 0);
    octal((char *)h + 116, 8, 0);
    octal((char *)h + 124, 12, size);
    octal((char *)h + 136, 12, (uint64_t)(mtime < 0 ? 0 : mtime));
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 265, "root", 4);
    memcpy(h + 297, "root", 4);
    /* The checksum is computed with its own field read as spaces. */
    memset(h + 148, ' ', 8);
    for (int i = 0; i < BLOCK; i++)
        sum += h[i];
    octal((char *)h + 148, 7, sum);
    h[155] = ' ';
}

/* The tar bytes of the archive (td_malloc'd): headers, data padded to 512, two zero blocks. */
static int build_tar(const td_archive *a, int64_t mtime, uint8_t **out, size_t *out_len,
                     td_err *err)
{
    size_t tar_len = 2 * BLOCK, pos = 0;
    for (int i = 0; i < a->n; i++)
        tar_len += BLOCK + (a->entries[i].size + BLOCK - 1) / BLOCK * BLOCK;
    uint8_t *tar = td_calloc(1, tar_len);
    if (!tar)
        return td_err_set(err, TD_ENOMEM, "archive: out of memory (%zu bytes)", tar_len);
    for (int i = 0; i < a->n; i++) {
        const td_archive_entry *e = &a->entries[i];
        ustar_header(tar + pos, e->name, e->size, mtime);
        pos += BLOCK;
        if (e->size)
            memcpy(tar + pos, e->data, e->size);
        pos += (e->size + BLOCK - 1) / BLOCK * BLOCK;
    }
    *out = tar;
    *out_len = tar_len;
    return 0;
}

int td_archive_to_tar(const td_archive *a, uint8_t **out, size_t *out_len, td_err *err)
{
    *out = NULL;
    *out_len = 0;
    return build_tar(a, 0, out, out_len, err);
}

int td_archive_to_targz(const td_archive *a, int64_t mtime, uint8_t **out, size_t *out_len,
                        td_err *err)
{
    uint8_t *tar;
    size_t tar_len;
    *out = NULL;
    *out_len = 0;
    int rc = build_tar(a, mtime, &tar, &tar_len, err);
    if (rc)
        return rc;
    /* gzip wrapper (windowBits 16 + 15), mtime 0 in the gzip header: deterministic. */
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        td_free(tar);
        return td_err_set(err, TD_EINTERNAL, "archive: zlib deflateInit2 failed");
    }
    size_t cap = deflateBound(&z, (uLong)tar_len) + 64;
    uint8_t *gz = td_malloc(cap);
    if (!gz) {
        deflateEnd(&z);
        td_free(tar);
        return td_err_set(err, TD_ENOMEM, "archive: out of memory (%zu bytes)", cap);
    }
    z.next_in = tar;
    z.avail_in = (uInt)tar_len;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    size_t gz_len = cap - z.avail_out;
    deflateEnd(&z);
    td_free(tar);
    if (zr != Z_STREAM_END) {
        td_free(gz);
        return td_err_set(err, TD_EINTERNAL, "archive: zlib deflate failed (%d)", zr);
    }
    *out = gz;
    *out_len = gz_len;
    return 0;
}

int td_archive_write_targz(const td_archive *a, const char *path, int64_t mtime, td_err *err)
{
    uint8_t *gz;
    size_t len;
    int rc = td_archive_to_targz(a, mtime, &gz, &len, err);
    if (rc)
        return rc;
    rc = td_file_write_atomic(path, gz, len, err);
    td_free(gz);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* trackday's policy on what the reader (tar_read.c) yields: only regular files with safe,
 * plain ustar names, within the limits, and (canonical) each header the one build_tar writes. */
static int read_entries(td_archive *a, td_tar_reader *r, int canonical,
                        const td_archive_limits *lim, td_err *err)
{
    td_tar_member *m = td_malloc(sizeof(*m));
    uint64_t total = 0;
    int rc;
    if (!m)
        return td_err_set(err, TD_ENOMEM, "archive: out of memory");
    while ((rc = td_tar_next(r, m, err)) > 0) {
        const char *name = m->name;
        uint64_t size = m->size;
        if (canonical) {
            /* Every header byte is the one build_tar writes for this name and size. */
            uint8_t want[BLOCK];
            if (m->long_name || strlen(name) > TD_ARCHIVE_NAME_LEN || size > ((uint64_t)1 << 33)) {
                rc = td_err_set(err, TD_EFORMAT, "archive entry '%.100s': not a canonical header",
                                name);
                break;
            }
            ustar_header(want, name, size, 0);
            if (memcmp(want, m->header, BLOCK) != 0) {
                rc = td_err_set(err, TD_EFORMAT,
                                "archive entry '%.100s': its header differs from the one "
                                "trackday writes",
                                name);
                break;
            }
        }
        if (m->long_name) {
            rc = td_err_set(err, TD_EFORMAT,
                            "archive entry '%.100s': a GNU or pax long name (trackday's archives "
                            "use plain ustar names of at most %d bytes)",
                            name, TD_ARCHIVE_NAME_LEN);
            break;
        }
        if (m->type == '5') {
            /* A directory: nothing to keep (entries carry their paths). */
            if (size != 0) {
                rc = td_err_set(err, TD_EFORMAT, "archive entry '%.100s': directory with data",
                                name);
                break;
            }
            continue;
        }
        if (m->type != '0' && m->type != '\0') {
            rc = td_err_set(err, TD_EFORMAT,
                            "archive entry '%.100s': type '%c' refused (only regular files)", name,
                            m->type >= 32 && m->type < 127 ? m->type : '?');
            break;
        }
        if (a->n >= lim->max_entries) {
            rc = td_err_set(err, TD_ERANGE, "archive: more than %d entries", lim->max_entries);
            break;
        }
        if (size > lim->max_entry_bytes || total + size > lim->max_total_bytes) {
            rc =
                td_err_set(err, TD_ERANGE,
                           "archive entry '%.100s': %llu bytes is over the limit (%llu per entry, "
                           "%llu in all)",
                           name, (unsigned long long)size, (unsigned long long)lim->max_entry_bytes,
                           (unsigned long long)lim->max_total_bytes);
            break;
        }
        total += size;
        uint8_t *data = td_malloc(size ? (size_t)size : 1);
        if (!data) {
            rc = td_err_set(err, TD_ENOMEM, "archive entry '%.100s': out of memory", name);
            break;
        }
        if ((rc = td_tar_read_exact(r, data, (size_t)size, err)) != 0) {
            td_free(data);
            break;
        }
        if ((rc = add_owned(a, name, data, (size_t)size, err)) != 0)
            break;
    }
    td_free(m);
    return rc;
}

/* A .tar.gz (plain 0) or a plain .tar (plain 1) in memory. */
static int read_memory(td_archive *a, const void *buf, size_t len, int plain,
                       const td_archive_limits *lim, td_err *err)
{
    td_archive_limits dl;
    td_tar_reader *r;
    td_archive_init(a);
    if (!lim) {
        td_archive_limits_default(&dl);
        lim = &dl;
    }
    int rc = plain ? td_tar_open_memory(&r, buf, len, 1, err)
                   : td_tar_open_gzip_memory(&r, buf, len, err);
    if (rc)
        return rc;
    rc = read_entries(a, r, plain, lim, err);
    td_tar_close(r);
    return rc;
}

int td_archive_read_targz(td_archive *a, const void *buf, size_t len, const td_archive_limits *lim,
                          td_err *err)
{
    return read_memory(a, buf, len, 0, lim, err);
}

int td_archive_read_tar(td_archive *a, const void *buf, size_t len, const td_archive_limits *lim,
                        td_err *err)
{
    return read_memory(a, buf, len, 1, lim, err);
}

int td_archive_read_targz_file(td_archive *a, const char *path, const td_archive_limits *lim,
                               td_err *err)
{
    td_archive_limits dl;
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    int rc;
    td_archive_init(a);
    if (!lim) {
        td_archive_limits_default(&dl);
        lim = &dl;
    }
    if (stat(path, &st) == 0 && (uint64_t)st.st_size > lim->max_total_bytes)
        return td_err_set(err, TD_ERANGE, "%s: %lld bytes is over the limit of %llu", path,
                          (long long)st.st_size, (unsigned long long)lim->max_total_bytes);
    if ((rc = td_file_read(path, &data, &len, err)) != 0)
        return rc;
    rc = td_archive_read_targz(a, data, len, lim, err);
    td_free(data);
    if (rc)
        td_err_prefix(err, rc, "%s: ", path);
    return rc;
}
