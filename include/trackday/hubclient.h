/*
 * hubclient.h - talking to a trackday hub over HTTP (libcurl): the client the CLI's login,
 * push, pull, jobs and train --hub use, and `trackday worker`, which claims jobs, runs them in
 * a sandboxed child process and reports back. Part of the hub layer.
 */
#ifndef TRACKDAY_HUBCLIENT_H
#define TRACKDAY_HUBCLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The HTTP client ------------------------------------------------------------------------ */

typedef struct td_hubc {
    char url[512];   /* "http://127.0.0.1:8080" (no trailing slash) */
    char token[256]; /* sent as Authorization: Bearer */
    char lease[128]; /* sent as X-Trackday-Lease when not empty */
    void *curl;      /* CURL * */
    long status;     /* of the last request (0: none went through) */
    char *body;      /* the last reply (td_free'd by the next request) */
    size_t body_len;
    json_t *json;     /* the last reply parsed, or NULL */
    double timeout_s; /* per request (default 120; 0 = none) */
    double stall_s;   /* a transfer that moves nothing for this long fails (0: none) */
} td_hubc;

/* Prepares a client; url is the hub's address. Free with td_hubc_free. */
int td_hubc_init(td_hubc *c, const char *url, const char *token, td_err *err);
void td_hubc_free(td_hubc *c);

/*
 * One request with a JSON body (or none) and a JSON (or empty) reply. Returns 0 when a reply
 * came (whatever its status: see c->status), or an error when the hub could not be reached
 * (TD_EIO, err says why).
 */
int td_hubc_json(td_hubc *c, const char *method, const char *path, const json_t *body, td_err *err);
/* A request whose body is a file (a .tar.gz). */
int td_hubc_upload(td_hubc *c, const char *method, const char *path, const char *file, td_err *err);
/* A GET whose reply is saved to file (atomically) when the status is 200. */
int td_hubc_download(td_hubc *c, const char *path, const char *file, td_err *err);

/* Server-sent events: on_event gets each event (return non-zero to stop), and, while the
 * stream is quiet, a tick every 200 ms with event "" and data NULL. Ends when the hub closes
 * the stream or on_event says stop. */
typedef int (*td_hubc_event_fn)(void *user, const char *event, const char *data, long id);
int td_hubc_events(td_hubc *c, const char *path, td_hubc_event_fn on_event, void *user,
                   td_err *err);

/* The last reply's error message ("error.message"), or a description of its status. */
const char *td_hubc_error(const td_hubc *c);

/* Packs a model directory as .tar.gz into file (hidden files left out). */
int td_hubc_pack_dir(const char *dir, const char *file, td_err *err);
/* Unpacks a .tar.gz (refusing links, devices, paths leaving dir) into dir. */
int td_hubc_unpack(const char *file, const char *dir, td_err *err);

/* ---- The worker ----------------------------------------------------------------------------- */

typedef void (*td_worker_log_fn)(void *user, const char *line);

typedef struct td_worker_options {
    const char *hub_url;
    const char *token;            /* a worker token (trackday admin create-worker) */
    int slots;                    /* jobs at once (1) */
    const char *work_dir;         /* scratch (created) */
    const char *program;          /* the trackday program jobs run (default: this one) */
    double wait_s;                /* long-poll for a job this long (10) */
    double checkpoint_s;          /* upload a training checkpoint at most this often (30) */
    long max_jobs;                /* stop after this many jobs (0: never) */
    int no_sandbox;               /* run jobs without the sandbox (trusted single-user setups) */
    const char *const *read_only; /* paths jobs read besides the system (the tracks) */
    const volatile sig_atomic_t *stop; /* set by a signal: hand running jobs back and stop */
    td_worker_log_fn log;
    void *log_user;
} td_worker_options;

void td_worker_options_default(td_worker_options *o);

/*
 * Claims and runs jobs until stopped (or max_jobs). Returns 0 when stopped, or an error when
 * the hub refuses the token. Running jobs are handed back to the queue when stopped.
 */
int td_worker_run(const td_worker_options *o, td_err *err);

/* 0 if jobs can be sandboxed on this machine (or no_sandbox), else an error saying why. The
 * sandbox's mode comes from TRACKDAY_SANDBOX (docs/sandbox.md). */
int td_worker_sandbox_check(int no_sandbox, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_HUBCLIENT_H */
