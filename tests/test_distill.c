/*
 * test_distill.c - `train --teacher` (distillation): a camera student trained a few iterations
 * from a state teacher chooses the teacher's action on most frames, far more often than the
 * same student untrained; a teacher with other actions, a missing one or a SAC student are
 * refused with what differs; a distilled model resumes as plain PPO.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "td_test.h"
#include "train_fixture.h"
#include "train/distill.h"
#include "trackday/eval.h"
#include "trackday/rl.h"
#include "trackday/trainer.h"

/* STATE_META and the five actions: train_fixture.h. */
static const char *CAMERA_META =
    "{\"version\": \"5\", \"sensor\": [\"FRONT_FACING_CAMERA\"], "
    "\"neural_network\": \"DEEP_CONVOLUTIONAL_NETWORK_SHALLOW\", " FIVE_ACTIONS "}";
/* The same sensor with one action changed (15 degrees at 1.5 m/s). */
static const char *OTHER_ACTIONS_META =
    "{\"version\": \"5\", \"sensor\": [\"STATE\"], \"neural_network\": \"MLP\", "
    "\"action_space\": ["
    "{\"steering_angle\": -30, \"speed\": 1}, {\"steering_angle\": -15, \"speed\": 1},"
    "{\"steering_angle\": 0, \"speed\": 1}, {\"steering_angle\": 15, \"speed\": 1.5},"
    "{\"steering_angle\": 30, \"speed\": 1}]}";
static const char *CONTINUOUS_META =
    "{\"version\": \"5\", \"sensor\": [\"STATE\"], \"neural_network\": \"MLP\", "
    "\"action_space_type\": \"continuous\", \"action_space\": {\"steering_angle\": {\"low\": -30, "
    "\"high\": 30}, \"speed\": {\"low\": 0.5, \"high\": 1}}}";
static const char *SAC_META =
    "{\"version\": \"5\", \"sensor\": [\"STATE\"], \"neural_network\": \"MLP\", "
    "\"training_algorithm\": \"sac\", \"action_space_type\": \"continuous\", \"action_space\": "
    "{\"steering_angle\": {\"low\": -30, \"high\": 30}, \"speed\": {\"low\": 0.5, \"high\": 1}}}";

/* A student's options: train_options with 4 envs, no simtrace, this teacher. */
static void options(td_train_options *o, const char *dir, int iterations, const char *teacher)
{
    train_options(o, dir, iterations);
    o->envs = 4;
    o->simtrace = 0;
    o->teacher = teacher;
}

/* A state teacher: PPO on the oval for 6 iterations, or (lap) until its greedy policy drives a
 * lap (a few seconds). */
static void train_teacher(char *dir, int lap)
{
    td_train_options o;
    td_train_result r;
    td_err err;
    init_values_model(dir, lap ? 60 : 6, &o);
    o.simtrace = 0;
    o.until_laps = lap;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
}

/* A teacher (train_teacher) in tdir and a student directory sdir with this metadata and
 * hyperparameters, o its options for `iterations` with that teacher. */
static void student_of(char *tdir, int lap, char *sdir, const char *meta, const char *hyper,
                       int iterations, td_train_options *o)
{
    train_teacher(tdir, lap);
    make_model_dir(sdir, meta, hyper, NULL);
    options(o, sdir, iterations, tdir);
}

/* A new student directory sdir with this metadata: one iteration with this teacher is refused
 * with code and a message containing needle (in err). */
static void refused(char *sdir, const char *meta, const char *teacher, int code, const char *needle,
                    td_err *err)
{
    td_train_options o;
    td_train_result r;
    make_model_dir(sdir, meta, "{}", NULL);
    options(&o, sdir, 1, teacher);
    TD_ASSERT_ERR(td_train_run(&o, &r, err), code, err, needle);
}

/*
 * The fraction of frames where each student chooses the teacher's greedy action: 4 cars of an
 * env with both sensors, driven by the teacher from spread starts for 150 steps (10 s,
 * straights and bends), every 5th step compared. *teacher_actions: how many actions the
 * teacher chose on them.
 */
static void agreement(td_policy *teacher, td_policy *const *students, int n_students, double *agree,
                      int *teacher_actions)
{
    td_sim_config cfg;
    td_track track;
    td_vecenv env;
    td_vecenv_buffers buf;
    td_policy_obs obs;
    td_err err;
    int n = 4, same[4] = {0}, total = 0, used[TD_MAX_ACTIONS] = {0};
    TD_ASSERT_OK(td_track_load(&track, OVAL, &err));
    td_sim_config_default(&cfg);
    td_policy_sim_sensors(&students[0]->meta, &cfg);
    cfg.sensors |= TD_SENSOR_STATE;
    cfg.seed = 11;
    cfg.race.spread_starts = 1;
    TD_ASSERT_OK(td_vecenv_init(&env, &cfg, &track, n, &err));
    TD_ASSERT_OK(td_vecenv_buffers_init(&buf, &env, &err));
    td_vecenv_reset(&env);
    for (int step = 0; step < 150; step++) {
        int ts[4], ss[4];
        float acts[8];
        td_policy_obs_from_env(&env, 0, &obs);
        if (step % 5 == 0) {
            for (int k = 0; k < n_students; k++) {
                TD_ASSERT_OK(td_policy_act(students[k], &obs, n, 1, NULL, acts, ss, NULL, NULL));
                td_policy_act(teacher, &obs, n, 1, NULL, buf.actions, ts, NULL, NULL);
                for (int i = 0; i < n; i++)
                    same[k] += ss[i] == ts[i];
            }
            for (int i = 0; i < n; i++)
                used[ts[i]] = 1;
            total += n;
        }
        TD_ASSERT_OK(td_policy_act(teacher, &obs, n, 1, NULL, buf.actions, ts, NULL, NULL));
        td_vecenv_step(&env);
    }
    td_vecenv_buffers_free(&buf);
    td_vecenv_free(&env);
    td_track_free(&track);
    for (int k = 0; k < n_students; k++)
        agree[k] = (double)same[k] / total;
    *teacher_actions = 0;
    for (int a = 0; a < TD_MAX_ACTIONS; a++)
        *teacher_actions += used[a];
}

TD_TEST(camera_student_learns_the_state_teachers_choices)
{
    char tdir[128], sdir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    student_of(tdir, 1, sdir, CAMERA_META,
               "{\"num_episodes_between_training\": 4, \"num_epochs\": 4, \"batch_size\": 32}", 3,
               &o);
    o.eval_episodes = 1;
    /* The student drives every step (pure DAgger): its episodes stay short, the test quick. */
    o.teacher_beta = 0;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(r.last.iteration, 3);
    /* The metrics line says how the imitation goes. */
    TD_ASSERT(isfinite(r.last.imitation_loss) && r.last.imitation_loss > 0);
    TD_ASSERT(r.last.teacher_agreement >= 0 && r.last.teacher_agreement <= 1);
    TD_ASSERT_EQ(r.last.teacher_beta, 0);
    TD_FMT(path, "%s/metrics/training.jsonl", sdir);
    char *text = td_test_slurp(path);
    TD_ASSERT_CONTAINS(text, "\"imitation_loss\":");
    TD_ASSERT_CONTAINS(text, "\"teacher_agreement\":");
    TD_ASSERT_NOT_CONTAINS(text, "\"clip_frac\":");
    td_free(text);

    /* On the teacher's own states the student now chooses as it does, far more often than
     * the same network untrained (the trainer's initial weights: a fresh run of 0 updates is
     * not possible, so a fresh network from another seed stands for it). */
    td_policy teacher, student, untrained;
    td_rng rng;
    TD_FMT(path, "%s/model/best.tdm", tdir);
    TD_ASSERT_OK(td_policy_load(&teacher, path, 8, &err));
    TD_FMT(path, "%s/model/last.tdm", sdir);
    TD_ASSERT_OK(td_policy_load(&student, path, 8, &err));
    td_rng_seed(&rng, 7, 1);
    TD_ASSERT_OK(td_policy_init(&untrained, &student.meta, 8, &rng, &err));
    int used;
    double agree[2];
    td_policy *students[2] = {&student, &untrained};
    agreement(&teacher, students, 2, agree, &used);
    /* A teacher that always chose one action would make this easy. */
    TD_ASSERT_MSG(used >= 2, "the teacher chose %d action(s)", used);
    TD_ASSERT_MSG(agree[0] >= 0.6 && agree[0] >= agree[1] + 0.4,
                  "agreement %.3f trained, %.3f untrained (the teacher chose %d actions)", agree[0],
                  agree[1], used);
    td_policy_free(&teacher);
    td_policy_free(&student);
    td_policy_free(&untrained);
}

TD_TEST(teacher_with_other_actions_or_missing_is_refused)
{
    char tdir[128], sdir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    train_teacher(tdir, 0);

    /* One action differs: refused, naming it, before anything is written. */
    refused(sdir, OTHER_ACTIONS_META, tdir, TD_EINVAL, "action space is not the student's", &err);
    TD_ASSERT_CONTAINS(err.msg, "action 3 is steering 15, speed 1 for the teacher and steering 15, "
                                "speed 1.5 for the student");
    TD_FMT(path, "%s/model/last.tdm", sdir);
    TD_ASSERT(!td_path_exists(path));

    /* Continuous against discrete. */
    refused(sdir, CONTINUOUS_META, tdir, TD_EINVAL,
            "the teacher's is discrete, the student's continuous", &err);

    /* A SAC student. */
    refused(sdir, SAC_META, tdir, TD_EUNSUPPORTED, "is a SAC model", &err);

    /* No such teacher; a teacher directory never trained. */
    TD_FMT(path, "%s/nothing-here", tdir);
    refused(sdir, STATE_META, path, TD_ENOENT, "no such model directory or .tdm", &err);
    char empty[128];
    make_model_dir(empty, STATE_META, "{}", NULL);
    refused(sdir, STATE_META, empty, TD_ENOENT, "holds no trained model", &err);

    /* A .tdm file is a teacher too (the same sensor is fine): this one trains. */
    TD_FMT(path, "%s/model/last.tdm", tdir);
    options(&o, sdir, 1, path);
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT(isfinite(r.last.teacher_agreement));
}

TD_TEST(distilled_model_resumes_as_ppo)
{
    char tdir[128], sdir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    student_of(tdir, 0, sdir, STATE_META,
               "{\"num_episodes_between_training\": 6, \"num_epochs\": 3}", 4, &o);
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT(isfinite(r.last.imitation_loss));
    /* DAgger's default beta: the teacher drove some of iteration 4's steps (0.5 falling to 0
     * at iteration 5: 0.2 of them). */
    TD_ASSERT_MSG(r.last.teacher_beta > 0.05 && r.last.teacher_beta < 0.4, "beta %g",
                  r.last.teacher_beta);
    /* A state student of a state teacher imitates it closely within a few iterations. */
    TD_ASSERT_MSG(r.last.teacher_agreement >= 0.75, "agreement %.3f", r.last.teacher_agreement);

    td_policy before, after;
    TD_FMT(path, "%s/model/last.tdm", sdir);
    TD_ASSERT_OK(td_policy_load(&before, path, 8, &err));
    options(&o, sdir, 2, NULL);
    o.resume = 1;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(r.last.iteration, 6);
    /* PPO: its surrogate loss and clipping are back, the teacher's numbers gone. */
    TD_ASSERT(isfinite(r.last.policy_loss) && isfinite(r.last.clip_frac));
    TD_ASSERT(isnan(r.last.imitation_loss) && isnan(r.last.teacher_agreement));
    TD_ASSERT_OK(td_policy_load(&after, path, 8, &err));
    TD_ASSERT_NE(memcmp(before.pi->params, after.pi->params, before.pi->n_params * 4), 0);
    td_policy_free(&before);
    td_policy_free(&after);
    char *text;
    size_t len;
    TD_FMT(path, "%s/metrics/training.jsonl", sdir);
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    const char *last = text;
    for (const char *q = strchr(text, '\n'); q && q[1]; q = strchr(q + 1, '\n'))
        last = q + 1;
    TD_ASSERT_CONTAINS(last, "\"policy_loss\":");
    TD_ASSERT_NOT_CONTAINS(last, "teacher_agreement");
    td_free(text);
}

/* --teacher-replay: the policy tower's minibatches come from every frame driven so far (up to
 * N), the student still learns the teacher's choices; the option needs a teacher. */
TD_TEST(replay_pools_earlier_iterations_frames)
{
    char tdir[128], sdir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    train_teacher(tdir, 0);
    const char *hyper = "{\"num_episodes_between_training\": 6, \"num_epochs\": 3}";

    /* Room for every frame: after 4 iterations the pool is all of them, more than the last
     * iteration drove. */
    make_model_dir(sdir, STATE_META, hyper, NULL);
    options(&o, sdir, 4, tdir);
    o.teacher_replay = TD_TRAIN_MAX_TEACHER_REPLAY;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(r.last.iteration, 4);
    TD_ASSERT_MSG(r.last.teacher_replay == (double)r.last.steps, "pool %g, frames driven %ld",
                  r.last.teacher_replay, (long)r.last.steps);
    TD_ASSERT_MSG(r.last.teacher_agreement >= 0.75, "agreement %.3f", r.last.teacher_agreement);
    TD_FMT(path, "%s/metrics/training.jsonl", sdir);
    char *text;
    size_t len;
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    /* Iteration 1's pool is its own frames; iteration 2's adds them to its own. */
    long steps[2] = {0, 0};
    double pool[2] = {0, 0};
    const char *q = text;
    for (int i = 0; i < 2; i++) {
        const char *s = strstr(q, "\"steps\":"), *t = strstr(q, "\"teacher_replay\":");
        TD_ASSERT(s && t);
        steps[i] = strtol(s + 8, NULL, 10);
        pool[i] = strtod(t + 17, NULL);
        q = strchr(q, '\n') + 1;
    }
    TD_ASSERT_EQ(pool[0], (double)steps[0]);
    TD_ASSERT_EQ(pool[1], (double)steps[1]);
    TD_ASSERT_GT(steps[1], steps[0]);
    td_free(text);

    /* A small pool keeps the last N frames only. */
    make_model_dir(sdir, STATE_META, hyper, NULL);
    options(&o, sdir, 2, tdir);
    o.teacher_replay = 50;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ(r.last.teacher_replay, 50.0);

    /* Without it: no pool, no key. */
    make_model_dir(sdir, STATE_META, hyper, NULL);
    options(&o, sdir, 1, tdir);
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT(isnan(r.last.teacher_replay));
    TD_FMT(path, "%s/metrics/training.jsonl", sdir);
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    TD_ASSERT_NOT_CONTAINS(text, "teacher_replay");
    td_free(text);

    /* Without a teacher there are no targets to keep. */
    make_model_dir(sdir, STATE_META, hyper, NULL);
    options(&o, sdir, 1, NULL);
    o.teacher_replay = 100;
    TD_ASSERT_ERR(td_train_run(&o, &r, &err), TD_EINVAL, &err, "it needs --teacher");
    TD_FMT(path, "%s/model/last.tdm", sdir);
    TD_ASSERT(!td_path_exists(path));
}

/* A number after "key": in a metrics line (NAN when the key is absent from the line). */
static double line_number(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *end = strchr(line, '\n'), *k = strstr(line, pat);
    if (!k || (end && k > end))
        return NAN;
    return strtod(k + strlen(pat), NULL);
}

/* --best-laps K: best.tdm is the checkpoint whose K-lap continuous drive from the start line
 * went furthest, then fastest; the drive is `trackday eval DIR --laps K --continuous`'s. */
TD_TEST(best_laps_chooses_best_tdm_by_its_drive)
{
    char tdir[128], sdir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    train_teacher(tdir, 1);
    make_model_dir(sdir, STATE_META, "{\"num_episodes_between_training\": 6, \"num_epochs\": 3}",
                   NULL);
    options(&o, sdir, 6, tdir);
    o.best_laps = 2;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT_EQ_INT(r.last.iteration, 6);

    /* Every iteration drove; best.tdm follows the rule over the drives. */
    char *text;
    size_t len;
    TD_FMT(path, "%s/metrics/training.jsonl", sdir);
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    double best_p = -1, best_s = -1, lapped = 0;
    int best_it = 0, n = 0;
    for (const char *q = text; q && *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : NULL) {
        double p = line_number(q, "laps_drive_progress"), s = line_number(q, "laps_drive_lap_s");
        TD_ASSERT_MSG(isfinite(p) && p >= 0 && p <= 100, "line %d: progress %g", n + 1, p);
        TD_ASSERT(isfinite(s));
        TD_ASSERT((s > 0) == (p >= 50)); /* a lap of 2 completed: an average */
        int best = strstr(q, "\"best\":true") && strstr(q, "\"best\":true") < strchr(q, '\n');
        int expect = n == 0 || p > best_p || (p == best_p && s > 0 && (best_s <= 0 || s < best_s));
        TD_ASSERT_MSG(best == expect, "iteration %d: best %d, the rule says %d", n + 1, best,
                      expect);
        if (expect) {
            best_p = p;
            best_s = s;
            best_it = n + 1;
        }
        lapped += p >= 100;
        n++;
    }
    td_free(text);
    TD_ASSERT_EQ_INT(n, 6);
    TD_ASSERT_EQ_INT(r.best_iteration, best_it);
    /* The student of a lapping teacher laps: the rule had laps to compare. */
    TD_ASSERT_MSG(lapped >= 1 && best_p == 100, "%g drives of 6 lapped, best %g%%", lapped, best_p);

    /* best.tdm driven as `trackday eval DIR --laps 2 --continuous` gives the logged average. */
    td_policy best;
    td_track track;
    td_eval_options eo;
    td_eval_result er;
    TD_FMT(path, "%s/model/best.tdm", sdir);
    TD_ASSERT_OK(td_policy_load(&best, path, 1, &err));
    TD_ASSERT_OK(td_track_load(&track, OVAL, &err));
    td_eval_options_default(&eo);
    eo.laps = 2;
    eo.continuous = 1;
    TD_ASSERT_OK(td_evaluate(&best, &track, &eo, &er, &err));
    TD_ASSERT_EQ_INT(er.laps_completed, 2);
    TD_ASSERT_NEAR(er.average_lap_s, best_s, 1e-5); /* the metrics line rounds */
    td_policy_free(&best);
    td_track_free(&track);

    /* Without it: DeepRacer's rule, no drive keys; K out of range: refused. */
    make_model_dir(sdir, STATE_META, "{}", NULL);
    options(&o, sdir, 1, tdir);
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    TD_ASSERT(isnan(r.last.laps_drive_progress));
    TD_FMT(path, "%s/metrics/training.jsonl", sdir);
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    TD_ASSERT_NOT_CONTAINS(text, "laps_drive");
    td_free(text);
    make_model_dir(sdir, STATE_META, "{}", NULL);
    options(&o, sdir, 1, tdir);
    o.best_laps = TD_MAX_LAPS + 1;
    TD_ASSERT_ERR(td_train_run(&o, &r, &err), TD_EINVAL, &err, "--best-laps");
}

/* --best-laps K: a new best.tdm that lapped in its drive has its lap time reported (as
 * `trackday eval DIR` drives it), even when the iteration's evaluation trials, which start where
 * car 0's next episode starts, completed no lap. */
TD_TEST(best_laps_reports_the_lap_time_of_a_drive_that_lapped)
{
    char dir[128], path[256];
    td_train_options o;
    td_train_result r;
    td_err err;
    init_values_model(dir, 4, &o);
    o.simtrace = 0;
    o.best_laps = 2;
    TD_ASSERT_OK(td_train_run(&o, &r, &err));
    char *text;
    size_t len;
    TD_FMT(path, "%s/metrics/training.jsonl", dir);
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    int cases = 0, n = 0;
    for (const char *q = text; q && *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : NULL, n++) {
        const char *best = strstr(q, "\"best\":true");
        if (!best || best > strchr(q, '\n') || !(line_number(q, "laps_drive_lap_s") > 0) ||
            line_number(q, "eval_completion") != 0)
            continue;
        cases++;
        double lap = line_number(q, "best_lap_time_s");
        TD_ASSERT_MSG(lap > 0, "iteration %d: best.tdm drove laps, lap time %g", n + 1, lap);
    }
    td_free(text);
    /* The case happens in this run (seed 7): otherwise the test would test nothing. */
    TD_ASSERT_MSG(cases >= 1, "no new best lapped only in its drive (%d iterations)", n);
}

/* The targets at a temperature and the loss's gradient, on a teacher's real outputs. */
TD_TEST(targets_and_loss_gradient)
{
    td_model_metadata m;
    td_policy teacher, student;
    td_rng rng;
    td_err err;
    char dir[128];
    make_model_dir(dir, STATE_META, "{}", NULL);
    td_model_dir md;
    TD_ASSERT_OK(td_model_dir_load(&md, dir, &err));
    m = md.metadata;
    td_rng_seed(&rng, 3, 1);
    TD_ASSERT_OK(td_policy_init(&teacher, &m, 4, &rng, &err));
    TD_ASSERT_OK(td_policy_init(&student, &m, 4, &rng, &err));
    float state[4 * TD_STATE_DIM];
    for (int i = 0; i < 4 * TD_STATE_DIM; i++)
        state[i] = (float)td_rng_normal(&rng);
    td_policy_obs obs = {state, NULL, NULL};
    td_nn_input in;
    td_policy_input(&obs, &in);
    TD_ASSERT_OK(td_nn_net_forward(teacher.pi, &in, 4));
    int V = teacher.n_out;
    float t1[4 * 5], t0[4 * 5], th[4 * 5];
    td__distill_targets(&teacher, 1.0, 4, t1);
    td__distill_targets(&teacher, 0.0, 4, t0);
    td__distill_targets(&teacher, 0.5, 4, th);
    for (int b = 0; b < 4; b++) {
        int a = td_rl_argmax(teacher.pi->out + b * V, V);
        double s1 = 0, sh = 0;
        for (int k = 0; k < V; k++) {
            s1 += t1[b * V + k];
            sh += th[b * V + k];
            TD_ASSERT_EQ(t0[b * V + k], k == a ? 1.0f : 0.0f);
            /* Temperature 1 is the teacher's softmax. */
            TD_ASSERT_NEAR(logf(t1[b * V + k]),
                           td_rl_categorical_logp(teacher.pi->out + b * V, V, k), 1e-5);
        }
        TD_ASSERT_NEAR(s1, 1.0, 1e-5);
        TD_ASSERT_NEAR(sh, 1.0, 1e-5);
        /* A lower temperature sharpens toward the greedy action. */
        TD_ASSERT_GT(th[b * V + a], t1[b * V + a]);
    }

    /* The cross-entropy's gradient is its finite difference. */
    TD_ASSERT_OK(td_nn_net_forward(student.pi, &in, 4));
    float z[4 * 5], dz[4 * 5], scratch[4 * 5];
    double ent;
    memcpy(z, student.pi->out, sizeof(z));
    float loss = td__distill_loss(&student, z, t1, 4, dz, &ent);
    TD_ASSERT_GT(loss, 0);
    TD_ASSERT_GT(ent, 0);
    for (int i = 0; i < 4 * V; i++) {
        float save = z[i], h = 1e-2f;
        z[i] = save + h;
        float up = td__distill_loss(&student, z, t1, 4, scratch, &ent);
        z[i] = save - h;
        float down = td__distill_loss(&student, z, t1, 4, scratch, &ent);
        z[i] = save;
        TD_ASSERT_NEAR(dz[i], (up - down) / (2 * h), 2e-3);
    }
    td_policy_free(&teacher);
    td_policy_free(&student);
}
