/*
 * policy.c - a model's networks plus DeepRacer's action space: observations in, actions out;
 * saved to and loaded from .tdm model files with the metadata in the header.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/policy.h"
#include "trackday/rl.h"

#define LOG_2PI 1.8378770664093453f

void td_policy_sim_sensors(const td_model_metadata *m, td_sim_config *cfg)
{
    /* The car DeepRacer runs for this physics version (DEEPRACER.md section 5). */
    td_car_preset(&cfg->car, td_car_preset_for_version(m->version));
    cfg->sensors = 0;
    if (m->state_sensor)
        cfg->sensors |= TD_SENSOR_STATE;
    if (m->camera == TD_CAMERA_FRONT || m->camera == TD_CAMERA_LEFT)
        cfg->sensors |= TD_SENSOR_CAMERA;
    else if (m->camera == TD_CAMERA_STEREO)
        cfg->sensors |= TD_SENSOR_STEREO;
    if (m->lidar != TD_LIDAR_NONE) {
        cfg->sensors |= TD_SENSOR_LIDAR;
        cfg->lidar_encoding = m->lidar == TD_LIDAR_CLIPPED  ? TD_LIDAR_ENC_CLIPPED
                              : m->lidar == TD_LIDAR_SECTOR ? TD_LIDAR_ENC_SECTOR
                                                            : TD_LIDAR_ENC_DISCRETIZED;
        cfg->lidar.num_sectors = m->lidar_num_sectors;
        cfg->lidar.num_values_per_sector = m->lidar_values_per_sector;
        cfg->lidar.clipping_dist_m = m->lidar_clipping_dist;
    }
}

/* Observation sizes for the metadata's sensors. */
static void obs_dims(td_policy *p)
{
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    td_policy_sim_sensors(&p->meta, &cfg);
    p->state_dim = (cfg.sensors & TD_SENSOR_STATE) ? TD_STATE_DIM : 0;
    p->lidar_dim = td_vecenv_lidar_dim(&cfg);
    if (cfg.sensors & (TD_SENSOR_CAMERA | TD_SENSOR_STEREO)) {
        p->camera_h = cfg.camera.height;
        p->camera_w = cfg.camera.width;
        p->camera_c = (cfg.sensors & TD_SENSOR_STEREO) ? 2 : 1;
    } else {
        p->camera_h = p->camera_w = p->camera_c = 0;
    }
}

static void bind_towers(td_policy *p)
{
    p->pi = p->v = p->q1 = p->q2 = NULL;
    for (int i = 0; i < p->n_nets; i++) {
        const char *name = p->nets[i].spec.name;
        if (!strcmp(name, "policy"))
            p->pi = &p->nets[i];
        else if (!strcmp(name, "value"))
            p->v = &p->nets[i];
        else if (!strcmp(name, "q1"))
            p->q1 = &p->nets[i];
        else if (!strcmp(name, "q2"))
            p->q2 = &p->nets[i];
    }
}

int td_policy_init(td_policy *p, const td_model_metadata *m, int max_batch, td_rng *rng,
                   td_err *err)
{
    td_nn_topology topo;
    td_nn_io_spec io;
    int rc;

    memset(p, 0, sizeof(*p));
    p->meta = *m;
    p->continuous = m->action_space_type == TD_ACTIONS_CONTINUOUS;
    p->sac = m->algorithm == TD_ALGO_SAC;
    p->n_out = p->continuous ? 2 : m->n_actions;
    p->max_batch = max_batch;
    obs_dims(p);

    memset(&io, 0, sizeof(io));
    io.camera_h = p->camera_h;
    io.camera_w = p->camera_w;
    io.camera_c = p->camera_c;
    io.lidar_dim = p->lidar_dim;
    io.state_dim = p->state_dim;
    io.continuous = p->continuous;
    io.n_actions = m->n_actions;
    io.sac = p->sac;
    rc = td_nn_topology_deepracer(&topo, td_network_name(m->network), &io, err);
    if (rc)
        return rc;
    for (int i = 0; i < topo.n_towers; i++) {
        td_nn_tower *t = &topo.towers[i];
        /* PPO's continuous mean lives in [-1, 1] (DeepRacer rescales from there); SAC squashes
         * its sample, not the mean, so its tower stays linear while training. */
        if (!strcmp(t->name, "policy") && p->continuous && !p->sac)
            t->head_tanh = 1;
        rc = td_nn_net_init(&p->nets[i], t, max_batch, rng, err);
        if (rc) {
            for (int j = 0; j < i; j++)
                td_nn_net_free(&p->nets[j]);
            return rc;
        }
        p->n_nets++;
    }
    bind_towers(p);
    if (!p->pi) {
        td_policy_free(p);
        return td_err_set(err, TD_EINTERNAL, "topology has no policy tower");
    }
    return 0;
}

int td_policy_check_metadata(const td_policy *p, const td_model_metadata *want, const char *what,
                             td_err *err)
{
    /* What the networks' shapes and the action decoding depend on; the physics version
     * does not, so a changed "version" is allowed. */
    static const char *const keys[] = {"sensor",         "lidar_config",
                                       "neural_network", "action_space_type",
                                       "action_space",   "training_algorithm"};
    json_t *had = td_model_metadata_to_json(&p->meta), *now = td_model_metadata_to_json(want);
    char changes[TD_ERR_MSG_LEN] = "";
    size_t len = 0;
    int n = 0;
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        json_t *a = json_object_get(had, keys[k]), *b = json_object_get(now, keys[k]);
        if ((!a && !b) || (a && b && json_equal(a, b)))
            continue;
        char *ta = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        char *tb = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        int w =
            snprintf(changes + len, sizeof(changes) - len, "%s%s %.80s%s -> %.80s%s", n ? "; " : "",
                     keys[k], ta ? ta : "(none)", ta && strlen(ta) > 80 ? "..." : "",
                     tb ? tb : "(none)", tb && strlen(tb) > 80 ? "..." : "");
        free(ta);
        free(tb);
        if (w > 0 && len + (size_t)w < sizeof(changes))
            len += (size_t)w;
        n++;
    }
    json_decref(had);
    json_decref(now);
    if (!n)
        return 0;
    return td_err_set(err, TD_EINVAL,
                      "%s: model_metadata.json changed since the model was trained: %s. The "
                      "network cannot continue with another sensor or action space: train from "
                      "scratch in a new directory (or 'trackday init DIR --force', which moves "
                      "the old checkpoints aside), or restore model_metadata.json",
                      what, changes);
}

uint64_t td_policy_weights_hash(const td_policy *p)
{
    /* FNV-1a over 32-bit words (the floats' bits): a camera model's 11 M parameters in a
     * few milliseconds. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < p->n_nets; i++) {
        const float *f = p->nets[i].params;
        for (size_t k = 0; k < p->nets[i].n_params; k++) {
            uint32_t w;
            memcpy(&w, f + k, sizeof(w));
            h = (h ^ w) * 0x100000001b3ULL;
        }
    }
    return h;
}

void td_policy_free(td_policy *p)
{
    for (int i = 0; i < p->n_nets; i++)
        td_nn_net_free(&p->nets[i]);
    p->n_nets = 0;
    p->pi = p->v = p->q1 = p->q2 = NULL;
}

/* Saves every tower, or (policy_only) the policy tower alone. */
static int save_towers(const td_policy *p, const char *path, const json_t *lineage, int policy_only,
                       td_err *err)
{
    const td_nn_net *nets[TD_NN_MAX_TOWERS];
    td_nn_net squashed;
    json_t *extras = td_model_metadata_to_json(&p->meta);
    json_t *meta = td_model_metadata_to_json(&p->meta);
    int rc;

    /* DeepRacer's model_metadata.json verbatim, plus the header keys infer/ reads. */
    json_object_set_new(extras, "model_metadata", meta);
    json_object_set(extras, "sensors", json_object_get(extras, "sensor"));
    json_object_del(extras, "sensor");
    json_object_del(extras, "version");
    if (p->continuous)
        json_object_set_new(extras, "action_mapping", json_string("unit"));
    /* DeepRacer divides camera bytes by 255 (docs/model-format.md section 4: an object per
     * input; infer/ refuses anything else, so this must not be a free-text note). */
    if (p->camera_h)
        json_object_set_new(
            extras, "preprocessing",
            json_pack("{s:{s:f,s:f}}", "camera", "scale", 1.0 / 255.0, "offset", 0.0));
    if (lineage)
        json_object_set(extras, "lineage", (json_t *)lineage);
    int n = 0;
    for (int i = 0; i < p->n_nets; i++)
        if (!policy_only || &p->nets[i] == p->pi)
            nets[n++] = &p->nets[i];
    if (p->sac) {
        /* The deployed SAC action is tanh of the mean, mapped from [-1, 1]: record the squash
         * in the saved topology (the parameters are the same). */
        squashed = *p->pi;
        squashed.spec.head_tanh = 1;
        for (int i = 0; i < n; i++)
            if (nets[i] == p->pi)
                nets[i] = &squashed;
    }
    rc = td_nn_save(path, nets, n, extras, err);
    json_decref(extras);
    return rc;
}

int td_policy_save(const td_policy *p, const char *path, const json_t *lineage, td_err *err)
{
    return save_towers(p, path, lineage, 0, err);
}

int td_policy_save_driver(const td_policy *p, const char *path, const json_t *lineage, td_err *err)
{
    return save_towers(p, path, lineage, 1, err);
}

int td_policy_load(td_policy *p, const char *path, int max_batch, td_err *err)
{
    json_t *header = NULL;
    const json_t *meta;
    int n = 0, rc;

    memset(p, 0, sizeof(*p));
    rc = td_nn_load(path, p->nets, TD_NN_MAX_TOWERS, &n, max_batch, &header, err);
    if (rc)
        return rc;
    p->n_nets = n;
    meta = json_object_get(header, "model_metadata");
    if (!meta) {
        json_decref(header);
        td_policy_free(p);
        return td_err_set(err, TD_EFORMAT,
                          "%s: the header has no \"model_metadata\" (not a trackday policy)", path);
    }
    rc = td_model_metadata_from_json(&p->meta, meta, path, NULL, err);
    json_decref(header);
    if (rc) {
        td_policy_free(p);
        return rc;
    }
    p->continuous = p->meta.action_space_type == TD_ACTIONS_CONTINUOUS;
    p->sac = p->meta.algorithm == TD_ALGO_SAC;
    p->n_out = p->continuous ? 2 : p->meta.n_actions;
    p->max_batch = max_batch;
    obs_dims(p);
    bind_towers(p);
    if (!p->pi || p->pi->spec.n_out != p->n_out) {
        td_policy_free(p);
        return td_err_set(err, TD_EFORMAT,
                          "%s: the policy tower does not match the action space (%d outputs)", path,
                          p->n_out);
    }
    if (p->sac && p->pi->spec.head_tanh) {
        /* Back to the training form: a linear mean, squashed by the sampler. */
        td_nn_net lin;
        td_nn_tower t = p->pi->spec;
        t.head_tanh = 0;
        rc = td_nn_net_init(&lin, &t, max_batch, NULL, err);
        if (!rc)
            rc = td_nn_net_copy_params(&lin, p->pi);
        if (rc) {
            td_policy_free(p);
            return rc;
        }
        td_nn_net_free(p->pi);
        *p->pi = lin;
    }
    return 0;
}

void td_policy_input(const td_policy_obs *obs, td_nn_input *in)
{
    memset(in, 0, sizeof(*in));
    in->camera_u8 = obs->camera;
    in->lidar = obs->lidar;
    in->state = obs->state;
}

void td_policy_obs_from_env(const td_vecenv *env, int first, td_policy_obs *obs)
{
    int cam = td_vecenv_camera_bytes(&env->cfg), lid = td_vecenv_lidar_dim(&env->cfg);
    obs->state = env->obs_state ? env->obs_state + (size_t)first * TD_STATE_DIM : NULL;
    obs->camera = (cam && env->obs_camera) ? env->obs_camera + (size_t)first * cam : NULL;
    obs->lidar = (lid && env->obs_lidar) ? env->obs_lidar + (size_t)first * lid : NULL;
}

void td_policy_egreedy(const td_policy *p, int B, double eps, td_rng *rng, float *env_actions,
                       int *act_index, float *logp)
{
    for (int b = 0; b < B; b++) {
        const float *out = p->pi->out + (size_t)b * p->n_out;
        int a = td_rng_uniform(rng) < eps ? (int)td_rng_below(rng, (uint32_t)p->n_out)
                                          : td_rl_argmax(out, p->n_out);
        env_actions[2 * b] = (float)p->meta.actions[a].steering_deg;
        env_actions[2 * b + 1] = (float)p->meta.actions[a].speed_mps;
        if (act_index)
            act_index[b] = a;
        if (logp)
            logp[b] = td_rl_categorical_logp(out, p->n_out, a);
    }
}

void td_policy_raw_to_env(const td_policy *p, const float *raw, float *steer_deg, float *speed)
{
    float u[2];
    for (int k = 0; k < 2; k++) {
        float a = p->sac ? tanhf(raw[k]) : raw[k];
        u[k] = a < -1.0f ? -1.0f : (a > 1.0f ? 1.0f : a);
    }
    *steer_deg = (float)(p->meta.steering_low +
                         (u[0] + 1.0f) * 0.5f * (p->meta.steering_high - p->meta.steering_low));
    *speed = (float)(p->meta.speed_low +
                     (u[1] + 1.0f) * 0.5f * (p->meta.speed_high - p->meta.speed_low));
}

int td_policy_act(td_policy *p, const td_policy_obs *obs, int B, int greedy, td_rng *rng,
                  float *env_actions, int *act_index, float *raw, float *logp)
{
    td_nn_input in;
    int rc;

    td_policy_input(obs, &in);
    rc = td_nn_net_forward(p->pi, &in, B);
    if (rc)
        return rc;
    for (int b = 0; b < B; b++) {
        const float *out = p->pi->out + (size_t)b * p->n_out;
        if (!p->continuous) {
            int a = greedy ? td_rl_argmax(out, p->n_out)
                           : td_rl_categorical_sample(out, p->n_out, td_rng_uniform(rng));
            env_actions[2 * b] = (float)p->meta.actions[a].steering_deg;
            env_actions[2 * b + 1] = (float)p->meta.actions[a].speed_mps;
            if (act_index)
                act_index[b] = a;
            if (logp)
                logp[b] = td_rl_categorical_logp(out, p->n_out, a);
        } else {
            float x[2], lp = 0.0f;
            for (int k = 0; k < 2; k++) {
                float ls = p->pi->log_std[k];
                ls = ls < -20.0f ? -20.0f
                                 : (ls > (p->sac ? 2.0f : 3.0f) ? (p->sac ? 2.0f : 3.0f) : ls);
                float eps = greedy ? 0.0f : (float)td_rng_normal(rng);
                x[k] = out[k] + expf(ls) * eps;
                lp += -0.5f * eps * eps - ls - 0.5f * LOG_2PI;
                if (p->sac)
                    lp -= logf(1.0f - tanhf(x[k]) * tanhf(x[k]) + 1e-6f);
            }
            td_policy_raw_to_env(p, x, &env_actions[2 * b], &env_actions[2 * b + 1]);
            if (raw) {
                raw[2 * b] = x[0];
                raw[2 * b + 1] = x[1];
            }
            if (logp)
                logp[b] = lp;
            if (act_index)
                act_index[b] = -1;
        }
    }
    return 0;
}
