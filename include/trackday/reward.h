/*
 * reward.h - reward hosts: the function that turns a step's `td_params` into a reward.
 * Three kinds behind one API:
 *
 *   "builtin:NAME"   a C function shipped with trackday (td_reward_builtin_names lists them)
 *   "PATH.so"        a C plugin exporting  double trackday_reward(const td_params *p)
 *   "PATH.py"        a DeepRacer reward_function.py run unchanged in embedded CPython
 *
 * A host is opened once (a Python file is compiled and checked then, so a syntax error or a
 * missing reward_function is reported before training starts), then called once per step
 * for a whole batch of cars (Python: under one acquisition of the interpreter lock).
 * Every result is checked: NaN, infinity, a value that is not a number, or one outside
 * [-1e5, 1e5] is an error naming the step and the value. A Python call that runs longer
 * than the time limit (default 1 s) is stopped and reported.
 *
 * When a call fails, td_reward_last_error describes it (kind, the user's file and line, the
 * Python traceback, the failing car and step) and td_reward_error_json gives it with the
 * `params` of the failing step, for DIR/logs/reward_error.json.
 *
 * Threads: a host may be called from any thread, but by one thread at a time (a per-host
 * lock enforces it). Part of the reward layer (above sim and nn).
 */
#ifndef TRACKDAY_REWARD_H
#define TRACKDAY_REWARD_H

#include "trackday/core.h"
#include "trackday/params.h"
#include "trackday/track.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DeepRacer's accepted result range. */
#define TD_REWARD_MAX_ABS 1e5
/* Default time limit of one Python call, seconds. */
#define TD_REWARD_DEFAULT_TIMEOUT_S 1.0
/* DeepRacer's validator rejects source longer than this. */
#define TD_REWARD_MAX_SOURCE_CHARS 140000

typedef struct td_reward td_reward;

typedef enum td_reward_kind {
    TD_REWARD_BUILTIN = 0,
    TD_REWARD_PLUGIN = 1,
    TD_REWARD_PYTHON = 2
} td_reward_kind;

typedef enum td_reward_error_kind {
    TD_REWARD_ERR_NONE = 0,
    TD_REWARD_ERR_LOAD = 1,      /* missing file, syntax error, no/bad reward_function */
    TD_REWARD_ERR_EXCEPTION = 2, /* the function raised during a call */
    TD_REWARD_ERR_VALUE = 3,     /* NaN, infinite, not a number, or outside the range */
    TD_REWARD_ERR_TIMEOUT = 4,   /* the call ran longer than the limit and was stopped */
    TD_REWARD_ERR_SANDBOX = 5,   /* it tried what the sandbox forbids (network, files, ...) */
    TD_REWARD_ERR_CRASH = 6      /* the reward process died (exit, signal, a limit) */
} td_reward_error_kind;

/* "load", "exception", "value", "timeout", "sandbox", "crash" ("none" for NONE). */
const char *td_reward_error_kind_name(td_reward_error_kind k);

#define TD_REWARD_PATH_LEN  1024
#define TD_REWARD_MSG_LEN   1024
#define TD_REWARD_TRACE_LEN 8192

/* What went wrong in the last failed open or call. */
typedef struct td_reward_error {
    td_reward_error_kind kind;
    char file[TD_REWARD_PATH_LEN];       /* the user's file of the failing line ("" if unknown) */
    int line;                            /* 1-based line in file, 0 if unknown */
    char message[TD_REWARD_MSG_LEN];     /* one paragraph for a learner (also in td_err) */
    char traceback[TD_REWARD_TRACE_LEN]; /* Python traceback or caret display ("" if none) */
    int car;                             /* index in the batch, -1 if not a call */
    int step;                            /* params.steps of the failing call, -1 if not a call */
    double value;                        /* the bad result (TD_REWARD_ERR_VALUE), else 0 */
    int has_params;                      /* params_json holds the failing step's params */
} td_reward_error;

/*
 * Opens a reward host. spec is "builtin:NAME", a path ending in .so, or a path ending in .py.
 * track may be NULL; when given, a Python host builds params['waypoints'] for it now (it is
 * otherwise built at the first call that shows a new waypoint array). On error *out is NULL,
 * err holds the message (for a Python load error: "FILE:LINE:COL: SyntaxError: ..." followed
 * by the source line and a caret) and nothing needs freeing. Free with td_reward_close.
 */
int td_reward_open(td_reward **out, const char *spec, const td_track *track, td_err *err);

/* Closes a host (NULL is fine). The embedded interpreter itself stays for the process. */
void td_reward_close(td_reward *r);

/*
 * Computes n rewards: out[i] = reward of params[i]. Returns 0, or TD_EREWARD (exception, bad
 * value) or TD_ETIMEOUT; then err holds the message, td_reward_last_error the details, and
 * out[i] for the failing car and those after it are 0. No allocation on the success path
 * (Python objects aside).
 */
int td_reward_batch(td_reward *r, const td_params *params, int n, float *out, td_err *err);

/* One call at double precision (check, explain, tests). */
int td_reward_one(td_reward *r, const td_params *p, double *out, td_err *err);

/*
 * Adapter with the signature of the simulator's td_reward_batch_fn (sim.h): user is the
 * td_reward. After a failure it writes zeros and keeps the first error until
 * td_reward_clear_error; check td_reward_failed after each step.
 */
void td_reward_batch_cb(void *user, const td_params *params, int n, float *rewards_out);

/*
 * What td_reward_batch_cb does when a call fails. STOP (default, DeepRacer's behaviour): the
 * failure is kept (td_reward_failed) and every later reward is 0 until cleared, so a trainer
 * stops. SKIP: the failed call scores 0, a warning is printed (the first three, then every
 * 100th), the other cars of the batch are computed, a reward process that died is started
 * again, and only after more than max_errors failures (< 0: no limit) does it fail as STOP.
 */
typedef enum td_reward_on_error {
    TD_REWARD_ON_ERROR_STOP = 0,
    TD_REWARD_ON_ERROR_SKIP = 1
} td_reward_on_error;
void td_reward_set_on_error(td_reward *r, td_reward_on_error policy, int max_errors);
/* Calls that failed under SKIP so far. */
int td_reward_error_count(const td_reward *r);

/* The CPU time (seconds, user + system) of r's sandboxed reward process as of its last reply
 * (restarted processes count from 0), or -1 when r computes in this process (C rewards,
 * TRACKDAY_SANDBOX=none). What the reward calls cost outside the caller's own threads. */
double td_reward_process_cpu_s(const td_reward *r);

/* 0, or the error code of the first failure since open or td_reward_clear_error. */
int td_reward_failed(const td_reward *r);
void td_reward_clear_error(td_reward *r);

/* The last error (kind TD_REWARD_ERR_NONE if none). Valid until the next call or close. */
const td_reward_error *td_reward_last_error(const td_reward *r);

/*
 * The last error as a JSON document: {"kind", "message", "file", "line", "traceback", "car",
 * "step", "value", "reward_spec", "params": {...every params key of the failing step...}}.
 * *json is a new NUL-terminated string (td_free). TD_ENOENT if there is no error.
 */
int td_reward_error_json(const td_reward *r, char **json, td_err *err);

/* Writes td_reward_error_json to path atomically (for DIR/logs/reward_error.json). */
int td_reward_error_write(const td_reward *r, const char *path, td_err *err);

/* Limit for one Python call in seconds (default 1; <= 0 disables). No effect on C hosts. */
void td_reward_set_timeout(td_reward *r, double seconds);

/*
 * Process-wide limit for running a Python file's module-level code at open (imports
 * included: numpy or scipy can take seconds on a busy machine), default 30 s; <= 0 disables.
 * Applies to hosts opened afterwards.
 */
#define TD_REWARD_DEFAULT_LOAD_TIMEOUT_S 30.0
void td_reward_set_load_timeout(double seconds);

/*
 * Process-wide: the file descriptor that what a Python reward function prints (its stdout)
 * goes to, in every sandboxed reward process started afterwards; default 2 (stderr). A pipe
 * suits (no file-size limit applies to it); the caller drains it. < 0 restores the default.
 * With TRACKDAY_SANDBOX=none the function runs in this process and prints to its stdout.
 */
void td_reward_set_print_fd(int fd);

td_reward_kind td_reward_get_kind(const td_reward *r);
/* The spec the host was opened with. */
const char *td_reward_spec(const td_reward *r);

/*
 * The params as DeepRacer's dict would print, as a JSON object text (every key; the object
 * keys only when n_objects > 0; waypoints as [x, y] pairs). *json is new (td_free).
 */
int td_params_to_json(const td_params *p, char **json, td_err *err);

/* ---- built-in C rewards ------------------------------------------------------------------ */

typedef double (*td_reward_c_fn)(const td_params *p);

/* The names of the built-ins, NULL-terminated (for help text and tests). */
const char *const *td_reward_builtin_names(void);
/* A built-in by name, or NULL. */
td_reward_c_fn td_reward_builtin_find(const char *name);
/* One-line description of a built-in, or NULL. */
const char *td_reward_builtin_summary(const char *name);

/* ---- Python ------------------------------------------------------------------------------ */

/* 1 if trackday was built with the embedded interpreter (TD_WITH_PYTHON), else 0. */
int td_reward_python_available(void);

/* Severity of a static check finding. */
typedef enum td_reward_severity { TD_REWARD_WARNING = 0, TD_REWARD_ERROR = 1 } td_reward_severity;

typedef struct td_reward_issue {
    td_reward_severity severity;
    int line, col; /* 1-based; 0 if not tied to a place */
    char rule[48]; /* which rule found it ("" if none has a name) */
    char message[512];
} td_reward_issue;

/*
 * Statically checks a reward_function.py with DeepRacer's validator's rules, without running
 * it (in a sandboxed process, docs/rewards.md): flake8 with the validator's selection
 * (E and F but E2-E5, W, F401, F841; rule "flake8 CODE"), imports outside math, random,
 * numpy, scipy, shapely ("import"), calls named open, exec, eval, compile, input ("forbidden
 * call"), attributes of expressions the validator cannot follow ("validator attribute"), the
 * words __import__, load, fromfile, genfromtxt, loadtxt, tofile, savez, save, savetxt, memmap
 * anywhere ("forbidden word"), a reward_function with other than one parameter ("signature")
 * or none ("reward_function"), and a file that is not UTF-8 ("encoding"): errors. trackday's
 * advice is warnings: print in a function, global state, over 140,000 characters, flake8 not
 * installed. *issues is a new array (td_free) of *n_issues entries, in order of line. Returns
 * 0 when the check ran (whatever it found), or an error when it could not run.
 */
int td_reward_check_source(const char *path, td_reward_issue **issues, int *n_issues, td_err *err);

/*
 * DeepRacer's validator's run-time tests on an opened Python reward (the function, not its
 * module-level code, which ran at open): with builtins' __import__ disabled, one call on the
 * validator's valid state (an import inside the function fails it), then its five states
 * built from track t as DeepRacer builds them (waypoints a numpy array of the inner border;
 * no projection_distance, sim_time or objects_distance_from_center): each must return a
 * Python float within [-1e5, 1e5], within 5 s. Findings as td_reward_check_source's, with
 * rules "signature", "import in function", "test input", "return type", "reward range",
 * "timeout". C rewards: no findings. Returns 0 when the tests ran.
 */
int td_reward_validate(td_reward *r, const td_track *t, td_reward_issue **issues, int *n_issues,
                       td_err *err);

/*
 * The errors among issues as lines "PATH:LINE:COL: [rule] message" (at most max_lines, then
 * "... and N more") into buf; returns the number of errors.
 */
int td_reward_issues_errors(const td_reward_issue *issues, int n, const char *path, int max_lines,
                            char *buf, size_t cap);

/* ---- params for probes ------------------------------------------------------------------- */

/* A pose and the rest of the context td_reward_probe_params needs. */
typedef struct td_reward_probe {
    double x, y;         /* model point, metres */
    double heading_deg;  /* DeepRacer heading */
    double speed;        /* commanded speed */
    double steering_deg; /* commanded steering */
    double start_arc;    /* the episode's start (arc length, metres) for progress */
    int steps;
    int n_objects; /* objects at object_xy (obstacles: speed 0, heading 0) */
    double object_xy[TD_MAX_OBJECTS][2];
} td_reward_probe;

/*
 * Computes the params a car at the probe pose would get on track t (full projection; wheel
 * centres from the car geometry; progress from start_arc without history; objects bracketed
 * by arc length; object_in_camera within 64.7 degrees and 5 m ahead). For the sampled states
 * of `trackday reward check`; the simulator computes params incrementally itself.
 */
void td_reward_probe_params(const td_track *t, const td_reward_probe *probe, td_params *out);

/* A labelled state for `trackday reward check`. */
typedef struct td_reward_sample {
    char label[80];
    td_params params;
} td_reward_sample;

#define TD_REWARD_MAX_SAMPLES 40

/*
 * The sampled states of `trackday reward check` on track t: the centre line at eight places
 * around the lap, near each border, on a border, off track on each side, heading 90 and 180
 * degrees wrong, slow and fast, full steering each way, the first step and the end of a lap,
 * obstacles ahead in the same and the other lane, a bot car, a crash, and (when rev, the
 * reverse direction of t, is given) the reverse direction. params.waypoints point into t or
 * rev: they must outlive the samples. Returns the count written (at most max).
 */
int td_reward_samples(const td_track *t, const td_track *rev, td_reward_sample *out, int max);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_REWARD_H */
