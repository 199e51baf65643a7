/*
 * quota.c - what a learner may use: training minutes a calendar month (UTC), concurrent jobs,
 * models and storage. A learner's quota comes from their classes (the class's quota, or the
 * instructor's override for that learner; the most generous class wins when there are
 * several), or from the hub's default when they are in no class. Instructors and admins have
 * none. A refusal says which quota, how much is used, and when it resets.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hub/hub_internal.h"

static const char *const quota_keys[TD__NQUOTA] = {"training_minutes", "concurrent_jobs", "models",
                                                   "storage_mb"};

const char *td__quota_key(int i)
{
    return quota_keys[i];
}

/* DeepRacer Student gave 10 free training hours a month; a model directory is a few MB. */
static const int64_t default_quota[TD__NQUOTA] = {600, 2, 20, 5120};

void td__month_of(int64_t t, char *out, size_t cap, int64_t *next_month_start)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m", &tm);
    if (next_month_start) {
        struct tm n;
        memset(&n, 0, sizeof(n));
        n.tm_year = tm.tm_year + (tm.tm_mon == 11);
        n.tm_mon = (tm.tm_mon + 1) % 12;
        n.tm_mday = 1;
        *next_month_start = (int64_t)timegm(&n);
    }
}

int td__quota_default(td_db_conn *c, int64_t q[TD__NQUOTA], td_err *err)
{
    td_db_rows *row;
    for (int i = 0; i < TD__NQUOTA; i++)
        q[i] = default_quota[i];
    int rc = td__db_query_row(c, &row, err, "SELECT value FROM settings WHERE key = 'quota'", "");
    if (rc < 0)
        return rc;
    if (rc > 0) {
        json_t *o = json_loads(td__db_text(row, 0), 0, NULL);
        td__db_rows_free(row);
        for (int i = 0; i < TD__NQUOTA && o; i++) {
            json_t *v = json_object_get(o, quota_keys[i]);
            if (v)
                q[i] = json_is_integer(v) ? json_integer_value(v) : -1;
        }
        json_decref(o);
    }
    return 0;
}

int td__quota_of(td_hub *h, td_db_conn *c, int64_t uid, td__quota *q, td_err *err)
{
    td_db_rows *rows;
    char role[32] = "";
    int rc, classes = 0;
    memset(q, 0, sizeof(*q));
    (void)h;
    rc = td__db_query_row(c, &rows, err, "SELECT role FROM users WHERE id = ?", "i", uid);
    if (rc <= 0)
        return rc ? rc : td_err_set(err, TD_ENOENT, "no user %lld", (long long)uid);
    snprintf(role, sizeof(role), "%s", td__db_text(rows, 0));
    td__db_rows_free(rows);
    for (int i = 0; i < TD__NQUOTA; i++)
        q->limit[i] = -1;
    if (strcmp(role, "learner"))
        return 0; /* staff: unlimited */
    rc = td__db_query(c, &rows, err,
                      "SELECT c.name, COALESCE(m.quota_training_minutes, "
                      "c.quota_training_minutes), COALESCE(m.quota_concurrent_jobs, "
                      "c.quota_concurrent_jobs), COALESCE(m.quota_models, c.quota_models), "
                      "COALESCE(m.quota_storage_mb, c.quota_storage_mb) FROM class_members m JOIN "
                      "classes c ON c.id = m.class_id WHERE m.user_id = ? AND m.role = 'learner' "
                      "AND c.deleted_at IS NULL ORDER BY c.id",
                      "i", uid);
    if (rc)
        return rc;
    for (int i = 0; i < TD__NQUOTA; i++)
        q->limit[i] = 0;
    while ((rc = td__db_next(rows, err)) > 0) {
        for (int i = 0; i < TD__NQUOTA; i++) {
            int64_t v = td__db_is_null(rows, 1 + i) ? -1 : td__db_int(rows, 1 + i);
            /* The most generous class wins; -1 (no limit) beats any number. The first class
             * names the source even when its limit is 0. */
            if (!classes || (q->limit[i] >= 0 && (v < 0 || v > q->limit[i]))) {
                q->limit[i] = v;
                snprintf(q->source[i], sizeof(q->source[i]), "class '%s'", td__db_text(rows, 0));
            }
        }
        classes++;
    }
    td__db_rows_free(rows);
    if (rc < 0)
        return rc;
    if (!classes) {
        rc = td__quota_default(c, q->limit, err);
        for (int i = 0; i < TD__NQUOTA; i++)
            snprintf(q->source[i], sizeof(q->source[i]), "the hub's default");
    }
    return rc;
}

int td__usage_of(td_hub *h, td_db_conn *c, int64_t uid, int64_t used[TD__NQUOTA], int64_t *reset_at,
                 td_err *err)
{
    char month[16];
    int64_t secs = 0, reserved = 0, bytes = 0;
    int rc;
    td__month_of(td__hub_now(h), month, sizeof(month), reset_at);
    rc = td__db_int_query(c, &secs, 0, err,
                          "SELECT training_seconds FROM usage WHERE user_id = ? AND month = ?",
                          "it", uid, month);
    /* Queued and running jobs hold the minutes they may still use, so two jobs submitted
     * together cannot both take the last hour. */
    if (!rc)
        rc = td__db_int_query(c, &reserved, 0, err,
                              "SELECT COALESCE(SUM(CASE WHEN max_seconds > charged_seconds THEN "
                              "max_seconds - charged_seconds ELSE 0 END), 0) FROM jobs WHERE "
                              "owner_id = ? AND type = 'train' AND state IN ('queued', 'running')",
                              "i", uid);
    if (!rc)
        rc = td__db_int_query(c, &used[TD__QUOTA_IDX_JOBS], 0, err,
                              "SELECT COUNT(*) FROM jobs WHERE owner_id = ? AND state IN "
                              "('queued', 'running') AND type NOT IN "
                              "('league', 'grade')",
                              "i", uid);
    if (!rc)
        rc = td__db_int_query(c, &used[TD__QUOTA_IDX_MODELS], 0, err,
                              "SELECT COUNT(*) FROM models WHERE owner_id = ? AND deleted_at IS "
                              "NULL",
                              "i", uid);
    if (!rc)
        rc = td__db_int_query(c, &bytes, 0, err,
                              "SELECT COALESCE(SUM(v.bytes), 0) FROM model_versions v JOIN "
                              "models m ON m.id = v.model_id WHERE m.owner_id = ? AND "
                              "m.deleted_at IS NULL",
                              "i", uid);
    used[TD__QUOTA_IDX_MINUTES] = secs + reserved; /* seconds */
    used[TD__QUOTA_IDX_STORAGE] = bytes;
    return rc;
}

int td__quota_check(td__req *r, int64_t uid, unsigned what, uint64_t extra_bytes,
                    double extra_minutes)
{
    td__quota q;
    int64_t used[TD__NQUOTA], reset_at = 0;
    td_err err = {0};
    char when[40];
    int rc = td__quota_of(r->hub, td__req_db(r), uid, &q, &err);
    if (!rc)
        rc = td__usage_of(r->hub, td__req_db(r), uid, used, &reset_at, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    td__format_time(reset_at, when, sizeof(when));
    for (int i = 0; i < TD__NQUOTA; i++) {
        int64_t want = 1, limit = q.limit[i], have = used[i];
        if (!(what & (1u << i)) || limit < 0)
            continue;
        /* Minutes are compared in seconds and storage in bytes; shown rounded up. */
        if (i == TD__QUOTA_IDX_MINUTES) {
            int64_t want_s = (int64_t)(extra_minutes * 60 + 0.5);
            if (have + want_s <= limit * 60)
                continue;
            want = (want_s + 59) / 60;
            have = (have + 59) / 60;
        } else if (i == TD__QUOTA_IDX_STORAGE) {
            if (have + (int64_t)extra_bytes <= limit << 20)
                continue;
            want = ((int64_t)extra_bytes + (1 << 20) - 1) >> 20;
            have = (have + (1 << 20) - 1) >> 20;
        } else if (have + want <= limit) {
            continue;
        }
        used[i] = have;
        json_t *details =
            json_pack("{s:s,s:I,s:I,s:I}", "quota", quota_keys[i], "limit", (json_int_t)q.limit[i],
                      "used", (json_int_t)used[i], "requested", (json_int_t)want);
        switch (i) {
        case TD__QUOTA_IDX_MINUTES:
            td__fail(r, 403, "quota_exceeded",
                     "training quota: %lld of %lld training minutes this month are used or "
                     "reserved by queued jobs (%s) and this job asks for %lld; the quota resets "
                     "on %s",
                     (long long)used[i], (long long)q.limit[i], q.source[i], (long long)want, when);
            json_object_set_new(details, "resets_at", json_string(when));
            break;
        case TD__QUOTA_IDX_JOBS:
            td__fail(r, 403, "quota_exceeded",
                     "concurrent jobs quota: %lld of %lld jobs are queued or running (%s); one "
                     "more may start when one of them ends",
                     (long long)used[i], (long long)q.limit[i], q.source[i]);
            break;
        case TD__QUOTA_IDX_MODELS:
            td__fail(r, 403, "quota_exceeded",
                     "models quota: %lld of %lld models (%s); delete a model to make room",
                     (long long)used[i], (long long)q.limit[i], q.source[i]);
            break;
        default:
            td__fail(r, 403, "quota_exceeded",
                     "storage quota: %lld of %lld MB used (%s) and this needs %lld MB more; "
                     "delete models to free storage",
                     (long long)used[i], (long long)q.limit[i], q.source[i], (long long)want);
        }
        td__fail_details(r, details);
        return 1;
    }
    return 0;
}

void td__usage_charge(td_hub *h, td_db_conn *c, int64_t uid, int64_t seconds)
{
    char month[16];
    if (seconds <= 0)
        return;
    td__month_of(td__hub_now(h), month, sizeof(month), NULL);
    td__db_exec(c, NULL,
                "INSERT INTO usage (user_id, month, training_seconds) VALUES (?, ?, ?) ON "
                "CONFLICT (user_id, month) DO UPDATE SET training_seconds = "
                "usage.training_seconds + ?",
                "itii", uid, month, seconds, seconds);
}

json_t *td__quota_json(td_hub *h, td_db_conn *c, int64_t uid, td_err *err)
{
    td__quota q;
    int64_t used[TD__NQUOTA], reset_at;
    char when[40];
    int rc = td__quota_of(h, c, uid, &q, err);
    if (!rc)
        rc = td__usage_of(h, c, uid, used, &reset_at, err);
    if (rc)
        return NULL;
    td__format_time(reset_at, when, sizeof(when));
    json_t *o = json_object();
    int64_t bytes = used[TD__QUOTA_IDX_STORAGE];
    used[TD__QUOTA_IDX_MINUTES] = (used[TD__QUOTA_IDX_MINUTES] + 59) / 60;
    used[TD__QUOTA_IDX_STORAGE] = (bytes + (1 << 20) - 1) >> 20;
    for (int i = 0; i < TD__NQUOTA; i++)
        json_object_set_new(o, quota_keys[i],
                            json_pack("{s:o,s:I,s:s}", "limit",
                                      q.limit[i] < 0 ? json_null() : json_integer(q.limit[i]),
                                      "used", (json_int_t)used[i], "from",
                                      q.source[i][0] ? q.source[i] : "no limit (staff)"));
    json_object_set_new(json_object_get(o, "storage_mb"), "used_bytes", json_integer(bytes));
    json_object_set_new(o, "training_minutes_reset_at", json_string(when));
    return o;
}

/* Reads {"training_minutes": N|null, ...} (null: no limit) into q; absent keys keep q. */
int td__quota_arg(td__req *r, json_t *o, int64_t q[TD__NQUOTA], int set[TD__NQUOTA])
{
    const char *key;
    json_t *v;
    if (!json_is_object(o))
        return td__fail(r, 400, "bad_request",
                        "'quota' must be an object with training_minutes, concurrent_jobs, "
                        "models, storage_mb");
    json_object_foreach(o, key, v)
    {
        int i;
        for (i = 0; i < TD__NQUOTA; i++)
            if (!strcmp(key, quota_keys[i]))
                break;
        if (i == TD__NQUOTA)
            return td__fail(r, 400, "bad_request",
                            "unknown quota '%.40s' (training_minutes, concurrent_jobs, models, "
                            "storage_mb)",
                            key);
        if (json_is_null(v)) {
            q[i] = -1;
        } else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
                   json_integer_value(v) <= 100000000) {
            q[i] = json_integer_value(v);
        } else {
            return td__fail(r, 400, "bad_request",
                            "quota '%s' must be a whole number >= 0, or null for no limit", key);
        }
        if (set)
            set[i] = 1;
    }
    return 0;
}

json_t *td__quota_limits_json(const int64_t q[TD__NQUOTA])
{
    json_t *o = json_object();
    for (int i = 0; i < TD__NQUOTA; i++)
        json_object_set_new(o, quota_keys[i], q[i] < 0 ? json_null() : json_integer(q[i]));
    return o;
}

/* ---- Routes -------------------------------------------------------------------------------- */

static int get_my_quota(td__req *r)
{
    td_err err = {0};
    json_t *o = td__quota_json(r->hub, td__req_db(r), r->who.id, &err);
    if (!o)
        return td__fail_err(r, err.code, &err);
    return td__reply_json(r, 200, o);
}

static int get_default_quota(td__req *r)
{
    int64_t q[TD__NQUOTA];
    td_err err = {0};
    int rc = td__quota_default(td__req_db(r), q, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_json(r, 200, td__quota_limits_json(q));
}

static int put_default_quota(td__req *r)
{
    int64_t q[TD__NQUOTA];
    json_t *o, *lim;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o))
        return 1;
    rc = td__quota_default(td__req_db(r), q, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (td__quota_arg(r, o, q, NULL))
        return 1;
    lim = td__quota_limits_json(q);
    char *text = json_dumps(lim, JSON_COMPACT);
    rc = td__db_exec(td__req_db(r), &err,
                     "INSERT INTO settings (key, value) VALUES ('quota', ?) ON CONFLICT (key) DO "
                     "UPDATE SET value = excluded.value",
                     "t", text);
    free(text);
    if (rc) {
        json_decref(lim);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, lim);
}

#define QUOTA_SCHEMA                                                                               \
    "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/QuotaLimits\"}}}"

const char td__quota_schemas[] =
    "{\"QuotaLimits\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"training_minutes\": {\"type\": [\"integer\", \"null\"], \"description\": \"a calendar "
    "month (UTC); null: no limit\"}, \"concurrent_jobs\": {\"type\": [\"integer\", \"null\"]}, "
    "\"models\": {\"type\": [\"integer\", \"null\"]}, \"storage_mb\": {\"type\": [\"integer\", "
    "\"null\"]}}},"
    " \"QuotaUsage\": {\"type\": \"object\", \"description\": \"per quota: limit (null: none), "
    "used, from (which class or the default); training_minutes_reset_at\"}}";

const td__route td__routes_quota[] = {
    {"GET", "/api/v1/users/me/quota", get_my_quota, TD__ALLOW_USERS, TD__BODY_NONE,
     "Your quotas, what you use of them, where they come from and when training minutes reset",
     "{\"responses\": {\"200\": {\"description\": \"quotas and usage\", \"content\": "
     "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/QuotaUsage\"}}}}}}"},
    {"GET", "/api/v1/quotas/default", get_default_quota, TD__ALLOW_STAFF, TD__BODY_NONE,
     "The quota of learners in no class",
     "{\"responses\": {\"200\": {\"description\": \"the default\", \"content\": " QUOTA_SCHEMA
     "}}}"},
    {"PUT", "/api/v1/quotas/default", put_default_quota, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Change the quota of learners in no class (admin)",
     "{\"requestBody\": {\"required\": true, \"content\": " QUOTA_SCHEMA "}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
