/*
 * reward.c - the reward host API (trackday/reward.h): opens a builtin, a C plugin or a
 * Python file behind one handle, calls it for a batch of cars, checks every result, and
 * keeps the last error with the params of the failing step for reward_error.json.
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "reward/reward_internal.h"
#include "trackday/json.h"

struct td_reward {
    td_reward_kind kind;
    char spec[TD_REWARD_PATH_LEN];
    td_reward_c_fn cfn;
    void *dl;
    td__pyhost *py;
    pthread_mutex_t mu;
    td_reward_error error;
    char *params_json; /* the failing step's params (td_malloc), or NULL */
    int failed;        /* first error code since open/clear (for the callback adapter) */
};

const char *td_reward_error_kind_name(td_reward_error_kind k)
{
    switch (k) {
    case TD_REWARD_ERR_NONE:
        return "none";
    case TD_REWARD_ERR_LOAD:
        return "load";
    case TD_REWARD_ERR_EXCEPTION:
        return "exception";
    case TD_REWARD_ERR_VALUE:
        return "value";
    case TD_REWARD_ERR_TIMEOUT:
        return "timeout";
    }
    return "unknown";
}

/* ------------------------------------------------------------------------------------ */
/* Errors and the result check                                                          */
/* ------------------------------------------------------------------------------------ */

int td__reward_fail(td_reward_error *rerr, td_err *err, int code, td_reward_error_kind kind,
                    const td_params *p, int car, double value, const char *fmt, ...)
{
    char msg[TD_REWARD_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (rerr) {
        memset(rerr, 0, sizeof(*rerr));
        rerr->kind = kind;
        memcpy(rerr->message, msg, sizeof(msg));
        rerr->car = p ? car : -1;
        rerr->step = p ? p->steps : -1;
        rerr->value = value;
    }
    return td_err_set(err, code, "%s", msg);
}

int td__reward_check_value(double v, const td_params *p, int car, const char *who,
                           td_reward_error *rerr, td_err *err)
{
    if (isfinite(v) && fabs(v) <= TD_REWARD_MAX_ABS)
        return 0;
    if (isnan(v))
        return td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_VALUE, p, car, v,
                               "%s: reward_function returned NaN at step %d (car %d): a reward "
                               "must be a number (look for 0/0, inf - inf, math.acos or a "
                               "square root of a value slightly out of range)",
                               who, p->steps, car);
    if (isinf(v))
        return td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_VALUE, p, car, v,
                               "%s: reward_function returned %s at step %d (car %d): a reward "
                               "must be finite (look for a division by a distance or a speed "
                               "that can be 0, or a large exponent)",
                               who, v > 0 ? "inf" : "-inf", p->steps, car);
    return td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_VALUE, p, car, v,
                           "%s: reward_function returned %g at step %d (car %d), outside "
                           "DeepRacer's range [-1e5, 1e5]: scale the reward down",
                           who, v, p->steps, car);
}

/* ------------------------------------------------------------------------------------ */
/* Open and close                                                                       */
/* ------------------------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int unknown_builtin(const char *name, td_err *err)
{
    char list[512];
    size_t used = 0;
    list[0] = 0;
    for (const char *const *b = td_reward_builtin_names(); *b; b++) {
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *b);
        if (w < 0 || (size_t)w >= sizeof(list) - used)
            break;
        used += (size_t)w;
    }
    return td_err_set(err, TD_ENOENT, "no built-in reward named '%s' (built-ins: %s)", name, list);
}

static int open_plugin(td_reward *r, const char *path, td_err *err)
{
    char full[TD_REWARD_PATH_LEN + 2];
    /* dlopen searches the library path for a name without a slash; the user means a file. */
    snprintf(full, sizeof(full), "%s%s", strchr(path, '/') ? "" : "./", path);
    if (!td_path_exists(full))
        return td_err_set(err, TD_ENOENT, "reward plugin '%s' not found", path);
    r->dl = dlopen(full, RTLD_NOW | RTLD_LOCAL);
    if (!r->dl)
        return td_err_set(err, TD_EFORMAT, "cannot load reward plugin '%s': %s", path, dlerror());
    void *sym = dlsym(r->dl, "trackday_reward");
    if (!sym)
        return td_err_set(err, TD_EFORMAT,
                          "reward plugin '%s' does not export trackday_reward: define `double "
                          "trackday_reward(const td_params *p)` (#include "
                          "\"trackday/params.h\") and build with cc -shared -fPIC",
                          path);
    /* POSIX guarantees object and function pointers convert through dlsym. */
    memcpy(&r->cfn, &sym, sizeof(r->cfn));
    return 0;
}

int td_reward_open(td_reward **out, const char *spec, const td_track *track, td_err *err)
{
    *out = NULL;
    if (!spec || !*spec)
        return td_err_set(err, TD_EINVAL,
                          "empty reward spec: expected builtin:NAME, a .so "
                          "plugin or a .py file");
    td_reward *r = td_calloc(1, sizeof(*r));
    if (!r)
        return td_err_set(err, TD_ENOMEM, "out of memory opening reward '%s'", spec);
    snprintf(r->spec, sizeof(r->spec), "%s", spec);
    pthread_mutex_init(&r->mu, NULL);
    int rc;
    const char *name = strncmp(spec, "builtin:", 8) == 0 ? spec + 8 : NULL;
    if (!name && !strchr(spec, '/') && !strchr(spec, '.') && td_reward_builtin_find(spec))
        name = spec;
    if (name) {
        r->kind = TD_REWARD_BUILTIN;
        r->cfn = td_reward_builtin_find(name);
        rc = r->cfn ? 0 : unknown_builtin(name, err);
    } else if (ends_with(spec, ".so")) {
        r->kind = TD_REWARD_PLUGIN;
        rc = open_plugin(r, spec, err);
    } else if (ends_with(spec, ".py")) {
        r->kind = TD_REWARD_PYTHON;
        rc = td__py_open(&r->py, spec, track, &r->error, err);
    } else {
        rc = td_err_set(err, TD_EINVAL,
                        "reward '%s': expected builtin:NAME, a path ending in .so (a C "
                        "plugin) or a path ending in .py (a DeepRacer reward_function.py)",
                        spec);
    }
    if (rc) {
        td_reward_close(r);
        return rc;
    }
    memset(&r->error, 0, sizeof(r->error));
    *out = r;
    return 0;
}

void td_reward_close(td_reward *r)
{
    if (!r)
        return;
    td__py_close(r->py);
    if (r->dl)
        dlclose(r->dl);
    td_free(r->params_json);
    pthread_mutex_destroy(&r->mu);
    td_free(r);
}

/* ------------------------------------------------------------------------------------ */
/* Calls                                                                                */
/* ------------------------------------------------------------------------------------ */

static int c_batch(td_reward *r, const td_params *params, int n, float *out_f, double *out_d,
                   td_err *err)
{
    for (int i = 0; i < n; i++) {
        double v = r->cfn(&params[i]);
        int rc = td__reward_check_value(v, &params[i], i, r->spec, &r->error, err);
        if (rc) {
            for (int j = i; j < n; j++) {
                if (out_f)
                    out_f[j] = 0;
                if (out_d)
                    out_d[j] = 0;
            }
            return rc;
        }
        if (out_f)
            out_f[i] = (float)v;
        if (out_d)
            out_d[i] = v;
    }
    return 0;
}

static int run(td_reward *r, const td_params *params, int n, float *out_f, double *out_d,
               td_err *err)
{
    if (n <= 0)
        return 0;
    pthread_mutex_lock(&r->mu);
    int rc;
    if (r->kind == TD_REWARD_PYTHON)
        rc = td__py_batch(r->py, params, n, out_f, out_d, &r->error, err);
    else
        rc = c_batch(r, params, n, out_f, out_d, err);
    if (rc) {
        if (r->error.kind == TD_REWARD_ERR_NONE) { /* a failure without details */
            r->error.kind = TD_REWARD_ERR_EXCEPTION;
            snprintf(r->error.message, sizeof(r->error.message), "%s",
                     err ? err->msg : td_strerror(rc));
            r->error.car = r->error.step = -1;
        }
        td_free(r->params_json);
        r->params_json = NULL;
        r->error.has_params = 0;
        if (r->error.car >= 0 && r->error.car < n &&
            td_params_to_json(&params[r->error.car], &r->params_json, NULL) == 0)
            r->error.has_params = 1;
        if (!r->failed)
            r->failed = rc;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int td_reward_batch(td_reward *r, const td_params *params, int n, float *out, td_err *err)
{
    return run(r, params, n, out, NULL, err);
}

int td_reward_one(td_reward *r, const td_params *p, double *out, td_err *err)
{
    return run(r, p, 1, NULL, out, err);
}

void td_reward_batch_cb(void *user, const td_params *params, int n, float *rewards_out)
{
    td_reward *r = user;
    if (r->failed) {
        memset(rewards_out, 0, sizeof(float) * (size_t)(n > 0 ? n : 0));
        return;
    }
    run(r, params, n, rewards_out, NULL, NULL);
}

int td_reward_failed(const td_reward *r)
{
    return r->failed;
}

void td_reward_clear_error(td_reward *r)
{
    pthread_mutex_lock(&r->mu);
    r->failed = 0;
    memset(&r->error, 0, sizeof(r->error));
    td_free(r->params_json);
    r->params_json = NULL;
    pthread_mutex_unlock(&r->mu);
}

const td_reward_error *td_reward_last_error(const td_reward *r)
{
    return &r->error;
}

void td_reward_set_timeout(td_reward *r, double seconds)
{
    if (r->kind == TD_REWARD_PYTHON)
        td__py_set_timeout(r->py, seconds);
}

td_reward_kind td_reward_get_kind(const td_reward *r)
{
    return r->kind;
}

const char *td_reward_spec(const td_reward *r)
{
    return r->spec;
}

/* ------------------------------------------------------------------------------------ */
/* JSON                                                                                 */
/* ------------------------------------------------------------------------------------ */

/* A number, or null for NaN and infinities (which JSON cannot hold). */
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *jpair_i(int a, int b)
{
    json_t *l = json_array();
    json_array_append_new(l, json_integer(a));
    json_array_append_new(l, json_integer(b));
    return l;
}

static json_t *params_object(const td_params *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "x", jnum(p->x));
    json_object_set_new(o, "y", jnum(p->y));
    json_object_set_new(o, "heading", jnum(p->heading));
    json_object_set_new(o, "speed", jnum(p->speed));
    json_object_set_new(o, "steering_angle", jnum(p->steering_angle));
    json_object_set_new(o, "progress", jnum(p->progress));
    json_object_set_new(o, "steps", json_integer(p->steps));
    json_object_set_new(o, "track_length", jnum(p->track_length));
    json_object_set_new(o, "track_width", jnum(p->track_width));
    json_t *wp = json_array();
    for (int i = 0; p->waypoints && i < p->n_waypoints; i++) {
        json_t *pt = json_array();
        json_array_append_new(pt, jnum(p->waypoints[2 * i]));
        json_array_append_new(pt, jnum(p->waypoints[2 * i + 1]));
        json_array_append_new(wp, pt);
    }
    json_object_set_new(o, "waypoints", wp);
    json_object_set_new(o, "closest_waypoints",
                        jpair_i(p->closest_waypoints[0], p->closest_waypoints[1]));
    json_object_set_new(o, "distance_from_center", jnum(p->distance_from_center));
    json_object_set_new(o, "is_left_of_center", json_boolean(p->is_left_of_center));
    json_object_set_new(o, "all_wheels_on_track", json_boolean(p->all_wheels_on_track));
    json_object_set_new(o, "is_offtrack", json_boolean(p->is_offtrack));
    json_object_set_new(o, "is_crashed", json_boolean(p->is_crashed));
    json_object_set_new(o, "is_reversed", json_boolean(p->is_reversed));
    int n = p->n_objects > TD_MAX_OBJECTS ? TD_MAX_OBJECTS : p->n_objects;
    if (n > 0) {
        json_object_set_new(o, "closest_objects",
                            jpair_i(p->closest_objects[0], p->closest_objects[1]));
        json_t *loc = json_array(), *dist = json_array(), *dfc = json_array(), *left = json_array(),
               *spd = json_array(), *hdg = json_array();
        for (int i = 0; i < n; i++) {
            json_t *pt = json_array();
            json_array_append_new(pt, jnum(p->objects_location[i][0]));
            json_array_append_new(pt, jnum(p->objects_location[i][1]));
            json_array_append_new(loc, pt);
            json_array_append_new(dist, jnum(p->objects_distance[i]));
            json_array_append_new(dfc, jnum(p->objects_distance_from_center[i]));
            json_array_append_new(left, json_boolean(p->objects_left_of_center[i]));
            json_array_append_new(spd, jnum(p->objects_speed[i]));
            json_array_append_new(hdg, jnum(p->objects_heading[i]));
        }
        json_object_set_new(o, "objects_location", loc);
        json_object_set_new(o, "objects_distance", dist);
        json_object_set_new(o, "objects_distance_from_center", dfc);
        json_object_set_new(o, "objects_left_of_center", left);
        json_object_set_new(o, "objects_speed", spd);
        json_object_set_new(o, "objects_heading", hdg);
        json_object_set_new(o, "object_in_camera", json_boolean(p->object_in_camera));
    }
    json_object_set_new(o, "projection_distance", jnum(p->projection_distance));
    json_object_set_new(o, "sim_time", jnum(p->sim_time));
    return o;
}

/* json_dumps into a td_malloc'd string. */
static int dump(json_t *v, size_t flags, char **out, td_err *err)
{
    char *s = json_dumps(v, flags);
    if (!s)
        return td_err_set(err, TD_ENOMEM, "cannot serialize JSON");
    *out = td_strdup(s);
    free(s); /* jansson's allocator */
    return *out ? 0 : td_err_set(err, TD_ENOMEM, "out of memory");
}

int td_params_to_json(const td_params *p, char **json, td_err *err)
{
    *json = NULL;
    json_t *o = params_object(p);
    if (!o)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    int rc = dump(o, JSON_COMPACT, json, err);
    json_decref(o);
    return rc;
}

static json_t *error_object(const td_reward *r)
{
    const td_reward_error *e = &r->error;
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(td_reward_error_kind_name(e->kind)));
    json_object_set_new(o, "message", json_string(e->message));
    json_object_set_new(o, "reward_spec", json_string(r->spec));
    json_object_set_new(o, "file", json_string(e->file));
    json_object_set_new(o, "line", json_integer(e->line));
    json_object_set_new(o, "traceback", json_string(e->traceback));
    json_object_set_new(o, "car", json_integer(e->car));
    json_object_set_new(o, "step", json_integer(e->step));
    if (e->kind == TD_REWARD_ERR_VALUE)
        json_object_set_new(
            o, "value",
            isfinite(e->value)
                ? json_real(e->value)
                : json_string(isnan(e->value) ? "nan" : (e->value > 0 ? "inf" : "-inf")));
    json_t *params = NULL;
    if (e->has_params && r->params_json)
        params = json_loads(r->params_json, 0, NULL);
    json_object_set_new(o, "params", params ? params : json_null());
    return o;
}

int td_reward_error_json(const td_reward *r, char **json, td_err *err)
{
    *json = NULL;
    if (r->error.kind == TD_REWARD_ERR_NONE)
        return td_err_set(err, TD_ENOENT, "reward '%s' has no error to report", r->spec);
    json_t *o = error_object(r);
    int rc = dump(o, JSON_INDENT(2), json, err);
    json_decref(o);
    return rc;
}

int td_reward_error_write(const td_reward *r, const char *path, td_err *err)
{
    if (r->error.kind == TD_REWARD_ERR_NONE)
        return td_err_set(err, TD_ENOENT, "reward '%s' has no error to report", r->spec);
    json_t *o = error_object(r);
    int rc = td_json_write_file(path, o, err);
    json_decref(o);
    return rc;
}
