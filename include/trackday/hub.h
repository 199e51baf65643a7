/*
 * hub.h - the trackday hub: `trackday serve` (an HTTP/1.1 JSON API under /api/v1 on
 * libmicrohttpd, storage behind one interface with SQLite in WAL mode by default, files kept
 * content-addressed by SHA-256) and the administration a shell on the hub machine does
 * (`trackday admin`). Part of the hub layer. See docs/api.md and docs/cli/serve.md.
 */
#ifndef TRACKDAY_HUB_H
#define TRACKDAY_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct td_hub td_hub;

typedef struct td_hub_options {
    const char *data_dir;        /* DIR: hub.db, blobs/, tmp/ (created) */
    const char *db;              /* NULL: DIR/hub.db (SQLite); or a postgresql:// URL, and then
                                    DIR (blobs/, tmp/) is shared by every hub process */
    const char *listen;          /* "127.0.0.1:8080" (host:port; port 0 picks a free one) */
    const char *web_dir;         /* static files served at / (NULL: none) */
    const char *tracks_dir;      /* the shipped tracks (tracks/NAME.json) jobs may name */
    const char *shared_tracks;   /* DeepRacer routes (NAME.npy), or NULL */
    const char *clock_file;      /* tests: the time is read from this file (Unix seconds) */
    int lease_s;                 /* a claimed job's lease, renewed by heartbeats (60) */
    int session_hours;           /* session token lifetime (168 = 7 days) */
    int max_attempts;            /* tries of a job whose worker is lost (3) */
    size_t max_json_bytes;       /* JSON request bodies (1 MiB) */
    uint64_t max_upload_bytes;   /* uploaded archives (1 GiB) */
    uint64_t max_model_bytes;    /* a model version's files, uncompressed (2 GiB) */
    int max_model_files;         /* files in one model version (2000) */
    int login_max_failures;      /* failed logins per user name and per address... (10) */
    int login_window_s;          /* ...in this window before 429 (900) */
    int fast_passwords;          /* argon2id at libsodium's minimum cost: tests only */
    int max_connections;         /* concurrent HTTP connections (1000) */
    int db_pool;                 /* database connections (16) */
    int secure_cookies;          /* mark session cookies Secure (behind HTTPS) */
    const char *trusted_proxies; /* "ADDR[,ADDR...]": reverse proxies whose X-Forwarded-For
                                    names the client (per-address limits), or NULL */
    const char *program;         /* trackday, run in the sandbox to check reward functions
                                    (NULL: the reward routes answer 503) */
} td_hub_options;

void td_hub_options_default(td_hub_options *o);

/*
 * Opens the hub's data directory: creates it, opens the database and applies the schema
 * migrations, clears leftovers of an interrupted upload from DIR/tmp. Does not listen.
 * Free with td_hub_close. On error *out is NULL and err says why.
 */
int td_hub_open(td_hub **out, const td_hub_options *o, td_err *err);

/* Starts serving HTTP on o->listen (loopback unless told otherwise). */
int td_hub_listen(td_hub *h, td_err *err);

/* The port listened on (after td_hub_listen), e.g. the one picked for port 0. */
int td_hub_port(const td_hub *h);

/*
 * Graceful stop: stops accepting connections, ends event streams, lets requests in flight
 * finish for up to grace_s seconds, then stops the server. The database stays open until
 * td_hub_close.
 */
void td_hub_shutdown(td_hub *h, double grace_s);

/* Stops serving if still running and releases everything. NULL is fine. */
void td_hub_close(td_hub *h);

/* The schema version the database is at, and the newest this program knows. */
int td_hub_schema_version(td_hub *h, int *current, int *latest, td_err *err);

/* ---- Administration (`trackday admin`) ---------------------------------------------------- */

/*
 * Creates an account. role is "admin", "instructor" or "learner"; name is a user name
 * ([a-z0-9._-], 2-32 characters, starting with a letter or digit); password at least 8
 * characters. TD_ECONFLICT if the name is taken.
 */
int td_hub_create_user(td_hub *h, const char *name, const char *role, const char *password,
                       const char *email, int64_t *id, td_err *err);

/* Sets a user's password (and ends their sessions). */
int td_hub_set_password(td_hub *h, const char *name, const char *password, td_err *err);

/*
 * Registers a worker machine and writes its token (shown once, stored hashed) into token
 * (at least 80 bytes). TD_ECONFLICT if the name is taken.
 */
int td_hub_create_worker(td_hub *h, const char *name, char *token, size_t cap, td_err *err);

/*
 * Installs the content a hub ships with (docs/leagues.md, "Shipped content"), owned by the
 * instructor or admin `owner`: three open leagues and three assignments for class class_id
 * (0: a "Starter class" of owner's, made if missing). Adds only what is missing; say (may be
 * NULL) gets one line per thing, created or already there.
 */
int td_hub_seed_content(td_hub *h, const char *owner, long long class_id,
                        void (*say)(void *user, const char *line), void *user, td_err *err);

/*
 * Deletes files nothing refers to any more (unused for an hour: uploads in progress keep
 * theirs). purge_deleted first forgets the versions of deleted models for good.
 * freed_bytes and freed_blobs may be NULL.
 */
int td_hub_gc(td_hub *h, int purge_deleted, uint64_t *freed_bytes, int *freed_blobs, td_err *err);

/* What a collection deleted, or would delete (a dry run). */
typedef struct td_hub_gc_result {
    long long blobs, filesets, versions_purged;
    unsigned long long bytes;
    long long kept_recent; /* unreferenced files newer than the cutoff, kept */
    long long rescued;     /* files found in use again at the last check, kept */
} td_hub_gc_result;

/*
 * The collection with its settings (POST /api/v1/admin/gc): dry_run counts and changes nothing;
 * only what has not changed for older_than_s seconds goes; never a file stored while it runs
 * or by an upload in progress.
 */
int td_hub_collect(td_hub *h, int dry_run, int purge_deleted, long long older_than_s,
                   td_hub_gc_result *out, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_HUB_H */
