/*
 * alerts.c - drift alerts (telemetry.c raises them) listed and acknowledged, and their delivery
 * by webhook: an HTTP POST of a JSON body signed with HMAC-SHA256 of "<timestamp>.<body>" under
 * the webhook's secret, retried with exponential backoff until the receiver answers 2xx or the
 * attempts run out. Deliveries live in the database (a hub restart loses none); a thread of
 * each hub process sends the due ones (docs/drift.md, docs/api.md).
 */
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"
#include "trackday/crypto.h"
#include "trackday/drift.h"

/* Attempts before a delivery fails for good, and the backoff: 2^(attempt-1) s, at most this. */
#define WEBHOOK_MAX_ATTEMPTS 8
#define WEBHOOK_MAX_DELAY_S  300
#define WEBHOOK_TIMEOUT_S    10
/* While one hub process sends a delivery, others leave it alone this long. */
#define WEBHOOK_CLAIM_S 60

static json_t *alert_json(td_db_rows *row)
{
    /* id, device_id, bundle_sha256, check_name, level, value, detail, window_seq, state,
     * created_at, acknowledged_at, acknowledged_by, resolved_at */
    return json_pack(
        "{s:I,s:I,s:o,s:s,s:s,s:f,s:s,s:I,s:s,s:o,s:o,s:o,s:o}", "id",
        (json_int_t)td__db_int(row, 0), "device_id", (json_int_t)td__db_int(row, 1),
        "bundle_sha256", td__db_is_null(row, 2) ? json_null() : json_string(td__db_text(row, 2)),
        "check", td__db_text(row, 3), "level", td__db_text(row, 4), "value", td__db_real(row, 5),
        "detail", td__db_text(row, 6), "window_seq", (json_int_t)td__db_int(row, 7), "state",
        td__db_text(row, 8), "created_at", td__json_time(td__db_int(row, 9)), "acknowledged_at",
        td__db_is_null(row, 10) ? json_null() : td__json_time(td__db_int(row, 10)),
        "acknowledged_by",
        td__db_is_null(row, 11) ? json_null() : json_integer(td__db_int(row, 11)), "resolved_at",
        td__db_is_null(row, 12) ? json_null() : td__json_time(td__db_int(row, 12)));
}

#define ALERT_COLS                                                                                 \
    "id, device_id, bundle_sha256, check_name, level, value, detail, window_seq, state, "          \
    "created_at, acknowledged_at, acknowledged_by, resolved_at"

/* ---- alerts -----------------------------------------------------------------------------------
 */

static int list_alerts(td__req *r)
{
    int64_t limit, after, device;
    const char *state = td__req_query(r, "state");
    td_err err = {0};
    td_db_rows *rows;
    if (td__query_int(r, "limit", 100, 1, 1000, &limit) ||
        td__query_int(r, "after", 0, 0, INT64_MAX, &after) ||
        td__query_int(r, "device", 0, 0, INT64_MAX, &device))
        return 1;
    if (state && strcmp(state, "open") && strcmp(state, "acknowledged") &&
        strcmp(state, "resolved") && strcmp(state, "active"))
        return td__fail(
            r, 400, "bad_request",
            "state '%.20s': open, acknowledged, resolved or active (open or acknowledged)", state);
    int64_t mode = !state ? 0 : !strcmp(state, "active") ? 2 : 1;
    const char *pipeline = td__req_query(r, "pipeline");
    if (!pipeline)
        pipeline = "";
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " ALERT_COLS " FROM alerts WHERE (? = 0 OR id < ?) AND (? = 0 OR "
                          "device_id = ?) AND (? = 0 OR (? = 1 AND state = ?) OR (? = 2 AND state "
                          "IN ('open', 'acknowledged'))) AND (? = '' OR id IN (SELECT alert_id "
                          "FROM alert_pipelines WHERE state = ?)) ORDER BY id DESC LIMIT ?",
                          "iiiiiititti", after, after, device, device, mode, mode,
                          state ? state : "", mode, pipeline, pipeline, limit + 1);
    if (rc)
        return td__fail_err(r, rc, &err);
    json_t *arr = json_array();
    int64_t n = 0, last = 0;
    int more = 0;
    while ((rc = td__db_next(rows, &err)) > 0) {
        if (n == limit) {
            more = 1;
            break;
        }
        json_array_append_new(arr, alert_json(rows));
        last = td__db_int(rows, 0);
        n++;
    }
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    json_t *a;
    size_t i;
    json_array_foreach(arr, i, a) json_object_set_new(
        a, "pipeline",
        td__pipeline_json(td__req_db(r), json_integer_value(json_object_get(a, "id"))));
    return td__reply_json(r, 200,
                          json_pack("{s:o,s:o}", "alerts", arr, "next_after",
                                    more ? json_integer(last) : json_null()));
}

static int get_alert_reply(td__req *r, int64_t id, int status)
{
    td_err err = {0};
    td_db_rows *row;
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT " ALERT_COLS " FROM alerts WHERE id = ?", "i", id);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (rc == 0)
        return td__fail(r, 404, "not_found", "no alert %lld", (long long)id);
    json_t *j = alert_json(row);
    td__db_rows_free(row);
    json_object_set_new(j, "pipeline", td__pipeline_json(td__req_db(r), id));
    return td__reply_json(r, status, j);
}

static int get_alert(td__req *r)
{
    int64_t id;
    if (td__param_id(r, 0, "alert", &id))
        return 1;
    return get_alert_reply(r, id, 200);
}

static int ack_alert(td__req *r)
{
    int64_t id;
    td_err err = {0};
    if (td__param_id(r, 0, "alert", &id))
        return 1;
    td_db_conn *c = td__req_db(r);
    int rc = td__db_exec(c, &err,
                         "UPDATE alerts SET state = 'acknowledged', acknowledged_at = ?, "
                         "acknowledged_by = ? WHERE id = ? AND state = 'open'",
                         "iii", td__hub_now(r->hub), r->who.id, id);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (td__db_changes(c) == 0) {
        int64_t resolved = -1;
        rc = td__db_int_query(c, &resolved, -1, &err,
                              "SELECT CASE WHEN state = 'resolved' THEN 1 ELSE 0 END FROM alerts "
                              "WHERE id = ?",
                              "i", id);
        if (rc)
            return td__fail_err(r, rc, &err);
        if (resolved < 0)
            return td__fail(r, 404, "not_found", "no alert %lld", (long long)id);
        if (resolved == 1)
            return td__fail(r, 409, "conflict", "alert %lld is resolved already", (long long)id);
    }
    return get_alert_reply(r, id, 200);
}

/* ---- closing the loop: retrain from an alert ------------------------------------------------ */

/* The window that raised an alert (its check was over the threshold in it and in the one
 * before, which may still hold some frames of before the change), into cur. */
static int alert_windows(td_db_conn *c, int64_t dev, const char *sha, int64_t seq, td_summary *cur,
                         int *n, td_err *err)
{
    td_db_rows *rows;
    *n = 0;
    memset(cur, 0, sizeof(*cur));
    int rc = td__db_query(c, &rows, err,
                          "SELECT summary FROM telemetry_windows WHERE device_id = ? AND "
                          "bundle_sha256 = ? AND seq = ?",
                          "iti", dev, sha, seq);
    if (rc)
        return rc;
    while ((rc = td__db_next(rows, err)) > 0) {
        json_t *sj = td__unpack_json(td__db_text(rows, 0), err);
        td_summary s;
        memset(&s, 0, sizeof(s));
        rc = !sj ? TD_EFORMAT : td_summary_from_json(*n ? &s : cur, sj, err);
        json_decref(sj);
        if (!rc && *n)
            rc = td_summary_merge(cur, &s, err);
        if (*n)
            td_summary_free(&s);
        if (rc) {
            if (*n == 0)
                td_summary_free(cur);
            break;
        }
        (*n)++;
    }
    td__db_rows_free(rows);
    return rc < 0 ? rc : 0;
}

/*
 * POST /api/v1/alerts/{id}/retrain: from the alert's windows and its bundle's reference, the
 * domain randomization ranges that cover what the device saw (td_drift_suggest_dr), and a
 * training job that continues the given model version with them (docs/drift.md).
 */
static int retrain_with(td__req *r, json_t *o, int64_t id, json_t *spec);

static int retrain_alert(td__req *r)
{
    int64_t id;
    json_t *o;
    /* The body first (as POST /api/v1/jobs checks it again), then the alert. */
    int64_t model, version, iterations, seed, envs, laps;
    double minutes;
    const char *track;
    if (td__req_json(r, &o) ||
        td__only_keys(r, o,
                      "model,version,minutes,iterations,seed,envs,track,until_laps,then,gates") ||
        td__arg_int(r, o, "model", 1, 1, INT64_MAX, &model) ||
        td__arg_int(r, o, "version", 0, 1, INT64_MAX, &version) ||
        td__arg_num(r, o, "minutes", 1, 0.05, 1440, &minutes) ||
        td__arg_int(r, o, "iterations", 0, 1, 100000000, &iterations) ||
        td__arg_int(r, o, "seed", 0, 0, 0x7fffffff, &seed) ||
        td__arg_int(r, o, "envs", 0, 1, 256, &envs) ||
        td__arg_int(r, o, "until_laps", 0, 1, 100, &laps) ||
        td__arg_str(r, o, "track", 0, 100, &track))
        return 1;
    json_t *spec;
    if (td__pipeline_spec(r, o, &spec))
        return 1;
    if (td__param_id(r, 0, "alert", &id)) {
        json_decref(spec);
        return 1;
    }
    int rc = retrain_with(r, o, id, spec);
    json_decref(spec);
    return rc;
}

/* The retraining of alert id (the request o checked), its pipeline when spec says "then". */
static int retrain_with(td__req *r, json_t *o, int64_t id, json_t *spec)
{
    int64_t dev, seq, model = json_integer_value(json_object_get(o, "model"));
    td_err err = {0};
    td_db_rows *row;
    char sha[65], check[32], busy[32];
    td_db_conn *c = td__req_db(r);
    if (td__pipeline_busy(c, id, busy, sizeof(busy)))
        return td__fail(r, 409, "conflict",
                        "alert %lld's retraining is under way (%s): wait for it to end",
                        (long long)id, busy);
    int rc = td__db_query_row(c, &row, &err,
                              "SELECT device_id, bundle_sha256, window_seq, check_name FROM alerts "
                              "WHERE id = ?",
                              "i", id);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (rc == 0)
        return td__fail(r, 404, "not_found", "no alert %lld", (long long)id);
    dev = td__db_int(row, 0);
    snprintf(sha, sizeof(sha), "%s", td__db_is_null(row, 1) ? "" : td__db_text(row, 1));
    seq = td__db_int(row, 2);
    snprintf(check, sizeof(check), "%s", td__db_text(row, 3));
    td__db_rows_free(row);
    if (!sha[0])
        return td__fail(r, 409, "conflict",
                        "alert %lld names no bundle: nothing to compare its windows with",
                        (long long)id);
    td_summary ref, cur;
    int n = 0;
    rc = td__drift_reference(r->hub, c, sha, &ref, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    rc = alert_windows(c, dev, sha, seq, &cur, &n, &err);
    if (!rc && n == 0)
        rc = td_err_set(&err, TD_ENOENT, "the windows of alert %lld are gone", (long long)id);
    td_drift_dr_suggestion sug;
    if (!rc)
        rc = td_drift_suggest_dr(&ref, &cur, NULL, NULL, &sug, &err);
    td_summary_free(&ref);
    if (n)
        td_summary_free(&cur);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (sug.widened == 0)
        return td__fail(r, 409, "conflict",
                        "alert %lld (%s): device %lld's camera saw nothing outside domain "
                        "randomization's ranges (%s); retraining with wider randomization would "
                        "not help",
                        (long long)id, check, (long long)dev, sug.why);
    /* POST /api/v1/jobs's body, validated as that route does, with the ranges. */
    json_t *job = json_deep_copy(o);
    json_object_del(job, "then");
    json_object_del(job, "gates");
    json_object_set_new(job, "type", json_string("train"));
    json_object_set_new(job, "domain_randomization", td_dr_ranges_to_json(&sug.ranges));
    json_t *extra =
        json_pack("{s:{s:I,s:I,s:s,s:s,s:f,s:f,s:f}}", "retrain", "alert", (json_int_t)id, "device",
                  (json_int_t)dev, "check", check, "why", sug.why, "gain", sug.gain, "contrast",
                  sug.contrast, "edges", sug.edges);
    int64_t job_id = 0;
    rc = td__job_submit_id(r, job, extra, &job_id);
    json_decref(job);
    json_decref(extra);
    /* The reply (the job) is made; the pipeline that follows it is on the alert. */
    if (job_id && td__pipeline_start(r->hub, c, id, spec, model, job_id, &err))
        TD_WARN("hub: alert %lld: its pipeline was not recorded: %s", (long long)id, err.msg);
    return rc;
}

/* ---- webhooks ---------------------------------------------------------------------------------
 */

int td__webhook_queue(td_hub *h, td_db_conn *c, int64_t alert_id, const char *event, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(c, &row, err, "SELECT " ALERT_COLS " FROM alerts WHERE id = ?", "i",
                              alert_id);
    if (rc <= 0)
        return rc;
    json_t *a = alert_json(row);
    td__db_rows_free(row);
    json_t *body = json_pack("{s:s,s:o}", "event", event, "alert", a);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    rc =
        td__db_exec(c, err,
                    "INSERT INTO webhook_deliveries (webhook_id, alert_id, event, body, state, "
                    "attempts, next_attempt_at, created_at) SELECT id, ?, ?, ?, 'pending', 0, ?, ? "
                    "FROM webhooks",
                    "ittii", alert_id, event, text, td__hub_now(h), td__hub_now(h));
    free(text);
    return rc;
}

static int list_webhooks(td__req *r)
{
    td_err err = {0};
    td_db_rows *rows;
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT id, url, created_at FROM webhooks ORDER BY id", "");
    if (rc)
        return td__fail_err(r, rc, &err);
    json_t *arr = json_array();
    while ((rc = td__db_next(rows, &err)) > 0)
        json_array_append_new(arr, json_pack("{s:I,s:s,s:o}", "id", (json_int_t)td__db_int(rows, 0),
                                             "url", td__db_text(rows, 1), "created_at",
                                             td__json_time(td__db_int(rows, 2))));
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "webhooks", arr));
}

static int post_webhook(td__req *r)
{
    json_t *body;
    const char *url = NULL, *secret = NULL;
    td_err err = {0};
    if (td__req_json(r, &body) || td__only_keys(r, body, "url,secret") ||
        td__arg_str(r, body, "url", 1, 2000, &url) ||
        td__arg_str(r, body, "secret", 0, 200, &secret))
        return 1;
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return td__fail(r, 400, "bad_request", "url: http:// or https:// only");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
            return td__fail(r, 400, "bad_request", "url: no spaces, quotes or control characters");
    if (secret && strlen(secret) < 16)
        return td__fail(r, 400, "bad_request", "secret: at least 16 characters");
    char gen[80];
    if (!secret) {
        char hash[65];
        td__token_new("whsec", gen, sizeof(gen), hash);
        secret = gen;
    }
    int64_t id = 0, now = td__hub_now(r->hub);
    int rc =
        td__db_int_query(td__req_db(r), &id, 0, &err,
                         "INSERT INTO webhooks (url, secret, created_by, created_at) VALUES (?, "
                         "?, ?, ?) RETURNING id",
                         "ttii", url, secret, r->who.id, now);
    if (rc)
        return td__fail_err(r, rc, &err);
    /* The secret is shown once, here. */
    return td__reply_json(r, 201,
                          json_pack("{s:I,s:s,s:s,s:o}", "id", (json_int_t)id, "url", url, "secret",
                                    secret, "created_at", td__json_time(now)));
}

static int delete_webhook(td__req *r)
{
    int64_t id;
    td_err err = {0};
    if (td__param_id(r, 0, "webhook", &id))
        return 1;
    td_db_conn *c = td__req_db(r);
    int rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__db_exec(c, &err,
                         "UPDATE webhook_deliveries SET state = 'failed', last_error = 'webhook "
                         "deleted' WHERE webhook_id = ? AND state = 'pending'",
                         "i", id);
    if (!rc)
        rc = td__db_exec(c, &err, "DELETE FROM webhooks WHERE id = ?", "i", id);
    int64_t gone = rc ? 0 : td__db_changes(c);
    if (!rc && gone)
        rc = td__db_commit(c, &err);
    else
        td__db_rollback(c);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (!gone)
        return td__fail(r, 404, "not_found", "no webhook %lld", (long long)id);
    return td__reply_empty(r, 204);
}

static int list_deliveries(td__req *r)
{
    int64_t id;
    td_err err = {0};
    td_db_rows *rows;
    if (td__param_id(r, 0, "webhook", &id))
        return 1;
    int rc =
        td__db_query(td__req_db(r), &rows, &err,
                     "SELECT id, alert_id, event, state, attempts, last_status, last_error, "
                     "delivered_at, next_attempt_at FROM webhook_deliveries WHERE webhook_id = "
                     "? ORDER BY id DESC LIMIT 200",
                     "i", id);
    if (rc)
        return td__fail_err(r, rc, &err);
    json_t *arr = json_array();
    while ((rc = td__db_next(rows, &err)) > 0)
        json_array_append_new(
            arr,
            json_pack(
                "{s:I,s:I,s:s,s:s,s:I,s:o,s:s,s:o,s:o}", "id", (json_int_t)td__db_int(rows, 0),
                "alert_id", (json_int_t)td__db_int(rows, 1), "event", td__db_text(rows, 2), "state",
                td__db_text(rows, 3), "attempts", (json_int_t)td__db_int(rows, 4), "last_status",
                td__db_is_null(rows, 5) ? json_null() : json_integer(td__db_int(rows, 5)),
                "last_error", td__db_text(rows, 6), "delivered_at",
                td__db_is_null(rows, 7) ? json_null() : td__json_time(td__db_int(rows, 7)),
                "next_attempt_at",
                strcmp(td__db_text(rows, 3), "pending") ? json_null()
                                                        : td__json_time(td__db_int(rows, 8))));
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200,
                          json_pack("{s:I,s:o}", "webhook_id", (json_int_t)id, "deliveries", arr));
}

/* ---- delivery -----------------------------------------------------------------------------------
 */

void td__webhook_sign(const char *secret, int64_t ts, const char *body, char hex[65])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char prefix[32];
    int n = snprintf(prefix, sizeof(prefix), "%lld.", (long long)ts);
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)prefix, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    td_hex_encode(hex, mac, sizeof(mac));
}

static size_t discard(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

/* One POST; returns the HTTP status (0 when none) and a short error. */
static long post_once(const char *url, const char *secret, int64_t delivery, const char *event,
                      int64_t ts, const char *body, char *why, size_t cap)
{
    CURL *cu = curl_easy_init();
    if (!cu) {
        snprintf(why, cap, "curl_easy_init failed");
        return 0;
    }
    char sig[65], h1[128], h2[128], h3[160], h4[128];
    td__webhook_sign(secret, ts, body, sig);
    snprintf(h1, sizeof(h1), "X-Trackday-Event: %s", event);
    snprintf(h2, sizeof(h2), "X-Trackday-Delivery: %lld", (long long)delivery);
    snprintf(h3, sizeof(h3), "X-Trackday-Signature: sha256=%s", sig);
    snprintf(h4, sizeof(h4), "X-Trackday-Timestamp: %lld", (long long)ts);
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/json");
    hs = curl_slist_append(hs, h1);
    hs = curl_slist_append(hs, h2);
    hs = curl_slist_append(hs, h3);
    hs = curl_slist_append(hs, h4);
    hs = curl_slist_append(hs, "Expect:");
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(cu, CURLOPT_USERAGENT, "trackday-hub-webhook/1");
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
    long status = 0;
    CURLcode cc = curl_easy_perform(cu);
    if (cc == CURLE_OK)
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(why, cap, "%s", curl_easy_strerror(cc));
    if (cc == CURLE_OK && (status < 200 || status > 299))
        snprintf(why, cap, "HTTP %ld", status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(cu);
    return status;
}

typedef struct due {
    int64_t id, attempts;
    char *url, *secret, *event, *body;
} due;

/* Sends what is due; returns how many were attempted. */
int td__webhooks_deliver(td_hub *h, td_err *err)
{
    due d[16];
    memset(d, 0, sizeof(d));
    int n = 0;
    int64_t now = td__hub_now(h);
    td_db_conn *c = td__db_acquire(h->db);
    td_db_rows *rows;
    int rc = td__db_query(c, &rows, err,
                          "SELECT d.id, d.attempts, w.url, w.secret, d.event, d.body FROM "
                          "webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE "
                          "d.state = 'pending' AND d.next_attempt_at <= ? ORDER BY "
                          "d.next_attempt_at, d.id LIMIT 16",
                          "i", now);
    while (!rc && n < 16 && (rc = td__db_next(rows, err)) > 0) {
        d[n].id = td__db_int(rows, 0);
        d[n].attempts = td__db_int(rows, 1);
        d[n].url = td_strdup(td__db_text(rows, 2));
        d[n].secret = td_strdup(td__db_text(rows, 3));
        d[n].event = td_strdup(td__db_text(rows, 4));
        d[n].body = td_strdup(td__db_text(rows, 5));
        n++;
    }
    if (rc > 0)
        rc = 0;
    td__db_rows_free(rows);
    /* Claim each (another hub process may be looking at the same rows). */
    int claimed[16] = {0};
    for (int i = 0; i < n && rc >= 0; i++) {
        if (td__db_exec(
                c, NULL,
                "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ? AND state = "
                "'pending' AND attempts = ?",
                "iii", now + WEBHOOK_CLAIM_S, d[i].id, d[i].attempts) == 0)
            claimed[i] = td__db_changes(c) == 1;
    }
    td__db_release(h->db, c);
    int sent = 0;
    for (int i = 0; i < n; i++) {
        if (claimed[i] && d[i].url && d[i].secret && d[i].event && d[i].body && !h->stopping) {
            char why[256] = "";
            int64_t ts = td__hub_now(h);
            long status = post_once(d[i].url, d[i].secret, d[i].id, d[i].event, ts, d[i].body, why,
                                    sizeof(why));
            int64_t att = d[i].attempts + 1, t = td__hub_now(h);
            int ok = status >= 200 && status <= 299;
            int64_t delay = (int64_t)1 << (att - 1 < 20 ? att - 1 : 20);
            if (delay > WEBHOOK_MAX_DELAY_S)
                delay = WEBHOOK_MAX_DELAY_S;
            const char *state = ok                            ? "delivered"
                                : att >= WEBHOOK_MAX_ATTEMPTS ? "failed"
                                                              : "pending";
            c = td__db_acquire(h->db);
            td__db_exec(c, NULL,
                        "UPDATE webhook_deliveries SET state = ?, attempts = ?, last_status = ?, "
                        "last_error = ?, delivered_at = ?, next_attempt_at = ? WHERE id = ?",
                        "tiitnii", state, att, (int64_t)status, why, t + delay, d[i].id);
            if (ok)
                td__db_exec(c, NULL, "UPDATE webhook_deliveries SET delivered_at = ? WHERE id = ?",
                            "ii", t, d[i].id);
            td__db_release(h->db, c);
            sent++;
        }
        td_free(d[i].url);
        td_free(d[i].secret);
        td_free(d[i].event);
        td_free(d[i].body);
    }
    return rc < 0 ? rc : sent;
}

void *td__webhook_main(void *arg)
{
    td_hub *h = arg;
    uint64_t seen = 0;
    while (!h->stopping) {
        td_err err = {0};
        int rc = td__webhooks_deliver(h, &err);
        if (rc < 0)
            TD_WARN("hub: webhooks: %s", err.msg);
        if (rc > 0)
            continue; /* more may be due */
        td__hub_wait(h, &seen, 1.0);
    }
    return NULL;
}

#define ALERT_SCHEMA                                                                               \
    "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Alert\"}}}"

const char td__alerts_schemas[] =
    "{\"Alert\": {\"type\": \"object\", \"description\": \"id, device_id, bundle_sha256, check "
    "(input_drift, action_drift, confidence, latency, lap_time), level (warning, alert), value, "
    "detail, window_seq, state (open, acknowledged, resolved), created_at, acknowledged_at, "
    "acknowledged_by, resolved_at\"},"
    " \"Retrain\": {\"type\": \"object\", \"additionalProperties\": false, \"required\": "
    "[\"model\", \"minutes\"], \"properties\": {\"model\": {\"type\": \"integer\"}, "
    "\"version\": {\"type\": \"integer\"}, \"minutes\": {\"type\": \"number\"}, "
    "\"iterations\": {\"type\": \"integer\"}, \"seed\": {\"type\": \"integer\"}, "
    "\"envs\": {\"type\": \"integer\"}, \"track\": {\"type\": \"string\"}, "
    "\"until_laps\": {\"type\": \"integer\"}, \"then\": {\"type\": \"string\", \"enum\": "
    "[\"evaluate\", \"evaluate,canary\"]}, \"gates\": {\"type\": \"object\", "
    "\"additionalProperties\": false, \"properties\": {\"laps\": {\"type\": \"integer\"}, "
    "\"min_completion\": {\"type\": \"number\"}, \"max_lap_time_ratio\": {\"type\": "
    "\"number\"}}}}},"
    " \"Webhook\": {\"type\": \"object\", \"additionalProperties\": false, \"required\": "
    "[\"url\"], \"properties\": {\"url\": {\"type\": \"string\"}, \"secret\": {\"type\": "
    "\"string\", \"minLength\": 16}}}}";

const td__route td__routes_alerts[] = {
    {"GET", "/api/v1/alerts", list_alerts, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Drift alerts, newest first (?state=open|acknowledged|resolved|active, ?device=ID, "
     "?pipeline=STATE, ?after=ID, ?limit=N)",
     NULL},
    {"GET", "/api/v1/alerts/{id}", get_alert, TD__ALLOW_ADMIN, TD__BODY_NONE, "One alert", NULL},
    {"POST", "/api/v1/alerts/{id}/acknowledge", ack_alert, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Acknowledge an open alert (it stays until its check is ok again)",
     "{\"responses\": {\"200\": {\"description\": \"the alert\", \"content\": " ALERT_SCHEMA "}}}"},
    {"POST", "/api/v1/alerts/{id}/retrain", retrain_alert, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Retrain from an alert: a training job continuing a model version with domain "
     "randomization widened to cover what the device's camera saw (docs/drift.md)",
     "{\"requestBody\": {\"required\": true, \"content\": {\"application/json\": "
     "{\"schema\": {\"$ref\": \"#/components/schemas/Retrain\"}}}}, \"responses\": "
     "{\"201\": {\"description\": \"the training job (params.domain_randomization, "
     "params.retrain)\"}, \"409\": {\"description\": \"the alert's windows show no "
     "camera shift randomization covers\"}}}"},
    {"POST", "/api/v1/alerts/{id}/pipeline", td__pipeline_report, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "The admin-side signer's report on a retrained version that passed its gates: "
     "{\"state\": \"canary\", \"deployment\": ID} or {\"state\": \"failed\", \"reason\": "
     "TEXT} (docs/drift.md)",
     NULL},
    {"GET", "/api/v1/webhooks", list_webhooks, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Webhooks that receive alerts (their secrets are not shown)", NULL},
    {"POST", "/api/v1/webhooks", post_webhook, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Add a webhook: alerts are POSTed to url, signed with HMAC-SHA256 under the secret (shown "
     "once)",
     "{\"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\": "
     "{\"$ref\": \"#/components/schemas/Webhook\"}}}}}"},
    {"DELETE", "/api/v1/webhooks/{id}", delete_webhook, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Remove a webhook (its pending deliveries are dropped)", NULL},
    {"GET", "/api/v1/webhooks/{id}/deliveries", list_deliveries, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "A webhook's deliveries: state, attempts, last status and error", NULL},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
