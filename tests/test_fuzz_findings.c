/*
 * test_fuzz_findings.c - the fuzzers' findings (issue 19) stay fixed: each file in
 * ../shared/fuzz-findings/ and its committed copy in tests/fuzz/regress/ is refused by the
 * command that reads it (`trackday tracks show`, `trackday logs`) with exit code 1 and a
 * message naming the file and what is wrong, within a second of CPU time (a hang would run
 * until the wall-clock limit and fail the test). Also the library calls behind them, so a
 * fix cannot live only in the command.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "td_test.h"
#include "trackday/simtrace.h"
#include "trackday/track.h"

#ifndef TD_TEST_TRACKDAY_BIN
#define TD_TEST_TRACKDAY_BIN "trackday"
#endif

#define SHARED_FINDINGS TD_TEST_SOURCE_DIR "/../shared/fuzz-findings"
#define REGRESS         TD_TEST_SOURCE_DIR "/tests/fuzz/regress"

/* A hung command is killed after this long (wall clock); refusing takes milliseconds. */
#define WALL_LIMIT_S 20
/* The bound: refused within a second. CPU time, so a loaded machine cannot fail it. */
#define CPU_LIMIT_S 1.0

/* The findings, the command that reads each, and what its message must say. */
typedef struct finding {
    const char *file;
    const char *regress_dir; /* tests/fuzz/regress/<target> */
    const char *command;     /* "tracks show" or "logs" */
    const char *reason;
} finding;

static const finding FINDINGS[] = {
    {"hang-huge-coords-handmade.npy", "track_npy", "tracks show",
     "row 0 column 1 (center y) is -1e+308 m; coordinates must be within +-100000 m"},
    {"hang-huge-coords-handmade.json", "track_json", "tracks show",
     "row 0 column 1 (center y) is -1e+308 m; coordinates must be within +-100000 m"},
    {"simtrace-handmade-min-490-episode.csv", "simtrace", "logs",
     "line 2, column 'episode': '55555555555555555555' is not a whole number"},
    {"simtrace-handmade-valid-row-499.csv", "simtrace", "logs",
     "line 2, column 'closest_waypoint': '5555555555' is not a whole number"},
    {"simtrace-min-491-steps.csv", "simtrace", "logs",
     "line 2, column 'steps': '10000000000000000000' is not a whole number"},
    {"simtrace-min-499-closest_waypoint.csv", "simtrace", "logs",
     "line 2, column 'closest_waypoint': '5555555555' is not a whole number"},
};
#define N_FINDINGS ((int)(sizeof(FINDINGS) / sizeof(FINDINGS[0])))

typedef struct run_result {
    int exit_code; /* -1 if killed by a signal */
    int timed_out;
    double cpu_s;
    char out[8192], errtext[8192];
} run_result;

static void read_all(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `trackday <command words> FILE`, no shell, and measures the child's CPU time. */
static void run_cli(const char *command, const char *file, run_result *r)
{
    char outp[] = "/tmp/td_test_fuzz_out_XXXXXX", errp[] = "/tmp/td_test_fuzz_err_XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    TD_ASSERT(ofd >= 0 && efd >= 0);
    char words[64];
    snprintf(words, sizeof(words), "%s", command);
    char *argv[8];
    int argc = 0;
    argv[argc++] = (char *)TD_TEST_TRACKDAY_BIN;
    for (char *w = words, *sp; w && *w; w = sp ? sp + 1 : NULL) {
        sp = strchr(w, ' ');
        if (sp)
            *sp = '\0';
        argv[argc++] = w;
    }
    argv[argc++] = (char *)file;
    argv[argc] = NULL;

    pid_t pid = fork();
    TD_ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    close(ofd);
    close(efd);
    /* Poll for the exit so a hang is killed at the wall-clock limit (no sleep decides the
     * result: the loop ends as soon as the child does). */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status = 0;
    struct rusage ru;
    memset(r, 0, sizeof(*r));
    for (;;) {
        pid_t w = wait4(pid, &status, WNOHANG, &ru);
        TD_ASSERT(w >= 0);
        if (w == pid)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec) >
            WALL_LIMIT_S) {
            kill(pid, SIGKILL);
            TD_ASSERT(wait4(pid, &status, 0, &ru) == pid);
            r->timed_out = 1;
            break;
        }
        struct timespec nap = {0, 2000000};
        nanosleep(&nap, NULL);
    }
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->cpu_s = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
               (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    read_all(outp, r->out, sizeof(r->out));
    read_all(errp, r->errtext, sizeof(r->errtext));
    unlink(outp);
    unlink(errp);
}

static void expect_refused(const finding *f, const char *path)
{
    run_result r;
    run_cli(f->command, path, &r);
    TD_ASSERT_MSG(!r.timed_out, "trackday %s %s still running after %d s", f->command, path,
                  WALL_LIMIT_S);
    TD_ASSERT_MSG(r.exit_code == 1, "trackday %s %s: exit %d, stderr: %s", f->command, path,
                  r.exit_code, r.errtext);
    char want[1024];
    snprintf(want, sizeof(want), "trackday: %s: %s", path, f->reason);
    TD_ASSERT_CONTAINS(r.errtext, want);
    TD_ASSERT_MSG(r.cpu_s < CPU_LIMIT_S, "trackday %s %s took %.3f s of CPU", f->command, path,
                  r.cpu_s);
    /* Nothing reaches standard output before the refusal (no partial report). */
    TD_ASSERT_STREQ(r.out, "");
}

/* The files as the fuzzer wrote them, read in place from ../shared. */
TD_TEST(shared_findings_refused_by_cli)
{
    DIR *d = opendir(SHARED_FINDINGS);
    TD_ASSERT_MSG(d != NULL, "%s is missing (CI checks out ../shared beside the repo)",
                  SHARED_FINDINGS);
    int seen = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        const finding *f = NULL;
        for (int i = 0; i < N_FINDINGS; i++)
            if (strcmp(FINDINGS[i].file, de->d_name) == 0)
                f = &FINDINGS[i];
        /* A new finding must be added to the table (and fixed) before this passes. */
        TD_ASSERT_MSG(f != NULL, "%s/%s is a finding this test does not know", SHARED_FINDINGS,
                      de->d_name);
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", SHARED_FINDINGS, de->d_name);
        expect_refused(f, path);
        seen++;
    }
    closedir(d);
    TD_ASSERT_EQ_INT(seen, N_FINDINGS);
}

/* The committed copies, which the fuzz targets also replay (tests/fuzz/regress/). */
TD_TEST(committed_regressions_refused_by_cli)
{
    for (int i = 0; i < N_FINDINGS; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s/%s", REGRESS, FINDINGS[i].regress_dir,
                 FINDINGS[i].file);
        struct stat st;
        TD_ASSERT_MSG(stat(path, &st) == 0, "%s is missing", path);
        expect_refused(&FINDINGS[i], path);
    }
}

/* The library refuses them too, with the same messages (the hub will call it directly). */
TD_TEST(library_refuses_findings)
{
    for (int i = 0; i < N_FINDINGS; i++) {
        const finding *f = &FINDINGS[i];
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s/%s", REGRESS, f->regress_dir, f->file);
        td_err err;
        int rc;
        if (strcmp(f->command, "logs") == 0) {
            td_simtrace t;
            td_simtrace_init(&t);
            rc = td_simtrace_read(&t, path, &err);
            TD_ASSERT_EQ_INT(t.n, 0);
            td_simtrace_free(&t);
            TD_ASSERT_EQ_INT(rc, TD_EFORMAT);
        } else {
            td_track t;
            rc = td_track_load(&t, path, &err);
            TD_ASSERT_EQ_INT(rc, TD_ERANGE);
        }
        TD_ASSERT_CONTAINS(err.msg, f->reason);
    }
}

/* The bound is on the size of a coordinate, not on the span: the largest allowed route
 * loads, and one just past the bound is refused. */
TD_TEST(track_coordinate_bound_edges)
{
    const double L = TD_TRACK_MAX_COORD_M;
    double rows[5][6] = {
        {-L + 1, -L + 1, -L + 2, -L + 2, -L, -L}, {L - 1, -L + 1, L - 2, -L + 2, L, -L},
        {L - 1, L - 1, L - 2, L - 2, L, L},       {-L + 1, L - 1, -L + 2, L - 2, -L, L},
        {-L + 1, -L + 1, -L + 2, -L + 2, -L, -L},
    };
    td_track t;
    td_err err;
    TD_ASSERT_OK(td_track_from_rows(&t, &rows[0][0], 5, "big", NULL, &err));
    TD_ASSERT_EQ_INT(t.closed, 1);
    TD_ASSERT_NEAR(t.max_x - t.min_x, 2 * L, 1e-6);
    td_track_proj p;
    td_track_project(&t, 0.0, -L + 1, &p);
    TD_ASSERT_NEAR(p.dist, 0.0, 1e-6);
    td_track_free(&t);

    rows[2][4] = nextafter(L, INFINITY);
    TD_ASSERT_EQ_INT(td_track_from_rows(&t, &rows[0][0], 5, "big", "big.npy", &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "big.npy: row 2 column 4 (outer x)");
}

/* Counts in a simtrace are whole numbers in range; "2.0" (DeepRacer writes float steps in
 * some versions) is still a count, and an out-of-range iteration is refused like the others. */
TD_TEST(simtrace_counts_whole_and_in_range)
{
    static const char head[] = "episode,steps,X,Y,yaw,steer,throttle,action,reward,done,"
                               "all_wheels_on_track,progress,closest_waypoint,track_len,tstamp,"
                               "episode_status,pause_duration,iteration\n";
    char text[1024];
    td_simtrace t;
    td_err err;
    td_simtrace_init(&t);
    snprintf(text, sizeof(text), "%s3,2.0,1,2,0,0,1,0,1,False,True,5,7,20,0.1,in_progress,0,4\n",
             head);
    TD_ASSERT_OK(td_simtrace_parse(&t, text, strlen(text), "ok.csv", &err));
    TD_ASSERT_EQ_INT(t.n, 1);
    TD_ASSERT_EQ_INT(t.rows[0].steps, 2);
    TD_ASSERT_EQ_INT(t.rows[0].iteration, 4);
    td_simtrace_free(&t);

    const char *bad[][2] = {
        {"3,2.5,1,2,0,0,1,0,1,False,True,5,7,20,0.1,in_progress,0,4", "'steps': '2.5'"},
        {"3,2,1,2,0,0,1,0,1,False,True,5,7,20,0.1,in_progress,0,1e300", "'iteration': '1e300'"},
        {"-1e10,2,1,2,0,0,1,0,1,False,True,5,7,20,0.1,in_progress,0,4", "'episode': '-1e10'"},
    };
    for (int i = 0; i < 3; i++) {
        td_simtrace_init(&t);
        snprintf(text, sizeof(text), "%s%s\n", head, bad[i][0]);
        TD_ASSERT_EQ_INT(td_simtrace_parse(&t, text, strlen(text), "bad.csv", &err), TD_EFORMAT);
        TD_ASSERT_CONTAINS(err.msg, bad[i][1]);
        TD_ASSERT_CONTAINS(err.msg, "is not a whole number from -1000000000 to 1000000000");
        td_simtrace_free(&t);
    }
}
