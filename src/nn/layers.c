/*
 * layers.c - the fast nn kernels: dense and conv2d through td_nn_sgemm (conv as im2col with
 * the batch folded into the matrix rows, M = B*OH*OW), elementwise activations, softmax,
 * the Gaussian policy head, concatenation and the value losses. Each has a naive twin in
 * ref.c (or is itself a plain loop) and tests hold them equal.
 */
#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

#include "nn/internal.h"

/* ---- epilogues ---------------------------------------------------------------------------- */

/* Adds bias (OC) to each of the M rows of out (M, OC) and applies ReLU if asked. */
TD__NN_VECTORIZE static void bias_relu(float *restrict out, const float *restrict bias, size_t M,
                                       int OC, int relu)
{
    for (size_t m = 0; m < M; m++) {
        float *restrict row = out + m * OC;
        if (bias)
            for (int o = 0; o < OC; o++)
                row[o] += bias[o];
        if (relu)
            for (int o = 0; o < OC; o++)
                row[o] = row[o] > 0.0f ? row[o] : 0.0f;
    }
}

/* Zeroes dout where the fused ReLU's output was not positive; then dbias += column sums. */
TD__NN_VECTORIZE static void relu_mask_bias_grad(float *restrict dout,
                                                 const float *restrict relu_out,
                                                 float *restrict dbias, size_t M, int OC)
{
    if (relu_out)
        for (size_t i = 0; i < M * OC; i++)
            dout[i] = relu_out[i] > 0.0f ? dout[i] : 0.0f;
    if (dbias)
        for (size_t m = 0; m < M; m++) {
            const float *restrict row = dout + m * OC;
            for (int o = 0; o < OC; o++)
                dbias[o] += row[o];
        }
}

/* ---- dense -------------------------------------------------------------------------------- */

void td_nn_dense_forward(float *out, const float *inp, const float *weight, const float *bias,
                         int B, int C, int OC, int relu)
{
    /* out (B, OC) = inp (B, C) * weight^T (C, OC) */
    td_nn_sgemm(0, 1, B, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);
    bias_relu(out, bias, (size_t)B, OC, relu);
}

void td_nn_dense_backward(float *dinp, float *dweight, float *dbias, float *dout,
                          const float *relu_out, const float *inp, const float *weight, int B,
                          int C, int OC)
{
    relu_mask_bias_grad(dout, relu_out, dbias, (size_t)B, OC);
    /* dweight (OC, C) += dout^T (OC, B) * inp (B, C) */
    td_nn_sgemm(1, 0, OC, C, B, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    /* dinp (B, C) += dout (B, OC) * weight (OC, C) */
    if (dinp)
        td_nn_sgemm(0, 0, B, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
}

/* ---- conv2d ------------------------------------------------------------------------------- */

int td_nn_conv2d_out_dim(int in, int K, int S)
{
    if (K <= 0 || S <= 0 || in < K)
        return 0;
    return (in - K) / S + 1;
}

size_t td_nn_conv2d_cols_size(int B, int H, int W, int C, int K, int S)
{
    return (size_t)B * td_nn_conv2d_out_dim(H, K, S) * td_nn_conv2d_out_dim(W, K, S) * K * K * C;
}

/*
 * cols (B*OH*OW, K*K*C): row (b, oh, ow) is the patch in (kh, kw, c) order. Channels last
 * makes each kernel row (kw, c) one contiguous run of K*C floats in the input, so a patch
 * is K memcpys.
 */
TD__NN_INLINE_COPIES static void im2col(float *restrict cols, const float *restrict inp, int B,
                                        int H, int W, int C, int K, int S, int OH, int OW)
{
    size_t run = (size_t)K * C;
    float *row = cols;
    for (int b = 0; b < B; b++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                const float *src =
                    inp + (((size_t)b * H + (size_t)oh * S) * W + (size_t)ow * S) * C;
                /*
                 * Inline copies: runs are short (8 floats in SHALLOW's first layer, a few
                 * hundred at most) and a memcpy call per run costs more than the copy.
                 * (TD__NN_INLINE_COPIES keeps GCC from turning the loop back into memcpy.)
                 */
                for (int kh = 0; kh < K; kh++) {
                    size_t i = 0;
#ifdef __SSE2__
                    for (; i + 4 <= run; i += 4)
                        _mm_storeu_ps(row + i, _mm_loadu_ps(src + i));
#endif
                    for (; i < run; i++)
                        row[i] = src[i];
                    row += run;
                    src += (size_t)W * C;
                }
            }
}

/* The adjoint of im2col: dinp += scatter of dcols (overlapping patches add up). */
TD__NN_VECTORIZE static void col2im_add(float *restrict dinp, const float *restrict dcols, int B,
                                        int H, int W, int C, int K, int S, int OH, int OW)
{
    size_t run = (size_t)K * C;
    const float *row = dcols;
    for (int b = 0; b < B; b++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float *dst = dinp + (((size_t)b * H + (size_t)oh * S) * W + (size_t)ow * S) * C;
                for (int kh = 0; kh < K; kh++) {
                    for (size_t i = 0; i < run; i++)
                        dst[i] += row[i];
                    row += run;
                    dst += (size_t)W * C;
                }
            }
}

void td__nn_im2col(float *cols, const float *inp, int B, int H, int W, int C, int K, int S)
{
    im2col(cols, inp, B, H, W, C, K, S, td_nn_conv2d_out_dim(H, K, S),
           td_nn_conv2d_out_dim(W, K, S));
}

void td_nn_conv2d_forward(float *out, float *cols, const float *inp, const float *weight,
                          const float *bias, int B, int H, int W, int C, int OC, int K, int S,
                          int relu)
{
    int OH = td_nn_conv2d_out_dim(H, K, S), OW = td_nn_conv2d_out_dim(W, K, S);
    int KKC = K * K * C;
    int M = B * OH * OW;
    im2col(cols, inp, B, H, W, C, K, S, OH, OW);
    /* out (M, OC) = cols (M, KKC) * weight^T (KKC, OC) */
    td_nn_sgemm(0, 1, M, OC, KKC, 1.0f, cols, KKC, weight, KKC, 0.0f, out, OC);
    bias_relu(out, bias, (size_t)M, OC, relu);
}

void td_nn_conv2d_backward(float *dinp, float *dweight, float *dbias, float *dcols, float *dout,
                           const float *relu_out, const float *cols, const float *weight, int B,
                           int H, int W, int C, int OC, int K, int S)
{
    int OH = td_nn_conv2d_out_dim(H, K, S), OW = td_nn_conv2d_out_dim(W, K, S);
    int KKC = K * K * C;
    int M = B * OH * OW;
    relu_mask_bias_grad(dout, relu_out, dbias, (size_t)M, OC);
    /* dweight (OC, KKC) += dout^T (OC, M) * cols (M, KKC): straight from the kept im2col */
    td_nn_sgemm(1, 0, OC, KKC, M, 1.0f, dout, OC, cols, KKC, 1.0f, dweight, KKC);
    if (dinp) {
        /* dcols (M, KKC) = dout (M, OC) * weight (OC, KKC), then scattered back */
        td_nn_sgemm(0, 0, M, KKC, OC, 1.0f, dout, OC, weight, KKC, 0.0f, dcols, KKC);
        col2im_add(dinp, dcols, B, H, W, C, K, S, OH, OW);
    }
}

/* ---- activations -------------------------------------------------------------------------- */

TD__NN_VECTORIZE void td_nn_relu_forward(float *out, const float *inp, size_t N)
{
    for (size_t i = 0; i < N; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

TD__NN_VECTORIZE void td_nn_relu_backward(float *dinp, const float *dout, const float *out,
                                          size_t N)
{
    for (size_t i = 0; i < N; i++)
        dinp[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

void td_nn_tanh_forward(float *out, const float *inp, size_t N)
{
    for (size_t i = 0; i < N; i++)
        out[i] = tanhf(inp[i]);
}

TD__NN_VECTORIZE void td_nn_tanh_backward(float *dinp, const float *dout, const float *out,
                                          size_t N)
{
    for (size_t i = 0; i < N; i++)
        dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

/* ---- softmax ------------------------------------------------------------------------------ */

/* Subtracting the row maximum keeps exp() from overflowing whatever the logits. */
void td_nn_softmax_forward(float *probs, const float *logits, int B, int V)
{
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * V;
        float *p = probs + (size_t)b * V;
        float mx = x[0];
        for (int v = 1; v < V; v++)
            mx = x[v] > mx ? x[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) {
            p[v] = expf(x[v] - mx);
            sum += p[v];
        }
        float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++)
            p[v] *= inv;
    }
}

void td_nn_softmax_backward(float *dlogits, const float *dprobs, const float *probs, int B, int V)
{
    /* dx_i = p_i (dp_i - sum_j p_j dp_j) */
    for (int b = 0; b < B; b++) {
        const float *p = probs + (size_t)b * V, *dp = dprobs + (size_t)b * V;
        double dot = 0.0;
        for (int v = 0; v < V; v++)
            dot += (double)p[v] * dp[v];
        for (int v = 0; v < V; v++)
            dlogits[(size_t)b * V + v] += p[v] * (dp[v] - (float)dot);
    }
}

void td_nn_log_softmax_forward(float *logp, const float *logits, int B, int V)
{
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * V;
        float mx = x[0];
        for (int v = 1; v < V; v++)
            mx = x[v] > mx ? x[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++)
            sum += expf(x[v] - mx);
        /* (x - max) - log(sum), not x - (max + log(sum)): keeps precision for huge logits */
        float lsum = (float)log(sum);
        for (int v = 0; v < V; v++)
            logp[(size_t)b * V + v] = (x[v] - mx) - lsum;
    }
}

void td_nn_log_softmax_backward(float *dlogits, const float *dlogp, const float *logp, int B, int V)
{
    /* dx_i = dl_i - softmax_i * sum_j dl_j */
    for (int b = 0; b < B; b++) {
        const float *lp = logp + (size_t)b * V, *dl = dlogp + (size_t)b * V;
        double sum = 0.0;
        for (int v = 0; v < V; v++)
            sum += dl[v];
        for (int v = 0; v < V; v++)
            dlogits[(size_t)b * V + v] += dl[v] - expf(lp[v]) * (float)sum;
    }
}

void td_nn_categorical_entropy_forward(float *ent, const float *logp, int B, int V)
{
    for (int b = 0; b < B; b++) {
        const float *lp = logp + (size_t)b * V;
        double h = 0.0;
        for (int v = 0; v < V; v++)
            h -= exp((double)lp[v]) * lp[v];
        ent[b] = (float)h;
    }
}

void td_nn_categorical_entropy_backward(float *dlogits, const float *dent, const float *logp, int B,
                                        int V)
{
    for (int b = 0; b < B; b++) {
        const float *lp = logp + (size_t)b * V;
        double h = 0.0;
        for (int v = 0; v < V; v++)
            h -= exp((double)lp[v]) * lp[v];
        for (int v = 0; v < V; v++)
            dlogits[(size_t)b * V + v] += (float)(-dent[b] * exp((double)lp[v]) * (lp[v] + h));
    }
}

/* ---- diagonal Gaussian head --------------------------------------------------------------- */

#define HALF_LOG_2PI 0.91893853320467274178

static float clip_log_std(float ls, int *inside)
{
    if (ls < TD_NN_LOG_STD_MIN) {
        *inside = 0;
        return TD_NN_LOG_STD_MIN;
    }
    if (ls > TD_NN_LOG_STD_MAX) {
        *inside = 0;
        return TD_NN_LOG_STD_MAX;
    }
    *inside = 1;
    return ls;
}

void td_nn_gaussian_logprob_forward(float *logp, const float *mean, const float *log_std,
                                    const float *action, int B, int A)
{
    for (int b = 0; b < B; b++) {
        double acc = 0.0;
        for (int a = 0; a < A; a++) {
            int inside;
            double ls = clip_log_std(log_std[a], &inside);
            double z = ((double)action[(size_t)b * A + a] - mean[(size_t)b * A + a]) * exp(-ls);
            acc += -0.5 * z * z - ls - HALF_LOG_2PI;
        }
        logp[b] = (float)acc;
    }
}

void td_nn_gaussian_logprob_backward(float *dmean, float *dlog_std, const float *dlogp,
                                     const float *mean, const float *log_std, const float *action,
                                     int B, int A)
{
    /* d/dmean = (x - mu) / sigma^2; d/dlog_std = z^2 - 1 */
    for (int a = 0; a < A; a++) {
        int inside;
        double ls = clip_log_std(log_std[a], &inside);
        double inv_var = exp(-2.0 * ls);
        double dls = 0.0;
        for (int b = 0; b < B; b++) {
            double diff = (double)action[(size_t)b * A + a] - mean[(size_t)b * A + a];
            if (dmean)
                dmean[(size_t)b * A + a] += (float)(dlogp[b] * diff * inv_var);
            dls += dlogp[b] * (diff * diff * inv_var - 1.0);
        }
        if (dlog_std && inside)
            dlog_std[a] += (float)dls;
    }
}

float td_nn_gaussian_entropy(const float *log_std, int A)
{
    double acc = 0.0;
    for (int a = 0; a < A; a++) {
        int inside;
        acc += clip_log_std(log_std[a], &inside) + 0.5 + HALF_LOG_2PI;
    }
    return (float)acc;
}

void td_nn_gaussian_entropy_backward(float *dlog_std, float dentropy, const float *log_std, int A)
{
    for (int a = 0; a < A; a++) {
        int inside;
        clip_log_std(log_std[a], &inside);
        if (inside)
            dlog_std[a] += dentropy;
    }
}

/* ---- concatenation ------------------------------------------------------------------------ */

void td_nn_concat_forward(float *out, const float *const *inps, const int *C, int n, int B)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        total += C[i];
    for (int b = 0; b < B; b++) {
        float *dst = out + (size_t)b * total;
        for (int i = 0; i < n; i++) {
            memcpy(dst, inps[i] + (size_t)b * C[i], (size_t)C[i] * sizeof(float));
            dst += C[i];
        }
    }
}

void td_nn_concat_backward(float *const *dinps, const float *dout, const int *C, int n, int B)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        total += C[i];
    for (int b = 0; b < B; b++) {
        const float *src = dout + (size_t)b * total;
        for (int i = 0; i < n; i++) {
            if (dinps[i]) {
                float *dst = dinps[i] + (size_t)b * C[i];
                for (int c = 0; c < C[i]; c++)
                    dst[c] += src[c];
            }
            src += C[i];
        }
    }
}

/* ---- losses ------------------------------------------------------------------------------- */

float td_nn_mse_forward(const float *pred, const float *target, int N)
{
    double acc = 0.0;
    for (int i = 0; i < N; i++) {
        double d = (double)pred[i] - target[i];
        acc += d * d;
    }
    return N > 0 ? (float)(acc / N) : 0.0f;
}

void td_nn_mse_backward(float *dpred, const float *pred, const float *target, int N, float scale)
{
    float k = N > 0 ? 2.0f * scale / (float)N : 0.0f;
    for (int i = 0; i < N; i++)
        dpred[i] += k * (pred[i] - target[i]);
}

float td_nn_huber_forward(const float *pred, const float *target, int N, float delta)
{
    double acc = 0.0;
    for (int i = 0; i < N; i++) {
        double d = fabs((double)pred[i] - target[i]);
        acc += d <= delta ? 0.5 * d * d : delta * (d - 0.5 * delta);
    }
    return N > 0 ? (float)(acc / N) : 0.0f;
}

void td_nn_huber_backward(float *dpred, const float *pred, const float *target, int N, float delta,
                          float scale)
{
    float k = N > 0 ? scale / (float)N : 0.0f;
    for (int i = 0; i < N; i++) {
        float d = pred[i] - target[i];
        float g = d > delta ? delta : (d < -delta ? -delta : d);
        dpred[i] += k * g;
    }
}
