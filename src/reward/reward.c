/*
 * reward.c - the reward host API (trackday/reward.h): opens a builtin, a C plugin or a
 * Python file behind one handle, calls it for a batch of cars, checks every result, and
 * keeps the last error with the params of the failing step for reward_error.json.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <math.h>
#include <stdatomic.h>
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
    td__pyhost *py; /* Python in this process (TRACKDAY_SANDBOX=none) */
    td__pysb *pysb; /* Python in a sandboxed process (the default) */
    pthread_mutex_t mu;
    td_reward_on_error on_error;
    int max_errors, n_errors, restarts;
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
    case TD_REWARD_ERR_SANDBOX:
        return "sandbox";
    case TD_REWARD_ERR_CRASH:
        return "crash";
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

/* ------------------------------------------------------------------------------------ */
/* Source files                                                                         */
/* ------------------------------------------------------------------------------------ */

/* The encoding a PEP 263 line declares in the first two lines, lower case, or "". */
static void declared_encoding(const char *src, size_t len, char *enc, size_t cap)
{
    enc[0] = 0;
    const char *s = src, *end = src + len;
    for (int line = 0; line < 2 && s < end; line++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        const char *p = s;
        while (p < le && (*p == ' ' || *p == '\t' || *p == '\f'))
            p++;
        if (p < le && *p == '#') {
            for (const char *c = p; c + 6 <= le; c++) {
                if (memcmp(c, "coding", 6) != 0 || c + 6 >= le || (c[6] != ':' && c[6] != '='))
                    continue;
                const char *v = c + 7;
                while (v < le && (*v == ' ' || *v == '\t'))
                    v++;
                size_t n = 0;
                while (
                    v + n < le && n + 1 < cap &&
                    (isalnum((unsigned char)v[n]) || v[n] == '-' || v[n] == '_' || v[n] == '.')) {
                    enc[n] = (char)tolower((unsigned char)v[n]);
                    n++;
                }
                enc[n] = 0;
                return;
            }
        } else if (p < le) {
            return; /* only comment lines can declare it */
        }
        s = le + 1;
    }
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0. */
static int utf8_seq(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || s + n > end)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    unsigned cp = n == 1   ? c
                  : n == 2 ? ((c & 0x1F) << 6) | (s[1] & 0x3F)
                  : n == 3 ? ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F)
                           : ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) |
                                 (s[3] & 0x3F);
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

int td__reward_source_check(const char *path, const char *src, size_t len, char *msg, size_t cap,
                            int *line, int *col, td_err *err)
{
    *line = 1;
    *col = 1;
    const char *nul = memchr(src, 0, len);
    if (nul) {
        for (const char *c = src; c < nul; c++)
            *line += *c == '\n';
        snprintf(msg, cap, "the file contains a NUL byte: is it a text file saved as UTF-8?");
        *col = 0;
        return td_err_set(err, TD_EREWARD, "%s:%d: %s", path, *line, msg);
    }
    char enc[32];
    declared_encoding(src, len, enc, sizeof(enc));
    if (enc[0] && strcmp(enc, "utf-8") != 0 && strcmp(enc, "utf8") != 0 &&
        strncmp(enc, "utf-8-", 6) != 0 && strncmp(enc, "utf_8", 5) != 0)
        return 0; /* Python decodes it as declared (and says so if it cannot) */
    const unsigned char *s = (const unsigned char *)src, *end = s + len;
    const unsigned char *line_start = s;
    while (s < end) {
        int n = utf8_seq(s, end);
        if (n == 0) {
            *col = (int)(s - line_start) + 1;
            snprintf(msg, cap,
                     "the file is not UTF-8 (byte 0x%02x at line %d, column %d): save it as UTF-8; "
                     "DeepRacer's console keeps reward functions as UTF-8 text",
                     *s, *line, *col);
            return td_err_set(err, TD_EREWARD, "%s:%d:%d: %s", path, *line, *col, msg);
        }
        if (*s == '\n') {
            (*line)++;
            line_start = s + 1;
        }
        s += n;
    }
    *line = *col = 0;
    return 0;
}

static atomic_int print_fd = 2;

void td_reward_set_print_fd(int fd)
{
    atomic_store(&print_fd, fd < 0 ? 2 : fd);
}

int td__reward_print_fd(void)
{
    return atomic_load(&print_fd);
}

/* The sandbox mode for Python reward code, from TRACKDAY_SANDBOX; warns once about none. */
static int python_mode(td_sandbox_mode *mode, td_err *err)
{
    int rc = td_sandbox_mode_from_env(mode, err);
    static atomic_int warned;
    if (rc == 0 && *mode == TD_SANDBOX_NONE && !atomic_exchange(&warned, 1))
        TD_WARN("TRACKDAY_SANDBOX=none: reward functions run inside trackday's own process, "
                "with your rights (they can read, change and send your files); use it only for "
                "code you trust");
    return rc;
}

static int open_python(td_reward *r, const char *path, const td_track *track, td_err *err)
{
    char *src = NULL;
    size_t len = 0;
    td_err ferr;
    int rc = td_file_read(path, &src, &len, &ferr);
    if (rc)
        return td__reward_fail(&r->error, err, rc, TD_REWARD_ERR_LOAD, NULL, -1, 0,
                               "cannot read the reward function: %s", ferr.msg);
    char msg[256];
    int line, col;
    rc = td__reward_source_check(path, src, len, msg, sizeof(msg), &line, &col, err);
    if (rc) {
        td__reward_fail(&r->error, NULL, rc, TD_REWARD_ERR_LOAD, NULL, -1, 0, "%s",
                        err ? err->msg : msg);
        td_free(src);
        return rc;
    }
    td_sandbox_mode mode;
    rc = python_mode(&mode, err);
    if (rc == 0 && mode == TD_SANDBOX_NONE)
        rc = td__py_open(&r->py, path, src, len, track, &r->error, err);
    else if (rc == 0)
        rc = td__pysb_open(&r->pysb, path, src, len, mode, &r->error, err);
    td_free(src);
    return rc;
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
        rc = td_reward_python_available()
                 ? open_python(r, spec, track, err)
                 : td__py_open(&r->py, spec, NULL, 0, track, &r->error, err);
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
    td__pysb_close(r->pysb);
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
    if (r->kind == TD_REWARD_PYTHON && r->pysb)
        rc = td__pysb_batch(r->pysb, params, n, out_f, out_d, &r->error, err);
    else if (r->kind == TD_REWARD_PYTHON)
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

void td_reward_set_on_error(td_reward *r, td_reward_on_error policy, int max_errors)
{
    r->on_error = policy;
    r->max_errors = max_errors;
}

int td_reward_error_count(const td_reward *r)
{
    return r->n_errors;
}

double td_reward_process_cpu_s(const td_reward *r)
{
    return r->pysb ? td__pysb_cpu_s(r->pysb) : -1.0;
}

/* SKIP: a failed call scores 0 and the rest of the batch goes on (a fresh reward process if
 * the old one died), until more than max_errors calls have failed. */
static void skip_errors(td_reward *r, const td_params *params, int n, float *out, int rc)
{
    int off = 0;
    while (rc) {
        r->n_errors++;
        int car = r->error.car >= 0 && r->error.car < n - off ? r->error.car : 0;
        if (r->n_errors <= 3 || r->n_errors % 100 == 0)
            TD_WARN("reward error %d (the step scores 0, training goes on): %s", r->n_errors,
                    r->error.message);
        out[off + car] = 0;
        if (r->max_errors >= 0 && r->n_errors > r->max_errors) {
            TD_WARN("more than %d reward errors: stopping", r->max_errors);
            return; /* r->failed stays set: the trainer stops */
        }
        if (r->pysb && !td__pysb_alive(r->pysb)) {
            td_err err;
            td_reward_error keep = r->error;
            if (++r->restarts > 100 || td__pysb_restart(r->pysb, &r->error, &err) != 0) {
                if (r->restarts <= 100)
                    TD_WARN("cannot restart the reward process: %s", err.msg);
                return;
            }
            r->error = keep;
        }
        r->failed = 0;
        off += car + 1;
        if (off >= n)
            return;
        rc = run(r, params + off, n - off, out + off, NULL, NULL);
    }
}

void td_reward_batch_cb(void *user, const td_params *params, int n, float *rewards_out)
{
    td_reward *r = user;
    if (r->failed) {
        memset(rewards_out, 0, sizeof(float) * (size_t)(n > 0 ? n : 0));
        return;
    }
    int rc = run(r, params, n, rewards_out, NULL, NULL);
    if (rc && r->on_error == TD_REWARD_ON_ERROR_SKIP)
        skip_errors(r, params, n, rewards_out, rc);
}

int td_reward_validate(td_reward *r, const td_track *t, td_reward_issue **issues, int *n_issues,
                       td_err *err)
{
    *issues = NULL;
    *n_issues = 0;
    if (r->kind != TD_REWARD_PYTHON || !t || t->n < 2)
        return 0;
    double *route = td_malloc(sizeof(double) * 6 * (size_t)t->n);
    if (!route)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    for (int i = 0; i < t->n; i++) {
        route[6 * i] = t->center[2 * i];
        route[6 * i + 1] = t->center[2 * i + 1];
        route[6 * i + 2] = t->inner[2 * i];
        route[6 * i + 3] = t->inner[2 * i + 1];
        route[6 * i + 4] = t->outer[2 * i];
        route[6 * i + 5] = t->outer[2 * i + 1];
    }
    pthread_mutex_lock(&r->mu);
    int rc = r->pysb ? td__pysb_validate(r->pysb, route, t->n, issues, n_issues, err)
                     : td__py_validate(r->py, route, t->n, issues, n_issues, err);
    pthread_mutex_unlock(&r->mu);
    td_free(route);
    return rc;
}

int td_reward_issues_errors(const td_reward_issue *issues, int n, const char *path, int max_lines,
                            char *buf, size_t cap)
{
    int errors = 0;
    size_t used = 0;
    if (cap)
        buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (issues[i].severity != TD_REWARD_ERROR)
            continue;
        errors++;
        if (errors > max_lines || used >= cap)
            continue;
        char where[64] = "";
        if (issues[i].line > 0 && issues[i].col > 0)
            snprintf(where, sizeof(where), ":%d:%d", issues[i].line, issues[i].col);
        else if (issues[i].line > 0)
            snprintf(where, sizeof(where), ":%d", issues[i].line);
        int w = snprintf(buf + used, cap - used, "%s%s%s: [%s] %s", used ? "\n" : "", path, where,
                         issues[i].rule, issues[i].message);
        if (w > 0)
            used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
    }
    if (errors > max_lines && used < cap)
        snprintf(buf + used, cap - used, "\n... and %d more", errors - max_lines);
    return errors;
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
    if (r->pysb)
        td__pysb_set_timeout(r->pysb, seconds);
    else if (r->py)
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

/* The params in the order of DeepRacer's RewardParam enum, every key present (the object
 * keys at DeepRacer's time-trial defaults when there are no objects), steps a float. */
static json_t *params_object(const td_params *p)
{
    json_t *o = json_object();
    int n = p->n_objects > TD_MAX_OBJECTS ? TD_MAX_OBJECTS : (p->n_objects > 0 ? p->n_objects : 0);
    json_object_set_new(o, "all_wheels_on_track", json_boolean(p->all_wheels_on_track));
    json_object_set_new(o, "x", jnum(p->x));
    json_object_set_new(o, "y", jnum(p->y));
    json_object_set_new(o, "heading", jnum(p->heading));
    json_object_set_new(o, "distance_from_center", jnum(p->distance_from_center));
    json_object_set_new(o, "projection_distance", jnum(p->projection_distance));
    json_object_set_new(o, "progress", jnum(p->progress));
    json_object_set_new(o, "steps", json_real((double)p->steps));
    json_object_set_new(o, "speed", jnum(p->speed));
    json_object_set_new(o, "steering_angle", jnum(p->steering_angle));
    json_object_set_new(o, "track_width", jnum(p->track_width));
    json_object_set_new(o, "track_length", jnum(p->track_length));
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
    json_object_set_new(o, "is_left_of_center", json_boolean(p->is_left_of_center));
    json_object_set_new(o, "is_reversed", json_boolean(p->is_reversed));
    json_object_set_new(o, "closest_objects",
                        n > 0 ? jpair_i(p->closest_objects[0], p->closest_objects[1])
                              : jpair_i(0, 0));
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
    json_object_set_new(o, "objects_left_of_center", left);
    json_object_set_new(o, "object_in_camera", json_boolean(n > 0 && p->object_in_camera));
    json_object_set_new(o, "objects_speed", spd);
    json_object_set_new(o, "objects_heading", hdg);
    json_object_set_new(o, "objects_distance_from_center", dfc);
    json_object_set_new(o, "objects_distance", dist);
    json_object_set_new(o, "is_crashed", json_boolean(p->is_crashed));
    json_object_set_new(o, "is_offtrack", json_boolean(p->is_offtrack));
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
