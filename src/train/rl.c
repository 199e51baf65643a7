/*
 * rl.c - reinforcement-learning arithmetic: GAE, clipped PPO surrogates (categorical and
 * Gaussian) with their gradients on top of nn/'s distribution kernels, SAC targets and the
 * tanh-squashed Gaussian. No allocation; the trainer calls these on its minibatch buffers.
 */
#include <math.h>
#include <string.h>

#include "trackday/nn.h"
#include "trackday/rl.h"

#define LOG_2PI 1.8378770664093453f

void td_rl_gae(float *advantages, float *returns, const float *rewards, const float *values,
               const uint8_t *dones, const uint8_t *truncated, const float *next_values,
               float last_value, int T, int stride, float gamma, float lambda)
{
    float next_adv = 0.0f;
    float next_v = last_value;
    for (int t = T - 1; t >= 0; t--) {
        size_t k = (size_t)t * stride;
        float delta, carry;
        if (dones[k]) {
            /* A terminal step: nothing after it is worth anything. */
            delta = rewards[k] - values[k];
            carry = 0.0f;
        } else if (truncated && truncated[k]) {
            /* Cut by a limit: bootstrap from the value of the state it was cut in, but do not
             * carry the advantage of the next (unrelated) episode. */
            delta = rewards[k] + gamma * next_values[k] - values[k];
            carry = 0.0f;
        } else {
            delta = rewards[k] + gamma * next_v - values[k];
            carry = gamma * lambda * next_adv;
        }
        advantages[k] = delta + carry;
        returns[k] = advantages[k] + values[k];
        next_adv = advantages[k];
        next_v = values[k];
    }
}

float td_rl_normalize(float *x, int n)
{
    double sum = 0, sum2 = 0;
    float mean, std;
    if (n <= 0)
        return 0.0f;
    for (int i = 0; i < n; i++)
        sum += x[i];
    mean = (float)(sum / n);
    for (int i = 0; i < n; i++)
        sum2 += (double)(x[i] - mean) * (x[i] - mean);
    std = (float)sqrt(sum2 / n);
    for (int i = 0; i < n; i++)
        x[i] = (x[i] - mean) / (std + 1e-8f);
    return std;
}

/* d(-min(r A, clip(r) A)) / dlogp for one sample, plus whether the clip was active. */
static float surrogate_grad(float ratio, float adv, float clip_eps, float *obj, int *clipped)
{
    float rc = fminf(fmaxf(ratio, 1.0f - clip_eps), 1.0f + clip_eps);
    float s1 = ratio * adv, s2 = rc * adv;
    *clipped = (rc != ratio);
    if (s1 <= s2) {
        *obj = s1;
        return -adv * ratio;
    }
    *obj = s2;
    return 0.0f;
}

/*
 * The PPO losses are built on nn/'s log-softmax, categorical entropy and Gaussian log-prob
 * kernels (held to references and finite differences in test_nn): only the clipped surrogate
 * is PPO's own. Per sample, so the scratch fits on the stack (V <= TD_RL_MAX_ACTIONS).
 */
void td_rl_ppo_categorical(float *dlogits, td_rl_ppo_stats *stats, const float *logits,
                           const int *actions, const float *old_logp, const float *adv, int B,
                           int V, float clip_eps, float beta_entropy)
{
    double sum_obj = 0, sum_ent = 0, sum_kl = 0;
    int n_clipped = 0;
    float inv_b = 1.0f / (float)B;
    float lp[TD_RL_MAX_ACTIONS], dlp[TD_RL_MAX_ACTIONS];
    if (V > TD_RL_MAX_ACTIONS)
        V = TD_RL_MAX_ACTIONS; /* cannot happen: the action space is validated to 64 actions */
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * V;
        float *dz = dlogits + (size_t)b * V;
        float ent, ratio, obj, g, dent = -beta_entropy * inv_b;
        int clipped, act = actions[b];
        td_nn_log_softmax_forward(lp, z, 1, V);
        td_nn_categorical_entropy_forward(&ent, lp, 1, V);
        ratio = expf(lp[act] - old_logp[b]);
        g = surrogate_grad(ratio, adv[b], clip_eps, &obj, &clipped);
        /* loss = mean(-surrogate) - beta * mean(entropy): the surrogate's gradient reaches the
         * logits through logp[act], the entropy's directly. */
        memset(dz, 0, (size_t)V * sizeof(float));
        memset(dlp, 0, (size_t)V * sizeof(float));
        dlp[act] = inv_b * g;
        td_nn_log_softmax_backward(dz, dlp, lp, 1, V);
        td_nn_categorical_entropy_backward(dz, &dent, lp, 1, V);
        sum_obj += obj;
        sum_ent += ent;
        sum_kl += old_logp[b] - lp[act];
        n_clipped += clipped;
    }
    stats->surrogate = (float)(sum_obj / B);
    stats->entropy = (float)(sum_ent / B);
    stats->approx_kl = (float)(sum_kl / B);
    stats->clip_frac = (float)n_clipped / (float)B;
    stats->loss = -stats->surrogate - beta_entropy * stats->entropy;
}

void td_rl_ppo_gaussian(float *dmean, float *dlog_std, td_rl_ppo_stats *stats, const float *mean,
                        const float *log_std, const float *actions, const float *old_logp,
                        const float *adv, int B, int A, float clip_eps, float beta_entropy)
{
    double sum_obj = 0, sum_kl = 0;
    int n_clipped = 0;
    float inv_b = 1.0f / (float)B;
    /* The entropy of a state-independent Gaussian is the same for every sample. */
    float ent = td_nn_gaussian_entropy(log_std, A);
    memset(dmean, 0, (size_t)B * A * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *mu = mean + (size_t)b * A, *x = actions + (size_t)b * A;
        float logp, ratio, obj, dlogp;
        int clipped;
        td_nn_gaussian_logprob_forward(&logp, mu, log_std, x, 1, A);
        ratio = expf(logp - old_logp[b]);
        dlogp = inv_b * surrogate_grad(ratio, adv[b], clip_eps, &obj, &clipped);
        td_nn_gaussian_logprob_backward(dmean + (size_t)b * A, dlog_std, &dlogp, mu, log_std, x, 1,
                                        A);
        sum_obj += obj;
        sum_kl += old_logp[b] - logp;
        n_clipped += clipped;
    }
    td_nn_gaussian_entropy_backward(dlog_std, -beta_entropy, log_std, A);
    stats->surrogate = (float)(sum_obj / B);
    stats->entropy = ent;
    stats->approx_kl = (float)(sum_kl / B);
    stats->clip_frac = (float)n_clipped / (float)B;
    stats->loss = -stats->surrogate - beta_entropy * ent;
}

float td_rl_categorical_logp(const float *logits, int V, int a)
{
    float lp[TD_RL_MAX_ACTIONS];
    if (V > TD_RL_MAX_ACTIONS)
        V = TD_RL_MAX_ACTIONS;
    td_nn_log_softmax_forward(lp, logits, 1, V);
    return lp[a];
}

int td_rl_categorical_sample(const float *logits, int V, double u)
{
    float maxz = logits[0];
    double sum = 0.0, acc = 0.0;
    for (int j = 1; j < V; j++)
        maxz = fmaxf(maxz, logits[j]);
    for (int j = 0; j < V; j++)
        sum += exp((double)(logits[j] - maxz));
    u *= sum;
    for (int j = 0; j < V; j++) {
        acc += exp((double)(logits[j] - maxz));
        if (u < acc)
            return j;
    }
    return V - 1;
}

int td_rl_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

void td_rl_sac_target(float *y, const float *rewards, const uint8_t *dones, const float *q1_next,
                      const float *q2_next, const float *logp_next, int n, float gamma, float alpha)
{
    for (int i = 0; i < n; i++) {
        float q = fminf(q1_next[i], q2_next[i]) - alpha * logp_next[i];
        y[i] = rewards[i] + (dones[i] ? 0.0f : gamma * q);
    }
}

float td_rl_squashed_sample(float *a, float *u, const float *mean, const float *log_std,
                            const float *eps, int A)
{
    float logp = 0.0f;
    for (int k = 0; k < A; k++) {
        float ls = fminf(fmaxf(log_std[k], -20.0f), 2.0f);
        u[k] = mean[k] + expf(ls) * eps[k];
        a[k] = tanhf(u[k]);
        logp += -0.5f * eps[k] * eps[k] - ls - 0.5f * LOG_2PI - logf(1.0f - a[k] * a[k] + 1e-6f);
    }
    return logp;
}

void td_rl_squashed_backward(float *dmean, float *dlog_std, const float *dq_da, const float *u,
                             const float *mean, const float *log_std, const float *eps, int A,
                             float alpha, int B)
{
    float inv_b = 1.0f / (float)B;
    for (int k = 0; k < A; k++) {
        float ls = fminf(fmaxf(log_std[k], -20.0f), 2.0f);
        float sigma = expf(ls);
        float a = tanhf(u[k]);
        float one_m = 1.0f - a * a;
        /* d(-log(1 - tanh(u)^2 + 1e-6))/du */
        float dcorr_du = 2.0f * a * one_m / (one_m + 1e-6f);
        float dobj_du = alpha * dcorr_du - dq_da[k] * one_m;
        dmean[k] = inv_b * dobj_du;
        if (log_std[k] < -20.0f || log_std[k] > 2.0f)
            dlog_std[k] = 0.0f;
        else
            dlog_std[k] = inv_b * (-alpha + dobj_du * sigma * eps[k]);
        (void)mean;
    }
}
