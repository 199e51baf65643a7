/*
 * objects.c - what shares the road with the car: the boxes of OBJECT_AVOIDANCE and the bot
 * cars of HEAD_TO_BOT, spawned by their counts in every race type and placed as DeepRacer
 * places them (obstacles_agent_ctrl.py, bot_cars_agent_ctrl.py); the bots driving their lane
 * at constant speed and changing lanes at random intervals; their params keys (DEEPRACER.md
 * section 2) including DeepRacer's camera-frustum object_in_camera; and DeepRacer's collision
 * test and crash rule.
 *
 * Each car of a vector env has its own world: its own obstacles and bots, placed from its
 * own RNG stream at every episode start.
 */
#include <math.h>
#include <string.h>

#include "sim/sim_internal.h"

/* Centreline segment holding arc length s, searched from the cursor `seg` (O(1) amortized
 * for a bot moving forward). */
static int seg_at(const td_track *t, int seg, double s)
{
    int nseg = t->n - 1;
    if (seg < 0 || seg >= nseg || s < t->arc[seg])
        seg = 0;
    while (seg < nseg - 1 && t->arc[seg + 1] <= s)
        seg++;
    return seg;
}

static double smoothstep(double f)
{
    f = f < 0 ? 0 : (f > 1 ? 1 : f);
    return f * f * (3.0 - 2.0 * f);
}

/* Puts a bot's box where its arc length and lane (change) say. */
static void bot_pose(const td_track *t, td__object *o, double lane_change_m, int have_prev)
{
    o->seg = seg_at(t, o->seg, o->s);
    int k = o->seg;
    double len = t->arc[k + 1] - t->arc[k];
    double u = len > 0 ? (o->s - t->arc[k]) / len : 0.0;
    u = u < 0 ? 0 : (u > 1 ? 1 : u);
    const double *c = t->center + 2 * k, *in = t->inner + 2 * k, *out = t->outer + 2 * k;
    double cx = c[0] + u * (c[2] - c[0]), cy = c[1] + u * (c[3] - c[1]);
    double ix = in[0] + u * (in[2] - in[0]), iy = in[1] + u * (in[3] - in[1]);
    double ox = out[0] + u * (out[2] - out[0]), oy = out[1] + u * (out[3] - out[1]);
    double ax = o->lane > 0 ? 0.5 * (cx + ix) : 0.5 * (cx + ox);
    double ay = o->lane > 0 ? 0.5 * (cy + iy) : 0.5 * (cy + oy);
    double x = ax, y = ay;
    if (o->lane_to != o->lane) {
        double bx = o->lane_to > 0 ? 0.5 * (cx + ix) : 0.5 * (cx + ox);
        double by = o->lane_to > 0 ? 0.5 * (cy + iy) : 0.5 * (cy + oy);
        double f = smoothstep(lane_change_m > 0 ? o->change_done_m / lane_change_m : 1.0);
        x = ax + f * (bx - ax);
        y = ay + f * (by - ay);
    }
    double dx = x - o->box.x, dy = y - o->box.y;
    if (have_prev && dx * dx + dy * dy > 1e-12)
        o->box.yaw = atan2(dy, dx);
    else
        o->box.yaw = atan2(c[3] - c[1], c[2] - c[0]);
    o->box.x = x;
    o->box.y = y;
}

static void place_obstacle(const td_track *t, const td_race_config *rc, td__object *o, double s,
                           int lane)
{
    memset(o, 0, sizeof(*o));
    o->s = td_track_wrap_arc(t, s);
    o->lane = o->lane_to = lane;
    double hd;
    td_track_lane_point(t, o->s, lane, &o->box.x, &o->box.y);
    td_track_point_at(t, o->s, 0.0, NULL, NULL, &hd);
    o->box.yaw = hd;
    o->box.length = rc->obstacle_length_m;
    o->box.width = rc->obstacle_width_m;
    o->box.height = rc->obstacle_height_m;
    o->box.kind = TD_BOX_OBSTACLE;
    td__project_near(t, o->s, o->box.x, o->box.y, &o->proj);
}

/*
 * DeepRacer's spacing of obstacles and bots: n positions evenly from lo to hi (numpy's
 * linspace); randomized, each position in a shuffled order is redrawn uniformly between its
 * neighbours kept min_gap away (the first from lo, the last up to hi), when that leaves room.
 */
static void spread(td_rng *rng, int n, double lo, double hi, double min_gap, int randomize,
                   double *s)
{
    for (int k = 0; k < n; k++)
        s[k] = n == 1 ? lo : lo + (hi - lo) * k / (n - 1);
    if (!randomize)
        return;
    int order[TD_MAX_OBJECTS];
    for (int k = 0; k < n; k++)
        order[k] = k;
    for (int k = n - 1; k > 0; k--) { /* Fisher-Yates, as random.shuffle */
        int j = (int)td_rng_below(rng, (uint32_t)k + 1);
        int tmp = order[k];
        order[k] = order[j];
        order[j] = tmp;
    }
    for (int q = 0; q < n; q++) {
        int i = order[q];
        double a = i == 0 ? lo : s[i - 1] + min_gap;
        double b = i == n - 1 ? hi : s[i + 1] - min_gap;
        if (a < b)
            s[i] = td_rng_range(rng, a, b);
    }
}

/* Lanes: random for randomized positions, else alternating from the inner lane. */
static void lanes(td_rng *rng, int n, int randomize, int *lane)
{
    for (int k = 0; k < n; k++)
        lane[k] = randomize ? (td_rng_below(rng, 2) ? -1 : 1) : ((k & 1) ? -1 : 1);
}

/*
 * Obstacles (ObstaclesCtrl._compute_obstacle_poses): OBJECT_POSITIONS if given; else
 * NUMBER_OF_OBSTACLES spread from MIN_DISTANCE_BETWEEN_OBSTACLES percent of the lap to one
 * metre before its end, measured from the start line along the driving direction.
 */
static int place_obstacles(td_vecenv *env, td__car *c, const td_track *t, td__object *out)
{
    const td_race_config *rc = &env->cfg.race;
    double L = t->length;
    int n = rc->n_object_positions > 0 ? rc->n_object_positions : rc->number_of_obstacles;
    n = n < 0 ? 0 : (n > TD_MAX_OBSTACLES ? TD_MAX_OBSTACLES : n);
    double s[TD_MAX_OBJECTS];
    int lane[TD_MAX_OBJECTS];
    if (rc->n_object_positions > 0) {
        for (int k = 0; k < n; k++) {
            s[k] = rc->object_positions[k][0] * L;
            lane[k] = rc->object_positions[k][1] == -1 ? -1 : 1;
        }
    } else {
        double gap = rc->min_distance_between_obstacles / 100.0 * L;
        spread(&c->rng, n, gap, L - 1.0, gap, rc->randomize_obstacle_locations, s);
        lanes(&c->rng, n, rc->randomize_obstacle_locations, lane);
    }
    for (int k = 0; k < n; k++)
        place_obstacle(t, rc, &out[k], s[k], lane[k]);
    return n;
}

/*
 * Bots (BotCarsCtrl._compute_bot_car_initial_states): NUMBER_OF_BOT_CARS spread from
 * MIN_DISTANCE_BETWEEN_BOT_CARS metres past the start line to one metre before it, inner lane
 * first; they drive from there as the episode starts.
 */
static int place_bots(td_vecenv *env, td__car *c, const td_track *t, td__object *out)
{
    const td_race_config *rc = &env->cfg.race;
    int n = rc->number_of_bot_cars, room = TD_MAX_OBJECTS - (int)(out - c->obj);
    n = n < 0 ? 0 : (n > room ? room : n);
    double s[TD_MAX_OBJECTS];
    int lane[TD_MAX_OBJECTS];
    spread(&c->rng, n, rc->min_distance_between_bot_cars, t->length - 1.0,
           rc->min_distance_between_bot_cars, rc->randomize_bot_car_locations, s);
    lanes(&c->rng, n, rc->randomize_bot_car_locations, lane);
    for (int k = 0; k < n; k++) {
        td__object *o = &out[k];
        memset(o, 0, sizeof(*o));
        o->is_bot = 1;
        o->s = td_track_wrap_arc(t, s[k]);
        o->lane = o->lane_to = lane[k];
        o->seg = -1;
        o->box.length = env->cfg.car.length_m;
        o->box.width = env->cfg.car.width_m;
        o->box.height = TD_CAR_HEIGHT_M;
        o->box.kind = TD_BOX_CAR;
        o->next_change_t =
            c->clock + td_rng_range(&c->rng, rc->lower_lane_change_time,
                                    rc->upper_lane_change_time > rc->lower_lane_change_time
                                        ? rc->upper_lane_change_time
                                        : rc->lower_lane_change_time + 1e-9);
        bot_pose(t, o, rc->lane_change_distance, 0);
        td__project_near(t, o->s, o->box.x, o->box.y, &o->proj);
    }
    return n;
}

void td__objects_place(td_vecenv *env, td__car *c, double s0)
{
    const td_track *t = env->priv->tracks[c->dir];
    (void)s0;
    /* DeepRacer spawns both kinds by their counts in every race type, obstacles first. */
    c->nobj = place_obstacles(env, c, t, c->obj);
    c->nobj += place_bots(env, c, t, c->obj + c->nobj);
    for (int k = 0; k < c->nobj; k++)
        c->boxes[k] = c->obj[k].box;
}

void td__objects_step(td_vecenv *env, td__car *c, double dt)
{
    const td_race_config *rc = &env->cfg.race;
    const td_track *t = env->priv->tracks[c->dir];
    /* After a bot ran into the car from behind the bots stand still for PENALTY_SECONDS. */
    double drive = dt;
    if (c->bots_pause_s > 0) {
        drive = dt > c->bots_pause_s ? dt - c->bots_pause_s : 0.0;
        c->bots_pause_s = dt > c->bots_pause_s ? 0.0 : c->bots_pause_s - dt;
    }
    for (int k = 0; k < c->nobj; k++) {
        td__object *o = &c->obj[k];
        if (!o->is_bot)
            continue;
        double ds = rc->bot_car_speed * drive;
        if (rc->is_lane_change && o->lane == o->lane_to && c->clock >= o->next_change_t) {
            o->lane_to = -o->lane;
            o->change_done_m = 0.0;
        }
        if (o->lane_to != o->lane) {
            o->change_done_m += ds;
            if (o->change_done_m >= rc->lane_change_distance) {
                o->lane = o->lane_to;
                o->change_done_m = 0.0;
                double hi = rc->upper_lane_change_time > rc->lower_lane_change_time
                                ? rc->upper_lane_change_time
                                : rc->lower_lane_change_time + 1e-9;
                o->next_change_t = c->clock + td_rng_range(&c->rng, rc->lower_lane_change_time, hi);
            }
        }
        double s = o->s + ds;
        if (t->closed) {
            if (s >= t->length) {
                s -= t->length;
                o->seg = 0;
            }
        } else if (s > t->length) {
            s = t->length;
        }
        o->s = s;
        bot_pose(t, o, rc->lane_change_distance, 1);
        td_track_project_from(t, o->box.x, o->box.y, &o->proj);
        c->boxes[k] = o->box;
    }
}

void td__objects_pause_bots(td_vecenv *env, td__car *c)
{
    double p = env->cfg.race.penalty_seconds;
    if (c->bots_pause_s > 0 || !(p > 0))
        return; /* DeepRacer's bots take a new pause only while driving */
    c->bots_pause_s = p;
    for (int k = 0; k < c->nobj; k++)
        if (c->obj[k].is_bot)
            c->obj[k].next_change_t += p;
}

/* ---- object_in_camera ------------------------------------------------------------------------ */

/*
 * DeepRacer's camera frustum (cameras/frustum.py), hard-coded there and so here, whatever the
 * camera renders: near 0.2 m, far 300 m, 1.13 rad across, 0.75 as high as wide, pitched down
 * 0.2618 rad, the lens 0.1453 m ahead of the car origin and 0.1303 m up (stereo: two lenses
 * 0.03 m to either side). Object heights as DeepRacer spawns them: boxes at 0.1 m, cars 0.
 */
#define FRUSTUM_NEAR_M    0.2
#define FRUSTUM_FAR_M     300.0
#define FRUSTUM_HFOV_RAD  1.13
#define FRUSTUM_ASPECT    (480.0 / 640.0)
#define FRUSTUM_PITCH_RAD 0.2618
#define LENS_FORWARD_M    0.14529379
#define LENS_UP_M         0.13032555
#define LENS_SIDE_M       0.03
#define OBSTACLE_Z_M      0.1

/* 1 if point (x, y, z) is strictly inside the frustum of a lens at (lx, ly, lz) looking along
 * yaw (cos cy, sin sy), pitched down. */
static int in_frustum(double lx, double ly, double lz, double cy, double sy, double x, double y,
                      double z)
{
    double cp = cos(FRUSTUM_PITCH_RAD), sp = sin(FRUSTUM_PITCH_RAD);
    double dx = x - lx, dy = y - ly, dz = z - lz;
    /* Camera axes: forward (cp cy, cp sy, -sp), right (sy, -cy, 0), up (sp cy, sp sy, cp). */
    double depth = dx * cp * cy + dy * cp * sy - dz * sp;
    double right = dx * sy - dy * cy;
    double up = dx * sp * cy + dy * sp * sy + dz * cp;
    double half_w = tan(0.5 * FRUSTUM_HFOV_RAD) * depth;
    return depth > FRUSTUM_NEAR_M && depth < FRUSTUM_FAR_M && fabs(right) < half_w &&
           fabs(up) < half_w * FRUSTUM_ASPECT;
}

/* Any of an object's footprint corners or its centre (get_objects_in_camera_frustums) in the
 * frustum of any lens of the car. */
static int object_visible(const td_vecenv *env, const td__car *c, const td__object *o)
{
    int stereo = (env->cfg.sensors & TD_SENSOR_STEREO) != 0;
    double cy = c->st.cos_yaw, sy = c->st.sin_yaw;
    double z = o->box.kind == TD_BOX_OBSTACLE && !o->is_bot ? OBSTACLE_Z_M : 0.0;
    double oc = cos(o->box.yaw), os = sin(o->box.yaw);
    double hl = 0.5 * o->box.length, hw = 0.5 * o->box.width;
    double px[5] = {o->box.x, 0, 0, 0, 0}, py[5] = {o->box.y, 0, 0, 0, 0};
    for (int k = 0; k < 4; k++) {
        double u = (k == 0 || k == 1) ? hl : -hl, v = (k == 0 || k == 3) ? hw : -hw;
        px[k + 1] = o->box.x + u * oc - v * os;
        py[k + 1] = o->box.y + u * os + v * oc;
    }
    for (int lens = 0; lens < (stereo ? 2 : 1); lens++) {
        double side = stereo ? (lens ? LENS_SIDE_M : -LENS_SIDE_M) : 0.0;
        /* The lens offset (forward, side) turned by the car's yaw; side + = left. */
        double lx = c->st.x + LENS_FORWARD_M * cy - side * sy;
        double ly = c->st.y + LENS_FORWARD_M * sy + side * cy;
        for (int k = 0; k < 5; k++)
            if (in_frustum(lx, ly, LENS_UP_M, cy, sy, px[k], py[k], z))
                return 1;
    }
    return 0;
}

/* ---- params ------------------------------------------------------------------------------------
 */

void td__objects_params(td_vecenv *env, td__car *c, td_params *p)
{
    double a = c->proj.arc;
    int prev = -1, next = -1, maxi = 0, mini = 0;
    /* With bots in the race DeepRacer gives every object the bots' speed and its yaw. */
    int moving = env->cfg.race.number_of_bot_cars > 0;
    for (int k = 0; k < c->nobj; k++) {
        const td__object *o = &c->obj[k];
        double s = o->proj.arc;
        p->objects_location[k][0] = o->box.x;
        p->objects_location[k][1] = o->box.y;
        p->objects_distance[k] = s;
        p->objects_distance_from_center[k] = o->proj.dist;
        p->objects_left_of_center[k] = o->proj.left;
        p->objects_speed[k] = moving ? env->cfg.race.bot_car_speed : 0.0;
        p->objects_heading[k] = moving ? o->box.yaw : 0.0;
        if (s <= a && (prev < 0 || s > c->obj[prev].proj.arc))
            prev = k;
        if (s > a && (next < 0 || s < c->obj[next].proj.arc))
            next = k;
        if (s > c->obj[maxi].proj.arc)
            maxi = k;
        if (s < c->obj[mini].proj.arc)
            mini = k;
    }
    /* Wrap around: behind the first object the previous one is the last on the lap. */
    p->closest_objects[0] = prev >= 0 ? prev : maxi;
    p->closest_objects[1] = next >= 0 ? next : mini;

    /*
     * object_in_camera as DeepRacer computes it (track_data.py get_object_reward_params): the
     * next object's index is compared with the indices of the visible objects in a list that
     * has the racecar itself first, so it answers for the object one index lower, and is
     * False when the next object is object 0 (the car never sees itself). docs/rewards.md.
     */
    int j = p->closest_objects[1] - 1;
    p->object_in_camera = j >= 0 && object_visible(env, c, &c->obj[j]);
}

/* ---- collisions
 * ---------------------------------------------------------------------------------- */

/* 1 if a corner of the car's footprint lies strictly inside box b (DeepRacer's test,
 * track_data.py get_collided_object_name). */
static int corner_inside(const td_box *car, double cc, double cs, const td_box *b)
{
    double dx = b->x - car->x, dy = b->y - car->y;
    double r = 0.5 * (hypot(car->length, car->width) + hypot(b->length, b->width));
    if (dx * dx + dy * dy >= r * r)
        return 0;
    double bc = cos(b->yaw), bs = sin(b->yaw);
    double hl = 0.5 * car->length, hw = 0.5 * car->width;
    for (int k = 0; k < 4; k++) {
        double u = (k == 0 || k == 1) ? hl : -hl, v = (k == 0 || k == 3) ? hw : -hw;
        double px = car->x + u * cc - v * cs - b->x, py = car->y + u * cs + v * cc - b->y;
        double bu = px * bc + py * bs, bv = -px * bs + py * bc;
        if (fabs(bu) < 0.5 * b->length && fabs(bv) < 0.5 * b->width)
            return 1;
    }
    return 0;
}

/* The lap fraction (0..1) of a car-shaped box's model point (DeepRacer's bot progress). */
static double box_model_ndist(const td_vecenv *env, const td_track *t, const td_box *b)
{
    td_track_proj pr;
    double m = env->cfg.car.model_point_m;
    td_track_project(t, b->x + m * cos(b->yaw), b->y + m * sin(b->yaw), &pr);
    return pr.arc / t->length;
}

int td__objects_collision(const td_vecenv *env, const td__car *c, const td_params *p,
                          int *crash_obj, int *bot_behind)
{
    td_box me = {c->st.x,         c->st.y,   c->st.yaw, env->cfg.car.length_m, env->cfg.car.width_m,
                 TD_CAR_HEIGHT_M, TD_BOX_CAR};
    *crash_obj = -1;
    *bot_behind = 0;
    for (int k = 0; k < c->nobj; k++) {
        const td__object *o = &c->obj[k];
        if (!corner_inside(&me, c->st.cos_yaw, c->st.sin_yaw, &o->box))
            continue;
        if (o->box.kind == TD_BOX_OBSTACLE && !o->is_bot) {
            *crash_obj = k;
            return 1;
        }
        /* A car or bot: DeepRacer crashes the car only if it is behind what it touched
         * (rollout_agent_ctrl.py _check_for_episode_termination), comparing progress from
         * the start line; a bot that ran into the car stops instead (BotCarsCtrl). */
        const td_track *t = env->priv->tracks[c->dir];
        double mine = fmod(p->progress + c->start_ndist * 100.0, 100.0);
        double other = 100.0 * box_model_ndist(env, t, &o->box);
        if (mine < other)
            *crash_obj = k;
        else
            *bot_behind = o->is_bot && mine > other;
        return 1;
    }
    return 0;
}
