/*
 * eval.c - `trackday eval DIR`: drives the trained policy (greedy) from the start line, prints
 * the lap times and events, and writes a JSON report, a simtrace CSV and a picture of the
 * driven line into DIR/eval/.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/printlog.h"
#include "cli/status.h"
#include "trackday/eval.h"
#include "trackday/simtrace.h"
#include "trackday/json.h"

static const char about[] =
    "Drives the trained policy (greedy) from the start line and prints lap times, off-tracks, "
    "resets and penalties. Writes DIR/logs/eval-<track>.json (report), "
    "DIR/logs/eval-<track>-simtrace.csv (with the reward of DIR/reward_function.py) and "
    "DIR/logs/eval-<track>.svg (the driven line coloured by speed). The exit status is 0 when "
    "every lap was completed, 1 when not.\n"
    "\n"
    "As DeepRacer on AWS evaluates by default: 3 separate trials of one lap from the start "
    "line; an off-track, crash, reverse or immobilized costs a penalty (the car held at its "
    "reset pose) and a reset. Lap times are DeepRacer's official metric: from the reset before "
    "the prepare step to the lap's end. Settings not given come from DIR/evaluation_params.yaml "
    "when present (the whole evaluation's configuration, as DeepRacer's evaluation reads it), "
    "else from DIR/training_params.yaml: WORLD_NAME, the race, NUMBER_OF_TRIALS, IS_CONTINUOUS, "
    "NUMBER_OF_RESETS, OFF_TRACK_PENALTY, COLLISION_PENALTY, EVAL_CHECKPOINT.";

/* The status line during the drive (status.h). */
static int eval_step(void *user, const td_eval_step *s, td_err *err)
{
    (void)err;
    const td_eval_options *o = user;
    td__cli_status("evaluating: lap %d of %d, step %ld", s->lap + 1, o->laps, s->step + 1);
    return 0;
}

static int parse_race_type(const char *opt, const char *v, void *dst)
{
    if (td_race_type_parse(v, dst))
        return td__cli_usage_error("%s: '%s' must be time-trial, object-avoidance or head-to-bot",
                                   opt, v);
    return 0;
}

/* The per-case (and summary) fields of the robustness JSON. */
static json_t *robustness_case_json(const td_robustness_row *r, int requested)
{
    json_t *e = json_object();
    if (r->strength[0]) {
        json_object_set_new(e, "perturbation", json_string(r->name));
        json_object_set_new(e, "strength", json_string(r->strength));
    }
    json_object_set_new(e, "laps_requested", json_integer(requested));
    json_object_set_new(e, "laps_clean", json_integer(r->laps_clean));
    json_object_set_new(e, "completion",
                        json_real((double)r->laps_clean / (requested ? requested : 1)));
    json_object_set_new(e, "laps_completed", json_integer(r->laps_completed));
    td__events_to_json(e, &r->events, 0);
    json_object_set_new(e, "progress_before_off_track", json_real(r->progress_first));
    json_object_set_new(e, "mean_lap_s",
                        r->mean_lap_s > 0 ? json_real(r->mean_lap_s) : json_null());
    json_object_set_new(e, "mean_clean_lap_s",
                        r->mean_clean_lap_s > 0 ? json_real(r->mean_clean_lap_s) : json_null());
    json_object_set_new(e, "best_lap_s",
                        r->best_lap_s > 0 ? json_real(r->best_lap_s) : json_null());
    json_object_set_new(e, "steps", json_integer(r->steps));
    return e;
}

/* --robustness: the suite, a table (or JSON) on stdout and a JSON file in dir. */
static int robustness(td_policy *policy, const td_track *track, const td_eval_options *o,
                      const char *dir, const char *model, int json, td_err *err)
{
    td_robustness_row rows[TD_ROBUSTNESS_N], all;
    if (td_eval_robustness(policy, track, o, rows, err))
        return td__cli_fail("%s", err->msg);
    td_robustness_total(rows, TD_ROBUSTNESS_N, &all);
    int n = rows[0].trials;
    json_t *root = json_object(), *arr = json_array(), *starts = json_array(),
           *seeds = json_array();
    json_object_set_new(root, "model", json_string(model));
    json_object_set_new(root, "track", json_string(track->name));
    json_object_set_new(root, "laps_per_case", json_integer(n));
    json_object_set_new(root, "max_resets", json_integer(o->penalties.max_resets));
    json_object_set_new(root, "seed", json_integer((json_int_t)o->seed));
    for (int j = 0; j < n; j++) {
        json_array_append_new(starts, json_real(rows[0].trial[j].start_ndist));
        json_array_append_new(seeds, json_integer((json_int_t)rows[0].trial[j].seed));
    }
    json_object_set_new(root, "trial_starts", starts);
    json_object_set_new(root, "trial_seeds", seeds);
    for (int k = 0; k < TD_ROBUSTNESS_N; k++) {
        json_t *e = robustness_case_json(&rows[k], n), *trials = json_array();
        for (int j = 0; j < rows[k].trials; j++) {
            const td_robustness_trial *t = &rows[k].trial[j];
            json_t *x = json_object();
            json_object_set_new(x, "clean", json_boolean(t->clean));
            json_object_set_new(x, "completed", json_boolean(t->completed));
            json_object_set_new(x, "lap_s", t->lap_s > 0 ? json_real(t->lap_s) : json_null());
            json_object_set_new(x, "off_tracks", json_integer(t->events.off_tracks));
            json_object_set_new(x, "resets", json_integer(t->events.resets));
            json_object_set_new(x, "progress_before_off_track", json_real(t->progress_first));
            json_object_set_new(x, "steps", json_integer(t->steps));
            json_array_append_new(trials, x);
        }
        json_object_set_new(e, "trials", trials);
        json_array_append_new(arr, e);
    }
    json_object_set_new(root, "cases", arr);
    json_object_set_new(root, "all", robustness_case_json(&all, all.trials));
    /* The totals at the top, as before (laps_completed: with resets). */
    json_object_set_new(root, "laps_clean", json_integer(all.laps_clean));
    json_object_set_new(root, "laps_completed", json_integer(all.laps_completed));
    json_object_set_new(root, "laps_requested", json_integer(all.trials));
    char path[1400];
    snprintf(path, sizeof(path), "%s/robustness-%s.json", dir, track->name);
    int rc = td_json_write_file(path, root, err);
    if (rc) {
        json_decref(root);
        return td__cli_fail("%s", err->msg);
    }
    if (json) {
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        printf("%s on %s: robustness, %d lap%s per case from ", model, track->name, n,
               n == 1 ? "" : "s");
        for (int j = 0; j < n; j++)
            printf("%s%.0f%%", j == 0 ? "" : (j == n - 1 ? " and " : ", "),
                   100.0 * rows[0].trial[j].start_ndist);
        if (o->penalties.max_resets > 0)
            printf(" of the lap, up to %d resets per lap\n", o->penalties.max_resets);
        else
            printf(" of the lap, no resets\n");
        printf("  %-14s %-7s %-6s %10s %7s %9s %8s\n", "perturbation", "level", "clean",
               "off-tracks", "resets", "progress", "lap (s)");
        for (int k = 0; k <= TD_ROBUSTNESS_N; k++) {
            const td_robustness_row *r = k < TD_ROBUSTNESS_N ? &rows[k] : &all;
            char clean[32], lap[32];
            snprintf(clean, sizeof(clean), "%d/%d", r->laps_clean, r->trials);
            if (r->mean_lap_s > 0)
                snprintf(lap, sizeof(lap), "%.2f", r->mean_lap_s);
            else
                snprintf(lap, sizeof(lap), "-");
            printf("  %-14s %-7s %-6s %10d %7d %8.1f%% %8s\n", r->name, r->strength, clean,
                   r->events.off_tracks, r->events.resets, r->progress_first, lap);
        }
        printf("clean: laps without an off-track (or crash, reversal, immobilized); progress: "
               "mean progress before the first one; lap: mean time of the completed laps, "
               "penalties included\nreport: %s\n",
               path);
    }
    json_decref(root);
    return 0;
}

static int cmd_eval(int argc, char **argv)
{
    const char *target = NULL, *track_arg = NULL, *checkpoint = NULL, *outdir = NULL;
    int json = 0, robust = 0;
    td_eval_options o;
    td_eval_result r;
    td_model_dir md;
    int have_md = 0;
    char model_path[1200], track_path[1200], dir[1200], report[1300], simtrace[1300], pic[1300];
    td_policy policy;
    td_track track;
    td_err err;
    int rc, race_set = 0, obstacles = -1, bots = -1, laps = -1, max_resets = -1, continuous = 0;
    double bot_speed = -1, off_track_penalty = -1, collision_penalty = -1;
    td_race_type race_type = TD_RACE_TIME_TRIAL;
    long seed;

    td_eval_options_default(&o);
    seed = (long)o.seed;
    /* The flags are parsed apart and applied over the directory's settings below. */
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR|MODEL.tdm", &target, "a model directory or a model file"),
        TD_CLI_STRING(NULL, "--track", &track_arg, "T",
                      "track name or .npy/.json path (default: WORLD_NAME of "
                      "training_params.yaml)"),
        TD_CLI_INT("--laps", &laps, 1, TD_EVAL_MAX_TRIALS, "N",
                   "trials, or laps when continuous (default 3)"),
        TD_CLI_FLAG("--continuous", &continuous,
                    "DeepRacer's continuous mode: the laps back to back, the clock running "
                    "across them"),
        TD_CLI_INT("--max-resets", &max_resets, 0, 100000, "N",
                   "resets allowed per trial (per run when continuous); 0 = none: the first "
                   "event ends the trial (default 10000, DeepRacer on AWS's)"),
        TD_CLI_DOUBLE("--off-track-penalty", &off_track_penalty, 0, 60, "S",
                      "seconds per off-track or reversal (default 2; immobilized costs none)"),
        TD_CLI_DOUBLE("--collision-penalty", &collision_penalty, 0, 60, "S",
                      "seconds per collision (default 5)"),
        {.name = "--race-type",
         .kind = TD__CLI_CUSTOM,
         .dst = &race_type,
         .parse = parse_race_type,
         .arg = "R",
         .given = &race_set,
         .help = "time-trial, object-avoidance or head-to-bot (default: the directory's "
                 "RACE_TYPE)"},
        TD_CLI_INT("--obstacles", &obstacles, 1, TD_MAX_OBSTACLES, "N", "obstacles"),
        TD_CLI_INT("--bots", &bots, 1, TD_MAX_BOTS, "N", "bot cars"),
        TD_CLI_DOUBLE("--bot-speed", &bot_speed, 0.05, 4, "V", "bot speed, m/s"),
        TD_CLI_FLAG("--reverse", &o.race.reverse_dir, "drive the track the other way"),
        TD_CLI_CHOICE("--checkpoint", &checkpoint, "best|last",
                      "which checkpoint of a model directory: best (highest evaluation progress) "
                      "or last; default: EVAL_CHECKPOINT, else best"),
        TD_CLI_OPT_SEED(&seed, "random seed (obstacle placement, bots)"),
        TD_CLI_STRING(NULL, "--out", &outdir, "DIR2",
                      "write the files into DIR2 instead of DIR/logs"),
        TD_CLI_FLAG("--json", &json, "print the report instead of text"),
        TD_CLI_FLAG("--robustness", &robust,
                    "drive under a fixed suite of visual perturbations (brightness, contrast, "
                    "noise, blur, floor texture, distractors, camera pitch and height, each mild "
                    "and strong): per case --laps trials of one lap from staggered starts, each "
                    "with its own seed; reports the laps driven without an off-track, the "
                    "off-tracks and resets, the progress before the first and the lap times; "
                    "writes DIR/logs/robustness-<track>.json"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "eval", .about = about, .opts = opts};
    if ((rc = td__cli_parse(&spec, argc, argv)) != TD_CLI_RUN)
        return rc;
    o.seed = (uint64_t)seed;
    if (td_str_ends_with(target, ".tdm")) {
        if (td_path_fmt(model_path, sizeof(model_path), &err, "%s", target) ||
            td_path_fmt(dir, sizeof(dir), &err, "%s", outdir ? outdir : "."))
            return td__cli_fail("%s", err.msg);
    } else {
        if (td_model_dir_load(&md, target, &err))
            return td__cli_fail("%s", err.msg);
        td__cli_print_warnings(&md.warnings);
        have_md = 1;
        const td_training_params *ep = td_model_dir_eval_params(&md);
        if (!checkpoint)
            checkpoint = ep->eval_checkpoint[0] ? ep->eval_checkpoint : "best";
        if (td_path_fmt(model_path, sizeof(model_path), &err, "%s/model/%s.tdm", target,
                        checkpoint))
            return td__cli_fail("%s", err.msg);
        if (!td_path_exists(model_path))
            return td__cli_fail("%s: no trained model yet (run 'trackday train %s' first)",
                                model_path, target);
        if (outdir ? td_path_fmt(dir, sizeof(dir), &err, "%s", outdir)
                   : td_path_join(dir, sizeof(dir), target, "logs", &err))
            return td__cli_fail("%s", err.msg);
        /* The directory's world and evaluation settings (the flags below win). */
        int reverse = o.race.reverse_dir;
        o.race = ep->race;
        o.race.reverse_dir |= reverse;
        td_eval_options_set_config(&o, &ep->eval);
    }
    if (laps > 0)
        o.laps = laps;
    if (continuous)
        o.continuous = 1;
    if (max_resets >= 0)
        o.penalties.max_resets = max_resets;
    if (off_track_penalty >= 0)
        o.penalties.off_track_penalty_s = off_track_penalty;
    if (collision_penalty >= 0)
        o.penalties.collision_penalty_s = collision_penalty;
    if (race_set)
        td_race_config_set_type(&o.race, race_type);
    if (obstacles >= 0) {
        o.race.number_of_obstacles = obstacles;
        o.race.n_object_positions = 0;
    }
    if (bots >= 0)
        o.race.number_of_bot_cars = bots;
    if (bot_speed > 0)
        o.race.bot_car_speed = bot_speed;
    if (!track_arg)
        track_arg = have_md && td_model_dir_eval_params(&md)->world_name[0]
                        ? td_model_dir_eval_params(&md)->world_name
                        : "default";
    if (td__cli_track_path_for(track_arg, have_md ? target : NULL, track_path, sizeof(track_path)))
        return 1;
    if (td_mkdir_p(dir, &err))
        return td__cli_fail("%s", err.msg);
    if ((rc = td_track_load(&track, track_path, &err)) != 0)
        return td__cli_fail("%s", err.msg);
    if ((rc = td_policy_load(&policy, model_path, 1, &err)) != 0) {
        td_track_free(&track);
        return td__cli_fail("%s", err.msg);
    }
    if (robust) {
        if (continuous) {
            td_policy_free(&policy);
            td_track_free(&track);
            return td__cli_usage_error("--robustness drives separate one-lap trials from "
                                       "staggered starts; --continuous does not apply");
        }
        rc = robustness(&policy, &track, &o, dir, model_path, json, &err);
        td_policy_free(&policy);
        td_track_free(&track);
        return rc;
    }
    /* The simtrace and pictures show the model's own reward function. */
    td_reward *reward = NULL;
    char reward_label[4300];
    /* What it prints goes to DIR/logs/reward-print-eval.log, as in training (docs/logs.md). */
    td__print_log *plog =
        have_md ? td__print_log_in(target, "reward-print-eval.log", 0, json ? 0 : 10) : NULL;
    if (td__cli_model_reward(have_md ? target : NULL, &track, &reward, reward_label,
                             sizeof(reward_label))) {
        td__print_log_stop(plog);
        td_policy_free(&policy);
        td_track_free(&track);
        return 1;
    }
    o.reward = reward;
    if (td_path_fmt(report, sizeof(report), &err, "%s/eval-%s.json", dir, track.name) ||
        td_path_fmt(simtrace, sizeof(simtrace), &err, "%s/eval-%s-simtrace.csv", dir, track.name) ||
        td_path_fmt(pic, sizeof(pic), &err, "%s/eval-%s.svg", dir, track.name)) {
        td_reward_close(reward);
        td__print_log_stop(plog);
        td_policy_free(&policy);
        td_track_free(&track);
        return td__cli_fail("%s", err.msg);
    }
    /* A model directory keeps each evaluation where deepracer-for-cloud does: the simtrace
     * in DIR/evaluation-<stamp>/ (below) and DeepRacer's metrics in
     * DIR/metrics/EvaluationMetrics-<stamp>.json, so deepracer-utils and `trackday logs DIR
     * --eval` find them all. */
    char stamp[32] = "", metrics[4300] = "";
    if (have_md && !outdir) {
        td_simtrace_eval_stamp(target, stamp, sizeof(stamp));
        if (td_path_fmt(metrics, sizeof(metrics), &err, "%s/metrics", target) ||
            td_mkdir_p(metrics, &err) ||
            td_path_fmt(metrics, sizeof(metrics), &err, "%s/metrics/EvaluationMetrics-%s.json",
                        target, stamp)) {
            td_reward_close(reward);
            td__print_log_stop(plog);
            td_policy_free(&policy);
            td_track_free(&track);
            return td__cli_fail("%s", err.msg);
        }
        o.metrics_path = metrics;
    }
    o.report_path = report;
    o.simtrace_path = simtrace;
    o.picture_path = pic;
    o.model_label = model_path;
    o.on_step = eval_step;
    o.on_step_user = &o;
    rc = td_evaluate(&policy, &track, &o, &r, &err);
    td__cli_status_done();
    td_reward_close(reward);
    td__print_log_stop(plog);
    td_policy_free(&policy);
    td_track_free(&track);
    if (rc)
        return td__cli_fail("%s", err.msg);
    char drfc[4300] = "";
    if (have_md && !outdir &&
        td_simtrace_save_eval_run(target, stamp, simtrace, drfc, sizeof(drfc), &err))
        return td__cli_fail("%s", err.msg);
    /* The exit status says whether every requested lap was completed (scripts and the hub
     * read it): 0 yes, 1 no; the report is written either way. */
    if (json) {
        char *text;
        size_t len;
        if (td_file_read(report, &text, &len, &err))
            return td__cli_fail("%s", err.msg);
        fputs(text, stdout);
        td_free(text);
        return r.completed ? 0 : 1;
    }
    /* "default" is named as the track it stands for, as train names it. */
    printf("%s on %s (%s, %s%s): %d of %d laps\n", model_path,
           strcmp(track_arg, "default") ? track_arg : td__cli_default_track(),
           o.continuous ? "continuous" : "separate trials",
           o.penalties.max_resets == 0 ? "no resets" : "with resets",
           o.race.reverse_dir ? ", reverse" : "", r.laps_completed, r.laps_requested);
    for (int i = 0; i < r.laps_completed; i++)
        printf("  lap %d: %.2f s\n", i + 1, r.lap_times_s[i]);
    if (r.laps_completed)
        printf("  best %.2f s, average %.2f s, total %.2f s\n", r.best_lap_s, r.average_lap_s,
               r.total_time_s);
    printf("  off-tracks %d, crashes %d, reversed %d, immobilized %d, resets %d, penalties "
           "%.1f s\n",
           r.events.off_tracks, r.events.crashes, r.events.reverses, r.events.immobilized,
           r.events.resets, r.events.penalty_s);
    printf("reward: %s\nreport: %s\nsimtrace: %s\npicture: %s\n", reward_label, report, simtrace,
           pic);
    if (drfc[0])
        printf("deepracer-for-cloud copy: %s\nDeepRacer's metrics: %s\n", drfc, metrics);
    if (!r.completed)
        fprintf(stderr, "trackday: %d of %d laps completed (exit status 1)\n", r.laps_completed,
                r.laps_requested);
    return r.completed ? 0 : 1;
}

TD_CLI_COMMAND("eval", "drive a trained model from the start line: lap times, report, picture",
               cmd_eval)
