/*
 * py_check.c - the static check of a reward_function.py (`trackday reward check`): what
 * DeepRacer's validator would reject, and what usually hurts a reward function, found with
 * Python's own ast module in the embedded interpreter (so the parse is exactly Python's).
 *
 * Errors: a syntax error; no top-level reward_function or one that does not take exactly one
 * argument; imports outside math, random, numpy, scipy, shapely; open, eval, exec, input,
 * __import__, compile (called or referenced), __builtins__; numpy file I/O; source longer
 * than 140,000 characters. Warnings: print in a function (it runs at every step), `global`
 * statements and functions that mutate module-level containers (state kept between steps
 * behaves differently across DeepRacer's parallel workers and restarts), and a bare except
 * (it also catches trackday's stop of a call that runs too long).
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

/* The checker. check(source, filename) -> [(severity, line, col, message)], 1 = error. */
static const char checker_py[] =
    "import ast\n"
    "ALLOWED = ('math', 'random', 'numpy', 'scipy', 'shapely')\n"
    "BANNED = {'open': 'file access', 'eval': 'running code from a string',\n"
    "          'exec': 'running code from a string', 'input': 'reading the console',\n"
    "          '__import__': 'importing by name', 'compile': 'compiling code'}\n"
    "NP_IO = {'load', 'save', 'savez', 'savez_compressed', 'fromfile', 'tofile', 'loadtxt',\n"
    "         'savetxt', 'genfromtxt', 'fromregex', 'memmap', 'DataSource'}\n"
    "MUTATORS = {'append', 'extend', 'insert', 'pop', 'popitem', 'clear', 'update', 'add',\n"
    "            'remove', 'discard', 'setdefault', 'sort', 'reverse'}\n"
    "def check(data, filename):\n"
    "    out = []\n"
    "    try:\n"
    "        import importlib.util\n"
    "        source = importlib.util.decode_source(data)\n"
    "    except (UnicodeDecodeError, SyntaxError, LookupError) as e:\n"
    "        return [(1, 0, 0, 'the file cannot be decoded: %s' % e)]\n"
    "    def err(node, msg):\n"
    "        out.append((1, getattr(node, 'lineno', 0), getattr(node, 'col_offset', -1) + 1, "
    "msg))\n"
    "    def warn(node, msg):\n"
    "        out.append((0, getattr(node, 'lineno', 0), getattr(node, 'col_offset', -1) + 1, "
    "msg))\n"
    "    if len(source) > 140000:\n"
    "        out.append((1, 0, 0, 'the file has %d characters; DeepRacer accepts at most '\n"
    "                            '140,000' % len(source)))\n"
    "    try:\n"
    "        tree = ast.parse(source, filename)\n"
    "    except ValueError as e:\n"
    "        line = source.count('\\n', 0, max(source.find('\\0'), 0)) + 1\n"
    "        out.append((1, line, 0, 'the file contains a NUL byte: is it a text file? (%s)'\n"
    "                   % e))\n"
    "        return out\n"
    "    except SyntaxError as e:\n"
    "        out.append((1, e.lineno or 0, e.offset or 0, '%s: %s' % (type(e).__name__, e.msg)))\n"
    "        return out\n"
    "    np_names = set()\n"
    "    for node in ast.walk(tree):\n"
    "        if isinstance(node, ast.Import):\n"
    "            for a in node.names:\n"
    "                top = a.name.split('.')[0]\n"
    "                if top not in ALLOWED:\n"
    "                    err(node, \"import of '%s': DeepRacer allows only math, random, \"\n"
    "                              \"numpy, scipy and shapely\" % a.name)\n"
    "                elif top == 'numpy':\n"
    "                    np_names.add(a.asname or 'numpy')\n"
    "        elif isinstance(node, ast.ImportFrom):\n"
    "            mod = node.module or ''\n"
    "            top = mod.split('.')[0]\n"
    "            if node.level:\n"
    "                err(node, 'relative import: DeepRacer runs reward_function.py alone')\n"
    "            elif top not in ALLOWED:\n"
    "                err(node, \"import from '%s': DeepRacer allows only math, random, \"\n"
    "                          \"numpy, scipy and shapely\" % mod)\n"
    "            elif top == 'numpy':\n"
    "                for a in node.names:\n"
    "                    if a.name in NP_IO:\n"
    "                        err(node, \"numpy file I/O (%s): DeepRacer rejects reading or \"\n"
    "                                  \"writing files\" % a.name)\n"
    "    for node in ast.walk(tree):\n"
    "        if isinstance(node, ast.Name):\n"
    "            if node.id in BANNED:\n"
    "                err(node, \"use of %s() (%s): DeepRacer's validator rejects it\"\n"
    "                          % (node.id, BANNED[node.id]))\n"
    "            elif node.id == '__builtins__':\n"
    "                err(node, \"use of __builtins__: DeepRacer's validator rejects it\")\n"
    "        elif isinstance(node, ast.Attribute):\n"
    "            base = node.value\n"
    "            while isinstance(base, ast.Attribute):\n"
    "                base = base.value\n"
    "            if node.attr in NP_IO and isinstance(base, ast.Name) and base.id in np_names:\n"
    "                err(node, \"numpy file I/O (%s.%s): DeepRacer rejects reading or \"\n"
    "                          \"writing files\" % (base.id, node.attr))\n"
    "            elif node.attr == 'tofile':\n"
    "                err(node, 'numpy file I/O (.tofile): DeepRacer rejects writing files')\n"
    "    top_names = set()\n"
    "    for node in tree.body:\n"
    "        if isinstance(node, ast.Assign):\n"
    "            for t in node.targets:\n"
    "                if isinstance(t, ast.Name):\n"
    "                    top_names.add(t.id)\n"
    "        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):\n"
    "            if isinstance(node.target, ast.Name):\n"
    "                top_names.add(node.target.id)\n"
    "    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef,\n"
    "                                                           ast.AsyncFunctionDef))]\n"
    "    for f in funcs:\n"
    "        local = {a.arg for a in f.args.args + f.args.kwonlyargs + f.args.posonlyargs}\n"
    "        for n in ast.walk(f):\n"
    "            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):\n"
    "                local.add(n.id)\n"
    "        for n in ast.walk(f):\n"
    "            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and \\\n"
    "                    n.func.id == 'print':\n"
    "                warn(n, 'print() in %s runs at every step of every car (15 a second '\n"
    "                        'each): it slows training and floods the log' % f.name)\n"
    "            elif isinstance(n, ast.ExceptHandler) and (n.type is None or (\n"
    "                    isinstance(n.type, ast.Name) and n.type.id == 'BaseException')):\n"
    "                warn(n, 'a bare except (or except BaseException) in %s also catches '\n"
    "                        'the stop of a call that runs too long; catch Exception or a '\n"
    "                        'specific error instead' % f.name)\n"
    "            elif isinstance(n, ast.Global):\n"
    "                warn(n, 'global %s: state kept between steps is not reset between '\n"
    "                        'episodes and differs between parallel workers; derive what you '\n"
    "                        'need from params' % ', '.join(n.names))\n"
    "            elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \\\n"
    "                    n.func.attr in MUTATORS and isinstance(n.func.value, ast.Name) and \\\n"
    "                    n.func.value.id in top_names and n.func.value.id not in local:\n"
    "                warn(n, \"%s changes the module-level '%s' (.%s): state kept between \"\n"
    "                        \"steps is not reset between episodes\"\n"
    "                        % (f.name, n.func.value.id, n.func.attr))\n"
    "    rf = [n for n in tree.body if isinstance(n, ast.FunctionDef) and\n"
    "          n.name == 'reward_function']\n"
    "    if not rf:\n"
    "        out.append((1, 0, 0, 'no top-level function reward_function(params): DeepRacer '\n"
    "                             'calls it at every step'))\n"
    "    else:\n"
    "        a = rf[-1].args\n"
    "        pos = a.posonlyargs + a.args\n"
    "        required = len(pos) - len(a.defaults)\n"
    "        kwreq = [k for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is None]\n"
    "        if (required > 1 or (not pos and not a.vararg) or kwreq):\n"
    "            err(rf[-1], 'reward_function must take one argument: DeepRacer calls '\n"
    "                        'reward_function(params)')\n"
    "    out.sort(key=lambda t: (t[1], t[2]))\n"
    "    return out\n";

int td__py_check_source(const char *path, const char *source, size_t len, td_reward_issue **issues,
                        int *n_issues, td_err *err)
{
    int rc = td__py_ensure(err);
    if (rc)
        return rc;
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *ns = PyDict_New(), *res = NULL, *out = NULL;
    if (!ns)
        goto fail;
    if (PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) != 0)
        goto fail;
    res = PyRun_String(checker_py, Py_file_input, ns, ns);
    if (!res)
        goto fail;
    PyObject *check = PyDict_GetItemString(ns, "check"); /* borrowed */
    if (!check)
        goto fail;
    out = PyObject_CallFunction(check, "y#s", source, (Py_ssize_t)len, path);
    if (!out || !PyList_Check(out))
        goto fail;
    Py_ssize_t n = PyList_GET_SIZE(out);
    td_reward_issue *arr = td_calloc(n > 0 ? (size_t)n : 1, sizeof(*arr));
    if (!arr) {
        rc = td_err_set(err, TD_ENOMEM, "out of memory");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int sev = 0, line = 0, col = 0;
        const char *msg = "";
        if (!PyArg_ParseTuple(PyList_GET_ITEM(out, i), "iiis", &sev, &line, &col, &msg)) {
            td_free(arr);
            goto fail;
        }
        arr[i].severity = sev ? TD_REWARD_ERROR : TD_REWARD_WARNING;
        arr[i].line = line;
        arr[i].col = col > 0 ? col : 0;
        snprintf(arr[i].message, sizeof(arr[i].message), "%s", msg);
    }
    *issues = arr;
    *n_issues = (int)n;
    rc = 0;
    goto done;
fail:
    PyErr_Print();
    rc = td_err_set(err, TD_EINTERNAL, "%s: the static check could not run", path);
done:
    Py_XDECREF(out);
    Py_XDECREF(res);
    Py_XDECREF(ns);
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
