/*
 * fuzz_hub_http.c - the hub's HTTP API as a client on the network reaches it: an in-process
 * hub (td_hub_open, td_hub_listen on a free loopback port, SQLite in a scratch directory)
 * and one request per input over a real connection, so libmicrohttpd's parsing, the routing,
 * authentication and authorization, the JSON bodies, uploads and every handler run as they do
 * behind `trackday serve`.
 *
 * Input: "AS\n" (admin, instructor, learner, worker or anyone: whose bearer token the
 * request carries), "METHOD TARGET\n", header lines, an empty line, then the body; the
 * target adds Host, Content-Length and Connection: close. The seeds are the requests of
 * docs/api.md. The hub's state (users, classes, models, jobs) grows over a run, as a real
 * hub's does.
 *
 * Checks: every request gets a complete HTTP reply; none is a 5xx other than 503 (busy):
 * hostile input earns a 4xx with a message; an API error is {"error": {"code", "message"}};
 * no reply is "{}" (what the hub sends when building its JSON failed); the hub still answers
 * /api/v1/health afterwards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "trackday/hub.h"
#include "trackday/json.h"

#define REPLY_MAX   (1 << 20)
#define STREAMS_MAX 32
/* Past libFuzzer's -timeout: a reply that never comes is its timeout finding. */
#define TIMEOUT_MS 60000

static td_hub *hub;
static int port;
static char tokens[4][160]; /* admin, instructor, learner, worker */
static char *reply;

/* The last requests, printed with a reply that never came. */
#define HISTORY 12
static char history[HISTORY][300];
static int history_n;

typedef struct http_reply {
    int status;
    const char *body;
    size_t body_len;
    int complete;
} http_reply;

static int connect_hub(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, sizeof(a));
    if (rc != 0 && fd >= 0 && errno == EINTR) {
        /* Interrupted by libFuzzer's SIGALRM watchdog: the connection goes on; wait for it
         * and read its outcome. */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int pr;
        do
            pr = poll(&p, 1, TIMEOUT_MS);
        while (pr < 0 && errno == EINTR);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (pr == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
            rc = 0;
        else
            errno = pr == 1 ? soerr : ETIMEDOUT;
    }
    if (rc != 0) {
        perror("fuzz_hub_http: connect");
        abort();
    }
    return fd;
}

static int send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue; /* libFuzzer's SIGALRM (its -timeout watchdog) */
        if (w <= 0)
            return -1; /* the hub may close early (a body it refused): not a finding */
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads a reply: the headers, then Content-Length bytes, or up to EOF; an event stream's
 * headers are enough (it stays open), and a reply to HEAD, a 204 and a 304 have no body. */
static void read_reply(int fd, int head, http_reply *r)
{
    size_t len = 0, need = (size_t)-1;
    const char *hdr_end = NULL;
    memset(r, 0, sizeof(*r));
    for (;;) {
        if (hdr_end && len >= need)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, TIMEOUT_MS);
        /* libFuzzer's watchdog raises SIGALRM every second: an interrupted wait is not a
         * hub that does not answer (this was the "stall" of earlier runs). */
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            fprintf(stderr, "fuzz_hub_http: no complete reply within %d ms (%zu bytes)\n",
                    TIMEOUT_MS, len);
            for (int k = 0; k < HISTORY; k++) {
                const char *h = history[(history_n + k) % HISTORY];
                if (h[0])
                    fprintf(stderr, "  earlier: %s\n", h);
            }
            TD_FUZZ_CHECK(0);
        }
        ssize_t n = recv(fd, reply + len, REPLY_MAX - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        reply[len] = '\0';
        if (len >= REPLY_MAX - 1)
            break;
        if (!hdr_end && (hdr_end = strstr(reply, "\r\n\r\n")) != NULL) {
            hdr_end += 4;
            const char *cl = strcasestr(reply, "\r\nContent-Length:");
            if (cl && cl < hdr_end)
                need = (size_t)(hdr_end - reply) + strtoull(cl + 17, NULL, 10);
            const char *ct = strcasestr(reply, "text/event-stream");
            int status = 0;
            (void)sscanf(reply, "HTTP/1.%*1[01] %d", &status);
            if ((ct && ct < hdr_end) || head || status == 204 || status == 304)
                need = (size_t)(hdr_end - reply); /* no body, whatever Content-Length says */
        }
    }
    reply[len] = '\0';
    if (!hdr_end || sscanf(reply, "HTTP/1.%*1[01] %d", &r->status) != 1)
        return;
    r->body = hdr_end;
    r->body_len = len - (size_t)(hdr_end - reply);
    r->complete = need == (size_t)-1 || len >= need;
}

/* One request; the reply in *r. */
static void request(const char *method, const char *target, const char *token, const char *headers,
                    size_t headers_len, const void *body, size_t body_len, http_reply *r)
{
    char head[2048]; /* method (16) + target (900) + Host + Authorization fit */
    snprintf(history[history_n++ % HISTORY], sizeof(history[0]), "%s %s (%zu bytes: %.*s)", method,
             target, body_len, (int)(body_len < 120 ? body_len : 120), (const char *)body);
    int fd = connect_hub();
    int n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", method, target,
                     port);
    if (token && token[0])
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Authorization: Bearer %s\r\n", token);
    TD_FUZZ_CHECK(n > 0 && (size_t)n < sizeof(head));
    if (send_all(fd, head, (size_t)n) == 0 && send_all(fd, headers, headers_len) == 0) {
        n = snprintf(head, sizeof(head), "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     body_len);
        if (send_all(fd, head, (size_t)n) == 0)
            (void)send_all(fd, body, body_len);
    }
    read_reply(fd, strcmp(method, "HEAD") == 0, r);
    close(fd);
}

/* Logs in; 0 and the session token, or -1 (the account may have been disabled by an input). */
static int login(const char *user, const char *password, char *token, size_t cap)
{
    char body[200];
    http_reply r;
    snprintf(body, sizeof(body), "{\"username\": \"%s\", \"password\": \"%s\"}", user, password);
    request("POST", "/api/v1/sessions", NULL, "Content-Type: application/json\r\n", 32, body,
            strlen(body), &r);
    const char *t = r.status == 201 ? strstr(r.body, "\"token\":\"") : NULL;
    if (!t) {
        fprintf(stderr, "fuzz_hub_http: logging in as %s failed (%d): %s\n", user, r.status,
                r.body ? r.body : "");
        return -1;
    }
    t += 9;
    size_t k = 0;
    while (t[k] && t[k] != '"' && k + 1 < cap) {
        token[k] = t[k];
        k++;
    }
    token[k] = '\0';
    return 0;
}

static const char *USERS[3][2] = {
    {"fz-admin", "admin"}, {"fz-teacher", "instructor"}, {"fz-learner", "learner"}};

static void relogin(int i)
{
    td_err err;
    if (td_hub_set_password(hub, USERS[i][0], "fuzz-password-1", &err) == 0)
        (void)login(USERS[i][0], "fuzz-password-1", tokens[i], sizeof(tokens[i]));
}

static void stop_hub(void)
{
    td_hub_shutdown(hub, 1.0);
    td_hub_close(hub);
    char data[600];
    snprintf(data, sizeof(data), "%s/hub", td_fuzz_scratch_dir());
    td_fuzz_rm_tree(data);
    free(reply);
}

/* libFuzzer's leak check after each input would see the hub's threads mid-allocation (an
 * event stream polling the database): leaks are checked when the process exits. */
static char *args[64];

static void no_per_input_leak_check(int *argc, char ***argv)
{
    int n = *argc < 62 ? *argc : 62;
    memcpy(args, *argv, sizeof(char *) * (size_t)n);
    args[n++] = "-detect_leaks=0";
    args[n] = NULL;
    *argc = n;
    *argv = args;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char data[600];
    td_hub_options o;
    td_err err;
    no_per_input_leak_check(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    reply = malloc(REPLY_MAX);
    snprintf(data, sizeof(data), "%s/hub", td_fuzz_scratch_dir());
    td_hub_options_default(&o);
    o.data_dir = data;
    o.listen = "127.0.0.1:0";
    o.tracks_dir = TD_FUZZ_SOURCE_DIR "/tracks";
    o.fast_passwords = 1;
    o.max_upload_bytes = 4u << 20;
    if (!reply || td_hub_open(&hub, &o, &err) != 0 || td_hub_listen(hub, &err) != 0) {
        fprintf(stderr, "fuzz_hub_http: %s\n", err.msg);
        abort();
    }
    port = td_hub_port(hub);
    for (int i = 0; i < 3; i++)
        if (td_hub_create_user(hub, USERS[i][0], USERS[i][1], "fuzz-password-1", NULL, NULL,
                               &err) != 0) {
            fprintf(stderr, "fuzz_hub_http: %s\n", err.msg);
            abort();
        }
    if (td_hub_create_worker(hub, "fz-worker", tokens[3], sizeof(tokens[3]), &err) != 0) {
        fprintf(stderr, "fuzz_hub_http: %s\n", err.msg);
        abort();
    }
    for (int i = 0; i < 3; i++)
        if (login(USERS[i][0], "fuzz-password-1", tokens[i], sizeof(tokens[i])) != 0)
            abort();
    atexit(stop_hub);
    return 0;
}

/* The next line of [*p, end) without its "\n" (and "\r"); NULL at the end. */
static const uint8_t *next_line(const uint8_t **p, const uint8_t *end, size_t *len)
{
    if (*p >= end)
        return NULL;
    const uint8_t *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    const uint8_t *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    *len = (size_t)(e - s);
    if (*len > 0 && s[*len - 1] == '\r')
        (*len)--;
    return s;
}

/* A request-line part: printable, no spaces (libmicrohttpd would refuse the request line,
 * which tells nothing about the hub). */
static void token_of(const uint8_t *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        if (s[i] > ' ' && s[i] < 0x7f)
            out[k++] = (char)s[i];
    out[k] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *who[] = {"admin", "instructor", "learner", "worker"};
    const uint8_t *p = data, *end = data + size, *line;
    size_t n;
    const char *token = NULL;
    char method[16], target[900], headers[2048];
    size_t hl = 0;

    if (!(line = next_line(&p, end, &n)))
        return 0;
    for (int i = 0; i < 4; i++)
        if (n == strlen(who[i]) && memcmp(line, who[i], n) == 0)
            token = tokens[i];
    if (!(line = next_line(&p, end, &n)))
        return 0;
    const uint8_t *sp = memchr(line, ' ', n);
    if (!sp)
        return 0;
    token_of(line, (size_t)(sp - line), method, sizeof(method));
    token_of(sp + 1, n - (size_t)(sp + 1 - line), target, sizeof(target));
    if (!method[0] || target[0] != '/')
        return 0;
    while ((line = next_line(&p, end, &n)) != NULL && n > 0) {
        /* Header lines as given, but the target owns framing and Host. */
        const uint8_t *colon = memchr(line, ':', n);
        if (!colon || colon == line || hl + n + 2 > sizeof(headers) ||
            (n >= 14 && strncasecmp((const char *)line, "content-length", 14) == 0) ||
            (n >= 17 && strncasecmp((const char *)line, "transfer-encoding", 17) == 0) ||
            (n >= 10 && strncasecmp((const char *)line, "connection", 10) == 0) ||
            (n >= 4 && strncasecmp((const char *)line, "host", 4) == 0) || memchr(line, '\0', n))
            continue;
        memcpy(headers + hl, line, n);
        hl += n;
        memcpy(headers + hl, "\r\n", 2);
        hl += 2;
    }

    /* An event stream stays open on the hub until a keepalive finds the client gone (15 s):
     * thousands of them from a long run are load, not a finding. At most STREAMS_MAX are
     * opened per 20 s. */
    if (strstr(target, "/events")) {
        static double opened[STREAMS_MAX];
        static int next;
        double now = td_time_now();
        if (now - opened[next % STREAMS_MAX] < 20.0)
            return 0;
        opened[next++ % STREAMS_MAX] = now;
    }
    /* A worker's claim may wait for a job up to 30 s (a long poll, not a hang): its "wait"
     * is zeroed so one input takes milliseconds. */
    uint8_t *body = NULL;
    size_t body_len = (size_t)(end - p);
    if (strstr(target, "/worker/claim") && body_len > 0) {
        body = malloc(body_len);
        TD_FUZZ_CHECK(body != NULL);
        memcpy(body, p, body_len);
        for (uint8_t *w = body; (w = memmem(w, body_len - (size_t)(w - body), "\"wait\"", 6));) {
            w += 6;
            while (w < body + body_len && (*w == ' ' || *w == ':'))
                w++;
            while (w < body + body_len && ((*w >= '0' && *w <= '9') || *w == '.' || *w == 'e' ||
                                           *w == 'E' || *w == '+' || *w == '-'))
                *w++ = '0';
        }
    }
    http_reply r;
    request(method, target, token, headers, hl, body ? body : p, body_len, &r);
    free(body);
    if (getenv("FUZZ_HUB_VERBOSE"))
        fprintf(stderr, "%s %s -> %d %.*s\n", method, target, r.status,
                (int)(r.body_len > 160 ? 160 : r.body_len), r.body ? r.body : "");
    if (r.status == 0)
        fprintf(stderr, "fuzz_hub_http: no HTTP reply to %s %s\n", method, target);
    TD_FUZZ_CHECK(r.status >= 100 && r.status <= 599);
    if (r.status >= 500 && r.status != 503) {
        fprintf(stderr, "fuzz_hub_http: %s %s: %d %.*s\n", method, target, r.status,
                (int)(r.body_len > 400 ? 400 : r.body_len), r.body);
        TD_FUZZ_CHECK(0);
    }
    TD_FUZZ_CHECK(r.complete);
    /* "{}" is what the hub sends when building its JSON failed (a string not UTF-8). */
    if (r.body_len == 2 && memcmp(r.body, "{}", 2) == 0)
        fprintf(stderr, "fuzz_hub_http: %s %s: %d with an empty object\n", method, target,
                r.status);
    TD_FUZZ_CHECK(!(r.body_len == 2 && memcmp(r.body, "{}", 2) == 0));
    if (r.status >= 400 && strncmp(target, "/api/", 5) == 0 && r.body_len > 0 &&
        strcmp(method, "HEAD") != 0) {
        json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
        const json_t *e = json_object_get(j, "error");
        if (!json_is_string(json_object_get(e, "message")) ||
            !json_is_string(json_object_get(e, "code")))
            fprintf(stderr, "fuzz_hub_http: %s %s: %d without an error object: %.*s\n", method,
                    target, r.status, (int)(r.body_len > 400 ? 400 : r.body_len), r.body);
        TD_FUZZ_CHECK(json_is_string(json_object_get(e, "message")));
        json_decref(j);
    }
    /* A request that changed the account's password or ended its session: log in again. */
    for (int i = 0; i < 3; i++)
        if (token == tokens[i] && r.status == 401)
            relogin(i);
    request("GET", "/api/v1/health", NULL, "", 0, "", 0, &r);
    TD_FUZZ_CHECK(r.status == 200);
    return 0;
}
