/*
 * td_test.h - the test harness. Each tests/test_<module>.c defines tests with TD_TEST(name);
 * main runs every test in its own child process (its own process group, stdin from /dev/null,
 * its own temporary directory as TMPDIR) with a timeout, prints PASS/FAIL/SKIP per test and
 * closes with "N passed, N failed" (and ", N skipped" when some were). Assertions print both
 * operands. A test fails if it leaves trackday allocations live (td_alloc_live() not back to
 * its start value) and, in a sanitizer build run with detect_leaks=1, if LeakSanitizer finds a
 * leak anywhere in the test's process (checked before the child's _exit, which would skip it).
 *
 * When a test ends (passed, failed or timed out), the harness kills what is left of its
 * process group (commands the test started) and removes its temporary directory.
 *
 * A test that cannot run (a missing optional dependency) calls TD_SKIP("why"): it is counted
 * as skipped, never as passed. The executable exits 0 when every test passed, 1 when any
 * failed, and TD_TEST_SKIP_CODE (ctest's SKIP_RETURN_CODE) when none failed but some were
 * skipped; a file that registers no test fails.
 *
 *   ./test_core              run all tests, each in its own process
 *   ./test_core NAME...      run the named tests in this process (for a debugger)
 *   TD_TEST_TIMEOUT=120      per-test timeout in seconds (default 1200: machines are shared)
 *
 * Helpers shared by the test files: td_test_tmpdir() (the test's scratch directory),
 * td_test_run(cmd, &out, &err) (a shell command's exit status and captured output),
 * td_test_run_merged(cmd, &out) (the same with stderr merged into stdout),
 * td_test_slurp(path) and td_test_write(path, text).
 */
#ifndef TD_TEST_H
#define TD_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trackday/core.h"

#ifndef TD_TEST_SOURCE_DIR
#define TD_TEST_SOURCE_DIR "."
#endif
#ifndef TD_TEST_BUILD_DIR
#define TD_TEST_BUILD_DIR "."
#endif
#ifndef TD_TEST_TRACKDAY_BIN
#define TD_TEST_TRACKDAY_BIN "trackday"
#endif
/* Reference DeepRacer routes, read in place and never copied into the project. */
#define TD_SHARED_TRACKS TD_TEST_SOURCE_DIR "/../shared/tracks"

/* The exit status of a skipped test, and of a test file with skips but no failure. */
#define TD_TEST_SKIP_CODE 77

#if defined(__SANITIZE_ADDRESS__)
#define TD__TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TD__TEST_ASAN 1
#endif
#endif
#ifdef TD__TEST_ASAN
void __lsan_do_leak_check(void);
#endif

#define TD__UNUSED __attribute__((unused))

typedef void (*td_test_fn)(void);
typedef struct {
    const char *name;
    td_test_fn fn;
} td_test_case;

#define TD_TEST_MAX 1024
static td_test_case td__tests[TD_TEST_MAX];
static int td__ntests, td__nlost;

#define TD_TEST(name)                                                                              \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void td__register_##name(void)                             \
    {                                                                                              \
        if (td__ntests < TD_TEST_MAX)                                                              \
            td__tests[td__ntests++] = (td_test_case){#name, name};                                 \
        else                                                                                       \
            td__nlost++;                                                                           \
    }                                                                                              \
    static void name(void)

/* ------------------------------------------------------------------------------------ */
/* Ending a test                                                                        */
/* ------------------------------------------------------------------------------------ */

/* In-process mode (names on the command line) ends a failed or skipped test with a longjmp
 * back to main, so the run goes on and closes with its summary. */
static int td__inproc;
static jmp_buf td__jmp;
static char td__tmp[512]; /* the running test's scratch directory ("" until created) */

/* Ends the running test with an exit code (0 pass, 1 fail, TD_TEST_SKIP_CODE skip). */
static void td__test_end(int code)
{
    fflush(stdout);
    fflush(stderr);
    if (td__inproc)
        longjmp(td__jmp, code == 0 ? 1000 : code);
    _exit(code);
}

#define TD_FAIL(...)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);                                    \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        td__test_end(1);                                                                           \
    } while (0)

/* Skips the running test: it cannot run here (say why). Never counted as passed. */
#define TD_SKIP(...)                                                                               \
    do {                                                                                           \
        printf("skipped: ");                                                                       \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        td__test_end(TD_TEST_SKIP_CODE);                                                           \
    } while (0)

/* ------------------------------------------------------------------------------------ */
/* Assertions                                                                           */
/* ------------------------------------------------------------------------------------ */

#define TD_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            TD_FAIL("%s", #cond);                                                                  \
    } while (0)

#define TD_ASSERT_MSG(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond);                     \
            TD_FAIL(__VA_ARGS__);                                                                  \
        }                                                                                          \
    } while (0)

/* A value printed for a failed comparison, whatever its type. */
typedef struct {
    char s[48];
} td__val;

static inline td__val td__val_ll(long long v)
{
    td__val r;
    snprintf(r.s, sizeof(r.s), "%lld", v);
    return r;
}
static inline td__val td__val_ull(unsigned long long v)
{
    td__val r;
    snprintf(r.s, sizeof(r.s), "%llu", v);
    return r;
}
static inline td__val td__val_dbl(long double v)
{
    td__val r;
    snprintf(r.s, sizeof(r.s), "%.17Lg", v);
    return r;
}
static inline td__val td__val_ptr(const volatile void *v)
{
    td__val r;
    snprintf(r.s, sizeof(r.s), "%p", (const void *)v);
    return r;
}
#define TD__VAL(x)                                                                                 \
    _Generic((x), _Bool                                                                            \
             : td__val_ll, char                                                                    \
             : td__val_ll, signed char                                                             \
             : td__val_ll, short                                                                   \
             : td__val_ll, int                                                                     \
             : td__val_ll, long                                                                    \
             : td__val_ll, long long                                                               \
             : td__val_ll, unsigned char                                                           \
             : td__val_ull, unsigned short                                                         \
             : td__val_ull, unsigned int                                                           \
             : td__val_ull, unsigned long                                                          \
             : td__val_ull, unsigned long long                                                     \
             : td__val_ull, float                                                                  \
             : td__val_dbl, double                                                                 \
             : td__val_dbl, long double                                                            \
             : td__val_dbl, default                                                                \
             : td__val_ptr)(x)

/* Asserts `a op b` (op one of == != < <= > >=), evaluating each operand once and printing
 * both values when it fails. The operands are compared as C compares them (a literal that was
 * fine beside a size_t is now a copy, hence the pragma: mind signed/unsigned mixes). */
#define TD_ASSERT_CMP(a, op, b)                                                                    \
    do {                                                                                           \
        __typeof__((a) + 0) td__ca = (a);                                                          \
        __typeof__((b) + 0) td__cb = (b);                                                          \
        _Pragma("GCC diagnostic push");                                                            \
        _Pragma("GCC diagnostic ignored \"-Wsign-compare\"");                                      \
        int td__ok = td__ca op td__cb;                                                             \
        _Pragma("GCC diagnostic pop");                                                             \
        if (!td__ok)                                                                               \
            TD_FAIL("%s %s %s (%s vs %s)", #a, #op, #b, TD__VAL(td__ca).s, TD__VAL(td__cb).s);     \
    } while (0)
#define TD_ASSERT_EQ(a, b) TD_ASSERT_CMP(a, ==, b)
#define TD_ASSERT_NE(a, b) TD_ASSERT_CMP(a, !=, b)
#define TD_ASSERT_LT(a, b) TD_ASSERT_CMP(a, <, b)
#define TD_ASSERT_LE(a, b) TD_ASSERT_CMP(a, <=, b)
#define TD_ASSERT_GT(a, b) TD_ASSERT_CMP(a, >, b)
#define TD_ASSERT_GE(a, b) TD_ASSERT_CMP(a, >=, b)

#define TD_ASSERT_EQ_INT(a, b)                                                                     \
    do {                                                                                           \
        long long td__a = (long long)(a), td__b = (long long)(b);                                  \
        if (td__a != td__b)                                                                        \
            TD_FAIL("%s == %s (%lld vs %lld)", #a, #b, td__a, td__b);                              \
    } while (0)

#define TD_ASSERT_NE_INT(a, b)                                                                     \
    do {                                                                                           \
        long long td__a = (long long)(a), td__b = (long long)(b);                                  \
        if (td__a == td__b)                                                                        \
            TD_FAIL("%s != %s (both %lld)", #a, #b, td__a);                                        \
    } while (0)

#define TD_ASSERT_EQ_U64(a, b)                                                                     \
    do {                                                                                           \
        unsigned long long td__a = (unsigned long long)(a), td__b = (unsigned long long)(b);       \
        if (td__a != td__b)                                                                        \
            TD_FAIL("%s == %s (0x%016llx vs 0x%016llx)", #a, #b, td__a, td__b);                    \
    } while (0)

#define TD_ASSERT_OK(expr)                                                                         \
    do {                                                                                           \
        int td__rc = (expr);                                                                       \
        if (td__rc != 0)                                                                           \
            TD_FAIL("%s returned %d (%s)", #expr, td__rc, td_strerror(td__rc));                    \
    } while (0)

/* Asserts that expr returns the error code want, and that err->msg contains needle. */
#define TD_ASSERT_ERR(expr, want, err, needle)                                                     \
    do {                                                                                           \
        int td__rc = (expr);                                                                       \
        if (td__rc != (want))                                                                      \
            TD_FAIL("%s returned %d (%s), want %s (%s)", #expr, td__rc, td_err_name(td__rc),       \
                    #want, td_err_name(want));                                                     \
        TD_ASSERT_CONTAINS((err)->msg, needle);                                                    \
    } while (0)

#define TD_ASSERT_NEAR(a, b, tol)                                                                  \
    do {                                                                                           \
        double td__a = (double)(a), td__b = (double)(b), td__t = (double)(tol);                    \
        if (!(fabs(td__a - td__b) <= td__t))                                                       \
            TD_FAIL("%s ~= %s (%.12g vs %.12g, diff %.3g > tol %.3g)", #a, #b, td__a, td__b,       \
                    fabs(td__a - td__b), td__t);                                                   \
    } while (0)

#define TD_ASSERT_STREQ(a, b)                                                                      \
    do {                                                                                           \
        const char *td__a = (a), *td__b = (b);                                                     \
        if (!td__a || !td__b || strcmp(td__a, td__b) != 0)                                         \
            TD_FAIL("%s == %s (\"%s\" vs \"%s\")", #a, #b, td__a ? td__a : "(null)",               \
                    td__b ? td__b : "(null)");                                                     \
    } while (0)

/* Asserts that haystack contains needle (for error messages). */
#define TD_ASSERT_CONTAINS(haystack, needle)                                                       \
    do {                                                                                           \
        const char *td__h = (haystack), *td__n = (needle);                                         \
        if (!td__h || !strstr(td__h, td__n))                                                       \
            TD_FAIL("%s contains \"%s\" (it is \"%s\")", #haystack, td__n,                         \
                    td__h ? td__h : "(null)");                                                     \
    } while (0)

/* Asserts that haystack does not contain needle. */
#define TD_ASSERT_NOT_CONTAINS(haystack, needle)                                                   \
    do {                                                                                           \
        const char *td__h = (haystack), *td__n = (needle);                                         \
        if (!td__h || strstr(td__h, td__n))                                                        \
            TD_FAIL("%s does not contain \"%s\" (it is \"%s\")", #haystack, td__n,                 \
                    td__h ? td__h : "(null)");                                                     \
    } while (0)

/* ------------------------------------------------------------------------------------ */
/* Shared helpers                                                                       */
/* ------------------------------------------------------------------------------------ */

/* The running test's scratch directory, created on first use and removed by the harness when
 * the test ends (whatever the outcome). Also the test process's TMPDIR. */
static TD__UNUSED const char *td_test_tmpdir(void)
{
    if (!td__tmp[0]) {
        const char *base = getenv("TMPDIR");
        int n = snprintf(td__tmp, sizeof(td__tmp), "%s/td_test_XXXXXX",
                         base && base[0] ? base : "/tmp");
        if (n <= 0 || (size_t)n >= sizeof(td__tmp) || !mkdtemp(td__tmp)) {
            td__tmp[0] = '\0';
            TD_FAIL("cannot create a temporary directory: %s", strerror(errno));
        }
    }
    return td__tmp;
}

/* Removes a directory tree (used for the scratch directories); returns 0 or -1. */
static TD__UNUSED int td__rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    chmod(path, 0700); /* a test may have made it read-only */
    DIR *d = opendir(path);
    int rc = 0;
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int n = snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (n <= 0 || (size_t)n >= sizeof(sub) || td__rm_rf(sub) != 0)
            rc = -1;
    }
    closedir(d);
    return rmdir(path) == 0 ? rc : -1;
}

/* Builds a path or a command into a fixed buffer; fails the test if it does not fit. */
#define TD_FMT(buf, ...)                                                                           \
    do {                                                                                           \
        int td__n = snprintf((buf), sizeof(buf), __VA_ARGS__);                                     \
        if (td__n < 0 || (size_t)td__n >= sizeof(buf))                                             \
            TD_FAIL("%s: %d bytes do not fit in %zu", #buf, td__n, sizeof(buf));                   \
    } while (0)

/* Reads a whole file (td_free it); fails the test if it cannot. */
static TD__UNUSED char *td_test_slurp(const char *path)
{
    char *data;
    size_t len;
    td_err err;
    int rc = td_file_read(path, &data, &len, &err);
    if (rc != 0)
        TD_FAIL("%s", err.msg);
    return data;
}

/* Writes text to path (replacing it); fails the test if it cannot. */
static TD__UNUSED void td_test_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        TD_FAIL("%s: cannot create: %s", path, strerror(errno));
    if (fputs(text, f) < 0 || fclose(f) != 0)
        TD_FAIL("%s: write error", path);
}

/* Appends a chunk to a growing td_malloc buffer (always NUL-terminated). */
static TD__UNUSED void td__buf_add(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (*len + n + 1 > c)
            c *= 2;
        char *nb = td_realloc(*buf, c);
        if (!nb)
            TD_FAIL("out of memory capturing output");
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/*
 * Runs cmd with /bin/sh -c, stdin from /dev/null. Returns its exit status (0-255), 128 + the
 * signal number if a signal ended it, or fails the test if it cannot be started. Its stdout and
 * stderr are captured into *out and *err (new NUL-terminated buffers, td_free them); pass NULL
 * to let that stream through to the test's own output.
 */
static TD__UNUSED int td_test_run(const char *cmd, char **out, char **err)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    if ((out && pipe(po) != 0) || (err && pipe(pe) != 0))
        TD_FAIL("pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        TD_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        if (out) {
            dup2(po[1], 1);
            close(po[0]);
            close(po[1]);
        }
        if (err) {
            dup2(pe[1], 2);
            close(pe[0]);
            close(pe[1]);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    size_t olen = 0, ocap = 0, elen = 0, ecap = 0;
    if (out) {
        close(po[1]);
        *out = NULL;
        td__buf_add(out, &olen, &ocap, "", 0);
    }
    if (err) {
        close(pe[1]);
        *err = NULL;
        td__buf_add(err, &elen, &ecap, "", 0);
    }
    int open_fds = (out != NULL) + (err != NULL);
    while (open_fds > 0) {
        struct pollfd fds[2];
        int nf = 0;
        if (out && po[0] >= 0)
            fds[nf++] = (struct pollfd){.fd = po[0], .events = POLLIN};
        if (err && pe[0] >= 0)
            fds[nf++] = (struct pollfd){.fd = pe[0], .events = POLLIN};
        if (poll(fds, (nfds_t)nf, -1) < 0) {
            if (errno == EINTR)
                continue;
            TD_FAIL("poll: %s", strerror(errno));
        }
        for (int i = 0; i < nf; i++) {
            if (!fds[i].revents)
                continue;
            char chunk[8192];
            ssize_t got = read(fds[i].fd, chunk, sizeof(chunk));
            if (got < 0 && errno == EINTR)
                continue;
            int is_out = out && fds[i].fd == po[0];
            if (got <= 0) {
                close(fds[i].fd);
                if (is_out)
                    po[0] = -1;
                else
                    pe[0] = -1;
                open_fds--;
            } else if (is_out) {
                td__buf_add(out, &olen, &ocap, chunk, (size_t)got);
            } else {
                td__buf_add(err, &elen, &ecap, chunk, (size_t)got);
            }
        }
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            TD_FAIL("waitpid: %s", strerror(errno));
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* td_test_run with the command's stderr merged into its stdout, in *out (td_free it): for
 * checking a command's whole output (its messages and its results) at once. */
static TD__UNUSED int td_test_run_merged(const char *cmd, char **out)
{
    char full[8192];
    TD_FMT(full, "%s 2>&1", cmd);
    return td_test_run(full, out, NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Running                                                                              */
/* ------------------------------------------------------------------------------------ */

/* The body of one test, in the process that runs it; returns 0 or 1 (leaked). */
static int td__run_one(const td_test_case *t)
{
    long live0 = td_alloc_live();
    t->fn();
    if (td_alloc_live() != live0) {
        fprintf(stderr, "test %s leaked %ld trackday allocations\n", t->name,
                td_alloc_live() - live0);
        return 1;
    }
    return 0;
}

static void td__remove_tmp(void)
{
    if (td__tmp[0] && td__rm_rf(td__tmp) != 0)
        fprintf(stderr, "could not remove %s\n", td__tmp);
    td__tmp[0] = '\0';
}

/* Runs t in a child process with a timeout; returns 0 pass, 1 fail, TD_TEST_SKIP_CODE skip. */
static int td__run_child(const td_test_case *t, int timeout_s)
{
    /* The scratch directory is made here so the harness can remove it whatever the child
     * does. */
    td_test_tmpdir();
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    double t0 = td_time_now();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
            close(devnull);
        }
        setenv("TMPDIR", td__tmp, 1);
        int rc = td__run_one(t);
#ifdef TD__TEST_ASAN
        /* _exit skips LeakSanitizer's at-exit check, so run it here (a no-op unless
         * ASAN_OPTIONS has detect_leaks=1; a leak ends the process with a report). */
        if (rc == 0)
            __lsan_do_leak_check();
#endif
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    setpgid(pid, pid);

    int status = 0, timed_out = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        double left = timeout_s - (td_time_now() - t0);
        if (left <= 0) {
            timed_out = 1;
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        sigtimedwait(&chld, NULL, &ts);
    }
    /* Whatever the test started and left running dies with it. */
    kill(-pid, SIGKILL);
    while (waitpid(-pid, NULL, WNOHANG) > 0) {
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    td__remove_tmp();

    double dt = td_time_now() - t0;
    if (timed_out) {
        printf("FAIL %s (timed out after %d s; its process group was killed)\n", t->name,
               timeout_s);
        return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("PASS %s (%.2f s)\n", t->name, dt);
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == TD_TEST_SKIP_CODE) {
        printf("SKIP %s\n", t->name);
        return TD_TEST_SKIP_CODE;
    }
    if (WIFSIGNALED(status))
        printf("FAIL %s (signal %d, %s)\n", t->name, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        printf("FAIL %s (exit %d)\n", t->name, WEXITSTATUS(status));
    return 1;
}

/* Runs t in this process (no fork), for a debugger. */
static int td__run_inproc(const td_test_case *t)
{
    int rc;
    char *old_tmp = getenv("TMPDIR") ? td_strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", td_test_tmpdir(), 1);
    int jumped = setjmp(td__jmp);
    if (jumped == 0)
        rc = td__run_one(t);
    else
        rc = jumped == 1000 ? 0 : jumped;
    td__remove_tmp();
    if (old_tmp)
        setenv("TMPDIR", old_tmp, 1);
    else
        unsetenv("TMPDIR");
    td_free(old_tmp);
    printf("%s %s\n", rc == 0 ? "PASS" : rc == TD_TEST_SKIP_CODE ? "SKIP" : "FAIL", t->name);
    return rc;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    int timeout = 1200;
    const char *env = getenv("TD_TEST_TIMEOUT");
    if (env)
        timeout = (int)strtol(env, NULL, 10);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (td__nlost) {
        printf("%d tests beyond TD_TEST_MAX (%d) were not registered\n", td__nlost, TD_TEST_MAX);
        failed++;
    }
    if (td__ntests == 0) {
        printf("no tests registered\n");
        failed++;
    }

    if (argc > 1) {
        td__inproc = 1;
        for (int a = 1; a < argc; a++) {
            int found = 0;
            for (int i = 0; i < td__ntests; i++) {
                if (strcmp(td__tests[i].name, argv[a]) != 0)
                    continue;
                found = 1;
                int rc = td__run_inproc(&td__tests[i]);
                passed += rc == 0;
                skipped += rc == TD_TEST_SKIP_CODE;
                failed += rc != 0 && rc != TD_TEST_SKIP_CODE;
            }
            if (!found) {
                printf("FAIL %s (no such test)\n", argv[a]);
                failed++;
            }
        }
    } else {
        for (int i = 0; i < td__ntests; i++) {
            int rc = td__run_child(&td__tests[i], timeout);
            passed += rc == 0;
            skipped += rc == TD_TEST_SKIP_CODE;
            failed += rc != 0 && rc != TD_TEST_SKIP_CODE;
        }
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : skipped ? TD_TEST_SKIP_CODE : 0;
}

#endif /* TD_TEST_H */
