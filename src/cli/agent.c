/*
 * agent.c - `trackday agent install|rollback|status`: a car's bundle store (agent.h) from the
 * command line: install a bundle by hand (checked as a deployment is: signature, hashes, not
 * older than the running one, health check; the running bundle kept when any check fails),
 * roll back to the previous one, show what runs. See docs/cli/agent.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/agent.h"
#ifdef TD_HAVE_HUB
#include "cli/hub/hubcli.h"
#endif

static int usage(FILE *o)
{
    fprintf(o, "usage: trackday agent install BUNDLE --data DIR --key KEY.pub [--sha256 HEX]\n"
               "                              [--allow-older]\n"
               "       trackday agent rollback --data DIR --key KEY.pub\n"
               "       trackday agent status --data DIR [--key KEY.pub] [--json]\n"
               "\nThe bundle store of a car in DIR: install checks the bundle (the signature by\n"
               "KEY.pub, every file's SHA-256, not older than the running bundle, the health\n"
               "check) and switches to it atomically; when a check fails the running bundle is\n"
               "kept. rollback switches back to the previous bundle. status shows both and the\n"
               "history (with --key, the active bundle is checked again).\n\n"
               "options:\n"
               "  -h, --help      print this help\n"
               "  --data DIR      the car's bundle store (required)\n"
               "  --key KEY.pub   the public key bundles must be signed with\n"
               "  --sha256 HEX    the bundle file's expected SHA-256 (as a deployment names it)\n"
               "  --allow-older   install a bundle older than the running one (a rollback)\n"
               "  --json          status as JSON\n");
    return o == stdout ? 0 : 2;
}

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

static int cmd_agent(int argc, char **argv)
{
    const char *sub = NULL, *path = NULL, *data = NULL, *key = NULL, *sha = NULL;
    int allow_older = 0, as_json = 0;
#ifdef TD_HAVE_HUB
    /* The daemon (`agent --hub URL ...`) and `agent register`: agent_daemon.c. */
    if (argc > 1 && !strcmp(argv[1], "register"))
        return td__cli_agent_register(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--hub") || !strncmp(argv[i], "--hub=", 6))
            return td__cli_agent_daemon(argc, argv);
#endif
    if (td__cli_wants_help(argc, argv))
        return usage(stdout);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(a, "--key") && i + 1 < argc)
            key = argv[++i];
        else if (!strcmp(a, "--sha256") && i + 1 < argc)
            sha = argv[++i];
        else if (!strcmp(a, "--allow-older"))
            allow_older = 1;
        else if (!strcmp(a, "--json"))
            as_json = 1;
        else if (a[0] == '-')
            return td__cli_fail("agent: unknown or incomplete option '%s' (see --help)", a);
        else if (!sub)
            sub = a;
        else if (!path)
            path = a;
        else
            return td__cli_fail("agent: unexpected argument '%s'", a);
    }
    if (!sub)
        return usage(stderr);
    int install = !strcmp(sub, "install"), rollback = !strcmp(sub, "rollback");
    if (!install && !rollback && strcmp(sub, "status") != 0)
        return td__cli_fail("agent: unknown subcommand '%s' (install, rollback, status)", sub);
    if (install && !path)
        return td__cli_fail("agent: install needs the bundle file");
    if (!install && path)
        return td__cli_fail("agent: unexpected argument '%s'", path);
    if (!data)
        return td__cli_fail("agent: --data DIR is required (the car's bundle store)");
    if ((install || rollback) && !key)
        return td__cli_fail("agent: --key KEY.pub is required (the trusted signer's public key)");
    if (sha && (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64))
        return td__cli_fail("agent: --sha256 needs 64 lowercase hex digits");
    uint8_t pk[TD_SIGN_PUBLIC_BYTES];
    td_err err;
    if (key && td_sign_public_load(key, pk, NULL, &err) != 0)
        return td__cli_fail("agent: %s", err.msg);
    td_agent_store s;
    if (td_agent_store_open(&s, data, key ? pk : NULL, &err) != 0) {
        td_agent_store_close(&s);
        return td__cli_fail("agent: %s", err.msg);
    }
    td_agent_result r;
    int rc = 0;
    if (install) {
        if (td_agent_install(&s, path, sha, allow_older ? TD_AGENT_ALLOW_OLDER : 0, &r, &err)) {
            print_health(&r);
            rc = kept(&s, "install", &err);
        } else if (!r.installed) {
            printf("unchanged: %s is already the active bundle (%s)\n", path, s.active.bundle_id);
        } else {
            print_health(&r);
            print_slot("installed", &s.active);
            print_slot("previous", &s.previous);
        }
    } else if (rollback) {
        if (td_agent_rollback(&s, &r, &err)) {
            print_health(&r);
            rc = kept(&s, "rollback", &err);
        } else {
            print_health(&r);
            print_slot("active", &s.active);
            print_slot("previous", &s.previous);
            printf("rolled back\n");
        }
    } else {
        int verified = -1;
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
            size_t n = json_array_size(s.history), first = n > 5 ? n - 5 : 0;
            for (size_t i = first; i < n; i++) {
                const json_t *e = json_array_get(s.history, i);
                const char *why = json_string_value(json_object_get(e, "why"));
                printf("history   %s %-16s %.16s%s%s\n",
                       json_string_value(json_object_get(e, "time")),
                       json_string_value(json_object_get(e, "event")),
                       json_string_value(json_object_get(e, "sha256")), why && why[0] ? ": " : "",
                       why ? why : "");
            }
            if (verified == 1)
                printf("verified  the active bundle's signature and every file's SHA-256\n");
        }
        if (verified == 0)
            rc = td__cli_fail("agent: the active bundle does not verify: %s", err.msg);
    }
    td_agent_store_close(&s);
    return rc;
}

TD_CLI_COMMAND("agent", "a car's bundle store: install, roll back, status", cmd_agent)
