/*
 * eval.h - `trackday eval`: drives a trained policy greedily from the start line, as a
 * DeepRacer evaluation or race does, and records what happened: lap times, off-tracks,
 * crashes, resets and penalties, a simtrace CSV, a JSON report and a picture of the driven
 * line coloured by speed. Part of the eval layer.
 */
#ifndef TRACKDAY_EVAL_H
#define TRACKDAY_EVAL_H

#include "trackday/policy.h"
#include "trackday/reward.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a per-step hook sees after each step of an evaluation. */
typedef struct td_eval_step {
    const td_vecenv *env;        /* the one-car env after the step */
    const td_params *params;     /* the step's params as the reward saw them (before the
                                    reset of a step that ended an episode) */
    const td_episode_info *info; /* the running episode, or the one this step ended */
    int done;                    /* this step ended an episode (a trial; the race when
                                    continuous) */
    int lap;                     /* 0-based: completed laps before this step (continuous),
                                    or the trial (lap by lap) */
    long step;                   /* 0-based step of the whole evaluation */
} td_eval_step;

/* Called after every step; a non-zero return stops the evaluation with that error. */
typedef int (*td_eval_step_fn)(void *user, const td_eval_step *s, td_err *err);

typedef struct td_eval_options {
    int laps;                    /* NUMBER_OF_TRIALS: trials, or laps when continuous (3) */
    int continuous;              /* IS_CONTINUOUS: 1, the laps back to back in one run, the clock
                                    running across them; 0 (default), each lap a separate trial
                                    from the start line */
    td_penalty_config penalties; /* resets end a trial (the run when continuous) only when
                                    spent: default 10000 resets, DeepRacer on AWS's
                                    "separate trials with resets"; off track 2 s, crash 5 s */
    td_race_config race;         /* race type, obstacles, bots, direction */
    uint64_t seed;
    const char *simtrace_path; /* NULL: no simtrace */
    const char *report_path;   /* NULL: no report */
    const char *picture_path;  /* NULL: no picture (SVG) */
    /* NULL: none. DeepRacer's EvaluationMetrics JSON, as its EvalMetrics writes it
     * (s3_metrics.py): {"metrics": [one record per trial, or per completed lap when
     * continuous]}, each record's completion_percentage, metric_time, start_time and
     * elapsed_time_in_milliseconds (simulated ms from the evaluation's start; elapsed is the
     * lap time of a completed lap), episode_status label, crash, immobilized, off-track and
     * reversed counts, reset_count and trial. */
    const char *metrics_path;
    const char *model_label; /* shown in the report and picture */
    td_eval_step_fn on_step; /* NULL: none (replays draw their frames here) */
    void *on_step_user;
    /* The reward written to the simtrace and drawn in the pictures: the model's own reward
     * function (borrowed, opened on the same track). NULL: the simulator's built-in
     * follow_center_line. A failing call stops the evaluation with its message. */
    td_reward *reward;
    const td_look *look; /* the camera's world (NULL: the default look) */
} td_eval_options;

/* td_eval_config_default's settings, a time trial, seed 1, no files written. */
void td_eval_options_default(td_eval_options *o);
/* Takes the trials/laps, mode, resets and penalties of DeepRacer's evaluation settings. */
void td_eval_options_set_config(td_eval_options *o, const td_eval_config *c);

#define TD_EVAL_MAX_TRIALS TD_MAX_LAPS

/*
 * Lap times are DeepRacer's official metric (td_episode_info): from the reset before a trial's
 * prepare step, or from the end of the previous lap when continuous, to the end of the step
 * that completed the lap, the pause steps of penalties included. `trackday logs` reads the
 * same numbers from the simtrace (td_simtrace_lap_time).
 */
typedef struct td_eval_result {
    int laps_requested;
    int laps_completed;
    double lap_times_s[TD_EVAL_MAX_TRIALS]; /* completed laps, in order */
    double total_time_s;                    /* simulated time of all trials (the run) */
    double best_lap_s, average_lap_s;       /* -1 when no lap completed */
    td_event_counts events;                 /* of all trials (the run) */
    int completed;                          /* all requested laps completed */
    long steps;
} td_eval_result;

/*
 * Drives `policy` on `track` (forward direction; options->race.reverse_dir drives it the
 * other way) and fills result; writes the simtrace, report and picture when their paths
 * are given.
 */
int td_evaluate(td_policy *policy, const td_track *track, const td_eval_options *o,
                td_eval_result *result, td_err *err);

/* ---- robustness (src/eval/robustness.c) ------------------------------------------------------ */

/*
 * The fixed suite of visual perturbations `trackday eval --robustness` drives a model under:
 * the clean look first, then brightness, contrast, sensor noise, motion blur, floor texture,
 * distractors (surroundings), camera pitch and camera height, each at a mild and a strong
 * strength (docs/cli/eval.md lists the values). Entry k of TD_ROBUSTNESS_N: its name, its
 * strength ("none", "mild", "strong") and the look (from the default look).
 */
#define TD_ROBUSTNESS_N 19
void td_robustness_case(int k, const char **name, const char **strength, td_look *look);

typedef struct td_robustness_row {
    const char *name, *strength;
    td_eval_result result; /* lap by lap: completed laps of the requested ones */
} td_robustness_row;

/*
 * Drives the policy through the suite: for each case the evaluation of o (its laps, race,
 * seed; lap by lap unless o->continuous; no files written) with that case's look. rows has
 * TD_ROBUSTNESS_N entries. The same seed gives the same rows.
 */
int td_eval_robustness(td_policy *policy, const td_track *track, const td_eval_options *o,
                       td_robustness_row *rows, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_EVAL_H */
