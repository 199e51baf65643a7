/*
 * geometry.c - the per-step geometric queries of a track: arc-length projection onto the
 * centreline (full search and incremental), closest waypoints, width, left of centre, road
 * containment (local and reference), points, lanes and curvature at an arc length.
 *
 * The incremental queries touch only the segments beside the previous result and prove,
 * with clearances precomputed at load (accel.c, build_certificates), that the local answer
 * is the global one; where a proof fails (far off the road) they search the grid cells
 * around the point. A step costs O(1) amortized and always gives the same answer as the
 * full search (a scan), which is for resets and teleports.
 */
#include <math.h>

#include "track/track_internal.h"

/* Above this many grid cells a containment path scans all edges instead. */
#define LOCAL_MAX_CELLS 64

/* ---- projection --------------------------------------------------------------------------- */

/* The grid cell of coordinate v, clamped to the grid; compared as a double before the
 * conversion, so a point far off the grid (or NaN) is the edge cell, never an overflow. */
static int cell_of(double v, double v0, double cell, int count)
{
    double c = floor((v - v0) / cell);
    if (!(c >= 0.0))
        return 0;
    if (c >= (double)count)
        return count - 1;
    return (int)c;
}

/*
 * Squared distance from (x, y) to centre segment i, and the clamped segment parameter.
 * Uses the precomputed segment origin, direction and inverse squared length: no division,
 * and few branches, because the per-step queries call it a dozen times.
 */
static inline double seg_dist2(const td_track *t, int i, double x, double y, double *tt)
{
    const double *g = ((const td__track_accel *)t->accel)->seg_geom + 5 * i;
    double rx = x - g[0], ry = y - g[1];
    double u = (rx * g[2] + ry * g[3]) * g[4];
    u = u < 0.0 ? 0.0 : (u > 1.0 ? 1.0 : u);
    double ex = rx - u * g[2], ey = ry - u * g[3];
    *tt = u;
    return ex * ex + ey * ey;
}

/* Unit tangent of the centreline at vertex i: the bisector of the adjacent segments. */
static void vertex_tangent(const td_track *t, int i, double *tx, double *ty)
{
    int nseg = t->n - 1;
    int sin_ = i < nseg ? i : (t->closed ? 0 : nseg - 1);
    int sout = i > 0 ? i - 1 : (t->closed ? nseg - 1 : 0);
    const double *c = t->center;
    double d1x = c[2 * sout + 2] - c[2 * sout], d1y = c[2 * sout + 3] - c[2 * sout + 1];
    double d2x = c[2 * sin_ + 2] - c[2 * sin_], d2y = c[2 * sin_ + 3] - c[2 * sin_ + 1];
    double l1 = hypot(d1x, d1y), l2 = hypot(d2x, d2y);
    double x = d1x / l1 + d2x / l2, y = d1y / l1 + d2y / l2;
    double l = hypot(x, y);
    if (l < 1e-12) {
        x = d2x / l2;
        y = d2y / l2;
        l = 1.0;
    }
    *tx = x / l;
    *ty = y / l;
}

/*
 * Fills a projection from a segment and its clamped parameter. A projection at the end of
 * a segment is moved to the start of the next one, so prev_wp is the last vertex whose arc
 * length is <= the projection's (for a loop the end of the last segment is vertex 0).
 */
static void fill_proj(const td_track *t, int seg, double u, double x, double y, td_track_proj *out)
{
    int nseg = t->n - 1;
    if (u >= 1.0) {
        if (seg + 1 < nseg) {
            seg++;
            u = 0.0;
        } else if (t->closed) {
            seg = 0;
            u = 0.0;
        } else {
            u = 1.0;
        }
    }
    const double *a = t->center + 2 * seg;
    double px, py, tx, ty;
    if (u <= 0.0) {
        px = a[0];
        py = a[1];
        vertex_tangent(t, seg, &tx, &ty);
    } else if (u >= 1.0) {
        px = a[2];
        py = a[3];
        vertex_tangent(t, seg + 1, &tx, &ty);
    } else {
        px = a[0] + u * (a[2] - a[0]);
        py = a[1] + u * (a[3] - a[1]);
        tx = a[2] - a[0];
        ty = a[3] - a[1];
    }
    out->seg = seg;
    out->t = u;
    out->arc = t->arc[seg] + u * (t->arc[seg + 1] - t->arc[seg]);
    if (t->closed && out->arc >= t->length)
        out->arc -= t->length;
    out->px = px;
    out->py = py;
    out->dist = sqrt((x - px) * (x - px) + (y - py) * (y - py));
    out->left = tx * (y - py) - ty * (x - px) > 0.0;
    out->prev_wp = seg;
    out->next_wp = seg + 1;
}

void td_track_project(const td_track *t, double x, double y, td_track_proj *out)
{
    int best = 0;
    double best_u = 0.0, best_d = INFINITY;
    for (int i = 0; i + 1 < t->n; i++) {
        double u;
        double d = seg_dist2(t, i, x, y, &u);
        if (d < best_d) {
            best_d = d;
            best = i;
            best_u = u;
        }
    }
    fill_proj(t, best, best_u, x, y, out);
}

/*
 * Makes a local minimum global: any nearer segment lies within the current distance of
 * the point, so only the grid cells of that small box are searched. On the road the box
 * is about the width of the road, a few cells, whatever the track's size.
 */
static void grid_refine(const td_track *t, double x, double y, int *seg, double *u, double *d2)
{
    const td__track_accel *a = t->accel;
    double r = sqrt(*d2);
    int cx0 = cell_of(x - r, a->x0, a->cell, a->gw), cx1 = cell_of(x + r, a->x0, a->cell, a->gw);
    int cy0 = cell_of(y - r, a->y0, a->cell, a->gh), cy1 = cell_of(y + r, a->y0, a->cell, a->gh);
    if ((cx1 - cx0 + 1) * (cy1 - cy0 + 1) > LOCAL_MAX_CELLS) {
        /* Far from the road (a stale projection): the plain scan is cheaper. */
        for (int j = 0; j + 1 < t->n; j++) {
            double uj, dj = seg_dist2(t, j, x, y, &uj);
            if (dj < *d2 || (dj == *d2 && j < *seg)) {
                *d2 = dj;
                *seg = j;
                *u = uj;
            }
        }
        return;
    }
    for (int cy = cy0; cy <= cy1; cy++)
        for (int cx = cx0; cx <= cx1; cx++) {
            int c = cy * a->gw + cx;
            for (int k = a->seg_start[c]; k < a->seg_start[c + 1]; k++) {
                int j = a->seg_items[k];
                double uj, dj = seg_dist2(t, j, x, y, &uj);
                /* Ties go to the lower index, as in the full scan. */
                if (dj < *d2 || (dj == *d2 && j < *seg)) {
                    *d2 = dj;
                    *seg = j;
                    *u = uj;
                }
            }
        }
}

void td_track_project_from(const td_track *t, double x, double y, td_track_proj *p)
{
    int nseg = t->n - 1;
    int seg = p->seg;
    if (seg < 0 || seg >= nseg) {
        td_track_project(t, x, y, p);
        return;
    }
    double u;
    double d = seg_dist2(t, seg, x, y, &u);
    /*
     * Descend the distance along the polyline: move to a neighbour segment while it is
     * strictly nearer. This is where the segment parameter leaves [0, 1], and it also
     * settles the inside of a corner, where the point projects inside both segments.
     * Each move strictly decreases the distance, so the walk ends; its length is the
     * number of segments the point moved past.
     */
    for (int steps = 0; steps < nseg; steps++) {
        int prev = seg - 1, next = seg + 1;
        if (prev < 0)
            prev = t->closed ? nseg - 1 : -1;
        if (next >= nseg)
            next = t->closed ? 0 : -1;
        double up = 0.0, un = 0.0;
        double dp = prev >= 0 ? seg_dist2(t, prev, x, y, &up) : INFINITY;
        double dn = next >= 0 ? seg_dist2(t, next, x, y, &un) : INFINITY;
        if (dn < d && dn <= dp) {
            seg = next;
            d = dn;
            u = un;
        } else if (dp < d) {
            seg = prev;
            d = dp;
            u = up;
        } else {
            break;
        }
    }
    /*
     * A local minimum need not be the global one: off the road inside a tight bend, or
     * where two parts of the track run close, the nearest point jumps. A segment j nearer
     * than the distance r found on segment i has dist(segment i, segment j) < 2 r. The
     * clearances precomputed for segment i rule out the far segments, and the tangent-disc
     * bound (accel.c) the whole window when the foot is inside the segment; otherwise the
     * window is checked explicitly. Where the clearances do not suffice (far off the
     * road), the grid cells within r are searched.
     */
    const td__track_accel *a = t->accel;
    double r2 = 2.0 * sqrt(d) + 1e-9;
    if (a->fast && r2 <= a->far_clear[seg] && u > 0.0 && u < 1.0 && sqrt(d) <= a->near_safe[seg]) {
        /* The usual case on the road: no segment of the window can be nearer either. */
    } else if (a->fast && r2 <= a->far_clear[seg]) {
        int anchor = seg;
        const float *near = a->near + TD__NEAR_N * anchor;
        for (int dir = 0; dir < 2; dir++) {
            for (int k = 2; k <= TD__NEAR_K; k++) {
                if (near[dir * (TD__NEAR_K - 1) + (k - 2)] >= r2)
                    break;
                int j = dir == 0 ? anchor + k : anchor - k;
                if (t->closed)
                    j += j < 0 ? nseg : (j >= nseg ? -nseg : 0); /* |j| < 2 nseg: no division */
                else if (j < 0 || j >= nseg)
                    break;
                double uj, dj = seg_dist2(t, j, x, y, &uj);
                if (dj < d || (dj == d && j < seg)) {
                    d = dj;
                    seg = j;
                    u = uj;
                }
            }
        }
    } else {
        grid_refine(t, x, y, &seg, &u, &d);
    }
    fill_proj(t, seg, u, x, y, p);
}

double td_track_width_at(const td_track *t, const td_track_proj *p)
{
    int k = p->t < 0.5 ? p->seg : p->seg + 1;
    if (k < 0)
        k = 0;
    if (k >= t->n)
        k = t->n - 1;
    return t->width[k];
}

/*
 * Nearest point of a border polyline (b = 0 outer, 1 inner) to (x, y), a point on centre
 * segment seg: the border segments of the window around seg, then, unless the border
 * clearance of seg proves that nothing outside the window is nearer, the grid cells within
 * the distance found. Ties go to the lower segment index, as shapely's project does.
 */
static void border_nearest(const td_track *t, int b, int seg, double x, double y, double *px,
                           double *py)
{
    const td__track_accel *a = t->accel;
    const double *B = b ? t->inner : t->outer;
    int nseg = t->n - 1;
    int best = -1;
    double best_d2 = INFINITY, best_u = 0.0;
    const double *G = a->border_geom + 5 * (size_t)b * nseg;
#define TRY_BORDER_SEG(k)                                                                          \
    do {                                                                                           \
        const double *g = G + 5 * (k);                                                             \
        double rx = x - g[0], ry = y - g[1];                                                       \
        double u = (rx * g[2] + ry * g[3]) * g[4];                                                 \
        u = u < 0 ? 0 : (u > 1 ? 1 : u);                                                           \
        double ex = rx - u * g[2], ey = ry - u * g[3], d2 = ex * ex + ey * ey;                     \
        if (d2 < best_d2 || (d2 == best_d2 && (k) < best)) {                                       \
            best_d2 = d2;                                                                          \
            best = (k);                                                                            \
            best_u = u;                                                                            \
        }                                                                                          \
    } while (0)
    if (a->fast) {
        for (int m = -TD__BORDER_W; m <= TD__BORDER_W; m++) {
            int k = seg + m;
            if (t->closed)
                k += k < 0 ? nseg : (k >= nseg ? -nseg : 0);
            else if (k < 0 || k >= nseg)
                continue;
            TRY_BORDER_SEG(k);
        }
    }
    if (!a->fast || !(sqrt(best_d2) <= a->border_clear[2 * seg + b])) {
        double r = a->fast ? sqrt(best_d2) : INFINITY;
        int cx0 = cell_of(x - r, a->x0, a->cell, a->gw),
            cx1 = cell_of(x + r, a->x0, a->cell, a->gw);
        int cy0 = cell_of(y - r, a->y0, a->cell, a->gh),
            cy1 = cell_of(y + r, a->y0, a->cell, a->gh);
        if (!a->fast || (cx1 - cx0 + 1) * (cy1 - cy0 + 1) > LOCAL_MAX_CELLS) {
            for (int k = 0; k < nseg; k++)
                TRY_BORDER_SEG(k);
        } else {
            for (int cy = cy0; cy <= cy1; cy++)
                for (int cx = cx0; cx <= cx1; cx++) {
                    int c = cy * a->gw + cx;
                    for (int it = a->cell_start[c]; it < a->cell_start[c + 1]; it++) {
                        int e = a->cell_items[it];
                        if (e < 2 * nseg && (e >= nseg) == b)
                            TRY_BORDER_SEG(e - b * nseg);
                    }
                }
        }
    }
#undef TRY_BORDER_SEG
    const double *q = B + 2 * best;
    if (best_u >= 1.0) {
        *px = q[2];
        *py = q[3];
    } else {
        *px = q[0] + best_u * (q[2] - q[0]);
        *py = q[1] + best_u * (q[3] - q[1]);
    }
}

void td_track_nearest_border_points(const td_track *t, const td_track_proj *p, double *ix,
                                    double *iy, double *ox, double *oy)
{
    int seg = p->seg < 0 ? 0 : (p->seg > t->n - 2 ? t->n - 2 : p->seg);
    border_nearest(t, 1, seg, p->px, p->py, ix, iy);
    border_nearest(t, 0, seg, p->px, p->py, ox, oy);
}

double td_track_width_nearest(const td_track *t, const td_track_proj *p)
{
    double ix, iy, ox, oy;
    td_track_nearest_border_points(t, p, &ix, &iy, &ox, &oy);
    return sqrt((ox - ix) * (ox - ix) + (oy - iy) * (oy - iy));
}

int td_track_is_ccw(const td_track *t)
{
    if (!t->closed)
        return !t->reversed;
    double a = 0.0;
    for (int i = 0; i + 1 < t->n; i++)
        a += t->center[2 * i] * t->center[2 * i + 3] - t->center[2 * i + 2] * t->center[2 * i + 1];
    return a > 0.0;
}

int td_track_left_of_center(const td_track *t, int ccw, const td_track_proj *p, double x, double y,
                            double *width)
{
    double ix, iy, ox, oy;
    td_track_nearest_border_points(t, p, &ix, &iy, &ox, &oy);
    if (width)
        *width = sqrt((ox - ix) * (ox - ix) + (oy - iy) * (oy - iy));
    double di = sqrt((x - ix) * (x - ix) + (y - iy) * (y - iy));
    double dout = sqrt((x - ox) * (x - ox) + (y - oy) * (y - oy));
    return (di < dout) != !ccw;
}

void td_track_closest_waypoints(const td_track *t, const td_track_proj *p, int out[2])
{
    out[0] = p->prev_wp;
    out[1] = p->next_wp;
    if (!t->closed && p->seg == t->n - 2 && p->t >= 1.0) {
        out[0] = t->n - 1;
        out[1] = 0;
    }
}

/* ---- road containment --------------------------------------------------------------------- */

/* Orientation sign with zero counted as negative, so shared endpoints are counted once. */
static int side(double ax, double ay, double bx, double by, double px, double py)
{
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax) > 0.0;
}

static int crosses(const double *e, double qx, double qy, double mx, double my)
{
    return side(qx, qy, mx, my, e[0], e[1]) != side(qx, qy, mx, my, e[2], e[3]) &&
           side(e[0], e[1], e[2], e[3], qx, qy) != side(e[0], e[1], e[2], e[3], mx, my);
}

/*
 * The point is on the road iff an odd number of border edges separate it from a reference
 * point whose containment is known: the midpoint of the projection's centre segment
 * (precomputed at load). Only edges in the grid cells around the short path between them
 * are tested, so the cost does not depend on the track's size.
 */
int td_track_on_road(const td_track *t, const td_track_proj *p, double x, double y)
{
    const td__track_accel *a = t->accel;
    if (!(x >= t->min_x && x <= t->max_x && y >= t->min_y && y <= t->max_y))
        return 0;
    int seg = p->seg;
    if (seg < 0)
        seg = 0;
    if (seg > t->n - 2)
        seg = t->n - 2;
    /* Fast path: within road_clear of the centre segment no border is crossed, so the
     * point has the segment's status. */
    if (a->fast) {
        double u, d2 = seg_dist2(t, seg, x, y, &u);
        if (d2 < a->road_clear[seg] * a->road_clear[seg])
            return a->mid_on_road[seg];
    }
    double mx = 0.5 * (t->center[2 * seg] + t->center[2 * seg + 2]);
    double my = 0.5 * (t->center[2 * seg + 1] + t->center[2 * seg + 3]);
    int inside = a->mid_on_road[seg];

    int cx0 = cell_of(fmin(x, mx), a->x0, a->cell, a->gw);
    int cx1 = cell_of(fmax(x, mx), a->x0, a->cell, a->gw);
    int cy0 = cell_of(fmin(y, my), a->y0, a->cell, a->gh);
    int cy1 = cell_of(fmax(y, my), a->y0, a->cell, a->gh);
    if ((cx1 - cx0 + 1) * (cy1 - cy0 + 1) > LOCAL_MAX_CELLS) {
        /* A far point (a stale projection): exact but not local. */
        for (int e = 0; e < a->nedges; e++)
            if (crosses(a->edges + 4 * e, x, y, mx, my))
                inside = !inside;
        return inside;
    }
    for (int cy = cy0; cy <= cy1; cy++) {
        for (int cx = cx0; cx <= cx1; cx++) {
            int c = cy * a->gw + cx;
            for (int k = a->cell_start[c]; k < a->cell_start[c + 1]; k++) {
                const double *e = a->edges + 4 * a->cell_items[k];
                /* An edge spanning several visited cells counts only in the first of them
                 * (row-major) that both its box and the query box cover. */
                int ex0 = cell_of(fmin(e[0], e[2]), a->x0, a->cell, a->gw);
                int ey0 = cell_of(fmin(e[1], e[3]), a->y0, a->cell, a->gh);
                if ((ex0 > cx0 ? ex0 : cx0) != cx || (ey0 > cy0 ? ey0 : cy0) != cy)
                    continue;
                if (crosses(e, x, y, mx, my))
                    inside = !inside;
            }
        }
    }
    return inside;
}

int td_track_on_road_slow(const td_track *t, double x, double y)
{
    return td__track_pip_all(t->accel, x, y);
}

/* ---- points along the centreline ---------------------------------------------------------- */

/* Segment and parameter of arc length s (wrapped or clamped). Binary search: O(log n). */
static void locate(const td_track *t, double s, int *seg, double *u)
{
    s = td_track_wrap_arc(t, s);
    int lo = 0, hi = t->n - 2;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (t->arc[mid] <= s)
            lo = mid;
        else
            hi = mid - 1;
    }
    double len = t->arc[lo + 1] - t->arc[lo];
    double v = (s - t->arc[lo]) / len;
    *seg = lo;
    *u = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
}

void td_track_point_at(const td_track *t, double s, double lateral, double *x, double *y,
                       double *heading_rad)
{
    int seg;
    double u;
    locate(t, s, &seg, &u);
    const double *a = t->center + 2 * seg;
    double dx = a[2] - a[0], dy = a[3] - a[1];
    double l = hypot(dx, dy);
    double px = a[0] + u * dx, py = a[1] + u * dy;
    if (x)
        *x = px - lateral * dy / l;
    if (y)
        *y = py + lateral * dx / l;
    if (heading_rad)
        *heading_rad = atan2(dy, dx);
}

void td_track_lane_point(const td_track *t, double s, int lane, double *x, double *y)
{
    int seg;
    double u;
    locate(t, s, &seg, &u);
    const double *c = t->center + 2 * seg;
    const double *b = (lane > 0 ? t->inner : t->outer) + 2 * seg;
    double cx = c[0] + u * (c[2] - c[0]), cy = c[1] + u * (c[3] - c[1]);
    double bx = b[0] + u * (b[2] - b[0]), by = b[1] + u * (b[3] - b[1]);
    if (lane == 0) {
        bx = cx;
        by = cy;
    }
    *x = 0.5 * (cx + bx);
    *y = 0.5 * (cy + by);
}

double td_track_curvature_at(const td_track *t, double s)
{
    int seg;
    double u;
    locate(t, s, &seg, &u);
    const double *k = ((const td__track_accel *)t->accel)->curv;
    return k[seg] + u * (k[seg + 1] - k[seg]);
}

/* ---- segments --------------------------------------------------------------------------- */

int td__seg_intersect(double p1x, double p1y, double p2x, double p2y, double q1x, double q1y,
                      double q2x, double q2y)
{
    double d1 = (q2x - q1x) * (p1y - q1y) - (q2y - q1y) * (p1x - q1x);
    double d2 = (q2x - q1x) * (p2y - q1y) - (q2y - q1y) * (p2x - q1x);
    double d3 = (p2x - p1x) * (q1y - p1y) - (p2y - p1y) * (q1x - p1x);
    double d4 = (p2x - p1x) * (q2y - p1y) - (p2y - p1y) * (q2x - p1x);
    if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)))
        return 1;
        /* Collinear or touching cases: an endpoint lies on the other segment. */
#define ON_SEG(ax, ay, bx, by, px, py)                                                             \
    (fmin(ax, bx) <= (px) && (px) <= fmax(ax, bx) && fmin(ay, by) <= (py) && (py) <= fmax(ay, by))
    if (d1 == 0 && ON_SEG(q1x, q1y, q2x, q2y, p1x, p1y))
        return 1;
    if (d2 == 0 && ON_SEG(q1x, q1y, q2x, q2y, p2x, p2y))
        return 1;
    if (d3 == 0 && ON_SEG(p1x, p1y, p2x, p2y, q1x, q1y))
        return 1;
    if (d4 == 0 && ON_SEG(p1x, p1y, p2x, p2y, q2x, q2y))
        return 1;
#undef ON_SEG
    return 0;
}

double td__point_seg_dist(double px, double py, const double *a, const double *b)
{
    double dx = b[0] - a[0], dy = b[1] - a[1];
    double l2 = dx * dx + dy * dy;
    double u = l2 > 0 ? ((px - a[0]) * dx + (py - a[1]) * dy) / l2 : 0.0;
    u = u < 0 ? 0 : (u > 1 ? 1 : u);
    return hypot(px - (a[0] + u * dx), py - (a[1] + u * dy));
}

double td__seg_seg_dist(const double *a0, const double *a1, const double *b0, const double *b1)
{
    if (td__seg_intersect(a0[0], a0[1], a1[0], a1[1], b0[0], b0[1], b1[0], b1[1]))
        return 0.0;
    double d = td__point_seg_dist(a0[0], a0[1], b0, b1);
    d = fmin(d, td__point_seg_dist(a1[0], a1[1], b0, b1));
    d = fmin(d, td__point_seg_dist(b0[0], b0[1], a0, a1));
    return fmin(d, td__point_seg_dist(b1[0], b1[1], a0, a1));
}
