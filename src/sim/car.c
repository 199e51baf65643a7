/*
 * car.c - the car: a kinematic bicycle whose speed and front-wheel angle follow the
 * commands through first-order lags, integrated with sub-steps; the model point, the wheel
 * centres and the oriented-rectangle overlap test used for collisions.
 *
 * The per-sub-step integration uses no libm call and no division: the heading is kept as a
 * unit vector and rotated by Taylor series of the (small, < 0.1 rad) sub-step yaw change,
 * and the slip angle comes from polynomials in the wheel angle. That keeps the state path
 * of the vector env at a few nanoseconds per sub-step.
 */
#include <math.h>
#include <string.h>

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
    cfg->grip_mps2 = 0.0;
}

void td__car_coeffs_init(td__car_coeffs *k, const td_car_config *cfg, double dt)
{
    int sub = cfg->substeps > 0 ? cfg->substeps : 1;
    sub = sub > TD__MAX_SUBSTEPS ? TD__MAX_SUBSTEPS : sub;
    k->substeps = sub;
    k->h = dt / sub;
    k->a_speed = cfg->speed_tau_s > 0 ? 1.0 - exp(-k->h / cfg->speed_tau_s) : 1.0;
    k->a_steer = cfg->steer_tau_s > 0 ? 1.0 - exp(-k->h / cfg->steer_tau_s) : 1.0;
    for (int i = 0; i <= sub; i++) {
        k->keep_speed[i] = pow(1.0 - k->a_speed, i + 1);
        k->keep_steer[i] = pow(1.0 - k->a_steer, i + 1);
    }
    k->inv_wheelbase = 1.0 / cfg->wheelbase_m;
    k->speed_min = cfg->speed_min;
    k->speed_max = cfg->speed_max;
    k->steer_max = cfg->steer_max_deg * (M_PI / 180.0);
    k->grip = cfg->grip_mps2 > 0 ? cfg->grip_mps2 : 0.0;
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

double td__clip(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/*
 * The slip angle beta at the middle of the wheelbase, tan(beta) = tan(delta) / 2, enters as
 * sin(beta) and cos(beta). For |delta| <= 0.53 rad (30.4 degrees) least-squares polynomials
 * in delta give both within 3e-11 with a handful of multiply-adds and no division; a car
 * configured to steer further uses the exact formulas.
 */
#define POLY_MAX_STEER 0.53

static inline void slip_poly(double d, double *sb, double *cb)
{
    double x = d * d;
    *sb = d * (0.5000000005028634 +
               x * (0.1041666165986774 +
                    x * (0.015886840257839024 +
                         x * (-0.0017766925845858475 +
                              x * (-0.0023926955018171085 + x * -0.0013880793781918931)))));
    *cb = 1.0000000000047202 +
          x * (-0.12500000163420905 +
               x * (-0.05989574117951159 +
                    x * (-0.020856975861760774 +
                         x * (-0.005156347164331938 +
                              x * (-0.0006890075155403168 + x * 0.0004717325725492128)))));
}

static void slip_exact(double d, double *sb, double *cb)
{
    double tb = 0.5 * tan(d);
    *cb = 1.0 / sqrt(1.0 + tb * tb);
    *sb = tb * *cb;
}

/*
 * One sub-step's motion in the frame of the car at its start: the chord of the arc (its
 * direction is the heading turned by t / 2 + beta, its length v h sin(t/2) / (t/2)) and the
 * rotation by t = 2 v sin(beta) h / L (the yaw rate at the middle of the wheelbase is
 * v cos(beta) tan(delta) / L). sin and cos of t/2 by Taylor series (t < 0.1 rad);
 * multiplications by reciprocals because the compiler may not turn x / 6 into one.
 */
#define MOTION_BODY                                                                                \
    T t = v * sb * two_h_over_l;                                                                   \
    T hd = 0.5 * t, hd2 = hd * hd;                                                                 \
    T sh = hd * (1.0 - hd2 * (1.0 / 6.0) * (1.0 - hd2 * (1.0 / 20.0)));                            \
    T ch = 1.0 - hd2 * 0.5 * (1.0 - hd2 * (1.0 / 12.0) * (1.0 - hd2 * (1.0 / 30.0)));              \
    T len = v * h * (1.0 - t * t * (1.0 / 24.0));                                                  \
    *mx = len * (ch * cb - sh * sb);                                                               \
    *my = len * (sh * cb + ch * sb);                                                               \
    *fc = ch * ch - sh * sh;                                                                       \
    *fs = 2.0 * sh * ch;                                                                           \
    *dth = t;

static inline void substep_motion(double v, double sb, double cb, double h, double two_h_over_l,
                                  double *mx, double *my, double *fc, double *fs, double *dth)
{
    typedef double T;
    MOTION_BODY
}

typedef double v2d __attribute__((vector_size(16)));

static inline void motion2(v2d v, v2d sb, v2d cb, double h, double two_h_over_l, v2d *mx, v2d *my,
                           v2d *fc, v2d *fs, v2d *dth)
{
    typedef v2d T;
    MOTION_BODY
}

static inline void slip_poly2(v2d d, v2d *sb, v2d *cb)
{
    v2d x = d * d;
    *sb = d * (0.5000000005028634 +
               x * (0.1041666165986774 +
                    x * (0.015886840257839024 +
                         x * (-0.0017766925845858475 +
                              x * (-0.0023926955018171085 + x * -0.0013880793781918931)))));
    *cb = 1.0000000000047202 +
          x * (-0.12500000163420905 +
               x * (-0.05989574117951159 +
                    x * (-0.020856975861760774 +
                         x * (-0.005156347164331938 +
                              x * (-0.0006890075155403168 + x * 0.0004717325725492128)))));
}

void td__car_step_fast(const td__car_coeffs *k, td_car_state *st, double steer_cmd_rad,
                       double speed_cmd)
{
    double vc = td__clip(speed_cmd, k->speed_min, k->speed_max);
    double dc = td__clip(steer_cmd_rad, -k->steer_max, k->steer_max);
    double v0 = st->speed - vc, d0 = st->steer - dc, h = k->h;
    double two_h_over_l = 2.0 * h * k->inv_wheelbase;
    int n = k->substeps;
    int exact = k->steer_max > POLY_MAX_STEER;
    /* Per sub-step motion in the car's frame at the sub-step's start: the chord (length
     * times direction) and the rotation. The first-order lags are in closed form (exact
     * for the discrete lag), so these do not depend on each other and the loop vectorizes;
     * only the second loop carries the heading from one sub-step to the next. */
    double mx[TD__MAX_SUBSTEPS + 1], my[TD__MAX_SUBSTEPS + 1], fc[TD__MAX_SUBSTEPS + 1],
        fs[TD__MAX_SUBSTEPS + 1], dth[TD__MAX_SUBSTEPS + 1];
    if (exact || k->grip > 0) {
        for (int i = 0; i < n; i++) {
            double v = vc + v0 * k->keep_speed[i];
            double d = dc + d0 * k->keep_steer[i];
            double sb, cb;
            if (exact)
                slip_exact(d, &sb, &cb);
            else
                slip_poly(d, &sb, &cb);
            /* Limited grip: the path curvature 2 sin(beta) / L needs v^2 times it of
             * lateral acceleration; beyond the grip the car runs wide (the turn rate and
             * the slip shrink together). */
            double lat = v * v * fabs(2.0 * sb * k->inv_wheelbase);
            if (k->grip > 0 && lat > k->grip) {
                double f = k->grip / lat;
                sb *= f;
                cb = sqrt(1.0 - sb * sb);
            }
            substep_motion(v, sb, cb, h, two_h_over_l, &mx[i], &my[i], &fc[i], &fs[i], &dth[i]);
        }
    } else {
        /* Two sub-steps at a time in SSE2 lanes (GCC vector extension); the coefficient
         * tables are padded, so an odd count computes one unused lane. */
        for (int i = 0; i < n; i += 2) {
            v2d v, d, sb, cb, omx, omy, ofc, ofs, odth;
            memcpy(&v, &k->keep_speed[i], sizeof(v));
            memcpy(&d, &k->keep_steer[i], sizeof(d));
            v = vc + v0 * v;
            d = dc + d0 * d;
            slip_poly2(d, &sb, &cb);
            motion2(v, sb, cb, h, two_h_over_l, &omx, &omy, &ofc, &ofs, &odth);
            memcpy(&mx[i], &omx, sizeof(omx));
            memcpy(&my[i], &omy, sizeof(omy));
            memcpy(&fc[i], &ofc, sizeof(ofc));
            memcpy(&fs[i], &ofs, sizeof(ofs));
            memcpy(&dth[i], &odth, sizeof(odth));
        }
    }
    double x = st->x, y = st->y, c = st->cos_yaw, s = st->sin_yaw, yaw = st->yaw;
    for (int i = 0; i < n; i++) {
        x += c * mx[i] - s * my[i];
        y += s * mx[i] + c * my[i];
        double cn = c * fc[i] - s * fs[i];
        s = s * fc[i] + c * fs[i];
        c = cn;
        yaw += dth[i];
    }
    /* Renormalize once per step: the Taylor terms are accurate to ~1e-11 per sub-step. */
    double inv = 1.0 / sqrt(c * c + s * s);
    st->cos_yaw = c * inv;
    st->sin_yaw = s * inv;
    st->yaw = td__wrap_pi(yaw);
    st->x = x;
    st->y = y;
    st->speed = vc + v0 * k->keep_speed[n - 1];
    st->steer = dc + d0 * k->keep_steer[n - 1];
}

void td_car_step(const td_car_config *cfg, td_car_state *s, double steer_cmd_deg, double speed_cmd,
                 double dt)
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
