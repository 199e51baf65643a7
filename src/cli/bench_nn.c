/*
 * bench_nn.c - `trackday bench nn`: the nn engine's speed against the machine's own sgemm,
 * measured in the same run on one thread. Training throughput of DeepRacer's SHALLOW PPO
 * towers (policy + value on one 120x160x1 camera, batch 64, forward + backward + Adam), its
 * achieved GFLOP/s and ratio to a 512^3 sgemm, single-frame inference latency, and a small
 * state-MLP's training throughput. Prints JSON lines {"bench", "value", "unit"}.
 *
 * Times are this process's CPU time, not wall time: the engine runs on one thread, and on a
 * shared machine CPU time keeps the ratio to sgemm meaningful while others compete for the
 * cores (on an idle machine the two agree). Training and sgemm alternate in rounds and each
 * reports its best round, so a neighbour's burst of cache traffic skews neither alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/infer_cli.h"
#include "trackday/nn.h"

static void emit(const char *bench, double value, const char *unit)
{
    printf("{\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", bench, value, unit);
    fflush(stdout);
}

/* ---- sgemm -------------------------------------------------------------------------------- */

static double bench_sgemm(double seconds)
{
    const int n = 512;
    float *a = td_malloc_aligned(64, sizeof(float) * n * n);
    float *b = td_malloc_aligned(64, sizeof(float) * n * n);
    float *c = td_malloc_aligned(64, sizeof(float) * n * n);
    if (!a || !b || !c) {
        td_free(a);
        td_free(b);
        td_free(c);
        return 0;
    }
    td_rng rng;
    td_rng_seed(&rng, 1, 0);
    for (int i = 0; i < n * n; i++) {
        a[i] = (float)td_rng_range(&rng, -1, 1);
        b[i] = (float)td_rng_range(&rng, -1, 1);
    }
    td_nn_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm up */
    long reps = 0;
    double t0 = td_time_cpu(), t;
    do {
        td_nn_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        reps++;
        t = td_time_cpu() - t0;
    } while (t < seconds);
    td_free(a);
    td_free(b);
    td_free(c);
    return 2.0 * n * n * n * reps / t * 1e-9;
}

/* ---- PPO-style training step of two towers ----------------------------------------------------
 */

/*
 * FLOPs of one training sample: forward, weight gradients and input gradients are each a
 * product of the forward's size, except that the first layer of each branch needs no input
 * gradient.
 */
static double train_flops(const td_nn_net *net)
{
    const td_nn_tower *t = &net->spec;
    double first = 0;
    if (t->n_camera) {
        const td_nn_conv_spec *c = &t->camera[0];
        int oh = td_nn_conv2d_out_dim(t->camera_h, c->kernel, c->stride);
        int ow = td_nn_conv2d_out_dim(t->camera_w, c->kernel, c->stride);
        first += 2.0 * oh * ow * c->filters * c->kernel * c->kernel * t->camera_c;
    }
    if (t->n_lidar)
        first += 2.0 * t->lidar_dim * t->lidar[0];
    if (t->n_state)
        first += 2.0 * t->state_dim * t->state[0];
    return 3.0 * net->flops_per_sample - first;
}

typedef struct {
    td_nn_net policy, value;
    td_nn_input in;
    float *dout_policy, *dout_value, *scratch;
    int B;
} ppo_pair;

/*
 * One minibatch step as PPO's would be: policy logits -> log-softmax -> a gradient on the
 * log-probabilities, value -> MSE gradient; backward; Adam on both towers.
 */
static int ppo_step(ppo_pair *p, const td_nn_adam_config *cfg, const float *targets)
{
    int B = p->B, n = p->policy.spec.n_out, rc;
    if ((rc = td_nn_net_forward(&p->policy, &p->in, B)) ||
        (rc = td_nn_net_forward(&p->value, &p->in, B)))
        return rc;
    td_nn_log_softmax_forward(p->scratch, p->policy.out, B, n);
    memset(p->dout_policy, 0, sizeof(float) * (size_t)B * n);
    float *dlogp = p->scratch + (size_t)B * n;
    for (int i = 0; i < B * n; i++)
        dlogp[i] = (i % n == 0) ? -1.0f / B : 0.0f;
    td_nn_log_softmax_backward(p->dout_policy, dlogp, p->scratch, B, n);
    memset(p->dout_value, 0, sizeof(float) * (size_t)B);
    td_nn_mse_backward(p->dout_value, p->value.out, targets, B, 0.5f);
    td_nn_net_zero_grad(&p->policy);
    td_nn_net_zero_grad(&p->value);
    if ((rc = td_nn_net_backward(&p->policy, p->dout_policy, B)) ||
        (rc = td_nn_net_backward(&p->value, p->dout_value, B)))
        return rc;
    td_nn_adam_step(&p->policy, cfg);
    td_nn_adam_step(&p->value, cfg);
    return 0;
}

/*
 * Trains for about `seconds`; returns samples/s (0 on error, message printed). With
 * sgemm_gf, the time is split into rounds that alternate training and the 512^3 sgemm, and
 * both report their best round: a neighbour's burst on a shared machine then hits neither
 * side of the ratio alone.
 */
static double bench_ppo(const td_nn_topology *topo, int B, double seconds, double *flops,
                        double *infer_ms, double *sgemm_gf)
{
    ppo_pair p;
    memset(&p, 0, sizeof(p));
    p.B = B;
    td_rng rng;
    td_rng_seed(&rng, 7, 0);
    td_err err = {0};
    double rate = 0;
    const td_nn_tower *tp = td_nn_topology_find(topo, "policy");
    const td_nn_tower *tv = td_nn_topology_find(topo, "value");
    uint8_t *cam = NULL;
    float *state = NULL, *targets = NULL;
    if (td_nn_net_init(&p.policy, tp, B, &rng, &err) ||
        td_nn_net_init(&p.value, tv, B, &rng, &err)) {
        fprintf(stderr, "trackday: %s\n", err.msg);
        goto done;
    }
    size_t ncam = (size_t)B * tp->camera_h * tp->camera_w * tp->camera_c;
    cam = td_malloc(ncam ? ncam : 1);
    state = td_malloc(sizeof(float) * (size_t)B * (tp->state_dim ? tp->state_dim : 1));
    targets = td_malloc(sizeof(float) * (size_t)B);
    p.dout_policy = td_malloc(sizeof(float) * (size_t)B * tp->n_out);
    p.dout_value = td_malloc(sizeof(float) * (size_t)B);
    p.scratch = td_malloc(sizeof(float) * (size_t)B * tp->n_out * 2);
    if (!cam || !state || !targets || !p.dout_policy || !p.dout_value || !p.scratch) {
        fprintf(stderr, "trackday: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < ncam; i++)
        cam[i] = (uint8_t)td_rng_below(&rng, 256);
    for (int i = 0; i < B * tp->state_dim; i++)
        state[i] = (float)td_rng_range(&rng, -1, 1);
    for (int i = 0; i < B; i++)
        targets[i] = (float)td_rng_range(&rng, -1, 1);
    p.in.camera_u8 = tp->camera_h ? cam : NULL;
    p.in.state = tp->state_dim ? state : NULL;
    td_nn_adam_config cfg;
    td_nn_adam_config_default(&cfg);
    if (ppo_step(&p, &cfg, targets)) /* warm up: page in every buffer */
        goto done;
    int rounds = sgemm_gf ? 4 : 1;
    double t0, t;
    for (int r = 0; r < rounds; r++) {
        if (sgemm_gf) {
            double g = bench_sgemm(seconds / (2 * rounds));
            *sgemm_gf = g > *sgemm_gf ? g : *sgemm_gf;
        }
        long steps = 0;
        t0 = td_time_cpu();
        do {
            if (ppo_step(&p, &cfg, targets)) {
                rate = 0;
                goto done;
            }
            steps++;
            t = td_time_cpu() - t0;
        } while (t < seconds / rounds);
        double round_rate = (double)steps * B / t;
        rate = round_rate > rate ? round_rate : rate;
    }
    *flops = train_flops(&p.policy) + train_flops(&p.value);
    if (infer_ms) {
        /* single-frame policy inference, as on the car */
        td_nn_input one = p.in;
        long reps = 0;
        td_nn_net_forward(&p.policy, &one, 1);
        t0 = td_time_cpu();
        do {
            td_nn_net_forward(&p.policy, &one, 1);
            reps++;
            t = td_time_cpu() - t0;
        } while (t < seconds / 2);
        *infer_ms = t / reps * 1e3;
    }
done:
    td_free(cam);
    td_free(state);
    td_free(targets);
    td_free(p.dout_policy);
    td_free(p.dout_value);
    td_free(p.scratch);
    td_nn_net_free(&p.policy);
    td_nn_net_free(&p.value);
    return rate;
}

static int bench_nn(int argc, char **argv)
{
    double seconds = 2.0;
    const td__cli_opt opts[] = {
        TD_CLI_DOUBLE("--seconds", &seconds, 0.001, 3600, "S", "time per measurement (default 2)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "bench nn",
        .about = "sgemm (512^3, 1 thread), SHALLOW policy+value training (120x160x1 camera, batch "
                 "64, forward + backward + Adam) and its ratio to sgemm, single-frame inference, "
                 "and a 2x64 state MLP's training.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    const char *backend = td_nn_init();
    td_nn_topology topo;
    td_err err = {0};
    td_nn_io_spec io = {.camera_h = 120, .camera_w = 160, .camera_c = 1, .n_actions = 10};
    if (td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", &io, &err))
        return td__cli_fail("%s", err.msg);
    /* sgemm alone first, then again in the rounds of the training benchmark: best of all */
    double gf = bench_sgemm(seconds / 2), flops = 0, infer_ms = 0;
    double rate = bench_ppo(&topo, 64, 2 * seconds, &flops, &infer_ms, &gf);
    if (rate <= 0)
        return 1;
    printf("{\"bench\": \"sgemm_gflops\", \"value\": %.6g, \"unit\": \"GFLOP/s\", "
           "\"backend\": \"%s\", \"threads\": 1, \"clock\": \"process_cpu\"}\n",
           gf, backend);
    fflush(stdout);
    emit("shallow_train_samples_per_s", rate, "samples/s");
    emit("shallow_train_gflops", rate * flops * 1e-9, "GFLOP/s");
    emit("shallow_train_ratio_to_sgemm", gf > 0 ? rate * flops * 1e-9 / gf : 0, "ratio");
    printf("{\"bench\": \"shallow_infer_ms_fp32\", \"value\": %.6g, \"unit\": \"ms\", "
           "\"source\": \"nn\"}\n",
           infer_ms);
    fflush(stdout);

    td_nn_io_spec st = {.state_dim = 16, .n_actions = 10};
    if (td_nn_topology_deepracer(&topo, NULL, &st, &err))
        return td__cli_fail("%s", err.msg);
    rate = bench_ppo(&topo, 64, seconds, &flops, NULL, NULL);
    if (rate <= 0)
        return 1;
    emit("mlp_train_samples_per_s", rate, "samples/s");

    /* ---- infer/ runtime lines: shallow_infer_ms_fp32 / _int8 with "source": "infer",
     *      weight-streaming baselines and ratios (src/cli/bench_infer.c). ---- */
    return td__cli_bench_infer_lines(200);
}

TD_CLI_BENCH("nn", "nn engine: sgemm, SHALLOW PPO training, inference, state MLP", bench_nn)
