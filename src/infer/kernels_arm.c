/*
 * kernels_arm.c - int8 kernels for AArch64: NEON (bytes widened to 16 bits, multiply-
 * accumulate by vector lane into int32) and NEON with the ARMv8.2 dot-product extension
 * (SDOT: four signed byte products added into an int32 lane in one instruction; the Raspberry
 * Pi 5's Cortex-A76 has it, the Pi 4's Cortex-A72 does not). SDOT multiplies signed by
 * signed, and activations are unsigned: they enter as a - 128, and the epilogue adds 128 x
 * the weights' sum back, exactly. The dot-product functions are compiled for that extension
 * with a target attribute; cpu.c asks the CPU at run time whether they may run.
 *
 * As in kernels_x86.c, convolutions multiply im2col rows by weights packed per input position
 * (load.c), dense layers stream the weights as they are, and the epilogue is TDI_REQUANT's
 * float operations, so the outputs equal the portable kernels' bit for bit.
 */
#include <string.h>

#include "kernels_simd.h"

#if TDI_ARM64
#include <arm_neon.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "fp-contract=off")
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define DOTPROD __attribute__((target("dotprod")))
#endif
#define INLINE static inline __attribute__((always_inline))

/* Four outputs from exact sums acc + bias_acc (a per-output int32 correction). */
INLINE void epi4(float *dst, int32x4_t acc, int32x4_t corr, const tdi_layer *L, int o, int n)
{
    if (n >= 4) {
        int32x4_t c = vaddq_s32(acc, corr);
        float32x4_t d = vcvtq_f32_s32(c);
        float32x4_t p = vmulq_f32(vld1q_f32(L->mult + o), d);
        float32x4_t v = vaddq_f32(vld1q_f32(L->bias + o), p);
        if (L->relu)
            v = vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.0f)), vdupq_n_f32(0.0f), v);
        vst1q_f32(dst, v);
    } else {
        int32_t a[4], k[4];
        int i;
        vst1q_s32(a, acc);
        vst1q_s32(k, corr);
        for (i = 0; i < n; i++)
            TDI_REQUANT(a[i] + k[i], L->mult[o + i], L->bias[o + i], L->relu, dst[i]);
    }
}

/* The correction of outputs o..o+3: -zp * wsum (16-bit path) or (128 - zp) * wsum (SDOT). */
INLINE int32x4_t corr4(const tdi_layer *L, int o, int n, int shift)
{
    int32_t w[4] = {0, 0, 0, 0};
    memcpy(w, L->wsum_raw + o, sizeof(int32_t) * (size_t)(n < 4 ? (n > 0 ? n : 0) : 4));
    return vmulq_n_s32(vld1q_s32(w), shift - L->in_zp);
}

/* ---- im2col ----------------------------------------------------------------------------- */

/* Rows of a - 128 (signed bytes). */
static void im2col_s8(int8_t *cols, const uint8_t *in, const tdi_layer *L, int stride)
{
    int OH = L->out_h, OW = L->out_w, K = L->k, S = L->s, W = L->in_w, C = L->in_c;
    int KC = K * C, oy, ox, kh, j;
    for (oy = 0; oy < OH; oy++)
        for (ox = 0; ox < OW; ox++) {
            int8_t *row = cols + ((size_t)oy * OW + ox) * stride;
            for (kh = 0; kh < K; kh++) {
                const uint8_t *src = in + ((size_t)(oy * S + kh) * W + (size_t)ox * S) * C;
                for (j = 0; j < KC; j++)
                    row[kh * KC + j] = (int8_t)(src[j] ^ 0x80);
            }
            for (j = L->kk; j < stride; j++)
                row[j] = 0;
        }
}

/* ---- NEON: 16-bit multiply-accumulate by lane ----------------------------------------- */

INLINE void tile_neon(float *out, const int16_t *A, const tdi_layer *L, int p0, int pt, int ob,
                      int nb)
{
    int32x4_t lo[2][4], hi[2][4];
    int K4 = L->k4, p, b, k;
    const int16_t *W = L->wp2_8 + (size_t)ob * 8 * K4;
    for (p = 0; p < pt; p++)
        for (b = 0; b < nb; b++)
            lo[p][b] = hi[p][b] = vdupq_n_s32(0);
    for (k = 0; k < K4; k += 4) {
        int16x4_t a[2];
        for (p = 0; p < pt; p++)
            a[p] = vld1_s16(A + (size_t)(p0 + p) * K4 + k);
        for (b = 0; b < nb; b++) {
            const int16_t *w = W + ((size_t)b * K4 + k) * 8;
            int16x8_t w0 = vld1q_s16(w), w1 = vld1q_s16(w + 8), w2 = vld1q_s16(w + 16),
                      w3 = vld1q_s16(w + 24);
            for (p = 0; p < pt; p++) {
                lo[p][b] = vmlal_lane_s16(lo[p][b], vget_low_s16(w0), a[p], 0);
                hi[p][b] = vmlal_high_lane_s16(hi[p][b], w0, a[p], 0);
                lo[p][b] = vmlal_lane_s16(lo[p][b], vget_low_s16(w1), a[p], 1);
                hi[p][b] = vmlal_high_lane_s16(hi[p][b], w1, a[p], 1);
                lo[p][b] = vmlal_lane_s16(lo[p][b], vget_low_s16(w2), a[p], 2);
                hi[p][b] = vmlal_high_lane_s16(hi[p][b], w2, a[p], 2);
                lo[p][b] = vmlal_lane_s16(lo[p][b], vget_low_s16(w3), a[p], 3);
                hi[p][b] = vmlal_high_lane_s16(hi[p][b], w3, a[p], 3);
            }
        }
    }
    for (b = 0; b < nb; b++) {
        int o = (ob + b) * 8;
        int32x4_t c0 = corr4(L, o, L->oc - o, 0), c1 = corr4(L, o + 4, L->oc - o - 4, 0);
        for (p = 0; p < pt; p++) {
            float *dst = out + (size_t)(p0 + p) * L->oc + o;
            epi4(dst, lo[p][b], c0, L, o, L->oc - o);
            if (L->oc - o > 4)
                epi4(dst + 4, hi[p][b], c1, L, o + 4, L->oc - o - 4);
        }
    }
}

static void conv_neon(const tdi_layer *L, float *out, const uint8_t *q)
{
    int16_t *A = (int16_t *)L->work;
    int P = L->out_h * L->out_w, nblk = (L->oc + 7) / 8;
    tdi_im2col_i16(A, q, L, L->k4);
    TDI_TILE_BLOCKS4(tile_neon, out, A, L, P, 2, nblk);
}

static void dense_neon(const tdi_layer *L, float *out, const uint8_t *q)
{
    int C = L->in_c, OC = L->oc, Cv = C - C % 8, o, r, c;
    int16_t *a16 = (int16_t *)L->work;
    for (c = 0; c < Cv; c += 8)
        vst1q_s16(a16 + c, vreinterpretq_s16_u16(vmovl_u8(vld1_u8(q + c))));
    for (o = 0; o < OC; o += 4) {
        int nr = OC - o < 4 ? OC - o : 4;
        int32x4_t lo[4], hi[4];
        for (r = 0; r < 4; r++)
            lo[r] = hi[r] = vdupq_n_s32(0);
        for (c = 0; c < Cv; c += 8) {
            int16x8_t a = vld1q_s16(a16 + c);
            for (r = 0; r < nr; r++) {
                int16x8_t w = vmovl_s8(vld1_s8(L->wq + (size_t)(o + r) * C + c));
                lo[r] = vmlal_s16(lo[r], vget_low_s16(w), vget_low_s16(a));
                hi[r] = vmlal_high_s16(hi[r], w, a);
            }
        }
        for (r = 0; r < nr; r++)
            tdi_dense_out(out,
                          tdi_dot_tail(vaddvq_s32(vaddq_s32(lo[r], hi[r])), q,
                                       L->wq + (size_t)(o + r) * C, Cv, C),
                          L, o + r);
    }
}

/* ---- NEON + SDOT ---------------------------------------------------------------------- */

INLINE DOTPROD void tile_dot(float *out, const int8_t *A, const tdi_layer *L, int p0, int pt,
                             int ob, int nb)
{
    int32x4_t acc[2][2][4];
    int K4 = L->k4, p, b, j, kq;
    const int8_t *W = L->wp4_16 + (size_t)ob * 16 * K4;
    for (p = 0; p < pt; p++)
        for (b = 0; b < nb; b++)
            for (j = 0; j < 4; j++)
                acc[p][b][j] = vdupq_n_s32(0);
    for (kq = 0; kq < K4 / 4; kq++) {
        int8x16_t a[2];
        for (p = 0; p < pt; p++)
            a[p] =
                vreinterpretq_s8_s32(vdupq_n_s32(tdi_load_i32(A + (size_t)(p0 + p) * K4 + 4 * kq)));
        for (b = 0; b < nb; b++) {
            const int8_t *w = W + ((size_t)b * K4 + (size_t)kq * 4) * 16;
            for (j = 0; j < 4; j++) {
                int8x16_t wj = vld1q_s8(w + 16 * j);
                for (p = 0; p < pt; p++)
                    acc[p][b][j] = vdotq_s32(acc[p][b][j], wj, a[p]);
            }
        }
    }
    for (b = 0; b < nb; b++)
        for (j = 0; j < 4; j++) {
            int o = (ob + b) * 16 + 4 * j;
            if (o >= L->oc)
                break;
            int32x4_t c = corr4(L, o, L->oc - o, 128);
            for (p = 0; p < pt; p++)
                epi4(out + (size_t)(p0 + p) * L->oc + o, acc[p][b][j], c, L, o, L->oc - o);
        }
}

static DOTPROD void conv_dot(const tdi_layer *L, float *out, const uint8_t *q)
{
    int8_t *A = (int8_t *)L->work;
    int P = L->out_h * L->out_w, nblk = (L->oc + 15) / 16, ob;
    im2col_s8(A, q, L, L->k4);
    for (ob = 0; ob < nblk; ob += 2)
        TDI_TILE_PIXELS(tile_dot, out, A, L, P, 2, ob, nblk - ob >= 2 ? 2 : 1);
}

static DOTPROD void dense_dot(const tdi_layer *L, float *out, const uint8_t *q)
{
    int C = L->in_c, OC = L->oc, Cv = C - C % 16, o, r, c;
    int8_t *a8 = (int8_t *)L->work;
    for (c = 0; c < Cv; c += 16)
        vst1q_s8(a8 + c, vreinterpretq_s8_u8(veorq_u8(vld1q_u8(q + c), vdupq_n_u8(0x80))));
    for (o = 0; o < OC; o += 4) {
        int nr = OC - o < 4 ? OC - o : 4;
        int32x4_t acc[4];
        for (r = 0; r < 4; r++)
            acc[r] = vdupq_n_s32(0);
        for (c = 0; c < Cv; c += 16) {
            int8x16_t a = vld1q_s8(a8 + c);
            for (r = 0; r < nr; r++)
                acc[r] = vdotq_s32(acc[r], vld1q_s8(L->wq + (size_t)(o + r) * C + c), a);
        }
        for (r = 0; r < nr; r++) {
            const int8_t *w = L->wq + (size_t)(o + r) * C;
            int32_t s = vaddvq_s32(acc[r]), ws = 0;
            /* (a - 128) . w over the vector part: add 128 x its weights back. */
            for (c = 0; c < Cv; c++)
                ws += w[c];
            tdi_dense_out(out, tdi_dot_tail(s + 128 * ws, q, w, Cv, C), L, o + r);
        }
    }
}

int td__infer_i8_arm(int isa, const tdi_layer *L, float *out, const uint8_t *q)
{
    int conv = L->kind == TDI_CONV;
    if (!L->work || (conv && !L->wp2_8))
        return -1;
    switch (isa) {
    case TD_INFER_ISA_NEON_DOTPROD:
        if (conv)
            conv_dot(L, out, q);
        else
            dense_dot(L, out, q);
        return 0;
    case TD_INFER_ISA_NEON:
        if (conv)
            conv_neon(L, out, q);
        else
            dense_neon(L, out, q);
        return 0;
    default:
        return -1;
    }
}

#else
/* Not an AArch64 GCC/clang build: nothing here (kernels.c answers for this file). */
typedef int tdi_kernels_arm_empty;
#endif
