/*
 * db_sqlite.c - the SQLite backend of the storage interface (db.h): WAL mode so readers never
 * wait for the writer, a busy timeout instead of immediate SQLITE_BUSY, foreign keys on, and
 * a per-connection cache of prepared statements (preparing costs more than most queries).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "hub/db.h"

#define STMT_CACHE      96
#define BUSY_TIMEOUT_MS 10000

typedef struct {
    uint64_t hash;
    char *sql;
    sqlite3_stmt *stmt;
    int in_use;
} cached_stmt;

struct sq_conn {
    const td__db_ops *ops;
    sqlite3 *db;
    cached_stmt cache[STMT_CACHE];
    int next_evict;
    int in_tx;
};

struct sq_rows {
    const td__db_ops *ops;
    struct sq_conn *conn;
    sqlite3_stmt *stmt;
    cached_stmt *slot; /* NULL: a one-off statement to finalize */
    int done;
};

static int map_error(sqlite3 *db, int rc, const char *sql, td_err *err)
{
    int code = TD_EIO;
    int ext = sqlite3_extended_errcode(db);
    if (rc == SQLITE_CONSTRAINT) {
        code = (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
                   ? TD_ECONFLICT
                   : TD_EINVAL;
    } else if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        code = TD_ETIMEOUT;
    } else if (rc == SQLITE_NOMEM) {
        code = TD_ENOMEM;
    } else if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
        code = TD_EFORMAT;
    }
    return td_err_set(err, code, "database: %s (in: %.120s)", sqlite3_errmsg(db), sql);
}

static int sq_connect(const char *target, td_db_conn **out, td_err *err)
{
    struct sq_conn *c = td_calloc(1, sizeof(*c));
    int rc;
    char *msg = NULL;
    if (!c)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    c->ops = &td__db_sqlite_ops;
    rc = sqlite3_open_v2(target, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        td_err_set(err, TD_EIO, "%s: cannot open the database: %s", target,
                   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        td_free(c);
        return TD_EIO;
    }
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    /* WAL: readers proceed while one writer commits; NORMAL sync is safe against a killed
     * process (the WAL is fsynced at checkpoints; a power cut may lose the last commits). */
    rc = sqlite3_exec(c->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                      "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        td_err_set(err, rc == SQLITE_NOTADB ? TD_EFORMAT : TD_EIO, "%s: %s", target,
                   msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close(c->db);
        td_free(c);
        return err ? err->code : TD_EIO;
    }
    *out = (td_db_conn *)c;
    return 0;
}

static void sq_disconnect(td_db_conn *conn)
{
    struct sq_conn *c = (struct sq_conn *)conn;
    for (int i = 0; i < STMT_CACHE; i++) {
        if (c->cache[i].stmt)
            sqlite3_finalize(c->cache[i].stmt);
        td_free(c->cache[i].sql);
    }
    sqlite3_close(c->db);
    td_free(c);
}

static uint64_t hash_sql(const char *sql)
{
    return td_fnv1a64(sql, strlen(sql));
}

/* Finds or prepares the statement for sql. *slot is NULL for a one-off statement. */
static int get_stmt(struct sq_conn *c, const char *sql, sqlite3_stmt **stmt, cached_stmt **slot,
                    td_err *err)
{
    uint64_t h = hash_sql(sql);
    int free_slot = -1, rc;
    *slot = NULL;
    for (int i = 0; i < STMT_CACHE; i++) {
        cached_stmt *s = &c->cache[i];
        if (s->stmt && s->hash == h && !strcmp(s->sql, sql)) {
            if (s->in_use)
                break; /* nested use of the same query: prepare a second copy */
            s->in_use = 1;
            *stmt = s->stmt;
            *slot = s;
            return 0;
        }
        if (!s->stmt && free_slot < 0)
            free_slot = i;
    }
    rc = sqlite3_prepare_v2(c->db, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK)
        return map_error(c->db, rc, sql, err);
    if (free_slot < 0) {
        /* Evict an idle entry, round robin. */
        for (int k = 0; k < STMT_CACHE; k++) {
            int i = (c->next_evict + k) % STMT_CACHE;
            if (!c->cache[i].in_use) {
                sqlite3_finalize(c->cache[i].stmt);
                td_free(c->cache[i].sql);
                c->cache[i].stmt = NULL;
                c->cache[i].sql = NULL;
                free_slot = i;
                c->next_evict = (i + 1) % STMT_CACHE;
                break;
            }
        }
    }
    if (free_slot >= 0) {
        cached_stmt *s = &c->cache[free_slot];
        s->sql = td_strdup(sql);
        if (s->sql) {
            s->hash = h;
            s->stmt = *stmt;
            s->in_use = 1;
            *slot = s;
        }
    }
    return 0;
}

static int sq_query(td_db_conn *conn, td_db_rows **rows, const char *sql, const char *types,
                    va_list ap, td_err *err)
{
    struct sq_conn *c = (struct sq_conn *)conn;
    struct sq_rows *r;
    sqlite3_stmt *st;
    cached_stmt *slot;
    int rc, idx = 1;

    *rows = NULL;
    rc = get_stmt(c, sql, &st, &slot, err);
    if (rc)
        return rc;
    r = td_calloc(1, sizeof(*r));
    if (!r) {
        if (slot)
            slot->in_use = 0, sqlite3_reset(st);
        else
            sqlite3_finalize(st);
        return td_err_set(err, TD_ENOMEM, "out of memory");
    }
    r->ops = &td__db_sqlite_ops;
    r->conn = c;
    r->stmt = st;
    r->slot = slot;
    *rows = (td_db_rows *)r;
    for (const char *t = types; *t; t++, idx++) {
        switch (*t) {
        case 'i':
            rc = sqlite3_bind_int64(st, idx, va_arg(ap, int64_t));
            break;
        case 'd':
            rc = sqlite3_bind_double(st, idx, va_arg(ap, double));
            break;
        case 't': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, idx);
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(st, idx, p, n, SQLITE_TRANSIENT);
            break;
        }
        case 'n':
            rc = sqlite3_bind_null(st, idx);
            break;
        default:
            return td_err_set(err, TD_EINVAL, "database: bad parameter type '%c'", *t);
        }
        if (rc != SQLITE_OK)
            return map_error(c->db, rc, sql, err);
    }
    return 0;
}

static int sq_next(td_db_rows *rows, td_err *err)
{
    struct sq_rows *r = (struct sq_rows *)rows;
    int rc;
    if (r->done)
        return 0;
    rc = sqlite3_step(r->stmt);
    if (rc == SQLITE_ROW)
        return 1;
    r->done = 1;
    if (rc == SQLITE_DONE)
        return 0;
    return map_error(r->conn->db, rc, sqlite3_sql(r->stmt), err);
}

static int sq_is_null(td_db_rows *rows, int col)
{
    return sqlite3_column_type(((struct sq_rows *)rows)->stmt, col) == SQLITE_NULL;
}

static int64_t sq_int(td_db_rows *rows, int col)
{
    return sqlite3_column_int64(((struct sq_rows *)rows)->stmt, col);
}

static double sq_real(td_db_rows *rows, int col)
{
    return sqlite3_column_double(((struct sq_rows *)rows)->stmt, col);
}

static const char *sq_text(td_db_rows *rows, int col)
{
    return (const char *)sqlite3_column_text(((struct sq_rows *)rows)->stmt, col);
}

static void sq_rows_free(td_db_rows *rows)
{
    struct sq_rows *r = (struct sq_rows *)rows;
    if (r->slot) {
        sqlite3_reset(r->stmt);
        sqlite3_clear_bindings(r->stmt);
        r->slot->in_use = 0;
    } else {
        sqlite3_finalize(r->stmt);
    }
    td_free(r);
}

static int64_t sq_changes(td_db_conn *conn)
{
    return sqlite3_changes64(((struct sq_conn *)conn)->db);
}

static int sq_begin(td_db_conn *conn, int write, td_err *err)
{
    struct sq_conn *c = (struct sq_conn *)conn;
    int rc = td__db_exec(conn, err, write ? "BEGIN IMMEDIATE" : "BEGIN", "");
    if (!rc)
        c->in_tx = 1;
    return rc;
}

static int sq_commit(td_db_conn *conn, td_err *err)
{
    struct sq_conn *c = (struct sq_conn *)conn;
    int rc = td__db_exec(conn, err, "COMMIT", "");
    if (rc) {
        td__db_exec(conn, NULL, "ROLLBACK", "");
    }
    c->in_tx = 0;
    return rc;
}

static void sq_rollback(td_db_conn *conn)
{
    struct sq_conn *c = (struct sq_conn *)conn;
    if (!sqlite3_get_autocommit(c->db))
        td__db_exec(conn, NULL, "ROLLBACK", "");
    c->in_tx = 0;
}

const td__db_ops td__db_sqlite_ops = {
    .name = "sqlite",
    .dialect = TD_DB_SQLITE,
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .query = sq_query,
    .next = sq_next,
    .is_null = sq_is_null,
    .col_int = sq_int,
    .col_real = sq_real,
    .col_text = sq_text,
    .rows_free = sq_rows_free,
    .changes = sq_changes,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
};
