/*
 * ground_map.c - rasterizes a track once into a top-down map of ground classes (grass, road,
 * border line, centre dash) so the camera renderer needs a single byte lookup per pixel.
 *
 * The road is the union of the triangles of every segment's quad (inner[i], inner[i+1],
 * outer[i+1], outer[i]); a union, unlike an even-odd fill of the border polygons, stays
 * right where a route crosses itself or a border folds in a tight corner. The painted lines
 * are then drawn over road cells by distance to the border and centre segments, visiting
 * only the cells of each segment's bounding box, so building a 90 m track takes a few tens
 * of milliseconds.
 */
#include <math.h>
#include <string.h>

#include "sim/ground_map.h"
#include "trackday/sensors.h"

/* Refuse maps above this many cells (1 byte each) rather than exhaust memory. */
#define MAX_CELLS (512L * 1024L * 1024L)

/* ---- cell ranges ---------------------------------------------------------------------- */

typedef struct cell_range {
    int x0, x1, y0, y1; /* inclusive cell index ranges, empty if x0 > x1 or y0 > y1 */
} cell_range;

/* One level being rasterized: its cells and the map's origin. */
typedef struct raster {
    double x0, y0, cell_m, inv_cell;
    int w, h;
    uint8_t *cls;
} raster;

/* Cells whose centres may lie within the box [minx, maxx] x [miny, maxy]. */
static cell_range cells_of_box(const raster *m, double minx, double miny, double maxx, double maxy)
{
    cell_range r;
    r.x0 = td__floor_int((minx - m->x0) * m->inv_cell - 0.5);
    r.x1 = td__ceil_int((maxx - m->x0) * m->inv_cell - 0.5);
    r.y0 = td__floor_int((miny - m->y0) * m->inv_cell - 0.5);
    r.y1 = td__ceil_int((maxy - m->y0) * m->inv_cell - 0.5);
    if (r.x0 < 0)
        r.x0 = 0;
    if (r.y0 < 0)
        r.y0 = 0;
    if (r.x1 > m->w - 1)
        r.x1 = m->w - 1;
    if (r.y1 > m->h - 1)
        r.y1 = m->h - 1;
    return r;
}

static double min3(double a, double b, double c)
{
    return fmin(a, fmin(b, c));
}

static double max3(double a, double b, double c)
{
    return fmax(a, fmax(b, c));
}

/* ---- road ------------------------------------------------------------------------------ */

/*
 * Marks as road every cell whose centre lies in triangle abc (either orientation), one span
 * of cells per row: the row's centre line crosses the triangle's edges at its two ends.
 */
static void fill_triangle(raster *m, const double *a, const double *b, const double *c)
{
    double area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
    if (fabs(area) < 1e-12)
        return;
    const double *v[3] = {a, b, c};
    /* A small tolerance closes hairline gaps along the edges shared by adjacent triangles. */
    const double eps = 1e-9;
    cell_range r = cells_of_box(m, min3(a[0], b[0], c[0]), min3(a[1], b[1], c[1]),
                                max3(a[0], b[0], c[0]), max3(a[1], b[1], c[1]));
    for (int cy = r.y0; cy <= r.y1; cy++) {
        double py = m->y0 + (cy + 0.5) * m->cell_m;
        double xl = INFINITY, xr = -INFINITY;
        for (int e = 0; e < 3; e++) {
            const double *p = v[e], *q = v[(e + 1) % 3];
            double ylo = fmin(p[1], q[1]), yhi = fmax(p[1], q[1]);
            if (py < ylo - eps || py > yhi + eps)
                continue;
            if (yhi - ylo < 1e-15) {
                /* A horizontal edge on this row: both its ends bound the span. */
                xl = fmin(xl, fmin(p[0], q[0]));
                xr = fmax(xr, fmax(p[0], q[0]));
                continue;
            }
            double t = (py - p[1]) / (q[1] - p[1]);
            t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
            double x = p[0] + t * (q[0] - p[0]);
            xl = fmin(xl, x);
            xr = fmax(xr, x);
        }
        if (!(xr >= xl))
            continue;
        /* Cells whose centre x0 + (cx + 0.5) cell lies in [xl - eps, xr + eps]. */
        double fa = ceil((xl - eps - m->x0) * m->inv_cell - 0.5);
        double fb = floor((xr + eps - m->x0) * m->inv_cell - 0.5);
        int ca = fa < r.x0 ? r.x0 : (int)fa;
        int cb = fb > r.x1 ? r.x1 : (int)fb;
        if (cb >= ca)
            memset(m->cls + (size_t)cy * (size_t)m->w + ca, TD_GROUND_ROAD, (size_t)(cb - ca + 1));
    }
}

/* ---- painted lines ------------------------------------------------------------------- */

/*
 * Paints cls_paint on the cells within half_w of segment ab whose current class is road or
 * (for borders) centre line. For the centre line (dash_period > 0) only the painted half of
 * each dash period is drawn, by arc length s0 at a plus the distance along the segment.
 */
static void paint_segment(raster *m, const double *a, const double *b, double half_w,
                          uint8_t cls_paint, double s0, double dash_period)
{
    double ex = b[0] - a[0], ey = b[1] - a[1];
    double len2 = ex * ex + ey * ey;
    double len = sqrt(len2);
    double hw2 = half_w * half_w;
    cell_range r = cells_of_box(m, fmin(a[0], b[0]) - half_w, fmin(a[1], b[1]) - half_w,
                                fmax(a[0], b[0]) + half_w, fmax(a[1], b[1]) + half_w);
    for (int cy = r.y0; cy <= r.y1; cy++) {
        double py = m->y0 + (cy + 0.5) * m->cell_m;
        uint8_t *row = m->cls + (size_t)cy * (size_t)m->w;
        for (int cx = r.x0; cx <= r.x1; cx++) {
            uint8_t c = row[cx];
            if (c == TD_GROUND_GRASS || c == cls_paint)
                continue;
            double px = m->x0 + (cx + 0.5) * m->cell_m;
            double t = 0.0;
            if (len2 > 0.0) {
                t = ((px - a[0]) * ex + (py - a[1]) * ey) / len2;
                t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
            }
            double dx = px - (a[0] + t * ex), dy = py - (a[1] + t * ey);
            if (dx * dx + dy * dy > hw2)
                continue;
            if (dash_period > 0.0) {
                /*
                 * Dashes are centred on multiples of the period, so the pattern is the same
                 * seen from either driving direction (the period divides the length).
                 */
                double s = s0 + t * len + 0.25 * dash_period;
                double phase = s - floor(s / dash_period) * dash_period;
                if (phase >= 0.5 * dash_period)
                    continue;
            }
            if (cls_paint == TD_GROUND_CENTER && c == TD_GROUND_BORDER)
                continue;
            row[cx] = cls_paint;
        }
    }
}

/* ---- public ------------------------------------------------------------------------------ */

/* Rasterizes the whole track into one level. */
static void rasterize(raster *m, const td_track *t, double dash_period)
{
    int nseg = t->n - 1;
    for (int i = 0; i < nseg; i++) {
        const double *i0 = t->inner + 2 * i, *i1 = t->inner + 2 * (i + 1);
        const double *o0 = t->outer + 2 * i, *o1 = t->outer + 2 * (i + 1);
        fill_triangle(m, i0, i1, o1);
        fill_triangle(m, i0, o1, o0);
    }
    for (int i = 0; i < nseg; i++) {
        double s0 = t->arc ? t->arc[i] : 0.0;
        paint_segment(m, t->center + 2 * i, t->center + 2 * (i + 1), 0.5 * TD__CENTER_LINE_M,
                      TD_GROUND_CENTER, s0, dash_period);
    }
    for (int i = 0; i < nseg; i++) {
        paint_segment(m, t->inner + 2 * i, t->inner + 2 * (i + 1), TD__BORDER_LINE_M,
                      TD_GROUND_BORDER, 0.0, 0.0);
        paint_segment(m, t->outer + 2 * i, t->outer + 2 * (i + 1), TD__BORDER_LINE_M,
                      TD_GROUND_BORDER, 0.0, 0.0);
    }
}

int td_ground_map_open(td_ground_map **out, const td_track *t, double cell_m, td_err *err)
{
    *out = NULL;
    if (!t || t->n < 2 || !t->center || !t->inner || !t->outer)
        return td_err_set(err, TD_EINVAL, "ground map: track has no geometry");
    if (cell_m <= 0.0)
        cell_m = TD_GROUND_CELL_M;
    if (!(cell_m >= 0.002 && cell_m <= 0.5))
        return td_err_set(err, TD_EINVAL, "ground map: cell size %g m is outside [0.002, 0.5]",
                          cell_m);
    double minx = t->min_x, miny = t->min_y, maxx = t->max_x, maxy = t->max_y;
    if (!(maxx >= minx && maxy >= miny) || !isfinite(minx) || !isfinite(maxx) || !isfinite(miny) ||
        !isfinite(maxy))
        return td_err_set(err, TD_EINVAL, "ground map: track '%s' has no valid bounding box",
                          t->name);
    double wx = (maxx - minx) + 2.0 * TD__GROUND_PAD_M;
    double wy = (maxy - miny) + 2.0 * TD__GROUND_PAD_M;
    double cells = ceil(wx / cell_m) * ceil(wy / cell_m);
    if (cells > (double)MAX_CELLS)
        return td_err_set(err, TD_ERANGE,
                          "ground map: track '%s' needs %.0f cells at %g m (limit %ld); use a "
                          "larger cell size",
                          t->name, cells, cell_m, MAX_CELLS);

    td_ground_map *m = td_calloc(1, sizeof(*m));
    if (!m)
        return td_err_set(err, TD_ENOMEM, "ground map: out of memory");
    m->x0 = minx - TD__GROUND_PAD_M;
    m->y0 = miny - TD__GROUND_PAD_M;
    /* Fit the dash period to the length so a loop closes on a whole number of dashes. */
    double length = t->length > 0.0 ? t->length : 0.0;
    double ndash = floor(length / TD__DASH_PERIOD_M + 0.5);
    m->dash_period_m = ndash >= 1.0 ? length / ndash : TD__DASH_PERIOD_M;
    for (int k = 0; k < TD__GROUND_LEVELS; k++) {
        td__ground_level *lv = &m->level[k];
        lv->cell_m = cell_m * (double)(1 << k);
        lv->inv_cell = 1.0 / lv->cell_m;
        lv->w = (int)ceil(wx / lv->cell_m);
        lv->h = (int)ceil(wy / lv->cell_m);
        /* Coarser levels stop once cells get wider than the border lines they must show. */
        if (k > 0 && lv->cell_m > 0.045)
            break;
        lv->cls = td_calloc((size_t)lv->w * (size_t)lv->h, 1);
        if (!lv->cls) {
            int w = lv->w, h = lv->h;
            td_ground_map_close(m);
            return td_err_set(err, TD_ENOMEM, "ground map: out of memory for %d x %d cells", w, h);
        }
        m->nlevels = k + 1;
        raster r = {m->x0, m->y0, lv->cell_m, lv->inv_cell, lv->w, lv->h, lv->cls};
        rasterize(&r, t, m->dash_period_m);
        /* The floor's grain rides in the high bits (the camera's textured look reads class
         * and grain with one lookup): a hash of the cell's position. */
        for (int y = 0; y < lv->h; y++)
            for (int x = 0; x < lv->w; x++) {
                uint32_t h = (uint32_t)x * 0x9E3779B1u ^ (uint32_t)y * 0x85EBCA77u;
                h ^= h >> 15;
                h *= 0x2C1B3C6Du;
                h ^= h >> 13;
                lv->cls[(size_t)y * lv->w + x] |= (uint8_t)((h >> 26) << TD__GRAIN_SHIFT);
            }
    }
    *out = m;
    return 0;
}

void td_ground_map_close(td_ground_map *m)
{
    if (!m)
        return;
    for (int k = 0; k < TD__GROUND_LEVELS; k++)
        td_free(m->level[k].cls);
    td_free(m);
}

int td_ground_map_class_at(const td_ground_map *m, double x, double y)
{
    if (!m)
        return TD_GROUND_GRASS;
    const td__ground_level *lv = &m->level[0];
    double fx = floor((x - m->x0) * lv->inv_cell), fy = floor((y - m->y0) * lv->inv_cell);
    if (!(fx >= 0.0 && fy >= 0.0 && fx < lv->w && fy < lv->h))
        return TD_GROUND_GRASS;
    return lv->cls[(size_t)fy * (size_t)lv->w + (size_t)fx] & TD__CLASS_MASK;
}
