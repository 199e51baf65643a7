/*
 * drift.c - `trackday drift REF CURRENT`: compares two sets of a model's runs offline and prints
 * the drift report the hub computes for a device (docs/drift.md): per feature PSI,
 * Kolmogorov-Smirnov and Jensen-Shannon, the checks (input and action drift, confidence
 * collapse, latency, lap-time CUSUM) with their states, and per window when CURRENT holds
 * several telemetry windows. REF and CURRENT are telemetry files, a bundle's reference
 * statistics (a .tdb or its stats.json), a summary, or simtrace sets (CSV files or a model or
 * log folder). --html writes a static report. See docs/cli/drift.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "trackday/archive.h"
#include "trackday/drift.h"
#include "trackday/simtrace.h"
#include "trackday/telemetry.h"

enum { SET_SUMMARY, SET_TELEMETRY, SET_SIMTRACE };

typedef struct dset {
    int kind;
    td_summary sum; /* SUMMARY, TELEMETRY (merged) */
    int have_sum;
    td_telemetry *win; /* TELEMETRY: the windows in file order */
    int n_win, cap_win;
    td_simtrace sim; /* SIMTRACE */
    char desc[600];
} dset;

static void dset_free(dset *s)
{
    if (s->have_sum)
        td_summary_free(&s->sum);
    for (int i = 0; i < s->n_win; i++)
        td_telemetry_free(&s->win[i]);
    td_free(s->win);
    td_simtrace_free(&s->sim);
}

static int keep_window(const td_telemetry *w, void *ctx)
{
    dset *s = ctx;
    if (s->n_win == s->cap_win) {
        int nc = s->cap_win ? s->cap_win * 2 : 16;
        td_telemetry *nw = td_realloc(s->win, (size_t)nc * sizeof(*nw));
        if (!nw)
            return TD_ENOMEM;
        s->win = nw;
        s->cap_win = nc;
    }
    td_err err;
    if (td_telemetry_copy(&s->win[s->n_win], w, &err) != 0)
        return TD_ENOMEM;
    s->n_win++;
    return 0;
}

static int cmp_window(const void *x, const void *y)
{
    const td_telemetry *a = x, *b = y;
    if (a->start_ms != b->start_ms)
        return a->start_ms < b->start_ms ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The summary `which` of a reference document ({"training", "evaluation"}). */
static int from_reference(dset *s, const json_t *j, const char *which, const char *path,
                          td_err *err)
{
    const char *parts[2] = {which, NULL};
    if (!strcmp(which, "both")) {
        parts[0] = "evaluation";
        parts[1] = "training";
    }
    for (int k = 0; k < 2 && parts[k]; k++) {
        const json_t *o = json_object_get(j, parts[k]);
        if (!json_is_object(o))
            return td_err_set(err, TD_EFORMAT, "%s: no \"%s\" summary in the reference statistics",
                              path, parts[k]);
        td_summary t;
        int rc = td_summary_from_json(&t, o, err);
        if (rc)
            return td_err_prefix(err, rc, "%s: %s: ", path, parts[k]);
        if (k == 0) {
            s->sum = t;
            s->have_sum = 1;
        } else {
            rc = td_summary_merge(&s->sum, &t, err);
            td_summary_free(&t);
            if (rc)
                return td_err_prefix(err, rc, "%s: ", path);
        }
    }
    s->kind = SET_SUMMARY;
    const char *src = json_string_value(json_object_get(json_object_get(j, parts[0]), "source"));
    snprintf(s->desc, sizeof(s->desc), "%s: %s reference%s%s", path, which, src ? " (" : "",
             src ? src : "");
    if (src)
        snprintf(s->desc + strlen(s->desc), sizeof(s->desc) - strlen(s->desc), ")");
    return 0;
}

static int load_json_doc(dset *s, const char *path, const char *text, size_t len, const char *which,
                         td_err *err)
{
    json_t *j = NULL;
    json_error_t je;
    j = json_loadb(text, len, 0, &je);
    if (!j)
        return 1; /* not one document: JSON lines */
    int rc;
    const char *fmt = json_string_value(json_object_get(j, "format"));
    if (json_is_array(j) || (fmt && !strcmp(fmt, "trackday-telemetry"))) {
        json_decref(j);
        return 1;
    }
    if (json_object_get(j, "training") || json_object_get(j, "evaluation")) {
        rc = from_reference(s, j, which, path, err);
    } else if (json_object_get(j, "histograms")) {
        rc = td_summary_from_json(&s->sum, j, err);
        if (rc)
            rc = td_err_prefix(err, rc, "%s: ", path);
        else
            s->have_sum = 1;
        s->kind = SET_SUMMARY;
        snprintf(s->desc, sizeof(s->desc), "%s: summary", path);
    } else {
        rc = td_err_set(err, TD_EFORMAT,
                        "%s: neither telemetry windows, reference statistics nor a summary", path);
    }
    json_decref(j);
    return rc;
}

static int load_set(dset *s, const char *path, const char *which, const char *runs, td_err *err)
{
    memset(s, 0, sizeof(*s));
    td_simtrace_init(&s->sim);
    struct stat st;
    if (stat(path, &st) != 0)
        return td_err_set(err, TD_ENOENT, "%s: no such file or folder", path);
    if (S_ISDIR(st.st_mode)) {
        td_simtrace_files f;
        td_simtrace_kind kind =
            strcmp(runs, "training") ? TD_SIMTRACE_EVALUATION : TD_SIMTRACE_TRAINING;
        int rc = td_simtrace_find(path, kind, &f, err);
        if (rc)
            return rc;
        rc = td_simtrace_read_files(&s->sim, &f, err);
        snprintf(s->desc, sizeof(s->desc), "%s: %s simtrace, %d files (%s)", path, runs, f.n,
                 f.layout);
        td_simtrace_files_free(&f);
        s->kind = SET_SIMTRACE;
        return rc;
    }
    if (td_str_ends_with(path, ".csv") || td_str_ends_with(path, ".log")) {
        s->kind = SET_SIMTRACE;
        snprintf(s->desc, sizeof(s->desc), "%s: simtrace", path);
        return td_simtrace_read(&s->sim, path, err);
    }
    if (td_str_ends_with(path, ".tdb")) {
        td_archive a;
        td_archive_limits lim;
        td_archive_limits_default(&lim);
        lim.max_entries = 32;
        char *data = NULL;
        size_t len = 0;
        td_archive_init(&a);
        int rc = td_file_read(path, &data, &len, err);
        if (!rc)
            rc = td_archive_read_tar(&a, data, len, &lim, err);
        td_free(data);
        const td_archive_entry *e = rc ? NULL : td_archive_find(&a, "reference/stats.json");
        if (!rc && !e)
            rc = td_err_set(err, TD_EFORMAT, "%s: the bundle has no reference/stats.json", path);
        if (!rc) {
            json_t *j = NULL;
            rc = td_json_parse((const char *)e->data, e->size, path, &j, err);
            if (!rc)
                rc = from_reference(s, j, which, path, err);
            json_decref(j);
        }
        td_archive_free(&a);
        return rc;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = td_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    rc = load_json_doc(s, path, text, len, which, err);
    td_free(text);
    if (rc != 1)
        return rc;
    /* Telemetry windows. */
    td_telemetry merged;
    rc = td_telemetry_read_file(path, &merged, keep_window, s, err);
    if (rc == TD_ENOMEM)
        return td_err_set(err, rc, "%s: out of memory", path);
    if (rc)
        return rc;
    s->sum = merged.summary;
    s->have_sum = 1;
    s->kind = SET_TELEMETRY;
    qsort(s->win, (size_t)s->n_win, sizeof(*s->win), cmp_window);
    snprintf(s->desc, sizeof(s->desc), "%s: telemetry, %d window%s, device %s", path, s->n_win,
             s->n_win == 1 ? "" : "s", merged.device[0] ? merged.device : "unknown");
    return 0;
}

static void print_report(const td_drift_report *r, const td_drift_timeline *tl, const dset *ref,
                         const dset *cur, int all)
{
    printf("reference  %s\n", ref->desc);
    printf("current    %s\n", cur->desc);
    printf("frames     %llu reference, %llu current\n", (unsigned long long)r->ref_frames,
           (unsigned long long)r->cur_frames);
    printf("\n%-14s %-8s %9s %8s %8s  %s\n", "check", "state", "value", "warning", "alert",
           "detail");
    for (int c = 0; c < TD_DRIFT_N_CHECKS; c++) {
        const td_drift_check *k = &r->checks[c];
        char v[32];
        if (k->value == k->value)
            snprintf(v, sizeof(v), "%.3f", k->value);
        else
            snprintf(v, sizeof(v), "-");
        printf("%-14s %-8s %9s %8g %8g  %s\n", td_drift_check_name(c),
               k->value == k->value ? td_drift_level_name(k->level) : "no data", v, k->warn,
               k->alert, k->detail);
    }
    /* Features, most drifted first. */
    int n = r->n_features, *idx = td_calloc((size_t)(n + 1), sizeof(int));
    if (!idx)
        return;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && r->features[idx[j]].d.psi > r->features[idx[j - 1]].d.psi; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    int shown = all || n <= 12 ? n : 12;
    printf("\n%-20s %8s %7s %9s %7s %11s %11s  %s\n", "feature", "PSI", "KS", "KS p", "JS",
           "ref mean", "cur mean", "state");
    for (int i = 0; i < shown; i++) {
        const td_drift_feature *f = &r->features[idx[i]];
        if (!f->ref_n || !f->cur_n) {
            printf("%-20s %8s %7s %9s %7s %11s %11s  %s\n", f->name, "-", "-", "-", "-", "-", "-",
                   "no data");
            continue;
        }
        printf("%-20s %8.4f %7.4f %9.3g %7.4f %11.4g %11.4g  %s\n", f->name, f->d.psi, f->d.ks,
               f->d.ks_p, f->d.js, f->ref_mean, f->cur_mean, td_drift_level_name(f->level));
    }
    if (shown < n)
        printf("(%d more features: --all lists them)\n", n - shown);
    td_free(idx);
    if (r->ref_lap_mean == r->ref_lap_mean || r->cur_laps > 0) {
        printf("\nlaps       %ld current", r->cur_laps);
        if (r->cur_lap_mean == r->cur_lap_mean)
            printf(", mean %.3f s", r->cur_lap_mean);
        if (r->ref_lap_mean == r->ref_lap_mean)
            printf(" (reference mean %.3f s)", r->ref_lap_mean);
        printf("\n");
    }
    if (tl && tl->n > 1) {
        printf("\nper window (a monitor over the windows in time order, with hysteresis):\n");
        printf("%-7s %9s", "window", "start s");
        for (int c = 0; c < TD_DRIFT_N_CHECKS; c++)
            printf(" %13s", td_drift_check_name(c));
        printf("\n");
        for (int i = 0; i < tl->n; i++) {
            printf("%-7d %9.0f", i, tl->t_s[i]);
            for (int c = 0; c < TD_DRIFT_N_CHECKS; c++) {
                char cell[32];
                double v = tl->value[c][i];
                if (v == v)
                    snprintf(cell, sizeof(cell), "%.2f %s", v,
                             tl->level[c][i] == TD_DRIFT_ALERT     ? "ALERT"
                             : tl->level[c][i] == TD_DRIFT_WARNING ? "warn"
                                                                   : "ok");
                else
                    snprintf(cell, sizeof(cell), "- %s",
                             tl->level[c][i] == TD_DRIFT_ALERT     ? "ALERT"
                             : tl->level[c][i] == TD_DRIFT_WARNING ? "warn"
                                                                   : "ok");
                printf(" %13s", cell);
            }
            printf("\n");
        }
        for (int c = 0; c < TD_DRIFT_N_CHECKS; c++)
            if (tl->first_alert[c] >= 0)
                printf("first alert: %s at window %d\n", td_drift_check_name(c),
                       tl->first_alert[c]);
        if (tl->lap_alarm >= 0)
            printf("lap-time change detected at lap %ld of %d\n", tl->lap_alarm + 1, tl->n_laps);
    }
    printf("\noverall    %s\n", td_drift_level_name(r->level));
}

static int cmd_drift(int argc, char **argv)
{
    const char *ref_path = NULL, *cur_path = NULL, *which = "evaluation", *runs = "evaluation";
    const char *html = NULL, *fail_on = NULL;
    int as_json = 0, all = 0, suggest = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("REF", &ref_path,
                   "the reference: a bundle (.tdb), its reference/stats.json, telemetry windows "
                   "(JSON lines), a summary, or simtrace runs (a .csv or .log file, or a folder)"),
        TD_CLI_POS("CURRENT", &cur_path,
                   "what to compare with it: telemetry windows, a summary, or simtrace runs"),
        TD_CLI_CHOICE("--reference", &which, "evaluation|training|both",
                      "which summary of a bundle's reference statistics (default evaluation: the "
                      "greedy policy's laps)"),
        TD_CLI_CHOICE("--runs", &runs, "evaluation|training",
                      "which simtraces of a folder (default evaluation)"),
        TD_CLI_STRING(NULL, "--html", &html, "FILE", "also write a static HTML report"),
        TD_CLI_FLAG("--json", &as_json, "print the report as JSON"),
        TD_CLI_FLAG("--all", &all, "list every feature (default: the 12 most drifted)"),
        TD_CLI_FLAG("--suggest", &suggest,
                    "also print the domain randomization ranges (training_params.yaml lines) "
                    "that cover CURRENT's lighting and contrast, to retrain with"),
        TD_CLI_CHOICE("--fail-on", &fail_on, "warning|alert",
                      "exit 1 when the overall state is at least this (for scripts)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        "drift",
        "Compares a model's runs with a reference and prints the drift report the hub computes "
        "for a device: per feature the population stability index (PSI), Kolmogorov-Smirnov "
        "and Jensen-Shannon distance; the checks (input drift, action drift, confidence "
        "collapse, latency regression, lap-time degradation by CUSUM) with states ok, "
        "warning, alert (docs/drift.md). REF and CURRENT must be of the same kind: model "
        "summaries (bundles, telemetry) or simtrace runs.",
        opts, NULL,
        "examples:\n  trackday drift mycar.tdb car7.jsonl --html car7-drift.html\n"
        "  trackday drift mycar/ other-run/ --runs evaluation"};
    int rc = td__cli_parse(&spec, argc, argv);
    if (rc != TD_CLI_RUN)
        return rc;
    td_err err;
    dset ref, cur;
    if (load_set(&ref, ref_path, which, runs, &err) != 0) {
        dset_free(&ref);
        return td__cli_fail("drift: %s", err.msg);
    }
    if (load_set(&cur, cur_path, which, runs, &err) != 0) {
        dset_free(&ref);
        dset_free(&cur);
        return td__cli_fail("drift: %s", err.msg);
    }
    int ref_sim = ref.kind == SET_SIMTRACE, cur_sim = cur.kind == SET_SIMTRACE;
    if (ref_sim != cur_sim) {
        dset_free(&ref);
        dset_free(&cur);
        return td__cli_fail("drift: %s is %s and %s is %s: compare simtraces with simtraces, "
                            "summaries (bundles, telemetry) with summaries",
                            ref_path, ref_sim ? "simtrace runs" : "a model summary", cur_path,
                            cur_sim ? "simtrace runs" : "a model summary");
    }
    if (ref_sim) {
        if (!ref.sim.n || !cur.sim.n) {
            dset_free(&ref);
            dset_free(&cur);
            return td__cli_fail("drift: %s has no simtrace rows", !ref.sim.n ? ref_path : cur_path);
        }
        rc = td_drift_simtrace_summaries(&ref.sim, &cur.sim, &ref.sum, &cur.sum, &err);
        ref.have_sum = cur.have_sum = 1;
        if (rc) {
            dset_free(&ref);
            dset_free(&cur);
            return td__cli_fail("drift: %s", err.msg);
        }
    }
    td_drift_config cfg;
    td_drift_config_default(&cfg);
    if (ref_sim)
        cfg.min_frames = 1;
    td_drift_report r;
    td_drift_timeline tl;
    memset(&tl, 0, sizeof(tl));
    rc = td_drift_compare(&ref.sum, &cur.sum, &cfg, &r, &err);
    if (rc) {
        dset_free(&ref);
        dset_free(&cur);
        return td__cli_fail("drift: %s and %s: %s", ref_path, cur_path, err.msg);
    }
    int have_tl = cur.kind == SET_TELEMETRY && cur.n_win > 0;
    if (have_tl && td_drift_timeline_run(&ref.sum, cur.win, cur.n_win, &cfg, &tl, &err) != 0) {
        td_drift_report_free(&r);
        td_drift_timeline_free(&tl);
        dset_free(&ref);
        dset_free(&cur);
        return td__cli_fail("drift: %s", err.msg);
    }
    td_drift_dr_suggestion sug;
    if (suggest && !ref_sim && td_drift_suggest_dr(&ref.sum, &cur.sum, &cfg, NULL, &sug, &err)) {
        td_drift_report_free(&r);
        td_drift_timeline_free(&tl);
        dset_free(&ref);
        dset_free(&cur);
        return td__cli_fail("drift: --suggest: %s", err.msg);
    }
    if (suggest && ref_sim) {
        td_drift_report_free(&r);
        td_drift_timeline_free(&tl);
        dset_free(&ref);
        dset_free(&cur);
        return td__cli_fail("drift: --suggest needs camera statistics: simtraces have none");
    }
    if (as_json) {
        json_t *j = td_drift_report_to_json(&r);
        if (suggest)
            json_object_set_new(j, "suggest",
                                json_pack("{s:o,s:i,s:f,s:f,s:f,s:s}", "domain_randomization",
                                          td_dr_ranges_to_json(&sug.ranges), "widened", sug.widened,
                                          "gain", sug.gain, "contrast", sug.contrast, "edges",
                                          sug.edges, "why", sug.why));
        json_object_set_new(j, "reference", json_string(ref.desc));
        json_object_set_new(j, "current", json_string(cur.desc));
        if (have_tl)
            json_object_set_new(j, "timeline", td_drift_timeline_to_json(&tl));
        char *s = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", s ? s : "null");
        free(s);
        json_decref(j);
    } else {
        print_report(&r, have_tl ? &tl : NULL, &ref, &cur, all);
        if (suggest && !sug.widened) {
            printf("\nsuggest    nothing to widen: %s is within domain randomization's ranges "
                   "(%s)\n",
                   cur_path, sug.why);
        } else if (suggest) {
            const td_dr_ranges *d = &sug.ranges;
            printf("\nsuggest    %s\n"
                   "           retrain with these lines in training_params.yaml "
                   "(docs/drift.md):\n"
                   "ENABLE_DOMAIN_RANDOMIZATION: true\n"
                   "DOMAIN_RANDOMIZATION_BRIGHTNESS: [%.4g, %.4g]\n"
                   "DOMAIN_RANDOMIZATION_CONTRAST: [%.4g, %.4g]\n"
                   "DOMAIN_RANDOMIZATION_EXPOSURE: [%.4g, %.4g]\n"
                   "DOMAIN_RANDOMIZATION_TEXTURE: %.4g\n"
                   "DOMAIN_RANDOMIZATION_NOISE: %.4g\n"
                   "DOMAIN_RANDOMIZATION_BLUR: %.4g\n",
                   sug.why, d->brightness[0], d->brightness[1], d->contrast[0], d->contrast[1],
                   d->exposure[0], d->exposure[1], d->texture_hi, d->noise_hi, d->blur_hi);
        }
    }
    int out = 0;
    if (html) {
        td_drift_html h = {cur.kind == SET_TELEMETRY && cur.n_win ? cur.win[0].device : cur_path,
                           ref.desc,
                           cur.desc,
                           &ref.sum,
                           &cur.sum,
                           &r,
                           have_tl ? &tl : NULL};
        if (!h.title[0] || !strcmp(h.title, TD_TELEMETRY_MIXED))
            h.title = cur_path;
        if (td_drift_html_write(html, &h, &err) != 0)
            out = td__cli_fail("drift: %s", err.msg);
        else if (!as_json)
            printf("report     %s\n", html);
    }
    td_drift_level worst = r.level;
    if (have_tl)
        for (int i = 0; i < tl.n; i++)
            worst = tl.overall[i] > (int)worst ? (td_drift_level)tl.overall[i] : worst;
    if (!out && fail_on &&
        (int)worst >= (strcmp(fail_on, "alert") ? (int)TD_DRIFT_WARNING : (int)TD_DRIFT_ALERT))
        out = td__cli_fail("drift: %s (--fail-on %s)", td_drift_level_name(worst), fail_on);
    td_drift_report_free(&r);
    td_drift_timeline_free(&tl);
    dset_free(&ref);
    dset_free(&cur);
    return out;
}

TD_CLI_COMMAND("drift", "compare runs or telemetry with a reference: drift report", cmd_drift)
