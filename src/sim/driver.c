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
/* Racing-line look-ahead: metres plus seconds of speed. */
#define RL_LOOKAHEAD_M 0.25
#define RL_LOOKAHEAD_S 0.12
/* Racing-line tracking: closed-loop frequency (rad/s) and damping of the lateral error. */
#define RL_OMEGA 6.0
#define RL_ZETA  0.9
/* The feedforward curvature is the line's this many wheelbases (the slip's lag) plus the
 * steering's dead time x speed ahead of the predicted pose (which covers one step). */
#define RL_SLIP_AHEAD   0.5
#define RL_MAX_APPROACH 0.35
/* Farther than this from the line (a start on the centreline, a reset) the car merges at
 * RL_MERGE_SPEED; nearer, it is tracking the line at its speed (a fast line's corners take
 * the car up to ~0.2 m off it). */
#define RL_MERGE_M     0.35
#define RL_MERGE_SPEED 1.5

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
    td_car_config_default(&cfg->car);
    td_racing_options_default(&cfg->racing, &cfg->car);
    cfg->line = NULL;
    cfg->speed_scale = 1.0;
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
    case TD_DRIVER_RACING_LINE:
        return "racing-line";
    }
    return "unknown";
}

int td_driver_kind_parse(const char *s, td_driver_kind *out)
{
    static const td_driver_kind all[] = {TD_DRIVER_PURE_PURSUIT, TD_DRIVER_CENTERLINE,
                                         TD_DRIVER_ZIGZAG, TD_DRIVER_RACING_LINE};
    for (int i = 0; i < 4; i++) {
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
    td__road_frame(t, s, seg, 0, cx, cy, nx, ny, lo, hi);
}

void td__road_frame(const td_track *t, double s, int *seg, int smooth, double *cx, double *cy,
                    double *nx, double *ny, double *lo, double *hi)
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
    if (smooth && t->closed && nseg > 2) {
        /* The normal turns linearly along the segment from the bisector at its first vertex
         * to the bisector at its second, so an offset line has no kink at a vertex. */
        double vn[2][2];
        for (int e = 0; e < 2; e++) {
            int a = (k + e - 1 + nseg) % nseg, b = (k + e) % nseg;
            const double *ca = t->center + 2 * a, *cb = t->center + 2 * b;
            double ax = ca[2] - ca[0], ay = ca[3] - ca[1], bx = cb[2] - cb[0], by = cb[3] - cb[1];
            double la = hypot(ax, ay), lb = hypot(bx, by);
            double mx = (la > 0 ? -ay / la : 0) + (lb > 0 ? -by / lb : 0);
            double my = (la > 0 ? ax / la : 0) + (lb > 0 ? bx / lb : 0);
            double lm = hypot(mx, my);
            vn[e][0] = lm > 1e-9 ? mx / lm : *nx;
            vn[e][1] = lm > 1e-9 ? my / lm : *ny;
        }
        double mx = vn[0][0] + u * (vn[1][0] - vn[0][0]), my = vn[0][1] + u * (vn[1][1] - vn[0][1]);
        double lm = hypot(mx, my);
        if (lm > 1e-9) {
            *nx = mx / lm;
            *ny = my / lm;
        }
    }
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
    if (cfg->kind == TD_DRIVER_RACING_LINE) {
        /* The optimizer samples the same stations (every LINE_STEP_M of centreline). */
        td_racing_line own;
        const td_racing_line *rl = cfg->line;
        if (!rl) {
            int rc = td_racing_line_compute(&own, t, &cfg->car, &cfg->racing, err);
            if (rc) {
                td_free(buf);
                memset(d, 0, sizeof(*d));
                return rc;
            }
            rl = &own;
        }
        if (rl->n != n) {
            if (rl == &own)
                td_racing_line_free(&own);
            td_free(buf);
            memset(d, 0, sizeof(*d));
            return td_err_set(err, TD_EINVAL,
                              "driver: a racing line of %d points for a track of %d (another "
                              "track?)",
                              rl->n, n);
        }
        d->kappa = buf + 5 * n; /* the frame scratch is free now */
        for (int i = 0; i < n; i++) {
            d->x[i] = rl->x[i];
            d->y[i] = rl->y[i];
            d->lat[i] = rl->lat[i];
            d->v[i] = rl->v_cmd ? rl->v_cmd[i] : rl->v[i];
            d->kappa[i] = rl->kappa[i];
        }
        d->lap_time_s = rl->lap_time_s;
        if (rl == &own)
            td_racing_line_free(&own);
        d->cursor = -1;
        return 0;
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

/*
 * Where the car will be when a command given now starts to act: one control step ahead
 * under the commands it already has (a car with delays and lags keeps doing what it was
 * told for a while). Steering from there instead of from the current pose keeps a delayed
 * car from oscillating.
 */
static void predict(const td_car_config *car, const td_car_state *s, td_car_state *out)
{
    *out = *s;
    if (s->n_cmd == 0 || (car->steer_delay_s <= 0 && car->steer_tau_s < 0.08))
        return;
    double gain = car->speed_gain > 0 ? car->speed_gain : 1.0;
    td_car_step(car, out, atan(s->cmd_tan[0]) * (180.0 / M_PI), s->cmd_speed[0] / gain,
                1.0 / TD_SIM_HZ);
}

/*
 * tan(steering) when a command given now starts to act: the steering's lag driven through
 * its dead time by the commands already given (cmd_tan[j] was given j + 1 steps ago).
 */
static double steer_after_delay(const td_car_config *car, const td_car_state *s)
{
    double u = s->steer_tan, T = 1.0 / TD_SIM_HZ, age = car->steer_delay_s;
    if (car->steer_tau_s <= 1e-6)
        return s->n_cmd > 0 ? s->cmd_tan[0] : u;
    while (age > 1e-12) {
        int j = (int)ceil(age / T - 1e-9) - 1;
        double c = j < s->n_cmd ? s->cmd_tan[j] : 0.0, dur = age - j * T;
        u = c + (u - c) * exp(-dur / car->steer_tau_s);
        age = j * T;
    }
    return u;
}

/*
 * The racing-line driver's control: the line's curvature where the car will be once its
 * steering has followed (feedforward), plus feedback on the lateral and heading errors with
 * gains for a closed loop of RL_OMEGA rad/s, damping RL_ZETA, slow enough for the car's
 * steering lag; the line's speed commanded ahead of the speed lag.
 */
static void racing_act(td_driver *d, const td_car_config *car, const td_car_state *s_now,
                       const td_car_state *s, double sc, double *steer_deg, double *speed)
{
    double step = d->s[1] - d->s[0];
    int c = (int)(td_track_wrap_arc(d->track, sc) / step), best = c;
    double bd = INFINITY;
    for (int k = -15; k <= 15; k++) {
        int i = wrap_index(d, c + k);
        double e2 = (d->x[i] - s->x) * (d->x[i] - s->x) + (d->y[i] - s->y) * (d->y[i] - s->y);
        if (e2 < bd) {
            bd = e2;
            best = i;
        }
    }
    int a = wrap_index(d, best - 1), b = wrap_index(d, best + 1);
    double hx = d->x[b] - d->x[a], hy = d->y[b] - d->y[a], hl = hypot(hx, hy);
    hx = hl > 0 ? hx / hl : s->cos_yaw;
    hy = hl > 0 ? hy / hl : s->sin_yaw;
    /* Signed lateral error (+ = left of the line) and heading error. */
    double e = -(s->x - d->x[best]) * hy + (s->y - d->y[best]) * hx;
    double psi = atan2(s->sin_yaw * hx - s->cos_yaw * hy, s->cos_yaw * hx + s->sin_yaw * hy);
    double v = fabs(s->speed) > 0.3 ? fabs(s->speed) : 0.3;
    /* The command given now acts from the steering's dead time on and is what the lagging
     * steering approaches until the next command acts, one step later: aim it at the line's
     * curvature there (the slip follows the steering within about half a wheelbase). */
    double T = 1.0 / TD_SIM_HZ;
    double ahead = v * car->steer_delay_s + RL_SLIP_AHEAD * car->wheelbase_m;
    int fi = wrap_index(d, best + (int)lround(ahead / step));
    /* Gains for at least 1 m/s: merging onto the line from rest must not slam the wheels. */
    double vg = v > 1.0 ? v : 1.0;
    double k1 = RL_OMEGA * RL_OMEGA / (vg * vg), k2 = 2.0 * RL_ZETA * RL_OMEGA / vg;
    /* k1 e + k2 psi, with the lateral part as a heading to approach the line at, at most
     * RL_MAX_APPROACH: far off the line (a start beside it) the car steers back at a
     * bounded angle instead of at full lock. */
    double approach = atan(k1 / k2 * e);
    approach = approach > RL_MAX_APPROACH
                   ? RL_MAX_APPROACH
                   : (approach < -RL_MAX_APPROACH ? -RL_MAX_APPROACH : approach);
    double kappa = d->kappa[fi] - k2 * (psi + approach);
    double gain = car->steer_gain > 0 ? car->steer_gain : 1.0;
    /* The steering that curvature needs (car.c: kappa = 2 sin(beta) / L, tan(beta) = gain
     * tan(delta) / 2), then the command that brings the lagging steering there by the end
     * of the command's step: the lag inverted over one held step (a = e^(-T / tau)) from
     * the steering the car will have when the command starts to act. */
    double sb = 0.5 * kappa * car->wheelbase_m;
    sb = sb > 0.99 ? 0.99 : (sb < -0.99 ? -0.99 : sb);
    double u_want = 2.0 * sb / sqrt(1.0 - sb * sb) / gain;
    double u_cmd = u_want;
    if (car->steer_tau_s > 1e-6) {
        double a = exp(-T / car->steer_tau_s);
        u_cmd = (u_want - a * steer_after_delay(car, s_now)) / (1.0 - a);
    }
    double deg = atan(u_cmd) * (180.0 / M_PI);
    double m = car->steer_max_deg;
    *steer_deg = deg < -m ? -m : (deg > m ? m : deg);
    /* Speed: the line's where the command's step ends (the predicted pose), after the
     * dead time; the command that brings the lagging speed there by the end of the step
     * (the lag inverted over one held step, as the steering's; the car caps the
     * acceleration). */
    double sg = car->speed_gain > 0 ? car->speed_gain : 1.0;
    double da = v * car->speed_delay_s;
    int vi = wrap_index(d, best + (int)lround(da / step));
    double want = d->cfg.speed_scale * d->v[vi];
    if (car->speed_tau_s > 1e-6) {
        double av = exp(-T / car->speed_tau_s);
        want = (want - av * s_now->speed) / (1.0 - av);
    }
    *speed = want / sg;
    /* Merging onto the line (from a start on the centreline, after a reset): gently. */
    if (fabs(e) > RL_MERGE_M && *speed > RL_MERGE_SPEED)
        *speed = RL_MERGE_SPEED;
}

void td_driver_act(td_driver *d, const td_car_config *car, const td_car_state *s_now,
                   const td_params *p, double *steer_deg, double *speed)
{
    const td_track *t = d->track;
    td_car_state pred;
    predict(car, s_now, &pred);
    const td_car_state *s = &pred;
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
    int racing = d->cfg.kind == TD_DRIVER_RACING_LINE;
    if (racing && !(p && p->n_objects > 0)) {
        racing_act(d, car, s_now, s, sc, steer_deg, speed);
        return;
    }
    if (racing) {
        /* The line's speed profile is what the car can do: command it so the car's speed,
         * after its dead time and through its lag, lands on it (v + tau dv/dt). A short
         * look-ahead keeps the car on a line that touches the borders. */
        double sg = car->speed_gain > 0 ? car->speed_gain : 1.0;
        double ahead = sc + fabs(s->speed) * car->speed_delay_s, v1;
        line_at(d, ahead, &tx, &ty, &v, NULL);
        line_at(d, ahead + 0.1, &tx, &ty, &v1, NULL);
        double want = v + car->speed_tau_s * v * (v1 - v) / 0.1;
        la = RL_LOOKAHEAD_M + RL_LOOKAHEAD_S * fabs(s->speed);
        line_at(d, sc + la, &tx, &ty, NULL, &lat);
        v = want / sg;
    } else {
        /* Command the speed the line wants slightly ahead: the car's speed lags. */
        double vahead;
        line_at(d, sc + 0.1 + 0.15 * s->speed, &tx, &ty, &vahead, NULL);
        line_at(d, sc + la, &tx, &ty, &v, &lat);
        v = vahead < v ? vahead : v;
    }

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
    /* The arc to the target needs tan(delta) = 2 L side / ld^2 on the geometric bicycle; a
     * car whose curvature is steer_gain times that needs 1 / steer_gain more. */
    double gain = car->steer_gain > 0 ? car->steer_gain : 1.0;
    double delta = ld2 > 1e-9 ? atan(2.0 * L * side_ / ld2 / gain) : 0.0;
    if (fwd < 0) /* target behind: turn hard toward it */
        delta = side_ >= 0 ? 0.6 : -0.6;
    double deg = delta * (180.0 / M_PI);
    double m = car->steer_max_deg;
    *steer_deg = deg < -m ? -m : (deg > m ? m : deg);
    /* Off its line (out of a hairpin, after an avoidance) the car may be turning harder
     * than the line: no faster than the grip allows on the turn it makes or is told to
     * make, so it does not slide wide. */
    double turn = fabs(tan(*steer_deg * (M_PI / 180.0)));
    double now = fabs(s->steer_tan);
    turn = (now > turn ? now : turn) * gain / L;
    if (turn > 1e-6 && !racing) {
        double vt = sqrt(d->cfg.lat_accel_mps2 / turn);
        vt = vt > d->cfg.min_speed ? vt : d->cfg.min_speed;
        v = v < vt ? v : vt;
    }
    *speed = v;
}

/* The distance from (x, y) to the line near arc s (the line points within 1 m of it). */
static double line_distance(const td_driver *d, double s, double x, double y)
{
    double step = d->s[1] - d->s[0], best = INFINITY;
    int c = (int)(td_track_wrap_arc(d->track, s) / step);
    for (int k = -20; k <= 20; k++) {
        int i = wrap_index(d, c + k), j = wrap_index(d, c + k + 1);
        double ax = d->x[i], ay = d->y[i], bx = d->x[j] - ax, by = d->y[j] - ay;
        double l2 = bx * bx + by * by, u = l2 > 0 ? ((x - ax) * bx + (y - ay) * by) / l2 : 0;
        u = u < 0 ? 0 : (u > 1 ? 1 : u);
        double e = hypot(x - ax - u * bx, y - ay - u * by);
        best = e < best ? e : best;
    }
    return best;
}

int td_driver_race(const td_track *t, const td_sim_config *cfg, const td_driver_config *dc,
                   td_episode_info *info, double *max_err_m, td_err *err)
{
    td_vecenv env;
    td_vecenv_buffers b;
    int rc = td_vecenv_init(&env, cfg, t, 1, err);
    if (rc)
        return rc;
    if ((rc = td_vecenv_buffers_init(&b, &env, err)) != 0) {
        td_vecenv_free(&env);
        return rc;
    }
    td_vecenv_reset(&env);
    td_driver drv;
    if ((rc = td_driver_init(&drv, dc, td_vecenv_track(&env, 0), err)) != 0) {
        td_vecenv_buffers_free(&b);
        td_vecenv_free(&env);
        return rc;
    }
    double worst = 0;
    /* A race that cannot finish stops at the env's step limit. */
    while (!b.dones[0]) {
        double st, sp;
        const td_car_state *s = td_vecenv_car(&env, 0);
        td_driver_act(&drv, &env.cfg.car, s, &b.params[0], &st, &sp);
        b.actions[0] = (float)st;
        b.actions[1] = (float)sp;
        td_vecenv_step(&env);
        /* The distance from the line on flying laps (the first merges from the start). */
        if (!b.dones[0] && max_err_m && td_vecenv_current_episode(&env, 0)->laps >= 1) {
            const td_car_state *n = td_vecenv_car(&env, 0);
            td_track_proj pr;
            pr.seg = drv.cursor >= 0 ? drv.cursor : 0;
            td_track_project_from(td_vecenv_track(&env, 0), n->x, n->y, &pr);
            double e = line_distance(&drv, pr.arc, n->x, n->y);
            worst = e > worst ? e : worst;
        }
    }
    *info = *td_vecenv_last_episode(&env, 0);
    if (max_err_m)
        *max_err_m = worst;
    td_driver_free(&drv);
    td_vecenv_buffers_free(&b);
    td_vecenv_free(&env);
    return 0;
}
