/*
 * harness_selftest.c - tests of the test harness itself (td_test.h), run by
 * tests/test_harness.sh, which checks what the harness reports for each: a pass, a skip, a
 * trackday allocation leaked, a malloc leaked (LeakSanitizer), an assertion with both
 * operands printed, and a test that times out with a command still running (its process
 * group is killed, its temporary directory removed). Most of these fail on purpose, so this
 * file is not one of the suite's test_*.c files.
 *
 * TD_SELFTEST_OUT names a directory where tests leave what the script checks afterwards.
 */
#include <stdlib.h>

#include "td_test.h"

/* Writes text to $TD_SELFTEST_OUT/name. */
static void note(const char *name, const char *text)
{
    const char *out = getenv("TD_SELFTEST_OUT");
    char path[1024];
    if (!out)
        return;
    TD_FMT(path, "%s/%s", out, name);
    td_test_write(path, text);
}

TD_TEST(passes)
{
    char *out, *err;
    int rc = td_test_run("echo to-out; echo to-err >&2; exit 3", &out, &err);
    TD_ASSERT_EQ(rc, 3);
    TD_ASSERT_STREQ(out, "to-out\n");
    TD_ASSERT_STREQ(err, "to-err\n");
    td_free(out);
    td_free(err);
    TD_ASSERT_EQ(td_test_run("kill -TERM $$", NULL, NULL), 128 + SIGTERM);
    /* The scratch directory exists, is this process's TMPDIR, and is noted for the script. */
    const char *dir = td_test_tmpdir();
    struct stat st;
    TD_ASSERT_EQ(stat(dir, &st), 0);
    TD_ASSERT_STREQ(getenv("TMPDIR"), dir);
    char sub[1024];
    TD_FMT(sub, "%s/ro", dir);
    TD_ASSERT_EQ(mkdir(sub, 0500), 0);
    note("passes_tmpdir", dir);
}

TD_TEST(skips)
{
    TD_SKIP("the selftest skips on purpose");
}

TD_TEST(leaks_trackday_allocation)
{
    void *p = td_malloc(16);
    TD_ASSERT(p != NULL);
}

TD_TEST(leaks_malloc)
{
    void *volatile p = malloc(100);
    TD_ASSERT(p != NULL);
    p = NULL;
}

TD_TEST(prints_both_operands)
{
    int a = 2;
    double b = 3.5;
    TD_ASSERT_GT(a, b);
}

TD_TEST(times_out)
{
    char cmd[2048];
    const char *out = getenv("TD_SELFTEST_OUT");
    TD_ASSERT(out != NULL);
    note("times_out_tmpdir", td_test_tmpdir());
    /* A command left running in the background: the harness must kill it. */
    TD_FMT(cmd, "sleep 1000 & echo $! > '%s/times_out_pid'", out);
    TD_ASSERT_EQ(td_test_run(cmd, NULL, NULL), 0);
    for (;;)
        pause();
}
