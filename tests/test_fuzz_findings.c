/*
 * test_fuzz_findings.c - the fuzzers' findings (issue 19) stay fixed: each file in
 * ../shared/fuzz-findings/ and its committed copy in tests/fuzz/regress/ is refused by the
 * command that reads it (`trackday tracks show`, `trackday logs`) with exit code 1 and a
 * message naming the file and what is wrong, within a second of CPU time (a hang would run
 * until the wall-clock limit and fail the test). Also the library calls behind them, so a
 * fix cannot live only in the command. Then the findings of the model targets (trained
 * models that infer/ refused, NaN in calibration, quantization and actions).
 */
#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "td_test.h"
#include "trackday/infer.h"
#include "trackday/json.h"
#include "trackday/nn.h"
#include "trackday/replay.h"
#include "trackday/simtrace.h"
#include "trackday/summary.h"
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
    TD_FMT(words, "%s", command);
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
    TD_FMT(want, "trackday: %s: %s", path, f->reason);
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
        TD_FMT(path, "%s/%s", SHARED_FINDINGS, de->d_name);
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
        TD_FMT(path, "%s/%s/%s", REGRESS, FINDINGS[i].regress_dir, FINDINGS[i].file);
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
        TD_FMT(path, "%s/%s/%s", REGRESS, f->regress_dir, f->file);
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
    TD_FMT(text, "%s3,2.0,1,2,0,0,1,0,1,False,True,5,7,20,0.1,in_progress,0,4\n", head);
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
        TD_FMT(text, "%s%s\n", head, bad[i][0]);
        TD_ASSERT_EQ_INT(td_simtrace_parse(&t, text, strlen(text), "bad.csv", &err), TD_EFORMAT);
        TD_ASSERT_CONTAINS(err.msg, bad[i][1]);
        TD_ASSERT_CONTAINS(err.msg, "is not a whole number from -1000000000 to 1000000000");
        td_simtrace_free(&t);
    }
}

/* ---- findings of the model targets ------------------------------------------------------ */

/* A model `trackday train` writes loads in infer/ (the trainer wrote preprocessing as a string,
 * which infer/ refused while td_infer_arena_size accepted it) and quantizes. */
TD_TEST(trained_model_loads_in_infer_and_quantizes)
{
    char dir[] = "/tmp/td_test_fuzz_train_XXXXXX", cmd[1024], path[1100];
    TD_ASSERT(mkdtemp(dir) != NULL);
    TD_FMT(cmd,
           "'%s' init '%s/m' --discrete --fast-actions --sensor state --track oval >/dev/null && "
           "'%s' train '%s/m' --iterations 1 --envs 2 --quiet >/dev/null",
           TD_TEST_TRACKDAY_BIN, dir, TD_TEST_TRACKDAY_BIN, dir);
    TD_ASSERT_EQ_INT(system(cmd), 0);
    TD_FMT(path, "%s/m/model/last.tdm", dir);
    td_infer_model *m = NULL;
    td_infer_err ierr;
    int rc = td_infer_open_file(&m, path, &ierr);
    TD_ASSERT_MSG(rc == 0, "%s", ierr.msg);
    float state[64] = {0};
    td_infer_obs obs = {NULL, NULL, state};
    td_infer_action act;
    TD_ASSERT_OK(td_infer_run(m, &obs, &act));
    TD_ASSERT(act.index >= 0 && act.index < td_infer_get_info(m)->n_actions);
    td_infer_close(m);
    TD_FMT(cmd, "'%s' quantize '%s' -o '%s/q.tdm' --calibrate 4 >/dev/null", TD_TEST_TRACKDAY_BIN,
           path, dir);
    TD_ASSERT_EQ_INT(system(cmd), 0);
    TD_FMT(cmd, "rm -rf '%s'", dir);
    TD_ASSERT_EQ_INT(system(cmd), 0);
}

static int fixed_obs(void *ctx, int i, td_infer_obs *obs)
{
    (void)i;
    *obs = *(const td_infer_obs *)ctx;
    return 0;
}

/* A one-tower continuous state model (state 2 -> gaussian 2) with the given head weights. */
static void *continuous_model(float weight, size_t *len)
{
    json_error_t jerr;
    json_t *topo_j = json_loads("{\"towers\": {\"policy\": {\"state\": [], \"head\": {\"type\": "
                                "\"gaussian\", \"n\": 2}}}}",
                                0, &jerr);
    json_t *inputs_j = json_loads("{\"state\": [2]}", 0, &jerr);
    json_t *extras =
        json_loads("{\"action_space_type\": \"continuous\", \"action_space\": {\"steering_angle\": "
                   "{\"low\": -20, \"high\": 30}, \"speed\": {\"low\": 0.5, \"high\": 3}}}",
                   0, &jerr);
    TD_ASSERT(topo_j && inputs_j && extras);
    td_nn_topology topo;
    td_err err;
    TD_ASSERT_OK(td_nn_topology_from_json(&topo, topo_j, inputs_j, &err));
    td_nn_net net;
    TD_ASSERT_OK(td_nn_net_init(&net, &topo.towers[0], 1, NULL, &err));
    const td_nn_tensor *w = td_nn_net_tensor(&net, "policy.head.weight");
    TD_ASSERT(w != NULL);
    for (size_t i = 0; i < w->n; i++)
        net.params[w->offset + i] = weight;
    char dir[] = "/tmp/td_test_fuzz_model_XXXXXX", path[128];
    TD_ASSERT(mkdtemp(dir) != NULL);
    TD_FMT(path, "%s/m.tdm", dir);
    const td_nn_net *nets[1] = {&net};
    TD_ASSERT_OK(td_nn_save(path, nets, 1, extras, &err));
    char *data;
    TD_ASSERT_OK(td_file_read(path, &data, len, &err));
    unlink(path);
    rmdir(dir);
    td_nn_net_free(&net);
    json_decref(topo_j);
    json_decref(inputs_j);
    json_decref(extras);
    return data;
}

/* An overflowing network (its mean is NaN) still commands a finite action in range; NaN weights
 * cannot be quantized; weights too small for an int8 scale quantize to zero without NaN. */
TD_TEST(nan_outputs_give_safe_actions_and_quantize_refuses_them)
{
    size_t len;
    void *buf = continuous_model(NAN, &len);
    td_infer_model *m = NULL;
    td_infer_err ierr;
    TD_ASSERT_OK(td_infer_open_buffer(&m, buf, len, &ierr));
    float state[2] = {1.0f, -1.0f};
    td_infer_obs obs = {NULL, NULL, state};
    td_infer_action act;
    TD_ASSERT_OK(td_infer_run(m, &obs, &act));
    TD_ASSERT(isnan(td_infer_output(m)[0]));
    TD_ASSERT_NEAR(act.steering_angle, 5.0, 1e-6); /* the middle of [-20, 30] */
    TD_ASSERT_NEAR(act.speed, 0.5, 1e-6);
    td_infer_close(m);

    td_infer_quant_options opt;
    td_infer_quant_options_default(&opt);
    opt.quantize_head = 1;
    void *q = NULL;
    size_t qlen;
    TD_ASSERT_EQ_INT(td_infer_quantize(buf, len, fixed_obs, &obs, 2, &opt, &q, &qlen, &ierr),
                     TD_INFER_EUNSUPPORTED);
    TD_ASSERT_CONTAINS(ierr.msg, "tensor policy.head.weight: element 0 is nan");
    td_free(buf);

    buf = continuous_model(1e-44f, &len);
    TD_ASSERT_OK(td_infer_quantize(buf, len, fixed_obs, &obs, 2, &opt, &q, &qlen, &ierr));
    TD_ASSERT_OK(td_infer_open_buffer(&m, q, qlen, &ierr));
    TD_ASSERT_OK(td_infer_run(m, &obs, &act));
    TD_ASSERT(isfinite(act.steering_angle) && isfinite(act.speed));
    td_infer_close(m);
    td_infer_free(q);
    td_free(buf);
}

/* ---- bounded work on geometry sizes ----------------------------------------------------- */

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A circle of n distinct centre points, radius 3 m (plus its closing row). */
static double *dense_circle(int n)
{
    double *rows = td_malloc(sizeof(double) * 6 * (size_t)(n + 1));
    TD_ASSERT(rows != NULL);
    for (int i = 0; i <= n; i++) {
        double a = 2.0 * M_PI * (i % n) / n, c = cos(a), s = sin(a);
        double r[6] = {3 * c, 3 * s, 2.55 * c, 2.55 * s, 3.45 * c, 3.45 * s};
        memcpy(rows + 6 * i, r, sizeof(r));
    }
    return rows;
}

/*
 * Loading and checking a route is near-linear in its rows however densely they are packed.
 * Every segment used to search all the segments within 2 m, and the check tested all pairs:
 * `tracks show` of 10000 rows on a 19 m circle (1.9 mm apart) took 7.9 s of CPU in the
 * release build, 20000 rows 131 s, 100000 rows more than 5 minutes (a worker held by one
 * upload). Now 10000 rows take 0.4 s in the sanitizer build; the bound is 12 times that and
 * below what the release build needed before. Routes over TD_TRACK_MAX_ROWS are refused.
 */
TD_TEST(dense_route_loads_and_checks_in_bounded_work)
{
    int n = 10000;
    double *rows = dense_circle(n);
    td_track t;
    td_err err;
    double t0 = cpu_seconds();
    TD_ASSERT_OK(td_track_from_rows(&t, rows, n + 1, "dense", NULL, &err));
    TD_ASSERT_OK(td_track_check(&t, 0.0, &err));
    double used = cpu_seconds() - t0;
    TD_ASSERT_MSG(used < 5.0, "loading and checking %d rows took %.1f s of CPU", n, used);
    printf("%d rows loaded and checked in %.2f s of CPU\n", n, used);
    /* The certificates skipped on the densest segments leave the queries exact. */
    td_track_proj full, inc = {.seg = 17};
    for (int k = 0; k < 50; k++) {
        double a = 0.37 * k, r = 2.6 + 0.02 * k;
        td_track_project(&t, r * cos(a), r * sin(a), &full);
        td_track_project_from(&t, r * cos(a), r * sin(a), &inc);
        TD_ASSERT_NEAR(inc.dist, full.dist, 1e-12);
        TD_ASSERT_EQ_INT(td_track_on_road(&t, &inc, r * cos(a), r * sin(a)),
                         td_track_on_road_slow(&t, r * cos(a), r * sin(a)));
    }
    td_track_free(&t);
    td_free(rows);

    n = TD_TRACK_MAX_ROWS;
    rows = dense_circle(n);
    TD_ASSERT_EQ_INT(td_track_from_rows(&t, rows, n + 1, "big", "big.npy", &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "big.npy: has 20001 rows; a route may have at most 20000");
    td_free(rows);
}

/*
 * Telemetry and reference summaries (fuzz_summary): a lidar's "no return" (+inf) and huge
 * values made the sums infinite, which JSON cannot hold: the summary wrote JSON without them
 * and refused to read it back. Merging two summaries could overflow the outcome counts
 * (undefined behaviour) and push frames and bin counts past JSON's int64.
 */
TD_TEST(summary_of_infinite_values_reads_back_and_merge_refuses_overflow)
{
    td_summary_layout l = {.lidar_dim = 4, .n_actions = 3};
    td_summary s, back;
    td_err err;
    float lidar[4] = {INFINITY, 1e30f, -INFINITY, NAN}, out[3] = {1e30f, -1e30f, 0};
    td_infer_obs obs = {NULL, lidar, NULL};
    TD_ASSERT_OK(td_summary_init(&s, &l, &err));
    for (int i = 0; i < 3; i++)
        td_summary_add(&s, &obs, out, 1e308);
    json_t *j = td_summary_to_json(&s);
    TD_ASSERT_OK(td_summary_from_json(&back, j, &err));
    json_decref(j);
    TD_ASSERT_EQ_INT((int)back.frames, 3);
    const td_hist *h = td_summary_find(&back, "lidar.sector.0");
    TD_ASSERT(h != NULL);
    TD_ASSERT(isfinite(h->sum) && isfinite(h->sum_sq) && isfinite(h->max));
    TD_ASSERT_EQ_INT((int)h->total, 3);
    TD_ASSERT(h->max == DBL_MAX);
    td_summary_free(&back);

    /* A merge that would pass int64 is refused and changes nothing. */
    td_summary big;
    TD_ASSERT_OK(td_summary_init(&big, &l, &err));
    big.frames = (uint64_t)INT64_MAX - 1;
    TD_ASSERT_EQ_INT(td_summary_merge(&big, &s, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "would overflow");
    TD_ASSERT(big.frames == (uint64_t)INT64_MAX - 1);
    big.frames = 0;
    big.outcomes.episodes = LONG_MAX;
    s.outcomes.episodes = 1;
    TD_ASSERT_EQ_INT(td_summary_merge(&big, &s, &err), TD_ERANGE);
    TD_ASSERT(big.outcomes.episodes == LONG_MAX);
    big.outcomes.episodes = 0;
    TD_ASSERT_OK(td_summary_merge(&big, &s, &err));
    TD_ASSERT_EQ_INT((int)big.frames, 3);
    td_summary_free(&big);
    td_summary_free(&s);
}

/* ---- findings of the replay target ------------------------------------------------------ */

/* A car pose no pixel index holds (X = 1.7e14 px on the top view: found by CI's 30 s run of
 * fuzz_replay, float-cast-overflow-car-pose) is not drawn, and nothing is cast out of range;
 * a pose on the view still draws, so the guard is not "draw nothing". */
TD_TEST(replay_pose_beyond_pixel_range_not_drawn)
{
    td_track t;
    td_err err;
    TD_ASSERT_OK(td_track_load(&t, TD_TEST_SOURCE_DIR "/tracks/oval.json", &err));
    td_topview v;
    TD_ASSERT_OK(td_topview_init(&v, &t, 200, 200, &err));
    int w = v.w, h = v.h;
    size_t n = (size_t)w * h * 3;
    uint8_t *img = td_malloc(n), *ref = td_malloc(n);
    memset(img, 0, n);
    const uint8_t red[3] = {200, 0, 0};
    const double far[][2] = {{1e13, 0},     {-1e13, 0},     {0, 1e300}, {-1e300, 1e300},
                             {INFINITY, 0}, {0, -INFINITY}, {NAN, 0.0}, {0.0, NAN}};
    for (size_t k = 0; k < sizeof(far) / sizeof(far[0]); k++) {
        td_topview_draw_car(&v, img, w, h, 0, 0, far[k][0], far[k][1], 0.3, 0.3, 0.2, red);
        td_raster_line(img, w, h, far[k][0], far[k][1], far[k][0] + 1, far[k][1], 3, red);
        td_raster_line(img, w, h, 5, 5, far[k][0], far[k][1], 3, red);
    }
    memset(ref, 0, n);
    TD_ASSERT_MSG(memcmp(img, ref, n) == 0, "a pose off the view drew pixels");
    double cx = 0.5 * (t.min_x + t.max_x), cy = 0.5 * (t.min_y + t.max_y);
    td_topview_draw_car(&v, img, w, h, 0, 0, cx, cy, 0.3, 0.3, 0.2, red);
    TD_ASSERT_MSG(memcmp(img, ref, n) != 0, "a pose on the view drew nothing");
    memset(img, 0, n);
    td_raster_line(img, w, h, 5, 5, w - 5, h - 5, 3, red);
    TD_ASSERT_MSG(memcmp(img, ref, n) != 0, "a line on the view drew nothing");
    td_free(img);
    td_free(ref);
    td_topview_free(&v);
    td_track_free(&t);

    /* The committed finding replays through the whole renderer. */
    char frames[1024];
    td_simtrace tr;
    td_simtrace_init(&tr);
    TD_ASSERT_OK(td_simtrace_read(&tr, REGRESS "/replay/float-cast-car-pose", &err));
    TD_ASSERT(tr.n >= 2);
    TD_ASSERT_OK(td_track_load(&t, TD_TEST_SOURCE_DIR "/tracks/oval.json", &err));
    TD_FMT(frames, "%s/frames", td_test_tmpdir());
    td_replay_options o;
    td_replay_options_default(&o);
    o.width = 320;
    td_replay_stats stats;
    int rc = td_replay_simtrace(&t, tr.rows, tr.n < 3 ? tr.n : 3, &o, frames, &stats, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
    TD_ASSERT_EQ_INT(stats.frames, tr.n < 3 ? tr.n : 3);
    td_simtrace_free(&tr);
    td_track_free(&t);
}
