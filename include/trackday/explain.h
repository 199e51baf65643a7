/*
 * explain.h - what a reward function encourages, on driven laps (`trackday reward explain`):
 * the built-in driver drives a lap with the reward host as the env's reward callback, and a
 * picture colours the path by reward. Part of the eval layer (it drives and draws); the
 * reward layer keeps the hosts.
 */
#ifndef TRACKDAY_EXPLAIN_H
#define TRACKDAY_EXPLAIN_H

#include "trackday/reward.h"
#include "trackday/sim.h"
#include "trackday/track.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_EXPLAIN_MAX_OBJECTS 16

/* One lap driven by the simulator's built-in driver, with the reward of every step. */
typedef struct td_explain_lap {
    char driver[32]; /* "racing line", "zig-zag", ... */
    int n;           /* steps */
    double *x, *y;   /* model point per step (one allocation with the rest) */
    double *reward, *progress, *speed;
    char status[32]; /* how the lap ended: lap_complete, off_track, ... */
    int failed;      /* the reward function failed at step n (message in err) */
    int n_objects;   /* obstacles and bot cars at the start of the lap */
    double objects[TD_EXPLAIN_MAX_OBJECTS][5]; /* x, y, yaw (rad), length, width */
    int object_is_car[TD_EXPLAIN_MAX_OBJECTS];
} td_explain_lap;

/*
 * Drives one lap of track t from the start line with the simulator's driver of kind
 * `driver_kind` (a td_driver_kind of sim.h) and computes r's reward at every step. race is
 * the race configuration (sim.h's td_race_config; NULL: a time trial), so object-avoidance
 * and head-to-bot rewards see their objects. Stops at the end of the episode or after
 * max_steps. A reward error stops the lap: lap->failed = 1, err holds the message and the
 * function still returns 0 with the steps so far. Free with td_explain_lap_free.
 */
int td_explain_drive_lap(td_reward *r, const td_track *t, const td_race_config *race,
                         int driver_kind, int max_steps, td_explain_lap *lap, td_err *err);
void td_explain_lap_free(td_explain_lap *lap);

/*
 * Writes an SVG picture (written atomically): track t once per lap side by side, as every
 * track picture draws it (td_plot_track_draw), with the lap's objects and the driven path
 * coloured by reward on one colour scale shared by all laps, and a title.
 */
int td_explain_svg(const char *path, const td_track *t, const td_explain_lap *laps, int n_laps,
                   const char *title, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_EXPLAIN_H */
