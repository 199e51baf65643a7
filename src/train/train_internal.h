/*
 * train_internal.h - what the files of the train layer share: the trainer's state and the
 * functions between trainer.c (setup, evaluation, checkpoints), ppo.c, sac.c, state.c and
 * trainlog.c.
 */
#ifndef TD_TRAIN_INTERNAL_H
#define TD_TRAIN_INTERNAL_H

#include <time.h>

#include "trackday/trainer.h"

/* Greedy evaluation episodes per iteration at most. */
#define TD__MAX_EVAL_EPISODES 64

typedef struct td__train {
    td_train_options opt;
    td_model_dir md;
    td_track track;
    int have_track;
    td_reward *reward;
    char reward_spec[1200];
    td_sim_config simcfg;
    td_vecenv env, eval_env, lap_env, best_env, select_env;
    int have_env, have_eval_env, have_lap_env, have_best_env, have_select_env;
    td_vecenv_buffers envbuf, eval_buf, lap_buf, best_buf, select_buf;
    td_policy policy;
    int have_policy;
    int max_batch;
    td_nn_adam_config adam;
    td_rng rng;
    /* --teacher: the teacher's policy (its policy tower drives nothing unless beta) and the
     * file it came from. */
    td_policy teacher;
    int have_teacher;
    char teacher_path[1200];

    /* Counters that survive --resume (model/last.state). */
    int iteration;
    long episodes, steps;
    double elapsed_before; /* wall seconds of earlier sessions */
    double best_eval_progress;
    double best_eval_lap_s; /* tie-break between checkpoints with the same progress */
    int best_iteration;
    double best_lap_s; /* model/best.tdm's best lap as `trackday eval DIR` drives it, or -1 */
    uint64_t run_id;

    double t_start;       /* when this session (the first run or a --resume) started */
    double iter_t0;       /* when the iteration in progress began */
    double iter_comm0;    /* td__dist_seconds() then */
    long iter_episodes0;  /* the episode count when it began */
    double last_activity; /* when the activity callback was last called */
    td_train_phase last_phase;
    int iteration0; /* the iteration and episode counts at the session's start: */
    long episodes0; /* --iterations and --max-episodes count from them */
    void *simtrace; /* the training simtrace (trainlog.c) */

    /* --cpu-minutes: this process's CPU time at the session's start; the reward process's
     * CPU time at its last reading (0: none yet) and its CPU seconds in this session. */
    double cpu_start, reward_cpu_last, reward_cpu_s;

    /* Data parallel (dist.c): this process is rank `rank` of `nranks`; it steps opt.envs of
     * the envs_total cars (--envs). Rank 0 alone evaluates and writes files. */
    int rank, nranks, envs_total;
    int eval_first;   /* this rank's first greedy evaluation car (of opt.eval_episodes) */
    long rank_steps;  /* env steps of this process in this session */
    double comm0;     /* td__dist_seconds() when the session started */
    int test_diverge; /* TD_TEST_DIST_DIVERGE=1 (tests only): the last rank nudges a weight */
    /* TD_TRAIN_CRASH_AT=metrics:N (tests only): SIGKILL after iteration N's checkpoint, before
     * its metrics line, the window a crash leaves the state one iteration ahead of the
     * metrics. */
    int crash_before_metrics;
    /* --resume: last.state's copy of its iteration's metrics line (td_malloc'd, with its
     * newline), or NULL (a state written before the copy existed). */
    char *resume_metrics_line;
} td__train;

int td__train_setup(td__train *tr, const td_train_options *opt, td_err *err);
void td__train_teardown(td__train *tr);
/* The size of the path buffers for DIR/name, and the longest name (with a temporary's suffix)
 * training writes under DIR: td__train_setup refuses a DIR too long for both. */
#define TD__TRAIN_PATH_MAX 1200
#define TD__TRAIN_REL_MAX  96
/* DIR/rel into out (n bytes); TD_ERANGE if it does not fit. */
int td__train_path(char *out, size_t n, const char *dir, const char *rel, td_err *err);
/* The greedy evaluation after an update, on every rank (each drives its share of the
 * episodes); rank 0 fills pr's eval_* and laps_ok. Returns 1 if a second Ctrl-C stopped it. */
int td__train_evaluate(td__train *tr, td_train_progress *pr);
int td__metrics_append(td__train *tr, const td_train_progress *p, td_err *err);
/* The iteration's checkpoint: model/last.tdm, last.state (which keeps a copy of p's metrics
 * line, checkpoint_s absent: it is not measured yet) and best.tdm when best. */
int td__checkpoint(td__train *tr, const td_train_progress *p, td_err *err);
td_train_stop td__train_should_stop(td__train *tr, const td_train_progress *p);
double td__train_elapsed(const td__train *tr);

/* After a step of the training env: stops on a reward-function failure (writes
 * logs/reward_error.json). Returns 0 or the reward error code with err set. */
int td__train_check_reward(td__train *tr, td_err *err);

/* Bookkeeping after an iteration's update: evaluation, best checkpoint, metrics, progress,
 * stop conditions. Returns 0 or an error; *stop receives the stop reason. */
int td__train_end_iteration(td__train *tr, td_train_progress *pr, double iter_t0, long iter_steps,
                            td_train_result *result, td_train_stop *stop, td_err *err);

/* Episodes that ended during an iteration's rollouts. */
typedef struct td__episode_sums {
    int ended, completed;
    double reward, progress;
} td__episode_sums;

/* Counts the episodes of the training env that ended with this step (dones). */
void td__count_ended(const td_vecenv *env, td__episode_sums *s);
/* This rank's share of num_episodes_between_training: all of it in one process; with K
 * ranks E / K, the first E % K ranks one more, every rank at least one. */
int td__train_episode_goal(const td__train *tr);
/* After an iteration's collecting, with several ranks: *eps, *iter_steps and *stop_now become
 * the sums over every rank (*stop_now: 1 if any rank was told to stop now), and tr->steps is
 * steps0 plus every rank's steps. With one rank, nothing changes. */
void td__train_iteration_sums(td__train *tr, td__episode_sums *eps, long *iter_steps, int *stop_now,
                              long steps0);
/* The iteration's means into the progress report. */
void td__episode_means(const td__episode_sums *s, td_train_progress *pr);
/* Reports what the iteration is doing (throttled: phase changes at once, else every 0.2 s). */
void td__train_activity(td__train *tr, td_train_phase phase, long steps, int episodes, long done,
                        long total);

/* 1 when a second Ctrl-C asked to stop now. */
int td__train_stop_now(const td__train *tr);

/* A network call failed (it has no message buffer): sets err saying which step; returns rc. */
int td__train_net_failed(td_err *err, int rc, const char *what);

/* After an update: 0 when every rank holds the same weights, else TD_EINTERNAL with err set. */
int td__train_check_same_weights(td__train *tr, td_err *err);

/* on: the policy's passes stop at a second Ctrl-C (td_nn_net.cancel, TD_EINTERRUPTED); off:
 * they run to the end. With one rank only (several must stop at the same minibatch). */
void td__train_cancel_passes(td__train *tr, int on);

int td__ppo_run(td__train *tr, td_train_result *result, td_err *err);
/* --teacher: loads opt.teacher into tr->teacher and checks it against the student (same action
 * space, sensors the training env can give both, one process, a PPO student); adds its
 * sensors to envcfg, the training env's configuration (distill.c). */
int td__teacher_setup(td__train *tr, td_sim_config *envcfg, td_err *err);
int td__sac_run(td__train *tr, td_train_result *result, td_err *err);

/* model/last.state: counters, RNG and Adam moments, and a copy of the iteration's metrics line
 * (metrics_line, or none when NULL). */
int td__state_save(td__train *tr, const char *metrics_line, td_err *err);
int td__state_load(td__train *tr, td_err *err);

/* The training simtrace, every car, DeepRacer's layout: dir/N-iteration.csv (trainlog.c).
 * action_index: the cars' discrete actions, or NULL for continuous ones. */
int td__trainlog_open(td__train *tr, const char *dir, int resume, td_err *err);
/* The metrics line of p, as td_train_metrics_append writes it (with its newline; td_free it),
 * or NULL when out of memory. */
char *td__metrics_line(const td_train_progress *p);
/*
 * --resume: makes metrics/training.jsonl (path) hold the line of the state's iteration. A run
 * killed after its checkpoint and before the line (or cut in the middle of it) leaves the
 * metrics one iteration behind model/last.state; line is the state's copy (NULL: none). A
 * cut last line (no newline) is removed; then line is appended unless the last whole line is
 * of its iteration or a later one. (trainlog.c)
 */
int td__metrics_resume(const char *path, const char *line, td_err *err);
void td__trainlog_step(td__train *tr, const int *action_index);
void td__trainlog_close(td__train *tr);
/* One episode of the greedy evaluation after an iteration: DeepRacer's "evaluation" record in
 * metrics/TrainingMetrics.json (its episode and trial are the last training episode's, as
 * DeepRacer numbers them). */
void td__trainlog_eval_episode(td__train *tr, const td_episode_info *info);

#endif
