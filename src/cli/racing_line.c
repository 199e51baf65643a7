/*
 * racing_line.c - `trackday tracks racing-line T`: the minimum-time racing line of a track for
 * a car (sim.h, td_racing_line_compute), its lap time (the driven refinement's), the lap the
 * built-in racing-line driver drives on it in the simulator, and the line as a waypoint list
 * (JSON), a reward function with the line in it (Python, DeepRacer's rules) or a picture (PNG).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "trackday/json.h"
#include "trackday/sim.h"

int td__cli_racing_line(int argc, char **argv);

static const char about[] =
    "Computes the minimum-time racing line of a track for a car: the path inside the borders "
    "(the car's footprint stays on the road) and the fastest speed profile the car can drive on "
    "it (grip, steering limit and response, top speed, acceleration), refined by driving it in "
    "the simulator (the line's lap time is the simulated car's; the planner's on paper beside "
    "it). Prints them and the laps the built-in racing-line driver drives on it.";

/* ---- outputs ------------------------------------------------------------------------------- */

static int write_json(const char *path, const td_track *t, int reverse, const td_car_config *car,
                      const td_racing_line *rl, double driven, td_err *err)
{
    json_t *o = json_object(), *pts = json_array();
    json_object_set_new(o, "track", json_string(t->name));
    json_object_set_new(o, "direction", json_string(reverse ? "reverse" : "forward"));
    json_object_set_new(o, "car", td_car_config_to_json(car));
    json_object_set_new(o, "lap_time_s", json_real(rl->lap_time_s));
    json_object_set_new(o, "plan_lap_s", json_real(rl->plan_lap_s));
    json_object_set_new(o, "driven_lap_s", driven > 0 ? json_real(driven) : json_null());
    json_object_set_new(o, "length_m", json_real(rl->length_m));
    json_object_set_new(o, "step_m", json_real(TD_RACING_STEP_M));
    for (int i = 0; i < rl->n; i++) {
        json_t *p = json_array();
        json_array_append_new(p, json_real(round(rl->x[i] * 1e4) / 1e4));
        json_array_append_new(p, json_real(round(rl->y[i] * 1e4) / 1e4));
        json_array_append_new(p, json_real(round(rl->v[i] * 1e3) / 1e3));
        json_array_append_new(pts, p);
    }
    json_object_set_new(o, "points", pts);
    int rc = td_json_write_file(path, o, err);
    json_decref(o);
    return rc;
}

char *td__racing_line_reward(const td_track *t, const td_racing_line *rl, const char *intro,
                             td_err *err)
{
    size_t cap = (size_t)rl->n * 40 + (size_t)t->n * 8 + 4096 + (intro ? strlen(intro) : 0);
    char *buf = td_malloc(cap);
    if (!buf) {
        td_err_set(err, TD_ENOMEM, "out of memory");
        return NULL;
    }
    size_t len = 0;
    int stride = 2, m = (rl->n + stride - 1) / stride;
    double top = 0;
    for (int i = 0; i < rl->n; i++)
        top = rl->v[i] > top ? rl->v[i] : top;
#define PUT(...) len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__)
    if (intro)
        PUT("%s", intro);
    PUT("\"\"\"Racing-line reward for %s, written by trackday (tracks racing-line --reward).\n\n"
        "Pays for driving the minimum-time line at its speed, per metre driven rather than\n"
        "per step (so a slower lap earns no more in total): closeness to the line (1 on it,\n"
        "falling to 0 at a quarter of the track width away), squared, times the commanded\n"
        "speed over the line's top speed, times how near that speed is to the line's\n"
        "there; and at the end of a lap a bonus that grows as the lap nears the line's\n"
        "time. The line, every 10 cm, is in LINE as (x, y, speed); AT[k] is the point of\n"
        "LINE nearest to waypoint k, where the search for the nearest point starts\n"
        "(closest_waypoints).\n"
        "\"\"\"\nimport math\n\nLAP_STEPS = %.1f  # the line's lap (the simulated car's on it), in "
        "1/15 s steps\n"
        "TOP_SPEED = %.3f  # the line's top speed, m/s\n\nLINE = [\n",
        t->name, rl->lap_time_s * 15.0, top);
    for (int i = 0; i < rl->n; i += stride)
        PUT("    (%.4f, %.4f, %.3f),\n", rl->x[i], rl->y[i], rl->v[i]);
    PUT("]\n\nAT = [\n    ");
    for (int k = 0; k < t->n; k++) {
        int best = 0;
        double best_d = INFINITY;
        for (int j = 0; j < m; j++) {
            double dx = rl->x[j * stride] - t->center[2 * k];
            double dy = rl->y[j * stride] - t->center[2 * k + 1];
            if (dx * dx + dy * dy < best_d)
                best = j, best_d = dx * dx + dy * dy;
        }
        PUT("%s%d", k % 16 ? ", " : (k ? ",\n    " : ""), best);
    }
    PUT(",\n]\n\n\n"
        "def _nearest(x, y, wp):\n"
        "    n = len(LINE)\n"
        "    best, best_d = 0, float('inf')\n"
        "    # Between the closest waypoints' points first (and a little around), then all.\n"
        "    spans = [range(n)]\n"
        "    if wp is not None:\n"
        "        a, b = AT[wp[0]], AT[wp[1]]\n"
        "        spans.insert(0, range(a - 10, b + 10 + (n if b < a else 0)))\n"
        "    for span in spans:\n"
        "        for k in span:\n"
        "            i = k %% n\n"
        "            d = (LINE[i][0] - x) ** 2 + (LINE[i][1] - y) ** 2\n"
        "            if d < best_d:\n"
        "                best, best_d = i, d\n"
        "        if best_d < 0.25:\n"
        "            break\n"
        "    return best, math.sqrt(best_d)\n\n\n"
        "def reward_function(params):\n"
        "    if params['is_offtrack'] or not params['all_wheels_on_track']:\n"
        "        return 1e-3\n"
        "    # params x, y are the model point, 0.14 m ahead of the car origin the line is for.\n"
        "    h = math.radians(params['heading'])\n"
        "    x = params['x'] - 0.14 * math.cos(h)\n"
        "    y = params['y'] - 0.14 * math.sin(h)\n"
        "    # (Another track's waypoints, as in DeepRacer's validator tests: search it all.)\n"
        "    wp = params['closest_waypoints']\n"
        "    i, dist = _nearest(x, y, wp if len(params['waypoints']) == len(AT) else None)\n"
        "    near = max(0.0, 1.0 - dist / (0.25 * params['track_width']))\n"
        "    want = LINE[i][2]\n"
        "    speed = params['speed']\n"
        "    match = max(0.0, 1.0 - abs(speed - want) / want)\n"
        "    # speed / TOP_SPEED: the metres of this step, so the lap's sum does not grow with\n"
        "    # its steps, and discounting values a faster lap's reward more.\n"
        "    r = near * near * speed / TOP_SPEED * (0.5 + 0.5 * match)\n"
        "    if params['progress'] >= 100.0:\n"
        "        r += 30.0 * (LAP_STEPS / max(params['steps'], 1)) ** 2\n"
        "    return float(1e-3 + r)\n");
#undef PUT
    if (len >= cap) {
        td_free(buf);
        td_err_set(err, TD_EINTERNAL, "reward file too long");
        return NULL;
    }
    return buf;
}

static int write_reward(const char *path, const td_track *t, const td_racing_line *rl, td_err *err)
{
    char *text = td__racing_line_reward(t, rl, NULL, err);
    if (!text)
        return err->code;
    int rc = td_file_write_atomic(path, text, strlen(text), err);
    td_free(text);
    return rc;
}

static int write_png(const char *path, const td_track *t, const td_racing_line *rl,
                     const td_car_config *car, td_err *err)
{
    uint8_t *px;
    int w = 1200, h;
    double ox, oy, sc;
    int rc = td_track_render_rgb(t, w, &px, &h, &ox, &oy, &sc, err);
    if (rc)
        return rc;
    double vmax = car->speed_max * (car->speed_gain > 0 ? car->speed_gain : 1.0);
    for (int i = 0; i < rl->n; i++) {
        /* Blue (slow) to red (fast). */
        double f = rl->v[i] / vmax;
        f = f < 0 ? 0 : (f > 1 ? 1 : f);
        uint8_t r = (uint8_t)(255 * f), g = (uint8_t)(80 * (1 - fabs(2 * f - 1))),
                b = (uint8_t)(255 * (1 - f));
        int cx = (int)lround((rl->x[i] - ox) * sc), cy = (int)lround((oy - rl->y[i]) * sc);
        for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++) {
                int xx = cx + dx, yy = cy + dy;
                if (xx < 0 || yy < 0 || xx >= w || yy >= h || dx * dx + dy * dy > 5)
                    continue;
                uint8_t *q = px + ((size_t)yy * w + xx) * 3;
                q[0] = r;
                q[1] = g;
                q[2] = b;
            }
    }
    rc = td_png_write(path, px, w, h, 3, err);
    td_free(px);
    return rc;
}

/* ---- command ------------------------------------------------------------------------------- */

int td__cli_racing_line(int argc, char **argv)
{
    const char *arg = NULL, *car_arg = "deepracer", *out = NULL, *reward = NULL, *png = NULL;
    int reverse = 0, json = 0, no_drive = 0, sweeps = 1000, refine = -1;
    const td__cli_opt opts[] = {
        TD_CLI_POS("NAME|PATH", &arg, "a shipped track, a reference route or a .npy/.json file"),
        TD_CLI_STRING(NULL, "--car", &car_arg, "C",
                      "preset (deepracer, deepracer-dynamic, deepracer-v2, deepracer-v1, ideal) "
                      "or car .json (default deepracer)"),
        TD_CLI_FLAG("--reverse", &reverse, "the reverse direction"),
        TD_CLI_FLAG("--no-drive", &no_drive, "skip the simulated laps"),
        TD_CLI_INT("--sweeps", &sweeps, 1, 100000, "N",
                   "coordinate-descent sweeps of the search (default 1000: a few seconds; "
                   "fewer are faster and a little slower on the track)"),
        TD_CLI_INT("--refine", &refine, 0, 100000, "N",
                   "simulated drives of the line's driven refinement (default 400; on a route "
                   "longer than 25 m N x 25 / length; 0: none, the planner's profile on paper "
                   "is the line's)"),
        TD_CLI_STRING("-o", "--output", &out, "FILE.json",
                      "the line: points [x, y, speed], every 5 cm of centreline"),
        TD_CLI_STRING(NULL, "--reward", &reward, "FILE.py",
                      "a DeepRacer reward function paying for driving the line at its speed (the "
                      "line every 10 cm is in the file)"),
        TD_CLI_STRING(NULL, "--png", &png, "FILE.png",
                      "a top view with the line coloured by speed"),
        TD_CLI_FLAG("--json", &json, "print a JSON summary instead of text"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "tracks racing-line", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    int drive = !no_drive;
    td_err err = {0};
    td_car_config car;
    if (td_car_config_resolve(&car, car_arg, &err))
        return td__cli_fail("--car: %s", err.msg);
    char path[4096];
    if (td__cli_track_path(arg, path, sizeof(path)))
        return 1;
    td_track t, tr;
    if (td_track_load(&t, path, &err))
        return td__cli_fail("%s", err.msg);
    if (reverse) {
        if (td_track_reverse(&tr, &t, &err)) {
            td_track_free(&t);
            return td__cli_fail("%s", err.msg);
        }
    }
    const td_track *use = reverse ? &tr : &t;
    td_racing_options ro;
    td_racing_options_default(&ro, &car);
    ro.max_sweeps = sweeps;
    if (refine >= 0)
        ro.refine_evals = refine;
    td_racing_line rl;
    /* The optimisation takes seconds (16 s for reInvent2019_track on a loaded machine): the
     * status line says so while it runs. */
    td__cli_status("computing the racing line of %s", t.name);
    int rc = td_racing_line_compute(&rl, use, &car, &ro, &err);
    td__cli_status_done();
    if (rc) {
        if (reverse)
            td_track_free(&tr);
        td_track_free(&t);
        return td__cli_fail("%s", err.msg);
    }
    /* Laps of continuous evaluation from the start line with the racing-line driver: the
     * first starts at rest, the others are flying laps, whose mean is the driven lap (lap
     * times count whole 1/15 s steps; four laps make the mean fine enough to compare). */
    td_episode_info info;
    memset(&info, 0, sizeof(info));
    double max_err = 0, flying = -1;
    if (drive) {
        td_sim_config cfg;
        td_sim_config_default(&cfg);
        cfg.car = car;
        cfg.mode = TD_MODE_CONTINUOUS;
        cfg.laps = 5;
        cfg.race.reverse_dir = reverse;
        td_driver_config dc;
        td_driver_config_default(&dc, TD_DRIVER_RACING_LINE);
        dc.car = car;
        dc.line = &rl;
        td__cli_status("driving %d laps on the line", cfg.laps);
        rc = td_driver_race(&t, &cfg, &dc, &info, &max_err, &err);
        td__cli_status_done();
        if (rc != 0)
            rc = td__cli_fail("%s", err.msg);
        double sum = 0;
        for (int k = 1; k < info.laps && k < TD_MAX_LAPS; k++)
            sum += info.lap_times_s[k];
        flying = info.laps > 1 ? sum / (info.laps - 1) : -1;
    }
    if (!rc && json) {
        json_t *o = json_object();
        json_object_set_new(o, "track", json_string(t.name));
        json_object_set_new(o, "direction", json_string(reverse ? "reverse" : "forward"));
        json_object_set_new(o, "car", td_car_config_to_json(&car));
        json_object_set_new(o, "track_length_m", json_real(use->length));
        json_object_set_new(o, "line_length_m", json_real(rl.length_m));
        json_object_set_new(o, "points", json_integer(rl.n));
        json_object_set_new(o, "lap_time_s", json_real(rl.lap_time_s));
        json_object_set_new(o, "plan_lap_s", json_real(rl.plan_lap_s));
        json_object_set_new(o, "refine_drives", json_integer(rl.refine_evals));
        json_object_set_new(o, "centerline_lap_s", json_real(rl.centerline_lap_s));
        /* The wheels (td_car_wheels), the footprint all_wheels_on_track judges. */
        json_object_set_new(o, "footprint_clearance_m", json_real(rl.min_margin_m));
        if (drive) {
            json_t *lt = json_array();
            for (int k = 0; k < info.laps && k < TD_MAX_LAPS; k++)
                json_array_append_new(lt, json_real(info.lap_times_s[k]));
            json_object_set_new(o, "driven_lap_times_s", lt);
            json_object_set_new(o, "driven_lap_s", flying > 0 ? json_real(flying) : json_null());
            json_object_set_new(o, "off_tracks", json_integer(info.events.off_tracks));
            json_object_set_new(o, "max_line_error_m", json_real(max_err));
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(8));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else if (!rc) {
        printf("%s (%s, %.2f m): racing line %.2f m, %d points, wheel clearance %.3f m\n", t.name,
               reverse ? "reverse" : "forward", use->length, rl.length_m, rl.n, rl.min_margin_m);
        if (rl.drive_lap_s > 0)
            printf("lap: %.3f s, the simulated car's on the line's driven refinement (%d drives; "
                   "the planner's profile on paper %.3f s, the centreline's at the same car's "
                   "limits %.3f s)\n",
                   rl.lap_time_s, rl.refine_evals, rl.plan_lap_s, rl.centerline_lap_s);
        else
            printf("lap on paper: %.3f s (the centreline at the same car's limits: %.3f s)\n",
                   rl.lap_time_s, rl.centerline_lap_s);
        if (drive) {
            printf("driven by the racing-line driver:");
            for (int k = 0; k < info.laps && k < TD_MAX_LAPS; k++)
                printf(" %.3f s", info.lap_times_s[k]);
            printf(
                " (first from rest); flying laps %.3f s, %+.1f%% from the line's; off-tracks %d; "
                "largest distance from the line %.3f m\n",
                flying, flying > 0 ? 100.0 * (flying / rl.lap_time_s - 1.0) : 0.0,
                info.events.off_tracks, max_err);
        }
    }
    if (!rc && out && (rc = write_json(out, use, reverse, &car, &rl, flying, &err)) != 0)
        rc = td__cli_fail("%s", err.msg);
    if (!rc && reward && (rc = write_reward(reward, use, &rl, &err)) != 0)
        rc = td__cli_fail("%s", err.msg);
    if (!rc && png && (rc = write_png(png, use, &rl, &car, &err)) != 0)
        rc = td__cli_fail("%s", err.msg);
    if (!rc && !json) {
        if (out)
            printf("wrote %s\n", out);
        if (reward)
            printf("wrote %s\n", reward);
        if (png)
            printf("wrote %s\n", png);
    }
    if (!rc && drive && info.status != TD_EP_LAP_COMPLETE)
        rc = td__cli_fail("the racing-line driver did not finish its laps (%s)",
                          td_episode_status_name(info.status));
    td_racing_line_free(&rl);
    if (reverse)
        td_track_free(&tr);
    td_track_free(&t);
    return rc;
}
