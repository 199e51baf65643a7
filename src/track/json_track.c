/*
 * json_track.c - trackday's own track files (docs/track-format.md): either the six DeepRacer
 * columns as "rows", or a "centerline" with a "width" (one number or one per point) from
 * which the borders are computed. Writing always uses the rows form, so a saved track
 * reloads bit for bit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track/track_internal.h"
#include "trackday/json.h"

#define TRACK_FORMAT_NAME    "trackday-track"
#define TRACK_FORMAT_VERSION 1

static const char *const known_keys[] = {"format",      "version",   "name",
                                         "description", "direction", "rows",
                                         "centerline",  "width",     "closed"};

/* Reads a JSON array of arrays of `cols` numbers into a new buffer. */
static int read_matrix(const json_t *arr, int cols, const char *key, const char *path, double **out,
                       int *nrows, td_err *err)
{
    *out = NULL;
    if (!json_is_array(arr))
        return td_err_set(err, TD_EFORMAT, "%s: \"%s\" must be an array of [%d numbers]", path, key,
                          cols);
    size_t n = json_array_size(arr);
    if (n > TD_TRACK_MAX_ROWS)
        return td_err_set(err, TD_ERANGE, "%s: \"%s\" has %zu rows; a route may have at most %d",
                          path, key, n, TD_TRACK_MAX_ROWS);
    double *m = td_malloc(sizeof(double) * (size_t)cols * (n ? n : 1));
    if (!m)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(arr, i);
        if (!json_is_array(row) || json_array_size(row) != (size_t)cols) {
            td_free(m);
            return td_err_set(err, TD_EFORMAT, "%s: \"%s\"[%zu] must be an array of %d numbers",
                              path, key, i, cols);
        }
        for (int j = 0; j < cols; j++) {
            const json_t *v = json_array_get(row, (size_t)j);
            if (!json_is_number(v)) {
                td_free(m);
                return td_err_set(err, TD_EFORMAT, "%s: \"%s\"[%zu][%d] is not a number", path, key,
                                  i, j);
            }
            m[(size_t)cols * i + (size_t)j] = json_number_value(v);
        }
    }
    *out = m;
    *nrows = (int)n;
    return 0;
}

static int parse_track(td_track *t, const json_t *root, const char *path, td_err *err)
{
    const char *s;
    int rc;
    if (!json_is_object(root))
        return td_err_set(err, TD_EFORMAT, "%s: a track file must be a JSON object", path);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)root, key, val)
    {
        int ok = 0;
        for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
            ok |= strcmp(key, known_keys[i]) == 0;
        if (!ok)
            return td_err_set(err, TD_EFORMAT,
                              "%s: unknown key \"%s\" (known: format, version, name, "
                              "description, direction, rows, centerline, width, closed)",
                              path, key);
    }
    if ((rc = td_json_get_string(root, "format", TRACK_FORMAT_NAME, &s, path, err)))
        return rc;
    if (strcmp(s, TRACK_FORMAT_NAME) != 0)
        return td_err_set(err, TD_EFORMAT, "%s: \"format\" is \"%s\", expected \"%s\"", path, s,
                          TRACK_FORMAT_NAME);
    long version;
    if ((rc = td_json_get_int(root, "version", TRACK_FORMAT_VERSION, 1, 1000, &version, path, err)))
        return rc;
    if (version != TRACK_FORMAT_VERSION)
        return td_err_set(err, TD_EVERSION, "%s: track format version %ld is not supported (%d is)",
                          path, version, TRACK_FORMAT_VERSION);
    char name[TD_TRACK_NAME_LEN];
    td_path_stem(path, name, sizeof(name));
    if ((rc = td_json_get_string(root, "name", name, &s, path, err)))
        return rc;
    if (s != name) {
        size_t len = strlen(s);
        if (len == 0 || len >= sizeof(name))
            return td_err_set(err, TD_ERANGE, "%s: \"name\" must have 1 to %d characters", path,
                              (int)sizeof(name) - 1);
        memcpy(name, s, len + 1);
    }
    const char *desc, *dir;
    if ((rc = td_json_get_string(root, "description", "", &desc, path, err)))
        return rc;
    if ((rc = td_json_get_string(root, "direction", NULL, &dir, path, err)))
        return rc;
    if (dir && strcmp(dir, "cw") && strcmp(dir, "ccw") && strcmp(dir, "open"))
        return td_err_set(err, TD_EFORMAT, "%s: \"direction\" is \"%s\", expected cw, ccw or open",
                          path, dir);

    const json_t *jrows = json_object_get(root, "rows");
    const json_t *jcl = json_object_get(root, "centerline");
    if ((jrows != NULL) == (jcl != NULL))
        return td_err_set(err, TD_EFORMAT,
                          "%s: give exactly one of \"rows\" (N x 6) or \"centerline\" (N x 2)",
                          path);
    double *m;
    int n;
    if (jrows) {
        if (json_object_get(root, "width") || json_object_get(root, "closed"))
            return td_err_set(err, TD_EFORMAT,
                              "%s: \"width\" and \"closed\" go with \"centerline\", not \"rows\"",
                              path);
        if ((rc = read_matrix(jrows, 6, "rows", path, &m, &n, err)))
            return rc;
        rc = td_track_from_rows(t, m, n, name, path, err);
        td_free(m);
    } else {
        int closed;
        if ((rc = td_json_get_bool(root, "closed", 1, &closed, path, err)))
            return rc;
        if ((rc = read_matrix(jcl, 2, "centerline", path, &m, &n, err)))
            return rc;
        const json_t *jw = json_object_get(root, "width");
        double w1 = 0.0;
        double *wl = NULL;
        if (json_is_number(jw)) {
            w1 = json_number_value(jw);
        } else if (json_is_array(jw)) {
            if (json_array_size(jw) != (size_t)n) {
                td_free(m);
                return td_err_set(err, TD_EFORMAT,
                                  "%s: \"width\" has %zu values, \"centerline\" has %d points",
                                  path, json_array_size(jw), n);
            }
            wl = td_malloc(sizeof(double) * (size_t)(n ? n : 1));
            if (!wl) {
                td_free(m);
                return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
            }
            for (int i = 0; i < n; i++) {
                const json_t *v = json_array_get(jw, (size_t)i);
                if (!json_is_number(v)) {
                    td_free(m);
                    td_free(wl);
                    return td_err_set(err, TD_EFORMAT, "%s: \"width\"[%d] is not a number", path,
                                      i);
                }
                wl[i] = json_number_value(v);
            }
        } else {
            td_free(m);
            return td_err_set(err, TD_EFORMAT,
                              "%s: \"centerline\" needs \"width\": a number or one per point",
                              path);
        }
        rc = td_track_from_centerline(t, m, wl, w1, n, closed, name, path, err);
        td_free(m);
        td_free(wl);
    }
    if (rc)
        return rc;
    size_t dlen = strlen(desc);
    if (dlen >= sizeof(t->description))
        dlen = sizeof(t->description) - 1;
    memcpy(t->description, desc, dlen);
    t->description[dlen] = '\0';
    if (dir) {
        int d = td_track_direction(t);
        const char *actual = d > 0 ? "ccw" : (d < 0 ? "cw" : "open");
        if (strcmp(dir, actual) != 0) {
            td_track_free(t);
            return td_err_set(err, TD_EFORMAT, "%s: \"direction\" says %s but the centreline is %s",
                              path, dir, actual);
        }
    }
    return 0;
}

int td_track_load_json(td_track *t, const char *path, td_err *err)
{
    json_t *root;
    memset(t, 0, sizeof(*t));
    int rc = td_json_load_file(path, &root, err);
    if (rc)
        return rc;
    rc = parse_track(t, root, path, err);
    json_decref(root);
    if (rc == 0)
        rc = td__track_check_loaded(t, path, err);
    return rc;
}

/* Shortest "%.Ng" that reads back as the same double, so saved files stay readable. */
static void fmt_num(char *buf, size_t cap, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* Appends text to a growing buffer; returns 0 or -1 when out of memory. */
typedef struct {
    char *data;
    size_t len, cap;
} strbuf;

static int sb_add(strbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = td_realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n + 1);
    b->len += n;
    return 0;
}

/* Appends a JSON-escaped string (quotes included). */
static int sb_add_json_string(strbuf *b, const char *s)
{
    json_t *j = json_string(s);
    if (!j)
        return -1;
    char *txt = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    if (!txt)
        return -1;
    int rc = sb_add(b, txt);
    free(txt);
    return rc;
}

/*
 * Writes the rows form with one row per line (jansson's indented output would put every
 * number on its own line). Numbers use the shortest exact decimal form.
 */
int td_track_save_json(const td_track *t, const char *path, td_err *err)
{
    strbuf b = {0};
    char num[40];
    int d = td_track_direction(t);
    int bad = 0;
    bad |= sb_add(&b, "{\n  \"format\": \"" TRACK_FORMAT_NAME "\",\n  \"version\": 1,\n");
    bad |= sb_add(&b, "  \"name\": ");
    bad |= sb_add_json_string(&b, t->name);
    bad |= sb_add(&b, ",\n  \"description\": ");
    bad |= sb_add_json_string(&b, t->description);
    bad |= sb_add(&b, ",\n  \"direction\": ");
    bad |= sb_add(&b, d > 0 ? "\"ccw\"" : (d < 0 ? "\"cw\"" : "\"open\""));
    bad |= sb_add(&b, ",\n  \"rows\": [\n");
    for (int i = 0; i < t->n && !bad; i++) {
        const double v[6] = {t->center[2 * i],    t->center[2 * i + 1], t->inner[2 * i],
                             t->inner[2 * i + 1], t->outer[2 * i],      t->outer[2 * i + 1]};
        bad |= sb_add(&b, "    [");
        for (int j = 0; j < 6; j++) {
            fmt_num(num, sizeof(num), v[j]);
            bad |= sb_add(&b, num);
            bad |= sb_add(&b, j < 5 ? ", " : "]");
        }
        bad |= sb_add(&b, i + 1 < t->n ? ",\n" : "\n");
    }
    bad |= sb_add(&b, "  ]\n}\n");
    if (bad) {
        td_free(b.data);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    }
    int rc = td_file_write_atomic(path, b.data, b.len, err);
    td_free(b.data);
    return rc;
}
