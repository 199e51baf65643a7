/*
 * rl.c - reinforcement-learning arithmetic: GAE, clipped PPO surrogates (categorical and
 * Gaussian) with their gradients, SAC targets and the tanh-squashed Gaussian. No allocation;
 * the trainer calls these on its minibatch buffers.
 */
#include <math.h>

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

void td_rl_ppo_categorical(float *dlogits, td_rl_ppo_stats *stats, const float *logits,
                           const int *actions, const float *old_logp, const float *adv, int B,
                           int V, float clip_eps, float beta_entropy)
{
    double sum_obj = 0, sum_ent = 0, sum_kl = 0;
    int n_clipped = 0;
    float inv_b = 1.0f / (float)B;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * V;
        float *dz = dlogits + (size_t)b * V;
        float maxz = z[0], sum = 0.0f, logsum, ent = 0.0f, logp, ratio, obj, g;
        int clipped;
        for (int j = 1; j < V; j++)
            maxz = fmaxf(maxz, z[j]);
        for (int j = 0; j < V; j++)
            sum += expf(z[j] - maxz);
        logsum = maxz + logf(sum);
        for (int j = 0; j < V; j++) {
            float lp = z[j] - logsum;
            ent -= expf(lp) * lp;
        }
        logp = z[actions[b]] - logsum;
        ratio = expf(logp - old_logp[b]);
        g = surrogate_grad(ratio, adv[b], clip_eps, &obj, &clipped);
        for (int j = 0; j < V; j++) {
            float lp = z[j] - logsum, p = expf(lp);
            float dlogp = (j == actions[b] ? 1.0f : 0.0f) - p;
            float dent = -p * (lp + ent);
            dz[j] = inv_b * (g * dlogp - beta_entropy * dent);
        }
        sum_obj += obj;
        sum_ent += ent;
        sum_kl += old_logp[b] - logp;
        n_clipped += clipped;
    }
    stats->surrogate = (float)(sum_obj / B);
    stats->entropy = (float)(sum_ent / B);
    stats->approx_kl = (float)(sum_kl / B);
    stats->clip_frac = (float)n_clipped / (float)B;
    stats->loss = -stats->surrogate - beta_entropy * stats->entropy;
}

static float clip_log_std(float s, int *clipped)
{
    float c = fminf(fmaxf(s, -20.0f), 3.0f);
    *clipped = (c != s);
    return c;
}

void td_rl_ppo_gaussian(float *dmean, float *dlog_std, td_rl_ppo_stats *stats, const float *mean,
                        const float *log_std, const float *actions, const float *old_logp,
                        const float *adv, int B, int A, float clip_eps, float beta_entropy)
{
    double sum_obj = 0, sum_kl = 0;
    int n_clipped = 0;
    float inv_b = 1.0f / (float)B;
    float ls[8], inv_var[8], ent = 0.0f;
    int ls_clipped[8];
    for (int a = 0; a < A && a < 8; a++) {
        ls[a] = clip_log_std(log_std[a], &ls_clipped[a]);
        inv_var[a] = expf(-2.0f * ls[a]);
        ent += ls[a] + 0.5f * (LOG_2PI + 1.0f);
    }
    for (int b = 0; b < B; b++) {
        const float *mu = mean + (size_t)b * A, *x = actions + (size_t)b * A;
        float logp = 0.0f, ratio, obj, g;
        int clipped;
        for (int a = 0; a < A; a++) {
            float d = x[a] - mu[a];
            logp += -0.5f * d * d * inv_var[a] - ls[a] - 0.5f * LOG_2PI;
        }
        ratio = expf(logp - old_logp[b]);
        g = surrogate_grad(ratio, adv[b], clip_eps, &obj, &clipped);
        for (int a = 0; a < A; a++) {
            float d = x[a] - mu[a];
            dmean[(size_t)b * A + a] = inv_b * g * d * inv_var[a];
            if (!ls_clipped[a])
                dlog_std[a] += inv_b * g * (d * d * inv_var[a] - 1.0f);
        }
        sum_obj += obj;
        sum_kl += old_logp[b] - logp;
        n_clipped += clipped;
    }
    /* The entropy of a state-independent Gaussian is the same for every sample. */
    for (int a = 0; a < A; a++)
        if (!ls_clipped[a])
            dlog_std[a] -= beta_entropy;
    stats->surrogate = (float)(sum_obj / B);
    stats->entropy = ent;
    stats->approx_kl = (float)(sum_kl / B);
    stats->clip_frac = (float)n_clipped / (float)B;
    stats->loss = -stats->surrogate - beta_entropy * ent;
}

float td_rl_categorical_logp(const float *logits, int V, int a)
{
    float maxz = logits[0], sum = 0.0f;
    for (int j = 1; j < V; j++)
        maxz = fmaxf(maxz, logits[j]);
    for (int j = 0; j < V; j++)
        sum += expf(logits[j] - maxz);
    return logits[a] - maxz - logf(sum);
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
