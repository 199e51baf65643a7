/*
 * py_params.c - the embedded reward host's params dict (py_internal.h).
 *
 * Speed: the keys are interned once; each host keeps a template dict in DeepRacer's key
 * order (the object keys at their time-trial defaults), and a call copies the template
 * (PyDict_Copy of a combined table is a memcpy plus increfs) and overwrites the values of the
 * step. The copy is what gives DeepRacer's "fresh copy per call" semantics: a function that
 * keeps or mutates its params never sees the next call's dict. params['waypoints'] is a list
 * of (x, y) tuples built once per waypoint array and shared; after each call its items are
 * compared with the originals (a memcmp) and restored if the function changed them, and so
 * are the template's shared object-key defaults.
 */
#include <string.h>

#include "reward/py_internal.h"

#ifdef TD_HAVE_PYTHON

const char *const td__py_key_names[K_COUNT] = {
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
        if (!v || PyDict_SetItem(d, td__py_g.keys[k], v) != 0) {
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
        h->tmpl_defaults[i] = PyDict_GetItem(h->tmpl, td__py_g.keys[object_keys[i]]);
}

/* The template's default values are shared by every call's dict (as waypoints are): if the
 * function changed one (appended to params['objects_location'] in a time trial), the
 * template gets a fresh default, as DeepRacer's deep copy would give. */
int td__py_defaults_restore(td__pyhost *h, const td_params *p)
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

td__py_wp_entry *td__py_waypoints_entry(td__pyhost *h, const double *wp, int n)
{
    double probe[3][2];
    wp_probe(wp, n, probe);
    for (int i = 0; i < h->n_wp; i++) {
        td__py_wp_entry *e = &h->wp[i];
        if (e->ptr != wp || e->n != n)
            continue;
        /* memcmp of doubles on purpose: the same bits, not nearly equal values. */
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
    h->wp[slot] = (td__py_wp_entry){.ptr = wp, .n = n, .items = items, .list = list};
    memcpy(h->wp[slot].probe, probe, sizeof(probe));
    return &h->wp[slot];
}

/* Restores a waypoints list the reward function changed (DeepRacer gives a fresh copy). */
int td__py_waypoints_restore(td__pyhost *h, td__py_wp_entry *e, const td_params *p)
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
    int rc = PyDict_SetItem(d, td__py_g.keys[k], v);
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

PyObject *td__py_params_build(td__pyhost *h, const td_params *p, td__py_wp_entry **wpe)
{
    *wpe = td__py_waypoints_entry(h, p->waypoints, p->waypoints ? p->n_waypoints : 0);
    if (!*wpe)
        return NULL;
    PyObject *d = PyDict_Copy(h->tmpl);
    if (!d)
        return NULL;
    if (PyDict_SetItem(d, td__py_g.keys[K_WAYPOINTS], (*wpe)->list) ||
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

int td__py_params_template(td__pyhost *h)
{
    h->tmpl = build_template();
    if (!h->tmpl)
        return -1;
    remember_defaults(h);
    return 0;
}

void td__py_params_free(td__pyhost *h)
{
    for (int i = 0; i < h->n_wp; i++) {
        Py_XDECREF(h->wp[i].list);
        Py_XDECREF(h->wp[i].items);
    }
    Py_XDECREF(h->tmpl);
}

#endif
