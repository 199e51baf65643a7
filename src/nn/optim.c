/*
 * optim.c - Adam (with bias correction and an optional decoupled weight decay) and global
 * gradient-norm clipping, over flat float arrays: a net keeps its parameters, gradients
 * and both moments in one allocation each, so one call updates the whole network.
 */
#include <math.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

#include "nn/internal.h"

void td_nn_adam_config_default(td_nn_adam_config *cfg)
{
    cfg->lr = 3e-4f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-5f; /* DeepRacer's (coach's) Adam epsilon */
    cfg->weight_decay = 0.0f;
}

TD__NN_VECTORIZE void td_nn_adam_update(float *restrict params, float *restrict m,
                                        float *restrict v, const float *restrict grads, size_t n,
                                        const td_nn_adam_config *cfg, long t)
{
    float b1 = cfg->beta1, b2 = cfg->beta2;
    /* bias corrections in double: b^t for large t underflows gracefully */
    float c1 = (float)(1.0 / (1.0 - pow(b1, (double)t)));
    float c2 = (float)(1.0 / (1.0 - pow(b2, (double)t)));
    float lr = cfg->lr, eps = cfg->eps;
    float keep = 1.0f - cfg->lr * cfg->weight_decay; /* decoupled decay: p -= lr * wd * p */
    size_t i = 0;
#ifdef __SSE2__
    /* explicit SIMD: sqrtf's errno keeps compilers from vectorizing the scalar loop */
    const __m128 vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2), v1b1 = _mm_set1_ps(1.0f - b1),
                 v1b2 = _mm_set1_ps(1.0f - b2), vc1 = _mm_set1_ps(c1), vc2 = _mm_set1_ps(c2),
                 vlr = _mm_set1_ps(lr), veps = _mm_set1_ps(eps), vkeep = _mm_set1_ps(keep);
    for (; i + 4 <= n; i += 4) {
        __m128 g = _mm_loadu_ps(grads + i);
        __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(v1b1, g));
        __m128 vi =
            _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(v1b2, _mm_mul_ps(g, g)));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        __m128 den = _mm_add_ps(_mm_sqrt_ps(_mm_mul_ps(vi, vc2)), veps);
        __m128 step = _mm_div_ps(_mm_mul_ps(vlr, _mm_mul_ps(mi, vc1)), den);
        _mm_storeu_ps(params + i, _mm_sub_ps(_mm_mul_ps(_mm_loadu_ps(params + i), vkeep), step));
    }
#endif
    for (; i < n; i++) {
        float g = grads[i];
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = params[i] * keep - lr * (mi * c1) / (sqrtf(vi * c2) + eps);
    }
}

TD__NN_VECTORIZE float td_nn_grad_norm(const float *grads, size_t n)
{
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += (double)grads[i] * grads[i];
    return (float)sqrt(acc);
}

float td_nn_clip_grad_norm(float *grads, size_t n, float max_norm)
{
    float norm = td_nn_grad_norm(grads, n);
    if (norm > max_norm && norm > 0.0f) {
        float k = max_norm / norm;
        for (size_t i = 0; i < n; i++)
            grads[i] *= k;
    }
    return norm;
}
