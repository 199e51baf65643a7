/*
 * test_eval.c - evaluation as DeepRacer's services run it (evaluate.h): separate trials with
 * resets (DeepRacer on AWS's default), lap by lap (--max-resets 0) and continuous; settings
 * from training_params.yaml; penalties as pause steps that the simtrace shows as "pause" rows;
 * and one lap time (DeepRacer's official metric) everywhere: `trackday eval`, `trackday logs`
 * on its simtrace, the pictures, and the summary of `trackday train`.
 */
#include "td_test.h"
#include "trackday/logs.h"
#include "trackday/eval.h"
#include "trackday/json.h"
#include "trackday/simtrace.h"

#ifndef TD_TEST_TRACKDAY_BIN
#define TD_TEST_TRACKDAY_BIN "trackday"
#endif
#define T TD_TEST_TRACKDAY_BIN

/* ---- helpers ---------------------------------------------------------------------------- */

/* Runs a shell command; returns its stdout (td_free) and exit status. */
static char *run(const char *cmd, int *status)
{
    char *out;
    *status = td_test_run(cmd, &out, NULL);
    return out;
}

static void run_ok(const char *cmd)
{
    int st;
    char *out = run(cmd, &st);
    TD_ASSERT_MSG(st == 0, "%s: exit %d\n%s", cmd, st, out);
    td_free(out);
}

/* A command's JSON output. eval's exit status says whether every lap was completed (0) or not
 * (1), as its report's "completed" does. */
static json_t *run_json(const char *cmd)
{
    int st;
    char *out = run(cmd, &st);
    TD_ASSERT_MSG(st == 0 || st == 1, "%s: exit %d\n%s", cmd, st, out);
    json_t *j;
    td_err err;
    TD_ASSERT_MSG(td_json_parse(out, strlen(out), cmd, &j, &err) == 0, "%s", err.msg);
    td_free(out);
    json_t *completed = json_object_get(j, "completed"); /* eval's report (not logs') */
    TD_ASSERT_EQ_INT(st, (!completed || json_is_true(completed) ? 0 : 1));
    return j;
}

/* A model directory on the oval trained until its greedy policy laps; returns train's stdout. */
static char *trained_model(const char *dir)
{
    char cmd[1024];
    int st;
    TD_FMT(cmd,
           "cd '%s' && '" T "' init m --sensor state --track oval >/dev/null && '" T
           "' train m --until-laps 1 --minutes 2 2>/dev/null",
           dir);
    char *out = run(cmd, &st);
    TD_ASSERT_MSG(st == 0, "%s", out);
    TD_ASSERT_CONTAINS(out, "laps completed");
    return out;
}

/* The lap times (s) of the complete episodes of `trackday logs FILE --json`, in order. */
static int logs_lap_times(const char *csv, double *out, int cap)
{
    char cmd[1024];
    TD_FMT(cmd, "'" T "' logs '%s' --json", csv);
    json_t *j = run_json(cmd), *eps = json_object_get(j, "episodes");
    int n = 0;
    for (size_t k = 0; k < json_array_size(eps); k++) {
        json_t *lt = json_object_get(json_array_get(eps, k), "lap_time_s");
        if (json_is_number(lt) && n < cap)
            out[n++] = json_number_value(lt);
    }
    json_decref(j);
    return n;
}

/* ---- one lap time everywhere --------------------------------------------------------------- */

TD_TEST(one_lap_time_in_eval_logs_pictures_and_train)
{
    char dir[256], cmd[1024], path[512];
    TD_FMT(dir, "%s", td_test_tmpdir());
    char *train_out = trained_model(dir);
    const char *modes[3] = {"", "--max-resets 0", "--continuous"};
    double best_default = -1;
    for (int m = 0; m < 3; m++) {
        TD_FMT(cmd, "cd '%s' && '" T "' eval m %s --json", dir, modes[m]);
        json_t *rep = run_json(cmd);
        json_t *laps = json_object_get(rep, "laps");
        int n = (int)json_array_size(laps);
        TD_ASSERT_MSG(n == 3, "mode '%s': %d laps", modes[m], n);
        if (m == 0)
            best_default = json_number_value(json_object_get(rep, "best_lap_s"));
        /* `trackday logs` on the simtrace the evaluation wrote gives the same lap times. */
        double from_logs[8];
        TD_FMT(path, "%s/m/logs/eval-oval-simtrace.csv", dir);
        TD_ASSERT_EQ_INT(logs_lap_times(path, from_logs, 8), n);
        TD_FMT(path, "%s/m/logs/eval-oval.svg", dir);
        char *svg = td_test_slurp(path);
        for (int k = 0; k < n; k++) {
            double lt = json_number_value(json_object_get(json_array_get(laps, k), "time_s"));
            TD_ASSERT_MSG(fabs(from_logs[k] - lt) < 2e-4, "mode '%s' lap %d: logs %.4f, eval %.4f",
                          modes[m], k + 1, from_logs[k], lt);
            /* A whole number of 1/15 s steps, from the reset before the prepare step. */
            TD_ASSERT_NEAR(lt * 15.0, round(lt * 15.0), 1e-6);
            /* The evaluation's picture labels it so. */
            char label[64];
            TD_FMT(label, " %d (%.2f s)", k + 1, lt);
            TD_ASSERT_CONTAINS(svg, label);
        }
        td_free(svg);
        /* And `trackday plot`'s picture of the run (from the simtrace, as `logs` reads it). */
        TD_FMT(cmd, "cd '%s' && '" T "' plot m >/dev/null 2>&1", dir);
        run_ok(cmd);
        TD_FMT(path, "%s/m/plots/laps.svg", dir);
        svg = td_test_slurp(path);
        for (int k = 0; k < n; k++) {
            char label[64];
            TD_FMT(label, ": lap %.2f s", from_logs[k]);
            TD_ASSERT_CONTAINS(svg, label);
        }
        td_free(svg);
        json_decref(rep);
    }
    /* The training summary's lap is best.tdm's, driven as `trackday eval m` drives it. */
    char want[128];
    TD_FMT(want, "best lap %.2f s, as trackday eval drives it", best_default);
    TD_ASSERT_CONTAINS(train_out, want);
    td_free(train_out);
}

/* ---- modes and settings ------------------------------------------------------------------- */

TD_TEST(trials_with_resets_lap_by_lap_and_settings_from_the_yaml)
{
    char dir[256], cmd[1024];
    TD_FMT(dir, "%s", td_test_tmpdir());
    /* An untrained model: it leaves the road (on kidney's turns: the oval's constant curves
     * can suit a one-iteration policy's greedy action on the calibrated car). Spread starts:
     * with DeepRacer's (every car from the start line) one iteration can already be enough
     * for kidney's first lap. */
    TD_FMT(cmd,
           "cd '%s' && '" T "' init m --sensor state --track kidney >/dev/null && '" T
           "' train m --iterations 1 --spread-starts >/dev/null 2>&1",
           dir);
    run_ok(cmd);
    /* --max-resets 0: no reset, every trial ends at its first event. */
    TD_FMT(cmd, "cd '%s' && '" T "' eval m --max-resets 0 --json", dir);
    json_t *none = run_json(cmd);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(none, "resets")), 0);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(none, "max_resets")), 0);
    int events = (int)(json_integer_value(json_object_get(none, "off_tracks")) +
                       json_integer_value(json_object_get(none, "crashes")) +
                       json_integer_value(json_object_get(none, "reverses")) +
                       json_integer_value(json_object_get(none, "immobilized")));
    int done = (int)json_integer_value(json_object_get(none, "laps_completed"));
    TD_ASSERT_MSG(events > 0, "the untrained model drove %d clean laps", done);
    TD_ASSERT_EQ_INT(events + done, 3); /* each trial: a lap or the event that ended it */
    /* The default, DeepRacer on AWS's: separate trials with resets, each event a reset. */
    TD_FMT(cmd, "cd '%s' && '" T "' eval m --json", dir);
    json_t *with = run_json(cmd);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(with, "max_resets")), 10000);
    TD_ASSERT(json_is_false(json_object_get(with, "continuous")));
    TD_ASSERT_GT(json_integer_value(json_object_get(with, "resets")), 0);
    double off = (double)json_integer_value(json_object_get(with, "off_tracks")) +
                 (double)json_integer_value(json_object_get(with, "reverses"));
    double crashes = (double)json_integer_value(json_object_get(with, "crashes"));
    /* Immobilized costs no penalty (DeepRacer never sets one). */
    TD_ASSERT_NEAR(json_number_value(json_object_get(with, "penalty_s")), 2.0 * off + 5.0 * crashes,
                   1e-9);
    json_decref(none);
    json_decref(with);

    /* Evaluation settings from training_params.yaml, DeepRacer's keys; flags still win. */
    TD_FMT(cmd,
           "cd '%s' && printf 'NUMBER_OF_TRIALS: 2\\nIS_CONTINUOUS: true\\n"
           "NUMBER_OF_RESETS: 7\\nOFF_TRACK_PENALTY: 3.5\\nCOLLISION_PENALTY: 1.5\\n' >> "
           "m/training_params.yaml",
           dir);
    run_ok(cmd);
    TD_FMT(cmd, "cd '%s' && '" T "' eval m --json", dir);
    json_t *yaml = run_json(cmd);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(yaml, "laps_requested")), 2);
    TD_ASSERT(json_is_true(json_object_get(yaml, "continuous")));
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(yaml, "max_resets")), 7);
    TD_ASSERT_NEAR(json_number_value(json_object_get(yaml, "off_track_penalty_s")), 3.5, 0);
    TD_ASSERT_NEAR(json_number_value(json_object_get(yaml, "collision_penalty_s")), 1.5, 0);
    TD_ASSERT_LE(json_integer_value(json_object_get(yaml, "resets")), 7);
    json_decref(yaml);
    TD_FMT(cmd, "cd '%s' && '" T "' eval m --laps 1 --max-resets 0 --json", dir);
    yaml = run_json(cmd);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(yaml, "laps_requested")), 1);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(yaml, "max_resets")), 0);
    json_decref(yaml);

    /* A value that cannot work is an error naming the file, line and key. */
    TD_FMT(cmd,
           "cd '%s' && echo 'NUMBER_OF_TRIALS: 0' >> m/training_params.yaml && '" T "' eval m 2>&1",
           dir);
    int st;
    char *out = run(cmd, &st);
    TD_ASSERT_EQ_INT(st, 1);
    TD_ASSERT_CONTAINS(out, "training_params.yaml:");
    TD_ASSERT_CONTAINS(out, "NUMBER_OF_TRIALS is 0");
    td_free(out);
}

/* ---- per-step records: prepare and pause rows ---------------------------------------------- */

/*
 * Drives the built-in driver in an env of the given mode, throwing the car off the track at
 * the given steps of the first episode, writing every step as a simtrace row; checks the rows
 * and returns the first ended episode.
 */
static void drive_with_events(const char *csv, td_sim_mode mode, const int *throw_at, int n_throw,
                              td_episode_info *ended)
{
    td_track t;
    td_err err;
    char path[1024];
    TD_FMT(path, "%s/tracks/oval.json", TD_TEST_SOURCE_DIR);
    TD_ASSERT_OK(td_track_load(&t, path, &err));
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = mode;
    cfg.laps = 2;
    cfg.penalties.max_resets = 10;
    cfg.penalties.off_track_penalty_s = 2.0;
    td_vecenv env;
    td_vecenv_buffers b;
    TD_ASSERT_OK(td_vecenv_init(&env, &cfg, &t, 1, &err));
    TD_ASSERT_OK(td_vecenv_buffers_init(&b, &env, &err));
    td_simtrace_writer *w;
    TD_ASSERT_OK(td_simtrace_writer_open(&w, csv, &err));
    td_driver d;
    td_driver_config dc;
    td_driver_config_default(&dc, TD_DRIVER_CENTERLINE);
    TD_ASSERT_OK(td_driver_init(&d, &dc, td_vecenv_track(&env, 0), &err));
    td_vecenv_reset(&env);
    int pause_rows = 0, prev_pause = 0;
    double last_pause = -1;
    for (int step = 1; step < 5000; step++) {
        for (int k = 0; k < n_throw; k++)
            if (step == throw_at[k]) {
                const td_car_state *s = td_vecenv_car(&env, 0);
                td_vecenv_teleport(&env, 0, s->x + 5.0, s->y + 5.0, s->yaw, 0.0);
            }
        double st, sp;
        td_driver_act(&d, &cfg.car, td_vecenv_car(&env, 0), &b.params[0], &st, &sp);
        b.actions[0] = (float)st;
        b.actions[1] = (float)sp;
        td_vecenv_step(&env);
        td_simtrace_row row;
        td_simtrace_row_from_step(&row, &env, 0);
        TD_ASSERT_OK(td_simtrace_writer_write(w, &row, &err));
        if (step == 1) {
            TD_ASSERT_STREQ(row.episode_status, "prepare");
            TD_ASSERT_EQ_INT(row.steps, 1);
            TD_ASSERT_NEAR(row.reward, 0.0, 0);
        }
        if (!strcmp(row.episode_status, "off_track")) {
            TD_ASSERT_NEAR(row.pause_duration, 2.0, 1e-12);
            last_pause = 2.0;
        } else if (!strcmp(row.episode_status, "pause")) {
            /* DeepRacer's pause rows: reward 0, pause_duration down by a step each row. */
            TD_ASSERT_NEAR(row.reward, 0.0, 0);
            TD_ASSERT_NEAR(row.pause_duration, last_pause - 1.0 / 15.0, 1e-9);
            last_pause = row.pause_duration;
            pause_rows++;
            prev_pause = 1;
        } else {
            if (prev_pause)
                TD_ASSERT_NEAR(last_pause, 0.0, 1e-9); /* counted down to 0, then drives */
            prev_pause = 0;
            TD_ASSERT_NEAR(row.pause_duration, 0.0, 0);
        }
        if (b.dones[0]) {
            *ended = *td_vecenv_last_episode(&env, 0);
            break;
        }
        if (td_vecenv_step_status(&env, 0) == TD_EP_IN_PROGRESS && step > 1) {
            TD_ASSERT_GT(b.rewards[0], 0.0f);
        }
    }
    TD_ASSERT_EQ_INT(pause_rows, 30 * n_throw);
    TD_ASSERT_OK(td_simtrace_writer_close(w, &err));
    td_driver_free(&d);
    td_vecenv_buffers_free(&b);
    td_vecenv_free(&env);
    td_track_free(&t);
}

TD_TEST(penalties_are_pause_rows_and_lap_times_agree_with_logs)
{
    char dir[256], csv[512];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(csv, "%s/run.csv", dir);
    td_err err;

    /* A trial with resets: one off-track, 30 pause rows, then a completed lap. */
    td_episode_info e;
    int at1[1] = {40};
    drive_with_events(csv, TD_MODE_EVAL, at1, 1, &e);
    TD_ASSERT_EQ_INT(e.status, TD_EP_LAP_COMPLETE);
    TD_ASSERT_EQ_INT(e.events.off_tracks, 1);
    TD_ASSERT_NEAR(e.events.penalty_s, 2.0, 0);
    /* The lap time is the episode's steps (prepare and pauses included) at 15 a second. */
    TD_ASSERT_NEAR(e.lap_time_s, e.steps / 15.0, 1e-9);
    td_simtrace t;
    td_logs_report r;
    td_simtrace_init(&t);
    TD_ASSERT_OK(td_simtrace_read(&t, csv, &err));
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 20, &err));
    TD_ASSERT_EQ_INT(r.n_fastest, 1);
    TD_ASSERT_NEAR(r.episodes[r.fastest[0]].lap_time_s, e.lap_time_s, 2e-4);
    td_logs_report_free(&r);
    td_simtrace_free(&t);

    /* Continuous, two laps, an off-track in each: every lap's time as the env counted it. */
    int at2[2] = {40, 150};
    drive_with_events(csv, TD_MODE_CONTINUOUS, at2, 2, &e);
    TD_ASSERT_EQ_INT(e.laps, 2);
    TD_ASSERT_EQ_INT(e.events.off_tracks, 2);
    TD_ASSERT_NEAR(e.lap_times_s[0] + e.lap_times_s[1], e.steps / 15.0, 1e-9);
    td_simtrace_init(&t);
    TD_ASSERT_OK(td_simtrace_read(&t, csv, &err));
    /* One episode per lap, as DeepRacer's continuous evaluations number them. */
    for (int i = 0, lap = 0; i < t.n; i++) {
        t.rows[i].episode = lap;
        lap += t.rows[i].progress >= 100.0 - 1e-9;
    }
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 20, &err));
    TD_ASSERT_EQ_INT(r.n_episodes, 2);
    for (int k = 0; k < 2; k++)
        TD_ASSERT_MSG(fabs(r.episodes[k].lap_time_s - e.lap_times_s[k]) < 2e-4,
                      "lap %d: logs %.4f, env %.4f", k + 1, r.episodes[k].lap_time_s,
                      e.lap_times_s[k]);
    td_logs_report_free(&r);
    td_simtrace_free(&t);
}
