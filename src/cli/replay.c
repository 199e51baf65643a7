/*
 * replay.c - `trackday replay DIR|REPORT.json|SIMTRACE.csv -o out.mp4|out_dir/`: renders an
 * evaluation run (its simtrace) as video frames: camera view beside a top view with the car,
 * its trail, lap, lap time and speed. MP4 through ffmpeg when it is on the PATH, else PNGs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/printlog.h"
#include "cli/status.h"
#include "trackday/json.h"
#include "trackday/replay.h"

static const char about[] =
    "Renders an evaluation run as frames, one per step: the car's camera view beside a top "
    "view of the track with the car, its trail, the lap, lap time and speed. DIR is a model "
    "directory (its logs/eval-<track>-simtrace.csv, written by 'trackday eval'), REPORT.json an "
    "eval report beside its simtrace, or a simtrace CSV (trackday's or DeepRacer's). A video "
    "path (.mp4, .mkv, .webm, .mov) is encoded by piping frames to ffmpeg (must be on the "
    "PATH); any other path is a directory that receives frame_00001.png, frame_00002.png, ...\n"
    "\n"
    "With --redrive, drives the model of DIR (or MODEL.tdm) again as 'trackday eval' would and "
    "renders every step, obstacles and bots included.";

static int parse_race_type(const char *opt, const char *v, void *dst)
{
    if (td_race_type_parse(v, dst))
        return td__cli_usage_error("%s: '%s' must be time-trial, object-avoidance or head-to-bot",
                                   opt, v);
    return 0;
}

/* --episodes N or A-B, into long[2]. */
static int parse_episodes(const char *opt, const char *v, void *dst)
{
    long *ep = dst;
    char *end;
    ep[0] = strtol(v, &end, 10);
    ep[1] = ep[0];
    if (end != v && *end == '-')
        ep[1] = strtol(end + 1, &end, 10);
    if (end == v || *end || ep[0] < 0 || ep[1] < ep[0])
        return td__cli_usage_error("%s: '%s' must be N or A-B (0 <= A <= B)", opt, v);
    return 0;
}

/* The track name of "…/eval-<name>-simtrace.csv", or 0. */
static int name_from_simtrace(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base), pre = strlen("eval-"), suf = strlen("-simtrace.csv");
    if (n <= pre + suf || strncmp(base, "eval-", pre) || !td_str_ends_with(base, "-simtrace.csv"))
        return 0;
    snprintf(out, outlen, "%.*s", (int)(n - pre - suf), base + pre);
    return 1;
}

static int is_eval_simtrace(const char *name, void *user)
{
    char track[256];
    (void)user;
    return name_from_simtrace(name, track, sizeof(track));
}

/* The one eval simtrace of a model directory (or the one of --track). */
static int find_dir_simtrace(const char *dir, const char *track, char *out, size_t outlen)
{
    char logs[1100];
    td_err perr;
    if (td_path_join(logs, sizeof(logs), dir, "logs", &perr))
        return td__cli_fail("%s", perr.msg);
    if (track && !strchr(track, '/')) {
        if (td_path_fmt(out, outlen, &perr, "%s/eval-%s-simtrace.csv", logs, track))
            return td__cli_fail("%s", perr.msg);
        if (td_path_exists(out))
            return 0;
        return td__cli_fail("%s: no evaluation simtrace for track '%s' (run 'trackday eval %s "
                            "--track %s' first)",
                            out, track, dir, track);
    }
    char **files = NULL;
    int found = 0;
    char names[1024] = "";
    if (td_dir_list(logs, TD_DIR_FILES, is_eval_simtrace, NULL, &files, &found, NULL) == 0) {
        for (int i = 0; i < found; i++) {
            char name[256];
            name_from_simtrace(files[i], name, sizeof(name));
            size_t l = strlen(names);
            snprintf(names + l, sizeof(names) - l, "%s%s", i ? ", " : "", name);
        }
        if (found && td_path_join(out, outlen, logs, files[0], &perr)) {
            td_dir_list_free(files, found);
            return td__cli_fail("%s", perr.msg);
        }
        td_dir_list_free(files, found);
    }
    if (found == 1)
        return 0;
    if (!found)
        return td__cli_fail("%s: no evaluation simtrace (eval-<track>-simtrace.csv); run "
                            "'trackday eval %s' first",
                            logs, dir);
    return td__cli_fail("%s: evaluations on several tracks (%s); choose one with --track", logs,
                        names);
}

/* Ctrl-C (or SIGTERM) while rendering: the library stops before the next frame and removes
 * the partial output (td_replay_options.stop). */
static volatile sig_atomic_t replay_stop;

static void on_stop(int sig)
{
    (void)sig;
    replay_stop = 1;
}

static void catch_stop(td_replay_options *o)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    /* A SIGINT ignored on entry (a background job of a script) stays ignored. */
    if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
        sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o->stop = &replay_stop;
}

/* The exit status and message of a render that failed (rc from td_replay_*). */
static int render_failed(const char *out, const td_err *err)
{
    if (replay_stop) {
        /* ffmpeg, in the same process group, may have stopped first: the cause is the same. */
        td__cli_status_print("trackday: %s: interrupted; nothing was written", out);
        return 130;
    }
    return td__cli_fail("%s", err->msg);
}

/* --redrive: drive the model again (as `trackday eval` would) and render every step. */
static int redrive(const char *target, const char *track_arg, const char *checkpoint,
                   const char *out, int race_set, td_eval_options *eo, const td_replay_options *o)
{
    char model_path[1200], track_path[1200], outbuf[1300], world[128] = "";
    td_model_dir md;
    int have_md = 0, rc;
    td_policy policy;
    td_track track;
    td_replay_stats st;
    td_err err;
    if (td_str_ends_with(target, ".tdm")) {
        if (td_path_fmt(model_path, sizeof(model_path), &err, "%s", target))
            return td__cli_fail("%s", err.msg);
    } else {
        if (td_model_dir_load(&md, target, &err))
            return td__cli_fail("%s", err.msg);
        have_md = 1;
        if (td_path_fmt(model_path, sizeof(model_path), &err, "%s/model/%s.tdm", target,
                        checkpoint))
            return td__cli_fail("%s", err.msg);
        if (!td_path_exists(model_path))
            return td__cli_fail("%s: no trained model yet (run 'trackday train %s' first)",
                                model_path, target);
        /* The evaluation's settings (evaluation_params.yaml, else the training's). */
        const td_training_params *ep = td_model_dir_eval_params(&md);
        if (!race_set) {
            /* The directory's world: race type, obstacles, bots. */
            int rev = eo->race.reverse_dir;
            eo->race = ep->race;
            eo->race.reverse_dir = rev || ep->race.reverse_dir;
        }
        /* Its evaluation settings too (--laps given here still counts). */
        int laps = eo->laps;
        td_eval_options_set_config(eo, &ep->eval);
        eo->laps = laps;
        if (!track_arg && ep->world_name[0])
            snprintf(world, sizeof(world), "%s", ep->world_name);
    }
    if (!track_arg)
        track_arg = world[0] ? world : "default";
    if (td__cli_track_path_for(track_arg, have_md ? target : NULL, track_path, sizeof(track_path)))
        return 1;
    if (td_track_load(&track, track_path, &err))
        return td__cli_fail("%s", err.msg);
    if (!out) {
        int ff = td_frame_sink_find_ffmpeg(NULL, 0);
        if (have_md ? td_path_fmt(outbuf, sizeof(outbuf), &err, "%s/logs/replay-%s%s", target,
                                  track.name, ff ? ".mp4" : "")
                    : td_path_fmt(outbuf, sizeof(outbuf), &err, "replay-%s%s", track.name,
                                  ff ? ".mp4" : ""))
            return td__cli_fail("%s", err.msg);
        out = outbuf;
    }
    if ((rc = td_policy_load(&policy, model_path, 1, &err)) != 0) {
        td_track_free(&track);
        return td__cli_fail("%s", err.msg);
    }
    td_reward *reward = NULL;
    char reward_label[4300];
    /* What the reward function prints goes to DIR/logs/reward-print-replay.log, as in eval. */
    td__print_log *plog =
        have_md ? td__print_log_in(target, "reward-print-replay.log", 0, 10) : NULL;
    if (td__cli_model_reward(have_md ? target : NULL, &track, &reward, reward_label,
                             sizeof(reward_label))) {
        td__print_log_stop(plog);
        td_policy_free(&policy);
        td_track_free(&track);
        return 1;
    }
    eo->reward = reward;
    td__cli_status("driving %s again and rendering %s", model_path, out);
    rc = td_replay_drive(&policy, &track, eo, o, out, &st, &err);
    td__cli_status_done();
    td_reward_close(reward);
    td__print_log_stop(plog);
    td_policy_free(&policy);
    td_track_free(&track);
    if (rc)
        return render_failed(out, &err);
    printf("%s: %d frames of %dx%d driving %s (%s)\n", out, st.frames, st.width, st.height,
           model_path, td_race_type_name(eo->race.race_type));
    printf("rendered in %.2f s (%.0f frames/s drawing, %.0f frames/s with driving and "
           "encoding)\n",
           st.total_s, st.render_s > 0 ? st.frames / st.render_s : 0.0,
           st.total_s > 0 ? st.frames / st.total_s : 0.0);
    return 0;
}

static int cmd_replay(int argc, char **argv)
{
    const char *target = NULL, *out = NULL, *track_arg = NULL;
    char simtrace[1200], track_name[256] = "", track_path[1200], outbuf[1300];
    td_replay_options o;
    td_replay_stats st;
    td_simtrace t;
    td_track track;
    td_err err;
    long ep_lo = -1, ep_hi = -1;
    int rc, is_dir = 0, reverse = 0, redrive_flag = 0, race_set = 0;
    const char *checkpoint = "best";
    td_eval_options eo;

    td_replay_options_default(&o);
    td_eval_options_default(&eo);
    long seed = (long)eo.seed, episodes[2] = {-1, -1};
    int no_camera = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR|REPORT.json|SIMTRACE.csv|MODEL.tdm", &target,
                   "the run to render (a model directory or a .tdm with --redrive)"),
        TD_CLI_STRING("-o", "--out", &out, "PATH",
                      "output (default: DIR/logs/replay-<track>.mp4 when ffmpeg is installed, "
                      "else the directory DIR/logs/replay-<track>/)"),
        TD_CLI_STRING(NULL, "--track", &track_arg, "T",
                      "track (default: from the report or the simtrace's file name)"),
        TD_CLI_INT("--fps", &o.fps, 1, 240, "N",
                   "frames per second of the video (default 15: real time)"),
        TD_CLI_INT("--width", &o.width, 320, 3840, "PX", "frame width (default 960)"),
        TD_CLI_CUSTOM("--episodes", episodes, parse_episodes, "A[-B]",
                      "only these episodes (simtrace episode numbers; trackday's evaluation "
                      "logs have one per lap)"),
        TD_CLI_FLAG("--reverse", &reverse,
                    "the run drove the track the other way (default: as the eval report beside "
                    "the simtrace says)"),
        TD_CLI_FLAG("--no-camera", &no_camera, "top view only"),
        TD_CLI_STRING(NULL, "--title", &o.title, "TEXT", "first text line (default: the track)"),
        TD_CLI_SECTION("--redrive"),
        TD_CLI_FLAG("--redrive", &redrive_flag,
                    "drive the model of DIR (or MODEL.tdm) again as 'trackday eval' would"),
        TD_CLI_OPTS_LAPS(&eo.laps, &eo.continuous, &eo.penalties.off_track_penalty_s,
                         &eo.penalties.collision_penalty_s, &eo.penalties.max_resets),
        {.name = "--race-type",
         .kind = TD__CLI_CUSTOM,
         .dst = &eo.race.race_type,
         .parse = parse_race_type,
         .arg = "R",
         .given = &race_set,
         .help = "time-trial, object-avoidance or head-to-bot (default: the directory's "
                 "RACE_TYPE)"},
        TD_CLI_OPT_CHECKPOINT(&checkpoint),
        TD_CLI_OPT_SEED(&seed, "random seed (obstacle placement, bots)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "replay", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    catch_stop(&o);
    eo.seed = (uint64_t)seed;
    ep_lo = episodes[0];
    ep_hi = episodes[1];
    if (no_camera)
        o.camera = 0;
    if (redrive_flag) {
        eo.race.reverse_dir = reverse;
        if (race_set)
            td_race_config_set_type(&eo.race, eo.race.race_type);
        return redrive(target, track_arg, checkpoint, out, race_set, &eo, &o);
    }
    if (td_str_ends_with(target, ".json")) {
        json_t *root = NULL;
        if (td_json_load_file(target, &root, &err))
            return td__cli_fail("%s", err.msg);
        const char *tn = json_string_value(json_object_get(root, "track"));
        if (tn)
            snprintf(track_name, sizeof(track_name), "%s", tn);
        json_decref(root);
        if (td_path_fmt(simtrace, sizeof(simtrace), &err, "%.*s-simtrace.csv",
                        (int)(strlen(target) - 5), target))
            return td__cli_fail("%s", err.msg);
        if (!td_path_exists(simtrace))
            return td__cli_fail("%s: the report's simtrace is missing (expected beside it)",
                                simtrace);
    } else if (td_str_ends_with(target, ".csv")) {
        if (td_path_fmt(simtrace, sizeof(simtrace), &err, "%s", target))
            return td__cli_fail("%s", err.msg);
        name_from_simtrace(target, track_name, sizeof(track_name));
    } else {
        if (find_dir_simtrace(target, track_arg, simtrace, sizeof(simtrace)))
            return 1;
        name_from_simtrace(simtrace, track_name, sizeof(track_name));
        is_dir = 1;
    }
    if (track_arg)
        snprintf(track_name, sizeof(track_name), "%s", track_arg);
    if (!track_name[0])
        return td__cli_fail("%s: cannot tell the track from the file name; give --track", simtrace);
    if (td__cli_track_path(track_name, track_path, sizeof(track_path)))
        return 1;
    if (!out) {
        int ff = td_frame_sink_find_ffmpeg(NULL, 0);
        if (is_dir ? td_path_fmt(outbuf, sizeof(outbuf), &err, "%s/logs/replay-%s%s", target,
                                 track_name, ff ? ".mp4" : "")
                   : td_path_fmt(outbuf, sizeof(outbuf), &err, "replay-%s%s", track_name,
                                 ff ? ".mp4" : ""))
            return td__cli_fail("%s", err.msg);
        out = outbuf;
    }
    if ((rc = td_track_load(&track, track_path, &err)) != 0)
        return td__cli_fail("%s", err.msg);
    if (!reverse && td_str_ends_with(simtrace, "-simtrace.csv")) {
        /* An eval report beside the simtrace says which way the run went. */
        char report[1300];
        json_t *root = NULL;
        snprintf(report, sizeof(report), "%.*s.json",
                 (int)(strlen(simtrace) - strlen("-simtrace.csv")), simtrace);
        if (td_path_exists(report) && td_json_load_file(report, &root, NULL) == 0) {
            const char *d = json_string_value(json_object_get(root, "direction"));
            reverse = d && !strcmp(d, "reverse");
            json_decref(root);
        }
    }
    if (reverse) {
        td_track fwd = track;
        rc = td_track_reverse(&track, &fwd, &err);
        td_track_free(&fwd);
        if (rc)
            return td__cli_fail("%s", err.msg);
    }
    td_simtrace_init(&t);
    if ((rc = td_simtrace_read(&t, simtrace, &err)) != 0) {
        td_track_free(&track);
        return td__cli_fail("%s", err.msg);
    }
    if (ep_lo >= 0) {
        /* Keep the chosen episodes' rows, in order. */
        int m = 0;
        for (int i = 0; i < t.n; i++)
            if (t.rows[i].episode >= ep_lo && t.rows[i].episode <= ep_hi)
                t.rows[m++] = t.rows[i];
        if (m == 0) {
            td_simtrace_free(&t);
            td_track_free(&track);
            return td__cli_fail("%s: no rows of episodes %ld-%ld", simtrace, ep_lo, ep_hi);
        }
        t.n = m;
    }
    td__cli_status("rendering %ld steps to %s", (long)t.n, out);
    rc = td_replay_simtrace(&track, t.rows, t.n, &o, out, &st, &err);
    td__cli_status_done();
    td_simtrace_free(&t);
    td_track_free(&track);
    if (rc)
        return render_failed(out, &err);
    printf("%s: %d frames of %dx%d from %s\n", out, st.frames, st.width, st.height, simtrace);
    printf("rendered in %.2f s (%.0f frames/s drawing, %.0f frames/s with encoding)\n", st.total_s,
           st.render_s > 0 ? st.frames / st.render_s : 0.0,
           st.total_s > 0 ? st.frames / st.total_s : 0.0);
    return 0;
}

TD_CLI_COMMAND("replay", "render an evaluation run as video frames (MP4 or PNG)", cmd_replay)
