/*
 * drift.h - is a deployed model still seeing and doing what it was trained and evaluated on?
 * Per-feature distances between a reference summary (a bundle's reference statistics) and a
 * current one (telemetry windows): population stability index (PSI), two-sample
 * Kolmogorov-Smirnov and Jensen-Shannon distance on the same bins; a one-sided CUSUM on lap
 * times against the model's evaluation laps; confidence collapse; latency regression. Each
 * check has a state (ok, warning, alert) with hysteresis so it does not flap. Thresholds and
 * delays are documented in docs/drift.md. Part of the eval layer.
 *
 *   td_drift_monitor m;
 *   td_drift_monitor_init(&m, NULL);                       // default thresholds
 *   for each window w, in time order:
 *       td_drift_report r;
 *       td_drift_monitor_step(&m, &ref, &w.summary, &r, &err);   // r.checks[i].level
 *       td_drift_report_free(&r);
 */
#ifndef TRACKDAY_DRIFT_H
#define TRACKDAY_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#include "trackday/core.h"
#include "trackday/json.h"
#include "trackday/sensors.h"
#include "trackday/summary.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- distances between two distributions --------------------------------------------- */

/* PSI's floor for an empty bin's share (Evidently's convention): ln(0) never happens. */
#define TD_DRIFT_PSI_EPS 1e-4

/*
 * Population stability index over k bins of counts (shares floored at TD_DRIFT_PSI_EPS):
 * sum (c_i - r_i) ln(c_i / r_i). 0 when either side is empty.
 */
double td_drift_psi_counts(const uint64_t *ref, const uint64_t *cur, int k);
/* Jensen-Shannon distance (base 2, in [0, 1]): the square root of the divergence, as
 * scipy.spatial.distance.jensenshannon(p, q, base=2). */
double td_drift_js_counts(const uint64_t *ref, const uint64_t *cur, int k);
/* Two-sample Kolmogorov-Smirnov statistic on binned data: max |F_ref - F_cur| at the bin
 * edges (equal to scipy.stats.ks_2samp's when the samples lie on the bins' values). */
double td_drift_ks_counts(const uint64_t *ref, const uint64_t *cur, int k);
/* The KS statistic of two raw samples (copied and sorted; TD_ENOMEM). */
int td_drift_ks_samples(const double *x, size_t n, const double *y, size_t m, double *d);
/* The asymptotic two-sided p-value of D for sample sizes n and m: the Kolmogorov
 * distribution's survival function at sqrt(n m / (n + m)) D (scipy.stats.kstwobign.sf). */
double td_drift_ks_pvalue(double d, double n, double m);

/* The three distances of two histograms with the same bins (under and over count as bins). */
typedef struct td_drift_dist {
    double psi, ks, ks_p, js;
} td_drift_dist;
int td_drift_hist(const td_hist *ref, const td_hist *cur, td_drift_dist *out);

/* The q-quantile (0..1) of a histogram, linear within a bin; NaN when empty. */
double td_hist_quantile(const td_hist *h, double q);
/* The mean of the values (sum / non-NaN count); NaN when empty. */
double td_hist_mean(const td_hist *h);

/* ---- states with hysteresis ----------------------------------------------------------- */

typedef enum td_drift_level {
    TD_DRIFT_OK = 0,
    TD_DRIFT_WARNING = 1,
    TD_DRIFT_ALERT = 2
} td_drift_level;

const char *td_drift_level_name(td_drift_level l);

/*
 * A check's state: it rises to a level after `raise` consecutive windows at or above that
 * level's threshold, and falls one level after `clear` consecutive windows below
 * `clear_ratio` x the threshold it holds (a value between clear_ratio x threshold and the
 * threshold keeps the level: the band that stops flapping).
 */
typedef struct td_drift_hyst {
    td_drift_level level;
    int up, down; /* consecutive windows towards a higher / lower level */
    td_drift_level pending;
} td_drift_hyst;

typedef struct td_drift_hyst_params {
    int raise;          /* default 2 */
    int clear;          /* default 3 */
    double clear_ratio; /* default 0.8 */
} td_drift_hyst_params;

/* Feeds one window's value (higher is worse; NaN: no data, the state holds); returns the
 * level. */
td_drift_level td_drift_hyst_step(td_drift_hyst *h, const td_drift_hyst_params *p, double value,
                                  double warn, double alert);

/* ---- CUSUM on lap times ---------------------------------------------------------------- */

/*
 * One-sided tabular CUSUM for an increase of the mean of standardized values
 * z = (x - mu) / sigma: S = max(0, S + z - k); it signals when S > h. With k = 0.5 and h = 8
 * the average run length is ~19,000 laps without a change, ~16 laps after a 1-sigma increase,
 * ~6 after 2 sigma (docs/drift.md; measured in tests/test_drift.c).
 */
typedef struct td_cusum {
    double mu, sigma, k, h;
    double s;
    long n, alarm_at; /* values seen; the index of the first alarm (-1: none) */
} td_cusum;

void td_cusum_init(td_cusum *c, double mu, double sigma, double k, double h);
/* Adds a value; returns 1 when S > h after it. */
int td_cusum_add(td_cusum *c, double x);

/* ---- the report ------------------------------------------------------------------------ */

/* The checks, in report order. */
typedef enum td_drift_check_id {
    TD_DRIFT_INPUT = 0,  /* max PSI over the input features (camera, lidar, state) */
    TD_DRIFT_ACTION,     /* PSI of the action distribution */
    TD_DRIFT_CONFIDENCE, /* confidence collapse: 1 - mean top-1 probability / reference's */
    TD_DRIFT_LATENCY,    /* latency regression: p95 latency / the baseline p95 (the reference's
                            in td_drift_compare, the device's first windows' in a monitor) */
    TD_DRIFT_LAP_TIME,   /* CUSUM of lap times against the reference laps (S in sigmas) */
    TD_DRIFT_N_CHECKS
} td_drift_check_id;

const char *td_drift_check_name(int id);

typedef struct td_drift_config {
    double psi_warn, psi_alert;   /* 0.1, 0.25 (inputs and actions) */
    double conf_warn, conf_alert; /* 0.15, 0.30: relative drop of the mean top-1 probability */
    double lat_warn, lat_alert;   /* 1.5, 2.0: p95 latency over the reference's */
    double cusum_k, cusum_warn, cusum_alert; /* 0.5, 4, 8 (in sigmas) */
    double lap_sigma_floor; /* 0.03: sigma is at least this share of the mean lap */
    uint64_t min_frames;    /* 100: a window with fewer frames gives no verdict */
    /* A numeric feature counts toward input_drift and action_drift only when its mean moved by
     * at least max(min_shift_sd x the reference's standard deviation, min_shift_bins bin
     * widths): PSI alone explodes for a feature the reference holds nearly constant (a grid
     * cell of uniform sky moving by one bin gives PSI 18). 0.5 and 2. */
    double min_shift_sd, min_shift_bins;
    td_drift_hyst_params hyst;
} td_drift_config;

void td_drift_config_default(td_drift_config *c);

typedef struct td_drift_feature {
    char name[TD_HIST_NAME_LEN];
    td_drift_dist d;
    double ref_mean, cur_mean;
    uint64_t ref_n, cur_n;
    int input;            /* 1: an input feature (counts for TD_DRIFT_INPUT) */
    int significant;      /* its mean moved enough to count (the categorical action: always) */
    td_drift_level level; /* by PSI (when significant), no hysteresis */
} td_drift_feature;

typedef struct td_drift_check {
    double value;         /* NaN: no data in this window */
    double warn, alert;   /* its thresholds */
    td_drift_level level; /* after hysteresis (td_drift_monitor_step) or raw (td_drift_compare) */
    char detail[96];      /* the feature behind it, the numbers */
} td_drift_check;

typedef struct td_drift_report {
    int n_features;
    td_drift_feature *features; /* td_malloc'd, in the summary's order */
    td_drift_check checks[TD_DRIFT_N_CHECKS];
    td_drift_level level; /* the worst check */
    uint64_t ref_frames, cur_frames;
    long cur_laps;
    double ref_lap_mean, cur_lap_mean; /* NaN when no laps */
} td_drift_report;

/*
 * Compares cur with ref (summaries of the same model: TD_EINVAL otherwise). The checks' levels
 * are the raw ones (no hysteresis); the lap-time check runs a fresh CUSUM over cur's laps.
 */
int td_drift_compare(const td_summary *ref, const td_summary *cur, const td_drift_config *cfg,
                     td_drift_report *out, td_err *err);
void td_drift_report_free(td_drift_report *r);
json_t *td_drift_report_to_json(const td_drift_report *r);

/* A device's checks over its windows: hysteresis states and the lap-time CUSUM. */
typedef struct td_drift_monitor {
    td_drift_config cfg;
    td_drift_hyst hyst[TD_DRIFT_N_CHECKS];
    td_cusum cusum;
    int cusum_ready;
    long windows;
    /* Latency regression is against the device itself: the mean p95 of its first
     * TD_DRIFT_LATENCY_BASELINE windows (a car's CPU is not the exporting machine's). */
    double lat_base;      /* their mean p95 */
    double lat_base_max;  /* their largest p95 */
    double lat_base_max2; /* the second largest: the value is measured against it */
    int lat_base_n;
} td_drift_monitor;

#define TD_DRIFT_LATENCY_BASELINE 5
/* The latency check compares medians: a busy machine preempts a few inferences (the tail, p95,
 * jumps tenfold on a loaded machine) without the model being any slower. */
#define TD_DRIFT_LATENCY_Q 0.5

void td_drift_monitor_init(td_drift_monitor *m, const td_drift_config *cfg);
/* Compares one window with ref and advances the states; out's levels are after hysteresis. */
int td_drift_monitor_step(td_drift_monitor *m, const td_summary *ref, const td_summary *window,
                          td_drift_report *out, td_err *err);
/* The monitor's state as JSON (the hub keeps it per device) and back. */
json_t *td_drift_monitor_to_json(const td_drift_monitor *m);
int td_drift_monitor_from_json(td_drift_monitor *m, const json_t *j, td_err *err);

/* ---- windows over time, simtrace sets, the HTML report ---------------------------------- */

/* What a monitor said about each window of a device, in time order (td_drift_timeline_run). */
typedef struct td_drift_timeline {
    int n;                              /* windows */
    double *t_s;                        /* window start, seconds after the first window's */
    double *value[TD_DRIFT_N_CHECKS];   /* each check's value per window (NaN: none) */
    int *level[TD_DRIFT_N_CHECKS];      /* each check's state per window */
    int *overall;                       /* the worst state per window */
    int first_alert[TD_DRIFT_N_CHECKS]; /* the first window in alert (-1: none) */
    double *laps;                       /* every lap time, in order */
    int n_laps;
    long lap_alarm;      /* the lap at which the CUSUM signalled (-1) */
    double lap_ref_mean; /* NaN without reference laps */
} td_drift_timeline;

/* Runs a fresh monitor over windows[0..n) (time order) against ref. Free with
 * td_drift_timeline_free (also after an error). */
struct td_telemetry;
int td_drift_timeline_run(const td_summary *ref, const struct td_telemetry *windows, int n,
                          const td_drift_config *cfg, td_drift_timeline *tl, td_err *err);
void td_drift_timeline_free(td_drift_timeline *tl);
json_t *td_drift_timeline_to_json(const td_drift_timeline *tl);

/*
 * Summaries of two simtrace sets (simtrace.h) on shared bins, for `trackday drift` on runs:
 * action.steering (degrees, [-30, 30]), action.speed (commanded m/s, [0, 4]), action (the
 * discrete index, when both sets have one), driving.speed (speed over the ground between rows
 * of an episode, m/s, [0, 5)), driving.reward (over both sets' range); outcomes: the completed
 * laps' times (td_simtrace_lap_time), episodes, off-tracks and crashes. Free both with
 * td_summary_free (also after an error).
 */
struct td_simtrace;
int td_drift_simtrace_summaries(const struct td_simtrace *ref, const struct td_simtrace *cur,
                                td_summary *a, td_summary *b, td_err *err);

/*
 * Writes a static HTML drift report (no script, no external resource) to path: the checks,
 * each feature's reference and current histograms with PSI, KS and JS (most drifted first),
 * and, with a timeline, the check values per window with the thresholds and the first alert
 * marked, and the lap times with the CUSUM's change point. Written atomically.
 */
typedef struct td_drift_html {
    const char *title;    /* "car-7" */
    const char *ref_desc; /* what the reference is */
    const char *cur_desc; /* what the current data is */
    const td_summary *ref, *cur;
    const td_drift_report *report;
    const td_drift_timeline *timeline; /* may be NULL */
} td_drift_html;
int td_drift_html_write(const char *path, const td_drift_html *h, td_err *err);
/* The same document in memory (td_malloc'd, NUL-terminated; *len without the NUL). */
int td_drift_html_render(const td_drift_html *h, char **out, size_t *len, td_err *err);

/* ---- closing the loop ---------------------------------------------------------------------- */

/* How far beyond an estimate a widened range reaches (x and / by it). */
#define TD_DRIFT_DR_MARGIN 1.15

typedef struct td_drift_dr_suggestion {
    td_dr_ranges ranges;          /* base widened to cover the window (set = 1) */
    int widened;                  /* how many of the ranges grew (0: the window needs none) */
    double gain, contrast, edges; /* the estimated lighting x exposure gain and contrast
                                     multipliers, and the edge share's ratio (1: unchanged) */
    char why[256];                /* the numbers behind it */
} td_drift_dr_suggestion;

/*
 * Domain randomization ranges that cover what the window cur shows against ref (docs/drift.md,
 * "Closing the loop"): from the camera features whose mean moved (td_drift_compare's rule), the
 * lighting gain and contrast the camera model implies (sim/camera.c: a pixel is ((c - 128) x
 * contrast + 128) x gain), widened to gain / 1.15 .. gain x 1.15; more edges raise the texture
 * and noise bounds, fewer the blur bound. base (NULL: the defaults) is never narrowed.
 */
int td_drift_suggest_dr(const td_summary *ref, const td_summary *cur, const td_drift_config *cfg,
                        const td_dr_ranges *base, td_drift_dr_suggestion *out, td_err *err);
/* {"brightness": [lo, hi], "contrast": [..], "exposure": [..], "texture", "noise", "blur",
 * "vignette"}: the job parameter and training_params.yaml's keys as JSON. from_json starts from
 * the defaults, refuses unknown keys and ranges td_dr_ranges_check refuses. */
json_t *td_dr_ranges_to_json(const td_dr_ranges *r);
int td_dr_ranges_from_json(td_dr_ranges *r, const json_t *o, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_DRIFT_H */
