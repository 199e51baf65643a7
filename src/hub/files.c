/*
 * files.c - filesets: a set of named files (a model version, a job's checkpoint or results)
 * whose contents are blobs. An uploaded .tar.gz is checked entry by entry and each file
 * streamed into the blob store; the database row of a fileset is written only after all its
 * blobs are durable, so a fileset the database knows is always whole. Downloads stream a
 * .tar.gz made on the fly from the blobs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub_internal.h"

void td__fileset_free(td__fileset *fs)
{
    td_free(fs->files);
    memset(fs, 0, sizeof(*fs));
}

static int add_entry(td__fileset *fs, const char *path, const char *sha, uint64_t size, int mode,
                     td_err *err)
{
    if (fs->count == fs->cap) {
        int ncap = fs->cap ? fs->cap * 2 : 16;
        td__file_entry *n = td_realloc(fs->files, (size_t)ncap * sizeof(*n));
        if (!n)
            return td_err_set(err, TD_ENOMEM, "out of memory");
        fs->files = n;
        fs->cap = ncap;
    }
    td__file_entry *e = &fs->files[fs->count++];
    snprintf(e->path, sizeof(e->path), "%s", path);
    snprintf(e->sha, sizeof(e->sha), "%s", sha);
    e->size = size;
    e->mode = mode;
    fs->bytes += size;
    return 0;
}

static int cmp_entries(const void *a, const void *b)
{
    return strcmp(((const td__file_entry *)a)->path, ((const td__file_entry *)b)->path);
}

/* Sorts, refuses duplicates and computes the content hash: SHA-256 of "path\0sha256\n" lines
 * in path order, so the same files give the same hash whatever the archive's order. */
static int finish(td__fileset *fs, td_err *err)
{
    crypto_hash_sha256_state st;
    unsigned char d[32];
    if (fs->count > 1)
        qsort(fs->files, (size_t)fs->count, sizeof(*fs->files), cmp_entries);
    crypto_hash_sha256_init(&st);
    for (int i = 0; i < fs->count; i++) {
        if (i && !strcmp(fs->files[i].path, fs->files[i - 1].path))
            return td_err_set(err, TD_EINVAL, "archive: '%s' appears twice", fs->files[i].path);
        crypto_hash_sha256_update(&st, (const unsigned char *)fs->files[i].path,
                                  strlen(fs->files[i].path) + 1);
        crypto_hash_sha256_update(&st, (const unsigned char *)fs->files[i].sha, 64);
        crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    }
    crypto_hash_sha256_final(&st, d);
    for (int i = 0; i < 32; i++)
        snprintf(fs->content_sha + 2 * i, 3, "%02x", d[i]);
    return 0;
}

int td__fileset_ingest(td_hub *h, const char *archive, int strip_top, td__fileset *fs, td_err *err)
{
    td__tar_reader *tr;
    td__tar_entry e;
    int rc, n = 0;
    char buf[64 * 1024];
    memset(fs, 0, sizeof(*fs));
    rc = td__tar_open(&tr, archive, err);
    if (rc)
        return rc;
    while ((rc = td__tar_next(tr, &e, err)) > 0) {
        td__blob_writer w;
        char sha[65];
        ssize_t k;
        if (e.is_dir)
            continue;
        if (++n > h->opt.max_model_files) {
            rc = td_err_set(err, TD_ELIMIT, "archive: more than %d files", h->opt.max_model_files);
            break;
        }
        if (fs->bytes + e.size > h->opt.max_model_bytes) {
            rc = td_err_set(err, TD_ELIMIT, "archive: more than %llu MB of files",
                            (unsigned long long)(h->opt.max_model_bytes >> 20));
            break;
        }
        rc = td__blob_begin(h->data_dir, &w, err);
        if (rc)
            break;
        while ((k = td__tar_read(tr, buf, sizeof(buf), err)) > 0) {
            rc = td__blob_write(&w, buf, (size_t)k, err);
            if (rc)
                break;
        }
        if (k < 0)
            rc = (int)k;
        if (rc) {
            td__blob_abort(&w);
            break;
        }
        rc = td__blob_commit(h->data_dir, &w, sha, err);
        if (!rc)
            rc = add_entry(fs, e.path, sha, e.size, (e.mode & 0100) ? 0755 : 0644, err);
        if (rc)
            break;
    }
    td__tar_close(tr);
    if (rc < 0) {
        td__fileset_free(fs);
        return rc;
    }
    /* `tar czf m.tgz mymodel/` puts everything under mymodel/: take it off. */
    if (strip_top && fs->count && !td__fileset_find(fs, "model_metadata.json")) {
        const char *slash = strchr(fs->files[0].path, '/');
        size_t n0 = slash ? (size_t)(slash - fs->files[0].path) + 1 : 0;
        int same = n0 > 0;
        for (int i = 1; same && i < fs->count; i++)
            same = !strncmp(fs->files[i].path, fs->files[0].path, n0);
        if (same)
            for (int i = 0; i < fs->count; i++)
                memmove(fs->files[i].path, fs->files[i].path + n0,
                        strlen(fs->files[i].path + n0) + 1);
    }
    rc = finish(fs, err);
    if (rc)
        td__fileset_free(fs);
    return rc;
}

int td__fileset_add_file(td_hub *h, td__fileset *fs, const char *path, const char *src, td_err *err)
{
    char sha[65];
    uint64_t size = 0;
    int rc = td__blob_put_file(h->data_dir, src, sha, &size, err);
    if (!rc)
        rc = add_entry(fs, path, sha, size, 0644, err);
    if (!rc)
        rc = finish(fs, err);
    return rc;
}

const td__file_entry *td__fileset_find(const td__fileset *fs, const char *path)
{
    for (int i = 0; i < fs->count; i++)
        if (!strcmp(fs->files[i].path, path))
            return &fs->files[i];
    return NULL;
}

int td__fileset_insert(td_hub *h, td_db_conn *c, const td__fileset *fs, int64_t *id, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(c, &row, err,
                              "INSERT INTO filesets (total_bytes, file_count, content_sha256, "
                              "created_at) VALUES (?, ?, ?, ?) RETURNING id",
                              "iiti", (int64_t)fs->bytes, (int64_t)fs->count, fs->content_sha,
                              td__hub_now(h));
    if (rc <= 0)
        return rc ? rc : td_err_set(err, TD_EINTERNAL, "no fileset id");
    *id = td__db_int(row, 0);
    td__db_rows_free(row);
    rc = 0;
    for (int i = 0; i < fs->count && !rc; i++)
        rc = td__db_exec(c, err,
                         "INSERT INTO fileset_files (fileset_id, path, sha256, size, mode) "
                         "VALUES (?, ?, ?, ?, ?)",
                         "ittii", *id, fs->files[i].path, fs->files[i].sha,
                         (int64_t)fs->files[i].size, (int64_t)fs->files[i].mode);
    return rc;
}

int td__fileset_load(td_db_conn *c, int64_t id, td__fileset *fs, td_err *err)
{
    td_db_rows *rows;
    int rc;
    memset(fs, 0, sizeof(*fs));
    rc = td__db_query(c, &rows, err,
                      "SELECT path, sha256, size, mode FROM fileset_files WHERE fileset_id = ? "
                      "ORDER BY path",
                      "i", id);
    if (!rc)
        while ((rc = td__db_next(rows, err)) > 0) {
            rc = add_entry(fs, td__db_text(rows, 0), td__db_text(rows, 1),
                           (uint64_t)td__db_int(rows, 2), (int)td__db_int(rows, 3), err);
            if (rc)
                break;
        }
    td__db_rows_free(rows);
    if (!rc) {
        td_db_rows *row;
        if (td__db_query_row(c, &row, err, "SELECT content_sha256 FROM filesets WHERE id = ?", "i",
                             id) > 0) {
            snprintf(fs->content_sha, sizeof(fs->content_sha), "%s", td__db_text(row, 0));
            td__db_rows_free(row);
        }
    }
    if (rc)
        td__fileset_free(fs);
    return rc;
}

int td__fileset_read(td_hub *h, const td__file_entry *e, char **data, size_t *len, size_t max,
                     td_err *err)
{
    char path[1200];
    *data = NULL;
    if (e->size > max)
        return td_err_set(err, TD_ELIMIT, "%s is larger than %zu bytes", e->path, max);
    if (td__blob_path(h->data_dir, e->sha, path, sizeof(path)))
        return td_err_set(err, TD_EINTERNAL, "bad blob name");
    return td_file_read(path, data, len, err);
}

int td__fileset_extract(td_hub *h, const td__fileset *fs, const char *dir, td_err *err)
{
    int rc = td_mkdir_p(dir, err);
    for (int i = 0; i < fs->count && !rc; i++) {
        char src[1200], dst[1400], buf[64 * 1024];
        ssize_t n;
        int in, out;
        td__blob_path(h->data_dir, fs->files[i].sha, src, sizeof(src));
        snprintf(dst, sizeof(dst), "%s/%s", dir, fs->files[i].path);
        char *slash = strrchr(dst, '/');
        *slash = 0;
        rc = td_mkdir_p(dst, err);
        *slash = '/';
        if (rc)
            break;
        in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
            return td_err_set(err, TD_EIO, "%s: %s", src, strerror(errno));
        out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (out < 0) {
            close(in);
            return td_err_set(err, TD_EIO, "%s: %s", dst, strerror(errno));
        }
        while ((n = read(in, buf, sizeof(buf))) > 0)
            if (write(out, buf, (size_t)n) != n) {
                n = -1;
                break;
            }
        close(in);
        close(out);
        if (n < 0)
            rc = td_err_set(err, TD_EIO, "%s: %s", dst, strerror(errno));
    }
    return rc;
}

json_t *td__fileset_json(const td__fileset *fs)
{
    json_t *a = json_array();
    for (int i = 0; i < fs->count; i++)
        json_array_append_new(a,
                              json_pack("{s:s,s:I,s:s}", "path", fs->files[i].path, "size",
                                        (json_int_t)fs->files[i].size, "sha256", fs->files[i].sha));
    return a;
}

/* ---- Streaming a .tar.gz ------------------------------------------------------------------ */

static ssize_t tgz_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    td_err err = {0};
    ssize_t n = td__tgz_read(cls, buf, max, &err);
    (void)pos;
    if (n < 0) {
        TD_ERROR("hub: download: %s", err.msg);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return n ? n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void tgz_free(void *cls)
{
    td__tgz_free(cls);
}

int td__reply_fileset_tgz(td__req *r, const td__fileset *fs, const char *filename, int64_t mtime)
{
    td__tgz_item *items = td_calloc((size_t)(fs->count ? fs->count : 1), sizeof(*items));
    td__tgz *t;
    td_err err = {0};
    char disp[300];
    if (!items)
        return td__fail(r, 500, "internal", "out of memory");
    for (int i = 0; i < fs->count; i++) {
        char src[1200];
        td__blob_path(r->hub->data_dir, fs->files[i].sha, src, sizeof(src));
        snprintf(items[i].path, sizeof(items[i].path), "%s", fs->files[i].path);
        items[i].src = td_strdup(src);
        items[i].size = fs->files[i].size;
        items[i].mode = fs->files[i].mode;
        if (!items[i].src) {
            td__tgz_items_free(items, i);
            return td__fail(r, 500, "internal", "out of memory");
        }
    }
    if (td__tgz_new(&t, items, fs->count, mtime, &err))
        return td__fail_err(r, TD_ENOMEM, &err);
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", filename);
    td__req_add_header(r, "Content-Disposition", disp);
    return td__reply_stream(r, 200, "application/gzip", tgz_reader, tgz_free, t);
}

int td__reply_blob(td__req *r, const td__file_entry *e, const char *type)
{
    char path[1200];
    int fd;
    td__blob_path(r->hub->data_dir, e->sha, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return td__fail(r, 500, "internal", "a stored file is missing");
    return td__reply_fd(r, 200, type, fd, e->size);
}
