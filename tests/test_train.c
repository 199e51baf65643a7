/*
 * test_train.c - the trainer end to end on small runs: PPO learns to drive (the greedy policy
 * laps a simple track), SAC runs and learns, checkpoints round-trip bit-exactly, --resume
 * continues the same run, a SIGKILL mid-training leaves a loadable checkpoint, a reward
 * function that raises stops the run with its error file and keeps the checkpoint, and bad
 * model directories are rejected.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "td_test.h"
#include "train_fixture.h"
#include "trackday/rl.h"
#include "trackday/json.h"
#include "trackday/logs.h"
#include "trackday/simtrace.h"
#include "trackday/trainer.h"
#include "train/train_internal.h"

typedef struct {
    int calls;
    double first_eval, last_eval;
    double first_reward, last_reward;
} seen;

static void record(void *user, const td_train_progress *p)
{
    seen *s = user;
    if (s->calls++ == 0) {
        s->first_eval = p->eval_progress;
        s->first_reward = p->mean_reward;
    }
    s->last_eval = p->eval_progress;
    s->last_reward = p->mean_reward;
}

/* A STATE model directory with these hyperparameters, trained for `iterations` with
 * train_options (o and r keep what the run used and gave). */
static void train_state(char *dir, const char *hyper, int iterations, td_train_options *o,
                        td_train_result *r, td_err *err)
{
    make_model_dir(dir, STATE_META, hyper, NULL);
    train_options(o, dir, iterations);
    TD_ASSERT_OK(td_train_run(o, r, err));
}

/* trackday init's values (train_fixture.h), with progress recorded in s. */
static void ppo_init_values(char *dir, int iterations, td_train_options *o, seen *s)
{
    init_values_model(dir, iterations, o);
    o->progress = record;
    o->progress_user = s;
}

TD_TEST(ppo_learns_to_lap_a_simple_track)
{
    char dir[128];
    td_train_options o;
    td_train_result r;
    td_err err;
    seen s = {0};
    ppo_init_values(dir, 60, &o, &s);
    o.until_laps = 2;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    /* It stopped because the greedy policy drove 2 laps from the start line without an
     * event, well before the iteration limit. */
    TD_ASSERT_EQ_INT(r.stop, TD_TRAIN_STOP_LAPS);
    TD_ASSERT_LT(r.last.iteration, 60);
    TD_ASSERT(r.last.laps_ok);
    TD_ASSERT_GT(r.best_eval_progress, 0);
    TD_ASSERT_GT(r.last.lap_time_s, 0);
}

TD_TEST(ppo_reward_increases)
{
    char dir[128];
    td_train_options o;
    td_train_result r;
    td_err err;
    seen s = {0};
    ppo_init_values(dir, 24, &o, &s);
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(s.calls, 24);
    /* Training episodes (sampled actions) get longer and earn more as the policy learns. */
    TD_ASSERT_MSG(s.last_reward > 2.0 * s.first_reward, "reward %g -> %g", s.first_reward,
                  s.last_reward);
    /* By then the greedy policy completes a lap from every evaluation start (DeepRacer's
     * calibrated car needs about 16 iterations here; the first laps from the start line
     * come earlier, which is why ppo_learns_to_lap_a_simple_track does not check this). */
    TD_ASSERT_NEAR(r.best_eval_progress, 100.0, 1e-9);
}

TD_TEST(same_seed_same_run)
{
    char d1[128], d2[128];
    td_train_options o;
    td_train_result r1, r2;
    td_err err;
    make_model_dir(d1, STATE_META, "{\"num_epochs\": 3}", NULL);
    make_model_dir(d2, STATE_META, "{\"num_epochs\": 3}", NULL);
    train_options(&o, d1, 3);
    TD_ASSERT_OK(td_train_run(&o, &r1, &err));
    train_options(&o, d2, 3);
    TD_ASSERT_OK(td_train_run(&o, &r2, &err));
    TD_ASSERT_EQ_INT(r1.last.steps, r2.last.steps);
    TD_ASSERT_EQ(r1.last.mean_reward, r2.last.mean_reward);
    TD_ASSERT_EQ(r1.last.policy_loss, r2.last.policy_loss);
    /* The checkpoints hold the same weights. */
    td_policy p1, p2;
    char path[256];
    TD_FMT(path, "%s/model/last.tdm", d1);
    TD_ASSERT_OK(td_policy_load(&p1, path, 4, &err));
    TD_FMT(path, "%s/model/last.tdm", d2);
    TD_ASSERT_OK(td_policy_load(&p2, path, 4, &err));
    TD_ASSERT_EQ_INT(p1.pi->n_params, p2.pi->n_params);
    TD_ASSERT_EQ(memcmp(p1.pi->params, p2.pi->params, p1.pi->n_params * sizeof(float)), 0);
    td_policy_free(&p1);
    td_policy_free(&p2);
}

TD_TEST(checkpoint_round_trip_is_bit_exact)
{
    td_model_metadata m;
    td_policy p, q;
    td_rng rng;
    td_err err;
    char path[] = "/tmp/td_ckpt_XXXXXX.tdm";
    int fd = mkstemps(path, 4);
    TD_ASSERT_GE(fd, 0);
    close(fd);
    td_model_metadata_default(&m);
    m.camera = TD_CAMERA_NONE;
    m.state_sensor = 1;
    m.network = TD_NET_MLP;
    td_rng_seed(&rng, 3, 0);
    TD_ASSERT_OK(td_policy_init(&p, &m, 8, &rng, &err));
    TD_ASSERT_OK(td_policy_save(&p, path, NULL, &err));
    TD_ASSERT_OK(td_policy_load(&q, path, 8, &err));
    TD_ASSERT_EQ_INT(q.n_nets, p.n_nets);
    for (int i = 0; i < p.n_nets; i++) {
        TD_ASSERT_EQ_INT(q.nets[i].n_params, p.nets[i].n_params);
        TD_ASSERT(memcmp(q.nets[i].params, p.nets[i].params, p.nets[i].n_params * sizeof(float)) ==
                  0);
    }
    TD_ASSERT_EQ_INT(q.meta.n_actions, 10);
    /* The same observation gives the same greedy action. */
    float obs[8 * TD_STATE_DIM], a1[16], a2[16];
    int i1[8], i2[8];
    for (int k = 0; k < 8 * TD_STATE_DIM; k++)
        obs[k] = (float)td_rng_range(&rng, -1, 1);
    td_policy_obs o = {obs, NULL, NULL};
    TD_ASSERT_OK(td_policy_act(&p, &o, 8, 1, NULL, a1, i1, NULL, NULL));
    TD_ASSERT_OK(td_policy_act(&q, &o, 8, 1, NULL, a2, i2, NULL, NULL));
    TD_ASSERT_EQ(memcmp(i1, i2, sizeof(i1)), 0);
    TD_ASSERT_EQ(memcmp(a1, a2, sizeof(a1)), 0);
    td_policy_free(&p);
    td_policy_free(&q);
    unlink(path);
}

/* e-greedy: epsilon 0 takes the policy's most likely action (the greedy one), epsilon 1 a
 * uniformly random one; the log-probability is the policy's for the action taken. */
TD_TEST(egreedy_picks_greedy_or_uniform_actions)
{
    td_model_metadata m;
    td_policy p;
    td_rng rng;
    td_err err;
    enum { B = 64 };
    td_model_metadata_default(&m);
    m.camera = TD_CAMERA_NONE;
    m.state_sensor = 1;
    m.network = TD_NET_MLP;
    td_rng_seed(&rng, 5, 0);
    TD_ASSERT_OK(td_policy_init(&p, &m, B, &rng, &err));
    static float obs[B * TD_STATE_DIM];
    float env_a[2 * B], greedy_a[2 * B], logp[B];
    int act[B], greedy[B];
    for (int k = 0; k < B * TD_STATE_DIM; k++)
        obs[k] = (float)td_rng_range(&rng, -1, 1);
    td_policy_obs o = {obs, NULL, NULL};
    TD_ASSERT_OK(td_policy_act(&p, &o, B, 1, NULL, greedy_a, greedy, NULL, NULL));
    TD_ASSERT_OK(td_policy_act(&p, &o, B, 0, &rng, env_a, act, NULL, logp));
    td_policy_egreedy(&p, B, 0.0, &rng, env_a, act, logp);
    TD_ASSERT(memcmp(act, greedy, sizeof(act)) == 0);
    TD_ASSERT(memcmp(env_a, greedy_a, sizeof(env_a)) == 0);
    for (int b = 0; b < B; b++)
        TD_ASSERT_NEAR(logp[b], td_rl_categorical_logp(p.pi->out + b * p.n_out, p.n_out, act[b]),
                       0);
    /* epsilon 1: every action drawn about equally often over many draws. */
    int count[10] = {0}, differs = 0;
    for (int rep = 0; rep < 200; rep++) {
        td_policy_egreedy(&p, B, 1.0, &rng, env_a, act, logp);
        for (int b = 0; b < B; b++) {
            count[act[b]]++;
            differs += act[b] != greedy[b];
        }
    }
    for (int a = 0; a < 10; a++)
        TD_ASSERT_MSG(count[a] > 1100 && count[a] < 1460, "action %d drawn %d of 12800 times", a,
                      count[a]);
    TD_ASSERT(differs > 10000);
    td_policy_free(&p);
}

static int count_lines(const char *path)
{
    char *text;
    size_t len;
    int n = 0;
    if (td_file_read(path, &text, &len, NULL))
        return -1;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    td_free(text);
    return n;
}

/* term_cond_avg_score is read and never stops training (as in DeepRacer, whose DRfC default
 * of 350 would otherwise end runs early); --until-score is trackday's stop on the mean reward. */
TD_TEST(avg_score_is_not_a_stop_condition_until_score_is)
{
    char dir[128];
    td_train_options o;
    td_train_result r;
    td_err err;
    train_state(dir, "{\"num_epochs\": 3, \"term_cond_avg_score\": -1000}", 3, &o, &r, &err);
    TD_ASSERT_EQ_INT(r.stop, TD_TRAIN_STOP_ITERATIONS);
    TD_ASSERT_EQ_INT(r.last.iteration, 3);
    make_model_dir(dir, STATE_META, "{\"num_epochs\": 3}", NULL);
    train_options(&o, dir, 3);
    o.until_score_set = 1;
    o.until_score = -1000;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(r.stop, TD_TRAIN_STOP_SCORE);
    TD_ASSERT_EQ_INT(r.last.iteration, 1);
}

/* A DeepRacer e-greedy hyperparameters.json trains. */
TD_TEST(egreedy_exploration_trains)
{
    char dir[128];
    td_train_options o;
    td_train_result r;
    td_err err;
    make_model_dir(dir, STATE_META,
                   "{\"num_epochs\": 3, \"exploration_type\": \"e-greedy\", \"e_greedy_value\": "
                   "0.1, \"epsilon_steps\": 200}",
                   NULL);
    train_options(&o, dir, 2);
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(r.last.iteration, 2);
    TD_ASSERT(r.last.episodes > 0);
}

TD_TEST(resume_continues_the_run)
{
    char dir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    train_state(dir, "{\"num_epochs\": 3}", 2, &o, &r, &err);
    TD_ASSERT_EQ_INT(r.last.iteration, 2);
    long steps = r.last.steps;
    td_policy before;
    TD_FMT(path, "%s/model/last.tdm", dir);
    TD_ASSERT_OK(td_policy_load(&before, path, 4, &err));

    /* A second fresh run into the same directory is refused: it would overwrite the model. */
    TD_ASSERT_EQ_INT(td_train_run(&o, &r, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "--resume");

    /* --iterations 2 after a resume: two more. */
    train_options(&o, dir, 2);
    o.resume = 1;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(r.last.iteration, 4);
    TD_ASSERT_EQ_INT(r.last.session_iterations, 2);
    TD_ASSERT_GT(r.last.steps, steps);
    TD_FMT(path, "%s/metrics/training.jsonl", dir);
    TD_ASSERT_EQ_INT(count_lines(path), 4);
    /* The resumed run started from the saved weights and kept training them. */
    td_policy after;
    TD_FMT(path, "%s/model/last.tdm", dir);
    TD_ASSERT_OK(td_policy_load(&after, path, 4, &err));
    TD_ASSERT_NE(memcmp(before.pi->params, after.pi->params, before.pi->n_params * 4), 0);
    td_policy_free(&before);
    td_policy_free(&after);
}

TD_TEST(resume_limits_count_from_the_resume)
{
    char dir[128];
    td_train_options o;
    td_train_result r;
    td_err err;
    train_state(dir, "{\"num_epochs\": 3, \"num_episodes_between_training\": 20}", 3, &o, &r, &err);
    long episodes = r.last.episodes;
    TD_ASSERT_GE(episodes, 60);
    /* --max-episodes 50 after 60 episodes: 50 more (at least 3 iterations of 20), not a stop
     * after the first iteration because 60 >= 50 already. */
    train_options(&o, dir, 0);
    o.resume = 1;
    o.max_episodes = 50;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(r.stop, TD_TRAIN_STOP_EPISODES);
    TD_ASSERT_GE(r.last.episodes - episodes, 50);
    TD_ASSERT_GE(r.last.session_iterations, 3);
    TD_ASSERT_EQ_INT(r.last.iteration, 3 + r.last.session_iterations);

    /* --minutes counts this session's time, not the earlier sessions' (checked on the stop
     * rule itself: a timed run would need a sleep). */
    td__train tr;
    td_train_progress p;
    memset(&tr, 0, sizeof(tr));
    memset(&p, 0, sizeof(p));
    tr.opt.minutes = 1;
    tr.md.hyper.term_cond_max_episodes = 1000000;
    tr.md.hyper.term_cond_avg_score = 1e9;
    tr.elapsed_before = 1000;
    p.elapsed_s = 1030;
    p.session_s = 30;
    TD_ASSERT_EQ_INT(td__train_should_stop(&tr, &p), TD_TRAIN_STOP_NONE);
    p.elapsed_s = 1061;
    p.session_s = 61;
    TD_ASSERT_EQ_INT(td__train_should_stop(&tr, &p), TD_TRAIN_STOP_MINUTES);
    /* And --iterations the session's iterations. */
    tr.opt.minutes = 0;
    tr.opt.max_iterations = 3;
    tr.iteration0 = 65;
    p.iteration = 66;
    TD_ASSERT_EQ_INT(td__train_should_stop(&tr, &p), TD_TRAIN_STOP_NONE);
    p.iteration = 68;
    TD_ASSERT_EQ_INT(td__train_should_stop(&tr, &p), TD_TRAIN_STOP_ITERATIONS);
}

TD_TEST(resume_with_another_sensor_says_what_changed)
{
    char dir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    train_state(dir, "{\"num_epochs\": 3}", 1, &o, &r, &err);
    /* The user switches the directory to a camera and resumes. */
    TD_FMT(path, "%s/model_metadata.json", dir);
    td_test_write(path, "{\"sensor\": [\"FRONT_FACING_CAMERA\"], \"action_space\": ["
                        "{\"steering_angle\": -30, \"speed\": 1}, {\"steering_angle\": 30, "
                        "\"speed\": 1}]}");
    o.resume = 1;
    TD_ASSERT_ERR(td_train_run(&o, &r, &err), TD_EINVAL, &err, "cannot resume");
    TD_ASSERT_CONTAINS(err.msg, "sensor [\"STATE\"] -> [\"FRONT_FACING_CAMERA\"]");
    TD_ASSERT_CONTAINS(err.msg, "neural_network \"MLP\" -> \"DEEP_CONVOLUTIONAL_NETWORK_SHALLOW\"");
    TD_ASSERT_CONTAINS(err.msg, "action_space [");
}

/* The trainer's metrics lines carry every column eval/'s reader takes (mean_steps was read
 * but written by no one). */
TD_TEST(metrics_file_has_every_column_the_reader_reads)
{
    char dir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    train_state(dir, "{\"num_epochs\": 3}", 2, &o, &r, &err);
    TD_FMT(path, "%s/metrics/training.jsonl", dir);
    td_metrics m;
    TD_ASSERT_OK(td_metrics_load(&m, path, &err));
    TD_ASSERT_EQ_INT(m.n, 2);
    for (int k = 0; k < m.n; k++) {
        TD_ASSERT_EQ(m.iteration[k], k + 1);
        TD_ASSERT(isfinite(m.mean_reward[k]) && isfinite(m.mean_progress[k]));
        TD_ASSERT(isfinite(m.completion_rate[k]) && isfinite(m.entropy[k]));
        TD_ASSERT_MSG(isfinite(m.mean_steps[k]) && m.mean_steps[k] > 0, "mean_steps %g",
                      m.mean_steps[k]);
    }
    td_metrics_free(&m);
}

TD_TEST(resume_without_a_model_is_an_error)
{
    char dir[128];
    td_train_options o;
    td_train_result r;
    td_err err;
    make_model_dir(dir, STATE_META, "{}", NULL);
    train_options(&o, dir, 1);
    o.resume = 1;
    TD_ASSERT_EQ_INT(td_train_run(&o, &r, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "nothing to resume");
}

static void ping(void *user, const td_train_progress *p)
{
    int fd = *(int *)user;
    char c = 'i';
    (void)p;
    if (write(fd, &c, 1) != 1)
        _exit(3);
}

/* The iteration of a model directory's last checkpoint (model/last.tdm's lineage). */
static int td__test_state_iteration(const char *dir, int *iteration)
{
    char path[256];
    td_err err;
    snprintf(path, sizeof(path), "%s/metrics/training.jsonl", dir);
    td_metrics m;
    int rc = td_metrics_load(&m, path, &err);
    if (rc)
        return rc;
    *iteration = m.n > 0 ? (int)m.iteration[m.n - 1] : 0;
    td_metrics_free(&m);
    return 0;
}

/* Reads a training simtrace folder's files and checks them as deepracer-utils needs them:
 * file N holds whole episodes numbered N*E .. N*E+E-1 in order, each starting at step 1.
 * Returns the number of episodes. */
static long check_iteration_files(const char *dir, int E, int *files)
{
    td_simtrace_files f;
    td_simtrace t;
    td_err err;
    td_simtrace_init(&t);
    TD_ASSERT_OK(td_simtrace_find(dir, TD_SIMTRACE_TRAINING, &f, &err));
    TD_ASSERT_CONTAINS(f.layout, "training-simtrace/");
    TD_ASSERT_OK(td_simtrace_read_files(&t, &f, &err));
    long episodes = 0, prev = -1;
    for (int i = 0; i < t.n; i++) {
        const td_simtrace_row *r = &t.rows[i];
        const char *base = strrchr(t.files[r->file], '/') + 1;
        long file_no = strtol(base, NULL, 10);
        TD_ASSERT_MSG(r->episode / E == file_no, "episode %ld in %s", r->episode, base);
        if (i == 0 || r->episode != t.rows[i - 1].episode) {
            TD_ASSERT_MSG(r->episode == prev + 1, "episode %ld after %ld", r->episode, prev);
            TD_ASSERT_EQ_INT(r->steps, 1);
            if (i > 0)
                TD_ASSERT_EQ_INT(t.rows[i - 1].done, 1);
            prev = r->episode;
            episodes++;
        } else {
            TD_ASSERT_EQ_INT(r->steps, t.rows[i - 1].steps + 1);
        }
    }
    *files = f.n;
    td_simtrace_free(&t);
    td_simtrace_files_free(&f);
    return episodes;
}

/* The training simtrace holds every car's episodes, in DeepRacer's per-iteration layout
 * (DIR/training-simtrace/N-iteration.csv), so deepracer-utils reads the model directory as a
 * deepracer-for-cloud one (file N holds E episodes: DeepRacer's iteration N); a resume continues
 * the files. */
/* DIR/metrics/TrainingMetrics.json as DeepRacer writes it: one "training" record per
 * training episode, in the episodes' order (the simtrace files' numbering from 1), each
 * iteration's trials from 1; after each iteration the greedy evaluation's "evaluation"
 * records, with the episode and trial of the last whole iteration's last episode
 * (deepracer-utils files them under that iteration). Returns the number of training
 * records; *evals (may be NULL) gets the evaluation records'. */
static long check_training_metrics(const char *dir, int per_iteration, long *evals)
{
    char path[256];
    json_t *root;
    td_err err;
    TD_FMT(path, "%s/metrics/TrainingMetrics.json", dir);
    TD_ASSERT_OK(td_json_load_file(path, &root, &err));
    TD_ASSERT_NEAR(json_real_value(json_object_get(root, "version")), 2.0, 0);
    TD_ASSERT_STREQ(json_string_value(json_object_get(root, "best_model_metric")), "progress");
    json_t *arr = json_object_get(root, "metrics"), *rec;
    size_t k;
    long training = 0, evaluation = 0;
    json_array_foreach(arr, k, rec)
    {
        long ep = (long)json_integer_value(json_object_get(rec, "episode"));
        long trial = (long)json_integer_value(json_object_get(rec, "trial"));
        const char *phase = json_string_value(json_object_get(rec, "phase"));
        TD_ASSERT(phase != NULL);
        if (!strcmp(phase, "evaluation")) {
            evaluation++;
            /* The last whole iteration's last episode (training runs ahead by the episodes
             * that end with an iteration's last step). */
            TD_ASSERT_EQ_INT(ep, training / per_iteration * per_iteration);
            TD_ASSERT_EQ_INT(trial, ep > 0 ? per_iteration : 0);
        } else {
            TD_ASSERT_STREQ(phase, "training");
            training++;
            TD_ASSERT_EQ_INT(ep, training);
            TD_ASSERT_EQ_INT(trial, (training - 1) % per_iteration + 1);
        }
        long pct = (long)json_integer_value(json_object_get(rec, "completion_percentage"));
        TD_ASSERT(pct >= 0 && pct <= 100);
        const char *st = json_string_value(json_object_get(rec, "episode_status"));
        TD_ASSERT(st && (!strcmp(st, "Off track") || !strcmp(st, "Lap complete") ||
                         !strcmp(st, "Reversed") || !strcmp(st, "Immobilized") ||
                         !strcmp(st, "Crashed") ||
                         (!strcmp(phase, "evaluation") && !strcmp(st, "In progress"))));
        TD_ASSERT_EQ_INT(!strcmp(st, "Lap complete"), pct == 100);
        long t1 = (long)json_integer_value(json_object_get(rec, "metric_time"));
        long t0 = (long)json_integer_value(json_object_get(rec, "start_time"));
        long el = (long)json_integer_value(json_object_get(rec, "elapsed_time_in_milliseconds"));
        TD_ASSERT_EQ_INT(t1 - t0, el);
        TD_ASSERT_GT(el, 0);
        TD_ASSERT(json_is_integer(json_object_get(rec, "reward_score")));
    }
    json_decref(root);
    if (evals)
        *evals = evaluation;
    return training;
}

TD_TEST(training_simtrace_holds_every_car_per_iteration)
{
    char dir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    int files;
    make_model_dir(dir, STATE_META, "{\"num_epochs\": 3, \"num_episodes_between_training\": 10}",
                   NULL);
    train_options(&o, dir, 4);
    o.eval_episodes = 3;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    long eps = check_iteration_files(dir, 10, &files);
    /* Every episode that ended, of all 8 cars, is in the files (car 0 alone has far fewer). */
    TD_ASSERT_EQ_INT(eps, r.last.episodes);
    TD_ASSERT_EQ_INT(files, (eps + 9) / 10); /* every file of 10, and the last one begun */
    /* DeepRacer's per-episode metrics, one record for each episode of the files, and the
     * greedy evaluation's episodes after each of the 4 iterations. */
    long evals = 0;
    TD_ASSERT_EQ_INT(check_training_metrics(dir, 10, &evals), eps);
    TD_ASSERT_EQ_INT(evals, 4L * 3);
    snprintf(path, sizeof(path), "%s/training-simtrace/3-iteration.csv", dir);
    TD_ASSERT(td_path_exists(path));
    /* deepracer-utils reads the metadata and hyperparameters where DRfC keeps them. */
    snprintf(path, sizeof(path), "%s/model/model_metadata.json", dir);
    TD_ASSERT(td_path_exists(path));
    snprintf(path, sizeof(path), "%s/ip/hyperparameters.json", dir);
    TD_ASSERT(td_path_exists(path));
    train_options(&o, dir, 7);
    o.eval_episodes = 3;
    o.resume = 1;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    eps = check_iteration_files(dir, 10, &files);
    TD_ASSERT_EQ_INT(eps, r.last.episodes);
    TD_ASSERT_EQ_INT(files, (eps + 9) / 10);
    TD_ASSERT_EQ_INT(check_training_metrics(dir, 10, &evals), eps); /* the resume continues */
    TD_ASSERT_EQ_INT(evals, (4L + 7) * 3); /* --iterations counts from the resume */
    /* --simtrace-every 2 (or auto beyond 100 iterations) writes every other file only. */
    make_model_dir(dir, STATE_META, "{\"num_epochs\": 3, \"num_episodes_between_training\": 10}",
                   NULL);
    train_options(&o, dir, 4);
    o.simtrace_every = 2;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    snprintf(path, sizeof(path), "%s/training-simtrace/1-iteration.csv", dir);
    TD_ASSERT(!td_path_exists(path));
    snprintf(path, sizeof(path), "%s/training-simtrace/2-iteration.csv", dir);
    TD_ASSERT(td_path_exists(path));
}

typedef struct {
    int n;
    double start[8];
    int reversed[8];
} eval_starts;

static void record_eval_start(void *user, const td_train_progress *p)
{
    eval_starts *e = user;
    if (e->n < 8) {
        e->start[e->n] = p->eval_start_ndist;
        e->reversed[e->n++] = p->eval_reversed;
    }
}

/* The completion percentages of DIR's evaluation records, in order (at most cap). */
static int eval_completions(const char *dir, long *pct, int cap)
{
    char path[256];
    json_t *root, *rec;
    td_err err;
    size_t k;
    int n = 0;
    TD_FMT(path, "%s/metrics/TrainingMetrics.json", dir);
    TD_ASSERT_OK(td_json_load_file(path, &root, &err));
    json_array_foreach(json_object_get(root, "metrics"), k, rec)
    {
        if (n < cap && !strcmp(json_string_value(json_object_get(rec, "phase")), "evaluation"))
            pct[n++] = (long)json_integer_value(json_object_get(rec, "completion_percentage"));
    }
    json_decref(root);
    return n;
}

/* Trains a STATE model 3 iterations of 4 cars with 4 evaluation trials (START_POSITION_OFFSET
 * 0.3; spread: --spread-eval-starts); e gets each iteration's evaluation start, pct the 12
 * evaluation records' completion percentages. */
static void train_eval_starts(int spread, eval_starts *e, long *pct)
{
    char dir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    make_model_dir(dir, STATE_META, "{\"num_epochs\": 1, \"num_episodes_between_training\": 10}",
                   NULL);
    TD_FMT(path, "%s/training_params.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs("START_POSITION_OFFSET: 0.3\n", f);
    fclose(f);
    memset(e, 0, sizeof(*e));
    train_options(&o, dir, 3);
    o.envs = 4;
    o.eval_episodes = 4;
    o.spread_eval_starts = spread;
    o.progress = record_eval_start;
    o.progress_user = e;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(e->n, 3);
    TD_ASSERT_EQ_INT(eval_completions(dir, pct, 64), 3 * 4);
}

/* DeepRacer's evaluation during training (rollout_worker.py, rollout_agent_ctrl.py): worker 0
 * runs MIN_EVAL_TRIALS episodes from its round-robin start_ndist (START_POSITION_OFFSET plus
 * ROUND_ROBIN_ADVANCE_DIST per training episode; evaluation episodes do not advance it), so
 * every trial of an iteration starts at one point and the greedy policy drives them alike.
 * --spread-eval-starts spreads them over the lap from the start line. */
TD_TEST(greedy_evaluation_starts_where_deepracers_does)
{
    eval_starts e;
    long pct[64];
    train_eval_starts(0, &e, pct);
    for (int i = 0; i < e.n; i++) {
        /* A round-robin point: the offset and whole advances of 0.05 (car 0 drove at least
         * one episode before the first evaluation). */
        double k = (e.start[i] - 0.3) / 0.05;
        k -= 20.0 * floor(k / 20.0);
        TD_ASSERT_MSG(fabs(k - floor(k + 0.5)) < 1e-6, "iteration %d starts at %.6f", i + 1,
                      e.start[i]);
        TD_ASSERT_MSG(fabs(e.start[i] - 0.3) > 1e-6, "iteration %d starts at the offset", i + 1);
        TD_ASSERT_EQ_INT(e.reversed[i], 0);
    }
    /* Every trial of an iteration from the same pose: the same drive. */
    for (int i = 0; i < 3 * 4; i++)
        TD_ASSERT_MSG(pct[i] == pct[i / 4 * 4], "trial %d: %ld%% vs %ld%%", i % 4 + 1, pct[i],
                      pct[i / 4 * 4]);

    /* The extension: trials from 0, 1/4, 2/4, 3/4 of the lap go different distances. */
    train_eval_starts(1, &e, pct);
    TD_ASSERT_NEAR(e.start[0], 0.0, 0);
    int differ = 0;
    for (int i = 0; i < 3 * 4; i++)
        differ += pct[i] != pct[i / 4 * 4];
    TD_ASSERT_GT(differ, 0);
}

TD_TEST(sigkill_during_training_leaves_a_loadable_checkpoint)
{
    /* Kill the trainer at several points of an iteration (right after it reports, while it
     * collects, updates and writes the next checkpoint); the checkpoint must always load. */
    for (int trial = 0; trial < 4; trial++) {
        char dir[128], path[256];
        int fds[2];
        make_model_dir(dir, STATE_META, "{\"num_epochs\": 3}", NULL);
        TD_ASSERT_EQ(pipe(fds), 0);
        pid_t pid = fork();
        TD_ASSERT_GE(pid, 0);
        if (pid == 0) {
            td_train_options o;
            td_train_result r;
            close(fds[0]);
            train_options(&o, dir, 1000000);
            o.progress = ping;
            o.progress_user = &fds[1];
            td_train_run(&o, &r, NULL);
            _exit(0);
        }
        close(fds[1]);
        char c;
        /* Wait for 1 + trial iterations; then spin a trial-dependent amount and kill. */
        for (int k = 0; k <= trial; k++)
            TD_ASSERT_EQ_INT(read(fds[0], &c, 1), 1);
        for (volatile long spin = 0; spin < trial * 3000000L; spin++)
            ;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(fds[0]);
        td_policy p;
        td_err err;
        TD_FMT(path, "%s/model/last.tdm", dir);
        TD_ASSERT_OK(td_policy_load(&p, path, 4, &err));
        td_policy_free(&p);
        /* The logs read without an error: files are written whole (issue 10). */
        td_simtrace_files f;
        td_simtrace t;
        td_simtrace_init(&t);
        TD_ASSERT_OK(td_simtrace_find(dir, TD_SIMTRACE_TRAINING, &f, &err));
        TD_ASSERT_OK(td_simtrace_read_files(&t, &f, &err));
        TD_ASSERT_EQ_INT(t.skipped_rows, 0);
        td_simtrace_free(&t);
        td_simtrace_files_free(&f);
        /* A resume continues them and leaves no temporary file of the killed run. */
        td_train_options o;
        td_train_result r;
        train_options(&o, dir, 1000000);
        o.resume = 1;
        TD_ASSERT_OK(td__test_state_iteration(dir, &o.max_iterations));
        o.max_iterations += 1;
        TD_ASSERT_OK(td_train_run(&o, &r, &err));
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "find %s -name '*.tmp.*' | grep -q .", dir);
        TD_ASSERT_MSG(system(cmd) != 0, "a temporary file is left in %s", dir);
    }
}

TD_TEST(reward_exception_stops_cleanly_and_keeps_the_checkpoint)
{
    if (!td_reward_python_available())
        TD_FAIL("trackday was built without Python; this test needs the Python reward host");
    char dir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    /* Raises once the car has driven 40 steps in an episode: after the first iteration. */
    make_model_dir(dir, STATE_META, "{\"num_epochs\": 3}",
                   "def reward_function(params):\n"
                   "    if params['steps'] > 40:\n"
                   "        raise ValueError('too far: %d' % params['steps'])\n"
                   "    return 1.0\n");
    train_options(&o, dir, 200);
    o.reward_spec = NULL;
    o.no_validate = 1; /* the validator's test states would reject it before training */
    o.envs = 4;
    int rc = td_train_run(&o, &r, &err);
    TD_ASSERT_EQ_INT(rc, TD_EREWARD);
    TD_ASSERT_CONTAINS(err.msg, "too far");
    TD_ASSERT_CONTAINS(err.msg, "reward_error.json");
    TD_FMT(path, "%s/logs/reward_error.json", dir);
    TD_ASSERT(td_path_exists(path));
    char *text;
    size_t len;
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    TD_ASSERT_CONTAINS(text, "\"params\"");
    TD_ASSERT_CONTAINS(text, "ValueError");
    td_free(text);
    TD_FMT(path, "%s/model/last.tdm", dir);
    if (td_path_exists(path)) {
        td_policy p;
        TD_ASSERT_OK(td_policy_load(&p, path, 4, &err));
        td_policy_free(&p);
    }
}

TD_TEST(reward_nan_is_an_error_naming_the_value)
{
    char dir[128];
    td_train_options o;
    td_train_result r;
    td_err err;
    if (!td_reward_python_available())
        TD_FAIL("trackday was built without Python; this test needs the Python reward host");
    make_model_dir(dir, STATE_META, "{}",
                   "def reward_function(params):\n    return float('nan')\n");
    train_options(&o, dir, 2);
    o.reward_spec = NULL;
    o.no_validate = 1; /* the validator's range rule would reject it before training */
    TD_ASSERT_EQ_INT(td_train_run(&o, &r, &err), TD_EREWARD);
    TD_ASSERT_CONTAINS(err.msg, "NaN");
}

TD_TEST(sac_runs_and_learns)
{
    char dir[128];
    td_train_options o;
    td_train_result r;
    td_err err;
    seen s = {0};
    make_model_dir(dir,
                   "{\"sensor\": [\"STATE\"], \"neural_network\": \"MLP\", \"action_space_type\": "
                   "\"continuous\", \"training_algorithm\": \"sac\", \"action_space\": "
                   "{\"steering_angle\": {\"low\": -30, \"high\": 30}, \"speed\": {\"low\": 0.8, "
                   "\"high\": 1.5}}}",
                   "{\"num_episodes_between_training\": 1, \"batch_size\": 64}", NULL);
    train_options(&o, dir, 40);
    o.until_laps = 2;
    o.progress = record;
    o.progress_user = &s;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT(isfinite(r.last.value_loss) && isfinite(r.last.policy_loss));
    /* SAC drives the laps well before the iteration limit. */
    TD_ASSERT_EQ_INT(r.stop, TD_TRAIN_STOP_LAPS);
    td_policy p;
    char path[256];
    TD_FMT(path, "%s/model/last.tdm", dir);
    TD_ASSERT_OK(td_policy_load(&p, path, 4, &err));
    TD_ASSERT_EQ_INT(p.sac, 1);
    TD_ASSERT(p.q1 && p.q2);
    /* The critics mix state and action in hidden layers (a linear-in-action Q cannot learn). */
    TD_ASSERT_GT(p.q1->spec.n_trunk, 0);
    td_policy_free(&p);
}

TD_TEST(bad_model_directory_rejected_with_file_and_key)
{
    char dir[128];
    td_train_options o;
    td_train_result r;
    td_err err;
    make_model_dir(dir, STATE_META, "{\"lr\": 5}", NULL);
    train_options(&o, dir, 1);
    TD_ASSERT_EQ_INT(td_train_run(&o, &r, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "hyperparameters.json");
    TD_ASSERT_CONTAINS(err.msg, "\"lr\"");
    make_model_dir(dir,
                   "{\"sensor\": [\"RADAR\"], \"action_space\": [{\"steering_angle\": 0, "
                   "\"speed\": 1}]}",
                   "{}", NULL);
    train_options(&o, dir, 1);
    TD_ASSERT_EQ_INT(td_train_run(&o, &r, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "model_metadata.json");
    TD_ASSERT_CONTAINS(err.msg, "RADAR");
    train_options(&o, dir, 1);
    o.track_path = "/nonexistent/track.npy";
    make_model_dir(dir, STATE_META, "{}", NULL);
    o.dir = dir;
    TD_ASSERT_EQ_INT(td_train_run(&o, &r, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "/nonexistent/track.npy");
}

TD_TEST(every_example_reward_trains_one_iteration)
{
    if (!td_reward_python_available())
        TD_FAIL("trackday was built without Python; this test needs the Python reward host");
    DIR *d = opendir(TD_TEST_SOURCE_DIR "/examples/rewards");
    struct dirent *e;
    int n = 0;
    TD_ASSERT(d != NULL);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char src[512], dir[128];
        char *text;
        size_t tlen;
        td_train_options o;
        td_train_result r;
        td_err err;
        if (len < 4 || strcmp(e->d_name + len - 3, ".py") != 0)
            continue;
        TD_FMT(src, "%s/examples/rewards/%s", TD_TEST_SOURCE_DIR, e->d_name);
        TD_ASSERT_OK(td_file_read(src, &text, &tlen, &err));
        make_model_dir(dir, STATE_META, "{\"num_episodes_between_training\": 5, \"num_epochs\": 3}",
                       text);
        td_free(text);
        train_options(&o, dir, 1);
        o.reward_spec = NULL;
        o.envs = 4;
        int rc = td_train_run(&o, &r, &err);
        TD_ASSERT_MSG(rc == 0, "%s: %s", e->d_name, err.msg);
        TD_ASSERT_EQ_INT(r.last.iteration, 1);
        n++;
    }
    closedir(d);
    TD_ASSERT_MSG(n >= 20, "only %d example reward functions", n);
}
