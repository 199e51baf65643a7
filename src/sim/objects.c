/*
 * objects.c - what shares the road with the car: the boxes of OBJECT_AVOIDANCE (fixed,
 * evenly spaced or randomized positions on lanes) and the bot cars of HEAD_TO_BOT (driving
 * their lane at constant speed, changing lanes at random intervals), their params keys
 * (DEEPRACER.md section 2) and the footprint collision test.
 *
 * Each car of a vector env has its own world: its own obstacles and bots, placed from its
 * own RNG stream at every episode start.
 */
#include <math.h>
#include <string.h>

#include "sim/sim_internal.h"

/* Randomized obstacles keep this far (arc length) from the car's start. */
#define RANDOM_START_CLEAR_M 1.5

static double circ_dist(const td_track *t, double a, double b)
{
    double d = fabs(a - b);
    if (t->closed && d > 0.5 * t->length)
        d = t->length - d;
    return d;
}

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
    o->s = td__wrap_arc(t, s);
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

static void place_obstacles(td_vecenv *env, td__car *c, const td_track *t, double s0)
{
    const td_race_config *rc = &env->cfg.race;
    double L = t->length;
    int n = rc->n_object_positions > 0 ? rc->n_object_positions : rc->number_of_obstacles;
    n = n < 0 ? 0 : (n > TD_MAX_OBSTACLES ? TD_MAX_OBSTACLES : n);
    double s[TD_MAX_OBSTACLES];
    int lane[TD_MAX_OBSTACLES];
    if (rc->n_object_positions > 0) {
        for (int k = 0; k < n; k++) {
            s[k] = rc->object_positions[k][0] * L;
            lane[k] = rc->object_positions[k][1] >= 0 ? 1 : -1;
        }
    } else {
        int ok = 0;
        if (rc->randomize_obstacle_locations) {
            /* Rejection sampling; evenly spaced if the spacing cannot be met. */
            ok = 1;
            for (int k = 0; k < n && ok; k++) {
                int tries = 0;
                for (; tries < 200; tries++) {
                    double v = td_rng_uniform(&c->rng) * L;
                    int good = circ_dist(t, v, s0) >= RANDOM_START_CLEAR_M;
                    for (int j = 0; j < k && good; j++)
                        good = circ_dist(t, v, s[j]) >= rc->min_distance_between_obstacles;
                    if (good) {
                        s[k] = v;
                        lane[k] = td_rng_below(&c->rng, 2) ? 1 : -1;
                        break;
                    }
                }
                ok = tries < 200;
            }
        }
        if (!ok) {
            /* Evenly spaced from the start line, alternating lanes (inner first). */
            for (int k = 0; k < n; k++) {
                s[k] = L * (k + 1) / (n + 1);
                lane[k] = (k & 1) ? -1 : 1;
            }
        }
    }
    for (int k = 0; k < n; k++)
        place_obstacle(t, rc, &c->obj[k], s[k], lane[k]);
    c->nobj = n;
}

static void place_bots(td_vecenv *env, td__car *c, const td_track *t, double s0)
{
    const td_race_config *rc = &env->cfg.race;
    int n = rc->number_of_bot_cars;
    n = n < 0 ? 0 : (n > TD_MAX_BOTS ? TD_MAX_BOTS : n);
    for (int k = 0; k < n; k++) {
        td__object *o = &c->obj[k];
        memset(o, 0, sizeof(*o));
        o->is_bot = 1;
        /* Evenly spread ahead of the car, alternating lanes (outer first). */
        o->s = td__wrap_arc(t, s0 + t->length * (k + 1) / (n + 1));
        o->lane = o->lane_to = (k & 1) ? 1 : -1;
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
    c->nobj = n;
}

void td__objects_place(td_vecenv *env, td__car *c, double s0)
{
    const td_track *t = env->priv->tracks[c->dir];
    c->nobj = 0;
    if (env->cfg.race.race_type == TD_RACE_OBJECT_AVOIDANCE)
        place_obstacles(env, c, t, s0);
    else if (env->cfg.race.race_type == TD_RACE_HEAD_TO_BOT)
        place_bots(env, c, t, s0);
    for (int k = 0; k < c->nobj; k++)
        c->boxes[k] = c->obj[k].box;
}

void td__objects_step(td_vecenv *env, td__car *c, double dt)
{
    const td_race_config *rc = &env->cfg.race;
    const td_track *t = env->priv->tracks[c->dir];
    for (int k = 0; k < c->nobj; k++) {
        td__object *o = &c->obj[k];
        if (!o->is_bot)
            continue;
        double ds = rc->bot_car_speed * dt;
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

void td__objects_params(td_vecenv *env, td__car *c, td_params *p)
{
    double a = c->proj.arc;
    int prev = -1, next = -1, maxi = 0, mini = 0;
    for (int k = 0; k < c->nobj; k++) {
        const td__object *o = &c->obj[k];
        double s = o->proj.arc;
        p->objects_location[k][0] = o->box.x;
        p->objects_location[k][1] = o->box.y;
        p->objects_distance[k] = s;
        p->objects_distance_from_center[k] = o->proj.dist;
        p->objects_left_of_center[k] = o->proj.left;
        p->objects_speed[k] = o->is_bot ? env->cfg.race.bot_car_speed : 0.0;
        p->objects_heading[k] = o->is_bot ? o->box.yaw : 0.0;
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

    /* object_in_camera: the next object's centre inside the camera's horizontal field of
     * view and within camera_object_range_m of the lens. */
    const td_box *b = &c->obj[p->closest_objects[1]].box;
    double fwd = env->cfg.camera.forward_m;
    double rx = b->x - (c->st.x + fwd * c->st.cos_yaw);
    double ry = b->y - (c->st.y + fwd * c->st.sin_yaw);
    double f = rx * c->st.cos_yaw + ry * c->st.sin_yaw;
    double l = -rx * c->st.sin_yaw + ry * c->st.cos_yaw;
    p->object_in_camera =
        f > 0 && f <= env->cfg.camera_object_range_m && fabs(l) <= f * env->priv->tan_half_hfov;
}

int td__objects_crash(const td_vecenv *env, const td__car *c)
{
    td_box me = {c->st.x,         c->st.y,   c->st.yaw, env->cfg.car.length_m, env->cfg.car.width_m,
                 TD_CAR_HEIGHT_M, TD_BOX_CAR};
    for (int k = 0; k < c->nobj; k++)
        if (td_box_overlap(&me, &c->obj[k].box))
            return k;
    return -1;
}
