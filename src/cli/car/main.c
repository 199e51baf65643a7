/*
 * car/main.c - `trackday-car`: the car-only build of trackday (docs/agent.md, "The car-only
 * build"). The commands a car runs and nothing else: `agent` (the daemon with --hub, driving
 * from a V4L2 camera; install, rollback, status and register of its bundle store) and
 * `verify`. It links infer/, the agent (store, daemon, disk buffer, driver, camera), the
 * bundle reader and verifier, the hub client and core: no simulator, trainer, hub server,
 * database or Python (CMakeLists.txt lists its sources; tests/test_car.sh checks what it links).
 * The command files are the trackday command's own (agent.c, agent_daemon.c built with
 * TD_AGENT_NO_SIM, verify.c); the registry is opts.c's; this file is the main.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#ifndef TD_VERSION
#define TD_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: trackday-car COMMAND [options]   (trackday-car COMMAND --help)\n\n"
               "The car-only build of trackday: the device agent and its bundle store, no "
               "simulator,\ntrainer or hub server.\n\ncommands:\n");
    td__cli_list_commands(f);
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
    const td__cli_command *c = td__cli_find(argv[1]);
    return c ? c->fn(argc - 1, argv + 1) : td__cli_unknown_command(argv[1], usage);
}
