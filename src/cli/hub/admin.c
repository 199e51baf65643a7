/*
 * admin.c - `trackday admin`: what the person running the hub does on its machine, with the
 * data directory's database opened directly (the hub may be running: SQLite's WAL lets both
 * work): create accounts and worker tokens, set a password, collect unused files.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/hub/hubcli.h"
#include "trackday/hub.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: trackday admin SUBCOMMAND --data DIR [options]\n\n"
               "  create-user --name N --role admin|instructor|learner [--email E]\n"
               "                 a new account; the password is read from standard input\n"
               "  set-password --name N       a new password (standard input); ends sessions\n"
               "  create-worker --name W      a worker machine: prints its token (shown once)\n"
               "                              for 'trackday worker --token'\n"
               "  migrate                     apply schema migrations and print the version\n"
               "  gc [--purge-deleted]        delete stored files nothing refers to any more\n"
               "                              (--purge-deleted: also deleted models' versions)\n\n"
               "options:\n"
               "  -h, --help   print this help\n"
               "  --data DIR   the hub's data directory (default ~/.local/share/trackday/hub)\n"
               "  --insecure-fast-passwords   tests: argon2id at its minimum cost\n");
}

static int cmd_admin(int argc, char **argv)
{
    const char *sub, *data = NULL, *name = NULL, *role = NULL, *email = NULL;
    td_hub_options o;
    td_hub *hub;
    td_err err;
    int rc = 0, fast = 0, purge = 0;

    if (argc < 2 || td__cli_wants_help(argc, argv)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    sub = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--insecure-fast-passwords")) {
            fast = 1;
            continue;
        }
        if (!strcmp(a, "--purge-deleted")) {
            purge = 1;
            continue;
        }
        if (!v)
            return td__cli_fail("%s needs a value (see trackday admin --help)", a);
        i++;
        if (!strcmp(a, "--data"))
            data = v;
        else if (!strcmp(a, "--name"))
            name = v;
        else if (!strcmp(a, "--role"))
            role = v;
        else if (!strcmp(a, "--email"))
            email = v;
        else
            return td__cli_fail("unknown option '%s' (see trackday admin --help)", a);
    }
    if (strcmp(sub, "create-user") && strcmp(sub, "set-password") && strcmp(sub, "create-worker") &&
        strcmp(sub, "migrate") && strcmp(sub, "gc")) {
        usage(stderr);
        return td__cli_fail("unknown subcommand '%s'", sub);
    }
    if ((!strcmp(sub, "create-user") || !strcmp(sub, "set-password") ||
         !strcmp(sub, "create-worker")) &&
        !name)
        return td__cli_fail("admin %s needs --name", sub);
    if (!strcmp(sub, "create-user") && !role)
        return td__cli_fail("admin create-user needs --role admin|instructor|learner");

    td_hub_options_default(&o);
    o.data_dir = td__cli_hub_data_dir(data);
    o.fast_passwords = fast;
    if (td_hub_open(&hub, &o, &err))
        return td__cli_fail("%s", err.msg);
    if (!strcmp(sub, "create-user") || !strcmp(sub, "set-password")) {
        char pw[300];
        int64_t id = 0;
        if (td__cli_read_password("password: ", pw, sizeof(pw))) {
            td_hub_close(hub);
            return 1;
        }
        if (!strcmp(sub, "create-user")) {
            rc = td_hub_create_user(hub, name, role, pw, email, &id, &err);
            if (!rc)
                printf("created %s '%s' (id %lld)\n", role, name, (long long)id);
        } else {
            rc = td_hub_set_password(hub, name, pw, &err);
            if (!rc)
                printf("password of '%s' changed; their sessions ended\n", name);
        }
        memset(pw, 0, sizeof(pw));
    } else if (!strcmp(sub, "create-worker")) {
        char token[128];
        rc = td_hub_create_worker(hub, name, token, sizeof(token), &err);
        if (!rc) {
            printf("%s\n", token);
            fprintf(stderr,
                    "worker '%s' registered; its token (above) is shown only once:\n"
                    "  trackday worker --hub URL --token TOKEN\n",
                    name);
        }
    } else if (!strcmp(sub, "gc")) {
        uint64_t bytes = 0;
        int blobs = 0;
        rc = td_hub_gc(hub, purge, &bytes, &blobs, &err);
        if (!rc)
            printf("deleted %d unused files, %.1f MB\n", blobs, (double)bytes / 1e6);
    } else {
        int cur = 0, latest = 0;
        rc = td_hub_schema_version(hub, &cur, &latest, &err);
        if (!rc)
            printf("schema version %d (this trackday knows %d)\n", cur, latest);
    }
    td_hub_close(hub);
    return rc ? td__cli_fail("%s", err.msg) : 0;
}

TD_CLI_COMMAND("admin", "hub administration: accounts, worker tokens, storage", cmd_admin)
