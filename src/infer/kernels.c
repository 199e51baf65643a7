/*
 * kernels.c - the compute kernels of the device runtime: fp32 and int8 convolution and dense
 * layers, each with a naive reference that the tests hold the fast one to. Plain C99 written
 * so that compilers vectorize it: fixed-width lane arrays instead of float reductions (a
 * float reduction only vectorizes under -ffast-math), register tiles of 4 pixels x 16
 * channels for convolutions. Convolutions are direct (no im2col copy): in channels-last
 * layout one kernel row of a patch (K * C values) is contiguous in the input.
 */
#include <math.h>
#include <string.h>

#include "infer_internal.h"

/*
 * GCC's -O2 vectorizes only loops it deems very cheap; these kernels are the hot path of a
 * device, so they ask for -O3 (reductions over runtime lengths vectorize, and u8 x s8 dot
 * products become multiply-add instructions). On x86-64 each hot kernel is also built for
 * x86-64-v3 (AVX2, FMA) and x86-64-v4 (AVX-512) and the loader picks the best; the loops are
 * plain C, only the instruction set differs. Other compilers see plain C99.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) &&       \
    !defined(TD_INFER_NO_CLONES)
#define TDI_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TDI_CLONES
#endif
/* Helpers are inlined into each clone so they get its instruction set too. */
#if defined(__GNUC__)
#define TDI_INLINE static inline __attribute__((always_inline))
#else
#define TDI_INLINE static
#endif

#define PT    4  /* pixels per register tile */
#define OT    16 /* output channels per register tile */
#define LANES 16

/* ---- fp32 ----------------------------------------------------------------------------- */

TDI_CLONES
void td__infer_conv_f32(float *out, const float *in, const float *wt, const float *bias, int H,
                        int W, int C, int OC, int K, int S, int relu)
{
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1, KC = K * C;
    int oy, ox0, o0, kh, j, p, o;
    for (oy = 0; oy < OH; oy++) {
        for (ox0 = 0; ox0 < OW; ox0 += PT) {
            int np = OW - ox0 < PT ? OW - ox0 : PT;
            float *orow = out + ((size_t)oy * OW + ox0) * OC;
            for (o0 = 0; o0 + OT <= OC; o0 += OT) {
                float acc[PT][OT];
                for (p = 0; p < PT; p++)
                    for (o = 0; o < OT; o++)
                        acc[p][o] = bias[o0 + o];
                for (kh = 0; kh < K; kh++) {
                    const float *r[PT];
                    const float *wk = wt + (size_t)kh * KC * OC + o0;
                    for (p = 0; p < PT; p++) {
                        int px = ox0 + (p < np ? p : np - 1);
                        r[p] = in + ((size_t)(oy * S + kh) * W + (size_t)px * S) * C;
                    }
                    for (j = 0; j < KC; j++) {
                        const float *wv = wk + (size_t)j * OC;
                        float a0 = r[0][j], a1 = r[1][j], a2 = r[2][j], a3 = r[3][j];
                        for (o = 0; o < OT; o++) {
                            float w = wv[o];
                            acc[0][o] += a0 * w;
                            acc[1][o] += a1 * w;
                            acc[2][o] += a2 * w;
                            acc[3][o] += a3 * w;
                        }
                    }
                }
                for (p = 0; p < np; p++)
                    for (o = 0; o < OT; o++) {
                        float v = acc[p][o];
                        orow[(size_t)p * OC + o0 + o] = relu && v < 0.0f ? 0.0f : v;
                    }
            }
            /* Channels left over when OC is not a multiple of the tile. */
            for (; o0 < OC; o0++) {
                for (p = 0; p < np; p++) {
                    float acc = bias[o0];
                    for (kh = 0; kh < K; kh++) {
                        const float *r =
                            in + ((size_t)(oy * S + kh) * W + (size_t)(ox0 + p) * S) * C;
                        const float *wk = wt + (size_t)kh * KC * OC + o0;
                        for (j = 0; j < KC; j++)
                            acc += r[j] * wk[(size_t)j * OC];
                    }
                    orow[(size_t)p * OC + o0] = relu && acc < 0.0f ? 0.0f : acc;
                }
            }
        }
    }
}

TDI_CLONES
void td__infer_dense_f32(float *out, const float *in, const float *w, const float *bias, int C,
                         int OC, int relu)
{
    int o = 0, c, l;
    int Cv = C - C % LANES;
    /* Four rows at a time so each input load serves four weight streams. */
    for (; o + 4 <= OC; o += 4) {
        const float *w0 = w + (size_t)o * C, *w1 = w0 + C, *w2 = w1 + C, *w3 = w2 + C;
        float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (c = 0; c < Cv; c += LANES)
            for (l = 0; l < LANES; l++) {
                float x = in[c + l];
                a0[l] += w0[c + l] * x;
                a1[l] += w1[c + l] * x;
                a2[l] += w2[c + l] * x;
                a3[l] += w3[c + l] * x;
            }
        for (; c < C; c++) {
            s0 += w0[c] * in[c];
            s1 += w1[c] * in[c];
            s2 += w2[c] * in[c];
            s3 += w3[c] * in[c];
        }
        for (l = 0; l < LANES; l++) {
            s0 += a0[l];
            s1 += a1[l];
            s2 += a2[l];
            s3 += a3[l];
        }
        s0 += bias[o];
        s1 += bias[o + 1];
        s2 += bias[o + 2];
        s3 += bias[o + 3];
        out[o] = relu && s0 < 0.0f ? 0.0f : s0;
        out[o + 1] = relu && s1 < 0.0f ? 0.0f : s1;
        out[o + 2] = relu && s2 < 0.0f ? 0.0f : s2;
        out[o + 3] = relu && s3 < 0.0f ? 0.0f : s3;
    }
    for (; o < OC; o++) {
        const float *w0 = w + (size_t)o * C;
        float a0[LANES] = {0}, s0 = 0;
        for (c = 0; c < Cv; c += LANES)
            for (l = 0; l < LANES; l++)
                a0[l] += w0[c + l] * in[c + l];
        for (; c < C; c++)
            s0 += w0[c] * in[c];
        for (l = 0; l < LANES; l++)
            s0 += a0[l];
        s0 += bias[o];
        out[o] = relu && s0 < 0.0f ? 0.0f : s0;
    }
}

/* ---- int8 ---------------------------------------------------------------------------- */

/*
 * Dot products of unsigned activations with signed weight rows, exact in int32, written as
 * plain reductions over a contiguous run so the compiler turns them into its dot-product
 * instructions (pmaddwd and wider forms). Two activation rows x four weight rows per pass
 * reuse every load; the tails take one row or one channel at a time.
 */
TDI_INLINE void dot2x4_u8i8(int32_t s[2][4], const uint8_t *a, const uint8_t *c, const int8_t *b,
                            size_t stride, int n)
{
    const int8_t *b0 = b, *b1 = b + stride, *b2 = b + 2 * stride, *b3 = b + 3 * stride;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    int i;
    for (i = 0; i < n; i++) {
        int32_t x = a[i], y = c[i];
        int32_t w0 = b0[i], w1 = b1[i], w2 = b2[i], w3 = b3[i];
        s0 += x * w0;
        s1 += x * w1;
        s2 += x * w2;
        s3 += x * w3;
        t0 += y * w0;
        t1 += y * w1;
        t2 += y * w2;
        t3 += y * w3;
    }
    s[0][0] = s0;
    s[0][1] = s1;
    s[0][2] = s2;
    s[0][3] = s3;
    s[1][0] = t0;
    s[1][1] = t1;
    s[1][2] = t2;
    s[1][3] = t3;
}

TDI_INLINE void dot4_u8i8(int32_t s[4], const uint8_t *a, const int8_t *b, size_t stride, int n)
{
    const int8_t *b0 = b, *b1 = b + stride, *b2 = b + 2 * stride, *b3 = b + 3 * stride;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i;
    for (i = 0; i < n; i++) {
        int32_t x = a[i];
        s0 += x * b0[i];
        s1 += x * b1[i];
        s2 += x * b2[i];
        s3 += x * b3[i];
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

TDI_INLINE int32_t dot_u8i8(const uint8_t *a, const int8_t *b, int n)
{
    int32_t s = 0;
    int i;
    for (i = 0; i < n; i++)
        s += (int32_t)a[i] * b[i];
    return s;
}

/* The epilogue: dequantize an exact sum, add the bias, ReLU. */
TDI_INLINE float requant(int32_t acc, int o, const int32_t *wsum, const float *mult,
                         const float *bias, int relu)
{
    float v = bias[o] + mult[o] * (float)(acc - wsum[o]);
    return relu && v < 0.0f ? 0.0f : v;
}

/* out (P, OC) for P activation rows of length C (im2col rows, or one dense input). */
TDI_INLINE void gemm_i8_body(float *out, const uint8_t *in, int P, const int8_t *wq,
                             const int32_t *wsum, const float *mult, const float *bias, int C,
                             int OC, int relu)
{
    int p = 0, o, k;
    int32_t acc[2][4];
    for (; p + 2 <= P; p += 2) {
        const uint8_t *a = in + (size_t)p * C;
        float *o0 = out + (size_t)p * OC, *o1 = o0 + OC;
        for (o = 0; o + 4 <= OC; o += 4) {
            dot2x4_u8i8(acc, a, a + C, wq + (size_t)o * C, (size_t)C, C);
            for (k = 0; k < 4; k++) {
                o0[o + k] = requant(acc[0][k], o + k, wsum, mult, bias, relu);
                o1[o + k] = requant(acc[1][k], o + k, wsum, mult, bias, relu);
            }
        }
        for (; o < OC; o++) {
            o0[o] = requant(dot_u8i8(a, wq + (size_t)o * C, C), o, wsum, mult, bias, relu);
            o1[o] = requant(dot_u8i8(a + C, wq + (size_t)o * C, C), o, wsum, mult, bias, relu);
        }
    }
    for (; p < P; p++) {
        const uint8_t *a = in + (size_t)p * C;
        float *o0 = out + (size_t)p * OC;
        for (o = 0; o + 4 <= OC; o += 4) {
            dot4_u8i8(acc[0], a, wq + (size_t)o * C, (size_t)C, C);
            for (k = 0; k < 4; k++)
                o0[o + k] = requant(acc[0][k], o + k, wsum, mult, bias, relu);
        }
        for (; o < OC; o++)
            o0[o] = requant(dot_u8i8(a, wq + (size_t)o * C, C), o, wsum, mult, bias, relu);
    }
}

TDI_CLONES
static void gemm_i8_generic(float *out, const uint8_t *in, int P, const int8_t *wq,
                            const int32_t *wsum, const float *mult, const float *bias, int C,
                            int OC, int relu)
{
    gemm_i8_body(out, in, P, wq, wsum, mult, bias, C, OC, relu);
}

/*
 * CPUs with AVX512-VNNI multiply unsigned by signed bytes and add four products into int32 in
 * one instruction, which the compiler emits for the dot products above; GCC 12 cannot pick
 * such a clone by feature, so the choice is made here, once.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(TD_INFER_NO_CLONES)
#define TDI_HAVE_VNNI_PATH 1
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static void
gemm_i8_vnni(float *out, const uint8_t *in, int P, const int8_t *wq, const int32_t *wsum,
             const float *mult, const float *bias, int C, int OC, int relu)
{
    gemm_i8_body(out, in, P, wq, wsum, mult, bias, C, OC, relu);
}
#endif

static void gemm_i8(float *out, const uint8_t *in, int P, const int8_t *wq, const int32_t *wsum,
                    const float *mult, const float *bias, int C, int OC, int relu)
{
#ifdef TDI_HAVE_VNNI_PATH
    static int vnni = -1; /* a benign race: every thread stores the same value */
    if (vnni < 0)
        vnni = __builtin_cpu_supports("avx512vnni") ? 1 : 0;
    if (vnni) {
        gemm_i8_vnni(out, in, P, wq, wsum, mult, bias, C, OC, relu);
        return;
    }
#endif
    gemm_i8_generic(out, in, P, wq, wsum, mult, bias, C, OC, relu);
}

void td__infer_conv_i8(float *out, uint8_t *cols, const uint8_t *in, const int8_t *wq,
                       const int32_t *wsum, const float *mult, const float *bias, int H, int W,
                       int C, int OC, int K, int S, int relu)
{
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1, KC = K * C, KKC = K * K * C;
    int oy, ox, kh;
    /* im2col of the bytes (cheap: a quarter of the fp32 copy): one K*K*C row per pixel. */
    for (oy = 0; oy < OH; oy++)
        for (ox = 0; ox < OW; ox++) {
            uint8_t *row = cols + ((size_t)oy * OW + ox) * KKC;
            for (kh = 0; kh < K; kh++)
                memcpy(row + (size_t)kh * KC, in + ((size_t)(oy * S + kh) * W + (size_t)ox * S) * C,
                       (size_t)KC);
        }
    gemm_i8(out, cols, OH * OW, wq, wsum, mult, bias, KKC, OC, relu);
}

void td__infer_dense_i8(float *out, const uint8_t *in, const int8_t *wq, const int32_t *wsum,
                        const float *mult, const float *bias, int C, int OC, int relu)
{
    gemm_i8(out, in, 1, wq, wsum, mult, bias, C, OC, relu);
}

TDI_CLONES
void td__infer_quantize_u8(uint8_t *q, const float *x, size_t n, float scale, int zp)
{
    float inv = 1.0f / scale, fzp = (float)zp + 0.5f;
    size_t i;
    for (i = 0; i < n; i++) {
        float v = x[i] * inv + fzp; /* floor(v) = round(x / scale) + zp, halves up */
        if (!(v >= 0.0f))           /* NaN too: a NaN input quantizes to the bottom of the range */
            v = 0.0f;
        if (v > 255.0f)
            v = 255.0f;
        q[i] = (uint8_t)(int)v;
    }
}

/* ---- references ----------------------------------------------------------------------- */

void td__infer_conv_ref(float *out, const float *in, const float *w, const float *bias, int H,
                        int W, int C, int OC, int K, int S, int relu)
{
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    int oy, ox, o, kh, kw, c;
    for (oy = 0; oy < OH; oy++)
        for (ox = 0; ox < OW; ox++)
            for (o = 0; o < OC; o++) {
                double acc = bias[o];
                float v;
                for (kh = 0; kh < K; kh++)
                    for (kw = 0; kw < K; kw++)
                        for (c = 0; c < C; c++)
                            acc += (double)in[((size_t)(oy * S + kh) * W + ox * S + kw) * C + c] *
                                   w[(((size_t)o * K + kh) * K + kw) * C + c];
                v = (float)acc;
                out[((size_t)oy * OW + ox) * OC + o] = relu && v < 0.0f ? 0.0f : v;
            }
}

void td__infer_dense_ref(float *out, const float *in, const float *w, const float *bias, int C,
                         int OC, int relu)
{
    int o, c;
    for (o = 0; o < OC; o++) {
        double acc = bias[o];
        float v;
        for (c = 0; c < C; c++)
            acc += (double)in[c] * w[(size_t)o * C + c];
        v = (float)acc;
        out[o] = relu && v < 0.0f ? 0.0f : v;
    }
}

void td__infer_conv_i8_ref(float *out, const uint8_t *in, const int8_t *wq, int zp,
                           const float *mult, const float *bias, int H, int W, int C, int OC, int K,
                           int S, int relu)
{
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    int oy, ox, o, kh, kw, c;
    for (oy = 0; oy < OH; oy++)
        for (ox = 0; ox < OW; ox++)
            for (o = 0; o < OC; o++) {
                long long acc = 0;
                float v;
                for (kh = 0; kh < K; kh++)
                    for (kw = 0; kw < K; kw++)
                        for (c = 0; c < C; c++)
                            acc +=
                                (long long)((int)in[((size_t)(oy * S + kh) * W + ox * S + kw) * C +
                                                    c] -
                                            zp) *
                                wq[(((size_t)o * K + kh) * K + kw) * C + c];
                v = bias[o] + mult[o] * (float)acc;
                out[((size_t)oy * OW + ox) * OC + o] = relu && v < 0.0f ? 0.0f : v;
            }
}

void td__infer_dense_i8_ref(float *out, const uint8_t *in, const int8_t *wq, int zp,
                            const float *mult, const float *bias, int C, int OC, int relu)
{
    int o, c;
    for (o = 0; o < OC; o++) {
        long long acc = 0;
        float v;
        for (c = 0; c < C; c++)
            acc += (long long)((int)in[c] - zp) * wq[(size_t)o * C + c];
        v = bias[o] + mult[o] * (float)acc;
        out[o] = relu && v < 0.0f ? 0.0f : v;
    }
}
