/*
 * kernels_x86.c - int8 kernels for x86-64: AVX-512 VNNI, AVX-VNNI (both multiply unsigned
 * activation bytes by signed weight bytes and add four products into an int32 lane in one
 * instruction) and AVX2 (no such instruction: bytes are widened to 16 bits and multiplied
 * with VPMADDWD, exact as well; VPMADDUBSW would be twice as fast but saturates). Each
 * function is compiled for its instruction set with a target attribute, so the file builds
 * with any x86-64 flags and the CPU is asked at run time (cpu.c) which ones may run.
 *
 * Convolutions run as a matrix product of im2col rows (one per output pixel) with weights
 * packed so that one vector holds one input position of 8 or 16 output channels (load.c packs
 * them): the activation is broadcast, no horizontal sums are needed, and a tile of pixels x
 * channels lives in registers. Dense layers (one input row, thousands of inputs) take the
 * weights as they are, four rows at a time, and sum horizontally at the end. The epilogue
 * performs exactly the float operations of the portable kernels (TDI_REQUANT), so every
 * instruction set gives the same outputs bit for bit.
 */
#include <string.h>

#include "kernels_simd.h"

#if TDI_X86
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "fp-contract=off")
#endif

#define AVX512  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define AVXVNNI __attribute__((target("avxvnni,avx2,fma")))
#define AVX2    __attribute__((target("avx2,fma")))
#define INLINE  static inline __attribute__((always_inline))

/* ---- im2col ----------------------------------------------------------------------------- */

/* Rows of K*K*C bytes per output pixel, stride `stride` (zero padded). */
INLINE void im2col_u8(uint8_t *cols, const uint8_t *in, const tdi_layer *L, int stride)
{
    int OH = L->out_h, OW = L->out_w, K = L->k, S = L->s, W = L->in_w, C = L->in_c;
    int KC = K * C, oy, ox, kh;
    for (oy = 0; oy < OH; oy++)
        for (ox = 0; ox < OW; ox++) {
            uint8_t *row = cols + ((size_t)oy * OW + ox) * stride;
            for (kh = 0; kh < K; kh++)
                memcpy(row + (size_t)kh * KC, in + ((size_t)(oy * S + kh) * W + (size_t)ox * S) * C,
                       (size_t)KC);
            memset(row + L->kk, 0, (size_t)(stride - L->kk));
        }
}

/* ---- AVX-512 VNNI ----------------------------------------------------------------------- */

/* acc - zp * wsum, to float, * mult + bias, ReLU as TDI_REQUANT; stores n <= 16 outputs. */
INLINE AVX512 void epi512(float *dst, __m512i acc, const tdi_layer *L, int o, int n)
{
    __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    __m512i ws = _mm512_maskz_loadu_epi32(m, L->wsum_raw + o);
    __m512i c = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(L->in_zp), ws));
    __m512 d = _mm512_cvtepi32_ps(c);
    __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, L->mult + o), d);
    __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, L->bias + o), p);
    if (L->relu)
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ),
                               _mm512_setzero_ps());
    _mm512_mask_storeu_ps(dst, m, v);
}

/* pt pixels x nb blocks of 16 channels starting at block ob. */
INLINE AVX512 void tile512(float *out, const uint8_t *A, const tdi_layer *L, int p0, int pt, int ob,
                           int nb)
{
    __m512i acc[6][4];
    int K4 = L->k4, p, b, kq;
    const int8_t *W = L->wp4_16 + (size_t)ob * 16 * K4;
    for (p = 0; p < pt; p++)
        for (b = 0; b < nb; b++)
            acc[p][b] = _mm512_setzero_si512();
    for (kq = 0; kq < K4 / 4; kq++) {
        __m512i w[4];
        for (b = 0; b < nb; b++)
            w[b] = _mm512_loadu_si512((const void *)(W + ((size_t)b * K4 + (size_t)kq * 4) * 16));
        for (p = 0; p < pt; p++) {
            __m512i a = _mm512_set1_epi32(tdi_load_i32(A + (size_t)(p0 + p) * K4 + 4 * kq));
            for (b = 0; b < nb; b++)
                acc[p][b] = _mm512_dpbusd_epi32(acc[p][b], a, w[b]);
        }
    }
    for (p = 0; p < pt; p++)
        for (b = 0; b < nb; b++) {
            int o = (ob + b) * 16, n = L->oc - o;
            epi512(out + (size_t)(p0 + p) * L->oc + o, acc[p][b], L, o, n);
        }
}

static AVX512 void conv_avx512(const tdi_layer *L, float *out, const uint8_t *q)
{
    uint8_t *A = (uint8_t *)L->work;
    int P = L->out_h * L->out_w, nblk = (L->oc + 15) / 16, ob, p;
    im2col_u8(A, q, L, L->k4);
    for (ob = 0; ob < nblk; ob += 4) {
        int nb = nblk - ob;
        if (nb >= 4) {
            TDI_TILE_PIXELS(tile512, out, A, L, P, 6, ob, 4);
        } else if (nb == 2 || nb == 3) {
            TDI_TILE_PIXELS(tile512, out, A, L, P, 6, ob, 2);
            if (nb == 3)
                for (p = 0; p < P; p++)
                    tile512(out, A, L, p, 1, ob + 2, 1);
        } else {
            TDI_TILE_PIXELS(tile512, out, A, L, P, 6, ob, 1);
        }
    }
}

static AVX512 void dense_avx512(const tdi_layer *L, float *out, const uint8_t *q)
{
    int C = L->in_c, OC = L->oc, o = 0, r, c;
    for (; o < OC; o += 4) {
        int nr = OC - o < 4 ? OC - o : 4;
        __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                          _mm512_setzero_si512()};
        for (c = 0; c < C; c += 64) {
            __mmask64 m = C - c >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (C - c)) - 1;
            __m512i a = _mm512_maskz_loadu_epi8(m, q + c);
            for (r = 0; r < nr; r++)
                acc[r] = _mm512_dpbusd_epi32(
                    acc[r], a, _mm512_maskz_loadu_epi8(m, L->wq + (size_t)(o + r) * C + c));
        }
        for (r = 0; r < nr; r++)
            tdi_dense_out(out, _mm512_reduce_add_epi32(acc[r]), L, o + r);
    }
}

/* ---- AVX-VNNI (256 bits) ---------------------------------------------------------------- */

/* acc - zp * wsum ... for n <= 8 outputs (a partial block goes through a buffer). */
INLINE AVX2 void epi256(float *dst, __m256i acc, const tdi_layer *L, int o, int n)
{
    int32_t ws[8] = {0}, a[8];
    float mult[8] = {0}, bias[8] = {0}, v[8];
    int i;
    if (n >= 8) {
        __m256i c = _mm256_sub_epi32(
            acc, _mm256_mullo_epi32(_mm256_set1_epi32(L->in_zp),
                                    _mm256_loadu_si256((const __m256i *)(L->wsum_raw + o))));
        __m256 d = _mm256_cvtepi32_ps(c);
        __m256 p = _mm256_mul_ps(_mm256_loadu_ps(L->mult + o), d);
        __m256 r = _mm256_add_ps(_mm256_loadu_ps(L->bias + o), p);
        if (L->relu)
            r = _mm256_blendv_ps(r, _mm256_setzero_ps(),
                                 _mm256_cmp_ps(r, _mm256_setzero_ps(), _CMP_LT_OQ));
        _mm256_storeu_ps(dst, r);
        return;
    }
    _mm256_storeu_si256((__m256i *)a, acc);
    memcpy(ws, L->wsum_raw + o, sizeof(int32_t) * (size_t)n);
    memcpy(mult, L->mult + o, sizeof(float) * (size_t)n);
    memcpy(bias, L->bias + o, sizeof(float) * (size_t)n);
    for (i = 0; i < n; i++) {
        TDI_REQUANT(a[i] - L->in_zp * ws[i], mult[i], bias[i], L->relu, v[i]);
        dst[i] = v[i];
    }
}

INLINE AVXVNNI void tile_vnni256(float *out, const uint8_t *A, const tdi_layer *L, int p0, int pt,
                                 int ob, int nb)
{
    __m256i acc[3][4];
    int K4 = L->k4, p, b, kq;
    const int8_t *W = L->wp4_8 + (size_t)ob * 8 * K4;
    for (p = 0; p < pt; p++)
        for (b = 0; b < nb; b++)
            acc[p][b] = _mm256_setzero_si256();
    for (kq = 0; kq < K4 / 4; kq++) {
        for (p = 0; p < pt; p++) {
            __m256i a = _mm256_set1_epi32(tdi_load_i32(A + (size_t)(p0 + p) * K4 + 4 * kq));
            for (b = 0; b < nb; b++)
                acc[p][b] = _mm256_dpbusd_avx_epi32(
                    acc[p][b], a,
                    _mm256_loadu_si256(
                        (const __m256i *)(W + ((size_t)b * K4 + (size_t)kq * 4) * 8)));
        }
    }
    for (p = 0; p < pt; p++)
        for (b = 0; b < nb; b++) {
            int o = (ob + b) * 8;
            epi256(out + (size_t)(p0 + p) * L->oc + o, acc[p][b], L, o, L->oc - o);
        }
}

static AVXVNNI void conv_avxvnni(const tdi_layer *L, float *out, const uint8_t *q)
{
    uint8_t *A = (uint8_t *)L->work;
    int P = L->out_h * L->out_w, nblk = (L->oc + 7) / 8;
    im2col_u8(A, q, L, L->k4);
    TDI_TILE_BLOCKS4(tile_vnni256, out, A, L, P, 3, nblk);
}

INLINE AVX2 int32_t hsum256(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* The nr dense outputs o.. from their vector sums and the scalar tail past Cv. */
INLINE AVX2 void dense_finish256(float *out, const __m256i *acc, int nr, const uint8_t *q,
                                 const tdi_layer *L, int o, int Cv)
{
    int r;
    for (r = 0; r < nr; r++)
        tdi_dense_out(
            out, tdi_dot_tail(hsum256(acc[r]), q, L->wq + (size_t)(o + r) * L->in_c, Cv, L->in_c),
            L, o + r);
}

static AVXVNNI void dense_avxvnni(const tdi_layer *L, float *out, const uint8_t *q)
{
    int C = L->in_c, OC = L->oc, Cv = C - C % 32, o, r, c;
    for (o = 0; o < OC; o += 4) {
        int nr = OC - o < 4 ? OC - o : 4;
        __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                          _mm256_setzero_si256()};
        for (c = 0; c < Cv; c += 32) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(q + c));
            for (r = 0; r < nr; r++)
                acc[r] = _mm256_dpbusd_avx_epi32(
                    acc[r], a,
                    _mm256_loadu_si256((const __m256i *)(L->wq + (size_t)(o + r) * C + c)));
        }
        dense_finish256(out, acc, nr, q, L, o, Cv);
    }
}

/* ---- AVX2: 16-bit multiply-adds ------------------------------------------------------- */

INLINE AVX2 void tile_avx2(float *out, const int16_t *A, const tdi_layer *L, int p0, int pt, int ob,
                           int nb)
{
    __m256i acc[3][4];
    int K2 = L->k2, p, b, kp;
    const int16_t *W = L->wp2_8 + (size_t)ob * 8 * K2;
    for (p = 0; p < pt; p++)
        for (b = 0; b < nb; b++)
            acc[p][b] = _mm256_setzero_si256();
    for (kp = 0; kp < K2 / 2; kp++) {
        __m256i w[4];
        for (b = 0; b < nb; b++)
            w[b] = _mm256_loadu_si256((const __m256i *)(W + ((size_t)b * K2 + (size_t)kp * 2) * 8));
        for (p = 0; p < pt; p++) {
            __m256i a = _mm256_set1_epi32(tdi_load_i32(A + (size_t)(p0 + p) * K2 + 2 * kp));
            for (b = 0; b < nb; b++)
                acc[p][b] = _mm256_add_epi32(acc[p][b], _mm256_madd_epi16(a, w[b]));
        }
    }
    for (p = 0; p < pt; p++)
        for (b = 0; b < nb; b++) {
            int o = (ob + b) * 8;
            epi256(out + (size_t)(p0 + p) * L->oc + o, acc[p][b], L, o, L->oc - o);
        }
}

static AVX2 void conv_avx2(const tdi_layer *L, float *out, const uint8_t *q)
{
    int16_t *A = (int16_t *)L->work;
    int P = L->out_h * L->out_w, nblk = (L->oc + 7) / 8;
    tdi_im2col_i16(A, q, L, L->k2);
    TDI_TILE_BLOCKS4(tile_avx2, out, A, L, P, 3, nblk);
}

static AVX2 void dense_avx2(const tdi_layer *L, float *out, const uint8_t *q)
{
    int C = L->in_c, OC = L->oc, Cv = C - C % 16, o, r, c;
    int16_t *a16 = (int16_t *)L->work;
    /* The input widened once; each weight row is widened as it streams in. */
    for (c = 0; c < Cv; c += 16)
        _mm256_storeu_si256((__m256i *)(a16 + c),
                            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(q + c))));
    for (o = 0; o < OC; o += 4) {
        int nr = OC - o < 4 ? OC - o : 4;
        __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                          _mm256_setzero_si256()};
        for (c = 0; c < Cv; c += 16) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(a16 + c));
            for (r = 0; r < nr; r++) {
                __m256i w = _mm256_cvtepi8_epi16(
                    _mm_loadu_si128((const __m128i *)(L->wq + (size_t)(o + r) * C + c)));
                acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(a, w));
            }
        }
        dense_finish256(out, acc, nr, q, L, o, Cv);
    }
}

int td__infer_i8_x86(int isa, const tdi_layer *L, float *out, const uint8_t *q)
{
    int conv = L->kind == TDI_CONV;
    if (!L->work || (conv && !L->wp2_8))
        return -1;
    switch (isa) {
    case TD_INFER_ISA_AVX512_VNNI:
        if (conv)
            conv_avx512(L, out, q);
        else
            dense_avx512(L, out, q);
        return 0;
    case TD_INFER_ISA_AVX_VNNI:
        if (conv)
            conv_avxvnni(L, out, q);
        else
            dense_avxvnni(L, out, q);
        return 0;
    case TD_INFER_ISA_AVX2:
        if (conv)
            conv_avx2(L, out, q);
        else
            dense_avx2(L, out, q);
        return 0;
    default:
        return -1;
    }
}

#else
/* Not an x86-64 GCC/clang build: nothing here (kernels.c answers for this file). */
typedef int tdi_kernels_x86_empty;
#endif
