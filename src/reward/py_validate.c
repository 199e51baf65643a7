/*
 * py_validate.c - DeepRacer's validator's run-time tests (validator.py's runtime_check) on a
 * function the embedded host has loaded (py_internal.h): each test call has DeepRacer's 5 s
 * limit, under the host's watchdog and, in the sandboxed process, its guards.
 */
#include <stdatomic.h>

#include "reward/py_internal.h"

#ifdef TD_HAVE_PYTHON

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
        td__py_watchdog_arm(h);
        atomic_store(&h->in_call, 1);
        td__py_guard_arm(h->path);
        out = PyObject_CallFunction(fn, "OOOsOO", h->func, PyEval_GetBuiltins(), rows, h->path,
                                    td__py_g.timeout_exc, tick);
        td__py_guard_disarm();
        atomic_store(&h->in_call, 0);
        td__py_watchdog_disarm(h);
        tick_host = NULL;
        td__py_set_timeout(h, saved);
        td__py_guard_clear(); /* a forbidden attempt is a failed test input (its message says) */
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

#endif
