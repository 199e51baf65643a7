/*
 * main.c - the `trackday` command: finds the subcommand and runs it.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "trackday/core.h"
#include "trackday/modeldir.h"
#include "trackday/reward.h"
#include "trackday/track.h"

#define TD_DEFAULT_TRACK "kidney"

#ifndef TD_SOURCE_DIR
#define TD_SOURCE_DIR "."
#endif
#ifndef TD_VERSION
#define TD_VERSION "unknown"
#endif

void td__cli_print_warnings(const struct td_config_warnings *w)
{
    for (int i = 0; i < w->n; i++)
        fprintf(stderr, "trackday: warning: %s\n", w->msg[i]);
    if (w->dropped)
        fprintf(stderr, "trackday: warning: ... and %d more\n", w->dropped);
}

int td__cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;
    if (!s)
        return td__cli_fail("%s needs a value", opt);
    v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return td__cli_fail("%s: '%s' is not a number", opt, s);
    if (v < lo || v > hi)
        return td__cli_fail("%s: %g is outside [%g, %g]", opt, v, lo, hi);
    *out = v;
    return 0;
}

int td__cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    if (!s)
        return td__cli_fail("%s needs a value", opt);
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end || errno)
        return td__cli_fail("%s: '%s' is not a whole number", opt, s);
    if (v < lo || v > hi)
        return td__cli_fail("%s: %ld is outside [%ld, %ld]", opt, v, lo, hi);
    *out = v;
    return 0;
}

int td__cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

const char *td__cli_tracks_dir(void)
{
    static char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tracks", TD_SOURCE_DIR);
    return dir;
}

/* Folders given with --tracks-dir (anywhere on the command line, taken out by main). */
#define MAX_TRACK_DIRS 16
static const char *option_dirs[MAX_TRACK_DIRS];
static int n_option_dirs;

/* TRACKDAY_TRACKS, split at ':'. */
static char env_dirs_buf[4096];
static const char *env_dirs[MAX_TRACK_DIRS];
static int n_env_dirs = -1;

static void split_env_dirs(void)
{
    const char *env = getenv("TRACKDAY_TRACKS");
    n_env_dirs = 0;
    if (!env || !*env)
        return;
    snprintf(env_dirs_buf, sizeof(env_dirs_buf), "%s", env);
    for (char *p = env_dirs_buf; p && n_env_dirs < MAX_TRACK_DIRS;) {
        char *colon = strchr(p, ':');
        if (colon)
            *colon = '\0';
        if (*p)
            env_dirs[n_env_dirs++] = p;
        p = colon ? colon + 1 : NULL;
    }
}

int td__cli_track_search_path(const char *model_dir, const char **dirs, int cap)
{
    static char shared[4096];
    int n = 0;
    if (n_env_dirs < 0)
        split_env_dirs();
    for (int i = 0; i < n_option_dirs && n < cap; i++)
        dirs[n++] = option_dirs[i];
    for (int i = 0; i < n_env_dirs && n < cap; i++)
        dirs[n++] = env_dirs[i];
    if (model_dir && n < cap)
        dirs[n++] = model_dir;
    if (n < cap)
        dirs[n++] = td__cli_tracks_dir();
    /* DeepRacer's reference routes beside the source tree (the tests' ../shared/tracks). */
    snprintf(shared, sizeof(shared), "%s/../shared/tracks", TD_SOURCE_DIR);
    if (n < cap)
        dirs[n++] = shared;
    /* An installed command (make install PREFIX=...): PREFIX/share/trackday/tracks. */
    static char installed[4096];
    if (!installed[0]) {
        char exe[4096];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        char *slash = len > 0 ? (exe[len] = '\0', strrchr(exe, '/')) : NULL;
        if (slash) {
            *slash = '\0';
            if (td_path_fmt(installed, sizeof(installed), NULL, "%s/../share/trackday/tracks",
                            exe) != 0 ||
                !td_path_exists(installed))
                installed[0] = '\0'; /* (a build tree has none) */
        }
    }
    if (installed[0] && n < cap)
        dirs[n++] = installed;
    return n;
}

/* Finds a track on the search path; 0 or TD_ENOENT with err set (nothing printed). */
static int find_track(const char *arg, const char *model_dir, char *out, size_t outlen,
                      td_err *err);

int td__cli_track_path_for(const char *arg, const char *model_dir, char *out, size_t outlen)
{
    td_err err;
    if (find_track(arg, model_dir, out, outlen, &err) != 0) {
        td__cli_fail("%s", err.msg);
        if (td_deepracer_route_known(arg))
            td__cli_route_fetch_hint("trackday", arg, model_dir);
        return 1;
    }
    return 0;
}

/* DeepRacer's route files as deepracer-simapp publishes them (bundle/routes/, one NAME.npy for
 * each of the 127 names of td_deepracer_route_names). */
#define TD_ROUTES_URL                                                                              \
    "https://raw.githubusercontent.com/aws-deepracer-community/deepracer-simapp/master/bundle/"    \
    "routes/"

const char *td__cli_shell_word(const char *s, char *out, size_t cap)
{
    if (s[0] &&
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./+,:@") ==
            strlen(s)) {
        snprintf(out, cap, "%s", s);
        return out;
    }
    size_t k = 0;
    if (cap < 3)
        return "''";
    out[k++] = '\'';
    for (const char *c = s; *c && k + 6 < cap; c++) {
        if (*c == '\'') {
            memcpy(out + k, "'\\''", 4);
            k += 4;
        } else {
            out[k++] = *c;
        }
    }
    out[k++] = '\'';
    out[k] = '\0';
    return out;
}

void td__cli_route_fetch_hint(const char *prog, const char *name, const char *model_dir)
{
    char word[8500];
    if (model_dir) {
        fprintf(stderr,
                "%s: this command fetches it into %s/, where trackday looks for it:\n"
                "  curl -fLo %s/%s.npy " TD_ROUTES_URL "%s.npy\n",
                prog, model_dir, td__cli_shell_word(model_dir, word, sizeof(word)), name, name);
    } else {
        fprintf(stderr,
                "%s: this command fetches it into the current directory:\n"
                "  curl -fLO " TD_ROUTES_URL "%s.npy\n"
                "then add --tracks-dir . (or give the file's path, ./%s.npy)\n",
                prog, name, name);
    }
}

int td__cli_track_path_quiet(const char *arg, const char *model_dir, char *out, size_t outlen)
{
    td_err err;
    return find_track(arg, model_dir, out, outlen, &err);
}

static int is_track_file(const char *name, void *user)
{
    (void)user;
    return strlen(name) > 5 && td_str_ends_with(name, ".json");
}

static int find_track(const char *arg, const char *model_dir, char *out, size_t outlen, td_err *err)
{
    const char *dirs[2 * MAX_TRACK_DIRS + 3];
    const char *known[64];
    char **names = NULL;
    int nknown = 0;
    /* The shipped tracks' names, for "did you mean". */
    if (td_dir_list(td__cli_tracks_dir(), TD_DIR_FILES, is_track_file, NULL, &names, &nknown,
                    NULL) == 0) {
        nknown = nknown < 64 ? nknown : 64;
        for (int i = 0; i < nknown; i++) {
            names[i][strlen(names[i]) - 5] = '\0'; /* the name without .json */
            known[i] = names[i];
        }
    }
    /* "default" is the track the demo and `trackday init` use: a medium loop (22 m). */
    if (strcmp(arg, "default") == 0)
        arg = TD_DEFAULT_TRACK;
    int n = td__cli_track_search_path(model_dir, dirs, (int)(sizeof(dirs) / sizeof(dirs[0])));
    int rc = td_track_find(arg, dirs, n, known, nknown, out, outlen, err);
    td_dir_list_free(names, names ? nknown : 0);
    return rc;
}

const char *td__cli_default_track(void)
{
    return TD_DEFAULT_TRACK;
}

const char *td__cli_track_label(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (td_str_ends_with(base, ".json"))
        n -= 5;
    else if (td_str_ends_with(base, ".npy"))
        n -= 4;
    snprintf(out, cap, "%.*s", (int)n, base);
    return out;
}

int td__cli_track_path(const char *arg, char *out, size_t outlen)
{
    return td__cli_track_path_for(arg, NULL, out, outlen);
}

/* Takes every "--tracks-dir DIR" (or "--tracks-dir=DIR") out of argv; returns the new argc,
 * or -1 when one has no value. */
static int take_tracks_dirs(int argc, char **argv)
{
    int k = 0;
    for (int i = 0; i < argc; i++) {
        const char *dir = NULL;
        if (!strcmp(argv[i], "--tracks-dir")) {
            if (i + 1 >= argc)
                return -1;
            dir = argv[++i];
        } else if (!strncmp(argv[i], "--tracks-dir=", 13)) {
            dir = argv[i] + 13;
        } else {
            argv[k++] = argv[i];
            continue;
        }
        if (n_option_dirs < MAX_TRACK_DIRS)
            option_dirs[n_option_dirs++] = dir;
    }
    argv[k] = NULL;
    return k;
}

int td__cli_model_reward(const char *dir, const td_track *track, td_reward **out, char *label,
                         size_t label_cap)
{
    char py[4200];
    td_err err;
    *out = NULL;
    snprintf(label, label_cap, "builtin:follow_center_line%s",
             dir ? " (no reward_function.py)" : " (a model file has no reward function)");
    if (!dir)
        return 0;
    int n = snprintf(py, sizeof(py), "%s/reward_function.py", dir);
    if (n < 0 || (size_t)n >= sizeof(py))
        return td__cli_fail("%s: path too long", dir);
    if (!td_path_exists(py))
        return 0;
    if (td_reward_open(out, py, track, &err))
        return td__cli_fail("%s", err.msg);
    snprintf(label, label_cap, "%s", py);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: trackday COMMAND [ARGS...]\n\n"
               "trackday: a self-hosted DeepRacer-compatible racing lab.\n\ncommands:\n");
    td__cli_list_commands(f);
    fprintf(f,
            "\nRun 'trackday help COMMAND' (or 'trackday COMMAND --help') for a command's "
            "options.\n"
            "\nEvery command also takes --tracks-dir DIR (repeatable): a folder of route files\n"
            "(NAME.npy, NAME.json) searched for track names before TRACKDAY_TRACKS (folders\n"
            "separated by ':'), the model directory, the shipped tracks and ../shared/tracks.\n");
}

int main(int argc, char **argv)
{
    argc = take_tracks_dirs(argc, argv);
    if (argc < 0) {
        fprintf(stderr, "trackday: --tracks-dir needs a folder\n");
        return 2;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) {
        /* `trackday help CMD [SUB]` is `trackday CMD [SUB] --help`. */
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const td__cli_command *c = td__cli_find(argv[2]);
        if (!c)
            return td__cli_unknown_command(argv[2], usage);
        char *hargv[4] = {argv[2], argc > 3 ? argv[3] : "--help", "--help", NULL};
        return c->fn(argc > 3 ? 3 : 2, hargv);
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("trackday %s\n", TD_VERSION);
        return 0;
    }
    const td__cli_command *c = td__cli_find(argv[1]);
    return c ? c->fn(argc - 1, argv + 1) : td__cli_unknown_command(argv[1], usage);
}
