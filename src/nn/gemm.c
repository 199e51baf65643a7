/*
 * gemm.c - the one matrix product every nn kernel goes through. With OpenBLAS
 * (TD_HAVE_OPENBLAS) it forwards to cblas_sgemm, run single-threaded because trackday
 * parallelizes across worker processes and a threaded BLAS inside each would oversubscribe
 * the cores. Without it, a cache-blocked C implementation keeps the core building and
 * passing its tests (slower, but correct).
 */
#include <string.h>

#include "nn/internal.h"

#ifdef TD_HAVE_OPENBLAS
#include <cblas.h>
#endif

/* ---- setup ------------------------------------------------------------------------------ */

static int nn_initialized;

const char *td_nn_init(void)
{
#ifdef TD_HAVE_OPENBLAS
    if (!nn_initialized) {
        openblas_set_num_threads(1);
        nn_initialized = 1;
    }
    return "openblas";
#else
    nn_initialized = 1;
    return "builtin";
#endif
}

/* ---- built-in blocked GEMM ---------------------------------------------------------------- */

/*
 * Blocks of op(A) (MB x KB) and op(B) (KB x NB) are packed into contiguous row-major
 * buffers on the stack, so the inner loop is a unit-stride axpy over NB columns that the
 * compiler vectorizes whatever the transposition of the operands.
 */
#define GEMM_MB 64
#define GEMM_KB 128
#define GEMM_NB 256

TD__NN_VECTORIZE static void gemm_block(int mb, int nb, int kb, const float *restrict ap,
                                        const float *restrict bp, float *restrict c, int ldc)
{
    int i = 0;
    /* four rows of C at a time: each packed B row is loaded once for four FMAs */
    for (; i + 4 <= mb; i += 4) {
        float *restrict c0 = c + (size_t)i * ldc, *restrict c1 = c0 + ldc;
        float *restrict c2 = c1 + ldc, *restrict c3 = c2 + ldc;
        const float *a0 = ap + (size_t)i * GEMM_KB;
        for (int k = 0; k < kb; k++) {
            float x0 = a0[k], x1 = a0[GEMM_KB + k], x2 = a0[2 * GEMM_KB + k],
                  x3 = a0[3 * GEMM_KB + k];
            const float *restrict brow = bp + (size_t)k * GEMM_NB;
            for (int j = 0; j < nb; j++) {
                float b = brow[j];
                c0[j] += x0 * b;
                c1[j] += x1 * b;
                c2[j] += x2 * b;
                c3[j] += x3 * b;
            }
        }
    }
    for (; i < mb; i++) {
        float *restrict crow = c + (size_t)i * ldc;
        const float *arow = ap + (size_t)i * GEMM_KB;
        for (int k = 0; k < kb; k++) {
            float a = arow[k];
            const float *restrict brow = bp + (size_t)k * GEMM_NB;
            for (int j = 0; j < nb; j++)
                crow[j] += a * brow[j];
        }
    }
}

void td_nn_sgemm_builtin(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    /* Scale C by beta first; beta == 0 overwrites (so NaNs in C do not survive). */
    for (int i = 0; i < M; i++) {
        float *crow = C + (size_t)i * ldc;
        if (beta == 0.0f)
            memset(crow, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++)
                crow[j] *= beta;
    }
    if (alpha == 0.0f || K == 0)
        return;
    static _Thread_local float apack[GEMM_MB * GEMM_KB];
    static _Thread_local float bpack[GEMM_KB * GEMM_NB];
    for (int j0 = 0; j0 < N; j0 += GEMM_NB) {
        int nb = N - j0 < GEMM_NB ? N - j0 : GEMM_NB;
        for (int k0 = 0; k0 < K; k0 += GEMM_KB) {
            int kb = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
            /* pack op(B)[k0:k0+kb, j0:j0+nb] */
            for (int k = 0; k < kb; k++) {
                float *dst = bpack + (size_t)k * GEMM_NB;
                if (!trans_b) {
                    memcpy(dst, B + (size_t)(k0 + k) * ldb + j0, (size_t)nb * sizeof(float));
                } else {
                    for (int j = 0; j < nb; j++)
                        dst[j] = B[(size_t)(j0 + j) * ldb + k0 + k];
                }
            }
            for (int i0 = 0; i0 < M; i0 += GEMM_MB) {
                int mb = M - i0 < GEMM_MB ? M - i0 : GEMM_MB;
                /* pack alpha * op(A)[i0:i0+mb, k0:k0+kb] */
                for (int i = 0; i < mb; i++) {
                    float *dst = apack + (size_t)i * GEMM_KB;
                    if (!trans_a) {
                        const float *src = A + (size_t)(i0 + i) * lda + k0;
                        for (int k = 0; k < kb; k++)
                            dst[k] = alpha * src[k];
                    } else {
                        for (int k = 0; k < kb; k++)
                            dst[k] = alpha * A[(size_t)(k0 + k) * lda + i0 + i];
                    }
                }
                gemm_block(mb, nb, kb, apack, bpack, C + (size_t)i0 * ldc + j0, ldc);
            }
        }
    }
}

/* ---- dispatch ------------------------------------------------------------------------------ */

void td_nn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
#ifdef TD_HAVE_OPENBLAS
    if (!nn_initialized)
        td_nn_init();
    if (K <= 0) {
        td_nn_sgemm_builtin(trans_a, trans_b, M, N, 0, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /*
     * One row or one column is a matrix-vector product: sgemv streams the matrix at memory
     * bandwidth, where sgemm's packing made single-frame inference three times slower.
     */
    if (M == 1) {
        /* C (1, N) = a (1, K) op(B): a is A's row (or, transposed, its column of stride lda) */
        int inc_a = trans_a ? lda : 1;
        if (trans_b)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, inc_a, beta, C, 1);
        else
            cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, inc_a, beta, C, 1);
        return;
    }
    if (N == 1) {
        /* C (M, 1) = op(A) b, b op(B)'s column, C's column of stride ldc */
        int inc_b = trans_b ? 1 : ldb;
        if (trans_a)
            cblas_sgemv(CblasRowMajor, CblasTrans, K, M, alpha, A, lda, B, inc_b, beta, C, ldc);
        else
            cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, alpha, A, lda, B, inc_b, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    td_nn_sgemm_builtin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}
