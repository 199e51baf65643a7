/*
 * race.c - `trackday race MODEL_A MODEL_B ... --track T --laps 3`: head-to-head races of 2-6
 * models (model directories, .tdm files or the built-in driver), staggered starts, collisions
 * and penalties; prints the standings, writes DIR/race.json and a replay of the race.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/race.h"
#include "trackday/replay.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: trackday race MODEL_A MODEL_B [MODEL ...] --track T [options]\n\n"
               "Races 2 to 6 cars head to head (DeepRacer's HEAD_TO_MODEL). A MODEL is a model\n"
               "directory, a .tdm file, or the simulator's built-in driver:\n"
               "builtin:pure-pursuit, builtin:centerline or builtin:zigzag, optionally with a top\n"
               "speed (builtin:centerline:1.5). Cars start 0.75 m apart behind the start line,\n"
               "alternating inner and outer lane, in the order given, each driven greedily by its\n"
               "own model. Cars see each other; a car that runs into a car ahead of it is\n"
               "crashed (DeepRacer's rule).\n"
               "Standings: finishers by total time (penalties included), then the others by laps\n"
               "and progress. Writes DIR/race.json and a replay (DIR/race.mp4 when ffmpeg is on\n"
               "the PATH, else PNG frames in DIR/replay/).\n\n"
               "options:\n"
               "  --track T               track (default: the first model directory's world)\n"
               "  --laps N                laps (default 3)\n"
               "  --continuous            an event costs a penalty (the car waits at its reset\n"
               "                          pose) instead of putting the car out\n"
               "  --off-track-penalty S   seconds (default 2), --collision-penalty S (default 5)\n"
               "  --max-resets N          continuous: resets allowed, out at the next event\n"
               "                          (default 10000; 0: the first event puts it out)\n"
               "  --reverse               drive the track the other way\n"
               "  --max-time S            race clock limit (default: laps at 0.5 m/s + 30 s)\n"
               "  --checkpoint best|last  which checkpoint of a model directory (default best)\n"
               "  -o, --out DIR           output directory (default race-<track>)\n"
               "  --replay PATH|none      replay video or PNG directory (default above)\n"
               "  --width PX, --fps N     replay frame width (960) and rate (15)\n"
               "  --camera K              the replay shows car K's camera view (K = 1 for the\n"
               "                          first MODEL) beside the top view\n"
               "  --seed S                random seed\n"
               "  --json                  print race.json instead of the table\n");
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int cmd_race(int argc, char **argv)
{
    const char *models[TD_RACE_MAX_CARS + 1], *track_arg = NULL, *outdir = NULL;
    const char *replay = NULL, *checkpoint = "best";
    int n = 0, json = 0, rc = 1;
    char track_path[1200], dirbuf[1300], json_path[1400], replay_buf[1400];
    char names[TD_RACE_MAX_CARS][TD_RACE_NAME_LEN];
    char world[TD_RACE_MAX_CARS][256];
    td_racer racers[TD_RACE_MAX_CARS];
    td_policy policies[TD_RACE_MAX_CARS];
    int loaded[TD_RACE_MAX_CARS] = {0};
    td_race_options o;
    td_race_result res;
    td_track track;
    int track_ok = 0;
    td_err err;
    long l;

    if (td__cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    td_race_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--continuous")) {
            o.continuous = 1;
            continue;
        }
        if (!strcmp(a, "--reverse")) {
            o.reverse = 1;
            continue;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (a[0] != '-') {
            if (n == TD_RACE_MAX_CARS)
                return td__cli_fail("at most %d cars in a race", TD_RACE_MAX_CARS);
            models[n++] = a;
            continue;
        }
        if (!v)
            return td__cli_fail("%s needs a value (see trackday race --help)", a);
        i++;
        if (!strcmp(a, "--track"))
            track_arg = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out"))
            outdir = v;
        else if (!strcmp(a, "--replay"))
            replay = v;
        else if (!strcmp(a, "--laps")) {
            if (td__cli_parse_long(a, v, 1, TD_MAX_LAPS, &l))
                return 1;
            o.laps = (int)l;
        } else if (!strcmp(a, "--off-track-penalty")) {
            if (td__cli_parse_double(a, v, 0, 60, &o.off_track_penalty_s))
                return 1;
        } else if (!strcmp(a, "--collision-penalty")) {
            if (td__cli_parse_double(a, v, 0, 60, &o.collision_penalty_s))
                return 1;
        } else if (!strcmp(a, "--max-resets")) {
            if (td__cli_parse_long(a, v, 0, 100000, &l))
                return 1;
            o.max_resets = (int)l;
        } else if (!strcmp(a, "--max-time")) {
            if (td__cli_parse_double(a, v, 1, 86400, &o.max_time_s))
                return 1;
        } else if (!strcmp(a, "--checkpoint")) {
            if (strcmp(v, "best") && strcmp(v, "last"))
                return td__cli_fail("--checkpoint: '%s' must be best or last", v);
            checkpoint = v;
        } else if (!strcmp(a, "--width")) {
            if (td__cli_parse_long(a, v, 320, 3840, &l))
                return 1;
            o.replay_width = (int)l;
        } else if (!strcmp(a, "--camera")) {
            if (td__cli_parse_long(a, v, 1, TD_RACE_MAX_CARS, &l))
                return 1;
            o.replay_camera_car = (int)l - 1;
        } else if (!strcmp(a, "--fps")) {
            if (td__cli_parse_long(a, v, 1, 240, &l))
                return 1;
            o.replay_fps = (int)l;
        } else if (!strcmp(a, "--seed")) {
            if (td__cli_parse_long(a, v, 0, 0x7fffffffL, &l))
                return 1;
            o.seed = (uint64_t)l;
        } else {
            usage(stderr);
            return td__cli_fail("unknown option '%s'", a);
        }
    }
    if (o.replay_camera_car >= n)
        return td__cli_fail("--camera %d: the race has %d cars", o.replay_camera_car + 1, n);
    if (n < TD_RACE_MIN_CARS) {
        usage(stderr);
        return td__cli_fail("a race needs %d to %d models (got %d)", TD_RACE_MIN_CARS,
                            TD_RACE_MAX_CARS, n);
    }

    /* The racers. */
    for (int k = 0; k < n; k++) {
        char path[1300];
        memset(&racers[k], 0, sizeof(racers[k]));
        world[k][0] = 0;
        snprintf(names[k], sizeof(names[k]), "%s", models[k]);
        racers[k].name = names[k];
        if (!strncmp(models[k], "builtin:", 8)) {
            if (td_racer_parse_builtin(models[k], &racers[k].driver, &err)) {
                td__cli_fail("%s", err.msg);
                goto out;
            }
            continue;
        }
        if (ends_with(models[k], ".tdm")) {
            snprintf(path, sizeof(path), "%s", models[k]);
        } else {
            td_model_dir md;
            if (td_model_dir_load(&md, models[k], &err)) {
                td__cli_fail("%s", err.msg);
                goto out;
            }
            snprintf(world[k], sizeof(world[k]), "%s", md.training.world_name);
            snprintf(path, sizeof(path), "%s/model/%s.tdm", models[k], checkpoint);
            if (!td_path_exists(path)) {
                td__cli_fail("%s: no trained model yet (run 'trackday train %s' first)", path,
                             models[k]);
                goto out;
            }
            /* "runs/a/" reads as "a" in the standings. */
            size_t len = strlen(names[k]);
            while (len > 1 && names[k][len - 1] == '/')
                names[k][--len] = 0;
        }
        if (td_policy_load(&policies[k], path, 1, &err)) {
            td__cli_fail("%s", err.msg);
            goto out;
        }
        loaded[k] = 1;
        racers[k].policy = &policies[k];
    }
    if (!track_arg)
        for (int k = 0; k < n && !track_arg; k++)
            if (world[k][0])
                track_arg = world[k];
    if (!track_arg) {
        td__cli_fail("which track? give --track T");
        goto out;
    }
    if (td__cli_track_path(track_arg, track_path, sizeof(track_path)))
        goto out;
    if (td_track_load(&track, track_path, &err)) {
        td__cli_fail("%s", err.msg);
        goto out;
    }
    track_ok = 1;
    if (!outdir) {
        snprintf(dirbuf, sizeof(dirbuf), "race-%s", track.name);
        outdir = dirbuf;
    }
    if (td_mkdir_p(outdir, &err)) {
        td__cli_fail("%s", err.msg);
        goto out;
    }
    if (!replay)
        snprintf(replay_buf, sizeof(replay_buf), "%s/%s", outdir,
                 td_ffmpeg_find(NULL, 0) ? "race.mp4" : "replay");
    else
        snprintf(replay_buf, sizeof(replay_buf), "%s", replay);
    o.replay_path = strcmp(replay_buf, "none") ? replay_buf : NULL;
    if (td_race_run(&track, racers, n, &o, &res, &err)) {
        td__cli_fail("%s", err.msg);
        goto out;
    }
    snprintf(json_path, sizeof(json_path), "%s/race.json", outdir);
    if (td_race_write_json(json_path, &track, &o, &res, &err)) {
        td__cli_fail("%s", err.msg);
        goto out;
    }
    if (json) {
        char *text;
        size_t len;
        if (td_file_read(json_path, &text, &len, &err)) {
            td__cli_fail("%s", err.msg);
            goto out;
        }
        fputs(text, stdout);
        td_free(text);
        rc = 0;
        goto out;
    }
    printf("race on %s%s: %d laps, %s", track.name, o.reverse ? " (reverse)" : "", o.laps,
           o.continuous ? "continuous" : "an event puts a car out");
    if (o.continuous)
        printf(" (penalties: off-track %.1f s, collision %.1f s)", o.off_track_penalty_s,
               o.collision_penalty_s);
    printf("\n\n%-4s %-28s %10s %6s %9s %6s %8s  %s\n", "pos", "car", "time", "laps", "best lap",
           "resets", "penalty", "status");
    for (int p = 0; p < res.n; p++) {
        const td_race_car_result *c = &res.cars[p];
        char best[32], laps[32], status[64];
        if (c->best_lap_s > 0)
            snprintf(best, sizeof(best), "%.2f s", c->best_lap_s);
        else
            snprintf(best, sizeof(best), "-");
        snprintf(laps, sizeof(laps), "%d/%d", c->laps, o.laps);
        if (c->finished)
            snprintf(status, sizeof(status), "finished");
        else
            snprintf(status, sizeof(status), "%s at %.1f%% of lap %d",
                     td_episode_status_name(c->status), c->progress < 0 ? 0 : c->progress,
                     c->laps + 1);
        printf("%-4d %-28.28s %8.2f s %6s %9s %6d %6.1f s  %s\n", c->position, c->name,
               c->total_time_s, laps, best, c->resets, c->penalty_s, status);
    }
    printf("\nrace time %.2f s (%ld steps)\nreport: %s\n", res.race_time_s, res.steps, json_path);
    if (o.replay_path)
        printf("replay: %s (%d frames)\n", o.replay_path, res.replay_frames);
    rc = 0;
out:
    for (int k = 0; k < n; k++)
        if (loaded[k])
            td_policy_free(&policies[k]);
    if (track_ok)
        td_track_free(&track);
    return rc;
}

TD_CLI_COMMAND("race", "head-to-head race of 2-6 models (staggered starts, collisions)", cmd_race)
