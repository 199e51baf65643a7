/*
 * plot.c - `trackday plot DIR`: writes the pictures of a model directory into DIR/plots/
 * (training curves from DIR/metrics/training.jsonl; from the simtrace CSVs in DIR/logs the
 * last evaluation's laps coloured by speed, a per-section summary of speed and steering and
 * the reward along the fastest lap) and prints their paths.
 *
 * `trackday plot --demo DIR` first writes an example model directory: a synthetic learning
 * curve and simtrace logs of the built-in driver (with steering noise in training so some
 * episodes leave the track). scripts/make-doc-pictures uses it for docs/images/.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "trackday/modeldir.h"
#include "trackday/eval.h"
#include "trackday/plot.h"
#include "trackday/sim.h"
#include "trackday/trainer.h"

static const char about[] =
    "Writes pictures (SVG, open them in a browser) of a model directory into DIR/plots/ and "
    "prints their paths:\n"
    "  training.svg     mean reward, progress, completion rate and entropy per\n"
    "                   iteration (from DIR/metrics/training.jsonl, else from the\n"
    "                   training simtraces)\n"
    "  ends.svg         where training episodes ended early (off track, crash, ...)\n"
    "  laps.svg         the last evaluation's laps on the track coloured by speed,\n"
    "                   with off-track and crash points (from DIR/logs/*.csv)\n"
    "  waypoints.svg    mean speed and steering per section of the lap\n"
    "  reward-lap.svg   the reward of each step along the fastest lap\n"
    "\n"
    "With --demo, first writes an example model directory into DIR: a synthetic learning "
    "curve and simulated laps of the built-in driver.";

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* WORLD_NAME of the directory's training_params.yaml (read as training reads it). */
static int world_name(const char *dir, char *out, size_t n)
{
    char path[4096];
    td_training_params tp;
    td_config_warnings quiet; /* training reports them; a picture need not */
    td_config_warnings_clear(&quiet);
    snprintf(path, sizeof(path), "%s/training_params.yaml", dir);
    if (!td_path_exists(path) || td_training_params_load(&tp, path, &quiet, NULL) != 0 ||
        !tp.world_name[0])
        return 0;
    snprintf(out, n, "%s", tp.world_name);
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* Demo model directory                                                                 */
/* ------------------------------------------------------------------------------------ */

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
    cfg.seed = seed;
    cfg.max_steps = 3000;
    td_vecenv env;
    int rc = td_vecenv_init(&env, &cfg, track, 1, err);
    if (rc)
        return rc;
    float action[2] = {0, 0}, reward = 0, obs[TD_STATE_DIM];
    uint8_t done = 0;
    td_params params;
    env.actions = action;
    env.obs_state = obs;
    env.rewards = &reward;
    env.dones = &done;
    env.params = &params;
    td_vecenv_reset(&env);

    td_simtrace_writer *w = NULL;
    td_driver drv;
    int have_driver = 0;
    td_rng rng;
    td_rng_seed(&rng, seed, 99);
    rc = td_simtrace_open(&w, path, err);
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
        done = 0;
        while (!done && !rc) {
            double st, sp;
            td_driver_act(&drv, &cfg.car, td_vecenv_car(&env, 0), &params, &st, &sp);
            noise = 0.9 * noise + sigma * td_rng_normal(&rng);
            /* The nearest action of a discrete space shaped like the console's default
             * (steering {-30, -15, 0, 15, 30} x two speeds), so the logs have action indices. */
            int a_steer = (int)lround((st + noise) / 15.0) + 2;
            a_steer = a_steer < 0 ? 0 : a_steer > 4 ? 4 : a_steer;
            int a_speed = sp > DEMO_FAST_MPS * 0.75 ? 1 : 0;
            int a = a_steer * 2 + a_speed;
            action[0] = (float)(15.0 * (a_steer - 2));
            action[1] = (float)(a_speed ? DEMO_FAST_MPS : DEMO_SLOW_MPS);
            td_vecenv_step(&env);
            td_simtrace_row row;
            memset(&row, 0, sizeof(row));
            td_simtrace_row_from_params(&row, td_vecenv_step_params(&env, 0));
            row.episode = (long)iteration * episodes + ep;
            row.action = a;
            row.reward = reward;
            row.done = done;
            row.iteration = iteration;
            snprintf(row.episode_status, sizeof(row.episode_status), "%s",
                     done ? td_episode_status_name(td_vecenv_last_episode(&env, 0)->status)
                          : "in_progress");
            rc = td_simtrace_write_row(w, &row, err);
        }
    }
    int rc2 = td_simtrace_close(w, err);
    if (!rc)
        rc = rc2;
    if (have_driver)
        td_driver_free(&drv);
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

static int make_demo(const char *dir, const char *track_arg, const td_track *track)
{
    char p[4096];
    td_err err;
    td_err_clear(&err);
    const char *sub[] = {"", "/metrics", "/logs", "/training-simtrace",
                         "/logs/evaluation-simtrace"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof(p), "%s%s", dir, sub[i]);
        if (td_mkdir_p(p, &err))
            return td__cli_fail("%s", err.msg);
    }
    snprintf(p, sizeof(p), "%s/training_params.yaml", dir);
    FILE *f = fopen(p, "w");
    if (!f)
        return td__cli_fail("cannot write %s", p);
    fprintf(f, "WORLD_NAME: \"%s\"\nRACE_TYPE: \"TIME_TRIAL\"\n", track_arg);
    fclose(f);
    snprintf(p, sizeof(p), "%s/metrics/training.jsonl", dir);
    if (demo_metrics(p, &err))
        return td__cli_fail("%s", err.msg);
    for (int it = 0; it < 2; it++) {
        snprintf(p, sizeof(p), "%s/training-simtrace/%d-iteration.csv", dir, it);
        if (demo_drive(track, TD_MODE_TRAIN, 20, it, it == 0 ? 14.0 : 9.0, 11 + (uint64_t)it, p,
                       &err))
            return td__cli_fail("%s", err.msg);
    }
    snprintf(p, sizeof(p), "%s/logs/evaluation-simtrace/0-iteration.csv", dir);
    if (demo_drive(track, TD_MODE_EVAL, 3, 0, 0.0, 5, p, &err))
        return td__cli_fail("%s", err.msg);
    printf("%s: example model directory (track %s)\n", dir, track_arg);
    return 0;
}

static int cmd_plot(int argc, char **argv)
{
    const char *dir = NULL, *track_arg = NULL, *out_arg = NULL;
    int demo = 0, sections = 20;
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR", &dir, "the model directory"),
        TD_CLI_STRING(NULL, "--track", &track_arg, "T",
                      "the track (name or .npy/.json path); default: WORLD_NAME of "
                      "DIR/training_params.yaml (--demo: reInvent2019_track)"),
        TD_CLI_STRING(NULL, "--out", &out_arg, "D", "write into D instead of DIR/plots"),
        TD_CLI_INT("--sections", &sections, 1, 1000, "N",
                   "sections of the lap in waypoints.svg (default 20, i.e. 5%)"),
        TD_CLI_FLAG("--demo", &demo,
                    "first write an example model directory into DIR (a synthetic learning "
                    "curve and simulated laps of the built-in driver)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "plot", .about = about, .opts = opts};
    int prc0 = td__cli_parse(&spec, argc, argv);
    if (prc0 != TD_CLI_RUN)
        return prc0;
    if (!demo && !is_dir(dir))
        return td__cli_fail("%s: no such directory", dir);

    char name[256];
    if (!track_arg && demo)
        track_arg = "reInvent2019_track";
    if (!track_arg && world_name(dir, name, sizeof(name)))
        track_arg = name;
    td_track track;
    int have_track = 0;
    td_err err;
    td_err_clear(&err);
    if (track_arg) {
        char path[4096];
        if (td__cli_track_path_for(track_arg, dir, path, sizeof(path)))
            return 1;
        if (td_track_load(&track, path, &err))
            return td__cli_fail("%s", err.msg);
        have_track = 1;
    }
    int rc = 0;
    if (demo) {
        rc = make_demo(dir, track_arg, &track);
        if (rc)
            goto done;
    }
    if (!have_track)
        fprintf(stderr,
                "trackday: no track (pass --track T, or set WORLD_NAME in "
                "%s/training_params.yaml): drawing the driven lines alone\n",
                dir);

    char out[4096];
    if (out_arg)
        snprintf(out, sizeof(out), "%s", out_arg);
    else
        snprintf(out, sizeof(out), "%s/plots", dir);
    td_plot_output po;
    td__cli_status("drawing the pictures of %s", dir);
    int prc = td_plot_model_dir(dir, have_track ? &track : NULL, out, sections, &po, &err);
    td__cli_status_done();
    for (int i = 0; i < po.n_notes; i++)
        fprintf(stderr, "trackday: %s\n", po.notes[i]);
    for (int i = 0; i < po.n_paths; i++)
        printf("%s\n", po.paths[i]);
    if (prc)
        rc = td__cli_fail("%s", err.msg);
done:
    if (have_track)
        td_track_free(&track);
    return rc;
}

TD_CLI_COMMAND("plot", "write training curves and track pictures of a model directory", cmd_plot)
