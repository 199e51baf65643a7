/*
 * modeldir.c - reads a DeepRacer model directory's configuration files as DeepRacer reads
 * them (DEEPRACER.md sections 5, 7, 8; docs/deepracer.md): model_metadata.json as
 * ModelMetadata.parse_model_metadata does, hyperparameters.json as
 * get_updated_hyper_parameters does, training_params.yaml as the simulator's get_param calls
 * do, and deepracer-for-cloud's run.env as its prepare-config.py turns it into
 * training_params.yaml. Values DeepRacer accepts outside its console's ranges are warnings;
 * values that cannot work are errors naming the file and key. Unknown keys in every file get
 * one treatment: a warning naming the closest known key.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "trackday/json.h"
#include "trackday/modeldir.h"

/* ==================================================================================== */
/* Warnings                                                                             */
/* ==================================================================================== */

void td_config_warnings_clear(td_config_warnings *w)
{
    w->n = 0;
    w->dropped = 0;
}

void td_config_warn(td_config_warnings *w, const char *fmt, ...)
{
    char msg[sizeof(w->msg[0])];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!w) {
        TD_WARN("%s", msg);
        return;
    }
    /* The same file read twice must not say the same thing twice. */
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->msg[i], msg))
            return;
    if (w->n >= TD_CONFIG_MAX_WARNINGS) {
        w->dropped++;
        return;
    }
    memcpy(w->msg[w->n++], msg, sizeof(msg));
}

/* ==================================================================================== */
/* Known keys                                                                           */
/* ==================================================================================== */

#define SAME(k)                                                                                    \
    {                                                                                              \
        k, TD_KEY_SAME, NULL, NULL, NULL, 0                                                        \
    }
#define NO_EFFECT(k)                                                                               \
    {                                                                                              \
        k, TD_KEY_NO_EFFECT, NULL, NULL, NULL, 0                                                   \
    }
#define NOT_SUP(k, d, why)                                                                         \
    {                                                                                              \
        k, TD_KEY_NOT_SUPPORTED, NULL, d, why, 0                                                   \
    }
#define EVAL_KEY(k, d, why)                                                                        \
    {                                                                                              \
        k, TD_KEY_NOT_SUPPORTED, NULL, d, why, 1                                                   \
    }
#define EXT(k)                                                                                     \
    {                                                                                              \
        k, TD_KEY_EXTENSION, NULL, NULL, NULL, 0                                                   \
    }
#define ENV(k, to)                                                                                 \
    {                                                                                              \
        k, TD_KEY_SAME, to, NULL, NULL, 0                                                          \
    }
#define ENV_NO(k, to)                                                                              \
    {                                                                                              \
        k, TD_KEY_NO_EFFECT, to, NULL, NULL, 0                                                     \
    }
#define ENV_NOT(k, to, d, why)                                                                     \
    {                                                                                              \
        k, TD_KEY_NOT_SUPPORTED, to, d, why, 0                                                     \
    }
#define ENV_EVAL(k, to, d, why)                                                                    \
    {                                                                                              \
        k, TD_KEY_NOT_SUPPORTED, to, d, why, 1                                                     \
    }

static const td_config_key METADATA_KEYS[] = {
    SAME("action_space"),
    SAME("action_space_type"),
    SAME("training_algorithm"),
    SAME("sensor"),
    SAME("neural_network"),
    SAME("version"),
    SAME("lidar_config"),
    /* Written by DeepRacer's console and read by nothing in its simulator. */
    NO_EFFECT("preprocess_type"),
    NO_EFFECT("regional_parameters"),
    NO_EFFECT("mask_action"),
};

static const td_config_key HYPER_KEYS[] = {
    SAME("batch_size"),
    SAME("beta_entropy"),
    SAME("discount_factor"),
    SAME("e_greedy_value"),
    SAME("epsilon_steps"),
    SAME("exploration_type"),
    SAME("loss_type"),
    SAME("lr"),
    SAME("num_episodes_between_training"),
    SAME("num_epochs"),
    SAME("stack_size"),
    SAME("term_cond_avg_score"),
    SAME("term_cond_max_episodes"),
    SAME("sac_alpha"),
};

static const td_config_key TRAINING_KEYS[] = {
    SAME("WORLD_NAME"),
    SAME("TRACK_DIRECTION_CLOCKWISE"),
    SAME("RACE_TYPE"),
    SAME("REVERSE_DIR"),
    SAME("ALTERNATE_DRIVING_DIRECTION"),
    SAME("CHANGE_START_POSITION"),
    SAME("ROUND_ROBIN_ADVANCE_DIST"),
    SAME("NUMBER_OF_OBSTACLES"),
    SAME("MIN_DISTANCE_BETWEEN_OBSTACLES"),
    SAME("RANDOMIZE_OBSTACLE_LOCATIONS"),
    SAME("OBJECT_POSITIONS"),
    SAME("NUMBER_OF_BOT_CARS"),
    SAME("BOT_CAR_SPEED"),
    SAME("IS_LANE_CHANGE"),
    SAME("LOWER_LANE_CHANGE_TIME"),
    SAME("UPPER_LANE_CHANGE_TIME"),
    SAME("LANE_CHANGE_DISTANCE"),
    SAME("ENABLE_DOMAIN_RANDOMIZATION"),
    /* trackday's: the ranges domain randomization draws from (sensors.h, td_dr_ranges). */
    EXT("DOMAIN_RANDOMIZATION_BRIGHTNESS"),
    EXT("DOMAIN_RANDOMIZATION_CONTRAST"),
    EXT("DOMAIN_RANDOMIZATION_EXPOSURE"),
    EXT("DOMAIN_RANDOMIZATION_TEXTURE"),
    EXT("DOMAIN_RANDOMIZATION_NOISE"),
    EXT("DOMAIN_RANDOMIZATION_BLUR"),
    EXT("DOMAIN_RANDOMIZATION_VIGNETTE"),
    SAME("MIN_EVAL_TRIALS"),
    SAME("START_POSITION_OFFSET"),
    NOT_SUP("IS_OBSTACLE_BOT_CAR", "false", "trackday's obstacles are boxes"),
    NOT_SUP("OBSTACLE_TYPE", "box_obstacle", "trackday's obstacles are boxes"),
    SAME("MIN_DISTANCE_BETWEEN_BOT_CARS"),
    SAME("RANDOMIZE_BOT_CAR_LOCATIONS"),
    SAME("PENALTY_SECONDS"),
    NOT_SUP("NUMBER_OF_REVERSE_COUNTS", "15", "trackday's reversed rule counts 15 steps"),
    NOT_SUP("BEST_MODEL_METRIC", "progress",
            "trackday keeps the checkpoint with the best progress"),
    SAME("NUMBER_OF_TRIALS"),
    SAME("IS_CONTINUOUS"),
    SAME("NUMBER_OF_RESETS"),
    SAME("OFF_TRACK_PENALTY"),
    SAME("COLLISION_PENALTY"),
    EVAL_KEY("RESET_BEHIND_DIST", "1.0",
             "an evaluation setting trackday does not read: its reset pose is DeepRacer's "
             "default (docs/sim.md)"),
    EVAL_KEY("RESET_AHEAD_DIST", "1.0",
             "an evaluation setting trackday does not read: its reset pose is DeepRacer's "
             "default (docs/sim.md)"),
    EVAL_KEY("MAX_RESETS_AFTER_CRASH", "3",
             "an evaluation setting trackday does not read (docs/sim.md)"),
    EVAL_KEY("ENABLE_MERCY_RESET", "false",
             "an evaluation feature flag of DeepRacer's that trackday does not have"),
    NOT_SUP("START_POS_OFFSET", "0.75", "a head-to-head race setting; see trackday race"),
    NOT_SUP("RACE_DURATION", "180", "a live-race setting"),
    SAME("EVAL_CHECKPOINT"),
    /* Cloud plumbing, job names and looks: nothing in a local run depends on them. */
    NO_EFFECT("JOB_TYPE"),
    NO_EFFECT("AWS_REGION"),
    NO_EFFECT("APP_REGION"),
    NO_EFFECT("S3_ENDPOINT_URL"),
    NO_EFFECT("S3_KMS_CMK_ARN"),
    NO_EFFECT("SAGEMAKER_SHARED_S3_BUCKET"),
    NO_EFFECT("SAGEMAKER_SHARED_S3_PREFIX"),
    NO_EFFECT("METRICS_S3_BUCKET"),
    NO_EFFECT("METRICS_S3_OBJECT_KEY"),
    NO_EFFECT("METRIC_NAME"),
    NO_EFFECT("METRIC_NAMESPACE"),
    NO_EFFECT("SIMTRACE_S3_BUCKET"),
    NO_EFFECT("SIMTRACE_S3_PREFIX"),
    NO_EFFECT("MP4_S3_BUCKET"),
    NO_EFFECT("MP4_S3_OBJECT_PREFIX"),
    NO_EFFECT("MODEL_S3_BUCKET"),
    NO_EFFECT("MODEL_S3_PREFIX"),
    NO_EFFECT("POLICY_MODEL_S3_BUCKET"),
    NO_EFFECT("POLICY_MODEL_SAGEMAKER_S3_PREFIX"),
    NO_EFFECT("MODEL_METADATA_FILE_S3_KEY"),
    NO_EFFECT("REWARD_FILE_S3_KEY"),
    NO_EFFECT("TRAINING_JOB_ARN"),
    NO_EFFECT("ROBOMAKER_SIMULATION_JOB_ACCOUNT_ID"),
    NO_EFFECT("KINESIS_VIDEO_STREAM_NAME"),
    NO_EFFECT("KINESIS_WEBRTC_SIGNALING_CHANNEL_NAME"),
    NO_EFFECT("ENABLE_KINESIS"),
    NO_EFFECT("ENABLE_GUI"),
    NO_EFFECT("NUM_WORKERS"),
    NO_EFFECT("MULTI_CONFIG"),
    NO_EFFECT("NUMBER_OF_EPISODES"),
    NO_EFFECT("TARGET_REWARD_SCORE"),
    NO_EFFECT("VIDEO_JOB_TYPE"),
    NO_EFFECT("LEADERBOARD_TYPE"),
    NO_EFFECT("LEADERBOARD_NAME"),
    NO_EFFECT("MODEL_NAME"),
    NO_EFFECT("CAR_NAME"),
    NO_EFFECT("DISPLAY_NAME"),
    NO_EFFECT("RACER_NAME"),
    NO_EFFECT("CAR_COLOR"),
    NO_EFFECT("BODY_SHELL_TYPE"),
    NO_EFFECT("CAR_BACK_DECAL"),
    NO_EFFECT("CAR_SIDES_DECAL"),
    NO_EFFECT("CAR_TOP_DECAL"),
    NO_EFFECT("CAMERA_MAIN_ENABLE"),
    NO_EFFECT("CAMERA_SUB_ENABLE"),
    NO_EFFECT("ENABLE_EXTRA_KVS_OVERLAY"),
    NO_EFFECT("ENABLE_EPISODE_SIMTRACE"),
    NO_EFFECT("ENABLE_FIREHOSE_UPLOAD"),
    NO_EFFECT("FIREHOSE_METRICS_STREAM_NAME"),
    NO_EFFECT("FIREHOSE_SIMTRACE_STREAM_NAME"),
    NO_EFFECT("FIREHOSE_UPLOAD_FREQUENCY"),
    NO_EFFECT("SQS_QUEUE_URL"),
};

static const td_config_key RUN_ENV_KEYS[] = {
    ENV("DR_WORLD_NAME", "WORLD_NAME"),
    ENV("DR_RACE_TYPE", "RACE_TYPE"),
    ENV("DR_ENABLE_DOMAIN_RANDOMIZATION", "ENABLE_DOMAIN_RANDOMIZATION"),
    ENV("DR_TRAIN_CHANGE_START_POSITION", "CHANGE_START_POSITION"),
    ENV("DR_TRAIN_REVERSE_DIRECTION", "REVERSE_DIR"),
    ENV("DR_TRAIN_ALTERNATE_DRIVING_DIRECTION", "ALTERNATE_DRIVING_DIRECTION"),
    ENV("DR_TRAIN_ROUND_ROBIN_ADVANCE_DIST", "ROUND_ROBIN_ADVANCE_DIST"),
    ENV("DR_TRAIN_MIN_EVAL_TRIALS", "MIN_EVAL_TRIALS"),
    ENV("DR_OA_NUMBER_OF_OBSTACLES", "NUMBER_OF_OBSTACLES"),
    ENV("DR_OA_MIN_DISTANCE_BETWEEN_OBSTACLES", "MIN_DISTANCE_BETWEEN_OBSTACLES"),
    ENV("DR_OA_RANDOMIZE_OBSTACLE_LOCATIONS", "RANDOMIZE_OBSTACLE_LOCATIONS"),
    ENV("DR_OA_OBJECT_POSITIONS", "OBJECT_POSITIONS"),
    ENV("DR_H2B_IS_LANE_CHANGE", "IS_LANE_CHANGE"),
    ENV("DR_H2B_LOWER_LANE_CHANGE_TIME", "LOWER_LANE_CHANGE_TIME"),
    ENV("DR_H2B_UPPER_LANE_CHANGE_TIME", "UPPER_LANE_CHANGE_TIME"),
    ENV("DR_H2B_LANE_CHANGE_DISTANCE", "LANE_CHANGE_DISTANCE"),
    ENV("DR_H2B_NUMBER_OF_BOT_CARS", "NUMBER_OF_BOT_CARS"),
    ENV("DR_H2B_BOT_CAR_SPEED", "BOT_CAR_SPEED"),
    ENV("DR_TRAIN_START_POSITION_OFFSET", "START_POSITION_OFFSET"),
    ENV_NOT("DR_TRAIN_BEST_MODEL_METRIC", "BEST_MODEL_METRIC", "progress",
            "trackday keeps the checkpoint with the best progress"),
    ENV_NOT("DR_OA_IS_OBSTACLE_BOT_CAR", "IS_OBSTACLE_BOT_CAR", "false",
            "trackday's obstacles are boxes"),
    ENV_NOT("DR_OA_OBSTACLE_TYPE", "OBSTACLE_TYPE", "box_obstacle",
            "trackday's obstacles are boxes"),
    ENV("DR_H2B_MIN_DISTANCE_BETWEEN_BOT_CARS", "MIN_DISTANCE_BETWEEN_BOT_CARS"),
    ENV("DR_H2B_RANDOMIZE_BOT_CAR_LOCATIONS", "RANDOMIZE_BOT_CAR_LOCATIONS"),
    ENV("DR_H2B_BOT_CAR_PENALTY", "PENALTY_SECONDS"),
    /* Evaluation settings (DRfC writes them into evaluation_params.yaml). */
    ENV("DR_EVAL_NUMBER_OF_TRIALS", "NUMBER_OF_TRIALS"),
    ENV("DR_EVAL_IS_CONTINUOUS", "IS_CONTINUOUS"),
    ENV("DR_EVAL_MAX_RESETS", "NUMBER_OF_RESETS"),
    ENV("DR_EVAL_OFF_TRACK_PENALTY", "OFF_TRACK_PENALTY"),
    ENV("DR_EVAL_COLLISION_PENALTY", "COLLISION_PENALTY"),
    ENV_EVAL("DR_EVAL_RESET_BEHIND_DIST", "RESET_BEHIND_DIST", "1.0",
             "an evaluation setting trackday does not read: its reset pose is DeepRacer's "
             "default (docs/sim.md)"),
    ENV_EVAL("DR_EVAL_REVERSE_DIRECTION", "REVERSE_DIR", "false",
             "an evaluation setting: trackday eval --reverse"),
    ENV("DR_EVAL_CHECKPOINT", "EVAL_CHECKPOINT"),
    /* DRfC's own plumbing: run ids, S3 prefixes, video, the car's looks. */
    ENV_NO("DR_RUN_ID", NULL),
    ENV_NO("DR_CAR_NAME", "CAR_NAME"),
    ENV_NO("DR_CAR_BODY_SHELL_TYPE", "BODY_SHELL_TYPE"),
    ENV_NO("DR_CAR_COLOR", "CAR_COLOR"),
    ENV_NO("DR_DISPLAY_NAME", "DISPLAY_NAME"),
    ENV_NO("DR_RACER_NAME", "RACER_NAME"),
    ENV_NO("DR_EVAL_SAVE_MP4", NULL),
    ENV_NO("DR_EVAL_OPP_S3_MODEL_PREFIX", NULL),
    ENV_NO("DR_EVAL_OPP_CAR_BODY_SHELL_TYPE", NULL),
    ENV_NO("DR_EVAL_OPP_CAR_NAME", NULL),
    ENV_NO("DR_EVAL_OPP_DISPLAY_NAME", NULL),
    ENV_NO("DR_EVAL_OPP_RACER_NAME", NULL),
    ENV_NO("DR_EVAL_DEBUG_REWARD", NULL),
    ENV_NO("DR_EVAL_RTF", NULL),
    ENV_NO("DR_TRAIN_RTF", NULL),
    ENV_NO("DR_TRAIN_MULTI_CONFIG", "MULTI_CONFIG"),
    ENV_NO("DR_TRAIN_MAX_STEPS_PER_ITERATION", NULL),
    ENV_NO("DR_LOCAL_S3_MODEL_PREFIX", NULL),
    ENV_NO("DR_LOCAL_S3_PRETRAINED", NULL),
    ENV_NO("DR_LOCAL_S3_PRETRAINED_PREFIX", NULL),
    ENV_NO("DR_LOCAL_S3_PRETRAINED_CHECKPOINT", NULL),
    ENV_NO("DR_LOCAL_S3_CUSTOM_FILES_PREFIX", NULL),
    ENV_NO("DR_LOCAL_S3_TRAINING_PARAMS_FILE", NULL),
    ENV_NO("DR_LOCAL_S3_EVAL_PARAMS_FILE", NULL),
    ENV_NO("DR_LOCAL_S3_MODEL_METADATA_KEY", NULL),
    ENV_NO("DR_LOCAL_S3_HYPERPARAMETERS_KEY", NULL),
    ENV_NO("DR_LOCAL_S3_REWARD_KEY", NULL),
    ENV_NO("DR_LOCAL_S3_METRICS_PREFIX", NULL),
    ENV_NO("DR_UPLOAD_S3_PREFIX", NULL),
    ENV_NO("DR_CAMERA_MAIN_ENABLE", "CAMERA_MAIN_ENABLE"),
    ENV_NO("DR_CAMERA_SUB_ENABLE", "CAMERA_SUB_ENABLE"),
    ENV_NO("DR_ENABLE_EXTRA_KVS_OVERLAY", "ENABLE_EXTRA_KVS_OVERLAY"),
};

#undef SAME
#undef EXT
#undef NO_EFFECT
#undef NOT_SUP
#undef EVAL_KEY
#undef ENV_EVAL
#undef ENV
#undef ENV_NO
#undef ENV_NOT

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const td_config_key *td_config_keys(td_config_file f, int *n)
{
    switch (f) {
    case TD_CONFIG_MODEL_METADATA:
        *n = COUNT(METADATA_KEYS);
        return METADATA_KEYS;
    case TD_CONFIG_HYPERPARAMETERS:
        *n = COUNT(HYPER_KEYS);
        return HYPER_KEYS;
    case TD_CONFIG_TRAINING_PARAMS:
        *n = COUNT(TRAINING_KEYS);
        return TRAINING_KEYS;
    case TD_CONFIG_RUN_ENV:
        *n = COUNT(RUN_ENV_KEYS);
        return RUN_ENV_KEYS;
    default:
        *n = 0;
        return NULL;
    }
}

const td_config_key *td_config_key_find(td_config_file f, const char *name)
{
    int n;
    const td_config_key *keys = td_config_keys(f, &n);
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

const char *td_key_status_name(td_key_status s)
{
    switch (s) {
    case TD_KEY_SAME:
        return "same";
    case TD_KEY_EXTENSION:
        return "extension";
    case TD_KEY_NO_EFFECT:
        return "no effect";
    case TD_KEY_NOT_SUPPORTED:
        return "not supported";
    default:
        return "?";
    }
}

const char *td_config_file_name(td_config_file f)
{
    static const char *const names[TD_CONFIG_FILE_COUNT] = {
        "model_metadata.json", "hyperparameters.json", "training_params.yaml", "run.env"};
    return f >= 0 && f < TD_CONFIG_FILE_COUNT ? names[f] : "?";
}

/*
 * The one treatment of an unknown key, in every file: a warning that it is ignored, naming
 * the closest known key when one is close enough to be a typo. `where` is "path" or
 * "path:line".
 */
static void unknown_key(td_config_file f, const char *key, const char *where, td_config_warnings *w)
{
    const char *names[256];
    int n;
    const td_config_key *keys = td_config_keys(f, &n);
    if (n > COUNT(names))
        n = COUNT(names);
    for (int i = 0; i < n; i++)
        names[i] = keys[i].name;
    const char *near = td_closest_name(key, names, n, NULL);
    if (near)
        td_config_warn(w, "%s: unknown key \"%s\" ignored; did you mean \"%s\"?", where, key, near);
    else
        td_config_warn(w,
                       "%s: unknown key \"%s\" ignored (no known key is close; docs/deepracer.md "
                       "lists the keys of %s)",
                       where, key, td_config_file_name(f));
}

/* ==================================================================================== */
/* Values as DeepRacer's Python reads them                                              */
/* ==================================================================================== */

/* Python's float() of a string: surrounding spaces allowed, the whole text a number. Only
 * finite values are accepted (a NaN or infinite setting cannot work). */
static int parse_float_text(const char *s, double *out)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Python's int() of a string: optional sign and digits only ("64", " 64 "; not "64.0"). */
static int parse_int_text(const char *s, long *out)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    const char *d = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)*d))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

/* float(v) of a JSON value: a number, or a string holding one. */
static int json_float(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out) ? 0 : -1;
    }
    if (json_is_string(v))
        return parse_float_text(json_string_value(v), out);
    return -1;
}

/* An enum string as DeepRacer compares it after .lower().strip(). */
static void lower_strip(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    while (isspace((unsigned char)*s))
        s++;
    for (; *s && k + 1 < cap; s++)
        out[k++] = (char)tolower((unsigned char)*s);
    while (k > 0 && isspace((unsigned char)out[k - 1]))
        k--;
    out[k] = '\0';
}

/* ==================================================================================== */
/* Names                                                                                */
/* ==================================================================================== */

const char *td_camera_sensor_name(td_camera_sensor s)
{
    switch (s) {
    case TD_CAMERA_FRONT:
        return "FRONT_FACING_CAMERA";
    case TD_CAMERA_STEREO:
        return "STEREO_CAMERAS";
    case TD_CAMERA_LEFT:
        return "LEFT_CAMERA";
    default:
        return "NONE";
    }
}

const char *td_lidar_sensor_name(td_lidar_sensor s)
{
    switch (s) {
    case TD_LIDAR_CLIPPED:
        return "LIDAR";
    case TD_LIDAR_SECTOR:
        return "SECTOR_LIDAR";
    case TD_LIDAR_DISCRETIZED:
        return "DISCRETIZED_SECTOR_LIDAR";
    default:
        return "NONE";
    }
}

const char *td_network_name(td_network_kind n)
{
    switch (n) {
    case TD_NET_SHALLOW:
        return "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW";
    case TD_NET_STANDARD:
        return "DEEP_CONVOLUTIONAL_NETWORK";
    case TD_NET_DEEP:
        return "DEEP_CONVOLUTIONAL_NETWORK_DEEP";
    case TD_NET_MLP:
        return "MLP";
    }
    return "?";
}

const char *td_algorithm_name(td_algorithm a)
{
    return a == TD_ALGO_SAC ? "sac" : "clipped_ppo";
}

/* ==================================================================================== */
/* model_metadata.json                                                                  */
/* ==================================================================================== */

/* The console's limits; DeepRacer clips commands to them (rollout_agent_ctrl.py). */
#define STEER_MAX_DEG 30.0
#define SPEED_MIN     0.1
#define SPEED_MAX     4.0

void td_model_metadata_default(td_model_metadata *m)
{
    static const double steer[5] = {-30, -15, 0, 15, 30};
    static const double speed[2] = {0.4, 0.8};
    memset(m, 0, sizeof(*m));
    m->action_space_type = TD_ACTIONS_DISCRETE;
    for (int s = 0; s < 2; s++)
        for (int a = 0; a < 5; a++) {
            m->actions[m->n_actions].steering_deg = steer[a];
            m->actions[m->n_actions].speed_mps = speed[s];
            m->n_actions++;
        }
    m->steering_low = -30;
    m->steering_high = 30;
    m->speed_low = 0.5;
    m->speed_high = 1.0;
    m->algorithm = TD_ALGO_CLIPPED_PPO;
    m->camera = TD_CAMERA_FRONT;
    m->lidar = TD_LIDAR_NONE;
    m->network = TD_NET_SHALLOW;
    m->version = 5;
    m->lidar_num_sectors = 8;
    m->lidar_values_per_sector = 8;
    m->lidar_clipping_dist = 2.0;
}

/* A warning for an action value outside the console's range (DeepRacer runs it, clipped). */
static void check_action_value(const char *what, const char *key, double v,
                               td_config_warnings *warn)
{
    if (!strcmp(key, "steering_angle")) {
        if (v < -STEER_MAX_DEG || v > STEER_MAX_DEG)
            td_config_warn(warn,
                           "%s: \"steering_angle\" %g is outside the console's range [-30, 30]; "
                           "DeepRacer and trackday steer at most %g degrees (params carry %g)",
                           what, v, v < 0 ? -STEER_MAX_DEG : STEER_MAX_DEG, v);
    } else if (v < SPEED_MIN || v > SPEED_MAX) {
        td_config_warn(warn,
                       "%s: \"speed\" %g is outside the console's range [0.1, 4]; DeepRacer and "
                       "trackday drive at %g m/s (params carry %g)",
                       what, v, v < SPEED_MIN ? SPEED_MIN : SPEED_MAX, v);
    }
}

/* Reads one action value: a number or a numeric string, as float() reads it. */
static int action_value(const json_t *o, const char *key, const char *what, double *out,
                        td_config_warnings *warn, td_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return td_err_set(err, TD_EFORMAT, "%s needs \"steering_angle\" and \"speed\"", what);
    if (json_float(v, out) != 0)
        return td_err_set(err, TD_EFORMAT,
                          "%s: \"%s\" must be a number (a finite number or a "
                          "string holding one)",
                          what, key);
    check_action_value(what, key, *out, warn);
    return 0;
}

/* Reads one continuous bound pair {"low": a, "high": b}; DeepRacer requires low < high. */
static int read_bounds(const json_t *space, const char *key, double *low, double *high,
                       const char *path, td_config_warnings *warn, td_err *err)
{
    const json_t *o = json_object_get(space, key);
    char what[1200];
    int rc;
    if (!json_is_object(o))
        return td_err_set(
            err, TD_EFORMAT,
            "%s: \"action_space\".\"%s\" must be an object {\"low\": .., \"high\": ..}"
            " for a continuous action space",
            path, key);
    if (!json_object_get(o, "low") || !json_object_get(o, "high"))
        return td_err_set(err, TD_EFORMAT, "%s: \"action_space\".\"%s\" needs \"low\" and \"high\"",
                          path, key);
    snprintf(what, sizeof(what), "%s: action_space.%s", path, key);
    if (json_float(json_object_get(o, "low"), low) != 0 ||
        json_float(json_object_get(o, "high"), high) != 0)
        return td_err_set(err, TD_EFORMAT, "%s: \"low\" and \"high\" must be numbers", what);
    if (!(*low < *high))
        return td_err_set(err, TD_ERANGE,
                          "%s: \"action_space\".\"%s\": low (%g) must be less than high (%g)", path,
                          key, *low, *high);
    for (int k = 0; k < 2; k++) {
        char w2[1300];
        snprintf(w2, sizeof(w2), "%s.%s", what, k ? "high" : "low");
        check_action_value(w2, key, k ? *high : *low, warn);
    }
    rc = 0;
    return rc;
}

static int read_action_space(td_model_metadata *m, const json_t *root, const char *path,
                             td_config_warnings *warn, td_err *err)
{
    const json_t *space = json_object_get(root, "action_space");
    if (!space)
        return td_err_set(err, TD_EFORMAT,
                          "%s: no \"action_space\" (DeepRacer refuses a model_metadata.json "
                          "without one: \"no action space defined\")",
                          path);
    if (m->action_space_type == TD_ACTIONS_CONTINUOUS) {
        if (!json_is_object(space))
            return td_err_set(err, TD_EFORMAT,
                              "%s: \"action_space\" must be {\"steering_angle\": {\"low\", "
                              "\"high\"}, \"speed\": {\"low\", \"high\"}} for a continuous "
                              "action space",
                              path);
        int rc = read_bounds(space, "steering_angle", &m->steering_low, &m->steering_high, path,
                             warn, err);
        if (!rc)
            rc = read_bounds(space, "speed", &m->speed_low, &m->speed_high, path, warn, err);
        return rc;
    }
    if (!json_is_array(space))
        return td_err_set(err, TD_EFORMAT,
                          "%s: \"action_space\" must be a list of {\"steering_angle\", \"speed\"} "
                          "for a discrete action space (or set \"action_space_type\": "
                          "\"continuous\")",
                          path);
    size_t n = json_array_size(space);
    if (n < 1)
        return td_err_set(err, TD_ERANGE, "%s: \"action_space\" is empty (it needs an action)",
                          path);
    if (n > TD_MAX_ACTIONS)
        return td_err_set(err, TD_ERANGE,
                          "%s: \"action_space\" has %zu actions; trackday supports up to %d", path,
                          n, TD_MAX_ACTIONS);
    m->n_actions = (int)n;
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(space, i);
        char what[1200];
        int rc;
        snprintf(what, sizeof(what), "%s: action_space[%zu]", path, i);
        if (!json_is_object(a))
            return td_err_set(err, TD_EFORMAT, "%s must be an object", what);
        rc = action_value(a, "steering_angle", what, &m->actions[i].steering_deg, warn, err);
        if (!rc)
            rc = action_value(a, "speed", what, &m->actions[i].speed_mps, warn, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int read_sensors(td_model_metadata *m, const json_t *list, const char *path, td_err *err)
{
    if (!json_is_array(list) || json_array_size(list) == 0)
        return td_err_set(err, TD_EFORMAT, "%s: \"sensor\" must be a non-empty list of names",
                          path);
    m->camera = TD_CAMERA_NONE;
    m->lidar = TD_LIDAR_NONE;
    m->state_sensor = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *v = json_array_get(list, i);
        const char *s = json_string_value(v);
        td_camera_sensor cam = TD_CAMERA_NONE;
        td_lidar_sensor lid = TD_LIDAR_NONE;
        if (!s)
            return td_err_set(err, TD_EFORMAT, "%s: \"sensor\"[%zu] must be a string", path, i);
        /* DeepRacer compares sensor names exactly; "observation" is the front camera's name in
         * its first files (simapp version 1). */
        if (strcmp(s, "FRONT_FACING_CAMERA") == 0 || strcmp(s, "observation") == 0)
            cam = TD_CAMERA_FRONT;
        else if (strcmp(s, "STEREO_CAMERAS") == 0)
            cam = TD_CAMERA_STEREO;
        else if (strcmp(s, "LEFT_CAMERA") == 0)
            cam = TD_CAMERA_LEFT;
        else if (strcmp(s, "LIDAR") == 0)
            lid = TD_LIDAR_CLIPPED;
        else if (strcmp(s, "SECTOR_LIDAR") == 0)
            lid = TD_LIDAR_SECTOR;
        else if (strcmp(s, "DISCRETIZED_SECTOR_LIDAR") == 0)
            lid = TD_LIDAR_DISCRETIZED;
        else if (strcmp(s, "STATE") == 0) {
            m->state_sensor = 1;
            continue;
        } else
            return td_err_set(err, TD_EINVAL,
                              "%s: \"sensor\": unknown sensor \"%s\" (known, in this case: "
                              "FRONT_FACING_CAMERA, STEREO_CAMERAS, LEFT_CAMERA, LIDAR, "
                              "SECTOR_LIDAR, DISCRETIZED_SECTOR_LIDAR, observation; and trackday's "
                              "STATE)",
                              path, s);
        if (cam != TD_CAMERA_NONE) {
            if (m->camera != TD_CAMERA_NONE)
                return td_err_set(err, TD_EINVAL, "%s: \"sensor\": at most one camera (%s and %s)",
                                  path, td_camera_sensor_name(m->camera), s);
            m->camera = cam;
        }
        if (lid != TD_LIDAR_NONE) {
            if (m->lidar != TD_LIDAR_NONE)
                return td_err_set(err, TD_EINVAL, "%s: \"sensor\": at most one lidar (%s and %s)",
                                  path, td_lidar_sensor_name(m->lidar), s);
            m->lidar = lid;
        }
    }
    if (m->camera == TD_CAMERA_NONE && !m->state_sensor)
        return td_err_set(err, TD_EINVAL,
                          "%s: \"sensor\" needs a camera (FRONT_FACING_CAMERA, STEREO_CAMERAS or "
                          "LEFT_CAMERA) or trackday's STATE sensor",
                          path);
    if (m->state_sensor && m->camera != TD_CAMERA_NONE)
        return td_err_set(err, TD_EINVAL, "%s: \"sensor\": STATE cannot be combined with a camera",
                          path);
    return 0;
}

static int read_lidar_config(td_model_metadata *m, const json_t *lc, const char *path,
                             td_config_warnings *warn, td_err *err)
{
    char what[1100];
    snprintf(what, sizeof(what), "%s: lidar_config", path);
    if (!json_is_object(lc))
        return td_err_set(err, TD_EFORMAT, "%s must be an object", what);
    static const char *const keys[2] = {"num_sectors", "num_values_per_sector"};
    int *dst[2] = {&m->lidar_num_sectors, &m->lidar_values_per_sector};
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_object_get(lc, keys[k]);
        double d;
        long l;
        if (!v)
            continue;
        /* DeepRacer reads these with int(): an integer, an integral float, a digit string. */
        if (json_is_string(v)) {
            if (parse_int_text(json_string_value(v), &l) != 0)
                return td_err_set(err, TD_EFORMAT, "%s: \"%s\" is \"%s\", must be an integer", what,
                                  keys[k], json_string_value(v));
        } else if (json_float(v, &d) == 0) {
            l = (long)d;
        } else {
            return td_err_set(err, TD_EFORMAT, "%s: \"%s\" must be an integer", what, keys[k]);
        }
        if (k == 0 && (l <= 0 || 64 % l != 0))
            return td_err_set(err, TD_ERANGE, "%s: \"num_sectors\" is %ld, must divide 64", what,
                              l);
        if (k == 1 && (l < 1 || l > 64))
            return td_err_set(err, TD_ERANGE,
                              "%s: \"num_values_per_sector\" is %ld, must be in [1, 64]", what, l);
        *dst[k] = (int)l;
    }
    const json_t *cd = json_object_get(lc, "clipping_dist");
    if (cd) {
        double d;
        if (json_float(cd, &d) != 0 || d <= 0)
            return td_err_set(err, TD_EFORMAT, "%s: \"clipping_dist\" must be a positive number",
                              what);
        if (d < 0.15 || d > 12.0)
            td_config_warn(warn,
                           "%s: \"clipping_dist\" %g is outside the lidar's range [0.15, 12] m; "
                           "every reading beyond the range counts as the range",
                           what, d);
        m->lidar_clipping_dist = d;
    }
    return 0;
}

typedef struct dup_ctx {
    const char *path;
    td_config_warnings *warn;
} dup_ctx;

static void warn_dup(void *ctx, int line, const char *key)
{
    const dup_ctx *d = ctx;
    td_config_warn(d->warn, "%s:%d: \"%s\" is given twice; the last value counts", d->path, line,
                   key);
}

/* Reads a JSON configuration file the way DeepRacer's Python json does (see warn_dup). */
static int load_config_json(const char *path, json_t **root, td_config_warnings *warn, td_err *err)
{
    dup_ctx d = {path, warn};
    char *text;
    size_t len;
    int rc = td_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    rc = td_json_parse_last_wins(text, len, path, root, warn_dup, &d, err);
    td_free(text);
    return rc;
}

int td_model_metadata_load(td_model_metadata *m, const char *path, td_config_warnings *warn,
                           td_err *err)
{
    json_t *root;
    int rc;

    td_model_metadata_default(m);
    rc = load_config_json(path, &root, warn, err);
    if (rc)
        return rc;
    rc = td_model_metadata_from_json(m, root, path, warn, err);
    json_decref(root);
    return rc;
}

int td_model_metadata_from_json(td_model_metadata *m, const json_t *root, const char *what,
                                td_config_warnings *warn, td_err *err)
{
    const json_t *v;
    char low[64];
    int rc = 0;

    td_model_metadata_default(m);
    if (!json_is_object(root))
        return td_err_set(err, TD_EFORMAT, "%s: must be a JSON object", what);
    {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)root, key, val)
        {
            if (!td_config_key_find(TD_CONFIG_MODEL_METADATA, key))
                unknown_key(TD_CONFIG_MODEL_METADATA, key, what, warn);
        }
    }

    v = json_object_get(root, "action_space_type");
    if (v) {
        if (!json_is_string(v))
            return td_err_set(err, TD_EFORMAT, "%s: \"action_space_type\" must be a string", what);
        lower_strip(json_string_value(v), low, sizeof(low));
        if (!strcmp(low, "discrete"))
            m->action_space_type = TD_ACTIONS_DISCRETE;
        else if (!strcmp(low, "continuous"))
            m->action_space_type = TD_ACTIONS_CONTINUOUS;
        else
            return td_err_set(err, TD_EINVAL,
                              "%s: \"action_space_type\" is \"%s\", must be \"discrete\" or "
                              "\"continuous\"",
                              what, json_string_value(v));
    }
    v = json_object_get(root, "training_algorithm");
    if (v) {
        if (!json_is_string(v))
            return td_err_set(err, TD_EFORMAT, "%s: \"training_algorithm\" must be a string", what);
        lower_strip(json_string_value(v), low, sizeof(low));
        if (!strcmp(low, "clipped_ppo"))
            m->algorithm = TD_ALGO_CLIPPED_PPO;
        else if (!strcmp(low, "sac"))
            m->algorithm = TD_ALGO_SAC;
        else
            return td_err_set(err, TD_EINVAL,
                              "%s: \"training_algorithm\" is \"%s\", must be \"clipped_ppo\" or "
                              "\"sac\"",
                              what, json_string_value(v));
    }
    if (m->algorithm == TD_ALGO_SAC && m->action_space_type != TD_ACTIONS_CONTINUOUS)
        return td_err_set(err, TD_EINVAL,
                          "%s: \"training_algorithm\": \"sac\" needs \"action_space_type\": "
                          "\"continuous\"",
                          what);
    rc = read_action_space(m, root, what, warn, err);
    if (rc)
        return rc;

    /* The version and the sensors, as DeepRacer decides them: a file with a version of 2 or
     * more must list its sensors; without a version, a sensor list means version 2 and no
     * sensor list means version 1 with the one camera DeepRacer called "observation". */
    const json_t *sensors = json_object_get(root, "sensor");
    v = json_object_get(root, "version");
    if (v) {
        double ver;
        if (json_float(v, &ver) != 0)
            return td_err_set(err, TD_EFORMAT, "%s: \"version\" is %s%s%s, must be a number", what,
                              json_is_string(v) ? "\"" : "",
                              json_is_string(v) ? json_string_value(v) : "not a number",
                              json_is_string(v) ? "\"" : "");
        if (ver < 1 || ver > 100)
            return td_err_set(err, TD_ERANGE, "%s: \"version\" is %g, must be 1 to 100", what, ver);
        m->version = (int)floor(ver);
        if (m->version >= 2 && !sensors)
            return td_err_set(err, TD_EFORMAT,
                              "%s: \"version\" %g needs a \"sensor\" list (DeepRacer refuses the "
                              "file without one); add \"sensor\": [\"FRONT_FACING_CAMERA\"]",
                              what, ver);
    } else {
        m->version = sensors ? 2 : 1;
    }
    if (sensors && m->version >= 2) {
        rc = read_sensors(m, sensors, what, err);
        if (rc)
            return rc;
    } else {
        m->camera = TD_CAMERA_FRONT;
        if (sensors)
            td_config_warn(warn,
                           "%s: \"sensor\" is ignored for version %d (DeepRacer uses the front "
                           "camera)",
                           what, m->version);
    }

    v = json_object_get(root, "neural_network");
    if (v) {
        const char *s = json_string_value(v);
        if (!s)
            return td_err_set(err, TD_EFORMAT, "%s: \"neural_network\" must be a string", what);
        if (strcmp(s, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW") == 0)
            m->network = TD_NET_SHALLOW;
        else if (strcmp(s, "DEEP_CONVOLUTIONAL_NETWORK") == 0)
            m->network = TD_NET_STANDARD;
        else if (strcmp(s, "DEEP_CONVOLUTIONAL_NETWORK_DEEP") == 0)
            m->network = TD_NET_DEEP;
        else if (strcmp(s, "MLP") == 0)
            m->network = TD_NET_MLP;
        else
            return td_err_set(err, TD_EINVAL,
                              "%s: \"neural_network\" is \"%s\", must be "
                              "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW, DEEP_CONVOLUTIONAL_NETWORK, "
                              "DEEP_CONVOLUTIONAL_NETWORK_DEEP or MLP",
                              what, s);
    }
    if (m->state_sensor)
        m->network = TD_NET_MLP;
    if (m->network == TD_NET_MLP && !m->state_sensor)
        return td_err_set(err, TD_EINVAL,
                          "%s: \"neural_network\": MLP is for the STATE sensor; cameras need a "
                          "DEEP_CONVOLUTIONAL_NETWORK*",
                          what);
    v = json_object_get(root, "lidar_config");
    if (v)
        rc = read_lidar_config(m, v, what, warn, err);
    return rc;
}

json_t *td_model_metadata_to_json(const td_model_metadata *m)
{
    json_t *root = json_object(), *sensors = json_array(), *space;
    if (m->action_space_type == TD_ACTIONS_DISCRETE) {
        space = json_array();
        for (int i = 0; i < m->n_actions; i++)
            json_array_append_new(space, json_pack("{s:f, s:f, s:i}", "steering_angle",
                                                   m->actions[i].steering_deg, "speed",
                                                   m->actions[i].speed_mps, "index", i));
    } else {
        space = json_pack("{s:{s:f, s:f}, s:{s:f, s:f}}", "steering_angle", "low", m->steering_low,
                          "high", m->steering_high, "speed", "low", m->speed_low, "high",
                          m->speed_high);
    }
    json_object_set_new(root, "action_space", space);
    if (m->camera != TD_CAMERA_NONE)
        json_array_append_new(sensors, json_string(td_camera_sensor_name(m->camera)));
    if (m->lidar != TD_LIDAR_NONE)
        json_array_append_new(sensors, json_string(td_lidar_sensor_name(m->lidar)));
    if (m->state_sensor)
        json_array_append_new(sensors, json_string("STATE"));
    json_object_set_new(root, "sensor", sensors);
    json_object_set_new(root, "neural_network", json_string(td_network_name(m->network)));
    json_object_set_new(root, "training_algorithm", json_string(td_algorithm_name(m->algorithm)));
    json_object_set_new(
        root, "action_space_type",
        json_string(m->action_space_type == TD_ACTIONS_DISCRETE ? "discrete" : "continuous"));
    {
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", m->version);
        json_object_set_new(root, "version", json_string(ver));
    }
    if (m->lidar == TD_LIDAR_DISCRETIZED)
        json_object_set_new(root, "lidar_config",
                            json_pack("{s:i, s:i, s:f}", "num_sectors", m->lidar_num_sectors,
                                      "num_values_per_sector", m->lidar_values_per_sector,
                                      "clipping_dist", m->lidar_clipping_dist));
    return root;
}

/* ==================================================================================== */
/* hyperparameters.json                                                                 */
/* ==================================================================================== */

void td_hyperparams_default(td_hyperparams *h)
{
    /* DeepRacer's defaults for absent keys (sagemaker_graph_manager.py,
     * get_updated_hyper_parameters). */
    memset(h, 0, sizeof(*h));
    h->batch_size = 64;
    h->num_epochs = 10;
    h->lr = 0.0003;
    h->beta_entropy = 0.01;
    h->discount_factor = 0.999;
    h->loss_type = TD_LOSS_MSE;
    h->num_episodes_between_training = 20;
    h->exploration_type = TD_EXPLORE_CATEGORICAL;
    h->e_greedy_value = 0.05;
    h->epsilon_steps = 10000;
    h->sac_alpha = 0.2;
    h->stack_size = 1;
    h->term_cond_max_episodes = 100000;
    h->term_cond_avg_score = 100000;
}

double td_hyperparams_epsilon(const td_hyperparams *h, long step)
{
    /* rl_coach's LinearSchedule(initial 1.0, final, decay_steps): a straight line from the
     * initial to the final value over decay_steps steps, then the final value. */
    double final = h->e_greedy_value;
    if (h->epsilon_steps <= 0 || step >= h->epsilon_steps)
        return final;
    return 1.0 + (final - 1.0) * ((double)step / (double)h->epsilon_steps);
}

/* int(v) as DeepRacer reads an integer hyperparameter: a JSON number (a fraction is cut off,
 * as int(64.5) is 64, with a warning) or a string of digits. */
static int hyper_int(const json_t *root, const char *key, long dflt, long *out, const char *path,
                     td_config_warnings *warn, td_err *err)
{
    const json_t *v = json_object_get(root, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || fabs(d) > 1e15)
            return td_err_set(err, TD_ERANGE, "%s: \"%s\" is %g, not a usable integer", path, key,
                              d);
        *out = (long)d;
        if ((double)*out != d)
            td_config_warn(warn, "%s: \"%s\" is %g; DeepRacer reads it with int(), as %ld", path,
                           key, d, *out);
        return 0;
    }
    if (json_is_string(v)) {
        if (parse_int_text(json_string_value(v), out) == 0)
            return 0;
        return td_err_set(err, TD_EFORMAT,
                          "%s: \"%s\" is \"%s\", must be an integer (DeepRacer's int() refuses "
                          "it too)",
                          path, key, json_string_value(v));
    }
    return td_err_set(err, TD_EFORMAT, "%s: \"%s\" must be an integer", path, key);
}

/* float(v) of a hyperparameter: a number or a numeric string. */
static int hyper_float(const json_t *root, const char *key, double dflt, double *out,
                       const char *path, td_err *err)
{
    const json_t *v = json_object_get(root, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (json_float(v, out) != 0)
        return td_err_set(err, TD_EFORMAT, "%s: \"%s\" must be a number", path, key);
    return 0;
}

/* A string hyperparameter lower-cased as DeepRacer does. */
static int hyper_enum(const json_t *root, const char *key, const char *dflt, char *out, size_t cap,
                      const char *path, td_err *err)
{
    const json_t *v = json_object_get(root, key);
    if (!v) {
        snprintf(out, cap, "%s", dflt);
        return 0;
    }
    if (!json_is_string(v))
        return td_err_set(err, TD_EFORMAT, "%s: \"%s\" must be a string", path, key);
    lower_strip(json_string_value(v), out, cap);
    return 0;
}

/* A value DeepRacer runs with although its console did not offer it. */
#define CONSOLE_RANGE(cond, fmt, ...)                                                              \
    do {                                                                                           \
        if (cond)                                                                                  \
            td_config_warn(warn, "%s: " fmt, path, __VA_ARGS__);                                   \
    } while (0)

int td_hyperparams_load(td_hyperparams *h, const char *path, td_algorithm algo,
                        td_config_warnings *warn, td_err *err)
{
    json_t *root;
    char s[64];
    long v;
    int rc;

    td_hyperparams_default(h);
    rc = load_config_json(path, &root, warn, err);
    if (rc)
        return rc;
    if (!json_is_object(root)) {
        json_decref(root);
        return td_err_set(err, TD_EFORMAT, "%s: must be a JSON object", path);
    }
    {
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val)
        {
            if (!td_config_key_find(TD_CONFIG_HYPERPARAMETERS, key))
                unknown_key(TD_CONFIG_HYPERPARAMETERS, key, path, warn);
        }
    }

    rc = hyper_int(root, "batch_size", 64, &v, path, warn, err);
    if (!rc && (v < 1 || v > 16384))
        rc =
            td_err_set(err, TD_ERANGE, "%s: \"batch_size\" is %ld, must be in [1, 16384]", path, v);
    if (!rc) {
        h->batch_size = (int)v;
        CONSOLE_RANGE(v != 32 && v != 64 && v != 128 && v != 256 && v != 512,
                      "\"batch_size\" %ld: the console allowed 32, 64, 128, 256 or 512", v);
        rc = hyper_int(root, "num_epochs", 10, &v, path, warn, err);
    }
    if (!rc && (v < 1 || v > 1000))
        rc = td_err_set(err, TD_ERANGE, "%s: \"num_epochs\" is %ld, must be in [1, 1000]", path, v);
    if (!rc) {
        h->num_epochs = (int)v;
        CONSOLE_RANGE(v < 3 || v > 10, "\"num_epochs\" %ld: the console allowed 3 to 10", v);
        rc = hyper_float(root, "lr", 0.0003, &h->lr, path, err);
    }
    if (!rc && !(h->lr > 0 && h->lr < 1))
        rc = td_err_set(err, TD_ERANGE, "%s: \"lr\" is %g, must be in (0, 1)", path, h->lr);
    if (!rc) {
        CONSOLE_RANGE(h->lr < 1e-8 || h->lr > 1e-3, "\"lr\" %g: the console allowed 1e-8 to 0.001",
                      h->lr);
        rc = hyper_float(root, "beta_entropy", 0.01, &h->beta_entropy, path, err);
    }
    if (!rc && h->beta_entropy < 0)
        rc = td_err_set(err, TD_ERANGE, "%s: \"beta_entropy\" is %g, must not be negative", path,
                        h->beta_entropy);
    if (!rc) {
        CONSOLE_RANGE(h->beta_entropy > 1, "\"beta_entropy\" %g: the console allowed 0 to 1",
                      h->beta_entropy);
        rc = hyper_float(root, "discount_factor", 0.999, &h->discount_factor, path, err);
    }
    if (!rc && (h->discount_factor < 0 || h->discount_factor > 1))
        rc = td_err_set(err, TD_ERANGE, "%s: \"discount_factor\" is %g, must be in [0, 1]", path,
                        h->discount_factor);
    if (!rc)
        rc = hyper_enum(root, "loss_type", "mean squared error", s, sizeof(s), path, err);
    if (!rc) {
        /* DeepRacer: "huber" is the Huber loss, anything else the mean squared error. */
        h->loss_type = strcmp(s, "huber") == 0 ? TD_LOSS_HUBER : TD_LOSS_MSE;
        CONSOLE_RANGE(h->loss_type == TD_LOSS_MSE && strcmp(s, "mean squared error") != 0 &&
                          strcmp(s, "mean_squared_error") != 0,
                      "\"loss_type\" \"%s\": DeepRacer uses the mean squared error for anything "
                      "but \"huber\" (the console offered \"huber\" and \"mean squared error\")",
                      s);
        rc = hyper_int(root, "num_episodes_between_training", 20, &v, path, warn, err);
    }
    if (!rc && (v < 1 || v > 100000))
        rc = td_err_set(err, TD_ERANGE,
                        "%s: \"num_episodes_between_training\" is %ld, must be in [1, 100000]",
                        path, v);
    if (!rc) {
        h->num_episodes_between_training = (int)v;
        CONSOLE_RANGE(v < (algo == TD_ALGO_SAC ? 1 : 5) || v > 100,
                      "\"num_episodes_between_training\" %ld: the console allowed %d to 100", v,
                      algo == TD_ALGO_SAC ? 1 : 5);
        rc = hyper_enum(root, "exploration_type", "categorical", s, sizeof(s), path, err);
    }
    if (!rc) {
        if (!strcmp(s, "categorical"))
            h->exploration_type = TD_EXPLORE_CATEGORICAL;
        else if (!strcmp(s, "e-greedy"))
            h->exploration_type = TD_EXPLORE_EGREEDY;
        else
            rc = td_err_set(err, TD_EINVAL,
                            "%s: \"exploration_type\" is \"%s\", must be \"categorical\" or "
                            "\"e-greedy\" (DeepRacer stops on any other value)",
                            path, s);
    }
    if (!rc)
        rc = hyper_float(root, "e_greedy_value", 0.05, &h->e_greedy_value, path, err);
    if (!rc && (h->e_greedy_value < 0 || h->e_greedy_value > 1))
        rc = td_err_set(err, TD_ERANGE,
                        "%s: \"e_greedy_value\" is %g, must be in [0, 1] (a probability)", path,
                        h->e_greedy_value);
    if (!rc)
        rc = hyper_int(root, "epsilon_steps", 10000, &h->epsilon_steps, path, warn, err);
    if (!rc && h->epsilon_steps < 1 && h->exploration_type == TD_EXPLORE_EGREEDY)
        rc = td_err_set(err, TD_ERANGE,
                        "%s: \"epsilon_steps\" is %ld, must be at least 1 for e-greedy "
                        "exploration",
                        path, h->epsilon_steps);
    if (!rc)
        rc = hyper_float(root, "sac_alpha", 0.2, &h->sac_alpha, path, err);
    if (!rc && h->sac_alpha < 0)
        rc = td_err_set(err, TD_ERANGE, "%s: \"sac_alpha\" is %g, must not be negative", path,
                        h->sac_alpha);
    if (!rc) {
        CONSOLE_RANGE(h->sac_alpha > 1, "\"sac_alpha\" %g: the console allowed 0 to 1",
                      h->sac_alpha);
        rc = hyper_int(root, "stack_size", 1, &v, path, warn, err);
    }
    if (!rc) {
        /* DeepRacer reads stack_size and stacks one frame whatever it says. */
        CONSOLE_RANGE(v != 1,
                      "\"stack_size\" %ld: DeepRacer (and trackday) use one frame whatever it "
                      "says",
                      v);
        h->stack_size = 1;
        rc = hyper_int(root, "term_cond_max_episodes", 100000, &h->term_cond_max_episodes, path,
                       warn, err);
    }
    if (!rc && h->term_cond_max_episodes < 1)
        rc = td_err_set(err, TD_ERANGE, "%s: \"term_cond_max_episodes\" is %ld, must be at least 1",
                        path, h->term_cond_max_episodes);
    if (!rc)
        rc = hyper_float(root, "term_cond_avg_score", 100000, &h->term_cond_avg_score, path, err);
    json_decref(root);
    return rc;
}

#undef CONSOLE_RANGE

/* ==================================================================================== */
/* training_params.yaml                                                                 */
/* ==================================================================================== */

void td_training_params_default(td_training_params *p)
{
    memset(p, 0, sizeof(*p));
    td_race_config_default(&p->race);
    td_eval_config_default(&p->eval);
    p->min_eval_trials = 5;
}

/* One entry of the flat mapping: a scalar value, or a sequence of scalars. */
typedef struct {
    char key[128];
    char value[256];
    int quoted; /* the value was written in quotes: a string to PyYAML, never a bool */
    int is_seq;
    int nseq;
    char seq[TD_MAX_OBSTACLES][64];
    int line;
} yaml_entry;

/* Python's str2bool as DeepRacer uses it, plus YAML's spellings. */
static int parse_bool(const char *s, int *out)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1") || !strcasecmp(s, "on"))
        *out = 1;
    else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0") ||
             !strcasecmp(s, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* TRACK_DIRECTION_CLOCKWISE as DeepRacer reads it: PyYAML's value through markov/utils.py
 * str2bool (a YAML bool stays one; the strings 'true' and 'false' in any case become one; any
 * other string is kept and counts by Python's truth, so clockwise unless empty). A YAML number
 * or null reaches .lower() there and stops DeepRacer's simulation: refused here. *cw gets 1
 * for clockwise, 0 for counter-clockwise. */
static int read_track_direction(const yaml_entry *e, const char *where, td_config_warnings *w,
                                td_err *err, int *cw)
{
    static const char *const yes[] = {"yes",  "Yes", "YES", "true", "True",
                                      "TRUE", "on",  "On",  "ON"};
    static const char *const no[] = {"no",    "No",  "NO",  "false", "False",
                                     "FALSE", "off", "Off", "OFF"};
    const char *v = e->value;
    double d;
    *cw = 0;
    if (!e->quoted) {
        for (int i = 0; i < (int)(sizeof(yes) / sizeof(yes[0])); i++) {
            if (!strcmp(v, yes[i]) || !strcmp(v, no[i])) {
                *cw = !strcmp(v, yes[i]);
                return 0;
            }
        }
        if (!v[0] || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
            !strcmp(v, "NULL") || parse_float_text(v, &d) == 0)
            return td_err_set(err, TD_EINVAL,
                              "%s: TRACK_DIRECTION_CLOCKWISE is \"%s\": DeepRacer cannot read it "
                              "(YAML makes it a number or null, which str2bool cannot lower-case, "
                              "and the simulation stops); write true or false",
                              where, v);
    }
    if (!strcasecmp(v, "true") || !strcasecmp(v, "false")) {
        *cw = !strcasecmp(v, "true");
        return 0;
    }
    *cw = v[0] != '\0';
    td_config_warn(w,
                   "%s: TRACK_DIRECTION_CLOCKWISE is \"%s\", not true or false: DeepRacer's "
                   "str2bool keeps the text, which counts as %s; write true or false",
                   where, v, *cw ? "true (clockwise, _cw)" : "false (counter-clockwise, _ccw)");
    return 0;
}

/* A key DeepRacer reads that trackday does not: a warning when the value would change
 * what DeepRacer does (not its default). */
static void not_supported(const td_config_key *k, const char *value, const char *where,
                          int for_eval, td_config_warnings *w)
{
    double a, b;
    int ba, bb;
    const char *dflt = k->dr_default;
    int same = 0;
    if (k->eval_setting && !for_eval)
        return; /* an evaluation setting: nothing a training run would do differently */
    if (!dflt)
        same = 0;
    else if (parse_float_text(value, &a) == 0 && parse_float_text(dflt, &b) == 0)
        same = a == b;
    else if (parse_bool(value, &ba) == 0 && parse_bool(dflt, &bb) == 0)
        same = ba == bb;
    else
        same = strcasecmp(value, dflt) == 0;
    if (!same)
        td_config_warn(w,
                       "%s: %s is \"%s\": DeepRacer reads it, trackday does not (%s); it is "
                       "ignored",
                       where, k->name, value, k->why);
}

/* Applies one key of training_params.yaml (or of run.env, mapped). */
/* DOMAIN_RANDOMIZATION_<what>: [lo, hi] for brightness, contrast and exposure (multipliers),
 * an upper bound for texture, noise, blur and vignette. The ranges start from the defaults. */
static int apply_dr_entry(td_race_config *r, const yaml_entry *e, const char *what,
                          const char *where, td_err *err)
{
    td_dr_ranges x = r->dr;
    double v[2];
    int pair =
        !strcmp(what, "BRIGHTNESS") || !strcmp(what, "CONTRAST") || !strcmp(what, "EXPOSURE");
    if (!x.set)
        td_dr_ranges_default(&x);
    if (pair) {
        if (!e->is_seq || e->nseq != 2 || parse_float_text(e->seq[0], &v[0]) ||
            parse_float_text(e->seq[1], &v[1]))
            return td_err_set(err, TD_EINVAL,
                              "%s: DOMAIN_RANDOMIZATION_%s must be a range [lo, hi] of two "
                              "numbers",
                              where, what);
        double *dst = !strcmp(what, "BRIGHTNESS") ? x.brightness
                      : !strcmp(what, "CONTRAST") ? x.contrast
                                                  : x.exposure;
        dst[0] = v[0];
        dst[1] = v[1];
    } else {
        if (e->is_seq || parse_float_text(e->value, &v[0]))
            return td_err_set(err, TD_EINVAL, "%s: DOMAIN_RANDOMIZATION_%s must be a number", where,
                              what);
        if (!strcmp(what, "TEXTURE"))
            x.texture_hi = v[0];
        else if (!strcmp(what, "NOISE"))
            x.noise_hi = v[0];
        else if (!strcmp(what, "BLUR"))
            x.blur_hi = v[0];
        else
            x.vignette_hi = v[0];
    }
    td_err e2 = {0};
    if (td_dr_ranges_check(&x, &e2))
        return td_err_set(err, TD_ERANGE, "%s: %s", where, e2.msg);
    r->dr = x;
    return 0;
}

static int apply_entry(td_training_params *p, const yaml_entry *e, const char *path, int for_eval,
                       td_config_warnings *warn, td_err *err)
{
    td_race_config *r = &p->race;
    const char *k = e->key, *v = e->value;
    double d;
    int b;
    char where[1200];
    snprintf(where, sizeof(where), "%s:%d", path, e->line);

#define BAD(what) td_err_set(err, TD_EINVAL, "%s: %s is \"%s\", %s", where, k, v, what)
#define NUMBER(lo, hi, dst)                                                                        \
    do {                                                                                           \
        if (parse_float_text(v, &d) != 0)                                                          \
            return BAD("must be a number");                                                        \
        if (d < (lo) || d > (hi))                                                                  \
            return td_err_set(err, TD_ERANGE, "%s: %s is %g, must be in [%g, %g]", where, k, d,    \
                              (double)(lo), (double)(hi));                                         \
        dst = d;                                                                                   \
    } while (0)
#define BOOL(dst)                                                                                  \
    do {                                                                                           \
        if (parse_bool(v, &b) != 0)                                                                \
            return BAD("must be true or false");                                                   \
        dst = b;                                                                                   \
    } while (0)

    const td_config_key *key = td_config_key_find(TD_CONFIG_TRAINING_PARAMS, k);
    if (!key) {
        unknown_key(TD_CONFIG_TRAINING_PARAMS, k, where, warn);
        return 0;
    }
    if (key->status == TD_KEY_NO_EFFECT)
        return 0;
    if (e->is_seq && strcmp(k, "OBJECT_POSITIONS") != 0 && strncmp(k, "DOMAIN_RANDOMIZATION_", 21))
        return td_err_set(err, TD_EFORMAT, "%s: %s must be a single value, not a list", where, k);
    if (key->status == TD_KEY_NOT_SUPPORTED) {
        not_supported(key, v, where, for_eval, warn);
        return 0;
    }
    if (!strcmp(k, "WORLD_NAME")) {
        if (snprintf(p->world_name, sizeof(p->world_name), "%s", v) >= (int)sizeof(p->world_name))
            return BAD("longer than the 127 characters a track name may have");
    } else if (!strcmp(k, "TRACK_DIRECTION_CLOCKWISE")) {
        int rc = read_track_direction(e, where, warn, err, &b);
        if (rc)
            return rc;
        p->track_direction = b ? 1 : -1;
    } else if (!strcmp(k, "RACE_TYPE")) {
        if (!strcmp(v, "TIME_TRIAL"))
            r->race_type = TD_RACE_TIME_TRIAL;
        else if (!strcmp(v, "OBJECT_AVOIDANCE"))
            r->race_type = TD_RACE_OBJECT_AVOIDANCE;
        else if (!strcmp(v, "HEAD_TO_BOT"))
            r->race_type = TD_RACE_HEAD_TO_BOT;
        else if (!strcmp(v, "HEAD_TO_MODEL") || !strcmp(v, "F1"))
            return BAD("DeepRacer's race of several models, which trackday runs as "
                       "'trackday race' (docs/cli/race.md), not in this file: use TIME_TRIAL, "
                       "OBJECT_AVOIDANCE or HEAD_TO_BOT");
        else
            return BAD("must be TIME_TRIAL, OBJECT_AVOIDANCE or HEAD_TO_BOT");
    } else if (!strcmp(k, "REVERSE_DIR")) {
        BOOL(r->reverse_dir);
    } else if (!strcmp(k, "ALTERNATE_DRIVING_DIRECTION")) {
        BOOL(r->alternate_driving_direction);
    } else if (!strcmp(k, "CHANGE_START_POSITION")) {
        BOOL(r->change_start_position);
    } else if (!strcmp(k, "ROUND_ROBIN_ADVANCE_DIST")) {
        NUMBER(0, 1, r->round_robin_advance_dist);
    } else if (!strcmp(k, "START_POSITION_OFFSET")) {
        NUMBER(0, 1, r->start_position_offset);
    } else if (!strcmp(k, "NUMBER_OF_OBSTACLES")) {
        NUMBER(0, 1e9, d);
        if (d != floor(d))
            return BAD("must be a whole number");
        if (d > TD_MAX_OBSTACLES)
            return td_err_set(err, TD_ERANGE,
                              "%s: NUMBER_OF_OBSTACLES is %g; a trackday world holds at most %d "
                              "objects, more than stand nose to tail on any route (DeepRacer "
                              "has no limit, its console allowed 6)",
                              where, d, TD_MAX_OBSTACLES);
        if (d > 6)
            td_config_warn(warn, "%s: NUMBER_OF_OBSTACLES %g: the console allowed 1 to 6", where,
                           d);
        r->number_of_obstacles = (int)d;
    } else if (!strcmp(k, "MIN_DISTANCE_BETWEEN_OBSTACLES")) {
        NUMBER(0, 100, r->min_distance_between_obstacles);
    } else if (!strcmp(k, "RANDOMIZE_OBSTACLE_LOCATIONS")) {
        BOOL(r->randomize_obstacle_locations);
    } else if (!strcmp(k, "NUMBER_OF_BOT_CARS")) {
        NUMBER(0, 1e9, d);
        if (d != floor(d))
            return BAD("must be a whole number");
        if (d > TD_MAX_BOTS)
            return td_err_set(err, TD_ERANGE,
                              "%s: NUMBER_OF_BOT_CARS is %g; a trackday world holds at most %d "
                              "objects, more than stand nose to tail on any route (DeepRacer "
                              "has no limit, its console allowed 4)",
                              where, d, TD_MAX_BOTS);
        if (d > 4)
            td_config_warn(warn, "%s: NUMBER_OF_BOT_CARS %g: the console allowed 1 to 4", where, d);
        r->number_of_bot_cars = (int)d;
    } else if (!strcmp(k, "BOT_CAR_SPEED")) {
        NUMBER(0.0, 100.0, r->bot_car_speed);
        if (r->bot_car_speed < 0.05 || r->bot_car_speed > 4.0)
            td_config_warn(warn, "%s: BOT_CAR_SPEED %g: the console allowed 0.2 to 3 m/s", where,
                           r->bot_car_speed);
    } else if (!strcmp(k, "IS_LANE_CHANGE")) {
        BOOL(r->is_lane_change);
    } else if (!strcmp(k, "LOWER_LANE_CHANGE_TIME")) {
        NUMBER(0, 1000, r->lower_lane_change_time);
    } else if (!strcmp(k, "UPPER_LANE_CHANGE_TIME")) {
        NUMBER(0, 1000, r->upper_lane_change_time);
    } else if (!strcmp(k, "LANE_CHANGE_DISTANCE")) {
        NUMBER(0.1, 100, r->lane_change_distance);
    } else if (!strcmp(k, "MIN_DISTANCE_BETWEEN_BOT_CARS")) {
        NUMBER(0, 1000, r->min_distance_between_bot_cars);
    } else if (!strcmp(k, "RANDOMIZE_BOT_CAR_LOCATIONS")) {
        BOOL(r->randomize_bot_car_locations);
    } else if (!strcmp(k, "PENALTY_SECONDS")) {
        NUMBER(0, 3600, r->penalty_seconds);
    } else if (!strcmp(k, "NUMBER_OF_TRIALS")) {
        NUMBER(1, TD_MAX_LAPS, d);
        if (d != floor(d))
            return BAD("must be a whole number");
        p->eval.number_of_trials = (int)d;
    } else if (!strcmp(k, "IS_CONTINUOUS")) {
        BOOL(p->eval.is_continuous);
    } else if (!strcmp(k, "NUMBER_OF_RESETS")) {
        NUMBER(0, 1e9, d);
        if (d != floor(d))
            return BAD("must be a whole number");
        p->eval.number_of_resets = (int)d;
    } else if (!strcmp(k, "OFF_TRACK_PENALTY")) {
        NUMBER(0, 3600, p->eval.off_track_penalty_s);
    } else if (!strcmp(k, "COLLISION_PENALTY")) {
        NUMBER(0, 3600, p->eval.collision_penalty_s);
    } else if (!strcmp(k, "EVAL_CHECKPOINT")) {
        if (strcasecmp(v, "best") && strcasecmp(v, "last"))
            return BAD("must be best or last");
        snprintf(p->eval_checkpoint, sizeof(p->eval_checkpoint), "%s",
                 strcasecmp(v, "best") ? "last" : "best");
    } else if (!strcmp(k, "ENABLE_DOMAIN_RANDOMIZATION")) {
        BOOL(r->enable_domain_randomization);
    } else if (!strncmp(k, "DOMAIN_RANDOMIZATION_", 21)) {
        return apply_dr_entry(r, e, k + 21, where, err);
    } else if (!strcmp(k, "MIN_EVAL_TRIALS")) {
        NUMBER(1, 64, d);
        if (d != floor(d))
            return BAD("must be a whole number");
        p->min_eval_trials = (int)d;
    } else if (!strcmp(k, "OBJECT_POSITIONS")) {
        if (!e->is_seq) {
            if (v[0] == '\0' || !strcmp(v, "[]"))
                return 0;
            return BAD("must be a list of \"progress_fraction,lane\"");
        }
        r->n_object_positions = 0;
        for (int i = 0; i < e->nseq; i++) {
            char buf[64];
            char *comma;
            double prog;
            long lane;
            snprintf(buf, sizeof(buf), "%s", e->seq[i]);
            comma = strchr(buf, ',');
            if (!comma)
                return td_err_set(err, TD_EFORMAT,
                                  "%s: OBJECT_POSITIONS[%d] is \"%s\", must be "
                                  "\"progress_fraction,lane\"",
                                  where, i, e->seq[i]);
            *comma = '\0';
            if (parse_float_text(buf, &prog) != 0 || prog < 0 || prog > 1)
                return td_err_set(err, TD_ERANGE,
                                  "%s: OBJECT_POSITIONS[%d]: progress \"%s\" must be a "
                                  "fraction in [0, 1]",
                                  where, i, buf);
            if (parse_int_text(comma + 1, &lane) != 0 || (lane != 1 && lane != -1))
                return td_err_set(err, TD_ERANGE,
                                  "%s: OBJECT_POSITIONS[%d]: lane \"%s\" must be 1 (inner) "
                                  "or -1 (outer)",
                                  where, i, comma + 1);
            r->object_positions[i][0] = prog;
            r->object_positions[i][1] = (double)lane;
            r->n_object_positions++;
        }
    }
#undef BAD
#undef NUMBER
#undef BOOL
    return 0;
}

/* Checks that hold across keys, after a whole file is read. */
static int finish_training_params(td_training_params *p, const char *path, int saw_obstacle_count,
                                  td_err *err)
{
    /* DeepRacer's yaml_file.py _update_world_name, after the whole file is read: the direction
     * picks the route file WORLD_NAME_cw or WORLD_NAME_ccw (separate, resampled routes). */
    if (p->track_direction) {
        const char *suffix = p->track_direction > 0 ? "_cw" : "_ccw";
        size_t n = strlen(p->world_name);
        if (!n)
            return td_err_set(err, TD_EINVAL,
                              "%s: TRACK_DIRECTION_CLOCKWISE without WORLD_NAME: DeepRacer "
                              "appends %s to WORLD_NAME (and would look for the route "
                              "None%s); add WORLD_NAME",
                              path, suffix, suffix);
        if (snprintf(p->world_name + n, sizeof(p->world_name) - n, "%s", suffix) >=
            (int)(sizeof(p->world_name) - n))
            return td_err_set(err, TD_EINVAL,
                              "%s: WORLD_NAME with the %s TRACK_DIRECTION_CLOCKWISE appends is "
                              "longer than the 127 characters a track name may have",
                              path, suffix);
    }
    if (p->race.lower_lane_change_time > p->race.upper_lane_change_time)
        return td_err_set(err, TD_ERANGE,
                          "%s: LOWER_LANE_CHANGE_TIME (%g) exceeds UPPER_LANE_CHANGE_TIME (%g)",
                          path, p->race.lower_lane_change_time, p->race.upper_lane_change_time);
    /* Fixed positions decide the number of obstacles when NUMBER_OF_OBSTACLES is not given. */
    if (p->race.n_object_positions > 0 && !saw_obstacle_count)
        p->race.number_of_obstacles = p->race.n_object_positions;
    int n_obstacles =
        p->race.n_object_positions > 0 ? p->race.n_object_positions : p->race.number_of_obstacles;
    if (n_obstacles + p->race.number_of_bot_cars > TD_MAX_OBJECTS)
        return td_err_set(err, TD_ERANGE,
                          "%s: %d obstacles and %d bot cars: a trackday world holds at most %d "
                          "objects, obstacles and bots together (DeepRacer has no limit)",
                          path, n_obstacles, p->race.number_of_bot_cars, TD_MAX_OBJECTS);
    return 0;
}

static int load_yaml(td_training_params *p, const char *path, int for_eval,
                     td_config_warnings *warn, td_err *err)
{
    char *text;
    size_t len;
    yaml_parser_t parser;
    yaml_event_t ev;
    yaml_entry e;
    int depth = 0, have_key = 0, in_seq = 0, done = 0, rc;
    int saw_number_of_obstacles = 0;
    char seen[64][128];
    int n_seen = 0;

    td_training_params_default(p);
    rc = td_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    if (!yaml_parser_initialize(&parser)) {
        td_free(text);
        return td_err_set(err, TD_ENOMEM, "%s: cannot create a YAML parser", path);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    memset(&e, 0, sizeof(e));
    while (!done && !rc) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = td_err_set(err, TD_EFORMAT, "%s:%zu:%zu: invalid YAML: %s", path,
                            parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "syntax error");
            break;
        }
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            depth++;
            if (depth > 1)
                rc = td_err_set(err, TD_EFORMAT,
                                "%s:%zu: nested mappings are not supported (a flat list of KEY: "
                                "value is expected)",
                                path, ev.start_mark.line + 1);
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SEQUENCE_START_EVENT:
            if (!have_key || in_seq)
                rc = td_err_set(err, TD_EFORMAT, "%s:%zu: unexpected list", path,
                                ev.start_mark.line + 1);
            in_seq = 1;
            e.is_seq = 1;
            e.nseq = 0;
            break;
        case YAML_SEQUENCE_END_EVENT:
            in_seq = 0;
            rc = apply_entry(p, &e, path, for_eval, warn, err);
            have_key = 0;
            break;
        case YAML_ALIAS_EVENT:
            rc = td_err_set(err, TD_EFORMAT,
                            "%s:%zu: YAML aliases (*name) are not supported in "
                            "training_params.yaml; write the value itself",
                            path, ev.start_mark.line + 1);
            break;
        case YAML_SCALAR_EVENT: {
            const char *val = (const char *)ev.data.scalar.value;
            if (in_seq) {
                if (e.nseq >= TD_MAX_OBSTACLES)
                    rc = td_err_set(err, TD_ERANGE, "%s:%d: %s has more than %d entries", path,
                                    e.line, e.key, TD_MAX_OBSTACLES);
                else
                    snprintf(e.seq[e.nseq++], sizeof(e.seq[0]), "%s", val);
            } else if (!have_key) {
                memset(&e, 0, sizeof(e));
                snprintf(e.key, sizeof(e.key), "%s", val);
                e.line = (int)ev.start_mark.line + 1;
                have_key = 1;
                for (int i = 0; i < n_seen; i++)
                    if (!strcmp(seen[i], e.key))
                        td_config_warn(warn, "%s:%d: %s is given twice; the last value counts",
                                       path, e.line, e.key);
                if (n_seen < 64)
                    snprintf(seen[n_seen++], sizeof(seen[0]), "%s", e.key);
            } else {
                snprintf(e.value, sizeof(e.value), "%s", val);
                e.quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
                saw_number_of_obstacles |= !strcmp(e.key, "NUMBER_OF_OBSTACLES");
                rc = apply_entry(p, &e, path, for_eval, warn, err);
                have_key = 0;
            }
            break;
        }
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    td_free(text);
    if (!rc)
        rc = finish_training_params(p, path, saw_number_of_obstacles, err);
    return rc;
}

int td_training_params_load(td_training_params *p, const char *path, td_config_warnings *warn,
                            td_err *err)
{
    return load_yaml(p, path, 0, warn, err);
}

int td_evaluation_params_load(td_training_params *p, const char *path, td_config_warnings *warn,
                              td_err *err)
{
    return load_yaml(p, path, 1, warn, err);
}

/* True when line (up to its end) sets KEY for one of the domain randomization keys. */
static int is_dr_line(const char *line)
{
    return !strncmp(line, "ENABLE_DOMAIN_RANDOMIZATION:", 28) ||
           !strncmp(line, "DOMAIN_RANDOMIZATION_", 21);
}

int td_training_params_widen_dr(const char *path, const td_dr_ranges *want, td_dr_ranges *out,
                                td_err *err)
{
    td_training_params p;
    char *text = NULL;
    size_t len = 0;
    int rc;
    td_training_params_default(&p);
    if (td_path_exists(path)) {
        rc = td_training_params_load(&p, path, NULL, err);
        if (!rc)
            rc = td_file_read(path, &text, &len, err);
        if (rc)
            return rc;
    }
    td_dr_ranges u;
    td_dr_ranges_union(&u, &p.race.dr, want);
    rc = td_dr_ranges_check(&u, err);
    if (rc) {
        td_free(text);
        return rc;
    }
    /* The file's other lines as they were; the domain randomization keys (and the indented
     * lines of a block list under one) replaced by ours at the end. */
    size_t cap = len + 1024, n = 0;
    char *buf = td_malloc(cap);
    int skipping = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        const char *line = text + i;
        size_t ll = j - i;
        if (is_dr_line(line))
            skipping = 1;
        else if (skipping && ll > 0 && line[0] != ' ' && line[0] != '-' && line[0] != '\t')
            skipping = 0;
        if (!skipping) {
            memcpy(buf + n, line, ll);
            n += ll;
            buf[n++] = '\n';
        }
        i = j < len ? j + 1 : j;
    }
    n += (size_t)snprintf(buf + n, cap - n,
                          "ENABLE_DOMAIN_RANDOMIZATION: true\n"
                          "DOMAIN_RANDOMIZATION_BRIGHTNESS: [%.4g, %.4g]\n"
                          "DOMAIN_RANDOMIZATION_CONTRAST: [%.4g, %.4g]\n"
                          "DOMAIN_RANDOMIZATION_EXPOSURE: [%.4g, %.4g]\n"
                          "DOMAIN_RANDOMIZATION_TEXTURE: %.4g\n"
                          "DOMAIN_RANDOMIZATION_NOISE: %.4g\n"
                          "DOMAIN_RANDOMIZATION_BLUR: %.4g\n"
                          "DOMAIN_RANDOMIZATION_VIGNETTE: %.4g\n",
                          u.brightness[0], u.brightness[1], u.contrast[0], u.contrast[1],
                          u.exposure[0], u.exposure[1], u.texture_hi, u.noise_hi, u.blur_hi,
                          u.vignette_hi);
    td_free(text);
    rc = td_file_write_atomic(path, buf, n, err);
    td_free(buf);
    if (!rc && out) {
        /* The ranges as a reader of the file reads them (as written, rounded to 4 digits). */
        rc = td_training_params_load(&p, path, NULL, err);
        if (!rc)
            *out = p.race.dr;
    }
    return rc;
}

/* ==================================================================================== */
/* deepracer-for-cloud's run.env                                                        */
/* ==================================================================================== */

#define ENV_MAX 160

typedef struct {
    char key[96];
    char value[256];
    int line;
} env_var;

/* Expands $NAME and ${NAME} from the variables read so far (DRfC's files refer back, e.g.
 * DR_DISPLAY_NAME=$DR_CAR_NAME). Unknown names expand to nothing, as in the shell. */
static void env_expand(const char *in, char *out, size_t cap, const env_var *vars, int n)
{
    size_t k = 0;
    while (*in && k + 1 < cap) {
        if (*in == '$' && (in[1] == '{' || isalpha((unsigned char)in[1]) || in[1] == '_')) {
            int brace = in[1] == '{';
            const char *s = in + 1 + brace;
            size_t l = 0;
            while (isalnum((unsigned char)s[l]) || s[l] == '_')
                l++;
            for (int i = n - 1; i >= 0; i--)
                if (strlen(vars[i].key) == l && !strncmp(vars[i].key, s, l)) {
                    for (const char *c = vars[i].value; *c && k + 1 < cap; c++)
                        out[k++] = *c;
                    break;
                }
            in = s + l + (brace && s[l] == '}');
            continue;
        }
        out[k++] = *in++;
    }
    out[k] = '\0';
}

/* Strips matching quotes around a value. */
static void unquote(char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        memmove(v, v + 1, n - 2);
        v[n - 2] = '\0';
    }
}

int td_run_env_load(td_training_params *p, const char *path, td_config_warnings *warn, td_err *err)
{
    char *text;
    size_t len;
    env_var *vars;
    int n = 0, rc;

    td_training_params_default(p);
    rc = td_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    vars = td_calloc(ENV_MAX, sizeof(*vars));
    if (!vars) {
        td_free(text);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    }
    /* Pass 1: the variables, in order, with references expanded. */
    int line = 0;
    for (char *s = text; s && *s && !rc;) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        line++;
        char *b = s;
        s = nl ? nl + 1 : NULL;
        while (isspace((unsigned char)*b))
            b++;
        size_t l = strlen(b);
        while (l > 0 && isspace((unsigned char)b[l - 1]))
            b[--l] = '\0';
        if (*b == '\0' || *b == '#')
            continue;
        if (!strncmp(b, "export ", 7))
            b += 7;
        char *eq = strchr(b, '=');
        if (!eq) {
            rc = td_err_set(err, TD_EFORMAT, "%s:%d: expected KEY=value, found \"%.60s\"", path,
                            line, b);
            break;
        }
        *eq = '\0';
        if (n >= ENV_MAX) {
            rc = td_err_set(err, TD_ERANGE, "%s:%d: more than %d variables", path, line, ENV_MAX);
            break;
        }
        env_var *v = &vars[n];
        snprintf(v->key, sizeof(v->key), "%s", b);
        char raw[256];
        snprintf(raw, sizeof(raw), "%s", eq + 1);
        unquote(raw);
        env_expand(raw, v->value, sizeof(v->value), vars, n);
        v->line = line;
        n++;
    }
    /* Pass 2: the race type first, since DRfC writes DR_OA_* keys only for OBJECT_AVOIDANCE
     * and DR_H2B_* only for HEAD_TO_BOT. */
    const char *race = "TIME_TRIAL";
    for (int i = 0; i < n; i++)
        if (!strcmp(vars[i].key, "DR_RACE_TYPE"))
            race = vars[i].value;
    int saw_obstacles = 0;
    for (int i = 0; i < n && !rc; i++) {
        const env_var *v = &vars[i];
        char where[1200];
        snprintf(where, sizeof(where), "%s:%d", path, v->line);
        const td_config_key *k = td_config_key_find(TD_CONFIG_RUN_ENV, v->key);
        if (!k && strstr(v->key, "TRACK_DIRECTION_CLOCKWISE")) {
            /* The console's key has no run.env form: DRfC's prepare-config.py writes no
             * TRACK_DIRECTION_CLOCKWISE, so DeepRacer trains the route DR_WORLD_NAME names. */
            td_config_warn(warn,
                           "%s: %s ignored: deepracer-for-cloud does not read it (its "
                           "prepare-config.py writes no TRACK_DIRECTION_CLOCKWISE); name the "
                           "direction's route in DR_WORLD_NAME (e.g. reInvent2019_wide_cw)",
                           where, v->key);
            continue;
        }
        if (!k) {
            unknown_key(TD_CONFIG_RUN_ENV, v->key, where, warn);
            continue;
        }
        if (k->status == TD_KEY_NO_EFFECT)
            continue;
        if (!strncmp(v->key, "DR_OA_", 6) && strcmp(race, "OBJECT_AVOIDANCE") != 0)
            continue;
        if (!strncmp(v->key, "DR_H2B_", 7) && strcmp(race, "HEAD_TO_BOT") != 0)
            continue;
        if (k->status == TD_KEY_NOT_SUPPORTED) {
            td_config_key as_yaml = *k;
            as_yaml.name = v->key;
            not_supported(&as_yaml, v->value, where, 0, warn);
            continue;
        }
        yaml_entry e;
        memset(&e, 0, sizeof(e));
        snprintf(e.key, sizeof(e.key), "%s", k->maps_to);
        e.line = v->line;
        if (!strcmp(k->maps_to, "OBJECT_POSITIONS")) {
            /* DRfC: positions separated by ';' ("0.25,1;0.75,-1"), empty for none. */
            if (v->value[0] == '\0')
                continue;
            e.is_seq = 1;
            char buf[256];
            snprintf(buf, sizeof(buf), "%s", v->value);
            for (char *tok = buf; tok && *tok;) {
                char *semi = strchr(tok, ';');
                if (semi)
                    *semi = '\0';
                if (e.nseq >= TD_MAX_OBSTACLES) {
                    rc = td_err_set(err, TD_ERANGE, "%s: %s has more than %d positions", where,
                                    v->key, TD_MAX_OBSTACLES);
                    break;
                }
                if (snprintf(e.seq[e.nseq++], sizeof(e.seq[0]), "%s", tok) >=
                    (int)sizeof(e.seq[0])) {
                    rc = td_err_set(err, TD_EINVAL,
                                    "%s: %s: a position is longer than %d "
                                    "characters",
                                    where, v->key, (int)sizeof(e.seq[0]) - 1);
                    break;
                }
                tok = semi ? semi + 1 : NULL;
            }
            if (rc)
                break;
        } else {
            snprintf(e.value, sizeof(e.value), "%s", v->value);
        }
        saw_obstacles |= !strcmp(e.key, "NUMBER_OF_OBSTACLES");
        rc = apply_entry(p, &e, path, 0, warn, err);
        if (rc)
            td_err_prefix(err, rc, "%s (from %s): ", v->key,
                          td_config_file_name(TD_CONFIG_RUN_ENV));
    }
    if (!rc)
        rc = finish_training_params(p, path, saw_obstacles, err);
    td_free(vars);
    td_free(text);
    return rc;
}

/* ==================================================================================== */
/* The directory                                                                        */
/* ==================================================================================== */

int td_model_dir_check(const char *dir, td_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno == ENOENT ? 0
                               : td_err_set(err, errno == EACCES ? TD_EPERM : TD_EIO,
                                            "%s: cannot reach the model directory: %s (check "
                                            "the permissions of the directories above it)",
                                            dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return td_err_set(err, TD_EINVAL, "%s is a file, not a model directory", dir);
    if (access(dir, R_OK | X_OK) != 0)
        return td_err_set(err, TD_EPERM,
                          "%s: cannot enter the model directory: %s (its owner can allow it "
                          "with chmod, or run as its owner)",
                          dir, strerror(errno));
    return 0;
}

int td_model_dir_load(td_model_dir *d, const char *dir, td_err *err)
{
    char path[1200], yaml_path[1200];
    int rc;

    memset(d, 0, sizeof(*d));
    if ((rc = td_model_dir_check(dir, err)))
        return rc;
    /* DIR fits d->path (1024 bytes), so DIR/ and a name of at most 22 bytes fit path (1200):
     * the joins below cannot fail. */
    if ((rc = td_path_fmt(d->path, sizeof(d->path), err, "%s", dir)) ||
        (rc = td_path_join(path, sizeof(path), dir, "model_metadata.json", err)))
        return td_err_prefix(err, rc, "model directory: ");
    if (!td_path_exists(path))
        return td_err_set(err, TD_ENOENT,
                          "%s: no model_metadata.json (create a model directory with 'trackday "
                          "init %s', or bring a DeepRacer one with 'trackday import')",
                          dir, dir);
    rc = td_model_metadata_load(&d->metadata, path, &d->warnings, err);
    if (rc)
        return rc;
    td_path_join(path, sizeof(path), dir, "hyperparameters.json", NULL);
    if (td_path_exists(path)) {
        rc = td_hyperparams_load(&d->hyper, path, d->metadata.algorithm, &d->warnings, err);
        if (rc)
            return rc;
    } else {
        td_hyperparams_default(&d->hyper);
        td_config_warn(&d->warnings,
                       "%s: no hyperparameters.json; DeepRacer's defaults are used (discount "
                       "0.999, mean squared error loss, 20 episodes per iteration)",
                       dir);
    }
    td_path_join(yaml_path, sizeof(yaml_path), dir, "training_params.yaml", NULL);
    td_path_join(path, sizeof(path), dir, "run.env", NULL);
    if (td_path_exists(yaml_path)) {
        d->has_training_params = 1;
        rc = td_training_params_load(&d->training, yaml_path, &d->warnings, err);
        if (rc)
            return rc;
        if (td_path_exists(path))
            td_config_warn(&d->warnings, "%s: ignored, training_params.yaml is read instead", path);
    } else if (td_path_exists(path)) {
        d->has_run_env = 1;
        rc = td_run_env_load(&d->training, path, &d->warnings, err);
        if (rc)
            return rc;
    } else {
        td_training_params_default(&d->training);
    }
    td_path_join(path, sizeof(path), dir, "evaluation_params.yaml", NULL);
    if (td_path_exists(path)) {
        d->has_evaluation_params = 1;
        rc = td_evaluation_params_load(&d->evaluation, path, &d->warnings, err);
        if (rc)
            return rc;
    }
    td_path_join(path, sizeof(path), dir, "reward_function.py", NULL);
    d->has_reward_py = td_path_exists(path);
    return 0;
}

const td_training_params *td_model_dir_eval_params(const td_model_dir *d)
{
    return d->has_evaluation_params ? &d->evaluation : &d->training;
}
