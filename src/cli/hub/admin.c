/*
 * admin.c - `trackday admin`: what the person running the hub does on its machine, with the
 * data directory's database opened directly (the hub may be running: SQLite's WAL lets both
 * work): create accounts and worker tokens, set a password, migrate, collect unused files.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/hub/hubcli.h"
#include "trackday/hub.h"

/* The options every subcommand has. */
static const char *admin_db;

#define ADMIN_DATA_OPT(p)                                                                          \
    TD_CLI_STRING(NULL, "--data", p, "DIR",                                                        \
                  "the hub's data directory (default ~/.local/share/trackday/hub)"),               \
        TD_CLI_HUB_DB_OPT(&admin_db)

static int open_hub(const char *data, int fast, td_hub **hub)
{
    td_hub_options o;
    td_err err;
    td_hub_options_default(&o);
    o.data_dir = td__cli_hub_data_dir(data);
    o.db = td__cli_hub_db(admin_db);
    o.db_pool = 1;
    o.tracks_dir = td__cli_tracks_dir(); /* seed-content's tracks are checked by name */
    o.fast_passwords = fast;
    if (td_hub_open(hub, &o, &err))
        return td__cli_fail("%s", err.msg);
    return 0;
}

/* Parses argv against spec, then opens the hub (*fast: the flag, may be NULL): TD_CLI_RUN with
 * *hub open, or the exit status (help shown, a usage error, the hub not opened). */
static int parse_open(const td__cli_spec *spec, int argc, char **argv, const char *const *data,
                      const int *fast, td_hub **hub)
{
    int prc = td__cli_parse(spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    return open_hub(*data, fast ? *fast : 0, hub) ? 1 : TD_CLI_RUN;
}

/* parse_open, then reads the password (the hub is closed if that fails). */
static int parse_open_password(const td__cli_spec *spec, int argc, char **argv,
                               const char *const *data, const int *fast, td_hub **hub, char *pw,
                               size_t cap)
{
    int prc = parse_open(spec, argc, argv, data, fast, hub);
    if (prc != TD_CLI_RUN)
        return prc;
    if (td__cli_read_password("password: ", pw, cap)) {
        td_hub_close(*hub);
        return 1;
    }
    return TD_CLI_RUN;
}

/* Closes the hub; the exit status of a call that returned rc (its error said). */
static int close_hub(td_hub *hub, int rc, const td_err *err)
{
    td_hub_close(hub);
    return rc ? td__cli_fail("%s", err->msg) : 0;
}

static int cmd_create_user(int argc, char **argv)
{
    const char *data = NULL, *name = NULL, *role = NULL, *email = NULL;
    int fast = 0, rc;
    td_hub *hub;
    td_err err;
    char pw[300];
    int64_t id = 0;
    const td__cli_opt opts[] = {
        ADMIN_DATA_OPT(&data),
        TD_CLI_REQUIRED_STRING(NULL, "--name", &name, "N", "the user name"),
        {.name = "--role",
         .kind = TD__CLI_CHOICE,
         .dst = &role,
         .arg = "admin|instructor|learner",
         .required = 1,
         .help = "what the account may do (docs/api.md, Authorization)"},
        TD_CLI_STRING(NULL, "--email", &email, "E", "an e-mail address"),
        TD_CLI_FLAG("--insecure-fast-passwords", &fast, "tests: argon2id at its minimum cost"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "admin create-user",
        .about = "Creates an account; the password is read from the terminal without echo, or "
                 "from the first line of standard input.",
        .opts = opts,
        .usage = "--name N --role ROLE [options]"};
    int prc = parse_open_password(&spec, argc, argv, &data, &fast, &hub, pw, sizeof(pw));
    if (prc != TD_CLI_RUN)
        return prc;
    rc = td_hub_create_user(hub, name, role, pw, email, &id, &err);
    memset(pw, 0, sizeof(pw));
    if (close_hub(hub, rc, &err))
        return 1;
    printf("created %s '%s' (id %lld)\n", role, name, (long long)id);
    return 0;
}

static int cmd_set_password(int argc, char **argv)
{
    const char *data = NULL, *name = NULL;
    int fast = 0, rc;
    td_hub *hub;
    td_err err;
    char pw[300];
    const td__cli_opt opts[] = {
        ADMIN_DATA_OPT(&data),
        TD_CLI_REQUIRED_STRING(NULL, "--name", &name, "N", "the user name"),
        TD_CLI_FLAG("--insecure-fast-passwords", &fast, "tests: argon2id at its minimum cost"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "admin set-password",
        .about = "Sets a new password (read as create-user reads it) and ends the user's "
                 "sessions.",
        .opts = opts};
    int prc = parse_open_password(&spec, argc, argv, &data, &fast, &hub, pw, sizeof(pw));
    if (prc != TD_CLI_RUN)
        return prc;
    rc = td_hub_set_password(hub, name, pw, &err);
    memset(pw, 0, sizeof(pw));
    if (close_hub(hub, rc, &err))
        return 1;
    printf("password of '%s' changed; their sessions ended\n", name);
    return 0;
}

static int cmd_create_worker(int argc, char **argv)
{
    const char *data = NULL, *name = NULL;
    td_hub *hub;
    td_err err;
    char token[128];
    const td__cli_opt opts[] = {
        ADMIN_DATA_OPT(&data),
        TD_CLI_REQUIRED_STRING(NULL, "--name", &name, "W", "the worker machine's name"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "admin create-worker",
        .about = "Registers a worker machine and prints its token (shown only once) for "
                 "'trackday worker --token'.",
        .opts = opts};
    int prc = parse_open(&spec, argc, argv, &data, NULL, &hub);
    if (prc != TD_CLI_RUN)
        return prc;
    if (close_hub(hub, td_hub_create_worker(hub, name, token, sizeof(token), &err), &err))
        return 1;
    printf("%s\n", token);
    fprintf(stderr,
            "worker '%s' registered; its token (above) is shown only once:\n"
            "  trackday worker --hub URL --token TOKEN\n",
            name);
    return 0;
}

static int cmd_migrate(int argc, char **argv)
{
    const char *data = NULL;
    td_hub *hub;
    td_err err;
    int cur = 0, latest = 0;
    const td__cli_opt opts[] = {ADMIN_DATA_OPT(&data), TD_CLI_END};
    const td__cli_spec spec = {
        .name = "admin migrate",
        .about = "Applies the schema migrations (trackday serve also does at start) and prints "
                 "the schema version.",
        .opts = opts};
    int prc = parse_open(&spec, argc, argv, &data, NULL, &hub);
    if (prc != TD_CLI_RUN)
        return prc;
    if (close_hub(hub, td_hub_schema_version(hub, &cur, &latest, &err), &err))
        return 1;
    printf("schema version %d (this trackday knows %d)\n", cur, latest);
    return 0;
}

static int cmd_gc(int argc, char **argv)
{
    const char *data = NULL;
    int purge = 0, dry = 0;
    long older = 3600;
    td_hub_gc_result res;
    td_hub *hub;
    td_err err;
    const td__cli_opt opts[] = {
        ADMIN_DATA_OPT(&data),
        TD_CLI_FLAG("--purge-deleted", &purge, "also the versions of deleted models"),
        TD_CLI_FLAG("--dry-run", &dry, "say what would be deleted; delete nothing"),
        TD_CLI_LONG("--older-than", &older, 0, 315360000L, "S",
                    "only files unchanged for S seconds (default 3600; uploads in progress are "
                    "always kept)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "admin gc",
                               .about = "Deletes stored files nothing refers to any more.",
                               .opts = opts};
    int prc = parse_open(&spec, argc, argv, &data, NULL, &hub);
    if (prc != TD_CLI_RUN)
        return prc;
    if (close_hub(hub, td_hub_collect(hub, dry, purge, older, &res, &err), &err))
        return 1;
    if (dry)
        printf("dry run: would delete %lld unused files, %.1f MB, %lld filesets%s; nothing "
               "deleted\n",
               res.blobs, (double)res.bytes / 1e6, res.filesets,
               purge ? " (with the versions of deleted models)" : "");
    else
        printf("deleted %lld unused files, %.1f MB\n", res.blobs, (double)res.bytes / 1e6);
    return 0;
}

static void print_line(void *user, const char *line)
{
    (void)user;
    printf("%s\n", line);
}

static int cmd_seed_content(int argc, char **argv)
{
    const char *data = NULL, *owner = NULL;
    int class_id = 0;
    td_hub *hub;
    td_err err;
    const td__cli_opt opts[] = {
        ADMIN_DATA_OPT(&data),
        TD_CLI_REQUIRED_STRING(NULL, "--owner", &owner, "NAME",
                               "the instructor or admin who runs the content"),
        TD_CLI_INT("--class", &class_id, 1, 2000000000, "ID",
                   "the class that gets the assignments (default: a 'Starter class' of the "
                   "owner's, made if missing)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "admin seed-content",
        .about = "Installs the leagues and assignments trackday ships with: a beginner time "
                 "trial, an object-avoidance cup and a hidden-track qualifier (open to every "
                 "account), and three assignments for a class (follow the centre line; go faster "
                 "without crashing; generalise to an unseen track). Running it again adds only "
                 "what is missing.",
        .opts = opts};
    int prc = parse_open(&spec, argc, argv, &data, NULL, &hub);
    if (prc != TD_CLI_RUN)
        return prc;
    int rc = td_hub_seed_content(hub, owner, class_id, print_line, NULL, &err);
    td_hub_close(hub);
    if (rc)
        return td__cli_fail("seed-content: %s", err.msg);
    return 0;
}

static int cmd_admin(int argc, char **argv)
{
    static const td__cli_sub subs[] = {
        {"create-user", "a new account (password on standard input)", cmd_create_user},
        {"set-password", "a new password (standard input); ends the user's sessions",
         cmd_set_password},
        {"create-worker", "a worker machine: prints its token (shown once)", cmd_create_worker},
        {"migrate", "apply schema migrations and print the version", cmd_migrate},
        {"gc", "delete stored files nothing refers to any more", cmd_gc},
        {"seed-content", "install the shipped leagues and assignments", cmd_seed_content},
        {NULL, NULL, NULL},
    };
    return td__cli_dispatch("admin",
                            "Hub administration on the hub's machine, with its data directory "
                            "opened directly (the hub may be running).",
                            subs, argc, argv);
}

TD_CLI_COMMAND("admin", "hub administration: accounts, worker tokens, storage", cmd_admin)
