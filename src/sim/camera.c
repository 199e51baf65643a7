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
 * Camera model (see docs/sensors.md): pinhole at height height_m, forward_m ahead of the car
 * origin, pitched down pitch_deg, square pixels, focal length (width / 2) / tan(hfov / 2).
 * Pixel (i, j) has its centre at (i + 0.5, j + 0.5); its ray direction in camera axes is
 * F + xs R + ys U with xs = (i + 0.5 - W/2) / f and ys = (H/2 - j - 0.5) / f.
 */
#include <math.h>
#include <string.h>

#include "sim/ground_map.h"
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

static uint8_t clamp_u8(double v)
{
    if (v <= 0.0)
        return 0;
    if (v >= 255.0)
        return 255;
    return (uint8_t)(v + 0.5);
}

/* DeepRacer's luma, rounded to the nearest level. */
static uint8_t luma(const uint8_t *rgb)
{
    return clamp_u8(0.2989 * rgb[0] + 0.5870 * rgb[1] + 0.1140 * rgb[2]);
}

/* A look's colour after contrast (around mid-grey) and brightness. */
static void lit(const td_look *look, const uint8_t *c, double *out)
{
    for (int k = 0; k < 3; k++)
        out[k] = ((c[k] - 128.0) * look->contrast + 128.0) * look->brightness;
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
    double obstacle_rgb[3], car_rgb[3];
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
    double pitch = cfg->pitch_deg * (M_PI / 180.0);
    double cp = cos(pitch), sp = sin(pitch);
    v->W = cfg->width;
    v->H = cfg->height;
    v->f = 0.5 * cfg->width / tan(0.5 * cfg->hfov_deg * (M_PI / 180.0));
    /* The lateral shift is applied first so a stereo eye equals a mono camera on a car moved
     * sideways by the same amount (bit for bit). */
    v->px = (x + lateral * -s) + cfg->forward_m * c;
    v->py = (y + lateral * c) + cfg->forward_m * s;
    v->pz = cfg->height_m;
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
    for (int k = 0; k < TD_GROUND_CLASSES; k++) {
        for (int ch = 0; ch < 3; ch++)
            v->pal_rgb[k][ch] = clamp_u8(v->ground_rgb[k][ch]);
        v->pal_grey[k] = luma(v->pal_rgb[k]);
    }
    for (int ch = 0; ch < 3; ch++)
        v->sky_u8[ch] = clamp_u8(v->sky_rgb[ch]);
    v->sky_grey = luma(v->sky_u8);
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
    double h = haze_of(depth);
    if (h > 0.0) {
        for (int k = 0; k < TD_GROUND_CLASSES; k++) {
            for (int ch = 0; ch < 3; ch++)
                g->pal_rgb[k][ch] = clamp_u8(v->ground_rgb[k][ch] * (1.0 - h) + v->sky_rgb[ch] * h);
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
        memset(dst, v->sky_grey, (size_t)W);
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
    const uint8_t *pal = g->pal_grey;
    int64_t u = (int64_t)((g->u0 + a * g->du) * FIX_ONE);
    int64_t vv = (int64_t)((g->v0 + a * g->dv) * FIX_ONE);
    int64_t du = (int64_t)(g->du * FIX_ONE), dv = (int64_t)(g->dv * FIX_ONE);
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
    const uint8_t *fill = g->sky ? v->sky_u8 : g->pal_rgb[TD_GROUND_GRASS];
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
    for (int i = a; i <= b; i++) {
        const uint8_t *c = g->pal_rgb[cls[(size_t)(vv >> 32) * stride + (size_t)(u >> 32)]];
        dst[3 * i] = c[0];
        dst[3 * i + 1] = c[1];
        dst[3 * i + 2] = c[2];
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
            lo = fmin(lo, x);
            hi = fmax(hi, x);
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
        ymin = fmin(ymin, p->y[i]);
        ymax = fmax(ymax, p->y[i]);
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
            for (int i = a; i <= b; i++)
                memcpy(orow + (size_t)i * pstride, col, (size_t)channels);
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
    const double *base = b->kind == TD_BOX_CAR ? v->car_rgb : v->obstacle_rgb;
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
            rgb[ch] = clamp_u8(base[ch] * shade);
        fill_poly(v, &p, rgb, luma(rgb), ss, channels, pstride, out);
    }
}

/* Draws all boxes of the scene, farthest first (painter's order; ties by index). */
static void render_boxes(const view *v, const td_scene *scene, int ss, int channels, int pstride,
                         uint8_t *out)
{
    int n = scene->boxes ? scene->nboxes : 0;
    double last_d = INFINITY;
    int last_i = -1;
    for (int drawn = 0; drawn < n; drawn++) {
        /* The next box in (distance descending, index ascending) order after the last. */
        int best = -1;
        double best_d = -1.0;
        for (int i = 0; i < n; i++) {
            double d = box_distance2(v, &scene->boxes[i]);
            int after = d < last_d || (d == last_d && i > last_i);
            if (!after)
                continue;
            if (best < 0 || d > best_d)
                best = i, best_d = d;
        }
        if (best < 0)
            break;
        draw_box(v, &scene->boxes[best], ss, channels, pstride, out);
        last_d = best_d;
        last_i = best;
    }
}

/* ---- public ------------------------------------------------------------------------------- */

static int config_ok(const td_camera_config *cfg)
{
    return td_camera_config_check(cfg, NULL) == 0;
}

static void render(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                   double yaw, double lateral, int channels, int pstride, uint8_t *out)
{
    view v;
    view_setup(&v, cfg, scene, x, y, yaw, lateral);
    render_ground(&v, cfg->supersample, channels, pstride, out);
    render_boxes(&v, scene, cfg->supersample, channels, pstride, out);
}

void td_camera_render_grey(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                           double yaw, uint8_t *out)
{
    if (!config_ok(cfg))
        return;
    render(cfg, scene, x, y, yaw, 0.0, 1, 1, out);
}

void td_camera_render_rgb(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                          double yaw, uint8_t *out)
{
    if (!config_ok(cfg))
        return;
    render(cfg, scene, x, y, yaw, 0.0, 3, 3, out);
}

void td_camera_render_stereo(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                             double yaw, uint8_t *out)
{
    if (!config_ok(cfg))
        return;
    double half = 0.5 * cfg->stereo_baseline_m;
    render(cfg, scene, x, y, yaw, half, 1, 2, out);
    render(cfg, scene, x, y, yaw, -half, 1, 2, out + 1);
}
