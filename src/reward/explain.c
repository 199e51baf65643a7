/*
 * explain.c - what a reward function encourages, shown on driven laps (`trackday reward
 * explain`): the simulator's built-in driver drives one lap (along its racing line, or
 * zig-zagging) while the reward host is the env's reward callback, exactly as in training;
 * every step's position and reward are kept, and an SVG picture colours the driven path by
 * reward on the track.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trackday/reward.h"
#include "trackday/sim.h"

/* ------------------------------------------------------------------------------------ */
/* Driving a lap                                                                        */
/* ------------------------------------------------------------------------------------ */

typedef struct lap_ctx {
    td_reward *r;
    td_reward_lap *lap;
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
    td_reward_lap *l = c->lap;
    if (l->n < c->cap) {
        l->x[l->n] = params[0].x;
        l->y[l->n] = params[0].y;
        l->reward[l->n] = out[0];
        l->progress[l->n] = params[0].progress;
        l->speed[l->n] = params[0].speed;
        l->n++;
    }
}

int td_reward_drive_lap(td_reward *r, const td_track *t, const td_race_config *race,
                        int driver_kind, int max_steps, td_reward_lap *lap, td_err *err)
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
        td_reward_lap_free(lap);
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
    for (int b = 0; b < nb && lap->n_objects < TD_REWARD_LAP_MAX_OBJECTS; b++) {
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
        td_reward_lap_free(lap);
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

void td_reward_lap_free(td_reward_lap *lap)
{
    if (!lap)
        return;
    td_free(lap->x); /* one allocation for all the arrays */
    memset(lap, 0, sizeof(*lap));
}

/* ------------------------------------------------------------------------------------ */
/* SVG                                                                                  */
/* ------------------------------------------------------------------------------------ */

/* A viridis-like colour scale: dark blue (low) to yellow (high). u in [0, 1]. */
static void scale_rgb(double u, int rgb[3])
{
    static const int stops[5][3] = {
        {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    if (!(u >= 0))
        u = 0;
    if (u > 1)
        u = 1;
    double f = u * 4;
    int i = (int)f;
    if (i > 3)
        i = 3;
    double w = f - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(stops[i][c] * (1 - w) + stops[i + 1][c] * w);
}

typedef struct panel {
    double ox, oy, scale; /* pixel = (ox + (x - min_x) * scale, oy + (max_y - y) * scale) */
    const td_track *t;
} panel;

static double px(const panel *p, double x)
{
    return p->ox + (x - p->t->min_x) * p->scale;
}

static double py(const panel *p, double y)
{
    return p->oy + (p->t->max_y - y) * p->scale;
}

static void polyline(FILE *f, const panel *p, const double *xy, int n, const char *style)
{
    fprintf(f, "<polyline fill=\"none\" %s points=\"", style);
    for (int i = 0; i < n; i++)
        fprintf(f, "%.1f,%.1f ", px(p, xy[2 * i]), py(p, xy[2 * i + 1]));
    fprintf(f, "\"/>\n");
}

static void draw_track(FILE *f, const panel *p)
{
    const td_track *t = p->t;
    /* The road: the outer border with the inner one as a hole (even-odd), or for an open
     * route one polygon along the outer border and back along the inner one. */
    fprintf(f, "<path fill=\"#3a3a3a\" fill-rule=\"evenodd\" d=\"M");
    for (int i = 0; i < t->n; i++)
        fprintf(f, " %.1f,%.1f", px(p, t->outer[2 * i]), py(p, t->outer[2 * i + 1]));
    if (t->closed) {
        fprintf(f, " Z M");
        for (int i = 0; i < t->n; i++)
            fprintf(f, " %.1f,%.1f", px(p, t->inner[2 * i]), py(p, t->inner[2 * i + 1]));
    } else {
        for (int i = t->n - 1; i >= 0; i--)
            fprintf(f, " %.1f,%.1f", px(p, t->inner[2 * i]), py(p, t->inner[2 * i + 1]));
    }
    fprintf(f, " Z\"/>\n");
    polyline(f, p, t->inner, t->n, "stroke=\"#ffffff\" stroke-width=\"1.5\"");
    polyline(f, p, t->outer, t->n, "stroke=\"#ffffff\" stroke-width=\"1.5\"");
    polyline(f, p, t->center, t->n,
             "stroke=\"#d9a400\" stroke-width=\"1\" stroke-dasharray=\"4 4\" opacity=\"0.6\"");
    /* The start line: a short bar across the road at vertex 0. */
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e03030\" "
            "stroke-width=\"3\"/>\n",
            px(p, t->inner[0]), py(p, t->inner[1]), px(p, t->outer[0]), py(p, t->outer[1]));
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

int td_reward_explain_svg(const char *path, const td_track *t, const td_reward_lap *laps,
                          int n_laps, const char *title, td_err *err)
{
    if (n_laps < 1)
        return td_err_set(err, TD_EINVAL, "no laps to draw");
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n_laps; k++)
        for (int i = 0; i < laps[k].n; i++) {
            lo = fmin(lo, laps[k].reward[i]);
            hi = fmax(hi, laps[k].reward[i]);
        }
    if (!(lo <= hi))
        lo = hi = 0;
    double span = hi - lo > 1e-12 ? hi - lo : 1.0;

    const double panel_w = 520, margin = 20, top = 56, bottom = 80;
    double tw = t->max_x - t->min_x, th = t->max_y - t->min_y;
    double scale = (panel_w - 2 * margin) / (tw > 1e-9 ? tw : 1.0);
    double panel_h = th * scale + 2 * margin + 24;
    double W = panel_w * n_laps, H = top + panel_h + bottom;

    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return td_err_set(err, TD_EIO, "cannot write %s", tmp);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#4f7f3a\"/>\n");
    fprintf(f,
            "<text x=\"%.0f\" y=\"30\" font-size=\"18\" fill=\"#ffffff\" "
            "text-anchor=\"middle\">",
            W / 2);
    xml_text(f, title ? title : "reward per step");
    fprintf(f, "</text>\n");
    for (int k = 0; k < n_laps; k++) {
        const td_reward_lap *l = &laps[k];
        panel p = {k * panel_w + margin, top + margin + 24, scale, t};
        double sum = 0;
        for (int i = 0; i < l->n; i++)
            sum += l->reward[i];
        fprintf(f,
                "<text x=\"%.0f\" y=\"%.0f\" font-size=\"14\" fill=\"#ffffff\" "
                "text-anchor=\"middle\">",
                k * panel_w + panel_w / 2, top + 14);
        char sub[200];
        snprintf(sub, sizeof(sub), "%s: %d steps, %s, mean reward %.4g", l->driver, l->n, l->status,
                 l->n ? sum / l->n : 0.0);
        xml_text(f, sub);
        fprintf(f, "</text>\n");
        draw_track(f, &p);
        for (int b = 0; b < l->n_objects; b++) {
            const double *o = l->objects[b];
            double c = cos(o[2]), sn = sin(o[2]), hl = o[3] / 2, hw = o[4] / 2;
            fprintf(f,
                    "<polygon fill=\"%s\" stroke=\"#000000\" stroke-width=\"1\" "
                    "points=\"",
                    l->object_is_car[b] ? "#3070e0" : "#f0f0f0");
            static const double corners[4][2] = {{1, 1}, {1, -1}, {-1, -1}, {-1, 1}};
            for (int k = 0; k < 4; k++) {
                double dx = corners[k][0] * hl, dy = corners[k][1] * hw;
                fprintf(f, "%.1f,%.1f ", px(&p, o[0] + dx * c - dy * sn),
                        py(&p, o[1] + dx * sn + dy * c));
            }
            fprintf(f, "\"/>\n");
        }
        for (int i = 1; i < l->n; i++) {
            int rgb[3];
            scale_rgb((l->reward[i] - lo) / span, rgb);
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                    "stroke=\"rgb(%d,%d,%d)\" stroke-width=\"4\" stroke-linecap=\"round\"/>\n",
                    px(&p, l->x[i - 1]), py(&p, l->y[i - 1]), px(&p, l->x[i]), py(&p, l->y[i]),
                    rgb[0], rgb[1], rgb[2]);
        }
    }
    /* The colour bar with its values. */
    double bx = W / 2 - 200, by = top + panel_h + 16, bw = 400, bh = 16;
    for (int i = 0; i < 100; i++) {
        int rgb[3];
        scale_rgb(i / 99.0, rgb);
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" "
                "fill=\"rgb(%d,%d,%d)\"/>\n",
                bx + bw * i / 100.0, by, bw / 100.0 + 0.5, bh, rgb[0], rgb[1], rgb[2]);
    }
    for (int i = 0; i <= 4; i++)
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.0f\" font-size=\"12\" fill=\"#ffffff\" "
                "text-anchor=\"middle\">%.4g</text>\n",
                bx + bw * i / 4.0, by + bh + 16, lo + span * i / 4.0 * (hi > lo ? 1 : 0));
    fprintf(f,
            "<text x=\"%.1f\" y=\"%.0f\" font-size=\"12\" fill=\"#ffffff\" "
            "text-anchor=\"end\">reward</text>\n",
            bx - 8, by + 13);
    fprintf(f, "</svg>\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        remove(tmp);
        return td_err_set(err, TD_EIO, "cannot write %s", tmp);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return td_err_set(err, TD_EIO, "cannot rename %s to %s", tmp, path);
    }
    return 0;
}
