/*
 * hub_internal.h - what the hub's files share: the hub object, a request as handlers see it,
 * the route tables, replies and JSON errors, authentication and argument checking. Each
 * feature (accounts, classes, models, jobs; later leagues, fleet) is one file that exports a
 * route table (td__routes_*) listed in http.c.
 */
#ifndef TD_HUB_INTERNAL_H
#define TD_HUB_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "hub/db.h"
#include "hub/tar.h"
#include "trackday/hub.h"
#include "trackday/sandbox.h"

/* ------------------------------------------------------------------------------------ */
/* The hub                                                                              */
/* ------------------------------------------------------------------------------------ */

struct td_hub {
    td_hub_options opt;
    char data_dir[1024];
    char listen_host[256];
    int listen_port;
    td_db *db;
    void *mhd; /* struct MHD_Daemon */
    volatile int stopping;
    int port;
    /* In-process wake-ups for event streams and claim waits. Every process also polls the
     * database, so several hub processes behind one address see each other's changes. */
    pthread_mutex_t notify_mu;
    pthread_cond_t notify_cv;
    uint64_t notify_seq;
    /* argon2id needs 64 MiB a hash: at most this many at once. */
    pthread_mutex_t pw_mu;
    pthread_cond_t pw_cv;
    int pw_running;
    /* The reaper: expired leases back to the queue. */
    pthread_t reaper;
    int reaper_started;
    /* Webhook deliveries of alerts (alerts.c). */
    pthread_t webhooks;
    int webhooks_started;
    /* Leaderboards this process computed, by league generation (leagues.c). */
    struct td__board_cache *boards;
};

/* The time: the clock file's value in tests, else the wall clock (Unix seconds). */
int64_t td__hub_now(td_hub *h);
/* Wakes every event stream and claim wait of this process. */
void td__hub_notify(td_hub *h);
/* Waits for td__hub_notify or timeout_s; returns at once when the hub is stopping. */
void td__hub_wait(td_hub *h, uint64_t *seen, double timeout_s);

/* ------------------------------------------------------------------------------------ */
/* Requests                                                                             */
/* ------------------------------------------------------------------------------------ */

/* Who is asking. */
enum { TD__WHO_NONE = 0, TD__WHO_USER = 1, TD__WHO_WORKER = 2, TD__WHO_DEVICE = 3 };
enum { TD__ROLE_LEARNER = 1, TD__ROLE_INSTRUCTOR = 2, TD__ROLE_ADMIN = 3 };

typedef struct td__principal {
    int who;
    int64_t id; /* user, worker or device id */
    int role;   /* users */
    char name[64];
    int cookie; /* authenticated by the session cookie (CSRF applies) */
    char token_hash[65];
} td__principal;

/* Who may call a route (bits). */
#define TD__ALLOW_ANON       0x01u
#define TD__ALLOW_LEARNER    0x02u
#define TD__ALLOW_INSTRUCTOR 0x04u
#define TD__ALLOW_ADMIN      0x08u
#define TD__ALLOW_WORKER     0x10u
#define TD__ALLOW_DEVICE     0x20u
#define TD__ALLOW_USERS      (TD__ALLOW_LEARNER | TD__ALLOW_INSTRUCTOR | TD__ALLOW_ADMIN)
#define TD__ALLOW_STAFF      (TD__ALLOW_INSTRUCTOR | TD__ALLOW_ADMIN)

/* What a route's request body is. */
enum { TD__BODY_NONE = 0, TD__BODY_JSON = 1, TD__BODY_UPLOAD = 2, TD__BODY_TEXT = 3 };

typedef struct td__req td__req;
typedef int (*td__handler)(td__req *r);

typedef struct td__route {
    const char *method;
    const char *pattern; /* "/api/v1/models/{id}/versions/{v}" */
    td__handler fn;
    unsigned allow;
    int body;
    const char *summary;
    /* OpenAPI fragments (JSON text): the operation's extra fields, e.g.
     * {"requestBody": ..., "responses": {"201": ...}}; NULL for the defaults. */
    const char *openapi;
} td__route;

#define TD__MAX_PARAMS 4

/* A reply a handler builds; http.c sends it. */
typedef ssize_t (*td__stream_fn)(void *cls, uint64_t pos, char *buf, size_t max);
typedef void (*td__stream_free_fn)(void *cls);

struct td__req {
    td_hub *hub;
    void *conn; /* struct MHD_Connection */
    const td__route *route;
    const char *method;
    char path[1024];
    char *params[TD__MAX_PARAMS];
    int nparams;
    char client_ip[64];
    td__principal who;
    /* The body: JSON or text in memory, or an upload in a temporary file. */
    char *body;
    size_t body_len;
    int upload_fd;
    char upload_path[1200];
    uint64_t upload_len;
    int body_too_large;
    json_t *json;   /* parsed JSON body (td__req_json) */
    td_db_conn *db; /* taken on first use (td__req_db), given back after the reply */
    /* The reply. */
    int status;
    json_t *reply_json;
    char *reply_data;
    size_t reply_len;
    const char *reply_type;
    int reply_fd;
    uint64_t reply_fd_size;
    td__stream_fn stream;
    td__stream_free_fn stream_free;
    void *stream_cls;
    char headers[8][2][256];
    int nheaders;
    int replied;
    int phase; /* the access handler's progress through the request */
};

/* The connection this request may use (held until the reply is sent). */
td_db_conn *td__req_db(td__req *r);
/* A query parameter or a request header (NULL if absent). */
const char *td__req_query(td__req *r, const char *name);
const char *td__req_header(td__req *r, const char *name);
/* Adds a response header. */
void td__req_add_header(td__req *r, const char *name, const char *value);
/* The Location header of a 201 reply, formatted. */
void td__req_location(td__req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Replies: each returns 0 so a handler can `return td__reply_...(r, ...)`. ----------- */

int td__reply_json(td__req *r, int status, json_t *body); /* steals body */
int td__reply_empty(td__req *r, int status);
int td__reply_data(td__req *r, int status, const char *type, char *data, size_t len); /* steals */
int td__reply_fd(td__req *r, int status, const char *type, int fd, uint64_t size);
int td__reply_stream(td__req *r, int status, const char *type, td__stream_fn fn,
                     td__stream_free_fn free_fn, void *cls);
/*
 * A stream of server-sent events (the job events, a league's big screen). A route embeds
 * td__sse as the first member of its own state (allocated with td_calloc), sets hub, fill and
 * free_user, and replies with td__reply_sse. When the client has read everything, fill(s) is
 * called to append new events (td__sse_append) and to set ended after the last one; with
 * nothing new the stream waits for the hub's news (td__hub_wait) a second at a time and sends
 * a keepalive comment after 15 s of silence (it keeps proxies from closing the stream and
 * finds clients that went away). free_user (may be NULL) frees the route's fields; the
 * stream frees the rest.
 */
typedef struct td__sse td__sse;
struct td__sse {
    td_hub *hub;
    void (*fill)(td__sse *s);
    void (*free_user)(td__sse *s);
    char *buf;
    size_t len, pos, cap;
    int ended; /* the last event is in buf */
    double last_sent;
    uint64_t seen;
};
/* Appends n bytes to the events to send. Returns 0, or -1 when out of memory. */
int td__sse_append(td__sse *s, const char *text, size_t n);
/* Replies 200 text/event-stream (asking browsers to retry after 2 s, proxies not to buffer)
 * with the stream; it owns s from here, also on error. */
int td__reply_sse(td__req *r, td__sse *s);
/* {"error": {"code", "message"}} with the status. Returns 1 (the handler's "stop"). */
int td__fail(td__req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A library error: its code decides the status (ENOENT 404, ECONFLICT 409, EINVAL/EFORMAT
 * 400, ELIMIT 413, ETIMEOUT 503, else 500 with the detail only in the log). */
int td__fail_err(td__req *r, int rc, const td_err *err);
/* Ends a route's transaction on c: commits when rc is 0; otherwise, or when the commit
 * fails, rolls back and replies with the error (td__fail_err). Returns 0 once committed,
 * else 1 (the handler's "stop"). */
int td__req_commit(td__req *r, td_db_conn *c, int rc, td_err *err);
/* Adds "details" to the error reply just made (steals). */
void td__fail_details(td__req *r, json_t *details);

/* ---- Arguments ----------------------------------------------------------------------------- */

/* The JSON object body; replies 400 and returns 1 if it is malformed or not an object. */
int td__req_json(td__req *r, json_t **obj);
/* Replies 400 naming the first key of obj not in the comma-separated list. */
int td__only_keys(td__req *r, json_t *obj, const char *allowed);
/* Typed fields: absent gives dflt (or 400 when required); a wrong type or range is 400
 * naming the field. Strings are checked for length and valid UTF-8 (jansson's guarantee). */
int td__arg_str(td__req *r, json_t *o, const char *key, int required, size_t max_len,
                const char **out);
int td__arg_int(td__req *r, json_t *o, const char *key, int required, int64_t lo, int64_t hi,
                int64_t *out);
int td__arg_num(td__req *r, json_t *o, const char *key, int required, double lo, double hi,
                double *out);
int td__arg_bool(td__req *r, json_t *o, const char *key, int *out);
/* Path parameter i as a positive id; replies 404 otherwise. */
int td__param_id(td__req *r, int i, const char *what, int64_t *out);
/* Query parameter as an integer in [lo, hi] (absent: dflt); 400 otherwise. */
int td__query_int(td__req *r, const char *name, int64_t dflt, int64_t lo, int64_t hi, int64_t *out);

/* A user or model name: [A-Za-z0-9._-], 1-max characters, starting with a letter or digit. */
int td__valid_name(const char *s, size_t max);

/* A growing string for replies built without a JSON tree (the hot list routes). On a failed
 * allocation `failed` is set and further appends do nothing. */
typedef struct td__sb {
    char *buf;
    size_t len, cap;
    int failed;
} td__sb;
void td__sb_add(td__sb *b, const char *s, size_t n);
void td__sb_str(td__sb *b, const char *s);      /* raw text */
void td__sb_json_str(td__sb *b, const char *s); /* a JSON string, quoted and escaped; NULL: null */
void td__sb_int(td__sb *b, int64_t v);
void td__sb_time(td__sb *b, int64_t t); /* "2026-12-01T00:00:00Z", or null for 0 */
/* Replies with the builder's text as JSON (takes the buffer). */
int td__reply_sb(td__req *r, int status, td__sb *b);

/* ISO 8601 UTC ("2026-12-01T00:00:00Z") of Unix seconds, as a new JSON string (null for 0
 * when zero_null). */
json_t *td__json_time(int64_t t);
void td__format_time(int64_t t, char *out, size_t cap);

/* ------------------------------------------------------------------------------------ */
/* Authentication (auth.c)                                                              */
/* ------------------------------------------------------------------------------------ */

/* Fills r->who from the Authorization header or the session cookie. Replies 401 (bad or
 * expired token) or 403 (CSRF) and returns 1 when the request must stop. */
int td__authenticate(td__req *r);
/* 1 if the principal may call the route, else replies 401/403 and returns 0. */
int td__authorize(td__req *r);

const char *td__role_name(int role);
int td__role_parse(const char *s); /* 0 if unknown */

/* A new random token "<prefix>_<43 base64url characters>" and its stored hash. */
void td__token_new(const char *prefix, char *token, size_t cap, char hash[65]);
void td__token_hash(const char *token, char hash[65]);
/* argon2id hash of a password (blocks while too many hashes run). */
int td__password_hash(td_hub *h, const char *password, char *out, size_t cap, td_err *err);
int td__password_verify(td_hub *h, const char *hash, const char *password);

/* ---- Accounts (accounts.c) ----------------------------------------------------------- */

/* The columns "id, username, display_name, email, role, disabled, created_at" from
 * first_col on, as a user object. */
json_t *td__user_json(td_db_rows *row, int first_col);
int td__user_name_ok(const char *s);
/* Creates an account (password may be NULL: no password login until one is set). */
int td__user_create(td_hub *h, td_db_conn *c, const char *name, const char *role,
                    const char *password, const char *email, const char *display, int64_t *id,
                    td_err *err);
/* 1 if the caller may see user uid. */
int td__may_see_user(td__req *r, int64_t uid);

/* Rate limits in the database (fixed windows from the first hit): seconds to wait, or 0. */
int64_t td__rate_blocked(td_db_conn *c, const char *key, int max, int window_s, int64_t now);
void td__rate_hit(td_db_conn *c, const char *key, int window_s, int64_t now);
void td__rate_clear(td_db_conn *c, const char *key);

/* ---- Filesets (files.c) ------------------------------------------------------------------ */

typedef struct td__file_entry {
    char path[TD_TAR_PATH_MAX + 16];
    char sha[65];
    uint64_t size;
    int mode;
} td__file_entry;

/* A set of named files whose contents are blobs: a model version, a checkpoint, results. */
typedef struct td__fileset {
    td__file_entry *files; /* sorted by path */
    int count, cap;
    uint64_t bytes;
    char content_sha[65]; /* SHA-256 over the sorted (path, sha256) pairs */
} td__fileset;

/* Stores every file of a .tar.gz as a blob (limits: the hub's max_model_files and
 * max_model_bytes); strip_top drops a single top directory when model_metadata.json is not
 * at the root. Nothing goes into the database. */
int td__fileset_ingest(td_hub *h, const char *archive, int strip_top, td__fileset *fs, td_err *err);
/* Adds one file from disk. */
int td__fileset_add_file(td_hub *h, td__fileset *fs, const char *path, const char *src,
                         td_err *err);
void td__fileset_free(td__fileset *fs);
const td__file_entry *td__fileset_find(const td__fileset *fs, const char *path);
/* Records a fileset (inside the caller's transaction). */
int td__fileset_insert(td_hub *h, td_db_conn *c, const td__fileset *fs, int64_t *id, td_err *err);
int td__fileset_load(td_db_conn *c, int64_t id, td__fileset *fs, td_err *err);
/* Reads one file into memory (td_free), refusing one larger than max. */
int td__fileset_read(td_hub *h, const td__file_entry *e, char **data, size_t *len, size_t max,
                     td_err *err);
/* Copies the files into dir. */
int td__fileset_extract(td_hub *h, const td__fileset *fs, const char *dir, td_err *err);
/* [{"path", "size", "sha256"}...] */
json_t *td__fileset_json(const td__fileset *fs);
/* Replies with a .tar.gz of the files, streamed. */
int td__reply_fileset_tgz(td__req *r, const td__fileset *fs, const char *filename, int64_t mtime);
/* Replies with one stored file. */
int td__reply_blob(td__req *r, const td__file_entry *e, const char *type);

/* ---- Classes and quotas (classes.c, quota.c) --------------------------------------------- */

/* The classes user ? teaches, and the users in them (SQL with one parameter each). */
#define TD__TAUGHT_CLASSES_SQL                                                                     \
    "SELECT t.class_id FROM class_members t JOIN classes tc ON tc.id = t.class_id WHERE "          \
    "t.user_id = ? AND t.role = 'instructor' AND tc.deleted_at IS NULL"
#define TD__TAUGHT_USERS_SQL                                                                       \
    "SELECT tm.user_id FROM class_members tm WHERE tm.class_id IN (" TD__TAUGHT_CLASSES_SQL ")"

/* 1 if the caller (a user) teaches a class uid is in. */
int td__teaches(td__req *r, int64_t uid);
/* 1 if the caller may see what owner_id owns: themself, an admin, or their instructor. */
int td__may_see_owner(td__req *r, int64_t owner_id);
/* The caller's relation to class id: 2 teaches it (or admin), 1 a learner in it, 0 none (or
 * not a user). */
int td__class_relation(td__req *r, int64_t id);

enum {
    TD__QUOTA_IDX_MINUTES = 0,
    TD__QUOTA_IDX_JOBS = 1,
    TD__QUOTA_IDX_MODELS = 2,
    TD__QUOTA_IDX_STORAGE = 3,
    TD__NQUOTA = 4
};
#define TD__QUOTA_MINUTES (1u << TD__QUOTA_IDX_MINUTES)
#define TD__QUOTA_JOBS    (1u << TD__QUOTA_IDX_JOBS)
#define TD__QUOTA_MODELS  (1u << TD__QUOTA_IDX_MODELS)
#define TD__QUOTA_STORAGE (1u << TD__QUOTA_IDX_STORAGE)

/* A user's limits (-1: none) and where each comes from. */
typedef struct td__quota {
    int64_t limit[TD__NQUOTA];
    char source[TD__NQUOTA][140];
} td__quota;

const char *td__quota_key(int i);
int td__quota_of(td_hub *h, td_db_conn *c, int64_t uid, td__quota *q, td_err *err);
int td__quota_default(td_db_conn *c, int64_t q[TD__NQUOTA], td_err *err);
/* What uid uses now (training seconds this month including what queued and running jobs
 * reserve, jobs queued or running, models, storage bytes) and when the month's minutes
 * reset. */
int td__usage_of(td_hub *h, td_db_conn *c, int64_t uid, int64_t used[TD__NQUOTA], int64_t *reset_at,
                 td_err *err);
/* Replies 403 quota_exceeded (naming the quota, use and reset) and returns 1 when adding
 * what `what` asks (one more job or model, extra bytes, extra minutes) goes over a limit. */
int td__quota_check(td__req *r, int64_t uid, unsigned what, uint64_t extra_bytes,
                    double extra_minutes);
/* Adds training seconds to uid's month. */
void td__usage_charge(td_hub *h, td_db_conn *c, int64_t uid, int64_t seconds);
/* {"training_minutes": {"limit", "used", "from"}, ..., "training_minutes_reset_at"} */
json_t *td__quota_json(td_hub *h, td_db_conn *c, int64_t uid, td_err *err);
json_t *td__quota_limits_json(const int64_t q[TD__NQUOTA]);
int td__quota_arg(td__req *r, json_t *o, int64_t q[TD__NQUOTA], int set[TD__NQUOTA]);
/* "YYYY-MM" of Unix time t and the start of the next month. */
void td__month_of(int64_t t, char *out, size_t cap, int64_t *next_month_start);

/* ---- Models (models.c) --------------------------------------------------------------------- */

typedef struct td__model {
    int64_t id, owner_id, latest_version;
    char name[80];
    char owner_name[64];
} td__model;

/* Loads model id if the caller may see it: 1, or 0 having replied 404 (< 0 on error). */
int td__model_get(td__req *r, int64_t id, td__model *m);

/* What the hub reads from a model directory's files. */
typedef struct td__model_meta {
    char algorithm[32], sensor[80], action_space[16], track[128], reward_sha[65];
    char *metrics_json; /* the last line of metrics/training.jsonl, or NULL */
    int64_t iterations;
} td__model_meta;

/* Checks a fileset as a model directory (as `trackday train` reads it). */
int td__model_meta_from_fileset(td_hub *h, const td__fileset *fs, td__model_meta *meta,
                                td_err *err);
void td__model_meta_free(td__model_meta *m);
/* Adds the next version of a model (in the caller's transaction). Zero ids mean none. */
/*
 * A version's files as a submission freezes them (league entries, assignment submissions): its
 * fileset and content hash. 1 found, 0 no such version (nothing set), < 0 an error in err.
 */
int td__model_version_files(td_db_conn *c, int64_t model_id, int64_t version, int64_t *fileset_id,
                            char sha[65], td_err *err);
/*
 * What a submission (a league entry, an assignment's submission) starts from. The model must
 * be the caller's own (403 for another's); *version 0 becomes its latest. Returns 0, or 1
 * having replied.
 */
int td__submission_model(td__req *r, int64_t model_id, int64_t *version);
/* td__model_version_files inside the caller's transaction on c: on 404 (no such version) or an
 * error, rolls back and replies. Returns 0, or 1 having replied. */
int td__submission_files(td__req *r, td_db_conn *c, int64_t model_id, int64_t version,
                         int64_t *fileset_id, char sha[65]);
int td__model_add_version(td_hub *h, td_db_conn *c, int64_t model_id, int64_t fileset_id,
                          const td__fileset *fs, const td__model_meta *meta, const char *source,
                          int64_t created_by, int64_t job_id, int64_t parent_model,
                          int64_t parent_version, int64_t *version, td_err *err);

/* ---- Jobs (jobs.c) -------------------------------------------------------------------------- */

typedef struct td__job {
    int64_t id, owner_id, model_id, model_version, attempts, max_attempts, worker_id;
    int64_t max_seconds, charged_seconds, result_fileset_id, checkpoint_fileset_id;
    int64_t checkpoint_elapsed_s;
    int cancel_requested;
    char type[32], state[16], owner_name[64], lease_id[96];
    json_t *params;
} td__job;

/* A kind of job: how its request is checked and what its output becomes. */
typedef struct td__job_type {
    const char *name;
    /* Checks the request o, fills params (what the worker gets) and the training seconds it
     * may use (0: none); replies 400 and returns 1 when bad. */
    int (*validate)(td__req *r, json_t *o, json_t *params, int64_t *max_seconds);
    /* Stores a successful run's output (in the caller's transaction); summary becomes the
     * job's result; *result_version a new model version, if any. */
    int (*complete)(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                    int64_t *result_version, td_err *err);
} td__job_type;

const td__job_type *td__job_type_find(const char *name);
int td__job_get(td__req *r, int64_t id, td__job *j);
/* Queues the job the request object o describes (POST /api/v1/jobs's body, validated as that
 * route does), with extra's keys added to its parameters (NULL: none); replies 201 with the
 * job. Returns 1 (replied). */
int td__job_submit(td__req *r, json_t *o, json_t *extra);
/* The same, with the new job's id in *id (0 when it replied with an error). */
int td__job_submit_id(td__req *r, json_t *o, json_t *extra, int64_t *id);
void td__job_free(td__job *j);
/* Queues a job in the caller's transaction: its row (state queued, the hub's max_attempts)
 * and its "queued" event. params is borrowed. Returns 0 with *id, or an error with err. */
int td__job_create(td_hub *h, td_db_conn *c, int64_t owner_id, const char *type, int64_t model_id,
                   int64_t version, json_t *params, int64_t max_seconds, int64_t priority,
                   int64_t *id, td_err *err);
/* Appends an event to a job's stream (in the caller's transaction). */
int td__job_event(td_hub *h, td_db_conn *c, int64_t job_id, const char *kind, json_t *data,
                  td_err *err);
/* Returns jobs whose lease expired to the queue (or fails them after max_attempts). */
int td__jobs_reap(td_hub *h, td_db_conn *c, td_err *err);
/* Stores an evaluation's files and report as the job's result (the evaluate job type's
 * complete; league evaluations call it too). */
int td__eval_complete(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                      int64_t *result_version, td_err *err);
/* 1 if the calling worker runs a job of model_id. */
int td__worker_may_read_model(td__req *r, int64_t model_id);
/* A track name jobs may use. */
int td__track_known(td_hub *h, const char *name);

/* ---- Leagues (leagues.c) ------------------------------------------------------------------ */

/* 1 if track name is a hidden track of a league that has not closed and the caller does not
 * run it: the track routes and jobs then answer as if there were no such track. */
int td__track_hidden(td__req *r, const char *name);
/* ... or of an assignment not yet due (assignments.c). */
int td__track_hidden_by_assignment(td__req *r, const char *name);
/* Replies 400 naming the first field of o with the wrong JSON type. spec is "key:t,..." with
 * t one of s (string), i (integer), n (number), b (boolean), a (array), o (object). A handler
 * checks every field's type first, so the message names the field that is wrong. */
int td__check_types(td__req *r, json_t *o, const char *spec);
/* A name people read (a league, a division, an assignment): letters (any UTF-8), digits,
 * spaces and . , _ - : ( ) & + #, 1-max bytes, not starting with '.' or ' ', no "..". */
int td__display_name_ok(const char *s, size_t max);
/* "2026-12-01T00:00:00Z" (or +00:00) to Unix seconds; -1 if malformed. */
int64_t td__parse_time(const char *s);
/* One CSV field: quoted when needed, a leading = + - @ defused for spreadsheets. */
void td__csv_field(td__sb *b, const char *s);
/* What brackets.c needs of a league: loaded as league {param i} for the caller (1, or 0
 * having replied 404). */
typedef struct td__league_brief {
    int64_t id, laps, continuous, off_ms, coll_ms, max_resets, closes_at;
    int manage, hides, ntracks;
    char name[128], tracks[8][104];
    int hidden[8];
} td__league_brief;
int td__league_brief_param(td__req *r, int i, td__league_brief *b);
/* The league's standings as who runs it sees them (every track): up to n best entries of
 * division (NULL: every division) in rank order. */
typedef struct td__seed {
    int64_t user_id, submission;
    char username[64];
} td__seed;
int td__league_seeds(td__req *r, int64_t league_id, const char *division, int n, td__seed *out,
                     int *got, td_err *err);
/* The "race" job type: a knockout match (brackets.c). */
int td__race_job_validate(td__req *r, json_t *o, json_t *params, int64_t *max_seconds);
int td__race_job_complete(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                          int64_t *result_version, td_err *err);
/* Marks standings changed, in the caller's transaction: league id's; the leagues a job
 * evaluates entries of (its result was stored); the leagues with entries of a model. */
int td__league_bump(td_db_conn *c, int64_t league_id, td_err *err);
int td__league_bump_job(td_db_conn *c, int64_t job_id, td_err *err);
int td__league_bump_model(td_db_conn *c, int64_t model_id, td_err *err);
/* The hub's leaderboard cache: made by td_hub_new, freed by td_hub_free. */
struct td__board_cache *td__board_cache_new(void);
void td__board_cache_free(struct td__board_cache *bc);
/* The "league" job type: an official evaluation, made only by a submission. */
int td__league_job_validate(td__req *r, json_t *o, json_t *params, int64_t *max_seconds);
int td__league_job_complete(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                            int64_t *result_version, td_err *err);
/* The "grade" job type: an assignment submission's evaluation and grade (assignments.c). */
int td__grade_job_validate(td__req *r, json_t *o, json_t *params, int64_t *max_seconds);
int td__grade_job_complete(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                           int64_t *result_version, td_err *err);

/* ---- The job sandbox (sandbox.c) ----------------------------------------------------------- */

typedef struct td__limits {
    long cpu_s;            /* CPU seconds (0: none) */
    uint64_t file_bytes;   /* largest file written */
    uint64_t memory_bytes; /* address space (0: none; sanitizer builds need none) */
} td__limits;

typedef struct td__child {
    td_sandbox *sb;
    int out_fd; /* the program's standard output */
} td__child;

/*
 * Starts argv (argv[0] a full path) in the core sandbox with dir (the job's scratch, at the
 * same path inside) writable, the system and read_only (NULL-terminated, may be NULL)
 * readable; stderr goes to log_path, stdout to out->out_fd. mode TD_SANDBOX_NONE runs it
 * unconfined (with the limits). The sandbox dies with the calling thread.
 */
int td__sandbox_spawn(const char *const argv[], const char *dir, const char *log_path,
                      const td__limits *lim, td_sandbox_mode mode, const char *const *read_only,
                      td__child *out, td_err *err);
/* Asks the program to stop (SIGTERM: a trainer checkpoints and exits); 0, or -1 when it had
 * to be killed. */
int td__child_stop(td__child *c);
/* Kills everything in the sandbox. */
void td__child_kill(td__child *c);
/* Waits for the end, closes out_fd and frees the sandbox. */
int td__child_wait(td__child *c, td_sandbox_exit *ex);

/* ---- Fleet (fleet.c) ------------------------------------------------------------------------ */

/* For a route under /api/v1/devices/{id}/...: the id (path parameter 0), refused with 404 when
 * the caller is a device other than that one (or an enrollment token). Admins pass. Replies and
 * returns 1 when the request must stop. */
int td__device_self(td__req *r, int64_t *id);
/* Moves every unfinished deployment on (timers: the canaries' wait, silent devices). */
int td__fleet_tick(td_hub *h, td_db_conn *c, td_err *err);

#define TD__ACTIVE_JOBS_OF_MODEL_SQL                                                               \
    "SELECT COUNT(*) FROM jobs WHERE model_id = ? AND state IN ('queued', 'running')"

/* ---- Telemetry, drift and alerts (telemetry.c, alerts.c) ---------------------------- */

/* A JSON value stored compactly: zlib of its compact text, base64 (td_free); NULL: no memory. */
char *td__pack_json(const json_t *j);
/* Reads td__pack_json's text back (NULL and err when it cannot). */
json_t *td__unpack_json(const char *packed, td_err *err);
/* The reference summary (its "evaluation") of the bundle whose file has SHA-256 sha, cached in
 * drift_references; TD_ENOENT when the hub has no such bundle. */
struct td_summary;
int td__drift_reference(td_hub *h, td_db_conn *c, const char *sha, struct td_summary *ref,
                        td_err *err);
/* Queues the deliveries of an alert's event ("alert.raised", "alert.resolved") to every
 * webhook (in the caller's transaction). */
/* Closing the loop from an alert (pipeline.c, docs/drift.md): the retrain request's "then"
 * and "gates" into *spec (NULL when no "then"; replies 400 and returns 1); whether the
 * alert's pipeline runs (its state in state); its start with the training job; its JSON (null
 * when none); the reaper's tick; the signer's report route. */
int td__pipeline_spec(td__req *r, json_t *o, json_t **spec);
int td__pipeline_busy(td_db_conn *c, int64_t alert, char *state, size_t cap);
int td__pipeline_start(td_hub *h, td_db_conn *c, int64_t alert, json_t *spec, int64_t model,
                       int64_t job, td_err *err);
json_t *td__pipeline_json(td_db_conn *c, int64_t alert);
int td__pipeline_tick(td_hub *h, td_db_conn *c, td_err *err);
int td__pipeline_report(td__req *r);
int td__webhook_queue(td_hub *h, td_db_conn *c, int64_t alert_id, const char *event, td_err *err);
/* HMAC-SHA256 under secret of "<ts>.<body>", as lowercase hex (X-Trackday-Signature). */
void td__webhook_sign(const char *secret, int64_t ts, const char *body, char hex[65]);
/* Sends the deliveries that are due; returns how many were attempted, or an error. */
int td__webhooks_deliver(td_hub *h, td_err *err);
/* The delivery thread (hub.c starts it with the server). */
void *td__webhook_main(void *arg);
/* Routes: devices' telemetry and drift (telemetry.c), alerts and webhooks (alerts.c). */
extern const td__route td__routes_telemetry[], td__routes_alerts[];
extern const char td__telemetry_schemas[], td__alerts_schemas[];

/* ---- Storage use and garbage collection (storage.c) ---------------------------------- */

struct stat;
/* Whether a file of DIR/tmp was left by an ended process (hub.c). */
int td__tmp_is_stale(const char *name, const struct stat *st);

typedef struct td__gc_opts {
    int dry_run;          /* count what would go; change nothing */
    int purge_deleted;    /* also forget the versions of deleted models */
    int64_t older_than_s; /* only blobs and filesets unchanged for this long */
} td__gc_opts;

typedef struct td__gc_report {
    int64_t cutoff;          /* wall-clock seconds: blobs changed before this may go */
    int64_t upload_since;    /* the oldest upload in progress that held the cutoff back (0) */
    int64_t versions_purged; /* (would be) forgotten versions of deleted models */
    int64_t filesets;        /* (would be) deleted fileset rows */
    int64_t blobs;           /* (would be) deleted blobs */
    uint64_t bytes;          /* their size */
    int64_t kept_recent;     /* unreferenced blobs kept as newer than the cutoff */
    int64_t rescued;         /* candidates found in use again at the last check (kept) */
    int nsample;
    char sample[10][65]; /* some of the blobs (that would be) deleted */
} td__gc_report;

/* Deletes (or counts, dry_run) the filesets nothing refers to and the blobs no fileset names.
 * Safe beside uploads, also of other hub processes sharing DIR: a blob stored or renewed after
 * the collection started, or by an upload in progress when it started, is never deleted. */
int td__gc(td_hub *h, const td__gc_opts *o, td__gc_report *rep, td_err *err);
/* Tests: called once a collection has listed what it will delete, before it deletes. */
extern void (*td__gc_test_hook)(td_hub *h, void *arg);
extern void *td__gc_test_hook_arg;
/* What the hub stores: blobs, by kind of owner, by user and model, orphans, the database. */
int td__storage_stats(td_hub *h, json_t **out, td_err *err);
extern const td__route td__routes_storage[];
extern const char td__storage_schemas[];

/* ------------------------------------------------------------------------------------ */
/* Route tables                                                                         */
/* ------------------------------------------------------------------------------------ */

extern const td__route td__routes_core[];     /* health, openapi (http.c) */
extern const td__route td__routes_accounts[]; /* sessions, users, workers (accounts.c) */
extern const td__route td__routes_quota[];    /* quotas (quota.c) */
extern const td__route td__routes_classes[];  /* classes and members (classes.c) */
extern const td__route td__routes_models[];   /* the registry (models.c) */
extern const td__route td__routes_jobs[];     /* jobs, workers' job routes, tracks (jobs.c) */
extern const td__route td__routes_fleet[];    /* devices, bundles, deployments (fleet.c) */
extern const td__route td__routes_leagues[];  /* leagues, submissions, leaderboards (leagues.c) */
extern const td__route td__routes_assignments[]; /* assignments, grades (assignments.c) */
extern const td__route td__routes_brackets[];    /* race day knockout brackets (brackets.c) */
extern const char td__models_schemas[], td__quota_schemas[], td__classes_schemas[],
    td__jobs_schemas[], td__leagues_schemas[], td__assignments_schemas[], td__brackets_schemas[],
    td__fleet_schemas[];
extern const td__route td__routes_reward[]; /* reward check and explain (reward.c) */
extern const char td__reward_schemas[];

/* Every table, NULL-terminated (http.c). */
extern const td__route *const td__route_tables[];

/* The OpenAPI 3.1 document of every route (openapi.c); new reference. */
json_t *td__openapi(td_hub *h);
/* A route's OpenAPI path ("{path*}" becomes "{path}"). */
void td__openapi_path(const char *pattern, char *out, size_t cap);

/* http.c: starts and stops the HTTP server. */
int td__http_start(td_hub *h, td_err *err);
void td__http_quiesce(td_hub *h);
void td__http_stop(td_hub *h);

#endif
