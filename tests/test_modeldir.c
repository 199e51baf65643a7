/*
 * test_modeldir.c - model_metadata.json, hyperparameters.json, training_params.yaml and
 * DRfC's run.env read as DeepRacer reads them: its defaults, files in the shapes DeepRacer's
 * tools write (tests/data/deepracer-config/, written for these tests), values DeepRacer
 * accepts outside its console's ranges as warnings, values that cannot work rejected with a
 * message naming the file and key, and one policy for unknown keys.
 */
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "td_test.h"
#include "trackday/modeldir.h"

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    TD_FMT(path, "%s/%s", td_test_tmpdir(), name);
    td_test_write(path, text);
    return path;
}

TD_TEST(metadata_defaults)
{
    td_model_metadata m;
    td_model_metadata_default(&m);
    TD_ASSERT_EQ_INT(m.action_space_type, TD_ACTIONS_DISCRETE);
    TD_ASSERT_EQ_INT(m.n_actions, 10);
    TD_ASSERT_NEAR(m.actions[0].steering_deg, -30, 0);
    TD_ASSERT_NEAR(m.actions[9].speed_mps, 0.8, 0);
    TD_ASSERT_EQ_INT(m.algorithm, TD_ALGO_CLIPPED_PPO);
    TD_ASSERT_EQ_INT(m.camera, TD_CAMERA_FRONT);
    TD_ASSERT_EQ_INT(m.network, TD_NET_SHALLOW);
    TD_ASSERT_EQ_INT(m.version, 5);
}

/* DeepRacer: ValueError("no action space defined"). */
TD_TEST(metadata_without_action_space_is_an_error)
{
    td_model_metadata m;
    td_err err;
    int rc = td_model_metadata_load(&m, write_file("model_metadata.json", "{}"), NULL, &err);
    TD_ASSERT_EQ_INT(rc, TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "model_metadata.json: no \"action_space\"");
    rc = td_model_metadata_load(
        &m,
        write_file("model_metadata.json",
                   "{\"sensor\": [\"FRONT_FACING_CAMERA\"], \"version\": \"5\"}"),
        NULL, &err);
    TD_ASSERT_EQ_INT(rc, TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "no action space defined");
}

TD_TEST(metadata_deepracer_discrete_file)
{
    td_model_metadata m;
    td_err err;
    const char *text = "{\n"
                       "  \"action_space\": [\n"
                       "    {\"steering_angle\": -30, \"speed\": 0.6, \"index\": 0},\n"
                       "    {\"steering_angle\": 0, \"speed\": 1.2, \"index\": 1},\n"
                       "    {\"steering_angle\": 30, \"speed\": 0.6, \"index\": 2}\n"
                       "  ],\n"
                       "  \"sensor\": [\"STEREO_CAMERAS\", \"LIDAR\"],\n"
                       "  \"neural_network\": \"DEEP_CONVOLUTIONAL_NETWORK\",\n"
                       "  \"training_algorithm\": \"clipped_ppo\",\n"
                       "  \"action_space_type\": \"discrete\",\n"
                       "  \"version\": \"4\"\n"
                       "}\n";
    TD_ASSERT_OK(td_model_metadata_load(&m, write_file("model_metadata.json", text), NULL, &err));
    TD_ASSERT_EQ_INT(m.n_actions, 3);
    TD_ASSERT_NEAR(m.actions[1].speed_mps, 1.2, 0);
    TD_ASSERT_NEAR(m.actions[2].steering_deg, 30, 0);
    TD_ASSERT_EQ_INT(m.camera, TD_CAMERA_STEREO);
    TD_ASSERT_EQ_INT(m.lidar, TD_LIDAR_CLIPPED);
    TD_ASSERT_EQ_INT(m.network, TD_NET_STANDARD);
    TD_ASSERT_EQ_INT(m.version, 4);
}

TD_TEST(metadata_continuous_sac_and_state)
{
    td_model_metadata m;
    td_err err;
    const char *text = "{\"action_space\": {\"steering_angle\": {\"low\": -20, \"high\": 25},"
                       " \"speed\": {\"low\": 0.5, \"high\": 3}},"
                       " \"action_space_type\": \"continuous\", \"training_algorithm\": \"sac\","
                       " \"sensor\": [\"STATE\"]}";
    TD_ASSERT_OK(td_model_metadata_load(&m, write_file("model_metadata.json", text), NULL, &err));
    TD_ASSERT_EQ_INT(m.action_space_type, TD_ACTIONS_CONTINUOUS);
    TD_ASSERT_EQ_INT(m.algorithm, TD_ALGO_SAC);
    TD_ASSERT_NEAR(m.steering_low, -20, 0);
    TD_ASSERT_NEAR(m.speed_high, 3, 0);
    TD_ASSERT_EQ_INT(m.state_sensor, 1);
    TD_ASSERT_EQ_INT(m.camera, TD_CAMERA_NONE);
    TD_ASSERT_EQ_INT(m.network, TD_NET_MLP);
}

#define AS2                                                                                        \
    "\"action_space\": [{\"steering_angle\": 0, \"speed\": 1}, {\"steering_angle\": 15, "          \
    "\"speed\": 1}]"

/* Each file DeepRacer cannot run must be rejected with a message containing the expected text. */
TD_TEST(metadata_bad_values_rejected)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"{" AS2 ", \"action_space_type\": \"hybrid\"}", "\"action_space_type\" is \"hybrid\""},
        {"{" AS2 ", \"training_algorithm\": \"dqn\"}", "\"training_algorithm\" is \"dqn\""},
        {"{" AS2 ", \"training_algorithm\": \"sac\"}",
         "needs \"action_space_type\": \"continuous\""},
        {"{\"action_space\": [{\"steering_angle\": 0}, {\"steering_angle\": 0, \"speed\": 1}]}",
         "needs \"steering_angle\" and \"speed\""},
        {"{\"action_space\": [{\"steering_angle\": \"left\", \"speed\": 1}]}",
         "action_space[0]: \"steering_angle\" must be a number"},
        {"{\"action_space\": []}", "\"action_space\" is empty"},
        {"{\"action_space_type\": \"continuous\", \"action_space\": {\"steering_angle\": "
         "{\"low\": 10, \"high\": -10}, \"speed\": {\"low\": 1, \"high\": 2}}}",
         "low (10) must be less than high (-10)"},
        {"{\"action_space_type\": \"continuous\", " AS2 "}", "must be {\"steering_angle\""},
        {"{" AS2 ", \"sensor\": [\"SONAR\"]}", "unknown sensor \"SONAR\""},
        {"{" AS2 ", \"sensor\": [\"front_facing_camera\"]}",
         "unknown sensor \"front_facing_camera\""},
        {"{" AS2 ", \"sensor\": [\"FRONT_FACING_CAMERA\", \"STEREO_CAMERAS\"]}",
         "at most one camera"},
        {"{" AS2 ", \"sensor\": [\"LIDAR\"]}", "needs a camera"},
        {"{" AS2 ", \"neural_network\": \"RESNET\"}", "\"neural_network\" is \"RESNET\""},
        {"{" AS2 ", \"version\": \"five\"}", "\"version\" is \"five\""},
        /* DeepRacer: a version 2+ file must list its sensors (KeyError otherwise). */
        {"{" AS2 ", \"version\": \"4\"}", "\"version\" 4 needs a \"sensor\" list"},
        {"{" AS2 ", \"sensor\": [\"FRONT_FACING_CAMERA\", \"DISCRETIZED_SECTOR_LIDAR\"], "
         "\"lidar_config\": {\"num_sectors\": 7}}",
         "\"num_sectors\" is 7, must divide 64"},
        {"{\"action_space\": ", "invalid JSON"},
        {"\xef\xbb\xbf{" AS2 "}", "starts with a UTF-8 byte order mark"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        td_model_metadata m;
        td_err err;
        const char *path = write_file("model_metadata.json", cases[i].json);
        int rc = td_model_metadata_load(&m, path, NULL, &err);
        TD_ASSERT_MSG(rc < 0, "case %zu accepted: %s", i, cases[i].json);
        TD_ASSERT_CONTAINS(err.msg, cases[i].expect);
        TD_ASSERT_CONTAINS(err.msg, "model_metadata.json");
    }
}

/* What DeepRacer's parser accepts, trackday accepts and reads the same way. */
TD_TEST(metadata_read_as_deepracer_reads_it)
{
    td_model_metadata m;
    td_config_warnings w;
    td_err err;
    /* Enums lower-cased and stripped; numbers as strings; a single action. */
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_model_metadata_load(
        &m,
        write_file("model_metadata.json",
                   "{\"action_space\": [{\"steering_angle\": \"-12.5\", \"speed\": \" 1.5 \"}],"
                   " \"action_space_type\": \" Discrete \", \"training_algorithm\": "
                   "\"Clipped_PPO\", \"sensor\": [\"FRONT_FACING_CAMERA\"], \"version\": 5}"),
        &w, &err));
    TD_ASSERT_EQ_INT(m.action_space_type, TD_ACTIONS_DISCRETE);
    TD_ASSERT_EQ_INT(m.algorithm, TD_ALGO_CLIPPED_PPO);
    TD_ASSERT_EQ_INT(m.n_actions, 1);
    TD_ASSERT_NEAR(m.actions[0].steering_deg, -12.5, 0);
    TD_ASSERT_NEAR(m.actions[0].speed_mps, 1.5, 0);
    TD_ASSERT_EQ_INT(w.n, 0);
    TD_ASSERT_OK(td_model_metadata_load(
        &m,
        write_file("model_metadata.json",
                   "{\"action_space\": {\"steering_angle\": {\"low\": \"-20\", \"high\": 20},"
                   " \"speed\": {\"low\": 0.5, \"high\": \"2\"}}, \"action_space_type\": "
                   "\"CONTINUOUS\", \"training_algorithm\": \"SAC\", \"sensor\": "
                   "[\"FRONT_FACING_CAMERA\"], \"version\": \"5\"}"),
        &w, &err));
    TD_ASSERT_EQ_INT(m.action_space_type, TD_ACTIONS_CONTINUOUS);
    TD_ASSERT_EQ_INT(m.algorithm, TD_ALGO_SAC);
    TD_ASSERT_NEAR(m.steering_low, -20, 0);
    TD_ASSERT_NEAR(m.speed_high, 2, 0);
    /* Actions beyond the console's limits run, clipped, with a warning saying so. */
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_model_metadata_load(
        &m,
        write_file("model_metadata.json",
                   "{\"action_space\": [{\"steering_angle\": 45, \"speed\": 1}, "
                   "{\"steering_angle\": 0, \"speed\": 5}], \"sensor\": "
                   "[\"FRONT_FACING_CAMERA\"], \"version\": \"5\"}"),
        &w, &err));
    TD_ASSERT_NEAR(m.actions[0].steering_deg, 45, 0);
    TD_ASSERT_NEAR(m.actions[1].speed_mps, 5, 0);
    TD_ASSERT_EQ_INT(w.n, 2);
    TD_ASSERT_CONTAINS(w.msg[0], "\"steering_angle\" 45 is outside the console's range [-30, 30]");
    TD_ASSERT_CONTAINS(w.msg[0], "steer at most 30 degrees");
    TD_ASSERT_CONTAINS(w.msg[1], "\"speed\" 5 is outside the console's range [0.1, 4]");
}

/* No "version": version 2 with a sensor list, else version 1 with DeepRacer's "observation"
 * camera; versions below 5 are kept for the physics they select. */
TD_TEST(metadata_versions_and_observation_sensor)
{
    td_model_metadata m;
    td_err err;
    TD_ASSERT_OK(
        td_model_metadata_load(&m, write_file("model_metadata.json", "{" AS2 "}"), NULL, &err));
    TD_ASSERT_EQ_INT(m.version, 1);
    TD_ASSERT_EQ_INT(m.camera, TD_CAMERA_FRONT);
    TD_ASSERT_OK(td_model_metadata_load(
        &m, write_file("model_metadata.json", "{" AS2 ", \"sensor\": [\"STEREO_CAMERAS\"]}"), NULL,
        &err));
    TD_ASSERT_EQ_INT(m.version, 2);
    TD_ASSERT_EQ_INT(m.camera, TD_CAMERA_STEREO);
    TD_ASSERT_OK(td_model_metadata_load(&m,
                                        write_file("model_metadata.json",
                                                   "{" AS2 ", \"sensor\": [\"observation\"], "
                                                   "\"version\": \"3.0\"}"),
                                        NULL, &err));
    TD_ASSERT_EQ_INT(m.version, 3);
    TD_ASSERT_EQ_INT(m.camera, TD_CAMERA_FRONT);
    TD_ASSERT_OK(td_model_metadata_load(
        &m,
        write_file("model_metadata.json",
                   "{" AS2 ", \"sensor\": [\"FRONT_FACING_CAMERA\", \"DISCRETIZED_SECTOR_LIDAR\"],"
                   " \"version\": 4, \"lidar_config\": {\"num_sectors\": \"4\", "
                   "\"num_values_per_sector\": \"2\", \"clipping_dist\": \"1.5\"}}"),
        NULL, &err));
    TD_ASSERT_EQ_INT(m.version, 4);
    TD_ASSERT_EQ_INT(m.lidar_num_sectors, 4);
    TD_ASSERT_EQ_INT(m.lidar_values_per_sector, 2);
    TD_ASSERT_NEAR(m.lidar_clipping_dist, 1.5, 0);
}

/* Every shape of model_metadata.json DeepRacer's tools write (fixtures written for these tests
 * in those shapes) loads with the values DeepRacer's parser gives. */
TD_TEST(metadata_real_file_shapes)
{
    static const struct {
        const char *file;
        int version, n_actions, continuous, sac;
        td_camera_sensor camera;
        td_lidar_sensor lidar;
    } cases[] = {
        {"drfc-discrete-v5.json", 5, 3, 0, 0, TD_CAMERA_FRONT, TD_LIDAR_NONE},
        {"drfc-continuous-v5.json", 5, 0, 1, 0, TD_CAMERA_FRONT, TD_LIDAR_NONE},
        {"drfc-sac-v4.json", 4, 0, 1, 1, TD_CAMERA_FRONT, TD_LIDAR_NONE},
        {"utils-indexed-v4.json", 4, 6, 0, 0, TD_CAMERA_FRONT, TD_LIDAR_NONE},
        {"utils-v3-no-algorithm.json", 3, 3, 0, 0, TD_CAMERA_FRONT, TD_LIDAR_NONE},
        {"simapp-sample-no-version.json", 2, 2, 0, 0, TD_CAMERA_FRONT, TD_LIDAR_NONE},
        {"console-2019-v1.json", 1, 3, 0, 0, TD_CAMERA_FRONT, TD_LIDAR_NONE},
        {"console-lidar-v2.json", 2, 2, 0, 0, TD_CAMERA_STEREO, TD_LIDAR_SECTOR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512];
        td_model_metadata m;
        td_config_warnings w;
        td_err err;
        snprintf(path, sizeof(path), "%s/tests/data/deepracer-config/%s", TD_TEST_SOURCE_DIR,
                 cases[i].file);
        td_config_warnings_clear(&w);
        int rc = td_model_metadata_load(&m, path, &w, &err);
        TD_ASSERT_MSG(rc == 0, "%s: %s", cases[i].file, err.msg);
        TD_ASSERT_MSG(m.version == cases[i].version, "%s: version %d", cases[i].file, m.version);
        TD_ASSERT_EQ_INT(m.action_space_type == TD_ACTIONS_CONTINUOUS, cases[i].continuous);
        TD_ASSERT_EQ_INT(m.algorithm == TD_ALGO_SAC, cases[i].sac);
        if (!cases[i].continuous)
            TD_ASSERT_EQ_INT(m.n_actions, cases[i].n_actions);
        TD_ASSERT_EQ_INT(m.camera, cases[i].camera);
        TD_ASSERT_EQ_INT(m.lidar, cases[i].lidar);
        TD_ASSERT_MSG(w.n == 0, "%s: warning %s", cases[i].file, w.msg[0]);
    }
}

TD_TEST(hyperparams_defaults_are_deepracers)
{
    td_hyperparams h;
    td_err err;
    /* get_updated_hyper_parameters on an empty dict. */
    TD_ASSERT_OK(
        td_hyperparams_load(&h, write_file("hp.json", "{}"), TD_ALGO_CLIPPED_PPO, NULL, &err));
    TD_ASSERT_EQ_INT(h.batch_size, 64);
    TD_ASSERT_EQ_INT(h.num_epochs, 10);
    TD_ASSERT_NEAR(h.lr, 0.0003, 0);
    TD_ASSERT_NEAR(h.discount_factor, 0.999, 0);
    TD_ASSERT_EQ_INT(h.loss_type, TD_LOSS_MSE);
    TD_ASSERT_EQ_INT(h.num_episodes_between_training, 20);
    TD_ASSERT_EQ_INT(h.term_cond_max_episodes, 100000);
    TD_ASSERT_NEAR(h.term_cond_avg_score, 100000, 0);
    TD_ASSERT_EQ_INT(h.exploration_type, TD_EXPLORE_CATEGORICAL);
    TD_ASSERT_NEAR(h.e_greedy_value, 0.05, 0);
    TD_ASSERT_EQ_INT(h.epsilon_steps, 10000);
    TD_ASSERT_NEAR(h.sac_alpha, 0.2, 0);
    /* SAC gets the same 20 episodes between training. */
    TD_ASSERT_OK(td_hyperparams_load(&h, write_file("hp.json", "{}"), TD_ALGO_SAC, NULL, &err));
    TD_ASSERT_EQ_INT(h.num_episodes_between_training, 20);
}

/* Newcomer audit: a model directory that cannot be entered was told "no model_metadata.json
 * (create ... with 'trackday init')"; it is told why, and a file is told it is a file. The
 * check runs as an unprivileged user (nobody when the test runs as root). */
TD_TEST(model_dir_not_enterable_or_a_file)
{
    char top[] = "/tmp/td-perm-XXXXXX", mine[64], msg[TD_ERR_MSG_LEN] = "";
    int fd[2];
    td_err err;
    TD_ASSERT(mkdtemp(top) != NULL);
    TD_ASSERT(chmod(top, 0755) == 0);
    TD_FMT(mine, "%s/mine", top);
    TD_ASSERT(mkdir(mine, 0700) == 0);
    TD_ASSERT_OK(td_model_dir_check(mine, &err));
    TD_ASSERT(pipe(fd) == 0);
    pid_t pid = fork();
    TD_ASSERT(pid >= 0);
    if (pid == 0) {
        int ok = getuid() != 0
                     ? chmod(mine, 0) == 0
                     : setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0;
        int rc = ok ? td_model_dir_check(mine, &err) : -100;
        if (write(fd[1], err.msg, rc ? strlen(err.msg) : 0) < 0 || rc != TD_EPERM)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    ssize_t n = read(fd[0], msg, sizeof(msg) - 1);
    int status = 0;
    close(fd[0]);
    waitpid(pid, &status, 0);
    msg[n > 0 ? n : 0] = '\0';
    chmod(mine, 0700);
    TD_ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s", msg);
    char want[160];
    TD_FMT(want, "%s: cannot enter the model directory: Permission denied", mine);
    TD_ASSERT_CONTAINS(msg, want);
    rmdir(mine);
    td_test_write(mine, "notes\n");
    td_model_dir dir;
    TD_ASSERT(td_model_dir_load(&dir, mine, &err) == TD_EINVAL);
    TD_FMT(want, "%s is a file, not a model directory", mine);
    TD_ASSERT_CONTAINS(err.msg, want);
    unlink(mine);
    rmdir(top);
}

/* A key given twice keeps its last value, as Python's json (DeepRacer) reads it, with a
 * warning naming the key and line; the strict parser (HTTP bodies) still refuses it. */
TD_TEST(config_duplicate_key_last_value_wins)
{
    static const char meta[] = "{\"action_space\": [{\"steering_angle\": 0, \"speed\": 1,\n"
                               "  \"speed\": 2}, {\"steering_angle\": 5, \"speed\": 1}],\n"
                               " \"sensor\": [\"SECTOR_LIDAR\"],\n"
                               " \"sensor\": [\"FRONT_FACING_CAMERA\"], \"q\\\"x\": 1, "
                               "\"q\\\"x\": 2}";
    td_model_metadata m;
    td_hyperparams h;
    td_config_warnings w;
    td_err err;
    json_t *j;
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_model_metadata_load(&m, write_file("model_metadata.json", meta), &w, &err));
    TD_ASSERT_NEAR(m.actions[0].speed_mps, 2, 0);
    TD_ASSERT_EQ_INT(m.camera, TD_CAMERA_FRONT);
    TD_ASSERT_EQ_INT(m.lidar, TD_LIDAR_NONE);
    TD_ASSERT_CONTAINS(w.msg[0],
                       "model_metadata.json:2: \"speed\" is given twice; the last value counts");
    TD_ASSERT_CONTAINS(w.msg[1], "model_metadata.json:4: \"sensor\" is given twice");
    TD_ASSERT_CONTAINS(w.msg[2], "model_metadata.json:4: \"q\\\"x\" is given twice");
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_hyperparams_load(
        &h, write_file("hyperparameters.json", "{\"batch_size\": 32, \"batch_size\": 128}"),
        TD_ALGO_CLIPPED_PPO, &w, &err));
    TD_ASSERT_EQ_INT(h.batch_size, 128);
    TD_ASSERT_EQ_INT(w.n, 1);
    TD_ASSERT_CONTAINS(w.msg[0], "hyperparameters.json:1: \"batch_size\" is given twice");
    TD_ASSERT(td_json_parse(meta, strlen(meta), "body", &j, &err) < 0);
    TD_ASSERT_CONTAINS(err.msg, "duplicate object key");
}

/* Values DeepRacer runs with although its console did not offer them are warnings saying what
 * the console allowed; numbers as strings are read as int()/float() read them. */
TD_TEST(hyperparams_console_ranges_are_warnings)
{
    td_hyperparams h;
    td_config_warnings w;
    td_err err;
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_hyperparams_load(
        &h,
        write_file("hyperparameters.json",
                   "{\"batch_size\": \"100\", \"num_epochs\": 20, \"lr\": \"0.003\", "
                   "\"stack_size\": 3, \"num_episodes_between_training\": 200, "
                   "\"loss_type\": \"Huber\", \"exploration_type\": \"E-Greedy\", "
                   "\"discount_factor\": \"0.95\", \"beta_entropy\": 0}"),
        TD_ALGO_CLIPPED_PPO, &w, &err));
    TD_ASSERT_EQ_INT(h.batch_size, 100);
    TD_ASSERT_EQ_INT(h.num_epochs, 20);
    TD_ASSERT_NEAR(h.lr, 0.003, 0);
    TD_ASSERT_EQ_INT(h.stack_size, 1);
    TD_ASSERT_EQ_INT(h.num_episodes_between_training, 200);
    TD_ASSERT_EQ_INT(h.loss_type, TD_LOSS_HUBER);
    TD_ASSERT_EQ_INT(h.exploration_type, TD_EXPLORE_EGREEDY);
    TD_ASSERT_NEAR(h.discount_factor, 0.95, 0);
    TD_ASSERT_EQ_INT(w.n, 5);
    TD_ASSERT_CONTAINS(w.msg[0], "\"batch_size\" 100: the console allowed 32, 64, 128, 256 or 512");
    TD_ASSERT_CONTAINS(w.msg[1], "\"num_epochs\" 20: the console allowed 3 to 10");
    TD_ASSERT_CONTAINS(w.msg[2], "\"lr\" 0.003: the console allowed 1e-8 to 0.001");
    TD_ASSERT_CONTAINS(w.msg[3],
                       "\"num_episodes_between_training\" 200: the console allowed 5 to 100");
    TD_ASSERT_CONTAINS(w.msg[4], "\"stack_size\" 3: DeepRacer (and trackday) use one frame");
    /* Anything but "huber" is DeepRacer's mean squared error. */
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_hyperparams_load(&h, write_file("hp.json", "{\"loss_type\": \"l1\"}"),
                                     TD_ALGO_CLIPPED_PPO, &w, &err));
    TD_ASSERT_EQ_INT(h.loss_type, TD_LOSS_MSE);
    TD_ASSERT_EQ_INT(w.n, 1);
    TD_ASSERT_CONTAINS(w.msg[0], "mean squared error for anything but \"huber\"");
    /* int(64.5) is 64 in DeepRacer. */
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_hyperparams_load(&h, write_file("hp.json", "{\"batch_size\": 64.5}"),
                                     TD_ALGO_CLIPPED_PPO, &w, &err));
    TD_ASSERT_EQ_INT(h.batch_size, 64);
    TD_ASSERT_CONTAINS(w.msg[0], "reads it with int(), as 64");
}

TD_TEST(hyperparams_that_cannot_work_rejected)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"{\"batch_size\": 0}", "\"batch_size\" is 0, must be in [1, 16384]"},
        {"{\"batch_size\": \"64.0\"}", "\"batch_size\" is \"64.0\", must be an integer"},
        {"{\"batch_size\": true}", "\"batch_size\" must be an integer"},
        {"{\"num_epochs\": 0}", "\"num_epochs\" is 0"},
        {"{\"lr\": 0}", "\"lr\" is 0, must be in (0, 1)"},
        {"{\"lr\": 5}", "\"lr\" is 5"},
        {"{\"lr\": \"fast\"}", "\"lr\" must be a number"},
        {"{\"lr\": null}", "\"lr\" must be a number"},
        {"{\"discount_factor\": 1.5}", "\"discount_factor\" is 1.5, must be in [0, 1]"},
        {"{\"beta_entropy\": -1}", "\"beta_entropy\" is -1, must not be negative"},
        {"{\"num_episodes_between_training\": 0}", "\"num_episodes_between_training\" is 0"},
        {"{\"exploration_type\": \"boltzmann\"}", "\"exploration_type\" is \"boltzmann\""},
        {"{\"exploration_type\": \"e_greedy\"}", "\"exploration_type\" is \"e_greedy\""},
        {"{\"e_greedy_value\": 2}", "\"e_greedy_value\" is 2, must be in [0, 1]"},
        {"{\"exploration_type\": \"e-greedy\", \"epsilon_steps\": 0}",
         "\"epsilon_steps\" is 0, must be at least 1"},
        {"{\"sac_alpha\": -0.1}", "\"sac_alpha\" is -0.1, must not be negative"},
        {"{\"term_cond_max_episodes\": 0}", "\"term_cond_max_episodes\" is 0"},
        {"[1, 2]", "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        td_hyperparams h;
        td_err err;
        int rc = td_hyperparams_load(&h, write_file("hyperparameters.json", cases[i].json),
                                     TD_ALGO_CLIPPED_PPO, NULL, &err);
        TD_ASSERT_MSG(rc < 0, "case %zu accepted: %s", i, cases[i].json);
        TD_ASSERT_CONTAINS(err.msg, cases[i].expect);
        TD_ASSERT_CONTAINS(err.msg, "hyperparameters.json");
    }
}

TD_TEST(hyperparams_real_file_shapes)
{
    static const struct {
        const char *file;
        int epochs;
        double gamma, avg_score;
        long max_episodes;
    } cases[] = {
        {"drfc-hyperparameters.json", 5, 0.99, 350, 1000},
        {"utils-hyperparameters-no-sac.json", 3, 0.95, 1000, 5000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512];
        td_hyperparams h;
        td_config_warnings w;
        td_err err;
        snprintf(path, sizeof(path), "%s/tests/data/deepracer-config/%s", TD_TEST_SOURCE_DIR,
                 cases[i].file);
        td_config_warnings_clear(&w);
        int rc = td_hyperparams_load(&h, path, TD_ALGO_CLIPPED_PPO, &w, &err);
        TD_ASSERT_MSG(rc == 0, "%s: %s", cases[i].file, err.msg);
        TD_ASSERT_EQ_INT(h.num_epochs, cases[i].epochs);
        TD_ASSERT_NEAR(h.discount_factor, cases[i].gamma, 0);
        TD_ASSERT_NEAR(h.term_cond_avg_score, cases[i].avg_score, 0);
        TD_ASSERT_EQ_INT(h.term_cond_max_episodes, cases[i].max_episodes);
        TD_ASSERT_EQ_INT(h.loss_type, TD_LOSS_HUBER);
        TD_ASSERT_MSG(w.n == 0, "%s: warning %s", cases[i].file, w.msg[0]);
    }
}

/* rl_coach's LinearSchedule(1.0, e_greedy_value, epsilon_steps). */
TD_TEST(egreedy_epsilon_schedule)
{
    td_hyperparams h;
    td_hyperparams_default(&h);
    h.e_greedy_value = 0.1;
    h.epsilon_steps = 1000;
    TD_ASSERT_NEAR(td_hyperparams_epsilon(&h, 0), 1.0, 1e-12);
    TD_ASSERT_NEAR(td_hyperparams_epsilon(&h, 500), 0.55, 1e-12);
    TD_ASSERT_NEAR(td_hyperparams_epsilon(&h, 999), 0.1009, 1e-12);
    TD_ASSERT_NEAR(td_hyperparams_epsilon(&h, 1000), 0.1, 1e-12);
    TD_ASSERT_NEAR(td_hyperparams_epsilon(&h, 50000), 0.1, 1e-12);
}

/* One policy for unknown keys in all four files: a warning that names the closest known key. */
TD_TEST(unknown_keys_one_policy_in_every_file)
{
    td_config_warnings w;
    td_model_metadata m;
    td_hyperparams h;
    td_training_params p;
    td_err err;

    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_model_metadata_load(
        &m,
        write_file("model_metadata.json",
                   "{" AS2 ", \"sensor\": [\"FRONT_FACING_CAMERA\"], \"training_algorithim\": "
                   "\"sac\", \"colour\": \"red\"}"),
        &w, &err));
    TD_ASSERT_EQ_INT(w.n, 2);
    TD_ASSERT_CONTAINS(w.msg[0], "model_metadata.json: unknown key \"training_algorithim\" "
                                 "ignored; did you mean \"training_algorithm\"?");
    TD_ASSERT_CONTAINS(w.msg[1], "unknown key \"colour\" ignored (no known key is close");

    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_hyperparams_load(
        &h, write_file("hyperparameters.json", "{\"learning_rate\": 0.001, \"batch_sise\": 32}"),
        TD_ALGO_CLIPPED_PPO, &w, &err));
    TD_ASSERT_EQ_INT(w.n, 2);
    TD_ASSERT_CONTAINS(w.msg[0], "unknown key \"learning_rate\" ignored");
    TD_ASSERT_CONTAINS(w.msg[1], "hyperparameters.json: unknown key \"batch_sise\" ignored; did "
                                 "you mean \"batch_size\"?");
    TD_ASSERT_EQ_INT(h.batch_size, 64);

    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_training_params_load(
        &p,
        write_file("training_params.yaml", "WORLD_NAME: oval\nREVERS_DIR: true\nMY_SETTING: 42\n"),
        &w, &err));
    TD_ASSERT_EQ_INT(w.n, 2);
    TD_ASSERT_CONTAINS(w.msg[0], "training_params.yaml:2: unknown key \"REVERS_DIR\" ignored; did "
                                 "you mean \"REVERSE_DIR\"?");
    TD_ASSERT_CONTAINS(w.msg[1], "training_params.yaml:3: unknown key \"MY_SETTING\" ignored (no "
                                 "known key is close");
    TD_ASSERT_EQ_INT(p.race.reverse_dir, 0);

    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_run_env_load(
        &p, write_file("run.env", "DR_WORLD_NAME=oval\nDR_TRAIN_REVERS_DIRECTION=True\n"), &w,
        &err));
    TD_ASSERT_EQ_INT(w.n, 1);
    TD_ASSERT_CONTAINS(w.msg[0], "run.env:2: unknown key \"DR_TRAIN_REVERS_DIRECTION\" ignored; "
                                 "did you mean \"DR_TRAIN_REVERSE_DIRECTION\"?");
}

/* Keys DeepRacer reads that trackday does not: a warning only when the value is not
 * DeepRacer's default (so nothing would differ otherwise); plumbing keys in silence. */
TD_TEST(training_params_not_supported_keys)
{
    td_config_warnings w;
    td_training_params p;
    td_err err;
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_training_params_load(
        &p,
        write_file("training_params.yaml",
                   "START_POSITION_OFFSET: '0.00'\nIS_OBSTACLE_BOT_CAR: 'False'\n"
                   "BEST_MODEL_METRIC: reward\nOBSTACLE_TYPE: deepracer_box_obstacle\n"
                   "IS_CONTINUOUS: true\nCAR_COLOR: Purple\nS3_ENDPOINT_URL: http://x\n"),
        &w, &err));
    TD_ASSERT_EQ_INT(w.n, 2);
    TD_ASSERT_CONTAINS(w.msg[0], "training_params.yaml:3: BEST_MODEL_METRIC is \"reward\": "
                                 "DeepRacer reads it, trackday does not");
    TD_ASSERT_CONTAINS(w.msg[1], "OBSTACLE_TYPE is \"deepracer_box_obstacle\"");
}

/* START_POSITION_OFFSET is read (every car's first training start), in the yaml and from
 * DRfC's run.env; outside [0, 1] it is an error. */
TD_TEST(start_position_offset_is_read)
{
    td_config_warnings w;
    td_training_params p;
    td_err err;
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_training_params_load(
        &p, write_file("training_params.yaml", "START_POSITION_OFFSET: '0.25'\n"), &w, &err));
    TD_ASSERT_NEAR(p.race.start_position_offset, 0.25, 0);
    TD_ASSERT_EQ_INT(p.race.spread_starts, 0);
    TD_ASSERT_MSG(w.n == 0, "warning %s", w.msg[0]);
    TD_ASSERT_OK(td_training_params_load(
        &p, write_file("training_params.yaml", "WORLD_NAME: oval\n"), &w, &err));
    TD_ASSERT_NEAR(p.race.start_position_offset, 0.0, 0);
    TD_ASSERT_OK(td_run_env_load(&p, write_file("run.env", "DR_TRAIN_START_POSITION_OFFSET=0.5\n"),
                                 &w, &err));
    TD_ASSERT_NEAR(p.race.start_position_offset, 0.5, 0);
    TD_ASSERT_MSG(w.n == 0, "warning %s", w.msg[0]);
    int rc = td_training_params_load(
        &p, write_file("training_params.yaml", "START_POSITION_OFFSET: 1.5\n"), &w, &err);
    TD_ASSERT_EQ_INT(rc, TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "START_POSITION_OFFSET is 1.5, must be in [0, 1]");
}

TD_TEST(training_params_real_file_shapes)
{
    char path[512];
    td_config_warnings w;
    td_training_params p;
    td_err err;
    /* DRfC's prepare-config.py output: every value single-quoted, a document start. */
    snprintf(path, sizeof(path), "%s/tests/data/deepracer-config/drfc-training_params.yaml",
             TD_TEST_SOURCE_DIR);
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_training_params_load(&p, path, &w, &err));
    TD_ASSERT_STREQ(p.world_name, "reInvent2019_track");
    TD_ASSERT_EQ_INT(p.race.race_type, TD_RACE_OBJECT_AVOIDANCE);
    TD_ASSERT_EQ_INT(p.race.reverse_dir, 1);
    TD_ASSERT_NEAR(p.race.round_robin_advance_dist, 0.1, 0);
    TD_ASSERT_EQ_INT(p.race.number_of_obstacles, 4);
    TD_ASSERT_EQ_INT(p.min_eval_trials, 4);
    TD_ASSERT_MSG(w.n == 0, "warning %s", w.msg[0]);
    /* The simapp's sample: double quotes, blank lines, keys of its own plumbing. */
    snprintf(path, sizeof(path), "%s/tests/data/deepracer-config/simapp-training_params.yaml",
             TD_TEST_SOURCE_DIR);
    TD_ASSERT_OK(td_training_params_load(&p, path, &w, &err));
    TD_ASSERT_STREQ(p.world_name, "Oval_track");
    TD_ASSERT_EQ_INT(p.race.race_type, TD_RACE_TIME_TRIAL);
    TD_ASSERT_EQ_INT(p.race.change_start_position, 1);
    TD_ASSERT_MSG(w.n == 0, "warning %s", w.msg[0]);
}

/* DRfC's run.env as its prepare-config.py turns it into training_params.yaml. */
TD_TEST(run_env_read_as_drfc_maps_it)
{
    char path[512];
    td_config_warnings w;
    td_training_params p;
    td_err err;
    snprintf(path, sizeof(path), "%s/tests/data/deepracer-config/drfc-run.env", TD_TEST_SOURCE_DIR);
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_run_env_load(&p, path, &w, &err));
    TD_ASSERT_STREQ(p.world_name, "Oval_track");
    TD_ASSERT_EQ_INT(p.race.race_type, TD_RACE_HEAD_TO_BOT);
    TD_ASSERT_EQ_INT(p.race.reverse_dir, 1);
    TD_ASSERT_NEAR(p.race.round_robin_advance_dist, 0.1, 0);
    TD_ASSERT_EQ_INT(p.race.number_of_bot_cars, 2);
    TD_ASSERT_NEAR(p.race.bot_car_speed, 0.4, 0);
    TD_ASSERT_EQ_INT(p.race.is_lane_change, 1);
    TD_ASSERT_NEAR(p.race.lower_lane_change_time, 2.0, 0);
    TD_ASSERT_EQ_INT(p.min_eval_trials, 3);
    /* DR_OA_* apply to OBJECT_AVOIDANCE only: the 6 obstacles are not read here. */
    td_training_params dflt;
    td_training_params_default(&dflt);
    TD_ASSERT_EQ_INT(p.race.number_of_obstacles, dflt.race.number_of_obstacles);
    TD_ASSERT_MSG(w.n == 0, "warning %s", w.msg[0]);
    /* Object avoidance with positions separated by ';'. */
    TD_ASSERT_OK(td_run_env_load(
        &p,
        write_file("run.env",
                   "DR_RACE_TYPE=OBJECT_AVOIDANCE\nDR_OA_NUMBER_OF_OBSTACLES=6\n"
                   "DR_OA_OBJECT_POSITIONS=\"0.25,1;0.75,-1\"\nDR_H2B_NUMBER_OF_BOT_CARS=3\n"),
        &w, &err));
    TD_ASSERT_EQ_INT(p.race.race_type, TD_RACE_OBJECT_AVOIDANCE);
    TD_ASSERT_EQ_INT(p.race.n_object_positions, 2);
    TD_ASSERT_NEAR(p.race.object_positions[1][0], 0.75, 0);
    TD_ASSERT_NEAR(p.race.object_positions[1][1], -1, 0);
    TD_ASSERT_EQ_INT(p.race.number_of_bot_cars, dflt.race.number_of_bot_cars);
    /* A bad value names the variable and the file. */
    int rc =
        td_run_env_load(&p, write_file("run.env", "DR_TRAIN_REVERSE_DIRECTION=maybe\n"), &w, &err);
    TD_ASSERT_EQ_INT(rc, TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "DR_TRAIN_REVERSE_DIRECTION (from run.env)");
    TD_ASSERT_CONTAINS(err.msg, "must be true or false");
}

/* The console's TRACK_DIRECTION_CLOCKWISE, as deepracer-simapp's yaml_file.py
 * _update_world_name reads it: WORLD_NAME + "_cw" when str2bool(value) is true, "_ccw" when it
 * is false, wherever the key stands in the file; training_params.yaml and
 * evaluation_params.yaml alike (both are YamlFile). run.env has no such key (DRfC's
 * prepare-config.py writes none): a warning that says to name the route in DR_WORLD_NAME. */
TD_TEST(track_direction_clockwise_read_as_deepracer_reads_it)
{
    static const struct {
        const char *text;
        const char *world;
        int direction;
        int warns;
    } cases[] = {
        /* What the DeepRacer on AWS console writes for its default model. */
        {"WORLD_NAME: reInvent2019_wide\nTRACK_DIRECTION_CLOCKWISE: true\n", "reInvent2019_wide_cw",
         1, 0},
        /* The key before WORLD_NAME: applied after the whole file is read. */
        {"TRACK_DIRECTION_CLOCKWISE: false\nWORLD_NAME: reInvent2019_wide\n",
         "reInvent2019_wide_ccw", -1, 0},
        /* YAML 1.1 booleans (PyYAML), DRfC's quoted style ('False' through str2bool). */
        {"WORLD_NAME: 2022_april_open\nTRACK_DIRECTION_CLOCKWISE: Off\n", "2022_april_open_ccw", -1,
         0},
        {"WORLD_NAME: '2022_april_open'\nTRACK_DIRECTION_CLOCKWISE: 'False'\n",
         "2022_april_open_ccw", -1, 0},
        {"WORLD_NAME: 2022_april_open\nTRACK_DIRECTION_CLOCKWISE: \"TRUE\"\n", "2022_april_open_cw",
         1, 0},
        /* A quoted 'no' is a string to PyYAML, kept by str2bool: truthy, so clockwise. */
        {"WORLD_NAME: 2022_april_open\nTRACK_DIRECTION_CLOCKWISE: 'no'\n", "2022_april_open_cw", 1,
         1},
        /* Given twice: the last counts. */
        {"WORLD_NAME: x\nTRACK_DIRECTION_CLOCKWISE: true\nTRACK_DIRECTION_CLOCKWISE: false\n",
         "x_ccw", -1, 1},
        /* Absent: WORLD_NAME as written. */
        {"WORLD_NAME: reInvent2019_wide_cw\n", "reInvent2019_wide_cw", 0, 0},
    };
    td_training_params p;
    td_config_warnings w;
    td_err err;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        td_config_warnings_clear(&w);
        TD_ASSERT_OK(td_training_params_load(&p, write_file("tp.yaml", cases[i].text), &w, &err));
        TD_ASSERT_MSG(!strcmp(p.world_name, cases[i].world), "case %zu: %s", i, p.world_name);
        TD_ASSERT_EQ_INT(p.track_direction, cases[i].direction);
        TD_ASSERT_MSG(w.n == cases[i].warns, "case %zu: %d warnings (%s)", i, w.n,
                      w.n ? w.msg[0] : "");
        /* evaluation_params.yaml is read by the same class in DeepRacer. */
        TD_ASSERT_OK(
            td_evaluation_params_load(&p, write_file("ep.yaml", cases[i].text), NULL, &err));
        TD_ASSERT_STREQ(p.world_name, cases[i].world);
    }
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_training_params_load(
        &p, write_file("tp.yaml", "WORLD_NAME: x\nTRACK_DIRECTION_CLOCKWISE: 'no'\n"), &w, &err));
    TD_ASSERT_CONTAINS(w.msg[0], "TRACK_DIRECTION_CLOCKWISE is \"no\", not true or false");
    TD_ASSERT_CONTAINS(w.msg[0], "counts as true (clockwise, _cw)");
    /* A number or null stops DeepRacer (str2bool calls .lower() on it): an error here. */
    const char *bad[] = {"1", "0", "~", "null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "WORLD_NAME: x\nTRACK_DIRECTION_CLOCKWISE: %s\n", bad[i]);
        TD_ASSERT_EQ_INT(td_training_params_load(&p, write_file("tp.yaml", text), NULL, &err),
                         TD_EINVAL);
        TD_ASSERT_CONTAINS(err.msg, "tp.yaml:2: TRACK_DIRECTION_CLOCKWISE is");
        TD_ASSERT_CONTAINS(err.msg, "write true or false");
    }
    /* Without WORLD_NAME, DeepRacer looks for "None_cw": an error that says to add it. */
    TD_ASSERT_EQ_INT(
        td_training_params_load(&p, write_file("tp.yaml", "TRACK_DIRECTION_CLOCKWISE: true\n"),
                                NULL, &err),
        TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "TRACK_DIRECTION_CLOCKWISE without WORLD_NAME");
    TD_ASSERT_CONTAINS(err.msg, "None_cw");
    /* run.env: DRfC has no such key; the route DR_WORLD_NAME names is trained. */
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_run_env_load(
        &p,
        write_file("run.env", "DR_WORLD_NAME=reInvent2019_wide\nTRACK_DIRECTION_CLOCKWISE=true\n"),
        &w, &err));
    TD_ASSERT_STREQ(p.world_name, "reInvent2019_wide");
    TD_ASSERT_EQ_INT(w.n, 1);
    TD_ASSERT_CONTAINS(w.msg[0], "run.env:2: TRACK_DIRECTION_CLOCKWISE ignored: "
                                 "deepracer-for-cloud does not read it");
    TD_ASSERT_CONTAINS(w.msg[0], "name the direction's route in DR_WORLD_NAME");
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_run_env_load(&p, write_file("run.env", "DR_WORLD_NAME=reInvent2019_wide_cw\n"),
                                 &w, &err));
    TD_ASSERT_STREQ(p.world_name, "reInvent2019_wide_cw");
    TD_ASSERT_EQ_INT(w.n, 0);
}

TD_TEST(training_params_yaml)
{
    td_training_params p;
    td_err err;
    const char *text = "JOB_TYPE: TRAINING\n"
                       "WORLD_NAME: reInvent2019_track\n"
                       "RACE_TYPE: OBJECT_AVOIDANCE\n"
                       "ALTERNATE_DRIVING_DIRECTION: \"true\"\n"
                       "REVERSE_DIR: False\n"
                       "ROUND_ROBIN_ADVANCE_DIST: '0.1'\n"
                       "NUMBER_OF_OBSTACLES: 2\n"
                       "OBJECT_POSITIONS:\n"
                       "  - \"0.25,1\"\n"
                       "  - 0.75,-1\n"
                       "ENABLE_DOMAIN_RANDOMIZATION: true\n"
                       "SAGEMAKER_SHARED_S3_BUCKET: bucket\n";
    TD_ASSERT_OK(td_training_params_load(&p, write_file("tp.yaml", text), NULL, &err));
    TD_ASSERT_STREQ(p.world_name, "reInvent2019_track");
    TD_ASSERT_EQ_INT(p.race.race_type, TD_RACE_OBJECT_AVOIDANCE);
    TD_ASSERT_EQ_INT(p.race.alternate_driving_direction, 1);
    TD_ASSERT_EQ_INT(p.race.reverse_dir, 0);
    TD_ASSERT_NEAR(p.race.round_robin_advance_dist, 0.1, 0);
    TD_ASSERT_EQ_INT(p.race.number_of_obstacles, 2);
    TD_ASSERT_EQ_INT(p.race.n_object_positions, 2);
    TD_ASSERT_NEAR(p.race.object_positions[1][0], 0.75, 0);
    TD_ASSERT_NEAR(p.race.object_positions[0][1], 1, 0);
    TD_ASSERT_NEAR(p.race.object_positions[1][1], -1, 0);
    TD_ASSERT_EQ_INT(p.race.enable_domain_randomization, 1);
    /* Without NUMBER_OF_OBSTACLES, the positions decide how many. */
    TD_ASSERT_OK(td_training_params_load(
        &p, write_file("tp.yaml", "OBJECT_POSITIONS:\n  - \"0.5,1\"\n"), NULL, &err));
    TD_ASSERT_EQ_INT(p.race.number_of_obstacles, 1);
}

/* trackday's DOMAIN_RANDOMIZATION_* keys: the ranges training draws from; a retraining job widens
 * them in place, keeping the file's other lines. */
TD_TEST(training_params_domain_randomization_ranges)
{
    td_training_params p;
    td_err err;
    td_config_warnings w;
    td_config_warnings_clear(&w);
    char path[512];
    TD_FMT(path, "%s",
           write_file("dr.yaml", "WORLD_NAME: oval # the track\n"
                                 "ENABLE_DOMAIN_RANDOMIZATION: true\n"
                                 "DOMAIN_RANDOMIZATION_BRIGHTNESS: [0.5, 1.4]\n"
                                 "DOMAIN_RANDOMIZATION_CONTRAST:\n"
                                 "  - 0.6\n"
                                 "  - 1.3\n"
                                 "DOMAIN_RANDOMIZATION_TEXTURE: 40\n"
                                 "NUMBER_OF_OBSTACLES: 2\n"));
    TD_ASSERT_OK(td_training_params_load(&p, path, &w, &err));
    TD_ASSERT_EQ_INT(w.n, 0);
    TD_ASSERT_EQ_INT(p.race.dr.set, 1);
    TD_ASSERT_NEAR(p.race.dr.brightness[0], 0.5, 0);
    TD_ASSERT_NEAR(p.race.dr.brightness[1], 1.4, 0);
    TD_ASSERT_NEAR(p.race.dr.contrast[0], 0.6, 0);
    TD_ASSERT_NEAR(p.race.dr.texture_hi, 40, 0);
    TD_ASSERT_NEAR(p.race.dr.exposure[0], TD_DR_EXPOSURE_LO, 0); /* not given: the default */
    /* Without the keys: unset (the TD_DR_* defaults). */
    TD_ASSERT_OK(
        td_training_params_load(&p, write_file("nodr.yaml", "WORLD_NAME: oval\n"), NULL, &err));
    TD_ASSERT_EQ_INT(p.race.dr.set, 0);
    /* Widened: the union, written back with the other lines as they were. */
    td_dr_ranges want, now;
    td_dr_ranges_default(&want);
    want.brightness[0] = 0.3;
    want.noise_hi = 12;
    TD_ASSERT_OK(td_training_params_widen_dr(path, &want, &now, &err));
    TD_ASSERT_NEAR(now.brightness[0], 0.3, 0);
    TD_ASSERT_NEAR(now.brightness[1], 1.4, 0);
    TD_ASSERT_NEAR(now.contrast[0], 0.6, 0);
    TD_ASSERT_NEAR(now.texture_hi, 40, 0);
    TD_ASSERT_NEAR(now.noise_hi, 12, 0);
    char *text = td_test_slurp(path);
    TD_ASSERT_CONTAINS(text, "WORLD_NAME: oval # the track\nNUMBER_OF_OBSTACLES: 2\n");
    TD_ASSERT_CONTAINS(text, "DOMAIN_RANDOMIZATION_BRIGHTNESS: [0.3, 1.4]\n");
    TD_ASSERT(strstr(text, "  - 0.6") == NULL);
    td_free(text);
    TD_ASSERT_OK(td_training_params_load(&p, path, NULL, &err));
    TD_ASSERT_EQ_INT(p.race.number_of_obstacles, 2);
    TD_ASSERT_EQ_INT(p.race.enable_domain_randomization, 1);
    /* Wrong shapes and impossible ranges name the file, line and key. */
    TD_ASSERT_EQ(
        td_training_params_load(&p, write_file("b1.yaml", "DOMAIN_RANDOMIZATION_BRIGHTNESS: 0.5\n"),
                                NULL, &err),
        TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg,
                       "b1.yaml:1: DOMAIN_RANDOMIZATION_BRIGHTNESS must be a range [lo, hi]");
    TD_ASSERT_EQ(
        td_training_params_load(
            &p, write_file("b2.yaml", "DOMAIN_RANDOMIZATION_CONTRAST: [1.5, 0.5]\n"), NULL, &err),
        TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg,
                       "b2.yaml:1: domain randomization: contrast [1.5, 0.5] must be a range");
    TD_ASSERT_EQ(td_training_params_load(
                     &p, write_file("b3.yaml", "DOMAIN_RANDOMIZATION_NOISE: [1, 2]\n"), NULL, &err),
                 TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "DOMAIN_RANDOMIZATION_NOISE must be a number");
}

/* DeepRacer has no limit on obstacles or bots (its console allowed 6 and 4): more load, with a
 * warning that says what the console allowed, and the simulator places them all. */
TD_TEST(training_params_many_obstacles_and_bots)
{
    td_training_params p;
    td_config_warnings w;
    td_err err;
    td_config_warnings_clear(&w);
    TD_ASSERT_OK(td_training_params_load(&p,
                                         write_file("tp.yaml", "NUMBER_OF_OBSTACLES: 20\n"
                                                               "NUMBER_OF_BOT_CARS: 8\n"),
                                         &w, &err));
    TD_ASSERT_EQ_INT(p.race.number_of_obstacles, 20);
    TD_ASSERT_EQ_INT(p.race.number_of_bot_cars, 8);
    TD_ASSERT_EQ_INT(w.n, 2);
    TD_ASSERT_CONTAINS(w.msg[0], "NUMBER_OF_OBSTACLES 20: the console allowed 1 to 6");
    TD_ASSERT_CONTAINS(w.msg[1], "NUMBER_OF_BOT_CARS 8: the console allowed 1 to 4");
    /* 40 fixed positions. */
    char yaml[4096];
    size_t off = (size_t)snprintf(yaml, sizeof(yaml), "OBJECT_POSITIONS:\n");
    for (int i = 0; i < 40; i++)
        off += (size_t)snprintf(yaml + off, sizeof(yaml) - off, "  - \"%.3f,%d\"\n", 0.02 * (i + 1),
                                i & 1 ? -1 : 1);
    TD_ASSERT_OK(td_training_params_load(&p, write_file("tp.yaml", yaml), NULL, &err));
    TD_ASSERT_EQ_INT(p.race.n_object_positions, 40);
    TD_ASSERT_EQ_INT(p.race.number_of_obstacles, 40);
    TD_ASSERT_NEAR(p.race.object_positions[39][0], 0.8, 1e-12);
}

TD_TEST(training_params_bad_values_rejected)
{
    static const struct {
        const char *yaml, *expect;
    } cases[] = {
        {"RACE_TYPE: DRAG_RACE\n", "tp.yaml:1: RACE_TYPE is \"DRAG_RACE\""},
        {"RACE_TYPE: HEAD_TO_MODEL\n", "which trackday runs as 'trackday race'"},
        {"A: 1\nNUMBER_OF_OBSTACLES: 1025\n",
         "tp.yaml:2: NUMBER_OF_OBSTACLES is 1025; a trackday world holds at most 1024 objects, "
         "more than stand nose to tail on any route (DeepRacer has no limit"},
        {"NUMBER_OF_BOT_CARS: 20000\n", "NUMBER_OF_BOT_CARS is 20000; a trackday world holds"},
        {"NUMBER_OF_OBSTACLES: 1000\nNUMBER_OF_BOT_CARS: 40\n",
         "tp.yaml: 1000 obstacles and 40 bot cars: a trackday world holds at most 1024 objects"},
        {"WORLD_NAME: &a oval\nRACE_TYPE: *a\n", "aliases"},
        {"REVERSE_DIR: maybe\n", "REVERSE_DIR is \"maybe\", must be true or false"},
        {"BOT_CAR_SPEED: fast\n", "BOT_CAR_SPEED is \"fast\", must be a number"},
        {"OBJECT_POSITIONS:\n  - \"0.5\"\n", "OBJECT_POSITIONS[0] is \"0.5\""},
        {"OBJECT_POSITIONS:\n  - \"1.5,1\"\n", "progress \"1.5\" must be a fraction"},
        {"OBJECT_POSITIONS:\n  - \"0.5,2\"\n", "lane \"2\" must be 1 (inner) or -1 (outer)"},
        {"LOWER_LANE_CHANGE_TIME: 6\nUPPER_LANE_CHANGE_TIME: 5\n", "exceeds"},
        {"RACE_TYPE: [a, b]\n", "RACE_TYPE must be a single value"},
        {"KEY: value\n  bad indent: x\n", "invalid YAML"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        td_training_params p;
        td_err err;
        int rc = td_training_params_load(&p, write_file("tp.yaml", cases[i].yaml), NULL, &err);
        TD_ASSERT_MSG(rc < 0, "case %zu accepted: %s", i, cases[i].yaml);
        TD_ASSERT_CONTAINS(err.msg, cases[i].expect);
    }
}

TD_TEST(model_dir_requires_files)
{
    td_model_dir d;
    td_err err;
    char dir[] = "/tmp/td_md_XXXXXX";
    char path[128];
    FILE *f;
    TD_ASSERT(mkdtemp(dir) != NULL);
    TD_ASSERT_EQ_INT(td_model_dir_load(&d, dir, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "trackday init");
    TD_FMT(path, "%s/model_metadata.json", dir);
    f = fopen(path, "w");
    fputs("{" AS2 "}", f);
    fclose(f);
    /* No hyperparameters.json: DeepRacer's defaults, said in a warning. */
    TD_ASSERT_OK(td_model_dir_load(&d, dir, &err));
    TD_ASSERT_NEAR(d.hyper.discount_factor, 0.999, 0);
    TD_ASSERT_EQ_INT(d.warnings.n, 1);
    TD_ASSERT_CONTAINS(d.warnings.msg[0], "no hyperparameters.json; DeepRacer's defaults");
    TD_FMT(path, "%s/hyperparameters.json", dir);
    f = fopen(path, "w");
    fputs("{\"batch_size\": 32}", f);
    fclose(f);
    TD_ASSERT_OK(td_model_dir_load(&d, dir, &err));
    TD_ASSERT_EQ_INT(d.hyper.batch_size, 32);
    TD_ASSERT_EQ_INT(d.has_training_params, 0);
    TD_ASSERT_EQ_INT(d.has_reward_py, 0);
    TD_ASSERT_EQ_INT(d.warnings.n, 0);
    /* DRfC's run.env stands in for training_params.yaml. */
    snprintf(path, sizeof(path), "%s/run.env", dir);
    f = fopen(path, "w");
    fputs("DR_WORLD_NAME=Oval_track\nDR_TRAIN_REVERSE_DIRECTION=True\n", f);
    fclose(f);
    TD_ASSERT_OK(td_model_dir_load(&d, dir, &err));
    TD_ASSERT_EQ_INT(d.has_run_env, 1);
    TD_ASSERT_STREQ(d.training.world_name, "Oval_track");
    TD_ASSERT_EQ_INT(d.training.race.reverse_dir, 1);
}

/* deepracer-for-cloud's evaluation_params.yaml (its scripts/evaluation/prepare-config.py
 * style): the whole evaluation's configuration, as DeepRacer's evaluation worker reads it, with
 * the training file's keys and unknown-key policy; evaluation settings trackday does not
 * support warn here (they would change the evaluation), never in training_params.yaml. */
TD_TEST(evaluation_params_read_for_eval)
{
    td_model_dir d;
    td_err err;
    char dir[512], path[600];
    TD_FMT(dir, "%s/evaldir", td_test_tmpdir());
    TD_ASSERT_OK(td_mkdir_p(dir, &err));
    TD_FMT(path, "%s/model_metadata.json", dir);
    td_test_write(path, "{" AS2 "}");
    TD_FMT(path, "%s/training_params.yaml", dir);
    td_test_write(path, "WORLD_NAME: reinvent_base\nRESET_BEHIND_DIST: 2.0\n");
    /* No evaluation file: the evaluation starts from the training settings. */
    TD_ASSERT_OK(td_model_dir_load(&d, dir, &err));
    TD_ASSERT_EQ_INT(d.has_evaluation_params, 0);
    TD_ASSERT(td_model_dir_eval_params(&d) == &d.training);
    TD_ASSERT_STREQ(d.training.eval_checkpoint, "");
    for (int i = 0; i < d.warnings.n; i++)
        TD_ASSERT_MSG(!strstr(d.warnings.msg[i], "RESET_BEHIND_DIST"), "%s", d.warnings.msg[i]);
    TD_FMT(path, "%s/evaluation_params.yaml", dir);
    td_test_write(path, "---\n'CAR_COLOR':\n- 'Red'\n'EVAL_CHECKPOINT': 'last'\n"
                        "'IS_CONTINUOUS': 'True'\n'NUMBER_OF_RESETS': '0'\n"
                        "'NUMBER_OF_TRIALS': '4'\n'OFF_TRACK_PENALTY': '5.0'\n"
                        "'RACE_TYPE': 'OBJECT_AVOIDANCE'\n'NUMBER_OF_OBSTACLES': '3'\n"
                        "'RESET_BEHIND_DIST': '2.0'\n'REVERSE_DIR': 'True'\n"
                        "'WORLD_NAME': 'Oval_track'\n'NUMBER_OF_TRAILS': '3'\n");
    TD_ASSERT_OK(td_model_dir_load(&d, dir, &err));
    TD_ASSERT_EQ_INT(d.has_evaluation_params, 1);
    const td_training_params *e = td_model_dir_eval_params(&d);
    TD_ASSERT(e == &d.evaluation);
    TD_ASSERT_STREQ(e->world_name, "Oval_track");
    TD_ASSERT_STREQ(e->eval_checkpoint, "last");
    TD_ASSERT_EQ_INT(e->eval.number_of_trials, 4);
    TD_ASSERT_EQ_INT(e->eval.is_continuous, 1);
    TD_ASSERT_EQ_INT(e->eval.number_of_resets, 0);
    TD_ASSERT_NEAR(e->eval.off_track_penalty_s, 5.0, 0);
    TD_ASSERT_EQ_INT(e->race.race_type, TD_RACE_OBJECT_AVOIDANCE);
    TD_ASSERT_EQ_INT(e->race.number_of_obstacles, 3);
    TD_ASSERT_EQ_INT(e->race.reverse_dir, 1);
    /* The training settings are untouched. */
    TD_ASSERT_STREQ(d.training.world_name, "reinvent_base");
    TD_ASSERT_EQ_INT(d.training.race.reverse_dir, 0);
    /* One unknown-key policy, and the not-supported evaluation setting is said. */
    int typo = 0, reset = 0;
    for (int i = 0; i < d.warnings.n; i++) {
        typo += strstr(d.warnings.msg[i], "evaluation_params.yaml:14: unknown key "
                                          "\"NUMBER_OF_TRAILS\" ignored; did you mean "
                                          "\"NUMBER_OF_TRIALS\"?") != NULL;
        reset +=
            strstr(d.warnings.msg[i], "evaluation_params.yaml:11: RESET_BEHIND_DIST is "
                                      "\"2.0\": DeepRacer reads it, trackday does not") != NULL;
    }
    TD_ASSERT_EQ_INT(typo, 1);
    TD_ASSERT_EQ_INT(reset, 1);
    /* A checkpoint that cannot exist is an error naming the file and key. */
    td_test_write(path, "EVAL_CHECKPOINT: first\n");
    TD_ASSERT_EQ_INT(td_model_dir_load(&d, dir, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "evaluation_params.yaml:1: EVAL_CHECKPOINT is \"first\", must be "
                                "best or last");
}

TD_TEST(metadata_json_round_trip)
{
    td_model_metadata m, back;
    td_err err;
    const char *text = "{\"action_space\": {\"steering_angle\": {\"low\": -20, \"high\": 25},"
                       " \"speed\": {\"low\": 0.5, \"high\": 3}},"
                       " \"action_space_type\": \"continuous\","
                       " \"sensor\": [\"FRONT_FACING_CAMERA\", \"DISCRETIZED_SECTOR_LIDAR\"],"
                       " \"lidar_config\": {\"num_sectors\": 4, \"num_values_per_sector\": 3,"
                       " \"clipping_dist\": 1.5}}";
    TD_ASSERT_OK(td_model_metadata_load(&m, write_file("model_metadata.json", text), NULL, &err));
    json_t *j = td_model_metadata_to_json(&m);
    TD_ASSERT_OK(td_model_metadata_from_json(&back, j, "round trip", NULL, &err));
    json_decref(j);
    TD_ASSERT_EQ(memcmp(&m, &back, sizeof(m)), 0);
    td_model_metadata_default(&m);
    j = td_model_metadata_to_json(&m);
    TD_ASSERT_OK(td_model_metadata_from_json(&back, j, "round trip", NULL, &err));
    json_decref(j);
    TD_ASSERT_EQ(memcmp(&m, &back, sizeof(m)), 0);
}
