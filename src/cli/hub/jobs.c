/*
 * jobs.c - `trackday jobs`: the hub's jobs (yours, or your classes' as an instructor) as a
 * table, refreshed with --watch; one job's detail, its live progress (--watch ID) or its
 * cancellation. Also `trackday train DIR --hub` (push, queue, watch, bring the model back)
 * and `trackday worker`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "cli/hub/hubcli.h"

#ifndef TD_SOURCE_DIR
#define TD_SOURCE_DIR "."
#endif
#include "trackday/hubclient.h"
#include "trackday/trainer.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted++;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* "12:04:05" of an ISO time, or "-". */
static const char *short_time(json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) >= 19 ? s + 11 : "-";
}

static void print_table(json_t *jobs, FILE *f)
{
    size_t i;
    json_t *j;
    fprintf(f, "%6s  %-8s  %-10s  %-18s  %-9s  %8s  %s\n", "ID", "TYPE", "STATE", "MODEL",
            "CREATED", "MINUTES", "PROGRESS");
    json_array_foreach(jobs, i, j)
    {
        char model[40], progress[96] = "";
        json_t *m = json_object_get(j, "model"), *p = json_object_get(j, "progress");
        json_t *res = json_object_get(j, "result");
        snprintf(model, sizeof(model), "%lld v%lld",
                 (long long)json_integer_value(json_object_get(m, "id")),
                 (long long)json_integer_value(json_object_get(m, "version")));
        if (json_is_object(p))
            snprintf(progress, sizeof(progress), "iter %lld, eval %.1f%%",
                     (long long)json_integer_value(json_object_get(p, "iteration")),
                     json_number_value(json_object_get(p, "eval_progress")));
        if (json_is_integer(json_object_get(j, "result_version")))
            snprintf(progress, sizeof(progress), "-> version %lld",
                     (long long)json_integer_value(json_object_get(j, "result_version")));
        else if (json_is_object(res) && json_object_get(res, "laps_completed"))
            snprintf(progress, sizeof(progress), "%lld of %lld laps",
                     (long long)json_integer_value(json_object_get(res, "laps_completed")),
                     (long long)json_integer_value(json_object_get(res, "laps_requested")));
        const char *error = json_string_value(json_object_get(j, "error"));
        if (error)
            snprintf(progress, sizeof(progress), "%.90s", error);
        fprintf(f, "%6lld  %-8s  %-10s  %-18s  %-9s  %8.1f  %s\n",
                (long long)json_integer_value(json_object_get(j, "id")),
                json_string_value(json_object_get(j, "type")),
                json_string_value(json_object_get(j, "state")), model,
                short_time(json_object_get(j, "created_at")),
                json_number_value(json_object_get(j, "used_minutes")), progress);
    }
    if (!json_array_size(jobs))
        fprintf(f, "(no jobs)\n");
}

/* ---- Watching one job ------------------------------------------------------------------------ */

typedef struct {
    td_hubc *c;
    long long id;
    volatile int *stop;
    int canceled;
    char state[32];
    long long result_version;
    long last_id;
} watch_ctx;

static int on_event(void *user, const char *event, const char *data, long id)
{
    watch_ctx *w = user;
    json_t *o = data ? json_loads(data, 0, NULL) : NULL;
    if (id > 0)
        w->last_id = id;
    if (*w->stop && !w->canceled) {
        /* Ctrl-C: stop the run on the hub as a local Ctrl-C would; what it trained is kept. */
        td_hubc c2;
        td_err err;
        char path[80];
        if (td_hubc_init(&c2, w->c->url, w->c->token, &err) == 0) {
            snprintf(path, sizeof(path), "/api/v1/jobs/%lld/cancel", w->id);
            td_hubc_json(&c2, "POST", path, NULL, &err);
            td_hubc_free(&c2);
        }
        td__cli_status_print("canceling job %lld (what it trained so far is kept)", w->id);
        w->canceled = 1;
    }
    if (!strcmp(event, "progress") && json_is_object(o)) {
        td_train_progress p;
        memset(&p, 0, sizeof(p));
        p.iteration = (int)json_integer_value(json_object_get(o, "iteration"));
        p.episodes = (long)json_integer_value(json_object_get(o, "episodes"));
        p.steps = (long)json_integer_value(json_object_get(o, "steps"));
        p.mean_reward = json_number_value(json_object_get(o, "mean_reward"));
        p.mean_progress = json_number_value(json_object_get(o, "mean_progress"));
        p.completion_rate = json_number_value(json_object_get(o, "completion_rate"));
        p.eval_progress = json_number_value(json_object_get(o, "eval_progress"));
        p.steps_per_s = json_number_value(json_object_get(o, "steps_per_s"));
        p.elapsed_s = json_number_value(json_object_get(o, "elapsed_s"));
        td__cli_train_status_line(&p, p.elapsed_s, 0);
    } else if (!strcmp(event, "state") && json_is_object(o)) {
        const char *msg = json_string_value(json_object_get(o, "message"));
        td__cli_status_print("job %lld: %s%s%s", w->id,
                             json_string_value(json_object_get(o, "state")), msg ? ": " : "",
                             msg ? msg : "");
    } else if (!strcmp(event, "end") && json_is_object(o)) {
        snprintf(w->state, sizeof(w->state), "%s", json_string_value(json_object_get(o, "state")));
        w->result_version = json_integer_value(json_object_get(o, "result_version"));
        json_decref(o);
        return 1;
    }
    json_decref(o);
    return 0;
}

int td__cli_watch_job(td_hubc *c, long long id, volatile int *stop, char *state, size_t cap,
                      long long *result_version)
{
    watch_ctx w;
    char path[96];
    td_err err;
    memset(&w, 0, sizeof(w));
    w.c = c;
    w.id = id;
    w.stop = stop;
    /* A dropped stream is picked up where it stopped. */
    for (int tries = 0; tries < 100 && !w.state[0]; tries++) {
        snprintf(path, sizeof(path), "/api/v1/jobs/%lld/events?after=%ld", id, w.last_id);
        int rc = td_hubc_events(c, path, on_event, &w, &err);
        if (!rc && c->status != 200)
            return td__cli_hub_fail(c, "job events", 0, "");
        if (w.state[0])
            break;
        if (rc)
            td__cli_status_print("trackday: %s; reconnecting", err.msg);
        sleep(1);
        /* Ask where the job is to resume after the last event seen. */
        snprintf(path, sizeof(path), "/api/v1/jobs/%lld", id);
        if (td_hubc_json(c, "GET", path, NULL, &err) == 0 && c->status == 200) {
            const char *st = json_string_value(json_object_get(c->json, "state"));
            if (st && strcmp(st, "queued") && strcmp(st, "running")) {
                snprintf(w.state, sizeof(w.state), "%s", st);
                w.result_version = json_integer_value(json_object_get(c->json, "result_version"));
            }
        }
    }
    td__cli_status_done();
    snprintf(state, cap, "%s", w.state);
    *result_version = w.result_version;
    return 0;
}

/* ---- trackday jobs ----------------------------------------------------------------------------
 */

static int cmd_jobs(int argc, char **argv)
{
    const char *hub = NULL, *state = NULL, *id_arg = NULL;
    int watch = 0, cancel = 0, json_out = 0;
    char path[200];
    td_hubc c;
    td_err err;
    int rc;
    const td__cli_opt opts[] = {
        TD_CLI_POS_OPTIONAL("ID", &id_arg, "one job: its detail (or --watch, --cancel)"),
        TD_CLI_FLAG("--watch", &watch,
                    "the list: refresh every 2 s until no job is queued or running; one job: "
                    "follow its progress live until it ends (Ctrl-C stops watching)"),
        TD_CLI_FLAG("--cancel", &cancel, "cancel job ID (what it trained so far is kept)"),
        TD_CLI_CHOICE("--state", &state, "queued|running|active|succeeded|failed|canceled",
                      "only jobs in this state (active: queued or running)"),
        TD_CLI_FLAG("--json", &json_out, "print the hub's JSON"),
        TD_CLI_STRING(NULL, "--hub", &hub, "URL",
                      "the hub (default: $TRACKDAY_HUB, else the one of trackday login)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "jobs",
        .about = "Lists your jobs on the hub, newest first (an instructor also sees their "
                 "classes', an admin every job). With a job ID: its detail, its live progress "
                 "(--watch) or its cancellation (--cancel).",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (cancel && (!id_arg || watch))
        return td__cli_usage_error("--cancel takes one job ID and no --watch");
    if (td__cli_hub_connect(&c, hub))
        return 1;
    catch_signals();
    if (id_arg) {
        char *end;
        long long id = strtoll(id_arg, &end, 10);
        if (*end || id < 1) {
            td_hubc_free(&c);
            return td__cli_fail("'%s' is not a job id", id_arg);
        }
        if (cancel) {
            snprintf(path, sizeof(path), "/api/v1/jobs/%lld/cancel", id);
            rc = td_hubc_json(&c, "POST", path, NULL, &err);
            if (rc || c.status != 202) {
                rc = td__cli_hub_fail(&c, "cancel", rc, err.msg);
                td_hubc_free(&c);
                return rc;
            }
            printf("job %lld: %s\n", id,
                   !strcmp(json_string_value(json_object_get(c.json, "state")), "canceled")
                       ? "canceled"
                       : "cancel requested (the worker stops it at its next heartbeat)");
            td_hubc_free(&c);
            return 0;
        }
        if (watch) {
            char st[32];
            long long v = 0;
            rc = td__cli_watch_job(&c, id, (volatile int *)&interrupted, st, sizeof(st), &v);
            if (!rc && v)
                printf("job %lld %s: model version %lld\n", id, st, v);
            else if (!rc)
                printf("job %lld %s\n", id, st);
            td_hubc_free(&c);
            return rc ? rc : strcmp(st, "succeeded") != 0;
        }
        snprintf(path, sizeof(path), "/api/v1/jobs/%lld", id);
        rc = td_hubc_json(&c, "GET", path, NULL, &err);
        if (rc || c.status != 200) {
            rc = td__cli_hub_fail(&c, "job", rc, err.msg);
            td_hubc_free(&c);
            return rc;
        }
        char *text = json_dumps(c.json, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        printf("%s\n", text);
        free(text);
        td_hubc_free(&c);
        return 0;
    }
    for (;;) {
        snprintf(path, sizeof(path), "/api/v1/jobs?limit=30%s%s", state ? "&state=" : "",
                 state ? state : "");
        rc = td_hubc_json(&c, "GET", path, NULL, &err);
        if (rc || c.status != 200) {
            rc = td__cli_hub_fail(&c, "jobs", rc, err.msg);
            break;
        }
        json_t *jobs = json_object_get(c.json, "jobs");
        if (json_out) {
            char *text = json_dumps(jobs, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
            printf("%s\n", text);
            free(text);
        } else {
            if (watch && isatty(1))
                printf("\033[H\033[2J%s  (every 2 s; Ctrl-C stops watching)\n\n", c.url);
            print_table(jobs, stdout);
        }
        fflush(stdout);
        int active = 0;
        size_t i;
        json_t *j;
        json_array_foreach(jobs, i, j)
        {
            const char *st = json_string_value(json_object_get(j, "state"));
            if (!strcmp(st, "queued") || !strcmp(st, "running"))
                active++;
        }
        if (!watch || !active || interrupted)
            break;
        for (int t = 0; t < 20 && !interrupted; t++)
            usleep(100000);
        if (interrupted)
            break;
        if (!isatty(1))
            printf("\n");
    }
    td_hubc_free(&c);
    return rc;
}

/* ---- trackday train DIR --hub -----------------------------------------------------------------
 */

int td__cli_train_on_hub(int argc, char **argv)
{
    const char *dir = NULL, *hub = NULL, *name = NULL, *track = NULL;
    char autoname[80];
    long long model = 0, version = 0, id;
    int created, on_hub = 0, quiet = 0, envs = 0, iterations = 0, until_laps = 0;
    int seed_set = 0, envs_set = 0, iterations_set = 0, laps_set = 0;
    long seed = 0;
    double minutes = 0;
    td_hubc c;
    td_err err;
    /* --hub takes the hub's URL optionally (--hub URL, --hub=URL): taken out before the
     * table is parsed. */
    char **args = td_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    if (!args)
        return td__cli_fail("out of memory");
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--hub")) {
            on_hub = 1;
            if (i + 1 < argc &&
                (!strncmp(argv[i + 1], "http://", 7) || !strncmp(argv[i + 1], "https://", 8)))
                hub = argv[++i];
            continue;
        }
        if (i > 0 && !strncmp(argv[i], "--hub=", 6)) {
            hub = argv[i] + 6;
            continue;
        }
        args[n++] = argv[i];
    }
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR", &dir, "the model directory"),
        TD_CLI_FLAG("--hub", &on_hub,
                    "train on the hub you are logged in to (--hub URL: another hub)"),
        TD_CLI_STRING(NULL, "--name", &name, "NAME",
                      "the model's name on the hub (default: DIR's)"),
        {.name = "--minutes",
         .kind = TD__CLI_DOUBLE,
         .dst = &minutes,
         .lo = 0.01,
         .hi = 1e6,
         .arg = "M",
         .required = 1,
         .help = "training time the job may use (charged to your quota)"},
        TD_CLI_STRING(NULL, "--track", &track, "T", "track name (default: WORLD_NAME)"),
        {.name = "--seed",
         .kind = TD__CLI_LONG,
         .dst = &seed,
         .lo = 0,
         .hi = 2147483647,
         .arg = "S",
         .given = &seed_set,
         .help = "random seed"},
        {.name = "--envs",
         .kind = TD__CLI_INT,
         .dst = &envs,
         .lo = 1,
         .hi = 4096,
         .arg = "N",
         .given = &envs_set,
         .help = "cars simulated together"},
        {.name = "--iterations",
         .kind = TD__CLI_INT,
         .dst = &iterations,
         .lo = 1,
         .hi = 100000000,
         .arg = "N",
         .given = &iterations_set,
         .help = "stop after N iterations"},
        {.name = "--until-laps",
         .kind = TD__CLI_INT,
         .dst = &until_laps,
         .lo = 1,
         .hi = 16,
         .arg = "K",
         .given = &laps_set,
         .help = "stop once the greedy policy drives K laps in a row"},
        TD_CLI_FLAG("--quiet", &quiet, "no status line"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "train",
        .about = "Trains DIR on the hub: pushes it, queues a training job, shows its progress "
                 "with the status line of a local run, and brings the trained model back into "
                 "DIR. Ctrl-C cancels the job; what it trained is kept.",
        .opts = opts,
        .usage = "DIR --hub [URL] --minutes M [options]"};
    int prc = td__cli_parse(&spec, n, args);
    td_free(args);
    if (prc != TD_CLI_RUN)
        return prc;
    td__cli_status_config(quiet, 10);
    json_t *job = json_pack("{s:s,s:f}", "type", "train", "minutes", minutes);
    if (track)
        json_object_set_new(job, "track", json_string(track));
    if (seed_set)
        json_object_set_new(job, "seed", json_integer(seed));
    if (envs_set)
        json_object_set_new(job, "envs", json_integer(envs));
    if (iterations_set)
        json_object_set_new(job, "iterations", json_integer(iterations));
    if (laps_set)
        json_object_set_new(job, "until_laps", json_integer(until_laps));
    if (!name) {
        const char *b = strrchr(dir, '/');
        snprintf(autoname, sizeof(autoname), "%s", b && b[1] ? b + 1 : dir);
        for (char *p = autoname; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
                *p = '-';
        name = autoname;
    }
    if (td__cli_hub_connect(&c, hub)) {
        json_decref(job);
        return 1;
    }
    if (td__cli_push(&c, dir, name, &model, &version, &created)) {
        json_decref(job);
        td_hubc_free(&c);
        return 1;
    }
    fprintf(stderr, "pushed %s as model %lld '%s' version %lld\n", dir, model, name, version);
    json_object_set_new(job, "model", json_integer(model));
    json_object_set_new(job, "version", json_integer(version));
    int rc = td_hubc_json(&c, "POST", "/api/v1/jobs", job, &err);
    json_decref(job);
    if (rc || c.status != 201) {
        rc = td__cli_hub_fail(&c, "train --hub", rc, err.msg);
        td_hubc_free(&c);
        return rc;
    }
    id = json_integer_value(json_object_get(c.json, "id"));
    fprintf(stderr, "job %lld queued on %s (Ctrl-C cancels it; what it trained is kept)\n", id,
            c.url);
    catch_signals();
    char st[32] = "";
    long long v = 0;
    rc = td__cli_watch_job(&c, id, (volatile int *)&interrupted, st, sizeof(st), &v);
    if (!rc && v > 0) {
        rc = td__cli_pull(&c, model, v, dir);
        if (!rc) {
            printf("stopped: %s; the hub's model %lld version %lld is in %s\n", st, model, v, dir);
            printf("model: %s/model/best.tdm (and last.tdm); metrics: %s/metrics/training.jsonl\n",
                   dir, dir);
        }
    } else if (!rc) {
        char path[80];
        snprintf(path, sizeof(path), "/api/v1/jobs/%lld", id);
        const char *error = NULL;
        if (td_hubc_json(&c, "GET", path, NULL, &err) == 0 && c.status == 200)
            error = json_string_value(json_object_get(c.json, "error"));
        rc = td__cli_fail("job %lld %s%s%s", id, st[0] ? st : "ended", error ? ": " : "",
                          error ? error : "");
    }
    td_hubc_free(&c);
    return rc;
}

/* ---- trackday worker ---------------------------------------------------------------------------
 */

static void worker_log(void *user, const char *line)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    (void)user;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%H:%M:%S", &tm);
    fprintf(stderr, "%s worker: %s\n", when, line);
}

static int cmd_worker(int argc, char **argv)
{
    td_worker_options o;
    td_err err;
    const char *token = getenv("TRACKDAY_WORKER_TOKEN");
    char work[1024];
    td_worker_options_default(&o);
    snprintf(work, sizeof(work), "%s/trackday-worker-%ld",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    o.work_dir = work;
    const td__cli_opt opts[] = {
        TD_CLI_REQUIRED_STRING(NULL, "--hub", &o.hub_url, "URL",
                               "the hub's address, as trackday serve printed it"),
        TD_CLI_STRING(NULL, "--token", &token, "T",
                      "a worker token from 'trackday admin create-worker' (default: "
                      "$TRACKDAY_WORKER_TOKEN)"),
        TD_CLI_INT("--slots", &o.slots, 1, 64, "N", "jobs at once (default 1)"),
        TD_CLI_STRING(NULL, "--work", &o.work_dir, "DIR",
                      "scratch directory (default $TMPDIR/trackday-worker-PID)"),
        TD_CLI_LONG("--max-jobs", &o.max_jobs, 1, 1000000000L, "N", "exit after N jobs"),
        TD_CLI_DOUBLE("--checkpoint-seconds", &o.checkpoint_s, 0, 86400, "S",
                      "upload a training checkpoint at most every S seconds (default 30)"),
        TD_CLI_DOUBLE("--wait", &o.wait_s, 0, 30, "S",
                      "ask the hub for a job with a long poll of S seconds (default 10)"),
        TD_CLI_FLAG("--no-sandbox", &o.no_sandbox,
                    "run jobs unconfined (only for trusted users' code)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "worker",
        .about = "Runs the hub's training and evaluation jobs on this machine: claims a job, "
                 "runs trackday train or eval on it in a sandbox (docs/sandbox.md: read-only "
                 "system, no network, its own scratch directory), streams its progress, uploads "
                 "checkpoints and the result. SIGTERM or Ctrl-C hands running jobs back to the "
                 "queue (training with its checkpoint) and exits.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (!token || !*token)
        return td__cli_usage_error("--token T is needed: a worker token from 'trackday admin "
                                   "create-worker'");
    o.token = token;
    if (!o.no_sandbox)
        fprintf(stderr, "trackday worker: checking that jobs can be sandboxed here\n");
    if (td_worker_sandbox_check(o.no_sandbox, &err))
        return td__cli_fail("%s", err.msg);
    /* Jobs read the tracks (trackday's and DeepRacer's) besides the system. */
    static char shared[1200];
    snprintf(shared, sizeof(shared), "%s/../shared/tracks", TD_SOURCE_DIR);
    const char *read_only[] = {td__cli_tracks_dir(), shared, NULL};
    o.read_only = read_only;
    catch_signals();
    signal(SIGPIPE, SIG_IGN);
    o.stop = &interrupted;
    o.log = worker_log;
    fprintf(stderr, "trackday worker: %d slot%s, hub %s, scratch %s%s\n", o.slots,
            o.slots == 1 ? "" : "s", o.hub_url, o.work_dir, o.no_sandbox ? " (no sandbox)" : "");
    int rc = td_worker_run(&o, &err);
    rmdir(o.work_dir);
    if (rc)
        return td__cli_fail("%s", err.msg);
    fprintf(stderr, "trackday worker: stopped\n");
    return 0;
}

TD_CLI_COMMAND("jobs", "the hub's jobs: list, watch, follow one live, cancel", cmd_jobs)
TD_CLI_COMMAND("worker", "run the hub's training and evaluation jobs on this machine", cmd_worker)
