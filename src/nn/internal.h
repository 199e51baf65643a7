/*
 * internal.h - declarations shared between the files of src/nn (not part of the public
 * API): the per-layer bookkeeping of a net and tower validation.
 */
#ifndef TD_NN_INTERNAL_H
#define TD_NN_INTERNAL_H

#include "trackday/nn.h"

/*
 * Elementwise loops (epilogues, Adam, im2col) are memory-bound and must be vectorized: GCC's
 * -O2 cost model leaves them scalar, and sqrtf's errno blocks vectorizing Adam. These few
 * functions ask for -O3 semantics without errno (clang vectorizes them at -O2 already).
 */
#if defined(__GNUC__) && !defined(__clang__)
#define TD__NN_VECTORIZE __attribute__((optimize("O3", "no-math-errno")))
/* and for short copies GCC must not turn back into one memcpy call per few floats */
#define TD__NN_INLINE_COPIES                                                                       \
    __attribute__((optimize("O3", "no-math-errno", "no-tree-loop-distribute-patterns")))
#else
#define TD__NN_VECTORIZE
#define TD__NN_INLINE_COPIES
#endif

enum { TD__NN_CONV = 1, TD__NN_DENSE = 2 };

/* One conv or dense layer of a built net; pointers point into the net's allocations. */
struct td_nn_layer {
    int kind;
    int relu;
    int H, W, C, OC, K, S, OH, OW; /* dense: C inputs, OC outputs */
    size_t out_size;               /* floats per sample of out */
    size_t w_off, b_off;           /* weight and bias, floats from net->params */
    float *out, *dout;             /* (max_batch, out_size) */
    float *cols;                   /* conv: im2col of the last forward */
    const float *in;               /* the last forward's input */
    float *din;                    /* where the input gradient goes; NULL when unneeded */
};

/* Fills cols (B*OH*OW, K*K*C) with the patches of inp (B, H, W, C), as the conv forward does. */
void td__nn_im2col(float *cols, const float *inp, int B, int H, int W, int C, int K, int S);

/* Validates a tower's sizes; err names the tower and what is wrong. */
int td__nn_tower_validate(const td_nn_tower *t, td_err *err);

#endif
