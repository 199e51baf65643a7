/*
 * policy.h - a driving policy: the networks of a model (policy tower, and the value or Q
 * towers used in training) with DeepRacer's action space (model_metadata.json). It turns the
 * simulator's observations into actions (sampled for training, greedy for evaluation) and is
 * saved to and loaded from a .tdm model file. Part of the train layer.
 */
#ifndef TRACKDAY_POLICY_H
#define TRACKDAY_POLICY_H

#include "trackday/modeldir.h"
#include "trackday/nn.h"
#include "trackday/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct td_policy {
    td_model_metadata meta;
    int n_nets;
    td_nn_net nets[TD_NN_MAX_TOWERS];
    td_nn_net *pi;      /* policy tower */
    td_nn_net *v;       /* PPO value tower, else NULL */
    td_nn_net *q1, *q2; /* SAC critics, else NULL */
    int continuous;     /* 1: Gaussian over (steering, speed) */
    int sac;            /* 1: SAC: the env action is the tanh-squashed sample */
    int n_out;          /* policy outputs: n_actions (discrete) or 2 */
    int max_batch;
    int state_dim, lidar_dim;         /* observation sizes (0 when absent) */
    int camera_h, camera_w, camera_c; /* 0 when no camera */
} td_policy;

/* Observations of B cars, rows as the vector env writes them (NULL for an absent sensor). */
typedef struct td_policy_obs {
    const float *state;    /* (B, state_dim) */
    const uint8_t *camera; /* (B, H, W, C) */
    const float *lidar;    /* (B, lidar_dim) */
} td_policy_obs;

/* Sets the sensors (and lidar encoding) of a simulator configuration from the metadata, and
 * its car: the preset of the metadata's physics version (td_car_preset_for_version). */
void td_policy_sim_sensors(const td_model_metadata *m, td_sim_config *cfg);

/*
 * Builds fresh networks for the metadata's sensors, network and algorithm (PPO: policy +
 * value; SAC: policy + q1 + q2) for batches up to max_batch, initialized from rng.
 */
int td_policy_init(td_policy *p, const td_model_metadata *m, int max_batch, td_rng *rng,
                   td_err *err);
void td_policy_free(td_policy *p);

/* FNV-1a (64-bit) of every tower's parameters, bit for bit: equal hashes, identical weights. */
uint64_t td_policy_weights_hash(const td_policy *p);

/*
 * Saves the policy atomically as a .tdm file (docs/model-format.md) with the metadata in the
 * header; lineage (may be NULL) is copied into the header's "lineage".
 */
int td_policy_save(const td_policy *p, const char *path, const json_t *lineage, td_err *err);

/*
 * The same with the policy tower only: what driving needs (eval, race, replay, export,
 * quantize), without the value or Q towers training needs. Half the size or less; it cannot be
 * resumed from (model/best.tdm; model/last.tdm keeps every tower).
 */
int td_policy_save_driver(const td_policy *p, const char *path, const json_t *lineage, td_err *err);

/*
 * Checks that a loaded policy was made for the metadata want: the same sensors, network,
 * action space and algorithm (the physics version may differ). Returns 0, or TD_EINVAL with
 * a message that lists each difference ("sensor [\"STATE\"] -> [\"FRONT_FACING_CAMERA\"]"), what
 * naming the model.
 */
int td_policy_check_metadata(const td_policy *p, const td_model_metadata *want, const char *what,
                             td_err *err);

/* Loads a .tdm written by td_policy_save (the metadata comes from its header). */
int td_policy_load(td_policy *p, const char *path, int max_batch, td_err *err);

/*
 * Runs the policy tower on B observations and chooses actions.
 * greedy: argmax (discrete) or the mean (continuous); else a sample from rng.
 * env_actions (B, 2): steering_deg, speed_mps for the simulator (always written).
 * act_index (B): the discrete action (may be NULL). raw (B, 2): the continuous sample in the
 * network's units (PPO: before clipping to [-1, 1]; SAC: before tanh) (may be NULL).
 * logp (B): log-probability of the chosen action under the current policy (may be NULL).
 */
int td_policy_act(td_policy *p, const td_policy_obs *obs, int B, int greedy, td_rng *rng,
                  float *env_actions, int *act_index, float *raw, float *logp);

/*
 * e-greedy exploration (hyperparameters.json exploration_type "e-greedy"; rl_coach's EGreedy
 * on DeepRacer's discrete action space): after td_policy_act on the same B observations,
 * replaces each car's action with a uniformly random one with probability eps, else with the
 * policy's most likely one, and writes env_actions, act_index and logp (under the policy) for
 * it. Discrete policies only.
 */
void td_policy_egreedy(const td_policy *p, int B, double eps, td_rng *rng, float *env_actions,
                       int *act_index, float *logp);

/* Maps a continuous raw action to the simulator's (steering_deg, speed). */
void td_policy_raw_to_env(const td_policy *p, const float *raw, float *steer_deg, float *speed);

/* Fills a td_nn_input from observations. */
void td_policy_input(const td_policy_obs *obs, td_nn_input *in);

/* The observation rows of cars [first, first + B) of a vector env. */
void td_policy_obs_from_env(const td_vecenv *env, int first, td_policy_obs *obs);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_POLICY_H */
