/*
 * test_hub_routes.c - every route of the hub, taken from its own /api/v1/openapi.json (so a new
 * route is covered without editing this file), against a real `trackday serve`:
 *   - as the wrong caller: no login (401), a role the route is not for (403), another learner,
 *     an instructor of another class and another worker asking for a learner's model, job,
 *     class or account by id (404, or 403/409 where the thing may be seen but not changed);
 *     afterwards the owner's things are exactly as they were;
 *   - with hostile bodies, field by field from the route's request schema: malformed JSON, a
 *     body that is not an object, each field of the wrong type (400 naming the field), SQL
 *     metacharacters and path traversal in every string field (never a 5xx; the database
 *     intact; names refused with 400).
 */
#include "hub/db.h"
#include "hub_harness.h"

/* The things the walk asks for, owned by alice (a learner in ivan's class). */
typedef struct {
    long long alice, ivan, class_id, model, job, worker1;
    char t_alice[160], t_bob[160], t_olga[160], t_w1[160], t_w2[160];
    char lease[160]; /* "X-Trackday-Lease: ..." of w1's claim of the job */
} fixture;

/* A route's path with its parameters filled with the fixture's ids. */
static void fill_path(const fixture *f, const char *pattern, char *out, size_t cap)
{
    long long id = 0;
    if (!strncmp(pattern, "/api/v1/users/", 14))
        id = f->alice;
    else if (!strncmp(pattern, "/api/v1/workers/", 16))
        id = f->worker1;
    else if (!strncmp(pattern, "/api/v1/classes/", 16))
        id = f->class_id;
    else if (!strncmp(pattern, "/api/v1/models/", 15))
        id = f->model;
    else if (!strncmp(pattern, "/api/v1/jobs/", 13))
        id = f->job;
    size_t n = 0;
    for (const char *p = pattern; *p && n + 32 < cap;) {
        if (*p != '{') {
            out[n++] = *p++;
            continue;
        }
        const char *end = strchr(p, '}');
        char name[32];
        snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
        if (!strcmp(name, "id"))
            n += (size_t)snprintf(out + n, cap - n, "%lld", id);
        else if (!strcmp(name, "uid"))
            n += (size_t)snprintf(out + n, cap - n, "%lld", f->alice);
        else if (!strcmp(name, "v"))
            n += (size_t)snprintf(out + n, cap - n, "1");
        else
            n += (size_t)snprintf(out + n, cap - n, "reward_function.py");
        p = end + 1;
    }
    out[n] = 0;
}

static int has_role(json_t *op, const char *role)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(op, "x-allowed"), i, v)
    {
        if (!strcmp(json_string_value(v), role) || !strcmp(json_string_value(v), "anyone"))
            return 1;
    }
    return 0;
}

/* The request body a route takes, and its content type (NULL: none). */
static const char *body_of(json_t *op, const char **type)
{
    json_t *content = json_object_get(json_object_get(op, "requestBody"), "content");
    *type = NULL;
    if (!content)
        return NULL;
    if (json_object_get(content, "application/json")) {
        *type = "application/json";
        return "{}";
    }
    if (json_object_get(content, "text/csv")) {
        *type = "text/csv";
        return "name,email,role\nmallory,m@example.org,learner\n";
    }
    *type = "application/gzip";
    return "not an archive";
}

static void setup(hub_server *s, fixture *f)
{
    hub_resp r;
    char body[256];
    memset(f, 0, sizeof(*f));
    f->alice = hub_user(s, "alice", "learner", f->t_alice, sizeof(f->t_alice));
    hub_user(s, "bob", "learner", f->t_bob, sizeof(f->t_bob));
    char t_ivan[160];
    f->ivan = hub_user(s, "ivan", "instructor", t_ivan, sizeof(t_ivan));
    hub_user(s, "olga", "instructor", f->t_olga, sizeof(f->t_olga));
    TD_ASSERT_EQ_INT(hub_json(s, &r, "POST", "/api/v1/classes", t_ivan, "{\"name\":\"ML 101\"}"),
                     201);
    f->class_id = json_integer_value(json_object_get(r.json, "id"));
    hub_resp_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/classes/%lld/members", f->class_id);
    TD_ASSERT_EQ_INT(hub_json(s, &r, "POST", path, t_ivan, "{\"username\":\"alice\"}"), 201);
    hub_resp_free(&r);
    f->model = hub_push_init(s, f->t_alice, "m1", NULL);
    snprintf(body, sizeof(body), "{\"type\":\"train\",\"model\":%lld,\"minutes\":1}", f->model);
    f->job = hub_submit(s, f->t_alice, body);
    /* Two workers; the first holds the job's lease. */
    const char *names[2] = {"w1", "w2"};
    char *toks[2] = {f->t_w1, f->t_w2};
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof(body), "{\"name\":\"%s\"}", names[i]);
        TD_ASSERT_EQ_INT(hub_json(s, &r, "POST", "/api/v1/workers", s->admin, body), 201);
        snprintf(toks[i], 160, "%s", json_string_value(json_object_get(r.json, "token")));
        if (i == 0)
            f->worker1 = json_integer_value(json_object_get(r.json, "id"));
        hub_resp_free(&r);
    }
    TD_ASSERT_EQ_INT(hub_json(s, &r, "POST", "/api/v1/worker/claim", f->t_w1, "{\"wait\":0}"), 200);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "id")), f->job);
    snprintf(f->lease, sizeof(f->lease), "X-Trackday-Lease: %s",
             json_string_value(json_object_get(r.json, "lease_id")));
    hub_resp_free(&r);
}

/* What the owner sees of their things: compared before and after the walk. */
static char *snapshot(hub_server *s, const fixture *f)
{
    const char *fmt[] = {"/api/v1/models/%lld", "/api/v1/models/%lld/versions", "/api/v1/jobs/%lld",
                         "/api/v1/classes/%lld", "/api/v1/users/%lld"};
    long long ids[] = {f->model, f->model, f->job, f->class_id, f->alice};
    size_t cap = 1 << 16, n = 0;
    char *all = calloc(1, cap);
    for (int i = 0; i < 5; i++) {
        char path[128];
        hub_resp r;
        snprintf(path, sizeof(path), fmt[i], ids[i]);
        TD_ASSERT_EQ_INT(
            hub_json(s, &r, "GET", path, i == 3 || i == 4 ? s->admin : f->t_alice, NULL), 200);
        /* The job's lease and heartbeat times move by themselves; its state must not. */
        if (i == 2) {
            json_object_del(r.json, "lease_expires_at");
            json_object_del(r.json, "heartbeat_at");
        }
        char *text = json_dumps(r.json, JSON_SORT_KEYS | JSON_COMPACT);
        n += (size_t)snprintf(all + n, cap - n, "%s\n", text);
        free(text);
        hub_resp_free(&r);
    }
    return all;
}

TD_TEST(every_route_refuses_the_wrong_caller)
{
    hub_server s;
    hub_resp r;
    fixture f;
    hub_start(&s);
    setup(&s, &f);
    char *before = snapshot(&s, &f);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/openapi.json", NULL, NULL), 200);
    json_t *doc = json_incref(r.json);
    hub_resp_free(&r);
    const char *pattern;
    json_t *ops;
    int requests = 0, routes = 0, named = 0;
    json_object_foreach(json_object_get(doc, "paths"), pattern, ops)
    {
        const char *method;
        json_t *op;
        json_object_foreach(ops, method, op)
        {
            char m[16], path[512];
            size_t i;
            for (i = 0; method[i] && i < sizeof(m) - 1; i++)
                m[i] = (char)(method[i] & ~0x20);
            m[i] = 0;
            fill_path(&f, pattern, path, sizeof(path));
            const char *type, *body = body_of(op, &type);
            size_t len = body ? strlen(body) : 0;
            int names_a_thing = strchr(pattern, '{') != NULL;
            routes++;
            named += names_a_thing;
            /* No login. */
            if (!has_role(op, "anyone")) {
                hub_req(&s, &r, m, path, NULL, type, body, len);
                TD_ASSERT_MSG(r.status == 401 && !strcmp(hub_err_code(&r), "unauthorized"),
                              "%s %s without a login: %ld %s", m, path, r.status, r.body);
                hub_resp_free(&r);
                requests++;
            }
            /* Another learner, an instructor of another class, another worker. */
            const char *who[3] = {"learner", "instructor", "worker"};
            const char *tok[3] = {f.t_bob, f.t_olga, f.t_w2};
            for (int k = 0; k < 3; k++) {
                int allowed = has_role(op, who[k]);
                if (allowed && !names_a_thing)
                    continue; /* their own things (their models, jobs, classes) */
                /* With the job's lease: only who asks decides. */
                hub_req_h(&s, &r, m, path, tok[k], type, body, len, f.lease);
                requests++;
                if (!allowed) {
                    TD_ASSERT_MSG(r.status == 403 && !strcmp(hub_err_code(&r), "forbidden"),
                                  "%s %s as a %s (not for this role): %ld %s", m, path, who[k],
                                  r.status, r.body);
                } else if (k == 2) {
                    /* A worker asks for a job or a model that is not its job's. */
                    TD_ASSERT_MSG(r.status == 404 || r.status == 409,
                                  "%s %s as another worker: %ld %s", m, path, r.status, r.body);
                } else {
                    /* Something of alice's: as if it did not exist. */
                    TD_ASSERT_MSG(r.status == 404 && !strcmp(hub_err_code(&r), "not_found"),
                                  "%s %s as a %s who may not see it: %ld %s", m, path, who[k],
                                  r.status, r.body);
                }
                TD_ASSERT_MSG(r.json &&
                                  json_object_get(json_object_get(r.json, "error"), "message"),
                              "%s %s: the error is not {\"error\": {\"code\", \"message\"}}: %s", m,
                              path, r.body);
                hub_resp_free(&r);
            }
        }
    }
    TD_ASSERT_MSG(routes >= 50, "only %d routes in openapi.json", routes);
    TD_ASSERT(named >= 30);
    /* Nothing of alice's changed. */
    char *after = snapshot(&s, &f);
    TD_ASSERT_STREQ(after, before);
    printf("%d routes, %d requests as the wrong caller\n", routes, requests);
    free(before);
    free(after);
    json_decref(doc);
    hub_stop(&s);
}

/* ---- Hostile bodies, field by field -----------------------------------------------------------
 */

/* A request schema: the route's $ref resolved in components.schemas. */
static json_t *schema_of(json_t *doc, json_t *op)
{
    json_t *s = json_object_get(
        json_object_get(json_object_get(json_object_get(op, "requestBody"), "content"),
                        "application/json"),
        "schema");
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    if (ref && !strncmp(ref, "#/components/schemas/", 21))
        s = json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                            ref + 21);
    return json_is_object(json_object_get(s, "properties")) ? s : NULL;
}

/* The JSON type a property takes ("string", "integer", ...; "enum" for a list of words). */
static const char *type_of(json_t *prop)
{
    json_t *t = json_object_get(prop, "type");
    if (json_object_get(prop, "enum"))
        return "enum";
    if (json_is_array(t))
        t = json_array_get(t, 0);
    if (json_object_get(prop, "$ref"))
        return "object";
    return json_is_string(t) ? json_string_value(t) : "string";
}

/* A value of the right type, so that a request fails on the field under test only. */
static json_t *good_value(const fixture *f, const char *key, json_t *prop, int n)
{
    const char *t = type_of(prop);
    char text[64];
    if (!strcmp(t, "enum"))
        return json_incref(json_array_get(json_object_get(prop, "enum"), 0));
    if (!strcmp(t, "integer"))
        return json_integer(!strcmp(key, "model") ? f->model : 1);
    if (!strcmp(t, "number"))
        return json_real(1);
    if (!strcmp(t, "boolean"))
        return json_false();
    if (!strcmp(t, "array"))
        return json_array();
    if (!strcmp(t, "object"))
        return json_object();
    snprintf(text, sizeof(text), "value-%d-long-enough", n);
    return json_string(text);
}

static json_t *wrong_value(json_t *prop)
{
    const char *t = type_of(prop);
    if (!strcmp(t, "string") || !strcmp(t, "enum"))
        return json_integer(12345);
    if (!strcmp(t, "boolean"))
        return json_string("yes");
    return json_string("not-a-number");
}

/* The request body: the schema's required fields with good values, then key = v. */
static char *body_with(const fixture *f, json_t *schema, const char *key, json_t *v, int n)
{
    json_t *o = json_object(), *req;
    size_t i;
    const char *k;
    json_t *prop;
    json_array_foreach(json_object_get(schema, "required"), i, req)
    {
        k = json_string_value(req);
        json_object_set_new(
            o, k, good_value(f, k, json_object_get(json_object_get(schema, "properties"), k), n));
    }
    /* Fields required in some cases say so ("train: required"). */
    json_object_foreach(json_object_get(schema, "properties"), k, prop)
    {
        const char *d = json_string_value(json_object_get(prop, "description"));
        if (d && strstr(d, "required"))
            json_object_set_new(o, k, good_value(f, k, prop, n));
    }
    json_object_set_new(o, key, v);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static long long count_tables(hub_server *s)
{
    char path[700];
    td_db *db;
    td_err err;
    int64_t n = -1;
    hub_db_target(s, path, sizeof(path));
    TD_ASSERT_OK(td__db_open(&db, path, 1, &err));
    td_db_conn *c = td__db_acquire(db);
    char *ok = NULL;
    td_db_rows *rows;
    if (td__db_dialect(db) == TD_DB_POSTGRES) {
        TD_ASSERT_OK(td__db_int_query(c, &n, -1, &err,
                                      "SELECT COUNT(*) FROM information_schema.tables WHERE "
                                      "table_schema = 'public'",
                                      ""));
        /* PostgreSQL checks itself as it goes; every table must still answer a scan. */
        TD_ASSERT_OK(td__db_query(c, &rows, &err,
                                  "SELECT CASE WHEN (SELECT COUNT(*) FROM users) >= 0 AND (SELECT "
                                  "COUNT(*) FROM jobs) >= 0 AND (SELECT COUNT(*) FROM models) >= 0 "
                                  "THEN 'ok' ELSE 'bad' END",
                                  ""));
    } else {
        TD_ASSERT_OK(td__db_int_query(
            c, &n, -1, &err, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'", ""));
        TD_ASSERT_OK(td__db_query(c, &rows, &err, "PRAGMA integrity_check", ""));
    }
    TD_ASSERT_EQ_INT(td__db_next(rows, &err), 1);
    ok = strdup(td__db_text(rows, 0));
    td__db_rows_free(rows);
    td__db_release(db, c);
    td__db_close(db);
    TD_ASSERT_STREQ(ok, "ok");
    free(ok);
    return n;
}

TD_TEST(hostile_bodies_field_by_field)
{
    hub_server s;
    hub_resp r;
    fixture f;
    hub_start(&s);
    setup(&s, &f);
    long long tables = count_tables(&s);
    TD_ASSERT(tables >= 10);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/openapi.json", NULL, NULL), 200);
    json_t *doc = json_incref(r.json);
    hub_resp_free(&r);
    static const char *const hostile[] = {
        "x'); DROP TABLE users; --",       "\" OR 1=1 --",     "'; DELETE FROM models WHERE '1'='1",
        "../../../../etc/passwd",          "..%2F..%2Fhub.db", "/etc/passwd",
        "'||(SELECT sqlite_version())||'", "%00%2e%2e%2f",
    };
    const char *pattern;
    json_t *ops;
    int n = 0, fields = 0, strings = 0;
    json_object_foreach(json_object_get(doc, "paths"), pattern, ops)
    {
        const char *method;
        json_t *op;
        json_object_foreach(ops, method, op)
        {
            json_t *schema = schema_of(doc, op);
            char m[16], path[512];
            size_t i;
            if (!schema)
                continue;
            for (i = 0; method[i] && i < sizeof(m) - 1; i++)
                m[i] = (char)(method[i] & ~0x20);
            m[i] = 0;
            fill_path(&f, pattern, path, sizeof(path));
            /* Worker routes as the worker holding the job; the rest as the admin, who may do
             * everything (so the body is what is refused). */
            const char *tok = has_role(op, "admin") ? s.admin : f.t_w1;
            const char *hdr = tok == f.t_w1 ? f.lease : NULL;
            char big_hdr[256];
            snprintf(big_hdr, sizeof(big_hdr), "Expect: 100-continue%s%s", hdr ? "\r\n" : "",
                     hdr ? hdr : "");
            /* Malformed JSON, and JSON that is not an object. */
            static const char *const broken[] = {"{\"a\":", "[1,2]", "12", "nul", "{\"a\":1}}"};
            for (size_t b = 0; b < sizeof(broken) / sizeof(broken[0]); b++) {
                hub_req_h(&s, &r, m, path, tok, "application/json", broken[b], strlen(broken[b]),
                          hdr);
                TD_ASSERT_MSG(r.status == 400 && !strcmp(hub_err_code(&r), "bad_request"),
                              "%s %s with body %s: %ld %s", m, path, broken[b], r.status, r.body);
                hub_resp_free(&r);
            }
            /* Over the JSON body limit. */
            size_t big = 3u << 20;
            char *huge = malloc(big);
            memset(huge, ' ', big);
            huge[0] = '{';
            huge[big - 1] = '}';
            hub_req_h(&s, &r, m, path, tok, "application/json", huge, big, big_hdr);
            free(huge);
            TD_ASSERT_MSG(r.status == 413 && !strcmp(hub_err_code(&r), "too_large"),
                          "%s %s with 3 MiB of JSON: %ld", m, path, r.status);
            hub_resp_free(&r);
            const char *key;
            json_t *prop;
            json_object_foreach(json_object_get(schema, "properties"), key, prop)
            {
                /* The wrong type: 400 naming the field. */
                char *body = body_with(&f, schema, key, wrong_value(prop), n++);
                hub_req_h(&s, &r, m, path, tok, "application/json", body, strlen(body), hdr);
                TD_ASSERT_MSG(r.status == 400 && !strcmp(hub_err_code(&r), "bad_request") &&
                                  strstr(hub_err_msg(&r), key),
                              "%s %s %s: %ld %s", m, path, body, r.status, r.body);
                free(body);
                hub_resp_free(&r);
                fields++;
            }
            /* Then (they may change things: a job failed, an account created) hostile text. */
            json_object_foreach(json_object_get(schema, "properties"), key, prop)
            {
                char *body;
                if (strcmp(type_of(prop), "string"))
                    continue;
                /* SQL and paths in a string: taken as text or refused, never a server error. */
                for (size_t h = 0; h < sizeof(hostile) / sizeof(hostile[0]); h++) {
                    body = body_with(&f, schema, key, json_string(hostile[h]), n++);
                    hub_req_h(&s, &r, m, path, tok, "application/json", body, strlen(body), hdr);
                    TD_ASSERT_MSG(r.status >= 200 && r.status < 500, "%s %s %s: %ld %s", m, path,
                                  body, r.status, r.body);
                    /* A name (of a user, a model, a worker, a track) refuses them; a class's
                     * name is free text, never a path. A class's roster derives user names
                     * from people's names ("Dan Smith" is dan.smith): only safe ones. */
                    int roster = strstr(pattern, "/members") != NULL;
                    if (roster && r.status < 300) {
                        char upath[64];
                        hub_resp u;
                        snprintf(upath, sizeof(upath), "/api/v1/users/%lld",
                                 (long long)json_integer_value(json_object_get(r.json, "user_id")));
                        TD_ASSERT_EQ_INT(hub_json(&s, &u, "GET", upath, s.admin, NULL), 200);
                        const char *un = json_string_value(json_object_get(u.json, "username"));
                        TD_ASSERT_MSG(un && !strchr(un, '/') && !strstr(un, "..") && un[0] != '.' &&
                                          strspn(un, "abcdefghijklmnopqrstuvwxyz0123456789._-") ==
                                              strlen(un),
                                      "%s became the user name '%s'", hostile[h], un);
                        hub_resp_free(&u);
                    } else if (!strcmp(key, "username") || !strcmp(key, "track") ||
                               (!strcmp(key, "name") && strncmp(pattern, "/api/v1/classes", 15))) {
                        TD_ASSERT_MSG(r.status >= 400 || h < 3, "%s %s took %s as a %s: %s", m,
                                      path, hostile[h], key, r.body);
                    }
                    free(body);
                    hub_resp_free(&r);
                    strings++;
                }
            }
        }
    }
    TD_ASSERT_MSG(fields >= 40, "only %d fields", fields);
    /* The database is whole: every table still there, integrity_check ok, the API answers. */
    TD_ASSERT_EQ_INT(count_tables(&s), tables);
    static const char *const lists[] = {"/api/v1/users", "/api/v1/models", "/api/v1/classes",
                                        "/api/v1/jobs", "/api/v1/workers"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", lists[i], s.admin, NULL), 200);
        hub_resp_free(&r);
    }
    printf("%d fields of the wrong type, %d hostile strings\n", fields, strings);
    json_decref(doc);
    hub_stop(&s);
}
