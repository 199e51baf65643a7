/*
 * test_sim.c - the simulator: car physics, footprint overlap, every params key on
 * hand-computed cases (a 10 m square loop), episode rules and their precedence, starts
 * (round robin, alternate direction, evaluation), continuous-mode penalties, objects and
 * bots, determinism of the threaded vector env, no allocation per step, and the built-in
 * driver lapping every reference and shipped track in both directions.
 */
#include <dirent.h>
#include <math.h>
#include <string.h>

#include "td_test.h"
#include "trackday/sim.h"

/* ---- fixtures ----------------------------------------------------------------------------- */

/*
 * A 10 m x 10 m counter-clockwise square loop, centre vertices every metre, 1 m wide on the
 * sides (mitred corners, so sqrt(2) wide at the corner vertices). Row 0 is (5, 0), driving
 * +x, so arc length a puts the centre point at (5 + a, 0) for a <= 5, (10, a - 5) up to 15,
 * (25 - a, 10) up to 25, (0, 35 - a) up to 35 and (a - 35, 0) to 40.
 */
static void square_point(double a, double *x, double *y)
{
    a = fmod(a, 40.0);
    if (a < 0)
        a += 40.0;
    if (a <= 5) {
        *x = 5 + a;
        *y = 0;
    } else if (a <= 15) {
        *x = 10;
        *y = a - 5;
    } else if (a <= 25) {
        *x = 25 - a;
        *y = 10;
    } else if (a <= 35) {
        *x = 0;
        *y = 35 - a;
    } else {
        *x = a - 35;
        *y = 0;
    }
}

static void make_square(td_track *t)
{
    double rows[41 * 6];
    for (int i = 0; i <= 40; i++) {
        double x, y, px, py, nx, ny;
        square_point(i, &x, &y);
        square_point(i - 1, &px, &py);
        square_point(i + 1, &nx, &ny);
        /* Left normals of the incoming and outgoing segments; mitre of half width 0.5. */
        double l1x = -(y - py), l1y = x - px, l2x = -(ny - y), l2y = nx - x;
        double mx = l1x + l2x, my = l1y + l2y;
        double dot = l1x * l2x + l1y * l2y;
        mx *= 0.5 / (1.0 + dot);
        my *= 0.5 / (1.0 + dot);
        double *r = rows + 6 * i;
        r[0] = x;
        r[1] = y;
        r[2] = x + mx; /* inner = left of a CCW loop */
        r[3] = y + my;
        r[4] = x - mx;
        r[5] = y - my;
    }
    td_err err;
    int rc = td_track_from_rows(t, rows, 41, "square", "test square", &err);
    if (rc)
        TD_FAIL("square: %s", err.msg);
}

typedef struct env_fixture {
    td_track track;
    td_vecenv env;
    float *actions, *obs, *rewards;
    uint8_t *dones;
    td_params *params;
} env_fixture;

static void fx_open(env_fixture *f, const td_sim_config *cfg, const td_track *track, int n)
{
    td_err err;
    int rc = td_vecenv_init(&f->env, cfg, track, n, &err);
    if (rc)
        TD_FAIL("vecenv_init: %s", err.msg);
    f->actions = td_calloc((size_t)n * 2, sizeof(float));
    f->obs = td_calloc((size_t)n * TD_STATE_DIM, sizeof(float));
    f->rewards = td_calloc((size_t)n, sizeof(float));
    f->dones = td_calloc((size_t)n, 1);
    f->params = td_calloc((size_t)n, sizeof(td_params));
    f->env.actions = f->actions;
    f->env.obs_state = f->obs;
    f->env.rewards = f->rewards;
    f->env.dones = f->dones;
    f->env.params = f->params;
    td_vecenv_reset(&f->env);
}

static void fx_square(env_fixture *f, const td_sim_config *cfg, int n)
{
    make_square(&f->track);
    fx_open(f, cfg, &f->track, n);
}

static void fx_close(env_fixture *f)
{
    td_vecenv_free(&f->env);
    td_free(f->actions);
    td_free(f->obs);
    td_free(f->rewards);
    td_free(f->dones);
    td_free(f->params);
    if (f->track.center)
        td_track_free(&f->track);
}

static void eval_config(td_sim_config *cfg)
{
    td_sim_config_default(cfg);
    cfg->mode = TD_MODE_EVAL;
}

/* Teleports car 0 so that its MODEL point is at square arc a plus lateral offset (+ left),
 * facing along the track (or against it). */
static void put(env_fixture *f, double a, double lat, int backwards)
{
    double x, y, x2, y2;
    square_point(a, &x, &y);
    square_point(a + 0.01, &x2, &y2);
    double tx = (x2 - x) / 0.01, ty = (y2 - y) / 0.01;
    double yaw = atan2(ty, tx) + (backwards ? M_PI : 0.0);
    double mx = x - lat * ty, my = y + lat * tx;
    td_vecenv_teleport(&f->env, 0, mx - 0.14 * cos(yaw), my - 0.14 * sin(yaw), yaw, 0.0);
}

static void step_n(env_fixture *f, int n, double steer, double speed)
{
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < f->env.n; i++) {
            f->actions[2 * i] = (float)steer;
            f->actions[2 * i + 1] = (float)speed;
        }
        td_vecenv_step(&f->env);
    }
}

/* ---- car ---------------------------------------------------------------------------------- */

static double td__test_wrap(double a)
{
    while (a > M_PI)
        a -= 2 * M_PI;
    while (a <= -M_PI)
        a += 2 * M_PI;
    return a;
}

TD_TEST(car_speed_follows_first_order_lag)
{
    td_car_config cfg;
    td_car_config_default(&cfg);
    td_car_state s;
    td_car_place(&s, 0, 0, 0);
    td_car_step(&cfg, &s, 0.0, 1.0, 1.0 / 15.0);
    TD_ASSERT_NEAR(s.speed, 1.0 - exp(-(1.0 / 15.0) / 0.1), 1e-12);
    /* Straight: distance is the integral of the sub-stepped speed, less than 1/15 m. */
    TD_ASSERT(s.x > 0.0 && s.x < 1.0 / 15.0);
    TD_ASSERT_NEAR(s.y, 0.0, 1e-12);
    /* Commands are clipped: 9 m/s gives at most 4 m/s. */
    for (int i = 0; i < 60; i++)
        td_car_step(&cfg, &s, 0.0, 9.0, 1.0 / 15.0);
    TD_ASSERT_NEAR(s.speed, 4.0, 1e-6);
}

TD_TEST(car_turns_on_the_kinematic_bicycle_circle)
{
    td_car_config cfg;
    td_car_config_default(&cfg);
    td_car_state s;
    td_car_place(&s, 0, 0, 0);
    for (int i = 0; i < 150; i++)
        td_car_step(&cfg, &s, 45.0, 1.0, 1.0 / 15.0); /* 45 is clipped to 30 */
    TD_ASSERT_NEAR(s.steer, M_PI / 6.0, 1e-9);
    double yaw0 = s.yaw;
    for (int i = 0; i < 15; i++)
        td_car_step(&cfg, &s, 30.0, 1.0, 1.0 / 15.0);
    double tb = tan(M_PI / 6.0) / 2.0, cb = 1.0 / sqrt(1 + tb * tb);
    double omega = cb * tan(M_PI / 6.0) / 0.164;
    double dyaw = s.yaw - yaw0;
    while (dyaw < 0)
        dyaw += 2 * M_PI;
    TD_ASSERT_NEAR(dyaw, fmod(omega, 2 * M_PI), 1e-6);
    TD_ASSERT_NEAR(cos(s.yaw), s.cos_yaw, 1e-9);
    TD_ASSERT_NEAR(sin(s.yaw), s.sin_yaw, 1e-9);
    /* The origin stays on a circle of radius v / omega around a fixed centre. */
    double r = 1.0 / omega;
    double cx = s.x + r * cos(s.yaw + atan(tb) + M_PI / 2);
    double cy = s.y + r * sin(s.yaw + atan(tb) + M_PI / 2);
    for (int i = 0; i < 7; i++)
        td_car_step(&cfg, &s, 30.0, 1.0, 1.0 / 15.0);
    TD_ASSERT_NEAR(hypot(s.x - cx, s.y - cy), r, 1e-5);
}

TD_TEST(car_grip_limit_widens_fast_turns)
{
    td_car_config cfg;
    td_car_config_default(&cfg);
    cfg.grip_mps2 = 2.0;
    td_car_state s;
    td_car_place(&s, 0, 0, 0);
    for (int i = 0; i < 150; i++)
        td_car_step(&cfg, &s, 30.0, 2.0, 1.0 / 15.0);
    double yaw0 = s.yaw;
    for (int i = 0; i < 15; i++)
        td_car_step(&cfg, &s, 30.0, 2.0, 1.0 / 15.0);
    /* 2 m/s^2 at 2 m/s allows a 2 m radius: 1 rad/s instead of the 12 rad/s of full lock. */
    double dyaw = td__test_wrap(s.yaw - yaw0);
    TD_ASSERT_NEAR(dyaw, 1.0, 1e-6);
    /* Slow enough, the same grip does not limit the turn. */
    td_car_config free_cfg;
    td_car_config_default(&free_cfg);
    td_car_state a, b;
    td_car_place(&a, 0, 0, 0);
    td_car_place(&b, 0, 0, 0);
    for (int i = 0; i < 30; i++) {
        td_car_step(&cfg, &a, 10.0, 0.3, 1.0 / 15.0);
        td_car_step(&free_cfg, &b, 10.0, 0.3, 1.0 / 15.0);
    }
    TD_ASSERT_NEAR(a.x, b.x, 1e-9);
    TD_ASSERT_NEAR(a.yaw, b.yaw, 1e-9);
}

TD_TEST(car_model_point_and_wheels)
{
    td_car_config cfg;
    td_car_config_default(&cfg);
    td_car_state s;
    td_car_place(&s, 1.0, 2.0, M_PI / 2);
    double x, y, w[4][2];
    td_car_model_point(&cfg, &s, &x, &y);
    TD_ASSERT_NEAR(x, 1.0, 1e-12);
    TD_ASSERT_NEAR(y, 2.14, 1e-12);
    td_car_wheels(&cfg, &s, w);
    TD_ASSERT_NEAR(w[0][0], 1.0 - 0.08, 1e-12); /* front left: ahead (+y) and left (-x) */
    TD_ASSERT_NEAR(w[0][1], 2.082, 1e-12);
    TD_ASSERT_NEAR(w[3][0], 1.08, 1e-12); /* rear right */
    TD_ASSERT_NEAR(w[3][1], 2.0 - 0.082, 1e-12);
}

TD_TEST(box_overlap_separating_axes)
{
    td_box a = {0, 0, 0, 0.3235, 0.1961, 0.15, TD_BOX_CAR};
    td_box b = {0.4, 0, 0, 0.5, 0.4, 0.3, TD_BOX_OBSTACLE};
    TD_ASSERT_EQ_INT(td_box_overlap(&a, &b), 1); /* 0.16 + 0.25 > 0.4 */
    b.x = 0.42;
    TD_ASSERT_EQ_INT(td_box_overlap(&a, &b), 0);
    /* Rotated 45 degrees: the corner reaches 0.25 * sqrt(2) * cos(45 - atan(0.4/0.5))... use a
     * square for a clean case: a 0.2 square at 45 deg reaches 0.1414 along x. */
    td_box sq = {0, 0, M_PI / 4, 0.2, 0.2, 0.1, TD_BOX_OBSTACLE};
    td_box c = {0.1414 + 0.1 - 0.002, 0.0, 0, 0.2, 0.2, 0.1, TD_BOX_OBSTACLE};
    TD_ASSERT_EQ_INT(td_box_overlap(&sq, &c), 1);
    c.x = 0.1415 + 0.1 + 0.002;
    TD_ASSERT_EQ_INT(td_box_overlap(&sq, &c), 0);
    /* Beside each other diagonally, bounding circles overlap but the boxes do not. */
    td_box d = {0.2, 0.2, 0, 0.2, 0.2, 0.1, TD_BOX_OBSTACLE};
    td_box e = {0.0, 0.0, 0, 0.2, 0.2, 0.1, TD_BOX_OBSTACLE};
    d.x = d.y = 0.205;
    TD_ASSERT_EQ_INT(td_box_overlap(&d, &e), 0);
}

/* ---- params --------------------------------------------------------------------------------- */

TD_TEST(params_basic_keys_on_the_square)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    td_params *p = &f.params[0];
    /* At the start: origin on row 0 facing vertex 1, model point 0.14 ahead. */
    TD_ASSERT_NEAR(p->x, 5.14, 1e-9);
    TD_ASSERT_NEAR(p->y, 0.0, 1e-9);
    TD_ASSERT_NEAR(p->heading, 0.0, 1e-9);
    /* Progress counts from the start point (the origin), so the model point is 0.35 % on. */
    TD_ASSERT_NEAR(p->progress, 100.0 * 0.14 / 40.0, 1e-9);
    TD_ASSERT_EQ_INT(p->steps, 0);
    TD_ASSERT_NEAR(p->track_length, 40.0, 1e-9);
    TD_ASSERT_EQ_INT(p->n_waypoints, 41);
    TD_ASSERT_NEAR(p->waypoints[2 * 3], 8.0, 1e-12);
    TD_ASSERT_EQ_INT(p->is_reversed, 0);
    TD_ASSERT_EQ_INT(p->n_objects, 0);

    /* Origin (6, 0.2) facing +x: model point (6.14, 0.2), left of centre. */
    td_vecenv_teleport(&f.env, 0, 6.0, 0.2, 0.0, 0.0);
    TD_ASSERT_NEAR(p->x, 6.14, 1e-9);
    TD_ASSERT_NEAR(p->y, 0.2, 1e-9);
    TD_ASSERT_NEAR(p->distance_from_center, 0.2, 1e-9);
    TD_ASSERT_EQ_INT(p->is_left_of_center, 1);
    TD_ASSERT_NEAR(p->track_width, 1.0, 1e-9);
    TD_ASSERT_EQ_INT(p->closest_waypoints[0], 1);
    TD_ASSERT_EQ_INT(p->closest_waypoints[1], 2);
    TD_ASSERT_NEAR(p->projection_distance, 1.14, 1e-9);
    TD_ASSERT_NEAR(p->progress, 100.0 * 1.14 / 40.0, 1e-9);
    TD_ASSERT_EQ_INT(p->all_wheels_on_track, 1);
    TD_ASSERT_EQ_INT(p->is_offtrack, 0);

    /* Right of centre. */
    td_vecenv_teleport(&f.env, 0, 6.0, -0.3, 0.0, 0.0);
    TD_ASSERT_EQ_INT(p->is_left_of_center, 0);
    TD_ASSERT_NEAR(p->distance_from_center, 0.3, 1e-9);

    /* Heading in (-180, 180]: facing -x is +180, facing -y is -90. */
    td_vecenv_teleport(&f.env, 0, 6.0, 0.0, M_PI, 0.0);
    TD_ASSERT_NEAR(p->heading, 180.0, 1e-9);
    td_vecenv_teleport(&f.env, 0, 6.0, 0.0, -M_PI, 0.0);
    TD_ASSERT_NEAR(p->heading, 180.0, 1e-9);
    td_vecenv_teleport(&f.env, 0, 6.0, 0.0, -M_PI / 2, 0.0);
    TD_ASSERT_NEAR(p->heading, -90.0, 1e-9);

    /* Up the right side: model point (10, 1.5), arc 6.5, between vertices 6 and 7. */
    td_vecenv_teleport(&f.env, 0, 10.0, 1.36, M_PI / 2, 0.0);
    TD_ASSERT_EQ_INT(p->closest_waypoints[0], 6);
    TD_ASSERT_EQ_INT(p->closest_waypoints[1], 7);
    TD_ASSERT_NEAR(p->distance_from_center, 0.0, 1e-9);
    TD_ASSERT_NEAR(p->heading, 90.0, 1e-9);

    /* Exactly on the corner vertex 5 (10, 0): DeepRacer's width is the distance between the
     * border points nearest to it: the inner corner (9.5, 0.5) and the foot (10, -0.5) on the
     * outer border's bottom side, sqrt(0.5^2 + 1^2). */
    td_vecenv_teleport(&f.env, 0, 9.86, 0.0, 0.0, 0.0);
    TD_ASSERT_EQ_INT(p->closest_waypoints[0], 5);
    TD_ASSERT_EQ_INT(p->closest_waypoints[1], 6);
    TD_ASSERT_NEAR(p->track_width, sqrt(1.25), 1e-9);

    /* Commanded (unclipped) speed and steering; measured values are clipped. */
    f.actions[0] = 45.0f;
    f.actions[1] = 7.5f;
    td_vecenv_reset(&f.env);
    td_vecenv_step(&f.env);
    TD_ASSERT_NEAR(p->steering_angle, 45.0, 1e-6);
    TD_ASSERT_NEAR(p->speed, 7.5, 1e-6);
    TD_ASSERT_EQ_INT(p->steps, 1);
    TD_ASSERT_NEAR(p->sim_time, 1.0 / 15.0, 1e-12);
    TD_ASSERT_LT(td_vecenv_car(&f.env, 0)->speed, 4.0);
    fx_close(&f);
}

TD_TEST(params_wheels_on_track_and_offtrack)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    td_params *p = &f.params[0];
    /* Wheels at y = 0.3 +- 0.08: all on. */
    td_vecenv_teleport(&f.env, 0, 6.0, 0.3, 0.0, 0.0);
    TD_ASSERT_EQ_INT(p->all_wheels_on_track, 1);
    TD_ASSERT_EQ_INT(p->is_offtrack, 0);
    /* At y = 0.5: left wheels at 0.58 off, right wheels at 0.42 on. */
    td_vecenv_teleport(&f.env, 0, 6.0, 0.5, 0.0, 0.0);
    TD_ASSERT_EQ_INT(p->all_wheels_on_track, 0);
    TD_ASSERT_EQ_INT(p->is_offtrack, 0);
    /* At y = -0.7: every wheel beyond -0.5. */
    td_vecenv_teleport(&f.env, 0, 6.0, -0.7, 0.0, 0.0);
    TD_ASSERT_EQ_INT(p->all_wheels_on_track, 0);
    TD_ASSERT_EQ_INT(p->is_offtrack, 1);
    /* Inside the corner (the mitre reaches (9.5, 0.5)): the front wheels past it are off. */
    td_vecenv_teleport(&f.env, 0, 9.4, 0.4, M_PI / 4, 0.0);
    TD_ASSERT_EQ_INT(p->all_wheels_on_track, 0);
    TD_ASSERT_EQ_INT(p->is_offtrack, 0);
    fx_close(&f);
}

TD_TEST(params_progress_across_the_start_line)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    td_params *p = &f.params[0];
    double s0 = 0.0; /* the start point */
    /* Backwards across the line: from arc 1.0 to arc 39.5 gives a negative progress. */
    put(&f, 1.0, 0.0, 0);
    TD_ASSERT_NEAR(p->progress, 100.0 * (1.0 - s0) / 40.0, 1e-9);
    put(&f, 39.5, 0.0, 1);
    TD_ASSERT_NEAR(p->progress, 100.0 * (39.5 - s0) / 40.0 - 100.0, 1e-9);
    /* Around the lap forwards in small moves, then across the line: capped at 100. */
    td_vecenv_reset(&f.env);
    for (double a = 5; a < 40; a += 5)
        put(&f, a, 0.0, 0);
    put(&f, 39.9, 0.0, 0);
    TD_ASSERT_NEAR(p->progress, 100.0 * (39.9 - s0) / 40.0, 1e-9);
    put(&f, 0.6, 0.0, 0);
    TD_ASSERT_NEAR(p->progress, 100.0, 1e-12);
    /* The model point exactly on the start point: p <= 0 gets +100, then -100 against a
     * small previous progress. */
    td_vecenv_reset(&f.env);
    put(&f, 0.5, 0.0, 0);
    put(&f, 0.0, 0.0, 0);
    TD_ASSERT_NEAR(p->progress, 0.0, 1e-9);
    fx_close(&f);
}

TD_TEST(params_objects_one_obstacle)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    cfg.race.n_object_positions = 1;
    cfg.race.object_positions[0][0] = 0.25; /* arc 10: (10, 5), on the right side */
    cfg.race.object_positions[0][1] = 1;    /* inner lane: toward -x */
    fx_square(&f, &cfg, 1);
    td_params *p = &f.params[0];
    TD_ASSERT_EQ_INT(p->n_objects, 1);
    TD_ASSERT_NEAR(p->objects_location[0][0], 9.75, 1e-9);
    TD_ASSERT_NEAR(p->objects_location[0][1], 5.0, 1e-9);
    TD_ASSERT_NEAR(p->objects_distance[0], 10.0, 1e-9);
    TD_ASSERT_NEAR(p->objects_distance_from_center[0], 0.25, 1e-9);
    TD_ASSERT_EQ_INT(p->objects_left_of_center[0], 1);
    TD_ASSERT_NEAR(p->objects_speed[0], 0.0, 0);
    TD_ASSERT_NEAR(p->objects_heading[0], 0.0, 0);
    TD_ASSERT_EQ_INT(p->closest_objects[0], 0);
    TD_ASSERT_EQ_INT(p->closest_objects[1], 0);
    /* From the start the box is 46 degrees to the left: outside the 64.7 degree view. */
    TD_ASSERT_EQ_INT(p->object_in_camera, 0);
    /* Driving up the right side 3 m before it: in view. */
    td_vecenv_teleport(&f.env, 0, 10.0, 2.0, M_PI / 2, 0.0);
    TD_ASSERT_EQ_INT(p->object_in_camera, 1);
    /* Past it: the next object is behind, not in view. */
    td_vecenv_teleport(&f.env, 0, 10.0, 6.0, M_PI / 2, 0.0);
    TD_ASSERT_EQ_INT(p->object_in_camera, 0);
    /* Far (> 5 m) ahead: not in view. */
    td_vecenv_teleport(&f.env, 0, 10.0, -0.5, M_PI / 2, 0.0);
    TD_ASSERT_EQ_INT(p->object_in_camera, 0);
    fx_close(&f);
}

TD_TEST(params_objects_three_obstacles_bracketing)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    cfg.race.n_object_positions = 3;
    double pos[3][2] = {{0.25, 1}, {0.5, -1}, {0.75, 1}};
    memcpy(cfg.race.object_positions, pos, sizeof(pos));
    fx_square(&f, &cfg, 1);
    td_params *p = &f.params[0];
    TD_ASSERT_EQ_INT(p->n_objects, 3);
    /* Object 1 at arc 20: (5, 10) driving -x, outer lane = +y side = right of centre. */
    TD_ASSERT_NEAR(p->objects_location[1][0], 5.0, 1e-9);
    TD_ASSERT_NEAR(p->objects_location[1][1], 10.25, 1e-9);
    TD_ASSERT_EQ_INT(p->objects_left_of_center[1], 0);
    TD_ASSERT_NEAR(p->objects_distance[2], 30.0, 1e-9);
    /* Car at arc ~15: between objects 0 and 1. */
    put(&f, 15.0, 0.0, 0);
    TD_ASSERT_EQ_INT(p->closest_objects[0], 0);
    TD_ASSERT_EQ_INT(p->closest_objects[1], 1);
    put(&f, 25.0, 0.0, 0);
    TD_ASSERT_EQ_INT(p->closest_objects[0], 1);
    TD_ASSERT_EQ_INT(p->closest_objects[1], 2);
    /* After the last and before the first: wrap-around. */
    put(&f, 35.0, 0.0, 0);
    TD_ASSERT_EQ_INT(p->closest_objects[0], 2);
    TD_ASSERT_EQ_INT(p->closest_objects[1], 0);
    put(&f, 5.0, 0.0, 0);
    TD_ASSERT_EQ_INT(p->closest_objects[0], 2);
    TD_ASSERT_EQ_INT(p->closest_objects[1], 0);
    fx_close(&f);
}

TD_TEST(params_bots_heading_in_radians_and_speed)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.race.race_type = TD_RACE_HEAD_TO_BOT;
    cfg.race.number_of_bot_cars = 2;
    cfg.race.bot_car_speed = 0.3;
    fx_square(&f, &cfg, 1);
    td_params *p = &f.params[0];
    TD_ASSERT_EQ_INT(p->n_objects, 2);
    /* Bots at arc 40/3 (right side, driving +y) and 80/3 (left side, driving -y). */
    TD_ASSERT_NEAR(p->objects_heading[0], M_PI / 2, 1e-9);
    TD_ASSERT_NEAR(p->objects_heading[1], -M_PI / 2, 1e-9);
    TD_ASSERT_NEAR(p->objects_speed[0], 0.3, 1e-12);
    TD_ASSERT_NEAR(p->objects_distance[0], 40.0 / 3.0, 1e-9);
    /* Bot 0 on the outer lane (+x side of the right edge). */
    TD_ASSERT_NEAR(p->objects_location[0][0], 10.25, 1e-9);
    step_n(&f, 15, 0.0, 0.1);
    TD_ASSERT_NEAR(p->objects_distance[0], 40.0 / 3.0 + 0.3, 1e-9);
    TD_ASSERT_NEAR(p->objects_heading[0], M_PI / 2, 1e-9);
    TD_ASSERT_NEAR(p->objects_location[0][1], 40.0 / 3.0 - 5.0 + 0.3, 1e-9);
    fx_close(&f);
}

TD_TEST(bots_change_lanes)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.race.race_type = TD_RACE_HEAD_TO_BOT;
    cfg.race.number_of_bot_cars = 1;
    cfg.race.bot_car_speed = 0.5;
    cfg.race.is_lane_change = 1;
    cfg.race.lower_lane_change_time = 1.0;
    cfg.race.upper_lane_change_time = 2.0;
    cfg.race.lane_change_distance = 0.5;
    cfg.max_steps = 1000000;
    fx_square(&f, &cfg, 1);
    td_params *p = &f.params[0];
    int left0 = p->objects_left_of_center[0], changes = 0;
    for (int k = 0; k < 15 * 12; k++) {
        /* Keep the car parked at the start so it never meets the bot. */
        put(&f, 0.2, 0.0, 0);
        step_n(&f, 1, 0.0, 0.0);
        if (p->objects_left_of_center[0] != left0) {
            changes++;
            left0 = p->objects_left_of_center[0];
        }
        TD_ASSERT_LE(p->objects_distance_from_center[0], 0.26);
    }
    /* In 12 s with changes every 1-2 s plus 1 s per change: between 4 and 6. */
    TD_ASSERT(changes >= 4 && changes <= 7);
    fx_close(&f);
}

/* ---- episode rules -------------------------------------------------------------------------- */

TD_TEST(episode_lap_complete)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    for (double a = 5; a < 40; a += 5)
        put(&f, a, 0.0, 0);
    put(&f, 39.8, 0.0, 0);
    step_n(&f, 1, 0.0, 4.0);
    TD_ASSERT_EQ_INT(f.dones[0], 0);
    int k = 0;
    while (!f.dones[0] && k++ < 30)
        step_n(&f, 1, 0.0, 4.0);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    const td_episode_info *e = td_vecenv_last_episode(&f.env, 0);
    TD_ASSERT_EQ_INT(e->status, TD_EP_LAP_COMPLETE);
    TD_ASSERT_NEAR(e->progress, 100.0, 1e-12);
    TD_ASSERT_EQ_INT(e->laps, 1);
    TD_ASSERT_NEAR(e->lap_time_s, e->steps / 15.0, 1e-9);
    TD_ASSERT_STREQ(td_episode_status_name(e->status), "lap_complete");
    /* The new episode restarted at the start line. */
    TD_ASSERT_NEAR(f.params[0].x, 5.14, 1e-9);
    TD_ASSERT_EQ_INT(f.params[0].steps, 0);
    fx_close(&f);
}

TD_TEST(episode_offtrack_needs_all_wheels_off)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    /* Half the wheels off along the bottom edge: 20 steps, never done. */
    td_vecenv_teleport(&f.env, 0, 5.5, 0.5, 0.0, 0.0);
    for (int k = 0; k < 20; k++) {
        step_n(&f, 1, 0.0, 0.5);
        TD_ASSERT_EQ_INT(f.dones[0], 0);
        TD_ASSERT_EQ_INT(f.params[0].all_wheels_on_track, 0);
    }
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_IN_PROGRESS);
    td_vecenv_teleport(&f.env, 0, 5.5, -0.7, 0.0, 0.0);
    step_n(&f, 1, 0.0, 0.5);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_OFF_TRACK);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->status, TD_EP_OFF_TRACK);
    /* The last step's params are kept; env->params shows the new start. */
    TD_ASSERT_EQ_INT(td_vecenv_last_params(&f.env, 0)->is_offtrack, 1);
    TD_ASSERT_LT(td_vecenv_last_params(&f.env, 0)->y, -0.6);
    TD_ASSERT_NEAR(f.params[0].y, 0.0, 1e-9);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->off_tracks, 1);
    fx_close(&f);
}

TD_TEST(episode_reversed_after_15_steps)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    put(&f, 3.0, 0.0, 0);
    put(&f, 3.0, 0.0, 1);
    for (int k = 1; k <= 14; k++) {
        step_n(&f, 1, 0.0, 1.0);
        TD_ASSERT_EQ_INT(f.dones[0], 0);
    }
    step_n(&f, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->status, TD_EP_REVERSED);
    fx_close(&f);
}

TD_TEST(episode_immobilized_after_15_steps)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.car.speed_min = 0.0; /* the only way to stand still */
    fx_square(&f, &cfg, 1);
    for (int k = 1; k <= 14; k++) {
        step_n(&f, 1, 0.0, 0.0);
        TD_ASSERT_EQ_INT(f.dones[0], 0);
    }
    step_n(&f, 1, 0.0, 0.0);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->status, TD_EP_IMMOBILIZED);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->steps, 15);
    /* Crawling at 0.1 m/s (0.0067 m per step) is not immobile. */
    step_n(&f, 40, 0.0, 0.1);
    TD_ASSERT_EQ_INT(td_vecenv_current_episode(&f.env, 0)->steps, 40);
    fx_close(&f);
}

TD_TEST(episode_time_up_at_max_steps)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.max_steps = 5;
    fx_square(&f, &cfg, 1);
    step_n(&f, 4, 0.0, 1.0);
    TD_ASSERT_EQ_INT(f.dones[0], 0);
    step_n(&f, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->status, TD_EP_TIME_UP);
    fx_close(&f);
}

TD_TEST(episode_precedence_crash_over_offtrack_and_lap_over_crash)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    cfg.race.n_object_positions = 1;
    cfg.race.object_positions[0][0] = 0.1; /* arc 4: (9, 0) */
    cfg.race.object_positions[0][1] = -1;  /* outer lane: y = -0.25 */
    cfg.race.obstacle_width_m = 0.8;       /* reaches y = -0.65 */
    fx_square(&f, &cfg, 1);
    /* All wheels off (y = -0.62 +- 0.08) and the footprint on the box: crashed wins. */
    td_vecenv_teleport(&f.env, 0, 8.9, -0.62, 0.0, 0.0);
    TD_ASSERT_EQ_INT(f.params[0].is_offtrack, 1);
    TD_ASSERT_EQ_INT(f.params[0].is_crashed, 1);
    step_n(&f, 1, 0.0, 0.1);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->status, TD_EP_CRASHED);
    fx_close(&f);

    /* A box just past the finish line (arc 0.3: x 5.05 .. 5.55, y 0.05 .. 0.45), the car
     * touching it with its model point 0.05 m before the line: the step that completes
     * the lap also crashes, and the lap wins. */
    env_fixture g = {0};
    cfg.race.object_positions[0][0] = 0.3 / 40.0;
    cfg.race.object_positions[0][1] = 1;
    cfg.race.obstacle_width_m = 0.4;
    fx_square(&g, &cfg, 1);
    for (double a = 5; a < 40; a += 5)
        put(&g, a, 0.0, 0);
    put(&g, 0.09, 0.1, 0);
    TD_ASSERT_EQ_INT(g.params[0].is_crashed, 1);
    TD_ASSERT_GT(g.params[0].progress, 99.0);
    step_n(&g, 1, 0.0, 4.0);
    TD_ASSERT_EQ_INT(g.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&g.env, 0)->status, TD_EP_LAP_COMPLETE);
    fx_close(&g);
}

/* ---- starts ---------------------------------------------------------------------------------- */

TD_TEST(round_robin_start_advances_five_percent)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    fx_square(&f, &cfg, 1);
    TD_ASSERT_NEAR(td_vecenv_current_episode(&f.env, 0)->start_ndist, 0.0, 1e-12);
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->x, 5.0, 1e-9);
    for (int ep = 1; ep <= 2; ep++) {
        td_vecenv_teleport(&f.env, 0, td_vecenv_car(&f.env, 0)->x, -0.9, 0, 0);
        step_n(&f, 1, 0.0, 0.5);
        TD_ASSERT_EQ_INT(f.dones[0], 1);
        TD_ASSERT_NEAR(td_vecenv_current_episode(&f.env, 0)->start_ndist, 0.05 * ep, 1e-12);
        /* 5 % of 40 m = 2 m further along the bottom edge, facing +x, at rest. */
        TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->x, 5.0 + 2.0 * ep, 1e-9);
        TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->y, 0.0, 1e-9);
        TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->yaw, 0.0, 1e-9);
        TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->speed, 0.0, 0);
        TD_ASSERT_NEAR(f.params[0].progress, 100.0 * 0.14 / 40.0, 1e-9);
    }
    fx_close(&f);

    /* Several cars spread their starts over the lap. */
    env_fixture g = {0};
    fx_square(&g, &cfg, 4);
    TD_ASSERT_NEAR(td_vecenv_current_episode(&g.env, 2)->start_ndist, 0.5, 1e-12);
    fx_close(&g);
}

TD_TEST(alternate_direction_and_reverse_dir)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.race.alternate_driving_direction = 1;
    fx_square(&f, &cfg, 1);
    const double *fwd = f.params[0].waypoints;
    TD_ASSERT_EQ_INT(f.params[0].is_reversed, 0);
    for (int ep = 1; ep <= 2; ep++) {
        const td_car_state *s = td_vecenv_car(&f.env, 0);
        td_vecenv_teleport(&f.env, 0, s->x - 1.0 * s->sin_yaw, s->y + 1.0 * s->cos_yaw, s->yaw, 0);
        step_n(&f, 1, 0.0, 0.5);
        TD_ASSERT_EQ_INT(f.dones[0], 1);
        TD_ASSERT_EQ_INT(f.params[0].is_reversed, ep & 1);
        TD_ASSERT_EQ_INT(td_vecenv_current_episode(&f.env, 0)->reversed_dir, ep & 1);
    }
    fx_close(&f);
    (void)fwd;

    env_fixture g = {0};
    cfg.race.alternate_driving_direction = 0;
    cfg.race.reverse_dir = 1;
    cfg.mode = TD_MODE_EVAL;
    fx_square(&g, &cfg, 1);
    td_params *p = &g.params[0];
    TD_ASSERT_EQ_INT(p->is_reversed, 1);
    /* The reversed waypoints: row 0 is still (5, 0), row 1 is (4, 0); the car faces -x. */
    TD_ASSERT_NEAR(p->waypoints[0], 5.0, 1e-12);
    TD_ASSERT_NEAR(p->waypoints[2], 4.0, 1e-12);
    TD_ASSERT_NEAR(p->heading, 180.0, 1e-9);
    TD_ASSERT_NEAR(p->x, 4.86, 1e-9);
    /* Driving straight on, progress grows; the inner border is now on the right. */
    step_n(&g, 10, 0.0, 1.0);
    TD_ASSERT_GT(p->progress, 0.5);
    td_vecenv_teleport(&g.env, 0, 3.0, 0.3, M_PI, 0.0);
    TD_ASSERT_EQ_INT(p->is_left_of_center, 0);
    fx_close(&g);
}

TD_TEST(evaluation_starts_at_the_start_line)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 3);
    for (int ep = 0; ep < 2; ep++) {
        for (int i = 0; i < 3; i++) {
            TD_ASSERT_NEAR(td_vecenv_car(&f.env, i)->x, 5.0, 1e-9);
            TD_ASSERT_NEAR(td_vecenv_car(&f.env, i)->y, 0.0, 1e-9);
            td_vecenv_teleport(&f.env, i, 5.0, -0.9, 0.0, 0.0);
        }
        step_n(&f, 1, 0.0, 1.0);
        for (int i = 0; i < 3; i++)
            TD_ASSERT_EQ_INT(f.dones[i], 1);
    }
    fx_close(&f);
}

/* ---- continuous evaluation ---------------------------------------------------------------- */

TD_TEST(continuous_offtrack_penalty_and_reset_on_nearer_lane)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.off_track_penalty_s = 3.0;
    fx_square(&f, &cfg, 1);
    step_n(&f, 15, 0.0, 1.0);
    double before = f.params[0].progress;
    double clock = f.params[0].sim_time;
    /* Leave the road to the right. */
    const td_car_state *s = td_vecenv_car(&f.env, 0);
    td_vecenv_teleport(&f.env, 0, s->x, -0.8, 0.0, 1.0);
    step_n(&f, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(f.dones[0], 0);
    const td_episode_info *e = td_vecenv_current_episode(&f.env, 0);
    TD_ASSERT_EQ_INT(e->off_tracks, 1);
    TD_ASSERT_EQ_INT(e->resets, 1);
    TD_ASSERT_NEAR(e->penalty_s, 3.0, 1e-12);
    TD_ASSERT_NEAR(f.params[0].sim_time, clock + 1.0 / 15.0 + 3.0, 1e-9);
    /* Back on the outer (right, y = -0.25) lane at the previous progress, at rest. */
    s = td_vecenv_car(&f.env, 0);
    TD_ASSERT_NEAR(s->y, -0.25, 1e-9);
    TD_ASSERT_NEAR(s->x, 5.0 + before / 100.0 * 40.0, 1e-9);
    TD_ASSERT_NEAR(s->speed, 0.0, 0);
    TD_ASSERT(f.params[0].all_wheels_on_track);
    /* The step as the reward saw it is kept: off the road, before the reset. */
    const td_params *seen = td_vecenv_step_params(&f.env, 0);
    TD_ASSERT_EQ_INT(seen->is_offtrack, 1);
    TD_ASSERT_LT(seen->y, -0.6);
    TD_ASSERT_NE(seen, &f.params[0]);
    /* A step without an event: the env's own params. */
    step_n(&f, 1, 0.0, 1.0);
    TD_ASSERT_EQ(td_vecenv_step_params(&f.env, 0), &f.params[0]);
    fx_close(&f);
}

TD_TEST(continuous_crash_penalty_resets_behind_on_the_other_lane)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    cfg.race.n_object_positions = 1;
    cfg.race.object_positions[0][0] = 0.1; /* arc 4: box at (9, 0.25) */
    cfg.race.object_positions[0][1] = 1;
    fx_square(&f, &cfg, 1);
    double clock = f.params[0].sim_time;
    int k = 0;
    while (td_vecenv_current_episode(&f.env, 0)->crashes == 0 && k++ < 200)
        step_n(&f, 1, 0.0, 1.0);
    const td_episode_info *e = td_vecenv_current_episode(&f.env, 0);
    TD_ASSERT_EQ_INT(e->crashes, 1);
    TD_ASSERT_EQ_INT(f.dones[0], 0);
    TD_ASSERT_NEAR(e->penalty_s, 5.0, 1e-12);
    TD_ASSERT_NEAR(f.params[0].sim_time, clock + k / 15.0 + 5.0, 1e-9);
    const td_car_state *s = td_vecenv_car(&f.env, 0);
    TD_ASSERT_NEAR(s->x, 8.0, 1e-9);   /* 1 m behind arc 4 */
    TD_ASSERT_NEAR(s->y, -0.25, 1e-9); /* the outer lane */
    fx_close(&f);
}

/* ---- vector env ------------------------------------------------------------------------- */

static uint64_t run_random(uint64_t seed, int threads, int steps, uint64_t *reward_hash)
{
    td_track t;
    make_square(&t);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.seed = seed;
    cfg.threads = threads;
    cfg.race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    cfg.race.randomize_obstacle_locations = 1;
    cfg.race.number_of_obstacles = 3;
    env_fixture f = {0};
    fx_open(&f, &cfg, &t, 16);
    td_rng act;
    td_rng_seed(&act, 99, 0);
    uint64_t h = td_fnv1a64(f.obs, sizeof(float) * 16 * TD_STATE_DIM), hr = 0;
    int dones = 0;
    for (int k = 0; k < steps; k++) {
        for (int i = 0; i < 16; i++) {
            f.actions[2 * i] = (float)td_rng_range(&act, -30, 30);
            f.actions[2 * i + 1] = (float)td_rng_range(&act, 0.5, 3.0);
        }
        td_vecenv_step(&f.env);
        h ^= td_fnv1a64(f.obs, sizeof(float) * 16 * TD_STATE_DIM) + (uint64_t)k;
        hr = hr * 31 + td_fnv1a64(f.rewards, sizeof(float) * 16);
        hr = hr * 31 + td_fnv1a64(f.dones, 16);
        for (int i = 0; i < 16; i++)
            dones += f.dones[i];
    }
    TD_ASSERT_GT(dones, 10); /* random driving ends episodes */
    fx_close(&f);
    td_track_free(&t);
    *reward_hash = hr;
    return h;
}

TD_TEST(vecenv_is_deterministic_per_seed_and_threads)
{
    uint64_t r1, r2, r3, r4;
    uint64_t a = run_random(7, 2, 1000, &r1);
    uint64_t b = run_random(7, 2, 1000, &r2);
    TD_ASSERT_EQ(a, b);
    TD_ASSERT_EQ(r1, r2);
    /* Slicing never changes a car's computation, so other thread counts agree too. */
    uint64_t c = run_random(7, 1, 1000, &r3);
    TD_ASSERT(a == c && r1 == r3);
    c = run_random(7, 3, 1000, &r3);
    TD_ASSERT(a == c && r1 == r3);
    uint64_t d = run_random(8, 2, 1000, &r4);
    TD_ASSERT_NE(a, d);
}

static void reward_count(void *user, const td_params *params, int n, float *out)
{
    int *calls = user;
    (*calls)++;
    for (int i = 0; i < n; i++)
        out[i] = (float)params[i].progress;
}

TD_TEST(vecenv_batched_reward_callback_and_no_allocation_per_step)
{
    td_track t;
    make_square(&t);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.threads = 2;
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.race.race_type = TD_RACE_HEAD_TO_BOT;
    cfg.race.is_lane_change = 1;
    env_fixture f = {0};
    fx_open(&f, &cfg, &t, 8);
    int calls = 0;
    f.env.reward_fn = reward_count;
    f.env.reward_user = &calls;
    long live = td_alloc_live();
    td_rng act;
    td_rng_seed(&act, 3, 0);
    for (int k = 0; k < 1000; k++) {
        for (int i = 0; i < 8; i++) {
            f.actions[2 * i] = (float)td_rng_range(&act, -30, 30);
            f.actions[2 * i + 1] = (float)td_rng_range(&act, 0.1, 4.0);
        }
        td_vecenv_step(&f.env);
    }
    TD_ASSERT_EQ_INT(td_alloc_live(), live);
    TD_ASSERT_EQ_INT(calls, 1000);
    fx_close(&f);
    td_track_free(&t);
}

TD_TEST(state_sensor_features)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    /* Origin (5.3, 0.2) heading 30 degrees left of the track, then one step. */
    td_vecenv_teleport(&f.env, 0, 5.3, 0.2, M_PI / 6, 2.0);
    float o[TD_STATE_DIM];
    step_n(&f, 1, 30.0, 2.0);
    memcpy(o, f.obs, sizeof(o));
    const td_car_state *s = td_vecenv_car(&f.env, 0);
    TD_ASSERT_NEAR(o[0], s->speed / 4.0, 1e-6);
    TD_ASSERT_NEAR(o[1], s->steer / (M_PI / 6), 1e-6);
    TD_ASSERT_NEAR(o[2], sin(s->yaw), 1e-6);
    TD_ASSERT_NEAR(o[3], cos(s->yaw), 1e-6);
    double lat = f.params[0].y;
    TD_ASSERT_NEAR(o[4], lat / 0.5, 1e-5);
    TD_ASSERT_NEAR(o[5], 0.5 - lat, 1e-5);
    TD_ASSERT_NEAR(o[6], 0.5 + lat, 1e-5);
    /* Straight ahead for > 3 m (the corner vertex is at arc 5): no curvature; no objects. */
    TD_ASSERT_NEAR(o[7], 0.0, 1e-6);
    TD_ASSERT_NEAR(o[12], 0.0, 1e-6);
    TD_ASSERT_NEAR(o[13], 0.0, 0);
    TD_ASSERT_NEAR(o[14], 1.0, 0);
    /* From arc 2.5 the 3 m look-ahead reaches past the corner at arc 5: a left turn. */
    put(&f, 2.5, 0.0, 0);
    step_n(&f, 1, 0.0, 0.1);
    TD_ASSERT_GT(f.obs[12], 0.1f);
    TD_ASSERT_NEAR(f.obs[7], 0.0, 1e-6);
    fx_close(&f);
}

/* ---- the built-in driver ---------------------------------------------------------------- */

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Drives 3 laps of continuous evaluation; returns the off-tracks + crashes + resets. */
static void drive_laps(const char *path, int reversed, td_driver_kind kind, int *laps,
                       int *incidents, double *lap_time)
{
    td_track t;
    td_err err;
    if (td_track_load(&t, path, &err))
        TD_FAIL("%s: %s", path, err.msg);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.laps = 3;
    cfg.race.reverse_dir = reversed;
    env_fixture f = {0};
    fx_open(&f, &cfg, &t, 1);
    td_driver drv;
    td_driver_config dc;
    td_driver_config_default(&dc, kind);
    if (td_driver_init(&drv, &dc, td_vecenv_track(&f.env, 0), &err))
        TD_FAIL("%s: %s", path, err.msg);
    int k = 0;
    while (!f.dones[0] && k++ < 20000) {
        double st, sp;
        td_driver_act(&drv, &cfg.car, td_vecenv_car(&f.env, 0), &f.params[0], &st, &sp);
        f.actions[0] = (float)st;
        f.actions[1] = (float)sp;
        td_vecenv_step(&f.env);
    }
    const td_episode_info *e = td_vecenv_last_episode(&f.env, 0);
    *laps = e->laps;
    *incidents = e->off_tracks + e->crashes + e->resets + e->reverses + e->immobilized;
    *lap_time = e->lap_time_s;
    td_driver_free(&drv);
    fx_close(&f);
    td_track_free(&t);
}

static int lap_all_in(const char *dir, const char *ext, const char *skip)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ext) || (skip && strstr(de->d_name, skip)))
            continue;
        char path[1024];
        TD_FMT(path, "%s/%s", dir, de->d_name);
        for (int rev = 0; rev < 2; rev++) {
            int laps, inc;
            double lt;
            drive_laps(path, rev, TD_DRIVER_PURE_PURSUIT, &laps, &inc, &lt);
            printf("  %-32s %s laps %d incidents %d first lap %.2f s\n", de->d_name,
                   rev ? "reverse" : "forward", laps, inc, lt);
            TD_ASSERT_MSG(laps == 3 && inc == 0, "%s %s: %d laps, %d incidents", de->d_name,
                          rev ? "reverse" : "forward", laps, inc);
        }
        count++;
    }
    closedir(d);
    return count;
}

TD_TEST(driver_laps_every_reference_loop_both_directions)
{
    int n = lap_all_in(TD_SHARED_TRACKS, ".npy", "Straight_track");
    TD_ASSERT_EQ_INT(n, 18);
}

TD_TEST(driver_laps_every_shipped_track_both_directions)
{
    int n = lap_all_in(TD_TEST_SOURCE_DIR "/tracks", ".json", NULL);
    TD_ASSERT_MSG(n >= 6, "only %d tracks in tracks/*.json", n);
}

TD_TEST(driver_centerline_and_zigzag_make_progress)
{
    char path[1024];
    TD_FMT(path, "%s/reInvent2019_wide.npy", TD_SHARED_TRACKS);
    int laps, inc;
    double lt_pp, lt_c, lt_z;
    drive_laps(path, 0, TD_DRIVER_PURE_PURSUIT, &laps, &inc, &lt_pp);
    drive_laps(path, 0, TD_DRIVER_CENTERLINE, &laps, &inc, &lt_c);
    TD_ASSERT_EQ_INT(laps, 3);
    drive_laps(path, 0, TD_DRIVER_ZIGZAG, &laps, &inc, &lt_z);
    TD_ASSERT_EQ_INT(laps, 3);
    /* Cutting corners is faster than the centre line, weaving is slower. */
    TD_ASSERT_LT(lt_pp, lt_c);
    TD_ASSERT_LT(lt_c, lt_z);
}

static void race_with_objects(td_race_type type, int *crashes, int *laps)
{
    char path[1024];
    TD_FMT(path, "%s/reInvent2019_track.npy", TD_SHARED_TRACKS);
    td_track t;
    td_err err;
    TD_ASSERT_OK(td_track_load(&t, path, &err));
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.laps = 2;
    cfg.race.race_type = type;
    cfg.race.is_lane_change = 1;
    env_fixture f = {0};
    fx_open(&f, &cfg, &t, 1);
    td_driver drv;
    td_driver_config dc;
    td_driver_config_default(&dc, TD_DRIVER_PURE_PURSUIT);
    TD_ASSERT_OK(td_driver_init(&drv, &dc, td_vecenv_track(&f.env, 0), &err));
    int k = 0;
    while (!f.dones[0] && k++ < 20000) {
        double st, sp;
        td_driver_act(&drv, &cfg.car, td_vecenv_car(&f.env, 0), &f.params[0], &st, &sp);
        f.actions[0] = (float)st;
        f.actions[1] = (float)sp;
        td_vecenv_step(&f.env);
    }
    const td_episode_info *e = td_vecenv_last_episode(&f.env, 0);
    TD_ASSERT_EQ_INT(e->status, TD_EP_LAP_COMPLETE);
    TD_ASSERT_LE(e->crashes * cfg.collision_penalty_s, e->penalty_s + 1e-9);
    *crashes = e->crashes;
    *laps = e->laps;
    td_driver_free(&drv);
    fx_close(&f);
    td_track_free(&t);
}

TD_TEST(object_avoidance_and_head_to_bot_races_finish)
{
    int crashes, laps;
    race_with_objects(TD_RACE_OBJECT_AVOIDANCE, &crashes, &laps);
    TD_ASSERT_EQ_INT(laps, 2);
    printf("  object avoidance: %d crashes\n", crashes);
    race_with_objects(TD_RACE_HEAD_TO_BOT, &crashes, &laps);
    TD_ASSERT_EQ_INT(laps, 2);
    printf("  head to bot: %d crashes\n", crashes);
}

TD_TEST(init_rejects_bad_config)
{
    td_track t;
    make_square(&t);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    td_vecenv env;
    td_err err;
    TD_ASSERT_EQ_INT(td_vecenv_init(&env, &cfg, &t, 0, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "number of cars");
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.laps = 0;
    TD_ASSERT_EQ_INT(td_vecenv_init(&env, &cfg, &t, 1, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "laps");
    td_sim_config_default(&cfg);
    cfg.race.number_of_obstacles = 40;
    TD_ASSERT_EQ_INT(td_vecenv_init(&env, &cfg, &t, 1, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "NUMBER_OF_OBSTACLES 40");
    td_sim_config_default(&cfg);
    cfg.race.n_object_positions = 1;
    cfg.race.object_positions[0][0] = 1.5;
    TD_ASSERT_EQ_INT(td_vecenv_init(&env, &cfg, &t, 1, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "OBJECT_POSITIONS entry 1");
    td_sim_config_default(&cfg);
    cfg.race.is_lane_change = 1;
    cfg.race.upper_lane_change_time = 1.0;
    TD_ASSERT_EQ_INT(td_vecenv_init(&env, &cfg, &t, 1, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "UPPER_LANE_CHANGE_TIME");
    td_race_type rt;
    TD_ASSERT_OK(td_race_type_parse("object-avoidance", &rt));
    TD_ASSERT_EQ_INT(rt, TD_RACE_OBJECT_AVOIDANCE);
    TD_ASSERT_OK(td_race_type_parse("HEAD_TO_BOT", &rt));
    TD_ASSERT_EQ_INT(rt, TD_RACE_HEAD_TO_BOT);
    TD_ASSERT_EQ_INT(td_race_type_parse("drag", &rt), TD_EINVAL);
    td_track_free(&t);
}

/* ---- sensors through the env ------------------------------------------------------------ */

static uint64_t run_sensors(int threads, int *lidar_ok, int *frames_vary)
{
    td_track t;
    make_square(&t);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.sensors = TD_SENSOR_STATE | TD_SENSOR_CAMERA | TD_SENSOR_LIDAR;
    cfg.threads = threads;
    cfg.seed = 11;
    cfg.race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    cfg.race.randomize_obstacle_locations = 1;
    cfg.race.enable_domain_randomization = 1;
    int n = 4, cam = td_vecenv_camera_bytes(&cfg), lid = td_vecenv_lidar_dim(&cfg);
    TD_ASSERT_EQ_INT(cam, 160 * 120);
    TD_ASSERT_EQ_INT(lid, 64);
    env_fixture f = {0};
    td_err err;
    if (td_vecenv_init(&f.env, &cfg, &t, n, &err))
        TD_FAIL("%s", err.msg);
    uint8_t *camera = td_malloc((size_t)cam * n);
    float *lidar = td_malloc(sizeof(float) * (size_t)lid * n);
    f.actions = td_calloc((size_t)n * 2, sizeof(float));
    f.obs = td_calloc((size_t)n * TD_STATE_DIM, sizeof(float));
    f.rewards = td_calloc((size_t)n, sizeof(float));
    f.dones = td_calloc((size_t)n, 1);
    f.params = td_calloc((size_t)n, sizeof(td_params));
    f.env.actions = f.actions;
    f.env.obs_state = f.obs;
    f.env.obs_camera = camera;
    f.env.obs_lidar = lidar;
    f.env.rewards = f.rewards;
    f.env.dones = f.dones;
    f.env.params = f.params;
    td_vecenv_reset(&f.env);
    long live = td_alloc_live();
    td_rng act;
    td_rng_seed(&act, 4, 0);
    uint64_t h = 0, first = td_fnv1a64(camera, (size_t)cam);
    *lidar_ok = 1;
    *frames_vary = 0;
    for (int k = 0; k < 120; k++) {
        for (int i = 0; i < n; i++) {
            f.actions[2 * i] = (float)td_rng_range(&act, -20, 20);
            f.actions[2 * i + 1] = (float)td_rng_range(&act, 0.5, 2.5);
        }
        td_vecenv_step(&f.env);
        h = h * 31 + td_fnv1a64(camera, (size_t)cam * n);
        h = h * 31 + td_fnv1a64(lidar, sizeof(float) * (size_t)lid * n);
        h = h * 31 + td_fnv1a64(f.obs, sizeof(float) * TD_STATE_DIM * n);
        for (int j = 0; j < lid * n; j++)
            if (!(lidar[j] >= 0.15f && lidar[j] <= 1.0f))
                *lidar_ok = 0;
        if (td_fnv1a64(camera, (size_t)cam) != first)
            *frames_vary = 1;
    }
    TD_ASSERT_EQ_INT(td_alloc_live(), live);
    td_free(camera);
    td_free(lidar);
    fx_close(&f);
    td_track_free(&t);
    return h;
}

TD_TEST(vecenv_camera_and_lidar_deterministic_without_allocation)
{
    int ok1, vary1, ok2, vary2;
    uint64_t a = run_sensors(2, &ok1, &vary1);
    uint64_t b = run_sensors(2, &ok2, &vary2);
    TD_ASSERT_EQ(a, b);
    TD_ASSERT(ok1 && vary1);
    uint64_t c = run_sensors(1, &ok2, &vary2);
    TD_ASSERT_EQ(a, c);
}

TD_TEST(vecenv_domain_randomization_changes_the_look_per_episode)
{
    td_track t;
    make_square(&t);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.sensors = TD_SENSOR_CAMERA;
    cfg.mode = TD_MODE_EVAL;
    for (int dr = 0; dr < 2; dr++) {
        cfg.race.enable_domain_randomization = dr;
        env_fixture f = {0};
        fx_open(&f, &cfg, &t, 1);
        uint8_t *camera = td_malloc(160 * 120);
        f.env.obs_camera = camera;
        td_vecenv_reset_car_at(&f.env, 0, 0.0, 0);
        uint64_t h1 = td_fnv1a64(camera, 160 * 120);
        td_vecenv_reset_car_at(&f.env, 0, 0.0, 0);
        uint64_t h2 = td_fnv1a64(camera, 160 * 120);
        /* Same pose: the same frame without randomization, a different one with it. */
        TD_ASSERT_EQ_INT(h1 != h2, dr);
        /* The scene renders the same frame as the observation. */
        td_scene sc;
        td_vecenv_scene(&f.env, 0, &sc);
        TD_ASSERT(sc.ground != NULL && sc.track == td_vecenv_track(&f.env, 0));
        uint8_t *again = td_malloc(160 * 120);
        const td_car_state *cs = td_vecenv_car(&f.env, 0);
        td_camera_render_grey(&cfg.camera, &sc, cs->x, cs->y, cs->yaw, again);
        TD_ASSERT_EQ(memcmp(again, camera, 160 * 120), 0);
        td_free(again);
        td_free(camera);
        fx_close(&f);
    }
    td_track_free(&t);
}

TD_TEST(vecenv_lidar_encoding_sizes)
{
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    TD_ASSERT_EQ_INT(td_vecenv_lidar_dim(&cfg), 0);
    cfg.sensors = TD_SENSOR_LIDAR;
    cfg.lidar_encoding = TD_LIDAR_ENC_SECTOR;
    TD_ASSERT_EQ_INT(td_vecenv_lidar_dim(&cfg), 8);
    cfg.lidar_encoding = TD_LIDAR_ENC_DISCRETIZED;
    TD_ASSERT_EQ_INT(td_vecenv_lidar_dim(&cfg), 64);
    cfg.sensors = TD_SENSOR_STEREO;
    TD_ASSERT_EQ_INT(td_vecenv_camera_bytes(&cfg), 160 * 120 * 2);
}

TD_TEST(continuous_immobilized_costs_a_penalty_and_counts)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.car.speed_min = 0.0;
    fx_square(&f, &cfg, 1);
    step_n(&f, 10, 0.0, 1.0);
    step_n(&f, 30, 0.0, 0.0); /* the car stops within ~9 steps, then stands 15 */
    const td_episode_info *e = td_vecenv_current_episode(&f.env, 0);
    TD_ASSERT_EQ_INT(e->immobilized, 1);
    TD_ASSERT_EQ_INT(e->resets, 1);
    TD_ASSERT_NEAR(e->penalty_s, 2.0, 1e-12);
    TD_ASSERT_EQ_INT(f.dones[0], 0);
    /* max_resets 1: one reset is allowed, the next event ends the race. */
    env_fixture g = {0};
    cfg.max_resets = 1;
    fx_square(&g, &cfg, 1);
    td_vecenv_teleport(&g.env, 0, 6.0, -0.9, 0.0, 0.0);
    step_n(&g, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(g.dones[0], 0);
    td_vecenv_teleport(&g.env, 0, 6.0, -0.9, 0.0, 0.0);
    step_n(&g, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(g.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&g.env, 0)->status, TD_EP_OFF_TRACK);
    fx_close(&f);
    fx_close(&g);
}

TD_TEST(start_near_an_obstacle_takes_the_other_lane)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    cfg.race.n_object_positions = 2;
    cfg.race.object_positions[0][0] = 0.0; /* on the start point, inner lane */
    cfg.race.object_positions[0][1] = 1;
    cfg.race.object_positions[1][0] = 0.5; /* arc 20, outer lane */
    cfg.race.object_positions[1][1] = -1;
    cfg.race.change_start_position = 0;
    fx_square(&f, &cfg, 2); /* car 0 starts at arc 0, car 1 at arc 20 */
    /* Car 0: the box is on the inner (+y) lane, so it starts on the outer lane. */
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->x, 5.0, 1e-9);
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->y, -0.25, 1e-9);
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->yaw, 0.0, 1e-9);
    TD_ASSERT_EQ_INT(f.params[0].is_crashed, 0);
    /* Car 1 at (5, 10) driving -x: the box on the outer lane, so the inner lane (y 9.75). */
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 1)->x, 5.0, 1e-9);
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 1)->y, 9.75, 1e-9);
    TD_ASSERT_EQ_INT(f.params[1].is_crashed, 0);
    step_n(&f, 5, 0.0, 1.0);
    TD_ASSERT_EQ_INT(f.dones[0], 0);
    TD_ASSERT_EQ_INT(f.dones[1], 0);
    fx_close(&f);
}

TD_TEST(open_route_laps_restart_from_the_start)
{
    int laps, inc;
    double lt;
    drive_laps(TD_SHARED_TRACKS "/Straight_track.npy", 0, TD_DRIVER_PURE_PURSUIT, &laps, &inc, &lt);
    TD_ASSERT_EQ_INT(laps, 3);
    TD_ASSERT_EQ_INT(inc, 0);
    /* 5.7 m from rest at up to 4 m/s: between 1.4 and 4 s a lap. */
    TD_ASSERT(lt > 1.4 && lt < 4.0);
}

TD_TEST(nan_and_huge_actions_are_contained)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    step_n(&f, 5, NAN, NAN);
    const td_car_state *s = td_vecenv_car(&f.env, 0);
    TD_ASSERT(isfinite(s->x) && isfinite(s->y) && isfinite(s->yaw));
    /* NaN counts as 0: clipped up to the minimum speed, straight ahead. */
    TD_ASSERT_NEAR(s->y, 0.0, 1e-12);
    TD_ASSERT_GT(s->x, 5.0);
    for (int k = 0; k < TD_STATE_DIM; k++)
        TD_ASSERT(isfinite(f.obs[k]));
    step_n(&f, 3, 1e30, INFINITY);
    TD_ASSERT_LE(td_vecenv_car(&f.env, 0)->speed, 4.0);
    TD_ASSERT_LE(fabs(td_vecenv_car(&f.env, 0)->steer), M_PI / 6 + 1e-12);
    TD_ASSERT(isfinite(f.params[0].x));
    fx_close(&f);
}

TD_TEST(state_features_suffice_for_a_linear_controller)
{
    /* Steering from the state sensor alone (lateral offset, heading error, curvature 0.5 m
     * ahead) laps loops of both turning directions: the features carry what a policy needs,
     * with the right signs and scales. */
    const char *names[] = {"reinvent_base", "Bowtie_track", "Albert"};
    for (int ti = 0; ti < 3; ti++) {
        for (int rev = 0; rev < 2; rev++) {
            char path[1024];
            TD_FMT(path, "%s/%s.npy", TD_SHARED_TRACKS, names[ti]);
            td_track t;
            td_err err;
            TD_ASSERT_OK(td_track_load(&t, path, &err));
            td_sim_config cfg;
            td_sim_config_default(&cfg);
            cfg.mode = TD_MODE_CONTINUOUS;
            cfg.laps = 1;
            cfg.race.reverse_dir = rev;
            env_fixture f = {0};
            fx_open(&f, &cfg, &t, 1);
            for (int k = 0; k < 5000 && !f.dones[0]; k++) {
                const float *o = f.obs;
                f.actions[0] = 30.0f * (-0.5f * o[4] - 1.5f * o[2]) + 23.5f * o[8];
                f.actions[1] = 1.5f;
                td_vecenv_step(&f.env);
            }
            const td_episode_info *e = td_vecenv_last_episode(&f.env, 0);
            TD_ASSERT_MSG(e->laps == 1 && e->off_tracks == 0, "%s %s: %d laps, %d off-tracks",
                          names[ti], rev ? "reverse" : "forward", e->laps, e->off_tracks);
            fx_close(&f);
            td_track_free(&t);
        }
    }
}

TD_TEST(vecenv_buffers_attach_every_enabled_sensor)
{
    td_track t;
    td_vecenv env;
    td_vecenv_buffers b;
    td_sim_config cfg;
    td_err err;
    make_square(&t);
    td_sim_config_default(&cfg);
    cfg.sensors = TD_SENSOR_STATE | TD_SENSOR_CAMERA | TD_SENSOR_LIDAR;
    TD_ASSERT_OK(td_vecenv_init(&env, &cfg, &t, 3, &err));
    TD_ASSERT_OK(td_vecenv_buffers_init(&b, &env, &err));
    TD_ASSERT(env.actions == b.actions && env.rewards == b.rewards && env.dones == b.dones);
    TD_ASSERT(env.params == b.params && env.obs_state == b.state);
    TD_ASSERT(env.obs_camera == b.camera && b.camera != NULL);
    TD_ASSERT(env.obs_lidar == b.lidar && b.lidar != NULL);
    td_vecenv_reset(&env);
    for (int i = 0; i < 3; i++) {
        b.actions[2 * i] = 0.0f;
        b.actions[2 * i + 1] = 1.0f;
    }
    td_vecenv_step(&env);
    /* The last car's rows were written: its camera frame is not all one value. */
    const uint8_t *frame = b.camera + 2 * (size_t)td_vecenv_camera_bytes(&cfg);
    int varied = 0;
    for (int k = 1; k < td_vecenv_camera_bytes(&cfg); k++)
        varied |= frame[k] != frame[0];
    TD_ASSERT(varied);
    TD_ASSERT_EQ_INT(b.params[2].steps, 1);
    td_vecenv_buffers_free(&b);

    /* Out of memory part-way: an error, and nothing left allocated. */
    long live = td_alloc_live();
    td_alloc_fail_after(3);
    TD_ASSERT_EQ_INT(td_vecenv_buffers_init(&b, &env, &err), TD_ENOMEM);
    td_alloc_fail_after(-1);
    TD_ASSERT_EQ_INT(td_alloc_live(), live);
    td_vecenv_buffers_free(NULL);
    td_vecenv_free(&env);
    td_track_free(&t);
}
