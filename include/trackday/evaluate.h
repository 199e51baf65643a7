/*
 * evaluate.h - `trackday eval`: drives a trained policy greedily from the start line, as a
 * DeepRacer evaluation or race does, and records what happened: lap times, off-tracks,
 * crashes, resets and penalties, a simtrace CSV, a JSON report and a picture of the driven
 * line coloured by speed. Part of the eval layer.
 */
#ifndef TRACKDAY_EVALUATE_H
#define TRACKDAY_EVALUATE_H

#include "trackday/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct td_eval_options {
    int laps;                   /* laps to drive (default 3) */
    int continuous;             /* 1: events cost a penalty and a reset (DeepRacer's
                                   continuous mode); 0: each lap is a trial from the start
                                   line that ends at the first event */
    double off_track_penalty_s; /* continuous: default 2 */
    double collision_penalty_s; /* continuous: default 5 */
    int max_resets;             /* continuous: 0 = unlimited */
    td_race_config race;        /* race type, obstacles, bots, direction */
    uint64_t seed;
    const char *simtrace_path;  /* NULL: no simtrace */
    const char *report_path;    /* NULL: no report */
    const char *picture_path;   /* NULL: no picture (SVG) */
    const char *model_label;    /* shown in the report and picture */
} td_eval_options;

void td_eval_options_default(td_eval_options *o);

#define TD_EVAL_MAX_TRIALS TD_MAX_LAPS

typedef struct td_eval_result {
    int laps_requested;
    int laps_completed;
    double lap_times_s[TD_EVAL_MAX_TRIALS];  /* completed laps, in order */
    double total_time_s;        /* simulated time including penalties */
    double best_lap_s, average_lap_s;        /* -1 when no lap completed */
    int off_tracks, crashes, reverses, immobilized, resets;
    double penalty_s;
    int completed;              /* all requested laps completed */
    long steps;
} td_eval_result;

/*
 * Drives `policy` on `track` (forward direction; options->race.reverse_dir drives it the
 * other way) and fills result; writes the simtrace, report and picture when their paths
 * are given.
 */
int td_evaluate(td_policy *policy, const td_track *track, const td_eval_options *o,
                td_eval_result *result, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_EVALUATE_H */
