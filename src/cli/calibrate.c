/*
 * calibrate.c - `trackday calibrate LOGS...`: fits the car model to simtrace logs by
 * open-loop replay (calibrate.h) and reports, per log, how far the car's replayed poses land
 * from the logged ones after 1 s and 2 s, before and after the fit. -o writes the fitted car
 * as a car file for --car. docs/cli/calibrate.md.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "trackday/calibrate.h"
#include "trackday/json.h"

static const char about[] =
    "Fits the car model (steering and speed response: gains, delays, time constants; "
    "acceleration and grip limits) to simtrace logs by open-loop replay, and reports for each "
    "log the position error of the replayed car after 1 s and 2 s (median, 90th percentile) and "
    "its heading error, before and after the fit. LOGS are simtrace CSV files or directories "
    "(every *.csv below them: DeepRacer's layouts, a model directory's logs). Rows pair each "
    "action with the pose at which it was chosen, as DeepRacer logs them.";

/* The most LOGS arguments (each a file or a directory of files). */
#define MAX_LOG_ARGS 256

/* ---- collecting files ---------------------------------------------------------------------- */

static int is_csv(const char *name, void *user)
{
    (void)user;
    return strlen(name) > 4 && td_str_ends_with(name, ".csv");
}

/* ---- output ---------------------------------------------------------------------------------- */

static json_t *errors_json(const td_calib_errors *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "windows", json_integer(e->windows));
    static const char *const H[2] = {"1s", "2s"};
    for (int h = 0; h < 2; h++) {
        char k[48];
        snprintf(k, sizeof(k), "pos_median_m_%s", H[h]);
        json_object_set_new(o, k, json_real(e->pos_median_m[h]));
        snprintf(k, sizeof(k), "pos_p90_m_%s", H[h]);
        json_object_set_new(o, k, json_real(e->pos_p90_m[h]));
        snprintf(k, sizeof(k), "yaw_median_deg_%s", H[h]);
        json_object_set_new(o, k, json_real(e->yaw_median_deg[h]));
        snprintf(k, sizeof(k), "yaw_p90_deg_%s", H[h]);
        json_object_set_new(o, k, json_real(e->yaw_p90_deg[h]));
    }
    return o;
}

static void print_errors(const char *label, const td_calib_errors *e)
{
    printf("  %-7s %6.3f %6.3f   %6.3f %6.3f   %5.1f %5.1f   %5.1f %5.1f\n", label,
           e->pos_median_m[0], e->pos_p90_m[0], e->pos_median_m[1], e->pos_p90_m[1],
           e->yaw_median_deg[0], e->yaw_p90_deg[0], e->yaw_median_deg[1], e->yaw_p90_deg[1]);
}

static void print_car(const char *title, const td_car_config *c)
{
    printf("%s: steer_gain %.3f, steer_tau_s %.3f, steer_delay_s %.3f, speed_tau_s %.3f, "
           "speed_delay_s %.3f, speed_gain %.3f, accel_max_mps2 %.3g, grip_mps2 %.3g\n",
           title, c->steer_gain, c->steer_tau_s, c->steer_delay_s, c->speed_tau_s, c->speed_delay_s,
           c->speed_gain, c->accel_max_mps2, c->grip_mps2);
}

/* ---- command ----------------------------------------------------------------------------- */

static int cmd_calibrate(int argc, char **argv)
{
    const char *car_arg = "deepracer", *fit_arg = "all", *out_path = NULL;
    int json = 0, no_fit = 0, history = 15, max_evals = 1500, nlogs = 0;
    const char *logs[MAX_LOG_ARGS];
    td_calib_options o;
    td_calib_options_default(&o);
    const td__cli_opt opts[] = {
        TD_CLI_POS_LIST("LOGS", logs, &nlogs, 1, MAX_LOG_ARGS,
                        "simtrace CSV files or directories of them"),
        TD_CLI_STRING(NULL, "--car", &car_arg, "C",
                      "the car to start from and compare with: a preset (deepracer, "
                      "deepracer-dynamic, deepracer-v2, deepracer-v1, ideal) or a car .json file "
                      "(default deepracer)"),
        TD_CLI_STRING(NULL, "--fit", &fit_arg, "LIST",
                      "parameters to fit, comma-separated (default all: steer_gain, steer_tau_s, "
                      "steer_delay_s, speed_tau_s, speed_delay_s, speed_gain, accel_max_mps2, "
                      "grip_mps2)"),
        TD_CLI_FLAG("--no-fit", &no_fit, "only report the errors of --car"),
        TD_CLI_INT("--history", &history, 0, 150, "N",
                   "logged actions replayed before each start pose to set the car's response "
                   "(default 15)"),
        TD_CLI_FLAG("--fixed-dt", &o.fixed_dt,
                    "every step lasts 1/15 s (default: tstamp differences)"),
        TD_CLI_INT("--max-evals", &max_evals, 1, 1000000, "N",
                   "replays of all windows the search may run (default 1500)"),
        TD_CLI_STRING("-o", "--output", &out_path, "FILE",
                      "write the fitted car (a car .json for --car)"),
        TD_CLI_FLAG("--json", &json, "one JSON object instead of text"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "calibrate", .about = about, .opts = opts, .usage = "LOGS... [options]"};
    int rc = td__cli_parse(&spec, argc, argv);
    if (rc != TD_CLI_RUN)
        return rc;
    rc = 0;
    o.history_steps = (int)history;

    td_err err = {0};
    td_car_config car, fitted;
    unsigned params = 0;
    if (td_car_config_resolve(&car, car_arg, &err) ||
        (!no_fit && td_calib_params_parse(fit_arg, &params, &err))) {
        return td__cli_fail("%s", err.msg);
    }

    /* Each argument is one log (a group); its files are read in order. */
    td_simtrace t;
    td_simtrace_init(&t);
    int *group = NULL, ngroup_files = 0;
    for (int g = 0; g < nlogs && !rc; g++) {
        char **paths = NULL; /* a directory's files (a file argument is read alone) */
        int n = 0;
        struct stat st;
        if (stat(logs[g], &st))
            rc = td__cli_fail("%s: no such file or directory", logs[g]);
        else if (!S_ISDIR(st.st_mode))
            n = 1;
        else if (td_dir_list(logs[g], TD_DIR_FILES | TD_DIR_DEPTH(8), is_csv, NULL, &paths, &n,
                             &err))
            rc = td__cli_fail("%s", err.msg);
        if (!rc && n == 0)
            rc = td__cli_fail("%s: no simtrace (*.csv) below it", logs[g]);
        for (int i = 0; i < n && !rc; i++) {
            if (td_simtrace_read(&t, paths ? paths[i] : logs[g], &err)) {
                rc = td__cli_fail("%s", err.msg);
                break;
            }
            int *ng = td_realloc(group, sizeof(int) * (size_t)t.n_files);
            if (!ng) {
                rc = td__cli_fail("out of memory");
                break;
            }
            group = ng;
            while (ngroup_files < t.n_files)
                group[ngroup_files++] = g;
        }
        td_dir_list_free(paths, paths ? n : 0);
    }
    td_calib_data d;
    memset(&d, 0, sizeof(d));
    if (!rc && td_calib_data_init(&d, &t, group, &o, &err))
        rc = td__cli_fail("%s", err.msg);
    td_calib_fit_result fr = {0};
    fitted = car;
    if (!rc && !no_fit && td_calib_fit(&d, &car, params, (int)max_evals, &fitted, &fr, &err))
        rc = td__cli_fail("%s", err.msg);

    json_t *root = NULL, *jlogs = NULL;
    if (!rc && json) {
        root = json_object();
        jlogs = json_array();
        json_object_set_new(root, "car_before", td_car_config_to_json(&car));
        if (!no_fit) {
            json_object_set_new(root, "car_after", td_car_config_to_json(&fitted));
            json_object_set_new(root, "cost_before", json_real(fr.cost_before));
            json_object_set_new(root, "cost_after", json_real(fr.cost_after));
            json_object_set_new(root, "evaluations", json_integer(fr.evaluations));
        }
        json_object_set_new(root, "history_steps", json_integer(o.history_steps));
        json_object_set_new(root, "fixed_dt", json_boolean(o.fixed_dt));
    } else if (!rc) {
        print_car(no_fit ? "car" : "before", &car);
        if (!no_fit)
            print_car("after ", &fitted);
        printf("\nopen-loop error of the replayed car (%d steps of history): position (m) and "
               "heading (deg)\n",
               o.history_steps);
        printf("          1 s: median  p90   2 s: median  p90   1 s: median p90  2 s: median "
               "p90\n");
    }
    for (int g = -1; g < nlogs && !rc; g++) {
        td_calib_errors eb, ea;
        if (td_calib_errors_compute(&d, &car, g, &eb, &err) ||
            (!no_fit && td_calib_errors_compute(&d, &fitted, g, &ea, &err))) {
            rc = td__cli_fail("%s", err.msg);
            break;
        }
        const char *name = g < 0 ? "all logs" : logs[g];
        if (json) {
            json_t *e = json_object();
            json_object_set_new(e, "log", json_string(name));
            json_object_set_new(e, "before", errors_json(&eb));
            if (!no_fit)
                json_object_set_new(e, "after", errors_json(&ea));
            if (g < 0)
                json_object_set_new(root, "all", e);
            else
                json_array_append_new(jlogs, e);
        } else {
            printf("%s (%d windows)\n", name, eb.windows);
            print_errors(no_fit ? "car" : "before", &eb);
            if (!no_fit)
                print_errors("after", &ea);
        }
    }
    if (!rc && json) {
        json_object_set_new(root, "logs", jlogs);
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        if (s)
            printf("%s\n", s);
        free(s); /* jansson allocated it */
    }
    json_decref(root);
    if (!rc && out_path) {
        json_t *c = td_car_config_to_json(&fitted);
        if (td_json_write_file(out_path, c, &err))
            rc = td__cli_fail("%s", err.msg);
        json_decref(c);
        if (!rc && !json)
            printf("wrote %s\n", out_path);
    }
    td_calib_data_free(&d);
    td_simtrace_free(&t);
    td_free(group);
    return rc;
}

TD_CLI_COMMAND("calibrate", "fit the car model to simtrace logs by open-loop replay", cmd_calibrate)
