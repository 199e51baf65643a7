/*
 * eval.h - what happened on track, as data: the analysis of simtrace logs (per-episode and
 * per-iteration tables, fastest laps, where episodes end; simtrace.h writes and reads the
 * logs), per-waypoint summaries of what the policy does where, the training metrics file
 * (metrics/training.jsonl) and the pictures made from them.
 * Part of the eval layer; pictures use plot.h. docs/logs.md and docs/pictures.md describe
 * the files and the commands `trackday logs` and `trackday plot`.
 */
#ifndef TRACKDAY_EVAL_H
#define TRACKDAY_EVAL_H

#include <jansson.h>

#include "trackday/core.h"
#include "trackday/params.h"
#include "trackday/simtrace.h"
#include "trackday/track.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- analysis ------------------------------------------------------------------------------- */

/* One episode: a run of consecutive rows of one file with one episode number. */
typedef struct td_log_episode {
    long episode;   /* the episode column */
    long iteration; /* see td_logs_analyze */
    int file;
    int first_row, n_rows; /* rows[first_row .. first_row + n_rows) of the td_simtrace */
    long steps;            /* the last row's steps */
    double progress;       /* the last row's progress, percent */
    double total_reward;   /* sum of the rows' rewards */
    double mean_speed;     /* mean throttle, m/s */
    char status[TD_SIMTRACE_STATUS_LEN]; /* the last row's episode_status */
    int complete;                        /* status lap_complete or progress >= 100 */
    double lap_time_s;                   /* td_simtrace_lap_time if complete, else -1 */
    int end_waypoint;                    /* the last row's closest_waypoint */
    double end_x, end_y;
} td_log_episode;

typedef struct td_log_iteration {
    long iteration;
    int episodes;
    int complete;           /* completed laps */
    double completion_rate; /* complete / episodes */
    double mean_reward;     /* mean total reward per episode */
    double mean_progress;   /* percent */
    double mean_steps;
    double best_lap_s; /* fastest complete lap, -1 if none */
} td_log_iteration;

/* Where episodes that did not complete a lap ended. */
typedef struct td_log_end {
    int waypoint;
    int count;
    int off_track, crashed, reversed, immobilized, other;
} td_log_end;

typedef struct td_log_report {
    td_log_episode *episodes;
    int n_episodes;
    td_log_iteration *iterations;
    int n_iterations;
    int *fastest; /* indices of complete episodes, by lap time, fastest first */
    int n_fastest;
    td_log_end *ends; /* by count, most first (ties by waypoint) */
    int n_ends;
    int iteration_source; /* TD_LOGS_ITER_* */
    int n_files;
    long n_rows;
} td_log_report;

enum {
    TD_LOGS_ITER_COLUMN = 0,  /* the iteration column */
    TD_LOGS_ITER_FILE = 1,    /* one file per iteration (N-iteration.csv gives N) */
    TD_LOGS_ITER_EPISODES = 2 /* consecutive groups of episodes_per_iteration episodes */
};

/*
 * Analyses the rows of t. Iterations come from the iteration column if every row has one,
 * else from the files when there are several (the number in a name like "12-iteration.csv",
 * else the file's index), else from groups of episodes_per_iteration consecutive episodes
 * (DeepRacer's num_episodes_between_training, 20 by default). Free with td_logs_report_free.
 */
int td_logs_analyze(td_log_report *r, const td_simtrace *t, int episodes_per_iteration,
                    td_err *err);
void td_logs_report_free(td_log_report *r);

/* The report as JSON (docs/logs.md describes the keys). NULL on out-of-memory. */
json_t *td_logs_report_json(const td_log_report *r, const td_simtrace *t);

/* ---- per-waypoint summaries ------------------------------------------------------------------ */

/*
 * What the policy does where: rows grouped into n_bins equal sections of the lap by their
 * closest waypoint (a waypoint's section is arc[wp] / length when a track is given, else
 * wp / n_waypoints with n_waypoints from the largest waypoint seen). Means of the commanded
 * speed and steering and of the reward per section; count 0 means no data (means are NaN).
 */
#define TD_SUMMARY_MAX_ACTIONS 64

typedef struct td_waypoint_summary {
    int n_bins;
    double *speed, *steer_deg, *reward; /* n_bins each, one allocation */
    long *count;
    double *x, *y, *dir_rad; /* section mid points on the centreline (track given) */
    /* Discrete actions (rows with action >= 0): how often each is chosen per section. */
    int n_actions;                           /* largest action index + 1 (capped), 0 if none */
    long *action_count;                      /* (n_bins, n_actions) row-major */
    double *action_steer_deg, *action_speed; /* per action: mean commanded steering and
                                                speed, i.e. what the action is */
} td_waypoint_summary;

/* rows: only rows with first <= index < first + n are used (n < 0: all rows). */
int td_waypoint_summary_compute(td_waypoint_summary *ws, const td_simtrace *t, int first, int n,
                                const td_track *track, int n_bins, td_err *err);
void td_waypoint_summary_free(td_waypoint_summary *ws);

/* ---- training metrics (metrics/training.jsonl) ----------------------------------------------- */

/* metrics/training.jsonl is written by the trainer (td_train_metrics_append, trainer.h). */

/*
 * Writes an example model directory into dir for the pictures: training_params.yaml naming
 * world_name, a synthetic learning curve (metrics/training.jsonl) and simtrace logs of the
 * built-in driver on track (two training iterations with steering noise, one evaluation).
 */
int td_plot_demo_write(const char *dir, const char *world_name, const td_track *track, td_err *err);

/* The metrics file read into columns; a missing key gives NaN (or best = 0). */
typedef struct td_metrics {
    int n;
    double *iteration, *episodes, *steps, *mean_reward, *mean_progress, *completion_rate, *entropy,
        *mean_steps; /* n each, one allocation; mean_steps from the optional
                        "mean_steps" key (steps per episode) */
    int *best;
    int best_index; /* the last row with best = true, or -1 */
} td_metrics;

/*
 * Reads metrics/training.jsonl. A line that is not a JSON object is an error naming the
 * line, except an unterminated last line (a writer killed mid-line), which is skipped.
 */
int td_metrics_load(td_metrics *m, const char *path, td_err *err);
void td_metrics_free(td_metrics *m);

/*
 * Training curves from simtrace logs alone (DeepRacer's logs have no metrics file): one row
 * per iteration of the report with its mean reward, mean progress, completion rate and mean
 * steps; cumulative episodes and steps; entropy NaN; no best checkpoint. Free with
 * td_metrics_free.
 */
int td_metrics_from_report(td_metrics *m, const td_log_report *r, td_err *err);

/* ---- pictures from logs and metrics --------------------------------------------------------- */

/*
 * Training curves in one SVG: four panels (mean reward, mean progress, lap completion rate,
 * entropy) per iteration, each marking the best checkpoint. When no row has an entropy (logs
 * alone), the fourth panel shows the mean episode length in steps instead.
 */
int td_plot_training_write(const char *path, const td_metrics *m, const char *title, td_err *err);

/*
 * The track with the driven lines of the given episodes of a report coloured by speed, and
 * marks where the incomplete ones ended (off track, crash, ...). episodes holds indices into
 * r->episodes (n_sel of them); NULL means all. track may be NULL (lines only).
 */
int td_plot_episodes_write(const char *path, const td_simtrace *t, const td_log_report *r,
                           const int *episodes, int n_sel, const td_track *track, const char *title,
                           td_err *err);

/*
 * Where the episodes of a report that did not complete a lap ended, as marks on the track
 * (off track, crash, reversed, immobilized), with their counts in the legend: the places the
 * policy has not learned yet. track may be NULL.
 */
int td_plot_episode_ends_write(const char *path, const td_log_report *r, const td_track *track,
                               const char *title, td_err *err);

/*
 * A per-waypoint summary drawn two ways in one SVG: on the track (a dot per section coloured
 * by mean speed with an arrow turned by the mean steering) and as bar charts of mean speed
 * and mean steering per section. The track is required for the map part.
 */
int td_plot_waypoints_write(const char *path, const td_waypoint_summary *ws, const td_track *track,
                            const char *title, td_err *err);

/* ---- the pictures of a run and of a model directory ----------------------------------------- */

#define TD_PLOT_MAX_OUTPUTS 8

/* What a picture-writing call did: the files written, and notes on what it skipped and why
 * (for the caller to show; the library prints nothing). */
typedef struct td_plot_output {
    int n_paths;
    char paths[TD_PLOT_MAX_OUTPUTS][1024];
    int n_notes;
    char notes[TD_PLOT_MAX_OUTPUTS][512];
} td_plot_output;

/*
 * The pictures of one run: the episodes of file `file` of t (-1: every row), the last
 * max_episodes of them (<= 0: all), written into out_dir as laps.svg (driven lines by speed
 * with end marks), waypoints.svg (`sections` sections) and reward-lap.svg (the fastest lap,
 * else the longest episode). label starts the title of laps.svg ("evaluation "). track may
 * be NULL. The evaluator calls this on the simtrace it has just written.
 */
int td_plot_simtrace_pictures(const td_simtrace *t, int file, int max_episodes,
                              const td_track *track, int sections, const char *out_dir,
                              const char *label, td_plot_output *out, td_err *err);

/*
 * What `trackday plot DIR` writes: out_dir/training.svg from DIR/metrics/training.jsonl (else
 * computed from the training simtrace logs), out_dir/ends.svg (where training episodes end),
 * and td_plot_simtrace_pictures of the newest evaluation simtrace in DIR/logs (a .csv with
 * "eval" in its path below logs/), else of the last 10 episodes of the last training file.
 * Missing inputs become notes; TD_ENOENT if there was nothing to plot at all.
 */
int td_plot_model_dir(const char *dir, const td_track *track, const char *out_dir, int sections,
                      td_plot_output *out, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_EVAL_H */
