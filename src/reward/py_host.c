/*
 * py_host.c - the embedded CPython reward host: runs a DeepRacer reward_function.py
 * unchanged with the full `params` dict.
 *
 * The interpreter is initialized once per process (isolated config: no environment
 * variables, no user site directory, no signal handlers, Debian's /usr/bin/python3.11 as the
 * program so sys.path finds its stdlib and dist-packages) and then left running; every entry
 * takes the GIL with PyGILState_Ensure, so any thread may call in.
 *
 * This file opens, loads, calls and closes a host. The params dict is py_params.c, the time
 * limit py_watchdog.c, the messages py_errors.c, the sandboxed process's guards py_guard.c,
 * the validator's run-time tests py_validate.c (py_internal.h lists them).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "reward/py_internal.h"

#ifdef TD_HAVE_PYTHON

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

struct td__py_globals td__py_g = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Sets up the objects every host shares. Called with the GIL held. */
static int init_globals(void)
{
    for (int k = 0; k < K_COUNT; k++) {
        td__py_g.keys[k] = PyUnicode_InternFromString(td__py_key_names[k]);
        if (!td__py_g.keys[k])
            return -1;
    }
    td__py_g.timeout_exc = PyErr_NewExceptionWithDoc(
        "trackday.RewardTimeout",
        "Raised by trackday in a reward_function that runs longer than the time limit.",
        PyExc_BaseException, NULL);
    if (!td__py_g.timeout_exc)
        return -1;
    td__py_g.sandbox_exc = PyErr_NewExceptionWithDoc(
        "trackday.SandboxError",
        "Raised by trackday's reward sandbox when a reward function tries something it forbids.",
        PyExc_PermissionError, NULL);
    if (!td__py_g.sandbox_exc)
        return -1;
    PyObject *tb = PyImport_ImportModule("traceback");
    if (!tb)
        return -1;
    td__py_g.format_exception = PyObject_GetAttrString(tb, "format_exception");
    td__py_g.format_exc_only = PyObject_GetAttrString(tb, "format_exception_only");
    Py_DECREF(tb);
    PyObject *inspect = PyImport_ImportModule("inspect");
    if (!inspect)
        return -1;
    td__py_g.signature = PyObject_GetAttrString(inspect, "signature");
    Py_DECREF(inspect);
    if (!td__py_g.format_exception || !td__py_g.format_exc_only || !td__py_g.signature)
        return -1;
    return 0;
}

/* Starts the interpreter once per process (or joins one already running, for example when
 * trackday is loaded into a Python process). Leaves the GIL released. */
static int py_global_init(td_err *err)
{
    pthread_mutex_lock(&td__py_g.mu);
    if (td__py_g.ready || td__py_g.failed) {
        int rc = td__py_g.ready ? 0 : td_err_set(err, TD_EUNSUPPORTED, "%s", td__py_g.fail_msg);
        pthread_mutex_unlock(&td__py_g.mu);
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
            td__py_g.failed = 1;
            snprintf(td__py_g.fail_msg, sizeof(td__py_g.fail_msg),
                     "cannot start the Python interpreter: %s",
                     st.err_msg ? st.err_msg : "unknown error");
            pthread_mutex_unlock(&td__py_g.mu);
            return td_err_set(err, TD_EUNSUPPORTED, "%s", td__py_g.fail_msg);
        }
        ours = 1;
    }
    PyGILState_STATE gs = PyGILState_Ensure();
    int rc = init_globals();
    if (rc != 0) {
        PyErr_Print();
        td__py_g.failed = 1;
        snprintf(td__py_g.fail_msg, sizeof(td__py_g.fail_msg),
                 "cannot set up the Python reward host (traceback, inspect modules)");
    }
    PyGILState_Release(gs);
    if (ours)
        PyEval_SaveThread(); /* release the GIL taken by initialization: any thread may enter */
    td__py_g.ready = !td__py_g.failed;
    pthread_mutex_unlock(&td__py_g.mu);
    return td__py_g.ready ? 0 : td_err_set(err, TD_EUNSUPPORTED, "%s", td__py_g.fail_msg);
}

/* The module-level code limit (td_reward_set_load_timeout), in milliseconds. */
static atomic_long load_timeout_ms = (long)(TD_REWARD_DEFAULT_LOAD_TIMEOUT_S * 1000);

void td_reward_set_load_timeout(double seconds)
{
    atomic_store(&load_timeout_ms, (long)(seconds * 1000));
}

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
        td__py_text(res, 1, r, sizeof(r));
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
        td__py_text(res, 1, r, sizeof(r));
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
    td__py_watchdog_arm(h);
    for (; i < n; i++) {
        const td_params *p = &params[i];
        td__py_wp_entry *wpe = NULL;
        PyObject *d = td__py_params_build(h, p, &wpe);
        if (!d) {
            rc = td__py_report_exception(h, TD_REWARD_ERR_EXCEPTION, p, i, rerr, err);
            break;
        }
        atomic_fetch_add_explicit(&h->seq, 1, memory_order_relaxed);
        if (h->progress_calls) {
            atomic_store_explicit(h->progress_car, i, memory_order_relaxed);
            atomic_fetch_add_explicit(h->progress_calls, 1, memory_order_release);
        }
        atomic_store_explicit(&h->in_call, 1, memory_order_relaxed);
        td__py_guard_arm(h->path);
        PyObject *res = PyObject_CallOneArg(h->func, d);
        td__py_guard_disarm();
        atomic_store_explicit(&h->in_call, 0, memory_order_relaxed);
        Py_DECREF(d);
        if (td__py_guard_tripped()) {
            Py_XDECREF(res);
            rc = td__py_report_guard(h, p, i, rerr, err);
            td__py_waypoints_restore(h, wpe, p);
            break;
        }
        if (!res) {
            rc = td__py_report_exception(h, TD_REWARD_ERR_EXCEPTION, p, i, rerr, err);
            td__py_waypoints_restore(h, wpe, p);
            break;
        }
        if (td__py_waypoints_restore(h, wpe, p) != 0 || td__py_defaults_restore(h, p) != 0) {
            Py_DECREF(res);
            rc = td__py_report_exception(h, TD_REWARD_ERR_EXCEPTION, p, i, rerr, err);
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
    td__py_watchdog_disarm(h);
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
        td__py_text(f, 1, r, sizeof(r));
        return td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_LOAD, NULL, -1, 0,
                               "%s: reward_function is %s (a %s), not a function: define it "
                               "with `def reward_function(params):`",
                               h->path, r, Py_TYPE(f)->tp_name);
    }
    /* inspect.signature(f).bind(None) raises TypeError unless one argument fits. */
    PyObject *sig = PyObject_CallOneArg(td__py_g.signature, f);
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
        td__py_text(sig, 0, s, sizeof(s));
        td__py_source_line(h, line, src, sizeof(src));
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
        return td__py_report_syntax(h, rerr, err);
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
        return td__py_report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
    }
    PyObject *dict = PyModule_GetDict(h->module); /* borrowed */
    PyObject *file = PyUnicode_FromString(h->path);
    if (!file || PyDict_SetItemString(dict, "__file__", file) != 0 ||
        PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) != 0) {
        Py_XDECREF(file);
        Py_DECREF(code);
        return td__py_report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
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
    td__py_watchdog_arm(h);
    atomic_fetch_add(&h->seq, 1);
    atomic_store(&h->in_call, 1);
    td__py_guard_arm(h->path);
    PyObject *res = PyEval_EvalCode(code, dict, dict);
    td__py_guard_disarm();
    atomic_store(&h->in_call, 0);
    Py_DECREF(code);
    int rc = 0;
    if (td__py_guard_tripped()) {
        Py_CLEAR(res);
        rc = td__py_report_guard(h, NULL, -1, rerr, err);
    } else if (!res) {
        rc = td__py_report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
    }
    td__py_watchdog_disarm(h);
    td__py_set_timeout(h, call_limit);
    if (rc)
        return rc;
    Py_DECREF(res);

    rc = check_function(h, dict, rerr, err);
    if (rc)
        return rc;
    if (td__py_params_template(h) != 0)
        return td__py_report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
    if (track && !td__py_waypoints_entry(h, track->center, track->n))
        return td__py_report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
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
    td__py_watchdog_start(h);

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

void td__py_close(td__pyhost *h)
{
    if (!h)
        return;
    td__py_watchdog_stop(h); /* without the GIL: the watchdog may be waiting for it */
    PyGILState_STATE gs = PyGILState_Ensure();
    td__py_params_free(h);
    Py_XDECREF(h->func);
    Py_XDECREF(h->module);
    PyGILState_Release(gs);
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

#endif
