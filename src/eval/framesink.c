/*
 * framesink.c - where a replay's frames go (replay.h): numbered PNG files in a folder, or raw
 * RGB frames piped to an `ffmpeg` process started with an argument vector (posix_spawn, no
 * shell, so no path is ever parsed as a command). The output appears under its name only once
 * it is complete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trackday/replay.h"

extern char **environ;

/*
 * The output appears under its name only when it is complete: frames go to a temporary beside
 * it (".NAME.partial-PID.mp4" for a video, so ffmpeg still sees the extension; "NAME.partial-PID"
 * for a folder of frames), renamed into place when the sink closes without an error. An
 * interrupted replay leaves the previous output (if any) untouched; its temporary is removed
 * by the next replay that writes there.
 */
struct td_frame_sink {
    int failed; /* set by a failed render: close removes the output instead of keeping it */
    int w, h, fps, frames;
    int fd;          /* ffmpeg's stdin, or -1 for PNG frames */
    pid_t ffmpeg;    /* its process */
    char path[1024]; /* the final name (messages name it) */
    char tmp[1200];  /* where the frames are written */
    png_bytep *rows; /* h row pointers for PNG frames */
};

/* The temporary name of a sink's output, beside the final one. */
static int partial_name(char *out, size_t cap, const char *path, int video, long pid)
{
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) + 1 : 0;
    const char *base = path + dir_len;
    int n;
    if (video) {
        const char *dot = strrchr(base, '.');
        int stem = dot ? (int)(dot - base) : (int)strlen(base);
        n = snprintf(out, cap, "%.*s.%.*s.partial-%ld%s", dir_len, path, stem, base, pid,
                     dot ? dot : "");
    } else {
        n = snprintf(out, cap, "%s.partial-%ld", path, pid);
    }
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int ends_with_ci(const char *s, const char *suf);

/* Removes a folder of frames: frame_*.png and the folder itself (only if nothing else is in it). */
static void remove_frames(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[2700];
    while (d && (e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "frame_", 6) && ends_with_ci(e->d_name, ".png") &&
            td_path_join(p, sizeof(p), dir, e->d_name, NULL) == 0)
            unlink(p);
    if (d)
        closedir(d);
    rmdir(dir);
}

/* The temporaries of replays into path that were interrupted (their process is gone). */
static void remove_stale_partials(const char *path, int video)
{
    char dir[1024], probe[1200], prefix[1200];
    const char *slash = strrchr(path, '/');
    if (td_path_fmt(dir, sizeof(dir), NULL, "%.*s", slash ? (int)(slash - path) : 1,
                    slash ? path : ".") != 0)
        return;
    if (partial_name(probe, sizeof(probe), path, video, 0) != 0)
        return;
    /* Everything of probe's name up to "partial-". */
    const char *b = strrchr(probe, '/');
    b = b ? b + 1 : probe;
    const char *cut = strstr(b, ".partial-");
    if (!cut)
        return;
    snprintf(prefix, sizeof(prefix), "%.*s.partial-", (int)(cut - b), b);
    DIR *d = opendir(dir[0] ? dir : "/");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + strlen(prefix), &end, 10);
        if (end == e->d_name + strlen(prefix) || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* that replay may still be running */
        char full[2400];
        if (td_path_join(full, sizeof(full), dir, e->d_name, NULL) != 0)
            continue;
        if (video)
            unlink(full);
        else
            remove_frames(full);
    }
    if (d)
        closedir(d);
}

int td_frame_sink_find_ffmpeg(char *out, size_t outlen)
{
    const char *path = getenv("PATH");
    char buf[1100];
    if (!path || !*path)
        return 0;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len < 1000) {
            snprintf(buf, sizeof(buf), "%.*s/ffmpeg", (int)len, path);
            if (access(buf, X_OK) == 0) {
                if (out)
                    snprintf(out, outlen, "%s", buf);
                return 1;
            }
        }
        if (!end)
            break;
        path = end + 1;
    }
    return 0;
}

static int ends_with_ci(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcasecmp(s + n - m, suf);
}

int td_frame_sink_is_video(const char *path)
{
    static const char *const ext[] = {".mp4", ".mkv", ".mov", ".webm", ".avi"};
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
        if (ends_with_ci(path, ext[i]))
            return 1;
    return 0;
}

/*
 * Starts `ffmpeg ... -i - s->tmp` reading raw frames from a pipe: s->fd is the pipe's write end
 * (close-on-exec, so later children do not hold it open), s->ffmpeg the process. ffmpeg gets
 * the caller's environment, an empty signal mask, SIGPIPE at its default whatever this thread
 * blocks or ignores, and a process group of its own: a Ctrl-C at the terminal reaches the
 * caller alone, which stops between frames and discards the output (before, ffmpeg died
 * first and the replay failed with "ffmpeg stopped reading frames" instead of "interrupted").
 * If the caller dies, ffmpeg sees the end of its input and exits.
 */
static int spawn_ffmpeg(td_frame_sink *s, const char *ff, td_err *err)
{
    char size[32], rate[16];
    snprintf(size, sizeof(size), "%dx%d", s->w, s->h);
    snprintf(rate, sizeof(rate), "%d", s->fps);
    char *const argv[] = {(char *)ff, "-loglevel", "error",    "-y",      "-f",   "rawvideo",
                          "-pix_fmt", "rgb24",     "-s",       size,      "-r",   rate,
                          "-i",       "-",         "-pix_fmt", "yuv420p", s->tmp, NULL};
    int fds[2];
    if (pipe(fds) != 0)
        return td_err_set(err, TD_EIO, "%s: cannot make a pipe for ffmpeg: %s", s->path,
                          strerror(errno));
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return td_err_set(err, TD_EIO, "%s: cannot make a pipe for ffmpeg: %s", s->path,
                          strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    int rc = posix_spawn_file_actions_init(&fa);
    if (!rc) {
        rc = posix_spawnattr_init(&at);
        if (rc)
            posix_spawn_file_actions_destroy(&fa);
    }
    if (!rc) {
        /* dup2 onto 0 clears close-on-exec there; both pipe ends close at exec. */
        rc = posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
        if (!rc)
            rc = posix_spawnattr_setsigmask(&at, &none);
        if (!rc)
            rc = posix_spawnattr_setsigdefault(&at, &def);
        if (!rc)
            rc = posix_spawnattr_setpgroup(&at, 0);
        if (!rc)
            rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                   POSIX_SPAWN_SETPGROUP);
        if (!rc)
            rc = posix_spawn(&s->ffmpeg, ff, &fa, &at, argv, environ);
        posix_spawnattr_destroy(&at);
        posix_spawn_file_actions_destroy(&fa);
    }
    close(fds[0]);
    if (rc) {
        close(fds[1]);
        return td_err_set(err, TD_EIO, "%s: cannot start %s: %s", s->path, ff, strerror(rc));
    }
    s->fd = fds[1];
    return 0;
}

int td_frame_sink_open(td_frame_sink **out, const char *path, int width, int height, int fps,
                       td_err *err)
{
    td_frame_sink *s;
    *out = NULL;
    if (width <= 0 || height <= 0 || (width & 1) || (height & 1) || fps < 1 || fps > 240)
        return td_err_set(err, TD_EINVAL,
                          "%s: bad frame size %dx%d at %d fps (even sizes, 1..240 fps)", path,
                          width, height, fps);
    s = td_calloc(1, sizeof(*s));
    if (!s)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    s->w = width;
    s->h = height;
    s->fps = fps;
    s->fd = -1;
    if (td_path_fmt(s->path, sizeof(s->path), err, "%s", path) != 0) {
        td_free(s);
        return td_err_prefix(err, TD_ERANGE, "replay output: ");
    }
    int video = td_frame_sink_is_video(path);
    if (partial_name(s->tmp, sizeof(s->tmp), path, video, (long)getpid()) != 0) {
        td_free(s);
        return td_err_set(err, TD_EINVAL, "%s: path too long", path);
    }
    remove_stale_partials(path, video);
    if (video) {
        char ff[1100];
        if (!td_frame_sink_find_ffmpeg(ff, sizeof(ff))) {
            td_free(s);
            return td_err_set(err, TD_ENOENT,
                              "%s: writing a video needs the ffmpeg command, which is not on "
                              "the PATH; install ffmpeg (e.g. apt-get install ffmpeg), or give "
                              "a directory instead to get numbered PNG frames",
                              path);
        }
        int rc = spawn_ffmpeg(s, ff, err);
        if (rc) {
            td_free(s);
            return rc;
        }
    } else {
        int rc = td_mkdir_p(s->tmp, err);
        if (rc) {
            td_free(s);
            return rc;
        }
        s->rows = td_malloc(sizeof(png_bytep) * (size_t)height);
        if (!s->rows) {
            td_free(s);
            return td_err_set(err, TD_ENOMEM, "out of memory");
        }
    }
    *out = s;
    return 0;
}

/* One PNG frame, fast compression and no fsync: frames are cheap to make again. */
static int write_png_frame(td_frame_sink *s, const uint8_t *rgb, td_err *err)
{
    char path[1300];
    FILE *f;
    png_structp png;
    png_infop info;
    int rc = td_path_fmt(path, sizeof(path), err, "%s/frame_%05d.png", s->tmp, s->frames + 1);
    if (rc)
        return rc;
    f = fopen(path, "wb");
    if (!f)
        return td_err_set(err, TD_EIO, "%s: cannot create: %s", path, strerror(errno));
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return td_err_set(err, TD_ENOMEM, "%s: cannot create a PNG writer", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return td_err_set(err, TD_EIO, "%s: PNG encoding failed", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 1);
    png_set_filter(png, 0, PNG_FILTER_SUB);
    for (int y = 0; y < s->h; y++)
        s->rows[y] = (png_bytep)(rgb + (size_t)y * s->w * 3);
    png_write_info(png, info);
    png_write_image(png, s->rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0)
        return td_err_set(err, TD_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

/*
 * A dying ffmpeg must show up as a write error, not kill the process, and the library must
 * not change the process's SIGPIPE disposition (the caller owns signals): SIGPIPE is blocked
 * in this thread around the pipe's writes, and one it raised is taken back before unblocking.
 */
typedef struct pipe_guard {
    sigset_t old;
    int was_pending;
} pipe_guard;

static void pipe_guard_begin(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_guard_end(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

int td_frame_sink_write(td_frame_sink *s, const uint8_t *rgb, td_err *err)
{
    if (s->fd >= 0) {
        size_t bytes = (size_t)s->w * s->h * 3, put = 0;
        pipe_guard g;
        pipe_guard_begin(&g);
        while (put < bytes) {
            ssize_t n = write(s->fd, rgb + put, bytes - put);
            if (n < 0 && errno == EINTR)
                continue; /* a signal (Ctrl-C): the caller decides between frames */
            if (n <= 0)
                break;
            put += (size_t)n;
        }
        pipe_guard_end(&g);
        if (put != bytes)
            return td_err_set(err, TD_EIO,
                              "%s: ffmpeg stopped reading frames at frame %d (its own messages, "
                              "if any, are above)",
                              s->path, s->frames + 1);
    } else {
        int rc = write_png_frame(s, rgb, err);
        if (rc)
            return rc;
    }
    s->frames++;
    return 0;
}

int td_frame_sink_frames(const td_frame_sink *s)
{
    return s ? s->frames : 0;
}

void td_frame_sink_abandon(td_frame_sink *s)
{
    if (s)
        s->failed = 1;
}

int td_frame_sink_close(td_frame_sink *s, td_err *err)
{
    int rc = s && s->failed ? TD_EINTERRUPTED : 0;
    if (!s)
        return 0;
    if (s->fd >= 0) {
        close(s->fd); /* end of input: ffmpeg finishes the file */
        int st = 0;
        pid_t w;
        while ((w = waitpid(s->ffmpeg, &st, 0)) < 0 && errno == EINTR) {
        }
        if (w < 0)
            st = -1;
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = td_err_set(err, TD_EIO, "%s: ffmpeg failed (exit status %d)", s->path,
                            st == -1 ? -1 : (WIFEXITED(st) ? WEXITSTATUS(st) : 128));
        if (!rc && rename(s->tmp, s->path) != 0)
            rc = td_err_set(err, TD_EIO, "%s: cannot create: %s", s->path, strerror(errno));
        if (rc)
            unlink(s->tmp);
    } else if (rc) {
        remove_frames(s->tmp); /* a failed replay: the previous output stays as it was */
    } else if (td_path_exists(s->tmp)) {
        /* A folder of frames: the old folder (trackday's frames only) gives way to the new. */
        char old_dir[1300];
        int moved = 0;
        rc = td_path_fmt(old_dir, sizeof(old_dir), err, "%s.old-%ld", s->path, (long)getpid());
        if (!rc && td_path_exists(s->path)) {
            if (rename(s->path, old_dir) != 0)
                rc = td_err_set(err, TD_EIO, "%s: cannot replace: %s", s->path, strerror(errno));
            moved = !rc;
        }
        if (!rc && rename(s->tmp, s->path) != 0)
            rc = td_err_set(err, TD_EIO, "%s: cannot create: %s", s->path, strerror(errno));
        if (rc)
            remove_frames(s->tmp);
        if (moved) {
            remove_frames(old_dir);
            if (td_path_exists(old_dir))
                TD_WARN("%s: the previous frames folder held other files; it is kept as %s",
                        s->path, old_dir);
        }
    }
    td_free(s->rows);
    td_free(s);
    return rc;
}
