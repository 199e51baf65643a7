/*
 * logs.c - `trackday logs DIR|FILE.csv`: analysis of simtrace logs (trackday's or DeepRacer's)
 * as text tables or JSON: per iteration, per episode, the fastest complete laps and where
 * episodes end. docs/logs.md describes the output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "trackday/eval.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trackday logs DIR|FILE.csv [options]\n\n"
            "Analyses simtrace logs (one CSV row per step, DeepRacer's columns). DIR is a model\n"
            "directory (its training logs: every *.csv under DIR/logs and its subdirectories\n"
            "without 'eval' in the path; --eval for the evaluation logs) or a directory of\n"
            "CSV files.\n\n"
            "options:\n"
            "  --json                        print the whole analysis as JSON\n"
            "  --eval                        in a model directory, the evaluation logs (files\n"
            "                                with 'eval' in their path) instead of training's\n"
            "  --episodes-per-iteration N    episodes per training iteration when the logs do\n"
            "                                not say (one file, no iteration column); default 20\n"
            "  --all                         list every iteration, episode and end waypoint\n"
            "                                (default: the last 30 iterations, 20 episodes)\n"
            "  --top N                       fastest laps to list (default 10)\n");
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int parse_int(const char *s, const char *opt, int lo, int *out)
{
    long v;
    if (td__cli_parse_long(opt, s, lo, 1000000, &v))
        return 1;
    *out = (int)v;
    return 0;
}

/*
 * Loads the simtrace rows for the command's argument: one CSV file, a directory of CSVs, or
 * a model directory (DIR/logs). In a model directory training and evaluation logs are kept
 * apart: evaluation files (with "eval" in their path) when `eval`, else the others, falling
 * back to the evaluation files when there is nothing else.
 */
static int load_simtrace(const char *arg, int eval, td_simtrace *t, td_err *err)
{
    if (!is_dir(arg))
        return td_simtrace_read(t, arg, err);
    char logs[4096];
    snprintf(logs, sizeof(logs), "%s/logs", arg);
    if (!is_dir(logs))
        return td_simtrace_read_dir(t, arg, err);
    int rc = td_simtrace_read_dir_match(t, logs, "eval", !eval, err);
    if (rc == TD_ENOENT && !eval)
        rc = td_simtrace_read_dir_match(t, logs, "eval", 0, err);
    if (rc == TD_ENOENT)
        td_err_set(err, TD_ENOENT, "%s: no %ssimtrace .csv files", logs, eval ? "evaluation " : "");
    return rc;
}

static const char *source_text(int s, int per)
{
    static char buf[64];
    if (s == TD_LOGS_ITER_COLUMN)
        return "from the iteration column";
    if (s == TD_LOGS_ITER_FILE)
        return "one per file";
    snprintf(buf, sizeof(buf), "groups of %d episodes", per);
    return buf;
}

static void print_text(const td_log_report *r, const td_simtrace *t, int per, int all, int top)
{
    int complete = 0;
    for (int j = 0; j < r->n_episodes; j++)
        complete += r->episodes[j].complete;
    printf("simtrace: %d file%s, %ld rows, %d episode%s, %d complete lap%s (iterations: %s)\n",
           t->n_files, t->n_files == 1 ? "" : "s", r->n_rows, r->n_episodes,
           r->n_episodes == 1 ? "" : "s", complete, complete == 1 ? "" : "s",
           source_text(r->iteration_source, per));
    if (t->n_files == 1)
        printf("file: %s\n", t->files[0]);

    printf("\nper iteration\n");
    int first_it = 0;
    if (!all && r->n_iterations > 30) {
        first_it = r->n_iterations - 30;
        printf("(the last 30 of %d; --all lists every iteration, --json gives all)\n",
               r->n_iterations);
    }
    printf("%9s %9s %9s %11s %12s %14s %11s %13s\n", "iteration", "episodes", "complete",
           "completion", "mean reward", "mean progress", "mean steps", "best lap (s)");
    for (int q = first_it; q < r->n_iterations; q++) {
        const td_log_iteration *it = &r->iterations[q];
        char best[32] = "-";
        if (it->best_lap_s >= 0)
            snprintf(best, sizeof(best), "%.3f", it->best_lap_s);
        printf("%9ld %9d %9d %10.1f%% %12.3f %13.1f%% %11.1f %13s\n", it->iteration, it->episodes,
               it->complete, 100.0 * it->completion_rate, it->mean_reward, it->mean_progress,
               it->mean_steps, best);
    }

    int first = 0;
    if (!all && r->n_episodes > 20)
        first = r->n_episodes - 20;
    printf("\nper episode\n");
    if (first)
        printf("(the last 20 of %d; --all lists every episode, --json gives all)\n", r->n_episodes);
    printf("%8s %9s %6s %13s %12s %10s %-14s %12s %9s\n", "episode", "iteration", "steps",
           "progress (%)", "reward", "speed m/s", "status", "lap time (s)", "end wp");
    for (int j = first; j < r->n_episodes; j++) {
        const td_log_episode *e = &r->episodes[j];
        char lap[32] = "-";
        if (e->complete)
            snprintf(lap, sizeof(lap), "%.3f", e->lap_time_s);
        printf("%8ld %9ld %6ld %13.2f %12.3f %10.2f %-14s %12s %9d\n", e->episode, e->iteration,
               e->steps, e->progress, e->total_reward, e->mean_speed, e->status, lap,
               e->end_waypoint);
    }

    printf("\nfastest complete laps\n");
    if (r->n_fastest == 0) {
        printf("(no complete lap)\n");
    } else {
        printf("%5s %8s %9s %13s %6s %12s\n", "rank", "episode", "iteration", "lap time (s)",
               "steps", "reward");
        for (int q = 0; q < r->n_fastest && q < top; q++) {
            const td_log_episode *e = &r->episodes[r->fastest[q]];
            printf("%5d %8ld %9ld %13.3f %6ld %12.3f\n", q + 1, e->episode, e->iteration,
                   e->lap_time_s, e->steps, e->total_reward);
        }
    }

    printf("\nwhere episodes end (incomplete episodes, by closest waypoint)\n");
    if (r->n_ends == 0) {
        printf("(every episode completed its lap)\n");
    } else {
        printf("%9s %9s %10s %8s %9s %12s %6s\n", "waypoint", "episodes", "off_track", "crashed",
               "reversed", "immobilized", "other");
        int shown = all ? r->n_ends : (r->n_ends < 15 ? r->n_ends : 15);
        for (int q = 0; q < shown; q++) {
            const td_log_end *e = &r->ends[q];
            printf("%9d %9d %10d %8d %9d %12d %6d\n", e->waypoint, e->count, e->off_track,
                   e->crashed, e->reversed, e->immobilized, e->other);
        }
        if (shown < r->n_ends)
            printf("(%d more waypoints; --all lists them)\n", r->n_ends - shown);
    }
}

static int cmd_logs(int argc, char **argv)
{
    if (td__cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const char *input = NULL;
    int json = 0, all = 0, per = 20, top = 10, eval = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--eval")) {
            eval = 1;
        } else if (!strcmp(a, "--all")) {
            all = 1;
        } else if (!strcmp(a, "--episodes-per-iteration") || !strcmp(a, "--top")) {
            if (i + 1 >= argc)
                return td__cli_fail("%s needs a value", a);
            if (parse_int(argv[++i], a, 1, !strcmp(a, "--top") ? &top : &per))
                return 1;
        } else if (a[0] == '-' && a[1]) {
            usage(stderr);
            return td__cli_fail("unknown option '%s'", a);
        } else if (!input) {
            input = a;
        } else {
            return td__cli_fail("one DIR or FILE.csv, got '%s' and '%s'", input, a);
        }
    }
    if (!input) {
        usage(stderr);
        return 2;
    }
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    td_err_clear(&err);
    if (load_simtrace(input, eval, &t, &err)) {
        td_simtrace_free(&t);
        return td__cli_fail("%s", err.msg);
    }
    td_log_report r;
    if (td_logs_analyze(&r, &t, per, &err)) {
        td_simtrace_free(&t);
        return td__cli_fail("%s", err.msg);
    }
    int rc = 0;
    if (json) {
        json_t *j = td_logs_report_json(&r, &t);
        char *text =
            j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))
              : NULL;
        if (!text)
            rc = td__cli_fail("out of memory writing JSON");
        else
            printf("%s\n", text);
        free(text);
        json_decref(j);
    } else {
        print_text(&r, &t, per, all, top);
    }
    td_logs_report_free(&r);
    td_simtrace_free(&t);
    return rc;
}

TD_CLI_COMMAND("logs", "analyse simtrace logs: episodes, iterations, fastest laps", cmd_logs)
