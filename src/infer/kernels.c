/*
 * kernels.c - the fp32 kernels of the device runtime: convolution and dense layers, with
 * naive references (kernels_i8.c) that the tests hold them to.
 *
 * They are plain C99 written so that compilers vectorize them: fixed-width lane
 * arrays instead of float reductions (a float reduction only vectorizes under -ffast-math),
 * register tiles of 4 pixels x 16 channels for convolutions, direct convolution (in
 * channels-last layout one kernel row of a patch, K * C values, is contiguous). On x86-64 the
 * same C is compiled three times, for plain x86-64, AVX2 + FMA and AVX-512, and the model's
 * instruction set picks one; on AArch64 it vectorizes to NEON. One exception: the
 * convolutions of AVX2 and AVX-512 are written with intrinsics (conv_f32_avx2_tiled,
 * conv_f32_avx512_tiled), twice as fast as GCC's vectorization of the C and
 * equal to it bit for bit (checked against the previous kernels when they were written).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "infer_internal.h"

/*
 * GCC's -O2 vectorizes only loops it deems very cheap; these kernels are the hot path of a
 * device, so they ask for -O3 (reductions over runtime lengths vectorize) and for fused
 * multiply-adds where the instruction set has them (ISO C modes turn that off by default; the
 * order and rounding of fp32 sums differ between instruction sets anyway). Other compilers see
 * plain C99.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "fp-contract=fast")
#endif
#if TDI_X86
#define TDI_AVX2_FN   __attribute__((target("avx2,fma")))
#define TDI_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#endif
/*
 * The sanitizers' per-access checks stop the compiler vectorizing the fp32 loops: a SHALLOW
 * frame took 60 ms instead of 1.5 in the sanitizer build (31 ms with UBSan's alone), and the
 * quantizer's tests, which run hundreds of fp32 frames, were the slowest of the suite. So the
 * loops are not instrumented (TDI_UNCHECKED) and the entry points check instead, before the
 * loop, that every byte of the ranges the kernel reads and writes is addressable (asan_check):
 * a caller's buffer that is too small is reported as an instrumented access would report it.
 * The loops' index arithmetic is int on dimensions load.c bounds; indexing inside the ranges
 * is held to the naive references by the tests.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TDI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TDI_ASAN 1
#endif
#endif
#ifdef TDI_ASAN
void *__asan_region_is_poisoned(void *beg, size_t size); /* sanitizer/asan_interface.h */
#define TDI_UNCHECKED __attribute__((no_sanitize("address", "undefined")))
static void asan_check(const void *p, size_t n_floats)
{
    const volatile char *bad = __asan_region_is_poisoned((void *)(uintptr_t)p, n_floats * 4);
    if (bad)
        (void)*bad; /* an instrumented read of the first bad byte: ASan's report and abort */
}
#else
#define TDI_UNCHECKED
#define asan_check(p, n) ((void)(p), (void)(n))
#endif

/* Helpers are inlined into each variant so they get its instruction set too. */
#if defined(__GNUC__)
#define TDI_INLINE static inline __attribute__((always_inline)) TDI_UNCHECKED
#else
#define TDI_INLINE static
#endif

#define PT    4  /* pixels per register tile */
#define OT    16 /* output channels per register tile */
#define LANES 16

/* ---- fp32 ----------------------------------------------------------------------------- */

TDI_INLINE void conv_f32_body(float *out, const float *in, const float *wt, const float *bias,
                              int H, int W, int C, int OC, int K, int S, int relu)
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

TDI_INLINE void dense_f32_body(float *out, const float *in, const float *w, const float *bias,
                               int C, int OC, int relu)
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

#define TDI_CONV_F32_VARIANT(SUFFIX, ATTR)                                                         \
    ATTR TDI_UNCHECKED static void conv_f32_##SUFFIX(float *out, const float *in, const float *wt, \
                                                     const float *bias, int H, int W, int C,       \
                                                     int OC, int K, int S, int relu)               \
    {                                                                                              \
        conv_f32_body(out, in, wt, bias, H, W, C, OC, K, S, relu);                                 \
    }
#define TDI_DENSE_F32_VARIANT(SUFFIX, ATTR)                                                        \
    ATTR TDI_UNCHECKED static void dense_f32_##SUFFIX(float *out, const float *in, const float *w, \
                                                      const float *bias, int C, int OC, int relu)  \
    {                                                                                              \
        dense_f32_body(out, in, w, bias, C, OC, relu);                                             \
    }

TDI_CONV_F32_VARIANT(generic, )
TDI_DENSE_F32_VARIANT(generic, )
#if TDI_X86
/* The convolutions of AVX2 and AVX-512 are conv_f32_avx2_tiled and conv_f32_avx512_tiled. */
TDI_DENSE_F32_VARIANT(avx2, TDI_AVX2_FN)
TDI_DENSE_F32_VARIANT(avx512, TDI_AVX512_FN)
#endif

#if TDI_X86
#include <immintrin.h>

/*
 * The AVX2 and AVX-512 convolutions by hand: GCC's vectorization of conv_f32_body keeps its
 * 4 x 16 tile in 8 registers, and with FMA's latency that leaves the two FMA units waiting
 * (about 40 GFLOP/s on SHALLOW's layers with AVX2). Here a tile of 6 output pixels x 2
 * vectors of channels is 12 accumulators (+ 2 weight vectors and a broadcast: 15 of the 16
 * registers), as BLIS's Haswell kernel does, and the 6 pixels run along the flattened output
 * (rows included), so a row's end wastes no lanes. One body for both, TDI_CONV_TILE, with the
 * instruction set's vector type, width and operations; each output sums its products in the
 * same order as conv_f32_body with the same fused multiply-adds, so the results are the same
 * bit for bit. Channels beyond the last whole pair of vectors are summed one by one.
 */
#define TILE_P 6
/* Pixel k of the tile: its two accumulators take input j times the two weight vectors. */
#define TDI_TILE_ROW(SET1, FMA, k)                                                                 \
    x = SET1(r##k[j]);                                                                             \
    a##k##0 = FMA(x, w0, a##k##0);                                                                 \
    a##k##1 = FMA(x, w1, a##k##1);
#define TDI_CONV_TILE(VEC, NL, LOAD, SET1, FMA, STORE, RELU)                                       \
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1, KC = K * C, NP = OH * OW;                      \
    for (int q0 = 0; q0 < NP; q0 += TILE_P) {                                                      \
        int np = NP - q0 < TILE_P ? NP - q0 : TILE_P;                                              \
        size_t base[TILE_P]; /* each pixel's patch origin in `in` */                               \
        for (int p = 0; p < TILE_P; p++) {                                                         \
            int q = q0 + (p < np ? p : np - 1), oy = q / OW, ox = q % OW;                          \
            base[p] = ((size_t)oy * S * W + (size_t)ox * S) * C;                                   \
        }                                                                                          \
        for (int o0 = 0; o0 + 2 * NL <= OC; o0 += 2 * NL) {                                        \
            VEC b0 = LOAD(bias + o0), b1 = LOAD(bias + o0 + NL);                                   \
            VEC a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1;                        \
            VEC a30 = b0, a31 = b1, a40 = b0, a41 = b1, a50 = b0, a51 = b1;                        \
            for (int kh = 0; kh < K; kh++) {                                                       \
                size_t row = (size_t)kh * W * C;                                                   \
                const float *r0 = in + base[0] + row, *r1 = in + base[1] + row;                    \
                const float *r2 = in + base[2] + row, *r3 = in + base[3] + row;                    \
                const float *r4 = in + base[4] + row, *r5 = in + base[5] + row;                    \
                const float *wk = wt + (size_t)kh * KC * OC + o0;                                  \
                for (int j = 0; j < KC; j++) {                                                     \
                    VEC w0 = LOAD(wk), w1 = LOAD(wk + NL), x;                                      \
                    wk += OC;                                                                      \
                    TDI_TILE_ROW(SET1, FMA, 0)                                                     \
                    TDI_TILE_ROW(SET1, FMA, 1)                                                     \
                    TDI_TILE_ROW(SET1, FMA, 2)                                                     \
                    TDI_TILE_ROW(SET1, FMA, 3)                                                     \
                    TDI_TILE_ROW(SET1, FMA, 4)                                                     \
                    TDI_TILE_ROW(SET1, FMA, 5)                                                     \
                }                                                                                  \
            }                                                                                      \
            VEC acc[TILE_P][2] = {{a00, a01}, {a10, a11}, {a20, a21},                              \
                                  {a30, a31}, {a40, a41}, {a50, a51}};                             \
            for (int p = 0; p < np; p++) {                                                         \
                float *dst = out + (size_t)(q0 + p) * OC + o0;                                     \
                STORE(dst, relu ? RELU(acc[p][0]) : acc[p][0]);                                    \
                STORE(dst + NL, relu ? RELU(acc[p][1]) : acc[p][1]);                               \
            }                                                                                      \
        }                                                                                          \
        for (int o = OC - OC % (2 * NL); o < OC; o++)                                              \
            for (int p = 0; p < np; p++) {                                                         \
                float acc = bias[o];                                                               \
                for (int kh = 0; kh < K; kh++) {                                                   \
                    const float *r = in + base[p] + (size_t)kh * W * C;                            \
                    const float *wk = wt + (size_t)kh * KC * OC + o;                               \
                    for (int j = 0; j < KC; j++)                                                   \
                        acc += r[j] * wk[(size_t)j * OC];                                          \
                }                                                                                  \
                out[(size_t)(q0 + p) * OC + o] = relu && acc < 0.0f ? 0.0f : acc;                  \
            }                                                                                      \
    }

/* relu && v < 0 ? 0 : v per lane, as conv_f32_body (a -0 stays -0, a NaN stays). */
TDI_AVX2_FN static inline __m256 relu8(__m256 v)
{
    return _mm256_blendv_ps(v, _mm256_setzero_ps(),
                            _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
}
TDI_AVX512_FN static inline __m512 relu16(__m512 v)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v,
                                _mm512_setzero_ps());
}

TDI_AVX2_FN TDI_UNCHECKED static void
conv_f32_avx2_tiled(float *out, const float *in, const float *wt, const float *bias, int H, int W,
                    int C, int OC, int K, int S,
                    int relu){TDI_CONV_TILE(__m256, 8, _mm256_loadu_ps, _mm256_set1_ps,
                                            _mm256_fmadd_ps, _mm256_storeu_ps, relu8)}

/* AVX-512: 6 pixels x 32 channels, for layers whose channels are a multiple of 32 (SHALLOW's
 * are); the others take the AVX2 tile rather than sum 16 channels one by one. */
TDI_AVX512_FN TDI_UNCHECKED
    static void conv_f32_avx512_tiled(float *out, const float *in, const float *wt,
                                      const float *bias, int H, int W, int C, int OC, int K, int S,
                                      int relu)
{
    if (OC % 32 != 0) {
        conv_f32_avx2_tiled(out, in, wt, bias, H, W, C, OC, K, S, relu);
        return;
    }
    TDI_CONV_TILE(__m512, 16, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps,
                  relu16)
}
#endif

/* Which compilation of the fp32 kernels an instruction set uses. */
enum { F32_GENERIC, F32_AVX2, F32_AVX512 };

static int f32_variant(int isa)
{
#if TDI_X86
    if (isa == TD_INFER_ISA_AVX512_VNNI)
        return F32_AVX512;
    if (isa == TD_INFER_ISA_AVX2 || isa == TD_INFER_ISA_AVX_VNNI)
        return F32_AVX2;
#else
    (void)isa;
#endif
    return F32_GENERIC;
}

void td__infer_conv_f32(int isa, float *out, const float *in, const float *wt, const float *bias,
                        int H, int W, int C, int OC, int K, int S, int relu)
{
    asan_check(in, (size_t)H * W * C);
    asan_check(wt, (size_t)K * K * C * OC);
    asan_check(bias, (size_t)OC);
    asan_check(out, (size_t)((H - K) / S + 1) * ((W - K) / S + 1) * OC);
    switch (f32_variant(isa)) {
#if TDI_X86
    case F32_AVX512:
        conv_f32_avx512_tiled(out, in, wt, bias, H, W, C, OC, K, S, relu);
        return;
    case F32_AVX2:
        conv_f32_avx2_tiled(out, in, wt, bias, H, W, C, OC, K, S, relu);
        return;
#endif
    default:
        conv_f32_generic(out, in, wt, bias, H, W, C, OC, K, S, relu);
    }
}

void td__infer_dense_f32(int isa, float *out, const float *in, const float *w, const float *bias,
                         int C, int OC, int relu)
{
    asan_check(in, (size_t)C);
    asan_check(w, (size_t)C * OC);
    asan_check(bias, (size_t)OC);
    asan_check(out, (size_t)OC);
    switch (f32_variant(isa)) {
#if TDI_X86
    case F32_AVX512:
        dense_f32_avx512(out, in, w, bias, C, OC, relu);
        return;
    case F32_AVX2:
        dense_f32_avx2(out, in, w, bias, C, OC, relu);
        return;
#endif
    default:
        dense_f32_generic(out, in, w, bias, C, OC, relu);
    }
}
