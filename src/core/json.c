/*
 * json.c - jansson helpers: file loading with positions in errors, typed field readers
 * with defaults and range checks, atomic JSON writes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/json.h"

int td_json_load_file(const char *path, json_t **out, td_err *err)
{
    char *text;
    size_t len;
    int rc = td_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    rc = td_json_parse(text, len, path, out, err);
    td_free(text);
    return rc;
}

static int parse(const char *text, size_t len, const char *what, size_t flags, json_t **out,
                 td_err *err)
{
    json_error_t je;
    /* An editor's invisible byte order mark would otherwise show as "near ''". */
    if (len >= 3 && (unsigned char)text[0] == 0xef && (unsigned char)text[1] == 0xbb &&
        (unsigned char)text[2] == 0xbf) {
        *out = NULL;
        return td_err_set(err, TD_EFORMAT,
                          "%s: the file starts with a UTF-8 byte order mark (invisible in most "
                          "editors; Python's json.load refuses it too): save it without one",
                          what);
    }
    *out = json_loadb(text, len, flags, &je);
    if (!*out)
        return td_err_set(err, TD_EFORMAT, "%s:%d:%d: invalid JSON: %s", what, je.line, je.column,
                          je.text);
    return 0;
}

int td_json_parse(const char *text, size_t len, const char *what, json_t **out, td_err *err)
{
    return parse(text, len, what, JSON_REJECT_DUPLICATES, out, err);
}

/* Is t[i] a quote that ends or starts a string (not one escaped by a backslash)? */
static int is_quote(const char *t, size_t i)
{
    size_t k = 0;
    while (k < i && t[i - 1 - k] == '\\')
        k++;
    return t[i] == '"' && k % 2 == 0;
}

int td_json_parse_last_wins(const char *text, size_t len, const char *what, json_t **out,
                            void (*dup)(void *ctx, int line, const char *key), void *ctx,
                            td_err *err)
{
    char *copy = NULL;
    size_t n = len;
    int rc = parse(text, len, what, 0, out, err);
    /* A strict pass names each repeated key; the copy renames it, and the pass runs again. */
    for (int i = 0; !rc && i < TD_JSON_MAX_DUPLICATES; i++) {
        const char *t = copy ? copy : text;
        json_error_t je;
        json_t *j = json_loadb(t, n, JSON_REJECT_DUPLICATES, &je);
        size_t close = (size_t)je.position - 1, open = close;
        char key[128], *next;
        if (j || json_error_code(&je) != json_error_duplicate_key || je.position < 2 ||
            (size_t)je.position > n || !is_quote(t, close)) {
            json_decref(j);
            break;
        }
        while (open > 0 && !is_quote(t, --open))
            ;
        snprintf(key, sizeof(key), "%.*s", (int)(close - open - 1), t + open + 1);
        dup(ctx, je.line, key);
        if (!(next = td_malloc(n + 32)))
            break;
        memcpy(next, t, open);
        int k = snprintf(next + open, 32, "\"\\u0001td%d\"", i);
        memcpy(next + open + k, t + close + 1, n - close - 1);
        n = open + (size_t)k + n - close - 1;
        td_free(copy);
        copy = next;
    }
    td_free(copy);
    return rc;
}

int td_json_get_number(const json_t *obj, const char *key, double dflt, double lo, double hi,
                       double *out, const char *what, td_err *err)
{
    const json_t *v = json_object_get(obj, key);
    double x;
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v))
        return td_err_set(err, TD_EFORMAT, "%s: \"%s\" must be a number", what, key);
    x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi)
        return td_err_set(err, TD_ERANGE, "%s: \"%s\" is %g, must be in [%g, %g]", what, key, x, lo,
                          hi);
    *out = x;
    return 0;
}

int td_json_get_int(const json_t *obj, const char *key, long dflt, long lo, long hi, long *out,
                    const char *what, td_err *err)
{
    const json_t *v = json_object_get(obj, key);
    double x;
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v))
        return td_err_set(err, TD_EFORMAT, "%s: \"%s\" must be an integer", what, key);
    x = json_number_value(v);
    if (x != floor(x))
        return td_err_set(err, TD_EFORMAT, "%s: \"%s\" is %g, must be an integer", what, key, x);
    if (x < (double)lo || x > (double)hi)
        return td_err_set(err, TD_ERANGE, "%s: \"%s\" is %g, must be in [%ld, %ld]", what, key, x,
                          lo, hi);
    *out = (long)x;
    return 0;
}

int td_json_get_bool(const json_t *obj, const char *key, int dflt, int *out, const char *what,
                     td_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return td_err_set(err, TD_EFORMAT, "%s: \"%s\" must be true or false", what, key);
    *out = json_is_true(v);
    return 0;
}

int td_json_get_string(const json_t *obj, const char *key, const char *dflt, const char **out,
                       const char *what, td_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_string(v))
        return td_err_set(err, TD_EFORMAT, "%s: \"%s\" must be a string", what, key);
    *out = json_string_value(v);
    return 0;
}

int td_json_write_file(const char *path, const json_t *value, td_err *err)
{
    char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    size_t n;
    int rc;
    if (!text)
        return td_err_set(err, TD_ENOMEM, "%s: cannot serialize JSON", path);
    n = strlen(text);
    /* jansson allocates with malloc; copy to add the newline through one write. */
    {
        char *buf = td_malloc(n + 2);
        if (!buf) {
            free(text);
            return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
        }
        memcpy(buf, text, n);
        buf[n] = '\n';
        buf[n + 1] = '\0';
        free(text);
        rc = td_file_write_atomic(path, buf, n + 1, err);
        td_free(buf);
    }
    return rc;
}
