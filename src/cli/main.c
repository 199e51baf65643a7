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

#define TD_DEFAULT_TRACK "kidney"

#ifndef TD_SOURCE_DIR
#define TD_SOURCE_DIR "."
#endif

#define MAX_COMMANDS 64
static struct {
    const char *name;
    const char *summary;
    td_cli_fn fn;
} commands[MAX_COMMANDS];
static int ncommands;

void td__cli_register(const char *name, const char *summary, td_cli_fn fn)
{
    if (ncommands < MAX_COMMANDS) {
        commands[ncommands].name = name;
        commands[ncommands].summary = summary;
        commands[ncommands].fn = fn;
        ncommands++;
    }
}

int td__cli_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "trackday: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
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
    const char *env = getenv("TRACKDAY_TRACKS");
    if (env && *env)
        return env;
    snprintf(dir, sizeof(dir), "%s/tracks", TD_SOURCE_DIR);
    return dir;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int td__cli_track_path(const char *arg, char *out, size_t outlen)
{
    /* "default" is the track the demo and `trackday init` use: a medium loop (22 m). */
    if (strcmp(arg, "default") == 0)
        arg = TD_DEFAULT_TRACK;
    if (ends_with(arg, ".npy") || ends_with(arg, ".json") || strchr(arg, '/')) {
        if (!td_path_exists(arg))
            return td__cli_fail("track file '%s' not found", arg);
        snprintf(out, outlen, "%s", arg);
        return 0;
    }
    snprintf(out, outlen, "%s/%s.json", td__cli_tracks_dir(), arg);
    if (td_path_exists(out))
        return 0;
    snprintf(out, outlen, "%s/../shared/tracks/%s.npy", TD_SOURCE_DIR, arg);
    if (td_path_exists(out))
        return 0;
    return td__cli_fail("no track named '%s' (try 'trackday tracks list', or give a .npy or "
                        ".json path)",
                        arg);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: trackday COMMAND [ARGS...]\n\n"
               "trackday: a self-hosted DeepRacer-compatible racing lab.\n\ncommands:\n");
    for (int i = 0; i < ncommands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'trackday COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("trackday 0.1.0\n");
        return 0;
    }
    for (int i = 0; i < ncommands; i++)
        if (strcmp(commands[i].name, argv[1]) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "trackday: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
