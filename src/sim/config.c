/*
 * config.c - the simulator's configuration: the defaults (DeepRacer's), the names of race
 * types and episode statuses, the default reward, and the buffer sizes a configuration implies.
 */
#include <ctype.h>
#include <string.h>

#include "sim/sim_internal.h"

void td_race_config_default(td_race_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->race_type = TD_RACE_TIME_TRIAL;
    cfg->change_start_position = 1;
    cfg->round_robin_advance_dist = 0.05;
    cfg->number_of_obstacles = 0;
    cfg->min_distance_between_obstacles = 2.0;
    cfg->obstacle_length_m = 0.5;
    cfg->obstacle_width_m = 0.4;
    cfg->obstacle_height_m = 0.3;
    cfg->number_of_bot_cars = 0;
    cfg->min_distance_between_bot_cars = 2.0;
    cfg->bot_car_speed = 0.2;
    cfg->penalty_seconds = 2.0;
    cfg->lower_lane_change_time = 3.0;
    cfg->upper_lane_change_time = 5.0;
    cfg->lane_change_distance = 1.0;
}

void td_sim_config_default(td_sim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    td_car_config_default(&cfg->car);
    td_race_config_default(&cfg->race);
    cfg->mode = TD_MODE_TRAIN;
    cfg->sensors = TD_SENSOR_STATE;
    td_camera_config_default(&cfg->camera);
    td_look_default(&cfg->look);
    td_lidar_config_default(&cfg->lidar);
    cfg->lidar_encoding = TD_LIDAR_ENC_CLIPPED;
    cfg->hz = TD_SIM_HZ;
    cfg->max_steps = 100000;
    cfg->laps = 3;
    cfg->penalties.off_track_penalty_s = 2.0;
    cfg->penalties.collision_penalty_s = 5.0;
    cfg->penalties.max_resets = 0;
    cfg->crash_reset_behind_m = 1.0;
    cfg->reversed_limit_steps = 15;
    cfg->immobilized_limit_steps = 15;
    cfg->immobilized_dist_m = 0.0003;
    cfg->ground_cell_m = TD_GROUND_CELL_M;
    cfg->lidar_cell_m = TD_LIDAR_CELL_M;
    cfg->threads = 1;
    cfg->seed = 1;
}

void td_race_config_set_type(td_race_config *cfg, td_race_type t)
{
    cfg->race_type = t;
    if (t == TD_RACE_TIME_TRIAL) {
        cfg->number_of_obstacles = 0;
        cfg->n_object_positions = 0;
        cfg->number_of_bot_cars = 0;
    } else if (t == TD_RACE_OBJECT_AVOIDANCE) {
        if (cfg->number_of_obstacles == 0 && cfg->n_object_positions == 0)
            cfg->number_of_obstacles = 3;
        cfg->number_of_bot_cars = 0;
    } else if (t == TD_RACE_HEAD_TO_BOT) {
        if (cfg->number_of_bot_cars == 0)
            cfg->number_of_bot_cars = 3;
        cfg->number_of_obstacles = 0;
        cfg->n_object_positions = 0;
    }
}

void td_eval_config_default(td_eval_config *e)
{
    e->number_of_trials = 3;
    e->is_continuous = 0;
    e->number_of_resets = TD_EVAL_DEFAULT_RESETS;
    e->off_track_penalty_s = 2.0;
    e->collision_penalty_s = 5.0;
}

void td_eval_config_apply(const td_eval_config *e, td_sim_config *cfg)
{
    cfg->mode = e->is_continuous ? TD_MODE_CONTINUOUS : TD_MODE_EVAL;
    cfg->laps = e->number_of_trials;
    cfg->penalties.max_resets = e->number_of_resets;
    cfg->penalties.off_track_penalty_s = e->off_track_penalty_s;
    cfg->penalties.collision_penalty_s = e->collision_penalty_s;
}

const char *td_race_type_name(td_race_type t)
{
    switch (t) {
    case TD_RACE_TIME_TRIAL:
        return "TIME_TRIAL";
    case TD_RACE_OBJECT_AVOIDANCE:
        return "OBJECT_AVOIDANCE";
    case TD_RACE_HEAD_TO_BOT:
        return "HEAD_TO_BOT";
    }
    return "UNKNOWN";
}

/* Compares ignoring case and treating '-' as '_'. */
static int name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int x = *a == '-' ? '_' : toupper((unsigned char)*a);
        int y = *b == '-' ? '_' : toupper((unsigned char)*b);
        if (x != y)
            return 0;
    }
    return *a == *b;
}

int td_race_type_parse(const char *s, td_race_type *out)
{
    static const td_race_type all[] = {TD_RACE_TIME_TRIAL, TD_RACE_OBJECT_AVOIDANCE,
                                       TD_RACE_HEAD_TO_BOT};
    for (int i = 0; i < 3; i++) {
        if (s && name_eq(s, td_race_type_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    }
    return TD_EINVAL;
}

const char *td_episode_status_name(td_episode_status s)
{
    switch (s) {
    case TD_EP_IN_PROGRESS:
        return "in_progress";
    case TD_EP_LAP_COMPLETE:
        return "lap_complete";
    case TD_EP_CRASHED:
        return "crashed";
    case TD_EP_OFF_TRACK:
        return "off_track";
    case TD_EP_REVERSED:
        return "reversed";
    case TD_EP_IMMOBILIZED:
        return "immobilized";
    case TD_EP_TIME_UP:
        return "time_up";
    case TD_EP_PREPARE:
        return "prepare";
    case TD_EP_PAUSE:
        return "pause";
    }
    return "unknown";
}

const char *td_episode_status_label(td_episode_status s)
{
    switch (s) {
    case TD_EP_IN_PROGRESS:
        return "In progress";
    case TD_EP_LAP_COMPLETE:
        return "Lap complete";
    case TD_EP_CRASHED:
        return "Crashed";
    case TD_EP_OFF_TRACK:
        return "Off track";
    case TD_EP_REVERSED:
        return "Reversed";
    case TD_EP_IMMOBILIZED:
        return "Immobilized";
    case TD_EP_TIME_UP:
        return "Time Up";
    case TD_EP_PREPARE:
        return "Prepare";
    case TD_EP_PAUSE:
        return "Pause";
    }
    return "In progress";
}

double td_reward_follow_center(const td_params *p)
{
    double w = p->track_width, d = p->distance_from_center;
    if (d <= 0.1 * w)
        return 1.0;
    if (d <= 0.25 * w)
        return 0.5;
    if (d <= 0.5 * w)
        return 0.1;
    return 1e-3;
}

int td_vecenv_camera_bytes(const td_sim_config *cfg)
{
    if (cfg->sensors & TD_SENSOR_STEREO)
        return cfg->camera.width * cfg->camera.height * 2;
    if (cfg->sensors & TD_SENSOR_CAMERA)
        return cfg->camera.width * cfg->camera.height;
    return 0;
}

int td_vecenv_lidar_dim(const td_sim_config *cfg)
{
    if (!(cfg->sensors & TD_SENSOR_LIDAR))
        return 0;
    switch (cfg->lidar_encoding) {
    case TD_LIDAR_ENC_SECTOR:
        return 8;
    case TD_LIDAR_ENC_DISCRETIZED:
        return cfg->lidar.num_sectors * cfg->lidar.num_values_per_sector;
    default:
        return cfg->lidar.beams;
    }
}
