/*
 * test_modeldir.c - model_metadata.json, hyperparameters.json and training_params.yaml:
 * defaults, good files, and every kind of bad value rejected with a message naming the file
 * and key.
 */
#include <stdio.h>
#include <string.h>

#include "td_test.h"
#include "trackday/modeldir.h"

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    TD_FMT(path, "%s/%s", td_test_tmpdir(), name);
    td_test_write(path, text);
    return path;
}

TD_TEST(metadata_defaults_from_empty_object)
{
    td_model_metadata m;
    td_err err;
    TD_ASSERT_OK(td_model_metadata_load(&m, write_file("model_metadata.json", "{}"), &err));
    TD_ASSERT_EQ_INT(m.action_space_type, TD_ACTIONS_DISCRETE);
    TD_ASSERT_EQ_INT(m.n_actions, 10);
    TD_ASSERT_NEAR(m.actions[0].steering_deg, -30, 0);
    TD_ASSERT_NEAR(m.actions[9].speed_mps, 0.8, 0);
    TD_ASSERT_EQ_INT(m.algorithm, TD_ALGO_CLIPPED_PPO);
    TD_ASSERT_EQ_INT(m.camera, TD_CAMERA_FRONT);
    TD_ASSERT_EQ_INT(m.network, TD_NET_SHALLOW);
    TD_ASSERT_EQ_INT(m.version, 5);
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
    TD_ASSERT_OK(td_model_metadata_load(&m, write_file("model_metadata.json", text), &err));
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
    TD_ASSERT_OK(td_model_metadata_load(&m, write_file("model_metadata.json", text), &err));
    TD_ASSERT_EQ_INT(m.action_space_type, TD_ACTIONS_CONTINUOUS);
    TD_ASSERT_EQ_INT(m.algorithm, TD_ALGO_SAC);
    TD_ASSERT_NEAR(m.steering_low, -20, 0);
    TD_ASSERT_NEAR(m.speed_high, 3, 0);
    TD_ASSERT_EQ_INT(m.state_sensor, 1);
    TD_ASSERT_EQ_INT(m.camera, TD_CAMERA_NONE);
    TD_ASSERT_EQ_INT(m.network, TD_NET_MLP);
}

/* Each bad metadata file must be rejected with a message containing the expected text. */
TD_TEST(metadata_bad_values_rejected)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"{\"action_space_type\": \"hybrid\"}", "\"action_space_type\" is \"hybrid\""},
        {"{\"training_algorithm\": \"dqn\"}", "\"training_algorithm\" is \"dqn\""},
        {"{\"training_algorithm\": \"sac\"}", "needs \"action_space_type\": \"continuous\""},
        {"{\"action_space\": [{\"steering_angle\": 45, \"speed\": 1}, "
         "{\"steering_angle\": 0, \"speed\": 1}]}",
         "action_space[0]: \"steering_angle\" is 45"},
        {"{\"action_space\": [{\"steering_angle\": 0, \"speed\": 9}, "
         "{\"steering_angle\": 0, \"speed\": 1}]}",
         "action_space[0]: \"speed\" is 9"},
        {"{\"action_space\": [{\"steering_angle\": 0}, {\"steering_angle\": 0, \"speed\": 1}]}",
         "needs \"steering_angle\" and \"speed\""},
        {"{\"action_space\": [{\"steering_angle\": 0, \"speed\": 1}]}", "has 1 actions"},
        {"{\"action_space_type\": \"continuous\", \"action_space\": {\"steering_angle\": "
         "{\"low\": 10, \"high\": -10}, \"speed\": {\"low\": 1, \"high\": 2}}}",
         "low (10) must be less than high (-10)"},
        {"{\"sensor\": [\"SONAR\"]}", "unknown sensor \"SONAR\""},
        {"{\"sensor\": [\"FRONT_FACING_CAMERA\", \"STEREO_CAMERAS\"]}", "at most one camera"},
        {"{\"sensor\": [\"LIDAR\"]}", "needs a camera"},
        {"{\"neural_network\": \"RESNET\"}", "\"neural_network\" is \"RESNET\""},
        {"{\"version\": \"five\"}", "\"version\" is \"five\""},
        {"{\"sensor\": [\"FRONT_FACING_CAMERA\", \"DISCRETIZED_SECTOR_LIDAR\"], "
         "\"lidar_config\": {\"num_sectors\": 7}}",
         "\"num_sectors\" is 7, must divide 64"},
        {"{\"action_space\": ", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        td_model_metadata m;
        td_err err;
        const char *path = write_file("model_metadata.json", cases[i].json);
        int rc = td_model_metadata_load(&m, path, &err);
        TD_ASSERT_MSG(rc < 0, "case %zu accepted: %s", i, cases[i].json);
        TD_ASSERT_CONTAINS(err.msg, cases[i].expect);
        TD_ASSERT_CONTAINS(err.msg, "model_metadata.json");
    }
}

TD_TEST(hyperparams_defaults_and_values)
{
    td_hyperparams h;
    td_err err;
    TD_ASSERT_OK(td_hyperparams_load(&h, write_file("hp.json", "{}"), TD_ALGO_CLIPPED_PPO, &err));
    TD_ASSERT_EQ_INT(h.batch_size, 64);
    TD_ASSERT_EQ_INT(h.num_epochs, 10);
    TD_ASSERT_NEAR(h.lr, 0.0003, 0);
    TD_ASSERT_EQ_INT(h.num_episodes_between_training, 20);
    TD_ASSERT_EQ_INT(h.loss_type, TD_LOSS_HUBER);
    const char *text = "{\"batch_size\": 128, \"beta_entropy\": 0.02, \"discount_factor\": 0.999,"
                       " \"e_greedy_value\": 0.05, \"epsilon_steps\": 10000,"
                       " \"exploration_type\": \"categorical\", \"loss_type\": \"mean squared "
                       "error\", \"lr\": 0.0001, \"num_episodes_between_training\": 40,"
                       " \"num_epochs\": 3, \"stack_size\": 1, \"term_cond_avg_score\": 350.0,"
                       " \"term_cond_max_episodes\": 1000, \"sac_alpha\": 0.2}";
    TD_ASSERT_OK(td_hyperparams_load(&h, write_file("hp.json", text), TD_ALGO_CLIPPED_PPO, &err));
    TD_ASSERT_EQ_INT(h.batch_size, 128);
    TD_ASSERT_EQ_INT(h.num_epochs, 3);
    TD_ASSERT_EQ_INT(h.loss_type, TD_LOSS_MSE);
    TD_ASSERT_EQ_INT(h.num_episodes_between_training, 40);
    TD_ASSERT_EQ_INT(h.term_cond_max_episodes, 1000);
    TD_ASSERT_NEAR(h.discount_factor, 0.999, 0);
}

TD_TEST(hyperparams_bad_values_rejected)
{
    static const struct {
        const char *json, *expect;
        td_algorithm algo;
    } cases[] = {
        {"{\"batch_size\": 100}", "\"batch_size\" is 100", TD_ALGO_CLIPPED_PPO},
        {"{\"num_epochs\": 20}", "\"num_epochs\" is 20", TD_ALGO_CLIPPED_PPO},
        {"{\"lr\": 0.5}", "\"lr\" is 0.5", TD_ALGO_CLIPPED_PPO},
        {"{\"lr\": \"fast\"}", "\"lr\" must be a number", TD_ALGO_CLIPPED_PPO},
        {"{\"discount_factor\": 1.5}", "\"discount_factor\" is 1.5", TD_ALGO_CLIPPED_PPO},
        {"{\"loss_type\": \"l1\"}", "\"loss_type\" is \"l1\"", TD_ALGO_CLIPPED_PPO},
        {"{\"num_episodes_between_training\": 1}", "\"num_episodes_between_training\" is 1",
         TD_ALGO_CLIPPED_PPO},
        {"{\"exploration_type\": \"boltzmann\"}", "\"exploration_type\" is \"boltzmann\"",
         TD_ALGO_CLIPPED_PPO},
        {"{\"learning_rate\": 0.001}", "unknown hyperparameter \"learning_rate\"",
         TD_ALGO_CLIPPED_PPO},
        {"{\"num_epochs\": 3.5}", "\"num_epochs\" is 3.5, must be an integer", TD_ALGO_CLIPPED_PPO},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        td_hyperparams h;
        td_err err;
        int rc = td_hyperparams_load(&h, write_file("hyperparameters.json", cases[i].json),
                                     cases[i].algo, &err);
        TD_ASSERT_MSG(rc < 0, "case %zu accepted: %s", i, cases[i].json);
        TD_ASSERT_CONTAINS(err.msg, cases[i].expect);
        TD_ASSERT_CONTAINS(err.msg, "hyperparameters.json");
    }
    /* SAC allows one episode between training. */
    td_hyperparams h;
    td_err err;
    TD_ASSERT_OK(td_hyperparams_load(
        &h, write_file("hp.json", "{\"num_episodes_between_training\": 1}"), TD_ALGO_SAC, &err));
    TD_ASSERT_EQ_INT(h.num_episodes_between_training, 1);
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
    TD_ASSERT_OK(td_training_params_load(&p, write_file("tp.yaml", text), &err));
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
        &p, write_file("tp.yaml", "OBJECT_POSITIONS:\n  - \"0.5,1\"\n"), &err));
    TD_ASSERT_EQ_INT(p.race.number_of_obstacles, 1);
}

TD_TEST(training_params_bad_values_rejected)
{
    static const struct {
        const char *yaml, *expect;
    } cases[] = {
        {"RACE_TYPE: DRAG_RACE\n", "tp.yaml:1: RACE_TYPE is \"DRAG_RACE\""},
        {"A: 1\nNUMBER_OF_OBSTACLES: 9\n", "tp.yaml:2: NUMBER_OF_OBSTACLES is 9"},
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
        int rc = td_training_params_load(&p, write_file("tp.yaml", cases[i].yaml), &err);
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
    fputs("{}", f);
    fclose(f);
    TD_ASSERT_EQ_INT(td_model_dir_load(&d, dir, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "hyperparameters.json");
    TD_FMT(path, "%s/hyperparameters.json", dir);
    f = fopen(path, "w");
    fputs("{\"batch_size\": 32}", f);
    fclose(f);
    TD_ASSERT_OK(td_model_dir_load(&d, dir, &err));
    TD_ASSERT_EQ_INT(d.hyper.batch_size, 32);
    TD_ASSERT_EQ_INT(d.has_training_params, 0);
    TD_ASSERT_EQ_INT(d.has_reward_py, 0);
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
    TD_ASSERT_OK(td_model_metadata_load(&m, write_file("model_metadata.json", text), &err));
    json_t *j = td_model_metadata_to_json(&m);
    TD_ASSERT_OK(td_model_metadata_from_json(&back, j, "round trip", &err));
    json_decref(j);
    TD_ASSERT_EQ(memcmp(&m, &back, sizeof(m)), 0);
    td_model_metadata_default(&m);
    j = td_model_metadata_to_json(&m);
    TD_ASSERT_OK(td_model_metadata_from_json(&back, j, "round trip", &err));
    json_decref(j);
    TD_ASSERT_EQ(memcmp(&m, &back, sizeof(m)), 0);
}
