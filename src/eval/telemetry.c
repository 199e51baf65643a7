/*
 * telemetry.c - a device's telemetry windows (telemetry.h): a summary plus who and when,
 * merged exactly, written and read as JSON (docs/telemetry.md). The reader takes hostile
 * input: a hub reads what devices post.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/telemetry.h"

int td_telemetry_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n >= TD_TELEMETRY_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

/* An id field: NULL or "" is unknown; TD_TELEMETRY_MIXED is allowed (a merged window). */
static int set_id(char *dst, const char *src, const char *what, td_err *err)
{
    dst[0] = 0;
    if (!src || !*src)
        return 0;
    if (strcmp(src, TD_TELEMETRY_MIXED) && !td_telemetry_id_ok(src))
        return td_err_set(err, TD_EINVAL,
                          "telemetry: %s must be 1-63 characters of A-Z a-z 0-9 . _ : -", what);
    snprintf(dst, TD_TELEMETRY_ID_LEN, "%s", src);
    return 0;
}

int td_telemetry_begin(td_telemetry *w, const td_summary_layout *l, const char *device,
                       const char *bundle_id, int64_t start_ms, td_err *err)
{
    memset(w, 0, sizeof(*w));
    int rc = set_id(w->device, device, "device", err);
    if (!rc)
        rc = set_id(w->bundle_id, bundle_id, "bundle_id", err);
    if (rc)
        return rc;
    w->start_ms = w->end_ms = start_ms;
    w->windows = 1;
    return td_summary_init(&w->summary, l, err);
}

void td_telemetry_end(td_telemetry *w, int64_t end_ms)
{
    w->end_ms = end_ms < w->start_ms ? w->start_ms : end_ms;
}

void td_telemetry_free(td_telemetry *w)
{
    if (w)
        td_summary_free(&w->summary);
}

static void merge_id(char *dst, const char *src)
{
    if (strcmp(dst, src))
        snprintf(dst, TD_TELEMETRY_ID_LEN, "%s", TD_TELEMETRY_MIXED);
}

int td_telemetry_merge(td_telemetry *dst, const td_telemetry *src, td_err *err)
{
    if (dst->windows > UINT64_MAX / 2 || src->windows > UINT64_MAX / 2)
        return td_err_set(err, TD_ERANGE, "telemetry: the window counts would overflow");
    int rc = td_summary_merge(&dst->summary, &src->summary, err);
    if (rc)
        return rc;
    if (dst->windows == 0) {
        dst->start_ms = src->start_ms;
        dst->end_ms = src->end_ms;
        dst->seq = src->seq;
        memcpy(dst->device, src->device, sizeof(dst->device));
        memcpy(dst->deployment, src->deployment, sizeof(dst->deployment));
        memcpy(dst->bundle_id, src->bundle_id, sizeof(dst->bundle_id));
        memcpy(dst->bundle_sha256, src->bundle_sha256, sizeof(dst->bundle_sha256));
    } else {
        dst->start_ms = src->start_ms < dst->start_ms ? src->start_ms : dst->start_ms;
        dst->end_ms = src->end_ms > dst->end_ms ? src->end_ms : dst->end_ms;
        dst->seq = src->seq > dst->seq ? src->seq : dst->seq;
        merge_id(dst->device, src->device);
        merge_id(dst->deployment, src->deployment);
        merge_id(dst->bundle_id, src->bundle_id);
        if (strcmp(dst->bundle_sha256, src->bundle_sha256))
            dst->bundle_sha256[0] = 0;
    }
    dst->windows += src->windows;
    return 0;
}

int td_telemetry_copy(td_telemetry *dst, const td_telemetry *src, td_err *err)
{
    memset(dst, 0, sizeof(*dst));
    int rc = td_summary_init(&dst->summary, &src->summary.layout, err);
    if (rc)
        return rc;
    rc = td_telemetry_merge(dst, src, err);
    if (rc)
        td_telemetry_free(dst);
    return rc;
}

json_t *td_telemetry_to_json(const td_telemetry *w)
{
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string("trackday-telemetry"));
    json_object_set_new(j, "version", json_integer(TD_TELEMETRY_VERSION));
    json_object_set_new(j, "device", json_string(w->device));
    json_object_set_new(j, "deployment", json_string(w->deployment));
    json_object_set_new(j, "bundle_id", json_string(w->bundle_id));
    if (w->bundle_sha256[0])
        json_object_set_new(j, "bundle_sha256", json_string(w->bundle_sha256));
    json_object_set_new(j, "seq",
                        json_integer((json_int_t)(w->seq > INT64_MAX ? INT64_MAX : w->seq)));
    json_object_set_new(j, "start_ms", json_integer(w->start_ms));
    json_object_set_new(j, "end_ms", json_integer(w->end_ms));
    json_object_set_new(
        j, "windows", json_integer((json_int_t)(w->windows > INT64_MAX ? INT64_MAX : w->windows)));
    json_object_set_new(j, "summary", td_summary_to_json(&w->summary));
    return j;
}

char *td_telemetry_dumps(const td_telemetry *w)
{
    json_t *j = td_telemetry_to_json(w);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return NULL;
    char *out = td_strdup(s);
    free(s);
    return out;
}

static int get_id(const json_t *j, const char *key, char *dst, td_err *err)
{
    const json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        dst[0] = 0;
        return 0;
    }
    if (!json_is_string(v))
        return td_err_set(err, TD_EFORMAT, "telemetry: \"%s\" must be a string", key);
    return set_id(dst, json_string_value(v), key, err) ? TD_EFORMAT : 0;
}

static int get_int(const json_t *j, const char *key, int required, int64_t lo, int64_t *out,
                   td_err *err)
{
    const json_t *v = json_object_get(j, key);
    if (!v && !required)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo)
        return td_err_set(err, TD_EFORMAT, "telemetry: \"%s\" must be an integer >= %lld", key,
                          (long long)lo);
    *out = json_integer_value(v);
    return 0;
}

int td_telemetry_from_json(td_telemetry *w, const json_t *j, td_err *err)
{
    static const char *known[] = {"format",    "version", "device",       "deployment",
                                  "bundle_id", "seq",     "start_ms",     "end_ms",
                                  "windows",   "summary", "bundle_sha256"};
    memset(w, 0, sizeof(*w));
    if (!json_is_object(j))
        return td_err_set(err, TD_EFORMAT, "telemetry: a window must be a JSON object");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(known[k], key))
            k++;
        if (k == sizeof(known) / sizeof(known[0]))
            return td_err_set(err, TD_EFORMAT, "telemetry: unknown key \"%.40s\"", key);
    }
    const json_t *f = json_object_get(j, "format");
    if (!json_is_string(f) || strcmp(json_string_value(f), "trackday-telemetry"))
        return td_err_set(err, TD_EFORMAT, "telemetry: \"format\" must be \"trackday-telemetry\"");
    int64_t version = 0, seq = 0, start = 0, end = 0, windows = 1;
    int rc = get_int(j, "version", 1, 1, &version, err);
    if (!rc && version > TD_TELEMETRY_VERSION)
        return td_err_set(err, TD_EFORMAT, "telemetry: version %lld is not supported (this is %d)",
                          (long long)version, TD_TELEMETRY_VERSION);
    if (!rc)
        rc = get_id(j, "device", w->device, err);
    if (!rc)
        rc = get_id(j, "deployment", w->deployment, err);
    if (!rc)
        rc = get_id(j, "bundle_id", w->bundle_id, err);
    if (!rc) {
        const json_t *sh = json_object_get(j, "bundle_sha256");
        const char *hex = json_string_value(sh);
        if (sh && (!hex || strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64))
            rc = td_err_set(err, TD_EFORMAT,
                            "telemetry: \"bundle_sha256\" must be 64 lowercase hex digits");
        else if (hex)
            memcpy(w->bundle_sha256, hex, 65);
    }
    if (!rc)
        rc = get_int(j, "seq", 0, 0, &seq, err);
    if (!rc)
        rc = get_int(j, "start_ms", 1, 0, &start, err);
    if (!rc)
        rc = get_int(j, "end_ms", 1, 0, &end, err);
    if (!rc)
        rc = get_int(j, "windows", 0, 1, &windows, err);
    if (rc)
        return rc;
    if (end < start)
        return td_err_set(err, TD_EFORMAT,
                          "telemetry: \"end_ms\" (%lld) is before \"start_ms\" (%lld)",
                          (long long)end, (long long)start);
    w->seq = (uint64_t)seq;
    w->start_ms = start;
    w->end_ms = end;
    w->windows = (uint64_t)windows;
    const json_t *s = json_object_get(j, "summary");
    if (!json_is_object(s))
        return td_err_set(err, TD_EFORMAT, "telemetry: no \"summary\" object");
    rc = td_summary_from_json(&w->summary, s, err);
    if (rc)
        return td_err_prefix(err, TD_EFORMAT, "telemetry: ");
    return 0;
}

int td_telemetry_loads(td_telemetry *w, const char *text, size_t len, td_err *err)
{
    memset(w, 0, sizeof(*w));
    if (len > TD_TELEMETRY_MAX_BYTES)
        return td_err_set(err, TD_ERANGE,
                          "telemetry: %zu bytes is more than the %d a window may have", len,
                          TD_TELEMETRY_MAX_BYTES);
    json_t *j = NULL;
    int rc = td_json_parse(text, len, "telemetry", &j, err);
    if (rc)
        return rc;
    rc = td_telemetry_from_json(w, j, err);
    json_decref(j);
    return rc;
}

/* One window of a file: merged into *merged, handed to each. */
static int take(td_telemetry *merged, int *first, int (*each)(const td_telemetry *, void *),
                void *ctx, const json_t *j, const char *path, long line, td_err *err)
{
    td_telemetry w;
    int rc = td_telemetry_from_json(&w, j, err);
    if (!rc && merged) {
        if (*first) {
            rc = td_telemetry_copy(merged, &w, err);
            *first = rc != 0;
        } else {
            rc = td_telemetry_merge(merged, &w, err);
        }
    }
    if (rc) {
        td_telemetry_free(&w);
        return td_err_prefix(err, rc, "%s:%ld: ", path, line);
    }
    if (each)
        rc = each(&w, ctx);
    td_telemetry_free(&w);
    return rc;
}

int td_telemetry_read_file(const char *path, td_telemetry *merged,
                           int (*each)(const td_telemetry *w, void *ctx), void *ctx, td_err *err)
{
    char *data = NULL;
    size_t len = 0;
    int first = 1, rc = td_file_read(path, &data, &len, err);
    if (merged)
        memset(merged, 0, sizeof(*merged));
    if (rc)
        return rc;
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
        i++;
    long n = 0;
    if (i < len && data[i] == '[') {
        json_t *arr = NULL;
        rc = td_json_parse(data, len, path, &arr, err);
        if (!rc && !json_is_array(arr))
            rc = td_err_set(err, TD_EFORMAT, "%s: not an array of telemetry windows", path);
        size_t k;
        json_t *v;
        if (!rc)
            json_array_foreach(arr, k, v)
            {
                rc = take(merged, &first, each, ctx, v, path, (long)k + 1, err);
                if (rc)
                    break;
                n++;
            }
        json_decref(arr);
    } else {
        /* JSON lines (one window per line); a single pretty-printed window is one document. */
        json_error_t je;
        size_t pos = i;
        long line = 1;
        for (size_t k = 0; k < i; k++)
            line += data[k] == '\n';
        while (pos < len && !rc) {
            json_t *v = json_loadb(data + pos, len - pos, JSON_DISABLE_EOF_CHECK, &je);
            if (!v) {
                rc = td_err_set(err, TD_EFORMAT, "%s:%ld: %s", path, line + je.line - 1, je.text);
                break;
            }
            rc = take(merged, &first, each, ctx, v, path, line, err);
            json_decref(v);
            for (size_t k = pos; k < pos + je.position && k < len; k++)
                line += data[k] == '\n';
            pos += je.position;
            while (pos < len && (data[pos] == ' ' || data[pos] == '\n' || data[pos] == '\r' ||
                                 data[pos] == '\t')) {
                line += data[pos] == '\n';
                pos++;
            }
            n++;
        }
    }
    td_free(data);
    if (!rc && n == 0)
        rc = td_err_set(err, TD_EFORMAT, "%s: no telemetry windows", path);
    if (rc && merged && !first)
        td_telemetry_free(merged);
    return rc;
}
