/*
 * drive.c - `trackday drive`: the built-in driver (no learning) races a track in continuous
 * evaluation from the start line and prints lap times, off-tracks, crashes and penalties.
 * It proves the simulator end to end and gives reference lap times for a track. With
 * --actions it replays logged actions open loop instead and prints the car's pose after each
 * (how the physics is checked against a log, and what `trackday calibrate` is built on).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/json.h"
#include "trackday/sim.h"

static const char about[] =
    "Drives the built-in driver in continuous evaluation from the start line and prints lap "
    "times, off-tracks, crashes and penalties: the simulator end to end, and reference lap "
    "times for a track.\n\n"
    "With --actions, replays the actions of a CSV open loop instead (no driver, no episode "
    "rules) and prints the car's pose after each as a JSON line.";

static int parse_driver(const char *opt, const char *v, void *dst)
{
    if (td_driver_kind_parse(v, dst))
        return td__cli_usage_error("%s: '%s' is not pure-pursuit, centerline, zigzag or "
                                   "racing-line",
                                   opt, v);
    return 0;
}

static int parse_race_type(const char *opt, const char *v, void *dst)
{
    if (td_race_type_parse(v, dst))
        return td__cli_usage_error("%s: '%s' is not time-trial, object-avoidance or head-to-bot",
                                   opt, v);
    return 0;
}

/* Parses --start "x y yaw_deg speed". */
static int parse_start(const char *opt, const char *v, void *dst)
{
    double *out = dst;
    const char *p = v;
    for (int k = 0; k < 4; k++) {
        char *end;
        out[k] = strtod(p, &end);
        if (end == p || !isfinite(out[k]))
            return td__cli_usage_error("%s: '%s' is not four numbers \"x y yaw_deg speed\"", opt,
                                       v);
        p = end;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p || out[3] < 0 || out[3] > 100)
        return td__cli_usage_error("%s: '%s' is not four numbers \"x y yaw_deg speed\" with a "
                                   "speed in 0..100 m/s",
                                   opt, v);
    return 0;
}

/*
 * --actions: the open-loop replay. The car starts at `start` (or the track's start pose at
 * rest), the first n_hist actions set its response, and each further action prints the
 * pose after it.
 */
static int replay_actions(const td_car_config *car, const char *track_arg, int reverse,
                          const double *start, const char *actions_path, long n_hist)
{
    td_err err = {0};
    char *text = NULL;
    size_t len = 0;
    td_car_action *acts = NULL;
    int n = 0;
    if (td_file_read(actions_path, &text, &len, &err))
        return td__cli_fail("%s", err.msg);
    int rc = td_car_actions_parse(text, len, actions_path, &acts, &n, &err);
    td_free(text);
    if (rc)
        return td__cli_fail("%s", err.msg);
    if (n_hist > n) {
        td_free(acts);
        return td__cli_fail("--history %ld: the actions file has only %d rows", n_hist, n);
    }
    td_car_state st;
    if (start) {
        td_car_place(&st, start[0], start[1], start[2] * (M_PI / 180.0));
        td_car_set_speed(car, &st, start[3]);
    } else {
        /* The start pose of an evaluation episode: the env's own placement. */
        char path[4096];
        td_track track;
        if (td__cli_track_path(track_arg, path, sizeof(path))) {
            td_free(acts);
            return 1;
        }
        if (td_track_load(&track, path, &err)) {
            td_free(acts);
            return td__cli_fail("%s", err.msg);
        }
        td_sim_config cfg;
        td_sim_config_default(&cfg);
        cfg.car = *car;
        cfg.mode = TD_MODE_EVAL;
        cfg.race.reverse_dir = reverse;
        td_vecenv env;
        td_vecenv_buffers b;
        rc = td_vecenv_init(&env, &cfg, &track, 1, &err);
        if (!rc && (rc = td_vecenv_buffers_init(&b, &env, &err)) != 0)
            td_vecenv_free(&env);
        if (rc) {
            td_track_free(&track);
            td_free(acts);
            return td__cli_fail("%s", err.msg);
        }
        td_vecenv_reset(&env);
        st = *td_vecenv_car(&env, 0);
        td_vecenv_buffers_free(&b);
        td_vecenv_free(&env);
        td_track_free(&track);
    }
    double t = 0;
    for (int i = 0; i < n; i++) {
        if (i < n_hist) {
            td_car_respond(car, &st, acts[i].steer_deg, acts[i].speed, acts[i].dt);
            continue;
        }
        td_car_step(car, &st, acts[i].steer_deg, acts[i].speed, acts[i].dt);
        t += acts[i].dt;
        printf("{\"step\":%ld,\"t\":%.6f,\"x\":%.9g,\"y\":%.9g,\"yaw\":%.9g,\"speed\":%.9g,"
               "\"steer\":%.9g}\n",
               i - n_hist + 1, t, st.x, st.y, st.yaw * (180.0 / M_PI), st.speed,
               st.steer * (180.0 / M_PI));
    }
    td_free(acts);
    return 0;
}

static int cmd_drive(int argc, char **argv)
{
    const char *track_arg = NULL;
    int laps = 3, obstacles = -1, bots = -1, max_resets = 100;
    double bot_speed = -1, grip = 3.0, car_grip = -1.0, start[4];
    int history = 0, start_given = 0;
    const char *car_arg = NULL, *actions = NULL;
    long seed = 1;
    int reverse = 0, json = 0, lane_change = 0, randomize = 0;
    td_driver_kind kind = TD_DRIVER_PURE_PURSUIT;
    td_race_type race = TD_RACE_TIME_TRIAL;
    const td__cli_opt opts[] = {
        TD_CLI_STRING(NULL, "--track", &track_arg, "T", "track name or .npy/.json path (required)"),
        TD_CLI_INT("--laps", &laps, 1, TD_MAX_LAPS, "N", "laps to drive (default 3)"),
        TD_CLI_CUSTOM("--driver", &kind, parse_driver, "D",
                      "pure-pursuit (default), centerline, zigzag or racing-line (the car's "
                      "minimum-time line at its speed profile)"),
        TD_CLI_CUSTOM("--race-type", &race, parse_race_type, "R",
                      "time-trial (default), object-avoidance or head-to-bot"),
        TD_CLI_FLAG("--reverse", &reverse, "drive the track in the reverse direction"),
        TD_CLI_INT("--obstacles", &obstacles, 0, TD_MAX_OBSTACLES, "N",
                   "obstacles for object-avoidance (default 3)"),
        TD_CLI_FLAG("--randomize", &randomize, "random obstacle positions (from --seed)"),
        TD_CLI_INT("--bots", &bots, 0, TD_MAX_BOTS, "N", "bot cars for head-to-bot (default 3)"),
        TD_CLI_DOUBLE("--bot-speed", &bot_speed, 0, 4, "V", "bot speed in m/s (default 0.2)"),
        TD_CLI_FLAG("--lane-change", &lane_change, "bots change lanes every 3-5 s"),
        TD_CLI_DOUBLE("--grip", &grip, 0.5, 20, "A",
                      "the driver's lateral acceleration limit, m/s^2 (default 3)"),
        TD_CLI_DOUBLE("--car-grip", &car_grip, 0.5, 100, "A",
                      "the car's grip, m/s^2: faster turns run wide (default: the car's)"),
        TD_CLI_INT("--max-resets", &max_resets, 0, 1000000, "N",
                   "end the race at the next event after N resets (default 100; 0 = "
                   "unlimited)"),
        TD_CLI_OPT_SEED(&seed, "random seed (default 1)"),
        TD_CLI_FLAG("--json", &json, "one JSON object instead of text"),
        TD_CLI_STRING(NULL, "--car", &car_arg, "C",
                      "the car: a preset (deepracer, deepracer-dynamic, deepracer-v2, "
                      "deepracer-v1, ideal) or a car .json file (default deepracer: DeepRacer's "
                      "current physics)"),
        TD_CLI_SECTION("open-loop replay"),
        TD_CLI_STRING(NULL, "--actions", &actions, "FILE",
                      "CSV with columns steer (degrees) and throttle (m/s), one row per step; a "
                      "tstamp column gives each row's duration (time since the previous row); a "
                      "DeepRacer simtrace works"),
        {.name = "--start",
         .kind = TD__CLI_CUSTOM,
         .dst = start,
         .parse = parse_start,
         .arg = "\"x y yaw_deg speed\"",
         .help = "the car ORIGIN's start pose (default: the track's start line, at rest)",
         .given = &start_given},
        TD_CLI_INT("--history", &history, 0, TD_CAR_MAX_ACTIONS, "N",
                   "the first N rows are the actions taken before the start pose: they set the "
                   "car's response (delays, lags) without moving it; no output for them"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "drive",
        .about = about,
        .opts = opts,
        .usage =
            "--track T [options]\n"
            "       trackday drive --actions FILE [--track T] [--start \"x y yaw_deg speed\"]\n"
            "                      [--history N] [--car C]"};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    td_err err = {0};
    td_car_config car;
    td_car_config_default(&car);
    if (car_arg && td_car_config_resolve(&car, car_arg, &err))
        return td__cli_fail("--car: %s", err.msg);
    if (car_grip >= 0)
        car.grip_mps2 = car_grip;
    if (actions) {
        if (!track_arg && !start_given)
            return td__cli_usage_error("drive --actions: give --start \"x y yaw_deg speed\" or "
                                       "--track (whose start line is then the start)");
        return replay_actions(&car, track_arg, reverse, start_given ? start : NULL, actions,
                              history);
    }
    if (start_given || history > 0)
        return td__cli_usage_error("--start and --history go with --actions");
    if (!track_arg)
        return td__cli_usage_error("--track is required");
    /* --obstacles or --bots alone choose their race type. */
    if (race == TD_RACE_TIME_TRIAL && obstacles > 0 && bots < 0)
        race = TD_RACE_OBJECT_AVOIDANCE;
    if (race == TD_RACE_TIME_TRIAL && bots > 0 && obstacles < 0)
        race = TD_RACE_HEAD_TO_BOT;

    char path[4096];
    if (td__cli_track_path(track_arg, path, sizeof(path)))
        return 1;
    td_track track;
    if (td_track_load(&track, path, &err))
        return td__cli_fail("%s", err.msg);

    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.laps = (int)laps;
    cfg.seed = (uint64_t)seed;
    cfg.car = car;
    cfg.penalties.max_resets = (int)max_resets;
    td_race_config_set_type(&cfg.race, race);
    cfg.race.reverse_dir = reverse;
    cfg.race.is_lane_change = lane_change;
    cfg.race.randomize_obstacle_locations = randomize;
    if (obstacles >= 0)
        cfg.race.number_of_obstacles = (int)obstacles;
    if (bots >= 0)
        cfg.race.number_of_bot_cars = (int)bots;
    if (bot_speed >= 0)
        cfg.race.bot_car_speed = bot_speed;

    td_vecenv env;
    if (td_vecenv_init(&env, &cfg, &track, 1, &err)) {
        td_track_free(&track);
        return td__cli_fail("%s", err.msg);
    }
    td_vecenv_buffers b;
    if (td_vecenv_buffers_init(&b, &env, &err)) {
        td_vecenv_buffers_free(&b);
        td_vecenv_free(&env);
        td_track_free(&track);
        return td__cli_fail("%s", err.msg);
    }
    td_params *params = &b.params[0];
    td_vecenv_reset(&env);

    td_driver drv;
    td_driver_config dc;
    td_driver_config_default(&dc, kind);
    dc.lat_accel_mps2 = grip;
    dc.car = cfg.car;
    int rc = 0;
    if (td_driver_init(&drv, &dc, td_vecenv_track(&env, 0), &err)) {
        rc = td__cli_fail("%s", err.msg);
        goto out;
    }
    /* A race that cannot finish (a driver stuck forever) stops at 100,000 steps. */
    while (!b.dones[0]) {
        double st, sp;
        td_driver_act(&drv, &cfg.car, td_vecenv_car(&env, 0), params, &st, &sp);
        b.actions[0] = (float)st;
        b.actions[1] = (float)sp;
        td_vecenv_step(&env);
    }
    const td_episode_info *e = td_vecenv_last_episode(&env, 0);
    double best = INFINITY;
    int nl = e->laps < TD_MAX_LAPS ? e->laps : TD_MAX_LAPS;
    for (int k = 0; k < nl; k++)
        best = e->lap_times_s[k] < best ? e->lap_times_s[k] : best;
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "track", json_string(track.name));
        json_object_set_new(o, "direction", json_string(reverse ? "reverse" : "forward"));
        json_object_set_new(o, "track_length_m", json_real(track.length));
        json_object_set_new(o, "driver", json_string(td_driver_kind_name(kind)));
        json_object_set_new(o, "race_type", json_string(td_race_type_name(race)));
        json_object_set_new(o, "status", json_string(td_episode_status_name(e->status)));
        json_object_set_new(o, "laps", json_integer(e->laps));
        json_t *lt = json_array();
        for (int k = 0; k < nl; k++)
            json_array_append_new(lt, json_real(e->lap_times_s[k]));
        json_object_set_new(o, "lap_times_s", lt);
        json_object_set_new(o, "best_lap_s", nl ? json_real(best) : json_null());
        json_object_set_new(o, "total_time_s", json_real(e->sim_time_s));
        json_object_set_new(o, "steps", json_integer(e->steps));
        td__events_to_json(o, &e->events, 1);
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("%s (%s, %.2f m), driver %s, %s\n", track.name, reverse ? "reverse" : "forward",
               track.length, td_driver_kind_name(kind), td_race_type_name(race));
        for (int k = 0; k < nl; k++)
            printf("lap %d: %.3f s\n", k + 1, e->lap_times_s[k]);
        printf("%s after %d laps in %.3f s (%d steps): off-tracks %d, crashes %d, reversed %d, "
               "immobilized %d, resets %d, penalties %.1f s\n",
               td_episode_status_name(e->status), e->laps, e->sim_time_s, e->steps,
               e->events.off_tracks, e->events.crashes, e->events.reverses, e->events.immobilized,
               e->events.resets, e->events.penalty_s);
    }
    if (e->status != TD_EP_LAP_COMPLETE)
        rc = 1;
    td_driver_free(&drv);
out:
    td_vecenv_buffers_free(&b);
    td_vecenv_free(&env);
    td_track_free(&track);
    return rc;
}

TD_CLI_COMMAND("drive", "drive a track with the built-in driver (lap times, no learning)",
               cmd_drive)
