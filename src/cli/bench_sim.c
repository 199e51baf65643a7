/*
 * bench_sim.c - `trackday bench sim`: steps per second of the vector env with the state
 * sensor (params and the default reward included), with the lidar and with the grey camera,
 * on one thread and on all threads, plus a baseline measured in the same run (a fixed
 * dependent floating-point loop) so results compare across machines as ratios. Each line
 * also gives the rate per process CPU second, which a machine busy with other work
 * stretches much less than wall time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "trackday/sim.h"

typedef struct bench_opts {
    const char *track_path;
    double seconds;
    int envs;
    int threads;
    const char *only; /* state, lidar or camera; NULL for all */
} bench_opts;

/* Process CPU seconds (all threads): a loaded machine stretches wall time, not this. */
static void emit(const char *name, double value, const char *unit, int threads, double baseline,
                 double per_cpu_s, const char *track)
{
    printf("{\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"threads\": %d, "
           "\"ratio_to_baseline\": %.6g, \"per_cpu_second\": %.6g, \"track\": \"%s\"}\n",
           name, value, unit, threads, baseline > 0 ? value / baseline : 0.0, per_cpu_s, track);
    fflush(stdout);
}

/* Millions of dependent multiply-adds per second: a CPU-speed yardstick. The empty asm
 * keeps the compiler from folding the chain. */
static double baseline_mflops(double seconds)
{
    volatile double sink;
    double x = 1.0, t0 = td_time_now(), el;
    long iters = 0;
    do {
        for (int i = 0; i < 1000000; i++) {
            x = x * 0.9999999 + 1e-7;
            __asm__ volatile("" : "+x"(x));
        }
        iters += 1000000;
        el = td_time_now() - t0;
    } while (el < seconds);
    sink = x;
    (void)sink;
    return iters / el / 1e6;
}

/* Runs the env for about `seconds` and returns car-steps per second. */
static int measure(const bench_opts *o, const td_track *t, int sensors, int dr, int threads,
                   double *out, double *out_cpu)
{
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.sensors = sensors;
    /* Domain randomization: every episode a new look with the real camera's effects. */
    cfg.race.enable_domain_randomization = dr;
    cfg.threads = threads;
    cfg.seed = 1;
    int n = o->envs;
    td_vecenv env;
    td_err err;
    if (td_vecenv_init(&env, &cfg, t, n, &err))
        return td__cli_fail("%s", err.msg);
    int cam = td_vecenv_camera_bytes(&cfg), lid = td_vecenv_lidar_dim(&cfg);
    /* A table of mild random actions (steering +-12 degrees, 1-3 m/s) cycled per car, so
     * episodes last tens to hundreds of steps as in early training. */
    enum { TABLE = 256 };
    float *table = td_malloc(sizeof(float) * 2 * TABLE);
    float *actions = td_malloc(sizeof(float) * 2 * (size_t)n);
    float *state = td_malloc(sizeof(float) * TD_STATE_DIM * (size_t)n);
    float *lidar = lid ? td_malloc(sizeof(float) * (size_t)lid * (size_t)n) : NULL;
    uint8_t *camera = cam ? td_malloc((size_t)cam * (size_t)n) : NULL;
    float *rewards = td_malloc(sizeof(float) * (size_t)n);
    uint8_t *dones = td_malloc((size_t)n);
    td_params *params = td_malloc(sizeof(td_params) * (size_t)n);
    int rc = 0;
    if (!table || !actions || !state || (lid && !lidar) || (cam && !camera) || !rewards || !dones ||
        !params) {
        rc = td__cli_fail("bench sim: out of memory");
        goto out;
    }
    td_rng rng;
    td_rng_seed(&rng, 5, 0);
    for (int k = 0; k < TABLE; k++) {
        table[2 * k] = (float)td_rng_range(&rng, -12, 12);
        table[2 * k + 1] = (float)td_rng_range(&rng, 1, 3);
    }
    env.actions = actions;
    env.obs_state = state;
    env.obs_lidar = lidar;
    env.obs_camera = camera;
    env.rewards = rewards;
    env.dones = dones;
    env.params = params;
    td_vecenv_reset(&env);
    long steps = 0;
    double t0 = 0, el = 0, c0 = 0;
    for (long k = 0;; k++) {
        for (int i = 0; i < n; i++) {
            int j = (int)((k + 37 * i) % TABLE);
            actions[2 * i] = table[2 * j];
            actions[2 * i + 1] = table[2 * j + 1];
        }
        td_vecenv_step(&env);
        if (k == 20) {
            t0 = td_time_now(); /* after warm-up */
            c0 = td_time_cpu();
        }
        if (k > 20) {
            steps++;
            if ((steps & 15) == 0 && (el = td_time_now() - t0) >= o->seconds)
                break;
        }
    }
    *out = (double)steps * n / el;
    *out_cpu = (double)steps * n / (td_time_cpu() - c0);
out:
    td_vecenv_free(&env);
    td_free(table);
    td_free(actions);
    td_free(state);
    td_free(lidar);
    td_free(camera);
    td_free(rewards);
    td_free(dones);
    td_free(params);
    return rc;
}

static int bench_sim(int argc, char **argv)
{
    bench_opts o = {"reInvent2019_track", 2.0, 64, 0, NULL};
    const td__cli_opt opts[] = {
        TD_CLI_STRING(NULL, "--track", &o.track_path, "T", "track (default reInvent2019_track)"),
        TD_CLI_DOUBLE("--seconds", &o.seconds, 0.001, 3600, "S",
                      "time per measurement (default 2)"),
        TD_CLI_INT("--envs", &o.envs, 1, 65536, "N", "cars (default 64)"),
        TD_CLI_INT("--threads", &o.threads, 1, 64, "N", "threads of the threaded runs"),
        TD_CLI_CHOICE("--only", &o.only, "state|lidar|camera", "one sensor only"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "bench sim",
        .about = "Prints JSON lines: sim_state_steps_per_s, sim_lidar_steps_per_s, "
                 "sim_camera_frames_per_s, sim_camera_dr_frames_per_s (domain randomization: a "
                 "new look with the real camera's effects every episode) on one thread and with "
                 "_threads on all threads (default: the online CPUs), and baseline_mflops.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (o.threads == 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = nc < 1 ? 1 : (nc > 64 ? 64 : (int)nc);
    }
    char path[4096];
    if (td__cli_track_path(o.track_path, path, sizeof(path)))
        return 1;
    td_track t;
    td_err err;
    if (td_track_load(&t, path, &err))
        return td__cli_fail("%s", err.msg);
    double base = baseline_mflops(o.seconds < 1 ? o.seconds : 1.0);
    emit("baseline_mflops", base, "Mflop/s", 1, base, 0.0, t.name);
    static const struct {
        const char *name;
        const char *unit;
        int sensors, dr;
    } runs[] = {
        {"sim_state_steps_per_s", "steps/s", TD_SENSOR_STATE, 0},
        {"sim_lidar_steps_per_s", "steps/s", TD_SENSOR_STATE | TD_SENSOR_LIDAR, 0},
        {"sim_camera_frames_per_s", "frames/s", TD_SENSOR_CAMERA, 0},
        {"sim_camera_dr_frames_per_s", "frames/s", TD_SENSOR_CAMERA, 1},
    };
    int rc = 0;
    for (int threaded = 0; threaded < 2 && !rc; threaded++) {
        if (threaded && o.threads == 1)
            break;
        for (int r = 0; r < 4 && !rc; r++) {
            double v = 0, vc = 0;
            if (o.only && !strstr(runs[r].name, o.only))
                continue;
            int th = threaded ? o.threads : 1;
            rc = measure(&o, &t, runs[r].sensors, runs[r].dr, th, &v, &vc);
            if (rc)
                break;
            char name[96];
            snprintf(name, sizeof(name), "%s%s", runs[r].name, threaded ? "_threads" : "");
            emit(name, v, runs[r].unit, th, base, vc, t.name);
        }
    }
    td_track_free(&t);
    return rc;
}

TD_CLI_BENCH("sim", "vector env steps/s: state, lidar, camera; one and all threads", bench_sim)
