/*
 * _trackday.c - the CPython extension behind `import trackday` (docs/python.md): tracks, the
 * vector env and the model runtime of libtrackday.so, with the env's buffers exported through
 * the buffer protocol so that numpy arrays view them (no copies).
 *
 * Lifetimes: a Buffer holds a reference to the object whose memory it exports (an Env, a
 * Track), and numpy keeps the Buffer, so an array stays valid whatever is deleted first. An
 * Env holds its Track (td_vecenv_init borrows the track) and its Python reward function.
 * td_vecenv_step runs without the GIL; a Python reward function takes it back once per batch.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "trackday/infer.h"
#include "trackday/reward.h"
#include "trackday/sim.h"

static PyObject *td_py_error; /* trackday.Error */

/* Raises trackday.Error(message) with .code (the TD_E* name) and .message. */
static PyObject *raise_td(int code, const char *msg)
{
    PyObject *args = Py_BuildValue("(s)", msg && *msg ? msg : td_strerror(code));
    if (!args)
        return NULL;
    PyObject *exc = PyObject_Call(td_py_error, args, NULL);
    Py_DECREF(args);
    if (!exc)
        return NULL;
    PyObject *name = PyUnicode_FromString(td_err_name(code));
    PyObject *m = PyUnicode_FromString(msg && *msg ? msg : td_strerror(code));
    if (name && m) {
        PyObject_SetAttrString(exc, "code", name);
        PyObject_SetAttrString(exc, "message", m);
    }
    Py_XDECREF(name);
    Py_XDECREF(m);
    PyErr_SetObject(td_py_error, exc);
    Py_DECREF(exc);
    return NULL;
}

/* ---- Buffer: a view of C memory owned by another object ---------------------------------- */

typedef struct {
    PyObject_HEAD PyObject *owner;
    void *ptr;
    Py_ssize_t itemsize;
    int ndim;
    Py_ssize_t shape[4];
    Py_ssize_t strides[4];
    char format[8];
    int readonly;
} BufferObject;

static int buffer_get(PyObject *self, Py_buffer *view, int flags)
{
    BufferObject *b = (BufferObject *)self;
    if (b->readonly && (flags & PyBUF_WRITABLE)) {
        PyErr_SetString(PyExc_BufferError, "read-only buffer");
        return -1;
    }
    Py_ssize_t len = b->itemsize;
    for (int i = 0; i < b->ndim; i++)
        len *= b->shape[i];
    view->buf = b->ptr;
    view->obj = Py_NewRef(self);
    view->len = len;
    view->readonly = b->readonly;
    view->itemsize = b->itemsize;
    view->format = (flags & PyBUF_FORMAT) ? b->format : NULL;
    view->ndim = b->ndim;
    view->shape = (flags & PyBUF_ND) ? b->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? b->strides : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static void buffer_dealloc(PyObject *self)
{
    BufferObject *b = (BufferObject *)self;
    Py_XDECREF(b->owner);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *buffer_address(PyObject *self, void *closure)
{
    return PyLong_FromVoidPtr(((BufferObject *)self)->ptr);
}

static PyGetSetDef buffer_getset[] = {
    {"address", buffer_address, NULL, "the C address of the first element", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyBufferProcs buffer_procs = {buffer_get, NULL};

static PyTypeObject BufferType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "trackday._trackday.Buffer",
    .tp_basicsize = sizeof(BufferObject),
    .tp_dealloc = buffer_dealloc,
    .tp_as_buffer = &buffer_procs,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_getset = buffer_getset,
    .tp_doc = "C memory exported through the buffer protocol (keeps its owner alive)",
};

/* A Buffer of ptr with the given item format and C-contiguous shape. */
static PyObject *buffer_new(PyObject *owner, void *ptr, const char *format, Py_ssize_t itemsize,
                            int ndim, const Py_ssize_t *shape, int readonly)
{
    BufferObject *b = PyObject_New(BufferObject, &BufferType);
    if (!b)
        return NULL;
    b->owner = Py_NewRef(owner);
    b->ptr = ptr;
    b->itemsize = itemsize;
    b->ndim = ndim;
    snprintf(b->format, sizeof(b->format), "%s", format);
    b->readonly = readonly;
    Py_ssize_t stride = itemsize;
    for (int i = ndim - 1; i >= 0; i--) {
        b->shape[i] = shape[i];
        b->strides[i] = stride;
        stride *= shape[i];
    }
    return (PyObject *)b;
}

/* ---- Track ---------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD td_track t;
    int loaded;
} TrackObject;

static int track_init(PyObject *self, PyObject *args, PyObject *kw)
{
    TrackObject *o = (TrackObject *)self;
    const char *path;
    static char *kwlist[] = {"path", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s", kwlist, &path))
        return -1;
    if (o->loaded) {
        td_track_free(&o->t);
        o->loaded = 0;
    }
    td_err err = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = td_track_load(&o->t, path, &err);
    Py_END_ALLOW_THREADS if (rc)
    {
        raise_td(rc, err.msg);
        return -1;
    }
    o->loaded = 1;
    return 0;
}

static void track_dealloc(PyObject *self)
{
    TrackObject *o = (TrackObject *)self;
    if (o->loaded)
        td_track_free(&o->t);
    Py_TYPE(self)->tp_free(self);
}

static int track_ready(TrackObject *o)
{
    if (!o->loaded) {
        PyErr_SetString(PyExc_ValueError, "the track is not loaded");
        return 0;
    }
    return 1;
}

static PyObject *track_get(PyObject *self, void *closure)
{
    TrackObject *o = (TrackObject *)self;
    if (!track_ready(o))
        return NULL;
    const char *what = closure;
    if (!strcmp(what, "name"))
        return PyUnicode_FromString(o->t.name);
    if (!strcmp(what, "length"))
        return PyFloat_FromDouble(o->t.length);
    if (!strcmp(what, "closed"))
        return PyBool_FromLong(o->t.closed);
    if (!strcmp(what, "n"))
        return PyLong_FromLong(o->t.n);
    Py_ssize_t shape[2] = {o->t.n, 2};
    double *p = !strcmp(what, "center")  ? o->t.center
                : !strcmp(what, "inner") ? o->t.inner
                                         : o->t.outer;
    return buffer_new(self, p, "d", sizeof(double), 2, shape, 1);
}

static PyGetSetDef track_getset[] = {
    {"name", track_get, NULL, "the track's name", "name"},
    {"length", track_get, NULL, "centreline length, metres", "length"},
    {"closed", track_get, NULL, "a loop (else an open route)", "closed"},
    {"n", track_get, NULL, "points, the closing duplicate of a loop included", "n"},
    {"center", track_get, NULL, "(n, 2) centreline: params['waypoints']", "center"},
    {"inner", track_get, NULL, "(n, 2) inner border", "inner"},
    {"outer", track_get, NULL, "(n, 2) outer border", "outer"},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject TrackType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "trackday._trackday.Track",
    .tp_basicsize = sizeof(TrackObject),
    .tp_dealloc = track_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_init = track_init,
    .tp_new = PyType_GenericNew,
    .tp_getset = track_getset,
    .tp_doc = "Track(path): a track file (.npy DeepRacer route or .json)",
};

/* find_track(name, dirs) -> path */
static PyObject *py_find_track(PyObject *mod, PyObject *args)
{
    const char *name;
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "sO", &name, &seq))
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "dirs must be a sequence of str");
    if (!fast)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > 64) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "at most 64 directories");
        return NULL;
    }
    const char *dirs[64];
    for (Py_ssize_t i = 0; i < n; i++) {
        dirs[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
        if (!dirs[i]) {
            Py_DECREF(fast);
            return NULL;
        }
    }
    char out[4096];
    td_err err = {0};
    int rc = td_track_find(name, dirs, (int)n, NULL, 0, out, sizeof(out), &err);
    Py_DECREF(fast);
    if (rc)
        return raise_td(rc, err.msg);
    return PyUnicode_FromString(out);
}

/* ---- Env -------------------------------------------------------------------------------- */

/* The C env and its buffers: what Buffers keep alive. It holds no Python object that could
 * lead back to an array (numpy arrays are not seen by the cycle collector, so a cycle through
 * them would never be freed); the Python reward function lives in the Env object. */
/* The numbers of an episode that ended in the last step (trackday.VecEnv's info["episode"];
 * the layout is _EPISODE_DTYPE in trackday/__init__.py). */
typedef struct {
    double progress, total_reward, lap_time_s, sim_time_s;
    int32_t steps, status;
} episode_rec;
_Static_assert(sizeof(episode_rec) == 40, "episode_rec is _EPISODE_DTYPE");

typedef struct {
    PyObject_HEAD td_vecenv env;
    td_vecenv_buffers buf;
    episode_rec *episodes; /* (n): written for the cars whose episode ended in the last step */
    int ready;
    PyObject *track;   /* TrackObject: the env borrows its td_track */
    td_reward *reward; /* a C reward host (builtin:, .so, sandboxed .py), or NULL */
    int8_t *status;    /* (n) td_vecenv_step_status after each step */
    uint8_t *term;     /* (2n): terminated then truncated (Gymnasium), after each step */
} CoreObject;

static void core_dealloc(PyObject *self)
{
    CoreObject *c = (CoreObject *)self;
    if (c->ready) {
        td_vecenv_buffers_free(&c->buf);
        td_vecenv_free(&c->env);
    }
    td_reward_close(c->reward);
    td_free(c->status);
    td_free(c->episodes);
    td_free(c->term);
    Py_XDECREF(c->track);
    Py_TYPE(self)->tp_free(self);
}

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "trackday._trackday.Core",
    .tp_basicsize = sizeof(CoreObject),
    .tp_dealloc = core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "the C env and its buffers (kept alive by the arrays that view them)",
};

typedef struct {
    PyObject_HEAD CoreObject *core;
    PyObject *reward_fn; /* a Python callable(params dict) -> float, or NULL */
    PyObject *json_loads;
    PyObject *waypoints[2]; /* params['waypoints'] lists, by the waypoint array they show */
    const double *waypoints_ptr[2];
    PyObject *pending, *pending_value, *pending_tb; /* what the Python reward raised in a step */
    td_params scratch;
} EnvObject;

static int env_traverse(PyObject *self, visitproc visit, void *arg)
{
    EnvObject *e = (EnvObject *)self;
    Py_VISIT(e->reward_fn);
    Py_VISIT(e->pending);
    Py_VISIT(e->pending_value);
    Py_VISIT(e->pending_tb);
    return 0;
}

static int env_clear(PyObject *self)
{
    EnvObject *e = (EnvObject *)self;
    /* The C env may outlive this object (its arrays keep it): it no longer calls back. */
    if (e->core && e->core->env.reward_user == e) {
        e->core->env.reward_fn = NULL;
        e->core->env.reward_user = NULL;
    }
    Py_CLEAR(e->reward_fn);
    Py_CLEAR(e->pending);
    Py_CLEAR(e->pending_value);
    Py_CLEAR(e->pending_tb);
    return 0;
}

static void env_dealloc(PyObject *self)
{
    EnvObject *e = (EnvObject *)self;
    PyObject_GC_UnTrack(self);
    env_clear(self);
    Py_CLEAR(e->core);
    Py_CLEAR(e->json_loads);
    Py_CLEAR(e->waypoints[0]);
    Py_CLEAR(e->waypoints[1]);
    Py_TYPE(self)->tp_free(self);
}

/* The params dict of DeepRacer (td_params_to_json, the text `trackday probe` prints), with
 * params['waypoints'] one list per waypoint array, shared between calls. */
static PyObject *params_dict(EnvObject *e, const td_params *p)
{
    td_params_copy(&e->scratch, p);
    e->scratch.n_waypoints = 0;
    e->scratch.waypoints = NULL;
    char *text = NULL;
    td_err err = {0};
    int rc = td_params_to_json(&e->scratch, &text, &err);
    if (rc)
        return raise_td(rc, err.msg);
    PyObject *d = PyObject_CallFunction(e->json_loads, "s", text);
    td_free(text);
    if (!d)
        return NULL;
    int slot = -1;
    for (int k = 0; k < 2; k++)
        if (e->waypoints[k] && e->waypoints_ptr[k] == p->waypoints)
            slot = k;
    if (slot < 0) {
        slot = e->waypoints[0] ? 1 : 0;
        if (e->waypoints[0] && e->waypoints[1])
            slot = 0;
        PyObject *list = PyList_New(p->n_waypoints);
        if (!list) {
            Py_DECREF(d);
            return NULL;
        }
        for (int i = 0; i < p->n_waypoints; i++) {
            PyObject *pt = Py_BuildValue("[dd]", p->waypoints[2 * i], p->waypoints[2 * i + 1]);
            if (!pt) {
                Py_DECREF(list);
                Py_DECREF(d);
                return NULL;
            }
            PyList_SET_ITEM(list, i, pt);
        }
        Py_XSETREF(e->waypoints[slot], list);
        e->waypoints_ptr[slot] = p->waypoints;
    }
    if (PyDict_SetItemString(d, "waypoints", e->waypoints[slot]) != 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* td_reward_batch_fn for a Python reward function: called inside td_vecenv_step. */
static void python_reward_cb(void *user, const td_params *params, int n, float *out)
{
    EnvObject *e = user;
    PyGILState_STATE gs = PyGILState_Ensure();
    for (int k = 0; k < n; k++)
        out[k] = 0.0f;
    for (int k = 0; k < n && !e->pending; k++) {
        PyObject *d = params_dict(e, &params[k]);
        PyObject *r = d ? PyObject_CallOneArg(e->reward_fn, d) : NULL;
        Py_XDECREF(d);
        double v = r ? PyFloat_AsDouble(r) : -1.0;
        Py_XDECREF(r);
        if (r && v == -1.0 && PyErr_Occurred())
            r = NULL;
        if (r && !isfinite(v)) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "the reward function returned %g for car %d at step %d: a reward must be "
                     "a finite number",
                     v, td_vecenv_reward_car(&e->core->env, k), params[k].steps);
            PyErr_SetString(PyExc_ValueError, msg);
            r = NULL;
        }
        if (!r) {
            PyErr_Fetch(&e->pending, &e->pending_value, &e->pending_tb);
            if (!e->pending)
                e->pending = Py_NewRef(PyExc_SystemError);
            break;
        }
        out[k] = (float)v;
    }
    PyGILState_Release(gs);
}

static const char *sensor_names[] = {"state", "camera", "stereo", "lidar", NULL};
static const int sensor_bits[] = {TD_SENSOR_STATE, TD_SENSOR_CAMERA, TD_SENSOR_STEREO,
                                  TD_SENSOR_LIDAR};

static int parse_sensors(PyObject *obj, int *bits)
{
    *bits = 0;
    PyObject *seq = PyUnicode_Check(obj) ? Py_BuildValue("(O)", obj) : PySequence_Tuple(obj);
    if (!seq)
        return -1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(seq); i++) {
        const char *s = PyUnicode_AsUTF8(PyTuple_GET_ITEM(seq, i));
        if (!s) {
            Py_DECREF(seq);
            return -1;
        }
        int k = 0;
        while (sensor_names[k] && strcmp(sensor_names[k], s) != 0)
            k++;
        if (!sensor_names[k]) {
            Py_DECREF(seq);
            raise_td(TD_EINVAL, "unknown sensor: expected state, camera, stereo or lidar");
            return -1;
        }
        *bits |= sensor_bits[k];
    }
    Py_DECREF(seq);
    if ((*bits & TD_SENSOR_CAMERA) && (*bits & TD_SENSOR_STEREO)) {
        raise_td(TD_EINVAL, "camera and stereo are one sensor: choose one");
        return -1;
    }
    if (!*bits) {
        raise_td(TD_EINVAL, "no sensor given");
        return -1;
    }
    return 0;
}

static int env_init(PyObject *self, PyObject *args, PyObject *kw)
{
    EnvObject *e = (EnvObject *)self;
    static char *kwlist[] = {"track",   "n",      "sensor",     "race_type", "seed",
                             "threads", "reward", "mode",       "max_steps", "obstacles",
                             "bots",    "car",    "max_resets", NULL};
    PyObject *track, *sensor, *reward = Py_None;
    int n, threads = 1, max_steps = -1, obstacles = -1, bots = -1, max_resets = -1;
    unsigned long long seed = 0;
    const char *race = "time-trial", *mode = "train", *car = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!iO|sKiOsiiizi", kwlist, &TrackType, &track, &n,
                                     &sensor, &race, &seed, &threads, &reward, &mode, &max_steps,
                                     &obstacles, &bots, &car, &max_resets))
        return -1;
    if (e->core) {
        PyErr_SetString(PyExc_RuntimeError, "Env.__init__ called twice");
        return -1;
    }
    if (!track_ready((TrackObject *)track))
        return -1;
    CoreObject *core = PyObject_New(CoreObject, &CoreType);
    if (!core)
        return -1;
    memset((char *)core + sizeof(PyObject), 0, sizeof(*core) - sizeof(PyObject));
    core->track = Py_NewRef(track); /* before anything can fail: core_dealloc frees it all */
    e->core = core;
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    if (parse_sensors(sensor, &cfg.sensors))
        return -1;
    td_race_type rt;
    if (td_race_type_parse(race, &rt)) {
        raise_td(TD_EINVAL, "race_type: expected time-trial, object-avoidance or head-to-bot");
        return -1;
    }
    td_race_config_set_type(&cfg.race, rt);
    if (obstacles >= 0)
        cfg.race.number_of_obstacles = obstacles;
    if (bots >= 0)
        cfg.race.number_of_bot_cars = bots;
    if (!strcmp(mode, "train"))
        cfg.mode = TD_MODE_TRAIN;
    else if (!strcmp(mode, "eval"))
        cfg.mode = TD_MODE_EVAL;
    else if (!strcmp(mode, "continuous"))
        cfg.mode = TD_MODE_CONTINUOUS;
    else {
        raise_td(TD_EINVAL, "mode: expected train, eval or continuous");
        return -1;
    }
    td_err err = {0};
    if (car) {
        int rc = td_car_config_resolve(&cfg.car, car, &err);
        if (rc) {
            raise_td(rc, err.msg);
            return -1;
        }
    }
    if (max_steps > 0)
        cfg.max_steps = max_steps;
    if (max_resets >= 0)
        cfg.penalties.max_resets = max_resets;
    cfg.seed = seed;
    cfg.threads = threads;
    PyObject *json = PyImport_ImportModule("json");
    e->json_loads = json ? PyObject_GetAttrString(json, "loads") : NULL;
    Py_XDECREF(json);
    if (!e->json_loads)
        return -1;
    /* The reward: a callable, a spec string (builtin:NAME, NAME, .so, .py) or None. */
    if (reward != Py_None && PyCallable_Check(reward)) {
        e->reward_fn = Py_NewRef(reward);
    } else if (reward != Py_None) {
        const char *spec = PyUnicode_AsUTF8(reward);
        if (!spec)
            return -1;
        int rc;
        Py_BEGIN_ALLOW_THREADS rc =
            td_reward_open(&e->core->reward, spec, &((TrackObject *)track)->t, &err);
        Py_END_ALLOW_THREADS if (rc)
        {
            raise_td(rc, err.msg);
            return -1;
        }
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS rc =
        td_vecenv_init(&e->core->env, &cfg, &((TrackObject *)track)->t, n, &err);
    Py_END_ALLOW_THREADS if (rc)
    {
        td_reward_close(e->core->reward);
        e->core->reward = NULL;
        raise_td(rc, err.msg);
        return -1;
    }
    rc = td_vecenv_buffers_init(&e->core->buf, &e->core->env, &err);
    e->core->status = rc ? NULL : td_calloc((size_t)n, 1);
    e->core->episodes = rc ? NULL : td_calloc((size_t)n, sizeof(episode_rec));
    e->core->term = rc ? NULL : td_calloc((size_t)n, 2);
    if (rc || !e->core->status || !e->core->episodes || !e->core->term) {
        td_vecenv_buffers_free(&e->core->buf);
        td_vecenv_free(&e->core->env);
        td_reward_close(e->core->reward);
        e->core->reward = NULL;
        raise_td(rc ? rc : TD_ENOMEM, rc ? err.msg : "out of memory");
        return -1;
    }
    e->core->ready = 1;
    if (e->reward_fn) {
        e->core->env.reward_fn = python_reward_cb;
        e->core->env.reward_user = e;
    } else if (e->core->reward) {
        e->core->env.reward_fn = td_reward_batch_cb;
        e->core->env.reward_user = e->core->reward;
    }
    return 0;
}

static int env_ready(EnvObject *e)
{
    if (!e->core || !e->core->ready) {
        PyErr_SetString(PyExc_ValueError, "the env is not initialized");
        return 0;
    }
    return 1;
}

/* After a step or reset: the statuses, then any error of the reward; returns the number of
 * cars whose episode ended (so that Python looks at dones only when one did). */
static PyObject *after_step(EnvObject *e)
{
    long ended = 0;
    int n = e->core->env.n;
    uint8_t *terminated = e->core->term, *truncated = e->core->term + n;
    for (int i = 0; i < n; i++) {
        td_episode_status st = td_vecenv_step_status(&e->core->env, i);
        e->core->status[i] = (int8_t)st;
        int done = e->core->buf.dones[i] != 0;
        /* max_steps truncates; every other end terminates (docs/python.md). */
        truncated[i] = (uint8_t)(done && st == TD_EP_TIME_UP);
        terminated[i] = (uint8_t)(done && st != TD_EP_TIME_UP);
        if (done) {
            const td_episode_info *in = td_vecenv_last_episode(&e->core->env, i);
            episode_rec *r = &e->core->episodes[i];
            r->progress = in->progress;
            r->total_reward = in->total_reward;
            r->lap_time_s = in->lap_time_s;
            r->sim_time_s = in->sim_time_s;
            r->steps = in->steps;
            r->status = (int32_t)in->status;
            ended++;
        }
    }
    if (e->pending) {
        PyErr_Restore(e->pending, e->pending_value, e->pending_tb);
        e->pending = e->pending_value = e->pending_tb = NULL;
        return NULL;
    }
    if (e->core->reward && td_reward_failed(e->core->reward)) {
        const td_reward_error *re = td_reward_last_error(e->core->reward);
        char msg[TD_ERR_MSG_LEN];
        snprintf(msg, sizeof(msg), "%s", re ? re->message : "reward function error");
        td_reward_clear_error(e->core->reward);
        return raise_td(TD_EREWARD, msg);
    }
    return PyLong_FromLong(ended);
}

/* reset() or step(), without the GIL: the cars whose episode ended. */
static PyObject *env_advance(PyObject *self, int reset)
{
    EnvObject *e = (EnvObject *)self;
    if (!env_ready(e))
        return NULL;
    PyThreadState *ts = PyEval_SaveThread(); /* Py_BEGIN_ALLOW_THREADS */
    if (reset)
        td_vecenv_reset(&e->core->env);
    else
        td_vecenv_step(&e->core->env);
    PyEval_RestoreThread(ts); /* Py_END_ALLOW_THREADS */
    return after_step(e);
}

static PyObject *env_reset(PyObject *self, PyObject *unused)
{
    return env_advance(self, 1);
}

static PyObject *env_step(PyObject *self, PyObject *unused)
{
    return env_advance(self, 0);
}

/* bench_c(steps, actions) -> seconds: `steps` steps in a C loop with the actions buffer as it
 * is (the baseline of bench/python.py: the same env without Python per step). */
static PyObject *env_bench_c(PyObject *self, PyObject *args)
{
    EnvObject *e = (EnvObject *)self;
    int steps;
    if (!PyArg_ParseTuple(args, "i", &steps) || !env_ready(e))
        return NULL;
    double t0 = 0, t1 = 0;
    Py_BEGIN_ALLOW_THREADS t0 = td_time_now();
    for (int s = 0; s < steps; s++)
        td_vecenv_step(&e->core->env);
    t1 = td_time_now();
    Py_END_ALLOW_THREADS PyObject *r = after_step(e);
    if (!r)
        return NULL;
    Py_DECREF(r);
    return PyFloat_FromDouble(t1 - t0);
}

static PyObject *env_buffer(PyObject *self, PyObject *args)
{
    EnvObject *e = (EnvObject *)self;
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name) || !env_ready(e))
        return NULL;
    Py_ssize_t n = e->core->env.n;
    const td_sim_config *c = &e->core->env.cfg;
    if (!strcmp(name, "actions"))
        return buffer_new((PyObject *)e->core, e->core->buf.actions, "f", 4, 2,
                          (Py_ssize_t[]){n, 2}, 0);
    if (!strcmp(name, "rewards"))
        return buffer_new((PyObject *)e->core, e->core->buf.rewards, "f", 4, 1, &n, 1);
    if (!strcmp(name, "dones"))
        return buffer_new((PyObject *)e->core, e->core->buf.dones, "B", 1, 1, &n, 1);
    if (!strcmp(name, "status"))
        return buffer_new((PyObject *)e->core, e->core->status, "b", 1, 1, &n, 1);
    if (!strcmp(name, "state") && e->core->buf.state)
        return buffer_new((PyObject *)e->core, e->core->buf.state, "f", 4, 2,
                          (Py_ssize_t[]){n, TD_STATE_DIM}, 1);
    if (!strcmp(name, "lidar") && e->core->buf.lidar)
        return buffer_new((PyObject *)e->core, e->core->buf.lidar, "f", 4, 2,
                          (Py_ssize_t[]){n, td_vecenv_lidar_dim(c)}, 1);
    if (!strcmp(name, "camera") && e->core->buf.camera) {
        Py_ssize_t ch = (c->sensors & TD_SENSOR_STEREO) ? 2 : 1;
        return buffer_new((PyObject *)e->core, e->core->buf.camera, "B", 1, 4,
                          (Py_ssize_t[]){n, c->camera.height, c->camera.width, ch}, 1);
    }
    if (!strcmp(name, "terminated"))
        return buffer_new((PyObject *)e->core, e->core->term, "?", 1, 1, &n, 1);
    if (!strcmp(name, "truncated"))
        return buffer_new((PyObject *)e->core, e->core->term + n, "?", 1, 1, &n, 1);
    if (!strcmp(name, "episodes"))
        return buffer_new((PyObject *)e->core, e->core->episodes, "B", 1, 2,
                          (Py_ssize_t[]){n, (Py_ssize_t)sizeof(episode_rec)}, 1);
    if (!strcmp(name, "params"))
        return buffer_new((PyObject *)e->core, e->core->buf.params, "B", 1, 2,
                          (Py_ssize_t[]){n, (Py_ssize_t)sizeof(td_params)}, 1);
    PyErr_Format(PyExc_KeyError, "no buffer '%s' in this env", name);
    return NULL;
}

static int car_index(EnvObject *e, int i)
{
    if (!env_ready(e))
        return 0;
    if (i < 0 || i >= e->core->env.n) {
        PyErr_Format(PyExc_IndexError, "car %d: the env has %d cars", i, e->core->env.n);
        return 0;
    }
    return 1;
}

static PyObject *env_params_dict(PyObject *self, PyObject *args)
{
    EnvObject *e = (EnvObject *)self;
    int i;
    if (!PyArg_ParseTuple(args, "i", &i) || !car_index(e, i))
        return NULL;
    return params_dict(e, &e->core->buf.params[i]);
}

static PyObject *episode_dict(const td_episode_info *in)
{
    PyObject *laps = PyList_New(in->laps < 0 ? 0 : in->laps);
    if (!laps)
        return NULL;
    for (int k = 0; k < in->laps && k < TD_MAX_LAPS; k++)
        PyList_SET_ITEM(laps, k, PyFloat_FromDouble(in->lap_times_s[k]));
    return Py_BuildValue("{s:i,s:s,s:d,s:i,s:d,s:d,s:O,s:d,s:i,s:N,s:d,s:i,s:i,s:i,s:i,s:i,s:d}",
                         "episode", in->episode, "status", td_episode_status_name(in->status),
                         "progress", in->progress, "steps", in->steps, "sim_time_s", in->sim_time_s,
                         "total_reward", in->total_reward, "reversed",
                         in->reversed_dir ? Py_True : Py_False, "start", in->start_ndist, "laps",
                         in->laps, "lap_times_s", laps, "lap_time_s", in->lap_time_s, "off_tracks",
                         in->events.off_tracks, "crashes", in->events.crashes, "reverses",
                         in->events.reverses, "immobilized", in->events.immobilized, "resets",
                         in->events.resets, "penalty_s", in->events.penalty_s);
}

/* last_episode(i) or current_episode(i) as a dict. */
static PyObject *env_episode(PyObject *self, PyObject *args, int last)
{
    EnvObject *e = (EnvObject *)self;
    int i;
    if (!PyArg_ParseTuple(args, "i", &i) || !car_index(e, i))
        return NULL;
    return episode_dict(last ? td_vecenv_last_episode(&e->core->env, i)
                             : td_vecenv_current_episode(&e->core->env, i));
}

static PyObject *env_last_episode(PyObject *self, PyObject *args)
{
    return env_episode(self, args, 1);
}

static PyObject *env_current_episode(PyObject *self, PyObject *args)
{
    return env_episode(self, args, 0);
}

static PyObject *env_teleport(PyObject *self, PyObject *args)
{
    EnvObject *e = (EnvObject *)self;
    int i;
    double x, y, yaw, speed = 0;
    if (!PyArg_ParseTuple(args, "iddd|d", &i, &x, &y, &yaw, &speed) || !car_index(e, i))
        return NULL;
    if (!isfinite(x) || !isfinite(y) || !isfinite(yaw) || !isfinite(speed))
        return raise_td(TD_EINVAL, "teleport: the pose must be finite");
    td_vecenv_teleport(&e->core->env, i, x, y, yaw, speed);
    Py_RETURN_NONE;
}

static PyObject *env_car(PyObject *self, PyObject *args)
{
    EnvObject *e = (EnvObject *)self;
    int i;
    if (!PyArg_ParseTuple(args, "i", &i) || !car_index(e, i))
        return NULL;
    const td_car_state *s = td_vecenv_car(&e->core->env, i);
    return Py_BuildValue("{s:d,s:d,s:d,s:d,s:d}", "x", s->x, "y", s->y, "yaw", s->yaw, "speed",
                         s->speed, "steer", s->steer);
}

static PyObject *env_get(PyObject *self, void *closure)
{
    EnvObject *e = (EnvObject *)self;
    if (!env_ready(e))
        return NULL;
    const td_sim_config *c = &e->core->env.cfg;
    const char *w = closure;
    if (!strcmp(w, "n"))
        return PyLong_FromLong(e->core->env.n);
    if (!strcmp(w, "sensors"))
        return PyLong_FromLong(c->sensors);
    if (!strcmp(w, "threads"))
        return PyLong_FromLong(c->threads);
    if (!strcmp(w, "seed"))
        return PyLong_FromUnsignedLongLong(c->seed);
    if (!strcmp(w, "max_steps"))
        return PyLong_FromLong(c->max_steps);
    if (!strcmp(w, "hz"))
        return PyFloat_FromDouble(c->hz);
    if (!strcmp(w, "action_low"))
        return Py_BuildValue("(dd)", -c->car.steer_max_deg, c->car.speed_min);
    if (!strcmp(w, "action_high"))
        return Py_BuildValue("(dd)", c->car.steer_max_deg, c->car.speed_max);
    if (!strcmp(w, "race_type"))
        return PyUnicode_FromString(td_race_type_name(c->race.race_type));
    Py_RETURN_NONE;
}

static PyGetSetDef env_getset[] = {
    {"n", env_get, NULL, "cars", "n"},
    {"sensors", env_get, NULL, "TD_SENSOR_* bits", "sensors"},
    {"threads", env_get, NULL, "threads stepping the env", "threads"},
    {"seed", env_get, NULL, "the seed", "seed"},
    {"max_steps", env_get, NULL, "steps per episode before time_up", "max_steps"},
    {"hz", env_get, NULL, "control steps per simulated second", "hz"},
    {"action_low", env_get, NULL, "(steering_deg, speed) lower bounds", "action_low"},
    {"action_high", env_get, NULL, "(steering_deg, speed) upper bounds", "action_high"},
    {"race_type", env_get, NULL, "TIME_TRIAL, OBJECT_AVOIDANCE or HEAD_TO_BOT", "race_type"},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMethodDef env_methods[] = {
    {"reset", env_reset, METH_NOARGS, "starts a new episode for every car"},
    {"step", env_step, METH_NOARGS, "one step with the actions buffer -> cars whose episode ended"},
    {"bench_c", env_bench_c, METH_VARARGS, "bench_c(steps) -> seconds of a C loop of steps"},
    {"buffer", env_buffer, METH_VARARGS, "buffer(name) -> Buffer viewing the C buffer"},
    {"params_dict", env_params_dict, METH_VARARGS, "params_dict(i) -> DeepRacer's dict"},
    {"last_episode", env_last_episode, METH_VARARGS, "last_episode(i) -> dict"},
    {"current_episode", env_current_episode, METH_VARARGS, "current_episode(i) -> dict"},
    {"teleport", env_teleport, METH_VARARGS, "teleport(i, x, y, yaw_rad, speed=0)"},
    {"car", env_car, METH_VARARGS, "car(i) -> the car's dynamic state"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject EnvType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "trackday._trackday.Env",
    .tp_basicsize = sizeof(EnvObject),
    .tp_dealloc = env_dealloc,
    .tp_traverse = env_traverse,
    .tp_clear = env_clear,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_init = env_init,
    .tp_new = PyType_GenericNew,
    .tp_methods = env_methods,
    .tp_getset = env_getset,
    .tp_doc = "the C vector env (trackday.VecEnv wraps it)",
};

/* ---- params layout, for the structured numpy dtype --------------------------------------- */

static PyObject *py_params_layout(PyObject *mod, PyObject *unused)
{
#define F(name, fmt, count)                                                                        \
    Py_BuildValue("(sns i)", #name, (Py_ssize_t)offsetof(td_params, name), fmt, (int)(count))
    PyObject *fields = Py_BuildValue(
        "[NNNNNNNNNNNNNNNNNNNNNNNNNNNN]", F(x, "f8", 1), F(y, "f8", 1), F(heading, "f8", 1),
        F(speed, "f8", 1), F(steering_angle, "f8", 1), F(progress, "f8", 1), F(steps, "i4", 1),
        F(track_length, "f8", 1), F(track_width, "f8", 1), F(distance_from_center, "f8", 1),
        F(is_left_of_center, "i4", 1), F(all_wheels_on_track, "i4", 1), F(is_offtrack, "i4", 1),
        F(is_crashed, "i4", 1), F(is_reversed, "i4", 1), F(closest_waypoints, "i4", 2),
        F(projection_distance, "f8", 1), F(sim_time, "f8", 1), F(n_waypoints, "i4", 1),
        F(n_objects, "i4", 1), F(closest_objects, "i4", 2),
        F(objects_location, "f8", 2 * TD_MAX_OBJECTS), F(objects_distance, "f8", TD_MAX_OBJECTS),
        F(objects_distance_from_center, "f8", TD_MAX_OBJECTS),
        F(objects_left_of_center, "i4", TD_MAX_OBJECTS), F(objects_speed, "f8", TD_MAX_OBJECTS),
        F(objects_heading, "f8", TD_MAX_OBJECTS), F(object_in_camera, "i4", 1));
#undef F
    if (!fields)
        return NULL;
    return Py_BuildValue("(Nni)", fields, (Py_ssize_t)sizeof(td_params), TD_MAX_OBJECTS);
}

/* ---- Model (infer/) ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD td_infer_model *m;
} ModelObject;

static int model_init(PyObject *self, PyObject *args, PyObject *kw)
{
    ModelObject *o = (ModelObject *)self;
    const char *path;
    static char *kwlist[] = {"path", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s", kwlist, &path))
        return -1;
    td_infer_close(o->m);
    o->m = NULL;
    td_infer_err err = {{0}};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = td_infer_open_file(&o->m, path, &err);
    Py_END_ALLOW_THREADS if (rc)
    {
        raise_td(rc, err.msg);
        return -1;
    }
    return 0;
}

static void model_dealloc(PyObject *self)
{
    td_infer_close(((ModelObject *)self)->m);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *model_info(PyObject *self, PyObject *unused)
{
    ModelObject *o = (ModelObject *)self;
    if (!o->m) {
        PyErr_SetString(PyExc_ValueError, "no model loaded");
        return NULL;
    }
    const td_infer_info *in = td_infer_get_info(o->m);
    PyObject *acts = PyList_New(in->n_actions > 0 ? in->n_actions : 0);
    if (!acts)
        return NULL;
    for (int k = 0; k < in->n_actions; k++)
        PyList_SET_ITEM(acts, k,
                        Py_BuildValue("(dd)", in->actions[k].steering_angle, in->actions[k].speed));
    return Py_BuildValue(
        "{s:(iii),s:i,s:i,s:O,s:i,s:i,s:N,s:(dd),s:(dd),s:L,s:d,s:s}", "camera", in->camera_h,
        in->camera_w, in->camera_c, "lidar_dim", in->lidar_dim, "state_dim", in->state_dim,
        "continuous", in->continuous ? Py_True : Py_False, "n_out", in->n_out, "n_actions",
        in->n_actions, "actions", acts, "steering_range", (double)in->steering_low,
        (double)in->steering_high, "speed_range", (double)in->speed_low, (double)in->speed_high,
        "n_params", in->n_params, "flops", in->flops, "isa", td_infer_isa_name(in->isa));
}

/* Gets a C-contiguous buffer of rows x per items of itemsize bytes from obj (None: absent). */
static int get_rows(PyObject *obj, Py_buffer *view, Py_ssize_t rows, Py_ssize_t per,
                    Py_ssize_t itemsize, const char *what, int writable)
{
    view->obj = NULL;
    if (obj == Py_None)
        return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)))
        return -1;
    if (view->len != rows * per * itemsize) {
        PyErr_Format(PyExc_ValueError,
                     "%s: expected %zd x %zd items of %zd bytes (%zd bytes), got %zd bytes", what,
                     rows, per, itemsize, rows * per * itemsize, view->len);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

/* run(n, state, camera, lidar, actions_out (n,2) f32, index_out (n) i32) */
static PyObject *model_run(PyObject *self, PyObject *args)
{
    ModelObject *o = (ModelObject *)self;
    Py_ssize_t n;
    PyObject *st, *cam, *li, *aout, *iout;
    if (!PyArg_ParseTuple(args, "nOOOOO", &n, &st, &cam, &li, &aout, &iout))
        return NULL;
    if (!o->m) {
        PyErr_SetString(PyExc_ValueError, "no model loaded");
        return NULL;
    }
    const td_infer_info *in = td_infer_get_info(o->m);
    Py_buffer vs, vc, vl, va, vi;
    vs.obj = vc.obj = vl.obj = va.obj = vi.obj = NULL;
    int bad = 0;
    if ((in->state_dim && st == Py_None) || (in->lidar_dim && li == Py_None) ||
        (in->camera_h && cam == Py_None)) {
        PyErr_Format(PyExc_ValueError, "the model needs %s%s%s", in->state_dim ? "state " : "",
                     in->camera_h ? "camera " : "", in->lidar_dim ? "lidar" : "");
        return NULL;
    }
    bad = get_rows(in->state_dim ? st : Py_None, &vs, n, in->state_dim, 4, "state", 0) ||
          get_rows(in->camera_h ? cam : Py_None, &vc, n,
                   (Py_ssize_t)in->camera_h * in->camera_w * in->camera_c, 1, "camera", 0) ||
          get_rows(in->lidar_dim ? li : Py_None, &vl, n, in->lidar_dim, 4, "lidar", 0) ||
          get_rows(aout, &va, n, 2, 4, "actions", 1) || get_rows(iout, &vi, n, 1, 4, "index", 1);
    int rc = 0;
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS for (Py_ssize_t i = 0; i < n && !rc; i++)
        {
            td_infer_obs obs = {vc.obj ? (const uint8_t *)vc.buf + i * (Py_ssize_t)in->camera_h *
                                                                       in->camera_w * in->camera_c
                                       : NULL,
                                vl.obj ? (const float *)vl.buf + i * in->lidar_dim : NULL,
                                vs.obj ? (const float *)vs.buf + i * in->state_dim : NULL};
            td_infer_action act;
            rc = td_infer_run(o->m, &obs, &act);
            if (!rc) {
                ((float *)va.buf)[2 * i] = act.steering_angle;
                ((float *)va.buf)[2 * i + 1] = act.speed;
                ((int32_t *)vi.buf)[i] = act.index;
            }
        }
        Py_END_ALLOW_THREADS
    }
    Py_buffer *all[] = {&vs, &vc, &vl, &va, &vi};
    for (int k = 0; k < 5; k++)
        if (all[k]->obj)
            PyBuffer_Release(all[k]);
    if (bad)
        return NULL;
    if (rc)
        return raise_td(TD_EINVAL, td_infer_strerror(rc));
    Py_RETURN_NONE;
}

static PyMethodDef model_methods[] = {
    {"info", model_info, METH_NOARGS, "info() -> dict of the model's inputs and outputs"},
    {"run", model_run, METH_VARARGS, "run(n, state, camera, lidar, actions_out, index_out)"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "trackday._trackday.Model",
    .tp_basicsize = sizeof(ModelObject),
    .tp_dealloc = model_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_init = model_init,
    .tp_new = PyType_GenericNew,
    .tp_methods = model_methods,
    .tp_doc = "Model(path): a .tdm model in the device runtime (infer/)",
};

/* ---- module ---------------------------------------------------------------------------------- */

static PyObject *py_alloc_live(PyObject *mod, PyObject *unused)
{
    return PyLong_FromLong(td_alloc_live());
}

static PyObject *py_reward_builtins(PyObject *mod, PyObject *unused)
{
    PyObject *l = PyList_New(0);
    for (const char *const *p = td_reward_builtin_names(); l && *p; p++) {
        PyObject *s = PyUnicode_FromString(*p);
        if (!s || PyList_Append(l, s) != 0) {
            Py_XDECREF(s);
            Py_CLEAR(l);
            break;
        }
        Py_DECREF(s);
    }
    return l;
}

static PyObject *log_handler;

static void log_sink(td_log_level level, const char *msg, void *user)
{
    PyGILState_STATE gs = PyGILState_Ensure();
    if (log_handler) {
        PyObject *r = PyObject_CallFunction(log_handler, "is", (int)level, msg);
        if (!r)
            PyErr_WriteUnraisable(log_handler);
        Py_XDECREF(r);
    }
    PyGILState_Release(gs);
}

/* set_log_handler(fn or None): the library's messages go to fn(level, message). */
static PyObject *py_set_log_handler(PyObject *mod, PyObject *fn)
{
    if (fn == Py_None) {
        td_log_set_sink(NULL, NULL);
        Py_CLEAR(log_handler);
        Py_RETURN_NONE;
    }
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "set_log_handler: expected a callable or None");
        return NULL;
    }
    Py_XSETREF(log_handler, Py_NewRef(fn));
    td_log_set_sink(log_sink, NULL);
    Py_RETURN_NONE;
}

static PyObject *py_set_log_level(PyObject *mod, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    if (v < TD_LOG_DEBUG || v > TD_LOG_OFF)
        return raise_td(TD_EINVAL, "log level: 0 debug .. 4 off");
    td_log_set_level((td_log_level)v);
    Py_RETURN_NONE;
}

static PyObject *py_log(PyObject *mod, PyObject *args)
{
    int level;
    const char *msg;
    if (!PyArg_ParseTuple(args, "is", &level, &msg))
        return NULL;
    td_log((td_log_level)level, "%s", msg);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"find_track", py_find_track, METH_VARARGS, "find_track(name, dirs) -> path"},
    {"params_layout", py_params_layout, METH_NOARGS, "(fields, itemsize, max_objects)"},
    {"alloc_live", py_alloc_live, METH_NOARGS, "trackday's live allocations (leak checks)"},
    {"reward_builtins", py_reward_builtins, METH_NOARGS, "the built-in reward names"},
    {"set_log_handler", py_set_log_handler, METH_O, "set_log_handler(fn(level, msg) or None)"},
    {"set_log_level", py_set_log_level, METH_O, "set_log_level(0 debug .. 4 off)"},
    {"log", py_log, METH_VARARGS, "log(level, message): through the library's logger"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_trackday",
    .m_doc = "trackday's C extension (docs/python.md)",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__trackday(void)
{
    if (PyType_Ready(&BufferType) || PyType_Ready(&TrackType) || PyType_Ready(&CoreType) ||
        PyType_Ready(&EnvType) || PyType_Ready(&ModelType))
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    td_py_error = PyErr_NewExceptionWithDoc(
        "trackday.Error",
        "An error of the trackday library: str(e) and e.message are its message, e.code "
        "its name (TD_EINVAL, TD_ENOENT, ...).",
        PyExc_RuntimeError, NULL);
    if (!td_py_error || PyModule_AddObjectRef(m, "Error", td_py_error) ||
        PyModule_AddObjectRef(m, "Track", (PyObject *)&TrackType) ||
        PyModule_AddObjectRef(m, "Env", (PyObject *)&EnvType) ||
        PyModule_AddObjectRef(m, "Model", (PyObject *)&ModelType) ||
        PyModule_AddObjectRef(m, "Buffer", (PyObject *)&BufferType) ||
        PyModule_AddIntConstant(m, "STATE_DIM", TD_STATE_DIM) ||
        PyModule_AddIntConstant(m, "SENSOR_STATE", TD_SENSOR_STATE) ||
        PyModule_AddIntConstant(m, "SENSOR_CAMERA", TD_SENSOR_CAMERA) ||
        PyModule_AddIntConstant(m, "SENSOR_STEREO", TD_SENSOR_STEREO) ||
        PyModule_AddIntConstant(m, "SENSOR_LIDAR", TD_SENSOR_LIDAR)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
