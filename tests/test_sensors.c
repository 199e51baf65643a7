/*
 * test_sensors.c - the camera renderer, stereo, domain randomization and the lidar, held to
 * an independent pinhole projection, analytic distances, a brute-force ray test and
 * hand-made scans.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_test.h"
#include "trackday/sensors.h"
#include "trackday/track.h"

/* ---- fixtures -------------------------------------------------------------------------- */

/* A straight open road along +x from x = 0 to length, centred on y = 0, left border at +w/2. */
static void make_straight(td_track *t, double length, double width)
{
    int n = (int)floor(length / 0.25 + 0.5) + 1;
    double *rows = td_malloc((size_t)n * 6 * sizeof(double));
    for (int i = 0; i < n; i++) {
        double x = length * i / (n - 1);
        double r[6] = {x, 0.0, x, 0.5 * width, x, -0.5 * width};
        memcpy(rows + 6 * i, r, sizeof(r));
    }
    td_err err = {0};
    int rc = td_track_from_rows(t, rows, n, "straight", "test", &err);
    td_free(rows);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
}

static void load_shared(td_track *t, const char *name)
{
    char path[1024];
    TD_FMT(path, "%s/%s.npy", TD_SHARED_TRACKS, name);
    td_err err = {0};
    int rc = td_track_load(t, path, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
}

static uint8_t luma_of(const uint8_t *rgb)
{
    double y = 0.2989 * rgb[0] + 0.5870 * rgb[1] + 0.1140 * rgb[2];
    return (uint8_t)(y + 0.5);
}

/*
 * Independent pinhole model: the pixel (column, row) whose area contains the image of world
 * point p for a car at (x, y, yaw). Returns 0 if the point is behind the lens or off screen.
 */
static int project(const td_camera_config *cfg, double x, double y, double yaw, const double *p,
                   int *col, int *row)
{
    double c = cos(yaw), s = sin(yaw), pitch = cfg->pitch_deg * M_PI / 180.0;
    double lens[3] = {x + cfg->forward_m * c, y + cfg->forward_m * s, cfg->height_m};
    double d[3] = {p[0] - lens[0], p[1] - lens[1], p[2] - lens[2]};
    /* Rotate into the car frame (forward, left, up), then pitch the forward axis down. */
    double fwd = d[0] * c + d[1] * s, left = -d[0] * s + d[1] * c, up = d[2];
    double zc = fwd * cos(pitch) - up * sin(pitch);
    double yc = fwd * sin(pitch) + up * cos(pitch);
    double xc = -left;
    if (zc <= 1e-6)
        return 0;
    double f = 0.5 * cfg->width / tan(0.5 * cfg->hfov_deg * M_PI / 180.0);
    double u = 0.5 * cfg->width + f * xc / zc, v = 0.5 * cfg->height - f * yc / zc;
    if (u < 0 || v < 0 || u >= cfg->width || v >= cfg->height)
        return 0;
    *col = (int)floor(u);
    *row = (int)floor(v);
    return 1;
}

static uint8_t pixel_at(const td_camera_config *cfg, const uint8_t *img, double x, double y,
                        double yaw, double px, double py)
{
    double p[3] = {px, py, 0.0};
    int col, row;
    TD_ASSERT_MSG(project(cfg, x, y, yaw, p, &col, &row), "(%g, %g) is not in view", px, py);
    return img[row * cfg->width + col];
}

typedef struct world {
    td_track track;
    td_ground_map *map;
    td_look look;
    td_scene scene;
    td_camera_config cfg;
} world;

static void world_straight(world *w, double length, double width)
{
    make_straight(&w->track, length, width);
    td_err err = {0};
    TD_ASSERT_OK(td_ground_map_open(&w->map, &w->track, 0.0, &err));
    td_look_default(&w->look);
    memset(&w->scene, 0, sizeof(w->scene));
    w->scene.track = &w->track;
    w->scene.ground = w->map;
    w->scene.look = &w->look;
    td_camera_config_default(&w->cfg);
}

static void world_free(world *w)
{
    td_ground_map_close(w->map);
    td_track_free(&w->track);
}

static int count_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += a[i] != b[i];
    return k;
}

/* ---- ground map ------------------------------------------------------------------------- */

TD_TEST(ground_map_classes_on_straight)
{
    world w;
    world_straight(&w, 20.0, 1.0);
    /* Road between the lines, border line just inside each border, grass beyond. */
    TD_ASSERT_EQ_INT(td_ground_map_class_at(w.map, 5.0, 0.25), TD_GROUND_ROAD);
    TD_ASSERT_EQ_INT(td_ground_map_class_at(w.map, 5.0, -0.3), TD_GROUND_ROAD);
    TD_ASSERT_EQ_INT(td_ground_map_class_at(w.map, 5.0, 0.48), TD_GROUND_BORDER);
    TD_ASSERT_EQ_INT(td_ground_map_class_at(w.map, 5.0, -0.48), TD_GROUND_BORDER);
    TD_ASSERT_EQ_INT(td_ground_map_class_at(w.map, 5.0, 0.53), TD_GROUND_GRASS);
    TD_ASSERT_EQ_INT(td_ground_map_class_at(w.map, 5.0, -0.8), TD_GROUND_GRASS);
    TD_ASSERT_EQ_INT(td_ground_map_class_at(w.map, -50.0, 0.0), TD_GROUND_GRASS);
    /* Dashes: centred on multiples of a period fitted to the length (20 m / 33). */
    double p = 20.0 / 33.0;
    int painted = 0, gaps = 0;
    for (int k = 1; k < 32; k++) {
        painted += td_ground_map_class_at(w.map, k * p, 0.0) == TD_GROUND_CENTER;
        painted += td_ground_map_class_at(w.map, k * p + 0.2 * p, 0.01) == TD_GROUND_CENTER;
        gaps += td_ground_map_class_at(w.map, (k + 0.5) * p, 0.0) == TD_GROUND_ROAD;
    }
    TD_ASSERT_EQ_INT(painted, 62);
    TD_ASSERT_EQ_INT(gaps, 31);
    /* The centre line is about 5 cm wide. */
    TD_ASSERT_EQ_INT(td_ground_map_class_at(w.map, 5 * p, 0.035), TD_GROUND_ROAD);
    world_free(&w);
}

TD_TEST(ground_map_agrees_with_point_in_polygon)
{
    const char *names[] = {"reInvent2019_track", "Bowtie_track", "Straight_track"};
    for (int ti = 0; ti < 3; ti++) {
        td_track t;
        load_shared(&t, names[ti]);
        td_ground_map *m = NULL;
        td_err err = {0};
        TD_ASSERT_OK(td_ground_map_open(&m, &t, 0.0, &err));
        td_rng rng;
        td_rng_seed(&rng, 11, (uint64_t)ti);
        int checked = 0, road = 0;
        for (int k = 0; k < 4000; k++) {
            double x = td_rng_range(&rng, t.min_x - 0.5, t.max_x + 0.5);
            double y = td_rng_range(&rng, t.min_y - 0.5, t.max_y + 0.5);
            /* Skip points within 2 cm of a border, where one cell decides. */
            int near = 0;
            for (int i = 0; i + 1 < t.n && !near; i++) {
                for (int side = 0; side < 2; side++) {
                    const double *b = side ? t.outer : t.inner;
                    double ax = b[2 * i], ay = b[2 * i + 1];
                    double ex = b[2 * i + 2] - ax, ey = b[2 * i + 3] - ay;
                    double l2 = ex * ex + ey * ey, u = 0.0;
                    if (l2 > 0)
                        u = fmin(1.0, fmax(0.0, ((x - ax) * ex + (y - ay) * ey) / l2));
                    double dx = x - ax - u * ex, dy = y - ay - u * ey;
                    if (dx * dx + dy * dy < 0.02 * 0.02)
                        near = 1;
                }
            }
            if (near)
                continue;
            int on = td_track_on_road_slow(&t, x, y);
            int cls = td_ground_map_class_at(m, x, y);
            TD_ASSERT_MSG(on == (cls != TD_GROUND_GRASS),
                          "%s at (%.3f, %.3f): on_road %d, class %d", names[ti], x, y, on, cls);
            checked++;
            road += on;
        }
        TD_ASSERT_GT(checked, 3000);
        TD_ASSERT_GT(road, 20);
        td_ground_map_close(m);
        td_track_free(&t);
    }
}

TD_TEST(ground_map_is_the_same_for_both_directions)
{
    /* The dashes are centred on multiples of a period dividing the length, so the reverse
     * direction paints the same map and one map can serve both. */
    td_track fwd, rev;
    load_shared(&fwd, "reInvent2019_track");
    TD_ASSERT_OK(td_track_reverse(&rev, &fwd, NULL));
    td_ground_map *a = NULL, *b = NULL;
    TD_ASSERT_OK(td_ground_map_open(&a, &fwd, 0.0, NULL));
    TD_ASSERT_OK(td_ground_map_open(&b, &rev, 0.0, NULL));
    int centre = 0, differ = 0;
    for (int i = 0; i + 1 < fwd.n; i++) {
        for (int k = 0; k < 20; k++) {
            double t = k / 20.0;
            double x = fwd.center[2 * i] + t * (fwd.center[2 * i + 2] - fwd.center[2 * i]);
            double y = fwd.center[2 * i + 1] + t * (fwd.center[2 * i + 3] - fwd.center[2 * i + 1]);
            int ca = td_ground_map_class_at(a, x, y), cb = td_ground_map_class_at(b, x, y);
            centre += ca == TD_GROUND_CENTER;
            differ += ca != cb;
        }
    }
    /* About half the centreline is painted; the maps agree but for cells at dash ends. */
    TD_ASSERT(centre > 0.4 * 20 * (fwd.n - 1) && centre < 0.6 * 20 * (fwd.n - 1));
    TD_ASSERT_MSG(differ < 0.01 * 20 * (fwd.n - 1), "%d of %d samples differ", differ,
                  20 * (fwd.n - 1));
    td_ground_map_close(a);
    td_ground_map_close(b);
    td_track_free(&rev);
    td_track_free(&fwd);
}

TD_TEST(ground_map_rejects_bad_cell)
{
    td_track t;
    make_straight(&t, 5.0, 1.0);
    td_ground_map *m = (td_ground_map *)&t;
    td_err err = {0};
    TD_ASSERT_EQ_INT(td_ground_map_open(&m, &t, 2.0, &err), TD_EINVAL);
    TD_ASSERT(m == NULL);
    TD_ASSERT_CONTAINS(err.msg, "cell size 2");
    td_track_free(&t);
    /* A track without geometry is refused by both builders. */
    td_track empty;
    memset(&empty, 0, sizeof(empty));
    TD_ASSERT_EQ_INT(td_ground_map_open(&m, &empty, 0.0, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "no geometry");
    td_lidar_grid *g = NULL;
    TD_ASSERT_EQ_INT(td_lidar_grid_open(&g, &empty, 0.0, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "lidar grid: track has no geometry");
    TD_ASSERT(g == NULL);
    /* Allocation failures are reported, and leave nothing behind. */
    make_straight(&t, 5.0, 1.0);
    for (int k = 0; k < 6; k++) {
        td_alloc_fail_after(k);
        int rc = td_ground_map_open(&m, &t, 0.0, &err);
        td_alloc_fail_after(-1);
        if (rc == 0) {
            td_ground_map_close(m);
            continue;
        }
        TD_ASSERT_EQ_INT(rc, TD_ENOMEM);
        TD_ASSERT(m == NULL);
    }
    for (int k = 0; k < 5; k++) {
        td_alloc_fail_after(k);
        int rc = td_lidar_grid_open(&g, &t, 0.0, &err);
        td_alloc_fail_after(-1);
        if (rc == 0) {
            td_lidar_grid_close(g);
            continue;
        }
        TD_ASSERT_EQ_INT(rc, TD_ENOMEM);
        TD_ASSERT(g == NULL);
    }
    td_track_free(&t);
}

/* ---- camera ---------------------------------------------------------------------------- */

TD_TEST(camera_sees_road_lines_grass_and_sky)
{
    world w;
    world_straight(&w, 20.0, 1.0);
    const td_camera_config *cfg = &w.cfg;
    int W = cfg->width, H = cfg->height;
    uint8_t *img = td_malloc((size_t)W * H);
    double x = 2.0, y = 0.0, yaw = 0.0;
    td_camera_render_grey(cfg, &w.scene, x, y, yaw, img);
    uint8_t road = luma_of(w.look.road), border = luma_of(w.look.border);
    uint8_t center = luma_of(w.look.center), grass = luma_of(w.look.grass);
    uint8_t sky = luma_of(w.look.sky);
    double p = 20.0 / 33.0;
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw, 3.0, 0.25), road);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw, 3.3, -0.2), road);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw, 3.0, 0.475), border);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw, 3.5, -0.475), border);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw, 5 * p, 0.0), center);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw, 5.5 * p, 0.0), road);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw, 3.6, 0.8), grass);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw, 3.6, -0.8), grass);
    for (int i = 0; i < W; i++)
        TD_ASSERT_EQ_INT(img[i], sky);
    /* The horizon: the first row whose pixel-centre ray points below the horizontal. */
    double f = 0.5 * W / tan(0.5 * cfg->hfov_deg * M_PI / 180.0);
    int jh = (int)ceil(0.5 * H - 0.5 - f * tan(cfg->pitch_deg * M_PI / 180.0));
    TD_ASSERT(jh > 10 && jh < H / 2);
    for (int i = 0; i < W; i++)
        TD_ASSERT_EQ_INT(img[(jh - 1) * W + i], sky);
    int ground = 0;
    for (int i = 0; i < W; i++)
        ground += img[jh * W + i] != sky;
    TD_ASSERT_EQ_INT(ground, W);
    /* Turning the car turns the view: the same world point moves to a matching pixel. */
    double yaw2 = 0.3;
    td_camera_render_grey(cfg, &w.scene, x, y, yaw2, img);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw2, 3.2, 0.475), border);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw2, 3.2, 0.8), grass);
    TD_ASSERT_EQ_INT(pixel_at(cfg, img, x, y, yaw2, 3.0, -0.2), road);
    td_free(img);
    world_free(&w);
}

TD_TEST(camera_follows_other_pitch_fov_and_size)
{
    /* The same checks with another pitch, field of view and image size. */
    world w;
    world_straight(&w, 20.0, 1.0);
    const double pitches[3] = {5.0, 22.0, 30.0};
    for (int pi = 0; pi < 3; pi++) {
        td_camera_config *cfg = &w.cfg;
        td_camera_config_default(cfg);
        cfg->pitch_deg = pitches[pi];
        cfg->hfov_deg = 50.0 + 20.0 * pi;
        cfg->width = 96 + 32 * pi;
        cfg->height = 64 + 16 * pi;
        cfg->height_m = 0.1 + 0.05 * pi;
        int W = cfg->width, H = cfg->height;
        uint8_t *img = td_malloc((size_t)W * H);
        td_camera_render_grey(cfg, &w.scene, 2.0, 0.0, 0.0, img);
        uint8_t sky = luma_of(w.look.sky);
        double f = 0.5 * W / tan(0.5 * cfg->hfov_deg * M_PI / 180.0);
        int jh = (int)ceil(0.5 * H - 0.5 - f * tan(cfg->pitch_deg * M_PI / 180.0));
        if (jh > 0)
            TD_ASSERT_EQ_INT(img[(jh - 1) * W + W / 2], sky);
        TD_ASSERT_NE(img[jh * W + W / 2], sky);
        TD_ASSERT_EQ_INT(pixel_at(cfg, img, 2.0, 0.0, 0.0, 3.2, 0.475), luma_of(w.look.border));
        TD_ASSERT_EQ_INT(pixel_at(cfg, img, 2.0, 0.0, 0.0, 3.2, -0.25), luma_of(w.look.road));
        td_free(img);
    }
    world_free(&w);
}

TD_TEST(camera_grey_is_luma_of_rgb)
{
    world w;
    world_straight(&w, 20.0, 1.0);
    td_box box = {4.0, 0.2, 0.4, 0.3, 0.2, 0.15, TD_BOX_CAR};
    w.scene.boxes = &box;
    w.scene.nboxes = 1;
    int W = w.cfg.width, H = w.cfg.height;
    uint8_t *g = td_malloc((size_t)W * H), *rgb = td_malloc((size_t)W * H * 3);
    for (int ss = 1; ss <= 2; ss++) {
        w.cfg.supersample = ss;
        td_camera_render_grey(&w.cfg, &w.scene, 1.5, 0.1, 0.05, g);
        td_camera_render_rgb(&w.cfg, &w.scene, 1.5, 0.1, 0.05, rgb);
        int worst = 0;
        for (int i = 0; i < W * H; i++) {
            int d = abs((int)g[i] - (int)luma_of(rgb + 3 * i));
            worst = d > worst ? d : worst;
        }
        /* Exact without supersampling; averaging grey or RGB first may round apart by 1. */
        TD_ASSERT_MSG(worst <= (ss == 1 ? 0 : 1), "supersample %d: grey differs by %d", ss, worst);
    }
    td_free(g);
    td_free(rgb);
    world_free(&w);
}

TD_TEST(camera_draws_boxes_ahead_not_behind)
{
    world w;
    world_straight(&w, 20.0, 1.0);
    int W = w.cfg.width, H = w.cfg.height;
    size_t n = (size_t)W * H;
    uint8_t *base = td_malloc(n), *img = td_malloc(n);
    double x = 2.0, y = 0.0, yaw = 0.0;
    td_camera_render_grey(&w.cfg, &w.scene, x, y, yaw, base);

    td_box box = {3.0, 0.15, 0.0, 0.2, 0.2, 0.1, TD_BOX_OBSTACLE};
    w.scene.boxes = &box;
    w.scene.nboxes = 1;
    td_camera_render_grey(&w.cfg, &w.scene, x, y, yaw, img);
    /* The middle of the box's rear face (towards the car) shows the obstacle colour. */
    double p[3] = {2.9, 0.15, 0.05};
    int col, row;
    TD_ASSERT(project(&w.cfg, x, y, yaw, p, &col, &row));
    uint8_t v = img[row * W + col];
    TD_ASSERT_NE(v, base[row * W + col]);
    TD_ASSERT_LT(abs((int)v - (int)luma_of(w.look.obstacle)), 0.45 * luma_of(w.look.obstacle));
    /* Outside the box's projection nothing changed; inside, a solid area. */
    int changed = count_diff(base, img, n);
    TD_ASSERT_GT(changed, 100);
    double far_pt[3] = {3.0, -0.3, 0.0};
    TD_ASSERT(project(&w.cfg, x, y, yaw, far_pt, &col, &row));
    TD_ASSERT_EQ_INT(img[row * W + col], base[row * W + col]);

    /* A car-kind box renders in the car colour, differently from an obstacle. */
    uint8_t *img2 = td_malloc(n);
    box.kind = TD_BOX_CAR;
    td_camera_render_grey(&w.cfg, &w.scene, x, y, yaw, img2);
    TD_ASSERT_GT(count_diff(img, img2, n), 100);

    /* Behind the car (and behind the lens) it is invisible. */
    box.x = 1.5;
    td_camera_render_grey(&w.cfg, &w.scene, x, y, yaw, img);
    TD_ASSERT_EQ_INT(count_diff(base, img, n), 0);
    /* A nearer box hides a farther one behind it (painter's order). */
    td_box two[2] = {{3.0, 0.0, 0.0, 0.1, 0.4, 0.1, TD_BOX_OBSTACLE},
                     {4.0, 0.0, 0.0, 0.1, 0.1, 0.05, TD_BOX_CAR}};
    w.scene.boxes = two;
    w.scene.nboxes = 2;
    td_camera_render_grey(&w.cfg, &w.scene, x, y, yaw, img);
    w.scene.nboxes = 1;
    td_camera_render_grey(&w.cfg, &w.scene, x, y, yaw, img2);
    TD_ASSERT_EQ_INT(count_diff(img, img2, n), 0);
    td_free(base);
    td_free(img);
    td_free(img2);
    world_free(&w);
}

TD_TEST(camera_stereo_eyes_are_shifted_monos)
{
    world w;
    world_straight(&w, 20.0, 1.0);
    int W = w.cfg.width, H = w.cfg.height;
    size_t n = (size_t)W * H;
    uint8_t *st = td_malloc(2 * n), *mono = td_malloc(n), *eye = td_malloc(n);
    double x = 2.0, y = 0.05, yaw = 0.12, half = 0.5 * w.cfg.stereo_baseline_m;
    TD_ASSERT_GT(half, 0.0);
    td_box box = {3.2, 0.1, 0.3, 0.3, 0.2, 0.15, TD_BOX_CAR};
    w.scene.boxes = &box;
    w.scene.nboxes = 1;
    for (int ss = 1; ss <= 2; ss++) {
        w.cfg.supersample = ss;
        td_camera_render_stereo(&w.cfg, &w.scene, x, y, yaw, st);
        for (int e = 0; e < 2; e++) {
            double off = e == 0 ? half : -half;
            td_camera_render_grey(&w.cfg, &w.scene, x + off * -sin(yaw), y + off * cos(yaw), yaw,
                                  mono);
            for (size_t i = 0; i < n; i++)
                eye[i] = st[2 * i + e];
            TD_ASSERT_MSG(count_diff(eye, mono, n) == 0, "eye %d (ss %d): %d pixels differ", e, ss,
                          count_diff(eye, mono, n));
        }
        for (size_t i = 0; i < n; i++)
            eye[i] = st[2 * i];
        for (size_t i = 0; i < n; i++)
            mono[i] = st[2 * i + 1];
        TD_ASSERT_GT(count_diff(eye, mono, n), 50);
    }
    td_free(st);
    td_free(mono);
    td_free(eye);
    world_free(&w);
}

TD_TEST(camera_randomized_look_is_reproducible)
{
    world w;
    world_straight(&w, 20.0, 1.0);
    int W = w.cfg.width, H = w.cfg.height;
    size_t n = (size_t)W * H;
    uint8_t *a = td_malloc(n), *b = td_malloc(n), *c = td_malloc(n);
    td_camera_render_grey(&w.cfg, &w.scene, 2.0, 0.0, 0.0, a);
    td_look la, lb;
    td_rng r1, r2;
    td_look_default(&la);
    td_look_default(&lb);
    td_rng_seed(&r1, 42, 3);
    td_rng_seed(&r2, 42, 3);
    td_look_randomize(&la, &r1);
    td_look_randomize(&lb, &r2);
    TD_ASSERT(la.brightness >= 0.7 && la.brightness <= 1.3);
    TD_ASSERT(la.contrast >= 0.75 && la.contrast <= 1.25);
    w.scene.look = &la;
    td_camera_render_grey(&w.cfg, &w.scene, 2.0, 0.0, 0.0, b);
    w.scene.look = &lb;
    td_camera_render_grey(&w.cfg, &w.scene, 2.0, 0.0, 0.0, c);
    TD_ASSERT_EQ_INT(count_diff(b, c, n), 0);
    TD_ASSERT_GT(count_diff(a, b, n), (int)(n / 2));
    /* Another draw gives another look; the road stays darker than the border lines. */
    int darker = 0;
    for (int k = 0; k < 50; k++) {
        td_look l;
        td_look_default(&l);
        td_look_randomize(&l, &r1);
        darker += luma_of(l.road) + 60 < luma_of(l.border);
        if (k == 0) {
            w.scene.look = &l;
            td_camera_render_grey(&w.cfg, &w.scene, 2.0, 0.0, 0.0, c);
            TD_ASSERT_GT(count_diff(b, c, n), (int)(n / 2));
        }
    }
    TD_ASSERT_EQ_INT(darker, 50);
    td_free(a);
    td_free(b);
    td_free(c);
    world_free(&w);
}

/* td_look_randomize_in draws within the ranges it is given, with as many draws as the default
 * (a seed gives the same sequence of looks whatever the ranges). */
TD_TEST(randomization_draws_within_given_ranges)
{
    td_dr_ranges wide;
    td_dr_ranges_default(&wide);
    wide.brightness[0] = 0.40;
    wide.brightness[1] = 0.45;
    wide.texture_hi = 60;
    wide.noise_hi = 20;
    td_err err;
    TD_ASSERT_OK(td_dr_ranges_check(&wide, &err));
    td_rng r1, r2;
    td_rng_seed(&r1, 5, 1);
    td_rng_seed(&r2, 5, 1);
    int above_default = 0;
    for (int k = 0; k < 200; k++) {
        td_look a, b;
        td_look_default(&a);
        td_look_default(&b);
        td_look_randomize_in(&a, &r1, &wide);
        td_look_randomize(&b, &r2);
        TD_ASSERT(a.brightness >= 0.40 && a.brightness <= 0.45);
        TD_ASSERT(a.texture <= 60 && a.noise_sigma <= 20);
        TD_ASSERT(b.brightness >= 0.70 && b.brightness <= 1.30 && b.texture <= 24);
        above_default += a.texture > 24;
    }
    TD_ASSERT_GT(above_default, 80);
    TD_ASSERT_EQ(td_rng_u32(&r1), td_rng_u32(&r2));
    /* A union never narrows; a range the renderer cannot draw is refused. */
    td_dr_ranges u, bad;
    td_dr_ranges_union(&u, &wide, NULL);
    TD_ASSERT_NEAR(u.brightness[0], 0.40, 0);
    TD_ASSERT_NEAR(u.brightness[1], 1.30, 0);
    TD_ASSERT_NEAR(u.texture_hi, 60, 0);
    bad = wide;
    bad.brightness[0] = 0.9;
    bad.brightness[1] = 0.5;
    TD_ASSERT_EQ(td_dr_ranges_check(&bad, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "brightness [0.9, 0.5] must be a range inside [0.05, 5]");
    bad = wide;
    bad.noise_hi = 200;
    TD_ASSERT_EQ(td_dr_ranges_check(&bad, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "noise 200 must lie in [0, 127]");
}

TD_TEST(sensors_survive_broken_poses)
{
    /* NaN or absurd poses (a diverged simulation) must not crash or trip the sanitizers. */
    world w;
    world_straight(&w, 20.0, 1.0);
    td_lidar_grid *g = NULL;
    TD_ASSERT_OK(td_lidar_grid_open(&g, &w.track, 0.0, NULL));
    td_lidar_config lc;
    td_lidar_config_default(&lc);
    td_box box = {NAN, 0.0, 0.0, 0.2, 0.2, 0.2, TD_BOX_CAR};
    w.scene.boxes = &box;
    w.scene.nboxes = 1;
    uint8_t img[160 * 120 * 3];
    float scan[64];
    const double poses[4][3] = {{NAN, 0, 0}, {0, INFINITY, 0}, {1e15, -1e15, 0.3}, {2.0, 0.0, NAN}};
    for (int k = 0; k < 4; k++) {
        td_camera_render_grey(&w.cfg, &w.scene, poses[k][0], poses[k][1], poses[k][2], img);
        td_camera_render_rgb(&w.cfg, &w.scene, poses[k][0], poses[k][1], poses[k][2], img);
        td_lidar_scan(&lc, g, &w.scene, poses[k][0], poses[k][1], poses[k][2], NULL, scan);
        TD_ASSERT(scan[0] >= 0.15f && scan[0] <= 12.0f);
    }
    /* A broken box is absent, not everywhere: the walls still read their distances. */
    td_lidar_scan(&lc, g, &w.scene, 5.0, 0.0, 0.0, NULL, scan);
    TD_ASSERT_GT(scan[16], 0.45f); /* beam 16 is at -74 deg: the right wall 0.52 m away */
    td_lidar_grid_close(g);
    world_free(&w);
}

TD_TEST(camera_config_check)
{
    td_camera_config cfg;
    td_camera_config_default(&cfg);
    TD_ASSERT_EQ_INT(cfg.width, 160);
    TD_ASSERT_EQ_INT(cfg.height, 120);
    TD_ASSERT_NEAR(cfg.hfov_deg, 64.7, 1e-9);
    TD_ASSERT_OK(td_camera_config_check(&cfg, NULL));
    td_err err = {0};
    cfg.supersample = 3;
    TD_ASSERT_EQ_INT(td_camera_config_check(&cfg, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "supersample 3");
    td_camera_config_default(&cfg);
    cfg.width = 5000;
    TD_ASSERT_EQ_INT(td_camera_config_check(&cfg, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "5000");
}

TD_TEST(camera_renders_real_track_without_map_or_boxes)
{
    /* Every track builds a map, and a frame at its start has road at the bottom centre. */
    td_track t;
    load_shared(&t, "reInvent2019_track");
    td_ground_map *m = NULL;
    TD_ASSERT_OK(td_ground_map_open(&m, &t, 0.0, NULL));
    td_look look;
    td_look_default(&look);
    td_scene scene = {&t, m, NULL, 0, &look, NULL, NULL, 0};
    td_camera_config cfg;
    td_camera_config_default(&cfg);
    uint8_t img[160 * 120];
    double x, y, h;
    td_track_point_at(&t, 3.0, 0.2, &x, &y, &h);
    td_camera_render_grey(&cfg, &scene, x, y, h, img);
    TD_ASSERT_EQ_INT(img[119 * 160 + 80], luma_of(look.road));
    /* With no ground map the world is grass and sky. */
    scene.ground = NULL;
    td_camera_render_grey(&cfg, &scene, x, y, h, img);
    TD_ASSERT_EQ_INT(img[119 * 160 + 80], luma_of(look.grass));
    TD_ASSERT_EQ_INT(img[0], luma_of(look.sky));
    td_ground_map_close(m);
    td_track_free(&t);
}

/* ---- lidar ------------------------------------------------------------------------------- */

typedef struct lworld {
    td_track track;
    td_lidar_grid *grid;
    td_scene scene;
    td_lidar_config cfg;
} lworld;

static void lworld_straight(lworld *w, double cell)
{
    make_straight(&w->track, 20.0, 1.0);
    TD_ASSERT_OK(td_lidar_grid_open(&w->grid, &w->track, cell, NULL));
    memset(&w->scene, 0, sizeof(w->scene));
    w->scene.track = &w->track;
    td_lidar_config_default(&w->cfg);
}

static void lworld_free(lworld *w)
{
    td_lidar_grid_close(w->grid);
    td_track_free(&w->track);
}

TD_TEST(lidar_between_parallel_walls)
{
    lworld w;
    lworld_straight(&w, 0.0);
    /* Five beams over 180 degrees: right, right-front, front, left-front, left. */
    td_lidar_config c5 = w.cfg;
    c5.beams = 5;
    c5.fov_deg = 180.0;
    c5.num_sectors = 5;
    float out[TD_LIDAR_BEAMS];
    td_lidar_scan(&c5, w.grid, &w.scene, 5.0, 0.1, 0.0, NULL, out);
    TD_ASSERT_NEAR(out[0], 0.6, 1e-5);
    TD_ASSERT_NEAR(out[1], 0.6 / cos(M_PI / 4), 1e-5);
    TD_ASSERT_NEAR(out[2], 12.0, 0.0); /* open end of the road, 15 m away: max range */
    TD_ASSERT_NEAR(out[3], 0.4 / cos(M_PI / 4), 1e-5);
    TD_ASSERT_NEAR(out[4], 0.4, 1e-5);
    /* The default 64 beams: every beam against d = offset / |sin|, within the walls' extent. */
    td_lidar_scan(&w.cfg, w.grid, &w.scene, 5.0, 0.1, 0.0, NULL, out);
    for (int k = 0; k < 64; k++) {
        double a = (-150.0 + k * 300.0 / 63.0) * M_PI / 180.0;
        double d = sin(a) > 0 ? 0.4 / sin(a) : 0.6 / -sin(a);
        double hx = 5.0 + d * cos(a);
        if (d > 12.0 || hx < 0.0 || hx > 20.0)
            d = 12.0;
        TD_ASSERT_MSG(fabs(out[k] - d) < 1e-4, "beam %d: %g vs %g", k, out[k], d);
    }
    /* A rotated car: the left wall is now ahead-left. */
    td_lidar_scan(&c5, w.grid, &w.scene, 5.0, 0.1, 0.5, NULL, out);
    TD_ASSERT_NEAR(out[4], 0.4 / cos(0.5), 1e-5);
    TD_ASSERT_NEAR(out[0], 0.6 / cos(0.5), 1e-5);
    lworld_free(&w);
}

TD_TEST(lidar_sees_boxes_and_max_range)
{
    lworld w;
    lworld_straight(&w, 0.0);
    td_lidar_config c5 = w.cfg;
    c5.beams = 5;
    c5.fov_deg = 180.0;
    c5.num_sectors = 5;
    float out[8];
    td_box box = {6.0, 0.1, 0.0, 0.2, 0.3, 0.2, TD_BOX_OBSTACLE};
    w.scene.boxes = &box;
    w.scene.nboxes = 1;
    td_lidar_scan(&c5, w.grid, &w.scene, 5.0, 0.1, 0.0, NULL, out);
    TD_ASSERT_NEAR(out[2], 0.9, 1e-5);
    TD_ASSERT_NEAR(out[4], 0.4, 1e-5);
    /* A square box turned 45 degrees shows the beam its corner, at half a diagonal. */
    box.yaw = M_PI / 4;
    box.width = 0.2;
    td_lidar_scan(&c5, w.grid, &w.scene, 5.0, 0.1, 0.0, NULL, out);
    TD_ASSERT_NEAR(out[2], 1.0 - 0.1 * sqrt(2.0), 1e-5);
    /* Open area: no walls, no boxes: every beam reads exactly the max range. */
    w.scene.nboxes = 0;
    float full[TD_LIDAR_BEAMS];
    td_lidar_scan(&w.cfg, NULL, &w.scene, 5.0, 0.1, 0.0, NULL, full);
    for (int k = 0; k < 64; k++)
        TD_ASSERT_EQ_INT(full[k] == 12.0f, 1);
    /* Far outside the track's grid, looking away: max range too (noise does not apply). */
    td_rng rng;
    td_rng_seed(&rng, 5, 0);
    td_lidar_scan(&w.cfg, w.grid, &w.scene, -30.0, 0.0, M_PI, &rng, full);
    for (int k = 0; k < 64; k++)
        TD_ASSERT_EQ_INT(full[k] == 12.0f, 1);
    /* Inside a box: minimum range. */
    box.x = 5.0;
    box.y = 0.1;
    w.scene.nboxes = 1;
    td_lidar_scan(&c5, w.grid, &w.scene, 5.0, 0.1, 0.0, NULL, out);
    TD_ASSERT_NEAR(out[2], 0.15, 1e-6);
    lworld_free(&w);
}

TD_TEST(lidar_boxes_match_brute_force)
{
    /* Random boxes all around: the scan's culling by angle and reach loses no hit. */
    td_lidar_config cfg;
    td_lidar_config_default(&cfg);
    td_rng rng;
    td_rng_seed(&rng, 21, 0);
    td_box boxes[6];
    td_scene scene = {NULL, NULL, boxes, 6, NULL, NULL, NULL, 0};
    int hits = 0;
    for (int k = 0; k < 400; k++) {
        for (int b = 0; b < 6; b++) {
            double d = td_rng_range(&rng, 0.1, 4.0), a = td_rng_range(&rng, -M_PI, M_PI);
            boxes[b] = (td_box){d * cos(a),
                                d * sin(a),
                                td_rng_range(&rng, -M_PI, M_PI),
                                td_rng_range(&rng, 0.05, 0.6),
                                td_rng_range(&rng, 0.05, 0.4),
                                0.2,
                                b % 2};
        }
        double yaw = td_rng_range(&rng, -4.0, 4.0);
        float fast[64], ref[64], part[64];
        td_lidar_scan(&cfg, NULL, &scene, 0.0, 0.0, yaw, NULL, fast);
        td_lidar_scan_reference(&cfg, NULL, &scene, 0.0, 0.0, yaw, ref);
        td_lidar_scan_reach(&cfg, NULL, &scene, 0.0, 0.0, yaw, NULL, 1.5, part);
        for (int b = 0; b < 64; b++) {
            TD_ASSERT_MSG(fast[b] == ref[b], "case %d beam %d: %.6f vs %.6f", k, b, fast[b],
                          ref[b]);
            TD_ASSERT_EQ(part[b], (ref[b] < 1.5f ? ref[b] : 12.0f));
            hits += ref[b] < 12.0f;
        }
    }
    TD_ASSERT_GT(hits, 2000);
}

TD_TEST(lidar_noise_has_configured_sigma)
{
    lworld w;
    lworld_straight(&w, 0.0);
    td_lidar_config c5 = w.cfg;
    c5.beams = 5;
    c5.fov_deg = 180.0;
    c5.num_sectors = 5;
    td_rng rng;
    td_rng_seed(&rng, 99, 1);
    double sum = 0, sum2 = 0;
    int n = 4000;
    float out[8];
    for (int i = 0; i < n; i++) {
        td_lidar_scan(&c5, w.grid, &w.scene, 5.0, 0.1, 0.0, &rng, out);
        double e = out[4] - 0.4;
        sum += e;
        sum2 += e * e;
    }
    double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    TD_ASSERT_NEAR(mean, 0.0, 0.001);
    TD_ASSERT_NEAR(sd, 0.01, 0.001);
    /* Reproducible with the same seed. */
    float a[TD_LIDAR_BEAMS], b[TD_LIDAR_BEAMS];
    td_rng_seed(&rng, 7, 0);
    td_lidar_scan(&w.cfg, w.grid, &w.scene, 5.0, 0.1, 0.0, &rng, a);
    td_rng_seed(&rng, 7, 0);
    td_lidar_scan(&w.cfg, w.grid, &w.scene, 5.0, 0.1, 0.0, &rng, b);
    TD_ASSERT_EQ(memcmp(a, b, sizeof(a)), 0);
    lworld_free(&w);
}

TD_TEST(lidar_grid_walk_matches_brute_force)
{
    const char *names[] = {"reInvent2019_track", "Bowtie_track", "Monaco", "Straight_track"};
    double cells[] = {0.0, 0.07, 1.3};
    for (int ti = 0; ti < 4; ti++) {
        td_track t;
        load_shared(&t, names[ti]);
        for (int ci = 0; ci < 3; ci++) {
            td_lidar_grid *g = NULL;
            td_err err = {0};
            TD_ASSERT_OK(td_lidar_grid_open(&g, &t, cells[ci], &err));
            td_lidar_config cfg;
            td_lidar_config_default(&cfg);
            td_rng rng;
            td_rng_seed(&rng, 3, (uint64_t)(ti * 10 + ci));
            td_scene scene = {&t, NULL, NULL, 0, NULL, NULL, NULL, 0};
            int hits = 0;
            for (int k = 0; k < 150; k++) {
                double x, y, yaw;
                if (k % 3 == 0) {
                    /* Anywhere around the track, also outside the grid. */
                    x = td_rng_range(&rng, t.min_x - 3.0, t.max_x + 3.0);
                    y = td_rng_range(&rng, t.min_y - 3.0, t.max_y + 3.0);
                    yaw = td_rng_range(&rng, -M_PI, M_PI);
                } else {
                    double h;
                    td_track_point_at(&t, td_rng_range(&rng, 0, t.length),
                                      td_rng_range(&rng, -0.4, 0.4), &x, &y, &h);
                    yaw = h + td_rng_range(&rng, -0.5, 0.5);
                }
                float fast[TD_LIDAR_BEAMS], ref[TD_LIDAR_BEAMS];
                td_lidar_scan(&cfg, g, &scene, x, y, yaw, NULL, fast);
                td_lidar_scan_reference(&cfg, g, &scene, x, y, yaw, ref);
                for (int b = 0; b < 64; b++) {
                    TD_ASSERT_MSG(fabsf(fast[b] - ref[b]) < 1e-5f,
                                  "%s cell %g pose (%.4f, %.4f, %.4f) beam %d: %.6f vs %.6f",
                                  names[ti], cells[ci], x, y, yaw, b, fast[b], ref[b]);
                    hits += ref[b] < 12.0f;
                }
            }
            TD_ASSERT_GT(hits, 1000);
            td_lidar_grid_close(g);
        }
        td_track_free(&t);
    }
}

TD_TEST(lidar_reach_scan_encodes_like_full_scan)
{
    td_track t;
    load_shared(&t, "reInvent2019_track");
    td_lidar_grid *g = NULL;
    TD_ASSERT_OK(td_lidar_grid_open(&g, &t, 0.0, NULL));
    td_lidar_config cfg;
    td_lidar_config_default(&cfg);
    cfg.clipping_dist_m = 1.5;
    td_box boxes[2] = {{0, 0, 0.3, 0.25, 0.25, 0.2, TD_BOX_OBSTACLE},
                       {0, 0, -0.2, 0.4, 0.2, 0.15, TD_BOX_CAR}};
    td_scene scene = {&t, NULL, boxes, 2, NULL, NULL, NULL, 0};
    const int encs[3] = {TD_LIDAR_REACH_CLIPPED, TD_LIDAR_REACH_SECTOR, TD_LIDAR_REACH_DISCRETIZED};
    TD_ASSERT_NEAR(td_lidar_reach_m(&cfg, TD_LIDAR_REACH_CLIPPED), 1.035, 1e-5);
    TD_ASSERT_NEAR(td_lidar_reach_m(&cfg, TD_LIDAR_REACH_RAW), 12.0, 0);
    td_rng prng;
    td_rng_seed(&prng, 8, 0);
    int differ_raw = 0;
    for (int k = 0; k < 300; k++) {
        double x, y, h;
        td_track_point_at(&t, td_rng_range(&prng, 0, t.length), td_rng_range(&prng, -0.4, 0.4), &x,
                          &y, &h);
        double yaw = h + td_rng_range(&prng, -0.6, 0.6);
        /* Boxes near the car, sometimes within reach. */
        boxes[0].x = x + td_rng_range(&prng, -1.2, 1.2);
        boxes[0].y = y + td_rng_range(&prng, -1.2, 1.2);
        boxes[1].x = x + td_rng_range(&prng, -2.0, 2.0);
        boxes[1].y = y + td_rng_range(&prng, -2.0, 2.0);
        /* Without noise, the short scan equals the brute-force one wherever that is nearer. */
        float rf[64], rp[64];
        double reach = td_lidar_reach_m(&cfg, TD_LIDAR_REACH_DISCRETIZED);
        td_lidar_scan_reference(&cfg, g, &scene, x, y, yaw, rf);
        td_lidar_scan_reach(&cfg, g, &scene, x, y, yaw, NULL, reach, rp);
        for (int b = 0; b < 64; b++)
            TD_ASSERT_MSG(rp[b] == (rf[b] < reach ? rf[b] : 12.0f),
                          "pose %d beam %d: reach scan %.6f, reference %.6f", k, b, rp[b], rf[b]);
        for (int e = 0; e < 3; e++) {
            float full[64], part[64], ef[64], ep[64];
            td_rng r1, r2;
            td_rng_seed(&r1, (uint64_t)k, 1);
            td_rng_seed(&r2, (uint64_t)k, 1);
            td_lidar_scan(&cfg, g, &scene, x, y, yaw, &r1, full);
            td_lidar_scan_reach(&cfg, g, &scene, x, y, yaw, &r2, td_lidar_reach_m(&cfg, encs[e]),
                                part);
            TD_ASSERT_EQ(r1.state, r2.state);
            differ_raw += memcmp(full, part, sizeof(full)) != 0;
            if (encs[e] == TD_LIDAR_REACH_CLIPPED) {
                td_lidar_encode_clipped(&cfg, full, ef);
                td_lidar_encode_clipped(&cfg, part, ep);
                TD_ASSERT_EQ(memcmp(ef, ep, 64 * sizeof(float)), 0);
            } else if (encs[e] == TD_LIDAR_REACH_SECTOR) {
                td_lidar_encode_sector(&cfg, full, ef);
                td_lidar_encode_sector(&cfg, part, ep);
                TD_ASSERT_EQ(memcmp(ef, ep, 8 * sizeof(float)), 0);
            } else {
                td_lidar_encode_discretized(&cfg, full, ef);
                td_lidar_encode_discretized(&cfg, part, ep);
                TD_ASSERT_EQ(memcmp(ef, ep, 64 * sizeof(float)), 0);
            }
        }
    }
    /* The raw scans do differ (far walls read max), so the comparison above has teeth. */
    TD_ASSERT_GT(differ_raw, 100);
    td_lidar_grid_close(g);
    td_track_free(&t);
}

TD_TEST(lidar_encodings)
{
    td_lidar_config cfg;
    td_lidar_config_default(&cfg);
    float scan[64], out[64];
    for (int k = 0; k < 64; k++)
        scan[k] = 5.0f;
    scan[0] = 0.05f;
    scan[1] = 0.5f;
    td_lidar_encode_clipped(&cfg, scan, out);
    TD_ASSERT_NEAR(out[0], 0.15, 1e-7);
    TD_ASSERT_NEAR(out[1], 0.5, 1e-7);
    TD_ASSERT_NEAR(out[2], 1.0, 1e-7);
    /* In place. */
    td_lidar_encode_clipped(&cfg, scan, scan);
    TD_ASSERT_NEAR(scan[63], 1.0, 1e-7);

    for (int k = 0; k < 64; k++)
        scan[k] = 5.0f;
    scan[9] = 0.3f;   /* sector 1 */
    scan[16] = 0.5f;  /* sector 2: not below 0.5 */
    scan[63] = 0.49f; /* sector 7 */
    float sec[8];
    td_lidar_encode_sector(&cfg, scan, sec);
    const float want_sec[8] = {0, 1, 0, 0, 0, 0, 0, 1};
    for (int s = 0; s < 8; s++)
        TD_ASSERT_NEAR(sec[s], want_sec[s], 0);

    /* Discretized 8 x 8 over 2.0 m: bins of 0.25 m; at or beyond 2.0 m all zeros. */
    const float mins[8] = {0.1f, 0.3f, 1.99f, 2.0f, 12.0f, 0.25f, 0.7499f, 0.15f};
    const int want_idx[8] = {0, 1, 7, -1, -1, 1, 2, 0};
    for (int s = 0; s < 8; s++)
        for (int k = 0; k < 8; k++)
            scan[s * 8 + k] = k == 3 ? mins[s] : 11.0f;
    td_lidar_encode_discretized(&cfg, scan, out);
    for (int s = 0; s < 8; s++)
        for (int v = 0; v < 8; v++)
            TD_ASSERT_MSG(out[s * 8 + v] == (v == want_idx[s] ? 1.0f : 0.0f),
                          "sector %d value %d is %g", s, v, out[s * 8 + v]);

    /* Another lidar_config: 4 sectors of 16 beams, 3 values over 1.5 m (bins of 0.5 m). */
    cfg.num_sectors = 4;
    cfg.num_values_per_sector = 3;
    cfg.clipping_dist_m = 1.5;
    TD_ASSERT_OK(td_lidar_config_check(&cfg, NULL));
    for (int k = 0; k < 64; k++)
        scan[k] = 3.0f;
    scan[5] = 0.2f;
    scan[20] = 1.2f;
    scan[47] = 0.6f;
    float out2[12];
    td_lidar_encode_discretized(&cfg, scan, out2);
    const float want2[12] = {1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 12; i++)
        TD_ASSERT_NEAR(out2[i], want2[i], 0);
    /* A clipping distance beyond the max range is clamped to 12 m, as DeepRacer does. */
    cfg.num_values_per_sector = 2;
    cfg.clipping_dist_m = 100.0;
    td_lidar_encode_discretized(&cfg, scan, out2);
    TD_ASSERT_NEAR(out2[0], 1, 0);
    TD_ASSERT_NEAR(out2[6], 1, 0); /* sector 3 min 3.0 < 6.0: first bin */
}

TD_TEST(lidar_config_and_grid_errors)
{
    td_lidar_config cfg;
    td_lidar_config_default(&cfg);
    TD_ASSERT_EQ_INT(cfg.beams, 64);
    TD_ASSERT_OK(td_lidar_config_check(&cfg, NULL));
    td_err err = {0};
    cfg.num_sectors = 7;
    TD_ASSERT_EQ_INT(td_lidar_config_check(&cfg, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "num_sectors 7");
    td_lidar_config_default(&cfg);
    cfg.max_range_m = 0.1;
    TD_ASSERT_EQ_INT(td_lidar_config_check(&cfg, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "lidar: range [");
    td_track t;
    make_straight(&t, 5.0, 1.0);
    td_lidar_grid *g = NULL;
    TD_ASSERT_EQ_INT(td_lidar_grid_open(&g, &t, 0.001, &err), TD_EINVAL);
    TD_ASSERT(g == NULL);
    TD_ASSERT_CONTAINS(err.msg, "cell size");
    td_track_free(&t);
}

/* ---- CLI ---------------------------------------------------------------------------------- */

TD_TEST(cli_camera_writes_png)
{
    char out[512], cmd[2048];
    TD_FMT(out, "%s/view.png", td_test_tmpdir());
    TD_FMT(cmd,
           "'%s' camera --track '%s/Straight_track.npy' --at 10 --obstacles 1 -o '%s' "
           ">/dev/null",
           TD_TEST_TRACKDAY_BIN, TD_SHARED_TRACKS, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    uint8_t *pix = NULL;
    int w = 0, h = 0, ch = 0;
    TD_ASSERT_OK(td_png_read(out, &pix, &w, &h, &ch, NULL));
    TD_ASSERT_EQ_INT(w, 160);
    TD_ASSERT_EQ_INT(h, 120);
    TD_ASSERT_EQ_INT(ch, 1);
    td_look look;
    td_look_default(&look);
    TD_ASSERT_EQ_INT(pix[0], luma_of(look.sky));
    td_free(pix);
    remove(out);
    TD_FMT(cmd,
           "'%s' camera --track '%s/Straight_track.npy' --at 10 --rgb --stereo -o '%s' "
           ">/dev/null",
           TD_TEST_TRACKDAY_BIN, TD_SHARED_TRACKS, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_OK(td_png_read(out, &pix, &w, &h, &ch, NULL));
    TD_ASSERT_EQ_INT(w, 320);
    TD_ASSERT_EQ_INT(ch, 3);
    td_free(pix);
    remove(out);
    /* The reverse direction, a randomized look, supersampled. */
    TD_FMT(cmd,
           "'%s' camera --track '%s/Straight_track.npy' --at 50 --reverse --randomize 3 "
           "--supersample 2 -o '%s' >/dev/null",
           TD_TEST_TRACKDAY_BIN, TD_SHARED_TRACKS, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_OK(td_png_read(out, &pix, &w, &h, &ch, NULL));
    TD_ASSERT_EQ_INT(ch, 1);
    TD_ASSERT_NE(pix[0], luma_of(look.sky)); /* another sky */
    td_free(pix);
    remove(out);
    /* Errors go to stderr with exit status 1. */
    char *errs;
    TD_FMT(cmd, "'%s' camera --track '%s/Straight_track.npy' -o '%s'", TD_TEST_TRACKDAY_BIN,
           TD_SHARED_TRACKS, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, &errs), 2); /* a command-line mistake */
    TD_ASSERT_CONTAINS(errs, "missing --at PROGRESS");
    td_free(errs);
    TD_FMT(cmd, "'%s' camera --track nosuchtrack --at 3 -o '%s'", TD_TEST_TRACKDAY_BIN, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, &errs), 1);
    TD_ASSERT_CONTAINS(errs, "no track named 'nosuchtrack'");
    td_free(errs);
    TD_ASSERT(!td_path_exists(out));
}
