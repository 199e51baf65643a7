/*
 * vecenv.c - the vector environment: N cars stepped in chunks by a persistent thread pool,
 * writing into buffers the caller owns (PufferLib style; the pool is core/pool.c). The
 * configuration defaults, the names of race types and episode statuses and the default reward
 * are config.c.
 *
 * A step has two parallel phases around the reward callback, in DeepRacer's order
 * (deepracer_racetrack_env.py _update_state): (A) for every car the params and end rules at
 * the pose where its action was chosen (update_agent, physics paused), then the physics step
 * with that action (the car, its clock and its objects move on); the callback over the whole
 * batch on the calling thread; (B) the observations after the physics (judge_action reads the
 * sensors), then episode ends and penalty resets. Cars never read each other's state, so a
 * run does not depend on which thread steps which car.
 */
#include <math.h>
#include <string.h>

#include "core/pool.h"
#include "sim/sim_internal.h"

#define MAX_THREADS 64

/* ---- init and free -------------------------------------------------------------------------- */

void td_vecenv_free(td_vecenv *env)
{
    td__vecenv_priv *pv = env->priv;
    if (!pv)
        return;
    td__pool_close(pv->pool);
    td_free(pv->cars);
    td_free(pv->gather_params);
    td_free(pv->gather_rewards);
    td_free(pv->gather_car);
    td_free(pv->lidar_raw);
    td__dirdata_free(&pv->dir[0]);
    td__dirdata_free(&pv->dir[1]);
    if (pv->ground)
        td_ground_map_close(pv->ground);
    if (pv->lgrid)
        td_lidar_grid_close(pv->lgrid);
    if (pv->reverse.center)
        td_track_free(&pv->reverse);
    td_free(pv);
    env->priv = NULL;
}

/* Checks the training_params.yaml keys; errors name the key and the allowed range. */
static int check_race(const td_race_config *r, td_err *err)
{
    if ((int)r->race_type < 0 || r->race_type > TD_RACE_HEAD_TO_BOT)
        return td_err_set(err, TD_EINVAL,
                          "sim: RACE_TYPE %d is not TIME_TRIAL, "
                          "OBJECT_AVOIDANCE or HEAD_TO_BOT",
                          (int)r->race_type);
    if (!(r->start_position_offset >= 0 && r->start_position_offset <= 1))
        return td_err_set(err, TD_ERANGE, "sim: START_POSITION_OFFSET %g is outside [0, 1]",
                          r->start_position_offset);
    if (!(r->round_robin_advance_dist >= 0 && r->round_robin_advance_dist <= 1))
        return td_err_set(err, TD_ERANGE, "sim: ROUND_ROBIN_ADVANCE_DIST %g is outside [0, 1]",
                          r->round_robin_advance_dist);
    if (r->number_of_obstacles < 0 || r->number_of_obstacles > TD_MAX_OBSTACLES)
        return td_err_set(err, TD_ERANGE, "sim: NUMBER_OF_OBSTACLES %d is outside 0..%d",
                          r->number_of_obstacles, TD_MAX_OBSTACLES);
    if (r->n_object_positions < 0 || r->n_object_positions > TD_MAX_OBSTACLES)
        return td_err_set(err, TD_ERANGE, "sim: OBJECT_POSITIONS has %d entries (at most %d)",
                          r->n_object_positions, TD_MAX_OBSTACLES);
    for (int k = 0; k < r->n_object_positions; k++)
        if (!(r->object_positions[k][0] >= 0 && r->object_positions[k][0] <= 1))
            return td_err_set(err, TD_ERANGE,
                              "sim: OBJECT_POSITIONS entry %d: progress fraction %g is "
                              "outside [0, 1]",
                              k + 1, r->object_positions[k][0]);
    if (!(r->min_distance_between_obstacles >= 0))
        return td_err_set(err, TD_ERANGE, "sim: MIN_DISTANCE_BETWEEN_OBSTACLES %g is negative",
                          r->min_distance_between_obstacles);
    if (!(r->obstacle_length_m > 0 && r->obstacle_width_m > 0 && r->obstacle_height_m > 0))
        return td_err_set(err, TD_ERANGE, "sim: obstacle size %g x %g x %g m must be > 0",
                          r->obstacle_length_m, r->obstacle_width_m, r->obstacle_height_m);
    if (r->number_of_bot_cars < 0 || r->number_of_bot_cars > TD_MAX_BOTS)
        return td_err_set(err, TD_ERANGE, "sim: NUMBER_OF_BOT_CARS %d is outside 0..%d",
                          r->number_of_bot_cars, TD_MAX_BOTS);
    int n_obstacles = r->n_object_positions > 0 ? r->n_object_positions : r->number_of_obstacles;
    if (n_obstacles + r->number_of_bot_cars > TD_MAX_OBJECTS)
        return td_err_set(err, TD_ERANGE,
                          "sim: %d obstacles and %d bots: a world holds at most %d objects",
                          n_obstacles, r->number_of_bot_cars, TD_MAX_OBJECTS);
    if (!(r->min_distance_between_bot_cars >= 0))
        return td_err_set(err, TD_ERANGE, "sim: MIN_DISTANCE_BETWEEN_BOT_CARS %g is negative",
                          r->min_distance_between_bot_cars);
    if (!(r->penalty_seconds >= 0 && r->penalty_seconds <= 3600))
        return td_err_set(err, TD_ERANGE, "sim: PENALTY_SECONDS %g is outside [0, 3600]",
                          r->penalty_seconds);
    if (!(r->bot_car_speed >= 0 && r->bot_car_speed <= 10))
        return td_err_set(err, TD_ERANGE, "sim: BOT_CAR_SPEED %g is outside [0, 10] m/s",
                          r->bot_car_speed);
    if (r->is_lane_change &&
        !(r->lower_lane_change_time > 0 && r->upper_lane_change_time >= r->lower_lane_change_time))
        return td_err_set(err, TD_ERANGE,
                          "sim: LOWER_LANE_CHANGE_TIME %g and UPPER_LANE_CHANGE_TIME %g must "
                          "satisfy 0 < lower <= upper",
                          r->lower_lane_change_time, r->upper_lane_change_time);
    if (r->is_lane_change && !(r->lane_change_distance > 0))
        return td_err_set(err, TD_ERANGE, "sim: LANE_CHANGE_DISTANCE %g must be > 0",
                          r->lane_change_distance);
    return 0;
}

int td_vecenv_init(td_vecenv *env, const td_sim_config *cfg, const td_track *track, int n,
                   td_err *err)
{
    int rc;
    memset(env, 0, sizeof(*env));
    if (n < 1)
        return td_err_set(err, TD_EINVAL, "sim: the number of cars must be >= 1 (got %d)", n);
    if (!track || track->n < 2 || !(track->length > 0))
        return td_err_set(err, TD_EINVAL, "sim: the track has no length");
    if (!(cfg->hz > 0) || cfg->car.substeps < 1 || !(cfg->car.wheelbase_m > 0))
        return td_err_set(err, TD_EINVAL, "sim: hz, substeps and wheelbase must be > 0");
    if (cfg->mode == TD_MODE_CONTINUOUS && cfg->laps < 1)
        return td_err_set(err, TD_EINVAL, "sim: continuous mode needs laps >= 1 (got %d)",
                          cfg->laps);
    if (cfg->penalties.max_resets < 0)
        return td_err_set(err, TD_EINVAL, "sim: max_resets %d is negative",
                          cfg->penalties.max_resets);
    if (!(cfg->penalties.off_track_penalty_s >= 0 && cfg->penalties.off_track_penalty_s <= 3600) ||
        !(cfg->penalties.collision_penalty_s >= 0 && cfg->penalties.collision_penalty_s <= 3600))
        return td_err_set(err, TD_ERANGE, "sim: penalties %g and %g s must be in [0, 3600]",
                          cfg->penalties.off_track_penalty_s, cfg->penalties.collision_penalty_s);
    rc = check_race(&cfg->race, err);
    if (rc)
        return rc;
    if ((int)cfg->lidar_encoding < 0 || cfg->lidar_encoding > TD_LIDAR_ENC_RAW)
        return td_err_set(err, TD_EINVAL, "sim: unknown lidar encoding %d",
                          (int)cfg->lidar_encoding);
    if (cfg->car.substeps > TD__MAX_SUBSTEPS)
        return td_err_set(err, TD_EINVAL, "sim: substeps %d is above %d", cfg->car.substeps,
                          TD__MAX_SUBSTEPS);
    if ((cfg->sensors & TD_SENSOR_LIDAR) && (cfg->lidar.beams < 1 || cfg->lidar.num_sectors < 1 ||
                                             cfg->lidar.beams % cfg->lidar.num_sectors != 0))
        return td_err_set(err, TD_EINVAL,
                          "sim: lidar beams (%d) must be a multiple of num_sectors (%d)",
                          cfg->lidar.beams, cfg->lidar.num_sectors);
    env->n = n;
    env->cfg = *cfg;
    td__vecenv_priv *pv = td_calloc(1, sizeof(*pv));
    if (!pv)
        return td_err_set(err, TD_ENOMEM, "sim: out of memory");
    env->priv = pv;
    rc = td_track_reverse(&pv->reverse, track, err);
    if (rc)
        goto fail;
    pv->tracks[0] = track;
    pv->tracks[1] = &pv->reverse;
    for (int d = 0; d < 2; d++) {
        rc = td__dirdata_init(&pv->dir[d], pv->tracks[d], err);
        if (rc)
            goto fail;
    }
    if (cfg->sensors & (TD_SENSOR_CAMERA | TD_SENSOR_STEREO)) {
        rc = td_ground_map_open(&pv->ground, track, cfg->ground_cell_m, err);
        if (rc)
            goto fail;
    }
    if (cfg->sensors & TD_SENSOR_LIDAR) {
        rc = td_lidar_grid_open(&pv->lgrid, track, cfg->lidar_cell_m, err);
        if (rc)
            goto fail;
        /* DeepRacer's encodings clip at 0.5-2 m: a scan searching only that far gives
         * bit-identical encodings several times faster. */
        static const int reach_enc[] = {TD_LIDAR_REACH_CLIPPED, TD_LIDAR_REACH_SECTOR,
                                        TD_LIDAR_REACH_DISCRETIZED, TD_LIDAR_REACH_RAW};
        if (cfg->lidar_encoding != TD_LIDAR_ENC_RAW)
            pv->lidar_reach_m = td_lidar_reach_m(&cfg->lidar, reach_enc[cfg->lidar_encoding]);
        pv->lidar_raw = td_calloc((size_t)n * (size_t)cfg->lidar.beams, sizeof(float));
        if (!pv->lidar_raw) {
            rc = td_err_set(err, TD_ENOMEM, "sim: out of memory for lidar scans");
            goto fail;
        }
    }
    pv->cars = td_malloc_aligned(64, sizeof(td__car) * (size_t)n);
    if (!pv->cars) {
        rc = td_err_set(err, TD_ENOMEM, "sim: out of memory for %d cars", n);
        goto fail;
    }
    memset(pv->cars, 0, sizeof(td__car) * (size_t)n);
    pv->gather_params = td_malloc(sizeof(td_params) * (size_t)n);
    pv->gather_rewards = td_malloc(sizeof(float) * (size_t)n);
    pv->gather_car = td_malloc(sizeof(int) * (size_t)n);
    if (!pv->gather_params || !pv->gather_rewards || !pv->gather_car) {
        rc = td_err_set(err, TD_ENOMEM, "sim: out of memory for %d cars", n);
        goto fail;
    }
    pv->n_gather = -1;
    pv->dt = 1.0 / cfg->hz;
    td__car_coeffs_init(&pv->coeffs, &cfg->car, pv->dt);
    pv->wheel_reach_m = td__wheel_reach(&cfg->car);
    pv->look_default = cfg->look;
    /* The surroundings a camera may see (drawn when a look has decor). */
    if (cfg->sensors & (TD_SENSOR_CAMERA | TD_SENSOR_STEREO))
        pv->ndecor = td_decor_build(track, cfg->seed, pv->decor, pv->decor_level, TD_DECOR_MAX);
    for (int i = 0; i < n; i++) {
        td__car *c = &pv->cars[i];
        c->index = i;
        /* DeepRacer's round robin starts every worker at START_POSITION_OFFSET; trackday's
         * --spread-starts spreads the cars over the lap instead. */
        double rr = cfg->race.start_position_offset + (cfg->race.spread_starts ? (double)i / n : 0);
        c->rr_ndist = rr - floor(rr);
        td_rng_seed(&c->rng, cfg->seed, (uint64_t)cfg->first_car + (uint64_t)i);
        c->look = cfg->look;
        c->last.episode = -1;
        c->last.lap_time_s = -1.0;
        c->crash_obj = -1;
    }

    int nt = cfg->threads < 1 ? 1 : cfg->threads;
    nt = nt > n ? n : nt;
    nt = nt > MAX_THREADS ? MAX_THREADS : nt;
    rc = td__pool_open(&pv->pool, nt, "sim", err);
    if (rc)
        goto fail;
    return 0;
fail:
    td_vecenv_free(env);
    return rc;
}

/* ---- phases ----------------------------------------------------------------------------- */

static void phase_reset(void *ctx, int lo, int hi)
{
    td_vecenv *env = ctx;
    for (int i = lo; i < hi; i++) {
        td__car *c = &env->priv->cars[i];
        td__car_begin_next_episode(env, c);
        c->step_event = TD_EP_IN_PROGRESS;
        td__car_compute_params(env, c, &env->params[i], TD__PARAMS_POSE);
        td__car_observe(env, c);
        env->rewards[i] = 0.0f;
        env->dones[i] = 0;
    }
}

static void phase_step(void *ctx, int lo, int hi)
{
    td_vecenv *env = ctx;
    for (int i = lo; i < hi; i++) {
        td__car *c = &env->priv->cars[i];
        td__car_begin_step(env, c, env->actions + 2 * i, &env->params[i]);
        td__car_physics(env, c);
    }
}

static void phase_finish(void *ctx, int lo, int hi)
{
    td_vecenv *env = ctx;
    for (int i = lo; i < hi; i++) {
        td__car *c = &env->priv->cars[i];
        td__car_after_reward(env, c, &env->params[i], env->rewards[i], &env->dones[i]);
    }
}

void td_vecenv_reset(td_vecenv *env)
{
    td__pool_run(env->priv->pool, phase_reset, env, env->n);
}

/*
 * The reward of every car that drives this step; a held car (prepare or pause step) gets 0
 * and its params are not passed (DeepRacer does not call the reward function then). When
 * all cars drive, the callback reads env->params in place.
 */
static void rewards(td_vecenv *env)
{
    td__vecenv_priv *pv = env->priv;
    int n = 0;
    for (int i = 0; i < env->n; i++)
        n += pv->cars[i].step_phase == TD__PHASE_RUN;
    if (n == env->n) {
        pv->n_gather = -1;
        if (env->reward_fn) {
            env->reward_fn(env->reward_user, env->params, env->n, env->rewards);
        } else {
            for (int i = 0; i < env->n; i++)
                env->rewards[i] = (float)td_reward_follow_center(&env->params[i]);
        }
        return;
    }
    n = 0;
    for (int i = 0; i < env->n; i++) {
        env->rewards[i] = 0.0f;
        if (pv->cars[i].step_phase != TD__PHASE_RUN)
            continue;
        if (!env->reward_fn) {
            env->rewards[i] = (float)td_reward_follow_center(&env->params[i]);
            continue;
        }
        td_params_copy(&pv->gather_params[n], &env->params[i]);
        pv->gather_car[n++] = i;
    }
    pv->n_gather = n;
    if (!env->reward_fn || n == 0)
        return;
    env->reward_fn(env->reward_user, pv->gather_params, n, pv->gather_rewards);
    for (int k = 0; k < n; k++)
        env->rewards[pv->gather_car[k]] = pv->gather_rewards[k];
}

void td_vecenv_step(td_vecenv *env)
{
    td__pool_run(env->priv->pool, phase_step, env, env->n);
    rewards(env);
    td__pool_run(env->priv->pool, phase_finish, env, env->n);
}

/* ---- accessors and tools -------------------------------------------------------------------- */

const td_episode_info *td_vecenv_last_episode(const td_vecenv *env, int i)
{
    return &env->priv->cars[i].last;
}

const td_params *td_vecenv_last_params(const td_vecenv *env, int i)
{
    return &env->priv->cars[i].last_params;
}

const td_params *td_vecenv_step_params(const td_vecenv *env, int i)
{
    return &env->params[i];
}

const td_episode_info *td_vecenv_current_episode(const td_vecenv *env, int i)
{
    return &env->priv->cars[i].info;
}

td_episode_status td_vecenv_step_status(const td_vecenv *env, int i)
{
    return env->priv->cars[i].step_event;
}

double td_vecenv_step_pause_s(const td_vecenv *env, int i)
{
    return env->priv->cars[i].pause_s;
}

int td_vecenv_reward_car(const td_vecenv *env, int k)
{
    const td__vecenv_priv *pv = env->priv;
    return pv->n_gather < 0 ? k : (k >= 0 && k < pv->n_gather ? pv->gather_car[k] : -1);
}

const td_car_state *td_vecenv_car(const td_vecenv *env, int i)
{
    return &env->priv->cars[i].st;
}

const td_track *td_vecenv_track(const td_vecenv *env, int i)
{
    return env->priv->tracks[env->priv->cars[i].dir];
}

int td_vecenv_boxes(const td_vecenv *env, int i, const td_box **boxes)
{
    *boxes = env->priv->cars[i].boxes;
    return env->priv->cars[i].nobj;
}

void td_vecenv_scene(const td_vecenv *env, int i, td_scene *out)
{
    const td__vecenv_priv *pv = env->priv;
    const td__car *c = &pv->cars[i];
    out->track = pv->tracks[c->dir];
    out->ground = pv->ground;
    out->boxes = c->boxes;
    out->nboxes = c->nobj;
    out->look = env->cfg.race.enable_domain_randomization ? &c->look : &pv->look_default;
    out->decor = pv->decor;
    out->decor_level = pv->decor_level;
    out->ndecor = pv->ndecor;
}

void td_vecenv_camera_frame(const td_vecenv *env, int i, td_camera_frame *out)
{
    *out = env->priv->cars[i].frame;
}

void td_vecenv_teleport(td_vecenv *env, int i, double x, double y, double yaw, double speed)
{
    td__car *c = &env->priv->cars[i];
    td_car_place(&c->st, x, y, yaw);
    td_car_set_speed(&env->cfg.car, &c->st, speed);
    /* last_x, last_y stay: the immobilized rule compares the poses of consecutive steps,
     * and a car moved between them has moved. */
    c->pose_x = x;
    c->pose_y = y;
    c->pose_yaw = yaw;
    td__car_locate(env, c, 1);
    td__car_compute_params(env, c, &env->params[i], TD__PARAMS_POSE);
    /* A move: the next progress follows from this one (teleports in small moves go round). */
    c->prev_progress = env->params[i].progress;
}

void td_vecenv_reset_car_at(td_vecenv *env, int i, double start_ndist, int reversed)
{
    td__car *c = &env->priv->cars[i];
    td__car_start_episode(env, c, start_ndist, reversed ? 1 : 0);
    td__car_compute_params(env, c, &env->params[i], TD__PARAMS_POSE);
    td__car_observe(env, c);
    env->dones[i] = 0;
}
