/*
 * calibrate.c - fitting the car model to logs by open-loop replay (calibrate.h): the
 * windows of a simtrace, the replay of one window, the error statistics and a bounded
 * Nelder-Mead search over the car's response parameters.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"
#include "trackday/calibrate.h"

void td_calib_options_default(td_calib_options *o)
{
    o->history_steps = 15;
    o->horizon_steps[0] = 15;
    o->horizon_steps[1] = 30;
    o->fixed_dt = 0;
    o->stride = 1;
}

/* ---- windows ------------------------------------------------------------------------------ */

/* Row i follows row i - 1 in the same episode. */
static int continues(const td_simtrace_row *r, int i)
{
    return i > 0 && r[i].file == r[i - 1].file && r[i].episode == r[i - 1].episode &&
           r[i].steps == r[i - 1].steps + 1;
}

static int in_progress(const td_simtrace_row *r)
{
    return strcmp(r->episode_status, "in_progress") == 0;
}

static int held(const td_simtrace_row *r)
{
    return strcmp(r->episode_status, "prepare") == 0 || strcmp(r->episode_status, "pause") == 0;
}

int td_calib_data_init(td_calib_data *d, const td_simtrace *t, const int *file_group,
                       const td_calib_options *o, td_err *err)
{
    memset(d, 0, sizeof(*d));
    d->t = t;
    d->o = *o;
    int n = t->n, hist = o->history_steps, hor = o->horizon_steps[1];
    if (hist < 0 || hor < 1 || o->horizon_steps[0] < 1 || o->horizon_steps[0] > hor)
        return td_err_set(err, TD_EINVAL, "calibrate: bad history or horizons");
    int stride = o->stride > 0 ? o->stride : 1;
    d->dt = td_malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    d->w = td_malloc(sizeof(td_calib_window) * (size_t)(n > 0 ? n : 1));
    int *run = td_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!d->dt || !d->w || !run) {
        td_free(run);
        td_calib_data_free(d);
        return td_err_set(err, TD_ENOMEM, "calibrate: out of memory for %d rows", n);
    }
    const td_simtrace_row *r = t->rows;
    /* run[i]: rows i - run[i] + 1 .. i continue one another, are in progress (but row i may
     * end the episode) and have usable durations. */
    for (int i = 0; i < n; i++) {
        int cont = continues(r, i);
        double dt = 1.0 / TD_SIM_HZ;
        if (cont && !o->fixed_dt)
            dt = r[i].tstamp - r[i - 1].tstamp;
        d->dt[i] = dt;
        int ok_dt = dt >= 0 && dt <= TD_CAR_MAX_STEP_S;
        if (!ok_dt)
            run[i] = 0;
        else if (cont && run[i - 1] > 0 && in_progress(&r[i - 1]))
            run[i] = run[i - 1] + 1;
        else
            run[i] = held(&r[i]) ? 0 : 1;
    }
    int nw = 0, skipped_short = 0;
    for (int k = hist; k + hor < n; k += stride) {
        /* Rows k - hist .. k + hor must form one run; the last may end the episode. */
        if (run[k + hor] < hist + hor + 1) {
            skipped_short++;
            continue;
        }
        int first = k - hist;
        td_calib_window *w = &d->w[nw++];
        w->row = k;
        w->group = file_group ? file_group[r[k].file] : r[k].file;
        /* The car was held before the first history row (DeepRacer's prepare step), or the
         * history starts the episode: it starts at rest with no command pending. */
        w->at_rest = (continues(r, first) && held(&r[first - 1])) ||
                     (!continues(r, first) && r[first].steps <= 1);
    }
    td_free(run);
    d->n = nw;
    if (nw == 0) {
        td_calib_data_free(d);
        return td_err_set(err, TD_ENOENT,
                          "calibrate: no usable window in %d rows: a window needs %d consecutive "
                          "in-progress steps of one episode (%d of history, %d ahead)",
                          n, hist + hor + 1, hist, hor);
    }
    return 0;
}

void td_calib_data_free(td_calib_data *d)
{
    td_free(d->dt);
    td_free(d->w);
    memset(d, 0, sizeof(*d));
}

/* ---- replay ------------------------------------------------------------------------------- */

/* Replays window w: predicted model point and yaw after each of the horizon's steps. */
static void replay_window(const td_calib_data *d, const td_car_config *car,
                          const td_calib_window *w, double *px, double *py, double *pyaw)
{
    const td_simtrace_row *r = d->t->rows;
    int k = w->row, hist = d->o.history_steps, hor = d->o.horizon_steps[1];
    double yaw = r[k].yaw_deg * (M_PI / 180.0), mp = car->model_point_m;
    td_car_state st;
    td_car_place(&st, r[k].x - mp * cos(yaw), r[k].y - mp * sin(yaw), yaw);
    if (!w->at_rest) {
        const td_simtrace_row *h0 = &r[k - hist];
        double v = td__clip(h0->throttle, car->speed_min, car->speed_max);
        td_car_set_speed(car, &st, v * (car->speed_gain > 0 ? car->speed_gain : 1.0));
    }
    for (int j = k - hist; j < k; j++)
        td_car_respond(car, &st, r[j].steer_deg, r[j].throttle, d->dt[j]);
    for (int j = 0; j < hor; j++) {
        td_car_step(car, &st, r[k + j].steer_deg, r[k + j].throttle, d->dt[k + j]);
        px[j] = st.x + mp * st.cos_yaw;
        py[j] = st.y + mp * st.sin_yaw;
        pyaw[j] = st.yaw;
    }
}

static double wrap_deg(double a)
{
    a = fmod(a, 360.0);
    if (a > 180.0)
        a -= 360.0;
    if (a < -180.0)
        a += 360.0;
    return a;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Linear-interpolated quantile of sorted v[0..n). */
static double quantile(const double *v, int n, double q)
{
    if (n <= 0)
        return NAN;
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1)
        return v[n - 1];
    double f = pos - i;
    return v[i] * (1 - f) + v[i + 1] * f;
}

int td_calib_errors_compute(const td_calib_data *d, const td_car_config *car, int group,
                            td_calib_errors *out, td_err *err)
{
    memset(out, 0, sizeof(*out));
    int hor = d->o.horizon_steps[1];
    double *buf = td_malloc(sizeof(double) * ((size_t)d->n * 4 + (size_t)hor * 3));
    if (!buf)
        return td_err_set(err, TD_ENOMEM, "calibrate: out of memory");
    double *pos[2] = {buf, buf + d->n}, *yaw[2] = {buf + 2 * d->n, buf + 3 * d->n};
    double *px = buf + 4 * (size_t)d->n, *py = px + hor, *pyaw = py + hor;
    const td_simtrace_row *r = d->t->rows;
    int m = 0;
    for (int i = 0; i < d->n; i++) {
        const td_calib_window *w = &d->w[i];
        if (group >= 0 && w->group != group)
            continue;
        replay_window(d, car, w, px, py, pyaw);
        for (int h = 0; h < 2; h++) {
            int s = d->o.horizon_steps[h];
            const td_simtrace_row *q = &r[w->row + s];
            pos[h][m] = hypot(px[s - 1] - q->x, py[s - 1] - q->y);
            yaw[h][m] = fabs(wrap_deg(pyaw[s - 1] * (180.0 / M_PI) - q->yaw_deg));
        }
        m++;
    }
    out->windows = m;
    for (int h = 0; h < 2; h++) {
        qsort(pos[h], (size_t)m, sizeof(double), cmp_double);
        qsort(yaw[h], (size_t)m, sizeof(double), cmp_double);
        out->pos_median_m[h] = quantile(pos[h], m, 0.5);
        out->pos_p90_m[h] = quantile(pos[h], m, 0.9);
        out->yaw_median_deg[h] = quantile(yaw[h], m, 0.5);
        out->yaw_p90_deg[h] = quantile(yaw[h], m, 0.9);
    }
    td_free(buf);
    return 0;
}

/* ---- fit ---------------------------------------------------------------------------------- */

#define N_PARAMS        8
#define ROBUST_C2       (0.3 * 0.3)
#define FIT_MAX_WINDOWS 2500

static const char *const PARAM_NAMES[N_PARAMS] = {
    "steer_gain",    "steer_tau_s", "steer_delay_s",  "speed_tau_s",
    "speed_delay_s", "speed_gain",  "accel_max_mps2", "grip_mps2"};

/* Search bounds; accel_max and grip are searched as their inverses (0 = no limit). */
static const double LO[N_PARAMS] = {0.1, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0};
static const double HI[N_PARAMS] = {3.0, 1.0, TD_CAR_MAX_DELAY_S, 1.0, TD_CAR_MAX_DELAY_S, 2.0,
                                    1.0, 1.0};

int td_calib_params_parse(const char *list, unsigned *out, td_err *err)
{
    unsigned bits = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int found = 0;
        if (len == 3 && strncmp(p, "all", 3) == 0) {
            bits |= TD_CALIB_ALL;
            found = 1;
        }
        for (int i = 0; i < N_PARAMS && !found; i++)
            if (strlen(PARAM_NAMES[i]) == len && strncmp(p, PARAM_NAMES[i], len) == 0) {
                bits |= 1u << i;
                found = 1;
            }
        if (!found)
            return td_err_set(err, TD_EINVAL,
                              "unknown parameter '%.*s' (steer_gain, steer_tau_s, steer_delay_s, "
                              "speed_tau_s, speed_delay_s, speed_gain, accel_max_mps2, "
                              "grip_mps2 or all)",
                              (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
    if (!bits)
        return td_err_set(err, TD_EINVAL, "no parameter to fit");
    *out = bits;
    return 0;
}

static void to_vec(const td_car_config *c, double *v)
{
    v[0] = c->steer_gain;
    v[1] = c->steer_tau_s;
    v[2] = c->steer_delay_s;
    v[3] = c->speed_tau_s;
    v[4] = c->speed_delay_s;
    v[5] = c->speed_gain;
    v[6] = c->accel_max_mps2 > 1.0 ? 1.0 / c->accel_max_mps2 : 0.0;
    v[7] = c->grip_mps2 > 1.0 ? 1.0 / c->grip_mps2 : 0.0;
}

static void from_vec(td_car_config *c, const double *v)
{
    c->steer_gain = v[0];
    c->steer_tau_s = v[1];
    c->steer_delay_s = v[2];
    c->speed_tau_s = v[3];
    c->speed_delay_s = v[4];
    c->speed_gain = v[5];
    c->accel_max_mps2 = v[6] > 1e-3 ? 1.0 / v[6] : 0.0;
    c->grip_mps2 = v[7] > 1e-3 ? 1.0 / v[7] : 0.0;
}

typedef struct fit_ctx {
    const td_calib_data *d;
    td_car_config base;
    int idx[N_PARAMS], k; /* the free parameters */
    double full[N_PARAMS];
    double *px, *py, *pyaw;
    int stride, nwin; /* windows used: every stride-th, nwin of them */
    long m;           /* residuals: 2 per window and step */
    int evals;
} fit_ctx;

/* The car at free parameters x (clipped into bounds in place). */
static void car_at(fit_ctx *f, double *x, td_car_config *c)
{
    double v[N_PARAMS];
    memcpy(v, f->full, sizeof(v));
    for (int j = 0; j < f->k; j++) {
        int p = f->idx[j];
        x[j] = td__clip(x[j], LO[p], HI[p]);
        v[p] = x[j];
    }
    *c = f->base;
    from_vec(c, v);
}

/* Position residuals (x, y per window and step) of the car at x; returns the robust cost. */
static double residuals(fit_ctx *f, double *x, double *res)
{
    td_car_config c;
    car_at(f, x, &c);
    const td_simtrace_row *r = f->d->t->rows;
    int hor = f->d->o.horizon_steps[1];
    double sum = 0;
    long at = 0;
    for (int i = 0; i < f->d->n; i += f->stride) {
        const td_calib_window *w = &f->d->w[i];
        replay_window(f->d, &c, w, f->px, f->py, f->pyaw);
        for (int s = 0; s < hor; s++) {
            const td_simtrace_row *q = &r[w->row + s + 1];
            double ex = f->px[s] - q->x, ey = f->py[s] - q->y;
            res[at++] = ex;
            res[at++] = ey;
            sum += ROBUST_C2 * log1p((ex * ex + ey * ey) / ROBUST_C2);
        }
    }
    f->evals++;
    return sum / (double)(f->m / 2);
}

/* Solves the k x k system a x = b in place (Gaussian elimination with pivoting). */
static int solve(double a[N_PARAMS][N_PARAMS], double *b, int k)
{
    for (int c = 0; c < k; c++) {
        int piv = c;
        for (int r = c + 1; r < k; r++)
            if (fabs(a[r][c]) > fabs(a[piv][c]))
                piv = r;
        if (fabs(a[piv][c]) < 1e-300)
            return -1;
        if (piv != c) {
            for (int j = 0; j < k; j++) {
                double t = a[c][j];
                a[c][j] = a[piv][j];
                a[piv][j] = t;
            }
            double t = b[c];
            b[c] = b[piv];
            b[piv] = t;
        }
        for (int r = c + 1; r < k; r++) {
            double g = a[r][c] / a[c][c];
            for (int j = c; j < k; j++)
                a[r][j] -= g * a[c][j];
            b[r] -= g * b[c];
        }
    }
    for (int c = k - 1; c >= 0; c--) {
        for (int j = c + 1; j < k; j++)
            b[c] -= a[c][j] * b[j];
        b[c] /= a[c][c];
    }
    return 0;
}

/*
 * Levenberg-Marquardt on the position residuals with Cauchy weights (iteratively
 * reweighted: the robust cost's minimum), a forward-difference Jacobian, and steps
 * projected into the bounds. Parameters are scaled to their search ranges.
 */
static double levenberg_marquardt(fit_ctx *f, double *x, int max_evals, double *scratch)
{
    int k = f->k;
    long m = f->m;
    double *r0 = scratch, *r1 = scratch + m, *jac = scratch + 2 * m; /* jac: k columns */
    double cost = residuals(f, x, r0), lambda = 1e-3;
    while (f->evals + k + 1 <= max_evals) {
        /* Jacobian columns by forward differences, in units of each parameter's range, with
         * steps of 1e-3 of it: where the grip limits the car, every sub-step that starts or
         * stops being clipped puts a kink in the residuals, and a smaller step follows their
         * local slopes rather than the trend (a log of trackday's own car stalled 1e4 times
         * above its true cost with 1e-4). */
        for (int j = 0; j < k; j++) {
            int p = f->idx[j];
            double range = HI[p] - LO[p], hstep = 1e-3 * range;
            double xj[N_PARAMS];
            memcpy(xj, x, sizeof(double) * (size_t)k);
            if (xj[j] + hstep > HI[p])
                hstep = -hstep;
            xj[j] += hstep;
            residuals(f, xj, r1);
            double inv = range / hstep;
            for (long i = 0; i < m; i++)
                jac[j * m + i] = (r1[i] - r0[i]) * inv;
        }
        /* Normal equations with the Cauchy weight of each point's error. */
        double a[N_PARAMS][N_PARAMS] = {{0}}, g[N_PARAMS] = {0};
        for (long i = 0; i < m; i += 2) {
            double e2 = r0[i] * r0[i] + r0[i + 1] * r0[i + 1];
            double w = 1.0 / (1.0 + e2 / ROBUST_C2);
            for (int u = 0; u < k; u++) {
                const double *ju = jac + u * m + i;
                g[u] += w * (ju[0] * r0[i] + ju[1] * r0[i + 1]);
                for (int v = 0; v <= u; v++) {
                    const double *jv = jac + v * m + i;
                    a[u][v] += w * (ju[0] * jv[0] + ju[1] * jv[1]);
                }
            }
        }
        for (int u = 0; u < k; u++)
            for (int v = u + 1; v < k; v++)
                a[u][v] = a[v][u];
        int improved = 0;
        while (f->evals < max_evals && lambda < 1e10) {
            double b[N_PARAMS], aa[N_PARAMS][N_PARAMS], xn[N_PARAMS];
            for (int u = 0; u < k; u++) {
                b[u] = -g[u];
                for (int v = 0; v < k; v++)
                    aa[u][v] = a[u][v] + (u == v ? lambda * (a[u][u] + 1e-12) : 0.0);
            }
            if (solve(aa, b, k)) {
                lambda *= 10;
                continue;
            }
            double moved = 0;
            for (int j = 0; j < k; j++) {
                int p = f->idx[j];
                xn[j] = td__clip(x[j] + b[j] * (HI[p] - LO[p]), LO[p], HI[p]);
                moved += fabs(xn[j] - x[j]) / (HI[p] - LO[p]);
            }
            if (moved < 1e-9)
                break;
            double cn = residuals(f, xn, r1);
            if (cn < cost) {
                improved = cost - cn > 1e-10 * cost;
                memcpy(x, xn, sizeof(double) * (size_t)k);
                memcpy(r0, r1, sizeof(double) * (size_t)m);
                cost = cn;
                lambda = lambda * 0.3 > 1e-7 ? lambda * 0.3 : 1e-7;
                break;
            }
            lambda *= 10;
        }
        if (!improved)
            break;
    }
    return cost;
}

int td_calib_fit(const td_calib_data *d, const td_car_config *start, unsigned params, int max_evals,
                 td_car_config *out, td_calib_fit_result *res, td_err *err)
{
    memset(res, 0, sizeof(*res));
    fit_ctx f;
    memset(&f, 0, sizeof(f));
    f.d = d;
    f.base = *start;
    to_vec(start, f.full);
    for (int p = 0; p < N_PARAMS; p++)
        if (params & (1u << p))
            f.idx[f.k++] = p;
    if (f.k == 0)
        return td_err_set(err, TD_EINVAL, "calibrate: no parameter to fit");
    int hor = d->o.horizon_steps[1];
    /* Many windows overlap heavily; a spread subset keeps a fit to seconds. */
    f.stride = d->n > FIT_MAX_WINDOWS ? (d->n + FIT_MAX_WINDOWS - 1) / FIT_MAX_WINDOWS : 1;
    f.nwin = (d->n + f.stride - 1) / f.stride;
    f.m = 2L * hor * f.nwin;
    f.px = td_malloc(sizeof(double) * (size_t)hor * 3);
    double *scratch = td_malloc(sizeof(double) * (size_t)f.m * (size_t)(f.k + 2));
    if (!f.px || !scratch) {
        td_free(f.px);
        td_free(scratch);
        return td_err_set(err, TD_ENOMEM, "calibrate: out of memory for %ld residuals", f.m);
    }
    f.py = f.px + hor;
    f.pyaw = f.py + hor;
    double x[N_PARAMS], best[N_PARAMS];
    for (int j = 0; j < f.k; j++)
        x[j] = f.full[f.idx[j]];
    res->cost_before = residuals(&f, x, scratch);
    memcpy(best, x, sizeof(x));
    double best_cost = res->cost_before;
    /*
     * A gradient step cannot leave "no limit" (the inverse at 0 has no effect nearby), so the
     * search also starts from moderate limits; the starts share the budget.
     */
    for (int s = 0; s < 2 && f.evals < max_evals; s++) {
        double xs[N_PARAMS];
        int changed = 0;
        memcpy(xs, x, sizeof(x));
        for (int j = 0; j < f.k && s == 1; j++) {
            if ((f.idx[j] == 6 || f.idx[j] == 7) && xs[j] < 1e-3) {
                xs[j] = f.idx[j] == 6 ? 1.0 / 15.0 : 1.0 / 8.0; /* 15 and 8 m/s^2 */
                changed = 1;
            }
        }
        if (s == 1 && !changed)
            break;
        int budget = s == 0 ? f.evals + (max_evals - f.evals) / 2 : max_evals;
        double c = levenberg_marquardt(&f, xs, budget, scratch);
        if (c < best_cost) {
            best_cost = c;
            memcpy(best, xs, sizeof(xs));
        }
    }
    td_car_config c;
    car_at(&f, best, &c);
    *out = c;
    res->cost_after = best_cost;
    res->evaluations = f.evals;
    td_free(f.px);
    td_free(scratch);
    return 0;
}
