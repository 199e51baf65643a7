/*
 * http.c - the hub's HTTP server on libmicrohttpd: one thread per connection (so an event
 * stream can simply block), routing by method and path pattern to the feature files' route
 * tables, request bodies (JSON in memory up to a limit, uploads streamed to a temporary
 * file), authentication and authorization before any body is read, JSON errors, security
 * headers on every reply, and the static files of the browser UI.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub_internal.h"

/* ------------------------------------------------------------------------------------ */
/* Core routes                                                                          */
/* ------------------------------------------------------------------------------------ */

static int get_health(td__req *r)
{
    json_t *o = json_pack("{s:s}", "status", "ok");
    return td__reply_json(r, 200, o);
}

static int get_openapi(td__req *r)
{
    return td__reply_json(r, 200, td__openapi(r->hub));
}

const td__route td__routes_core[] = {
    {"GET", "/api/v1/health", get_health, TD__ALLOW_ANON, TD__BODY_NONE,
     "Liveness: the hub answers and its database is open",
     "{\"responses\": {\"200\": {\"description\": \"healthy\", \"content\": "
     "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Health\"}}}}}}"},
    {"GET", "/api/v1/openapi.json", get_openapi, TD__ALLOW_ANON, TD__BODY_NONE,
     "This API described as OpenAPI 3.1",
     "{\"responses\": {\"200\": {\"description\": \"the OpenAPI document\"}}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};

/* ------------------------------------------------------------------------------------ */
/* Request helpers                                                                      */
/* ------------------------------------------------------------------------------------ */

td_db_conn *td__req_db(td__req *r)
{
    if (!r->db)
        r->db = td__db_acquire(r->hub->db);
    return r->db;
}

const char *td__req_query(td__req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *td__req_header(td__req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void td__req_add_header(td__req *r, const char *name, const char *value)
{
    if (r->nheaders >= 8)
        return;
    snprintf(r->headers[r->nheaders][0], sizeof(r->headers[0][0]), "%s", name);
    snprintf(r->headers[r->nheaders][1], sizeof(r->headers[0][1]), "%s", value);
    r->nheaders++;
}

void td__req_location(td__req *r, const char *fmt, ...)
{
    char loc[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(loc, sizeof(loc), fmt, ap);
    va_end(ap);
    td__req_add_header(r, "Location", loc);
}

static void reset_reply(td__req *r)
{
    if (r->reply_json)
        json_decref(r->reply_json);
    r->reply_json = NULL;
    td_free(r->reply_data);
    r->reply_data = NULL;
    if (r->reply_fd >= 0)
        close(r->reply_fd);
    r->reply_fd = -1;
    if (r->stream && r->stream_free)
        r->stream_free(r->stream_cls);
    r->stream = NULL;
    r->stream_free = NULL;
}

int td__reply_json(td__req *r, int status, json_t *body)
{
    reset_reply(r);
    r->status = status;
    r->reply_json = body ? body : json_object();
    r->replied = 1;
    return 0;
}

int td__reply_empty(td__req *r, int status)
{
    reset_reply(r);
    r->status = status;
    r->replied = 1;
    return 0;
}

int td__reply_data(td__req *r, int status, const char *type, char *data, size_t len)
{
    reset_reply(r);
    r->status = status;
    r->reply_data = data;
    r->reply_len = len;
    r->reply_type = type;
    r->replied = 1;
    return 0;
}

int td__reply_fd(td__req *r, int status, const char *type, int fd, uint64_t size)
{
    reset_reply(r);
    r->status = status;
    r->reply_fd = fd;
    r->reply_fd_size = size;
    r->reply_type = type;
    r->replied = 1;
    return 0;
}

int td__reply_stream(td__req *r, int status, const char *type, td__stream_fn fn,
                     td__stream_free_fn free_fn, void *cls)
{
    reset_reply(r);
    r->status = status;
    r->stream = fn;
    r->stream_free = free_fn;
    r->stream_cls = cls;
    r->reply_type = type;
    r->replied = 1;
    return 0;
}

int td__sse_append(td__sse *s, const char *text, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        char *b = td_realloc(s->buf, cap);
        if (!b)
            return -1;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    return 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    td__sse *s = cls;
    (void)pos;
    for (;;) {
        if (s->pos < s->len) {
            size_t n = s->len - s->pos < max ? s->len - s->pos : max;
            memcpy(out, s->buf + s->pos, n);
            s->pos += n;
            if (s->pos == s->len)
                s->pos = s->len = 0;
            s->last_sent = td_time_now();
            return (ssize_t)n;
        }
        if (s->ended || s->hub->stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s->fill(s);
        if (s->len)
            continue;
        /* Nothing new: wait for this process's news or look again (another hub process may be
         * the one that changed what the stream shows). */
        if (td_time_now() - s->last_sent > 15) {
            td__sse_append(s, ": keepalive\n\n", 13);
            continue;
        }
        td__hub_wait(s->hub, &s->seen, 1.0);
    }
}

static void sse_free(void *cls)
{
    td__sse *s = cls;
    if (s->free_user)
        s->free_user(s);
    td_free(s->buf);
    td_free(s);
}

int td__reply_sse(td__req *r, td__sse *s)
{
    s->last_sent = td_time_now();
    td__sse_append(s, "retry: 2000\n\n", 13);
    td__req_add_header(r, "X-Accel-Buffering", "no");
    return td__reply_stream(r, 200, "text/event-stream", sse_read, sse_free, s);
}

int td__fail(td__req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Messages quote what the client sent (a path, a name, a roster line), cut to a length:
     * JSON strings must be UTF-8, or jansson writes nothing at all. */
    td__utf8_scrub(msg);
    td__reply_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
    return 1;
}

void td__fail_details(td__req *r, json_t *details)
{
    json_t *e = r->reply_json ? json_object_get(r->reply_json, "error") : NULL;
    if (e)
        json_object_update(e, details);
    json_decref(details);
}

int td__fail_err(td__req *r, int rc, const td_err *err)
{
    const char *msg = err && err->msg[0] ? err->msg : td_strerror(rc);
    switch (rc) {
    case TD_ENOENT:
        return td__fail(r, 404, "not_found", "%s", msg);
    case TD_ECONFLICT:
        return td__fail(r, 409, "conflict", "%s", msg);
    case TD_EINVAL:
    case TD_EFORMAT:
    case TD_ERANGE:
    case TD_EVERSION:
        return td__fail(r, 400, "bad_request", "%s", msg);
    case TD_ELIMIT:
        return td__fail(r, 413, "too_large", "%s", msg);
    case TD_EPERM:
        return td__fail(r, 403, "forbidden", "%s", msg);
    case TD_ETIMEOUT:
        TD_WARN("hub: %s %s: %s", r->method, r->path, msg);
        td__req_add_header(r, "Retry-After", "1");
        return td__fail(r, 503, "busy", "the hub is busy; try again");
    default:
        TD_ERROR("hub: %s %s: %s", r->method, r->path, msg);
        return td__fail(r, 500, "internal", "internal error (the hub's log has the detail)");
    }
}

int td__req_commit(td__req *r, td_db_conn *c, int rc, td_err *err)
{
    if (!rc)
        rc = td__db_commit(c, err);
    if (!rc)
        return 0;
    td__db_rollback(c);
    return td__fail_err(r, rc, err);
}

/* ------------------------------------------------------------------------------------ */
/* Arguments                                                                            */
/* ------------------------------------------------------------------------------------ */

int td__req_json(td__req *r, json_t **obj)
{
    json_error_t je;
    if (r->json) {
        *obj = r->json;
        return 0;
    }
    if (!r->body_len)
        return td__fail(r, 400, "bad_request", "this request needs a JSON object as its body");
    r->json = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!r->json)
        return td__fail(r, 400, "bad_request", "malformed JSON at line %d, column %d: %s", je.line,
                        je.column, je.text);
    if (!json_is_object(r->json))
        return td__fail(r, 400, "bad_request", "the body must be a JSON object");
    *obj = r->json;
    return 0;
}

int td__only_keys(td__req *r, json_t *obj, const char *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t n = strlen(key);
        const char *p = allowed;
        int ok = 0;
        while (p && *p) {
            const char *comma = strchr(p, ',');
            size_t m = comma ? (size_t)(comma - p) : strlen(p);
            if (m == n && !strncmp(p, key, n)) {
                ok = 1;
                break;
            }
            p = comma ? comma + 1 : NULL;
        }
        if (!ok)
            return td__fail(r, 400, "bad_request", "unknown field '%.64s' (allowed: %s)", key,
                            allowed);
    }
    return 0;
}

int td__arg_str(td__req *r, json_t *o, const char *key, int required, size_t max_len,
                const char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return td__fail(r, 400, "bad_request", "missing field '%s'", key);
        return 0;
    }
    if (!json_is_string(v))
        return td__fail(r, 400, "bad_request", "field '%s' must be a string", key);
    if (json_string_length(v) > max_len)
        return td__fail(r, 400, "bad_request", "field '%s' is longer than %zu characters", key,
                        max_len);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return td__fail(r, 400, "bad_request", "field '%s' contains a NUL character", key);
    *out = json_string_value(v);
    return 0;
}

int td__arg_int(td__req *r, json_t *o, const char *key, int required, int64_t lo, int64_t hi,
                int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return td__fail(r, 400, "bad_request", "missing field '%s'", key);
        return 0;
    }
    if (!json_is_integer(v))
        return td__fail(r, 400, "bad_request", "field '%s' must be a whole number", key);
    if (json_integer_value(v) < lo || json_integer_value(v) > hi)
        return td__fail(r, 400, "bad_request", "field '%s' must be between %lld and %lld", key,
                        (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return 0;
}

int td__arg_num(td__req *r, json_t *o, const char *key, int required, double lo, double hi,
                double *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return td__fail(r, 400, "bad_request", "missing field '%s'", key);
        return 0;
    }
    if (!json_is_number(v))
        return td__fail(r, 400, "bad_request", "field '%s' must be a number", key);
    if (json_number_value(v) < lo || json_number_value(v) > hi)
        return td__fail(r, 400, "bad_request", "field '%s' must be between %g and %g", key, lo, hi);
    *out = json_number_value(v);
    return 0;
}

int td__arg_bool(td__req *r, json_t *o, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return td__fail(r, 400, "bad_request", "field '%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int parse_id(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!s || !*s || strlen(s) > 18)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0)
        return -1;
    *out = v;
    return 0;
}

int td__param_id(td__req *r, int i, const char *what, int64_t *out)
{
    if (i >= r->nparams || parse_id(r->params[i], out))
        return td__fail(r, 404, "not_found", "no %s '%.40s'", what,
                        i < r->nparams ? r->params[i] : "");
    return 0;
}

int td__query_int(td__req *r, const char *name, int64_t dflt, int64_t lo, int64_t hi, int64_t *out)
{
    const char *s = td__req_query(r, name);
    char *end;
    long long v;
    if (!s) {
        *out = dflt;
        return 0;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return td__fail(r, 400, "bad_request",
                        "query parameter '%s' must be a whole number between %lld and %lld", name,
                        (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

int td__valid_name(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > max)
        return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm): no library call, no
 * locale, fast enough for every timestamp of a list. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Writes v's decimal digits at out (room for 20); returns how many. */
static size_t format_u64(char *out, uint64_t v)
{
    char rev[20];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    return n;
}

/* Two digits of v (0-99) at out. */
static void format_2(char *out, unsigned v)
{
    out[0] = (char)('0' + v / 10);
    out[1] = (char)('0' + v % 10);
}

/*
 * Every timestamp of every list reply goes through here, so it is written digit by digit:
 * snprintf's format parsing was the largest cost of GET /api/v1/models (perf: about a third
 * of the hub's CPU time with 1,000 models).
 */
void td__format_time(int64_t t, char *out, size_t cap)
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400, y;
    int64_t secs = t - days * 86400;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999 || cap < 21) {
        snprintf(out, cap, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
                 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
        return;
    }
    format_2(out, (unsigned)(y / 100));
    format_2(out + 2, (unsigned)(y % 100));
    out[4] = '-';
    format_2(out + 5, m);
    out[7] = '-';
    format_2(out + 8, d);
    out[10] = 'T';
    format_2(out + 11, (unsigned)(secs / 3600));
    out[13] = ':';
    format_2(out + 14, (unsigned)(secs / 60 % 60));
    out[16] = ':';
    format_2(out + 17, (unsigned)(secs % 60));
    out[19] = 'Z';
    out[20] = '\0';
}

/* ---- String builder -------------------------------------------------------------------- */

void td__sb_add(td__sb *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nb = td_realloc(b->buf, cap);
        if (!nb) {
            b->failed = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}

void td__sb_str(td__sb *b, const char *s)
{
    td__sb_add(b, s, strlen(s));
}

void td__sb_json_str(td__sb *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run;
    if (!s) {
        td__sb_add(b, "null", 4);
        return;
    }
    td__sb_add(b, "\"", 1);
    run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t n = 0;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            n = 6;
        } else {
            continue;
        }
        td__sb_add(b, run, (size_t)((const char *)p - run));
        td__sb_add(b, esc, n);
        run = (const char *)p + 1;
    }
    td__sb_add(b, run, strlen(run));
    td__sb_add(b, "\"", 1);
}

void td__sb_int(td__sb *b, int64_t v)
{
    char num[24];
    size_t n = 0;
    if (v < 0)
        num[n++] = '-';
    /* -(v + 1) + 1 keeps INT64_MIN in range. */
    n += format_u64(num + n, v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v);
    td__sb_add(b, num, n);
}

void td__sb_time(td__sb *b, int64_t t)
{
    char iso[40];
    if (t <= 0) {
        td__sb_add(b, "null", 4);
        return;
    }
    td__format_time(t, iso, sizeof(iso));
    td__sb_add(b, "\"", 1);
    td__sb_str(b, iso);
    td__sb_add(b, "\"", 1);
}

int td__reply_sb(td__req *r, int status, td__sb *b)
{
    if (b->failed) {
        td_free(b->buf);
        return td__fail(r, 500, "internal", "out of memory");
    }
    td__sb_add(b, "\n", 1);
    int rc = td__reply_data(r, status, "application/json", b->buf, b->len);
    b->buf = NULL;
    return rc;
}

json_t *td__json_time(int64_t t)
{
    char buf[40];
    if (t <= 0)
        return json_null();
    td__format_time(t, buf, sizeof(buf));
    return json_string(buf);
}

/* ------------------------------------------------------------------------------------ */
/* Routing                                                                              */
/* ------------------------------------------------------------------------------------ */

const td__route *const td__route_tables[] = {
    td__routes_core,     td__routes_accounts, td__routes_quota,
    td__routes_classes,  td__routes_models,   td__routes_jobs,
    td__routes_fleet,    td__routes_leagues,  td__routes_assignments,
    td__routes_brackets, td__routes_reward,   td__routes_telemetry,
    td__routes_alerts,   td__routes_storage,  NULL};

/* Schemas the feature files add to the OpenAPI document (openapi.c). */
const char *const td__openapi_schemas[] = {td__quota_schemas,
                                           td__classes_schemas,
                                           td__models_schemas,
                                           td__jobs_schemas,
                                           td__fleet_schemas,
                                           td__leagues_schemas,
                                           td__assignments_schemas,
                                           td__brackets_schemas,
                                           td__reward_schemas,
                                           td__telemetry_schemas,
                                           td__alerts_schemas,
                                           td__storage_schemas,
                                           NULL};

/* Matches path against pattern; fills r->params (copies). A final "{name*}" segment takes
 * the rest of the path. */
static int match(td__req *r, const char *pattern, const char *path)
{
    const char *p = pattern, *u = path;
    int n = 0;
    char *params[TD__MAX_PARAMS];
    while (*p && *u) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            int rest = close && close > p && close[-1] == '*';
            const char *end = rest ? u + strlen(u) : strchr(u, '/');
            if (!end)
                end = u + strlen(u);
            if (end == u || n >= TD__MAX_PARAMS)
                goto fail;
            params[n] = td_malloc((size_t)(end - u) + 1);
            if (!params[n])
                goto fail;
            memcpy(params[n], u, (size_t)(end - u));
            params[n][end - u] = 0;
            n++;
            p = close + 1;
            u = end;
            continue;
        }
        if (*p != *u)
            goto fail;
        p++;
        u++;
    }
    if (*p || *u)
        goto fail;
    for (int i = 0; i < r->nparams; i++)
        td_free(r->params[i]);
    for (int i = 0; i < n; i++)
        r->params[i] = params[i];
    r->nparams = n;
    return 1;
fail:
    for (int i = 0; i < n; i++)
        td_free(params[i]);
    return 0;
}

/* Finds the route; 0 found, 1 path known but not this method (allow lists the methods),
 * 2 no such path. */
static int find_route(td__req *r, const char *method, char *allow, size_t cap)
{
    int path_known = 0;
    const char *m = !strcmp(method, "HEAD") ? "GET" : method;
    allow[0] = 0;
    for (int t = 0; td__route_tables[t]; t++) {
        for (const td__route *rt = td__route_tables[t]; rt->method; rt++) {
            if (!match(r, rt->pattern, r->path))
                continue;
            if (!strcmp(rt->method, m)) {
                r->route = rt;
                return 0;
            }
            path_known = 1;
            if (!strstr(allow, rt->method)) {
                size_t len = strlen(allow);
                snprintf(allow + len, cap - len, "%s%s", len ? ", " : "", rt->method);
            }
        }
    }
    return path_known ? 1 : 2;
}

/* ------------------------------------------------------------------------------------ */
/* Static files                                                                         */
/* ------------------------------------------------------------------------------------ */

static const char *mime_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".html", "text/html; charset=utf-8"},
                 {".js", "text/javascript; charset=utf-8"},
                 {".mjs", "text/javascript; charset=utf-8"},
                 {".css", "text/css; charset=utf-8"},
                 {".json", "application/json"},
                 {".svg", "image/svg+xml"},
                 {".png", "image/png"},
                 {".jpg", "image/jpeg"},
                 {".ico", "image/x-icon"},
                 {".woff2", "font/woff2"},
                 {".txt", "text/plain; charset=utf-8"},
                 {".map", "application/json"},
                 {".wasm", "application/wasm"}};
    const char *dot = strrchr(path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (!strcmp(dot, types[i].ext))
                return types[i].type;
    return "application/octet-stream";
}

/* Serves GET/HEAD of a file under web_dir. Returns 0 when it replied. */
static int serve_static(td__req *r)
{
    char clean[TD_TAR_PATH_MAX + 16], full[2400], etag[96];
    const char *rel = r->path + 1;
    struct stat st;
    int fd;
    if (!r->hub->opt.web_dir || (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")))
        return -1;
    if (!*rel)
        rel = "index.html";
    if (td__path_clean(rel, clean, sizeof(clean), NULL))
        return td__fail(r, 404, "not_found", "no such page"), 0;
    snprintf(full, sizeof(full), "%s/%s", r->hub->opt.web_dir, clean);
    fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        snprintf(full, sizeof(full), "%s/%s/index.html", r->hub->opt.web_dir, clean);
        fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0 && !strchr(clean, '.')) {
        /* A path of the single-page app's router: the app itself answers it. */
        snprintf(full, sizeof(full), "%s/index.html", r->hub->opt.web_dir);
        fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return td__fail(r, 404, "not_found", "no such page"), 0;
    }
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtime);
    td__req_add_header(r, "ETag", etag);
    /* Hashed build assets never change; pages are revalidated every time. */
    td__req_add_header(r, "Cache-Control",
                       !strncmp(clean, "assets/", 7) ? "public, max-age=31536000, immutable"
                       : strstr(full, ".html")       ? "no-cache"
                                                     : "public, max-age=300");
    const char *inm = td__req_header(r, "If-None-Match");
    if (inm && !strcmp(inm, etag)) {
        close(fd);
        return td__reply_empty(r, 304);
    }
    return td__reply_fd(r, 200, mime_type(full), fd, (uint64_t)st.st_size);
}

/* ------------------------------------------------------------------------------------ */
/* The access handler                                                                   */
/* ------------------------------------------------------------------------------------ */

static void add_common_headers(td__req *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    /* Scripts and style sheets only from the hub's files. Style attributes are allowed:
     * the editor (CodeMirror) sets a few (tab-size, scroll padding); they cannot run code. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src "
                            "'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                            "frame-ancestors 'none'");
    if (!strncmp(r->path, "/api/", 5))
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->hub->stopping)
        MHD_add_response_header(resp, "Connection", "close");
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
}

static enum MHD_Result send_reply(td__req *r)
{
    struct MHD_Response *resp = NULL;
    enum MHD_Result ret;
    const char *type = r->reply_type;

    if (r->reply_json) {
        char *s = json_dumps(r->reply_json, JSON_COMPACT);
        size_t n = s ? strlen(s) : 0;
        if (!s)
            return MHD_NO;
        /* A trailing newline makes curl output readable. */
        char *t = realloc(s, n + 2);
        if (t) {
            s = t;
            s[n++] = '\n';
            s[n] = 0;
        }
        resp = MHD_create_response_from_buffer_with_free_callback(n, s, free);
        type = "application/json";
    } else if (r->reply_data) {
        resp = MHD_create_response_from_buffer_with_free_callback(r->reply_len, r->reply_data,
                                                                  td_free);
        r->reply_data = NULL;
    } else if (r->reply_fd >= 0) {
        resp = MHD_create_response_from_fd64(r->reply_fd_size, r->reply_fd);
        r->reply_fd = -1; /* MHD closes it */
    } else if (r->stream) {
        resp = MHD_create_response_from_callback(
            MHD_SIZE_UNKNOWN, 64 * 1024, (MHD_ContentReaderCallback)r->stream, r->stream_cls,
            (MHD_ContentReaderFreeCallback)r->stream_free);
        r->stream = NULL;
        r->stream_free = NULL;
    } else {
        resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    if (type)
        MHD_add_response_header(resp, "Content-Type", type);
    add_common_headers(r, resp);
    ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Whether addr (n bytes) is one of the comma-separated addresses of list. */
static int in_list(const char *list, const char *addr, size_t n)
{
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        const char *e = p + len;
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && !strncmp(p, addr, n))
            return 1;
        p = *e ? e + 1 : e;
    }
    return 0;
}

/* Behind a trusted reverse proxy (--trust-proxy), the client is the rightmost address of
 * X-Forwarded-For that is not itself a trusted proxy: what a client wrote further left is its
 * own claim and is ignored. Per-address limits then count each client, not the proxy. */
static void forwarded_client(td__req *r)
{
    const char *list = r->hub->opt.trusted_proxies, *xff;
    if (!list || !*list || !in_list(list, r->client_ip, strlen(r->client_ip)))
        return;
    xff = td__req_header(r, "X-Forwarded-For");
    if (!xff)
        return;
    for (size_t end = strlen(xff); end > 0;) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            b--;
        char addr[64];
        unsigned char bin[16];
        if (b - a == 0 || b - a >= sizeof(addr))
            return;
        memcpy(addr, xff + a, b - a);
        addr[b - a] = 0;
        if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
            return; /* not an address: keep the proxy's */
        if (!in_list(list, addr, strlen(addr))) {
            snprintf(r->client_ip, sizeof(r->client_ip), "%s", addr);
            return;
        }
        end = start > 0 ? start - 1 : 0;
    }
}

static void client_address(td__req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(r->client_ip, sizeof(r->client_ip), "unknown");
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, r->client_ip,
                  sizeof(r->client_ip));
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr,
                  r->client_ip, sizeof(r->client_ip));
    forwarded_client(r);
}

static int open_upload(td__req *r)
{
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/tmp", r->hub->data_dir);
    snprintf(r->upload_path, sizeof(r->upload_path), "%s/upload-%s-XXXXXX", dir, td__tmp_tag());
    r->upload_fd = mkstemp(r->upload_path);
    if (r->upload_fd < 0) {
        TD_ERROR("hub: %s: %s", r->upload_path, strerror(errno));
        r->upload_path[0] = 0;
        return td__fail(r, 500, "internal", "cannot store the upload");
    }
    return 0;
}

/* First call of a request: route, authenticate, authorize, check the announced body size.
 * Returns 1 when a reply is ready (an error), 0 to go on. */
static int begin_request(td__req *r, const char *url, const char *method)
{
    char allow[128];
    const char *cl;
    int found;

    snprintf(r->path, sizeof(r->path), "%s", url);
    client_address(r);
    found = find_route(r, method, allow, sizeof(allow));
    if (found == 1) {
        td__req_add_header(r, "Allow", allow);
        return td__fail(r, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                        method, url, allow);
    }
    if (found == 2) {
        if (strncmp(url, "/api/", 5) && serve_static(r) == 0)
            return 1;
        return td__fail(r, 404, "not_found", "no route %s %s", method, url);
    }
    if (td__authenticate(r))
        return 1;
    if (!td__authorize(r))
        return 1;
    cl = td__req_header(r, "Content-Length");
    if (cl) {
        unsigned long long n = strtoull(cl, NULL, 10);
        uint64_t limit = r->route->body == TD__BODY_UPLOAD ? r->hub->opt.max_upload_bytes
                                                           : r->hub->opt.max_json_bytes;
        if (r->route->body == TD__BODY_NONE && n > 0)
            limit = r->hub->opt.max_json_bytes;
        if (n > limit)
            return td__fail(r, 413, "too_large", "the body (%llu bytes) is over the limit of %llu",
                            n, (unsigned long long)limit);
    }
    if (r->route->body == TD__BODY_UPLOAD)
        return open_upload(r);
    return 0;
}

/* A chunk of the body. Returns 0, or -1 to drop the connection (a body over the limit that
 * did not announce its size). */
static int take_body(td__req *r, const char *data, size_t n)
{
    if (r->route && r->route->body == TD__BODY_UPLOAD && r->upload_fd >= 0) {
        if (r->upload_len + n > r->hub->opt.max_upload_bytes)
            return -1;
        const char *p = data;
        size_t left = n;
        while (left) {
            ssize_t k = write(r->upload_fd, p, left);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return -1;
            p += k;
            left -= (size_t)k;
        }
        r->upload_len += n;
        return 0;
    }
    if (r->body_len + n > r->hub->opt.max_json_bytes)
        return -1;
    char *b = td_realloc(r->body, r->body_len + n + 1);
    if (!b)
        return -1;
    memcpy(b + r->body_len, data, n);
    r->body = b;
    r->body_len += n;
    r->body[r->body_len] = 0;
    return 0;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    td_hub *h = cls;
    td__req *r = *con_cls;
    (void)version;

    if (!r) {
        r = td_calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->hub = h;
        r->conn = conn;
        r->method = method;
        r->upload_fd = -1;
        r->reply_fd = -1;
        *con_cls = r;
        if (begin_request(r, url, method))
            return send_reply(r);
        r->phase = 1;
        return MHD_YES;
    }
    if (r->phase == 0) {
        /* Replied at the first call (an error): the body, if any, is not wanted. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (take_body(r, upload_data, *upload_data_size))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->phase != 1)
        return MHD_YES;
    r->phase = 2;
    if (r->route->body == TD__BODY_UPLOAD && r->upload_fd >= 0) {
        close(r->upload_fd);
        r->upload_fd = -1;
    }
    r->route->fn(r);
    if (!r->replied)
        td__fail(r, 500, "internal", "the handler gave no reply");
    if (r->db) {
        td__db_release(h->db, r->db);
        r->db = NULL;
    }
    return send_reply(r);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    td_hub *h = cls;
    td__req *r = *con_cls;
    (void)conn;
    (void)toe;
    if (!r)
        return;
    if (r->db)
        td__db_release(h->db, r->db);
    reset_reply(r);
    if (r->upload_fd >= 0)
        close(r->upload_fd);
    if (r->upload_path[0])
        unlink(r->upload_path);
    for (int i = 0; i < r->nparams; i++)
        td_free(r->params[i]);
    if (r->json)
        json_decref(r->json);
    td_free(r->body);
    td_free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = 0;
    TD_DEBUG("hub: http: %s", msg);
}

/* ------------------------------------------------------------------------------------ */
/* Start and stop                                                                       */
/* ------------------------------------------------------------------------------------ */

int td__http_start(td_hub *h, td_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    struct MHD_Daemon *d;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    memset(&ss, 0, sizeof(ss));
    if (strchr(h->listen_host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)h->listen_port);
        if (inet_pton(AF_INET6, h->listen_host, &a->sin6_addr) != 1)
            return td_err_set(err, TD_EINVAL, "--listen: '%s' is not an IPv6 address",
                              h->listen_host);
        flags |= MHD_USE_IPv6;
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)h->listen_port);
        if (!strcmp(h->listen_host, "localhost"))
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, h->listen_host, &a->sin_addr) != 1)
            return td_err_set(err, TD_EINVAL,
                              "--listen: '%s' is not an IPv4 address (use 127.0.0.1 for this "
                              "machine only)",
                              h->listen_host);
        sl = sizeof(*a);
    }
    (void)sl;
    d = MHD_start_daemon(
        flags, 0, NULL, NULL, access_handler, h, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, h, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)h->opt.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)128 * 1024, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)1024, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
    if (!d)
        return td_err_set(err, TD_EIO, "cannot listen on %s:%d (%s)", h->listen_host,
                          h->listen_port, errno ? strerror(errno) : "in use?");
    h->mhd = d;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : h->listen_port;
    return 0;
}

void td__http_quiesce(td_hub *h)
{
    if (h->mhd) {
        MHD_socket s = MHD_quiesce_daemon(h->mhd);
        if (s != MHD_INVALID_SOCKET)
            close(s);
    }
}

void td__http_stop(td_hub *h)
{
    if (h->mhd) {
        MHD_stop_daemon(h->mhd);
        h->mhd = NULL;
    }
}

/* Connections still open (requests in flight or kept alive). */
unsigned td__http_connections(td_hub *h);
unsigned td__http_connections(td_hub *h)
{
    const union MHD_DaemonInfo *di =
        h->mhd ? MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS) : NULL;
    return di ? di->num_connections : 0;
}
