/*
 * hubcli.h - what the hub's commands share: where the hub keeps its data by default, and
 * reading a password from standard input without echo.
 */
#ifndef TD_CLI_HUBCLI_H
#define TD_CLI_HUBCLI_H

#include <stddef.h>

/* The data directory: arg if given, else $XDG_DATA_HOME/trackday/hub or
 * ~/.local/share/trackday/hub. */
const char *td__cli_hub_data_dir(const char *arg);

/* The database: arg (--db) if given, else $TRACKDAY_HUB_DB, else NULL (DIR/hub.db, SQLite).
 * The environment keeps a PostgreSQL password out of the process list. */
const char *td__cli_hub_db(const char *arg);

/* The --db option every command that opens the hub's database has. */
#define TD_CLI_HUB_DB_OPT(p)                                                                       \
    TD_CLI_STRING(NULL, "--db", p, "URL",                                                          \
                  "the database: postgresql://USER@HOST:PORT/DB (libpq URI; password from "        \
                  "~/.pgpass or PGPASSWORD) for several hub processes; default $TRACKDAY_HUB_DB, " \
                  "else DIR/hub.db (SQLite)")

/*
 * Reads a password: from a terminal with a prompt and no echo, else the first line of standard
 * input. Returns 0, or 1 with a message printed.
 */
int td__cli_read_password(const char *prompt, char *out, size_t cap);

/* ---- Talking to a hub ------------------------------------------------------------------- */

struct td_hubc;
struct td_train_progress;

/*
 * Where the login of `trackday login` is kept: $XDG_CONFIG_HOME/trackday/hub.json or
 * ~/.config/trackday/hub.json (mode 0600).
 */
void td__cli_hub_config_path(char *out, size_t cap);

/*
 * Connects a client to the hub: url_opt (--hub), else $TRACKDAY_HUB, else the saved login's
 * URL; the token from $TRACKDAY_TOKEN or the saved login. Returns 0, or 1 with a message
 * (telling the user to run trackday login).
 */
int td__cli_hub_connect(struct td_hubc *c, const char *url_opt);

/* Prints a message for a failed request ("trackday: what: the hub's message"); returns 1. */
int td__cli_hub_fail(struct td_hubc *c, const char *what, int rc, const char *errmsg);

/* Pushes dir as model `name` (a new model, or the next version of the caller's model of that
 * name); returns 0 or 1 with a message printed. */
int td__cli_push(struct td_hubc *c, const char *dir, const char *name, long long *model_id,
                 long long *version, int *created);
/* Downloads version v (0: the latest) of model id into dir. */
int td__cli_pull(struct td_hubc *c, long long id, long long v, const char *dir);

/* Streams job id's events, printing the live training line, until the job ends; Ctrl-C
 * (stop set) cancels the job once. Fills the final state. Returns 0 or 1. */
int td__cli_watch_job(struct td_hubc *c, long long id, volatile int *stop, char *state, size_t cap,
                      long long *result_version);

/* The status line of `trackday train` (train.c) after iteration p, for a local or a hub run:
 * elapsed_s of training, out of minutes (0: no limit shown). */
void td__cli_train_status_line(const struct td_train_progress *p, double elapsed_s, double minutes);
/* The iteration's numbers as the status line shows them (" | reward ... | N steps/s"). */
void td__cli_train_numbers(const struct td_train_progress *p, char *out, size_t cap);

/* `trackday agent --hub ...` (the daemon) and `trackday agent register` (agent_daemon.c). */
int td__cli_agent_daemon(int argc, char **argv);
int td__cli_agent_register(int argc, char **argv);

/* `trackday train DIR --hub ...` (train_hub.c). */
int td__cli_train_on_hub(int argc, char **argv);

#endif
