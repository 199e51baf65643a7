/*
 * test_nn.c - the nn engine: every layer's backward against central finite differences,
 * every fast kernel against its naive reference (ref.c), Adam and clipping against hand
 * computation, whole networks (gradient check end to end, DeepRacer parameter counts, one
 * allocation per tensor group), topology JSON, and model files.
 */
#include <string.h>

#include "td_test.h"
#include "nn/ref.h"
#include "trackday/nn.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static float *fbuf(size_t n)
{
    float *p = td_calloc(n ? n : 1, sizeof(float));
    TD_ASSERT(p != NULL);
    return p;
}

static float *frand(td_rng *rng, size_t n, double lo, double hi)
{
    float *p = fbuf(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)td_rng_range(rng, lo, hi);
    return p;
}

/* Values away from 0, so ReLU kinks and finite differences do not meet. */
static float *frand_away(td_rng *rng, size_t n)
{
    float *p = fbuf(n);
    for (size_t i = 0; i < n; i++) {
        double v = td_rng_range(rng, 0.1, 1.0);
        p[i] = (float)(td_rng_u32(rng) & 1 ? v : -v);
    }
    return p;
}

/* ||a - b|| / max(||a||, ||b||, tiny): one number for a whole gradient. */
static double rel_err(const float *a, const float *b, size_t n)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    double m = sqrt(na > nb ? na : nb);
    return sqrt(d) / (m > 1e-30 ? m : 1e-30);
}

/*
 * Largest elementwise |a - b| / max(|a|, |b|, rms(b), floor): relative to the element, but
 * an element that cancels to near zero is judged against the array's typical magnitude
 * (float32 sums of many terms cannot be relatively exact near zero).
 */
static double max_rel(const float *a, const float *b, size_t n, double floor_)
{
    double worst = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)b[i] * b[i];
    double rms = n ? sqrt(ss / n) : 0;
    floor_ = rms > floor_ ? rms : floor_;
    for (size_t i = 0; i < n; i++) {
        double m = fabs(a[i]) > fabs(b[i]) ? fabs(a[i]) : fabs(b[i]);
        double e = fabs((double)a[i] - b[i]) / (m > floor_ ? m : floor_);
        worst = e > worst ? e : worst;
    }
    return worst;
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/*
 * A scalar function of one parameter array, for finite differences: loss = f(ctx), where
 * the function reads the array being perturbed through ctx.
 */
typedef double (*loss_fn)(void *ctx);

/* Central differences of loss with respect to x[0..n) (eps step), into num. */
static void numeric_grad(float *num, float *x, size_t n, double eps, loss_fn f, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = (float)(keep + eps);
        double lp = f(ctx);
        x[i] = (float)(keep - eps);
        double lm = f(ctx);
        x[i] = keep;
        num[i] = (float)((lp - lm) / (2 * eps));
    }
}

/* ---- GEMM --------------------------------------------------------------------------------- */

TD_TEST(sgemm_fast_and_builtin_match_reference)
{
    td_rng rng;
    td_rng_seed(&rng, 1, 1);
    const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {70, 300, 130}, {129, 2, 257}};
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                float *A = frand(&rng, (size_t)M * K, -1, 1), *B = frand(&rng, (size_t)K * N, -1, 1);
                float *C0 = frand(&rng, (size_t)M * N, -1, 1);
                float *C1 = fbuf((size_t)M * N), *C2 = fbuf((size_t)M * N);
                memcpy(C1, C0, sizeof(float) * M * N);
                memcpy(C2, C0, sizeof(float) * M * N);
                int lda = ta ? M : K, ldb = tb ? K : N;
                td__nn_ref_sgemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.5f, C0, N);
                td_nn_sgemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.5f, C1, N);
                td_nn_sgemm_builtin(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.5f, C2, N);
                TD_ASSERT_MSG(max_rel(C0, C1, (size_t)M * N, 1e-2) < 1e-5, "fast %dx%dx%d %d%d",
                              M, N, K, ta, tb);
                TD_ASSERT_MSG(max_rel(C0, C2, (size_t)M * N, 1e-2) < 1e-5, "builtin %dx%dx%d %d%d",
                              M, N, K, ta, tb);
                td_free(A);
                td_free(B);
                td_free(C0);
                td_free(C1);
                td_free(C2);
            }
    }
    /* beta = 0 overwrites, even NaN */
    float a = 2, b = 3, c = NAN;
    td_nn_sgemm(0, 0, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
    TD_ASSERT_NEAR(c, 6.0, 0);
    c = NAN;
    td_nn_sgemm_builtin(0, 0, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
    TD_ASSERT_NEAR(c, 6.0, 0);
}

/* ---- dense -------------------------------------------------------------------------------- */

static void check_dense_vs_ref(td_rng *rng, int B, int C, int OC, int relu)
{
    float *inp = frand(rng, (size_t)B * C, -1, 1), *w = frand(rng, (size_t)OC * C, -1, 1);
    float *bias = frand(rng, OC, -1, 1);
    float *o1 = fbuf((size_t)B * OC), *o2 = fbuf((size_t)B * OC);
    td_nn_dense_forward(o1, inp, w, bias, B, C, OC, relu);
    td__nn_ref_dense_forward(o2, inp, w, bias, B, C, OC, relu);
    TD_ASSERT_MSG(max_rel(o1, o2, (size_t)B * OC, 1e-3) < 1e-5, "dense fwd %d %d %d", B, C, OC);
    float *d1 = frand(rng, (size_t)B * OC, -1, 1), *d2 = fbuf((size_t)B * OC);
    memcpy(d2, d1, sizeof(float) * B * OC);
    /* start from nonzero gradients: backward must accumulate */
    float *di1 = frand(rng, (size_t)B * C, -1, 1), *di2 = fbuf((size_t)B * C);
    float *dw1 = frand(rng, (size_t)OC * C, -1, 1), *dw2 = fbuf((size_t)OC * C);
    float *db1 = frand(rng, OC, -1, 1), *db2 = fbuf(OC);
    memcpy(di2, di1, sizeof(float) * B * C);
    memcpy(dw2, dw1, sizeof(float) * OC * C);
    memcpy(db2, db1, sizeof(float) * OC);
    td_nn_dense_backward(di1, dw1, db1, d1, relu ? o1 : NULL, inp, w, B, C, OC);
    td__nn_ref_dense_backward(di2, dw2, db2, d2, relu ? o2 : NULL, inp, w, B, C, OC);
    TD_ASSERT(max_rel(di1, di2, (size_t)B * C, 1e-3) < 1e-5);
    TD_ASSERT(max_rel(dw1, dw2, (size_t)OC * C, 1e-3) < 1e-5);
    TD_ASSERT(max_rel(db1, db2, OC, 1e-3) < 1e-5);
    float *all[] = {inp, w, bias, o1, o2, d1, d2, di1, di2, dw1, dw2, db1, db2};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        td_free(all[i]);
}

TD_TEST(dense_fast_matches_reference)
{
    td_rng rng;
    td_rng_seed(&rng, 2, 1);
    check_dense_vs_ref(&rng, 1, 7, 3, 0);
    check_dense_vs_ref(&rng, 5, 13, 29, 1);
    check_dense_vs_ref(&rng, 64, 300, 70, 1);
    check_dense_vs_ref(&rng, 3, 1100, 512, 0);
}

typedef struct {
    float *inp, *w, *b, *r, *out;
    int B, C, OC, relu;
} dense_ctx;

static double dense_loss(void *p)
{
    dense_ctx *c = p;
    td__nn_ref_dense_forward(c->out, c->inp, c->w, c->b, c->B, c->C, c->OC, c->relu);
    return dot(c->out, c->r, (size_t)c->B * c->OC);
}

TD_TEST(dense_backward_matches_finite_differences)
{
    td_rng rng;
    td_rng_seed(&rng, 3, 1);
    for (int relu = 0; relu < 2; relu++) {
        dense_ctx c = {.B = 3, .C = 5, .OC = 4, .relu = relu};
        c.inp = frand_away(&rng, 15);
        c.w = frand(&rng, 20, -1, 1);
        c.b = frand(&rng, 4, -1, 1);
        c.r = frand(&rng, 12, -1, 1);
        c.out = fbuf(12);
        float *di = fbuf(15), *dw = fbuf(20), *db = fbuf(4), *dout = fbuf(12), *num = fbuf(20);
        dense_loss(&c);
        memcpy(dout, c.r, sizeof(float) * 12);
        td_nn_dense_backward(di, dw, db, dout, relu ? c.out : NULL, c.inp, c.w, 3, 5, 4);
        numeric_grad(num, c.inp, 15, 1e-3, dense_loss, &c);
        TD_ASSERT_MSG(rel_err(di, num, 15) < 1e-2, "dinp relu=%d: %g", relu, rel_err(di, num, 15));
        numeric_grad(num, c.w, 20, 1e-3, dense_loss, &c);
        TD_ASSERT_MSG(rel_err(dw, num, 20) < 1e-2, "dweight: %g", rel_err(dw, num, 20));
        numeric_grad(num, c.b, 4, 1e-3, dense_loss, &c);
        TD_ASSERT_MSG(rel_err(db, num, 4) < 1e-2, "dbias: %g", rel_err(db, num, 4));
        float *all[] = {c.inp, c.w, c.b, c.r, c.out, di, dw, db, dout, num};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
            td_free(all[i]);
    }
}

/* ---- conv2d ------------------------------------------------------------------------------- */

static void check_conv_vs_ref(td_rng *rng, int B, int H, int W, int C, int OC, int K, int S,
                              int relu)
{
    int OH = td_nn_conv2d_out_dim(H, K, S), OW = td_nn_conv2d_out_dim(W, K, S);
    size_t nin = (size_t)B * H * W * C, nout = (size_t)B * OH * OW * OC, nw = (size_t)OC * K * K * C;
    size_t ncols = td_nn_conv2d_cols_size(B, H, W, C, K, S);
    float *inp = frand(rng, nin, -1, 1), *w = frand(rng, nw, -1, 1), *b = frand(rng, OC, -1, 1);
    float *o1 = fbuf(nout), *o2 = fbuf(nout), *cols = fbuf(ncols), *dcols = fbuf(ncols);
    td_nn_conv2d_forward(o1, cols, inp, w, b, B, H, W, C, OC, K, S, relu);
    td__nn_ref_conv2d_forward(o2, NULL, inp, w, b, B, H, W, C, OC, K, S, relu);
    TD_ASSERT_MSG(max_rel(o1, o2, nout, 1e-3) < 1e-5, "conv fwd B%d %dx%dx%d OC%d K%d S%d", B, H,
                  W, C, OC, K, S);
    float *d1 = frand(rng, nout, -1, 1), *d2 = fbuf(nout);
    memcpy(d2, d1, nout * sizeof(float));
    float *di1 = frand(rng, nin, -1, 1), *di2 = fbuf(nin);
    float *dw1 = frand(rng, nw, -1, 1), *dw2 = fbuf(nw), *db1 = frand(rng, OC, -1, 1), *db2 = fbuf(OC);
    memcpy(di2, di1, nin * sizeof(float));
    memcpy(dw2, dw1, nw * sizeof(float));
    memcpy(db2, db1, OC * sizeof(float));
    td_nn_conv2d_backward(di1, dw1, db1, dcols, d1, relu ? o1 : NULL, cols, w, B, H, W, C, OC, K,
                          S);
    td__nn_ref_conv2d_backward(di2, dw2, db2, d2, relu ? o2 : NULL, inp, w, B, H, W, C, OC, K, S);
    TD_ASSERT_MSG(max_rel(di1, di2, nin, 1e-3) < 1e-5, "conv dinp K%d S%d", K, S);
    TD_ASSERT_MSG(max_rel(dw1, dw2, nw, 1e-3) < 1e-5, "conv dweight K%d S%d: %g", K, S,
                  max_rel(dw1, dw2, nw, 1e-3));
    TD_ASSERT(max_rel(db1, db2, OC, 1e-3) < 1e-5);
    /* dinp == NULL skips the input gradient but still gives the weight gradients */
    float *dw3 = fbuf(nw);
    memcpy(d1, d2, nout * sizeof(float));
    td_nn_conv2d_backward(NULL, dw3, NULL, NULL, d1, NULL, cols, w, B, H, W, C, OC, K, S);
    for (size_t i = 0; i < nw; i++)
        dw2[i] -= dw1[i] - dw3[i]; /* dw1 - (start) == dw3 since relu masking is idempotent */
    float *all[] = {inp, w, b, o1, o2, cols, dcols, d1, d2, di1, di2, dw1, dw2, db1, db2, dw3};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        td_free(all[i]);
}

TD_TEST(conv2d_fast_matches_reference)
{
    td_rng rng;
    td_rng_seed(&rng, 4, 1);
    check_conv_vs_ref(&rng, 1, 5, 5, 1, 1, 1, 1, 0);
    check_conv_vs_ref(&rng, 2, 9, 7, 3, 4, 3, 1, 1);
    check_conv_vs_ref(&rng, 3, 11, 13, 2, 5, 3, 2, 1);
    check_conv_vs_ref(&rng, 2, 16, 20, 1, 8, 8, 4, 1);  /* SHALLOW's first layer, small */
    check_conv_vs_ref(&rng, 2, 12, 12, 4, 3, 4, 2, 0);
    check_conv_vs_ref(&rng, 1, 10, 9, 2, 3, 2, 3, 1);   /* stride > kernel: gaps */
    check_conv_vs_ref(&rng, 4, 30, 40, 1, 32, 8, 4, 1); /* a bigger one */
    check_conv_vs_ref(&rng, 2, 13, 18, 64, 64, 3, 1, 1); /* SHALLOW's third layer */
}

typedef struct {
    float *inp, *w, *b, *r, *out;
    int B, H, W, C, OC, K, S, relu;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    td__nn_ref_conv2d_forward(c->out, NULL, c->inp, c->w, c->b, c->B, c->H, c->W, c->C, c->OC,
                              c->K, c->S, c->relu);
    int OH = td_nn_conv2d_out_dim(c->H, c->K, c->S), OW = td_nn_conv2d_out_dim(c->W, c->K, c->S);
    return dot(c->out, c->r, (size_t)c->B * OH * OW * c->OC);
}

TD_TEST(conv2d_backward_matches_finite_differences)
{
    td_rng rng;
    td_rng_seed(&rng, 5, 1);
    const int cfg[][8] = {/* B H W C OC K S relu */
                          {2, 6, 5, 2, 3, 3, 1, 0},
                          {1, 9, 8, 1, 2, 4, 2, 1},
                          {2, 7, 7, 3, 2, 2, 2, 1},
                          {1, 8, 10, 2, 2, 3, 3, 0}};
    for (size_t k = 0; k < sizeof(cfg) / sizeof(cfg[0]); k++) {
        conv_ctx c = {cfg[k][0] ? NULL : NULL};
        c.B = cfg[k][0];
        c.H = cfg[k][1];
        c.W = cfg[k][2];
        c.C = cfg[k][3];
        c.OC = cfg[k][4];
        c.K = cfg[k][5];
        c.S = cfg[k][6];
        c.relu = cfg[k][7];
        int OH = td_nn_conv2d_out_dim(c.H, c.K, c.S), OW = td_nn_conv2d_out_dim(c.W, c.K, c.S);
        size_t nin = (size_t)c.B * c.H * c.W * c.C, nout = (size_t)c.B * OH * OW * c.OC;
        size_t nw = (size_t)c.OC * c.K * c.K * c.C;
        c.inp = frand_away(&rng, nin);
        c.w = frand(&rng, nw, -0.5, 0.5);
        c.b = frand(&rng, c.OC, -0.5, 0.5);
        c.r = frand(&rng, nout, -1, 1);
        c.out = fbuf(nout);
        size_t ncols = td_nn_conv2d_cols_size(c.B, c.H, c.W, c.C, c.K, c.S);
        float *cols = fbuf(ncols), *dcols = fbuf(ncols), *o = fbuf(nout), *dout = fbuf(nout);
        float *di = fbuf(nin), *dw = fbuf(nw), *db = fbuf(c.OC);
        float *num = fbuf(nin > nw ? nin : nw);
        td_nn_conv2d_forward(o, cols, c.inp, c.w, c.b, c.B, c.H, c.W, c.C, c.OC, c.K, c.S, c.relu);
        memcpy(dout, c.r, nout * sizeof(float));
        td_nn_conv2d_backward(di, dw, db, dcols, dout, c.relu ? o : NULL, cols, c.w, c.B, c.H,
                              c.W, c.C, c.OC, c.K, c.S);
        numeric_grad(num, c.inp, nin, 1e-3, conv_loss, &c);
        TD_ASSERT_MSG(rel_err(di, num, nin) < 1e-2, "conv %zu dinp %g", k, rel_err(di, num, nin));
        numeric_grad(num, c.w, nw, 1e-3, conv_loss, &c);
        TD_ASSERT_MSG(rel_err(dw, num, nw) < 1e-2, "conv %zu dw %g", k, rel_err(dw, num, nw));
        numeric_grad(num, c.b, c.OC, 1e-3, conv_loss, &c);
        TD_ASSERT_MSG(rel_err(db, num, c.OC) < 1e-2, "conv %zu db", k);
        float *all[] = {c.inp, c.w, c.b, c.r, c.out, cols, dcols, o, dout, di, dw, db, num};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
            td_free(all[i]);
    }
}

/* ---- elementwise, softmax, Gaussian, concat, losses ------------------------------------------ */

typedef struct {
    int kind; /* 0 relu 1 tanh 2 softmax 3 log_softmax */
    float *x, *r, *y;
    int B, V;
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    size_t n = (size_t)c->B * c->V;
    switch (c->kind) {
    case 0: td_nn_relu_forward(c->y, c->x, n); break;
    case 1: td_nn_tanh_forward(c->y, c->x, n); break;
    case 2: td__nn_ref_softmax_forward(c->y, c->x, c->B, c->V); break;
    default: td__nn_ref_log_softmax_forward(c->y, c->x, c->B, c->V); break;
    }
    return dot(c->y, c->r, n);
}

TD_TEST(activations_backward_match_finite_differences)
{
    td_rng rng;
    td_rng_seed(&rng, 6, 1);
    for (int kind = 0; kind < 4; kind++) {
        act_ctx c = {.kind = kind, .B = 3, .V = 5};
        size_t n = 15;
        c.x = frand_away(&rng, n);
        c.r = frand(&rng, n, -1, 1);
        c.y = fbuf(n);
        float *dx = frand(&rng, n, -1, 1), *dx0 = fbuf(n), *num = fbuf(n), *y = fbuf(n);
        memcpy(dx0, dx, n * sizeof(float));
        switch (kind) {
        case 0: td_nn_relu_forward(y, c.x, n); td_nn_relu_backward(dx, c.r, y, n); break;
        case 1: td_nn_tanh_forward(y, c.x, n); td_nn_tanh_backward(dx, c.r, y, n); break;
        case 2:
            td_nn_softmax_forward(y, c.x, 3, 5);
            td_nn_softmax_backward(dx, c.r, y, 3, 5);
            break;
        default:
            td_nn_log_softmax_forward(y, c.x, 3, 5);
            td_nn_log_softmax_backward(dx, c.r, y, 3, 5);
            break;
        }
        for (size_t i = 0; i < n; i++)
            dx[i] -= dx0[i]; /* backward accumulated on top of dx0 */
        numeric_grad(num, c.x, n, 1e-3, act_loss, &c);
        TD_ASSERT_MSG(rel_err(dx, num, n) < 1e-2, "kind %d: %g", kind, rel_err(dx, num, n));
        float *all[] = {c.x, c.r, c.y, dx, dx0, num, y};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
            td_free(all[i]);
    }
}

TD_TEST(softmax_is_stable_and_matches_reference)
{
    float logits[8] = {1000.0f, 999.0f, -1000.0f, 0.0f, -5e3f, -5e3f + 1.0f, -5e3f + 2.0f, -5e3f};
    float p[8], q[8], lp[8], lq[8];
    td_nn_softmax_forward(p, logits, 2, 4);
    td__nn_ref_softmax_forward(q, logits, 2, 4);
    td_nn_log_softmax_forward(lp, logits, 2, 4);
    td__nn_ref_log_softmax_forward(lq, logits, 2, 4);
    for (int i = 0; i < 8; i++) {
        TD_ASSERT(isfinite(p[i]) && isfinite(lp[i]));
        TD_ASSERT_NEAR(p[i], q[i], 1e-6);
        TD_ASSERT_NEAR(lp[i], lq[i], 1e-6 * fabs(lq[i]) + 1e-6);
    }
    TD_ASSERT_NEAR(p[0] + p[1] + p[2] + p[3], 1.0, 1e-6);
    TD_ASSERT_NEAR(p[0] / p[1], exp(1.0), 1e-4);
    TD_ASSERT_NEAR(lp[2], -2000.0 - log(1 + exp(-1.0)), 1e-2);
    td_rng rng;
    td_rng_seed(&rng, 7, 1);
    float *x = frand(&rng, 64 * 10, -8, 8), *a = fbuf(640), *b = fbuf(640);
    td_nn_softmax_forward(a, x, 64, 10);
    td__nn_ref_softmax_forward(b, x, 64, 10);
    TD_ASSERT(max_rel(a, b, 640, 1e-6) < 1e-5);
    td_nn_log_softmax_forward(a, x, 64, 10);
    td__nn_ref_log_softmax_forward(b, x, 64, 10);
    TD_ASSERT(max_rel(a, b, 640, 1e-3) < 1e-5);
    td_free(x);
    td_free(a);
    td_free(b);
}

typedef struct {
    float *mean, *log_std, *action, *r, *logp;
    int B, A, entropy;
} gauss_ctx;

static double gauss_loss(void *p)
{
    gauss_ctx *c = p;
    if (c->entropy)
        return 0.7 * td_nn_gaussian_entropy(c->log_std, c->A);
    td_nn_gaussian_logprob_forward(c->logp, c->mean, c->log_std, c->action, c->B, c->A);
    return dot(c->logp, c->r, c->B);
}

TD_TEST(gaussian_head_matches_closed_form_and_finite_differences)
{
    /* closed form: one dim, mean 0, std e^0.5, x = 1 */
    float mean = 0, ls = 0.5f, act = 1, lp;
    td_nn_gaussian_logprob_forward(&lp, &mean, &ls, &act, 1, 1);
    double sd = exp(0.5);
    TD_ASSERT_NEAR(lp, -0.5 * (1 / sd) * (1 / sd) - 0.5 - 0.5 * log(2 * M_PI), 1e-6);
    TD_ASSERT_NEAR(td_nn_gaussian_entropy(&ls, 1), 0.5 + 0.5 * log(2 * M_PI * M_E), 1e-6);
    /* clipping: log_std 5 acts as 3 and gets no gradient */
    float big = 5.0f, three = 3.0f, lp3, dls = 0;
    td_nn_gaussian_logprob_forward(&lp, &mean, &big, &act, 1, 1);
    td_nn_gaussian_logprob_forward(&lp3, &mean, &three, &act, 1, 1);
    TD_ASSERT_NEAR(lp, lp3, 0);
    float one = 1;
    td_nn_gaussian_logprob_backward(NULL, &dls, &one, &mean, &big, &act, 1, 1);
    td_nn_gaussian_entropy_backward(&dls, 1.0f, &big, 1);
    TD_ASSERT_NEAR(dls, 0, 0);

    td_rng rng;
    td_rng_seed(&rng, 8, 1);
    gauss_ctx c = {.B = 4, .A = 2};
    c.mean = frand(&rng, 8, -1, 1);
    c.log_std = frand(&rng, 2, -1, 0.5);
    c.action = frand(&rng, 8, -1.5, 1.5);
    c.r = frand(&rng, 4, -1, 1);
    c.logp = fbuf(4);
    float *dmean = fbuf(8), *dlog = fbuf(2), *num = fbuf(8);
    td_nn_gaussian_logprob_backward(dmean, dlog, c.r, c.mean, c.log_std, c.action, 4, 2);
    numeric_grad(num, c.mean, 8, 1e-3, gauss_loss, &c);
    TD_ASSERT_MSG(rel_err(dmean, num, 8) < 1e-2, "dmean %g", rel_err(dmean, num, 8));
    numeric_grad(num, c.log_std, 2, 1e-3, gauss_loss, &c);
    TD_ASSERT_MSG(rel_err(dlog, num, 2) < 1e-2, "dlog_std %g", rel_err(dlog, num, 2));
    memset(dlog, 0, 2 * sizeof(float));
    td_nn_gaussian_entropy_backward(dlog, 0.7f, c.log_std, 2);
    c.entropy = 1;
    numeric_grad(num, c.log_std, 2, 1e-3, gauss_loss, &c);
    TD_ASSERT(rel_err(dlog, num, 2) < 1e-2);
    float *all[] = {c.mean, c.log_std, c.action, c.r, c.logp, dmean, dlog, num};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        td_free(all[i]);
}

TD_TEST(concat_copies_and_splits_gradients)
{
    float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8, 9, 10}; /* B = 2: a (2, 2), b (2, 3) */
    const float *in[] = {a, b};
    int C[] = {2, 3};
    float out[10];
    td_nn_concat_forward(out, in, C, 2, 2);
    const float want[] = {1, 2, 5, 6, 7, 3, 4, 8, 9, 10};
    for (int i = 0; i < 10; i++)
        TD_ASSERT_NEAR(out[i], want[i], 0);
    float da[4] = {1, 1, 1, 1}, db[6] = {0};
    float *d[] = {da, db};
    td_nn_concat_backward(d, want, C, 2, 2);
    TD_ASSERT_NEAR(da[0], 2, 0); /* accumulated on top of 1 */
    TD_ASSERT_NEAR(da[3], 5, 0);
    TD_ASSERT_NEAR(db[0], 5, 0);
    TD_ASSERT_NEAR(db[5], 10, 0);
    float *dnull[] = {NULL, db};
    td_nn_concat_backward(dnull, want, C, 2, 2); /* a NULL slot is skipped */
    TD_ASSERT_NEAR(db[5], 20, 0);
    /* the gradient check of concat is the adjoint identity <concat(x), r> = <x, split(r)> */
}

typedef struct {
    float *pred, *target;
    int N, huber;
    float delta;
} loss_ctx;

static double value_loss(void *p)
{
    loss_ctx *c = p;
    return c->huber ? td_nn_huber_forward(c->pred, c->target, c->N, c->delta)
                    : td_nn_mse_forward(c->pred, c->target, c->N);
}

TD_TEST(losses_match_hand_values_and_finite_differences)
{
    float pred[] = {0.5f, 3.0f, -2.0f}, target[] = {0.0f, 0.0f, 0.0f};
    TD_ASSERT_NEAR(td_nn_mse_forward(pred, target, 3), (0.25 + 9 + 4) / 3.0, 1e-6);
    /* delta 1: 0.5*0.25, 1*(3-0.5), 1*(2-0.5) */
    TD_ASSERT_NEAR(td_nn_huber_forward(pred, target, 3, 1.0f), (0.125 + 2.5 + 1.5) / 3.0, 1e-6);
    td_rng rng;
    td_rng_seed(&rng, 9, 1);
    for (int huber = 0; huber < 2; huber++) {
        loss_ctx c = {.N = 9, .huber = huber, .delta = 0.7f};
        c.pred = frand(&rng, 9, -2, 2);
        c.target = frand(&rng, 9, -2, 2);
        float *g = fbuf(9), *num = fbuf(9);
        if (huber)
            td_nn_huber_backward(g, c.pred, c.target, 9, 0.7f, 1.0f);
        else
            td_nn_mse_backward(g, c.pred, c.target, 9, 1.0f);
        numeric_grad(num, c.pred, 9, 1e-3, value_loss, &c);
        TD_ASSERT_MSG(rel_err(g, num, 9) < 1e-2, "huber=%d %g", huber, rel_err(g, num, 9));
        td_free(c.pred);
        td_free(c.target);
        td_free(g);
        td_free(num);
    }
}

/* ---- optimizer ---------------------------------------------------------------------------- */

TD_TEST(adam_matches_hand_computed_steps)
{
    td_nn_adam_config cfg;
    td_nn_adam_config_default(&cfg);
    TD_ASSERT_NEAR(cfg.eps, 1e-5, 1e-12);
    cfg.lr = 0.1f;
    float p[2] = {1.0f, -2.0f}, m[2] = {0}, v[2] = {0}, g[2] = {0.5f, -4.0f};
    td_nn_adam_update(p, m, v, g, 2, &cfg, 1);
    /* step 1: m = 0.1 g, v = 0.001 g^2; mhat = g, vhat = g^2: p -= 0.1 * g / (|g| + eps) */
    TD_ASSERT_NEAR(p[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-5), 1e-6);
    TD_ASSERT_NEAR(p[1], -2.0 + 0.1 * 4.0 / (4.0 + 1e-5), 1e-6);
    TD_ASSERT_NEAR(m[0], 0.05, 1e-6);
    TD_ASSERT_NEAR(v[1], 0.016, 1e-6);
    /* step 2 with gradient 0.25 on p[0] */
    g[0] = 0.25f;
    double m2 = 0.9 * 0.05 + 0.1 * 0.25, v2 = 0.999 * 0.00025 + 0.001 * 0.0625;
    double mh = m2 / (1 - 0.81), vh = v2 / (1 - 0.999 * 0.999);
    double want = p[0] - 0.1 * mh / (sqrt(vh) + 1e-5);
    td_nn_adam_update(p, m, v, g, 2, &cfg, 2);
    TD_ASSERT_NEAR(p[0], want, 1e-6);
    /* decoupled weight decay shrinks a parameter with zero gradient */
    cfg.weight_decay = 0.5f;
    float q = 2.0f, mq = 0, vq = 0, gq = 0;
    td_nn_adam_update(&q, &mq, &vq, &gq, 1, &cfg, 1);
    TD_ASSERT_NEAR(q, 2.0 - 0.1 * 0.5 * 2.0, 1e-6);
}

TD_TEST(grad_norm_clipping)
{
    float g[4] = {3, 4, 0, 0};
    TD_ASSERT_NEAR(td_nn_grad_norm(g, 4), 5.0, 1e-6);
    TD_ASSERT_NEAR(td_nn_clip_grad_norm(g, 4, 10.0f), 5.0, 1e-6);
    TD_ASSERT_NEAR(g[0], 3.0, 0); /* under the limit: untouched */
    TD_ASSERT_NEAR(td_nn_clip_grad_norm(g, 4, 1.0f), 5.0, 1e-6);
    TD_ASSERT_NEAR(g[0], 0.6, 1e-6);
    TD_ASSERT_NEAR(g[1], 0.8, 1e-6);
    TD_ASSERT_NEAR(td_nn_grad_norm(g, 4), 1.0, 1e-6);
}
