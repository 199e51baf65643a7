/*
 * py_guard.c - the sandboxed reward process's guards (the embedded host's, py_internal.h).
 *
 * In the sandbox the kernel already refuses what a reward function must not do; these
 * guards name it. A C audit hook (PEP 578, which Python code cannot remove) sees the
 * attempt (a socket, a file outside the libraries and the scratch directory, a process, a
 * signal), raises trackday.SandboxError there and records the first one with its line, so
 * the call fails with a message that says what was tried, even if the function catches
 * the error. os._exit and os.abort are replaced by functions that do the same.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "reward/py_internal.h"

#ifdef TD_HAVE_PYTHON

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
    PyErr_Format(td__py_g.sandbox_exc, "trackday's sandbox: %s", msg);
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

void td__py_guard_arm(const char *path)
{
    GUARD.path = path;
    GUARD.tripped = 0;
    GUARD.line = 0;
    GUARD.what[0] = 0;
    GUARD.armed = GUARD.enabled;
}

void td__py_guard_disarm(void)
{
    GUARD.armed = 0;
}

int td__py_guard_tripped(void)
{
    return GUARD.tripped;
}

void td__py_guard_clear(void)
{
    GUARD.tripped = 0;
}

int td__py_report_guard(td__pyhost *h, const td_params *p, int car, td_reward_error *rerr,
                        td_err *err)
{
    PyErr_Clear();
    char src[256], when[TD__PY_WHEN_LEN], where[TD__PY_WHERE_LEN];
    td__py_source_line(h, GUARD.line, src, sizeof(src));
    td__py_place(h, p, car, GUARD.line, when, where);
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

#endif
