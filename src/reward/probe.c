/*
 * probe.c - params for a car placed at a chosen pose (td_reward_probe_params): the sampled
 * states of `trackday reward check` (on the centre line, near a border, off track, heading
 * the wrong way, next to an obstacle) without running an episode. Uses the track's full
 * projection and the simulator's car geometry, so the values are those a car at that pose
 * would see; history-dependent values (progress, steps, sim_time) come from the probe.
 */
#include <math.h>
#include <string.h>

#include "trackday/reward.h"
#include "trackday/sim.h"

static double wrap_deg(double d)
{
    while (d > 180.0)
        d -= 360.0;
    while (d <= -180.0)
        d += 360.0;
    return d;
}

void td_reward_probe_params(const td_track *t, const td_reward_probe *pr, td_params *o)
{
    memset(o, 0, sizeof(*o));
    o->x = pr->x;
    o->y = pr->y;
    o->heading = wrap_deg(pr->heading_deg);
    o->speed = pr->speed;
    o->steering_angle = pr->steering_deg;
    o->steps = pr->steps;
    o->sim_time = pr->steps / TD_SIM_HZ;
    o->track_length = t->length;
    o->is_reversed = t->reversed;
    o->waypoints = t->center;
    o->n_waypoints = t->n;

    td_track_proj pj;
    td_track_project(t, pr->x, pr->y, &pj);
    o->distance_from_center = pj.dist;
    o->is_left_of_center =
        td_track_left_of_center(t, td_track_is_ccw(t), &pj, pr->x, pr->y, &o->track_width);
    td_track_closest_waypoints(t, &pj, o->closest_waypoints);
    o->projection_distance = pj.arc;
    double d = pj.arc - pr->start_arc;
    if (t->closed && d < 0)
        d += t->length;
    o->progress = t->length > 0 ? 100.0 * d / t->length : 0;
    if (o->progress < 0)
        o->progress = 0;
    if (o->progress > 100)
        o->progress = 100;

    /* The wheels of a car whose model point is (x, y). */
    td_car_config car;
    td_car_config_default(&car);
    double yaw = o->heading * M_PI / 180.0;
    td_car_state s;
    td_car_place(&s, pr->x - car.model_point_m * cos(yaw), pr->y - car.model_point_m * sin(yaw),
                 yaw);
    double wheels[4][2];
    td_car_wheels(&car, &s, wheels);
    int on = 0;
    for (int w = 0; w < 4; w++)
        on += td_track_on_road_slow(t, wheels[w][0], wheels[w][1]);
    o->all_wheels_on_track = on == 4;
    o->is_offtrack = on == 0;

    int n = pr->n_objects > TD_MAX_OBJECTS ? TD_MAX_OBJECTS : pr->n_objects;
    if (n <= 0)
        return;
    o->n_objects = n;
    td_box me = {s.x, s.y, yaw, car.length_m, car.width_m, TD_CAR_HEIGHT_M, TD_BOX_CAR};
    int prev = -1, next = -1, first = 0, last = 0;
    for (int i = 0; i < n; i++) {
        double ox = pr->object_xy[i][0], oy = pr->object_xy[i][1];
        td_track_proj op;
        td_track_project(t, ox, oy, &op);
        o->objects_location[i][0] = ox;
        o->objects_location[i][1] = oy;
        o->objects_distance[i] = op.arc;
        o->objects_distance_from_center[i] = op.dist;
        o->objects_left_of_center[i] = op.left;
        /* Obstacles: 0.5 m along the track, 0.4 m across, aligned with the centre line. */
        double tx, ty, th;
        td_track_point_at(t, op.arc, 0, &tx, &ty, &th);
        td_box ob = {ox, oy, th, 0.5, 0.4, 0.3, TD_BOX_OBSTACLE};
        if (td_box_overlap(&me, &ob))
            o->is_crashed = 1;
        if (op.arc <= pj.arc && (prev < 0 || op.arc > o->objects_distance[prev]))
            prev = i;
        if (op.arc > pj.arc && (next < 0 || op.arc < o->objects_distance[next]))
            next = i;
        if (op.arc < o->objects_distance[first])
            first = i;
        if (op.arc > o->objects_distance[last])
            last = i;
    }
    /* Bracketing with wrap-around: behind the first object, prev is the last one. */
    o->closest_objects[0] = prev >= 0 ? prev : last;
    o->closest_objects[1] = next >= 0 ? next : first;
    if (n == 1)
        o->closest_objects[0] = o->closest_objects[1] = 0;

    int k = o->closest_objects[1];
    double dx = o->objects_location[k][0] - pr->x, dy = o->objects_location[k][1] - pr->y;
    double ang = fabs(wrap_deg(atan2(dy, dx) * 180.0 / M_PI - o->heading));
    o->object_in_camera = ang <= 64.7 / 2 && sqrt(dx * dx + dy * dy) <= 5.0;
}
