/*
 * kernels_i8.c - the int8 kernels of the device runtime in portable C, the quantization of
 * activations, the packing of weights for the SIMD kernels (kernels_x86.c, kernels_arm.c) and
 * the choice among them by instruction set, and the naive references (fp32 in double, int8 in
 * exact integers) that the tests hold every fast kernel to.
 *
 * Everything here is compiled without fused multiply-adds (fp-contract=off, and TDI_REQUANT's
 * separate statements for compilers that fuse within an expression): the int8 epilogue and the
 * activation quantization must round exactly alike in every kernel, so that all instruction
 * sets give the same int8 outputs bit for bit.
 */
#include <math.h>
#include <string.h>

#include "infer_internal.h"

#if TDI_X86
#include <immintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "fp-contract=off")
#endif
#if TDI_X86
#define TDI_AVX2_FN   __attribute__((target("avx2,fma")))
#define TDI_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#endif
#if defined(__GNUC__)
#define TDI_INLINE static inline __attribute__((always_inline))
#else
#define TDI_INLINE static
#endif

/* ---- activation quantization ---------------------------------------------------------- */

/* x * (1/scale) + (zp + 0.5), clamped to [0, 255]: its floor is round(x / scale) + zp with
 * halves up. Separate statements: no FMA, so every variant rounds alike. */
TDI_INLINE void quantize_u8_body(uint8_t *q, const float *x, size_t n, float scale, int zp)
{
    float inv = 1.0f / scale, fzp = (float)zp + 0.5f;
    size_t i;
    for (i = 0; i < n; i++) {
        float p = x[i] * inv;
        float v = p + fzp;
        if (!(v >= 0.0f)) /* NaN too: a NaN input quantizes to the bottom of the range */
            v = 0.0f;
        if (v > 255.0f)
            v = 255.0f;
        q[i] = (uint8_t)(int)v;
    }
}

static void quantize_u8_generic(uint8_t *q, const float *x, size_t n, float scale, int zp)
{
    quantize_u8_body(q, x, n, scale, zp);
}
#if TDI_X86
/* AVX2 has no float -> byte narrowing the compiler would use: the same operations by hand
 * (multiply, add, clamp, truncate), 32 values at a time, then the scalar tail. MAXPS returns
 * its second operand when the first is NaN, so a NaN becomes 0 as in the scalar code. */
TDI_AVX2_FN static void quantize_u8_avx2(uint8_t *q, const float *x, size_t n, float scale, int zp)
{
    float inv = 1.0f / scale, fzp = (float)zp + 0.5f;
    __m256 vinv = _mm256_set1_ps(inv), vzp = _mm256_set1_ps(fzp);
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(255.0f);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i v[4];
        int k;
        for (k = 0; k < 4; k++) {
            __m256 p = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), vinv);
            __m256 s = _mm256_add_ps(p, vzp);
            s = _mm256_min_ps(_mm256_max_ps(s, lo), hi);
            v[k] = _mm256_cvttps_epi32(s);
        }
        /* 32 x int32 in [0, 255] -> 32 bytes in order (the packs work per 128-bit lane). */
        __m256i w01 = _mm256_packus_epi32(v[0], v[1]), w23 = _mm256_packus_epi32(v[2], v[3]);
        __m256i b = _mm256_packus_epi16(w01, w23);
        b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + i), b);
    }
    quantize_u8_body(q + i, x + i, n - i, scale, zp);
}
TDI_AVX512_FN static void quantize_u8_avx512(uint8_t *q, const float *x, size_t n, float scale,
                                             int zp)
{
    quantize_u8_body(q, x, n, scale, zp);
}
#endif

void td__infer_quantize_u8(int isa, uint8_t *q, const float *x, size_t n, float scale, int zp)
{
    switch (isa) {
#if TDI_X86
    case TD_INFER_ISA_AVX512_VNNI:
        quantize_u8_avx512(q, x, n, scale, zp);
        return;
    case TD_INFER_ISA_AVX2:
    case TD_INFER_ISA_AVX_VNNI:
        quantize_u8_avx2(q, x, n, scale, zp);
        return;
#endif
    default:
        quantize_u8_generic(q, x, n, scale, zp);
    }
}

/* ---- int8, portable ------------------------------------------------------------------ */

/*
 * Dot products of unsigned activations with signed weight rows, exact in int32, written as
 * plain reductions over a contiguous run so the compiler turns them into its multiply-add
 * instructions. Two activation rows x four weight rows per pass reuse every load; the tails
 * take one row or one channel at a time.
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
    float v;
    TDI_REQUANT(acc - wsum[o], mult[o], bias[o], relu, v);
    return v;
}

/* out (P, OC) for P activation rows of length C (im2col rows, or one dense input). */
static void gemm_i8(float *out, const uint8_t *in, int P, const int8_t *wq, const int32_t *wsum,
                    const float *mult, const float *bias, int C, int OC, int relu)
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

/* ---- int8, by instruction set --------------------------------------------------------- */

void td__infer_conv_i8_isa(int isa, const tdi_layer *L, float *out, const uint8_t *q)
{
    if (isa != TD_INFER_ISA_GENERIC &&
        (td__infer_i8_x86(isa, L, out, q) == 0 || td__infer_i8_arm(isa, L, out, q) == 0))
        return;
    td__infer_conv_i8(out, L->cols, q, L->wq, L->wsum, L->mult, L->bias, L->in_h, L->in_w, L->in_c,
                      L->oc, L->k, L->s, L->relu);
}

void td__infer_dense_i8_isa(int isa, const tdi_layer *L, float *out, const uint8_t *q)
{
    if (isa != TD_INFER_ISA_GENERIC &&
        (td__infer_i8_x86(isa, L, out, q) == 0 || td__infer_i8_arm(isa, L, out, q) == 0))
        return;
    td__infer_dense_i8(out, q, L->wq, L->wsum, L->mult, L->bias, L->in_c, L->oc, L->relu);
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
                TDI_REQUANT((int32_t)acc, mult[o], bias[o], relu, v);
                out[((size_t)oy * OW + ox) * OC + o] = v;
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
        TDI_REQUANT((int32_t)acc, mult[o], bias[o], relu, v);
        out[o] = v;
    }
}

/* ---- weight packing for the SIMD kernels ---------------------------------------------- */

void td__infer_pack_weights(tdi_layer *L)
{
    int OC = L->oc, K = L->kk, o, k;
    /* "4" layouts: output o's inputs 4j..4j+3 in one 32-bit lane, V outputs side by side. */
    int8_t *dst[2] = {L->wp4_16, L->wp4_8};
    int vs[2] = {16, 8}, i;
    for (i = 0; i < 2; i++) {
        int V = vs[i], K4 = L->k4;
        if (!dst[i])
            continue;
        for (o = 0; o < (OC + V - 1) / V * V; o++)
            for (k = 0; k < K4; k++) {
                int8_t v = o < OC && k < K ? L->wq[(size_t)o * K + k] : 0;
                dst[i][(((size_t)(o / V) * (K4 / 4) + k / 4) * V + o % V) * 4 + k % 4] = v;
            }
    }
    if (L->wp2_8) {
        int V = 8;
        for (o = 0; o < (OC + V - 1) / V * V; o++)
#if TDI_ARM64
            /* AArch64: [OC/8][K4][8], one input of 8 outputs per 128-bit register. */
            for (k = 0; k < L->k4; k++)
                L->wp2_8[((size_t)(o / V) * L->k4 + k) * V + o % V] =
                    (int16_t)(o < OC && k < K ? L->wq[(size_t)o * K + k] : 0);
#else
            /* x86: [OC/8][K2/2][8][2], pairs of inputs for VPMADDWD. */
            for (k = 0; k < L->k2; k++)
                L->wp2_8[(((size_t)(o / V) * (L->k2 / 2) + k / 2) * V + o % V) * 2 + k % 2] =
                    (int16_t)(o < OC && k < K ? L->wq[(size_t)o * K + k] : 0);
#endif
    }
}

/* When the SIMD kernels of an architecture are not compiled in, their entry answers "not mine". */
#if !TDI_X86
int td__infer_i8_x86(int isa, const tdi_layer *L, float *out, const uint8_t *q)
{
    (void)isa;
    (void)L;
    (void)out;
    (void)q;
    return -1;
}
#endif
#if !TDI_ARM64
int td__infer_i8_arm(int isa, const tdi_layer *L, float *out, const uint8_t *q)
{
    (void)isa;
    (void)L;
    (void)out;
    (void)q;
    return -1;
}
#endif
