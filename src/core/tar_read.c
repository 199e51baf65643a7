/*
 * tar_read.c - the one tar reader (archive.h, td_tar_*): every archive trackday reads goes
 * through it, whatever the caller then accepts: trackday's own archives held in memory
 * (archive.c, byte for byte), the hub's uploads (hub/tar.c, paths cleaned, links refused)
 * and other tools' exports (archive_stream.c, names only reported). It reads ustar, GNU long
 * names and pax paths, from a file (gzip-compressed or not) or from memory (gzip checked
 * byte for byte, or a canonical plain tar), one member at a time, and treats its input as
 * hostile: header checksums, number fields, metadata sizes and truncation are all checked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "trackday/archive.h"

#define BLOCK    512
#define META_MAX 16384 /* a GNU long name or pax header: more is not a path */

/* ------------------------------------------------------------------------------------ */
/* A gzip stream in memory, checked byte for byte                                       */
/* ------------------------------------------------------------------------------------ */

/*
 * A streaming gzip reader (RFC 1952) that hands out the tar bytes block by block. The
 * header and trailer are parsed here and the deflate data inflated raw, so that every byte
 * of the input is checked: header fields, the deflate stream, the unused bits of its last
 * byte (zero, as every deflate writer leaves them), the CRC-32 and length of the trailer, and
 * nothing after it.
 */
typedef struct gz_in {
    z_stream z;
    int ended; /* the deflate stream ended and the trailer checked */
    uLong crc;
    uint64_t total_out;
} gz_in;

enum { GZ_FTEXT = 1, GZ_FHCRC = 2, GZ_FEXTRA = 4, GZ_FNAME = 8, GZ_FCOMMENT = 16 };

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The length of the gzip header at buf, or 0 when it is not one zlib can inflate. */
static size_t gz_header_len(const uint8_t *buf, size_t len)
{
    size_t p = 10;
    if (len < 18 || buf[0] != 0x1f || buf[1] != 0x8b || buf[2] != 8 || (buf[3] & 0xe0))
        return 0;
    int flg = buf[3];
    if (flg & GZ_FEXTRA) {
        if (p + 2 > len)
            return 0;
        p += 2 + ((size_t)buf[p] | (size_t)buf[p + 1] << 8);
    }
    for (int f = GZ_FNAME; f <= GZ_FCOMMENT; f <<= 1)
        if (flg & f) {
            while (p < len && buf[p])
                p++;
            p++;
        }
    if (flg & GZ_FHCRC) {
        if (p + 2 > len || (crc32(0, buf, (uInt)p) & 0xffff) != (buf[p] | (uLong)buf[p + 1] << 8))
            return 0;
        p += 2;
    }
    return p <= len ? p : 0;
}

/* One inflate call into dst (avail bytes); updates the CRC; checks the end when it comes. */
static int gz_inflate(gz_in *g, uint8_t *dst, size_t avail, size_t *produced, td_err *err,
                      const char *what)
{
    g->z.next_out = dst;
    g->z.avail_out = (uInt)avail;
    int zr = inflate(&g->z, Z_NO_FLUSH);
    *produced = avail - g->z.avail_out;
    g->crc = crc32(g->crc, dst, (uInt)*produced);
    g->total_out += *produced;
    if (zr == Z_STREAM_END) {
        /* The unused high bits of the deflate stream's last byte must be zero. */
        int unused = g->z.data_type & 7;
        if (unused && (g->z.next_in[-1] >> (8 - unused)) != 0)
            return td_err_set(err, TD_EFORMAT, "archive: the gzip stream's last bits are not zero");
        if (g->z.avail_in < 8)
            return td_err_set(err, TD_EFORMAT, "archive truncated: the gzip trailer is missing");
        if (le32(g->z.next_in) != (uint32_t)g->crc ||
            le32(g->z.next_in + 4) != (uint32_t)g->total_out)
            return td_err_set(err, TD_ECHECKSUM,
                              "archive: gzip CRC-32 or length mismatch (the file is damaged)");
        if (g->z.avail_in != 8)
            return td_err_set(err, TD_EFORMAT, "archive: %u bytes after the end of the gzip stream",
                              (unsigned)(g->z.avail_in - 8));
        g->ended = 1;
        return 0;
    }
    if (zr == Z_BUF_ERROR && g->z.avail_in == 0)
        return td_err_set(err, TD_EFORMAT, "archive truncated: it ends inside %s", what);
    if (zr != Z_OK)
        return td_err_set(err, TD_EFORMAT, "archive: not a valid gzip stream (%s, inside %s)",
                          g->z.msg ? g->z.msg : "zlib error", what);
    if (g->z.avail_in == 0 && g->z.avail_out > 0)
        return td_err_set(err, TD_EFORMAT, "archive truncated: it ends inside %s", what);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* The reader                                                                           */
/* ------------------------------------------------------------------------------------ */

enum { SRC_FILE, SRC_GZIP_MEMORY, SRC_MEMORY };

struct td_tar_reader {
    int src;
    gzFile gz;        /* SRC_FILE */
    gz_in g;          /* SRC_GZIP_MEMORY */
    const uint8_t *p; /* SRC_MEMORY */
    size_t len, pos;
    int canonical;
    uint64_t left, pad; /* data bytes of the current member not yet read, and its padding */
    uint64_t position;  /* tar bytes consumed */
    int members;
    int ended;
    char what[160]; /* "entry 'NAME'", for truncation messages */
};

static int all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/*
 * Reads exactly n bytes. At a member boundary (eof_ok) a file that ends with no byte of the
 * next header returns 1: some writers stop after the last member without the zero blocks.
 */
static int src_read(td_tar_reader *r, uint8_t *dst, size_t n, int eof_ok, td_err *err,
                    const char *what)
{
    if (r->src == SRC_FILE) {
        size_t got = 0;
        while (got < n) {
            unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
            int k = gzread(r->gz, dst + got, chunk);
            if (k < 0) {
                int zerr;
                const char *m = gzerror(r->gz, &zerr);
                return td_err_set(err, TD_EFORMAT, "archive: not a valid .tar.gz (%s)", m);
            }
            if (k == 0) {
                if (eof_ok && got == 0)
                    return 1;
                return td_err_set(err, TD_EFORMAT, "archive truncated: it ends inside %s", what);
            }
            got += (size_t)k;
        }
    } else if (r->src == SRC_GZIP_MEMORY) {
        while (n > 0) {
            size_t got;
            if (r->g.ended)
                return td_err_set(err, TD_EFORMAT, "archive truncated: it ends inside %s", what);
            int rc = gz_inflate(&r->g, dst, n, &got, err, what);
            if (rc)
                return rc;
            dst += got;
            n -= got;
            r->position += got;
        }
        return 0;
    } else {
        if (r->len - r->pos < n)
            return td_err_set(err, TD_EFORMAT, "archive truncated: it ends inside %s", what);
        memcpy(dst, r->p + r->pos, n);
        r->pos += n;
    }
    r->position += n;
    return 0;
}

/* Skips n bytes; padding (must_be_zero in a canonical archive) is checked. */
static int src_skip(td_tar_reader *r, uint64_t n, int must_be_zero, td_err *err, const char *what)
{
    uint8_t buf[8192];
    while (n > 0) {
        size_t k = n > sizeof(buf) ? sizeof(buf) : (size_t)n;
        int rc = src_read(r, buf, k, 0, err, what);
        if (rc)
            return rc;
        if (must_be_zero && !all_zero(buf, k))
            return td_err_set(err, TD_EFORMAT, "archive %s: padding is not zero", what);
        n -= k;
    }
    return 0;
}

/* After the first zero block: what may follow it. */
static int src_end(td_tar_reader *r, td_err *err)
{
    uint8_t h[BLOCK];
    int rc = 0;
    if (r->src == SRC_FILE)
        return 0; /* another tool's archive: what follows its end is not read */
    if (r->src == SRC_GZIP_MEMORY) {
        /* Inflate what is left (zero padding, at most 1 MiB) so that the trailer's CRC-32
         * and length are checked too. */
        uint64_t left = 0;
        while (!r->g.ended && rc == 0) {
            size_t got;
            rc = gz_inflate(&r->g, h, BLOCK, &got, err, "the end of the archive");
            if (rc == 0 && !all_zero(h, got))
                rc = td_err_set(err, TD_EFORMAT, "archive: data after the end of the tar");
            else if (rc == 0 && (left += got) > ((uint64_t)1 << 20))
                rc = td_err_set(err, TD_EFORMAT, "archive: over 1 MiB after the last entry");
        }
        return rc;
    }
    if (r->canonical) {
        /* Exactly one more zero block, then nothing. */
        if (r->len - r->pos < BLOCK)
            return td_err_set(err, TD_EFORMAT,
                              "archive truncated: its closing zero blocks are cut short");
        if (r->len - r->pos != BLOCK)
            return td_err_set(err, TD_EFORMAT,
                              "archive: %zu bytes after the last entry (a second zero block of "
                              "512 ends it)",
                              r->len - r->pos);
        if (!all_zero(r->p + r->pos, BLOCK))
            return td_err_set(err, TD_EFORMAT, "archive: data after the end of the tar");
        return 0;
    }
    while (r->len - r->pos >= BLOCK && all_zero(r->p + r->pos, BLOCK))
        r->pos += BLOCK;
    if (r->pos != r->len)
        return td_err_set(err, TD_EFORMAT, "archive: data after the end of the tar");
    return 0;
}

static td_tar_reader *reader_new(int src)
{
    td_tar_reader *r = td_calloc(1, sizeof(*r));
    if (r)
        r->src = src;
    return r;
}

int td_tar_open_file(td_tar_reader **out, const char *path, td_err *err)
{
    td_tar_reader *r = reader_new(SRC_FILE);
    *out = NULL;
    if (!r)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    r->gz = gzopen(path, "rb");
    if (!r->gz) {
        int e = errno;
        td_free(r);
        return td_err_set(err, TD_EIO, "%s: cannot open: %s", path, e ? strerror(e) : "zlib");
    }
    gzbuffer(r->gz, 64 * 1024);
    *out = r;
    return 0;
}

int td_tar_open_gzip_memory(td_tar_reader **out, const void *buf, size_t len, td_err *err)
{
    *out = NULL;
    size_t hl = gz_header_len(buf, len);
    if (!hl)
        return td_err_set(err, TD_EFORMAT, "archive: not a gzip file (no valid gzip header)");
    if (len > UINT32_MAX)
        return td_err_set(err, TD_ERANGE, "archive: over 4 GiB");
    td_tar_reader *r = reader_new(SRC_GZIP_MEMORY);
    if (!r)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    if (inflateInit2(&r->g.z, -15) != Z_OK) {
        td_free(r);
        return td_err_set(err, TD_EINTERNAL, "archive: zlib inflateInit2 failed");
    }
    r->g.crc = crc32(0, NULL, 0);
    r->g.z.next_in = (Bytef *)(uintptr_t)buf + hl;
    r->g.z.avail_in = (uInt)(len - hl);
    *out = r;
    return 0;
}

int td_tar_open_memory(td_tar_reader **out, const void *buf, size_t len, int canonical, td_err *err)
{
    td_tar_reader *r = reader_new(SRC_MEMORY);
    *out = NULL;
    if (!r)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    r->p = buf;
    r->len = len;
    r->canonical = canonical;
    *out = r;
    return 0;
}

void td_tar_close(td_tar_reader *r)
{
    if (!r)
        return;
    if (r->src == SRC_FILE)
        gzclose(r->gz);
    else if (r->src == SRC_GZIP_MEMORY)
        inflateEnd(&r->g.z);
    td_free(r);
}

uint64_t td_tar_position(const td_tar_reader *r)
{
    return r->position;
}

/* An octal number field (digits between optional spaces and NULs), or GNU's base-256 form
 * (a first byte with the high bit set) when base256 is allowed. */
static int parse_number(const uint8_t *f, size_t w, int base256, uint64_t *v)
{
    uint64_t x = 0;
    size_t i = 0;
    int digits = 0;
    if (w > 0 && (f[0] & 0x80)) {
        if (!base256 || f[0] != 0x80)
            return -1; /* negative or not a size */
        for (i = 1; i < w; i++) {
            if (x >> 55)
                return -1;
            x = (x << 8) | f[i];
        }
        *v = x;
        return 0;
    }
    while (i < w && (f[i] == ' ' || f[i] == '\0'))
        i++;
    for (; i < w && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (x >> 60)
            return -1;
        x = x * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < w; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    if (!digits)
        return -1;
    *v = x;
    return 0;
}

/* The "path=" record of a pax extended header, if any, into out. */
static void pax_path(const char *data, size_t len, char *out, size_t cap)
{
    size_t i = 0;
    while (i < len) {
        char *end;
        long rec = strtol(data + i, &end, 10);
        if (rec <= 0 || (size_t)rec > len - i || end >= data + i + rec || *end != ' ')
            return;
        const char *kv = end + 1;
        size_t kvlen = (size_t)(data + i + rec - kv);
        if (kvlen > 6 && !strncmp(kv, "path=", 5)) {
            size_t n = kvlen - 5 - 1; /* minus the record's newline */
            if (n >= cap)
                n = cap - 1;
            memcpy(out, kv + 5, n);
            out[n] = '\0';
        }
        i += (size_t)rec;
    }
}

int td_tar_next(td_tar_reader *r, td_tar_member *m, td_err *err)
{
    uint8_t h[BLOCK];
    int rc, long_name = 0;
    if (r->ended)
        return 0;
    /* Whatever the caller did not read of the previous member, and its padding. */
    if ((rc = src_skip(r, r->left, 0, err, r->what)) != 0 ||
        (rc = src_skip(r, r->pad, r->canonical, err, r->what)) != 0)
        return rc;
    r->left = r->pad = 0;
    memset(m, 0, sizeof(*m));
    for (;;) {
        uint64_t size, mode, sum_stored;
        unsigned sum = 0;
        rc = src_read(r, h, BLOCK, r->src == SRC_FILE, err, "a header");
        if (rc == 1) {
            r->ended = 1;
            return 0;
        }
        if (rc)
            return rc;
        if (all_zero(h, BLOCK)) {
            r->ended = 1;
            return src_end(r, err);
        }
        /* The checksum sums the header with its own field read as spaces. */
        for (int i = 0; i < BLOCK; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (parse_number(h + 148, 8, 0, &sum_stored) != 0 || sum_stored != sum)
            return td_err_set(err, TD_ECHECKSUM,
                              "archive: bad tar header checksum (entry %d; is it a tar or "
                              ".tar.gz file?)",
                              r->members + 1);
        if (parse_number(h + 124, 12, 1, &size) != 0 || parse_number(h + 100, 8, 0, &mode) != 0)
            return td_err_set(err, TD_EFORMAT, "archive: entry %d has a malformed size or mode",
                              r->members + 1);
        uint64_t padded = (size + BLOCK - 1) / BLOCK * BLOCK;
        char type = (char)h[156];
        if (type == 'L' || type == 'x') {
            /* A GNU long name or pax extended header: the next member's name. */
            if (size >= META_MAX)
                return td_err_set(err, TD_EFORMAT,
                                  "archive: a long-name entry of %llu bytes (at most %d)",
                                  (unsigned long long)size, META_MAX - 1);
            char *meta = td_malloc((size_t)padded + 1);
            if (!meta)
                return td_err_set(err, TD_ENOMEM, "archive: out of memory");
            rc = src_read(r, (uint8_t *)meta, (size_t)padded, 0, err, "a long-name entry");
            if (rc) {
                td_free(meta);
                return rc;
            }
            meta[size] = '\0';
            if (type == 'L')
                snprintf(m->name, sizeof(m->name), "%s", meta);
            else
                pax_path(meta, (size_t)size, m->name, sizeof(m->name));
            long_name = m->name[0] != '\0';
            td_free(meta);
            continue;
        }
        if (type == 'g') { /* a pax global header: nothing a reader here uses */
            if ((rc = src_skip(r, padded, 0, err, "a pax global header")) != 0)
                return rc;
            continue;
        }
        if (!long_name) {
            char nm[101], px[156];
            memcpy(nm, h, 100);
            nm[100] = '\0';
            memcpy(px, h + 345, 155);
            px[155] = '\0';
            if (memcmp(h + 257, "ustar", 5) == 0 && px[0])
                snprintf(m->name, sizeof(m->name), "%s/%s", px, nm);
            else
                snprintf(m->name, sizeof(m->name), "%s", nm);
        }
        m->long_name = long_name;
        m->size = size;
        m->mode = (uint32_t)(mode & 07777);
        m->type = type;
        m->index = ++r->members;
        memcpy(m->header, h, BLOCK);
        r->left = size;
        r->pad = padded - size;
        snprintf(r->what, sizeof(r->what), "entry '%.100s'", m->name);
        return 1;
    }
}

ssize_t td_tar_read(td_tar_reader *r, void *buf, size_t cap, td_err *err)
{
    size_t n = r->left < cap ? (size_t)r->left : cap;
    if (!n)
        return 0;
    int rc = src_read(r, buf, n, 0, err, r->what);
    if (rc)
        return rc;
    r->left -= n;
    return (ssize_t)n;
}

int td_tar_read_exact(td_tar_reader *r, void *buf, size_t n, td_err *err)
{
    if (n > r->left)
        return td_err_set(err, TD_EINVAL, "archive %s: %zu bytes asked, %llu left", r->what, n,
                          (unsigned long long)r->left);
    int rc = n ? src_read(r, buf, n, 0, err, r->what) : 0;
    if (!rc)
        r->left -= n;
    return rc;
}
