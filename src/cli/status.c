/*
 * status.c - the status line of the `trackday` command (status.h): what a command is doing,
 * on stderr. On a terminal: one line redrawn in place and cut to the terminal's width. When
 * stderr is not a terminal: a line every interval seconds, so a log file gets a heartbeat, not
 * a flood. A ticker thread keeps it alive while the command is busy in a long call, so no
 * command is silent for more than two seconds.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/status.h"
#include "trackday/core.h"

/* A line of its own appears once an activity has lasted this long (seconds). */
#define FIRST_LINE_AFTER_S 1.5
/* How often a terminal line is redrawn at most (seconds). */
#define REDRAW_S 0.1

static struct {
    pthread_mutex_t lock;
    int inited, quiet, tty;
    double interval_s;
    char text[512];
    int active;       /* an activity is being shown */
    double since;     /* when the activity started */
    double last_draw; /* terminal: last redraw */
    double last_line; /* not a terminal: last line printed (0 = none yet) */
    int drawn;        /* terminal: a status line is on the screen */
    pthread_t ticker;
    int ticker_running;
} st = {.lock = PTHREAD_MUTEX_INITIALIZER, .interval_s = 10.0};

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int w = c ? (int)strtol(c, NULL, 10) : 0;
    return w >= 20 ? w : 80;
}

static void init_locked(void)
{
    if (st.inited)
        return;
    const char *term = getenv("TERM");
    st.tty = isatty(2) && !(term && strcmp(term, "dumb") == 0);
    st.inited = 1;
}

/* Draws the line (caller holds the lock). Terminal: in place, cut to the width minus one so
 * the cursor never wraps; else a whole line. */
static void draw_locked(double now)
{
    if (st.quiet || !st.active || !st.text[0])
        return;
    if (st.tty) {
        int w = term_width() - 1;
        char elapsed[32] = "";
        if (now - st.since >= 2.0)
            snprintf(elapsed, sizeof(elapsed), " (%.0f s)", now - st.since);
        int n = (int)strlen(st.text), e = (int)strlen(elapsed);
        if (n + e > w)
            e = 0; /* when space is short the elapsed time goes first */
        if (n > w - e)
            n = w - e;
        fprintf(stderr, "\r%.*s%.*s\033[K", n, st.text, e, elapsed);
        fflush(stderr);
        st.drawn = 1;
        st.last_draw = now;
    } else {
        fprintf(stderr, "trackday: %s\n", st.text);
        fflush(stderr);
        st.last_line = now;
    }
}

static void erase_locked(void)
{
    if (st.tty && st.drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    st.drawn = 0;
}

/* Not a terminal: is a line due? The first once the activity has lasted FIRST_LINE_AFTER_S,
 * then one per interval. */
static int line_due(double now)
{
    if (st.last_line == 0)
        return now - st.since >= FIRST_LINE_AFTER_S;
    return now - st.last_line >= st.interval_s;
}

static void *tick(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&st.lock);
        double now = td_time_now();
        if (st.active && !st.quiet) {
            if (st.tty ? now - st.last_draw >= 1.0 : line_due(now))
                draw_locked(now);
        }
        pthread_mutex_unlock(&st.lock);
    }
    return NULL;
}

void td__cli_status_config(int quiet, double interval_s)
{
    pthread_mutex_lock(&st.lock);
    init_locked();
    st.quiet = quiet;
    if (interval_s > 0)
        st.interval_s = interval_s;
    pthread_mutex_unlock(&st.lock);
}

int td__cli_status_is_tty(void)
{
    pthread_mutex_lock(&st.lock);
    init_locked();
    int tty = st.tty;
    pthread_mutex_unlock(&st.lock);
    return tty;
}

void td__cli_status(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&st.lock);
    init_locked();
    double now = td_time_now();
    va_start(ap, fmt);
    vsnprintf(st.text, sizeof(st.text), fmt, ap);
    va_end(ap);
    if (!st.active) {
        st.active = 1;
        st.since = now;
        st.last_line = 0;
    }
    if (!st.ticker_running && !st.quiet && pthread_create(&st.ticker, NULL, tick, NULL) == 0) {
        pthread_detach(st.ticker);
        st.ticker_running = 1;
    }
    if (st.tty ? now - st.last_draw >= REDRAW_S : line_due(now))
        draw_locked(now);
    pthread_mutex_unlock(&st.lock);
}

void td__cli_status_done(void)
{
    pthread_mutex_lock(&st.lock);
    erase_locked();
    st.active = 0;
    st.text[0] = '\0';
    pthread_mutex_unlock(&st.lock);
}

void td__cli_status_print(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&st.lock);
    init_locked();
    erase_locked();
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    if (st.tty && st.active)
        draw_locked(td_time_now());
    pthread_mutex_unlock(&st.lock);
}

void td__cli_status_signal_note(const char *msg)
{
    /* Async-signal-safe: no lock, no stdio. A terminal's status line is erased first (the
     * next redraw puts it back below the note). */
    ssize_t w = 0;
    if (st.tty && st.drawn)
        w = write(2, "\r\033[K", 4);
    else if (st.tty)
        w = write(2, "\n", 1); /* after an echoed ^C */
    w = write(2, msg, strlen(msg));
    w = write(2, "\n", 1);
    (void)w;
}
