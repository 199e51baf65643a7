/*
 * fleet.c - `trackday fleet`: cars and deployments on the hub (docs/cli/fleet.md, the routes
 * of docs/fleet.md) from the command line, as the logged-in admin: the signing key, enrollment
 * tokens, devices (approve, group and tags, revoke, history), bundles, deployments (create with
 * a strategy, watch, roll back), and `fleet simulate`, which starts N agents on this machine in
 * varied simulated worlds.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hub/hubcli.h"
#include "trackday/crypto.h"
#include "trackday/hubclient.h"
#include "trackday/json.h"

#define LABEL_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void print_json(const json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    printf("%s\n", text ? text : "null");
    free(text);
}

/* One request; 0 when the status is want (the reply in c->json), else 1 with a message. */
static int call(td_hubc *c, const char *method, const char *path, json_t *body, long want,
                const char *what)
{
    td_err err;
    int rc = td_hubc_json(c, method, path, body, &err);
    json_decref(body);
    if (rc || c->status != want)
        return td__cli_hub_fail(c, what, rc, err.msg);
    return 0;
}

/* Connects to the hub (hub: --hub, else the login's) and makes one call (body is stolen, also
 * when the connection fails). 0 with the reply in c->json, else 1 with a message; either way
 * the caller frees c with td_hubc_free. */
static int hub_call(td_hubc *c, const char *hub, const char *method, const char *path, json_t *body,
                    long want, const char *what)
{
    memset(c, 0, sizeof(*c));
    if (td__cli_hub_connect(c, hub)) {
        json_decref(body);
        return 1;
    }
    return call(c, method, path, body, want, what);
}

static const char *js(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long ji(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* "a,b,c" as a JSON array of strings. */
static json_t *csv_array(const char *s)
{
    json_t *a = json_array();
    const char *p = s;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n)
            json_array_append_new(a, json_stringn(p, n));
        p = e ? e + 1 : NULL;
    }
    return a;
}

/* The last rows of a fleet command's options (all but simulate's): --hub and the end. */
#define TD_FLEET_HUB_END(p)                                                                        \
    TD_CLI_STRING(NULL, "--hub", p, "URL", "the hub (default: the one of trackday login)"),        \
        TD_CLI_END

/* Parses a fleet command's options (`opts`, td__cli_parse) or returns what the command
 * returns (help, a usage error). The spec lives in the command's own scope, not in a block:
 * td__cli_parse keeps a pointer to it for the usage errors the command reports later. */
#define TD_FLEET_PARSE(cmd_name, about_text)                                                       \
    const td__cli_spec spec_ = {.name = (cmd_name), .about = (about_text), .opts = opts};          \
    int prc_ = td__cli_parse(&spec_, argc, argv);                                                  \
    if (prc_ != TD_CLI_RUN)                                                                        \
    return prc_

static int parse_id(const char *s, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    if (*end || errno || *out < 1)
        return td__cli_usage_error("'%s' is not an id", s);
    return 0;
}

/* ---- signing key, enrollment ---------------------------------------------------------- */

static int cmd_signing_key(int argc, char **argv)
{
    const char *key = NULL, *hub = NULL;
    const td__cli_opt opts[] = {
        TD_CLI_POS("KEY.pub", &key, "the public key of trackday keygen"),
        TD_FLEET_HUB_END(&hub),
    };
    TD_FLEET_PARSE("fleet signing-key", "Sets the key every bundle of the fleet must be signed "
                                        "with. The hub refuses bundles it does not verify, and "
                                        "agents pin it at registration.");
    char *text = NULL;
    size_t len = 0;
    td_err err;
    if (td_file_read(key, &text, &len, &err))
        return td__cli_fail("%s", err.msg);
    td_hubc c;
    int rc = hub_call(&c, hub, "PUT", "/api/v1/fleet/signing-key",
                      json_pack("{s:s}", "public_key", text), 200, "signing key");
    td_free(text);
    if (!rc)
        printf("fleet signing key: %s\n", js(c.json, "key_id"));
    td_hubc_free(&c);
    return rc;
}

static int cmd_enroll(int argc, char **argv)
{
    const char *name = NULL, *group = NULL, *tags = NULL, *hub = NULL;
    int auto_approve = 0, max_devices = 1, json_out = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("NAME", &name, "what the token is for (\"lab-cars\")"),
        TD_CLI_STRING(NULL, "--group", &group, "G", "devices registering with it join group G"),
        TD_CLI_STRING(NULL, "--tags", &tags, "T,T", "... and get these tags"),
        TD_CLI_INT("--max-devices", &max_devices, 1, 100000, "N",
                   "how many devices may register with it (default 1)"),
        TD_CLI_FLAG("--auto-approve", &auto_approve,
                    "approve the devices at once (else an admin approves each key)"),
        TD_CLI_FLAG("--json", &json_out, "print the hub's JSON"),
        TD_FLEET_HUB_END(&hub),
    };
    TD_FLEET_PARSE("fleet enroll", "Makes an enrollment token: an agent started with "
                                   "--device-token registers its key with it. The token "
                                   "is printed once.");
    td_hubc c;
    if (td__cli_hub_connect(&c, hub))
        return 1;
    json_t *body = json_pack("{s:s,s:b,s:i}", "name", name, "auto_approve", auto_approve,
                             "max_devices", max_devices);
    if (group)
        json_object_set_new(body, "group", json_string(group));
    if (tags)
        json_object_set_new(body, "tags", csv_array(tags));
    int rc = call(&c, "POST", "/api/v1/device-enrollments", body, 201, "enroll");
    if (!rc && json_out)
        print_json(c.json);
    else if (!rc)
        printf("%s\n", js(c.json, "token"));
    td_hubc_free(&c);
    return rc;
}

/* ---- devices ---------------------------------------------------------------------------- */

static void print_device_row(const json_t *d)
{
    const json_t *drv = json_object_get(json_object_get(d, "status"), "driving");
    char laps[64] = "-";
    if (json_is_object(drv))
        snprintf(laps, sizeof(laps), "%lld laps %lld off", ji(drv, "laps"), ji(drv, "off_track"));
    printf("%-5lld %-16s %-9s %-10s %-7s %-12.12s %s\n", ji(d, "id"), js(d, "name"), js(d, "state"),
           js(d, "group"), json_is_true(json_object_get(d, "online")) ? "online" : "-",
           js(d, "active_sha256")[0] ? js(d, "active_sha256") : "-", laps);
}

static int cmd_devices(int argc, char **argv)
{
    const char *group = NULL, *tag = NULL, *state = NULL, *hub = NULL;
    int json_out = 0;
    char path[400];
    const td__cli_opt opts[] = {
        TD_CLI_STRING(NULL, "--group", &group, "G", "only group G"),
        TD_CLI_STRING(NULL, "--tag", &tag, "T", "only devices tagged T"),
        TD_CLI_CHOICE("--state", &state, "pending|approved|revoked", "only devices in this state"),
        TD_CLI_FLAG("--json", &json_out, "print the hub's JSON"),
        TD_FLEET_HUB_END(&hub),
    };
    TD_FLEET_PARSE("fleet devices", "Lists the devices: state, group, whether they are "
                                    "online, the bundle they run and how they drive.");
    if ((group && strspn(group, LABEL_CHARS) != strlen(group)) ||
        (tag && strspn(tag, LABEL_CHARS) != strlen(tag)))
        return td__cli_usage_error("--group and --tag are letters, digits, '.', '_' or '-'");
    snprintf(path, sizeof(path), "/api/v1/devices?x=1%s%s%s%s%s%s", group ? "&group=" : "",
             group ? group : "", tag ? "&tag=" : "", tag ? tag : "", state ? "&state=" : "",
             state ? state : "");
    td_hubc c;
    int rc = hub_call(&c, hub, "GET", path, NULL, 200, "devices");
    if (!rc && json_out) {
        print_json(c.json);
    } else if (!rc) {
        const json_t *arr = json_object_get(c.json, "devices"), *d;
        size_t i;
        printf("%-5s %-16s %-9s %-10s %-7s %-12s %s\n", "ID", "NAME", "STATE", "GROUP", "ONLINE",
               "BUNDLE", "DRIVING");
        json_array_foreach(arr, i, d) print_device_row(d);
    }
    td_hubc_free(&c);
    return rc;
}

/* approve | revoke | history | show: one device by id. */
static int device_action(int argc, char **argv, const char *name, const char *about,
                         const char *method, const char *suffix, long want)
{
    const char *id_arg = NULL, *hub = NULL;
    int json_out = 0;
    char path[200], cmd[64];
    long long id;
    const td__cli_opt opts[] = {
        TD_CLI_POS("ID", &id_arg, "the device's id (trackday fleet devices)"),
        TD_CLI_FLAG("--json", &json_out, "print the hub's JSON"),
        TD_FLEET_HUB_END(&hub),
    };
    snprintf(cmd, sizeof(cmd), "fleet %s", name);
    TD_FLEET_PARSE(cmd, about);
    if (parse_id(id_arg, &id))
        return TD_CLI_USAGE;
    snprintf(path, sizeof(path), "/api/v1/devices/%lld%s", id, suffix);
    td_hubc c;
    int rc = hub_call(&c, hub, method, path, NULL, want, cmd);
    if (!rc && json_out && c.json) {
        print_json(c.json);
    } else if (!rc && !strcmp(name, "history")) {
        const json_t *arr = json_object_get(c.json, "history"), *e;
        size_t i;
        json_array_foreach(arr, i, e)
        {
            char dep[32] = "";
            if (json_object_get(e, "deployment"))
                snprintf(dep, sizeof(dep), "deployment %lld", ji(e, "deployment"));
            printf("%s  %-18s %-15s %-16s %s\n", js(e, "time"), js(e, "event"), dep,
                   js(e, "bundle")[0] ? js(e, "bundle") : "", js(e, "message"));
        }
    } else if (!rc && c.json) {
        print_device_row(c.json);
    } else if (!rc) {
        printf("device %lld revoked\n", id);
    }
    td_hubc_free(&c);
    return rc;
}

static int cmd_approve(int argc, char **argv)
{
    return device_action(argc, argv, "approve",
                         "Approves a registered device's key (compare its key id with the one "
                         "the car printed).",
                         "POST", "/approve", 200);
}

static int cmd_revoke(int argc, char **argv)
{
    return device_action(argc, argv, "revoke",
                         "Revokes a device: its token stops working and its key may not "
                         "register again.",
                         "DELETE", "", 204);
}

static int cmd_history(int argc, char **argv)
{
    return device_action(argc, argv, "history",
                         "A device's history, newest first: registration, approval, deployments, "
                         "installs, failures, rollbacks.",
                         "GET", "/history", 200);
}

static int cmd_set(int argc, char **argv)
{
    const char *id_arg = NULL, *group = NULL, *tags = NULL, *hub = NULL;
    char path[200];
    long long id;
    const td__cli_opt opts[] = {
        TD_CLI_POS("ID", &id_arg, "the device's id"),
        TD_CLI_STRING(NULL, "--group", &group, "G", "its group"),
        TD_CLI_STRING(NULL, "--tags", &tags, "T,T", "its tags (replacing the old ones)"),
        TD_FLEET_HUB_END(&hub),
    };
    TD_FLEET_PARSE("fleet set", "Changes a device's group or tags.");
    if (parse_id(id_arg, &id))
        return TD_CLI_USAGE;
    if (!group && !tags)
        return td__cli_usage_error("give --group or --tags");
    json_t *body = json_object();
    if (group)
        json_object_set_new(body, "group", json_string(group));
    if (tags)
        json_object_set_new(body, "tags", csv_array(tags));
    snprintf(path, sizeof(path), "/api/v1/devices/%lld", id);
    td_hubc c;
    int rc = hub_call(&c, hub, "PATCH", path, body, 200, "fleet set");
    if (!rc)
        print_device_row(c.json);
    td_hubc_free(&c);
    return rc;
}

/* ---- bundles and deployments ----------------------------------------------------------- */

/* Uploads a bundle file; its id in *id. */
static int upload(td_hubc *c, const char *file, long long *id)
{
    td_err err;
    int rc = td_hubc_upload(c, "POST", "/api/v1/bundles", file, &err);
    if (rc || (c->status != 201 && c->status != 200))
        return td__cli_hub_fail(c, "upload", rc, err.msg);
    *id = ji(c->json, "id");
    printf("bundle %lld: %s (%s), sha256 %.16s...%s\n", *id, js(c->json, "name"),
           js(c->json, "bundle_id"), js(c->json, "sha256"),
           c->status == 200 ? " (already uploaded)" : "");
    return 0;
}

static int cmd_upload(int argc, char **argv)
{
    const char *file = NULL, *hub = NULL;
    long long id;
    const td__cli_opt opts[] = {
        TD_CLI_POS("BUNDLE", &file, "a bundle of trackday export --format bundle"),
        TD_FLEET_HUB_END(&hub),
    };
    TD_FLEET_PARSE("fleet upload", "Uploads a bundle for deployment (it must verify "
                                   "against the fleet's signing key).");
    td_hubc c;
    if (td__cli_hub_connect(&c, hub))
        return 1;
    int rc = upload(&c, file, &id);
    td_hubc_free(&c);
    return rc;
}

static void print_deployment(const json_t *d)
{
    const json_t *counts = json_object_get(d, "devices_by_state");
    const char *k;
    json_t *v;
    char line[400] = "";
    size_t n = 0;
    json_object_foreach((json_t *)counts, k, v)
    {
        int w = snprintf(line + n, sizeof(line) - n, "%s%s %lld", n ? ", " : "", k,
                         (long long)json_integer_value(v));
        if (w < 0 || (size_t)w >= sizeof(line) - n)
            break;
        n += (size_t)w;
    }
    printf("deployment %lld: %s (bundle %s, %s)%s%s\n", ji(d, "id"), js(d, "state"),
           js(json_object_get(d, "bundle"), "name"), line, js(d, "reason")[0] ? ": " : "",
           js(d, "reason"));
}

static int finished(const json_t *d)
{
    return !strcmp(js(d, "state"), "succeeded") || !strcmp(js(d, "state"), "rolled_back");
}

/* Polls deployment id, printing each change, until it finishes (or Ctrl-C). */
static int watch(td_hubc *c, long long id, double timeout_s)
{
    char path[120], last[600] = "";
    double t0 = td_time_now();
    snprintf(path, sizeof(path), "/api/v1/deployments/%lld", id);
    catch_signals();
    while (!interrupted) {
        if (call(c, "GET", path, NULL, 200, "deployment"))
            return 1;
        char now[600];
        char *text = json_dumps(json_object_get(c->json, "devices_by_state"), JSON_COMPACT);
        snprintf(now, sizeof(now), "%s %s", js(c->json, "state"), text ? text : "");
        free(text);
        if (strcmp(now, last)) {
            print_deployment(c->json);
            snprintf(last, sizeof(last), "%s", now);
        }
        if (finished(c->json))
            return strcmp(js(c->json, "state"), "succeeded") != 0;
        if (timeout_s > 0 && td_time_now() - t0 > timeout_s)
            return td__cli_fail("deployment %lld: not finished after %.0f s", id, timeout_s);
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
    }
    return 1;
}

static int cmd_deploy(int argc, char **argv)
{
    const char *what = NULL, *group = NULL, *tags = NULL, *devices = NULL, *canary = NULL;
    const char *hub = NULL;
    long wait_s = 0, max_failures = 0, timeout_s = 600, min_laps = 0;
    double max_off = -1, max_lap_s = 0, watch_timeout = 0;
    int do_watch = 0, json_out = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("BUNDLE", &what, "a bundle's id on the hub, or a bundle file (uploaded first)"),
        TD_CLI_SECTION("target (one or more; together they narrow)"),
        TD_CLI_STRING(NULL, "--group", &group, "G", "the approved devices of group G"),
        TD_CLI_STRING(NULL, "--tags", &tags, "T,T", "... having every one of these tags"),
        TD_CLI_STRING(NULL, "--devices", &devices, "ID,ID", "these devices"),
        TD_CLI_SECTION("strategy"),
        TD_CLI_STRING(NULL, "--canary", &canary, "N|P%",
                      "devices that get the bundle first (default 1; 0: all at once)"),
        TD_CLI_LONG("--wait", &wait_s, 0, 7 * 86400, "S",
                    "seconds the canaries run it before the rest get it (default 0)"),
        TD_CLI_LONG("--max-failures", &max_failures, 0, 100000, "N",
                    "failures among the rest tolerated before the whole deployment rolls back "
                    "(default 0; a failing canary always rolls it back)"),
        TD_CLI_LONG("--timeout", &timeout_s, 1, 7 * 86400, "S",
                    "a device that does not report in this long failed (default 600)"),
        TD_CLI_LONG("--min-laps", &min_laps, 0, 100000, "N",
                    "each canary drives at least N laps in the wait"),
        TD_CLI_DOUBLE("--max-off-track", &max_off, 0, 1000, "X",
                      "a canary going off track more than X times a lap fails"),
        TD_CLI_DOUBLE("--max-lap-s", &max_lap_s, 0.001, 1e6, "S",
                      "a canary whose mean lap is slower than S seconds fails"),
        TD_CLI_SECTION("output"),
        TD_CLI_FLAG("--watch", &do_watch,
                    "follow it until it succeeds (exit 0) or is rolled back (exit 1)"),
        TD_CLI_DOUBLE("--watch-timeout", &watch_timeout, 0, 1e6, "S",
                      "give up watching after S seconds (exit 1)"),
        TD_CLI_FLAG("--json", &json_out, "print the hub's JSON"),
        TD_FLEET_HUB_END(&hub),
    };
    TD_FLEET_PARSE("fleet deploy",
                   "Deploys a bundle: the canaries first; when they installed it and ran it for "
                   "--wait seconds within the lap checks, the rest. A failing canary, or more "
                   "failures than --max-failures, rolls every device back to the bundle it ran "
                   "before.");
    if (!group && !tags && !devices)
        return td__cli_usage_error("name a target: --group, --tags or --devices");
    td_hubc c;
    if (td__cli_hub_connect(&c, hub))
        return 1;
    long long bundle = 0;
    char *end;
    bundle = strtoll(what, &end, 10);
    if (*end || bundle < 1) {
        if (upload(&c, what, &bundle)) {
            td_hubc_free(&c);
            return 1;
        }
    }
    json_t *target = json_object(), *strategy = json_object();
    if (group)
        json_object_set_new(target, "group", json_string(group));
    if (tags)
        json_object_set_new(target, "tags", csv_array(tags));
    if (devices) {
        json_t *ids = json_array(), *s = csv_array(devices), *v;
        size_t i;
        json_array_foreach(s, i, v)
            json_array_append_new(ids, json_integer(strtoll(json_string_value(v), NULL, 10)));
        json_decref(s);
        json_object_set_new(target, "devices", ids);
    }
    if (canary) {
        if (strchr(canary, '%'))
            json_object_set_new(strategy, "canary", json_string(canary));
        else
            json_object_set_new(strategy, "canary", json_integer(strtoll(canary, NULL, 10)));
    }
    json_object_set_new(strategy, "wait_s", json_integer(wait_s));
    json_object_set_new(strategy, "max_failures", json_integer(max_failures));
    json_object_set_new(strategy, "timeout_s", json_integer(timeout_s));
    json_object_set_new(strategy, "min_laps", json_integer(min_laps));
    if (max_off >= 0)
        json_object_set_new(strategy, "max_off_track_per_lap", json_real(max_off));
    if (max_lap_s > 0)
        json_object_set_new(strategy, "max_lap_s", json_real(max_lap_s));
    int rc = call(&c, "POST", "/api/v1/deployments",
                  json_pack("{s:I,s:o,s:o}", "bundle", (json_int_t)bundle, "target", target,
                            "strategy", strategy),
                  201, "deploy");
    if (!rc) {
        long long id = ji(c.json, "id");
        if (json_out)
            print_json(c.json);
        else
            print_deployment(c.json);
        if (do_watch)
            rc = watch(&c, id, watch_timeout);
    }
    td_hubc_free(&c);
    return rc;
}

static int cmd_deployments(int argc, char **argv)
{
    const char *id_arg = NULL, *hub = NULL;
    int json_out = 0, do_watch = 0;
    double watch_timeout = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS_OPTIONAL("ID", &id_arg, "one deployment, with each device's part"),
        TD_CLI_FLAG("--watch", &do_watch, "follow it until it finishes"),
        TD_CLI_DOUBLE("--watch-timeout", &watch_timeout, 0, 1e6, "S",
                      "give up watching after S seconds (exit 1)"),
        TD_CLI_FLAG("--json", &json_out, "print the hub's JSON"),
        TD_FLEET_HUB_END(&hub),
    };
    TD_FLEET_PARSE("fleet deployments", "Lists the deployments, newest first, or shows one.");
    long long id = 0;
    if (id_arg && parse_id(id_arg, &id))
        return TD_CLI_USAGE;
    if (do_watch && !id)
        return td__cli_usage_error("--watch takes a deployment ID");
    td_hubc c;
    if (td__cli_hub_connect(&c, hub))
        return 1;
    int rc;
    if (do_watch) {
        rc = watch(&c, id, watch_timeout);
    } else if (id) {
        char path[120];
        snprintf(path, sizeof(path), "/api/v1/deployments/%lld", id);
        rc = call(&c, "GET", path, NULL, 200, "deployment");
        if (!rc && json_out) {
            print_json(c.json);
        } else if (!rc) {
            print_deployment(c.json);
            const json_t *arr = json_object_get(c.json, "devices"), *d;
            size_t i;
            json_array_foreach(arr, i, d)
                printf("  %-5lld %-16s %-6s %-12s %s\n", ji(d, "device"), js(d, "name"),
                       json_is_true(json_object_get(d, "canary")) ? "canary" : "", js(d, "state"),
                       js(d, "message"));
        }
    } else {
        rc = call(&c, "GET", "/api/v1/deployments", NULL, 200, "deployments");
        if (!rc && json_out) {
            print_json(c.json);
        } else if (!rc) {
            const json_t *arr = json_object_get(c.json, "deployments"), *d;
            size_t i;
            json_array_foreach(arr, i, d) print_deployment(d);
        }
    }
    td_hubc_free(&c);
    return rc;
}

static int cmd_rollback(int argc, char **argv)
{
    const char *id_arg = NULL, *reason = NULL, *hub = NULL;
    int do_watch = 0;
    double watch_timeout = 0;
    long long id;
    const td__cli_opt opts[] = {
        TD_CLI_POS("ID", &id_arg, "the deployment"),
        TD_CLI_STRING(NULL, "--reason", &reason, "TEXT", "why (kept in the devices' history)"),
        TD_CLI_FLAG("--watch", &do_watch, "follow it until every device is back"),
        TD_CLI_DOUBLE("--watch-timeout", &watch_timeout, 0, 1e6, "S",
                      "give up watching after S seconds (exit 1)"),
        TD_FLEET_HUB_END(&hub),
    };
    TD_FLEET_PARSE("fleet rollback", "Rolls a deployment back by hand: every device that got "
                                     "its bundle goes back to the bundle it ran before.");
    if (parse_id(id_arg, &id))
        return TD_CLI_USAGE;
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/deployments/%lld/rollback", id);
    td_hubc c;
    int rc =
        hub_call(&c, hub, "POST", path,
                 reason ? json_pack("{s:s}", "reason", reason) : json_object(), 200, "rollback");
    if (!rc) {
        print_deployment(c.json);
        if (do_watch) {
            rc = watch(&c, id, watch_timeout);
            rc = rc && strcmp(js(c.json, "state"), "rolled_back") != 0;
        }
    }
    td_hubc_free(&c);
    return rc;
}

/* ---- simulate --------------------------------------------------------------------------- */

#define MAX_SIM 200

/* The shift of car i: "I:SPEC" for car I, "SPEC" for every car. */
static void shifts_for(int i, const char *const *shifts, int nshift, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (int k = 0; k < nshift; k++) {
        const char *s = shifts[k], *colon = strchr(s, ':');
        const char *eq = strchr(s, '=');
        if (colon && (!eq || colon < eq)) {
            if (strtol(s, NULL, 10) != i)
                continue;
            s = colon + 1;
        }
        int w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", s);
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
}

static int cmd_simulate(int argc, char **argv)
{
    const char *hub = NULL, *dir = "fleet-sim", *group = "sim", *track = "oval", *prefix = "sim";
    const char *shifts[32];
    int nshift = 0, devices = 10, quiet = 0;
    double speedup = 1, heartbeat_s = 2, window_s = 60, run_s = 0;
    /* --shift may repeat: collected by hand, the rest by the table. */
    char **rest = td_malloc(sizeof(char *) * (size_t)(argc + 1));
    int nrest = 0;
    if (!rest)
        return td__cli_fail("out of memory");
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--shift") && i + 1 < argc && nshift < 32) {
            shifts[nshift++] = argv[++i];
            continue;
        }
        if (i > 0 && !strncmp(argv[i], "--shift=", 8) && nshift < 32) {
            shifts[nshift++] = argv[i] + 8;
            continue;
        }
        rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    const char *unused = NULL;
    const td__cli_opt table[] = {
        TD_CLI_REQUIRED_STRING(NULL, "--hub", &hub, "URL", "the hub"),
        TD_CLI_INT("--devices", &devices, 1, MAX_SIM, "N", "cars (default 10)"),
        TD_CLI_STRING(NULL, "--shift", &unused, "SPEC",
                      "a domain shift, KEY=VALUE[,KEY=VALUE...] for every car, or I:KEY=VALUE... "
                      "for car I (0-based); may repeat (docs/agent.md lists the keys)"),
        TD_CLI_STRING(NULL, "--dir", &dir, "DIR",
                      "the cars' data directories go in DIR/NAME (default fleet-sim)"),
        TD_CLI_STRING(NULL, "--group", &group, "G", "the cars' group (default sim)"),
        TD_CLI_STRING(NULL, "--name-prefix", &prefix, "P", "cars are named P-0, P-1, ... (sim)"),
        TD_CLI_STRING(NULL, "--track", &track, "TRACK", "the track (default oval)"),
        TD_CLI_DOUBLE("--speedup", &speedup, 0.1, 100, "X",
                      "simulated seconds per second (default 1)"),
        TD_CLI_DOUBLE("--heartbeat-s", &heartbeat_s, 0.05, 3600, "S",
                      "the cars' heartbeat period (default 2)"),
        TD_CLI_DOUBLE("--window-s", &window_s, 0.5, 3600, "S", "telemetry window (default 60)"),
        TD_CLI_DOUBLE("--run-s", &run_s, 0, 1e9, "S", "stop after S seconds (default: Ctrl-C)"),
        TD_CLI_FLAG("--quiet", &quiet, "print only the cars' registration and the end"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "fleet simulate",
        .about = "Starts N device agents on this machine, each driving its own simulated world "
                 "(the same track, a different seed and slightly different light and floor, "
                 "plus the --shift given to it), registered with an enrollment token of this "
                 "login (auto-approved, group --group). Runs until Ctrl-C or --run-s, then "
                 "stops the cars.",
        .opts = table};
    /* The --shift row documents it; every --shift was taken out of argv above. */
    int prc = td__cli_parse(&spec, nrest, rest);
    (void)unused;
    td_free(rest);
    if (prc != TD_CLI_RUN)
        return prc;
    td_hubc c;
    if (td__cli_hub_connect(&c, hub))
        return 1;
    json_t *body = json_pack("{s:s,s:s,s:b,s:i}", "name", "fleet-simulate", "group", group,
                             "auto_approve", 1, "max_devices", devices);
    if (call(&c, "POST", "/api/v1/device-enrollments", body, 201, "fleet simulate")) {
        td_hubc_free(&c);
        return 1;
    }
    char token[160];
    snprintf(token, sizeof(token), "%s", js(c.json, "token"));
    td_hubc_free(&c);
    td_err err;
    if (td_mkdir_p(dir, &err))
        return td__cli_fail("%s", err.msg);
    char self[1024];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0)
        return td__cli_fail("cannot find this program (/proc/self/exe)");
    self[sl] = 0;
    pid_t pids[MAX_SIM];
    int started = 0;
    catch_signals();
    for (int i = 0; i < devices; i++) {
        char name[64], data[1200], world[1300], shift[1024], speed[32], hb[32], win[32];
        snprintf(name, sizeof(name), "%s-%d", prefix, i);
        snprintf(data, sizeof(data), "%s/%s", dir, name);
        snprintf(world, sizeof(world), "%s/world.json", data);
        if (td_mkdir_p(data, &err))
            break;
        /* A world of its own: seed, light and floor within what domain randomization spans. */
        json_t *w = json_pack("{s:s,s:i,s:{s:f,s:f}}", "track", track, "seed", 1000 + i, "shift",
                              "brightness", 0.92 + 0.16 * ((i * 7) % 10) / 9.0, "texture",
                              (double)((i * 3) % 8));
        if (td_json_write_file(world, w, &err)) {
            json_decref(w);
            break;
        }
        json_decref(w);
        shifts_for(i, shifts, nshift, shift, sizeof(shift));
        snprintf(speed, sizeof(speed), "%g", speedup);
        snprintf(hb, sizeof(hb), "%g", heartbeat_s);
        snprintf(win, sizeof(win), "%g", window_s);
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            char logp[1300];
            snprintf(logp, sizeof(logp), "%s/agent.log", data);
            FILE *lf = freopen(logp, "a", stdout);
            (void)lf;
            const char *args[32];
            int k = 0;
            args[k++] = self;
            args[k++] = "agent";
            args[k++] = "--hub";
            args[k++] = hub;
            args[k++] = "--device-token";
            args[k++] = token;
            args[k++] = "--data";
            args[k++] = data;
            args[k++] = "--name";
            args[k++] = name;
            args[k++] = "--sim";
            args[k++] = world;
            args[k++] = "--speedup";
            args[k++] = speed;
            args[k++] = "--heartbeat-s";
            args[k++] = hb;
            args[k++] = "--window-s";
            args[k++] = win;
            if (shift[0]) {
                args[k++] = "--shift";
                args[k++] = shift;
            }
            args[k] = NULL;
            execv(self, (char *const *)args);
            _exit(127);
        }
        pids[started++] = pid;
        if (!quiet)
            printf("car %-10s pid %d, world %s%s%s\n", name, (int)pid, world,
                   shift[0] ? ", shift " : "", shift);
    }
    fflush(stdout);
    printf("%d cars driving (group '%s'); logs in %s/*/agent.log%s\n", started, group, dir,
           run_s > 0 ? "" : "; Ctrl-C stops them");
    fflush(stdout);
    double t0 = td_time_now();
    int alive = started;
    while (!interrupted && alive > 0 && (run_s <= 0 || td_time_now() - t0 < run_s)) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        int st;
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
            for (int i = 0; i < started; i++)
                if (pids[i] == p) {
                    pids[i] = 0;
                    alive--;
                    fprintf(stderr, "trackday fleet simulate: car %d stopped (status %d)\n", i,
                            WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
                }
        }
    }
    for (int i = 0; i < started; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    for (int i = 0; i < started; i++)
        if (pids[i] > 0)
            waitpid(pids[i], NULL, 0);
    printf("stopped %d cars\n", started);
    return started == devices ? 0 : 1;
}

/* ---- autopilot ------------------------------------------------------------------------- */

typedef struct autopilot_opts {
    const char *key, *workdir;
    long laps, train_steps, calibrate, wait_s;
    double budget_ms;
} autopilot_opts;

/* Builds the bundle of the pulled version in dir, signed with the key here (trackday export). */
static int autopilot_export(const autopilot_opts *o, const char *dir, const char *out,
                            const char *name)
{
    char laps[24], steps[24], calib[24], budget[32];
    char *argv[24];
    int n = 0;
    argv[n++] = "export";
    argv[n++] = (char *)dir;
    argv[n++] = "--format";
    argv[n++] = "bundle";
    argv[n++] = "-o";
    argv[n++] = (char *)out;
    argv[n++] = "--key";
    argv[n++] = (char *)o->key;
    argv[n++] = "--name";
    argv[n++] = (char *)name;
    snprintf(laps, sizeof(laps), "%ld", o->laps);
    argv[n++] = "--laps";
    argv[n++] = laps;
    if (o->train_steps) {
        snprintf(steps, sizeof(steps), "%ld", o->train_steps);
        argv[n++] = "--train-steps";
        argv[n++] = steps;
    }
    if (o->calibrate) {
        snprintf(calib, sizeof(calib), "%ld", o->calibrate);
        argv[n++] = "--calibrate";
        argv[n++] = calib;
    }
    if (o->budget_ms > 0) {
        snprintf(budget, sizeof(budget), "%g", o->budget_ms);
        argv[n++] = "--latency-budget-ms";
        argv[n++] = budget;
    }
    argv[n] = NULL;
    const td__cli_command *ex = td__cli_find("export");
    return ex ? ex->fn(n, argv) : td__cli_fail("fleet autopilot: no export command");
}

/* The signer's turn for alert a (its pipeline awaits a signature): pull the version, build
 * and sign its bundle here, upload it, deploy it with the alerting device as the canary (its
 * group behind it), and report the deployment or the failure to the hub. 0 when deployed. */
static int autopilot_one(td_hubc *c, const json_t *a, const autopilot_opts *o)
{
    const json_t *p = json_object_get(a, "pipeline");
    long long alert = ji(a, "id"), dev = ji(a, "device_id"), model = ji(p, "model");
    long long version = ji(p, "version"), bundle = 0, dep = 0;
    char dir[1100], out[1200], name[96], path[200], why[400] = "";
    snprintf(name, sizeof(name), "model-%lld-v%lld", model, version);
    snprintf(dir, sizeof(dir), "%s/alert-%lld-%s", o->workdir, alert, name);
    snprintf(out, sizeof(out), "%s.tdb", dir);
    printf("alert %lld: model %lld version %lld passed its gates: signing its bundle\n", alert,
           model, version);
    fflush(stdout);
    if (td__cli_pull(c, model, version, dir))
        snprintf(why, sizeof(why), "pulling model %lld version %lld failed", model, version);
    else if (autopilot_export(o, dir, out, name))
        snprintf(why, sizeof(why), "building the bundle of model %lld version %lld failed", model,
                 version);
    else if (upload(c, out, &bundle))
        snprintf(why, sizeof(why),
                 "the hub refused the bundle (HTTP %ld): is --key the fleet's "
                 "signing key?",
                 c->status);
    if (!why[0]) {
        snprintf(path, sizeof(path), "/api/v1/devices/%lld", dev);
        const char *group = "";
        json_t *target;
        if (!call(c, "GET", path, NULL, 200, "device"))
            group = js(c->json, "group");
        target = group[0] ? json_pack("{s:s}", "group", group)
                          : json_pack("{s:[I]}", "devices", (json_int_t)dev);
        json_t *body = json_pack("{s:I,s:o,s:{s:i,s:[I],s:I}}", "bundle", (json_int_t)bundle,
                                 "target", target, "strategy", "canary", 1, "canary_devices",
                                 (json_int_t)dev, "wait_s", (json_int_t)o->wait_s);
        if (call(c, "POST", "/api/v1/deployments", body, 201, "deploy"))
            snprintf(why, sizeof(why), "the canary deployment was refused (HTTP %ld): %s",
                     c->status, js(json_object_get(c->json, "error"), "message"));
        else
            dep = ji(c->json, "id");
    }
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld/pipeline", alert);
    json_t *rep = why[0] ? json_pack("{s:s,s:s}", "state", "failed", "reason", why)
                         : json_pack("{s:s,s:I}", "state", "canary", "deployment", (json_int_t)dep);
    int rc = call(c, "POST", path, rep, 200, "pipeline");
    if (why[0])
        fprintf(stderr, "%s: fleet autopilot: alert %lld: %s\n", td__cli_program, alert, why);
    else
        printf("alert %lld: deployment %lld: bundle %lld on device %lld first (canary)\n", alert,
               dep, bundle, dev);
    return why[0] || rc;
}

static int cmd_autopilot(int argc, char **argv)
{
    const char *hub = NULL;
    int once = 0;
    double interval = 10;
    autopilot_opts o = {.laps = 3, .wait_s = 60};
    const td__cli_opt opts[] = {
        TD_CLI_REQUIRED_STRING(NULL, "--key", &o.key, "KEY",
                               "the fleet's secret signing key (trackday keygen); it stays "
                               "on this machine"),
        TD_CLI_STRING(NULL, "--dir", &o.workdir, "DIR",
                      "where versions are pulled and bundles built (default a new "
                      "directory in $TMPDIR)"),
        TD_CLI_FLAG("--once", &once, "handle what waits now, then exit (1 if any failed)"),
        TD_CLI_DOUBLE("--interval", &interval, 0.1, 3600, "S",
                      "seconds between looks at the hub (default 10)"),
        TD_CLI_LONG("--laps", &o.laps, 1, 16, "N", "the bundle's reference laps (default 3)"),
        TD_CLI_LONG("--train-steps", &o.train_steps, 1, 100000, "N",
                    "the bundle's sampled-policy steps (trackday export's default)"),
        TD_CLI_LONG("--calibrate", &o.calibrate, 1, 100000, "N",
                    "int8 calibration observations (trackday export's default)"),
        TD_CLI_DOUBLE("--latency-budget-ms", &o.budget_ms, 0.001, 60000, "X",
                      "the bundle's health-check budget (trackday export's default)"),
        TD_CLI_LONG("--wait", &o.wait_s, 0, 7 * 86400, "S",
                    "the canary runs it this long before the rest of its group (default 60)"),
        TD_FLEET_HUB_END(&hub),
    };
    TD_FLEET_PARSE("fleet autopilot",
                   "The admin-side signer that closes the loop from a drift alert (docs/drift.md): "
                   "it watches the hub for retrained versions that passed their evaluation gates "
                   "(POST /api/v1/alerts/ID/retrain with \"then\": \"evaluate,canary\"), builds "
                   "and signs each one's bundle with --key here (the hub never holds the secret "
                   "key), uploads it and deploys it with the alerting device as the canary and "
                   "its group behind it, and reports the deployment (or the failure) on the "
                   "alert.");
    char tmp[1024];
    if (!o.workdir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp, sizeof(tmp), "%s/trackday-autopilot-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmp))
            return td__cli_fail("fleet autopilot: %s: %s", tmp, strerror(errno));
        o.workdir = tmp;
    }
    uint8_t sk[TD_SIGN_SECRET_BYTES];
    td_err err;
    if (td_sign_secret_load(o.key, sk, NULL, &err))
        return td__cli_fail("fleet autopilot: %s", err.msg);
    td_crypto_wipe(sk, sizeof(sk));
    td_hubc c;
    if (td__cli_hub_connect(&c, hub))
        return 1;
    catch_signals();
    int failed = 0;
    while (!interrupted) {
        if (call(&c, "GET", "/api/v1/alerts?pipeline=awaiting_signature&limit=100", NULL, 200,
                 "alerts")) {
            failed = 1;
            break;
        }
        json_t *alerts = json_incref(json_object_get(c.json, "alerts")), *a;
        size_t i;
        json_array_foreach(alerts, i, a) failed |= autopilot_one(&c, a, &o) != 0;
        json_decref(alerts);
        if (once)
            break;
        for (double t = 0; t < interval && !interrupted; t += 0.1)
            usleep(100000);
    }
    td_hubc_free(&c);
    return failed;
}

static int cmd_fleet(int argc, char **argv)
{
    static const td__cli_sub subs[] = {
        {"signing-key", "set the key bundles must be signed with", cmd_signing_key},
        {"enroll", "an enrollment token cars register with (printed once)", cmd_enroll},
        {"devices", "list the devices", cmd_devices},
        {"approve", "approve a registered device's key", cmd_approve},
        {"set", "change a device's group or tags", cmd_set},
        {"revoke", "revoke a device", cmd_revoke},
        {"history", "a device's history", cmd_history},
        {"upload", "upload a bundle", cmd_upload},
        {"deploy", "deploy a bundle with canaries, a wait and automatic rollback", cmd_deploy},
        {"deployments", "list deployments or show one", cmd_deployments},
        {"rollback", "roll a deployment back", cmd_rollback},
        {"simulate", "start N simulated cars on this machine", cmd_simulate},
        {"autopilot", "sign and canary-deploy versions retrained from alerts", cmd_autopilot},
        {NULL, NULL, NULL},
    };
    return td__cli_dispatch("fleet",
                            "Cars and deployments on the hub (as the logged-in admin; "
                            "docs/fleet.md).",
                            subs, argc, argv);
}

TD_CLI_COMMAND("fleet", "cars on the hub: devices, bundles, staged deployments, rollback",
               cmd_fleet)
