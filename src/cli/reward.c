/*
 * reward.c - `trackday reward check|explain|list`: the teaching tools for reward functions.
 *
 *   check FILE [--track T]     what DeepRacer's validator would reject, then the reward in
 *                              sampled states of the track (exit 1 on any error)
 *   explain FILE --track T     one lap on the racing line and one zig-zagging: reward per
 *                              step, a summary per segment of the lap and an SVG picture
 *   list                       the built-in C rewards
 *
 * FILE is a reward_function.py, a .so plugin or builtin:NAME.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/printlog.h"
#include "trackday/explain.h"
#include "trackday/json.h"
#include "trackday/modeldir.h"
#include "trackday/reward.h"
#include "trackday/sim.h"
#include "trackday/track.h"

#define DEFAULT_TRACK "reInvent2019_track"

static int parse_race_type(const char *opt, const char *v, void *dst)
{
    if (td_race_type_parse(v, dst))
        return td__cli_usage_error("%s: '%s' must be time-trial, object-avoidance or head-to-bot",
                                   opt, v);
    return 0;
}

static const char explain_track_help[] =
    "a track name (tracks/ or the DeepRacer routes) or a .npy/.json path; default: a model "
    "directory's WORLD_NAME, else " DEFAULT_TRACK " (or the shipped oval without the reference "
    "routes)";

static const char track_help[] =
    "a track name (tracks/ or the DeepRacer routes) or a .npy/.json path; default " DEFAULT_TRACK
    " (or the shipped oval without the reference routes)";

#ifndef TD_SOURCE_DIR
#define TD_SOURCE_DIR "."
#endif

/*
 * Loads the --track argument, or without one the default: DeepRacer's re:Invent 2019 route
 * when the reference routes are at hand, else the shipped oval (an installed trackday has
 * its own tracks but not the reference routes).
 */
static int load_track(const char *arg, td_track *t, td_err *err)
{
    char path[4096];
    if (!arg) {
        snprintf(path, sizeof(path), "%s/../shared/tracks/%s.npy", TD_SOURCE_DIR, DEFAULT_TRACK);
        if (!td_path_exists(path))
            snprintf(path, sizeof(path), "%s/oval.json", td__cli_tracks_dir());
        if (!td_path_exists(path)) {
            td__cli_fail("no default track found: give one with --track");
            return TD_ENOENT;
        }
    } else if (td__cli_track_path(arg, path, sizeof(path))) {
        return TD_ENOENT;
    }
    return td_track_load(t, path, err);
}

/*
 * The model directory FILE names or belongs to: FILE itself when it is a directory (its
 * reward_function.py is the reward), or FILE's folder when it holds model_metadata.json.
 * Writes the directory into dir (empty when there is none) and the reward file into reward.
 */
static void model_dir_of(const char *file, char *dir, size_t dcap, char *reward, size_t rcap)
{
    struct stat st;
    char probe[4200];
    dir[0] = '\0';
    snprintf(reward, rcap, "%s", file);
    if (!strncmp(file, "builtin:", 8))
        return;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(dir, dcap, "%s", file);
        snprintf(reward, rcap, "%s/reward_function.py", file);
        return;
    }
    const char *slash = strrchr(file, '/');
    int n = slash ? (int)(slash - file) : 1;
    snprintf(probe, sizeof(probe), "%.*s/model_metadata.json", n, slash ? file : ".");
    if (td_path_exists(probe))
        snprintf(dir, dcap, "%.*s", n, slash ? file : ".");
}

/* Prints text indented by `ind` spaces on every line. */
static void print_indented(const char *text, int ind)
{
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        int n = nl ? (int)(nl - s) : (int)strlen(s);
        printf("%*s%.*s\n", ind, "", n, s);
        if (!nl)
            break;
        s = nl + 1;
    }
}

/* ---- check ---------------------------------------------------------------------------- */

/* "  FILE:LINE:COL: error [rule]: message" */
static void print_issue(const char *file, const td_reward_issue *is)
{
    char where[64] = "";
    if (is->line > 0 && is->col > 0)
        snprintf(where, sizeof(where), ":%d:%d", is->line, is->col);
    else if (is->line > 0)
        snprintf(where, sizeof(where), ":%d", is->line);
    printf("  %s%s: %s [%s]: %s\n", file, where,
           is->severity == TD_REWARD_ERROR ? "error" : "warning", is->rule[0] ? is->rule : "-",
           is->message);
}

/* The issues of one stage ("static" or "runtime"): counted into *errors and *warnings, added
 * to the report's list and, unless the report is JSON, printed. */
static void add_issues(const char *file, const td_reward_issue *is, int n, const char *stage,
                       int as_json, json_t *jissues, int *errors, int *warnings)
{
    for (int i = 0; i < n; i++) {
        int e = is[i].severity == TD_REWARD_ERROR;
        *errors += e;
        *warnings += !e;
        json_t *ji = json_object();
        json_object_set_new(ji, "severity", json_string(e ? "error" : "warning"));
        json_object_set_new(ji, "line", json_integer(is[i].line));
        json_object_set_new(ji, "col", json_integer(is[i].col));
        json_object_set_new(ji, "rule", json_string(is[i].rule));
        json_object_set_new(ji, "stage", json_string(stage));
        json_object_set_new(ji, "message", json_string(is[i].message));
        json_array_append_new(jissues, ji);
        if (!as_json)
            print_issue(file, &is[i]);
    }
}

/*
 * The check's findings, printed as text or (--json) as one JSON document for tools and the
 * hub: {"file", "track", "ok", "errors", "warnings", "issues": [...], "load_error",
 * "samples": [{"state", "reward", "error", "kind", "traceback"}], "notes": [...]}.
 */
static int cmd_check(int argc, char **argv)
{
    const char *file = NULL, *track_arg = NULL;
    double timeout = TD_REWARD_DEFAULT_TIMEOUT_S;
    int as_json = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("FILE", &file, "a reward_function.py, a C plugin (.so) or builtin:NAME"),
        TD_CLI_STRING(NULL, "--track", &track_arg, "T", track_help),
        TD_CLI_DOUBLE("--timeout", &timeout, 0.001, 3600, "S",
                      "seconds one call may take before it counts as an error"),
        TD_CLI_FLAG("--json", &as_json, "print one JSON report (for tools and the hub)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "reward check",
        .about = "Gives DeepRacer's validator's verdict, naming the rule of each finding: its "
                 "static rules (flake8, imports, forbidden calls and words, the signature) "
                 "without running the file, then, if they pass, its run-time tests (float "
                 "return, range, its five test states); then calls reward_function in sampled "
                 "states of the track (centre, borders, off track, wrong heading, slow/fast, "
                 "obstacles, a bot, reverse direction). Everything runs in the reward sandbox. "
                 "Exit status 1 on any error.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    int errors = 0, warnings = 0;
    td_err err = {0};
    json_t *report = json_object(), *jissues = json_array(), *jsamples = json_array(),
           *jnotes = json_array();
    json_object_set_new(report, "file", json_string(file));

    /* 1. The static check (Python files). */
    if (td_str_ends_with(file, ".py")) {
        if (!td_path_exists(file)) {
            json_decref(report);
            return td__cli_fail("reward check: '%s' not found", file);
        }
        td_reward_issue *issues = NULL;
        int n = 0;
        if (td_reward_check_source(file, &issues, &n, &err)) {
            json_decref(report);
            return td__cli_fail("%s", err.msg);
        }
        if (!as_json)
            printf("%s: DeepRacer's validator, static rules (flake8, imports, calls, words, "
                   "signature)\n",
                   file);
        add_issues(file, issues, n, "static", as_json, jissues, &errors, &warnings);
        if (n == 0 && !as_json)
            printf("  no problems found\n");
        td_free(issues);
    }

    /* Code the static check rejected is never run. */
    if (errors) {
        json_object_set_new(report, "load_error", json_null());
        json_object_set_new(report, "not_run", json_string("rejected by the static check"));
        if (!as_json)
            printf("\nnot run: trackday never runs a reward function the check rejects\n");
        json_object_set_new(report, "ok", json_false());
        json_object_set_new(report, "errors", json_integer(errors));
        json_object_set_new(report, "warnings", json_integer(warnings));
        json_object_set_new(report, "issues", jissues);
        json_object_set_new(report, "samples", jsamples);
        json_object_set_new(report, "notes", jnotes);
        if (as_json) {
            char *text = json_dumps(report, JSON_INDENT(2));
            if (text)
                printf("%s\n", text);
            free(text);
        } else {
            printf("\nFAILED: %d error%s, %d warning%s\n", errors, errors == 1 ? "" : "s", warnings,
                   warnings == 1 ? "" : "s");
        }
        json_decref(report);
        return 1;
    }

    /* 2. The sampled states. */
    td_track t, rev;
    if (load_track(track_arg, &t, &err)) {
        if (err.msg[0])
            td__cli_fail("%s", err.msg);
        json_decref(report);
        return 1;
    }
    json_object_set_new(report, "track", json_string(t.name));
    int have_rev = t.closed && td_track_reverse(&rev, &t, &err) == 0;
    /* With --json, stdout carries only the report: whatever the reward function prints
     * goes to stderr while it runs. */
    int saved_stdout = -1;
    if (as_json) {
        fflush(stdout);
        saved_stdout = dup(1);
        if (saved_stdout >= 0)
            dup2(2, 1);
    }
    td_reward *r = NULL;
    td_reward_sample *samples = NULL;
    int n = 0;
    if (td_reward_open(&r, file, &t, &err)) {
        errors++;
        json_object_set_new(report, "load_error", json_string(err.msg));
        if (!as_json) {
            printf("\n%s: cannot be loaded:\n", file);
            print_indented(err.msg, 2);
        }
        goto report;
    }
    json_object_set_new(report, "load_error", json_null());

    /* DeepRacer's validator's run-time tests. */
    {
        td_reward_issue *vis = NULL;
        int vn = 0;
        if (td_reward_validate(r, &t, &vis, &vn, &err) != 0) {
            errors++;
            json_object_set_new(report, "validate_error", json_string(err.msg));
            if (!as_json)
                printf("\n%s: DeepRacer's validator tests could not run:\n  %s\n", file, err.msg);
        } else if (td_reward_get_kind(r) == TD_REWARD_PYTHON) {
            if (!as_json)
                printf("\nDeepRacer's validator tests (its five test states on %s)\n", t.name);
            add_issues(file, vis, vn, "runtime", as_json, jissues, &errors, &warnings);
            if (vn == 0 && !as_json)
                printf("  passed\n");
        }
        td_free(vis);
    }
    td_reward_set_timeout(r, timeout);
    samples = td_malloc(sizeof(td_reward_sample) * TD_REWARD_MAX_SAMPLES);
    if (!samples) {
        errors++;
        td__cli_fail("out of memory");
        goto report;
    }
    n = td_reward_samples(&t, have_rev ? &rev : NULL, samples, TD_REWARD_MAX_SAMPLES);
    if (!as_json) {
        printf("\nsampled states on %s (%.2f m, %d waypoints)\n", t.name, t.length, t.n);
        printf("  %-3s %-58s %12s\n", "#", "state", "reward");
    }
    double vals[TD_REWARD_MAX_SAMPLES];
    int ok[TD_REWARD_MAX_SAMPLES];
    for (int i = 0; i < n; i++) {
        double v = 0;
        fflush(stdout); /* the function's own print() output lands after the rows above */
        ok[i] = td_reward_one(r, &samples[i].params, &v, &err) == 0;
        vals[i] = v;
        json_t *js = json_object();
        json_object_set_new(js, "state", json_string(samples[i].label));
        json_array_append_new(jsamples, js);
        if (ok[i]) {
            json_object_set_new(js, "reward", json_real(v));
            json_object_set_new(js, "error", json_null());
            if (!as_json)
                printf("  %-3d %-58s %12.6g\n", i + 1, samples[i].label, v);
            continue;
        }
        errors++;
        const td_reward_error *e = td_reward_last_error(r);
        json_object_set_new(js, "reward", json_null());
        json_object_set_new(js, "error", json_string(err.msg));
        json_object_set_new(js, "kind", json_string(td_reward_error_kind_name(e->kind)));
        json_object_set_new(js, "traceback", json_string(e->traceback));
        if (!as_json) {
            printf("  %-3d %-58s %12s\n", i + 1, samples[i].label, "ERROR");
            print_indented(err.msg, 8);
            if (e->traceback[0] && e->kind == TD_REWARD_ERR_EXCEPTION) {
                printf("        traceback:\n");
                print_indented(e->traceback, 10);
            }
        }
        td_reward_clear_error(r);
    }

    /* 3. What the table says about the function (warnings). */
    int all_same = 1, n_ok = 0;
    double centre = 0, best_off = -INFINITY, first_ok = 0;
    int n_centre = 0;
    for (int i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        if (n_ok++ == 0)
            first_ok = vals[i];
        if (vals[i] != first_ok)
            all_same = 0;
        if (strncmp(samples[i].label, "centre line at", 14) == 0) {
            centre += vals[i];
            n_centre++;
        }
        if (samples[i].params.is_offtrack && vals[i] > best_off)
            best_off = vals[i];
    }
    char note[256];
    if (n_ok > 1 && all_same) {
        snprintf(note, sizeof(note),
                 "the reward is %g in every sampled state: it cannot tell good driving from bad",
                 first_ok);
        json_array_append_new(jnotes, json_string(note));
        warnings++;
        if (!as_json)
            printf("  warning: %s\n", note);
    }
    if (n_centre > 0 && best_off > -INFINITY && best_off >= centre / n_centre && !all_same) {
        snprintf(note, sizeof(note),
                 "off track pays %g, as much as the centre line (mean %g): the car has no "
                 "reason to stay on the road",
                 best_off, centre / n_centre);
        json_array_append_new(jnotes, json_string(note));
        warnings++;
        if (!as_json)
            printf("  warning: %s\n", note);
    }

report:
    if (saved_stdout >= 0) {
        fflush(stdout);
        dup2(saved_stdout, 1);
        close(saved_stdout);
    }
    json_object_set_new(report, "ok", json_boolean(errors == 0));
    json_object_set_new(report, "errors", json_integer(errors));
    json_object_set_new(report, "warnings", json_integer(warnings));
    json_object_set_new(report, "issues", jissues);
    json_object_set_new(report, "samples", jsamples);
    json_object_set_new(report, "notes", jnotes);
    if (as_json) {
        char *text = json_dumps(report, JSON_INDENT(2));
        if (text)
            printf("%s\n", text);
        free(text);
    } else if (errors) {
        printf("\nFAILED: %d error%s, %d warning%s\n", errors, errors == 1 ? "" : "s", warnings,
               warnings == 1 ? "" : "s");
    } else {
        printf("\nOK: %d sampled states, %d warning%s\n", n, warnings, warnings == 1 ? "" : "s");
    }
    json_decref(report);
    td_free(samples);
    td_reward_close(r);
    if (have_rev)
        td_track_free(&rev);
    td_track_free(&t);
    return errors ? 1 : 0;
}

/* ---- explain ---------------------------------------------------------------------------- */

static void lap_stats(const td_explain_lap *l, int from, int to, double *mean, double *mn,
                      double *mx)
{
    double s = 0;
    *mn = INFINITY;
    *mx = -INFINITY;
    for (int i = from; i < to; i++) {
        s += l->reward[i];
        *mn = fmin(*mn, l->reward[i]);
        *mx = fmax(*mx, l->reward[i]);
    }
    *mean = to > from ? s / (to - from) : NAN;
}

static int cmd_explain(int argc, char **argv)
{
    const char *file = NULL, *track_arg = NULL, *out = NULL;
    int segments = 10, max_steps = 5000;
    td_race_config race;
    td_race_config_default(&race);
    race.change_start_position = 0;
    td_race_type race_type = TD_RACE_TIME_TRIAL;
    const td__cli_opt opts[] = {
        TD_CLI_POS("FILE", &file,
                   "a reward_function.py, a C plugin (.so), builtin:NAME, or a model directory "
                   "(its reward_function.py, on its WORLD_NAME)"),
        TD_CLI_STRING(NULL, "--track", &track_arg, "T", explain_track_help),
        TD_CLI_CUSTOM("--race", &race_type, parse_race_type, "TYPE",
                      "object-avoidance or head-to-bot adds obstacles or bot cars (default "
                      "time-trial)"),
        TD_CLI_STRING(NULL, "--out", &out, "FILE.svg",
                      "the picture of the track coloured by reward (default: DIR/plots/"
                      "reward_explain.svg for a reward in a model directory DIR, else "
                      "reward_explain.svg in the current directory)"),
        TD_CLI_INT("--segments", &segments, 1, 100, "N", "lap segments in the table (default 10)"),
        TD_CLI_INT("--max-steps", &max_steps, 1, 1000000, "N",
                   "steps per driven lap at most (default 5000)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "reward explain",
        .about = "Drives one lap along the racing line and one zig-zagging with the built-in "
                 "driver, prints the reward per lap segment and writes a picture of the track "
                 "coloured by reward.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (race_type != TD_RACE_TIME_TRIAL)
        td_race_config_set_type(&race, race_type);
    td_err err = {0};
    td_track t;
    char model_dir[4096], reward_file[4200], outbuf[4200], track_path[4096];
    model_dir_of(file, model_dir, sizeof(model_dir), reward_file, sizeof(reward_file));
    if (model_dir[0] && !track_arg) {
        /* The track the model trains on, as train finds it. */
        td_model_dir md;
        if (td_model_dir_load(&md, model_dir, &err))
            return td__cli_fail("%s", err.msg);
        track_arg = md.training.world_name[0] ? md.training.world_name : "default";
        if (td__cli_track_path_for(track_arg, model_dir, track_path, sizeof(track_path)))
            return 1;
        track_arg = track_path;
    }
    if (model_dir[0] && !out) {
        if (td_path_fmt(outbuf, sizeof(outbuf), &err, "%s/plots", model_dir) ||
            td_mkdir_p(outbuf, &err) ||
            td_path_fmt(outbuf, sizeof(outbuf), &err, "%s/plots/reward_explain.svg", model_dir))
            return td__cli_fail("%s", err.msg);
        out = outbuf;
    }
    int in_cwd = !out;
    if (!out)
        out = "reward_explain.svg";
    /* Where the picture goes is checked before the laps are driven. */
    const char *oslash = strrchr(out, '/');
    if (oslash && oslash != out) {
        char odir[4200];
        snprintf(odir, sizeof(odir), "%.*s", (int)(oslash - out), out);
        struct stat ost;
        if (stat(odir, &ost) != 0 || !S_ISDIR(ost.st_mode))
            return td__cli_fail("--out %s: there is no folder %s", out, odir);
    }
    file = reward_file;
    if (load_track(track_arg, &t, &err)) {
        if (err.msg[0])
            td__cli_fail("%s", err.msg);
        return 1;
    }
    td_reward *r = NULL;
    /* What the function prints while the laps are driven goes to a model directory's log,
     * as in train and eval (`reward check` shows it: that is what checking is for). */
    td__print_log *plog =
        model_dir[0] ? td__print_log_in(model_dir, "reward-print-explain.log", 0, 10) : NULL;
    if (td_reward_open(&r, file, &t, &err)) {
        td__print_log_stop(plog);
        td_track_free(&t);
        return td__cli_fail("%s", err.msg);
    }
    static const struct {
        td_driver_kind kind;
        const char *label;
    } drivers[2] = {{TD_DRIVER_PURE_PURSUIT, "racing line"}, {TD_DRIVER_ZIGZAG, "zig-zag"}};
    td_explain_lap laps[2];
    memset(laps, 0, sizeof(laps));
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        if (td_explain_drive_lap(r, &t, &race, drivers[k].kind, max_steps, &laps[k], &err)) {
            rc = td__cli_fail("%s", err.msg);
            goto done;
        }
        if (laps[k].failed) {
            fprintf(stderr, "trackday: the reward function failed on the %s lap:\n%s\n",
                    drivers[k].label, err.msg);
            const td_reward_error *e = td_reward_last_error(r);
            if (e->traceback[0])
                fprintf(stderr, "%s", e->traceback);
            rc = 1;
            goto done;
        }
    }
    printf("reward along two laps of %s (%.2f m, %s", t.name, t.length,
           td_race_type_name(race.race_type));
    if (laps[0].n_objects)
        printf(", %d object%s", laps[0].n_objects, laps[0].n_objects == 1 ? "" : "s");
    printf(") with %s\n\n", file);
    printf("  %-12s %6s %-14s %10s %10s %10s %10s\n", "lap", "steps", "ended", "total", "mean",
           "min", "max");
    for (int k = 0; k < 2; k++) {
        double mean, mn, mx;
        lap_stats(&laps[k], 0, laps[k].n, &mean, &mn, &mx);
        printf("  %-12s %6d %-14s %10.4g %10.4g %10.4g %10.4g\n", laps[k].driver, laps[k].n,
               laps[k].status, mean * laps[k].n, mean, mn, mx);
    }
    printf("\nmean reward per segment of the lap (by progress)\n");
    printf("  %-10s %14s %14s\n", "segment", laps[0].driver, laps[1].driver);
    for (int sgm = 0; sgm < segments; sgm++) {
        double lo = 100.0 * sgm / segments, hi = 100.0 * (sgm + 1) / segments;
        char m[2][32];
        for (int k = 0; k < 2; k++) {
            double s = 0;
            int c = 0;
            for (int i = 0; i < laps[k].n; i++) {
                double pgr = laps[k].progress[i];
                if (pgr >= lo && (pgr < hi || (sgm == segments - 1 && pgr <= hi))) {
                    s += laps[k].reward[i];
                    c++;
                }
            }
            if (c)
                snprintf(m[k], sizeof(m[k]), "%.4g", s / c);
            else
                snprintf(m[k], sizeof(m[k]), "-");
        }
        printf("  %3.0f-%3.0f%%  %14s %14s\n", lo, hi, m[0], m[1]);
    }
    double m0, m1, a, b;
    lap_stats(&laps[0], 0, laps[0].n, &m0, &a, &b);
    lap_stats(&laps[1], 0, laps[1].n, &m1, &a, &b);
    double tot0 = m0 * laps[0].n, tot1 = m1 * laps[1].n;
    printf("\nracing line vs zig-zag: %.3g x the reward per step, %.3g x per lap\n",
           m1 != 0 ? m0 / m1 : INFINITY, tot1 != 0 ? tot0 / tot1 : INFINITY);
    if (m0 <= m1)
        printf("the zig-zag lap earns more per step: this reward does not prefer smooth, "
               "racing-line driving\n");
    if (tot0 < tot1 && laps[0].n < laps[1].n)
        printf("the slower zig-zag lap earns more in total: nothing here pays for finishing "
               "the lap quickly (try progress-based terms)\n");
    char title[512];
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    snprintf(title, sizeof(title), "%s on %s: reward per step", base, t.name);
    if (td_explain_svg(out, &t, laps, 2, title, &err)) {
        rc = td__cli_fail("%s", err.msg);
        goto done;
    }
    if (in_cwd) {
        char cwd[4096];
        printf("picture: %s/%s (the current directory; --out chooses another place)\n",
               getcwd(cwd, sizeof(cwd)) ? cwd : ".", out);
    } else {
        printf("picture: %s\n", out);
    }
done:
    td_explain_lap_free(&laps[0]);
    td_explain_lap_free(&laps[1]);
    td_reward_close(r);
    td__print_log_stop(plog);
    td_track_free(&t);
    return rc;
}

/* ---- list ------------------------------------------------------------------------------ */

static int cmd_list(void)
{
    printf("built-in rewards (use as builtin:NAME):\n");
    for (const char *const *n = td_reward_builtin_names(); *n; n++)
        printf("  %-24s %s\n", *n, td_reward_builtin_summary(*n));
    printf("Python: %s\n",
           td_reward_python_available() ? "available (embedded CPython 3.11)" : "not built in");
    return 0;
}

static int cmd_list_args(int argc, char **argv)
{
    const td__cli_opt opts[] = {TD_CLI_END};
    const td__cli_spec spec = {.name = "reward list",
                               .about = "Lists the built-in C rewards and whether Python reward "
                                        "functions are available.",
                               .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    return cmd_list();
}

static int cmd_reward(int argc, char **argv)
{
    static const td__cli_sub subs[] = {
        {"check", "what DeepRacer's validator would reject, then the reward in sampled states",
         cmd_check},
        {"explain", "one lap on the racing line and one zig-zagging: reward per segment, SVG",
         cmd_explain},
        {"list", "the built-in C rewards", cmd_list_args},
        {NULL, NULL, NULL},
    };
    return td__cli_dispatch("reward",
                            "The teaching tools for reward functions. FILE is a DeepRacer "
                            "reward_function.py, a C plugin (.so) or builtin:NAME.",
                            subs, argc, argv);
}

TD_CLI_COMMAND("reward", "check and explain reward functions", cmd_reward)
