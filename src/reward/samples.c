/*
 * samples.c - the sampled states `trackday reward check` calls a reward function on: the
 * situations a learner's function must handle sensibly (centre line, borders, off track,
 * wrong heading, slow and fast, steering, obstacles, a bot car, a crash, the reverse
 * direction), each as the params a car there would get (td_reward_probe_params).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trackday/reward.h"

/* Width of the road at arc length s. */
static double width_at(const td_track *t, double s)
{
    double x, y, h;
    td_track_point_at(t, s, 0, &x, &y, &h);
    td_track_proj pj;
    td_track_project(t, x, y, &pj);
    return td_track_width_nearest(t, &pj);
}

/*
 * A probe at arc length s, lat_frac of the width to the left of the centre line (negative:
 * right), heading off the centre line's direction by dheading degrees.
 */
static void probe_at(const td_track *t, double s, double lat_frac, double dheading, double speed,
                     double steer, td_reward_probe *pr)
{
    memset(pr, 0, sizeof(*pr));
    double h;
    td_track_point_at(t, s, lat_frac * width_at(t, s), &pr->x, &pr->y, &h);
    pr->heading_deg = h * 180.0 / M_PI + dheading;
    pr->speed = speed;
    pr->steering_deg = steer;
    pr->start_arc = 0;
    /* Steps a car at this speed would have taken from the start line. */
    int steps = (int)(s / (speed > 0.5 ? speed : 0.5) * 15.0);
    pr->steps = steps > 1 ? steps : 1;
}

/* An object on the track ahead of the probe: lat_frac of the width, ahead_m along the lap. */
static void add_object(const td_track *t, double s, double lat_frac, td_reward_probe *pr)
{
    if (pr->n_objects >= TD_MAX_OBJECTS)
        return;
    double h, x, y;
    td_track_point_at(t, s, lat_frac * width_at(t, s), &x, &y, &h);
    pr->object_xy[pr->n_objects][0] = x;
    pr->object_xy[pr->n_objects][1] = y;
    pr->n_objects++;
}

typedef struct {
    td_reward_sample *out;
    int max, n;
} sink;

/* Adds a sample; fmt takes one double (the label's number). */
static void emit(sink *k, const td_track *t, const td_reward_probe *pr, const char *fmt, double arg)
    __attribute__((format(printf, 4, 0)));

static void emit(sink *k, const td_track *t, const td_reward_probe *pr, const char *fmt, double arg)
{
    if (k->n >= k->max)
        return;
    td_reward_sample *s = &k->out[k->n++];
    snprintf(s->label, sizeof(s->label), fmt, arg);
    td_reward_probe_params(t, pr, &s->params);
}

static void emit0(sink *k, const td_track *t, const td_reward_probe *pr, const char *label)
{
    if (k->n >= k->max)
        return;
    td_reward_sample *s = &k->out[k->n++];
    snprintf(s->label, sizeof(s->label), "%s", label);
    td_reward_probe_params(t, pr, &s->params);
}

int td_reward_samples(const td_track *t, const td_track *rev, td_reward_sample *out, int max)
{
    sink k = {out, max, 0};
    td_reward_probe pr;
    double L = t->length;

    for (int i = 0; i < 8; i++) {
        probe_at(t, L * i / 8.0 + 0.05, 0, 0, 2.0, 0, &pr);
        emit(&k, t, &pr, "centre line at %.1f%% of the lap", 100.0 * i / 8.0);
    }
    double s = 0.3 * L;
    probe_at(t, s, 0.35, 0, 2.0, 0, &pr);
    emit(&k, t, &pr, "near the left border (%.0f%% of the width left)", 35);
    probe_at(t, s, -0.35, 0, 2.0, 0, &pr);
    emit(&k, t, &pr, "near the right border (%.0f%% of the width right)", 35);
    probe_at(t, s, 0.5, 0, 2.0, 0, &pr);
    emit0(&k, t, &pr, "on the left border line");
    probe_at(t, s, -0.5, 0, 2.0, 0, &pr);
    emit0(&k, t, &pr, "on the right border line");
    probe_at(t, s, 0.5, 0, 2.0, 0, &pr);
    {
        double h;
        td_track_point_at(t, s, 0.5 * width_at(t, s) + 0.45, &pr.x, &pr.y, &h);
    }
    emit(&k, t, &pr, "off track, %.2f m outside the left border", 0.45);
    {
        double h;
        td_track_point_at(t, s, -0.5 * width_at(t, s) - 0.45, &pr.x, &pr.y, &h);
    }
    emit(&k, t, &pr, "off track, %.2f m outside the right border", 0.45);

    s = 0.55 * L;
    probe_at(t, s, 0, 90, 1.0, 0, &pr);
    emit(&k, t, &pr, "centre, heading %.0f degrees off the track direction", 90);
    probe_at(t, s, 0, 180, 1.0, 0, &pr);
    emit(&k, t, &pr, "centre, heading backwards (%.0f degrees)", 180);
    probe_at(t, s, 0, 0, 0.5, 0, &pr);
    emit(&k, t, &pr, "centre, slow (%.1f m/s)", 0.5);
    probe_at(t, s, 0, 0, 4.0, 0, &pr);
    emit(&k, t, &pr, "centre, fast (%.1f m/s)", 4.0);
    probe_at(t, s, 0, 0, 2.0, 30, &pr);
    emit(&k, t, &pr, "centre, steering %.0f degrees left", 30);
    probe_at(t, s, 0, 0, 2.0, -30, &pr);
    emit(&k, t, &pr, "centre, steering %.0f degrees right", 30);

    probe_at(t, 0.02, 0, 0, 0.5, 0, &pr);
    pr.steps = 1;
    emit(&k, t, &pr, "first step of an episode (progress %.0f)", 0);
    if (t->closed) {
        probe_at(t, L - 0.1, 0, 0, 3.0, 0, &pr);
        emit(&k, t, &pr, "just before the finish line (progress %.1f)", 100.0 * (L - 0.1) / L);
    }

    /* Object avoidance: three obstacles, the next one ahead in the car's lane or not. */
    s = 0.7 * L;
    probe_at(t, s, 0.25, 0, 2.0, 0, &pr);
    add_object(t, s - 2.0, -0.25, &pr);
    add_object(t, s + 0.8, 0.25, &pr);
    add_object(t, s + 3.0, -0.25, &pr);
    emit(&k, t, &pr, "obstacle %.1f m ahead in the car's lane", 0.8);
    probe_at(t, s, 0.25, 0, 2.0, 0, &pr);
    add_object(t, s - 2.0, 0.25, &pr);
    add_object(t, s + 0.8, -0.25, &pr);
    add_object(t, s + 3.0, 0.25, &pr);
    emit(&k, t, &pr, "obstacle %.1f m ahead in the other lane", 0.8);
    probe_at(t, s, 0.25, 0, 2.0, 0, &pr);
    add_object(t, s + 0.15, 0.25, &pr);
    emit0(&k, t, &pr, "crashed into an obstacle");
    if (k.n > 0 && k.n <= k.max) {
        td_params *p = &k.out[k.n - 1].params;
        p->is_crashed = 1; /* whatever the footprints say, this sample is the crash case */
    }
    probe_at(t, s, -0.25, 0, 1.5, 0, &pr);
    add_object(t, s + 1.2, -0.25, &pr);
    emit(&k, t, &pr, "bot car %.1f m ahead in the car's lane", 1.2);
    if (k.n > 0 && k.n <= k.max) {
        td_params *p = &k.out[k.n - 1].params;
        p->objects_speed[0] = 0.2;
        double x, y, h;
        td_track_point_at(t, s + 1.2, 0, &x, &y, &h);
        p->objects_heading[0] = h; /* radians, as DeepRacer gives a bot's yaw */
    }

    if (rev) {
        double R = rev->length;
        probe_at(rev, 0.25 * R, 0, 0, 2.0, 0, &pr);
        emit(&k, rev, &pr, "reverse direction, centre line at %.0f%% of the lap", 25);
        probe_at(rev, 0.75 * R, 0.3, 0, 2.0, 0, &pr);
        emit(&k, rev, &pr, "reverse direction, left of centre at %.0f%% of the lap", 75);
    }
    return k.n;
}
