/*
 * bench.c - `trackday bench NAME`: runs a registered benchmark. Benchmarks print JSON lines
 * with at least "bench", "value" and "unit"; bench/run collects them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define MAX_BENCHES 32
static struct {
    const char *name;
    const char *summary;
    td_cli_fn fn;
} benches[MAX_BENCHES];
static int nbenches;

void td__cli_register_bench(const char *name, const char *summary, td_cli_fn fn)
{
    if (nbenches >= MAX_BENCHES) {
        fprintf(stderr, "trackday: more than %d benchmarks registered (raise MAX_BENCHES)\n",
                MAX_BENCHES);
        abort();
    }
    benches[nbenches].name = name;
    benches[nbenches].summary = summary;
    benches[nbenches].fn = fn;
    nbenches++;
}

static int cmd_bench(int argc, char **argv)
{
    td__cli_sub subs[MAX_BENCHES + 1];
    for (int i = 0; i < nbenches; i++)
        subs[i] = (td__cli_sub){benches[i].name, benches[i].summary, benches[i].fn};
    subs[nbenches] = (td__cli_sub){NULL, NULL, NULL};
    return td__cli_dispatch("bench",
                            "Benchmarks print JSON lines {\"bench\", \"value\", \"unit\", ...}; "
                            "bench/run collects them into docs/benchmarks.md.",
                            subs, argc, argv);
}

TD_CLI_COMMAND("bench", "run a benchmark (prints JSON lines)", cmd_bench)
