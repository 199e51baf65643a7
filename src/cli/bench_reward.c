/*
 * bench_reward.c - `trackday bench reward`: the cost of one reward call of the DeepRacer
 * console's default follow-the-centre function (batches of 64 cars, params varying as on a
 * real track) in the sandboxed Python process (the default), in the embedded interpreter of
 * this process (TRACKDAY_SANDBOX=none, what trackday did before the sandbox), and in the
 * built-in C version, all in the same run. Prints JSON lines {"bench", "value", "unit"}.
 * Each is timed in CPU time (the calling thread's, plus the reward process's for the
 * sandboxed host: its work happens there) and in wall-clock time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "trackday/reward.h"
#include "trackday/track.h"

static const char follow_center_py[] = "def reward_function(params):\n"
                                       "    track_width = params['track_width']\n"
                                       "    distance_from_center = params['distance_from_center']\n"
                                       "    marker_1 = 0.1 * track_width\n"
                                       "    marker_2 = 0.25 * track_width\n"
                                       "    marker_3 = 0.5 * track_width\n"
                                       "    if distance_from_center <= marker_1:\n"
                                       "        reward = 1.0\n"
                                       "    elif distance_from_center <= marker_2:\n"
                                       "        reward = 0.5\n"
                                       "    elif distance_from_center <= marker_3:\n"
                                       "        reward = 0.1\n"
                                       "    else:\n"
                                       "        reward = 1e-3\n"
                                       "    return float(reward)\n";

static const char constant_py[] = "def reward_function(params):\n"
                                  "    return 1.0\n";

/* The calling thread's CPU time, seconds. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* What a call costs: CPU time (this thread plus, for a sandboxed reward, its reward process)
 * and wall-clock time, microseconds per call. */
typedef struct cost {
    double cpu_us, wall_us, checksum;
} cost;

/* Times r over `rounds` passes of the pool in batches of `batch`; the fastest of three tries
 * for each clock, so that a busy machine's pauses count less. */
static int time_host(td_reward *r, const td_params *pool, int pool_n, int batch, int rounds,
                     cost *c)
{
    float *out = td_malloc(sizeof(float) * (size_t)batch);
    if (!out)
        return TD_ENOMEM;
    td_err err = {0};
    double sum = 0;
    long calls = 0;
    /* Warm up (first-call costs: caches, the waypoints list). */
    if (td_reward_batch(r, pool, batch, out, &err)) {
        fprintf(stderr, "trackday: %s\n", err.msg);
        td_free(out);
        return TD_EREWARD;
    }
    double best_wall = 1e30, best_cpu = 1e30;
    for (int t = 0; t < 3; t++) {
        calls = 0;
        double t0 = td_time_now(), c0 = thread_cpu_s(), p0 = td_reward_process_cpu_s(r);
        for (int k = 0; k < rounds; k++) {
            for (int off = 0; off + batch <= pool_n; off += batch) {
                if (td_reward_batch(r, pool + off, batch, out, &err)) {
                    fprintf(stderr, "trackday: %s\n", err.msg);
                    td_free(out);
                    return TD_EREWARD;
                }
                sum += out[0];
                calls += batch;
            }
        }
        double wall = td_time_now() - t0, cpu = thread_cpu_s() - c0;
        if (p0 >= 0)
            cpu += td_reward_process_cpu_s(r) - p0;
        if (wall < best_wall)
            best_wall = wall;
        if (cpu < best_cpu)
            best_cpu = cpu;
    }
    c->wall_us = best_wall * 1e6 / (double)calls;
    c->cpu_us = best_cpu * 1e6 / (double)calls;
    c->checksum = sum;
    td_free(out);
    return 0;
}

/* Opens text as DIR/name, sandboxed or (in_process) in this process's interpreter. */
static int open_py(const char *dir, const char *name, const char *text, const td_track *t,
                   int in_process, td_reward **r)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    td_err err = {0};
    char *saved = getenv("TRACKDAY_SANDBOX") ? td_strdup(getenv("TRACKDAY_SANDBOX")) : NULL;
    if (in_process)
        setenv("TRACKDAY_SANDBOX", "none", 1);
    int rc =
        td_file_write_atomic(path, text, strlen(text), &err) || td_reward_open(r, path, t, &err);
    if (saved)
        setenv("TRACKDAY_SANDBOX", saved, 1);
    else
        unsetenv("TRACKDAY_SANDBOX");
    td_free(saved);
    if (rc) {
        fprintf(stderr, "trackday: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int bench_reward(int argc, char **argv)
{
    const char *track_arg = "reInvent2019_track";
    int rounds = 200;
    const td__cli_opt opts[] = {
        TD_CLI_STRING(NULL, "--track", &track_arg, "T", "track (default reInvent2019_track)"),
        TD_CLI_INT("--rounds", &rounds, 1, 1000000, "N", "batches timed (default 200)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "bench reward",
        .about = "Times one reward call of the default DeepRacer follow-centre function, "
                 "batches of 64 cars: in the sandboxed Python process, in this process's "
                 "interpreter (TRACKDAY_SANDBOX=none) and as builtin:follow_center_line, in one "
                 "run.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (!td_reward_python_available())
        return td__cli_fail("bench reward: this trackday was built without Python");
    char tpath[4096];
    if (td__cli_track_path(track_arg, tpath, sizeof(tpath)))
        return 1;
    td_track track;
    td_err err = {0};
    if (td_track_load(&track, tpath, &err))
        return td__cli_fail("%s", err.msg);

    /* A pool of params from random poses around the lap: near the centre line mostly, some
     * near the borders, varied headings and speeds, as a training batch would see. */
    enum { BATCH = 64, POOL = BATCH * 16 };
    td_params *pool = td_malloc(sizeof(td_params) * POOL);
    if (!pool) {
        td_track_free(&track);
        return td__cli_fail("out of memory");
    }
    td_rng rng;
    td_rng_seed(&rng, 1, 0);
    for (int i = 0; i < POOL; i++) {
        td_reward_probe pr = {0};
        double s = td_rng_range(&rng, 0, track.length), x, y, h;
        td_track_point_at(&track, s, 0, &x, &y, &h);
        double w = track.width[0];
        td_track_point_at(&track, s, td_rng_range(&rng, -0.55, 0.55) * w, &pr.x, &pr.y, &h);
        pr.heading_deg = h * 180.0 / 3.14159265358979 + td_rng_range(&rng, -20, 20);
        pr.speed = td_rng_range(&rng, 0.5, 4.0);
        pr.steering_deg = td_rng_range(&rng, -30, 30);
        pr.steps = (int)td_rng_below(&rng, 400) + 1;
        td_reward_probe_params(&track, &pr, &pool[i]);
    }

    char dir[] = "/tmp/td_bench_reward_XXXXXX";
    if (!mkdtemp(dir)) {
        td_free(pool);
        td_track_free(&track);
        return td__cli_fail("cannot create a temporary directory");
    }
    td_reward *py = NULL, *py0 = NULL, *c = NULL, *sb = NULL, *sb0 = NULL;
    int rc = 1;
    cost cpy, cpy0, cc, csb, csb0;
    if (open_py(dir, "reward_function.py", follow_center_py, &track, 1, &py) ||
        open_py(dir, "constant.py", constant_py, &track, 1, &py0) ||
        open_py(dir, "reward_function_sb.py", follow_center_py, &track, 0, &sb) ||
        open_py(dir, "constant_sb.py", constant_py, &track, 0, &sb0))
        goto done;
    if (td_reward_open(&c, "builtin:follow_center_line", &track, &err)) {
        fprintf(stderr, "trackday: %s\n", err.msg);
        goto done;
    }
    /* The C function is so fast that it needs many more rounds to measure. */
    if (time_host(sb, pool, POOL, BATCH, rounds, &csb) ||
        time_host(sb0, pool, POOL, BATCH, rounds, &csb0) ||
        time_host(py, pool, POOL, BATCH, rounds, &cpy) ||
        time_host(py0, pool, POOL, BATCH, rounds, &cpy0) ||
        time_host(c, pool, POOL, BATCH, rounds * 50, &cc))
        goto done;
    /* "value" is CPU time (both processes for the sandboxed host): what a call costs the
     * machine, little changed by other load; "wall_us" is the caller's waiting time. */
    printf("{\"bench\": \"python_reward_us_per_call\", \"value\": %.4f, \"unit\": \"us\", "
           "\"wall_us\": %.4f, \"batch\": %d, \"function\": \"follow_center_line (DeepRacer "
           "default)\", \"track\": \"%s\", \"host\": \"sandboxed process\", \"clock\": \"cpu "
           "of both processes\", \"target_us\": 2}\n",
           csb.cpu_us, csb.wall_us, BATCH, track.name);
    printf("{\"bench\": \"python_reward_overhead_us_per_call\", \"value\": %.4f, \"unit\": "
           "\"us\", \"wall_us\": %.4f, \"batch\": %d, \"function\": \"return 1.0\", \"host\": "
           "\"sandboxed process\"}\n",
           csb0.cpu_us, csb0.wall_us, BATCH);
    printf("{\"bench\": \"python_reward_in_process_us_per_call\", \"value\": %.4f, \"unit\": "
           "\"us\", \"wall_us\": %.4f, \"batch\": %d, \"function\": \"follow_center_line "
           "(DeepRacer default)\", \"host\": \"this process (TRACKDAY_SANDBOX=none)\", "
           "\"clock\": \"cpu of this thread\"}\n",
           cpy.cpu_us, cpy.wall_us, BATCH);
    printf("{\"bench\": \"python_reward_in_process_overhead_us_per_call\", \"value\": %.4f, "
           "\"unit\": \"us\", \"wall_us\": %.4f, \"batch\": %d, \"function\": \"return 1.0\"}\n",
           cpy0.cpu_us, cpy0.wall_us, BATCH);
    printf("{\"bench\": \"sandbox_in_process_ratio\", \"value\": %.3f, \"unit\": \"ratio\", "
           "\"wall_ratio\": %.3f, \"function\": \"follow_center_line\"}\n",
           cpy.cpu_us > 0 ? csb.cpu_us / cpy.cpu_us : 0,
           cpy.wall_us > 0 ? csb.wall_us / cpy.wall_us : 0);
    printf("{\"bench\": \"c_reward_us_per_call\", \"value\": %.5f, \"unit\": \"us\", "
           "\"wall_us\": %.5f, \"batch\": %d, \"function\": \"builtin:follow_center_line\"}\n",
           cc.cpu_us, cc.wall_us, BATCH);
    printf("{\"bench\": \"python_c_reward_ratio\", \"value\": %.1f, \"unit\": \"ratio\"}\n",
           cc.cpu_us > 0 ? csb.cpu_us / cc.cpu_us : 0);
    /* The sandboxed and the in-process host computed the same rewards. */
    rc = cpy.checksum == csb.checksum && cpy0.checksum == csb0.checksum ? 0 : 1;
    if (rc)
        fprintf(stderr, "trackday: the sandboxed and in-process rewards differ (%g vs %g)\n",
                csb.checksum, cpy.checksum);
done:
    td_reward_close(py);
    td_reward_close(py0);
    td_reward_close(sb);
    td_reward_close(sb0);
    td_reward_close(c);
    char f[1100];
    snprintf(f, sizeof(f), "%s/reward_function.py", dir);
    unlink(f);
    snprintf(f, sizeof(f), "%s/constant.py", dir);
    unlink(f);
    snprintf(f, sizeof(f), "%s/reward_function_sb.py", dir);
    unlink(f);
    snprintf(f, sizeof(f), "%s/constant_sb.py", dir);
    unlink(f);
    rmdir(dir);
    td_free(pool);
    td_track_free(&track);
    return rc;
}

TD_CLI_BENCH("reward", "Python reward call vs built-in C, us per call", bench_reward)
