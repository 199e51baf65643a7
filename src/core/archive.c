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

/* A streaming inflater that hands out the tar bytes block by block. */
/*
 * A streaming gzip reader (RFC 1952) that hands out the tar bytes block by block. The
 * header and trailer are parsed here and the deflate data inflated raw, so that every byte
 * of the file is checked: header fields, the deflate stream, the unused bits of its last byte
 * (zero, as every deflate writer leaves them), the CRC-32 and length of the trailer, and
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

/* Reads exactly n bytes; TD_EFORMAT if the stream ends first. */
static int gz_read(gz_in *g, uint8_t *dst, size_t n, td_err *err, const char *what)
{
    while (n > 0) {
        size_t got;
        if (g->ended)
            return td_err_set(err, TD_EFORMAT, "archive truncated: it ends inside %s", what);
        int rc = gz_inflate(g, dst, n, &got, err, what);
        if (rc)
            return rc;
        dst += got;
        n -= got;
    }
    return 0;
}

static int parse_octal(const uint8_t *f, int w, uint64_t *v)
{
    uint64_t x = 0;
    int i = 0, digits = 0;
    while (i < w && (f[i] == ' ' || f[i] == '\0'))
        i++;
    for (; i < w && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (x > ((uint64_t)1 << 60))
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

static int all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* Where the tar bytes come from: a gzip stream, or memory as it is. */
typedef struct tar_src {
    int gz;
    gz_in g;
    const uint8_t *p;
    size_t len, pos;
    int canonical; /* plain tar checked byte for byte against what build_tar writes */
} tar_src;

static int src_read(tar_src *s, uint8_t *dst, size_t n, td_err *err, const char *what)
{
    if (s->gz)
        return gz_read(&s->g, dst, n, err, what);
    if (s->len - s->pos < n)
        return td_err_set(err, TD_EFORMAT, "archive truncated: it ends inside %s", what);
    memcpy(dst, s->p + s->pos, n);
    s->pos += n;
    return 0;
}

/* After the first zero block: what may follow it. */
static int src_end(tar_src *s, td_err *err)
{
    uint8_t h[BLOCK];
    int rc = 0;
    if (s->gz) {
        /* Inflate what is left (zero padding, at most 1 MiB) so that the trailer's CRC-32
         * and length are checked too. */
        uint64_t left = 0;
        while (!s->g.ended && rc == 0) {
            size_t got;
            rc = gz_inflate(&s->g, h, BLOCK, &got, err, "the end of the archive");
            if (rc == 0 && !all_zero(h, got))
                rc = td_err_set(err, TD_EFORMAT, "archive: data after the end of the tar");
            else if (rc == 0 && (left += got) > ((uint64_t)1 << 20))
                rc = td_err_set(err, TD_EFORMAT, "archive: over 1 MiB after the last entry");
        }
        return rc;
    }
    if (s->canonical) {
        /* Exactly one more zero block, then nothing. */
        if (s->len - s->pos < BLOCK)
            return td_err_set(err, TD_EFORMAT,
                              "archive truncated: its closing zero blocks are cut short");
        if (s->len - s->pos != BLOCK)
            return td_err_set(err, TD_EFORMAT,
                              "archive: %zu bytes after the last entry (a second zero block of "
                              "512 ends it)",
                              s->len - s->pos);
        if (!all_zero(s->p + s->pos, BLOCK))
            return td_err_set(err, TD_EFORMAT, "archive: data after the end of the tar");
        return 0;
    }
    while (s->len - s->pos >= BLOCK && all_zero(s->p + s->pos, BLOCK))
        s->pos += BLOCK;
    if (s->pos != s->len)
        return td_err_set(err, TD_EFORMAT, "archive: data after the end of the tar");
    return 0;
}

static int read_entries(td_archive *a, tar_src *src, const td_archive_limits *lim, td_err *err)
{
    uint8_t h[BLOCK];
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        uint64_t size, sum_stored;
        unsigned sum = 0;
        char name[260];
        if ((rc = src_read(src, h, BLOCK, err, "a header")) != 0)
            break;
        if (all_zero(h, BLOCK)) {
            rc = src_end(src, err);
            break;
        }
        /* The checksum sums the header with its own field read as spaces. */
        for (int i = 0; i < BLOCK; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (parse_octal(h + 148, 8, &sum_stored) != 0 || sum_stored != sum) {
            rc = td_err_set(err, TD_ECHECKSUM, "archive: bad tar header checksum (entry %d)",
                            a->n + 1);
            break;
        }
        /* name = prefix "/" name when the ustar prefix is set. */
        {
            char nm[101], px[156];
            memcpy(nm, h, 100);
            nm[100] = '\0';
            memcpy(px, h + 345, 155);
            px[155] = '\0';
            if (memcmp(h + 257, "ustar", 5) == 0 && px[0])
                snprintf(name, sizeof(name), "%s/%s", px, nm);
            else
                snprintf(name, sizeof(name), "%s", nm);
        }
        if (parse_octal(h + 124, 12, &size) != 0) {
            rc = td_err_set(err, TD_EFORMAT, "archive entry '%.100s': bad size field", name);
            break;
        }
        if (src->canonical) {
            /* Every header byte is the one build_tar writes for this name and size. */
            uint8_t want[BLOCK];
            if (strlen(name) > TD_ARCHIVE_NAME_LEN || size > ((uint64_t)1 << 33)) {
                rc = td_err_set(err, TD_EFORMAT, "archive entry '%.100s': not a canonical header",
                                name);
                break;
            }
            ustar_header(want, name, size, 0);
            if (memcmp(want, h, BLOCK) != 0) {
                rc = td_err_set(err, TD_EFORMAT,
                                "archive entry '%.100s': its header differs from the one "
                                "trackday writes",
                                name);
                break;
            }
        }
        char type = (char)h[156];
        if (type == '5') {
            /* A directory: nothing to keep (entries carry their paths). */
            if (size != 0) {
                rc = td_err_set(err, TD_EFORMAT, "archive entry '%.100s': directory with data",
                                name);
                break;
            }
            continue;
        }
        if (type != '0' && type != '\0') {
            rc = td_err_set(err, TD_EFORMAT,
                            "archive entry '%.100s': type '%c' refused (only regular files)", name,
                            type >= 32 && type < 127 ? type : '?');
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
        char what[160];
        snprintf(what, sizeof(what), "entry '%.100s'", name);
        if (size && (rc = src_read(src, data, (size_t)size, err, what)) != 0) {
            td_free(data);
            break;
        }
        size_t pad = (size_t)((BLOCK - size % BLOCK) % BLOCK);
        if (pad && (rc = src_read(src, h, pad, err, what)) != 0) {
            td_free(data);
            break;
        }
        if (pad && src->canonical && !all_zero(h, pad)) {
            td_free(data);
            rc = td_err_set(err, TD_EFORMAT, "archive entry '%.100s': padding is not zero", name);
            break;
        }
        if ((rc = add_owned(a, name, data, (size_t)size, err)) != 0)
            break;
    }
    return rc;
}

int td_archive_read_targz(td_archive *a, const void *buf, size_t len, const td_archive_limits *lim,
                          td_err *err)
{
    td_archive_limits dl;
    tar_src src;
    td_archive_init(a);
    if (!lim) {
        td_archive_limits_default(&dl);
        lim = &dl;
    }
    size_t hl = gz_header_len(buf, len);
    if (!hl)
        return td_err_set(err, TD_EFORMAT, "archive: not a gzip file (no valid gzip header)");
    if (len > UINT32_MAX)
        return td_err_set(err, TD_ERANGE, "archive: over 4 GiB");
    memset(&src, 0, sizeof(src));
    src.gz = 1;
    if (inflateInit2(&src.g.z, -15) != Z_OK)
        return td_err_set(err, TD_EINTERNAL, "archive: zlib inflateInit2 failed");
    src.g.crc = crc32(0, NULL, 0);
    src.g.z.next_in = (Bytef *)(uintptr_t)buf + hl;
    src.g.z.avail_in = (uInt)(len - hl);
    int rc = read_entries(a, &src, lim, err);
    inflateEnd(&src.g.z);
    return rc;
}

int td_archive_read_tar(td_archive *a, const void *buf, size_t len, const td_archive_limits *lim,
                        td_err *err)
{
    td_archive_limits dl;
    tar_src src;
    td_archive_init(a);
    if (!lim) {
        td_archive_limits_default(&dl);
        lim = &dl;
    }
    memset(&src, 0, sizeof(src));
    src.p = buf;
    src.len = len;
    src.canonical = 1;
    return read_entries(a, &src, lim, err);
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
