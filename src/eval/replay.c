/*
 * replay.c - replays of a run as video frames (replay.h): the top view with cars and the frame
 * layout of a simtrace replay (camera view | top view, text band on top). Frames are drawn with
 * raster.c and go to a frame sink (framesink.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/replay.h"
#include "trackday/sensors.h"
#include "trackday/sim.h"

/* ---- top view ----------------------------------------------------------------------------- */

int td_topview_init(td_topview *v, const td_track *t, int width_px, int max_height_px, td_err *err)
{
    int rc;
    memset(v, 0, sizeof(*v));
    rc = td_track_render_rgb(t, width_px, &v->base, &v->h, &v->ox, &v->oy, &v->sc, err);
    if (rc)
        return rc;
    v->w = width_px;
    if (max_height_px > 0 && v->h > max_height_px) {
        /* A tall track: narrower, so that the height fits. */
        int w2 = (int)floor((double)width_px * max_height_px / v->h);
        w2 = w2 < 16 ? 16 : w2;
        td_free(v->base);
        v->base = NULL;
        rc = td_track_render_rgb(t, w2, &v->base, &v->h, &v->ox, &v->oy, &v->sc, err);
        if (rc)
            return rc;
        v->w = w2;
    }
    return 0;
}

void td_topview_free(td_topview *v)
{
    td_free(v->base);
    memset(v, 0, sizeof(*v));
}

void td_topview_project(const td_topview *v, double x, double y, double *px, double *py)
{
    *px = (x - v->ox) * v->sc;
    *py = (v->oy - y) * v->sc;
}

void td_topview_draw_car(const td_topview *v, uint8_t *rgb, int w, int h, int dx, int dy, double x,
                         double y, double yaw, double length, double width, const uint8_t color[3])
{
    double cx, cy;
    td_topview_project(v, x, y, &cx, &cy);
    cx += dx;
    cy += dy;
    /* At least 8 x 5 pixels, so a car stays visible on a small view. */
    double hl = fmax(0.5 * length * v->sc, 4.0), hw = fmax(0.5 * width * v->sc, 2.5);
    double c = cos(yaw), s = sin(yaw);
    double r = sqrt(hl * hl + hw * hw) + 1;
    /* Off the view, or a pose no pixel index holds (poses come from files): nothing to draw. */
    if (!(cx + r >= 0 && cx - r <= w && cy + r >= 0 && cy - r <= h))
        return;
    uint8_t nose[3];
    for (int k = 0; k < 3; k++)
        nose[k] = (uint8_t)(color[k] + (255 - color[k]) * 3 / 5);
    int x0 = td__floor_int(cx - r), x1 = td__ceil_int(cx + r);
    int y0 = td__floor_int(cy - r), y1 = td__ceil_int(cy + r);
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > w - 1 ? w - 1 : x1;
    y1 = y1 > h - 1 ? h - 1 : y1;
    for (int py = y0; py <= y1; py++)
        for (int px = x0; px <= x1; px++) {
            /* Pixel centre in the car's frame (image y points down: world y is -py). */
            double ex = px + 0.5 - cx, ey = -(py + 0.5 - cy);
            double f = ex * c + ey * s, l = -ex * s + ey * c;
            if (fabs(f) > hl || fabs(l) > hw)
                continue;
            const uint8_t *col = f > 0.5 * hl ? nose : color;
            uint8_t *p = rgb + ((size_t)py * w + px) * 3;
            p[0] = col[0];
            p[1] = col[1];
            p[2] = col[2];
        }
}

void td_replay_car_color(int k, uint8_t out[3])
{
    static const uint8_t colors[6][3] = {{230, 25, 35},  {30, 110, 255}, {255, 140, 0},
                                         {170, 40, 220}, {0, 200, 200},  {255, 60, 180}};
    k = ((k % 6) + 6) % 6;
    memcpy(out, colors[k], 3);
}

void td_replay_box_color(int kind, uint8_t out[3])
{
    /* Tinted, so no blend of the track picture's colours matches them exactly. */
    static const uint8_t obstacle[3] = {225, 225, 240}, bot[3] = {120, 120, 130};
    memcpy(out, kind == TD_BOX_CAR ? bot : obstacle, 3);
}

/* ---- simtrace replay -------------------------------------------------------------------- */

void td_replay_options_default(td_replay_options *o)
{
    memset(o, 0, sizeof(*o));
    o->width = 960;
    o->fps = 15;
    o->camera = 1;
}

static const uint8_t BAND[3] = {24, 24, 28}, WHITE[3] = {245, 245, 245}, GREY[3] = {170, 170, 180},
                     TRAIL[3] = {255, 200, 40};

/* The car origin of a row: the model point minus TD_CAR_MODEL_POINT_M along the heading. */
static void row_origin(const td_simtrace_row *r, double *x, double *y, double *yaw)
{
    *yaw = r->yaw_deg * (M_PI / 180.0);
    *x = r->x - TD_CAR_MODEL_POINT_M * cos(*yaw);
    *y = r->y - TD_CAR_MODEL_POINT_M * sin(*yaw);
}

/* Copies a w0 x h0 RGB image into dst at (x0, y0) scaled to dw x dh (nearest). */
static void blit_scaled(uint8_t *dst, int w, int h, int x0, int y0, int dw, int dh,
                        const uint8_t *src, int w0, int h0)
{
    for (int y = 0; y < dh; y++) {
        int sy = y * h0 / dh, ty = y0 + y;
        if (ty < 0 || ty >= h)
            continue;
        for (int x = 0; x < dw; x++) {
            int sx = x * w0 / dw, tx = x0 + x;
            if (tx < 0 || tx >= w)
                continue;
            memcpy(dst + ((size_t)ty * w + tx) * 3, src + ((size_t)sy * w0 + sx) * 3, 3);
        }
    }
}

/* The frame layout and everything a frame is drawn with. */
typedef struct renderer {
    const td_track *track;
    td_replay_options o;
    td_topview tv;
    int tv_ok;
    td_ground_map *ground;
    td_camera_config cam;
    td_look look;
    td_frame_sink *sink;
    uint8_t *frame, *camrgb;
    int W, H, scale, band, pw, ph, tvx, panel_h;
    double t_start, t_render;
} renderer;

static void renderer_free(renderer *r)
{
    td_frame_sink_close(r->sink, NULL);
    td_ground_map_close(r->ground);
    td_free(r->frame);
    td_free(r->camrgb);
    if (r->tv_ok)
        td_topview_free(&r->tv);
}

static int renderer_open(renderer *r, const td_track *track, const td_replay_options *o,
                         const char *out_path, td_err *err)
{
    int rc;
    memset(r, 0, sizeof(*r));
    r->t_start = td_time_now();
    r->track = track;
    if (o)
        r->o = *o;
    else
        td_replay_options_default(&r->o);
    if (r->o.width < 320 || r->o.width > 3840)
        return td_err_set(err, TD_EINVAL, "replay width %d: must be 320..3840 pixels", r->o.width);
    r->W = r->o.width & ~1;
    r->scale = r->W >= 640 ? 2 : 1;
    r->band = 2 * (TD_FONT_H * r->scale) + 3 * 4 * r->scale;
    td_camera_config_default(&r->cam);
    if (r->o.camera) {
        r->pw = r->W / 2;
        r->ph = r->pw * r->cam.height / r->cam.width;
    }
    rc = td_topview_init(&r->tv, track, r->W - r->pw, r->o.camera ? r->ph : (r->W * 3) / 4, err);
    if (rc)
        return rc;
    r->tv_ok = 1;
    r->panel_h = r->tv.h > r->ph ? r->tv.h : r->ph;
    r->H = (r->band + r->panel_h + 1) & ~1;
    r->tvx = r->pw + (r->W - r->pw - r->tv.w) / 2;
    r->frame = td_malloc((size_t)r->W * r->H * 3);
    if (r->o.camera)
        r->camrgb = td_malloc((size_t)r->cam.width * r->cam.height * 3);
    if (!r->frame || (r->o.camera && !r->camrgb))
        return td_err_set(err, TD_ENOMEM, "out of memory");
    if (r->o.camera && (rc = td_ground_map_open(&r->ground, track, 0.01, err)) != 0)
        return rc;
    td_look_default(&r->look);
    return td_frame_sink_open(&r->sink, out_path, r->W, r->H, r->o.fps, err);
}

/* What one frame shows. */
typedef struct frame_info {
    double x, y, yaw;    /* car origin */
    const td_box *boxes; /* obstacles and bots (may be NULL) */
    int nboxes;
    const double *trail; /* (trail_n, 2) model points of the lap so far */
    int trail_n;
    const char *line1, *line2; /* text */
} frame_info;

static int renderer_frame(renderer *r, const frame_info *f, td_err *err)
{
    if (r->o.stop && *r->o.stop)
        return td_err_set(err, TD_EINTERRUPTED, "interrupted after %d frames",
                          td_frame_sink_frames(r->sink));
    double t0 = td_time_now();
    int W = r->W, H = r->H;
    uint8_t car[3];
    td_raster_rect(r->frame, W, H, 0, 0, W, H, BAND);
    if (r->o.camera) {
        td_scene scene = {r->track, r->ground, f->boxes, f->boxes ? f->nboxes : 0,
                          &r->look, NULL,      NULL,     0};
        td_camera_render_rgb(&r->cam, &scene, f->x, f->y, f->yaw, r->camrgb);
        blit_scaled(r->frame, W, H, 0, r->band + (r->panel_h - r->ph) / 2, r->pw, r->ph, r->camrgb,
                    r->cam.width, r->cam.height);
    }
    /* Top view: the empty track, the boxes, the lap's trail, the car. */
    for (int yy = 0; yy < r->tv.h; yy++)
        memcpy(r->frame + ((size_t)(r->band + yy) * W + r->tvx) * 3,
               r->tv.base + (size_t)yy * r->tv.w * 3, (size_t)r->tv.w * 3);
    for (int k = 0; f->boxes && k < f->nboxes; k++) {
        const td_box *b = &f->boxes[k];
        uint8_t col[3];
        td_replay_box_color(b->kind, col);
        td_topview_draw_car(&r->tv, r->frame, W, H, r->tvx, r->band, b->x, b->y, b->yaw, b->length,
                            b->width, col);
    }
    for (int k = 1; k < f->trail_n; k++) {
        const double *a = f->trail + 2 * (k - 1), *b = f->trail + 2 * k;
        double ax, ay, bx, by;
        if (hypot(b[0] - a[0], b[1] - a[1]) > 0.5)
            continue; /* a reset, not driving */
        td_topview_project(&r->tv, a[0], a[1], &ax, &ay);
        td_topview_project(&r->tv, b[0], b[1], &bx, &by);
        td_raster_line(r->frame, W, H, ax + r->tvx, ay + r->band, bx + r->tvx, by + r->band,
                       fmax(2.0, 0.03 * r->tv.sc), TRAIL);
    }
    td_replay_car_color(0, car);
    td_topview_draw_car(&r->tv, r->frame, W, H, r->tvx, r->band, f->x, f->y, f->yaw,
                        TD_CAR_LENGTH_M, TD_CAR_WIDTH_M, car);
    td_raster_text(r->frame, W, H, 4 * r->scale, 4 * r->scale, f->line1, r->scale, GREY);
    td_raster_text(r->frame, W, H, 4 * r->scale, 8 * r->scale + TD_FONT_H * r->scale, f->line2,
                   r->scale, WHITE);
    r->t_render += td_time_now() - t0;
    return td_frame_sink_write(r->sink, r->frame, err);
}

/* Closes the sink (rc: the run's result so far), fills stats, frees. */
static int renderer_close(renderer *r, int rc, td_replay_stats *stats, td_err *err)
{
    int frames = td_frame_sink_frames(r->sink);
    if (rc)
        td_frame_sink_abandon(r->sink); /* nothing of a failed or interrupted render is kept */
    int rc2 = td_frame_sink_close(r->sink, rc ? NULL : err);
    r->sink = NULL;
    rc = rc ? rc : rc2;
    if (stats) {
        memset(stats, 0, sizeof(*stats));
        stats->frames = frames;
        stats->width = r->W;
        stats->height = r->H;
        stats->view_x = r->tvx;
        stats->view_y = r->band;
        stats->view_ox = r->tv.ox;
        stats->view_oy = r->tv.oy;
        stats->view_scale = r->tv.sc;
        stats->render_s = r->t_render;
        stats->total_s = td_time_now() - r->t_start;
    }
    renderer_free(r);
    return rc;
}

int td_replay_simtrace(const td_track *track, const td_simtrace_row *rows, int n,
                       const td_replay_options *o, const char *out_path, td_replay_stats *stats,
                       td_err *err)
{
    renderer r;
    double *trail = NULL;
    int rc;
    int ep_first = 0; /* first row of the current episode */
    double ep_t0 = 0; /* clock at the current episode's start */

    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (n <= 0)
        return td_err_set(err, TD_EINVAL, "%s: the simtrace has no rows to replay", out_path);
    if ((rc = renderer_open(&r, track, o, out_path, err)) != 0) {
        renderer_free(&r);
        return rc;
    }
    trail = td_malloc(sizeof(double) * 2 * (size_t)n);
    if (!trail) {
        rc = td_err_set(err, TD_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const td_simtrace_row *row = &rows[i];
        double speed = row->throttle;
        char line1[256], line2[256];
        frame_info f;
        trail[2 * i] = row->x;
        trail[2 * i + 1] = row->y;
        if (i == 0 || row->episode != rows[i - 1].episode || row->file != rows[i - 1].file) {
            /* A new lap (trackday's eval logs are one episode per lap): its clock starts at
             * the previous row's time, or one step before the first row's. */
            ep_first = i;
            if (i > 0 && row->file == rows[i - 1].file && rows[i - 1].tstamp <= row->tstamp)
                ep_t0 = rows[i - 1].tstamp;
            else
                ep_t0 = row->tstamp - (row->steps > 0 ? row->steps : 1) / TD_SIM_HZ;
        }
        if (i > ep_first) {
            /* Measured speed between rows; a reset (a jump) falls back to the command. */
            const td_simtrace_row *q = &rows[i - 1];
            double dt = row->tstamp - q->tstamp - row->pause_duration;
            double d = hypot(row->x - q->x, row->y - q->y);
            if (dt > 1e-6 && d / dt < 5.0)
                speed = d / dt;
        }
        memset(&f, 0, sizeof(f));
        row_origin(row, &f.x, &f.y, &f.yaw);
        f.trail = trail + 2 * ep_first;
        f.trail_n = i - ep_first + 1;
        snprintf(line1, sizeof(line1), "%s   STEP %d/%d   %s", r.o.title ? r.o.title : track->name,
                 i + 1, n, row->episode_status);
        snprintf(line2, sizeof(line2),
                 "LAP %ld   LAP TIME %.2f S   SPEED %.2f M/S   PROGRESS %.1f%%",
                 row->episode - rows[0].episode + 1, row->tstamp - ep_t0, speed, row->progress);
        f.line1 = line1;
        f.line2 = line2;
        if ((rc = renderer_frame(&r, &f, err)) != 0)
            goto out;
    }
    rc = 0;
out:
    td_free(trail);
    return renderer_close(&r, rc, stats, err);
}

/* ---- replay of a fresh drive ---------------------------------------------------------------- */

/* A drive replayed as td_evaluate drives it: one frame per step from its step hook. */
typedef struct redrive {
    renderer r;
    int opened;
    const td_replay_options *o;
    const char *out_path;
    const char *name;
    double *trail;
    int trail_n, trail_cap, lap;
    double lap_t0, last_t;
} redrive;

static int redrive_step(void *user, const td_eval_step *s, td_err *err)
{
    redrive *d = user;
    const td_params *p = s->params;
    const td_box *boxes;
    frame_info f;
    char line1[256], line2[256];
    int rc;
    if (!d->opened) {
        /* The top view of the direction driven, which the env knows. */
        if ((rc = renderer_open(&d->r, td_vecenv_track(s->env, 0), d->o, d->out_path, err)) != 0)
            return rc;
        d->opened = 1;
    }
    if (s->lap != d->lap) {
        /* A new lap or trial starts a new trail and lap clock. */
        d->lap = s->lap;
        d->trail_n = 0;
        d->lap_t0 = d->last_t;
    }
    if (d->trail_n == d->trail_cap) {
        int nc = d->trail_cap ? 2 * d->trail_cap : 1024;
        double *nt = td_realloc(d->trail, sizeof(double) * 2 * (size_t)nc);
        if (!nt)
            return td_err_set(err, TD_ENOMEM, "out of memory");
        d->trail = nt;
        d->trail_cap = nc;
    }
    d->trail[2 * d->trail_n] = p->x;
    d->trail[2 * d->trail_n + 1] = p->y;
    d->trail_n++;
    memset(&f, 0, sizeof(f));
    f.yaw = p->heading * (M_PI / 180.0);
    f.x = p->x - s->env->cfg.car.model_point_m * cos(f.yaw);
    f.y = p->y - s->env->cfg.car.model_point_m * sin(f.yaw);
    f.nboxes = td_vecenv_boxes(s->env, 0, &boxes);
    f.boxes = boxes;
    f.trail = d->trail;
    f.trail_n = d->trail_n;
    snprintf(line1, sizeof(line1), "%s   STEP %ld   %s", d->name, s->step + 1,
             td_episode_status_name(s->done ? s->info->status : td_vecenv_step_status(s->env, 0)));
    snprintf(line2, sizeof(line2), "LAP %d   LAP TIME %.2f S   SPEED %.2f M/S   PROGRESS %.1f%%",
             s->lap + 1, p->sim_time - d->lap_t0, s->done ? 0.0 : td_vecenv_car(s->env, 0)->speed,
             p->progress);
    f.line1 = line1;
    f.line2 = line2;
    d->last_t = p->sim_time;
    return renderer_frame(&d->r, &f, err);
}

int td_replay_drive(td_policy *policy, const td_track *track, const td_eval_options *e,
                    const td_replay_options *o, const char *out_path, td_replay_stats *stats,
                    td_err *err)
{
    redrive d;
    td_eval_options eo = *e;
    td_eval_result res;
    int rc;

    memset(&d, 0, sizeof(d));
    d.o = o;
    d.out_path = out_path;
    d.name = o && o->title ? o->title : track->name;
    eo.simtrace_path = eo.report_path = eo.picture_path = NULL;
    eo.on_step = redrive_step;
    eo.on_step_user = &d;
    rc = td_evaluate(policy, track, &eo, &res, err);
    td_free(d.trail);
    if (!d.opened) {
        if (stats)
            memset(stats, 0, sizeof(*stats));
        return rc;
    }
    return renderer_close(&d.r, rc, stats, err);
}
