/*
 * bench_simtrace.c - `trackday bench simtrace`: the cost of logging a training step (one
 * simtrace row through td_simtrace_writer_write) against the same row formatted with fprintf,
 * measured in the same run, and the reader's speed. Training writes a row per step of every
 * car, so the writer must stay well below the cost of a simulator step. Prints JSON lines
 * {"bench", "value", "unit"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "trackday/logs.h"

static void fill_row(td_simtrace_row *r, long i)
{
    memset(r, 0, sizeof(*r));
    r->episode = i / 300;
    r->steps = i % 300 + 1;
    r->x = 3.0 + 2.5 * ((double)(i % 1000) / 1000.0);
    r->y = -1.0 + 0.001 * (double)(i % 777);
    r->yaw_deg = (double)(i % 360) - 180.0;
    r->steer_deg = (double)(i % 61) - 30.0;
    r->throttle = 0.5 + 0.01 * (double)(i % 300);
    r->action = (int)(i % 10);
    r->reward = 1.0 / (double)(1 + i % 17);
    r->done = r->steps == 300;
    r->all_wheels_on_track = 1;
    r->progress = (double)r->steps / 3.0;
    r->closest_waypoint = (int)(i % 154);
    r->track_len = 17.7092;
    r->tstamp = (double)i / 15.0;
    snprintf(r->episode_status, sizeof(r->episode_status), "%s",
             r->done ? "lap_complete" : "in_progress");
    r->iteration = i / 6000;
}

static int bench_simtrace(int argc, char **argv)
{
    long rows = 300000;
    const td__cli_opt opts[] = {
        TD_CLI_LONG("--rows", &rows, 1000, 100000000, "N", "rows (default 300000)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "bench simtrace",
                               .about = "Writes and reads a simtrace CSV: rows/s of the writer and "
                                        "the reader, against a plain fwrite and read baseline.",
                               .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    char dir[] = "/tmp/trackday-bench-simtrace-XXXXXX";
    if (!mkdtemp(dir))
        return td__cli_fail("cannot create a temporary directory");
    char path[256], base_path[256];
    snprintf(path, sizeof(path), "%s/a.csv", dir);
    snprintf(base_path, sizeof(base_path), "%s/b.csv", dir);
    td_err err = {0};
    td_simtrace_row r;
    int rc = 0;

    /* The writer. */
    td_simtrace_writer *w;
    if (td_simtrace_writer_open(&w, path, &err))
        return td__cli_fail("%s", err.msg);
    double t0 = td_time_now();
    for (long i = 0; i < rows && !rc; i++) {
        fill_row(&r, i);
        rc = td_simtrace_writer_write(w, &r, &err);
    }
    rc |= td_simtrace_writer_close(w, &err);
    double t_write = td_time_now() - t0;

    /* The baseline: the same columns through fprintf into a buffered file. */
    FILE *f = fopen(base_path, "w");
    if (!f) {
        rc = 1;
    } else {
        t0 = td_time_now();
        for (long i = 0; i < rows; i++) {
            fill_row(&r, i);
            fprintf(f,
                    "%ld,%ld,%.4f,%.4f,%.3f,%.3f,%.4f,%d,%.6g,%s,%s,%.4f,%d,%.4f,%.4f,%s,%.4f,"
                    "%ld,%.3f,%ld\n",
                    r.episode, r.steps, r.x, r.y, r.yaw_deg, r.steer_deg, r.throttle, r.action,
                    r.reward, r.done ? "True" : "False", r.all_wheels_on_track ? "True" : "False",
                    r.progress, r.closest_waypoint, r.track_len, r.tstamp, r.episode_status,
                    r.pause_duration, r.obstacle_crash_counter, r.wall_clock, r.iteration);
        }
        fclose(f);
    }
    double t_base = td_time_now() - t0;

    /* The reader. */
    td_simtrace t;
    td_simtrace_init(&t);
    t0 = td_time_now();
    if (!rc && td_simtrace_read(&t, path, &err))
        rc = 1;
    double t_read = td_time_now() - t0;
    long nread = t.n;
    td_simtrace_free(&t);
    unlink(path);
    unlink(base_path);
    rmdir(dir);
    if (rc)
        return td__cli_fail("simtrace bench failed: %s", err.msg);
    if (nread != rows)
        return td__cli_fail("read %ld rows, wrote %ld", nread, rows);
    printf(
        "{\"bench\": \"simtrace_write\", \"value\": %.0f, \"unit\": \"rows/s\", \"rows\": %ld}\n",
        rows / t_write, rows);
    printf("{\"bench\": \"simtrace_write_vs_fprintf\", \"value\": %.2f, \"unit\": \"x\", "
           "\"baseline_rows_per_s\": %.0f}\n",
           t_base / t_write, rows / t_base);
    printf("{\"bench\": \"simtrace_read\", \"value\": %.0f, \"unit\": \"rows/s\"}\n",
           rows / t_read);
    return 0;
}

TD_CLI_BENCH("simtrace", "simtrace rows written and read per second", bench_simtrace)
