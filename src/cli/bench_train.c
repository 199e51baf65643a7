/*
 * bench_train.c - `trackday bench train`: training throughput. Runs short PPO trainings in a
 * temporary model directory (state sensor, then the SHALLOW camera) and prints env steps per
 * second during rollouts (simulation + policy inference) and learner samples per second
 * during updates (forward + backward + Adam of the policy and value towers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "trackday/nn.h"
#include "trackday/trainer.h"

static double g_sgemm; /* baseline of this run, GFLOP/s */

typedef struct {
    double collect_s, update_s;
    long steps, samples;
    int iterations;
} totals;

static void on_progress(void *user, const td_train_progress *p)
{
    totals *t = user;
    /* The first iteration warms caches and the allocator; count the rest. */
    if (p->iteration > 1) {
        t->collect_s += p->collect_s;
        t->update_s += p->update_s;
        t->steps += p->iteration_steps;
        t->samples += p->update_samples;
        t->iterations++;
    }
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    td_err err;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return td_file_write_atomic(path, text, strlen(text), &err);
}

static int one(const char *label, const char *sensor, const char *network, int iterations,
               const char *track_path, int threads)
{
    char dir[] = "/tmp/td_bench_train_XXXXXX", meta[512], cmd[600];
    td_train_options o;
    td_train_result r;
    totals t = {0};
    td_err err;
    int rc;
    if (!mkdtemp(dir))
        return td__cli_fail("cannot create a temporary directory");
    snprintf(meta, sizeof(meta),
             "{\"sensor\": [\"%s\"], \"neural_network\": \"%s\", \"action_space\": ["
             "{\"steering_angle\": -30, \"speed\": 1}, {\"steering_angle\": 0, \"speed\": 1},"
             "{\"steering_angle\": 30, \"speed\": 1}, {\"steering_angle\": 0, \"speed\": 2}]}",
             sensor, network);
    if (write_file(dir, "model_metadata.json", meta) ||
        write_file(dir, "hyperparameters.json", "{\"num_epochs\": 3}"))
        return td__cli_fail("cannot write the model directory %s", dir);
    td_train_options_default(&o);
    o.dir = dir;
    o.track_path = track_path;
    o.reward_spec = "builtin:follow_center_line";
    o.max_iterations = iterations + 1;
    o.threads = threads;
    o.simtrace = 0;
    o.progress = on_progress;
    o.progress_user = &t;
    rc = td_train_run(&o, &r, &err);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "trackday: could not remove %s\n", dir);
    if (rc)
        return td__cli_fail("%s", err.msg);
    printf("{\"bench\": \"train_%s_env_steps_per_s\", \"value\": %.0f, \"unit\": \"steps/s\", "
           "\"iterations\": %d}\n",
           label, t.collect_s > 0 ? t.steps / t.collect_s : 0, t.iterations);
    {
        double sps = t.update_s > 0 ? t.samples / t.update_s : 0;
        printf("{\"bench\": \"train_%s_learner_samples_per_s\", \"value\": %.0f, \"unit\": "
               "\"samples/s\", \"iterations\": %d, \"per_baseline_gflop\": %.3f}\n",
               label, sps, t.iterations, g_sgemm > 0 ? sps / g_sgemm : 0);
    }
    fflush(stdout);
    return 0;
}

/* The machine's speed in the same run: one-thread sgemm (the learner's building block). */
static double baseline_sgemm_gflops(void)
{
    enum { N = 384 };
    float *a = td_malloc(sizeof(float) * N * N), *b = td_malloc(sizeof(float) * N * N),
          *c = td_malloc(sizeof(float) * N * N);
    double best = 0;
    if (a && b && c) {
        for (int i = 0; i < N * N; i++) {
            a[i] = (float)(i % 7) * 0.1f;
            b[i] = (float)(i % 5) * 0.2f;
        }
        td_nn_init();
        for (int r = 0; r < 5; r++) {
            double t0 = td_time_now();
            td_nn_sgemm(0, 0, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
            double dt = td_time_now() - t0;
            if (dt > 0 && 2.0 * N * N * N / dt / 1e9 > best)
                best = 2.0 * N * N * N / dt / 1e9;
        }
    }
    td_free(a);
    td_free(b);
    td_free(c);
    return best;
}

static int bench_train(int argc, char **argv)
{
    char track[1200];
    const char *track_arg = "reinvent_base";
    int camera = 1;
    int state_only = 0;
    const td__cli_opt opts[] = {
        TD_CLI_STRING(NULL, "--track", &track_arg, "T", "track (default reinvent_base)"),
        TD_CLI_FLAG("--state-only", &state_only, "the state sensor only"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "bench train",
        .about = "Prints JSON lines: train_state_env_steps_per_s, "
                 "train_state_learner_samples_per_s and the same for the SHALLOW camera.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    camera = !state_only;
    if (td__cli_track_path(track_arg, track, sizeof(track)))
        return 1;
    g_sgemm = baseline_sgemm_gflops();
    printf("{\"bench\": \"baseline_sgemm_gflops\", \"value\": %.1f, \"unit\": \"GFLOP/s\"}\n",
           g_sgemm);
    if (one("state", "STATE", "MLP", 20, track, 1))
        return 1;
    if (camera &&
        one("camera", "FRONT_FACING_CAMERA", "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", 2, track, 1))
        return 1;
    return 0;
}

TD_CLI_BENCH("train", "training throughput: env steps/s and learner samples/s", bench_train)
