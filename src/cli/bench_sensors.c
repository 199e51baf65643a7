/*
 * bench_sensors.c - `trackday bench sensors`: frames per second of the camera renderer
 * (grey, grey 2x2 supersampled, RGB, stereo) and scans per second of the lidar, on one
 * thread, with poses spread around a real track. Rates are per second of this thread's CPU
 * time. Because the machine is shared, the same run also measures a baseline (memset of one
 * grey frame's bytes) and reports ratios to it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "trackday/sensors.h"

#define NPOSES 512

typedef struct bench_ctx {
    td_camera_config cfg;
    td_lidar_config lcfg;
    td_scene scene;
    const td_lidar_grid *grid;
    double pose[NPOSES][3];
    uint8_t *buf;
    float scan[TD_LIDAR_BEAMS];
    td_rng rng;
    double reach;
} bench_ctx;

enum { B_MEMSET, B_GREY, B_RGB, B_STEREO, B_LIDAR, B_LIDAR_CLIPPED };

static volatile unsigned sink;

/*
 * CPU time of this thread: on a shared machine the wall clock also counts the time other
 * processes hold the core, while a one-thread rate is about the time this thread runs.
 */
/* Runs one kind of frame for about `seconds`; returns frames per second. */
static double run(bench_ctx *c, int kind, double seconds)
{
    size_t frame = (size_t)c->cfg.width * c->cfg.height;
    long n = 0;
    double t0 = td_time_thread_cpu(), t = t0;
    unsigned acc = 0;
    while (t - t0 < seconds) {
        for (int k = 0; k < 64; k++, n++) {
            const double *p = c->pose[n % NPOSES];
            switch (kind) {
            case B_MEMSET:
                memset(c->buf, (int)(n & 0xff), frame);
                break;
            case B_GREY:
                td_camera_render_grey(&c->cfg, &c->scene, p[0], p[1], p[2], c->buf);
                break;
            case B_RGB:
                td_camera_render_rgb(&c->cfg, &c->scene, p[0], p[1], p[2], c->buf);
                break;
            case B_STEREO:
                td_camera_render_stereo(&c->cfg, &c->scene, p[0], p[1], p[2], c->buf);
                break;
            case B_LIDAR:
                td_lidar_scan(&c->lcfg, c->grid, &c->scene, p[0], p[1], p[2], &c->rng, c->scan);
                acc += (unsigned)c->scan[n & 63];
                break;
            case B_LIDAR_CLIPPED:
                /* What the simulator does for the LIDAR sensor: scan to the reach, encode. */
                td_lidar_scan_reach(&c->lcfg, c->grid, &c->scene, p[0], p[1], p[2], &c->rng,
                                    c->reach, c->scan);
                td_lidar_encode_clipped(&c->lcfg, c->scan, c->scan);
                acc += (unsigned)c->scan[n & 63];
                break;
            }
            acc += c->buf[(size_t)(n * 7919) % frame];
        }
        t = td_time_thread_cpu();
    }
    sink = acc;
    return (double)n / (t - t0);
}

static void emit(const char *name, double value, const char *unit, const char *track)
{
    printf("{\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"track\": \"%s\"}\n", name,
           value, unit, track);
    fflush(stdout);
}

static int bench_sensors(int argc, char **argv)
{
    const char *track_arg = "reInvent2019_track";
    double seconds = 1.0, map_cell = 0.0, lidar_cell = 0.0;
    const td__cli_opt opts[] = {
        TD_CLI_STRING(NULL, "--track", &track_arg, "T", "track (default reInvent2019_track)"),
        TD_CLI_DOUBLE("--seconds", &seconds, 0.001, 600, "S", "time per measurement (default 1)"),
        TD_CLI_DOUBLE("--map-cell", &map_cell, 0, 1, "M",
                      "ground map cell (default: the renderer's)"),
        TD_CLI_DOUBLE("--lidar-cell", &lidar_cell, 0, 10, "M",
                      "lidar grid cell (default: automatic)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "bench sensors",
        .about = "Camera frames/s (grey, grey supersampled 2x2, RGB, stereo) and lidar scans/s on "
                 "one thread, with a memset baseline of one grey frame's bytes.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    char path[4096];
    if (td__cli_track_path(track_arg, path, sizeof(path)))
        return 1;
    td_err err = {0};
    td_track t;
    memset(&t, 0, sizeof(t));
    if (td_track_load(&t, path, &err))
        return td__cli_fail("%s", err.msg);
    int rc = 1;
    td_ground_map *map = NULL;
    td_lidar_grid *grid = NULL;
    bench_ctx *c = td_calloc(1, sizeof(*c));
    if (!c)
        goto done;
    double t0 = td_time_now();
    if (td_ground_map_open(&map, &t, map_cell, &err)) {
        td__cli_fail("%s", err.msg);
        goto done;
    }
    double t_map = td_time_now() - t0;
    t0 = td_time_now();
    if (td_lidar_grid_open(&grid, &t, lidar_cell, &err)) {
        td__cli_fail("%s", err.msg);
        goto done;
    }
    double t_grid = td_time_now() - t0;

    td_look look;
    td_look_default(&look);
    td_camera_config_default(&c->cfg);
    td_lidar_config_default(&c->lcfg);
    c->grid = grid;
    c->buf = td_malloc((size_t)c->cfg.width * c->cfg.height * 3 * 2);
    if (!c->buf)
        goto done;
    td_rng_seed(&c->rng, 1, 0);
    /* Poses around the lap, off the centreline and turned a little, like a learning car. */
    for (int k = 0; k < NPOSES; k++) {
        double h;
        double s = t.length * k / NPOSES;
        td_track_point_at(&t, s, td_rng_range(&c->rng, -0.3, 0.3), &c->pose[k][0], &c->pose[k][1],
                          &h);
        c->pose[k][2] = h + td_rng_range(&c->rng, -0.3, 0.3);
    }
    /* Two obstacles and a car ahead of the start, as in an object-avoidance race. */
    td_box boxes[3];
    for (int k = 0; k < 3; k++) {
        double h, cx, cy;
        td_track_lane_point(&t, 2.0 + 2.5 * k, k % 2 ? -1 : 1, &boxes[k].x, &boxes[k].y);
        td_track_point_at(&t, 2.0 + 2.5 * k, 0.0, &cx, &cy, &h);
        boxes[k].yaw = h;
        boxes[k].length = k == 2 ? 0.4 : 0.25;
        boxes[k].width = k == 2 ? 0.2 : 0.25;
        boxes[k].height = k == 2 ? 0.15 : 0.2;
        boxes[k].kind = k == 2 ? TD_BOX_CAR : TD_BOX_OBSTACLE;
    }
    c->scene.track = &t;
    c->scene.ground = map;
    c->scene.look = &look;

    emit("ground_map_build_ms", t_map * 1e3, "ms", t.name);
    emit("lidar_grid_build_ms", t_grid * 1e3, "ms", t.name);
    double base = run(c, B_MEMSET, seconds);
    emit("memset_frames_per_s", base, "frames/s", t.name);
    double grey = run(c, B_GREY, seconds);
    emit("camera_frames_per_s", grey, "frames/s", t.name);
    emit("camera_vs_memset", grey / base, "ratio", t.name);
    c->cfg.supersample = 2;
    double ss2 = run(c, B_GREY, seconds);
    emit("camera_frames_per_s_ss2", ss2, "frames/s", t.name);
    c->cfg.supersample = 1;
    emit("camera_rgb_frames_per_s", run(c, B_RGB, seconds), "frames/s", t.name);
    emit("stereo_frames_per_s", run(c, B_STEREO, seconds), "frames/s", t.name);
    c->scene.boxes = boxes;
    c->scene.nboxes = 3;
    emit("camera_frames_per_s_3boxes", run(c, B_GREY, seconds), "frames/s", t.name);
    c->scene.nboxes = 0;
    double lidar = run(c, B_LIDAR, seconds);
    emit("lidar_scans_per_s", lidar, "scans/s", t.name);
    emit("lidar_vs_memset", lidar / base, "ratio", t.name);
    c->reach = td_lidar_reach_m(&c->lcfg, TD_LIDAR_REACH_CLIPPED);
    emit("lidar_clipped_scans_per_s", run(c, B_LIDAR_CLIPPED, seconds), "scans/s", t.name);
    c->scene.nboxes = 3;
    emit("lidar_scans_per_s_3boxes", run(c, B_LIDAR, seconds), "scans/s", t.name);
    emit("lidar_clipped_scans_per_s_3boxes", run(c, B_LIDAR_CLIPPED, seconds), "scans/s", t.name);
    rc = 0;
done:
    if (c)
        td_free(c->buf);
    td_free(c);
    td_lidar_grid_close(grid);
    td_ground_map_close(map);
    td_track_free(&t);
    return rc;
}

TD_CLI_BENCH("sensors", "camera frames/s and lidar scans/s (one thread)", bench_sensors)
