/*
 * bench_infer.c - `trackday bench infer`: milliseconds per SHALLOW camera frame through the
 * device runtime (one thread, batch 1), fp32 and int8, next to baselines measured in the
 * same run: streaming the fp32 and int8 weights once (memory bandwidth: the 11,264 x 512
 * dense layer is 23 MB in fp32), and nn's training-engine forward of the same network.
 * Each frame is timed in the measuring thread's CPU time, so that a shared, loaded machine
 * (time slices given to others) does not inflate it. Prints JSON lines {"bench", "value",
 * "unit", "isa"} and the ratios.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/infer_cli.h"
#include "trackday/modeldir.h"
#include "trackday/infer.h"

#define NFRAMES 16

static volatile float sink;

static const char *bench_isa = "auto";

static void emit(const char *name, double value, const char *unit)
{
    printf("{\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"source\": \"infer\", "
           "\"threads\": 1, \"isa\": \"%s\"}\n",
           name, value, unit, bench_isa);
    fflush(stdout);
}

/* The streaming baselines get the same compiler treatment as infer's kernels (-O3, AVX2 and
 * AVX-512 clones), so the ratio compares code against bandwidth, not compiler flags. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define STREAM_FAST                                                                                \
    __attribute__((optimize("O3"), target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define STREAM_FAST
#endif

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median (and, in *best, the minimum) of `reps` timings of fn, thread CPU milliseconds. */
typedef void (*bench_fn)(void *ctx, int i);

static double median_ms(bench_fn fn, void *ctx, int reps, double *best)
{
    double t[1024];
    if (reps > 1024)
        reps = 1024;
    for (int i = 0; i < 3; i++)
        fn(ctx, i); /* warm up */
    for (int i = 0; i < reps; i++) {
        double t0 = td_time_thread_cpu();
        fn(ctx, i);
        t[i] = (td_time_thread_cpu() - t0) * 1e3;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    if (best)
        *best = t[0];
    return t[reps / 2];
}

typedef struct ctx {
    td_infer_model *m;
    td_nn_net *net;
    uint8_t *frames;
    const float *stream_f;
    size_t stream_n;
    const int8_t *stream_q;
    size_t stream_qn;
} ctx;

static void run_infer(void *p, int i)
{
    ctx *c = p;
    td_infer_obs obs = {c->frames + (size_t)(i % NFRAMES) * 120 * 160, NULL, NULL};
    /* A failed run would time nothing: count it so the result shows it (sink is printed). */
    if (td_infer_run(c->m, &obs, NULL) != 0)
        sink += NAN;
    else
        sink += td_infer_output(c->m)[0];
}

static void run_nn(void *p, int i)
{
    ctx *c = p;
    td_nn_input in;
    memset(&in, 0, sizeof(in));
    in.camera_u8 = c->frames + (size_t)(i % NFRAMES) * 120 * 160;
    td_nn_net_forward(c->net, &in, 1);
    sink += c->net->out[0];
}

/* Reads every weight once with a cheap reduction: a memory-bandwidth floor. */
STREAM_FAST
static float stream_f32(const float *x, size_t n)
{
    float acc[16] = {0}, s = 0;
    n -= n % 16;
    for (size_t k = 0; k < n; k += 16)
        for (int l = 0; l < 16; l++)
            acc[l] += x[k + l];
    for (int l = 0; l < 16; l++)
        s += acc[l];
    return s;
}

STREAM_FAST
static int32_t stream_i8(const int8_t *x, size_t n)
{
    int32_t s = 0;
    for (size_t k = 0; k < n; k++)
        s += x[k];
    return s;
}

static void run_stream_f32(void *p, int i)
{
    ctx *c = p;
    (void)i;
    sink += stream_f32(c->stream_f, c->stream_n);
}

static void run_stream_i8(void *p, int i)
{
    ctx *c = p;
    (void)i;
    sink += (float)stream_i8(c->stream_q, c->stream_qn);
}

static int random_obs(void *p, int i, td_infer_obs *obs)
{
    ctx *c = p;
    memset(obs, 0, sizeof(*obs));
    obs->camera = c->frames + (size_t)(i % NFRAMES) * 120 * 160;
    return 0;
}

static int bench_infer_run(int argc, char **argv, int with_nn)
{
    int reps = 200, isa = TD_INFER_ISA_AUTO;
    const char *save = NULL;
    const char *isa_name = NULL;
    const td__cli_opt opts[] = {
        TD_CLI_INT("--reps", &reps, 1, 1024, "N", "frames timed (default 200)"),
        TD_CLI_STRING(NULL, "--isa", &isa_name, "NAME",
                      "the kernels: generic, avx2, avx-vnni, avx512-vnni, neon, neon-dotprod "
                      "(default: the best this CPU has)"),
        TD_CLI_STRING(NULL, "--save", &save, "PREFIX", "also write the models used"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "bench infer",
        .about = "A SHALLOW camera frame through infer/ in fp32 and int8, against the memory "
                 "bandwidth. --save writes the models used to PREFIX.fp32.tdm and PREFIX.int8.tdm.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (isa_name) {
        isa = td_infer_isa_parse(isa_name);
        if (isa < 0)
            return td__cli_usage_error("bench infer: --isa: unknown instruction set '%s'",
                                       isa_name);
        if (isa != TD_INFER_ISA_AUTO && !td_infer_isa_supported(isa))
            return td__cli_fail("bench infer: --isa %s: this CPU cannot run it", isa_name);
    }
    td_nn_net nets[2];
    td_err err;
    if (td__cli_random_shallow(nets, 5, 1, &err) != 0)
        return td__cli_fail("%s", err.msg);
    /* DeepRacer's default action space, its first five actions. */
    td_model_metadata meta;
    td_model_metadata_default(&meta);
    meta.n_actions = 5;
    json_t *extras = td_model_metadata_to_json(&meta);
    const td_nn_net *policy_only[1] = {&nets[0]};
    uint8_t *file = NULL;
    size_t len = 0;
    int rc = td_nn_save_buffer(policy_only, 1, extras, &file, &len, "bench", &err);
    json_decref(extras);
    if (rc) {
        td_nn_net_free(&nets[0]);
        td_nn_net_free(&nets[1]);
        return td__cli_fail("%s", err.msg);
    }
    ctx c;
    memset(&c, 0, sizeof(c));
    c.frames = td_malloc((size_t)NFRAMES * 120 * 160);
    td_rng rng;
    td_rng_seed(&rng, 42, 1);
    for (size_t k = 0; k < (size_t)NFRAMES * 120 * 160; k++)
        c.frames[k] = (uint8_t)td_rng_below(&rng, 256);

    td_infer_err ie;
    td_infer_model *m32 = NULL, *m8 = NULL;
    void *qbuf = NULL;
    size_t qlen = 0;
    td_infer_quant_options opt;
    td_infer_quant_options_default(&opt);
    opt.calibration = "random:16";
    if (td_infer_open_buffer(&m32, file, len, &ie) != 0 ||
        td_infer_quantize(file, len, random_obs, &c, NFRAMES, &opt, &qbuf, &qlen, &ie) != 0 ||
        td_infer_open_buffer(&m8, qbuf, qlen, &ie) != 0) {
        rc = td__cli_fail("bench infer: %s", ie.msg);
        goto done;
    }
    td_infer_set_isa(m32, isa);
    td_infer_set_isa(m8, isa);
    bench_isa = td_infer_isa_name(td_infer_get_info(m32)->isa);
    if (save) {
        char path[1024];
        snprintf(path, sizeof(path), "%s.fp32.tdm", save);
        int w1 = td_file_write_atomic(path, file, len, &err);
        snprintf(path, sizeof(path), "%s.int8.tdm", save);
        if (w1 || td_file_write_atomic(path, qbuf, qlen, &err)) {
            rc = td__cli_fail("%s", err.msg);
            goto done;
        }
    }
    const float *w32;
    const int8_t *w8;
    size_t nb32, nb8;
    td_infer_get_tensor(m32, "policy.trunk.0.weight", NULL, NULL, NULL, (const void **)&w32, &nb32);
    td_infer_get_tensor(m8, "policy.trunk.0.weight", NULL, NULL, NULL, (const void **)&w8, &nb8);
    c.stream_f = w32;
    c.stream_n = nb32 / 4;
    c.stream_q = w8;
    c.stream_qn = nb8;

    double fp32_best, int8_best, s32_best, s8_best;
    c.m = m32;
    double fp32 = median_ms(run_infer, &c, reps, &fp32_best);
    c.m = m8;
    double int8 = median_ms(run_infer, &c, reps, &int8_best);
    double s32 = median_ms(run_stream_f32, &c, reps, &s32_best);
    double s8 = median_ms(run_stream_i8, &c, reps, &s8_best);
    double nn = 0;
    if (with_nn) {
        c.net = &nets[0];
        nn = median_ms(run_nn, &c, reps / 4 > 10 ? reps / 4 : 10, NULL);
    }
    const td_infer_info *info = td_infer_get_info(m32);

    emit("shallow_infer_ms_fp32", fp32, "ms");
    emit("shallow_infer_ms_int8", int8, "ms");
    emit("shallow_infer_ms_fp32_best", fp32_best, "ms");
    emit("shallow_infer_ms_int8_best", int8_best, "ms");
    emit("shallow_dense_weights_stream_ms_fp32", s32, "ms");
    emit("shallow_dense_weights_stream_ms_int8", s8, "ms");
    if (with_nn)
        emit("shallow_nn_forward_ms_b1", nn, "ms");
    emit("shallow_infer_fp32_over_stream", fp32 / s32, "ratio");
    emit("shallow_infer_int8_over_stream_int8", int8 / s8, "ratio");
    emit("shallow_infer_fp32_over_int8", fp32 / int8, "ratio");
    if (with_nn)
        emit("shallow_nn_over_infer_fp32", nn / fp32, "ratio");
    emit("shallow_infer_fp32_over_int8_best", fp32_best / int8_best, "ratio");
    emit("shallow_infer_gflops_fp32", info->flops / (fp32 * 1e6), "GFLOP/s");
    emit("shallow_dense_stream_gbs_fp32", (double)nb32 / (s32 * 1e6), "GB/s");
    rc = 0;
done:
    td_infer_close(m32);
    td_infer_close(m8);
    td_infer_free(qbuf);
    td_free(c.frames);
    td_free(file);
    td_nn_net_free(&nets[0]);
    td_nn_net_free(&nets[1]);
    return rc;
}

static int bench_infer(int argc, char **argv)
{
    return bench_infer_run(argc, argv, 1);
}

int td__cli_bench_infer_lines(int reps)
{
    char arg[32];
    char *argv[4] = {"infer", "--reps", arg, NULL};
    snprintf(arg, sizeof(arg), "%d", reps);
    return bench_infer_run(3, argv, 0);
}

TD_CLI_BENCH("infer", "SHALLOW frame through infer/ fp32 and int8, vs bandwidth", bench_infer)
