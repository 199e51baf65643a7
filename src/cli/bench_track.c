/*
 * bench_track.c - `trackday bench track`: cost of the per-step geometric queries (the
 * incremental projection and the local road test for four wheels) against their full
 * references (a scan of every segment, a point-in-polygon over every border edge) measured
 * in the same run, so the ratios compare across machines.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/track.h"

#define PATH_POINTS 4096

static void emit(const char *name, double value, const char *unit, double ratio,
                 const char *ratio_to, const char *track)
{
    printf("{\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"ratio\": %.6g, "
           "\"ratio_to\": \"%s\", \"track\": \"%s\"}\n",
           name, value, unit, ratio, ratio_to, track);
    fflush(stdout);
}

/* A driven path: steps of about 5 cm (1 m/s at 15 steps/s... with margin), weaving. */
static void make_path(const td_track *t, double *xy, int n)
{
    double step = t->closed ? t->length / n * 3.0 : t->length / n;
    if (step > 0.06)
        step = 0.06;
    for (int i = 0; i < n; i++) {
        double s = i * step;
        td_track_proj p;
        double x, y;
        td_track_point_at(t, s, 0, &x, &y, NULL);
        td_track_project(t, x, y, &p);
        double w = td_track_width_at(t, &p);
        td_track_point_at(t, s, 0.35 * w * sin(s * 0.9), &xy[2 * i], &xy[2 * i + 1], NULL);
    }
}

static int bench_track(int argc, char **argv)
{
    const char *arg = "reInvent2019_track";
    double seconds = 0.5;
    const td__cli_opt opts[] = {
        TD_CLI_STRING(NULL, "--track", &arg, "NAME|PATH", "track (default reInvent2019_track)"),
        TD_CLI_DOUBLE("--seconds", &seconds, 0.001, 600, "S", "time per measurement (default 0.5)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "bench track",
        .about = "Nanoseconds per incremental projection and per local road test, and how many "
                 "times faster they are than the full references.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    char path[4096];
    td_track t;
    td_err err;
    if (td__cli_track_path(arg, path, sizeof(path)))
        return 1;
    if (td_track_load(&t, path, &err))
        return td__cli_fail("%s", err.msg);
    double *xy = td_malloc(sizeof(double) * 2 * PATH_POINTS);
    if (!xy) {
        td_track_free(&t);
        return td__cli_fail("out of memory");
    }
    make_path(&t, xy, PATH_POINTS);

    volatile double sink = 0;
    long calls;
    double t0, el;
    td_track_proj p;

    /* Incremental projection along the path. */
    td_track_project(&t, xy[0], xy[1], &p);
    calls = 0;
    t0 = td_time_now();
    do {
        for (int i = 0; i < PATH_POINTS; i++) {
            td_track_project_from(&t, xy[2 * i], xy[2 * i + 1], &p);
            sink += p.arc;
        }
        calls += PATH_POINTS;
        el = td_time_now() - t0;
    } while (el < seconds);
    double ns_inc = el / calls * 1e9;

    calls = 0;
    t0 = td_time_now();
    do {
        for (int i = 0; i < PATH_POINTS; i += 8) {
            td_track_project(&t, xy[2 * i], xy[2 * i + 1], &p);
            sink += p.arc;
        }
        calls += PATH_POINTS / 8;
        el = td_time_now() - t0;
    } while (el < seconds);
    double ns_full = el / calls * 1e9;

    /* DeepRacer's track_width: nearest border points to the projected point. */
    td_track_project(&t, xy[0], xy[1], &p);
    calls = 0;
    t0 = td_time_now();
    do {
        for (int i = 0; i < PATH_POINTS; i++) {
            td_track_project_from(&t, xy[2 * i], xy[2 * i + 1], &p);
            sink += td_track_width_nearest(&t, &p);
        }
        calls += PATH_POINTS;
        el = td_time_now() - t0;
    } while (el < seconds);
    double ns_width = el / calls * 1e9 - ns_inc;

    /* Four wheels around each path point, local test against the full one. */
    static const double wheel[4][2] = {{0.08, 0.08}, {0.08, -0.08}, {-0.08, 0.08}, {-0.08, -0.08}};
    td_track_project(&t, xy[0], xy[1], &p);
    calls = 0;
    long on = 0;
    t0 = td_time_now();
    do {
        for (int i = 0; i < PATH_POINTS; i++) {
            td_track_project_from(&t, xy[2 * i], xy[2 * i + 1], &p);
            for (int k = 0; k < 4; k++)
                on +=
                    td_track_on_road(&t, &p, xy[2 * i] + wheel[k][0], xy[2 * i + 1] + wheel[k][1]);
        }
        calls += 4L * PATH_POINTS;
        el = td_time_now() - t0;
    } while (el < seconds);
    double ns_road = (el / calls * 1e9) - ns_inc / 4;

    calls = 0;
    t0 = td_time_now();
    do {
        for (int i = 0; i < PATH_POINTS; i += 8)
            for (int k = 0; k < 4; k++)
                on +=
                    td_track_on_road_slow(&t, xy[2 * i] + wheel[k][0], xy[2 * i + 1] + wheel[k][1]);
        calls += 4L * PATH_POINTS / 8;
        el = td_time_now() - t0;
    } while (el < seconds);
    double ns_slow = el / calls * 1e9;
    sink += (double)on;
    (void)sink;

    emit("track_project_incremental", ns_inc, "ns/call", ns_full / ns_inc, "full scan", t.name);
    emit("track_project_full", ns_full, "ns/call", 1.0, "full scan", t.name);
    emit("track_width_nearest", ns_width, "ns/call", ns_full / ns_width, "full scan", t.name);
    emit("track_on_road_local", ns_road, "ns/call", ns_slow / ns_road, "point in polygon", t.name);
    emit("track_on_road_slow", ns_slow, "ns/call", 1.0, "point in polygon", t.name);
    td_free(xy);
    td_track_free(&t);
    return 0;
}

TD_CLI_BENCH("track", "track geometry: incremental projection and road test per call", bench_track)
