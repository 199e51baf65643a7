/*
 * simtrace.h - simtrace logs (DEEPRACER.md section 10): one CSV row per control step of a
 * car, in DeepRacer's column layout, so community tools read trackday's logs and trackday
 * reads DeepRacer's. A buffered writer for the trainer and the evaluator, and a reader that
 * takes DeepRacer's files and rejects a malformed one with the line and column. Part of the
 * sim layer (it needs only core and params.h), so every layer above can log; the analysis
 * of the logs is eval.h's. docs/logs.md describes the columns.
 */
#ifndef TRACKDAY_SIMTRACE_H
#define TRACKDAY_SIMTRACE_H

#include "trackday/core.h"
#include "trackday/params.h"
#include "trackday/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- simtrace rows -------------------------------------------------------------------------- */

#define TD_SIMTRACE_STATUS_LEN 16

/*
 * One simtrace row: one control step of one car. Units as DeepRacer writes them: X, Y of the
 * model point in metres, yaw and steer in degrees, throttle the commanded speed in m/s,
 * progress in percent, tstamp in seconds (simulated time for trackday's logs).
 */
typedef struct td_simtrace_row {
    long episode;
    long steps;
    double x, y;
    double yaw_deg;
    double steer_deg;
    double throttle; /* commanded speed, m/s */
    int action;      /* discrete action index; -1 for a continuous action */
    double reward;
    int done;
    int all_wheels_on_track;
    double progress; /* percent */
    int closest_waypoint;
    double track_len;                            /* metres */
    double tstamp;                               /* seconds */
    char episode_status[TD_SIMTRACE_STATUS_LEN]; /* "in_progress", "lap_complete", ... */
    double pause_duration;                       /* seconds */
    long obstacle_crash_counter;                 /* newer DeepRacer versions; 0 when absent */
    double wall_clock;                           /* Unix seconds; 0 when absent */
    long iteration;                              /* trackday's extra column; -1 when absent */
    int file; /* reader: index of the source file in td_simtrace.files */
} td_simtrace_row;

/*
 * Starts a row from a step's reward input: clears it (iteration -1, everything else 0), then
 * fills x, y, yaw (heading), steer and throttle (the commanded action), progress, steps,
 * closest_waypoint (as DeepRacer's simtrace: the nearer to the car of the two waypoints of
 * params' closest_waypoints), track_len, tstamp (sim_time: when the pose was read),
 * all_wheels_on_track. The caller then sets episode, action, reward, done, episode_status and
 * the rest. Pass the params the reward function saw (env.params after the step). For a row
 * of a vector env's step use td_simtrace_row_from_step, which stamps it as DeepRacer does.
 */
void td_simtrace_row_from_params(td_simtrace_row *row, const td_params *p);

/*
 * Starts a row from car i's last step of env as DeepRacer's simtrace shows it: the params the
 * reward function saw (td_simtrace_row_from_params of td_vecenv_step_params), so X, Y, yaw and
 * progress are the pose at which the row's action was chosen, before the step's physics (row
 * k + 1 holds the pose action k led to); tstamp the time when the step's physics ended (the
 * params' sim_time plus one step, as DeepRacer stamps a row in judge_action); the step's
 * reward and done, episode_status (td_vecenv_step_status: "prepare" for the first step of an
 * episode, "pause" for the held steps of a penalty, an event, "lap_complete", "in_progress"),
 * pause_duration (td_vecenv_step_pause_s) and the car's episode number. The caller sets
 * action, iteration and wall_clock, and may number episodes its own way.
 */
void td_simtrace_row_from_step(td_simtrace_row *row, const td_vecenv *env, int i);

/*
 * The time of a lap by DeepRacer's official metric (elapsed_time_in_milliseconds,
 * s3_metrics.py), trackday's one definition of a lap time (eval, train, logs and pictures
 * give this number): from the reset before the lap's prepare step, or from the end of the
 * previous lap of a continuous run, to the end of the step that completed it, pause steps of
 * penalties included. rows[first..last] are the lap's rows in file order (rows[first - 1],
 * when first > 0 and from the same file, is the row before: it ends the previous lap of the
 * same continuous run when it has progress 100 and the steps count on). A simtrace has no
 * row at the reset: for a lap that does not continue a run, the first row's own step is
 * taken to be as long as the step after it (exactly one control step in trackday's files;
 * DeepRacer's reset-to-prepare time varies by a few hundredths of a second).
 */
double td_simtrace_lap_time(const td_simtrace_row *rows, int first, int last);

/* ---- writer --------------------------------------------------------------------------------- */

typedef struct td_simtrace_writer td_simtrace_writer;

/*
 * Creates (truncates) a simtrace CSV at path and writes the header: DeepRacer's 19 columns
 * (its 17, obstacle_crash_counter, wall_clock) as its simulator writes them: steps as a float
 * ("1.0"), a continuous action as "[steer speed]" (row.action < 0), True/False. The file is
 * written through a buffer; td_simtrace_writer_close flushes it. *out is NULL on error.
 */
int td_simtrace_writer_open(td_simtrace_writer **out, const char *path, td_err *err);
/* The longest line td_simtrace_format_row writes, newline included. */
#define TD_SIMTRACE_LINE_MAX 1024

/* The header line the writer starts a file with (newline included). */
const char *td_simtrace_header(void);

/* Formats a row as the writer writes it (newline included) into line, which holds
 * TD_SIMTRACE_LINE_MAX bytes; returns its length. */
size_t td_simtrace_format_row(char *line, const td_simtrace_row *row);

/* Appends one row. No allocation. done and all_wheels_on_track print as True/False. */
int td_simtrace_writer_write(td_simtrace_writer *w, const td_simtrace_row *row, td_err *err);
/* Flushes and closes (w may be NULL). Returns TD_EIO if a write failed at any point. */
int td_simtrace_writer_close(td_simtrace_writer *w, td_err *err);

/* ---- reader --------------------------------------------------------------------------------- */

/* Rows of one or more simtrace files, in file order then row order. */
typedef struct td_simtrace {
    td_simtrace_row *rows;
    int n, cap;
    char **files; /* source paths, td_simtrace_row.file indexes them */
    int n_files;
    int has_iteration; /* some file had an iteration column */
    /* Rows skipped rather than refused: a last row cut short (a file still being written, or
     * whose writer was killed) and broken SIM_TRACE_LOG lines of a log. The note describes the
     * first one, for the user. */
    int skipped_rows;
    char skipped_note[320];
} td_simtrace;

void td_simtrace_init(td_simtrace *t);
void td_simtrace_free(td_simtrace *t);

/*
 * Parses simtrace CSV text and appends its rows to t. The first line is a header naming the
 * columns in any order; extra columns are ignored; the 17 DeepRacer columns are required
 * (obstacle_crash_counter, wall_clock, iteration are optional). A continuous action written
 * as "[steer speed]" (quoted or not) is accepted. Errors name `what`, the line and the
 * column: a missing required column, a wrong column count, a non-numeric value in a numeric
 * column. On error t is unchanged. A last line without its newline and with fewer fields
 * than the header is a row cut short by a writer: it is skipped and counted in
 * t->skipped_rows, never an error.
 * A DeepRacer robomaker or simulation log (no header; rows as "SIM_TRACE_LOG:" lines among
 * other output, 16 to 19 fields) is read the same way: its SIM_TRACE_LOG lines are the rows.
 */
int td_simtrace_parse(td_simtrace *t, const char *text, size_t len, const char *what, td_err *err);

/* Reads one CSV file (td_simtrace_parse with the path as `what`). */
int td_simtrace_read(td_simtrace *t, const char *path, td_err *err);

/*
 * Reads every *.csv file of a directory and of its immediate subdirectories (DeepRacer's
 * training-simtrace/ and evaluation-simtrace/), sorted by path with numbers compared by
 * value ("2-iteration.csv" before "10-iteration.csv"). TD_ENOENT if there is none.
 */
int td_simtrace_read_dir(td_simtrace *t, const char *dir, td_err *err);

/*
 * Like td_simtrace_read_dir, reading only the files whose path below dir contains `part`
 * (exclude = 0) or does not contain it (exclude = 1); part NULL reads every file. Used to
 * keep training and evaluation logs apart ("eval").
 */
int td_simtrace_read_dir_match(td_simtrace *t, const char *dir, const char *part, int exclude,
                               td_err *err);

/*
 * The simtrace files td_simtrace_read_dir_match would read, in its order (td_dir_list's): *paths
 * is a new array of n new strings (free with td_dir_list_free). TD_ENOENT if there is none.
 */
int td_simtrace_list_dir(const char *dir, const char *part, int exclude, char ***paths, int *n,
                         td_err *err);

/* ---- the layouts of DeepRacer's tools ---------------------------------------------------------
 */

typedef enum td_simtrace_kind {
    TD_SIMTRACE_TRAINING = 0,
    TD_SIMTRACE_EVALUATION = 1,
    TD_SIMTRACE_LEADERBOARD = 2
} td_simtrace_kind;

/* The simtrace files of one kind in a folder (td_simtrace_find). */
typedef struct td_simtrace_files {
    char **paths; /* in reading order */
    int n;
    char layout[96]; /* which layout was recognised, for the user */
    int workers;     /* deepracer-for-cloud's folders per worker (1 otherwise) */
} td_simtrace_files;

/*
 * Finds the training, evaluation or leaderboard simtraces of a folder in the first layout it
 * holds, in this order: deepracer-for-cloud (DIR/training-simtrace/N-iteration.csv, trackday's
 * own; evaluations in DIR/evaluation-<time>/evaluation-simtrace/), deepracer-for-cloud with a
 * folder per worker (DIR/0/training-simtrace, DIR/1/...), the DeepRacer console's export
 * (DIR/sim-trace/training/training-simtrace, DIR/sim-trace/evaluation/<run>/...), DeepRacer
 * on AWS's export (DIR/sim-trace/training/<job>/training-simtrace), the robomaker or
 * simulation logs of those exports (DIR/logs/<kind>/ *-robomaker.log and *-simulation.log, read
 * for their SIM_TRACE_LOG lines), trackday's older DIR/logs/ CSV files, and a plain folder of CSV
 * files (evaluation files have "eval" in their path). TD_ENOENT, with a message saying where
 * it looked, when there is none. Free with td_simtrace_files_free.
 */
int td_simtrace_find(const char *dir, td_simtrace_kind kind, td_simtrace_files *f, td_err *err);
void td_simtrace_files_free(td_simtrace_files *f);

/*
 * Keeps a copy of an evaluation's simtrace where deepracer-for-cloud keeps its evaluations:
 * DIR/evaluation-<stamp>/evaluation-simtrace/0-iteration.csv (deepracer-utils and
 * td_simtrace_find read it there), stamp as td_simtrace_eval_stamp makes it (NULL: now);
 * DeepRacer's DIR/metrics/EvaluationMetrics-<stamp>.json goes with it. out (may be NULL)
 * gets the copy's path.
 */
int td_simtrace_save_eval_run(const char *dir, const char *stamp, const char *simtrace_path,
                              char *out, size_t cap, td_err *err);
/* A new evaluation run's name in DIR as deepracer-for-cloud makes it: YYYYmmddHHMMSS, UTC,
 * now, or the first second after it that DIR/evaluation-<stamp>/ and
 * DIR/metrics/EvaluationMetrics-<stamp>.json do not use (two evaluations in one second). */
void td_simtrace_eval_stamp(const char *dir, char *out, size_t cap);

/* Reads every file of f into t (td_simtrace_read), in order. */
int td_simtrace_read_files(td_simtrace *t, const td_simtrace_files *f, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_SIMTRACE_H */
