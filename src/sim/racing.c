/*
 * racing.c - the minimum-time racing line of a closed track for a car (sim.h, "racing line"):
 * a periodic cubic B-spline of lateral offsets from the centreline, the car's speed profile
 * on it (grip, steering limit and response, top speed, acceleration), and a coordinate
 * descent over the spline's control offsets that lowers the lap time while the car's
 * footprint stays on the road. docs/sim.md, "The racing line".
 */
#include <math.h>
#include <string.h>

#include "sim/sim_internal.h"

/* Half span, in points, of the curvature estimate (0.25 m either side). */
#define CURV_SPAN 5
/* Penalty weights: seconds per (metre of bound violation)^2 and per (1/m of excess
 * curvature)^2 x metre. Large enough that the result is feasible when anything is. */
#define W_BOUND 1e4
#define W_CURV  50.0

void td_racing_options_default(td_racing_options *o, const td_car_config *car)
{
    o->ctrl_spacing_m = 0.25;
    (void)car;
    o->margin_m = 0;
    o->grip_use = TD_RACING_GRIP_USE;
    o->max_sweeps = 1000;
}

typedef struct rl_ctx {
    const td_track *t;
    int n, m;                                     /* stations, control offsets */
    double step;                                  /* centreline arc between stations */
    double *cx, *cy, *nx, *ny, *lo, *hi, *margin; /* per station */
    double *c;                                    /* (m) control offsets */
    double *lat, *x, *y, *k, *v, *ds;             /* per station, scratch of one evaluation */
    double *u;                                    /* per station: tan of the steering it needs */
    double v_top, v_bottom, a_lat, k_max, accel_max, speed_tau;
    double gain, wheelbase, u_max, steer_tau;
    int rate_span; /* half window, in stations, of the steering-rate limit */
} rl_ctx;

/* Uniform cubic B-spline basis at t in [0, 1). */
static void basis(double t, double b[4])
{
    double t2 = t * t, t3 = t2 * t;
    b[0] = (1 - 3 * t + 3 * t2 - t3) / 6.0;
    b[1] = (3 * t3 - 6 * t2 + 4) / 6.0;
    b[2] = (-3 * t3 + 3 * t2 + 3 * t + 1) / 6.0;
    b[3] = t3 / 6.0;
}

static double lat_at(const rl_ctx *r, int i)
{
    double u = (double)i * r->m / r->n;
    int j = (int)u;
    double b[4];
    basis(u - j, b);
    double v = 0;
    for (int q = 0; q < 4; q++)
        v += b[q] * r->c[(j - 1 + q + r->m) % r->m];
    return v;
}

/* Menger curvature of three points (signed, + = left). */
static double menger(double ax, double ay, double bx, double by, double cx, double cy)
{
    double cross = (bx - ax) * (cy - by) - (by - ay) * (cx - bx);
    double la = hypot(bx - ax, by - ay), lb = hypot(cx - bx, cy - by), lc = hypot(cx - ax, cy - ay);
    double den = la * lb * lc;
    return den > 1e-12 ? 2.0 * cross / den : 0.0;
}

/* Maximum speed entering a stretch of ds at speed v going up (forward) or its mirror
 * (backward) for a car whose speed follows its command through a first-order lag and an
 * acceleration limit. */
static double accel_at(const rl_ctx *r, double v, int braking)
{
    double a = r->speed_tau > 0 ? (braking ? v - r->v_bottom : r->v_top - v) / r->speed_tau : 1e9;
    if (r->accel_max > 0 && a > r->accel_max)
        a = r->accel_max;
    return a > 0 ? a : 0;
}

/*
 * Evaluates the current controls: the line, its curvature, the speed profile and the lap
 * time; returns the cost (lap time plus penalties) and the time in *lap.
 */
static double evaluate(rl_ctx *r, double *lap)
{
    int n = r->n;
    double pen = 0;
    for (int i = 0; i < n; i++) {
        double l = lat_at(r, i);
        r->lat[i] = l;
        double lo = r->lo[i] + r->margin[i], hi = r->hi[i] - r->margin[i];
        if (l < lo)
            pen += W_BOUND * (lo - l) * (lo - l);
        if (l > hi)
            pen += W_BOUND * (l - hi) * (l - hi);
        r->x[i] = r->cx[i] + l * r->nx[i];
        r->y[i] = r->cy[i] + l * r->ny[i];
    }
    for (int i = 0; i < n; i++) {
        int a = (i - CURV_SPAN + n) % n, b = (i + CURV_SPAN) % n, c = (i + 1) % n;
        r->k[i] = menger(r->x[a], r->y[a], r->x[i], r->y[i], r->x[b], r->y[b]);
        r->ds[i] = hypot(r->x[c] - r->x[i], r->y[c] - r->y[i]);
    }
    /* The steering each point needs: car.c's path curvature 2 sin(beta) / L with
     * tan(beta) = gain tan(delta) / 2, inverted (tan(delta), clipped at full lock). */
    for (int i = 0; i < n; i++) {
        double sb = 0.5 * r->k[i] * r->wheelbase;
        sb = sb > 0.999 ? 0.999 : (sb < -0.999 ? -0.999 : sb);
        r->u[i] = 2.0 * sb / sqrt(1.0 - sb * sb) / r->gain;
    }
    for (int i = 0; i < n; i++) {
        double v = r->v_top;
        double ki = fabs(r->k[i]);
        if (ki > r->k_max)
            pen += W_CURV * (ki - r->k_max) * (ki - r->k_max) * r->ds[i];
        /* The grip bounds the path's lateral acceleration at every instant (car.c clips the
         * slip so): v^2 kappa <= grip at the point. */
        if (r->a_lat > 0 && ki > 1e-9) {
            double vl = sqrt(r->a_lat / ki);
            v = vl < v ? vl : v;
        }
        /* The steering follows its command through a first-order lag: with the command at
         * full lock, tan(delta) goes from u_a to u_b in tau ln((u_max - u_a) / (u_max - u_b))
         * (the mirror when it turns the other way), judged over a window as long as the
         * distance of one time constant at top speed (tau v_top: the lag smooths anything
         * shorter). The dead time is no limit for a driver that commands ahead of it. */
        int a = (i - r->rate_span + n) % n, b = (i + r->rate_span) % n;
        double ua = r->u[a], ub = r->u[b];
        if (ub < ua) {
            ua = -ua;
            ub = -ub;
        }
        if (ub > ua + 1e-9 && r->steer_tau > 0) {
            double um = r->u_max;
            double ra = um - ua, rb = um - ub;
            rb = rb > 0.02 * um ? rb : 0.02 * um;
            ra = ra > rb ? ra : rb;
            double vr = 2.0 * r->rate_span * r->step / (r->steer_tau * log(ra / rb));
            v = vr < v ? vr : v;
        }
        r->v[i] = v > r->v_bottom ? v : r->v_bottom;
    }
    /* Braking then acceleration limits around the loop (twice, so the wrap settles). */
    for (int pass = 0; pass < 2; pass++) {
        for (int q = 2 * n - 1; q >= 0; q--) {
            int i = q % n, j = (q + 1) % n;
            double vb = r->v[j] + accel_at(r, r->v[j], 1) * r->ds[i] / (r->v[j] + 0.1);
            double lim =
                sqrt(r->v[j] * r->v[j] + 2.0 * accel_at(r, 0.5 * (r->v[j] + vb), 1) * r->ds[i]);
            if (r->v[i] > lim)
                r->v[i] = lim;
        }
        for (int q = 0; q < 2 * n; q++) {
            int i = q % n, j = (q + 1) % n;
            double vf = r->v[i] + accel_at(r, r->v[i], 0) * r->ds[i] / (r->v[i] + 0.1);
            double lim =
                sqrt(r->v[i] * r->v[i] + 2.0 * accel_at(r, 0.5 * (r->v[i] + vf), 0) * r->ds[i]);
            if (r->v[j] > lim)
                r->v[j] = lim;
        }
    }
    double t = 0;
    for (int i = 0; i < n; i++)
        t += 2.0 * r->ds[i] / (r->v[i] + r->v[(i + 1) % n]);
    *lap = t;
    return t + pen;
}

/*
 * The wheels' clearance at station i (negative = a wheel off the road): the four wheel
 * centres of td_car_wheels, the points DeepRacer's all_wheels_on_track judges.
 */
static double corner_clearance(const rl_ctx *r, const td_car_config *car, int i)
{
    int n = r->n, a = (i - 1 + n) % n, b = (i + 1) % n;
    double hx = r->x[b] - r->x[a], hy = r->y[b] - r->y[a], hl = hypot(hx, hy);
    hx = hl > 0 ? hx / hl : 1;
    hy = hl > 0 ? hy / hl : 0;
    double best = INFINITY;
    for (int q = 0; q < 4; q++) {
        double fl = (q & 1 ? 0.5 : -0.5) * car->wheelbase_m,
               fw = (q & 2 ? 0.5 : -0.5) * car->track_m;
        double px = r->x[i] + fl * hx - fw * hy, py = r->y[i] + fl * hy + fw * hx;
        /* The corner's lateral position in the frames of the stations around it. */
        int near = i, span = (int)ceil(0.5 * car->wheelbase_m / r->step) + 1;
        double bd = INFINITY;
        for (int d = -span; d <= span; d++) {
            int j = (i + d + n) % n;
            /* Distance along the road from station j's cross-section. */
            double ex = px - r->cx[j], ey = py - r->cy[j];
            if (fabs(ex * r->ny[j] - ey * r->nx[j]) < bd) {
                bd = fabs(ex * r->ny[j] - ey * r->nx[j]);
                near = j;
            }
        }
        double l = (px - r->cx[near]) * r->nx[near] + (py - r->cy[near]) * r->ny[near];
        double cl = l - r->lo[near] < r->hi[near] - l ? l - r->lo[near] : r->hi[near] - l;
        best = cl < best ? cl : best;
    }
    return best;
}

int td_racing_line_compute(td_racing_line *rl, const td_track *t, const td_car_config *car,
                           const td_racing_options *o, td_err *err)
{
    memset(rl, 0, sizeof(*rl));
    if (!t->closed)
        return td_err_set(err, TD_EINVAL, "racing line: '%s' is not a loop", t->name);
    rl_ctx r;
    memset(&r, 0, sizeof(r));
    r.t = t;
    double margin = o->margin_m > 0 ? o->margin_m : 0.5 * car->track_m + TD_RACING_CLEARANCE_M;
    r.n = (int)ceil(t->length / TD_RACING_STEP_M);
    r.step = t->length / r.n;
    r.m = (int)lround(t->length / (o->ctrl_spacing_m > 0.05 ? o->ctrl_spacing_m : 0.05));
    r.m = r.m < 12 ? 12 : r.m;
    int n = r.n;
    double *buf = td_calloc((size_t)n * 14 + (size_t)r.m, sizeof(double));
    if (!buf)
        return td_err_set(err, TD_ENOMEM, "racing line: out of memory");
    double *p = buf;
    r.cx = p, p += n;
    r.cy = p, p += n;
    r.nx = p, p += n;
    r.ny = p, p += n;
    r.lo = p, p += n;
    r.hi = p, p += n;
    r.margin = p, p += n;
    r.lat = p, p += n;
    r.x = p, p += n;
    r.y = p, p += n;
    r.k = p, p += n;
    r.v = p, p += n;
    r.ds = p, p += n;
    r.u = p, p += n;
    r.c = p;
    int seg = 0;
    for (int i = 0; i < n; i++) {
        td__road_frame(t, i * r.step, &seg, 1, &r.cx[i], &r.cy[i], &r.nx[i], &r.ny[i], &r.lo[i],
                       &r.hi[i]);
        r.margin[i] = margin;
        if (r.hi[i] - r.lo[i] < 2 * margin) {
            double width_m = r.hi[i] - r.lo[i];
            td_free(buf);
            return td_err_set(err, TD_EINVAL,
                              "racing line: the road of '%s' is %.2f m wide at %.1f m, the car "
                              "needs %.2f m",
                              t->name, width_m, i * r.step, 2 * margin);
        }
    }
    double gain = car->steer_gain > 0 ? car->steer_gain : 1.0;
    double use = o->grip_use > 0 && o->grip_use <= 1 ? o->grip_use : TD_RACING_GRIP_USE;
    double sg = car->speed_gain > 0 ? car->speed_gain : 1.0;
    r.v_top = car->speed_max * sg;
    r.v_bottom = car->speed_min * sg;
    r.a_lat = car->grip_mps2 > 0 ? use * car->grip_mps2 : 0;
    /* The simulated car's path curvature at full lock (car.c: 2 sin(beta) / L with
     * tan(beta) = gain tan(delta) / 2); the steering's lag toward full lock limits how fast
     * the curvature can change (evaluate). */
    double u_full = tan(car->steer_max_deg * (M_PI / 180.0));
    double k_full = 2.0 * sin(atan(0.5 * gain * u_full)) / car->wheelbase_m;
    r.k_max = use * k_full;
    r.gain = gain;
    r.wheelbase = car->wheelbase_m;
    r.u_max = use * u_full;
    r.steer_tau = car->steer_tau_s;
    r.rate_span = (int)lround(0.5 * car->steer_tau_s * r.v_top / r.step);
    r.rate_span = r.rate_span < 1 ? 1 : r.rate_span;
    r.accel_max = car->accel_max_mps2;
    r.speed_tau = car->speed_tau_s;

    /* The centreline's own lap on paper is the comparison (the middle of the road when the
     * border rows are off centre). */
    for (int j = 0; j < r.m; j++) {
        int i = (int)((double)j * n / r.m);
        r.c[j] = 0.5 * (r.lo[i] + r.hi[i]);
    }
    double lap, cost = evaluate(&r, &lap);
    rl->centerline_lap_s = lap;
    int sweeps = 0;
    for (int round = 0; round < 6; round++) {
        /*
         * Moves of smooth bumps of controls (a raised-cosine window over 2w + 1 of them), from
         * whole corners (w = 12: 6 m) down to single controls, each tried both ways with a
         * step that halves while nothing improves. Wide bumps move the line across the road
         * without the curvature kinks a single control makes; narrow ones refine it.
         */
        static const int widths[] = {12, 6, 3, 1, 0};
        for (int wi = 0; wi < 5 && sweeps < o->max_sweeps; wi++) {
            int w = widths[wi];
            double win[2 * 12 + 1];
            for (int q = -w; q <= w; q++)
                win[q + w] = w ? 0.5 * (1 + cos(M_PI * q / (w + 1))) : 1.0;
            for (double delta = 0.16; delta > 0.004 && sweeps < o->max_sweeps; delta *= 0.5) {
                int improved = 1;
                while (improved && sweeps < o->max_sweeps) {
                    improved = 0;
                    sweeps++;
                    for (int j = 0; j < r.m; j++) {
                        for (int dir = -1; dir <= 1; dir += 2) {
                            for (int q = -w; q <= w; q++)
                                r.c[(j + q + r.m) % r.m] += dir * delta * win[q + w];
                            double l2, c2 = evaluate(&r, &l2);
                            if (c2 < cost - 1e-9) {
                                cost = c2;
                                improved = 1;
                                break;
                            }
                            for (int q = -w; q <= w; q++)
                                r.c[(j + q + r.m) % r.m] -= dir * delta * win[q + w];
                        }
                    }
                }
            }
        }
        /* Widen the margin where a wheel comes within 5 mm of the edge, and search again. */
        cost = evaluate(&r, &lap);
        int widened = 0;
        for (int i = 0; i < n; i++) {
            if (corner_clearance(&r, car, i) < 0.005) {
                for (int d = -8; d <= 8; d++)
                    r.margin[(i + d + n) % n] += 0.01;
                widened = 1;
            }
        }
        if (!widened)
            break;
        cost = evaluate(&r, &lap);
    }
    cost = evaluate(&r, &lap);

    double *out = td_calloc((size_t)n * 8, sizeof(double));
    if (!out) {
        td_free(buf);
        return td_err_set(err, TD_ENOMEM, "racing line: out of memory");
    }
    rl->n = n;
    rl->x = out;
    rl->y = out + n;
    rl->lat = out + 2 * n;
    rl->s = out + 3 * n;
    rl->d = out + 4 * n;
    rl->kappa = out + 5 * n;
    rl->v = out + 6 * n;
    rl->t = out + 7 * n;
    double d = 0, tt = 0, minc = INFINITY;
    for (int i = 0; i < n; i++) {
        rl->x[i] = r.x[i];
        rl->y[i] = r.y[i];
        rl->lat[i] = r.lat[i];
        rl->s[i] = i * r.step;
        rl->d[i] = d;
        rl->kappa[i] = r.k[i];
        rl->v[i] = r.v[i];
        rl->t[i] = tt;
        d += r.ds[i];
        tt += 2.0 * r.ds[i] / (r.v[i] + r.v[(i + 1) % n]);
        double cl = corner_clearance(&r, car, i);
        minc = cl < minc ? cl : minc;
    }
    rl->length_m = d;
    rl->lap_time_s = lap;
    rl->min_margin_m = minc;
    rl->sweeps = sweeps;
    td_free(buf);
    return 0;
}

void td_racing_line_free(td_racing_line *rl)
{
    td_free(rl->x);
    memset(rl, 0, sizeof(*rl));
}
