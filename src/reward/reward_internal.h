/*
 * reward_internal.h - what the reward hosts share inside the reward layer: the result check
 * (NaN, infinity, range) every kind applies, error recording, and the Python host's entry
 * points (py_host.c; stubs when trackday is built without Python).
 */
#ifndef TD_REWARD_INTERNAL_H
#define TD_REWARD_INTERNAL_H

#include "trackday/reward.h"

/*
 * Records a call error: fills rerr (kind, message, car, step, value) and err. file/line
 * may be NULL/0. Returns code.
 */
int td__reward_fail(td_reward_error *rerr, td_err *err, int code, td_reward_error_kind kind,
                    const td_params *p, int car, double value, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/*
 * Checks a result: 0 if finite and within [-1e5, 1e5], else records a TD_REWARD_ERR_VALUE
 * error naming the step and the value and returns TD_EREWARD. `who` names the function.
 */
int td__reward_check_value(double v, const td_params *p, int car, const char *who,
                           td_reward_error *rerr, td_err *err);

/* The Python host (py_host.c). */
typedef struct td__pyhost td__pyhost;

/* Starts the embedded interpreter if needed (once per process). */
int td__py_ensure(td_err *err);

/* Loads path (compiles, runs the module, finds and checks reward_function). */
int td__py_open(td__pyhost **out, const char *path, const td_track *track, td_reward_error *rerr,
                td_err *err);
void td__py_close(td__pyhost *h);
void td__py_set_timeout(td__pyhost *h, double seconds);

/* Calls reward_function for n cars under one GIL acquisition; writes out_f or out_d. */
int td__py_batch(td__pyhost *h, const td_params *params, int n, float *out_f, double *out_d,
                 td_reward_error *rerr, td_err *err);

/* The static check (py_check.c), see td_reward_check_source. */
int td__py_check_source(const char *path, const char *source, size_t len, td_reward_issue **issues,
                        int *n_issues, td_err *err);

#endif
