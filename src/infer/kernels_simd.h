/*
 * kernels_simd.h - what the vector int8 kernels of every instruction set share
 * (kernels_x86.c, kernels_arm.c): the im2col of 16-bit rows, the scalar tail and epilogue of a
 * dense output, and the order in which a convolution's pixels are cut into register tiles.
 * Everything here is static inline or a macro, so that each kernel file inlines it into
 * functions compiled for its own instruction set (target attributes).
 */
#ifndef TD_INFER_KERNELS_SIMD_H
#define TD_INFER_KERNELS_SIMD_H

#include <string.h>

#include "infer_internal.h"

/* A 32-bit word from a byte address that may be unaligned. */
static inline int32_t tdi_load_i32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Rows of K*K*C activations widened to 16 bits, one per output pixel, `stride` values apart
 * (zero padded from L->kk). */
static inline void tdi_im2col_i16(int16_t *cols, const uint8_t *in, const tdi_layer *L, int stride)
{
    int OH = L->out_h, OW = L->out_w, K = L->k, S = L->s, W = L->in_w, C = L->in_c;
    int KC = K * C, oy, ox, kh, j;
    for (oy = 0; oy < OH; oy++)
        for (ox = 0; ox < OW; ox++) {
            int16_t *row = cols + ((size_t)oy * OW + ox) * stride;
            for (kh = 0; kh < K; kh++) {
                const uint8_t *src = in + ((size_t)(oy * S + kh) * W + (size_t)ox * S) * C;
                for (j = 0; j < KC; j++)
                    row[kh * KC + j] = src[j];
            }
            for (j = L->kk; j < stride; j++)
                row[j] = 0;
        }
}

/* s plus the products q[c] * w[c] for c in [from, to): the part of a dense row the vectors
 * did not cover. */
static inline int32_t tdi_dot_tail(int32_t s, const uint8_t *q, const int8_t *w, int from, int to)
{
    int c;
    for (c = from; c < to; c++)
        s += (int32_t)q[c] * w[c];
    return s;
}

/* Dense output o from the exact sum s of its u8 x s8 products (TDI_REQUANT). */
static inline void tdi_dense_out(float *out, int32_t s, const tdi_layer *L, int o)
{
    TDI_REQUANT(s - L->in_zp * L->wsum_raw[o], L->mult[o], L->bias[o], L->relu, out[o]);
}

/*
 * A convolution's P output pixels through tile(out, A, L, p0, pixels, ob, nb): `rows` pixels
 * at a time (what fits in registers with nb channel blocks), then the rest one by one. A
 * macro, so that each instruction set's tile function is inlined with its own target.
 */
#define TDI_TILE_PIXELS(tile, out, A, L, P, rows, ob, nb)                                          \
    do {                                                                                           \
        int tdi_p_;                                                                                \
        for (tdi_p_ = 0; tdi_p_ + (rows) <= (P); tdi_p_ += (rows))                                 \
            tile(out, A, L, tdi_p_, rows, ob, nb);                                                 \
        for (; tdi_p_ < (P); tdi_p_++)                                                             \
            tile(out, A, L, tdi_p_, 1, ob, nb);                                                    \
    } while (0)

/*
 * The blocks of 8 channels of a 256-bit (or NEON 16-bit) convolution: four blocks per tile
 * while four remain, then each remaining block alone.
 */
#define TDI_TILE_BLOCKS4(tile, out, A, L, P, rows, nblk)                                           \
    do {                                                                                           \
        int tdi_ob_, tdi_b_;                                                                       \
        for (tdi_ob_ = 0; tdi_ob_ < (nblk); tdi_ob_ += 4) {                                        \
            int tdi_nb_ = (nblk)-tdi_ob_ < 4 ? (nblk)-tdi_ob_ : 4;                                 \
            if (tdi_nb_ == 4)                                                                      \
                TDI_TILE_PIXELS(tile, out, A, L, P, rows, tdi_ob_, 4);                             \
            else                                                                                   \
                for (tdi_b_ = 0; tdi_b_ < tdi_nb_; tdi_b_++)                                       \
                    TDI_TILE_PIXELS(tile, out, A, L, P, rows, tdi_ob_ + tdi_b_, 1);                \
        }                                                                                          \
    } while (0)

#endif
