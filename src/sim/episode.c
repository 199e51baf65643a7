/*
 * episode.c - one car's episode in the vector env: start poses (round robin, evaluation,
 * alternate direction), the per-step physics, the reward input `td_params` (DEEPRACER.md
 * section 2), DeepRacer's end rules and their precedence (section 3), and the penalty
 * resets of continuous evaluation (section 9). Also the per-direction track tables these
 * need (segment tangents, border clearance, a curvature table).
 */
#include <math.h>
#include <string.h>

#include "sim/sim_internal.h"

/* Distance from the model point to the farthest wheel centre (DeepRacer geometry). */
double td__wheel_reach(const td_car_config *car)
{
    double ax = car->model_point_m + 0.5 * car->wheelbase_m;
    return sqrt(ax * ax + 0.25 * car->track_m * car->track_m);
}

/* ---- track tables ------------------------------------------------------------------------ */

static double point_seg_dist2(double px, double py, double ax, double ay, double bx, double by)
{
    double dx = bx - ax, dy = by - ay;
    double l2 = dx * dx + dy * dy;
    double u = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0.0;
    u = u < 0 ? 0 : (u > 1 ? 1 : u);
    double qx = ax + u * dx - px, qy = ay + u * dy - py;
    return qx * qx + qy * qy;
}

static double orient(double ax, double ay, double bx, double by, double cx, double cy)
{
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

/* Squared distance between segments ab and cd (0 when they cross). */
static double seg_seg_dist2(const double *a, const double *b, const double *c, const double *d)
{
    double o1 = orient(a[0], a[1], b[0], b[1], c[0], c[1]);
    double o2 = orient(a[0], a[1], b[0], b[1], d[0], d[1]);
    double o3 = orient(c[0], c[1], d[0], d[1], a[0], a[1]);
    double o4 = orient(c[0], c[1], d[0], d[1], b[0], b[1]);
    if (((o1 > 0) != (o2 > 0)) && ((o3 > 0) != (o4 > 0)))
        return 0.0;
    double m = point_seg_dist2(a[0], a[1], c[0], c[1], d[0], d[1]);
    double v = point_seg_dist2(b[0], b[1], c[0], c[1], d[0], d[1]);
    m = v < m ? v : m;
    v = point_seg_dist2(c[0], c[1], a[0], a[1], b[0], b[1]);
    m = v < m ? v : m;
    v = point_seg_dist2(d[0], d[1], a[0], a[1], b[0], b[1]);
    return v < m ? v : m;
}

int td__dirdata_init(td__dirdata *d, const td_track *t, td_err *err)
{
    memset(d, 0, sizeof(*d));
    d->t = t;
    int nseg = t->n - 1;
    d->ncurv = (int)(t->length / TD__CURV_STEP_M) + 2;
    d->tx = td_malloc(sizeof(double) * (size_t)nseg * 3);
    d->curv = td_malloc(sizeof(float) * (size_t)d->ncurv);
    if (!d->tx || !d->curv) {
        td__dirdata_free(d);
        return td_err_set(err, TD_ENOMEM, "sim: out of memory for track tables of '%s'", t->name);
    }
    d->ty = d->tx + nseg;
    d->clear = d->ty + nseg;
    d->inv_length = 1.0 / t->length;
    for (int i = 0; i < nseg; i++) {
        const double *a = t->center + 2 * i;
        double dx = a[2] - a[0], dy = a[3] - a[1], l = hypot(dx, dy);
        d->tx[i] = l > 0 ? dx / l : 1.0;
        d->ty[i] = l > 0 ? dy / l : 0.0;
        /*
         * Clearance: the distance from this centre segment to the nearest border segment
         * anywhere. A point closer than that to the segment is on the road, which lets a
         * step skip the wheel containment tests while the car is well inside (O(n^2) once
         * per track; a few milliseconds for the largest routes).
         */
        double best = INFINITY;
        for (int j = 0; j < nseg; j++) {
            double v = seg_seg_dist2(a, a + 2, t->inner + 2 * j, t->inner + 2 * j + 2);
            best = v < best ? v : best;
            v = seg_seg_dist2(a, a + 2, t->outer + 2 * j, t->outer + 2 * j + 2);
            best = v < best ? v : best;
        }
        if (!t->closed) {
            /* The end rungs of an open route are borders too. */
            double v = seg_seg_dist2(a, a + 2, t->inner, t->outer);
            best = v < best ? v : best;
            v = seg_seg_dist2(a, a + 2, t->inner + 2 * nseg, t->outer + 2 * nseg);
            best = v < best ? v : best;
        }
        d->clear[i] = sqrt(best);
    }
    for (int k = 0; k < d->ncurv; k++)
        d->curv[k] = (float)td_track_curvature_at(t, k * TD__CURV_STEP_M);
    return 0;
}

void td__dirdata_free(td__dirdata *d)
{
    td_free(d->tx);
    td_free(d->curv);
    memset(d, 0, sizeof(*d));
}

/* ---- starts ------------------------------------------------------------------------------ */

/* Index of the first centreline vertex strictly ahead of arc length s. */
static int next_vertex(const td_track *t, double s)
{
    int lo = 0, hi = t->n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (t->arc[mid] > s)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void td__project_near(const td_track *t, double s, double x, double y, td_track_proj *p)
{
    int k = next_vertex(t, td__wrap_arc(t, s)) - 1;
    p->seg = k < 0 ? 0 : (k > t->n - 2 ? t->n - 2 : k);
    td_track_project_from(t, x, y, p);
}

static void reset_counters(td__car *c)
{
    c->reverse_count = 0;
    c->immobile_count = 0;
    c->last_x = c->st.x;
    c->last_y = c->st.y;
    c->crash_obj = -1;
    c->event = TD_EP_IN_PROGRESS;
}

/* The direction toward the first centreline vertex ahead of arc s, from (x, y). */
static double heading_to_next_vertex(const td_track *t, double s, double x, double y)
{
    int k = next_vertex(t, s);
    if (k >= t->n)
        k = t->n - 1;
    double dx = t->center[2 * k] - x, dy = t->center[2 * k + 1] - y;
    if (dx * dx + dy * dy < 1e-12 && k + 1 < t->n) {
        dx = t->center[2 * k + 2] - x;
        dy = t->center[2 * k + 3] - y;
    }
    if (dx * dx + dy * dy < 1e-18) { /* the end of an open route: keep its last direction */
        int g = t->n - 2;
        dx = t->center[2 * g + 2] - t->center[2 * g];
        dy = t->center[2 * g + 3] - t->center[2 * g + 1];
    }
    return atan2(dy, dx);
}

/* 0, or the lane (+1 inner, -1 outer) to start on because an object is near the start. */
static int start_lane(const td_track *t, const td__car *c, double s0)
{
    for (int k = 0; k < c->nobj; k++) {
        const td__object *o = &c->obj[k];
        double ahead = o->proj.arc - s0, behind = s0 - o->proj.arc;
        if (t->closed) {
            ahead = ahead < 0 ? ahead + t->length : ahead;
            behind = behind < 0 ? behind + t->length : behind;
        } else {
            ahead = ahead < 0 ? INFINITY : ahead;
            behind = behind < 0 ? INFINITY : behind;
        }
        if (ahead < 1.0 || behind < 0.5)
            return o->lane_to > 0 ? -1 : 1;
    }
    return 0;
}

/* Puts the car at rest on its start pose at arc s0 of its direction's track. */
static void place_at_start(td_vecenv *env, td__car *c, double s0)
{
    td__vecenv_priv *pv = env->priv;
    const td_track *t = pv->tracks[c->dir];
    double x, y, yaw;
    int lane = start_lane(t, c, s0);
    if (lane) {
        /* An object less than 1 m ahead or 0.5 m behind the start: start on the other
         * lane, along the track (DeepRacer's rule). */
        td_track_lane_point(t, s0, lane, &x, &y);
        td_track_point_at(t, s0, 0.0, NULL, NULL, &yaw);
    } else {
        td_track_point_at(t, s0, 0.0, &x, &y, NULL);
        yaw = heading_to_next_vertex(t, s0, x, y);
    }
    td_car_place(&c->st, x, y, yaw);
    double mx, my;
    td_car_model_point(&env->cfg.car, &c->st, &mx, &my);
    td__project_near(t, s0, mx, my, &c->proj);
    c->prev_progress = 0.0;
    c->cmd_steer_deg = 0.0;
    c->cmd_speed = 0.0;
    reset_counters(c);
}

void td__car_start_episode(td_vecenv *env, td__car *c, double ndist, int dir)
{
    td__vecenv_priv *pv = env->priv;
    const td_track *t = pv->tracks[dir];
    c->dir = dir;
    double s0 = td__wrap_arc(t, ndist * t->length);
    td__objects_place(env, c, s0);
    place_at_start(env, c, s0);
    /* Progress counts from the start point (where the origin stands), as DeepRacer's
     * start_ndist, so it is slightly positive at rest: the model point is ahead. */
    c->start_ndist = s0 * pv->dir[dir].inv_length;

    memset(&c->info, 0, sizeof(c->info));
    c->info.episode = c->episodes_started++;
    c->info.status = TD_EP_IN_PROGRESS;
    c->info.reversed_dir = dir;
    c->info.start_ndist = ndist;
    c->info.lap_time_s = -1.0;
    c->episode_t0 = c->clock;
    c->lap_t0 = c->clock;

    if (env->cfg.race.enable_domain_randomization) {
        td_look_default(&c->look);
        td_look_randomize(&c->look, &c->rng);
    }
}

void td__car_begin_next_episode(td_vecenv *env, td__car *c)
{
    const td_race_config *rc = &env->cfg.race;
    int dir = rc->reverse_dir ? 1 : 0;
    double ndist = 0.0;
    if (env->cfg.mode == TD_MODE_TRAIN) {
        ndist = c->rr_ndist;
        if (rc->change_start_position) {
            c->rr_ndist += rc->round_robin_advance_dist;
            c->rr_ndist -= floor(c->rr_ndist);
        }
        if (rc->alternate_driving_direction && (c->episodes_started & 1))
            dir = !dir;
    }
    td__car_start_episode(env, c, ndist, dir);
}

/* ---- physics ----------------------------------------------------------------------------- */

void td__car_physics(td_vecenv *env, td__car *c, const float *action)
{
    double steer = action[0], speed = action[1];
    /* A NaN from a broken policy must not poison the state; treat it as 0 (clipped). */
    if (!(steer == steer))
        steer = 0.0;
    if (!(speed == speed))
        speed = 0.0;
    c->cmd_steer_deg = steer;
    c->cmd_speed = speed;
    c->last_x = c->st.x;
    c->last_y = c->st.y;
    td__car_step_fast(&env->priv->coeffs, &c->st, steer * (M_PI / 180.0), speed);
    c->clock += env->priv->dt;
    c->info.steps++;
    if (c->nobj)
        td__objects_step(env, c, env->priv->dt);
}

/* ---- params -------------------------------------------------------------------------------- */

/* DeepRacer's compute_current_prog with the start offset (DEEPRACER.md section 2). */
static double progress_of(const td_track *t, double ndist, double start_ndist, double prev)
{
    double p = 100.0 * (ndist - start_ndist);
    if (!t->closed)
        return p < 0 ? 0 : (p > 100 ? 100 : p);
    if (p <= 0.0)
        p += 100.0;
    if (prev > p + 50.0)
        p += 100.0;
    if (p > prev + 50.0)
        p -= 100.0;
    return p < 100.0 ? p : 100.0;
}

void td__car_compute_params(td_vecenv *env, td__car *c, td_params *p, int mode)
{
    td__vecenv_priv *pv = env->priv;
    const td__dirdata *dd = &pv->dir[c->dir];
    const td_track *t = dd->t;
    const td_car_config *car = &env->cfg.car;
    double mx = c->st.x + car->model_point_m * c->st.cos_yaw;
    double my = c->st.y + car->model_point_m * c->st.sin_yaw;
    if (mode == TD__PARAMS_TELEPORT)
        td_track_project(t, mx, my, &c->proj);
    else
        td_track_project_from(t, mx, my, &c->proj);
    const td_track_proj *pr = &c->proj;

    p->x = mx;
    p->y = my;
    double hd = c->st.yaw * (180.0 / M_PI);
    p->heading = hd <= -180.0 ? hd + 360.0 : hd;
    p->speed = c->cmd_speed;
    p->steering_angle = c->cmd_steer_deg;
    double before = c->prev_progress;
    p->progress = progress_of(t, pr->arc * dd->inv_length, c->start_ndist, before);
    p->steps = c->info.steps;
    p->track_length = t->length;
    p->track_width = td_track_width_nearest(t, pr);
    p->distance_from_center = pr->dist;
    p->is_left_of_center = pr->left;
    p->closest_waypoints[0] = pr->prev_wp;
    p->closest_waypoints[1] = pr->next_wp;
    p->projection_distance = pr->arc;
    p->sim_time = c->clock;
    p->is_reversed = c->dir;
    p->n_waypoints = t->n;
    p->waypoints = t->center;

    /* Wheels: a wheel closer to the projected centre point than the segment's clearance is
     * on the road (the straight path to it crosses no border); only the others need the
     * containment test. Well inside the road no wheel needs it. */
    int on = 4;
    double clear = dd->clear[pr->seg];
    if (!(pr->dist + pv->wheel_reach_m < clear)) {
        double w[4][2], c2 = clear * clear;
        td_car_wheels(car, &c->st, w);
        on = 0;
        for (int k = 0; k < 4; k++) {
            double dx = w[k][0] - pr->px, dy = w[k][1] - pr->py;
            if (dx * dx + dy * dy < c2)
                on++;
            else
                on += td_track_on_road(t, pr, w[k][0], w[k][1]);
        }
    }
    p->all_wheels_on_track = on == 4;
    p->is_offtrack = on == 0;

    p->n_objects = c->nobj;
    c->crash_obj = -1;
    p->is_crashed = 0;
    p->object_in_camera = 0;
    p->closest_objects[0] = p->closest_objects[1] = 0;
    if (c->nobj) {
        td__objects_params(env, c, p);
        c->crash_obj = td__objects_crash(env, c);
        p->is_crashed = c->crash_obj >= 0;
    }
    c->prev_progress = p->progress;

    if (mode != TD__PARAMS_STEP) {
        c->event = TD_EP_IN_PROGRESS;
        return;
    }
    /* End rules, counted every step, decided in DeepRacer's precedence. */
    if (p->progress < before)
        c->reverse_count++;
    else
        c->reverse_count = 0;
    double mdx = c->st.x - c->last_x, mdy = c->st.y - c->last_y;
    double lim = env->cfg.immobilized_dist_m;
    if (mdx * mdx + mdy * mdy <= lim * lim)
        c->immobile_count++;
    else
        c->immobile_count = 0;

    if (p->progress >= 100.0)
        c->event = TD_EP_LAP_COMPLETE;
    else if (p->is_crashed)
        c->event = TD_EP_CRASHED;
    else if (p->is_offtrack)
        c->event = TD_EP_OFF_TRACK;
    else if (c->reverse_count >= env->cfg.reversed_limit_steps)
        c->event = TD_EP_REVERSED;
    else if (c->immobile_count >= env->cfg.immobilized_limit_steps)
        c->event = TD_EP_IMMOBILIZED;
    else if (c->info.steps >= env->cfg.max_steps)
        c->event = TD_EP_TIME_UP;
    else
        c->event = TD_EP_IN_PROGRESS;
    c->step_event = c->event;
}

/* ---- after the reward: ends, resets ------------------------------------------------------ */

static void count_event(td_episode_info *info, td_episode_status e)
{
    switch (e) {
    case TD_EP_CRASHED:
        info->crashes++;
        break;
    case TD_EP_OFF_TRACK:
        info->off_tracks++;
        break;
    case TD_EP_REVERSED:
        info->reverses++;
        break;
    case TD_EP_IMMOBILIZED:
        info->immobilized++;
        break;
    default:
        break;
    }
}

static void record_lap(td__car *c)
{
    double lt = c->clock - c->lap_t0;
    if (c->info.laps < TD_MAX_LAPS)
        c->info.lap_times_s[c->info.laps] = lt;
    if (c->info.laps == 0)
        c->info.lap_time_s = lt;
    c->info.laps++;
    c->lap_t0 = c->clock;
}

/*
 * Continuous evaluation: the car is paused for the penalty (added to its clock; the bots
 * keep driving meanwhile) and put back at rest, facing along the track, on a lane: after a
 * crash 1 m behind the object hit on the other lane, else at the previous progress on the
 * lane nearer to where it left.
 */
static void penalty_reset(td_vecenv *env, td__car *c, td_params *p, td_episode_status e)
{
    td__vecenv_priv *pv = env->priv;
    const td_track *t = pv->tracks[c->dir];
    double before = p->progress;
    double s, penalty;
    int lane;
    if (e == TD_EP_CRASHED && c->crash_obj >= 0) {
        const td__object *o = &c->obj[c->crash_obj];
        s = o->proj.arc - env->cfg.crash_reset_behind_m;
        lane = -(o->lane_to != 0 ? o->lane_to : 1);
        penalty = env->cfg.collision_penalty_s;
    } else {
        /* The progress before this step's event (prev of the rules). */
        before = c->info.progress;
        s = (c->start_ndist + before / 100.0) * t->length;
        double ax, ay, bx, by;
        double sw = td__wrap_arc(t, s);
        td_track_lane_point(t, sw, 1, &ax, &ay);
        td_track_lane_point(t, sw, -1, &bx, &by);
        double da = (ax - p->x) * (ax - p->x) + (ay - p->y) * (ay - p->y);
        double db = (bx - p->x) * (bx - p->x) + (by - p->y) * (by - p->y);
        lane = da <= db ? 1 : -1;
        penalty = env->cfg.off_track_penalty_s;
    }
    s = td__wrap_arc(t, s);
    double x, y, hd;
    td_track_lane_point(t, s, lane, &x, &y);
    td_track_point_at(t, s, 0.0, NULL, NULL, &hd);
    td_car_place(&c->st, x, y, hd);
    td__project_near(t, s, x + env->cfg.car.model_point_m * c->st.cos_yaw,
                     y + env->cfg.car.model_point_m * c->st.sin_yaw, &c->proj);
    c->cmd_speed = 0.0;
    c->cmd_steer_deg = 0.0;
    c->clock += penalty;
    c->info.penalty_s += penalty;
    c->info.resets++;
    if (c->nobj)
        td__objects_step(env, c, penalty);
    c->prev_progress = before;
    td__car_compute_params(env, c, p, TD__PARAMS_RESET);
    reset_counters(c);
}

void td__car_after_reward(td_vecenv *env, td__car *c, td_params *p, float reward, uint8_t *done)
{
    td_episode_status e = c->event;
    int end = 0;
    c->info.total_reward += reward;
    c->info.sim_time_s = c->clock - c->episode_t0;
    *done = 0;
    if (e == TD_EP_IN_PROGRESS) {
        c->info.progress = p->progress;
        c->event_params_valid = 0;
        return;
    }
    /* An event may move the car (a reset, a new episode): keep the step as the reward saw
     * it for td_vecenv_step_params. Only on events, so the common step copies nothing. */
    c->event_params = *p;
    if (env->cfg.mode != TD_MODE_CONTINUOUS) {
        if (e == TD_EP_LAP_COMPLETE)
            record_lap(c);
        count_event(&c->info, e);
        c->info.progress = p->progress;
        end = 1;
    } else if (e == TD_EP_LAP_COMPLETE) {
        record_lap(c);
        /* The stored progress restarts at 0 for the next lap. */
        c->prev_progress = 0.0;
        c->info.progress = 0.0;
        if (c->info.laps >= env->cfg.laps) {
            c->info.progress = 100.0;
            end = 1;
        } else if (!env->priv->tracks[c->dir]->closed) {
            /* An open route has no way round: the next lap starts from the start again. */
            place_at_start(env, c, c->start_ndist * env->priv->tracks[c->dir]->length);
            td__car_compute_params(env, c, p, TD__PARAMS_RESET);
        }
    } else if (e == TD_EP_TIME_UP) {
        c->info.progress = p->progress;
        end = 1;
    } else {
        count_event(&c->info, e);
        if (env->cfg.max_resets > 0 && c->info.resets >= env->cfg.max_resets) {
            c->info.progress = p->progress;
            end = 1;
        } else {
            penalty_reset(env, c, p, e);
            c->info.progress = p->progress;
            c->info.sim_time_s = c->clock - c->episode_t0;
        }
    }
    if (end) {
        c->info.status = e;
        c->info.sim_time_s = c->clock - c->episode_t0;
        c->last = c->info;
        c->last_params = *p;
        *done = 1;
        td__car_begin_next_episode(env, c);
        td__car_compute_params(env, c, p, TD__PARAMS_RESET);
    }
    c->event_params_valid = 1;
}

/* ---- observations ---------------------------------------------------------------------- */

void td__car_observe(td_vecenv *env, td__car *c, const td_params *p)
{
    td__vecenv_priv *pv = env->priv;
    const td_sim_config *cfg = &env->cfg;
    int i = c->index;
    if ((cfg->sensors & TD_SENSOR_STATE) && env->obs_state)
        td__state_features(env, c, p, env->obs_state + (size_t)i * TD_STATE_DIM);
    if (!(cfg->sensors & (TD_SENSOR_CAMERA | TD_SENSOR_STEREO | TD_SENSOR_LIDAR)))
        return;
    const td_look *look = cfg->race.enable_domain_randomization ? &c->look : &pv->look_default;
    td_scene scene = {pv->tracks[c->dir], pv->ground, c->boxes, c->nobj, look};
    if ((cfg->sensors & (TD_SENSOR_CAMERA | TD_SENSOR_STEREO)) && env->obs_camera) {
        uint8_t *out = env->obs_camera + (size_t)i * td_vecenv_camera_bytes(cfg);
        if (cfg->sensors & TD_SENSOR_STEREO)
            td_camera_render_stereo(&cfg->camera, &scene, c->st.x, c->st.y, c->st.yaw, out);
        else
            td_camera_render_grey(&cfg->camera, &scene, c->st.x, c->st.y, c->st.yaw, out);
    }
    if ((cfg->sensors & TD_SENSOR_LIDAR) && env->obs_lidar) {
        float *raw = pv->lidar_raw + (size_t)i * cfg->lidar.beams;
        float *out = env->obs_lidar + (size_t)i * td_vecenv_lidar_dim(cfg);
        if (pv->lidar_reach_m > 0)
            td_lidar_scan_reach(&cfg->lidar, pv->lgrid, &scene, c->st.x, c->st.y, c->st.yaw,
                                &c->rng, pv->lidar_reach_m, raw);
        else
            td_lidar_scan(&cfg->lidar, pv->lgrid, &scene, c->st.x, c->st.y, c->st.yaw, &c->rng,
                          raw);
        switch (cfg->lidar_encoding) {
        case TD_LIDAR_ENC_CLIPPED:
            td_lidar_encode_clipped(&cfg->lidar, raw, out);
            break;
        case TD_LIDAR_ENC_SECTOR:
            td_lidar_encode_sector(&cfg->lidar, raw, out);
            break;
        case TD_LIDAR_ENC_DISCRETIZED:
            td_lidar_encode_discretized(&cfg->lidar, raw, out);
            break;
        default:
            memcpy(out, raw, sizeof(float) * (size_t)cfg->lidar.beams);
            break;
        }
    }
}
