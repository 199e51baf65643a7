/*
 * db_pg.c - the PostgreSQL backend of the storage interface (db.h), through libpq. Several hub
 * processes share one database, so what SQLite gets from its single writer is made explicit:
 *
 * - A write transaction (td__db_begin(c, 1)) takes a transaction-scoped advisory lock, so write
 *   transactions run one at a time across every hub process, as on SQLite (the hub's
 *   read-check-write sequences were written for that). The job queue's claim opens its
 *   transaction with TD_DB_TX_ROWS instead: it locks only the row it claims (SELECT ... FOR
 *   UPDATE SKIP LOCKED), so claims from many workers never wait for each other.
 * - `?` placeholders are rewritten to $1, $2... (outside string literals); integers are sent
 *   as int8, reals as float8, text as text, so `? IS NULL` has a type.
 * - Statements are prepared once per connection and kept (named s0, s1...).
 * - A connection the server closed (restart, failover, idle timeout) is noticed before it is
 *   used and reconnected; a statement that fails because the connection broke under it comes
 *   back as TD_ETIMEOUT (the request answers 503 with Retry-After: the caller tries again, and
 *   nothing was half-done: the transaction died with the connection).
 */
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/db.h"

#define STMT_CACHE 128
#define MAX_PARAMS 64
/* The advisory lock key that serializes write transactions ("tdhubwr"). */
#define WRITE_LOCK_KEY "7234524817495666"

/* Type OIDs (server/catalog/pg_type_d.h; stable across versions). */
#define OID_INT8   20
#define OID_TEXT   25
#define OID_FLOAT8 701
#define OID_BYTEA  17

typedef struct {
    uint64_t hash;
    char *sql;
    char name[16];
} pg_stmt;

struct pg_conn {
    const td__db_ops *ops;
    PGconn *pq;
    char *target;
    pg_stmt cache[STMT_CACHE];
    int next_slot;
    unsigned next_name;
    int in_tx;
    int64_t changes;
};

struct pg_rows {
    const td__db_ops *ops;
    PGresult *res;
    int row; /* the current row, -1 before the first */
    int nrows;
};

static void quiet_notices(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Maps a failed result (or a dead connection) to a TD_E* code with the server's message. */
static int pg_error(struct pg_conn *c, PGresult *res, const char *sql, td_err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    int code = TD_EIO;
    if (!msg || !*msg)
        msg = PQerrorMessage(c->pq);
    if (PQstatus(c->pq) == CONNECTION_BAD) {
        /* The transaction, if any, died with the connection: nothing half-done. */
        c->in_tx = 0;
        code = TD_ETIMEOUT;
    } else if (state) {
        if (!strcmp(state, "23505"))
            code = TD_ECONFLICT; /* unique_violation */
        else if (!strncmp(state, "23", 2))
            code = TD_EINVAL; /* check, foreign key, not null */
        else if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
                 !strncmp(state, "57P", 3) || !strncmp(state, "08", 2) || !strcmp(state, "53300"))
            code = TD_ETIMEOUT; /* serialization, deadlock, lock, shutdown, connection, too many */
        else if (!strcmp(state, "53200"))
            code = TD_ENOMEM;
    }
    char line[400];
    snprintf(line, sizeof(line), "%s", msg);
    line[strcspn(line, "\n")] = 0;
    return td_err_set(err, code, "database: %s (in: %.120s)", line, sql);
}

/* Reconnects a connection the server has closed. Called only outside a transaction. */
static void revive(struct pg_conn *c)
{
    if (PQstatus(c->pq) == CONNECTION_OK) {
        /* A server that shut down or restarted has sent its goodbye: the socket is readable
         * while we expect nothing. */
        struct pollfd p = {.fd = PQsocket(c->pq), .events = POLLIN};
        if (p.fd >= 0 && poll(&p, 1, 0) > 0) {
            PQconsumeInput(c->pq);
            PGresult *res;
            while ((res = PQgetResult(c->pq)))
                PQclear(res);
        }
    }
    if (PQstatus(c->pq) != CONNECTION_OK) {
        PQreset(c->pq);
        /* The prepared statements went with the old session. */
        for (int i = 0; i < STMT_CACHE; i++) {
            td_free(c->cache[i].sql);
            c->cache[i].sql = NULL;
        }
        c->in_tx = 0;
    }
}

static int pg_connect(const char *target, td_db_conn **out, td_err *err)
{
    struct pg_conn *c = td_calloc(1, sizeof(*c));
    PGresult *res;
    if (!c)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    c->ops = &td__db_pg_ops;
    c->target = td_strdup(target);
    {
        /* Defaults that a URL's own parameters override: a server that does not answer is an
         * error after 10 s, not a hung request, and a dead peer is noticed in about a
         * minute. */
        const char *keys[] = {"connect_timeout",
                              "keepalives_idle",
                              "keepalives_interval",
                              "keepalives_count",
                              "application_name",
                              "dbname",
                              NULL};
        const char *vals[] = {"10", "30", "10", "3", "trackday-hub", target, NULL};
        c->pq = PQconnectdbParams(keys, vals, 1);
    }
    if (!c->target || !c->pq || PQstatus(c->pq) != CONNECTION_OK) {
        char line[400];
        snprintf(line, sizeof(line), "%s", c->pq ? PQerrorMessage(c->pq) : "out of memory");
        line[strcspn(line, "\n")] = 0;
        td_err_set(err, TD_EIO, "PostgreSQL: cannot connect: %s", line);
        PQfinish(c->pq);
        td_free(c->target);
        td_free(c);
        return TD_EIO;
    }
    PQsetNoticeProcessor(c->pq, quiet_notices, NULL);
    /* Times are integers and text is UTF-8 everywhere; a stuck lock is an error, not a hang. */
    res = PQexec(c->pq, "SET client_encoding = 'UTF8'; SET lock_timeout = '10s'; "
                        "SET statement_timeout = '60s'; SET idle_in_transaction_session_timeout "
                        "= '120s'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        int rc = pg_error(c, res, "SET", err);
        PQclear(res);
        PQfinish(c->pq);
        td_free(c->target);
        td_free(c);
        return rc;
    }
    PQclear(res);
    *out = (td_db_conn *)c;
    return 0;
}

static void pg_disconnect(td_db_conn *conn)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    for (int i = 0; i < STMT_CACHE; i++)
        td_free(c->cache[i].sql);
    PQfinish(c->pq);
    td_free(c->target);
    td_free(c);
}

/* Rewrites `?` to $1, $2... outside quoted strings and identifiers. *n counts them. */
static char *rewrite(const char *sql, int *n)
{
    size_t len = strlen(sql), cap = len + 1, o = 0;
    char *out;
    char quote = 0;
    *n = 0;
    for (const char *p = sql; *p; p++)
        if (*p == '?')
            cap += 3; /* "$NN" is at most 3 bytes longer than "?" below MAX_PARAMS */
    out = td_malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            out[o++] = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            out[o++] = *p;
        } else if (*p == '?') {
            o += (size_t)snprintf(out + o, cap - o, "$%d", ++*n);
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
    return out;
}

/* The name of sql's prepared statement on this connection, preparing it if needed. */
static int prepare(struct pg_conn *c, const char *sql, const Oid *types, int n, const char **name,
                   td_err *err)
{
    uint64_t h = td_fnv1a64(sql, strlen(sql));
    pg_stmt *s;
    PGresult *res;
    char *pgsql;
    int np;
    for (int i = 0; i < STMT_CACHE; i++) {
        s = &c->cache[i];
        if (s->sql && s->hash == h && !strcmp(s->sql, sql)) {
            *name = s->name;
            return 0;
        }
    }
    pgsql = rewrite(sql, &np);
    if (!pgsql)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    if (np != n) {
        td_free(pgsql);
        return td_err_set(err, TD_EINTERNAL,
                          "database: %d parameters for %d placeholders in %.120s", n, np, sql);
    }
    s = &c->cache[c->next_slot];
    c->next_slot = (c->next_slot + 1) % STMT_CACHE;
    if (s->sql) {
        char dealloc[48];
        snprintf(dealloc, sizeof(dealloc), "DEALLOCATE %s", s->name);
        PQclear(PQexec(c->pq, dealloc));
        td_free(s->sql);
        s->sql = NULL;
    }
    snprintf(s->name, sizeof(s->name), "s%u", c->next_name++);
    res = PQprepare(c->pq, s->name, pgsql, n, types);
    td_free(pgsql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        int rc = pg_error(c, res, sql, err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    s->sql = td_strdup(sql);
    if (!s->sql)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    s->hash = h;
    *name = s->name;
    return 0;
}

static int pg_query(td_db_conn *conn, td_db_rows **rows, const char *sql, const char *types,
                    va_list ap, td_err *err)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    Oid oids[MAX_PARAMS];
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS], formats[MAX_PARAMS];
    char ints[MAX_PARAMS][32];
    const char *name = NULL;
    struct pg_rows *r;
    PGresult *res;
    int n = 0, rc;
    ExecStatusType st;

    *rows = NULL;
    for (const char *t = types; *t; t++, n++) {
        if (n == MAX_PARAMS)
            return td_err_set(err, TD_EINTERNAL, "database: more than %d parameters", MAX_PARAMS);
        lengths[n] = 0;
        formats[n] = 0;
        switch (*t) {
        case 'i':
            oids[n] = OID_INT8;
            snprintf(ints[n], sizeof(ints[n]), "%lld", (long long)va_arg(ap, int64_t));
            values[n] = ints[n];
            break;
        case 'd':
            oids[n] = OID_FLOAT8;
            snprintf(ints[n], sizeof(ints[n]), "%.17g", va_arg(ap, double));
            values[n] = ints[n];
            break;
        case 't':
            oids[n] = OID_TEXT;
            values[n] = va_arg(ap, const char *);
            break;
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t len = va_arg(ap, size_t);
            if (len > 0x7fffffff)
                return td_err_set(err, TD_ELIMIT, "database: blob of %zu bytes", len);
            oids[n] = OID_BYTEA;
            values[n] = p ? p : "";
            lengths[n] = (int)len;
            formats[n] = 1;
            break;
        }
        case 'n':
            oids[n] = 0;
            values[n] = NULL;
            break;
        default:
            return td_err_set(err, TD_EINVAL, "database: bad parameter type '%c'", *t);
        }
    }
    if (!c->in_tx)
        revive(c);
    rc = prepare(c, sql, oids, n, &name, err);
    if (rc)
        return rc;
    res = PQexecPrepared(c->pq, name, n, values, lengths, formats, 0);
    st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        rc = pg_error(c, res, sql, err);
        PQclear(res);
        return rc;
    }
    {
        const char *ct = PQcmdTuples(res);
        c->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
    }
    r = td_calloc(1, sizeof(*r));
    if (!r) {
        PQclear(res);
        return td_err_set(err, TD_ENOMEM, "out of memory");
    }
    r->ops = &td__db_pg_ops;
    r->res = res;
    r->row = -1;
    r->nrows = PQntuples(res);
    *rows = (td_db_rows *)r;
    return 0;
}

static int pg_next(td_db_rows *rows, td_err *err)
{
    struct pg_rows *r = (struct pg_rows *)rows;
    (void)err;
    if (r->row + 1 >= r->nrows) {
        r->row = r->nrows;
        return 0;
    }
    r->row++;
    return 1;
}

static int pg_is_null(td_db_rows *rows, int col)
{
    struct pg_rows *r = (struct pg_rows *)rows;
    return PQgetisnull(r->res, r->row, col);
}

static int64_t pg_int(td_db_rows *rows, int col)
{
    struct pg_rows *r = (struct pg_rows *)rows;
    const char *v = PQgetvalue(r->res, r->row, col);
    if (!v || !*v)
        return 0;
    /* Booleans come back as t/f; sums of bigints as numeric. */
    if (v[0] == 't' && !v[1])
        return 1;
    if (v[0] == 'f' && !v[1])
        return 0;
    return strtoll(v, NULL, 10);
}

static double pg_real(td_db_rows *rows, int col)
{
    struct pg_rows *r = (struct pg_rows *)rows;
    const char *v = PQgetvalue(r->res, r->row, col);
    return v && *v ? strtod(v, NULL) : 0.0;
}

static const char *pg_text(td_db_rows *rows, int col)
{
    struct pg_rows *r = (struct pg_rows *)rows;
    if (PQgetisnull(r->res, r->row, col))
        return NULL;
    return PQgetvalue(r->res, r->row, col);
}

static void pg_rows_free(td_db_rows *rows)
{
    struct pg_rows *r = (struct pg_rows *)rows;
    PQclear(r->res);
    td_free(r);
}

static int64_t pg_changes(td_db_conn *conn)
{
    return ((struct pg_conn *)conn)->changes;
}

/* Runs a statement without parameters; keeps c->in_tx as it is. */
static int simple(struct pg_conn *c, const char *sql, td_err *err)
{
    PGresult *res = PQexec(c->pq, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_error(c, res, sql, err);
    PQclear(res);
    return rc;
}

static int pg_begin(td_db_conn *conn, int write, td_err *err)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    int rc;
    if (!c->in_tx)
        revive(c);
    rc = simple(c, "BEGIN", err);
    if (rc == TD_ETIMEOUT && PQstatus(c->pq) == CONNECTION_BAD) {
        /* BEGIN changes nothing: on a connection that died since, try once more. */
        revive(c);
        rc = simple(c, "BEGIN", err);
    }
    if (rc)
        return rc;
    c->in_tx = 1;
    if (write == 1) {
        rc = simple(c, "SELECT pg_advisory_xact_lock(" WRITE_LOCK_KEY ")", err);
        if (rc) {
            if (PQstatus(c->pq) == CONNECTION_OK)
                simple(c, "ROLLBACK", NULL);
            c->in_tx = 0;
        }
    }
    return rc;
}

static int pg_commit(td_db_conn *conn, td_err *err)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    PGresult *res = PQexec(c->pq, "COMMIT");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = pg_error(c, res, "COMMIT", err);
    } else {
        /* COMMIT of a transaction that had failed answers ROLLBACK. */
        const char *tag = PQcmdStatus(res);
        if (tag && !strcmp(tag, "ROLLBACK"))
            rc = td_err_set(err, TD_EIO, "database: the transaction failed and was rolled back");
    }
    PQclear(res);
    c->in_tx = 0;
    return rc;
}

static void pg_rollback(td_db_conn *conn)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    if (PQstatus(c->pq) == CONNECTION_OK && PQtransactionStatus(c->pq) != PQTRANS_IDLE)
        simple(c, "ROLLBACK", NULL);
    c->in_tx = 0;
}

const td__db_ops td__db_pg_ops = {
    .name = "postgresql",
    .dialect = TD_DB_POSTGRES,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .query = pg_query,
    .next = pg_next,
    .is_null = pg_is_null,
    .col_int = pg_int,
    .col_real = pg_real,
    .col_text = pg_text,
    .rows_free = pg_rows_free,
    .changes = pg_changes,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
};
