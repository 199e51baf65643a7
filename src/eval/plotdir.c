/*
 * plotdir.c - the pictures of a run and of a model directory (eval.h): what `trackday plot`
 * writes, as library calls the trainer and the evaluator can make themselves (the
 * evaluator after writing its simtrace, the trainer at the end of training). Skipped
 * pictures are reported as notes for the caller to show; nothing is printed here.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "trackday/logs.h"
#include "trackday/modeldir.h"
#include "trackday/plot.h"

/* Lists a written file; a path too long for the list is listed cut (it was written whole). */
static void add_path(td_plot_output *o, const char *path)
{
    if (o && o->n_paths < TD_PLOT_MAX_OUTPUTS) {
        char *dst = o->paths[o->n_paths++];
        size_t cap = sizeof(o->paths[0]), n = strlen(path);
        memcpy(dst, path, n < cap ? n + 1 : cap);
        dst[cap - 1] = '\0';
    }
}

/* Adds a note for the user; a note longer than the slot is cut with "...". */
static void add_note(td_plot_output *o, const char *fmt, const char *a, const char *b)
{
    if (o && o->n_notes < TD_PLOT_MAX_OUTPUTS) {
        char *dst = o->notes[o->n_notes++];
        size_t cap = sizeof(o->notes[0]);
        int n = snprintf(dst, cap, fmt, a, b ? b : "");
        if (n >= 0 && (size_t)n >= cap)
            memcpy(dst + cap - 4, "...", 4);
    }
}

/* Every picture is OUT_DIR/ and a name of at most 16 bytes, every input DIR/ and one of at
 * most 24, in buffers of PATH_CAP bytes: directories too long for that are refused up front,
 * so no path below is cut short. */
#define PATH_CAP 4096
static int check_dirs(const char *dir, const char *out_dir, td_err *err)
{
    if (dir && strlen(dir) + 24 >= PATH_CAP)
        return td_err_set(err, TD_ERANGE, "%.60s...: path too long (at most %d bytes)", dir,
                          PATH_CAP - 25);
    if (out_dir && strlen(out_dir) + 16 >= PATH_CAP)
        return td_err_set(err, TD_ERANGE, "%.60s...: path too long (at most %d bytes)", out_dir,
                          PATH_CAP - 17);
    return 0;
}

static const char *base_name(const char *p)
{
    const char *b = strrchr(p, '/');
    return b && b[1] ? b + 1 : p;
}

/* ------------------------------------------------------------------------------------ */
/* One run                                                                              */
/* ------------------------------------------------------------------------------------ */

/* A model's discrete action space for the heat map's rows (NULL: the rows' actions only). */
typedef struct actions {
    int n;
    double steer_deg[TD_SUMMARY_MAX_ACTIONS], speed[TD_SUMMARY_MAX_ACTIONS];
} actions;

static int simtrace_pictures(const td_simtrace *t, int file, int max_episodes,
                             const td_track *track, int sections, const char *out_dir,
                             const char *label, const actions *act, td_plot_output *out,
                             td_err *err);

int td_plot_simtrace_pictures(const td_simtrace *t, int file, int max_episodes,
                              const td_track *track, int sections, const char *out_dir,
                              const char *label, td_plot_output *out, td_err *err)
{
    return simtrace_pictures(t, file, max_episodes, track, sections, out_dir, label, NULL, out,
                             err);
}

static int simtrace_pictures(const td_simtrace *t, int file, int max_episodes,
                             const td_track *track, int sections, const char *out_dir,
                             const char *label, const actions *act, td_plot_output *out,
                             td_err *err)
{
    if (file >= t->n_files)
        return td_err_set(err, TD_EINVAL, "simtrace pictures: file %d of %d", file, t->n_files);
    td_logs_report r;
    int rc = check_dirs(NULL, out_dir, err);
    if (!rc)
        rc = td_logs_analyze(&r, t, 20, err);
    if (rc)
        return rc;
    int *sel = td_calloc((size_t)(r.n_episodes ? r.n_episodes : 1), sizeof(int));
    if (!sel) {
        td_logs_report_free(&r);
        return td_err_set(err, TD_ENOMEM, "simtrace pictures: out of memory");
    }
    /* The file's episodes (their rows are contiguous); the last max_episodes of them. */
    int nsel = 0, first_row = -1, nrows = 0;
    for (int j = 0; j < r.n_episodes; j++)
        if (file < 0 || r.episodes[j].file == file) {
            sel[nsel++] = j;
            if (first_row < 0)
                first_row = r.episodes[j].first_row;
            nrows += r.episodes[j].n_rows;
        }
    const char *what = file >= 0 ? t->files[file] : "the simtrace";
    if (nsel == 0) {
        add_note(out, "%s has no rows: no track pictures%s", what, NULL);
        goto done;
    }
    if (max_episodes > 0 && nsel > max_episodes) {
        memmove(sel, sel + nsel - max_episodes, sizeof(int) * (size_t)max_episodes);
        nsel = max_episodes;
    }
    char title[512], path[PATH_CAP];
    const char *tname = track ? track->name : "laps";
    const char *src = file >= 0 ? base_name(t->files[file]) : "simtrace";

    snprintf(title, sizeof(title), "%s: %s%s (%d episode%s)", tname, label ? label : "", src, nsel,
             nsel == 1 ? "" : "s");
    snprintf(path, sizeof(path), "%s/laps.svg", out_dir);
    rc = td_plot_episodes_write(path, t, &r, sel, nsel, track, title, err);
    if (rc)
        goto done;
    add_path(out, path);

    td_waypoint_summary ws;
    rc = td_waypoint_summary_compute(&ws, t, first_row, nrows, track, sections, err);
    if (rc)
        goto done;
    if (act &&
        (rc = td_waypoint_summary_set_actions(&ws, act->n, act->steer_deg, act->speed, err)) != 0) {
        td_waypoint_summary_free(&ws);
        goto done;
    }
    snprintf(title, sizeof(title), "What the policy does where: %s (%s)",
             track ? track->name : "track", src);
    snprintf(path, sizeof(path), "%s/waypoints.svg", out_dir);
    rc = td_plot_waypoints_write(path, &ws, track, title, err);
    td_waypoint_summary_free(&ws);
    if (rc)
        goto done;
    add_path(out, path);

    /* The reward along the fastest lap among the chosen episodes, else the longest one. */
    int pick = -1;
    for (int q = 0; q < r.n_fastest && pick < 0; q++)
        for (int k = 0; k < nsel; k++)
            if (sel[k] == r.fastest[q])
                pick = sel[k];
    if (pick < 0) {
        pick = sel[0];
        for (int k = 1; k < nsel; k++)
            if (r.episodes[sel[k]].n_rows > r.episodes[pick].n_rows)
                pick = sel[k];
    }
    const td_logs_episode *e = &r.episodes[pick];
    double *xs = td_malloc(sizeof(double) * (size_t)e->n_rows * 2);
    if (!xs) {
        rc = td_err_set(err, TD_ENOMEM, "simtrace pictures: out of memory");
        goto done;
    }
    double *ys = xs + e->n_rows;
    for (int k = 0; k < e->n_rows; k++) {
        xs[k] = t->rows[e->first_row + k].progress;
        ys[k] = t->rows[e->first_row + k].reward;
    }
    if (e->complete)
        snprintf(title, sizeof(title), "Reward along the fastest lap (episode %ld, %.2f s)",
                 e->episode, e->lap_time_s);
    else
        snprintf(title, sizeof(title), "Reward along episode %ld (%.0f%% of a lap, %s)", e->episode,
                 e->progress, e->status);
    snprintf(path, sizeof(path), "%s/reward-lap.svg", out_dir);
    rc = td_plot_reward_lap_write(path, title, xs, ys, e->n_rows, 1, NULL, 0, err);
    td_free(xs);
    if (!rc)
        add_path(out, path);
done:
    td_free(sel);
    td_logs_report_free(&r);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* A model directory                                                                    */
/* ------------------------------------------------------------------------------------ */

/* The newest of a list of files by modification time (ties: the later in the list). */
static int newest_file(char **paths, int n)
{
    int pick = n - 1;
    double newest = -1;
    for (int i = 0; i < n; i++) {
        struct stat st;
        double m = stat(paths[i], &st) == 0
                       ? (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec
                       : 0;
        if (m >= newest) {
            newest = m;
            pick = i;
        }
    }
    return pick;
}

/* Training curves from the training logs (DeepRacer's model directories have no metrics
 * file). */
static int curves_from_report(const char *dir, const td_logs_report *r, const char *out_dir,
                              td_plot_output *out, td_err *err)
{
    char path[PATH_CAP], title[512];
    td_metrics m;
    int rc = td_metrics_from_report(&m, r, err);
    if (rc)
        return rc;
    snprintf(title, sizeof(title), "Training curves from the simtrace logs: %s (%d iteration%s)",
             base_name(dir), m.n, m.n == 1 ? "" : "s");
    snprintf(path, sizeof(path), "%s/training.svg", out_dir);
    rc = td_plot_training_write(path, &m, title, err);
    td_metrics_free(&m);
    if (!rc) {
        add_path(out, path);
        add_note(out, "no metrics file: training curves computed from the simtrace logs%s%s", "",
                 NULL);
    }
    return rc;
}

int td_plot_model_dir(const char *dir, const td_track *track, const char *out_dir, int sections,
                      td_plot_output *out, td_err *err)
{
    char path[PATH_CAP], title[512];
    memset(out, 0, sizeof(*out));
    int rc = check_dirs(dir, out_dir, err);
    if (!rc)
        rc = td_mkdir_p(out_dir, err);
    if (rc)
        return rc;

    /* The training logs, in any of DeepRacer's layouts (td_simtrace_find), if any. */
    td_simtrace train;
    td_simtrace_init(&train);
    td_logs_report r;
    memset(&r, 0, sizeof(r));
    td_err lerr;
    td_err_clear(&lerr);
    int have_train = 0;
    td_simtrace_files tf;
    rc = td_simtrace_find(dir, TD_SIMTRACE_TRAINING, &tf, &lerr);
    if (rc == 0) {
        rc = td_simtrace_read_files(&train, &tf, err);
        td_simtrace_files_free(&tf);
        if (rc)
            goto done;
        rc = td_logs_analyze(&r, &train, 20, err);
        if (rc)
            goto done;
        have_train = r.n_episodes > 0;
    } else if (rc != TD_ENOENT) {
        td_err_set(err, rc, "%s", lerr.msg);
        goto done;
    }
    rc = 0;

    snprintf(path, sizeof(path), "%s/metrics/training.jsonl", dir);
    if (td_path_exists(path)) {
        td_metrics m;
        rc = td_metrics_load(&m, path, err);
        if (rc)
            goto done;
        snprintf(title, sizeof(title), "Training curves: %s (%d iteration%s)", base_name(dir), m.n,
                 m.n == 1 ? "" : "s");
        snprintf(path, sizeof(path), "%s/training.svg", out_dir);
        rc = td_plot_training_write(path, &m, title, err);
        td_metrics_free(&m);
        if (rc)
            goto done;
        add_path(out, path);
    } else if (have_train) {
        rc = curves_from_report(dir, &r, out_dir, out, err);
        if (rc)
            goto done;
    } else {
        add_note(out, "no metrics file (%s) and no training logs: no training curves%s", path,
                 NULL);
    }

    if (have_train) {
        snprintf(title, sizeof(title), "Where training episodes end (%s)", base_name(dir));
        snprintf(path, sizeof(path), "%s/ends.svg", out_dir);
        rc = td_plot_episode_ends_write(path, &r, track, title, err);
        if (rc)
            goto done;
        add_path(out, path);
    }

    /* The run drawn on the track: the newest evaluation log (only that file is read), else
     * the last 10 episodes of the last training file. */
    /* The model's discrete actions name every row of the action heat map. */
    actions act = {0};
    {
        td_model_metadata md;
        td_config_warnings quiet; /* training reports them; a picture need not */
        char meta[PATH_CAP];
        td_config_warnings_clear(&quiet);
        if (td_path_join(meta, sizeof(meta), dir, "model_metadata.json", NULL) == 0 &&
            td_path_exists(meta) && td_model_metadata_load(&md, meta, &quiet, NULL) == 0 &&
            md.action_space_type == TD_ACTIONS_DISCRETE) {
            act.n = md.n_actions < TD_SUMMARY_MAX_ACTIONS ? md.n_actions : TD_SUMMARY_MAX_ACTIONS;
            for (int a = 0; a < act.n; a++) {
                act.steer_deg[a] = md.actions[a].steering_deg;
                act.speed[a] = md.actions[a].speed_mps;
            }
        }
    }
    td_simtrace_files ef;
    rc = td_simtrace_find(dir, TD_SIMTRACE_EVALUATION, &ef, &lerr);
    if (rc == 0) {
        td_simtrace t;
        td_simtrace_init(&t);
        rc = td_simtrace_read(&t, ef.paths[newest_file(ef.paths, ef.n)], err);
        if (!rc)
            rc = simtrace_pictures(&t, 0, 0, track, sections, out_dir, "evaluation ",
                                   act.n ? &act : NULL, out, err);
        td_simtrace_free(&t);
    } else if (rc == TD_ENOENT && have_train) {
        rc = simtrace_pictures(&train, train.n_files - 1, 10, track, sections, out_dir,
                               "last training episodes, ", act.n ? &act : NULL, out, err);
    } else if (rc == TD_ENOENT) {
        add_note(out, "no simtrace logs (%s): no track pictures%s", lerr.msg, NULL);
        rc = 0;
    } else {
        td_err_set(err, rc, "%s", lerr.msg);
    }
    td_simtrace_files_free(&ef);
    if (!rc && out->n_paths == 0)
        rc = td_err_set(err, TD_ENOENT,
                        "nothing to plot in %s (no metrics/training.jsonl, no simtrace logs)", dir);
done:
    td_logs_report_free(&r);
    td_simtrace_free(&train);
    return rc;
}
