/*
 * test_agent.c - a car's bundle store (agent.h, docs/agent.md, docs/cli/agent.md): a bundle
 * is installed only when its signature, every byte, its age and its health check hold; a
 * bundle with a byte changed, signed by another key, truncated, named by a wrong SHA-256,
 * older than the running one (a replay) or failing its health check is refused and the running
 * bundle kept; rollback; a process killed at every step of an install leaves a bundle that
 * verifies and passes its health check; `trackday agent` exit status and messages.
 */
#include <sys/stat.h>

#include "td_test.h"
#include "trackday/agent.h"
#include "trackday/bundle.h"
#include "trackday/modeldir.h"
#include "trackday/policy.h"

#ifndef TD_TEST_TRACKDAY_BIN
#define TD_TEST_TRACKDAY_BIN "trackday"
#endif

#define T0 1796500000 /* created_unix of the first bundle */

typedef struct fixture {
    char dir[512], model_dir[600], pub[600], data[600];
    char a[600], b[600]; /* bundles: a created T0, b created T0 + 60 */
    char sha_a[TD_SHA256_HEX], sha_b[TD_SHA256_HEX];
    uint8_t sk[TD_SIGN_SECRET_BYTES], pk[TD_SIGN_PUBLIC_BYTES];
} fixture;

static void build_bundle(fixture *fx, const char *out, int64_t created, double budget_ms,
                         const uint8_t *sk, char sha[TD_SHA256_HEX])
{
    td_bundle_options o;
    td_bundle_report rep;
    td_err err;
    char model[700], meta[700], track[700];
    TD_FMT(model, "%s/model/best.tdm", fx->model_dir);
    TD_FMT(meta, "%s/model_metadata.json", fx->model_dir);
    TD_FMT(track, "%s/reinvent_base.npy", TD_SHARED_TRACKS);
    td_bundle_options_default(&o);
    o.model_path = model;
    o.metadata_path = meta;
    o.track_path = track;
    o.name = "car";
    o.secret_key = sk;
    o.eval_laps = 1;
    o.train_steps = 20;
    o.train_cars = 1;
    o.calibrate = 32;
    o.health_cases = 4;
    o.created_unix = created;
    if (budget_ms > 0)
        o.latency_budget_ms = budget_ms;
    if (td_bundle_build(&o, out, &rep, &err) != 0)
        TD_FAIL("%s", err.msg);
    if (sha)
        memcpy(sha, rep.sha256, TD_SHA256_HEX);
}

/* A state model directory, a signing key, bundles a and b, an empty data directory. */
static void setup(fixture *fx)
{
    char cmd[2048], path[1024];
    td_err err;
    memset(fx, 0, sizeof(*fx));
    TD_FMT(fx->dir, "%s", td_test_tmpdir());
    TD_FMT(fx->model_dir, "%s/car", fx->dir);
    /* The centre-line reward: these tests use the policy, not the reward, and the racing line
     * init computes for a DeepRacer route costs about 12 s under ASan. */
    TD_FMT(cmd,
           "%s init %s --discrete --fast-actions --sensor state --track reinvent_base --reward "
           "centre-line > /dev/null",
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
    TD_ASSERT_OK(td_sign_keypair(fx->pk, fx->sk));
    TD_FMT(path, "%s/signing.key", fx->dir);
    TD_ASSERT_OK(td_sign_key_write(path, fx->pk, fx->sk, 0, &err));
    TD_FMT(fx->pub, "%s/signing.key.pub", fx->dir);
    TD_FMT(fx->a, "%s/a.tdb", fx->dir);
    TD_FMT(fx->b, "%s/b.tdb", fx->dir);
    TD_FMT(fx->data, "%s/device", fx->dir);
    build_bundle(fx, fx->a, T0, 0, fx->sk, fx->sha_a);
    build_bundle(fx, fx->b, T0 + 60, 0, fx->sk, fx->sha_b);
}

/* The files of DIR/bundles, sorted names joined by spaces. */
static void bundle_files(const fixture *fx, char *out, size_t cap)
{
    char cmd[1024], *o = NULL;
    TD_FMT(cmd, "ls %s/bundles | sort | tr '\\n' ' '", fx->data);
    TD_ASSERT_EQ(td_test_run(cmd, &o, NULL), 0);
    snprintf(out, cap, "%s", o);
    td_free(o);
}

static void expect_files(const fixture *fx, const char *sha1, const char *sha2)
{
    char got[1024], want[300];
    bundle_files(fx, got, sizeof(got));
    if (sha2 && strcmp(sha1, sha2) > 0) {
        const char *t = sha1;
        sha1 = sha2;
        sha2 = t;
    }
    if (sha2)
        TD_FMT(want, "%s.tdb %s.tdb ", sha1, sha2);
    else
        TD_FMT(want, "%s.tdb ", sha1);
    TD_ASSERT_STREQ(got, want);
}

/* The active bundle is sha: recorded, on disk, verifying, and passing its health check. */
static void expect_active(const td_agent_store *s, const char *sha)
{
    td_bundle b;
    td_err err;
    TD_ASSERT_STREQ(s->active.sha256, sha);
    if (td_agent_open_active(s, &b, &err) != 0)
        TD_FAIL("%s", err.msg);
    td_bundle_health h;
    TD_ASSERT_OK(td_bundle_health_check(&b, NULL, &h, &err));
    TD_ASSERT(h.ok);
    TD_ASSERT_STREQ(b.sha256, sha);
    td_bundle_close(&b);
}

static const char *last_event(const td_agent_store *s)
{
    size_t n = json_array_size(s->history);
    TD_ASSERT_GT(n, 0);
    return json_string_value(json_object_get(json_array_get(s->history, n - 1), "event"));
}

TD_TEST(install_switches_and_survives_reopening)
{
    fixture fx;
    td_agent_store s;
    td_agent_result r;
    td_err err;
    setup(&fx);
    TD_ASSERT_OK(td_agent_store_open(&s, fx.data, fx.pk, &err));
    TD_ASSERT_ERR(td_agent_open_active(&s, &(td_bundle){0}, &err), TD_ENOENT, &err,
                  "no bundle installed");
    TD_ASSERT_OK(td_agent_install(&s, fx.a, fx.sha_a, 0, &r, &err));
    TD_ASSERT(r.installed && r.health_ran && r.health.ok);
    TD_ASSERT_EQ(r.health.n_models, 2); /* fp32 and int8 */
    expect_active(&s, fx.sha_a);
    TD_ASSERT_EQ(s.previous.sha256[0], '\0');
    TD_ASSERT_EQ(s.active.created_unix, T0);
    TD_ASSERT_STREQ(s.active.name, "car");
    TD_ASSERT_OK(td_agent_install(&s, fx.b, NULL, 0, &r, &err));
    TD_ASSERT(r.installed);
    expect_active(&s, fx.sha_b);
    TD_ASSERT_STREQ(s.previous.sha256, fx.sha_a);
    expect_files(&fx, fx.sha_a, fx.sha_b);
    /* The same bundle again changes nothing. */
    TD_ASSERT_OK(td_agent_install(&s, fx.b, NULL, 0, &r, &err));
    TD_ASSERT(!r.installed);
    TD_ASSERT_CONTAINS(r.why, "already the active bundle");
    td_agent_store_close(&s);
    /* What is on disk is what was installed. */
    TD_ASSERT_OK(td_agent_store_open(&s, fx.data, fx.pk, &err));
    expect_active(&s, fx.sha_b);
    TD_ASSERT_STREQ(s.previous.sha256, fx.sha_a);
    TD_ASSERT_EQ(json_array_size(s.history), 2);
    TD_ASSERT_STREQ(last_event(&s), "installed");
    td_agent_store_close(&s);
    /* Without a key the store reads but installs nothing. */
    TD_ASSERT_OK(td_agent_store_open(&s, fx.data, NULL, &err));
    TD_ASSERT_STREQ(s.active.sha256, fx.sha_b);
    TD_ASSERT_ERR(td_agent_install(&s, fx.a, NULL, 0, &r, &err), TD_EINVAL, &err,
                  "without a trusted key");
    td_agent_store_close(&s);
}

/* Refused with code and message; the running bundle and the files on disk unchanged. */
static void expect_refused(const fixture *fx, const char *path, const char *sha, int flags,
                           int code, const char *needle, const char *event)
{
    td_agent_store s;
    td_agent_result r;
    td_err err;
    TD_ASSERT_OK(td_agent_store_open(&s, fx->data, fx->pk, &err));
    size_t n = json_array_size(s.history);
    int rc = td_agent_install(&s, path, sha, flags, &r, &err);
    if (rc != code || !strstr(err.msg, needle))
        TD_FAIL("install %s: rc %d (want %d), '%s' (want '%s')", path, rc, code, err.msg, needle);
    TD_ASSERT(!r.installed);
    TD_ASSERT_STREQ(r.why, err.msg);
    expect_active(&s, fx->sha_b);
    TD_ASSERT_STREQ(s.previous.sha256, fx->sha_a);
    TD_ASSERT_EQ(json_array_size(s.history), n + 1);
    TD_ASSERT_STREQ(last_event(&s), event);
    td_agent_store_close(&s);
    expect_files(fx, fx->sha_a, fx->sha_b);
}

TD_TEST(refused_bundles_keep_the_running_one)
{
    fixture fx;
    td_agent_store s;
    td_err err;
    char path[700];
    setup(&fx);
    TD_ASSERT_OK(td_agent_store_open(&s, fx.data, fx.pk, &err));
    TD_ASSERT_OK(td_agent_install(&s, fx.a, NULL, 0, NULL, &err));
    TD_ASSERT_OK(td_agent_install(&s, fx.b, NULL, 0, NULL, &err));
    td_agent_store_close(&s);
    /* A newer bundle, damaged: one byte changed anywhere (header, manifest, signature, model
     * weights, padding, the end), or truncated as a broken download would be. */
    char c[700];
    TD_FMT(c, "%s/c.tdb", fx.dir);
    build_bundle(&fx, c, T0 + 120, 0, fx.sk, NULL);
    char *orig;
    size_t len;
    TD_ASSERT_OK(td_file_read(c, &orig, &len, &err));
    TD_FMT(path, "%s/bad.tdb", fx.dir);
    td_rng rng;
    td_rng_seed(&rng, 9, 9);
    size_t where[12] = {0,    100,     157,     512,        700,       1024,
                        1500, len / 3, len / 2, len - 1100, len - 600, len - 1};
    for (int i = 0; i < 12; i++) {
        char was = orig[where[i]];
        orig[where[i]] = (char)(was ^ (1 + (int)(td_rng_uniform(&rng) * 254)));
        TD_ASSERT_OK(td_file_write_atomic(path, orig, len, &err));
        expect_refused(&fx, path, NULL, 0, TD_EINVAL, "bad.tdb: ", "refused");
        orig[where[i]] = was;
    }
    td_free(orig);
    TD_ASSERT_OK(td_file_read(c, &orig, &len, &err));
    TD_ASSERT_OK(td_file_write_atomic(path, orig, len / 2, &err));
    expect_refused(&fx, path, NULL, 0, TD_EINVAL, "bad.tdb: ", "refused");
    TD_ASSERT_OK(td_file_write_atomic(path, orig, len - 1024, &err));
    expect_refused(&fx, path, NULL, 0, TD_EINVAL, "bad.tdb: ", "refused");
    td_free(orig);
    /* The deployment names another SHA-256. */
    expect_refused(&fx, c, fx.sha_a, 0, TD_EINVAL, "c.tdb: ", "refused");
    /* Signed by another key. */
    uint8_t pk2[TD_SIGN_PUBLIC_BYTES], sk2[TD_SIGN_SECRET_BYTES];
    TD_ASSERT_OK(td_sign_keypair(pk2, sk2));
    TD_FMT(path, "%s/other.tdb", fx.dir);
    build_bundle(&fx, path, T0 + 120, 0, sk2, NULL);
    expect_refused(&fx, path, NULL, 0, TD_EINVAL, "not by the key given", "refused");
    /* A replayed older bundle (a, created before the running b). */
    expect_refused(&fx, fx.a, NULL, 0, TD_EINVAL, "installed only as a rollback", "refused");
    /* A newer bundle whose health check fails (a latency budget no model meets). */
    TD_FMT(path, "%s/slow.tdb", fx.dir);
    build_bundle(&fx, path, T0 + 120, 1e-7, fx.sk, NULL);
    expect_refused(&fx, path, NULL, 0, TD_ECHECKSUM, "health check failed", "health_failed");
    /* The undamaged c installs. */
    TD_ASSERT_OK(td_agent_store_open(&s, fx.data, fx.pk, &err));
    TD_ASSERT_OK(td_agent_install(&s, c, NULL, 0, NULL, &err));
    TD_ASSERT_STREQ(s.previous.sha256, fx.sha_b);
    td_agent_store_close(&s);
}

TD_TEST(rollback_and_older_bundles_on_request)
{
    fixture fx;
    td_agent_store s;
    td_agent_result r;
    td_err err;
    setup(&fx);
    TD_ASSERT_OK(td_agent_store_open(&s, fx.data, fx.pk, &err));
    TD_ASSERT_OK(td_agent_install(&s, fx.a, NULL, 0, NULL, &err));
    TD_ASSERT_ERR(td_agent_rollback(&s, &r, &err), TD_ENOENT, &err, "no previous bundle");
    TD_ASSERT_OK(td_agent_install(&s, fx.b, NULL, 0, NULL, &err));
    TD_ASSERT_OK(td_agent_rollback(&s, &r, &err));
    TD_ASSERT(r.installed && r.health_ran && r.health.ok);
    expect_active(&s, fx.sha_a);
    TD_ASSERT_STREQ(s.previous.sha256, fx.sha_b);
    TD_ASSERT_STREQ(last_event(&s), "rolled_back");
    TD_ASSERT_OK(td_agent_rollback(&s, &r, &err));
    expect_active(&s, fx.sha_b);
    /* An older bundle when asked for (a deployment's rollback). */
    char c[700], sha_c[TD_SHA256_HEX];
    TD_FMT(c, "%s/c.tdb", fx.dir);
    build_bundle(&fx, c, T0 - 60, 0, fx.sk, sha_c);
    TD_ASSERT_ERR(td_agent_install(&s, c, NULL, 0, &r, &err), TD_EINVAL, &err, "rollback");
    TD_ASSERT_OK(td_agent_install(&s, c, NULL, TD_AGENT_ALLOW_OLDER, &r, &err));
    expect_active(&s, sha_c);
    TD_ASSERT_STREQ(s.previous.sha256, fx.sha_b);
    td_agent_store_close(&s);
    expect_files(&fx, fx.sha_b, sha_c); /* a, neither active nor previous, is gone */
    /* A previous bundle damaged on the device's disk is not rolled back to. */
    char path[700];
    TD_FMT(path, "%s/bundles/%s.tdb", fx.data, fx.sha_b);
    FILE *f = fopen(path, "r+b");
    TD_ASSERT(f != NULL);
    fseek(f, 2000, SEEK_SET);
    fputc(0x55, f);
    fclose(f);
    TD_ASSERT_OK(td_agent_store_open(&s, fx.data, fx.pk, &err));
    TD_ASSERT_ERR(td_agent_rollback(&s, &r, &err), TD_EINVAL, &err, "rollback to bundle");
    expect_active(&s, sha_c);
    TD_ASSERT_STREQ(last_event(&s), "rollback_refused");
    td_agent_store_close(&s);
}

/* ---- the command, and processes killed mid-install ------------------------------------ */

TD_TEST(killed_at_every_step_leaves_a_working_bundle)
{
    static const char *steps[] = {"stored", "checked", "switched"};
    fixture fx;
    char cmd[4096], *out;
    td_agent_store s;
    td_err err;
    setup(&fx);
    for (int i = 0; i < 3; i++) {
        TD_FMT(fx.data, "%s/device%d", fx.dir, i);
        TD_FMT(cmd, "%s agent install %s --data %s --key %s", TD_TEST_TRACKDAY_BIN, fx.a, fx.data,
               fx.pub);
        TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
        td_free(out);
        /* A download the agent was writing when it was killed. */
        char part[700];
        TD_FMT(part, "%s/incoming/%s.part", fx.data, fx.sha_b);
        td_test_write(part, "half a bundle");
        TD_FMT(cmd, "TD_AGENT_CRASH_AT=%s %s agent install %s --data %s --key %s", steps[i],
               TD_TEST_TRACKDAY_BIN, fx.b, fx.data, fx.pub);
        int rc = td_test_run_merged(cmd, &out);
        if (rc != 128 + 9)
            TD_FAIL("killed at %s: status %d, not SIGKILL's\n%s", steps[i], rc, out);
        td_free(out);
        /* The bundle that runs now verifies and passes its health check: the old one until
         * the switch, the new one after it. */
        TD_ASSERT_OK(td_agent_store_open(&s, fx.data, fx.pk, &err));
        TD_ASSERT(!td_path_exists(part));
        expect_active(&s, i < 2 ? fx.sha_a : fx.sha_b);
        td_agent_store_close(&s);
        if (i < 2)
            expect_files(&fx, fx.sha_a, NULL); /* the half-installed copy is swept */
        TD_FMT(cmd, "%s agent install %s --data %s --key %s", TD_TEST_TRACKDAY_BIN, fx.b, fx.data,
               fx.pub);
        TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
        TD_ASSERT_CONTAINS(out, i < 2 ? "installed " : "unchanged: ");
        td_free(out);
        TD_ASSERT_OK(td_agent_store_open(&s, fx.data, fx.pk, &err));
        expect_active(&s, fx.sha_b);
        TD_ASSERT_STREQ(s.previous.sha256, fx.sha_a);
        td_agent_store_close(&s);
        expect_files(&fx, fx.sha_a, fx.sha_b);
    }
}

TD_TEST(agent_command_messages_and_exit_status)
{
    fixture fx;
    char cmd[4096], *out;
    setup(&fx);
    TD_FMT(cmd, "%s agent install %s --data %s --key %s", TD_TEST_TRACKDAY_BIN, fx.b, fx.data,
           fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
    TD_ASSERT_CONTAINS(out, "health    model/model.int8.tdm");
    TD_ASSERT_CONTAINS(out, "installed car (bundle ");
    TD_ASSERT_CONTAINS(out, fx.sha_b);
    TD_ASSERT_CONTAINS(out, "previous  none");
    td_free(out);
    /* The replayed older bundle: exit 1, why, and what keeps running. */
    TD_FMT(cmd, "%s agent install %s --data %s --key %s", TD_TEST_TRACKDAY_BIN, fx.a, fx.data,
           fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 1);
    TD_ASSERT_CONTAINS(out, "trackday: agent: install REFUSED: ");
    TD_ASSERT_CONTAINS(out, "an older bundle is installed only as a rollback (kept the running "
                            "bundle ");
    td_free(out);
    TD_FMT(cmd, "%s agent install %s --data %s --key %s --allow-older", TD_TEST_TRACKDAY_BIN, fx.a,
           fx.data, fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
    td_free(out);
    TD_FMT(cmd, "%s agent status --data %s --key %s", TD_TEST_TRACKDAY_BIN, fx.data, fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
    TD_ASSERT_CONTAINS(out, fx.sha_a);
    TD_ASSERT_CONTAINS(out, "refused");
    TD_ASSERT_CONTAINS(out, "verified  the active bundle");
    td_free(out);
    TD_FMT(cmd, "%s agent rollback --data %s --key %s", TD_TEST_TRACKDAY_BIN, fx.data, fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
    TD_ASSERT_CONTAINS(out, "rolled back");
    td_free(out);
    TD_FMT(cmd, "%s agent status --data %s --json", TD_TEST_TRACKDAY_BIN, fx.data);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
    json_t *j = json_loads(out, 0, NULL);
    TD_ASSERT(j != NULL);
    TD_ASSERT_STREQ(json_string_value(json_object_get(json_object_get(j, "active"), "sha256")),
                    fx.sha_b);
    json_decref(j);
    td_free(out);
    /* Command-line errors (the table-driven parser): exit 2, what is wrong, the usage line. */
    TD_FMT(cmd, "%s agent install %s --data %s", TD_TEST_TRACKDAY_BIN, fx.b, fx.data);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "trackday agent install: missing --key KEY.pub");
    TD_ASSERT_CONTAINS(out, "usage: trackday agent install --data DIR --key KEY.pub BUNDLE");
    td_free(out);
    TD_FMT(cmd, "%s agent install %s --key %s", TD_TEST_TRACKDAY_BIN, fx.b, fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "trackday agent install: missing --data DIR");
    td_free(out);
    TD_FMT(cmd, "%s agent install --data %s --key %s", TD_TEST_TRACKDAY_BIN, fx.data, fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "trackday agent install: missing BUNDLE");
    td_free(out);
    TD_FMT(cmd, "%s agent install %s --data %s --key %s --sha256 abc", TD_TEST_TRACKDAY_BIN, fx.b,
           fx.data, fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "--sha256 needs 64 lowercase hex digits (got 'abc')");
    td_free(out);
    TD_FMT(cmd, "%s agent status --data %s --jsn", TD_TEST_TRACKDAY_BIN, fx.data);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "unknown option '--jsn' (did you mean --json?)");
    td_free(out);
    TD_FMT(cmd, "%s agent rollback %s --data %s --key %s", TD_TEST_TRACKDAY_BIN, fx.b, fx.data,
           fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "trackday agent rollback: takes no arguments");
    td_free(out);
    TD_FMT(cmd, "%s agent fly --data %s", TD_TEST_TRACKDAY_BIN, fx.data);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "trackday agent: unknown command 'fly'");
    td_free(out);
    /* Each subcommand documents its options. */
    TD_FMT(cmd, "%s agent install --help", TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
    TD_ASSERT_CONTAINS(out, "--allow-older");
    TD_ASSERT_CONTAINS(out, "--sha256 HEX");
    td_free(out);
    /* A damaged state file is reported, not silently replaced. */
    char path[700];
    TD_FMT(path, "%s/state.json", fx.data);
    td_test_write(path, "{\"version\": 1, \"active\": {\"sha256\": \"nope\"}}");
    TD_FMT(cmd, "%s agent status --data %s", TD_TEST_TRACKDAY_BIN, fx.data);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 1);
    TD_ASSERT_CONTAINS(out, "state.json: active: sha256 is not 64 hex digits");
    td_free(out);
}
