/*
 * worker.c - `trackday worker`: claims jobs from a hub and runs each as a sandboxed child
 * process (`trackday train` or `trackday eval` on the model version it downloaded), turning
 * the trainer's JSON progress lines into heartbeat events, uploading checkpoints as training
 * goes, then the results. One thread per slot. A job the hub no longer leases to us is
 * dropped; on SIGTERM running jobs checkpoint and go back to the queue.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hub/hub_internal.h"
#include "trackday/drift.h"
#include "trackday/hubclient.h"
#include "trackday/modeldir.h"
#include "trackday/trainer.h"

/* Sanitizer builds reserve terabytes of address space: no memory limit for them. */
#if defined(__SANITIZE_ADDRESS__)
#define TD__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TD__ASAN 1
#endif
#endif

void td_worker_options_default(td_worker_options *o)
{
    memset(o, 0, sizeof(*o));
    o->slots = 1;
    o->wait_s = 10;
    o->checkpoint_s = 30;
}

typedef struct worker {
    const td_worker_options *opt;
    td_sandbox_mode mode;
    char program[PATH_MAX];
    pthread_mutex_t mu;
    long jobs_started;
    int fatal;
    td_err fatal_err;
} worker;

typedef struct slot {
    worker *w;
    int index;
    td_hubc hub;
} slot;

static void wlog(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wlog(worker *w, const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (w->opt->log)
        w->opt->log(w->opt->log_user, line);
}

static int stopping(worker *w)
{
    return (w->opt->stop && *w->opt->stop) || w->fatal;
}

/* ------------------------------------------------------------------------------------ */
/* Running one job                                                                      */
/* ------------------------------------------------------------------------------------ */

typedef struct job_run {
    slot *s;
    int64_t id, model_id, version, attempt;
    char type[32];
    json_t *params;
    double lease_s;
    char dir[1200], model_dir[1300], out_dir[1300], log_path[1300];
    td__child child;
    json_t *pending;       /* progress events not yet sent */
    int64_t elapsed_s;     /* training time of this job (the trainer's, less the base) */
    double base_elapsed_s; /* training time the input version already had */
    int64_t base_iterations;
    double start_elapsed_s; /* where this attempt starts: the base, or the job's checkpoint */
    int64_t start_iterations;
    int iterations_seen, last_checkpoint_iteration;
    char metrics[1400]; /* a training run's metrics/training.jsonl, read as it grows */
    long metrics_off;
    double last_beat, last_checkpoint;
    double t_claimed, t_spawned, t_ended; /* the job's phases, for its "done" line */
    int cancel_sent, term_sent, lost;
    char cars[6][1400], replay[1400]; /* a race's model directories and replay */
} job_run;

/* Sends a heartbeat with the pending events; notes cancel and lease loss. */
static void heartbeat(job_run *j)
{
    td_hubc *h = &j->s->hub;
    td_err err;
    char path[96];
    json_t *body =
        json_pack("{s:I,s:O}", "elapsed_s", (json_int_t)j->elapsed_s, "events", j->pending);
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/heartbeat", (long long)j->id);
    if (td_hubc_json(h, "POST", path, body, &err)) {
        wlog(j->s->w, "job %lld: heartbeat: %s (will retry)", (long long)j->id, err.msg);
    } else if (h->status == 200) {
        json_array_clear(j->pending);
        if (json_is_true(json_object_get(h->json, "cancel")) && !j->cancel_sent) {
            wlog(j->s->w, "job %lld: canceled: stopping the run, keeping what it trained",
                 (long long)j->id);
            td__child_stop(&j->child);
            j->cancel_sent = 1;
        }
    } else if (h->status == 409 || h->status == 404) {
        wlog(j->s->w, "job %lld: %s: dropping it", (long long)j->id, td_hubc_error(h));
        td__child_kill(&j->child);
        j->lost = 1;
    } else {
        wlog(j->s->w, "job %lld: heartbeat refused: %s", (long long)j->id, td_hubc_error(h));
    }
    json_decref(body);
    j->last_beat = td_time_now();
}

/* Uploads the training run as the job's checkpoint. The trainer goes on while it is
 * packed: the directory's lock (which the trainer holds while it writes an iteration's
 * weights, state and metrics) keeps the archive to one iteration's files. */
static void upload_checkpoint(job_run *j)
{
    td_hubc *h = &j->s->hub;
    char tgz[1400], path[160];
    td_err err;
    snprintf(tgz, sizeof(tgz), "%s/checkpoint.tar.gz", j->dir);
    int lock = td_dir_lock(j->model_dir, 0, &err);
    int rc = lock < 0 ? -1 : td_hubc_pack_dir(j->model_dir, tgz, &err);
    td_dir_unlock(lock);
    if (rc) {
        wlog(j->s->w, "job %lld: checkpoint: %s", (long long)j->id, err.msg);
        return;
    }
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/checkpoint?elapsed_s=%lld", (long long)j->id,
             (long long)j->elapsed_s);
    if (td_hubc_upload(h, "PUT", path, tgz, &err))
        wlog(j->s->w, "job %lld: checkpoint: %s", (long long)j->id, err.msg);
    else if (h->status == 409)
        j->lost = 1;
    else if (h->status != 204)
        wlog(j->s->w, "job %lld: checkpoint refused: %s", (long long)j->id, td_hubc_error(h));
    unlink(tgz);
    j->last_checkpoint = td_time_now();
    j->last_checkpoint_iteration = j->iterations_seen;
}

static void on_line(job_run *j, char *line)
{
    json_t *o;
    if (line[0] != '{')
        return;
    o = json_loads(line, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    json_t *e = json_object_get(o, "elapsed_s");
    if (json_is_number(e)) {
        double v = json_number_value(e) - j->base_elapsed_s;
        j->elapsed_s = v > 0 ? (int64_t)v : 0;
    }
    if (json_object_get(o, "iteration"))
        j->iterations_seen++;
    json_array_append_new(j->pending, o);
}

/* The lines the trainer appended to metrics/training.jsonl since the last call: one per
 * iteration, what `trackday train` writes whatever its output options. */
static void read_metrics(job_run *j)
{
    char buf[65536];
    FILE *f;
    if (!j->metrics[0] || !(f = fopen(j->metrics, "r")))
        return;
    if (fseek(f, j->metrics_off, SEEK_SET) == 0) {
        /* Whole lines only: a line being written is read next time. */
        while (fgets(buf, sizeof(buf), f)) {
            size_t n = strlen(buf);
            if (n == 0 || buf[n - 1] != '\n')
                break;
            j->metrics_off += (long)n;
            buf[n - 1] = 0;
            on_line(j, buf);
        }
    }
    fclose(f);
}

static void fail_job(job_run *j, const char *reason, int retry, int release)
{
    td_hubc *h = &j->s->hub;
    td_err err;
    char path[96];
    json_t *body = json_pack("{s:s,s:b,s:b,s:I}", "reason", reason, "retry", retry, "release",
                             release, "elapsed_s", (json_int_t)j->elapsed_s);
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/fail", (long long)j->id);
    for (int attempt = 0; attempt < 6; attempt++) {
        if (td_hubc_json(h, "POST", path, body, &err) == 0 && h->status < 500)
            break;
        sleep(attempt < 3 ? 1 : 5);
    }
    json_decref(body);
}

/* The last lines of the child's log, for the failure message. */
static void log_tail(const char *path, char *out, size_t cap)
{
    char *data = NULL;
    size_t len = 0;
    out[0] = 0;
    if (td_file_read(path, &data, &len, NULL))
        return;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        data[--len] = 0;
    /* Progress lines end in \r on a terminal; keep the last real lines. */
    const char *start = len > cap - 1 ? data + len - (cap - 1) : data;
    snprintf(out, cap, "%s", start);
    td_free(data);
}

static int build_argv(job_run *j, const char *args[64], char bufs[16][64])
{
    int n = 0, b = 0;
    json_t *p = j->params;
    const char *track = json_string_value(json_object_get(p, "track"));
    args[n++] = j->s->w->program;
#define NUM_ARG(flag, key, fmt, conv)                                                              \
    do {                                                                                           \
        json_t *v_ = json_object_get(p, key);                                                      \
        if (json_is_number(v_)) {                                                                  \
            snprintf(bufs[b], 64, fmt, conv(json_number_value(v_)));                               \
            args[n++] = flag;                                                                      \
            args[n++] = bufs[b++];                                                                 \
        }                                                                                          \
    } while (0)
    if (!strcmp(j->type, "train")) {
        char last[1400];
        args[n++] = "train";
        args[n++] = j->model_dir;
        /* The trainer's limits count from the start of its run (a resume too): an attempt
         * that continues this job's checkpoint gets what the job has left. */
        double minutes = json_number_value(json_object_get(p, "minutes")) -
                         (j->start_elapsed_s - j->base_elapsed_s) / 60.0;
        snprintf(bufs[b], 64, "%.4f", minutes > 0.01 ? minutes : 0.01);
        args[n++] = "--minutes";
        args[n++] = bufs[b++];
        json_t *it = json_object_get(p, "iterations");
        if (json_is_integer(it)) {
            int64_t left = json_integer_value(it) - (j->start_iterations - j->base_iterations);
            snprintf(bufs[b], 64, "%lld", (long long)(left > 1 ? left : 1));
            args[n++] = "--iterations";
            args[n++] = bufs[b++];
        }
        NUM_ARG("--seed", "seed", "%lld", (long long));
        NUM_ARG("--envs", "envs", "%lld", (long long));
        NUM_ARG("--until-laps", "until_laps", "%lld", (long long));
        /* Progress comes from the metrics the trainer appends (read_metrics). */
        args[n++] = "--quiet";
        /* A version that was trained before (or this job's checkpoint) continues. */
        snprintf(last, sizeof(last), "%s/model/last.tdm", j->model_dir);
        if (td_path_exists(last))
            args[n++] = "--resume";
    } else if (!strcmp(j->type, "race")) {
        /* A knockout match: `trackday race` with the league's rules, its replay a small video
         * when the machine has ffmpeg (else PNG frames). */
        json_t *names = json_object_get(p, "names");
        args[n++] = "race";
        for (size_t i = 0; i < json_array_size(names) && i < 6; i++) {
            snprintf(j->cars[i], sizeof(j->cars[i]), "%s/cars/%s", j->dir,
                     json_string_value(json_array_get(names, i)));
            args[n++] = j->cars[i];
        }
        NUM_ARG("--laps", "laps", "%lld", (long long));
        NUM_ARG("--max-resets", "max_resets", "%lld", (long long));
        NUM_ARG("--off-track-penalty", "off_track_penalty", "%g", (double));
        NUM_ARG("--collision-penalty", "collision_penalty", "%g", (double));
        if (json_is_true(json_object_get(p, "continuous")))
            args[n++] = "--continuous";
        int video = td_path_exists("/usr/bin/ffmpeg") || td_path_exists("/usr/local/bin/ffmpeg");
        snprintf(j->replay, sizeof(j->replay), "%s/%s", j->out_dir, video ? "race.mp4" : "replay");
        args[n++] = "-o";
        args[n++] = j->out_dir;
        args[n++] = "--replay";
        args[n++] = j->replay;
        args[n++] = "--width";
        args[n++] = "480";
        args[n++] = "--fps";
        args[n++] = video ? "10" : "4";
        args[n++] = "--json";
    } else {
        args[n++] = "eval";
        args[n++] = j->model_dir;
        NUM_ARG("--laps", "laps", "%lld", (long long));
        NUM_ARG("--seed", "seed", "%lld", (long long));
        NUM_ARG("--max-resets", "max_resets", "%lld", (long long));
        /* A league's official evaluation brings all of its settings. */
        NUM_ARG("--off-track-penalty", "off_track_penalty", "%g", (double));
        NUM_ARG("--collision-penalty", "collision_penalty", "%g", (double));
        NUM_ARG("--obstacles", "obstacles", "%lld", (long long));
        NUM_ARG("--bots", "bots", "%lld", (long long));
        NUM_ARG("--bot-speed", "bot_speed", "%g", (double));
        if (json_is_true(json_object_get(p, "continuous")))
            args[n++] = "--continuous";
        const char *race = json_string_value(json_object_get(p, "race_type"));
        if (race) {
            args[n++] = "--race-type";
            args[n++] = race;
        }
        args[n++] = "--out";
        args[n++] = j->out_dir;
        args[n++] = "--json";
    }
    if (track) {
        args[n++] = "--track";
        args[n++] = track;
    }
#undef NUM_ARG
    args[n] = NULL;
    return n;
}

/* Where a training of dir resumes: the iteration and training time of its model/last.state,
 * the file the trainer continues from (0 without one: never trained). Not the metrics: their
 * line is appended after the state, so a run killed between the two has a state one iteration
 * ahead of its last line, and only the state says where the next run starts. */
static void resume_point(const char *dir, double *elapsed_s, int64_t *iteration)
{
    td_err err;
    if (td_train_state_read(dir, iteration, elapsed_s, &err)) {
        *elapsed_s = 0;
        *iteration = 0;
    }
}

/* 1 when the last line of dir's metrics is iteration's and says its greedy laps were done
 * (laps_ok: the trainer's --until-laps stop). */
static int laps_done(const char *dir, int64_t iteration)
{
    char metrics[1400], *data = NULL;
    size_t len = 0;
    int done = 0;
    snprintf(metrics, sizeof(metrics), "%s/metrics/training.jsonl", dir);
    if (td_file_read(metrics, &data, &len, NULL))
        return 0;
    while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
        data[--len] = 0;
    char *lastl = strrchr(data, '\n');
    json_t *o = json_loads(lastl ? lastl + 1 : data, 0, NULL);
    done = json_integer_value(json_object_get(o, "iteration")) == iteration &&
           json_is_true(json_object_get(o, "laps_ok"));
    json_decref(o);
    td_free(data);
    return done;
}

/* 1 when a train job's checkpoint already holds all of it: the worker that uploaded it died
 * after the last iteration, before sending the result. Another iteration would be one more
 * than asked (the trainer runs at least one). All of it: the iterations or the minutes asked,
 * or the laps of until_laps (the checkpoint's last iteration stopped the run on them: known
 * when its metrics line is there, which a run killed before writing it lacks). */
static int nothing_left(const job_run *j)
{
    const json_t *it = json_object_get(j->params, "iterations");
    double minutes = json_number_value(json_object_get(j->params, "minutes"));
    if (strcmp(j->type, "train") != 0 || j->start_iterations == j->base_iterations)
        return 0;
    if (json_is_integer(it) &&
        j->start_iterations - j->base_iterations >= (int64_t)json_integer_value(it))
        return 1;
    if (minutes > 0 && j->start_elapsed_s - j->base_elapsed_s >= minutes * 60.0)
        return 1;
    return json_integer_value(json_object_get(j->params, "until_laps")) > 0 &&
           laps_done(j->model_dir, j->start_iterations);
}

/* A race: each car's frozen model into DIR/NAME (the name the race's standings use). */
static int prepare_race(job_run *j)
{
    td_hubc *h = &j->s->hub;
    td_err err;
    json_t *inputs = json_object_get(j->params, "inputs");
    json_t *names = json_object_get(j->params, "names");
    for (size_t i = 0; i < json_array_size(inputs) && i < 6; i++) {
        const char *in = json_string_value(json_array_get(inputs, i));
        const char *name = json_string_value(json_array_get(names, i));
        char tgz[1400], dir[1400];
        if (!in || strncmp(in, "/api/v1/", 8) || !name || !td__valid_name(name, 64)) {
            fail_job(j, "the race's parameters name no car", 0, 0);
            return -1;
        }
        snprintf(tgz, sizeof(tgz), "%s/car-%zu.tar.gz", j->dir, i);
        snprintf(dir, sizeof(dir), "%s/cars/%s", j->dir, name);
        if (td_hubc_download(h, in, tgz, &err) || h->status != 200) {
            char why[1200];
            snprintf(why, sizeof(why), "the worker could not download %s: %s", in,
                     err.msg[0] ? err.msg : td_hubc_error(h));
            fail_job(j, why, 1, 0);
            return -1;
        }
        if (td_hubc_unpack(tgz, dir, &err)) {
            fail_job(j, err.msg, 0, 0);
            return -1;
        }
        unlink(tgz);
    }
    return 0;
}

/* Downloads what the job needs into its scratch directory. Returns 0, or fails the job. */
static int prepare(job_run *j, int resume)
{
    if (!strcmp(j->type, "race"))
        return prepare_race(j);
    td_hubc *h = &j->s->hub;
    td_err err;
    char path[160], tgz[1400];
    snprintf(tgz, sizeof(tgz), "%s/input.tar.gz", j->dir);
    /* A league's submission is evaluated from its frozen copy. */
    const char *input = json_string_value(json_object_get(j->params, "input"));
    if (input && !strncmp(input, "/api/v1/", 8) && strlen(input) < sizeof(path))
        snprintf(path, sizeof(path), "%s", input);
    else
        snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/%lld/download",
                 (long long)j->model_id, (long long)j->version);
    if (td_hubc_download(h, path, tgz, &err) || h->status != 200) {
        char why[1200];
        snprintf(why, sizeof(why), "the worker could not download model %lld version %lld: %s",
                 (long long)j->model_id, (long long)j->version,
                 err.msg[0] ? err.msg : td_hubc_error(h));
        fail_job(j, why, 1, 0);
        return -1;
    }
    if (td_hubc_unpack(tgz, j->model_dir, &err)) {
        fail_job(j, err.msg, 0, 0);
        return -1;
    }
    unlink(tgz);
    /* Where the version's training stopped. */
    resume_point(j->model_dir, &j->base_elapsed_s, &j->base_iterations);
    j->start_elapsed_s = j->base_elapsed_s;
    j->start_iterations = j->base_iterations;
    if (resume) {
        /* The checkpoint is a whole model directory: unpacked beside the version's and put in
         * its place only when complete, so a failure part-way (a full disk) starts over from
         * the version, never from a mix of both. */
        char ck[1400], aside[1400];
        snprintf(path, sizeof(path), "/api/v1/jobs/%lld/checkpoint", (long long)j->id);
        snprintf(ck, sizeof(ck), "%s/checkpoint", j->dir);
        snprintf(aside, sizeof(aside), "%s/version", j->dir);
        td_remove_tree(ck);
        td_remove_tree(aside);
        int ok = td_hubc_download(h, path, tgz, &err) == 0 && h->status == 200 &&
                 td_hubc_unpack(tgz, ck, &err) == 0;
        if (ok && rename(j->model_dir, aside) != 0) {
            ok = 0;
        } else if (ok && rename(ck, j->model_dir) != 0) {
            ok = 0;
            if (rename(aside, j->model_dir) != 0) {
                fail_job(j, "the worker could not put its checkpoint or model files in place", 1,
                         0);
                return -1;
            }
        }
        if (ok) {
            wlog(j->s->w, "job %lld: resuming from its checkpoint", (long long)j->id);
            resume_point(j->model_dir, &j->start_elapsed_s, &j->start_iterations);
        } else {
            wlog(j->s->w, "job %lld: no usable checkpoint, starting over", (long long)j->id);
        }
        td_remove_tree(ck);
        td_remove_tree(aside);
        unlink(tgz);
    }
    /* A retraining after a drift alert: the version's domain randomization widened to the
     * job's ranges, in its training_params.yaml (so the new version records them). */
    const json_t *dr = json_object_get(j->params, "domain_randomization");
    if (!strcmp(j->type, "train") && dr) {
        td_dr_ranges want, now;
        char yaml[1400];
        snprintf(yaml, sizeof(yaml), "%s/training_params.yaml", j->model_dir);
        if (td_dr_ranges_from_json(&want, dr, &err) ||
            td_training_params_widen_dr(yaml, &want, &now, &err)) {
            fail_job(j, err.msg, 0, 0);
            return -1;
        }
        wlog(j->s->w,
             "job %lld: domain randomization brightness [%g, %g], contrast [%g, %g], texture "
             "%g, noise %g",
             (long long)j->id, now.brightness[0], now.brightness[1], now.contrast[0],
             now.contrast[1], now.texture_hi, now.noise_hi);
    }
    return 0;
}

/* 1 if dir holds an evaluation report (eval-*.json). */
static int has_report(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;
    while (d && (de = readdir(d)) && !found) {
        size_t n = strlen(de->d_name);
        found = n > 10 && !strncmp(de->d_name, "eval-", 5) && !strcmp(de->d_name + n - 5, ".json");
    }
    if (d)
        closedir(d);
    return found;
}

/* Runs one of trackday's own tools for the job in the same sandbox (its output to out_path, or
 * dropped). Returns 0 when it exited with status 0. */
static int run_tool(job_run *j, const char *const *args, const char *out_path, const char *what)
{
    char log[1400];
    td__limits lim;
    td__child child;
    td_err err;
    td_sandbox_exit ex;
    snprintf(log, sizeof(log), "%s/%s.log", j->dir, what);
    memset(&lim, 0, sizeof(lim));
    lim.cpu_s = 600;
    lim.file_bytes = 512u << 20;
    if (td__sandbox_spawn(args, j->dir, log, &lim, j->s->w->mode, j->s->w->opt->read_only, &child,
                          &err)) {
        wlog(j->s->w, "job %lld: %s: %s", (long long)j->id, what, err.msg);
        return -1;
    }
    FILE *f = out_path ? fopen(out_path, "w") : NULL;
    char buf[8192];
    ssize_t k;
    size_t total = 0;
    while ((k = read(child.out_fd, buf, sizeof(buf))) > 0) {
        total += (size_t)k;
        if (f && total < (16u << 20))
            fwrite(buf, 1, (size_t)k, f);
    }
    if (f)
        fclose(f);
    memset(&ex, 0, sizeof(ex));
    if (td__child_wait(&child, &ex))
        return -1;
    return ex.exited && ex.code == 0 ? 0 : -1;
}

/* A grading that asks for it: `trackday reward check` on the model's reward function, its JSON
 * report kept as reward-check.json beside the evaluation's files. */
static void reward_check(job_run *j)
{
    char file[1400], out[1400];
    const char *track = json_string_value(json_object_get(j->params, "track"));
    const char *args[12];
    int n = 0;
    snprintf(file, sizeof(file), "%s/reward_function.py", j->model_dir);
    snprintf(out, sizeof(out), "%s/reward-check.json", j->out_dir);
    args[n++] = j->s->w->program;
    args[n++] = "reward";
    args[n++] = "check";
    args[n++] = file;
    args[n++] = "--json";
    if (track) {
        args[n++] = "--track";
        args[n++] = track;
    }
    args[n] = NULL;
    run_tool(j, args, out, "reward-check");
}

/* An official evaluation's replay as a video (`trackday replay` of its report), when this
 * machine has ffmpeg; without, the picture of the driven laps stands for it. */
static void replay_video(job_run *j)
{
    char report[1400], video[1400];
    const char *track = json_string_value(json_object_get(j->params, "track"));
    if (!track || !(td_path_exists("/usr/bin/ffmpeg") || td_path_exists("/usr/local/bin/ffmpeg")))
        return;
    snprintf(report, sizeof(report), "%s/eval-%s.json", j->out_dir, track);
    snprintf(video, sizeof(video), "%s/replay.mp4", j->out_dir);
    const char *args[] = {j->s->w->program, "replay", report, "-o", video, "--width", "480", NULL};
    if (run_tool(j, args, NULL, "replay"))
        unlink(video);
}

static void finish(job_run *j, const td_sandbox_exit *ex)
{
    td_hubc *h = &j->s->hub;
    td_err err;
    char tgz[1400], path[200], why[2400], tail[1600];
    int exited = ex->exited, code = exited ? ex->code : -1;
    if (j->lost)
        return;
    if (stopping(j->s->w) && j->term_sent) {
        /* We stopped it: hand it back, with its checkpoint when it is training. */
        if (!strcmp(j->type, "train") && exited && code == 0)
            upload_checkpoint(j);
        fail_job(j, "the worker was stopped; the job goes back to the queue", 1, 1);
        wlog(j->s->w, "job %lld: handed back to the queue", (long long)j->id);
        return;
    }
    /* An official evaluation (or a grading) whose laps were not all completed (exit status 1 with
     * its report written) is a result, not a failure. */
    if (exited && code == 1 && (!strcmp(j->type, "league") || !strcmp(j->type, "grade")) &&
        has_report(j->out_dir))
        code = 0;
    if (!exited || code != 0) {
        log_tail(j->log_path, tail, sizeof(tail));
        snprintf(why, sizeof(why), "trackday %s %s: %s",
                 !strcmp(j->type, "train") ? "train" : "eval", ex->reason, tail);
        /* A crash may pass on another try; an error in the job's own files (its reward
         * function, its configuration: exit status 1) will not. */
        fail_job(j, why, !exited, 0);
        wlog(j->s->w, "job %lld: failed: %.300s", (long long)j->id, why);
        return;
    }
    if (json_array_size(j->pending))
        heartbeat(j);
    if (!strcmp(j->type, "league"))
        replay_video(j);
    snprintf(tgz, sizeof(tgz), "%s/output.tar.gz", j->dir);
    if (td_hubc_pack_dir(!strcmp(j->type, "train") ? j->model_dir : j->out_dir, tgz, &err)) {
        fail_job(j, err.msg, 1, 0);
        return;
    }
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/complete?status=%s&elapsed_s=%lld",
             (long long)j->id, j->cancel_sent ? "canceled" : "succeeded", (long long)j->elapsed_s);
    /* A hub process that restarts, or its database (503, or 502 from a proxy in front), is
     * waited for: about a minute in all, while the lease still holds the job for us. A reply
     * lost after the hub stored the result comes back as 409 on the next try: stored once. */
    for (int attempt = 0; attempt < 8; attempt++) {
        int rc = td_hubc_upload(h, "POST", path, tgz, &err);
        if (rc == 0 && h->status < 500)
            break;
        wlog(j->s->w, "job %lld: upload: %s (retrying)", (long long)j->id,
             rc ? err.msg : td_hubc_error(h));
        sleep(attempt < 3 ? 1 + attempt : 10);
    }
    /* Where its time went: download and unpack, the child, packing and sending back. */
    double now = td_time_now();
    if (h->status == 200)
        wlog(j->s->w, "job %lld: %s%s in %.2f s (setup %.2f, run %.2f, send %.2f)",
             (long long)j->id, j->cancel_sent ? "canceled" : "done",
             json_integer_value(json_object_get(h->json, "result_version"))
                 ? ", a new model version"
                 : "",
             now - j->t_claimed, j->t_spawned - j->t_claimed, j->t_ended - j->t_spawned,
             now - j->t_ended);
    else
        wlog(j->s->w, "job %lld: the hub refused the results: %s", (long long)j->id,
             td_hubc_error(h));
    unlink(tgz);
}

static void run_job(slot *s, json_t *claim)
{
    worker *w = s->w;
    job_run j;
    td__limits lim;
    td_err err;
    const char *args[64];
    char bufs[16][64];
    char linebuf[65536];
    size_t linelen = 0;
    memset(&j, 0, sizeof(j));
    j.s = s;
    j.t_claimed = td_time_now();
    j.id = json_integer_value(json_object_get(claim, "id"));
    json_t *m = json_object_get(claim, "model");
    j.model_id = json_integer_value(json_object_get(m, "id"));
    j.version = json_integer_value(json_object_get(m, "version"));
    j.attempt = json_integer_value(json_object_get(claim, "attempts"));
    snprintf(j.type, sizeof(j.type), "%s", json_string_value(json_object_get(claim, "type")));
    j.params = json_object_get(claim, "params");
    j.lease_s = (double)json_integer_value(json_object_get(claim, "lease_s"));
    if (j.lease_s < 1)
        j.lease_s = 60;
    snprintf(s->hub.lease, sizeof(s->hub.lease), "%s",
             json_string_value(json_object_get(claim, "lease_id")));
    j.pending = json_array();
    snprintf(j.dir, sizeof(j.dir), "%s/job-%lld-%lld-%d", w->opt->work_dir, (long long)j.id,
             (long long)j.attempt, s->index);
    snprintf(j.model_dir, sizeof(j.model_dir), "%s/model", j.dir);
    snprintf(j.out_dir, sizeof(j.out_dir), "%s/result", j.dir);
    snprintf(j.log_path, sizeof(j.log_path), "%s/job.log", j.dir);
    wlog(w, "job %lld: %s of model %lld version %lld (attempt %lld)", (long long)j.id, j.type,
         (long long)j.model_id, (long long)j.version, (long long)j.attempt);
    td_remove_tree(j.dir);
    if (td_mkdir_p(j.dir, &err)) {
        fail_job(&j, err.msg, 1, 0);
        goto out;
    }
    if (prepare(&j, json_is_true(json_object_get(claim, "resume"))))
        goto out;
    if (strcmp(j.type, "train") && td_mkdir_p(j.out_dir, &err)) {
        fail_job(&j, err.msg, 1, 0);
        goto out;
    }
    if (nothing_left(&j)) {
        td_sandbox_exit done;
        wlog(w,
             "job %lld: its checkpoint holds all the job asked (%lld iterations): sending it as "
             "the result",
             (long long)j.id, (long long)(j.start_iterations - j.base_iterations));
        memset(&done, 0, sizeof(done));
        done.exited = 1;
        j.elapsed_s = (int64_t)(j.start_elapsed_s - j.base_elapsed_s);
        j.t_spawned = j.t_ended = td_time_now();
        finish(&j, &done);
        goto out;
    }
    memset(&lim, 0, sizeof(lim));
    if (json_is_true(json_object_get(j.params, "reward_check")))
        reward_check(&j);
    build_argv(&j, args, bufs);
    double minutes = json_number_value(json_object_get(j.params, "minutes"));
    /* CPU time: the run's minutes on every core plus a margin; the wall clock is watched
     * below. */
    lim.cpu_s =
        (long)((minutes > 0 ? minutes : 30) * 60 * (sysconf(_SC_NPROCESSORS_ONLN) + 1)) + 600;
    lim.file_bytes = 8ull << 30;
#ifndef TD__ASAN
    lim.memory_bytes = 16ull << 30;
#endif
    if (!strcmp(j.type, "train")) {
        struct stat st;
        snprintf(j.metrics, sizeof(j.metrics), "%s/metrics/training.jsonl", j.model_dir);
        j.metrics_off = stat(j.metrics, &st) == 0 ? (long)st.st_size : 0;
    }
    if (td__sandbox_spawn(args, j.dir, j.log_path, &lim, w->mode, w->opt->read_only, &j.child,
                          &err)) {
        fail_job(&j, err.msg, 1, 0);
        goto out;
    }
    j.t_spawned = td_time_now();
    double t0 = j.t_spawned, deadline = t0 + (minutes > 0 ? minutes * 60 + 300 : 1800);
    j.last_beat = t0;
    j.last_checkpoint = t0;
    for (;;) {
        struct pollfd pfd = {j.child.out_fd, POLLIN, 0};
        double now = td_time_now();
        double beat_in = j.last_beat + j.lease_s / 3 - now;
        if (json_array_size(j.pending) && now - j.last_beat > 1.0)
            beat_in = 0;
        int timeout = beat_in <= 0 ? 0 : (int)(beat_in * 1000) + 1;
        if (timeout > 500)
            timeout = 500;
        int pr = poll(&pfd, 1, timeout);
        if (pr > 0) {
            ssize_t k = read(j.child.out_fd, linebuf + linelen, sizeof(linebuf) - 1 - linelen);
            if (k <= 0)
                break; /* the child closed its output: it is ending */
            linelen += (size_t)k;
            linebuf[linelen] = 0;
            char *start = linebuf, *nl;
            while ((nl = strchr(start, '\n'))) {
                *nl = 0;
                on_line(&j, start);
                start = nl + 1;
            }
            linelen = strlen(start);
            memmove(linebuf, start, linelen + 1);
            if (linelen == sizeof(linebuf) - 1)
                linelen = 0; /* a line too long to be ours */
        }
        read_metrics(&j);
        now = td_time_now();
        if (!j.lost && (now - j.last_beat >= j.lease_s / 3 ||
                        (json_array_size(j.pending) && now - j.last_beat > 1.0)))
            heartbeat(&j);
        if (!j.lost && !strcmp(j.type, "train") &&
            j.iterations_seen > j.last_checkpoint_iteration &&
            now - j.last_checkpoint >= w->opt->checkpoint_s && !j.cancel_sent && !j.term_sent)
            upload_checkpoint(&j);
        if (stopping(w) && !j.term_sent) {
            /* Training stops at the end of its step with a checkpoint; an evaluation has
             * nothing to keep. */
            if (!strcmp(j.type, "train"))
                td__child_stop(&j.child);
            else
                td__child_kill(&j.child);
            j.term_sent = 1;
        }
        if (now > deadline && !j.lost) {
            wlog(w, "job %lld: over its time: killing it", (long long)j.id);
            td__child_kill(&j.child);
            deadline = now + 1e9;
        }
        if (j.lost)
            break;
    }
    td_sandbox_exit ex;
    memset(&ex, 0, sizeof(ex));
    read_metrics(&j); /* the last iterations before it ended */
    int lost_child = td__child_wait(&j.child, &ex);
    j.t_ended = td_time_now();
    if (lost_child) {
        ex.exited = 0;
        ex.signal = SIGKILL;
        snprintf(ex.reason, sizeof(ex.reason), "lost track of the job's process");
    }
    finish(&j, &ex);
out:
    s->hub.lease[0] = 0;
    json_decref(j.pending);
    td_remove_tree(j.dir);
}

/* ------------------------------------------------------------------------------------ */
/* Slots                                                                                */
/* ------------------------------------------------------------------------------------ */

static void *slot_main(void *arg)
{
    slot *s = arg;
    worker *w = s->w;
    double backoff = 1;
    while (!stopping(w)) {
        td_err err;
        json_t *body;
        pthread_mutex_lock(&w->mu);
        int more = !w->opt->max_jobs || w->jobs_started < w->opt->max_jobs;
        if (more)
            w->jobs_started++;
        pthread_mutex_unlock(&w->mu);
        if (!more)
            break;
        body = json_pack("{s:i}", "wait", (int)w->opt->wait_s);
        s->hub.timeout_s = w->opt->wait_s + 30;
        int rc = td_hubc_json(&s->hub, "POST", "/api/v1/worker/claim", body, &err);
        json_decref(body);
        s->hub.timeout_s = 120;
        if (rc || s->hub.status != 200) {
            pthread_mutex_lock(&w->mu);
            w->jobs_started--;
            pthread_mutex_unlock(&w->mu);
        }
        if (rc) {
            wlog(w, "slot %d: %s; retrying in %.0f s", s->index, err.msg, backoff);
            for (double t = 0; t < backoff && !stopping(w); t += 0.2)
                usleep(200000);
            backoff = backoff < 30 ? backoff * 2 : 30;
            continue;
        }
        backoff = 1;
        if (s->hub.status == 204)
            continue;
        if (s->hub.status == 401 || s->hub.status == 403) {
            pthread_mutex_lock(&w->mu);
            if (!w->fatal)
                td_err_set(&w->fatal_err, TD_EPERM, "the hub refuses this worker's token: %s",
                           td_hubc_error(&s->hub));
            w->fatal = 1;
            pthread_mutex_unlock(&w->mu);
            break;
        }
        if (s->hub.status != 200) {
            wlog(w, "slot %d: claim refused: %s", s->index, td_hubc_error(&s->hub));
            sleep(1);
            continue;
        }
        json_t *claim = json_incref(s->hub.json);
        run_job(s, claim);
        json_decref(claim);
    }
    return NULL;
}

int td_worker_run(const td_worker_options *o, td_err *err)
{
    worker w;
    slot *slots;
    pthread_t *threads;
    int n = o->slots > 0 ? o->slots : 1, rc = 0;
    memset(&w, 0, sizeof(w));
    w.opt = o;
    pthread_mutex_init(&w.mu, NULL);
    if (o->program) {
        snprintf(w.program, sizeof(w.program), "%s", o->program);
    } else {
        ssize_t k = readlink("/proc/self/exe", w.program, sizeof(w.program) - 1);
        if (k <= 0)
            return td_err_set(err, TD_EIO, "cannot find this program (/proc/self/exe)");
        w.program[k] = 0;
    }
    w.mode = TD_SANDBOX_NONE;
    if (!o->no_sandbox) {
        rc = td_sandbox_mode_from_env(&w.mode, err);
        if (rc)
            return rc;
    }
    rc = td_mkdir_p(o->work_dir, err);
    if (rc)
        return rc;
    slots = td_calloc((size_t)n, sizeof(*slots));
    threads = td_calloc((size_t)n, sizeof(*threads));
    if (!slots || !threads) {
        td_free(slots);
        td_free(threads);
        return td_err_set(err, TD_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n && !rc; i++) {
        slots[i].w = &w;
        slots[i].index = i;
        rc = td_hubc_init(&slots[i].hub, o->hub_url, o->token, err);
    }
    for (int i = 0; i < n && !rc; i++)
        pthread_create(&threads[i], NULL, slot_main, &slots[i]);
    if (!rc)
        for (int i = 0; i < n; i++)
            pthread_join(threads[i], NULL);
    for (int i = 0; i < n; i++)
        td_hubc_free(&slots[i].hub);
    td_free(slots);
    td_free(threads);
    pthread_mutex_destroy(&w.mu);
    if (!rc && w.fatal) {
        if (err)
            *err = w.fatal_err;
        rc = w.fatal_err.code;
    }
    return rc;
}
