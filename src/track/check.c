/*
 * check.c - is a track drivable? Self-intersections of the centreline and borders,
 * borders crossing each other or the centreline, and the centreline's radius of curvature
 * against a minimum and against half the width (else the inner border folds). Used for the
 * shipped tracks, the procedural generator and `trackday tracks show`.
 */
#include <math.h>

#include "track/track_internal.h"

/* The inner border needs this much room inside the centreline's turning radius (m). */
#define FOLD_MARGIN_M 0.05

static const char *poly_name(int k)
{
    return k == 0 ? "centreline" : (k == 1 ? "inner border" : "outer border");
}

static const double *poly(const td_track *t, int k)
{
    return k == 0 ? t->center : (k == 1 ? t->inner : t->outer);
}

/* Grid coordinate of v (as accel.c buckets segments), clamped to the grid. */
static int grid_cell(double v, double v0, double cell, int count)
{
    double c = floor((v - v0) / cell);
    if (!(c >= 0.0))
        return 0;
    return c >= (double)count ? count - 1 : (int)c;
}

/*
 * Looks for a crossing between segments of polylines ka and kb (may be the same; then
 * adjacent segments, which share a vertex, are skipped). Returns 0 or TD_EFORMAT.
 *
 * Two segments that cross share a grid cell (the crossing point is in both bounding boxes), so
 * segment i is tested only against the segments of kb bucketed in the cells its box covers:
 * near-linear on any route instead of all pairs. The report is the one a scan of all pairs
 * in order gives: the first segment i with a crossing, and the smallest j it crosses.
 */
static int check_pair(const td_track *t, int ka, int kb, td_err *err)
{
    const td__track_accel *a = t->accel;
    const double *pa = poly(t, ka), *pb = poly(t, kb);
    int nseg = t->n - 1;
    /* kb's segments in the grid: the centre segments, or the border edges (outer border
     * 0 .. nseg-1, inner border nseg .. 2 nseg-1, then an open route's end rungs). */
    const int *start = kb == 0 ? a->seg_start : a->cell_start;
    const int *items = kb == 0 ? a->seg_items : a->cell_items;
    int base = kb == 0 ? 0 : (kb == 1 ? nseg : 0);
    for (int i = 0; i < nseg; i++) {
        const double *p = pa + 2 * i;
        double pminx = fmin(p[0], p[2]), pmaxx = fmax(p[0], p[2]);
        double pminy = fmin(p[1], p[3]), pmaxy = fmax(p[1], p[3]);
        int cx0 = grid_cell(pminx, a->x0, a->cell, a->gw);
        int cx1 = grid_cell(pmaxx, a->x0, a->cell, a->gw);
        int cy0 = grid_cell(pminy, a->y0, a->cell, a->gh);
        int cy1 = grid_cell(pmaxy, a->y0, a->cell, a->gh);
        int best = -1;
        for (int cy = cy0; cy <= cy1; cy++)
            for (int cx = cx0; cx <= cx1; cx++) {
                int c = cy * a->gw + cx;
                for (int k = start[c]; k < start[c + 1]; k++) {
                    int j = items[k] - base;
                    if (j < 0 || j >= nseg || (best >= 0 && j >= best))
                        continue;
                    if (ka == kb && (j < i + 2 || (t->closed && i == 0 && j == nseg - 1)))
                        continue;
                    const double *q = pb + 2 * j;
                    if (fmax(q[0], q[2]) < pminx || fmin(q[0], q[2]) > pmaxx ||
                        fmax(q[1], q[3]) < pminy || fmin(q[1], q[3]) > pmaxy)
                        continue;
                    if (td__seg_intersect(p[0], p[1], p[2], p[3], q[0], q[1], q[2], q[3]))
                        best = j;
                }
            }
        if (best < 0)
            continue;
        if (ka == kb)
            return td_err_set(err, TD_EFORMAT,
                              "%s: the %s crosses itself: segments %d and %d near "
                              "(%.3f, %.3f)",
                              t->name, poly_name(ka), i, best, p[0], p[1]);
        return td_err_set(err, TD_EFORMAT,
                          "%s: the %s crosses the %s: segments %d and %d near "
                          "(%.3f, %.3f)",
                          t->name, poly_name(ka), poly_name(kb), i, best, p[0], p[1]);
    }
    return 0;
}

int td__track_check_loaded(td_track *t, const char *path, td_err *err)
{
    int rc = t->n >= 3 ? check_pair(t, 0, 0, err) : 0;
    if (rc) {
        td_err_prefix(err, rc, "%s: not a drivable route: ", path);
        td_track_free(t);
    }
    return rc;
}

double td_track_min_radius(const td_track *t)
{
    const double *curv = ((const td__track_accel *)t->accel)->curv;
    double kmax = 0.0;
    for (int i = 0; i < t->n; i++)
        kmax = fmax(kmax, fabs(curv[i]));
    return kmax > 0.0 ? 1.0 / kmax : INFINITY;
}

int td_track_check(const td_track *t, double min_radius_m, td_err *err)
{
    int rc;
    static const int pairs[6][2] = {{0, 0}, {1, 1}, {2, 2}, {1, 2}, {0, 1}, {0, 2}};
    for (int k = 0; k < 6; k++)
        if ((rc = check_pair(t, pairs[k][0], pairs[k][1], err)))
            return rc;
    if (t->closed) {
        /* The inner border is the one inside: its loop encloses less area. */
        double ai = 0.0, ao = 0.0;
        for (int i = 0; i + 1 < t->n; i++) {
            ai += t->inner[2 * i] * t->inner[2 * i + 3] - t->inner[2 * i + 2] * t->inner[2 * i + 1];
            ao += t->outer[2 * i] * t->outer[2 * i + 3] - t->outer[2 * i + 2] * t->outer[2 * i + 1];
        }
        if (fabs(ai) >= fabs(ao))
            return td_err_set(err, TD_EFORMAT,
                              "%s: the inner border encloses more than the outer one (%.2f vs "
                              "%.2f m^2): are the inner and outer columns swapped?",
                              t->name, 0.5 * fabs(ai), 0.5 * fabs(ao));
    }
    if (min_radius_m <= 0.0)
        return 0;
    const double *curv = ((const td__track_accel *)t->accel)->curv;
    for (int i = 0; i < t->n; i++) {
        double k = fabs(curv[i]);
        if (k == 0.0)
            continue;
        double r = 1.0 / k;
        if (r < min_radius_m)
            return td_err_set(err, TD_EFORMAT,
                              "%s: turn radius %.3f m at vertex %d (%.3f, %.3f) is below the "
                              "minimum %.3f m",
                              t->name, r, i, t->center[2 * i], t->center[2 * i + 1], min_radius_m);
        /* The road's width there: between the nearest border points (a route's border rows
         * may sit along the road from their centre row, so the row width can mislead). */
        td_track_proj p = {.seg = i < t->n - 1 ? i : t->n - 2,
                           .t = i < t->n - 1 ? 0.0 : 1.0,
                           .px = t->center[2 * i],
                           .py = t->center[2 * i + 1]};
        double w = fmin(t->width[i], td_track_width_nearest(t, &p));
        if (r < 0.5 * w + FOLD_MARGIN_M)
            return td_err_set(err, TD_EFORMAT,
                              "%s: turn radius %.3f m at vertex %d (%.3f, %.3f) is too small for "
                              "the width %.3f m (the inner border would fold)",
                              t->name, r, i, t->center[2 * i], t->center[2 * i + 1], w);
    }
    return 0;
}
