/*
 * drift_report.c - drift over time and on runs (drift.h): a device's windows through a fresh
 * monitor (the timeline), summaries of two simtrace sets on shared bins, and the static HTML
 * report (checks, reference vs current histograms, values per window with the thresholds,
 * lap times with the change point) that `trackday drift --html` and the hub write.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/drift.h"
#include "trackday/logs.h"
#include "trackday/plot.h"
#include "trackday/simtrace.h"
#include "trackday/telemetry.h"

/* ---- timeline ------------------------------------------------------------------------------ */

void td_drift_timeline_free(td_drift_timeline *tl)
{
    if (!tl)
        return;
    td_free(tl->t_s);
    for (int c = 0; c < TD_DRIFT_N_CHECKS; c++) {
        td_free(tl->value[c]);
        td_free(tl->level[c]);
    }
    td_free(tl->overall);
    td_free(tl->laps);
    memset(tl, 0, sizeof(*tl));
}

int td_drift_timeline_run(const td_summary *ref, const td_telemetry *windows, int n,
                          const td_drift_config *cfg, td_drift_timeline *tl, td_err *err)
{
    memset(tl, 0, sizeof(*tl));
    tl->lap_alarm = -1;
    tl->lap_ref_mean = NAN;
    size_t m = (size_t)(n > 0 ? n : 1);
    int total_laps = 0;
    for (int i = 0; i < n; i++)
        total_laps += windows[i].summary.outcomes.n_laps;
    int bad = !(tl->t_s = td_calloc(m, sizeof(double))) ||
              !(tl->overall = td_calloc(m, sizeof(int))) ||
              !(tl->laps = td_calloc((size_t)total_laps + 1, sizeof(double)));
    for (int c = 0; c < TD_DRIFT_N_CHECKS; c++) {
        bad |= !(tl->value[c] = td_calloc(m, sizeof(double)));
        bad |= !(tl->level[c] = td_calloc(m, sizeof(int)));
        tl->first_alert[c] = -1;
    }
    if (bad)
        return td_err_set(err, TD_ENOMEM, "drift: out of memory");
    td_drift_monitor mon;
    td_drift_monitor_init(&mon, cfg);
    for (int i = 0; i < n; i++) {
        td_drift_report r;
        int rc = td_drift_monitor_step(&mon, ref, &windows[i].summary, &r, err);
        if (rc)
            return rc;
        tl->t_s[i] = (double)(windows[i].start_ms - windows[0].start_ms) / 1000.0;
        for (int c = 0; c < TD_DRIFT_N_CHECKS; c++) {
            tl->value[c][i] = r.checks[c].value;
            tl->level[c][i] = (int)r.checks[c].level;
            if (r.checks[c].level == TD_DRIFT_ALERT && tl->first_alert[c] < 0)
                tl->first_alert[c] = i;
        }
        tl->overall[i] = (int)r.level;
        tl->lap_ref_mean = r.ref_lap_mean;
        const td_summary_outcomes *o = &windows[i].summary.outcomes;
        for (int k = 0; k < o->n_laps; k++)
            tl->laps[tl->n_laps++] = o->lap_times_s[k];
        td_drift_report_free(&r);
        tl->n = i + 1;
    }
    tl->lap_alarm = mon.cusum_ready ? mon.cusum.alarm_at : -1;
    return 0;
}

static json_t *num_or_null(double v)
{
    return v == v && fabs(v) < 1e300 ? json_real(v) : json_null();
}

json_t *td_drift_timeline_to_json(const td_drift_timeline *tl)
{
    json_t *j = json_object(), *ws = json_array(), *laps = json_array();
    for (int i = 0; i < tl->n; i++) {
        json_t *w = json_object();
        json_object_set_new(w, "t_s", json_real(tl->t_s[i]));
        json_object_set_new(w, "level",
                            json_string(td_drift_level_name((td_drift_level)tl->overall[i])));
        for (int c = 0; c < TD_DRIFT_N_CHECKS; c++)
            json_object_set_new(w, td_drift_check_name(c),
                                json_pack("{s:o,s:s}", "value", num_or_null(tl->value[c][i]),
                                          "level",
                                          td_drift_level_name((td_drift_level)tl->level[c][i])));
        json_array_append_new(ws, w);
    }
    for (int i = 0; i < tl->n_laps; i++)
        json_array_append_new(laps, json_real(tl->laps[i]));
    json_t *fa = json_object();
    for (int c = 0; c < TD_DRIFT_N_CHECKS; c++)
        json_object_set_new(fa, td_drift_check_name(c),
                            tl->first_alert[c] >= 0 ? json_integer(tl->first_alert[c])
                                                    : json_null());
    json_object_set_new(j, "windows", ws);
    json_object_set_new(j, "first_alert_window", fa);
    json_object_set_new(j, "lap_times_s", laps);
    json_object_set_new(j, "lap_change_at",
                        tl->lap_alarm >= 0 ? json_integer(tl->lap_alarm) : json_null());
    return j;
}

/* ---- simtrace sets ----------------------------------------------------------------------------
 */

enum { SIM_STEER, SIM_SPEED_CMD, SIM_SPEED, SIM_REWARD, SIM_ACTION, SIM_N };

static int sim_discrete(const td_simtrace *t, int *max_action)
{
    for (int i = 0; i < t->n; i++) {
        if (t->rows[i].action < 0)
            return 0;
        if (t->rows[i].action > *max_action)
            *max_action = t->rows[i].action;
    }
    return t->n > 0;
}

static void sim_fill(td_summary *s, const td_simtrace *t, int with_action)
{
    s->frames = (uint64_t)t->n;
    for (int i = 0; i < t->n; i++) {
        const td_simtrace_row *r = &t->rows[i];
        td_hist_add(&s->hist[SIM_STEER], r->steer_deg);
        td_hist_add(&s->hist[SIM_SPEED_CMD], r->throttle);
        td_hist_add(&s->hist[SIM_REWARD], r->reward);
        if (with_action)
            td_hist_add(&s->hist[SIM_ACTION], r->action);
        if (i > 0) {
            const td_simtrace_row *p = &t->rows[i - 1];
            double dt = r->tstamp - p->tstamp;
            if (p->file == r->file && p->episode == r->episode && dt > 0 && dt < 5)
                td_hist_add(&s->hist[SIM_SPEED], hypot(r->x - p->x, r->y - p->y) / dt);
        }
    }
}

static int sim_outcomes(td_summary *s, const td_simtrace *t, td_err *err)
{
    td_logs_report lr;
    int rc = td_logs_analyze(&lr, t, 20, err);
    if (rc) {
        td_logs_report_free(&lr);
        return rc;
    }
    for (int i = 0; i < lr.n_episodes; i++) {
        const td_logs_episode *e = &lr.episodes[i];
        s->outcomes.episodes++;
        if (e->complete && e->lap_time_s > 0)
            td_summary_add_lap(s, e->lap_time_s);
        if (!strcmp(e->status, "off_track"))
            s->outcomes.off_tracks++;
        if (!strcmp(e->status, "crashed"))
            s->outcomes.crashes++;
    }
    td_logs_report_free(&lr);
    return 0;
}

int td_drift_simtrace_summaries(const td_simtrace *ref, const td_simtrace *cur, td_summary *a,
                                td_summary *b, td_err *err)
{
    memset(a, 0, sizeof(*a));
    memset(b, 0, sizeof(*b));
    int amax = 0, with_action = sim_discrete(ref, &amax) && sim_discrete(cur, &amax);
    if (with_action && amax >= TD_HIST_MAX_BINS)
        with_action = 0;
    double rlo = INFINITY, rhi = -INFINITY;
    const td_simtrace *sets[2] = {ref, cur};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < sets[k]->n; i++) {
            double v = sets[k]->rows[i].reward;
            if (v == v && fabs(v) < 1e300) {
                rlo = fmin(rlo, v);
                rhi = fmax(rhi, v);
            }
        }
    if (!(rlo <= rhi)) {
        rlo = 0;
        rhi = 1;
    }
    if (rhi - rlo < 1e-9)
        rhi = rlo + 1;
    rhi += (rhi - rlo) * 1e-9; /* the largest reward falls in the last bin */
    td_summary *ss[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        td_summary *s = ss[k];
        s->n_hist = SIM_N - !with_action;
        s->hist = td_calloc(SIM_N, sizeof(td_hist));
        if (!s->hist)
            return td_err_set(err, TD_ENOMEM, "drift: out of memory");
        s->layout.n_actions = with_action ? amax + 1 : 0;
        td_hist_init(&s->hist[SIM_STEER], "action.steering", -30, 30.000001, 24);
        td_hist_init(&s->hist[SIM_SPEED_CMD], "action.speed", 0, 4.000001, 20);
        td_hist_init(&s->hist[SIM_SPEED], "driving.speed", 0, 5, 20);
        td_hist_init(&s->hist[SIM_REWARD], "driving.reward", rlo, rhi, 20);
        if (with_action)
            td_hist_init(&s->hist[SIM_ACTION], "action", 0, amax + 1, amax + 1);
        sim_fill(s, sets[k], with_action);
        int rc = sim_outcomes(s, sets[k], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- HTML -------------------------------------------------------------------------------------
 */

static const char *level_color(int l)
{
    return l == TD_DRIFT_ALERT ? "#d62728" : l == TD_DRIFT_WARNING ? "#ff7f0e" : "#2ca02c";
}

/* Appends an SVG document (without its XML declaration) to the page. */
static void put_svg(td_svg *page, td_svg *svg)
{
    td_svg_finish(svg);
    if (svg->nomem || !svg->buf) {
        page->nomem = 1;
        return;
    }
    const char *p = strstr(svg->buf, "<svg");
    td_svg_raw(page, "%s", p ? p : "");
}

/* Reference (grey) and current (coloured) shares per bin, under and over at the ends. */
static void hist_svg(td_svg *page, const td_hist *a, const td_hist *b, int level)
{
    td_svg s;
    double W = 360, H = 150, L = 8, R = 8, T = 10, B = 26;
    td_svg_begin(&s, W, H);
    int k = a->n + 2;
    double ta = (double)a->total, tb = (double)b->total, mx = 1e-12;
    double pa[TD_HIST_MAX_BINS + 2], pb[TD_HIST_MAX_BINS + 2];
    for (int i = 0; i < k; i++) {
        uint64_t ca = i == 0 ? a->under : i == k - 1 ? a->over : a->counts[i - 1];
        uint64_t cb = i == 0 ? b->under : i == k - 1 ? b->over : b->counts[i - 1];
        pa[i] = ta > 0 ? (double)ca / ta : 0;
        pb[i] = tb > 0 ? (double)cb / tb : 0;
        mx = fmax(mx, fmax(pa[i], pb[i]));
    }
    double bw = (W - L - R) / k;
    for (int i = 0; i < k; i++) {
        double x = L + i * bw, ha = pa[i] / mx * (H - T - B), hb = pb[i] / mx * (H - T - B);
        td_svg_rect(&s, x + 1, H - B - ha, bw / 2 - 1, ha, "#9e9e9e", NULL);
        td_svg_rect(&s, x + bw / 2, H - B - hb, bw / 2 - 1, hb, level_color(level), NULL);
    }
    td_svg_line(&s, L, H - B, W - R, H - B, "#333333", 1);
    char lab[64];
    snprintf(lab, sizeof(lab), "< %g", a->lo);
    td_svg_text(&s, L, H - 8, 10, "start", 0, "#333333", lab);
    snprintf(lab, sizeof(lab), ">= %g", a->hi);
    td_svg_text(&s, W - R, H - 8, 10, "end", 0, "#333333", lab);
    td_svg_text(&s, W / 2, H - 8, 10, "middle", 0, "#666666", "grey: reference, colour: current");
    put_svg(page, &s);
    td_svg_free(&s);
}

static int cmp_feature(const void *x, const void *y)
{
    const td_drift_feature *a = *(const td_drift_feature *const *)x,
                           *b = *(const td_drift_feature *const *)y;
    return a->d.psi > b->d.psi ? -1 : a->d.psi < b->d.psi;
}

static void fmt_num(char *out, size_t cap, double v, const char *fmt)
{
    if (v == v)
        snprintf(out, cap, fmt, v);
    else
        snprintf(out, cap, "-");
}

static void timeline_charts(td_svg *page, const td_drift_timeline *tl, td_err *err)
{
    static const int shown[] = {TD_DRIFT_INPUT, TD_DRIFT_ACTION, TD_DRIFT_CONFIDENCE,
                                TD_DRIFT_LATENCY, TD_DRIFT_LAP_TIME};
    static const char *units[] = {"PSI", "PSI", "relative drop of top-1", "p95 / baseline",
                                  "CUSUM (sigmas)"};
    td_drift_config cfg;
    td_drift_config_default(&cfg);
    double warn[] = {cfg.psi_warn, cfg.psi_warn, cfg.conf_warn, cfg.lat_warn, cfg.cusum_warn};
    double alert[] = {cfg.psi_alert, cfg.psi_alert, cfg.conf_alert, cfg.lat_alert, cfg.cusum_alert};
    double *x = td_calloc((size_t)(tl->n > 0 ? tl->n : 1), sizeof(double));
    double *yw = td_calloc((size_t)(tl->n > 0 ? tl->n : 1), sizeof(double));
    double *ya = td_calloc((size_t)(tl->n > 0 ? tl->n : 1), sizeof(double));
    if (!x || !yw || !ya) {
        page->nomem = 1;
        goto out;
    }
    for (int i = 0; i < tl->n; i++)
        x[i] = i;
    td_svg_raw(page, "<h2>Checks per window</h2>\n<div class=\"charts\">\n");
    for (size_t k = 0; k < sizeof(shown) / sizeof(shown[0]); k++) {
        int c = shown[k], any = 0;
        for (int i = 0; i < tl->n; i++) {
            yw[i] = warn[k];
            ya[i] = alert[k];
            any |= tl->value[c][i] == tl->value[c][i];
        }
        if (!any)
            continue;
        td_plot_series ser[3] = {
            {td_drift_check_name(c), x, tl->value[c], tl->n, "#1f77b4", NULL, 1},
            {"warning", x, yw, tl->n, "#ff7f0e", "6 3", 0},
            {"alert", x, ya, tl->n, "#d62728", "6 3", 0},
        };
        char title[96];
        snprintf(title, sizeof(title), "%s per window", td_drift_check_name(c));
        td_line_chart ch = {0};
        ch.title = title;
        ch.x_label = "window";
        ch.y_label = units[k];
        ch.series = ser;
        ch.n_series = 3;
        ch.include_zero = 1;
        if (tl->first_alert[c] >= 0) {
            ch.has_marker = 1;
            ch.marker_x = tl->first_alert[c];
            ch.marker_label = "first alert";
        }
        td_svg s;
        td_svg_begin(&s, 560, 300);
        td_plot_line_chart_draw(&s, &ch, 0, 0, 560, 300, err);
        put_svg(page, &s);
        td_svg_free(&s);
    }
    if (tl->n_laps > 0) {
        double *lx = td_calloc((size_t)tl->n_laps, sizeof(double));
        double *lr = td_calloc((size_t)tl->n_laps, sizeof(double));
        if (lx && lr) {
            for (int i = 0; i < tl->n_laps; i++) {
                lx[i] = i + 1;
                lr[i] = tl->lap_ref_mean;
            }
            td_plot_series ser[2] = {{"lap time", lx, tl->laps, tl->n_laps, "#1f77b4", NULL, 1},
                                     {"reference mean", lx, lr, tl->n_laps, "#7f7f7f", "6 3", 0}};
            td_line_chart ch = {0};
            ch.title = "Lap times";
            ch.x_label = "lap";
            ch.y_label = "lap time (s)";
            ch.series = ser;
            ch.n_series = tl->lap_ref_mean == tl->lap_ref_mean ? 2 : 1;
            if (tl->lap_alarm >= 0) {
                ch.has_marker = 1;
                ch.marker_x = (double)tl->lap_alarm + 1;
                ch.marker_label = "change detected (CUSUM)";
            }
            td_svg s;
            td_svg_begin(&s, 560, 300);
            td_plot_line_chart_draw(&s, &ch, 0, 0, 560, 300, err);
            put_svg(page, &s);
            td_svg_free(&s);
        } else {
            page->nomem = 1;
        }
        td_free(lx);
        td_free(lr);
    }
    td_svg_raw(page, "</div>\n");
out:
    td_free(x);
    td_free(yw);
    td_free(ya);
}

int td_drift_html_render(const td_drift_html *h, char **out, size_t *len, td_err *err)
{
    const td_drift_report *r = h->report;
    td_svg page;
    memset(&page, 0, sizeof(page));
    *out = NULL;
    *len = 0;
    td_svg_raw(&page, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<title>Drift report: ");
    td_svg_escaped(&page, h->title ? h->title : "");
    td_svg_raw(&page,
               "</title>\n<style>\n"
               "body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}\n"
               "table{border-collapse:collapse;margin:8px 0 20px}\n"
               "td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}\n"
               "td:first-child,th:first-child,td:last-child{text-align:left}\n"
               ".ok{color:#2ca02c}.warning{color:#ff7f0e}.alert{color:#d62728;font-weight:bold}\n"
               ".feature{display:inline-block;margin:0 16px 16px 0;vertical-align:top}\n"
               ".charts svg{margin:0 16px 16px 0}\n"
               "</style>\n</head>\n<body>\n<h1>Drift report: ");
    td_svg_escaped(&page, h->title ? h->title : "");
    td_svg_raw(&page, "</h1>\n<p>Overall: <span class=\"%s\">%s</span></p>\n<p>Reference: ",
               td_drift_level_name(r->level), td_drift_level_name(r->level));
    td_svg_escaped(&page, h->ref_desc ? h->ref_desc : "");
    td_svg_raw(&page, " (%llu frames)<br>Current: ", (unsigned long long)r->ref_frames);
    td_svg_escaped(&page, h->cur_desc ? h->cur_desc : "");
    td_svg_raw(&page, " (%llu frames)</p>\n", (unsigned long long)r->cur_frames);
    /* Checks. */
    td_svg_raw(&page, "<h2>Checks</h2>\n<table>\n<tr><th>check</th><th>state</th><th>value</th>"
                      "<th>warning at</th><th>alert at</th><th>detail</th></tr>\n");
    for (int c = 0; c < TD_DRIFT_N_CHECKS; c++) {
        const td_drift_check *k = &r->checks[c];
        char v[32];
        fmt_num(v, sizeof(v), k->value, "%.3f");
        td_svg_raw(
            &page, "<tr><td>%s</td><td class=\"%s\">%s</td><td>%s</td><td>%g</td><td>%g</td><td>",
            td_drift_check_name(c), td_drift_level_name(k->level),
            k->value == k->value ? td_drift_level_name(k->level) : "no data", v, k->warn, k->alert);
        td_svg_escaped(&page, k->detail);
        td_svg_raw(&page, "</td></tr>\n");
    }
    td_svg_raw(&page, "</table>\n");
    if (h->timeline && h->timeline->n > 0) {
        timeline_charts(&page, h->timeline, err);
    }
    /* Features, most drifted first. */
    const td_drift_feature **order = td_calloc((size_t)(r->n_features + 1), sizeof(*order));
    if (!order) {
        td_svg_free(&page);
        return td_err_set(err, TD_ENOMEM, "drift report: out of memory");
    }
    for (int i = 0; i < r->n_features; i++)
        order[i] = &r->features[i];
    qsort(order, (size_t)r->n_features, sizeof(*order), cmp_feature);
    td_svg_raw(&page,
               "<h2>Features</h2>\n<p>PSI: population stability index (warning 0.1, alert 0.25); "
               "KS: Kolmogorov-Smirnov statistic and p-value; JS: Jensen-Shannon distance "
               "(base 2).</p>\n<table>\n<tr><th>feature</th><th>PSI</th><th>KS</th>"
               "<th>KS p</th><th>JS</th><th>reference mean</th><th>current mean</th>"
               "<th>state</th></tr>\n");
    for (int i = 0; i < r->n_features; i++) {
        const td_drift_feature *f = order[i];
        char rm[32], cm[32];
        fmt_num(rm, sizeof(rm), f->ref_mean, "%.4g");
        fmt_num(cm, sizeof(cm), f->cur_mean, "%.4g");
        td_svg_raw(&page,
                   "<tr><td>%s</td><td>%.4f</td><td>%.4f</td><td>%.3g</td><td>%.4f</td><td>%s</td>"
                   "<td>%s</td><td class=\"%s\">%s</td></tr>\n",
                   f->name, f->d.psi, f->d.ks, f->d.ks_p, f->d.js, rm, cm,
                   td_drift_level_name(f->level), td_drift_level_name(f->level));
    }
    td_svg_raw(&page, "</table>\n<h2>Distributions</h2>\n");
    for (int i = 0; i < r->n_features; i++) {
        const td_drift_feature *f = order[i];
        const td_hist *a = td_summary_find(h->ref, f->name), *b = td_summary_find(h->cur, f->name);
        if (!a || !b || !a->total || !b->total)
            continue;
        td_svg_raw(&page, "<div class=\"feature\"><h3>%s <small>PSI %.3f</small></h3>\n", f->name,
                   f->d.psi);
        hist_svg(&page, a, b, f->level);
        td_svg_raw(&page, "</div>\n");
    }
    td_free(order);
    td_svg_raw(&page, "<p><small>trackday drift report; docs/drift.md explains the statistics and "
                      "thresholds.</small></p>\n</body>\n</html>\n");
    if (page.nomem || !page.buf) {
        td_svg_free(&page);
        return td_err_set(err, TD_ENOMEM, "drift report: out of memory");
    }
    *out = page.buf;
    *len = page.len;
    return 0;
}

int td_drift_html_write(const char *path, const td_drift_html *h, td_err *err)
{
    char *buf;
    size_t len;
    int rc = td_drift_html_render(h, &buf, &len, err);
    if (rc)
        return rc;
    rc = td_file_write_atomic(path, buf, len, err);
    td_free(buf);
    return rc;
}
