/*
 * driver.c - the built-in driver: a pure-pursuit controller following a racing line with a
 * speed profile limited by lateral acceleration. It proves the simulator (`trackday drive`
 * laps every track without a learned policy) and drives reference laps for tools such as
 * `trackday reward explain`.
 *
 * The line is sampled every LINE_STEP_M of centreline arc, as a lateral offset from the
 * centre, so finding the point ahead of the car is an index computation from the car's
 * arc-length projection. The pure-pursuit line is the centreline smoothed (a discrete
 * minimum-curvature relaxation) inside the road minus a safety margin: it cuts corners.
 */
#include <math.h>
#include <string.h>

#include "sim/sim_internal.h"

#define LINE_STEP_M 0.05
/* Clearance kept between the line and a border (car half width plus a safety margin). */
#define BORDER_MARGIN_M 0.17
/* Half span (in line points) of the curvature estimate: 0.3 m either side. */
#define CURV_SPAN       6
#define SMOOTH_ITERS    600
#define LONG_ACCEL_MPS2 3.0
/* Objects closer than this ahead (or this far behind) make the driver change lane. */
#define AVOID_AHEAD_M  2.2
#define AVOID_BEHIND_M 0.6
#define AVOID_SPEED    1.2

void td_driver_config_default(td_driver_config *cfg, td_driver_kind kind)
{
    cfg->kind = kind;
    cfg->lat_accel_mps2 = 3.0;
    cfg->max_speed = 4.0;
    cfg->min_speed = 0.6;
    cfg->lookahead_s = 0.25;
    cfg->lookahead_min_m = 0.3;
    cfg->zigzag_amplitude = 0.6;
    cfg->zigzag_period_m = 3.0;
}

const char *td_driver_kind_name(td_driver_kind k)
{
    switch (k) {
    case TD_DRIVER_PURE_PURSUIT:
        return "pure-pursuit";
    case TD_DRIVER_CENTERLINE:
        return "centerline";
    case TD_DRIVER_ZIGZAG:
        return "zigzag";
    }
    return "unknown";
}

int td_driver_kind_parse(const char *s, td_driver_kind *out)
{
    static const td_driver_kind all[] = {TD_DRIVER_PURE_PURSUIT, TD_DRIVER_CENTERLINE,
                                         TD_DRIVER_ZIGZAG};
    for (int i = 0; i < 3; i++) {
        if (s && strcmp(s, td_driver_kind_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    if (s && strcmp(s, "centreline") == 0) {
        *out = TD_DRIVER_CENTERLINE;
        return 0;
    }
    return TD_EINVAL;
}

/* Centre point, left normal and lateral limits (left > right) at arc s, walking seg. */
static void frame_at(const td_track *t, double s, int *seg, double *cx, double *cy, double *nx,
                     double *ny, double *lo, double *hi)
{
    int nseg = t->n - 1, k = *seg;
    while (k < nseg - 1 && t->arc[k + 1] <= s)
        k++;
    *seg = k;
    double len = t->arc[k + 1] - t->arc[k];
    double u = len > 0 ? (s - t->arc[k]) / len : 0;
    u = u < 0 ? 0 : (u > 1 ? 1 : u);
    const double *c = t->center + 2 * k, *in = t->inner + 2 * k, *ou = t->outer + 2 * k;
    double dx = c[2] - c[0], dy = c[3] - c[1], l = hypot(dx, dy);
    *cx = c[0] + u * dx;
    *cy = c[1] + u * dy;
    *nx = l > 0 ? -dy / l : 0;
    *ny = l > 0 ? dx / l : 1;
    double ix = in[0] + u * (in[2] - in[0]) - *cx, iy = in[1] + u * (in[3] - in[1]) - *cy;
    double ox = ou[0] + u * (ou[2] - ou[0]) - *cx, oy = ou[1] + u * (ou[3] - ou[1]) - *cy;
    double li = ix * *nx + iy * *ny, lo_ = ox * *nx + oy * *ny;
    *hi = li > lo_ ? li : lo_;
    *lo = li > lo_ ? lo_ : li;
}

static int wrap_index(const td_driver *d, int i)
{
    if (d->track->closed) {
        i %= d->n;
        return i < 0 ? i + d->n : i;
    }
    return i < 0 ? 0 : (i >= d->n ? d->n - 1 : i);
}

int td_driver_init(td_driver *d, const td_driver_config *cfg, const td_track *t, td_err *err)
{
    memset(d, 0, sizeof(*d));
    d->cfg = *cfg;
    d->track = t;
    int n = (int)ceil(t->length / LINE_STEP_M);
    if (!t->closed)
        n++;
    if (n < 4)
        return td_err_set(err, TD_EINVAL, "driver: track '%s' is too short", t->name);
    /* x, y, s, v, lat, plus scratch: centre x, y, normal x, y, limits lo, hi. */
    double *buf = td_calloc((size_t)n * 11, sizeof(double));
    if (!buf)
        return td_err_set(err, TD_ENOMEM, "driver: out of memory");
    d->n = n;
    d->x = buf;
    d->y = buf + n;
    d->s = buf + 2 * n;
    d->v = buf + 3 * n;
    d->lat = buf + 4 * n;
    double *cx = buf + 5 * n, *cy = buf + 6 * n, *nx = buf + 7 * n, *ny = buf + 8 * n;
    double *lo = buf + 9 * n, *hi = buf + 10 * n;
    double step = t->closed ? t->length / n : t->length / (n - 1);
    d->length = t->length;
    int seg = 0;
    for (int i = 0; i < n; i++) {
        d->s[i] = i * step;
        frame_at(t, d->s[i], &seg, &cx[i], &cy[i], &nx[i], &ny[i], &lo[i], &hi[i]);
        lo[i] += BORDER_MARGIN_M;
        hi[i] -= BORDER_MARGIN_M;
        if (lo[i] > hi[i])
            lo[i] = hi[i] = 0.5 * (lo[i] + hi[i]);
        d->lat[i] = 0.0;
    }
    if (cfg->kind == TD_DRIVER_PURE_PURSUIT) {
        /* Relax each point toward the midpoint of its neighbours, along its normal, inside
         * the limits: converges toward a low-curvature line through the corners. */
        for (int it = 0; it < SMOOTH_ITERS; it++) {
            for (int i = 0; i < n; i++) {
                int a = wrap_index(d, i - 1), b = wrap_index(d, i + 1);
                if (!t->closed && (i == 0 || i == n - 1))
                    continue;
                double px = cx[i] + d->lat[i] * nx[i], py = cy[i] + d->lat[i] * ny[i];
                double mx = 0.5 * (cx[a] + d->lat[a] * nx[a] + cx[b] + d->lat[b] * nx[b]);
                double my = 0.5 * (cy[a] + d->lat[a] * ny[a] + cy[b] + d->lat[b] * ny[b]);
                double l = d->lat[i] + 0.8 * ((mx - px) * nx[i] + (my - py) * ny[i]);
                d->lat[i] = l < lo[i] ? lo[i] : (l > hi[i] ? hi[i] : l);
            }
        }
    } else if (cfg->kind == TD_DRIVER_ZIGZAG) {
        for (int i = 0; i < n; i++) {
            double a = cfg->zigzag_amplitude * sin(2.0 * M_PI * d->s[i] / cfg->zigzag_period_m);
            double l = a > 0 ? a * hi[i] : -a * lo[i];
            d->lat[i] = l < lo[i] ? lo[i] : (l > hi[i] ? hi[i] : l);
        }
    }
    for (int i = 0; i < n; i++) {
        d->x[i] = cx[i] + d->lat[i] * nx[i];
        d->y[i] = cy[i] + d->lat[i] * ny[i];
    }
    /* Speed profile: lateral-acceleration limit on the line's curvature, then braking and
     * acceleration limits (two passes each way so a loop's wrap settles). */
    for (int i = 0; i < n; i++) {
        int a = wrap_index(d, i - CURV_SPAN), b = wrap_index(d, i + CURV_SPAN);
        double ax = d->x[a], ay = d->y[a], bx = d->x[i], by = d->y[i];
        double qx = d->x[b], qy = d->y[b];
        double cross = (bx - ax) * (qy - by) - (by - ay) * (qx - bx);
        double la = hypot(bx - ax, by - ay), lb = hypot(qx - bx, qy - by);
        double lc = hypot(qx - ax, qy - ay);
        double k = (la > 0 && lb > 0 && lc > 0) ? 2.0 * fabs(cross) / (la * lb * lc) : 0.0;
        double v = k > 1e-6 ? sqrt(cfg->lat_accel_mps2 / k) : cfg->max_speed;
        if (cfg->kind == TD_DRIVER_ZIGZAG && v > 1.5)
            v = 1.5;
        d->v[i] = v < cfg->min_speed ? cfg->min_speed : (v > cfg->max_speed ? cfg->max_speed : v);
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 2 * n - 1; i >= 0; i--) {
            int a = wrap_index(d, i), b = wrap_index(d, i + 1);
            if (!t->closed && (i >= n - 1))
                continue;
            double lim = sqrt(d->v[b] * d->v[b] + 2.0 * LONG_ACCEL_MPS2 * step);
            if (d->v[a] > lim)
                d->v[a] = lim;
        }
        for (int i = 0; i < 2 * n; i++) {
            int a = wrap_index(d, i), b = wrap_index(d, i + 1);
            if (!t->closed && i >= n - 1)
                break;
            double lim = sqrt(d->v[a] * d->v[a] + 2.0 * LONG_ACCEL_MPS2 * step);
            if (d->v[b] > lim)
                d->v[b] = lim;
        }
    }
    d->cursor = -1;
    return 0;
}

void td_driver_free(td_driver *d)
{
    td_free(d->x);
    memset(d, 0, sizeof(*d));
}

void td_driver_reset(td_driver *d)
{
    d->cursor = -1;
}

/* Line point (and speed) at arc s, interpolated. */
static void line_at(const td_driver *d, double s, double *x, double *y, double *v, double *lat)
{
    double step = d->s[1] - d->s[0];
    s = td_track_wrap_arc(d->track, s);
    int i = (int)(s / step);
    double f = s / step - i;
    int a = wrap_index(d, i), b = wrap_index(d, i + 1);
    *x = d->x[a] + f * (d->x[b] - d->x[a]);
    *y = d->y[a] + f * (d->y[b] - d->y[a]);
    if (v)
        *v = d->v[a] + f * (d->v[b] - d->v[a]);
    if (lat)
        *lat = d->lat[a] + f * (d->lat[b] - d->lat[a]);
}

void td_driver_act(td_driver *d, const td_car_config *car, const td_car_state *s,
                   const td_params *p, double *steer_deg, double *speed)
{
    const td_track *t = d->track;
    /* The car's arc from an incremental projection of its origin onto the centreline. */
    td_track_proj pr;
    if (d->cursor < 0) {
        td_track_project(t, s->x, s->y, &pr);
    } else {
        pr.seg = d->cursor;
        td_track_project_from(t, s->x, s->y, &pr);
    }
    d->cursor = pr.seg;
    double sc = pr.arc;
    double la = d->cfg.lookahead_min_m + d->cfg.lookahead_s * fabs(s->speed);
    double tx, ty, v, lat;
    /* Command the speed the line wants slightly ahead: the car's speed lags. */
    double vahead;
    line_at(d, sc + 0.1 + 0.15 * s->speed, &tx, &ty, &vahead, NULL);
    line_at(d, sc + la, &tx, &ty, &v, &lat);
    v = vahead < v ? vahead : v;

    /* Objects ahead: move to the lane away from the nearest one and slow down. */
    if (p && p->n_objects > 0) {
        double best = INFINITY;
        int side = 0;
        for (int k = 0; k < p->n_objects; k++) {
            double dd = p->objects_distance[k] - sc;
            if (t->closed) {
                if (dd > 0.5 * t->length)
                    dd -= t->length;
                if (dd < -0.5 * t->length)
                    dd += t->length;
            }
            if (dd > -AVOID_BEHIND_M && dd < AVOID_AHEAD_M && dd < best) {
                best = dd;
                side = p->objects_left_of_center[k] ? -1 : 1;
            }
        }
        if (side) {
            double w = p->track_width > 0 ? p->track_width : 0.6;
            double x0, y0, hd;
            /* The far side of the road: the other lane, or nearer the border on a narrow
             * road, keeping the car's half width plus 2 cm from the border. */
            double off = 0.5 * w - 0.5 * car->width_m - 0.02;
            off = off > 0.25 * w ? off : 0.25 * w;
            /* A short look-ahead: pure pursuit's arc cuts inside a bend, toward a box on
             * the inner lane, by about la^2 / (8 R). */
            double la_av = 0.35 + 0.1 * fabs(s->speed);
            td_track_point_at(t, sc + (la < la_av ? la : la_av), side * off, &x0, &y0, &hd);
            tx = x0;
            ty = y0;
            if (v > AVOID_SPEED)
                v = AVOID_SPEED;
        }
    }

    /* Pure pursuit from the rear axle. */
    double L = car->wheelbase_m;
    double rx = s->x - 0.5 * L * s->cos_yaw, ry = s->y - 0.5 * L * s->sin_yaw;
    double dx = tx - rx, dy = ty - ry;
    double fwd = dx * s->cos_yaw + dy * s->sin_yaw;
    double side_ = -dx * s->sin_yaw + dy * s->cos_yaw;
    double ld2 = dx * dx + dy * dy;
    double delta = ld2 > 1e-9 ? atan(2.0 * L * side_ / ld2) : 0.0;
    if (fwd < 0) /* target behind: turn hard toward it */
        delta = side_ >= 0 ? 0.6 : -0.6;
    double deg = delta * (180.0 / M_PI);
    double m = car->steer_max_deg;
    *steer_deg = deg < -m ? -m : (deg > m ? m : deg);
    *speed = v;
}
