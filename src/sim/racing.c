/*
 * racing.c - the minimum-time racing line of a closed track for a car (sim.h, "racing line"):
 * a periodic cubic B-spline of lateral offsets from the centreline, the car's speed profile
 * on it (grip, steering limit and response, top speed, acceleration), and a coordinate
 * descent over the spline's control offsets that lowers the lap time while the car's
 * footprint stays on the road; then the driven refinement: the racing-line driver drives the
 * line in the simulator, the margin widens where a wheel leaves the road, and the speeds are
 * scaled window by window while the driven laps get faster. The search evaluates a move
 * locally (evaluate_move: only what the move changed is recomputed, bit for bit what the
 * whole-line evaluate gives), so its cost grows with the route's length, not its square.
 * docs/sim.md, "The racing line".
 */
#include <limits.h>
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
    o->refine_evals = 400;
    o->full_evaluate = 0;
}

typedef struct rl_ctx {
    const td_track *t;
    int n, m;                                     /* stations, control offsets */
    double step;                                  /* centreline arc between stations */
    double *cx, *cy, *nx, *ny, *lo, *hi, *margin; /* per station */
    double *c;                                    /* (m) control offsets */
    double *lat, *x, *y, *k, *v, *ds;             /* per station, scratch of one evaluation */
    double *u;                                    /* per station: tan of the steering it needs */
    double *cap;                                  /* per station: speed before the longitudinal */
    double *vcmd, *vs, *cl, *vbest, *vsbest;      /* per station: the driven refinement's */
    double *g;                                    /* per refinement window: scale of cap */
    double drive_err; /* the last drive's largest distance of the car from the line */
    double v_top, v_bottom, a_lat, k_max, accel_max, speed_tau;
    double gain, wheelbase, u_max, steer_tau;
    int rate_span; /* half window, in stations, of the steering-rate limit */
    /* The last evaluation, kept so that the next one recomputes only what a move changed
     * (evaluate_move): its controls, the outputs of longitudinal's 8 passes (lv, v is the
     * last), each step's time, each station's penalties (below and above its bounds, bp, and
     * the excess curvature's, kp) and how many of those are not 0, its cost and lap. */
    double *cc, *lv, *term, *bp, *kp;
    int nb, nk;
    double last_cost, last_lap;
    int mv_lo, mv_len;       /* the controls the last evaluation's move touched */
    int full_evaluate;       /* td_racing_options.full_evaluate */
    long search_evals, work; /* the path search's evaluations and their work (see sim.h) */
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

/* Marks in act the controls whose moves reach station i: the spline's four around it, the
 * widest bump's 12 either side of those, and the 8 stations (2 controls) either side
 * that a widening changes. */
static void mark_controls(const rl_ctx *r, double *act, int i)
{
    int j = (int)((double)i * r->m / r->n);
    for (int q = -17; q <= 17; q++)
        act[(j + q + r->m) % r->m] = 1;
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

/* One step of the braking pass (braking = 1) or of the acceleration pass: the speed v at a
 * point, limited by the speed vn at its neighbour (the next point when braking, the previous
 * when accelerating) over the stretch ds between them. */
static double long_step(const rl_ctx *r, double v, double vn, double ds, int braking)
{
    double vb = vn + accel_at(r, vn, braking) * ds / (vn + 0.1);
    double lim = sqrt(vn * vn + 2.0 * accel_at(r, 0.5 * (vn + vb), braking) * ds);
    return v > lim ? lim : v;
}

/* Braking then acceleration limits on speeds v around the loop (twice, so the wrap
 * settles). The passes are one chain of 8 loops round the points, each step reading the
 * point the step before wrote (k = 0, 1: braking, n - 1 down to 0; 2, 3: accelerating, 1 up
 * to n - 1 then 0; 4-7 again); with rec, loop k's output at point i goes to rec[k n + i]. */
static void longitudinal(const rl_ctx *r, double *v, double *rec)
{
    int n = r->n;
    for (int pass = 0; pass < 2; pass++) {
        for (int q = 2 * n - 1; q >= 0; q--) {
            int i = q % n, j = (q + 1) % n;
            v[i] = long_step(r, v[i], v[j], r->ds[i], 1);
            if (rec)
                rec[(size_t)(4 * pass + (q < n)) * n + i] = v[i];
        }
        for (int q = 0; q < 2 * n; q++) {
            int i = q % n, j = (q + 1) % n;
            v[j] = long_step(r, v[j], v[i], r->ds[i], 0);
            if (rec)
                rec[(size_t)(4 * pass + 2 + (q >= n)) * n + j] = v[j];
        }
    }
}

/* ---- evaluating the line ------------------------------------------------------------------ */

/* Whether a and b are the same double, bit for bit. */
static int same(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Station i's line at lateral offset l: the point and its penalties below and above its
 * bounds (nb counts those not 0). */
static void station_line(rl_ctx *r, int i, double l)
{
    r->lat[i] = l;
    double lo = r->lo[i] + r->margin[i], hi = r->hi[i] - r->margin[i];
    double b0 = l < lo ? W_BOUND * (lo - l) * (lo - l) : 0;
    double b1 = l > hi ? W_BOUND * (l - hi) * (l - hi) : 0;
    r->nb += (b0 != 0) - (r->bp[2 * i] != 0) + (b1 != 0) - (r->bp[2 * i + 1] != 0);
    r->bp[2 * i] = b0;
    r->bp[2 * i + 1] = b1;
    r->x[i] = r->cx[i] + l * r->nx[i];
    r->y[i] = r->cy[i] + l * r->ny[i];
}

/* Station i's curvature and the steering it needs: car.c's path curvature 2 sin(beta) / L
 * with tan(beta) = gain tan(delta) / 2, inverted (tan(delta), clipped at full lock). */
static void station_curv(rl_ctx *r, int i)
{
    int n = r->n, a = (i - CURV_SPAN + n) % n, b = (i + CURV_SPAN) % n;
    r->k[i] = menger(r->x[a], r->y[a], r->x[i], r->y[i], r->x[b], r->y[b]);
    double sb = 0.5 * r->k[i] * r->wheelbase;
    sb = sb > 0.999 ? 0.999 : (sb < -0.999 ? -0.999 : sb);
    r->u[i] = 2.0 * sb / sqrt(1.0 - sb * sb) / r->gain;
}

/* The length of the step from station i to the next. */
static void station_ds(rl_ctx *r, int i)
{
    int c = (i + 1) % r->n;
    r->ds[i] = hypot(r->x[c] - r->x[i], r->y[c] - r->y[i]);
}

/* Station i's penalty for a curvature beyond what the car can steer (nk counts those not 0). */
static void station_kpen(rl_ctx *r, int i)
{
    double ki = fabs(r->k[i]);
    double p = ki > r->k_max ? W_CURV * (ki - r->k_max) * (ki - r->k_max) * r->ds[i] : 0;
    r->nk += (p != 0) - (r->kp[i] != 0);
    r->kp[i] = p;
}

/* Station i's speed before the braking and acceleration limits (cap). */
static void station_cap(rl_ctx *r, int i)
{
    int n = r->n;
    double v = r->v_top;
    double ki = fabs(r->k[i]);
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
    r->cap[i] = v > r->v_bottom ? v : r->v_bottom;
}

/* The time of the step from station i to the next at the profile's speeds. */
static void station_term(rl_ctx *r, int i)
{
    r->term[i] = 2.0 * r->ds[i] / (r->v[i] + r->v[(i + 1) % r->n]);
}

/* The lap time (*lap) and the cost, the lap plus the penalties: sums in station order, so the
 * same double however the terms were computed. */
static double sum_cost(rl_ctx *r, double *lap)
{
    int n = r->n;
    double t = 0, pen = 0;
    for (int i = 0; i < n; i++)
        t += r->term[i];
    /* The penalties that are 0 add nothing (x + 0 is x), so they are skipped when all are. */
    if (r->nb)
        for (int i = 0; i < 2 * n; i++)
            pen += r->bp[i];
    if (r->nk)
        for (int i = 0; i < n; i++)
            pen += r->kp[i];
    r->last_lap = *lap = t;
    r->last_cost = t + pen;
    return t + pen;
}

/*
 * Evaluates the current controls: the line, its curvature, the speed profile and the lap
 * time; returns the cost (lap time plus penalties) and the time in *lap. The whole line (the
 * reference evaluate_move is held to); it keeps everything evaluate_move starts from.
 */
static double evaluate(rl_ctx *r, double *lap)
{
    int n = r->n;
    for (int i = 0; i < n; i++)
        station_line(r, i, lat_at(r, i));
    for (int i = 0; i < n; i++) {
        station_curv(r, i);
        station_ds(r, i);
    }
    for (int i = 0; i < n; i++) {
        station_kpen(r, i);
        station_cap(r, i);
        r->v[i] = r->cap[i];
    }
    longitudinal(r, r->v, r->lv);
    for (int i = 0; i < n; i++)
        station_term(r, i);
    memcpy(r->cc, r->c, sizeof(double) * r->m);
    r->mv_len = 0;
    return sum_cost(r, lap);
}

/* A stretch of consecutive indices round a loop of n: lo, lo + 1, ... (mod n), len of them.
 * len 0 is none; a stretch longer than half the loop is the whole loop (lo 0, len n). */
typedef struct arc {
    int lo, len;
} arc;

static int wrap(int i, int n)
{
    i %= n;
    return i < 0 ? i + n : i;
}

static arc arc_of(int lo, int len, int n)
{
    if (len <= 0)
        return (arc){0, 0};
    if (2 * len > n)
        return (arc){0, n};
    return (arc){wrap(lo, n), len};
}

/* a with before indices added before it and after after it. */
static arc arc_grow(arc a, int before, int after, int n)
{
    if (a.len == 0 || a.len >= n)
        return a;
    return arc_of(a.lo - before, a.len + before + after, n);
}

/* The shortest stretch holding a and b. */
static arc arc_hull(arc a, arc b, int n)
{
    if (a.len == 0 || b.len >= n)
        return b;
    if (b.len == 0 || a.len >= n)
        return a;
    int b0 = wrap(b.lo - a.lo, n);
    b0 = b0 > n / 2 ? b0 - n : b0;
    int lo = b0 < 0 ? b0 : 0, hi = b0 + b.len > a.len ? b0 + b.len : a.len;
    return arc_of(a.lo + lo, hi - lo, n);
}

/* The stretch from offset qmin to qmax of a (none when qmin > qmax). */
static arc arc_part(arc a, int qmin, int qmax, int n)
{
    return qmin > qmax ? (arc){0, 0} : arc_of(a.lo + qmin, qmax - qmin + 1, n);
}

/* The ranks (the order a loop of longitudinal writes the points in: braking n - 1 down to 0,
 * accelerating 1 up to n - 1 then 0) of the points of a, as ascending intervals rg[k][0..1];
 * returns how many. */
static int arc_ranks(arc a, int n, int fwd, int rg[4][2])
{
    if (a.len == 0)
        return 0;
    if (a.len >= n) {
        rg[0][0] = 0;
        rg[0][1] = n - 1;
        return 1;
    }
    int seg[2][2], ns = 0, cnt = 0, end = a.lo + a.len;
    seg[ns][0] = a.lo;
    seg[ns++][1] = (end < n ? end : n) - 1;
    if (end > n) {
        seg[ns][0] = 0;
        seg[ns++][1] = end - n - 1;
    }
    for (int s = 0; s < ns; s++) {
        int p = seg[s][0], q = seg[s][1];
        if (!fwd) {
            rg[cnt][0] = n - 1 - q;
            rg[cnt++][1] = n - 1 - p;
            continue;
        }
        if (p == 0) {
            rg[cnt][0] = rg[cnt][1] = n - 1;
            cnt++;
            p = 1;
        }
        if (p <= q) {
            rg[cnt][0] = p - 1;
            rg[cnt++][1] = q - 1;
        }
    }
    for (int s = 1; s < cnt; s++)
        for (int t = s; t > 0 && rg[t][0] < rg[t - 1][0]; t--) {
            int lo = rg[t][0], hi = rg[t][1];
            rg[t][0] = rg[t - 1][0];
            rg[t][1] = rg[t - 1][1];
            rg[t - 1][0] = lo;
            rg[t - 1][1] = hi;
        }
    return cnt;
}

/*
 * longitudinal's chain again after the caps changed in cap_chg (cap0_old: cap[0] before) and
 * the step lengths in ds_chg, from the last evaluation's loop outputs (r->lv): a step is
 * recomputed only where its input (the cap or the loop before's output, or its step length)
 * may differ, or where the chain's value still differs from the last evaluation's; elsewhere
 * its output is the last evaluation's. Returns where the final speeds (r->v) changed.
 */
static arc chain_local(rl_ctx *r, arc cap_chg, arc ds_chg, double cap0_old)
{
    int n = r->n;
    arc prev = cap_chg;
    double enter_new = r->cap[0], enter_old = cap0_old;
    for (int k = 0; k < 8; k++) {
        int fwd = (k & 2) != 0;
        double *out = r->lv + (size_t)k * n;
        const double *in = k ? out - n : r->cap;
        /* An accelerating step writing point j reads the step length ds[j - 1]. */
        arc ds_in = fwd && ds_chg.len < n ? arc_of(ds_chg.lo + 1, ds_chg.len, n) : ds_chg;
        arc a = arc_hull(prev, ds_in, n);
        int rg[4][2], nr = arc_ranks(a, n, fwd, rg), gi = 0;
        int center = wrap(a.lo + a.len / 2, n), omin = INT_MAX, omax = INT_MIN;
        double exit_old = out[0], c = enter_new;
        int synced = same(enter_new, enter_old);
        for (int rk = 0; rk < n; rk++) {
            if (synced) {
                /* The chain has the last evaluation's value: skip to where an input may
                 * differ. */
                while (gi < nr && rg[gi][1] < rk)
                    gi++;
                if (gi == nr)
                    break;
                if (rg[gi][0] > rk) {
                    rk = rg[gi][0];
                    c = out[fwd ? rk % n : n - rk];
                }
            }
            int pos = fwd ? (rk + 1) % n : n - 1 - rk;
            double val = long_step(r, in[pos], c, r->ds[fwd ? (pos + n - 1) % n : pos], !fwd);
            r->work++;
            synced = same(val, out[pos]);
            if (!synced) {
                out[pos] = val;
                int off = wrap(pos - center, n);
                off = off > n / 2 ? off - n : off;
                omin = off < omin ? off : omin;
                omax = off > omax ? off : omax;
            }
            c = val;
        }
        /* The changed points run on from a's (one point a step), so their offsets from its
         * centre are unambiguous until they near half the loop. */
        if (omin > omax)
            prev = (arc){0, 0};
        else if (a.len >= n || omin < 2 - n / 2 || omax > n / 2 - 2)
            prev = (arc){0, n};
        else
            prev = arc_of(center + omin, omax - omin + 1, n);
        enter_new = out[0];
        enter_old = exit_old;
    }
    return prev;
}

/*
 * Evaluates the controls after a move of the len controls from lo (mod m): the same cost and
 * lap as evaluate, bit for bit, but recomputing only what changed since the last evaluation
 * (a move put back can leave a control a bit off the original, so the last move's controls
 * are compared too): the stations whose line moved, the curvature, step lengths, steering and
 * speed caps around them, the stretches of longitudinal's loops whose outputs differ, and the
 * steps' times. Only the sums run over the whole loop, one addition a station (sum_cost), so
 * that the cost is the same double as evaluate's. r->full_evaluate: evaluate itself.
 */
static double evaluate_move(rl_ctx *r, int lo, int len, double *lap)
{
    int n = r->n, m = r->m;
    r->search_evals++;
    arc mv = arc_of(lo, len, m), ch = arc_hull(mv, (arc){r->mv_lo, r->mv_len}, m);
    int qmin = INT_MAX, qmax = INT_MIN;
    for (int q = 0; q < ch.len && !r->full_evaluate; q++) {
        int j = (ch.lo + q) % m;
        if (!same(r->c[j], r->cc[j])) {
            qmin = q < qmin ? q : qmin;
            qmax = q > qmax ? q : qmax;
        }
    }
    /* The stations whose four controls (floor(i m / n) - 1 to + 2) include a changed one. */
    arc sa = {0, 0};
    if (qmin <= qmax) {
        int c0 = ch.lo + qmin, c1 = ch.lo + qmax;
        int s0 = (int)floor((double)(c0 - 2) * n / m) - 1;
        int s1 = (int)ceil((double)(c1 + 2) * n / m) + 1;
        sa = arc_of(s0, s1 - s0 + 1, n);
    }
    if (r->full_evaluate || ch.len >= m || sa.len >= n) {
        r->work += 9L * n;
        double cost = evaluate(r, lap);
        r->mv_lo = mv.lo;
        r->mv_len = mv.len;
        return cost;
    }
    r->mv_lo = mv.lo;
    r->mv_len = mv.len;
    if (qmin > qmax) {
        *lap = r->last_lap;
        return r->last_cost;
    }
    for (int q = qmin; q <= qmax; q++)
        r->cc[(ch.lo + q) % m] = r->c[(ch.lo + q) % m];
    r->work += sa.len;
    /* The line, where it moved. */
    int a0 = INT_MAX, a1 = INT_MIN;
    for (int q = 0; q < sa.len; q++) {
        int i = (sa.lo + q) % n;
        double l = lat_at(r, i);
        if (!same(l, r->lat[i])) {
            station_line(r, i, l);
            a0 = q < a0 ? q : a0;
            a1 = q > a1 ? q : a1;
        }
    }
    arc moved = arc_part(sa, a0, a1, n);
    if (moved.len == 0) {
        *lap = r->last_lap;
        return r->last_cost;
    }
    /* Curvature and steering within CURV_SPAN of it, step lengths from the one before. */
    arc kr = arc_grow(moved, CURV_SPAN, CURV_SPAN, n), dr = arc_grow(moved, 1, 0, n);
    a0 = INT_MAX, a1 = INT_MIN;
    for (int q = 0; q < kr.len; q++) {
        int i = (kr.lo + q) % n;
        double k0 = r->k[i];
        station_curv(r, i);
        if (!same(k0, r->k[i])) {
            a0 = q < a0 ? q : a0;
            a1 = q > a1 ? q : a1;
        }
    }
    arc k_chg = arc_part(kr, a0, a1, n);
    a0 = INT_MAX, a1 = INT_MIN;
    for (int q = 0; q < dr.len; q++) {
        int i = (dr.lo + q) % n;
        double d0 = r->ds[i];
        station_ds(r, i);
        if (!same(d0, r->ds[i])) {
            a0 = q < a0 ? q : a0;
            a1 = q > a1 ? q : a1;
        }
    }
    arc ds_chg = arc_part(dr, a0, a1, n);
    arc pr = arc_hull(k_chg, ds_chg, n);
    for (int q = 0; q < pr.len; q++)
        station_kpen(r, (pr.lo + q) % n);
    /* Speed caps within the steering-rate window of a changed curvature. */
    arc cr = arc_grow(k_chg, r->rate_span, r->rate_span, n);
    double cap0_old = r->cap[0];
    a0 = INT_MAX, a1 = INT_MIN;
    for (int q = 0; q < cr.len; q++) {
        int i = (cr.lo + q) % n;
        double v0 = r->cap[i];
        station_cap(r, i);
        if (!same(v0, r->cap[i])) {
            a0 = q < a0 ? q : a0;
            a1 = q > a1 ? q : a1;
        }
    }
    arc v_chg = chain_local(r, arc_part(cr, a0, a1, n), ds_chg, cap0_old);
    /* The steps' times where a length or a speed at either end changed. */
    arc tr = arc_hull(ds_chg, arc_grow(v_chg, 1, 0, n), n);
    for (int q = 0; q < tr.len; q++)
        station_term(r, (tr.lo + q) % n);
    return sum_cost(r, lap);
}

/*
 * The clearance of point (px, py) to the road's edge (negative = off the road), in the frame
 * of the station nearest to it (by distance along the road) within span of station i.
 */
static double point_clearance(const rl_ctx *r, double px, double py, int i, int span)
{
    int n = r->n, near = i;
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
    return l - r->lo[near] < r->hi[near] - l ? l - r->lo[near] : r->hi[near] - l;
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
    /* The car's heading is the path's less its slip angle (car.c: kappa = 2 sin(beta) / L):
     * in a turn the rear wheels swing out. */
    double sb = 0.5 * r->k[i] * car->wheelbase_m;
    sb = sb > 0.99 ? 0.99 : (sb < -0.99 ? -0.99 : sb);
    double cb = sqrt(1.0 - sb * sb);
    td_car_state st;
    memset(&st, 0, sizeof(st));
    st.x = r->x[i];
    st.y = r->y[i];
    st.cos_yaw = hx * cb + hy * sb;
    st.sin_yaw = hy * cb - hx * sb;
    double w[4][2], best = INFINITY;
    td_car_wheels(car, &st, w);
    int span = (int)ceil(0.5 * car->wheelbase_m / r->step) + 1;
    for (int q = 0; q < 4; q++) {
        double cl = point_clearance(r, w[q][0], w[q][1], i, span);
        best = cl < best ? cl : best;
    }
    return best;
}

/* ---- the driven refinement ---------------------------------------------------------------- */

/* Laps of a refinement drive (the first from rest on the centreline; the others are
 * measured). */
#define DRIVE_LAPS 5
/* Refinement windows, in stations (1 m of centreline). */
#define REFINE_WIN 20
/* The wheels' clearance to the road's edge the driven laps keep, m. */
#define DRIVE_CLEAR_M 0.0
/* The largest distance from the line the car may stray on them, m. */
#define DRIVE_ERR_M 0.15
/* The refinement's budget does not grow with the route (its cost would, as the length, or as
 * its square for a search of the whole path): the drives of a route longer than REFINE_REF_M
 * are at most refine_evals x REFINE_REF_M / length (a drive costs as much as the route is
 * long), and the path's searches after a widening evaluate at most WIDEN_WORK stations in all
 * (about 3 s of CPU; the 17-25 m routes' take 10-21 million). */
#define REFINE_REF_M 25.0
#define WIDEN_WORK   24000000L

/*
 * Drives the line (r->x, r->y, r->lat, r->k) with speeds vcmd in the simulator: the
 * racing-line driver (driver.c) in an env of one car (td_vecenv, the simulator's car and
 * episode rules), continuous laps from the start as `tracks racing-line` drives them (the
 * first from rest on the centreline). Fills r->vs with the car's pace along the line at
 * each station (the line's length over the car's time between the stations' cross-sections,
 * averaged over laps 2 to DRIVE_LAPS) and r->cl with the smallest wheel clearance near each
 * station on those laps, and returns their mean time (fractions of a step interpolated), or
 * INFINITY if the car goes off the track or does not get round; *min_cl gets the smallest
 * clearance.
 */
static double drive_line(rl_ctx *r, const td_car_config *car, const double *vcmd, double *min_cl,
                         td_err *err)
{
    int n = r->n;
    *min_cl = -INFINITY;
    td_racing_line view;
    memset(&view, 0, sizeof(view));
    view.n = n;
    view.x = r->x;
    view.y = r->y;
    view.lat = r->lat;
    view.kappa = r->k;
    view.v = (double *)vcmd;
    td_driver_config dc;
    td_driver_config_default(&dc, TD_DRIVER_RACING_LINE);
    dc.car = *car;
    dc.line = &view;
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.car = *car;
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.laps = DRIVE_LAPS + 1; /* the loop stops when lap DRIVE_LAPS is done */
    td_vecenv env;
    td_vecenv_buffers b;
    if (td_vecenv_init(&env, &cfg, r->t, 1, err))
        return INFINITY;
    if (td_vecenv_buffers_init(&b, &env, err)) {
        td_vecenv_free(&env);
        return INFINITY;
    }
    td_vecenv_reset(&env);
    td_driver d;
    if (td_driver_init(&d, &dc, td_vecenv_track(&env, 0), err)) {
        td_vecenv_buffers_free(&b);
        td_vecenv_free(&env);
        return INFINITY;
    }
    for (int i = 0; i < n; i++) {
        r->vs[i] = 0;
        r->cl[i] = INFINITY;
    }
    const td_car_state *s = td_vecenv_car(&env, 0);
    double L = r->t->length, T = 1.0 / TD_SIM_HZ, prog, t = 0, t_in = -1, t_out = -1, t_lap = 0;
    td_track_proj pr;
    td_track_project(r->t, s->x, s->y, &pr);
    prog = pr.arc > 0.5 * L ? pr.arc - L : pr.arc;
    double arc_prev = pr.arc, mincl = INFINITY, maxerr = 0;
    int span = (int)ceil(0.5 * car->wheelbase_m / r->step) + 2, last = -1;
    while (!b.dones[0] && t_out < 0) {
        double steer, speed;
        td_driver_act(&d, car, s, &b.params[0], &steer, &speed);
        b.actions[0] = (float)steer;
        b.actions[1] = (float)speed;
        td_vecenv_step(&env);
        if (b.dones[0] || td_vecenv_current_episode(&env, 0)->events.off_tracks > 0) {
            /* Off the track (on any lap): the road ran out near the last station. */
            int i = (int)(fmod(prog + L, L) / r->step) % n;
            for (int q = -2; q <= 6; q++) {
                int j = (i + q + n) % n;
                r->cl[j] = r->cl[j] < -0.03 ? r->cl[j] : -0.03;
            }
            mincl = mincl < -0.03 ? mincl : -0.03;
            break;
        }
        s = td_vecenv_car(&env, 0);
        t += T;
        td_track_project_from(r->t, s->x, s->y, &pr);
        double da = pr.arc - arc_prev;
        da = da > 0.5 * L ? da - L : (da < -0.5 * L ? da + L : da);
        arc_prev = pr.arc;
        double p0 = prog;
        prog += da;
        /* The time from the lap's start at which the car passes each station's arc, summed
         * over the measured laps. */
        for (long g = (long)floor(p0 / r->step) + 1; g <= (long)floor(prog / r->step); g++) {
            long lap = g / n, i = g % n;
            double tg = t - T * (prog - g * r->step) / (prog - p0);
            if (i == 0)
                t_lap = tg;
            if (lap >= 1 && lap < DRIVE_LAPS)
                r->vs[i] += tg - t_lap;
        }
        if (t_in < 0 && prog >= L && p0 < L)
            t_in = t - T * (prog - L) / (prog - p0);
        if (prog >= DRIVE_LAPS * L && p0 < DRIVE_LAPS * L)
            t_out = t - T * (prog - DRIVE_LAPS * L) / (prog - p0);
        if (prog < L)
            continue;
        int i = (int)(fmod(prog, L) / r->step);
        i = i < 0 ? 0 : (i >= n ? n - 1 : i);
        double w[4][2], cl = INFINITY;
        td_car_wheels(car, s, w);
        for (int q = 0; q < 4; q++) {
            double c = point_clearance(r, w[q][0], w[q][1], i, span);
            cl = c < cl ? c : cl;
        }
        /* The episode's rule (all_wheels_on_track, the road's true edges) decides; the
         * stations' frames measure how near. */
        if (b.params[0].all_wheels_on_track)
            cl = cl > 0 ? cl : 0;
        else
            cl = cl < -1e-3 ? cl : -1e-3;
        mincl = cl < mincl ? cl : mincl;
        /* The car's distance from the line (its points within 0.5 m). */
        double e2 = INFINITY;
        for (int q = -10; q <= 10; q++) {
            int j = (i + q + n) % n;
            double dx = s->x - r->x[j], dy = s->y - r->y[j];
            e2 = dx * dx + dy * dy < e2 ? dx * dx + dy * dy : e2;
        }
        maxerr = e2 > maxerr ? e2 : maxerr;
        /* The stations passed since the last step get this step's clearance. */
        int j = last < 0 ? i : (last + 1) % n;
        for (int c = 0; c < n; c++, j = (j + 1) % n) {
            r->cl[j] = cl < r->cl[j] ? cl : r->cl[j];
            if (j == i)
                break;
        }
        last = i;
    }
    td_driver_free(&d);
    td_vecenv_buffers_free(&b);
    td_vecenv_free(&env);
    *min_cl = mincl;
    r->drive_err = sqrt(maxerr);
    if (t_in < 0 || t_out < 0)
        return INFINITY;
    /* The car's pace along the line between stations (the line's length over the time), so
     * that the line's lap on these speeds is the laps' mean time. */
    double lap_s = (t_out - t_in) / (DRIVE_LAPS - 1);
    for (int i = 0; i < n; i++)
        r->vs[i] /= DRIVE_LAPS - 1;
    for (int i = 0; i < n; i++) {
        double dt = (i + 1 < n ? r->vs[i + 1] : lap_s) - r->vs[i];
        r->vs[i] = dt > 1e-9 ? r->ds[i] / dt : r->v_top;
    }
    return lap_s;
}

/* The command profile of the refinement: the cap of each station times its window's scale,
 * within the speed range, then the braking and acceleration limits. */
static void refined_profile(rl_ctx *r)
{
    for (int i = 0; i < r->n; i++) {
        double v = r->cap[i] * r->g[i / REFINE_WIN];
        v = v < r->v_top ? v : r->v_top;
        r->vcmd[i] = v > r->v_bottom ? v : r->v_bottom;
    }
    longitudinal(r, r->vcmd, NULL);
}

/* A driven lap's cost: its time, plus a penalty where a wheel comes nearer the edge than
 * DRIVE_CLEAR_M. */
static double drive_cost(rl_ctx *r, const td_car_config *car, double *lap, double *cl, td_err *err)
{
    refined_profile(r);
    *lap = drive_line(r, car, r->vcmd, cl, err);
    double pen = *cl < DRIVE_CLEAR_M ? 1.0 + 100.0 * (DRIVE_CLEAR_M - *cl) : 0.0;
    if (r->drive_err > DRIVE_ERR_M)
        pen += 1.0 + 10.0 * (r->drive_err - DRIVE_ERR_M);
    return *lap + pen;
}

/* The refinement's best drive so far: its cost, lap and smallest wheel clearance (its command
 * and speed profiles are in r->vbest and r->vsbest). */
typedef struct drive_best {
    double cost, lap, cl;
} drive_best;

/* Keeps the drive just made (cost c, lap, clearance cl; the profiles in r->vcmd and r->vs) as
 * the best when force is set or when it beats the best's cost by more than 1e-6; returns
 * whether it kept it. */
static int keep_drive(rl_ctx *r, drive_best *b, double c, double lap, double cl, int force)
{
    if (!force && !(c < b->cost - 1e-6))
        return 0;
    b->cost = c;
    b->lap = lap;
    b->cl = cl;
    memcpy(r->vbest, r->vcmd, sizeof(double) * r->n);
    memcpy(r->vsbest, r->vs, sizeof(double) * r->n);
    return 1;
}

/*
 * The driven refinement of the speed profile: scales of the planned speeds over windows of
 * 1 m, searched by coordinate descent (each window up or down by 4, 2, then 1 %) on the
 * time of the laps the simulated car drives, with the wheels DRIVE_CLEAR_M inside the edges.
 * Leaves the best command profile in r->vbest and the car's speeds on it in r->vsbest;
 * returns the driven lap (INFINITY when no profile got the car round).
 */
static double refine(rl_ctx *r, const td_car_config *car, int max_evals, int *evals,
                     double *best_cl, td_err *err)
{
    int nw = (r->n + REFINE_WIN - 1) / REFINE_WIN;
    for (int w = 0; w < nw; w++)
        r->g[w] = 1.0;
    drive_best b;
    double lap, cl, c = drive_cost(r, car, &lap, &cl, err);
    keep_drive(r, &b, c, lap, cl, 1);
    int ev = 1;
    /* A profile the car cannot lap (it leaves the track): slower everywhere until it can. */
    for (int k = 0; k < 10 && !isfinite(lap) && ev < max_evals; k++) {
        for (int w = 0; w < nw; w++)
            r->g[w] *= 0.95;
        c = drive_cost(r, car, &lap, &cl, err);
        ev++;
        keep_drive(r, &b, c, lap, cl, 1);
    }
    for (double step = 0.04; step > 0.009 && ev < max_evals; step *= 0.5) {
        int improved = 1;
        for (int sweep = 0; sweep < 3 && improved && ev < max_evals; sweep++) {
            improved = 0;
            /* The whole profile up or down first (the windows alone settle where a uniform
             * change would still gain). */
            for (int dir = 1; dir >= -1 && ev < max_evals; dir -= 2) {
                for (int w = 0; w < nw; w++)
                    r->g[w] *= 1.0 + dir * step;
                c = drive_cost(r, car, &lap, &cl, err);
                ev++;
                if (keep_drive(r, &b, c, lap, cl, 0)) {
                    improved = 1;
                    break;
                }
                for (int w = 0; w < nw; w++)
                    r->g[w] /= 1.0 + dir * step;
            }
            for (int w = 0; w < nw && ev < max_evals; w++) {
                for (int dir = 1; dir >= -1 && ev < max_evals; dir -= 2) {
                    double g0 = r->g[w];
                    r->g[w] = g0 * (1.0 + dir * step);
                    c = drive_cost(r, car, &lap, &cl, err);
                    ev++;
                    if (keep_drive(r, &b, c, lap, cl, 0)) {
                        improved = 1;
                        break;
                    }
                    r->g[w] = g0;
                }
            }
        }
    }
    *evals = ev;
    *best_cl = b.cl;
    return b.lap;
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
    int nw = (n + REFINE_WIN - 1) / REFINE_WIN;
    double *buf = td_calloc((size_t)n * 31 + (size_t)r.m * 3 + (size_t)nw, sizeof(double));
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
    r.ds = p, p += n;
    r.u = p, p += n;
    r.cap = p, p += n;
    r.vcmd = p, p += n;
    r.vs = p, p += n;
    r.cl = p, p += n;
    r.vbest = p, p += n;
    r.vsbest = p, p += n;
    r.g = p, p += nw;
    r.c = p, p += r.m;
    r.cc = p, p += r.m;
    r.lv = p, p += (size_t)n * 8;
    r.v = r.lv + (size_t)n * 7; /* the last of longitudinal's loops */
    r.term = p, p += n;
    r.bp = p, p += (size_t)n * 2;
    r.kp = p, p += n;
    r.full_evaluate = o->full_evaluate;
    /* The controls a round's search moves (1): all in the first round, after a widening those
     * near the stations whose margin it changed. */
    double *act = p;
    for (int j = 0; j < r.m; j++)
        act[j] = 1;
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
    int sweeps = 0, open = 1;
    long work = 0;
    for (int round = 0; round < 8; round++) {
        /* max_sweeps, and up to 50 more for each round after a widening (a round after a
         * widening searches only near where the margin changed: the rest of the line has
         * settled, and a sweep of the whole line costs as much as the line is long squared). */
        int budget = o->max_sweeps + 50 * round;
        /*
         * Moves of smooth bumps of controls (a raised-cosine window over 2w + 1 of them), from
         * whole corners (w = 12: 6 m) down to single controls, each tried both ways with a
         * step that halves while nothing improves. Wide bumps move the line across the road
         * without the curvature kinks a single control makes; narrow ones refine it.
         */
        static const int widths[] = {12, 6, 3, 1, 0};
        for (int wi = 0; wi < 5 && sweeps < budget && open; wi++) {
            int w = widths[wi];
            double win[2 * 12 + 1];
            for (int q = -w; q <= w; q++)
                win[q + w] = w ? 0.5 * (1 + cos(M_PI * q / (w + 1))) : 1.0;
            for (double delta = round ? 0.04 : 0.16; delta > 0.004 && sweeps < budget && open;
                 delta *= 0.5) {
                int improved = 1;
                while (improved && sweeps < budget && open) {
                    improved = 0;
                    sweeps++;
                    for (int j = 0; j < r.m && open; j++) {
                        for (int dir = -1; dir <= 1 && act[j]; dir += 2) {
                            for (int q = -w; q <= w; q++)
                                r.c[(j + q + r.m) % r.m] += dir * delta * win[q + w];
                            double l2, c2 = evaluate_move(&r, j - w, 2 * w + 1, &l2);
                            if (round > 0) {
                                work += n;
                                open = work < WIDEN_WORK;
                            }
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
        if (!open)
            break; /* WIDEN_WORK spent: the refinement's drives keep the wheels on */
        int widened = 0;
        for (int j = 0; j < r.m; j++)
            act[j] = 0;
        for (int i = 0; i < n; i++) {
            if (corner_clearance(&r, car, i) < 0.005) {
                for (int d = -8; d <= 8; d++)
                    r.margin[(i + d + n) % n] += 0.01;
                mark_controls(&r, act, i);
                widened = 1;
            }
        }
        /* Then where the simulated car, driving the line, brings a wheel nearer the edge
         * than DRIVE_CLEAR_M (it strays from the line in fast S-bends). */
        if (!widened && o->refine_evals > 0) {
            double cl;
            td_err e2 = {0};
            drive_line(&r, car, r.v, &cl, &e2);
            /* By the largest shortfall within 8 points (1 to 3 cm a round). */
            double *by = r.vcmd;
            for (int i = 0; i < n; i++)
                by[i] = 0;
            for (int i = 0; i < n && cl < DRIVE_CLEAR_M; i++) {
                if (r.cl[i] < DRIVE_CLEAR_M) {
                    double b = DRIVE_CLEAR_M - r.cl[i];
                    b = b < 0.01 ? 0.01 : (b > 0.03 ? 0.03 : b);
                    for (int d = -8; d <= 8; d++)
                        by[(i + d + n) % n] = b > by[(i + d + n) % n] ? b : by[(i + d + n) % n];
                    widened = 1;
                }
            }
            for (int i = 0; i < n; i++) {
                r.margin[i] += by[i];
                if (by[i] > 0)
                    mark_controls(&r, act, i);
            }
        }
        if (!widened)
            break;
        cost = evaluate(&r, &lap);
    }
    cost = evaluate(&r, &lap);
    rl->plan_lap_s = lap;
    /*
     * The driven refinement: the profile's speeds scaled window by window while the
     * simulated car laps faster with its wheels on the road. The line's speeds are then the
     * car's on its laps (what it really does) and its lap time theirs; the driver is given
     * the commands that make them (v_cmd).
     */
    const double *vcar = r.v, *vcmd = r.v;
    rl->drive_lap_s = -1;
    if (o->refine_evals > 0) {
        td_err e2 = {0};
        int drives = o->refine_evals;
        if (t->length > REFINE_REF_M)
            drives = (int)ceil(drives * REFINE_REF_M / t->length);
        double dl = refine(&r, car, drives, &rl->refine_evals, &rl->drive_clearance_m, &e2);
        if (isfinite(dl)) {
            rl->drive_lap_s = dl;
            vcar = r.vsbest;
            vcmd = r.vbest;
        }
    }

    double *out = td_calloc((size_t)n * 9, sizeof(double));
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
    rl->v_cmd = out + 8 * n;
    double d = 0, tt = 0, minc = INFINITY;
    for (int i = 0; i < n; i++) {
        rl->x[i] = r.x[i];
        rl->y[i] = r.y[i];
        rl->lat[i] = r.lat[i];
        rl->s[i] = i * r.step;
        rl->d[i] = d;
        rl->kappa[i] = r.k[i];
        rl->v[i] = vcar[i];
        rl->v_cmd[i] = vcmd[i];
        rl->t[i] = tt;
        d += r.ds[i];
        tt += vcar == r.v ? 2.0 * r.ds[i] / (vcar[i] + vcar[(i + 1) % n]) : r.ds[i] / vcar[i];
        double cl = corner_clearance(&r, car, i);
        minc = cl < minc ? cl : minc;
    }
    rl->length_m = d;
    rl->lap_time_s = tt;
    rl->min_margin_m = minc;
    rl->sweeps = sweeps;
    rl->search_evals = r.search_evals;
    rl->search_work = r.work;
    td_free(buf);
    return 0;
}

void td_racing_line_free(td_racing_line *rl)
{
    td_free(rl->x);
    memset(rl, 0, sizeof(*rl));
}
