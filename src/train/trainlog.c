/*
 * trainlog.c - the training simtrace: car 0's steps in DeepRacer's CSV layout
 * (logs/training-simtrace.csv; a resumed run starts logs/training-simtrace-from-N.csv), enough
 * to analyse how episodes go (`trackday logs`) without writing every car's every step
 * (millions per minute). Rows are built from the params the reward function saw
 * (td_vecenv_step_params: before the reset of a step that ended an episode).
 */
#include <stdio.h>
#include <string.h>

#include "train/train_internal.h"
#include "trackday/simtrace.h"

int td__simtrace_open(td__train *tr, const char *path, int append, td_err *err)
{
    char alt[1300];
    td_simtrace_writer *w = NULL;
    int rc;
    if (append) {
        /* The writer starts files afresh; a resumed run gets its own file beside the first. */
        const char *dot = strrchr(path, '.');
        int stem = dot ? (int)(dot - path) : (int)strlen(path);
        snprintf(alt, sizeof(alt), "%.*s-from-%d.csv", stem, path, tr->iteration + 1);
        path = alt;
    }
    rc = td_simtrace_open(&w, path, err);
    if (rc)
        return rc;
    tr->simtrace = w;
    return 0;
}

void td__simtrace_step(td__train *tr, int action_index)
{
    td_simtrace_row row;
    td_err err;
    if (!tr->simtrace)
        return;
    /* The step as DeepRacer logs it: a "prepare" row starts every episode. */
    td_simtrace_row_from_step(&row, &tr->env, 0);
    row.action = action_index;
    row.iteration = tr->iteration + 1;
    row.wall_clock = td_time_wall();
    if (td_simtrace_write_row(tr->simtrace, &row, &err) != 0) {
        /* A full disk must not stop training; say it once and stop logging. */
        TD_WARN("training simtrace: %s (no more simtrace rows this run)", err.msg);
        td_simtrace_close(tr->simtrace, NULL);
        tr->simtrace = NULL;
    }
}

void td__simtrace_close(td__train *tr)
{
    td_err err;
    if (tr->simtrace && td_simtrace_close(tr->simtrace, &err) != 0)
        TD_WARN("training simtrace: %s", err.msg);
    tr->simtrace = NULL;
}
