/*
 * render.c - top-view pictures of a track: green ground, dark road (scanline fill of the
 * road polygon, even-odd), white borders, a dashed yellow centre line, a start line at row 0
 * and an arrow in the driving direction. Drawn at twice the resolution and averaged down,
 * so edges are smooth. Evaluation pictures draw their driven lines on top of this.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "track/track_internal.h"

#define SS           2   /* supersampling factor per axis */
#define MARGIN_M     0.5 /* ground shown around the track (m) */
#define MAX_WIDTH_PX 8192

typedef struct {
    uint8_t *px; /* RGB, w * h * 3 */
    int w, h;
    double ox, oy, scale; /* metres to (supersampled) pixels */
} canvas;

static const uint8_t GROUND[3] = {58, 128, 52};
static const uint8_t ROAD[3] = {38, 38, 42};
static const uint8_t BORDER[3] = {245, 245, 245};
static const uint8_t CENTRE[3] = {240, 190, 40};
static const uint8_t ARROW[3] = {230, 70, 40};

static void to_px(const canvas *c, double x, double y, double *px, double *py)
{
    *px = (x - c->ox) * c->scale;
    *py = (c->oy - y) * c->scale;
}

static void put(canvas *c, int x, int y, const uint8_t *rgb)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    memcpy(c->px + 3 * ((size_t)y * c->w + x), rgb, 3);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Fills the road polygon (all border edges, even-odd) row by row at pixel centres. */
static int fill_road(canvas *c, const td__track_accel *a)
{
    double *xs = td_malloc(sizeof(double) * (size_t)(a->nedges + 1));
    if (!xs)
        return -1;
    for (int row = 0; row < c->h; row++) {
        double y = c->oy - (row + 0.5) / c->scale;
        int k = 0;
        for (int e = 0; e < a->nedges; e++) {
            const double *s = a->edges + 4 * e;
            if ((s[1] > y) != (s[3] > y))
                xs[k++] = s[0] + (s[2] - s[0]) * (y - s[1]) / (s[3] - s[1]);
        }
        qsort(xs, (size_t)k, sizeof(double), cmp_double);
        for (int i = 0; i + 1 < k; i += 2) {
            int x0 = (int)ceil((xs[i] - c->ox) * c->scale - 0.5);
            int x1 = (int)floor((xs[i + 1] - c->ox) * c->scale - 0.5);
            for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < c->w; x++)
                put(c, x, row, ROAD);
        }
    }
    td_free(xs);
    return 0;
}

/* A thick segment (metres), drawn as all pixels within half the thickness of it. */
static void line(canvas *c, double x0, double y0, double x1, double y1, double thick_px,
                 const uint8_t *rgb)
{
    double ax, ay, bx, by;
    to_px(c, x0, y0, &ax, &ay);
    to_px(c, x1, y1, &bx, &by);
    double r = 0.5 * thick_px;
    int minx = (int)floor(fmin(ax, bx) - r), maxx = (int)ceil(fmax(ax, bx) + r);
    int miny = (int)floor(fmin(ay, by) - r), maxy = (int)ceil(fmax(ay, by) + r);
    double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    for (int y = miny < 0 ? 0 : miny; y <= maxy && y < c->h; y++)
        for (int x = minx < 0 ? 0 : minx; x <= maxx && x < c->w; x++) {
            double px = x + 0.5, py = y + 0.5;
            double u = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0.0;
            u = u < 0 ? 0 : (u > 1 ? 1 : u);
            double ex = ax + u * dx - px, ey = ay + u * dy - py;
            if (ex * ex + ey * ey <= r * r)
                put(c, x, y, rgb);
        }
}

static void triangle(canvas *c, const double *pm, const uint8_t *rgb)
{
    double p[6];
    for (int i = 0; i < 3; i++)
        to_px(c, pm[2 * i], pm[2 * i + 1], &p[2 * i], &p[2 * i + 1]);
    int minx = (int)floor(fmin(p[0], fmin(p[2], p[4]))),
        maxx = (int)ceil(fmax(p[0], fmax(p[2], p[4])));
    int miny = (int)floor(fmin(p[1], fmin(p[3], p[5]))),
        maxy = (int)ceil(fmax(p[1], fmax(p[3], p[5])));
    for (int y = miny < 0 ? 0 : miny; y <= maxy && y < c->h; y++)
        for (int x = minx < 0 ? 0 : minx; x <= maxx && x < c->w; x++) {
            double px = x + 0.5, py = y + 0.5;
            double d0 = (p[2] - p[0]) * (py - p[1]) - (p[3] - p[1]) * (px - p[0]);
            double d1 = (p[4] - p[2]) * (py - p[3]) - (p[5] - p[3]) * (px - p[2]);
            double d2 = (p[0] - p[4]) * (py - p[5]) - (p[1] - p[5]) * (px - p[4]);
            if ((d0 >= 0 && d1 >= 0 && d2 >= 0) || (d0 <= 0 && d1 <= 0 && d2 <= 0))
                put(c, x, y, rgb);
        }
}

/* A polyline of (n, 2) points. */
static void polyline(canvas *c, const double *pts, int n, double thick_px, const uint8_t *rgb)
{
    for (int i = 0; i + 1 < n; i++)
        line(c, pts[2 * i], pts[2 * i + 1], pts[2 * i + 2], pts[2 * i + 3], thick_px, rgb);
}

int td_track_render_rgb(const td_track *t, int width_px, uint8_t **pixels, int *height_px,
                        double *origin_x, double *origin_y, double *scale, td_err *err)
{
    *pixels = NULL;
    if (width_px < 16 || width_px > MAX_WIDTH_PX)
        return td_err_set(err, TD_ERANGE, "render: width %d px must be in [16, %d]", width_px,
                          MAX_WIDTH_PX);
    double wm = t->max_x - t->min_x + 2 * MARGIN_M, hm = t->max_y - t->min_y + 2 * MARGIN_M;
    double sc = width_px / wm;
    int height = (int)ceil(hm * sc);
    if (height < 1)
        height = 1;
    if (height > MAX_WIDTH_PX)
        return td_err_set(err, TD_ERANGE, "render: %s would be %d px high", t->name, height);
    canvas c = {0};
    c.w = width_px * SS;
    c.h = height * SS;
    c.ox = t->min_x - MARGIN_M;
    c.oy = t->max_y + MARGIN_M;
    c.scale = sc * SS;
    c.px = td_malloc((size_t)c.w * c.h * 3);
    uint8_t *out = td_malloc((size_t)width_px * height * 3);
    if (c.px && out) {
        /* Ground first; fill_road then writes only the road pixels. */
        for (size_t i = 0; i < (size_t)c.w * c.h; i++)
            memcpy(c.px + 3 * i, GROUND, 3);
    }
    if (!c.px || !out || fill_road(&c, t->accel)) {
        td_free(c.px);
        td_free(out);
        return td_err_set(err, TD_ENOMEM, "render: out of memory for %dx%d px", width_px, height);
    }

    double border_px = fmax(0.05 * c.scale, 1.5 * SS);
    double centre_px = fmax(0.03 * c.scale, 1.0 * SS);
    polyline(&c, t->inner, t->n, border_px, BORDER);
    polyline(&c, t->outer, t->n, border_px, BORDER);
    if (!t->closed) {
        line(&c, t->inner[0], t->inner[1], t->outer[0], t->outer[1], border_px, BORDER);
        line(&c, t->inner[2 * t->n - 2], t->inner[2 * t->n - 1], t->outer[2 * t->n - 2],
             t->outer[2 * t->n - 1], border_px, BORDER);
    }
    /* Dashes of 0.15 m every 0.3 m of arc. */
    for (double s = 0.0; s + 0.15 <= t->length; s += 0.3) {
        double prevx, prevy;
        td_track_point_at(t, s, 0, &prevx, &prevy, NULL);
        for (double u = s + 0.03; u <= s + 0.15 + 1e-9; u += 0.03) {
            double x, y;
            td_track_point_at(t, u, 0, &x, &y, NULL);
            line(&c, prevx, prevy, x, y, centre_px, CENTRE);
            prevx = x;
            prevy = y;
        }
    }
    /* Start line across the road at row 0: a checker of white and black blocks. */
    {
        double ix = t->inner[0], iy = t->inner[1], ox = t->outer[0], oy = t->outer[1];
        int blocks = 8;
        static const uint8_t BLACK[3] = {10, 10, 10};
        for (int b = 0; b < blocks; b++) {
            double u0 = (double)b / blocks, u1 = (double)(b + 1) / blocks;
            line(&c, ix + u0 * (ox - ix), iy + u0 * (oy - iy), ix + u1 * (ox - ix),
                 iy + u1 * (oy - iy), fmax(0.08 * c.scale, 3.0 * SS), (b & 1) ? BLACK : BORDER);
        }
    }
    /* Arrow in the driving direction, a little after the start line. */
    {
        double s = fmin(0.6, 0.1 * t->length), x, y, h;
        double w = t->width[0];
        td_track_point_at(t, s, 0, &x, &y, &h);
        double len = fmin(0.45, 0.6 * w), half = 0.45 * len;
        double cx = cos(h), sy = sin(h);
        double tri[6] = {x + len * cx,  y + len * sy,  x - half * sy,
                         y + half * cx, x + half * sy, y - half * cx};
        triangle(&c, tri, ARROW);
        line(&c, x - 0.6 * len * cx, y - 0.6 * len * sy, x, y, fmax(0.06 * c.scale, 2.0 * SS),
             ARROW);
    }
    /* Average SS x SS blocks. */
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width_px; x++)
            for (int ch = 0; ch < 3; ch++) {
                int sum = 0;
                for (int dy = 0; dy < SS; dy++)
                    for (int dx = 0; dx < SS; dx++)
                        sum += c.px[3 * ((size_t)(y * SS + dy) * c.w + (x * SS + dx)) + ch];
                out[3 * ((size_t)y * width_px + x) + ch] =
                    (uint8_t)((sum + SS * SS / 2) / (SS * SS));
            }
    td_free(c.px);
    *pixels = out;
    *height_px = height;
    if (origin_x)
        *origin_x = c.ox;
    if (origin_y)
        *origin_y = c.oy;
    if (scale)
        *scale = sc;
    return 0;
}

int td_track_render_png(const td_track *t, const char *path, int width_px, td_err *err)
{
    uint8_t *px;
    int h;
    int rc = td_track_render_rgb(t, width_px, &px, &h, NULL, NULL, NULL, err);
    if (rc)
        return rc;
    rc = td_png_write(path, px, width_px, h, 3, err);
    td_free(px);
    return rc;
}
