/*
 * track.h - route geometry: loading DeepRacer .npy routes and trackday .json tracks,
 * the procedural generator, and the geometric queries the simulator needs per step
 * (arc-length projection, closest waypoints, distance from centre, width, left of centre,
 * road containment, lanes), incremental from the previous step.
 *
 * A td_track is one driving direction. The reverse direction is a separate td_track made
 * by td_track_reverse (DeepRacer reverses the route arrays).
 */
#ifndef TRACKDAY_TRACK_H
#define TRACKDAY_TRACK_H

#include <math.h>

#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_TRACK_NAME_LEN 64
#define TD_TRACK_DESC_LEN 256
/* Most rows a route may have: DeepRacer's have at most a few hundred, a generated track at
 * most 10000. The bound keeps loading and checking a route to seconds. */
#define TD_TRACK_MAX_ROWS 20000
/* Largest coordinate a route may have (m). DeepRacer's routes fit in +-30 m; the bound keeps
 * every span, area and grid size computed from a route finite. */
#define TD_TRACK_MAX_COORD_M 1e5
/* Shortest centreline a route may have (m): room for a start and a few car lengths (the car
 * is 0.32 m long). DeepRacer's shortest route, Straight_track, is 5.7 m; shorter ones (the
 * first rows of a route, a route drawn in mm) were "lapped" in a few steps. */
#define TD_TRACK_MIN_LENGTH_M 2.0

/*
 * Route arrays after cleaning (consecutive duplicate centre points removed, DEEPRACER.md
 * section 2). For a loop, vertex n-1 repeats vertex 0 (the closing duplicate, kept), so the
 * segments are i -> i+1 for i in [0, n-2]. Arrays are (n, 2) row-major x, y in metres, all
 * in one allocation owned by the track.
 */
typedef struct td_track {
    char name[TD_TRACK_NAME_LEN];
    char description[TD_TRACK_DESC_LEN];
    int n;          /* vertices, including the closing duplicate of a loop */
    int closed;     /* 1 for a loop, 0 for an open route (Straight_track) */
    int reversed;   /* 1 if this is the reverse direction of the file's route */
    double *center; /* (n, 2) centreline in driving direction == params.waypoints */
    double *inner;  /* (n, 2) inner border */
    double *outer;  /* (n, 2) outer border */
    double *arc;    /* (n) cumulative centreline arc length, arc[0] = 0 */
    double *width;  /* (n) distance between inner[i] and outer[i] */
    double length;  /* centreline length, arc[n-1] */
    double min_x, min_y, max_x, max_y; /* bounding box of all borders */
    void *accel; /* grids and precomputed bounds behind the queries (private) */
} td_track;

/* ---- loading -------------------------------------------------------------------------- */

/*
 * Loads a DeepRacer route .npy file (version 1.0/2.0/3.0, dtype '<f8', C order, shape
 * (N, 6)). Rejects a bad file with a message naming the file and what is wrong, including a
 * route whose centreline crosses itself (a figure eight cannot be driven: progress and the
 * on-track test would be meaningless). The track
 * name is the file's base name. Free with td_track_free.
 */
int td_track_load_npy(td_track *t, const char *path, td_err *err);

/* Loads a trackday JSON track (docs/track-format.md); rejected as td_track_load_npy. */
int td_track_load_json(td_track *t, const char *path, td_err *err);

/* Loads by extension: .npy or .json. */
int td_track_load(td_track *t, const char *path, td_err *err);

/* ---- finding a track by name ---------------------------------------------------------- */

/* The names of DeepRacer's 127 routes (its WORLD_NAME values, _cw/_ccw variants included). */
const char *const *td_deepracer_route_names(int *n);
/* 1 if name is one of them. */
int td_deepracer_route_known(const char *name);

/*
 * Finds the file of a track: a path (it contains '/' or ends in .npy or .json) is taken as
 * it is; a name is looked up as NAME.json, then NAME.npy, in each of dirs[0..ndirs) in order
 * (the search path). Writes the file's path into out. When nothing is found, err says where
 * it looked and how to pass a file: for one of DeepRacer's route names, that trackday does not
 * ship DeepRacer's route files and where to put NAME.npy; otherwise the closest known name.
 * TD_ENOENT then. `known` (may be NULL) adds the names of tracks the caller ships, for "did
 * you mean".
 */
int td_track_find(const char *name, const char *const *dirs, int ndirs, const char *const *known,
                  int nknown, char *out, size_t cap, td_err *err);

/*
 * Builds a track from raw rows (n, 6): cx, cy, ix, iy, ox, oy. Applies the same cleaning
 * and validation as the loaders; `what` names the source in messages.
 */
int td_track_from_rows(td_track *t, const double *rows, int n, const char *name, const char *what,
                       td_err *err);

/*
 * Builds a track from a centreline (n, 2) and a width per point (width_m, n values) or one
 * width for all (width_m == NULL, width_one). Borders are the centreline offset by half the
 * width along the vertex normals (the bisector of the two adjacent segments). The inner
 * border is on the inside of a loop: the left side of a counter-clockwise loop (positive
 * signed area), the right side of a clockwise one; for an open route it is the left side
 * (as in DeepRacer's Straight_track). If closed and the last point differs from the first,
 * the closing duplicate is appended.
 */
int td_track_from_centerline(td_track *t, const double *xy, const double *width_m, double width_one,
                             int n, int closed, const char *name, const char *what, td_err *err);

/* Makes dst the reverse driving direction of src (arrays reversed). */
int td_track_reverse(td_track *dst, const td_track *src, td_err *err);

/* Writes a track as trackday JSON (6-column rows). */
int td_track_save_json(const td_track *t, const char *path, td_err *err);

/*
 * Writes a track as a DeepRacer route file: .npy version 1.0, '<f8', C order, shape (n, 6),
 * rows as in the track (a loop keeps its closing duplicate), so DeepRacer tools can use it.
 */
int td_track_save_npy(const td_track *t, const char *path, td_err *err);

void td_track_free(td_track *t);

/* Signed area of the centreline loop (m^2, > 0 for counter-clockwise); 0 for open routes. */
double td_track_signed_area(const td_track *t);

/* +1 counter-clockwise loop, -1 clockwise loop, 0 open route. */
int td_track_direction(const td_track *t);

/*
 * Checks that a track is drivable: centreline, inner and outer borders each without
 * self-intersection, no border crossing the other or the centreline, and the inner border
 * inside the outer one. With min_radius_m > 0 also trackday's design rules: the centreline
 * radius of curvature everywhere at least min_radius_m and more than half the local width
 * (the smaller of the row width and td_track_width_nearest)
 * plus 0.05 m (so a border offset from the centreline never folds); several DeepRacer
 * routes are tighter than that. Returns 0 or TD_EFORMAT with what and where.
 */
int td_track_check(const td_track *t, double min_radius_m, td_err *err);

/* Smallest radius of curvature of the centreline (m): 1 / max |curvature at a vertex|. */
double td_track_min_radius(const td_track *t);

/* ---- procedural tracks ------------------------------------------------------------------ */

typedef struct td_trackgen_config {
    uint64_t seed;
    double width_m;         /* road width, default 1.067 */
    double target_length_m; /* approximate centreline length, default 30 */
    double min_radius_m;    /* minimum turn radius of the centreline, default 0.6 */
    double spacing_m;       /* waypoint spacing, default 0.15 */
} td_trackgen_config;

void td_trackgen_defaults(td_trackgen_config *cfg);

/* Generates a valid closed track: no self-intersection, minimum turn radius, given width. */
int td_track_generate(td_track *t, const td_trackgen_config *cfg, td_err *err);

/* ---- geometry ---------------------------------------------------------------------------- */

/* The projection of a point onto the centreline (see DEEPRACER.md section 2). */
typedef struct td_track_proj {
    int seg;              /* segment index: between vertex seg and seg + 1 */
    double t;             /* position along the segment, [0, 1] */
    double arc;           /* arc length of the projected point, [0, length) */
    double px, py;        /* the projected centreline point */
    double dist;          /* distance from the query point to (px, py) */
    int left;             /* query point is left of the centreline (driving direction) */
    int prev_wp, next_wp; /* closest_waypoints: bracketing vertices by arc length */
} td_track_proj;

/*
 * Closest waypoints: prev_wp = seg is the last vertex whose arc length is <= the
 * projection's, next_wp = prev_wp + 1. A projection exactly on a vertex is reported on the
 * segment starting there (t = 0). Since arc is in [0, length), for a loop prev_wp is in
 * [0, n-2] and next_wp in [1, n-1], where n-1 is the closing duplicate of vertex 0 (it is
 * in params.waypoints too, as in DeepRacer). For an open route the end point (arc == length)
 * is reported as t = 1 on the last segment.
 */

/* Full search over all segments (reset, teleport). O(log n) or O(n); never per step. */
void td_track_project(const td_track *t, double x, double y, td_track_proj *out);

/*
 * Incremental projection from the previous step's result: moves from p->seg to the
 * neighbouring segment while that is nearer (where the segment parameter leaves [0, 1]),
 * then certifies the local minimum as the global one with bounds precomputed at load
 * (falling back to the grid cells around the point when far off the road). The result is
 * always the same as td_track_project's; the cost is O(1) amortized (a few segments per
 * step), independent of the track's size. p is in/out; any p->seg is accepted (an invalid
 * one triggers a full search).
 */
void td_track_project_from(const td_track *t, double x, double y, td_track_proj *p);

/*
 * Track width at the projection (DEEPRACER.md: between the border points nearest to the
 * projected centreline point): width[k] of the nearer end vertex k of the projection's
 * segment (seg if t < 0.5, else seg + 1), as DeepRacer takes the border points at the
 * nearest index.
 */
double td_track_width_at(const td_track *t, const td_track_proj *p);

/*
 * DeepRacer's own reading of track_width (its TrackData.get_nearest_points): the nearest
 * point of the inner border polyline and of the outer border polyline to the projected
 * centreline point (p->px, p->py), and the distance between them. Equal to
 * td_track_width_at on constant-width tracks up to the borders' polygonal corners; closer
 * to DeepRacer where the width varies. O(1): the border segments beside p->seg, certified
 * by precomputed clearances (the grid otherwise).
 */
void td_track_nearest_border_points(const td_track *t, const td_track_proj *p, double *ix,
                                    double *iy, double *ox, double *oy);
double td_track_width_nearest(const td_track *t, const td_track_proj *p);

/*
 * DeepRacer's orientation of a route (track_data.py is_ccw): a loop's centreline ring is
 * counter-clockwise (positive signed area); an open route counts as counter-clockwise in its
 * file's direction and clockwise reversed. O(n).
 */
int td_track_is_ccw(const td_track *t);

/*
 * DeepRacer's is_left_of_center (agent_ctrl/utils.py): the point (x, y) is nearer the inner
 * border point than the outer one (td_track_nearest_border_points of its projection p),
 * flipped when the route is clockwise (ccw = td_track_is_ccw). Not the side of the centre
 * line: where the centre line is not midway between the borders the two differ. Also gives
 * td_track_width_nearest when width is not NULL.
 */
int td_track_left_of_center(const td_track *t, int ccw, const td_track_proj *p, double x, double y,
                            double *width);

/*
 * DeepRacer's closest_waypoints for a projection (find_prev_next over the waypoints'
 * normalized distances, the last one 1.0): p->prev_wp, p->next_wp, except at the very end of
 * an open route, where DeepRacer's bisection runs past the last waypoint and wraps: [n-1, 0].
 */
void td_track_closest_waypoints(const td_track *t, const td_track_proj *p, int out[2]);

/*
 * 1 if (x, y) is inside the road polygon (outer border with the inner border as a hole;
 * even-odd rule, so always equal to td_track_on_road_slow except exactly on a border).
 * p is a projection of a nearby point (for example the car's): a point within the
 * precomputed border clearance of p's centre segment is answered at once; otherwise the
 * border edges crossing the short path from the point to that segment's midpoint are
 * counted, using the grid cells along the path only.
 */
int td_track_on_road(const td_track *t, const td_track_proj *p, double x, double y);

/* Reference containment by a full point-in-polygon test (tests, not per step). */
int td_track_on_road_slow(const td_track *t, double x, double y);

/*
 * Point and heading (radians) of the centreline at arc length s (wrapped for loops).
 * lateral shifts the point to the left (+) or right (-) of the centreline, in metres.
 */
void td_track_point_at(const td_track *t, double s, double lateral, double *x, double *y,
                       double *heading_rad);

/*
 * Lane point at arc length s. lane = +1 is the inner lane, -1 the outer lane (DeepRacer's
 * OBJECT_POSITIONS convention): the midpoint between the centreline and that border.
 */
void td_track_lane_point(const td_track *t, double s, int lane, double *x, double *y);

/*
 * Signed curvature (1/m, + = turning left) of the centreline at arc length s: linear in s
 * between the vertices' curvatures, each the circle through the vertex and the nearest
 * vertices before and after it that are at least 0.1 m away along the centreline (exact for
 * points on a circle).
 */
double td_track_curvature_at(const td_track *t, double s);

/* Wraps an arc length into [0, length) for a loop; clamps it to [0, length] for an open route.
 * Inline: the simulator calls it every step for every car (an arc already in range is
 * returned as it is, without fmod). */
static inline double td_track_wrap_arc(const td_track *t, double s)
{
    if (t->closed) {
        if (s >= t->length || s < 0.0) {
            s = fmod(s, t->length);
            if (s < 0.0)
                s += t->length;
            if (s >= t->length) /* -tiny + length rounds up to length */
                s = 0.0;
        }
        return s;
    }
    return s < 0.0 ? 0.0 : (s > t->length ? t->length : s);
}

/* ---- pictures ------------------------------------------------------------------------------ */

/*
 * Draws a top view of the track into an RGB image of width_px columns (height from the
 * aspect ratio): green ground, dark road, white borders, a dashed yellow centre line, a
 * start line at row 0 and an arrow in the driving direction. *pixels is a new buffer
 * (td_free) of (*height_px) * width_px * 3 bytes. The mapping from metres to pixels is
 * px = (x - *origin_x) * *scale, py = (*origin_y - y) * *scale, so callers can draw on top.
 */
int td_track_render_rgb(const td_track *t, int width_px, uint8_t **pixels, int *height_px,
                        double *origin_x, double *origin_y, double *scale, td_err *err);

/* td_track_render_rgb written to a PNG file. */
int td_track_render_png(const td_track *t, const char *path, int width_px, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_TRACK_H */
