/*
 * modeldir.h - a DeepRacer model directory's configuration: model_metadata.json,
 * hyperparameters.json and training_params.yaml (DEEPRACER.md sections 5, 7, 8), read with
 * DeepRacer's defaults and ranges. An out-of-range or unknown value is an error that names the
 * file and the key. Part of the train layer.
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
    td_action actions[TD_MAX_ACTIONS];  /* discrete, in network-output order */
    double steering_low, steering_high; /* continuous */
    double speed_low, speed_high;       /* continuous */
    td_algorithm algorithm;
    td_camera_sensor camera;
    td_lidar_sensor lidar;
    int state_sensor; /* 1 if "STATE" is among the sensors */
    td_network_kind network;
    int version; /* physics model selector; >= 5 near-kinematic */
    int lidar_num_sectors, lidar_values_per_sector;
    double lidar_clipping_dist;
} td_model_metadata;

/* DeepRacer's defaults: discrete, the console's 10 actions (steering {-30, -15, 0, 15, 30}
 * degrees x speed {0.4, 0.8} m/s), clipped PPO, FRONT_FACING_CAMERA, SHALLOW, version 5. */
void td_model_metadata_default(td_model_metadata *m);

/* Reads model_metadata.json. Missing keys take DeepRacer's defaults. */
int td_model_metadata_load(td_model_metadata *m, const char *path, td_err *err);

/* Reads the metadata from a parsed JSON object; `what` names the source in messages. */
int td_model_metadata_from_json(td_model_metadata *m, const json_t *root, const char *what,
                                td_err *err);

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

typedef struct td_hyperparams {
    int batch_size;         /* 32, 64, 128, 256, 512 */
    int num_epochs;         /* 3-10 */
    double lr;              /* 1e-8 - 1e-3 */
    double beta_entropy;    /* 0-1 */
    double discount_factor; /* 0-1 */
    td_loss_type loss_type;
    int num_episodes_between_training; /* 5-100 (SAC: 1 allowed) */
    td_exploration exploration_type;
    double e_greedy_value;
    long epsilon_steps;
    double sac_alpha; /* 0-1 */
    int stack_size;   /* 1 */
    long term_cond_max_episodes;
    double term_cond_avg_score;
} td_hyperparams;

void td_hyperparams_default(td_hyperparams *h);

/* Reads hyperparameters.json; algo decides the allowed range of num_episodes_between_training. */
int td_hyperparams_load(td_hyperparams *h, const char *path, td_algorithm algo, td_err *err);

/* ---- training_params.yaml ---------------------------------------------------------------- */

/* The keys of training_params.yaml trackday reads: the route name, the race (sim's
 * td_race_config, which holds every other key of DEEPRACER.md section 8) and the evaluation
 * settings (NUMBER_OF_TRIALS, IS_CONTINUOUS, NUMBER_OF_RESETS, OFF_TRACK_PENALTY,
 * COLLISION_PENALTY), which `trackday eval` starts from. */
typedef struct td_training_params {
    char world_name[128]; /* WORLD_NAME: route name, "" = not set */
    td_race_config race;
    td_eval_config eval;
} td_training_params;

void td_training_params_default(td_training_params *p);

/* Reads training_params.yaml (a flat mapping; OBJECT_POSITIONS a sequence of "p,lane"). Keys
 * DeepRacer uses for its cloud plumbing (S3 buckets, job names...) are accepted and ignored. */
int td_training_params_load(td_training_params *p, const char *path, td_err *err);

/* ---- the whole directory ------------------------------------------------------------------ */

typedef struct td_model_dir {
    char path[1024];
    td_model_metadata metadata;
    td_hyperparams hyper;
    td_training_params training;
    int has_training_params; /* training_params.yaml was present */
    int has_reward_py;       /* reward_function.py was present */
} td_model_dir;

/*
 * Reads a model directory: model_metadata.json and hyperparameters.json are required
 * (missing keys take defaults), training_params.yaml optional.
 */
int td_model_dir_load(td_model_dir *d, const char *dir, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_MODELDIR_H */
