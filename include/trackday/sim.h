/*
 * sim.h - the simulator: the car (kinematic bicycle with first-order speed and steering
 * response), DeepRacer's episode rules, race types (time trial, object avoidance,
 * head-to-bot), the reward input `td_params`, the track-relative "state" sensor, the
 * vectorized environment (PufferLib style) and a built-in driver (pure pursuit).
 *
 * The vector env in one paragraph: the caller fills a td_sim_config, calls td_vecenv_init
 * with a track and a car count N, points the env's buffer fields at arrays it owns
 * (actions, observations, rewards, dones, params), calls td_vecenv_reset once, then
 * td_vecenv_step in a loop. A step runs in DeepRacer's order (docs/sim.md, "The order of a
 * step"): it fills every car's params and applies the end rules at the pose where the car's
 * action was chosen, with the action's commanded values, then runs the physics of every car
 * (a car in DeepRacer's prepare step, which starts every episode, or in a penalty's pause
 * steps is held), asks the reward callback for the batch of driving cars at once, renders
 * the observations after the physics for the next decision, writes dones and resets every
 * ended episode in place (its final numbers stay readable with td_vecenv_last_episode).
 * Nothing is allocated after init. The same seed and thread count give bit-identical runs
 * (each car has its own td_rng stream).
 *
 * Units: metres, seconds, radians inside; degrees only where DeepRacer uses them (actions,
 * params.heading, params.steering_angle). docs/sim.md describes the model and the rules.
 */
#ifndef TRACKDAY_SIM_H
#define TRACKDAY_SIM_H

#include "trackday/core.h"
#include "trackday/params.h"
#include "trackday/sensors.h"
#include "trackday/track.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- car ------------------------------------------------------------------------------ */

#define TD_SIM_HZ            15.0
#define TD_CAR_WHEELBASE_M   0.164
#define TD_CAR_TRACK_M       0.16
#define TD_CAR_MODEL_POINT_M 0.14   /* params x, y: this far ahead of the car origin */
#define TD_CAR_LENGTH_M      0.3235 /* collision footprint, along the heading */
#define TD_CAR_WIDTH_M       0.1961 /* collision footprint, across */
#define TD_CAR_HEIGHT_M      0.15   /* for the camera and lidar */

/*
 * The car's response to its commands (docs/sim.md): each command acts after a dead time
 * (delay); the speed and the tangent of the front-wheel angle follow it through first-order
 * lags (the speed also through an acceleration limit); the path curvature is
 * steer_gain x tan(wheel angle) / wheelbase (1 = the geometric bicycle, < 1 a car whose
 * tyres scrub); a turn that asks for more lateral acceleration than grip_mps2 runs wide.
 * td_car_preset gives DeepRacer's physics versions, fitted to DeepRacer's logs.
 */
typedef struct td_car_config {
    double wheelbase_m;       /* 0.164; the origin is the middle of the wheelbase */
    double track_m;           /* 0.16, between left and right wheel centres */
    double model_point_m;     /* 0.14 */
    double length_m, width_m; /* footprint rectangle centred on the origin */
    double speed_tau_s;       /* first-order time constant of speed */
    double steer_tau_s;       /* first-order time constant of steering */
    double speed_delay_s;     /* dead time before a speed command acts, 0 .. TD_CAR_MAX_DELAY_S */
    double steer_delay_s;     /* dead time before a steering command acts */
    double steer_gain;        /* path curvature per tan(wheel angle), x wheelbase; 1 = ideal */
    double speed_gain;        /* steady speed / commanded speed (wheel radius scale) */
    double accel_max_mps2;    /* speed change limit, m/s^2; 0 = none */
    int substeps;             /* physics sub-steps per control step, default 10 */
    double speed_min, speed_max; /* command clipping, 0.1 .. 4.0 m/s */
    double steer_max_deg;        /* command clipping, 30 */
    /* Lateral grip, m/s^2: the lateral acceleration of the car's path (speed x the turn
     * rate of its direction of travel: yaw rate and slip-angle rate together) never exceeds
     * it; a turn or a steering change that asks for more is widened (understeer).
     * 0 = unlimited. */
    double grip_mps2;
} td_car_config;

#define TD_CAR_MAX_DELAY_S 0.4
#define TD_CAR_HIST        8       /* commands kept for the delays (8 steps at 15 Hz > 0.4 s) */
#define TD_CAR_MAX_STEP_S  1.0     /* longest step of a replay */
#define TD_CAR_MAX_ACTIONS 5000000 /* longest replay */

/* The default car: DeepRacer's current physics (td_car_preset "deepracer"). */
void td_car_config_default(td_car_config *cfg);

/*
 * Car presets by name: "deepracer" (DeepRacer's current physics, model_metadata version >= 5:
 * velocity-controlled wheels, "kinematic"), "deepracer-dynamic" (versions 3 and 4:
 * effort-controlled wheels), "deepracer-v2" and "deepracer-v1" (the dynamic car with those
 * versions' wheel-radius speed scale), and "ideal" (a kinematic bicycle with short lags and
 * no delay, no scrub, no grip limit: trackday's car before calibration). The DeepRacer
 * presets are fitted to DeepRacer's public logs (docs/sim.md). Returns 0 or TD_EINVAL for an
 * unknown name (cfg unchanged).
 */
int td_car_preset(td_car_config *cfg, const char *name);
/* The preset DeepRacer runs for a model_metadata "version": its name. */
const char *td_car_preset_for_version(int version);
/* The preset names, NULL-terminated. */
extern const char *const td_car_preset_names[];

/* (td_car_config_from_json and td_car_config_to_json are declared in trackday/json.h, which
 * is not installed: docs/c-api.md.) */
/* A car file: {"preset": name (default "deepracer"), then any field of td_car_config by
 * name, e.g. "steer_gain": 0.6}; unknown keys and values out of range are errors. */
int td_car_config_load(td_car_config *cfg, const char *path, td_err *err);
/* A --car argument: a preset name or a car file path. */
int td_car_config_resolve(td_car_config *cfg, const char *arg, td_err *err);

/* The dynamic state of one car. yaw and (cos_yaw, sin_yaw) always agree. */
typedef struct td_car_state {
    double x, y; /* origin (middle of the wheelbase), metres */
    double yaw;  /* radians, (-pi, pi], counter-clockwise from +x */
    double cos_yaw, sin_yaw;
    double speed;     /* measured (actual) speed, m/s */
    double steer;     /* measured (actual) front-wheel angle, radians, + = left */
    double steer_tan; /* tan(steer): the lagged quantity */
    /* The slip angle beta at the middle of the wheelbase, radians (+ = left): the car moves
     * at yaw + slip. It follows the steering (tan(beta) = steer_gain tan(steer) / 2) as fast
     * as the grip lets the direction of travel turn. */
    double slip;
    /* The last commands, newest first, for the delays: wheel-angle tangent and speed
     * targets (clipped, scaled), and the length of the step each was given for. */
    int n_cmd;
    double cmd_tan[TD_CAR_HIST], cmd_speed[TD_CAR_HIST], cmd_dt[TD_CAR_HIST];
} td_car_state;

/* Places a car at rest at origin pose (x, y, yaw), wheels straight, no command pending. */
void td_car_place(td_car_state *s, double x, double y, double yaw);

/*
 * Advances one control step of dt seconds (cfg->substeps sub-steps). The commands are
 * clipped to the configured ranges here. No allocation, no libm call per sub-step.
 */
void td_car_step(const td_car_config *cfg, td_car_state *s, double steer_cmd_deg, double speed_cmd,
                 double dt);

/*
 * Feeds one command of dt seconds into the car's response (delays, lags) without moving it:
 * the pose stays, speed and steering evolve as td_car_step would evolve them. For replays
 * that start from a logged pose with the actions that preceded it.
 */
void td_car_respond(const td_car_config *cfg, td_car_state *s, double steer_cmd_deg,
                    double speed_cmd, double dt);

/*
 * Sets a car's measured speed as if it had been driving steadily at it: the pending commands
 * ask for that speed with straight wheels, so the delays do not slow it down.
 */
void td_car_set_speed(const td_car_config *cfg, td_car_state *s, double speed);

/* ---- open-loop replay (src/sim/openloop.c) ---------------------------------------------- */

/* One command of a replay: steering (degrees, + left), speed (m/s) and its duration. */
typedef struct td_car_action {
    double steer_deg, speed, dt;
} td_car_action;

/*
 * Parses a CSV of actions: a header naming the columns, then one row per control step.
 * `steer` (degrees) and `throttle` (m/s) are required (`steering_angle` and `speed` are
 * accepted too); a `tstamp` column gives each row's duration as the time since the previous
 * row (the first row lasts 1 / TD_SIM_HZ, as every row without tstamp). Other columns are
 * ignored, so a DeepRacer simtrace is an actions file. *out is a new array of *n actions
 * (td_free). Errors name `what`, the line and the column.
 */
int td_car_actions_parse(const char *text, size_t len, const char *what, td_car_action **out,
                         int *n, td_err *err);

/*
 * Replays actions open loop on a car in state s: the first n_hist actions only set the
 * response (td_car_respond: the car does not move), each of the others is a td_car_step;
 * out (n - n_hist entries, may be NULL) receives the state after each of them. s ends in the
 * final state.
 */
void td_car_replay(const td_car_config *cfg, td_car_state *s, const td_car_action *a, int n,
                   int n_hist, td_car_state *out);

/* The model point (params x, y). */
void td_car_model_point(const td_car_config *cfg, const td_car_state *s, double *x, double *y);

/* The four wheel centres: front-left, front-right, rear-left, rear-right; out is (4, 2). */
void td_car_wheels(const td_car_config *cfg, const td_car_state *s, double out[4][2]);

/* 1 if two oriented rectangles overlap (separating axis test). Touching counts as overlap. */
int td_box_overlap(const td_box *a, const td_box *b);

/* ---- race configuration (training_params.yaml, DEEPRACER.md section 8) ------------------ */

typedef enum td_race_type {
    TD_RACE_TIME_TRIAL = 0,
    TD_RACE_OBJECT_AVOIDANCE = 1,
    TD_RACE_HEAD_TO_BOT = 2
} td_race_type;

/* DeepRacer has no limit on either count; trackday's is the number of objects a world holds
 * (params.h), for obstacles and bots together. */
#define TD_MAX_OBSTACLES TD_MAX_OBJECTS
#define TD_MAX_BOTS      TD_MAX_OBJECTS

typedef struct td_race_config {
    td_race_type race_type;                /* RACE_TYPE (a label: counts decide what spawns) */
    int reverse_dir;                       /* REVERSE_DIR */
    int alternate_driving_direction;       /* ALTERNATE_DRIVING_DIRECTION */
    int change_start_position;             /* CHANGE_START_POSITION (round robin), default 1 */
    double round_robin_advance_dist;       /* ROUND_ROBIN_ADVANCE_DIST, fraction, 0.05 */
    double start_position_offset;          /* START_POSITION_OFFSET: the first training
                                              start of every car, fraction of the lap, 0.0 */
    int spread_starts;                     /* trackday extension, off by default (train
                                              --spread-starts): car i of n starts i/n further */
    int number_of_obstacles;               /* NUMBER_OF_OBSTACLES, default 0 (DeepRacer's) */
    double min_distance_between_obstacles; /* MIN_DISTANCE_BETWEEN_OBSTACLES, percent of the
                                              lap as DeepRacer reads it, 2.0 */
    int randomize_obstacle_locations;      /* RANDOMIZE_OBSTACLE_LOCATIONS */
    int n_object_positions;                /* OBJECT_POSITIONS: count (0 = not given) */
    double object_positions[TD_MAX_OBSTACLES][2]; /* (progress fraction, lane +1/-1) */
    double obstacle_length_m;                     /* along the track, 0.5 */
    double obstacle_width_m;                      /* across the track, 0.4 */
    double obstacle_height_m;                     /* 0.3, for sensors */
    int number_of_bot_cars;                       /* NUMBER_OF_BOT_CARS, default 0 */
    double min_distance_between_bot_cars;         /* MIN_DISTANCE_BETWEEN_BOT_CARS, 2.0 m */
    int randomize_bot_car_locations;              /* RANDOMIZE_BOT_CAR_LOCATIONS */
    double bot_car_speed;                         /* BOT_CAR_SPEED, 0.2 m/s */
    double penalty_seconds;          /* PENALTY_SECONDS: the bots stop this long after one of them
                                        runs into the car from behind, 2.0 */
    int is_lane_change;              /* IS_LANE_CHANGE */
    double lower_lane_change_time;   /* LOWER_LANE_CHANGE_TIME, 3 s */
    double upper_lane_change_time;   /* UPPER_LANE_CHANGE_TIME, 5 s */
    double lane_change_distance;     /* LANE_CHANGE_DISTANCE, 1.0 m */
    int enable_domain_randomization; /* ENABLE_DOMAIN_RANDOMIZATION */
    td_dr_ranges dr; /* DOMAIN_RANDOMIZATION_*: its ranges (set 0: the TD_DR_* defaults) */
} td_race_config;

/* DeepRacer's defaults for absent keys: a time trial with no obstacles and no bots. */
void td_race_config_default(td_race_config *cfg);
/*
 * Sets the race type as a command-line option or a console does: DeepRacer spawns obstacles
 * and bots by their counts in every race type, so a type also sets the counts its races have
 * (a time trial none; object avoidance 3 obstacles and head-to-bot 3 bots, the console's
 * defaults, unless a count is already set).
 */
void td_race_config_set_type(td_race_config *cfg, td_race_type t);
const char *td_race_type_name(td_race_type t); /* "TIME_TRIAL", ... */
/* Parses "TIME_TRIAL"/"time-trial"/"time_trial" etc. Returns 0 or TD_EINVAL. */
int td_race_type_parse(const char *s, td_race_type *out);

/* ---- episodes -------------------------------------------------------------------------- */

/*
 * How episodes run (docs/sim.md). Every episode starts with DeepRacer's prepare step: the car
 * is held at its start for one step, the reward function is not called and the reward is 0.
 * An event (crash, off track, reversed, immobilized) ends the episode unless a reset is left
 * (max_resets, DeepRacer's NUMBER_OF_RESETS): then the car is held for the penalty at its
 * reset pose (pause steps, reward 0, the reward function not called) and drives on.
 */
typedef enum td_sim_mode {
    TD_MODE_TRAIN = 0,     /* round-robin starts */
    TD_MODE_EVAL = 1,      /* starts at the start line; an episode is one lap (a trial) */
    TD_MODE_CONTINUOUS = 2 /* starts at the start line; an episode is cfg.laps laps back to
                              back, the clock running across laps */
} td_sim_mode;

/*
 * Episode status, DeepRacer's names (simtrace episode_status). When several end rules fire on
 * one step the status is the first in DeepRacer's order: lap_complete, crashed, off_track,
 * immobilized, reversed (then trackday's time_up). PREPARE and PAUSE are the statuses of the
 * steps where the car is held; they never end an episode.
 */
typedef enum td_episode_status {
    TD_EP_IN_PROGRESS = 0,
    TD_EP_LAP_COMPLETE = 1,
    TD_EP_CRASHED = 2,
    TD_EP_OFF_TRACK = 3,
    TD_EP_REVERSED = 4,
    TD_EP_IMMOBILIZED = 5,
    TD_EP_TIME_UP = 6, /* max_steps reached */
    TD_EP_PREPARE = 7, /* the first step of an episode: the car held at its start */
    TD_EP_PAUSE = 8    /* a step held at the reset pose after an event (the penalty) */
} td_episode_status;

const char *td_episode_status_name(td_episode_status s); /* "lap_complete", ... */
/* DeepRacer's label of a status in its metrics files (metrics/constants.py
 * EPISODE_STATUS_LABEL_MAP): "Lap complete", "Off track", "In progress", "Time Up", ... */
const char *td_episode_status_label(td_episode_status s);

#define TD_MAX_LAPS 16
/* max_resets for "as many as it takes" (DeepRacer on AWS asks for 10000). */
#define TD_RESETS_UNLIMITED 1000000000

/*
 * The events a car ran into and what they cost: one record for an episode, an evaluation
 * and a race car (td_episode_info, td_eval_result, td_race_car_result), copied whole.
 */
typedef struct td_event_counts {
    int off_tracks, crashes, reverses, immobilized, resets;
    double penalty_s; /* total penalty charged (pause time of the resets) */
} td_event_counts;

/*
 * What an event costs when resets are allowed: one record for the simulator, an evaluation
 * and a race (td_sim_config, td_eval_options, td_race_options), copied whole.
 */
typedef struct td_penalty_config {
    int max_resets;             /* NUMBER_OF_RESETS: events that cost a penalty and a reset
                                   instead of ending the episode; 0 = none, the first event
                                   ends it */
    double off_track_penalty_s; /* OFF_TRACK_PENALTY: after a reset for off track and
                                   reversed; immobilized costs no penalty, as in DeepRacer */
    double collision_penalty_s; /* COLLISION_PENALTY: after a reset for a crash */
} td_penalty_config;

/*
 * What happened in one episode (a trial; the whole race in continuous mode). Times are
 * simulated seconds of DeepRacer's official metric: a lap runs from the reset before the
 * episode's prepare step (or the end of the previous lap in continuous mode) to the end of
 * the step that completed it, the held steps of penalties included.
 */
typedef struct td_episode_info {
    int episode; /* 0-based count of this car's episodes */
    td_episode_status status;
    double progress;   /* last progress (100 for a completed lap) */
    int steps;         /* steps, the prepare and pause steps included (DeepRacer's steps) */
    double sim_time_s; /* simulated time of the episode from its reset */
    double total_reward;
    int reversed_dir;                /* driven in the reverse direction */
    double start_ndist;              /* start point as a fraction of the lap */
    int laps;                        /* completed laps */
    double lap_times_s[TD_MAX_LAPS]; /* time of each completed lap */
    double lap_time_s;               /* first completed lap's time, or -1 */
    td_event_counts events;
} td_episode_info;

/* ---- state sensor ----------------------------------------------------------------------- */

/*
 * The "state" observation: track-relative features, roughly in [-1, 1] (docs/sim.md lists
 * them): 0 speed/4, 1 steering/30deg, 2-3 sin and cos of the heading error against the
 * centreline tangent, 4 lateral offset / half width (+ = left), 5-6 distance to the left and
 * right borders / width, 7-12 centreline curvature 0.25, 0.5, 1, 1.5, 2, 3 m ahead (x 0.4,
 * clipped), 13 an object is ahead within 5 m, 14 its arc distance / 5 m (1 if none),
 * 15 its lateral offset / half width (0 if none).
 */
#define TD_STATE_DIM 16

/* ---- vector env ----------------------------------------------------------------------- */

enum {
    TD_SENSOR_STATE = 1,  /* obs_state, TD_STATE_DIM floats per car */
    TD_SENSOR_CAMERA = 2, /* obs_camera, height x width x 1 grey bytes */
    TD_SENSOR_STEREO = 4, /* obs_camera, height x width x 2 (instead of CAMERA) */
    TD_SENSOR_LIDAR = 8   /* obs_lidar, td_vecenv_lidar_dim floats per car */
};

typedef enum td_lidar_encoding {
    TD_LIDAR_ENC_CLIPPED = 0,     /* LIDAR: 64 values clipped to [0.15, 1.0] */
    TD_LIDAR_ENC_SECTOR = 1,      /* SECTOR_LIDAR: 8 binary sectors */
    TD_LIDAR_ENC_DISCRETIZED = 2, /* DISCRETIZED_SECTOR_LIDAR: one-hot bins */
    TD_LIDAR_ENC_RAW = 3          /* raw metres (not a DeepRacer sensor; for tools) */
} td_lidar_encoding;

typedef struct td_sim_config {
    td_car_config car;
    td_race_config race;
    td_sim_mode mode;
    int sensors; /* TD_SENSOR_* bits, default TD_SENSOR_STATE */
    td_camera_config camera;
    td_look look; /* the world's look (td_look_default); the base that domain randomization
                     perturbs per episode */
    td_lidar_config lidar;
    td_lidar_encoding lidar_encoding;
    double hz;                   /* control steps per simulated second, 15 */
    int max_steps;               /* per episode, 100000 */
    int laps;                    /* continuous mode: laps to finish, default 3 */
    td_penalty_config penalties; /* max_resets 0 (the first event ends the episode),
                                    off track and reversed 2 s, crashed 5 s */
    double crash_reset_behind_m; /* RESET_BEHIND_DIST: reset this far behind an obstacle, 1 m */
    int reversed_limit_steps;    /* NUMBER_OF_REVERSE_COUNTS, 15 */
    int immobilized_limit_steps; /* 15 */
    double immobilized_dist_m;   /* 0.0003 per step */
    double ground_cell_m;        /* camera ground map resolution, TD_GROUND_CELL_M (0.005) */
    double lidar_cell_m;         /* lidar grid cell, TD_LIDAR_CELL_M (0.25) */
    int threads;                 /* worker threads including the caller, default 1 */
    uint64_t seed;
    int first_car; /* car i draws from random stream first_car + i (0): cars a..b of a larger
                      vector (data-parallel evaluation splits one over processes) */
} td_sim_config;

void td_sim_config_default(td_sim_config *cfg);

/*
 * DeepRacer's evaluation settings (evaluation_worker.py; training_params.yaml and DRfC's
 * evaluation_params.yaml keys). Defaults: DeepRacer on AWS's evaluation, 3 separate trials
 * with resets.
 */
typedef struct td_eval_config {
    int number_of_trials;       /* NUMBER_OF_TRIALS: trials, or laps when continuous; 3 */
    int is_continuous;          /* IS_CONTINUOUS: the laps back to back in one run; 0 */
    int number_of_resets;       /* NUMBER_OF_RESETS: 0 = none; 10000 */
    double off_track_penalty_s; /* OFF_TRACK_PENALTY (also reversed); 2.0 */
    double collision_penalty_s; /* COLLISION_PENALTY; 5.0 */
} td_eval_config;

#define TD_EVAL_DEFAULT_RESETS 10000

void td_eval_config_default(td_eval_config *e);
/* Sets a sim config's mode (TD_MODE_EVAL or TD_MODE_CONTINUOUS), laps, max_resets and
 * penalties from evaluation settings. */
void td_eval_config_apply(const td_eval_config *e, td_sim_config *cfg);

/*
 * The reward callback: called once per step over the batch of cars whose reward function
 * DeepRacer calls on this step (a host may take a lock once per batch). Cars held in their
 * prepare or pause step are left out (their reward is 0); when all cars drive, params is
 * env->params and row k is car k, else the rows are the driving cars in car order
 * (td_vecenv_reward_car maps them back) and the callback is skipped when none drives.
 * params describe the pose where the step's action was chosen, before the step's physics,
 * with that action's commanded speed and steering (DeepRacer's reward input). Must write n
 * rewards.
 */
typedef void (*td_reward_batch_fn)(void *user, const td_params *params, int n, float *rewards_out);

/* DeepRacer's example 1 (follow the centre line): 1.0, 0.5, 0.1 or 1e-3 by distance bands
 * of 10 %, 25 % and 50 % of the track width. The default reward when reward_fn is NULL. */
double td_reward_follow_center(const td_params *p);

typedef struct td__vecenv_priv td__vecenv_priv;

typedef struct td_vecenv {
    /* Buffers owned by the caller; set them after td_vecenv_init, before reset. actions,
     * rewards, dones and params are required; a sensor's buffer may be NULL (nothing is
     * written there). Row i belongs to car i. */
    const float *actions; /* (n, 2): steering_deg, speed_mps */
    float *obs_state;     /* (n, TD_STATE_DIM) */
    uint8_t *obs_camera;  /* (n, height, width, channels) */
    float *obs_lidar;     /* (n, lidar_dim) */
    float *rewards;       /* (n) */
    uint8_t *dones;       /* (n): 1 when this step ended the car's episode */
    td_params *params;    /* (n) reward input of the last step (as the reward saw it) */

    td_reward_batch_fn reward_fn; /* NULL: td_reward_follow_center */
    void *reward_user;

    int n;             /* cars */
    td_sim_config cfg; /* a copy; do not change after init */
    td__vecenv_priv *priv;
} td_vecenv;

/*
 * Creates an env of n cars on `track` (forward direction). What it keeps:
 *  - cfg is copied (env->cfg; it holds no pointers);
 *  - track is BORROWED: the env and the params it writes (params.waypoints points at
 *    track->center) use it until td_vecenv_free, so it must outlive the env (a binding keeps
 *    a reference to its track object). The env builds and owns the reverse direction, and
 *    the camera ground map and lidar grid when those sensors are enabled;
 *  - the buffers and reward_user set afterwards are borrowed too (the caller's).
 * Starts cfg->threads - 1 worker threads. Free with td_vecenv_free.
 */
int td_vecenv_init(td_vecenv *env, const td_sim_config *cfg, const td_track *track, int n,
                   td_err *err);
void td_vecenv_free(td_vecenv *env);

/*
 * Buffers for all of an env's cars, allocated together and attached to the env (its actions,
 * rewards, dones, params and observation pointers). For callers that need no layout of their
 * own. On error nothing is left allocated. Free with td_vecenv_buffers_free (NULL-safe).
 */
typedef struct td_vecenv_buffers {
    float *actions, *rewards, *state, *lidar;
    uint8_t *dones, *camera;
    td_params *params;
    void *block; /* the one allocation behind the buffers above */
} td_vecenv_buffers;

int td_vecenv_buffers_init(td_vecenv_buffers *g, td_vecenv *env, td_err *err);
void td_vecenv_buffers_free(td_vecenv_buffers *g);

/* Sizes of one car's observation rows. */
int td_vecenv_camera_bytes(const td_sim_config *cfg); /* 0 when no camera */
int td_vecenv_lidar_dim(const td_sim_config *cfg);    /* 0 when no lidar */

/* Starts a new episode for every car and writes the first observations and params. */
void td_vecenv_reset(td_vecenv *env);

/* One control step for every car (see the top of this file). No allocation. */
void td_vecenv_step(td_vecenv *env);

/* The final numbers of car i's last ended episode (episode == -1 if none ended yet). */
const td_episode_info *td_vecenv_last_episode(const td_vecenv *env, int i);
/* The params of the last step of car i's last ended episode (kept until the next one ends;
 * env->params[i] holds them too right after the step that ended it). */
const td_params *td_vecenv_last_params(const td_vecenv *env, int i);
/*
 * The params of car i's last step as the reward function saw them: &env->params[i] (the
 * pose where the step's action was chosen, before its physics; a reset or a new episode the
 * step caused shows in the next step's params). For simtraces, pictures and replays.
 */
const td_params *td_vecenv_step_params(const td_vecenv *env, int i);
/* The numbers of car i's running episode. */
const td_episode_info *td_vecenv_current_episode(const td_vecenv *env, int i);

/*
 * Car i's last step as DeepRacer's simtrace shows it: TD_EP_PREPARE or TD_EP_PAUSE for a held
 * step, else the end rule the step triggered in precedence (TD_EP_IN_PROGRESS if none). An
 * event with a reset left costs a penalty and a reset, not the end of the episode (dones
 * tells which); a lap of a continuous run that is not the last shows TD_EP_IN_PROGRESS, as
 * DeepRacer writes it (the laps count in td_episode_info). Valid from inside the reward
 * callback on.
 */
td_episode_status td_vecenv_step_status(const td_vecenv *env, int i);
/*
 * The pause left after car i's last step, DeepRacer's pause_duration: the penalty on the
 * step of an event that resets the car, then less by one step on each pause step, else 0.
 */
double td_vecenv_step_pause_s(const td_vecenv *env, int i);
/* The car whose params were row k of the last reward callback (see td_reward_batch_fn). */
int td_vecenv_reward_car(const td_vecenv *env, int k);

/* Car i's dynamic state and the track it drives now (forward or reverse direction). */
const td_car_state *td_vecenv_car(const td_vecenv *env, int i);
const td_track *td_vecenv_track(const td_vecenv *env, int i);

/* The boxes (obstacles, bots; the car itself is not included) car i's world holds now. */
int td_vecenv_boxes(const td_vecenv *env, int i, const td_box **boxes);

/*
 * What car i's sensors see now, for rendering pictures or videos with sensors.h (for
 * example td_camera_render_rgb at td_vecenv_car's pose). ground is NULL unless a camera
 * sensor is enabled. The pointers stay valid until the next step or reset.
 */
void td_vecenv_scene(const td_vecenv *env, int i, td_scene *out);

/* The per-frame effects (turn rate, noise draw) of car i's last camera observation: with
 * td_vecenv_scene and td_camera_render_grey_frame a tool renders exactly what the car saw. */
void td_vecenv_camera_frame(const td_vecenv *env, int i, td_camera_frame *out);

/*
 * Moves car i to origin pose (x, y, yaw) at `speed` without stepping (a full projection),
 * and recomputes its params as a step would (progress follows DeepRacer's rules from the
 * previous value; steps and sim_time unchanged; no episode rule applied). The next step
 * judges this pose: its action is taken to be chosen here. For probes and tests.
 */
void td_vecenv_teleport(td_vecenv *env, int i, double x, double y, double yaw, double speed);

/*
 * Restarts car i's episode at a given start (fraction of the lap, 0..1) and direction,
 * ignoring the round robin. For tests and tools.
 */
void td_vecenv_reset_car_at(td_vecenv *env, int i, double start_ndist, int reversed);

/* ---- built-in driver --------------------------------------------------------------------- */

/* How td_racing_line_compute searches (see "racing line" below). */
/* The fraction of the car's grip and steering the line plans for by default: the rest is
 * the racing-line driver's room to correct its tracking error (at 1.0 it runs wide). */
#define TD_RACING_GRIP_USE 0.97
/* Clearance of the wheels (the points all_wheels_on_track judges) to the road's edge. */
#define TD_RACING_CLEARANCE_M 0.02
typedef struct td_racing_options {
    double ctrl_spacing_m; /* control offsets every this many metres of centreline, 0.25 */
    double margin_m;       /* from the car's centre to a border at least; 0 (default): half the
                              car's track (wheel centres) + TD_RACING_CLEARANCE_M; widened where
                              a wheel comes within 5 mm of the edge */
    double grip_use;       /* fraction of the car's grip and steering the profile uses,
                              TD_RACING_GRIP_USE */
    int max_sweeps;        /* coordinate-descent sweeps, 1000 */
    int refine_evals;      /* driven refinement: at most this many simulated drives of the line
                              (5 laps each) on a route up to 25 m, refine_evals x 25 / length
                              on a longer one (a drive costs as much as the route is long), 400;
                              0: none (the profile on paper is the line's) */
    int full_evaluate;     /* 1: the path search evaluates the whole line at every move (the
                              reference its local evaluation is held to: the same line, bit for
                              bit, at a cost quadratic in the route's length); 0 (default) */
} td_racing_options;

typedef enum td_driver_kind {
    TD_DRIVER_PURE_PURSUIT = 0, /* smoothed racing line, curvature speed profile */
    TD_DRIVER_CENTERLINE = 1,   /* follows the centre line at a curvature speed profile */
    TD_DRIVER_ZIGZAG = 2,       /* weaves across the centre line at a moderate speed */
    TD_DRIVER_RACING_LINE = 3   /* the minimum-time line of td_racing_line_compute, at its
                                   speed profile, for the car in cfg.car */
} td_driver_kind;

typedef struct td_driver_config {
    td_driver_kind kind;
    double lat_accel_mps2;    /* grip used by the speed profile, default 3.0 */
    double max_speed;         /* 4.0 */
    double min_speed;         /* 0.6 */
    double lookahead_s;       /* pure-pursuit look-ahead time, 0.25 s (plus lookahead_min_m) */
    double lookahead_min_m;   /* 0.3 */
    double zigzag_amplitude;  /* fraction of the half width, 0.6 */
    double zigzag_period_m;   /* 3.0 */
    td_car_config car;        /* racing-line: the car the line is computed for (default car) */
    td_racing_options racing; /* racing-line: the search (td_racing_options_default) */
    const struct td_racing_line *line; /* racing-line: follow this line (computed for car)
                                          instead of computing one; NULL by default */
    double speed_scale; /* racing-line: commands the line's speeds times this, 1 (above 1: a
                           test of whether the line is the car's limit) */
} td_driver_config;

void td_driver_config_default(td_driver_config *cfg, td_driver_kind kind);
const char *td_driver_kind_name(td_driver_kind k);
int td_driver_kind_parse(const char *s, td_driver_kind *out);

/* A racing line for one track direction: points, arc lengths and target speeds. */
typedef struct td_driver {
    td_driver_config cfg;
    const td_track *track;
    int n;                 /* line points (a closed loop repeats nothing: point n wraps) */
    double *x, *y, *s, *v; /* one allocation */
    double *lat;           /* lateral offset of each line point from the centre (+ left) */
    double *kappa;         /* racing-line: curvature of each line point (else NULL) */
    double length;
    int cursor;        /* last nearest line point (incremental search) */
    double lap_time_s; /* racing-line: the line's lap time on paper (else 0) */
} td_driver;

/* Builds the racing line of `track` (kept by pointer: it must outlive the driver). */
int td_driver_init(td_driver *d, const td_driver_config *cfg, const td_track *track, td_err *err);
void td_driver_free(td_driver *d);
/* Forgets the incremental position (after a teleport or a reset). */
void td_driver_reset(td_driver *d);

/*
 * The action for a car in state s, with its params (for objects to avoid; may be NULL).
 * Writes steering in degrees (+ left) and speed in m/s.
 */
void td_driver_act(td_driver *d, const td_car_config *car, const td_car_state *s,
                   const td_params *p, double *steer_deg, double *speed);

/*
 * Races the built-in driver in an env of one car made from cfg (its mode, laps, car and race
 * type are used as given) until the episode ends, and copies its episode info. max_err_m
 * (may be NULL) receives the largest distance of the car's origin from the driver's line
 * after the first lap (which starts from rest on the centreline).
 */
int td_driver_race(const td_track *t, const td_sim_config *cfg, const td_driver_config *dc,
                   td_episode_info *info, double *max_err_m, td_err *err);

/* ---- racing line (src/sim/racing.c) -----------------------------------------------------------
 */

/*
 * The minimum-time line around a closed track for a car: a lateral offset from the
 * centreline every TD_RACING_STEP_M of centreline arc (a periodic cubic B-spline of control
 * offsets, so its curvature is continuous), inside the road less the car's footprint, and
 * the fastest speed profile the car can drive on it (its grip, steering limit and steering
 * response, top speed, acceleration from its speed response). The search moves one control
 * offset at a time while the lap time falls (coordinate descent with shrinking steps) from
 * the centreline. Then the driven refinement: the racing-line driver drives the line in the
 * simulator (an env of the car), the margin widens where a wheel leaves the road and the
 * search goes on, and the speeds are scaled metre by metre while the driven laps get faster
 * with every wheel on the road; the line's speeds and lap time are then the simulated car's.
 * docs/sim.md, "The racing line".
 */
#define TD_RACING_STEP_M 0.05

void td_racing_options_default(td_racing_options *o, const td_car_config *car);

typedef struct td_racing_line {
    int n;              /* points, one per TD_RACING_STEP_M of centreline (point n wraps to 0) */
    double *x, *y;      /* the car origin's path */
    double *lat;        /* lateral offset from the centreline, + left */
    double *s;          /* centreline arc of each point */
    double *d;          /* distance along the line from point 0 */
    double *kappa;      /* signed curvature, 1/m */
    double *v;          /* speed profile, m/s: refined, the simulated car's pace along the line
                           (the line's length over its time between points, laps 2-5) */
    double *t;          /* time from point 0 on a flying lap, s */
    double *v_cmd;      /* the speeds the racing-line driver commands (the refined profile; without
                           refinement equal to v) */
    double length_m;    /* of the line */
    double lap_time_s;  /* flying lap of the speeds v along the line: refined, the simulated
                           car's (= drive_lap_s); else the planner's on paper */
    double plan_lap_s;  /* the planner's profile on paper (before the driven refinement) */
    double drive_lap_s; /* the refinement's simulated flying lap, -1 without refinement */
    int refine_evals;   /* simulated drives the refinement made */
    double drive_clearance_m; /* the refinement's driven laps: smallest wheel clearance (0 when
                                 the episode's all_wheels_on_track held throughout) */
    double centerline_lap_s;  /* the same profile computed on the centreline, for comparison */
    double min_margin_m;      /* smallest clearance of a wheel (td_car_wheels) to the road's edge */
    int sweeps;
    long search_evals; /* the path search's evaluations of a moved line */
    long search_work;  /* their work: the stations whose line they recomputed plus the steps of
                          the speed profile's 8 passes they recomputed (a whole evaluation is
                          9 n; a local one, a few stretches around the move) */
} td_racing_line;

/*
 * Computes the racing line of closed track t (forward direction as given) for car. On error
 * (an open route, a road narrower than the car) nothing is allocated. Free with
 * td_racing_line_free.
 */
int td_racing_line_compute(td_racing_line *rl, const td_track *t, const td_car_config *car,
                           const td_racing_options *o, td_err *err);
void td_racing_line_free(td_racing_line *rl);

/* ---- shared worlds: cars of separate envs that see each other (src/sim/shared_world.c) ---- */

/*
 * Races of several models run one env per car (each model has its own sensors) stepped in
 * lockstep. Every car's world holds the other cars as boxes where they stand: a step judges
 * params and collisions there, at the instant all cars chose their actions (DeepRacer's
 * update_agent of every racer, before the physics); after all cars stepped, each world gets
 * the others' new poses and td_vecenv_refresh renders its observation with them.
 *
 * td_vecenv_set_external_boxes puts n boxes (0 <= n <= TD_MAX_OBJECTS; other cars:
 * TD_BOX_CAR) into car i's world as its objects: the next step's params (objects_*,
 * closest_objects, object_in_camera; objects_speed and objects_heading read 0 as for
 * obstacles), its collision test (DeepRacer's rule for cars: running into a car ahead is a
 * crash, after which the car waits out its penalty where it stands; being run into from
 * behind is not) and its sensors (camera, lidar, state features 13-15)
 * see them. They stay until the next call or the start of the car's next episode. Only for a
 * world without obstacles or bots of its own: TD_EINVAL otherwise.
 */
int td_vecenv_set_external_boxes(td_vecenv *env, int i, const td_box *boxes, int n, td_err *err);

/* Car i's state after one step with action (steering_deg, speed), by the env's own physics
 * (bit-identical to td_vecenv_step's; a car in its prepare or a pause step stays where it is,
 * at rest), without changing anything: where the car will be after the step. */
void td_vecenv_predict(const td_vecenv *env, int i, const float action[2], td_car_state *out);

/* Recomputes car i's params (no end rules; the next step's progress and reverse rule still
 * compare with the last step's) and observations from its current pose and boxes, e.g. after
 * td_vecenv_teleport or td_vecenv_set_external_boxes, so the next action sees them. */
void td_vecenv_refresh(td_vecenv *env, int i);

/* ---- observations at random poses ------------------------------------------------------ */

/* One car's observation: pointers into the sampler's buffers (NULL for a sensor cfg lacks). */
typedef struct td_sim_obs {
    const uint8_t *camera; /* camera bytes (td_vecenv_camera_bytes) */
    const float *lidar;    /* td_vecenv_lidar_dim floats */
    const float *state;    /* TD_STATE_DIM floats */
} td_sim_obs;

/*
 * A car placed at random poses on a track (within the road, heading near the track's), with
 * every sensor of cfg as the vector env computes it: calibration data for quantized models
 * and input for benchmarks. Borrows track (it must outlive the sampler).
 */
typedef struct td_obs_sampler {
    td_vecenv env;
    td_vecenv_buffers buf;
    const td_track *track;
    uint64_t seed;
} td_obs_sampler;

int td_obs_sampler_init(td_obs_sampler *s, const td_sim_config *cfg, const td_track *track,
                        uint64_t seed, td_err *err);
/* Moves the car to pose i (deterministic in the seed and i) and fills out with what its
 * sensors see there; the pointers stay valid until the next draw. */
void td_obs_sampler_draw(td_obs_sampler *s, long i, td_sim_obs *out);
void td_obs_sampler_free(td_obs_sampler *s);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_SIM_H */
