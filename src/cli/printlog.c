/*
 * printlog.c - what a reward function prints, captured into a log file of the model
 * directory; the first lines shown on stderr, then a note naming the file (printlog.h).
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/printlog.h"
#include "cli/status.h"
#include "trackday/reward.h"

/* Longest piece of one printed line shown on stderr. */
#define SHOW_COLS 200

struct td__print_log {
    char path[1200];
    int append;      /* keep what the file holds (a resumed run) */
    int show;        /* lines to show at most */
    int rfd, wfd;    /* the pipe */
    int log_fd;      /* opened at the first byte */
    int open_failed; /* said once */
    pthread_t thread;
    atomic_int stop;
    long long bytes, kept, lines;
    int shown, noted, partial; /* partial: the last byte seen was not a newline */
    char line[SHOW_COLS + 1];
    int line_len;
};

/* Opens the log at the first byte, in the model directory's logs/ folder. */
static int open_log(td__print_log *l)
{
    if (l->log_fd >= 0 || l->open_failed)
        return l->log_fd;
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s", l->path);
    char *slash = strrchr(dir, '/');
    td_err err;
    if (slash) {
        *slash = '\0';
        td_mkdir_p(dir, &err);
    }
    l->log_fd =
        open(l->path, O_WRONLY | O_CREAT | O_CLOEXEC | (l->append ? O_APPEND : O_TRUNC), 0644);
    if (l->log_fd < 0) {
        l->open_failed = 1;
        td__cli_status_print("trackday: warning: cannot write what the reward function prints "
                             "to %s: %s (it is dropped)",
                             l->path, strerror(errno));
    }
    return l->log_fd;
}

/* Shows the completed line in l->line, or the note once the lines to show are used up. */
static void show_line(td__print_log *l)
{
    if (l->shown < l->show) {
        td__cli_status_print("reward print: %.*s%s", l->line_len, l->line,
                             l->line_len >= SHOW_COLS ? " ..." : "");
        l->shown++;
    } else if (l->show > 0 && !l->noted) {
        td__cli_status_print("trackday: the reward function prints more; the rest goes to %s "
                             "(as DeepRacer sends print() to its log)",
                             l->path);
        l->noted = 1;
    }
    l->line_len = 0;
}

static void take(td__print_log *l, const char *buf, size_t n)
{
    int fd = open_log(l);
    if (fd >= 0 && l->kept < TD__PRINT_LOG_MAX_BYTES) {
        size_t w = n;
        if ((long long)w > TD__PRINT_LOG_MAX_BYTES - l->kept)
            w = (size_t)(TD__PRINT_LOG_MAX_BYTES - l->kept);
        size_t done = 0;
        while (done < w) {
            ssize_t k = write(fd, buf + done, w - done);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            done += (size_t)k;
        }
        l->kept += (long long)done;
    }
    l->bytes += (long long)n;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            l->lines++;
            l->partial = 0;
            show_line(l);
            continue;
        }
        l->partial = 1;
        if (l->line_len < SHOW_COLS)
            l->line[l->line_len++] = buf[i];
    }
}

static void *copy_thread(void *arg)
{
    td__print_log *l = arg;
    char buf[16384];
    for (;;) {
        struct pollfd p = {.fd = l->rfd, .events = POLLIN};
        int stopping = atomic_load(&l->stop);
        int r = poll(&p, 1, stopping ? 0 : 20);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (stopping)
                break;
            continue;
        }
        ssize_t n = read(l->rfd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* every writer has closed it */
        take(l, buf, (size_t)n);
    }
    return NULL;
}

int td__print_log_start(td__print_log **out, const char *path, int append, int show, td_err *err)
{
    *out = NULL;
    td__print_log *l = td_calloc(1, sizeof(*l));
    if (!l)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    if (td_path_fmt(l->path, sizeof(l->path), err, "%s", path)) {
        td_free(l);
        return TD_ERANGE;
    }
    l->append = append;
    l->show = show;
    l->log_fd = -1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        td_free(l);
        return td_err_set(err, TD_EIO, "reward print log: pipe: %s", strerror(errno));
    }
    l->rfd = fds[0];
    l->wfd = fds[1];
    /* A new run starts a new log; a resumed one adds to it. */
    if (!append)
        unlink(l->path);
    if (pthread_create(&l->thread, NULL, copy_thread, l) != 0) {
        close(l->rfd);
        close(l->wfd);
        td_free(l);
        return td_err_set(err, TD_EIO, "reward print log: cannot start a thread");
    }
    td_reward_set_print_fd(l->wfd);
    *out = l;
    return 0;
}

td__print_log *td__print_log_in(const char *dir, const char *file, int append, int show)
{
    char path[4300];
    td__print_log *l = NULL;
    td_err err;
    if (td_path_fmt(path, sizeof(path), &err, "%s/logs/%s", dir, file) ||
        td__print_log_start(&l, path, append, show, &err))
        fprintf(stderr, "trackday: warning: %s; what the reward function prints goes to stderr\n",
                err.msg);
    return l;
}

void td__print_log_stop(td__print_log *l)
{
    if (!l)
        return;
    td_reward_set_print_fd(-1);
    close(l->wfd);
    atomic_store(&l->stop, 1);
    pthread_join(l->thread, NULL);
    close(l->rfd);
    if (l->partial) {
        l->lines++;
        if (l->shown < l->show)
            show_line(l);
    }
    if (l->log_fd >= 0)
        close(l->log_fd);
    if (l->bytes > 0 && !l->open_failed) {
        char kept[96] = "";
        if (l->kept < l->bytes)
            snprintf(kept, sizeof(kept), "; the first %lld MB kept", l->kept >> 20);
        td__cli_status_print("trackday: the reward function printed %lld line%s (%lld bytes%s): "
                             "%s",
                             l->lines, l->lines == 1 ? "" : "s", l->bytes, kept, l->path);
    }
    td_free(l);
}
