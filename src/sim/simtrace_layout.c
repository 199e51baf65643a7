/*
 * simtrace_layout.c - where simtrace logs live in a folder, in every layout DeepRacer's tools
 * write (simtrace.h, td_simtrace_find): deepracer-for-cloud's (one worker, and one folder per
 * worker), the DeepRacer console's and DeepRacer on AWS's log exports, robomaker and
 * simulation .log files holding SIM_TRACE_LOG lines, and trackday's own (its training logs
 * are deepracer-for-cloud's layout; older versions wrote CSV files in DIR/logs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "trackday/simtrace.h"

typedef struct pathlist {
    char **v;
    int n, cap;
    int oom;
} pathlist;

/* Appends p to l, which takes it (td_free'd when l cannot grow). */
static void take(pathlist *l, char *p)
{
    if (!p || l->oom) {
        l->oom = 1;
        td_free(p);
        return;
    }
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **nv = td_realloc(l->v, sizeof(char *) * (size_t)cap);
        if (!nv) {
            l->oom = 1;
            td_free(p);
            return;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = p;
}

static void push(pathlist *l, const char *path)
{
    take(l, td_strdup(path));
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

typedef int (*name_filter)(const char *name);

typedef struct filter_box {
    name_filter keep;
} filter_box;

static int keep_name(const char *name, void *user)
{
    return ((const filter_box *)user)->keep(name);
}

/* Adds the entries of dir accepted by keep (files when want_dirs is 0, else folders), as
 * paths. */
static void list(pathlist *l, const char *dir, name_filter keep, int want_dirs)
{
    filter_box box = {keep};
    char **v;
    int n;
    int rc = td_dir_list(dir, (want_dirs ? TD_DIR_DIRS : TD_DIR_FILES) | TD_DIR_PATHS, keep_name,
                         &box, &v, &n, NULL);
    if (rc == TD_ENOMEM)
        l->oom = 1;
    for (int i = 0; i < n; i++)
        take(l, v[i]);
    td_free(v);
}

static void free_list(pathlist *l)
{
    td_dir_list_free(l->v, l->n);
    memset(l, 0, sizeof(*l));
}

static int any(const char *name)
{
    (void)name;
    return 1;
}

static int csv_name(const char *name)
{
    return td_str_ends_with(name, ".csv");
}

static int digits_name(const char *name)
{
    for (const char *c = name; *c; c++)
        if (*c < '0' || *c > '9')
            return 0;
    return name[0] != '\0';
}

static int eval_run_name(const char *name)
{
    return starts_with(name, "evaluation-");
}

/* DeepRacer's logs that carry SIM_TRACE_LOG lines (not the trainer's sagemaker logs). */
static int sim_log_name(const char *name)
{
    return td_str_ends_with(name, "-robomaker.log") || td_str_ends_with(name, "-simulation.log");
}

static int trackday_eval_name(const char *name)
{
    return starts_with(name, "eval-") && td_str_ends_with(name, ".csv");
}

static int trackday_train_name(const char *name)
{
    return starts_with(name, "training-simtrace") && td_str_ends_with(name, ".csv");
}

/* Files matching `keep` in dir/<each sub accepted by sub_keep>/leaf. */
static void list_in_subdirs(pathlist *out, const char *dir, name_filter sub_keep, const char *leaf,
                            name_filter keep)
{
    pathlist subs = {0};
    char path[4096];
    list(&subs, dir, sub_keep, 1);
    for (int i = 0; i < subs.n; i++) {
        snprintf(path, sizeof(path), "%s%s%s", subs.v[i], leaf[0] ? "/" : "", leaf);
        list(out, path, keep, 0);
    }
    if (subs.oom)
        out->oom = 1;
    free_list(&subs);
}

void td_simtrace_files_free(td_simtrace_files *f)
{
    td_dir_list_free(f->paths, f->n);
    memset(f, 0, sizeof(*f));
}

/* Takes l's files (sorted) into f with the layout's name. */
static int found(td_simtrace_files *f, pathlist *l, const char *layout, int workers)
{
    td_str_sort_natural(l->v, l->n);
    f->paths = l->v;
    f->n = l->n;
    f->workers = workers;
    snprintf(f->layout, sizeof(f->layout), "%s", layout);
    memset(l, 0, sizeof(*l));
    return 0;
}

/*
 * One place a layout keeps its simtraces: the files accepted by `files` in DIR/sub, or, when
 * `runs` is set, in DIR/sub/<each folder accepted by runs>/leaf. A row with no `layout` adds
 * its files to the next row's (one layout spread over two places).
 */
typedef struct place {
    const char *sub;
    name_filter runs;
    const char *leaf;
    name_filter files;
    const char *layout; /* the layout's name when files were found, or NULL */
} place;

static const place training_places[] = {
    {"sim-trace/training/training-simtrace", NULL, NULL, csv_name,
     "DeepRacer console export (sim-trace/training/)"},
    {"sim-trace/training", any, "training-simtrace", csv_name,
     "DeepRacer on AWS export (sim-trace/training/<job>/)"},
    {"logs/training", NULL, NULL, sim_log_name, "DeepRacer simulation log (logs/training/*.log)"},
    /* trackday before the DeepRacer layout: DIR/logs/training-simtrace*.csv. */
    {"logs", NULL, NULL, trackday_train_name, NULL},
    {"logs/training-simtrace", NULL, NULL, csv_name, "trackday logs/"},
    {NULL, NULL, NULL, NULL, NULL},
};

static const place evaluation_places[] = {
    {"", eval_run_name, "evaluation-simtrace", csv_name,
     "deepracer-for-cloud (evaluation-<time>/evaluation-simtrace/)"},
    {"sim-trace/evaluation", any, "evaluation-simtrace", csv_name,
     "DeepRacer export (sim-trace/evaluation/<run>/)"},
    {"logs/evaluation", NULL, NULL, sim_log_name,
     "DeepRacer simulation log (logs/evaluation/*.log)"},
    {"logs", NULL, NULL, trackday_eval_name, NULL},
    {"logs/evaluation-simtrace", NULL, NULL, csv_name,
     "trackday eval (logs/eval-<track>-simtrace.csv)"},
    {NULL, NULL, NULL, NULL, NULL},
};

static const place leaderboard_places[] = {
    {"logs/leaderboard", NULL, NULL, sim_log_name,
     "DeepRacer leaderboard submissions (logs/leaderboard/*.log)"},
    {NULL, NULL, NULL, NULL, NULL},
};

/* The first of places (ended by a row without sub) that holds files, into f. */
static int probe_all(const char *dir, const place *places, td_simtrace_files *f, pathlist *l)
{
    char p[4096];
    for (const place *w = places; w->sub; w++) {
        snprintf(p, sizeof(p), "%s%s%s", dir, w->sub[0] ? "/" : "", w->sub);
        if (w->runs)
            list_in_subdirs(l, p, w->runs, w->leaf, w->files);
        else
            list(l, p, w->files, 0);
        if (w->layout && l->n)
            return found(f, l, w->layout, 1);
    }
    return TD_ENOENT;
}

static int find_training(const char *dir, td_simtrace_files *f, pathlist *l)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/training-simtrace", dir);
    list(l, p, csv_name, 0);
    if (l->n)
        return found(f, l, "deepracer-for-cloud (training-simtrace/)", 1);
    /* One folder per worker: DIR/0/training-simtrace, DIR/1/training-simtrace, ... */
    pathlist workers = {0};
    list(&workers, dir, digits_name, 1);
    int nw = 0;
    for (int i = 0; i < workers.n; i++) {
        int before = l->n;
        snprintf(p, sizeof(p), "%s/training-simtrace", workers.v[i]);
        list(l, p, csv_name, 0);
        nw += l->n > before;
    }
    free_list(&workers);
    if (l->n)
        return found(f, l, "deepracer-for-cloud, one folder per worker", nw);
    return probe_all(dir, training_places, f, l);
}

static int find_evaluation(const char *dir, td_simtrace_files *f, pathlist *l)
{
    return probe_all(dir, evaluation_places, f, l);
}

static int find_leaderboard(const char *dir, td_simtrace_files *f, pathlist *l)
{
    return probe_all(dir, leaderboard_places, f, l);
}

/* Where each kind of run is looked for, for the message when there is none. */
#define WHERE_TRAINING                                                                             \
    "training-simtrace/*.csv, <worker>/training-simtrace/*.csv, "                                  \
    "sim-trace/training/[<job>/]training-simtrace/*.csv, logs/training/*-robomaker.log or "        \
    "*-simulation.log, logs/training-simtrace*.csv"
#define WHERE_EVALUATION                                                                           \
    "evaluation-*/evaluation-simtrace/*.csv, sim-trace/evaluation/*/evaluation-simtrace/*.csv, "   \
    "logs/evaluation/*-robomaker.log or *-simulation.log, logs/eval-*.csv"
#define WHERE_LEADERBOARD "logs/leaderboard/*-robomaker.log or *-simulation.log"
static const char *const WHERE[3] = {WHERE_TRAINING, WHERE_EVALUATION, WHERE_LEADERBOARD};

int td_simtrace_find(const char *dir, td_simtrace_kind kind, td_simtrace_files *f, td_err *err)
{
    static const char *const what[3] = {"training", "evaluation", "leaderboard"};
    pathlist l = {0};
    int rc;
    memset(f, 0, sizeof(*f));
    if (!is_dir(dir))
        return td_err_set(err, TD_ENOENT, "%s: no such directory", dir);
    if (kind == TD_SIMTRACE_TRAINING)
        rc = find_training(dir, f, &l);
    else if (kind == TD_SIMTRACE_EVALUATION)
        rc = find_evaluation(dir, f, &l);
    else
        rc = find_leaderboard(dir, f, &l);
    if (rc == TD_ENOENT && !l.oom) {
        /* A plain folder of CSV files (and of its subfolders): evaluation files have "eval"
         * in their path. */
        char **paths;
        int n;
        if (kind != TD_SIMTRACE_LEADERBOARD &&
            td_simtrace_list_dir(dir, "eval", kind == TD_SIMTRACE_TRAINING, &paths, &n, NULL) ==
                0) {
            for (int i = 0; i < n; i++)
                push(&l, paths[i]);
            td_dir_list_free(paths, n);
            if (l.n)
                rc = found(f, &l, "a folder of simtrace CSV files", 1);
        }
    }
    if (l.oom) {
        free_list(&l);
        td_simtrace_files_free(f);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory listing files", dir);
    }
    free_list(&l);
    if (rc == TD_ENOENT)
        return td_err_set(err, TD_ENOENT, "%s: no %s runs (looked for %s)", dir, what[kind],
                          WHERE[kind]);
    return rc;
}

int td_simtrace_read_files(td_simtrace *t, const td_simtrace_files *f, td_err *err)
{
    for (int i = 0; i < f->n; i++) {
        int rc = td_simtrace_read(t, f->paths[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

void td_simtrace_eval_stamp(const char *dir, char *out, size_t cap)
{
    time_t t = time(NULL);
    for (int tries = 0; tries < 1000; tries++, t++) {
        struct tm tm;
        char a[4200], b[4200];
        gmtime_r(&t, &tm);
        if (!cap || !strftime(out, cap, "%Y%m%d%H%M%S", &tm)) {
            if (cap)
                out[0] = '\0';
            return;
        }
        if (!dir)
            return;
        snprintf(a, sizeof(a), "%s/evaluation-%s", dir, out);
        snprintf(b, sizeof(b), "%s/metrics/EvaluationMetrics-%s.json", dir, out);
        if (!td_path_exists(a) && !td_path_exists(b))
            return;
    }
}

int td_simtrace_save_eval_run(const char *dir, const char *stamp_in, const char *simtrace_path,
                              char *out, size_t cap, td_err *err)
{
    char stamp[32], folder[4096], path[4200];
    if (stamp_in)
        snprintf(stamp, sizeof(stamp), "%s", stamp_in);
    else
        td_simtrace_eval_stamp(dir, stamp, sizeof(stamp));
    int n = snprintf(folder, sizeof(folder), "%s/evaluation-%s/evaluation-simtrace", dir, stamp);
    if (n < 0 || (size_t)n >= sizeof(folder))
        return td_err_set(err, TD_EINVAL, "%s: path too long", dir);
    snprintf(path, sizeof(path), "%s/0-iteration.csv", folder);
    char *data;
    size_t len;
    int rc = td_file_read(simtrace_path, &data, &len, err);
    if (rc)
        return rc;
    rc = td_mkdir_p(folder, err);
    if (!rc)
        rc = td_file_write_atomic(path, data, len, err);
    td_free(data);
    if (!rc && out)
        snprintf(out, cap, "%s", path);
    return rc;
}
