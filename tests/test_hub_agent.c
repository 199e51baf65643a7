/*
 * test_hub_agent.c - the device agent (`trackday agent --hub ...`, docs/agent.md) against a
 * real hub: a bundle whose bytes changed on the way (a tampered or truncated download), one
 * signed by another key, an older one replayed as an install, and one failing its health check
 * are refused, reported, the deployment rolled back and the running model kept; SIGKILL during
 * the download, after the new bundle is stored, during its health check and right after the
 * switch leaves a store whose active bundle verifies and passes its health check, and the agent
 * started again finishes the install; a hub that goes away: what the agent sends waits on disk,
 * bounded, and goes out when the hub is back. The disk buffer on its own.
 */
#include <sys/stat.h>

#include "hub_harness.h"
#include "trackday/agent.h"
#include "trackday/bundle.h"
#include "trackday/modeldir.h"
#include "trackday/policy.h"
#include "trackday/telemetry.h"

#define T0 1796500000 /* created_unix of bundle v1 */

typedef struct fixture {
    hub_server s;
    char dir[600], model_dir[700], key1[700], key2[700], data[700], log[700];
    uint8_t pk1[TD_SIGN_PUBLIC_BYTES], sk1[TD_SIGN_SECRET_BYTES];
    uint8_t pk2[TD_SIGN_PUBLIC_BYTES], sk2[TD_SIGN_SECRET_BYTES];
    char enroll[200];
    long long device;
    pid_t agent;
} fixture;

static void build(fixture *fx, const char *out, int64_t created, double budget_ms,
                  const uint8_t *sk, int steps, char sha[TD_SHA256_HEX])
{
    td_bundle_options o;
    td_bundle_report rep;
    td_err err;
    char model[800], meta[800], track[800];
    TD_FMT(model, "%s/model/best.tdm", fx->model_dir);
    TD_FMT(meta, "%s/model_metadata.json", fx->model_dir);
    TD_FMT(track, "%s/tracks/oval.json", TD_TEST_SOURCE_DIR);
    td_bundle_options_default(&o);
    o.model_path = model;
    o.metadata_path = meta;
    o.track_path = track;
    o.name = "car";
    o.secret_key = sk;
    o.eval_laps = 1;
    o.train_steps = steps;
    o.train_cars = 1;
    o.calibrate = 16;
    o.health_cases = 4;
    o.created_unix = created;
    if (budget_ms > 0)
        o.latency_budget_ms = budget_ms;
    if (td_bundle_build(&o, out, &rep, &err) != 0)
        TD_FAIL("%s", err.msg);
    memcpy(sha, rep.sha256, TD_SHA256_HEX);
}

static void put_key(fixture *fx, const char *pub)
{
    char *text = NULL, body[600];
    size_t n;
    td_err err;
    hub_resp r;
    TD_ASSERT_OK(td_file_read(pub, &text, &n, &err));
    text[strcspn(text, "\n")] = 0;
    TD_FMT(body, "{\"public_key\": \"%s\"}", text);
    td_free(text);
    TD_ASSERT_EQ_INT(hub_json(&fx->s, &r, "PUT", "/api/v1/fleet/signing-key", fx->s.admin, body),
                     200);
    hub_resp_free(&r);
}

static long long upload(fixture *fx, const char *path)
{
    char *data = NULL;
    size_t n;
    td_err err;
    hub_resp r;
    TD_ASSERT_OK(td_file_read(path, &data, &n, &err));
    hub_req(&fx->s, &r, "POST", "/api/v1/bundles", fx->s.admin, "application/octet-stream", data,
            n);
    td_free(data);
    TD_ASSERT_MSG(r.status == 201, "upload %s: %ld %s", path, r.status, r.body);
    long long id = json_integer_value(json_object_get(r.json, "id"));
    hub_resp_free(&r);
    return id;
}

/* A hub with the fleet key 1, an auto-approving enrollment token, a state model. */
static void setup(fixture *fx)
{
    char cmd[2048], path[800];
    td_err err;
    hub_resp r;
    memset(fx, 0, sizeof(*fx));
    hub_start(&fx->s);
    TD_FMT(fx->dir, "%s", fx->s.dir);
    TD_FMT(fx->model_dir, "%s/car", fx->dir);
    TD_FMT(fx->data, "%s/device", fx->dir);
    TD_FMT(fx->log, "%s/agent.log", fx->dir);
    TD_FMT(cmd, "%s init %s --discrete --fast-actions --sensor state --track oval > /dev/null",
           TD_TEST_TRACKDAY_BIN, fx->model_dir);
    TD_ASSERT_EQ(system(cmd), 0);
    td_model_dir md;
    TD_ASSERT_OK(td_model_dir_load(&md, fx->model_dir, &err));
    td_policy p;
    td_rng rng;
    td_rng_seed(&rng, 5, 5);
    TD_ASSERT_OK(td_policy_init(&p, &md.metadata, 1, &rng, &err));
    TD_FMT(path, "%s/model", fx->model_dir);
    TD_ASSERT_OK(td_mkdir_p(path, &err));
    TD_FMT(path, "%s/model/best.tdm", fx->model_dir);
    TD_ASSERT_OK(td_policy_save(&p, path, NULL, &err));
    td_policy_free(&p);
    TD_ASSERT_OK(td_sign_keypair(fx->pk1, fx->sk1));
    TD_ASSERT_OK(td_sign_keypair(fx->pk2, fx->sk2));
    TD_FMT(fx->key1, "%s/fleet.key", fx->dir);
    TD_FMT(fx->key2, "%s/other.key", fx->dir);
    TD_ASSERT_OK(td_sign_key_write(fx->key1, fx->pk1, fx->sk1, 0, &err));
    TD_ASSERT_OK(td_sign_key_write(fx->key2, fx->pk2, fx->sk2, 0, &err));
    TD_FMT(path, "%s.pub", fx->key1);
    put_key(fx, path);
    TD_ASSERT_EQ_INT(hub_json(&fx->s, &r, "POST", "/api/v1/device-enrollments", fx->s.admin,
                              "{\"name\": \"t\", \"group\": \"g\", \"auto_approve\": true}"),
                     201);
    TD_FMT(fx->enroll, "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
}

/* Starts the agent (env: extra environment assignments, or ""). */
static void agent_start(fixture *fx, const char *env)
{
    char cmd[4096];
    fx->agent = fork();
    TD_ASSERT(fx->agent >= 0);
    if (fx->agent == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(cmd, sizeof(cmd),
                 "exec env %s %s agent --hub %s --device-token %s --data %s --name car-1 "
                 "--heartbeat-s 0.1 >> %s 2>&1",
                 env, TD_TEST_TRACKDAY_BIN, fx->s.url, fx->enroll, fx->data, fx->log);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
}

/* Stops the agent: SIGTERM must end it with status 0; returns nothing. */
static void agent_stop(fixture *fx)
{
    int st = 0;
    if (fx->agent <= 0)
        return;
    kill(fx->agent, SIGTERM);
    waitpid(fx->agent, &st, 0);
    fx->agent = 0;
    TD_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the agent ended with status %d", st);
}

/* Waits for the agent to end by itself (a crash point): its status. */
static int agent_wait(fixture *fx, double timeout_s)
{
    int st = 0;
    double t0 = td_time_now();
    while (td_time_now() - t0 < timeout_s) {
        pid_t p = waitpid(fx->agent, &st, WNOHANG);
        if (p == fx->agent) {
            fx->agent = 0;
            return st;
        }
        usleep(20000);
    }
    TD_FAIL("the agent did not end within %.0f s", timeout_s);
    return -1;
}

static char *agent_log(fixture *fx)
{
    char *text = NULL;
    size_t n;
    if (td_file_read(fx->log, &text, &n, NULL))
        return td_strdup("");
    return text;
}

/* The device registered (and its id). */
static void wait_device(fixture *fx)
{
    hub_resp r;
    double t0 = td_time_now();
    while (td_time_now() - t0 < 60) {
        hub_json(&fx->s, &r, "GET", "/api/v1/devices", fx->s.admin, NULL);
        json_t *d = json_array_get(json_object_get(r.json, "devices"), 0);
        if (d && json_is_true(json_object_get(d, "online"))) {
            fx->device = json_integer_value(json_object_get(d, "id"));
            hub_resp_free(&r);
            return;
        }
        hub_resp_free(&r);
        usleep(50000);
    }
    char *log = agent_log(fx);
    TD_FAIL("the agent did not register: %s", log);
}

static long long deploy(fixture *fx, long long bundle, const char *strategy)
{
    char body[600];
    hub_resp r;
    TD_FMT(body, "{\"bundle\": %lld, \"target\": {\"group\": \"g\"}, \"strategy\": %s}", bundle,
           strategy);
    TD_ASSERT_MSG(hub_json(&fx->s, &r, "POST", "/api/v1/deployments", fx->s.admin, body) == 201,
                  "deploy: %s", r.body);
    long long id = json_integer_value(json_object_get(r.json, "id"));
    hub_resp_free(&r);
    return id;
}

/* Waits until deployment dep is finished; returns its state (static buffer) and the first
 * device's message in msg. */
static const char *wait_finished(fixture *fx, long long dep, char *msg, size_t cap)
{
    static char state[32];
    char path[100];
    hub_resp r;
    double t0 = td_time_now();
    TD_FMT(path, "/api/v1/deployments/%lld", dep);
    while (td_time_now() - t0 < 120) {
        hub_json(&fx->s, &r, "GET", path, fx->s.admin, NULL);
        const char *st = json_string_value(json_object_get(r.json, "state"));
        if (st && (!strcmp(st, "succeeded") || !strcmp(st, "rolled_back"))) {
            snprintf(state, sizeof(state), "%s", st);
            json_t *d = json_array_get(json_object_get(r.json, "devices"), 0);
            snprintf(msg, cap, "%s", json_string_value(json_object_get(d, "message")));
            hub_resp_free(&r);
            return state;
        }
        hub_resp_free(&r);
        usleep(50000);
    }
    char *log = agent_log(fx);
    TD_FAIL("deployment %lld did not finish: %s", dep, log);
    return NULL;
}

/* The car's store as it is on disk: its active bundle is sha, verifies and is healthy. */
static void expect_running(fixture *fx, const char *sha)
{
    td_agent_store st;
    td_bundle b;
    td_bundle_health h;
    td_err err;
    TD_ASSERT_OK(td_agent_store_open(&st, fx->data, fx->pk1, &err));
    TD_ASSERT_STREQ(st.active.sha256, sha);
    TD_ASSERT_OK(td_agent_open_active(&st, &b, &err));
    TD_ASSERT_OK(td_bundle_health_check(&b, NULL, &h, &err));
    TD_ASSERT_MSG(h.ok, "the active bundle's health check failed: %s", h.models[0].why);
    td_bundle_close(&b);
    td_agent_store_close(&st);
}

static void blob_path(fixture *fx, const char *sha, char *out, size_t cap)
{
    snprintf(out, cap, "%s/blobs/%.2s/%s", fx->s.data, sha, sha);
}

/* ---- refusals ------------------------------------------------------------------------- */

TD_TEST(refused_bundles_are_reported_rolled_back_and_the_running_model_kept)
{
    fixture fx;
    char v0[800], v1[800], v2[800], v3[800], v4[800], v5[800], msg[1200];
    char s0[TD_SHA256_HEX], s1[TD_SHA256_HEX], s2[TD_SHA256_HEX], s3[TD_SHA256_HEX];
    char s4[TD_SHA256_HEX], s5[TD_SHA256_HEX], path[1200], pub[800];
    setup(&fx);
    TD_FMT(v0, "%s/v0.tdb", fx.dir);
    TD_FMT(v1, "%s/v1.tdb", fx.dir);
    TD_FMT(v2, "%s/v2.tdb", fx.dir);
    TD_FMT(v3, "%s/v3.tdb", fx.dir);
    TD_FMT(v4, "%s/v4.tdb", fx.dir);
    TD_FMT(v5, "%s/v5.tdb", fx.dir);
    build(&fx, v0, T0 - 60, 0, fx.sk1, 10, s0); /* older */
    build(&fx, v1, T0, 0, fx.sk1, 10, s1);
    build(&fx, v2, T0 + 60, 0, fx.sk1, 11, s2);     /* tampered on the hub's disk */
    build(&fx, v3, T0 + 120, 0, fx.sk2, 12, s3);    /* another key */
    build(&fx, v4, T0 + 180, 0, fx.sk1, 13, s4);    /* truncated on the hub's disk */
    build(&fx, v5, T0 + 240, 1e-6, fx.sk1, 14, s5); /* a health check it cannot pass */
    long long b0 = upload(&fx, v0), b1 = upload(&fx, v1), b2 = upload(&fx, v2);
    long long b4 = upload(&fx, v4), b5 = upload(&fx, v5);
    TD_FMT(pub, "%s.pub", fx.key2);
    put_key(&fx, pub); /* an admin (or an attacker holding the hub) switches keys */
    long long b3 = upload(&fx, v3);
    TD_FMT(pub, "%s.pub", fx.key1);
    put_key(&fx, pub);
    agent_start(&fx, "");
    wait_device(&fx);
    long long d = deploy(&fx, b1, "{\"canary\": 1}");
    TD_ASSERT_STREQ(wait_finished(&fx, d, msg, sizeof(msg)), "succeeded");
    expect_running(&fx, s1);

    /* One byte of v2 changed where the hub keeps it. */
    blob_path(&fx, s2, path, sizeof(path));
    chmod(path, 0644);
    FILE *f = fopen(path, "r+b");
    TD_ASSERT(f != NULL);
    fseek(f, 3000, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 3000, SEEK_SET);
    fputc(c ^ 0x20, f);
    fclose(f);
    d = deploy(&fx, b2, "{\"canary\": 1}");
    TD_ASSERT_STREQ(wait_finished(&fx, d, msg, sizeof(msg)), "rolled_back");
    TD_ASSERT_MSG(strstr(msg, "SHA-256") != NULL, "tampered: %s", msg);
    expect_running(&fx, s1);

    d = deploy(&fx, b3, "{\"canary\": 1}");
    TD_ASSERT_STREQ(wait_finished(&fx, d, msg, sizeof(msg)), "rolled_back");
    TD_ASSERT_MSG(strstr(msg, "key") != NULL, "other key: %s", msg);
    expect_running(&fx, s1);

    d = deploy(&fx, b0, "{\"canary\": 1}");
    TD_ASSERT_STREQ(wait_finished(&fx, d, msg, sizeof(msg)), "rolled_back");
    TD_ASSERT_MSG(strstr(msg, "installed only as a rollback") != NULL, "replayed: %s", msg);
    expect_running(&fx, s1);

    d = deploy(&fx, b5, "{\"canary\": 1}");
    TD_ASSERT_STREQ(wait_finished(&fx, d, msg, sizeof(msg)), "rolled_back");
    TD_ASSERT_MSG(strstr(msg, "health check failed") != NULL, "health: %s", msg);
    expect_running(&fx, s1);

    /* v4 cut in half where the hub keeps it: the download breaks off every time (retried),
     * the device never reports, the deployment times out and rolls back. */
    blob_path(&fx, s4, path, sizeof(path));
    chmod(path, 0644);
    TD_ASSERT_EQ(truncate(path, 20000), 0);
    d = deploy(&fx, b4, "{\"canary\": 1, \"timeout_s\": 2}");
    TD_ASSERT_STREQ(wait_finished(&fx, d, msg, sizeof(msg)), "rolled_back");
    TD_ASSERT_MSG(strstr(msg, "no report within") != NULL, "truncated: %s", msg);
    expect_running(&fx, s1);
    /* The stalled download fails (10 s without a byte) and is retried. */
    char *log = NULL;
    double t0 = td_time_now();
    for (;;) {
        log = agent_log(&fx);
        if (strstr(log, "download failed (retrying") || td_time_now() - t0 > 60)
            break;
        td_free(log);
        usleep(100000);
    }
    int seen = strstr(log, "download failed (retrying") != NULL;
    td_free(log);
    TD_ASSERT_MSG(seen, "the stalled download never failed");
    expect_running(&fx, s1);
    agent_stop(&fx);
    /* Nothing of the refused bundles is left on the car. */
    char cmd[1000], *out = NULL;
    TD_FMT(cmd, "ls %s/bundles %s/incoming | grep -c tdb", fx.data, fx.data);
    td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(strtol(out, NULL, 10), 1);
    td_free(out);
    (void)s0;
    (void)s3;
    (void)s5;
    hub_stop(&fx.s);
}

/* ---- killed anywhere ------------------------------------------------------------------ */

/* Kills the agent at `point` while it installs v2 over v1, then checks the store and that
 * the agent started again finishes the install. */
static void kill_at(const char *point)
{
    fixture fx;
    char v1[800], v2[800], msg[1200], env[200];
    char s1[TD_SHA256_HEX], s2[TD_SHA256_HEX];
    setup(&fx);
    TD_FMT(v1, "%s/v1.tdb", fx.dir);
    TD_FMT(v2, "%s/v2.tdb", fx.dir);
    build(&fx, v1, T0, 0, fx.sk1, 10, s1);
    build(&fx, v2, T0 + 60, 0, fx.sk1, 12, s2);
    long long b1 = upload(&fx, v1), b2 = upload(&fx, v2);
    agent_start(&fx, "");
    wait_device(&fx);
    long long d = deploy(&fx, b1, "{\"canary\": 1}");
    TD_ASSERT_STREQ(wait_finished(&fx, d, msg, sizeof(msg)), "succeeded");
    agent_stop(&fx);
    if (!strcmp(point, "downloading")) {
        /* The hub's copy of v2 cut short: the download stalls after its first bytes, with
         * the partial file on the car's disk; the agent is killed then. */
        char blob[1200], cmd[3000], *out = NULL;
        blob_path(&fx, s2, blob, sizeof(blob));
        chmod(blob, 0644);
        TD_ASSERT_EQ(truncate(blob, 20000), 0);
        agent_start(&fx, "");
        d = deploy(&fx, b2, "{\"canary\": 1}");
        char part[1000];
        TD_FMT(part, "%s/incoming/%s.tdb.part", fx.data, s2);
        double t0 = td_time_now();
        struct stat st;
        while (!(stat(part, &st) == 0 && st.st_size > 0) && td_time_now() - t0 < 60)
            usleep(5000);
        if (!(stat(part, &st) == 0 && st.st_size > 0)) {
            char *log = agent_log(&fx);
            TD_FAIL("no partial download appeared: %s", log);
        }
        kill(fx.agent, SIGKILL);
        waitpid(fx.agent, NULL, 0);
        fx.agent = 0;
        TD_FMT(cmd, "cp %s %s", v2, blob);
        TD_ASSERT_EQ(td_test_run(cmd, &out, NULL), 0);
        td_free(out);
    } else {
        TD_FMT(env, "TD_AGENT_CRASH_AT=%s", point);
        agent_start(&fx, env);
        d = deploy(&fx, b2, "{\"canary\": 1}");
        int st = agent_wait(&fx, 60);
        TD_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: status %d", point, st);
    }
    /* Killed: the store holds a bundle that verifies and passes its health check. */
    expect_running(&fx, !strcmp(point, "switched") ? s2 : s1);
    /* Started again, it finishes the install. */
    agent_start(&fx, "");
    TD_ASSERT_STREQ(wait_finished(&fx, d, msg, sizeof(msg)), "succeeded");
    expect_running(&fx, s2);
    agent_stop(&fx);
    char cmd[1000], *out = NULL;
    TD_FMT(cmd, "ls %s/incoming | wc -l", fx.data);
    td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(strtol(out, NULL, 10), 0);
    td_free(out);
    hub_stop(&fx.s);
}

TD_TEST(sigkill_during_the_download)
{
    kill_at("downloading");
}

TD_TEST(sigkill_after_the_download)
{
    kill_at("downloaded");
}

TD_TEST(sigkill_after_the_bundle_is_stored)
{
    kill_at("stored");
}

TD_TEST(sigkill_during_the_health_check)
{
    kill_at("checked");
}

TD_TEST(sigkill_right_after_the_switch)
{
    kill_at("switched");
}

/* ---- the hub goes away ---------------------------------------------------------------- */

static int outbox_files(fixture *fx)
{
    char cmd[1000], *out = NULL;
    TD_FMT(cmd, "ls %s/outbox | grep -c json", fx->data);
    td_test_run(cmd, &out, NULL);
    int n = (int)strtol(out ? out : "0", NULL, 10);
    td_free(out);
    return n;
}

TD_TEST(a_hub_that_goes_away_the_agent_buffers_and_catches_up)
{
    fixture fx;
    char v1[800], msg[1200], cmd[4096], url[200];
    char s1[TD_SHA256_HEX];
    setup(&fx);
    TD_FMT(v1, "%s/v1.tdb", fx.dir);
    build(&fx, v1, T0, 0, fx.sk1, 10, s1);
    long long b1 = upload(&fx, v1);
    /* Driving (telemetry windows of 0.5 s), a small buffer. */
    fx.agent = fork();
    TD_ASSERT(fx.agent >= 0);
    if (fx.agent == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(cmd, sizeof(cmd),
                 "exec %s agent --hub %s --device-token %s --data %s --name car-1 "
                 "--heartbeat-s 0.1 --track oval --speedup 4 --window-s 0.5 --buffer-mb 1 "
                 ">> %s 2>&1",
                 TD_TEST_TRACKDAY_BIN, fx.s.url, fx.enroll, fx.data, fx.log);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    wait_device(&fx);
    long long d = deploy(&fx, b1, "{\"canary\": 1}");
    TD_ASSERT_STREQ(wait_finished(&fx, d, msg, sizeof(msg)), "succeeded");
    /* The hub stops; windows pile up on the car's disk, within the bound. */
    TD_FMT(url, "%s", fx.s.url);
    hub_stop_keep(&fx.s);
    double t0 = td_time_now();
    while (outbox_files(&fx) < 5 && td_time_now() - t0 < 60)
        usleep(50000);
    TD_ASSERT_GE(outbox_files(&fx), 5);
    char *log = agent_log(&fx);
    TD_ASSERT_MSG(strstr(log, "hub unreachable (buffering on disk)") != NULL, "%s", log);
    td_free(log);
    /* The queued windows are telemetry.h's documents: this device, numbered in order. */
    char ls[1000], *names = NULL;
    TD_FMT(ls, "ls %s/outbox | grep telemetry | head -n 2", fx.data);
    TD_ASSERT_EQ(td_test_run(ls, &names, NULL), 0);
    char first[128] = "", second[128] = "";
    TD_ASSERT_EQ_INT(sscanf(names, "%127s %127s", first, second), 2);
    td_free(names);
    uint64_t seqs[2];
    for (int k = 0; k < 2; k++) {
        char p[1200];
        json_t *msg = NULL;
        td_err jerr;
        TD_FMT(p, "%s/outbox/%s", fx.data, k ? second : first);
        TD_ASSERT_OK(td_json_load_file(p, &msg, &jerr));
        json_t *w = json_object_get(msg, "body");
        td_telemetry tel;
        TD_ASSERT_OK(td_telemetry_from_json(&tel, w, &jerr));
        char dev[32];
        TD_FMT(dev, "%lld", fx.device);
        TD_ASSERT_STREQ(tel.device, dev);
        TD_ASSERT_STREQ(tel.deployment, "1");
        TD_ASSERT_STREQ(tel.bundle_sha256, s1); /* the hub checks drift against its reference */
        TD_ASSERT_GT(tel.summary.frames, 0);
        TD_ASSERT_LE(tel.start_ms, tel.end_ms);
        seqs[k] = tel.seq;
        td_telemetry_free(&tel);
        char route[100];
        TD_FMT(route, "/api/v1/devices/%lld/telemetry", fx.device);
        TD_ASSERT_STREQ(json_string_value(json_object_get(msg, "path")), route);
        json_decref(msg);
    }
    TD_ASSERT_EQ(seqs[1], seqs[0] + 1);
    /* A retry: the first window sent again (as after a reply lost on the way back), the same
     * document under a later name in the queue. */
    char cp[3000];
    TD_FMT(cp, "cp %s/outbox/%s %s/outbox/9999999999999999-telemetry.json", fx.data, first,
           fx.data);
    TD_ASSERT_EQ(td_test_run(cp, NULL, NULL), 0);
    char du[1000], *out = NULL;
    TD_FMT(du, "du -sk %s/outbox | cut -f1", fx.data);
    td_test_run(du, &out, NULL);
    TD_ASSERT_LE(strtol(out, NULL, 10), 1100);
    td_free(out);
    /* The hub is back on the same address: the buffer drains. */
    const char *port = strrchr(url, ':') + 1;
    char listen[100];
    TD_FMT(listen, "--listen 127.0.0.1:%s", port);
    /* hub_launch appends its own --listen 127.0.0.1:0 first; the later one wins. */
    hub_launch(&fx.s, listen);
    TD_ASSERT_STREQ(fx.s.url, url);
    t0 = td_time_now();
    while (outbox_files(&fx) > 1 && td_time_now() - t0 < 60)
        usleep(50000);
    TD_ASSERT_LE(outbox_files(&fx), 1);
    char dup[1200];
    TD_FMT(dup, "%s/outbox/9999999999999999-telemetry.json", fx.data);
    while (td_path_exists(dup) && td_time_now() - t0 < 60)
        usleep(50000);
    TD_ASSERT_MSG(!td_path_exists(dup), "the retried window was not sent");
    log = agent_log(&fx);
    TD_ASSERT_MSG(strstr(log, "hub reachable") != NULL, "%s", log);
    td_free(log);
    agent_stop(&fx);
    /* Every window stored once: the retried one too (the hub keeps one per device and seq), so
     * seqs and spans both strictly increase. */
    hub_resp r;
    char route[128];
    TD_FMT(route, "/api/v1/devices/%lld/telemetry?limit=1000", fx.device);
    TD_ASSERT_EQ(hub_json(&fx.s, &r, "GET", route, fx.s.admin, NULL), 200);
    json_t *ws = json_object_get(r.json, "windows");
    int n = (int)json_array_size(ws), retried = 0;
    TD_ASSERT_GE(n, 5);
    for (int i = 0; i < n; i++) {
        json_int_t q = json_integer_value(json_object_get(json_array_get(ws, (size_t)i), "seq"));
        retried += q == (json_int_t)seqs[0];
        /* Every window after the installation names the bundle, so the hub checked it. */
        const json_t *wi = json_array_get(ws, (size_t)i);
        if (q >= (json_int_t)seqs[0]) {
            TD_ASSERT_STREQ(json_string_value(json_object_get(wi, "bundle_sha256")), s1);
            TD_ASSERT(strcmp(json_string_value(json_object_get(wi, "level")), "unknown") != 0);
        }
        if (i) {
            json_t *prev = json_array_get(ws, (size_t)i - 1), *cur = json_array_get(ws, (size_t)i);
            TD_ASSERT_GT(q, json_integer_value(json_object_get(prev, "seq")));
            TD_ASSERT_GT(json_integer_value(json_object_get(cur, "start_ms")),
                         json_integer_value(json_object_get(prev, "start_ms")));
        }
    }
    TD_ASSERT_EQ_INT(retried, 1);
    hub_resp_free(&r);
    hub_stop(&fx.s);
}

/* ---- the disk buffer ------------------------------------------------------------------ */

TD_TEST(outbox_is_ordered_bounded_and_survives_a_restart)
{
    td_agent_outbox ob;
    td_err err;
    char dir[600], name[80], kind[32], path[900];
    json_t *body;
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_ASSERT_OK(td_agent_outbox_open(&ob, dir, 0, 5, &err));
    json_t *m = json_pack("{s:i}", "n", 1);
    TD_ASSERT_OK(td_agent_outbox_put(&ob, "report", m, &err));
    for (int i = 2; i <= 6; i++) {
        json_object_set_new(m, "n", json_integer(i));
        TD_ASSERT_OK(td_agent_outbox_put(&ob, "telemetry", m, &err));
    }
    /* Six queued, five allowed: the oldest telemetry (2) went, the report (1) stayed. */
    TD_ASSERT_EQ_INT(td_agent_outbox_count(&ob, NULL), 5);
    TD_ASSERT_EQ(ob.dropped, 1);
    /* A torn temporary file of a killed write is swept; a new open continues the order. */
    TD_FMT(path, "%s/outbox/0000000000000099-report.json.tmp.123", dir);
    TD_ASSERT_OK(td_file_write_atomic(path, "{", 1, &err));
    td_agent_outbox ob2;
    TD_ASSERT_OK(td_agent_outbox_open(&ob2, dir, 0, 5, &err));
    TD_ASSERT_EQ(ob2.next_seq, 7);
    TD_ASSERT(!td_path_exists(path));
    int expect[] = {1, 3, 4, 5, 6};
    for (int i = 0; i < 5; i++) {
        TD_ASSERT_EQ_INT(td_agent_outbox_peek(&ob2, name, sizeof(name), kind, sizeof(kind), &body),
                         1);
        TD_ASSERT_EQ_INT(json_integer_value(json_object_get(body, "n")), expect[i]);
        TD_ASSERT_STREQ(kind, i == 0 ? "report" : "telemetry");
        json_decref(body);
        td_agent_outbox_done(&ob2, name);
    }
    TD_ASSERT_EQ_INT(td_agent_outbox_peek(&ob2, name, sizeof(name), kind, sizeof(kind), &body), 0);
    /* Over the byte bound, reports go too once no telemetry is left. */
    td_agent_outbox ob3;
    TD_ASSERT_OK(td_agent_outbox_open(&ob3, dir, 60, 100, &err));
    for (int i = 0; i < 4; i++)
        TD_ASSERT_OK(td_agent_outbox_put(&ob3, "report", m, &err));
    size_t bytes = 0;
    int n = td_agent_outbox_count(&ob3, &bytes);
    TD_ASSERT_LE(bytes, 60);
    TD_ASSERT_GE(n, 1);
    json_decref(m);
}

TD_TEST(world_files_and_shifts)
{
    td_agent_world w;
    td_err err;
    td_agent_world_init(&w);
    json_t *j = json_loads("{\"track\": \"oval\", \"seed\": 3, \"shift\": {\"brightness\": 0.5, "
                           "\"road\": \"#102030\", \"grip\": 0.7}}",
                           0, NULL);
    TD_ASSERT_OK(td_agent_world_from_json(&w, j, "w.json", &err));
    json_decref(j);
    TD_ASSERT_EQ(w.look.brightness, 0.5);
    TD_ASSERT_EQ_INT(w.look.road[2], 0x30);
    TD_ASSERT_EQ(w.grip_scale, 0.7);
    TD_ASSERT_OK(td_agent_world_shift(&w, "texture=40,camera_pitch_deg=3", &err));
    TD_ASSERT_EQ(w.look.texture, 40);
    TD_ASSERT_EQ(w.look.pitch_offset_deg, 3);
    TD_ASSERT_ERR(td_agent_world_shift(&w, "brightnes=0.5", &err), TD_EINVAL, &err,
                  "unknown shift 'brightnes'");
    TD_ASSERT_ERR(td_agent_world_shift(&w, "grip=9", &err), TD_EINVAL, &err, "outside");
    TD_ASSERT_ERR(td_agent_world_shift(&w, "road=#12", &err), TD_EINVAL, &err, "#rrggbb");
    j = json_loads("{\"trak\": \"oval\"}", 0, NULL);
    TD_ASSERT_ERR(td_agent_world_from_json(&w, j, "w.json", &err), TD_EINVAL, &err,
                  "unknown key 'trak'");
    json_decref(j);
    td_agent_world_free(&w);
}

/* ---- an agent with nothing to do sleeps ------------------------------------------------- */

static double cpu_seconds(pid_t pid)
{
    char path[64], *text = NULL;
    size_t n;
    double s = 0;
    TD_FMT(path, "/proc/%d/stat", (int)pid);
    if (td_file_read(path, &text, &n, NULL))
        return -1;
    const char *p = strrchr(text, ')');
    unsigned long ut = 0, st = 0;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    td_free(text);
    return s;
}

/* The agent's process (the shell exec'd it, so the pid is the agent's). Its CPU time over
 * 2.5 s of wall time with nothing to do: a loop that spins instead of sleeping (it did, once a
 * telemetry window passed with nothing to drive, and while registration waited to retry)
 * uses most of it; a sleeping one a few hundredths. */
static void expect_sleeping(fixture *fx)
{
    double c0 = cpu_seconds(fx->agent), t0 = td_time_now();
    while (td_time_now() - t0 < 2.5)
        usleep(100000);
    double used = cpu_seconds(fx->agent) - c0;
    TD_ASSERT_MSG(c0 >= 0 && used < 0.25, "the agent used %.2f s of CPU in 2.5 s of nothing", used);
}

TD_TEST(an_agent_with_nothing_to_do_sleeps)
{
    fixture fx;
    char cmd[4096];
    setup(&fx);
    /* Registered, no world to drive, telemetry windows of 0.5 s long past. */
    fx.agent = fork();
    TD_ASSERT(fx.agent >= 0);
    if (fx.agent == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(cmd, sizeof(cmd),
                 "exec %s agent --hub %s --device-token %s --data %s --name car-1 "
                 "--heartbeat-s 0.2 --window-s 0.5 >> %s 2>&1",
                 TD_TEST_TRACKDAY_BIN, fx.s.url, fx.enroll, fx.data, fx.log);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    wait_device(&fx);
    expect_sleeping(&fx);
    agent_stop(&fx);
    /* A hub that does not answer: registration waits to retry. */
    hub_stop_keep(&fx.s);
    char other[700];
    TD_FMT(other, "%s2", fx.data);
    fx.agent = fork();
    TD_ASSERT(fx.agent >= 0);
    if (fx.agent == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(cmd, sizeof(cmd),
                 "exec %s agent --hub %s --device-token %s --data %s --name car-2 >> %s 2>&1",
                 TD_TEST_TRACKDAY_BIN, fx.s.url, fx.enroll, other, fx.log);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    expect_sleeping(&fx);
    char *log = agent_log(&fx);
    TD_ASSERT_MSG(strstr(log, "registration failed (retrying in") != NULL, "%s", log);
    td_free(log);
    agent_stop(&fx);
    hub_stop(&fx.s);
}

TD_TEST(camera_devices_that_are_not_cameras_are_refused)
{
    td_agent_camera *c = NULL;
    td_err err;
    TD_ASSERT_ERR(td_agent_camera_open(&c, "/dev/null", 160, 120, &err), TD_EINVAL, &err,
                  "/dev/null: not a V4L2 device");
    td_agent_camera_close(c);
    TD_ASSERT_ERR(td_agent_camera_open(&c, "/nonexistent/video0", 160, 120, &err), TD_EIO, &err,
                  "/nonexistent/video0: No such file or directory");
    td_agent_camera_close(c);
    TD_ASSERT_ERR(td_agent_camera_open(&c, "/dev/null", 0, 0, &err), TD_EINVAL, &err,
                  "the model has no camera input");
    td_agent_camera_close(c);
}
