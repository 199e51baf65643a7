/*
 * train.c - `trackday train DIR`: trains a model directory with a live status line (status.h):
 * on a terminal one line redrawn in place, cut to its width; otherwise a line every 10 s;
 * --json prints one JSON line per iteration instead, --quiet nothing but the summary. The
 * first Ctrl-C (or SIGTERM) is acknowledged at once and stops after the current iteration
 * with its checkpoint; a second stops within a fraction of a second, keeping the last
 * checkpoint; a third exits at once.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/printlog.h"
#include "cli/status.h"
#include "cli/hub/hubcli.h"
#include "trackday/reward.h"
#include "trackday/trainer.h"

static volatile sig_atomic_t stop_flag;
/* 1 once a checkpoint is on disk (a resume starts from one; every finished iteration writes
 * one), for what the second Ctrl-C says. */
static volatile sig_atomic_t have_checkpoint;

static void on_signal(int sig)
{
    if (stop_flag == 0) {
        stop_flag = 1;
        td__cli_status_signal_note(sig == SIGINT
                                       ? "trackday: stopping after this iteration (its checkpoint "
                                         "is written); Ctrl-C again to stop now"
                                       : "trackday: SIGTERM: stopping after this iteration (its "
                                         "checkpoint is written)");
    } else if (stop_flag == 1) {
        stop_flag = 2;
        td__cli_status_signal_note(have_checkpoint
                                       ? "trackday: stopping now; the last checkpoint is kept"
                                       : "trackday: stopping now; no checkpoint yet (the first "
                                         "iteration is abandoned)");
    } else {
        /* Whatever it is waiting for, the checkpoint files on disk are whole (they are
         * replaced by rename). */
        td__cli_status_signal_note("trackday: exiting at once");
        _exit(130);
    }
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

/* --teacher-beta B[:K]: DAgger's beta, B in [0, 1], falling to 0 over K iterations. */
static int parse_teacher_beta(const char *opt, const char *v, void *dst)
{
    td_train_options *o = dst;
    char *end;
    double b = strtod(v, &end);
    long k = o->teacher_beta_iterations;
    if (end != v && *end == ':') {
        const char *ks = end + 1;
        k = strtol(ks, &end, 10);
        if (end == ks)
            k = -1;
    }
    if (end == v || *end || !(b >= 0 && b <= 1) || k < 1 || k > 1000000)
        return td__cli_usage_error("%s: '%s' must be B or B:K, B in [0, 1] (the fraction of steps "
                                   "the teacher drives at first), K in [1, 1000000] (the "
                                   "iterations over which it falls to 0)",
                                   opt, v);
    o->teacher_beta = b;
    o->teacher_beta_iterations = (int)k;
    return 0;
}

/* Lines of what the reward function prints shown on stderr; the rest is in the log. */
#define PRINT_LINES_SHOWN 10

typedef struct {
    int quiet, json;
    int have_last;
    td_train_progress last; /* the last finished iteration */
    double minutes;         /* --minutes, for the time left */
    double t0;              /* when this session started */
} progress_ctx;

/* "1h02m", "3m05s", "42s". */
static void fmt_duration(char *out, size_t cap, double s)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(out, cap, "%lds", t);
}

/*
 * The status line: what the iteration in progress is doing, the time, then the last finished
 * iteration's numbers (the most useful first, since a narrow terminal cuts the end).
 */
static void show(progress_ctx *c, const td_train_activity *a)
{
    char now[128], when[96], el[32], left[32], last[256] = "";
    double session = td_time_now() - c->t0;
    int iter = a ? a->iteration : (c->have_last ? c->last.iteration : 0);
    if (!a)
        snprintf(now, sizeof(now), "iter %d done", iter);
    else if (a->phase == TD_TRAIN_PHASE_COLLECT)
        snprintf(now, sizeof(now), "iter %d collecting: %d/%d episodes, %ld steps", iter,
                 a->episodes, a->episodes_goal, a->steps);
    else if (a->phase == TD_TRAIN_PHASE_UPDATE)
        snprintf(now, sizeof(now), "iter %d updating: %ld/%ld", iter, a->done, a->total);
    else if (a->phase == TD_TRAIN_PHASE_EVALUATE)
        snprintf(now, sizeof(now), "iter %d evaluating", iter);
    else
        snprintf(now, sizeof(now), "iter %d saving the checkpoint", iter);
    fmt_duration(el, sizeof(el), session);
    if (c->minutes > 0) {
        fmt_duration(left, sizeof(left), c->minutes * 60.0 - session);
        snprintf(when, sizeof(when), "%s, %s left", el, left);
    } else {
        snprintf(when, sizeof(when), "%s", el);
    }
    if (c->have_last) {
        td__cli_train_numbers(&c->last, last, sizeof(last));
        /* --teacher: how often the student's choice was the teacher's. */
        if (isfinite(c->last.teacher_agreement)) {
            size_t n = strlen(last);
            snprintf(last + n, sizeof(last) - n, " | agrees %.0f%%",
                     100.0 * c->last.teacher_agreement);
        }
    }
    td__cli_status("%s | %s%s", now, when, last);
}

void td__cli_train_numbers(const td_train_progress *p, char *out, size_t cap)
{
    snprintf(out, cap,
             " | reward %.2f | progress %.1f%% | laps %.0f%% | eval %.1f%% | %.0f steps/s",
             p->mean_reward, p->mean_progress, 100.0 * p->completion_rate, p->eval_progress,
             p->steps_per_s);
}

void td__cli_train_status_line(const td_train_progress *p, double elapsed_s, double minutes)
{
    char el[32], left[32], when[96], last[256];
    fmt_duration(el, sizeof(el), elapsed_s);
    if (minutes > 0) {
        fmt_duration(left, sizeof(left), minutes * 60.0 - elapsed_s);
        snprintf(when, sizeof(when), "%s, %s left", el, left);
    } else {
        snprintf(when, sizeof(when), "%s", el);
    }
    td__cli_train_numbers(p, last, sizeof(last));
    td__cli_status("iter %d done | %s%s", p->iteration, when, last);
}

static void on_activity(void *user, const td_train_activity *a)
{
    progress_ctx *c = user;
    if (!c->quiet && !c->json)
        show(c, a);
}

static void on_progress(void *user, const td_train_progress *p)
{
    progress_ctx *c = user;
    c->last = *p;
    c->have_last = 1;
    have_checkpoint = 1; /* the iteration's checkpoint is written before its progress */
    if (c->json) {
        json_t *o = td_train_progress_to_json(p);
        char *line =
            o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8)) : NULL;
        if (line)
            printf("%s\n", line);
        fflush(stdout);
        free(line);
        json_decref(o);
    } else if (!c->quiet) {
        show(c, NULL);
    }
}

static int cmd_train(int argc, char **argv)
{
    td_train_options o;
    td_train_result res;
    td_model_dir md;
    td_hyperparams hp;
    int hp_set = 0, threads_set = 0;
    progress_ctx pc;
    double status_every = 10;
    const char *track_arg = NULL;
    char track_path[1200];
    td_err err;

    td_train_options_default(&o);
    memset(&pc, 0, sizeof(pc));
    /* Hyperparameter overrides are applied over the directory's hyperparameters.json, read
     * after parsing: each is parsed into its own variable and applied if given. */
    double lr = 0, entropy = 0, gamma = 0;
    int batch = 0, epochs = 0, episodes = 0;
    int lr_set = 0, batch_set = 0, epochs_set = 0, entropy_set = 0, gamma_set = 0, eps_set = 0;
    long seed = (long)o.seed;
    const char *on_reward_error = NULL, *hub_name = NULL;
    int on_hub = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR", &o.dir, "the model directory"),
        TD_CLI_STRING(NULL, "--track", &track_arg, "T",
                      "track name or .npy/.json path (overrides WORLD_NAME)"),
        TD_CLI_SECTION("when to stop (default: Ctrl-C)"),
        TD_CLI_DOUBLE("--minutes", &o.minutes, 0.01, 1e6, "M", "stop after M minutes of training"),
        TD_CLI_DOUBLE("--cpu-minutes", &o.cpu_minutes, 0.01, 1e6, "M",
                      "stop after M minutes of CPU time (every thread, the reward process and "
                      "every MPI rank, added up): a budget that other programs on the machine "
                      "do not shrink"),
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
        TD_CLI_FLAG("--no-validate", &o.no_validate,
                    "train a reward function DeepRacer's validator rejects (default: refuse it, "
                    "listing the findings)"),
        TD_CLI_FLAG("--resume", &o.resume, "continue from DIR/model/last.tdm and last.state"),
        TD_CLI_STRING(NULL, "--teacher", &o.teacher, "TEACHER",
                      "distillation: DIR's policy learns to choose as the trained model TEACHER "
                      "(a directory or .tdm with the same actions, any sensors) on the frames "
                      "DIR's model drives"),
        TD_CLI_CUSTOM("--teacher-beta", &o, parse_teacher_beta, "B[:K]",
                      "with --teacher: the teacher drives a fraction B of the steps of the "
                      "model's first iteration, falling linearly to none at iteration K "
                      "(default 0.5:5; 0: the student drives every step)"),
        TD_CLI_DOUBLE("--teacher-temperature", &o.teacher_temperature, 0, 10, "T",
                      "with --teacher (discrete actions): the student learns the teacher's "
                      "probabilities at temperature T (default 1: its own; 0: its greedy "
                      "action only)"),
        TD_CLI_INT("--teacher-replay", &o.teacher_replay, 0, TD_TRAIN_MAX_TEACHER_REPLAY, "N",
                   "with --teacher: the policy tower's minibatches come from the last N frames "
                   "driven (this iteration's and earlier ones', DAgger's aggregation), as many "
                   "as without (default 0: this iteration's only)"),
        TD_CLI_INT("--best-laps", &o.best_laps, 1, TD_MAX_LAPS, "K",
                   "trackday extension: best.tdm is the checkpoint whose greedy drive of K laps "
                   "in a row from the start line (as eval --laps K --continuous) goes "
                   "furthest, then has the lowest average lap (default: the evaluation "
                   "episodes' progress, DeepRacer's)"),
        TD_CLI_FLAG("--spread-starts", &o.spread_starts,
                    "trackday extension: car i of N starts i/N of the lap further (default: "
                    "DeepRacer's round robin, every car from START_POSITION_OFFSET)"),
        TD_CLI_FLAG("--spread-eval-starts", &o.spread_eval_starts,
                    "trackday extension: greedy evaluation trial i of N after each iteration "
                    "starts i/N of the lap from the start line (default: DeepRacer's, every "
                    "trial where car 0 starts its next training episode)"),
        TD_CLI_CUSTOM("--simtrace", &o, parse_simtrace, "WHICH",
                      "training simtrace files DIR/training-simtrace/N-iteration.csv (DeepRacer's "
                      "layout, every car): auto (default: iterations 0-99, then every 10th to "
                      "999, then every 100th), all, none, or a number N (every Nth iteration)"),
        TD_CLI_FLAG("--quiet", &pc.quiet, "no status line (the summary is still printed)"),
        TD_CLI_FLAG("--json", &pc.json,
                    "one JSON line per iteration on stdout (as metrics/training.jsonl) and a JSON "
                    "summary; no status line"),
        TD_CLI_DOUBLE("--status-every", &status_every, 0.1, 86400, "S",
                      "when stderr is not a terminal, a status line every S seconds (default "
                      "10); on a terminal the line is redrawn in place"),
        TD_CLI_SECTION("on a hub (trackday login; docs/cli/train.md)"),
        TD_CLI_FLAG("--hub", &on_hub,
                    "train on the hub you are logged in to (--hub=URL: another hub): pushes "
                    "DIR, queues a job (--minutes required; --track, --seed, --envs, "
                    "--iterations, --until-laps pass on), shows the same status line and brings "
                    "the trained model back into DIR. Ctrl-C cancels the job and keeps what it "
                    "trained"),
        TD_CLI_STRING(NULL, "--name", &hub_name, "NAME",
                      "with --hub: the model's name on the hub (default: DIR's name)"),
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
    /* `train DIR --hub`: the same command line, run as a job of the hub (hub/jobs.c). */
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--hub") || !strncmp(argv[i], "--hub=", 6)) {
#ifdef TD_HAVE_HUB
            return td__cli_train_on_hub(argc, argv);
#else
            return td__cli_usage_error("--hub: this trackday was built without the hub "
                                       "(-DTD_WITH_HUB=OFF)");
#endif
        }
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (hub_name || on_hub)
        return td__cli_usage_error("--name is for a training run on a hub (--hub)");
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!o.teacher && !strncmp(argv[i], "--teacher-", 10))
            return td__cli_usage_error("%.*s is for distillation (--teacher)",
                                       (int)strcspn(argv[i], "="), argv[i]);
    /* mpirun -np K trackday train DIR: this process is one of K ranks; rank 0 alone prints
     * (and writes the directory's files). */
    if (td_train_dist_init(NULL, NULL, &err))
        return td__cli_fail("%s", err.msg);
    int rank = td_train_dist_rank(), ranks = td_train_dist_size();
    if (rank > 0) {
        pc.quiet = 1;
        pc.json = 0;
    }
    o.seed = (uint64_t)seed;
    if (on_reward_error)
        o.reward_on_error =
            !strcmp(on_reward_error, "skip") ? TD_REWARD_ON_ERROR_SKIP : TD_REWARD_ON_ERROR_STOP;
    if (td_model_dir_load(&md, o.dir, &err))
        return td__cli_fail("%s", err.msg);
    if (rank == 0)
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
    /* What every rank refuses alike is said once (by rank 0), without ending the job. */
    if (ranks > 1 && o.envs < ranks) {
        td_train_dist_finalize();
        if (rank > 0)
            return 1;
        return td__cli_fail("--envs %d: fewer cars than the %d processes (each steps at least "
                            "one)",
                            o.envs, ranks);
    }
    const char *track_source = NULL; /* what left the track unset, when nothing set it */
    if (!track_arg) {
        track_arg = md.training.world_name[0] ? md.training.world_name : "default";
        if (!md.training.world_name[0])
            track_source = md.has_training_params ? "/training_params.yaml has no WORLD_NAME"
                           : md.has_run_env       ? "/run.env has no WORLD_NAME"
                                                  : " has no training_params.yaml";
    }
    if (td__cli_track_path_for(track_arg, o.dir, track_path, sizeof(track_path)))
        return 1;
    o.track_path = track_path;
    char track_name[TD_TRACK_NAME_LEN];
    td__cli_track_label(track_path, track_name, sizeof(track_name));
    if (track_source && rank == 0)
        fprintf(stderr,
                "trackday: %s%s: training on %s, trackday's default track (set WORLD_NAME, or "
                "pass --track)%s\n",
                o.dir, track_source, track_name,
                md.has_training_params || md.has_run_env
                    ? ""
                    : "; DeepRacer's defaults are used for the other keys ('trackday init' "
                      "writes a commented training_params.yaml)");

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.stop = &stop_flag;
    /* Only rank 0 follows the iterations (on_progress); the other ranks keep the plain words. */
    have_checkpoint = o.resume || rank > 0;
    if (rank == 0) {
        o.progress = on_progress;
        o.progress_user = &pc;
        o.activity = on_activity;
        o.activity_user = &pc;
    }
    pc.minutes = o.minutes;
    td__cli_status_config(pc.quiet || pc.json, status_every);

    if (!pc.quiet && !pc.json) {
        char procs[64] = "";
        if (ranks > 1)
            snprintf(procs, sizeof(procs), " in %d processes", ranks);
        td__cli_status_print(
            "training %s on %s (%s, %s)%s%s%s%s", o.dir, track_name,
            td_algorithm_name(md.metadata.algorithm),
            md.metadata.state_sensor ? "STATE sensor" : td_camera_sensor_name(md.metadata.camera),
            procs, o.resume ? ", resuming" : "", o.teacher ? ", learning from the teacher " : "",
            o.teacher ? o.teacher : "");
        td__cli_status("setting up: the track, the reward function and %d cars", o.envs);
    }
    /* What the reward function prints goes to DIR/logs/reward-print.log (rank N > 0:
     * reward-print-rankN.log), as DeepRacer sends it to its log; the first lines are shown. */
    char plog_name[64] = "reward-print.log";
    if (rank > 0)
        snprintf(plog_name, sizeof(plog_name), "reward-print-rank%d.log", rank);
    td__print_log *plog = td__print_log_in(o.dir, plog_name, o.resume,
                                           rank == 0 && !pc.quiet ? PRINT_LINES_SHOWN : 0);
    pc.t0 = td_time_now();
    int rc = td_train_run(&o, &res, &err);
    td__cli_status_done();
    td__print_log_stop(plog);
    if (rc) {
        if (ranks > 1) {
            /* The other ranks may wait in a collective for this one: end the job. */
            td__cli_fail("rank %d of %d: %s", rank, ranks, err.msg);
            fflush(stderr);
            td_train_dist_abort(1);
        }
        td_train_dist_finalize();
        return td__cli_fail("%s", err.msg);
    }
    td_train_dist_finalize();
    if (ranks > 1)
        fprintf(stderr,
                "trackday: rank %d of %d: seconds collecting %.2f, updating %.2f, evaluating "
                "%.2f, checkpointing %.2f; in MPI collectives %.2f (of those, waiting for the "
                "other ranks included)\n",
                rank, ranks, res.collect_s, res.update_s, res.eval_s, res.checkpoint_s, res.comm_s);
    if (rank > 0) {
        fprintf(stderr,
                "trackday: rank %d of %d: %d cars, %ld steps; weights fnv1a64 %016llx (the same "
                "on every rank, checked every iteration)\n",
                rank, ranks, res.envs, res.rank_steps, (unsigned long long)res.weights_hash);
        return 0;
    }
    int iterations = o.resume ? res.last.session_iterations : res.last.iteration;
    if (pc.json) {
        json_t *s =
            json_pack("{s:s, s:i, s:i, s:I, s:f, s:f, s:f, s:i, s:s}", "stopped",
                      td_train_stop_name(res.stop), "iterations", iterations, "iterations_in_all",
                      res.last.iteration, "episodes", (json_int_t)res.last.episodes, "session_s",
                      res.last.session_s, "elapsed_s", res.last.elapsed_s, "best_eval_progress",
                      res.best_eval_progress, "best_iteration", res.best_iteration, "dir", o.dir);
        if (s)
            json_object_set_new(s, "session_cpu_s", json_real(res.last.session_cpu_s));
        if (s && res.last.lap_time_s > 0)
            json_object_set_new(s, "best_lap_time_s", json_real(res.last.lap_time_s));
        if (s && ranks > 1) {
            char h[24];
            snprintf(h, sizeof(h), "%016llx", (unsigned long long)res.weights_hash);
            json_object_set_new(s, "ranks", json_integer(ranks));
            json_object_set_new(s, "weights_fnv1a64", json_string(h));
        }
        char *line = s ? json_dumps(s, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (line)
            printf("%s\n", line);
        free(line);
        json_decref(s);
        return 0;
    }
    if (res.stop == TD_TRAIN_STOP_NOW) {
        if (res.last.iteration > 0)
            printf("stopped now: the iteration in progress was abandoned; model/last.tdm is the "
                   "checkpoint of iteration %d\n",
                   res.last.iteration);
        else
            printf("stopped now: the first iteration was abandoned; no checkpoint was written\n");
    } else if (o.resume) {
        printf("stopped: %s after %d more iterations (%d in all), %.1f s (%.1f s in all); best "
               "greedy progress %.1f%% (iteration %d)\n",
               td_train_stop_name(res.stop), res.last.session_iterations, res.last.iteration,
               res.last.session_s, res.last.elapsed_s, res.best_eval_progress, res.best_iteration);
    } else {
        printf("stopped: %s after %d iterations, %ld episodes, %.1f s; best greedy progress "
               "%.1f%% (iteration %d)\n",
               td_train_stop_name(res.stop), res.last.iteration, res.last.episodes,
               res.last.elapsed_s, res.best_eval_progress, res.best_iteration);
    }
    if (o.cpu_minutes > 0)
        printf("CPU time: %.1f s (every thread, the reward process and every rank)\n",
               res.last.session_cpu_s);
    if (res.last.lap_time_s > 0)
        printf("best.tdm (iteration %d): best lap %.2f s, as trackday eval drives it\n",
               res.best_iteration, res.last.lap_time_s);
    if (ranks > 1)
        printf("%d processes (rank 0: %d cars, %ld steps); weights fnv1a64 %016llx (the same on "
               "every rank, checked every iteration)\n",
               ranks, res.envs, res.rank_steps, (unsigned long long)res.weights_hash);
    if (res.last.iteration > 0) /* (no iteration finished: nothing was written) */
        printf("model: %s/model/best.tdm (and last.tdm); metrics: %s/metrics/training.jsonl\n",
               o.dir, o.dir);
    return 0;
}

TD_CLI_COMMAND("train", "train a model directory (PPO or SAC)", cmd_train)
