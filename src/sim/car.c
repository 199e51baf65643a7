/*
 * car.c - the car: a kinematic bicycle whose speed and steering follow the commands through
 * dead times and first-order lags (the speed also through an acceleration limit), whose
 * path curvature is a gain times the geometric bicycle's, and whose slip angle (the direction
 * of travel less the heading) follows the steering only as fast as a lateral grip limit
 * lets the direction of travel turn; the presets of DeepRacer's physics versions; car files;
 * the model point, the wheel centres and the oriented-rectangle overlap test used for
 * collisions.
 *
 * Per sub-step the integration uses no libm call: the heading is kept as a unit vector and
 * rotated by Taylor series of the (small) sub-step turns, the slip angle the steering asks
 * for comes from its tangent (one square root, a Taylor series of atan), and only a sub-step
 * the grip clips needs a Taylor series for the sine and cosine of its slip. That keeps the
 * state path of the vector env at a few nanoseconds per sub-step.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"
#include "trackday/json.h"

/* ---- presets ------------------------------------------------------------------------------ */

typedef struct car_preset {
    const char *name;
    double speed_tau_s, steer_tau_s, speed_delay_s, steer_delay_s;
    double steer_gain, speed_gain, accel_max_mps2, grip_mps2;
} car_preset;

/*
 * The DeepRacer presets are fitted with `trackday calibrate` to DeepRacer's public sample
 * logs (deepracer-utils' tests/deepracer/logs); docs/sim.md gives the data, the command and
 * the open-loop errors before and after. Versions 1 and 2 ran the dynamic car with another
 * wheel radius in the speed conversion (0.1 m and 0.0277 m against 0.035 m), which scales
 * the speed a command gives; no public log of them exists, so they are the dynamic preset
 * with that scale.
 */
static const car_preset PRESETS[] = {
    /* name, speed_tau_s, steer_tau_s, speed_delay_s, steer_delay_s, steer_gain, speed_gain,
     * accel_max_mps2, grip_mps2 */
    {"deepracer", 0.046, 0.155, 0.0, 0.037, 0.608, 1.013, 8.01, 4.61},
    {"deepracer-dynamic", 0.209, 0.493, 0.026, 0.0, 0.679, 0.987, 3.22, 2.45},
    {"deepracer-v2", 0.209, 0.493, 0.026, 0.0, 0.679, 0.987 * 0.035 / 0.0277, 3.22, 2.45},
    {"deepracer-v1", 0.209, 0.493, 0.026, 0.0, 0.679, 0.987 * 0.035 / 0.1, 3.22, 2.45},
    {"ideal", 0.1, 0.05, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0},
};
#define N_PRESETS ((int)(sizeof(PRESETS) / sizeof(PRESETS[0])))

const char *const td_car_preset_names[] = {
    "deepracer", "deepracer-dynamic", "deepracer-v2", "deepracer-v1", "ideal", NULL};

int td_car_preset(td_car_config *cfg, const char *name)
{
    const car_preset *p = NULL;
    for (int i = 0; i < N_PRESETS; i++)
        if (name && strcmp(name, PRESETS[i].name) == 0)
            p = &PRESETS[i];
    if (!p)
        return TD_EINVAL;
    cfg->wheelbase_m = TD_CAR_WHEELBASE_M;
    cfg->track_m = TD_CAR_TRACK_M;
    cfg->model_point_m = TD_CAR_MODEL_POINT_M;
    cfg->length_m = TD_CAR_LENGTH_M;
    cfg->width_m = TD_CAR_WIDTH_M;
    cfg->substeps = 10;
    cfg->speed_min = 0.1;
    cfg->speed_max = 4.0;
    cfg->steer_max_deg = 30.0;
    cfg->speed_tau_s = p->speed_tau_s;
    cfg->steer_tau_s = p->steer_tau_s;
    cfg->speed_delay_s = p->speed_delay_s;
    cfg->steer_delay_s = p->steer_delay_s;
    cfg->steer_gain = p->steer_gain;
    cfg->speed_gain = p->speed_gain;
    cfg->accel_max_mps2 = p->accel_max_mps2;
    cfg->grip_mps2 = p->grip_mps2;
    return 0;
}

const char *td_car_preset_for_version(int version)
{
    /* DeepRacer: version >= 5 launches the kinematic car (racecar.launch.py), lower versions
     * the dynamic one; the wheel radius of the speed conversion is 0.035 m from version 3
     * on, 0.0277 m in version 2 and 0.1 m in version 1 (agent_ctrl/utils.py). */
    if (version >= 5)
        return "deepracer";
    if (version >= 3)
        return "deepracer-dynamic";
    return version == 2 ? "deepracer-v2" : "deepracer-v1";
}

void td_car_config_default(td_car_config *cfg)
{
    td_car_preset(cfg, "deepracer");
}

/* ---- car files ------------------------------------------------------------------------------ */

typedef struct car_field {
    const char *key;
    size_t off;
    double lo, hi;
} car_field;

#define CF(k, lo, hi)                                                                              \
    {                                                                                              \
#k, offsetof(td_car_config, k), lo, hi                                                     \
    }
static const car_field FIELDS[] = {
    CF(wheelbase_m, 0.05, 2.0),
    CF(track_m, 0.02, 2.0),
    CF(model_point_m, -1.0, 1.0),
    CF(length_m, 0.05, 5.0),
    CF(width_m, 0.05, 5.0),
    CF(speed_tau_s, 0.0, 5.0),
    CF(steer_tau_s, 0.0, 5.0),
    CF(speed_delay_s, 0.0, TD_CAR_MAX_DELAY_S),
    CF(steer_delay_s, 0.0, TD_CAR_MAX_DELAY_S),
    CF(steer_gain, 0.05, 5.0),
    CF(speed_gain, 0.05, 5.0),
    CF(accel_max_mps2, 0.0, 1000.0),
    CF(speed_min, 0.0, 100.0),
    CF(speed_max, 0.01, 100.0),
    CF(steer_max_deg, 1.0, 60.0),
    CF(grip_mps2, 0.0, 1000.0),
};
#undef CF
#define N_FIELDS ((int)(sizeof(FIELDS) / sizeof(FIELDS[0])))

int td_car_config_from_json(td_car_config *cfg, const json_t *obj, const char *what, td_err *err)
{
    if (!json_is_object(obj))
        return td_err_set(err, TD_EFORMAT, "%s: a car must be a JSON object", what);
    const char *preset = "deepracer";
    int rc = td_json_get_string(obj, "preset", preset, &preset, what, err);
    if (rc)
        return rc;
    td_car_config c;
    if (td_car_preset(&c, preset))
        return td_err_set(err, TD_EINVAL,
                          "%s: \"preset\" is \"%s\", must be deepracer, deepracer-dynamic, "
                          "deepracer-v2, deepracer-v1 or ideal",
                          what, preset);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        (void)val;
        if (strcmp(key, "preset") == 0 || strcmp(key, "substeps") == 0)
            continue;
        int known = 0;
        for (int i = 0; i < N_FIELDS; i++)
            known |= strcmp(key, FIELDS[i].key) == 0;
        if (!known)
            return td_err_set(err, TD_EINVAL, "%s: unknown key \"%s\" in a car", what, key);
    }
    for (int i = 0; i < N_FIELDS; i++) {
        double *f = (double *)((char *)&c + FIELDS[i].off);
        if ((rc = td_json_get_number(obj, FIELDS[i].key, *f, FIELDS[i].lo, FIELDS[i].hi, f, what,
                                     err)) != 0)
            return rc;
    }
    long sub = c.substeps;
    if ((rc = td_json_get_int(obj, "substeps", sub, 1, TD__MAX_SUBSTEPS, &sub, what, err)) != 0)
        return rc;
    c.substeps = (int)sub;
    if (c.speed_min > c.speed_max)
        return td_err_set(err, TD_ERANGE, "%s: speed_min %g is above speed_max %g", what,
                          c.speed_min, c.speed_max);
    *cfg = c;
    return 0;
}

int td_car_config_load(td_car_config *cfg, const char *path, td_err *err)
{
    json_t *root;
    int rc = td_json_load_file(path, &root, err);
    if (rc)
        return rc;
    rc = td_car_config_from_json(cfg, root, path, err);
    json_decref(root);
    return rc;
}

json_t *td_car_config_to_json(const td_car_config *cfg)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (int i = 0; i < N_FIELDS; i++) {
        double v = *(const double *)((const char *)cfg + FIELDS[i].off);
        /* Six significant digits: a car file is read by people. */
        char buf[32];
        snprintf(buf, sizeof(buf), "%.6g", v);
        json_object_set_new(o, FIELDS[i].key, json_real(strtod(buf, NULL)));
    }
    json_object_set_new(o, "substeps", json_integer(cfg->substeps));
    return o;
}

int td_car_config_resolve(td_car_config *cfg, const char *arg, td_err *err)
{
    if (td_car_preset(cfg, arg) == 0)
        return 0;
    if (!strchr(arg, '/') && !strstr(arg, ".json"))
        return td_err_set(err, TD_EINVAL,
                          "car '%s' is neither a preset (deepracer, deepracer-dynamic, "
                          "deepracer-v2, deepracer-v1, ideal) nor a .json car file",
                          arg);
    return td_car_config_load(cfg, arg, err);
}

/* ---- integration ---------------------------------------------------------------------------- */

/*
 * What a sub-step follows: the sub-step covers [a, b) seconds from the step's start, shifted
 * back by the delay. lens[j] is the length of the step command j was given for (0 = this
 * step's). *src is the command at the sub-step's end (TD_CAR_HIST: none yet) and *old_w the
 * fraction of the sub-step the command before it still covers.
 */
static void cover(const double *lens, double a, double b, unsigned char *src, double *old_w)
{
    int j = 0;
    double start = 0; /* command j's interval starts here (command 0's runs on) */
    while (b <= start + 1e-12 && j < TD_CAR_HIST) {
        j++;
        start -= lens[j];
    }
    *src = (unsigned char)j;
    double w = a < start && b > a ? (start - a) / (b - a) : 0.0;
    *old_w = j < TD_CAR_HIST ? (w < 1 ? w : 1) : 0.0;
}

/* The sources of every sub-step of a step of k->h sub-steps for both delays. */
static void cover_all(const td__car_coeffs *k, const td_car_config *cfg, const double *lens,
                      unsigned char *ssrc, double *sw, unsigned char *vsrc, double *vw)
{
    double ds = td__clip(cfg->steer_delay_s, 0, TD_CAR_MAX_DELAY_S);
    double dv = td__clip(cfg->speed_delay_s, 0, TD_CAR_MAX_DELAY_S);
    for (int i = 0; i < k->substeps; i++) {
        double a = i * k->h, b = (i + 1) * k->h;
        cover(lens, a - ds, b - ds, &ssrc[i], &sw[i]);
        cover(lens, a - dv, b - dv, &vsrc[i], &vw[i]);
    }
}

void td__car_coeffs_init(td__car_coeffs *k, const td_car_config *cfg, double dt)
{
    int sub = cfg->substeps > 0 ? cfg->substeps : 1;
    sub = sub > TD__MAX_SUBSTEPS ? TD__MAX_SUBSTEPS : sub;
    k->substeps = sub;
    k->dt = dt;
    k->h = dt / sub;
    k->a_speed = cfg->speed_tau_s > 0 ? 1.0 - exp(-k->h / cfg->speed_tau_s) : 1.0;
    k->a_steer = cfg->steer_tau_s > 0 ? 1.0 - exp(-k->h / cfg->steer_tau_s) : 1.0;
    k->inv_wheelbase = 1.0 / cfg->wheelbase_m;
    k->half_gain = 0.5 * (cfg->steer_gain > 0 ? cfg->steer_gain : 1.0);
    k->speed_gain = cfg->speed_gain > 0 ? cfg->speed_gain : 1.0;
    k->accel_step = cfg->accel_max_mps2 > 0 ? cfg->accel_max_mps2 * k->h : 0.0;
    k->speed_min = cfg->speed_min;
    k->speed_max = cfg->speed_max;
    k->steer_max = cfg->steer_max_deg * (M_PI / 180.0);
    k->tan_steer_max = tan(k->steer_max);
    k->grip = cfg->grip_mps2 > 0 ? cfg->grip_mps2 : 0.0;
    double lens[TD_CAR_HIST + 1];
    for (int j = 0; j <= TD_CAR_HIST; j++)
        lens[j] = dt;
    cover_all(k, cfg, lens, k->steer_src, k->steer_old_w, k->speed_src, k->speed_old_w);
}

void td_car_place(td_car_state *s, double x, double y, double yaw)
{
    memset(s, 0, sizeof(*s));
    s->x = x;
    s->y = y;
    s->yaw = td__wrap_pi(yaw);
    s->cos_yaw = cos(s->yaw);
    s->sin_yaw = sin(s->yaw);
}

double td__clip(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Records a command as the newest of the car's pending ones. */
static void push_command(const td__car_coeffs *k, td_car_state *st, double steer_cmd_rad,
                         double speed_cmd, double dt)
{
    int n = st->n_cmd < TD_CAR_HIST ? st->n_cmd + 1 : TD_CAR_HIST;
    for (int j = n - 1; j > 0; j--) {
        st->cmd_tan[j] = st->cmd_tan[j - 1];
        st->cmd_speed[j] = st->cmd_speed[j - 1];
        st->cmd_dt[j] = st->cmd_dt[j - 1];
    }
    double d = td__clip(steer_cmd_rad, -k->steer_max, k->steer_max);
    /* tan by its odd Taylor series would not do at 30 degrees; one libm call per step. */
    st->cmd_tan[0] = tan(d);
    st->cmd_speed[0] = td__clip(speed_cmd, k->speed_min, k->speed_max) * k->speed_gain;
    st->cmd_dt[0] = dt;
    st->n_cmd = n;
}

/*
 * sin and cos of an angle |a| < 1.5 rad without libm: Taylor series of a / 2 (to the 9th
 * and 10th power, error < 1e-9 at 1.5 rad, < 1e-16 below 0.3), then the double angle.
 */
static inline void sincos_series(double a, double *s, double *c)
{
    double x = 0.5 * a, x2 = x * x;
    double sx = x * (1.0 - x2 * (1.0 / 6.0) *
                               (1.0 - x2 * (1.0 / 20.0) *
                                          (1.0 - x2 * (1.0 / 42.0) * (1.0 - x2 * (1.0 / 72.0)))));
    double cx =
        1.0 - x2 * 0.5 *
                  (1.0 - x2 * (1.0 / 12.0) *
                             (1.0 - x2 * (1.0 / 30.0) *
                                        (1.0 - x2 * (1.0 / 56.0) * (1.0 - x2 * (1.0 / 90.0)))));
    *s = 2.0 * sx * cx;
    *c = cx * cx - sx * sx;
}

/*
 * The angle (within +-90 degrees) of sine sn and cosine cs: 2 atan(w) with w = tan(angle / 2)
 * = sn / (1 + cs), by the odd Taylor series of atan to the 13th power (error < 1e-10 for
 * |w| <= 0.25, that is |angle| < 28 degrees: every preset's slip angles). Larger angles
 * halve w again (car files steering beyond that).
 */
static inline double atan_series(double sn, double cs)
{
    double w = sn / (1.0 + cs), m = 2.0;
    if (w > 0.25 || w < -0.25) {
        do {
            w = w / (1.0 + sqrt(1.0 + w * w));
            m *= 2.0;
        } while (w > 0.25 || w < -0.25);
    }
    double w2 = w * w;
    double p = 1.0 / 13.0;
    p = 1.0 / 11.0 - w2 * p;
    p = 1.0 / 9.0 - w2 * p;
    p = 1.0 / 7.0 - w2 * p;
    p = 1.0 / 5.0 - w2 * p;
    p = 1.0 / 3.0 - w2 * p;
    return m * w * (1.0 - w2 * p);
}

/*
 * One sub-step's motion in the frame of the car at its start. The car enters it moving at
 * the slip angle b0 (sin sb, cos cb) from its heading; during it the heading turns by t
 * (the yaw rate of the entry slip, 2 v sin(b0) / L) and the direction of travel by d (t plus
 * the slip's change), uniformly: the path is an arc whose chord leaves at b0 + d / 2 with
 * length v h sin(d/2) / (d/2). Out: the chord (mx, my) and the heading's rotation (fc, fs).
 * Taylor series of d / 2 and t / 2 (the direction turns at most grip h / v per sub-step, or
 * by the slip's full swing, < 0.6 rad); multiplications by reciprocals because the compiler
 * may not turn x / 6 into one.
 */
static inline void substep_motion(double v, double sb, double cb, double h, double d, double t,
                                  double *mx, double *my, double *fc, double *fs)
{
    double hd = 0.5 * d, hd2 = hd * hd;
    double sinc = 1.0 - hd2 * (1.0 / 6.0) * (1.0 - hd2 * (1.0 / 20.0) * (1.0 - hd2 * (1.0 / 42.0)));
    double sh = hd * sinc;
    double ch = 1.0 - hd2 * 0.5 *
                          (1.0 - hd2 * (1.0 / 12.0) *
                                     (1.0 - hd2 * (1.0 / 30.0) * (1.0 - hd2 * (1.0 / 56.0))));
    double len = v * h * sinc;
    *mx = len * (ch * cb - sh * sb);
    *my = len * (sh * cb + ch * sb);
    double ht = 0.5 * t, ht2 = ht * ht;
    double st = ht * (1.0 - ht2 * (1.0 / 6.0) * (1.0 - ht2 * (1.0 / 20.0)));
    double ct = 1.0 - ht2 * 0.5 * (1.0 - ht2 * (1.0 / 12.0) * (1.0 - ht2 * (1.0 / 30.0)));
    *fc = ct * ct - st * st;
    *fs = 2.0 * st * ct;
}

/*
 * The step after the command is pushed: ssrc / vsrc say which pending command each
 * sub-step's steering and speed follow. move = 0 updates the response only (the speed, the
 * steering and the slip angle evolve as they would while moving; the pose stays).
 */
static void step_core(const td__car_coeffs *k, td_car_state *st, const unsigned char *ssrc,
                      const double *sw, const unsigned char *vsrc, const double *vw, int move)
{
    int n = k->substeps;
    double h = k->h, two_h_over_l = 2.0 * h * k->inv_wheelbase;
    double vs[TD__MAX_SUBSTEPS], us[TD__MAX_SUBSTEPS];
    double v = st->speed, u = st->steer_tan;
    /* The lags: a dependent chain of one multiply-add each. */
    for (int i = 0; i < n; i++) {
        int js = ssrc[i], jv = vsrc[i], nc = st->n_cmd;
        double ut = js < nc ? st->cmd_tan[js] : 0.0;
        double vt = jv < nc ? st->cmd_speed[jv] : 0.0;
        if (sw[i] > 0)
            ut += sw[i] * ((js + 1 < nc ? st->cmd_tan[js + 1] : 0.0) - ut);
        if (vw[i] > 0)
            vt += vw[i] * ((jv + 1 < nc ? st->cmd_speed[jv + 1] : 0.0) - vt);
        u += k->a_steer * (ut - u);
        double dv = k->a_speed * (vt - v);
        if (k->accel_step > 0)
            dv = td__clip(dv, -k->accel_step, k->accel_step);
        v += dv;
        vs[i] = v;
        us[i] = u;
    }
    st->speed = v;
    st->steer_tan = u;
    st->steer = atan(u);
    /*
     * The slip angle each sub-step's steering asks for (tan(beta) = gain tan(delta) / 2), its
     * sine and cosine, and the heading's turn per unit sine of the slip, 2 v h / L (times
     * sin(b0) it is the sub-step's turn below). These do not depend on each other.
     */
    double bt[TD__MAX_SUBSTEPS], sbt[TD__MAX_SUBSTEPS], cbt[TD__MAX_SUBSTEPS];
    double turn_per_sin[TD__MAX_SUBSTEPS];
    for (int i = 0; i < n; i++) {
        double tb = k->half_gain * us[i];
        cbt[i] = 1.0 / sqrt(1.0 + tb * tb);
        sbt[i] = tb * cbt[i];
        bt[i] = atan_series(sbt[i], cbt[i]);
        turn_per_sin[i] = vs[i] * two_h_over_l;
    }
    double grip_h = k->grip * h;
    /*
     * The slip chain. In sub-step i the heading turns by t = 2 v h sin(b0) / L from the slip
     * b0 the car enters with, and the direction of travel (heading + slip) by t + b1 - b0:
     * the path's lateral acceleration is v times that over h. The new slip b1 is the one asked
     * for, clipped so the direction turns by at most grip h / v either way. When the heading's
     * turn alone exceeds that (a steady turn too fast for the grip) the slip falls: the car runs
     * wide, its yaw rate and slip shrinking together to the grip's v^2 2 sin(b) / L = grip.
     * Only a clipped sub-step needs the series for sin and cos of b1.
     */
    double b0 = st->slip, sb0, cb0;
    sincos_series(b0, &sb0, &cb0);
    double sbs[TD__MAX_SUBSTEPS], cbs[TD__MAX_SUBSTEPS], dd[TD__MAX_SUBSTEPS];
    double dyaw[TD__MAX_SUBSTEPS]; /* the heading's turn in each sub-step, rad */
    for (int i = 0; i < n; i++) {
        double t = turn_per_sin[i] * sb0;
        double b1 = bt[i], sb1 = sbt[i], cb1 = cbt[i], turn = t + b1 - b0;
        double av = vs[i] < 0 ? -vs[i] : vs[i];
        if (grip_h > 0 && av * (turn < 0 ? -turn : turn) > grip_h) {
            double lim = grip_h / av;
            b1 = b0 - t + (turn < 0 ? -lim : lim);
            sincos_series(b1, &sb1, &cb1);
        }
        sbs[i] = sb0;
        cbs[i] = cb0;
        dyaw[i] = t;
        dd[i] = t + b1 - b0;
        b0 = b1;
        sb0 = sb1;
        cb0 = cb1;
    }
    st->slip = b0;
    if (!move)
        return;
    /* Per sub-step motion in the car's frame at the sub-step's start: the chord (length
     * times direction) and the rotation. These do not depend on each other; only the last
     * loop carries the heading from one sub-step to the next. */
    double mx[TD__MAX_SUBSTEPS], my[TD__MAX_SUBSTEPS], fc[TD__MAX_SUBSTEPS], fs[TD__MAX_SUBSTEPS];
    for (int i = 0; i < n; i++)
        substep_motion(vs[i], sbs[i], cbs[i], h, dd[i], dyaw[i], &mx[i], &my[i], &fc[i], &fs[i]);
    double x = st->x, y = st->y, c = st->cos_yaw, s = st->sin_yaw, yaw = st->yaw;
    for (int i = 0; i < n; i++) {
        x += c * mx[i] - s * my[i];
        y += s * mx[i] + c * my[i];
        double cn = c * fc[i] - s * fs[i];
        s = s * fc[i] + c * fs[i];
        c = cn;
        yaw += dyaw[i];
    }
    /* Renormalize once per step: the Taylor terms are accurate to ~1e-11 per sub-step. */
    double inv = 1.0 / sqrt(c * c + s * s);
    st->cos_yaw = c * inv;
    st->sin_yaw = s * inv;
    st->yaw = td__wrap_pi(yaw);
    st->x = x;
    st->y = y;
}

double td__car_yaw_rate(const td__car_coeffs *k, const td_car_state *st)
{
    /* step_core turns the heading by 2 v h sin(b0) / L in a sub-step entered at slip b0. */
    return 2.0 * st->speed * sin(st->slip) * k->inv_wheelbase;
}

void td__car_hold(const td__car_coeffs *k, td_car_state *st)
{
    /* DeepRacer holds the car in place and sends it zero commands (ZERO_SPEED phases). */
    push_command(k, st, 0.0, 0.0, k->dt);
    st->cmd_speed[0] = 0.0;
    st->speed = 0.0;
    st->steer = 0.0;
    st->steer_tan = 0.0;
    st->slip = 0.0;
}

void td__car_step_fast(const td__car_coeffs *k, td_car_state *st, double steer_cmd_rad,
                       double speed_cmd)
{
    push_command(k, st, steer_cmd_rad, speed_cmd, k->dt);
    step_core(k, st, k->steer_src, k->steer_old_w, k->speed_src, k->speed_old_w, 1);
}

static void step_any(const td_car_config *cfg, td_car_state *s, double steer_cmd_deg,
                     double speed_cmd, double dt, int move)
{
    td__car_coeffs k;
    td_car_config c = *cfg;
    /* Steps longer than the control step (replays of logs with gaps) keep the sub-step
     * length, so the per-sub-step series stay accurate. */
    if (dt * TD_SIM_HZ > 1.0 + 1e-9) {
        double sub = ceil(c.substeps * dt * TD_SIM_HZ);
        c.substeps = sub < TD__MAX_SUBSTEPS ? (int)sub : TD__MAX_SUBSTEPS;
    }
    td__car_coeffs_init(&k, &c, dt);
    push_command(&k, s, steer_cmd_deg * (M_PI / 180.0), speed_cmd, dt);
    /* The real lengths of the earlier steps (a replay's steps differ); before the first
     * command, steps of this one's length. */
    double lens[TD_CAR_HIST + 1];
    for (int j = 0; j <= TD_CAR_HIST; j++)
        lens[j] = j < s->n_cmd ? s->cmd_dt[j] : dt;
    unsigned char ssrc[TD__MAX_SUBSTEPS], vsrc[TD__MAX_SUBSTEPS];
    double sw[TD__MAX_SUBSTEPS], vw[TD__MAX_SUBSTEPS];
    cover_all(&k, &c, lens, ssrc, sw, vsrc, vw);
    step_core(&k, s, ssrc, sw, vsrc, vw, move);
}

void td_car_step(const td_car_config *cfg, td_car_state *s, double steer_cmd_deg, double speed_cmd,
                 double dt)
{
    step_any(cfg, s, steer_cmd_deg, speed_cmd, dt, 1);
}

void td_car_respond(const td_car_config *cfg, td_car_state *s, double steer_cmd_deg,
                    double speed_cmd, double dt)
{
    step_any(cfg, s, steer_cmd_deg, speed_cmd, dt, 0);
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
