/*
 * sac.c - Soft Actor-Critic for continuous actions (DeepRacer's "sac"): twin Q critics with
 * Polyak-averaged targets, a fixed entropy temperature sac_alpha, a tanh-squashed Gaussian
 * policy, and a replay buffer. An iteration collects num_episodes_between_training episodes
 * (and at least one step per car), then makes gradient updates in proportion to the steps.
 */
#include <math.h>
#include <string.h>

#include "train/dist.h"
#include "train/train_internal.h"
#include "trackday/rl.h"

#define SAC_TAU                0.005f
#define SAC_WARMUP_STEPS       2000 /* uniform random actions first */
#define SAC_UPDATES_PER_STEP   0.25 /* gradient updates per env step */
#define SAC_MIN_STEPS_PER_ITER 512
#define SAC_MAX_STEPS_PER_ITER 10000
#define SAC_GRAD_CLIP          10.0f
#define SAC_REPLAY_BYTES       (2ull << 30)

typedef struct sac {
    long cap, size, head;
    int state_dim, cam_bytes, lidar_dim;
    /* Replay: obs and next obs of each transition, the squashed action, reward, done. */
    float *state, *next_state, *lidar, *next_lidar, *act, *rew;
    uint8_t *camera, *next_camera, *done;
    /* Minibatch scratch. */
    float *mb_state, *mb_next_state, *mb_lidar, *mb_next_lidar, *mb_act, *mb_rew;
    uint8_t *mb_camera, *mb_next_camera, *mb_done;
    float *a_next, *u_next, *logp_next, *q1n, *q2n, *y, *dq, *eps, *u, *a, *logp, *dmean, *dls;
    float *prev_state, *prev_lidar, *env_raw;
    uint8_t *prev_camera;
    td_nn_net q1t, q2t;
    int have_targets;
    void *block; /* the one allocation behind every buffer above */
} sac;

/* Every buffer of the replay and the minibatch scratch, once: name, type, count. */
#define SAC_BUFFERS(X)                                                                             \
    X(state, float, cap * g->state_dim)                                                            \
    X(next_state, float, cap * g->state_dim)                                                       \
    X(lidar, float, cap * g->lidar_dim)                                                            \
    X(next_lidar, float, cap * g->lidar_dim)                                                       \
    X(camera, uint8_t, cap * g->cam_bytes)                                                         \
    X(next_camera, uint8_t, cap * g->cam_bytes)                                                    \
    X(act, float, cap * 2)                                                                         \
    X(rew, float, cap)                                                                             \
    X(done, uint8_t, cap)                                                                          \
    X(mb_state, float, (size_t)bs * g->state_dim)                                                  \
    X(mb_next_state, float, (size_t)bs * g->state_dim)                                             \
    X(mb_lidar, float, (size_t)bs * g->lidar_dim)                                                  \
    X(mb_next_lidar, float, (size_t)bs * g->lidar_dim)                                             \
    X(mb_camera, uint8_t, (size_t)bs * g->cam_bytes)                                               \
    X(mb_next_camera, uint8_t, (size_t)bs * g->cam_bytes)                                          \
    X(mb_act, float, bs * 2)                                                                       \
    X(mb_rew, float, bs)                                                                           \
    X(mb_done, uint8_t, bs)                                                                        \
    X(a_next, float, bs * 2)                                                                       \
    X(u_next, float, bs * 2)                                                                       \
    X(logp_next, float, bs)                                                                        \
    X(q1n, float, bs)                                                                              \
    X(q2n, float, bs)                                                                              \
    X(y, float, bs)                                                                                \
    X(dq, float, bs)                                                                               \
    X(eps, float, bs * 2)                                                                          \
    X(u, float, bs * 2)                                                                            \
    X(a, float, bs * 2)                                                                            \
    X(logp, float, bs)                                                                             \
    X(dmean, float, bs * 2)                                                                        \
    X(dls, float, 2)                                                                               \
    X(prev_state, float, (size_t)N * g->state_dim)                                                 \
    X(prev_lidar, float, (size_t)N * g->lidar_dim)                                                 \
    X(prev_camera, uint8_t, (size_t)N * g->cam_bytes)                                              \
    X(env_raw, float, N * 2)

static void sac_free(sac *s)
{
    td_free(s->block);
    s->block = NULL;
    if (s->have_targets) {
        td_nn_net_free(&s->q1t);
        td_nn_net_free(&s->q2t);
        s->have_targets = 0;
    }
}

static int sac_init(sac *g, td__train *tr, td_err *err)
{
    const td_vecenv *env = &tr->env;
    int N = env->n, bs = tr->md.hyper.batch_size;
    size_t per, cap, total = 0, off = 0;
    int rc;
    memset(g, 0, sizeof(*g));
    g->state_dim = env->obs_state ? TD_STATE_DIM : 0;
    g->cam_bytes = td_vecenv_camera_bytes(&env->cfg);
    g->lidar_dim = td_vecenv_lidar_dim(&env->cfg);
    per = 2 * (g->state_dim + g->lidar_dim) * sizeof(float) + 2 * (size_t)g->cam_bytes + 16;
    g->cap = (long)(SAC_REPLAY_BYTES / per);
    if (g->cap > 1000000)
        g->cap = 1000000;
    cap = (size_t)g->cap;
    SAC_BUFFERS(TD_GROUP_BYTES)
    /* calloc: the replay's pages stay untouched until transitions arrive. */
    uint8_t *block = td_calloc(1, total);
    if (!block)
        return td_err_set(err, TD_ENOMEM, "out of memory for the SAC replay buffer (%zu MB)",
                          total >> 20);
    g->block = block;
    SAC_BUFFERS(TD_GROUP_POINT)
    rc = td_nn_net_init(&g->q1t, &tr->policy.q1->spec, tr->max_batch, NULL, err);
    if (!rc) {
        rc = td_nn_net_init(&g->q2t, &tr->policy.q2->spec, tr->max_batch, NULL, err);
        if (rc)
            td_nn_net_free(&g->q1t);
    }
    if (rc) {
        sac_free(g);
        return rc;
    }
    g->have_targets = 1;
    td_nn_net_copy_params(&g->q1t, tr->policy.q1);
    td_nn_net_copy_params(&g->q2t, tr->policy.q2);
    return 0;
}

static void save_prev_obs(sac *s, const td_vecenv *env)
{
    int N = env->n;
    if (s->state_dim)
        memcpy(s->prev_state, env->obs_state, sizeof(float) * N * s->state_dim);
    if (s->lidar_dim)
        memcpy(s->prev_lidar, env->obs_lidar, sizeof(float) * N * s->lidar_dim);
    if (s->cam_bytes)
        memcpy(s->prev_camera, env->obs_camera, (size_t)N * s->cam_bytes);
}

/*
 * Stores car i's transition. For an ended episode the env already shows the next episode's
 * first observation; a terminal transition does not bootstrap, so next obs is irrelevant then.
 */
static void store(sac *s, const td_vecenv *env, int i, const float *a, float r, uint8_t d)
{
    long k = s->head;
    if (s->state_dim) {
        memcpy(s->state + k * s->state_dim, s->prev_state + (size_t)i * s->state_dim,
               sizeof(float) * s->state_dim);
        memcpy(s->next_state + k * s->state_dim, env->obs_state + (size_t)i * s->state_dim,
               sizeof(float) * s->state_dim);
    }
    if (s->lidar_dim) {
        memcpy(s->lidar + k * s->lidar_dim, s->prev_lidar + (size_t)i * s->lidar_dim,
               sizeof(float) * s->lidar_dim);
        memcpy(s->next_lidar + k * s->lidar_dim, env->obs_lidar + (size_t)i * s->lidar_dim,
               sizeof(float) * s->lidar_dim);
    }
    if (s->cam_bytes) {
        memcpy(s->camera + k * s->cam_bytes, s->prev_camera + (size_t)i * s->cam_bytes,
               (size_t)s->cam_bytes);
        memcpy(s->next_camera + k * s->cam_bytes, env->obs_camera + (size_t)i * s->cam_bytes,
               (size_t)s->cam_bytes);
    }
    s->act[2 * k] = a[0];
    s->act[2 * k + 1] = a[1];
    s->rew[k] = r;
    s->done[k] = d;
    s->head = (s->head + 1) % s->cap;
    if (s->size < s->cap)
        s->size++;
}

static void sample_batch(sac *s, td_rng *rng, int B)
{
    for (int b = 0; b < B; b++) {
        long k = (long)(td_rng_uniform(rng) * (double)s->size);
        if (s->state_dim) {
            memcpy(s->mb_state + (size_t)b * s->state_dim, s->state + k * s->state_dim,
                   sizeof(float) * s->state_dim);
            memcpy(s->mb_next_state + (size_t)b * s->state_dim, s->next_state + k * s->state_dim,
                   sizeof(float) * s->state_dim);
        }
        if (s->lidar_dim) {
            memcpy(s->mb_lidar + (size_t)b * s->lidar_dim, s->lidar + k * s->lidar_dim,
                   sizeof(float) * s->lidar_dim);
            memcpy(s->mb_next_lidar + (size_t)b * s->lidar_dim, s->next_lidar + k * s->lidar_dim,
                   sizeof(float) * s->lidar_dim);
        }
        if (s->cam_bytes) {
            memcpy(s->mb_camera + (size_t)b * s->cam_bytes, s->camera + k * s->cam_bytes,
                   (size_t)s->cam_bytes);
            memcpy(s->mb_next_camera + (size_t)b * s->cam_bytes, s->next_camera + k * s->cam_bytes,
                   (size_t)s->cam_bytes);
        }
        s->mb_act[2 * b] = s->act[2 * k];
        s->mb_act[2 * b + 1] = s->act[2 * k + 1];
        s->mb_rew[b] = s->rew[k];
        s->mb_done[b] = s->done[k];
    }
}

/* Several ranks: a tower's gradients averaged over the ranks (each computed them on its own
 * share of the minibatch, the same number of samples), in place; every rank gets the same. */
static void mean_over_ranks(td_nn_net *net, int K)
{
    if (K <= 1)
        return;
    td__dist_sum_f32(net->grads, net->n_params);
    float inv = 1.0f / (float)K;
    for (size_t i = 0; i < net->n_params; i++)
        net->grads[i] *= inv;
}

/* One SAC gradient update; adds the losses to *ql, *pl and the entropy estimate to *ent. With
 * several ranks each samples its share of batch_size from its own replay buffer. */
static int sac_update(td__train *tr, sac *s, double *ql, double *pl, double *ent)
{
    td_policy *p = &tr->policy;
    const td_hyperparams *h = &tr->md.hyper;
    int K = tr->nranks, B = (h->batch_size + K - 1) / K, rc;
    float alpha = (float)h->sac_alpha, gamma = (float)h->discount_factor;
    td_nn_input in = {0}, next = {0};

    sample_batch(s, &tr->rng, B);
    in.state = s->state_dim ? s->mb_state : NULL;
    in.lidar = s->lidar_dim ? s->mb_lidar : NULL;
    in.camera_u8 = s->cam_bytes ? s->mb_camera : NULL;
    next.state = s->state_dim ? s->mb_next_state : NULL;
    next.lidar = s->lidar_dim ? s->mb_next_lidar : NULL;
    next.camera_u8 = s->cam_bytes ? s->mb_next_camera : NULL;

    /* Soft targets from the next observations. */
    rc = td_nn_net_forward(p->pi, &next, B);
    if (rc)
        return rc;
    for (int b = 0; b < B; b++) {
        s->eps[2 * b] = (float)td_rng_normal(&tr->rng);
        s->eps[2 * b + 1] = (float)td_rng_normal(&tr->rng);
        s->logp_next[b] =
            td_rl_squashed_sample(s->a_next + 2 * b, s->u_next + 2 * b, p->pi->out + 2 * b,
                                  p->pi->log_std, s->eps + 2 * b, 2);
    }
    next.action = s->a_next;
    if ((rc = td_nn_net_forward(&s->q1t, &next, B)) != 0)
        return rc;
    memcpy(s->q1n, s->q1t.out, sizeof(float) * B);
    if ((rc = td_nn_net_forward(&s->q2t, &next, B)) != 0)
        return rc;
    memcpy(s->q2n, s->q2t.out, sizeof(float) * B);
    td_rl_sac_target(s->y, s->mb_rew, s->mb_done, s->q1n, s->q2n, s->logp_next, B, gamma, alpha);

    /* Critics. */
    in.action = s->mb_act;
    for (int k = 0; k < 2; k++) {
        td_nn_net *q = k ? p->q2 : p->q1;
        td_nn_net_zero_grad(q);
        if ((rc = td_nn_net_forward(q, &in, B)) != 0)
            return rc;
        *ql += td_nn_mse_forward(q->out, s->y, B);
        memset(s->dq, 0, sizeof(float) * B);
        td_nn_mse_backward(s->dq, q->out, s->y, B, 1.0f);
        if ((rc = td_nn_net_backward(q, s->dq, B)) != 0)
            return rc;
        mean_over_ranks(q, K);
        td_nn_clip_grad_norm(q->grads, q->n_params, SAC_GRAD_CLIP);
        td_nn_adam_step(q, &tr->adam);
    }

    /* Policy: minimize alpha logp(a) - min(Q1, Q2)(s, a) through the reparameterized a. */
    if ((rc = td_nn_net_forward(p->pi, &in, B)) != 0)
        return rc;
    for (int b = 0; b < B; b++) {
        s->eps[2 * b] = (float)td_rng_normal(&tr->rng);
        s->eps[2 * b + 1] = (float)td_rng_normal(&tr->rng);
        s->logp[b] = td_rl_squashed_sample(s->a + 2 * b, s->u + 2 * b, p->pi->out + 2 * b,
                                           p->pi->log_std, s->eps + 2 * b, 2);
    }
    in.action = s->a;
    if ((rc = td_nn_net_forward(p->q1, &in, B)) != 0)
        return rc;
    memcpy(s->q1n, p->q1->out, sizeof(float) * B);
    if ((rc = td_nn_net_forward(p->q2, &in, B)) != 0)
        return rc;
    memcpy(s->q2n, p->q2->out, sizeof(float) * B);
    {
        /* dQ/da of the smaller critic per sample: backward with a one-hot dout per critic. */
        float *dq1 = s->y, *dq2 = s->dq; /* reuse: the targets are no longer needed */
        double obj = 0;
        for (int b = 0; b < B; b++) {
            int use1 = s->q1n[b] <= s->q2n[b];
            dq1[b] = use1 ? 1.0f : 0.0f;
            dq2[b] = use1 ? 0.0f : 1.0f;
            obj += alpha * s->logp[b] - (use1 ? s->q1n[b] : s->q2n[b]);
            *ent -= s->logp[b] / B;
        }
        *pl += obj / B;
        /* The critics' parameter gradients from these passes are discarded: the next critic
         * update zeroes them first. */
        if ((rc = td_nn_net_forward(p->q1, &in, B)) != 0 ||
            (rc = td_nn_net_backward(p->q1, dq1, B)) != 0)
            return rc;
        memcpy(s->a_next, p->q1->d_action, sizeof(float) * 2 * B);
        if ((rc = td_nn_net_forward(p->q2, &in, B)) != 0 ||
            (rc = td_nn_net_backward(p->q2, dq2, B)) != 0)
            return rc;
        for (int j = 0; j < 2 * B; j++)
            s->a_next[j] += p->q2->d_action[j];
    }
    /* The policy's forward is still the last one run on p->pi (critics are other nets). */
    td_nn_net_zero_grad(p->pi);
    for (int b = 0; b < B; b++) {
        td_rl_squashed_backward(s->dmean + 2 * b, s->dls, s->a_next + 2 * b, s->u + 2 * b,
                                p->pi->out + 2 * b, p->pi->log_std, s->eps + 2 * b, 2, alpha, B);
        p->pi->d_log_std[0] += s->dls[0];
        p->pi->d_log_std[1] += s->dls[1];
    }
    if ((rc = td_nn_net_backward(p->pi, s->dmean, B)) != 0)
        return rc;
    mean_over_ranks(p->pi, K);
    td_nn_clip_grad_norm(p->pi->grads, p->pi->n_params, SAC_GRAD_CLIP);
    td_nn_adam_step(p->pi, &tr->adam);

    td_nn_net_polyak(&s->q1t, p->q1, SAC_TAU);
    td_nn_net_polyak(&s->q2t, p->q2, SAC_TAU);
    return 0;
}

int td__sac_run(td__train *tr, td_train_result *result, td_err *err)
{
    sac s;
    td_vecenv *env = &tr->env;
    td_policy *p = &tr->policy;
    const td_hyperparams *h = &tr->md.hyper;
    td_policy_obs obs;
    int rc, N = env->n;

    if (!p->q1 || !p->q2)
        return td_err_set(err, TD_EINTERNAL, "SAC needs the q1 and q2 towers");
    rc = sac_init(&s, tr, err);
    if (rc)
        return rc;
    td_vecenv_reset(env);
    for (;;) {
        td_train_progress pr;
        double t0 = td_time_now(), ql = 0, pl = 0, ent = 0;
        td__episode_sums eps = {0};
        int stop_now = 0, nupd = 0;
        long iter_steps = 0;
        td_train_stop stop = TD_TRAIN_STOP_NONE;

        memset(&pr, 0, sizeof(pr));
        tr->iter_t0 = t0;
        tr->iter_comm0 = td__dist_seconds();
        tr->iter_episodes0 = tr->episodes;
        /* Several ranks share the iteration's episodes and steps (the first E % K ranks take
         * one episode more). */
        int K = tr->nranks, goal = td__train_episode_goal(tr);
        long steps0 = tr->steps, min_steps = SAC_MIN_STEPS_PER_ITER / K,
             max_steps = SAC_MAX_STEPS_PER_ITER / K;
        while ((eps.ended < goal || iter_steps < min_steps) && iter_steps < max_steps) {
            save_prev_obs(&s, env);
            td_policy_obs_from_env(env, 0, &obs);
            if (steps0 + iter_steps * K < SAC_WARMUP_STEPS) {
                for (int i = 0; i < N; i++) {
                    s.env_raw[2 * i] = (float)atanh(td_rng_range(&tr->rng, -0.999, 0.999));
                    s.env_raw[2 * i + 1] = (float)atanh(td_rng_range(&tr->rng, -0.999, 0.999));
                    td_policy_raw_to_env(p, s.env_raw + 2 * i, &tr->envbuf.actions[2 * i],
                                         &tr->envbuf.actions[2 * i + 1]);
                }
            } else {
                rc = td_policy_act(p, &obs, N, 0, &tr->rng, tr->envbuf.actions, NULL, s.env_raw,
                                   NULL);
                if (rc) {
                    td__train_net_failed(err, rc, "a rollout step");
                    goto out;
                }
            }
            td_vecenv_step(env);
            rc = td__train_check_reward(tr, err);
            if (rc)
                goto out;
            td__trainlog_step(tr, NULL);
            for (int i = 0; i < N; i++) {
                float a[2] = {tanhf(s.env_raw[2 * i]), tanhf(s.env_raw[2 * i + 1])};
                /* A lap completed is terminal as in DeepRacer; so are the other events. */
                store(&s, env, i, a, env->rewards[i], env->dones[i]);
            }
            td__count_ended(env, &eps);
            iter_steps += N;
            tr->steps += N;
            /* A first Ctrl-C lets the iteration finish (and checkpoint); a second one stops
             * here, keeping the previous checkpoint. */
            if (td__train_stop_now(tr)) {
                stop_now = 1;
                break;
            }
            td__train_activity(tr, TD_TRAIN_PHASE_COLLECT, iter_steps, eps.ended, 0, 0);
        }
        tr->rank_steps += iter_steps;
        long size = s.size;
        td__train_iteration_sums(tr, &eps, &iter_steps, &stop_now, steps0);
        /* Every rank must make the same number of updates: the smallest replay buffer's. */
        if (K > 1)
            size = td__dist_min_long(size) * K;
        if (stop_now) {
            result->stop = TD_TRAIN_STOP_NOW;
            goto out;
        }
        tr->episodes += eps.ended;
        pr.collect_s = td_time_now() - t0;
        double tu = td_time_now();
        if (size >= h->batch_size && tr->steps >= SAC_WARMUP_STEPS / 2) {
            int updates = (int)(iter_steps * SAC_UPDATES_PER_STEP);
            /* A second Ctrl-C is also answered inside an update, between two layers of a pass
             * (td__train_cancel_passes). */
            td__train_cancel_passes(tr, 1);
            for (int u = 0; u < updates; u++) {
                /* A second Ctrl-C on any rank stops every rank here. */
                int now = td__train_stop_now(tr);
                if (K > 1)
                    now = td__dist_max_long(now) > 0;
                if (now) {
                    result->stop = TD_TRAIN_STOP_NOW;
                    goto out;
                }
                td__train_activity(tr, TD_TRAIN_PHASE_UPDATE, 0, 0, u, updates);
                rc = sac_update(tr, &s, &ql, &pl, &ent);
                if (rc == TD_EINTERRUPTED) {
                    /* The nets are half-updated: the checkpoint on disk stays the last one. */
                    result->stop = TD_TRAIN_STOP_NOW;
                    rc = 0;
                    goto out;
                }
                if (rc) {
                    td__train_net_failed(err, rc, "the SAC update");
                    goto out;
                }
                nupd++;
            }
            td__train_cancel_passes(tr, 0);
        }
        pr.update_s = td_time_now() - tu;
        pr.update_samples = (long)nupd * h->batch_size;
        tr->iteration++;
        if (tr->test_diverge)
            p->pi->params[0] += 1e-3f;
        if (K > 1) {
            double l[3] = {ql, pl, ent};
            td__dist_sum_f64(l, 3);
            ql = l[0] / K;
            pl = l[1] / K;
            ent = l[2] / K;
            if ((rc = td__train_check_same_weights(tr, err)))
                goto out;
        }
        td__episode_means(&eps, &pr);
        if (nupd) {
            pr.value_loss = ql / (2.0 * nupd);
            pr.policy_loss = pl / nupd;
            pr.entropy = ent / nupd;
        }
        rc = td__train_end_iteration(tr, &pr, t0, iter_steps, result, &stop, err);
        if (rc)
            goto out;
        if (stop != TD_TRAIN_STOP_NONE) {
            result->stop = stop;
            break;
        }
    }
out:
    td__train_cancel_passes(tr, 0);
    sac_free(&s);
    return rc;
}
