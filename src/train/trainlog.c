/*
 * trainlog.c - the training simtrace in DeepRacer's per-iteration layout, for every car:
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
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/train_internal.h"
#include "trackday/simtrace.h"

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
static void episode_done(td__trainlog *L, int i)
{
    carlog *c = &L->cars[i];
    long g = L->next_episode++, file = g / L->per_file;
    if (file != L->chunk_index) {
        chunk_write(L);
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

int td__simtrace_open(td__train *tr, const char *dir, int resume, td_err *err)
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
    tr->simtrace = L;
    return 0;
}

void td__simtrace_step(td__train *tr, const int *action_index)
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
            episode_done(L, i);
    }
}

void td__simtrace_close(td__train *tr)
{
    td__trainlog *L = tr->simtrace;
    if (!L)
        return;
    /* Episodes still running are left out: DeepRacer's files hold whole episodes. */
    chunk_write(L);
    for (int i = 0; i < L->n_cars; i++)
        td_free(L->cars[i].buf);
    td_free(L->cars);
    td_free(L->chunk);
    td_free(L);
    tr->simtrace = NULL;
}
