/*
 * builtin.c - reward functions written in C and shipped with trackday ("builtin:NAME"):
 * the DeepRacer console's classic examples (follow the centre line, stay inside the two
 * borders, prevent zig-zag) and a few speed, progress and object-avoidance rewards. They
 * serve tests and fast training, and each has a Python twin in examples/rewards/ so a
 * learner can read the idea in the language DeepRacer uses.
 */
#include <math.h>
#include <string.h>

#include "trackday/reward.h"
#include "trackday/sim.h"

/* DeepRacer's default: reward by bands of distance from the centre line. The simulator holds
 * it (its reward when no host is given); this is the same function by name. */
static double follow_center_line(const td_params *p)
{
    return td_reward_follow_center(p);
}

/* Anything inside the borders is equally good; a small margin keeps the wheels off paint. */
static double stay_inside_two_borders(const td_params *p)
{
    if (p->all_wheels_on_track && 0.5 * p->track_width - p->distance_from_center >= 0.05)
        return 1.0;
    return 1e-3;
}

/* Follow the centre, and pay less for sharp steering so the policy does not weave. */
static double prevent_zigzag(const td_params *p)
{
    double r = follow_center_line(p);
    if (fabs(p->steering_angle) > 15.0)
        r *= 0.8;
    return r;
}

/* Percent of the lap per step: more for covering the lap in fewer steps. */
static double progress_per_step(const td_params *p)
{
    if (p->is_offtrack || !p->all_wheels_on_track)
        return 1e-3;
    int steps = p->steps > 0 ? p->steps : 1;
    double r = p->progress / steps;
    return r > 1e-3 ? r : 1e-3;
}

/* Plain lap progress (0-1): simple, slow to learn from, a baseline. */
static double progress(const td_params *p)
{
    if (p->is_offtrack)
        return 1e-3;
    return p->progress / 100.0 > 1e-3 ? p->progress / 100.0 : 1e-3;
}

/* Go fast while all wheels are on the road. */
static double speed_on_track(const td_params *p)
{
    if (!p->all_wheels_on_track)
        return 1e-3;
    double s = p->speed / 4.0;
    return 0.1 + (s > 1.0 ? 1.0 : s);
}

/* Centre line times a speed bonus: the usual first "fast" reward. */
static double center_and_speed(const td_params *p)
{
    double s = p->speed / 4.0;
    if (s > 1.0)
        s = 1.0;
    return follow_center_line(p) * (0.5 + 0.5 * s);
}

/*
 * Object avoidance: stay on the track, and when the next object is near, be in the other
 * lane (the opposite side of the centre line).
 */
static double avoid_objects(const td_params *p)
{
    double r = p->all_wheels_on_track ? 1.0 : 1e-3;
    if (p->n_objects <= 0)
        return r * follow_center_line(p);
    int next = p->closest_objects[1];
    if (next < 0 || next >= p->n_objects || next >= TD_MAX_OBJECTS)
        return r;
    double dx = p->objects_location[next][0] - p->x;
    double dy = p->objects_location[next][1] - p->y;
    double dist = sqrt(dx * dx + dy * dy);
    int same_side = (p->objects_left_of_center[next] != 0) == (p->is_left_of_center != 0);
    double avoid = 1.0;
    if (same_side) {
        if (dist < 0.3)
            avoid = 1e-3;
        else if (dist < 0.5)
            avoid = 0.2;
        else if (dist < 0.8)
            avoid = 0.5;
    }
    if (p->is_crashed)
        avoid = 1e-3;
    return r * avoid;
}

/* A constant: every step is worth the same (for tests and as a control). */
static double constant_one(const td_params *p)
{
    (void)p;
    return 1.0;
}

static const struct {
    const char *name;
    td_reward_c_fn fn;
    const char *summary;
} builtins[] = {
    {"follow_center_line", follow_center_line,
     "1, 0.5, 0.1 or 0.001 by distance from the centre (10/25/50 % of the width)"},
    {"stay_inside_two_borders", stay_inside_two_borders,
     "1 with all wheels on the track and 5 cm from the border, else 0.001"},
    {"prevent_zigzag", prevent_zigzag, "follow_center_line, x0.8 when |steering| > 15 deg"},
    {"progress_per_step", progress_per_step, "percent of the lap per step while on track"},
    {"progress", progress, "lap progress / 100"},
    {"speed_on_track", speed_on_track, "0.1 + speed/4 with all wheels on the track"},
    {"center_and_speed", center_and_speed, "follow_center_line x (0.5 + 0.5 speed/4)"},
    {"avoid_objects", avoid_objects, "on track and in the other lane when an object is near"},
    {"constant", constant_one, "1.0 at every step (a control)"},
};
#define N_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

const char *const *td_reward_builtin_names(void)
{
    static const char *names[N_BUILTINS + 1];
    if (!names[0])
        for (size_t i = 0; i < N_BUILTINS; i++)
            names[i] = builtins[i].name;
    return names;
}

td_reward_c_fn td_reward_builtin_find(const char *name)
{
    for (size_t i = 0; name && i < N_BUILTINS; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return builtins[i].fn;
    return NULL;
}

const char *td_reward_builtin_summary(const char *name)
{
    for (size_t i = 0; name && i < N_BUILTINS; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return builtins[i].summary;
    return NULL;
}
