/*
 * ref.h - naive reference versions of the nn kernels (plain loops, float64 accumulation),
 * with the same signatures as the fast ones in nn.h. They stay in the tree so tests can hold
 * every fast path to them (STYLE.md rule 5); nothing else should call them.
 */
#ifndef TD_NN_REF_H
#define TD_NN_REF_H

#include "trackday/nn.h"

void td__nn_ref_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc);
void td__nn_ref_dense_forward(float *out, const float *inp, const float *weight, const float *bias,
                              int B, int C, int OC, int relu);
void td__nn_ref_dense_backward(float *dinp, float *dweight, float *dbias, float *dout,
                               const float *relu_out, const float *inp, const float *weight, int B,
                               int C, int OC);
/* cols is unused by the reference (it convolves directly) and may be NULL. */
void td__nn_ref_conv2d_forward(float *out, float *cols, const float *inp, const float *weight,
                               const float *bias, int B, int H, int W, int C, int OC, int K, int S,
                               int relu);
/* Needs inp (not cols): the reference recomputes the patches directly. */
void td__nn_ref_conv2d_backward(float *dinp, float *dweight, float *dbias, float *dout,
                                const float *relu_out, const float *inp, const float *weight, int B,
                                int H, int W, int C, int OC, int K, int S);
void td__nn_ref_softmax_forward(float *probs, const float *logits, int B, int V);
void td__nn_ref_log_softmax_forward(float *logp, const float *logits, int B, int V);

#endif
