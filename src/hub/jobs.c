/*
 * jobs.c - training and evaluation jobs: a queue table with leases. A worker claims the
 * oldest queued job (a transaction on SQLite, SELECT ... FOR UPDATE SKIP LOCKED on
 * PostgreSQL), renews its lease with heartbeats that carry progress events, uploads
 * checkpoints and finally the results. A job whose lease runs out goes back to the queue (to
 * resume from its last checkpoint) until it has been tried max_attempts times. Progress is
 * kept in job_events so an event stream (server-sent events) can be served by any hub
 * process. The job types (train, evaluate; leagues add theirs) are a table.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub/hub_internal.h"
#include "trackday/drift.h"

#define JOB_COLS                                                                                   \
    "j.id, j.owner_id, u.username, j.type, j.model_id, j.model_version, j.params, j.state, "       \
    "j.attempts, j.max_attempts, j.cancel_requested, j.created_at, j.started_at, j.finished_at, "  \
    "j.error, j.result_version, j.result, j.progress, j.checkpoint_at, j.max_seconds, "            \
    "j.charged_seconds, j.priority, w.name, j.result_fileset_id, j.checkpoint_fileset_id, "        \
    "j.lease_id, j.worker_id, j.checkpoint_elapsed_s"
#define JOB_FROM                                                                                   \
    "FROM jobs j JOIN users u ON u.id = j.owner_id LEFT JOIN workers w ON w.id = j.worker_id"

/* ------------------------------------------------------------------------------------ */
/* Loading                                                                              */
/* ------------------------------------------------------------------------------------ */

static void job_from_row(td_db_rows *row, td__job *j)
{
    memset(j, 0, sizeof(*j));
    j->id = td__db_int(row, 0);
    j->owner_id = td__db_int(row, 1);
    snprintf(j->owner_name, sizeof(j->owner_name), "%s", td__db_text(row, 2));
    snprintf(j->type, sizeof(j->type), "%s", td__db_text(row, 3));
    j->model_id = td__db_int(row, 4);
    j->model_version = td__db_int(row, 5);
    snprintf(j->state, sizeof(j->state), "%s", td__db_text(row, 7));
    j->attempts = td__db_int(row, 8);
    j->max_attempts = td__db_int(row, 9);
    j->cancel_requested = (int)td__db_int(row, 10);
    j->max_seconds = td__db_int(row, 19);
    j->charged_seconds = td__db_int(row, 20);
    j->result_fileset_id = td__db_is_null(row, 23) ? 0 : td__db_int(row, 23);
    j->checkpoint_fileset_id = td__db_is_null(row, 24) ? 0 : td__db_int(row, 24);
    if (!td__db_is_null(row, 25))
        snprintf(j->lease_id, sizeof(j->lease_id), "%s", td__db_text(row, 25));
    j->worker_id = td__db_is_null(row, 26) ? 0 : td__db_int(row, 26);
    j->checkpoint_elapsed_s = td__db_int(row, 27);
    j->params = json_loads(td__db_text(row, 6), 0, NULL);
    if (!j->params)
        j->params = json_object();
}

void td__job_free(td__job *j)
{
    if (j->params)
        json_decref(j->params);
    j->params = NULL;
}

static json_t *json_or_null(td_db_rows *row, int col)
{
    json_t *v = td__db_is_null(row, col) ? NULL : json_loads(td__db_text(row, col), 0, NULL);
    return v ? v : json_null();
}

static json_t *job_json(td__req *r, td_db_rows *row)
{
    int64_t owner = td__db_int(row, 1);
    json_t *o = json_pack(
        "{s:I,s:s,s:s,s:{s:I,s:s},s:{s:I,s:I},s:o,s:I,s:I,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,"
        "s:f,s:f,s:I}",
        "id", (json_int_t)td__db_int(row, 0), "type", td__db_text(row, 3), "state",
        td__db_text(row, 7), "owner", "id", (json_int_t)owner, "username", td__db_text(row, 2),
        "model", "id", (json_int_t)td__db_int(row, 4), "version", (json_int_t)td__db_int(row, 5),
        "params", json_or_null(row, 6), "attempts", (json_int_t)td__db_int(row, 8), "max_attempts",
        (json_int_t)td__db_int(row, 9), "cancel_requested", (int)td__db_int(row, 10), "created_at",
        td__json_time(td__db_int(row, 11)), "started_at",
        td__json_time(td__db_is_null(row, 12) ? 0 : td__db_int(row, 12)), "finished_at",
        td__json_time(td__db_is_null(row, 13) ? 0 : td__db_int(row, 13)), "error",
        td__db_is_null(row, 14) ? json_null() : json_string(td__db_text(row, 14)), "result_version",
        td__db_is_null(row, 15) ? json_null() : json_integer(td__db_int(row, 15)), "result",
        json_or_null(row, 16), "progress", json_or_null(row, 17), "checkpoint_at",
        td__json_time(td__db_is_null(row, 18) ? 0 : td__db_int(row, 18)), "max_minutes",
        (double)td__db_int(row, 19) / 60.0, "used_minutes", (double)td__db_int(row, 20) / 60.0,
        "priority", (json_int_t)td__db_int(row, 21));
    /* Which machine ran it is for the hub's staff. */
    if (r && r->who.who == TD__WHO_USER && r->who.role != TD__ROLE_LEARNER)
        json_object_set_new(
            o, "worker", td__db_is_null(row, 22) ? json_null() : json_string(td__db_text(row, 22)));
    return o;
}

/* Loads job id if the caller may see it (a user: theirs, taught, or admin; a worker: holds
 * its lease). Returns 1, or 0 having replied 404 (or an error). */
int td__job_get(td__req *r, int64_t id, td__job *j)
{
    td_db_rows *row;
    td_err err = {0};
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT " JOB_COLS " " JOB_FROM " WHERE j.id = ?", "i", id);
    if (rc < 0)
        return td__fail_err(r, rc, &err), 0;
    if (rc > 0) {
        job_from_row(row, j);
        td__db_rows_free(row);
        /* A worker sees the jobs it runs or ran (to hear "lease lost", not "no such job"). */
        int64_t ran = 0;
        if (r->who.who == TD__WHO_WORKER && j->worker_id != r->who.id)
            td__db_int_query(td__req_db(r), &ran, 0, NULL,
                             "SELECT COUNT(*) FROM job_runs WHERE job_id = ? AND worker_id = ?",
                             "ii", id, r->who.id);
        /* An official league evaluation is the league's: its learner sees it through the
         * league's routes (which withhold hidden tracks), not as a job. */
        int official = (!strcmp(j->type, "league") || !strcmp(j->type, "grade")) &&
                       r->who.who == TD__WHO_USER && r->who.role == TD__ROLE_LEARNER;
        if ((!official && td__may_see_owner(r, j->owner_id)) ||
            (r->who.who == TD__WHO_WORKER && (j->worker_id == r->who.id || ran)))
            return 1;
        td__job_free(j);
    }
    td__fail(r, 404, "not_found", "no job %lld", (long long)id);
    return 0;
}

static int reply_job(td__req *r, int status, int64_t id)
{
    td_db_rows *row;
    td_err err = {0};
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT " JOB_COLS " " JOB_FROM " WHERE j.id = ?", "i", id);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_ENOENT, &err);
    json_t *o = job_json(r, row);
    td__db_rows_free(row);
    return td__reply_json(r, status, o);
}

/* ------------------------------------------------------------------------------------ */
/* Events                                                                               */
/* ------------------------------------------------------------------------------------ */

int td__job_event(td_hub *h, td_db_conn *c, int64_t job_id, const char *kind, json_t *data,
                  td_err *err)
{
    int64_t seq = 0;
    char *text = json_dumps(data, JSON_COMPACT);
    int rc;
    if (!text)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    /* The row lock of the job orders its events, on either engine. */
    rc = td__db_int_query(c, &seq, 0, err,
                          "UPDATE jobs SET event_seq = event_seq + 1 WHERE id = ? RETURNING "
                          "event_seq",
                          "i", job_id);
    if (!rc)
        rc = td__db_exec(c, err,
                         "INSERT INTO job_events (job_id, seq, created_at, kind, data) VALUES (?, "
                         "?, ?, ?, ?)",
                         "iiitt", job_id, seq, td__hub_now(h), kind, text);
    free(text);
    return rc;
}

static int state_event(td_hub *h, td_db_conn *c, int64_t job_id, const char *state, const char *why,
                       td_err *err)
{
    json_t *d = json_pack("{s:s}", "state", state);
    if (why)
        json_object_set_new(d, "message", json_string(why));
    int rc = td__job_event(h, c, job_id, "state", d, err);
    json_decref(d);
    return rc;
}

int td__job_create(td_hub *h, td_db_conn *c, int64_t owner_id, const char *type, int64_t model_id,
                   int64_t version, json_t *params, int64_t max_seconds, int64_t priority,
                   int64_t *id, td_err *err)
{
    td_db_rows *row;
    char *text = params ? json_dumps(params, JSON_COMPACT) : NULL;
    if (!text)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    int rc = td__db_query_row(c, &row, err,
                              "INSERT INTO jobs (owner_id, type, model_id, model_version, params, "
                              "max_seconds, state, priority, max_attempts, created_at) VALUES (?, "
                              "?, ?, ?, ?, ?, 'queued', ?, ?, ?) RETURNING id",
                              "itiitiiii", owner_id, type, model_id, version, text, max_seconds,
                              priority, (int64_t)h->opt.max_attempts, td__hub_now(h));
    free(text);
    if (rc == 0)
        return td_err_set(err, TD_EINTERNAL, "the job's row was not returned");
    if (rc < 0)
        return rc;
    *id = td__db_int(row, 0);
    td__db_rows_free(row);
    return state_event(h, c, *id, "queued", NULL, err);
}

/* ------------------------------------------------------------------------------------ */
/* Job types                                                                            */
/* ------------------------------------------------------------------------------------ */

/* A track name the hub knows: a shipped track or a DeepRacer route. */
int td__track_known(td_hub *h, const char *name)
{
    char path[1400];
    if (!td__valid_name(name, 100))
        return 0;
    if (h->opt.tracks_dir) {
        snprintf(path, sizeof(path), "%s/%s.json", h->opt.tracks_dir, name);
        if (td_path_exists(path))
            return 1;
    }
    if (h->opt.shared_tracks) {
        snprintf(path, sizeof(path), "%s/%s.npy", h->opt.shared_tracks, name);
        if (td_path_exists(path))
            return 1;
    }
    return !h->opt.tracks_dir && !h->opt.shared_tracks;
}

static int check_track(td__req *r, json_t *o, json_t *params)
{
    const char *track = NULL;
    if (td__arg_str(r, o, "track", 0, 100, &track))
        return 1;
    if (!track)
        return 0;
    if (!strcmp(track, "default"))
        track = "kidney";
    if (!td__track_known(r->hub, track) || td__track_hidden(r, track))
        return td__fail(r, 400, "bad_request",
                        "no track named '%.100s' (GET /api/v1/tracks lists them)", track);
    json_object_set_new(params, "track", json_string(track));
    return 0;
}

static int train_validate(td__req *r, json_t *o, json_t *params, int64_t *max_seconds)
{
    double minutes = 0;
    int64_t seed = -1, envs = 0, iterations = 0, laps = 0;
    json_t *dr = json_object_get(o, "domain_randomization");
    if (td__only_keys(r, o,
                      "type,model,version,priority,minutes,track,seed,envs,iterations,"
                      "until_laps,domain_randomization") ||
        td__arg_num(r, o, "minutes", 1, 0.05, 1440, &minutes) || check_track(r, o, params) ||
        td__arg_int(r, o, "seed", 0, 0, 0x7fffffff, &seed) ||
        td__arg_int(r, o, "envs", 0, 1, 256, &envs) ||
        td__arg_int(r, o, "iterations", 0, 1, 100000000, &iterations) ||
        td__arg_int(r, o, "until_laps", 0, 1, 100, &laps))
        return 1;
    if (dr) {
        /* The ranges the job widens the version's training_params.yaml to (docs/drift.md). */
        td_dr_ranges ranges;
        td_err err = {0};
        if (td_dr_ranges_from_json(&ranges, dr, &err))
            return td__fail(r, 400, "bad_request", "%s", err.msg);
        json_object_set_new(params, "domain_randomization", td_dr_ranges_to_json(&ranges));
    }
    json_object_set_new(params, "minutes", json_real(minutes));
    if (seed >= 0)
        json_object_set_new(params, "seed", json_integer(seed));
    if (envs)
        json_object_set_new(params, "envs", json_integer(envs));
    if (iterations)
        json_object_set_new(params, "iterations", json_integer(iterations));
    if (laps)
        json_object_set_new(params, "until_laps", json_integer(laps));
    *max_seconds = (int64_t)(minutes * 60 + 0.5);
    return 0;
}

/* A training run's output directory becomes the model's next version. */
static int train_complete(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                          int64_t *result_version, td_err *err)
{
    td__model_meta meta;
    int64_t fsid = 0;
    int rc = td__model_meta_from_fileset(r->hub, fs, &meta, err);
    (void)summary;
    if (rc)
        return rc;
    const char *track = json_string_value(json_object_get(j->params, "track"));
    if (track)
        snprintf(meta.track, sizeof(meta.track), "%s", track);
    rc = td__fileset_insert(r->hub, c, fs, &fsid, err);
    if (!rc)
        rc = td__model_add_version(r->hub, c, j->model_id, fsid, fs, &meta, "train", j->owner_id,
                                   j->id, j->model_id, j->model_version, result_version, err);
    td__model_meta_free(&meta);
    return rc;
}

static int eval_validate(td__req *r, json_t *o, json_t *params, int64_t *max_seconds)
{
    int64_t laps = 3, seed = -1, resets = -1;
    int continuous = 0;
    const char *race = NULL;
    if (td__only_keys(r, o,
                      "type,model,version,priority,track,laps,continuous,seed,race_type,"
                      "max_resets") ||
        check_track(r, o, params) || td__arg_int(r, o, "laps", 0, 1, 100, &laps) ||
        td__arg_bool(r, o, "continuous", &continuous) ||
        td__arg_int(r, o, "seed", 0, 0, 0x7fffffff, &seed) ||
        td__arg_int(r, o, "max_resets", 0, 0, 1000, &resets) ||
        td__arg_str(r, o, "race_type", 0, 32, &race))
        return 1;
    if (race && strcmp(race, "time-trial") && strcmp(race, "object-avoidance") &&
        strcmp(race, "head-to-bot"))
        return td__fail(r, 400, "bad_request",
                        "race_type '%.32s': use time-trial, object-avoidance or head-to-bot", race);
    json_object_set_new(params, "laps", json_integer(laps));
    if (continuous)
        json_object_set_new(params, "continuous", json_true());
    if (seed >= 0)
        json_object_set_new(params, "seed", json_integer(seed));
    if (resets >= 0)
        json_object_set_new(params, "max_resets", json_integer(resets));
    if (race)
        json_object_set_new(params, "race_type", json_string(race));
    *max_seconds = 0; /* evaluation is not training time */
    return 0;
}

/* An evaluation's report, simtrace and picture are kept with the job. */
int td__eval_complete(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                      int64_t *result_version, td_err *err)
{
    int64_t fsid = 0;
    char *text;
    int rc;
    (void)result_version;
    /* The report is the job's result: read it from the uploaded files. */
    for (int i = 0; i < fs->count; i++) {
        const char *p = fs->files[i].path;
        size_t n = strlen(p);
        if (n > 5 && !strcmp(p + n - 5, ".json") && !strncmp(p, "eval-", 5)) {
            char *data;
            size_t len;
            if (td__fileset_read(r->hub, &fs->files[i], &data, &len, 4 << 20, NULL) == 0) {
                json_t *rep = json_loadb(data, len, 0, NULL);
                td_free(data);
                if (json_is_object(rep)) {
                    json_object_update(summary, rep);
                }
                json_decref(rep);
            }
            break;
        }
    }
    rc = td__fileset_insert(r->hub, c, fs, &fsid, err);
    if (rc)
        return rc;
    text = json_dumps(summary, JSON_COMPACT);
    rc = td__db_exec(c, err, "UPDATE jobs SET result_fileset_id = ?, result = ? WHERE id = ?",
                     "iti", fsid, text, j->id);
    free(text);
    return rc;
}

static const td__job_type job_types[] = {
    {"train", train_validate, train_complete},
    {"evaluate", eval_validate, td__eval_complete},
    {"league", td__league_job_validate, td__league_job_complete},
    {"grade", td__grade_job_validate, td__grade_job_complete},
    {"race", td__race_job_validate, td__race_job_complete},
    {NULL, NULL, NULL},
};

const td__job_type *td__job_type_find(const char *name)
{
    for (int i = 0; name && job_types[i].name; i++)
        if (!strcmp(job_types[i].name, name))
            return &job_types[i];
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Leases                                                                               */
/* ------------------------------------------------------------------------------------ */

/* Ends an attempt in job_runs. */
static void end_run(td_db_conn *c, int64_t job_id, int64_t attempt, int64_t now,
                    const char *outcome, const char *reason)
{
    td__db_exec(c, NULL,
                "UPDATE job_runs SET ended_at = ?, outcome = ?, reason = ? WHERE job_id = ? AND "
                "attempt = ? AND ended_at IS NULL",
                "ittii", now, outcome, reason, job_id, attempt);
}

int td__jobs_reap(td_hub *h, td_db_conn *c, td_err *err)
{
    int64_t now = td__hub_now(h);
    td_db_rows *rows;
    int64_t ids[64], attempts[64], maxes[64], cancel[64];
    int n = 0, rc;
    char names[64][64];
    /* Jobs whose lease ran out: their worker died, hung or lost the network. */
    rc = td__db_query(c, &rows, err,
                      "SELECT j.id, j.attempts, j.max_attempts, j.cancel_requested, w.name FROM "
                      "jobs j LEFT JOIN workers w ON w.id = j.worker_id WHERE j.state = "
                      "'running' AND j.lease_expires_at < ? ORDER BY j.id LIMIT 64",
                      "i", now);
    if (rc)
        return rc;
    while (n < 64 && (rc = td__db_next(rows, err)) > 0) {
        ids[n] = td__db_int(rows, 0);
        attempts[n] = td__db_int(rows, 1);
        maxes[n] = td__db_int(rows, 2);
        cancel[n] = td__db_int(rows, 3);
        snprintf(names[n], sizeof(names[n]), "%s",
                 td__db_is_null(rows, 4) ? "?" : td__db_text(rows, 4));
        n++;
    }
    td__db_rows_free(rows);
    if (rc < 0 || n == 0)
        return rc < 0 ? rc : 0;
    rc = td__db_begin(c, 1, err);
    for (int i = 0; i < n && !rc; i++) {
        char why[300];
        const char *state;
        if (cancel[i]) {
            state = "canceled";
            snprintf(why, sizeof(why), "canceled (worker %s stopped answering)", names[i]);
        } else if (attempts[i] >= maxes[i]) {
            state = "failed";
            snprintf(why, sizeof(why),
                     "the worker was lost %lld times (the last was %s, whose lease expired): "
                     "giving up",
                     (long long)attempts[i], names[i]);
        } else {
            state = "queued";
            snprintf(why, sizeof(why),
                     "worker %s stopped answering (lease expired): back in the queue, to resume "
                     "from the last checkpoint (attempt %lld of %lld done)",
                     names[i], (long long)attempts[i], (long long)maxes[i]);
        }
        /* Only if nothing renewed the lease meanwhile. */
        rc = td__db_exec(c, err,
                         "UPDATE jobs SET state = ?, worker_id = NULL, lease_id = NULL, "
                         "lease_expires_at = NULL, finished_at = CASE WHEN ? = 'queued' THEN "
                         "NULL ELSE ? END, error = CASE WHEN ? = 'failed' THEN ? ELSE error END "
                         "WHERE id = ? AND state = 'running' AND lease_expires_at < ?",
                         "ttittii", state, state, now, state, why, ids[i], now);
        if (rc || td__db_changes(c) == 0)
            continue;
        end_run(c, ids[i], attempts[i], now, "lost", why);
        rc = state_event(h, c, ids[i], state, why, err);
        TD_INFO("hub: job %lld: %s", (long long)ids[i], why);
    }
    if (!rc)
        rc = td__db_commit(c, err);
    else
        td__db_rollback(c);
    if (!rc)
        td__hub_notify(h);
    return rc;
}

/* Checks the worker's lease on job j (X-Trackday-Lease). Replies 409 lease_lost when the job
 * is no longer theirs (another worker took it over, it was canceled or finished). */
static int lease_ok(td__req *r, const td__job *j)
{
    const char *lease = td__req_header(r, "X-Trackday-Lease");
    if (r->who.who != TD__WHO_WORKER)
        return td__fail(r, 403, "forbidden", "only the worker running a job may report on it"), 0;
    if (!lease || strcmp(j->state, "running") || !j->lease_id[0] || strcmp(lease, j->lease_id) ||
        j->worker_id != r->who.id) {
        td__fail(r, 409, "lease_lost",
                 "job %lld is not leased to this worker any more (state %s): stop working on it",
                 (long long)j->id, j->state);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* Routes for users                                                                     */
/* ------------------------------------------------------------------------------------ */

static int post_job(td__req *r)
{
    json_t *o;
    if (td__req_json(r, &o))
        return 1;
    return td__job_submit(r, o, NULL);
}

int td__job_submit(td__req *r, json_t *o, json_t *extra)
{
    int64_t id;
    return td__job_submit_id(r, o, extra, &id);
}

int td__job_submit_id(td__req *r, json_t *o, json_t *extra, int64_t *job_id)
{
    json_t *params;
    const char *type = NULL;
    const td__job_type *jt;
    int64_t model_id = 0, version = 0, max_seconds = 0, priority = 0, id = 0;
    td__model m;
    td_db_conn *c;
    td_err err = {0};
    int rc;
    *job_id = 0;
    if (td__arg_str(r, o, "type", 1, 32, &type) ||
        td__arg_int(r, o, "model", 1, 1, INT64_MAX, &model_id) ||
        td__arg_int(r, o, "version", 0, 1, INT64_MAX, &version) ||
        td__arg_int(r, o, "priority", 0, -100, 100, &priority))
        return 1;
    jt = td__job_type_find(type);
    if (!jt)
        return td__fail(r, 400, "bad_request", "job type '%.32s': use train or evaluate", type);
    if (priority > 0 && r->who.role == TD__ROLE_LEARNER)
        return td__fail(r, 403, "forbidden", "only staff may raise a job's priority");
    if (td__model_get(r, model_id, &m) <= 0)
        return 1;
    if (m.owner_id != r->who.id && r->who.role != TD__ROLE_ADMIN)
        return td__fail(r, 403, "forbidden", "model %lld belongs to %s: clone it to train it",
                        (long long)model_id, m.owner_name);
    if (!version)
        version = m.latest_version;
    else if (version > m.latest_version)
        return td__fail(r, 404, "not_found", "model %lld has no version %lld", (long long)model_id,
                        (long long)version);
    params = json_object();
    if (jt->validate(r, o, params, &max_seconds)) {
        json_decref(params);
        return 1;
    }
    if (extra)
        json_object_update(params, extra);
    c = td__req_db(r);
    /* The quota check and the insert are one transaction, so two submissions at once cannot
     * both take the last minutes. */
    rc = td__db_begin(c, 1, &err);
    if (rc) {
        json_decref(params);
        return td__fail_err(r, rc, &err);
    }
    if (td__quota_check(r, m.owner_id, TD__QUOTA_JOBS | (max_seconds ? TD__QUOTA_MINUTES : 0u), 0,
                        (double)max_seconds / 60.0)) {
        td__db_rollback(c);
        json_decref(params);
        return 1;
    }
    rc = td__job_create(r->hub, c, m.owner_id, type, model_id, version, params, max_seconds,
                        priority, &id, &err);
    json_decref(params);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    *job_id = id;
    td__req_location(r, "/api/v1/jobs/%lld", (long long)id);
    return reply_job(r, 201, id);
}

static int list_jobs(td__req *r)
{
    int64_t limit, after, owner = 0, model = 0;
    const char *state = td__req_query(r, "state");
    td_db_rows *rows;
    td_err err = {0};
    json_t *arr;
    int rc;
    if (td__query_int(r, "limit", 50, 1, 500, &limit) ||
        td__query_int(r, "after", 0, 0, INT64_MAX, &after) ||
        td__query_int(r, "owner", 0, 0, INT64_MAX, &owner) ||
        td__query_int(r, "model", 0, 0, INT64_MAX, &model))
        return 1;
    if (state && strcmp(state, "queued") && strcmp(state, "running") &&
        strcmp(state, "succeeded") && strcmp(state, "failed") && strcmp(state, "canceled") &&
        strcmp(state, "active"))
        return td__fail(r, 400, "bad_request",
                        "state '%.20s': queued, running, active, succeeded, failed or canceled",
                        state);
    if (owner && !td__may_see_owner(r, owner))
        return td__fail(r, 404, "not_found", "no user %lld", (long long)owner);
    if (!owner && r->who.role == TD__ROLE_LEARNER)
        owner = r->who.id;
    /* 0: every state, 1: the one named, 2: queued or running. */
    int64_t mode = !state ? 0 : !strcmp(state, "active") ? 2 : 1;
    /* Newest first: ?after= pages backwards by id. */
    rc = td__db_query(
        td__req_db(r), &rows, &err,
        "SELECT " JOB_COLS " " JOB_FROM " WHERE (? = 0 OR j.id < ?) AND (? = 0 OR j.owner_id = ?) "
        "AND (? = 0 OR j.model_id = ?) AND (? = 0 OR (? = 1 AND j.state = ?) OR (? = 2 AND "
        "j.state IN ('queued', 'running'))) AND (? = 3 OR ? = 0 OR j.owner_id = ? OR j.owner_id "
        "IN (" TD__TAUGHT_USERS_SQL
        ")) AND (? <> 1 OR j.type NOT IN ('league', 'grade')) ORDER BY j.id DESC "
        "LIMIT ?",
        "iiiiiiiitiiiiiii", after, after, owner, owner, model, model, mode, mode,
        state ? state : "", mode, (int64_t)r->who.role, owner, r->who.id, r->who.id,
        (int64_t)r->who.role, limit + 1);
    if (rc)
        return td__fail_err(r, rc, &err);
    arr = json_array();
    int64_t n = 0, last = 0;
    int more = 0;
    while ((rc = td__db_next(rows, &err)) > 0) {
        if (n == limit) {
            more = 1;
            break;
        }
        json_array_append_new(arr, job_json(r, rows));
        last = td__db_int(rows, 0);
        n++;
    }
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(
        r, 200,
        json_pack("{s:o,s:o}", "jobs", arr, "next_after", more ? json_integer(last) : json_null()));
}

static int get_job(td__req *r)
{
    td__job j;
    int64_t id;
    if (td__param_id(r, 0, "job", &id) || !td__job_get(r, id, &j))
        return 1;
    td__job_free(&j);
    return reply_job(r, 200, id);
}

static int post_cancel(td__req *r)
{
    td__job j;
    int64_t id, now = td__hub_now(r->hub);
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (td__param_id(r, 0, "job", &id) || !td__job_get(r, id, &j))
        return 1;
    if (j.owner_id != r->who.id && r->who.role == TD__ROLE_LEARNER) {
        td__job_free(&j);
        return td__fail(r, 403, "forbidden", "only the job's owner or staff may cancel it");
    }
    td__job_free(&j);
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    /* A queued job ends at once; a running one when its worker hears of it (next heartbeat),
     * keeping what it has trained as a version. */
    rc = td__db_exec(c, &err,
                     "UPDATE jobs SET state = 'canceled', finished_at = ? WHERE id = ? AND state "
                     "= 'queued'",
                     "ii", now, id);
    if (!rc && td__db_changes(c)) {
        rc = state_event(r->hub, c, id, "canceled", "canceled before it started", &err);
    } else if (!rc) {
        rc = td__db_exec(c, &err,
                         "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = "
                         "'running'",
                         "i", id);
        if (!rc && !td__db_changes(c)) {
            td__db_rollback(c);
            td_db_rows *row;
            char state[16] = "";
            if (td__db_query_row(c, &row, NULL, "SELECT state FROM jobs WHERE id = ?", "i", id) >
                0) {
                snprintf(state, sizeof(state), "%s", td__db_text(row, 0));
                td__db_rows_free(row);
            }
            return td__fail(r, 409, "conflict", "job %lld has already ended (%s)", (long long)id,
                            state);
        }
        if (!rc) {
            json_t *d = json_pack("{s:s}", "message", "cancel requested");
            rc = td__job_event(r->hub, c, id, "cancel", d, &err);
            json_decref(d);
        }
    }
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    return reply_job(r, 202, id);
}

static int get_result(td__req *r)
{
    td__job j;
    td__fileset fs;
    td_err err = {0};
    int64_t id;
    char name[64];
    int rc;
    if (td__param_id(r, 0, "job", &id) || !td__job_get(r, id, &j))
        return 1;
    int64_t fsid = j.result_fileset_id;
    td__job_free(&j);
    if (!fsid)
        return td__fail(r, 404, "not_found",
                        "job %lld has no result files (a training job's result is a model "
                        "version)",
                        (long long)id);
    rc = td__fileset_load(td__req_db(r), fsid, &fs, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    snprintf(name, sizeof(name), "job-%lld-result.tar.gz", (long long)id);
    rc = td__reply_fileset_tgz(r, &fs, name, 0);
    td__fileset_free(&fs);
    return rc;
}

/* ---- Server-sent events ------------------------------------------------------------------ */

typedef struct {
    td__sse sse; /* first: the stream holds a td__sse */
    int64_t job_id;
    int64_t after;
} sse_state;

/* Reads new events into the buffer; sets ended when the job is over and all were read. The
 * job's state is read first: a state change and its event commit together, so once the state
 * says the job is over, the events read after it include the last one (read the other way
 * round, PostgreSQL's per-statement snapshots could end the stream before its last event). */
static void sse_fill(td__sse *base)
{
    sse_state *s = (sse_state *)base;
    td_db_conn *c = td__db_acquire(base->hub->db);
    td_db_rows *rows, *row;
    json_t *end = NULL;
    int got = 0;
    if (td__db_query_row(c, &row, NULL,
                         "SELECT state, result_version, error FROM jobs WHERE id = ?", "i",
                         s->job_id) > 0) {
        const char *state = td__db_text(row, 0);
        if (strcmp(state, "queued") && strcmp(state, "running"))
            end = json_pack(
                "{s:s,s:o,s:o}", "state", state, "result_version",
                td__db_is_null(row, 1) ? json_null() : json_integer(td__db_int(row, 1)), "error",
                td__db_is_null(row, 2) ? json_null() : json_string(td__db_text(row, 2)));
        td__db_rows_free(row);
    }
    if (td__db_query(c, &rows, NULL,
                     "SELECT seq, kind, data FROM job_events WHERE job_id = ? AND seq > ? ORDER BY "
                     "seq LIMIT 200",
                     "ii", s->job_id, s->after) == 0) {
        while (td__db_next(rows, NULL) > 0) {
            char head[96];
            int n = snprintf(head, sizeof(head),
                             "id: %lld\nevent: %s\ndata: ", (long long)td__db_int(rows, 0),
                             td__db_text(rows, 1));
            td__sse_append(base, head, (size_t)n);
            td__sse_append(base, td__db_text(rows, 2), strlen(td__db_text(rows, 2)));
            td__sse_append(base, "\n\n", 2);
            s->after = td__db_int(rows, 0);
            got++;
        }
    }
    td__db_rows_free(rows);
    if (!got && end) {
        char *text = json_dumps(end, JSON_COMPACT);
        td__sse_append(base, "event: end\ndata: ", 17);
        td__sse_append(base, text, strlen(text));
        td__sse_append(base, "\n\n", 2);
        free(text);
        base->ended = 1;
    }
    json_decref(end);
    td__db_release(base->hub->db, c);
}

static int get_events(td__req *r)
{
    td__job j;
    int64_t id, after = 0;
    const char *last = td__req_header(r, "Last-Event-ID");
    sse_state *s;
    if (td__param_id(r, 0, "job", &id) || !td__job_get(r, id, &j))
        return 1;
    td__job_free(&j);
    if (td__query_int(r, "after", 0, 0, INT64_MAX, &after))
        return 1;
    /* A reconnecting browser says where it was. */
    if (last)
        after = strtoll(last, NULL, 10);
    s = td_calloc(1, sizeof(*s));
    if (!s)
        return td__fail(r, 500, "internal", "out of memory");
    s->sse.hub = r->hub;
    s->sse.fill = sse_fill;
    s->job_id = id;
    s->after = after;
    return td__reply_sse(r, &s->sse);
}

/* ------------------------------------------------------------------------------------ */
/* Routes for workers                                                                   */
/* ------------------------------------------------------------------------------------ */

static int post_claim(td__req *r)
{
    json_t *o = NULL, *types;
    int64_t wait_s = 0, now;
    const char *t[8] = {"train", "evaluate", "league", "grade", "race", "", "", ""};
    td_db_conn *c;
    td_err err = {0};
    uint64_t seen = 0;
    double deadline;
    int rc;
    if (r->body_len) {
        if (td__req_json(r, &o) || td__only_keys(r, o, "types,wait") ||
            td__arg_int(r, o, "wait", 0, 0, 30, &wait_s))
            return 1;
        types = json_object_get(o, "types");
        if (types) {
            if (!json_is_array(types) || json_array_size(types) < 1 || json_array_size(types) > 8)
                return td__fail(r, 400, "bad_request", "'types' must list 1 to 8 job types");
            for (size_t i = 0; i < 8; i++) {
                json_t *v = json_array_get(types, i);
                t[i] = v && json_is_string(v) ? json_string_value(v) : "";
            }
        }
    }
    deadline = td_time_now() + (double)wait_s;
    for (;;) {
        int64_t id = 0;
        td_db_rows *row;
        char lease[96], lease_hash[65];
        c = td__req_db(r);
        rc = td__jobs_reap(r->hub, c, &err);
        if (rc)
            return td__fail_err(r, rc, &err);
        now = td__hub_now(r->hub);
        /* Only the claimed row is locked (not every writer, as begin(c, 1) would on
         * PostgreSQL): claims from many workers run side by side. */
        rc = td__db_begin(c, TD_DB_TX_ROWS, &err);
        if (rc)
            return td__fail_err(r, rc, &err);
        /* The oldest queued job of a type this worker runs. On PostgreSQL the row is locked
         * and others skip it, so concurrent claims never wait for each other. */
        rc = td__db_query_row(c, &row, &err,
                              td__db_dialect(r->hub->db) == TD_DB_POSTGRES
                                  ? "SELECT id FROM jobs WHERE state = 'queued' AND type IN (?, ?, "
                                    "?, ?, ?, ?, ?, ?) ORDER BY priority DESC, id LIMIT 1 FOR "
                                    "UPDATE SKIP LOCKED"
                                  : "SELECT id FROM jobs WHERE state = 'queued' AND type IN (?, ?, "
                                    "?, ?, ?, ?, ?, ?) ORDER BY priority DESC, id LIMIT 1",
                              "tttttttt", t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
        if (rc > 0) {
            id = td__db_int(row, 0);
            td__db_rows_free(row);
            td__token_new("lease", lease, sizeof(lease), lease_hash);
            rc = td__db_exec(c, &err,
                             "UPDATE jobs SET state = 'running', worker_id = ?, lease_id = ?, "
                             "lease_expires_at = ?, attempts = attempts + 1, started_at = "
                             "COALESCE(started_at, ?) WHERE id = ? AND state = 'queued'",
                             "itiii", r->who.id, lease, now + r->hub->opt.lease_s, now, id);
            if (!rc)
                rc = td__db_exec(c, &err,
                                 "INSERT INTO job_runs (job_id, attempt, worker_id, started_at) "
                                 "SELECT id, attempts, ?, ? FROM jobs WHERE id = ?",
                                 "iii", r->who.id, now, id);
            if (!rc) {
                char msg[128];
                snprintf(msg, sizeof(msg), "running on worker %s", r->who.name);
                rc = state_event(r->hub, c, id, "running", msg, &err);
            }
        }
        if (rc < 0) {
            td__db_rollback(c);
            return td__fail_err(r, rc, &err);
        }
        rc = td__db_commit(c, &err);
        if (rc)
            return td__fail_err(r, rc, &err);
        if (id) {
            td__job j;
            td_db_rows *jr;
            rc = td__db_query_row(c, &jr, &err, "SELECT " JOB_COLS " " JOB_FROM " WHERE j.id = ?",
                                  "i", id);
            if (rc <= 0)
                return td__fail_err(r, rc ? rc : TD_EINTERNAL, &err);
            json_t *reply = job_json(r, jr);
            job_from_row(jr, &j);
            td__db_rows_free(jr);
            json_object_set_new(reply, "lease_id", json_string(j.lease_id));
            json_object_set_new(reply, "lease_s", json_integer(r->hub->opt.lease_s));
            json_object_set_new(reply, "resume", json_boolean(j.checkpoint_fileset_id != 0));
            json_object_set_new(reply, "resume_elapsed_s", json_integer(j.checkpoint_elapsed_s));
            td__job_free(&j);
            td__hub_notify(r->hub);
            return td__reply_json(r, 200, reply);
        }
        if (td_time_now() >= deadline || r->hub->stopping)
            return td__reply_empty(r, 204);
        /* Long poll: give the connection back while waiting for a job. */
        td__db_release(r->hub->db, r->db);
        r->db = NULL;
        double left = deadline - td_time_now();
        td__hub_wait(r->hub, &seen, left < 1.0 ? left : 1.0);
    }
}

static int load_leased(td__req *r, td__job *j)
{
    int64_t id;
    if (td__param_id(r, 0, "job", &id) || !td__job_get(r, id, j))
        return 0;
    if (!lease_ok(r, j)) {
        td__job_free(j);
        return 0;
    }
    return 1;
}

/* Charges the owner for training time up to elapsed_s (the trainer's total across resumes),
 * at most the job's limit plus a minute. */
static void charge(td__req *r, td_db_conn *c, const td__job *j, int64_t elapsed_s)
{
    int64_t cap = j->max_seconds + 60;
    if (strcmp(j->type, "train"))
        return;
    if (elapsed_s > cap)
        elapsed_s = cap;
    if (elapsed_s <= j->charged_seconds)
        return;
    td__usage_charge(r->hub, c, j->owner_id, elapsed_s - j->charged_seconds);
    td__db_exec(c, NULL, "UPDATE jobs SET charged_seconds = ? WHERE id = ?", "ii", elapsed_s,
                j->id);
}

static int post_heartbeat(td__req *r)
{
    td__job j;
    json_t *o, *events = NULL;
    int64_t elapsed = -1;
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (!load_leased(r, &j))
        return 1;
    if (td__req_json(r, &o) || td__only_keys(r, o, "elapsed_s,events") ||
        td__arg_int(r, o, "elapsed_s", 0, 0, 100000000, &elapsed)) {
        td__job_free(&j);
        return 1;
    }
    events = json_object_get(o, "events");
    if (events && (!json_is_array(events) || json_array_size(events) > 1000)) {
        td__job_free(&j);
        return td__fail(r, 400, "bad_request", "'events' must be an array of at most 1000");
    }
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__db_exec(c, &err,
                         "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_id = ? AND "
                         "state = 'running'",
                         "iit", td__hub_now(r->hub) + r->hub->opt.lease_s, j.id, j.lease_id);
    if (!rc && td__db_changes(c) == 0) {
        td__db_rollback(c);
        td__job_free(&j);
        return td__fail(r, 409, "lease_lost", "job %lld is not leased to this worker any more",
                        (long long)j.id);
    }
    if (!rc && elapsed >= 0)
        charge(r, c, &j, elapsed);
    size_t i;
    json_t *ev, *lastp = NULL;
    if (events)
        json_array_foreach(events, i, ev)
        {
            if (rc || !json_is_object(ev))
                continue;
            rc = td__job_event(r->hub, c, j.id, "progress", ev, &err);
            lastp = ev;
        }
    if (!rc && lastp) {
        char *text = json_dumps(lastp, JSON_COMPACT);
        rc = td__db_exec(c, &err, "UPDATE jobs SET progress = ? WHERE id = ?", "ti", text, j.id);
        free(text);
    }
    int64_t cancel = 0;
    if (!rc)
        rc = td__db_int_query(c, &cancel, 0, &err, "SELECT cancel_requested FROM jobs WHERE id = ?",
                              "i", j.id);
    td__job_free(&j);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    if (events && json_array_size(events))
        td__hub_notify(r->hub);
    return td__reply_json(
        r, 200, json_pack("{s:b,s:i}", "cancel", (int)cancel, "lease_s", r->hub->opt.lease_s));
}

static int put_checkpoint(td__req *r)
{
    td__job j;
    td__fileset fs;
    td_db_conn *c;
    td_err err = {0};
    int64_t fsid = 0, elapsed = 0;
    int rc;
    if (!load_leased(r, &j))
        return 1;
    if (td__query_int(r, "elapsed_s", 0, 0, 100000000, &elapsed)) {
        td__job_free(&j);
        return 1;
    }
    rc = td__fileset_ingest(r->hub, r->upload_path, 0, &fs, &err);
    if (rc) {
        td__job_free(&j);
        return td__fail_err(r, rc == TD_EIO ? TD_EFORMAT : rc, &err);
    }
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__fileset_insert(r->hub, c, &fs, &fsid, &err);
    if (!rc)
        rc = td__db_exec(c, &err,
                         "UPDATE jobs SET checkpoint_fileset_id = ?, checkpoint_at = ?, "
                         "checkpoint_elapsed_s = ?, lease_expires_at = ? WHERE id = ? AND "
                         "lease_id = ? AND state = 'running'",
                         "iiiiit", fsid, td__hub_now(r->hub), elapsed,
                         td__hub_now(r->hub) + r->hub->opt.lease_s, j.id, j.lease_id);
    if (!rc && td__db_changes(c) == 0) {
        td__db_rollback(c);
        td__fileset_free(&fs);
        td__job_free(&j);
        return td__fail(r, 409, "lease_lost", "job %lld is not leased to this worker any more",
                        (long long)j.id);
    }
    if (!rc)
        charge(r, c, &j, elapsed);
    if (!rc) {
        json_t *d =
            json_pack("{s:I,s:I}", "elapsed_s", (json_int_t)elapsed, "bytes", (json_int_t)fs.bytes);
        rc = td__job_event(r->hub, c, j.id, "checkpoint", d, &err);
        json_decref(d);
    }
    td__fileset_free(&fs);
    td__job_free(&j);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    return td__reply_empty(r, 204);
}

static int get_checkpoint(td__req *r)
{
    td__job j;
    td__fileset fs;
    td_err err = {0};
    int64_t id;
    char name[64];
    int rc;
    if (td__param_id(r, 0, "job", &id) || !td__job_get(r, id, &j))
        return 1;
    int64_t fsid = j.checkpoint_fileset_id;
    td__job_free(&j);
    if (!fsid)
        return td__fail(r, 404, "not_found", "job %lld has no checkpoint yet", (long long)id);
    rc = td__fileset_load(td__req_db(r), fsid, &fs, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    snprintf(name, sizeof(name), "job-%lld-checkpoint.tar.gz", (long long)id);
    rc = td__reply_fileset_tgz(r, &fs, name, 0);
    td__fileset_free(&fs);
    return rc;
}

static int post_complete(td__req *r)
{
    td__job j;
    td__fileset fs;
    const td__job_type *jt;
    const char *status = td__req_query(r, "status");
    td_db_conn *c;
    td_err err = {0};
    int64_t elapsed = 0, version = 0, now = td__hub_now(r->hub);
    int rc;
    if (!load_leased(r, &j))
        return 1;
    if (!status)
        status = "succeeded";
    if (strcmp(status, "succeeded") && strcmp(status, "canceled")) {
        td__job_free(&j);
        return td__fail(r, 400, "bad_request", "status '%.20s': succeeded or canceled", status);
    }
    if (td__query_int(r, "elapsed_s", 0, 0, 100000000, &elapsed)) {
        td__job_free(&j);
        return 1;
    }
    jt = td__job_type_find(j.type);
    if (!jt || !r->upload_len) {
        td__job_free(&j);
        return td__fail(r, 400, "bad_request", "the body must be the job's output as .tar.gz");
    }
    rc = td__fileset_ingest(r->hub, r->upload_path, 0, &fs, &err);
    if (rc) {
        td__job_free(&j);
        return td__fail_err(r, rc == TD_EIO ? TD_EFORMAT : rc, &err);
    }
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    /* The lease again, inside the transaction: a job completes once. */
    int64_t mine = 0;
    if (!rc)
        rc = td__db_int_query(c, &mine, 0, &err,
                              "SELECT COUNT(*) FROM jobs WHERE id = ? AND lease_id = ? AND state "
                              "= 'running'",
                              "it", j.id, j.lease_id);
    if (!rc && !mine) {
        td__db_rollback(c);
        td__fileset_free(&fs);
        td__job_free(&j);
        return td__fail(r, 409, "lease_lost", "job %lld is not leased to this worker any more",
                        (long long)j.id);
    }
    json_t *summary = json_object();
    if (!rc)
        charge(r, c, &j, elapsed);
    if (!rc)
        rc = jt->complete(r, c, &j, &fs, summary, &version, &err);
    if (!rc) {
        char *text = json_dumps(summary, JSON_COMPACT);
        rc = td__db_exec(c, &err,
                         "UPDATE jobs SET state = ?, finished_at = ?, worker_id = NULL, lease_id "
                         "= NULL, lease_expires_at = NULL, result_version = NULLIF(?, 0), "
                         "result = COALESCE(result, ?) WHERE id = ?",
                         "tiiti", status, now, version, json_object_size(summary) ? text : NULL,
                         j.id);
        free(text);
    }
    if (!rc)
        end_run(c, j.id, j.attempts, now, status, NULL);
    if (!rc) {
        char msg[128] = "";
        if (version)
            snprintf(msg, sizeof(msg), "model %lld version %lld", (long long)j.model_id,
                     (long long)version);
        rc = state_event(r->hub, c, j.id, status, msg[0] ? msg : NULL, &err);
    }
    if (!rc)
        rc = td__db_commit(c, &err);
    json_decref(summary);
    td__fileset_free(&fs);
    if (rc) {
        td__db_rollback(c);
        td__job_free(&j);
        /* The output was refused (say, not a model directory): the job fails, not retried. */
        if (rc == TD_EINVAL || rc == TD_EFORMAT) {
            char why[TD_ERR_MSG_LEN + 64];
            snprintf(why, sizeof(why), "the worker's output was refused: %s", err.msg);
            td__db_exec(c, NULL,
                        "UPDATE jobs SET state = 'failed', finished_at = ?, error = ?, worker_id "
                        "= NULL, lease_id = NULL WHERE id = ?",
                        "iti", now, why, j.id);
            state_event(r->hub, c, j.id, "failed", why, NULL);
            td__hub_notify(r->hub);
        }
        return td__fail_err(r, rc, &err);
    }
    td__hub_notify(r->hub);
    int64_t jid = j.id;
    td__job_free(&j);
    return reply_job(r, 200, jid);
}

static int post_fail(td__req *r)
{
    td__job j;
    json_t *o;
    const char *reason = NULL;
    int retry = 0, release = 0;
    td_db_conn *c;
    td_err err = {0};
    int64_t now = td__hub_now(r->hub), elapsed = -1;
    int rc;
    if (!load_leased(r, &j))
        return 1;
    if (td__req_json(r, &o) || td__only_keys(r, o, "reason,retry,release,elapsed_s") ||
        td__arg_str(r, o, "reason", 1, 4000, &reason) || td__arg_bool(r, o, "retry", &retry) ||
        td__arg_bool(r, o, "release", &release) ||
        td__arg_int(r, o, "elapsed_s", 0, 0, 100000000, &elapsed)) {
        td__job_free(&j);
        return 1;
    }
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (!rc && elapsed >= 0)
        charge(r, c, &j, elapsed);
    /* A worker shutting down hands the job back without using up an attempt. */
    int64_t attempts = j.attempts - (release ? 1 : 0);
    int requeue = (retry || release) && !j.cancel_requested && attempts < j.max_attempts;
    const char *state = requeue ? "queued" : j.cancel_requested ? "canceled" : "failed";
    if (!rc)
        rc = td__db_exec(c, &err,
                         "UPDATE jobs SET state = ?, attempts = ?, worker_id = NULL, lease_id = "
                         "NULL, lease_expires_at = NULL, finished_at = CASE WHEN ? = 'queued' "
                         "THEN NULL ELSE ? END, error = CASE WHEN ? = 'failed' THEN ? ELSE error "
                         "END WHERE id = ? AND lease_id = ? AND state = 'running'",
                         "titittit", state, attempts, state, now, state, reason, j.id, j.lease_id);
    if (!rc && td__db_changes(c) == 0) {
        td__db_rollback(c);
        td__job_free(&j);
        return td__fail(r, 409, "lease_lost", "job %lld is not leased to this worker any more",
                        (long long)j.id);
    }
    if (!rc) {
        if (release)
            td__db_exec(c, NULL, "DELETE FROM job_runs WHERE job_id = ? AND attempt = ?", "ii",
                        j.id, j.attempts);
        else
            end_run(c, j.id, j.attempts, now, "failed", reason);
        rc = state_event(r->hub, c, j.id, state, reason, &err);
    }
    if (!rc)
        rc = td__db_commit(c, &err);
    int64_t jid = j.id;
    td__job_free(&j);
    if (rc) {
        td__db_rollback(c);
        return td__fail_err(r, rc, &err);
    }
    td__hub_notify(r->hub);
    return reply_job(r, 200, jid);
}

int td__worker_may_read_model(td__req *r, int64_t model_id)
{
    int64_t n = 0;
    td__db_int_query(td__req_db(r), &n, 0, NULL,
                     "SELECT COUNT(*) FROM jobs WHERE model_id = ? AND worker_id = ? AND state = "
                     "'running'",
                     "ii", model_id, r->who.id);
    return n > 0;
}

/* ---- Tracks -------------------------------------------------------------------------------- */

static int has_suffix(const char *name, void *suffix)
{
    return strlen(name) > strlen(suffix) && td_str_ends_with(name, suffix);
}

static int list_tracks(td__req *r)
{
    json_t *arr = json_array();
    const char *dirs[2] = {r->hub->opt.tracks_dir, r->hub->opt.shared_tracks};
    const char *exts[2] = {".json", ".npy"};
    for (int d = 0; d < 2; d++) {
        char **files;
        int n;
        if (!dirs[d] || td_dir_list(dirs[d], 0, has_suffix, (void *)exts[d], &files, &n, NULL) != 0)
            continue;
        for (int i = 0; i < n; i++) {
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(strlen(files[i]) - strlen(exts[d])),
                     files[i]);
            if (!td__valid_name(name, 100) || td__track_hidden(r, name))
                continue;
            json_array_append_new(
                arr, json_pack("{s:s,s:s}", "name", name, "source", d ? "deepracer" : "trackday"));
        }
        td_dir_list_free(files, n);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "tracks", arr));
}

/* ------------------------------------------------------------------------------------ */
/* Routes                                                                               */
/* ------------------------------------------------------------------------------------ */

#define JJ(s) "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/" s "\"}}}"

const char td__jobs_schemas[] =
    "{\"Job\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, \"type\": "
    "{\"enum\": [\"train\", \"evaluate\", \"league\", \"grade\", \"race\"]}, \"state\": {\"enum\": "
    "[\"queued\", "
    "\"running\", "
    "\"succeeded\", \"failed\", \"canceled\"]}, \"owner\": {\"type\": \"object\"}, \"model\": "
    "{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, \"version\": "
    "{\"type\": \"integer\"}}}, \"params\": {\"type\": \"object\"}, \"attempts\": {\"type\": "
    "\"integer\"}, \"max_attempts\": {\"type\": \"integer\"}, \"cancel_requested\": {\"type\": "
    "\"boolean\"}, \"created_at\": {\"type\": \"string\"}, \"started_at\": {\"type\": "
    "[\"string\", \"null\"]}, \"finished_at\": {\"type\": [\"string\", \"null\"]}, \"error\": "
    "{\"type\": [\"string\", \"null\"]}, \"result_version\": {\"type\": [\"integer\", "
    "\"null\"]}, \"result\": {\"type\": [\"object\", \"null\"]}, \"progress\": {\"type\": "
    "[\"object\", \"null\"]}, \"max_minutes\": {\"type\": \"number\"}, \"used_minutes\": "
    "{\"type\": \"number\"}}},"
    " \"JobCreate\": {\"type\": \"object\", \"required\": [\"type\", \"model\"], "
    "\"properties\": {\"type\": {\"enum\": [\"train\", \"evaluate\"]}, \"model\": {\"type\": "
    "\"integer\"}, \"version\": {\"type\": \"integer\", \"description\": \"default: the "
    "latest\"}, \"minutes\": {\"type\": \"number\", \"description\": \"train: required, "
    "0.05-1440\"}, \"track\": {\"type\": \"string\"}, \"seed\": {\"type\": \"integer\"}, "
    "\"envs\": {\"type\": \"integer\"}, \"iterations\": {\"type\": \"integer\"}, "
    "\"until_laps\": {\"type\": \"integer\"}, \"laps\": {\"type\": \"integer\", "
    "\"description\": \"evaluate: default 3\"}, \"continuous\": {\"type\": \"boolean\"}, "
    "\"race_type\": {\"enum\": [\"time-trial\", \"object-avoidance\", \"head-to-bot\"]}, "
    "\"max_resets\": {\"type\": \"integer\"}, \"priority\": {\"type\": \"integer\"}}},"
    " \"Claim\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"types\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, \"wait\": {\"type\": "
    "\"integer\", \"maximum\": 30, \"description\": \"seconds to wait for a job\"}}},"
    " \"Heartbeat\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"elapsed_s\": {\"type\": \"integer\"}, \"events\": {\"type\": \"array\", \"items\": "
    "{\"type\": \"object\"}}}},"
    " \"JobFail\": {\"type\": \"object\", \"required\": [\"reason\"], "
    "\"additionalProperties\": false, \"properties\": {\"reason\": {\"type\": \"string\"}, "
    "\"retry\": {\"type\": \"boolean\"}, \"release\": {\"type\": \"boolean\"}, \"elapsed_s\": "
    "{\"type\": \"integer\"}}}}";

#define LEASE_PARAM                                                                                \
    "{\"name\": \"X-Trackday-Lease\", \"in\": \"header\", \"required\": true, \"schema\": "        \
    "{\"type\": \"string\"}, \"description\": \"the lease_id of the claim\"}"

const td__route td__routes_jobs[] = {
    {"GET", "/api/v1/tracks", list_tracks, TD__ALLOW_USERS, TD__BODY_NONE,
     "Tracks jobs may name: trackday's own and DeepRacer's routes", NULL},
    {"POST", "/api/v1/jobs", post_job, TD__ALLOW_USERS, TD__BODY_JSON,
     "Queue a training or evaluation job of one of your models (quotas apply: a refusal says "
     "which and when it resets)",
     "{\"requestBody\": {\"required\": true, \"content\": " JJ(
         "JobCreate") "}, \"responses\": {\"201\": {\"description\": \"queued\", "
                      "\"content\": " JJ("Job") "}}}"},
    {"GET", "/api/v1/jobs", list_jobs, TD__ALLOW_USERS, TD__BODY_NONE,
     "Jobs, newest first: yours (learner), yours and your classes' (instructor), all (admin); "
     "?state= (or active), ?model=, ?owner=, ?limit=, ?after=ID",
     NULL},
    {"GET", "/api/v1/jobs/{id}", get_job, TD__ALLOW_USERS | TD__ALLOW_WORKER, TD__BODY_NONE,
     "A job: state, attempts, last progress, result",
     "{\"responses\": {\"200\": {\"description\": \"the job\", \"content\": " JJ("Job") "}}}"},
    {"POST", "/api/v1/jobs/{id}/cancel", post_cancel, TD__ALLOW_USERS, TD__BODY_NONE,
     "Cancel a job: a queued one at once, a running one at its worker's next heartbeat (what "
     "it trained is kept as a version)",
     "{\"responses\": {\"202\": {\"description\": \"canceled or cancel requested\"}, \"409\": "
     "{\"$ref\": \"#/components/responses/Error\"}}}"},
    {"GET", "/api/v1/jobs/{id}/events", get_events, TD__ALLOW_USERS, TD__BODY_NONE,
     "The job's progress as server-sent events: 'state', 'progress' (one per training "
     "iteration), 'checkpoint', then 'end'; ?after=SEQ or Last-Event-ID resumes",
     "{\"responses\": {\"200\": {\"description\": \"an event stream\", \"content\": "
     "{\"text/event-stream\": {}}}}}"},
    {"GET", "/api/v1/jobs/{id}/result", get_result, TD__ALLOW_USERS, TD__BODY_NONE,
     "An evaluation's files (report, simtrace, picture) as .tar.gz",
     "{\"responses\": {\"200\": {\"description\": \"the archive\", \"content\": "
     "{\"application/gzip\": {}}}}}"},
    {"POST", "/api/v1/worker/claim", post_claim, TD__ALLOW_WORKER, TD__BODY_JSON,
     "Worker: take the oldest queued job (waiting up to 'wait' seconds); 204 when there is "
     "none",
     "{\"requestBody\": {\"content\": " JJ(
         "Claim") "}, \"responses\": {\"200\": {\"description\": \"a job and its lease\"}, "
                  "\"204\": {\"description\": \"no job\"}}}"},
    {"POST", "/api/v1/jobs/{id}/heartbeat", post_heartbeat, TD__ALLOW_WORKER, TD__BODY_JSON,
     "Worker: renew the lease, report training time and progress events; the reply says "
     "whether to cancel",
     "{\"parameters\": [" LEASE_PARAM
     "], \"requestBody\": {\"content\": " JJ("Heartbeat") "}, \"responses\": {\"409\": {\"$ref\": "
                                                          "\"#/components/responses/Error\"}}}"},
    {"PUT", "/api/v1/jobs/{id}/checkpoint", put_checkpoint, TD__ALLOW_WORKER, TD__BODY_UPLOAD,
     "Worker: store the run's checkpoint (.tar.gz); ?elapsed_s=",
     "{\"parameters\": [" LEASE_PARAM "], \"responses\": {\"204\": {\"description\": "
     "\"stored\"}, \"409\": {\"$ref\": \"#/components/responses/Error\"}}}"},
    {"GET", "/api/v1/jobs/{id}/checkpoint", get_checkpoint, TD__ALLOW_USERS | TD__ALLOW_WORKER,
     TD__BODY_NONE, "The job's last checkpoint (.tar.gz), to resume from",
     "{\"responses\": {\"200\": {\"description\": \"the archive\", \"content\": "
     "{\"application/gzip\": {}}}}}"},
    {"POST", "/api/v1/jobs/{id}/complete", post_complete, TD__ALLOW_WORKER, TD__BODY_UPLOAD,
     "Worker: the job's output (.tar.gz: the trained model directory, or the evaluation's "
     "files); ?status=succeeded|canceled, ?elapsed_s=",
     "{\"parameters\": [" LEASE_PARAM "], \"responses\": {\"409\": {\"$ref\": "
     "\"#/components/responses/Error\"}}}"},
    {"POST", "/api/v1/jobs/{id}/fail", post_fail, TD__ALLOW_WORKER, TD__BODY_JSON,
     "Worker: the job failed (retry: back to the queue while attempts remain; release: a "
     "worker shutting down hands it back)",
     "{\"parameters\": [" LEASE_PARAM "], \"requestBody\": {\"required\": true, \"content\": " JJ(
         "JobFail") "}, \"responses\": {\"409\": {\"$ref\": "
                    "\"#/components/responses/Error\"}}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
