/*
 * reward.c - reward functions checked and explained on the hub, for the browser's reward
 * editor (docs/ui.md): the text is written to a scratch directory under DIR/tmp and
 * `trackday reward check --json` (or `reward explain`) runs on it in the core sandbox, as a
 * worker runs a job: no network, a read-only system, the directory as the one writable place,
 * CPU, memory, file-size and wall-clock limits, and at most a few at once per hub process.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub_internal.h"

/* Sanitizer builds reserve terabytes of address space: no memory limit for them. */
#if defined(__SANITIZE_ADDRESS__)
#define TD__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TD__ASAN 1
#endif
#endif

#define MAX_RUNNING  4           /* checks at once in one hub process */
#define MAX_CODE     (64 * 1024) /* DeepRacer's console took reward functions up to 64 KiB */
#define MAX_OUTPUT   (1u << 20)  /* a report or a picture */
#define WALL_SECONDS 30.0        /* a check that has not ended by then is killed */

static pthread_mutex_t running_mu = PTHREAD_MUTEX_INITIALIZER;
static int running;

static int enter(void)
{
    int ok;
    pthread_mutex_lock(&running_mu);
    ok = running < MAX_RUNNING;
    if (ok)
        running++;
    pthread_mutex_unlock(&running_mu);
    return ok;
}

static void leave(void)
{
    pthread_mutex_lock(&running_mu);
    running--;
    pthread_mutex_unlock(&running_mu);
}

/* Reads all of fd (the program's output) until EOF, the limit or the deadline. Returns 0 at
 * EOF, 1 past the deadline, 2 over the limit. */
static int read_all(int fd, double deadline, char **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = td_malloc(cap + 1);
    int rc = 0;
    if (!buf)
        return 2;
    for (;;) {
        double left = deadline - td_time_now();
        if (left <= 0) {
            rc = 1;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        if (n == cap) {
            if (cap >= MAX_OUTPUT) {
                rc = 2;
                break;
            }
            char *nb = td_realloc(buf, cap * 2 + 1);
            if (!nb) {
                rc = 2;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return rc;
}

/* The file's text (at most cap bytes), or NULL. */
static char *slurp(const char *path, size_t cap, size_t *len)
{
    char *data = NULL;
    size_t n = 0;
    td_err err;
    if (td_file_read(path, &data, &n, &err) != 0)
        return NULL;
    if (n > cap) {
        td_free(data);
        return NULL;
    }
    *len = n;
    return data;
}

typedef struct tool_run {
    char dir[1200];
    char *out; /* standard output */
    size_t out_len;
    char *log; /* standard error */
    size_t log_len;
    td_sandbox_exit ex;
} tool_run;

static void tool_run_free(tool_run *t)
{
    td_free(t->out);
    td_free(t->log);
    if (t->dir[0])
        td_remove_tree(t->dir);
}

/* Runs `trackday reward SUB reward_function.py ARGS...` on code in the sandbox. Replies
 * (and returns 1) on any failure to run it; 0 with t filled when it ran to its end. */
static int run_tool(td__req *r, const char *sub, const char *code, const char *const *args,
                    tool_run *t)
{
    td_hub *h = r->hub;
    char program[1024], file[1300], log_path[1300];
    const char *argv[24];
    td__limits lim;
    td__child child;
    td_sandbox_mode mode = TD_SANDBOX_AUTO;
    td_err err = {0};
    int n = 0, rc;
    memset(t, 0, sizeof(*t));
    if (!h->opt.program)
        return td__fail(r, 503, "unavailable", "this hub does not run reward checks");
    snprintf(program, sizeof(program), "%s", h->opt.program);
    if (td_sandbox_mode_from_env(&mode, &err))
        return td__fail(r, 503, "unavailable", "%s", err.msg);
    snprintf(t->dir, sizeof(t->dir), "%s/tmp/reward-XXXXXX", h->data_dir);
    if (!mkdtemp(t->dir)) {
        t->dir[0] = 0;
        return td__fail(r, 500, "internal", "cannot make a scratch directory: %s", strerror(errno));
    }
    snprintf(file, sizeof(file), "%s/reward_function.py", t->dir);
    snprintf(log_path, sizeof(log_path), "%s/stderr.log", t->dir);
    if (td_file_write_atomic(file, code, strlen(code), &err))
        return td__fail_err(r, TD_EIO, &err);
    argv[n++] = program;
    argv[n++] = "reward";
    argv[n++] = sub;
    argv[n++] = "reward_function.py"; /* in its working directory: the scratch one */
    for (int i = 0; args[i] && n < 22; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    memset(&lim, 0, sizeof(lim));
    lim.cpu_s = 20;
    lim.file_bytes = 16u << 20;
#ifndef TD__ASAN
    lim.memory_bytes = 2ull << 30;
#endif
    const char *ro[] = {h->opt.tracks_dir, h->opt.shared_tracks, NULL};
    if (!ro[0]) {
        ro[0] = ro[1];
        ro[1] = NULL;
    }
    if (!enter()) {
        td__req_add_header(r, "Retry-After", "1");
        return td__fail(r, 503, "busy",
                        "the hub is checking %d reward functions already; try "
                        "again in a moment",
                        MAX_RUNNING);
    }
    rc = td__sandbox_spawn(argv, t->dir, log_path, &lim, mode, ro, &child, &err);
    if (rc) {
        leave();
        return td__fail(r, 503, "unavailable", "the hub cannot run reward code in a sandbox: %s",
                        err.msg);
    }
    int rd = read_all(child.out_fd, td_time_now() + WALL_SECONDS, &t->out, &t->out_len);
    if (rd)
        td__child_kill(&child);
    td__child_wait(&child, &t->ex);
    leave();
    t->log = slurp(log_path, 64 * 1024, &t->log_len);
    if (rd == 1)
        return td__fail(r, 422, "timeout",
                        "the reward function did not finish within %.0f seconds (a loop that "
                        "never ends?)",
                        WALL_SECONDS);
    if (rd == 2)
        return td__fail(r, 422, "too_large", "the reward function printed too much");
    return 0;
}

/* The request's reward text and track (default: DeepRacer's reInvent2019_track when the hub
 * has DeepRacer's routes, else trackday's oval). */
static int reward_args(td__req *r, json_t *o, const char *extra_keys, const char **code,
                       char *track, size_t cap)
{
    const char *t = NULL;
    char keys[200];
    snprintf(keys, sizeof(keys), "code,track%s%s", extra_keys ? "," : "",
             extra_keys ? extra_keys : "");
    if (td__only_keys(r, o, keys) || td__arg_str(r, o, "code", 1, MAX_CODE, code) ||
        td__arg_str(r, o, "track", 0, 100, &t))
        return 1;
    if (!t)
        t = td__track_known(r->hub, "reInvent2019_track") ? "reInvent2019_track" : "oval";
    if (!strcmp(t, "default"))
        t = "kidney";
    /* A league's or an assignment's hidden track is unknown to a learner: a reward function
     * checked or explained on it would show its shape (params, the explain picture). */
    if (!td__track_known(r->hub, t) || td__track_hidden(r, t))
        return td__fail(r, 400, "bad_request",
                        "no track named '%.100s' (GET /api/v1/tracks lists them)", t);
    snprintf(track, cap, "%s", t);
    return 0;
}

static int post_check(td__req *r)
{
    json_t *o;
    const char *code;
    char track[128];
    tool_run t;
    if (td__req_json(r, &o) || reward_args(r, o, NULL, &code, track, sizeof(track)))
        return 1;
    const char *args[] = {"--json", "--track", track, "--timeout", "2", NULL};
    if (run_tool(r, "check", code, args, &t)) {
        tool_run_free(&t);
        return 1;
    }
    json_error_t jerr;
    json_t *report = json_loadb(t.out ? t.out : "", t.out_len, 0, &jerr);
    if (!json_is_object(report)) {
        json_decref(report);
        TD_WARN("hub: reward check ended (%s) without a report: %.300s", t.ex.reason,
                t.log ? t.log : "");
        td__fail(r, 500, "internal", "the reward check ended without a report (%s)", t.ex.reason);
        tool_run_free(&t);
        return 1;
    }
    json_object_set_new(report, "track", json_string(track));
    /* The scratch file's name means nothing to the caller. */
    json_object_set_new(report, "file", json_string("reward_function.py"));
    tool_run_free(&t);
    return td__reply_json(r, 200, report);
}

static int post_explain(td__req *r)
{
    json_t *o;
    const char *code, *race = NULL;
    char track[128];
    tool_run t;
    if (td__req_json(r, &o) || reward_args(r, o, "race", &code, track, sizeof(track)) ||
        td__arg_str(r, o, "race", 0, 32, &race))
        return 1;
    if (race && strcmp(race, "time-trial") && strcmp(race, "object-avoidance") &&
        strcmp(race, "head-to-bot"))
        return td__fail(r, 400, "bad_request",
                        "'race' must be time-trial, object-avoidance or head-to-bot");
    /* The program runs in the scratch directory: the picture lands there. */
    const char *args[] = {"--track", track,         "--race", race ? race : "time-trial",
                          "--out",   "explain.svg", NULL};
    if (run_tool(r, "explain", code, args, &t)) {
        tool_run_free(&t);
        return 1;
    }
    size_t svg_len = 0;
    char svg_file[1400];
    snprintf(svg_file, sizeof(svg_file), "%s/explain.svg", t.dir);
    char *svg = slurp(svg_file, MAX_OUTPUT, &svg_len);
    if (!t.ex.exited || t.ex.code != 0 || !svg) {
        const char *why = t.log && t.log_len ? t.log : t.ex.reason;
        td__fail(r, 422, "reward_error", "%.900s", why);
        td_free(svg);
        tool_run_free(&t);
        return 1;
    }
    json_t *reply = json_pack("{s:s%,s:s%,s:s}", "text", t.out ? t.out : "", t.out_len, "svg", svg,
                              svg_len, "track", track);
    td_free(svg);
    tool_run_free(&t);
    if (!reply)
        return td__fail(r, 500, "internal", "the explanation is not UTF-8");
    return td__reply_json(r, 200, reply);
}

const char td__reward_schemas[] =
    "{\"RewardCheck\": {\"type\": \"object\", \"required\": [\"code\"], \"additionalProperties\": "
    "false, \"properties\": {\"code\": {\"type\": \"string\", \"maxLength\": 65536, "
    "\"description\": \"the text of reward_function.py\"}, \"track\": {\"type\": \"string\"}}}, "
    "\"RewardExplain\": {\"type\": \"object\", \"required\": [\"code\"], "
    "\"additionalProperties\": false, \"properties\": {\"code\": {\"type\": \"string\", "
    "\"maxLength\": 65536}, \"track\": {\"type\": \"string\"}, \"race\": {\"type\": \"string\", "
    "\"enum\": [\"time-trial\", \"object-avoidance\", \"head-to-bot\"]}}}}";

const td__route td__routes_reward[] = {
    {"POST", "/api/v1/reward/check", post_check, TD__ALLOW_USERS, TD__BODY_JSON,
     "Check a reward function as `trackday reward check --json` does (DeepRacer's validator, "
     "then calls in sampled states), in the sandbox: issues with their line and column",
     "{\"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\": "
     "{\"$ref\": \"#/components/schemas/RewardCheck\"}}}}, \"responses\": {\"200\": "
     "{\"description\": \"the report (ok, errors, warnings, issues, samples)\"}, \"422\": "
     "{\"$ref\": \"#/components/responses/Error\"}, \"503\": {\"$ref\": "
     "\"#/components/responses/Error\"}}}"},
    {"POST", "/api/v1/reward/explain", post_explain, TD__ALLOW_USERS, TD__BODY_JSON,
     "Explain a reward function as `trackday reward explain` does: the reward along a racing "
     "line lap and a zig-zag lap, as a table and an SVG picture",
     "{\"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\": "
     "{\"$ref\": \"#/components/schemas/RewardExplain\"}}}}, \"responses\": {\"200\": "
     "{\"description\": \"text and svg\"}, \"422\": {\"$ref\": "
     "\"#/components/responses/Error\"}, \"503\": {\"$ref\": "
     "\"#/components/responses/Error\"}}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
