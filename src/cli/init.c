/*
 * init.c - `trackday init DIR`: writes a working DeepRacer model directory
 * (model_metadata.json, hyperparameters.json, training_params.yaml, reward_function.py) with
 * a README.md that says what each setting does (JSON files cannot hold comments).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/core.h"
#include "trackday/track.h"

static const char about[] =
    "Writes a working model directory: model_metadata.json, hyperparameters.json, "
    "training_params.yaml, reward_function.py and README.md (which says what each setting "
    "does: JSON files cannot hold comments).";

static int write_text(const char *dir, const char *name, const char *text, int force)
{
    char path[1200];
    td_err err;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!force && td_path_exists(path))
        return td__cli_fail("%s exists (use --force to overwrite)", path);
    if (td_file_write_atomic(path, text, strlen(text), &err))
        return td__cli_fail("%s", err.msg);
    return 0;
}

static const char *REWARD_PY =
    "# reward_function.py - what the car is paid for at every step (DeepRacer's contract:\n"
    "# reward_function(params) returns a float). trackday calls it 15 times per simulated\n"
    "# second for every car. Change it, then train again and compare (trackday plot DIR).\n"
    "#\n"
    "# This one teaches two things at once: stay near the centre line (a safe line that\n"
    "# the car can learn quickly) and drive fast (so laps get shorter).\n"
    "\n"
    "\n"
    "def reward_function(params):\n"
    "    # Leaving the track ends the episode; pay almost nothing for the step that did it.\n"
    "    if not params[\"all_wheels_on_track\"]:\n"
    "        return 1e-3\n"
    "\n"
    "    # 1 on the centre line, falling to 0 at the border.\n"
    "    half_width = 0.5 * params[\"track_width\"]\n"
    "    centred = 1.0 - min(params[\"distance_from_center\"] / half_width, 1.0)\n"
    "\n"
    "    # Faster actions earn more (speed is the commanded speed, m/s).\n"
    "    fast = params[\"speed\"] / 4.0\n"
    "\n"
    "    return float(0.2 + centred + fast)\n";

static const char *HYPER_JSON = "{\n"
                                "  \"batch_size\": 64,\n"
                                "  \"beta_entropy\": 0.01,\n"
                                "  \"discount_factor\": 0.99,\n"
                                "  \"e_greedy_value\": 0.05,\n"
                                "  \"epsilon_steps\": 10000,\n"
                                "  \"exploration_type\": \"categorical\",\n"
                                "  \"loss_type\": \"huber\",\n"
                                "  \"lr\": 0.0003,\n"
                                "  \"num_episodes_between_training\": %d,\n"
                                "  \"num_epochs\": %d,\n"
                                "  \"stack_size\": 1,\n"
                                "  \"term_cond_avg_score\": 100000.0,\n"
                                "  \"term_cond_max_episodes\": 100000,\n"
                                "  \"sac_alpha\": 0.2\n"
                                "}\n";

static const char *README_MD =
    "# A trackday model directory\n\n"
    "Made by `trackday init`. The files are DeepRacer's, so a DeepRacer model directory works\n"
    "here too. Train with `trackday train %s`, then `trackday eval %s`.\n\n"
    "## model_metadata.json (the car and its brain)\n"
    "- `action_space`: what the car can do. Discrete: a list of (steering_angle degrees, +\n"
    "  = left; speed m/s) pairs the network chooses from. Continuous: `low`/`high` ranges.\n"
    "- `action_space_type`: `discrete` or `continuous`.\n"
    "- `training_algorithm`: `clipped_ppo` or `sac` (continuous only).\n"
    "- `sensor`: `FRONT_FACING_CAMERA` (DeepRacer's 160x120 grey camera), `STEREO_CAMERAS`,\n"
    "  `LIDAR` added to a camera, or trackday's `STATE` (track-relative numbers: speed,\n"
    "  heading error, distance to the borders, curvature ahead) which learns in minutes.\n"
    "- `neural_network`: `DEEP_CONVOLUTIONAL_NETWORK_SHALLOW` (3 conv layers), `..._NETWORK`,\n"
    "  `..._DEEP`; `MLP` for the STATE sensor.\n\n"
    "## hyperparameters.json (how it learns)\n"
    "- `batch_size` (32-512): samples per gradient step. `num_epochs` (3-10): passes over\n"
    "  the collected experience per iteration. `lr`: learning rate (1e-8 - 1e-3).\n"
    "- `beta_entropy` (0-1): bonus for keeping options open (exploration).\n"
    "- `discount_factor` (0-1): how much future reward counts; 0.99 looks ~100 steps ahead.\n"
    "- `loss_type`: `huber` or `mean squared error` (value network).\n"
    "- `num_episodes_between_training` (5-100; SAC 1+): episodes collected per iteration.\n"
    "- `sac_alpha`: SAC's entropy temperature. `term_cond_max_episodes`: training stops\n"
    "  after this many episodes. `term_cond_avg_score` is read and, as in DeepRacer, never\n"
    "  stops training (`trackday train --until-score R` does).\n"
    "- `exploration_type`: `categorical` (sample the policy) or `e-greedy` (a random action\n"
    "  with probability epsilon, falling from 1 to `e_greedy_value` over `epsilon_steps`).\n\n"
    "## training_params.yaml (the world)\n"
    "Commented in place: the track (`WORLD_NAME`), race type, obstacles, bots, direction.\n\n"
    "## reward_function.py (what the car is paid for)\n"
    "DeepRacer's contract: `reward_function(params)` returns a float. `trackday reward check\n"
    "reward_function.py` tests it; `trackday reward explain reward_function.py --track T`\n"
    "shows what it pays along a lap. See docs/rewards.md for every `params` key.\n\n"
    "## What training writes\n"
    "`model/last.tdm` and `model/best.tdm` (checkpoints), `model/last.state` (to resume),\n"
    "`metrics/training.jsonl` (one line per iteration), `logs/` (simtrace CSV, errors).\n";

static int cmd_init(int argc, char **argv)
{
    const char *dir = NULL, *sensor = "state", *algo = "ppo", *track = "default";
    int force = 0, continuous = 0;
    char buf[8192], meta[4096];
    td_err err;

    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR", &dir, "the directory to write (created if needed)"),
        TD_CLI_CHOICE("--sensor", &sensor, "state|camera|stereo|lidar",
                      "state (default: trackday's fast track-relative sensor), camera "
                      "(DeepRacer's FRONT_FACING_CAMERA), stereo, or lidar (camera + LIDAR)"),
        TD_CLI_CHOICE("--algo", &algo, "ppo|sac",
                      "ppo (default, discrete actions) or sac (continuous actions)"),
        TD_CLI_FLAG("--continuous", &continuous, "PPO with a continuous action space"),
        TD_CLI_STRING(NULL, "--track", &track, "T",
                      "the track to train on (WORLD_NAME): a track name (trackday tracks "
                      "list) or a .npy/.json path; default: default"),
        TD_CLI_FLAG("--force", &force, "overwrite existing files"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "init", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    /* A misspelt or undrivable track fails now, not at the first `train`. */
    char track_path[4096];
    td_track t;
    if (td__cli_track_path(track, track_path, sizeof(track_path)))
        return 1;
    if (td_track_load(&t, track_path, &err))
        return td__cli_fail("%s", err.msg);
    td_track_free(&t);
    if (!strcmp(algo, "sac"))
        continuous = 1;

    const char *sensors, *network;
    if (!strcmp(sensor, "state")) {
        sensors = "[\"STATE\"]";
        network = "MLP";
    } else if (!strcmp(sensor, "camera")) {
        sensors = "[\"FRONT_FACING_CAMERA\"]";
        network = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW";
    } else if (!strcmp(sensor, "stereo")) {
        sensors = "[\"STEREO_CAMERAS\"]";
        network = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW";
    } else if (!strcmp(sensor, "lidar")) {
        sensors = "[\"FRONT_FACING_CAMERA\", \"LIDAR\"]";
        network = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW";
    } else {
        return td__cli_fail("--sensor: '%s' must be state, camera, stereo or lidar", sensor);
    }

    if (!continuous) {
        /* Five steering angles at two speeds, like DeepRacer's console default but faster. */
        static const double steer[5] = {-30, -15, 0, 15, 30}, speed[2] = {1.5, 3.0};
        size_t n = 0;
        n += (size_t)snprintf(meta + n, sizeof(meta) - n, "{\n  \"action_space\": [\n");
        for (int s = 0, k = 0; s < 2; s++)
            for (int a = 0; a < 5; a++, k++)
                n += (size_t)snprintf(meta + n, sizeof(meta) - n,
                                      "    {\"steering_angle\": %g, \"speed\": %g, \"index\": "
                                      "%d}%s\n",
                                      steer[a], speed[s], k, k == 9 ? "" : ",");
        snprintf(meta + n, sizeof(meta) - n,
                 "  ],\n  \"action_space_type\": \"discrete\",\n  \"sensor\": %s,\n"
                 "  \"neural_network\": \"%s\",\n  \"training_algorithm\": \"clipped_ppo\",\n"
                 "  \"version\": \"5\"\n}\n",
                 sensors, network);
    } else {
        snprintf(meta, sizeof(meta),
                 "{\n  \"action_space\": {\n    \"steering_angle\": {\"low\": -30, \"high\": 30},\n"
                 "    \"speed\": {\"low\": 0.8, \"high\": 2.5}\n  },\n"
                 "  \"action_space_type\": \"continuous\",\n  \"sensor\": %s,\n"
                 "  \"neural_network\": \"%s\",\n  \"training_algorithm\": \"%s\",\n"
                 "  \"version\": \"5\"\n}\n",
                 sensors, network, !strcmp(algo, "sac") ? "sac" : "clipped_ppo");
    }

    if (td_mkdir_p(dir, &err))
        return td__cli_fail("%s", err.msg);
    if (write_text(dir, "model_metadata.json", meta, force))
        return 1;
    snprintf(buf, sizeof(buf), HYPER_JSON, !strcmp(algo, "sac") ? 1 : 20, 10);
    if (write_text(dir, "hyperparameters.json", buf, force))
        return 1;
    snprintf(buf, sizeof(buf),
             "# training_params.yaml - the world the car trains in (DeepRacer's keys).\n"
             "\n"
             "# The track: a shipped track name (trackday tracks list), a DeepRacer route\n"
             "# name, or a path to a .npy or .json route file.\n"
             "WORLD_NAME: %s\n"
             "\n"
             "# TIME_TRIAL (alone on the track), OBJECT_AVOIDANCE (boxes on the lanes) or\n"
             "# HEAD_TO_BOT (slower bot cars to overtake).\n"
             "RACE_TYPE: TIME_TRIAL\n"
             "\n"
             "# Drive the track the other way round, or alternate every episode.\n"
             "REVERSE_DIR: false\n"
             "ALTERNATE_DRIVING_DIRECTION: false\n"
             "\n"
             "# Each training episode starts 5%% of a lap further on (round robin), so the car\n"
             "# practises every part of the track.\n"
             "CHANGE_START_POSITION: true\n"
             "ROUND_ROBIN_ADVANCE_DIST: 0.05\n"
             "\n"
             "# Obstacles (0.4 x 0.5 m boxes) and bot cars are spawned by these counts in\n"
             "# every race type, as in DeepRacer: 0 for a time trial. The console's object\n"
             "# avoidance had 3 obstacles (up to 6), its head-to-bot 3 bots (up to 4).\n"
             "# Obstacles stand from MIN_DISTANCE_BETWEEN_OBSTACLES percent of the lap to 1 m\n"
             "# before its end, alternating lanes (inner first) unless randomized.\n"
             "NUMBER_OF_OBSTACLES: 0\n"
             "RANDOMIZE_OBSTACLE_LOCATIONS: false\n"
             "MIN_DISTANCE_BETWEEN_OBSTACLES: 2.0\n"
             "\n"
             "# Bots start from MIN_DISTANCE_BETWEEN_BOT_CARS metres past the start line;\n"
             "# speed in m/s, lane changes.\n"
             "NUMBER_OF_BOT_CARS: 0\n"
             "BOT_CAR_SPEED: 0.2\n"
             "IS_LANE_CHANGE: false\n"
             "LOWER_LANE_CHANGE_TIME: 3.0\n"
             "UPPER_LANE_CHANGE_TIME: 5.0\n"
             "LANE_CHANGE_DISTANCE: 1.0\n"
             "\n"
             "# Vary lighting and colours (helps a camera model transfer to a real room).\n"
             "ENABLE_DOMAIN_RANDOMIZATION: false\n",
             track);
    if (write_text(dir, "training_params.yaml", buf, force))
        return 1;
    if (write_text(dir, "reward_function.py", REWARD_PY, force))
        return 1;
    snprintf(buf, sizeof(buf), README_MD, dir, dir);
    if (write_text(dir, "README.md", buf, force))
        return 1;
    printf("wrote %s/: model_metadata.json (%s sensor, %s), hyperparameters.json, "
           "training_params.yaml (track %s), reward_function.py, README.md\n",
           dir, sensor,
           !strcmp(algo, "sac") ? "SAC, continuous"
           : continuous         ? "PPO, continuous"
                                : "PPO, discrete",
           track);
    printf("next: trackday train %s\n", dir);
    return 0;
}

TD_CLI_COMMAND("init", "write a working model directory (DeepRacer's files)", cmd_init)
