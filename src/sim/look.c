/*
 * look.c - the colours, lighting and camera imperfections of the rendered world, domain
 * randomization (DeepRacer's ENABLE_DOMAIN_RANDOMIZATION, extended to the real camera's
 * effects: each episode may draw a perturbed copy of the default look so a camera policy
 * does not overfit one exact shade of road, one lighting or a perfect lens), and the
 * surroundings of a track (walls, barriers, people) the camera can see.
 */
#include <math.h>
#include <string.h>

#include "sim/sim_internal.h"
#include "trackday/sensors.h"

static void set_rgb(uint8_t *c, uint8_t r, uint8_t g, uint8_t b)
{
    c[0] = r;
    c[1] = g;
    c[2] = b;
}

void td_look_default(td_look *look)
{
    memset(look, 0, sizeof(*look));
    /* DeepRacer's physical track spec: black road, white borders, orange dashed centre line,
     * green off-track surface. The sky is a hazy light blue-grey. */
    set_rgb(look->road, 38, 38, 42);
    set_rgb(look->border, 238, 238, 238);
    set_rgb(look->center, 245, 170, 35);
    set_rgb(look->grass, 72, 128, 58);
    set_rgb(look->sky, 178, 196, 214);
    set_rgb(look->obstacle, 225, 225, 220);
    set_rgb(look->car, 175, 32, 45);
    /* A grey room wall, yellow-black barrier boards, people in dark clothes. */
    set_rgb(look->wall, 150, 150, 155);
    set_rgb(look->barrier, 215, 185, 40);
    set_rgb(look->person, 60, 64, 90);
    look->brightness = 1.0;
    look->contrast = 1.0;
    look->exposure = 1.0;
    look->wb[0] = look->wb[1] = look->wb[2] = 1.0;
}

/* Scales a colour by a common factor (lightness) and jitters each channel (hue). */
static void jitter(uint8_t *c, td_rng *rng, double scale, double shift)
{
    double k = 1.0 + td_rng_range(rng, -scale, scale);
    for (int i = 0; i < 3; i++)
        c[i] = td__clamp_u8(c[i] * k + td_rng_range(rng, -shift, shift));
}

void td_dr_ranges_default(td_dr_ranges *r)
{
    memset(r, 0, sizeof(*r));
    r->set = 1;
    r->brightness[0] = TD_DR_BRIGHTNESS_LO;
    r->brightness[1] = TD_DR_BRIGHTNESS_HI;
    r->contrast[0] = TD_DR_CONTRAST_LO;
    r->contrast[1] = TD_DR_CONTRAST_HI;
    r->exposure[0] = TD_DR_EXPOSURE_LO;
    r->exposure[1] = TD_DR_EXPOSURE_HI;
    r->texture_hi = TD_DR_TEXTURE_HI;
    r->noise_hi = TD_DR_NOISE_HI;
    r->blur_hi = TD_DR_BLUR_HI;
    r->vignette_hi = TD_DR_VIGNETTE_HI;
}

static int check_pair(const double *v, double lo, double hi, const char *name, td_err *err)
{
    if (!(v[0] >= lo && v[1] <= hi && v[0] <= v[1]))
        return td_err_set(err, TD_ERANGE,
                          "domain randomization: %s [%g, %g] must be a range inside [%g, %g]", name,
                          v[0], v[1], lo, hi);
    return 0;
}

static int check_hi(double v, double hi, const char *name, td_err *err)
{
    if (!(v >= 0 && v <= hi))
        return td_err_set(err, TD_ERANGE, "domain randomization: %s %g must lie in [0, %g]", name,
                          v, hi);
    return 0;
}

int td_dr_ranges_check(const td_dr_ranges *r, td_err *err)
{
    if (!r->set)
        return 0;
    int rc = check_pair(r->brightness, 0.05, 5.0, "brightness", err);
    if (!rc)
        rc = check_pair(r->contrast, 0.05, 5.0, "contrast", err);
    if (!rc)
        rc = check_pair(r->exposure, 0.05, 5.0, "exposure", err);
    if (!rc)
        rc = check_hi(r->texture_hi, 127.0, "texture", err);
    if (!rc)
        rc = check_hi(r->noise_hi, 127.0, "noise", err);
    if (!rc)
        rc = check_hi(r->blur_hi, 0.2, "blur", err);
    if (!rc)
        rc = check_hi(r->vignette_hi, 1.0, "vignette", err);
    return rc;
}

void td_dr_ranges_union(td_dr_ranges *dst, const td_dr_ranges *a, const td_dr_ranges *b)
{
    td_dr_ranges x, y;
    if (a && a->set)
        x = *a;
    else
        td_dr_ranges_default(&x);
    if (b && b->set)
        y = *b;
    else
        td_dr_ranges_default(&y);
    for (int k = 0; k < 2; k++) {
        double *px[3] = {x.brightness, x.contrast, x.exposure};
        const double *py[3] = {y.brightness, y.contrast, y.exposure};
        for (int i = 0; i < 3; i++)
            px[i][k] = k == 0 ? fmin(px[i][k], py[i][k]) : fmax(px[i][k], py[i][k]);
    }
    x.texture_hi = fmax(x.texture_hi, y.texture_hi);
    x.noise_hi = fmax(x.noise_hi, y.noise_hi);
    x.blur_hi = fmax(x.blur_hi, y.blur_hi);
    x.vignette_hi = fmax(x.vignette_hi, y.vignette_hi);
    x.set = 1;
    *dst = x;
}

void td_look_randomize_in(td_look *look, td_rng *rng, const td_dr_ranges *ranges)
{
    td_dr_ranges def;
    const td_dr_ranges *r = ranges;
    if (!r || !r->set) {
        td_dr_ranges_default(&def);
        r = &def;
    }
    /*
     * Perturbations stay within what a real room and printed track vary by: lighting
     * +-30 %, contrast +-25 %, each surface's lightness +-20 % and its channels +-18 levels
     * (enough to tint white or shift orange towards yellow, never to swap road and grass),
     * then the camera: exposure, white balance, grain on the floor, a sky gradient, sensor
     * noise, motion blur, vignetting, surroundings and the mount's pitch and height (the
     * TD_DR_* ranges, or the training's own). The number and order of draws is fixed, so a
     * seed always gives the same look.
     */
    jitter(look->road, rng, 0.20, 10.0);
    jitter(look->border, rng, 0.12, 18.0);
    jitter(look->center, rng, 0.20, 18.0);
    jitter(look->grass, rng, 0.20, 18.0);
    jitter(look->sky, rng, 0.20, 18.0);
    jitter(look->obstacle, rng, 0.20, 18.0);
    jitter(look->car, rng, 0.20, 18.0);
    look->brightness *= td_rng_range(rng, r->brightness[0], r->brightness[1]);
    look->contrast *= td_rng_range(rng, r->contrast[0], r->contrast[1]);
    jitter(look->wall, rng, 0.25, 18.0);
    jitter(look->barrier, rng, 0.25, 18.0);
    jitter(look->person, rng, 0.40, 30.0);
    look->exposure = td_rng_range(rng, r->exposure[0], r->exposure[1]);
    for (int k = 0; k < 3; k++)
        look->wb[k] = td_rng_range(rng, TD_DR_WB_LO, TD_DR_WB_HI);
    look->texture = td_rng_range(rng, 0.0, r->texture_hi);
    look->sky_gradient = td_rng_range(rng, 0.0, TD_DR_SKY_GRADIENT_HI);
    look->noise_sigma = td_rng_range(rng, 0.0, r->noise_hi);
    look->blur_s = td_rng_range(rng, 0.0, r->blur_hi);
    look->vignette = td_rng_range(rng, 0.0, r->vignette_hi);
    double d = td_rng_uniform(rng);
    look->decor = d < TD_DR_DECOR_P ? (d < 0.5 * TD_DR_DECOR_P ? 2 : 1) : 0;
    look->pitch_offset_deg = td_rng_range(rng, -TD_DR_PITCH_HI, TD_DR_PITCH_HI);
    look->height_offset_m = td_rng_range(rng, -TD_DR_HEIGHT_HI, TD_DR_HEIGHT_HI);
}

void td_look_randomize(td_look *look, td_rng *rng)
{
    td_look_randomize_in(look, rng, NULL);
}

/* ---- surroundings ------------------------------------------------------------------------ */

/* The distance from (x, y) to the nearest point of the road's borders, negative on the road. */
static double road_clearance(const td_track *t, double x, double y)
{
    td_track_proj p;
    td_track_project(t, x, y, &p);
    double ix, iy, ox, oy;
    td_track_nearest_border_points(t, &p, &ix, &iy, &ox, &oy);
    double di = hypot(x - ix, y - iy), dd = hypot(x - ox, y - oy);
    double d = di < dd ? di : dd;
    return td_track_on_road_slow(t, x, y) ? -d : d;
}

/* 1 if every corner and the centre of box b are at least gap from the road. */
static int clear_of_road(const td_track *t, const td_box *b, double gap)
{
    double c = cos(b->yaw), s = sin(b->yaw);
    for (int k = 0; k < 5; k++) {
        double lx = k == 4 ? 0 : (k & 1 ? 0.5 : -0.5) * b->length;
        double ly = k == 4 ? 0 : (k & 2 ? 0.5 : -0.5) * b->width;
        if (road_clearance(t, b->x + lx * c - ly * s, b->y + lx * s + ly * c) < gap)
            return 0;
    }
    return 1;
}

int td_decor_build(const td_track *t, uint64_t seed, td_box *out, uint8_t *level, int max)
{
    int n = 0;
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int i = 0; i < t->n; i++) {
        const double *ps[2] = {t->inner + 2 * i, t->outer + 2 * i};
        for (int k = 0; k < 2; k++) {
            x0 = fmin(x0, ps[k][0]);
            x1 = fmax(x1, ps[k][0]);
            y0 = fmin(y0, ps[k][1]);
            y1 = fmax(y1, ps[k][1]);
        }
    }
    /* Four walls 1.5 m beyond the bounding box. */
    double m = 1.5, w = 0.1, hgt = 1.0;
    double cx = 0.5 * (x0 + x1), cy = 0.5 * (y0 + y1);
    double lx = x1 - x0 + 2 * m, ly = y1 - y0 + 2 * m;
    td_box walls[4] = {
        {cx, y0 - m, 0, lx, w, hgt, TD_BOX_WALL},
        {cx, y1 + m, 0, lx, w, hgt, TD_BOX_WALL},
        {x0 - m, cy, M_PI / 2, ly, w, hgt, TD_BOX_WALL},
        {x1 + m, cy, M_PI / 2, ly, w, hgt, TD_BOX_WALL},
    };
    for (int k = 0; k < 4 && n < max; k++) {
        level[n] = 1;
        out[n++] = walls[k];
    }
    /* Barriers along the outside of the road, every 2.5 m, and people every ~4 m, standing
     * beyond the borders on whichever side has room. */
    td_rng rng;
    td_rng_seed(&rng, seed, 0x6465636f72ULL);
    double step = 2.5;
    for (double s = 0.5 * step; s < t->length && n < max; s += step) {
        double x, y, hd;
        td_track_point_at(t, s, 0.0, &x, &y, &hd);
        double half = 0.5 * t->width[0];
        int side = td_rng_below(&rng, 2) ? 1 : -1;
        double off = side * (half + 0.55);
        td_box b = {x - off * sin(hd), y + off * cos(hd), hd, 1.2, 0.08, 0.25, TD_BOX_BARRIER};
        if (clear_of_road(t, &b, 0.3)) {
            level[n] = 1;
            out[n++] = b;
        }
    }
    for (double s = 1.0; s < t->length && n < max; s += 2.0 + 4.0 * td_rng_uniform(&rng)) {
        double x, y, hd;
        td_track_point_at(t, s, 0.0, &x, &y, &hd);
        double half = 0.5 * t->width[0];
        int side = td_rng_below(&rng, 2) ? 1 : -1;
        double off = side * (half + td_rng_range(&rng, 0.8, 2.5));
        double yaw = td_rng_range(&rng, -M_PI, M_PI);
        td_box b = {x - off * sin(hd), y + off * cos(hd), yaw, 0.4, 0.3, 1.7, TD_BOX_PERSON};
        if (clear_of_road(t, &b, 0.4)) {
            level[n] = td_rng_below(&rng, 2) ? 1 : 2;
            out[n++] = b;
        }
    }
    return n;
}
