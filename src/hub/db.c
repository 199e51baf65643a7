/*
 * db.c - the storage interface's common part: the connection pool, dispatch to the backend
 * (db_sqlite.c, db_pg.c), helpers, and the migration runner.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "hub/db.h"

struct td_db {
    const td__db_ops *ops;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int size;
    td_db_conn **conns;
    int *busy;
};

/* Every backend's connection and rows start with these, so the dispatch needs no lookup. */
typedef struct {
    const td__db_ops *ops;
} conn_head;
typedef struct {
    const td__db_ops *ops;
} rows_head;

#define OPS(c)  (((conn_head *)(c))->ops)
#define ROPS(r) (((rows_head *)(r))->ops)

/* ------------------------------------------------------------------------------------ */
/* Pool                                                                                 */
/* ------------------------------------------------------------------------------------ */

int td__db_is_postgres(const char *target)
{
    return target && (!strncmp(target, "postgres://", 11) || !strncmp(target, "postgresql://", 13));
}

int td__db_open(td_db **out, const char *target, int size, td_err *err)
{
    const td__db_ops *ops = &td__db_sqlite_ops;
    td_db *db;
    int rc;

    *out = NULL;
    if (td__db_is_postgres(target)) {
#ifdef TD_HAVE_POSTGRES
        ops = &td__db_pg_ops;
#else
        return td_err_set(err, TD_EUNSUPPORTED,
                          "this trackday was built without PostgreSQL (-DTD_WITH_POSTGRES=OFF)");
#endif
    }
    if (size < 1)
        size = 1;
    db = td_calloc(1, sizeof(*db));
    if (!db)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    db->ops = ops;
    db->size = size;
    db->conns = td_calloc((size_t)size, sizeof(*db->conns));
    db->busy = td_calloc((size_t)size, sizeof(*db->busy));
    if (!db->conns || !db->busy) {
        td_free(db->conns);
        td_free(db->busy);
        td_free(db);
        return td_err_set(err, TD_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    for (int i = 0; i < size; i++) {
        rc = ops->connect(target, &db->conns[i], err);
        if (rc) {
            td__db_close(db);
            return rc;
        }
    }
    *out = db;
    return 0;
}

void td__db_close(td_db *db)
{
    if (!db)
        return;
    for (int i = 0; i < db->size; i++)
        if (db->conns[i])
            db->ops->disconnect(db->conns[i]);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cv);
    td_free(db->conns);
    td_free(db->busy);
    td_free(db);
}

td_db_dialect td__db_dialect(const td_db *db)
{
    return db->ops->dialect;
}

td_db_conn *td__db_acquire(td_db *db)
{
    td_db_conn *c = NULL;
    pthread_mutex_lock(&db->mu);
    for (;;) {
        for (int i = 0; i < db->size; i++) {
            if (!db->busy[i]) {
                db->busy[i] = 1;
                c = db->conns[i];
                break;
            }
        }
        if (c)
            break;
        pthread_cond_wait(&db->cv, &db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return c;
}

void td__db_release(td_db *db, td_db_conn *c)
{
    if (!c)
        return;
    /* A handler that returned early inside a transaction leaves nothing half-done. */
    OPS(c)->rollback(c);
    pthread_mutex_lock(&db->mu);
    for (int i = 0; i < db->size; i++)
        if (db->conns[i] == c)
            db->busy[i] = 0;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
}

/* ------------------------------------------------------------------------------------ */
/* Queries                                                                              */
/* ------------------------------------------------------------------------------------ */

int td__db_exec(td_db_conn *c, td_err *err, const char *sql, const char *types, ...)
{
    td_db_rows *r = NULL;
    va_list ap;
    int rc;
    va_start(ap, types);
    rc = OPS(c)->query(c, &r, sql, types, ap, err);
    va_end(ap);
    if (!rc) {
        int n;
        while ((n = ROPS(r)->next(r, err)) > 0)
            ;
        if (n < 0)
            rc = n;
    }
    if (r)
        ROPS(r)->rows_free(r);
    return rc;
}

int td__db_query(td_db_conn *c, td_db_rows **rows, td_err *err, const char *sql, const char *types,
                 ...)
{
    va_list ap;
    int rc;
    *rows = NULL;
    va_start(ap, types);
    rc = OPS(c)->query(c, rows, sql, types, ap, err);
    va_end(ap);
    if (rc && *rows) {
        ROPS(*rows)->rows_free(*rows);
        *rows = NULL;
    }
    return rc;
}

int td__db_query_row(td_db_conn *c, td_db_rows **rows, td_err *err, const char *sql,
                     const char *types, ...)
{
    va_list ap;
    int rc;
    *rows = NULL;
    va_start(ap, types);
    rc = OPS(c)->query(c, rows, sql, types, ap, err);
    va_end(ap);
    if (!rc)
        rc = ROPS(*rows)->next(*rows, err);
    if (rc <= 0 && *rows) {
        ROPS(*rows)->rows_free(*rows);
        *rows = NULL;
    }
    return rc;
}

/* The first column of a one-row query: 1 (*out set unless it is NULL), 0 (no row), or the
 * error. */
static int first_int(td_db_conn *c, int64_t *out, td_err *err, const char *sql, const char *types,
                     va_list ap)
{
    td_db_rows *r = NULL;
    int rc = OPS(c)->query(c, &r, sql, types, ap, err);
    if (!rc) {
        rc = ROPS(r)->next(r, err);
        if (rc > 0 && !ROPS(r)->is_null(r, 0))
            *out = ROPS(r)->col_int(r, 0);
    }
    if (r)
        ROPS(r)->rows_free(r);
    return rc;
}

int td__db_insert_id(td_db_conn *c, int64_t *id, td_err *err, const char *sql, const char *types,
                     ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = first_int(c, id, err, sql, types, ap);
    va_end(ap);
    return rc > 0 ? 0 : rc == 0 ? TD_EINTERNAL : rc;
}

int td__db_int_query(td_db_conn *c, int64_t *out, int64_t dflt, td_err *err, const char *sql,
                     const char *types, ...)
{
    va_list ap;
    *out = dflt;
    va_start(ap, types);
    int rc = first_int(c, out, err, sql, types, ap);
    va_end(ap);
    return rc > 0 ? 0 : rc;
}

int td__db_next(td_db_rows *r, td_err *err)
{
    return ROPS(r)->next(r, err);
}

int td__db_is_null(td_db_rows *r, int col)
{
    return ROPS(r)->is_null(r, col);
}

int64_t td__db_int(td_db_rows *r, int col)
{
    return ROPS(r)->col_int(r, col);
}

double td__db_real(td_db_rows *r, int col)
{
    return ROPS(r)->col_real(r, col);
}

const char *td__db_text(td_db_rows *r, int col)
{
    return ROPS(r)->col_text(r, col);
}

void td__db_rows_free(td_db_rows *r)
{
    if (r)
        ROPS(r)->rows_free(r);
}

int64_t td__db_changes(td_db_conn *c)
{
    return OPS(c)->changes(c);
}

int td__db_begin(td_db_conn *c, int write, td_err *err)
{
    return OPS(c)->begin(c, write, err);
}

int td__db_commit(td_db_conn *c, td_err *err)
{
    return OPS(c)->commit(c, err);
}

void td__db_rollback(td_db_conn *c)
{
    OPS(c)->rollback(c);
}

/* ------------------------------------------------------------------------------------ */
/* Migrations                                                                           */
/* ------------------------------------------------------------------------------------ */

/* Expands @ID@ for the dialect into a new string (td_free). */
static char *expand_sql(const char *sql, td_db_dialect d)
{
    const char *id = d == TD_DB_POSTGRES ? "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
                                         : "INTEGER PRIMARY KEY";
    size_t n = strlen(sql), idn = strlen(id), cap = n + 1, len = 0;
    const char *p;
    char *out;
    for (p = sql; (p = strstr(p, "@ID@")); p += 4)
        cap += idn;
    out = td_malloc(cap);
    if (!out)
        return NULL;
    for (p = sql; *p;) {
        if (!strncmp(p, "@ID@", 4)) {
            memcpy(out + len, id, idn);
            len += idn;
            p += 4;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = 0;
    return out;
}

/* Runs the statements of sql (separated by ";" at the end of a line) one by one. */
static int exec_script(td_db_conn *c, const char *sql, td_err *err)
{
    char *copy = td_strdup(sql), *p, *end;
    int rc = 0;
    if (!copy)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    for (p = copy; *p && !rc; p = end) {
        char *semi = strstr(p, ";\n");
        if (semi) {
            *semi = 0;
            end = semi + 2;
        } else {
            end = p + strlen(p);
            char *last = strrchr(p, ';');
            if (last)
                *last = 0;
        }
        while (*p == ' ' || *p == '\n' || *p == '\t')
            p++;
        if (*p)
            rc = td__db_exec(c, err, p, "");
    }
    td_free(copy);
    return rc;
}

int td__db_schema_version(td_db *db, int *version, td_err *err)
{
    td_db_conn *c = td__db_acquire(db);
    int64_t v = 0;
    /* In a write transaction: hub processes starting together on one PostgreSQL database
     * would otherwise race to create the table. */
    int rc = td__db_begin(c, 1, err);
    if (!rc)
        rc = td__db_exec(c, err,
                         "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY "
                         "KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                         "");
    if (!rc)
        rc = td__db_commit(c, err);
    if (!rc)
        rc = td__db_int_query(c, &v, 0, err, "SELECT MAX(version) FROM schema_migrations", "");
    td__db_release(db, c);
    *version = (int)v;
    return rc;
}

int td__db_migrate(td_db *db, const td__db_migration *migs, int count, int *applied, td_err *err)
{
    int version = 0, rc, n = 0;
    if (applied)
        *applied = 0;
    rc = td__db_schema_version(db, &version, err);
    if (rc)
        return rc;
    if (count > 0 && version > migs[count - 1].version)
        return td_err_set(err, TD_EVERSION,
                          "the database has schema version %d, newer than this trackday's %d: "
                          "use a newer trackday",
                          version, migs[count - 1].version);
    for (int i = 0; i < count; i++) {
        td_db_conn *c;
        int64_t done = 0;
        char *sql;
        if (migs[i].version <= version)
            continue;
        c = td__db_acquire(db);
        rc = td__db_begin(c, 1, err);
        /* Another hub process may have applied it since we looked. */
        if (!rc)
            rc = td__db_int_query(c, &done, 0, err,
                                  "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", "i",
                                  (int64_t)migs[i].version);
        if (!rc && !done) {
            sql = expand_sql(migs[i].sql, td__db_dialect(db));
            rc = sql ? exec_script(c, sql, err) : td_err_set(err, TD_ENOMEM, "out of memory");
            td_free(sql);
            if (!rc)
                rc = td__db_exec(c, err,
                                 "INSERT INTO schema_migrations (version, name, applied_at) "
                                 "VALUES (?, ?, ?)",
                                 "iti", (int64_t)migs[i].version, migs[i].name,
                                 (int64_t)td_time_wall());
            if (!rc)
                rc = td__db_commit(c, err);
            if (!rc)
                n++;
        } else if (!rc) {
            td__db_rollback(c);
        }
        td__db_release(db, c);
        if (rc) {
            if (err)
                td_err_prefix(err, rc, "migration %d (%s): ", migs[i].version, migs[i].name);
            return rc;
        }
    }
    if (applied)
        *applied = n;
    return 0;
}
