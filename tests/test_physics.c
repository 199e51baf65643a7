/*
 * test_physics.c - the car's response model (delays, lags, gains, limits), its presets and
 * car files, open-loop replay (it must equal the simulator's own stepping) and calibration
 * (it must recover the parameters of logs that trackday's own car produced).
 */
#include <math.h>
#include <string.h>

#include "td_test.h"
#include "trackday/calibrate.h"
#include "trackday/eval.h"
#include "trackday/json.h"
#include "trackday/modeldir.h"
#include "trackday/policy.h"
#include "trackday/sim.h"

#define DT (1.0 / 15.0)

/* An "ideal" car with the named response changes. */
static void ideal(td_car_config *c)
{
    TD_ASSERT_OK(td_car_preset(c, "ideal"));
}

/* ---- presets and car files ---------------------------------------------------------------- */

TD_TEST(presets_follow_deepracers_versions)
{
    TD_ASSERT_STREQ(td_car_preset_for_version(5), "deepracer");
    TD_ASSERT_STREQ(td_car_preset_for_version(6), "deepracer");
    TD_ASSERT_STREQ(td_car_preset_for_version(4), "deepracer-dynamic");
    TD_ASSERT_STREQ(td_car_preset_for_version(3), "deepracer-dynamic");
    TD_ASSERT_STREQ(td_car_preset_for_version(2), "deepracer-v2");
    TD_ASSERT_STREQ(td_car_preset_for_version(1), "deepracer-v1");
    td_car_config def, dr, dyn, v1, v2;
    td_car_config_default(&def);
    TD_ASSERT_OK(td_car_preset(&dr, "deepracer"));
    json_t *a = td_car_config_to_json(&def), *b = td_car_config_to_json(&dr);
    TD_ASSERT(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    /* The calibrated car is not the ideal bicycle: it scrubs, waits and has a grip limit. */
    TD_ASSERT(dr.steer_gain < 0.8 && dr.steer_delay_s > 0 && dr.grip_mps2 > 0);
    TD_ASSERT_OK(td_car_preset(&dyn, "deepracer-dynamic"));
    TD_ASSERT(dyn.steer_tau_s > dr.steer_tau_s);
    /* Versions 1 and 2 convert speed with another wheel radius (0.1 m, 0.0277 m). */
    TD_ASSERT_OK(td_car_preset(&v1, "deepracer-v1"));
    TD_ASSERT_OK(td_car_preset(&v2, "deepracer-v2"));
    TD_ASSERT_NEAR(v1.speed_gain / dyn.speed_gain, 0.035 / 0.1, 1e-12);
    TD_ASSERT_NEAR(v2.speed_gain / dyn.speed_gain, 0.035 / 0.0277, 1e-12);
    double gain = dr.steer_gain;
    TD_ASSERT_EQ_INT(td_car_preset(&dr, "fast"), TD_EINVAL);
    TD_ASSERT_NEAR(dr.steer_gain, gain, 0);
    for (int i = 0; td_car_preset_names[i]; i++)
        TD_ASSERT_OK(td_car_preset(&dr, td_car_preset_names[i]));
}

/* The model's own model_metadata.json decides the car train, eval and race simulate (audit
 * section 2, "version effect"): DeepRacer reads a file without "version" as version 2 (with a
 * sensor list) or 1, and versions below 5 run its dynamic car. */
TD_TEST(a_models_version_selects_its_car)
{
    static const struct {
        const char *version; /* the "version" member, or NULL for none */
        const char *preset;
    } cases[] = {{"\"5\"", "deepracer"},     {"\"4\"", "deepracer-dynamic"},
                 {"3", "deepracer-dynamic"}, {"\"2\"", "deepracer-v2"},
                 {NULL, "deepracer-v2"},     {"1", "deepracer-v1"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512], text[512], ver[64] = "";
        if (cases[i].version)
            TD_FMT(ver, "\"version\": %s, ", cases[i].version);
        TD_FMT(text,
               "{%s\"sensor\": [\"FRONT_FACING_CAMERA\"], \"neural_network\": "
               "\"DEEP_CONVOLUTIONAL_NETWORK_SHALLOW\", \"action_space_type\": \"continuous\", "
               "\"action_space\": {\"steering_angle\": {\"high\": 30, \"low\": -30}, "
               "\"speed\": {\"high\": 4, \"low\": 1}}}",
               ver);
        TD_FMT(path, "%s/md%zu.json", td_test_tmpdir(), i);
        FILE *f = fopen(path, "w");
        TD_ASSERT(f != NULL);
        fputs(text, f);
        fclose(f);
        td_model_metadata m;
        td_err err;
        TD_ASSERT_OK(td_model_metadata_load(&m, path, NULL, &err));
        td_sim_config cfg;
        td_sim_config_default(&cfg);
        td_policy_sim_sensors(&m, &cfg);
        td_car_config want;
        TD_ASSERT_OK(td_car_preset(&want, cases[i].preset));
        json_t *a = td_car_config_to_json(&cfg.car), *b = td_car_config_to_json(&want);
        TD_ASSERT_MSG(json_equal(a, b), "version %s: not the %s car",
                      cases[i].version ? cases[i].version : "(none)", cases[i].preset);
        json_decref(a);
        json_decref(b);
    }
}

TD_TEST(car_json_round_trip_and_errors)
{
    td_car_config c, back;
    td_err err = {0};
    TD_ASSERT_OK(td_car_preset(&c, "deepracer-dynamic"));
    c.steer_gain = 0.5;
    c.grip_mps2 = 3.25;
    json_t *o = td_car_config_to_json(&c);
    TD_ASSERT(o);
    TD_ASSERT_OK(td_car_config_from_json(&back, o, "car.json", &err));
    json_decref(o);
    TD_ASSERT_NEAR(back.steer_gain, 0.5, 0);
    TD_ASSERT_NEAR(back.grip_mps2, 3.25, 0);
    TD_ASSERT_NEAR(back.steer_tau_s, c.steer_tau_s, 1e-6 * c.steer_tau_s);
    /* A preset plus one change. */
    json_t *p = json_pack("{s:s, s:f}", "preset", "ideal", "steer_delay_s", 0.05);
    TD_ASSERT_OK(td_car_config_from_json(&back, p, "car.json", &err));
    json_decref(p);
    TD_ASSERT_NEAR(back.steer_delay_s, 0.05, 0);
    TD_ASSERT_NEAR(back.steer_gain, 1.0, 0);
    /* Errors name the file and the key. */
    p = json_pack("{s:f}", "steer_gian", 0.5);
    TD_ASSERT_EQ_INT(td_car_config_from_json(&back, p, "car.json", &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "car.json");
    TD_ASSERT_CONTAINS(err.msg, "steer_gian");
    json_decref(p);
    p = json_pack("{s:f}", "steer_delay_s", 2.0);
    TD_ASSERT(td_car_config_from_json(&back, p, "car.json", &err) != 0);
    TD_ASSERT_CONTAINS(err.msg, "steer_delay_s");
    json_decref(p);
    p = json_pack("{s:s}", "preset", "rocket");
    TD_ASSERT_EQ_INT(td_car_config_from_json(&back, p, "car.json", &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "rocket");
    json_decref(p);
    TD_ASSERT_EQ_INT(td_car_config_resolve(&back, "rocket", &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "preset");
    TD_ASSERT_OK(td_car_config_resolve(&back, "ideal", &err));
}

/* ---- the response -------------------------------------------------------------------------- */

TD_TEST(speed_delay_holds_the_car_then_the_lag_starts)
{
    td_car_config c;
    ideal(&c);
    c.speed_delay_s = 0.1; /* 1.5 steps */
    td_car_state s;
    td_car_place(&s, 0, 0, 0);
    td_car_step(&c, &s, 0.0, 1.0, DT);
    /* The whole first step is inside the delay: nothing was commanded before. */
    TD_ASSERT_NEAR(s.speed, 0.0, 0);
    TD_ASSERT_NEAR(s.x, 0.0, 0);
    td_car_step(&c, &s, 0.0, 1.0, DT);
    /* Sub-steps 5..9 of the second step (mid-times >= 0.1 s) follow the first command. */
    double h = DT / 10;
    TD_ASSERT_NEAR(s.speed, 1.0 - exp(-5 * h / 0.1), 1e-12);
    TD_ASSERT(s.x > 0);
}

TD_TEST(steering_delay_keeps_the_old_command)
{
    td_car_config c;
    ideal(&c);
    c.steer_delay_s = 2 * DT;
    c.steer_tau_s = 0;
    td_car_state s;
    td_car_place(&s, 0, 0, 0);
    td_car_set_speed(&c, &s, 1.0);
    /* Two steps of left lock drive straight (the straight command is still pending)... */
    for (int i = 0; i < 2; i++)
        td_car_step(&c, &s, 30.0, 1.0, DT);
    TD_ASSERT_NEAR(s.yaw, 0.0, 1e-12);
    TD_ASSERT_NEAR(s.y, 0.0, 1e-12);
    /* ...then the car turns at the full rate at once (no lag). */
    td_car_step(&c, &s, 30.0, 1.0, DT);
    /* (The heading of a sub-step turns at the yaw rate of the slip angle the car enters it
     * with, so the first of the step's 10 sub-steps still goes straight.) */
    double tb = tan(M_PI / 6) / 2, cb = 1 / sqrt(1 + tb * tb);
    TD_ASSERT_NEAR(s.yaw, 0.9 * DT * cb * tan(M_PI / 6) / 0.164, 1e-9);
}

TD_TEST(steer_gain_scales_the_turn)
{
    td_car_config c;
    ideal(&c);
    c.steer_gain = 0.5;
    c.steer_tau_s = 0;
    td_car_state s;
    td_car_place(&s, 0, 0, 0);
    td_car_set_speed(&c, &s, 1.0);
    c.speed_tau_s = 0;
    for (int i = 0; i < 15; i++)
        td_car_step(&c, &s, 20.0, 1.0, DT);
    /* Yaw rate v cos(beta) g tan(delta) / L with tan(beta) = g tan(delta) / 2, from the
     * second of the 150 sub-steps on (the first enters with no slip). */
    double g = 0.5 * tan(20 * M_PI / 180), tb = g / 2, cb = 1 / sqrt(1 + tb * tb);
    TD_ASSERT_NEAR(s.yaw, (149.0 / 150.0) * cb * g / 0.164, 1e-9);
    TD_ASSERT_NEAR(s.steer, 20 * M_PI / 180, 1e-12); /* the wheel angle is the command's */
}

TD_TEST(acceleration_limit_and_speed_gain)
{
    td_car_config c;
    ideal(&c);
    c.speed_tau_s = 0;
    c.accel_max_mps2 = 3.0;
    c.speed_gain = 1.1;
    td_car_state s;
    td_car_place(&s, 0, 0, 0);
    td_car_step(&c, &s, 0, 2.0, DT);
    TD_ASSERT_NEAR(s.speed, 3.0 * DT, 1e-12);
    TD_ASSERT_NEAR(s.x, 3.0 * DT * DT * 0.55, 1e-9); /* sum of (i + 1) h a h over 10 sub-steps */
    for (int i = 0; i < 30; i++)
        td_car_step(&c, &s, 0, 2.0, DT);
    TD_ASSERT_NEAR(s.speed, 2.2, 1e-12);
    /* Braking obeys the same limit. */
    td_car_step(&c, &s, 0, 0.1, DT);
    TD_ASSERT_NEAR(s.speed, 2.2 - 3.0 * DT, 1e-12);
}

/*
 * The largest lateral acceleration of the car's path over a run of commands at a steady
 * speed: the speed times the turn of the direction of travel (the chord between consecutive
 * positions) per step. The car is brought to the speed on a straight first.
 */
static double path_lateral_accel_max(const td_car_config *c, double speed, const double *steer_deg,
                                     int n)
{
    td_car_state s;
    td_car_place(&s, 0, 0, 0);
    double v = speed * c->speed_gain;
    td_car_set_speed(c, &s, v);
    double px = s.x, py = s.y, prev_dir = NAN, worst = 0;
    for (int i = 0; i < n; i++) {
        td_car_step(c, &s, steer_deg[i], speed, DT);
        TD_ASSERT_NEAR(s.speed, v, 1e-9);
        double dir = atan2(s.y - py, s.x - px);
        if (prev_dir == prev_dir) {
            double turn = fabs(remainder(dir - prev_dir, 2 * M_PI));
            worst = fmax(worst, v * turn / DT);
        }
        prev_dir = dir;
        px = s.x;
        py = s.y;
    }
    return worst;
}

/*
 * The grip bounds the whole lateral acceleration of the path, the slip angle's changes
 * included: steering in bursts (full lock one way, then the other; a learned policy's style)
 * does not turn the direction of travel faster than the grip allows. Before the slip angle
 * was the car's state, each change of the steering turned the direction of travel by the
 * slip's change at no cost in grip (up to 4.82 m/s^2 on these commands against a grip of
 * 4.57: the bursts at 2.75 m/s).
 */
TD_TEST(grip_bounds_the_paths_lateral_acceleration_in_steering_bursts)
{
    td_car_config c;
    td_car_config_default(&c);
    TD_ASSERT(c.grip_mps2 > 0);
    enum { N = 90 };
    double alt[N], burst[N], pattern[N];
    static const double policy[6] = {30, -20, 10, 30, -30, 0};
    for (int i = 0; i < N; i++) {
        alt[i] = i % 2 ? -30 : 30;
        burst[i] = (i / 3) % 2 ? -30 : 30;
        pattern[i] = policy[i % 6];
    }
    const double *runs[3] = {alt, burst, pattern};
    for (int r = 0; r < 3; r++) {
        for (double v = 1.5; v <= 4.0; v += 1.25) {
            double a = path_lateral_accel_max(&c, v, runs[r], N);
            /* 1 %: the chord of a step is the mean of its directions to second order. */
            TD_ASSERT_MSG(a <= c.grip_mps2 * 1.01, "run %d at %.2f m/s: %.2f m/s^2 > grip %.2f", r,
                          v, a, c.grip_mps2);
        }
    }
    /* The bursts do use the grip at 4 m/s: the car is not simply slowed in its turning. */
    TD_ASSERT(path_lateral_accel_max(&c, 4.0, burst, N) > 0.9 * c.grip_mps2);
    /* A steady turn within the grip keeps its full slip angle (the geometric bicycle's
     * circle), and the direction of travel leads the heading by it. */
    td_car_state s;
    td_car_place(&s, 0, 0, 0);
    td_car_set_speed(&c, &s, 1.0);
    for (int i = 0; i < 60; i++)
        td_car_step(&c, &s, 20.0, 1.0, DT);
    TD_ASSERT_NEAR(s.slip, atan(0.5 * c.steer_gain * tan(20 * M_PI / 180)), 1e-9);
    /* Beyond the grip the slip falls until speed x yaw rate is the grip: the car runs wide. */
    double v = 4.0 * c.speed_gain;
    td_car_set_speed(&c, &s, v);
    for (int i = 0; i < 60; i++)
        td_car_step(&c, &s, 30.0, 4.0, DT);
    double yaw0 = s.yaw;
    td_car_step(&c, &s, 30.0, 4.0, DT);
    TD_ASSERT_NEAR(v * remainder(s.yaw - yaw0, 2 * M_PI) / DT, c.grip_mps2, 1e-6);
    TD_ASSERT_NEAR(sin(s.slip), c.grip_mps2 * c.wheelbase_m / (2 * v * v), 1e-9);
}

TD_TEST(respond_changes_the_response_not_the_pose)
{
    td_car_config c;
    td_car_config_default(&c);
    td_car_state a, b;
    td_car_place(&a, 1, 2, 0.3);
    td_car_place(&b, 1, 2, 0.3);
    const double cmds[5][2] = {{10, 1}, {-20, 2}, {30, 2.5}, {0, 1.5}, {-5, 3}};
    for (int i = 0; i < 5; i++) {
        td_car_step(&c, &a, cmds[i][0], cmds[i][1], DT);
        td_car_respond(&c, &b, cmds[i][0], cmds[i][1], DT);
    }
    TD_ASSERT_NEAR(b.x, 1, 0);
    TD_ASSERT_NEAR(b.y, 2, 0);
    TD_ASSERT_NEAR(b.yaw, 0.3, 1e-15);
    TD_ASSERT_NEAR(a.speed, b.speed, 0);
    TD_ASSERT_NEAR(a.steer, b.steer, 0);
    TD_ASSERT_NEAR(a.slip, b.slip, 0);
    TD_ASSERT(fabs(b.slip) > 0.01);
    TD_ASSERT_EQ_INT(a.n_cmd, b.n_cmd);
    TD_ASSERT(memcmp(a.cmd_speed, b.cmd_speed, sizeof(a.cmd_speed)) == 0);
    TD_ASSERT(fabs(a.x - 1) > 0.1);
}

/* ---- open-loop replay ----------------------------------------------------------------------- */

/* The replay of the env's actions from the env's start equals the env's own stepping. */
TD_TEST(replay_equals_the_simulators_stepping)
{
    td_track track;
    td_err err = {0};
    TD_ASSERT_OK(td_track_load(&track, TD_TEST_SOURCE_DIR "/tracks/oval.json", &err));
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_EVAL;
    td_vecenv env;
    td_vecenv_buffers b;
    TD_ASSERT_OK(td_vecenv_init(&env, &cfg, &track, 1, &err));
    TD_ASSERT_OK(td_vecenv_buffers_init(&b, &env, &err));
    td_vecenv_reset(&env);
    /* DeepRacer's prepare step holds the car first; the replay starts after it (its state
     * includes the held step's zero command, pending for the delays). */
    b.actions[0] = 5.0f;
    b.actions[1] = 1.0f;
    td_vecenv_step(&env);
    TD_ASSERT_EQ_INT(td_vecenv_step_status(&env, 0), TD_EP_PREPARE);
    td_car_state start = *td_vecenv_car(&env, 0);
    TD_ASSERT(start.speed == 0 && start.n_cmd == 1 && start.cmd_speed[0] == 0);
    enum { N = 60 };
    td_car_action acts[N];
    td_car_state env_states[N], rep[N];
    td_rng rng;
    td_rng_seed(&rng, 7, 0);
    for (int i = 0; i < N; i++) {
        /* Multiples of 1/64: the env's float actions hold them exactly. */
        acts[i].steer_deg = round(td_rng_range(&rng, -8, 8) * 64) / 64;
        acts[i].speed = round(td_rng_range(&rng, 0.5, 1.5) * 64) / 64;
        acts[i].dt = 1.0 / cfg.hz;
        b.actions[0] = (float)acts[i].steer_deg;
        b.actions[1] = (float)acts[i].speed;
        td_vecenv_step(&env);
        TD_ASSERT_EQ_INT(b.dones[0], 0);
        env_states[i] = *td_vecenv_car(&env, 0);
    }
    td_car_state s = start;
    td_car_replay(&cfg.car, &s, acts, N, 0, rep);
    for (int i = 0; i < N; i++) {
        TD_ASSERT_NEAR(rep[i].x, env_states[i].x, 0);
        TD_ASSERT_NEAR(rep[i].y, env_states[i].y, 0);
        TD_ASSERT_NEAR(rep[i].yaw, env_states[i].yaw, 0);
        TD_ASSERT_NEAR(rep[i].speed, env_states[i].speed, 0);
    }
    /* With the first 20 actions as history from pose 20, the rest lands on the same poses. */
    td_car_state h;
    td_car_place(&h, env_states[19].x, env_states[19].y, env_states[19].yaw);
    td_car_replay(&cfg.car, &h, acts, N, 20, rep);
    for (int i = 20; i < N; i++)
        TD_ASSERT_NEAR(hypot(rep[i - 20].x - env_states[i].x, rep[i - 20].y - env_states[i].y), 0,
                       1e-9);
    td_vecenv_buffers_free(&b);
    td_vecenv_free(&env);
    td_track_free(&track);
}

TD_TEST(actions_csv_columns_durations_and_errors)
{
    td_car_action *a = NULL;
    int n = 0;
    td_err err = {0};
    const char *ok = "episode,tstamp,steer,throttle,action\n"
                     "0,10.0,-10.0,2.0,3\n"
                     "0,10.07,5,1.5,\"[5.0, 1.5]\"\n"
                     "\n"
                     "0,10.12,0,1,x\n";
    TD_ASSERT_OK(td_car_actions_parse(ok, strlen(ok), "a.csv", &a, &n, &err));
    TD_ASSERT_EQ_INT(n, 3);
    TD_ASSERT_NEAR(a[0].steer_deg, -10, 0);
    TD_ASSERT_NEAR(a[0].dt, 1.0 / 15.0, 1e-15); /* the first row: one control step */
    TD_ASSERT_NEAR(a[1].dt, 0.07, 1e-12);       /* time since the previous row */
    TD_ASSERT_NEAR(a[2].dt, 0.05, 1e-12);
    TD_ASSERT_NEAR(a[2].speed, 1, 0);
    td_free(a);
    const char *plain = "throttle,steer\n1,2\n3,4\n";
    TD_ASSERT_OK(td_car_actions_parse(plain, strlen(plain), "p.csv", &a, &n, &err));
    TD_ASSERT_EQ_INT(n, 2);
    TD_ASSERT_NEAR(a[1].steer_deg, 4, 0);
    TD_ASSERT_NEAR(a[1].dt, 1.0 / 15.0, 1e-15);
    td_free(a);
    const char *nohead = "steer,speedy\n1,2\n";
    TD_ASSERT_EQ_INT(td_car_actions_parse(nohead, strlen(nohead), "h.csv", &a, &n, &err),
                     TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "h.csv:1");
    TD_ASSERT_CONTAINS(err.msg, "throttle");
    const char *bad = "steer,throttle\n1,2\n1,fast\n";
    TD_ASSERT_EQ_INT(td_car_actions_parse(bad, strlen(bad), "b.csv", &a, &n, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "b.csv:3");
    TD_ASSERT_CONTAINS(err.msg, "'throttle'");
    const char *back = "steer,throttle,tstamp\n1,2,5.0\n1,2,4.9\n";
    TD_ASSERT_EQ_INT(td_car_actions_parse(back, strlen(back), "t.csv", &a, &n, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "t.csv:3");
    const char *ragged = "steer,throttle\n1,2,3\n";
    TD_ASSERT_EQ_INT(td_car_actions_parse(ragged, strlen(ragged), "r.csv", &a, &n, &err),
                     TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "r.csv:2");
    TD_ASSERT(a == NULL);
}

/* ---- calibration ------------------------------------------------------------------------------
 */

/*
 * A simtrace as DeepRacer logs it, driven by trackday's car `car`: episodes of held random
 * actions (a discrete policy's style) over an open floor, each row the pose at which its
 * action was chosen, tstamp the time when the action's step ended, steps of jittered length.
 */
static void make_log(td_simtrace *t, const td_car_config *car, int episodes, int steps,
                     uint64_t seed)
{
    static const double steer[7] = {-30, -20, -10, 0, 10, 20, 30};
    static const double speed[4] = {0.8, 1.5, 2.5, 3.5};
    td_rng rng;
    td_rng_seed(&rng, seed, 1);
    td_simtrace_init(t);
    t->cap = episodes * steps;
    t->rows = td_calloc((size_t)t->cap, sizeof(td_simtrace_row));
    TD_ASSERT(t->rows);
    double clock = 0;
    for (int e = 0; e < episodes; e++) {
        td_car_state s;
        td_car_place(&s, 0, 0, td_rng_range(&rng, -3, 3));
        int a_steer = 3, a_speed = 1, hold = 0;
        for (int k = 0; k < steps; k++) {
            if (hold-- <= 0) {
                a_steer = (int)td_rng_below(&rng, 7);
                a_speed = (int)td_rng_below(&rng, 4);
                hold = 1 + (int)td_rng_below(&rng, 8);
            }
            double dt = DT * td_rng_range(&rng, 0.85, 1.15);
            td_simtrace_row *r = &t->rows[t->n++];
            r->episode = e;
            r->steps = k + 1;
            td_car_model_point(car, &s, &r->x, &r->y);
            r->yaw_deg = s.yaw * (180.0 / M_PI);
            r->steer_deg = steer[a_steer];
            r->throttle = speed[a_speed];
            r->action = a_steer * 4 + a_speed;
            snprintf(r->episode_status, sizeof(r->episode_status), "in_progress");
            td_car_step(car, &s, r->steer_deg, r->throttle, dt);
            clock += dt;
            r->tstamp = clock;
        }
    }
}

TD_TEST(calibration_recovers_the_cars_parameters)
{
    td_car_config truth, start, fit;
    ideal(&truth);
    truth.steer_gain = 0.7;
    truth.steer_tau_s = 0.2;
    truth.steer_delay_s = 0.05;
    truth.speed_tau_s = 0.15;
    truth.speed_delay_s = 0.03;
    truth.speed_gain = 1.05;
    truth.accel_max_mps2 = 6.0;
    truth.grip_mps2 = 4.0;
    td_simtrace t;
    make_log(&t, &truth, 10, 150, 3);
    td_calib_options o;
    td_calib_options_default(&o);
    /* Two seconds of history make the replay's start state (seeded straight, at the
     * commanded speed) converge, so the true car reproduces its log to a millimetre. */
    o.history_steps = 30;
    o.stride = 3;
    td_calib_data d;
    td_err err = {0};
    TD_ASSERT_OK(td_calib_data_init(&d, &t, NULL, &o, &err));
    TD_ASSERT(d.n > 250);
    /* The first window of an episode starts at rest. */
    TD_ASSERT_EQ_INT(d.w[0].at_rest, 1);
    TD_ASSERT_EQ_INT(d.w[1].at_rest, 0);
    ideal(&start);
    td_calib_fit_result res;
    TD_ASSERT_OK(td_calib_fit(&d, &start, TD_CALIB_ALL, 2500, &fit, &res, &err));
    TD_ASSERT(res.cost_after < 1e-4 * res.cost_before);
    TD_ASSERT_NEAR(fit.steer_gain, truth.steer_gain, 0.005);
    TD_ASSERT_NEAR(fit.steer_tau_s, truth.steer_tau_s, 0.005);
    TD_ASSERT_NEAR(fit.steer_delay_s, truth.steer_delay_s, 0.003);
    TD_ASSERT_NEAR(fit.speed_tau_s, truth.speed_tau_s, 0.005);
    TD_ASSERT_NEAR(fit.speed_delay_s, truth.speed_delay_s, 0.003);
    TD_ASSERT_NEAR(fit.speed_gain, truth.speed_gain, 0.003);
    TD_ASSERT_NEAR(fit.accel_max_mps2, truth.accel_max_mps2, 0.2);
    TD_ASSERT_NEAR(fit.grip_mps2, truth.grip_mps2, 0.05);
    td_calib_errors before, after;
    TD_ASSERT_OK(td_calib_errors_compute(&d, &start, -1, &before, &err));
    TD_ASSERT_OK(td_calib_errors_compute(&d, &fit, -1, &after, &err));
    TD_ASSERT_EQ_INT(after.windows, d.n);
    TD_ASSERT(before.pos_median_m[0] > 0.2);
    TD_ASSERT(after.pos_median_m[0] < 0.001);
    TD_ASSERT(after.pos_p90_m[1] < 0.005);
    /* The true car replays its own log exactly. */
    td_calib_errors exact;
    TD_ASSERT_OK(td_calib_errors_compute(&d, &truth, -1, &exact, &err));
    TD_ASSERT(exact.pos_p90_m[1] < 1e-3);
    td_calib_data_free(&d);
    td_simtrace_free(&t);
}

TD_TEST(calibration_windows_need_enough_steps)
{
    td_car_config c;
    ideal(&c);
    td_simtrace t;
    make_log(&t, &c, 3, 40, 1); /* 40 steps < 15 of history + 30 ahead + 1 */
    td_calib_options o;
    td_calib_options_default(&o);
    td_calib_data d;
    td_err err = {0};
    TD_ASSERT_EQ_INT(td_calib_data_init(&d, &t, NULL, &o, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "46 consecutive");
    /* Held rows (a prepare step) break a window and mark the next one as starting at rest. */
    td_simtrace_free(&t);
    make_log(&t, &c, 1, 80, 1);
    snprintf(t.rows[0].episode_status, TD_SIMTRACE_STATUS_LEN, "prepare");
    TD_ASSERT_OK(td_calib_data_init(&d, &t, NULL, &o, &err));
    TD_ASSERT_EQ_INT(d.w[0].row, 16);
    TD_ASSERT_EQ_INT(d.w[0].at_rest, 1);
    td_calib_data_free(&d);
    unsigned bits;
    TD_ASSERT_OK(td_calib_params_parse("steer_gain,grip_mps2", &bits, &err));
    TD_ASSERT_EQ_INT(bits, TD_CALIB_STEER_GAIN | TD_CALIB_GRIP);
    TD_ASSERT_EQ_INT(td_calib_params_parse("steer_gain,wings", &bits, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "wings");
    td_simtrace_free(&t);
}

/* ---- the racing line --------------------------------------------------------------------------
 */

/* Every footprint corner of the car on the line, at the line's heading, is on the road. */
static void assert_footprint_inside(const td_track *t, const td_racing_line *rl,
                                    const td_car_config *car)
{
    for (int i = 0; i < rl->n; i++) {
        int a = (i - 1 + rl->n) % rl->n, b = (i + 1) % rl->n;
        double hx = rl->x[b] - rl->x[a], hy = rl->y[b] - rl->y[a], hl = hypot(hx, hy);
        hx /= hl;
        hy /= hl;
        /* The wheels where the car stands on the line (td_car_wheels, the points the
         * episode's all_wheels_on_track judges). */
        td_car_state st;
        memset(&st, 0, sizeof(st));
        st.x = rl->x[i];
        st.y = rl->y[i];
        st.cos_yaw = hx;
        st.sin_yaw = hy;
        double w[4][2];
        td_car_wheels(car, &st, w);
        for (int q = 0; q < 4; q++)
            TD_ASSERT_MSG(td_track_on_road_slow(t, w[q][0], w[q][1]),
                          "%s: point %d wheel %d (%.3f, %.3f)", t->name, i, q, w[q][0], w[q][1]);
    }
}

static void racing_line_case(const char *path, int sweeps, double over, double *paper,
                             double *driven)
{
    td_track t;
    td_err err = {0};
    TD_ASSERT_OK(td_track_load(&t, path, &err));
    td_car_config car;
    td_car_config_default(&car);
    td_racing_options o;
    td_racing_options_default(&o, &car);
    o.max_sweeps = sweeps;
    td_racing_line rl;
    TD_ASSERT_OK(td_racing_line_compute(&rl, &t, &car, &o, &err));
    TD_ASSERT(rl.n > 100);
    assert_footprint_inside(&t, &rl, &car);
    TD_ASSERT(rl.min_margin_m > 0);
    /* Faster than the centreline at the same limits, and never faster than the top speed. */
    TD_ASSERT(rl.lap_time_s < rl.centerline_lap_s);
    TD_ASSERT(rl.lap_time_s > rl.length_m / (car.speed_max * car.speed_gain));
    /* The line's time is the driven refinement's (the car's pace on it), the planner's
     * profile on paper beside it. */
    TD_ASSERT(rl.refine_evals > 1 && rl.drive_lap_s > 0 && rl.plan_lap_s > 0);
    TD_ASSERT_MSG(fabs(rl.lap_time_s / rl.drive_lap_s - 1.0) < 1e-6,
                  "%s: line %.4f s, drive %.4f s", path, rl.lap_time_s, rl.drive_lap_s);
    TD_ASSERT(rl.drive_clearance_m >= 0);
    /* The racing-line driver drives it: 5 laps, the flying ones (2-5) on the paper time. */
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.laps = 5;
    td_driver_config dc;
    td_driver_config_default(&dc, TD_DRIVER_RACING_LINE);
    dc.line = &rl; /* the driver follows this very line */
    td_episode_info info;
    double max_err;
    TD_ASSERT_OK(td_driver_race(&t, &cfg, &dc, &info, &max_err, &err));
    TD_ASSERT_EQ_INT(info.status, TD_EP_LAP_COMPLETE);
    TD_ASSERT_EQ_INT(info.laps, 5);
    TD_ASSERT_EQ_INT(info.events.off_tracks, 0);
    double sum = 0;
    for (int k = 1; k < 5; k++)
        sum += info.lap_times_s[k];
    *paper = rl.lap_time_s;
    *driven = sum / 4;
    TD_ASSERT_MSG(fabs(*driven / *paper - 1.0) < 0.01, "%s: driven %.3f s, paper %.3f s", path,
                  *driven, *paper);
    /* Within 0.2 m of the line: the car's wheels stay on the road (no off-track) though the
     * line keeps them 2 cm from the edge, so the car strays inward. */
    TD_ASSERT_MSG(max_err < 0.2, "%s: %.3f m from the line", path, max_err);
    if (over > 1) {
        /*
         * The line is the car's limit: told to drive it faster than its profile, the driver
         * leaves the road or laps no faster than the line on paper. (A profile below the
         * car's limit laps faster so: the planner of session 6, which planned the steering's
         * dead time as a rate limit and the largest curvature within 0.3 m, was 0.84-0.97 x
         * learned laps.)
         */
        dc.speed_scale = over;
        TD_ASSERT_OK(td_driver_race(&t, &cfg, &dc, &info, NULL, &err));
        int clean = info.status == TD_EP_LAP_COMPLETE && info.events.off_tracks == 0;
        double fly = 0;
        for (int k = 1; k < 5; k++)
            fly += 0.25 * info.lap_times_s[k];
        TD_ASSERT_MSG(!clean || fly > 0.99 * *paper,
                      "%s: at %.2f x the profile clean laps of %.3f s, %.3f s on paper", path, over,
                      fly, *paper);
    }
    td_racing_line_free(&rl);
    td_track_free(&t);
}

TD_TEST(racing_line_inside_the_road_and_driven_on_its_time)
{
    double paper, driven;
    /* A short search on one track (any line must be driven on its time), the full one on
     * Smile Speedway. */
    racing_line_case(TD_TEST_SOURCE_DIR "/tracks/kidney.json", 40, 0, &paper, &driven);
    racing_line_case(TD_SHARED_TRACKS "/reInvent2019_track.npy", 400, 1.05, &paper, &driven);
    /* The calibrated car's limit on Smile Speedway: about 6.0 s, under the 2020 virtual
     * league's best lap there (7.198 s) as the simulated car's grip and steering allow, and
     * above the length of the road's inside at top speed. */
    TD_ASSERT(paper > 5.0 && paper < 7.198);
    /* Forever Raceway, many short turns: the planner's profile on paper (7.214 s with
     * 42a4548's driver) was driven 1.6 % slower (7.333 s); the line's time is now the
     * driven refinement's. */
    racing_line_case(TD_SHARED_TRACKS "/2024_reinvent_champ_ccw.npy", 400, 0, &paper, &driven);
}

TD_TEST(racing_line_refinement_drives_fewer_on_a_long_route)
{
    /* A drive costs as much as the route is long: on a route longer than 25 m the driven
     * refinement makes at most refine_evals x 25 / length drives (hairpin, 35.3 m: 29 of 40;
     * before session 9 all 40, and 400 on the 50-90 m routes at 35-111 s of CPU). */
    td_track t;
    td_err err = {0};
    TD_ASSERT_OK(td_track_load(&t, TD_TEST_SOURCE_DIR "/tracks/hairpin.json", &err));
    td_car_config car;
    td_car_config_default(&car);
    td_racing_options o;
    td_racing_options_default(&o, &car);
    o.max_sweeps = 10;
    o.refine_evals = 40;
    td_racing_line rl;
    TD_ASSERT_OK(td_racing_line_compute(&rl, &t, &car, &o, &err));
    int budget = (int)ceil(o.refine_evals * 25.0 / t.length);
    TD_ASSERT(t.length > 30 && budget < o.refine_evals);
    TD_ASSERT(rl.refine_evals > 1 && rl.refine_evals <= budget);
    TD_ASSERT(rl.drive_lap_s > 0);
    td_racing_line_free(&rl);
    td_track_free(&t);
}

/* The path search on route path with a few sweeps, no refinement; full: evaluate the whole
 * line at every move (the reference). */
static void racing_search(const char *path, int full, td_racing_line *rl)
{
    td_track t;
    td_err err = {0};
    TD_ASSERT_OK(td_track_load(&t, path, &err));
    td_car_config car;
    td_car_config_default(&car);
    td_racing_options o;
    td_racing_options_default(&o, &car);
    o.max_sweeps = 3;
    o.refine_evals = 0;
    o.full_evaluate = full;
    TD_ASSERT_OK(td_racing_line_compute(rl, &t, &car, &o, &err));
    td_track_free(&t);
}

TD_TEST(racing_line_search_evaluates_a_move_locally)
{
    /* An evaluation of a moved line recomputes only around the move, and finds the same line
     * bit for bit as the whole-line reference. Before session 10 every evaluation was the whole
     * line (9 n of work: n stations, 8 speed passes), so the search cost the route's length
     * squared; now an evaluation's work does not grow with the route: hairpin (35.3 m) and
     * penbay_pro (89.2 m). */
    const char *paths[2] = {TD_TEST_SOURCE_DIR "/tracks/hairpin.json",
                            TD_SHARED_TRACKS "/penbay_pro.npy"};
    double per_eval[2];
    for (int k = 0; k < 2; k++) {
        td_racing_line fast, full;
        racing_search(paths[k], 0, &fast);
        racing_search(paths[k], 1, &full);
        TD_ASSERT_EQ_INT(fast.n, full.n);
        TD_ASSERT_EQ_INT(fast.search_evals, full.search_evals);
        TD_ASSERT(fast.search_evals > 500);
        TD_ASSERT_EQ_INT(memcmp(fast.lat, full.lat, sizeof(double) * fast.n), 0);
        TD_ASSERT_EQ_INT(memcmp(&fast.plan_lap_s, &full.plan_lap_s, sizeof(double)), 0);
        TD_ASSERT_EQ_INT(full.search_work, 9L * full.n * full.search_evals);
        per_eval[k] = (double)fast.search_work / fast.search_evals;
        TD_ASSERT_LT(per_eval[k], 9.0 * fast.n / 3);
        td_racing_line_free(&fast);
        td_racing_line_free(&full);
    }
    TD_ASSERT_LT(per_eval[1], 1.3 * per_eval[0]);
}

TD_TEST(racing_line_needs_a_loop_and_room)
{
    td_track t;
    td_err err = {0};
    TD_ASSERT_OK(td_track_load(&t, TD_SHARED_TRACKS "/Straight_track.npy", &err));
    td_car_config car;
    td_car_config_default(&car);
    td_racing_options o;
    td_racing_options_default(&o, &car);
    td_racing_line rl;
    TD_ASSERT_EQ_INT(td_racing_line_compute(&rl, &t, &car, &o, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "loop");
    td_track_free(&t);
    TD_ASSERT_OK(td_track_load(&t, TD_TEST_SOURCE_DIR "/tracks/oval.json", &err));
    car.track_m = 1.5; /* wheels 1.5 m apart: no road is wide enough */
    td_racing_options_default(&o, &car);
    TD_ASSERT_EQ_INT(td_racing_line_compute(&rl, &t, &car, &o, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "wide");
    td_track_free(&t);
}

/* ---- the real camera: effects and domain randomization ----------------------------------------
 */

TD_TEST(randomized_looks_stay_in_their_ranges)
{
    td_rng rng;
    td_rng_seed(&rng, 11, 3);
    int decor_seen[3] = {0};
    for (int k = 0; k < 3000; k++) {
        td_look l;
        td_look_default(&l);
        td_look_randomize(&l, &rng);
        TD_ASSERT(l.brightness >= TD_DR_BRIGHTNESS_LO && l.brightness <= TD_DR_BRIGHTNESS_HI);
        TD_ASSERT(l.contrast >= TD_DR_CONTRAST_LO && l.contrast <= TD_DR_CONTRAST_HI);
        TD_ASSERT(l.exposure >= TD_DR_EXPOSURE_LO && l.exposure <= TD_DR_EXPOSURE_HI);
        for (int c = 0; c < 3; c++)
            TD_ASSERT(l.wb[c] >= TD_DR_WB_LO && l.wb[c] <= TD_DR_WB_HI);
        TD_ASSERT(l.texture >= 0 && l.texture <= TD_DR_TEXTURE_HI);
        TD_ASSERT(l.sky_gradient >= 0 && l.sky_gradient <= TD_DR_SKY_GRADIENT_HI);
        TD_ASSERT(l.noise_sigma >= 0 && l.noise_sigma <= TD_DR_NOISE_HI);
        TD_ASSERT(l.blur_s >= 0 && l.blur_s <= TD_DR_BLUR_HI);
        TD_ASSERT(l.vignette >= 0 && l.vignette <= TD_DR_VIGNETTE_HI);
        TD_ASSERT(fabs(l.pitch_offset_deg) <= TD_DR_PITCH_HI);
        TD_ASSERT(fabs(l.height_offset_m) <= TD_DR_HEIGHT_HI);
        TD_ASSERT(l.decor >= 0 && l.decor <= 2);
        decor_seen[l.decor]++;
    }
    /* Each outcome happens about as often as documented. */
    TD_ASSERT_NEAR(decor_seen[0] / 3000.0, 1.0 - TD_DR_DECOR_P, 0.04);
    TD_ASSERT_NEAR(decor_seen[2] / 3000.0, 0.5 * TD_DR_DECOR_P, 0.04);
    /* The defaults are the clean simulator. */
    td_look d;
    td_look_default(&d);
    TD_ASSERT(d.texture == 0 && d.noise_sigma == 0 && d.blur_s == 0 && d.vignette == 0 &&
              d.decor == 0 && d.exposure == 1 && d.pitch_offset_deg == 0);
}

typedef struct cam_world {
    td_track t;
    td_ground_map *map;
    td_box decor[TD_DECOR_MAX];
    uint8_t level[TD_DECOR_MAX];
    int ndecor;
    td_camera_config cfg;
    double x, y, yaw;
} cam_world;

static void cam_open(cam_world *w)
{
    td_err err = {0};
    TD_ASSERT_OK(td_track_load(&w->t, TD_TEST_SOURCE_DIR "/tracks/kidney.json", &err));
    TD_ASSERT_OK(td_ground_map_open(&w->map, &w->t, 0, &err));
    w->ndecor = td_decor_build(&w->t, 1, w->decor, w->level, TD_DECOR_MAX);
    td_camera_config_default(&w->cfg);
    td_track_point_at(&w->t, 1.0, 0.0, &w->x, &w->y, &w->yaw);
}

static void cam_close(cam_world *w)
{
    td_ground_map_close(w->map);
    td_track_free(&w->t);
}

static void shoot(cam_world *w, const td_look *look, const td_camera_frame *fr, uint8_t *img)
{
    td_scene sc = {&w->t, w->map, NULL, 0, look, w->decor, w->level, w->ndecor};
    td_camera_render_grey_frame(&w->cfg, &sc, w->x, w->y, w->yaw, fr, img);
}

static double mean_abs_diff(const uint8_t *a, const uint8_t *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += abs((int)a[i] - (int)b[i]);
    return s / n;
}

TD_TEST(camera_effects_do_what_they_say)
{
    cam_world w;
    cam_open(&w);
    enum { N = 160 * 120 };
    static uint8_t clean[N], img[N], img2[N];
    td_look l0, l;
    td_look_default(&l0);
    shoot(&w, &l0, NULL, clean);
    /* Noise: zero mean, the requested spread, the same for the same draw, another for
     * another draw. */
    l = l0;
    l.noise_sigma = 8;
    td_camera_frame f1 = {0, 1}, f2 = {0, 2};
    shoot(&w, &l, &f1, img);
    shoot(&w, &l, &f1, img2);
    TD_ASSERT(memcmp(img, img2, N) == 0);
    double s = 0, s2 = 0;
    int m = 0;
    for (int i = 0; i < N; i++) {
        if (clean[i] < 30 || clean[i] > 225)
            continue; /* clipping would bias it */
        double d = (double)img[i] - clean[i];
        s += d;
        s2 += d * d;
        m++;
    }
    TD_ASSERT_MSG(m > N / 2, "%d usable of %d (centre %d, corner %d)", m, N, clean[60 * 160 + 80],
                  clean[0]);
    TD_ASSERT_NEAR(s / m, 0.0, 0.5);
    TD_ASSERT_NEAR(sqrt(s2 / m), 8.0, 1.0);
    shoot(&w, &l, &f2, img2);
    TD_ASSERT(mean_abs_diff(img, img2, N) > 3.0);
    /* Vignetting: the corners lose about its strength, the centre nothing. */
    l = l0;
    l.vignette = 0.4;
    shoot(&w, &l, NULL, img);
    int c = 60 * 160 + 80, corner = 119 * 160 + 159;
    TD_ASSERT_NEAR(img[c], clean[c], 1);
    TD_ASSERT_NEAR((double)img[corner] / clean[corner], 0.6, 0.06);
    /* Motion blur needs a turning car: none when still, smeared when turning. */
    l = l0;
    l.blur_s = 0.02;
    shoot(&w, &l, NULL, img);
    TD_ASSERT(memcmp(img, clean, N) == 0);
    td_camera_frame turning = {3.0, 0};
    shoot(&w, &l, &turning, img);
    /* Sideways sharpness (squared differences of neighbours; a smeared edge has less). */
    double edges0 = 0, edges1 = 0;
    for (int j = 0; j < 120; j++)
        for (int i = 0; i + 1 < 160; i++) {
            double d0 = clean[j * 160 + i + 1] - clean[j * 160 + i];
            double d1 = img[j * 160 + i + 1] - img[j * 160 + i];
            edges0 += d0 * d0;
            edges1 += d1 * d1;
        }
    TD_ASSERT_MSG(edges1 < 0.5 * edges0, "%g vs %g", edges1, edges0);
    /* Texture: grain on the floor, fixed to the world (the same pose gives the same grain). */
    l = l0;
    l.texture = 20;
    shoot(&w, &l, NULL, img);
    shoot(&w, &l, NULL, img2);
    TD_ASSERT(memcmp(img, img2, N) == 0);
    double dv = mean_abs_diff(img, clean, N);
    TD_ASSERT(dv > 2.0 && dv < 12.0);
    /* Exposure brightens the whole image. */
    l = l0;
    l.exposure = 1.2;
    shoot(&w, &l, NULL, img);
    long sum0 = 0, sum1 = 0;
    for (int i = 0; i < N; i++) {
        sum0 += clean[i];
        sum1 += img[i];
    }
    TD_ASSERT(sum1 > 1.1 * sum0);
    /* Surroundings: walls and people appear where the sky was. */
    l = l0;
    l.decor = 2;
    shoot(&w, &l, NULL, img);
    int sky = clean[0], changed = 0;
    for (int i = 0; i < 20 * 160; i++)
        changed += clean[i] == sky && img[i] != sky;
    TD_ASSERT(changed > 200);
    /* A camera mounted with more pitch sees the horizon higher in the image (fewer sky rows). */
    l = l0;
    l.pitch_offset_deg = 5;
    shoot(&w, &l, NULL, img);
    int rows0 = 0, rows1 = 0;
    for (int j = 0; j < 120; j++) {
        rows0 += clean[j * 160 + 80] == sky;
        rows1 += img[j * 160 + 80] == sky;
    }
    TD_ASSERT(rows1 < rows0 - 5);
    cam_close(&w);
}

TD_TEST(decor_stays_off_the_road)
{
    cam_world w;
    cam_open(&w);
    TD_ASSERT(w.ndecor > 10);
    int kinds[5] = {0};
    for (int k = 0; k < w.ndecor; k++) {
        const td_box *b = &w.decor[k];
        kinds[b->kind]++;
        double c = cos(b->yaw), s = sin(b->yaw);
        for (int q = 0; q < 4; q++) {
            double lx = (q & 1 ? 0.5 : -0.5) * b->length, ly = (q & 2 ? 0.5 : -0.5) * b->width;
            TD_ASSERT(!td_track_on_road_slow(&w.t, b->x + lx * c - ly * s, b->y + lx * s + ly * c));
        }
    }
    TD_ASSERT_EQ_INT(kinds[TD_BOX_WALL], 4);
    TD_ASSERT(kinds[TD_BOX_BARRIER] > 2 && kinds[TD_BOX_PERSON] > 2);
    cam_close(&w);
}

/* on_step hook: the mean grey of the first camera frame of an evaluation. */
static int first_frame_mean(void *user, const td_eval_step *st, td_err *err)
{
    (void)err;
    double *out = user;
    if (st->step == 0 && st->env->obs_camera) {
        long sum = 0;
        int n = td_vecenv_camera_bytes(&st->env->cfg);
        for (int i = 0; i < n; i++)
            sum += st->env->obs_camera[i];
        *out = (double)sum / n;
    }
    return 0;
}

/* A random camera policy whose greedy action is straight ahead at the fastest speed: it
 * leaves the oval at the first turn, and after each reset again. */
static void straight_camera_policy(td_policy *p)
{
    td_model_metadata m;
    td_model_metadata_default(&m);
    m.camera = TD_CAMERA_FRONT;
    m.network = TD_NET_SHALLOW;
    m.n_actions = 2;
    m.actions[0] = (td_action){-10.0, 4.0};
    m.actions[1] = (td_action){0.0, 4.0};
    td_rng rng;
    td_rng_seed(&rng, 3, 7);
    td_err err = {0};
    TD_ASSERT_OK(td_policy_init(p, &m, 1, &rng, &err));
    int biased = 0;
    for (int k = 0; k < p->pi->n_tensors; k++) {
        const td_nn_tensor *tt = &p->pi->tensors[k];
        if (strstr(tt->name, "head.bias") && tt->n == (size_t)m.n_actions) {
            p->pi->params[tt->offset + 1] = 50.0f;
            biased = 1;
        }
    }
    TD_ASSERT(biased);
}

/* The robustness tests' start: the straight camera policy on the oval, the evaluation's
 * defaults with `laps` trials and seed 5. */
static void robustness_setup(td_policy *p, td_track *t, td_eval_options *o, int laps)
{
    td_err err = {0};
    straight_camera_policy(p);
    TD_ASSERT_OK(td_track_load(t, TD_TEST_SOURCE_DIR "/tracks/oval.json", &err));
    td_eval_options_default(o);
    o->laps = laps;
    o->seed = 5;
}

static int same_trial(const td_robustness_trial *a, const td_robustness_trial *b)
{
    return a->steps == b->steps && a->clean == b->clean && a->completed == b->completed &&
           a->lap_s == b->lap_s && a->progress_first == b->progress_first &&
           a->events.off_tracks == b->events.off_tracks && a->events.resets == b->events.resets &&
           a->seed == b->seed && a->start_ndist == b->start_ndist;
}

TD_TEST(robustness_suite_is_deterministic_for_a_seed)
{
    td_policy p;
    td_err err = {0};
    td_track t;
    td_eval_options o;
    robustness_setup(&p, &t, &o, 2);
    o.penalties.max_resets = 1; /* the second off-track ends the trial */
    o.penalties.off_track_penalty_s = 0.2;
    td_robustness_row a[TD_ROBUSTNESS_N], b[TD_ROBUSTNESS_N];
    TD_ASSERT_OK(td_eval_robustness(&p, &t, &o, a, &err));
    TD_ASSERT_OK(td_eval_robustness(&p, &t, &o, b, &err));
    int names = 0;
    for (int k = 0; k < TD_ROBUSTNESS_N; k++) {
        TD_ASSERT_STREQ(a[k].name, b[k].name);
        TD_ASSERT_EQ_INT(a[k].trials, 2);
        TD_ASSERT_EQ_INT(a[k].steps, b[k].steps);
        TD_ASSERT_EQ_INT(a[k].laps_clean, b[k].laps_clean);
        TD_ASSERT(a[k].progress_first == b[k].progress_first);
        for (int j = 0; j < 2; j++) {
            TD_ASSERT_MSG(same_trial(&a[k].trial[j], &b[k].trial[j]), "%s %s trial %d", a[k].name,
                          a[k].strength, j);
            TD_ASSERT_MSG(a[k].trial[j].steps < 200, "%s %s: %ld steps", a[k].name, a[k].strength,
                          a[k].trial[j].steps);
        }
        names += k > 0 && strcmp(a[k].name, a[k - 1].name) != 0;
    }
    /* The clean look first, then 9 perturbations at two strengths each (brightness as dim
     * and bright). */
    TD_ASSERT_STREQ(a[0].strength, "none");
    TD_ASSERT_EQ_INT(names, 9);
    /* Another seed draws other trials. */
    TD_ASSERT_EQ_U64(a[0].trial[1].seed, td_robustness_trial_seed(5, 1));
    TD_ASSERT(td_robustness_trial_seed(6, 1) != td_robustness_trial_seed(5, 1));
    TD_ASSERT_EQ_U64(td_robustness_trial_seed(6, 0), 6);
    /* The evaluation's camera sees the case's look: a dim case's first frame is darker. */
    double clean = -1, dim = -1;
    td_look look;
    const char *nm, *st;
    o.laps = 1;
    o.on_step = first_frame_mean;
    td_robustness_case(0, &nm, &st, &look);
    o.look = &look;
    o.on_step_user = &clean;
    td_eval_result r;
    TD_ASSERT_OK(td_evaluate(&p, &t, &o, &r, &err));
    td_robustness_case(2, &nm, &st, &look);
    TD_ASSERT_STREQ(nm, "dim");
    o.on_step_user = &dim;
    TD_ASSERT_OK(td_evaluate(&p, &t, &o, &r, &err));
    TD_ASSERT_MSG(clean > 0 && dim > 0 && dim < 0.7 * clean, "clean %g, dim %g", clean, dim);
    td_track_free(&t);
    td_policy_free(&p);
}

TD_TEST(robustness_trials_differ)
{
    /* Until session 7 the trials of a case were one trial repeated (the same start, look and
     * noise draws): the three trials of every case drove the same steps. Now trial j of n
     * starts j/n of the lap on with a seed of its own. */
    td_policy p;
    td_err err = {0};
    td_track t;
    td_eval_options o;
    robustness_setup(&p, &t, &o, 3);
    o.penalties.max_resets = 0;
    td_robustness_row rows[TD_ROBUSTNESS_N];
    TD_ASSERT_OK(td_eval_robustness(&p, &t, &o, rows, &err));
    int differ = 0;
    for (int k = 0; k < TD_ROBUSTNESS_N; k++) {
        const td_robustness_trial *tr = rows[k].trial;
        TD_ASSERT_NEAR(tr[1].start_ndist, 1.0 / 3, 1e-12);
        TD_ASSERT_NEAR(tr[2].start_ndist, 2.0 / 3, 1e-12);
        TD_ASSERT(tr[0].seed == 5 && tr[1].seed != 5 && tr[2].seed != 5 &&
                  tr[1].seed != tr[2].seed);
        differ += !same_trial(&tr[0], &tr[1]) || !same_trial(&tr[1], &tr[2]);
        /* Without resets the first off-track ends the trial where it came. */
        for (int j = 0; j < 3; j++) {
            TD_ASSERT_EQ_INT(tr[j].events.resets, 0);
            TD_ASSERT_EQ_INT(tr[j].events.off_tracks, 1);
            TD_ASSERT(tr[j].progress_first > 0 && tr[j].progress_first < 100);
        }
    }
    TD_ASSERT_EQ_INT(differ, TD_ROBUSTNESS_N);
    /* The progress before the off-track differs by where a trial started (the straights of
     * the oval are not all as long before a turn). */
    TD_ASSERT(rows[0].trial[0].progress_first != rows[0].trial[1].progress_first ||
              rows[0].trial[1].progress_first != rows[0].trial[2].progress_first);
    /* Trial 0 of the clean case is DeepRacer's trial from the start line with the seed. */
    td_eval_result r;
    o.laps = 1;
    TD_ASSERT_OK(td_evaluate(&p, &t, &o, &r, &err));
    TD_ASSERT_EQ_INT(r.steps, rows[0].trial[0].steps);
    td_track_free(&t);
    td_policy_free(&p);
}

TD_TEST(robustness_counts_a_lap_with_an_off_track_as_not_clean)
{
    /* With resets (DeepRacer's evaluation, 10,000) every model completed every lap of the
     * suite, so the report could not tell models apart: the straight driver leaves the oval
     * and is reset, again and again, until its lap is done. Such a lap is completed but not
     * clean, and the off-tracks and the progress before the first show it. */
    td_policy p;
    td_err err = {0};
    td_track t;
    td_eval_options o;
    robustness_setup(&p, &t, &o, 1);
    TD_ASSERT(o.penalties.max_resets >= 10000);
    o.penalties.off_track_penalty_s = 0.2; /* short pauses: fewer steps */
    td_robustness_row rows[TD_ROBUSTNESS_N], all;
    TD_ASSERT_OK(td_eval_robustness(&p, &t, &o, rows, &err));
    const td_robustness_row *c = &rows[0];
    TD_ASSERT_EQ_INT(c->laps_completed, 1);
    TD_ASSERT_EQ_INT(c->laps_clean, 0);
    TD_ASSERT(c->events.off_tracks >= 1 && c->events.resets == c->events.off_tracks);
    TD_ASSERT(c->progress_first > 0 && c->progress_first < 50);
    TD_ASSERT(c->mean_lap_s > 0 && c->mean_clean_lap_s < 0);
    TD_ASSERT(c->best_lap_s == c->mean_lap_s && c->best_lap_s == c->trial[0].lap_s);
    td_robustness_total(rows, TD_ROBUSTNESS_N, &all);
    TD_ASSERT_EQ_INT(all.trials, TD_ROBUSTNESS_N);
    TD_ASSERT_EQ_INT(all.laps_clean, 0);
    int done = 0, off = 0;
    for (int k = 0; k < TD_ROBUSTNESS_N; k++) {
        done += rows[k].laps_completed;
        off += rows[k].events.off_tracks;
    }
    TD_ASSERT_EQ_INT(all.laps_completed, done);
    TD_ASSERT_EQ_INT(all.events.off_tracks, off);
    td_track_free(&t);
    td_policy_free(&p);
}
