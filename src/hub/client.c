/*
 * client.c - the hub's HTTP client on libcurl (hubclient.h): JSON requests, uploads and
 * downloads of archives, and server-sent event streams. Used by the CLI's hub commands and by
 * the worker.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/tar.h"
#include "trackday/hubclient.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int td_hubc_init(td_hubc *c, const char *url, const char *token, td_err *err)
{
    size_t n;
    memset(c, 0, sizeof(*c));
    pthread_once(&curl_once, curl_start);
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
        return td_err_set(err, TD_EINVAL, "hub address '%s': expected http://HOST:PORT",
                          url ? url : "");
    snprintf(c->url, sizeof(c->url), "%s", url);
    n = strlen(c->url);
    while (n && c->url[n - 1] == '/')
        c->url[--n] = 0;
    if (token)
        snprintf(c->token, sizeof(c->token), "%s", token);
    c->curl = curl_easy_init();
    c->timeout_s = 120;
    if (!c->curl)
        return td_err_set(err, TD_ENOMEM, "cannot start libcurl");
    return 0;
}

static void reset_reply(td_hubc *c)
{
    td_free(c->body);
    c->body = NULL;
    c->body_len = 0;
    if (c->json)
        json_decref(c->json);
    c->json = NULL;
    c->status = 0;
}

void td_hubc_free(td_hubc *c)
{
    reset_reply(c);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    memset(c->token, 0, sizeof(c->token));
    c->curl = NULL;
}

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    td_hubc *c = user;
    size_t k = size * n;
    char *b = td_realloc(c->body, c->body_len + k + 1);
    if (!b)
        return 0;
    memcpy(b + c->body_len, p, k);
    c->body = b;
    c->body_len += k;
    b[c->body_len] = 0;
    return k;
}

static struct curl_slist *headers(td_hubc *c, const char *type)
{
    struct curl_slist *h = NULL;
    char line[400];
    if (c->token[0]) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", c->token);
        h = curl_slist_append(h, line);
    }
    if (c->lease[0]) {
        snprintf(line, sizeof(line), "X-Trackday-Lease: %s", c->lease);
        h = curl_slist_append(h, line);
    }
    if (type) {
        snprintf(line, sizeof(line), "Content-Type: %s", type);
        h = curl_slist_append(h, line);
    }
    /* No "100 Continue" round trip. */
    h = curl_slist_append(h, "Expect:");
    return h;
}

static void setup(td_hubc *c, const char *method, const char *path)
{
    char url[2048];
    CURL *e = c->curl;
    curl_easy_reset(e);
    snprintf(url, sizeof(url), "%s%s", c->url, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    if (c->timeout_s > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "trackday/0.1");
    if (c->stall_s > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)(c->stall_s + 0.999));
    }
}

static int perform(td_hubc *c, struct curl_slist *h, td_err *err)
{
    CURLcode rc;
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(c->curl);
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        return td_err_set(err, TD_EIO, "cannot reach the hub at %s: %s", c->url,
                          curl_easy_strerror(rc));
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
    if (c->body_len)
        c->json = json_loadb(c->body, c->body_len, 0, NULL);
    return 0;
}

int td_hubc_json(td_hubc *c, const char *method, const char *path, const json_t *body, td_err *err)
{
    char *text = NULL;
    int rc;
    reset_reply(c);
    setup(c, method, path);
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10));
        if (!text)
            return td_err_set(err, TD_ENOMEM, "out of memory");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
    } else if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    rc = perform(c, headers(c, body ? "application/json" : NULL), err);
    free(text);
    return rc;
}

static size_t read_file(char *buf, size_t size, size_t n, void *user)
{
    ssize_t k = read(*(int *)user, buf, size * n);
    return k < 0 ? CURL_READFUNC_ABORT : (size_t)k;
}

int td_hubc_upload(td_hubc *c, const char *method, const char *path, const char *file, td_err *err)
{
    struct stat st;
    int fd, rc;
    reset_reply(c);
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        if (fd >= 0)
            close(fd);
        return td_err_set(err, TD_EIO, "%s: %s", file, strerror(errno));
    }
    setup(c, method, path);
    curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, read_file);
    curl_easy_setopt(c->curl, CURLOPT_READDATA, &fd);
    curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    rc = perform(c, headers(c, "application/gzip"), err);
    close(fd);
    return rc;
}

typedef struct {
    int fd;
    long status;
    td_hubc *c;
} download_ctx;

static size_t on_download(char *p, size_t size, size_t n, void *user)
{
    download_ctx *d = user;
    size_t k = size * n;
    if (!d->status)
        curl_easy_getinfo(d->c->curl, CURLINFO_RESPONSE_CODE, &d->status);
    if (d->status != 200)
        return on_body(p, size, n, d->c); /* an error reply: keep it as the body */
    size_t left = k;
    while (left) {
        ssize_t w = write(d->fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        p += w;
        left -= (size_t)w;
    }
    return k;
}

int td_hubc_download(td_hubc *c, const char *path, const char *file, td_err *err)
{
    char tmp[1200];
    download_ctx d = {-1, 0, c};
    CURLcode rc;
    reset_reply(c);
    snprintf(tmp, sizeof(tmp), "%s.part", file);
    d.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (d.fd < 0)
        return td_err_set(err, TD_EIO, "%s: %s", tmp, strerror(errno));
    setup(c, "GET", path);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_download);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &d);
    struct curl_slist *h = headers(c, NULL);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(c->curl);
    curl_slist_free_all(h);
    close(d.fd);
    if (rc != CURLE_OK) {
        unlink(tmp);
        return td_err_set(err, TD_EIO, "cannot download from the hub at %s: %s", c->url,
                          curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
    if (c->status != 200) {
        unlink(tmp);
        if (c->body_len)
            c->json = json_loadb(c->body, c->body_len, 0, NULL);
        return 0;
    }
    if (rename(tmp, file)) {
        unlink(tmp);
        return td_err_set(err, TD_EIO, "%s: %s", file, strerror(errno));
    }
    return 0;
}

/* ---- Server-sent events --------------------------------------------------------------------- */

typedef struct {
    td_hubc *c;
    td_hubc_event_fn fn;
    void *user;
    char *line;
    size_t len, cap;
    char event[64];
    char *data;
    size_t dlen;
    long id;
    int stop;
} sse_ctx;

/* Idle ticks: the caller's callback hears "" every 200 ms, so it can act on a Ctrl-C while
 * the stream is quiet. */
static int sse_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
    sse_ctx *s = user;
    static __thread double last;
    (void)a;
    (void)b;
    (void)c2;
    (void)d;
    double now = td_time_now();
    if (now - last < 0.2)
        return 0;
    last = now;
    if (!s->stop)
        s->stop = s->fn(s->user, "", NULL, 0);
    return s->stop;
}

static void sse_dispatch(sse_ctx *s)
{
    if (s->data && !s->stop)
        s->stop = s->fn(s->user, s->event[0] ? s->event : "message", s->data, s->id);
    td_free(s->data);
    s->data = NULL;
    s->dlen = 0;
    s->event[0] = 0;
}

static void sse_line(sse_ctx *s, char *line)
{
    if (!*line) {
        sse_dispatch(s);
        return;
    }
    if (line[0] == ':')
        return;
    char *colon = strchr(line, ':');
    char *value = colon ? colon + 1 : line + strlen(line);
    if (colon)
        *colon = 0;
    if (*value == ' ')
        value++;
    if (!strcmp(line, "event")) {
        snprintf(s->event, sizeof(s->event), "%s", value);
    } else if (!strcmp(line, "data")) {
        size_t n = strlen(value);
        char *d = td_realloc(s->data, s->dlen + n + 2);
        if (!d)
            return;
        if (s->dlen)
            d[s->dlen++] = '\n';
        memcpy(d + s->dlen, value, n + 1);
        s->data = d;
        s->dlen += n;
    } else if (!strcmp(line, "id")) {
        s->id = strtol(value, NULL, 10);
    }
}

static size_t on_sse(char *p, size_t size, size_t n, void *user)
{
    sse_ctx *s = user;
    size_t k = size * n;
    long status = 0;
    curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return on_body(p, size, n, s->c);
    for (size_t i = 0; i < k; i++) {
        if (p[i] == '\n') {
            if (s->len && s->line[s->len - 1] == '\r')
                s->len--;
            if (s->len + 1 > s->cap || !s->line) {
                char *b = td_realloc(s->line, s->len + 1);
                if (!b)
                    return 0;
                s->line = b;
                s->cap = s->len + 1;
            }
            s->line[s->len] = 0;
            sse_line(s, s->line);
            s->len = 0;
            if (s->stop)
                return 0;
            continue;
        }
        if (s->len + 2 > s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 256;
            char *b = td_realloc(s->line, cap);
            if (!b)
                return 0;
            s->line = b;
            s->cap = cap;
        }
        s->line[s->len++] = p[i];
    }
    return k;
}

int td_hubc_events(td_hubc *c, const char *path, td_hubc_event_fn on_event, void *user, td_err *err)
{
    sse_ctx s;
    CURLcode rc;
    memset(&s, 0, sizeof(s));
    s.c = c;
    s.fn = on_event;
    s.user = user;
    reset_reply(c);
    setup(c, "GET", path);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 0L);
    /* The hub sends a comment every 15 s: 60 s of silence means the connection is gone. */
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_sse);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, sse_progress);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &s);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    struct curl_slist *h = headers(c, NULL);
    h = curl_slist_append(h, "Accept: text/event-stream");
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(c->curl);
    curl_slist_free_all(h);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
    td_free(s.line);
    td_free(s.data);
    if (c->status != 200 && c->body_len)
        c->json = json_loadb(c->body, c->body_len, 0, NULL);
    if (rc != CURLE_OK && !((rc == CURLE_WRITE_ERROR || rc == CURLE_ABORTED_BY_CALLBACK) && s.stop))
        return td_err_set(err, TD_EIO, "event stream from %s: %s", c->url, curl_easy_strerror(rc));
    return 0;
}

const char *td_hubc_error(const td_hubc *c)
{
    static __thread char buf[160];
    json_t *e = c->json ? json_object_get(c->json, "error") : NULL;
    const char *m = e ? json_string_value(json_object_get(e, "message")) : NULL;
    if (m)
        return m;
    snprintf(buf, sizeof(buf), "the hub answered HTTP %ld", c->status);
    return buf;
}

int td_hubc_pack_dir(const char *dir, const char *file, td_err *err)
{
    return td__tgz_write_dir(dir, file, err);
}

int td_hubc_unpack(const char *file, const char *dir, td_err *err)
{
    return td__tar_extract(file, dir, 100000, 64ull << 30, err);
}
