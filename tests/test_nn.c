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
    const int shapes[][3] = {{1, 1, 1},     {3, 5, 7},    {17, 33, 9}, {70, 300, 130},
                             {129, 2, 257}, {1, 300, 77}, {45, 1, 33}, {1, 1, 500}};
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                float *A = frand(&rng, (size_t)M * K, -1, 1),
                      *B = frand(&rng, (size_t)K * N, -1, 1);
                float *C0 = frand(&rng, (size_t)M * N, -1, 1);
                float *C1 = fbuf((size_t)M * N), *C2 = fbuf((size_t)M * N);
                memcpy(C1, C0, sizeof(float) * M * N);
                memcpy(C2, C0, sizeof(float) * M * N);
                int lda = ta ? M : K, ldb = tb ? K : N;
                td__nn_ref_sgemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.5f, C0, N);
                td_nn_sgemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.5f, C1, N);
                td_nn_sgemm_builtin(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.5f, C2, N);
                TD_ASSERT_MSG(max_rel(C0, C1, (size_t)M * N, 1e-2) < 1e-5, "fast %dx%dx%d %d%d", M,
                              N, K, ta, tb);
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
    TD_ASSERT_LT(max_rel(di1, di2, (size_t)B * C, 1e-3), 1e-5);
    TD_ASSERT_LT(max_rel(dw1, dw2, (size_t)OC * C, 1e-3), 1e-5);
    TD_ASSERT_LT(max_rel(db1, db2, OC, 1e-3), 1e-5);
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
    size_t nin = (size_t)B * H * W * C, nout = (size_t)B * OH * OW * OC,
           nw = (size_t)OC * K * K * C;
    size_t ncols = td_nn_conv2d_cols_size(B, H, W, C, K, S);
    float *inp = frand(rng, nin, -1, 1), *w = frand(rng, nw, -1, 1), *b = frand(rng, OC, -1, 1);
    float *o1 = fbuf(nout), *o2 = fbuf(nout), *cols = fbuf(ncols), *dcols = fbuf(ncols);
    td_nn_conv2d_forward(o1, cols, inp, w, b, B, H, W, C, OC, K, S, relu);
    td__nn_ref_conv2d_forward(o2, NULL, inp, w, b, B, H, W, C, OC, K, S, relu);
    TD_ASSERT_MSG(max_rel(o1, o2, nout, 1e-3) < 1e-5, "conv fwd B%d %dx%dx%d OC%d K%d S%d", B, H, W,
                  C, OC, K, S);
    float *d1 = frand(rng, nout, -1, 1), *d2 = fbuf(nout);
    memcpy(d2, d1, nout * sizeof(float));
    float *di1 = frand(rng, nin, -1, 1), *di2 = fbuf(nin);
    float *dw1 = frand(rng, nw, -1, 1), *dw2 = fbuf(nw), *db1 = frand(rng, OC, -1, 1),
          *db2 = fbuf(OC);
    memcpy(di2, di1, nin * sizeof(float));
    memcpy(dw2, dw1, nw * sizeof(float));
    memcpy(db2, db1, OC * sizeof(float));
    td_nn_conv2d_backward(di1, dw1, db1, dcols, d1, relu ? o1 : NULL, cols, w, B, H, W, C, OC, K,
                          S);
    td__nn_ref_conv2d_backward(di2, dw2, db2, d2, relu ? o2 : NULL, inp, w, B, H, W, C, OC, K, S);
    TD_ASSERT_MSG(max_rel(di1, di2, nin, 1e-3) < 1e-5, "conv dinp K%d S%d", K, S);
    TD_ASSERT_MSG(max_rel(dw1, dw2, nw, 1e-3) < 1e-5, "conv dweight K%d S%d: %g", K, S,
                  max_rel(dw1, dw2, nw, 1e-3));
    TD_ASSERT_LT(max_rel(db1, db2, OC, 1e-3), 1e-5);
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
    check_conv_vs_ref(&rng, 2, 16, 20, 1, 8, 8, 4, 1); /* SHALLOW's first layer, small */
    check_conv_vs_ref(&rng, 2, 12, 12, 4, 3, 4, 2, 0);
    check_conv_vs_ref(&rng, 1, 10, 9, 2, 3, 2, 3, 1);    /* stride > kernel: gaps */
    check_conv_vs_ref(&rng, 4, 30, 40, 1, 32, 8, 4, 1);  /* a bigger one */
    check_conv_vs_ref(&rng, 2, 13, 18, 64, 64, 3, 1, 1); /* SHALLOW's third layer */
}

typedef struct {
    float *inp, *w, *b, *r, *out;
    int B, H, W, C, OC, K, S, relu;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    td__nn_ref_conv2d_forward(c->out, NULL, c->inp, c->w, c->b, c->B, c->H, c->W, c->C, c->OC, c->K,
                              c->S, c->relu);
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
        conv_ctx c;
        memset(&c, 0, sizeof(c));
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
        td_nn_conv2d_backward(di, dw, db, dcols, dout, c.relu ? o : NULL, cols, c.w, c.B, c.H, c.W,
                              c.C, c.OC, c.K, c.S);
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
    case 0:
        td_nn_relu_forward(c->y, c->x, n);
        break;
    case 1:
        td_nn_tanh_forward(c->y, c->x, n);
        break;
    case 2:
        td__nn_ref_softmax_forward(c->y, c->x, c->B, c->V);
        break;
    default:
        td__nn_ref_log_softmax_forward(c->y, c->x, c->B, c->V);
        break;
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
        case 0:
            td_nn_relu_forward(y, c.x, n);
            td_nn_relu_backward(dx, c.r, y, n);
            break;
        case 1:
            td_nn_tanh_forward(y, c.x, n);
            td_nn_tanh_backward(dx, c.r, y, n);
            break;
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

typedef struct {
    float *logits, *r, *logp, *ent;
    int B, V;
} ent_ctx;

static double entropy_loss(void *p)
{
    ent_ctx *c = p;
    td__nn_ref_log_softmax_forward(c->logp, c->logits, c->B, c->V);
    td_nn_categorical_entropy_forward(c->ent, c->logp, c->B, c->V);
    return dot(c->ent, c->r, c->B);
}

TD_TEST(categorical_entropy_matches_closed_form_and_finite_differences)
{
    float uniform[4] = {0.3f, 0.3f, 0.3f, 0.3f}, lp[4], h;
    td_nn_log_softmax_forward(lp, uniform, 1, 4);
    td_nn_categorical_entropy_forward(&h, lp, 1, 4);
    TD_ASSERT_NEAR(h, log(4.0), 1e-6);
    td_rng rng;
    td_rng_seed(&rng, 61, 0);
    ent_ctx c = {.B = 3, .V = 5};
    c.logits = frand(&rng, 15, -2, 2);
    c.r = frand(&rng, 3, -1, 1);
    c.logp = fbuf(15);
    c.ent = fbuf(3);
    float *d = fbuf(15), *num = fbuf(15);
    entropy_loss(&c);
    td_nn_categorical_entropy_backward(d, c.r, c.logp, 3, 5);
    numeric_grad(num, c.logits, 15, 1e-3, entropy_loss, &c);
    TD_ASSERT_MSG(rel_err(d, num, 15) < 1e-2, "%g", rel_err(d, num, 15));
    float *all[] = {c.logits, c.r, c.logp, c.ent, d, num};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        td_free(all[i]);
}

typedef struct {
    float *a, *b, *out, *r;
} cat_ctx;

static double concat_loss(void *p)
{
    cat_ctx *c = p;
    const float *in[] = {c->a, c->b};
    int C[] = {2, 3};
    td_nn_concat_forward(c->out, in, C, 2, 4);
    return dot(c->out, c->r, 20);
}

TD_TEST(concat_backward_matches_finite_differences)
{
    td_rng rng;
    td_rng_seed(&rng, 62, 0);
    cat_ctx c = {frand(&rng, 8, -1, 1), frand(&rng, 12, -1, 1), fbuf(20), frand(&rng, 20, -1, 1)};
    float *da = fbuf(8), *db = fbuf(12), *num = fbuf(12);
    float *d[] = {da, db};
    int C[] = {2, 3};
    td_nn_concat_backward(d, c.r, C, 2, 4);
    numeric_grad(num, c.a, 8, 1e-3, concat_loss, &c);
    TD_ASSERT_LT(rel_err(da, num, 8), 1e-3);
    numeric_grad(num, c.b, 12, 1e-3, concat_loss, &c);
    TD_ASSERT_LT(rel_err(db, num, 12), 1e-3);
    float *all[] = {c.a, c.b, c.out, c.r, da, db, num};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        td_free(all[i]);
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
    TD_ASSERT_LT(max_rel(a, b, 640, 1e-6), 1e-5);
    td_nn_log_softmax_forward(a, x, 64, 10);
    td__nn_ref_log_softmax_forward(b, x, 64, 10);
    TD_ASSERT_LT(max_rel(a, b, 640, 1e-3), 1e-5);
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
    TD_ASSERT_LT(rel_err(dlog, num, 2), 1e-2);
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

/* ---- networks ----------------------------------------------------------------------------- */

/* A small camera + lidar + state tower: every branch kind, a trunk and a head. */
static td_nn_tower small_tower(td_nn_head_type head, int n_out)
{
    td_nn_tower t;
    memset(&t, 0, sizeof(t));
    TD_FMT(t.name, "policy");
    t.camera_h = 11;
    t.camera_w = 9;
    t.camera_c = 2;
    t.n_camera = 2;
    t.camera[0] = (td_nn_conv_spec){3, 3, 2}; /* -> 5x4x3 */
    t.camera[1] = (td_nn_conv_spec){4, 2, 1}; /* -> 4x3x4 = 48 */
    t.lidar_dim = 6;
    t.n_lidar = 1;
    t.lidar[0] = 5;
    t.state_dim = 3;
    t.n_state = 2;
    t.state[0] = 4;
    t.state[1] = 4;
    t.n_trunk = 1;
    t.trunk[0] = 7;
    t.head = head;
    t.n_out = n_out;
    if (head == TD_NN_HEAD_Q) {
        TD_FMT(t.name, "q1");
        t.action_dim = 2;
    }
    return t;
}

typedef struct {
    td_nn_net *net;
    td_nn_input in;
    const float *r;
    int B;
} net_ctx;

static double net_loss(void *p)
{
    net_ctx *c = p;
    TD_ASSERT_OK(td_nn_net_forward(c->net, &c->in, c->B));
    return dot(c->net->out, c->r, (size_t)c->B * c->net->spec.n_out);
}

/*
 * Central differences of net_loss over x[0..n) (step 1e-2: large against the round-off of a
 * float32 forward; exact for the piecewise-linear parts). Where the one-sided differences
 * disagree, a ReLU kink lies within the step and the function has no derivative there: the
 * analytic gradient must then equal one of the one-sided slopes, and such elements are
 * counted (they must stay a minority).
 */
static size_t kink_aware_grad(float *num, float *x, const float *analytic, size_t n, net_ctx *c)
{
    size_t kinks = 0;
    double f0 = net_loss(c);
    for (size_t i = 0; i < n; i++) {
        /* a smaller step when a kink (or two) lies within the first */
        static const double steps[] = {1e-2, 3e-3, 1e-3};
        for (int si = 0; si < 3; si++) {
            double h = steps[si];
            float keep = x[i];
            x[i] = (float)(keep + h);
            double fp = net_loss(c);
            x[i] = (float)(keep - h);
            double fm = net_loss(c);
            x[i] = keep;
            double fwd = (fp - f0) / h, bwd = (f0 - fm) / h;
            double m = fabs(fwd) > fabs(bwd) ? fabs(fwd) : fabs(bwd);
            num[i] = (float)((fp - fm) / (2 * h));
            if (fabs(fwd - bwd) <= 3e-3 * m + 1e-4)
                break;
            /* the analytic gradient must then be one of the two sides */
            num[i] = (float)(fabs(fwd - analytic[i]) < fabs(bwd - analytic[i]) ? fwd : bwd);
            if (si == 2)
                kinks++;
        }
    }
    return kinks;
}

/*
 * Gradient check of a whole tower: loss = <out, r>. Parameters in float32 with central
 * differences (eps 1e-2 keeps the round-off of a float forward small against the step; a
 * ReLU crossing a kink inside the step shows up as one outlier, so the test uses the
 * whole-vector relative error).
 */
static void check_net_gradients(const td_nn_tower *t, uint64_t seed)
{
    td_rng rng;
    td_rng_seed(&rng, seed, 3);
    td_nn_net net;
    td_err err;
    int B = 3;
    TD_ASSERT_OK(td_nn_net_init(&net, t, 4, &rng, &err));
    float *cam =
        t->camera_h ? frand(&rng, (size_t)B * t->camera_h * t->camera_w * t->camera_c, 0, 1) : NULL;
    float *lidar = t->lidar_dim ? frand(&rng, (size_t)B * t->lidar_dim, -1, 1) : NULL;
    float *state = t->state_dim ? frand(&rng, (size_t)B * t->state_dim, -1, 1) : NULL;
    float *action = t->action_dim ? frand(&rng, (size_t)B * t->action_dim, -1, 1) : NULL;
    float *r = frand(&rng, (size_t)B * t->n_out, -1, 1);
    net_ctx c = {&net, {.camera = cam, .lidar = lidar, .state = state, .action = action}, r, B};
    net_loss(&c);
    td_nn_net_zero_grad(&net);
    TD_ASSERT_OK(td_nn_net_backward(&net, r, B));
    float *analytic = fbuf(net.n_params), *num = fbuf(net.n_params);
    memcpy(analytic, net.grads, net.n_params * sizeof(float));
    size_t all_kinks = 0, all_n = 0;
    for (int k = 0; k < net.n_tensors; k++) {
        const td_nn_tensor *tt = &net.tensors[k];
        if (strstr(tt->name, "log_std"))
            continue; /* the head's loss owns log_std's gradient */
        all_kinks += kink_aware_grad(num + tt->offset, net.params + tt->offset,
                                     analytic + tt->offset, tt->n, &c);
        all_n += tt->n;
        double e = rel_err(analytic + tt->offset, num + tt->offset, tt->n);
        TD_ASSERT_MSG(e < 1e-2, "%s: relative error %g", tt->name, e);
    }
    TD_ASSERT_MSG(all_kinks * 3 <= all_n, "%zu of %zu parameters at kinks", all_kinks, all_n);
    /*
     * Backward accumulates into the parameter gradients and nothing else: two backward
     * passes after one forward give exactly twice the gradients of one (no stale
     * activation gradients from an earlier pass leak in).
     */
    net_loss(&c);
    td_nn_net_zero_grad(&net);
    TD_ASSERT_OK(td_nn_net_backward(&net, r, B));
    memcpy(num, net.grads, net.n_params * sizeof(float));
    TD_ASSERT_OK(td_nn_net_backward(&net, r, B));
    for (size_t i = 0; i < net.n_params; i++)
        num[i] *= 2.0f;
    TD_ASSERT_LT(max_rel(net.grads, num, net.n_params, 1e-6), 1e-6);
    TD_ASSERT_GT(rel_err(net.grads, analytic, net.n_params), 0.4); /* != the single pass */
    if (action) {
        float *da = fbuf((size_t)B * t->action_dim);
        net_loss(&c);
        TD_ASSERT_OK(td_nn_net_backward(&net, r, B));
        memcpy(analytic, net.d_action, (size_t)B * t->action_dim * sizeof(float));
        kink_aware_grad(da, action, analytic, (size_t)B * t->action_dim, &c);
        double e = rel_err(analytic, da, (size_t)B * t->action_dim);
        TD_ASSERT_MSG(e < 1e-2, "d_action: relative error %g", e);
        td_free(da);
    }
    td_free(analytic);
    td_free(num);
    td_free(cam);
    td_free(lidar);
    td_free(state);
    td_free(action);
    td_free(r);
    td_nn_net_free(&net);
}

TD_TEST(net_gradients_match_finite_differences)
{
    td_nn_tower t = small_tower(TD_NN_HEAD_CATEGORICAL, 3);
    check_net_gradients(&t, 11);
    t = small_tower(TD_NN_HEAD_Q, 1); /* action concatenated, d_action checked */
    check_net_gradients(&t, 12);
    t = small_tower(TD_NN_HEAD_GAUSSIAN, 2);
    t.head_tanh = 1;
    check_net_gradients(&t, 13);
    /* a lone state MLP (single source, no concat copy) and a pass-through branch */
    memset(&t, 0, sizeof(t));
    TD_FMT(t.name, "value");
    t.state_dim = 4;
    t.n_state = 2;
    t.state[0] = t.state[1] = 6;
    t.head = TD_NN_HEAD_VALUE;
    t.n_out = 1;
    check_net_gradients(&t, 14);
    t.n_state = 0;
    t.n_trunk = 1;
    t.trunk[0] = 5;
    check_net_gradients(&t, 15);
}

/* Random inputs of small_tower for B samples and a random output gradient r (B x 3). */
typedef struct small_batch {
    float *cam, *lidar, *state, *r;
    td_nn_input in;
} small_batch;

static small_batch small_batch_make(td_rng *rng, int B)
{
    small_batch x;
    x.cam = frand(rng, (size_t)B * 11 * 9 * 2, 0, 1);
    x.lidar = frand(rng, B * 6, 0, 1);
    x.state = frand(rng, B * 3, -1, 1);
    x.r = frand(rng, B * 3, -1, 1);
    x.in = (td_nn_input){.camera = x.cam, .lidar = x.lidar, .state = x.state};
    return x;
}

static void small_batch_free(small_batch *x)
{
    td_free(x->cam);
    td_free(x->lidar);
    td_free(x->state);
    td_free(x->r);
}

/* A net of small_tower whose convs run in chunks of 2, 2, 1 samples (B = 5): an im2col budget
 * of two samples' patches. */
static void init_chunked(td_nn_net *net, const td_nn_tower *t, int B, td_rng *rng)
{
    size_t per =
        td_nn_conv2d_cols_size(1, 11, 9, 2, 3, 2) + td_nn_conv2d_cols_size(1, 5, 4, 3, 2, 1);
    size_t old = td_nn_set_cols_budget(2 * per * sizeof(float) + 4);
    TD_ASSERT_EQ_INT(old, TD_NN_DEFAULT_COLS_BUDGET);
    TD_ASSERT_OK(td_nn_net_init(net, t, B, rng, NULL));
    td_nn_set_cols_budget(old);
    TD_ASSERT_EQ_INT(net->cols_chunk, 2);
}

/*
 * With a small im2col budget the convs run in chunks of samples and the backward redoes
 * im2col: outputs and gradients must equal the kept-buffer path's (up to summation order).
 */
TD_TEST(net_chunked_im2col_matches_kept_buffers)
{
    td_nn_tower t = small_tower(TD_NN_HEAD_CATEGORICAL, 3);
    td_rng rng;
    td_rng_seed(&rng, 23, 0);
    int B = 5;
    small_batch x = small_batch_make(&rng, B);
    td_nn_input in = x.in;
    float *cam = x.cam, *r = x.r;
    td_nn_net kept, chunked;
    TD_ASSERT_OK(td_nn_net_init(&kept, &t, B, &rng, NULL));
    TD_ASSERT_EQ_INT(kept.cols_chunk, 0);
    init_chunked(&chunked, &t, B, NULL);
    TD_ASSERT_LT(chunked.n_acts, kept.n_acts);
    TD_ASSERT_OK(td_nn_net_copy_params(&chunked, &kept));
    TD_ASSERT_OK(td_nn_net_forward(&kept, &in, B));
    TD_ASSERT_OK(td_nn_net_forward(&chunked, &in, B));
    TD_ASSERT_LT(max_rel(chunked.out, kept.out, (size_t)B * 3, 1e-6), 1e-6);
    /* the caller's float camera may change after the forward: the chunked net copied it */
    for (int i = 0; i < B * 11 * 9 * 2; i++)
        cam[i] = -1.0f;
    TD_ASSERT_OK(td_nn_net_backward(&kept, r, B));
    TD_ASSERT_OK(td_nn_net_backward(&chunked, r, B));
    TD_ASSERT_LT(max_rel(chunked.grads, kept.grads, kept.n_params, 1e-6), 1e-5);
    td_nn_net_free(&kept);
    td_nn_net_free(&chunked);
    small_batch_free(&x);
}

/* Counts the questions; says "stop" from question `at` on. */
typedef struct cancel_probe {
    int asked, at;
} cancel_probe;

static int cancel_after(void *user)
{
    cancel_probe *c = user;
    return ++c->asked >= c->at;
}

/*
 * A pass asks net->cancel before every layer and conv chunk (the trainer's second Ctrl-C,
 * issue 10: a camera tower's pass takes seconds on a loaded machine) and stops at the first
 * "yes" with TD_EINTERRUPTED; a net that never says yes runs the whole pass as before.
 */
TD_TEST(net_pass_stops_when_cancel_says_so)
{
    td_rng rng;
    td_rng_seed(&rng, 29, 0);
    td_nn_tower t = small_tower(TD_NN_HEAD_CATEGORICAL, 3);
    const int B = 5;
    small_batch x = small_batch_make(&rng, B);
    td_nn_net net;
    init_chunked(&net, &t, B, &rng);
    TD_ASSERT(net.cancel == NULL);
    cancel_probe never = {0, 1000000};
    net.cancel = cancel_after;
    net.cancel_user = &never;
    TD_ASSERT_OK(td_nn_net_forward(&net, &x.in, B));
    int forward_questions = never.asked;
    TD_ASSERT_OK(td_nn_net_backward(&net, x.r, B));
    int backward_questions = never.asked - forward_questions;
    /* every layer once, and each conv layer again for its second and third chunk */
    TD_ASSERT_GT(forward_questions, net.n_layers);
    TD_ASSERT_GT(backward_questions, net.n_layers);
    for (int at = 1; at <= forward_questions; at++) {
        cancel_probe c = {0, at};
        net.cancel_user = &c;
        TD_ASSERT_EQ_INT(td_nn_net_forward(&net, &x.in, B), TD_EINTERRUPTED);
        TD_ASSERT_EQ_INT(c.asked, at); /* nothing more is asked (or computed) after a yes */
    }
    for (int at = 1; at <= backward_questions; at++) {
        cancel_probe c = {0, forward_questions + at};
        net.cancel_user = &c;
        TD_ASSERT_OK(td_nn_net_forward(&net, &x.in, B));
        TD_ASSERT_EQ_INT(td_nn_net_backward(&net, x.r, B), TD_EINTERRUPTED);
        TD_ASSERT_EQ_INT(c.asked, forward_questions + at);
    }
    td_nn_net_free(&net);
    small_batch_free(&x);
}

TD_TEST(net_batch_rows_are_independent)
{
    td_nn_tower t = small_tower(TD_NN_HEAD_CATEGORICAL, 3);
    td_rng rng;
    td_rng_seed(&rng, 21, 0);
    td_nn_net net;
    TD_ASSERT_OK(td_nn_net_init(&net, &t, 5, &rng, NULL));
    uint8_t cam[5 * 11 * 9 * 2];
    for (size_t i = 0; i < sizeof(cam); i++)
        cam[i] = (uint8_t)td_rng_below(&rng, 256);
    float *lidar = frand(&rng, 5 * 6, 0, 1), *state = frand(&rng, 5 * 3, -1, 1);
    td_nn_input in = {.camera_u8 = cam, .lidar = lidar, .state = state};
    TD_ASSERT_OK(td_nn_net_forward(&net, &in, 5));
    float batch[15];
    memcpy(batch, net.out, sizeof(batch));
    for (int b = 0; b < 5; b++) {
        td_nn_input one = {
            .camera_u8 = cam + b * 198, .lidar = lidar + b * 6, .state = state + b * 3};
        TD_ASSERT_OK(td_nn_net_forward(&net, &one, 1));
        for (int k = 0; k < 3; k++)
            TD_ASSERT_NEAR(net.out[k], batch[b * 3 + k], 1e-5 * (1 + fabs(batch[b * 3 + k])));
    }
    /* float camera input equals the uint8 one divided by 255 */
    float camf[198];
    for (int i = 0; i < 198; i++)
        camf[i] = cam[4 * 198 + i] / 255.0f;
    td_nn_input f = {.camera = camf, .lidar = lidar + 24, .state = state + 12};
    TD_ASSERT_OK(td_nn_net_forward(&net, &f, 1));
    TD_ASSERT_NEAR(net.out[0], batch[12], 1e-5 * (1 + fabs(batch[12])));
    /* bad calls */
    TD_ASSERT_EQ_INT(td_nn_net_forward(&net, &in, 6), TD_EINVAL);
    TD_ASSERT_EQ_INT(td_nn_net_forward(&net, &in, 0), TD_EINVAL);
    td_nn_input missing = {.camera_u8 = cam, .state = state};
    TD_ASSERT_EQ_INT(td_nn_net_forward(&net, &missing, 1), TD_EINVAL);
    td_free(lidar);
    td_free(state);
    td_nn_net_free(&net);
}

/*
 * SHALLOW on one 120x160 camera, 10 discrete actions, by hand:
 *   conv 32x8x8x1 + 32          =     2,080   (120x160x1 -> 29x39x32)
 *   conv 64x4x4x32 + 64         =    32,832   (-> 13x18x64)
 *   conv 64x3x3x64 + 64         =    36,928   (-> 11x16x64 = 11,264)
 *   dense 512x11264 + 512       = 5,767,680
 *   head 10x512 + 10            =     5,130
 *   policy total                = 5,844,650;  value (head 1x512 + 1 = 513): 5,840,033.
 */
TD_TEST(shallow_topology_has_deepracer_parameter_count)
{
    td_nn_topology topo;
    td_err err;
    td_nn_io_spec io = {.camera_h = 120, .camera_w = 160, .camera_c = 1, .n_actions = 10};
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", &io, &err));
    TD_ASSERT_EQ_INT(topo.n_towers, 2);
    const td_nn_tower *pol = td_nn_topology_find(&topo, "policy");
    const td_nn_tower *val = td_nn_topology_find(&topo, "value");
    TD_ASSERT(pol && val);
    TD_ASSERT_EQ_INT(td_nn_tower_param_count(pol), 5844650);
    TD_ASSERT_EQ_INT(td_nn_tower_param_count(val), 5840033);

    /* one allocation each for params, grads, both moments and activations (+ the layer table) */
    long live = td_alloc_live();
    td_nn_net net;
    TD_ASSERT_OK(td_nn_net_init(&net, pol, 2, NULL, &err));
    TD_ASSERT_EQ_INT(td_alloc_live() - live, 6);
    TD_ASSERT_EQ_INT(net.n_weights, 5844650);
    TD_ASSERT(net.n_params >= net.n_weights && net.n_params < net.n_weights + 16 * 10 + 16);
    TD_ASSERT_EQ_INT(net.n_tensors, 10);
    for (int i = 0; i < net.n_tensors; i++)
        TD_ASSERT_EQ_INT(((uintptr_t)(net.params + net.tensors[i].offset)) % 64, 0);
    const td_nn_tensor *w = td_nn_net_tensor(&net, "policy.trunk.0.weight");
    TD_ASSERT(w != NULL);
    TD_ASSERT_EQ_INT(w->shape[0], 512);
    TD_ASSERT_EQ_INT(w->shape[1], 11264);
    w = td_nn_net_tensor(&net, "policy.camera.1.weight");
    TD_ASSERT(w && w->ndim == 4 && w->shape[0] == 64 && w->shape[1] == 4 && w->shape[3] == 32);
    TD_ASSERT(td_nn_net_tensor(&net, "policy.head.bias") != NULL);
    /* forward FLOPs: 2 * (1131*32*64 + 234*64*512 + 176*64*576 + 11264*512 + 512*10) */
    double macs = 1131.0 * 32 * 64 + 234.0 * 64 * 512 + 176.0 * 64 * 576 + 11264.0 * 512 + 5120;
    TD_ASSERT_NEAR(net.flops_per_sample, 2 * macs, 1);
    td_nn_net_free(&net);
    TD_ASSERT_EQ_INT(td_alloc_live(), live);

    /* the other named networks */
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK", &io, &err));
    TD_ASSERT_EQ_INT(topo.towers[0].n_camera, 4);
    TD_ASSERT_EQ_INT(topo.towers[0].n_trunk, 2);
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_DEEP", &io, &err));
    TD_ASSERT_EQ_INT(topo.towers[1].trunk[3], 128);
    io.camera_c = 2;
    io.lidar_dim = 64;
    io.continuous = 1;
    io.sac = 1;
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_DEEP", &io, &err));
    TD_ASSERT_EQ_INT(topo.n_towers, 3);
    TD_ASSERT_EQ_INT(topo.towers[0].n_camera, 5); /* stereo stack */
    TD_ASSERT_EQ_INT(topo.towers[0].camera[4].filters, 128);
    TD_ASSERT_EQ_INT(topo.towers[0].n_lidar, 2);
    TD_ASSERT_EQ_INT(topo.towers[0].head, TD_NN_HEAD_GAUSSIAN);
    TD_ASSERT_EQ_INT(topo.towers[2].head, TD_NN_HEAD_Q);
    TD_ASSERT_EQ_INT(topo.towers[2].action_dim, 2);
    TD_ASSERT_EQ_INT(td_nn_topology_deepracer(&topo, "RESNET", &io, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "RESNET");
    io.camera_h = 20; /* too small for the conv stack */
    io.camera_w = 20;
    TD_ASSERT_EQ_INT(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_DEEP", &io, &err),
                     TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "does not fit");
    /* state-only MLP, default 2x64 */
    td_nn_io_spec st = {.state_dim = 10, .n_actions = 5};
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, NULL, &st, &err));
    TD_ASSERT_EQ_INT(td_nn_tower_param_count(&topo.towers[0]),
                     10 * 64 + 64 + 64 * 64 + 64 + 64 * 5 + 5);
}

TD_TEST(topology_json_round_trip_and_errors)
{
    td_nn_topology topo, back;
    td_err err;
    td_nn_io_spec io = {.camera_h = 120,
                        .camera_w = 160,
                        .camera_c = 1,
                        .lidar_dim = 64,
                        .continuous = 1,
                        .sac = 1};
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", &io, &err));
    topo.towers[0].head_tanh = 1;
    json_t *tj, *ij;
    TD_ASSERT_OK(td_nn_topology_to_json(&topo, &tj, &ij, &err));
    char *text = json_dumps(tj, JSON_COMPACT);
    TD_ASSERT_CONTAINS(text, "\"policy\":{\"camera\":[[32,8,4],[64,4,2],[64,3,1]]");
    TD_ASSERT_CONTAINS(text, "\"head\":{\"type\":\"q\",\"n\":1}");
    TD_ASSERT_CONTAINS(text, "\"squash\":\"tanh\"");
    free(text);
    text = json_dumps(ij, JSON_COMPACT);
    TD_ASSERT_CONTAINS(text, "\"camera\":[120,160,1]");
    TD_ASSERT_CONTAINS(text, "\"action\":[2]");
    free(text);
    TD_ASSERT_OK(td_nn_topology_from_json(&back, tj, ij, &err));
    TD_ASSERT_EQ_INT(back.n_towers, 3);
    for (int i = 0; i < 3; i++)
        TD_ASSERT_EQ(memcmp(&back.towers[i], &topo.towers[i], sizeof(td_nn_tower)), 0);
    json_decref(tj);
    json_decref(ij);

    /* errors name the tower and the key */
    static const struct {
        const char *topology, *inputs, *want;
    } bad[] = {
        {"{\"towers\": {\"policy\": {\"camera\": [[32, 8]], \"head\": {\"type\": \"value\", \"n\": "
         "1}}}}",
         "{\"camera\": [120, 160, 1]}", "camera[0] must be [filters, kernel, stride]"},
        {"{\"towers\": {\"policy\": {\"lidar\": [256], \"head\": {\"type\": \"value\", \"n\": "
         "1}}}}",
         "{\"camera\": [120, 160, 1]}", "has a \"lidar\" branch but inputs has no \"lidar\""},
        {"{\"towers\": {\"policy\": {\"state\": [0], \"head\": {\"type\": \"value\", \"n\": 1}}}}",
         "{\"state\": [4]}", "tower 'policy': state[0]"},
        {"{\"towers\": {\"policy\": {\"state\": [8], \"head\": {\"type\": \"softmax\", \"n\": "
         "1}}}}",
         "{\"state\": [4]}", "unknown head.type 'softmax'"},
        {"{\"towers\": {\"q1\": {\"state\": [8], \"head\": {\"type\": \"q\", \"n\": 1}}}}",
         "{\"state\": [4]}", "inputs has no \"action\""},
        {"{\"towers\": {\"policy\": {\"camera\": [[32, 8, 4], [64, 64, 1]], \"head\": {\"type\": "
         "\"value\", \"n\": 1}}}}",
         "{\"camera\": [120, 160, 1]}", "does not fit"},
        {"{\"towers\": {}}", "{\"state\": [4]}", "non-empty"},
        {"{\"towers\": {\"p\": {\"head\": {\"type\": \"value\", \"n\": 1}}}}",
         "{\"state\": [4, 2]}", "\"state\" must be an array of 1 integers"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *a = json_loads(bad[i].topology, 0, NULL), *b = json_loads(bad[i].inputs, 0, NULL);
        TD_ASSERT_MSG(a && b, "case %zu does not parse", i);
        int rc = td_nn_topology_from_json(&back, a, b, &err);
        TD_ASSERT_MSG(rc < 0, "case %zu accepted", i);
        TD_ASSERT_CONTAINS(err.msg, bad[i].want);
        json_decref(a);
        json_decref(b);
    }
}

TD_TEST(net_training_reduces_a_loss)
{
    /* a state MLP learns a fixed regression target with Adam; the loss must drop a lot */
    td_nn_tower t;
    memset(&t, 0, sizeof(t));
    TD_FMT(t.name, "value");
    t.state_dim = 4;
    t.n_state = 2;
    t.state[0] = t.state[1] = 32;
    t.head = TD_NN_HEAD_VALUE;
    t.n_out = 1;
    td_rng rng;
    td_rng_seed(&rng, 31, 0);
    td_nn_net net;
    TD_ASSERT_OK(td_nn_net_init(&net, &t, 64, &rng, NULL));
    float *x = frand(&rng, 64 * 4, -1, 1), y[64], d[64];
    for (int b = 0; b < 64; b++)
        y[b] = sinf(2 * x[b * 4]) + x[b * 4 + 1] * x[b * 4 + 2];
    td_nn_adam_config cfg;
    td_nn_adam_config_default(&cfg);
    cfg.lr = 3e-3f;
    td_nn_input in = {.state = x};
    float first = 0, last = 0;
    for (int it = 0; it < 300; it++) {
        TD_ASSERT_OK(td_nn_net_forward(&net, &in, 64));
        last = td_nn_mse_forward(net.out, y, 64);
        if (it == 0)
            first = last;
        memset(d, 0, sizeof(d));
        td_nn_mse_backward(d, net.out, y, 64, 1.0f);
        td_nn_net_zero_grad(&net);
        TD_ASSERT_OK(td_nn_net_backward(&net, d, 64));
        td_nn_clip_grad_norm(net.grads, net.n_params, 10.0f);
        td_nn_adam_step(&net, &cfg);
    }
    TD_ASSERT_EQ_INT(net.adam_t, 300);
    TD_ASSERT_MSG(last < 0.05 * first, "loss %g -> %g", first, last);
    /* copy and polyak between nets of the same shape */
    td_nn_net tgt;
    TD_ASSERT_OK(td_nn_net_init(&tgt, &t, 1, NULL, NULL));
    TD_ASSERT_OK(td_nn_net_polyak(&tgt, &net, 0.25f));
    TD_ASSERT_NEAR(tgt.params[5], 0.25f * net.params[5], 1e-7);
    TD_ASSERT_OK(td_nn_net_copy_params(&tgt, &net));
    TD_ASSERT_EQ(memcmp(tgt.params, net.params, net.n_params * sizeof(float)), 0);
    td_nn_net other;
    t.state[0] = 16;
    TD_ASSERT_OK(td_nn_net_init(&other, &t, 1, NULL, NULL));
    TD_ASSERT_EQ_INT(td_nn_net_copy_params(&other, &net), TD_EINVAL);
    td_nn_net_free(&other);
    td_nn_net_free(&tgt);
    td_nn_net_free(&net);
    td_free(x);
}

TD_TEST(net_init_rejects_bad_towers_and_survives_oom)
{
    td_nn_tower t = small_tower(TD_NN_HEAD_CATEGORICAL, 3);
    td_nn_net net;
    td_err err;
    t.camera[1].kernel = 9;
    TD_ASSERT_EQ_INT(td_nn_net_init(&net, &t, 4, NULL, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "camera layer 1");
    t = small_tower(TD_NN_HEAD_CATEGORICAL, 0);
    TD_ASSERT_EQ_INT(td_nn_net_init(&net, &t, 4, NULL, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "head has 0 outputs");
    t = small_tower(TD_NN_HEAD_CATEGORICAL, 3);
    TD_ASSERT_EQ_INT(td_nn_net_init(&net, &t, 0, NULL, &err), TD_EINVAL);
    for (long k = 0; k < 8; k++) {
        long live = td_alloc_live();
        td_alloc_fail_after(k);
        int rc = td_nn_net_init(&net, &t, 4, NULL, &err);
        td_alloc_fail_after(-1);
        if (rc == 0) {
            td_nn_net_free(&net);
            TD_ASSERT_GE(k, 6);
        } else {
            TD_ASSERT_EQ_INT(rc, TD_ENOMEM);
            TD_ASSERT_CONTAINS(err.msg, "out of memory");
        }
        TD_ASSERT_EQ_INT(td_alloc_live(), live);
    }
}

/* ---- model files -------------------------------------------------------------------------- */

#include "trackday/infer.h"

static json_t *discrete_extras(int n_actions)
{
    json_t *x = json_object(), *space = json_array();
    for (int i = 0; i < n_actions; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "steering_angle", json_real(-30.0 + 60.0 * i / (n_actions - 1)));
        json_object_set_new(a, "speed", json_real(1.0));
        json_array_append_new(space, a);
    }
    json_object_set_new(x, "sensors", json_pack("[ss]", "FRONT_FACING_CAMERA", "LIDAR"));
    json_object_set_new(x, "action_space_type", json_string("discrete"));
    json_object_set_new(x, "action_space", space);
    json_object_set_new(x, "preprocessing",
                        json_pack("{s{sfsi}}", "camera", "scale", 1.0 / 255.0, "offset", 0));
    json_object_set_new(x, "lineage", json_pack("{ssss}", "run_id", "r-test", "track", "oval"));
    return x;
}

static void tmp_path(char *out, size_t n, const char *name)
{
    int len = snprintf(out, n, "%s/%s", td_test_tmpdir(), name);
    TD_ASSERT_MSG(len > 0 && (size_t)len < n, "%s: path too long", name);
}

/* Two towers of the small topology (camera + lidar + state), randomly initialized. */
static void two_small_nets(td_nn_net nets[2], uint64_t seed)
{
    td_rng rng;
    td_rng_seed(&rng, seed, 0);
    td_nn_tower pol = small_tower(TD_NN_HEAD_CATEGORICAL, 3), val = pol;
    TD_FMT(val.name, "value");
    val.head = TD_NN_HEAD_VALUE;
    val.n_out = 1;
    TD_ASSERT_OK(td_nn_net_init(&nets[0], &pol, 2, &rng, NULL));
    TD_ASSERT_OK(td_nn_net_init(&nets[1], &val, 2, &rng, NULL));
}

TD_TEST(model_save_load_round_trip_is_bit_exact)
{
    td_nn_net nets[2], back[4];
    two_small_nets(nets, 41);
    char path[512], path2[512];
    tmp_path(path, sizeof(path), "a.tdm");
    tmp_path(path2, sizeof(path2), "b.tdm");
    json_t *extras = discrete_extras(3);
    const td_nn_net *list[] = {&nets[0], &nets[1]};
    td_err err;
    TD_ASSERT_OK(td_nn_save(path, list, 2, extras, &err));
    int n = 0;
    json_t *header = NULL;
    TD_ASSERT_OK(td_nn_load(path, back, 4, &n, 8, &header, &err));
    TD_ASSERT_EQ_INT(n, 2);
    for (int i = 0; i < 2; i++) {
        TD_ASSERT_STREQ(back[i].spec.name, nets[i].spec.name);
        TD_ASSERT_EQ(memcmp(&back[i].spec, &nets[i].spec, sizeof(td_nn_tower)), 0);
        TD_ASSERT_EQ_INT(back[i].max_batch, 8);
        TD_ASSERT_EQ(memcmp(back[i].params, nets[i].params, nets[i].n_params * sizeof(float)), 0);
    }
    TD_ASSERT_STREQ(
        json_string_value(json_object_get(json_object_get(header, "lineage"), "run_id")), "r-test");
    TD_ASSERT_STREQ(json_string_value(json_object_get(header, "format")), "trackday-model");
    json_decref(header);
    /* canonical: writing what was read gives the same bytes */
    const td_nn_net *list2[] = {&back[0], &back[1]};
    TD_ASSERT_OK(td_nn_save(path2, list2, 2, extras, &err));
    char *a, *b;
    size_t la, lb;
    TD_ASSERT_OK(td_file_read(path, &a, &la, &err));
    TD_ASSERT_OK(td_file_read(path2, &b, &lb, &err));
    TD_ASSERT_EQ_INT(la, lb);
    TD_ASSERT_EQ(memcmp(a, b, la), 0);
    TD_ASSERT_EQ(memcmp(a, "TDMODEL\0\1\0\0\0\0\0\0\0", 16), 0);
    TD_ASSERT_EQ_INT(la % 64, 4); /* aligned data section + the CRC trailer */
    td_free(a);
    td_free(b);

    /* the device runtime reads nn's file and computes the same policy outputs */
    td_infer_model *m = NULL;
    td_infer_err ierr;
    TD_ASSERT_MSG(td_infer_open_file(&m, path, &ierr) == 0, "infer: %s", ierr.msg);
    uint8_t cam[11 * 9 * 2];
    float lidar[6], state[3];
    td_rng rng;
    td_rng_seed(&rng, 42, 0);
    for (size_t i = 0; i < sizeof(cam); i++)
        cam[i] = (uint8_t)td_rng_below(&rng, 256);
    for (int i = 0; i < 6; i++)
        lidar[i] = (float)td_rng_uniform(&rng);
    for (int i = 0; i < 3; i++)
        state[i] = (float)td_rng_range(&rng, -1, 1);
    td_infer_obs obs = {cam, lidar, state};
    td_infer_action act;
    TD_ASSERT_OK(td_infer_run(m, &obs, &act));
    td_nn_input in = {.camera_u8 = cam, .lidar = lidar, .state = state};
    TD_ASSERT_OK(td_nn_net_forward(&back[0], &in, 1));
    const float *io = td_infer_output(m);
    for (int k = 0; k < 3; k++)
        TD_ASSERT_NEAR(io[k], back[0].out[k], 1e-5 * (1 + fabs(back[0].out[k])));
    td_infer_close(m);

    json_decref(extras);
    unlink(path);
    unlink(path2);
    for (int i = 0; i < 2; i++) {
        td_nn_net_free(&nets[i]);
        td_nn_net_free(&back[i]);
    }
}

/* Writes bytes to path and expects td_nn_load to fail with code and a message containing want. */
static void expect_load_error(const char *path, const char *bytes, size_t len, int code,
                              const char *want)
{
    td_err err;
    TD_ASSERT_OK(td_file_write_atomic(path, bytes, len, &err));
    td_nn_net nets[4];
    int n = 7;
    long live = td_alloc_live();
    int rc = td_nn_load(path, nets, 4, &n, 1, NULL, &err);
    TD_ASSERT_MSG(rc == code, "want %s, got %d (%s)", want, rc, err.msg);
    TD_ASSERT_CONTAINS(err.msg, want);
    TD_ASSERT_CONTAINS(err.msg, path);
    TD_ASSERT_EQ_INT(n, 0);
    TD_ASSERT_EQ_INT(td_alloc_live(), live);
}

static char *find(char *hay, size_t len, const char *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

static void fix_crc(char *buf, size_t len)
{
    uint32_t crc = td_crc32(0, buf, len - 4);
    for (int i = 0; i < 4; i++)
        buf[len - 4 + i] = (char)(crc >> (8 * i));
}

TD_TEST(model_load_rejects_bad_files)
{
    td_nn_net nets[2];
    two_small_nets(nets, 43);
    char path[512], bad[512];
    tmp_path(path, sizeof(path), "good.tdm");
    tmp_path(bad, sizeof(bad), "bad.tdm");
    json_t *extras = discrete_extras(3);
    const td_nn_net *list[] = {&nets[0], &nets[1]};
    td_err err;
    TD_ASSERT_OK(td_nn_save(path, list, 2, extras, &err));
    char *good;
    size_t len;
    TD_ASSERT_OK(td_file_read(path, &good, &len, &err));
    char *b = td_malloc(len + 64);
    TD_ASSERT(b != NULL);

    memcpy(b, good, len);
    b[0] = 'X';
    expect_load_error(bad, b, len, TD_EFORMAT, "bad magic");
    memcpy(b, good, len);
    b[8] = 2;
    expect_load_error(bad, b, len, TD_EVERSION, "unsupported format version 2");
    memcpy(b, good, len);
    b[12] = 1;
    expect_load_error(bad, b, len, TD_EVERSION, "unknown flags");
    expect_load_error(bad, good, 20, TD_EFORMAT, "truncated");
    expect_load_error(bad, good, 100, TD_EFORMAT, "truncated: the header of");
    /* Worded as infer/ (`model show`) words it: one message from one place. */
    char want[128];
    TD_FMT(want, "truncated: the file has %zu bytes, its header says %zu", len - 70, len);
    expect_load_error(bad, good, len - 70, TD_EFORMAT, want);
    memcpy(b, good, len);
    memset(b + len, 0, 64);
    TD_FMT(want, "64 trailing bytes: the file has %zu bytes, its header says %zu", len + 64, len);
    expect_load_error(bad, b, len + 64, TD_EFORMAT, want);
    memcpy(b, good, len);
    b[len - 100] ^= 0x10; /* a flipped bit in the data */
    expect_load_error(bad, b, len, TD_ECHECKSUM, "checksum mismatch: stored");
    memcpy(b, good, len);
    b[24] = ']'; /* broken JSON with a fixed CRC: the JSON error is reported */
    fix_crc(b, len);
    expect_load_error(bad, b, len, TD_EFORMAT, "header JSON invalid at byte");
    memcpy(b, good, len);
    b[24] = ']'; /* broken JSON and a bad CRC: corruption */
    expect_load_error(bad, b, len, TD_ECHECKSUM, "checksum mismatch");

    /* same-length header edits with a fixed CRC: the topology must match the tensors */
    memcpy(b, good, len);
    char *h = find(b, len, "\"categorical\",\"n\":3", 19);
    TD_ASSERT(h != NULL);
    h[18] = '4';
    fix_crc(b, len);
    expect_load_error(bad, b, len, TD_EFORMAT,
                      "tensor 'policy.head.weight' has shape [3, 7], the topology needs [4, 7]");
    memcpy(b, good, len);
    h = find(b, len, "\"policy.head.bias\"", 18);
    TD_ASSERT(h != NULL);
    memcpy(h, "\"policy.head.bisa\"", 18);
    fix_crc(b, len);
    expect_load_error(bad, b, len, TD_EFORMAT, "tensor 'policy.head.bias' [3] is missing");
    memcpy(b, good, len);
    h = find(b, len, "\"offset\":256", 12);
    TD_ASSERT(h != NULL);
    memcpy(h, "\"offset\":257", 12);
    fix_crc(b, len);
    expect_load_error(bad, b, len, TD_EFORMAT, "is not a multiple of 64");

    /* too little room for the towers, and nothing leaks */
    td_nn_net one[1];
    int n;
    TD_ASSERT_EQ_INT(td_nn_load(path, one, 1, &n, 1, NULL, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "2 towers but room for 1");
    TD_ASSERT_EQ_INT(td_nn_load("/nonexistent/x.tdm", one, 1, &n, 1, NULL, &err), TD_ENOENT);
    /* saving needs the action space */
    json_t *empty = json_object();
    TD_ASSERT_EQ_INT(td_nn_save(bad, list, 2, empty, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "action_space");
    json_decref(empty);

    td_free(b);
    td_free(good);
    json_decref(extras);
    unlink(path);
    unlink(bad);
    td_nn_net_free(&nets[0]);
    td_nn_net_free(&nets[1]);
}

/* ---- the benchmark command ------------------------------------------------------------------ */

TD_TEST(bench_nn_prints_every_line)
{
    char cmd[1024];
    TD_FMT(cmd, "%s bench nn --seconds 0.01", TD_TEST_TRACKDAY_BIN);
    FILE *p = popen(cmd, "r");
    TD_ASSERT(p != NULL);
    char out[4096] = {0};
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    TD_ASSERT_EQ_INT(pclose(p), 0);
    static const char *const names[] = {"sgemm_gflops",          "shallow_train_samples_per_s",
                                        "shallow_train_gflops",  "shallow_train_ratio_to_sgemm",
                                        "shallow_infer_ms_fp32", "mlp_train_samples_per_s"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char key[128];
        TD_FMT(key, "{\"bench\": \"%s\", \"value\": ", names[i]);
        const char *line = strstr(out, key);
        TD_ASSERT_MSG(line != NULL, "no %s line in: %s", names[i], out);
        double v = strtod(line + strlen(key), NULL);
        TD_ASSERT_MSG(v > 0 && isfinite(v), "%s = %g", names[i], v);
    }
}
