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
    /* Where every trial (the run when continuous) starts: a fraction of the lap past the start
     * line, in [0, 1). 0 (default): the start line, as DeepRacer's evaluations. The lap is
     * counted from there (progress and lap time from that point round to it). */
    double start_ndist;
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

/* One trial of a case: one lap from its own start, with its own seed. */
typedef struct td_robustness_trial {
    double start_ndist;     /* where it started: a fraction of the lap past the start line */
    uint64_t seed;          /* its seed: camera noise draws, the surroundings' layout */
    int completed;          /* its lap was completed (after resets, when allowed) */
    int clean;              /* ... without an event: no off-track, crash, reversal or
                               immobilized (the "lap completion") */
    double lap_s;           /* the lap's time (penalties included), -1 when not completed */
    double progress_first;  /* progress (%) reached when its first event came, 100 when none */
    td_event_counts events; /* off-tracks, resets, ... */
    long steps;
} td_robustness_trial;

/* A case of the suite (or the whole suite, td_robustness_total): its trials and their sums. */
typedef struct td_robustness_row {
    const char *name, *strength;
    int trials;              /* trials driven */
    int laps_clean;          /* trials whose lap was completed without an event */
    int laps_completed;      /* trials whose lap was completed, events and resets allowed */
    td_event_counts events;  /* summed over the trials */
    double progress_first;   /* mean over the trials of the progress (%) reached before the
                                first event (100 for a clean lap) */
    double mean_lap_s;       /* mean time of the completed laps (penalties included), -1 */
    double mean_clean_lap_s; /* mean time of the clean laps, -1 when none */
    double best_lap_s;       /* the fastest completed lap, -1 when none */
    long steps;
    td_robustness_trial trial[TD_EVAL_MAX_TRIALS]; /* rows of the suite only */
} td_robustness_row;

/*
 * Drives the policy through the suite. Each case drives o->laps trials (1..TD_EVAL_MAX_TRIALS)
 * of one lap each, lap by lap whatever o->continuous says: trial j of n starts j/n of the lap
 * past the start line (trial 0 at the start line, DeepRacer's) with seed o->seed for trial 0
 * and a seed derived from o->seed and j for the others (td_robustness_trial_seed), so the
 * trials differ (where they drive, the camera's noise, the surroundings' layout) while every
 * case drives the same n trials and differs from the clean one only by its look. A trial takes
 * o's race and penalties: with resets left (o->penalties.max_resets, DeepRacer's 10,000 by
 * default) an event costs a reset and the trial goes on to finish its lap, which then counts
 * as completed but not clean; with none the first event ends it. Domain randomization is off
 * (each case's look is fixed). rows has TD_ROBUSTNESS_N entries; the same o (its seed) gives
 * the same rows.
 */
int td_eval_robustness(td_policy *policy, const td_track *track, const td_eval_options *o,
                       td_robustness_row *rows, td_err *err);

/* The seed of trial j of a suite run with seed `seed`: seed itself for trial 0, else a
 * 47-bit number drawn from it. */
uint64_t td_robustness_trial_seed(uint64_t seed, int j);

/* The whole suite in one row (name "all"): sums, and the means over all trials and laps. */
void td_robustness_total(const td_robustness_row *rows, int n, td_robustness_row *all);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_EVAL_H */
