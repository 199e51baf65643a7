/*
 * ref.c - naive reference kernels: the definitions of what the fast kernels in layers.c and
 * gemm.c compute, written as plain loops with float64 accumulation. Tests compare the fast
 * paths against these; they are slow on purpose and never used in training.
 */
#include <math.h>

#include "nn/ref.h"

void td__nn_ref_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                double a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
    }
}

void td__nn_ref_dense_forward(float *out, const float *inp, const float *weight, const float *bias,
                              int B, int C, int OC, int relu)
{
    for (int b = 0; b < B; b++) {
        for (int o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++)
                acc += (double)inp[(size_t)b * C + c] * weight[(size_t)o * C + c];
            if (relu && acc < 0.0)
                acc = 0.0;
            out[(size_t)b * OC + o] = (float)acc;
        }
    }
}

void td__nn_ref_dense_backward(float *dinp, float *dweight, float *dbias, float *dout,
                               const float *relu_out, const float *inp, const float *weight, int B,
                               int C, int OC)
{
    if (relu_out)
        for (size_t i = 0; i < (size_t)B * OC; i++)
            if (!(relu_out[i] > 0.0f))
                dout[i] = 0.0f;
    if (dinp) {
        for (int b = 0; b < B; b++) {
            for (int c = 0; c < C; c++) {
                double acc = 0.0;
                for (int o = 0; o < OC; o++)
                    acc += (double)dout[(size_t)b * OC + o] * weight[(size_t)o * C + c];
                dinp[(size_t)b * C + c] += (float)acc;
            }
        }
    }
    for (int o = 0; o < OC; o++) {
        for (int c = 0; c < C; c++) {
            double acc = 0.0;
            for (int b = 0; b < B; b++)
                acc += (double)dout[(size_t)b * OC + o] * inp[(size_t)b * C + c];
            dweight[(size_t)o * C + c] += (float)acc;
        }
        if (dbias) {
            double acc = 0.0;
            for (int b = 0; b < B; b++)
                acc += dout[(size_t)b * OC + o];
            dbias[o] += (float)acc;
        }
    }
}

void td__nn_ref_conv2d_forward(float *out, float *cols, const float *inp, const float *weight,
                               const float *bias, int B, int H, int W, int C, int OC, int K, int S,
                               int relu)
{
    (void)cols;
    int OH = td_nn_conv2d_out_dim(H, K, S), OW = td_nn_conv2d_out_dim(W, K, S);
    for (int b = 0; b < B; b++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                for (int o = 0; o < OC; o++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++)
                            for (int c = 0; c < C; c++) {
                                size_t ii =
                                    (((size_t)b * H + oh * S + kh) * W + ow * S + kw) * C + c;
                                size_t wi = (((size_t)o * K + kh) * K + kw) * C + c;
                                acc += (double)inp[ii] * weight[wi];
                            }
                    if (relu && acc < 0.0)
                        acc = 0.0;
                    out[(((size_t)b * OH + oh) * OW + ow) * OC + o] = (float)acc;
                }
}

void td__nn_ref_conv2d_backward(float *dinp, float *dweight, float *dbias, float *dout,
                                const float *relu_out, const float *inp, const float *weight, int B,
                                int H, int W, int C, int OC, int K, int S)
{
    int OH = td_nn_conv2d_out_dim(H, K, S), OW = td_nn_conv2d_out_dim(W, K, S);
    size_t nout = (size_t)B * OH * OW * OC;
    if (relu_out)
        for (size_t i = 0; i < nout; i++)
            if (!(relu_out[i] > 0.0f))
                dout[i] = 0.0f;
    /* weight and bias gradients: one float64 sum per parameter */
    for (int o = 0; o < OC; o++) {
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++)
                for (int c = 0; c < C; c++) {
                    double acc = 0.0;
                    for (int b = 0; b < B; b++)
                        for (int oh = 0; oh < OH; oh++)
                            for (int ow = 0; ow < OW; ow++) {
                                size_t ii =
                                    (((size_t)b * H + oh * S + kh) * W + ow * S + kw) * C + c;
                                acc += (double)dout[(((size_t)b * OH + oh) * OW + ow) * OC + o] *
                                       inp[ii];
                            }
                    dweight[(((size_t)o * K + kh) * K + kw) * C + c] += (float)acc;
                }
        if (dbias) {
            double acc = 0.0;
            for (size_t p = 0; p < (size_t)B * OH * OW; p++)
                acc += dout[p * OC + o];
            dbias[o] += (float)acc;
        }
    }
    if (!dinp)
        return;
    /* input gradient: gather, for each input element, every output that saw it */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++) {
                    double acc = 0.0;
                    for (int kh = 0; kh < K; kh++) {
                        int th = h - kh;
                        if (th < 0 || th % S || th / S >= OH)
                            continue;
                        for (int kw = 0; kw < K; kw++) {
                            int tw = w - kw;
                            if (tw < 0 || tw % S || tw / S >= OW)
                                continue;
                            for (int o = 0; o < OC; o++)
                                acc +=
                                    (double)
                                        dout[(((size_t)b * OH + th / S) * OW + tw / S) * OC + o] *
                                    weight[(((size_t)o * K + kh) * K + kw) * C + c];
                        }
                    }
                    dinp[(((size_t)b * H + h) * W + w) * C + c] += (float)acc;
                }
}

void td__nn_ref_softmax_forward(float *probs, const float *logits, int B, int V)
{
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * V;
        double mx = x[0], sum = 0.0;
        for (int v = 1; v < V; v++)
            mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < V; v++)
            sum += exp((double)x[v] - mx);
        for (int v = 0; v < V; v++)
            probs[(size_t)b * V + v] = (float)(exp((double)x[v] - mx) / sum);
    }
}

void td__nn_ref_log_softmax_forward(float *logp, const float *logits, int B, int V)
{
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * V;
        double mx = x[0], sum = 0.0;
        for (int v = 1; v < V; v++)
            mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < V; v++)
            sum += exp((double)x[v] - mx);
        double lse = mx + log(sum);
        for (int v = 0; v < V; v++)
            logp[(size_t)b * V + v] = (float)((double)x[v] - lse);
    }
}
