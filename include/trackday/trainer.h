/*
 * trainer.h - `trackday train`: trains a model directory's policy with PPO (DeepRacer's
 * clipped PPO iteration structure) or SAC on a vector of simulated cars, writing atomic
 * checkpoints (model/last.tdm, model/best.tdm, model/last.state), one metrics line per
 * iteration (metrics/training.jsonl) and a simtrace CSV (logs/). Part of the train layer.
 */
#ifndef TRACKDAY_TRAINER_H
#define TRACKDAY_TRAINER_H

#include <signal.h>

#include "trackday/json.h"
#include "trackday/policy.h"
#include "trackday/reward.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the progress callback sees after every iteration (and at the end). */
typedef struct td_train_progress {
    int iteration;          /* 1-based, continuing across --resume */
    long episodes;          /* total training episodes */
    long steps;             /* total env steps */
    double mean_reward;     /* mean total reward of this iteration's episodes */
    double mean_progress;   /* mean final progress (%) of this iteration's episodes */
    double completion_rate; /* fraction of this iteration's episodes that completed a lap */
    double mean_steps;      /* env steps per episode ended in this iteration */
    double entropy;         /* mean policy entropy over the update */
    double policy_loss, value_loss, approx_kl, clip_frac;
    double eval_progress;    /* mean progress of the greedy evaluation episodes */
    double eval_completion;  /* fraction of greedy evaluation episodes that completed a lap */
    double eval_lap_s;       /* mean time of the evaluation episodes that completed a lap, or -1 */
    double eval_start_ndist; /* where the first greedy evaluation episode started (a fraction
                                of the lap) */
    int eval_reversed;       /* 1: the greedy evaluation drove the reversed direction */
    int best;                /* this iteration's checkpoint became model/best.tdm */
    int laps_ok;             /* --until-laps: the greedy policy drove them without an event */
    double steps_per_s;      /* env steps per wall second over this iteration */
    double collect_s;        /* wall seconds of this iteration's rollouts (env + inference) */
    double update_s;         /* wall seconds of this iteration's gradient updates */
    double comm_s;           /* of collect_s + update_s, seconds in MPI collectives (the
                                gradient all-reduce, waiting for the other ranks); 0 in one
                                process */
    double eval_s;           /* wall seconds of the greedy evaluation (and best.tdm's lap) */
    double checkpoint_s;     /* wall seconds writing model/last.tdm, last.state, best.tdm */
    long update_samples;     /* samples through forward + backward in those updates */
    long iteration_steps;    /* env steps of this iteration */
    double elapsed_s;        /* wall seconds of training (across --resume) */
    double session_s;        /* wall seconds of this session (since the start or --resume) */
    int session_iterations;  /* iterations of this session */
    double time_left_s;      /* until --minutes (counted from this session's start) runs out,
                                or -1 */
    double session_cpu_s;    /* CPU seconds of this session: every thread of every rank and the
                                reward process (what --cpu-minutes counts) */
    double lap_time_s;       /* model/best.tdm's best lap as `trackday eval DIR` drives it (the
                                directory's evaluation settings, seed 1): the same number, or
                                -1 if it completes no lap */
    /* --teacher (distillation) only, else NaN (absent from the metrics line): */
    double imitation_loss;    /* mean loss of the policy tower against the teacher over the
                                 update: cross-entropy to the teacher's action probabilities
                                 (discrete) or squared error to its mean (continuous) */
    double teacher_agreement; /* fraction of this iteration's rollout steps (the student
                                 driving, before the update) where the student's greedy action
                                 is the teacher's (continuous: both means within 0.1 of the
                                 [-1, 1] range) */
    double teacher_beta;      /* fraction of the cars' steps the teacher drove (DAgger's beta) */
    /* --best-laps K only, else NaN: the greedy policy's drive of K laps in a row from the
     * start line (continuous, the directory's evaluation settings, penalties included, seed
     * 1: `trackday eval DIR --laps K --continuous`), which decides best.tdm: */
    double laps_drive_progress; /* how far it got, % of the K laps (100: all completed) */
    double laps_drive_lap_s;    /* the average of its completed laps (penalties included), -1 */
    double teacher_replay;      /* --teacher-replay only, else NaN: the frames the policy tower's
                                   update drew its minibatches from (this iteration's and the
                                   earlier ones' kept, at most teacher_replay) */
} td_train_progress;

typedef void (*td_train_progress_fn)(void *user, const td_train_progress *p);

/* What an iteration is doing now, for a live status line. */
typedef enum td_train_phase {
    TD_TRAIN_PHASE_COLLECT = 0, /* cars driving: steps and episodes so far */
    TD_TRAIN_PHASE_UPDATE,      /* gradient updates: minibatches done of total */
    TD_TRAIN_PHASE_EVALUATE,    /* greedy evaluation: steps done of at most total */
    TD_TRAIN_PHASE_CHECKPOINT   /* writing model/last.tdm, last.state (and best.tdm) */
} td_train_phase;

typedef struct td_train_activity {
    td_train_phase phase;
    int iteration;      /* the iteration in progress, 1-based, continuing across --resume */
    long steps;         /* collect: env steps of this iteration so far */
    int episodes;       /* collect: episodes ended in this iteration so far */
    int episodes_goal;  /* collect: episodes an iteration collects */
    long done, total;   /* update: minibatches; evaluate: steps (total: the cap) */
    double iteration_s; /* wall seconds since the iteration began */
} td_train_activity;

/* Called from the training thread at phase changes and at most every 0.2 s within one. */
typedef void (*td_train_activity_fn)(void *user, const td_train_activity *a);

/* The progress as the JSON object of a metrics/training.jsonl line (new reference); values
 * that are not finite are absent keys. */
json_t *td_train_progress_to_json(const td_train_progress *p);

/*
 * Appends one metrics line (td_train_progress_to_json) to path, created if missing, with one
 * write in O_APPEND mode: a killed writer leaves at most a cut last line, which eval/'s reader
 * (td_metrics_load) skips. The one writer of metrics/training.jsonl.
 */
int td_train_metrics_append(const char *path, const td_train_progress *p, td_err *err);

typedef struct td_train_options {
    const char *dir;         /* the model directory */
    const char *track_path;  /* route file (.npy or .json) */
    const char *reward_spec; /* NULL: DIR/reward_function.py if present, else builtin */
    /* The limits count from the start of this run: after --resume, "this many more". */
    double minutes;      /* stop after this much wall time (0 = no limit) */
    double cpu_minutes;  /* stop after this much CPU time (0 = no limit): user + system time of
                            every thread of every rank's process and of the reward process */
    long max_episodes;   /* 0: hyperparameters' term_cond_max_episodes */
    int until_score_set; /* 1: stop once an iteration's mean episode reward reaches
                            until_score (trackday's --until-score; DeepRacer reads
                            term_cond_avg_score and never stops on it) */
    double until_score;
    int until_laps;     /* > 0: stop once the greedy policy drives this many laps in
                           a row from the start line without an event */
    int max_iterations; /* 0 = no limit */
    uint64_t seed;
    int envs;           /* cars stepping together (0: 16) */
    int threads;        /* simulator threads (0: 1) */
    int resume;         /* continue from model/last.* */
    int eval_episodes;  /* greedy evaluation episodes per iteration (0: training_params.yaml's
                           MIN_EVAL_TRIALS, default 5; at most 64) */
    int simtrace;       /* 1: write DIR/training-simtrace/N-iteration.csv (every car) */
    int simtrace_every; /* 0: iteration files 0-99, then every 10th to 999, then every 100th;
                           N: every Nth iteration file */
    /* Set by a signal handler: 1 = stop after the current iteration (its checkpoint is
     * written); 2 = stop now: the iteration in progress is abandoned within a fraction of a
     * second and the last checkpoint stays as it is. */
    const volatile sig_atomic_t *stop;
    td_train_progress_fn progress; /* after every iteration */
    void *progress_user;
    td_train_activity_fn activity; /* during iterations (NULL: none) */
    void *activity_user;
    /* Command-line overrides of hyperparameters.json (NULL: keep the file's). */
    const td_hyperparams *hyper_override;
    /* A failing reward call: stop (0, DeepRacer's behaviour) or skip it with reward 0 (1, a
     * td_reward_on_error) until more than max_reward_errors calls have failed (< 0: no
     * limit). */
    int reward_on_error;
    int max_reward_errors;
    /* 1: train a Python reward function that DeepRacer's validator rejects (its findings are
     * printed as warnings); 0 (default): refuse it. */
    int no_validate;
    /* 1: trackday's spread training starts (car i of n starts i/n of the lap further, then
     * each advances by ROUND_ROBIN_ADVANCE_DIST); 0 (default): DeepRacer's, every car from
     * START_POSITION_OFFSET as each DeepRacer worker starts. */
    int spread_starts;
    /* 1: trackday's spread greedy evaluation (episode i of n starts i/n of the lap from the
     * start line); 0 (default): DeepRacer's, every episode where rollout worker 0 (car 0)
     * starts its next training episode, in its direction. */
    int spread_eval_starts;
    /* Distillation (docs/cli/train.md, "Learning from a teacher"): a trained model (its
     * directory, whose model/best.tdm is used, else model/last.tdm, or a .tdm file) with the
     * same action space and any sensors. The student (DIR's PPO model) drives; its policy
     * tower learns the teacher's action probabilities (discrete) or mean (continuous) on the
     * frames it drove; its value tower learns the returns of DIR's reward as in PPO. NULL:
     * plain PPO or SAC. One process only. */
    const char *teacher;
    /* DAgger's beta: each car's step is driven by the teacher's greedy action with
     * probability teacher_beta at the model's first iteration, falling linearly to 0 at
     * iteration teacher_beta_iterations (counted over the model's iterations, so a --resume
     * continues the schedule); the student drives the other steps. Defaults 0.5 and 5. */
    double teacher_beta;
    int teacher_beta_iterations;
    /* Discrete teachers: the student learns softmax(logits / teacher_temperature) of the
     * teacher's policy tower; 1 (default): its own probabilities; 0: one-hot on its greedy
     * action (what the teacher drives in evaluation). */
    double teacher_temperature;
    /* DAgger's dataset aggregation, bounded: 0 (default): the policy tower learns from this
     * iteration's frames only; N > 0: the last N frames driven (this iteration's and earlier
     * ones', with their teacher targets; not kept across --resume) are the pool its
     * minibatches are drawn from, as many minibatches as without (the same cost). At most
     * TD_TRAIN_MAX_TEACHER_REPLAY. */
    int teacher_replay;
    /* > 0: trackday's choice of model/best.tdm: after each iteration the greedy policy drives
     * best_laps laps in a row from the start line (continuous, as `trackday eval DIR --laps K
     * --continuous`); the checkpoint whose drive goes furthest, then has the lowest average
     * lap (penalties included), is best.tdm. 0 (default): DeepRacer's (the evaluation
     * episodes' progress, then trackday's lap-time tie-break). At most TD_MAX_LAPS. */
    int best_laps;
} td_train_options;

#define TD_TRAIN_MAX_TEACHER_REPLAY 200000

void td_train_options_default(td_train_options *o);

/* Why training stopped. */
typedef enum td_train_stop {
    TD_TRAIN_STOP_NONE = 0,
    TD_TRAIN_STOP_MINUTES,
    TD_TRAIN_STOP_EPISODES,
    TD_TRAIN_STOP_SCORE,
    TD_TRAIN_STOP_LAPS,
    TD_TRAIN_STOP_ITERATIONS,
    TD_TRAIN_STOP_SIGNAL, /* *stop was 1: after the iteration, with its checkpoint */
    TD_TRAIN_STOP_NOW,    /* *stop was 2: mid-iteration, the previous checkpoint kept */
    TD_TRAIN_STOP_CPU     /* --cpu-minutes */
} td_train_stop;

const char *td_train_stop_name(td_train_stop s);

typedef struct td_train_result {
    td_train_stop stop;
    td_train_progress last;
    double best_eval_progress;
    int best_iteration;
    int ranks;             /* processes that trained together (mpirun -np K), 1 without MPI */
    int envs;              /* cars this process stepped (its share of --envs) */
    long rank_steps;       /* env steps this process made in this session */
    uint64_t weights_hash; /* several ranks: td_policy_weights_hash of the final weights
                            (equal on every rank); one rank: 0 */
    /* This process's wall seconds in this session's completed iterations, by phase (comm_s:
     * inside MPI collectives, a part of the others: moving gradients and waiting for the
     * other ranks). */
    double collect_s, update_s, comm_s, eval_s, checkpoint_s;
} td_train_result;

/*
 * Data-parallel training (docs/cli/train.md, "Several processes"): `mpirun -np K trackday
 * train DIR` runs K ranks; each steps its share of the cars, computes gradients on its share
 * of every minibatch, and the gradients are averaged (MPI_Allreduce), so every rank holds the
 * same weights after every update (checked with td_policy_weights_hash every iteration).
 * Rank 0 alone writes checkpoints, metrics and the simtrace. Call td_train_dist_init before
 * td_train_run and td_train_dist_finalize after; without mpirun the group is this process.
 */
/* 1 when this trackday was built with MPI. */
int td_train_dist_available(void);
/* Joins the job mpirun started (MPI_Init), if any. Without MPI in the build, a job of more
 * than one process is refused (TD_EUNSUPPORTED, saying how to get MPI). */
int td_train_dist_init(int *argc, char ***argv, td_err *err);
void td_train_dist_finalize(void);
/* Ends every rank of the job (MPI_Abort) after a failure on one; nothing without a job. */
void td_train_dist_abort(int code);
int td_train_dist_rank(void);
int td_train_dist_size(void);

/*
 * Trains until a stop condition. Every iteration writes model/last.tdm and model/last.state
 * atomically, and model/best.tdm when the greedy evaluation improves. On a reward-function
 * error the run stops with TD_EREWARD, logs/reward_error.json describes it and the last
 * checkpoint is kept. Never prints; progress goes through the callback.
 */
int td_train_run(const td_train_options *opt, td_train_result *result, td_err *err);

/*
 * Where a --resume of DIR continues: the iteration and the training time (seconds) of
 * DIR/model/last.state, the file the trainer resumes from (written atomically, with the
 * weights, under the directory's lock). The hub's worker counts what a job has left from it.
 * TD_ENOENT without a state (a model never trained).
 */
int td_train_state_read(const char *dir, int64_t *iteration, double *elapsed_s, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_TRAINER_H */
