/*
 * test_hub_jobs.c - jobs end to end with real `trackday worker` processes: a worker killed
 * mid-job and the job finished by another from its checkpoint; jobs drained by two workers,
 * each run once; a lease that runs out too often; cancel of a running job; the sandbox (no
 * network, no writes outside the job's directory); a worker shutting down hands its job back;
 * the server killed during uploads and restarted whole.
 */
#include <dirent.h>
#include <pthread.h>

#include "hub/db.h"
#include "hub/tar.h"
#include "hub_harness.h"
#include "trackday/hubclient.h"
#include "trackday/trainer.h"

/* Opens the hub's database beside the running server (WAL lets both read). */
static td_db *open_db(hub_server *s)
{
    char path[700];
    td_db *db;
    td_err err;
    hub_db_target(s, path, sizeof(path));
    TD_ASSERT_OK(td__db_open(&db, path, 1, &err));
    return db;
}

static long long db_count(td_db *db, const char *sql, long long arg)
{
    td_db_conn *c = td__db_acquire(db);
    int64_t n = -1;
    td_err err;
    TD_ASSERT_OK(td__db_int_query(c, &n, -1, &err, sql, "i", (int64_t)arg));
    td__db_release(db, c);
    return n;
}

/* 1 if a process whose command line contains text is alive. */
static int process_alive(const char *text)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int found = 0;
    while (d && (de = readdir(d)) && !found) {
        char p[300], buf[4096];
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(p, sizeof(p), "/proc/%s/cmdline", de->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (!buf[i])
                buf[i] = ' ';
        buf[n] = 0;
        if (strstr(buf, text) && !strstr(buf, "test_hub_jobs"))
            found = 1;
    }
    if (d)
        closedir(d);
    return found;
}

static json_t *get_job(hub_server *s, const char *tok, long long id)
{
    hub_resp r;
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld", id);
    TD_ASSERT_EQ_INT(hub_json(s, &r, "GET", path, tok, NULL), 200);
    json_t *j = json_incref(r.json);
    hub_resp_free(&r);
    return j;
}

TD_TEST(worker_killed_mid_job_second_worker_resumes_from_checkpoint)
{
    hub_server s;
    char alice[200], t1[200] = "", t2[200] = "", body[256];
    hub_start_opts(&s, 0, "--lease-seconds 2");
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&s, alice, "m1", NULL);
    snprintf(body, sizeof(body),
             "{\"type\":\"train\",\"model\":%lld,\"minutes\":10,\"iterations\":12}", m);
    long long id = hub_submit(&s, alice, body);
    pid_t w1 = hub_worker(&s, "w1", t1, sizeof(t1), "--checkpoint-seconds 0");
    /* A checkpoint after an iteration or two, then the worker dies without a word. */
    free(hub_wait_event(&s, alice, id, "checkpoint", NULL, 120));
    int st = hub_worker_stop(w1, SIGKILL);
    TD_ASSERT(WIFSIGNALED(st));
    /* Its child (trackday train in the sandbox) dies with it. */
    char jobdir[64];
    snprintf(jobdir, sizeof(jobdir), "work-w1/job-%lld-1", id);
    for (int i = 0; i < 100 && process_alive(jobdir); i++)
        usleep(50000);
    TD_ASSERT_MSG(!process_alive(jobdir), "the killed worker's training process lives on");
    /* The lease runs out: back in the queue. */
    char *ev = hub_wait_event(&s, alice, id, "state", "stopped answering", 60);
    TD_ASSERT_CONTAINS(ev, "state {\"state\":\"queued\"");
    free(ev);
    pid_t w2 = hub_worker(&s, "w2", t2, sizeof(t2), "--checkpoint-seconds 0");
    ev = hub_wait_event(&s, alice, id, "end", NULL, 180);
    TD_ASSERT_CONTAINS(ev, "end {\"state\":\"succeeded\"");
    /* The second attempt's first iteration continues the first attempt's count (when the
     * checkpoint left it anything to train: the first worker may have uploaded one after its
     * last iteration before the kill; a_resumed_job_* test both cases one at a time). */
    char *requeued = strstr(ev, "stopped answering");
    TD_ASSERT(requeued != NULL);
    char *first = strstr(requeued, "progress {");
    if (first) {
        json_t *p = json_loads(first + 9, JSON_DISABLE_EOF_CHECK, NULL);
        TD_ASSERT_MSG(json_integer_value(json_object_get(p, "iteration")) > 1,
                      "the second worker started over: %s", first);
        json_decref(p);
    }
    free(ev);
    json_t *j = get_job(&s, alice, id);
    TD_ASSERT_STREQ(json_string_value(json_object_get(j, "state")), "succeeded");
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "attempts")), 2);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "result_version")), 2);
    json_decref(j);
    /* The version has every iteration: 12 lines of metrics. */
    hub_resp r;
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/2", m);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    TD_ASSERT_EQ_INT(
        json_integer_value(json_object_get(json_object_get(r.json, "metrics"), "iteration")), 12);
    hub_resp_free(&r);
    /* One run lost, one succeeded: the job ran to completion once. */
    td_db *db = open_db(&s);
    TD_ASSERT_EQ_INT(db_count(db,
                              "SELECT COUNT(*) FROM job_runs WHERE job_id = ? AND outcome = "
                              "'lost'",
                              id),
                     1);
    TD_ASSERT_EQ_INT(db_count(db,
                              "SELECT COUNT(*) FROM job_runs WHERE job_id = ? AND outcome = "
                              "'succeeded'",
                              id),
                     1);
    td__db_close(db);
    TD_ASSERT(WIFEXITED(hub_worker_stop(w2, SIGTERM)));
    hub_stop(&s);
}

/* The checkpoint a worker that died would have uploaded: the model directory m1 trained here
 * into ck (`trackday train ck TRAIN_ARGS`), packed as ck.tgz. */
static void train_checkpoint(hub_server *s, const char *train_args)
{
    char out[2048];
    int rc = hub_sh(out, sizeof(out),
                    "cd %s && rm -rf ck && cp -r m1 ck && %s train ck %s --quiet >/dev/null 2>&1 "
                    "&& tar czf ck.tgz -C ck .",
                    s->dir, TD_TEST_TRACKDAY_BIN, train_args);
    TD_ASSERT_MSG(rc == 0, "train the checkpoint: %s", out);
}

/* A worker that claims job id, uploads ck.tgz as its checkpoint and never reports again (its
 * lease then runs out). Deterministic where killing a real worker is not: its training runs
 * 12 iterations in under a second. */
static void dead_worker_checkpoint(hub_server *s, long long id)
{
    char tgz[700], tok[200], path[128];
    hub_resp r;
    td_hubc h;
    td_err err;
    TD_ASSERT_EQ_INT(hub_json(s, &r, "POST", "/api/v1/workers", s->admin, "{\"name\":\"dead\"}"),
                     201);
    snprintf(tok, sizeof(tok), "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(s, &r, "POST", "/api/v1/worker/claim", tok, "{\"wait\":10}"), 200);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "id")), id);
    TD_ASSERT_OK(td_hubc_init(&h, s->url, tok, &err));
    snprintf(h.lease, sizeof(h.lease), "%s",
             json_string_value(json_object_get(r.json, "lease_id")));
    hub_resp_free(&r);
    snprintf(tgz, sizeof(tgz), "%s/ck.tgz", s->dir);
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/checkpoint?elapsed_s=1", id);
    TD_ASSERT_OK(td_hubc_upload(&h, "PUT", path, tgz, &err));
    TD_ASSERT_EQ_INT(h.status, 204);
    td_hubc_free(&h);
}

/* A train job of model m (s->dir/m1, `job` its limits) whose checkpoint is `trackday train
 * TRAIN_ARGS` of m1, finished by a live worker: returns the events after the requeue (free)
 * and the iteration of the version it made (its metrics' last line) in *iteration. */
static char *resume_job(hub_server *s, const char *alice, long long m, const char *job,
                        const char *train_args, long long *iteration)
{
    char t2[200] = "", body[256], path[128];
    hub_resp r;
    train_checkpoint(s, train_args);
    snprintf(body, sizeof(body), "{\"type\":\"train\",\"model\":%lld,%s}", m, job);
    long long id = hub_submit(s, alice, body);
    dead_worker_checkpoint(s, id);
    free(hub_wait_event(s, alice, id, "state", "back in the queue", 60));
    pid_t w2 = hub_worker(s, "w2", t2, sizeof(t2), "--checkpoint-seconds 0");
    char *ev = hub_wait_event(s, alice, id, "end", NULL, 180);
    TD_ASSERT_CONTAINS(ev, "end {\"state\":\"succeeded\"");
    snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/2", m);
    TD_ASSERT_EQ_INT(hub_json(s, &r, "GET", path, alice, NULL), 200);
    *iteration =
        json_integer_value(json_object_get(json_object_get(r.json, "metrics"), "iteration"));
    hub_resp_free(&r);
    TD_ASSERT(WIFEXITED(hub_worker_stop(w2, SIGTERM)));
    char *after = strdup(strstr(ev, "back in the queue"));
    free(ev);
    return after;
}

#define TWELVE "\"minutes\":10,\"iterations\":12"

/* The resume tests' start: a hub whose leases last 2 s, alice and her model m1, and a train
 * job of m1 (limits `job`) resumed from a checkpoint of `trackday train TRAIN_ARGS`
 * (resume_job). Out: the events after the requeue (free), the new version's iteration, and
 * the checkpoint's state: its iteration and seconds of training. */
static char *start_resumed_job(hub_server *s, const char *job, const char *train_args,
                               long long *iteration, int64_t *ck_it, double *ck_s)
{
    char alice[200], dir[700];
    td_err err;
    hub_start_opts(s, 0, "--lease-seconds 2");
    hub_user(s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(s, alice, "m1", NULL);
    char *ev = resume_job(s, alice, m, job, train_args, iteration);
    snprintf(dir, sizeof(dir), "%s/ck", s->dir);
    TD_ASSERT_OK(td_train_state_read(dir, ck_it, ck_s, &err));
    return ev;
}

/* A resumed job whose checkpoint already did what the job asks: the new version is the
 * checkpoint's iteration and nothing trained after the requeue. */
static void resumed_job_trains_no_more(const char *job, const char *train_args, int64_t *ck_it,
                                       double *ck_s)
{
    hub_server s;
    long long iteration;
    char *ev = start_resumed_job(&s, job, train_args, &iteration, ck_it, ck_s);
    TD_ASSERT_EQ_INT(iteration, *ck_it);
    TD_ASSERT_MSG(strstr(ev, "progress {") == NULL, "trained after the requeue: %s", ev);
    free(ev);
    hub_stop(&s);
}

TD_TEST(a_resumed_job_trains_what_its_checkpoint_left)
{
    hub_server s;
    long long iteration;
    int64_t ck_it;
    double ck_s;
    char *ev = start_resumed_job(&s, TWELVE, "--iterations 5", &iteration, &ck_it, &ck_s);
    TD_ASSERT_EQ_INT(ck_it, 5);
    TD_ASSERT_EQ_INT(iteration, 12);
    char *first = strstr(ev, "progress {");
    TD_ASSERT_MSG(first != NULL, "no progress after the requeue: %s", ev);
    json_t *p = json_loads(first + 9, JSON_DISABLE_EOF_CHECK, NULL);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(p, "iteration")), 6);
    json_decref(p);
    free(ev);
    hub_stop(&s);
}

/* The flake of session 6: the first worker uploaded a checkpoint after its last iteration and
 * died before sending the result; the next one trained one more (13 of 12: the trainer runs at
 * least one iteration). Its checkpoint is the result. */
TD_TEST(a_resumed_job_whose_checkpoint_holds_every_iteration_trains_no_more)
{
    int64_t ck_it;
    double ck_s;
    resumed_job_trains_no_more(TWELVE, "--iterations 12", &ck_it, &ck_s);
    TD_ASSERT_EQ_INT(ck_it, 12);
}

/* The same with time: a 3-second job (the hub's least, 0.05 minutes) whose checkpoint trained
 * 3.6 s. The next worker ran the trainer for "0.01 minutes", which is one more iteration. */
TD_TEST(a_resumed_job_whose_checkpoint_used_every_minute_trains_no_more)
{
    int64_t ck_it;
    double ck_s;
    resumed_job_trains_no_more("\"minutes\":0.05", "--minutes 0.06", &ck_it, &ck_s);
    TD_ASSERT_MSG(ck_s >= 3.0, "the checkpoint trained %.2f s", ck_s);
}

/* And with laps: a job of until_laps 1 whose checkpoint's last iteration stopped on them (the
 * state model drives a lap of kidney after its first iteration). The next worker trained
 * another iteration, which stopped on the laps again. */
TD_TEST(a_resumed_job_whose_checkpoint_drove_its_laps_trains_no_more)
{
    int64_t ck_it;
    double ck_s;
    resumed_job_trains_no_more("\"minutes\":10,\"until_laps\":1", "--until-laps 1 --minutes 10",
                               &ck_it, &ck_s);
}

/* A version whose training was killed after an iteration's checkpoint and before its metrics
 * line (TD_TRAIN_CRASH_AT): its state is at 3, its metrics end at 2. The trainer resumes from
 * the state, so a job that counted what it had left from the metrics trained 11 of 12 when
 * resumed from a checkpoint. The resume writes iteration 3's line from the state: the new
 * version's metrics hold every iteration once. */
TD_TEST(a_resumed_job_counts_from_the_state_the_trainer_resumes_from)
{
    hub_server s;
    char alice[200], out[2048], dir[700];
    long long iteration;
    int64_t state_it;
    double elapsed;
    td_err err;
    hub_start_opts(&s, 0, "--lease-seconds 2");
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    int rc = hub_sh(out, sizeof(out),
                    "cd %s && %s init m1 --discrete --fast-actions --track default --sensor state "
                    ">/dev/null 2>&1 && TD_TRAIN_CRASH_AT=metrics:3 %s train m1 --iterations 5 "
                    "--quiet >/dev/null 2>&1",
                    s.dir, TD_TEST_TRACKDAY_BIN, TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_MSG(rc == 128 + SIGKILL, "the training was not killed (%d): %s", rc, out);
    snprintf(dir, sizeof(dir), "%s/m1", s.dir);
    TD_ASSERT_OK(td_train_state_read(dir, &state_it, &elapsed, &err));
    TD_ASSERT_EQ_INT(state_it, 3);
    TD_ASSERT_EQ_INT(hub_sh(out, sizeof(out), "wc -l < %s/metrics/training.jsonl", dir), 0);
    TD_ASSERT_EQ_INT(atoi(out), 2);
    long long m = hub_push_dir(&s, alice, "m1");
    char *ev = resume_job(&s, alice, m, TWELVE, "--resume --iterations 4", &iteration);
    TD_ASSERT_EQ_INT(iteration, 3 + 12);
    free(ev);
    hub_resp r;
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/2/files/metrics/training.jsonl", m);
    hub_req(&s, &r, "GET", path, alice, NULL, NULL, 0);
    TD_ASSERT_EQ_INT(r.status, 200);
    int lines = 0;
    for (const char *p = r.body; *p; lines++) {
        json_t *o = json_loads(p, JSON_DISABLE_EOF_CHECK, NULL);
        long long it = json_integer_value(json_object_get(o, "iteration"));
        json_decref(o);
        TD_ASSERT_MSG(it == lines + 1, "metrics line %d is iteration %lld: %.60s", lines + 1, it,
                      p);
        p = strchr(p, '\n');
        p = p ? p + 1 : "";
    }
    TD_ASSERT_EQ_INT(lines, 15);
    hub_resp_free(&r);
    hub_stop(&s);
}

TD_TEST(two_workers_drain_the_queue_each_job_once)
{
    hub_server s;
    char alice[200], t1[200] = "", t2[200] = "", body[256];
    long long ids[12];
    hub_start(&s);
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    /* No quota in the way of twelve jobs at once. */
    hub_resp r;
    TD_ASSERT_EQ_INT(
        hub_json(&s, &r, "PUT", "/api/v1/quotas/default", s.admin, "{\"concurrent_jobs\":100}"),
        200);
    hub_resp_free(&r);
    long long m = hub_push_init(&s, alice, "m1", NULL);
    snprintf(body, sizeof(body),
             "{\"type\":\"train\",\"model\":%lld,\"minutes\":1,\"iterations\":1}", m);
    long long t = hub_submit(&s, alice, body);
    pid_t w1 = hub_worker(&s, "w1", t1, sizeof(t1), "--slots 2");
    free(hub_wait_event(&s, alice, t, "end", NULL, 120));
    for (int i = 0; i < 12; i++) {
        snprintf(body, sizeof(body),
                 "{\"type\":\"evaluate\",\"model\":%lld,\"laps\":1,\"track\":\"oval\",\"seed\":%d}",
                 m, i);
        ids[i] = hub_submit(&s, alice, body);
    }
    pid_t w2 = hub_worker(&s, "w2", t2, sizeof(t2), "--slots 2");
    for (int i = 0; i < 12; i++) {
        char *ev = hub_wait_event(&s, alice, ids[i], "end", NULL, 180);
        TD_ASSERT_CONTAINS(ev, "end {\"state\":\"succeeded\"");
        free(ev);
    }
    td_db *db = open_db(&s);
    for (int i = 0; i < 12; i++) {
        TD_ASSERT_EQ_INT(db_count(db, "SELECT COUNT(*) FROM job_runs WHERE job_id = ?", ids[i]), 1);
        json_t *j = get_job(&s, alice, ids[i]);
        TD_ASSERT_EQ_INT(
            json_integer_value(json_object_get(json_object_get(j, "result"), "laps_requested")), 1);
        json_decref(j);
    }
    /* Both workers took part. */
    long long n1 = db_count(db, "SELECT COUNT(*) FROM job_runs WHERE worker_id = ?", 1);
    long long n2 = db_count(db, "SELECT COUNT(*) FROM job_runs WHERE worker_id = ?", 2);
    TD_ASSERT_EQ_INT(n1 + n2, 13);
    TD_ASSERT_MSG(n2 > 0, "the second worker ran nothing (first %lld)", n1);
    td__db_close(db);
    TD_ASSERT(WIFEXITED(hub_worker_stop(w1, SIGTERM)));
    TD_ASSERT(WIFEXITED(hub_worker_stop(w2, SIGTERM)));
    /* Each job's scratch directory went with it; the done lines say where the time went. */
    int done_lines = 0;
    for (int w = 1; w <= 2; w++) {
        char dir[700], path[700], *log = NULL;
        td_err err;
        snprintf(dir, sizeof(dir), "%s/work-w%d", s.dir, w);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
            TD_ASSERT_MSG(strncmp(de->d_name, "job-", 4) != 0, "%s/%s was left behind", dir,
                          de->d_name);
        if (d)
            closedir(d);
        snprintf(path, sizeof(path), "%s/worker-w%d.log", s.dir, w);
        TD_ASSERT_OK(td_file_read(path, &log, NULL, &err));
        for (char *p = log; (p = strstr(p, ": done in ")); p++) {
            double all, setup, run, send;
            TD_ASSERT_MSG(sscanf(p, ": done in %lf s (setup %lf, run %lf, send %lf)", &all, &setup,
                                 &run, &send) == 4,
                          "%.80s", p);
            /* Four numbers each rounded to 0.01 (a short child can show 0.00): the parts may add
             * up to 0.02 more. */
            TD_ASSERT_MSG(setup >= 0 && run >= 0 && send >= 0 && setup + run + send <= all + 0.025,
                          "%.80s", p);
            done_lines++;
        }
        td_free(log);
    }
    TD_ASSERT_EQ_INT(done_lines, 12);
    hub_stop(&s);
}

TD_TEST(a_job_whose_worker_is_lost_too_often_fails_with_the_reason)
{
    hub_server s;
    char alice[200], body[256];
    hub_resp r;
    hub_start_opts(&s, 0, "--lease-seconds 1 --max-attempts 2");
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&s, alice, "m1", NULL);
    snprintf(body, sizeof(body), "{\"type\":\"evaluate\",\"model\":%lld}", m);
    long long id = hub_submit(&s, alice, body);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/workers", s.admin, "{\"name\":\"ghost\"}"),
                     201);
    char tok[200];
    snprintf(tok, sizeof(tok), "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
    /* Claims it twice and never reports: two leases run out. */
    for (int attempt = 1; attempt <= 2; attempt++) {
        TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/worker/claim", tok, "{\"wait\":10}"),
                         200);
        TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "attempts")), attempt);
        hub_resp_free(&r);
        free(hub_wait_event(&s, alice, id, "state",
                            attempt == 1 ? "back in the queue" : "giving up", 30));
    }
    json_t *j = get_job(&s, alice, id);
    TD_ASSERT_STREQ(json_string_value(json_object_get(j, "state")), "failed");
    TD_ASSERT_CONTAINS(json_string_value(json_object_get(j, "error")), "lost 2 times");
    json_decref(j);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/worker/claim", tok, "{\"wait\":0}"), 204);
    hub_resp_free(&r);
    hub_stop(&s);
}

TD_TEST(cancel_a_running_job_keeps_what_it_trained)
{
    hub_server s;
    char alice[200], t1[200] = "", body[256], path[64];
    hub_resp r;
    hub_start(&s);
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&s, alice, "m1", NULL);
    snprintf(body, sizeof(body), "{\"type\":\"train\",\"model\":%lld,\"minutes\":30}", m);
    long long id = hub_submit(&s, alice, body);
    pid_t w1 = hub_worker(&s, "w1", t1, sizeof(t1), NULL);
    free(hub_wait_event(&s, alice, id, "progress", NULL, 120));
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/cancel", id);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", path, alice, NULL), 202);
    hub_resp_free(&r);
    char *ev = hub_wait_event(&s, alice, id, "end", NULL, 120);
    TD_ASSERT_CONTAINS(ev, "end {\"state\":\"canceled\"");
    free(ev);
    json_t *j = get_job(&s, alice, id);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "result_version")), 2);
    /* Charged for what ran, far from the 30 minutes asked. */
    TD_ASSERT(json_number_value(json_object_get(j, "used_minutes")) < 5);
    json_decref(j);
    TD_ASSERT(WIFEXITED(hub_worker_stop(w1, SIGTERM)));
    hub_stop(&s);
}

TD_TEST(the_sandbox_has_no_network_and_no_writes_outside)
{
    hub_server s;
    char alice[200], t1[200] = "", body[256], reward[1200];
    hub_start(&s);
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    const char *port = strrchr(s.url, ':') + 1;
    /* Reaching the hub from inside a job must fail (its own, empty network). The code gets
     * past DeepRacer's validator (static rules: no `import socket`, no open) the way hostile
     * code would, by spelling the names so its rules do not see them: the sandbox, not the
     * validator, is what stops it. */
    snprintf(reward, sizeof(reward),
             "import random\n"
             "imp = random.__builtins__['__imp' + 'ort__']\n"
             "sock = imp('soc' + 'ket')\n"
             "sock.create_connection(('127.0.0.1', %s), timeout=5)\n"
             "def reward_function(params):\n    return 1.0\n",
             port);
    long long m1 = hub_push_init(&s, alice, "net", reward);
    /* So must writing outside the job's directory. */
    char esc[128];
    snprintf(esc, sizeof(esc), "/var/tmp/trackday-escape-%ld.txt", (long)getpid());
    unlink(esc);
    snprintf(reward, sizeof(reward),
             "import random\n"
             "o = random.__builtins__['op' + 'en']\n"
             "o('%s', 'w').write('out')\n"
             "def reward_function(params):\n    return 1.0\n",
             esc);
    long long m2 = hub_push_init(&s, alice, "fs", reward);
    snprintf(body, sizeof(body), "{\"type\":\"train\",\"model\":%lld,\"minutes\":1}", m1);
    long long j1 = hub_submit(&s, alice, body);
    snprintf(body, sizeof(body), "{\"type\":\"train\",\"model\":%lld,\"minutes\":1}", m2);
    long long j2 = hub_submit(&s, alice, body);
    pid_t w1 = hub_worker(&s, "w1", t1, sizeof(t1), NULL);
    char *ev = hub_wait_event(&s, alice, j1, "end", NULL, 120);
    TD_ASSERT_CONTAINS(ev, "\"state\":\"failed\"");
    free(ev);
    json_t *j = get_job(&s, alice, j1);
    TD_ASSERT_CONTAINS(json_string_value(json_object_get(j, "error")), "Network is unreachable");
    TD_ASSERT_CONTAINS(json_string_value(json_object_get(j, "error")), "reward_function.py");
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "attempts")), 1);
    json_decref(j);
    free(hub_wait_event(&s, alice, j2, "end", NULL, 120));
    j = get_job(&s, alice, j2);
    TD_ASSERT_STREQ(json_string_value(json_object_get(j, "state")), "failed");
    /* The path is not even there: the sandbox's root holds only the system and the job. */
    TD_ASSERT_CONTAINS(json_string_value(json_object_get(j, "error")), "No such file or directory");
    json_decref(j);
    TD_ASSERT(!td_path_exists(esc));
    TD_ASSERT(WIFEXITED(hub_worker_stop(w1, SIGTERM)));
    hub_stop(&s);
}

TD_TEST(a_stopped_worker_hands_its_job_back)
{
    hub_server s;
    char alice[200], t1[200] = "", t2[200] = "", body[256];
    hub_start(&s);
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&s, alice, "m1", NULL);
    snprintf(body, sizeof(body), "{\"type\":\"train\",\"model\":%lld,\"minutes\":0.5}", m);
    /* A time limit, not an iteration count: on an idle machine 8 iterations ended before
     * the worker's SIGTERM arrived. The second worker trains what the 30 s have left. */
    long long id = hub_submit(&s, alice, body);
    pid_t w1 = hub_worker(&s, "w1", t1, sizeof(t1), NULL);
    free(hub_wait_event(&s, alice, id, "progress", NULL, 120));
    int st = hub_worker_stop(w1, SIGTERM);
    TD_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker status %d", st);
    /* Back in the queue at once (no lease to wait for), with its checkpoint, no attempt used. */
    json_t *j = get_job(&s, alice, id);
    TD_ASSERT_STREQ(json_string_value(json_object_get(j, "state")), "queued");
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "attempts")), 0);
    TD_ASSERT(!json_is_null(json_object_get(j, "checkpoint_at")));
    json_decref(j);
    pid_t w2 = hub_worker(&s, "w2", t2, sizeof(t2), NULL);
    char *ev = hub_wait_event(&s, alice, id, "end", NULL, 180);
    TD_ASSERT_CONTAINS(ev, "end {\"state\":\"succeeded\"");
    free(ev);
    TD_ASSERT(WIFEXITED(hub_worker_stop(w2, SIGTERM)));
    hub_stop(&s);
}

/* ---- The server killed during uploads ------------------------------------------------------- */

typedef struct {
    hub_server *s;
    const char *token;
    const char *archive;
    volatile int stop;
    int ok, failed;
} uploader;

static void *upload_loop(void *arg)
{
    uploader *u = arg;
    for (int i = 0; !u->stop && i < 1000; i++) {
        char *data = NULL, path[96];
        size_t len = 0;
        hub_resp r;
        if (td_file_read(u->archive, &data, &len, NULL))
            break;
        snprintf(path, sizeof(path), "/api/v1/models?name=up%d", i);
        hub_req(u->s, &r, "POST", path, u->token, "application/gzip", data, len);
        td_free(data);
        if (r.status == 201)
            u->ok++;
        else
            u->failed++;
        hub_resp_free(&r);
        if (r.status < 0)
            break; /* the server is gone */
    }
    return NULL;
}

/* Every blob's name is the SHA-256 of its content (none is half-written). */
static int check_blobs(const char *data_dir, int *count)
{
    char out[256];
    *count = 0;
    char list[700];
    snprintf(list, sizeof(list), "%s/blobs", data_dir);
    DIR *d = opendir(list);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
            continue;
        char sub[1000];
        TD_FMT(sub, "%s/%s", list, de->d_name);
        DIR *d2 = opendir(sub);
        struct dirent *e2;
        while (d2 && (e2 = readdir(d2))) {
            char p[1300], sha[65];
            if (e2->d_name[0] == '.')
                continue;
            TD_FMT(p, "%s/%s", sub, e2->d_name);
            TD_ASSERT_OK(td__sha256_file(p, sha, NULL));
            TD_ASSERT_MSG(!strcmp(sha, e2->d_name), "blob %s holds %s", e2->d_name, sha);
            (*count)++;
        }
        if (d2)
            closedir(d2);
    }
    if (d)
        closedir(d);
    (void)out;
    return 0;
}

TD_TEST(server_killed_during_uploads_restarts_whole)
{
    hub_server s;
    char alice[200], out[1024], archive[700];
    hub_start(&s);
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    hub_resp r;
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "PUT", "/api/v1/quotas/default", s.admin,
                              "{\"models\":null,\"storage_mb\":null}"),
                     200);
    hub_resp_free(&r);
    /* A model directory with an 8 MB checkpoint, so uploads take a while. */
    int rc = hub_sh(out, sizeof(out),
                    "cd %s && %s init big --discrete --fast-actions --track default >/dev/null && "
                    "mkdir -p big/model && head -c 8000000 "
                    "/dev/urandom > big/model/last.tdm && tar czf big.tgz -C big .",
                    s.dir, TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_MSG(rc == 0, "%s", out);
    snprintf(archive, sizeof(archive), "%s/big.tgz", s.dir);
    uploader u[2] = {{&s, alice, archive, 0, 0, 0}, {&s, alice, archive, 0, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, upload_loop, &u[i]);
    /* Kill it once uploads have completed and others are under way. */
    for (int i = 0; i < 400 && u[0].ok + u[1].ok < 3; i++)
        usleep(25000);
    TD_ASSERT_MSG(u[0].ok + u[1].ok >= 3, "uploads did not go through");
    hub_kill(&s);
    for (int i = 0; i < 2; i++) {
        u[i].stop = 1;
        pthread_join(th[i], NULL);
    }
    int before = 0;
    check_blobs(s.data, &before);
    /* Restarted: the database is sound, the models that were acknowledged are there with
     * every file, and what was half-received is gone. */
    hub_launch(&s, NULL);
    td_db *db = open_db(&s);
    td_db_conn *c = td__db_acquire(db);
    td_db_rows *row;
    td_err err;
    /* (PostgreSQL's own recovery is not ours to check: there the database answers.) */
    TD_ASSERT_EQ_INT(td__db_query_row(c, &row, &err,
                                      td__db_dialect(db) == TD_DB_POSTGRES
                                          ? "SELECT 'ok' FROM models LIMIT 1"
                                          : "PRAGMA integrity_check",
                                      ""),
                     1);
    TD_ASSERT_STREQ(td__db_text(row, 0), "ok");
    td__db_rows_free(row);
    td__db_release(db, c);
    long long models = db_count(db, "SELECT COUNT(*) FROM models WHERE id > ?", 0);
    TD_ASSERT_MSG(models >= u[0].ok + u[1].ok, "%lld models, %d acknowledged", models,
                  u[0].ok + u[1].ok);
    /* Every file of every version is a whole blob. */
    TD_ASSERT_EQ_INT(db_count(db,
                              "SELECT COUNT(*) FROM fileset_files f WHERE f.fileset_id > ? AND "
                              "f.size <> 0",
                              0) > 0,
                     1);
    td__db_close(db);
    int after = 0;
    check_blobs(s.data, &after);
    char tmpdir[700];
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", s.data);
    rc = hub_sh(out, sizeof(out), "ls -A %s | wc -l", tmpdir);
    TD_ASSERT_EQ_INT(strtol(out, NULL, 10), 0);
    hub_login(&s, "admin", HUB_ADMIN_PASSWORD, s.admin, sizeof(s.admin));
    hub_login(&s, "alice", "alice-password-1", alice, sizeof(alice));
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/models?limit=500", alice, NULL), 200);
    size_t n = json_array_size(json_object_get(r.json, "models"));
    TD_ASSERT_EQ_INT((long long)n, models);
    /* Each one downloads whole: the archive holds the 8 MB checkpoint. */
    for (size_t i = 0; i < n; i++) {
        char path[128], file[700];
        long long id = json_integer_value(
            json_object_get(json_array_get(json_object_get(r.json, "models"), i), "id"));
        snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/1/files/model/last.tdm", id);
        hub_resp f;
        hub_req(&s, &f, "GET", path, alice, NULL, NULL, 0);
        TD_ASSERT_EQ_INT(f.status, 200);
        TD_ASSERT_EQ_INT((long long)f.len, 8000000);
        snprintf(file, sizeof(file), "%s/big/model/last.tdm", s.dir);
        char *orig = NULL;
        size_t olen = 0;
        TD_ASSERT_OK(td_file_read(file, &orig, &olen, NULL));
        TD_ASSERT(olen == f.len && !memcmp(orig, f.body, olen));
        td_free(orig);
        hub_resp_free(&f);
    }
    hub_resp_free(&r);
    hub_stop(&s);
}
