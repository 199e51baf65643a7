/*
 * car/main.c - `trackday-car`: the car-only build of trackday (docs/agent.md, "The car-only
 * build"). The commands a car runs and nothing else: `agent` (the daemon with --hub, driving
 * from a V4L2 camera; install, rollback, status and register of its bundle store) and
 * `verify`. It links infer/, the agent (store, daemon, disk buffer, driver, camera), the
 * bundle reader and verifier, the hub client and core: no simulator, trainer, hub server,
 * database or Python (CMakeLists.txt lists its sources; tests/test_car.sh checks what it links).
 * The command files are the trackday command's own (agent.c, agent_daemon.c built with
 * TD_AGENT_NO_SIM, verify.c); this file is their registry and main.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#ifndef TD_VERSION
#define TD_VERSION "unknown"
#endif

#define MAX_COMMANDS 8
static struct {
    const char *name;
    const char *summary;
    td_cli_fn fn;
} commands[MAX_COMMANDS];
static int ncommands;

void td__cli_register(const char *name, const char *summary, td_cli_fn fn)
{
    if (ncommands >= MAX_COMMANDS) {
        fprintf(stderr, "trackday-car: more than %d commands registered (raise MAX_COMMANDS)\n",
                MAX_COMMANDS);
        abort();
    }
    commands[ncommands].name = name;
    commands[ncommands].summary = summary;
    commands[ncommands].fn = fn;
    ncommands++;
}

int td__cli_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "trackday-car: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: trackday-car COMMAND [options]   (trackday-car COMMAND --help)\n\n"
               "The car-only build of trackday: the device agent and its bundle store, no "
               "simulator,\ntrainer or hub server.\n\ncommands:\n");
    for (int i = 0; i < ncommands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    td__cli_program = "trackday-car";
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("trackday-car %s\n", TD_VERSION);
        return 0;
    }
    for (int i = 0; i < ncommands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "trackday-car: unknown command '%s' (trackday-car --help lists them)\n",
            argv[1]);
    return 2;
}
