/*
 * track_internal.h - private parts of the track layer shared by its files: the
 * acceleration structure behind td_track.accel (border edges in a uniform grid, used by
 * the local road-containment test) and small geometric helpers.
 */
#ifndef TD_TRACK_INTERNAL_H
#define TD_TRACK_INTERNAL_H

#include "trackday/track.h"

/*
 * Border edges of the road polygon (even-odd rule): for a loop the outer and inner border
 * loops; for an open route the outer border, the inner border and the two end rungs.
 */
typedef struct td__track_accel {
    int nedges;
    double *edges;              /* (nedges, 4): ax, ay, bx, by */
    double x0, y0, cell;        /* grid origin and cell size (m) */
    int gw, gh;                 /* grid columns and rows */
    int *cell_start;            /* (gw * gh + 1) offsets into cell_items */
    int *cell_items;            /* edge indices, grouped by cell */
    unsigned char *mid_on_road; /* (n - 1): is the midpoint of centre segment i on the road */
    int *seg_start;             /* (gw * gh + 1) offsets into seg_items */
    int *seg_items;             /* centreline segment indices, grouped by cell */
    double *curv;               /* (n) signed curvature at each centre vertex (1/m) */
    /*
     * Certificates that let the per-step queries skip the grid (see geometry.c). For
     * centre segment i: near[i][k] (k = 0 .. 2 * TD__NEAR_K - 3) is the smallest distance
     * from segment i to the segments i + m (first half, m = k + 2 .. K) or i - m (second
     * half) of its window; far_clear[i] the smallest distance to any segment outside the
     * window (capped); road_clear[i] the smallest distance to any border edge (capped).
     * fast is 0 when the track is too small for windows (then the grid is always used).
     */
    int fast;
    double *border_geom; /* (2, n - 1, 5): as seg_geom for the outer (0) and inner (1) borders */
    double *seg_geom;    /* (n - 1, 5): ax, ay, dx, dy, 1 / (dx^2 + dy^2) per centre segment */
    float *near;
    double *far_clear;
    double *near_safe; /* (n - 1): see tangent_disc_bound in accel.c */
    double *road_clear;
    double *border_clear; /* (n - 1, 2): distance to outer (0) / inner (1) border segments
                             outside the window +-TD__BORDER_W (capped) */
} td__track_accel;

/* Half-width of the window of border segments searched for the nearest border points. */
#define TD__BORDER_W 4
/* Half-width of the window of neighbour segments checked explicitly by the projection. */
#define TD__NEAR_K 8
#define TD__NEAR_N (2 * (TD__NEAR_K - 1))
/* Caps of the clearances (m): beyond them the queries fall back to the grid. */
#define TD__FAR_CAP_M  2.0
#define TD__ROAD_CAP_M 1.0

/*
 * The check every track file passes when it is loaded: the centreline does not cross itself
 * (a figure eight cannot be driven: progress and the on-track test would be meaningless).
 * Borders are checked by td_track_check (`tracks show`) only. On failure frees t and says
 * where.
 */
int td__track_check_loaded(td_track *t, const char *path, td_err *err);

/* Distance between two segments (0 if they intersect). */
double td__seg_seg_dist(const double *a0, const double *a1, const double *b0, const double *b1);

/* Distance from a point to a segment. */
double td__point_seg_dist(double px, double py, const double *a, const double *b);

/* Neighbour vertices used for a vertex's curvature are at least this far along the arc (m). */
#define TD__CURV_MIN_SPAN_M 0.1

/* Builds t->accel from the border arrays. */
int td__track_accel_build(td_track *t, td_err *err);
void td__track_accel_free(td_track *t);

/* Even-odd containment against all border edges (the reference test). */
int td__track_pip_all(const td__track_accel *a, double x, double y);
/* The same answer through the grid (one grid row of edges; for the load). */
int td__track_pip_grid(const td__track_accel *a, double x, double y);

/* 1 if the segments p1-p2 and q1-q2 intersect (touching counts). */
int td__seg_intersect(double p1x, double p1y, double p2x, double p2y, double q1x, double q1y,
                      double q2x, double q2y);

#endif
