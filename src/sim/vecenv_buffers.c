/*
 * vecenv_buffers.c - buffers for a vector env's cars owned in one place: actions, rewards,
 * dones, params and the observations of the enabled sensors, attached to the env. For callers
 * that do not keep the observations elsewhere (the trainer, evaluations, races).
 */
#include <string.h>

#include "trackday/sim.h"

int td_vecenv_buffers_init(td_vecenv_buffers *b, td_vecenv *env, td_err *err)
{
    int n = env->n;
    int cam = td_vecenv_camera_bytes(&env->cfg), lid = td_vecenv_lidar_dim(&env->cfg);
    memset(b, 0, sizeof(*b));
    b->actions = td_calloc((size_t)n * 2, sizeof(float));
    b->rewards = td_calloc((size_t)n, sizeof(float));
    b->dones = td_calloc((size_t)n, 1);
    b->params = td_calloc((size_t)n, sizeof(td_params));
    if (env->cfg.sensors & TD_SENSOR_STATE)
        b->state = td_calloc((size_t)n * TD_STATE_DIM, sizeof(float));
    if (cam)
        b->camera = td_calloc((size_t)n * cam, 1);
    if (lid)
        b->lidar = td_calloc((size_t)n * lid, sizeof(float));
    if (!b->actions || !b->rewards || !b->dones || !b->params ||
        ((env->cfg.sensors & TD_SENSOR_STATE) && !b->state) || (cam && !b->camera) ||
        (lid && !b->lidar)) {
        td_vecenv_buffers_free(b);
        return td_err_set(err, TD_ENOMEM, "out of memory for %d cars' buffers", n);
    }
    env->actions = b->actions;
    env->rewards = b->rewards;
    env->dones = b->dones;
    env->params = b->params;
    env->obs_state = b->state;
    env->obs_camera = b->camera;
    env->obs_lidar = b->lidar;
    return 0;
}

void td_vecenv_buffers_free(td_vecenv_buffers *b)
{
    if (!b)
        return;
    td_free(b->actions);
    td_free(b->rewards);
    td_free(b->dones);
    td_free(b->params);
    td_free(b->state);
    td_free(b->camera);
    td_free(b->lidar);
    memset(b, 0, sizeof(*b));
}
