/*
 * logs.h - what happened on track, as data (`trackday logs`): the analysis of simtrace logs
 * (per-episode and per-iteration tables, fastest laps, where episodes end; simtrace.h writes
 * and reads the logs), per-waypoint summaries of what the policy does where, and the reader of
 * the training metrics file (metrics/training.jsonl; the trainer writes it). The pictures made
 * from them are in plot.h. Part of the eval layer; docs/logs.md describes the files.
 */
#ifndef TRACKDAY_LOGS_H
#define TRACKDAY_LOGS_H

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
typedef struct td_logs_episode {
    long episode;   /* the episode column */
    long iteration; /* see td_logs_analyze */
    int file;
    int first_row, n_rows; /* rows[first_row .. first_row + n_rows) of the td_simtrace */
    long steps;            /* its steps: the last row's minus the first's, plus one */
    double progress;       /* the last row's progress, percent */
    double total_reward;   /* sum of the rows' rewards */
    double mean_speed;     /* mean throttle, m/s */
    char status[TD_SIMTRACE_STATUS_LEN]; /* the last row's episode_status */
    int complete;                        /* status lap_complete or progress >= 100 */
    double lap_time_s;                   /* td_simtrace_lap_time if complete, else -1 */
    int end_waypoint;                    /* the last row's closest_waypoint */
    double end_x, end_y;
} td_logs_episode;

typedef struct td_logs_iteration {
    long iteration;
    int episodes;
    int complete;           /* completed laps */
    double completion_rate; /* complete / episodes */
    double mean_reward;     /* mean total reward per episode */
    double mean_progress;   /* percent */
    double mean_steps;
    double best_lap_s; /* fastest complete lap, -1 if none */
} td_logs_iteration;

/* Where episodes that did not complete a lap ended. */
typedef struct td_logs_end {
    int waypoint;
    int count;
    int off_track, crashed, reversed, immobilized, other;
} td_logs_end;

typedef struct td_logs_report {
    td_logs_episode *episodes;
    int n_episodes;
    td_logs_iteration *iterations;
    int n_iterations;
    int *fastest; /* indices of complete episodes, by lap time, fastest first */
    int n_fastest;
    td_logs_end *ends; /* by count, most first (ties by waypoint) */
    int n_ends;
    int iteration_source; /* TD_LOGS_ITER_* */
    int n_files;
    long n_rows;
} td_logs_report;

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
int td_logs_analyze(td_logs_report *r, const td_simtrace *t, int episodes_per_iteration,
                    td_err *err);
void td_logs_report_free(td_logs_report *r);

/* The report as JSON (docs/logs.md describes the keys). NULL on out-of-memory. */
json_t *td_logs_report_json(const td_logs_report *r, const td_simtrace *t);

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

/*
 * The model's own discrete action space (model_metadata.json, n actions in network-output
 * order): every action gets a row, chosen or not, labelled with what it commands. Without it
 * the summary knows only the actions the rows chose (up to the largest index seen).
 */
int td_waypoint_summary_set_actions(td_waypoint_summary *ws, int n, const double *steer_deg,
                                    const double *speed, td_err *err);

/* rows: only rows with first <= index < first + n are used (n < 0: all rows). */
int td_waypoint_summary_compute(td_waypoint_summary *ws, const td_simtrace *t, int first, int n,
                                const td_track *track, int n_bins, td_err *err);
void td_waypoint_summary_free(td_waypoint_summary *ws);

/* ---- training metrics (metrics/training.jsonl) ----------------------------------------------- */

/* metrics/training.jsonl is written by the trainer (td_train_metrics_append, trainer.h). */

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
int td_metrics_from_report(td_metrics *m, const td_logs_report *r, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_LOGS_H */
