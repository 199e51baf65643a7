/*
 * trainer.c - the training loop of `trackday train`: DeepRacer's clipped-PPO iteration
 * structure (collect whole episodes across a vector of cars, then num_epochs passes of
 * minibatch updates, then greedy evaluation episodes to keep the best checkpoint), SAC for
 * continuous actions (sac.c), atomic checkpoints, metrics lines and stop conditions.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/dist.h"
#include "train/train_internal.h"
#include "trackday/rl.h"

const char *td_train_stop_name(td_train_stop s)
{
    switch (s) {
    case TD_TRAIN_STOP_MINUTES:
        return "time limit";
    case TD_TRAIN_STOP_CPU:
        return "CPU time limit";
    case TD_TRAIN_STOP_EPISODES:
        return "episode limit";
    case TD_TRAIN_STOP_SCORE:
        return "average score reached";
    case TD_TRAIN_STOP_LAPS:
        return "laps completed";
    case TD_TRAIN_STOP_ITERATIONS:
        return "iteration limit";
    case TD_TRAIN_STOP_SIGNAL:
        return "interrupted";
    case TD_TRAIN_STOP_NOW:
        return "stopped now";
    default:
        return "none";
    }
}

/*
 * DeepRacer's validator on the reward file: static rules when r is NULL, else the run-time
 * tests on r. Errors refuse training unless no_validate (then they are warnings).
 */
static int validation(td__train *tr, const char *path, td_reward *r, int no_validate, td_err *err)
{
    td_reward_issue *issues = NULL;
    int n = 0;
    int rc = r ? td_reward_validate(r, &tr->track, &issues, &n, err)
               : td_reward_check_source(path, &issues, &n, err);
    if (rc)
        return rc;
    char lines[TD_ERR_MSG_LEN];
    int errors = td_reward_issues_errors(issues, n, path, 6, lines, sizeof(lines));
    td_free(issues);
    if (!errors)
        return 0;
    if (no_validate) {
        TD_WARN("DeepRacer's validator would reject this reward function (training anyway: "
                "--no-validate):\n%s",
                lines);
        return 0;
    }
    return td_err_set(err, TD_EREWARD,
                      "DeepRacer's validator rejects the reward function (%d finding%s; "
                      "'trackday reward check %s' shows them all; --no-validate trains "
                      "anyway):\n%s",
                      errors, errors == 1 ? "" : "s", path, lines);
}

void td_train_options_default(td_train_options *o)
{
    memset(o, 0, sizeof(*o));
    o->envs = 16;
    o->threads = 1;
    o->seed = 1;
    o->simtrace = 1;
    o->max_reward_errors = 1000;
    o->teacher_beta = 0.5;
    o->teacher_beta_iterations = 5;
    o->teacher_temperature = 1.0;
}

/* ==================================================================================== */
/* Setup shared by PPO and SAC                                                          */
/* ==================================================================================== */

int td__train_path(char *out, size_t n, const char *dir, const char *rel, td_err *err)
{
    return td_path_join(out, n, dir, rel, err);
}

/*
 * deepracer-utils (and DeepRacer's upload scripts) find a model's configuration where
 * deepracer-for-cloud keeps it: model/model_metadata.json and ip/hyperparameters.json. Copies
 * of the directory's files go there at the start of every run.
 */
static int copy_for_log_tools(td__train *tr, td_err *err)
{
    static const char *const from[2] = {"model_metadata.json", "hyperparameters.json"};
    static const char *const to[2] = {"model/model_metadata.json", "ip/hyperparameters.json"};
    char src[TD__TRAIN_PATH_MAX], dst[TD__TRAIN_PATH_MAX];
    int rc = 0;
    rc = td__train_path(dst, sizeof(dst), tr->opt.dir, "ip", err);
    if (!rc)
        rc = td_mkdir_p(dst, err);
    for (int k = 0; k < 2 && !rc; k++) {
        char *text;
        size_t len;
        if ((rc = td__train_path(src, sizeof(src), tr->opt.dir, from[k], err)) ||
            (rc = td__train_path(dst, sizeof(dst), tr->opt.dir, to[k], err)))
            break;
        if (td_file_read(src, &text, &len, NULL) == 0) {
            rc = td_file_write_atomic(dst, text, len, err);
            td_free(text);
        } else if (k == 1) {
            /* No hyperparameters.json: the values training uses, DeepRacer's defaults. */
            const td_hyperparams *h = &tr->md.hyper;
            json_t *o = json_pack(
                "{s:i, s:f, s:f, s:f, s:I, s:s, s:s, s:f, s:i, s:i, s:i, s:f, s:I, s:f}",
                "batch_size", h->batch_size, "beta_entropy", h->beta_entropy, "discount_factor",
                h->discount_factor, "e_greedy_value", h->e_greedy_value, "epsilon_steps",
                (json_int_t)h->epsilon_steps, "exploration_type",
                h->exploration_type == TD_EXPLORE_EGREEDY ? "e-greedy" : "categorical", "loss_type",
                h->loss_type == TD_LOSS_HUBER ? "huber" : "mean squared error", "lr", h->lr,
                "num_episodes_between_training", h->num_episodes_between_training, "num_epochs",
                h->num_epochs, "stack_size", h->stack_size, "term_cond_avg_score",
                h->term_cond_avg_score, "term_cond_max_episodes",
                (json_int_t)h->term_cond_max_episodes, "sac_alpha", h->sac_alpha);
            char *js = o ? json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER) : NULL;
            json_decref(o);
            if (!js)
                return td_err_set(err, TD_ENOMEM, "out of memory");
            rc = td_file_write_atomic(dst, js, strlen(js), err);
            free(js);
        }
    }
    return rc;
}

/* The greedy evaluation's cars of rank r of K: [*first, *first + *count) of n, in rank order
 * (the first n % K ranks take one more; a rank may have none). */
static void eval_share(int n, int K, int r, int *first, int *count)
{
    int base = n / K, extra = n % K;
    *count = base + (r < extra);
    *first = r * base + (r < extra ? r : extra);
}

/*
 * --resume: the metrics line of the state's iteration, if a run was killed after writing the
 * state and before the line (the two are written in that order; see end_iteration). Under the
 * directory's lock, as the iteration's files are written, so a reader sees both or neither.
 */
static int metrics_catch_up(td__train *tr, td_err *err)
{
    char path[TD__TRAIN_PATH_MAX];
    int rc = td__train_path(path, sizeof(path), tr->opt.dir, "metrics/training.jsonl", err);
    if (rc)
        return rc;
    int lock = td_dir_lock(tr->opt.dir, 1, err);
    if (lock < 0)
        return err->code;
    rc = td__metrics_resume(path, tr->resume_metrics_line, err);
    td_dir_unlock(lock);
    return rc;
}

/* An env of n cars and its buffers. *have is set once the env is made (teardown frees it then;
 * the buffers are freed either way). */
static int env_init(td_vecenv *env, int *have, td_vecenv_buffers *buf, const td_sim_config *cfg,
                    const td_track *track, int n, td_err *err)
{
    int rc = td_vecenv_init(env, cfg, track, n, err);
    if (rc)
        return rc;
    *have = 1;
    return td_vecenv_buffers_init(buf, env, err);
}

/* env_init's counterpart. */
static void env_free(td_vecenv *env, int have, td_vecenv_buffers *buf)
{
    if (have)
        td_vecenv_free(env);
    td_vecenv_buffers_free(buf);
}

int td__train_setup(td__train *tr, const td_train_options *opt, td_err *err)
{
    char path[TD__TRAIN_PATH_MAX];
    int rc;

    memset(tr, 0, sizeof(*tr));
    tr->opt = *opt;
    /* Every file training writes is DIR/ plus a name of at most TD__TRAIN_REL_MAX bytes (with
     * a temporary's suffix): a longer DIR is refused here rather than cut short later. */
    if (strlen(opt->dir) + 1 + TD__TRAIN_REL_MAX >= TD__TRAIN_PATH_MAX)
        return td_err_set(err, TD_ERANGE,
                          "%.60s...: the model directory's path is too long (%zu bytes, at most "
                          "%d)",
                          opt->dir, strlen(opt->dir), TD__TRAIN_PATH_MAX - 2 - TD__TRAIN_REL_MAX);
    if (tr->opt.envs <= 0)
        tr->opt.envs = 16;
    if (tr->opt.threads <= 0)
        tr->opt.threads = 1;
    rc = td_model_dir_load(&tr->md, opt->dir, err);
    if (rc)
        return rc;
    /* Several processes (mpirun): --envs is the number of cars of all of them together, the
     * first envs % K ranks take one more. */
    tr->rank = td_train_dist_rank();
    tr->nranks = td_train_dist_size();
    tr->envs_total = tr->opt.envs;
    if (tr->nranks > 1) {
        if (tr->opt.envs < tr->nranks)
            return td_err_set(err, TD_EINVAL,
                              "--envs %d: fewer cars than the %d processes (each steps at least "
                              "one)",
                              tr->opt.envs, tr->nranks);
        tr->opt.envs = tr->envs_total / tr->nranks + (tr->rank < tr->envs_total % tr->nranks);
        /* The check of equal weights has a test that breaks the equality on purpose. */
        const char *d = getenv("TD_TEST_DIST_DIVERGE");
        tr->test_diverge = d && !strcmp(d, "1") && tr->rank == tr->nranks - 1;
    }
    {
        const char *c = getenv("TD_TRAIN_CRASH_AT");
        if (c && !strncmp(c, "metrics:", 8))
            tr->crash_before_metrics = (int)strtol(c + 8, NULL, 10);
    }
    if (tr->opt.eval_episodes <= 0)
        tr->opt.eval_episodes = tr->md.training.min_eval_trials;
    if (tr->opt.eval_episodes > TD__MAX_EVAL_EPISODES)
        tr->opt.eval_episodes = TD__MAX_EVAL_EPISODES;
    if (opt->hyper_override)
        tr->md.hyper = *opt->hyper_override;
    rc = td_track_load(&tr->track, opt->track_path, err);
    if (rc)
        return rc;
    tr->have_track = 1;

    /* The reward host: the model directory's reward_function.py, else the option's spec. */
    {
        const char *spec = opt->reward_spec;
        char pyspec[TD__TRAIN_PATH_MAX];
        if (!spec && tr->md.has_reward_py) {
            if (!td_reward_python_available())
                return td_err_set(err, TD_EUNSUPPORTED,
                                  "%s/reward_function.py: this trackday was built without the "
                                  "Python reward host (TD_WITH_PYTHON=OFF); rebuild with it, or "
                                  "train with --reward builtin:NAME",
                                  opt->dir);
            if ((rc = td__train_path(pyspec, sizeof(pyspec), opt->dir, "reward_function.py", err)))
                return rc;
            spec = pyspec;
        }
        if (!spec)
            spec = "builtin:follow_center_line";
        if ((rc = td_path_fmt(tr->reward_spec, sizeof(tr->reward_spec), err, "%s", spec)))
            return td_err_prefix(err, rc, "--reward: ");
        size_t sl = strlen(spec);
        int python = sl > 3 && strcmp(spec + sl - 3, ".py") == 0;
        /* DeepRacer's validator, statically: a rejected file is not even loaded. */
        if (python) {
            rc = validation(tr, spec, NULL, opt->no_validate, err);
            if (rc)
                return rc;
        }
        rc = td_reward_open(&tr->reward, spec, &tr->track, err);
        if (rc)
            return rc;
        /* ... and its run-time tests on the loaded function. */
        if (python) {
            rc = validation(tr, spec, tr->reward, opt->no_validate, err);
            if (rc)
                return rc;
        }
        td_reward_set_on_error(tr->reward, (td_reward_on_error)opt->reward_on_error,
                               opt->max_reward_errors);
    }

    /* The simulator, as training_params.yaml and model_metadata.json describe it. */
    td_sim_config_default(&tr->simcfg);
    tr->simcfg.race = tr->md.training.race;
    tr->simcfg.race.spread_starts = opt->spread_starts;
    td_policy_sim_sensors(&tr->md.metadata, &tr->simcfg);
    tr->simcfg.mode = TD_MODE_TRAIN;
    tr->simcfg.threads = tr->opt.threads;
    /* Each rank's cars (their random streams, and the camera's surroundings) come from the
     * seed and the rank; rank 0's are those of a run in one process. */
    tr->simcfg.seed = opt->seed + (uint64_t)tr->rank * 0x9E3779B97F4A7C15ULL;
    /* --teacher: the training env also computes the teacher's sensors (the evaluation envs
     * below only the student's). */
    td_sim_config trcfg = tr->simcfg;
    if (opt->best_laps < 0 || opt->best_laps > TD_MAX_LAPS)
        return td_err_set(err, TD_EINVAL, "--best-laps %d: the laps are 1 to %d (0: off)",
                          opt->best_laps, TD_MAX_LAPS);
    if (opt->teacher_replay < 0 || opt->teacher_replay > TD_TRAIN_MAX_TEACHER_REPLAY ||
        (opt->teacher_replay > 0 && !opt->teacher))
        return td_err_set(err, TD_EINVAL, "--teacher-replay %d: %s", opt->teacher_replay,
                          opt->teacher
                              ? "the frames kept are 0 to 200000"
                              : "the replay holds a teacher's targets: it needs --teacher");
    if (opt->teacher && (rc = td__teacher_setup(tr, &trcfg, err)))
        return rc;
    rc = env_init(&tr->env, &tr->have_env, &tr->envbuf, &trcfg, &tr->track, tr->opt.envs, err);
    if (rc)
        return rc;
    tr->env.reward_fn = td_reward_batch_cb;
    tr->env.reward_user = tr->reward;

    /* Greedy evaluation: DeepRacer's evaluation rules (rank 0 = DeepRacer's rollout worker 0,
     * the one that evaluates during training; where it starts: td__train_evaluate). With
     * several ranks, each drives its share of the episodes (eval_share); the cars draw from
     * the streams of a run in one process (rank 0's seed, first_car), so the episodes are
     * those of one process. */
    td_sim_config ec = tr->simcfg;
    ec.mode = TD_MODE_EVAL;
    ec.threads = 1;
    ec.race.alternate_driving_direction = 0;
    ec.seed = opt->seed;
    int eval_n;
    eval_share(tr->opt.eval_episodes, tr->nranks, tr->rank, &tr->eval_first, &eval_n);
    ec.first_car = tr->eval_first;
    if (eval_n > 0 && (rc = env_init(&tr->eval_env, &tr->have_eval_env, &tr->eval_buf, &ec,
                                     &tr->track, eval_n, err)))
        return rc;
    ec.first_car = 0;
    if (tr->rank == 0) {
        ec.mode = TD_MODE_CONTINUOUS;
        ec.laps = opt->until_laps > 0 ? opt->until_laps : 3;
        ec.race.reverse_dir = tr->simcfg.race.reverse_dir;
        rc = env_init(&tr->lap_env, &tr->have_lap_env, &tr->lap_buf, &ec, &tr->track, 1, err);
        if (rc)
            return rc;
        /* best.tdm's lap time: the drive `trackday eval DIR` makes (the directory's
         * evaluation settings, seed 1), so both print the same number. */
        td_sim_config bc;
        td_sim_config_default(&bc);
        /* evaluation_params.yaml's settings when it evaluates on the training's track. */
        const td_training_params *ep = td_model_dir_eval_params(&tr->md);
        if (ep->world_name[0] && strcmp(ep->world_name, tr->md.training.world_name) != 0)
            ep = &tr->md.training;
        bc.race = ep->race;
        bc.race.alternate_driving_direction = 0;
        td_policy_sim_sensors(&tr->md.metadata, &bc);
        td_eval_config_apply(&ep->eval, &bc);
        bc.seed = 1;
        rc = env_init(&tr->best_env, &tr->have_best_env, &tr->best_buf, &bc, &tr->track, 1, err);
        if (rc)
            return rc;
        /* --best-laps K: the same settings, K laps in a row (`trackday eval DIR --laps K
         * --continuous`). */
        if (opt->best_laps > 0) {
            bc.mode = TD_MODE_CONTINUOUS;
            bc.laps = opt->best_laps;
            rc = env_init(&tr->select_env, &tr->have_select_env, &tr->select_buf, &bc, &tr->track,
                          1, err);
            if (rc)
                return rc;
        }
    }

    tr->max_batch = tr->md.hyper.batch_size;
    if (tr->opt.envs > tr->max_batch)
        tr->max_batch = tr->opt.envs;
    if (tr->opt.eval_episodes > tr->max_batch)
        tr->max_batch = tr->opt.eval_episodes;

    td_rng_seed(&tr->rng, opt->seed, 0x7472616964ULL);
    if ((rc = td__train_path(path, sizeof(path), opt->dir, "model/last.tdm", err)))
        return rc;
    if (opt->resume) {
        if (!td_path_exists(path))
            return td_err_set(err, TD_ENOENT, "%s: nothing to resume (no model/last.tdm)",
                              opt->dir);
        rc = td_policy_load(&tr->policy, path, tr->max_batch, err);
        if (rc)
            return rc;
        tr->have_policy = 1;
        rc = td_policy_check_metadata(&tr->policy, &tr->md.metadata, path, err);
        if (rc)
            return td_err_prefix(err, rc, "cannot resume: ");
        rc = td__state_load(tr, err);
        if (rc)
            return rc;
    } else {
        if (td_path_exists(path))
            return td_err_set(err, TD_EINVAL,
                              "%s already holds a trained model (model/last.tdm): continue it "
                              "with --resume, or train into a new directory",
                              opt->dir);
        rc = td_policy_init(&tr->policy, &tr->md.metadata, tr->max_batch, &tr->rng, err);
        if (rc)
            return rc;
        tr->have_policy = 1;
    }
    td_nn_adam_config_default(&tr->adam);
    tr->adam.lr = (float)tr->md.hyper.lr;
    if (tr->nranks > 1) {
        /* Every rank starts from rank 0's weights (they are equal already: the same seed or
         * the same checkpoint) and samples its actions and minibatches from its own stream. */
        for (int i = 0; i < tr->policy.n_nets; i++)
            td__dist_bcast_f32(tr->policy.nets[i].params, tr->policy.nets[i].n_params);
        if (tr->rank > 0)
            td_rng_seed(&tr->rng, opt->seed ^ ((uint64_t)tr->iteration << 32),
                        0x7472616964ULL + (uint64_t)tr->rank);
        if ((rc = td__train_check_same_weights(tr, err)))
            return rc;
    }

    static const char *const dirs[] = {"model", "metrics", "logs"};
    for (int k = 0; k < 3 && !rc; k++)
        if (!(rc = td__train_path(path, sizeof(path), opt->dir, dirs[k], err)))
            rc = td_mkdir_p(path, err);
    if (rc)
        return rc;
    if (!rc && tr->rank == 0)
        rc = copy_for_log_tools(tr, err);
    if (!rc && opt->resume && tr->rank == 0)
        rc = metrics_catch_up(tr, err);
    if (rc)
        return rc;
    if (opt->simtrace && tr->rank == 0) {
        char dir[TD__TRAIN_PATH_MAX];
        rc = td__train_path(dir, sizeof(dir), opt->dir, "training-simtrace", err);
        if (!rc)
            rc = td__trainlog_open(tr, dir, opt->resume, err);
        if (rc)
            return rc;
    }
    /* The limits count from here: "train 10 more minutes" after a resume means 10 more. */
    tr->t_start = td_time_now();
    tr->comm0 = td__dist_seconds();
    tr->cpu_start = td_time_cpu();
    tr->reward_cpu_last = td_reward_process_cpu_s(tr->reward);
    if (tr->reward_cpu_last < 0)
        tr->reward_cpu_last = 0;
    tr->iteration0 = tr->iteration;
    tr->episodes0 = tr->episodes;
    return 0;
}

void td__train_teardown(td__train *tr)
{
    td__trainlog_close(tr);
    td_free(tr->resume_metrics_line);
    if (tr->have_teacher)
        td_policy_free(&tr->teacher);
    if (tr->have_policy)
        td_policy_free(&tr->policy);
    env_free(&tr->lap_env, tr->have_lap_env, &tr->lap_buf);
    env_free(&tr->best_env, tr->have_best_env, &tr->best_buf);
    env_free(&tr->select_env, tr->have_select_env, &tr->select_buf);
    env_free(&tr->eval_env, tr->have_eval_env, &tr->eval_buf);
    env_free(&tr->env, tr->have_env, &tr->envbuf);
    td_reward_close(tr->reward);
    if (tr->have_track)
        td_track_free(&tr->track);
}

/* ==================================================================================== */
/* Greedy evaluation                                                                    */
/* ==================================================================================== */

/*
 * One step of a greedy drive: every car of env takes the current policy's greedy action (into
 * actions, the env's action buffer). First checks for a second Ctrl-C (a camera model's laps
 * take seconds: a drive must not wait for them) and reports the evaluation's activity (step of
 * cap). Returns 0; 1 if a second Ctrl-C asks to stop now; the policy's negative TD_E* if it
 * failed (it cannot with at most max_batch cars: the callers end the drive there, as if at
 * its cap). The env is not stepped when nonzero.
 */
static int greedy_step(td__train *tr, td_vecenv *env, float *actions, long step, long cap)
{
    td_policy_obs obs;
    if (td__train_stop_now(tr))
        return 1;
    td__train_activity(tr, TD_TRAIN_PHASE_EVALUATE, 0, 0, step, cap);
    td_policy_obs_from_env(env, 0, &obs);
    int rc = td_policy_act(&tr->policy, &obs, env->n, 1, NULL, actions, NULL, NULL, NULL);
    if (rc)
        return rc;
    td_vecenv_step(env);
    return 0;
}

/* One greedy evaluation episode: the step its car ended at (INT_MAX: still driving at the
 * cap) and its record. */
typedef struct eval_car {
    int end_step, car;
    td_episode_info info;
} eval_car;

/* Orders the episodes as one process meets them: by the step they ended at, then by car. */
static int eval_car_cmp(const void *a, const void *b)
{
    const eval_car *x = a, *y = b;
    if (x->end_step != y->end_step)
        return x->end_step < y->end_step ? -1 : 1;
    return x->car < y->car ? -1 : x->car > y->car;
}

/* This rank's evaluation cars (its share) driven greedily from `start` (a fraction of the lap,
 * in direction `reversed`) until each has ended an episode or the cap: their records into
 * out[]; 1 if a second Ctrl-C stopped the drive. */
static int evaluate_share(td__train *tr, eval_car *out, double start, int reversed)
{
    td_vecenv *env = &tr->eval_env;
    int n = env->n, total = tr->opt.eval_episodes, finished = 0;

    td_vecenv_reset(env);
    for (int i = 0; i < n; i++) {
        td_vecenv_reset_car_at(
            env, i, tr->opt.spread_eval_starts ? (double)(tr->eval_first + i) / total : start,
            reversed);
        out[i].end_step = INT_MAX;
        out[i].car = tr->eval_first + i;
    }
    /* A generous cap: a lap at the slowest speed, twice. */
    int cap = (int)(2.0 * tr->track.length / 0.1 * TD_SIM_HZ / 4.0) + 100;
    for (int step = 0; step < cap && finished < n; step++) {
        int rc = greedy_step(tr, env, tr->eval_buf.actions, step, cap);
        if (rc == 1)
            return 1;
        if (rc)
            break;
        for (int i = 0; i < n; i++) {
            if (env->dones[i] && out[i].end_step == INT_MAX) {
                out[i].end_step = step;
                out[i].info = *td_vecenv_last_episode(env, i);
                finished++;
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (out[i].end_step == INT_MAX)
            out[i].info = *td_vecenv_current_episode(env, i);
    return 0;
}

int td__train_evaluate(td__train *tr, td_train_progress *pr)
{
    eval_car mine[TD__MAX_EVAL_EPISODES], all[TD__MAX_EVAL_EPISODES];
    int n = tr->opt.eval_episodes, completed = 0, mine_n = tr->have_eval_env ? tr->eval_env.n : 0;
    double sum_progress = 0, sum_lap = 0;

    /* DeepRacer's rollout worker 0 evaluates between iterations (rollout_worker.py: the
     * MIN_EVAL_TRIALS graph_manager.evaluate calls) from its start_ndist, which only training
     * episodes advance (rollout_agent_ctrl.py finish_episode), in the track's current
     * direction, on the centre line: every trial starts where its next training episode
     * starts. Car 0 is worker 0; its current episode began there. trackday's
     * --spread-eval-starts spreads the trials over the lap from the start line instead. With
     * several ranks, rank 0's car 0 decides and the others receive it. */
    struct {
        double ndist;
        int reversed;
    } start = {0.0, tr->simcfg.race.reverse_dir ? 1 : 0};
    if (!tr->opt.spread_eval_starts) {
        if (tr->rank == 0) {
            const td_episode_info *next = td_vecenv_current_episode(&tr->env, 0);
            start.ndist = next->start_ndist;
            start.reversed = next->reversed_dir ? 1 : 0;
        }
        td__dist_bcast_bytes(&start, (int)sizeof(start));
    }
    pr->eval_start_ndist = start.ndist;
    pr->eval_reversed = start.reversed;
    int stopped = mine_n ? evaluate_share(tr, mine, start.ndist, start.reversed) : 0;

    /* Every rank's episodes to rank 0 (every rank gathers, even one stopped by Ctrl-C). */
    memset(all, 0, sizeof(all));
    td__dist_gather_bytes(mine, sizeof(eval_car) * (size_t)(stopped ? 0 : mine_n), all,
                          sizeof(all));
    stopped = stopped || td__train_stop_now(tr);
    if (tr->rank != 0 || stopped)
        return stopped;
    /* Rank 0 counts them in the order one process meets them (the same sums, the same
     * simtrace rows): by the step they ended, then by car; those still driving last. */
    qsort(all, (size_t)n, sizeof(all[0]), eval_car_cmp);
    for (int i = 0; i < n; i++) {
        const td_episode_info *info = &all[i].info;
        td__trainlog_eval_episode(tr, info);
        sum_progress += info->progress;
        if (all[i].end_step != INT_MAX && info->status == TD_EP_LAP_COMPLETE) {
            completed++;
            sum_lap += info->sim_time_s;
        }
    }
    pr->eval_progress = sum_progress / n;
    pr->eval_completion = (double)completed / n;
    pr->eval_lap_s = completed ? sum_lap / completed : -1;

    /* --until-laps: the laps in a row from the start line, without an event. */
    pr->laps_ok = 0;
    if (tr->opt.until_laps > 0 && pr->eval_completion > 0) {
        td_vecenv *le = &tr->lap_env;
        int lap_cap = (int)(le->cfg.laps * 2.0 * tr->track.length / 0.1 * TD_SIM_HZ / 4.0) + 100;
        td_vecenv_reset(le);
        for (int step = 0; step < lap_cap; step++) {
            int rc = greedy_step(tr, le, tr->lap_buf.actions, step, lap_cap);
            if (rc == 1)
                return 1;
            if (rc)
                break;
            if (le->dones[0]) {
                const td_episode_info *info = td_vecenv_last_episode(le, 0);
                pr->laps_ok = info->laps >= le->cfg.laps && info->events.off_tracks == 0 &&
                              info->events.crashes == 0 && info->events.reverses == 0 &&
                              info->events.immobilized == 0 && info->events.resets == 0;
                break;
            }
        }
    }
    return 0;
}

/*
 * The best lap of the current policy driven as `trackday eval DIR` drives it (td_evaluate:
 * the same settings, seed and step limit), or -1 if no lap was completed.
 */
static double best_lap_as_eval(td__train *tr)
{
    td_vecenv *env = &tr->best_env;
    int laps = env->cfg.laps, trials = 0;
    double best = -1;
    long cap = (long)(laps * (tr->track.length / 0.1 * TD_SIM_HZ + 2000));
    td_vecenv_reset(env);
    for (long step = 0; step < cap; step++) {
        if (greedy_step(tr, env, tr->best_buf.actions, step, cap))
            return -1;
        if (!env->dones[0])
            continue;
        const td_episode_info *info = td_vecenv_last_episode(env, 0);
        for (int l = 0; l < info->laps && l < TD_MAX_LAPS; l++)
            if (best < 0 || info->lap_times_s[l] < best)
                best = info->lap_times_s[l];
        if (env->cfg.mode == TD_MODE_CONTINUOUS || ++trials >= laps)
            break;
    }
    return best;
}

/*
 * --best-laps K: the current policy drives K laps in a row from the start line (select_env:
 * continuous, the directory's evaluation settings, seed 1; as `trackday eval DIR --laps K
 * --continuous`, with its step limit): how far it got (% of the K laps) and the average of
 * its completed laps (-1 when none). A drive whose clock passes max_s (> 0) stops there: it
 * cannot beat the checkpoint whose K laps took max_s. 1 if a second Ctrl-C stopped it.
 */
static int laps_drive(td__train *tr, double max_s, double *progress, double *lap_s)
{
    td_vecenv *env = &tr->select_env;
    int laps = env->cfg.laps;
    const td_episode_info *info = NULL;
    long cap = (long)(laps * (tr->track.length / 0.1 * TD_SIM_HZ + 2000));
    td_vecenv_reset(env);
    for (long step = 0; step < cap && !info; step++) {
        int rc = greedy_step(tr, env, tr->select_buf.actions, step, cap);
        if (rc == 1)
            return 1;
        if (rc)
            break;
        if (env->dones[0])
            info = td_vecenv_last_episode(env, 0);
        else if (max_s > 0 && td_vecenv_current_episode(env, 0)->sim_time_s > max_s)
            break;
    }
    if (!info)
        info = td_vecenv_current_episode(env, 0);
    int done = info->laps < laps ? info->laps : laps;
    double sum = 0;
    for (int l = 0; l < done; l++)
        sum += info->lap_times_s[l];
    *lap_s = done > 0 ? sum / done : -1;
    double part = done < laps && info->progress < 100 ? info->progress : 0;
    *progress = done >= laps ? 100.0 : (100.0 * done + part) / laps;
    return 0;
}

/* ==================================================================================== */
/* Metrics and checkpoints                                                              */
/* ==================================================================================== */

int td__metrics_append(td__train *tr, const td_train_progress *p, td_err *err)
{
    char path[TD__TRAIN_PATH_MAX];
    int rc = td__train_path(path, sizeof(path), tr->opt.dir, "metrics/training.jsonl", err);
    return rc ? rc : td_train_metrics_append(path, p, err);
}

/* The lineage block of a checkpoint's header. */
static json_t *lineage(td__train *tr, int iteration)
{
    char created[32], run_id[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(run_id, sizeof(run_id), "%016llx", (unsigned long long)tr->run_id);
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I}", "run_id", run_id, "track",
                     tr->track.name, "reward", tr->reward_spec, "created", created, "iteration",
                     iteration, "episodes", (json_int_t)tr->episodes, "steps",
                     (json_int_t)tr->steps);
}

int td__checkpoint(td__train *tr, const td_train_progress *p, td_err *err)
{
    char path[TD__TRAIN_PATH_MAX];
    json_t *lin = lineage(tr, p->iteration);
    int rc;
    /* The state keeps the iteration's metrics line, so that a run killed before the line is
     * written gets it on --resume; how long this checkpoint takes is not known yet. */
    td_train_progress q = *p;
    q.checkpoint_s = NAN;
    char *line = td__metrics_line(&q);
    rc = line ? 0 : td_err_set(err, TD_ENOMEM, "cannot build the metrics line of the state");
    if (!rc)
        rc = td__train_path(path, sizeof(path), tr->opt.dir, "model/last.tdm", err);
    if (!rc)
        rc = td_policy_save(&tr->policy, path, lin, err);
    if (!rc)
        rc = td__state_save(tr, line, err);
    td_free(line);
    if (!rc && p->best) {
        /* best.tdm is for driving: the policy tower only (resume reads last.tdm). */
        rc = td__train_path(path, sizeof(path), tr->opt.dir, "model/best.tdm", err);
        if (!rc)
            rc = td_policy_save_driver(&tr->policy, path, lin, err);
    }
    json_decref(lin);
    return rc;
}

/* ==================================================================================== */
/* The run                                                                              */
/* ==================================================================================== */

int td_train_run(const td_train_options *opt, td_train_result *result, td_err *err)
{
    td__train tr;
    int rc;

    memset(result, 0, sizeof(*result));
    rc = td__train_setup(&tr, opt, err);
    if (rc) {
        td__train_teardown(&tr);
        return rc;
    }
    if (tr.run_id == 0)
        tr.run_id = opt->seed * 0x9E3779B97F4A7C15ULL ^ (uint64_t)td_time_wall();
    if (tr.best_lap_s == 0)
        tr.best_lap_s = -1;
    if (tr.policy.sac)
        rc = td__sac_run(&tr, result, err);
    else
        rc = td__ppo_run(&tr, result, err);
    result->comm_s = td__dist_seconds() - tr.comm0;
    result->ranks = tr.nranks;
    result->envs = tr.opt.envs;
    result->rank_steps = tr.rank_steps;
    /* What several ranks compare (the hash of a camera model's weights is not free). */
    if (tr.nranks > 1)
        result->weights_hash = td_policy_weights_hash(&tr.policy);
    td__train_teardown(&tr);
    return rc;
}

/*
 * Checks the stop conditions after an iteration; returns the reason or NONE. --iterations,
 * --max-episodes (and term_cond_max_episodes) and --minutes count from the start of this
 * session, so after --resume they mean "this many more".
 */
td_train_stop td__train_should_stop(td__train *tr, const td_train_progress *p)
{
    const td_hyperparams *h = &tr->md.hyper;
    long max_eps = tr->opt.max_episodes > 0 ? tr->opt.max_episodes : h->term_cond_max_episodes;
    if (tr->opt.stop && *tr->opt.stop >= 2)
        return TD_TRAIN_STOP_NOW;
    if (tr->opt.stop && *tr->opt.stop)
        return TD_TRAIN_STOP_SIGNAL;
    if (tr->opt.until_laps > 0 && p->laps_ok)
        return TD_TRAIN_STOP_LAPS;
    if (tr->opt.max_iterations > 0 && p->iteration - tr->iteration0 >= tr->opt.max_iterations)
        return TD_TRAIN_STOP_ITERATIONS;
    if (p->episodes - tr->episodes0 >= max_eps)
        return TD_TRAIN_STOP_EPISODES;
    /* term_cond_avg_score is not a stop condition: DeepRacer reads it and never uses it. */
    if (tr->opt.until_score_set && p->mean_reward >= tr->opt.until_score)
        return TD_TRAIN_STOP_SCORE;
    if (tr->opt.minutes > 0 && p->session_s >= tr->opt.minutes * 60.0)
        return TD_TRAIN_STOP_MINUTES;
    if (tr->opt.cpu_minutes > 0 && p->session_cpu_s >= tr->opt.cpu_minutes * 60.0)
        return TD_TRAIN_STOP_CPU;
    return TD_TRAIN_STOP_NONE;
}

/*
 * This session's CPU seconds in this process (every thread) and in the sandboxed reward
 * process, which computes while the simulator waits for it. A reward process restarted after
 * a crash (--on-reward-error skip) counts from 0 again; what the old one used stays counted.
 */
static double session_cpu(td__train *tr)
{
    double r = td_reward_process_cpu_s(tr->reward);
    if (r >= 0) {
        tr->reward_cpu_s += r >= tr->reward_cpu_last ? r - tr->reward_cpu_last : r;
        tr->reward_cpu_last = r;
    }
    return td_time_cpu() - tr->cpu_start + tr->reward_cpu_s;
}

double td__train_elapsed(const td__train *tr)
{
    return tr->elapsed_before + (td_time_now() - tr->t_start);
}

void td__count_ended(const td_vecenv *env, td__episode_sums *s)
{
    for (int i = 0; i < env->n; i++) {
        if (env->dones[i]) {
            const td_episode_info *info = td_vecenv_last_episode(env, i);
            s->ended++;
            s->reward += info->total_reward;
            s->progress += info->progress;
            s->completed += info->status == TD_EP_LAP_COMPLETE;
        }
    }
}

int td__train_episode_goal(const td__train *tr)
{
    int K = tr->nranks, goal = tr->md.hyper.num_episodes_between_training;
    if (K > 1) {
        goal = goal / K + (tr->rank < goal % K);
        if (goal < 1)
            goal = 1;
    }
    return goal;
}

void td__train_iteration_sums(td__train *tr, td__episode_sums *eps, long *iter_steps, int *stop_now,
                              long steps0)
{
    if (tr->nranks < 2)
        return;
    double sums[6] = {eps->ended,    eps->completed,      eps->reward,
                      eps->progress, (double)*iter_steps, *stop_now};
    td__dist_sum_f64(sums, 6);
    eps->ended = (int)sums[0];
    eps->completed = (int)sums[1];
    eps->reward = sums[2];
    eps->progress = sums[3];
    *iter_steps = (long)sums[4];
    *stop_now = sums[5] > 0;
    tr->steps = steps0 + *iter_steps;
}

void td__episode_means(const td__episode_sums *s, td_train_progress *pr)
{
    pr->mean_reward = s->ended ? s->reward / s->ended : 0;
    pr->mean_progress = s->ended ? s->progress / s->ended : 0;
    pr->completion_rate = s->ended ? (double)s->completed / s->ended : 0;
}

int td__train_net_failed(td_err *err, int rc, const char *what)
{
    return td_err_set(err, rc,
                      "the networks failed in %s: %s (an observation that does not fit "
                      "the network, or out of memory)",
                      what, td_strerror(rc));
}

void td__train_activity(td__train *tr, td_train_phase phase, long steps, int episodes, long done,
                        long total)
{
    double now = td_time_now();
    if (!tr->opt.activity || (phase == tr->last_phase && now - tr->last_activity < 0.2))
        return;
    tr->last_phase = phase;
    tr->last_activity = now;
    td_train_activity a;
    a.phase = phase;
    /* Collect and update come before the iteration counter goes up, evaluation and the
     * checkpoint after. */
    a.iteration =
        tr->iteration + (phase == TD_TRAIN_PHASE_COLLECT || phase == TD_TRAIN_PHASE_UPDATE);
    a.steps = steps;
    a.episodes = episodes;
    a.episodes_goal = tr->md.hyper.num_episodes_between_training;
    a.done = done;
    a.total = total;
    a.iteration_s = now - tr->iter_t0;
    tr->opt.activity(tr->opt.activity_user, &a);
}

int td__train_stop_now(const td__train *tr)
{
    return tr->opt.stop && *tr->opt.stop >= 2;
}

static int stop_now(void *tr)
{
    return td__train_stop_now(tr);
}

void td__train_cancel_passes(td__train *tr, int on)
{
    if (tr->nranks > 1 || !tr->opt.stop)
        return;
    for (int i = 0; i < tr->policy.n_nets; i++) {
        tr->policy.nets[i].cancel = on ? stop_now : NULL;
        tr->policy.nets[i].cancel_user = on ? tr : NULL;
    }
}

int td__train_check_reward(td__train *tr, td_err *err)
{
    int rc = td_reward_failed(tr->reward);
    char path[TD__TRAIN_PATH_MAX];
    td_err werr;
    const td_reward_error *re;
    if (!rc)
        return 0;
    re = td_reward_last_error(tr->reward);
    if (td__train_path(path, sizeof(path), tr->opt.dir, "logs/reward_error.json", &werr) != 0 ||
        td_reward_error_write(tr->reward, path, &werr) != 0)
        TD_WARN("%s", werr.msg);
    /* The error names a row of the last reward batch, which leaves out held cars. */
    return td_err_set(err, rc,
                      "the reward function failed at step %d of car %d: %s\n(the params of that "
                      "step are in %s; the last checkpoint, model/last.tdm, is kept)",
                      re->step, re->car >= 0 ? td_vecenv_reward_car(&tr->env, re->car) : -1,
                      re->message, path);
}

int td__train_check_same_weights(td__train *tr, td_err *err)
{
    uint64_t h = td_policy_weights_hash(&tr->policy);
    if (td__dist_same_u64(h))
        return 0;
    return td_err_set(err, TD_EINTERNAL,
                      "the ranks' weights differ after iteration %d (this "
                      "rank's fnv1a64 %016llx): data-parallel training lost step; stopping",
                      tr->iteration, (unsigned long long)h);
}

static int end_iteration(td__train *tr, td_train_progress *pr, double wall, int stopped,
                         long iter_steps, td_train_result *result, td_train_stop *stop,
                         td_err *err);

/* Every rank drives its share of the greedy evaluation; rank 0 writes and decides whether to
 * stop; every rank learns its decision. */
int td__train_end_iteration(td__train *tr, td_train_progress *pr, double iter_t0, long iter_steps,
                            td_train_result *result, td_train_stop *stop, td_err *err)
{
    int rc = 0, msg[3] = {TD_TRAIN_STOP_NONE, 0, 0};
    double te = td_time_now(), wall = te - iter_t0;
    if (!tr->have_teacher)
        pr->imitation_loss = pr->teacher_agreement = pr->teacher_beta = NAN;
    if (!tr->have_teacher || tr->opt.teacher_replay <= 0)
        pr->teacher_replay = NAN;
    pr->comm_s = td__dist_seconds() - tr->iter_comm0;
    int stopped = td__train_evaluate(tr, pr);
    pr->eval_s = td_time_now() - te;
    /* --cpu-minutes counts every rank's processes: rank 0, which decides, gets the others' sum
     * here and adds its own (with the evaluation) in end_iteration. */
    if (tr->nranks > 1 && tr->opt.cpu_minutes > 0) {
        double mine = session_cpu(tr), all = mine;
        td__dist_sum_f64(&all, 1);
        pr->session_cpu_s = all - mine;
    }
    if (tr->rank == 0) {
        rc = end_iteration(tr, pr, wall, stopped, iter_steps, result, stop, err);
        msg[0] = (int)*stop;
        msg[1] = tr->iteration;
        msg[2] = rc != 0;
    }
    result->collect_s += pr->collect_s;
    result->update_s += pr->update_s;
    result->eval_s += pr->eval_s;
    result->checkpoint_s += pr->checkpoint_s;
    if (tr->nranks > 1) {
        td__dist_bcast_int(msg, 3);
        if (tr->rank > 0) {
            *stop = (td_train_stop)msg[0];
            tr->iteration = msg[1];
            result->stop = *stop;
            if (msg[2])
                rc = td_err_set(err, TD_EIO, "rank 0 failed at the end of iteration %d",
                                tr->iteration);
        }
    }
    return rc;
}

/* Rank 0's part: best checkpoint, metrics, progress and the stop decision. */
static int end_iteration(td__train *tr, td_train_progress *pr, double wall, int stopped,
                         long iter_steps, td_train_result *result, td_train_stop *stop, td_err *err)
{
    int rc;
    double te = td_time_now();
    if (stopped || td__train_stop_now(tr)) {
        /* A second Ctrl-C during the evaluation: no checkpoint of this iteration. */
        tr->iteration--;
        *stop = TD_TRAIN_STOP_NOW;
        return 0;
    }
    pr->iteration = tr->iteration;
    pr->episodes = tr->episodes;
    pr->steps = tr->steps;
    pr->steps_per_s = wall > 0 ? (double)iter_steps / wall : 0;
    pr->iteration_steps = iter_steps;
    long ended = tr->episodes - tr->iter_episodes0;
    pr->mean_steps = ended > 0 ? (double)iter_steps / (double)ended : NAN;
    /* DeepRacer keeps the checkpoint whose evaluation went furthest; among those that all
     * finish their laps, trackday prefers the faster one. --best-laps: the same rule on the
     * K-lap drive instead (its scores kept in the same fields). */
    double progress = pr->eval_progress, lap_s = pr->eval_lap_s;
    pr->laps_drive_progress = pr->laps_drive_lap_s = NAN;
    if (tr->opt.best_laps > 0) {
        /* A drive slower than best.tdm's (all K laps) stops when its clock passes it. */
        double max_s =
            tr->best_iteration > 0 && tr->best_eval_progress >= 100 && tr->best_eval_lap_s > 0
                ? tr->best_eval_lap_s * tr->opt.best_laps
                : 0;
        if (laps_drive(tr, max_s, &progress, &lap_s)) {
            tr->iteration--;
            *stop = TD_TRAIN_STOP_NOW;
            return 0;
        }
        pr->laps_drive_progress = progress;
        pr->laps_drive_lap_s = lap_s;
    }
    pr->best = tr->best_iteration == 0 || progress > tr->best_eval_progress ||
               (progress == tr->best_eval_progress && lap_s > 0 &&
                (tr->best_eval_lap_s <= 0 || lap_s < tr->best_eval_lap_s));
    if (pr->best) {
        tr->best_eval_progress = progress;
        tr->best_eval_lap_s = lap_s;
        tr->best_iteration = tr->iteration;
        /* The lap time reported is best.tdm's, as `trackday eval` will drive it: driven when
         * the evaluation trials or the --best-laps drive completed a lap (the trials start
         * where car 0's next episode starts, so a policy that laps from the start line may
         * complete none of them). */
        int lapped = pr->eval_completion > 0 || (tr->opt.best_laps > 0 && lap_s > 0);
        tr->best_lap_s = lapped ? best_lap_as_eval(tr) : -1;
        if (td__train_stop_now(tr)) {
            /* A second Ctrl-C during that drive: no checkpoint of this iteration either. */
            tr->iteration--;
            *stop = TD_TRAIN_STOP_NOW;
            return 0;
        }
    }
    pr->lap_time_s = tr->best_lap_s;
    pr->eval_s += td_time_now() - te;
    pr->elapsed_s = td__train_elapsed(tr);
    pr->session_s = td_time_now() - tr->t_start;
    pr->session_cpu_s += session_cpu(tr);
    pr->session_iterations = tr->iteration - tr->iteration0;
    pr->time_left_s = tr->opt.minutes > 0 ? tr->opt.minutes * 60.0 - pr->session_s : -1;
    if (pr->time_left_s < 0 && tr->opt.minutes > 0)
        pr->time_left_s = 0;
    td__train_activity(tr, TD_TRAIN_PHASE_CHECKPOINT, 0, 0, 0, 0);
    /* The iteration's files change together under the directory's lock: a reader holding it
     * (the hub's worker packing a checkpoint) sees the weights, the state and the metrics of
     * one iteration, never a mix of two. */
    int lock = td_dir_lock(tr->opt.dir, 1, err);
    if (lock < 0)
        return err->code;
    double tc = td_time_now();
    rc = td__checkpoint(tr, pr, err);
    pr->checkpoint_s = td_time_now() - tc;
    if (!rc && tr->crash_before_metrics == tr->iteration)
        raise(SIGKILL);
    if (!rc)
        rc = td__metrics_append(tr, pr, err);
    td_dir_unlock(lock);
    if (rc)
        return rc;
    result->last = *pr;
    result->best_eval_progress = tr->best_eval_progress;
    result->best_iteration = tr->best_iteration;
    if (tr->opt.progress)
        tr->opt.progress(tr->opt.progress_user, pr);
    *stop = td__train_should_stop(tr, pr);
    return 0;
}
