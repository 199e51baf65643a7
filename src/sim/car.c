/*
 * car.c - the car: a kinematic bicycle whose speed and front-wheel angle follow the
 * commands through first-order lags, integrated with sub-steps; the model point, the wheel
 * centres and the oriented-rectangle overlap test used for collisions.
 *
 * The per-sub-step integration uses no libm call: the heading is kept as a unit vector and
 * rotated by Taylor series of the (small, < 0.1 rad) sub-step yaw change, and tan() of the
 * wheel angle is a Pade approximant exact to 1e-9 over +-30 degrees. That keeps the state
 * path of the vector env at a few nanoseconds per sub-step.
 */
#include <math.h>

#include "sim/sim_internal.h"

void td_car_config_default(td_car_config *cfg)
{
    cfg->wheelbase_m = TD_CAR_WHEELBASE_M;
    cfg->track_m = TD_CAR_TRACK_M;
    cfg->model_point_m = TD_CAR_MODEL_POINT_M;
    cfg->length_m = TD_CAR_LENGTH_M;
    cfg->width_m = TD_CAR_WIDTH_M;
    /* DeepRacer's car (model version >= 5) has velocity-controlled wheels and no explicit
     * acceleration limit: Gazebo's joint controllers reach a commanded wheel speed within a
     * few physics ticks and the steering hinge within a couple of frames. Short lags keep
     * that near-kinematic feel while still making actions carry over between steps. */
    cfg->speed_tau_s = 0.1;
    cfg->steer_tau_s = 0.05;
    cfg->substeps = 10;
    cfg->speed_min = 0.1;
    cfg->speed_max = 4.0;
    cfg->steer_max_deg = 30.0;
}

void td__car_coeffs_init(td__car_coeffs *k, const td_car_config *cfg, double dt)
{
    int sub = cfg->substeps > 0 ? cfg->substeps : 1;
    k->substeps = sub;
    k->h = dt / sub;
    k->a_speed = cfg->speed_tau_s > 0 ? 1.0 - exp(-k->h / cfg->speed_tau_s) : 1.0;
    k->a_steer = cfg->steer_tau_s > 0 ? 1.0 - exp(-k->h / cfg->steer_tau_s) : 1.0;
    k->inv_wheelbase = 1.0 / cfg->wheelbase_m;
    k->speed_min = cfg->speed_min;
    k->speed_max = cfg->speed_max;
    k->steer_max = cfg->steer_max_deg * (M_PI / 180.0);
}

void td_car_place(td_car_state *s, double x, double y, double yaw)
{
    s->x = x;
    s->y = y;
    s->yaw = td__wrap_pi(yaw);
    s->cos_yaw = cos(s->yaw);
    s->sin_yaw = sin(s->yaw);
    s->speed = 0.0;
    s->steer = 0.0;
}

/* tan(x) for |x| <= ~0.6 by the [5/4] Pade approximant (error < 1e-9 at 30 degrees). */
static inline double pade_tan(double x)
{
    double x2 = x * x;
    return x * (945.0 - 105.0 * x2 + x2 * x2) / (945.0 - 420.0 * x2 + 15.0 * x2 * x2);
}

double td__clip(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void td__car_step_fast(const td__car_coeffs *k, td_car_state *st, double steer_cmd_rad,
                       double speed_cmd)
{
    double vc = td__clip(speed_cmd, k->speed_min, k->speed_max);
    double dc = td__clip(steer_cmd_rad, -k->steer_max, k->steer_max);
    double x = st->x, y = st->y, c = st->cos_yaw, s = st->sin_yaw, yaw = st->yaw;
    double v = st->speed, d = st->steer, h = k->h;

    for (int i = 0; i < k->substeps; i++) {
        v += (vc - v) * k->a_speed;
        d += (dc - d) * k->a_steer;
        /* Reference point at the middle of the wheelbase: slip angle beta with
         * tan(beta) = tan(delta) / 2, yaw rate v cos(beta) tan(delta) / L. */
        double td = pade_tan(d);
        double tb = 0.5 * td;
        double cb = 1.0 / sqrt(1.0 + tb * tb);
        double sb = tb * cb;
        double dth = v * cb * td * k->inv_wheelbase * h;
        double hd = 0.5 * dth, hd2 = hd * hd;
        double sh = hd * (1.0 - hd2 / 6.0 * (1.0 - hd2 / 20.0));
        double ch = 1.0 - hd2 / 2.0 * (1.0 - hd2 / 12.0 * (1.0 - hd2 / 30.0));
        /* Move along the chord of the arc: direction at mid-rotation plus beta. */
        double cm = c * ch - s * sh, sm = s * ch + c * sh;
        double dx = cm * cb - sm * sb, dy = sm * cb + cm * sb;
        double len = v * h * (1.0 - dth * dth / 24.0);
        x += len * dx;
        y += len * dy;
        c = cm * ch - sm * sh;
        s = sm * ch + cm * sh;
        yaw += dth;
    }
    /* Renormalize once per step: the Taylor terms are accurate to ~1e-11 per sub-step. */
    double inv = 1.0 / sqrt(c * c + s * s);
    st->cos_yaw = c * inv;
    st->sin_yaw = s * inv;
    st->yaw = td__wrap_pi(yaw);
    st->x = x;
    st->y = y;
    st->speed = v;
    st->steer = d;
}

void td_car_step(const td_car_config *cfg, td_car_state *s, double steer_cmd_deg,
                 double speed_cmd, double dt)
{
    td__car_coeffs k;
    td__car_coeffs_init(&k, cfg, dt);
    td__car_step_fast(&k, s, steer_cmd_deg * (M_PI / 180.0), speed_cmd);
}

void td_car_model_point(const td_car_config *cfg, const td_car_state *s, double *x, double *y)
{
    *x = s->x + cfg->model_point_m * s->cos_yaw;
    *y = s->y + cfg->model_point_m * s->sin_yaw;
}

void td_car_wheels(const td_car_config *cfg, const td_car_state *s, double out[4][2])
{
    double fx = 0.5 * cfg->wheelbase_m * s->cos_yaw, fy = 0.5 * cfg->wheelbase_m * s->sin_yaw;
    double lx = -0.5 * cfg->track_m * s->sin_yaw, ly = 0.5 * cfg->track_m * s->cos_yaw;
    out[0][0] = s->x + fx + lx; /* front left */
    out[0][1] = s->y + fy + ly;
    out[1][0] = s->x + fx - lx; /* front right */
    out[1][1] = s->y + fy - ly;
    out[2][0] = s->x - fx + lx; /* rear left */
    out[2][1] = s->y - fy + ly;
    out[3][0] = s->x - fx - lx; /* rear right */
    out[3][1] = s->y - fy - ly;
}

/* ---- separating axis test ------------------------------------------------------------- */

/* Half extents of box b projected on the unit axis (ax, ay). */
static double box_radius(const td_box *b, double c, double s, double ax, double ay)
{
    return 0.5 * b->length * fabs(c * ax + s * ay) + 0.5 * b->width * fabs(-s * ax + c * ay);
}

int td_box_overlap(const td_box *a, const td_box *b)
{
    double dx = b->x - a->x, dy = b->y - a->y;
    /* Quick reject by bounding circles before any trigonometry. */
    double ra2 = 0.25 * (a->length * a->length + a->width * a->width);
    double rb2 = 0.25 * (b->length * b->length + b->width * b->width);
    double d2 = dx * dx + dy * dy;
    if (d2 > ra2 + rb2 + 2.0 * sqrt(ra2 * rb2))
        return 0;
    double ca = cos(a->yaw), sa = sin(a->yaw), cb = cos(b->yaw), sb = sin(b->yaw);
    double axes[4][2] = {{ca, sa}, {-sa, ca}, {cb, sb}, {-sb, cb}};
    for (int i = 0; i < 4; i++) {
        double ax = axes[i][0], ay = axes[i][1];
        double dist = fabs(dx * ax + dy * ay);
        if (dist > box_radius(a, ca, sa, ax, ay) + box_radius(b, cb, sb, ax, ay))
            return 0;
    }
    return 1;
}
