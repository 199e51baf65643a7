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

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trackday camera --track T --at PROGRESS [options] -o view.png\n\n"
            "Renders the front camera of a car placed on the centreline at PROGRESS percent\n"
            "of the lap, facing the driving direction.\n\n"
            "options:\n"
            "  --track T             track name or .npy/.json path\n"
            "  --at PROGRESS         position along the centreline, percent [0, 100]\n"
            "  --lateral M           shift left (+) or right (-) of the centreline, metres\n"
            "  --heading-offset DEG  turn the car left (+) or right (-) of the centreline\n"
            "  --reverse             drive the track in the reverse direction\n"
            "  --rgb                 colour picture (default: grey, the network input)\n"
            "  --stereo              the stereo pair, left and right side by side\n"
            "  --obstacles N         N box obstacles ahead, alternating lanes (max %d)\n"
            "  --randomize SEED      domain-randomized look drawn from SEED\n"
            "  --supersample N       1 (default) or 2 (2x2, like DeepRacer's resize)\n"
            "  --cell M              ground map cell size in metres (default 0.01)\n"
            "  -o, --output FILE     the PNG to write\n",
            MAX_OBSTACLES);
}

/* Range checks that need other options' values happen after parsing. */
static int parse_double(const char *opt, const char *s, double *out)
{
    return td__cli_parse_double(opt, s, -1e9, 1e9, out);
}

static int parse_long(const char *opt, const char *s, long *out)
{
    return td__cli_parse_long(opt, s, LONG_MIN, LONG_MAX, out);
}

static int cmd_camera(int argc, char **argv)
{
    if (td__cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const char *track_arg = NULL, *output = NULL;
    double at = -1.0, lateral = 0.0, heading_off = 0.0, cell = 0.0;
    int reverse = 0, rgb = 0, stereo = 0, randomize = 0;
    long nobst = 0, seed = 0, ss = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
#define NEED_VALUE()                                                                               \
    do {                                                                                           \
        if (!has_val)                                                                              \
            return td__cli_fail("%s needs a value (see trackday camera --help)", a);               \
    } while (0)
        if (strcmp(a, "--track") == 0) {
            NEED_VALUE();
            track_arg = argv[++i];
        } else if (strcmp(a, "--at") == 0) {
            NEED_VALUE();
            if (parse_double(a, argv[++i], &at))
                return 1;
            if (at < 0.0 || at > 100.0)
                return td__cli_fail("--at: %g is outside [0, 100] percent", at);
        } else if (strcmp(a, "--lateral") == 0) {
            NEED_VALUE();
            if (parse_double(a, argv[++i], &lateral))
                return 1;
        } else if (strcmp(a, "--heading-offset") == 0) {
            NEED_VALUE();
            if (parse_double(a, argv[++i], &heading_off))
                return 1;
        } else if (strcmp(a, "--reverse") == 0) {
            reverse = 1;
        } else if (strcmp(a, "--rgb") == 0) {
            rgb = 1;
        } else if (strcmp(a, "--stereo") == 0) {
            stereo = 1;
        } else if (strcmp(a, "--obstacles") == 0) {
            NEED_VALUE();
            if (parse_long(a, argv[++i], &nobst))
                return 1;
            if (nobst < 0 || nobst > MAX_OBSTACLES)
                return td__cli_fail("--obstacles: %ld is outside 0..%d", nobst, MAX_OBSTACLES);
        } else if (strcmp(a, "--randomize") == 0) {
            NEED_VALUE();
            if (parse_long(a, argv[++i], &seed))
                return 1;
            randomize = 1;
        } else if (strcmp(a, "--supersample") == 0) {
            NEED_VALUE();
            if (parse_long(a, argv[++i], &ss))
                return 1;
            if (ss != 1 && ss != 2)
                return td__cli_fail("--supersample: %ld is not 1 or 2", ss);
        } else if (strcmp(a, "--cell") == 0) {
            NEED_VALUE();
            if (parse_double(a, argv[++i], &cell))
                return 1;
            if (!(cell >= 0.002 && cell <= 0.5))
                return td__cli_fail("--cell: %g m is outside [0.002, 0.5]", cell);
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            NEED_VALUE();
            output = argv[++i];
        } else {
            usage(stderr);
            return td__cli_fail("unknown option '%s'", a);
        }
#undef NEED_VALUE
    }
    if (!track_arg)
        return td__cli_fail("camera: --track is required (see trackday camera --help)");
    if (at < 0.0)
        return td__cli_fail("camera: --at PROGRESS is required (see trackday camera --help)");
    if (!output)
        return td__cli_fail("camera: -o FILE is required (see trackday camera --help)");

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
    if (td_ground_map_create(&map, t, cell, &err)) {
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
    td_scene scene = {t, map, boxes, (int)nobst, &look};
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
    td_ground_map_destroy(map);
    if (reverse)
        td_track_free(&rev_track);
    td_track_free(&file_track);
    return rc;
}

TD_CLI_COMMAND("camera", "render the car's camera view at a point of a track to a PNG", cmd_camera)
