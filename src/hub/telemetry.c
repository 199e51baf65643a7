/*
 * telemetry.c - devices' telemetry on the hub (issue 16, docs/drift.md): a device posts a
 * window (telemetry.h) to POST /api/v1/devices/{id}/telemetry; the hub stores it compactly
 * (the summary's JSON, zlib-compressed, base64), compares it with the reference statistics
 * of the bundle the device runs (read once from the bundle's blob and cached), advances the
 * device's drift monitor (states with hysteresis, the lap-time CUSUM) and turns changes of a
 * check's state into alerts (alerts.c delivers them by webhook). Also the windows of a device
 * and its drift report (JSON, or the static HTML report).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "hub/hub_internal.h"
#include "trackday/archive.h"
#include "trackday/crypto.h"
#include "trackday/drift.h"
#include "trackday/telemetry.h"

/* The largest summary JSON unpacked from storage (a camera model's window is ~15 KiB). */
#define PACK_MAX (4u << 20)

/* ---- compact storage: zlib + base64 ------------------------------------------------------ */

char *td__pack_json(const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    uLongf zn = compressBound((uLong)n);
    uint8_t *z = td_malloc(zn + 4);
    char *out = NULL;
    if (z && compress2(z + 4, &zn, (const Bytef *)text, (uLong)n, 9) == Z_OK) {
        /* The uncompressed length first (big-endian), so unpacking knows what to allocate. */
        z[0] = (uint8_t)(n >> 24);
        z[1] = (uint8_t)(n >> 16);
        z[2] = (uint8_t)(n >> 8);
        z[3] = (uint8_t)n;
        size_t cap = td_base64_len(zn + 4) + 1;
        out = td_malloc(cap);
        if (out && td_base64_encode(out, cap, z, zn + 4) != 0) {
            td_free(out);
            out = NULL;
        }
    }
    td_free(z);
    free(text);
    return out;
}

json_t *td__unpack_json(const char *packed, td_err *err)
{
    size_t len = strlen(packed), zn = 0;
    uint8_t *z = td_malloc(len / 4 * 3 + 4);
    json_t *j = NULL;
    if (!z) {
        td_err_set(err, TD_ENOMEM, "out of memory");
        return NULL;
    }
    if (td_base64_decode(z, len / 4 * 3 + 4, &zn, packed, len) != 0 || zn < 4) {
        td_free(z);
        td_err_set(err, TD_EFORMAT, "stored summary: bad encoding");
        return NULL;
    }
    uLongf n = ((uLongf)z[0] << 24) | ((uLongf)z[1] << 16) | ((uLongf)z[2] << 8) | z[3];
    char *text = n <= PACK_MAX ? td_malloc(n + 1) : NULL;
    uLongf got = n;
    if (text && uncompress((Bytef *)text, &got, z + 4, (uLong)(zn - 4)) == Z_OK && got == n) {
        json_error_t je;
        j = json_loadb(text, n, 0, &je);
    }
    if (!j)
        td_err_set(err, TD_EFORMAT, "stored summary: cannot be read back");
    td_free(text);
    td_free(z);
    return j;
}

/* ---- who may ------------------------------------------------------------------------------ */

/* The device of /api/v1/devices/{id}/...: the device itself or an admin (fleet.c's check; the
 * routes allow no other caller). Replies and returns 1 when the request must stop. */
static int device_param(td__req *r, int64_t *id)
{
    return td__device_self(r, id);
}

/* ---- references ---------------------------------------------------------------------------- */

/* The reference summary of the bundle whose file has SHA-256 sha: from the cache table, else
 * from the bundle's blob (its reference/stats.json, "evaluation"). TD_ENOENT when the hub has
 * no such bundle. */
int td__drift_reference(td_hub *h, td_db_conn *c, const char *sha, td_summary *ref, td_err *err)
{
    td_db_rows *row;
    memset(ref, 0, sizeof(*ref));
    int rc = td__db_query_row(c, &row, err, "SELECT summary FROM drift_references WHERE sha256 = ?",
                              "t", sha);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        json_t *j = td__unpack_json(td__db_text(row, 0), err);
        td__db_rows_free(row);
        if (!j)
            return TD_EFORMAT;
        rc = td_summary_from_json(ref, j, err);
        json_decref(j);
        return rc;
    }
    char path[1200];
    if (td__blob_path(h->data_dir, sha, path, sizeof(path)) || !td_path_exists(path))
        return td_err_set(err, TD_ENOENT, "no bundle with SHA-256 %.64s on this hub", sha);
    char *data = NULL;
    size_t len = 0;
    td_archive a;
    td_archive_limits lim;
    td_archive_limits_default(&lim);
    lim.max_entries = 32;
    td_archive_init(&a);
    rc = td_file_read(path, &data, &len, err);
    if (!rc)
        rc = td_archive_read_tar(&a, data, len, &lim, err);
    td_free(data);
    const td_archive_entry *e = rc ? NULL : td_archive_find(&a, "reference/stats.json");
    if (!rc && !e)
        rc = td_err_set(err, TD_EFORMAT, "bundle %.12s has no reference/stats.json", sha);
    json_t *j = NULL;
    if (!rc)
        rc = td_json_parse((const char *)e->data, e->size, "reference/stats.json", &j, err);
    td_archive_free(&a);
    const json_t *ev = j ? json_object_get(j, "evaluation") : NULL;
    if (!rc && !json_is_object(ev))
        rc = td_err_set(err, TD_EFORMAT, "bundle %.12s: no evaluation summary in its reference",
                        sha);
    if (!rc)
        rc = td_summary_from_json(ref, ev, err);
    if (!rc) {
        json_t *sj = td_summary_to_json(ref);
        char *packed = td__pack_json(sj);
        json_decref(sj);
        if (packed)
            td__db_exec(c, NULL,
                        "INSERT INTO drift_references (sha256, summary, created_at) VALUES (?, ?, "
                        "?) ON CONFLICT (sha256) DO NOTHING",
                        "tti", sha, packed, td__hub_now(h));
        td_free(packed);
    }
    json_decref(j);
    return rc;
}

/* ---- POST /api/v1/devices/{id}/telemetry -------------------------------------------------- */

/* The checks of a report, compact: {"input_drift": {"level", "value", "detail"}, ...}. */
static json_t *checks_json(const td_drift_report *rep)
{
    json_t *o = json_object();
    for (int i = 0; i < TD_DRIFT_N_CHECKS; i++) {
        const td_drift_check *k = &rep->checks[i];
        json_object_set_new(o, td_drift_check_name(i),
                            json_pack("{s:s,s:o,s:s}", "level", td_drift_level_name(k->level),
                                      "value",
                                      k->value == k->value ? json_real(k->value) : json_null(),
                                      "detail", k->detail));
    }
    return o;
}

/* The window of a request body: a telemetry document, or a bare summary as an agent may send
 * it ({...summary..., "window_s", "sha256"}). *have_seq is 0 when the body has no seq. */
static int window_of(td__req *r, json_t *body, td_telemetry *w, int *have_seq, td_err *err)
{
    *have_seq = 0;
    if (json_object_get(body, "format")) {
        *have_seq = json_object_get(body, "seq") != NULL;
        return td_telemetry_from_json(w, body, err);
    }
    if (!json_object_get(body, "histograms"))
        return td_err_set(err, TD_EFORMAT,
                          "a telemetry window (\"format\": \"trackday-telemetry\") or a summary "
                          "(\"histograms\") is expected");
    json_t *copy = json_deep_copy(body);
    double window_s = json_number_value(json_object_get(copy, "window_s"));
    const char *sha = json_string_value(json_object_get(copy, "sha256"));
    memset(w, 0, sizeof(*w));
    if (json_object_get(copy, "window_s") && !(window_s > 0 && window_s <= 86400)) {
        json_decref(copy);
        return td_err_set(err, TD_EFORMAT, "\"window_s\" must be a number in (0, 86400]");
    }
    if (sha && (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)) {
        json_decref(copy);
        return td_err_set(err, TD_EFORMAT, "\"sha256\" must be 64 lowercase hex digits");
    }
    if (sha)
        memcpy(w->bundle_sha256, sha, 65);
    json_object_del(copy, "window_s");
    json_object_del(copy, "sha256");
    int rc = td_summary_from_json(&w->summary, copy, err);
    json_decref(copy);
    if (rc)
        return rc;
    w->windows = 1;
    w->end_ms = td__hub_now(r->hub) * 1000;
    w->start_ms = w->end_ms - (int64_t)((window_s > 0 ? window_s : 60) * 1000);
    return 0;
}

/* Opens an alert (and its deliveries) or resolves the open ones of a check. */
static int alert_change(td_hub *h, td_db_conn *c, int64_t dev, const char *sha, int check,
                        td_drift_level from, const td_drift_check *k, int64_t seq, json_t *raised,
                        td_err *err)
{
    int64_t now = td__hub_now(h);
    const char *name = td_drift_check_name(check);
    /* Whatever was open for this check ends: the state changed. */
    td_db_rows *rows;
    int rc = td__db_query(c, &rows, err,
                          "SELECT id FROM alerts WHERE device_id = ? AND check_name = ? AND state "
                          "IN ('open', 'acknowledged')",
                          "it", dev, name);
    if (rc)
        return rc;
    int64_t ids[16];
    int n = 0;
    while ((rc = td__db_next(rows, err)) > 0)
        if (n < 16)
            ids[n++] = td__db_int(rows, 0);
    td__db_rows_free(rows);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n && !rc; i++) {
        rc = td__db_exec(c, err,
                         "UPDATE alerts SET state = 'resolved', resolved_at = ? WHERE id = ?", "ii",
                         now, ids[i]);
        if (!rc && k->level == TD_DRIFT_OK)
            rc = td__webhook_queue(h, c, ids[i], "alert.resolved", err);
    }
    if (rc || k->level == TD_DRIFT_OK)
        return rc;
    (void)from;
    int64_t id = 0;
    rc = td__db_int_query(c, &id, 0, err,
                          "INSERT INTO alerts (device_id, bundle_sha256, check_name, level, value, "
                          "detail, window_seq, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                          "'open', ?) RETURNING id",
                          "itttdtii", dev, sha[0] ? sha : NULL, name, td_drift_level_name(k->level),
                          k->value == k->value ? k->value : 0.0, k->detail, seq, now);
    if (rc)
        return rc;
    json_array_append_new(raised, json_integer(id));
    return td__webhook_queue(h, c, id, "alert.raised", err);
}

static int post_telemetry(td__req *r)
{
    int64_t dev, now = td__hub_now(r->hub);
    json_t *body;
    td_err err = {0};
    if (device_param(r, &dev) || td__req_json(r, &body))
        return 1;
    td_telemetry w;
    int have_seq;
    int rc = window_of(r, body, &w, &have_seq, &err);
    if (rc) {
        td_telemetry_free(&w);
        return td__fail(r, 400, "bad_request", "%s", err.msg);
    }
    td_db_conn *c = td__req_db(r);
    if ((rc = td__db_begin(c, 1, &err)) != 0) {
        td_telemetry_free(&w);
        return td__fail_err(r, rc, &err);
    }
    int64_t seq = (int64_t)w.seq;
    if (have_seq) {
        int64_t dup = 0;
        rc = td__db_int_query(
            c, &dup, 0, &err,
            "SELECT COUNT(*) FROM telemetry_windows WHERE device_id = ? AND seq = ?", "ii", dev,
            seq);
        if (!rc && dup) {
            td__db_rollback(c);
            td_telemetry_free(&w);
            return td__reply_json(r, 200,
                                  json_pack("{s:I,s:I,s:b}", "device_id", (json_int_t)dev, "seq",
                                            (json_int_t)seq, "duplicate", 1));
        }
    } else {
        rc = td__db_int_query(c, &seq, 0, &err,
                              "SELECT COALESCE(MAX(seq) + 1, 0) FROM telemetry_windows WHERE "
                              "device_id = ?",
                              "i", dev);
    }
    /* The reference, the monitor, the verdict. */
    td_summary ref;
    memset(&ref, 0, sizeof(ref));
    int have_ref = 0;
    char ref_note[1100] = "";
    if (!rc && w.bundle_sha256[0]) {
        td_err e2 = {0};
        int rr = td__drift_reference(r->hub, c, w.bundle_sha256, &ref, &e2);
        if (rr == 0)
            have_ref = 1;
        else if (rr == TD_ENOENT || rr == TD_EFORMAT)
            snprintf(ref_note, sizeof(ref_note), "%s: drift is not checked", e2.msg);
        else
            rc = rr, err = e2;
    } else if (!rc) {
        snprintf(ref_note, sizeof(ref_note),
                 "the window names no bundle (bundle_sha256): drift is not checked");
    }
    td_drift_report rep;
    memset(&rep, 0, sizeof(rep));
    td_drift_monitor mon;
    td_drift_monitor_init(&mon, NULL);
    td_drift_level before[TD_DRIFT_N_CHECKS] = {0};
    const char *level = "unknown";
    json_t *raised = json_array();
    if (!rc && have_ref) {
        td_db_rows *row;
        rc = td__db_query_row(c, &row, &err,
                              "SELECT state FROM drift_monitors WHERE device_id = ? AND "
                              "bundle_sha256 = ?",
                              "it", dev, w.bundle_sha256);
        if (rc > 0) {
            json_t *st = json_loads(td__db_text(row, 0), 0, NULL);
            td__db_rows_free(row);
            rc = st ? td_drift_monitor_from_json(&mon, st, &err) : TD_EFORMAT;
            json_decref(st);
        }
        for (int i = 0; i < TD_DRIFT_N_CHECKS; i++)
            before[i] = mon.hyst[i].level;
        if (!rc)
            rc = td_drift_monitor_step(&mon, &ref, &w.summary, &rep, &err);
        if (rc == TD_EINVAL) {
            /* A window of another model than the bundle's: refused, nothing stored. */
            td__db_rollback(c);
            td_summary_free(&ref);
            td_telemetry_free(&w);
            json_decref(raised);
            return td__fail(r, 400, "bad_request", "the window does not fit bundle %.12s: %s",
                            w.bundle_sha256, err.msg);
        }
        if (!rc) {
            level = td_drift_level_name(rep.level);
            json_t *st = td_drift_monitor_to_json(&mon);
            char *text = json_dumps(st, JSON_COMPACT);
            json_decref(st);
            rc = td__db_exec(c, &err,
                             "INSERT INTO drift_monitors (device_id, bundle_sha256, state, "
                             "updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (device_id, "
                             "bundle_sha256) DO UPDATE SET state = excluded.state, updated_at = "
                             "excluded.updated_at",
                             "itti", dev, w.bundle_sha256, text, now);
            free(text);
        }
        for (int i = 0; i < TD_DRIFT_N_CHECKS && !rc; i++)
            if (rep.checks[i].level != before[i])
                rc = alert_change(r->hub, c, dev, w.bundle_sha256, i, before[i], &rep.checks[i],
                                  seq, raised, &err);
    }
    /* The window, compact. */
    json_t *checks = have_ref && rep.features ? checks_json(&rep) : json_object();
    if (!rc) {
        json_t *sj = td_summary_to_json(&w.summary);
        char *packed = td__pack_json(sj);
        char *ctext = json_dumps(checks, JSON_COMPACT);
        json_decref(sj);
        rc = packed && ctext
                 ? td__db_exec(c, &err,
                               "INSERT INTO telemetry_windows (device_id, seq, "
                               "bundle_sha256, start_ms, end_ms, frames, summary, "
                               "level, checks, received_at) VALUES (?, ?, ?, ?, ?, "
                               "?, ?, ?, ?, ?)",
                               "iitiiittti", dev, seq, w.bundle_sha256[0] ? w.bundle_sha256 : NULL,
                               w.start_ms, w.end_ms, (int64_t)w.summary.frames, packed, level,
                               ctext, now)
                 : td_err_set(&err, TD_ENOMEM, "out of memory");
        td_free(packed);
        free(ctext);
    }
    if (!rc)
        rc = td__db_commit(c, &err);
    else
        td__db_rollback(c);
    td_drift_report_free(&rep);
    td_summary_free(&ref);
    td_telemetry_free(&w);
    if (rc) {
        json_decref(checks);
        json_decref(raised);
        return td__fail_err(r, rc, &err);
    }
    if (json_array_size(raised))
        td__hub_notify(r->hub);
    json_t *out =
        json_pack("{s:I,s:I,s:s,s:o,s:o}", "device_id", (json_int_t)dev, "seq", (json_int_t)seq,
                  "level", level, "checks", checks, "alerts_raised", raised);
    if (ref_note[0])
        json_object_set_new(out, "note", json_string(ref_note));
    return td__reply_json(r, 201, out);
}

/* ---- GET /api/v1/devices/{id}/telemetry ----------------------------------------------------- */

static int list_telemetry(td__req *r)
{
    int64_t dev, limit, after;
    td_err err = {0};
    td_db_rows *rows;
    if (device_param(r, &dev) || td__query_int(r, "limit", 100, 1, 1000, &limit) ||
        td__query_int(r, "after", -1, -1, INT64_MAX, &after))
        return 1;
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT seq, bundle_sha256, start_ms, end_ms, frames, level, checks, "
                          "received_at, LENGTH(summary) FROM telemetry_windows WHERE device_id = ? "
                          "AND seq > ? ORDER BY seq LIMIT ?",
                          "iii", dev, after, limit + 1);
    if (rc)
        return td__fail_err(r, rc, &err);
    json_t *arr = json_array();
    int64_t n = 0, last = -1;
    int more = 0;
    while ((rc = td__db_next(rows, &err)) > 0) {
        if (n == limit) {
            more = 1;
            break;
        }
        json_t *checks = json_loads(td__db_text(rows, 6), 0, NULL);
        json_array_append_new(
            arr,
            json_pack("{s:I,s:o,s:I,s:I,s:I,s:s,s:o,s:o,s:I}", "seq",
                      (json_int_t)td__db_int(rows, 0), "bundle_sha256",
                      td__db_is_null(rows, 1) ? json_null() : json_string(td__db_text(rows, 1)),
                      "start_ms", (json_int_t)td__db_int(rows, 2), "end_ms",
                      (json_int_t)td__db_int(rows, 3), "frames", (json_int_t)td__db_int(rows, 4),
                      "level", td__db_text(rows, 5), "checks", checks ? checks : json_object(),
                      "received_at", td__json_time(td__db_int(rows, 7)), "stored_bytes",
                      (json_int_t)td__db_int(rows, 8)));
        last = td__db_int(rows, 0);
        n++;
    }
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200,
                          json_pack("{s:I,s:o,s:o}", "device_id", (json_int_t)dev, "windows", arr,
                                    "next_after", more ? json_integer(last) : json_null()));
}

/* ---- GET /api/v1/devices/{id}/drift ---------------------------------------------------------- */

/* Each histogram's bins, the reference's and the current windows' side by side (for the
 * browser's charts): {"name": {"lo", "hi", "reference": [under, bins..., over], "current": [..]}}.
 */
static json_t *histograms_json(const td_summary *ref, const td_summary *cur)
{
    json_t *o = json_object();
    for (int i = 0; i < cur->n_hist; i++) {
        const td_hist *b = &cur->hist[i], *a = td_summary_find(ref, b->name);
        if (!a || a->n != b->n)
            continue;
        json_t *ra = json_array(), *ca = json_array();
        json_array_append_new(ra, json_integer((json_int_t)a->under));
        json_array_append_new(ca, json_integer((json_int_t)b->under));
        for (int k = 0; k < b->n; k++) {
            json_array_append_new(ra, json_integer((json_int_t)a->counts[k]));
            json_array_append_new(ca, json_integer((json_int_t)b->counts[k]));
        }
        json_array_append_new(ra, json_integer((json_int_t)a->over));
        json_array_append_new(ca, json_integer((json_int_t)b->over));
        json_object_set_new(o, b->name,
                            json_pack("{s:f,s:f,s:o,s:o}", "lo", b->lo, "hi", b->hi, "reference",
                                      ra, "current", ca));
    }
    return o;
}

static int get_drift(td__req *r)
{
    int64_t dev, nwin, with_hist;
    td_err err = {0};
    const char *format = td__req_query(r, "format");
    if (device_param(r, &dev) || td__query_int(r, "windows", 30, 1, 1000, &nwin) ||
        td__query_int(r, "histograms", 0, 0, 1, &with_hist))
        return 1;
    if (format && strcmp(format, "json") && strcmp(format, "html"))
        return td__fail(r, 400, "bad_request", "format '%.20s': json or html", format);
    td_db_conn *c = td__req_db(r);
    td_db_rows *rows;
    char sha[65] = "";
    int rc = td__db_query_row(c, &rows, &err,
                              "SELECT bundle_sha256 FROM telemetry_windows WHERE device_id = ? AND "
                              "bundle_sha256 IS NOT NULL ORDER BY seq DESC LIMIT 1",
                              "i", dev);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (rc == 0)
        return td__fail(r, 404, "not_found", "device %lld has sent no telemetry naming its bundle",
                        (long long)dev);
    snprintf(sha, sizeof(sha), "%s", td__db_text(rows, 0));
    td__db_rows_free(rows);
    td_summary ref;
    if ((rc = td__drift_reference(r->hub, c, sha, &ref, &err)) != 0)
        return td__fail_err(r, rc, &err);
    /* The last nwin windows of this bundle, oldest first. */
    rc = td__db_query(c, &rows, &err,
                      "SELECT seq, start_ms, end_ms, summary FROM (SELECT seq, start_ms, end_ms, "
                      "summary FROM telemetry_windows WHERE device_id = ? AND bundle_sha256 = ? "
                      "ORDER BY seq DESC LIMIT ?) t ORDER BY seq",
                      "iti", dev, sha, nwin);
    if (rc) {
        td_summary_free(&ref);
        return td__fail_err(r, rc, &err);
    }
    td_telemetry *ws = td_calloc((size_t)nwin, sizeof(*ws));
    int n = 0;
    while (ws && (rc = td__db_next(rows, &err)) > 0) {
        json_t *sj = td__unpack_json(td__db_text(rows, 3), &err);
        td_telemetry *w = &ws[n];
        if (!sj || td_summary_from_json(&w->summary, sj, &err) != 0) {
            json_decref(sj);
            rc = TD_EFORMAT;
            break;
        }
        json_decref(sj);
        w->seq = (uint64_t)td__db_int(rows, 0);
        w->start_ms = td__db_int(rows, 1);
        w->end_ms = td__db_int(rows, 2);
        w->windows = 1;
        snprintf(w->device, sizeof(w->device), "%lld", (long long)dev);
        n++;
    }
    td__db_rows_free(rows);
    td_telemetry merged;
    memset(&merged, 0, sizeof(merged));
    td_drift_report rep;
    memset(&rep, 0, sizeof(rep));
    td_drift_timeline tl;
    memset(&tl, 0, sizeof(tl));
    if (!ws)
        rc = td_err_set(&err, TD_ENOMEM, "out of memory");
    if (rc >= 0 && n > 0) {
        rc = td_telemetry_copy(&merged, &ws[0], &err);
        for (int i = 1; i < n && !rc; i++)
            rc = td_telemetry_merge(&merged, &ws[i], &err);
        if (!rc)
            rc = td_drift_compare(&ref, &merged.summary, NULL, &rep, &err);
        if (!rc)
            rc = td_drift_timeline_run(&ref, ws, n, NULL, &tl, &err);
    }
    if (rc >= 0 && !rc) {
        char title[64], cur[160], refd[160];
        snprintf(title, sizeof(title), "device %lld", (long long)dev);
        snprintf(cur, sizeof(cur), "the last %d telemetry windows of device %lld", n,
                 (long long)dev);
        snprintf(refd, sizeof(refd), "bundle %.12s, evaluation reference", sha);
        if (format && !strcmp(format, "html")) {
            td_drift_html h = {title, refd, cur, &ref, &merged.summary, &rep, &tl};
            char *html = NULL;
            size_t len = 0;
            rc = td_drift_html_render(&h, &html, &len, &err);
            if (!rc) {
                char disp[128];
                snprintf(disp, sizeof(disp), "attachment; filename=\"device-%lld-drift.html\"",
                         (long long)dev);
                td__req_add_header(r, "Content-Disposition", disp);
                td__reply_data(r, 200, "text/html; charset=utf-8", html, len);
            }
        } else {
            json_t *j = td_drift_report_to_json(&rep);
            json_object_set_new(j, "device_id", json_integer(dev));
            json_object_set_new(j, "bundle_sha256", json_string(sha));
            json_object_set_new(j, "windows", json_integer(n));
            json_object_set_new(j, "timeline", td_drift_timeline_to_json(&tl));
            if (with_hist)
                json_object_set_new(j, "histograms", histograms_json(&ref, &merged.summary));
            td__reply_json(r, 200, j);
        }
    }
    for (int i = 0; i < n; i++)
        td_telemetry_free(&ws[i]);
    td_free(ws);
    td_telemetry_free(&merged);
    td_drift_report_free(&rep);
    td_drift_timeline_free(&tl);
    td_summary_free(&ref);
    if (rc)
        return td__fail_err(r, rc < 0 ? rc : TD_EFORMAT, &err);
    if (n == 0)
        return td__fail(r, 404, "not_found", "device %lld has no windows of bundle %.12s",
                        (long long)dev, sha);
    return 0;
}

#define TELEMETRY_BODY                                                                             \
    "{\"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\": "     \
    "{\"$ref\": \"#/components/schemas/TelemetryWindow\"}}}}, \"responses\": {\"201\": "           \
    "{\"description\": \"stored; the drift checks' states and the alerts raised\"}, \"200\": "     \
    "{\"description\": \"a window already stored (same seq)\"}}}"

const char td__telemetry_schemas[] =
    "{\"TelemetryWindow\": {\"type\": \"object\", \"description\": \"docs/telemetry.md: format, "
    "version, device, deployment, bundle_id, bundle_sha256, seq, start_ms, end_ms, windows, "
    "summary (or a bare summary with window_s and sha256)\"}}";

const td__route td__routes_telemetry[] = {
    {"POST", "/api/v1/devices/{id}/telemetry", post_telemetry, TD__ALLOW_DEVICE | TD__ALLOW_ADMIN,
     TD__BODY_JSON,
     "Post a telemetry window (the device itself, or an admin): stored, compared with the "
     "bundle's reference, alerts raised",
     TELEMETRY_BODY},
    {"GET", "/api/v1/devices/{id}/telemetry", list_telemetry, TD__ALLOW_DEVICE | TD__ALLOW_ADMIN,
     TD__BODY_NONE, "A device's telemetry windows (?after=SEQ&limit=N) with their checks", NULL},
    {"GET", "/api/v1/devices/{id}/drift", get_drift, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "A device's drift report over its last windows (?windows=N, ?histograms=1 for every "
     "histogram's reference and current bins, ?format=html for the static report)",
     NULL},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
