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
#include "cli/status.h"
#include "trackday/logs.h"

static const char about[] =
    "Analyses simtrace logs (one row per step, DeepRacer's columns). FILE is a simtrace CSV or a "
    "DeepRacer robomaker/simulation .log (its SIM_TRACE_LOG lines). DIR is a trackday model "
    "directory or a folder in any layout of DeepRacer's tools: deepracer-for-cloud (one worker "
    "or one folder per worker), the DeepRacer console's and DeepRacer on AWS's log exports, or "
    "a folder of CSV files.";

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Loads the simtrace rows for the command's argument: one file (a CSV, or a DeepRacer
 * robomaker or simulation log), or a folder in any of DeepRacer's layouts (td_simtrace_find):
 * its training runs, or its evaluation or leaderboard runs. *layout says what was found.
 */
static int load_simtrace(const char *arg, td_simtrace_kind kind, td_simtrace *t, char *layout,
                         size_t cap, td_err *err)
{
    if (!is_dir(arg)) {
        snprintf(layout, cap, "one file");
        return td_simtrace_read(t, arg, err);
    }
    td_simtrace_files f;
    int rc = td_simtrace_find(arg, kind, &f, err);
    if (rc == TD_ENOENT) {
        /* Say which other runs the folder has (an evaluation-only export, say). */
        static const char *const opt[3] = {"", "--eval", "--leaderboard"};
        static const char *const name[3] = {"training", "evaluation", "leaderboard"};
        char other[128] = "";
        for (int k = TD_SIMTRACE_TRAINING; k <= TD_SIMTRACE_LEADERBOARD; k++) {
            td_simtrace_files g;
            td_err e2;
            if (k == (int)kind || td_simtrace_find(arg, (td_simtrace_kind)k, &g, &e2) != 0)
                continue;
            td_simtrace_files_free(&g);
            size_t n = strlen(other);
            snprintf(other + n, sizeof(other) - n, "%s%s runs (%s)", n ? ", " : "", name[k],
                     k == TD_SIMTRACE_TRAINING ? "without --eval" : opt[k]);
        }
        if (other[0]) {
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof(err->msg) - n, "; it has %s", other);
        }
    }
    if (rc)
        return rc;
    if (f.workers > 1)
        snprintf(layout, cap, "%s, %d workers", f.layout, f.workers);
    else
        snprintf(layout, cap, "%s", f.layout);
    rc = td_simtrace_read_files(t, &f, err);
    td_simtrace_files_free(&f);
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

static void print_text(const td_logs_report *r, const td_simtrace *t, const char *layout, int per,
                       int all, int top)
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
    else
        printf("layout: %s\n", layout);

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
        const td_logs_iteration *it = &r->iterations[q];
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
        const td_logs_episode *e = &r->episodes[j];
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
            const td_logs_episode *e = &r->episodes[r->fastest[q]];
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
            const td_logs_end *e = &r->ends[q];
            printf("%9d %9d %10d %8d %9d %12d %6d\n", e->waypoint, e->count, e->off_track,
                   e->crashed, e->reversed, e->immobilized, e->other);
        }
        if (shown < r->n_ends)
            printf("(%d more waypoints; --all lists them)\n", r->n_ends - shown);
    }
}

static int cmd_logs(int argc, char **argv)
{
    const char *input = NULL;
    int json = 0, all = 0, per = 20, top = 10, eval = 0, leaderboard = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR|FILE", &input, "a model directory, a DeepRacer log folder or one file"),
        TD_CLI_FLAG("--json", &json, "print the whole analysis as JSON"),
        TD_CLI_FLAG("--eval", &eval, "the folder's evaluation runs instead of training"),
        TD_CLI_FLAG("--leaderboard", &leaderboard,
                    "the folder's leaderboard submissions (console)"),
        TD_CLI_INT("--episodes-per-iteration", &per, 1, 1000000, "N",
                   "episodes per training iteration when the logs do not say (one file, no "
                   "iteration column); default 20"),
        TD_CLI_FLAG("--all", &all,
                    "list every iteration, episode and end waypoint (default: the last 30 "
                    "iterations, 20 episodes)"),
        TD_CLI_INT("--top", &top, 1, 1000000, "N", "fastest laps to list (default 10)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "logs", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (eval && leaderboard)
        return td__cli_usage_error("logs: --eval or --leaderboard, not both");
    td_simtrace_kind kind = eval          ? TD_SIMTRACE_EVALUATION
                            : leaderboard ? TD_SIMTRACE_LEADERBOARD
                                          : TD_SIMTRACE_TRAINING;
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    td_err_clear(&err);
    char layout[160];
    td__cli_status("reading the simtrace logs of %s", input);
    int lrc = load_simtrace(input, kind, &t, layout, sizeof(layout), &err);
    td__cli_status_done();
    if (lrc) {
        td_simtrace_free(&t);
        return td__cli_fail("%s", err.msg);
    }
    if (t.skipped_rows)
        fprintf(stderr, "trackday: note: %s%s\n", t.skipped_note,
                t.skipped_rows > 1 ? " (and more rows like it)" : "");
    td_logs_report r;
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
        print_text(&r, &t, layout, per, all, top);
    }
    td_logs_report_free(&r);
    td_simtrace_free(&t);
    return rc;
}

TD_CLI_COMMAND("logs", "analyse simtrace logs: episodes, iterations, fastest laps", cmd_logs)
