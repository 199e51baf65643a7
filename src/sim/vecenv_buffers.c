/*
 * vecenv_buffers.c - buffers for a vector env's cars owned in one place: actions, rewards,
 * dones, params and the observations of the enabled sensors, attached to the env. For callers
 * that do not keep the observations elsewhere (the trainer, evaluations, races).
 */
#include <string.h>

#include "trackday/sim.h"

/* Every buffer of the group, once: name, type, count. */
#define VECENV_BUFFERS(X)                                                                          \
    X(actions, float, (size_t)n * 2)                                                               \
    X(rewards, float, n)                                                                           \
    X(dones, uint8_t, n)                                                                           \
    X(params, td_params, n)                                                                        \
    X(state, float, (env->cfg.sensors & TD_SENSOR_STATE) ? (size_t)n *TD_STATE_DIM : 0)            \
    X(camera, uint8_t, (size_t)n *cam)                                                             \
    X(lidar, float, (size_t)n *lid)

int td_vecenv_buffers_init(td_vecenv_buffers *g, td_vecenv *env, td_err *err)
{
    int n = env->n;
    int cam = td_vecenv_camera_bytes(&env->cfg), lid = td_vecenv_lidar_dim(&env->cfg);
    size_t total = 0, off = 0;
    memset(g, 0, sizeof(*g));
    VECENV_BUFFERS(TD_GROUP_BYTES)
    uint8_t *block = td_calloc(1, total);
    if (!block)
        return td_err_set(err, TD_ENOMEM, "out of memory for %d cars' buffers", n);
    g->block = block;
    VECENV_BUFFERS(TD_GROUP_POINT)
    env->actions = g->actions;
    env->rewards = g->rewards;
    env->dones = g->dones;
    env->params = g->params;
    env->obs_state = g->state;
    env->obs_camera = g->camera;
    env->obs_lidar = g->lidar;
    return 0;
}

void td_vecenv_buffers_free(td_vecenv_buffers *g)
{
    if (!g)
        return;
    td_free(g->block);
    memset(g, 0, sizeof(*g));
}
