/*
 * pipeline.c - closing the loop from a drift alert as one action (docs/drift.md "Closing the
 * loop"): POST /api/v1/alerts/{id}/retrain with "then": "evaluate,canary" starts a pipeline the
 * reaper's tick moves on: the training job ends -> an evaluation job of the new version ->
 * the deployment's gates (lap completion; lap time against the deployed bundle's evaluation
 * laps) -> "awaiting_signature". The hub holds no secret key: an admin-side signer (`trackday
 * fleet autopilot --key`) builds and signs the bundle, uploads it, deploys it as a canary on
 * the alerting device (in its group) and reports it here (POST /api/v1/alerts/{id}/pipeline).
 * Each step's state is on the alert ("pipeline").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"
#include "trackday/summary.h"

#define PIPELINE_COLS                                                                              \
    "alert_id, state, spec, model_id, train_job, version, eval_job, gates, deployment_id, "        \
    "reason, created_at, updated_at"

/* Gates' defaults: every evaluation lap completed, laps at most 5 % slower than the
 * deployed bundle's evaluation laps. */
#define GATE_LAPS           3
#define GATE_MIN_COMPLETION 1.0
#define GATE_MAX_LAP_RATIO  1.05

static json_t *int_or_null(td_db_rows *row, int col)
{
    return td__db_is_null(row, col) ? json_null() : json_integer(td__db_int(row, col));
}

json_t *td__pipeline_json(td_db_conn *c, int64_t alert)
{
    td_db_rows *row;
    if (td__db_query_row(c, &row, NULL,
                         "SELECT " PIPELINE_COLS " FROM alert_pipelines WHERE "
                         "alert_id = ?",
                         "i", alert) <= 0)
        return json_null();
    json_t *spec = json_loads(td__db_text(row, 2), 0, NULL);
    json_t *gates = td__db_is_null(row, 7) ? json_null() : json_loads(td__db_text(row, 7), 0, NULL);
    json_t *p =
        json_pack("{s:s,s:O,s:O,s:I,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o}", "state", td__db_text(row, 1),
                  "then", json_object_get(spec, "then"), "gates", json_object_get(spec, "gates"),
                  "model", (json_int_t)td__db_int(row, 3), "train_job", int_or_null(row, 4),
                  "version", int_or_null(row, 5), "eval_job", int_or_null(row, 6), "gate_results",
                  gates ? gates : json_null(), "deployment", int_or_null(row, 8), "reason",
                  td__db_text(row, 9), "created_at", td__json_time(td__db_int(row, 10)),
                  "updated_at", td__json_time(td__db_int(row, 11)));
    int64_t dep = td__db_is_null(row, 8) ? 0 : td__db_int(row, 8);
    td__db_rows_free(row);
    json_decref(spec);
    if (p && dep) {
        td_db_rows *d;
        if (td__db_query_row(c, &d, NULL, "SELECT state FROM deployments WHERE id = ?", "i", dep) >
            0) {
            json_object_set_new(p, "deployment_state", json_string(td__db_text(d, 0)));
            td__db_rows_free(d);
        }
    }
    return p ? p : json_null();
}

int td__pipeline_spec(td__req *r, json_t *o, json_t **spec)
{
    const char *then = NULL;
    json_t *g = json_object_get(o, "gates");
    int64_t laps = GATE_LAPS;
    double min_completion = GATE_MIN_COMPLETION, max_ratio = GATE_MAX_LAP_RATIO;
    *spec = NULL;
    if (td__arg_str(r, o, "then", 0, 32, &then))
        return 1;
    if (!then || !then[0]) {
        if (g)
            return td__fail(r, 400, "bad_request", "field 'gates' goes with 'then'");
        return 0;
    }
    if (strcmp(then, "evaluate") && strcmp(then, "evaluate,canary"))
        return td__fail(r, 400, "bad_request",
                        "field 'then' must be \"evaluate\" or \"evaluate,canary\" (a canary "
                        "only after the evaluation's gates)");
    if (g && !json_is_object(g))
        return td__fail(r, 400, "bad_request", "field 'gates' must be an object");
    if (g && (td__only_keys(r, g, "laps,min_completion,max_lap_time_ratio") ||
              td__arg_int(r, g, "laps", 0, 1, 16, &laps) ||
              (json_object_get(g, "min_completion") &&
               td__arg_num(r, g, "min_completion", 1, 0, 1, &min_completion)) ||
              (json_object_get(g, "max_lap_time_ratio") &&
               td__arg_num(r, g, "max_lap_time_ratio", 1, 0.5, 10, &max_ratio))))
        return 1;
    *spec = json_pack("{s:s,s:{s:I,s:f,s:f}}", "then", then, "gates", "laps", (json_int_t)laps,
                      "min_completion", min_completion, "max_lap_time_ratio", max_ratio);
    return *spec ? 0 : td__fail(r, 500, "internal", "out of memory");
}

int td__pipeline_busy(td_db_conn *c, int64_t alert, char *state, size_t cap)
{
    td_db_rows *row;
    state[0] = '\0';
    int rc = td__db_query_row(c, &row, NULL,
                              "SELECT state FROM alert_pipelines WHERE alert_id = ? AND state IN "
                              "('retraining', 'evaluating', 'awaiting_signature')",
                              "i", alert);
    if (rc <= 0)
        return 0;
    snprintf(state, cap, "%s", td__db_text(row, 0));
    td__db_rows_free(row);
    return 1;
}

int td__pipeline_start(td_hub *h, td_db_conn *c, int64_t alert, json_t *spec, int64_t model,
                       int64_t job, td_err *err)
{
    json_t *s = spec ? json_incref(spec) : json_pack("{s:n,s:n}", "then", "gates");
    char *text = json_dumps(s, JSON_COMPACT);
    json_decref(s);
    if (!text)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    int64_t now = td__hub_now(h);
    int rc = td__db_exec(c, err, "DELETE FROM alert_pipelines WHERE alert_id = ?", "i", alert);
    if (!rc)
        rc = td__db_exec(c, err,
                         "INSERT INTO alert_pipelines (alert_id, state, spec, model_id, "
                         "train_job, created_at, updated_at) VALUES (?, 'retraining', ?, ?, ?, ?, "
                         "?)",
                         "itiiii", alert, text, model, job, now, now);
    free(text);
    return rc;
}

/* ---- the tick ---------------------------------------------------------------------------- */

/* Moves the pipeline of `alert` from state `from` to `to` (the guard makes two hub processes
 * ticking at once harmless); version, eval_job and gates are set when not NULL/0. */
static int move(td_hub *h, td_db_conn *c, int64_t alert, const char *from, const char *to,
                int64_t version, int64_t eval_job, const char *gates, const char *reason,
                td_err *err)
{
    return td__db_exec(c, err,
                       "UPDATE alert_pipelines SET state = ?, version = CASE WHEN ? > 0 THEN ? "
                       "ELSE version END, eval_job = CASE WHEN ? > 0 THEN ? ELSE eval_job END, "
                       "gates = COALESCE(?, gates), reason = ?, updated_at = ? WHERE alert_id = "
                       "? AND state = ?",
                       "tiiiittiit", to, version, version, eval_job, eval_job, gates,
                       reason ? reason : "", td__hub_now(h), alert, from);
}

/* The job's state, error and (train) result version or (evaluate) result. */
typedef struct job_end {
    char state[16];
    char error[300];
    int64_t version;
    json_t *result, *params;
} job_end;

static int job_get(td_db_conn *c, int64_t id, job_end *j, td_err *err)
{
    td_db_rows *row;
    memset(j, 0, sizeof(*j));
    int rc = td__db_query_row(c, &row, err,
                              "SELECT state, error, result_version, result, params FROM jobs "
                              "WHERE id = ?",
                              "i", id);
    if (rc <= 0)
        return rc < 0 ? rc : td_err_set(err, TD_ENOENT, "job %lld is gone", (long long)id);
    snprintf(j->state, sizeof(j->state), "%s", td__db_text(row, 0));
    snprintf(j->error, sizeof(j->error), "%s", td__db_is_null(row, 1) ? "" : td__db_text(row, 1));
    j->version = td__db_is_null(row, 2) ? 0 : td__db_int(row, 2);
    j->result = td__db_is_null(row, 3) ? NULL : json_loads(td__db_text(row, 3), 0, NULL);
    j->params = json_loads(td__db_text(row, 4), 0, NULL);
    td__db_rows_free(row);
    return 0;
}

static void job_end_free(job_end *j)
{
    json_decref(j->result);
    json_decref(j->params);
}

/* The training ended: its version's evaluation, or the end of the pipeline. */
static int after_training(td_hub *h, td_db_conn *c, int64_t alert, const json_t *spec,
                          int64_t model, const job_end *t, td_err *err)
{
    const json_t *g = json_object_get(spec, "gates");
    if (!json_is_string(json_object_get(spec, "then")))
        return move(h, c, alert, "retraining", "retrained", t->version, 0, NULL, NULL, err);
    int64_t owner = 0, eval = 0;
    int rc =
        td__db_int_query(c, &owner, 0, err, "SELECT owner_id FROM models WHERE id = ?", "i", model);
    if (rc)
        return rc;
    json_t *params = json_pack("{s:I,s:i,s:{s:I}}", "laps",
                               (json_int_t)json_integer_value(json_object_get(g, "laps")), "seed",
                               1, "pipeline", "alert", (json_int_t)alert);
    const json_t *track = json_object_get(t->params, "track");
    if (json_is_string(track))
        json_object_set(params, "track", (json_t *)track);
    rc = td__db_begin(c, 1, err);
    if (!rc)
        rc = td__job_create(h, c, owner, "evaluate", model, t->version, params, 0, 0, &eval, err);
    json_decref(params);
    if (!rc)
        rc = move(h, c, alert, "retraining", "evaluating", t->version, eval, NULL, NULL, err);
    if (!rc && td__db_changes(c) != 1) { /* another hub process moved it */
        td__db_rollback(c);
        return 0;
    }
    if (!rc)
        rc = td__db_commit(c, err);
    if (rc)
        td__db_rollback(c);
    else
        td__hub_notify(h);
    return rc;
}

/* The mean of the deployed bundle's evaluation laps (the lap-time check's reference), or -1. */
static double current_lap_s(td_hub *h, td_db_conn *c, int64_t alert)
{
    td_db_rows *row;
    char sha[65] = "";
    if (td__db_query_row(c, &row, NULL, "SELECT bundle_sha256 FROM alerts WHERE id = ?", "i",
                         alert) > 0) {
        snprintf(sha, sizeof(sha), "%s", td__db_is_null(row, 0) ? "" : td__db_text(row, 0));
        td__db_rows_free(row);
    }
    td_summary ref;
    td_err e = {0};
    if (!sha[0] || td__drift_reference(h, c, sha, &ref, &e))
        return -1;
    double sum = 0;
    int n = ref.outcomes.n_laps;
    for (int i = 0; i < n; i++)
        sum += ref.outcomes.lap_times_s[i];
    td_summary_free(&ref);
    return n ? sum / n : -1;
}

/* The evaluation ended: the gates, then the signer's turn or the end. */
static int after_evaluation(td_hub *h, td_db_conn *c, int64_t alert, const json_t *spec,
                            const job_end *e, td_err *err)
{
    const json_t *g = json_object_get(spec, "gates");
    double min_completion = json_number_value(json_object_get(g, "min_completion"));
    double max_ratio = json_number_value(json_object_get(g, "max_lap_time_ratio"));
    int64_t requested = json_integer_value(json_object_get(e->result, "laps_requested"));
    int64_t completed = json_integer_value(json_object_get(e->result, "laps_completed"));
    const json_t *avg = json_object_get(e->result, "average_lap_s");
    double share = requested > 0 ? (double)completed / (double)requested : 0;
    double cur = current_lap_s(h, c, alert);
    char reason[400] = "";
    int ok_completion = requested > 0 && share + 1e-9 >= min_completion;
    if (!ok_completion)
        snprintf(reason, sizeof(reason),
                 "gate lap_completion: %lld of %lld evaluation laps completed (%.0f%%), at "
                 "least %.0f%% wanted",
                 (long long)completed, (long long)requested, 100 * share, 100 * min_completion);
    /* Lap time: the new version's mean lap against the deployed bundle's evaluation laps. */
    json_t *lap = json_object();
    int ok_lap = 1;
    if (json_is_number(avg) && cur > 0) {
        double ratio = json_number_value(avg) / cur;
        ok_lap = ratio <= max_ratio + 1e-9;
        json_object_set_new(lap, "value", json_real(json_number_value(avg)));
        json_object_set_new(lap, "current", json_real(cur));
        json_object_set_new(lap, "ratio", json_real(ratio));
        if (!ok_lap && !reason[0])
            snprintf(reason, sizeof(reason),
                     "gate lap_time: %.2f s a lap, %.2f x the deployed version's %.2f s, at most "
                     "%.2f x wanted",
                     json_number_value(avg), ratio, cur, max_ratio);
    } else {
        json_object_set_new(lap, "note",
                            json_string(cur > 0 ? "no lap completed: nothing to compare"
                                                : "the deployed bundle has no evaluation laps"));
    }
    json_object_set_new(lap, "max_ratio", json_real(max_ratio));
    json_object_set_new(lap, "ok", json_boolean(ok_lap));
    json_t *res = json_pack("{s:{s:I,s:I,s:f,s:f,s:b},s:o}", "lap_completion", "completed",
                            (json_int_t)completed, "requested", (json_int_t)requested, "share",
                            share, "min", min_completion, "ok", ok_completion, "lap_time", lap);
    char *text = res ? json_dumps(res, JSON_COMPACT) : NULL;
    json_decref(res);
    const char *then = json_string_value(json_object_get(spec, "then"));
    const char *to = reason[0]                        ? "failed"
                     : then && strstr(then, "canary") ? "awaiting_signature"
                                                      : "evaluated";
    int rc = move(h, c, alert, "evaluating", to, 0, 0, text, reason, err);
    free(text);
    return rc;
}

static int tick_one(td_hub *h, td_db_conn *c, int64_t alert, const char *state, int64_t model,
                    int64_t job, const char *spec_text, td_err *err)
{
    job_end j;
    char reason[400];
    int rc = job_get(c, job, &j, err);
    if (rc == TD_ENOENT) {
        snprintf(reason, sizeof(reason), "job %lld is gone", (long long)job);
        return move(h, c, alert, state, "failed", 0, 0, NULL, reason, err);
    }
    if (rc)
        return rc;
    int training = !strcmp(state, "retraining");
    if (!strcmp(j.state, "failed") || !strcmp(j.state, "cancelled")) {
        snprintf(reason, sizeof(reason), "%s job %lld %s%s%s", training ? "training" : "evaluation",
                 (long long)job, j.state, j.error[0] ? ": " : "", j.error);
        rc = move(h, c, alert, state, "failed", 0, 0, NULL, reason, err);
    } else if (!strcmp(j.state, "succeeded")) {
        json_t *spec = json_loads(spec_text, 0, NULL);
        rc = training ? after_training(h, c, alert, spec, model, &j, err)
                      : after_evaluation(h, c, alert, spec, &j, err);
        json_decref(spec);
    }
    job_end_free(&j);
    return rc;
}

int td__pipeline_tick(td_hub *h, td_db_conn *c, td_err *err)
{
    td_db_rows *rows;
    int64_t alerts[32], models[32], jobs[32];
    char states[32][16], *specs[32];
    int n = 0;
    int rc = td__db_query(c, &rows, err,
                          "SELECT alert_id, state, model_id, CASE WHEN state = 'retraining' THEN "
                          "train_job ELSE eval_job END, spec FROM alert_pipelines WHERE state IN "
                          "('retraining', 'evaluating') ORDER BY alert_id LIMIT 32",
                          "");
    if (rc)
        return rc;
    while ((rc = td__db_next(rows, err)) > 0 && n < 32) {
        alerts[n] = td__db_int(rows, 0);
        snprintf(states[n], sizeof(states[n]), "%s", td__db_text(rows, 1));
        models[n] = td__db_int(rows, 2);
        jobs[n] = td__db_int(rows, 3);
        specs[n] = td_strdup(td__db_text(rows, 4));
        n++;
    }
    td__db_rows_free(rows);
    for (int i = 0; i < n; i++) {
        if (!rc && specs[i])
            rc = tick_one(h, c, alerts[i], states[i], models[i], jobs[i], specs[i], err);
        td_free(specs[i]);
    }
    return rc < 0 ? rc : 0;
}

/* ---- the signer's report -------------------------------------------------------------------- */

/*
 * POST /api/v1/alerts/{id}/pipeline {"state": "canary", "deployment": ID} or {"state":
 * "failed", "reason": TEXT}: the admin-side signer (trackday fleet autopilot) says what it did
 * with a version awaiting its signature.
 */
int td__pipeline_report(td__req *r)
{
    int64_t id, dep = 0, exists = 0;
    const char *state = NULL, *reason = "";
    json_t *o;
    td_err err = {0};
    char have[32];
    if (td__req_json(r, &o) || td__only_keys(r, o, "state,deployment,reason") ||
        td__arg_str(r, o, "state", 1, 16, &state) ||
        td__arg_int(r, o, "deployment", 0, 1, INT64_MAX, &dep) ||
        td__arg_str(r, o, "reason", 0, 300, &reason) || td__param_id(r, 0, "alert", &id))
        return 1;
    if (strcmp(state, "canary") && strcmp(state, "failed"))
        return td__fail(r, 400, "bad_request", "field 'state' must be canary or failed");
    if (!strcmp(state, "canary") && !dep)
        return td__fail(r, 400, "bad_request", "a canary names its 'deployment'");
    td_db_conn *c = td__req_db(r);
    if (dep) {
        td__db_int_query(c, &exists, 0, NULL, "SELECT COUNT(*) FROM deployments WHERE id = ?", "i",
                         dep);
        if (!exists)
            return td__fail(r, 404, "not_found", "no deployment %lld", (long long)dep);
    }
    if (!td__pipeline_busy(c, id, have, sizeof(have)) || strcmp(have, "awaiting_signature"))
        return td__fail(r, 409, "conflict", "alert %lld has no version awaiting a signature%s%s%s",
                        (long long)id, have[0] ? " (its pipeline is " : "", have,
                        have[0] ? ")" : "");
    int rc = td__db_exec(c, &err,
                         "UPDATE alert_pipelines SET state = ?, deployment_id = CASE WHEN ? > 0 "
                         "THEN ? ELSE deployment_id END, reason = ?, updated_at = ? WHERE "
                         "alert_id = ? AND state = 'awaiting_signature'",
                         "tiitii", state, dep, dep, reason, td__hub_now(r->hub), id);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_json(r, 200, td__pipeline_json(c, id));
}
