/*
 * test_race.c - head-to-head races (race.h), the simulator's shared-world functions they use
 * (sim.h: external boxes, predict, refresh) and `trackday race`: standings by finishing time
 * with penalties applied, the penalty arithmetic of a forced off-track, collisions between
 * cars (both crashed), the staggered grid, the replay's frame count, and a race of two
 * freshly trained models through the CLI.
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "td_test.h"
#include "trackday/json.h"
#include "trackday/race.h"
#include "trackday/replay.h"

#define OVAL TD_TEST_SOURCE_DIR "/tracks/oval.json"

static void load_oval(td_track *t)
{
    td_err err;
    int rc = td_track_load(t, OVAL, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
}

static void builtin(td_racer *r, const char *spec)
{
    td_err err;
    memset(r, 0, sizeof(*r));
    r->name = spec;
    int rc = td_racer_parse_builtin(spec, &r->driver, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
}

static const td_race_car_result *by_name(const td_race_result *res, const char *name)
{
    for (int i = 0; i < res->n; i++)
        if (!strcmp(res->cars[i].name, name))
            return &res->cars[i];
    TD_FAIL("no car named %s", name);
    return NULL;
}

static double lap_sum(const td_race_car_result *c)
{
    double s = 0;
    for (int i = 0; i < c->laps; i++)
        s += c->lap_times_s[i];
    return s;
}

/* ---- shared worlds (sim.h) --------------------------------------------------------------- */

typedef struct one_env {
    td_vecenv env;
    float action[2], state[TD_STATE_DIM], reward;
    uint8_t done;
    td_params params;
} one_env;

static void one_env_init(one_env *e, const td_track *t, td_race_type type)
{
    td_sim_config cfg;
    td_err err;
    memset(e, 0, sizeof(*e));
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_EVAL;
    td_race_config_set_type(&cfg.race, type);
    int rc = td_vecenv_init(&e->env, &cfg, t, 1, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
    e->env.actions = e->action;
    e->env.obs_state = e->state;
    e->env.rewards = &e->reward;
    e->env.dones = &e->done;
    e->env.params = &e->params;
    td_vecenv_reset(&e->env);
}

TD_TEST(external_boxes_are_seen_and_hit)
{
    td_track t;
    td_err err;
    one_env e;
    load_oval(&t);
    one_env_init(&e, &t, TD_RACE_TIME_TRIAL);
    TD_ASSERT_EQ_INT(e.params.n_objects, 0);
    /* A car 2 m ahead on the centre line. */
    double x, y, hd;
    td_track_point_at(&t, 2.0, 0.0, &x, &y, &hd);
    td_box b = {x, y, hd, TD_CAR_LENGTH_M, TD_CAR_WIDTH_M, TD_CAR_HEIGHT_M, TD_BOX_CAR};
    TD_ASSERT_OK(td_vecenv_set_external_boxes(&e.env, 0, &b, 1, &err));
    td_vecenv_refresh(&e.env, 0);
    TD_ASSERT_EQ_INT(e.params.n_objects, 1);
    TD_ASSERT_NEAR(e.params.objects_location[0][0], x, 1e-12);
    TD_ASSERT_NEAR(e.params.objects_distance[0], 2.0, 0.05);
    TD_ASSERT_EQ_INT(e.params.closest_objects[1], 0);
    /* DeepRacer answers object_in_camera for the object one index below the next one: with
     * a single object, False (sim.h; the state sensor sees it). */
    TD_ASSERT_EQ_INT(e.params.object_in_camera, 0);
    TD_ASSERT_GT(e.state[13], 0.5f); /* the state sensor sees an object ahead */
    const td_box *boxes;
    TD_ASSERT_EQ_INT(td_vecenv_boxes(&e.env, 0, &boxes), 1);

    /* predict == step, bit for bit: the prepare step holds the car, then it drives. */
    td_car_state pred;
    e.action[0] = 10.0f;
    e.action[1] = 2.0f;
    for (int k = 0; k < 2; k++) {
        td_car_state before = *td_vecenv_car(&e.env, 0);
        td_vecenv_predict(&e.env, 0, e.action, &pred);
        td_vecenv_step(&e.env);
        const td_car_state *st = td_vecenv_car(&e.env, 0);
        TD_ASSERT(pred.x == st->x && pred.y == st->y && pred.yaw == st->yaw);
        TD_ASSERT_EQ(pred.speed, st->speed);
        TD_ASSERT_EQ_INT(k == 0, pred.x == before.x && pred.y == before.y);
        TD_ASSERT_EQ_INT(td_vecenv_step_status(&e.env, 0),
                         k == 0 ? TD_EP_PREPARE : TD_EP_IN_PROGRESS);
    }

    /* A car 1 cm ahead of this car's front: the step's action takes the car into it, but
     * the step judges the pose where the action was chosen (DeepRacer's update_agent runs
     * before the physics), so the crash comes on the next step, from behind. */
    const td_car_state *now = td_vecenv_car(&e.env, 0);
    td_vecenv_predict(&e.env, 0, e.action, &pred);
    double ahead = TD_CAR_LENGTH_M + 0.01;
    TD_ASSERT_GT(hypot(pred.x - now->x, pred.y - now->y), 0.05);
    td_box on = {now->x + ahead * now->cos_yaw,
                 now->y + ahead * now->sin_yaw,
                 now->yaw,
                 TD_CAR_LENGTH_M,
                 TD_CAR_WIDTH_M + 0.02,
                 TD_CAR_HEIGHT_M,
                 TD_BOX_CAR};
    TD_ASSERT_OK(td_vecenv_set_external_boxes(&e.env, 0, &on, 1, &err));
    td_vecenv_step(&e.env);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&e.env, 0), TD_EP_IN_PROGRESS);
    TD_ASSERT_EQ_INT(e.params.is_crashed, 0);
    TD_ASSERT_EQ_INT(e.done, 0);
    td_vecenv_step(&e.env);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&e.env, 0), TD_EP_CRASHED);
    TD_ASSERT_EQ_INT(e.params.is_crashed, 1);
    TD_ASSERT_EQ_INT(e.done, 1);
    /* The next episode starts without them. */
    TD_ASSERT_EQ_INT(td_vecenv_boxes(&e.env, 0, &boxes), 0);
    /* Bad calls. */
    TD_ASSERT_EQ_INT(td_vecenv_set_external_boxes(&e.env, 0, &b, TD_MAX_OBJECTS + 1, &err),
                     TD_EINVAL);
    td_vecenv_free(&e.env);

    one_env_init(&e, &t, TD_RACE_OBJECT_AVOIDANCE);
    TD_ASSERT_EQ_INT(td_vecenv_set_external_boxes(&e.env, 0, &b, 1, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "obstacles or bots of its own");
    td_vecenv_free(&e.env);
    td_track_free(&t);
}

/* ---- races --------------------------------------------------------------------------------- */

TD_TEST(builtin_parse)
{
    td_driver_config d;
    td_err err;
    TD_ASSERT_OK(td_racer_parse_builtin("builtin:centerline:1.5", &d, &err));
    TD_ASSERT_EQ_INT(d.kind, TD_DRIVER_CENTERLINE);
    TD_ASSERT_NEAR(d.max_speed, 1.5, 1e-12);
    TD_ASSERT_OK(td_racer_parse_builtin("builtin:pure-pursuit", &d, &err));
    TD_ASSERT_EQ_INT(d.kind, TD_DRIVER_PURE_PURSUIT);
    TD_ASSERT_EQ_INT(td_racer_parse_builtin("builtin:warp", &d, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "warp");
    TD_ASSERT_EQ_INT(td_racer_parse_builtin("builtin:zigzag:9", &d, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "top speed '9' must be 0.1..4 m/s");
    TD_ASSERT_EQ_INT(td_racer_parse_builtin("pure-pursuit", &d, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "a built-in racer is builtin:KIND[:SPEED]");
}

TD_TEST(grid_is_staggered_on_alternating_lanes)
{
    td_track t;
    td_err err;
    td_race *r;
    td_racer rc[3];
    td_race_options o;
    load_oval(&t);
    builtin(&rc[0], "builtin:centerline");
    builtin(&rc[1], "builtin:centerline");
    builtin(&rc[2], "builtin:centerline");
    td_race_options_default(&o);
    TD_ASSERT_OK(td_race_open(&r, &t, rc, 3, &o, &err));
    for (int k = 0; k < 3; k++) {
        const td_car_state *st = td_vecenv_car(td_race_env(r, k), 0);
        double x, y;
        td_track_lane_point(&t, td_track_wrap_arc(&t, -0.75 * k), (k & 1) ? -1 : 1, &x, &y);
        TD_ASSERT_NEAR(st->x, x, 1e-9);
        TD_ASSERT_NEAR(st->y, y, 1e-9);
        /* Each world holds the two other cars. */
        const td_box *b;
        TD_ASSERT_EQ_INT(td_vecenv_boxes(td_race_env(r, k), 0, &b), 2);
    }
    /* Cars behind the line start with negative progress: they must cross it. */
    TD_ASSERT_LT(td_race_env(r, 1)->params[0].progress, 0);
    TD_ASSERT_GT(td_race_env(r, 0)->params[0].progress, 0);
    td_race_close(r);
    td_track_free(&t);
}

TD_TEST(cars_see_each_other_in_the_camera)
{
    td_track t;
    td_err err;
    td_race *r;
    td_racer rc[2];
    td_race_options o;
    td_ground_map *g;
    td_camera_config cam;
    td_look look;
    load_oval(&t);
    builtin(&rc[0], "builtin:centerline");
    builtin(&rc[1], "builtin:centerline");
    td_race_options_default(&o);
    TD_ASSERT_OK(td_race_open(&r, &t, rc, 2, &o, &err));
    TD_ASSERT_OK(td_ground_map_open(&g, &t, 0.01, &err));
    td_camera_config_default(&cam);
    td_look_default(&look);
    /* Car 1 stands 0.75 m behind car 0 on the other lane: car 0 is in its view. */
    td_scene sc;
    td_vecenv_scene(td_race_env(r, 1), 0, &sc);
    TD_ASSERT_EQ_INT(sc.nboxes, 1);
    TD_ASSERT_EQ_INT(sc.boxes[0].kind, TD_BOX_CAR);
    sc.ground = g;
    sc.look = &look;
    size_t bytes = (size_t)cam.width * cam.height * 3;
    uint8_t *with = td_malloc(bytes), *without = td_malloc(bytes);
    TD_ASSERT(with && without);
    const td_car_state *st = td_vecenv_car(td_race_env(r, 1), 0);
    td_camera_render_rgb(&cam, &sc, st->x, st->y, st->yaw, with);
    sc.nboxes = 0;
    td_camera_render_rgb(&cam, &sc, st->x, st->y, st->yaw, without);
    long differ = 0;
    for (size_t i = 0; i < bytes; i += 3)
        differ += memcmp(with + i, without + i, 3) != 0;
    TD_ASSERT_MSG(differ > 200, "only %ld pixels show the other car", differ);
    /* And in params. */
    TD_ASSERT_EQ_INT(td_race_env(r, 1)->params[0].n_objects, 1);
    /* The car ahead is the next object (its centre is outside the field of view at this
     * short range, so object_in_camera, which tests the centre, may read 0). */
    TD_ASSERT_EQ_INT(td_race_env(r, 1)->params[0].closest_objects[1], 0);
    TD_ASSERT_NEAR(td_race_env(r, 1)->params[0].objects_location[0][0],
                   td_vecenv_car(td_race_env(r, 0), 0)->x, 1e-12);
    td_free(with);
    td_free(without);
    td_ground_map_close(g);
    td_race_close(r);
    td_track_free(&t);
}

TD_TEST(standings_order_by_finishing_time)
{
    td_track t;
    td_err err;
    td_racer rc[3];
    td_race_options o;
    td_race_result res;
    load_oval(&t);
    builtin(&rc[0], "builtin:pure-pursuit");
    builtin(&rc[1], "builtin:centerline:2.0");
    builtin(&rc[2], "builtin:centerline:1.2");
    td_race_options_default(&o);
    o.laps = 1;
    TD_ASSERT_OK(td_race_run(&t, rc, 3, &o, &res, &err));
    TD_ASSERT_EQ_INT(res.n, 3);
    TD_ASSERT_STREQ(res.cars[0].name, "builtin:pure-pursuit");
    TD_ASSERT_STREQ(res.cars[1].name, "builtin:centerline:2.0");
    TD_ASSERT_STREQ(res.cars[2].name, "builtin:centerline:1.2");
    for (int p = 0; p < 3; p++) {
        TD_ASSERT_EQ_INT(res.cars[p].position, p + 1);
        TD_ASSERT(res.cars[p].finished);
        TD_ASSERT_EQ_INT(res.cars[p].laps, 1);
        TD_ASSERT_EQ_INT(res.cars[p].events.crashes, 0);
        TD_ASSERT_NEAR(res.cars[p].total_time_s, lap_sum(&res.cars[p]), 1e-9);
        /* No penalties: time is steps driven. */
        TD_ASSERT_NEAR(res.cars[p].total_time_s, res.cars[p].steps / TD_SIM_HZ, 1e-9);
        if (p)
            TD_ASSERT_GT(res.cars[p].total_time_s, res.cars[p - 1].total_time_s);
    }
    /* The race lasts until the last car finishes. */
    TD_ASSERT_NEAR(res.race_time_s, res.cars[2].total_time_s, 1e-9);
    td_track_free(&t);
}

/* A race of pure pursuit (slot 0) against a centreline driver (slot 1) in continuous mode,
 * car 0 thrown off the track at step `at` (0: never). Returns car 0's pause steps. */
static int penalty_race(const td_track *t, int at, double penalty, td_race_result *res)
{
    td_err err;
    td_race *r;
    td_racer rc[2];
    td_race_options o;
    builtin(&rc[0], "builtin:pure-pursuit");
    builtin(&rc[1], "builtin:centerline:2.0");
    td_race_options_default(&o);
    o.laps = 1;
    o.continuous = 1;
    o.penalties.off_track_penalty_s = penalty;
    TD_ASSERT_OK(td_race_open(&r, t, rc, 2, &o, &err));
    int step = 0, st, paused = 0;
    while ((st = td_race_step(r, &err)) > 0) {
        paused += td_vecenv_step_status(td_race_env(r, 0), 0) == TD_EP_PAUSE;
        if (++step == at) {
            /* 1.5 m outside the outer border, beside the car. */
            const td_params *p = &td_race_env(r, 0)->params[0];
            double x, y, hd, w = 0.5 * p->track_width + 1.5;
            td_track_point_at(t, p->projection_distance, p->is_left_of_center ? w : -w, &x, &y,
                              &hd);
            td_race_teleport(r, 0, x, y, hd, 1.0);
        }
    }
    TD_ASSERT_EQ_INT(st, 0);
    TD_ASSERT_OK(td_race_finish(r, res, &err));
    td_race_close(r);
    return paused;
}

TD_TEST(penalty_is_added_to_the_finishing_time)
{
    td_track t;
    td_race_result base, pen, big;
    load_oval(&t);
    penalty_race(&t, 0, 2.0, &base);
    TD_ASSERT_STREQ(base.cars[0].name, "builtin:pure-pursuit");
    const td_race_car_result *b0 = by_name(&base, "builtin:pure-pursuit");
    const td_race_car_result *b1 = by_name(&base, "builtin:centerline:2.0");
    TD_ASSERT_EQ_INT(b0->events.resets, 0);
    TD_ASSERT_NEAR(b0->events.penalty_s, 0.0, 0);

    int paused = penalty_race(&t, 20, 2.0, &pen);
    const td_race_car_result *p0 = by_name(&pen, "builtin:pure-pursuit");
    TD_ASSERT(p0->finished);
    TD_ASSERT_EQ_INT(p0->events.off_tracks, 1);
    TD_ASSERT_EQ_INT(p0->events.resets, 1);
    TD_ASSERT_EQ(p0->events.penalty_s, 2.0);
    /* It waited out its penalty held at its reset pose: 2 s are 30 pause steps of the race
     * clock, which its time counts like every other step, in the lap time too. */
    TD_ASSERT_EQ_INT(paused, 30);
    TD_ASSERT_NEAR(p0->total_time_s, p0->steps / TD_SIM_HZ, 1e-9);
    TD_ASSERT_NEAR(p0->total_time_s, lap_sum(p0), 1e-9);

    /* A penalty larger than the margin puts it behind the slower car. */
    double margin = b1->total_time_s - b0->total_time_s;
    TD_ASSERT_GT(margin, 0.5);
    penalty_race(&t, 20, margin + 5.0, &big);
    TD_ASSERT_STREQ(big.cars[0].name, "builtin:centerline:2.0");
    TD_ASSERT_STREQ(big.cars[1].name, "builtin:pure-pursuit");
    TD_ASSERT(big.cars[1].finished);
    TD_ASSERT_EQ(big.cars[1].events.penalty_s, margin + 5.0);
    TD_ASSERT_GT(big.cars[1].total_time_s, big.cars[0].total_time_s);
    td_track_free(&t);
}

/* Two cars put on the same spot before the first step. */
static void overlap_race(const td_track *t, int continuous, td_race_result *res)
{
    td_err err;
    td_race *r;
    td_racer rc[2];
    td_race_options o;
    builtin(&rc[0], "builtin:centerline");
    builtin(&rc[1], "builtin:centerline");
    td_race_options_default(&o);
    o.laps = 1;
    o.continuous = continuous;
    TD_ASSERT_OK(td_race_open(&r, t, rc, 2, &o, &err));
    /* 5 cm ahead and 2 cm to the left, so car 0's front left corner is strictly inside car 1
     * (DeepRacer's collision test): two cars side by side to the millimetre touch only at
     * their edges. */
    const td_car_state *a = td_vecenv_car(td_race_env(r, 0), 0);
    td_race_teleport(r, 1, a->x + 0.05 * cos(a->yaw) - 0.02 * sin(a->yaw),
                     a->y + 0.05 * sin(a->yaw) + 0.02 * cos(a->yaw), a->yaw, 0.0);
    /* The prepare step holds both cars (no rule applies); the next one judges them where
     * they stand, before its physics. */
    for (int k = 0; k < 2; k++)
        TD_ASSERT_GE(td_race_step(r, &err), 0);
    TD_ASSERT_OK(td_race_finish(r, res, &err));
    td_race_close(r);
}

TD_TEST(the_car_behind_crashes_the_car_ahead_does_not)
{
    /* Car 1 stands 5 cm ahead of car 0, overlapping: DeepRacer's rule crashes the car that is
     * behind (its corner is inside the other car and its progress is lower). */
    td_track t;
    td_race_result res;
    load_oval(&t);
    overlap_race(&t, 0, &res);
    const td_race_car_result *behind = res.cars[0].start_slot == 0 ? &res.cars[0] : &res.cars[1];
    const td_race_car_result *ahead = behind == &res.cars[0] ? &res.cars[1] : &res.cars[0];
    TD_ASSERT_EQ_INT(behind->start_slot, 0);
    TD_ASSERT_EQ_INT(behind->status, TD_EP_CRASHED);
    TD_ASSERT_EQ_INT(behind->events.crashes, 1);
    TD_ASSERT(!behind->finished);
    TD_ASSERT_EQ_INT(ahead->events.crashes, 0);
    TD_ASSERT_EQ_INT(ahead->status, TD_EP_IN_PROGRESS);
    TD_ASSERT_EQ_INT((int)res.steps, 2);

    /* Continuous: the car behind pays the collision penalty, waiting where it stands. */
    overlap_race(&t, 1, &res);
    behind = res.cars[0].start_slot == 0 ? &res.cars[0] : &res.cars[1];
    ahead = behind == &res.cars[0] ? &res.cars[1] : &res.cars[0];
    TD_ASSERT_EQ_INT(behind->events.crashes, 1);
    TD_ASSERT_EQ_INT(behind->events.resets, 1);
    TD_ASSERT_EQ(behind->events.penalty_s, 5.0);
    TD_ASSERT_EQ_INT(behind->status, TD_EP_IN_PROGRESS);
    TD_ASSERT_EQ_INT(ahead->events.crashes, 0);
    TD_ASSERT_EQ_INT(ahead->events.resets, 0);
    td_track_free(&t);
}

TD_TEST(race_runs_to_the_end_with_penalties_apart)
{
    /* A continuous race that begins with a collision still finishes: the car behind waits out
     * its penalty while the other drives away, and they do not crash again and again. */
    td_track t;
    td_err err;
    td_race *r;
    td_racer rc[2];
    td_race_options o;
    td_race_result res;
    load_oval(&t);
    builtin(&rc[0], "builtin:centerline:2.0");
    builtin(&rc[1], "builtin:centerline:2.0");
    td_race_options_default(&o);
    o.laps = 1;
    o.continuous = 1;
    TD_ASSERT_OK(td_race_open(&r, &t, rc, 2, &o, &err));
    const td_car_state *a = td_vecenv_car(td_race_env(r, 0), 0);
    td_race_teleport(r, 1, a->x + 0.05 * cos(a->yaw), a->y + 0.05 * sin(a->yaw), a->yaw, 0.0);
    int st;
    while ((st = td_race_step(r, &err)) > 0)
        ;
    TD_ASSERT_EQ_INT(st, 0);
    TD_ASSERT_OK(td_race_finish(r, &res, &err));
    td_race_close(r);
    for (int p = 0; p < 2; p++) {
        TD_ASSERT_MSG(res.cars[p].finished, "%s: %s", res.cars[p].name,
                      td_episode_status_name(res.cars[p].status));
        TD_ASSERT_EQ_INT(res.cars[p].events.crashes, res.cars[p].start_slot == 0 ? 1 : 0);
        /* The penalty is in the steps: the car was held for them. */
        TD_ASSERT_NEAR(res.cars[p].total_time_s, res.cars[p].steps / TD_SIM_HZ, 1e-9);
        TD_ASSERT_NEAR(res.cars[p].events.penalty_s, res.cars[p].start_slot == 0 ? 5.0 : 0.0, 0);
    }
    td_track_free(&t);
}

TD_TEST(reverse_race_drives_the_other_way)
{
    td_track t;
    td_err err;
    td_racer rc[2];
    td_race_options o;
    td_race_result res;
    td_race *r;
    load_oval(&t);
    builtin(&rc[0], "builtin:pure-pursuit");
    builtin(&rc[1], "builtin:centerline:2.0");
    td_race_options_default(&o);
    o.laps = 1;
    o.continuous = 1;
    o.reverse = 1;
    /* The grid stands behind the line in the reverse direction. */
    TD_ASSERT_OK(td_race_open(&r, &t, rc, 2, &o, &err));
    const td_track *rt = td_vecenv_track(td_race_env(r, 1), 0);
    TD_ASSERT_EQ_INT(rt->reversed, 1);
    double x, y;
    td_track_lane_point(rt, td_track_wrap_arc(rt, -0.75), -1, &x, &y);
    TD_ASSERT_NEAR(td_vecenv_car(td_race_env(r, 1), 0)->x, x, 1e-9);
    TD_ASSERT_NEAR(td_vecenv_car(td_race_env(r, 1), 0)->y, y, 1e-9);
    td_race_close(r);
    /* Both drivers lap it cleanly: they follow the reverse track. */
    TD_ASSERT_OK(td_race_run(&t, rc, 2, &o, &res, &err));
    for (int p = 0; p < 2; p++) {
        TD_ASSERT(res.cars[p].finished);
        TD_ASSERT_EQ_INT(res.cars[p].events.resets, 0);
    }
    TD_ASSERT_STREQ(res.cars[0].name, "builtin:pure-pursuit");
    td_track_free(&t);
}

TD_TEST(races_are_reproducible)
{
    td_track t;
    td_err err;
    td_racer rc[3];
    td_race_options o;
    td_race_result a, b;
    load_oval(&t);
    builtin(&rc[0], "builtin:zigzag");
    builtin(&rc[1], "builtin:pure-pursuit");
    builtin(&rc[2], "builtin:centerline:1.5");
    td_race_options_default(&o);
    o.laps = 2;
    o.continuous = 1;
    TD_ASSERT_OK(td_race_run(&t, rc, 3, &o, &a, &err));
    TD_ASSERT_OK(td_race_run(&t, rc, 3, &o, &b, &err));
    TD_ASSERT_EQ_INT((int)a.steps, (int)b.steps);
    for (int p = 0; p < 3; p++) {
        TD_ASSERT_STREQ(a.cars[p].name, b.cars[p].name);
        TD_ASSERT_EQ(a.cars[p].total_time_s, b.cars[p].total_time_s);
        TD_ASSERT_EQ_INT(a.cars[p].events.crashes, b.cars[p].events.crashes);
        TD_ASSERT_EQ_INT(a.cars[p].events.off_tracks, b.cars[p].events.off_tracks);
    }
    td_track_free(&t);
}

TD_TEST(race_rejects_bad_setups)
{
    td_track t, straight;
    td_err err;
    td_race *r;
    td_racer rc[7];
    td_race_options o;
    load_oval(&t);
    for (int k = 0; k < 7; k++)
        builtin(&rc[k], "builtin:centerline");
    td_race_options_default(&o);
    TD_ASSERT_EQ_INT(td_race_open(&r, &t, rc, 1, &o, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "2 to 6");
    TD_ASSERT_EQ_INT(td_race_open(&r, &t, rc, 7, &o, &err), TD_EINVAL);
    TD_ASSERT_OK(td_track_load(&straight, TD_SHARED_TRACKS "/Straight_track.npy", &err));
    TD_ASSERT_EQ_INT(td_race_open(&r, &straight, rc, 2, &o, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "loop");
    td_track_free(&straight);
    td_track_free(&t);
}

static int is_frame(const char *name, void *user)
{
    (void)user;
    return strncmp(name, "frame_", 6) == 0;
}

static int count_pngs(const char *dir)
{
    char **v;
    int n;
    td_err err;
    TD_ASSERT_OK(td_dir_list(dir, 0, is_frame, NULL, &v, &n, &err));
    td_dir_list_free(v, n);
    return n;
}

TD_TEST(race_replay_has_a_frame_per_step_and_every_car)
{
    td_track t;
    td_err err;
    td_racer rc[2];
    td_race_options o;
    td_race_result res;
    char dir[256], frames[320], png[400];
    load_oval(&t);
    builtin(&rc[0], "builtin:pure-pursuit");
    builtin(&rc[1], "builtin:centerline:2.5");
    td_race_options_default(&o);
    o.laps = 1;
    o.replay_width = 320;
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(frames, "%s/replay", dir);
    o.replay_path = frames;
    TD_ASSERT_OK(td_race_run(&t, rc, 2, &o, &res, &err));
    TD_ASSERT_EQ_INT(res.replay_frames, (int)res.steps);
    TD_ASSERT_EQ_INT(count_pngs(frames), (int)res.steps);
    uint8_t *img;
    int w, h, c, seen[2] = {0, 0};
    TD_FMT(png, "%s/frame_00005.png", frames);
    TD_ASSERT_OK(td_png_read(png, &img, &w, &h, &c, &err));
    TD_ASSERT_EQ_INT(w, 320);
    for (int k = 0; k < 2; k++) {
        uint8_t col[3];
        td_replay_car_color(k, col);
        for (long i = 0; i < (long)w * h; i++)
            seen[k] += !memcmp(img + 3 * i, col, 3);
    }
    TD_ASSERT(seen[0] > 10 && seen[1] > 10);
    td_free(img);
    td_track_free(&t);
}

TD_TEST(race_replay_with_a_camera_view)
{
    td_track t;
    td_err err;
    td_racer rc[2];
    td_race_options o;
    td_race *r;
    char dir[256], frames[320], png[400];
    load_oval(&t);
    builtin(&rc[0], "builtin:centerline:2.0");
    builtin(&rc[1], "builtin:centerline:1.0");
    td_race_options_default(&o);
    o.laps = 1;
    o.replay_width = 320;
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(frames, "%s/replay", dir);
    o.replay_path = frames;
    o.replay_camera_car = 2;
    TD_ASSERT_EQ_INT(td_race_open(&r, &t, rc, 2, &o, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "camera");
    o.replay_camera_car = 1;
    TD_ASSERT_OK(td_race_open(&r, &t, rc, 2, &o, &err));
    for (int i = 0; i < 3; i++)
        TD_ASSERT_EQ_INT(td_race_step(r, &err), 1);
    td_race_result res;
    TD_ASSERT_OK(td_race_finish(r, &res, &err));
    td_race_close(r);
    TD_ASSERT_EQ_INT(res.replay_frames, 3);
    /* The left half shows car 1's camera: the car ahead (car 0) as a red box (the world's
     * car colour, shaded); nothing else in a camera view is that red. */
    uint8_t *img;
    int w, h, c;
    TD_FMT(png, "%s/frame_00003.png", frames);
    TD_ASSERT_OK(td_png_read(png, &img, &w, &h, &c, &err));
    long n = 0;
    uint8_t top[3];
    td_replay_car_color(0, top);
    /* Below the text band (3 lines of 10 pixels and a margin at this width). */
    for (int y = 40; y < h; y++)
        for (int x = 0; x < w / 2; x++) {
            const uint8_t *p = img + ((size_t)y * w + x) * 3;
            n += p[0] > 2 * p[1] && p[0] > 2 * p[2] && p[0] > 60 && memcmp(p, top, 3) != 0;
        }
    TD_ASSERT_MSG(n > 50, "%ld car pixels in the camera half", n);
    td_free(img);
    td_track_free(&t);
}

/* ---- CLI ------------------------------------------------------------------------------------ */

TD_TEST(cli_races_two_trained_models)
{
    char dir[256], cmd[2048], path[400];
    td_err err;
    TD_FMT(dir, "%s", td_test_tmpdir());
    for (int k = 0; k < 2; k++) {
        TD_FMT(cmd,
               "cd '%s' && '%s' init m%d --discrete --fast-actions --track default --sensor state "
               ">/dev/null && "
               "'%s' train m%d --iterations 3 >/dev/null 2>&1",
               dir, TD_TEST_TRACKDAY_BIN, k, TD_TEST_TRACKDAY_BIN, k);
        TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    }
    /* An earlier race's replay in the output folder is named as not this race's. */
    TD_FMT(cmd, "mkdir -p '%s/out' && echo old > '%s/out/race.mp4'", dir, dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_FMT(cmd,
           "cd '%s' && '%s' race m0 m1/model/last.tdm builtin:centerline:1.0 --track oval "
           "--laps 1 --continuous --max-time 60 -o out --replay none > out.txt 2> err.txt",
           dir, TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    char *note;
    size_t note_len;
    TD_FMT(path, "%s/err.txt", dir);
    TD_ASSERT_OK(td_file_read(path, &note, &note_len, &err));
    TD_ASSERT_CONTAINS(note, "note: out/race.mp4 is the replay of an earlier race");
    td_free(note);
    TD_FMT(path, "%s/out/race.json", dir);
    json_t *root = NULL;
    TD_ASSERT_OK(td_json_load_file(path, &root, &err));
    TD_ASSERT_STREQ(json_string_value(json_object_get(root, "track")), "oval");
    TD_ASSERT_STREQ(json_string_value(json_object_get(root, "race_type")), "HEAD_TO_MODEL");
    json_t *st = json_object_get(root, "standings");
    TD_ASSERT_EQ_INT((int)json_array_size(st), 3);
    int names = 0;
    for (size_t i = 0; i < json_array_size(st); i++) {
        json_t *c = json_array_get(st, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        names |= !strcmp(name, "m0") ? 1 : (!strcmp(name, "m1/model/last.tdm") ? 2 : 4);
        TD_ASSERT_EQ_INT((int)json_integer_value(json_object_get(c, "position")), (int)i + 1);
        if (i == 0)
            continue;
        /* The standings rule, on the report's own numbers. */
        json_t *p = json_array_get(st, i - 1);
        int pf = json_is_true(json_object_get(p, "finished"));
        int cf = json_is_true(json_object_get(c, "finished"));
        TD_ASSERT_GE(pf, cf);
        if (pf && cf)
            TD_ASSERT(json_real_value(json_object_get(p, "total_time_s")) <=
                      json_real_value(json_object_get(c, "total_time_s")));
        if (!pf && !cf) {
            int pl = (int)json_integer_value(json_object_get(p, "laps"));
            int cl = (int)json_integer_value(json_object_get(c, "laps"));
            TD_ASSERT_GE(pl, cl);
            if (pl == cl)
                TD_ASSERT(json_real_value(json_object_get(p, "progress")) >=
                          json_real_value(json_object_get(c, "progress")));
        }
    }
    TD_ASSERT_EQ_INT(names, 7);
    json_decref(root);

    /* The table on stdout. */
    char *text;
    size_t len;
    TD_FMT(path, "%s/out.txt", dir);
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    TD_ASSERT_CONTAINS(text, "pos");
    TD_ASSERT_CONTAINS(text, "m0");
    TD_ASSERT_CONTAINS(text, "race.json");
    td_free(text);

    /* One car is not a race. */
    TD_FMT(cmd, "cd '%s' && '%s' race m0 --track oval", dir, TD_TEST_TRACKDAY_BIN);
    char *errs;
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, &errs), 2);
    TD_ASSERT_CONTAINS(errs, "needs 2 to 6 MODEL arguments (got 1)");
    td_free(errs);
}
