/*
 * alerts.c - `trackday alerts`: the hub's drift alerts (docs/drift.md) as a table, one alert's
 * detail, acknowledging one, and closing the loop: retraining the model from an alert with
 * domain randomization widened to what the device saw (POST /api/v1/alerts/{id}/retrain),
 * followed live until the new version exists.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hub/hubcli.h"
#include "trackday/hubclient.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted++;
}

static void print_alerts(json_t *alerts)
{
    size_t i;
    json_t *a;
    printf("%6s  %6s  %-12s  %-7s  %8s  %-12s  %s\n", "ID", "DEVICE", "CHECK", "LEVEL", "VALUE",
           "STATE", "DETAIL");
    json_array_foreach(alerts, i, a)
    {
        printf("%6lld  %6lld  %-12s  %-7s  %8.3f  %-12s  %s\n",
               (long long)json_integer_value(json_object_get(a, "id")),
               (long long)json_integer_value(json_object_get(a, "device_id")),
               json_string_value(json_object_get(a, "check")),
               json_string_value(json_object_get(a, "level")),
               json_number_value(json_object_get(a, "value")),
               json_string_value(json_object_get(a, "state")),
               json_string_value(json_object_get(a, "detail")));
        const json_t *p = json_object_get(a, "pipeline");
        if (json_is_object(p)) {
            const char *why = json_string_value(json_object_get(p, "reason"));
            printf("        retraining: %s (model %lld",
                   json_string_value(json_object_get(p, "state")),
                   (long long)json_integer_value(json_object_get(p, "model")));
            if (json_integer_value(json_object_get(p, "version")))
                printf(", version %lld",
                       (long long)json_integer_value(json_object_get(p, "version")));
            if (json_integer_value(json_object_get(p, "deployment")))
                printf(", deployment %lld %s",
                       (long long)json_integer_value(json_object_get(p, "deployment")),
                       json_string_value(json_object_get(p, "deployment_state")));
            printf(")%s%s\n", why && why[0] ? ": " : "", why ? why : "");
        }
    }
    if (json_array_size(alerts) == 0)
        printf("(no alerts)\n");
}

/* The ranges of a job's domain_randomization parameter, one line. */
static void print_ranges(const json_t *dr)
{
    const json_t *b = json_object_get(dr, "brightness"), *c = json_object_get(dr, "contrast");
    printf("domain randomization: brightness [%.3g, %.3g], contrast [%.3g, %.3g], texture "
           "%.3g, noise %.3g, blur %.3g\n",
           json_number_value(json_array_get(b, 0)), json_number_value(json_array_get(b, 1)),
           json_number_value(json_array_get(c, 0)), json_number_value(json_array_get(c, 1)),
           json_number_value(json_object_get(dr, "texture")),
           json_number_value(json_object_get(dr, "noise")),
           json_number_value(json_object_get(dr, "blur")));
}

/* --watch with --then: follows the alert's pipeline past the evaluation and its gates; 0 when
 * the version passed them. */
static int watch_pipeline(const char *hub, long long id)
{
    td_hubc c;
    td_err err = {0};
    char path[80], last[32] = "";
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld", id);
    if (td__cli_hub_connect(&c, hub))
        return 1;
    while (!interrupted) {
        int rc = td_hubc_json(&c, "GET", path, NULL, &err);
        if (rc || c.status != 200) {
            rc = td__cli_hub_fail(&c, "alert", rc, err.msg);
            td_hubc_free(&c);
            return rc;
        }
        const json_t *p = json_object_get(c.json, "pipeline");
        const char *st = json_string_value(json_object_get(p, "state"));
        st = st ? st : "none";
        if (strcmp(st, last)) {
            const char *why = json_string_value(json_object_get(p, "reason"));
            printf("alert %lld: %s%s%s\n", id, st, why && why[0] ? ": " : "", why ? why : "");
            fflush(stdout);
            snprintf(last, sizeof(last), "%s", st);
        }
        if (strcmp(st, "retraining") && strcmp(st, "evaluating")) {
            int bad = !strcmp(st, "failed") || !strcmp(st, "none");
            td_hubc_free(&c);
            return bad;
        }
        usleep(500000);
    }
    td_hubc_free(&c);
    return 1;
}

static int cmd_alerts(int argc, char **argv)
{
    const char *hub = NULL, *state = NULL, *id_arg = NULL;
    int ack = 0, retrain = 0, watch = 0, json_out = 0, iterations = 0;
    long model = 0, version = 0, device = 0, gate_laps = 0;
    double minutes = 0, min_completion = -1, max_lap_ratio = 0;
    const char *then = NULL;
    const td__cli_opt opts[] = {
        TD_CLI_POS_OPTIONAL("ID", &id_arg, "one alert: its detail (or --ack, --retrain)"),
        TD_CLI_CHOICE("--state", &state, "open|acknowledged|resolved|active",
                      "the list: only alerts in this state (active: open or acknowledged)"),
        TD_CLI_LONG("--device", &device, 1, 1L << 40, "ID", "the list: one device's alerts"),
        TD_CLI_FLAG("--ack", &ack, "acknowledge alert ID"),
        TD_CLI_FLAG("--retrain", &retrain,
                    "queue a training job from alert ID: --model's version continued with "
                    "domain randomization widened to cover what the device's camera saw"),
        TD_CLI_LONG("--model", &model, 1, 1L << 40, "M", "--retrain: the hub model to train"),
        TD_CLI_LONG("--version", &version, 1, 1L << 40, "V",
                    "--retrain: its version (default the latest)"),
        TD_CLI_DOUBLE("--minutes", &minutes, 0.05, 1440, "MIN",
                      "--retrain: the job's training time (required)"),
        TD_CLI_INT("--iterations", &iterations, 1, 100000000, "N",
                   "--retrain: stop after N iterations"),
        TD_CLI_FLAG("--watch", &watch,
                    "--retrain: follow the job live until it ends (with --then: and the "
                    "evaluation and its gates)"),
        TD_CLI_CHOICE("--then", &then, "evaluate|evaluate,canary",
                      "--retrain: then evaluate the new version against the gates, and "
                      "(canary) have trackday fleet autopilot sign it and deploy it as a canary "
                      "on the alerting device"),
        TD_CLI_LONG("--gate-laps", &gate_laps, 1, 16, "N", "--then: evaluation laps (default 3)"),
        TD_CLI_DOUBLE("--min-completion", &min_completion, 0, 1, "X",
                      "--then: share of the evaluation laps to complete (default 1)"),
        TD_CLI_DOUBLE("--max-lap-ratio", &max_lap_ratio, 0.5, 10, "X",
                      "--then: mean lap at most X times the deployed bundle's (default 1.05)"),
        TD_CLI_FLAG("--json", &json_out, "print the hub's JSON"),
        TD_CLI_STRING(NULL, "--hub", &hub, "URL",
                      "the hub (default: $TRACKDAY_HUB, else the one of trackday login)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "alerts",
        .about = "Lists the hub's drift alerts, newest first (an admin's). With an alert ID: its "
                 "detail, acknowledging it (--ack), or retraining from it (--retrain): a "
                 "training job that continues a model version with domain randomization "
                 "widened to cover the lighting and contrast the device's camera saw "
                 "(docs/drift.md, \"Closing the loop\").",
        .opts = opts,
        .epilog = "examples:\n  trackday alerts --state active\n"
                  "  trackday alerts 3 --ack\n"
                  "  trackday alerts 3 --retrain --model 1 --minutes 20 --watch\n"
                  "  trackday alerts 3 --retrain --model 1 --minutes 20 --then evaluate,canary"};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if ((ack || retrain) && !id_arg)
        return td__cli_usage_error("--ack and --retrain take one alert ID");
    if (ack && retrain)
        return td__cli_usage_error("--ack or --retrain, not both");
    if (retrain && (!model || minutes <= 0))
        return td__cli_usage_error("--retrain needs --model M and --minutes MIN");
    if (!retrain && (model || version || minutes > 0 || iterations || watch || then))
        return td__cli_usage_error("--model, --version, --minutes, --iterations, --watch and "
                                   "--then go with --retrain");
    if (!then && (gate_laps || min_completion >= 0 || max_lap_ratio > 0))
        return td__cli_usage_error("--gate-laps, --min-completion and --max-lap-ratio go with "
                                   "--then");
    long long id = 0;
    if (id_arg) {
        char *end;
        id = strtoll(id_arg, &end, 10);
        if (*end || id < 1)
            return td__cli_fail("'%s' is not an alert id", id_arg);
    }
    td_hubc c;
    td_err err = {0};
    char path[200];
    int rc;
    if (td__cli_hub_connect(&c, hub))
        return 1;
    if (!id) {
        snprintf(path, sizeof(path), "/api/v1/alerts?limit=1000%s%s", state ? "&state=" : "",
                 state ? state : "");
        if (device)
            snprintf(path + strlen(path), sizeof(path) - strlen(path), "&device=%ld", device);
        rc = td_hubc_json(&c, "GET", path, NULL, &err);
        if (rc || c.status != 200) {
            rc = td__cli_hub_fail(&c, "alerts", rc, err.msg);
            td_hubc_free(&c);
            return rc;
        }
        if (json_out) {
            char *text = json_dumps(c.json, JSON_INDENT(2));
            printf("%s\n", text ? text : "null");
            free(text);
        } else {
            print_alerts(json_object_get(c.json, "alerts"));
        }
        td_hubc_free(&c);
        return 0;
    }
    if (!retrain) {
        snprintf(path, sizeof(path),
                 ack ? "/api/v1/alerts/%lld/acknowledge" : "/api/v1/alerts/%lld", id);
        rc = td_hubc_json(&c, ack ? "POST" : "GET", path, NULL, &err);
        if (rc || c.status != 200) {
            rc = td__cli_hub_fail(&c, ack ? "acknowledge" : "alert", rc, err.msg);
            td_hubc_free(&c);
            return rc;
        }
        if (json_out || !ack) {
            char *text = json_dumps(c.json, JSON_INDENT(2));
            printf("%s\n", text ? text : "null");
            free(text);
        } else {
            printf("alert %lld: %s\n", id, json_string_value(json_object_get(c.json, "state")));
        }
        td_hubc_free(&c);
        return 0;
    }
    json_t *body = json_pack("{s:I,s:f}", "model", (json_int_t)model, "minutes", minutes);
    if (version)
        json_object_set_new(body, "version", json_integer(version));
    if (iterations)
        json_object_set_new(body, "iterations", json_integer(iterations));
    if (then) {
        json_t *g = json_object();
        json_object_set_new(body, "then", json_string(then));
        if (gate_laps)
            json_object_set_new(g, "laps", json_integer(gate_laps));
        if (min_completion >= 0)
            json_object_set_new(g, "min_completion", json_real(min_completion));
        if (max_lap_ratio > 0)
            json_object_set_new(g, "max_lap_time_ratio", json_real(max_lap_ratio));
        json_object_set_new(body, "gates", g);
    }
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld/retrain", id);
    rc = td_hubc_json(&c, "POST", path, body, &err);
    json_decref(body);
    if (rc || c.status != 201) {
        rc = td__cli_hub_fail(&c, "retrain", rc, err.msg);
        td_hubc_free(&c);
        return rc;
    }
    long long job = json_integer_value(json_object_get(c.json, "id"));
    const json_t *params = json_object_get(c.json, "params");
    if (json_out) {
        char *text = json_dumps(c.json, JSON_INDENT(2));
        printf("%s\n", text ? text : "null");
        free(text);
    } else {
        const json_t *m = json_object_get(c.json, "model");
        printf("job %lld: train model %lld version %lld (%s)\n", job,
               (long long)json_integer_value(json_object_get(m, "id")),
               (long long)json_integer_value(json_object_get(m, "version")),
               json_string_value(json_object_get(json_object_get(params, "retrain"), "why")));
        print_ranges(json_object_get(params, "domain_randomization"));
    }
    if (!watch) {
        td_hubc_free(&c);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char st[32];
    long long v = 0;
    rc = td__cli_watch_job(&c, job, (volatile int *)&interrupted, st, sizeof(st), &v);
    td_hubc_free(&c);
    if (rc)
        return rc;
    if (v)
        printf("job %lld %s: model %ld version %lld\n", job, st, model, v);
    else
        printf("job %lld %s\n", job, st);
    if (strcmp(st, "succeeded") || !then)
        return strcmp(st, "succeeded") != 0;
    return watch_pipeline(hub, id);
}

TD_CLI_COMMAND("alerts", "the hub's drift alerts: list, acknowledge, retrain from one", cmd_alerts)
