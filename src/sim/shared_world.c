/*
 * shared_world.c - what races of several cars need from the simulator (sim.h, "shared
 * worlds"): other cars put into a car's world as boxes, the pose a step will produce (so all
 * worlds compare positions at the same instant) and a refresh of params and observations.
 */
#include <string.h>

#include "sim/sim_internal.h"

int td_vecenv_set_external_boxes(td_vecenv *env, int i, const td_box *boxes, int n, td_err *err)
{
    td__car *c;
    const td_track *t;
    if (i < 0 || i >= env->n)
        return td_err_set(err, TD_EINVAL, "external boxes: car %d of %d", i, env->n);
    if (n < 0 || n > TD_MAX_OBJECTS)
        return td_err_set(err, TD_EINVAL, "external boxes: %d boxes (at most %d)", n,
                          TD_MAX_OBJECTS);
    if (env->cfg.race.number_of_obstacles > 0 || env->cfg.race.n_object_positions > 0 ||
        env->cfg.race.number_of_bot_cars > 0)
        return td_err_set(err, TD_EINVAL,
                          "external boxes: the world has obstacles or bots of its own; only a "
                          "world without them takes other cars");
    c = &env->priv->cars[i];
    t = env->priv->tracks[c->dir];
    for (int k = 0; k < n; k++) {
        td__object *o = &c->obj[k];
        memset(o, 0, sizeof(*o));
        o->box = boxes[k];
        td_track_project(t, o->box.x, o->box.y, &o->proj);
        o->s = o->proj.arc;
        /* The lane it is on decides the lane of a start near it (the other one). */
        o->lane = o->lane_to = td__object_lane(t, o);
        o->seg = -1;
        c->boxes[k] = o->box;
    }
    c->nobj = n;
    return 0;
}

void td_vecenv_predict(const td_vecenv *env, int i, const float action[2], td_car_state *out)
{
    double steer = action[0], speed = action[1];
    /* As td__car_physics: a NaN command counts as 0. */
    if (!(steer == steer))
        steer = 0.0;
    if (!(speed == speed))
        speed = 0.0;
    *out = env->priv->cars[i].st;
    if (env->priv->cars[i].phase != TD__PHASE_RUN) {
        /* A prepare or pause step holds the car where it stands. */
        td__car_hold(&env->priv->coeffs, out);
        return;
    }
    td__car_step_fast(&env->priv->coeffs, out, steer * (M_PI / 180.0), speed);
}

void td_vecenv_refresh(td_vecenv *env, int i)
{
    td__car *c = &env->priv->cars[i];
    td__car_compute_params(env, c, &env->params[i], TD__PARAMS_POSE);
    td__car_observe(env, c);
}
