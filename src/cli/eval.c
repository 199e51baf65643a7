/*
 * eval.c - `trackday eval DIR`: drives the trained policy (greedy) from the start line, prints
 * the lap times and events, and writes a JSON report, a simtrace CSV and a picture of the
 * driven line into DIR/eval/.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/evaluate.h"
#include "trackday/simtrace.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: trackday eval DIR|MODEL.tdm [options]\n\n"
               "Drives the trained policy (greedy) from the start line and prints lap times,\n"
               "off-tracks, resets and penalties. Writes DIR/logs/eval-<track>.json (report),\n"
               "DIR/logs/eval-<track>-simtrace.csv and DIR/logs/eval-<track>.svg (the driven\n"
               "line coloured by speed).\n\n"
               "As DeepRacer on AWS evaluates by default: 3 separate trials of one lap from\n"
               "the start line; an off-track, crash, reverse or immobilized costs a penalty\n"
               "(the car held at its reset pose) and a reset. Lap times are DeepRacer's\n"
               "official metric: from the reset before the prepare step to the lap's end.\n"
               "Settings not given come from DIR/evaluation_params.yaml when present (the\n"
               "whole evaluation's configuration, as DeepRacer's evaluation reads it), else\n"
               "from DIR/training_params.yaml: WORLD_NAME, the race, NUMBER_OF_TRIALS,\n"
               "IS_CONTINUOUS, NUMBER_OF_RESETS, OFF_TRACK_PENALTY, COLLISION_PENALTY,\n"
               "EVAL_CHECKPOINT.\n\n"
               "options:\n"
               "  --track T               track (default: the directory's WORLD_NAME)\n"
               "  --laps N                trials, or laps when continuous (default 3)\n"
               "  --continuous            DeepRacer's continuous mode: the laps back to back,\n"
               "                          the clock running across them\n"
               "  --max-resets N          resets allowed per trial (per run when continuous);\n"
               "                          0 = none: the first event ends the trial, lap by lap\n"
               "                          (default 10000, DeepRacer on AWS's)\n"
               "  --off-track-penalty S   seconds (default 2, also reversed; immobilized costs\n"
               "                          none), --collision-penalty S (default 5)\n"
               "  --race-type R           time-trial, object-avoidance, head-to-bot (default: the\n"
               "                          directory's RACE_TYPE)\n"
               "  --obstacles N, --bots N, --bot-speed V, --reverse\n"
               "  --checkpoint best|last  which checkpoint of DIR (default: EVAL_CHECKPOINT,\n"
               "                          else best)\n"
               "  --seed S                random seed (obstacle placement, bots)\n"
               "  --out DIR2              write the files into DIR2 instead of DIR/logs\n"
               "  --json                  print the report instead of text\n");
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int cmd_eval(int argc, char **argv)
{
    const char *target = NULL, *track_arg = NULL, *checkpoint = NULL, *outdir = NULL;
    int json = 0;
    td_eval_options o;
    td_eval_result r;
    td_model_dir md;
    int have_md = 0;
    char model_path[1200], track_path[1200], dir[1200], report[1300], simtrace[1300], pic[1300];
    td_policy policy;
    td_track track;
    td_err err;
    long l;
    int rc, race_set = 0, obstacles = -1, bots = -1, laps = -1, max_resets = -1, continuous = 0;
    double bot_speed = -1, off_track_penalty = -1, collision_penalty = -1;
    td_race_type race_type = TD_RACE_TIME_TRIAL;

    if (td__cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    td_eval_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--continuous")) {
            continuous = 1;
            continue;
        }
        if (!strcmp(a, "--reverse")) {
            o.race.reverse_dir = 1;
            continue;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (a[0] != '-') {
            if (target)
                return td__cli_fail("one model only ('%s' and '%s')", target, a);
            target = a;
            continue;
        }
        if (!v)
            return td__cli_fail("%s needs a value (see trackday eval --help)", a);
        i++;
        if (!strcmp(a, "--track"))
            track_arg = v;
        else if (!strcmp(a, "--laps")) {
            if (td__cli_parse_long(a, v, 1, TD_EVAL_MAX_TRIALS, &l))
                return 1;
            laps = (int)l;
        } else if (!strcmp(a, "--off-track-penalty")) {
            if (td__cli_parse_double(a, v, 0, 60, &off_track_penalty))
                return 1;
        } else if (!strcmp(a, "--collision-penalty")) {
            if (td__cli_parse_double(a, v, 0, 60, &collision_penalty))
                return 1;
        } else if (!strcmp(a, "--max-resets")) {
            if (td__cli_parse_long(a, v, 0, 100000, &l))
                return 1;
            max_resets = (int)l;
        } else if (!strcmp(a, "--race-type")) {
            if (td_race_type_parse(v, &race_type))
                return td__cli_fail("--race-type: '%s' must be time-trial, object-avoidance or "
                                    "head-to-bot",
                                    v);
            race_set = 1;
        } else if (!strcmp(a, "--obstacles")) {
            if (td__cli_parse_long(a, v, 1, TD_MAX_OBSTACLES, &l))
                return 1;
            obstacles = (int)l;
        } else if (!strcmp(a, "--bots")) {
            if (td__cli_parse_long(a, v, 1, TD_MAX_BOTS, &l))
                return 1;
            bots = (int)l;
        } else if (!strcmp(a, "--bot-speed")) {
            if (td__cli_parse_double(a, v, 0.05, 4, &bot_speed))
                return 1;
        } else if (!strcmp(a, "--checkpoint")) {
            if (strcmp(v, "best") && strcmp(v, "last"))
                return td__cli_fail("--checkpoint: '%s' must be best or last", v);
            checkpoint = v;
        } else if (!strcmp(a, "--seed")) {
            if (td__cli_parse_long(a, v, 0, 0x7fffffffL, &l))
                return 1;
            o.seed = (uint64_t)l;
        } else if (!strcmp(a, "--out")) {
            outdir = v;
        } else {
            usage(stderr);
            return td__cli_fail("unknown option '%s'", a);
        }
    }
    if (!target) {
        usage(stderr);
        return 2;
    }
    if (ends_with(target, ".tdm")) {
        snprintf(model_path, sizeof(model_path), "%s", target);
        snprintf(dir, sizeof(dir), "%s", outdir ? outdir : ".");
    } else {
        if (td_model_dir_load(&md, target, &err))
            return td__cli_fail("%s", err.msg);
        td__cli_print_warnings(&md.warnings);
        have_md = 1;
        const td_training_params *ep = td_model_dir_eval_params(&md);
        if (!checkpoint)
            checkpoint = ep->eval_checkpoint[0] ? ep->eval_checkpoint : "best";
        snprintf(model_path, sizeof(model_path), "%s/model/%s.tdm", target, checkpoint);
        if (!td_path_exists(model_path))
            return td__cli_fail("%s: no trained model yet (run 'trackday train %s' first)",
                                model_path, target);
        if (outdir)
            snprintf(dir, sizeof(dir), "%s", outdir);
        else
            snprintf(dir, sizeof(dir), "%s/logs", target);
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
        o.max_resets = max_resets;
    if (off_track_penalty >= 0)
        o.off_track_penalty_s = off_track_penalty;
    if (collision_penalty >= 0)
        o.collision_penalty_s = collision_penalty;
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
    snprintf(report, sizeof(report), "%s/eval-%s.json", dir, track.name);
    snprintf(simtrace, sizeof(simtrace), "%s/eval-%s-simtrace.csv", dir, track.name);
    snprintf(pic, sizeof(pic), "%s/eval-%s.svg", dir, track.name);
    o.report_path = report;
    o.simtrace_path = simtrace;
    o.picture_path = pic;
    o.model_label = model_path;
    rc = td_evaluate(&policy, &track, &o, &r, &err);
    td_policy_free(&policy);
    td_track_free(&track);
    if (rc)
        return td__cli_fail("%s", err.msg);
    /* A model directory keeps each evaluation where deepracer-for-cloud does, so
     * deepracer-utils and `trackday logs DIR --eval` find them all. */
    char drfc[4300] = "";
    if (have_md && !outdir && td_simtrace_save_eval_run(target, simtrace, drfc, sizeof(drfc), &err))
        return td__cli_fail("%s", err.msg);
    if (json) {
        char *text;
        size_t len;
        if (td_file_read(report, &text, &len, &err))
            return td__cli_fail("%s", err.msg);
        fputs(text, stdout);
        td_free(text);
        return 0;
    }
    printf("%s on %s (%s, %s%s): %d of %d laps\n", model_path, track_arg,
           o.continuous ? "continuous" : "separate trials",
           o.max_resets == 0 ? "no resets" : "with resets", o.race.reverse_dir ? ", reverse" : "",
           r.laps_completed, r.laps_requested);
    for (int i = 0; i < r.laps_completed; i++)
        printf("  lap %d: %.2f s\n", i + 1, r.lap_times_s[i]);
    if (r.laps_completed)
        printf("  best %.2f s, average %.2f s, total %.2f s\n", r.best_lap_s, r.average_lap_s,
               r.total_time_s);
    printf("  off-tracks %d, crashes %d, reversed %d, immobilized %d, resets %d, penalties "
           "%.1f s\n",
           r.off_tracks, r.crashes, r.reverses, r.immobilized, r.resets, r.penalty_s);
    printf("report: %s\nsimtrace: %s\npicture: %s\n", report, simtrace, pic);
    if (drfc[0])
        printf("deepracer-for-cloud copy: %s\n", drfc);
    return r.completed ? 0 : 0;
}

TD_CLI_COMMAND("eval", "drive a trained model from the start line: lap times, report, picture",
               cmd_eval)
