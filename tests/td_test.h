/*
 * td_test.h - the test harness. Each tests/test_<module>.c defines tests with TD_TEST(name);
 * main runs every test in its own child process with a timeout, prints PASS/FAIL per test
 * and closes with "N passed, N failed". Assertions print both operands. A test also fails
 * if it leaves trackday allocations live (td_alloc_live() not back to its start value).
 *
 *   ./test_core              run all tests, each in its own process
 *   ./test_core NAME...      run the named tests in this process (for a debugger)
 *   TD_TEST_TIMEOUT=120      per-test timeout in seconds (default 300)
 */
#ifndef TD_TEST_H
#define TD_TEST_H

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trackday/core.h"

#ifndef TD_TEST_SOURCE_DIR
#define TD_TEST_SOURCE_DIR "."
#endif
#ifndef TD_TEST_BUILD_DIR
#define TD_TEST_BUILD_DIR "."
#endif
/* Reference DeepRacer routes, read in place and never copied into the project. */
#define TD_SHARED_TRACKS TD_TEST_SOURCE_DIR "/../shared/tracks"

typedef void (*td_test_fn)(void);
typedef struct {
    const char *name;
    td_test_fn fn;
} td_test_case;

#define TD_TEST_MAX 512
static td_test_case td__tests[TD_TEST_MAX];
static int td__ntests;

#define TD_TEST(name)                                                                              \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void td__register_##name(void)                             \
    {                                                                                              \
        if (td__ntests < TD_TEST_MAX)                                                              \
            td__tests[td__ntests++] = (td_test_case){#name, name};                                 \
    }                                                                                              \
    static void name(void)

#define TD_FAIL(...)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);                                    \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        fflush(stderr);                                                                            \
        _exit(1);                                                                                  \
    } while (0)

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

#define TD_ASSERT_OK(expr)                                                                         \
    do {                                                                                           \
        int td__rc = (expr);                                                                       \
        if (td__rc != 0)                                                                           \
            TD_FAIL("%s returned %d (%s)", #expr, td__rc, td_strerror(td__rc));                    \
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

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    int timeout = 300;
    const char *env = getenv("TD_TEST_TIMEOUT");
    if (env)
        timeout = (int)strtol(env, NULL, 10);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (argc > 1) {
        for (int a = 1; a < argc; a++) {
            int found = 0;
            for (int i = 0; i < td__ntests; i++) {
                if (strcmp(td__tests[i].name, argv[a]) == 0) {
                    found = 1;
                    if (td__run_one(&td__tests[i]) == 0) {
                        printf("PASS %s\n", td__tests[i].name);
                        passed++;
                    } else {
                        printf("FAIL %s\n", td__tests[i].name);
                        failed++;
                    }
                }
            }
            if (!found) {
                printf("FAIL %s (no such test)\n", argv[a]);
                failed++;
            }
        }
        printf("%d passed, %d failed\n", passed, failed);
        return failed ? 1 : 0;
    }

    for (int i = 0; i < td__ntests; i++) {
        const td_test_case *t = &td__tests[i];
        double t0 = td_time_now();
        pid_t pid;
        int status = 0;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            alarm((unsigned)timeout);
            _exit(td__run_one(t));
        }
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("PASS %s (%.2f s)\n", t->name, td_time_now() - t0);
            passed++;
        } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            printf("FAIL %s (timed out after %d s)\n", t->name, timeout);
            failed++;
        } else if (WIFSIGNALED(status)) {
            printf("FAIL %s (signal %d)\n", t->name, WTERMSIG(status));
            failed++;
        } else {
            printf("FAIL %s (exit %d)\n", t->name, WEXITSTATUS(status));
            failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif /* TD_TEST_H */
