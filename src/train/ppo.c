/*
 * ppo.c - clipped PPO with DeepRacer's iteration structure: collect whole episodes
 * (num_episodes_between_training, across all cars, at most 10,000 steps), compute GAE
 * advantages (lambda 0.95), then num_epochs passes of minibatches of batch_size over a
 * separate policy tower (clip 0.2, entropy bonus beta_entropy) and value tower (Huber or MSE).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/dist.h"
#include "train/distill.h"
#include "train/train_internal.h"
#include "trackday/rl.h"

#define PPO_CLIP               0.2f
#define PPO_LAMBDA             0.95f
#define PPO_MAX_STEPS_PER_ITER 10000
#define PPO_GRAD_CLIP          1.0f
#define HUBER_DELTA            1.0f
#define PPO_PACK_MAX           (1u << 20) /* towers' parameters all-reduced in one message */

/* The rollout of one iteration: T steps of N cars, sample (t, i) at row t * N + i. */
typedef struct rollout {
    int T, N, t;
    int state_dim, cam_bytes, lidar_dim;
    float *state, *lidar;
    uint8_t *camera;
    int *act;
    float *raw, *logp, *value, *reward, *adv, *ret, *last_value;
    uint8_t *done;
    /* Minibatch scratch. */
    float *mb_state, *mb_lidar, *mb_raw, *mb_logp, *mb_adv, *mb_ret, *mb_dout, *mb_dvalue;
    uint8_t *mb_camera;
    int *mb_act, *perm;
    /* The step's values of all cars. */
    float *step_value;
    /* --teacher: the teacher's targets per sample (n_target = n_out floats each, else 0). */
    int n_target;
    float *target, *mb_target;
    void *block; /* the one allocation behind every buffer above */
    /* --teacher-replay: a ring of the last rp_cap frames driven (observations and teacher
     * targets; rp_n held, the next written at rp_w), the pool of the policy tower's
     * minibatches; rp_perm its shuffled order, read from rp_next. */
    int rp_cap, rp_n, rp_w, rp_next;
    float *rp_state, *rp_lidar, *rp_target;
    uint8_t *rp_camera;
    int *rp_perm;
    void *rp_block;
} rollout;

#define REPLAY_BUFFERS(X)                                                                          \
    X(rp_state, float, C * g->state_dim)                                                           \
    X(rp_lidar, float, C * g->lidar_dim)                                                           \
    X(rp_camera, uint8_t, C * g->cam_bytes)                                                        \
    X(rp_target, float, C * g->n_target)                                                           \
    X(rp_perm, int, C)

/* Every buffer of a rollout, once: name, type, count (S = T x N samples, bs the minibatch). */
#define ROLLOUT_BUFFERS(X)                                                                         \
    X(state, float, S * g->state_dim)                                                              \
    X(lidar, float, S * g->lidar_dim)                                                              \
    X(camera, uint8_t, S * g->cam_bytes)                                                           \
    X(act, int, S)                                                                                 \
    X(raw, float, S * 2)                                                                           \
    X(logp, float, S)                                                                              \
    X(value, float, S)                                                                             \
    X(reward, float, S)                                                                            \
    X(adv, float, S)                                                                               \
    X(ret, float, S)                                                                               \
    X(done, uint8_t, S)                                                                            \
    X(last_value, float, g->N)                                                                     \
    X(step_value, float, g->N)                                                                     \
    X(perm, int, S)                                                                                \
    X(target, float, S * g->n_target)                                                              \
    X(mb_target, float, (size_t)bs * g->n_target)                                                  \
    X(mb_state, float, (size_t)bs * g->state_dim)                                                  \
    X(mb_lidar, float, (size_t)bs * g->lidar_dim)                                                  \
    X(mb_camera, uint8_t, (size_t)bs * g->cam_bytes)                                               \
    X(mb_act, int, bs)                                                                             \
    X(mb_raw, float, bs * 2)                                                                       \
    X(mb_logp, float, bs)                                                                          \
    X(mb_adv, float, bs)                                                                           \
    X(mb_ret, float, bs)                                                                           \
    X(mb_dout, float, (size_t)bs *(n_out > 2 ? n_out : 2))                                         \
    X(mb_dvalue, float, bs)

static void rollout_free(rollout *r)
{
    td_free(r->rp_block);
    td_free(r->block);
    memset(r, 0, sizeof(*r));
}

static int rollout_init(rollout *g, const td__train *tr, td_err *err)
{
    const td_vecenv *env = &tr->env;
    int bs = tr->md.hyper.batch_size, n_out = tr->policy.n_out;
    size_t S, total = 0, off = 0;
    memset(g, 0, sizeof(*g));
    g->N = env->n;
    g->T = (PPO_MAX_STEPS_PER_ITER + g->N - 1) / g->N;
    S = (size_t)g->T * g->N;
    g->state_dim = env->obs_state ? TD_STATE_DIM : 0;
    g->cam_bytes = td_vecenv_camera_bytes(&env->cfg);
    g->lidar_dim = td_vecenv_lidar_dim(&env->cfg);
    g->n_target = tr->have_teacher ? n_out : 0;
    ROLLOUT_BUFFERS(TD_GROUP_BYTES)
    /* calloc: the pages of the big observation arrays stay untouched until used. */
    uint8_t *block = td_calloc(1, total);
    if (!block)
        return td_err_set(err, TD_ENOMEM, "out of memory for a rollout of %d x %d steps (%zu MB)",
                          g->T, g->N, total >> 20);
    g->block = block;
    ROLLOUT_BUFFERS(TD_GROUP_POINT)
    if (g->n_target && tr->opt.teacher_replay > 0) {
        size_t C = (size_t)tr->opt.teacher_replay;
        total = off = 0;
        g->rp_cap = tr->opt.teacher_replay;
        REPLAY_BUFFERS(TD_GROUP_BYTES)
        if (!(block = td_calloc(1, total))) {
            rollout_free(g);
            return td_err_set(err, TD_ENOMEM,
                              "out of memory for --teacher-replay %d (%zu MB of frames)",
                              tr->opt.teacher_replay, total >> 20);
        }
        g->rp_block = block;
        REPLAY_BUFFERS(TD_GROUP_POINT)
    }
    return 0;
}

/* One set of frames (a frame: a sample's observations and its teacher targets): the rollout's,
 * the minibatch's or the replay ring's buffers, each a frame's row after another. */
typedef struct frames {
    float *state, *lidar, *target;
    uint8_t *camera;
} frames;

static frames rollout_frames(rollout *r)
{
    return (frames){r->state, r->lidar, r->target, r->camera};
}

static frames minibatch_frames(rollout *r)
{
    return (frames){r->mb_state, r->mb_lidar, r->mb_target, r->mb_camera};
}

static frames replay_frames(rollout *r)
{
    return (frames){r->rp_state, r->rp_lidar, r->rp_target, r->rp_camera};
}

/* Copies frame `from` of src to frame `to` of dst: the rows of the sensors the model has
 * (r's sizes) and the teacher's targets (with --teacher). */
static void copy_frame(const rollout *r, const frames *dst, size_t to, const frames *src,
                       size_t from)
{
    if (r->state_dim)
        memcpy(dst->state + to * r->state_dim, src->state + from * r->state_dim,
               sizeof(float) * r->state_dim);
    if (r->lidar_dim)
        memcpy(dst->lidar + to * r->lidar_dim, src->lidar + from * r->lidar_dim,
               sizeof(float) * r->lidar_dim);
    if (r->cam_bytes)
        memcpy(dst->camera + to * r->cam_bytes, src->camera + from * r->cam_bytes,
               (size_t)r->cam_bytes);
    if (r->n_target)
        memcpy(dst->target + to * r->n_target, src->target + from * r->n_target,
               sizeof(float) * r->n_target);
}

/* --teacher-replay: the rollout's S samples (observations, targets) into the ring, replacing
 * the oldest; then a new shuffled order of the frames held. */
static void replay_add(rollout *r, int S)
{
    frames ring = replay_frames(r), samples = rollout_frames(r);
    for (int s = 0; s < S; s++) {
        copy_frame(r, &ring, (size_t)r->rp_w, &samples, (size_t)s);
        r->rp_w = (r->rp_w + 1) % r->rp_cap;
        if (r->rp_n < r->rp_cap)
            r->rp_n++;
    }
    for (int i = 0; i < r->rp_n; i++)
        r->rp_perm[i] = i;
    r->rp_next = r->rp_n; /* shuffled at the first draw */
}

/* --teacher-replay: the next B frames of the ring's shuffled order (a new order once it is
 * used up) into the minibatch's observations and targets. */
static void replay_gather(rollout *r, int B, td_rng *rng)
{
    frames mb = minibatch_frames(r), ring = replay_frames(r);
    for (int b = 0; b < B; b++) {
        if (r->rp_next >= r->rp_n) {
            for (int i = r->rp_n - 1; i > 0; i--) {
                int j = (int)td_rng_below(rng, (uint32_t)(i + 1));
                int tmp = r->rp_perm[i];
                r->rp_perm[i] = r->rp_perm[j];
                r->rp_perm[j] = tmp;
            }
            r->rp_next = 0;
        }
        copy_frame(r, &mb, (size_t)b, &ring, (size_t)r->rp_perm[r->rp_next++]);
    }
}

/* Copies the env's current observations into rollout row t. */
static void store_obs(rollout *r, const td_vecenv *env, int t)
{
    size_t base = (size_t)t * r->N;
    if (r->state_dim)
        memcpy(r->state + base * r->state_dim, env->obs_state, sizeof(float) * r->N * r->state_dim);
    if (r->lidar_dim)
        memcpy(r->lidar + base * r->lidar_dim, env->obs_lidar, sizeof(float) * r->N * r->lidar_dim);
    if (r->cam_bytes)
        memcpy(r->camera + base * r->cam_bytes, env->obs_camera, (size_t)r->N * r->cam_bytes);
}

static int values_of(td_policy *p, const td_policy_obs *obs, int B, float *out)
{
    td_nn_input in;
    int rc;
    td_policy_input(obs, &in);
    rc = td_nn_net_forward(p->v, &in, B);
    if (rc)
        return rc;
    for (int b = 0; b < B; b++)
        out[b] = p->v->out[b];
    return 0;
}

/* Gathers minibatch samples idx[0..B) into the mb_* buffers. */
static void gather(rollout *r, const int *idx, int B)
{
    frames mb = minibatch_frames(r), samples = rollout_frames(r);
    for (int b = 0; b < B; b++) {
        int s = idx[b];
        copy_frame(r, &mb, (size_t)b, &samples, (size_t)s);
        r->mb_act[b] = r->act[s];
        r->mb_raw[2 * b] = r->raw[2 * s];
        r->mb_raw[2 * b + 1] = r->raw[2 * s + 1];
        r->mb_logp[b] = r->logp[s];
        r->mb_adv[b] = r->adv[s];
        r->mb_ret[b] = r->ret[s];
    }
}

/* The advantages' normalization over every rank's samples (two passes, as td_rl_normalize). */
static void normalize_across_ranks(float *x, int n)
{
    double s[2] = {0, (double)n};
    for (int i = 0; i < n; i++)
        s[0] += x[i];
    td__dist_sum_f64(s, 2);
    float mean = (float)(s[0] / s[1]);
    double s2 = 0;
    for (int i = 0; i < n; i++)
        s2 += (double)(x[i] - mean) * (x[i] - mean);
    td__dist_sum_f64(&s2, 1);
    float std = (float)sqrt(s2 / s[1]);
    for (int i = 0; i < n; i++)
        x[i] = (x[i] - mean) / (std + 1e-8f);
}

/* What the ranks sum for each minibatch besides the gradients: its samples, whether one was
 * told to stop now, and the losses (times the samples) for the diagnostics. */
enum { RED_WEIGHT, RED_STOP, RED_PL, RED_VL, RED_ENT, RED_KL, RED_CLIP, RED_N };

/*
 * Several ranks: every rank's gradients of its share of a minibatch, weighted by its samples
 * over all ranks' samples and summed (MPI_Allreduce): the gradient of the whole minibatch's
 * mean loss, the same on every rank; red[] is summed too (it holds the samples). Small towers
 * (the state sensor's) go in one all-reduce through pack (latency is their cost); large ones
 * (a camera's millions of parameters) in place, after red.
 */
static void average_gradients(td_policy *p, float *red, int B, float *pack)
{
    td_nn_net *nets[2] = {p->pi, p->v};
    if (pack) {
        size_t off = 0;
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; i < nets[k]->n_params; i++)
                pack[off + i] = nets[k]->grads[i] * (float)B;
            off += nets[k]->n_params;
        }
        memcpy(pack + off, red, sizeof(float) * RED_N);
        td__dist_sum_f32(pack, off + RED_N);
        memcpy(red, pack + off, sizeof(float) * RED_N);
        float inv = red[RED_WEIGHT] > 0 ? 1.0f / red[RED_WEIGHT] : 0.0f;
        off = 0;
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; i < nets[k]->n_params; i++)
                nets[k]->grads[i] = pack[off + i] * inv;
            off += nets[k]->n_params;
        }
        return;
    }
    td__dist_sum_f32(red, RED_N);
    float scale = red[RED_WEIGHT] > 0 ? (float)B / red[RED_WEIGHT] : 0.0f;
    for (int k = 0; k < 2; k++) {
        float *g = nets[k]->grads;
        size_t n = nets[k]->n_params;
        if (scale != 1.0f)
            for (size_t i = 0; i < n; i++)
                g[i] *= scale;
        td__dist_sum_f32(g, n);
    }
}

/* num_epochs passes of minibatch updates over the rollout; fills the loss diagnostics. With
 * several ranks, each minibatch is every rank's share of batch_size samples. */
static int update(td__train *tr, rollout *r, td_train_progress *pr)
{
    td_policy *p = &tr->policy;
    const td_hyperparams *h = &tr->md.hyper;
    int S = r->t * r->N, bs = h->batch_size, rc;
    double sum_pl = 0, sum_vl = 0, sum_ent = 0, sum_kl = 0, sum_clip = 0, sum_il = 0;
    int nmb = 0, nvl = 0;
    /* --teacher: the value tower learns the returns in the first epoch(s) only (the student's
     * policy tower is what distillation is for; its cost is the camera tower's passes). */
    const int value_epochs = 1;
    td_policy_obs obs = {r->state_dim ? r->mb_state : NULL, r->cam_bytes ? r->mb_camera : NULL,
                         r->lidar_dim ? r->mb_lidar : NULL};
    td_nn_input in;

    int K = tr->nranks;
    float *pack = NULL;
    if (K > 1) {
        /* This rank's share of each minibatch; every rank makes as many minibatches per
         * epoch as the rank with the fewest samples (they collect different numbers). */
        bs = (bs + K - 1) / K;
        normalize_across_ranks(r->adv, S);
        size_t n = p->pi->n_params + p->v->n_params;
        if (n <= PPO_PACK_MAX && !(pack = td_malloc(sizeof(float) * (n + RED_N))))
            return TD_ENOMEM;
    } else {
        td_rl_normalize(r->adv, S);
    }
    /* --teacher-replay: the policy tower's minibatches come from the ring (this rollout's
     * frames added), as many as over the rollout alone; the value tower's from the rollout. */
    int replay = r->rp_cap > 0;
    if (replay) {
        replay_add(r, S);
        pr->teacher_replay = r->rp_n;
    }
    long per_epoch = (S + bs - 1) / bs;
    if (K > 1)
        per_epoch = td__dist_min_long(per_epoch);
    for (int i = 0; i < S; i++)
        r->perm[i] = i;
    td_policy_input(&obs, &in);
    long total_mb = (long)h->num_epochs * per_epoch;
    rc = 0;
    /* A second Ctrl-C is answered between two layers (or conv chunks) of a pass: one pass of
     * a camera tower at batch 64 takes seconds on a loaded machine. */
    td__train_cancel_passes(tr, 1);
    for (int epoch = 0; epoch < h->num_epochs && !rc; epoch++) {
        int value_pass = !r->n_target || epoch < value_epochs;
        for (int i = S - 1; i > 0; i--) {
            int j = (int)td_rng_below(&tr->rng, (uint32_t)(i + 1));
            int tmp = r->perm[i];
            r->perm[i] = r->perm[j];
            r->perm[j] = tmp;
        }
        for (long m = 0; m < per_epoch && !rc; m++) {
            int start = (int)(m * bs);
            int B = S - start < bs ? S - start : bs;
            td_rl_ppo_stats st = {0};
            float vl = 0, il = 0;
            /* One sample is no minibatch; a rank with one takes part with no gradient. */
            int use = B >= 2;
            if (!use && K == 1)
                continue;
            /* A minibatch of camera towers is a fraction of a second: a second Ctrl-C is
             * answered between two (on every rank at once). */
            int stop = td__train_stop_now(tr);
            if (stop && K == 1) {
                rc = TD_EINTERRUPTED;
                break;
            }
            td__train_activity(tr, TD_TRAIN_PHASE_UPDATE, 0, 0, nmb, total_mb);
            td_nn_net_zero_grad(p->pi);
            td_nn_net_zero_grad(p->v);
            if (use && !stop) {
                if (replay)
                    replay_gather(r, B, &tr->rng);
                else
                    gather(r, r->perm + start, B);
                /* Policy tower. */
                rc = td_nn_net_forward(p->pi, &in, B);
                if (rc)
                    break;
                if (r->n_target) {
                    /* --teacher: the imitation loss instead of PPO's surrogate. */
                    double ent;
                    il = td__distill_loss(p, p->pi->out, r->mb_target, B, r->mb_dout, &ent);
                    st.entropy = (float)ent;
                    if (p->continuous)
                        memset(p->pi->d_log_std, 0, sizeof(float) * 2);
                } else if (!p->continuous)
                    td_rl_ppo_categorical(r->mb_dout, &st, p->pi->out, r->mb_act, r->mb_logp,
                                          r->mb_adv, B, p->n_out, PPO_CLIP, (float)h->beta_entropy);
                else
                    td_rl_ppo_gaussian(r->mb_dout, p->pi->d_log_std, &st, p->pi->out,
                                       p->pi->log_std, r->mb_raw, r->mb_logp, r->mb_adv, B, 2,
                                       PPO_CLIP, (float)h->beta_entropy);
                rc = td_nn_net_backward(p->pi, r->mb_dout, B);
                if (rc)
                    break;
            }
            /* Value tower (--teacher: in the first value_epochs epochs only). */
            if (use && !stop && value_pass) {
                /* --teacher-replay: the ring keeps observations and teacher targets only, no
                 * returns (an older frame's would be of an older policy's episode), so the
                 * value tower learns from the rollout's samples: a second gather, writing
                 * them over the ring's frames in the mb_* buffers that `in` reads (the policy
                 * tower's backward is done with those). */
                if (replay)
                    gather(r, r->perm + start, B);
                rc = td_nn_net_forward(p->v, &in, B);
                if (rc)
                    break;
                memset(r->mb_dvalue, 0, sizeof(float) * B);
                if (h->loss_type == TD_LOSS_HUBER) {
                    vl = td_nn_huber_forward(p->v->out, r->mb_ret, B, HUBER_DELTA);
                    td_nn_huber_backward(r->mb_dvalue, p->v->out, r->mb_ret, B, HUBER_DELTA, 1.0f);
                } else {
                    vl = td_nn_mse_forward(p->v->out, r->mb_ret, B);
                    td_nn_mse_backward(r->mb_dvalue, p->v->out, r->mb_ret, B, 1.0f);
                }
                rc = td_nn_net_backward(p->v, r->mb_dvalue, B);
                if (rc)
                    break;
            }
            if (K > 1) {
                float w = use && !stop ? (float)B : 0.0f;
                float red[RED_N] = {w,
                                    (float)stop,
                                    w * st.loss,
                                    w * vl,
                                    w * st.entropy,
                                    w * st.approx_kl,
                                    w * st.clip_frac};
                average_gradients(p, red, B, pack);
                if (red[RED_STOP] > 0) {
                    rc = TD_EINTERRUPTED;
                    break;
                }
                if (red[RED_WEIGHT] <= 0)
                    continue;
                st.loss = red[RED_PL] / red[RED_WEIGHT];
                vl = red[RED_VL] / red[RED_WEIGHT];
                st.entropy = red[RED_ENT] / red[RED_WEIGHT];
                st.approx_kl = red[RED_KL] / red[RED_WEIGHT];
                st.clip_frac = red[RED_CLIP] / red[RED_WEIGHT];
            }
            td_nn_clip_grad_norm(p->pi->grads, p->pi->n_params, PPO_GRAD_CLIP);
            td_nn_adam_step(p->pi, &tr->adam);
            if (value_pass) {
                td_nn_clip_grad_norm(p->v->grads, p->v->n_params, PPO_GRAD_CLIP);
                td_nn_adam_step(p->v, &tr->adam);
                nvl++;
            }

            sum_pl += st.loss;
            sum_vl += vl;
            sum_ent += st.entropy;
            sum_kl += st.approx_kl;
            sum_clip += st.clip_frac;
            sum_il += il;
            nmb++;
        }
    }
    td_free(pack);
    td__train_cancel_passes(tr, 0);
    if (rc)
        return rc;
    if (nmb) {
        pr->policy_loss = sum_pl / nmb;
        pr->value_loss = nvl ? sum_vl / nvl : NAN;
        pr->entropy = sum_ent / nmb;
        pr->approx_kl = sum_kl / nmb;
        pr->clip_frac = sum_clip / nmb;
        if (r->n_target) {
            /* No PPO surrogate was computed. */
            pr->imitation_loss = sum_il / nmb;
            pr->policy_loss = pr->approx_kl = pr->clip_frac = NAN;
        }
    }
    return 0;
}

/* DAgger's beta for the iteration in progress (td_train_options.teacher_beta). */
static double teacher_beta(const td__train *tr)
{
    double b0 = tr->opt.teacher_beta;
    int k = tr->opt.teacher_beta_iterations;
    if (b0 <= 0 || k <= 0)
        return 0;
    double f = 1.0 - (double)tr->iteration / k;
    return f > 0 ? b0 * f : 0;
}

/*
 * --teacher, one rollout step after the student chose (its policy tower's outputs still in
 * pi->out): the teacher's targets for row `base` of the rollout, the count of cars whose
 * student agrees with them, and with probability beta per car the teacher's greedy action
 * replaces the student's (counted in *driven).
 */
static int teacher_step(td__train *tr, rollout *r, const td_policy_obs *obs, size_t base,
                        double beta, long *agree, long *driven)
{
    td_policy *p = &tr->policy, *t = &tr->teacher;
    int N = r->N, V = r->n_target;
    float *targets = r->target + base * V;
    td_nn_input in;
    td_policy_input(obs, &in);
    /* (The student's outputs stay in p->pi->out: the teacher's tower is another net.) */
    int rc = td_nn_net_forward(t->pi, &in, N);
    if (rc)
        return rc;
    td__distill_targets(t, tr->opt.teacher_temperature, N, targets);
    *agree += td__distill_agree(p, p->pi->out, targets, N);
    if (beta <= 0)
        return 0;
    for (int i = 0; i < N; i++) {
        if (td_rng_uniform(&tr->rng) >= beta)
            continue;
        int a;
        td__distill_act(t, targets, i, tr->envbuf.actions + 2 * i, &a);
        if (!p->continuous) {
            r->act[base + i] = a;
            r->logp[base + i] = td_rl_categorical_logp(p->pi->out + (size_t)i * V, V, a);
        } else {
            float *raw = r->raw + 2 * (base + i);
            raw[0] = targets[(size_t)i * V];
            raw[1] = targets[(size_t)i * V + 1];
        }
        (*driven)++;
    }
    return 0;
}

int td__ppo_run(td__train *tr, td_train_result *result, td_err *err)
{
    rollout r;
    td_vecenv *env = &tr->env;
    const td_hyperparams *h = &tr->md.hyper;
    td_policy *p = &tr->policy;
    td_policy_obs obs;
    int rc, N = env->n;

    rc = rollout_init(&r, tr, err);
    if (rc)
        return rc;
    td_vecenv_reset(env);
    for (;;) {
        td_train_progress pr;
        double t0 = td_time_now();
        td__episode_sums eps = {0};
        int stop_now = 0;
        td_train_stop stop = TD_TRAIN_STOP_NONE;

        memset(&pr, 0, sizeof(pr));
        long agree = 0, driven = 0;
        double beta = r.n_target ? teacher_beta(tr) : 0;
        tr->iter_t0 = t0;
        tr->iter_comm0 = td__dist_seconds();
        tr->iter_episodes0 = tr->episodes;
        /* Collect whole episodes: DeepRacer's num_episodes_between_training, counted over
         * every rank's cars. */
        int K = tr->nranks;
        long goal = h->num_episodes_between_training, ended = 0;
        long steps0 = tr->steps;
        r.t = 0;
        while (r.t < r.T && ended < goal) {
            size_t base = (size_t)r.t * N;
            store_obs(&r, env, r.t);
            td_policy_obs_from_env(env, 0, &obs);
            rc = td_policy_act(p, &obs, N, 0, &tr->rng, tr->envbuf.actions, r.act + base,
                               r.raw + 2 * base, r.logp + base);
            /* e-greedy as DeepRacer schedules it: epsilon falls over each car's own steps
             * (each car is one of DeepRacer's rollout workers). */
            if (!rc && !p->continuous && h->exploration_type == TD_EXPLORE_EGREEDY)
                td_policy_egreedy(p, N, td_hyperparams_epsilon(h, steps0 / tr->envs_total + r.t),
                                  &tr->rng, tr->envbuf.actions, r.act + base, r.logp + base);
            if (!rc && r.n_target)
                rc = teacher_step(tr, &r, &obs, base, beta, &agree, &driven);
            if (!rc)
                rc = values_of(p, &obs, N, r.value + base);
            if (rc) {
                td__train_net_failed(err, rc, "a rollout step");
                goto out;
            }
            td_vecenv_step(env);
            rc = td__train_check_reward(tr, err);
            if (rc)
                goto out;
            td__trainlog_step(tr, p->continuous ? NULL : r.act + base);
            memcpy(r.reward + base, env->rewards, sizeof(float) * N);
            memcpy(r.done + base, env->dones, (size_t)N);
            td__count_ended(env, &eps);
            r.t++;
            tr->steps += N;
            /* A first Ctrl-C lets the iteration finish (and checkpoint); a second one stops
             * here, keeping the previous checkpoint. */
            stop_now = td__train_stop_now(tr);
            ended = eps.ended;
            if (K > 1) {
                /* The ranks step together: every rank's episodes so far against the goal
                 * (as the cars of one process count them), whether any rank was told to stop
                 * now, whether any is full. So all stop at the same step, each holding as
                 * many steps of its cars (the minibatches' shares are even, none unused). */
                float v[3] = {(float)eps.ended, (float)stop_now, (float)(r.t >= r.T)};
                td__dist_sum_f32(v, 3);
                ended = (long)v[0];
                stop_now = v[1] > 0;
                if (v[2] > 0)
                    break;
            }
            if (stop_now)
                break;
            td__train_activity(tr, TD_TRAIN_PHASE_COLLECT, (long)r.t * N, (int)ended, 0, 0);
        }
        tr->rank_steps += (long)r.t * N;
        long iter_steps = (long)r.t * N;
        td__train_iteration_sums(tr, &eps, &iter_steps, &stop_now, steps0);
        if (stop_now) {
            result->stop = TD_TRAIN_STOP_NOW;
            goto out;
        }
        tr->episodes += eps.ended;

        /* Advantages per car: bootstrap the unfinished episodes from V(s_T). */
        td_policy_obs_from_env(env, 0, &obs);
        rc = values_of(p, &obs, N, r.last_value);
        if (rc) {
            td__train_net_failed(err, rc, "the value bootstrap");
            goto out;
        }
        for (int i = 0; i < N; i++)
            td_rl_gae(r.adv + i, r.ret + i, r.reward + i, r.value + i, r.done + i, NULL, NULL,
                      r.last_value[i], r.t, N, (float)h->discount_factor, PPO_LAMBDA);

        pr.collect_s = td_time_now() - t0;
        {
            double tu = td_time_now();
            rc = update(tr, &r, &pr);
            if (rc == TD_EINTERRUPTED) {
                /* The weights are half-updated: the checkpoint on disk stays the last one. */
                tr->episodes -= eps.ended;
                result->stop = TD_TRAIN_STOP_NOW;
                rc = 0;
                goto out;
            }
            if (rc) {
                td__train_net_failed(err, rc, "the PPO update");
                goto out;
            }
            pr.update_s = td_time_now() - tu;
            pr.update_samples = (long)h->num_epochs * iter_steps;
        }
        if (r.n_target) {
            pr.teacher_agreement = iter_steps > 0 ? (double)agree / (double)iter_steps : NAN;
            pr.teacher_beta = iter_steps > 0 ? (double)driven / (double)iter_steps : NAN;
        }
        tr->iteration++;
        if (tr->test_diverge)
            p->pi->params[0] += 1e-3f;
        if (K > 1 && (rc = td__train_check_same_weights(tr, err)))
            goto out;
        td__episode_means(&eps, &pr);
        rc = td__train_end_iteration(tr, &pr, t0, iter_steps, result, &stop, err);
        if (rc)
            goto out;
        if (stop == TD_TRAIN_STOP_NOW)
            tr->episodes -= eps.ended;
        if (stop != TD_TRAIN_STOP_NONE) {
            result->stop = stop;
            break;
        }
    }
out:
    rollout_free(&r);
    return rc;
}
