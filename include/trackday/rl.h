/*
 * rl.h - the reinforcement-learning arithmetic of the trainer, kept apart from the loops so it
 * can be checked against hand-computed values: generalized advantage estimation, the clipped
 * PPO surrogate for categorical and Gaussian policies, and SAC's soft targets and
 * tanh-squashed Gaussian. Part of the train layer.
 */
#ifndef TRACKDAY_RL_H
#define TRACKDAY_RL_H

#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Generalized advantage estimation over one trajectory segment of T steps. Every array is
 * read and written at index t * stride (stride 1 for a plain array; N for car i's column of a
 * (T, N) rollout, with the pointers offset by i).
 * rewards (T), values (T) = V(s_t), dones (T): 1 if the episode ended AT step t (terminal:
 * no bootstrap after it), truncated (T) may be NULL: 1 if the episode was cut at step t by a
 * time limit (bootstrap from next_values[t] instead of values[t+1]); next_values (T) may be
 * NULL when truncated is NULL. last_value = V(s_T) bootstraps the step after the segment
 * (ignored if dones[T-1]). Writes advantages (T) and returns (T) = advantages + values.
 * delta_t = r_t + gamma V(s_{t+1}) (1 - done_t) - V(s_t);
 * A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}.
 */
void td_rl_gae(float *advantages, float *returns, const float *rewards, const float *values,
               const uint8_t *dones, const uint8_t *truncated, const float *next_values,
               float last_value, int T, int stride, float gamma, float lambda);

/* Normalizes x (n) to zero mean and unit standard deviation (eps 1e-8); returns the std. */
float td_rl_normalize(float *x, int n);

/*
 * Result of a PPO policy loss over a minibatch: the loss (mean over the batch of
 * -min(r A, clip(r, 1-eps, 1+eps) A) - beta * entropy) and diagnostics.
 */
typedef struct td_rl_ppo_stats {
    float loss;      /* total policy loss, including the entropy term */
    float surrogate; /* mean clipped surrogate (to be maximized) */
    float entropy;   /* mean entropy */
    float approx_kl; /* mean (old_logp - logp) */
    float clip_frac; /* fraction of samples whose ratio was clipped */
} td_rl_ppo_stats;

/* The most discrete actions the PPO helpers take (DeepRacer's action space has at most 64). */
#define TD_RL_MAX_ACTIONS 64

/*
 * Clipped PPO for a categorical policy. logits (B, V), actions (B), old_logp (B), adv (B).
 * Writes dlogits (B, V) = dLoss/dlogits (overwritten, not accumulated) and the stats.
 */
void td_rl_ppo_categorical(float *dlogits, td_rl_ppo_stats *stats, const float *logits,
                           const int *actions, const float *old_logp, const float *adv, int B,
                           int V, float clip_eps, float beta_entropy);

/*
 * Clipped PPO for a diagonal Gaussian with a state-independent log std (clipped to
 * [TD_NN_LOG_STD_MIN, TD_NN_LOG_STD_MAX]). mean (B, A), log_std (A), actions (B, A) (the
 * pre-rescaling samples), old_logp (B), adv (B). Writes dmean (B, A) (overwritten) and ACCUMULATES
 * dlog_std (A).
 */
void td_rl_ppo_gaussian(float *dmean, float *dlog_std, td_rl_ppo_stats *stats, const float *mean,
                        const float *log_std, const float *actions, const float *old_logp,
                        const float *adv, int B, int A, float clip_eps, float beta_entropy);

/* Log-probability of action a under softmax(logits) for one sample of V logits. */
float td_rl_categorical_logp(const float *logits, int V, int a);

/* Samples an action from softmax(logits) with u uniform in [0, 1). */
int td_rl_categorical_sample(const float *logits, int V, double u);

/* Index of the largest logit (greedy action). */
int td_rl_argmax(const float *x, int n);

/*
 * SAC soft target: y = r + gamma (1 - done) (min(q1_next, q2_next) - alpha logp_next),
 * for n transitions.
 */
void td_rl_sac_target(float *y, const float *rewards, const uint8_t *dones, const float *q1_next,
                      const float *q2_next, const float *logp_next, int n, float gamma,
                      float alpha);

/*
 * tanh-squashed Gaussian sample for SAC: u = mean + std * eps, a = tanh(u) (in [-1, 1]),
 * logp = sum_a [log N(u; mean, std) - log(1 - tanh(u)^2 + 1e-6)]. mean (A), log_std (A)
 * (per sample, clipped to [-20, 2]), eps (A) standard normal. Writes a (A), u (A); returns logp.
 */
float td_rl_squashed_sample(float *a, float *u, const float *mean, const float *log_std,
                            const float *eps, int A);

/*
 * Gradients of the SAC policy objective for one sample, alpha logp(a) - Q(s, a), through the
 * reparameterized squashed sample: given dQ/da (A) from the critic, writes dmean (A) and
 * dlog_std (A) (overwritten) of (alpha logp - Q) / B (B = batch size for the mean).
 */
void td_rl_squashed_backward(float *dmean, float *dlog_std, const float *dq_da, const float *u,
                             const float *mean, const float *log_std, const float *eps, int A,
                             float alpha, int B);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_RL_H */
