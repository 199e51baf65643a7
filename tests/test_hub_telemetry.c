/*
 * test_hub_telemetry.c - telemetry on the hub (docs/api.md "Telemetry and drift", docs/drift.md):
 * a device posts windows, the hub stores them compactly and once per seq, compares them with
 * its bundle's reference and raises an alert when the light darkens; the alert is listed,
 * acknowledged and resolved when the windows are normal again; its webhook delivery is signed
 * with HMAC-SHA256 and retried until a local receiver (started by the test) accepts it; who may
 * post, hostile windows, windows of another model, the drift report as JSON and HTML.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>

#include "hub/hub_internal.h"
#include "hub_harness.h"
#include "trackday/agent.h"
#include "trackday/archive.h"
#include "trackday/bundle.h"
#include "trackday/crypto.h"
#include "trackday/telemetry.h"
#include "telemetry_fixture.h"

/* ---- a webhook receiver ------------------------------------------------------------------- */

#define RECV_MAX 32

typedef struct receiver {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;                /* requests received */
    int fail_first;       /* answer 500 to this many, then 204 */
    char *body[RECV_MAX]; /* malloc'd */
    char head[RECV_MAX][2048];
    double at[RECV_MAX];
    volatile int stop;
} receiver;

static void *recv_main(void *arg)
{
    receiver *rv = arg;
    while (!rv->stop) {
        int c = accept(rv->fd, NULL, NULL);
        if (c < 0)
            continue;
        char buf[65536];
        buf[0] = 0;
        size_t len = 0;
        char *end = NULL;
        while (len < sizeof(buf) - 1 && !(end = strstr(buf, "\r\n\r\n"))) {
            ssize_t k = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
            if (k <= 0)
                break;
            len += (size_t)k;
            buf[len] = 0;
        }
        if (!end) {
            close(c);
            continue;
        }
        const char *cl = strcasestr(buf, "Content-Length:");
        size_t want = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
        size_t head = (size_t)(end + 4 - buf);
        while (len - head < want && len < sizeof(buf) - 1) {
            ssize_t k = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
            if (k <= 0)
                break;
            len += (size_t)k;
        }
        buf[len] = 0;
        pthread_mutex_lock(&rv->mu);
        int i = rv->n;
        int status = i < rv->fail_first ? 500 : 204;
        if (i < RECV_MAX) {
            snprintf(rv->head[i], sizeof(rv->head[i]), "%.*s", (int)head, buf);
            rv->body[i] = strdup(buf + head);
            rv->at[i] = td_time_now();
            rv->n++;
        }
        pthread_cond_broadcast(&rv->cv);
        pthread_mutex_unlock(&rv->mu);
        char reply[128];
        int n = snprintf(reply, sizeof(reply),
                         "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
        if (send(c, reply, (size_t)n, MSG_NOSIGNAL) < 0)
            perror("receiver send");
        close(c);
    }
    return NULL;
}

static void recv_start(receiver *rv, int fail_first)
{
    memset(rv, 0, sizeof(*rv));
    rv->fail_first = fail_first;
    pthread_mutex_init(&rv->mu, NULL);
    pthread_cond_init(&rv->cv, NULL);
    rv->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TD_ASSERT(bind(rv->fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    TD_ASSERT(listen(rv->fd, 16) == 0);
    socklen_t al = sizeof(a);
    getsockname(rv->fd, (struct sockaddr *)&a, &al);
    rv->port = ntohs(a.sin_port);
    struct timeval tv = {0, 200000};
    setsockopt(rv->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    pthread_create(&rv->th, NULL, recv_main, rv);
}

/* Waits until n requests arrived (at most timeout_s). */
static int recv_wait(receiver *rv, int n, double timeout_s)
{
    double t0 = td_time_now();
    pthread_mutex_lock(&rv->mu);
    while (rv->n < n && td_time_now() - t0 < timeout_s) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&rv->cv, &rv->mu, &ts);
    }
    int got = rv->n;
    pthread_mutex_unlock(&rv->mu);
    return got;
}

static void recv_stop(receiver *rv)
{
    rv->stop = 1;
    pthread_join(rv->th, NULL);
    close(rv->fd);
    for (int i = 0; i < rv->n; i++)
        free(rv->body[i]);
}

/* ---- a device, a bundle, windows ------------------------------------------------------------ */

/* A device token for device id (what fleet's registration issues), inserted as the hub keeps
 * tokens: its SHA-256. */
static void device_token(hub_server *s, int64_t id, char *tok, size_t cap)
{
    char path[700], hash[65];
    td_db *db;
    td_err err;
    snprintf(tok, cap, "tddev_%lld_%u%u", (long long)id, (unsigned)getpid(), (unsigned)random());
    td__token_hash(tok, hash);
    /* The hub's database: PostgreSQL when the test runs under tests/with-pg.sh. */
    const char *pg = getenv("TRACKDAY_HUB_DB");
    snprintf(path, sizeof(path), "%s", pg && *pg ? pg : "");
    if (!path[0])
        snprintf(path, sizeof(path), "%s/hub.db", s->data);
    TD_ASSERT_OK(td__db_open(&db, path, 1, &err));
    td_db_conn *c = td__db_acquire(db);
    TD_ASSERT_OK(td__db_exec(c, &err,
                             "INSERT INTO tokens (hash, kind, device_id, created_at) VALUES (?, "
                             "'device', ?, ?)",
                             "tii", hash, id, (int64_t)time(NULL)));
    td__db_release(db, c);
    td__db_close(db);
}

static void frames(td_summary *s, td_rng *r, int n, double light)
{
    frames_gain(s, r, n, light, 10.0, 1.0);
}

/* A bundle as the hub keeps it: a blob named by its SHA-256 (only reference/stats.json is
 * read by drift checks). Returns its SHA-256 in sha. */
static void store_bundle(hub_server *s, char sha[65])
{
    td_summary_layout l;
    td_summary ev;
    td_err err;
    td_rng r;
    layout_of(&l);
    td_rng_seed(&r, 3, 3);
    TD_ASSERT_OK(td_summary_init(&ev, &l, &err));
    frames(&ev, &r, 1800, 120);
    json_t *ref = json_pack("{s:s,s:i,s:o}", "format", "trackday-reference", "version", 1,
                            "evaluation", td_summary_to_json(&ev));
    char *text = json_dumps(ref, JSON_COMPACT);
    td_archive a;
    td_archive_init(&a);
    TD_ASSERT_OK(td_archive_add(&a, "reference/stats.json", text, strlen(text), &err));
    uint8_t *tar;
    size_t tlen;
    TD_ASSERT_OK(td_archive_to_tar(&a, &tar, &tlen, &err));
    td_sha256_hex(sha, tar, tlen);
    char path[800];
    snprintf(path, sizeof(path), "%s/blobs/%.2s", s->data, sha);
    TD_ASSERT_OK(td_mkdir_p(path, &err));
    snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", s->data, sha, sha);
    TD_ASSERT_OK(td_file_write_atomic(path, tar, tlen, &err));
    td_free(tar);
    td_archive_free(&a);
    free(text);
    json_decref(ref);
    td_summary_free(&ev);
}

/* A window's JSON (td_free): 900 frames around brightness light, every pixel times gain (the
 * camera's lighting gain, sim/camera.c). */
static char *window_json_gain(td_rng *r, int64_t seq, const char *sha, double light, double gain)
{
    td_summary_layout l;
    td_telemetry w;
    td_err err;
    layout_of(&l);
    TD_ASSERT_OK(td_telemetry_begin(&w, &l, "car-7", NULL, 1796582615000 + seq * 60000, &err));
    w.seq = (uint64_t)seq;
    if (sha)
        snprintf(w.bundle_sha256, sizeof(w.bundle_sha256), "%s", sha);
    frames_gain(&w.summary, r, 900, light, 10.0, gain);
    td_telemetry_end(&w, 1796582615000 + (seq + 1) * 60000);
    char *s = td_telemetry_dumps(&w);
    td_telemetry_free(&w);
    return s;
}

static char *window_json(td_rng *r, int64_t seq, const char *sha, double light)
{
    return window_json_gain(r, seq, sha, light, 1.0);
}

static long post_window(hub_server *s, hub_resp *out, const char *tok, int64_t dev,
                        const char *body)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/devices/%lld/telemetry", (long long)dev);
    return hub_json(s, out, "POST", path, tok, body);
}

static const char *check_level(const hub_resp *r, const char *check)
{
    const char *l = json_string_value(
        json_object_get(json_object_get(json_object_get(r->json, "checks"), check), "level"));
    return l ? l : "";
}

TD_TEST(windows_alert_on_darker_light_and_the_webhook_is_signed_and_retried)
{
    hub_server s;
    hub_resp r;
    receiver rv;
    char tok[128], sha[65], body[512];
    td_rng rng;
    td_rng_seed(&rng, 9, 9);
    hub_start(&s);
    recv_start(&rv, 2); /* the first two deliveries fail with 500 */
    device_token(&s, 7, tok, sizeof(tok));
    store_bundle(&s, sha);
    snprintf(body, sizeof(body),
             "{\"url\":\"http://127.0.0.1:%d/hook\",\"secret\":\"0123456789abcdef-secret\"}",
             rv.port);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", "/api/v1/webhooks", s.admin, body), 201);
    int64_t hook = json_integer_value(json_object_get(r.json, "id"));
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "secret")),
                    "0123456789abcdef-secret");
    hub_resp_free(&r);
    /* 8 windows like the reference: stored, ok, no alert. */
    size_t raw_bytes = 0;
    for (int w = 0; w < 8; w++) {
        char *j = window_json(&rng, w, sha, 120);
        raw_bytes += strlen(j);
        TD_ASSERT_EQ(post_window(&s, &r, tok, 7, j), 201);
        TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "level")), "ok");
        TD_ASSERT_EQ((int)json_array_size(json_object_get(r.json, "alerts_raised")), 0);
        hub_resp_free(&r);
        if (w == 7) {
            /* The same seq again (a retried post): not stored twice. */
            TD_ASSERT_EQ(post_window(&s, &r, tok, 7, j), 200);
            TD_ASSERT(json_is_true(json_object_get(r.json, "duplicate")));
            hub_resp_free(&r);
        }
        td_free(j);
    }
    /* Darker light: the input check alerts on the second window. */
    int64_t alert_id = 0;
    for (int w = 8; w < 11; w++) {
        char *j = window_json(&rng, w, sha, 70);
        TD_ASSERT_EQ(post_window(&s, &r, tok, 7, j), 201);
        if (w == 8)
            TD_ASSERT_STREQ(check_level(&r, "input_drift"), "ok");
        if (w == 9) {
            TD_ASSERT_STREQ(check_level(&r, "input_drift"), "alert");
            TD_ASSERT_EQ((int)json_array_size(json_object_get(r.json, "alerts_raised")), 1);
            alert_id =
                json_integer_value(json_array_get(json_object_get(r.json, "alerts_raised"), 0));
        }
        TD_ASSERT_STREQ(check_level(&r, "lap_time"), "ok");
        hub_resp_free(&r);
        td_free(j);
    }
    TD_ASSERT_GT(alert_id, 0);
    /* Listed, open, naming the check and the feature. */
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/alerts?state=open&device=7", s.admin, NULL), 200);
    json_t *alerts = json_object_get(r.json, "alerts");
    TD_ASSERT_EQ((int)json_array_size(alerts), 1);
    json_t *a0 = json_array_get(alerts, 0);
    TD_ASSERT_STREQ(json_string_value(json_object_get(a0, "check")), "input_drift");
    TD_ASSERT_STREQ(json_string_value(json_object_get(a0, "level")), "alert");
    TD_ASSERT_CONTAINS(json_string_value(json_object_get(a0, "detail")), "camera.");
    TD_ASSERT_EQ(json_integer_value(json_object_get(a0, "window_seq")), 9);
    hub_resp_free(&r);
    /* Stored compactly: the windows take less than half of what was posted. */
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/devices/7/telemetry", tok, NULL), 200);
    json_t *ws = json_object_get(r.json, "windows");
    TD_ASSERT_EQ((int)json_array_size(ws), 11);
    size_t stored = 0;
    for (size_t i = 0; i < 8; i++)
        stored +=
            (size_t)json_integer_value(json_object_get(json_array_get(ws, i), "stored_bytes"));
    TD_ASSERT_LT(stored * 2, raw_bytes);
    hub_resp_free(&r);
    /* The webhook: 500, 500, then accepted; each attempt signed. */
    TD_ASSERT_GE(recv_wait(&rv, 3, 60), 3);
    for (int i = 0; i < 3; i++) {
        const char *h = rv.head[i];
        TD_ASSERT_CONTAINS(h, "POST /hook HTTP/1.1");
        TD_ASSERT_CONTAINS(h, "X-Trackday-Event: alert.raised");
        const char *ts = strstr(h, "X-Trackday-Timestamp: "),
                   *sg = strstr(h, "X-Trackday-Signature: sha256=");
        TD_ASSERT(ts && sg);
        long long t = strtoll(ts + 22, NULL, 10);
        /* The receiver's own HMAC-SHA256 of "<timestamp>.<body>" with the secret. */
        char msg[65536];
        snprintf(msg, sizeof(msg), "%lld.%s", t, rv.body[i]);
        unsigned char mac[32];
        crypto_auth_hmacsha256_state st;
        const char *secret = "0123456789abcdef-secret";
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
        crypto_auth_hmacsha256_final(&st, mac);
        char hex[65];
        td_hex_encode(hex, mac, 32);
        TD_ASSERT_MSG(!strncmp(sg + 29, hex, 64), "signature %.64s, expected %s", sg + 29, hex);
        json_t *b = json_loads(rv.body[i], 0, NULL);
        TD_ASSERT(b != NULL);
        TD_ASSERT_STREQ(json_string_value(json_object_get(b, "event")), "alert.raised");
        TD_ASSERT_EQ(json_integer_value(json_object_get(json_object_get(b, "alert"), "id")),
                     alert_id);
        json_decref(b);
    }
    /* Retried with backoff (1 s, then 2 s, whole seconds of the hub's clock). */
    TD_ASSERT_GE(rv.at[2] - rv.at[0], 1.0);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/webhooks/%lld/deliveries", (long long)hook);
    /* The hub records the success after the receiver answered: poll for it. */
    char dstate[32] = "";
    for (int k = 0; k < 100; k++) {
        TD_ASSERT_EQ(hub_json(&s, &r, "GET", path, s.admin, NULL), 200);
        json_t *d0 = json_array_get(json_object_get(r.json, "deliveries"), 0);
        const char *st = json_string_value(json_object_get(d0, "state"));
        snprintf(dstate, sizeof(dstate), "%s", st ? st : "");
        if (!strcmp(dstate, "delivered")) {
            TD_ASSERT_EQ(json_integer_value(json_object_get(d0, "attempts")), 3);
            TD_ASSERT_EQ(json_integer_value(json_object_get(d0, "last_status")), 204);
            hub_resp_free(&r);
            break;
        }
        hub_resp_free(&r);
        recv_wait(&rv, 99, 0.1);
    }
    TD_ASSERT_STREQ(dstate, "delivered");
    /* Acknowledge: twice is fine. */
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld/acknowledge", (long long)alert_id);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", path, s.admin, NULL), 200);
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "state")), "acknowledged");
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", path, s.admin, NULL), 200);
    hub_resp_free(&r);
    /* Normal light again: the state falls a level after 3 windows, to ok after 3 more; the
     * alert is resolved. */
    for (int w = 11; w < 17; w++) {
        char *j = window_json(&rng, w, sha, 120);
        TD_ASSERT_EQ(post_window(&s, &r, tok, 7, j), 201);
        hub_resp_free(&r);
        td_free(j);
    }
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/alerts?state=active&device=7", s.admin, NULL),
                 200);
    TD_ASSERT_EQ((int)json_array_size(json_object_get(r.json, "alerts")), 0);
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/alerts?device=7", s.admin, NULL), 200);
    alerts = json_object_get(r.json, "alerts");
    TD_ASSERT_GE((int)json_array_size(alerts), 1);
    for (size_t i = 0; i < json_array_size(alerts); i++)
        TD_ASSERT_STREQ(json_string_value(json_object_get(json_array_get(alerts, i), "state")),
                        "resolved");
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld/acknowledge", (long long)alert_id);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", path, s.admin, NULL), 409);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "resolved already");
    hub_resp_free(&r);
    /* The drift report of the device: JSON with its timeline, and the HTML page. */
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/devices/7/drift?windows=17", s.admin, NULL), 200);
    TD_ASSERT_EQ(json_integer_value(json_object_get(
                     json_object_get(json_object_get(r.json, "timeline"), "first_alert_window"),
                     "input_drift")),
                 9);
    hub_resp_free(&r);
    /* With the bins: the reference's and the current windows' brightness side by side. */
    TD_ASSERT_EQ(
        hub_json(&s, &r, "GET", "/api/v1/devices/7/drift?windows=3&histograms=1", s.admin, NULL),
        200);
    json_t *bh = json_object_get(json_object_get(r.json, "histograms"), "camera.brightness");
    TD_ASSERT_EQ((int)json_array_size(json_object_get(bh, "reference")), 32 + 2);
    TD_ASSERT_EQ((int)json_array_size(json_object_get(bh, "current")), 32 + 2);
    json_int_t total = 0;
    for (size_t k = 0; k < 34; k++)
        total += json_integer_value(json_array_get(json_object_get(bh, "current"), k));
    TD_ASSERT_EQ(total, 3 * 900);
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/devices/7/drift?format=html", s.admin, NULL),
                 200);
    TD_ASSERT_CONTAINS(r.headers, "text/html");
    TD_ASSERT_CONTAINS(r.headers, "device-7-drift.html");
    TD_ASSERT_CONTAINS(r.body, "<h1>Drift report: device 7</h1>");
    TD_ASSERT_CONTAINS(r.body, "input_drift per window");
    hub_resp_free(&r);
    recv_stop(&rv);
    hub_stop(&s);
}

TD_TEST(who_may_post_and_what_is_refused)
{
    hub_server s;
    hub_resp r;
    char tok[128], tok8[128], learner[200], sha[65];
    td_rng rng;
    td_rng_seed(&rng, 4, 4);
    hub_start(&s);
    device_token(&s, 7, tok, sizeof(tok));
    device_token(&s, 8, tok8, sizeof(tok8));
    hub_user(&s, "lea", "learner", learner, sizeof(learner));
    store_bundle(&s, sha);
    char *j = window_json(&rng, 0, sha, 120);
    /* Another device's path: 404 as if it did not exist; a learner: 403; nobody: 401. */
    TD_ASSERT_EQ(post_window(&s, &r, tok8, 7, j), 404);
    TD_ASSERT_STREQ(hub_err_code(&r), "not_found");
    hub_resp_free(&r);
    TD_ASSERT_EQ(post_window(&s, &r, learner, 7, j), 403);
    hub_resp_free(&r);
    TD_ASSERT_EQ(post_window(&s, &r, NULL, 7, j), 401);
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/alerts", tok, NULL), 403);
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/devices/7/telemetry", tok8, NULL), 404);
    hub_resp_free(&r);
    /* Hostile windows: 400 naming the problem, nothing stored. */
    static const struct {
        const char *from, *to, *msg;
    } bad[] = {
        {"\"version\":1", "\"version\":9", "version 9 is not supported"},
        {"\"total\":900", "\"total\":901", "counts add up to 900, total says 901"},
        {"\"format\":\"trackday-telemetry\"", "\"format\":\"nope\"", "\"format\" must be"},
        {"\"frames\":900", "\"frames\":\"x\"", "\"frames\" must be a non-negative integer"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *p = strstr(j, bad[i].from);
        TD_ASSERT_MSG(p != NULL, "%s", bad[i].from);
        size_t n = strlen(j) + 64;
        char *b = malloc(n);
        snprintf(b, n, "%.*s%s%s", (int)(p - j), j, bad[i].to, p + strlen(bad[i].from));
        TD_ASSERT_EQ(post_window(&s, &r, tok, 7, b), 400);
        TD_ASSERT_MSG(strstr(hub_err_msg(&r), bad[i].msg) != NULL, "'%s' lacks '%s'",
                      hub_err_msg(&r), bad[i].msg);
        hub_resp_free(&r);
        free(b);
    }
    TD_ASSERT_EQ(post_window(&s, &r, tok, 7, "[1,2]"), 400);
    hub_resp_free(&r);
    /* A window of another model than the bundle's. */
    td_summary_layout l;
    layout_of(&l);
    l.n_actions = 3;
    td_telemetry w;
    td_err err;
    TD_ASSERT_OK(td_telemetry_begin(&w, &l, "car-7", NULL, 0, &err));
    snprintf(w.bundle_sha256, sizeof(w.bundle_sha256), "%s", sha);
    w.seq = 5;
    char *other = td_telemetry_dumps(&w);
    td_telemetry_free(&w);
    TD_ASSERT_EQ(post_window(&s, &r, tok, 7, other), 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "does not fit bundle");
    hub_resp_free(&r);
    td_free(other);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/devices/7/telemetry", tok, NULL), 200);
    TD_ASSERT_EQ((int)json_array_size(json_object_get(r.json, "windows")), 0);
    hub_resp_free(&r);
    /* A window naming no bundle, or one the hub lacks: stored, not checked, and said so. */
    char *nob = window_json(&rng, 1, NULL, 120);
    TD_ASSERT_EQ(post_window(&s, &r, tok, 7, nob), 201);
    TD_ASSERT_CONTAINS(json_string_value(json_object_get(r.json, "note")), "names no bundle");
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "level")), "unknown");
    hub_resp_free(&r);
    td_free(nob);
    char *unk = window_json(
        &rng, 2, "00000000000000000000000000000000000000000000000000000000000000aa", 120);
    TD_ASSERT_EQ(post_window(&s, &r, tok, 7, unk), 201);
    TD_ASSERT_CONTAINS(json_string_value(json_object_get(r.json, "note")),
                       "no bundle with SHA-256");
    hub_resp_free(&r);
    td_free(unk);
    /* An agent's bare summary (window_s, sha256): accepted, numbered after the last window. */
    json_t *win = json_loads(j, 0, NULL), *bare = json_deep_copy(json_object_get(win, "summary"));
    json_object_set_new(bare, "window_s", json_real(60));
    json_object_set_new(bare, "sha256", json_string(sha));
    char *bt = json_dumps(bare, JSON_COMPACT);
    TD_ASSERT_EQ(post_window(&s, &r, tok, 7, bt), 201);
    TD_ASSERT_EQ(json_integer_value(json_object_get(r.json, "seq")), 3);
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "level")), "ok");
    hub_resp_free(&r);
    free(bt);
    json_decref(bare);
    json_decref(win);
    /* Webhooks: only http(s), a secret long enough; the secret is never listed. */
    TD_ASSERT_EQ(
        hub_json(&s, &r, "POST", "/api/v1/webhooks", s.admin, "{\"url\":\"file:///etc/passwd\"}"),
        400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "http:// or https://");
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", "/api/v1/webhooks", s.admin,
                          "{\"url\":\"http://127.0.0.1:9/x\",\"secret\":\"short\"}"),
                 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "at least 16");
    hub_resp_free(&r);
    TD_ASSERT_EQ(
        hub_json(&s, &r, "POST", "/api/v1/webhooks", s.admin, "{\"url\":\"http://127.0.0.1:9/x\"}"),
        201);
    TD_ASSERT_CONTAINS(json_string_value(json_object_get(r.json, "secret")), "whsec_");
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/webhooks", s.admin, NULL), 200);
    TD_ASSERT_NOT_CONTAINS(r.body, "whsec_");
    TD_ASSERT_CONTAINS(r.body, "http://127.0.0.1:9/x");
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/webhooks", learner, NULL), 403);
    hub_resp_free(&r);
    td_free(j);
    hub_stop(&s);
}

/* Closing the loop (issue 16 item 4): a device whose room got darker alerts; the alert starts a
 * training job that continues the deployed model's version with domain randomization widened to
 * the lighting the device saw; a worker trains it and the model's next version holds the widened
 * ranges in its training_params.yaml and continues the version's iterations. */
/* The deployed model: pushed, then version 2 trained one iteration by a job on a worker
 * (returned: the test stops it). */
static pid_t deployed_model(hub_server *s, long long *m, char *wtok, size_t cap)
{
    char body[200];
    *m = hub_push_init(s, s->admin, "car", NULL);
    snprintf(body, sizeof(body),
             "{\"type\":\"train\",\"model\":%lld,\"minutes\":5,\"iterations\":1,\"seed\":1}", *m);
    long long j1 = hub_submit(s, s->admin, body);
    pid_t w = hub_worker(s, "w1", wtok, cap, NULL);
    char *ev = hub_wait_event(s, s->admin, j1, "end", NULL, 300);
    TD_ASSERT_CONTAINS(ev, "end {\"state\":\"succeeded\"");
    free(ev);
    return w;
}

TD_TEST(an_alert_retrains_the_model_with_randomization_widened_to_what_the_car_saw)
{
    hub_server s;
    hub_resp r;
    char tok[128], sha[65], body[512], path[256], wtok[200] = "";
    td_rng rng;
    td_rng_seed(&rng, 11, 11);
    hub_start(&s);
    device_token(&s, 7, tok, sizeof(tok));
    store_bundle(&s, sha);
    /* The deployed model: version 2, trained one iteration by a job. */
    long long m;
    pid_t w = deployed_model(&s, &m, wtok, sizeof(wtok));
    /* A lap-time-free, camera-only shift: the room at half the light (every pixel x 0.5). */
    for (int k = 0; k < 8; k++) {
        char *j = window_json(&rng, k, sha, 120);
        TD_ASSERT_EQ(post_window(&s, &r, tok, 7, j), 201);
        hub_resp_free(&r);
        td_free(j);
    }
    int64_t alert = 0;
    for (int k = 8; k < 10; k++) {
        char *j = window_json_gain(&rng, k, sha, 120, 0.5);
        TD_ASSERT_EQ(post_window(&s, &r, tok, 7, j), 201);
        if (k == 9) {
            TD_ASSERT_STREQ(check_level(&r, "input_drift"), "alert");
            alert = json_integer_value(json_array_get(json_object_get(r.json, "alerts_raised"), 0));
        }
        hub_resp_free(&r);
        td_free(j);
    }
    TD_ASSERT_GT(alert, 0);
    /* Refused: an unknown alert, an unknown key, ranges the renderer cannot draw. */
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", "/api/v1/alerts/999/retrain", s.admin,
                          "{\"model\":1,\"minutes\":1}"),
                 404);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "no alert 999");
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld/retrain", (long long)alert);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", path, s.admin, "{\"model\":1,\"minutes\":1,\"lr\":1}"),
                 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "lr");
    hub_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"type\":\"train\",\"model\":%lld,\"minutes\":1,\"domain_randomization\":"
             "{\"brightness\":[1.2,0.5]}}",
             m);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", "/api/v1/jobs", s.admin, body), 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "brightness [1.2, 0.5] must be a range");
    hub_resp_free(&r);
    /* The retraining job: version 2 continued, brightness widened down to about 0.5 / 1.15 over
     * the exposure's 0.8 (the estimate of the gain is 0.5), contrast as it was. */
    snprintf(body, sizeof(body), "{\"model\":%lld,\"minutes\":5,\"iterations\":1,\"seed\":2}", m);
    hub_json(&s, &r, "POST", path, s.admin, body);
    TD_ASSERT_MSG(r.status == 201, "retrain: %ld %s", r.status, r.body);
    long long j2 = json_integer_value(json_object_get(r.json, "id"));
    json_t *params = json_object_get(r.json, "params");
    TD_ASSERT_EQ(json_integer_value(json_object_get(json_object_get(r.json, "model"), "version")),
                 2);
    json_t *dr = json_object_get(params, "domain_randomization");
    double b0 = json_number_value(json_array_get(json_object_get(dr, "brightness"), 0));
    double c0 = json_number_value(json_array_get(json_object_get(dr, "contrast"), 0));
    double c1 = json_number_value(json_array_get(json_object_get(dr, "contrast"), 1));
    TD_ASSERT_MSG(b0 > 0.45 && b0 < 0.60, "brightness from %g", b0);
    TD_ASSERT_NEAR(c0, 0.75, 1e-9);
    TD_ASSERT_NEAR(c1, 1.25, 1e-9);
    json_t *rt = json_object_get(params, "retrain");
    TD_ASSERT_EQ(json_integer_value(json_object_get(rt, "alert")), alert);
    TD_ASSERT_STREQ(json_string_value(json_object_get(rt, "check")), "input_drift");
    TD_ASSERT_NEAR(json_number_value(json_object_get(rt, "gain")), 0.5, 0.05);
    hub_resp_free(&r);
    char *ev = hub_wait_event(&s, s.admin, j2, "end", NULL, 300);
    TD_ASSERT_CONTAINS(ev, "end {\"state\":\"succeeded\"");
    free(ev);
    hub_worker_stop(w, SIGTERM);
    /* Version 3: trained from version 2 (its iterations go on), with the widened ranges. */
    snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/3", m);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", path, s.admin, NULL), 200);
    TD_ASSERT_EQ(
        json_integer_value(json_object_get(json_object_get(r.json, "metrics"), "iteration")), 2);
    TD_ASSERT_EQ(json_integer_value(json_object_get(r.json, "job")), j2);
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/3/files/training_params.yaml", m);
    hub_req(&s, &r, "GET", path, s.admin, NULL, NULL, 0);
    TD_ASSERT_EQ(r.status, 200);
    TD_ASSERT_CONTAINS(r.body, "ENABLE_DOMAIN_RANDOMIZATION: true");
    char want[96];
    snprintf(want, sizeof(want), "DOMAIN_RANDOMIZATION_BRIGHTNESS: [%.4g, 1.3]", b0);
    TD_ASSERT_CONTAINS(r.body, want);
    TD_ASSERT_CONTAINS(r.body, "DOMAIN_RANDOMIZATION_CONTRAST: [0.75, 1.25]");
    hub_resp_free(&r);
    hub_stop(&s);
}

/* ---- closing the loop in one action: retrain -> evaluate -> gates -> signed canary ---------- */

/* The alert's pipeline once it leaves retraining and evaluating (polls the hub's state, at
 * most 600 s); r holds the alert. */
static const char *pipeline_settled(hub_server *s, hub_resp *r, int64_t alert)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld", (long long)alert);
    for (int i = 0; i < 3000; i++) {
        if (hub_json(s, r, "GET", path, s->admin, NULL) != 200) {
            char log[4096] = "";
            hub_sh(log, sizeof(log), "tail -c 3000 %s/serve.log", s->dir);
            TD_FAIL("GET %s: %ld; the hub's log: %s", path, r->status, log);
        }
        const char *st =
            json_string_value(json_object_get(json_object_get(r->json, "pipeline"), "state"));
        TD_ASSERT_MSG(st, "no pipeline on alert %lld: %s", (long long)alert, r->body);
        if (strcmp(st, "retraining") && strcmp(st, "evaluating"))
            return st;
        hub_resp_free(r);
        usleep(200000);
    }
    TD_FAIL("alert %lld's pipeline did not settle", (long long)alert);
    return "";
}

/* A simulated car registered as the agent registers (its own key, the enrollment token);
 * returns its id and device token. */
static int64_t register_car(hub_server *s, const char *enroll, const char *name, char *tok,
                            size_t cap)
{
    char dir[800];
    td_err err;
    hub_resp r;
    snprintf(dir, sizeof(dir), "%s/%s", s->dir, name);
    json_t *body = td_agent_register_body(dir, name, &err);
    TD_ASSERT_MSG(body, "register body: %s", err.msg);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    TD_ASSERT_EQ(hub_json(s, &r, "POST", "/api/v1/devices/register", enroll, text), 201);
    free(text);
    snprintf(tok, cap, "%s", json_string_value(json_object_get(r.json, "token")));
    int64_t id = json_integer_value(json_object_get(r.json, "id"));
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "state")), "approved");
    hub_resp_free(&r);
    return id;
}

/* Retrains model m from the alert (POST path) with "then": "evaluate,canary" and gates, waits
 * for the pipeline to settle and checks its state and new version; returns the pipeline (in
 * r, which the caller frees). */
static json_t *retrain_settled(hub_server *s, hub_resp *r, const char *path, long long m, int seed,
                               const char *gates, int64_t alert, const char *want, int64_t version)
{
    char body[400];
    snprintf(body, sizeof(body),
             "{\"model\":%lld,\"minutes\":5,\"iterations\":1,\"seed\":%d,\"then\":\"evaluate,"
             "canary\",\"gates\":%s}",
             m, seed, gates);
    TD_ASSERT_EQ(hub_json(s, r, "POST", path, s->admin, body), 201);
    hub_resp_free(r);
    TD_ASSERT_EQ(hub_json(s, r, "POST", path, s->admin, body), 409);
    TD_ASSERT_CONTAINS(hub_err_msg(r), "retraining is under way (retraining)");
    hub_resp_free(r);
    const char *st = pipeline_settled(s, r, alert);
    json_t *p = json_object_get(r->json, "pipeline");
    TD_ASSERT_MSG(!strcmp(st, want), "pipeline: %s", r->body);
    TD_ASSERT_EQ(json_integer_value(json_object_get(p, "version")), version);
    TD_ASSERT_GT(json_integer_value(json_object_get(p, "eval_job")), 0);
    return p;
}

/* trackday fleet autopilot --once with the admin's token and key; its exit status. */
static int autopilot_once(hub_server *s, const char *key, const char *extra, char *out, size_t cap)
{
    return hub_sh(out, cap,
                  "TRACKDAY_HUB=%s TRACKDAY_TOKEN=%s %s fleet autopilot --once --key %s --dir %s "
                  "%s 2>&1",
                  s->url, s->admin, TD_TEST_TRACKDAY_BIN, key, s->dir, extra);
}

TD_TEST(one_action_from_an_alert_retrains_evaluates_and_deploys_a_signed_canary)
{
    hub_server s;
    hub_resp r;
    char tok[200], tok2[200], sha[65], body[600], path[256], wtok[200] = "", out[8192], key[800];
    char enroll[200], *text = NULL;
    size_t n;
    td_err err;
    td_rng rng;
    td_rng_seed(&rng, 12, 12);
    hub_start(&s);
    store_bundle(&s, sha);
    /* The fleet: its signing key (the secret half stays in this directory, the admin's), two
     * cars of group "lab" registered with an auto-approving enrollment token. */
    uint8_t pk[TD_SIGN_PUBLIC_BYTES], sk[TD_SIGN_SECRET_BYTES];
    TD_ASSERT_OK(td_sign_keypair(pk, sk));
    snprintf(key, sizeof(key), "%s/fleet.key", s.dir);
    TD_ASSERT_OK(td_sign_key_write(key, pk, sk, 0, &err));
    char pub[820];
    snprintf(pub, sizeof(pub), "%s.pub", key);
    TD_ASSERT_OK(td_file_read(pub, &text, &n, &err));
    text[strcspn(text, "\n")] = 0;
    snprintf(body, sizeof(body), "{\"public_key\": \"%s\"}", text);
    td_free(text);
    TD_ASSERT_EQ(hub_json(&s, &r, "PUT", "/api/v1/fleet/signing-key", s.admin, body), 200);
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", "/api/v1/device-enrollments", s.admin,
                          "{\"name\": \"lab\", \"group\": \"lab\", \"auto_approve\": true, "
                          "\"max_devices\": 2}"),
                 201);
    snprintf(enroll, sizeof(enroll), "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
    int64_t other = register_car(&s, enroll, "car-a", tok2, sizeof(tok2));
    int64_t car = register_car(&s, enroll, "car-b", tok, sizeof(tok));
    TD_ASSERT_GT(car, other); /* so the canary is not simply the group's first device by id */
    /* The deployed model: version 2, one iteration. */
    long long m;
    pid_t w = deployed_model(&s, &m, wtok, sizeof(wtok));
    /* The car's room drops to half the light: an input-drift alert. */
    int64_t alert = 0;
    for (int k = 0; k < 10; k++) {
        char *j = window_json_gain(&rng, k, sha, 120, k < 8 ? 1.0 : 0.5);
        TD_ASSERT_EQ(post_window(&s, &r, tok, car, j), 201);
        if (k == 9)
            alert = json_integer_value(json_array_get(json_object_get(r.json, "alerts_raised"), 0));
        hub_resp_free(&r);
        td_free(j);
    }
    TD_ASSERT_GT(alert, 0);
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld/retrain", (long long)alert);
    /* Refused: a canary without the evaluation, gates without "then", a gate out of range. */
    snprintf(body, sizeof(body), "{\"model\":%lld,\"minutes\":1,\"then\":\"canary\"}", m);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", path, s.admin, body), 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "a canary only after the evaluation's gates");
    hub_resp_free(&r);
    snprintf(body, sizeof(body), "{\"model\":%lld,\"minutes\":1,\"gates\":{\"laps\":2}}", m);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", path, s.admin, body), 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "field 'gates' goes with 'then'");
    hub_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"model\":%lld,\"minutes\":1,\"then\":\"evaluate\",\"gates\":{\"laps\":99}}", m);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", path, s.admin, body), 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "laps");
    hub_resp_free(&r);

    /* 1. Gates no young model passes: every evaluation lap completed, each at most half the
     * deployed bundle's evaluation laps (10 s): the pipeline stops at the gate, nothing is
     * deployed. Which gate fails (a model trained two iterations may or may not finish its
     * lap) is read from the hub's own gate results. */
    json_t *p = retrain_settled(&s, &r, path, m, 2, "{\"laps\":1,\"max_lap_time_ratio\":0.5}",
                                alert, "failed", 3);
    json_t *gr = json_object_get(p, "gate_results");
    const char *reason = json_string_value(json_object_get(p, "reason"));
    json_t *done = json_object_get(gr, "lap_completion"), *lap = json_object_get(gr, "lap_time");
    if (json_is_false(json_object_get(done, "ok"))) {
        TD_ASSERT_EQ(json_integer_value(json_object_get(done, "completed")), 0);
        TD_ASSERT_CONTAINS(reason, "gate lap_completion: 0 of 1 evaluation laps completed (0%), "
                                   "at least 100% wanted");
    } else {
        double ratio = json_number_value(json_object_get(lap, "ratio"));
        TD_ASSERT_MSG(ratio > 0.5 && json_is_false(json_object_get(lap, "ok")), "%s", r.body);
        TD_ASSERT_NEAR(json_number_value(json_object_get(lap, "current")), 10.0, 0.1);
        TD_ASSERT_CONTAINS(reason, "gate lap_time: ");
        TD_ASSERT_CONTAINS(reason, "at most 0.50 x wanted");
    }
    hub_resp_free(&r);
    /* The signer finds nothing to sign; no deployment exists. */
    int rc = autopilot_once(&s, key, "", out, sizeof(out));
    TD_ASSERT_MSG(rc == 0 && !strstr(out, "signing"), "autopilot: %d %s", rc, out);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/deployments", s.admin, NULL), 200);
    TD_ASSERT_EQ(json_array_size(json_object_get(r.json, "deployments")), 0);
    hub_resp_free(&r);
    snprintf(body, sizeof(body), "/api/v1/alerts/%lld/pipeline", (long long)alert);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", body, s.admin, "{\"state\":\"canary\",\"deployment\":1}"),
                 404);
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", body, s.admin, "{\"state\":\"failed\"}"), 409);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "has no version awaiting a signature");
    hub_resp_free(&r);

    /* 2. Gates the admin relaxed (no lap required, laps up to 10 times the deployed
     * bundle's), from the command line: `trackday alerts --retrain --then --watch` follows the
     * job and the pipeline to the gates; the version passes and waits for the signer, which
     * deploys it with the alerting car as the canary. */
    rc = hub_sh(out, sizeof(out),
                "TRACKDAY_HUB=%s TRACKDAY_TOKEN=%s %s alerts %lld --retrain --model %lld "
                "--minutes 5 --iterations 1 --then evaluate,canary --gate-laps 1 "
                "--min-completion 0 --max-lap-ratio 10 --watch > %s/retrain.out 2>&1; rc=$?; "
                "tail -c 2000 %s/retrain.out; exit $rc",
                s.url, s.admin, TD_TEST_TRACKDAY_BIN, (long long)alert, m, s.dir, s.dir);
    TD_ASSERT_MSG(rc == 0, "alerts --retrain --then --watch: %d %s", rc, out);
    char said[80];
    snprintf(said, sizeof(said), "alert %lld: awaiting_signature", (long long)alert);
    TD_ASSERT_CONTAINS(out, said);
    TD_ASSERT_STREQ(pipeline_settled(&s, &r, alert), "awaiting_signature");
    p = json_object_get(r.json, "pipeline");
    TD_ASSERT_EQ(json_integer_value(json_object_get(p, "version")), 4);
    gr = json_object_get(p, "gate_results");
    TD_ASSERT(json_is_true(json_object_get(json_object_get(gr, "lap_completion"), "ok")));
    TD_ASSERT(json_is_true(json_object_get(json_object_get(gr, "lap_time"), "ok")));
    TD_ASSERT_STREQ(json_string_value(json_object_get(p, "reason")), "");
    hub_resp_free(&r);
    TD_ASSERT_EQ(
        hub_json(&s, &r, "GET", "/api/v1/alerts?pipeline=awaiting_signature", s.admin, NULL), 200);
    TD_ASSERT_EQ(json_array_size(json_object_get(r.json, "alerts")), 1);
    hub_resp_free(&r);
    hub_worker_stop(w, SIGTERM);
    rc = autopilot_once(&s, key,
                        "--laps 1 --train-steps 20 --calibrate 16 --latency-budget-ms 60000 "
                        "--wait 0",
                        out, sizeof(out));
    TD_ASSERT_MSG(rc == 0, "autopilot: %d %s", rc, out);
    TD_ASSERT_CONTAINS(out, "passed its gates: signing its bundle");
    snprintf(body, sizeof(body), "/api/v1/alerts/%lld", (long long)alert);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", body, s.admin, NULL), 200);
    p = json_object_get(r.json, "pipeline");
    TD_ASSERT_STREQ(json_string_value(json_object_get(p, "state")), "canary");
    int64_t dep = json_integer_value(json_object_get(p, "deployment"));
    TD_ASSERT_GT(dep, 0);
    TD_ASSERT_STREQ(json_string_value(json_object_get(p, "deployment_state")), "canary");
    hub_resp_free(&r);
    /* The deployment: the alerting car is the canary, the other car of its group waits. */
    snprintf(body, sizeof(body), "/api/v1/deployments/%lld", (long long)dep);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", body, s.admin, NULL), 200);
    json_t *devs = json_object_get(r.json, "devices");
    TD_ASSERT_EQ(json_array_size(devs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *d = json_array_get(devs, i);
        int64_t id = json_integer_value(json_object_get(d, "device"));
        TD_ASSERT_EQ(json_is_true(json_object_get(d, "canary")), id == car);
    }
    hub_resp_free(&r);
    /* The car is told to install it; the bundle it downloads verifies against the fleet key. */
    snprintf(body, sizeof(body), "/api/v1/devices/%lld", (long long)car);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", body, tok, NULL), 200);
    json_t *desired = json_object_get(r.json, "desired");
    TD_ASSERT_STREQ(json_string_value(json_object_get(desired, "action")), "install");
    char want[65];
    snprintf(want, sizeof(want), "%s", json_string_value(json_object_get(desired, "sha256")));
    hub_resp_free(&r);
    snprintf(body, sizeof(body), "/api/v1/devices/%lld", (long long)other);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", body, tok2, NULL), 200);
    TD_ASSERT(json_is_null(json_object_get(r.json, "desired")));
    hub_resp_free(&r);
    TD_ASSERT_EQ(hub_json(&s, &r, "GET", "/api/v1/bundles", s.admin, NULL), 200);
    int64_t bid = 0;
    json_t *b;
    size_t i;
    json_array_foreach(json_object_get(r.json, "bundles"), i, b)
    {
        if (!strcmp(json_string_value(json_object_get(b, "sha256")), want))
            bid = json_integer_value(json_object_get(b, "id"));
    }
    hub_resp_free(&r);
    TD_ASSERT_GT(bid, 0);
    snprintf(body, sizeof(body), "/api/v1/bundles/%lld/file", (long long)bid);
    hub_req(&s, &r, "GET", body, tok, NULL, NULL, 0);
    TD_ASSERT_EQ(r.status, 200);
    td_bundle bd;
    TD_ASSERT_OK(td_bundle_open(&bd, r.body, r.len, pk, want, &err));
    td_bundle_close(&bd);
    hub_resp_free(&r);
    /* The canary installs it (as the agent reports): the rest of the group gets it next. */
    snprintf(path, sizeof(path), "/api/v1/devices/%lld/report", (long long)car);
    snprintf(body, sizeof(body), "{\"deployment\":%lld,\"sha256\":\"%s\",\"result\":\"installed\"}",
             (long long)dep, want);
    TD_ASSERT_EQ(hub_json(&s, &r, "POST", path, tok, body), 200);
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/devices/%lld", (long long)other);
    const char *got = NULL;
    for (int k = 0; k < 600 && !got; k++) {
        TD_ASSERT_EQ(hub_json(&s, &r, "GET", path, tok2, NULL), 200);
        got = json_string_value(json_object_get(json_object_get(r.json, "desired"), "sha256"));
        if (got)
            TD_ASSERT_STREQ(got, want);
        hub_resp_free(&r);
        if (!got)
            usleep(100000);
    }
    TD_ASSERT_MSG(got, "the group's other car was never given the canary's bundle");
    hub_stop(&s);
}
