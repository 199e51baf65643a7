/*
 * calibrate.h - fitting the car model to logs (`trackday calibrate`, docs/cli/calibrate.md):
 * open-loop replays of simtrace windows (a logged pose, the logged actions that preceded it
 * as history, then the actions that followed it) score a car by how far its predicted poses
 * land from the logged ones after 1 s and 2 s; a Nelder-Mead search over the car's response
 * parameters (gains, delays, time constants, acceleration and grip limits) minimizes a
 * robust sum of those errors. DeepRacer's logs and the car's own telemetry work alike.
 *
 * Row pairing as DeepRacer logs it: row k holds the pose at the moment action k was chosen
 * (before it acts); action k lasts tstamp[k] - tstamp[k - 1], and pose k + 1 is its result.
 */
#ifndef TRACKDAY_CALIBRATE_H
#define TRACKDAY_CALIBRATE_H

#include "trackday/sim.h"
#include "trackday/simtrace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct td_calib_options {
    int history_steps;    /* logged actions before each window's start pose, default 15 */
    int horizon_steps[2]; /* the two error horizons, default 15 and 30 steps (1 s, 2 s) */
    int fixed_dt;         /* every step lasts 1 / TD_SIM_HZ instead of the tstamp difference */
    int stride;           /* a window every `stride` rows, default 1 */
} td_calib_options;

void td_calib_options_default(td_calib_options *o);

/* A replay window: its start row in the simtrace and the group (log) it belongs to. */
typedef struct td_calib_window {
    int row;     /* the start pose; history rows row - history_steps .. row - 1 */
    int group;   /* from the file's group */
    int at_rest; /* the history starts at rest (after a prepare row or at an episode start) */
} td_calib_window;

typedef struct td_calib_data {
    const td_simtrace *t; /* borrowed; must outlive the data */
    td_calib_options o;
    double *dt; /* (t->n) each row's duration */
    td_calib_window *w;
    int n;
} td_calib_data;

/*
 * Finds the windows of t: rows start - history .. start + horizon of one episode with
 * consecutive steps, all "in_progress" but the last (which may end the episode), every step
 * 0 .. TD_CAR_MAX_STEP_S long. file_group[f] gives the group of file f of t (NULL: each
 * file its own group). TD_ENOENT when no window exists (with a message saying why).
 */
int td_calib_data_init(td_calib_data *d, const td_simtrace *t, const int *file_group,
                       const td_calib_options *o, td_err *err);
void td_calib_data_free(td_calib_data *d);

/* Open-loop errors of a car over the windows of one group (-1: all). Index 0 and 1 are the
 * two horizons. Positions are the model point's (DeepRacer's X, Y). */
typedef struct td_calib_errors {
    int windows;
    double pos_median_m[2], pos_p90_m[2];
    double yaw_median_deg[2], yaw_p90_deg[2];
} td_calib_errors;

int td_calib_errors_compute(const td_calib_data *d, const td_car_config *car, int group,
                            td_calib_errors *out, td_err *err);

/* The parameters a fit may change (bits of td_calib_fit's `params`). */
enum {
    TD_CALIB_STEER_GAIN = 1 << 0,
    TD_CALIB_STEER_TAU = 1 << 1,
    TD_CALIB_STEER_DELAY = 1 << 2,
    TD_CALIB_SPEED_TAU = 1 << 3,
    TD_CALIB_SPEED_DELAY = 1 << 4,
    TD_CALIB_SPEED_GAIN = 1 << 5,
    TD_CALIB_ACCEL_MAX = 1 << 6,
    TD_CALIB_GRIP = 1 << 7,
    TD_CALIB_ALL = (1 << 8) - 1
};

/* "steer_gain,grip" -> bits (names as td_car_config's fields: steer_gain, steer_tau_s,
 * steer_delay_s, speed_tau_s, speed_delay_s, speed_gain, accel_max_mps2, grip_mps2; "all").
 * TD_EINVAL names the unknown one. */
int td_calib_params_parse(const char *list, unsigned *out, td_err *err);

typedef struct td_calib_fit_result {
    double cost_before, cost_after; /* the fit's objective, mean per window and step */
    int evaluations;
} td_calib_fit_result;

/*
 * Fits the `params` of `start` to the windows (all groups): a bounded Nelder-Mead search
 * with restarts, at most max_evals evaluations of the objective (the mean over windows and
 * over every step up to the second horizon of a robust loss of the position error,
 * c^2 log(1 + e^2 / c^2) with c = 0.3 m). An acceleration or grip limit is searched as its
 * inverse, so "no limit" (0) is inside the search. *out = start with the fitted values.
 */
int td_calib_fit(const td_calib_data *d, const td_car_config *start, unsigned params, int max_evals,
                 td_car_config *out, td_calib_fit_result *res, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_CALIBRATE_H */
