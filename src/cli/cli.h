/*
 * cli.h - how subcommands of the `trackday` command register themselves. Each subcommand
 * lives in its own file src/cli/<name>.c and registers with TD_CLI_COMMAND, so adding one
 * needs no edit elsewhere. A subcommand returns the process exit code; it prints results to
 * stdout and errors to stderr.
 */
#ifndef TD_CLI_H
#define TD_CLI_H

#include <stdio.h>

#include "cli/opts.h"
#include "trackday/reward.h"
#include "trackday/track.h"

/* td_cli_fn, td__cli_register and td__cli_fail are in opts.h (shared with trackday-car). */

#define TD_CLI_COMMAND(name, summary, fn)                                                          \
    __attribute__((constructor)) static void td__cli_reg_##fn(void)                                \
    {                                                                                              \
        td__cli_register(name, summary, fn);                                                       \
    }

/*
 * Benchmarks of `trackday bench NAME` register the same way, each in its own file
 * (src/cli/bench_<name>.c). A benchmark prints JSON lines {"bench", "value", "unit", ...}.
 */
void td__cli_register_bench(const char *name, const char *summary, td_cli_fn fn);

#define TD_CLI_BENCH(name, summary, fn)                                                            \
    __attribute__((constructor)) static void td__bench_reg_##fn(void)                              \
    {                                                                                              \
        td__cli_register_bench(name, summary, fn);                                                 \
    }

/*
 * Option rows shared by several commands (opts.h), so the same option has the same name,
 * bounds and help everywhere. The commands using them include the headers that define the
 * bounds (trackday/sim.h).
 */
/* Laps and DeepRacer's penalties: race, replay --redrive (eval has its own: trials). */
#define TD_CLI_OPTS_LAPS(laps, continuous, off_track_s, collision_s, max_resets)                   \
    TD_CLI_INT("--laps", laps, 1, TD_MAX_LAPS, "N", "laps (default 3)"),                           \
        TD_CLI_FLAG("--continuous", continuous,                                                    \
                    "DeepRacer's continuous mode: an off-track or a crash costs a penalty (the "   \
                    "car held at its reset pose) and a reset, the clock keeps running"),           \
        TD_CLI_DOUBLE("--off-track-penalty", off_track_s, 0, 60, "S",                              \
                      "seconds per off-track or reversal (default 2)"),                            \
        TD_CLI_DOUBLE("--collision-penalty", collision_s, 0, 60, "S",                              \
                      "seconds per collision (default 5)"),                                        \
        TD_CLI_INT("--max-resets", max_resets, 0, 100000, "N",                                     \
                   "resets allowed, out at the next event (default 10000; 0: the first event "     \
                   "puts the car out)")
/* Which checkpoint of a model directory. */
#define TD_CLI_OPT_CHECKPOINT(p)                                                                   \
    TD_CLI_CHOICE("--checkpoint", p, "best|last",                                                  \
                  "which checkpoint of a model directory: best (highest evaluation progress, the " \
                  "default) or last")
/* A random seed. */
#define TD_CLI_OPT_SEED(p, what) TD_CLI_LONG("--seed", p, 0, 2147483647, "S", what)

/*
 * Parses a number option value: prints "trackday: OPT: ..." and returns 1 when s is not a
 * finite number or lies outside [lo, hi]; else stores it and returns 0.
 */
int td__cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out);
/* The same for whole numbers. */
int td__cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out);

/* Prints "trackday: warning: <msg>" to stderr for each configuration warning of a model
 * directory (td_config_warnings, modeldir.h; declared loosely to keep this header light). */
struct td_config_warnings;
void td__cli_print_warnings(const struct td_config_warnings *w);

/* Returns 1 if argv holds -h or --help. */
int td__cli_wants_help(int argc, char **argv);

/*
 * Resolves a track argument: a path to a .npy or .json file, or a name found on the track
 * search path (td__cli_track_search_path). Writes the path into out; returns 0 or 1 if not found
 * (with a message).
 */
int td__cli_track_path(const char *arg, char *out, size_t outlen);

/* The same, with a model directory on the search path: --tracks-dir folders, TRACKDAY_TRACKS
 * (':'-separated), model_dir (may be NULL), the shipped tracks, ../shared/tracks. */
int td__cli_track_path_for(const char *arg, const char *model_dir, char *out, size_t outlen);

/* The same, printing nothing: 0 if found, else nonzero. */
int td__cli_track_path_quiet(const char *arg, const char *model_dir, char *out, size_t outlen);

/* That search path (dirs holds up to cap folders); returns how many. */
int td__cli_track_search_path(const char *model_dir, const char **dirs, int cap);

/*
 * For one of DeepRacer's route names that is not on the search path: prints to stderr
 * ("PROG: ...") the one command that fetches its route file from deepracer-simapp's
 * bundle/routes/ into model_dir (on the search path of commands given a model directory), or,
 * with model_dir NULL, into the current directory and how to pass it.
 */
void td__cli_route_fetch_hint(const char *prog, const char *name, const char *model_dir);

/* s as one word of a shell command (in single quotes when it needs quoting), for the commands
 * trackday suggests; out has cap bytes (a word that does not fit is cut). */
const char *td__cli_shell_word(const char *s, char *out, size_t cap);

/*
 * The reward an evaluation of a model directory computes: its reward_function.py (opened on
 * track), so the simtrace and pictures show the user's own reward. dir NULL (a bare .tdm) or
 * a directory without one: *out is NULL (the simulator's built-in follow_center_line). label
 * receives what was used, for the output. Returns 0 or 1 (with a message).
 */
int td__cli_model_reward(const char *dir, const td_track *track, td_reward **out, char *label,
                         size_t label_cap);

/* The directory holding the shipped tracks (tracks/). */
const char *td__cli_tracks_dir(void);

/* The shipped track the name "default" stands for (init's and train's default). */
const char *td__cli_default_track(void);

/*
 * A DeepRacer reward function paying per metre for driving racing line rl of track t at its
 * speed (the line is in the text; racing_line.c, docs/rewards.md), after the comment lines
 * intro (may be NULL). Returns a td_malloc'd text or NULL with err set.
 */
struct td_racing_line;
char *td__racing_line_reward(const td_track *t, const struct td_racing_line *rl, const char *intro,
                             td_err *err);

/* The name of the track a resolved path holds: its file name without the folder and the
 * .json/.npy extension ("kidney" for tracks/kidney.json), written into out. */
const char *td__cli_track_label(const char *path, char *out, size_t cap);

#endif
