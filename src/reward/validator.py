# validator.py - DeepRacer's reward-function validator, as trackday applies it (embedded in
# the reward host at build time as a C string; see CMakeLists.txt and py_check.c).
#
# Written for trackday from the behaviour of DeepRacer's reward_func_validator
# (deepracer-simapp, docker/files/ml-code/reward_func_validator): the same rules, the same
# test inputs, the same verdicts; every finding names its rule. It never runs the file:
# static_check only reads it; runtime_check calls an already loaded reward_function, and the
# host loads a file only when static_check found no error.
#
# A finding is (severity, line, col, rule, message): severity 1 = error (DeepRacer's
# validator rejects the file), 0 = warning (trackday's advice; DeepRacer accepts it).

import ast
import math

ALLOWED_IMPORTS = ('math', 'random', 'numpy', 'scipy', 'shapely')
# Calls or attribute chains whose dotted name is exactly one of these.
FORBIDDEN_CALLS = ('open', 'exec', 'eval', 'compile', 'input')
# Substrings refused anywhere in the file, comments and names included.
FORBIDDEN_WORDS = ('__import__', 'load', 'fromfile', 'genfromtxt', 'loadtxt', 'tofile',
                   'savez', 'save', 'savetxt', 'memmap')
# The validator's flake8 command line.
FLAKE8_ARGS = ['--select=E,F', '--ignore=E2,E3,E4,E5,W,F401,F841']
CONSOLE_MAX_CHARS = 140000
TEST_TIMEOUT_S = 5.0

MUTATORS = {'append', 'extend', 'insert', 'pop', 'popitem', 'clear', 'update', 'add',
            'remove', 'discard', 'setdefault', 'sort', 'reverse'}


class _Chain(Exception):
    """The validator's name walk met an expression it cannot name."""


def _dotted(node):
    # The dotted name of a call's function or an attribute chain, as the validator builds
    # it: names and attributes join with '.', a call in the chain contributes its function.
    parts = []
    while True:
        if isinstance(node, ast.Name):
            return '.'.join([node.id] + parts)
        if isinstance(node, ast.Attribute):
            parts.insert(0, node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            raise _Chain(node)


def _walk_names(node, out, crashes):
    # The validator visits calls and attributes: it records the dotted name of the outermost
    # one and does not descend into its chain (only into the arguments of calls in it).
    if isinstance(node, (ast.Call, ast.Attribute)):
        try:
            out.append((_dotted(node), node))
        except _Chain:
            crashes.append(node)
        cur = node
        while isinstance(cur, (ast.Call, ast.Attribute)):
            if isinstance(cur, ast.Call):
                for a in cur.args:
                    _walk_names(a, out, crashes)
                cur = cur.func
            else:
                cur = cur.value
        return
    for field in getattr(node, '_fields', ()):
        value = getattr(node, field, None)
        if isinstance(value, list):
            for v in value:
                if isinstance(v, ast.AST):
                    _walk_names(v, out, crashes)
        elif isinstance(value, ast.AST):
            _walk_names(value, out, crashes)


def _flake8(path, source, findings):
    try:
        from flake8.main.application import Application
    except ImportError:
        findings.append((0, 0, 0, 'flake8',
                         "flake8 is not installed: DeepRacer's lint rules (E1, E7, E9, F) were "
                         "not checked (apt-get install flake8)"))
        return
    import os
    import tempfile
    # flake8 reads a file: a private one in the first writable place (the sandbox's scratch
    # is TMPDIR; inside a hub job, where /tmp is read-only, the job's HOME).
    fd, fn = -1, None
    for work in (os.environ.get('TMPDIR'), os.environ.get('HOME'), os.getcwd(),
                 tempfile.gettempdir()):
        if not work:
            continue
        try:
            fd, fn = tempfile.mkstemp(prefix='reward_function_', suffix='.py', dir=work)
            break
        except OSError:
            continue
    if fd < 0:
        findings.append((0, 0, 0, 'flake8',
                         "no writable directory for flake8's copy of the file (TMPDIR, HOME): "
                         "DeepRacer's lint rules (E1, E7, E9, F) were not checked"))
        return
    out = fn[:-3] + '.flake8'
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(source)
        app = Application()
        app.run([fn, '--isolated', '--jobs=1', '--output-file=' + out,
                 '--format=%(code)s:%(row)d:%(col)d:%(text)s'] + FLAKE8_ARGS)
        with open(out, encoding='utf-8') as f:
            for line in f:
                parts = line.rstrip('\n').split(':', 3)
                if len(parts) == 4 and parts[1].isdigit():
                    code, row, col, text = parts
                    findings.append((1, int(row), int(col) if col.isdigit() else 0,
                                     'flake8 ' + code, text))
    finally:
        for name in (fn, out):
            try:
                os.unlink(name)
            except OSError:
                pass


def static_check(data, filename, run_flake8=True):
    import importlib.util
    findings = []
    try:
        source = importlib.util.decode_source(data)
    except (UnicodeDecodeError, SyntaxError, LookupError) as e:
        return [(1, 0, 0, 'encoding', 'the file cannot be decoded: %s' % e)]
    if len(source) > CONSOLE_MAX_CHARS:
        findings.append((0, 0, 0, 'console size',
                         "the file has %d characters; DeepRacer's console editor takes at most "
                         "140,000 (its validator itself has no limit)" % len(source)))
    if run_flake8:
        _flake8(filename, source, findings)
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError) as e:
        if not any(f[3] == 'flake8 E999' for f in findings):
            findings.append((1, getattr(e, 'lineno', 0) or 0, getattr(e, 'offset', 0) or 0,
                             'syntax', '%s: %s' % (type(e).__name__, getattr(e, 'msg', e))))
        findings.sort(key=lambda t: (t[1], t[2]))
        return findings

    def err(node, rule, msg):
        findings.append((1, getattr(node, 'lineno', 0), getattr(node, 'col_offset', -1) + 1,
                         rule, msg))

    def warn(node, rule, msg):
        findings.append((0, getattr(node, 'lineno', 0), getattr(node, 'col_offset', -1) + 1,
                         rule, msg))

    # Imports: the top-level package of every import must be allowed.
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split('.')[0] not in ALLOWED_IMPORTS:
                    err(node, 'import', "import of '%s': DeepRacer allows only math, random, "
                        "numpy, scipy and shapely" % a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.module is None:
                err(node, 'import', "relative import ('from . import ...'): DeepRacer's "
                    "validator cannot check it and rejects the file")
            elif node.module.split('.')[0] not in ALLOWED_IMPORTS:
                err(node, 'import', "import from '%s': DeepRacer allows only math, random, "
                    "numpy, scipy and shapely" % node.module)

    # Forbidden calls, and chains the validator cannot name (it fails and rejects the file).
    names, crashes = [], []
    _walk_names(tree, names, crashes)
    for name, node in names:
        if name in FORBIDDEN_CALLS:
            err(node, 'forbidden call', "use of %s(): DeepRacer's validator rejects open, exec, "
                "eval, compile and input" % name)
    for node in crashes:
        err(node, 'validator attribute',
            "'.%s' on an expression that is not a name or a call: DeepRacer's validator "
            "cannot follow it (it fails with 'can only join an iterable') and rejects the "
            "file; assign the expression to a variable first"
            % (node.attr if isinstance(node, ast.Attribute) else '(...)'))

    # Forbidden words anywhere in the text.
    for word in FORBIDDEN_WORDS:
        at = source.find(word)
        if at >= 0:
            line = source.count('\n', 0, at) + 1
            col = at - (source.rfind('\n', 0, at) + 1) + 1
            findings.append((1, line, col, 'forbidden word',
                             "the text '%s' appears in the file (here: %r); DeepRacer's validator "
                             "refuses it anywhere, comments and names included"
                             % (word, source.splitlines()[line - 1].strip()[:60])))

    # reward_function and its signature: exactly one parameter.
    rf = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == 'reward_function']
    if not rf:
        findings.append((1, 0, 0, 'reward_function',
                         'no top-level function reward_function(params): DeepRacer calls it at '
                         'every step'))
    else:
        a = rf[-1].args
        count = (len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None)
                 + (a.kwarg is not None))
        if count != 1:
            err(rf[-1], 'signature', 'reward_function has %d parameters; DeepRacer\'s validator '
                'wants exactly one: def reward_function(params)' % count)

    # trackday's advice (warnings).
    top_names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            top_names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target,
                                                                             ast.Name):
            top_names.add(node.target.id)
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for f in [n for n in ast.walk(tree) if isinstance(n, functions)]:
        local = {x.arg for x in f.args.args + f.args.kwonlyargs + f.args.posonlyargs}
        for n in ast.walk(f):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                local.add(n.id)
        for n in ast.walk(f):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == 'print':
                warn(n, 'print', 'print() in %s runs at every step of every car (15 a second '
                     'each): it slows training and floods the log' % f.name)
            elif isinstance(n, ast.Global):
                warn(n, 'global state', 'global %s: state kept between steps is not reset '
                     'between episodes and differs between parallel workers; derive what you '
                     'need from params' % ', '.join(n.names))
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                  and n.func.attr in MUTATORS and isinstance(n.func.value, ast.Name)
                  and n.func.value.id in top_names and n.func.value.id not in local):
                warn(n, 'global state', "%s changes the module-level '%s' (.%s): state kept "
                     "between steps is not reset between episodes"
                     % (f.name, n.func.value.id, n.func.attr))
    findings.sort(key=lambda t: (t[1], t[2]))
    return findings


# ---- the run-time tests ------------------------------------------------------------------

_OBJECTS = {
    'closest_objects': [0, 1],
    'objects_location': [[4.511289152034186, 1.3292364463761641],
                         [6.537302737755836, 1.4140104486149618],
                         [4.752976532490525, 3.1350845729056838],
                         [3.103370840828792, 4.133062703357412],
                         [0.7094212601659824, 4.217507179944688],
                         [1.5996645329306798, 1.7124666440529925]],
    'objects_left_of_center': [True, True, False, True, False, True],
    'object_in_camera': True,
    'objects_speed': [0.2] * 6,
    'objects_heading': [2.717322296283114, 2.368920328229894, -1.9305073380382327,
                        -1.3586571052564007, 0.00025041038280975884, 0.5573269195381345],
    'objects_distance': [1.9501724549506574, 4.139700164331426, 7.997164727523002,
                         10.024219705986598, 12.56561517097048, 15.090712948383509],
}


def test_inputs(route):
    # DeepRacer's validator's five states, from the rows of a route file (centre x, y, inner
    # x, y, outer x, y). As in DeepRacer's code: `waypoints` is a numpy array of the INNER
    # border's points (where numpy is installed), and projection_distance, sim_time and
    # objects_distance_from_center are absent.
    try:
        import numpy as np
        wp = np.asarray(route, dtype=float)
        waypoints = wp[:, 2:4]
    except ImportError:
        wp = route
        waypoints = [(r[2], r[3]) for r in route]
    n = len(route)
    width = math.hypot(wp[0][4] - wp[0][2], wp[0][5] - wp[0][3])
    length = sum(math.hypot(wp[i][2] - wp[i - 1][2], wp[i][3] - wp[i - 1][3])
                 for i in range(1, n))

    def state(**kw):
        d = {'all_wheels_on_track': True, 'distance_from_center': 0, 'heading': 0,
             'progress': 0, 'steps': 1, 'track_width': width, 'waypoints': waypoints,
             'closest_waypoints': [0, 1], 'is_left_of_center': True, 'is_reversed': True,
             'track_length': length, 'is_crashed': False, 'is_offtrack': False}
        d.update({k: (list(v) if isinstance(v, list) else v) for k, v in _OBJECTS.items()})
        d.update(kw)
        return d

    dist = math.hypot(wp[0][4] - wp[0][0], wp[0][5] - wp[0][1])
    sx, sy = (wp[0][4] - wp[0][0]) / dist, (wp[0][5] - wp[0][1]) / dist
    mid = n // 2
    return [
        ('valid', state(x=(wp[0][2] + wp[0][0]) / 2, y=(wp[0][3] + wp[0][1]) / 2, speed=0.5,
                        steering_angle=6)),
        ('start', state(x=wp[0][2], y=wp[0][3], speed=0.1, steering_angle=0.2)),
        ('progress', state(x=wp[mid][2], y=wp[mid][3], heading=359.9, progress=50, steps=100,
                           speed=1.0, steering_angle=6, closest_waypoints=[3, 4])),
        ('off track', state(all_wheels_on_track=False, x=wp[0][0] + sx * width,
                            y=wp[0][1] + sy * width, distance_from_center=width, heading=359.9,
                            speed=1, steering_angle=15, is_offtrack=True)),
        ('finish', state(x=wp[n - 1][2], y=wp[n - 1][3], heading=359.9, progress=100,
                         steps=10000, speed=5.0, steering_angle=0,
                         closest_waypoints=[n - 2, n - 1])),
    ]


class _ImportInFunction(Exception):
    pass


def _describe(e):
    return '%s: %s' % (type(e).__name__, e)


def runtime_check(rf, builtins_dict, route, filename, timeout_exc, tick):
    # The validator's run-time tests, in its order. tick() starts each call's time limit.
    findings = []

    def fail(rule, msg, exc=None):
        line = 0
        tb = exc.__traceback__ if exc is not None else None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        findings.append((1, line, 0, rule, msg))

    import inspect
    try:
        params = inspect.signature(rf).parameters
        if len(params) != 1:
            fail('signature', "reward_function has %d parameters; DeepRacer's validator wants "
                 "exactly one" % len(params))
    except (TypeError, ValueError):
        pass
    states = test_inputs(route)

    # Imports inside the function: they fail in DeepRacer's test call.
    real_import = builtins_dict['__import__']

    def no_import(name, *args, **kwargs):
        raise _ImportInFunction(name)

    builtins_dict['__import__'] = no_import
    try:
        tick()
        rf(states[0][1])
    except _ImportInFunction as e:
        fail('import in function', "import of '%s' inside the function: DeepRacer's validator "
             "wants every import at the top of the file" % e.args[0], e)
    except timeout_exc as e:
        fail('timeout', "reward_function ran longer than DeepRacer's %g s limit on the "
             "validator's test input" % TEST_TIMEOUT_S, e)
    except BaseException as e:
        fail('test input', "reward_function failed on the validator's test input "
             "(it omits projection_distance, sim_time and objects_distance_from_center, and "
             "passes waypoints as a numpy array): %s" % _describe(e), e)
    finally:
        builtins_dict['__import__'] = real_import
    if findings and findings[-1][3] != 'signature':
        return findings  # DeepRacer's validator stops at a failed suite

    names = {'valid': 'valid', 'start': 'start car', 'progress': 'progress car',
             'off track': 'off-track car', 'finish': 'finish car'}
    for label, params in states:
        try:
            tick()
            r = rf(params)
        except timeout_exc as e:
            fail('timeout', "reward_function ran longer than DeepRacer's %g s limit on the "
                 "validator's %s state" % (TEST_TIMEOUT_S, names[label]), e)
            return findings
        except BaseException as e:
            fail('test input', "reward_function failed on the validator's %s state: %s"
                 % (names[label], _describe(e)), e)
            continue
        if not isinstance(r, float):
            fail('return type', "reward_function returned %r (%s) on the validator's %s state; "
                 "DeepRacer's validator wants a Python float: return float(...)"
                 % (r, type(r).__name__, names[label]))
        elif not -1e5 <= r <= 1e5:
            fail('reward range', "reward_function returned %r on the validator's %s state, "
                 "outside [-1e5, 1e5]" % (r, names[label]))
    # One finding per rule and cause is enough (the same error in every state: once).
    seen, out = set(), []
    for f in findings:
        key = (f[3], f[4].rsplit(' state', 1)[-1])
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
