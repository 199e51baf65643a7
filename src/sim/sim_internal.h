/*
 * sim_internal.h - what the files of the sim layer share: the per-car record of the vector
 * env, the per-direction track tables, the objects of a car's world and the internal
 * functions between car.c, objects.c, episode.c, state_sensor.c and vecenv.c.
 */
#ifndef TD_SIM_INTERNAL_H
#define TD_SIM_INTERNAL_H

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "trackday/sim.h"

/* A colour level rounded into 0..255 (the camera's pixels and its look's adjustments). */
static inline uint8_t td__clamp_u8(double v)
{
    if (v <= 0.0)
        return 0;
    if (v >= 255.0)
        return 255;
    return (uint8_t)(v + 0.5);
}

/* ---- car ---------------------------------------------------------------------------- */

#define TD__MAX_SUBSTEPS 64

/* Integration constants of one control step, computed once per env. */
typedef struct td__car_coeffs {
    int substeps;
    double h, dt;            /* sub-step and step, seconds */
    double a_speed, a_steer; /* first-order lag factors per sub-step */
    double inv_wheelbase;
    double half_gain; /* steer_gain / 2: tan(slip angle) per tan(wheel angle) */
    double speed_gain;
    double accel_step;                      /* accel_max x h, 0 = no limit */
    double speed_min, speed_max, steer_max; /* steer_max in radians */
    double tan_steer_max;
    double grip; /* lateral acceleration limit, 0 = none */
    /* For steps of length dt after steps of the same length, what each sub-step follows
     * after the delays: command src (0 = this step's, k = k steps older, TD_CAR_HIST = none
     * yet) blended with the one before it, which covers the fraction old_w of the sub-step
     * (so a delay acts continuously, not in whole sub-steps). */
    unsigned char steer_src[TD__MAX_SUBSTEPS], speed_src[TD__MAX_SUBSTEPS];
    double steer_old_w[TD__MAX_SUBSTEPS], speed_old_w[TD__MAX_SUBSTEPS];
} td__car_coeffs;

void td__car_coeffs_init(td__car_coeffs *k, const td_car_config *cfg, double dt);
/* A held step (prepare, pause): the car stands still, its wheels straight, and the step's
 * command is zero (DeepRacer sends 0, 0 while it holds a car). */
void td__car_hold(const td__car_coeffs *k, td_car_state *s);
/* One control step of k->dt after steps of the same length (the vector env). */
void td__car_step_fast(const td__car_coeffs *k, td_car_state *s, double steer_cmd_rad,
                       double speed_cmd);
/* The heading's turn rate now, rad/s (+ = left): 2 v sin(slip) / L, what the car's next
 * sub-step turns by per second at its speed and slip; bounded by the grip, unlike the
 * kinematic v gain tan(steer) / L. */
double td__car_yaw_rate(const td__car_coeffs *k, const td_car_state *s);
double td__clip(double v, double lo, double hi);

static inline double td__wrap_pi(double a)
{
    if (a > M_PI || a <= -M_PI) {
        a = remainder(a, 2.0 * M_PI); /* [-pi, pi] */
        if (a <= -M_PI)
            a += 2.0 * M_PI;
    }
    return a;
}

/* ---- per-direction track tables --------------------------------------------------- */

#define TD__CURV_STEP_M 0.05

typedef struct td__dirdata {
    const td_track *t;
    double *tx, *ty; /* (n-1) unit tangent of each centreline segment */
    double *clear;   /* (n-1) distance from each centre segment to the nearest border */
    float *curv;     /* curvature sampled every TD__CURV_STEP_M of arc */
    int ncurv;
    double inv_length;
    int ccw; /* DeepRacer's is_ccw of this direction (td_track_is_ccw) */
} td__dirdata;

int td__dirdata_init(td__dirdata *d, const td_track *t, td_err *err);
void td__dirdata_free(td__dirdata *d);

/* ---- objects ------------------------------------------------------------------------- */

typedef struct td__object {
    td_box box;
    int is_bot;
    double s;             /* arc length along the car's driving direction */
    int lane;             /* +1 inner, -1 outer: the lane it is on (or leaving) */
    int lane_to;          /* bots: target lane of a change in progress (== lane if none) */
    double change_done_m; /* bots: distance driven into the current lane change */
    double next_change_t; /* bots: clock time of the next lane change */
    int seg;              /* bots: centreline segment cursor for s */
    td_track_proj proj;   /* projection of the object's centre (params) */
    double ndist;         /* bots and cars: lap fraction of the model point (crash rule) */
} td__object;

/* ---- the car record ---------------------------------------------------------------- */

/* DeepRacer's agent phases (reset/constants.py AgentPhase). */
enum {
    TD__PHASE_RUN = 0,     /* the action drives the car; the reward function is called */
    TD__PHASE_PREPARE = 1, /* the first step of an episode: held at the start, reward 0 */
    TD__PHASE_PAUSE = 2    /* held at the reset pose for the penalty, reward 0 */
};

typedef struct td__car {
    td_car_state st;
    td_track_proj proj; /* projection of the model point at st (kept current by td__car_locate) */
    double width_m;     /* DeepRacer's track width at proj */
    int left;           /* DeepRacer's is_left_of_center at proj (nearer the inner border) */
    int dir;            /* 0 forward, 1 reverse */
    int index;          /* car index in the env */
    double start_ndist; /* episode start for progress (model point projection) */
    double rr_ndist;    /* round-robin start point of the next episode */
    double prev_progress;
    double cmd_steer_deg, cmd_speed; /* this step's action, unclipped (params) */
    double clock;                    /* simulated seconds since env init, penalties included */
    double episode_t0;               /* clock at the episode start */
    double lap_t0;                   /* clock at the current lap's start */
    int reverse_count, immobile_count;
    int reverse_done, immobile_done; /* DeepRacer's rule flags: stay set until a reset */
    double pose_x, pose_y, pose_yaw; /* origin of the last step's params: where its action was
                                      * chosen, before its physics */
    double last_x, last_y;           /* origin of the previous step's params (immobilized) */
    double prev_x, prev_y;           /* origin of the last driving step's params (reset lanes) */
    int phase;                       /* TD__PHASE_*: what the next step does */
    int step_phase;                  /* the phase of the last step */
    int pause_steps;                 /* pause steps left (phase PAUSE) */
    double pause_s;                  /* pause_duration of the last step */
    double pause_total_s;            /* the penalty of the pause in progress */
    double bots_pause_s;             /* the bots stand still this much longer (PENALTY_SECONDS) */
    int nobj;
    td__object obj[TD_MAX_OBJECTS];
    td_box boxes[TD_MAX_OBJECTS]; /* sensor copy of the objects */
    int crash_obj;                /* object hit this step (that crashes the car), or -1 */
    int bot_behind;               /* this step a bot ran into the car from behind */
    int lap_now;                  /* this step completed a lap */
    td_episode_status event;      /* this step's event (precedence applied) */
    td_episode_status step_event; /* the last step's event, kept across resets */
    td_rng rng;
    td_look look;
    td_camera_frame frame; /* the last camera frame's turn rate and noise draw */
    td_episode_info info;  /* running episode */
    td_episode_info last;  /* last ended episode */
    td_params last_params; /* the last ended episode's last step */
    int episodes_started;
} td__car;

/* ---- env private part ---------------------------------------------------------------- */

struct td__vecenv_priv {
    td_track reverse;
    const td_track *tracks[2];
    td__dirdata dir[2];
    td_ground_map *ground;
    td_lidar_grid *lgrid;
    td__car_coeffs coeffs;
    double dt;
    td__car *cars;
    /* The reward callback's batch when some cars are held (prepare or pause steps). */
    td_params *gather_params;
    float *gather_rewards;
    int *gather_car;
    int n_gather;               /* -1: the last callback saw every car in order */
    float *lidar_raw;           /* (n, beams) scratch */
    double lidar_reach_m;       /* scan reach that leaves the encoding unchanged (0: full) */
    double wheel_reach_m;       /* model point to the farthest wheel centre */
    td_look look_default;       /* the look when domain randomization is off (cfg.look) */
    td_box decor[TD_DECOR_MAX]; /* the track's surroundings, for the camera */
    uint8_t decor_level[TD_DECOR_MAX];
    int ndecor;

    struct td__pool *pool; /* core/pool.c; NULL for one thread */
};

/* episode.c */
double td__wheel_reach(const td_car_config *car);
void td__car_start_episode(td_vecenv *env, td__car *c, double ndist, int dir);
void td__car_begin_next_episode(td_vecenv *env, td__car *c);
/*
 * A step in DeepRacer's order (deepracer_racetrack_env.py _update_state): td__car_begin_step
 * is its update_agent (the action's commanded values, the params and the end rules at the pose
 * where the action was chosen, before any physics), td__car_physics the unpaused physics step
 * (the car, the clock and the objects move on), td__car_after_reward its judge_action (the
 * sensors read the new pose, then an event resets the car or ends the episode).
 */
void td__car_begin_step(td_vecenv *env, td__car *c, const float *action, td_params *p);
void td__car_physics(td_vecenv *env, td__car *c);
/* Projects the model point of c->st into c->proj (incrementally from c->proj, or by a full
 * search for an unknown pose) and keeps the track width there. */
void td__car_locate(td_vecenv *env, td__car *c, int full);
/* Whether td__car_compute_params applies the end rules (a step) or only describes the pose. */
enum {
    TD__PARAMS_STEP = 0, /* a step: end rules, counters */
    TD__PARAMS_POSE = 1  /* the pose as a step would see it, no end rules */
};
/* The params of the car's current pose (c->proj must be current: td__car_locate). */
void td__car_compute_params(td_vecenv *env, td__car *c, td_params *p, int mode);
/* Projects (x, y) starting from the segment holding arc length s (a pose placed at a known
 * arc length): the incremental query, with no full search. */
void td__project_near(const td_track *t, double s, double x, double y, td_track_proj *p);
/* Renders the step's observations, then applies its event (a reset, the end of the episode). */
void td__car_after_reward(td_vecenv *env, td__car *c, const td_params *p, float reward,
                          uint8_t *done);
/* Writes car c's observations at its current pose into the env's buffers. */
void td__car_observe(td_vecenv *env, td__car *c);

/* objects.c */
/* Places the episode's obstacles or bots for a car starting at arc length s0. */
void td__objects_place(td_vecenv *env, td__car *c, double s0);
void td__objects_step(td_vecenv *env, td__car *c, double dt);
void td__objects_params(td_vecenv *env, td__car *c, td_params *p);
/*
 * DeepRacer's collision test and crash rule for car c at its current pose (p: its params of
 * this step). Returns 1 if a footprint corner is inside an object (the first in list order):
 * *crash_obj is that object if the collision crashes the car (an obstacle, or a car or bot it
 * is behind), else -1; *bot_behind is 1 if the car is ahead of a bot that touched it.
 */
int td__objects_collision(const td_vecenv *env, const td__car *c, const td_params *p,
                          int *crash_obj, int *bot_behind);
/* The bots stop for PENALTY_SECONDS (a bot ran into the car). */
void td__objects_pause_bots(td_vecenv *env, td__car *c);
/* episode.c: the lane (+1 inner, -1 outer) an object stands on. */
int td__object_lane(const td_track *t, const td__object *o);

/* driver.c: the centre point, the left normal and the lateral extent of the road (right < left,
 * from the border rows) at centreline arc s, walking *seg forward. smooth: the normal turns
 * along each segment between the vertex bisectors (a closed track). */
void td__road_frame(const td_track *t, double s, int *seg, int smooth, double *cx, double *cy,
                    double *nx, double *ny, double *lo, double *hi);

/* state_sensor.c */
void td__state_features(const td_vecenv *env, const td__car *c, float *out);

#endif
