/*
 * train.c - `trackday train DIR`: trains a model directory with a live progress line;
 * Ctrl-C or SIGTERM finishes the current step, writes a checkpoint and exits 0.
 */
#include <signal.h>
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

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trackday train DIR [options]\n\n"
            "Trains the model directory DIR (see 'trackday init'): PPO or SAC as\n"
            "model_metadata.json says, on the track of training_params.yaml (WORLD_NAME).\n"
            "Writes DIR/model/{last,best}.tdm, DIR/metrics/training.jsonl and\n"
            "DIR/training-simtrace/ (DeepRacer's log layout, read by 'trackday logs').\n\n"
            "options:\n"
            "  --track T            track name or .npy/.json path (overrides WORLD_NAME)\n"
            "  --minutes M          stop after M minutes of training\n"
            "  --until-laps K       stop once the greedy policy drives K laps in a row from the\n"
            "                       start line without leaving the track\n"
            "  --max-episodes N     stop after N episodes (term_cond_max_episodes)\n"
            "  --until-score R      stop once an iteration's mean episode reward reaches R\n"
            "                       (hyperparameters.json's term_cond_avg_score is read and,\n"
            "                       as in DeepRacer, never stops training)\n"
            "  --iterations N       stop after N iterations\n"
            "  --seed S             random seed (default 1): same seed, envs and threads give\n"
            "                       the same run\n"
            "  --envs N             cars simulated together (default 16)\n"
            "  --threads K          simulator threads (default: every CPU for camera and lidar\n"
            "                       models; 1 for the state sensor, whose steps are too short\n"
            "                       to share)\n"
            "  --reward SPEC        builtin:NAME, a .so plugin or a .py file (default: DIR's\n"
            "                       reward_function.py)\n"
            "  --on-reward-error stop|skip\n"
            "                       when the reward function fails (an exception, a bad value,\n"
            "                       a time-out, something the sandbox forbids, a crash): stop\n"
            "                       cleanly (default, as DeepRacer) or score the step 0, warn and\n"
            "                       go on (a crashed reward process is restarted)\n"
            "  --max-reward-errors N  with skip: stop after more than N failed calls (default\n"
            "                       1000)\n"
            "  --resume             continue from DIR/model/last.tdm and last.state\n"
            "  --lr X, --batch-size N, --epochs N, --entropy X, --gamma X,\n"
            "  --episodes-per-iteration N   override hyperparameters.json\n"
            "  --simtrace WHICH     training simtrace files DIR/training-simtrace/N-iteration.csv\n"
            "                       (DeepRacer's layout, every car): auto (default: iterations\n"
            "                       0-99, then every 10th to 999, then every 100th), all, none,\n"
            "                       or a number N (every Nth iteration)\n"
            "  --quiet              no progress line\n");
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
    double d;
    long l;

    if (td__cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    td_train_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--resume")) {
            o.resume = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            pc.quiet = 1;
            continue;
        }
        if (a[0] != '-') {
            if (o.dir)
                return td__cli_fail("one model directory only ('%s' and '%s')", o.dir, a);
            o.dir = a;
            continue;
        }
        if (!v)
            return td__cli_fail("%s needs a value (see trackday train --help)", a);
        i++;
        if (!strcmp(a, "--track")) {
            track_arg = v;
        } else if (!strcmp(a, "--minutes")) {
            if (td__cli_parse_double(a, v, 0.01, 1e6, &o.minutes))
                return 1;
        } else if (!strcmp(a, "--until-laps")) {
            if (td__cli_parse_long(a, v, 1, TD_MAX_LAPS, &l))
                return 1;
            o.until_laps = (int)l;
        } else if (!strcmp(a, "--max-episodes")) {
            if (td__cli_parse_long(a, v, 1, 1000000000L, &o.max_episodes))
                return 1;
        } else if (!strcmp(a, "--until-score")) {
            if (td__cli_parse_double(a, v, -1e12, 1e12, &o.until_score))
                return 1;
            o.until_score_set = 1;
        } else if (!strcmp(a, "--iterations")) {
            if (td__cli_parse_long(a, v, 1, 100000000L, &l))
                return 1;
            o.max_iterations = (int)l;
        } else if (!strcmp(a, "--seed")) {
            if (td__cli_parse_long(a, v, 0, 0x7fffffffL, &l))
                return 1;
            o.seed = (uint64_t)l;
        } else if (!strcmp(a, "--envs")) {
            if (td__cli_parse_long(a, v, 1, 4096, &l))
                return 1;
            o.envs = (int)l;
        } else if (!strcmp(a, "--threads")) {
            if (td__cli_parse_long(a, v, 1, 256, &l))
                return 1;
            o.threads = (int)l;
            threads_set = 1;
        } else if (!strcmp(a, "--reward")) {
            o.reward_spec = v;
        } else if (!strcmp(a, "--on-reward-error")) {
            if (!v)
                return td__cli_fail("--on-reward-error needs a value: stop or skip");
            if (!strcmp(v, "stop"))
                o.reward_on_error = TD_REWARD_ON_ERROR_STOP;
            else if (!strcmp(v, "skip"))
                o.reward_on_error = TD_REWARD_ON_ERROR_SKIP;
            else
                return td__cli_fail("--on-reward-error: '%s' is not stop or skip", v);
        } else if (!strcmp(a, "--max-reward-errors")) {
            if (td__cli_parse_long(a, v, 0, 0x7fffffffL, &l))
                return 1;
            o.max_reward_errors = (int)l;
        } else if (!strcmp(a, "--simtrace")) {
            if (!strcmp(v, "auto")) {
                o.simtrace_every = 0;
            } else if (!strcmp(v, "all")) {
                o.simtrace_every = 1;
            } else if (!strcmp(v, "none")) {
                o.simtrace = 0;
            } else {
                if (td__cli_parse_long(a, v, 1, 1000000, &l))
                    return 1;
                o.simtrace_every = (int)l;
            }
        } else if (!strcmp(a, "--lr") || !strcmp(a, "--batch-size") || !strcmp(a, "--epochs") ||
                   !strcmp(a, "--entropy") || !strcmp(a, "--gamma") ||
                   !strcmp(a, "--episodes-per-iteration")) {
            /* Applied after the directory's hyperparameters.json is read, below. */
            continue;
        } else {
            usage(stderr);
            return td__cli_fail("unknown option '%s'", a);
        }
    }
    if (!o.dir) {
        usage(stderr);
        return 2;
    }
    if (td_model_dir_load(&md, o.dir, &err))
        return td__cli_fail("%s", err.msg);
    td__cli_print_warnings(&md.warnings);
    hp = md.hyper;
    for (int i = 1; i + 1 < argc; i++) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--lr")) {
            if (td__cli_parse_double(a, v, 1e-8, 1e-3, &hp.lr))
                return 1;
        } else if (!strcmp(a, "--batch-size")) {
            if (td__cli_parse_long(a, v, 32, 512, &l))
                return 1;
            if (l != 32 && l != 64 && l != 128 && l != 256 && l != 512)
                return td__cli_fail("--batch-size: %ld must be 32, 64, 128, 256 or 512", l);
            hp.batch_size = (int)l;
        } else if (!strcmp(a, "--epochs")) {
            if (td__cli_parse_long(a, v, 3, 10, &l))
                return 1;
            hp.num_epochs = (int)l;
        } else if (!strcmp(a, "--entropy")) {
            if (td__cli_parse_double(a, v, 0, 1, &hp.beta_entropy))
                return 1;
        } else if (!strcmp(a, "--gamma")) {
            if (td__cli_parse_double(a, v, 0, 1, &d))
                return 1;
            hp.discount_factor = d;
        } else if (!strcmp(a, "--episodes-per-iteration")) {
            if (td__cli_parse_long(a, v, 1, 100, &l))
                return 1;
            hp.num_episodes_between_training = (int)l;
        } else {
            continue;
        }
        hp_set = 1;
    }
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
    printf("stopped: %s after %d iterations, %ld episodes, %.1f s; best greedy progress %.1f%% "
           "(iteration %d)\n",
           td_train_stop_name(res.stop), res.last.iteration, res.last.episodes, res.last.elapsed_s,
           res.best_eval_progress, res.best_iteration);
    if (res.last.lap_time_s > 0)
        printf("best.tdm (iteration %d): best lap %.2f s, as trackday eval drives it\n",
               res.best_iteration, res.last.lap_time_s);
    printf("model: %s/model/best.tdm (and last.tdm); metrics: %s/metrics/training.jsonl\n", o.dir,
           o.dir);
    return 0;
}

TD_CLI_COMMAND("train", "train a model directory (PPO or SAC)", cmd_train)
