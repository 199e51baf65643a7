/*
 * daemon.c - the device agent (agent.h, docs/agent.md): `trackday agent --hub URL
 * --device-token T --data DIR [--sim WORLD.json | --camera /dev/videoN]`.
 *
 * DIR/device.key      the car's own Ed25519 key (made on first start; registered with the hub)
 * DIR/device.json     the hub, the device's id and token, the pinned signing key
 * DIR/agent.json      the last outcome reported per deployment and the last bundle refused
 * DIR/outbox/         reports and telemetry windows waiting for the hub (outbox.c)
 * DIR/state.json ...  the bundle store (store.c)
 *
 * One thread: a loop that drives the active bundle's model at the control rate and, when due,
 * heartbeats (the reply names the desired bundle), acts on the desired bundle (download,
 * install with every check, or go back to the previous one) and sends what waits in the
 * outbox. Every file is written atomically, so SIGKILL anywhere leaves a store that opens
 * with a bundle that loads (store.c) and queued messages that are whole.
 */
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trackday/agent.h"
#include "trackday/hubclient.h"

#define REGISTER_CONTEXT "trackday-device-register"
#define AGENT_NAME       "trackday-agent/1"

void td_agent_options_default(td_agent_options *o)
{
    memset(o, 0, sizeof(*o));
    o->hz = 15;
    o->speedup = 1;
    o->window_s = 60;
    o->outbox_bytes = (size_t)16 << 20;
    o->outbox_files = 2000;
}

typedef struct agent {
    const td_agent_options *o;
    char dir[512];
    uint8_t pk[TD_SIGN_PUBLIC_BYTES], sk[TD_SIGN_SECRET_BYTES];
    /* device.json */
    int64_t id;
    char token[160];
    char signing_key[512]; /* the pinned signer's public key text ("" until known) */
    /* The trusted signer. */
    int have_signer;
    uint8_t signer[TD_SIGN_PUBLIC_BYTES];
    td_agent_store store;
    int store_open;
    td_agent_outbox outbox;
    td_hubc hub;
    td_agent_driver *driver;
    char driver_sha[TD_SHA256_HEX];
    td_agent_camera *camera; /* --camera: opened with the driver, at the model's size */
    uint8_t *frame;
    json_t *state; /* agent.json */
    double started, heartbeat_s;
    int hub_reachable;
} agent;

static void say(agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(agent *a, const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (a->o->log)
        a->o->log(a->o->log_user, line);
}

static int path_in(const agent *a, const char *name, char *out, size_t cap, td_err *err)
{
    if (snprintf(out, cap, "%s/%s", a->dir, name) >= (int)cap)
        return td_err_set(err, TD_EINVAL, "%s: data directory path too long", a->dir);
    return 0;
}

/* A string member, or "". */
static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* ---- identity and registration ------------------------------------------------------ */

static int load_identity(const char *dir, uint8_t pk[TD_SIGN_PUBLIC_BYTES],
                         uint8_t sk[TD_SIGN_SECRET_BYTES], td_err *err)
{
    char path[700];
    int rc;
    if (snprintf(path, sizeof(path), "%s/device.key", dir) >= (int)sizeof(path))
        return td_err_set(err, TD_EINVAL, "%s: data directory path too long", dir);
    if ((rc = td_mkdir_p(dir, err)) != 0)
        return rc;
    if (td_path_exists(path))
        return td_sign_secret_load(path, sk, pk, err);
    if ((rc = td_sign_keypair(pk, sk)) != 0)
        return td_err_set(err, TD_EINTERNAL, "cannot make a key pair");
    return td_sign_key_write(path, pk, sk, 0, err);
}

json_t *td_agent_register_body(const char *data_dir, const char *name, td_err *err)
{
    uint8_t pk[TD_SIGN_PUBLIC_BYTES], sk[TD_SIGN_SECRET_BYTES], sig[TD_SIGN_BYTES];
    char pk_b64[64], sig_b64[128], msg[400];
    if (load_identity(data_dir, pk, sk, err) != 0)
        return NULL;
    sodium_bin2base64(pk_b64, sizeof(pk_b64), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
    snprintf(msg, sizeof(msg), "%s\n%s\n%s", REGISTER_CONTEXT, name, pk_b64);
    td_sign_detached(sig, msg, strlen(msg), sk);
    sodium_memzero(sk, sizeof(sk));
    sodium_bin2base64(sig_b64, sizeof(sig_b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    return json_pack("{s:s,s:s,s:s,s:s}", "name", name, "public_key", pk_b64, "signature", sig_b64,
                     "agent", AGENT_NAME);
}

static int save_device(agent *a, td_err *err)
{
    char path[700];
    int rc = path_in(a, "device.json", path, sizeof(path), err);
    if (rc)
        return rc;
    json_t *j = json_pack("{s:s,s:I,s:s,s:s}", "hub", a->o->hub_url, "id", (json_int_t)a->id,
                          "token", a->token, "signing_key", a->signing_key);
    rc = td_json_write_file(path, j, err);
    json_decref(j);
    return rc;
}

static void load_device(agent *a)
{
    char path[700];
    json_t *j = NULL;
    if (path_in(a, "device.json", path, sizeof(path), NULL) || !td_path_exists(path) ||
        td_json_load_file(path, &j, NULL))
        return;
    const char *hub = json_string_value(json_object_get(j, "hub"));
    const char *tok = json_string_value(json_object_get(j, "token"));
    const char *key = json_string_value(json_object_get(j, "signing_key"));
    /* Registered with another hub: register again with this one. */
    if (hub && tok && !strcmp(hub, a->o->hub_url)) {
        a->id = json_integer_value(json_object_get(j, "id"));
        snprintf(a->token, sizeof(a->token), "%s", tok);
    }
    if (key)
        snprintf(a->signing_key, sizeof(a->signing_key), "%s", key);
    json_decref(j);
}

/* Trusts the hub's signing key the first time it is heard (unless --key pinned one). */
static int open_store(agent *a, td_err *err);

static void pin_signer(agent *a, const char *key_text)
{
    td_err err;
    uint8_t pk[TD_SIGN_PUBLIC_BYTES];
    char id[TD_KEY_ID_LEN];
    if (a->have_signer || !key_text || !key_text[0])
        return;
    if (td_sign_public_parse(key_text, strlen(key_text), "the hub's signing key", pk, id, NULL))
        return;
    memcpy(a->signer, pk, sizeof(pk));
    a->have_signer = 1;
    snprintf(a->signing_key, sizeof(a->signing_key), "%s", key_text);
    save_device(a, NULL);
    say(a, "trusting bundles signed by key %s (the hub's, pinned at registration)", id);
    if (a->store_open && open_store(a, &err) != 0)
        say(a, "cannot open the bundle store: %s", err.msg);
}

static int do_register(agent *a, td_err *err)
{
    const char *name = a->o->name;
    char host[128];
    if (!name || !name[0]) {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "car");
        host[sizeof(host) - 1] = 0;
        name = host;
    }
    json_t *body = td_agent_register_body(a->dir, name, err);
    if (!body)
        return err->code;
    snprintf(a->hub.token, sizeof(a->hub.token), "%s", a->o->enroll_token);
    int rc = td_hubc_json(&a->hub, "POST", "/api/v1/devices/register", body, err);
    json_decref(body);
    if (rc)
        return rc;
    if (a->hub.status != 200 && a->hub.status != 201)
        return td_err_set(err, a->hub.status == 401 || a->hub.status == 403 ? TD_EPERM : TD_EIO,
                          "the hub refused the registration: %s", td_hubc_error(&a->hub));
    json_t *r = a->hub.json;
    a->id = json_integer_value(json_object_get(r, "id"));
    snprintf(a->token, sizeof(a->token), "%s",
             json_string_value(json_object_get(r, "token"))
                 ? json_string_value(json_object_get(r, "token"))
                 : "");
    snprintf(a->hub.token, sizeof(a->hub.token), "%s", a->token);
    say(a, "registered as device %lld '%s' (key %s): %s", (long long)a->id, name,
        json_string_value(json_object_get(r, "key_id")),
        json_string_value(json_object_get(r, "state")));
    pin_signer(a, json_string_value(json_object_get(r, "signing_key")));
    return save_device(a, err);
}

/* ---- agent.json --------------------------------------------------------------------- */

static void save_state(agent *a)
{
    char path[700];
    if (!path_in(a, "agent.json", path, sizeof(path), NULL))
        td_json_write_file(path, a->state, NULL);
}

static void load_state(agent *a)
{
    char path[700];
    json_t *j = NULL;
    if (!path_in(a, "agent.json", path, sizeof(path), NULL) && td_path_exists(path) &&
        td_json_load_file(path, &j, NULL) == 0 && json_is_object(j))
        a->state = j;
    else {
        json_decref(j);
        a->state = json_object();
    }
}

/* ---- the store and the driver ------------------------------------------------------- */

static int open_store(agent *a, td_err *err)
{
    if (a->store_open)
        td_agent_store_close(&a->store);
    a->store_open = 0;
    int rc = td_agent_store_open(&a->store, a->dir, a->have_signer ? a->signer : NULL, err);
    if (rc) {
        td_agent_store_close(&a->store);
        return rc;
    }
    a->store_open = 1;
    return 0;
}

/* (Re)starts the driver on the active bundle when it changed. */
static void sync_driver(agent *a)
{
    td_err err;
    if (!a->o->world && !a->o->camera)
        return;
    if (!strcmp(a->driver_sha, a->store.active.sha256))
        return;
    td_agent_driver_close(a->driver);
    a->driver = NULL;
    td_agent_camera_close(a->camera);
    a->camera = NULL;
    td_free(a->frame);
    a->frame = NULL;
    snprintf(a->driver_sha, sizeof(a->driver_sha), "%s", a->store.active.sha256);
    if (!a->store.active.sha256[0] || !a->have_signer)
        return;
    td_bundle b;
    if (td_agent_open_active(&a->store, &b, &err) != 0) {
        say(a, "cannot open the active bundle: %s", err.msg);
        td_bundle_close(&b);
        return;
    }
    if (td_agent_driver_open(&a->driver, &b, a->o->world, &err) != 0) {
        say(a, "cannot drive bundle %s: %s", b.bundle_id, err.msg);
        td_agent_driver_close(a->driver);
        a->driver = NULL;
    } else if (a->o->camera) {
        int w, h;
        td_agent_driver_camera_size(a->driver, &w, &h);
        a->frame = w > 0 ? td_malloc((size_t)w * (size_t)h) : NULL;
        if (!a->frame || td_agent_camera_open(&a->camera, a->o->camera, w, h, &err) != 0) {
            say(a, "cannot drive bundle %s from %s: %s", b.bundle_id, a->o->camera,
                a->frame ? err.msg : "the model has no camera input");
            td_agent_camera_close(a->camera);
            a->camera = NULL;
            td_agent_driver_close(a->driver);
            a->driver = NULL;
        } else {
            say(a, "driving bundle %s (%s) from %s", b.bundle_id, b.name, a->o->camera);
        }
    } else {
        say(a, "driving bundle %s (%s)", b.bundle_id, b.name);
    }
    td_bundle_close(&b);
}

/* ---- talking to the hub ------------------------------------------------------------- */

static void queue(agent *a, const char *kind, const char *route, json_t *body)
{
    td_err err;
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/devices/%lld/%s", (long long)a->id, route);
    json_t *msg = json_pack("{s:s,s:O}", "path", path, "body", body);
    if (td_agent_outbox_put(&a->outbox, kind, msg, &err) != 0)
        say(a, "cannot queue a %s: %s", kind, err.msg);
    json_decref(msg);
}

/* The hub did not answer: said once, until it answers again. */
static void unreachable(agent *a, const char *why)
{
    if (a->hub_reachable)
        say(a, "hub unreachable (buffering on disk): %s", why);
    a->hub_reachable = 0;
}

/* Sends what waits, oldest first, until the hub cannot be reached. */
static void flush(agent *a)
{
    char name[80], kind[32];
    json_t *msg;
    td_err err;
    while (a->id &&
           td_agent_outbox_peek(&a->outbox, name, sizeof(name), kind, sizeof(kind), &msg)) {
        const char *path = json_string_value(json_object_get(msg, "path"));
        json_t *body = json_object_get(msg, "body");
        if (!path || !body) {
            td_agent_outbox_done(&a->outbox, name);
            json_decref(msg);
            continue;
        }
        int rc = td_hubc_json(&a->hub, "POST", path, body, &err);
        if (rc || a->hub.status >= 500 || a->hub.status == 429 || a->hub.status == 401) {
            if (rc)
                unreachable(a, err.msg);
            json_decref(msg);
            return; /* later */
        }
        if (a->hub.status >= 400)
            say(a, "the hub refused a %s (%s): dropped", kind, td_hubc_error(&a->hub));
        td_agent_outbox_done(&a->outbox, name);
        json_decref(msg);
    }
}

/* Reports an outcome once per (deployment, bundle, result). */
static void report(agent *a, int64_t dep, const char *sha, const char *result, const char *msg)
{
    json_t *last = json_object_get(a->state, "reported");
    if (last && json_integer_value(json_object_get(last, "deployment")) == dep &&
        !strcmp(jstr(last, "sha256"), sha) && !strcmp(jstr(last, "result"), result))
        return;
    json_t *body = json_pack("{s:I,s:s,s:s,s:s}", "deployment", (json_int_t)dep, "sha256", sha,
                             "result", result, "message", msg ? msg : "");
    queue(a, "report", "report", body);
    json_decref(body);
    json_object_set_new(
        a->state, "reported",
        json_pack("{s:I,s:s,s:s}", "deployment", (json_int_t)dep, "sha256", sha, "result", result));
    save_state(a);
    say(a, "deployment %lld: %s %.12s%s%s", (long long)dep, result, sha, msg && msg[0] ? ": " : "",
        msg ? msg : "");
    flush(a);
}

static void act(agent *a, const json_t *desired)
{
    const char *sha = json_string_value(json_object_get(desired, "sha256"));
    const char *action = json_string_value(json_object_get(desired, "action"));
    const char *download = json_string_value(json_object_get(desired, "download"));
    int64_t dep = json_integer_value(json_object_get(desired, "deployment"));
    int rollback = action && !strcmp(action, "rollback");
    td_agent_result res;
    td_err err;
    if (!sha || strlen(sha) != 64 || !dep)
        return;
    if (!a->have_signer) {
        say(a, "no trusted signing key yet (the hub has none, and --key was not given)");
        return;
    }
    if (!strcmp(sha, a->store.active.sha256)) {
        report(a, dep, sha, "installed", rollback ? "back on the previous bundle" : "running");
        return;
    }
    json_t *refused = json_object_get(a->state, "refused");
    if (refused && json_integer_value(json_object_get(refused, "deployment")) == dep &&
        !strcmp(jstr(refused, "sha256"), sha)) {
        report(a, dep, sha, "failed", json_string_value(json_object_get(refused, "why")));
        return;
    }
    int rc;
    if (!strcmp(sha, a->store.previous.sha256)) {
        say(a, "deployment %lld: going back to the previous bundle %s", (long long)dep,
            a->store.previous.bundle_id);
        rc = td_agent_rollback(&a->store, &res, &err);
    } else {
        char file[800];
        if (!download) {
            rc = td_err_set(&err, TD_ENOENT, "the hub has no file for bundle %.12s", sha);
        } else {
            snprintf(file, sizeof(file), "%s/incoming/%s.tdb", a->dir, sha);
            say(a, "deployment %lld: downloading %s", (long long)dep, download);
            /* A bundle takes what it takes on a slow link; a download that stalls fails. */
            double timeout = a->hub.timeout_s;
            a->hub.timeout_s = 0;
            a->hub.stall_s = 10;
            rc = td_hubc_download(&a->hub, download, file, &err);
            a->hub.timeout_s = timeout;
            a->hub.stall_s = 0;
            if (rc) {
                say(a, "download failed (retrying at the next heartbeat): %s", err.msg);
                return;
            }
            if (a->hub.status != 200) {
                rc = td_err_set(&err, TD_ENOENT, "download refused: %s", td_hubc_error(&a->hub));
            } else {
                const char *crash = getenv("TD_AGENT_CRASH_AT");
                if (crash && !strcmp(crash, "downloaded"))
                    raise(SIGKILL);
                rc = td_agent_install(&a->store, file, sha, rollback ? TD_AGENT_ALLOW_OLDER : 0,
                                      &res, &err);
                unlink(file);
            }
        }
    }
    if (rc == TD_EIO || rc == TD_ENOMEM) {
        say(a, "install interrupted (retrying): %s", err.msg);
        return;
    }
    if (rc) {
        json_object_set_new(a->state, "refused",
                            json_pack("{s:I,s:s,s:s}", "deployment", (json_int_t)dep, "sha256", sha,
                                      "why", err.msg));
        save_state(a);
        report(a, dep, sha, "failed", err.msg);
        return;
    }
    sync_driver(a);
    report(a, dep, sha, "installed", rollback ? "rolled back" : "installed");
}

static json_t *driving_json(const agent *a)
{
    if (!a->driver)
        return json_null();
    const td_agent_driving *s = td_agent_driver_stats(a->driver);
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f}", "sha256", s->sha256, "frames",
                     (json_int_t)s->frames, "laps", (json_int_t)s->laps, "off_track",
                     (json_int_t)s->off_track, "crashes", (json_int_t)s->crashes, "lap_time_mean_s",
                     s->laps ? s->lap_time_sum_s / (double)s->laps : 0.0, "lap_time_best_s",
                     s->lap_time_min_s, "latency_ms_mean",
                     s->frames ? s->latency_sum_ms / (double)s->frames : 0.0, "latency_ms_max",
                     s->latency_max_ms);
}

/* One heartbeat: what runs and how it drives; the reply's desired bundle is acted on.
 * Returns TD_EPERM when the hub no longer knows the device (revoked). */
static int heartbeat(agent *a, td_err *err)
{
    size_t bytes = 0;
    int queued = td_agent_outbox_count(&a->outbox, &bytes);
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:f,s:i,s:I,s:O,s:o}", "active_sha256", a->store.active.sha256,
                  "previous_sha256", a->store.previous.sha256, "agent", AGENT_NAME, "uptime_s",
                  td_time_now() - a->started, "outbox", queued, "outbox_dropped",
                  (json_int_t)a->outbox.dropped, "world",
                  a->o->world ? a->o->world->shift : json_null(), "driving", driving_json(a));
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/devices/%lld/heartbeat", (long long)a->id);
    int rc = td_hubc_json(&a->hub, "POST", path, body, err);
    json_decref(body);
    if (rc) {
        unreachable(a, err->msg);
        return 0;
    }
    if (!a->hub_reachable)
        say(a, "hub reachable");
    a->hub_reachable = 1;
    if (a->hub.status == 401)
        return td_err_set(err, TD_EPERM, "the hub refused the device token: %s",
                          td_hubc_error(&a->hub));
    if (a->hub.status != 200)
        return 0;
    json_t *r = json_incref(a->hub.json);
    if (!a->o->heartbeat_s) {
        int hb = (int)json_integer_value(json_object_get(r, "heartbeat_s"));
        if (hb > 0)
            a->heartbeat_s = hb;
    }
    if (!a->have_signer)
        pin_signer(a, json_string_value(json_object_get(r, "signing_key")));
    const json_t *desired = json_object_get(r, "desired");
    if (json_is_object(desired))
        act(a, desired);
    flush(a);
    json_decref(r);
    return 0;
}

/* ---- the loop ------------------------------------------------------------------------ */

static int stopped(const agent *a)
{
    return a->o->stop && *a->o->stop;
}

int td_agent_run(const td_agent_options *o, td_err *err)
{
    agent A, *a = &A;
    int rc;
    memset(a, 0, sizeof(*a));
    a->o = o;
    a->started = td_time_now();
    a->heartbeat_s = o->heartbeat_s > 0 ? o->heartbeat_s : 10;
    a->hub_reachable = 1;
    if (!o->data_dir || !o->hub_url)
        return td_err_set(err, TD_EINVAL, "the agent needs --hub and --data");
    if (strlen(o->data_dir) >= sizeof(a->dir) - 100)
        return td_err_set(err, TD_EINVAL, "%s: data directory path too long", o->data_dir);
    snprintf(a->dir, sizeof(a->dir), "%s", o->data_dir);
    if ((rc = load_identity(a->dir, a->pk, a->sk, err)) != 0)
        return rc;
    sodium_memzero(a->sk, sizeof(a->sk));
    load_device(a);
    load_state(a);
    if (o->key_path) {
        if ((rc = td_sign_public_load(o->key_path, a->signer, NULL, err)) != 0)
            goto out;
        a->have_signer = 1;
    } else if (a->signing_key[0]) {
        char keep[512];
        memcpy(keep, a->signing_key, sizeof(keep));
        a->signing_key[0] = 0;
        pin_signer(a, keep);
    }
    if ((rc = open_store(a, err)) != 0)
        goto out;
    if ((rc = td_agent_outbox_open(&a->outbox, a->dir, o->outbox_bytes, o->outbox_files, err)) != 0)
        goto out;
    if ((rc = td_hubc_init(&a->hub, o->hub_url, a->token[0] ? a->token : NULL, err)) != 0)
        goto out;
    a->hub.timeout_s = 30;
    sync_driver(a);
    double now = td_time_now(), next_hb = now, next_reg = now, next_window = now + o->window_s;
    double period = 1.0 / (o->hz * (o->speedup > 0 ? o->speedup : 1)), next_step = now;
    double backoff = 1;
    rc = 0;
    while (!stopped(a)) {
        now = td_time_now();
        if (o->run_s > 0 && now - a->started >= o->run_s)
            break;
        if (!a->id && now >= next_reg) {
            if (!o->enroll_token) {
                rc = td_err_set(err, TD_EINVAL, "not registered: give --device-token");
                break;
            }
            rc = do_register(a, err);
            if (rc == TD_EPERM)
                break;
            if (rc) {
                say(a, "registration failed (retrying in %.0f s): %s", backoff, err->msg);
                next_reg = now + backoff;
                backoff = backoff * 2 > 60 ? 60 : backoff * 2;
                rc = 0;
                continue;
            }
            next_hb = now;
        }
        if (a->id && now >= next_hb) {
            if ((rc = heartbeat(a, err)) != 0)
                break;
            next_hb = td_time_now() + a->heartbeat_s;
        }
        if (a->driver && now >= next_window) {
            /* The window's number survives restarts, so the hub takes each window once. */
            char dev[32], dep[32] = "";
            uint64_t seq = (uint64_t)json_integer_value(json_object_get(a->state, "telemetry_seq"));
            json_t *last = json_object_get(a->state, "reported");
            if (last && !strcmp(jstr(last, "sha256"), a->store.active.sha256))
                snprintf(dep, sizeof(dep), "%lld",
                         (long long)json_integer_value(json_object_get(last, "deployment")));
            snprintf(dev, sizeof(dev), "%lld", (long long)a->id);
            json_t *w = td_agent_driver_window(a->driver, dev, dep, seq + 1);
            /* The bundle file the driver runs: the hub compares the window with its reference. */
            if (w && a->driver_sha[0])
                json_object_set_new(w, "bundle_sha256", json_string(a->driver_sha));
            json_object_set_new(a->state, "telemetry_seq", json_integer((json_int_t)(seq + 1)));
            save_state(a);
            if (a->id && w)
                queue(a, "telemetry", "telemetry", w);
            json_decref(w);
            next_window = now + o->window_s;
            flush(a);
        }
        if (a->driver && (o->world || a->camera)) {
            if (now >= next_step) {
                int drc = 0;
                if (a->camera) {
                    /* The camera paces itself; a frame that does not come is not driving. */
                    drc = td_agent_camera_grab(a->camera, a->frame, 1.0, err);
                    if (!drc)
                        drc = td_agent_driver_frame(a->driver, a->frame, err);
                    else if (drc == TD_ETIMEOUT) {
                        say(a, "%s", err->msg);
                        drc = 0;
                    }
                } else {
                    drc = td_agent_driver_step(a->driver, err);
                }
                if (drc != 0) {
                    say(a, "driving stopped: %s", err->msg);
                    td_agent_driver_close(a->driver);
                    a->driver = NULL;
                }
                next_step += period;
                if (next_step < now - 0.5)
                    next_step = now; /* late (a download): no burst of catching up */
                continue;
            }
        }
        double wake = a->id ? next_hb : next_reg;
        if (a->driver && next_window < wake)
            wake = next_window;
        if (!a->driver && now >= next_window)
            next_window = now + o->window_s; /* nothing to summarize: no busy wait on it */
        if (a->driver && (o->world || a->camera) && next_step < wake)
            wake = next_step;
        double dt = wake - td_time_now();
        if (dt > 0.1)
            dt = 0.1; /* a stop request is seen within 0.1 s */
        if (dt > 0) {
            struct timespec ts = {(time_t)dt, (long)((dt - floor(dt)) * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
out:
    td_agent_driver_close(a->driver);
    td_agent_camera_close(a->camera);
    td_free(a->frame);
    if (a->store_open)
        td_agent_store_close(&a->store);
    td_hubc_free(&a->hub);
    json_decref(a->state);
    sodium_memzero(a->token, sizeof(a->token));
    return rc;
}
