/*
 * test_rl.c - GAE, the clipped PPO losses and SAC arithmetic against hand-computed values and
 * finite differences.
 */
#include <math.h>
#include <string.h>

#include "td_test.h"
#include "trackday/rl.h"

TD_TEST(gae_hand_computed)
{
    /* gamma 0.9, lambda 0.8; episode of 3 steps ending at t = 2, then 1 step of the next. */
    float r[4] = {1, 0, 2, 1}, v[4] = {0.5f, 0.4f, 0.3f, 0.2f};
    uint8_t d[4] = {0, 0, 1, 0};
    float adv[4], ret[4];
    td_rl_gae(adv, ret, r, v, d, NULL, NULL, 0.7f, 4, 1, 0.9f, 0.8f);
    /* t=3: delta = 1 + 0.9*0.7 - 0.2 = 1.43; A3 = 1.43 */
    TD_ASSERT_NEAR(adv[3], 1.43, 1e-6);
    /* t=2 terminal: delta = 2 - 0.3 = 1.7; A2 = 1.7 */
    TD_ASSERT_NEAR(adv[2], 1.7, 1e-6);
    /* t=1: delta = 0 + 0.9*0.3 - 0.4 = -0.13; A1 = -0.13 + 0.72*1.7 = 1.094 */
    TD_ASSERT_NEAR(adv[1], 1.094, 1e-6);
    /* t=0: delta = 1 + 0.9*0.4 - 0.5 = 0.86; A0 = 0.86 + 0.72*1.094 = 1.64768 */
    TD_ASSERT_NEAR(adv[0], 1.64768, 1e-5);
    TD_ASSERT_NEAR(ret[0], 1.64768 + 0.5, 1e-5);
}

TD_TEST(gae_strided_column_equals_plain)
{
    /* Car 1's column of a (T=4, N=2) rollout gives the same numbers as a plain array. */
    float r[8] = {9, 1, 9, 0, 9, 2, 9, 1}, v[8] = {9, 0.5f, 9, 0.4f, 9, 0.3f, 9, 0.2f};
    uint8_t d[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    float adv[8] = {0}, ret[8] = {0};
    td_rl_gae(adv + 1, ret + 1, r + 1, v + 1, d + 1, NULL, NULL, 0.7f, 4, 2, 0.9f, 0.8f);
    TD_ASSERT_NEAR(adv[7], 1.43, 1e-6);
    TD_ASSERT_NEAR(adv[5], 1.7, 1e-6);
    TD_ASSERT_NEAR(adv[1], 1.64768, 1e-5);
    TD_ASSERT_NEAR(adv[0], 0, 0); /* car 0's column untouched */
}

TD_TEST(gae_truncation_bootstraps_without_carry)
{
    float r[2] = {1, 1}, v[2] = {0, 0}, nv[2] = {0, 10};
    uint8_t d[2] = {0, 0}, tr[2] = {1, 0};
    float adv[2], ret[2];
    td_rl_gae(adv, ret, r, v, d, tr, nv, 0.0f, 2, 1, 0.5f, 1.0f);
    TD_ASSERT_NEAR(adv[1], 1.0, 1e-6);
    /* step 0 was cut: bootstrap from nv[0] = 0 and do not carry adv[1]. */
    TD_ASSERT_NEAR(adv[0], 1.0, 1e-6);
}

TD_TEST(normalize_zero_mean_unit_std)
{
    float x[5] = {1, 2, 3, 4, 5};
    td_rl_normalize(x, 5);
    float s = 0, s2 = 0;
    for (int i = 0; i < 5; i++) {
        s += x[i];
        s2 += x[i] * x[i];
    }
    TD_ASSERT_NEAR(s / 5, 0, 1e-6);
    TD_ASSERT_NEAR(s2 / 5, 1, 1e-5);
}

TD_TEST(ppo_categorical_hand_computed)
{
    /* One sample, V = 2, logits (0, 0): p = (0.5, 0.5), action 0, logp = log 0.5.
     * old_logp = log 0.4 -> ratio 1.25, clipped to 1.2 with eps 0.2. A = +1: min(1.25, 1.2)
     * = 1.2 (clipped, no gradient from the surrogate); entropy = log 2. */
    float logits[2] = {0, 0}, dl[2];
    int act = 0;
    float old = logf(0.4f), adv = 1.0f;
    td_rl_ppo_stats st;
    td_rl_ppo_categorical(dl, &st, logits, &act, &old, &adv, 1, 2, 0.2f, 0.0f);
    TD_ASSERT_NEAR(st.surrogate, 1.2, 1e-6);
    TD_ASSERT_NEAR(st.clip_frac, 1.0, 0);
    TD_ASSERT_NEAR(dl[0], 0.0, 1e-7);
    TD_ASSERT_NEAR(st.entropy, logf(2.0f), 1e-6);
    /* A = -1: min(-1.25, -1.2) = -1.25, unclipped: d(-r A)/dz0 = r * (1 - p0) = 0.625. */
    adv = -1.0f;
    td_rl_ppo_categorical(dl, &st, logits, &act, &old, &adv, 1, 2, 0.2f, 0.0f);
    TD_ASSERT_NEAR(st.surrogate, -1.25, 1e-6);
    TD_ASSERT_NEAR(dl[0], 0.625, 1e-6);
    TD_ASSERT_NEAR(dl[1], -0.625, 1e-6);
    TD_ASSERT_NEAR(st.loss, 1.25, 1e-6);
}

static float cat_loss(const float *logits, const int *acts, const float *old, const float *adv,
                      int B, int V, float beta)
{
    float dl[64];
    td_rl_ppo_stats st;
    td_rl_ppo_categorical(dl, &st, logits, acts, old, adv, B, V, 0.2f, beta);
    return st.loss;
}

TD_TEST(ppo_categorical_matches_finite_differences)
{
    td_rng rng;
    enum { B = 4, V = 5 };
    float logits[B * V], dl[B * V], old[B], adv[B];
    int acts[B];
    td_rl_ppo_stats st;
    td_rng_seed(&rng, 3, 0);
    for (int i = 0; i < B * V; i++)
        logits[i] = (float)td_rng_normal(&rng);
    for (int b = 0; b < B; b++) {
        acts[b] = (int)td_rng_below(&rng, V);
        /* old policy near the current one so some ratios are inside the clip range */
        old[b] = td_rl_categorical_logp(logits + b * V, V, acts[b]) +
                 (float)td_rng_range(&rng, -0.1, 0.1);
        adv[b] = (float)td_rng_normal(&rng);
    }
    td_rl_ppo_categorical(dl, &st, logits, acts, old, adv, B, V, 0.2f, 0.05f);
    for (int i = 0; i < B * V; i++) {
        float save = logits[i], h = 1e-3f;
        logits[i] = save + h;
        float lp = cat_loss(logits, acts, old, adv, B, V, 0.05f);
        logits[i] = save - h;
        float lm = cat_loss(logits, acts, old, adv, B, V, 0.05f);
        logits[i] = save;
        TD_ASSERT_NEAR(dl[i], (lp - lm) / (2 * h), 2e-3);
    }
}

static float gauss_loss(const float *mean, const float *ls, const float *x, const float *old,
                        const float *adv, int B, int A)
{
    float dm[3 * 16], dls[16] = {0};
    td_rl_ppo_stats st;
    td_rl_ppo_gaussian(dm, dls, &st, mean, ls, x, old, adv, B, A, 0.2f, 0.01f);
    return st.loss;
}

/* The Gaussian PPO gradients against finite differences for A action dimensions. */
static void check_gaussian(int A)
{
    td_rng rng;
    enum { B = 3 };
    float mean[B * 16], ls[16], x[B * 16], old[B], adv[B], dm[B * 16], dls[16] = {0};
    td_rl_ppo_stats st;
    td_rng_seed(&rng, 5, (uint64_t)A);
    for (int a = 0; a < A; a++)
        ls[a] = (float)td_rng_range(&rng, -0.4, 0.3);
    for (int i = 0; i < B * A; i++) {
        mean[i] = (float)td_rng_normal(&rng) * 0.5f;
        x[i] = mean[i] + (float)td_rng_normal(&rng) * 0.7f;
    }
    for (int b = 0; b < B; b++) {
        float lp = 0;
        for (int a = 0; a < A; a++) {
            float d = x[b * A + a] - mean[b * A + a];
            lp += -0.5f * d * d * expf(-2 * ls[a]) - ls[a] - 0.5f * logf(2 * (float)M_PI);
        }
        old[b] = lp + (float)td_rng_range(&rng, -0.1, 0.1);
        adv[b] = (float)td_rng_normal(&rng);
    }
    td_rl_ppo_gaussian(dm, dls, &st, mean, ls, x, old, adv, B, A, 0.2f, 0.01f);
    for (int i = 0; i < B * A; i++) {
        float save = mean[i], h = 1e-3f;
        mean[i] = save + h;
        float lp = gauss_loss(mean, ls, x, old, adv, B, A);
        mean[i] = save - h;
        float lm = gauss_loss(mean, ls, x, old, adv, B, A);
        mean[i] = save;
        TD_ASSERT_NEAR(dm[i], (lp - lm) / (2 * h), 2e-3);
    }
    for (int a = 0; a < A; a++) {
        float save = ls[a], h = 1e-3f;
        ls[a] = save + h;
        float lp = gauss_loss(mean, ls, x, old, adv, B, A);
        ls[a] = save - h;
        float lm = gauss_loss(mean, ls, x, old, adv, B, A);
        ls[a] = save;
        TD_ASSERT_NEAR(dls[a], (lp - lm) / (2 * h), 3e-3);
    }
}

TD_TEST(ppo_gaussian_matches_finite_differences)
{
    check_gaussian(2);
}

/* More than 8 action dimensions: the old code sized its scratch [8] and read past it. */
TD_TEST(ppo_gaussian_takes_any_number_of_dimensions)
{
    check_gaussian(12);
}

TD_TEST(categorical_sampling_and_argmax)
{
    float z[3] = {0.0f, logf(2.0f), logf(7.0f)}; /* probs 0.1, 0.2, 0.7 */
    TD_ASSERT_EQ_INT(td_rl_categorical_sample(z, 3, 0.05), 0);
    TD_ASSERT_EQ_INT(td_rl_categorical_sample(z, 3, 0.15), 1);
    TD_ASSERT_EQ_INT(td_rl_categorical_sample(z, 3, 0.31), 2);
    TD_ASSERT_EQ_INT(td_rl_argmax(z, 3), 2);
    TD_ASSERT_NEAR(td_rl_categorical_logp(z, 3, 1), logf(0.2f), 1e-6);
}

TD_TEST(sac_target_hand_computed)
{
    float r[2] = {1.0f, 2.0f}, q1[2] = {3.0f, 5.0f}, q2[2] = {4.0f, 1.0f}, lp[2] = {-1.0f, 0.5f};
    uint8_t d[2] = {0, 1};
    float y[2];
    td_rl_sac_target(y, r, d, q1, q2, lp, 2, 0.9f, 0.2f);
    /* y0 = 1 + 0.9 * (min(3, 4) - 0.2 * -1) = 1 + 0.9 * 3.2 = 3.88; y1 terminal = 2 */
    TD_ASSERT_NEAR(y[0], 3.88, 1e-6);
    TD_ASSERT_NEAR(y[1], 2.0, 0);
}

/* J = alpha logp(a(mean, log_std)) - w . a with eps fixed: the reparameterized objective. */
static float sac_obj(const float *mean, const float *ls, const float *eps, const float *w,
                     float alpha)
{
    float a[2], u[2];
    float lp = td_rl_squashed_sample(a, u, mean, ls, eps, 2);
    return alpha * lp - (w[0] * a[0] + w[1] * a[1]);
}

TD_TEST(sac_squashed_gradients_match_finite_differences)
{
    float mean[2] = {0.3f, -0.5f}, ls[2] = {-0.7f, 0.1f}, eps[2] = {0.4f, -1.1f};
    float w[2] = {1.5f, -0.8f}, a[2], u[2], dm[2], dls[2];
    float alpha = 0.2f;
    float lp = td_rl_squashed_sample(a, u, mean, ls, eps, 2);
    TD_ASSERT(a[0] > -1 && a[0] < 1);
    TD_ASSERT(isfinite(lp));
    td_rl_squashed_backward(dm, dls, w, u, mean, ls, eps, 2, alpha, 1);
    for (int k = 0; k < 2; k++) {
        float h = 1e-3f, save = mean[k];
        mean[k] = save + h;
        float jp = sac_obj(mean, ls, eps, w, alpha);
        mean[k] = save - h;
        float jm = sac_obj(mean, ls, eps, w, alpha);
        mean[k] = save;
        TD_ASSERT_NEAR(dm[k], (jp - jm) / (2 * h), 2e-3);
        save = ls[k];
        ls[k] = save + h;
        jp = sac_obj(mean, ls, eps, w, alpha);
        ls[k] = save - h;
        jm = sac_obj(mean, ls, eps, w, alpha);
        ls[k] = save;
        TD_ASSERT_NEAR(dls[k], (jp - jm) / (2 * h), 2e-3);
    }
}
