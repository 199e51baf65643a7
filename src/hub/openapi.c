/*
 * openapi.c - GET /api/v1/openapi.json: the OpenAPI 3.1 document, built from the route tables
 * themselves (so no route can be missing from it) plus the shared schemas below. Each route
 * gets its parameters from its path pattern, its security and roles from its `allow` bits,
 * the error replies it can give, and whatever its table entry adds (request body, replies).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "hub/hub_internal.h"

static const char components_json[] =
    "{\"securitySchemes\": {"
    "  \"bearer\": {\"type\": \"http\", \"scheme\": \"bearer\", \"description\": \"a session "
    "token (POST /api/v1/sessions) or a worker token (trackday admin create-worker)\"},"
    "  \"cookie\": {\"type\": \"apiKey\", \"in\": \"cookie\", \"name\": \"td_session\", "
    "\"description\": \"the browser's session; requests that change something also need the "
    "X-CSRF-Token header\"}},"
    " \"responses\": {\"Error\": {\"description\": \"an error\", \"content\": "
    "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Error\"}}}}},"
    " \"schemas\": {"
    "  \"Error\": {\"type\": \"object\", \"required\": [\"error\"], \"properties\": {\"error\": "
    "{\"type\": \"object\", \"required\": [\"code\", \"message\"], \"properties\": {\"code\": "
    "{\"type\": \"string\", \"enum\": [\"bad_request\", \"unauthorized\", \"forbidden\", "
    "\"csrf\", \"not_found\", \"method_not_allowed\", \"conflict\", \"too_large\", "
    "\"rate_limited\", \"quota_exceeded\", \"lease_lost\", \"busy\", \"internal\"]}, "
    "\"message\": {\"type\": \"string\"}}}}},"
    "  \"Health\": {\"type\": \"object\", \"properties\": {\"status\": {\"const\": \"ok\"}}},"
    "  \"Login\": {\"type\": \"object\", \"required\": [\"username\", \"password\"], "
    "\"additionalProperties\": false, \"properties\": {\"username\": {\"type\": \"string\"}, "
    "\"password\": {\"type\": \"string\"}, \"cookie\": {\"type\": \"boolean\"}}},"
    "  \"Session\": {\"type\": \"object\", \"properties\": {\"token\": {\"type\": \"string\"}, "
    "\"expires_at\": {\"type\": \"string\", \"format\": \"date-time\"}, \"csrf_token\": "
    "{\"type\": \"string\"}, \"user\": {\"$ref\": \"#/components/schemas/User\"}}},"
    "  \"User\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, "
    "\"username\": {\"type\": \"string\"}, \"display_name\": {\"type\": \"string\"}, "
    "\"email\": {\"type\": \"string\"}, \"role\": {\"enum\": [\"admin\", \"instructor\", "
    "\"learner\"]}, \"disabled\": {\"type\": \"boolean\"}, \"created_at\": {\"type\": "
    "\"string\", \"format\": \"date-time\"}}},"
    "  \"UserCreate\": {\"type\": \"object\", \"required\": [\"username\", \"password\"], "
    "\"additionalProperties\": false, \"properties\": {\"username\": {\"type\": \"string\", "
    "\"pattern\": \"^[a-z0-9][a-z0-9._-]{1,31}$\"}, \"password\": {\"type\": \"string\", "
    "\"minLength\": 8}, \"role\": {\"enum\": [\"admin\", \"instructor\", \"learner\"]}, "
    "\"email\": {\"type\": \"string\"}, \"display_name\": {\"type\": \"string\"}}},"
    "  \"UserPatch\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"role\": {\"enum\": [\"admin\", \"instructor\", \"learner\"]}, \"disabled\": {\"type\": "
    "\"boolean\"}, \"email\": {\"type\": \"string\"}, \"display_name\": {\"type\": "
    "\"string\"}, \"password\": {\"type\": \"string\", \"minLength\": 8}}},"
    "  \"PasswordChange\": {\"type\": \"object\", \"required\": [\"old_password\", "
    "\"new_password\"], \"additionalProperties\": false, \"properties\": {\"old_password\": "
    "{\"type\": \"string\"}, \"new_password\": {\"type\": \"string\", \"minLength\": 8}}},"
    "  \"WorkerCreate\": {\"type\": \"object\", \"required\": [\"name\"], "
    "\"additionalProperties\": false, \"properties\": {\"name\": {\"type\": \"string\"}}}"
    "}}";

/* Extra schemas registered by feature files (NULL-terminated list of JSON object texts whose
 * members are added to components.schemas). */
extern const char *const td__openapi_schemas[];

static json_t *error_ref(const char *why)
{
    return json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", why, "content", "application/json",
                     "schema", "$ref", "#/components/schemas/Error");
}

static json_t *roles_of(unsigned allow)
{
    json_t *a = json_array();
    if (allow & TD__ALLOW_ANON)
        json_array_append_new(a, json_string("anyone"));
    if (allow & TD__ALLOW_LEARNER)
        json_array_append_new(a, json_string("learner"));
    if (allow & TD__ALLOW_INSTRUCTOR)
        json_array_append_new(a, json_string("instructor"));
    if (allow & TD__ALLOW_ADMIN)
        json_array_append_new(a, json_string("admin"));
    if (allow & TD__ALLOW_WORKER)
        json_array_append_new(a, json_string("worker"));
    if (allow & TD__ALLOW_DEVICE)
        json_array_append_new(a, json_string("device"));
    return a;
}

/* "getModelsIdVersionsV" from GET /api/v1/models/{id}/versions/{v}. */
static void operation_id(const td__route *rt, char *out, size_t cap)
{
    size_t n = 0;
    int upper = 0;
    for (const char *m = rt->method; *m && n + 1 < cap; m++)
        out[n++] = (char)tolower((unsigned char)*m);
    for (const char *p = rt->pattern + strlen("/api/v1"); *p && n + 1 < cap; p++) {
        if (*p == '/' || *p == '{' || *p == '}' || *p == '.' || *p == '-' || *p == '_' ||
            *p == '*') {
            upper = 1;
            continue;
        }
        out[n++] = upper ? (char)toupper((unsigned char)*p) : *p;
        upper = 0;
    }
    out[n] = 0;
}

static json_t *parameters_of(const td__route *rt)
{
    json_t *a = json_array();
    for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        char name[32];
        int rest;
        if (!close)
            break;
        rest = close[-1] == '*';
        snprintf(name, sizeof(name), "%.*s", (int)(close - p - 1 - rest), p + 1);
        int is_int = !strcmp(name, "id") || !strcmp(name, "v") || !strcmp(name, "uid");
        json_array_append_new(a, json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", name, "in", "path",
                                           "required", 1, "schema", "type",
                                           is_int ? "integer" : "string"));
    }
    return a;
}

void td__openapi_path(const char *pattern, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = pattern; *p && n + 1 < cap; p++)
        if (*p != '*')
            out[n++] = *p;
    out[n] = 0;
}

json_t *td__openapi(td_hub *h)
{
    json_t *doc, *paths, *components;
    json_error_t je;
    (void)h;
    components = json_loads(components_json, 0, &je);
    if (!components) {
        TD_ERROR("hub: openapi components: line %d: %s", je.line, je.text);
        components = json_object();
    }
    for (int i = 0; td__openapi_schemas[i]; i++) {
        json_t *extra = json_loads(td__openapi_schemas[i], 0, &je);
        if (!extra) {
            TD_ERROR("hub: openapi schemas %d: line %d: %s", i, je.line, je.text);
            continue;
        }
        json_object_update(json_object_get(components, "schemas"), extra);
        json_decref(extra);
    }
    paths = json_object();
    for (int t = 0; td__route_tables[t]; t++) {
        for (const td__route *rt = td__route_tables[t]; rt->method; rt++) {
            char opid[128], method[16], key[256];
            td__openapi_path(rt->pattern, key, sizeof(key));
            json_t *item = json_object_get(paths, key), *op, *responses;
            if (!item) {
                item = json_object();
                json_object_set_new(paths, key, item);
            }
            operation_id(rt, opid, sizeof(opid));
            responses = json_object();
            op = json_pack("{s:s,s:s,s:o}", "summary", rt->summary, "operationId", opid,
                           "x-allowed", roles_of(rt->allow));
            json_t *params = parameters_of(rt);
            if (json_array_size(params))
                json_object_set_new(op, "parameters", params);
            else
                json_decref(params);
            if (rt->allow & TD__ALLOW_ANON)
                json_object_set_new(op, "security", json_array());
            else
                json_object_set_new(op, "security",
                                    json_pack("[{s:[]},{s:[]}]", "bearer", "cookie"));
            if (rt->body != TD__BODY_NONE || strchr(rt->pattern, '{'))
                json_object_set_new(responses, "400",
                                    error_ref("malformed request (the message says what)"));
            if (!(rt->allow & TD__ALLOW_ANON)) {
                json_object_set_new(responses, "401", error_ref("no, invalid or expired token"));
                json_object_set_new(responses, "403",
                                    error_ref("not allowed for this role or token"));
            }
            if (strchr(rt->pattern, '{'))
                json_object_set_new(responses, "404",
                                    error_ref("no such thing, or not yours to see"));
            if (rt->body != TD__BODY_NONE)
                json_object_set_new(responses, "413", error_ref("the body is over the limit"));
            if (rt->body == TD__BODY_UPLOAD)
                json_object_set_new(op, "requestBody",
                                    json_pack("{s:b,s:{s:{s:{s:s,s:s}}}}", "required", 1, "content",
                                              "application/gzip", "schema", "type", "string",
                                              "format", "binary"));
            if (rt->openapi) {
                json_t *extra = json_loads(rt->openapi, 0, &je);
                if (!extra) {
                    TD_ERROR("hub: openapi of %s %s: %s", rt->method, rt->pattern, je.text);
                } else {
                    json_t *er = json_object_get(extra, "responses");
                    if (er)
                        json_object_update(responses, er);
                    json_object_del(extra, "responses");
                    json_object_update(op, extra);
                    json_decref(extra);
                }
            }
            int has_success = 0;
            const char *code;
            json_t *v;
            json_object_foreach(responses, code, v) if (code[0] == '2' || code[0] == '3')
                has_success = 1;
            if (!has_success)
                json_object_set_new(responses, "200", json_pack("{s:s}", "description", "OK"));
            json_object_set_new(op, "responses", responses);
            size_t i;
            for (i = 0; rt->method[i] && i + 1 < sizeof(method); i++)
                method[i] = (char)tolower((unsigned char)rt->method[i]);
            method[i] = 0;
            json_object_set_new(item, method, op);
        }
    }
    doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:o,s:o}", "openapi", "3.1.0", "info", "title",
                    "trackday hub", "version", "1", "description",
                    "The hub's JSON API: accounts, classes and quotas, the model registry, "
                    "training and evaluation jobs, workers. Errors are {\"error\": {\"code\", "
                    "\"message\"}}.",
                    "servers", "url", "/", "paths", paths, "components", components);
    return doc;
}
