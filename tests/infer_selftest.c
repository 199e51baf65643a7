/*
 * infer_selftest.c - the device runtime's tests that run on the device: C99, infer/ only, so
 * it cross-compiles for AArch64 with infer/ and runs there (or under qemu-aarch64;
 * tests/test_infer_cross.sh does both). Closes with "N passed, N failed".
 *
 *   infer_selftest --kernels
 *       builds a small model with odd sizes (every tile and tail of every kernel), quantizes it
 *       to int8 here, and holds every instruction set this CPU supports to the naive reference
 *       kernels: int8 outputs equal bit for bit, fp32 within 1e-5
 *   infer_selftest --expect MODEL.tdm FRAMES.raw > EXPECTED.txt
 *       prints the raw outputs of each frame (for another machine to compare with)
 *   infer_selftest --compare MODEL.tdm FRAMES.raw EXPECTED.txt
 *       runs every supported instruction set on the frames and compares with another
 *       machine's outputs: within 1e-4 of the outputs' scale, the same chosen action
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/trackday/infer.h"

static int passed, failed;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    if (ok)
        passed++;
    else
        failed++;
}

/* ---- a small model file written here ------------------------------------------------ */

static unsigned long long rng_state = 88172645463325252ULL;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n)
            c *= 2;
        b->p = (unsigned char *)realloc(b->p, c);
        if (!b->p) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        b->cap = c;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Tensors of the odd tower: camera 23x29x3 -> conv [7,3,2] (11x14x7) -> conv [5,3,1] (9x12x5);
 * lidar 13 -> 9; state 5 (no layers); trunk 11 over the 554 concatenated values; head 3. */
static const struct {
    const char *name;
    int shape[4], ndim, fan_in;
} tensors[] = {
    {"policy.camera.0.weight", {7, 3, 3, 3}, 4, 27},
    {"policy.camera.0.bias", {7}, 1, 27},
    {"policy.camera.1.weight", {5, 3, 3, 7}, 4, 63},
    {"policy.camera.1.bias", {5}, 1, 63},
    {"policy.lidar.0.weight", {9, 13}, 2, 13},
    {"policy.lidar.0.bias", {9}, 1, 13},
    {"policy.trunk.0.weight", {11, 9 * 12 * 5 + 9 + 5}, 2, 554},
    {"policy.trunk.0.bias", {11}, 1, 554},
    {"policy.head.weight", {3, 11}, 2, 11},
    {"policy.head.bias", {3}, 1, 11},
};
#define NT ((int)(sizeof(tensors) / sizeof(tensors[0])))

static unsigned char *odd_model(size_t *len)
{
    char header[4096], entry[256];
    size_t off = 0, hl, doff, i;
    int t, k;
    buf data = {0, 0, 0};
    snprintf(header, sizeof(header),
             "{\"format\": \"trackday-model\", \"version\": 1, \"action_space_type\": "
             "\"discrete\", \"action_space\": [{\"steering_angle\": -30, \"speed\": 1}, "
             "{\"steering_angle\": 0, \"speed\": 2}, {\"steering_angle\": 30, \"speed\": 1}], "
             "\"inputs\": {\"camera\": [23, 29, 3], \"lidar\": [13], \"state\": [5]}, "
             "\"topology\": {\"towers\": {\"policy\": {\"camera\": [[7, 3, 2], [5, 3, 1]], "
             "\"lidar\": [9], \"state\": [], \"trunk\": [11], \"head\": {\"type\": "
             "\"categorical\", \"n\": 3}}}}, \"tensors\": [");
    for (t = 0; t < NT; t++) {
        size_t n = 1;
        for (k = 0; k < tensors[t].ndim; k++)
            n *= (size_t)tensors[t].shape[k];
        {
            char shape[64];
            size_t sl = 0;
            for (k = 0; k < tensors[t].ndim; k++)
                sl += (size_t)snprintf(shape + sl, sizeof(shape) - sl, "%s%d", k ? ", " : "",
                                       tensors[t].shape[k]);
            snprintf(entry, sizeof(entry),
                     "%s{\"name\": \"%s\", \"dtype\": \"f32\", \"shape\": [%s], "
                     "\"offset\": %lu, \"nbytes\": %lu}",
                     t ? ", " : "", tensors[t].name, shape, (unsigned long)off,
                     (unsigned long)(4 * n));
        }
        strncat(header, entry, sizeof(header) - strlen(header) - 1);
        for (i = 0; i < n; i++) {
            float v = (float)((uniform() * 2 - 1) / sqrt((double)tensors[t].fan_in));
            unsigned long u;
            unsigned char b4[4];
            memcpy(&u, &v, 4);
            put32(b4, u & 0xffffffffUL);
            put(&data, b4, 4);
        }
        while (data.n % 64)
            put(&data, "\0", 1);
        off = data.n;
    }
    {
        char tail[64];
        snprintf(tail, sizeof(tail), "], \"data_size\": %lu}", (unsigned long)data.n);
        strncat(header, tail, sizeof(header) - strlen(header) - 1);
    }
    hl = strlen(header);
    doff = (24 + hl + 63) / 64 * 64;
    {
        unsigned char *f = (unsigned char *)calloc(1, doff + data.n + 4);
        memcpy(f, "TDMODEL", 8);
        put32(f + 8, 1);
        put32(f + 12, 0);
        put32(f + 16, (unsigned long)hl);
        put32(f + 20, 0);
        memcpy(f + 24, header, hl);
        memcpy(f + doff, data.p, data.n);
        put32(f + doff + data.n, td_infer_crc32(0, f, doff + data.n));
        *len = doff + data.n + 4;
        free(data.p);
        return f;
    }
}

/* ---- observations --------------------------------------------------------------------- */

static unsigned char cam[16][23 * 29 * 3];
static float lid[16][13], st[16][5];

static int obs_fn(void *ctx, int i, td_infer_obs *obs)
{
    (void)ctx;
    obs->camera = cam[i % 16];
    obs->lidar = lid[i % 16];
    obs->state = st[i % 16];
    return 0;
}

static double rel(const float *a, const float *b, int n)
{
    double num = 0, den = 1e-12;
    int i;
    for (i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return num / den;
}

static int kernels(void)
{
    size_t len, qlen;
    unsigned char *f = odd_model(&len);
    void *q = NULL;
    td_infer_model *m32, *m8;
    td_infer_err e;
    td_infer_quant_options opt;
    int i, j, isa;
    char what[160];
    for (i = 0; i < 16; i++) {
        for (j = 0; j < 23 * 29 * 3; j++)
            cam[i][j] = (unsigned char)(uniform() * 256);
        for (j = 0; j < 13; j++)
            lid[i][j] = (float)(0.15 + 0.85 * uniform());
        for (j = 0; j < 5; j++)
            st[i][j] = (float)(4 * uniform() - 2); /* negative: a zero point above 0 */
    }
    if (td_infer_open_buffer(&m32, f, len, &e) != 0) {
        printf("FAIL the odd model does not load: %s\n", e.msg);
        return 1;
    }
    td_infer_quant_options_default(&opt);
    opt.quantize_head = 1;
    if (td_infer_quantize(f, len, obs_fn, NULL, 16, &opt, &q, &qlen, &e) != 0 ||
        td_infer_open_buffer(&m8, q, qlen, &e) != 0) {
        printf("FAIL quantizing the odd model: %s\n", e.msg);
        return 1;
    }
    check(td_infer_get_info(m8)->n_int8_layers == 5, "odd model: all 5 layers int8");
    for (isa = TD_INFER_ISA_GENERIC; isa < TD_INFER_ISA_COUNT; isa++) {
        int same8 = 1;
        double worst32 = 0;
        if (!td_infer_isa_supported(isa))
            continue;
        for (i = 0; i < 16; i++) {
            td_infer_obs obs;
            float ref8[3], ref32[3];
            obs_fn(NULL, i, &obs);
            td_infer_set_reference(m8, 1);
            td_infer_set_reference(m32, 1);
            td_infer_run(m8, &obs, NULL);
            td_infer_run(m32, &obs, NULL);
            memcpy(ref8, td_infer_output(m8), sizeof(ref8));
            memcpy(ref32, td_infer_output(m32), sizeof(ref32));
            td_infer_set_reference(m8, 0);
            td_infer_set_reference(m32, 0);
            td_infer_set_isa(m8, isa);
            td_infer_set_isa(m32, isa);
            td_infer_run(m8, &obs, NULL);
            td_infer_run(m32, &obs, NULL);
            same8 &= memcmp(ref8, td_infer_output(m8), sizeof(ref8)) == 0;
            worst32 = fmax(worst32, rel(td_infer_output(m32), ref32, 3));
        }
        snprintf(what, sizeof(what), "isa %s: int8 equals the reference bit for bit",
                 td_infer_isa_name(isa));
        check(same8, what);
        snprintf(what, sizeof(what), "isa %s: fp32 within %.2g of the reference (<= 1e-5)",
                 td_infer_isa_name(isa), worst32);
        check(worst32 <= 1e-5, what);
    }
    td_infer_close(m8);
    td_infer_close(m32);
    td_infer_free(q);
    free(f);
    return 0;
}

/* ---- comparing with another machine --------------------------------------------------- */

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *p = NULL;
    long n;
    if (!fp)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
        p = (unsigned char *)malloc((size_t)n + 1);
        if (p && fread(p, 1, (size_t)n, fp) != (size_t)n) {
            free(p);
            p = NULL;
        }
        *len = (size_t)n;
    }
    fclose(fp);
    return p;
}

static int frames_run(const char *model, const char *frames, const char *expected)
{
    td_infer_model *m;
    td_infer_err e;
    size_t flen, fb, nf, i;
    unsigned char *fr = read_all(frames, &flen);
    FILE *ex = expected ? fopen(expected, "r") : NULL;
    int isa, j, n_out;
    char what[256];
    if (!fr || (expected && !ex)) {
        printf("FAIL cannot read %s or %s\n", frames, expected ? expected : "");
        return 1;
    }
    if (td_infer_open_file(&m, model, &e) != 0) {
        printf("FAIL %s\n", e.msg);
        return 1;
    }
    fb = (size_t)td_infer_get_info(m)->camera_h * td_infer_get_info(m)->camera_w *
         td_infer_get_info(m)->camera_c;
    n_out = td_infer_get_info(m)->n_out;
    nf = fb ? flen / fb : 0;
    if (!expected) {
        for (i = 0; i < nf; i++) {
            td_infer_obs obs = {fr + i * fb, NULL, NULL};
            td_infer_run(m, &obs, NULL);
            for (j = 0; j < n_out; j++)
                printf("%.9g%c", td_infer_output(m)[j], j + 1 < n_out ? ' ' : '\n');
        }
    } else {
        float *want = (float *)malloc(sizeof(float) * nf * (size_t)n_out);
        for (i = 0; i < nf * (size_t)n_out; i++)
            if (fscanf(ex, "%f", &want[i]) != 1) {
                printf("FAIL %s: too few numbers\n", expected);
                return 1;
            }
        for (isa = TD_INFER_ISA_GENERIC; isa < TD_INFER_ISA_COUNT; isa++) {
            double worst = 0;
            int same_action = 1;
            if (!td_infer_isa_supported(isa))
                continue;
            td_infer_set_isa(m, isa);
            for (i = 0; i < nf; i++) {
                td_infer_obs obs = {fr + i * fb, NULL, NULL};
                const float *w = want + i * (size_t)n_out, *y;
                int a = 0, b = 0;
                td_infer_run(m, &obs, NULL);
                y = td_infer_output(m);
                worst = fmax(worst, rel(y, w, n_out));
                for (j = 1; j < n_out; j++) {
                    a = y[j] > y[a] ? j : a;
                    b = w[j] > w[b] ? j : b;
                }
                same_action &= a == b;
            }
            snprintf(what, sizeof(what),
                     "%s, isa %s: %lu frames within %.2g of the other machine's outputs "
                     "(<= 1e-4), same actions",
                     model, td_infer_isa_name(isa), (unsigned long)nf, worst);
            check(worst <= 1e-4 && same_action && nf > 0, what);
        }
        free(want);
        fclose(ex);
    }
    td_infer_close(m);
    free(fr);
    return 0;
}

int main(int argc, char **argv)
{
    int isa;
    /* (to stderr: --expect's stdout is data) */
    fprintf(stderr, "instruction sets here:");
    for (isa = TD_INFER_ISA_GENERIC; isa < TD_INFER_ISA_COUNT; isa++)
        if (td_infer_isa_supported(isa))
            fprintf(stderr, " %s", td_infer_isa_name(isa));
    fprintf(stderr, " (best %s)\n", td_infer_isa_name(td_infer_isa_best()));
    if (argc == 2 && strcmp(argv[1], "--kernels") == 0) {
        if (kernels() != 0)
            failed++;
    } else if (argc == 4 && strcmp(argv[1], "--expect") == 0) {
        return frames_run(argv[2], argv[3], NULL);
    } else if (argc == 5 && strcmp(argv[1], "--compare") == 0) {
        if (frames_run(argv[2], argv[3], argv[4]) != 0)
            failed++;
    } else {
        fprintf(stderr, "usage: infer_selftest --kernels | --expect MODEL FRAMES | --compare "
                        "MODEL FRAMES EXPECTED\n");
        return 2;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
