/*
 * serve.c - `trackday serve`: runs the hub until SIGTERM or Ctrl-C, then stops gracefully
 * (no new connections, requests in flight finish, event streams end, the database closes).
 * Also hubcli.h's shared helpers.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hub/hubcli.h"
#include "trackday/hub.h"

#ifndef TD_SOURCE_DIR
#define TD_SOURCE_DIR "."
#endif

const char *td__cli_hub_data_dir(const char *arg)
{
    static char dir[1024];
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (arg)
        return arg;
    if (xdg && *xdg)
        snprintf(dir, sizeof(dir), "%s/trackday/hub", xdg);
    else
        snprintf(dir, sizeof(dir), "%s/.local/share/trackday/hub", home && *home ? home : ".");
    return dir;
}

const char *td__cli_hub_db(const char *arg)
{
    const char *env = getenv("TRACKDAY_HUB_DB");
    if (arg && *arg)
        return arg;
    return env && *env ? env : NULL;
}

int td__cli_read_password(const char *prompt, char *out, size_t cap)
{
    struct termios old, quiet;
    int tty = isatty(0) && tcgetattr(0, &old) == 0;
    size_t n;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        fflush(stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    if (!fgets(out, (int)cap, stdin)) {
        if (tty) {
            tcsetattr(0, TCSAFLUSH, &old);
            fprintf(stderr, "\n");
        }
        return td__cli_fail("no password on standard input");
    }
    if (tty) {
        tcsetattr(0, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = 0;
    return 0;
}

/* Signals reach whichever thread they find (libraries start threads before main), so the
 * handler only writes to a pipe that the main thread waits on. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    if (write(signal_pipe[1], &b, 1) < 0) {
        /* Nothing to do: the pipe is full, a stop is already pending. */
    }
    errno = saved;
}

static int cmd_serve(int argc, char **argv)
{
    td_hub_options o;
    td_hub *hub = NULL;
    td_err err;
    const char *data = NULL, *ready = NULL, *db = NULL;
    double grace = 10;
    char web[1200];
    int sig = 0, upload_mb = 1024;

    td_hub_options_default(&o);
    /* Reward checks run this program (trackday reward check) in the sandbox. */
    char self[1024];
    ssize_t self_len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (self_len > 0) {
        self[self_len] = 0;
        o.program = self;
    }
    /* The browser UI as `make` builds it (web/dist, from web/package-lock.json). */
    snprintf(web, sizeof(web), "%s/web/dist", TD_SOURCE_DIR);
    if (td_path_exists(web))
        o.web_dir = web;
    const td__cli_opt opts[] = {
        TD_CLI_STRING(NULL, "--data", &data, "DIR",
                      "data directory: hub.db (SQLite, WAL, unless --db), blobs/ (default "
                      "~/.local/share/trackday/hub)"),
        TD_CLI_HUB_DB_OPT(&db),
        TD_CLI_STRING(NULL, "--listen", &o.listen, "HOST:PORT",
                      "address (default 127.0.0.1:8080; port 0 picks a free one). Anything but "
                      "loopback exposes the hub: put it behind an HTTPS reverse proxy"),
        TD_CLI_STRING(NULL, "--web", &o.web_dir, "DIR",
                      "static files of the browser UI (default: web/dist of the source tree, "
                      "built by make, when present)"),
        TD_CLI_STRING(NULL, "--ready-file", &ready, "F",
                      "write the URL to F once listening (for scripts)"),
        TD_CLI_SECTION("limits"),
        TD_CLI_INT("--lease-seconds", &o.lease_s, 1, 3600, "N",
                   "a claimed job's lease, renewed by heartbeats (default 60)"),
        TD_CLI_INT("--max-attempts", &o.max_attempts, 1, 100, "N",
                   "tries of a job whose worker is lost (default 3)"),
        TD_CLI_INT("--session-hours", &o.session_hours, 1, 24 * 365, "N",
                   "login lifetime (default 168)"),
        TD_CLI_INT("--max-upload-mb", &upload_mb, 1, 1024 * 1024, "N",
                   "largest upload (default 1024)"),
        TD_CLI_INT("--login-failures", &o.login_max_failures, 1, 1000, "N",
                   "failed logins per user in 15 minutes before 429 (default 10)"),
        TD_CLI_DOUBLE("--grace", &grace, 0, 3600, "S",
                      "seconds requests in flight get at shutdown (default 10)"),
        TD_CLI_FLAG("--secure-cookies", &o.secure_cookies,
                    "mark session cookies Secure (when served over HTTPS)"),
        TD_CLI_STRING(NULL, "--trust-proxy", &o.trusted_proxies, "ADDRS",
                      "reverse proxies (comma-separated addresses) whose X-Forwarded-For names "
                      "the client, for per-address limits"),
        TD_CLI_SECTION("tests"),
        TD_CLI_STRING(NULL, "--clock-file", &o.clock_file, "F",
                      "read the time (Unix seconds) from F"),
        TD_CLI_FLAG("--insecure-fast-passwords", &o.fast_passwords, "argon2id at its minimum cost"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "serve",
        .about = "Runs the hub: the JSON API under /api/v1 (docs/api.md), accounts, classes, the "
                 "model registry and the job queue that 'trackday worker' processes serve. "
                 "SIGTERM or Ctrl-C stops it gracefully.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    o.max_upload_bytes = (uint64_t)upload_mb << 20;
    o.data_dir = td__cli_hub_data_dir(data);
    o.db = td__cli_hub_db(db);
    o.tracks_dir = td__cli_tracks_dir();
    static char shared[1200];
    snprintf(shared, sizeof(shared), "%s/../shared/tracks", TD_SOURCE_DIR);
    o.shared_tracks = shared;

    if (pipe(signal_pipe))
        return td__cli_fail("pipe: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (td_hub_open(&hub, &o, &err))
        return td__cli_fail("%s", err.msg);
    if (td_hub_listen(hub, &err)) {
        td_hub_close(hub);
        return td__cli_fail("%s", err.msg);
    }
    char url[300];
    const char *host = o.listen;
    char hostbuf[256];
    const char *colon = strrchr(host, ':');
    snprintf(hostbuf, sizeof(hostbuf), "%.*s", colon ? (int)(colon - host) : 0, host);
    if (!hostbuf[0])
        snprintf(hostbuf, sizeof(hostbuf), "127.0.0.1");
    snprintf(url, sizeof(url), "http://%s:%d", hostbuf, td_hub_port(hub));
    if (strcmp(hostbuf, "127.0.0.1") && strcmp(hostbuf, "localhost") && strcmp(hostbuf, "[::1]"))
        fprintf(stderr,
                "trackday: warning: listening on %s, beyond this machine, without TLS: "
                "put an HTTPS reverse proxy in front\n",
                hostbuf);
    printf("trackday hub listening on %s (data: %s%s)\n", url, o.data_dir,
           o.db ? ", database: PostgreSQL" : "");
    fflush(stdout);
    if (ready) {
        char line[320];
        int n = snprintf(line, sizeof(line), "%s\n", url);
        if (td_file_write_atomic(ready, line, (size_t)n, &err))
            fprintf(stderr, "trackday: %s\n", err.msg);
    }
    for (;;) {
        unsigned char b;
        ssize_t n = read(signal_pipe[0], &b, 1);
        if (n < 0 && errno == EINTR)
            continue;
        sig = n == 1 ? b : SIGTERM;
        if (sig != SIGHUP) /* SIGHUP: nothing to reload yet */
            break;
    }
    fprintf(stderr, "trackday: %s: stopping (up to %.0f s for requests in flight)\n",
            strsignal(sig), grace);
    td_hub_shutdown(hub, grace);
    td_hub_close(hub);
    printf("trackday hub stopped\n");
    return 0;
}

TD_CLI_COMMAND("serve", "run the hub: accounts, classes, models, jobs (HTTP API)", cmd_serve)
