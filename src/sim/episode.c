/*
 * episode.c - one car's episode in the vector env: start poses (round robin, evaluation,
 * alternate direction), the per-step physics, the reward input `td_params` (DEEPRACER.md
 * section 2), DeepRacer's end rules and their precedence (section 3), and the penalty
 * resets of continuous evaluation (section 9). Also the per-direction track tables these
 * need (segment tangents, border clearance, a curvature table).
 */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "sim/sim_internal.h"
#include "trackday/json.h"

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
    d->ccw = td_track_is_ccw(t);
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
    int k = next_vertex(t, td_track_wrap_arc(t, s)) - 1;
    p->seg = k < 0 ? 0 : (k > t->n - 2 ? t->n - 2 : k);
    td_track_project_from(t, x, y, p);
}

static void reset_counters(td__car *c)
{
    c->reverse_count = 0;
    c->immobile_count = 0;
    c->reverse_done = 0;
    c->immobile_done = 0;
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

/* The lane (+1 inner, -1 outer) an object stands on: the nearer lane line at its arc. */
int td__object_lane(const td_track *t, const td__object *o)
{
    double ax, ay, bx, by;
    td_track_lane_point(t, o->proj.arc, 1, &ax, &ay);
    td_track_lane_point(t, o->proj.arc, -1, &bx, &by);
    double da = (ax - o->box.x) * (ax - o->box.x) + (ay - o->box.y) * (ay - o->box.y);
    double db = (bx - o->box.x) * (bx - o->box.x) + (by - o->box.y) * (by - o->box.y);
    return da <= db ? 1 : -1;
}

/*
 * The object DeepRacer's _get_closest_obj finds for arc s (rollout_agent_ctrl.py): the one
 * whose centreline projection is nearest to s, if less than 1 m away, measured as
 * |d| mod L (no wrap across the start line, as DeepRacer measures it). obstacles_only: only
 * the boxes of OBJECT_AVOIDANCE. -1 if none.
 */
static int closest_object(const td_track *t, const td__car *c, double s, int obstacles_only)
{
    int best = -1;
    double gap_best = 1.0;
    for (int k = 0; k < c->nobj; k++) {
        const td__object *o = &c->obj[k];
        if (obstacles_only && (o->is_bot || o->box.kind != TD_BOX_OBSTACLE))
            continue;
        double gap = fmod(fabs(o->proj.arc - s), t->length);
        if (gap < gap_best) {
            gap_best = gap;
            best = k;
        }
    }
    return best;
}

/* 0, or the lane (+1 inner, -1 outer) to start on: in training, an object less than 1 m
 * from the start sends the car to the other lane (DeepRacer's _get_car_start_model_state;
 * an evaluation always starts on the centre line). */
static int start_lane(const td_vecenv *env, const td_track *t, const td__car *c, double s0)
{
    if (env->cfg.mode != TD_MODE_TRAIN)
        return 0;
    int k = closest_object(t, c, s0, 0);
    return k < 0 ? 0 : -td__object_lane(t, &c->obj[k]);
}

/* Puts the car at rest on its start pose at arc s0 of its direction's track. */
static void place_at_start(td_vecenv *env, td__car *c, double s0)
{
    td__vecenv_priv *pv = env->priv;
    const td_track *t = pv->tracks[c->dir];
    double x, y, yaw;
    int lane = start_lane(env, t, c, s0);
    if (lane) {
        /* An object near the start: start on the other lane, along the track. */
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
    td__car_locate(env, c, 0);
    c->prev_progress = 0.0;
    c->cmd_steer_deg = 0.0;
    c->cmd_speed = 0.0;
    c->prev_x = c->pose_x = x;
    c->prev_y = c->pose_y = y;
    c->pose_yaw = yaw;
    reset_counters(c);
    /* DeepRacer's prepare step comes first: the car held at its start for one step. */
    c->phase = TD__PHASE_PREPARE;
    c->pause_steps = 0;
    c->pause_s = 0.0;
}

void td__car_start_episode(td_vecenv *env, td__car *c, double ndist, int dir)
{
    td__vecenv_priv *pv = env->priv;
    const td_track *t = pv->tracks[dir];
    c->dir = dir;
    double s0 = td_track_wrap_arc(t, ndist * t->length);
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
    c->bots_pause_s = 0.0;

    if (env->cfg.race.enable_domain_randomization) {
        c->look = env->cfg.look;
        td_look_randomize_in(&c->look, &c->rng, &env->cfg.race.dr);
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

/* ---- the step ----------------------------------------------------------------------------- */

void td__car_begin_step(td_vecenv *env, td__car *c, const float *action, td_params *p)
{
    double steer = action[0], speed = action[1];
    /* A NaN from a broken policy must not poison the state; treat it as 0 (clipped). */
    if (!(steer == steer))
        steer = 0.0;
    if (!(speed == speed))
        speed = 0.0;
    /* params carry the action the policy chose, also on held steps (DeepRacer's do). */
    c->cmd_steer_deg = steer;
    c->cmd_speed = speed;
    c->step_phase = c->phase;
    c->info.steps++;
    /* The pose the action was chosen at: the params, the end rules and the simtrace row of
     * this step describe it (DeepRacer's update_agent runs while the physics is paused). */
    c->pose_x = c->st.x;
    c->pose_y = c->st.y;
    c->pose_yaw = c->st.yaw;
    td__car_compute_params(env, c, p, TD__PARAMS_STEP);
}

void td__car_physics(td_vecenv *env, td__car *c)
{
    if (c->step_phase == TD__PHASE_RUN) {
        td__car_step_fast(&env->priv->coeffs, &c->st, c->cmd_steer_deg * (M_PI / 180.0),
                          c->cmd_speed);
    } else {
        /* Held at rest where it stands (the start, or the reset pose). */
        td__car_hold(&env->priv->coeffs, &c->st);
    }
    c->clock += env->priv->dt;
    if (c->nobj)
        td__objects_step(env, c, env->priv->dt);
    td__car_locate(env, c, 0);
}

void td__car_locate(td_vecenv *env, td__car *c, int full)
{
    const td__dirdata *dd = &env->priv->dir[c->dir];
    const td_track *t = dd->t;
    double m = env->cfg.car.model_point_m;
    double mx = c->st.x + m * c->st.cos_yaw, my = c->st.y + m * c->st.sin_yaw;
    if (full)
        td_track_project(t, mx, my, &c->proj);
    else
        td_track_project_from(t, mx, my, &c->proj);
    c->left = td_track_left_of_center(t, dd->ccw, &c->proj, mx, my, &c->width_m);
}

/* ---- params -------------------------------------------------------------------------------- */

/*
 * DeepRacer's compute_current_prog with the start offset (DEEPRACER.md section 2), on loops
 * and open routes alike: an open route's progress is not clipped either, so a car behind an
 * offset start has negative progress there too (agent_ctrl/utils.py compute_current_prog).
 */
static double progress_of(double ndist, double start_ndist, double prev)
{
    double p = 100.0 * (ndist - start_ndist);
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
    const td_track_proj *pr = &c->proj;

    p->x = c->st.x + car->model_point_m * c->st.cos_yaw;
    p->y = c->st.y + car->model_point_m * c->st.sin_yaw;
    double hd = c->st.yaw * (180.0 / M_PI);
    p->heading = hd <= -180.0 ? hd + 360.0 : hd;
    p->speed = c->cmd_speed;
    p->steering_angle = c->cmd_steer_deg;
    double before = c->prev_progress;
    p->progress = progress_of(pr->arc * dd->inv_length, c->start_ndist, before);
    p->steps = c->info.steps;
    p->track_length = t->length;
    p->track_width = c->width_m;
    p->distance_from_center = pr->dist;
    p->is_left_of_center = c->left;
    td_track_closest_waypoints(t, pr, p->closest_waypoints);
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
    c->bot_behind = 0;
    p->is_crashed = 0;
    p->object_in_camera = 0;
    p->closest_objects[0] = p->closest_objects[1] = 0;
    int touching = 0;
    if (c->nobj) {
        td__objects_params(env, c, p);
        touching = td__objects_collision(env, c, p, &c->crash_obj, &c->bot_behind);
        p->is_crashed = c->crash_obj >= 0;
    }
    c->lap_now = 0;
    if (mode != TD__PARAMS_STEP) {
        /* A description of the pose (a reset, a refresh) is not a step: the next step's
         * progress and reverse rule still compare with the last step's progress. */
        c->event = TD_EP_IN_PROGRESS;
        return;
    }
    /* Immobilized compares the poses of consecutive steps' params (DeepRacer's rule keeps the
     * last X, Y it saw, held steps included). */
    c->prev_progress = p->progress;
    double mdx = c->st.x - c->last_x, mdy = c->st.y - c->last_y;
    c->last_x = c->st.x;
    c->last_y = c->st.y;
    if (c->step_phase != TD__PHASE_RUN) {
        /* A held step: DeepRacer's rules count only while the car drives. */
        c->reverse_count = c->immobile_count = 0;
        c->event = TD_EP_IN_PROGRESS;
        c->step_event = c->step_phase == TD__PHASE_PREPARE ? TD_EP_PREPARE : TD_EP_PAUSE;
        return;
    }
    /* Reversed and immobilized count every driving step; once their count is reached they
     * stay set until the next reset, as DeepRacer's rule flags do. */
    if (p->progress < before)
        c->reverse_count++;
    else
        c->reverse_count = 0;
    if (c->reverse_count >= env->cfg.reversed_limit_steps) {
        c->reverse_count = 0;
        c->reverse_done = 1;
    }
    double lim = env->cfg.immobilized_dist_m;
    if (mdx * mdx + mdy * mdy <= lim * lim)
        c->immobile_count++;
    else
        c->immobile_count = 0;
    if (c->immobile_count >= env->cfg.immobilized_limit_steps) {
        c->immobile_count = 0;
        c->immobile_done = 1;
    }

    /* DeepRacer's precedence (rollout_agent_ctrl.py _check_for_episode_termination, rules in
     * metrics/constants.py EpisodeStatus order). A lap of a continuous run that is not the last
     * ends nothing: it is counted and the other rules still apply. */
    c->lap_now = p->progress >= 100.0;
    int final_lap =
        c->lap_now && (env->cfg.mode != TD_MODE_CONTINUOUS || c->info.laps + 1 >= env->cfg.laps);
    if (final_lap)
        c->event = TD_EP_LAP_COMPLETE;
    else if (c->crash_obj >= 0)
        c->event = TD_EP_CRASHED;
    else if (touching)
        c->event = TD_EP_IN_PROGRESS; /* ahead of the car or bot it touches: no other rule */
    else if (p->is_offtrack)
        c->event = TD_EP_OFF_TRACK;
    else if (c->immobile_done)
        c->event = TD_EP_IMMOBILIZED;
    else if (c->reverse_done)
        c->event = TD_EP_REVERSED;
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
        info->events.crashes++;
        break;
    case TD_EP_OFF_TRACK:
        info->events.off_tracks++;
        break;
    case TD_EP_REVERSED:
        info->events.reverses++;
        break;
    case TD_EP_IMMOBILIZED:
        info->events.immobilized++;
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

/* Puts the car at rest on a lane at arc s (wrapped), facing along the track. */
static void place_on_lane(td_vecenv *env, td__car *c, const td_track *t, double s, int lane)
{
    double x, y, hd;
    s = td_track_wrap_arc(t, s);
    td_track_lane_point(t, s, lane, &x, &y);
    td_track_point_at(t, s, 0.0, NULL, NULL, &hd);
    td_car_place(&c->st, x, y, hd);
    td__project_near(t, s, x + env->cfg.car.model_point_m * c->st.cos_yaw,
                     y + env->cfg.car.model_point_m * c->st.sin_yaw, &c->proj);
    td__car_locate(env, c, 0);
}

/*
 * DeepRacer's reset pose (rollout_agent_ctrl.py _get_car_reset_model_state) for arc s: an
 * obstacle less than 1 m away puts the car RESET_BEHIND_DIST behind it on the other lane;
 * else the lane nearer to (ref_x, ref_y).
 */
static void reset_pose(td_vecenv *env, td__car *c, const td_track *t, double s, double ref_x,
                       double ref_y)
{
    int k = closest_object(t, c, s, 1);
    if (k >= 0) {
        place_on_lane(env, c, t, c->obj[k].proj.arc - env->cfg.crash_reset_behind_m,
                      -td__object_lane(t, &c->obj[k]));
        return;
    }
    double ax, ay, bx, by, sw = td_track_wrap_arc(t, s);
    td_track_lane_point(t, sw, 1, &ax, &ay);
    td_track_lane_point(t, sw, -1, &bx, &by);
    double da = (ax - ref_x) * (ax - ref_x) + (ay - ref_y) * (ay - ref_y);
    double db = (bx - ref_x) * (bx - ref_x) + (by - ref_y) * (by - ref_y);
    place_on_lane(env, c, t, sw, da < db ? 1 : -1);
}

/*
 * An event with a reset left (DeepRacer's _judge_action_at_run_phase): the car is put on its
 * reset pose at rest and held there in pause steps for the penalty, the clock and the bots
 * running on. The event was seen at the step's params pose (before its physics), and the
 * reset is computed from there, as DeepRacer's is from the pose update_agent read: off track,
 * reversed and immobilized reset at the progress of the step before (prev), on the lane
 * nearer to that step's pose; a crash into an obstacle resets behind the obstacle; a car that
 * ran into a car or bot is put back where it stood when it touched it and waits. Immobilized
 * costs no penalty (DeepRacer never sets one), but still one pause step.
 */
static void penalty_reset(td_vecenv *env, td__car *c, td_episode_status e, double now, double prev,
                          double prev_x, double prev_y)
{
    td__vecenv_priv *pv = env->priv;
    const td_track *t = pv->tracks[c->dir];
    double penalty;
    if (e == TD_EP_CRASHED) {
        penalty = env->cfg.penalties.collision_penalty_s;
        const td__object *o = &c->obj[c->crash_obj];
        if (o->box.kind == TD_BOX_OBSTACLE && !o->is_bot) {
            reset_pose(env, c, t, (c->start_ndist + now / 100.0) * t->length, c->pose_x, c->pose_y);
        } else {
            td_car_place(&c->st, c->pose_x, c->pose_y, c->pose_yaw);
            td__car_locate(env, c, 0);
        }
    } else {
        penalty = e == TD_EP_IMMOBILIZED ? 0.0 : env->cfg.penalties.off_track_penalty_s;
        reset_pose(env, c, t, (c->start_ndist + prev / 100.0) * t->length, prev_x, prev_y);
    }
    c->cmd_speed = 0.0;
    c->cmd_steer_deg = 0.0;
    c->info.events.penalty_s += penalty;
    c->info.events.resets++;
    c->phase = TD__PHASE_PAUSE;
    c->pause_total_s = penalty;
    c->pause_s = penalty;
    /* DeepRacer counts the pause down by the clock and drives again after the step where it
     * reaches 0: ceil(penalty / step) pause steps, at least one. */
    int steps = (int)ceil(penalty * env->cfg.hz - 1e-9);
    c->pause_steps = steps < 1 ? 1 : steps;
    c->prev_progress = prev;
    reset_counters(c);
}

/*
 * The end of the episode: its numbers are kept, the next one starts (its params are the next
 * step's; env->params keeps this step's).
 */
static void end_episode(td_vecenv *env, td__car *c, const td_params *p, td_episode_status e,
                        uint8_t *done)
{
    c->info.status = e;
    c->info.progress = e == TD_EP_LAP_COMPLETE ? 100.0 : p->progress;
    c->info.sim_time_s = c->clock - c->episode_t0;
    c->last = c->info;
    td_params_copy(&c->last_params, p);
    *done = 1;
    td__car_begin_next_episode(env, c);
}

void td__car_after_reward(td_vecenv *env, td__car *c, const td_params *p, float reward,
                          uint8_t *done)
{
    td_episode_status e = c->event;
    double prev = c->info.progress, now = p->progress;
    c->info.total_reward += reward;
    c->info.sim_time_s = c->clock - c->episode_t0;
    c->info.progress = p->progress;
    *done = 0;
    c->pause_s = 0.0;
    /* A bot that ran into the car stops, whatever the car's phase (BotCarsCtrl). */
    if (c->bot_behind)
        td__objects_pause_bots(env, c);
    /*
     * The observation for the next decision: the sensors after the step's physics, read
     * before an event moves the car, as DeepRacer's judge_action reads them before it resets
     * the car. At the end of an episode this is also the first observation of the next one:
     * DeepRacer's reset_agent reads the sensors before it moves the car to its start (the
     * prepare step's action, chosen from it, is not applied).
     */
    td__car_observe(env, c);
    if (c->step_phase != TD__PHASE_RUN) {
        /* A held step: the prepare step, or one step of a pause. */
        if (c->step_phase == TD__PHASE_PAUSE) {
            c->pause_steps--;
            double done_s =
                (ceil(c->pause_total_s * env->cfg.hz - 1e-9) - c->pause_steps) / env->cfg.hz;
            c->pause_s = c->pause_total_s > done_s ? c->pause_total_s - done_s : 0.0;
        }
        if (c->step_phase == TD__PHASE_PREPARE || c->pause_steps <= 0) {
            c->phase = TD__PHASE_RUN;
            reset_counters(c);
        }
        return;
    }
    /* The pose of the driving step before this one (DeepRacer's prev_car_pose: an off-track
     * reset takes the lane nearer to it). */
    double prev_x = c->prev_x, prev_y = c->prev_y;
    c->prev_x = c->pose_x;
    c->prev_y = c->pose_y;
    if (e == TD_EP_IN_PROGRESS && !c->lap_now)
        return;
    if (c->lap_now) {
        record_lap(c);
        if (e == TD_EP_LAP_COMPLETE) {
            end_episode(env, c, p, e, done);
            return;
        }
        /* A lap of a continuous run: the next one counts its progress from 0. */
        c->prev_progress = 0.0;
        c->info.progress = prev = now = 0.0;
        if (e == TD_EP_IN_PROGRESS) {
            if (!env->priv->tracks[c->dir]->closed) {
                /* An open route has no way round: the next lap starts from the start. */
                place_at_start(env, c, c->start_ndist * env->priv->tracks[c->dir]->length);
                c->phase = TD__PHASE_RUN;
                td__car_observe(env, c); /* the next action drives from there */
            }
            return;
        }
    }
    if (e == TD_EP_TIME_UP) {
        end_episode(env, c, p, e, done);
        return;
    }
    count_event(&c->info, e);
    if (c->info.events.resets < env->cfg.penalties.max_resets)
        penalty_reset(env, c, e, now, prev, prev_x, prev_y);
    else
        end_episode(env, c, p, e, done);
}

/* ---- observations ---------------------------------------------------------------------- */

void td__car_observe(td_vecenv *env, td__car *c)
{
    td__vecenv_priv *pv = env->priv;
    const td_sim_config *cfg = &env->cfg;
    int i = c->index;
    if ((cfg->sensors & TD_SENSOR_STATE) && env->obs_state)
        td__state_features(env, c, env->obs_state + (size_t)i * TD_STATE_DIM);
    if (!(cfg->sensors & (TD_SENSOR_CAMERA | TD_SENSOR_STEREO | TD_SENSOR_LIDAR)))
        return;
    const td_look *look = cfg->race.enable_domain_randomization ? &c->look : &pv->look_default;
    td_scene scene = {pv->tracks[c->dir], pv->ground,      c->boxes,  c->nobj, look,
                      pv->decor,          pv->decor_level, pv->ndecor};
    if ((cfg->sensors & (TD_SENSOR_CAMERA | TD_SENSOR_STEREO)) && env->obs_camera) {
        uint8_t *out = env->obs_camera + (size_t)i * td_vecenv_camera_bytes(cfg);
        if (cfg->sensors & TD_SENSOR_STEREO) {
            td_camera_render_stereo(&cfg->camera, &scene, c->st.x, c->st.y, c->st.yaw, out);
        } else {
            /* The frame's turn rate (motion blur) and noise draw, from the car's state: no
             * random number is taken from its stream. The turn rate is the heading's, grip
             * bounded (a turn too fast for the grip runs wide and turns slower than its
             * steering asks). */
            c->frame.yaw_rate = td__car_yaw_rate(&pv->coeffs, &c->st);
            c->frame.noise_draw = (uint32_t)(c->rng.state >> 32) ^
                                  (uint32_t)c->info.steps * 0x9E3779B9u ^
                                  (uint32_t)(cfg->first_car + i);
            td_camera_render_grey_frame(&cfg->camera, &scene, c->st.x, c->st.y, c->st.yaw,
                                        &c->frame, out);
        }
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

/* ---- the events as JSON ------------------------------------------------------------------- */

int td__events_to_json(json_t *obj, const td_event_counts *e, int with_penalty)
{
    if (!obj)
        return -1;
    int rc = json_object_set_new(obj, "off_tracks", json_integer(e->off_tracks));
    rc |= json_object_set_new(obj, "crashes", json_integer(e->crashes));
    rc |= json_object_set_new(obj, "reverses", json_integer(e->reverses));
    rc |= json_object_set_new(obj, "immobilized", json_integer(e->immobilized));
    rc |= json_object_set_new(obj, "resets", json_integer(e->resets));
    if (with_penalty)
        rc |= json_object_set_new(obj, "penalty_s", json_real(e->penalty_s));
    return rc ? -1 : 0;
}
