/*
 * trainlog.c - what training writes besides checkpoints. metrics/training.jsonl: one JSON
 * line per iteration (td_train_progress_to_json, the one writer of the file; eval/ reads it);
 * on --resume, the line of model/last.state's iteration if a killed run did not write it.
 *
 * The training simtrace in DeepRacer's per-iteration layout, for every car:
 * DIR/training-simtrace/N-iteration.csv, as deepracer-for-cloud writes it, so deepracer-utils
 * and the community log notebooks read a trackday model directory unchanged (docs/logs.md).
 *
 * DeepRacer's iteration N holds episodes N*E .. N*E+E-1 (E = num_episodes_between_training),
 * whole, numbered in order; deepracer-utils relies on that to number episodes across files.
 * trackday's cars end episodes at their own pace, so each car's rows are kept until its
 * episode ends; the episode then gets the next number and goes into file (number / E). A
 * trackday iteration collects at least E episodes (the cars that end on its last step come
 * too), so file N is DeepRacer's iteration N, E episodes, and runs ahead of trackday's
 * iteration count by those extra episodes. A file is written whole, atomically, when its E-th
 * episode ends (and, with what it has, when training stops): readers never see part of one.
 * Rows are the steps as DeepRacer logs them (td_simtrace_row_from_step: the params the reward
 * function saw, the prepare and pause rows).
 *
 * How many files: every iteration up to 100, then every 10th up to 1,000, then every 100th
 * ("auto"; a state-sensor run does hundreds of iterations a minute), or every Nth, or all.
 *
 * DIR/metrics/TrainingMetrics.json is DeepRacer's per-episode metrics file (deepracer-utils'
 * TrainingMetrics reads it): {"metrics": [one record per training episode], "version": 2.0,
 * "best_model_metric": "progress"}, each record as DeepRacer's TrainingMetrics writes it
 * (reward_score int(round()), times in simulated milliseconds, episode from 1, trial within
 * the iteration from 1, phase, completion_percentage int(), the status label). The greedy
 * evaluation after each iteration adds one "evaluation" record per episode, numbered as
 * DeepRacer numbers them (the episode and trial of the last whole iteration file's last
 * episode, so deepracer-utils files them under that iteration). It is rewritten
 * whole, atomically, when an iteration file is (at most every 10 s once it is large) and when
 * training stops.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/train_internal.h"
#include "trackday/json.h"
#include "trackday/simtrace.h"

/* ==================================================================================== */
/* Metrics                                                                              */
/* ==================================================================================== */

static void set_real(json_t *o, const char *key, double v)
{
    /* A value that is not finite (not measured) is an absent key: JSON has no NaN. */
    if (isfinite(v))
        json_object_set_new(o, key, json_real(v));
}

json_t *td_train_progress_to_json(const td_train_progress *p)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "iteration", json_integer(p->iteration));
    json_object_set_new(o, "episodes", json_integer((json_int_t)p->episodes));
    json_object_set_new(o, "steps", json_integer((json_int_t)p->steps));
    set_real(o, "mean_reward", p->mean_reward);
    set_real(o, "mean_progress", p->mean_progress);
    set_real(o, "completion_rate", p->completion_rate);
    set_real(o, "mean_steps", p->mean_steps);
    set_real(o, "entropy", p->entropy);
    set_real(o, "policy_loss", p->policy_loss);
    set_real(o, "value_loss", p->value_loss);
    set_real(o, "approx_kl", p->approx_kl);
    set_real(o, "clip_frac", p->clip_frac);
    /* --teacher only (NaN otherwise). */
    set_real(o, "imitation_loss", p->imitation_loss);
    set_real(o, "teacher_agreement", p->teacher_agreement);
    set_real(o, "teacher_beta", p->teacher_beta);
    set_real(o, "teacher_replay", p->teacher_replay);
    set_real(o, "laps_drive_progress", p->laps_drive_progress);
    set_real(o, "laps_drive_lap_s", p->laps_drive_lap_s);
    set_real(o, "eval_progress", p->eval_progress);
    set_real(o, "eval_completion", p->eval_completion);
    json_object_set_new(o, "best", json_boolean(p->best));
    json_object_set_new(o, "laps_ok", json_boolean(p->laps_ok));
    set_real(o, "steps_per_s", p->steps_per_s);
    /* Where the iteration's wall time went (rank 0's, with several processes). */
    set_real(o, "collect_s", p->collect_s);
    set_real(o, "update_s", p->update_s);
    set_real(o, "comm_s", p->comm_s);
    set_real(o, "eval_s", p->eval_s);
    set_real(o, "checkpoint_s", p->checkpoint_s);
    set_real(o, "elapsed_s", p->elapsed_s);
    if (p->lap_time_s > 0)
        json_object_set_new(o, "best_lap_time_s", json_real(p->lap_time_s));
    if (p->eval_lap_s > 0)
        json_object_set_new(o, "eval_lap_s", json_real(p->eval_lap_s));
    return o;
}

char *td__metrics_line(const td_train_progress *p)
{
    json_t *o = td_train_progress_to_json(p);
    if (!o)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    json_decref(o);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *line = td_malloc(n + 2);
    if (line) {
        memcpy(line, text, n);
        line[n] = '\n';
        line[n + 1] = '\0';
    }
    free(text); /* jansson allocates with malloc */
    return line;
}

/* One write() of the whole text with O_APPEND: a crash leaves at most a cut last line (the
 * reader skips it) and concurrent writers never mix lines. */
static int append_text(const char *path, const char *text, td_err *err)
{
    size_t n = strlen(text);
    int rc = 0, fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return td_err_set(err, errno == ENOENT ? TD_ENOENT : TD_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    ssize_t w = write(fd, text, n);
    if (w != (ssize_t)n)
        rc = td_err_set(err, TD_EIO, "%s: write failed: %s", path,
                        w < 0 ? strerror(errno) : "short write");
    if (close(fd) != 0 && !rc)
        rc = td_err_set(err, TD_EIO, "%s: close failed: %s", path, strerror(errno));
    return rc;
}

int td_train_metrics_append(const char *path, const td_train_progress *p, td_err *err)
{
    char *line = td__metrics_line(p);
    if (!line)
        return td_err_set(err, TD_ENOMEM, "%s: cannot build a metrics line", path);
    int rc = append_text(path, line, err);
    td_free(line);
    return rc;
}

/* The "iteration" of the JSON line at s (n bytes), or -1 if it is not one. */
static long line_iteration(const char *s, size_t n)
{
    json_t *o = json_loadb(s, n, 0, NULL);
    json_t *it = json_object_get(o, "iteration");
    long v = json_is_integer(it) ? (long)json_integer_value(it) : -1;
    json_decref(o);
    return v;
}

int td__metrics_resume(const char *path, const char *line, td_err *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = 0;
    if (td_path_exists(path) && (rc = td_file_read(path, &data, &len, err)) != 0)
        return rc;
    /* A cut last line (a short write) goes: the reader skips it only while it is last, and
     * the next line appended would join it. */
    size_t end = len;
    while (end > 0 && data[end - 1] != '\n')
        end--;
    if (end < len && truncate(path, (off_t)end) != 0)
        rc = td_err_set(err, TD_EIO, "%s: cannot cut its last line short: %s", path,
                        strerror(errno));
    /* The iteration of the last line that parses. */
    long have = -1, want = line ? line_iteration(line, strlen(line)) : -1;
    while (!rc && want >= 0 && have < 0 && end > 0) {
        size_t start = end - 1; /* data[end - 1] is the line's newline */
        while (start > 0 && data[start - 1] != '\n')
            start--;
        have = line_iteration(data + start, end - 1 - start);
        end = start;
    }
    if (!rc && want >= 0 && have < want)
        rc = append_text(path, line, err);
    td_free(data);
    return rc;
}

/* ==================================================================================== */
/* Training simtrace                                                                    */
/* ==================================================================================== */

typedef struct carlog {
    char *buf; /* the rows of the car's episode so far, each without its episode field */
    size_t len, cap;
} carlog;

typedef struct td__trainlog {
    char dir[1200]; /* DIR/training-simtrace */
    int n_cars;
    carlog *cars;
    char *chunk; /* the file being filled: header, then whole episodes */
    size_t chunk_len, chunk_cap;
    long chunk_index;  /* its iteration number */
    long next_episode; /* the number the next episode to end gets */
    int per_file;      /* E */
    int every;         /* 0: auto; N: every Nth file */
    int failed;
    char metrics_path[1300]; /* DIR/metrics/TrainingMetrics.json */
    char *metrics;           /* its records, comma-separated */
    size_t metrics_len, metrics_cap;
    long metrics_n;         /* records */
    double metrics_written; /* wall time of the last write */
    int metrics_failed;
    long metrics_end_ms; /* the latest record's metric_time */
} td__trainlog;

/* Whether iteration file c is written. */
static int logged(const td__trainlog *L, long c)
{
    if (L->every > 0)
        return c % L->every == 0;
    if (c < 100)
        return 1;
    if (c < 1000)
        return c % 10 == 0;
    return c % 100 == 0;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 1 << 14;
        while (nc < *len + n + 1)
            nc *= 2;
        char *nb = td_realloc(*buf, nc);
        if (!nb)
            return TD_ENOMEM;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static void fail(td__trainlog *L, const char *msg)
{
    /* A full disk must not stop training: say it once and stop logging. */
    if (!L->failed)
        TD_WARN("training simtrace: %s (no more simtrace files this run)", msg);
    L->failed = 1;
}

static void chunk_start(td__trainlog *L, long c)
{
    L->chunk_index = c;
    L->chunk_len = 0;
    const char *h = td_simtrace_header();
    if (append(&L->chunk, &L->chunk_len, &L->chunk_cap, h, strlen(h)))
        fail(L, "out of memory");
}

/* Writes DIR/metrics/TrainingMetrics.json (force: whatever its size). */
static void metrics_write(td__trainlog *L, int force)
{
    if (L->metrics_failed || !L->metrics_path[0])
        return;
    double now = td_time_wall();
    if (!force && L->metrics_len > (1u << 20) && now - L->metrics_written < 10.0)
        return;
    static const char head[] = "{\"metrics\": [";
    static const char tail[] = "], \"version\": 2.0, \"best_model_metric\": \"progress\"}\n";
    size_t n = sizeof(head) - 1 + L->metrics_len + sizeof(tail) - 1;
    char *text = td_malloc(n + 1);
    td_err err;
    if (!text) {
        L->metrics_failed = 1;
        TD_WARN("%s: out of memory (no more training metrics this run)", L->metrics_path);
        return;
    }
    memcpy(text, head, sizeof(head) - 1);
    if (L->metrics_len)
        memcpy(text + sizeof(head) - 1, L->metrics, L->metrics_len);
    memcpy(text + sizeof(head) - 1 + L->metrics_len, tail, sizeof(tail) - 1);
    text[n] = '\0';
    if (td_file_write_atomic(L->metrics_path, text, n, &err)) {
        L->metrics_failed = 1;
        TD_WARN("%s (no more training metrics this run)", err.msg);
    }
    td_free(text);
    L->metrics_written = now;
}

/* Adds DeepRacer's record of an episode that ended at simulated time end_ms: training
 * episode g (0-based), or (evaluation) a greedy episode after training episode g. */
static void metrics_add(td__trainlog *L, long g, int evaluation, const td_episode_info *info,
                        long end_ms)
{
    if (L->metrics_failed)
        return;
    char rec[512];
    long elapsed = lround(info->sim_time_s * 1000.0);
    /* DeepRacer's trial counts the iteration's training episodes (an evaluation record
     * repeats the last one's). */
    long trial = g < 0 ? 0 : g % L->per_file + 1;
    int n = snprintf(rec, sizeof(rec),
                     "%s{\"reward_score\": %ld, \"metric_time\": %ld, \"start_time\": %ld, "
                     "\"elapsed_time_in_milliseconds\": %ld, \"episode\": %ld, \"trial\": %ld, "
                     "\"phase\": \"%s\", \"completion_percentage\": %d, "
                     "\"episode_status\": \"%s\"}",
                     L->metrics_n ? ", " : "", lround(info->total_reward), end_ms, end_ms - elapsed,
                     elapsed, g + 1, trial, evaluation ? "evaluation" : "training",
                     (int)info->progress, td_episode_status_label(info->status));
    if (end_ms > L->metrics_end_ms)
        L->metrics_end_ms = end_ms;
    if (n < 0 || (size_t)n >= sizeof(rec) ||
        append(&L->metrics, &L->metrics_len, &L->metrics_cap, rec, (size_t)n)) {
        L->metrics_failed = 1;
        TD_WARN("%s: out of memory (no more training metrics this run)", L->metrics_path);
        return;
    }
    L->metrics_n++;
}

/* A resumed run keeps the records of the episodes before its checkpoint. */
static void metrics_resume(td__trainlog *L, int resume)
{
    json_t *root = NULL;
    if (!resume || td_json_load_file(L->metrics_path, &root, NULL) != 0)
        return;
    json_t *arr = json_object_get(root, "metrics"), *rec;
    size_t k;
    json_array_foreach(arr, k, rec)
    {
        json_t *ep = json_object_get(rec, "episode");
        if (!json_is_integer(ep) || json_integer_value(ep) > L->next_episode)
            continue;
        json_t *mt = json_object_get(rec, "metric_time");
        if (json_is_integer(mt) && json_integer_value(mt) > L->metrics_end_ms)
            L->metrics_end_ms = (long)json_integer_value(mt);
        char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text)
            continue;
        if ((L->metrics_n && append(&L->metrics, &L->metrics_len, &L->metrics_cap, ", ", 2)) ||
            append(&L->metrics, &L->metrics_len, &L->metrics_cap, text, strlen(text)))
            L->metrics_failed = 1;
        else
            L->metrics_n++;
        free(text);
    }
    json_decref(root);
}

/* Writes the file being filled (header only: nothing to write). */
static void chunk_write(td__trainlog *L)
{
    if (L->failed || L->chunk_len <= strlen(td_simtrace_header()) || !logged(L, L->chunk_index))
        return;
    char path[1300];
    td_err err;
    snprintf(path, sizeof(path), "%s/%ld-iteration.csv", L->dir, L->chunk_index);
    if (td_file_write_atomic(path, L->chunk, L->chunk_len, &err))
        fail(L, err.msg);
}

/* An episode of car i ended: give it its number and move its rows into its file. */
static void episode_done(td__trainlog *L, const td_vecenv *env, int i, double end_s)
{
    carlog *c = &L->cars[i];
    long g = L->next_episode++, file = g / L->per_file;
    metrics_add(L, g, 0, td_vecenv_last_episode(env, i), lround(end_s * 1000.0));
    if (file != L->chunk_index) {
        chunk_write(L);
        metrics_write(L, 0);
        chunk_start(L, file);
    }
    if (logged(L, file) && !L->failed) {
        char num[32];
        int nn = snprintf(num, sizeof(num), "%ld,", g);
        for (size_t k = 0; k < c->len;) {
            const char *nl = memchr(c->buf + k, '\n', c->len - k);
            size_t n = nl ? (size_t)(nl - (c->buf + k)) + 1 : c->len - k;
            if (append(&L->chunk, &L->chunk_len, &L->chunk_cap, num, (size_t)nn) ||
                append(&L->chunk, &L->chunk_len, &L->chunk_cap, c->buf + k, n)) {
                fail(L, "out of memory");
                break;
            }
            k += n;
        }
    }
    c->len = 0;
    if ((g + 1) % L->per_file == 0) {
        chunk_write(L);
        metrics_write(L, 0);
        chunk_start(L, file + 1);
    }
}

/*
 * A resumed run continues the logs of its checkpoint: files after it (of a run killed after
 * its last checkpoint) are removed, and the rows of the file the checkpoint stopped in, for
 * the episodes before it, are kept. A new run starts with no iteration files.
 */
static void resume_logs(td__trainlog *L, int resume)
{
    DIR *d = opendir(L->dir);
    struct dirent *e;
    char path[1600];
    while (d && (e = readdir(d)) != NULL) {
        char *end;
        long n = strtol(e->d_name, &end, 10);
        if (end != e->d_name && !strcmp(end, "-iteration.csv") && (!resume || n > L->chunk_index)) {
            snprintf(path, sizeof(path), "%s/%s", L->dir, e->d_name);
            unlink(path);
        }
    }
    if (d)
        closedir(d);
    if (!resume || L->next_episode % L->per_file == 0)
        return;
    char *text;
    size_t len;
    snprintf(path, sizeof(path), "%s/%ld-iteration.csv", L->dir, L->chunk_index);
    if (td_file_read(path, &text, &len, NULL) != 0)
        return;
    const char *p = memchr(text, '\n', len); /* after the header */
    p = p ? p + 1 : text + len;
    while (p < text + len) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        if (!nl)
            break; /* a cut row */
        char *after;
        long ep = strtol(p, &after, 10);
        if (after != p && ep < L->next_episode &&
            append(&L->chunk, &L->chunk_len, &L->chunk_cap, p, (size_t)(nl + 1 - p)))
            fail(L, "out of memory");
        p = nl + 1;
    }
    td_free(text);
}

int td__trainlog_open(td__train *tr, const char *dir, int resume, td_err *err)
{
    td__trainlog *L = td_calloc(1, sizeof(*L));
    if (!L)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    snprintf(L->dir, sizeof(L->dir), "%s", dir);
    L->n_cars = tr->env.n;
    L->per_file = tr->md.hyper.num_episodes_between_training;
    L->every = tr->opt.simtrace_every;
    L->cars = td_calloc((size_t)L->n_cars, sizeof(carlog));
    int rc = L->cars ? td_mkdir_p(dir, err) : td_err_set(err, TD_ENOMEM, "out of memory");
    if (rc) {
        td_free(L->cars);
        td_free(L);
        return rc;
    }
    L->next_episode = resume ? tr->episodes : 0;
    chunk_start(L, L->next_episode / L->per_file);
    resume_logs(L, resume);
    /* DIR/metrics/TrainingMetrics.json, beside DIR/training-simtrace. */
    char top[1200];
    snprintf(top, sizeof(top), "%s", dir);
    char *slash = strrchr(top, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(top, sizeof(top), ".");
    int n = snprintf(L->metrics_path, sizeof(L->metrics_path), "%s/metrics", top);
    if (n < 0 || (size_t)n >= sizeof(L->metrics_path) || td_mkdir_p(L->metrics_path, NULL) != 0) {
        L->metrics_path[0] = '\0';
    } else {
        snprintf(L->metrics_path + n, sizeof(L->metrics_path) - (size_t)n, "/TrainingMetrics.json");
        metrics_resume(L, resume);
    }
    tr->simtrace = L;
    return 0;
}

void td__trainlog_step(td__train *tr, const int *action_index)
{
    td__trainlog *L = tr->simtrace;
    const td_vecenv *env = &tr->env;
    if (!L || L->failed)
        return;
    double wall = td_time_wall();
    for (int i = 0; i < L->n_cars; i++) {
        td_simtrace_row row;
        char line[TD_SIMTRACE_LINE_MAX];
        /* The step as DeepRacer logs it: a "prepare" row starts every episode, held steps are
         * "pause" rows (td_simtrace_row_from_step). */
        td_simtrace_row_from_step(&row, env, i);
        row.action = action_index ? action_index[i] : -1;
        row.wall_clock = wall;
        size_t n = td_simtrace_format_row(line, &row);
        /* The episode field (first) is written when the episode's number is known. */
        const char *comma = memchr(line, ',', n);
        size_t skip = comma ? (size_t)(comma + 1 - line) : 0;
        carlog *c = &L->cars[i];
        if (append(&c->buf, &c->len, &c->cap, line + skip, n - skip)) {
            fail(L, "out of memory");
            return;
        }
        if (env->dones[i])
            episode_done(L, env, i, row.tstamp);
    }
}

void td__trainlog_eval_episode(td__train *tr, const td_episode_info *info)
{
    td__trainlog *L = tr->simtrace;
    if (!L)
        return;
    /* DeepRacer evaluates after an iteration's E episodes and numbers the records with its
     * last episode (trial E); trackday's files run ahead of its iterations (see above), so
     * the records go with the last whole file. The evaluation's own clock starts at 0: its
     * episodes follow the latest record. */
    long last = L->next_episode / L->per_file * L->per_file - 1;
    metrics_add(L, last, 1, info, L->metrics_end_ms + lround(info->sim_time_s * 1000.0));
}

void td__trainlog_close(td__train *tr)
{
    td__trainlog *L = tr->simtrace;
    if (!L)
        return;
    /* Episodes still running are left out: DeepRacer's files hold whole episodes. */
    chunk_write(L);
    metrics_write(L, 1);
    td_free(L->metrics);
    for (int i = 0; i < L->n_cars; i++)
        td_free(L->cars[i].buf);
    td_free(L->cars);
    td_free(L->chunk);
    td_free(L);
    tr->simtrace = NULL;
}
