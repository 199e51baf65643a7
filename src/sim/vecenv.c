/*
 * vecenv.c - the vector environment: N cars stepped in chunks by a persistent thread pool,
 * writing into buffers the caller owns (PufferLib style). Also the configuration defaults,
 * names of race types and episode statuses, and the default reward.
 *
 * A step has two parallel phases around the reward callback, in DeepRacer's order
 * (deepracer_racetrack_env.py _update_state): (A) for every car the params and end rules at
 * the pose where its action was chosen (update_agent, physics paused), then the physics step
 * with that action (the car, its clock and its objects move on); the callback over the whole
 * batch on the calling thread; (B) the observations after the physics (judge_action reads the
 * sensors), then episode ends and penalty resets. Cars never read each other's state, so a
 * run does not depend on which thread steps which car.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "sim/sim_internal.h"

#define MAX_THREADS 64

/* ---- configuration ------------------------------------------------------------------------- */

void td_race_config_default(td_race_config *rc)
{
    memset(rc, 0, sizeof(*rc));
    rc->race_type = TD_RACE_TIME_TRIAL;
    rc->change_start_position = 1;
    rc->round_robin_advance_dist = 0.05;
    rc->number_of_obstacles = 0;
    rc->min_distance_between_obstacles = 2.0;
    rc->obstacle_length_m = 0.5;
    rc->obstacle_width_m = 0.4;
    rc->obstacle_height_m = 0.3;
    rc->number_of_bot_cars = 0;
    rc->min_distance_between_bot_cars = 2.0;
    rc->bot_car_speed = 0.2;
    rc->penalty_seconds = 2.0;
    rc->lower_lane_change_time = 3.0;
    rc->upper_lane_change_time = 5.0;
    rc->lane_change_distance = 1.0;
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

void td_race_config_set_type(td_race_config *rc, td_race_type t)
{
    rc->race_type = t;
    if (t == TD_RACE_TIME_TRIAL) {
        rc->number_of_obstacles = 0;
        rc->n_object_positions = 0;
        rc->number_of_bot_cars = 0;
    } else if (t == TD_RACE_OBJECT_AVOIDANCE) {
        if (rc->number_of_obstacles == 0 && rc->n_object_positions == 0)
            rc->number_of_obstacles = 3;
        rc->number_of_bot_cars = 0;
    } else if (t == TD_RACE_HEAD_TO_BOT) {
        if (rc->number_of_bot_cars == 0)
            rc->number_of_bot_cars = 3;
        rc->number_of_obstacles = 0;
        rc->n_object_positions = 0;
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

/* ---- thread pool --------------------------------------------------------------------------- */

/* Spin iterations before a waiting thread sleeps: a step of a small batch takes tens of
 * microseconds, far less than a futex wake-up round trip. */
#define SPIN_ITERS 2000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

/*
 * Claims and runs chunks of generation `gen` until none is left. The phase and chunk
 * sizes are read before the claim; a successful compare-and-swap proves the generation
 * (and so what was read) is still current.
 */
static void work_chunks(td_vecenv *env, uint32_t gen)
{
    td__vecenv_priv *pv = env->priv;
    for (;;) {
        uint64_t w = atomic_load(&pv->work);
        if ((uint32_t)(w >> 32) != gen)
            return;
        td__phase_fn fn = atomic_load_explicit(&pv->phase, memory_order_relaxed);
        int nchunks = atomic_load_explicit(&pv->nchunks, memory_order_relaxed);
        int chunk = atomic_load_explicit(&pv->chunk, memory_order_relaxed);
        uint32_t c = (uint32_t)w;
        if ((int)c >= nchunks)
            return;
        if (!atomic_compare_exchange_weak(&pv->work, &w, w + 1))
            continue;
        int lo = (int)c * chunk, hi = lo + chunk < env->n ? lo + chunk : env->n;
        fn(env, lo, hi);
        if (atomic_fetch_add(&pv->done_chunks, 1) + 1 == nchunks &&
            atomic_load(&pv->caller_sleeping)) {
            pthread_mutex_lock(&pv->mu);
            pthread_cond_signal(&pv->cv_done);
            pthread_mutex_unlock(&pv->mu);
        }
    }
}

static void *worker_main(void *arg)
{
    td__worker *w = arg;
    td__vecenv_priv *pv = w->env->priv;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = (uint32_t)(atomic_load(&pv->work) >> 32)) == seen && !atomic_load(&pv->stop)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            /* Announce the sleep before the last check, so the caller either sees a
             * sleeper (and broadcasts under the lock) or this check sees its generation. */
            pthread_mutex_lock(&pv->mu);
            atomic_fetch_add(&pv->sleepers, 1);
            while ((uint32_t)(atomic_load(&pv->work) >> 32) == seen && !atomic_load(&pv->stop))
                pthread_cond_wait(&pv->cv_go, &pv->mu);
            atomic_fetch_sub(&pv->sleepers, 1);
            pthread_mutex_unlock(&pv->mu);
            spins = 0;
        }
        if (atomic_load(&pv->stop))
            break;
        seen = g;
        work_chunks(w->env, g);
    }
    return NULL;
}

static void run_phase(td_vecenv *env, td__phase_fn fn)
{
    td__vecenv_priv *pv = env->priv;
    if (pv->nthreads <= 1) {
        fn(env, 0, env->n);
        return;
    }
    /* A few chunks per thread balance uneven cars (resets, sensors) without much claiming. */
    int chunk = (env->n + 4 * pv->nthreads - 1) / (4 * pv->nthreads);
    chunk = chunk < 4 ? 4 : chunk;
    int nchunks = (env->n + chunk - 1) / chunk;
    atomic_store_explicit(&pv->phase, fn, memory_order_relaxed);
    atomic_store_explicit(&pv->chunk, chunk, memory_order_relaxed);
    atomic_store_explicit(&pv->nchunks, nchunks, memory_order_relaxed);
    atomic_store(&pv->done_chunks, 0);
    uint32_t gen = ++pv->gen;
    if (gen == 0) /* 0 is the workers' initial "seen" */
        gen = ++pv->gen;
    atomic_store(&pv->work, (uint64_t)gen << 32); /* publishes the fields above */
    if (atomic_load(&pv->sleepers) > 0) {
        pthread_mutex_lock(&pv->mu);
        pthread_cond_broadcast(&pv->cv_go);
        pthread_mutex_unlock(&pv->mu);
    }
    work_chunks(env, gen);
    for (int spins = 0; atomic_load(&pv->done_chunks) < nchunks; spins++) {
        if (spins < SPIN_ITERS) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&pv->mu);
        atomic_store(&pv->caller_sleeping, 1);
        while (atomic_load(&pv->done_chunks) < nchunks)
            pthread_cond_wait(&pv->cv_done, &pv->mu);
        atomic_store(&pv->caller_sleeping, 0);
        pthread_mutex_unlock(&pv->mu);
    }
}

static void pool_stop(td__vecenv_priv *pv)
{
    if (!pv->pool_ok)
        return;
    pthread_mutex_lock(&pv->mu);
    atomic_store(&pv->stop, 1);
    pthread_cond_broadcast(&pv->cv_go);
    pthread_mutex_unlock(&pv->mu);
    for (int k = 1; k < pv->nthreads; k++)
        if (pv->threads[k])
            pthread_join(pv->threads[k], NULL);
    pthread_cond_destroy(&pv->cv_go);
    pthread_cond_destroy(&pv->cv_done);
    pthread_mutex_destroy(&pv->mu);
    pv->pool_ok = 0;
}

/* ---- init and free -------------------------------------------------------------------------- */

void td_vecenv_free(td_vecenv *env)
{
    td__vecenv_priv *pv = env->priv;
    if (!pv)
        return;
    pool_stop(pv);
    td_free(pv->threads);
    td_free(pv->workers);
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
    pv->nthreads = nt;
    if (nt > 1) {
        pv->threads = td_calloc((size_t)nt, sizeof(pthread_t));
        pv->workers = td_calloc((size_t)nt, sizeof(td__worker));
        if (!pv->threads || !pv->workers) {
            rc = td_err_set(err, TD_ENOMEM, "sim: out of memory for threads");
            goto fail;
        }
        pthread_mutex_init(&pv->mu, NULL);
        pthread_cond_init(&pv->cv_go, NULL);
        pthread_cond_init(&pv->cv_done, NULL);
        pv->pool_ok = 1;
        for (int k = 1; k < nt; k++) {
            pv->workers[k].env = env;
            pv->workers[k].k = k;
            if (pthread_create(&pv->threads[k], NULL, worker_main, &pv->workers[k]) != 0) {
                pv->threads[k] = 0;
                pv->nthreads = k; /* the started workers still join cleanly */
                rc = td_err_set(err, TD_EINTERNAL, "sim: cannot start worker thread %d", k);
                goto fail;
            }
        }
    }
    return 0;
fail:
    td_vecenv_free(env);
    return rc;
}

/* ---- phases ----------------------------------------------------------------------------- */

static void phase_reset(td_vecenv *env, int lo, int hi)
{
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

static void phase_step(td_vecenv *env, int lo, int hi)
{
    for (int i = lo; i < hi; i++) {
        td__car *c = &env->priv->cars[i];
        td__car_begin_step(env, c, env->actions + 2 * i, &env->params[i]);
        td__car_physics(env, c);
    }
}

static void phase_finish(td_vecenv *env, int lo, int hi)
{
    for (int i = lo; i < hi; i++) {
        td__car *c = &env->priv->cars[i];
        td__car_after_reward(env, c, &env->params[i], env->rewards[i], &env->dones[i]);
    }
}

void td_vecenv_reset(td_vecenv *env)
{
    run_phase(env, phase_reset);
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
    run_phase(env, phase_step);
    rewards(env);
    run_phase(env, phase_finish);
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
