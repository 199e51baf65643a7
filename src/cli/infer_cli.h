/*
 * infer_cli.h - what the model-file commands (model.c, quantize.c, bench_infer.c) share:
 * writing nn towers to a `.tdm` buffer, a random SHALLOW policy for benchmarks.
 */
#ifndef TD_INFER_CLI_H
#define TD_INFER_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "trackday/json.h"
#include "trackday/nn.h"

/*
 * Serializes towers (fp32) into a model file in memory (docs/model-format.md, canonical
 * layout). extras (borrowed, may be NULL) gives further header keys (action_space, ...).
 * *buf is td_malloc'd; the caller td_frees it.
 */
int td__cli_nets_to_tdm(const td_nn_net *nets, int n, const json_t *extras, uint8_t **buf,
                        size_t *len, td_err *err);

/* A SHALLOW discrete policy (plus value tower) with random weights, for benchmarks. */
int td__cli_random_shallow(td_nn_net nets[2], int n_actions, uint64_t seed, td_err *err);

/* The default discrete action space as JSON (steering x speed), new reference. */
json_t *td__cli_default_action_space(int n_actions);

/*
 * Prints the `trackday bench infer` lines (infer/ fp32 and int8 SHALLOW latency, weight
 * streaming baselines, ratios; each with "source": "infer") with reps timings each; for
 * `trackday bench nn`. Returns 0 or 1.
 */
int td__cli_bench_infer_lines(int reps);

#endif
