/*
 * camera.c - `trackday camera`: renders what the car's camera sees at a point of a track to
 * a PNG (grey like the network input by default, or RGB, or the stereo pair side by side).
 * Useful to check a track, a look or a pose by eye.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/sensors.h"

#define MAX_OBSTACLES 32

static const char about[] =
    "Renders the front camera of a car placed on the centreline at PROGRESS percent of the lap, "
    "facing the driving direction, to a PNG (grey like the network input by default, or RGB, "
    "or the stereo pair side by side).";

static int parse_supersample(const char *opt, const char *v, void *dst)
{
    if (strcmp(v, "1") && strcmp(v, "2"))
        return td__cli_usage_error("%s: '%s' is not 1 or 2", opt, v);
    *(long *)dst = v[0] - '0';
    return 0;
}

static int cmd_camera(int argc, char **argv)
{
    const char *track_arg = NULL, *output = NULL;
    double at = -1.0, lateral = 0.0, heading_off = 0.0, cell = 0.0;
    int reverse = 0, rgb = 0, stereo = 0, randomize = 0;
    int nobst = 0;
    long seed = 0, ss = 1;
    const td__cli_opt opts[] = {
        TD_CLI_REQUIRED_STRING(NULL, "--track", &track_arg, "T", "track name or .npy/.json path"),
        {.name = "--at",
         .kind = TD__CLI_DOUBLE,
         .dst = &at,
         .lo = 0,
         .hi = 100,
         .arg = "PROGRESS",
         .required = 1,
         .help = "position along the centreline, percent of the lap"},
        TD_CLI_REQUIRED_STRING("-o", "--output", &output, "FILE", "the PNG to write"),
        TD_CLI_DOUBLE("--lateral", &lateral, -100, 100, "M",
                      "shift left (+) or right (-) of the centreline, metres"),
        TD_CLI_DOUBLE("--heading-offset", &heading_off, -360, 360, "DEG",
                      "turn the car left (+) or right (-) of the centreline"),
        TD_CLI_FLAG("--reverse", &reverse, "drive the track in the reverse direction"),
        TD_CLI_FLAG("--rgb", &rgb, "colour picture (default: grey, the network input)"),
        TD_CLI_FLAG("--stereo", &stereo, "the stereo pair, left and right side by side"),
        TD_CLI_INT("--obstacles", &nobst, 0, MAX_OBSTACLES, "N",
                   "N box obstacles ahead, alternating lanes"),
        {.name = "--randomize",
         .kind = TD__CLI_LONG,
         .dst = &seed,
         .lo = 0,
         .hi = 2147483647,
         .arg = "SEED",
         .given = &randomize,
         .help = "a domain-randomized look drawn from SEED (colours, lighting, floor grain, "
                 "surroundings, noise, vignetting; motion blur needs a turning car and shows "
                 "in replays)"},
        TD_CLI_CUSTOM("--supersample", &ss, parse_supersample, "N",
                      "1 (default) or 2 (2x2, like DeepRacer's resize)"),
        TD_CLI_DOUBLE("--cell", &cell, 0.002, 0.5, "M",
                      "ground map cell size in metres (default 0.01)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "camera", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;

    char path[4096];
    if (td__cli_track_path(track_arg, path, sizeof(path)))
        return 1;
    td_err err = {0};
    td_track file_track, rev_track;
    memset(&file_track, 0, sizeof(file_track));
    memset(&rev_track, 0, sizeof(rev_track));
    if (td_track_load(&file_track, path, &err))
        return td__cli_fail("%s", err.msg);
    const td_track *t = &file_track;
    int rc = 1;
    td_ground_map *map = NULL;
    uint8_t *pix = NULL, *img = NULL;
    if (reverse) {
        if (td_track_reverse(&rev_track, &file_track, &err)) {
            td__cli_fail("%s", err.msg);
            goto done;
        }
        t = &rev_track;
    }
    if (td_ground_map_open(&map, t, cell, &err)) {
        td__cli_fail("%s", err.msg);
        goto done;
    }

    double s = at / 100.0 * t->length, x, y, heading;
    if (t->closed && s >= t->length)
        s -= t->length;
    td_track_point_at(t, s, lateral, &x, &y, &heading);
    double yaw = heading + heading_off * (M_PI / 180.0);

    td_box boxes[MAX_OBSTACLES];
    for (long k = 0; k < nobst; k++) {
        double bs = s + 1.2 + 1.5 * (double)k, hx, hy, hh;
        if (!t->closed && bs > t->length)
            break;
        td_track_lane_point(t, bs, (k % 2) ? -1 : 1, &boxes[k].x, &boxes[k].y);
        td_track_point_at(t, bs, 0.0, &hx, &hy, &hh);
        boxes[k].yaw = hh;
        boxes[k].length = 0.25;
        boxes[k].width = 0.25;
        boxes[k].height = 0.2;
        boxes[k].kind = TD_BOX_OBSTACLE;
    }
    td_look look;
    td_look_default(&look);
    if (randomize) {
        td_rng rng;
        td_rng_seed(&rng, (uint64_t)seed, 0);
        td_look_randomize(&look, &rng);
    }
    /* The track's surroundings, drawn when the look has them (a randomized look may). */
    static td_box decor[TD_DECOR_MAX];
    static uint8_t level[TD_DECOR_MAX];
    int ndecor = td_decor_build(t, (uint64_t)seed, decor, level, TD_DECOR_MAX);
    td_scene scene = {t, map, boxes, (int)nobst, &look, decor, level, ndecor};
    td_camera_config cfg;
    td_camera_config_default(&cfg);
    cfg.supersample = (int)ss;
    int W = cfg.width, H = cfg.height, ch = rgb ? 3 : 1;
    int outw = stereo ? 2 * W : W;
    pix = td_malloc((size_t)W * H * 3 * 2);
    img = td_malloc((size_t)outw * H * ch);
    if (!pix || !img) {
        td__cli_fail("camera: out of memory");
        goto done;
    }
    if (!stereo) {
        if (rgb)
            td_camera_render_rgb(&cfg, &scene, x, y, yaw, img);
        else
            td_camera_render_grey(&cfg, &scene, x, y, yaw, img);
    } else if (!rgb) {
        td_camera_render_stereo(&cfg, &scene, x, y, yaw, pix);
        for (int j = 0; j < H; j++)
            for (int i = 0; i < W; i++) {
                img[(size_t)j * outw + i] = pix[((size_t)j * W + i) * 2];
                img[(size_t)j * outw + W + i] = pix[((size_t)j * W + i) * 2 + 1];
            }
    } else {
        /* The stereo eyes in colour: mono renders from the two lens positions. */
        for (int eye = 0; eye < 2; eye++) {
            double off = (eye == 0 ? 0.5 : -0.5) * cfg.stereo_baseline_m;
            td_camera_render_rgb(&cfg, &scene, x + off * -sin(yaw), y + off * cos(yaw), yaw, pix);
            for (int j = 0; j < H; j++)
                memcpy(img + ((size_t)j * outw + (size_t)eye * W) * 3, pix + (size_t)j * W * 3,
                       (size_t)W * 3);
        }
    }
    if (td_png_write(output, img, outw, H, ch, &err)) {
        td__cli_fail("%s", err.msg);
        goto done;
    }
    printf("wrote %s (%dx%d %s%s) at x=%.3f y=%.3f heading=%.1f deg, %.2f m along %s%s\n", output,
           outw, H, rgb ? "rgb" : "grey", stereo ? " stereo" : "", x, y, yaw * (180.0 / M_PI), s,
           t->name, reverse ? " (reversed)" : "");
    rc = 0;
done:
    td_free(pix);
    td_free(img);
    td_ground_map_close(map);
    if (reverse)
        td_track_free(&rev_track);
    td_track_free(&file_track);
    return rc;
}

TD_CLI_COMMAND("camera", "render the car's camera view at a point of a track to a PNG", cmd_camera)
