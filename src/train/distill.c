/*
 * distill.c - `trackday train DIR --teacher TEACHER`: teacher-student distillation (DAgger).
 * The student (DIR's PPO model, any sensor) drives; the training env computes the teacher's
 * sensors too for the same cars; the teacher's policy tower gives the target of every step
 * (action probabilities, or the mean of a continuous policy) and ppo.c trains the student's
 * policy tower on them instead of the PPO surrogate (its value tower learns DIR's reward's
 * returns as in PPO, so plain PPO can continue with --resume). This file loads and checks
 * the teacher and holds the loss; ppo.c runs the iterations.
 */
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "train/distill.h"
#include "train/train_internal.h"
#include "trackday/rl.h"

/* The teacher's file: TEACHER itself, or a directory's model/best.tdm, else model/last.tdm. */
static int teacher_file(td__train *tr, td_err *err)
{
    const char *t = tr->opt.teacher;
    struct stat st;
    if (stat(t, &st) != 0)
        return td_err_set(err, TD_ENOENT,
                          "--teacher %s: no such model directory or .tdm file (train the teacher "
                          "first: trackday train TEACHER_DIR)",
                          t);
    if (!S_ISDIR(st.st_mode))
        return td_path_fmt(tr->teacher_path, sizeof(tr->teacher_path), err, "%s", t);
    static const char *const names[] = {"model/best.tdm", "model/last.tdm"};
    for (int k = 0; k < 2; k++) {
        int rc = td_path_join(tr->teacher_path, sizeof(tr->teacher_path), t, names[k], err);
        if (rc)
            return rc;
        if (td_path_exists(tr->teacher_path))
            return 0;
    }
    return td_err_set(err, TD_ENOENT,
                      "--teacher %s: the directory holds no trained model (no model/best.tdm or "
                      "model/last.tdm): train it first (trackday train %s)",
                      t, t);
}

/* 0 when the teacher's actions are the student's, else TD_EINVAL saying the first difference. */
static int same_actions(const td_model_metadata *s, const td_model_metadata *t, const char *tpath,
                        const char *dir, td_err *err)
{
    const char *head =
        "--teacher %s: its action space is not the student's (%s/model_metadata.json): "
        "%s; the student learns the teacher's choice among the same actions, so "
        "both need the same action_space and action_space_type";
    char what[400];
    int st = s->action_space_type == TD_ACTIONS_CONTINUOUS,
        tt = t->action_space_type == TD_ACTIONS_CONTINUOUS;
    if (st != tt) {
        snprintf(what, sizeof(what), "the teacher's is %s, the student's %s",
                 tt ? "continuous" : "discrete", st ? "continuous" : "discrete");
        return td_err_set(err, TD_EINVAL, head, tpath, dir, what);
    }
    if (st) {
        if (s->steering_low != t->steering_low || s->steering_high != t->steering_high ||
            s->speed_low != t->speed_low || s->speed_high != t->speed_high) {
            snprintf(what, sizeof(what),
                     "the teacher's ranges are steering %g..%g, speed %g..%g; the student's "
                     "steering %g..%g, speed %g..%g",
                     t->steering_low, t->steering_high, t->speed_low, t->speed_high,
                     s->steering_low, s->steering_high, s->speed_low, s->speed_high);
            return td_err_set(err, TD_EINVAL, head, tpath, dir, what);
        }
        return 0;
    }
    if (s->n_actions != t->n_actions) {
        snprintf(what, sizeof(what), "the teacher has %d actions, the student %d", t->n_actions,
                 s->n_actions);
        return td_err_set(err, TD_EINVAL, head, tpath, dir, what);
    }
    for (int a = 0; a < s->n_actions; a++) {
        const td_action *x = &t->actions[a], *y = &s->actions[a];
        if (fabs(x->steering_deg - y->steering_deg) > 1e-9 ||
            fabs(x->speed_mps - y->speed_mps) > 1e-9) {
            snprintf(what, sizeof(what),
                     "action %d is steering %g, speed %g for the teacher and steering %g, speed "
                     "%g for the student",
                     a, x->steering_deg, x->speed_mps, y->steering_deg, y->speed_mps);
            return td_err_set(err, TD_EINVAL, head, tpath, dir, what);
        }
    }
    return 0;
}

int td__teacher_setup(td__train *tr, td_sim_config *envcfg, td_err *err)
{
    int rc;
    if (tr->nranks > 1)
        return td_err_set(err, TD_EUNSUPPORTED,
                          "--teacher trains in one process only (this is one of %d under "
                          "mpirun): run it without mpirun",
                          tr->nranks);
    if (tr->md.metadata.algorithm == TD_ALGO_SAC)
        return td_err_set(err, TD_EUNSUPPORTED,
                          "--teacher: %s is a SAC model; distillation trains clipped_ppo "
                          "students (training_algorithm in model_metadata.json)",
                          tr->opt.dir);
    if ((rc = teacher_file(tr, err)))
        return rc;
    rc = td_policy_load(&tr->teacher, tr->teacher_path, tr->opt.envs, err);
    if (rc)
        return td_err_prefix(err, rc, "--teacher: ");
    tr->have_teacher = 1;
    rc = same_actions(&tr->md.metadata, &tr->teacher.meta, tr->teacher_path, tr->opt.dir, err);
    if (rc)
        return rc;

    /* The training env computes both models' sensors for the same cars. */
    td_sim_config tc;
    td_sim_config_default(&tc);
    td_policy_sim_sensors(&tr->teacher.meta, &tc);
    const int cams = TD_SENSOR_CAMERA | TD_SENSOR_STEREO;
    if ((tc.sensors & cams) && (envcfg->sensors & cams) &&
        (tc.sensors & cams) != (envcfg->sensors & cams))
        return td_err_set(err, TD_EUNSUPPORTED,
                          "--teacher %s: one model has a stereo camera and the other a single "
                          "camera; the simulator renders one of them per car",
                          tr->teacher_path);
    if (tc.sensors & TD_SENSOR_LIDAR) {
        if (envcfg->sensors & TD_SENSOR_LIDAR) {
            if (tc.lidar_encoding != envcfg->lidar_encoding ||
                tc.lidar.num_sectors != envcfg->lidar.num_sectors ||
                tc.lidar.num_values_per_sector != envcfg->lidar.num_values_per_sector ||
                tc.lidar.clipping_dist_m != envcfg->lidar.clipping_dist_m)
                return td_err_set(err, TD_EUNSUPPORTED,
                                  "--teacher %s: both models have a lidar, configured "
                                  "differently (lidar_config); the simulator computes one",
                                  tr->teacher_path);
        } else {
            envcfg->lidar_encoding = tc.lidar_encoding;
            envcfg->lidar = tc.lidar;
        }
    }
    envcfg->sensors |= tc.sensors;
    return 0;
}

void td__distill_targets(const td_policy *teacher, double temperature, int B, float *targets)
{
    const float *out = teacher->pi->out;
    int V = teacher->n_out;
    if (!teacher->continuous) {
        if (temperature == 1.0) {
            td_nn_softmax_forward(targets, out, B, V);
            return;
        }
        for (int b = 0; b < B; b++) {
            const float *z = out + (size_t)b * V;
            float *t = targets + (size_t)b * V;
            if (temperature <= 0) {
                /* One-hot on the teacher's greedy action. */
                int a = td_rl_argmax(z, V);
                for (int k = 0; k < V; k++)
                    t[k] = k == a ? 1.0f : 0.0f;
                continue;
            }
            float m = z[td_rl_argmax(z, V)];
            double s = 0;
            for (int k = 0; k < V; k++)
                s += (t[k] = expf((float)((z[k] - m) / temperature)));
            for (int k = 0; k < V; k++)
                t[k] = (float)(t[k] / s);
        }
        return;
    }
    /* The mean in [-1, 1]: a PPO tower's tanh head, or SAC's squash of its linear mean. */
    for (int i = 0; i < B * V; i++)
        targets[i] = teacher->sac ? tanhf(out[i]) : out[i];
}

void td__distill_act(const td_policy *teacher, const float *targets, int b, float *env_action,
                     int *act_index)
{
    int V = teacher->n_out;
    const float *t = targets + (size_t)b * V;
    if (!teacher->continuous) {
        int a = td_rl_argmax(t, V);
        env_action[0] = (float)teacher->meta.actions[a].steering_deg;
        env_action[1] = (float)teacher->meta.actions[a].speed_mps;
        if (act_index)
            *act_index = a;
        return;
    }
    /* The targets are means in [-1, 1] (already squashed for a SAC teacher). */
    const td_model_metadata *m = &teacher->meta;
    float u0 = t[0] < -1.0f ? -1.0f : (t[0] > 1.0f ? 1.0f : t[0]);
    float u1 = t[1] < -1.0f ? -1.0f : (t[1] > 1.0f ? 1.0f : t[1]);
    env_action[0] =
        (float)(m->steering_low + (u0 + 1.0f) * 0.5f * (m->steering_high - m->steering_low));
    env_action[1] = (float)(m->speed_low + (u1 + 1.0f) * 0.5f * (m->speed_high - m->speed_low));
    if (act_index)
        *act_index = -1;
}

int td__distill_agree(const td_policy *student, const float *student_out, const float *targets,
                      int B)
{
    int V = student->n_out, n = 0;
    for (int b = 0; b < B; b++) {
        const float *s = student_out + (size_t)b * V, *t = targets + (size_t)b * V;
        if (!student->continuous)
            n += td_rl_argmax(s, V) == td_rl_argmax(t, V);
        else
            n += fabsf(s[0] - t[0]) <= TD__DISTILL_AGREE_TOL &&
                 fabsf(s[1] - t[1]) <= TD__DISTILL_AGREE_TOL;
    }
    return n;
}

float td__distill_loss(const td_policy *student, const float *out, const float *targets, int B,
                       float *dout, double *entropy)
{
    int V = student->n_out;
    double loss = 0, ent = 0;
    float invB = 1.0f / (float)B;
    for (int b = 0; b < B; b++) {
        const float *z = out + (size_t)b * V, *t = targets + (size_t)b * V;
        float *d = dout + (size_t)b * V;
        if (student->continuous) {
            /* Squared error of the mean (in [-1, 1]) to the teacher's. */
            for (int k = 0; k < V; k++) {
                float e = z[k] - t[k];
                loss += (double)e * e;
                d[k] = 2.0f * e * invB;
            }
            continue;
        }
        /* Cross-entropy H(teacher, softmax(z)) = logsumexp(z) - sum_k t_k z_k. */
        float m = z[0];
        for (int k = 1; k < V; k++)
            m = z[k] > m ? z[k] : m;
        double s = 0;
        for (int k = 0; k < V; k++)
            s += exp((double)(z[k] - m));
        double lse = m + log(s), h = 0;
        for (int k = 0; k < V; k++) {
            double q = exp((double)z[k] - lse);
            loss -= (double)t[k] * ((double)z[k] - lse);
            h -= q > 0 ? q * ((double)z[k] - lse) : 0;
            d[k] = (float)(q - (double)t[k]) * invB;
        }
        ent += h;
    }
    if (student->continuous) {
        /* A continuous student keeps its exploration noise: its log std is not imitated. */
        ent = td_nn_gaussian_entropy(student->pi->log_std, V) * (double)B;
    }
    *entropy = ent / B;
    return (float)(loss / B);
}
