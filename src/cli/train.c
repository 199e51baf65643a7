/*
 * train.c - `trackday train DIR`: trains a model directory with a live progress line;
 * Ctrl-C or SIGTERM finishes the current step, writes a checkpoint and exits 0.
 */
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "trackday/reward.h"
#include "trackday/trainer.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static const char about[] =
    "Trains the model directory DIR (see 'trackday init'): PPO or SAC as model_metadata.json "
    "says, on the track of training_params.yaml (WORLD_NAME). Writes DIR/model/{last,best}.tdm, "
    "DIR/metrics/training.jsonl and DIR/training-simtrace/ (DeepRacer's log layout, read by "
    "'trackday logs'). Ctrl-C (or SIGTERM) stops after the current "
    "iteration and keeps its checkpoint.";

static int parse_batch_size(const char *opt, const char *v, void *dst)
{
    char *end;
    long l = strtol(v, &end, 10);
    if (end == v || *end || (l != 32 && l != 64 && l != 128 && l != 256 && l != 512))
        return td__cli_usage_error("%s: '%s' must be 32, 64, 128, 256 or 512", opt, v);
    *(int *)dst = (int)l;
    return 0;
}

/* --simtrace auto|all|none|N into the options' simtrace and simtrace_every. */
static int parse_simtrace(const char *opt, const char *v, void *dst)
{
    td_train_options *o = dst;
    if (!strcmp(v, "auto")) {
        o->simtrace_every = 0;
        return 0;
    }
    if (!strcmp(v, "all")) {
        o->simtrace_every = 1;
        return 0;
    }
    if (!strcmp(v, "none")) {
        o->simtrace = 0;
        return 0;
    }
    char *end;
    long l = strtol(v, &end, 10);
    if (end == v || *end || l < 1 || l > 1000000)
        return td__cli_usage_error("%s: '%s' must be auto, all, none or a number in [1, 1000000]",
                                   opt, v);
    o->simtrace_every = (int)l;
    return 0;
}

typedef struct {
    int tty, quiet;
} progress_ctx;

static void on_progress(void *user, const td_train_progress *p)
{
    progress_ctx *c = user;
    char left[32] = "";
    if (c->quiet)
        return;
    if (p->time_left_s >= 0)
        snprintf(left, sizeof(left), " left %4.0fs", p->time_left_s);
    fprintf(stderr,
            "%siter %4d  episodes %6ld  steps %9ld  reward %8.2f  progress %5.1f%%  laps %3.0f%%  "
            "eval %5.1f%%  %7.0f steps/s  %5.0fs%s%s",
            c->tty ? "\r" : "", p->iteration, p->episodes, p->steps, p->mean_reward,
            p->mean_progress, 100.0 * p->completion_rate, p->eval_progress, p->steps_per_s,
            p->elapsed_s, left, c->tty ? "\033[K" : "\n");
    fflush(stderr);
}

static int cmd_train(int argc, char **argv)
{
    td_train_options o;
    td_train_result res;
    td_model_dir md;
    td_hyperparams hp;
    int hp_set = 0, threads_set = 0;
    progress_ctx pc = {isatty(2), 0};
    const char *track_arg = NULL;
    char track_path[1200];
    td_err err;

    td_train_options_default(&o);
    /* Hyperparameter overrides are applied over the directory's hyperparameters.json, read
     * after parsing: each is parsed into its own variable and applied if given. */
    double lr = 0, entropy = 0, gamma = 0;
    int batch = 0, epochs = 0, episodes = 0;
    int lr_set = 0, batch_set = 0, epochs_set = 0, entropy_set = 0, gamma_set = 0, eps_set = 0;
    long seed = (long)o.seed;
    const char *on_reward_error = NULL;
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR", &o.dir, "the model directory"),
        TD_CLI_STRING(NULL, "--track", &track_arg, "T",
                      "track name or .npy/.json path (overrides WORLD_NAME)"),
        TD_CLI_SECTION("when to stop (default: Ctrl-C)"),
        TD_CLI_DOUBLE("--minutes", &o.minutes, 0.01, 1e6, "M", "stop after M minutes of training"),
        TD_CLI_INT("--until-laps", &o.until_laps, 1, TD_MAX_LAPS, "K",
                   "stop once the greedy policy drives K laps in a row from the start line "
                   "without leaving the track"),
        TD_CLI_LONG("--max-episodes", &o.max_episodes, 1, 1000000000L, "N",
                    "stop after N episodes (term_cond_max_episodes)"),
        TD_CLI_INT("--iterations", &o.max_iterations, 1, 100000000L, "N",
                   "stop after N iterations"),
        {.name = "--until-score",
         .kind = TD__CLI_DOUBLE,
         .dst = &o.until_score,
         .lo = -1e12,
         .hi = 1e12,
         .arg = "R",
         .given = &o.until_score_set,
         .help = "stop once an iteration's mean episode reward reaches R (hyperparameters.json's "
                 "term_cond_avg_score is read and, as in DeepRacer, never stops training)"},
        TD_CLI_SECTION("training"),
        TD_CLI_OPT_SEED(&seed, "random seed (default 1): the same seed, envs and threads give "
                               "the same run"),
        TD_CLI_INT("--envs", &o.envs, 1, 4096, "N", "cars simulated together (default 16)"),
        {.name = "--threads",
         .kind = TD__CLI_INT,
         .dst = &o.threads,
         .lo = 1,
         .hi = 256,
         .arg = "K",
         .given = &threads_set,
         .help = "simulator threads (default: every CPU for camera and lidar models; 1 for the "
                 "state sensor, whose steps are too short to share)"},
        TD_CLI_STRING(NULL, "--reward", &o.reward_spec, "SPEC",
                      "builtin:NAME, a .so plugin or a .py file (default: DIR's "
                      "reward_function.py)"),
        TD_CLI_CHOICE("--on-reward-error", &on_reward_error, "stop|skip",
                      "when the reward function fails (an exception, a bad value, a time-out, "
                      "something the sandbox forbids, a crash): stop cleanly (default, as "
                      "DeepRacer) or score the step 0, warn and go on (a crashed reward process "
                      "is restarted)"),
        TD_CLI_INT("--max-reward-errors", &o.max_reward_errors, 0, 2147483647, "N",
                   "with skip: stop after more than N failed calls (default 1000)"),
        TD_CLI_FLAG("--resume", &o.resume, "continue from DIR/model/last.tdm and last.state"),
        TD_CLI_CUSTOM("--simtrace", &o, parse_simtrace, "WHICH",
                      "training simtrace files DIR/training-simtrace/N-iteration.csv (DeepRacer's "
                      "layout, every car): auto (default: iterations 0-99, then every 10th to "
                      "999, then every 100th), all, none, or a number N (every Nth iteration)"),
        TD_CLI_FLAG("--quiet", &pc.quiet, "no progress line"),
        TD_CLI_SECTION("hyperparameters (override hyperparameters.json)"),
        {.name = "--lr",
         .kind = TD__CLI_DOUBLE,
         .dst = &lr,
         .lo = 1e-8,
         .hi = 1e-3,
         .arg = "X",
         .given = &lr_set,
         .help = "learning rate"},
        {.name = "--batch-size",
         .kind = TD__CLI_CUSTOM,
         .dst = &batch,
         .parse = parse_batch_size,
         .arg = "N",
         .given = &batch_set,
         .help = "32, 64, 128, 256 or 512"},
        {.name = "--epochs",
         .kind = TD__CLI_INT,
         .dst = &epochs,
         .lo = 3,
         .hi = 10,
         .arg = "N",
         .given = &epochs_set,
         .help = "passes over each iteration's experience"},
        {.name = "--entropy",
         .kind = TD__CLI_DOUBLE,
         .dst = &entropy,
         .lo = 0,
         .hi = 1,
         .arg = "X",
         .given = &entropy_set,
         .help = "entropy bonus (beta_entropy)"},
        {.name = "--gamma",
         .kind = TD__CLI_DOUBLE,
         .dst = &gamma,
         .lo = 0,
         .hi = 1,
         .arg = "X",
         .given = &gamma_set,
         .help = "discount factor"},
        {.name = "--episodes-per-iteration",
         .kind = TD__CLI_INT,
         .dst = &episodes,
         .lo = 1,
         .hi = 100,
         .arg = "N",
         .given = &eps_set,
         .help = "num_episodes_between_training"},
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "train", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    o.seed = (uint64_t)seed;
    if (on_reward_error)
        o.reward_on_error =
            !strcmp(on_reward_error, "skip") ? TD_REWARD_ON_ERROR_SKIP : TD_REWARD_ON_ERROR_STOP;
    if (td_model_dir_load(&md, o.dir, &err))
        return td__cli_fail("%s", err.msg);
    td__cli_print_warnings(&md.warnings);
    hp = md.hyper;
    if (lr_set)
        hp.lr = lr;
    if (batch_set)
        hp.batch_size = batch;
    if (epochs_set)
        hp.num_epochs = epochs;
    if (entropy_set)
        hp.beta_entropy = entropy;
    if (gamma_set)
        hp.discount_factor = gamma;
    if (eps_set)
        hp.num_episodes_between_training = episodes;
    hp_set = lr_set | batch_set | epochs_set | entropy_set | gamma_set | eps_set;
    if (hp_set)
        o.hyper_override = &hp;
    if (!threads_set &&
        (md.metadata.camera != TD_CAMERA_NONE || md.metadata.lidar != TD_LIDAR_NONE)) {
        /* Rendering and ray casting are worth spreading over the cores; a state-sensor step
         * (a fraction of a microsecond) costs less than handing it to another thread. */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n > 1 ? (int)(n < 64 ? n : 64) : 1;
    }
    if (!track_arg)
        track_arg = md.training.world_name[0] ? md.training.world_name : "default";
    if (td__cli_track_path_for(track_arg, o.dir, track_path, sizeof(track_path)))
        return 1;
    o.track_path = track_path;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.stop = &stop_flag;
    o.progress = on_progress;
    o.progress_user = &pc;

    if (!pc.quiet)
        fprintf(stderr, "training %s on %s (%s, %s)%s\n", o.dir, track_arg,
                td_algorithm_name(md.metadata.algorithm),
                md.metadata.state_sensor ? "STATE sensor"
                                         : td_camera_sensor_name(md.metadata.camera),
                o.resume ? ", resuming" : "");
    int rc = td_train_run(&o, &res, &err);
    if (pc.tty && !pc.quiet)
        fprintf(stderr, "\n");
    if (rc)
        return td__cli_fail("%s", err.msg);
    if (o.resume)
        printf("stopped: %s after %d more iterations (%d in all), %.1f s (%.1f s in all); best "
               "greedy progress %.1f%% (iteration %d)\n",
               td_train_stop_name(res.stop), res.last.session_iterations, res.last.iteration,
               res.last.session_s, res.last.elapsed_s, res.best_eval_progress, res.best_iteration);
    else
        printf("stopped: %s after %d iterations, %ld episodes, %.1f s; best greedy progress "
               "%.1f%% (iteration %d)\n",
               td_train_stop_name(res.stop), res.last.iteration, res.last.episodes,
               res.last.elapsed_s, res.best_eval_progress, res.best_iteration);
    if (res.last.lap_time_s > 0)
        printf("best.tdm (iteration %d): best lap %.2f s, as trackday eval drives it\n",
               res.best_iteration, res.last.lap_time_s);
    printf("model: %s/model/best.tdm (and last.tdm); metrics: %s/metrics/training.jsonl\n", o.dir,
           o.dir);
    return 0;
}

TD_CLI_COMMAND("train", "train a model directory (PPO or SAC)", cmd_train)
