/*
 * modeldir.h - a DeepRacer model directory's configuration: model_metadata.json,
 * hyperparameters.json, training_params.yaml and deepracer-for-cloud's run.env
 * (DEEPRACER.md sections 5, 7, 8; docs/deepracer.md), read as DeepRacer reads them:
 * DeepRacer's defaults for absent keys, numbers written as strings, enum values in any case
 * where DeepRacer lower-cases them. A value DeepRacer accepts but its console did not allow
 * is a warning that says what the console allowed; a value that cannot work is an error
 * naming the file and key. One policy for unknown keys in all four files: a warning naming
 * the closest known key. Part of the train layer.
 */
#ifndef TRACKDAY_MODELDIR_H
#define TRACKDAY_MODELDIR_H

#include "trackday/core.h"
#include "trackday/json.h"
#include "trackday/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_MAX_ACTIONS 64

/* ---- warnings and known keys ------------------------------------------------------------- */

#define TD_CONFIG_MAX_WARNINGS 32

/*
 * Warnings found while reading configuration files, kept for the caller to show (library
 * code never prints). Loaders take a td_config_warnings * that may be NULL: then each warning
 * goes to the log (TD_WARN) at once.
 */
typedef struct td_config_warnings {
    int n;       /* messages kept */
    int dropped; /* further warnings that did not fit */
    char msg[TD_CONFIG_MAX_WARNINGS][320];
} td_config_warnings;

void td_config_warnings_clear(td_config_warnings *w);
/* Adds a warning (or logs it when w is NULL). */
void td_config_warn(td_config_warnings *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

typedef enum td_config_file {
    TD_CONFIG_MODEL_METADATA = 0, /* model_metadata.json */
    TD_CONFIG_HYPERPARAMETERS,    /* hyperparameters.json */
    TD_CONFIG_TRAINING_PARAMS,    /* training_params.yaml */
    TD_CONFIG_RUN_ENV,            /* deepracer-for-cloud's run.env (DR_* variables) */
    TD_CONFIG_FILE_COUNT
} td_config_file;

typedef enum td_key_status {
    TD_KEY_SAME = 0,      /* read and used as DeepRacer uses it */
    TD_KEY_EXTENSION,     /* trackday's own key (DeepRacer does not have it) */
    TD_KEY_NO_EFFECT,     /* DeepRacer's cloud plumbing or looks: accepted, nothing to do */
    TD_KEY_NOT_SUPPORTED, /* DeepRacer reads it, trackday does not: a warning when the value
                             is not DeepRacer's default */
    TD_KEY_STATUS_COUNT
} td_key_status;

/* One key a configuration file may hold. */
typedef struct td_config_key {
    const char *name;
    td_key_status status;
    const char *maps_to;    /* run.env: the training_params.yaml key it becomes; else NULL */
    const char *dr_default; /* NOT_SUPPORTED: DeepRacer's default value (no warning for it) */
    const char *why;        /* NOT_SUPPORTED: why trackday does not read it */
    int eval_setting;       /* 1: an evaluation setting, meaningless for training (never a
                               warning when a training run reads it) */
} td_config_key;

/* "same", "extension", "no effect", "not supported". */
const char *td_key_status_name(td_key_status s);
/* The file's name as users see it ("training_params.yaml"). */
const char *td_config_file_name(td_config_file f);
/* The keys trackday knows for a file (*n of them, in a fixed order). */
const td_config_key *td_config_keys(td_config_file f, int *n);
/* The key named `name` (exact match), or NULL. */
const td_config_key *td_config_key_find(td_config_file f, const char *name);

/* ---- model_metadata.json ---------------------------------------------------------------- */

typedef enum { TD_ACTIONS_DISCRETE = 0, TD_ACTIONS_CONTINUOUS = 1 } td_action_space_type;
typedef enum { TD_ALGO_CLIPPED_PPO = 0, TD_ALGO_SAC = 1 } td_algorithm;

/* Camera sensors (at most one) and lidar sensors (at most one); STATE is trackday's own. */
typedef enum {
    TD_CAMERA_NONE = 0,
    TD_CAMERA_FRONT = 1,  /* FRONT_FACING_CAMERA */
    TD_CAMERA_STEREO = 2, /* STEREO_CAMERAS */
    TD_CAMERA_LEFT = 3    /* LEFT_CAMERA (DeepRacer's left lens of the stereo pair) */
} td_camera_sensor;

typedef enum {
    TD_LIDAR_NONE = 0,
    TD_LIDAR_CLIPPED = 1,    /* LIDAR */
    TD_LIDAR_SECTOR = 2,     /* SECTOR_LIDAR */
    TD_LIDAR_DISCRETIZED = 3 /* DISCRETIZED_SECTOR_LIDAR */
} td_lidar_sensor;

typedef enum {
    TD_NET_SHALLOW = 0,  /* DEEP_CONVOLUTIONAL_NETWORK_SHALLOW */
    TD_NET_STANDARD = 1, /* DEEP_CONVOLUTIONAL_NETWORK */
    TD_NET_DEEP = 2,     /* DEEP_CONVOLUTIONAL_NETWORK_DEEP */
    TD_NET_MLP = 3       /* trackday's MLP for the STATE sensor */
} td_network_kind;

typedef struct td_action {
    double steering_deg;
    double speed_mps;
} td_action;

typedef struct td_model_metadata {
    td_action_space_type action_space_type;
    int n_actions;                      /* discrete */
    td_action actions[TD_MAX_ACTIONS];  /* discrete, in network-output order, as written (the
                                           simulator clips the command, params keep it) */
    double steering_low, steering_high; /* continuous */
    double speed_low, speed_high;       /* continuous */
    td_algorithm algorithm;
    td_camera_sensor camera;
    td_lidar_sensor lidar;
    int state_sensor; /* 1 if "STATE" is among the sensors */
    td_network_kind network;
    /* DeepRacer's simapp version: the "version" key, else 2 when "sensor" is given, else 1.
     * It selects DeepRacer's car physics (< 5 dynamic, >= 5 near-kinematic). */
    int version;
    int lidar_num_sectors, lidar_values_per_sector;
    double lidar_clipping_dist;
} td_model_metadata;

/* trackday's defaults for a new model: discrete, the console's 10 actions (steering
 * {-30, -15, 0, 15, 30} degrees x speed {0.4, 0.8} m/s), clipped PPO, FRONT_FACING_CAMERA,
 * SHALLOW, version 5. (A file must name its action space: DeepRacer has no default for it.) */
void td_model_metadata_default(td_model_metadata *m);

/*
 * Reads model_metadata.json as DeepRacer's parser does: "action_space" is required;
 * "action_space_type" and "training_algorithm" in any case and with spaces around; numbers
 * may be strings; no "version" means version 2 with a "sensor" list, else version 1 with the
 * camera DeepRacer called "observation"; a version 2+ file must list its sensors. Actions
 * outside the console's ranges (steering -30..30 degrees, speed 0.1..4 m/s) are warnings:
 * DeepRacer clips the command and so does trackday. warn may be NULL (warnings are logged).
 */
int td_model_metadata_load(td_model_metadata *m, const char *path, td_config_warnings *warn,
                           td_err *err);

/* Reads the metadata from a parsed JSON object; `what` names the source in messages. */
int td_model_metadata_from_json(td_model_metadata *m, const json_t *root, const char *what,
                                td_config_warnings *warn, td_err *err);

/* The metadata as DeepRacer's model_metadata.json object (new reference). */
json_t *td_model_metadata_to_json(const td_model_metadata *m);

/* Names as DeepRacer writes them. */
const char *td_camera_sensor_name(td_camera_sensor s);
const char *td_lidar_sensor_name(td_lidar_sensor s);
const char *td_network_name(td_network_kind n);
const char *td_algorithm_name(td_algorithm a);

/* ---- hyperparameters.json ---------------------------------------------------------------- */

typedef enum { TD_LOSS_HUBER = 0, TD_LOSS_MSE = 1 } td_loss_type;
typedef enum { TD_EXPLORE_CATEGORICAL = 0, TD_EXPLORE_EGREEDY = 1 } td_exploration;

/* The keys DeepRacer reads, with its defaults for absent keys; the console's ranges are in
 * comments (a value outside them is a warning). */
typedef struct td_hyperparams {
    int batch_size;                    /* 64; console 32, 64, 128, 256, 512 */
    int num_epochs;                    /* 10; console 3-10 */
    double lr;                         /* 0.0003; console 1e-8 - 1e-3 */
    double beta_entropy;               /* 0.01; console 0-1 */
    double discount_factor;            /* 0.999; console 0-1 */
    td_loss_type loss_type;            /* mean squared error; anything but "huber" is MSE */
    int num_episodes_between_training; /* 20; console 5-100 */
    td_exploration exploration_type;   /* categorical */
    double e_greedy_value;             /* 0.05: e-greedy's final epsilon */
    long epsilon_steps;                /* 10000: steps of each car from epsilon 1 to the final */
    double sac_alpha;                  /* 0.2 */
    int stack_size;                    /* 1 (DeepRacer reads it and stacks one frame anyway) */
    long term_cond_max_episodes;       /* 100000: training stops after this many episodes */
    double term_cond_avg_score;        /* 100000: read, and unused, as in DeepRacer */
} td_hyperparams;

void td_hyperparams_default(td_hyperparams *h);

/* Reads hyperparameters.json; algo decides the console range of num_episodes_between_training
 * (SAC allowed 1). warn may be NULL. */
int td_hyperparams_load(td_hyperparams *h, const char *path, td_algorithm algo,
                        td_config_warnings *warn, td_err *err);

/* e-greedy's epsilon after `step` steps of a car: DeepRacer's LinearSchedule(1.0,
 * e_greedy_value, epsilon_steps). */
double td_hyperparams_epsilon(const td_hyperparams *h, long step);

/* ---- training_params.yaml and run.env ---------------------------------------------------- */

/* The keys of training_params.yaml trackday reads: the route name, the race (sim's
 * td_race_config, which holds every other key of DEEPRACER.md section 8) and the evaluation
 * settings (NUMBER_OF_TRIALS, IS_CONTINUOUS, NUMBER_OF_RESETS, OFF_TRACK_PENALTY,
 * COLLISION_PENALTY), which `trackday eval` starts from. */
typedef struct td_training_params {
    char world_name[128]; /* WORLD_NAME: route name, "" = not set; with
                             TRACK_DIRECTION_CLOCKWISE, the _cw/_ccw suffix DeepRacer appends */
    int track_direction;  /* TRACK_DIRECTION_CLOCKWISE as read: 0 not given, 1 clockwise (_cw),
                             -1 counter-clockwise (_ccw) */
    td_race_config race;
    td_eval_config eval;
    int min_eval_trials;     /* MIN_EVAL_TRIALS: greedy evaluation episodes per iteration (5) */
    char eval_checkpoint[8]; /* EVAL_CHECKPOINT: "best" or "last" for trackday eval; "" = not
                                set */
} td_training_params;

void td_training_params_default(td_training_params *p);

/*
 * Reads training_params.yaml (a flat mapping; OBJECT_POSITIONS a sequence of "p,lane").
 * DeepRacer's cloud plumbing keys (S3 buckets, job names...) are accepted; a key DeepRacer
 * reads that trackday does not support is a warning when its value is not DeepRacer's
 * default; an unknown key is a warning naming the closest known key. warn may be NULL.
 */
int td_training_params_load(td_training_params *p, const char *path, td_config_warnings *warn,
                            td_err *err);

/*
 * Widens the domain randomization of the training_params.yaml at path (created when absent):
 * its ranges become the union of the file's (or the defaults) and want, written as the
 * DOMAIN_RANDOMIZATION_* keys with ENABLE_DOMAIN_RANDOMIZATION: true; the file's other lines
 * stay as they were. *out (may be NULL) gets the ranges the file now holds. A retraining job
 * after a drift alert does this (docs/drift.md, "Closing the loop").
 */
int td_training_params_widen_dr(const char *path, const td_dr_ranges *want, td_dr_ranges *out,
                                td_err *err);

/*
 * Reads an evaluation's settings file (deepracer-for-cloud's evaluation_params.yaml, which
 * DeepRacer's evaluation worker reads as its whole configuration): the keys and policy of
 * training_params.yaml, and evaluation settings trackday does not support are warnings when
 * they are not DeepRacer's defaults.
 */
int td_evaluation_params_load(td_training_params *p, const char *path, td_config_warnings *warn,
                              td_err *err);

/*
 * Reads deepracer-for-cloud's run.env (KEY=value lines, # comments, $VAR references to keys
 * above) into training parameters, as DRfC's prepare-config.py turns it into
 * training_params.yaml: DR_WORLD_NAME -> WORLD_NAME, DR_TRAIN_REVERSE_DIRECTION ->
 * REVERSE_DIR, the DR_OA_* keys only for OBJECT_AVOIDANCE and DR_H2B_* only for HEAD_TO_BOT.
 */
int td_run_env_load(td_training_params *p, const char *path, td_config_warnings *warn, td_err *err);

/* ---- the whole directory ------------------------------------------------------------------ */

typedef struct td_model_dir {
    char path[1024];
    td_model_metadata metadata;
    td_hyperparams hyper;
    td_training_params training;
    int has_training_params;       /* training_params.yaml was present */
    int has_run_env;               /* run.env was read (no training_params.yaml) */
    td_training_params evaluation; /* evaluation_params.yaml, when present */
    int has_evaluation_params;     /* evaluation_params.yaml was present */
    int has_reward_py;             /* reward_function.py was present */
    td_config_warnings warnings;   /* for the caller to show */
} td_model_dir;

/*
 * Reads a model directory: model_metadata.json is required; hyperparameters.json is optional
 * (DeepRacer's defaults), training_params.yaml optional (else run.env if present);
 * evaluation_params.yaml optional. Warnings are collected in d->warnings.
 */
int td_model_dir_load(td_model_dir *d, const char *dir, td_err *err);

/*
 * Refuses DIR as a model directory when it is a file or cannot be entered, with the one
 * message every command gives; a DIR that does not exist passes (the caller says what makes
 * it). td_model_dir_load checks it first.
 */
int td_model_dir_check(const char *dir, td_err *err);

/* What an evaluation of the directory starts from: evaluation_params.yaml when present (as
 * DeepRacer's evaluation worker reads only it), else the training settings. */
const td_training_params *td_model_dir_eval_params(const td_model_dir *d);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_MODELDIR_H */
