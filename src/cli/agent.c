/*
 * agent.c - `trackday agent install|rollback|status`: a car's bundle store (agent.h) from the
 * command line: install a bundle by hand (checked as a deployment is: signature, hashes, not
 * older than the running one, health check; the running bundle kept when any check fails),
 * roll back to the previous one, show what runs. Each subcommand parses its own options with
 * the table-driven parser (opts.h); a new one (the daemon) is one more row in cmd_agent's
 * table. See docs/cli/agent.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "trackday/agent.h"
#ifdef TD_HAVE_HUB
#include "cli/hub/hubcli.h"
#endif

static void print_slot(const char *label, const td_agent_slot *sl)
{
    if (!sl->sha256[0]) {
        printf("%-9s none\n", label);
        return;
    }
    printf("%-9s %s (bundle %s, created %s), installed %s\n", label, sl->name, sl->bundle_id,
           sl->created, sl->installed);
    printf("%-9s sha256 %s\n", "", sl->sha256);
}

static void print_health(const td_agent_result *r)
{
    for (int i = 0; r->health_ran && i < r->health.n_models; i++) {
        const td_bundle_model_health *m = &r->health.models[i];
        printf("health    %-22s %d/%d reference cases within %.3g, median %.3g ms (budget %.3g "
               "ms): %s%s%s\n",
               m->path, m->cases_ok, m->cases, m->tolerance, m->latency_median_ms, m->budget_ms,
               m->ok ? "ok" : "FAILED", m->ok ? "" : ": ", m->why);
    }
}

static int kept(const td_agent_store *s, const char *what, const td_err *err)
{
    if (s->active.sha256[0])
        return td__cli_fail("agent: %s REFUSED: %s (kept the running bundle %s, %s)", what,
                            err->msg, s->active.bundle_id, s->active.name);
    return td__cli_fail("agent: %s REFUSED: %s (no bundle installed)", what, err->msg);
}

/*
 * Opens the store in data with the public key in key (NULL: no key, the store is read but
 * bundles are not checked). Returns 0, or reports the problem and returns the exit status.
 */
static int open_store(td_agent_store *s, const char *data, const char *key)
{
    uint8_t pk[TD_SIGN_PUBLIC_BYTES];
    td_err err;
    if (key && td_sign_public_load(key, pk, NULL, &err) != 0)
        return td__cli_fail("agent: %s", err.msg);
    if (td_agent_store_open(s, data, key ? pk : NULL, &err) != 0) {
        td_agent_store_close(s);
        return td__cli_fail("agent: %s", err.msg);
    }
    return 0;
}

/* The rows every subcommand shares. */
#define AGENT_DATA_ROW                                                                             \
    TD_CLI_REQUIRED_STRING(NULL, "--data", &data, "DIR",                                           \
                           "the car's bundle store (created when missing): state.json, "           \
                           "bundles/, incoming/")
#define AGENT_KEY_ROW                                                                              \
    TD_CLI_REQUIRED_STRING(NULL, "--key", &key, "KEY.pub",                                         \
                           "the public key bundles must be signed with (trackday keygen)")

/* ------------------------------------------------------------------------------------ */
/* install, rollback, status                                                            */
/* ------------------------------------------------------------------------------------ */

static int cmd_agent_install(int argc, char **argv)
{
    const char *path = NULL, *data = NULL, *key = NULL, *sha = NULL;
    int allow_older = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("BUNDLE", &path, "the bundle file (.tdb, from trackday export --format bundle)"),
        AGENT_DATA_ROW,
        AGENT_KEY_ROW,
        TD_CLI_SHA256("--sha256", &sha,
                      "the bundle file's expected SHA-256, as a deployment names it"),
        TD_CLI_FLAG("--allow-older", &allow_older,
                    "install a bundle created before the running one (a rollback to an older "
                    "model); without it such a bundle is refused, so a replayed old download "
                    "cannot take a car back"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "agent install",
        .about = "Checks a bundle and makes it the one the car runs: the signature by KEY.pub, "
                 "the size and SHA-256 of every file, not older than the running bundle, then "
                 "the health check of every model; only then the switch, one atomic rename. "
                 "When any check fails the running bundle is kept and the exit status is 1.",
        .opts = opts,
    };
    int rc = td__cli_parse(&spec, argc, argv);
    if (rc != TD_CLI_RUN)
        return rc;
    td_agent_store s;
    if ((rc = open_store(&s, data, key)) != 0)
        return rc;
    td_agent_result r;
    td_err err;
    td__cli_status("checking %s: signature, files, health check", path);
    int irc = td_agent_install(&s, path, sha, allow_older ? TD_AGENT_ALLOW_OLDER : 0, &r, &err);
    td__cli_status_done();
    if (irc) {
        print_health(&r);
        rc = kept(&s, "install", &err);
    } else if (!r.installed) {
        printf("unchanged: %s is already the active bundle (%s)\n", path, s.active.bundle_id);
    } else {
        print_health(&r);
        print_slot("installed", &s.active);
        print_slot("previous", &s.previous);
    }
    td_agent_store_close(&s);
    return rc;
}

static int cmd_agent_rollback(int argc, char **argv)
{
    const char *data = NULL, *key = NULL;
    const td__cli_opt opts[] = {AGENT_DATA_ROW, AGENT_KEY_ROW, TD_CLI_END};
    const td__cli_spec spec = {
        .name = "agent rollback",
        .about = "Switches back to the previous bundle, checked again (signature, hashes, "
                 "health check); the bundle it replaces becomes the previous one. When a check "
                 "fails the running bundle is kept and the exit status is 1.",
        .opts = opts,
    };
    int rc = td__cli_parse(&spec, argc, argv);
    if (rc != TD_CLI_RUN)
        return rc;
    td_agent_store s;
    if ((rc = open_store(&s, data, key)) != 0)
        return rc;
    td_agent_result r;
    td_err err;
    td__cli_status("checking the previous bundle: signature, files, health check");
    int rrc = td_agent_rollback(&s, &r, &err);
    td__cli_status_done();
    if (rrc) {
        print_health(&r);
        rc = kept(&s, "rollback", &err);
    } else {
        print_health(&r);
        print_slot("active", &s.active);
        print_slot("previous", &s.previous);
        printf("rolled back\n");
    }
    td_agent_store_close(&s);
    return rc;
}

static void print_history(const td_agent_store *s)
{
    size_t n = json_array_size(s->history), first = n > 5 ? n - 5 : 0;
    for (size_t i = first; i < n; i++) {
        const json_t *e = json_array_get(s->history, i);
        const char *why = json_string_value(json_object_get(e, "why"));
        printf("history   %s %-16s %.16s%s%s\n", json_string_value(json_object_get(e, "time")),
               json_string_value(json_object_get(e, "event")),
               json_string_value(json_object_get(e, "sha256")), why && why[0] ? ": " : "",
               why ? why : "");
    }
}

static int cmd_agent_status(int argc, char **argv)
{
    const char *data = NULL, *key = NULL;
    int as_json = 0;
    const td__cli_opt opts[] = {
        AGENT_DATA_ROW,
        TD_CLI_STRING(NULL, "--key", &key, "KEY.pub",
                      "check the active bundle's signature and every file's SHA-256 again with "
                      "this public key (exit status 1 when they do not hold)"),
        TD_CLI_FLAG("--json", &as_json, "print the state as JSON"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "agent status",
        .about = "Shows the active and the previous bundle and the last events of the history.",
        .opts = opts,
    };
    int rc = td__cli_parse(&spec, argc, argv);
    if (rc != TD_CLI_RUN)
        return rc;
    td_agent_store s;
    if ((rc = open_store(&s, data, key)) != 0)
        return rc;
    int verified = -1;
    td_err err;
    if (key && s.active.sha256[0]) {
        td_bundle b;
        verified = td_agent_open_active(&s, &b, &err) == 0;
        td_bundle_close(&b);
    }
    if (as_json) {
        json_t *j = td_agent_state_json(&s);
        if (verified >= 0)
            json_object_set_new(j, "active_verified", json_boolean(verified));
        char *text = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(j);
    } else {
        print_slot("active", &s.active);
        print_slot("previous", &s.previous);
        print_history(&s);
        if (verified == 1)
            printf("verified  the active bundle's signature and every file's SHA-256\n");
    }
    if (verified == 0)
        rc = td__cli_fail("agent: the active bundle does not verify: %s", err.msg);
    td_agent_store_close(&s);
    return rc;
}

static int cmd_agent(int argc, char **argv)
{
    static const td__cli_sub subs[] = {
        {"install", "check a bundle and switch the car to it (the running one kept on failure)",
         cmd_agent_install},
        {"rollback", "switch back to the previous bundle", cmd_agent_rollback},
        {"status", "the active and previous bundle and the history", cmd_agent_status},
#ifdef TD_HAVE_HUB
        {"register", "print this car's signed registration request for a hub",
         td__cli_agent_register},
#endif
        {NULL, NULL, NULL},
    };
#ifdef TD_HAVE_HUB
    /* `trackday agent --hub URL ...`: the daemon (agent_daemon.c). */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--hub") || !strncmp(argv[i], "--hub=", 6))
            return td__cli_agent_daemon(argc, argv);
#endif
    return td__cli_dispatch("agent",
                            "The bundle store of a car: install checks a bundle (signature, "
                            "every file's SHA-256, not older than the running bundle, the health "
                            "check) and switches to it atomically; when a check fails the running "
                            "bundle is kept. rollback switches back to the previous bundle. "
                            "status shows both and the history. With --hub URL the agent runs "
                            "as the car's daemon: trackday agent --hub URL --help.",
                            subs, argc, argv);
}

TD_CLI_COMMAND("agent", "a car's bundle store: install, roll back, status", cmd_agent)
