/*
 * hub_harness.h - what the hub's tests share: a real `trackday serve` started on a free
 * loopback port in a fresh data directory (its URL read from its first line of output, so
 * nothing waits by sleeping), HTTP requests through libcurl, and the runner of the protocol
 * scenarios in tests/data/hub/NAME.hub (the format is described in tests/data/hub/README.md).
 */
#ifndef TD_HUB_HARNESS_H
#define TD_HUB_HARNESS_H

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pg_harness.h"
#include "td_test.h"

/* Each test file uses some of these helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

#ifndef TD_TEST_TRACKDAY_BIN
#define TD_TEST_TRACKDAY_BIN "trackday"
#endif

#define HUB_ADMIN_PASSWORD "admin-password-1"

typedef struct hub_server {
    char dir[512];  /* the test's scratch directory (data in dir/data) */
    char data[600]; /* the hub's data directory */
    char url[128];
    char clock[600]; /* clock file ("" when the real clock runs) */
    pid_t pid;
    char admin[160]; /* the admin's session token */
    char args[512];  /* extra serve arguments of the last start */
    char db[600];    /* the PostgreSQL database's URL ("": SQLite, data/hub.db) */
} hub_server;

typedef struct hub_resp {
    long status;
    char *body;
    size_t len;
    json_t *json;
    char headers[8192];
} hub_resp;

/* ---- The database ------------------------------------------------------------------------- */

/* Why this binary's PostgreSQL cluster did not start ("" when it did or is not wanted). */
static char hub__pg_failed[1024];

/* A binary run on PostgreSQL (TD_TEST_HUB_DB=postgres) starts its cluster before the test
 * cases fork, so they share it; a case asking for it fails with the reason if it did not start. */
__attribute__((constructor)) static void hub__pg_init(void)
{
    if (pg_wanted() && pg_cluster_start(hub__pg_failed, sizeof(hub__pg_failed)) &&
        !hub__pg_failed[0])
        snprintf(hub__pg_failed, sizeof(hub__pg_failed), "the cluster did not start");
}

/* A fresh database for one hub or storage test: a new PostgreSQL database's URL when this
 * binary runs on PostgreSQL, else the SQLite file dir/name. */
static void hub_fresh_db(const char *dir, const char *name, char *out, size_t cap)
{
    char why[1024];
    if (!pg_wanted()) {
        snprintf(out, cap, "%s/%s", dir, name);
        return;
    }
    if (hub__pg_failed[0])
        TD_FAIL("PostgreSQL: %s", hub__pg_failed);
    if (pg_new_database(out, cap, why, sizeof(why)))
        TD_FAIL("PostgreSQL: %s", why);
}

/* The database a hub uses, for td__db_open beside the server. */
static void hub_db_target(const struct hub_server *s, char *out, size_t cap)
{
    if (s->db[0])
        snprintf(out, cap, "%s", s->db);
    else
        snprintf(out, cap, "%s/hub.db", s->data);
}

/* " --db URL" for a command line when the hub runs on PostgreSQL, else "". */
static const char *hub_db_arg(const struct hub_server *s)
{
    static char arg[700];
    if (!s->db[0])
        return "";
    snprintf(arg, sizeof(arg), " --db %s", s->db);
    return arg;
}

/* ---- Processes ------------------------------------------------------------------------------ */

/* Runs a shell command, returns its exit status; its output (stdout+stderr) goes into out. */
static int hub_sh(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int hub_sh(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    FILE *p;
    size_t n = 0;
    int st;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    if (!p)
        TD_FAIL("popen %s", cmd);
    if (out && cap) {
        n = fread(out, 1, cap - 1, p);
        out[n] = 0;
    } else {
        char buf[4096];
        while (fread(buf, 1, sizeof(buf), p) > 0)
            ;
    }
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void hub_tmpdir(char *out, size_t cap)
{
    snprintf(out, cap, "%s/hubtest-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(out))
        TD_FAIL("mkdtemp: %s", strerror(errno));
}

/* Starts `trackday serve` on port 0 with the data directory s->data (kept between starts) and
 * waits for its "listening on URL" line. */
static void hub_launch(hub_server *s, const char *extra)
{
    int pfd[2];
    char line[512];
    FILE *f;
    if (pipe(pfd))
        TD_FAIL("pipe");
    snprintf(s->args, sizeof(s->args), "%s", extra ? extra : "");
    s->pid = fork();
    if (s->pid == 0) {
        char cmd[4096];
        /* A test that fails exits at once: its server stops with it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        snprintf(cmd, sizeof(cmd),
                 "exec %s serve --data %s%s --listen 127.0.0.1:0 --insecure-fast-passwords "
                 "--grace 5 %s%s %s 2>>%s/serve.log",
                 TD_TEST_TRACKDAY_BIN, s->data, hub_db_arg(s), s->clock[0] ? "--clock-file " : "",
                 s->clock, s->args, s->dir);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    f = fdopen(pfd[0], "r");
    if (!f || !fgets(line, sizeof(line), f)) {
        char log[4096] = "";
        hub_sh(log, sizeof(log), "cat %s/serve.log", s->dir);
        TD_FAIL("trackday serve did not start: %s", log);
    }
    fclose(f);
    const char *u = strstr(line, "http://");
    TD_ASSERT_MSG(u != NULL, "serve printed '%s'", line);
    snprintf(s->url, sizeof(s->url), "%.*s", (int)strcspn(u, " \n"), u);
}

static void hub_req(hub_server *s, hub_resp *out, const char *method, const char *path,
                    const char *token, const char *type, const void *body, size_t len);

/* Logs in and returns the token in out (cap bytes). */
static void hub_login(hub_server *s, const char *user, const char *password, char *out, size_t cap)
{
    hub_resp r;
    char body[512];
    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
    hub_req(s, &r, "POST", "/api/v1/sessions", NULL, "application/json", body, strlen(body));
    TD_ASSERT_MSG(r.status == 201, "login %s: %ld %s", user, r.status, r.body);
    snprintf(out, cap, "%s", json_string_value(json_object_get(r.json, "token")));
    json_decref(r.json);
    free(r.body);
}

/* A fresh hub with an admin account "admin" (password HUB_ADMIN_PASSWORD), logged in. */
static void hub_start_opts(hub_server *s, int with_clock, const char *extra)
{
    char out[2048];
    memset(s, 0, sizeof(*s));
    hub_tmpdir(s->dir, sizeof(s->dir));
    snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
    if (pg_wanted()) {
        /* Commands the test runs itself (trackday admin ...) find the database too. */
        hub_fresh_db(s->dir, "", s->db, sizeof(s->db));
        setenv("TRACKDAY_HUB_DB", s->db, 1);
    }
    if (with_clock) {
        snprintf(s->clock, sizeof(s->clock), "%s/clock", s->dir);
        FILE *f = fopen(s->clock, "w");
        fprintf(f, "1796000000\n"); /* 2026-11-30T..., a fixed start */
        fclose(f);
    }
    int rc = hub_sh(out, sizeof(out),
                    "echo %s | %s admin create-user --data %s%s --name admin --role admin "
                    "--insecure-fast-passwords 2>&1",
                    HUB_ADMIN_PASSWORD, TD_TEST_TRACKDAY_BIN, s->data, hub_db_arg(s));
    TD_ASSERT_MSG(rc == 0, "admin create-user: %s", out);
    hub_launch(s, extra);
    hub_login(s, "admin", HUB_ADMIN_PASSWORD, s->admin, sizeof(s->admin));
}

static void hub_start(hub_server *s)
{
    hub_start_opts(s, 0, NULL);
}

/* SIGTERM and wait: the hub must stop by itself with status 0. */
static void hub_stop_keep(hub_server *s)
{
    int st = 0;
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        char log[8192] = "";
        hub_sh(log, sizeof(log), "tail -c 6000 %s/serve.log", s->dir);
        TD_FAIL("serve ended with status %d; its log ends:\n%s", st, log);
    }
}

static void hub_kill(hub_server *s)
{
    int st;
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
}

static void hub_stop(hub_server *s)
{
    char out[256];
    hub_stop_keep(s);
    if (!getenv("HUB_KEEP"))
        hub_sh(out, sizeof(out), "rm -rf %s", s->dir);
}

static void hub_set_clock(hub_server *s, long long t)
{
    char p[700];
    FILE *f;
    snprintf(p, sizeof(p), "%s.tmp", s->clock);
    f = fopen(p, "w");
    fprintf(f, "%lld\n", t);
    fclose(f);
    rename(p, s->clock);
}

static long long hub_get_clock(hub_server *s)
{
    long long t = 0;
    FILE *f = fopen(s->clock, "r");
    if (f) {
        if (fscanf(f, "%lld", &t) != 1)
            t = 0;
        fclose(f);
    }
    return t;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len;
} hub_buf;

static size_t hub_write_cb(char *p, size_t size, size_t n, void *user)
{
    hub_buf *b = user;
    size_t k = size * n;
    char *d = realloc(b->data, b->len + k + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, p, k);
    b->data = d;
    b->len += k;
    d[b->len] = 0;
    return k;
}

static size_t hub_header_cb(char *p, size_t size, size_t n, void *user)
{
    char *h = user;
    size_t k = size * n, len = strlen(h);
    if (len + k + 1 < 8192) {
        memcpy(h + len, p, k);
        h[len + k] = 0;
    }
    return k;
}

/* One request; a token NULL or "" sends none. The reply's JSON (if any) is parsed. */
static void hub_req_h(hub_server *s, hub_resp *out, const char *method, const char *path,
                      const char *token, const char *type, const void *body, size_t len,
                      const char *extra_header)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char url[2048], auth[300], ct[200];
    hub_buf b = {NULL, 0};
    CURLcode rc;
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (token && *token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth);
    }
    if (type) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", type);
        hdr = curl_slist_append(hdr, ct);
    }
    if (extra_header) {
        /* Several headers are separated by CRLF. */
        char *copy = strdup(extra_header), *p = copy, *crlf;
        while ((crlf = strstr(p, "\r\n"))) {
            *crlf = 0;
            hdr = curl_slist_append(hdr, p);
            p = crlf + 2;
        }
        hdr = curl_slist_append(hdr, p);
        free(copy);
    }
    /* No "100 Continue" round trip, unless the test asks for it (a body the hub refuses by
     * its announced size is then never sent, as curl does for large bodies). */
    if (!extra_header || !strstr(extra_header, "Expect:"))
        hdr = curl_slist_append(hdr, "Expect:");
    else /* wait for the answer: curl sends the body anyway after 1 s, slow on a busy machine */
        curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hub_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hub_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    else
        out->status = -(long)rc;
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    out->body = b.data ? b.data : calloc(1, 1);
    out->len = b.len;
    if (b.len)
        out->json = json_loadb(b.data, b.len, 0, NULL);
}

static void hub_req(hub_server *s, hub_resp *out, const char *method, const char *path,
                    const char *token, const char *type, const void *body, size_t len)
{
    hub_req_h(s, out, method, path, token, type, body, len, NULL);
}

static void hub_resp_free(hub_resp *r)
{
    if (r->json)
        json_decref(r->json);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* GET/POST/... with a JSON body (or NULL), returning the status; the reply stays in out. */
static long hub_json(hub_server *s, hub_resp *out, const char *method, const char *path,
                     const char *token, const char *json_body)
{
    hub_req(s, out, method, path, token, json_body ? "application/json" : NULL, json_body,
            json_body ? strlen(json_body) : 0);
    return out->status;
}

/* The error code of an error reply ("" if none). */
static const char *hub_err_code(const hub_resp *r)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    const char *c = e ? json_string_value(json_object_get(e, "code")) : NULL;
    return c ? c : "";
}

static const char *hub_err_msg(const hub_resp *r)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    const char *c = e ? json_string_value(json_object_get(e, "message")) : NULL;
    return c ? c : "";
}

/* Creates a user through the API as the admin and logs them in. */
static long long hub_user(hub_server *s, const char *name, const char *role, char *token,
                          size_t cap)
{
    hub_resp r;
    char body[512], pw[128];
    long long id;
    snprintf(pw, sizeof(pw), "%s-password-1", name);
    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"}", name,
             pw, role);
    hub_json(s, &r, "POST", "/api/v1/users", s->admin, body);
    TD_ASSERT_MSG(r.status == 201, "create user %s: %ld %s", name, r.status, r.body);
    id = json_integer_value(json_object_get(r.json, "id"));
    hub_resp_free(&r);
    if (token)
        hub_login(s, name, pw, token, cap);
    return id;
}

/* ---- Workers and event streams -------------------------------------------------------------- */

/* Registers a worker (token into tok) and starts `trackday worker` for it; its output goes to
 * dir/worker-NAME.log. */
static pid_t hub_worker(hub_server *s, const char *name, char *tok, size_t cap, const char *extra)
{
    hub_resp r;
    char body[128];
    pid_t pid;
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    if (tok[0] == 0) {
        hub_json(s, &r, "POST", "/api/v1/workers", s->admin, body);
        TD_ASSERT_MSG(r.status == 201, "worker %s: %ld %s", name, r.status, r.body);
        snprintf(tok, cap, "%s", json_string_value(json_object_get(r.json, "token")));
        hub_resp_free(&r);
    }
    pid = fork();
    if (pid == 0) {
        char cmd[2048];
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        snprintf(cmd, sizeof(cmd),
                 "exec %s worker --hub %s --token %s --work %s/work-%s --wait 1 %s "
                 ">%s/worker-%s.log 2>&1",
                 TD_TEST_TRACKDAY_BIN, s->url, tok, s->dir, name, extra ? extra : "", s->dir, name);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Stops a worker: SIGTERM (graceful) and waits; returns its exit status. */
static int hub_worker_stop(pid_t pid, int sig)
{
    int st = 0;
    kill(pid, sig);
    waitpid(pid, &st, 0);
    return st;
}

typedef struct {
    const char *want_event, *want_text;
    char *all; /* every event as "event data\n" */
    size_t len;
    char line[65536];
    size_t ll;
    char event[64];
    int found;
} hub_sse;

static size_t hub_sse_cb(char *p, size_t size, size_t n, void *user)
{
    hub_sse *e = user;
    size_t k = size * n;
    for (size_t i = 0; i < k; i++) {
        if (p[i] != '\n') {
            if (e->ll < sizeof(e->line) - 1)
                e->line[e->ll++] = p[i];
            continue;
        }
        e->line[e->ll] = 0;
        if (!strncmp(e->line, "event: ", 7)) {
            snprintf(e->event, sizeof(e->event), "%s", e->line + 7);
        } else if (!strncmp(e->line, "data: ", 6)) {
            size_t add = strlen(e->event) + strlen(e->line) + 3;
            e->all = realloc(e->all, e->len + add + 1);
            e->len += (size_t)snprintf(e->all + e->len, add + 1, "%s %s\n", e->event, e->line + 6);
            if (!strcmp(e->event, e->want_event) &&
                (!e->want_text || strstr(e->line + 6, e->want_text)))
                e->found = 1;
        }
        e->ll = 0;
        if (e->found)
            return 0; /* stop the transfer */
    }
    return k;
}

/*
 * Follows job id's event stream until an event of type `event` whose data contains `text`
 * (NULL: any) arrives, or timeout_s passes (a test failure). Returns every event received, as
 * "type data" lines (free).
 */
static char *hub_wait_event(hub_server *s, const char *token, long long id, const char *event,
                            const char *text, long timeout_s)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512], auth[300];
    hub_sse e;
    memset(&e, 0, sizeof(e));
    e.want_event = event;
    e.want_text = text;
    e.all = calloc(1, 1);
    snprintf(url, sizeof(url), "%s/api/v1/jobs/%lld/events", s->url, id);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    h = curl_slist_append(h, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hub_sse_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &e);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!e.found) {
        char logs[4096] = "";
        hub_sh(logs, sizeof(logs), "tail -n 5 %s/worker-*.log %s/serve.log 2>&1", s->dir, s->dir);
        TD_FAIL("no '%s' event containing '%s' for job %lld within %ld s; events: %s\nlogs: %s",
                event, text ? text : "", id, timeout_s, e.all, logs);
    }
    return e.all;
}

/* Pushes the model directory s->dir/NAME as model NAME of the token's user; returns its id. */
static long long hub_push_dir(hub_server *s, const char *token, const char *name)
{
    char out[2048], path[1024];
    hub_resp r;
    char *data = NULL;
    size_t len = 0;
    int rc = hub_sh(out, sizeof(out), "cd %s && tar czf %s.tgz -C %s .", s->dir, name, name);
    TD_ASSERT_MSG(rc == 0, "tar: %s", out);
    snprintf(path, sizeof(path), "%s/%s.tgz", s->dir, name);
    TD_ASSERT_OK(td_file_read(path, &data, &len, NULL));
    snprintf(path, sizeof(path), "/api/v1/models?name=%s", name);
    hub_req(s, &r, "POST", path, token, "application/gzip", data, len);
    td_free(data);
    TD_ASSERT_MSG(r.status == 201, "push: %ld %s", r.status, r.body);
    long long id = json_integer_value(json_object_get(r.json, "id"));
    hub_resp_free(&r);
    return id;
}

/* Pushes a `trackday init` directory as model NAME of the token's user; returns its id. */
static long long hub_push_init(hub_server *s, const char *token, const char *name,
                               const char *reward_py)
{
    char out[2048];
    int rc = hub_sh(out, sizeof(out),
                    "cd %s && %s init %s --discrete --fast-actions --track default --sensor state "
                    ">/dev/null 2>&1",
                    s->dir, TD_TEST_TRACKDAY_BIN, name);
    TD_ASSERT_MSG(rc == 0, "init: %s", out);
    if (reward_py) {
        char p[800];
        snprintf(p, sizeof(p), "%s/%s/reward_function.py", s->dir, name);
        FILE *f = fopen(p, "w");
        fputs(reward_py, f);
        fclose(f);
    }
    return hub_push_dir(s, token, name);
}

static long long hub_submit(hub_server *s, const char *token, const char *json_body)
{
    hub_resp r;
    hub_json(s, &r, "POST", "/api/v1/jobs", token, json_body);
    TD_ASSERT_MSG(r.status == 201, "submit %s: %ld %s", json_body, r.status, r.body);
    long long id = json_integer_value(json_object_get(r.json, "id"));
    hub_resp_free(&r);
    return id;
}

#endif
