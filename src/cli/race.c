/*
 * race.c - `trackday race MODEL_A MODEL_B ... --track T --laps 3`: head-to-head races of 2-6
 * models (model directories, .tdm files or the built-in driver), staggered starts, collisions
 * and penalties; prints the standings, writes DIR/race.json and a replay of the race.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "trackday/race.h"
#include "trackday/replay.h"

static const char about[] =
    "Races 2 to 6 cars head to head (DeepRacer's HEAD_TO_MODEL). A MODEL is a model directory, "
    "a .tdm file, or the simulator's built-in driver: builtin:pure-pursuit, builtin:centerline "
    "or builtin:zigzag, optionally with a top speed (builtin:centerline:1.5). Cars start 0.75 m "
    "apart behind the start line, alternating inner and outer lane, in the order given, each "
    "driven greedily by its own model. Cars see each other; a car that runs into a car ahead of "
    "it is crashed (DeepRacer's rule). Standings: finishers by total time (penalties included), "
    "then the others by laps "
    "and progress. Writes DIR/race.json and a replay (DIR/race.mp4 when ffmpeg is on the PATH, "
    "else PNG frames in DIR/replay/).";

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

    td_race_options_default(&o);
    long seed = (long)o.seed;
    int camera = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS_LIST("MODEL", models, &n, TD_RACE_MIN_CARS, TD_RACE_MAX_CARS,
                        "2 to 6 models: directories, .tdm files or builtin:DRIVER[:SPEED]"),
        TD_CLI_STRING(NULL, "--track", &track_arg, "T",
                      "track (default: the first model directory's world)"),
        TD_CLI_OPTS_LAPS(&o.laps, &o.continuous, &o.penalties.off_track_penalty_s,
                         &o.penalties.collision_penalty_s, &o.penalties.max_resets),
        TD_CLI_FLAG("--reverse", &o.reverse, "drive the track the other way"),
        TD_CLI_DOUBLE("--max-time", &o.max_time_s, 1, 86400, "S",
                      "race clock limit (default: laps at 0.5 m/s + 30 s)"),
        TD_CLI_OPT_CHECKPOINT(&checkpoint),
        TD_CLI_STRING("-o", "--out", &outdir, "DIR", "output directory (default race-<track>)"),
        TD_CLI_STRING(NULL, "--replay", &replay, "PATH|none",
                      "replay video or PNG directory (default above)"),
        TD_CLI_INT("--width", &o.replay_width, 320, 3840, "PX", "replay frame width (960)"),
        TD_CLI_INT("--fps", &o.replay_fps, 1, 240, "N", "replay frame rate (15)"),
        TD_CLI_INT("--camera", &camera, 1, TD_RACE_MAX_CARS, "K",
                   "the replay shows car K's camera view (K = 1 for the first MODEL) beside the "
                   "top view"),
        TD_CLI_OPT_SEED(&seed, "random seed"),
        TD_CLI_FLAG("--json", &json, "print race.json instead of the table"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "race", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    o.seed = (uint64_t)seed;
    o.replay_camera_car = camera - 1;
    if (o.replay_camera_car >= n)
        return td__cli_usage_error("--camera %d: the race has %d cars", o.replay_camera_car + 1, n);

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
        if (td_str_ends_with(models[k], ".tdm")) {
            snprintf(path, sizeof(path), "%s", models[k]);
        } else {
            td_model_dir md;
            if (td_model_dir_load(&md, models[k], &err)) {
                td__cli_fail("%s", err.msg);
                goto out;
            }
            snprintf(world[k], sizeof(world[k]), "%s", md.training.world_name);
            if (td_path_fmt(path, sizeof(path), &err, "%s/model/%s.tdm", models[k], checkpoint)) {
                td__cli_fail("%s", err.msg);
                goto out;
            }
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
    if (replay ? td_path_fmt(replay_buf, sizeof(replay_buf), &err, "%s", replay)
               : td_path_join(replay_buf, sizeof(replay_buf), outdir,
                              td_frame_sink_find_ffmpeg(NULL, 0) ? "race.mp4" : "replay", &err)) {
        td__cli_fail("%s", err.msg);
        goto out;
    }
    o.replay_path = strcmp(replay_buf, "none") ? replay_buf : NULL;
    td__cli_status("racing %d cars on %s%s", n, track.name,
                   o.replay_path ? " and rendering the replay" : "");
    int race_rc = td_race_run(&track, racers, n, &o, &res, &err);
    td__cli_status_done();
    if (race_rc) {
        td__cli_fail("%s", err.msg);
        goto out;
    }
    if (td_path_join(json_path, sizeof(json_path), outdir, "race.json", &err) ||
        td_race_write_json(json_path, &track, &o, &res, &err)) {
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
        printf(" (penalties: off-track %.1f s, collision %.1f s)", o.penalties.off_track_penalty_s,
               o.penalties.collision_penalty_s);
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
               c->total_time_s, laps, best, c->events.resets, c->events.penalty_s, status);
    }
    printf("\nrace time %.2f s (%ld steps)\nreport: %s\n", res.race_time_s, res.steps, json_path);
    if (o.replay_path)
        printf("replay: %s (%d frames)\n", o.replay_path, res.replay_frames);
    /* --replay none rewrote race.json beside an earlier race's replay: say it is not this one. */
    for (int i = 0; !o.replay_path && i < 2; i++) {
        char old[1100];
        if (td_path_join(old, sizeof(old), outdir, i ? "replay" : "race.mp4", NULL) == 0 &&
            td_path_exists(old))
            td__cli_status_print("note: %s is the replay of an earlier race (this one was not "
                                 "rendered: --replay none)",
                                 old);
    }
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
