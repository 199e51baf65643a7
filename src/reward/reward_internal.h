/*
 * reward_internal.h - what the reward hosts share inside the reward layer: the result check
 * (NaN, infinity, range) every kind applies, error recording, and the Python host's entry
 * points (py_host.c and the files py_internal.h lists; py_stub.c when trackday is built
 * without Python).
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

/* The Python host (py_host.c; py_internal.h lists its other files). */
typedef struct td__pyhost td__pyhost;

/* Starts the embedded interpreter if needed (once per process). */
int td__py_ensure(td_err *err);

/* Loads the source of path (compiles, runs the module, finds and checks reward_function). */
int td__py_open(td__pyhost **out, const char *path, const char *source, size_t len,
                const td_track *track, td_reward_error *rerr, td_err *err);

/* In the sandboxed reward process: the audit hook and the os._exit/os.abort replacements
 * that name a forbidden attempt (py_guard.c). Call once after td__py_ensure. */
int td__py_enable_guards(td_err *err);

/* Called once, just before the first user code runs (the sandboxed process tightens its
 * seccomp filter there, after the interpreter and the watchdog thread have started). */
extern void (*td__py_before_user_code)(void);
void td__py_close(td__pyhost *h);
void td__py_set_timeout(td__pyhost *h, double seconds);

/* Calls reward_function for n cars under one GIL acquisition; writes out_f or out_d. */
int td__py_batch(td__pyhost *h, const td_params *params, int n, float *out_f, double *out_d,
                 td_reward_error *rerr, td_err *err);

/* 1 if this build embeds the interpreter (libtrackday.a, the trackday command), 0 in
 * libtrackday.so, whose Python rewards run in the trackday command as their host. */
int td__py_embedded(void);

/*
 * The program sandbox_host.c starts as the reward host: NULL (TD_SANDBOX_SELF) when this
 * executable embeds the interpreter; else $TRACKDAY_REWARD_HOST, or the trackday command
 * beside libtrackday.so (the build tree) or in ../bin of it (an installed prefix); NULL when
 * none is found (host_program.c).
 */
const char *td__reward_host_program(void);

/* The module-level limit set by td_reward_set_load_timeout, seconds. */
double td__reward_load_timeout(void);

/* The descriptor set with td_reward_set_print_fd (2 by default). */
int td__reward_print_fd(void);

/* The sandboxed process reports each call's start here (shared memory; NULL: nowhere). */
void td__py_set_progress(td__pyhost *h, _Atomic unsigned *calls, _Atomic int *car);

/*
 * The file-level checks every path applies before Python sees the source (so `reward check`
 * and `train` fail the same way): a NUL byte, and text that is not UTF-8 (unless a PEP 263
 * line declares another encoding). 0, or TD_EREWARD with "PATH:LINE:COL: message" in err and
 * the message alone in msg (for the static check's issue), line and col set.
 */
int td__reward_source_check(const char *path, const char *src, size_t len, char *msg, size_t cap,
                            int *line, int *col, td_err *err);

/* ---- the Python host in a sandboxed process (sandbox_host.c) ---------------------------- */

#include "trackday/sandbox.h"

#ifdef TD_PYTHON_EXECUTABLE
#define TD_REWARD_PYTHON_EXE TD_PYTHON_EXECUTABLE
#else
#define TD_REWARD_PYTHON_EXE "/usr/bin/python3.11"
#endif
/* Limits of the reward process as a whole (each call also has its wall-clock limit). */
#define TD_REWARD_SANDBOX_CPU_S     (24.0 * 3600)
#define TD_REWARD_SANDBOX_MEMORY_MB 2048

typedef struct td__pysb td__pysb;

/* Starts a sandboxed host in mode and loads the source into it (errors as td__py_open). */
int td__pysb_open(td__pysb **out, const char *path, const char *source, size_t len,
                  td_sandbox_mode mode, td_reward_error *rerr, td_err *err);
void td__pysb_close(td__pysb *h);
void td__pysb_set_timeout(td__pysb *h, double seconds);
int td__pysb_batch(td__pysb *h, const td_params *params, int n, float *out_f, double *out_d,
                   td_reward_error *rerr, td_err *err);
/* 1 while the process runs; after a crash or a kill, td__pysb_restart starts a fresh one. */
int td__pysb_alive(const td__pysb *h);
/* The host process's CPU time (seconds) as of its last reply. */
double td__pysb_cpu_s(const td__pysb *h);
int td__pysb_restart(td__pysb *h, td_reward_error *rerr, td_err *err);
/* The static check in a sandboxed host that never loads the file. */
int td__pysb_check(const char *path, const char *source, size_t len, td_sandbox_mode mode,
                   td_reward_issue **issues, int *n_issues, td_err *err);

/* py_check.c: the validator's Python namespace (borrowed, GIL held; NULL on error), and a
 * list of (severity, line, col, rule, message) tuples as issues (0, or -1). */
struct _object; /* PyObject */
struct _object *td__py_validator_ns(void);
int td__py_issues_from_list(struct _object *list, td_reward_issue **issues, int *n_issues);

/* The validator's run-time tests on a loaded function (py_validate.c). route: n rows of DeepRacer's
 * route layout (centre x, y, inner x, y, outer x, y). */
int td__py_validate(td__pyhost *h, const double *route, int n, td_reward_issue **issues,
                    int *n_issues, td_err *err);
int td__pysb_validate(td__pysb *h, const double *route, int n, td_reward_issue **issues,
                      int *n_issues, td_err *err);

/* The static check (py_check.c), see td_reward_check_source. */
int td__py_check_source(const char *path, const char *source, size_t len, td_reward_issue **issues,
                        int *n_issues, td_err *err);

#endif
