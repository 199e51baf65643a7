/*
 * py_check.c - the static check of a reward_function.py (`trackday reward check`, `train`):
 * DeepRacer's validator's static rules (flake8 with its rule selection, imports, forbidden
 * calls and words, the signature; src/reward/validator.py) and trackday's advice, run in the
 * reward host, which is sandboxed (sandbox_host.c) unless TRACKDAY_SANDBOX=none.
 *
 * Every finding names its rule (td_reward_issue.rule): "flake8 E712", "import", "forbidden
 * call", "validator attribute", "forbidden word", "signature", "reward_function", "encoding";
 * trackday's warnings: "print", "global state", "console size", "flake8" (not installed).
 * The validator's run-time tests are td_reward_validate (py_validate.c, validator.py).
 */
#include <stdio.h>
#include <string.h>

#include "reward/reward_internal.h"

int td_reward_check_source(const char *path, td_reward_issue **issues, int *n_issues, td_err *err)
{
    *issues = NULL;
    *n_issues = 0;
    char *src = NULL;
    size_t len = 0;
    int rc = td_file_read(path, &src, &len, err);
    if (rc)
        return rc;
    /* The same file-level checks as loading (NUL byte, encoding): the same message. */
    td_reward_issue one;
    memset(&one, 0, sizeof(one));
    if (td__reward_source_check(path, src, len, one.message, sizeof(one.message), &one.line,
                                &one.col, NULL) != 0) {
        td_free(src);
        *issues = td_malloc(sizeof(one));
        if (!*issues)
            return td_err_set(err, TD_ENOMEM, "out of memory");
        one.severity = TD_REWARD_ERROR;
        snprintf(one.rule, sizeof(one.rule), "encoding");
        **issues = one;
        *n_issues = 1;
        return 0;
    }
    td_sandbox_mode mode;
    rc = td_sandbox_mode_from_env(&mode, err);
    if (rc == 0 && (mode == TD_SANDBOX_NONE || !td_reward_python_available()))
        rc = td__py_check_source(path, src, len, issues, n_issues, err);
    else if (rc == 0)
        rc = td__pysb_check(path, src, len, mode, issues, n_issues, err);
    td_free(src);
    return rc;
}

#ifdef TD_NO_EMBEDDED_PYTHON /* libtrackday.so (py_host.c) */
#undef TD_HAVE_PYTHON
#endif

#ifdef TD_HAVE_PYTHON

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "validator_py.h" /* validator_py: src/reward/validator.py (generated) */

/* The validator's namespace, made once per process (borrowed; GIL held). NULL on error. */
PyObject *td__py_validator_ns(void)
{
    static PyObject *ns;
    if (ns)
        return ns;
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (PyDict_SetItemString(d, "__builtins__", PyEval_GetBuiltins()) != 0 ||
        PyDict_SetItemString(d, "__name__", PyUnicode_FromString("trackday_validator")) != 0) {
        Py_DECREF(d);
        return NULL;
    }
    PyObject *code = Py_CompileString(validator_py, "validator.py", Py_file_input);
    PyObject *res = code ? PyEval_EvalCode(code, d, d) : NULL;
    Py_XDECREF(code);
    if (!res) {
        Py_DECREF(d);
        return NULL;
    }
    Py_DECREF(res);
    ns = d;
    return ns;
}

/* Turns a list of (severity, line, col, rule, message) into issues. */
int td__py_issues_from_list(PyObject *list, td_reward_issue **issues, int *n_issues)
{
    if (!list || !PyList_Check(list))
        return -1;
    Py_ssize_t n = PyList_GET_SIZE(list);
    td_reward_issue *arr = td_calloc(n > 0 ? (size_t)n : 1, sizeof(*arr));
    if (!arr)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int sev = 0, line = 0, col = 0;
        const char *rule = "", *msg = "";
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, i), "iiiss", &sev, &line, &col, &rule, &msg)) {
            td_free(arr);
            return -1;
        }
        arr[i].severity = sev ? TD_REWARD_ERROR : TD_REWARD_WARNING;
        arr[i].line = line;
        arr[i].col = col > 0 ? col : 0;
        snprintf(arr[i].rule, sizeof(arr[i].rule), "%s", rule);
        snprintf(arr[i].message, sizeof(arr[i].message), "%s", msg);
    }
    *issues = arr;
    *n_issues = (int)n;
    return 0;
}

int td__py_check_source(const char *path, const char *source, size_t len, td_reward_issue **issues,
                        int *n_issues, td_err *err)
{
    int rc = td__py_ensure(err);
    if (rc)
        return rc;
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *ns = td__py_validator_ns(), *out = NULL;
    PyObject *check = ns ? PyDict_GetItemString(ns, "static_check") : NULL; /* borrowed */
    if (check)
        out = PyObject_CallFunction(check, "y#s", source, (Py_ssize_t)len, path);
    if (!out || td__py_issues_from_list(out, issues, n_issues) != 0) {
        PyErr_Print();
        rc = td_err_set(err, TD_EINTERNAL, "%s: the static check could not run", path);
    }
    Py_XDECREF(out);
    PyGILState_Release(gs);
    return rc;
}

#else

int td__py_check_source(const char *path, const char *source, size_t len, td_reward_issue **issues,
                        int *n_issues, td_err *err)
{
    (void)source;
    (void)len;
    (void)issues;
    (void)n_issues;
    return td_err_set(err, TD_EUNSUPPORTED,
                      "%s: the static check needs Python; this trackday was built without it",
                      path);
}

#endif
