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
 * closest_waypoint (the previous one), track_len, tstamp (sim_time), all_wheels_on_track.
 * The caller then sets episode, action, reward, done, episode_status and the rest. Pass the
 * params the reward function saw (the reward callback's): after a step that ends an
 * episode, env.params already holds the next episode's start.
 */
void td_simtrace_row_from_params(td_simtrace_row *row, const td_params *p);

/* ---- writer --------------------------------------------------------------------------------- */

typedef struct td_simtrace_writer td_simtrace_writer;

/*
 * Creates (truncates) a simtrace CSV at path and writes the header: DeepRacer's 17 columns,
 * then obstacle_crash_counter, wall_clock and trackday's iteration. The file is written
 * through a buffer; td_simtrace_close flushes it. *w is NULL on error.
 */
int td_simtrace_open(td_simtrace_writer **w, const char *path, td_err *err);
/* Appends one row. No allocation. done and all_wheels_on_track print as True/False. */
int td_simtrace_write_row(td_simtrace_writer *w, const td_simtrace_row *row, td_err *err);
/* Flushes and closes (w may be NULL). Returns TD_EIO if a write failed at any point. */
int td_simtrace_close(td_simtrace_writer *w, td_err *err);

/* ---- reader --------------------------------------------------------------------------------- */

/* Rows of one or more simtrace files, in file order then row order. */
typedef struct td_simtrace {
    td_simtrace_row *rows;
    int n, cap;
    char **files; /* source paths, td_simtrace_row.file indexes them */
    int n_files;
    int has_iteration; /* some file had an iteration column */
} td_simtrace;

void td_simtrace_init(td_simtrace *t);
void td_simtrace_free(td_simtrace *t);

/*
 * Parses simtrace CSV text and appends its rows to t. The first line is a header naming the
 * columns in any order; extra columns are ignored; the 17 DeepRacer columns are required
 * (obstacle_crash_counter, wall_clock, iteration are optional). A continuous action written
 * as "[steer, speed]" (quoted or not) is accepted. Errors name `what`, the line and the
 * column: a missing required column, a wrong column count, a non-numeric value in a numeric
 * column. On error t is unchanged.
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
 * The simtrace files td_simtrace_read_dir_match would read, in its order: *paths is a new
 * array of n new strings (free with td_simtrace_paths_free). TD_ENOENT if there is none.
 */
int td_simtrace_list_dir(const char *dir, const char *part, int exclude, char ***paths, int *n,
                         td_err *err);
void td_simtrace_paths_free(char **paths, int n);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_SIMTRACE_H */
