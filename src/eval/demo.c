/*
 * demo.c - an example model directory for the pictures (`trackday plot --demo`, and
 * scripts/make-doc-pictures for docs/images/): a synthetic learning curve in
 * metrics/training.jsonl and simtrace logs of the built-in driver, with steering noise in
 * training so some episodes leave the track.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trackday/logs.h"
#include "trackday/plot.h"
#include "trackday/simtrace.h"
#include "trackday/trainer.h"

#define DEMO_SLOW_MPS 1.4
#define DEMO_FAST_MPS 2.8

/* Drives `episodes` episodes of the built-in driver and writes them as a simtrace file.
 * steer_noise_deg > 0 adds a random walk to the steering so some episodes go off track. */
static int demo_drive(const td_track *track, td_sim_mode mode, int episodes, long iteration,
                      double steer_noise_deg, uint64_t seed, const char *path, td_err *err)
{
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = mode;
    cfg.race.spread_starts = 1; /* the example logs cover the lap from the first iteration */
    cfg.seed = seed;
    cfg.max_steps = 3000;
    td_vecenv env;
    td_vecenv_buffers b;
    int rc = td_vecenv_init(&env, &cfg, track, 1, err);
    if (rc)
        return rc;
    if ((rc = td_vecenv_buffers_init(&b, &env, err)) != 0) {
        td_vecenv_free(&env);
        return rc;
    }
    td_vecenv_reset(&env);

    td_simtrace_writer *w = NULL;
    td_driver drv;
    int have_driver = 0;
    td_rng rng;
    td_rng_seed(&rng, seed, 99);
    rc = td_simtrace_writer_open(&w, path, err);
    for (int ep = 0; !rc && ep < episodes; ep++) {
        td_driver_config dc;
        td_driver_config_default(&dc, TD_DRIVER_PURE_PURSUIT);
        /* Each episode a slightly different driver, so laps differ. */
        dc.lat_accel_mps2 = 2.2 + 0.9 * td_rng_uniform(&rng);
        if (have_driver)
            td_driver_free(&drv);
        have_driver = 0;
        rc = td_driver_init(&drv, &dc, td_vecenv_track(&env, 0), err);
        if (rc)
            break;
        have_driver = 1;
        double noise = 0, sigma = steer_noise_deg * td_rng_uniform(&rng);
        b.dones[0] = 0;
        while (!b.dones[0] && !rc) {
            double st, sp;
            td_driver_act(&drv, &cfg.car, td_vecenv_car(&env, 0), &b.params[0], &st, &sp);
            noise = 0.9 * noise + sigma * td_rng_normal(&rng);
            /* The nearest action of a discrete space shaped like the console's default
             * (steering {-30, -15, 0, 15, 30} x two speeds), so the logs have action indices. */
            int a_steer = (int)lround((st + noise) / 15.0) + 2;
            a_steer = a_steer < 0 ? 0 : a_steer > 4 ? 4 : a_steer;
            int a_speed = sp > DEMO_FAST_MPS * 0.75 ? 1 : 0;
            int a = a_steer * 2 + a_speed;
            b.actions[0] = (float)(15.0 * (a_steer - 2));
            b.actions[1] = (float)(a_speed ? DEMO_FAST_MPS : DEMO_SLOW_MPS);
            td_vecenv_step(&env);
            td_simtrace_row row;
            td_simtrace_row_from_step(&row, &env, 0);
            row.episode = (long)iteration * episodes + ep;
            row.action = a;
            row.iteration = iteration;
            rc = td_simtrace_writer_write(w, &row, err);
        }
    }
    int rc2 = td_simtrace_writer_close(w, err);
    if (!rc)
        rc = rc2;
    if (have_driver)
        td_driver_free(&drv);
    td_vecenv_buffers_free(&b);
    td_vecenv_free(&env);
    return rc;
}

/* A plausible learning curve: rising reward and progress, completion after a while, falling
 * entropy, noise; "best" whenever the evaluation progress reaches a new maximum. */
static int demo_metrics(const char *path, td_err *err)
{
    td_rng rng;
    td_rng_seed(&rng, 7, 1);
    double best = -1;
    remove(path);
    for (int i = 0; i < 60; i++) {
        double p = 100.0 * (1 - exp(-i / 14.0)) * (0.92 + 0.08 * td_rng_uniform(&rng));
        double c = 1 / (1 + exp(-(i - 30) / 5.0)) * (0.85 + 0.15 * td_rng_uniform(&rng));
        td_train_progress r = {
            .iteration = i,
            .episodes = 20L * (i + 1),
            .steps = (long)(20 * (i + 1) * (60 + 2.5 * p)),
            .mean_reward = 15 + 160 * (1 - exp(-i / 16.0)) + 8 * td_rng_normal(&rng),
            .mean_progress = p,
            .completion_rate = c,
            .entropy = 0.35 + 1.25 * exp(-i / 22.0) + 0.03 * td_rng_normal(&rng),
            .mean_steps = NAN,
            .elapsed_s = 4.0 * (i + 1),
        };
        double eval = p + 10 * c;
        if (eval > best) {
            best = eval;
            r.best = 1;
        }
        int rc = td_train_metrics_append(path, &r, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* dir + rel into out; TD_ERANGE when it does not fit. */
static int path_in(char *out, size_t cap, const char *dir, const char *rel, td_err *err)
{
    int n = snprintf(out, cap, "%s%s", dir, rel);
    if (n < 0 || (size_t)n >= cap)
        return td_err_set(err, TD_ERANGE, "%s%s: path too long", dir, rel);
    return 0;
}

int td_plot_demo_write(const char *dir, const char *world_name, const td_track *track, td_err *err)
{
    char p[4096], text[512];
    int rc;
    const char *sub[] = {"", "/metrics", "/logs", "/training-simtrace",
                         "/logs/evaluation-simtrace"};
    for (int i = 0; i < 5; i++)
        if ((rc = path_in(p, sizeof(p), dir, sub[i], err)) || (rc = td_mkdir_p(p, err)))
            return rc;
    if ((rc = path_in(p, sizeof(p), dir, "/training_params.yaml", err)))
        return rc;
    int n =
        snprintf(text, sizeof(text), "WORLD_NAME: \"%s\"\nRACE_TYPE: \"TIME_TRIAL\"\n", world_name);
    if (n < 0 || (size_t)n >= sizeof(text))
        return td_err_set(err, TD_ERANGE, "track name '%s' is too long", world_name);
    if ((rc = td_file_write_atomic(p, text, (size_t)n, err)))
        return rc;
    if ((rc = path_in(p, sizeof(p), dir, "/metrics/training.jsonl", err)) ||
        (rc = demo_metrics(p, err)))
        return rc;
    for (int it = 0; it < 2; it++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "/training-simtrace/%d-iteration.csv", it);
        if ((rc = path_in(p, sizeof(p), dir, rel, err)) ||
            (rc = demo_drive(track, TD_MODE_TRAIN, 20, it, it == 0 ? 14.0 : 9.0, 11 + (uint64_t)it,
                             p, err)))
            return rc;
    }
    if ((rc = path_in(p, sizeof(p), dir, "/logs/evaluation-simtrace/0-iteration.csv", err)))
        return rc;
    return demo_drive(track, TD_MODE_EVAL, 3, 0, 0.0, 5, p, err);
}
