/*
 * storage.c - what the hub stores and its garbage collection. Files are content-addressed
 * blobs (DIR/blobs/ab/abcd..., tar.c) named by filesets (files.c); a fileset is kept while a
 * model version, a job (checkpoint or results), a bundle or a submission refers to it.
 *
 * The collection deletes the filesets nothing refers to, then the blobs no fileset names. It is
 * safe beside uploads (also of other hub processes sharing DIR on PostgreSQL), whose blobs are
 * stored before the rows that name them:
 *   - the cutoff is taken before anything is looked at, and is held back to the oldest upload
 *     in progress (its file in DIR/tmp): a blob stored by a request that is still running, or
 *     stored after the collection started, is newer than the cutoff and kept;
 *   - a blob stored again while the collection runs has its time renewed (td__blob_commit);
 *     the last check of a blob (its time, the rows that name it) and its deletion hold the
 *     blob lock exclusive, so a commit either renewed it before (kept) or writes it anew after.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub/hub_internal.h"

void (*td__gc_test_hook)(td_hub *h, void *arg);
void *td__gc_test_hook_arg;

/* What refers to a fileset f, apart from model versions. A feature that keeps filesets adds
 * its reference here. */
#define REFS_OTHER                                                                                 \
    "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.checkpoint_fileset_id = f.id OR "                    \
    "j.result_fileset_id = f.id) AND NOT EXISTS (SELECT 1 FROM bundles b WHERE b.fileset_id = "    \
    "f.id) AND NOT EXISTS (SELECT 1 FROM submissions s WHERE s.fileset_id = f.id) AND NOT "        \
    "EXISTS (SELECT 1 FROM assignment_submissions a WHERE a.fileset_id = f.id)"
/* Nothing refers to fileset f. */
#define UNUSED                                                                                     \
    "NOT EXISTS (SELECT 1 FROM model_versions v WHERE v.fileset_id = f.id) AND " REFS_OTHER
/* ...once the versions of deleted models are forgotten. */
#define UNUSED_PURGE                                                                               \
    "NOT EXISTS (SELECT 1 FROM model_versions v JOIN models m ON m.id = v.model_id WHERE "         \
    "v.fileset_id = f.id AND m.deleted_at IS NULL) AND " REFS_OTHER

static int is_blob_name(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

typedef void (*blob_fn)(void *user, const char *sha, const struct stat *st);

/* Calls fn for every blob under DIR/blobs. */
static void each_blob(td_hub *h, blob_fn fn, void *user)
{
    for (int a = 0; a < 256; a++) {
        char sub[1300];
        snprintf(sub, sizeof(sub), "%s/blobs/%02x", h->data_dir, a);
        DIR *d = opendir(sub);
        struct dirent *de;
        if (!d)
            continue;
        while ((de = readdir(d))) {
            char p[1600];
            struct stat st;
            if (!is_blob_name(de->d_name))
                continue;
            snprintf(p, sizeof(p), "%s/%s", sub, de->d_name);
            if (lstat(p, &st) || !S_ISREG(st.st_mode))
                continue;
            fn(user, de->d_name, &st);
        }
        closedir(d);
    }
}

/* The oldest time of an upload or blob write in progress in DIR/tmp (0: none). Files ended
 * processes left are not in progress (hub.c removes them at start). */
static int64_t oldest_upload(td_hub *h)
{
    char dir[1100];
    int64_t oldest = 0;
    snprintf(dir, sizeof(dir), "%s/tmp", h->data_dir);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char p[1400];
        struct stat st;
        if (strlen(de->d_name) > 200)
            continue;
        if (strncmp(de->d_name, "upload-", 7) && strncmp(de->d_name, "blob-", 5))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (lstat(p, &st) || !S_ISREG(st.st_mode) || td__tmp_is_stale(de->d_name, &st))
            continue;
        if (!oldest || (int64_t)st.st_mtime < oldest)
            oldest = (int64_t)st.st_mtime;
    }
    if (d)
        closedir(d);
    return oldest;
}

/* ---- Collection ------------------------------------------------------------------------- */

typedef struct cand {
    char sha[65];
    uint64_t size;
} cand;

typedef struct gc_scan {
    td_db_conn *c;
    const td__gc_opts *o;
    td__gc_report *rep;
    int64_t db_cutoff;
    cand *list;
    int n, cap;
    int failed;
} gc_scan;

/* Whether a row still names the blob: in a dry run, a fileset the run would delete does not
 * count. -1 on a database error. */
static int blob_named(gc_scan *g, const char *sha)
{
    int64_t n = 1;
    int rc;
    if (g->o->dry_run)
        rc = td__db_int_query(g->c, &n, 1, NULL,
                              g->o->purge_deleted
                                  ? "SELECT COUNT(*) FROM fileset_files ff JOIN filesets f ON f.id "
                                    "= ff.fileset_id WHERE ff.sha256 = ? AND NOT (f.created_at < ? "
                                    "AND " UNUSED_PURGE ")"
                                  : "SELECT COUNT(*) FROM fileset_files ff JOIN filesets f ON f.id "
                                    "= ff.fileset_id WHERE ff.sha256 = ? AND NOT (f.created_at < ? "
                                    "AND " UNUSED ")",
                              "ti", sha, g->db_cutoff);
    else
        rc = td__db_int_query(g->c, &n, 1, NULL,
                              "SELECT COUNT(*) FROM fileset_files WHERE sha256 = ?", "t", sha);
    return rc ? -1 : n > 0;
}

static void scan_blob(void *user, const char *sha, const struct stat *st)
{
    gc_scan *g = user;
    if (g->failed)
        return;
    int named = blob_named(g, sha);
    if (named < 0) {
        g->failed = 1;
        return;
    }
    if (named)
        return;
    if ((int64_t)st->st_mtime >= g->rep->cutoff) {
        g->rep->kept_recent++;
        return;
    }
    if (g->n == g->cap) {
        int ncap = g->cap ? g->cap * 2 : 64;
        cand *nl = td_realloc(g->list, (size_t)ncap * sizeof(*nl));
        if (!nl) {
            g->failed = 1;
            return;
        }
        g->list = nl;
        g->cap = ncap;
    }
    snprintf(g->list[g->n].sha, sizeof(g->list[g->n].sha), "%s", sha);
    g->list[g->n].size = (uint64_t)st->st_size;
    g->n++;
}

static void add_sample(td__gc_report *rep, const char *sha)
{
    if (rep->nsample < (int)(sizeof(rep->sample) / sizeof(rep->sample[0])))
        snprintf(rep->sample[rep->nsample++], sizeof(rep->sample[0]), "%s", sha);
}

int td__gc(td_hub *h, const td__gc_opts *o, td__gc_report *rep, td_err *err)
{
    gc_scan g;
    int rc = 0;
    /* The times first: everything stored from now on is newer. */
    int64_t wall = (int64_t)time(NULL), hub_now = td__hub_now(h);
    memset(rep, 0, sizeof(*rep));
    memset(&g, 0, sizeof(g));
    rep->cutoff = wall - o->older_than_s;
    rep->upload_since = oldest_upload(h);
    if (rep->upload_since && rep->upload_since < rep->cutoff)
        rep->cutoff = rep->upload_since;
    else
        rep->upload_since = 0;
    g.db_cutoff = hub_now - o->older_than_s;
    g.o = o;
    g.rep = rep;
    g.c = td__db_acquire(h->db);
    const char *unused = o->purge_deleted ? UNUSED_PURGE : UNUSED;
    char sql[2048];

    /* The versions of deleted models, then the filesets nothing refers to. */
    if (o->purge_deleted)
        rc = td__db_int_query(g.c, &rep->versions_purged, 0, err,
                              "SELECT COUNT(*) FROM model_versions WHERE model_id IN (SELECT id "
                              "FROM models WHERE deleted_at IS NOT NULL)",
                              "");
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM filesets f WHERE f.created_at < ? AND %s",
             unused);
    if (!rc)
        rc = td__db_int_query(g.c, &rep->filesets, 0, err, sql, "i", g.db_cutoff);
    if (!rc && !o->dry_run) {
        rc = td__db_begin(g.c, 1, err);
        if (!rc && o->purge_deleted)
            rc = td__db_exec(g.c, err,
                             "DELETE FROM model_versions WHERE model_id IN (SELECT id FROM models "
                             "WHERE deleted_at IS NOT NULL)",
                             "");
        if (!rc && o->purge_deleted)
            rc = td__db_exec(
                g.c, err, "UPDATE models SET latest_version = 0 WHERE deleted_at IS NOT NULL", "");
        snprintf(sql, sizeof(sql),
                 "DELETE FROM fileset_files WHERE fileset_id IN (SELECT f.id FROM filesets f "
                 "WHERE f.created_at < ? AND %s)",
                 UNUSED);
        if (!rc)
            rc = td__db_exec(g.c, err, sql, "i", g.db_cutoff);
        snprintf(sql, sizeof(sql),
                 "DELETE FROM filesets WHERE id IN (SELECT f.id FROM filesets f WHERE "
                 "f.created_at < ? AND %s)",
                 UNUSED);
        if (!rc)
            rc = td__db_exec(g.c, err, sql, "i", g.db_cutoff);
        if (!rc)
            rep->filesets = td__db_changes(g.c);
        if (!rc)
            rc = td__db_commit(g.c, err);
        else
            td__db_rollback(g.c);
    }

    /* The blobs no fileset names (that stays), older than the cutoff. */
    if (!rc) {
        each_blob(h, scan_blob, &g);
        if (g.failed)
            rc = td_err_set(err, TD_EINTERNAL, "the collection could not check every blob");
    }
    if (!rc && o->dry_run) {
        for (int i = 0; i < g.n; i++) {
            rep->blobs++;
            rep->bytes += g.list[i].size;
            add_sample(rep, g.list[i].sha);
        }
    }
    if (!rc && !o->dry_run) {
        if (td__gc_test_hook)
            td__gc_test_hook(h, td__gc_test_hook_arg);
        /* The last check and the delete, one blob at a time under the blob lock. */
        for (int i = 0; i < g.n && !rc; i++) {
            char p[1200];
            struct stat st;
            int lock = td__blob_lock(h->data_dir, 1, err);
            if (lock < 0) {
                rc = lock;
                break;
            }
            td__blob_path(h->data_dir, g.list[i].sha, p, sizeof(p));
            if (lstat(p, &st)) {
                td__blob_unlock(lock);
                continue;
            }
            int named = (int64_t)st.st_mtime >= rep->cutoff ? 1 : blob_named(&g, g.list[i].sha);
            if (named < 0) {
                rc = td_err_set(err, TD_EINTERNAL, "the collection could not check a blob");
            } else if (named) {
                rep->rescued++;
            } else if (unlink(p) == 0) {
                rep->blobs++;
                rep->bytes += (uint64_t)st.st_size;
                add_sample(rep, g.list[i].sha);
            }
            td__blob_unlock(lock);
        }
    }
    td_free(g.list);
    td__db_release(h->db, g.c);
    return rc;
}

int td_hub_gc(td_hub *h, int purge_deleted, uint64_t *freed_bytes, int *freed_blobs, td_err *err)
{
    td__gc_opts o = {.dry_run = 0, .purge_deleted = purge_deleted, .older_than_s = 3600};
    td__gc_report rep;
    int rc = td__gc(h, &o, &rep, err);
    if (freed_bytes)
        *freed_bytes = rc ? 0 : rep.bytes;
    if (freed_blobs)
        *freed_blobs = rc ? 0 : (int)rep.blobs;
    return rc;
}

int td_hub_collect(td_hub *h, int dry_run, int purge_deleted, long long older_than_s,
                   td_hub_gc_result *out, td_err *err)
{
    td__gc_opts o = {
        .dry_run = dry_run, .purge_deleted = purge_deleted, .older_than_s = older_than_s};
    td__gc_report rep;
    int rc = td__gc(h, &o, &rep, err);
    memset(out, 0, sizeof(*out));
    if (!rc) {
        out->blobs = rep.blobs;
        out->filesets = rep.filesets;
        out->versions_purged = rep.versions_purged;
        out->bytes = rep.bytes;
        out->kept_recent = rep.kept_recent;
        out->rescued = rep.rescued;
    }
    return rc;
}

/* ---- Use ---------------------------------------------------------------------------------- */

typedef struct named {
    char sha[65];
    int64_t size;
    int seen;
} named;

typedef struct stat_scan {
    named *rows;
    size_t n;
    int64_t count, bytes, orphans, orphan_bytes, orphans_old;
    int64_t old_before;
} stat_scan;

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const named *)a)->sha, ((const named *)b)->sha);
}

static void stat_blob(void *user, const char *sha, const struct stat *st)
{
    stat_scan *s = user;
    named key;
    snprintf(key.sha, sizeof(key.sha), "%s", sha);
    named *hit = s->n ? bsearch(&key, s->rows, s->n, sizeof(*s->rows), cmp_named) : NULL;
    s->count++;
    s->bytes += (int64_t)st->st_size;
    if (hit) {
        hit->seen = 1;
        return;
    }
    s->orphans++;
    s->orphan_bytes += (int64_t)st->st_size;
    if ((int64_t)st->st_mtime < s->old_before)
        s->orphans_old++;
}

/* {"count": distinct blobs, "bytes": their size} of the fileset_files joined by `join`. */
static int distinct_use(td_db_conn *c, const char *join, json_t *into, const char *key, td_err *err)
{
    char sql[1536];
    td_db_rows *row;
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*), COALESCE(SUM(t.size), 0) FROM (SELECT DISTINCT ff.sha256, ff.size "
             "FROM fileset_files ff %s) t",
             join);
    int rc = td__db_query_row(c, &row, err, sql, "");
    if (rc < 0)
        return rc;
    json_t *o = json_pack("{s:I,s:I}", "blobs", (json_int_t)(rc ? td__db_int(row, 0) : 0), "bytes",
                          (json_int_t)(rc ? td__db_int(row, 1) : 0));
    td__db_rows_free(row);
    json_object_set_new(into, key, o);
    return 0;
}

static int db_size(td_hub *h, td_db_conn *c, json_t *out, td_err *err)
{
    int64_t bytes = 0;
    if (h->opt.db && *h->opt.db) {
        int rc =
            td__db_int_query(c, &bytes, 0, err, "SELECT pg_database_size(current_database())", "");
        if (rc)
            return rc;
        json_object_set_new(
            out, "database",
            json_pack("{s:s,s:I}", "kind", "postgresql", "bytes", (json_int_t)bytes));
        return 0;
    }
    const char *parts[] = {"hub.db", "hub.db-wal", "hub.db-shm"};
    for (int i = 0; i < 3; i++) {
        char p[1200];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", h->data_dir, parts[i]);
        if (!stat(p, &st))
            bytes += (int64_t)st.st_size;
    }
    json_object_set_new(out, "database",
                        json_pack("{s:s,s:I}", "kind", "sqlite", "bytes", (json_int_t)bytes));
    return 0;
}

static int users_use(td_db_conn *c, json_t *out, td_err *err)
{
    td_db_rows *rows;
    /* One row per user: the distinct blobs of their model versions and of their jobs'
     * checkpoints and results (a blob in both counts once in `bytes`). */
    int rc = td__db_query(
        c, &rows, err,
        "SELECT u.id, u.username, "
        "(SELECT COUNT(*) FROM models m WHERE m.owner_id = u.id AND m.deleted_at IS NULL), "
        "(SELECT COUNT(*) FROM model_versions v JOIN models m ON m.id = v.model_id WHERE "
        "m.owner_id = u.id), "
        "(SELECT COALESCE(SUM(t.size), 0) FROM (SELECT DISTINCT ff.sha256, ff.size FROM "
        "model_versions v JOIN models m ON m.id = v.model_id JOIN fileset_files ff ON "
        "ff.fileset_id = v.fileset_id WHERE m.owner_id = u.id) t), "
        "(SELECT COALESCE(SUM(t.size), 0) FROM (SELECT DISTINCT ff.sha256, ff.size FROM jobs j "
        "JOIN fileset_files ff ON ff.fileset_id = j.checkpoint_fileset_id OR ff.fileset_id = "
        "j.result_fileset_id WHERE j.owner_id = u.id) t), "
        "(SELECT COALESCE(SUM(t.size), 0) FROM (SELECT ff.sha256, ff.size FROM model_versions v "
        "JOIN models m ON m.id = v.model_id JOIN fileset_files ff ON ff.fileset_id = "
        "v.fileset_id WHERE m.owner_id = u.id UNION SELECT ff.sha256, ff.size FROM jobs j JOIN "
        "fileset_files ff ON ff.fileset_id = j.checkpoint_fileset_id OR ff.fileset_id = "
        "j.result_fileset_id WHERE j.owner_id = u.id) t) AS total "
        "FROM users u ORDER BY total DESC, u.id LIMIT 100",
        "");
    json_t *arr = json_array();
    while (rc >= 0 && (rc = td__db_next(rows, err)) > 0) {
        if (!td__db_int(rows, 6) && !td__db_int(rows, 2))
            continue;
        json_array_append_new(
            arr,
            json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:I}", "user_id", (json_int_t)td__db_int(rows, 0),
                      "username", td__db_text(rows, 1), "models", (json_int_t)td__db_int(rows, 2),
                      "versions", (json_int_t)td__db_int(rows, 3), "model_bytes",
                      (json_int_t)td__db_int(rows, 4), "job_bytes", (json_int_t)td__db_int(rows, 5),
                      "bytes", (json_int_t)td__db_int(rows, 6)));
    }
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    json_object_set_new(out, "by_user", arr);
    return 0;
}

static int models_use(td_db_conn *c, json_t *out, td_err *err)
{
    td_db_rows *rows;
    int rc = td__db_query(
        c, &rows, err,
        "SELECT t.model_id, m.name, u.username, m.deleted_at, COUNT(*), COALESCE(SUM(t.size), 0), "
        "(SELECT COUNT(*) FROM model_versions v2 WHERE v2.model_id = t.model_id) "
        "FROM (SELECT DISTINCT v.model_id, ff.sha256, ff.size FROM model_versions v JOIN "
        "fileset_files ff ON ff.fileset_id = v.fileset_id) t JOIN models m ON m.id = t.model_id "
        "JOIN users u ON u.id = m.owner_id GROUP BY t.model_id, m.name, u.username, m.deleted_at "
        "ORDER BY 6 DESC, 1 LIMIT 100",
        "");
    json_t *arr = json_array();
    while (rc >= 0 && (rc = td__db_next(rows, err)) > 0)
        json_array_append_new(
            arr, json_pack(
                     "{s:I,s:s,s:s,s:b,s:I,s:I,s:I}", "model_id", (json_int_t)td__db_int(rows, 0),
                     "name", td__db_text(rows, 1), "owner", td__db_text(rows, 2), "deleted",
                     !td__db_is_null(rows, 3), "versions", (json_int_t)td__db_int(rows, 6), "blobs",
                     (json_int_t)td__db_int(rows, 4), "bytes", (json_int_t)td__db_int(rows, 5)));
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    json_object_set_new(out, "by_model", arr);
    return 0;
}

static int jobs_use(td_db_conn *c, json_t *out, td_err *err)
{
    td_db_rows *rows;
    int rc = td__db_query(
        c, &rows, err,
        "SELECT x.id, x.type, x.state, x.username, x.model_id, x.cb, x.rb FROM (SELECT j.id, "
        "j.type, j.state, u.username, j.model_id, "
        "(SELECT COALESCE(SUM(t.size), 0) FROM (SELECT DISTINCT ff.sha256, ff.size FROM "
        "fileset_files ff WHERE ff.fileset_id = j.checkpoint_fileset_id) t) AS cb, "
        "(SELECT COALESCE(SUM(t.size), 0) FROM (SELECT DISTINCT ff.sha256, ff.size FROM "
        "fileset_files ff WHERE ff.fileset_id = j.result_fileset_id) t) AS rb "
        "FROM jobs j JOIN users u ON u.id = j.owner_id WHERE j.checkpoint_fileset_id IS NOT NULL "
        "OR j.result_fileset_id IS NOT NULL) x ORDER BY x.cb + x.rb DESC, x.id DESC LIMIT 50",
        "");
    json_t *arr = json_array();
    while (rc >= 0 && (rc = td__db_next(rows, err)) > 0)
        json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:s,s:I,s:I,s:I}", "job_id",
                                             (json_int_t)td__db_int(rows, 0), "type",
                                             td__db_text(rows, 1), "state", td__db_text(rows, 2),
                                             "owner", td__db_text(rows, 3), "model_id",
                                             (json_int_t)td__db_int(rows, 4), "checkpoint_bytes",
                                             (json_int_t)td__db_int(rows, 5), "result_bytes",
                                             (json_int_t)td__db_int(rows, 6)));
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    json_object_set_new(out, "by_job", arr);
    return 0;
}

int td__storage_stats(td_hub *h, json_t **out, td_err *err)
{
    td_db_conn *c = td__db_acquire(h->db);
    td_db_rows *rows;
    stat_scan s;
    size_t cap = 0;
    int rc;
    memset(&s, 0, sizeof(s));
    s.old_before = (int64_t)time(NULL) - 3600;
    *out = NULL;
    /* Every blob a row names (sorted), then the blobs on disk against it. */
    rc = td__db_query(c, &rows, err,
                      "SELECT DISTINCT sha256, size FROM fileset_files ORDER BY sha256", "");
    while (rc >= 0 && (rc = td__db_next(rows, err)) > 0) {
        if (s.n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            named *nr = td_realloc(s.rows, ncap * sizeof(*nr));
            if (!nr) {
                rc = td_err_set(err, TD_ENOMEM, "out of memory");
                break;
            }
            s.rows = nr;
            cap = ncap;
        }
        snprintf(s.rows[s.n].sha, sizeof(s.rows[s.n].sha), "%s", td__db_text(rows, 0));
        s.rows[s.n].size = td__db_int(rows, 1);
        s.rows[s.n].seen = 0;
        s.n++;
    }
    td__db_rows_free(rows);
    if (rc > 0)
        rc = 0;
    json_t *o = json_object();
    if (!rc) {
        /* Names that differ only by size would make duplicates: keep them, bsearch finds one. */
        qsort(s.rows, s.n, sizeof(*s.rows), cmp_named);
        each_blob(h, stat_blob, &s);
        int64_t missing = 0, named_bytes = 0;
        for (size_t i = 0; i < s.n; i++) {
            if (!s.rows[i].seen && (i == 0 || strcmp(s.rows[i].sha, s.rows[i - 1].sha)))
                missing++;
            named_bytes += s.rows[i].size;
        }
        json_object_set_new(
            o, "blobs",
            json_pack("{s:I,s:I}", "count", (json_int_t)s.count, "bytes", (json_int_t)s.bytes));
        json_object_set_new(
            o, "referenced",
            json_pack("{s:I,s:I}", "count", (json_int_t)s.n, "bytes", (json_int_t)named_bytes));
        json_object_set_new(o, "orphaned",
                            json_pack("{s:I,s:I,s:I}", "count", (json_int_t)s.orphans, "bytes",
                                      (json_int_t)s.orphan_bytes, "older_than_an_hour",
                                      (json_int_t)s.orphans_old));
        json_object_set_new(o, "missing", json_integer(missing));
    }
    td_free(s.rows);
    /* By kind of owner (a blob shared by two kinds counts in each). */
    json_t *kinds = json_object();
    json_object_set_new(o, "by_kind", kinds);
    static const char *const joins[][2] = {
        {"model_versions", "JOIN model_versions v ON v.fileset_id = ff.fileset_id"},
        {"job_checkpoints", "JOIN jobs j ON j.checkpoint_fileset_id = ff.fileset_id"},
        {"job_results", "JOIN jobs j ON j.result_fileset_id = ff.fileset_id"},
        {"bundles", "JOIN bundles b ON b.fileset_id = ff.fileset_id"},
        {"league_submissions", "JOIN submissions s ON s.fileset_id = ff.fileset_id"},
        {"assignment_submissions", "JOIN assignment_submissions a ON a.fileset_id = ff.fileset_id"},
        {"unused_filesets", "JOIN filesets f ON f.id = ff.fileset_id WHERE " UNUSED},
    };
    for (size_t i = 0; !rc && i < sizeof(joins) / sizeof(joins[0]); i++)
        rc = distinct_use(c, joins[i][1], kinds, joins[i][0], err);
    int64_t nfs = 0, nunused = 0, nmodels = 0, ndeleted = 0, nversions = 0;
    if (!rc)
        rc = td__db_int_query(c, &nfs, 0, err, "SELECT COUNT(*) FROM filesets", "");
    if (!rc)
        rc = td__db_int_query(c, &nunused, 0, err, "SELECT COUNT(*) FROM filesets f WHERE " UNUSED,
                              "");
    if (!rc)
        rc = td__db_int_query(c, &nmodels, 0, err,
                              "SELECT COUNT(*) FROM models WHERE deleted_at IS NULL", "");
    if (!rc)
        rc = td__db_int_query(c, &ndeleted, 0, err,
                              "SELECT COUNT(*) FROM models WHERE deleted_at IS NOT NULL", "");
    if (!rc)
        rc = td__db_int_query(c, &nversions, 0, err, "SELECT COUNT(*) FROM model_versions", "");
    if (!rc) {
        json_object_set_new(
            o, "filesets",
            json_pack("{s:I,s:I}", "count", (json_int_t)nfs, "unused", (json_int_t)nunused));
        json_object_set_new(o, "models",
                            json_pack("{s:I,s:I,s:I}", "count", (json_int_t)nmodels, "deleted",
                                      (json_int_t)ndeleted, "versions", (json_int_t)nversions));
    }
    if (!rc)
        rc = users_use(c, o, err);
    if (!rc)
        rc = models_use(c, o, err);
    if (!rc)
        rc = jobs_use(c, o, err);
    if (!rc)
        rc = db_size(h, c, o, err);
    td__db_release(h->db, c);
    if (rc) {
        json_decref(o);
        return rc;
    }
    int64_t since = oldest_upload(h);
    json_object_set_new(o, "uploads_in_progress_since", since ? td__json_time(since) : json_null());
    *out = o;
    return 0;
}

/* ---- Routes ------------------------------------------------------------------------------- */

static int get_storage(td__req *r)
{
    json_t *o;
    td_err err = {0};
    int rc = td__storage_stats(r->hub, &o, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_json(r, 200, o);
}

static int post_gc(td__req *r)
{
    json_t *body;
    int dry = 1, purge = 0;
    int64_t older = 3600;
    td__gc_report rep;
    td_err err = {0};
    if (td__req_json(r, &body) || td__only_keys(r, body, "dry_run,purge_deleted,older_than_s"))
        return 1;
    if (td__arg_bool(r, body, "dry_run", &dry) || td__arg_bool(r, body, "purge_deleted", &purge))
        return 1;
    if (td__arg_int(r, body, "older_than_s", 0, 0, 10LL * 365 * 86400, &older))
        return 1;
    if (!json_object_get(body, "older_than_s"))
        older = 3600;
    td__gc_opts o = {.dry_run = dry, .purge_deleted = purge, .older_than_s = older};
    int rc = td__gc(r->hub, &o, &rep, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (!dry)
        TD_INFO("hub: storage collected by %s: %lld blobs, %llu bytes, %lld filesets", r->who.name,
                (long long)rep.blobs, (unsigned long long)rep.bytes, (long long)rep.filesets);
    json_t *sample = json_array();
    for (int i = 0; i < rep.nsample; i++)
        json_array_append_new(sample, json_string(rep.sample[i]));
    return td__reply_json(
        r, 200,
        json_pack("{s:b,s:b,s:I,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "dry_run", dry,
                  "purge_deleted", purge, "older_than_s", (json_int_t)older, "cutoff",
                  td__json_time(rep.cutoff), "uploads_in_progress_since",
                  rep.upload_since ? td__json_time(rep.upload_since) : json_null(),
                  "versions_purged", (json_int_t)rep.versions_purged, "filesets",
                  (json_int_t)rep.filesets, "blobs", (json_int_t)rep.blobs, "bytes",
                  (json_int_t)rep.bytes, "kept_recent", (json_int_t)rep.kept_recent, "rescued",
                  (json_int_t)rep.rescued, "sample", sample));
}

const char td__storage_schemas[] =
    "{\"StorageUse\": {\"type\": \"object\", \"description\": \"blobs {count, bytes} on disk; "
    "referenced {count, bytes} (named by a fileset); orphaned {count, bytes, "
    "older_than_an_hour} (on disk, named by none); missing (named, not on disk); by_kind "
    "{model_versions, job_checkpoints, job_results, bundles, league_submissions, "
    "assignment_submissions, unused_filesets: {blobs, bytes}}; filesets {count, unused}; models "
    "{count, deleted, versions}; by_user [{user_id, username, models, versions, model_bytes, "
    "job_bytes, bytes}]; by_model [{model_id, name, owner, deleted, versions, blobs, bytes}]; "
    "by_job [{job_id, type, state, owner, model_id, checkpoint_bytes, result_bytes}]; database "
    "{kind, bytes}; uploads_in_progress_since\"},"
    " \"GcRequest\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"dry_run\": {\"type\": \"boolean\", \"default\": true}, \"purge_deleted\": {\"type\": "
    "\"boolean\", \"default\": false}, \"older_than_s\": {\"type\": \"integer\", \"minimum\": 0, "
    "\"default\": 3600}}},"
    " \"GcReport\": {\"type\": \"object\", \"description\": \"dry_run, purge_deleted, "
    "older_than_s, cutoff (blobs changed before it may go), uploads_in_progress_since, "
    "versions_purged, filesets, blobs, bytes ((would be) deleted), kept_recent, rescued, "
    "sample\"}}";

const td__route td__routes_storage[] = {
    {"GET", "/api/v1/admin/storage", get_storage, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "What the hub stores: blobs, by kind, by user, model and job, orphans, the database (admin)",
     "{\"responses\": {\"200\": {\"description\": \"storage use\", \"content\": "
     "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/StorageUse\"}}}}}}"},
    {"POST", "/api/v1/admin/gc", post_gc, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Garbage collection: delete the files nothing refers to (a dry run unless dry_run is "
     "false) (admin)",
     "{\"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\": "
     "{\"$ref\": \"#/components/schemas/GcRequest\"}}}}, \"responses\": {\"200\": "
     "{\"description\": \"what was (or would be) deleted\", \"content\": {\"application/json\": "
     "{\"schema\": {\"$ref\": \"#/components/schemas/GcReport\"}}}}}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
