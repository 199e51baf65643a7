/*
 * lidar.c - DeepRacer's 64-beam planar lidar and its three encodings (LIDAR, SECTOR_LIDAR,
 * DISCRETIZED_SECTOR_LIDAR).
 *
 * The walls are the track's border polylines, put once into a uniform grid; each entry of
 * a cell is a copy of the segment (not an index) so a beam reads the cell's segments from
 * consecutive memory. A beam walks the cells it crosses (Amanatides and Woo) and stops
 * as soon as its closest hit so far lies within the cell being left: a segment spanning
 * several cells may be met in an earlier cell beyond that cell's extent, and keeping the
 * minimum over all tested segments until then keeps the first hit exact. Boxes (obstacles,
 * other cars) are few and are tested directly by a slab test in each box's frame.
 */
#include <math.h>
#include <string.h>

#include "trackday/sensors.h"

#define GRID_PAD_M     1.0
#define MAX_BEAMS      1024
#define MAX_GRID_CELLS (64L * 1024L * 1024L)

typedef struct seg4 {
    double ax, ay, ex, ey; /* start point and direction (end - start) */
    int id;                /* index in the grid's list of distinct segments */
} seg4;

struct td_lidar_grid {
    double x0, y0; /* world position of the corner of cell (0, 0) */
    double cell_m, inv_cell;
    int w, h;
    int *start;      /* (w * h + 1) offsets into cell_segs */
    seg4 *cell_segs; /* each cell's segments, copied */
    seg4 *segs;      /* every wall segment once (reference scan) */
    int nsegs;
};

/* ---- configuration ------------------------------------------------------------------ */

void td_lidar_config_default(td_lidar_config *cfg)
{
    cfg->beams = TD_LIDAR_BEAMS;
    cfg->fov_deg = 300.0;
    cfg->min_range_m = 0.15;
    cfg->max_range_m = 12.0;
    cfg->noise_sigma_m = 0.01;
    cfg->num_sectors = 8;
    cfg->num_values_per_sector = 8;
    cfg->clipping_dist_m = 2.0;
}

int td_lidar_config_check(const td_lidar_config *cfg, td_err *err)
{
    if (cfg->beams < 2 || cfg->beams > MAX_BEAMS)
        return td_err_set(err, TD_EINVAL, "lidar: beams %d is outside 2..%d", cfg->beams,
                          MAX_BEAMS);
    if (!(cfg->fov_deg > 0.0 && cfg->fov_deg <= 360.0))
        return td_err_set(err, TD_EINVAL, "lidar: fov_deg %g is outside (0, 360]", cfg->fov_deg);
    if (!(cfg->min_range_m >= 0.0 && cfg->max_range_m > cfg->min_range_m &&
          isfinite(cfg->max_range_m)))
        return td_err_set(err, TD_EINVAL, "lidar: range [%g, %g] m is not 0 <= min < max",
                          cfg->min_range_m, cfg->max_range_m);
    if (!(cfg->noise_sigma_m >= 0.0 && isfinite(cfg->noise_sigma_m)))
        return td_err_set(err, TD_EINVAL, "lidar: noise_sigma_m %g is negative",
                          cfg->noise_sigma_m);
    if (cfg->num_sectors < 1 || cfg->beams % cfg->num_sectors != 0)
        return td_err_set(err, TD_EINVAL,
                          "lidar_config: num_sectors %d does not divide the "
                          "%d beams",
                          cfg->num_sectors, cfg->beams);
    if (cfg->num_values_per_sector < 1 || cfg->num_values_per_sector > 1024)
        return td_err_set(err, TD_EINVAL,
                          "lidar_config: num_values_per_sector %d is outside "
                          "1..1024",
                          cfg->num_values_per_sector);
    if (!(cfg->clipping_dist_m > 0.0 && isfinite(cfg->clipping_dist_m)))
        return td_err_set(err, TD_EINVAL, "lidar_config: clipping_dist %g is not positive",
                          cfg->clipping_dist_m);
    return 0;
}

/* ---- grid ------------------------------------------------------------------------------- */

/* 1 if segment s may touch the cell box [bx0, bx1] x [by0, by1] (separating axes). */
static int seg_touches_box(const seg4 *s, double bx0, double by0, double bx1, double by1)
{
    double sx0 = fmin(s->ax, s->ax + s->ex), sx1 = fmax(s->ax, s->ax + s->ex);
    double sy0 = fmin(s->ay, s->ay + s->ey), sy1 = fmax(s->ay, s->ay + s->ey);
    if (sx1 < bx0 || sx0 > bx1 || sy1 < by0 || sy0 > by1)
        return 0;
    /* The box corners must not all lie strictly on one side of the segment's line. */
    double cx[4] = {bx0, bx1, bx1, bx0}, cy[4] = {by0, by0, by1, by1};
    int pos = 0, neg = 0;
    for (int k = 0; k < 4; k++) {
        double cr = s->ex * (cy[k] - s->ay) - s->ey * (cx[k] - s->ax);
        pos |= cr >= 0.0;
        neg |= cr <= 0.0;
    }
    return pos && neg;
}

/*
 * Visits every cell the segment touches: counts it in counts[] and/or copies the segment to
 * dst[fill[cell]++]. Returns the number of cells.
 */
static long grid_cells_of(const td_lidar_grid *g, const seg4 *s, int *counts, int *fill, seg4 *dst)
{
    long n = 0;
    double eps = 1e-9;
    int cx0 = td__floor_int((fmin(s->ax, s->ax + s->ex) - g->x0) * g->inv_cell - eps);
    int cx1 = td__floor_int((fmax(s->ax, s->ax + s->ex) - g->x0) * g->inv_cell + eps);
    int cy0 = td__floor_int((fmin(s->ay, s->ay + s->ey) - g->y0) * g->inv_cell - eps);
    int cy1 = td__floor_int((fmax(s->ay, s->ay + s->ey) - g->y0) * g->inv_cell + eps);
    cx0 = cx0 < 0 ? 0 : cx0;
    cy0 = cy0 < 0 ? 0 : cy0;
    cx1 = cx1 > g->w - 1 ? g->w - 1 : cx1;
    cy1 = cy1 > g->h - 1 ? g->h - 1 : cy1;
    for (int cy = cy0; cy <= cy1; cy++) {
        for (int cx = cx0; cx <= cx1; cx++) {
            double bx0 = g->x0 + cx * g->cell_m, by0 = g->y0 + cy * g->cell_m;
            double m = 1e-6 * g->cell_m; /* a hair of margin so touching is inclusive */
            if (!seg_touches_box(s, bx0 - m, by0 - m, bx0 + g->cell_m + m, by0 + g->cell_m + m))
                continue;
            long c = (long)cy * g->w + cx;
            if (counts)
                counts[c]++;
            if (fill)
                dst[fill[c]++] = *s;
            n++;
        }
    }
    return n;
}

int td_lidar_grid_open(td_lidar_grid **out, const td_track *t, double cell_m, td_err *err)
{
    *out = NULL;
    if (!t || t->n < 2 || !t->inner || !t->outer)
        return td_err_set(err, TD_EINVAL, "lidar grid: track has no geometry");
    if (cell_m <= 0.0)
        cell_m = TD_LIDAR_CELL_M;
    if (!(cell_m >= 0.02 && cell_m <= 10.0))
        return td_err_set(err, TD_EINVAL, "lidar grid: cell size %g m is outside [0.02, 10]",
                          cell_m);
    double wx = t->max_x - t->min_x + 2.0 * GRID_PAD_M;
    double wy = t->max_y - t->min_y + 2.0 * GRID_PAD_M;
    if (!(wx > 0.0 && wy > 0.0 && isfinite(wx) && isfinite(wy)))
        return td_err_set(err, TD_EINVAL, "lidar grid: track '%s' has no valid bounding box",
                          t->name);
    double ncells = ceil(wx / cell_m) * ceil(wy / cell_m);
    if (ncells > (double)MAX_GRID_CELLS)
        return td_err_set(err, TD_ERANGE,
                          "lidar grid: %.0f cells at %g m is too many; use a "
                          "larger cell",
                          ncells, cell_m);
    td_lidar_grid *g = td_calloc(1, sizeof(*g));
    if (!g)
        return td_err_set(err, TD_ENOMEM, "lidar grid: out of memory");
    g->cell_m = cell_m;
    g->inv_cell = 1.0 / cell_m;
    g->x0 = t->min_x - GRID_PAD_M;
    g->y0 = t->min_y - GRID_PAD_M;
    g->w = (int)ceil(wx / cell_m);
    g->h = (int)ceil(wy / cell_m);
    long nc = (long)g->w * g->h;
    int nseg_max = 2 * (t->n - 1);
    g->segs = td_malloc((size_t)nseg_max * sizeof(seg4));
    g->start = td_calloc((size_t)nc + 1, sizeof(int));
    int *fill = td_calloc((size_t)nc, sizeof(int));
    if (!g->segs || !g->start || !fill)
        goto nomem;
    for (int side = 0; side < 2; side++) {
        const double *b = side ? t->outer : t->inner;
        for (int i = 0; i + 1 < t->n; i++) {
            seg4 s = {b[2 * i], b[2 * i + 1], b[2 * i + 2] - b[2 * i], b[2 * i + 3] - b[2 * i + 1],
                      g->nsegs};
            if (s.ex == 0.0 && s.ey == 0.0)
                continue;
            g->segs[g->nsegs++] = s;
        }
    }
    /* Count per cell, prefix-sum into offsets, then copy the segments in. */
    long total = 0;
    for (int i = 0; i < g->nsegs; i++)
        total += grid_cells_of(g, &g->segs[i], fill, NULL, NULL);
    for (long c = 0; c < nc; c++) {
        g->start[c + 1] = g->start[c] + fill[c];
        fill[c] = g->start[c];
    }
    g->cell_segs = td_malloc((size_t)(total > 0 ? total : 1) * sizeof(seg4));
    if (!g->cell_segs)
        goto nomem;
    for (int i = 0; i < g->nsegs; i++)
        grid_cells_of(g, &g->segs[i], NULL, fill, g->cell_segs);
    td_free(fill);
    *out = g;
    return 0;
nomem:
    td_free(fill);
    td_lidar_grid_close(g);
    return td_err_set(err, TD_ENOMEM, "lidar grid: out of memory for %ld cells", nc);
}

void td_lidar_grid_close(td_lidar_grid *g)
{
    if (!g)
        return;
    td_free(g->start);
    td_free(g->cell_segs);
    td_free(g->segs);
    td_free(g);
}

/* ---- ray tests --------------------------------------------------------------------------- */

/*
 * Distance along the unit ray (ox, oy) + t (dx, dy) to segment s if it is hit closer than
 * *best; updates *best. Division-free until a closer hit is certain.
 */
static inline void ray_seg(double ox, double oy, double dx, double dy, const seg4 *s, double *best)
{
    double denom = dx * s->ey - dy * s->ex;
    double wx = s->ax - ox, wy = s->ay - oy;
    double tn = wx * s->ey - wy * s->ex; /* t * denom */
    double un = wx * dy - wy * dx;       /* u * denom: position along the segment */
    if (denom < 0.0) {
        denom = -denom;
        tn = -tn;
        un = -un;
    }
    if (denom < 1e-15 || tn < 0.0 || un < 0.0 || un > denom || tn >= *best * denom)
        return;
    *best = tn / denom;
}

/* A box in its own frame, prepared once per scan. */
typedef struct box_frame {
    double c, s;   /* cos, sin of the box's yaw */
    double ox, oy; /* the ray origin in the box frame */
    double hx, hy; /* half length, half width */
} box_frame;

static void box_frame_init(box_frame *f, const td_box *b, double ox, double oy)
{
    f->c = cos(b->yaw);
    f->s = sin(b->yaw);
    double rx = ox - b->x, ry = oy - b->y;
    f->ox = rx * f->c + ry * f->s;
    f->oy = -rx * f->s + ry * f->c;
    f->hx = 0.5 * b->length;
    f->hy = 0.5 * b->width;
}

/* A box with a NaN or infinite field is not there (rather than everywhere). */
static int box_frame_ok(const box_frame *f)
{
    return fabs(f->ox) < 1e9 && fabs(f->oy) < 1e9 && f->hx >= 0.0 && f->hy >= 0.0 && f->hx < 1e9 &&
           f->hy < 1e9 && fabs(f->c) <= 1.0;
}

/* One slab of the box: narrows [*tmin, *tmax]; returns 0 if the ray misses. */
static inline int slab(double o, double d, double half, double *tmin, double *tmax)
{
    if (fabs(d) < 1e-15)
        return fabs(o) <= half;
    double inv = 1.0 / d;
    double t1 = (-half - o) * inv, t2 = (half - o) * inv;
    if (t1 > t2) {
        double tmp = t1;
        t1 = t2;
        t2 = tmp;
    }
    *tmin = t1 > *tmin ? t1 : *tmin;
    *tmax = t2 < *tmax ? t2 : *tmax;
    return 1;
}

/* Distance to the box along the unit ray if closer than *best (0 if the origin is inside). */
static inline void ray_box(const box_frame *f, double dx, double dy, double *best)
{
    double ldx = dx * f->c + dy * f->s, ldy = -dx * f->s + dy * f->c;
    double tmin = -INFINITY, tmax = INFINITY;
    if (!slab(f->ox, ldx, f->hx, &tmin, &tmax) || !slab(f->oy, ldy, f->hy, &tmin, &tmax))
        return;
    if (tmax < 0.0 || tmax < tmin)
        return;
    double t = tmin > 0.0 ? tmin : 0.0;
    if (t < *best)
        *best = t;
}

/*
 * Closest wall hit by walking the grid from tstart metres along the ray (the caller knows
 * there is no hit nearer than that); returns limit if none closer.
 */
static double walk_grid(const td_lidar_grid *g, double ox, double oy, double dx, double dy,
                        double tstart, double limit)
{
    double best = limit;
    double gx0 = (ox - g->x0) * g->inv_cell, gy0 = (oy - g->y0) * g->inv_cell;
    double t0 = tstart; /* metres along the ray where the walk starts */
    double gx = gx0 + t0 * dx * g->inv_cell, gy = gy0 + t0 * dy * g->inv_cell;
    if (!(gx >= 0.0 && gy >= 0.0 && gx < g->w && gy < g->h)) {
        /* Outside the grid: enter it by a slab test, or see no wall at all. */
        double tmin = tstart, tmax = limit;
        double o[2] = {gx0, gy0}, d[2] = {dx * g->inv_cell, dy * g->inv_cell};
        double hi[2] = {g->w, g->h};
        for (int k = 0; k < 2; k++) {
            if (fabs(d[k]) < 1e-15) {
                if (o[k] < 0.0 || o[k] >= hi[k])
                    return best;
                continue;
            }
            double t1 = (0.0 - o[k]) / d[k], t2 = (hi[k] - o[k]) / d[k];
            if (t1 > t2) {
                double tmp = t1;
                t1 = t2;
                t2 = tmp;
            }
            tmin = fmax(tmin, t1);
            tmax = fmin(tmax, t2);
        }
        if (tmax <= tmin)
            return best;
        t0 = tmin;
        gx = gx0 + t0 * d[0];
        gy = gy0 + t0 * d[1];
    }
    int ix = (int)gx, iy = (int)gy;
    ix = ix < 0 ? 0 : (ix >= g->w ? g->w - 1 : ix);
    iy = iy < 0 ? 0 : (iy >= g->h ? g->h - 1 : iy);
    int stepx = dx > 0.0 ? 1 : -1, stepy = dy > 0.0 ? 1 : -1;
    double adx = fabs(dx), ady = fabs(dy);
    double tdx = adx > 1e-15 ? g->cell_m / adx : INFINITY;
    double tdy = ady > 1e-15 ? g->cell_m / ady : INFINITY;
    double tmx = adx > 1e-15 ? t0 + (dx > 0.0 ? (ix + 1 - gx) : (gx - ix)) * tdx : INFINITY;
    double tmy = ady > 1e-15 ? t0 + (dy > 0.0 ? (iy + 1 - gy) : (gy - iy)) * tdy : INFINITY;
    const int *start = g->start;
    const seg4 *cs = g->cell_segs;
    long c = (long)iy * g->w + ix;
    long cstepy = stepy * (long)g->w;
    for (;;) {
        for (int k = start[c], e = start[c + 1]; k < e; k++)
            ray_seg(ox, oy, dx, dy, &cs[k], &best);
        double texit = tmx < tmy ? tmx : tmy;
        if (best <= texit || texit >= limit)
            break;
        if (tmx < tmy) {
            ix += stepx;
            if ((unsigned)ix >= (unsigned)g->w)
                break;
            c += stepx;
            tmx += tdx;
        } else {
            iy += stepy;
            if ((unsigned)iy >= (unsigned)g->h)
                break;
            c += cstepy;
            tmy += tdy;
        }
    }
    return best;
}

/* ---- short-reach sweep ------------------------------------------------------------------ */

/*
 * When the reach is short (the encodings clip at 0.5 to 2 m), walking every beam through
 * the grid costs more than visiting the few cells within reach once: each wall segment
 * there is tested only against the beams inside the angle it subtends. The exact ray test
 * is the same as the walk's, so the results are identical.
 */

/* Cells within reach above which the per-beam grid walk is cheaper than the sweep. */
#define SWEEP_MAX_CELLS 441
/* Radius swept for a long-range scan before the remaining beams walk the grid. */
#define SWEEP_RADIUS_M 1.0
/* Reach up to which a scan is swept whole (the encodings' reaches: 0.5 to 2 m + noise). */
#define SWEEP_ALL_M 2.1
/* Segments a sweep can remember as done (a bitmap on the stack); beyond, it repeats tests. */
#define SWEEP_MAX_SEGS 16384

/* atan2 to within about 1e-5 rad (a minimax polynomial); callers widen ranges by 1e-3. */
static inline double fast_atan2(double y, double x)
{
    double ax = fabs(x), ay = fabs(y);
    double mx = ax > ay ? ax : ay, mn = ax > ay ? ay : ax;
    if (mx == 0.0)
        return 0.0;
    double a = mn / mx, q = a * a;
    double r = ((-0.0464964749 * q + 0.15931422) * q - 0.327622764) * q * a + a;
    if (ay > ax)
        r = 1.5707963267948966 - r;
    if (x < 0.0)
        r = 3.141592653589793 - r;
    return y < 0.0 ? -r : r;
}

typedef struct sweep {
    double x, y;     /* origin */
    double c0, s0;   /* direction of beam 0 */
    double inv_step; /* beams per radian */
    double lim2;     /* reach squared */
    int nb;
    const double *dirx, *diry;
    double *best;
} sweep;

/* Tests segment s against the beams whose angle from beam 0 lies in [lo, hi] (radians). */
static inline void sweep_range(const sweep *w, const seg4 *s, double lo, double hi)
{
    double klo = (lo - 1e-3) * w->inv_step, khi = (hi + 1e-3) * w->inv_step;
    if (khi < 0.0 || klo > w->nb - 1)
        return;
    /* Ceiling and floor of non-negative values by truncation (cheaper than ceil()). */
    int k0 = 0;
    if (klo > 0.0) {
        k0 = (int)klo;
        k0 += k0 < klo;
    }
    int k1 = khi > w->nb - 1 ? w->nb - 1 : (int)khi;
    for (int k = k0; k <= k1; k++)
        ray_seg(w->x, w->y, w->dirx[k], w->diry[k], s, &w->best[k]);
}

static void sweep_segment(const sweep *w, const seg4 *s)
{
    double ax = s->ax - w->x, ay = s->ay - w->y;
    double bx = ax + s->ex, by = ay + s->ey;
    /* Skip segments farther than the reach (squared distances, no division). */
    double ae = ax * s->ex + ay * s->ey, be = bx * s->ex + by * s->ey;
    if (ae >= 0.0) {
        if (ax * ax + ay * ay > w->lim2)
            return;
    } else if (be <= 0.0) {
        if (bx * bx + by * by > w->lim2)
            return;
    } else {
        double cr = ax * s->ey - ay * s->ex;
        if (cr * cr > w->lim2 * (s->ex * s->ex + s->ey * s->ey))
            return;
    }
    double cross = ax * by - ay * bx;
    if (cross == 0.0)
        return; /* seen edge-on: no beam meets it at a single point (the ray test skips it) */
    /* Endpoint angles from beam 0, in [0, 2 pi); the segment spans the short way round. */
    double a = fast_atan2(-ax * w->s0 + ay * w->c0, ax * w->c0 + ay * w->s0);
    double b = fast_atan2(-bx * w->s0 + by * w->c0, bx * w->c0 + by * w->s0);
    if (cross < 0.0) {
        double tmp = a;
        a = b;
        b = tmp;
    }
    const double two_pi = 6.283185307179586;
    if (a < 0.0)
        a += two_pi;
    double span = b - a;
    while (span < 0.0)
        span += two_pi;
    while (span > two_pi)
        span -= two_pi;
    sweep_range(w, s, a, a + span);
    if (a + span > two_pi - 2e-3)
        sweep_range(w, s, a - two_pi, a + span - two_pi);
}

/* Walls within reach lim of (x, y) for all beams; returns 0 if the sweep does not pay. */
static int sweep_walls(const td_lidar_grid *g, double x, double y, double c0, double s0,
                       double step, int nb, const double *dirx, const double *diry, double lim,
                       double *best)
{
    int cx0 = td__floor_int((x - lim - g->x0) * g->inv_cell);
    int cx1 = td__floor_int((x + lim - g->x0) * g->inv_cell);
    int cy0 = td__floor_int((y - lim - g->y0) * g->inv_cell);
    int cy1 = td__floor_int((y + lim - g->y0) * g->inv_cell);
    if ((double)(cx1 - cx0 + 1) * (cy1 - cy0 + 1) > SWEEP_MAX_CELLS)
        return 0;
    cx0 = cx0 < 0 ? 0 : cx0;
    cy0 = cy0 < 0 ? 0 : cy0;
    cx1 = cx1 > g->w - 1 ? g->w - 1 : cx1;
    cy1 = cy1 > g->h - 1 ? g->h - 1 : cy1;
    sweep w = {x, y, c0, s0, 1.0 / step, lim * lim, nb, dirx, diry, best};
    /* A segment spanning several cells is swept once. */
    uint64_t done[SWEEP_MAX_SEGS / 64];
    int dedupe = g->nsegs <= SWEEP_MAX_SEGS;
    if (dedupe)
        memset(done, 0, (size_t)((g->nsegs + 63) / 64) * sizeof(uint64_t));
    for (int cy = cy0; cy <= cy1; cy++) {
        const int *row = g->start + (long)cy * g->w;
        for (int cx = cx0; cx <= cx1; cx++) {
            for (int k = row[cx], e = row[cx + 1]; k < e; k++) {
                const seg4 *sg = &g->cell_segs[k];
                if (dedupe) {
                    uint64_t bit = (uint64_t)1 << (sg->id & 63);
                    if (done[sg->id >> 6] & bit)
                        continue;
                    done[sg->id >> 6] |= bit;
                }
                sweep_segment(&w, sg);
            }
        }
    }
    return 1;
}

/* ---- scans --------------------------------------------------------------------------------- */

/*
 * Approximately standard normal from one 32-bit draw: the sum of its four bytes (an
 * Irwin-Hall sum of four uniforms, mean 510, variance 4 (256^2 - 1) / 12), rescaled to unit
 * variance. Its tails end at 3.5 sigma; its steps (0.007 sigma) are far below a millimetre.
 */
static double noise_unit(td_rng *rng)
{
    uint32_t a = td_rng_u32(rng);
    int sum =
        (int)(a & 0xffu) + (int)((a >> 8) & 0xffu) + (int)((a >> 16) & 0xffu) + (int)(a >> 24);
    return (sum - 510) * (1.0 / 147.80054127);
}

/* Largest |noise_unit()|: 510 / 147.8 = 3.4506 sigma; reach margins use 3.5 sigma. */
#define NOISE_BOUND_SIGMAS 3.5

static void scan(const td_lidar_config *cfg, const td_lidar_grid *grid, const td_scene *scene,
                 double x, double y, double yaw, td_rng *rng, double reach, float *out,
                 int reference)
{
    if (td_lidar_config_check(cfg, NULL) != 0)
        return;
    int nb = cfg->beams;
    if (!(fabs(x) < 1e9 && fabs(y) < 1e9 && fabs(yaw) < 1e9)) {
        /* A broken pose (NaN, infinite) sees nothing rather than walking the grid with it. */
        for (int k = 0; k < nb; k++)
            out[k] = (float)cfg->max_range_m;
        return;
    }
    double fov = cfg->fov_deg * (M_PI / 180.0);
    double step = fov / (nb - 1);
    double maxr = cfg->max_range_m, minr = cfg->min_range_m;
    /* Walls and boxes are searched up to reach; a beam that finds nothing there reads max. */
    double lim = reach < maxr ? reach : maxr;
    double dirx[MAX_BEAMS], diry[MAX_BEAMS], best[MAX_BEAMS];
    /* Beam directions by rotating the first one, instead of one sin/cos per beam. */
    double c = cos(yaw - 0.5 * fov), s = sin(yaw - 0.5 * fov);
    double cs = cos(step), ss = sin(step);
    for (int k = 0; k < nb; k++) {
        dirx[k] = c;
        diry[k] = s;
        double nc = c * cs - s * ss;
        s = s * cs + c * ss;
        c = nc;
    }
    if (grid && !reference) {
        /*
         * Walls near the lidar are swept once for all beams; only the beams that find
         * nothing that near walk the grid, from where the sweep stopped.
         */
        double near = lim <= SWEEP_ALL_M ? lim : SWEEP_RADIUS_M;
        for (int k = 0; k < nb; k++)
            best[k] = near;
        double from = near;
        if (!sweep_walls(grid, x, y, dirx[0], diry[0], step, nb, dirx, diry, near, best))
            from = 0.0;
        for (int k = 0; k < nb; k++)
            if (best[k] >= near)
                best[k] = near < lim || from == 0.0
                              ? walk_grid(grid, x, y, dirx[k], diry[k], from, lim)
                              : lim;
    } else {
        for (int k = 0; k < nb; k++) {
            best[k] = lim;
            if (grid)
                for (int i = 0; i < grid->nsegs; i++)
                    ray_seg(x, y, dirx[k], diry[k], &grid->segs[i], &best[k]);
        }
    }
    int nboxes = scene && scene->boxes ? scene->nboxes : 0;
    for (int i = 0; i < nboxes; i++) {
        const td_box *bx = &scene->boxes[i];
        box_frame f;
        box_frame_init(&f, bx, x, y);
        if (!box_frame_ok(&f))
            continue;
        /* Only beams within the angle of the box's bounding circle can meet it. */
        double rx = bx->x - x, ry = bx->y - y, d2 = rx * rx + ry * ry;
        double r = sqrt(f.hx * f.hx + f.hy * f.hy);
        if (d2 > (lim + r) * (lim + r))
            continue;
        if (reference || d2 <= r * r * 1.0001) {
            for (int k = 0; k < nb; k++)
                ray_box(&f, dirx[k], diry[k], &best[k]);
            continue;
        }
        double half = fast_atan2(r, sqrt(d2 - r * r));
        double ac = fast_atan2(-rx * diry[0] + ry * dirx[0], rx * dirx[0] + ry * diry[0]);
        const double two_pi = 6.283185307179586;
        if (ac < 0.0)
            ac += two_pi;
        for (int m = -1; m <= 1; m++) {
            double lo = (ac - half + m * two_pi - 1e-3) / step;
            double hi = (ac + half + m * two_pi + 1e-3) / step;
            if (hi < 0.0 || lo > nb - 1)
                continue;
            int k0 = lo <= 0.0 ? 0 : (int)lo + 1;
            int k1 = hi >= nb - 1 ? nb - 1 : (int)hi;
            for (int k = k0; k <= k1; k++)
                ray_box(&f, dirx[k], diry[k], &best[k]);
        }
    }
    /*
     * One noise draw per beam, hit or not, so a scan with a shorter reach consumes the
     * random stream exactly like a full one and its encodings come out identical.
     */
    int noisy = rng && cfg->noise_sigma_m > 0.0;
    for (int k = 0; k < nb; k++) {
        double d = best[k];
        double e = noisy ? cfg->noise_sigma_m * noise_unit(rng) : 0.0;
        if (d < lim) {
            d += e;
            d = d < minr ? minr : (d > maxr ? maxr : d);
        } else {
            d = maxr;
        }
        out[k] = (float)d;
    }
}

double td_lidar_reach_m(const td_lidar_config *cfg, int encoding)
{
    double clip;
    switch (encoding) {
    case TD_LIDAR_REACH_CLIPPED:
        clip = TD_LIDAR_CLIPPED_MAX_M;
        break;
    case TD_LIDAR_REACH_SECTOR:
        clip = TD_LIDAR_SECTOR_DIST_M;
        break;
    case TD_LIDAR_REACH_DISCRETIZED:
        clip = cfg->clipping_dist_m < 0.15
                   ? 0.15
                   : (cfg->clipping_dist_m > 12.0 ? 12.0 : cfg->clipping_dist_m);
        break;
    default:
        return cfg->max_range_m;
    }
    double reach = clip + NOISE_BOUND_SIGMAS * cfg->noise_sigma_m + 1e-6;
    return reach < cfg->max_range_m ? reach : cfg->max_range_m;
}

void td_lidar_scan_reach(const td_lidar_config *cfg, const td_lidar_grid *grid,
                         const td_scene *scene, double x, double y, double yaw, td_rng *rng,
                         double reach_m, float *out)
{
    scan(cfg, grid, scene, x, y, yaw, rng, reach_m, out, 0);
}

void td_lidar_scan(const td_lidar_config *cfg, const td_lidar_grid *grid, const td_scene *scene,
                   double x, double y, double yaw, td_rng *rng, float *out)
{
    scan(cfg, grid, scene, x, y, yaw, rng, cfg->max_range_m, out, 0);
}

void td_lidar_scan_reference(const td_lidar_config *cfg, const td_lidar_grid *grid,
                             const td_scene *scene, double x, double y, double yaw, float *out)
{
    scan(cfg, grid, scene, x, y, yaw, NULL, cfg->max_range_m, out, 1);
}

/* ---- encodings ------------------------------------------------------------------------ */

void td_lidar_encode_clipped(const td_lidar_config *cfg, const float *scan_m, float *out)
{
    float lo = (float)cfg->min_range_m, hi = (float)TD_LIDAR_CLIPPED_MAX_M;
    for (int k = 0; k < cfg->beams; k++) {
        float v = scan_m[k];
        out[k] = v < lo ? lo : (v > hi ? hi : v);
    }
}

static float sector_min(const float *scan_m, int a, int b)
{
    float m = INFINITY;
    for (int k = a; k < b; k++)
        m = scan_m[k] < m ? scan_m[k] : m;
    return m;
}

void td_lidar_encode_sector(const td_lidar_config *cfg, const float *scan_m, float *out)
{
    int nb = cfg->beams;
    for (int sct = 0; sct < TD_LIDAR_SECTORS; sct++) {
        int a = sct * nb / TD_LIDAR_SECTORS, b = (sct + 1) * nb / TD_LIDAR_SECTORS;
        out[sct] = sector_min(scan_m, a, b) < (float)TD_LIDAR_SECTOR_DIST_M ? 1.0f : 0.0f;
    }
}

void td_lidar_encode_discretized(const td_lidar_config *cfg, const float *scan_m, float *out)
{
    int ns = cfg->num_sectors < 1 ? 1 : cfg->num_sectors;
    int nv = cfg->num_values_per_sector < 1 ? 1 : cfg->num_values_per_sector;
    double clip = cfg->clipping_dist_m;
    clip = clip < 0.15 ? 0.15 : (clip > 12.0 ? 12.0 : clip);
    double bin = clip / nv;
    int per = cfg->beams / ns;
    memset(out, 0, (size_t)ns * (size_t)nv * sizeof(float));
    for (int sct = 0; sct < ns; sct++) {
        double m = sector_min(scan_m, sct * per, (sct + 1) * per);
        if (m > clip)
            m = clip;
        long idx = (long)floor(m / bin);
        if (idx < 0)
            idx = 0;
        if (idx < nv)
            out[sct * nv + idx] = 1.0f;
    }
}
