/*
 * hub_scenario.h - runs a protocol scenario file (tests/data/hub/NAME.hub) against a real hub:
 * one request or check a line, variables captured from replies. The format is described in
 * tests/data/hub/README.md.
 */
#ifndef TD_HUB_SCENARIO_H
#define TD_HUB_SCENARIO_H

#include <ctype.h>
#include <strings.h>

#include "hub_harness.h"

#define SC_MAX_VARS 256

typedef struct scenario {
    hub_server *s;
    const char *file;
    int line;
    char names[SC_MAX_VARS][64];
    char *values[SC_MAX_VARS];
    int nvars;
    hub_resp last;
    int have_last;
} scenario;

static void sc_set(scenario *sc, const char *name, const char *value)
{
    for (int i = 0; i < sc->nvars; i++)
        if (!strcmp(sc->names[i], name)) {
            free(sc->values[i]);
            sc->values[i] = strdup(value);
            return;
        }
    if (sc->nvars >= SC_MAX_VARS)
        TD_FAIL("%s:%d: too many variables", sc->file, sc->line);
    snprintf(sc->names[sc->nvars], sizeof(sc->names[0]), "%s", name);
    sc->values[sc->nvars++] = strdup(value);
}

static const char *sc_get(scenario *sc, const char *name)
{
    for (int i = 0; i < sc->nvars; i++)
        if (!strcmp(sc->names[i], name))
            return sc->values[i];
    TD_FAIL("%s:%d: no variable ${%s}", sc->file, sc->line, name);
    return "";
}

/* Substitutes ${VAR} into a new string (free). */
static char *sc_expand(scenario *sc, const char *in)
{
    size_t cap = strlen(in) + 1, len = 0;
    char *out = malloc(cap);
    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p, '}');
            char name[64];
            if (!close)
                TD_FAIL("%s:%d: unclosed ${", sc->file, sc->line);
            snprintf(name, sizeof(name), "%.*s", (int)(close - p - 2), p + 2);
            const char *v = sc_get(sc, name);
            size_t n = strlen(v);
            cap += n;
            out = realloc(out, cap);
            memcpy(out + len, v, n);
            len += n;
            p = close + 1;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = 0;
    return out;
}

/* Follows ".a.b[2].c" from root; NULL if absent. */
static json_t *sc_path(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    if (*p == '.')
        p++;
    while (cur && *p) {
        if (*p == '[') {
            long i = strtol(p + 1, (char **)&p, 10);
            if (*p != ']')
                return NULL;
            p++;
            cur = json_array_get(cur, (size_t)i);
        } else {
            char key[128];
            size_t n = strcspn(p, ".[");
            snprintf(key, sizeof(key), "%.*s", (int)n, p);
            cur = json_object_get(cur, key);
            p += n;
        }
        if (*p == '.')
            p++;
    }
    return cur;
}

static char *sc_value_text(json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* The body of a request line: JSON text, @tgz:NAME, @file:NAME, @bytes:N. */
static void sc_body(scenario *sc, const char *spec, char **body, size_t *len, const char **type)
{
    char out[512];
    *type = NULL;
    if (!strncmp(spec, "@tgz:", 5)) {
        char dir[1200], path[1300];
        const char *name = spec + 5;
        char var[80];
        snprintf(var, sizeof(var), "%s.dir", name);
        int known = 0;
        for (int i = 0; i < sc->nvars; i++)
            if (!strcmp(sc->names[i], var))
                known = 1;
        if (known)
            snprintf(dir, sizeof(dir), "%s", sc_get(sc, var));
        else
            snprintf(dir, sizeof(dir), "%s/%s", sc->s->dir, name);
        if (!td_path_exists(dir))
            snprintf(dir, sizeof(dir), "%s/tests/data/hub/%s", TD_TEST_SOURCE_DIR, name);
        snprintf(path, sizeof(path), "%s/body.tgz", sc->s->dir);
        if (hub_sh(out, sizeof(out), "tar czf %s -C %s . 2>&1", path, dir))
            TD_FAIL("%s:%d: tar: %s", sc->file, sc->line, out);
        char *data = NULL;
        size_t n = 0;
        if (td_file_read(path, &data, &n, NULL))
            TD_FAIL("%s:%d: cannot read %s", sc->file, sc->line, path);
        *body = malloc(n + 1);
        memcpy(*body, data, n);
        *len = n;
        td_free(data);
        *type = "application/gzip";
    } else if (!strncmp(spec, "@file:", 6)) {
        char path[1200];
        char *data = NULL;
        size_t n = 0;
        /* A file the scenario made in its scratch directory, else one of this folder. */
        snprintf(path, sizeof(path), "%s/%s", sc->s->dir, spec + 6);
        if (!td_path_exists(path))
            snprintf(path, sizeof(path), "%s/tests/data/hub/%s", TD_TEST_SOURCE_DIR, spec + 6);
        if (td_file_read(path, &data, &n, NULL))
            TD_FAIL("%s:%d: cannot read %s", sc->file, sc->line, path);
        *body = malloc(n + 1);
        memcpy(*body, data, n);
        (*body)[n] = 0;
        *len = n;
        td_free(data);
        *type = strstr(spec, ".csv")    ? "text/csv"
                : strstr(spec, ".json") ? "application/json"
                                        : "application/octet-stream";
    } else if (!strncmp(spec, "@bytes:", 7)) {
        size_t n = (size_t)strtoull(spec + 7, NULL, 10);
        *body = malloc(n + 1);
        memset(*body, 'x', n);
        *len = n;
        *type = "application/octet-stream";
    } else {
        *body = strdup(spec);
        *len = strlen(spec);
        *type = "application/json";
    }
}

/* "GET /path [as WHO] [BODY] -> STATUS [CODE]" */
static void sc_request(scenario *sc, char *line)
{
    char *arrow = strstr(line, " -> ");
    char method[16], path[1024], who[64] = "";
    const char *token = NULL, *type = NULL;
    char *body = NULL, *rest;
    size_t len = 0;
    long want;
    char code[64] = "";
    if (!arrow)
        TD_FAIL("%s:%d: a request line needs ' -> STATUS'", sc->file, sc->line);
    *arrow = 0;
    if (sscanf(arrow + 4, "%ld %63s", &want, code) < 1)
        TD_FAIL("%s:%d: no status after '->'", sc->file, sc->line);
    if (sscanf(line, "%15s %1023s", method, path) != 2)
        TD_FAIL("%s:%d: expected 'METHOD PATH'", sc->file, sc->line);
    rest = line + strlen(method) + 1 + strlen(path);
    while (*rest == ' ')
        rest++;
    if (!strncmp(rest, "as ", 3)) {
        sscanf(rest + 3, "%63s", who);
        rest += 3 + strlen(who);
        while (*rest == ' ')
            rest++;
        if (strcmp(who, "none"))
            token = sc_get(sc, who);
    }
    /* "+Name:value" request headers. */
    char extra[512] = "";
    while (*rest == '+') {
        char h[400];
        sscanf(rest + 1, "%399s", h);
        rest += 1 + strlen(h);
        while (*rest == ' ')
            rest++;
        char *colon = strchr(h, ':');
        if (!colon)
            TD_FAIL("%s:%d: a header is +Name:value", sc->file, sc->line);
        *colon = 0;
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "%s%s: %s",
                 extra[0] ? "\r\n" : "", h, colon + 1);
    }
    size_t rl = strlen(rest);
    while (rl && rest[rl - 1] == ' ')
        rest[--rl] = 0;
    if (*rest)
        sc_body(sc, rest, &body, &len, &type);
    if (sc->have_last)
        hub_resp_free(&sc->last);
    hub_req_h(sc->s, &sc->last, method, path, token, type, body, len, extra[0] ? extra : NULL);
    sc->have_last = 1;
    free(body);
    if (sc->last.status != want)
        TD_FAIL("%s:%d: %s %s: status %ld, expected %ld: %.600s", sc->file, sc->line, method, path,
                sc->last.status, want, sc->last.body);
    if (code[0] && strcmp(hub_err_code(&sc->last), code))
        TD_FAIL("%s:%d: %s %s: error code '%s', expected '%s': %.600s", sc->file, sc->line, method,
                path, hub_err_code(&sc->last), code, sc->last.body);
    if (want >= 400 && (!sc->last.json || !hub_err_msg(&sc->last)[0]) && strcmp(method, "HEAD"))
        TD_FAIL("%s:%d: an error reply without {\"error\": {\"code\", \"message\"}}: %.300s",
                sc->file, sc->line, sc->last.body);
}

/* "expect .path OP VALUE" */
static void sc_expect(scenario *sc, char *args)
{
    char path[256], op[16];
    int n = 0;
    json_t *v;
    if (!sc->have_last)
        TD_FAIL("%s:%d: expect before any request", sc->file, sc->line);
    if (sscanf(args, "%255s %15s %n", path, op, &n) < 2)
        TD_FAIL("%s:%d: expect .PATH OP VALUE", sc->file, sc->line);
    const char *value = args + n;
    v = sc_path(sc->last.json, path);
    if (!strcmp(op, "exists")) {
        if (!v)
            TD_FAIL("%s:%d: %s is absent in %.600s", sc->file, sc->line, path, sc->last.body);
        return;
    }
    if (!strcmp(op, "absent")) {
        if (v)
            TD_FAIL("%s:%d: %s is present in %.600s", sc->file, sc->line, path, sc->last.body);
        return;
    }
    if (!v)
        TD_FAIL("%s:%d: %s is absent in %.600s", sc->file, sc->line, path, sc->last.body);
    if (!strcmp(op, "count")) {
        long want = strtol(value, NULL, 10);
        if (!json_is_array(v) || (long)json_array_size(v) != want)
            TD_FAIL("%s:%d: %s has %ld items, expected %ld: %.600s", sc->file, sc->line, path,
                    json_is_array(v) ? (long)json_array_size(v) : -1L, want, sc->last.body);
        return;
    }
    if (!strcmp(op, "contains")) {
        char *text = sc_value_text(v);
        int ok = strstr(text, value) != NULL;
        if (!ok)
            TD_FAIL("%s:%d: %s = '%s' does not contain '%s'", sc->file, sc->line, path, text,
                    value);
        free(text);
        return;
    }
    json_t *want = json_loads(value, JSON_DECODE_ANY, NULL);
    if (!want)
        TD_FAIL("%s:%d: '%s' is not JSON", sc->file, sc->line, value);
    int eq = json_equal(v, want);
    if (json_is_number(v) && json_is_number(want))
        eq = json_number_value(v) == json_number_value(want);
    if (!strcmp(op, ">=") || !strcmp(op, "<=")) {
        double a = json_number_value(v), b = json_number_value(want);
        eq = !strcmp(op, ">=") ? a >= b : a <= b;
        if (!json_is_number(v) || !eq)
            TD_FAIL("%s:%d: %s = %g, expected %s %g", sc->file, sc->line, path, a, op, b);
    } else if (!strcmp(op, "==") ? !eq : !strcmp(op, "!=") ? eq : 1) {
        char *text = sc_value_text(v);
        TD_FAIL("%s:%d: %s = %s, expected %s %s", sc->file, sc->line, path, text, op, value);
    }
    json_decref(want);
}

static void sc_header(scenario *sc, char *args)
{
    char name[128], op[16];
    int n = 0;
    if (sscanf(args, "%127s %15s %n", name, op, &n) < 2)
        TD_FAIL("%s:%d: header NAME contains|absent [TEXT]", sc->file, sc->line);
    const char *text = args + n;
    char needle[200];
    snprintf(needle, sizeof(needle), "\n%s:", name);
    char *h = NULL;
    for (char *p = sc->last.headers; *p && !h; p++)
        if (!strncasecmp(p, needle, strlen(needle)))
            h = p;
    if (!strcmp(op, "absent")) {
        if (h)
            TD_FAIL("%s:%d: header %s is present", sc->file, sc->line, name);
        return;
    }
    if (!h)
        TD_FAIL("%s:%d: no header %s in %s", sc->file, sc->line, name, sc->last.headers);
    char *eol = strchr(h + 1, '\n');
    char value[1024];
    snprintf(value, sizeof(value), "%.*s", eol ? (int)(eol - h) : (int)strlen(h), h + 1);
    if (!strstr(value, text))
        TD_FAIL("%s:%d: header '%s' does not contain '%s'", sc->file, sc->line, value, text);
}

static void sc_run_line(scenario *sc, char *line)
{
    char word[32];
    int n = 0;
    char out[2048];
    if (sscanf(line, "%31s %n", word, &n) < 1)
        return;
    char *args = line + n;
    if (!strcmp(word, "user")) {
        char name[64], role[32], token[200], var[80], idbuf[32];
        if (sscanf(args, "%63s %31s", name, role) != 2)
            TD_FAIL("%s:%d: user NAME ROLE", sc->file, sc->line);
        long long id = hub_user(sc->s, name, role, token, sizeof(token));
        sc_set(sc, name, token);
        snprintf(var, sizeof(var), "%s.id", name);
        snprintf(idbuf, sizeof(idbuf), "%lld", id);
        sc_set(sc, var, idbuf);
    } else if (!strcmp(word, "worker")) {
        char name[64], body[200], var[80], idbuf[32];
        hub_resp r;
        if (sscanf(args, "%63s", name) != 1)
            TD_FAIL("%s:%d: worker NAME", sc->file, sc->line);
        snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
        if (hub_json(sc->s, &r, "POST", "/api/v1/workers", sc->s->admin, body) != 201)
            TD_FAIL("%s:%d: worker: %ld %s", sc->file, sc->line, r.status, r.body);
        sc_set(sc, name, json_string_value(json_object_get(r.json, "token")));
        snprintf(var, sizeof(var), "%s.id", name);
        snprintf(idbuf, sizeof(idbuf), "%lld",
                 (long long)json_integer_value(json_object_get(r.json, "id")));
        sc_set(sc, var, idbuf);
        hub_resp_free(&r);
    } else if (!strcmp(word, "init")) {
        char name[64], dir[1200], var[80];
        if (sscanf(args, "%63s", name) != 1)
            TD_FAIL("%s:%d: init NAME", sc->file, sc->line);
        snprintf(dir, sizeof(dir), "%s/%s", sc->s->dir, name);
        if (hub_sh(out, sizeof(out),
                   "%s init %s --discrete --fast-actions --track default --sensor state 2>&1",
                   TD_TEST_TRACKDAY_BIN, dir))
            TD_FAIL("%s:%d: init: %s", sc->file, sc->line, out);
        snprintf(var, sizeof(var), "%s.dir", name);
        sc_set(sc, var, dir);
    } else if (!strcmp(word, "sh")) {
        char *cmd = sc_expand(sc, args);
        char full[4096];
        snprintf(full, sizeof(full), "cd %s && TD=%s && %s 2>&1", sc->s->dir, TD_TEST_TRACKDAY_BIN,
                 cmd);
        if (hub_sh(out, sizeof(out), "%s", full))
            TD_FAIL("%s:%d: sh %s: %s", sc->file, sc->line, cmd, out);
        free(cmd);
    } else if (!strcmp(word, "clock")) {
        if (!sc->s->clock[0])
            TD_FAIL("%s:%d: this scenario's hub has no test clock", sc->file, sc->line);
        if (args[0] == '+')
            hub_set_clock(sc->s, hub_get_clock(sc->s) + strtoll(args + 1, NULL, 10));
        else
            hub_set_clock(sc->s, strtoll(args, NULL, 10));
    } else if (!strcmp(word, "set")) {
        char name[64];
        int k = 0;
        if (sscanf(args, "%63s %n", name, &k) < 1)
            TD_FAIL("%s:%d: set NAME VALUE", sc->file, sc->line);
        sc_set(sc, name, args + k);
    } else if (!strcmp(word, "save")) {
        char name[64], path[256];
        if (sscanf(args, "%63s %255s", name, path) != 2)
            TD_FAIL("%s:%d: save NAME .PATH", sc->file, sc->line);
        json_t *v = sc->have_last ? sc_path(sc->last.json, path) : NULL;
        if (!v)
            TD_FAIL("%s:%d: %s is absent in %.400s", sc->file, sc->line, path,
                    sc->have_last ? sc->last.body : "");
        char *text = sc_value_text(v);
        sc_set(sc, name, text);
        free(text);
    } else if (!strcmp(word, "expect")) {
        sc_expect(sc, args);
    } else if (!strcmp(word, "header")) {
        sc_header(sc, args);
    } else if (!strcmp(word, "repeat")) {
        int times = 0, k = 0;
        if (sscanf(args, "%d %n", &times, &k) < 1)
            TD_FAIL("%s:%d: repeat N REQUEST", sc->file, sc->line);
        for (int i = 0; i < times; i++) {
            char *copy = strdup(args + k);
            sc_request(sc, copy);
            free(copy);
        }
    } else {
        sc_request(sc, line);
    }
}

/* Runs tests/data/hub/NAME against a fresh hub (with a test clock when the file's first
 * line is "# clock"). */
static void hub_scenario(const char *name)
{
    char path[1024], *text = NULL;
    size_t len;
    hub_server s;
    scenario sc;
    snprintf(path, sizeof(path), "%s/tests/data/hub/%s", TD_TEST_SOURCE_DIR, name);
    if (td_file_read(path, &text, &len, NULL))
        TD_FAIL("cannot read %s", path);
    hub_start_opts(&s, !strncmp(text, "# clock", 7), NULL);
    memset(&sc, 0, sizeof(sc));
    sc.s = &s;
    sc.file = name;
    sc_set(&sc, "admin", s.admin);
    sc_set(&sc, "admin.id", "1");
    char *save = NULL;
    int lineno = 0;
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        sc.line = lineno;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != '#') {
            char *expanded = sc_expand(&sc, p);
            sc_run_line(&sc, expanded);
            free(expanded);
        }
        p = nl ? nl + 1 : NULL;
    }
    (void)save;
    if (sc.have_last)
        hub_resp_free(&sc.last);
    for (int i = 0; i < sc.nvars; i++)
        free(sc.values[i]);
    td_free(text);
    hub_stop(&s);
}

#endif
