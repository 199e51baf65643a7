/*
 * py_errors.c - the embedded reward host's messages (py_internal.h): a Python exception or
 * syntax error becomes "FILE:LINE: Exception: what at step N (car C)" with the user's line,
 * the traceback and, for the mistakes learners make most, a hint.
 */
#include <stdio.h>
#include <string.h>

#include "reward/py_internal.h"

#ifdef TD_HAVE_PYTHON

/* Copies line `line` (1-based) of the source into buf without its newline and leading
 * whitespace; "" if out of range. */
void td__py_source_line(const td__pyhost *h, int line, char *buf, size_t cap)
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

void td__py_text(PyObject *obj, int repr, char *buf, size_t cap)
{
    snprintf(buf, cap, "?");
    if (!obj)
        return;
    PyObject *s = repr ? PyObject_Repr(obj) : PyObject_Str(obj);
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
            known |= strcmp(k, td__py_key_names[i]) == 0;
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

void td__py_place(const td__pyhost *h, const td_params *p, int car, int line, char *when,
                  char *where)
{
    if (p)
        snprintf(when, TD__PY_WHEN_LEN, "at step %d (car %d)", p->steps, car);
    else
        snprintf(when, TD__PY_WHEN_LEN, "while loading the file");
    if (line > 0)
        snprintf(where, TD__PY_WHERE_LEN, "%s:%d", h->path, line);
    else
        snprintf(where, TD__PY_WHERE_LEN, "%s", h->path);
}

/*
 * Turns the pending Python exception into a td_reward_error. kind is TD_REWARD_ERR_LOAD or
 * TD_REWARD_ERR_EXCEPTION; a RewardTimeout becomes TD_REWARD_ERR_TIMEOUT. `what` says when
 * ("at step 12 (car 3)" or "while loading").
 */
int td__py_report_exception(td__pyhost *h, td_reward_error_kind kind, const td_params *p, int car,
                            td_reward_error *rerr, td_err *err)
{
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value && tb)
        PyException_SetTraceback(value, tb);
    int timeout = type && PyErr_GivenExceptionMatches(type, td__py_g.timeout_exc);

    char trace[TD_REWARD_TRACE_LEN];
    trace[0] = 0;
    if (type && td__py_g.format_exception) {
        PyObject *lines = PyObject_CallFunctionObjArgs(
            td__py_g.format_exception, type, value ? value : Py_None, tb ? tb : Py_None, NULL);
        join_lines(lines, trace, sizeof(trace));
        Py_XDECREF(lines);
        PyErr_Clear();
    }
    int line = user_line_of(h, tb);
    char src[256], what[512], when[TD__PY_WHEN_LEN], where[TD__PY_WHERE_LEN];
    td__py_source_line(h, line, src, sizeof(src));
    char exc_name[128] = "Exception";
    if (type && PyType_Check(type))
        snprintf(exc_name, sizeof(exc_name), "%s", ((PyTypeObject *)type)->tp_name);
    td__py_text(value, 0, what, sizeof(what));
    const char *hint = timeout ? "" : exception_hint(type, value);
    td__py_place(h, p, car, line, when, where);
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

/* obj.name if it is an int, else 0. */
static long long_attr(PyObject *obj, const char *name)
{
    PyObject *o = PyObject_GetAttrString(obj, name);
    long v = o && PyLong_Check(o) ? PyLong_AsLong(o) : 0;
    Py_XDECREF(o);
    PyErr_Clear();
    return v;
}

/* obj.name into buf if it is a str (buf unchanged otherwise). */
static void str_attr(PyObject *obj, const char *name, char *buf, size_t cap)
{
    PyObject *o = PyObject_GetAttrString(obj, name);
    if (o && PyUnicode_Check(o))
        td__py_text(o, 0, buf, cap);
    Py_XDECREF(o);
    PyErr_Clear();
}

/* A compile error: "FILE:LINE:COL: SyntaxError: msg" then the line and a caret under it. */
int td__py_report_syntax(td__pyhost *h, td_reward_error *rerr, td_err *err)
{
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (!value || !PyErr_GivenExceptionMatches(type, PyExc_SyntaxError)) {
        PyErr_Restore(type, value, tb);
        return td__py_report_exception(h, TD_REWARD_ERR_LOAD, NULL, -1, rerr, err);
    }
    long lineno = long_attr(value, "lineno"), offset = long_attr(value, "offset");
    long end_offset = long_attr(value, "end_offset"), end_lineno = long_attr(value, "end_lineno");
    char msg[256] = "invalid syntax", text[512] = "";
    str_attr(value, "msg", msg, sizeof(msg));
    str_attr(value, "text", text, sizeof(text));
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

#endif
