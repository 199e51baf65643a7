/*
 * py_internal.h - what the files of the embedded CPython reward host share (inside
 * src/reward only):
 *   py_host.c      the interpreter (started once per process), open/load/batch/close
 *   py_params.c    the params dict: the template in DeepRacer's key order, the shared
 *                  waypoints lists, restoring what a reward function changed
 *   py_watchdog.c  the per-host thread that stops a call running past its time limit
 *   py_errors.c    exceptions and syntax errors as messages with the user's line and a hint
 *   py_guard.c     the sandboxed process's audit hook and os._exit/os.abort replacements
 *   py_validate.c  DeepRacer's validator's run-time tests on a loaded function
 *   py_stub.c      the entry points of a build without the interpreter
 * Everything here exists only where TD_HAVE_PYTHON is defined (and not in libtrackday.so,
 * TD_NO_EMBEDDED_PYTHON); reward_internal.h has the entry points the rest of reward/ calls.
 */
#ifndef TD_REWARD_PY_INTERNAL_H
#define TD_REWARD_PY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "reward/reward_internal.h"

/* libtrackday.so is built without the interpreter (CMakeLists.txt): its reward host is the
 * trackday command (host_program.c), so no interpreter is ever loaded into its caller. */
#ifdef TD_NO_EMBEDDED_PYTHON
#undef TD_HAVE_PYTHON
#endif

#ifdef TD_HAVE_PYTHON

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifndef TD_PYTHON_EXECUTABLE
#define TD_PYTHON_EXECUTABLE "/usr/bin/python3.11"
#endif

/* The params keys in the order of DeepRacer's RewardParam enum (agent_ctrl/constants.py),
 * which is the order of its dict: code that iterates params sees the same sequence. */
enum {
    K_ALL_WHEELS_ON_TRACK,
    K_X,
    K_Y,
    K_HEADING,
    K_DISTANCE_FROM_CENTER,
    K_PROJECTION_DISTANCE,
    K_PROGRESS,
    K_STEPS,
    K_SPEED,
    K_STEERING_ANGLE,
    K_TRACK_WIDTH,
    K_TRACK_LENGTH,
    K_WAYPOINTS,
    K_CLOSEST_WAYPOINTS,
    K_IS_LEFT_OF_CENTER,
    K_IS_REVERSED,
    K_CLOSEST_OBJECTS,
    K_OBJECTS_LOCATION,
    K_OBJECTS_LEFT_OF_CENTER,
    K_OBJECT_IN_CAMERA,
    K_OBJECTS_SPEED,
    K_OBJECTS_HEADING,
    K_OBJECTS_DISTANCE_FROM_CENTER,
    K_OBJECTS_DISTANCE,
    K_IS_CRASHED,
    K_IS_OFFTRACK,
    K_SIM_TIME,
    K_COUNT
};

/* The key names, indexed by K_* (py_params.c). */
extern const char *const td__py_key_names[K_COUNT];

/* Process-wide state, set up once by the first host (py_host.c). */
struct td__py_globals {
    pthread_mutex_t mu;
    int ready;
    int failed;
    char fail_msg[256];
    PyObject *keys[K_COUNT];    /* interned */
    PyObject *timeout_exc;      /* trackday.RewardTimeout */
    PyObject *sandbox_exc;      /* trackday.SandboxError (a PermissionError) */
    PyObject *format_exception; /* traceback.format_exception */
    PyObject *format_exc_only;  /* traceback.format_exception_only */
    PyObject *signature;        /* inspect.signature */
};
extern struct td__py_globals td__py_g;

#define WP_CACHE 4

typedef struct td__py_wp_entry {
    const double *ptr; /* the waypoint array this list mirrors */
    int n;
    double probe[3][2]; /* its first, middle and last points when the list was built */
    PyObject *items;    /* tuple of the (x, y) tuples: owns the originals */
    PyObject *list;     /* what params['waypoints'] holds */
} td__py_wp_entry;

struct td__pyhost {
    char path[TD_REWARD_PATH_LEN];
    char *source; /* the file's text, for source lines in messages */
    size_t source_len;
    PyObject *module, *func;
    PyObject *tmpl;             /* the dict every call copies (py_params.c) */
    PyObject *tmpl_defaults[8]; /* its object-key values (borrowed), checked after each call */
    int warned_objects;
    td__py_wp_entry wp[WP_CACHE];
    int n_wp;
    int warned_string, warned_waypoints;

    /* watchdog */
    double timeout_s;
    pthread_t wd_thread;
    int wd_started;
    pthread_mutex_t wd_mu;
    pthread_cond_t wd_cv;
    int wd_stop;
    atomic_int active;  /* a batch (or the module load) is running */
    atomic_int wd_idle; /* the watchdog sleeps until the next batch (needs a signal) */
    atomic_ulong seq;   /* incremented at the start of every call */
    atomic_int in_call;
    atomic_int fired;  /* the watchdog raised in the current batch */
    unsigned long tid; /* Python thread id of the caller */

    _Atomic unsigned *progress_calls; /* sandboxed process: shared with the parent */
    _Atomic int *progress_car;
};

/* ---- py_params.c (GIL held) ------------------------------------------------------------ */

/* Builds the host's template dict (every key in DeepRacer's order, object keys at their
 * time-trial defaults). 0, or -1 with a Python error set. */
int td__py_params_template(td__pyhost *h);
/* The shared list for a waypoint array (built at the first sight of the array). Borrowed;
 * NULL with a Python error set. */
td__py_wp_entry *td__py_waypoints_entry(td__pyhost *h, const double *wp, int n);
/* A fresh params dict for one call; *wpe is the waypoints entry it shares. New reference. */
PyObject *td__py_params_build(td__pyhost *h, const td_params *p, td__py_wp_entry **wpe);
/* After a call: restore the shared waypoints list / the template's object-key defaults if
 * the function changed them (warning once). 0, or -1 with a Python error set. */
int td__py_waypoints_restore(td__pyhost *h, td__py_wp_entry *e, const td_params *p);
int td__py_defaults_restore(td__pyhost *h, const td_params *p);
/* Drops the template and the waypoints lists. */
void td__py_params_free(td__pyhost *h);

/* ---- py_watchdog.c ---------------------------------------------------------------------- */

/* Initializes the lock and starts the thread (a warning if it cannot: no time limit). */
void td__py_watchdog_start(td__pyhost *h);
/* Stops and joins the thread, then destroys the lock (without the GIL). */
void td__py_watchdog_stop(td__pyhost *h);
/* Starts watching a batch (GIL held: records the calling thread). */
void td__py_watchdog_arm(td__pyhost *h);
/* GIL held: clears an async exception the watchdog may have set too late. */
void td__py_watchdog_disarm(td__pyhost *h);

/* ---- py_errors.c (GIL held) ------------------------------------------------------------- */

/* Line `line` (1-based) of the source without its newline and indentation; "" if out of
 * range. */
void td__py_source_line(const td__pyhost *h, int line, char *buf, size_t cap);
/* str(obj), or repr(obj) when repr is set, into buf (for messages); "?" on failure. Clears
 * any Python error. */
void td__py_text(PyObject *obj, int repr, char *buf, size_t cap);
/* For a message: when (p NULL: "while loading the file", else "at step N (car C)") and where
 * ("FILE:LINE", or FILE when line is 0), in buffers of these sizes. */
#define TD__PY_WHEN_LEN  96
#define TD__PY_WHERE_LEN (TD_REWARD_PATH_LEN + 32)
void td__py_place(const td__pyhost *h, const td_params *p, int car, int line, char *when,
                  char *where);
/* The pending Python exception as a td_reward_error. kind is TD_REWARD_ERR_LOAD or
 * TD_REWARD_ERR_EXCEPTION (a RewardTimeout becomes TD_REWARD_ERR_TIMEOUT); p NULL means
 * "while loading". Returns the error code. */
int td__py_report_exception(td__pyhost *h, td_reward_error_kind kind, const td_params *p, int car,
                            td_reward_error *rerr, td_err *err);
/* The pending compile error: "FILE:LINE:COL: SyntaxError: msg", the line and a caret. */
int td__py_report_syntax(td__pyhost *h, td_reward_error *rerr, td_err *err);

/* ---- py_guard.c (GIL held) -------------------------------------------------------------- */

/* Starts/stops watching user code (of the file path) for forbidden attempts. */
void td__py_guard_arm(const char *path);
void td__py_guard_disarm(void);
/* 1 if user code tried something forbidden since the last arm. */
int td__py_guard_tripped(void);
/* Forgets a forbidden attempt (the validator counts it as a failed test input). */
void td__py_guard_clear(void);
/* The first forbidden attempt as the error of the call (p NULL: while loading); clears it. */
int td__py_report_guard(td__pyhost *h, const td_params *p, int car, td_reward_error *rerr,
                        td_err *err);

#endif /* TD_HAVE_PYTHON */

#endif
