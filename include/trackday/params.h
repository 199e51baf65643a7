/*
 * params.h - the DeepRacer reward-function input (DEEPRACER.md section 2) as a C struct.
 * The simulator fills one per car per step; reward hosts (C, Python) read it.
 * Part of the sim layer.
 */
#ifndef TRACKDAY_PARAMS_H
#define TRACKDAY_PARAMS_H

#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Objects a car's world holds (obstacles and bots together, or other cars in a race).
 * DeepRacer sets no limit. 1024 is more than stand nose to tail in both lanes of any route:
 * DeepRacer's bot car is 0.196 m long (0.4 m for a box), so 1024 bots fill both lanes of a
 * 100 m lap; the longest route in ../shared/tracks (penbay_pro) is 89 m. Memory is only
 * touched for the objects in use; copies of td_params that cross a boundary use
 * td_params_copy, which copies only those. */
#define TD_MAX_OBJECTS 1024

typedef struct td_params {
    double x, y;                 /* model point (0.14 m ahead of the car origin), metres */
    double heading;              /* degrees, (-180, 180] */
    double speed;                /* commanded speed of the chosen action, m/s (unclipped) */
    double steering_angle;       /* commanded steering, degrees, + = left (unclipped) */
    double progress;             /* percent of a lap since the episode start, 0-100 */
    int steps;                   /* steps taken in this episode */
    double track_length;         /* metres */
    double track_width;          /* metres, at the car's projected point */
    double distance_from_center; /* metres */
    int is_left_of_center;
    int all_wheels_on_track;
    int is_offtrack;
    int is_crashed;
    int is_reversed;            /* the track is driven in the reverse direction */
    int closest_waypoints[2];   /* [prev, next] by arc length */
    double projection_distance; /* arc length of the car's projection, metres */
    double sim_time;            /* simulated seconds when the pose was read (before the physics) */

    /* waypoints: the centreline in driving direction (the track's array, not a copy). */
    int n_waypoints;
    const double *waypoints; /* (n_waypoints, 2) */

    /* Objects (obstacles and other cars); the object keys exist only when n_objects > 0. */
    int n_objects;
    int closest_objects[2];
    double objects_location[TD_MAX_OBJECTS][2];
    double objects_distance[TD_MAX_OBJECTS];
    double objects_distance_from_center[TD_MAX_OBJECTS];
    int objects_left_of_center[TD_MAX_OBJECTS];
    double objects_speed[TD_MAX_OBJECTS];
    double objects_heading[TD_MAX_OBJECTS]; /* radians, as DeepRacer's code gives */
    int object_in_camera; /* the last field: td_params_copy copies the fields by name */
} td_params;

/* *dst = *src, copying only the n_objects objects in use (the rest of dst's object arrays is
 * left as it was): what a per-step copy of many cars' params should use. */
void td_params_copy(td_params *dst, const td_params *src);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_PARAMS_H */
