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
#include "trackday/simtrace.h"

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

/*
 * DeepRacer's prepare step, which starts every episode: each car is held where it stands
 * (reward 0, the reward function not called, counted in steps). Steps every car once with
 * full throttle and checks that none moved.
 */
static void prepare_step(env_fixture *f)
{
    double x[8], y[8];
    int n = f->env.n < 8 ? f->env.n : 8;
    for (int i = 0; i < n; i++) {
        x[i] = td_vecenv_car(&f->env, i)->x;
        y[i] = td_vecenv_car(&f->env, i)->y;
    }
    step_n(f, 1, 0.0, 4.0);
    for (int i = 0; i < n; i++) {
        TD_ASSERT_EQ_INT(td_vecenv_step_status(&f->env, i), TD_EP_PREPARE);
        TD_ASSERT_EQ(f->rewards[i], 0.0f);
        TD_ASSERT_EQ_INT(f->dones[i], 0);
        TD_ASSERT_NEAR(td_vecenv_car(&f->env, i)->x, x[i], 0);
        TD_ASSERT_NEAR(td_vecenv_car(&f->env, i)->y, y[i], 0);
        TD_ASSERT_EQ_INT(td_vecenv_current_episode(&f->env, i)->steps, 1);
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
    td_car_preset(&cfg, "ideal"); /* the kinematic bicycle, no delay */
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
    td_car_preset(&cfg, "ideal"); /* the kinematic bicycle, no delay */
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
    td_car_preset(&cfg, "ideal"); /* the kinematic bicycle, no delay */
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
    td_car_preset(&free_cfg, "ideal");
    free_cfg.grip_mps2 = 0;
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
    td_car_preset(&cfg, "ideal"); /* the kinematic bicycle, no delay */
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

    /* Commanded (unclipped) speed and steering; measured values are clipped. sim_time is
     * when the step's pose was read, before its physics: 0 for the prepare step, one step
     * later for the next. */
    f.actions[0] = 45.0f;
    f.actions[1] = 7.5f;
    td_vecenv_reset(&f.env);
    td_vecenv_step(&f.env);
    TD_ASSERT_NEAR(p->steering_angle, 45.0, 1e-6);
    TD_ASSERT_NEAR(p->speed, 7.5, 1e-6);
    TD_ASSERT_EQ_INT(p->steps, 1);
    TD_ASSERT_NEAR(p->sim_time, 0.0, 0);
    td_vecenv_step(&f.env);
    TD_ASSERT_EQ_INT(p->steps, 2);
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

/* ---- the audit's edge cases of section 1, against DeepRacer's formulas ---------------------- */

static void open_shared(env_fixture *f, const td_sim_config *cfg, const char *name, int n);

/* Teleports car 0 so that its MODEL point is at (x, y), heading yaw. */
static void put_model_point(env_fixture *f, double x, double y, double yaw)
{
    double m = f->env.cfg.car.model_point_m;
    td_vecenv_teleport(&f->env, 0, x - m * cos(yaw), y - m * sin(yaw), yaw, 0.0);
}

/* One car on the route name with eval_config's settings. */
static void open_eval(env_fixture *f, const char *name)
{
    td_sim_config cfg;
    eval_config(&cfg);
    open_shared(f, &cfg, name, 1);
}

/* Teleports car 0 so that its model point is on the centre line of t at arc length s. */
static void put_on_center(env_fixture *f, const td_track *t, double s)
{
    double x, y, yaw;
    td_track_point_at(t, s, 0.0, &x, &y, &yaw);
    put_model_point(f, x, y, yaw);
}

/* Nearest point of a polyline (n points) to (x, y), as shapely's interpolate(project()). */
static void dr_nearest_on(const double *B, int n, double x, double y, double *px, double *py,
                          double *arc)
{
    double best = INFINITY, run = 0.0;
    for (int k = 0; k + 1 < n; k++) {
        const double *q = B + 2 * k;
        double dx = q[2] - q[0], dy = q[3] - q[1], l2 = dx * dx + dy * dy;
        double u = l2 > 0 ? ((x - q[0]) * dx + (y - q[1]) * dy) / l2 : 0.0;
        u = u < 0 ? 0 : (u > 1 ? 1 : u);
        double ex = q[0] + u * dx, ey = q[1] + u * dy, d = hypot(ex - x, ey - y);
        if (d < best) {
            best = d;
            *px = ex;
            *py = ey;
            if (arc)
                *arc = run + u * sqrt(l2);
        }
        run += sqrt(l2);
    }
}

/*
 * DeepRacer's is_left_of_center and closest_waypoints at model point (x, y), computed here
 * from its code (agent_ctrl/utils.py, track_data.py get_nearest_points, TrackLine,
 * track_geom/utils.py find_prev_next): the car is left when nearer the inner border point
 * nearest its centre-line point than the outer one, xor the route is clockwise (an open route
 * counts as counter-clockwise forwards); the waypoints bisect (bisect_right) the waypoints'
 * normalized distances, the last one 1.0.
 */
static void dr_left_and_waypoints(const td_track *t, double x, double y, int *left, int wp[2])
{
    double cx = 0, cy = 0, arc = 0, ix = 0, iy = 0, ox = 0, oy = 0;
    dr_nearest_on(t->center, t->n, x, y, &cx, &cy, &arc);
    dr_nearest_on(t->inner, t->n, cx, cy, &ix, &iy, NULL);
    dr_nearest_on(t->outer, t->n, cx, cy, &ox, &oy, NULL);
    int ccw;
    if (t->closed) {
        double a = 0;
        for (int i = 0; i + 1 < t->n; i++)
            a += t->center[2 * i] * t->center[2 * i + 3] -
                 t->center[2 * i + 2] * t->center[2 * i + 1];
        ccw = a > 0;
    } else {
        ccw = !t->reversed;
    }
    *left = (hypot(x - ix, y - iy) < hypot(x - ox, y - oy)) ^ !ccw;
    double nd = arc / t->length;
    int next = 0;
    while (next < t->n && (next == t->n - 1 ? 1.0 : t->arc[next] / t->length) <= nd)
        next++;
    wp[0] = next - 1 < 0 ? t->n - 1 : next - 1;
    wp[1] = next == t->n ? 0 : next;
}

/*
 * is_left_of_center is DeepRacer's nearer-border rule, not the side of the centre line. On a
 * route whose centre line is nearer the inner border (0.2 m) than the outer (0.6 m), a car
 * 0.1 m right of the centre line is still nearer the inner border: left in DeepRacer. Then
 * random poses on every reference route in both directions, a fifth of them within 3 mm of
 * the centre line (where the audit saw the two rules differ), against DeepRacer's formula.
 */
TD_TEST(is_left_of_center_is_deepracers_nearer_border_rule)
{
    double rows[11 * 6];
    for (int i = 0; i < 11; i++) {
        double *r = rows + 6 * i, x = 0.5 * i;
        r[0] = x, r[1] = 0.0, r[2] = x, r[3] = 0.2, r[4] = x, r[5] = -0.6;
    }
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    td_err err;
    TD_ASSERT_OK(td_track_from_rows(&f.track, rows, 11, "offset", "offset centre line", &err));
    fx_open(&f, &cfg, &f.track, 1);
    const double lat[4] = {0.05, -0.1, -0.19, -0.25};
    const int want[4] = {1, 1, 1, 0};
    for (int k = 0; k < 4; k++) {
        put_model_point(&f, 2.2, lat[k], 0.0);
        TD_ASSERT_MSG(f.params[0].is_left_of_center == want[k], "y %.2f: is_left_of_center %d",
                      lat[k], f.params[0].is_left_of_center);
        TD_ASSERT_NEAR(f.params[0].distance_from_center, fabs(lat[k]), 1e-9);
    }
    fx_close(&f);

    DIR *d = opendir(TD_SHARED_TRACKS);
    TD_ASSERT(d != NULL);
    struct dirent *e;
    int routes = 0;
    long poses = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".npy"))
            continue;
        char path[1024];
        TD_FMT(path, "%s/%s", TD_SHARED_TRACKS, e->d_name);
        for (int rev = 0; rev < 2; rev++) {
            env_fixture g = {0};
            eval_config(&cfg);
            cfg.race.reverse_dir = rev;
            TD_ASSERT_OK(td_track_load(&g.track, path, &err));
            fx_open(&g, &cfg, &g.track, 1);
            const td_track *t = td_vecenv_track(&g.env, 0);
            td_rng rng;
            td_rng_seed(&rng, 9 + (uint64_t)routes, 0);
            for (int k = 0; k < 150; k++) {
                double s = td_rng_uniform(&rng) * t->length, x, y, yaw;
                double w = k % 5 ? td_rng_range(&rng, -0.3, 0.3) : td_rng_range(&rng, -3e-3, 3e-3);
                td_track_point_at(t, s, w, &x, &y, &yaw);
                put_model_point(&g, x, y, yaw);
                const td_params *p = &g.params[0];
                int left, wp[2];
                dr_left_and_waypoints(t, p->x, p->y, &left, wp);
                TD_ASSERT_MSG(p->is_left_of_center == left,
                              "%s%s (%.6f, %.6f): is_left_of_center %d, DeepRacer %d", e->d_name,
                              rev ? " reversed" : "", p->x, p->y, p->is_left_of_center, left);
                TD_ASSERT_MSG(p->closest_waypoints[0] == wp[0] && p->closest_waypoints[1] == wp[1],
                              "%s%s (%.6f, %.6f): closest_waypoints [%d, %d], DeepRacer [%d, %d]",
                              e->d_name, rev ? " reversed" : "", p->x, p->y,
                              p->closest_waypoints[0], p->closest_waypoints[1], wp[0], wp[1]);
                poses++;
            }
            fx_close(&g);
        }
        routes++;
    }
    closedir(d);
    TD_ASSERT_MSG(routes >= 19, "%d reference routes", routes);
    TD_ASSERT(poses == 300L * routes);
}

/*
 * closest_waypoints at the end of an open route: DeepRacer's bisection runs past the last
 * waypoint (normalized distance 1.0) and wraps to [n-1, 0]; at the start it is [0, 1], and on
 * a waypoint k it is [k, k+1]. Straight_track has 22 waypoints: [21, 0] at its end, in both
 * directions.
 */
TD_TEST(closest_waypoints_at_an_open_routes_end_are_deepracers)
{
    for (int rev = 0; rev < 2; rev++) {
        env_fixture f = {0};
        td_sim_config cfg;
        eval_config(&cfg);
        cfg.race.reverse_dir = rev;
        open_shared(&f, &cfg, "Straight_track", 1);
        const td_track *t = td_vecenv_track(&f.env, 0);
        TD_ASSERT_EQ_INT(t->n, 22);
        TD_ASSERT(!t->closed);
        const td_params *p = &f.params[0];
        double x, y, yaw;
        td_track_point_at(t, t->length, 0.0, &x, &y, &yaw);
        put_model_point(&f, x, y, yaw);
        TD_ASSERT_EQ_INT(p->closest_waypoints[0], 21);
        TD_ASSERT_EQ_INT(p->closest_waypoints[1], 0);
        /* Past the end the projection stays at the end. */
        put_model_point(&f, x + 0.1 * cos(yaw), y + 0.1 * sin(yaw), yaw);
        TD_ASSERT_EQ_INT(p->closest_waypoints[0], 21);
        TD_ASSERT_EQ_INT(p->closest_waypoints[1], 0);
        put_on_center(&f, t, t->arc[20] + 0.01);
        TD_ASSERT_EQ_INT(p->closest_waypoints[0], 20);
        TD_ASSERT_EQ_INT(p->closest_waypoints[1], 21);
        put_on_center(&f, t, t->arc[7]);
        TD_ASSERT_EQ_INT(p->closest_waypoints[0], 7);
        TD_ASSERT_EQ_INT(p->closest_waypoints[1], 8);
        put_on_center(&f, t, 0.0);
        TD_ASSERT_EQ_INT(p->closest_waypoints[0], 0);
        TD_ASSERT_EQ_INT(p->closest_waypoints[1], 1);
        fx_close(&f);
    }
}

/*
 * The progress of car 0 (one car on route, eval_config) with its model point on the centre
 * line at fraction frac of the route, after td_vecenv_reset_car_at(reset_at) (none if
 * reset_at < 0); *start (if not NULL) is the progress before the move.
 */
static double progress_on_center(const char *route, double reset_at, double frac, double *start)
{
    env_fixture f = {0};
    open_eval(&f, route);
    if (reset_at >= 0)
        td_vecenv_reset_car_at(&f.env, 0, reset_at, 0);
    if (start)
        *start = f.params[0].progress;
    put_on_center(&f, &f.track, frac * f.track.length);
    double progress = f.params[0].progress;
    fx_close(&f);
    return progress;
}

/*
 * Progress on an open route follows DeepRacer's compute_current_prog as on a loop, without
 * clipping to [0, 100]: from a start at half the route, a car a fifth of the route behind it
 * has progress -20 (DeepRacer: 100 (0.3 - 0.5) <= 0 gets +100, then 80 > 0 + 50 gets -100),
 * and one a fifth ahead 20.
 */
TD_TEST(open_route_progress_is_not_clipped)
{
    TD_ASSERT_NEAR(progress_on_center("Straight_track", 0.5, 0.3, NULL), -20.0, 1e-9);
    TD_ASSERT_NEAR(progress_on_center("Straight_track", 0.5, 0.7, NULL), 20.0, 1e-9);
}

/*
 * A pose described right after a reset (trackday probe's first line) compares with
 * DeepRacer's cleared prev_progress 0.0 (rollout_agent_ctrl.py _clear_data), not with the
 * start pose's progress: on reinvent_base a model point at 50.4 % of the lap (just past half,
 * less than the start pose's 0.8 % further) has progress 50.4 - 100.
 */
TD_TEST(a_pose_after_a_reset_compares_with_deepracers_zero_progress)
{
    double start;
    double progress = progress_on_center("reinvent_base", -1.0, 0.504, &start);
    TD_ASSERT(start > 0.4 && start < 1.0); /* the start pose: model point ahead */
    TD_ASSERT_NEAR(progress, 50.4 - 100.0, 1e-6);
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
    /* DeepRacer answers object_in_camera for the object one index below the next one, so
     * with a single object it is always False, even looking straight at it. */
    td_vecenv_teleport(&f.env, 0, 10.0, 2.0, M_PI / 2, 0.0);
    TD_ASSERT_EQ_INT(p->closest_objects[1], 0);
    TD_ASSERT_EQ_INT(p->object_in_camera, 0);
    fx_close(&f);
}

/*
 * DeepRacer's object_in_camera, built the way its code builds it, as an independent reference:
 * quaternions for the camera pose (track_geom/utils.py), the frustum's six planes from the
 * corners of its near and far rectangles (cameras/frustum.py), the objects' footprint corners
 * and centres (track_data.py get_objects_in_camera_frustums) enumerated over a list with the
 * racecar first, and the index comparison of get_object_reward_params.
 */
typedef struct dr_plane {
    double n[3], d;
} dr_plane;

static void dr_quat(double pitch, double yaw, double q[4])
{
    double cy = cos(yaw * 0.5), sy = sin(yaw * 0.5), cp = cos(pitch * 0.5), sp = sin(pitch * 0.5);
    q[0] = -sy * sp;
    q[1] = cy * sp;
    q[2] = sy * cp;
    q[3] = cy * cp;
}

static void dr_rotate(const double q[4], const double v[3], double out[3])
{
    /* q v q*, with q = (x, y, z, w). */
    double x = q[0], y = q[1], z = q[2], w = q[3];
    double tx = 2 * (y * v[2] - z * v[1]), ty = 2 * (z * v[0] - x * v[2]),
           tz = 2 * (x * v[1] - y * v[0]);
    out[0] = v[0] + w * tx + (y * tz - z * ty);
    out[1] = v[1] + w * ty + (z * tx - x * tz);
    out[2] = v[2] + w * tz + (x * ty - y * tx);
}

static void dr_plane_of(const double *p0, const double *p1, const double *p2, dr_plane *pl)
{
    double a[3] = {p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]};
    double b[3] = {p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]};
    double n[3] = {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
    double l = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    for (int k = 0; k < 3; k++)
        pl->n[k] = n[k] / l;
    pl->d = -(pl->n[0] * p0[0] + pl->n[1] * p0[1] + pl->n[2] * p0[2]);
}

static void dr_frustum(double car_x, double car_y, double yaw, double side, dr_plane pl[6])
{
    double cq[4], q[4], off[3] = {0.14529379, side, 0.13032555}, cam[3];
    dr_quat(0.0, yaw, cq);
    dr_rotate(cq, off, cam);
    cam[0] += car_x;
    cam[1] += car_y;
    dr_quat(0.2618, yaw, q);
    double fw[3], up[3], rt[3], e_f[3] = {1, 0, 0}, e_u[3] = {0, 0, 1}, e_r[3] = {0, -1, 0};
    dr_rotate(q, e_f, fw);
    dr_rotate(q, e_u, up);
    dr_rotate(q, e_r, rt);
    double near = 0.2, far = 300.0, t = tan(1.13 * 0.5), ratio = 480.0 / 640.0;
    double c[2][4][3]; /* [near, far][bottom_left, top_left, top_right, bottom_right] */
    for (int f = 0; f < 2; f++) {
        double dist = f ? far : near, w = 2.0 * t * dist, h = w * ratio;
        for (int k = 0; k < 4; k++) {
            double su = (k == 1 || k == 2) ? 0.5 : -0.5, sr = (k >= 2) ? 0.5 : -0.5;
            for (int j = 0; j < 3; j++)
                c[f][k][j] = cam[j] + fw[j] * dist + up[j] * (h * su) + rt[j] * (w * sr);
        }
    }
    enum { BL = 0, TL = 1, TR = 2, BR = 3 };
    dr_plane_of(c[0][BL], c[0][TL], c[0][BR], &pl[0]); /* near */
    dr_plane_of(c[1][BR], c[1][TR], c[1][BL], &pl[1]); /* far */
    dr_plane_of(c[1][BL], c[1][TL], c[0][BL], &pl[2]); /* left */
    dr_plane_of(c[0][BR], c[0][TR], c[1][BR], &pl[3]); /* right */
    dr_plane_of(c[0][TR], c[0][TL], c[1][TR], &pl[4]); /* top */
    dr_plane_of(c[0][BR], c[1][BR], c[0][BL], &pl[5]); /* bottom */
}

/* Any footprint corner or the centre of an object (dims: width, length) in the frustum. */
static int dr_visible(const dr_plane pl[6], double x, double y, double z, double yaw, double width,
                      double length)
{
    double q[4], pts[5][3] = {{x, y, z}};
    dr_quat(0.0, yaw, q);
    double local[4][3] = {{length / 2, width / 2, 0},
                          {length / 2, -width / 2, 0},
                          {-length / 2, -width / 2, 0},
                          {-length / 2, width / 2, 0}};
    for (int k = 0; k < 4; k++) {
        dr_rotate(q, local[k], pts[k + 1]);
        pts[k + 1][0] += x;
        pts[k + 1][1] += y;
        pts[k + 1][2] += z;
    }
    for (int k = 0; k < 5; k++) {
        int in = 1;
        for (int j = 0; j < 6 && in; j++)
            in =
                pl[j].n[0] * pts[k][0] + pl[j].n[1] * pts[k][1] + pl[j].n[2] * pts[k][2] + pl[j].d >
                0.0;
        if (in)
            return 1;
    }
    return 0;
}

static int dr_object_in_camera(const td_vecenv *env, const td_params *p, int stereo)
{
    const td_car_state *car = td_vecenv_car(env, 0);
    const td_box *boxes;
    int n = td_vecenv_boxes(env, 0, &boxes);
    dr_plane pl[2][6];
    dr_frustum(car->x, car->y, car->yaw, stereo ? -0.03 : 0.0, pl[0]);
    dr_frustum(car->x, car->y, car->yaw, 0.03, pl[1]);
    /* Index 0 is the racecar itself (a bot-car-sized box at z 0), then the objects. */
    for (int idx = 0; idx <= n; idx++) {
        int vis = 0;
        for (int lens = 0; lens < (stereo ? 2 : 1); lens++) {
            const td_box *b = &boxes[idx > 0 ? idx - 1 : 0];
            vis |= idx == 0
                       ? dr_visible(pl[lens], car->x, car->y, 0.0, car->yaw, 0.1961, 0.32352)
                       : dr_visible(pl[lens], b->x, b->y, b->kind == TD_BOX_OBSTACLE ? 0.1 : 0.0,
                                    b->yaw, b->width, b->length);
        }
        if (vis && idx == p->closest_objects[1])
            return 1;
    }
    return 0;
}

/* Random poses over the square: the env's answer equals DeepRacer's construction. */
static void compare_random_poses(env_fixture *f, int stereo)
{
    td_params *p = &f->params[0];
    td_rng rng;
    td_rng_seed(&rng, 5, (uint64_t)stereo);
    int yes = 0;
    for (int k = 0; k < 2000; k++) {
        double a = td_rng_range(&rng, 0, 40), x, y;
        square_point(a, &x, &y);
        x += td_rng_range(&rng, -0.6, 0.6);
        y += td_rng_range(&rng, -0.6, 0.6);
        td_vecenv_teleport(&f->env, 0, x, y, td_rng_range(&rng, -M_PI, M_PI), 0.0);
        int want = dr_object_in_camera(&f->env, p, stereo);
        TD_ASSERT_MSG(p->object_in_camera == want, "pose %d (%.3f, %.3f): %d vs %d", k, x, y,
                      p->object_in_camera, want);
        yes += want;
    }
    TD_ASSERT(yes > 50 && yes < 1950);
}

TD_TEST(object_in_camera_is_deepracers_frustum_and_index)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.race.n_object_positions = 2;
    double pos[2][2] = {{0.25, 1}, {0.75, 1}}; /* (9.75, 5) and (0.25, 5) */
    memcpy(cfg.race.object_positions, pos, sizeof(pos));
    fx_square(&f, &cfg, 1);
    td_params *p = &f.params[0];
    /* Looking straight at object 0 from 3 m: it is the next object, and DeepRacer answers
     * for the object one index lower (the racecar itself): False. */
    td_vecenv_teleport(&f.env, 0, 9.75, 2.0, M_PI / 2, 0.0);
    TD_ASSERT_EQ_INT(p->closest_objects[1], 0);
    TD_ASSERT_EQ_INT(p->object_in_camera, 0);
    /* Past object 0, turned round to face it: the next object is 1 (out of sight), and the
     * answer is object 0's: True. */
    td_vecenv_teleport(&f.env, 0, 9.75, 6.5, -M_PI / 2, 0.0);
    TD_ASSERT_EQ_INT(p->closest_objects[1], 1);
    TD_ASSERT_EQ_INT(p->object_in_camera, 1);
    /* Object 0 40 degrees off the axis, its nearest corner 44 (the frustum is 1.13 rad
     * wide): False. */
    td_vecenv_teleport(&f.env, 0, 9.75 + 1.5 * tan(40 * M_PI / 180), 6.5, -M_PI / 2, 0.0);
    TD_ASSERT_EQ_INT(p->closest_objects[1], 1);
    TD_ASSERT_EQ_INT(p->object_in_camera, 0);
    /* Close by: whether the box's points clear the near plane (0.2 m) decides. */
    td_vecenv_teleport(&f.env, 0, 9.75, 5.7, -M_PI / 2, 0.0);
    TD_ASSERT_EQ_INT(p->object_in_camera, dr_object_in_camera(&f.env, p, 0));
    compare_random_poses(&f, 0);
    fx_close(&f);

    /* Stereo cameras: two frustums, 3 cm to either side; more objects, bots among them. */
    env_fixture g = {0};
    cfg.sensors = TD_SENSOR_STEREO;
    cfg.race.n_object_positions = 3;
    cfg.race.object_positions[2][0] = 0.5;
    cfg.race.object_positions[2][1] = -1;
    cfg.race.number_of_bot_cars = 2;
    fx_square(&g, &cfg, 1);
    TD_ASSERT_EQ_INT(g.params[0].n_objects, 5);
    compare_random_poses(&g, 1);
    fx_close(&g);
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
    cfg.race.min_distance_between_bot_cars = 8.0;
    cfg.race.bot_car_speed = 0.3;
    fx_square(&f, &cfg, 1);
    td_params *p = &f.params[0];
    TD_ASSERT_EQ_INT(p->n_objects, 2);
    /* Bots at arcs linspace(8, 40 - 1, 2): 8 on the right side driving +y, inner lane
     * (x 9.75); 39 on the bottom edge driving +x, outer lane (y -0.25). */
    TD_ASSERT_NEAR(p->objects_heading[0], M_PI / 2, 1e-9);
    TD_ASSERT_NEAR(p->objects_heading[1], 0.0, 1e-9);
    TD_ASSERT_NEAR(p->objects_speed[0], 0.3, 1e-12);
    TD_ASSERT_NEAR(p->objects_distance[0], 8.0, 1e-9);
    TD_ASSERT_NEAR(p->objects_location[0][0], 9.75, 1e-9);
    TD_ASSERT_NEAR(p->objects_location[1][1], -0.25, 1e-9);
    /* 16 steps (the prepare step among them: the bots' clock runs from the reset). The
     * 16th step's params show the world its action was chosen in: 15 steps of bot motion. */
    step_n(&f, 16, 0.0, 0.1);
    TD_ASSERT_NEAR(p->objects_distance[0], 8.0 + 0.3, 1e-9);
    TD_ASSERT_NEAR(p->objects_heading[0], M_PI / 2, 1e-9);
    TD_ASSERT_NEAR(p->objects_location[0][1], 8.0 - 5.0 + 0.3, 1e-9);
    fx_close(&f);
}

/* ---- DeepRacer's placement of obstacles and bots ----------------------------------------------
 */

static void open_shared(env_fixture *f, const td_sim_config *cfg, const char *name, int n)
{
    char path[1024];
    td_err err;
    TD_FMT(path, "%s/%s.npy", TD_SHARED_TRACKS, name);
    TD_ASSERT_OK(td_track_load(&f->track, path, &err));
    fx_open(f, cfg, &f->track, n);
}

/* numpy.linspace(lo, hi, n)[k]. */
static double linspace(double lo, double hi, int n, int k)
{
    return n == 1 ? lo : lo + (hi - lo) * k / (n - 1);
}

TD_TEST(obstacles_are_placed_as_deepracer_places_them)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    cfg.race.number_of_obstacles = 6;
    cfg.race.min_distance_between_obstacles = 2.0; /* percent of the lap */
    open_shared(&f, &cfg, "reinvent_base", 3);
    const td_track *t = td_vecenv_track(&f.env, 0);
    double L = t->length;
    /* ObstaclesCtrl: linspace(2 % of L, L - 1, 6), lanes inner, outer, inner, ... from the
     * start line, whatever the car's start (car 1 starts a third of a lap on). DeepRacer's
     * own code gives 0.35, 3.63, 6.90, 10.17, 13.44, 16.71 m on this route (audit). */
    const double dr[6] = {0.35, 3.63, 6.90, 10.17, 13.44, 16.71};
    for (int car = 0; car < 3; car++) {
        const td_params *p = &f.params[car];
        TD_ASSERT_EQ_INT(p->n_objects, 6);
        for (int k = 0; k < 6; k++) {
            double s = linspace(0.02 * L, L - 1.0, 6, k), x, y;
            TD_ASSERT_NEAR(s, dr[k], 0.01);
            td_track_lane_point(t, s, (k & 1) ? -1 : 1, &x, &y);
            TD_ASSERT_NEAR(p->objects_location[k][0], x, 1e-9);
            TD_ASSERT_NEAR(p->objects_location[k][1], y, 1e-9);
            TD_ASSERT_NEAR(p->objects_distance[k], s, 0.03);
        }
    }
    fx_close(&f);

    /* A percent, not metres: 10 puts the first obstacle at a tenth of the lap. */
    env_fixture g = {0};
    cfg.race.min_distance_between_obstacles = 10.0;
    cfg.race.number_of_obstacles = 1;
    open_shared(&g, &cfg, "reinvent_base", 1);
    TD_ASSERT_NEAR(g.params[0].objects_distance[0], 0.1 * L, 0.03);
    fx_close(&g);

    /* The reverse direction measures from the start line along the reversed track. */
    env_fixture h = {0};
    cfg.race.min_distance_between_obstacles = 2.0;
    cfg.race.number_of_obstacles = 2;
    cfg.race.reverse_dir = 1;
    open_shared(&h, &cfg, "reinvent_base", 1);
    TD_ASSERT_EQ_INT(h.params[0].is_reversed, 1);
    TD_ASSERT_NEAR(h.params[0].objects_distance[0], 0.02 * L, 0.03);
    TD_ASSERT_NEAR(h.params[0].objects_distance[1], L - 1.0, 0.03);
    fx_close(&h);
}

TD_TEST(randomized_obstacles_are_perturbed_between_their_neighbours)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.race.number_of_obstacles = 4;
    cfg.race.randomize_obstacle_locations = 1;
    cfg.race.min_distance_between_obstacles = 10.0; /* 10 % of the lap between them */
    open_shared(&f, &cfg, "reinvent_base", 1);
    double L = td_vecenv_track(&f.env, 0)->length, gap = 0.1 * L;
    int moved = 0, lanes[2] = {0, 0};
    for (int ep = 0; ep < 30; ep++) {
        const td_params *p = &f.params[0];
        TD_ASSERT_EQ_INT(p->n_objects, 4);
        for (int k = 0; k < 4; k++) {
            double s = p->objects_distance[k];
            /* Each one between its neighbours kept a gap away, within [gap, L - 1]. */
            TD_ASSERT(s > gap - 0.03 && s < L - 1.0 + 0.03);
            if (k > 0)
                TD_ASSERT_GT(s - p->objects_distance[k - 1], gap - 0.06);
            moved += fabs(s - linspace(gap, L - 1.0, 4, k)) > 0.05;
            lanes[p->objects_left_of_center[k] ? 1 : 0]++;
        }
        prepare_step(&f);
        td_vecenv_teleport(&f.env, 0, td_vecenv_car(&f.env, 0)->x + 50.0,
                           td_vecenv_car(&f.env, 0)->y + 50.0, 0.0, 0.0);
        step_n(&f, 1, 0.0, 1.0);
        TD_ASSERT_EQ_INT(f.dones[0], 1);
    }
    TD_ASSERT_GT(moved, 60);
    TD_ASSERT(lanes[0] > 20 && lanes[1] > 20);
    fx_close(&f);
}

TD_TEST(bots_start_from_the_start_line_inner_lane_first)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.race.race_type = TD_RACE_HEAD_TO_BOT;
    cfg.race.number_of_bot_cars = 3;
    open_shared(&f, &cfg, "reinvent_base", 2);
    const td_track *t = td_vecenv_track(&f.env, 0);
    double L = t->length;
    /* BotCarsCtrl: linspace(MIN_DISTANCE_BETWEEN_BOT_CARS = 2 m, L - 1, 3) = 2.00, 9.36,
     * 16.71 m (audit), inner lane first, for a car starting anywhere (car 1: half a lap). */
    const double dr[3] = {2.00, 9.36, 16.71};
    for (int car = 0; car < 2; car++) {
        const td_params *p = &f.params[car];
        TD_ASSERT_EQ_INT(p->n_objects, 3);
        for (int k = 0; k < 3; k++) {
            double s = linspace(2.0, L - 1.0, 3, k), x, y;
            TD_ASSERT_NEAR(s, dr[k], 0.01);
            td_track_lane_point(t, s, (k & 1) ? -1 : 1, &x, &y);
            TD_ASSERT_NEAR(p->objects_location[k][0], x, 0.02);
            TD_ASSERT_NEAR(p->objects_location[k][1], y, 0.02);
        }
    }
    fx_close(&f);

    /* MIN_DISTANCE_BETWEEN_BOT_CARS is metres; randomized bots keep it between them. */
    env_fixture g = {0};
    cfg.race.min_distance_between_bot_cars = 4.0;
    cfg.race.randomize_bot_car_locations = 1;
    cfg.race.number_of_bot_cars = 2;
    open_shared(&g, &cfg, "reinvent_base", 1);
    const td_params *p = &g.params[0];
    TD_ASSERT_GT(p->objects_distance[0], 4.0 - 0.05);
    TD_ASSERT_GT(p->objects_distance[1] - p->objects_distance[0], 4.0 - 0.1);
    TD_ASSERT_LT(p->objects_distance[1], L - 1.0 + 0.05);
    fx_close(&g);
}

/* DeepRacer sets no limit on the counts (the console's were 6 and 4): 20 obstacles and 8 bots
 * are all placed by DeepRacer's formulas, obstacles first. */
TD_TEST(many_obstacles_and_bots_are_all_placed)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.race.race_type = TD_RACE_HEAD_TO_BOT;
    cfg.race.number_of_obstacles = 20;
    cfg.race.number_of_bot_cars = 8;
    open_shared(&f, &cfg, "reinvent_base", 1);
    const td_track *t = td_vecenv_track(&f.env, 0);
    double L = t->length;
    const td_params *p = &f.params[0];
    TD_ASSERT_EQ_INT(p->n_objects, 28);
    for (int k = 0; k < 28; k++) {
        int bot = k >= 20, i = bot ? k - 20 : k;
        double s = bot ? linspace(2.0, L - 1.0, 8, i) : linspace(0.02 * L, L - 1.0, 20, i), x, y;
        td_track_lane_point(t, s, (i & 1) ? -1 : 1, &x, &y);
        TD_ASSERT_NEAR(p->objects_location[k][0], x, 0.02);
        TD_ASSERT_NEAR(p->objects_location[k][1], y, 0.02);
    }
    /* The params a reward function sees after a step carry every object. */
    step_n(&f, 2, 0.0, 1.0);
    TD_ASSERT_EQ_INT(td_vecenv_step_params(&f.env, 0)->n_objects, 28);
    fx_close(&f);
}

/* DeepRacer sets no limit on objects; a trackday world holds TD_MAX_OBJECTS (more than stand
 * nose to tail in both lanes of any route), all placed by DeepRacer's formulas and all in the
 * params after a step; one more is an error that says so. */
TD_TEST(a_world_holds_as_many_objects_as_fit_on_any_route)
{
    TD_ASSERT_GE(TD_MAX_OBJECTS, 1024);
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.race.race_type = TD_RACE_HEAD_TO_BOT;
    int nb = 24, no = TD_MAX_OBJECTS - nb;
    cfg.race.number_of_obstacles = no;
    cfg.race.number_of_bot_cars = nb;
    open_shared(&f, &cfg, "penbay_pro", 1);
    const td_track *t = td_vecenv_track(&f.env, 0);
    double L = t->length;
    const td_params *p = &f.params[0];
    TD_ASSERT_EQ_INT(p->n_objects, TD_MAX_OBJECTS);
    static const int ks[] = {
        0, 1, 500, TD_MAX_OBJECTS - 25, TD_MAX_OBJECTS - 24, TD_MAX_OBJECTS - 1};
    for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
        int k = ks[j], bot = k >= no, i = bot ? k - no : k;
        double s = bot ? linspace(2.0, L - 1.0, nb, i) : linspace(0.02 * L, L - 1.0, no, i), x, y;
        td_track_lane_point(t, s, (i & 1) ? -1 : 1, &x, &y);
        TD_ASSERT_NEAR(p->objects_location[k][0], x, 0.02);
        TD_ASSERT_NEAR(p->objects_location[k][1], y, 0.02);
    }
    step_n(&f, 2, 0.0, 1.0);
    p = td_vecenv_step_params(&f.env, 0);
    TD_ASSERT_EQ_INT(p->n_objects, TD_MAX_OBJECTS);
    TD_ASSERT(p->objects_distance[TD_MAX_OBJECTS - 1] > 0);
    fx_close(&f);
    td_sim_config_default(&cfg);
    cfg.race.number_of_obstacles = no;
    cfg.race.number_of_bot_cars = nb + 1;
    td_track t2;
    td_vecenv env;
    td_err err;
    char path[1024];
    TD_FMT(path, "%s/penbay_pro.npy", TD_SHARED_TRACKS);
    TD_ASSERT_OK(td_track_load(&t2, path, &err));
    TD_ASSERT_EQ_INT(td_vecenv_init(&env, &cfg, &t2, 1, &err), TD_ERANGE);
    char want[128];
    TD_FMT(want, "%d obstacles and %d bots: a world holds at most %d objects", no, nb + 1,
           TD_MAX_OBJECTS);
    TD_ASSERT_CONTAINS(err.msg, want);
    td_track_free(&t2);
}

TD_TEST(objects_spawn_by_count_in_every_race_type)
{
    td_race_config rc;
    td_race_config_default(&rc);
    /* DeepRacer's defaults for absent keys: nothing on the track. */
    TD_ASSERT_EQ_INT(rc.number_of_obstacles, 0);
    TD_ASSERT_EQ_INT(rc.number_of_bot_cars, 0);
    TD_ASSERT_NEAR(rc.min_distance_between_bot_cars, 2.0, 0);
    TD_ASSERT_NEAR(rc.penalty_seconds, 2.0, 0);
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    /* A time trial's params carry DeepRacer's defaults for the object keys. */
    TD_ASSERT_EQ_INT(f.params[0].n_objects, 0);
    TD_ASSERT_EQ_INT(f.params[0].closest_objects[0], 0);
    TD_ASSERT_EQ_INT(f.params[0].closest_objects[1], 0);
    TD_ASSERT_EQ_INT(f.params[0].object_in_camera, 0);
    TD_ASSERT_EQ_INT(f.params[0].is_crashed, 0);
    step_n(&f, 3, 0.0, 1.0);
    TD_ASSERT_EQ_INT(f.params[0].n_objects, 0);
    fx_close(&f);
    /* A "time trial" with counts has obstacles and bots, obstacles first. */
    env_fixture g = {0};
    cfg.race.race_type = TD_RACE_TIME_TRIAL;
    cfg.race.number_of_obstacles = 2;
    cfg.race.number_of_bot_cars = 1;
    fx_square(&g, &cfg, 1);
    const td_box *boxes;
    TD_ASSERT_EQ_INT(td_vecenv_boxes(&g.env, 0, &boxes), 3);
    TD_ASSERT_EQ_INT(boxes[0].kind, TD_BOX_OBSTACLE);
    TD_ASSERT_EQ_INT(boxes[1].kind, TD_BOX_OBSTACLE);
    TD_ASSERT_EQ_INT(boxes[2].kind, TD_BOX_CAR);
    /* With bots in the race every object gets the bots' speed (DeepRacer's TrackData). */
    TD_ASSERT_NEAR(g.params[0].objects_speed[0], cfg.race.bot_car_speed, 0);
    fx_close(&g);
    /* A race type from the command line brings the console's counts. */
    td_race_config_set_type(&rc, TD_RACE_OBJECT_AVOIDANCE);
    TD_ASSERT_EQ_INT(rc.number_of_obstacles, 3);
    TD_ASSERT_EQ_INT(rc.number_of_bot_cars, 0);
    td_race_config_set_type(&rc, TD_RACE_HEAD_TO_BOT);
    TD_ASSERT_EQ_INT(rc.number_of_obstacles, 0);
    TD_ASSERT_EQ_INT(rc.number_of_bot_cars, 3);
    rc.number_of_bot_cars = 2;
    td_race_config_set_type(&rc, TD_RACE_HEAD_TO_BOT);
    TD_ASSERT_EQ_INT(rc.number_of_bot_cars, 2);
    td_race_config_set_type(&rc, TD_RACE_TIME_TRIAL);
    TD_ASSERT_EQ_INT(rc.number_of_bot_cars, 0);
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
        /* Keep the car near the start so it never meets the bot. It moves a centimetre
         * between steps: DeepRacer's immobilized rule compares the poses of consecutive
         * steps, and the same pose every step would end the episode. */
        put(&f, 0.2 + 0.01 * (k & 1), 0.0, 0);
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

/* Records each reward call's first params. */
typedef struct first_call {
    int calls;
    td_params first;
} first_call;

static void first_call_fn(void *user, const td_params *params, int n, float *out)
{
    first_call *fc = user;
    if (fc->calls++ == 0)
        fc->first = params[0];
    for (int i = 0; i < n; i++)
        out[i] = 2.0f;
}

TD_TEST(every_episode_starts_with_deepracers_prepare_step)
{
    for (int mode = 0; mode < 3; mode++) {
        env_fixture f = {0};
        td_sim_config cfg;
        td_sim_config_default(&cfg);
        cfg.mode = (td_sim_mode)mode;
        fx_square(&f, &cfg, 1);
        first_call fc = {0};
        f.env.reward_fn = first_call_fn;
        f.env.reward_user = &fc;
        td_car_state start = *td_vecenv_car(&f.env, 0);
        /* Step 1: the chosen action (full throttle, full left) is not applied. */
        step_n(&f, 1, 30.0, 4.0);
        TD_ASSERT_EQ_INT(fc.calls, 0);
        TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_PREPARE);
        TD_ASSERT_STREQ(td_episode_status_name(TD_EP_PREPARE), "prepare");
        TD_ASSERT_EQ(f.rewards[0], 0.0f);
        TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->x, start.x, 0);
        TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->yaw, start.yaw, 0);
        TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->speed, 0.0, 0);
        /* Its params: step 1, read at the reset (clock 0), the chosen action, the start
         * pose. */
        TD_ASSERT_EQ_INT(f.params[0].steps, 1);
        TD_ASSERT_NEAR(f.params[0].sim_time, 0.0, 0);
        TD_ASSERT_NEAR(f.params[0].speed, 4.0, 0);
        TD_ASSERT_NEAR(f.params[0].steering_angle, 30.0, 0);
        TD_ASSERT_NEAR(f.params[0].x, start.x + 0.14, 1e-9);
        /* Step 2 drives, and is the reward function's first call: steps == 2, one step of
         * clock, and still the start pose at rest, where its action was chosen (DeepRacer's
         * first two simtrace rows have the same X, Y). */
        step_n(&f, 1, 0.0, 4.0);
        TD_ASSERT_EQ_INT(fc.calls, 1);
        TD_ASSERT_EQ_INT(fc.first.steps, 2);
        TD_ASSERT_NEAR(fc.first.sim_time, 1.0 / 15.0, 1e-12);
        TD_ASSERT_NEAR(fc.first.x, start.x + 0.14, 1e-9);
        TD_ASSERT_NEAR(fc.first.speed, 4.0, 0);
        TD_ASSERT_EQ(f.rewards[0], 2.0f);
        TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_IN_PROGRESS);
        TD_ASSERT_GT(td_vecenv_car(&f.env, 0)->x, start.x);
        /* The episode's reward total has only the driving step. */
        TD_ASSERT_NEAR(td_vecenv_current_episode(&f.env, 0)->total_reward, 2.0, 0);
        fx_close(&f);
    }
}

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
    /* env->params keep the step that completed the lap; the car stands on the start line
     * for the new episode. */
    TD_ASSERT_NEAR(f.params[0].progress, 100.0, 0);
    TD_ASSERT_EQ_INT(f.params[0].steps, e->steps);
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->x, 5.0, 1e-9);
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->y, 0.0, 1e-9);
    TD_ASSERT_EQ_INT(td_vecenv_current_episode(&f.env, 0)->steps, 0);
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
    /* The last step's params are kept, in env->params too; the car is on its new start. */
    TD_ASSERT_EQ_INT(td_vecenv_last_params(&f.env, 0)->is_offtrack, 1);
    TD_ASSERT_LT(td_vecenv_last_params(&f.env, 0)->y, -0.6);
    TD_ASSERT_EQ_INT(f.params[0].is_offtrack, 1);
    TD_ASSERT_NEAR(f.params[0].y, td_vecenv_last_params(&f.env, 0)->y, 0);
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->y, 0.0, 1e-9);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->events.off_tracks, 1);
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
    prepare_step(&f); /* held: it does not count as a reversing step */
    /* The first driving step's params still show the start pose (its action has not moved
     * the car yet), so progress first falls on the second: 15 falls end it on the 16th. */
    for (int k = 1; k <= 15; k++) {
        step_n(&f, 1, 0.0, 1.0);
        TD_ASSERT_EQ_INT(f.dones[0], 0);
    }
    step_n(&f, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->status, TD_EP_REVERSED);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->steps, 17);
    fx_close(&f);
}

TD_TEST(episode_immobilized_after_15_steps)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.car.speed_min = 0.0; /* the only way to stand still */
    fx_square(&f, &cfg, 1);
    /* The prepare step stands still too, but only driving steps count (DeepRacer's rule
     * counts in the RUN phase): 15 of them after it. */
    for (int k = 1; k <= 15; k++) {
        step_n(&f, 1, 0.0, 0.0);
        TD_ASSERT_EQ_INT(f.dones[0], 0);
    }
    step_n(&f, 1, 0.0, 0.0);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->status, TD_EP_IMMOBILIZED);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->steps, 16);
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
    cfg.max_steps = 5; /* the prepare step counts */
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
    prepare_step(&f);
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
    prepare_step(&g);
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
        prepare_step(&f);
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

    /* Several cars: each starts at START_POSITION_OFFSET, as each DeepRacer worker does
     * (rollout_agent_ctrl.py: start_ndist = START_POSITION_OFFSET), and advances by itself. */
    cfg.race.start_position_offset = 0.25;
    env_fixture g = {0};
    fx_square(&g, &cfg, 4);
    for (int i = 0; i < 4; i++) {
        TD_ASSERT_NEAR(td_vecenv_current_episode(&g.env, i)->start_ndist, 0.25, 1e-12);
        TD_ASSERT_NEAR(td_vecenv_car(&g.env, i)->x, 10.0, 1e-9); /* 10 m along: the right edge */
        TD_ASSERT_NEAR(td_vecenv_car(&g.env, i)->y, 5.0, 1e-9);
    }
    fx_close(&g);
    /* trackday's extension (train --spread-starts): car i of n starts i/n further. */
    cfg.race.spread_starts = 1;
    env_fixture h = {0};
    fx_square(&h, &cfg, 4);
    for (int i = 0; i < 4; i++)
        TD_ASSERT_NEAR(td_vecenv_current_episode(&h.env, i)->start_ndist, fmod(0.25 + i / 4.0, 1.0),
                       1e-12);
    fx_close(&h);
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
        prepare_step(&f);
        /* Episode ep - 1 runs: forward, then reversed. */
        TD_ASSERT_EQ_INT(f.params[0].is_reversed, (ep - 1) & 1);
        const td_car_state *s = td_vecenv_car(&f.env, 0);
        td_vecenv_teleport(&f.env, 0, s->x - 1.0 * s->sin_yaw, s->y + 1.0 * s->cos_yaw, s->yaw, 0);
        step_n(&f, 1, 0.0, 0.5);
        TD_ASSERT_EQ_INT(f.dones[0], 1);
        TD_ASSERT_EQ_INT(f.params[0].is_reversed, (ep - 1) & 1);
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
        prepare_step(&f);
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

/* Counts the reward callback's rows, and checks that it never sees a held step. */
typedef struct reward_seen {
    int calls, rows;
} reward_seen;

static void reward_seen_fn(void *user, const td_params *params, int n, float *out)
{
    reward_seen *r = user;
    r->calls++;
    r->rows += n;
    for (int i = 0; i < n; i++) {
        TD_ASSERT_GE(params[i].steps, 2); /* never the prepare step */
        out[i] = 1.0f;
    }
}

TD_TEST(continuous_offtrack_penalty_is_a_pause_at_the_reset_pose)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.penalties.max_resets = 10;
    cfg.penalties.off_track_penalty_s = 3.0;
    fx_square(&f, &cfg, 1);
    reward_seen seen = {0};
    f.env.reward_fn = reward_seen_fn;
    f.env.reward_user = &seen;
    step_n(&f, 15, 0.0, 1.0);
    double before = f.params[0].progress;
    double clock = f.params[0].sim_time;
    TD_ASSERT_NEAR(clock, 14.0 / 15.0, 1e-9); /* the 15th step's pose was read after 14 */
    /* Leave the road to the right. */
    const td_car_state *s = td_vecenv_car(&f.env, 0);
    td_vecenv_teleport(&f.env, 0, s->x, -0.8, 0.0, 1.0);
    step_n(&f, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(f.dones[0], 0);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_OFF_TRACK);
    /* The observation is the state after the step's physics, before the reset moved the
     * car (DeepRacer's sensors are read before the reset): still 0.8 m right of the centre
     * (lateral offset over half the width, clipped to [-2, 2]). */
    TD_ASSERT_LT(f.obs[4], -1.5f);
    /* The event step itself is driven: the reward function sees it. */
    TD_ASSERT_EQ(f.rewards[0], 1.0f);
    TD_ASSERT_NEAR(td_vecenv_step_pause_s(&f.env, 0), 3.0, 1e-12);
    const td_episode_info *e = td_vecenv_current_episode(&f.env, 0);
    TD_ASSERT_EQ_INT(e->events.off_tracks, 1);
    TD_ASSERT_EQ_INT(e->events.resets, 1);
    TD_ASSERT_NEAR(e->events.penalty_s, 3.0, 1e-12);
    /* The clock does not jump: the penalty is spent in pause steps. */
    TD_ASSERT_NEAR(f.params[0].sim_time, clock + 1.0 / 15.0, 1e-9);
    /* Back on the outer (right, y = -0.25) lane at the previous progress, at rest. */
    s = td_vecenv_car(&f.env, 0);
    double rx = 5.0 + before / 100.0 * 40.0;
    TD_ASSERT_NEAR(s->y, -0.25, 1e-9);
    TD_ASSERT_NEAR(s->x, rx, 1e-9);
    TD_ASSERT_NEAR(s->speed, 0.0, 0);
    /* The step as the reward saw it stays in env->params: off the road, before the reset. */
    const td_params *sp = td_vecenv_step_params(&f.env, 0);
    TD_ASSERT_EQ_INT(sp->is_offtrack, 1);
    TD_ASSERT_LT(sp->y, -0.6);
    TD_ASSERT_EQ(sp, &f.params[0]);
    /* 3 s at 15 steps a second: 45 pause steps, held at the reset pose, reward 0 and the
     * reward function not called, pause_duration counting down to 0. */
    int calls = seen.calls;
    for (int k = 1; k <= 45; k++) {
        step_n(&f, 1, 0.0, 4.0);
        TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_PAUSE);
        TD_ASSERT_EQ(f.rewards[0], 0.0f);
        TD_ASSERT_NEAR(td_vecenv_step_pause_s(&f.env, 0), 3.0 - k / 15.0, 1e-9);
        TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->x, rx, 0);
        TD_ASSERT_NEAR(f.params[0].sim_time, clock + (k + 1) / 15.0, 1e-9);
        /* params show the reset pose and carry the chosen action, as DeepRacer's pause rows
         * do; the observation is the reset pose. */
        TD_ASSERT(f.params[0].all_wheels_on_track);
        TD_ASSERT_NEAR(f.params[0].y, -0.25, 1e-9);
        TD_ASSERT_NEAR(f.params[0].speed, 4.0, 0);
        TD_ASSERT_NEAR(f.obs[4], -0.5f, 1e-6);
    }
    TD_ASSERT_EQ_INT(seen.calls, calls);
    TD_ASSERT_EQ(td_vecenv_step_params(&f.env, 0), &f.params[0]);
    /* Then it drives on. */
    step_n(&f, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_IN_PROGRESS);
    TD_ASSERT_GT(td_vecenv_car(&f.env, 0)->x, rx);
    TD_ASSERT_EQ_INT(seen.calls, calls + 1);
    TD_ASSERT_NEAR(td_vecenv_step_pause_s(&f.env, 0), 0.0, 0);
    /* 1 prepare + 14 + 1 event + 45 pause + 1 steps. */
    TD_ASSERT_EQ_INT(td_vecenv_current_episode(&f.env, 0)->steps, 62);
    fx_close(&f);
}

TD_TEST(continuous_crash_penalty_resets_behind_on_the_other_lane)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.penalties.max_resets = 10;
    cfg.race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    cfg.race.n_object_positions = 1;
    cfg.race.object_positions[0][0] = 0.1; /* arc 4: box at (9, 0.25) */
    cfg.race.object_positions[0][1] = 1;
    fx_square(&f, &cfg, 1);
    double clock = f.params[0].sim_time;
    int k = 0;
    while (td_vecenv_current_episode(&f.env, 0)->events.crashes == 0 && k++ < 200)
        step_n(&f, 1, 0.0, 1.0);
    const td_episode_info *e = td_vecenv_current_episode(&f.env, 0);
    TD_ASSERT_EQ_INT(e->events.crashes, 1);
    TD_ASSERT_EQ_INT(f.dones[0], 0);
    TD_ASSERT_NEAR(e->events.penalty_s, 5.0, 1e-12);
    /* The crash step's params were read before its physics, after k - 1 steps. */
    TD_ASSERT_NEAR(f.params[0].sim_time, clock + (k - 1) / 15.0, 1e-9);
    TD_ASSERT_EQ_INT(f.params[0].is_crashed, 1);
    const td_car_state *s = td_vecenv_car(&f.env, 0);
    TD_ASSERT_NEAR(s->x, 8.0, 1e-9);   /* 1 m behind arc 4 */
    TD_ASSERT_NEAR(s->y, -0.25, 1e-9); /* the outer lane */
    /* 5 s of pause steps, then it drives on past the box. */
    step_n(&f, 75, 0.0, 1.0);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_PAUSE);
    TD_ASSERT_NEAR(td_vecenv_car(&f.env, 0)->x, 8.0, 1e-9);
    step_n(&f, 40, 0.0, 1.0);
    TD_ASSERT_GT(td_vecenv_car(&f.env, 0)->x, 9.5);
    TD_ASSERT_EQ_INT(td_vecenv_current_episode(&f.env, 0)->events.crashes, 1);
    TD_ASSERT_NEAR(f.params[0].sim_time, clock + (k + 114) / 15.0, 1e-9);
    fx_close(&f);
}

/* ---- DeepRacer's step timing ------------------------------------------------------------- */

/*
 * DeepRacer's environment step (deepracer_racetrack_env.py _update_state) computes the params,
 * the reward and the end rules (update_agent) while the physics is paused, at the pose where
 * the policy chose the action; then it runs the physics, reads the sensors for the next
 * decision and applies the step's event (judge_action). These tests hold trackday to that.
 */

/* Keeps the params of the reward callback's last call. */
typedef struct last_call {
    int calls;
    td_params p;
} last_call;

static void last_call_fn(void *user, const td_params *params, int n, float *out)
{
    last_call *lc = user;
    lc->calls++;
    lc->p = params[0];
    for (int i = 0; i < n; i++)
        out[i] = (float)params[i].x; /* a reward that depends on the pose */
}

TD_TEST(reward_sees_the_pose_where_the_action_was_chosen)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    last_call lc = {0};
    f.env.reward_fn = last_call_fn;
    f.env.reward_user = &lc;
    prepare_step(&f);
    for (int k = 1; k <= 20; k++) {
        td_car_state before = *td_vecenv_car(&f.env, 0);
        double steer = 12.0 * sin(0.7 * k), speed = 1.0 + 0.1 * k;
        step_n(&f, 1, steer, speed);
        const td_car_state *after = td_vecenv_car(&f.env, 0);
        TD_ASSERT_EQ_INT(lc.calls, k);
        /* The reward input: the pose the action was chosen at, the action's commands. */
        TD_ASSERT_NEAR(lc.p.x, before.x + 0.14 * before.cos_yaw, 1e-12);
        TD_ASSERT_NEAR(lc.p.y, before.y + 0.14 * before.sin_yaw, 1e-12);
        TD_ASSERT_NEAR(lc.p.heading, before.yaw * 180.0 / M_PI, 1e-9);
        TD_ASSERT_NEAR(lc.p.steering_angle, (float)steer, 1e-6);
        TD_ASSERT_NEAR(lc.p.speed, (float)speed, 1e-6);
        TD_ASSERT_EQ_INT(lc.p.steps, k + 1);
        TD_ASSERT_NEAR(lc.p.sim_time, k / 15.0, 1e-9);
        TD_ASSERT_EQ(f.rewards[0], (float)lc.p.x);
        /* The physics then moved the car, and the observation is the state after it. */
        TD_ASSERT_GT(hypot(after->x - before.x, after->y - before.y), 0.005);
        TD_ASSERT_NEAR(f.obs[0], after->speed / cfg.car.speed_max, 1e-6);
        TD_ASSERT_NEAR(f.obs[1], after->steer / (cfg.car.steer_max_deg * M_PI / 180.0), 1e-6);
    }
    fx_close(&f);
}

/* True when all four wheel centres of the car are below the square's bottom edge's outer
 * border (y = -0.5, for 1 < x < 9). */
static int wheels_below_bottom(const td_car_config *car, const td_car_state *s)
{
    double w[4][2];
    td_car_wheels(car, s, w);
    for (int k = 0; k < 4; k++)
        if (!(w[k][1] < -0.5 && w[k][0] > 1 && w[k][0] < 9))
            return 0;
    return 1;
}

TD_TEST(offtrack_is_registered_on_the_step_after_the_wheels_leave)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    prepare_step(&f);
    /* Heading for the outer border at 30 degrees. */
    td_vecenv_teleport(&f.env, 0, 5.5, 0.0, -M_PI / 6, 0.0);
    int left_at = 0;
    td_car_state off = {0};
    for (int k = 1; k <= 40 && !f.dones[0]; k++) {
        step_n(&f, 1, 0.0, 1.5);
        if (left_at) {
            /* The step after the physics took the last wheel off: its params show the car
             * where that step left it, all wheels off, and the episode ends there. */
            TD_ASSERT_EQ_INT(k, left_at + 1);
            TD_ASSERT_EQ_INT(f.dones[0], 1);
            TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_OFF_TRACK);
            const td_params *lp = td_vecenv_last_params(&f.env, 0);
            TD_ASSERT_EQ_INT(lp->is_offtrack, 1);
            TD_ASSERT_NEAR(lp->x, off.x + 0.14 * off.cos_yaw, 1e-12);
            TD_ASSERT_NEAR(lp->y, off.y + 0.14 * off.sin_yaw, 1e-12);
            /* The observation is the state after this step's physics, further off, not the
             * new episode's start: DeepRacer reads the sensors before it resets the car. */
            TD_ASSERT_LT(f.obs[4], -1.0f);
            break;
        }
        TD_ASSERT_EQ_INT(f.dones[0], 0);
        TD_ASSERT_EQ_INT(f.params[0].is_offtrack, 0);
        TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_IN_PROGRESS);
        if (wheels_below_bottom(&cfg.car, td_vecenv_car(&f.env, 0))) {
            left_at = k;
            off = *td_vecenv_car(&f.env, 0);
        }
    }
    TD_ASSERT_GT(left_at, 1);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    /* The new episode's prepare step: held on the start line, which its observation shows. */
    prepare_step(&f);
    TD_ASSERT_NEAR(f.obs[4], 0.0f, 1e-6);
    fx_close(&f);
}

TD_TEST(lap_is_registered_on_the_step_after_the_line)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    fx_square(&f, &cfg, 1);
    for (double a = 5; a < 40; a += 5)
        put(&f, a, 0.0, 0);
    put(&f, 39.0, 0.0, 0);
    prepare_step(&f);
    /* The lap completes when the model point passes the start point (5, 0) again. */
    int crossed = 0;
    long steps = 1;
    for (int k = 0; k < 40 && !f.dones[0]; k++) {
        double mx_before, my_before, mx, my;
        td_car_model_point(&cfg.car, td_vecenv_car(&f.env, 0), &mx_before, &my_before);
        step_n(&f, 1, 0.0, 2.0);
        steps++;
        td_car_model_point(&cfg.car, td_vecenv_car(&f.env, 0), &mx, &my);
        if (crossed) {
            TD_ASSERT_EQ_INT(f.dones[0], 1);
            break;
        }
        /* The step whose physics crosses the line ends nothing: its params were read before. */
        TD_ASSERT_EQ_INT(f.dones[0], 0);
        TD_ASSERT_LT(f.params[0].progress, 100.0);
        crossed = mx_before < 5.0 && mx >= 5.0;
    }
    TD_ASSERT(crossed);
    TD_ASSERT_EQ_INT(f.dones[0], 1);
    const td_episode_info *e = td_vecenv_last_episode(&f.env, 0);
    TD_ASSERT_EQ_INT(e->status, TD_EP_LAP_COMPLETE);
    TD_ASSERT_EQ_INT(e->steps, steps);
    TD_ASSERT_NEAR(f.params[0].progress, 100.0, 0);
    /* DeepRacer's official time: from the reset to the end of the step that registered the
     * lap, the one after the crossing. */
    TD_ASSERT_NEAR(e->lap_time_s, steps / 15.0, 1e-9);
    fx_close(&f);
}

/* Drives car 0 with per-step random actions (seeded) and collects its simtrace rows and the
 * car's pose before each step. Returns the number of rows. */
static int random_simtrace(env_fixture *f, int n, uint64_t seed, td_simtrace_row *rows,
                           td_car_state *before, float (*acts)[2])
{
    td_rng rng;
    td_rng_seed(&rng, seed, 3);
    for (int k = 0; k < n; k++) {
        acts[k][0] = (float)td_rng_range(&rng, -30.0, 30.0);
        acts[k][1] = (float)td_rng_range(&rng, 1.0, 2.5);
        before[k] = *td_vecenv_car(&f->env, 0);
        f->actions[0] = acts[k][0];
        f->actions[1] = acts[k][1];
        td_vecenv_step(&f->env);
        td_simtrace_row_from_step(&rows[k], &f->env, 0);
    }
    return n;
}

TD_TEST(simtrace_row_pairs_each_action_with_the_pose_before_it)
{
    enum { N = 400 };
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg); /* training: random actions end episodes often */
    fx_square(&f, &cfg, 1);
    td_simtrace_row *rows = td_calloc(N, sizeof(*rows));
    td_car_state *before = td_calloc(N, sizeof(*before));
    float(*acts)[2] = td_calloc(N, sizeof(*acts));
    random_simtrace(&f, N, 5, rows, before, acts);
    /* The first two rows of every episode: the prepare step and the first driving step,
     * both at the start pose (as in DeepRacer's logs). */
    TD_ASSERT_STREQ(rows[0].episode_status, "prepare");
    TD_ASSERT_NEAR(rows[1].x, rows[0].x, 0);
    TD_ASSERT_NEAR(rows[1].y, rows[0].y, 0);
    TD_ASSERT_NEAR(rows[0].tstamp, 1.0 / 15.0, 1e-12); /* stamped when its step ended */
    int episodes = 0, moved = 0;
    for (int k = 0; k < N; k++) {
        double mx = before[k].x + 0.14 * before[k].cos_yaw;
        double my = before[k].y + 0.14 * before[k].sin_yaw;
        /* Row k: the pose action k was chosen at, action k, stamped at the end of step k. */
        TD_ASSERT_NEAR(rows[k].x, mx, 1e-12);
        TD_ASSERT_NEAR(rows[k].y, my, 1e-12);
        TD_ASSERT_NEAR(rows[k].steer_deg, acts[k][0], 1e-6);
        TD_ASSERT_NEAR(rows[k].throttle, acts[k][1], 1e-6);
        TD_ASSERT_NEAR(rows[k].tstamp, (k + 1) / 15.0, 1e-9);
        episodes += rows[k].done;
        if (k + 1 < N && !rows[k].done && rows[k].episode == rows[k + 1].episode) {
            /* Row k + 1 holds the pose action k led to. */
            double ax = before[k + 1].x, ay = before[k + 1].y;
            TD_ASSERT_NEAR(rows[k + 1].x, ax + 0.14 * before[k + 1].cos_yaw, 1e-12);
            moved += hypot(ax - before[k].x, ay - before[k].y) > 0.03;
        }
    }
    TD_ASSERT_GT(episodes, 5);
    TD_ASSERT_GT(moved, N / 2);
    td_free(rows);
    td_free(before);
    td_free(acts);
    fx_close(&f);
}

static double corr(const double *a, const double *b, int n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= n;
    mb /= n;
    for (int i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

/*
 * The correlations of the yaw change between simtrace rows k and k + 1 of one episode with
 * the steering of rows k - 1, k and k + 1, for per-step random actions driven by `car`.
 */
static void yaw_change_correlations(const char *car, double out[3])
{
    enum { N = 3000 };
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    TD_ASSERT_OK(td_car_preset(&cfg.car, car));
    fx_square(&f, &cfg, 1);
    td_simtrace_row *rows = td_calloc(N, sizeof(*rows));
    td_car_state *before = td_calloc(N, sizeof(*before));
    float(*acts)[2] = td_calloc(N, sizeof(*acts));
    double *dyaw = td_calloc(N, sizeof(double)), *s0 = td_calloc(N, sizeof(double)),
           *s1 = td_calloc(N, sizeof(double)), *sm = td_calloc(N, sizeof(double));
    random_simtrace(&f, N, 11, rows, before, acts);
    int m = 0;
    for (int k = 1; k + 1 < N; k++) {
        /* Rows k - 1 .. k + 1 of one episode, rows k and k + 1 both driving. */
        const td_simtrace_row *a = &rows[k - 1], *b = &rows[k], *c = &rows[k + 1];
        if (a->episode != c->episode || c->steps != a->steps + 2 ||
            strcmp(b->episode_status, "in_progress") != 0 ||
            strcmp(a->episode_status, "prepare") == 0)
            continue;
        double d = c->yaw_deg - b->yaw_deg;
        d -= 360.0 * floor((d + 180.0) / 360.0);
        dyaw[m] = d;
        sm[m] = a->steer_deg;
        s0[m] = b->steer_deg;
        s1[m] = c->steer_deg;
        m++;
    }
    TD_ASSERT_GT(m, 1000);
    out[0] = corr(dyaw, sm, m);
    out[1] = corr(dyaw, s0, m);
    out[2] = corr(dyaw, s1, m);
    printf("  %s: corr(yaw change k..k+1, steer of row k-1, k, k+1) = %.2f %.2f %.2f (%d pairs)\n",
           car, out[0], out[1], out[2], m);
    td_free(rows);
    td_free(before);
    td_free(acts);
    td_free(dyaw);
    td_free(s0);
    td_free(s1);
    td_free(sm);
    fx_close(&f);
}

TD_TEST(simtrace_yaw_change_follows_its_own_rows_steering)
{
    /*
     * In DeepRacer's logs the yaw change between rows k and k + 1 goes with the steering of
     * rows k - 1 and k (the car responds with a delay and a lag), not with row k + 1's:
     * deepracer-utils' DRfC sample gives 0.40, 0.22 and -0.02. With actions drawn
     * independently every step, trackday's simtrace must show the same pattern: the change
     * goes with the steering of the rows up to k, and not at all with row k + 1's, which was
     * chosen after it. With a car that responds at once (the ideal preset) it is row k's own
     * steering; with DeepRacer's calibrated car (a 44 ms delay and a 0.15 s lag) mostly row
     * k - 1's.
     */
    double ideal[3], deepracer[3];
    yaw_change_correlations("ideal", ideal);
    TD_ASSERT_GT(ideal[1], 0.5);
    TD_ASSERT_LT(fabs(ideal[2]), 0.1);
    TD_ASSERT_GT(ideal[0], -0.1);
    yaw_change_correlations("deepracer", deepracer);
    TD_ASSERT_GT(deepracer[0] + deepracer[1], 0.5);
    TD_ASSERT_GT(deepracer[0], deepracer[1]); /* the delay: the previous row's steering leads */
    TD_ASSERT_GT(deepracer[1], -0.1);
    TD_ASSERT_LT(fabs(deepracer[2]), 0.1);
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

TD_TEST(vecenv_batched_reward_callback_and_no_allocation_per_step)
{
    td_track t;
    make_square(&t);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.threads = 2;
    cfg.mode = TD_MODE_CONTINUOUS;
    td_race_config_set_type(&cfg.race, TD_RACE_HEAD_TO_BOT);
    cfg.race.is_lane_change = 1;
    env_fixture f = {0};
    fx_open(&f, &cfg, &t, 8);
    reward_seen seen = {0};
    f.env.reward_fn = reward_seen_fn;
    f.env.reward_user = &seen;
    long live = td_alloc_live();
    td_rng act;
    td_rng_seed(&act, 3, 0);
    int calls = 0, rows = 0, held = 0, gathered = 0;
    for (int k = 0; k < 1000; k++) {
        for (int i = 0; i < 8; i++) {
            f.actions[2 * i] = (float)td_rng_range(&act, -30, 30);
            f.actions[2 * i + 1] = (float)td_rng_range(&act, 0.1, 4.0);
        }
        td_vecenv_step(&f.env);
        /* One call per step over the cars that drove (a held car's step is left out). */
        int driving = 0;
        for (int i = 0; i < 8; i++) {
            td_episode_status st = td_vecenv_step_status(&f.env, i);
            int h = st == TD_EP_PREPARE || st == TD_EP_PAUSE;
            driving += !h;
            held += h;
            TD_ASSERT(f.rewards[i] == (h ? 0.0f : 1.0f));
        }
        calls += driving > 0;
        rows += driving;
        if (driving > 0 && driving < 8) {
            /* Row q of the batch is the q-th driving car. */
            for (int i = 0, q = 0; i < 8; i++) {
                td_episode_status st = td_vecenv_step_status(&f.env, i);
                if (st != TD_EP_PREPARE && st != TD_EP_PAUSE)
                    TD_ASSERT_EQ_INT(td_vecenv_reward_car(&f.env, q++), i);
            }
            gathered++;
        }
    }
    TD_ASSERT_EQ_INT(td_alloc_live(), live);
    TD_ASSERT_EQ_INT(seen.calls, calls);
    TD_ASSERT_EQ_INT(seen.rows, rows);
    TD_ASSERT(held >= 8 && gathered > 0); /* the first step and later episodes' starts */
    TD_ASSERT_LT(calls, 1000);
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
    *incidents = e->events.off_tracks + e->events.crashes + e->events.resets + e->events.reverses +
                 e->events.immobilized;
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
    cfg.penalties.max_resets = TD_RESETS_UNLIMITED;
    cfg.laps = 2;
    td_race_config_set_type(&cfg.race, type);
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
    TD_ASSERT_LE(e->events.crashes * cfg.penalties.collision_penalty_s, e->events.penalty_s + 1e-9);
    TD_ASSERT_EQ_INT(td_vecenv_boxes(&f.env, 0, &(const td_box *){NULL}), 3);
    *crashes = e->events.crashes;
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
    cfg.race.number_of_obstacles = TD_MAX_OBJECTS + 1;
    TD_ASSERT_EQ_INT(td_vecenv_init(&env, &cfg, &t, 1, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "NUMBER_OF_OBSTACLES 1025");
    cfg.race.number_of_obstacles = 1000;
    cfg.race.number_of_bot_cars = 40;
    TD_ASSERT_EQ_INT(td_vecenv_init(&env, &cfg, &t, 1, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "1000 obstacles and 40 bots: a world holds at most 1024 objects");
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
        /* The scene, with the frame's effects (a randomized look may have sensor noise, new
         * every frame), renders the same frame as the observation. */
        td_scene sc;
        td_vecenv_scene(&f.env, 0, &sc);
        TD_ASSERT(sc.ground != NULL && sc.track == td_vecenv_track(&f.env, 0));
        uint8_t *again = td_malloc(160 * 120);
        const td_car_state *cs = td_vecenv_car(&f.env, 0);
        td_camera_frame fr;
        td_vecenv_camera_frame(&f.env, 0, &fr);
        td_camera_render_grey_frame(&cfg.camera, &sc, cs->x, cs->y, cs->yaw, &fr, again);
        TD_ASSERT_EQ(memcmp(again, camera, 160 * 120), 0);
        td_free(again);
        td_free(camera);
        fx_close(&f);
    }
    td_track_free(&t);
}

/*
 * The camera's motion blur smears by the car's turn rate: the heading's, which the grip
 * bounds. On a ring of radius 0.9 m and half width 0.6 m the default car at 2 m/s with full
 * left lock asks for v gain tan(30 deg) / L = 4.3 rad/s (8.6 m/s^2 sideways, against a grip
 * of 4.61) and turns at about grip / v = 2.3 rad/s; after the lags settle, the frame's yaw
 * rate is the heading's turn per second of the last step.
 */
TD_TEST(vecenv_camera_blur_turns_at_the_cars_yaw_rate)
{
    const double r = 0.9, hw = 0.6;
    double rows[41 * 6];
    for (int i = 0; i <= 40; i++) {
        double a = -M_PI / 2 + 2 * M_PI * i / 40, c = cos(a), s = sin(a);
        double *w = rows + 6 * i; /* a CCW ring from (0, 0) driving +x: inner = left */
        w[0] = r * c, w[1] = r + r * s;
        w[2] = (r - hw) * c, w[3] = r + (r - hw) * s;
        w[4] = (r + hw) * c, w[5] = r + (r + hw) * s;
    }
    td_track t;
    td_err err;
    if (td_track_from_rows(&t, rows, 41, "ring", "test ring", &err))
        TD_FAIL("ring: %s", err.msg);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.sensors = TD_SENSOR_CAMERA;
    env_fixture f = {0};
    fx_open(&f, &cfg, &t, 1);
    uint8_t *camera = td_malloc(160 * 120);
    f.env.obs_camera = camera;
    td_vecenv_reset_car_at(&f.env, 0, 0.0, 0);
    td_vecenv_step(&f.env); /* the prepare step */
    td_vecenv_teleport(&f.env, 0, 0.0, 0.0, 0.0, 2.0);
    f.actions[0] = 30.0f;
    f.actions[1] = 2.0f;
    const td_car_state *cs = td_vecenv_car(&f.env, 0);
    for (int k = 0; k < 15; k++) {
        double yaw0 = cs->yaw;
        td_vecenv_step(&f.env);
        TD_ASSERT_MSG(!f.dones[0], "step %d: the car left the ring at (%.2f, %.2f)", k, cs->x,
                      cs->y);
        if (k < 10)
            continue; /* the steering's delay and lag, the slip's grip-bounded approach */
        double turn = cs->yaw - yaw0;
        turn -= 2 * M_PI * floor((turn + M_PI) / (2 * M_PI));
        double heading_rate = turn * cfg.hz;
        double kinematic = cs->speed * cfg.car.steer_gain * cs->steer_tan / cfg.car.wheelbase_m;
        td_camera_frame fr;
        td_vecenv_camera_frame(&f.env, 0, &fr);
        TD_ASSERT_MSG(kinematic > 1.5 * heading_rate, "grip bound: %g vs %g rad/s", kinematic,
                      heading_rate);
        TD_ASSERT_MSG(fabs(fr.yaw_rate - heading_rate) < 1e-3 * heading_rate,
                      "step %d: the blur's yaw rate %.6f, the heading's %.6f rad/s", k, fr.yaw_rate,
                      heading_rate);
    }
    td_free(camera);
    fx_close(&f);
    td_track_free(&t);
}

/* The ranges are a setting of training (training_params.yaml's DOMAIN_RANDOMIZATION_*): an env
 * whose race says "lighting 0.30-0.32" renders darker rooms than the default ranges, every
 * episode. */
TD_TEST(vecenv_domain_randomization_draws_from_the_race_ranges)
{
    td_track t;
    make_square(&t);
    double mean[2];
    for (int dark = 0; dark < 2; dark++) {
        td_sim_config cfg;
        td_sim_config_default(&cfg);
        cfg.sensors = TD_SENSOR_CAMERA;
        cfg.mode = TD_MODE_EVAL;
        cfg.race.enable_domain_randomization = 1;
        td_dr_ranges_default(&cfg.race.dr);
        cfg.race.dr.exposure[0] = cfg.race.dr.exposure[1] = 1.0;
        if (dark)
            cfg.race.dr.brightness[0] = 0.30, cfg.race.dr.brightness[1] = 0.32;
        env_fixture f = {0};
        fx_open(&f, &cfg, &t, 1);
        uint8_t *camera = td_malloc(160 * 120);
        f.env.obs_camera = camera;
        double sum = 0;
        for (int e = 0; e < 8; e++) {
            td_vecenv_reset_car_at(&f.env, 0, 0.0, 0);
            for (int i = 0; i < 160 * 120; i++)
                sum += camera[i];
        }
        mean[dark] = sum / (8.0 * 160 * 120);
        td_free(camera);
        fx_close(&f);
    }
    /* Lighting 0.31 against 0.7-1.3 (mean 1.0): about a third as bright. */
    TD_ASSERT_MSG(mean[1] < 0.45 * mean[0], "dark %g, default %g", mean[1], mean[0]);
    TD_ASSERT_GT(mean[1], 5.0);
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

TD_TEST(immobilized_costs_no_penalty_but_a_pause_step)
{
    env_fixture f = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.penalties.max_resets = 10;
    cfg.car.speed_min = 0.0;
    fx_square(&f, &cfg, 1);
    step_n(&f, 10, 0.0, 1.0);
    int k = 0;
    while (td_vecenv_current_episode(&f.env, 0)->events.immobilized == 0 && k++ < 40)
        step_n(&f, 1, 0.0, 0.0); /* the car stops within ~9 steps, then stands 15 */
    const td_episode_info *e = td_vecenv_current_episode(&f.env, 0);
    TD_ASSERT_EQ_INT(e->events.immobilized, 1);
    TD_ASSERT_EQ_INT(e->events.resets, 1);
    TD_ASSERT_NEAR(e->events.penalty_s, 0.0, 0); /* DeepRacer never sets IMMOBILIZED_PENALTY */
    TD_ASSERT_EQ_INT(f.dones[0], 0);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_IMMOBILIZED);
    TD_ASSERT_NEAR(td_vecenv_step_pause_s(&f.env, 0), 0.0, 0);
    /* One pause step (DeepRacer's pause phase lasts until its judge sees 0 left). */
    step_n(&f, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_PAUSE);
    TD_ASSERT_EQ(f.rewards[0], 0.0f);
    step_n(&f, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_IN_PROGRESS);
    fx_close(&f);
}

TD_TEST(max_resets_counts_resets_and_zero_means_none)
{
    /* max_resets 1: one reset is allowed, the next event ends the run. */
    env_fixture g = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.penalties.max_resets = 1;
    cfg.penalties.off_track_penalty_s = 0.2; /* 3 pause steps */
    fx_square(&g, &cfg, 1);
    prepare_step(&g);
    td_vecenv_teleport(&g.env, 0, 6.0, -0.9, 0.0, 0.0);
    step_n(&g, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(g.dones[0], 0);
    TD_ASSERT_EQ_INT(td_vecenv_current_episode(&g.env, 0)->events.resets, 1);
    step_n(&g, 3, 0.0, 1.0);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&g.env, 0), TD_EP_PAUSE);
    td_vecenv_teleport(&g.env, 0, 6.0, -0.9, 0.0, 0.0);
    step_n(&g, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(g.dones[0], 1);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&g.env, 0)->status, TD_EP_OFF_TRACK);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&g.env, 0)->events.resets, 1);
    fx_close(&g);

    /* 0 (the default): no reset, the first event ends the episode, in every mode. */
    for (int mode = 0; mode < 3; mode++) {
        env_fixture h = {0};
        td_sim_config_default(&cfg);
        cfg.mode = (td_sim_mode)mode;
        fx_square(&h, &cfg, 1);
        prepare_step(&h);
        td_vecenv_teleport(&h.env, 0, td_vecenv_car(&h.env, 0)->x, -0.9, 0.0, 0.0);
        step_n(&h, 1, 0.0, 1.0);
        TD_ASSERT_EQ_INT(h.dones[0], 1);
        TD_ASSERT_EQ_INT(td_vecenv_last_episode(&h.env, 0)->events.resets, 0);
        fx_close(&h);
    }

    /* Separate trials with resets (DeepRacer on AWS's evaluation): an event costs a reset,
     * a lap ends the trial, and the next trial starts from the start line with a prepare
     * step and its own resets. */
    env_fixture t = {0};
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_EVAL;
    cfg.penalties.max_resets = 1;
    cfg.penalties.off_track_penalty_s = 0.0;
    fx_square(&t, &cfg, 1);
    prepare_step(&t);
    td_vecenv_teleport(&t.env, 0, 6.0, -0.9, 0.0, 0.0);
    step_n(&t, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(t.dones[0], 0);
    step_n(&t, 1, 0.0, 1.0);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&t.env, 0), TD_EP_PAUSE);
    for (double a = 5; a < 40; a += 5)
        put(&t, a, 0.0, 0);
    put(&t, 39.9, 0.0, 0);
    int k = 0;
    while (!t.dones[0] && k++ < 30)
        step_n(&t, 1, 0.0, 4.0);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&t.env, 0)->status, TD_EP_LAP_COMPLETE);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&t.env, 0)->events.resets, 1);
    TD_ASSERT_NEAR(td_vecenv_car(&t.env, 0)->x, 5.0, 1e-9);
    prepare_step(&t);
    TD_ASSERT_EQ_INT(td_vecenv_current_episode(&t.env, 0)->events.resets, 0);
    fx_close(&t);
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
    cfg.race.spread_starts = 1; /* trackday's spread starts put the second car at arc 20 */
    fx_square(&f, &cfg, 2);     /* car 0 starts at arc 0, car 1 at arc 20 */
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

TD_TEST(start_lane_switch_is_deepracers_rule)
{
    /* Training only, an object less than 1 m either way, measured without wrapping across
     * the start line (DeepRacer's |d| mod L). */
    struct {
        double obj_arc;
        int mode;
        double want_y;
    } cases[] = {
        {0.9, TD_MODE_TRAIN, -0.25}, /* 0.9 m ahead, inner lane: the outer lane */
        {39.1, TD_MODE_TRAIN, 0.0},  /* 0.9 m behind across the line: not seen */
        {1.1, TD_MODE_TRAIN, 0.0},   /* 1.1 m ahead: the centre line */
        {0.5, TD_MODE_EVAL, 0.0},    /* an evaluation starts on the centre line */
    };
    for (int c = 0; c < 4; c++) {
        env_fixture f = {0};
        td_sim_config cfg;
        td_sim_config_default(&cfg);
        cfg.mode = (td_sim_mode)cases[c].mode;
        cfg.race.n_object_positions = 1;
        cfg.race.object_positions[0][0] = cases[c].obj_arc / 40.0;
        cfg.race.object_positions[0][1] = 1;
        fx_square(&f, &cfg, 1);
        TD_ASSERT_MSG(fabs(td_vecenv_car(&f.env, 0)->y - cases[c].want_y) < 1e-9,
                      "case %d: y %g, want %g", c, td_vecenv_car(&f.env, 0)->y, cases[c].want_y);
        fx_close(&f);
    }
    /* 0.9 m behind, not across the line: the other lane too. */
    env_fixture g = {0};
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.race.n_object_positions = 2;
    cfg.race.object_positions[0][0] = 0.5; /* arc 20 */
    cfg.race.object_positions[0][1] = -1;
    cfg.race.object_positions[1][0] = 29.1 / 40.0;
    cfg.race.object_positions[1][1] = -1;
    cfg.race.spread_starts = 1;
    fx_square(&g, &cfg, 4);                                  /* car 3 starts at arc 30 */
    TD_ASSERT_NEAR(td_vecenv_car(&g.env, 3)->x, 0.25, 1e-9); /* inner lane of the left side */
    fx_close(&g);
}

TD_TEST(offtrack_reset_near_an_obstacle_goes_behind_it)
{
    for (int with_box = 0; with_box < 2; with_box++) {
        env_fixture f = {0};
        td_sim_config cfg;
        td_sim_config_default(&cfg);
        cfg.mode = TD_MODE_CONTINUOUS;
        cfg.penalties.max_resets = 5;
        if (with_box) {
            cfg.race.n_object_positions = 1;
            cfg.race.object_positions[0][0] = 0.25; /* arc 10: (9.75, 5), inner lane */
            cfg.race.object_positions[0][1] = 1;
        }
        fx_square(&f, &cfg, 1);
        prepare_step(&f);
        put(&f, 9.4, 0.1, 0);
        step_n(&f, 1, 0.0, 0.1);
        double arc = 5.0 + td_vecenv_car(&f.env, 0)->y + 0.14; /* the model point's arc */
        td_vecenv_teleport(&f.env, 0, 30.0, 30.0, 0.0, 0.0);
        step_n(&f, 1, 0.0, 0.1);
        TD_ASSERT_EQ_INT(td_vecenv_current_episode(&f.env, 0)->events.off_tracks, 1);
        const td_car_state *s = td_vecenv_car(&f.env, 0);
        if (with_box) {
            /* The obstacle is within 1 m of the reset: 1 m behind it, on the outer lane. */
            TD_ASSERT_NEAR(s->x, 10.25, 1e-9);
            TD_ASSERT_NEAR(s->y, 4.0, 1e-9);
        } else {
            /* The previous step's progress, on the lane nearer to the car then (inner). */
            TD_ASSERT_NEAR(s->x, 9.75, 1e-9);
            TD_ASSERT_NEAR(s->y, arc - 5.0, 0.01);
        }
        TD_ASSERT_NEAR(s->yaw, M_PI / 2, 1e-9);
        fx_close(&f);
    }
}

TD_TEST(immobilized_takes_precedence_over_reversed)
{
    env_fixture f = {0};
    td_sim_config cfg;
    eval_config(&cfg);
    cfg.car.speed_min = 0.0;
    fx_square(&f, &cfg, 1);
    put(&f, 3.0, 0.0, 0);
    put(&f, 3.0, 0.0, 1); /* facing backwards: creeping forward reduces progress */
    prepare_step(&f);
    int k = 0;
    while (!f.dones[0] && k++ < 40)
        step_n(&f, 1, 0.0, 0.003); /* 0.2 mm a step: immobile, and reversing */
    TD_ASSERT_EQ_INT(k, 15);
    TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->status, TD_EP_IMMOBILIZED);
    TD_ASSERT_LT(td_vecenv_last_params(&f.env, 0)->progress, 100.0 * 3.14 / 40.0);
    fx_close(&f);
}

/* Puts car 0 at origin (x, y) facing +x (the bottom edge of the square). */
static void put_origin(env_fixture *f, double x, double y)
{
    td_vecenv_teleport(&f->env, 0, x, y, 0.0, 0.0);
}

TD_TEST(bots_crash_the_car_only_from_ahead)
{
    for (int c = 0; c < 3; c++) {
        env_fixture f = {0};
        td_sim_config cfg;
        eval_config(&cfg);
        cfg.race.number_of_bot_cars = 1;
        cfg.race.min_distance_between_bot_cars = 3.0; /* arc 3: (8, 0.25) driving +x */
        cfg.race.bot_car_speed = 0.5;
        fx_square(&f, &cfg, 1);
        prepare_step(&f);
        const td_params *p = &f.params[0];
        double bx = p->objects_location[0][0], by = p->objects_location[0][1];
        TD_ASSERT_NEAR(by, 0.25, 1e-9);
        if (c == 0) {
            /* Rear-ending the bot: the car is behind it, so it crashes. */
            put_origin(&f, bx - 0.25, 0.24);
            step_n(&f, 1, 0.0, 0.1);
            TD_ASSERT_EQ_INT(f.dones[0], 1);
            TD_ASSERT_EQ_INT(td_vecenv_last_episode(&f.env, 0)->status, TD_EP_CRASHED);
            TD_ASSERT_EQ_INT(td_vecenv_last_params(&f.env, 0)->is_crashed, 1);
        } else if (c == 1) {
            /* The bot runs into the car from behind: not a crash (is_crashed stays False),
             * and the bot stops for PENALTY_SECONDS (2 s = 30 steps). */
            put_origin(&f, bx + 0.25, 0.24);
            step_n(&f, 1, 0.0, 0.1);
            TD_ASSERT_EQ_INT(f.dones[0], 0);
            TD_ASSERT_EQ_INT(td_vecenv_step_status(&f.env, 0), TD_EP_IN_PROGRESS);
            TD_ASSERT_EQ_INT(p->is_crashed, 0);
            /* The touch was seen before the step's physics, which still moved the bot one
             * step on (0.5 m/s x 1/15 s); it stands there from then on. */
            double stopped = p->objects_location[0][0] + 0.5 / 15.0;
            /* The car away up the right side, out of the bot's way. */
            td_vecenv_teleport(&f.env, 0, 10.0, 2.0, M_PI / 2, 0.0);
            /* 30 steps of physics stand still; the next step's params still show them. */
            for (int k = 1; k <= 31; k++) {
                step_n(&f, 1, 0.0, 0.0);
                TD_ASSERT_EQ_INT(f.dones[0], 0);
                TD_ASSERT_NEAR(f.params[0].objects_location[0][0], stopped, 1e-9);
            }
            step_n(&f, 1, 0.0, 0.0);
            TD_ASSERT_GT(f.params[0].objects_location[0][0], stopped + 1e-6);
        } else {
            /* A bot's corner inside the car's side, no car corner inside the bot: DeepRacer
             * tests only the car's corners, so this is no collision at all. */
            td_box me = {bx + 0.21,       by,   M_PI / 2,  cfg.car.length_m,
                         cfg.car.width_m, 0.15, TD_BOX_CAR};
            const td_box *boxes;
            TD_ASSERT_EQ_INT(td_vecenv_boxes(&f.env, 0, &boxes), 1);
            TD_ASSERT_EQ_INT(td_box_overlap(&me, &boxes[0]), 1);
            td_vecenv_teleport(&f.env, 0, me.x, me.y, me.yaw, 0.0);
            TD_ASSERT_EQ_INT(p->is_crashed, 0);
            step_n(&f, 1, 0.0, 0.1);
            TD_ASSERT_EQ_INT(f.dones[0], 0);
        }
        fx_close(&f);
    }
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
            TD_ASSERT_MSG(e->laps == 1 && e->events.off_tracks == 0,
                          "%s %s: %d laps, %d off-tracks", names[ti], rev ? "reverse" : "forward",
                          e->laps, e->events.off_tracks);
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

    /* One allocation for the whole group (STYLE rule 4). */
    long live = td_alloc_live();
    TD_ASSERT_OK(td_vecenv_buffers_init(&b, &env, &err));
    TD_ASSERT_EQ_INT(td_alloc_live() - live, 1);
    td_vecenv_buffers_free(&b);
    /* Out of memory: an error, and nothing left allocated. */
    td_alloc_fail_after(0);
    TD_ASSERT_EQ_INT(td_vecenv_buffers_init(&b, &env, &err), TD_ENOMEM);
    TD_ASSERT_CONTAINS(err.msg, "out of memory");
    td_alloc_fail_after(-1);
    TD_ASSERT_EQ_INT(td_alloc_live(), live);
    td_vecenv_buffers_free(NULL);
    td_vecenv_free(&env);
    td_track_free(&t);
}
