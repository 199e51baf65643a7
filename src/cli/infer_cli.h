/*
 * infer_cli.h - what the model-file commands (model.c, quantize.c, bench_infer.c) share:
 * a random SHALLOW policy for benchmarks, the infer benchmark lines.
 */
#ifndef TD_INFER_CLI_H
#define TD_INFER_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "trackday/json.h"
#include "trackday/nn.h"

/* A SHALLOW discrete policy (plus value tower) with random weights, for benchmarks. */
int td__cli_random_shallow(td_nn_net nets[2], int n_actions, uint64_t seed, td_err *err);

/*
 * Prints the `trackday bench infer` lines (infer/ fp32 and int8 SHALLOW latency, weight
 * streaming baselines, ratios; each with "source": "infer") with reps timings each; for
 * `trackday bench nn`. Returns 0 or 1.
 */
int td__cli_bench_infer_lines(int reps);

#endif
