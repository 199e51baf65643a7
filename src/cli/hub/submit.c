/*
 * submit.c - `trackday submit MODEL --league L`: enters a version of one of your models in a
 * league on the hub. The hub freezes the version by its content hash and a worker runs the
 * official evaluation; --wait follows it and prints the result and your standing.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hub/hubcli.h"
#include "trackday/hubclient.h"

static void enc(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < cap; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
    }
    out[n] = 0;
}

/* An id given as a number, or looked up by name at list_path?name= (the first of key[]). */
static long long find_id(td_hubc *c, const char *spec, const char *list_path, const char *key,
                         const char *what)
{
    char path[600], e[300];
    td_err err;
    char *end;
    long long id = strtoll(spec, &end, 10);
    if (*spec && !*end && id > 0)
        return id;
    enc(spec, e, sizeof(e));
    snprintf(path, sizeof(path), "%s?name=%s", list_path, e);
    int rc = td_hubc_json(c, "GET", path, NULL, &err);
    if (rc || c->status != 200) {
        td__cli_hub_fail(c, "submit", rc, err.msg);
        return 0;
    }
    json_t *first = json_array_get(json_object_get(c->json, key), 0);
    if (!first) {
        td__cli_fail("submit: no %s named '%s'", what, spec);
        return 0;
    }
    return json_integer_value(json_object_get(first, "id"));
}

static void print_submission(json_t *s)
{
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(s, "evaluations"), i, ev)
    {
        const char *track = json_string_value(json_object_get(ev, "track"));
        const char *state = json_string_value(json_object_get(ev, "state"));
        printf("  track %lld %s: %s",
               (long long)json_integer_value(json_object_get(ev, "position")),
               track ? track : "(hidden until the league closes)", state ? state : "?");
        json_t *laps = json_object_get(ev, "lap_times_s");
        if (json_is_array(laps)) {
            size_t k;
            json_t *t;
            printf(", %lld laps:",
                   (long long)json_integer_value(json_object_get(ev, "laps_completed")));
            json_array_foreach(laps, k, t) printf(" %.3f", json_number_value(t));
            printf(" s, %lld off-track, %lld resets",
                   (long long)json_integer_value(json_object_get(ev, "off_tracks")),
                   (long long)json_integer_value(json_object_get(ev, "resets")));
        }
        const char *error = json_string_value(json_object_get(ev, "error"));
        if (error)
            printf(" (%s)", error);
        printf("\n");
    }
    json_t *score = json_object_get(s, "score_s");
    printf("  %s", json_string_value(json_object_get(s, "state")));
    if (json_is_number(score))
        printf(", score %.3f s", json_number_value(score));
    printf("\n");
}

static int cmd_submit(int argc, char **argv)
{
    const char *model = NULL, *league = NULL, *division = NULL, *hub = NULL;
    int version = 0, wait = 0, json_out = 0;
    td_hubc c;
    td_err err;
    char path[200];
    const td__cli_opt opts[] = {
        TD_CLI_POS("MODEL", &model, "a model of yours on the hub, by name or id"),
        TD_CLI_REQUIRED_STRING(NULL, "--league", &league, "L", "the league, by id or name"),
        TD_CLI_INT("--version", &version, 1, 1000000000, "V",
                   "the version to enter (default: the latest)"),
        TD_CLI_STRING(NULL, "--division", &division, "D",
                      "the division to race in (when the league has several open to you)"),
        TD_CLI_FLAG("--wait", &wait, "wait for the official evaluation and print the result"),
        TD_CLI_FLAG("--json", &json_out, "print the submission as JSON"),
        TD_CLI_STRING(NULL, "--hub", &hub, "URL",
                      "the hub (default: $TRACKDAY_HUB, else the one of trackday login)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "submit",
        .about = "Enters a version of one of your models in a league: the hub freezes it by its "
                 "content hash and a worker runs the official evaluation with the league's "
                 "settings. A submission over the league's limits is refused with the limit and "
                 "when it resets.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (td__cli_hub_connect(&c, hub))
        return 1;
    long long lid = find_id(&c, league, "/api/v1/leagues", "leagues", "league");
    long long mid = lid ? find_id(&c, model, "/api/v1/models", "models", "model of yours") : 0;
    if (!lid || !mid) {
        td_hubc_free(&c);
        return 1;
    }
    json_t *body = json_pack("{s:I}", "model", (json_int_t)mid);
    if (version)
        json_object_set_new(body, "version", json_integer(version));
    if (division)
        json_object_set_new(body, "division", json_string(division));
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions", lid);
    int rc = td_hubc_json(&c, "POST", path, body, &err);
    json_decref(body);
    if (rc || c.status != 201) {
        rc = td__cli_hub_fail(&c, "submit", rc, err.msg);
        td_hubc_free(&c);
        return rc;
    }
    long long sid = json_integer_value(json_object_get(c.json, "submission"));
    if (!json_out)
        printf("submitted model %lld '%s' version %lld to league %lld: submission %lld (frozen "
               "as sha256 %.16s...)\n",
               mid, json_string_value(json_object_get(json_object_get(c.json, "model"), "name")),
               (long long)json_integer_value(
                   json_object_get(json_object_get(c.json, "model"), "version")),
               lid, sid, json_string_value(json_object_get(c.json, "content_sha256")));
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions/%lld", lid, sid);
    while (wait) {
        const char *state = json_string_value(json_object_get(c.json, "state"));
        if (state && strcmp(state, "evaluating"))
            break;
        sleep(1);
        rc = td_hubc_json(&c, "GET", path, NULL, &err);
        if (rc || c.status != 200) {
            rc = td__cli_hub_fail(&c, "submit", rc, err.msg);
            td_hubc_free(&c);
            return rc;
        }
    }
    if (json_out) {
        char *text = json_dumps(c.json, JSON_INDENT(2));
        printf("%s\n", text ? text : "{}");
        free(text);
    } else {
        print_submission(c.json);
        if (!wait)
            printf("its evaluation: GET %s (or submit with --wait)\n", path);
    }
    td_hubc_free(&c);
    return 0;
}

TD_CLI_COMMAND("submit", "enter a model version in a league on the hub", cmd_submit)
