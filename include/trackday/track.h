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

#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_TRACK_NAME_LEN 64
#define TD_TRACK_DESC_LEN 256

/*
 * Route arrays after cleaning (consecutive duplicate centre points removed, DEEPRACER.md
 * section 2). For a loop, vertex n-1 repeats vertex 0 (the closing duplicate, kept), so the
 * segments are i -> i+1 for i in [0, n-2]. Arrays are (n, 2) row-major x, y in metres, all
 * in one allocation owned by the track.
 */
typedef struct td_track {
    char name[TD_TRACK_NAME_LEN];
    char description[TD_TRACK_DESC_LEN];
    int n;              /* vertices, including the closing duplicate of a loop */
    int closed;         /* 1 for a loop, 0 for an open route (Straight_track) */
    int reversed;       /* 1 if this is the reverse direction of the file's route */
    double *center;     /* (n, 2) centreline in driving direction == params.waypoints */
    double *inner;      /* (n, 2) inner border */
    double *outer;      /* (n, 2) outer border */
    double *arc;        /* (n) cumulative centreline arc length, arc[0] = 0 */
    double *width;      /* (n) distance between inner[i] and outer[i] */
    double length;      /* centreline length, arc[n-1] */
    double min_x, min_y, max_x, max_y; /* bounding box of all borders */
    void *accel;        /* acceleration structure for full searches (private) */
} td_track;

/* ---- loading -------------------------------------------------------------------------- */

/*
 * Loads a DeepRacer route .npy file (version 1.0/2.0/3.0, dtype '<f8', C order, shape
 * (N, 6)). Rejects a bad file with a message naming the file and what is wrong. The track
 * name is the file's base name. Free with td_track_free.
 */
int td_track_load_npy(td_track *t, const char *path, td_err *err);

/* Loads a trackday JSON track (docs/track-format.md). */
int td_track_load_json(td_track *t, const char *path, td_err *err);

/* Loads by extension: .npy or .json. */
int td_track_load(td_track *t, const char *path, td_err *err);

/*
 * Builds a track from raw rows (n, 6): cx, cy, ix, iy, ox, oy. Applies the same cleaning
 * and validation as the loaders; `what` names the source in messages.
 */
int td_track_from_rows(td_track *t, const double *rows, int n, const char *name,
                       const char *what, td_err *err);

/* Makes dst the reverse driving direction of src (arrays reversed). */
int td_track_reverse(td_track *dst, const td_track *src, td_err *err);

/* Writes a track as trackday JSON (6-column rows). */
int td_track_save_json(const td_track *t, const char *path, td_err *err);

void td_track_free(td_track *t);

/* ---- procedural tracks ------------------------------------------------------------------ */

typedef struct td_trackgen_config {
    uint64_t seed;
    double width_m;          /* road width, default 1.067 */
    double target_length_m;  /* approximate centreline length, default 30 */
    double min_radius_m;     /* minimum turn radius of the centreline, default 0.6 */
    double spacing_m;        /* waypoint spacing, default 0.15 */
} td_trackgen_config;

void td_trackgen_defaults(td_trackgen_config *cfg);

/* Generates a valid closed track: no self-intersection, minimum turn radius, given width. */
int td_track_generate(td_track *t, const td_trackgen_config *cfg, td_err *err);

/* ---- geometry ---------------------------------------------------------------------------- */

/* The projection of a point onto the centreline (see DEEPRACER.md section 2). */
typedef struct td_track_proj {
    int seg;             /* segment index: between vertex seg and seg + 1 */
    double t;            /* position along the segment, [0, 1] */
    double arc;          /* arc length of the projected point, [0, length) */
    double px, py;       /* the projected centreline point */
    double dist;         /* distance from the query point to (px, py) */
    int left;            /* query point is left of the centreline (driving direction) */
    int prev_wp, next_wp; /* closest_waypoints: bracketing vertices by arc length */
} td_track_proj;

/* Full search over all segments (reset, teleport). O(log n) or O(n); never per step. */
void td_track_project(const td_track *t, double x, double y, td_track_proj *out);

/*
 * Incremental projection from the previous step's result: advances or steps back from
 * p->seg while the segment parameter leaves [0, 1]. O(1) amortized. p is in/out.
 */
void td_track_project_from(const td_track *t, double x, double y, td_track_proj *p);

/* Track width at the projection (DEEPRACER.md: between the border points nearest to the
 * projected centreline point). */
double td_track_width_at(const td_track *t, const td_track_proj *p);

/*
 * 1 if (x, y) is inside the road polygon (outer border with the inner border as a hole).
 * p is a projection of a nearby point (for example the car's), used to look only at the
 * border segments beside it.
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

/* Signed curvature (1/m, + = turning left) of the centreline around arc length s. */
double td_track_curvature_at(const td_track *t, double s);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_TRACK_H */
