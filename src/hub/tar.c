/*
 * tar.c - .tar.gz reading (hostile input) and streaming writing, and the content-addressed
 * blob store (tar.h). The archive format is POSIX ustar; the reader also takes the GNU long
 * name entry and pax path records that `tar czf` writes for long names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include "hub/tar.h"
#include "trackday/archive.h"

#define BLOCK 512

/* ------------------------------------------------------------------------------------ */
/* Paths                                                                                */
/* ------------------------------------------------------------------------------------ */

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t k = s[0] >= 0xC2 && s[0] <= 0xDF   ? 2
               : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                              : 0;
    if (k == 0 || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    /* No overlong forms, no surrogates, nothing past U+10FFFF. */
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
        return 0;
    return k;
}

int td__utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = p[i] ? utf8_seq(p + i, n - i) : 0;
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

void td__utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k) {
            p[i] = '?';
            k = 1;
        }
        i += k;
    }
}

int td__path_clean(const char *in, char *out, size_t cap, td_err *err)
{
    size_t len = 0;
    const char *p = in;
    if (!in || !*in)
        return td_err_set(err, TD_EINVAL, "empty path");
    if (in[0] == '/')
        return td_err_set(err, TD_EINVAL, "'%.80s': absolute paths are not allowed", in);
    for (const unsigned char *c = (const unsigned char *)in; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '\\')
            return td_err_set(err, TD_EINVAL,
                              "'%.80s': control characters and backslashes are not allowed", in);
    if (!td__utf8_valid(in, strlen(in)))
        return td_err_set(err, TD_EINVAL, "'%.80s': a file name must be UTF-8", in);
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* "a//b", "./a" and a trailing "/" are harmless: skip the component. */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            return td_err_set(err, TD_EINVAL, "'%.80s': '..' is not allowed in a path", in);
        } else {
            if (len + n + 2 > cap || len + n + 1 > TD_TAR_PATH_MAX)
                return td_err_set(err, TD_EINVAL, "'%.80s...': path longer than %d characters", in,
                                  TD_TAR_PATH_MAX);
            if (len)
                out[len++] = '/';
            memcpy(out + len, p, n);
            len += n;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    if (!len)
        return td_err_set(err, TD_EINVAL, "'%.80s': no file name", in);
    out[len] = 0;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Reading                                                                              */
/* ------------------------------------------------------------------------------------ */

/* The hub's policy on top of the one tar reader (td_tar_*, archive.h): files and directories
 * only, every path cleaned (td__path_clean), a leading "./" entry skipped. */
struct td__tar_reader {
    td_tar_reader *tar;
    td_tar_member m;
};

int td__tar_open(td__tar_reader **out, const char *path, td_err *err)
{
    td__tar_reader *r = td_calloc(1, sizeof(*r));
    *out = NULL;
    if (!r)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    int rc = td_tar_open_file(&r->tar, path, err);
    if (rc) {
        td_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void td__tar_close(td__tar_reader *r)
{
    if (!r)
        return;
    td_tar_close(r->tar);
    td_free(r);
}

int td__tar_next(td__tar_reader *r, td__tar_entry *e, td_err *err)
{
    td_tar_member *m = &r->m;
    int rc;
    while ((rc = td_tar_next(r->tar, m, err)) > 0) {
        char type = m->type;
        if (type == '1' || type == '2')
            return td_err_set(err, TD_EINVAL, "archive: '%.80s' is a link; links are not allowed",
                              m->name);
        if (type != '0' && type != 0 && type != '5' && type != '7')
            return td_err_set(err, TD_EINVAL,
                              "archive: '%.80s' is a device, FIFO or unknown entry (type '%c'); "
                              "only files and directories are allowed",
                              m->name, type >= 0x20 && type < 0x7f ? type : '?');
        rc = td__path_clean(m->name, e->path, sizeof(e->path), err);
        if (rc) {
            if (!strcmp(m->name, "./") || !strcmp(m->name, "."))
                continue; /* `tar czf x.tgz -C dir .` starts with "./" */
            return td_err_prefix(err, rc, "archive: ");
        }
        e->is_dir = type == '5';
        e->size = e->is_dir ? 0 : m->size;
        e->mode = (int)(m->mode & 0777);
        return 1;
    }
    /* A damaged header is a malformed upload to the hub (400), like any other. */
    if (rc == TD_ECHECKSUM) {
        if (err)
            err->code = TD_EFORMAT;
        rc = TD_EFORMAT;
    }
    return rc;
}

ssize_t td__tar_read(td__tar_reader *r, void *buf, size_t cap, td_err *err)
{
    if (r->m.type == '5')
        return 0; /* a directory's data, if any, is skipped */
    return td_tar_read(r->tar, buf, cap, err);
}

/* ------------------------------------------------------------------------------------ */
/* Writing                                                                              */
/* ------------------------------------------------------------------------------------ */

struct td__tgz {
    td__tgz_item *items;
    int count;
    int64_t mtime;
    int cur;         /* current item */
    int phase;       /* 0 header, 1 data, 2 padding, 3 end blocks, 4 finishing, 5 done */
    int fd;          /* current item's file */
    uint64_t copied; /* of the current item's data */
    unsigned char raw[64 * 1024];
    size_t raw_len, raw_pos;
    z_stream z;
    int z_ok;
};

void td__tgz_items_free(td__tgz_item *items, int count)
{
    if (!items)
        return;
    for (int i = 0; i < count; i++)
        td_free(items[i].src);
    td_free(items);
}

int td__tgz_new(td__tgz **out, td__tgz_item *items, int count, int64_t mtime, td_err *err)
{
    td__tgz *t = td_calloc(1, sizeof(*t));
    if (!t) {
        td__tgz_items_free(items, count);
        return td_err_set(err, TD_ENOMEM, "out of memory");
    }
    t->items = items;
    t->count = count;
    t->mtime = mtime;
    t->fd = -1;
    /* windowBits 15 + 16: a gzip wrapper. Level 6 is zlib's default balance. */
    if (deflateInit2(&t->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        td__tgz_free(t);
        return td_err_set(err, TD_ENOMEM, "cannot start the compressor");
    }
    t->z_ok = 1;
    *out = t;
    return 0;
}

void td__tgz_free(td__tgz *t)
{
    if (!t)
        return;
    if (t->fd >= 0)
        close(t->fd);
    if (t->z_ok)
        deflateEnd(&t->z);
    td__tgz_items_free(t->items, t->count);
    td_free(t);
}

static void put_octal(char *f, size_t n, uint64_t v)
{
    /* n-1 octal digits and a NUL, as ustar writes them. */
    f[n - 1] = 0;
    for (size_t i = n - 1; i-- > 0;) {
        f[i] = (char)('0' + (v & 7));
        v >>= 3;
    }
}

/* Fills one ustar header block for it. Returns 1 when the path does not fit the ustar
 * name and prefix fields (a pax header must carry it). */
static int make_header(unsigned char *h, const char *path, uint64_t size, int mode, char type,
                       int64_t mtime)
{
    size_t len = strlen(path);
    unsigned long sum = 0;
    int needs_pax = 0;
    memset(h, 0, BLOCK);
    if (len <= 100) {
        memcpy(h, path, len);
    } else {
        /* Split at a '/' so that the prefix fits 155 bytes and the name 100. */
        const char *split = NULL;
        for (const char *p = path; *p; p++)
            if (*p == '/' && (size_t)(p - path) <= 155 && strlen(p + 1) <= 100) {
                split = p;
                break;
            }
        if (split) {
            memcpy(h + 345, path, (size_t)(split - path));
            memcpy(h, split + 1, strlen(split + 1));
        } else {
            memcpy(h, path, 100);
            needs_pax = 1;
        }
    }
    put_octal((char *)h + 100, 8, (uint64_t)(mode & 0777));
    put_octal((char *)h + 108, 8, 0);
    put_octal((char *)h + 116, 8, 0);
    put_octal((char *)h + 124, 12, size);
    put_octal((char *)h + 136, 12, (uint64_t)(mtime > 0 ? mtime : 0));
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    for (int i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06lo", sum & 0777777);
    h[155] = ' ';
    return needs_pax;
}

/* Writes the header(s) of it at out: a pax 'x' entry first when the path is too long for
 * ustar. Returns the bytes written (at most 4 blocks), or 0 if room is short. */
static size_t write_headers(unsigned char *out, size_t room, const td__tgz_item *it, int64_t mtime)
{
    unsigned char h[BLOCK];
    if (!make_header(h, it->path, it->size, it->mode, '0', mtime)) {
        if (room < BLOCK)
            return 0;
        memcpy(out, h, BLOCK);
        return BLOCK;
    }
    /* "LEN path=VALUE\n", LEN counting its own digits. */
    char rec[TD_TAR_PATH_MAX + 64];
    size_t vlen = strlen(it->path), base = strlen(" path=") + vlen + 1, n = base + 1;
    while (n != base + (size_t)snprintf(NULL, 0, "%zu", n))
        n = base + (size_t)snprintf(NULL, 0, "%zu", n);
    snprintf(rec, sizeof(rec), "%zu path=%s\n", n, it->path);
    size_t need = BLOCK + (n + BLOCK - 1) / BLOCK * BLOCK + BLOCK;
    if (room < need)
        return 0;
    unsigned char px[BLOCK];
    make_header(px, "PaxHeader", n, 0644, 'x', mtime);
    memcpy(out, px, BLOCK);
    memset(out + BLOCK, 0, need - 2 * BLOCK);
    memcpy(out + BLOCK, rec, n);
    memcpy(out + need - BLOCK, h, BLOCK);
    return need;
}

/* Refills t->raw with the next uncompressed tar bytes. Returns 0, or < 0 on error. */
static int produce_raw(td__tgz *t, td_err *err)
{
    t->raw_len = t->raw_pos = 0;
    while (t->raw_len < sizeof(t->raw) && t->phase < 4) {
        size_t room = sizeof(t->raw) - t->raw_len;
        if (t->phase == 3) {
            if (room < 2 * BLOCK)
                break;
            memset(t->raw + t->raw_len, 0, 2 * BLOCK);
            t->raw_len += 2 * BLOCK;
            t->phase = 4;
            break;
        }
        if (t->cur >= t->count) {
            t->phase = 3;
            continue;
        }
        td__tgz_item *it = &t->items[t->cur];
        if (t->phase == 0) {
            /* The size comes from the file opened, not from the walk that listed it: a file
             * replaced since (a trainer renames its checkpoint over the old one) is archived
             * whole, as it is now. */
            if (t->fd < 0) {
                struct stat st;
                t->fd = open(it->src, O_RDONLY | O_CLOEXEC);
                if (t->fd < 0)
                    return td_err_set(err, TD_EIO, "%s: %s", it->src, strerror(errno));
                if (fstat(t->fd, &st))
                    return td_err_set(err, TD_EIO, "%s: %s", it->src, strerror(errno));
                it->size = (uint64_t)st.st_size;
            }
            size_t n = write_headers(t->raw + t->raw_len, room, it, t->mtime);
            if (!n)
                break;
            t->raw_len += n;
            t->copied = 0;
            t->phase = 1;
        } else if (t->phase == 1) {
            uint64_t left = it->size - t->copied;
            size_t want = left < room ? (size_t)left : room;
            if (want) {
                ssize_t k = read(t->fd, t->raw + t->raw_len, want);
                if (k < 0)
                    return td_err_set(err, TD_EIO, "%s: %s", it->src, strerror(errno));
                if (k == 0)
                    return td_err_set(err, TD_EIO, "%s: shrank while being archived", it->src);
                t->raw_len += (size_t)k;
                t->copied += (uint64_t)k;
            }
            if (t->copied == it->size) {
                close(t->fd);
                t->fd = -1;
                t->phase = 2;
            }
        } else if (t->phase == 2) {
            size_t pad = (size_t)((BLOCK - it->size % BLOCK) % BLOCK);
            if (room < pad)
                break;
            memset(t->raw + t->raw_len, 0, pad);
            t->raw_len += pad;
            t->cur++;
            t->phase = 0;
        }
    }
    return 0;
}

ssize_t td__tgz_read(td__tgz *t, void *buf, size_t cap, td_err *err)
{
    if (t->phase == 5 || cap == 0)
        return 0;
    t->z.next_out = buf;
    t->z.avail_out = (uInt)(cap > (1u << 30) ? (1u << 30) : cap);
    while (t->z.avail_out > 0) {
        int flush = Z_NO_FLUSH, zrc;
        if (t->raw_pos == t->raw_len && t->phase < 4) {
            int rc = produce_raw(t, err);
            if (rc)
                return rc;
        }
        if (t->raw_pos == t->raw_len && t->phase >= 4)
            flush = Z_FINISH;
        t->z.next_in = t->raw + t->raw_pos;
        t->z.avail_in = (uInt)(t->raw_len - t->raw_pos);
        zrc = deflate(&t->z, flush);
        t->raw_pos = t->raw_len - t->z.avail_in;
        if (zrc == Z_STREAM_END) {
            t->phase = 5;
            break;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR)
            return td_err_set(err, TD_EINTERNAL, "compressor error %d", zrc);
    }
    return (ssize_t)(cap - t->z.avail_out);
}

/* ------------------------------------------------------------------------------------ */
/* Directories                                                                          */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    td__tgz_item *items;
    int count, cap, max;
} item_list;

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const td__tgz_item *)a)->path, ((const td__tgz_item *)b)->path);
}

static int walk(const char *root, const char *rel, item_list *l, int depth, td_err *err)
{
    char dirpath[2048];
    DIR *d;
    struct dirent *de;
    int rc = 0;
    if (depth > 16)
        return td_err_set(err, TD_ELIMIT, "%s/%s: directories nested too deep", root, rel);
    snprintf(dirpath, sizeof(dirpath), "%s%s%s", root, *rel ? "/" : "", rel);
    d = opendir(dirpath);
    if (!d)
        return td_err_set(err, TD_EIO, "%s: %s", dirpath, strerror(errno));
    while (!rc && (de = readdir(d))) {
        char full[2400], relpath[1200];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(full, sizeof(full), "%s/%s", dirpath, de->d_name);
        snprintf(relpath, sizeof(relpath), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        if (lstat(full, &st))
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = walk(root, relpath, l, depth + 1, err);
        } else if (S_ISREG(st.st_mode)) {
            td__tgz_item *it;
            if (l->count >= l->max) {
                rc = td_err_set(err, TD_ELIMIT, "%s: more than %d files", root, l->max);
                break;
            }
            if (l->count == l->cap) {
                int ncap = l->cap ? l->cap * 2 : 32;
                td__tgz_item *n = td_realloc(l->items, (size_t)ncap * sizeof(*n));
                if (!n) {
                    rc = td_err_set(err, TD_ENOMEM, "out of memory");
                    break;
                }
                l->items = n;
                l->cap = ncap;
            }
            it = &l->items[l->count];
            memset(it, 0, sizeof(*it));
            rc = td__path_clean(relpath, it->path, sizeof(it->path), err);
            if (rc)
                break;
            it->src = td_strdup(full);
            if (!it->src) {
                rc = td_err_set(err, TD_ENOMEM, "out of memory");
                break;
            }
            it->size = (uint64_t)st.st_size;
            it->mode = (st.st_mode & 0111) ? 0755 : 0644;
            l->count++;
        }
    }
    closedir(d);
    return rc;
}

int td__tgz_items_from_dir(const char *dir, td__tgz_item **items, int *count, int max_files,
                           td_err *err)
{
    item_list l = {NULL, 0, 0, max_files};
    int rc = walk(dir, "", &l, 0, err);
    if (rc) {
        td__tgz_items_free(l.items, l.count);
        *items = NULL;
        *count = 0;
        return rc;
    }
    if (l.count)
        qsort(l.items, (size_t)l.count, sizeof(*l.items), cmp_items);
    *items = l.items;
    *count = l.count;
    return 0;
}

int td__tgz_write_dir(const char *dir, const char *path, td_err *err)
{
    td__tgz_item *items;
    td__tgz *t;
    int count, rc, fd;
    char tmp[1200];
    char buf[64 * 1024];
    ssize_t n;

    rc = td__tgz_items_from_dir(dir, &items, &count, 100000, err);
    if (rc)
        return rc;
    rc = td__tgz_new(&t, items, count, 0, err);
    if (rc)
        return rc;
    snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        td__tgz_free(t);
        return td_err_set(err, TD_EIO, "%s: %s", tmp, strerror(errno));
    }
    while ((n = td__tgz_read(t, buf, sizeof(buf), err)) > 0) {
        if (write(fd, buf, (size_t)n) != n) {
            n = td_err_set(err, TD_EIO, "%s: %s", tmp, strerror(errno));
            break;
        }
    }
    td__tgz_free(t);
    /* No fsync: the archive is a transient upload (a worker's result or checkpoint, push's
     * model), deleted once sent and made again after a crash; the rename alone keeps a
     * partial one from being seen. The hub fsyncs what it stores (td__blob_commit). */
    close(fd);
    if (n == 0 && rename(tmp, path))
        n = td_err_set(err, TD_EIO, "%s: %s", path, strerror(errno));
    if (n)
        unlink(tmp);
    return (int)n;
}

int td__tar_extract(const char *archive, const char *dir, int max_files, uint64_t max_bytes,
                    td_err *err)
{
    td__tar_reader *r;
    td__tar_entry e;
    uint64_t total = 0;
    int files = 0, rc;
    char buf[64 * 1024];

    rc = td_mkdir_p(dir, err);
    if (rc)
        return rc;
    rc = td__tar_open(&r, archive, err);
    if (rc)
        return rc;
    while ((rc = td__tar_next(r, &e, err)) > 0) {
        char full[2048];
        ssize_t n;
        int fd;
        if (++files > max_files) {
            rc = td_err_set(err, TD_ELIMIT, "archive: more than %d entries", max_files);
            break;
        }
        snprintf(full, sizeof(full), "%s/%s", dir, e.path);
        if (e.is_dir) {
            rc = td_mkdir_p(full, err);
            if (rc)
                break;
            continue;
        }
        if (total + e.size > max_bytes) {
            rc = td_err_set(err, TD_ELIMIT, "archive: more than %llu bytes of files",
                            (unsigned long long)max_bytes);
            break;
        }
        total += e.size;
        char *slash = strrchr(full, '/');
        *slash = 0;
        rc = td_mkdir_p(full, err);
        *slash = '/';
        if (rc)
            break;
        /* O_NOFOLLOW: a directory entry cannot have become a link, but stay safe. */
        fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  (e.mode & 0100) ? 0755 : 0644);
        if (fd < 0) {
            rc = td_err_set(err, TD_EIO, "%s: %s", full, strerror(errno));
            break;
        }
        while ((n = td__tar_read(r, buf, sizeof(buf), err)) > 0) {
            if (write(fd, buf, (size_t)n) != n) {
                n = td_err_set(err, TD_EIO, "%s: %s", full, strerror(errno));
                break;
            }
        }
        close(fd);
        if (n < 0) {
            rc = (int)n;
            break;
        }
    }
    td__tar_close(r);
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------------------------ */
/* Blobs                                                                                */
/* ------------------------------------------------------------------------------------ */

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = 0;
}

void td__sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, data, len);
    to_hex(d, sizeof(d), hex);
}

int td__sha256_file(const char *path, char hex[65], td_err *err)
{
    crypto_hash_sha256_state st;
    unsigned char d[crypto_hash_sha256_BYTES];
    char buf[64 * 1024];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return td_err_set(err, TD_EIO, "%s: %s", path, strerror(errno));
    crypto_hash_sha256_init(&st);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        crypto_hash_sha256_update(&st, (const unsigned char *)buf, (unsigned long long)n);
    close(fd);
    if (n < 0)
        return td_err_set(err, TD_EIO, "%s: %s", path, strerror(errno));
    crypto_hash_sha256_final(&st, d);
    to_hex(d, sizeof(d), hex);
    return 0;
}

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(((td__blob_writer *)0)->state),
               "blob writer state too small");

int td__blob_path(const char *root, const char *sha_hex, char *out, size_t cap)
{
    if (!sha_hex || strlen(sha_hex) != 64)
        return TD_EINVAL;
    for (int i = 0; i < 64; i++)
        if (!((sha_hex[i] >= '0' && sha_hex[i] <= '9') || (sha_hex[i] >= 'a' && sha_hex[i] <= 'f')))
            return TD_EINVAL;
    snprintf(out, cap, "%s/blobs/%.2s/%s", root, sha_hex, sha_hex);
    return 0;
}

const char *td__tmp_tag(void)
{
    static char tag[128];
    static pid_t pid;
    if (pid != getpid()) {
        char host[64] = "";
        gethostname(host, sizeof(host) - 1);
        for (char *p = host; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
                *p = '_';
        pid = getpid();
        snprintf(tag, sizeof(tag), "%s.%d", host[0] ? host : "host", (int)pid);
    }
    return tag;
}

int td__blob_begin(const char *root, td__blob_writer *w, td_err *err)
{
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/tmp", root);
    int rc = td_mkdir_p(dir, err);
    if (rc)
        return rc;
    snprintf(w->tmp, sizeof(w->tmp), "%s/blob-%s-XXXXXX", dir, td__tmp_tag());
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0)
        return td_err_set(err, TD_EIO, "%s: %s", w->tmp, strerror(errno));
    w->size = 0;
    crypto_hash_sha256_init((crypto_hash_sha256_state *)w->state);
    return 0;
}

int td__blob_write(td__blob_writer *w, const void *data, size_t len, td_err *err)
{
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t k = write(w->fd, p, left);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return td_err_set(err, TD_EIO, "storing a file: %s", strerror(errno));
        }
        p += k;
        left -= (size_t)k;
    }
    crypto_hash_sha256_update((crypto_hash_sha256_state *)w->state, data, (unsigned long long)len);
    w->size += len;
    return 0;
}

void td__blob_abort(td__blob_writer *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
        w->fd = -1;
    }
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int td__blob_lock(const char *root, int exclusive, td_err *err)
{
    /* The data directory's lock, beside blobs/ (never in it: blobs/ holds nothing but blobs
     * named by their SHA-256). */
    td_err e = {0};
    int fd = td_dir_lock(root, exclusive, &e);
    if (fd < 0)
        return td_err_set(err, e.code, "%s", e.msg);
    return fd;
}

void td__blob_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

int td__blob_commit(const char *root, td__blob_writer *w, char sha_hex[65], td_err *err)
{
    unsigned char d[crypto_hash_sha256_BYTES];
    char dest[1200], dir[1200];
    int rc, lock;
    crypto_hash_sha256_final((crypto_hash_sha256_state *)w->state, d);
    to_hex(d, sizeof(d), sha_hex);
    td__blob_path(root, sha_hex, dest, sizeof(dest));
    lock = td__blob_lock(root, 0, err);
    if (lock < 0) {
        td__blob_abort(w);
        return lock;
    }
    if (td_path_exists(dest)) {
        /* Already stored: content addressing makes the copy redundant. Its time is renewed
         * so that a collection running meanwhile sees it as new (storage.c, td__gc). */
        td__blob_abort(w);
        utimes(dest, NULL);
        td__blob_unlock(lock);
        return 0;
    }
    if (fsync(w->fd)) {
        rc = td_err_set(err, TD_EIO, "storing a file: %s", strerror(errno));
        td__blob_abort(w);
        td__blob_unlock(lock);
        return rc;
    }
    fchmod(w->fd, 0644);
    close(w->fd);
    w->fd = -1;
    snprintf(dir, sizeof(dir), "%s/blobs/%.2s", root, sha_hex);
    rc = td_mkdir_p(dir, err);
    /* The new blob's time is now: a collection that started before keeps it. */
    if (!rc)
        utimes(w->tmp, NULL);
    if (!rc && rename(w->tmp, dest))
        rc = td_err_set(err, TD_EIO, "%s: %s", dest, strerror(errno));
    td__blob_unlock(lock);
    if (rc) {
        unlink(w->tmp);
        return rc;
    }
    fsync_dir(dir);
    return 0;
}

int td__blob_put_file(const char *root, const char *path, char sha_hex[65], uint64_t *size,
                      td_err *err)
{
    td__blob_writer w;
    char buf[64 * 1024];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
    if (fd < 0)
        return td_err_set(err, TD_EIO, "%s: %s", path, strerror(errno));
    rc = td__blob_begin(root, &w, err);
    while (!rc && (n = read(fd, buf, sizeof(buf))) > 0)
        rc = td__blob_write(&w, buf, (size_t)n, err);
    close(fd);
    if (rc) {
        td__blob_abort(&w);
        return rc;
    }
    if (size)
        *size = w.size;
    return td__blob_commit(root, &w, sha_hex, err);
}
