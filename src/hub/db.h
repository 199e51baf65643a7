/*
 * db.h - the hub's storage interface: a pool of connections to one SQL database, queries with
 * bound parameters, transactions and versioned migrations. SQLite (WAL) is the backend built
 * here (db_sqlite.c); PostgreSQL (db_pg.c, libpq) implements the same td__db_ops table.
 *
 * The hub writes its SQL once, in the subset both engines share: `?` placeholders (a backend
 * rewrites them to `$1`... where it must), INSERT ... RETURNING, ON CONFLICT ... DO UPDATE,
 * LIMIT, partial indexes, integers for times (Unix seconds) and booleans. Where the engines
 * differ the hub asks the dialect (td__db_dialect): the job queue's claim adds FOR UPDATE SKIP
 * LOCKED on PostgreSQL, and migrations spell an auto-increment key as @ID@.
 *
 * Threads: a td_db is shared by every thread; a td_db_conn is used by one thread at a time
 * between td__db_acquire and td__db_release.
 */
#ifndef TD_HUB_DB_H
#define TD_HUB_DB_H

#include <stdarg.h>
#include <stdint.h>

#include "trackday/core.h"

typedef struct td_db td_db;
typedef struct td_db_conn td_db_conn;
typedef struct td_db_rows td_db_rows;

typedef enum { TD_DB_SQLITE = 0, TD_DB_POSTGRES = 1 } td_db_dialect;

/*
 * A backend. Parameter types are one character each in `types`: 'i' int64_t, 'd' double,
 * 't' const char * (NULL binds SQL NULL), 'n' SQL NULL (takes no argument), 'b' a blob as
 * (const void *, size_t). Errors come back as TD_E* codes with a message in err:
 * TD_ECONFLICT for a unique or check constraint, TD_ETIMEOUT when the database stayed busy.
 */
typedef struct td__db_ops {
    const char *name;
    td_db_dialect dialect;
    int (*connect)(const char *target, td_db_conn **out, td_err *err);
    void (*disconnect)(td_db_conn *c);
    int (*query)(td_db_conn *c, td_db_rows **rows, const char *sql, const char *types, va_list ap,
                 td_err *err);
    int (*next)(td_db_rows *r, td_err *err); /* 1 row, 0 end, < 0 error */
    int (*is_null)(td_db_rows *r, int col);
    int64_t (*col_int)(td_db_rows *r, int col);
    double (*col_real)(td_db_rows *r, int col);
    const char *(*col_text)(td_db_rows *r, int col); /* NULL for SQL NULL; valid until next */
    void (*rows_free)(td_db_rows *r);
    int64_t (*changes)(td_db_conn *c); /* rows changed by the last statement */
    int (*begin)(td_db_conn *c, int write, td_err *err);
    int (*commit)(td_db_conn *c, td_err *err);
    void (*rollback)(td_db_conn *c);
} td__db_ops;

extern const td__db_ops td__db_sqlite_ops;
#ifdef TD_HAVE_POSTGRES
extern const td__db_ops td__db_pg_ops;
#endif

/* Whether target names a PostgreSQL database (postgresql:// or postgres:// URL). */
int td__db_is_postgres(const char *target);

/*
 * Opens a pool of `size` connections. target is a SQLite file path (created if missing, put
 * in WAL mode) or a postgresql:// URL (libpq's URI syntax; the database must exist). Migrations are
 * not run here (td__db_migrate). Free with td__db_close.
 */
int td__db_open(td_db **out, const char *target, int size, td_err *err);
void td__db_close(td_db *db);
td_db_dialect td__db_dialect(const td_db *db);

/* Takes a connection from the pool, waiting while all are in use; never NULL. */
td_db_conn *td__db_acquire(td_db *db);
/* Gives it back. A transaction left open is rolled back first. */
void td__db_release(td_db *db, td_db_conn *c);

/* Runs a statement that returns no rows (or whose rows are not wanted). */
int td__db_exec(td_db_conn *c, td_err *err, const char *sql, const char *types, ...);
/* Runs a query; iterate with td__db_next and free with td__db_rows_free (also on error). */
int td__db_query(td_db_conn *c, td_db_rows **rows, td_err *err, const char *sql, const char *types,
                 ...);
/* Runs a query expected to give at most one row: 1 and *rows positioned on it, or 0 (none,
 * *rows NULL). */
int td__db_query_row(td_db_conn *c, td_db_rows **rows, td_err *err, const char *sql,
                     const char *types, ...);
int td__db_next(td_db_rows *r, td_err *err);
int td__db_is_null(td_db_rows *r, int col);
int64_t td__db_int(td_db_rows *r, int col);
double td__db_real(td_db_rows *r, int col);
const char *td__db_text(td_db_rows *r, int col);
void td__db_rows_free(td_db_rows *r);
int64_t td__db_changes(td_db_conn *c);

/* Runs an INSERT ... RETURNING id: 0 and *id, or the error (TD_EINTERNAL, err untouched, when
 * no row came back). */
int td__db_insert_id(td_db_conn *c, int64_t *id, td_err *err, const char *sql, const char *types,
                     ...);
/* A single integer from a one-row query, or dflt when there is no row or it is NULL. */
int td__db_int_query(td_db_conn *c, int64_t *out, int64_t dflt, td_err *err, const char *sql,
                     const char *types, ...);

/*
 * Transactions. write = 1 takes the write lock at once (SQLite BEGIN IMMEDIATE; PostgreSQL: a
 * transaction-scoped advisory lock shared by every hub process), so write transactions run one
 * at a time and two writers never deadlock upgrading a read lock. write = TD_DB_TX_ROWS is a
 * write transaction that relies on row locks alone (SELECT ... FOR UPDATE SKIP LOCKED on
 * PostgreSQL; on SQLite the same as 1): the job queue's claim. commit returns an error (and
 * has rolled back) when the database refused.
 *
 * On PostgreSQL a statement that fails inside a transaction aborts the transaction: code must
 * not carry on after an error inside one (SQLite would let it).
 */
#define TD_DB_TX_ROWS 2
int td__db_begin(td_db_conn *c, int write, td_err *err);
int td__db_commit(td_db_conn *c, td_err *err);
void td__db_rollback(td_db_conn *c);

/* ---- Migrations --------------------------------------------------------------------------- */

/* One schema change. sql may hold several statements separated by ";\n" lines and the
 * placeholder @ID@ for an auto-increment integer primary key. */
typedef struct td__db_migration {
    int version;
    const char *name;
    const char *sql;
} td__db_migration;

/* The hub's migrations, in version order (schema.c). */
extern const td__db_migration td__hub_migrations[];
extern const int td__hub_migration_count;

/*
 * Applies the migrations newer than the database's version, each in its own transaction,
 * recording each in schema_migrations. A database newer than this program is an error
 * (TD_EVERSION). *applied (may be NULL) counts the migrations run.
 */
int td__db_migrate(td_db *db, const td__db_migration *migs, int count, int *applied, td_err *err);

/* The database's schema version (0 for an empty database). */
int td__db_schema_version(td_db *db, int *version, td_err *err);

#endif
