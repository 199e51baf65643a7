/*
 * bench.c - `trackday bench NAME`: runs a registered benchmark. Benchmarks print JSON lines
 * with at least "bench", "value" and "unit"; bench/run collects them.
 */
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
    if (nbenches < MAX_BENCHES) {
        benches[nbenches].name = name;
        benches[nbenches].summary = summary;
        benches[nbenches].fn = fn;
        nbenches++;
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: trackday bench NAME [OPTIONS]\n\nPrints JSON lines "
               "{\"bench\", \"value\", \"unit\"}.\n\nbenchmarks:\n");
    for (int i = 0; i < nbenches; i++)
        fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].summary);
}

static int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; i < nbenches; i++)
        if (strcmp(benches[i].name, argv[1]) == 0)
            return benches[i].fn(argc - 1, argv + 1);
    usage(stderr);
    return td__cli_fail("unknown benchmark '%s'", argv[1]);
}

TD_CLI_COMMAND("bench", "run a benchmark (prints JSON lines)", cmd_bench)
