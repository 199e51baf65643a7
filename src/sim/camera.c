/*
 * camera.c - the front camera: a software renderer of the ground plane (a pre-rasterized
 * ground map), a hazy horizon and depth-ordered boxes (obstacles and other cars), in grey
 * (DeepRacer's network input), RGB (pictures) and stereo.
 *
 * Speed comes from the flat ground: every screen row below the horizon meets the ground at
 * one depth, so along a row the ground point moves linearly. A row is rendered by stepping
 * a fixed-point map position with two additions per pixel and one byte lookup into a
 * per-row palette. Rows above the horizon are a constant sky. Boxes are drawn afterwards,
 * farthest first, as flat-shaded convex faces; a box stands on the ground, so each of its
 * visible pixels is nearer than the ground behind it and needs no per-pixel depth test.
 *
 * The real camera's imperfections (the look's effects, docs/sensors.md) cost little: exposure
 * and white balance go into the palettes, the floor's grain is an integer hash of the map
 * cell added per pixel, the sky gradient is per row, and one pass after rendering applies
 * motion blur (a horizontal box filter as wide as the image turns during the exposure),
 * lens vignetting (separable gains) and sensor noise (a per-pixel integer hash, triangular).
 * Surroundings (decor boxes) are drawn with the obstacles, only those in view.
 *
 * Camera model (see docs/sensors.md): pinhole at height height_m, forward_m ahead of the car
 * origin, pitched down pitch_deg, square pixels, focal length (width / 2) / tan(hfov / 2).
 * Pixel (i, j) has its centre at (i + 0.5, j + 0.5); its ray direction in camera axes is
 * F + xs R + ys U with xs = (i + 0.5 - W/2) / f and ys = (H/2 - j - 0.5) / f.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "sim/ground_map.h"
#include "sim/sim_internal.h"
#include "trackday/sensors.h"

#define MAX_DIM 1024
/* Depth (m) beyond which a row is all haze: it lies far outside any ground map. */
#define FAR_M 1000.0
/* Haze: blending towards the sky colour from HAZE_START_M, reaching HAZE_MAX at HAZE_FULL_M. */
#define HAZE_START_M 4.0
#define HAZE_FULL_M  40.0
#define HAZE_MAX     0.6
#define NEAR_M       1e-3
#define FIX_ONE      4294967296.0 /* 32.32 fixed point map positions */

/* ---- configuration ------------------------------------------------------------------- */

void td_camera_config_default(td_camera_config *cfg)
{
    cfg->width = 160;
    cfg->height = 120;
    cfg->hfov_deg = 64.7;
    cfg->pitch_deg = 15.0;
    cfg->height_m = 0.14;
    cfg->forward_m = 0.08;
    cfg->stereo_baseline_m = 0.06;
    cfg->supersample = 1;
}

int td_camera_config_check(const td_camera_config *cfg, td_err *err)
{
    if (cfg->width < 8 || cfg->width > MAX_DIM || cfg->height < 8 || cfg->height > MAX_DIM)
        return td_err_set(err, TD_EINVAL, "camera: size %dx%d is outside 8..%d", cfg->width,
                          cfg->height, MAX_DIM);
    if (!(cfg->hfov_deg > 1.0 && cfg->hfov_deg < 170.0))
        return td_err_set(err, TD_EINVAL, "camera: hfov_deg %g is outside (1, 170)", cfg->hfov_deg);
    if (!(cfg->pitch_deg > -80.0 && cfg->pitch_deg < 80.0))
        return td_err_set(err, TD_EINVAL, "camera: pitch_deg %g is outside (-80, 80)",
                          cfg->pitch_deg);
    if (!(cfg->height_m > 0.0 && cfg->height_m < 100.0))
        return td_err_set(err, TD_EINVAL, "camera: height_m %g is outside (0, 100)", cfg->height_m);
    if (!isfinite(cfg->forward_m) || !isfinite(cfg->stereo_baseline_m) ||
        cfg->stereo_baseline_m < 0.0)
        return td_err_set(err, TD_EINVAL,
                          "camera: forward_m %g or stereo_baseline_m %g is "
                          "not a finite (non-negative) number",
                          cfg->forward_m, cfg->stereo_baseline_m);
    if (cfg->supersample != 1 && cfg->supersample != 2)
        return td_err_set(err, TD_EINVAL, "camera: supersample %d is not 1 or 2", cfg->supersample);
    return 0;
}

/* ---- colours ---------------------------------------------------------------------------- */

/* DeepRacer's luma, rounded to the nearest level. */
static uint8_t luma(const uint8_t *rgb)
{
    return td__clamp_u8(0.2989 * rgb[0] + 0.5870 * rgb[1] + 0.1140 * rgb[2]);
}

/* A look's colour after contrast (around mid-grey), brightness, exposure and white balance. */
static void lit(const td_look *look, const uint8_t *c, double *out)
{
    double gain = look->brightness * (look->exposure > 0 ? look->exposure : 1.0);
    for (int k = 0; k < 3; k++) {
        double wb = look->wb[k] > 0 ? look->wb[k] : 1.0;
        out[k] = ((c[k] - 128.0) * look->contrast + 128.0) * gain * wb;
    }
}

/*
 * The sensor noise, filled once (pthread_once): a sequence of signed bytes with a
 * triangular distribution (sigma about 52) that each frame reads from its own offset. (The
 * floor's grain is in the ground map's cells.)
 */
#define NOISE_N 65536
static int8_t noise_table[NOISE_N];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static uint32_t mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
}

static void tables_init(void)
{
    for (int i = 0; i < NOISE_N; i++) {
        uint32_t h = mix32((uint32_t)i + 0x5bd1e995u);
        noise_table[i] = (int8_t)(((int)(h & 255) + (int)((h >> 8) & 255) - 255) / 2);
    }
}

/* The floor's grain of a map byte, -128 .. 124. */
static inline int grain_of(unsigned b)
{
    return (int)((b >> TD__GRAIN_SHIFT) << 2) - 128;
}

static inline uint8_t sat_u8(int x)
{
    return (uint8_t)(x < 0 ? 0 : (x > 255 ? 255 : x));
}

/* ---- per-frame setup --------------------------------------------------------------------- */

typedef struct view {
    int W, H;
    double f;                /* focal length, pixels */
    double px, py, pz;       /* lens position */
    double F[3], R[3], U[3]; /* forward, right, up unit vectors of the camera */
    const td_ground_map *map;
    /* Base palette per ground class, and the sky, before haze. */
    double ground_rgb[TD_GROUND_CLASSES][3];
    double sky_rgb[3];
    uint8_t pal_rgb[TD_GROUND_CLASSES][3];
    uint8_t pal_grey[TD_GROUND_CLASSES];
    uint8_t sky_u8[3];
    uint8_t sky_grey;
    double obstacle_rgb[3], car_rgb[3], wall_rgb[3], barrier_rgb[3], person_rgb[3];
    int tex_q;           /* floor texture amplitude, grey levels x 2 (0 = none) */
    uint8_t lut[256];    /* grey of a map byte (class and grain), rows without haze */
    double sky_gradient; /* see td_look */
    const td_look *look;
} view;

static void view_setup(view *v, const td_camera_config *cfg, const td_scene *scene, double x,
                       double y, double yaw, double lateral)
{
    td_look def;
    const td_look *look = scene->look;
    if (!look) {
        td_look_default(&def);
        look = &def;
    }
    double c = cos(yaw), s = sin(yaw);
    double pitch = (cfg->pitch_deg + look->pitch_offset_deg) * (M_PI / 180.0);
    double cp = cos(pitch), sp = sin(pitch);
    v->W = cfg->width;
    v->H = cfg->height;
    v->f = 0.5 * cfg->width / tan(0.5 * cfg->hfov_deg * (M_PI / 180.0));
    /* The lateral shift is applied first so a stereo eye equals a mono camera on a car moved
     * sideways by the same amount (bit for bit). */
    v->px = (x + lateral * -s) + cfg->forward_m * c;
    v->py = (y + lateral * c) + cfg->forward_m * s;
    v->pz = cfg->height_m + look->height_offset_m;
    v->pz = v->pz > 0.01 ? v->pz : 0.01;
    v->F[0] = cp * c;
    v->F[1] = cp * s;
    v->F[2] = -sp;
    v->R[0] = s;
    v->R[1] = -c;
    v->R[2] = 0.0;
    v->U[0] = sp * c;
    v->U[1] = sp * s;
    v->U[2] = cp;
    v->map = scene->ground;

    lit(look, look->grass, v->ground_rgb[TD_GROUND_GRASS]);
    lit(look, look->road, v->ground_rgb[TD_GROUND_ROAD]);
    lit(look, look->border, v->ground_rgb[TD_GROUND_BORDER]);
    lit(look, look->center, v->ground_rgb[TD_GROUND_CENTER]);
    lit(look, look->sky, v->sky_rgb);
    lit(look, look->obstacle, v->obstacle_rgb);
    lit(look, look->car, v->car_rgb);
    lit(look, look->wall, v->wall_rgb);
    lit(look, look->barrier, v->barrier_rgb);
    lit(look, look->person, v->person_rgb);
    v->tex_q =
        look->texture > 0 ? (int)lround(2.0 * (look->texture < 127 ? look->texture : 127)) : 0;
    v->sky_gradient = look->sky_gradient > 0 ? look->sky_gradient : 0.0;

    v->look = look;
    for (int k = 0; k < TD_GROUND_CLASSES; k++) {
        for (int ch = 0; ch < 3; ch++)
            v->pal_rgb[k][ch] = td__clamp_u8(v->ground_rgb[k][ch]);
        v->pal_grey[k] = luma(v->pal_rgb[k]);
    }
    for (int ch = 0; ch < 3; ch++)
        v->sky_u8[ch] = td__clamp_u8(v->sky_rgb[ch]);
    v->sky_grey = luma(v->sky_u8);
    /* The frame's palette by map byte: class and grain (rows without haze use it). */
    for (int b = 0; b < 256; b++)
        v->lut[b] =
            sat_u8(v->pal_grey[b & TD__CLASS_MASK] + ((grain_of((unsigned)b) * v->tex_q) >> 8));
}

/* ---- ground rows ------------------------------------------------------------------------ */

/* The ground seen by one row of samples (one sub-row when supersampling). */
typedef struct row_geom {
    int sky;      /* 1: the row sees no ground (at or above the horizon, or too far) */
    double depth; /* camera-axis depth of the ground in this row */
    const td__ground_level *lv;            /* the map level this row samples */
    double u0, v0;                         /* map position (cells of lv) of the sample of pixel 0 */
    double du, dv;                         /* map step (cells of lv) per pixel */
    uint8_t pal_rgb[TD_GROUND_CLASSES][3]; /* palette of this row (with haze) */
    uint8_t pal_grey[TD_GROUND_CLASSES];
    uint8_t sky_rgb[3], sky_grey; /* the sky of this row (the gradient) */
    int hazy;                     /* the palette differs from the frame's (haze) */
} row_geom;

static double haze_of(double depth)
{
    if (depth <= HAZE_START_M)
        return 0.0;
    if (depth >= HAZE_FULL_M)
        return HAZE_MAX;
    return HAZE_MAX * (depth - HAZE_START_M) / (HAZE_FULL_M - HAZE_START_M);
}

/*
 * Geometry of the row of samples at vertical pixel coordinate sy (j + 0.5 for a pixel
 * centre), horizontal sample offset ox (0.5 for pixel centres).
 */
static void row_setup(const view *v, double sy, double ox, row_geom *g, int want_rgb)
{
    double ys = (0.5 * v->H - sy) / v->f;
    double dz = v->F[2] + ys * v->U[2];
    double depth = dz < 0.0 ? -v->pz / dz : INFINITY;
    g->depth = depth;
    g->sky = !(depth < FAR_M);
    if (g->sky) {
        /* Darker toward the top of the image (a room's ceiling, a sky's zenith). */
        double k = 1.0 - v->sky_gradient * (1.0 - sy / v->H);
        for (int ch = 0; ch < 3; ch++)
            g->sky_rgb[ch] = td__clamp_u8(v->sky_rgb[ch] * k);
        g->sky_grey = k == 1.0 ? v->sky_grey : luma(g->sky_rgb);
    }
    double h = haze_of(depth);
    g->hazy = h > 0.0;
    if (h > 0.0) {
        for (int k = 0; k < TD_GROUND_CLASSES; k++) {
            for (int ch = 0; ch < 3; ch++)
                g->pal_rgb[k][ch] =
                    td__clamp_u8(v->ground_rgb[k][ch] * (1.0 - h) + v->sky_rgb[ch] * h);
            g->pal_grey[k] = luma(g->pal_rgb[k]);
        }
    } else if (want_rgb) {
        memcpy(g->pal_rgb, v->pal_rgb, sizeof(g->pal_rgb));
        memcpy(g->pal_grey, v->pal_grey, sizeof(g->pal_grey));
    } else {
        memcpy(g->pal_grey, v->pal_grey, sizeof(g->pal_grey));
    }
    if (g->sky)
        return;
    /* Ground point of the sample at screen x = ox (pixel 0), and its step per pixel. */
    double xs0 = (ox - 0.5 * v->W) / v->f;
    double gx = v->px + depth * (v->F[0] + ys * v->U[0] + xs0 * v->R[0]);
    double gy = v->py + depth * (v->F[1] + ys * v->U[1] + xs0 * v->R[1]);
    double sx = depth / v->f * v->R[0], syy = depth / v->f * v->R[1];
    if (v->map) {
        const td_ground_map *m = v->map;
        /* The coarsest level whose cells are at most two pixel steps wide. */
        double step = fmax(fabs(sx), fabs(syy));
        int k = 0;
        while (k + 1 < m->nlevels && m->level[k + 1].cell_m <= 2.0 * step)
            k++;
        const td__ground_level *lv = &m->level[k];
        g->lv = lv;
        g->u0 = (gx - m->x0) * lv->inv_cell;
        g->v0 = (gy - m->y0) * lv->inv_cell;
        g->du = sx * lv->inv_cell;
        g->dv = syy * lv->inv_cell;
    }
}

/*
 * The pixel range [*a, *b] (inclusive, within [0, n-1]) where lo <= p0 + i * dp <= hi.
 * Empty when *a > *b.
 */
static void clip_range(double p0, double dp, double lo, double hi, int n, int *a, int *b)
{
    double ilo, ihi;
    if (fabs(dp) < 1e-12) {
        if (p0 >= lo && p0 <= hi)
            return;
        *a = 1;
        *b = 0;
        return;
    }
    ilo = (lo - p0) / dp;
    ihi = (hi - p0) / dp;
    if (ilo > ihi) {
        double tmp = ilo;
        ilo = ihi;
        ihi = tmp;
    }
    ilo = ceil(ilo);
    ihi = floor(ihi);
    if (ilo > *a)
        *a = ilo > n ? n : (int)ilo;
    if (ihi < *b)
        *b = ihi < -1 ? -1 : (int)ihi;
}

/* The pixels of a row whose samples fall inside the map (with half a cell to spare). */
static void row_span(const view *v, const row_geom *g, int *a, int *b)
{
    *a = 0;
    *b = v->W - 1;
    /* No map, or a pose so wild (NaN, astronomically far) that no sample can be inside. */
    if (!v->map ||
        !(fabs(g->u0) < 1e12 && fabs(g->v0) < 1e12 && fabs(g->du) < 1e12 && fabs(g->dv) < 1e12)) {
        *a = 1;
        *b = 0;
        return;
    }
    clip_range(g->u0, g->du, 0.5, g->lv->w - 0.5, v->W, a, b);
    clip_range(g->v0, g->dv, 0.5, g->lv->h - 0.5, v->W, a, b);
}

static void ground_row_grey(const view *v, const row_geom *g, uint8_t *dst)
{
    int W = v->W;
    if (g->sky) {
        memset(dst, g->sky_grey, (size_t)W);
        return;
    }
    int a, b;
    row_span(v, g, &a, &b);
    uint8_t grass = g->pal_grey[TD_GROUND_GRASS];
    if (a > b) {
        memset(dst, grass, (size_t)W);
        return;
    }
    if (a > 0)
        memset(dst, grass, (size_t)a);
    if (b < W - 1)
        memset(dst + b + 1, grass, (size_t)(W - 1 - b));
    const uint8_t *cls = g->lv->cls;
    const size_t stride = (size_t)g->lv->w;
    int64_t u = (int64_t)((g->u0 + a * g->du) * FIX_ONE);
    int64_t vv = (int64_t)((g->v0 + a * g->dv) * FIX_ONE);
    int64_t du = (int64_t)(g->du * FIX_ONE), dv = (int64_t)(g->dv * FIX_ONE);
    if (g->hazy) {
        /* The row's own palette (haze) plus the floor's grain, per sample: the same values
         * as a per-row table of the 256 map bytes, which cost more to build than the row's
         * W samples (the profile of a randomized camera spent a quarter of its time there). */
        const uint8_t *pg = g->pal_grey;
        const int q = v->tex_q;
        for (int i = a; i <= b; i++) {
            unsigned m = cls[(size_t)(vv >> 32) * stride + (size_t)(u >> 32)];
            dst[i] = sat_u8(pg[m & TD__CLASS_MASK] + ((grain_of(m) * q) >> 8));
            u += du;
            vv += dv;
        }
        return;
    }
    /* A map byte (class and grain) to grey: the frame's table. */
    const uint8_t *pal = v->lut;
#pragma GCC unroll 4
    for (int i = a; i <= b; i++) {
        dst[i] = pal[cls[(size_t)(vv >> 32) * stride + (size_t)(u >> 32)]];
        u += du;
        vv += dv;
    }
}

static void ground_row_rgb(const view *v, const row_geom *g, uint8_t *dst)
{
    int W = v->W;
    int a = 1, b = 0;
    if (!g->sky)
        row_span(v, g, &a, &b);
    const uint8_t *fill = g->sky ? g->sky_rgb : g->pal_rgb[TD_GROUND_GRASS];
    for (int i = 0; i < W; i++)
        if (i < a || i > b)
            memcpy(dst + 3 * i, fill, 3);
    if (a > b)
        return;
    const uint8_t *cls = g->lv->cls;
    const size_t stride = (size_t)g->lv->w;
    int64_t u = (int64_t)((g->u0 + a * g->du) * FIX_ONE);
    int64_t vv = (int64_t)((g->v0 + a * g->dv) * FIX_ONE);
    int64_t du = (int64_t)(g->du * FIX_ONE), dv = (int64_t)(g->dv * FIX_ONE);
    int q = v->tex_q;
    for (int i = a; i <= b; i++) {
        unsigned m = cls[(size_t)(vv >> 32) * stride + (size_t)(u >> 32)];
        const uint8_t *c = g->pal_rgb[m & TD__CLASS_MASK];
        int t = q ? (grain_of(m) * q) >> 8 : 0;
        dst[3 * i] = sat_u8(c[0] + t);
        dst[3 * i + 1] = sat_u8(c[1] + t);
        dst[3 * i + 2] = sat_u8(c[2] + t);
        u += du;
        vv += dv;
    }
}

/*
 * Supersampling imitates DeepRacer's 640x480 -> 160x120 bilinear resize: a 4x bilinear
 * downscale reads the middle 2x2 source pixels of each 4x4 block, which sit at +-1/8 of an
 * output pixel around its centre.
 */
static const double SS_OFF[2] = {0.375, 0.625};

/* Copies a contiguous row into the output, whose pixels are pstride bytes apart. */
static void store_row(uint8_t *orow, const uint8_t *src, int W, int channels, int pstride)
{
    if (pstride == channels) {
        memcpy(orow, src, (size_t)W * (size_t)channels);
    } else if (channels == 1) {
        for (int i = 0; i < W; i++)
            orow[(size_t)i * pstride] = src[i];
    } else {
        for (int i = 0; i < W; i++)
            memcpy(orow + (size_t)i * pstride, src + (size_t)i * channels, (size_t)channels);
    }
}

/* Renders the ground and sky of the whole frame (channels 1 or 3, pixel stride in bytes). */
static void render_ground(const view *v, int ss, int channels, int pstride, uint8_t *out)
{
    int W = v->W, H = v->H, n = W * channels;
    uint8_t sub[4][MAX_DIM * 3];
    row_geom g;
    for (int j = 0; j < H; j++) {
        uint8_t *orow = out + (size_t)j * (size_t)W * (size_t)pstride;
        if (ss == 1) {
            row_setup(v, j + 0.5, 0.5, &g, channels == 3);
            uint8_t *dst = (pstride == channels) ? orow : sub[0];
            if (channels == 1)
                ground_row_grey(v, &g, dst);
            else
                ground_row_rgb(v, &g, dst);
            if (dst != orow)
                store_row(orow, dst, W, channels, pstride);
            continue;
        }
        for (int k = 0; k < 4; k++) {
            row_setup(v, j + SS_OFF[k >> 1], SS_OFF[k & 1], &g, channels == 3);
            if (channels == 1)
                ground_row_grey(v, &g, sub[k]);
            else
                ground_row_rgb(v, &g, sub[k]);
        }
        for (int i = 0; i < n; i++)
            sub[0][i] = (uint8_t)((sub[0][i] + sub[1][i] + sub[2][i] + sub[3][i] + 2) >> 2);
        store_row(orow, sub[0], W, channels, pstride);
    }
}

/* ---- boxes ---------------------------------------------------------------------------------- */

typedef struct poly2 {
    int n;
    double x[8], y[8]; /* screen coordinates in pixels (x right, y down) */
} poly2;

static double box_distance2(const view *v, const td_box *b)
{
    double dx = b->x - v->px, dy = b->y - v->py;
    return dx * dx + dy * dy;
}

/* Camera-axis coordinates (right, up, forward) of a world point. */
static void to_camera(const view *v, const double *p, double *c)
{
    double d[3] = {p[0] - v->px, p[1] - v->py, p[2] - v->pz};
    c[0] = d[0] * v->R[0] + d[1] * v->R[1];
    c[1] = d[0] * v->U[0] + d[1] * v->U[1] + d[2] * v->U[2];
    c[2] = d[0] * v->F[0] + d[1] * v->F[1] + d[2] * v->F[2];
}

/* Clips a camera-space polygon to depth >= NEAR_M and projects it to the screen. */
static void clip_project(const view *v, const double (*cam)[3], int n, poly2 *out)
{
    out->n = 0;
    for (int i = 0; i < n; i++) {
        const double *p = cam[i], *q = cam[(i + 1) % n];
        int pin = p[2] >= NEAR_M, qin = q[2] >= NEAR_M;
        if (pin && out->n < 8) {
            out->x[out->n] = 0.5 * v->W + v->f * p[0] / p[2];
            out->y[out->n] = 0.5 * v->H - v->f * p[1] / p[2];
            out->n++;
        }
        if (pin != qin && out->n < 8) {
            double t = (NEAR_M - p[2]) / (q[2] - p[2]);
            double cx = p[0] + t * (q[0] - p[0]), cy = p[1] + t * (q[1] - p[1]);
            out->x[out->n] = 0.5 * v->W + v->f * cx / NEAR_M;
            out->y[out->n] = 0.5 * v->H - v->f * cy / NEAR_M;
            out->n++;
        }
    }
}

/* The x interval [*xl, *xr) a convex polygon covers at screen y; returns 0 if none. */
static int poly_span(const poly2 *p, double y, double *xl, double *xr)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < p->n; i++) {
        int k = (i + 1) % p->n;
        double y0 = p->y[i], y1 = p->y[k];
        if ((y0 <= y && y < y1) || (y1 <= y && y < y0)) {
            double x = p->x[i] + (y - y0) / (y1 - y0) * (p->x[k] - p->x[i]);
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
    }
    if (!(hi > lo))
        return 0;
    *xl = lo;
    *xr = hi;
    return 1;
}

/*
 * Fills a convex screen polygon with a colour. With supersampling, each pixel counts how
 * many of its four samples the face covers and blends by that coverage.
 */
static void fill_poly(const view *v, const poly2 *p, const uint8_t *rgb, uint8_t grey, int ss,
                      int channels, int pstride, uint8_t *out)
{
    int W = v->W, H = v->H;
    double ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < p->n; i++) {
        ymin = p->y[i] < ymin ? p->y[i] : ymin;
        ymax = p->y[i] > ymax ? p->y[i] : ymax;
    }
    if (!(ymax > 0.0 && ymin < H))
        return;
    int j0 = ymin < 0.0 ? 0 : (int)floor(ymin);
    int j1 = ymax > H - 1 ? H - 1 : (int)ceil(ymax);
    const uint8_t *col = channels == 3 ? rgb : &grey;
    uint8_t cov[MAX_DIM];
    for (int j = j0; j <= j1; j++) {
        uint8_t *orow = out + (size_t)j * (size_t)W * (size_t)pstride;
        if (ss == 1) {
            double xl, xr;
            if (!poly_span(p, j + 0.5, &xl, &xr))
                continue;
            /* Pixel i is covered when xl <= i + 0.5 < xr. */
            double fa = ceil(xl - 0.5), fb = ceil(xr - 0.5) - 1.0;
            int a = fa < 0.0 ? 0 : (fa > W ? W : (int)fa);
            int b = fb > W - 1 ? W - 1 : (fb < -1.0 ? -1 : (int)fb);
            if (channels == 1 && pstride == 1) {
                if (a <= b)
                    memset(orow + a, col[0], (size_t)(b - a + 1));
            } else {
                for (int i = a; i <= b; i++)
                    memcpy(orow + (size_t)i * pstride, col, (size_t)channels);
            }
            continue;
        }
        memset(cov, 0, (size_t)W);
        int any = 0;
        for (int k = 0; k < 4; k++) {
            double xl, xr, ox = SS_OFF[k & 1];
            if (!poly_span(p, j + SS_OFF[k >> 1], &xl, &xr))
                continue;
            double fa = ceil(xl - ox), fb = ceil(xr - ox) - 1.0;
            int a = fa < 0.0 ? 0 : (fa > W ? W : (int)fa);
            int b = fb > W - 1 ? W - 1 : (fb < -1.0 ? -1 : (int)fb);
            for (int i = a; i <= b; i++)
                cov[i]++;
            any |= a <= b;
        }
        if (!any)
            continue;
        for (int i = 0; i < W; i++) {
            int c = cov[i];
            if (!c)
                continue;
            uint8_t *px = orow + (size_t)i * pstride;
            for (int ch = 0; ch < channels; ch++)
                px[ch] = (uint8_t)((px[ch] * (4 - c) + col[ch] * c + 2) >> 2);
        }
    }
}

/* Draws one box: its visible faces (sides facing the lens and the top), flat-shaded. */
static void draw_box(const view *v, const td_box *b, int ss, int channels, int pstride,
                     uint8_t *out)
{
    double c = cos(b->yaw), s = sin(b->yaw);
    double hl = 0.5 * b->length, hw = 0.5 * b->width;
    /* Corners: bottom 0-3 counter-clockwise from rear-right, top 4-7 above them. */
    double lx[4] = {-hl, hl, hl, -hl}, ly[4] = {-hw, -hw, hw, hw};
    double world[8][3], cam[8][3];
    for (int i = 0; i < 8; i++) {
        world[i][0] = b->x + lx[i & 3] * c - ly[i & 3] * s;
        world[i][1] = b->y + lx[i & 3] * s + ly[i & 3] * c;
        world[i][2] = i < 4 ? 0.0 : b->height;
        to_camera(v, world[i], cam[i]);
    }
    /* Faces as corner indices, with outward normals. */
    static const int faces[5][4] = {
        {0, 1, 5, 4}, /* right side (-y local) */
        {1, 2, 6, 5}, /* front (+x local) */
        {2, 3, 7, 6}, /* left side (+y local) */
        {3, 0, 4, 7}, /* rear (-x local) */
        {4, 5, 6, 7}, /* top */
    };
    double normals[5][3] = {{s, -c, 0}, {c, s, 0}, {-s, c, 0}, {-c, -s, 0}, {0, 0, 1}};
    /* A fixed light from above, slightly behind-left of +x, so faces differ in shade. */
    static const double L[3] = {0.30, 0.45, 0.84};
    const double *base = b->kind == TD_BOX_CAR       ? v->car_rgb
                         : b->kind == TD_BOX_WALL    ? v->wall_rgb
                         : b->kind == TD_BOX_BARRIER ? v->barrier_rgb
                         : b->kind == TD_BOX_PERSON  ? v->person_rgb
                                                     : v->obstacle_rgb;
    for (int fi = 0; fi < 5; fi++) {
        const int *q = faces[fi];
        const double *p0 = world[q[0]];
        double to_lens = normals[fi][0] * (v->px - p0[0]) + normals[fi][1] * (v->py - p0[1]) +
                         normals[fi][2] * (v->pz - p0[2]);
        if (to_lens <= 0.0)
            continue;
        double face_cam[4][3];
        for (int k = 0; k < 4; k++)
            memcpy(face_cam[k], cam[q[k]], sizeof(face_cam[k]));
        poly2 p;
        clip_project(v, (const double(*)[3])face_cam, 4, &p);
        if (p.n < 3)
            continue;
        double ndl = normals[fi][0] * L[0] + normals[fi][1] * L[1] + normals[fi][2] * L[2];
        double shade = 0.7 + 0.3 * (ndl > 0.0 ? ndl : 0.0);
        uint8_t rgb[3];
        for (int ch = 0; ch < 3; ch++)
            rgb[ch] = td__clamp_u8(base[ch] * shade);
        fill_poly(v, &p, rgb, luma(rgb), ss, channels, pstride, out);
    }
}

/* Beyond this distance decor is not drawn (it would be a few pixels in the haze). */
#define DECOR_RANGE_M 12.0

/* 1 if box b may appear in the view: in front of the lens and within the horizontal field
 * of view, with its bounding circle (a cheap cull for the surroundings). */
static int in_view(const view *v, const td_box *b, double range)
{
    double r = 0.5 * hypot(b->length, b->width);
    double dx = b->x - v->px, dy = b->y - v->py;
    double d2 = dx * dx + dy * dy;
    if (d2 > (range + r) * (range + r))
        return 0;
    double fl = hypot(v->F[0], v->F[1]);
    double ahead = (dx * v->F[0] + dy * v->F[1]) / fl;
    if (ahead < -r)
        return 0;
    double side = fabs(dx * v->R[0] + dy * v->R[1]);
    /* |side| / ahead beyond the half-width of the view (plus the circle) is outside. */
    double half = 0.5 * v->W / v->f;
    return side <= half * (ahead > 0 ? ahead : 0) + r * (1.0 + half) + 0.05;
}

/* Draws the scene's boxes and the visible surroundings, farthest first (painter's order;
 * ties by index, the scene's boxes after the decor). */
static void render_boxes(const view *v, const td_scene *scene, int ss, int channels, int pstride,
                         uint8_t *out)
{
    const td_box *list[TD_DECOR_MAX + 64];
    double dist[TD_DECOR_MAX + 64];
    int n = 0;
    int show = v->look ? v->look->decor : 0;
    if (show > 0 && scene->decor)
        for (int k = 0; k < scene->ndecor && n < TD_DECOR_MAX; k++)
            if ((!scene->decor_level || scene->decor_level[k] <= show) &&
                in_view(v, &scene->decor[k], DECOR_RANGE_M))
                list[n++] = &scene->decor[k];
    int nb = scene->boxes ? scene->nboxes : 0;
    for (int k = 0; k < nb && n < TD_DECOR_MAX + 64; k++)
        list[n++] = &scene->boxes[k];
    for (int k = 0; k < n; k++)
        dist[k] = box_distance2(v, list[k]);
    /* Insertion sort, farthest first, stable. */
    for (int i = 1; i < n; i++) {
        const td_box *b = list[i];
        double d = dist[i];
        int j = i;
        while (j > 0 && dist[j - 1] < d) {
            list[j] = list[j - 1];
            dist[j] = dist[j - 1];
            j--;
        }
        list[j] = b;
        dist[j] = d;
    }
    for (int k = 0; k < n; k++)
        draw_box(v, list[k], ss, channels, pstride, out);
}

/* ---- the camera's imperfections (after rendering) --------------------------------------- */

/* 16 pixels in 16-bit lanes (AVX2-sized vectors, GCC and clang vector extensions; two SSE2
 * operations each where AVX2 is absent). */
typedef uint8_t vu8 __attribute__((vector_size(16)));
typedef int8_t vi8 __attribute__((vector_size(16)));
typedef int16_t vi16 __attribute__((vector_size(32)));
typedef uint16_t vu16 __attribute__((vector_size(32)));
#define VL 16
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TD_ROW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TD_ROW_CLONES
#endif

/*
 * One grey row's blur (taps 0 and blur, or 0, blur/3, 2 blur/3 and blur when wider),
 * vignetting gains rg (Q8, NULL = none) and noise nt x nq / 256 (NULL = none), in place.
 */
TD_ROW_CLONES static void post_row_grey(uint8_t *row, int W, int blur, const int16_t *gx, int gy,
                                        const int8_t *nt, int nq)
{
    uint8_t ext[MAX_DIM + 32];
    memcpy(ext, row, (size_t)W);
    memset(ext + W, row[W - 1], 32);
    int t1 = blur >= 4 ? blur / 3 : 0, t2 = blur >= 4 ? 2 * blur / 3 : 0;
    int i = 0;
    for (; i + VL <= W; i += VL) {
        vu8 a8;
        memcpy(&a8, ext + i, VL);
        vi16 p = __builtin_convertvector(a8, vi16);
        if (blur >= 1) {
            vu8 b8;
            memcpy(&b8, ext + i + blur, VL);
            vi16 q = __builtin_convertvector(b8, vi16);
            if (blur >= 4) {
                vu8 c8, d8;
                memcpy(&c8, ext + i + t1, VL);
                memcpy(&d8, ext + i + t2, VL);
                p = (p + q + __builtin_convertvector(c8, vi16) + __builtin_convertvector(d8, vi16) +
                     2) >>
                    2;
            } else {
                p = (p + q + 1) >> 1;
            }
        }
        if (gx) {
            vu16 g, pu = (vu16)p;
            memcpy(&g, gx + i, sizeof(g));
            g = (g * (uint16_t)gy + 32) >> 6; /* Q7 x Q7 -> Q8 */
            p = (vi16)((pu * g + 128) >> 8);
        }
        if (nt) {
            vi8 n8;
            memcpy(&n8, nt + i, VL);
            p += (__builtin_convertvector(n8, vi16) * (int16_t)nq + 128) >> 8;
        }
        /* Clamp to [0, 255] without compares: the sign bit makes the masks. */
        p &= ~(p >> 15);
        vi16 over = p - 255;
        p -= over & ~(over >> 15);
        vu8 o = __builtin_convertvector(p, vu8);
        memcpy(row + i, &o, VL);
    }
    for (; i < W; i++) {
        int p = ext[i];
        if (blur >= 4)
            p = (p + ext[i + t1] + ext[i + t2] + ext[i + blur] + 2) >> 2;
        else if (blur >= 1)
            p = (p + ext[i + blur] + 1) >> 1;
        if (gx)
            p = (p * ((gx[i] * gy + 32) >> 6) + 128) >> 8;
        if (nt)
            p += (nt[i] * nq + 128) >> 8;
        row[i] = sat_u8(p);
    }
}

/*
 * Motion blur, vignetting and noise over the finished image (channels interleaved with
 * pixel stride pstride). Motion blur: a turning car smears the image sideways by
 * yaw rate x exposure x focal length pixels; two or three copies of the row that far apart
 * are averaged (the image at the start, middle and end of the exposure). Vignetting:
 * separable gains, so the corners lose about `vignette`. Noise: the frame's stretch of the
 * noise table, scaled to noise_sigma.
 */
static void post_effects(const view *v, const td_camera_frame *fr, int channels, int pstride,
                         uint8_t *out)
{
    const td_look *look = v->look;
    if (!look)
        return;
    int W = v->W, H = v->H;
    double rate = fr ? fabs(fr->yaw_rate) : 0.0;
    int blur = look->blur_s > 0 ? (int)lround(rate * look->blur_s * v->f) : 0;
    blur = blur > 16 ? 16 : blur;
    int vig = look->vignette > 0;
    int noise = look->noise_sigma > 0;
    if (blur < 1 && !vig && !noise)
        return;
    pthread_once(&tables_once, tables_init);
    int16_t gx[MAX_DIM], gy[MAX_DIM], rg[MAX_DIM];
    double a = (look->vignette < 1 ? look->vignette : 1.0) / 1.5625;
    for (int i = 0; i < W; i++) {
        double xn = (i + 0.5 - 0.5 * W) / (0.5 * W);
        gx[i] = (int16_t)lround(128.0 * (1.0 - (vig ? a * xn * xn : 0.0))); /* Q7 */
    }
    for (int j = 0; j < H; j++) {
        double yn = (j + 0.5 - 0.5 * H) / (0.5 * W);
        gy[j] = (int16_t)lround(128.0 * (1.0 - (vig ? a * yn * yn : 0.0)));
    }
    /* Noise scale: the table's sigma is about 52 levels; nq is Q8. */
    int nq = noise ? (int)lround(look->noise_sigma / 52.0 * 256.0) : 0;
    nq = nq > 32767 ? 32767 : nq;
    size_t npx = (size_t)W * (size_t)H * (size_t)channels;
    uint32_t off = fr ? mix32(fr->noise_draw) : 0;
    off = npx < NOISE_N ? off % (uint32_t)(NOISE_N - npx) : 0;
    nq = nq > 255 ? 255 : nq; /* 255 x 128 fits the 16-bit lanes below (sigma <= 52) */
    uint8_t row[MAX_DIM * 3], tmp[MAX_DIM];
    int16_t nz[MAX_DIM];
    if (channels == 1 && pstride == 1) {
        /* The network's input: 16 pixels at a time in vector lanes. */
        for (int j = 0; j < H; j++) {
            const int8_t *nt = NULL;
            if (noise)
                nt = noise_table + (npx < NOISE_N ? off + (size_t)j * W
                                                  : ((size_t)j * 7919u) % (NOISE_N - MAX_DIM));
            post_row_grey(out + (size_t)j * W, W, blur, vig ? gx : NULL, gy[j], nt, nq);
        }
        return;
    }
    for (int j = 0; j < H; j++) {
        uint8_t *base = out + (size_t)j * (size_t)W * (size_t)pstride;
        if (vig)
            for (int i = 0; i < W; i++)
                rg[i] = (int16_t)((gx[i] * gy[j] + 32) >> 6);
        for (int ch = 0; ch < channels; ch++) {
            uint8_t *b = base + ch;
            for (int i = 0; i < W; i++)
                row[i] = b[(size_t)i * pstride];
            if (blur >= 1) {
                /* Copies at 0 and blur (and blur / 2 when wide), clamped at the edge. */
                int half = blur / 2;
                for (int i = 0; i < W; i++) {
                    int i2 = i + blur < W ? i + blur : W - 1;
                    int im = i + half < W ? i + half : W - 1;
                    tmp[i] = blur >= 4 ? (uint8_t)((row[i] + row[im] + row[i2] + 1) / 3)
                                       : (uint8_t)((row[i] + row[i2] + 1) >> 1);
                }
                memcpy(row, tmp, (size_t)W);
            }
            if (noise) {
                const int8_t *nt = noise_table;
                size_t o = npx < NOISE_N ? off + ((size_t)j * W * channels + (size_t)ch * W)
                                         : ((size_t)j * 7919u + ch) % (NOISE_N - MAX_DIM);
                for (int i = 0; i < W; i++)
                    nz[i] = (int16_t)((nt[o + (size_t)i] * nq + 128) >> 8);
            }
            for (int i = 0; i < W; i++) {
                int p = row[i];
                if (vig)
                    p = (p * rg[i] + 128) >> 8;
                if (noise)
                    p += nz[i];
                row[i] = sat_u8(p);
            }
            for (int i = 0; i < W; i++)
                b[(size_t)i * pstride] = row[i];
        }
    }
}

/* ---- public ------------------------------------------------------------------------------- */

static int config_ok(const td_camera_config *cfg)
{
    return td_camera_config_check(cfg, NULL) == 0;
}

static void render(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                   double yaw, double lateral, const td_camera_frame *fr, int channels, int pstride,
                   uint8_t *out)
{
    view v;
    view_setup(&v, cfg, scene, x, y, yaw, lateral);
    render_ground(&v, cfg->supersample, channels, pstride, out);
    render_boxes(&v, scene, cfg->supersample, channels, pstride, out);
    post_effects(&v, fr, channels, pstride, out);
}

void td_camera_render_grey(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                           double yaw, uint8_t *out)
{
    if (!config_ok(cfg))
        return;
    render(cfg, scene, x, y, yaw, 0.0, NULL, 1, 1, out);
}

void td_camera_render_grey_frame(const td_camera_config *cfg, const td_scene *scene, double x,
                                 double y, double yaw, const td_camera_frame *frame, uint8_t *out)
{
    if (!config_ok(cfg))
        return;
    render(cfg, scene, x, y, yaw, 0.0, frame, 1, 1, out);
}

void td_camera_render_rgb(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                          double yaw, uint8_t *out)
{
    if (!config_ok(cfg))
        return;
    render(cfg, scene, x, y, yaw, 0.0, NULL, 3, 3, out);
}

void td_camera_render_stereo(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                             double yaw, uint8_t *out)
{
    if (!config_ok(cfg))
        return;
    double half = 0.5 * cfg->stereo_baseline_m;
    render(cfg, scene, x, y, yaw, half, NULL, 1, 2, out);
    render(cfg, scene, x, y, yaw, -half, NULL, 1, 2, out + 1);
}
