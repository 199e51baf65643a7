/*
 * probe.c - `trackday probe`: reads car poses (origin x, y, heading in degrees) from stdin,
 * one per line, and prints the reward-function params the simulator computes there, one
 * JSON object per line. Progress follows DeepRacer's rules from one line to the next, as if
 * the car had driven through the poses from the start line. For checking a reward function
 * or comparing with DeepRacer by hand.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/reward.h"
#include "trackday/sim.h"

static const char about[] =
    "Reads lines 'x y heading_deg' (the car ORIGIN, the middle of the wheelbase; optionally "
    "followed by 'speed steering_deg', the commanded action) from stdin and prints one JSON "
    "object of params per line. Progress follows DeepRacer's rules from one line to the next, "
    "as if the car had driven through the poses from the start line. Blank lines and lines "
    "starting with '#' are skipped.\n"
    "\n"
    "  echo '0 0 0' | trackday probe --track oval";

static int parse_race_type(const char *opt, const char *v, void *dst)
{
    if (td_race_type_parse(v, dst))
        return td__cli_usage_error("%s: '%s' is not time-trial, object-avoidance or head-to-bot",
                                   opt, v);
    return 0;
}

static int cmd_probe(int argc, char **argv)
{
    const char *track_arg = NULL;
    int reverse = 0, waypoints = 0;
    int obstacles = -1, bots = -1;
    td_race_type race = TD_RACE_TIME_TRIAL;
    const td__cli_opt opts[] = {
        TD_CLI_REQUIRED_STRING(NULL, "--track", &track_arg, "T", "track name or .npy/.json path"),
        TD_CLI_FLAG("--reverse", &reverse, "the reverse driving direction"),
        TD_CLI_FLAG("--waypoints", &waypoints, "include the (long) waypoints list"),
        TD_CLI_CUSTOM("--race-type", &race, parse_race_type, "R",
                      "time-trial (default), object-avoidance or head-to-bot"),
        TD_CLI_INT("--obstacles", &obstacles, 0, TD_MAX_OBSTACLES, "N",
                   "obstacles for object-avoidance, evenly spaced (default 3)"),
        TD_CLI_INT("--bots", &bots, 0, TD_MAX_BOTS, "N",
                   "bots for head-to-bot (default 3; they do not move)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "probe", .about = about, .opts = opts, .usage = "--track T [options] < poses.txt"};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (race == TD_RACE_TIME_TRIAL && obstacles > 0)
        race = TD_RACE_OBJECT_AVOIDANCE;
    if (race == TD_RACE_TIME_TRIAL && bots > 0)
        race = TD_RACE_HEAD_TO_BOT;

    char path[4096];
    if (td__cli_track_path(track_arg, path, sizeof(path)))
        return 1;
    td_err err = {0};
    td_track track;
    if (td_track_load(&track, path, &err))
        return td__cli_fail("%s", err.msg);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_EVAL;
    td_race_config_set_type(&cfg.race, race);
    cfg.race.reverse_dir = reverse;
    if (obstacles >= 0)
        cfg.race.number_of_obstacles = (int)obstacles;
    if (bots >= 0)
        cfg.race.number_of_bot_cars = (int)bots;
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

    int rc = 0, lineno = 0;
    char line[1024];
    while (fgets(line, sizeof(line), stdin)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\n' || *p == '\0' || *p == '#')
            continue;
        double v[5] = {0, 0, 0, 0, 0};
        int nv = 0;
        char *end;
        while (nv < 5) {
            double x = strtod(p, &end);
            if (end == p)
                break;
            v[nv++] = x;
            p = end;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (nv < 3 || *p) {
            rc = td__cli_fail("stdin line %d: expected 'x y heading_deg [speed steering_deg]'",
                              lineno);
            break;
        }
        /* A NaN or an infinity parses as a number but would reach the params dict as null. */
        static const char *const names[5] = {"x", "y", "heading_deg", "speed", "steering_deg"};
        int bad = -1;
        for (int k = 0; k < nv && bad < 0; k++)
            if (!isfinite(v[k]))
                bad = k;
        if (bad >= 0) {
            rc = td__cli_fail("stdin line %d: %s is %g, not finite", lineno, names[bad], v[bad]);
            break;
        }
        /* Far beyond any track (1e9 m), distances lose every digit and come out as null. */
        if (fabs(v[0]) > 1e9 || fabs(v[1]) > 1e9) {
            rc = td__cli_fail("stdin line %d: %s is %g m, outside [-1e9, 1e9]", lineno,
                              fabs(v[0]) > 1e9 ? "x" : "y", fabs(v[0]) > 1e9 ? v[0] : v[1]);
            break;
        }
        td_vecenv_teleport(&env, 0, v[0], v[1], v[2] * (M_PI / 180.0), 0.0);
        if (nv >= 4)
            params->speed = v[3];
        if (nv >= 5)
            params->steering_angle = v[4];
        char *text = NULL;
        if (td_params_to_json(params, &text, &err)) {
            rc = td__cli_fail("%s", err.msg);
            break;
        }
        json_t *o = json_loads(text, 0, NULL);
        td_free(text);
        if (!o) {
            rc = td__cli_fail("probe: internal JSON error");
            break;
        }
        if (!waypoints)
            json_object_del(o, "waypoints");
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
        json_decref(o);
        if (s)
            printf("%s\n", s);
        free(s);
    }
    td_vecenv_buffers_free(&b);
    td_vecenv_free(&env);
    td_track_free(&track);
    return rc;
}

TD_CLI_COMMAND("probe", "print the reward params at car poses read from stdin", cmd_probe)
