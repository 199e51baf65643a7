/*
 * accel.c - what makes a track's queries fast (track_internal.h): the grid of border edges
 * (point in polygon through it), and the clearance certificates that let the incremental
 * queries of geometry.c prove a local answer is the global one. Built once at load
 * (td__track_accel_build), freed with the track.
 */
#include <math.h>
#include <string.h>

#include "track/track_internal.h"

/* Side of a grid cell of the border-edge grid (m); grown for very large tracks. */
#define GRID_CELL_M    0.3
#define GRID_MAX_CELLS 65536
/* Segments bucketed into the grid, summed over the cells each one covers: a bound on the
 * memory and time of a route whose segments pile up in the same cells. */
#define GRID_MAX_ITEMS (1 << 24)

/* ---- acceleration grid -------------------------------------------------------------------- */

/* The grid cell of coordinate v, clamped to the grid; compared as a double before the
 * conversion, so a point far off the grid (or NaN) is the edge cell, never an overflow. */
static int cell_coord(double v, double v0, double cell, int count)
{
    double c = floor((v - v0) / cell);
    if (!(c >= 0.0))
        return 0;
    if (c >= (double)count)
        return count - 1;
    return (int)c;
}

int td__track_pip_all(const td__track_accel *a, double x, double y)
{
    int inside = 0;
    for (int e = 0; e < a->nedges; e++) {
        const double *s = a->edges + 4 * e;
        if ((s[1] > y) != (s[3] > y)) {
            double xi = s[0] + (s[2] - s[0]) * (y - s[1]) / (s[3] - s[1]);
            if (x < xi)
                inside = !inside;
        }
    }
    return inside;
}

/*
 * td__track_pip_all through the grid: the same crossings of the ray from (x, y) towards +x,
 * tested by the same predicate, but only for the edges bucketed in the grid row of y (an
 * edge the ray crosses covers that row). Each edge is counted in one cell only, the cell of
 * its crossing point clamped to its bounding box, which the edge always covers. Equal to
 * td__track_pip_all for every point; the cost is one grid row instead of every edge.
 */
int td__track_pip_grid(const td__track_accel *a, double x, double y)
{
    int inside = 0;
    int cy = cell_coord(y, a->y0, a->cell, a->gh);
    for (int cx = 0; cx < a->gw; cx++) {
        int c = cy * a->gw + cx;
        for (int k = a->cell_start[c]; k < a->cell_start[c + 1]; k++) {
            const double *s = a->edges + 4 * a->cell_items[k];
            if ((s[1] > y) == (s[3] > y))
                continue;
            double xi = s[0] + (s[2] - s[0]) * (y - s[1]) / (s[3] - s[1]);
            double xc = fmin(fmax(xi, fmin(s[0], s[2])), fmax(s[0], s[2]));
            if (cell_coord(xc, a->x0, a->cell, a->gw) == cx && x < xi)
                inside = !inside;
        }
    }
    return inside;
}

void td__track_accel_free(td_track *t)
{
    td__track_accel *a = t->accel;
    if (!a)
        return;
    td_free(a->edges);
    td_free(a->cell_start);
    td_free(a->cell_items);
    td_free(a->mid_on_road);
    td_free(a->seg_start);
    td_free(a->seg_items);
    td_free(a->curv);
    td_free(a->near);
    td_free(a->seg_geom);
    td_free(a->border_geom);
    td_free(a->far_clear);
    td_free(a->near_safe);
    td_free(a->road_clear);
    td_free(a->border_clear);
    td_free(a);
    t->accel = NULL;
}

static void put_edge(double *e, const double *a, const double *b)
{
    e[0] = a[0];
    e[1] = a[1];
    e[2] = b[0];
    e[3] = b[1];
}

/*
 * Buckets segments (nsegs, 4) into the grid cells their bounding boxes cover, as offsets
 * (*start, gw * gh + 1) into indices (*items). Returns 0, TD_ENOMEM, or TD_ERANGE when the
 * segments cover more than GRID_MAX_ITEMS cells in all (counted before anything is filled).
 */
static int fill_grid(const td__track_accel *a, const double *segs, int nsegs, int **start,
                     int **items)
{
    int ncells = a->gw * a->gh;
    size_t total = 0;
    for (int e = 0; e < nsegs; e++) {
        const double *s = segs + 4 * e;
        size_t w = (size_t)(cell_coord(fmax(s[0], s[2]), a->x0, a->cell, a->gw) -
                            cell_coord(fmin(s[0], s[2]), a->x0, a->cell, a->gw) + 1);
        size_t h = (size_t)(cell_coord(fmax(s[1], s[3]), a->y0, a->cell, a->gh) -
                            cell_coord(fmin(s[1], s[3]), a->y0, a->cell, a->gh) + 1);
        total += w * h; /* each at most GRID_MAX_CELLS: no overflow before the check */
        if (total > GRID_MAX_ITEMS)
            return TD_ERANGE;
    }
    int *st = td_calloc((size_t)ncells + 1, sizeof(int));
    int *it = td_malloc(sizeof(int) * (total + 1));
    if (!st || !it) {
        td_free(st);
        td_free(it);
        return TD_ENOMEM;
    }
    /* Two passes: count the cells each segment covers, then fill. */
    for (int pass = 0; pass < 2; pass++) {
        for (int e = 0; e < nsegs; e++) {
            const double *s = segs + 4 * e;
            int cx0 = cell_coord(fmin(s[0], s[2]), a->x0, a->cell, a->gw);
            int cx1 = cell_coord(fmax(s[0], s[2]), a->x0, a->cell, a->gw);
            int cy0 = cell_coord(fmin(s[1], s[3]), a->y0, a->cell, a->gh);
            int cy1 = cell_coord(fmax(s[1], s[3]), a->y0, a->cell, a->gh);
            for (int cy = cy0; cy <= cy1; cy++)
                for (int cx = cx0; cx <= cx1; cx++) {
                    int c = cy * a->gw + cx;
                    if (pass == 0)
                        st[c + 1]++;
                    else
                        it[st[c]++] = e;
                }
        }
        if (pass == 0) {
            for (int c = 0; c < ncells; c++)
                st[c + 1] += st[c];
        } else {
            /* The fill advanced each start to the next cell's start: shift back. */
            for (int c = ncells; c > 0; c--)
                st[c] = st[c - 1];
            st[0] = 0;
        }
    }
    *start = st;
    *items = it;
    return 0;
}

/* Curvature of the circle through three points (signed, + = turning left). */
static double menger(const double *a, const double *b, const double *c)
{
    double cross = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]);
    double den = hypot(b[0] - a[0], b[1] - a[1]) * hypot(c[0] - b[0], c[1] - b[1]) *
                 hypot(c[0] - a[0], c[1] - a[1]);
    return den > 0.0 ? 2.0 * cross / den : 0.0;
}

static void vertex_curvatures(const td_track *t, double *curv)
{
    int n = t->n;
    int m = t->closed ? n - 1 : n; /* distinct vertices */
    for (int i = 0; i < m; i++) {
        int a = i, b = i, ok = 1;
        double back = 0.0, fwd = 0.0;
        for (int k = 0; k < m / 2 && back < TD__CURV_MIN_SPAN_M; k++) {
            if (a == 0 && !t->closed) {
                ok = 0;
                break;
            }
            int pa = a == 0 ? m - 1 : a - 1;
            back += t->arc[pa + 1] - t->arc[pa];
            a = pa;
        }
        for (int k = 0; k < m / 2 && fwd < TD__CURV_MIN_SPAN_M; k++) {
            if (b == m - 1 && !t->closed) {
                ok = 0;
                break;
            }
            fwd += t->arc[b + 1] - t->arc[b];
            b = b + 1 == m ? 0 : b + 1;
        }
        curv[i] = ok ? menger(t->center + 2 * a, t->center + 2 * i, t->center + 2 * b) : NAN;
    }
    if (t->closed) {
        curv[n - 1] = curv[0];
        return;
    }
    /* Ends of an open route take the curvature of the nearest vertex that has one. */
    int first = 0, last = n - 1;
    while (first < n && isnan(curv[first]))
        first++;
    while (last >= 0 && isnan(curv[last]))
        last--;
    for (int i = 0; i < n; i++)
        if (isnan(curv[i]))
            curv[i] = first >= n ? 0.0 : (i < first ? curv[first] : curv[last]);
}

/*
 * A point Q whose nearest point on centre segment i is an interior foot F, at distance d,
 * is Q = F + d n for a unit normal n of the segment. Another segment has a point Y nearer
 * than d exactly when d > |F - Y|^2 / (2 n.(Y - F)): the radius of the circle tangent to
 * segment i at F through Y. This returns a lower bound of that radius over all feet F on
 * segment i (start a, unit direction e, length len), both normals, and all Y on the segment
 * p0-p1. With h = n.(Y - a) (independent of F) and a_out the distance along e by which Y
 * lies beyond the segment's ends, the minimum over F is (h^2 + a_out^2) / (2 h), which is
 * convex along p0-p1 where h > 0 (a^2/h is jointly convex), so a ternary search finds it.
 * On a smooth centre line it is about the radius of curvature: points nearer to the line
 * than that cannot have their nearest point jump to a segment two or more steps away.
 */
static double tangent_disc_bound(const double *a, double ex, double ey, double len,
                                 const double *p0, const double *p1)
{
    double best = INFINITY;
    for (int side = -1; side <= 1; side += 2) {
        double nx = -ey * side, ny = ex * side;
        double h0 = nx * (p0[0] - a[0]) + ny * (p0[1] - a[1]);
        double h1 = nx * (p1[0] - a[0]) + ny * (p1[1] - a[1]);
        double a0 = ex * (p0[0] - a[0]) + ey * (p0[1] - a[1]);
        double a1 = ex * (p1[0] - a[0]) + ey * (p1[1] - a[1]);
        if (h0 <= 0.0 && h1 <= 0.0)
            continue;
        /* The part of p0-p1 on this side: h > 0 for t in (lo, hi). */
        double lo = 0.0, hi = 1.0;
        if (h0 <= 0.0)
            lo = -h0 / (h1 - h0);
        if (h1 <= 0.0)
            hi = -h0 / (h1 - h0);
        for (int it = 0; it < 100 && hi - lo > 1e-12; it++) {
            double m1 = lo + (hi - lo) / 3.0, m2 = hi - (hi - lo) / 3.0;
            double f[2];
            for (int k = 0; k < 2; k++) {
                double t = k ? m2 : m1;
                double h = h0 + t * (h1 - h0), al = a0 + t * (a1 - a0);
                double out = al < 0.0 ? -al : (al > len ? al - len : 0.0);
                f[k] = h > 0.0 ? (h * h + out * out) / (2.0 * h) : INFINITY;
            }
            if (f[0] < f[1])
                hi = m2;
            else
                lo = m1;
        }
        double t = 0.5 * (lo + hi);
        double h = h0 + t * (h1 - h0), al = a0 + t * (a1 - a0);
        double out = al < 0.0 ? -al : (al > len ? al - len : 0.0);
        double f = h > 0.0 ? (h * h + out * out) / (2.0 * h) : 0.0;
        /* The search stops within 1e-12 of the minimiser; keep a relative margin. */
        best = fmin(best, f * (1.0 - 1e-6) - 1e-9);
    }
    return best;
}

/* Items a search for one segment's clearances may visit: about 8 times what the busiest
 * segment of DeepRacer's routes and trackday's tracks visits (250), 3 times a generated
 * track at its finest spacing. With TD_TRACK_MAX_ROWS it bounds the load time. */
#define CERT_BUDGET 2048

/* Items bucketed in the cells [cx0, cx1] x [cy0, cy1] of a grid (start offsets, gw wide). */
static long items_in(const int *start, int gw, int cx0, int cx1, int cy0, int cy1)
{
    long n = 0;
    for (int cy = cy0; cy <= cy1; cy++)
        n += start[cy * gw + cx1 + 1] - start[cy * gw + cx0];
    return n;
}

/* Cyclic (loop) or bounded (open) index distance between centre segments. */
static int seg_gap(const td_track *t, int i, int j)
{
    int nseg = t->n - 1, g = i > j ? i - j : j - i;
    if (t->closed && nseg - g < g)
        g = nseg - g;
    return g;
}

/*
 * The clearances behind the fast paths of the per-step queries. Segments within the cap of
 * segment i are found through the grid cells around it.
 */
static int build_certificates(td_track *t)
{
    td__track_accel *a = t->accel;
    int nseg = t->n - 1;
    if (!t->closed ? nseg < 2 : nseg < 2 * TD__NEAR_K + 3)
        return 0; /* too small for windows: the queries always use the grid */
    a->near = td_malloc(sizeof(float) * TD__NEAR_N * (size_t)nseg);
    a->near_safe = td_malloc(sizeof(double) * (size_t)nseg);
    a->far_clear = td_malloc(sizeof(double) * (size_t)nseg);
    a->road_clear = td_malloc(sizeof(double) * (size_t)nseg);
    a->border_clear = td_malloc(sizeof(double) * 2 * (size_t)nseg);
    if (!a->near || !a->near_safe || !a->far_clear || !a->road_clear || !a->border_clear)
        return -1;
    const double *c = t->center;
    for (int i = 0; i < nseg; i++) {
        /* Suffix minima over the window, forward then backward. */
        for (int dir = 0; dir < 2; dir++) {
            float m = INFINITY;
            for (int k = TD__NEAR_K; k >= 2; k--) {
                int j = dir == 0 ? i + k : i - k;
                if (t->closed)
                    j = (j % nseg + nseg) % nseg;
                if (j >= 0 && j < nseg) {
                    float d =
                        (float)td__seg_seg_dist(c + 2 * i, c + 2 * i + 2, c + 2 * j, c + 2 * j + 2);
                    /* Rounded down, so the float never overstates the clearance. */
                    d = nextafterf(d, 0.0f);
                    m = fminf(m, d);
                }
                a->near[TD__NEAR_N * i + dir * (TD__NEAR_K - 1) + (k - 2)] = m;
            }
        }
        /* The tangent-disc bound over the window (gap 2 .. K). */
        {
            double ex = c[2 * i + 2] - c[2 * i], ey = c[2 * i + 3] - c[2 * i + 1];
            double len = hypot(ex, ey);
            double safe = TD__FAR_CAP_M;
            ex /= len;
            ey /= len;
            for (int k = 2; k <= TD__NEAR_K; k++)
                for (int dir = 0; dir < 2; dir++) {
                    int j = dir == 0 ? i + k : i - k;
                    if (t->closed)
                        j = (j % nseg + nseg) % nseg;
                    if (j < 0 || j >= nseg)
                        continue;
                    safe = fmin(
                        safe, tangent_disc_bound(c + 2 * i, ex, ey, len, c + 2 * j, c + 2 * j + 2));
                }
            a->near_safe[i] = fmax(0.0, safe);
        }
        double xmin = fmin(c[2 * i], c[2 * i + 2]), xmax = fmax(c[2 * i], c[2 * i + 2]);
        double ymin = fmin(c[2 * i + 1], c[2 * i + 3]), ymax = fmax(c[2 * i + 1], c[2 * i + 3]);
        /* Far segments within the cap. */
        double far = TD__FAR_CAP_M;
        int cx0 = cell_coord(xmin - far, a->x0, a->cell, a->gw);
        int cx1 = cell_coord(xmax + far, a->x0, a->cell, a->gw);
        int cy0 = cell_coord(ymin - far, a->y0, a->cell, a->gh);
        int cy1 = cell_coord(ymax + far, a->y0, a->cell, a->gh);
        /* A route that piles many segments near this one (far denser than any road) would
         * make the load quadratic: past the budget the clearance stays 0, which is always a
         * true lower bound, and the queries use the grid there. */
        if (items_in(a->seg_start, a->gw, cx0, cx1, cy0, cy1) > CERT_BUDGET)
            far = 0.0;
        for (int cy = cy0; cy <= cy1 && far > 0.0; cy++)
            for (int cx = cx0; cx <= cx1; cx++) {
                int cell = cy * a->gw + cx;
                for (int k = a->seg_start[cell]; k < a->seg_start[cell + 1]; k++) {
                    int j = a->seg_items[k];
                    if (seg_gap(t, i, j) <= TD__NEAR_K)
                        continue;
                    far = fmin(
                        far, td__seg_seg_dist(c + 2 * i, c + 2 * i + 2, c + 2 * j, c + 2 * j + 2));
                }
            }
        a->far_clear[i] = far;
        /* Border edges within the cap: all of them for the road clearance, those outside
         * the window for the border clearances. */
        double road = TD__FAR_CAP_M, bclear[2] = {TD__FAR_CAP_M, TD__FAR_CAP_M};
        cx0 = cell_coord(xmin - road, a->x0, a->cell, a->gw);
        cx1 = cell_coord(xmax + road, a->x0, a->cell, a->gw);
        cy0 = cell_coord(ymin - road, a->y0, a->cell, a->gh);
        cy1 = cell_coord(ymax + road, a->y0, a->cell, a->gh);
        if (items_in(a->cell_start, a->gw, cx0, cx1, cy0, cy1) > CERT_BUDGET)
            road = bclear[0] = bclear[1] = 0.0; /* as for far above */
        for (int cy = cy0; cy <= cy1 && road > 0.0; cy++)
            for (int cx = cx0; cx <= cx1; cx++) {
                int cell = cy * a->gw + cx;
                for (int k = a->cell_start[cell]; k < a->cell_start[cell + 1]; k++) {
                    int e = a->cell_items[k];
                    const double *ed = a->edges + 4 * e;
                    double d = td__seg_seg_dist(c + 2 * i, c + 2 * i + 2, ed, ed + 2);
                    road = fmin(road, d);
                    /* Edges 0 .. nseg-1 are the outer border, nseg .. 2 nseg-1 the inner. */
                    if (e < 2 * nseg) {
                        int b = e >= nseg, j = e - b * nseg;
                        if (seg_gap(t, i, j) > TD__BORDER_W)
                            bclear[b] = fmin(bclear[b], d);
                    }
                }
            }
        a->road_clear[i] = fmax(0.0, fmin(road, TD__ROAD_CAP_M) - 1e-9); /* rounding margin */
        a->border_clear[2 * i] = fmax(0.0, bclear[0] - 1e-9);
        a->border_clear[2 * i + 1] = fmax(0.0, bclear[1] - 1e-9);
    }
    a->fast = 1;
    return 0;
}

int td__track_accel_build(td_track *t, td_err *err)
{
    int n = t->n;
    td__track_accel *a = td_calloc(1, sizeof(*a));
    double *csegs = NULL;
    if (!a)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory for the track grid", t->name);
    t->accel = a;
    a->nedges = 2 * (n - 1) + (t->closed ? 0 : 2);
    a->edges = td_malloc(sizeof(double) * 4 * (size_t)a->nedges);
    a->mid_on_road = td_malloc((size_t)(n - 1));
    a->curv = td_malloc(sizeof(double) * (size_t)n);
    a->seg_geom = td_malloc(sizeof(double) * 5 * (size_t)(n - 1));
    csegs = td_malloc(sizeof(double) * 4 * (size_t)(n - 1));
    if (!a->edges || !a->mid_on_road || !a->curv || !a->seg_geom || !csegs)
        goto nomem;
    a->border_geom = td_malloc(sizeof(double) * 10 * (size_t)(n - 1));
    if (!a->border_geom)
        goto nomem;
    for (int b = 0; b < 2; b++)
        for (int i = 0; i + 1 < n; i++) {
            const double *B = b ? t->inner : t->outer;
            double *g = a->border_geom + 5 * ((size_t)b * (n - 1) + i);
            g[0] = B[2 * i];
            g[1] = B[2 * i + 1];
            g[2] = B[2 * i + 2] - g[0];
            g[3] = B[2 * i + 3] - g[1];
            double l2 = g[2] * g[2] + g[3] * g[3];
            g[4] = l2 > 0.0 ? 1.0 / l2 : 0.0; /* a zero-length border segment is its point */
        }
    for (int i = 0; i + 1 < n; i++) {
        double *g = a->seg_geom + 5 * i;
        g[0] = t->center[2 * i];
        g[1] = t->center[2 * i + 1];
        g[2] = t->center[2 * i + 2] - g[0];
        g[3] = t->center[2 * i + 3] - g[1];
        g[4] = 1.0 / (g[2] * g[2] + g[3] * g[3]);
    }

    int k = 0;
    for (int i = 0; i + 1 < n; i++)
        put_edge(a->edges + 4 * k++, t->outer + 2 * i, t->outer + 2 * (i + 1));
    for (int i = 0; i + 1 < n; i++)
        put_edge(a->edges + 4 * k++, t->inner + 2 * i, t->inner + 2 * (i + 1));
    if (!t->closed) {
        /* The open road polygon: outer border, end rung, reversed inner border, start rung. */
        put_edge(a->edges + 4 * k++, t->outer + 2 * (n - 1), t->inner + 2 * (n - 1));
        put_edge(a->edges + 4 * k++, t->inner, t->outer);
    }
    for (int i = 0; i + 1 < n; i++)
        put_edge(csegs + 4 * i, t->center + 2 * i, t->center + 2 * (i + 1));

    /* The cell doubles until the grid has at most GRID_MAX_CELLS cells. The loaders bound the
     * coordinates (TD_TRACK_MAX_COORD_M), so a few doublings do; the bound on the loop keeps
     * a track built some other way from spinning on an overflowing span. */
    a->cell = GRID_CELL_M;
    a->x0 = t->min_x - 1e-3;
    a->y0 = t->min_y - 1e-3;
    for (int doublings = 0;; doublings++) {
        double gw = floor((t->max_x + 1e-3 - a->x0) / a->cell) + 1;
        double gh = floor((t->max_y + 1e-3 - a->y0) / a->cell) + 1;
        if (gw * gh <= GRID_MAX_CELLS) {
            a->gw = (int)gw;
            a->gh = (int)gh;
            break;
        }
        if (doublings >= 64 || !(gw * gh < INFINITY)) {
            td_free(csegs);
            td__track_accel_free(t);
            return td_err_set(err, TD_ERANGE,
                              "%s: the bounding box (x %g .. %g, y %g .. %g m) is too large for "
                              "the track grid",
                              t->name, t->min_x, t->max_x, t->min_y, t->max_y);
        }
        a->cell *= 2.0;
    }
    int grc = fill_grid(a, a->edges, a->nedges, &a->cell_start, &a->cell_items);
    if (!grc)
        grc = fill_grid(a, csegs, n - 1, &a->seg_start, &a->seg_items);
    if (grc == TD_ERANGE) {
        td_free(csegs);
        td__track_accel_free(t);
        return td_err_set(err, TD_ERANGE,
                          "%s: the borders cross more than %d grid cells in all (%d rows on a "
                          "%.3g m grid); the route is too large or too dense",
                          t->name, GRID_MAX_ITEMS, n, a->cell);
    }
    if (grc)
        goto nomem;
    td_free(csegs);
    csegs = NULL;
    for (int i = 0; i + 1 < n; i++) {
        double mx = 0.5 * (t->center[2 * i] + t->center[2 * i + 2]);
        double my = 0.5 * (t->center[2 * i + 1] + t->center[2 * i + 3]);
        a->mid_on_road[i] = (unsigned char)td__track_pip_grid(a, mx, my);
    }
    vertex_curvatures(t, a->curv);
    if (build_certificates(t))
        goto nomem;
    return 0;
nomem:
    td_free(csegs);
    td__track_accel_free(t);
    return td_err_set(err, TD_ENOMEM, "%s: out of memory for the track grid", t->name);
}
