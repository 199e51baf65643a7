/*
 * login.c - `trackday login URL` and `trackday logout`: a session with a hub, saved for the
 * other hub commands in ~/.config/trackday/hub.json (mode 0600). Also the connection helpers
 * those commands share.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hub/hubcli.h"
#include "trackday/hubclient.h"
#include "trackday/json.h"

void td__cli_hub_config_path(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, cap, "%s/trackday/hub.json", xdg);
    else
        snprintf(out, cap, "%s/.config/trackday/hub.json", home && *home ? home : ".");
}

int td__cli_hub_connect(td_hubc *c, const char *url_opt)
{
    char path[1200];
    json_t *cfg = NULL;
    const char *url = url_opt, *token = getenv("TRACKDAY_TOKEN");
    td_err err;
    td__cli_hub_config_path(path, sizeof(path));
    if (td_path_exists(path))
        td_json_load_file(path, &cfg, NULL);
    if (!url)
        url = getenv("TRACKDAY_HUB");
    if (!url && cfg)
        url = json_string_value(json_object_get(cfg, "url"));
    if ((!token || !*token) && cfg)
        token = json_string_value(json_object_get(cfg, "token"));
    if (!url || !token || !*token) {
        json_decref(cfg);
        return td__cli_fail("not logged in to a hub: run 'trackday login URL' first");
    }
    int rc = td_hubc_init(c, url, token, &err);
    json_decref(cfg);
    if (rc)
        return td__cli_fail("%s", err.msg);
    return 0;
}

int td__cli_hub_fail(td_hubc *c, const char *what, int rc, const char *errmsg)
{
    if (rc)
        return td__cli_fail("%s: %s", what, errmsg);
    if (c->status == 401)
        return td__cli_fail("%s: %s (log in again: trackday login %s)", what, td_hubc_error(c),
                            c->url);
    return td__cli_fail("%s: %s", what, td_hubc_error(c));
}

static int cmd_login(int argc, char **argv)
{
    const char *url = NULL, *user = NULL;
    char name[128], pw[300], path[1200];
    td_hubc c;
    td_err err;
    int rc;
    const td__cli_opt opts[] = {
        TD_CLI_POS("URL", &url, "the hub's address, as trackday serve printed it"),
        TD_CLI_STRING(NULL, "--user", &user, "NAME",
                      "the account (asked on a terminal; needed when standard input is not one)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "login",
        .about = "Logs in to a hub (the password from the terminal without echo, or the first "
                 "line of standard input) and keeps the session token in "
                 "~/.config/trackday/hub.json (mode 0600) for push, pull, jobs and train --hub.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (!user) {
        if (isatty(0)) {
            fprintf(stderr, "user name: ");
            if (!fgets(name, sizeof(name), stdin))
                return td__cli_fail("no user name");
            name[strcspn(name, "\r\n")] = 0;
            user = name;
        } else {
            return td__cli_fail("--user NAME is needed when standard input is not a terminal");
        }
    }
    if (td__cli_read_password("password: ", pw, sizeof(pw)))
        return 1;
    if (td_hubc_init(&c, url, NULL, &err))
        return td__cli_fail("%s", err.msg);
    json_t *body = json_pack("{s:s,s:s}", "username", user, "password", pw);
    memset(pw, 0, sizeof(pw));
    rc = td_hubc_json(&c, "POST", "/api/v1/sessions", body, &err);
    json_decref(body);
    if (rc || c.status != 201) {
        rc = td__cli_hub_fail(&c, "login", rc, err.msg);
        td_hubc_free(&c);
        return rc;
    }
    json_t *cfg = json_pack("{s:s,s:s,s:O,s:O}", "url", c.url, "username", user, "token",
                            json_object_get(c.json, "token"), "expires_at",
                            json_object_get(c.json, "expires_at"));
    td__cli_hub_config_path(path, sizeof(path));
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = 0;
    rc = td_mkdir_p(dir, &err);
    if (!rc) {
        /* Written 0600 from the start: the token is a password for the hub. */
        char *text = json_dumps(cfg, JSON_INDENT(2));
        char tmp[1300];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || fchmod(fd, 0600) || write(fd, text, strlen(text)) < 0 || fsync(fd) ||
            close(fd) || rename(tmp, path)) {
            rc = td_err_set(&err, TD_EIO, "%s: %s", path, strerror(errno));
        }
        free(text);
    }
    json_decref(cfg);
    td_hubc_free(&c);
    if (rc)
        return td__cli_fail("%s", err.msg);
    printf("logged in to %s as %s (token saved in %s)\n", url, user, path);
    return 0;
}

static int cmd_logout(int argc, char **argv)
{
    char path[1200];
    td_hubc c;
    td_err err;
    const td__cli_opt opts[] = {TD_CLI_END};
    const td__cli_spec spec = {
        .name = "logout",
        .about = "Ends the saved hub session (trackday login) and forgets its token.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    td__cli_hub_config_path(path, sizeof(path));
    if (!td_path_exists(path))
        return td__cli_fail("not logged in");
    if (td__cli_hub_connect(&c, NULL) == 0) {
        if (td_hubc_json(&c, "DELETE", "/api/v1/sessions/current", NULL, &err) == 0 &&
            c.status != 204 && c.status != 401)
            fprintf(stderr, "trackday: the hub said: %s\n", td_hubc_error(&c));
        td_hubc_free(&c);
    }
    unlink(path);
    printf("logged out\n");
    return 0;
}

TD_CLI_COMMAND("login", "log in to a hub (saved for push, pull, jobs, train --hub)", cmd_login)
TD_CLI_COMMAND("logout", "end the saved hub session", cmd_logout)
