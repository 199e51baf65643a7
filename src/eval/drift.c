/*
 * drift.c - drift and degradation checks (drift.h, docs/drift.md): PSI, Kolmogorov-Smirnov and
 * Jensen-Shannon between histograms with the same bins, states with hysteresis, a CUSUM on lap
 * times, and the per-window report a device's monitor produces.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/drift.h"

/* ---- distances ------------------------------------------------------------------------ */

static double total_of(const uint64_t *c, int k)
{
    double t = 0;
    for (int i = 0; i < k; i++)
        t += (double)c[i];
    return t;
}

double td_drift_psi_counts(const uint64_t *ref, const uint64_t *cur, int k)
{
    double R = total_of(ref, k), C = total_of(cur, k), psi = 0;
    if (R <= 0 || C <= 0)
        return 0;
    for (int i = 0; i < k; i++) {
        double r = fmax((double)ref[i] / R, TD_DRIFT_PSI_EPS);
        double c = fmax((double)cur[i] / C, TD_DRIFT_PSI_EPS);
        psi += (c - r) * log(c / r);
    }
    return psi;
}

double td_drift_js_counts(const uint64_t *ref, const uint64_t *cur, int k)
{
    double R = total_of(ref, k), C = total_of(cur, k), div = 0;
    if (R <= 0 || C <= 0)
        return 0;
    for (int i = 0; i < k; i++) {
        double p = (double)ref[i] / R, q = (double)cur[i] / C, m = (p + q) / 2;
        if (p > 0)
            div += 0.5 * p * log(p / m);
        if (q > 0)
            div += 0.5 * q * log(q / m);
    }
    div /= log(2.0);
    return sqrt(div > 0 ? div : 0);
}

double td_drift_ks_counts(const uint64_t *ref, const uint64_t *cur, int k)
{
    double R = total_of(ref, k), C = total_of(cur, k), a = 0, b = 0, d = 0;
    if (R <= 0 || C <= 0)
        return 0;
    for (int i = 0; i < k; i++) {
        a += (double)ref[i];
        b += (double)cur[i];
        d = fmax(d, fabs(a / R - b / C));
    }
    return d;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int td_drift_ks_samples(const double *x, size_t n, const double *y, size_t m, double *d)
{
    *d = 0;
    if (!n || !m)
        return 0;
    double *a = td_malloc((n + m) * sizeof(double));
    if (!a)
        return TD_ENOMEM;
    double *b = a + n;
    memcpy(a, x, n * sizeof(double));
    memcpy(b, y, m * sizeof(double));
    qsort(a, n, sizeof(double), cmp_double);
    qsort(b, m, sizeof(double), cmp_double);
    size_t i = 0, j = 0;
    double best = 0;
    /* Walk the merged values; ties advance both sides before the difference is taken. */
    while (i < n && j < m) {
        double v = a[i] < b[j] ? a[i] : b[j];
        while (i < n && a[i] == v)
            i++;
        while (j < m && b[j] == v)
            j++;
        best = fmax(best, fabs((double)i / (double)n - (double)j / (double)m));
    }
    td_free(a);
    *d = best;
    return 0;
}

double td_drift_ks_pvalue(double d, double n, double m)
{
    if (n <= 0 || m <= 0 || d <= 0)
        return 1;
    double z = sqrt(n * m / (n + m)) * d;
    if (z < 1) {
        /* cdf = sqrt(2 pi) / z sum exp(-(2j-1)^2 pi^2 / (8 z^2)) converges fast for small z. */
        double s = 0;
        for (int j = 1; j < 20; j++) {
            double t = (2.0 * j - 1) * M_PI;
            s += exp(-t * t / (8 * z * z));
        }
        double p = 1 - sqrt(2 * M_PI) / z * s;
        return p < 0 ? 0 : p > 1 ? 1 : p;
    }
    double s = 0;
    for (int j = 1; j < 100; j++) {
        double t = exp(-2.0 * j * j * z * z);
        s += (j % 2 ? 1 : -1) * t;
        if (t < 1e-300)
            break;
    }
    double p = 2 * s;
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

/* A histogram's counts with under first and over last (n + 2 bins). */
static int bins_of(const td_hist *h, uint64_t *out)
{
    out[0] = h->under;
    for (int i = 0; i < h->n; i++)
        out[i + 1] = h->counts[i];
    out[h->n + 1] = h->over;
    return h->n + 2;
}

int td_drift_hist(const td_hist *ref, const td_hist *cur, td_drift_dist *out)
{
    uint64_t a[TD_HIST_MAX_BINS + 2], b[TD_HIST_MAX_BINS + 2];
    memset(out, 0, sizeof(*out));
    if (ref->n != cur->n || ref->lo != cur->lo || ref->hi != cur->hi)
        return TD_EINVAL;
    int k = bins_of(ref, a);
    bins_of(cur, b);
    out->psi = td_drift_psi_counts(a, b, k);
    out->js = td_drift_js_counts(a, b, k);
    out->ks = td_drift_ks_counts(a, b, k);
    out->ks_p = td_drift_ks_pvalue(out->ks, (double)ref->total, (double)cur->total);
    return 0;
}

double td_hist_quantile(const td_hist *h, double q)
{
    if (h->total == 0)
        return NAN;
    double target = q * (double)h->total, acc = (double)h->under;
    if (target <= acc)
        return h->under ? h->min : h->lo;
    double w = (h->hi - h->lo) / h->n;
    for (int i = 0; i < h->n; i++) {
        double c = (double)h->counts[i];
        if (c > 0 && target <= acc + c)
            return h->lo + w * (i + (target - acc) / c);
        acc += c;
    }
    return h->over > h->nan ? h->max : h->hi;
}

double td_hist_mean(const td_hist *h)
{
    uint64_t n = h->total - h->nan;
    return n ? h->sum / (double)n : NAN;
}

/* ---- hysteresis ------------------------------------------------------------------------- */

const char *td_drift_level_name(td_drift_level l)
{
    return l == TD_DRIFT_ALERT ? "alert" : l == TD_DRIFT_WARNING ? "warning" : "ok";
}

td_drift_level td_drift_hyst_step(td_drift_hyst *h, const td_drift_hyst_params *p, double value,
                                  double warn, double alert)
{
    if (value != value)
        return h->level;
    td_drift_level target = value >= alert  ? TD_DRIFT_ALERT
                            : value >= warn ? TD_DRIFT_WARNING
                                            : TD_DRIFT_OK;
    int raise = p->raise < 1 ? 1 : p->raise, clear = p->clear < 1 ? 1 : p->clear;
    if (target > h->level) {
        /* The level reached after `raise` windows is the lowest of the run's targets. */
        h->pending = h->up == 0 || target < h->pending ? target : h->pending;
        h->down = 0;
        if (++h->up >= raise) {
            h->level = h->pending;
            h->up = 0;
        }
        return h->level;
    }
    h->up = 0;
    h->pending = TD_DRIFT_OK;
    if (h->level > TD_DRIFT_OK) {
        double th = h->level == TD_DRIFT_ALERT ? alert : warn;
        if (value < p->clear_ratio * th) {
            if (++h->down >= clear) {
                h->level = (td_drift_level)(h->level - 1);
                h->down = 0;
            }
        } else {
            h->down = 0;
        }
    }
    return h->level;
}

/* ---- CUSUM -------------------------------------------------------------------------------- */

void td_cusum_init(td_cusum *c, double mu, double sigma, double k, double h)
{
    memset(c, 0, sizeof(*c));
    c->mu = mu;
    c->sigma = sigma > 0 ? sigma : 1;
    c->k = k;
    c->h = h;
    c->alarm_at = -1;
}

int td_cusum_add(td_cusum *c, double x)
{
    if (x == x) {
        double z = (x - c->mu) / c->sigma;
        c->s = fmin(fmax(0, c->s + z - c->k), 1e9);
        c->n++;
        if (c->s > c->h && c->alarm_at < 0)
            c->alarm_at = c->n - 1;
    }
    return c->s > c->h;
}

/* ---- the report ------------------------------------------------------------------------- */

static const char *check_names[TD_DRIFT_N_CHECKS] = {"input_drift", "action_drift", "confidence",
                                                     "latency", "lap_time"};

const char *td_drift_check_name(int id)
{
    return id >= 0 && id < TD_DRIFT_N_CHECKS ? check_names[id] : "?";
}

void td_drift_config_default(td_drift_config *c)
{
    memset(c, 0, sizeof(*c));
    c->psi_warn = 0.1;
    c->psi_alert = 0.25;
    c->conf_warn = 0.15;
    c->conf_alert = 0.30;
    c->lat_warn = 1.5;
    c->lat_alert = 2.0;
    c->cusum_k = 0.5;
    c->cusum_warn = 4;
    c->cusum_alert = 8;
    c->lap_sigma_floor = 0.03;
    c->min_frames = 100;
    c->min_shift_sd = 0.5;
    c->min_shift_bins = 2;
    c->hyst.raise = 2;
    c->hyst.clear = 3;
    c->hyst.clear_ratio = 0.8;
}

static int is_input(const char *name)
{
    return !strncmp(name, "camera.", 7) || !strncmp(name, "lidar.", 6) ||
           !strncmp(name, "state.", 6);
}

static td_drift_level level_of(double v, double warn, double alert)
{
    return v != v       ? TD_DRIFT_OK
           : v >= alert ? TD_DRIFT_ALERT
           : v >= warn  ? TD_DRIFT_WARNING
                        : TD_DRIFT_OK;
}

/* The lower 5% quantile of the chi-square distribution with k degrees of freedom (k = 1..30 from
 * the tables, beyond by Wilson-Hilferty). */
static double chi2_q05(int k)
{
    static const double q[31] = {0,      0.00393, 0.103,  0.352,  0.711,  1.145,  1.635,  2.167,
                                 2.733,  3.325,   3.940,  4.575,  5.226,  5.892,  6.571,  7.261,
                                 7.962,  8.672,   9.390,  10.117, 10.851, 11.591, 12.338, 13.091,
                                 13.848, 14.611,  15.379, 16.151, 16.928, 17.708, 18.493};
    if (k >= 1 && k <= 30)
        return q[k];
    double a = 2.0 / (9.0 * k), t = 1.0 - a - 1.6449 * sqrt(a);
    return k * t * t * t;
}

/*
 * The mean of the reference laps and the sigma the CUSUM runs with: the sample standard
 * deviation's upper 95% confidence bound, s sqrt((n - 1) / chi2_0.05(n - 1)) (a bundle carries a
 * few evaluation laps: 3 laps put the bound at 4.4 s, 10 laps at 1.65 s, 30 at 1.3 s; a CUSUM
 * run with a sigma that is too small alarms on a stationary series), floored at
 * lap_sigma_floor x mu.
 */
static int lap_baseline(const td_summary *ref, const td_drift_config *cfg, double *mu,
                        double *sigma)
{
    const td_summary_outcomes *o = &ref->outcomes;
    if (o->n_laps < 1)
        return 0;
    double s = 0, ss = 0;
    for (int i = 0; i < o->n_laps; i++)
        s += o->lap_times_s[i];
    *mu = s / o->n_laps;
    for (int i = 0; i < o->n_laps; i++)
        ss += (o->lap_times_s[i] - *mu) * (o->lap_times_s[i] - *mu);
    double sd = o->n_laps > 1 ? sqrt(ss / (o->n_laps - 1)) : 0;
    if (o->n_laps > 1)
        sd *= sqrt((o->n_laps - 1) / chi2_q05(o->n_laps - 1));
    *sigma = fmax(sd, cfg->lap_sigma_floor * *mu);
    if (!(*sigma > 0))
        *sigma = 1;
    return 1;
}

static void set_check(td_drift_check *c, double value, double warn, double alert)
{
    c->value = value;
    c->warn = warn;
    c->alert = alert;
    c->level = level_of(value, warn, alert);
}

int td_drift_compare(const td_summary *ref, const td_summary *cur, const td_drift_config *cfg,
                     td_drift_report *out, td_err *err)
{
    td_drift_config dflt;
    if (!cfg) {
        td_drift_config_default(&dflt);
        cfg = &dflt;
    }
    memset(out, 0, sizeof(*out));
    if (ref->n_hist != cur->n_hist)
        return td_err_set(err, TD_EINVAL, "drift: the two summaries are of different models");
    for (int i = 0; i < ref->n_hist; i++)
        if (strcmp(ref->hist[i].name, cur->hist[i].name) || ref->hist[i].n != cur->hist[i].n ||
            ref->hist[i].lo != cur->hist[i].lo || ref->hist[i].hi != cur->hist[i].hi)
            return td_err_set(err, TD_EINVAL, "drift: histogram %s has different bins",
                              ref->hist[i].name);
    out->features = td_calloc((size_t)(ref->n_hist ? ref->n_hist : 1), sizeof(td_drift_feature));
    if (!out->features)
        return td_err_set(err, TD_ENOMEM, "drift: out of memory");
    out->n_features = ref->n_hist;
    out->ref_frames = ref->frames;
    out->cur_frames = cur->frames;
    int enough = cur->frames >= cfg->min_frames;
    double in_max = NAN, act_max = NAN;
    const char *in_name = "", *act_name = "";
    for (int i = 0; i < ref->n_hist; i++) {
        td_drift_feature *f = &out->features[i];
        const td_hist *a = &ref->hist[i], *b = &cur->hist[i];
        snprintf(f->name, sizeof(f->name), "%s", a->name);
        td_drift_hist(a, b, &f->d);
        f->ref_mean = td_hist_mean(a);
        f->cur_mean = td_hist_mean(b);
        f->ref_n = a->total;
        f->cur_n = b->total;
        f->input = is_input(a->name);
        int have = a->total > 0 && b->total > 0;
        /* Did the mean move enough to matter? (Not asked of the categorical action index.) */
        f->significant = 1;
        if (have && strcmp(a->name, "action")) {
            uint64_t n = a->total - a->nan;
            double var = n ? a->sum_sq / (double)n - f->ref_mean * f->ref_mean : 0;
            double sd = sqrt(var > 0 ? var : 0), width = (a->hi - a->lo) / a->n;
            double guard = fmax(cfg->min_shift_sd * sd, cfg->min_shift_bins * width);
            f->significant = fabs(f->cur_mean - f->ref_mean) >= guard;
        }
        f->level = have && f->significant ? level_of(f->d.psi, cfg->psi_warn, cfg->psi_alert)
                                          : TD_DRIFT_OK;
        if (!have || !enough || !f->significant)
            continue;
        if (f->input && !(f->d.psi <= in_max)) {
            in_max = f->d.psi;
            in_name = f->name;
        }
        if (!strncmp(a->name, "action", 6) && !(f->d.psi <= act_max)) {
            act_max = f->d.psi;
            act_name = f->name;
        }
    }
    td_drift_check *c = out->checks;
    /* Data, but no feature moved enough: 0. */
    if (enough && !(in_max == in_max))
        for (int i = 0; i < out->n_features; i++)
            if (out->features[i].input && out->features[i].ref_n && out->features[i].cur_n)
                in_max = 0;
    if (enough && !(act_max == act_max))
        for (int i = 0; i < out->n_features; i++)
            if (!strncmp(out->features[i].name, "action", 6) && out->features[i].ref_n &&
                out->features[i].cur_n)
                act_max = 0;
    set_check(&c[TD_DRIFT_INPUT], in_max, cfg->psi_warn, cfg->psi_alert);
    if (in_max == in_max && in_name[0])
        snprintf(c[TD_DRIFT_INPUT].detail, sizeof(c[0].detail), "%s PSI %.3f", in_name, in_max);
    else if (in_max == in_max)
        snprintf(c[TD_DRIFT_INPUT].detail, sizeof(c[0].detail), "no input's mean moved");
    set_check(&c[TD_DRIFT_ACTION], act_max, cfg->psi_warn, cfg->psi_alert);
    if (act_max == act_max)
        snprintf(c[TD_DRIFT_ACTION].detail, sizeof(c[0].detail), "%s PSI %.3f", act_name, act_max);
    /* Confidence collapse: the relative drop of the mean top-1 probability. */
    const td_hist *ta = td_summary_find(ref, "policy.top1"),
                  *tb = td_summary_find(cur, "policy.top1");
    double conf = NAN;
    if (ta && tb && enough && ta->total && tb->total && td_hist_mean(ta) > 0) {
        conf = 1 - td_hist_mean(tb) / td_hist_mean(ta);
        snprintf(c[TD_DRIFT_CONFIDENCE].detail, sizeof(c[0].detail),
                 "mean top-1 probability %.3f (reference %.3f)", td_hist_mean(tb),
                 td_hist_mean(ta));
    }
    set_check(&c[TD_DRIFT_CONFIDENCE], conf, cfg->conf_warn, cfg->conf_alert);
    /* Latency regression: p95 over the reference's p95. */
    const td_hist *la = td_summary_find(ref, "latency_ms"),
                  *lb = td_summary_find(cur, "latency_ms");
    double lat = NAN;
    if (la && lb && enough && la->total && lb->total &&
        td_hist_quantile(la, TD_DRIFT_LATENCY_Q) > 0) {
        lat = td_hist_quantile(lb, TD_DRIFT_LATENCY_Q) / td_hist_quantile(la, TD_DRIFT_LATENCY_Q);
        snprintf(c[TD_DRIFT_LATENCY].detail, sizeof(c[0].detail),
                 "median %.2f ms (reference %.2f ms)", td_hist_quantile(lb, TD_DRIFT_LATENCY_Q),
                 td_hist_quantile(la, TD_DRIFT_LATENCY_Q));
    }
    set_check(&c[TD_DRIFT_LATENCY], lat, cfg->lat_warn, cfg->lat_alert);
    /* Lap times: a fresh CUSUM over cur's laps. */
    double mu, sigma, lap = NAN;
    out->ref_lap_mean = out->cur_lap_mean = NAN;
    out->cur_laps = cur->outcomes.n_laps;
    if (lap_baseline(ref, cfg, &mu, &sigma)) {
        out->ref_lap_mean = mu;
        if (cur->outcomes.n_laps > 0) {
            td_cusum cs;
            td_cusum_init(&cs, mu, sigma, cfg->cusum_k, cfg->cusum_alert);
            double s = 0;
            for (int i = 0; i < cur->outcomes.n_laps; i++) {
                td_cusum_add(&cs, cur->outcomes.lap_times_s[i]);
                s += cur->outcomes.lap_times_s[i];
            }
            lap = cs.s;
            out->cur_lap_mean = s / cur->outcomes.n_laps;
            snprintf(c[TD_DRIFT_LAP_TIME].detail, sizeof(c[0].detail),
                     "mean lap %.2f s (reference %.2f s, sigma %.2f s)", out->cur_lap_mean, mu,
                     sigma);
        }
    }
    set_check(&c[TD_DRIFT_LAP_TIME], lap, cfg->cusum_warn, cfg->cusum_alert);
    out->level = TD_DRIFT_OK;
    for (int i = 0; i < TD_DRIFT_N_CHECKS; i++)
        if (c[i].level > out->level)
            out->level = c[i].level;
    return 0;
}

void td_drift_report_free(td_drift_report *r)
{
    if (!r)
        return;
    td_free(r->features);
    r->features = NULL;
    r->n_features = 0;
}

static json_t *num(double v)
{
    return v == v && fabs(v) < 1e300 ? json_real(v) : json_null();
}

json_t *td_drift_report_to_json(const td_drift_report *r)
{
    json_t *j = json_object(), *checks = json_object(), *fs = json_array();
    json_object_set_new(j, "level", json_string(td_drift_level_name(r->level)));
    for (int i = 0; i < TD_DRIFT_N_CHECKS; i++) {
        const td_drift_check *c = &r->checks[i];
        json_t *o = json_object();
        json_object_set_new(o, "level", json_string(td_drift_level_name(c->level)));
        json_object_set_new(o, "value", num(c->value));
        json_object_set_new(o, "warn", num(c->warn));
        json_object_set_new(o, "alert", num(c->alert));
        json_object_set_new(o, "detail", json_string(c->detail));
        json_object_set_new(checks, check_names[i], o);
    }
    json_object_set_new(j, "checks", checks);
    json_object_set_new(j, "frames",
                        json_pack("{s:I,s:I}", "reference", (json_int_t)r->ref_frames, "current",
                                  (json_int_t)r->cur_frames));
    json_object_set_new(j, "laps",
                        json_pack("{s:i,s:o,s:o}", "current", (int)r->cur_laps, "reference_mean_s",
                                  num(r->ref_lap_mean), "current_mean_s", num(r->cur_lap_mean)));
    for (int i = 0; i < r->n_features; i++) {
        const td_drift_feature *f = &r->features[i];
        json_array_append_new(
            fs, json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:s}", "name", f->name, "psi",
                          num(f->d.psi), "ks", num(f->d.ks), "ks_p", num(f->d.ks_p), "js",
                          num(f->d.js), "reference_mean", num(f->ref_mean), "current_mean",
                          num(f->cur_mean), "reference_n", (json_int_t)f->ref_n, "current_n",
                          (json_int_t)f->cur_n, "level", td_drift_level_name(f->level)));
        json_object_set_new(json_array_get(fs, json_array_size(fs) - 1), "mean_moved",
                            json_boolean(f->significant));
    }
    json_object_set_new(j, "features", fs);
    return j;
}

/* ---- the monitor ------------------------------------------------------------------------- */

void td_drift_monitor_init(td_drift_monitor *m, const td_drift_config *cfg)
{
    memset(m, 0, sizeof(*m));
    if (cfg)
        m->cfg = *cfg;
    else
        td_drift_config_default(&m->cfg);
}

int td_drift_monitor_step(td_drift_monitor *m, const td_summary *ref, const td_summary *window,
                          td_drift_report *out, td_err *err)
{
    int rc = td_drift_compare(ref, window, &m->cfg, out, err);
    if (rc)
        return rc;
    const td_drift_config *cfg = &m->cfg;
    td_drift_check *lc = &out->checks[TD_DRIFT_LAP_TIME];
    double mu, sigma;
    if (!m->cusum_ready && lap_baseline(ref, cfg, &mu, &sigma)) {
        td_cusum_init(&m->cusum, mu, sigma, cfg->cusum_k, cfg->cusum_alert);
        m->cusum_ready = 1;
    }
    if (m->cusum_ready) {
        for (int i = 0; i < window->outcomes.n_laps; i++)
            td_cusum_add(&m->cusum, window->outcomes.lap_times_s[i]);
        /* S holds between laps: a window without laps keeps the verdict. */
        set_check(lc, m->cusum.n > 0 ? m->cusum.s : NAN, cfg->cusum_warn, cfg->cusum_alert);
        if (m->cusum.n > 0)
            snprintf(lc->detail, sizeof(lc->detail),
                     "CUSUM %.2f sigma over %ld laps (reference %.2f s)", m->cusum.s, m->cusum.n,
                     m->cusum.mu);
    }
    /* Latency against the device's own first windows. */
    td_drift_check *lt = &out->checks[TD_DRIFT_LATENCY];
    const td_hist *lh = td_summary_find(window, "latency_ms");
    double p95 = lh && lh->total && window->frames >= cfg->min_frames
                     ? td_hist_quantile(lh, TD_DRIFT_LATENCY_Q)
                     : NAN;
    lt->detail[0] = 0;
    if (p95 == p95 && m->lat_base_n < TD_DRIFT_LATENCY_BASELINE) {
        m->lat_base = (m->lat_base * m->lat_base_n + p95) / (m->lat_base_n + 1);
        /* The slowest but one: the spread of the device's conditions without the one window
         * that also held the installation or a start-up. */
        if (p95 > m->lat_base_max) {
            m->lat_base_max2 = m->lat_base_max;
            m->lat_base_max = p95;
        } else if (p95 > m->lat_base_max2) {
            m->lat_base_max2 = p95;
        }
        m->lat_base_n++;
        set_check(lt, NAN, cfg->lat_warn, cfg->lat_alert);
        snprintf(lt->detail, sizeof(lt->detail), "median %.2f ms (baseline window %d of %d)", p95,
                 m->lat_base_n, TD_DRIFT_LATENCY_BASELINE);
    } else if (p95 == p95 && m->lat_base > 0) {
        /* Against the slowest baseline window but one: the spread the device's own conditions
         * gave, one outlier (the installation's window) left out. */
        double base = m->lat_base_n > 1 && m->lat_base_max2 > 0 ? m->lat_base_max2 : m->lat_base;
        set_check(lt, p95 / base, cfg->lat_warn, cfg->lat_alert);
        snprintf(lt->detail, sizeof(lt->detail),
                 "median %.2f ms (device baseline %.2f ms, the slowest but one of %d windows)", p95,
                 base, m->lat_base_n);
    } else {
        set_check(lt, NAN, cfg->lat_warn, cfg->lat_alert);
    }
    m->windows++;
    out->level = TD_DRIFT_OK;
    for (int i = 0; i < TD_DRIFT_N_CHECKS; i++) {
        td_drift_check *c = &out->checks[i];
        c->level = td_drift_hyst_step(&m->hyst[i], &cfg->hyst, c->value, c->warn, c->alert);
        if (c->level > out->level)
            out->level = c->level;
    }
    return 0;
}

json_t *td_drift_monitor_to_json(const td_drift_monitor *m)
{
    json_t *j = json_object(), *h = json_object();
    for (int i = 0; i < TD_DRIFT_N_CHECKS; i++)
        json_object_set_new(h, check_names[i],
                            json_pack("{s:i,s:i,s:i,s:i}", "level", (int)m->hyst[i].level, "up",
                                      m->hyst[i].up, "down", m->hyst[i].down, "pending",
                                      (int)m->hyst[i].pending));
    json_object_set_new(j, "windows", json_integer(m->windows));
    json_object_set_new(j, "latency_baseline",
                        json_pack("{s:f,s:f,s:f,s:i}", "median_ms", m->lat_base, "max_ms",
                                  m->lat_base_max, "second_ms", m->lat_base_max2, "windows",
                                  m->lat_base_n));
    json_object_set_new(j, "states", h);
    if (m->cusum_ready)
        json_object_set_new(j, "cusum",
                            json_pack("{s:f,s:f,s:f,s:f,s:f,s:I,s:I}", "mu", m->cusum.mu, "sigma",
                                      m->cusum.sigma, "k", m->cusum.k, "h", m->cusum.h, "s",
                                      m->cusum.s, "n", (json_int_t)m->cusum.n, "alarm_at",
                                      (json_int_t)m->cusum.alarm_at));
    return j;
}

int td_drift_monitor_from_json(td_drift_monitor *m, const json_t *j, td_err *err)
{
    const json_t *h = json_object_get(j, "states"), *c = json_object_get(j, "cusum");
    if (!json_is_object(h))
        return td_err_set(err, TD_EFORMAT, "drift monitor: no \"states\" object");
    m->windows = (long)json_integer_value(json_object_get(j, "windows"));
    for (int i = 0; i < TD_DRIFT_N_CHECKS; i++) {
        const json_t *o = json_object_get(h, check_names[i]);
        long lv = (long)json_integer_value(json_object_get(o, "level"));
        long pd = (long)json_integer_value(json_object_get(o, "pending"));
        if (!json_is_object(o) || lv < 0 || lv > 2 || pd < 0 || pd > 2)
            return td_err_set(err, TD_EFORMAT, "drift monitor: bad state of %s", check_names[i]);
        m->hyst[i].level = (td_drift_level)lv;
        m->hyst[i].pending = (td_drift_level)pd;
        m->hyst[i].up = (int)json_integer_value(json_object_get(o, "up"));
        m->hyst[i].down = (int)json_integer_value(json_object_get(o, "down"));
    }
    const json_t *lb = json_object_get(j, "latency_baseline");
    m->lat_base = json_number_value(json_object_get(lb, "median_ms"));
    m->lat_base_max = json_number_value(json_object_get(lb, "max_ms"));
    m->lat_base_max2 = json_number_value(json_object_get(lb, "second_ms"));
    m->lat_base_n = (int)json_integer_value(json_object_get(lb, "windows"));
    if (m->lat_base_n < 0 || m->lat_base_n > TD_DRIFT_LATENCY_BASELINE || !(m->lat_base >= 0) ||
        !(m->lat_base_max >= 0) || !(m->lat_base_max2 >= 0))
        return td_err_set(err, TD_EFORMAT, "drift monitor: bad latency baseline");
    m->cusum_ready = 0;
    if (json_is_object(c)) {
        td_cusum_init(&m->cusum, json_number_value(json_object_get(c, "mu")),
                      json_number_value(json_object_get(c, "sigma")),
                      json_number_value(json_object_get(c, "k")),
                      json_number_value(json_object_get(c, "h")));
        m->cusum.s = json_number_value(json_object_get(c, "s"));
        m->cusum.n = (long)json_integer_value(json_object_get(c, "n"));
        m->cusum.alarm_at = (long)json_integer_value(json_object_get(c, "alarm_at"));
        m->cusum_ready = 1;
    }
    return 0;
}

/* ---- closing the loop: domain randomization that covers a drifted window ---------------- */

/* The mean of feature name in the report's features (NaN when absent); *moved its
 * significance. */
static double feature_means(const td_drift_report *r, const char *name, double *ref, int *moved)
{
    for (int i = 0; i < r->n_features; i++)
        if (!strcmp(r->features[i].name, name)) {
            *ref = r->features[i].ref_mean;
            *moved = r->features[i].significant;
            return r->features[i].cur_mean;
        }
    *ref = NAN;
    *moved = 0;
    return NAN;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int td_drift_suggest_dr(const td_summary *ref, const td_summary *cur, const td_drift_config *cfg,
                        const td_dr_ranges *base, td_drift_dr_suggestion *out, td_err *err)
{
    td_drift_config def;
    td_drift_report r;
    memset(out, 0, sizeof(*out));
    if (!cfg) {
        td_drift_config_default(&def);
        cfg = &def;
    }
    int rc = td_drift_compare(ref, cur, cfg, &r, err);
    if (rc)
        return rc;
    double m0, s0, e0, m, s, e;
    int mm, sm, em;
    m = feature_means(&r, "camera.brightness", &m0, &mm);
    s = feature_means(&r, "camera.contrast", &s0, &sm);
    e = feature_means(&r, "camera.edges", &e0, &em);
    td_drift_report_free(&r);
    td_dr_ranges want;
    td_dr_ranges_union(&want, base, NULL);
    out->gain = out->contrast = out->edges = 1.0;
    int n = 0;
    if (m == m && s == s && m0 == m0 && s0 > 0 && (mm || sm)) {
        /*
         * The camera (sim/camera.c) makes a pixel ((c - 128) x contrast + 128) x gain, gain
         * the lighting times the exposure. The reference (evaluation laps, the default look)
         * is at contrast 1 and gain 1, so for the frames' mean m and spread s against the
         * reference's m0 and s0: s / s0 = contrast x gain, and m = (m0 - 128) x s / s0 + 128
         * x gain. That gives gain, then contrast. Saturated pixels (0 or 255) bend it; the
         * margin below covers a little of that.
         */
        double ratio = s / s0;
        double gain = clampd((m - (m0 - 128.0) * ratio) / 128.0, 0.05, 5.0);
        double contrast = clampd(ratio / gain, 0.05, 5.0);
        out->gain = gain;
        out->contrast = contrast;
        /* Training's gain spans brightness x exposure; the lighting range grows until that
         * product reaches the estimate's margin. */
        double lo = gain / TD_DRIFT_DR_MARGIN, hi = gain * TD_DRIFT_DR_MARGIN;
        if (lo < want.brightness[0] * want.exposure[0] ||
            hi > want.brightness[1] * want.exposure[1]) {
            want.brightness[0] = clampd(fmin(want.brightness[0], lo / want.exposure[0]), 0.05, 5.0);
            want.brightness[1] = clampd(fmax(want.brightness[1], hi / want.exposure[1]), 0.05, 5.0);
            n++;
        }
        lo = clampd(contrast / TD_DRIFT_DR_MARGIN, 0.05, 5.0);
        hi = clampd(contrast * TD_DRIFT_DR_MARGIN, 0.05, 5.0);
        if (sm && (lo < want.contrast[0] || hi > want.contrast[1])) {
            want.contrast[0] = fmin(want.contrast[0], lo);
            want.contrast[1] = fmax(want.contrast[1], hi);
            n++;
        }
    }
    if (e == e && e0 > 0 && em) {
        /* More edges: grain on the floor or sensor noise the model has not seen; fewer: blur.
         * The edge share is not a measure of either amplitude, so the bound grows with the
         * ratio (at most 4 times, as far as the renderer goes). */
        double k = clampd(e / e0, 0.25, 4.0);
        out->edges = k;
        if (k > 1) {
            want.texture_hi = fmin(127.0, fmax(want.texture_hi, want.texture_hi * k * 1.1));
            want.noise_hi = fmin(127.0, fmax(want.noise_hi, want.noise_hi * k * 1.1));
        } else {
            want.blur_hi = fmin(0.2, fmax(want.blur_hi, want.blur_hi / k * 1.1));
        }
        n++;
    }
    out->ranges = want;
    out->widened = n;
    snprintf(out->why, sizeof(out->why),
             "frames: mean %.1f (reference %.1f), spread %.1f (%.1f), edges %.3f (%.3f): gain "
             "x%.2f, contrast x%.2f, edges x%.2f",
             m, m0, s, s0, e, e0, out->gain, out->contrast, out->edges);
    return td_dr_ranges_check(&out->ranges, err);
}

json_t *td_dr_ranges_to_json(const td_dr_ranges *r)
{
    td_dr_ranges d;
    td_dr_ranges_union(&d, r, r);
    return json_pack("{s:[f,f],s:[f,f],s:[f,f],s:f,s:f,s:f,s:f}", "brightness", d.brightness[0],
                     d.brightness[1], "contrast", d.contrast[0], d.contrast[1], "exposure",
                     d.exposure[0], d.exposure[1], "texture", d.texture_hi, "noise", d.noise_hi,
                     "blur", d.blur_hi, "vignette", d.vignette_hi);
}

static int pair_of(const json_t *o, const char *key, double *dst, td_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(json_array_get(v, 0)) ||
        !json_is_number(json_array_get(v, 1)))
        return td_err_set(err, TD_EINVAL, "domain_randomization: \"%s\" must be [lo, hi]", key);
    dst[0] = json_number_value(json_array_get(v, 0));
    dst[1] = json_number_value(json_array_get(v, 1));
    return 0;
}

static int num_of(const json_t *o, const char *key, double *dst, td_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return td_err_set(err, TD_EINVAL, "domain_randomization: \"%s\" must be a number", key);
    *dst = json_number_value(v);
    return 0;
}

int td_dr_ranges_from_json(td_dr_ranges *r, const json_t *o, td_err *err)
{
    static const char *const keys[] = {"brightness", "contrast", "exposure", "texture",
                                       "noise",      "blur",     "vignette"};
    td_dr_ranges_default(r);
    if (!json_is_object(o))
        return td_err_set(err, TD_EINVAL, "domain_randomization must be an object");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        int known = 0;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            known |= !strcmp(k, keys[i]);
        if (!known)
            return td_err_set(err, TD_EINVAL,
                              "domain_randomization: unknown key \"%.40s\" (brightness, "
                              "contrast, exposure, texture, noise, blur, vignette)",
                              k);
    }
    int rc = pair_of(o, "brightness", r->brightness, err);
    if (!rc)
        rc = pair_of(o, "contrast", r->contrast, err);
    if (!rc)
        rc = pair_of(o, "exposure", r->exposure, err);
    if (!rc)
        rc = num_of(o, "texture", &r->texture_hi, err);
    if (!rc)
        rc = num_of(o, "noise", &r->noise_hi, err);
    if (!rc)
        rc = num_of(o, "blur", &r->blur_hi, err);
    if (!rc)
        rc = num_of(o, "vignette", &r->vignette_hi, err);
    if (!rc)
        rc = td_dr_ranges_check(r, err);
    return rc;
}
