/*
 * py_host.c - the embedded CPython reward host: runs a DeepRacer reward_function.py
 * unchanged with the full `params` dict.
 *
 * The interpreter is initialized once per process (isolated config: no environment
 * variables, no user site directory, no signal handlers, Debian's /usr/bin/python3.11 as the
 * program so sys.path finds its stdlib and dist-packages) and then left running; every entry
 * takes the GIL with PyGILState_Ensure, so any thread may call in.
 *
 * Speed: the keys are interned once; each host keeps two template dicts (with and without
 * the object keys) in DeepRacer's key order, and a call copies the template (PyDict_Copy of
 * a combined table is a memcpy plus increfs) and overwrites the values of the step. The
 * copy is what gives DeepRacer's "fresh copy per call" semantics: a function that keeps or
 * mutates its params never sees the next call's dict. params['waypoints'] is a list of
 * (x, y) tuples built once per waypoint array and shared; after each call its items are
 * compared with the originals (a memcmp) and restored if the function changed them.
 *
 * Timeouts: a watchdog thread per host watches a call counter; when the same call has been
 * running longer than the limit it takes the GIL and raises trackday.RewardTimeout (a
 * BaseException, so `except Exception` in user code does not swallow it) in the calling
 * thread with PyThreadState_SetAsyncExc. Pure-Python loops are stopped within the limit plus
 * one watchdog period; a call blocked inside C code is stopped when it returns to Python.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

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

#if defined(__SANITIZE_ADDRESS__)
/*
 * The interpreter lives until the process ends and is never finalized (finalizing and
 * restarting CPython with extension modules such as numpy loaded is not supported), so
 * LeakSanitizer would report everything Python allocated. Sanitizer builds suppress leaks
 * whose stacks pass through Python or its modules; trackday's own allocations are still
 * counted by td_alloc_live in every test.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    /* The interpreter, the extension modules it loads (numpy, the stdlib's lib-dynload),
     * and the libraries those pull in (OpenSSL for hashlib/random, numpy's BLAS). */
    return "leak:libpython3.11\n"
           "leak:/usr/lib/python3/dist-packages/\n"
           "leak:/usr/lib/python3.11/lib-dynload/\n"
           "leak:libcrypto.so\n"
           "leak:libssl.so\n"
           "leak:libopenblas\n"
           "leak:libgfortran\n";
}
#endif

/* ------------------------------------------------------------------------------------ */
/* Process-wide state                                                                   */
/* ------------------------------------------------------------------------------------ */

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

static const char *const key_names[K_COUNT] = {
    "all_wheels_on_track",
    "x",
    "y",
    "heading",
    "distance_from_center",
    "projection_distance",
    "progress",
    "steps",
    "speed",
    "steering_angle",
    "track_width",
    "track_length",
    "waypoints",
    "closest_waypoints",
    "is_left_of_center",
    "is_reversed",
    "closest_objects",
    "objects_location",
    "objects_left_of_center",
    "object_in_camera",
    "objects_speed",
    "objects_heading",
    "objects_distance_from_center",
    "objects_distance",
    "is_crashed",
    "is_offtrack",
    "sim_time",
};

static struct {
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
} G = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Sets up the objects every host shares. Called with the GIL held. */
static int init_globals(void)
{
    for (int k = 0; k < K_COUNT; k++) {
        G.keys[k] = PyUnicode_InternFromString(key_names[k]);
        if (!G.keys[k])
            return -1;
    }
    G.timeout_exc = PyErr_NewExceptionWithDoc(
        "trackday.RewardTimeout",
        "Raised by trackday in a reward_function that runs longer than the time limit.",
        PyExc_BaseException, NULL);
    if (!G.timeout_exc)
        return -1;
    G.sandbox_exc = PyErr_NewExceptionWithDoc(
        "trackday.SandboxError",
        "Raised by trackday's reward sandbox when a reward function tries something it forbids.",
        PyExc_PermissionError, NULL);
    if (!G.sandbox_exc)
        return -1;
    PyObject *tb = PyImport_ImportModule("traceback");
    if (!tb)
        return -1;
    G.format_exception = PyObject_GetAttrString(tb, "format_exception");
    G.format_exc_only = PyObject_GetAttrString(tb, "format_exception_only");
    Py_DECREF(tb);
    PyObject *inspect = PyImport_ImportModule("inspect");
    if (!inspect)
        return -1;
    G.signature = PyObject_GetAttrString(inspect, "signature");
    Py_DECREF(inspect);
    if (!G.format_exception || !G.format_exc_only || !G.signature)
        return -1;
    return 0;
}

/* Starts the interpreter once per process (or joins one already running, for example when
 * trackday is loaded into a Python process). Leaves the GIL released. */
static int py_global_init(td_err *err)
{
    pthread_mutex_lock(&G.mu);
    if (G.ready || G.failed) {
        int rc = G.ready ? 0 : td_err_set(err, TD_EUNSUPPORTED, "%s", G.fail_msg);
        pthread_mutex_unlock(&G.mu);
        return rc;
    }
    int ours = 0;
    if (!Py_IsInitialized()) {
        PyConfig config;
        PyConfig_InitIsolatedConfig(&config);
        config.install_signal_handlers = 0; /* Ctrl-C belongs to the trainer */
        config.parse_argv = 0;
        config.site_import = 1; /* Debian's site adds dist-packages (numpy) */
        /* Unbuffered like `python -u`: the interpreter is never finalized, so a buffered
         * print() of a reward function would be lost at exit. */
        config.buffered_stdio = 0;
        config.write_bytecode = 0; /* the sandbox's /usr is read-only */
        PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, TD_PYTHON_EXECUTABLE);
        if (!PyStatus_Exception(st))
            st = Py_InitializeFromConfig(&config);
        PyConfig_Clear(&config);
        if (PyStatus_Exception(st)) {
            G.failed = 1;
            snprintf(G.fail_msg, sizeof(G.fail_msg), "cannot start the Python interpreter: %s",
                     st.err_msg ? st.err_msg : "unknown error");
            pthread_mutex_unlock(&G.mu);
            return td_err_set(err, TD_EUNSUPPORTED, "%s", G.fail_msg);
        }
        ours = 1;
    }
    PyGILState_STATE gs = PyGILState_Ensure();
    int rc = init_globals();
    if (rc != 0) {
        PyErr_Print();
        G.failed = 1;
        snprintf(G.fail_msg, sizeof(G.fail_msg),
                 "cannot set up the Python reward host (traceback, inspect modules)");
    }
    PyGILState_Release(gs);
    if (ours)
        PyEval_SaveThread(); /* release the GIL taken by initialization: any thread may enter */
    G.ready = !G.failed;
    pthread_mutex_unlock(&G.mu);
    return G.ready ? 0 : td_err_set(err, TD_EUNSUPPORTED, "%s", G.fail_msg);
}

/* ------------------------------------------------------------------------------------ */
/* Sandbox guards (only in the sandboxed reward process)                                */
/* ------------------------------------------------------------------------------------ */

/*
 * In the sandbox the kernel already refuses what a reward function must not do; these
 * guards name it. A C audit hook (PEP 578, which Python code cannot remove) sees the
 * attempt (a socket, a file outside the libraries and the scratch directory, a process, a
 * signal), raises trackday.SandboxError there and records the first one with its line, so
 * the call fails with a message that says what was tried, even if the function catches
 * the error. os._exit and os.abort are replaced by functions that do the same.
 */
static struct {
    int enabled; /* td__py_enable_guards was called */
    int armed;   /* user code is running */
    const char *path;
    int tripped;
    int line;
    char what[400];
} GUARD;

void (*td__py_before_user_code)(void);

static int rel_path_ok(const char *p)
{
    /* A relative path stays in the working directory (the scratch) unless it climbs out. */
    return !strstr(p, "..");
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int read_allowed(const char *p)
{
    if (p[0] != '/')
        return rel_path_ok(p);
    if (strstr(p, "/.."))
        return 0;
    static const char *const ok[] = {"/usr/",       "/lib/",     "/lib64/",   "/etc/ld.so.cache",
                                     "/proc/self/", "/dev/null", "/dev/zero", "/dev/urandom",
                                     "/dev/random", "/scratch/", NULL};
    for (int i = 0; ok[i]; i++)
        if (starts_with(p, ok[i]))
            return 1;
    return GUARD.path && strcmp(p, GUARD.path) == 0;
}

static int write_allowed(const char *p)
{
    if (p[0] != '/')
        return rel_path_ok(p);
    return !strstr(p, "/..") && (starts_with(p, "/scratch/") || strcmp(p, "/dev/null") == 0);
}

/* The first line in the user's file on the current Python stack, or 0. */
static int user_line_now(void)
{
    PyFrameObject *f = PyEval_GetFrame(); /* borrowed */
    Py_XINCREF(f);
    int line = 0;
    while (f) {
        PyCodeObject *code = PyFrame_GetCode(f);
        const char *fn = code ? PyUnicode_AsUTF8(code->co_filename) : NULL;
        if (fn && GUARD.path && strcmp(fn, GUARD.path) == 0)
            line = PyFrame_GetLineNumber(f);
        Py_XDECREF(code);
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
        if (line)
            break;
    }
    Py_XDECREF(f);
    PyErr_Clear();
    return line;
}

/* Records the first forbidden attempt of this call and raises SandboxError. */
static int trip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int trip(const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!GUARD.tripped) {
        GUARD.tripped = 1;
        GUARD.line = user_line_now();
        snprintf(GUARD.what, sizeof(GUARD.what), "%s", msg);
    }
    PyErr_Format(G.sandbox_exc, "trackday's sandbox: %s", msg);
    return -1;
}

/* A path argument of an audit event as UTF-8 ("" if it is not a path). */
static const char *event_path(PyObject *args, Py_ssize_t i, char *buf, size_t cap, int *is_fd)
{
    buf[0] = 0;
    *is_fd = 0;
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) <= i)
        return buf;
    PyObject *a = PyTuple_GET_ITEM(args, i);
    if (PyLong_Check(a)) {
        *is_fd = 1;
        snprintf(buf, cap, "%ld", PyLong_AsLong(a));
    } else if (PyUnicode_Check(a)) {
        const char *u = PyUnicode_AsUTF8(a);
        snprintf(buf, cap, "%s", u ? u : "");
    } else if (PyBytes_Check(a)) {
        snprintf(buf, cap, "%s", PyBytes_AS_STRING(a));
    } else {
        PyObject *f = PyOS_FSPath(a);
        if (f && PyUnicode_Check(f)) {
            const char *u = PyUnicode_AsUTF8(f);
            snprintf(buf, cap, "%s", u ? u : "");
        }
        Py_XDECREF(f);
    }
    PyErr_Clear();
    return buf;
}

static int open_is_write(PyObject *args)
{
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 3)
        return 0;
    PyObject *mode = PyTuple_GET_ITEM(args, 1), *flags = PyTuple_GET_ITEM(args, 2);
    if (mode && PyUnicode_Check(mode)) {
        const char *m = PyUnicode_AsUTF8(mode);
        if (m && strpbrk(m, "wax+"))
            return 1;
    }
    if (flags && PyLong_Check(flags)) {
        long f = PyLong_AsLong(flags);
        PyErr_Clear();
        if (f & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND))
            return 1;
    }
    return 0;
}

static int audit_hook(const char *event, PyObject *args, void *user)
{
    (void)user;
    if (!GUARD.armed)
        return 0;
    char path[300], path2[300];
    int is_fd = 0, is_fd2 = 0;
    if (strcmp(event, "open") == 0) {
        event_path(args, 0, path, sizeof(path), &is_fd);
        int w = open_is_write(args);
        if (is_fd)
            return trip("opening file descriptor %s is not allowed", path);
        if (w && !write_allowed(path))
            return trip("writing '%s' is not allowed: a reward function may write only in its "
                        "scratch directory",
                        path);
        if (!w && !read_allowed(path))
            return trip("reading '%s' is not allowed: a reward function may read only Python's "
                        "libraries",
                        path);
        return 0;
    }
    if (starts_with(event, "socket."))
        return trip("network access (%s) is not allowed: the reward sandbox has no network", event);
    static const char *const procs[] = {
        "os.system", "subprocess.Popen", "os.exec",   "os.posix_spawn", "os.spawn",
        "os.fork",   "os.forkpty",       "pty.spawn", "os.startfile",   NULL};
    for (int i = 0; procs[i]; i++)
        if (strcmp(event, procs[i]) == 0)
            return trip("starting a process (%s) is not allowed", event);
    if (strcmp(event, "_thread.start_new_thread") == 0)
        return trip("starting a thread is not allowed");
    if (strcmp(event, "os.kill") == 0 || strcmp(event, "os.killpg") == 0 ||
        strcmp(event, "signal.pthread_kill") == 0 || strcmp(event, "signal.pidfd_send_signal") == 0)
        return trip("sending a signal (%s) is not allowed", event);
    static const char *const changes[] = {"os.remove",
                                          "os.rename",
                                          "os.rmdir",
                                          "os.mkdir",
                                          "os.chmod",
                                          "os.chown",
                                          "os.truncate",
                                          "os.link",
                                          "os.symlink",
                                          "os.utime",
                                          "shutil.rmtree",
                                          "shutil.copyfile",
                                          "shutil.copytree",
                                          "shutil.move",
                                          "os.setxattr",
                                          "os.removexattr",
                                          NULL};
    for (int i = 0; changes[i]; i++) {
        if (strcmp(event, changes[i]) != 0)
            continue;
        event_path(args, 0, path, sizeof(path), &is_fd);
        event_path(args, 1, path2, sizeof(path2), &is_fd2);
        if ((path[0] && !is_fd && !write_allowed(path)))
            return trip("changing files outside the scratch directory (%s '%s') is not allowed",
                        event, path);
        int two = strcmp(event, "os.rename") == 0 || strcmp(event, "os.link") == 0 ||
                  strcmp(event, "os.symlink") == 0 || starts_with(event, "shutil.");
        if (two && path2[0] && !is_fd2 && !write_allowed(path2))
            return trip("changing files outside the scratch directory (%s '%s') is not allowed",
                        event, path2);
    }
    return 0;
}

static PyObject *guard_exit(PyObject *self, PyObject *arg)
{
    (void)self;
    long code = arg && PyLong_Check(arg) ? PyLong_AsLong(arg) : 0;
    PyErr_Clear();
    trip("os._exit(%ld) was called: a reward function must return a number, not end the "
         "process",
         code);
    return NULL;
}

static PyObject *guard_abort(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    trip("os.abort() was called: a reward function must return a number, not end the process");
    return NULL;
}

static PyMethodDef guard_methods[] = {
    {"_exit", guard_exit, METH_O, "Replaced by trackday's reward sandbox."},
    {"abort", guard_abort, METH_NOARGS, "Replaced by trackday's reward sandbox."},
    {NULL, NULL, 0, NULL}};

int td__py_enable_guards(td_err *err)
{
    if (GUARD.enabled)
        return 0;
    if (PySys_AddAuditHook(audit_hook, NULL) != 0)
        return td_err_set(err, TD_EINTERNAL, "cannot add the sandbox's audit hook");
    int rc = 0;
    PyGILState_STATE gs = PyGILState_Ensure();
    static const char *const mods[] = {"os", "posix"};
    for (int m = 0; m < 2 && rc == 0; m++) {
        PyObject *mod = PyImport_ImportModule(mods[m]);
        for (int i = 0; mod && guard_methods[i].ml_name && rc == 0; i++) {
            PyObject *fn = PyCFunction_New(&guard_methods[i], NULL);
            if (!fn || PyObject_SetAttrString(mod, guard_methods[i].ml_name, fn) != 0)
                rc = -1;
            Py_XDECREF(fn);
        }
        if (!mod)
            rc = -1;
        Py_XDECREF(mod);
    }
    if (rc) {
        PyErr_Print();
        rc = td_err_set(err, TD_EINTERNAL, "cannot replace os._exit in the sandbox");
    }
    PyGILState_Release(gs);
    GUARD.enabled = rc == 0;
    return rc;
}

/* Starts watching user code for forbidden attempts. */
static void guard_arm(const char *path)
{
    GUARD.path = path;
    GUARD.tripped = 0;
    GUARD.line = 0;
    GUARD.what[0] = 0;
    GUARD.armed = GUARD.enabled;
}

static void guard_disarm(void)
{
    GUARD.armed = 0;
}

/* ------------------------------------------------------------------------------------ */
/* The host                                                                             */
/* ------------------------------------------------------------------------------------ */

#define WP_CACHE 4

/* The module-level code limit (td_reward_set_load_timeout), in milliseconds. */
static atomic_long load_timeout_ms = (long)(TD_REWARD_DEFAULT_LOAD_TIMEOUT_S * 1000);

void td_reward_set_load_timeout(double seconds)
{
    atomic_store(&load_timeout_ms, (long)(seconds * 1000));
}

void td__py_set_timeout(td__pyhost *h, double seconds);

typedef struct wp_entry {
    const double *ptr; /* the waypoint array this list mirrors */
    int n;
    double probe[3][2]; /* its first, middle and last points when the list was built */
    PyObject *items;    /* tuple of the (x, y) tuples: owns the originals */
    PyObject *list;     /* what params['waypoints'] holds */
} wp_entry;

struct td__pyhost {
    char path[TD_REWARD_PATH_LEN];
    char *source; /* the file's text, for source lines in messages */
    size_t source_len;
    PyObject *module, *func;
    PyObject *tmpl;             /* the dict every call copies (build_template) */
    PyObject *tmpl_defaults[8]; /* its object-key values (borrowed), checked after each call */
    int warned_objects;
    wp_entry wp[WP_CACHE];
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

void td__py_set_progress(td__pyhost *h, _Atomic unsigned *calls, _Atomic int *car)
{
    h->progress_calls = calls;
    h->progress_car = car;
}

double td__reward_load_timeout(void)
{
    return atomic_load(&load_timeout_ms) / 1000.0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Copies line `line` (1-based) of the source into buf without its newline and leading
 * whitespace; "" if out of range. */
static void source_line(const td__pyhost *h, int line, char *buf, size_t cap)
{
    buf[0] = 0;
    if (!h || !h->source || line <= 0)
        return;
    const char *s = h->source, *end = h->source + h->source_len;
    for (int l = 1; l < line && s < end; l++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            return;
        s = nl + 1;
    }
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    size_t n = 0;
    while (s + n < end && s[n] != '\n' && s[n] != '\r')
        n++;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = 0;
}

/* str(obj) into buf (for messages); "?" on failure. Clears any Python error. */
static void py_str(PyObject *obj, char *buf, size_t cap)
{
    snprintf(buf, cap, "?");
    if (!obj)
        return;
    PyObject *s = PyObject_Str(obj);
    if (s) {
        const char *u = PyUnicode_AsUTF8(s);
        if (u)
            snprintf(buf, cap, "%s", u);
        Py_DECREF(s);
    }
    PyErr_Clear();
}

static void py_repr(PyObject *obj, char *buf, size_t cap)
{
    snprintf(buf, cap, "?");
    if (!obj)
        return;
    PyObject *s = PyObject_Repr(obj);
    if (s) {
        const char *u = PyUnicode_AsUTF8(s);
        if (u)
            snprintf(buf, cap, "%s", u);
        Py_DECREF(s);
    }
    PyErr_Clear();
}

/* "".join(fn(args...)) into buf. */
static void join_lines(PyObject *list, char *buf, size_t cap)
{
    buf[0] = 0;
    if (!list || !PyList_Check(list))
        return;
    size_t used = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        const char *u = PyUnicode_AsUTF8(PyList_GET_ITEM(list, i));
        if (!u)
            continue;
        size_t n = strlen(u);
        if (used + n >= cap)
            n = cap - 1 - used;
        memcpy(buf + used, u, n);
        used += n;
        buf[used] = 0;
        if (used + 1 >= cap)
            break;
    }
    PyErr_Clear();
}

/* ---- watchdog ------------------------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
    td__pyhost *h = arg;
    unsigned long last_seq = 0, fired_seq = (unsigned long)-1;
    double seq_since = td_time_now(), fired_at = 0;
    pthread_mutex_lock(&h->wd_mu);
    while (!h->wd_stop) {
        if (!atomic_load(&h->active) || h->timeout_s <= 0) {
            /* Sleep until a batch starts. idle is published before active is read again,
             * and watchdog_arm stores active before reading idle (both sequentially
             * consistent), so one of the two always sees the other: no lost wake-up. */
            atomic_store(&h->wd_idle, 1);
            if (!atomic_load(&h->active) || h->timeout_s <= 0)
                pthread_cond_wait(&h->wd_cv, &h->wd_mu);
            atomic_store(&h->wd_idle, 0);
            last_seq = atomic_load(&h->seq);
            seq_since = td_time_now();
            continue;
        }
        double period = h->timeout_s / 10;
        if (period < 0.002)
            period = 0.002;
        if (period > 0.1)
            period = 0.1;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)(period * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&h->wd_cv, &h->wd_mu, &ts);
        if (h->wd_stop)
            break;
        unsigned long seq = atomic_load(&h->seq);
        double now = td_time_now();
        if (seq != last_seq) {
            last_seq = seq;
            seq_since = now;
            continue;
        }
        if (!atomic_load(&h->in_call) || now - seq_since < h->timeout_s)
            continue;
        /* Raise again, once per limit, if the function caught the first one (a bare except). */
        if (seq == fired_seq && now - fired_at < h->timeout_s)
            continue;
        /* The same call has run past the limit: raise in the caller's thread. Taking the GIL
         * makes the interpreter thread pause at its next check (every 5 ms). */
        fired_seq = seq;
        fired_at = now;
        pthread_mutex_unlock(&h->wd_mu);
        PyGILState_STATE gs = PyGILState_Ensure();
        if (atomic_load(&h->seq) == seq && atomic_load(&h->in_call)) {
            PyThreadState_SetAsyncExc(h->tid, G.timeout_exc);
            atomic_store(&h->fired, 1);
        }
        PyGILState_Release(gs);
        pthread_mutex_lock(&h->wd_mu);
    }
    pthread_mutex_unlock(&h->wd_mu);
    return NULL;
}

/* Starts watching a batch. Signals the watchdog only when it sleeps between batches: while
 * batches follow each other it polls, and waking it for every batch would cost a context
 * switch per batch. */
static void watchdog_arm(td__pyhost *h)
{
    h->tid = PyThread_get_thread_ident();
    atomic_store(&h->fired, 0);
    atomic_store(&h->active, 1);
    if (atomic_load(&h->wd_idle)) {
        pthread_mutex_lock(&h->wd_mu);
        pthread_cond_signal(&h->wd_cv);
        pthread_mutex_unlock(&h->wd_mu);
    }
}

/* Called with the GIL held: clears an async exception the watchdog may have set too late. */
static void watchdog_disarm(td__pyhost *h)
{
    atomic_store(&h->active, 0);
    if (atomic_load(&h->fired)) {
        PyThreadState_SetAsyncExc(h->tid, NULL);
        atomic_store(&h->fired, 0);
    }
}

/* ---- errors ------------------------------------------------------------------------- */

/* Walks a traceback to the last frame in the user's file; returns its line or 0. */
static int user_line_of(const td__pyhost *h, PyObject *tb)
{
    int line = 0;
    PyObject *cur = tb;
    Py_XINCREF(cur);
    while (cur && cur != Py_None) {
        PyObject *frame = PyObject_GetAttrString(cur, "tb_frame");
        PyObject *code = frame ? PyObject_GetAttrString(frame, "f_code") : NULL;
        PyObject *fname = code ? PyObject_GetAttrString(code, "co_filename") : NULL;
        const char *fn = fname ? PyUnicode_AsUTF8(fname) : NULL;
        if (fn && strcmp(fn, h->path) == 0) {
            PyObject *ln = PyObject_GetAttrString(cur, "tb_lineno");
            if (ln) {
                line = (int)PyLong_AsLong(ln);
                Py_DECREF(ln);
            }
        }
        Py_XDECREF(fname);
        Py_XDECREF(code);
        Py_XDECREF(frame);
        PyObject *next = PyObject_GetAttrString(cur, "tb_next");
        Py_DECREF(cur);
        cur = next;
    }
    Py_XDECREF(cur);
    PyErr_Clear();
    return line;
}

/* A hint for the mistakes learners make most, or "". */
static const char *exception_hint(PyObject *type, PyObject *value)
{
    static char hint[512];
    hint[0] = 0;
    if (PyErr_GivenExceptionMatches(type, PyExc_ModuleNotFoundError) && value) {
        PyObject *name = PyObject_GetAttrString(value, "name");
        const char *n = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
        char top[64] = "";
        if (n) {
            snprintf(top, sizeof(top), "%s", n);
            char *dot = strchr(top, '.');
            if (dot)
                *dot = 0;
        }
        if (strcmp(top, "scipy") == 0 || strcmp(top, "shapely") == 0 || strcmp(top, "numpy") == 0)
            snprintf(hint, sizeof(hint),
                     "\nhint: DeepRacer allows %s, but it is not installed for the system "
                     "Python: apt-get install python3-%s",
                     top, top);
        else if (top[0])
            snprintf(hint, sizeof(hint),
                     "\nhint: DeepRacer allows only math, random, numpy, scipy and shapely");
        Py_XDECREF(name);
        PyErr_Clear();
        return hint;
    }
    if (PyErr_GivenExceptionMatches(type, PyExc_KeyError) && value) {
        PyObject *args = PyObject_GetAttrString(value, "args");
        PyObject *key = args && PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0
                            ? PyTuple_GET_ITEM(args, 0)
                            : NULL;
        const char *k = key && PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        int known = 0;
        for (int i = 0; k && i < K_COUNT; i++)
            known |= strcmp(k, key_names[i]) == 0;
        if (k && !known)
            snprintf(hint, sizeof(hint),
                     "\nhint: params has no key '%s'; the keys are listed in docs/rewards.md "
                     "(all_wheels_on_track, x, y, heading, distance_from_center, progress, "
                     "steps, speed, steering_angle, track_width, waypoints, ...)",
                     k);
        Py_XDECREF(args);
        PyErr_Clear();
    }
    return hint;
}

/*
 * Turns the pending Python exception into a td_reward_error. kind is TD_REWARD_ERR_LOAD or
 * TD_REWARD_ERR_EXCEPTION; a RewardTimeout becomes TD_REWARD_ERR_TIMEOUT. `what` says when
 * ("at step 12 (car 3)" or "while loading").
 */
static int report_exception(td__pyhost *h, td_reward_error_kind kind, const td_params *p, int car,
                            td_reward_error *rerr, td_err *err)
{
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value && tb)
        PyException_SetTraceback(value, tb);
    int timeout = type && PyErr_GivenExceptionMatches(type, G.timeout_exc);

    char trace[TD_REWARD_TRACE_LEN];
    trace[0] = 0;
    if (type && G.format_exception) {
        PyObject *lines = PyObject_CallFunctionObjArgs(
            G.format_exception, type, value ? value : Py_None, tb ? tb : Py_None, NULL);
        join_lines(lines, trace, sizeof(trace));
        Py_XDECREF(lines);
        PyErr_Clear();
    }
    int line = user_line_of(h, tb);
    char src[256], what[512], when[96];
    source_line(h, line, src, sizeof(src));
    char exc_name[128] = "Exception";
    if (type && PyType_Check(type))
        snprintf(exc_name, sizeof(exc_name), "%s", ((PyTypeObject *)type)->tp_name);
    py_str(value, what, sizeof(what));
    if (p)
        snprintf(when, sizeof(when), "at step %d (car %d)", p->steps, car);
    else
        snprintf(when, sizeof(when), "while loading the file");
    const char *hint = timeout ? "" : exception_hint(type, value);

    char where[TD_REWARD_PATH_LEN + 32];
    if (line > 0)
        snprintf(where, sizeof(where), "%s:%d", h->path, line);
    else
        snprintf(where, sizeof(where), "%s", h->path);
    int code;
    if (timeout) {
        code = td__reward_fail(rerr, err, TD_ETIMEOUT, TD_REWARD_ERR_TIMEOUT, p, car, 0,
                               "%s: reward_function ran longer than the %.3g s limit %s and "
                               "was stopped%s%s%s",
                               where, h->timeout_s, when, src[0] ? " here:\n    " : "", src,
                               "\nhint: a reward function runs 15 times a second per car; "
                               "avoid loops that may not end");
    } else {
        code = td__reward_fail(rerr, err, TD_EREWARD, kind, p, car, 0, "%s: %s: %s %s%s%s%s", where,
                               exc_name, what, when, src[0] ? "\n    " : "", src, hint);
    }
    if (rerr) {
        snprintf(rerr->traceback, sizeof(rerr->traceback), "%s", trace);
        if (line > 0) {
            snprintf(rerr->file, sizeof(rerr->file), "%s", h->path);
            rerr->line = line;
        }
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return code;
}

/* A compile error: "FILE:LINE:COL: SyntaxError: msg" then the line and a caret under it. */
static int report_syntax(td__pyhost *h, td_reward_error *rerr, td_err *err)
{
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (!value || !PyErr_GivenExceptionMatches(type, PyExc_SyntaxError)) {
        PyErr_Restore(type, value, tb);
        return report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
    }
    long lineno = 0, offset = 0, end_offset = 0, end_lineno = 0;
    char msg[256] = "invalid syntax", text[512] = "";
    PyObject *o;
    if ((o = PyObject_GetAttrString(value, "lineno")) && PyLong_Check(o))
        lineno = PyLong_AsLong(o);
    Py_XDECREF(o);
    if ((o = PyObject_GetAttrString(value, "offset")) && PyLong_Check(o))
        offset = PyLong_AsLong(o);
    Py_XDECREF(o);
    if ((o = PyObject_GetAttrString(value, "end_offset")) && PyLong_Check(o))
        end_offset = PyLong_AsLong(o);
    Py_XDECREF(o);
    if ((o = PyObject_GetAttrString(value, "end_lineno")) && PyLong_Check(o))
        end_lineno = PyLong_AsLong(o);
    Py_XDECREF(o);
    if ((o = PyObject_GetAttrString(value, "msg")) && PyUnicode_Check(o))
        py_str(o, msg, sizeof(msg));
    Py_XDECREF(o);
    if ((o = PyObject_GetAttrString(value, "text")) && PyUnicode_Check(o))
        py_str(o, text, sizeof(text));
    Py_XDECREF(o);
    PyErr_Clear();

    /* The offending line with its indentation removed, and a caret line under it that keeps
     * tabs so it lines up. */
    size_t tl = strlen(text);
    while (tl > 0 && (text[tl - 1] == '\n' || text[tl - 1] == '\r'))
        text[--tl] = 0;
    size_t lead = 0;
    while (text[lead] == ' ' || text[lead] == '\t')
        lead++;
    char caret[600];
    size_t c = 0;
    long col = offset > 0 ? offset - 1 : 0; /* 0-based column in text */
    for (long i = (long)lead; i < col && i < (long)tl && c + 2 < sizeof(caret); i++)
        caret[c++] = text[i] == '\t' ? '\t' : ' ';
    long width = 1;
    if (end_lineno == lineno && end_offset > offset)
        width = end_offset - offset;
    for (long i = 0; i < width && c + 2 < sizeof(caret); i++)
        caret[c++] = '^';
    caret[c] = 0;

    char exc_name[64] = "SyntaxError";
    if (type && PyType_Check(type))
        snprintf(exc_name, sizeof(exc_name), "%s", ((PyTypeObject *)type)->tp_name);
    int code = td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_LOAD, NULL, -1, 0,
                               "%s:%ld:%ld: %s: %s\n    %s\n    %s", h->path, lineno, offset,
                               exc_name, msg, text + lead, caret);
    if (rerr) {
        snprintf(rerr->file, sizeof(rerr->file), "%s", h->path);
        rerr->line = (int)lineno;
        snprintf(rerr->traceback, sizeof(rerr->traceback),
                 "  File \"%s\", line %ld\n    %s\n    %s\n%s: %s\n", h->path, lineno, text + lead,
                 caret, exc_name, msg);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return code;
}

/* The first forbidden attempt of the call (GUARD) as the error of the call. */
static int report_guard(td__pyhost *h, const td_params *p, int car, td_reward_error *rerr,
                        td_err *err)
{
    PyErr_Clear();
    char src[256], when[96], where[TD_REWARD_PATH_LEN + 32];
    source_line(h, GUARD.line, src, sizeof(src));
    if (p)
        snprintf(when, sizeof(when), "at step %d (car %d)", p->steps, car);
    else
        snprintf(when, sizeof(when), "while loading the file");
    if (GUARD.line > 0)
        snprintf(where, sizeof(where), "%s:%d", h->path, GUARD.line);
    else
        snprintf(where, sizeof(where), "%s", h->path);
    int code = td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_SANDBOX, p, car, 0,
                               "%s: the sandbox stopped the reward function %s: %s%s%s", where,
                               when, GUARD.what, src[0] ? "\n    " : "", src);
    if (rerr && GUARD.line > 0) {
        snprintf(rerr->file, sizeof(rerr->file), "%s", h->path);
        rerr->line = GUARD.line;
    }
    GUARD.tripped = 0;
    return code;
}

/* ---- params ------------------------------------------------------------------------- */

/* The dict every call copies: every key, in DeepRacer's order, with the object keys at
 * DeepRacer's time-trial defaults (closest_objects [0, 0], empty lists, object_in_camera
 * False); a step with objects overwrites them. */
static PyObject *build_template(void)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (int k = 0; k < K_COUNT; k++) {
        PyObject *v;
        switch (k) {
        case K_CLOSEST_OBJECTS:
            v = Py_BuildValue("[ii]", 0, 0);
            break;
        case K_OBJECTS_LOCATION:
        case K_OBJECTS_LEFT_OF_CENTER:
        case K_OBJECTS_SPEED:
        case K_OBJECTS_HEADING:
        case K_OBJECTS_DISTANCE_FROM_CENTER:
        case K_OBJECTS_DISTANCE:
            v = PyList_New(0);
            break;
        case K_OBJECT_IN_CAMERA:
            v = Py_False;
            Py_INCREF(v);
            break;
        default:
            v = Py_None;
            Py_INCREF(v);
        }
        if (!v || PyDict_SetItem(d, G.keys[k], v) != 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

static const int object_keys[8] = {
    K_CLOSEST_OBJECTS, K_OBJECTS_LOCATION, K_OBJECTS_LEFT_OF_CENTER,       K_OBJECT_IN_CAMERA,
    K_OBJECTS_SPEED,   K_OBJECTS_HEADING,  K_OBJECTS_DISTANCE_FROM_CENTER, K_OBJECTS_DISTANCE};

static void remember_defaults(td__pyhost *h)
{
    for (int i = 0; i < 8; i++)
        h->tmpl_defaults[i] = PyDict_GetItem(h->tmpl, G.keys[object_keys[i]]);
}

/* The template's default values are shared by every call's dict (as waypoints are): if the
 * function changed one (appended to params['objects_location'] in a time trial), the
 * template gets a fresh default, as DeepRacer's deep copy would give. */
static int defaults_restore(td__pyhost *h, const td_params *p)
{
    int changed = 0;
    for (int i = 0; i < 8; i++) {
        PyObject *v = h->tmpl_defaults[i];
        if (object_keys[i] == K_OBJECT_IN_CAMERA)
            continue; /* a bool: immutable */
        if (object_keys[i] == K_CLOSEST_OBJECTS) {
            if (PyList_GET_SIZE(v) == 2 && PyLong_Check(PyList_GET_ITEM(v, 0)) &&
                PyLong_Check(PyList_GET_ITEM(v, 1)) && PyLong_AsLong(PyList_GET_ITEM(v, 0)) == 0 &&
                PyLong_AsLong(PyList_GET_ITEM(v, 1)) == 0)
                continue;
        } else if (PyList_GET_SIZE(v) == 0) {
            continue;
        }
        changed = 1;
    }
    if (!changed)
        return 0;
    PyObject *fresh = build_template();
    if (!fresh)
        return -1;
    Py_DECREF(h->tmpl);
    h->tmpl = fresh;
    remember_defaults(h);
    if (!h->warned_objects) {
        h->warned_objects = 1;
        TD_WARN("%s: reward_function changed an object key of params at step %d; trackday "
                "restored it (DeepRacer passes a fresh copy each step)",
                h->path, p->steps);
    }
    return 0;
}

/* Three points of a waypoint array, to tell a new array at a reused address from the old. */
static void wp_probe(const double *wp, int n, double out[3][2])
{
    int idx[3] = {0, n / 2, n - 1};
    for (int k = 0; k < 3; k++) {
        out[k][0] = n > 0 ? wp[2 * idx[k]] : 0;
        out[k][1] = n > 0 ? wp[2 * idx[k] + 1] : 0;
    }
}

/* The shared list for a waypoint array (built at the first sight of the array). Borrowed. */
static wp_entry *waypoints_entry(td__pyhost *h, const double *wp, int n)
{
    double probe[3][2];
    wp_probe(wp, n, probe);
    for (int i = 0; i < h->n_wp; i++) {
        wp_entry *e = &h->wp[i];
        if (e->ptr != wp || e->n != n)
            continue;
        if (memcmp(e->probe, probe, sizeof(probe)) == 0)
            return e;
        /* The same address now holds another track (freed and reallocated): rebuild. */
        Py_CLEAR(e->list);
        Py_CLEAR(e->items);
        *e = h->wp[--h->n_wp];
        memset(&h->wp[h->n_wp], 0, sizeof(h->wp[0]));
        break;
    }
    PyObject *items = PyTuple_New(n > 0 ? n : 0);
    if (!items)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *t = Py_BuildValue("(dd)", wp[2 * i], wp[2 * i + 1]);
        if (!t) {
            Py_DECREF(items);
            return NULL;
        }
        PyTuple_SET_ITEM(items, i, t);
    }
    PyObject *list = PySequence_List(items);
    if (!list) {
        Py_DECREF(items);
        return NULL;
    }
    int slot = h->n_wp < WP_CACHE ? h->n_wp++ : WP_CACHE - 1;
    if (slot == WP_CACHE - 1 && h->wp[slot].list) {
        Py_DECREF(h->wp[slot].list);
        Py_DECREF(h->wp[slot].items);
    }
    h->wp[slot] = (wp_entry){.ptr = wp, .n = n, .items = items, .list = list};
    memcpy(h->wp[slot].probe, probe, sizeof(probe));
    return &h->wp[slot];
}

/* Restores a waypoints list the reward function changed (DeepRacer gives a fresh copy). */
static int waypoints_restore(td__pyhost *h, wp_entry *e, const td_params *p)
{
    PyObject *l = e->list;
    Py_ssize_t n = PyTuple_GET_SIZE(e->items);
    if (PyList_GET_SIZE(l) == n &&
        (n == 0 || memcmp(((PyListObject *)l)->ob_item, &PyTuple_GET_ITEM(e->items, 0),
                          (size_t)n * sizeof(PyObject *)) == 0))
        return 0;
    PyObject *fresh = PySequence_List(e->items);
    if (!fresh)
        return -1;
    Py_DECREF(e->list);
    e->list = fresh;
    if (!h->warned_waypoints) {
        h->warned_waypoints = 1;
        TD_WARN("%s: reward_function changed params['waypoints'] at step %d; trackday restored "
                "it (DeepRacer passes a fresh copy each step: copy it with list(...) before "
                "changing it)",
                h->path, p->steps);
    }
    return 0;
}

static inline int set_take(PyObject *d, int k, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyDict_SetItem(d, G.keys[k], v);
    Py_DECREF(v);
    return rc;
}

static inline PyObject *py_bool(int b)
{
    PyObject *v = b ? Py_True : Py_False;
    Py_INCREF(v);
    return v;
}

static PyObject *int_pair(int a, int b)
{
    PyObject *l = PyList_New(2);
    if (!l)
        return NULL;
    PyObject *x = PyLong_FromLong(a), *y = PyLong_FromLong(b);
    if (!x || !y) {
        Py_XDECREF(x);
        Py_XDECREF(y);
        Py_DECREF(l);
        return NULL;
    }
    PyList_SET_ITEM(l, 0, x);
    PyList_SET_ITEM(l, 1, y);
    return l;
}

static PyObject *float_list(const double *v, int n)
{
    PyObject *l = PyList_New(n);
    if (!l)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *f = PyFloat_FromDouble(v[i]);
        if (!f) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, f);
    }
    return l;
}

/* The eight object keys of a step with objects: positions as [x, y] lists, as DeepRacer's
 * track_data.py builds them. The template's empty lists are shared and never changed: each
 * list here is new. */
static int set_objects(PyObject *d, const td_params *p)
{
    int n = p->n_objects > TD_MAX_OBJECTS ? TD_MAX_OBJECTS : p->n_objects;
    PyObject *loc = PyList_New(n), *left = PyList_New(n);
    int rc = loc && left ? 0 : -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        PyObject *xy = Py_BuildValue("[dd]", p->objects_location[i][0], p->objects_location[i][1]);
        if (!xy) {
            rc = -1;
            break;
        }
        PyList_SET_ITEM(loc, i, xy);
        PyList_SET_ITEM(left, i, py_bool(p->objects_left_of_center[i]));
    }
    /* set_take consumes the reference even on failure; a partly filled list holds NULLs,
     * which list_dealloc skips. */
    if (rc) {
        Py_XDECREF(loc);
        Py_XDECREF(left);
        return -1;
    }
    if (set_take(d, K_CLOSEST_OBJECTS, int_pair(p->closest_objects[0], p->closest_objects[1])) ||
        set_take(d, K_OBJECTS_LOCATION, loc) || set_take(d, K_OBJECTS_LEFT_OF_CENTER, left) ||
        set_take(d, K_OBJECT_IN_CAMERA, py_bool(p->object_in_camera)) ||
        set_take(d, K_OBJECTS_SPEED, float_list(p->objects_speed, n)) ||
        set_take(d, K_OBJECTS_HEADING, float_list(p->objects_heading, n)) ||
        set_take(d, K_OBJECTS_DISTANCE_FROM_CENTER,
                 float_list(p->objects_distance_from_center, n)) ||
        set_take(d, K_OBJECTS_DISTANCE, float_list(p->objects_distance, n)))
        return -1;
    return 0;
}

/* A fresh params dict for one call; *wpe is the waypoints entry it shares. New reference. */
static PyObject *build_params(td__pyhost *h, const td_params *p, wp_entry **wpe)
{
    *wpe = waypoints_entry(h, p->waypoints, p->waypoints ? p->n_waypoints : 0);
    if (!*wpe)
        return NULL;
    PyObject *d = PyDict_Copy(h->tmpl);
    if (!d)
        return NULL;
    if (PyDict_SetItem(d, G.keys[K_WAYPOINTS], (*wpe)->list) ||
        set_take(d, K_X, PyFloat_FromDouble(p->x)) || set_take(d, K_Y, PyFloat_FromDouble(p->y)) ||
        set_take(d, K_HEADING, PyFloat_FromDouble(p->heading)) ||
        set_take(d, K_SPEED, PyFloat_FromDouble(p->speed)) ||
        set_take(d, K_STEERING_ANGLE, PyFloat_FromDouble(p->steering_angle)) ||
        set_take(d, K_PROGRESS, PyFloat_FromDouble(p->progress)) ||
        set_take(d, K_STEPS, PyFloat_FromDouble((double)p->steps)) || /* 1.0, 2.0: DeepRacer's */
        set_take(d, K_TRACK_LENGTH, PyFloat_FromDouble(p->track_length)) ||
        set_take(d, K_TRACK_WIDTH, PyFloat_FromDouble(p->track_width)) ||
        set_take(d, K_CLOSEST_WAYPOINTS,
                 int_pair(p->closest_waypoints[0], p->closest_waypoints[1])) ||
        set_take(d, K_DISTANCE_FROM_CENTER, PyFloat_FromDouble(p->distance_from_center)) ||
        set_take(d, K_IS_LEFT_OF_CENTER, py_bool(p->is_left_of_center)) ||
        set_take(d, K_ALL_WHEELS_ON_TRACK, py_bool(p->all_wheels_on_track)) ||
        set_take(d, K_IS_OFFTRACK, py_bool(p->is_offtrack)) ||
        set_take(d, K_IS_CRASHED, py_bool(p->is_crashed)) ||
        set_take(d, K_IS_REVERSED, py_bool(p->is_reversed)) ||
        (p->n_objects > 0 && set_objects(d, p)) ||
        set_take(d, K_PROJECTION_DISTANCE, PyFloat_FromDouble(p->projection_distance)) ||
        set_take(d, K_SIM_TIME, PyFloat_FromDouble(p->sim_time))) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* float() of the result, as DeepRacer does, with messages for the usual mistakes. */
static int convert_result(td__pyhost *h, PyObject *res, const td_params *p, int car, double *out,
                          td_reward_error *rerr, td_err *err)
{
    if (PyFloat_Check(res)) { /* float and its subclasses (numpy.float64) */
        *out = PyFloat_AS_DOUBLE(res);
        return 0;
    }
    if (res == Py_None)
        return td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_VALUE, p, car, 0,
                               "%s: reward_function returned None at step %d (car %d): it must "
                               "return a number (is a `return` missing on some path?)",
                               h->path, p->steps, car);
    PyObject *f = PyNumber_Float(res); /* ints, bools, numpy scalars, and str as float() */
    if (!f) {
        PyErr_Clear();
        char r[128];
        py_repr(res, r, sizeof(r));
        return td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_VALUE, p, car, 0,
                               "%s: reward_function returned %s (a %s) at step %d (car %d), "
                               "which is not a number: float() cannot convert it",
                               h->path, r, Py_TYPE(res)->tp_name, p->steps, car);
    }
    *out = PyFloat_AS_DOUBLE(f);
    Py_DECREF(f);
    if ((PyUnicode_Check(res) || PyBytes_Check(res)) && !h->warned_string) {
        h->warned_string = 1;
        char r[128];
        py_repr(res, r, sizeof(r));
        TD_WARN("%s: reward_function returned the string %s at step %d; DeepRacer's float() "
                "accepts it, but return a number",
                h->path, r, p->steps);
    }
    return 0;
}

int td__py_batch(td__pyhost *h, const td_params *params, int n, float *out_f, double *out_d,
                 td_reward_error *rerr, td_err *err)
{
    int rc = 0, i = 0;
    PyGILState_STATE gs = PyGILState_Ensure();
    watchdog_arm(h);
    for (; i < n; i++) {
        const td_params *p = &params[i];
        wp_entry *wpe = NULL;
        PyObject *d = build_params(h, p, &wpe);
        if (!d) {
            rc = report_exception(h, TD_REWARD_ERR_EXCEPTION, p, i, rerr, err);
            break;
        }
        atomic_fetch_add_explicit(&h->seq, 1, memory_order_relaxed);
        if (h->progress_calls) {
            atomic_store_explicit(h->progress_car, i, memory_order_relaxed);
            atomic_fetch_add_explicit(h->progress_calls, 1, memory_order_release);
        }
        atomic_store_explicit(&h->in_call, 1, memory_order_relaxed);
        guard_arm(h->path);
        PyObject *res = PyObject_CallOneArg(h->func, d);
        guard_disarm();
        atomic_store_explicit(&h->in_call, 0, memory_order_relaxed);
        Py_DECREF(d);
        if (GUARD.tripped) {
            Py_XDECREF(res);
            rc = report_guard(h, p, i, rerr, err);
            waypoints_restore(h, wpe, p);
            break;
        }
        if (!res) {
            rc = report_exception(h, TD_REWARD_ERR_EXCEPTION, p, i, rerr, err);
            waypoints_restore(h, wpe, p);
            break;
        }
        if (waypoints_restore(h, wpe, p) != 0 || defaults_restore(h, p) != 0) {
            Py_DECREF(res);
            rc = report_exception(h, TD_REWARD_ERR_EXCEPTION, p, i, rerr, err);
            break;
        }
        double v;
        rc = convert_result(h, res, p, i, &v, rerr, err);
        Py_DECREF(res);
        if (rc == 0)
            rc = td__reward_check_value(v, p, i, h->path, rerr, err);
        if (rc)
            break;
        if (out_f)
            out_f[i] = (float)v;
        if (out_d)
            out_d[i] = v;
    }
    watchdog_disarm(h);
    PyGILState_Release(gs);
    for (; rc && i < n; i++) {
        if (out_f)
            out_f[i] = 0;
        if (out_d)
            out_d[i] = 0;
    }
    return rc;
}

/* ---- load ----------------------------------------------------------------------------- */

/* Names of the top-level functions of the module, for the "missing" message. */
static void list_functions(PyObject *dict, char *buf, size_t cap)
{
    buf[0] = 0;
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    size_t used = 0;
    while (PyDict_Next(dict, &pos, &k, &v)) {
        if (!PyFunction_Check(v) || !PyUnicode_Check(k))
            continue;
        const char *name = PyUnicode_AsUTF8(k);
        if (!name)
            continue;
        int w = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", name);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
    PyErr_Clear();
}

/* Finds reward_function and checks that it can be called with one argument. */
static int check_function(td__pyhost *h, PyObject *dict, td_reward_error *rerr, td_err *err)
{
    PyObject *f = PyDict_GetItemString(dict, "reward_function"); /* borrowed */
    if (!f) {
        char names[512];
        list_functions(dict, names, sizeof(names));
        return td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_LOAD, NULL, -1, 0,
                               "%s: no function named reward_function: DeepRacer calls "
                               "reward_function(params) at every step, so define it at the "
                               "top level of the file%s%s%s",
                               h->path, names[0] ? " (functions found: " : "", names,
                               names[0] ? ")" : "");
    }
    int line = 0;
    PyObject *code = PyObject_GetAttrString(f, "__code__");
    if (code) {
        PyObject *ln = PyObject_GetAttrString(code, "co_firstlineno");
        if (ln)
            line = (int)PyLong_AsLong(ln);
        Py_XDECREF(ln);
        Py_DECREF(code);
    }
    PyErr_Clear();
    if (!PyCallable_Check(f)) {
        char r[128];
        py_repr(f, r, sizeof(r));
        return td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_LOAD, NULL, -1, 0,
                               "%s: reward_function is %s (a %s), not a function: define it "
                               "with `def reward_function(params):`",
                               h->path, r, Py_TYPE(f)->tp_name);
    }
    /* inspect.signature(f).bind(None) raises TypeError unless one argument fits. */
    PyObject *sig = PyObject_CallOneArg(G.signature, f);
    PyObject *bound = NULL;
    if (sig) {
        PyObject *bind = PyObject_GetAttrString(sig, "bind");
        if (bind) {
            bound = PyObject_CallOneArg(bind, Py_None);
            Py_DECREF(bind);
        }
    }
    int rc = 0;
    if (sig && !bound) {
        PyErr_Clear(); /* the TypeError of bind; the message says it better */
        char s[256], src[256];
        py_str(sig, s, sizeof(s));
        source_line(h, line, src, sizeof(src));
        rc = td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_LOAD, NULL, -1, 0,
                             "%s:%d: reward_function%s cannot be called with one argument: "
                             "DeepRacer calls reward_function(params)%s%s",
                             h->path, line, s, src[0] ? "\n    " : "", src);
        if (rerr) {
            snprintf(rerr->file, sizeof(rerr->file), "%s", h->path);
            rerr->line = line;
        }
    }
    PyErr_Clear(); /* builtins without a signature: accept them */
    Py_XDECREF(bound);
    Py_XDECREF(sig);
    if (rc == 0) {
        h->func = f;
        Py_INCREF(f);
    }
    return rc;
}

/* Puts the source into linecache, so tracebacks show its lines without opening the file
 * (which the sandbox does not contain). */
static void linecache_put(td__pyhost *h)
{
    PyObject *lc = PyImport_ImportModule("linecache");
    PyObject *cache = lc ? PyObject_GetAttrString(lc, "cache") : NULL;
    PyObject *text = PyUnicode_DecodeUTF8(h->source, (Py_ssize_t)h->source_len, "replace");
    PyObject *lines = text ? PyUnicode_Splitlines(text, 1) : NULL;
    PyObject *entry =
        lines ? Py_BuildValue("(nOOs)", (Py_ssize_t)h->source_len, Py_None, lines, h->path) : NULL;
    if (cache && entry)
        PyObject_SetItem(cache, PyUnicode_FromString(h->path), entry);
    Py_XDECREF(entry);
    Py_XDECREF(lines);
    Py_XDECREF(text);
    Py_XDECREF(cache);
    Py_XDECREF(lc);
    PyErr_Clear();
}

static int load_module(td__pyhost *h, const td_track *track, td_reward_error *rerr, td_err *err)
{
    linecache_put(h);
    PyObject *code = Py_CompileString(h->source, h->path, Py_file_input);
    if (!code)
        return report_syntax(h, rerr, err);
    char modname[128];
    /* A longer file name gives a cut module name, seen only in tracebacks. */
    if (snprintf(modname, sizeof(modname), "%s", base_name(h->path)) >= (int)sizeof(modname))
        modname[sizeof(modname) - 1] = '\0';
    char *dot = strrchr(modname, '.');
    if (dot)
        *dot = 0;
    h->module = PyModule_New(modname);
    if (!h->module) {
        Py_DECREF(code);
        return report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
    }
    PyObject *dict = PyModule_GetDict(h->module); /* borrowed */
    PyObject *file = PyUnicode_FromString(h->path);
    if (!file || PyDict_SetItemString(dict, "__file__", file) != 0 ||
        PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) != 0) {
        Py_XDECREF(file);
        Py_DECREF(code);
        return report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
    }
    Py_DECREF(file);

    /* Module-level code runs under the watchdog too (a loop at import time), with the more
     * generous load limit: imports of numpy or scipy are slow on a busy machine. */
    double call_limit = h->timeout_s;
    td__py_set_timeout(h, atomic_load(&load_timeout_ms) / 1000.0);
    static int before_done;
    if (td__py_before_user_code && !before_done) {
        before_done = 1;
        td__py_before_user_code();
    }
    watchdog_arm(h);
    atomic_fetch_add(&h->seq, 1);
    atomic_store(&h->in_call, 1);
    guard_arm(h->path);
    PyObject *res = PyEval_EvalCode(code, dict, dict);
    guard_disarm();
    atomic_store(&h->in_call, 0);
    Py_DECREF(code);
    if (GUARD.tripped) {
        Py_XDECREF(res);
        int rc = report_guard(h, NULL, -1, rerr, err);
        watchdog_disarm(h);
        td__py_set_timeout(h, call_limit);
        return rc;
    }
    if (!res) {
        int rc = report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
        watchdog_disarm(h);
        td__py_set_timeout(h, call_limit);
        return rc;
    }
    watchdog_disarm(h);
    td__py_set_timeout(h, call_limit);
    Py_DECREF(res);

    int rc = check_function(h, dict, rerr, err);
    if (rc)
        return rc;
    h->tmpl = build_template();
    if (h->tmpl)
        remember_defaults(h);
    if (!h->tmpl)
        return report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
    if (track && !waypoints_entry(h, track->center, track->n))
        return report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
    return 0;
}

int td__py_open(td__pyhost **out, const char *path, const char *source, size_t len,
                const td_track *track, td_reward_error *rerr, td_err *err)
{
    *out = NULL;
    int rc = py_global_init(err);
    if (rc)
        return rc;
    td__pyhost *h = td_calloc(1, sizeof(*h));
    if (!h)
        return td_err_set(err, TD_ENOMEM, "out of memory loading %s", path);
    snprintf(h->path, sizeof(h->path), "%s", path);
    h->timeout_s = TD_REWARD_DEFAULT_TIMEOUT_S;
    h->source = td_malloc(len + 1);
    if (!h->source) {
        td_free(h);
        return td_err_set(err, TD_ENOMEM, "out of memory loading %s", path);
    }
    memcpy(h->source, source, len);
    h->source[len] = 0;
    h->source_len = len;
    const char *nul = memchr(h->source, 0, h->source_len);
    if (nul) { /* Python would stop reading the file there */
        int line = 1;
        for (const char *c = h->source; c < nul; c++)
            line += *c == '\n';
        td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_LOAD, NULL, -1, 0,
                        "%s:%d: the file contains a NUL byte: is it a text file saved as "
                        "UTF-8?",
                        path, line);
        td_free(h->source);
        td_free(h);
        return TD_EREWARD;
    }
    pthread_mutex_init(&h->wd_mu, NULL);
    pthread_cond_init(&h->wd_cv, NULL);
    if (pthread_create(&h->wd_thread, NULL, watchdog_main, h) == 0)
        h->wd_started = 1;
    else
        TD_WARN("%s: cannot start the watchdog thread: reward calls have no time limit", path);

    PyGILState_STATE gs = PyGILState_Ensure();
    rc = load_module(h, track, rerr, err);
    PyGILState_Release(gs);
    if (rc) {
        td__py_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* ---- DeepRacer's validator's run-time tests ------------------------------------------- */

static td__pyhost *tick_host; /* the host being validated (one thread) */

/* Called by validator.py before each test call: each gets its own time limit. */
static PyObject *validator_tick(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (tick_host) {
        atomic_fetch_add(&tick_host->seq, 1);
        if (tick_host->progress_calls)
            atomic_fetch_add(tick_host->progress_calls, 1);
    }
    Py_RETURN_NONE;
}

static PyMethodDef tick_def = {"tick", validator_tick, METH_NOARGS, NULL};

int td__py_validate(td__pyhost *h, const double *route, int n, td_reward_issue **issues,
                    int *n_issues, td_err *err)
{
    *issues = NULL;
    *n_issues = 0;
    int rc = 0;
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *ns = td__py_validator_ns();
    PyObject *fn = ns ? PyDict_GetItemString(ns, "runtime_check") : NULL; /* borrowed */
    PyObject *rows = PyList_New(n > 0 ? n : 0), *tick = PyCFunction_New(&tick_def, NULL);
    PyObject *out = NULL;
    for (int i = 0; rows && i < n; i++) {
        PyObject *row = Py_BuildValue("[dddddd]", route[6 * i], route[6 * i + 1], route[6 * i + 2],
                                      route[6 * i + 3], route[6 * i + 4], route[6 * i + 5]);
        if (!row) {
            Py_CLEAR(rows);
            break;
        }
        PyList_SET_ITEM(rows, i, row);
    }
    if (fn && rows && tick) {
        double saved = h->timeout_s;
        td__py_set_timeout(h, 5.0); /* DeepRacer's validator gives each test 5 s */
        tick_host = h;
        watchdog_arm(h);
        atomic_store(&h->in_call, 1);
        guard_arm(h->path);
        out = PyObject_CallFunction(fn, "OOOsOO", h->func, PyEval_GetBuiltins(), rows, h->path,
                                    G.timeout_exc, tick);
        guard_disarm();
        atomic_store(&h->in_call, 0);
        watchdog_disarm(h);
        tick_host = NULL;
        td__py_set_timeout(h, saved);
        GUARD.tripped = 0; /* a forbidden attempt is a failed test input (its message says) */
    }
    if (!out || td__py_issues_from_list(out, issues, n_issues) != 0) {
        PyErr_Print();
        rc =
            td_err_set(err, TD_EINTERNAL, "%s: DeepRacer's validator tests could not run", h->path);
    }
    Py_XDECREF(out);
    Py_XDECREF(rows);
    Py_XDECREF(tick);
    PyGILState_Release(gs);
    return rc;
}

void td__py_set_timeout(td__pyhost *h, double seconds)
{
    pthread_mutex_lock(&h->wd_mu);
    h->timeout_s = seconds;
    pthread_cond_signal(&h->wd_cv);
    pthread_mutex_unlock(&h->wd_mu);
}

void td__py_close(td__pyhost *h)
{
    if (!h)
        return;
    if (h->wd_started) { /* without the GIL: the watchdog may be waiting for it */
        pthread_mutex_lock(&h->wd_mu);
        h->wd_stop = 1;
        pthread_cond_signal(&h->wd_cv);
        pthread_mutex_unlock(&h->wd_mu);
        pthread_join(h->wd_thread, NULL);
    }
    PyGILState_STATE gs = PyGILState_Ensure();
    for (int i = 0; i < h->n_wp; i++) {
        Py_XDECREF(h->wp[i].list);
        Py_XDECREF(h->wp[i].items);
    }
    Py_XDECREF(h->tmpl);
    Py_XDECREF(h->func);
    Py_XDECREF(h->module);
    PyGILState_Release(gs);
    pthread_mutex_destroy(&h->wd_mu);
    pthread_cond_destroy(&h->wd_cv);
    td_free(h->source);
    td_free(h);
}

int td__py_ensure(td_err *err)
{
    return py_global_init(err);
}

int td_reward_python_available(void)
{
    return 1;
}

int td__py_embedded(void)
{
    return 1;
}

#else /* !TD_HAVE_PYTHON */

static int no_python(td_err *err)
{
#ifdef TD_NO_EMBEDDED_PYTHON
    return td_err_set(err, TD_EUNSUPPORTED,
                      "libtrackday runs Python reward functions only in the sandboxed reward "
                      "host (the trackday command; docs/c-api.md), and none was found: set "
                      "TRACKDAY_REWARD_HOST to the trackday executable");
#endif
    return td_err_set(err, TD_EUNSUPPORTED,
                      "this trackday was built without Python (TD_WITH_PYTHON=OFF or no "
                      "python3.11-dev): use a builtin: or .so reward, or rebuild with Python");
}

int td__py_ensure(td_err *err)
{
    return no_python(err);
}

void td_reward_set_load_timeout(double seconds)
{
    (void)seconds;
}

int td__py_open(td__pyhost **out, const char *path, const char *source, size_t len,
                const td_track *track, td_reward_error *rerr, td_err *err)
{
    *out = NULL;
    (void)source;
    (void)len;
    int rc = no_python(err);
    if (rerr) {
        rerr->kind = TD_REWARD_ERR_LOAD;
        snprintf(rerr->message, sizeof(rerr->message), "%s", err ? err->msg : "no Python");
    }
    return rc;
}

void td__py_close(td__pyhost *h)
{
    (void)h;
}

void td__py_set_timeout(td__pyhost *h, double seconds)
{
    (void)h;
    (void)seconds;
}

int td__py_batch(td__pyhost *h, const td_params *params, int n, float *out_f, double *out_d,
                 td_reward_error *rerr, td_err *err)
{
    return no_python(err);
}

int td_reward_python_available(void)
{
    /* Without the interpreter here, Python rewards run in the trackday command's host. */
    return td__reward_host_program() != NULL;
}

int td__py_embedded(void)
{
    return 0;
}

void (*td__py_before_user_code)(void);

int td__py_enable_guards(td_err *err)
{
    return no_python(err);
}

void td__py_set_progress(td__pyhost *h, _Atomic unsigned *calls, _Atomic int *car)
{
    (void)h;
    (void)calls;
    (void)car;
}

double td__reward_load_timeout(void)
{
    return TD_REWARD_DEFAULT_LOAD_TIMEOUT_S;
}

int td__py_validate(td__pyhost *h, const double *route, int n, td_reward_issue **issues,
                    int *n_issues, td_err *err)
{
    (void)h;
    (void)route;
    (void)n;
    *issues = NULL;
    *n_issues = 0;
    return no_python(err);
}

#endif
