/*
 * track.c - building a td_track: cleaning and validating raw route rows (the rules of
 * DEEPRACER.md section 2), borders from a centreline and widths, the reverse direction and
 * loading by file extension. The acceleration grid is accel.c; segment geometry geometry.c.
 */
#include <math.h>
#include <string.h>

#include "track/track_internal.h"

/* Consecutive centre points closer than this are duplicates (DeepRacer's tolerance). */
#define DUP_EPS 1e-9
/* First and last centre rows closer than this make a loop. */
#define CLOSE_EPS 1e-6

static const char *const column_names[6] = {"center x", "center y", "inner x",
                                            "inner y",  "outer x",  "outer y"};

/* ---- small helpers ------------------------------------------------------------------------ */

static void copy_name(char *dst, size_t cap, const char *src)
{
    size_t len = src ? strlen(src) : 0;
    if (len >= cap)
        len = cap - 1;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

/* ---- building ----------------------------------------------------------------------------- */

void td_track_free(td_track *t)
{
    if (!t)
        return;
    td__track_accel_free(t);
    td_free(t->center);
    memset(t, 0, sizeof(*t));
}

/* Fills arc, width, length and the bounding box from the border arrays. */
static void derive(td_track *t)
{
    int n = t->n;
    t->arc[0] = 0.0;
    for (int i = 1; i < n; i++) {
        double dx = t->center[2 * i] - t->center[2 * i - 2];
        double dy = t->center[2 * i + 1] - t->center[2 * i - 1];
        t->arc[i] = t->arc[i - 1] + sqrt(dx * dx + dy * dy);
    }
    t->length = t->arc[n - 1];
    t->min_x = t->min_y = INFINITY;
    t->max_x = t->max_y = -INFINITY;
    for (int i = 0; i < n; i++) {
        double dx = t->outer[2 * i] - t->inner[2 * i];
        double dy = t->outer[2 * i + 1] - t->inner[2 * i + 1];
        t->width[i] = sqrt(dx * dx + dy * dy);
        const double *pts[3] = {t->center + 2 * i, t->inner + 2 * i, t->outer + 2 * i};
        for (int k = 0; k < 3; k++) {
            t->min_x = fmin(t->min_x, pts[k][0]);
            t->max_x = fmax(t->max_x, pts[k][0]);
            t->min_y = fmin(t->min_y, pts[k][1]);
            t->max_y = fmax(t->max_y, pts[k][1]);
        }
    }
}

static double center_dist(const double *rows, int i, int j)
{
    double dx = rows[6 * i] - rows[6 * j], dy = rows[6 * i + 1] - rows[6 * j + 1];
    return sqrt(dx * dx + dy * dy);
}

int td_track_from_rows(td_track *t, const double *rows, int n, const char *name, const char *what,
                       td_err *err)
{
    memset(t, 0, sizeof(*t));
    if (!what)
        what = name ? name : "track";
    if (n < 2)
        return td_err_set(err, TD_EFORMAT,
                          "%s: has %d row%s; a route needs at least 2 rows (a loop at least 4 "
                          "distinct centre points plus its closing row)",
                          what, n, n == 1 ? "" : "s");
    if (n > TD_TRACK_MAX_ROWS)
        return td_err_set(err, TD_ERANGE, "%s: has %d rows; a route may have at most %d", what, n,
                          TD_TRACK_MAX_ROWS);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 6; j++) {
            double v = rows[6 * i + j];
            if (!isfinite(v))
                return td_err_set(err, TD_EFORMAT, "%s: row %d column %d (%s) is %g, not finite",
                                  what, i, j, column_names[j], v);
            if (fabs(v) > TD_TRACK_MAX_COORD_M)
                return td_err_set(err, TD_ERANGE,
                                  "%s: row %d column %d (%s) is %g m; coordinates must be within "
                                  "+-%g m",
                                  what, i, j, column_names[j], v, TD_TRACK_MAX_COORD_M);
        }
    int closed = center_dist(rows, 0, n - 1) <= CLOSE_EPS;

    /* Keep-list of rows without consecutive duplicate centre points; the closing row of a
     * loop is kept and the row it duplicates dropped instead. */
    int *keep = td_malloc(sizeof(int) * (size_t)n);
    if (!keep)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", what);
    int m = 0;
    keep[m++] = 0;
    for (int j = 1; j < n; j++) {
        if (center_dist(rows, keep[m - 1], j) < DUP_EPS) {
            if (j == n - 1 && m > 1)
                keep[m - 1] = j;
            continue;
        }
        keep[m++] = j;
    }
    int distinct = closed ? m - 1 : m;
    if (closed && distinct < 4) {
        td_free(keep);
        return td_err_set(err, TD_EFORMAT,
                          "%s: a loop needs at least 4 distinct centre points, it has %d (%d rows)",
                          what, distinct, n);
    }
    if (!closed && distinct < 2) {
        td_free(keep);
        return td_err_set(err, TD_EFORMAT,
                          "%s: an open route needs at least 2 distinct centre points, it has %d",
                          what, distinct);
    }

    double *block = td_malloc(sizeof(double) * 8 * (size_t)m);
    if (!block) {
        td_free(keep);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory for %d rows", what, m);
    }
    t->n = m;
    t->closed = closed;
    t->center = block;
    t->inner = block + 2 * m;
    t->outer = block + 4 * m;
    t->arc = block + 6 * m;
    t->width = block + 7 * m;
    for (int i = 0; i < m; i++) {
        const double *r = rows + 6 * keep[i];
        t->center[2 * i] = r[0];
        t->center[2 * i + 1] = r[1];
        t->inner[2 * i] = r[2];
        t->inner[2 * i + 1] = r[3];
        t->outer[2 * i] = r[4];
        t->outer[2 * i + 1] = r[5];
    }
    td_free(keep);
    copy_name(t->name, sizeof(t->name), name ? name : "track");
    derive(t);
    if (!(t->length >= TD_TRACK_MIN_LENGTH_M)) {
        double len = t->length;
        td_track_free(t);
        return td_err_set(err, TD_EFORMAT,
                          "%s: the centreline is %.3g m long (%d points); a route needs at least "
                          "%g m to be driven (DeepRacer's shortest, Straight_track, is 5.7 m)",
                          what, len, m, TD_TRACK_MIN_LENGTH_M);
    }
    int rc = td__track_accel_build(t, err);
    if (rc) {
        td_track_free(t);
        return rc;
    }
    return 0;
}

int td_track_from_centerline(td_track *t, const double *xy, const double *width_m, double width_one,
                             int n, int closed, const char *name, const char *what, td_err *err)
{
    memset(t, 0, sizeof(*t));
    if (!what)
        what = name ? name : "track";
    if (n < 2)
        return td_err_set(err, TD_EFORMAT, "%s: centerline has %d point%s, needs at least 2", what,
                          n, n == 1 ? "" : "s");
    if (n >= TD_TRACK_MAX_ROWS)
        return td_err_set(err, TD_ERANGE,
                          "%s: centerline has %d points; a route may have at most %d", what, n,
                          TD_TRACK_MAX_ROWS - 1);
    for (int i = 0; i < n; i++) {
        double w = width_m ? width_m[i] : width_one;
        if (!isfinite(xy[2 * i]) || !isfinite(xy[2 * i + 1]))
            return td_err_set(err, TD_EFORMAT, "%s: centerline point %d is not finite", what, i);
        if (!isfinite(w) || w <= 0.0)
            return td_err_set(err, TD_ERANGE, "%s: width at point %d is %g, must be > 0", what, i,
                              w);
    }
    /* Cleaned copy (points and widths), with the closing duplicate of a loop appended. */
    double *pts = td_malloc(sizeof(double) * 3 * (size_t)(n + 1));
    double *rows = td_malloc(sizeof(double) * 6 * (size_t)(n + 1));
    if (!pts || !rows) {
        td_free(pts);
        td_free(rows);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", what);
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 &&
            hypot(xy[2 * i] - pts[3 * (m - 1)], xy[2 * i + 1] - pts[3 * (m - 1) + 1]) < DUP_EPS)
            continue;
        pts[3 * m] = xy[2 * i];
        pts[3 * m + 1] = xy[2 * i + 1];
        pts[3 * m + 2] = width_m ? width_m[i] : width_one;
        m++;
    }
    if (closed) {
        /* Drop a closing point given by the caller, then add the exact duplicate of point 0. */
        if (m > 1 && hypot(pts[3 * (m - 1)] - pts[0], pts[3 * (m - 1) + 1] - pts[1]) <= CLOSE_EPS)
            m--;
        memcpy(pts + 3 * m, pts, 3 * sizeof(double));
        m++;
    }
    if ((closed && m < 5) || m < 2) {
        td_free(pts);
        td_free(rows);
        return td_err_set(err, TD_EFORMAT, "%s: %s needs at least %d distinct points, it has %d",
                          what, closed ? "a loop" : "an open route", closed ? 4 : 2,
                          closed ? m - 1 : m);
    }
    double area = 0.0;
    if (closed)
        for (int i = 0; i + 1 < m; i++)
            area += pts[3 * i] * pts[3 * (i + 1) + 1] - pts[3 * (i + 1)] * pts[3 * i + 1];
    /* The inner border is on the inside of a loop: left of a CCW loop, right of a CW one. */
    double inner_side = (closed && area < 0.0) ? -1.0 : 1.0;
    int nseg = m - 1;
    for (int i = 0; i < m; i++) {
        int sin_ = i < nseg ? i : (closed ? 0 : nseg - 1);  /* segment leaving i */
        int sout = i > 0 ? i - 1 : (closed ? nseg - 1 : 0); /* segment entering i */
        double d1x = pts[3 * (sout + 1)] - pts[3 * sout];
        double d1y = pts[3 * (sout + 1) + 1] - pts[3 * sout + 1];
        double d2x = pts[3 * (sin_ + 1)] - pts[3 * sin_];
        double d2y = pts[3 * (sin_ + 1) + 1] - pts[3 * sin_ + 1];
        double l1 = hypot(d1x, d1y), l2 = hypot(d2x, d2y);
        double tx = d1x / l1 + d2x / l2, ty = d1y / l1 + d2y / l2;
        double tl = hypot(tx, ty);
        if (tl < 1e-9) { /* the route turns back on itself: use the leaving segment */
            tx = d2x / l2;
            ty = d2y / l2;
        } else {
            tx /= tl;
            ty /= tl;
        }
        double nx = -ty * inner_side, ny = tx * inner_side; /* unit normal toward inner */
        double h = 0.5 * pts[3 * i + 2];
        double *r = rows + 6 * i;
        r[0] = pts[3 * i];
        r[1] = pts[3 * i + 1];
        r[2] = r[0] + h * nx;
        r[3] = r[1] + h * ny;
        r[4] = r[0] - h * nx;
        r[5] = r[1] - h * ny;
    }
    td_free(pts);
    int rc = td_track_from_rows(t, rows, m, name, what, err);
    td_free(rows);
    return rc;
}

int td_track_reverse(td_track *dst, const td_track *src, td_err *err)
{
    int n = src->n;
    double *rows = td_malloc(sizeof(double) * 6 * (size_t)n);
    if (!rows) {
        memset(dst, 0, sizeof(*dst));
        return td_err_set(err, TD_ENOMEM, "%s: out of memory for the reverse track", src->name);
    }
    for (int i = 0; i < n; i++) {
        int j = n - 1 - i;
        double *r = rows + 6 * i;
        r[0] = src->center[2 * j];
        r[1] = src->center[2 * j + 1];
        r[2] = src->inner[2 * j];
        r[3] = src->inner[2 * j + 1];
        r[4] = src->outer[2 * j];
        r[5] = src->outer[2 * j + 1];
    }
    char name[TD_TRACK_NAME_LEN];
    char desc[TD_TRACK_DESC_LEN];
    memcpy(name, src->name, sizeof(name));
    memcpy(desc, src->description, sizeof(desc));
    int reversed = !src->reversed;
    int rc = td_track_from_rows(dst, rows, n, name, name, err);
    td_free(rows);
    if (rc)
        return rc;
    memcpy(dst->description, desc, sizeof(desc));
    dst->reversed = reversed;
    return 0;
}

/* ---- whole-track properties --------------------------------------------------------------- */

double td_track_signed_area(const td_track *t)
{
    double area = 0.0;
    if (!t->closed)
        return 0.0;
    for (int i = 0; i + 1 < t->n; i++)
        area +=
            t->center[2 * i] * t->center[2 * i + 3] - t->center[2 * i + 2] * t->center[2 * i + 1];
    return 0.5 * area;
}

int td_track_direction(const td_track *t)
{
    if (!t->closed)
        return 0;
    return td_track_signed_area(t) >= 0.0 ? 1 : -1;
}

/* ---- loading by extension ------------------------------------------------------------------ */

int td_track_load(td_track *t, const char *path, td_err *err)
{
    size_t len = strlen(path);
    memset(t, 0, sizeof(*t));
    if (len >= 4 && strcmp(path + len - 4, ".npy") == 0)
        return td_track_load_npy(t, path, err);
    if (len >= 5 && strcmp(path + len - 5, ".json") == 0)
        return td_track_load_json(t, path, err);
    return td_err_set(err, TD_EUNSUPPORTED, "%s: unknown track file type (expected .npy or .json)",
                      path);
}
