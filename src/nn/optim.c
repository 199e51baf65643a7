/*
 * optim.c - Adam (with bias correction and an optional decoupled weight decay) and global
 * gradient-norm clipping, over flat float arrays: a net keeps its parameters, gradients
 * and both moments in one allocation each, so one call updates the whole network.
 */
#include <math.h>

#include "trackday/nn.h"

void td_nn_adam_config_default(td_nn_adam_config *cfg)
{
    cfg->lr = 3e-4f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-5f; /* DeepRacer's (coach's) Adam epsilon */
    cfg->weight_decay = 0.0f;
}

void td_nn_adam_update(float *params, float *m, float *v, const float *grads, size_t n,
                       const td_nn_adam_config *cfg, long t)
{
    float b1 = cfg->beta1, b2 = cfg->beta2;
    /* bias corrections in double: b^t for large t underflows gracefully */
    float c1 = (float)(1.0 / (1.0 - pow(b1, (double)t)));
    float c2 = (float)(1.0 / (1.0 - pow(b2, (double)t)));
    float lr = cfg->lr, eps = cfg->eps, decay = cfg->lr * cfg->weight_decay;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float p = params[i];
        if (decay != 0.0f)
            p -= decay * p;
        params[i] = p - lr * (mi * c1) / (sqrtf(vi * c2) + eps);
    }
}

float td_nn_grad_norm(const float *grads, size_t n)
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
