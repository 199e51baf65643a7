/*
 * file.c - whole-file reads, atomic writes (temp file, fsync, rename, directory fsync),
 * directory creation and clocks.
 *
 * TRACKDAY_SCRATCH=1 (what a hub worker's jobs run with): everything this process writes is
 * scratch that a crash throws away whole (the job runs again from the hub's copy), so atomic
 * writes keep the temp file and rename (no reader sees a partial file) but skip the fsyncs.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trackday/core.h"

int td_file_read(const char *path, char **data, size_t *len, td_err *err)
{
    FILE *f;
    char *buf = NULL;
    size_t cap = 0, n = 0;

    *data = NULL;
    if (len)
        *len = 0;
    f = fopen(path, "rb");
    if (!f)
        return td_err_set(err, errno == ENOENT ? TD_ENOENT : TD_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    for (;;) {
        size_t got;
        if (n + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = td_realloc(buf, ncap);
            if (!nb) {
                td_free(buf);
                fclose(f);
                return td_err_set(err, TD_ENOMEM, "%s: out of memory reading file", path);
            }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                td_free(buf);
                fclose(f);
                return td_err_set(err, TD_EIO, "%s: read error", path);
            }
            break;
        }
    }
    fclose(f);
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return 0;
}

/* Fsyncs the directory holding path, so a rename inside it survives a crash. */
static void fsync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int fd;
    if (!slash) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == path) {
        snprintf(dir, sizeof(dir), "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir))
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/*
 * Removes the temporary files that writers of path killed mid-write left beside it
 * ("<name>.tmp.<pid>" of a process that no longer runs), so they do not pile up.
 */
static void remove_stale_temps(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    if (dlen >= sizeof(dir))
        return;
    if (slash) {
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
        if (dlen == 0)
            snprintf(dir, sizeof(dir), "/");
    } else {
        snprintf(dir, sizeof(dir), ".");
    }
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0)
            continue;
        char *end;
        long pid = strtol(n + blen + 5, &end, 10);
        if (end == n + blen + 5 || *end != '\0' || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* its writer may still be running */
        char stale[8192];
        snprintf(stale, sizeof(stale), "%s/%s", dir, n);
        unlink(stale);
    }
    if (d)
        closedir(d);
}

static int scratch_writes(void)
{
    static int scratch = -1;
    if (scratch < 0) {
        const char *v = getenv("TRACKDAY_SCRATCH");
        scratch = v && !strcmp(v, "1");
    }
    return scratch;
}

int td_file_write_atomic(const char *path, const void *data, size_t len, td_err *err)
{
    char tmp[4096];
    const char *p = data;
    size_t left = len;
    int fd;

    /* Errors name the file the caller asked for; the temporary beside it is a detail. */
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return td_err_set(err, TD_EINVAL, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return td_err_set(err, TD_EIO, "%s: cannot create: %s", path, strerror(errno));
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            td_err_set(err, TD_EIO, "%s: write failed: %s", path, strerror(errno));
            close(fd);
            unlink(tmp);
            return TD_EIO;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!scratch_writes() && fsync(fd) != 0) {
        td_err_set(err, TD_EIO, "%s: fsync failed: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        return TD_EIO;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        td_err_set(err, TD_EIO, "%s: rename failed: %s", path, strerror(errno));
        unlink(tmp);
        return TD_EIO;
    }
    if (!scratch_writes())
        fsync_parent(path);
    remove_stale_temps(path);
    return 0;
}

int td_dir_lock(const char *dir, int exclusive, td_err *err)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/.trackday-lock", dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        td_err_set(err, TD_EINVAL, "%s: path too long", dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        td_err_set(err, TD_EIO, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (flock(fd, exclusive ? LOCK_EX : LOCK_SH)) {
        if (errno == EINTR)
            continue;
        td_err_set(err, TD_EIO, "%s: lock: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void td_dir_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the only descriptor releases the flock */
}

int td_mkdir_p(const char *path, td_err *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return td_err_set(err, TD_EINVAL, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            struct stat st;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return td_err_set(err, TD_EIO, "%s: cannot create directory: %s", buf,
                                  strerror(errno));
            /* A file in the way fails now, not at the first write into it. */
            if (c == '\0' && (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)))
                return td_err_set(err, TD_EIO, "%s is a file, not a directory", buf);
            buf[i] = c;
        }
    }
    return 0;
}

void td_path_stem(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    const char *dot;
    size_t len;
    b = b ? b + 1 : path;
    len = strlen(b);
    dot = strrchr(b, '.');
    if (dot && dot != b)
        len = (size_t)(dot - b);
    if (len >= cap)
        len = cap - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}

int td_path_fmt(char *out, size_t cap, td_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = cap ? vsnprintf(out, cap, fmt, ap) : -1;
    va_end(ap);
    if (n >= 0 && (size_t)n < cap)
        return 0;
    if (n < 0)
        return td_err_set(err, TD_ERANGE, "cannot format a path");
    return td_err_set(err, TD_ERANGE, "path too long (%d bytes, at most %zu): %.60s...", n, cap - 1,
                      out);
}

int td_path_join(char *out, size_t cap, const char *dir, const char *name, td_err *err)
{
    return td_path_fmt(out, cap, err, "%s/%s", dir, name);
}

int td_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double td_time_cpu(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

double td_time_thread_cpu(void)
{
    return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

double td_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double td_time_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int td_str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}
