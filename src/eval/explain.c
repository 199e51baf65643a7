/*
 * explain.c - what a reward function encourages, shown on driven laps (`trackday reward
 * explain`): the simulator's built-in driver drives one lap (along its racing line, or
 * zig-zagging) while the reward host is the env's reward callback, exactly as in training;
 * every step's position and reward are kept, and a picture colours the driven path by reward
 * on the track with the same track view as every other picture (trackview.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trackday/explain.h"
#include "trackday/plot.h"

/* ------------------------------------------------------------------------------------ */
/* Driving a lap                                                                        */
/* ------------------------------------------------------------------------------------ */

typedef struct lap_ctx {
    td_reward *r;
    td_explain_lap *lap;
    int cap;
    int failed;
    td_err err;
} lap_ctx;

/* The env's reward callback: the host's reward, and a record of the step. */
static void record_step(void *user, const td_params *params, int n, float *out)
{
    lap_ctx *c = user;
    if (c->failed || n < 1) {
        memset(out, 0, sizeof(float) * (size_t)(n > 0 ? n : 0));
        return;
    }
    if (td_reward_batch(c->r, params, n, out, &c->err)) {
        c->failed = 1;
        return;
    }
    td_explain_lap *l = c->lap;
    if (l->n < c->cap) {
        l->x[l->n] = params[0].x;
        l->y[l->n] = params[0].y;
        l->reward[l->n] = out[0];
        l->progress[l->n] = params[0].progress;
        l->speed[l->n] = params[0].speed;
        l->n++;
    }
}

int td_explain_drive_lap(td_reward *r, const td_track *t, const td_race_config *race,
                         int driver_kind, int max_steps, td_explain_lap *lap, td_err *err)
{
    memset(lap, 0, sizeof(*lap));
    if (max_steps <= 0)
        max_steps = 5000;
    const char *label = driver_kind == TD_DRIVER_PURE_PURSUIT ? "racing line"
                        : driver_kind == TD_DRIVER_ZIGZAG     ? "zig-zag"
                        : driver_kind == TD_DRIVER_CENTERLINE
                            ? "centre line"
                            : td_driver_kind_name((td_driver_kind)driver_kind);
    snprintf(lap->driver, sizeof(lap->driver), "%s", label);
    snprintf(lap->status, sizeof(lap->status), "time_up");
    double *buf = td_calloc((size_t)max_steps * 5, sizeof(double));
    if (!buf)
        return td_err_set(err, TD_ENOMEM, "out of memory for %d steps", max_steps);
    lap->x = buf;
    lap->y = buf + max_steps;
    lap->reward = buf + 2 * (size_t)max_steps;
    lap->progress = buf + 3 * (size_t)max_steps;
    lap->speed = buf + 4 * (size_t)max_steps;

    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_EVAL;
    cfg.sensors = TD_SENSOR_STATE;
    cfg.threads = 1;
    cfg.max_steps = max_steps;
    if (race)
        cfg.race = *race;
    td_vecenv env;
    int rc = td_vecenv_init(&env, &cfg, t, 1, err);
    if (rc) {
        td_explain_lap_free(lap);
        return rc;
    }
    float actions[2] = {0, 0}, obs[TD_STATE_DIM], rewards[1];
    uint8_t dones[1] = {0};
    td_params params[1];
    lap_ctx ctx = {.r = r, .lap = lap, .cap = max_steps};
    env.actions = actions;
    env.obs_state = obs;
    env.rewards = rewards;
    env.dones = dones;
    env.params = params;
    env.reward_fn = record_step;
    env.reward_user = &ctx;
    td_vecenv_reset(&env);
    const td_box *boxes = NULL;
    int nb = td_vecenv_boxes(&env, 0, &boxes);
    for (int b = 0; b < nb && lap->n_objects < TD_EXPLAIN_MAX_OBJECTS; b++) {
        double *o = lap->objects[lap->n_objects];
        o[0] = boxes[b].x;
        o[1] = boxes[b].y;
        o[2] = boxes[b].yaw;
        o[3] = boxes[b].length;
        o[4] = boxes[b].width;
        lap->object_is_car[lap->n_objects++] = boxes[b].kind == TD_BOX_CAR;
    }

    td_driver d;
    td_driver_config dc;
    td_driver_config_default(&dc, (td_driver_kind)driver_kind);
    rc = td_driver_init(&d, &dc, td_vecenv_track(&env, 0), err);
    if (rc) {
        td_vecenv_free(&env);
        td_explain_lap_free(lap);
        return rc;
    }
    for (int step = 0; step < max_steps; step++) {
        double steer, speed;
        td_driver_act(&d, &env.cfg.car, td_vecenv_car(&env, 0), &params[0], &steer, &speed);
        actions[0] = (float)steer;
        actions[1] = (float)speed;
        td_vecenv_step(&env);
        if (ctx.failed) {
            lap->failed = 1;
            if (err)
                *err = ctx.err;
            snprintf(lap->status, sizeof(lap->status), "reward_error");
            break;
        }
        if (dones[0]) {
            const td_episode_info *ep = td_vecenv_last_episode(&env, 0);
            snprintf(lap->status, sizeof(lap->status), "%s", td_episode_status_name(ep->status));
            break;
        }
    }
    td_driver_free(&d);
    td_vecenv_free(&env);
    return 0;
}

void td_explain_lap_free(td_explain_lap *lap)
{
    if (!lap)
        return;
    td_free(lap->x); /* one allocation for all the arrays */
    memset(lap, 0, sizeof(*lap));
}

/* ------------------------------------------------------------------------------------ */
/* The picture                                                                          */
/* ------------------------------------------------------------------------------------ */

#define PANEL_W 560

int td_explain_svg(const char *path, const td_track *t, const td_explain_lap *laps, int n_laps,
                   const char *title, td_err *err)
{
    if (n_laps < 1 || n_laps > 8)
        return td_err_set(err, TD_EINVAL, "%s: 1 to 8 laps to draw (got %d)", path, n_laps);
    /* One colour scale for every lap, so the panels compare. */
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n_laps; k++)
        for (int i = 0; i < laps[k].n; i++) {
            lo = fmin(lo, laps[k].reward[i]);
            hi = fmax(hi, laps[k].reward[i]);
        }
    if (!(lo <= hi))
        lo = hi = 0;
    double tw = t->max_x - t->min_x, th = t->max_y - t->min_y;
    double panel_h = 150 + (PANEL_W - 120) * (th > 1e-9 && tw > 1e-9 ? th / tw : 1.0);
    double W = PANEL_W * n_laps, H = 40 + panel_h;
    td_svg s;
    td_svg_begin(&s, W, H);
    td_svg_rect(&s, 0, 0, W, H, "#ffffff", NULL);
    td_svg_text(&s, W / 2, 26, 18, "middle", 0, "#111111", title ? title : "reward per step");
    int rc = 0;
    for (int k = 0; k < n_laps && !rc; k++) {
        const td_explain_lap *l = &laps[k];
        double sum = 0;
        for (int i = 0; i < l->n; i++)
            sum += l->reward[i];
        char sub[200], name[64];
        snprintf(sub, sizeof(sub), "%s: %d steps, %s, mean reward %.4g", l->driver, l->n, l->status,
                 l->n ? sum / l->n : 0.0);
        snprintf(name, sizeof(name), "%s", l->driver);
        td_plot_lap lap = {.name = name, .x = l->x, .y = l->y, .value = l->reward, .n = l->n};
        td_plot_box boxes[TD_EXPLAIN_MAX_OBJECTS];
        for (int b = 0; b < l->n_objects; b++)
            boxes[b] = (td_plot_box){l->objects[b][0], l->objects[b][1], l->objects[b][2],
                                     l->objects[b][3], l->objects[b][4], l->object_is_car[b]};
        td_plot_track_view v = {.title = sub,
                                .track = t,
                                .laps = &lap,
                                .n_laps = 1,
                                .boxes = boxes,
                                .n_boxes = l->n_objects,
                                .scale_label = "reward",
                                .fixed_scale = 1,
                                .scale_min = lo,
                                .scale_max = hi > lo ? hi : lo + 1};
        rc = td_plot_track_draw(&s, &v, k * PANEL_W, 40, PANEL_W, panel_h, err);
    }
    if (!rc)
        rc = td_svg_save(&s, path, err);
    td_svg_free(&s);
    return rc;
}
