/*
 * init.c - `trackday init DIR`: writes a working DeepRacer model directory
 * (model_metadata.json, hyperparameters.json, training_params.yaml, reward_function.py) with
 * a README.md that says what each setting does (JSON files cannot hold comments).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "trackday/core.h"
#include "trackday/modeldir.h"
#include "trackday/sim.h"
#include "trackday/track.h"

static const char about[] =
    "Writes a working model directory: model_metadata.json, hyperparameters.json, "
    "training_params.yaml, reward_function.py and README.md (which says what each setting "
    "does: JSON files cannot hold comments).";

/* The files init writes, in order. */
enum { F_META, F_HYPER, F_TRAINING, F_REWARD, F_README, N_FILES };
static const char *const FILE_NAMES[N_FILES] = {"model_metadata.json", "hyperparameters.json",
                                                "training_params.yaml", "reward_function.py",
                                                "README.md"};
/* What a training run leaves: moved aside with the replaced files by --force, so a new run
 * starts clean and nothing of the old one is lost. */
static const char *const RUN_DIRS[] = {"model", "ip",   "metrics", "training-simtrace",
                                       "logs",  "plots"};

static int join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return td__cli_fail("%s/%s: path too long", dir, name);
    return 0;
}

/* 1 if path holds exactly text. */
static int same_content(const char *path, const char *text)
{
    char *data;
    size_t len;
    if (td_file_read(path, &data, &len, NULL) != 0)
        return 0;
    int same = len == strlen(text) && memcmp(data, text, len) == 0;
    td_free(data);
    return same;
}

/*
 * --force over an existing directory: every file about to be replaced by different text, and
 * the previous run's model/, ip/, metrics/, training-simtrace/, logs/ and plots/, move into
 * DIR/previous-<time>/. Prints what moved; returns 0 or 1.
 */
static int move_aside(const char *dir, const char *const texts[N_FILES])
{
    const char *moving[N_FILES + 4];
    int n = 0;
    char src[4200], dst[4200], aside[4200], stamp[32];
    for (int i = 0; i < N_FILES; i++) {
        if (join(src, sizeof(src), dir, FILE_NAMES[i]))
            return 1;
        if (td_path_exists(src) && !same_content(src, texts[i]))
            moving[n++] = FILE_NAMES[i];
    }
    for (size_t i = 0; i < sizeof(RUN_DIRS) / sizeof(RUN_DIRS[0]); i++) {
        if (join(src, sizeof(src), dir, RUN_DIRS[i]))
            return 1;
        if (td_path_exists(src))
            moving[n++] = RUN_DIRS[i];
    }
    if (n == 0)
        return 0;
    time_t now = time(NULL);
    struct tm tmv;
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime_r(&now, &tmv));
    for (int k = 1;; k++) {
        int w = k == 1 ? snprintf(aside, sizeof(aside), "%s/previous-%s", dir, stamp)
                       : snprintf(aside, sizeof(aside), "%s/previous-%s-%d", dir, stamp, k);
        if (w < 0 || (size_t)w >= sizeof(aside))
            return td__cli_fail("%s: path too long", dir);
        if (mkdir(aside, 0755) == 0)
            break;
        if (errno != EEXIST)
            return td__cli_fail("%s: cannot create directory: %s", aside, strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        if (join(src, sizeof(src), dir, moving[i]) || join(dst, sizeof(dst), aside, moving[i]))
            return 1;
        if (rename(src, dst) != 0)
            return td__cli_fail("cannot move %s to %s: %s", src, dst, strerror(errno));
    }
    printf("moved aside to %s/:", aside);
    for (int i = 0; i < n; i++)
        printf(" %s%s", moving[i], i < N_FILES && strchr(moving[i], '.') ? "" : "/");
    printf("\n");
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

/* The first lines of the racing-line reward init writes (td__racing_line_reward adds the
 * rest). */
static const char REWARD_LINE_INTRO[] =
    "# reward_function.py - what the car is paid for at every step (DeepRacer's contract:\n"
    "# reward_function(params) returns a float). trackday calls it 15 times per simulated\n"
    "# second for every car. Change it, then train again and compare (trackday plot DIR).\n"
    "#\n"
    "# Written by trackday init for this model's track: it pays for driving the track's\n"
    "# racing line (the minimum-time line of `trackday tracks racing-line`) at its speed,\n"
    "# per metre driven, plus a bonus at the end of a lap that grows as the lap nears the\n"
    "# line's time. The line is for this track only: for another track, run\n"
    "# `trackday tracks racing-line TRACK --reward reward_function.py` (or init --force).\n"
    "# `trackday init --reward centre-line` writes the simpler centre-line reward.\n"
    "\n";

/*
 * The racing-line reward for track t (td_car_config_default's car: version 5, DeepRacer's
 * current physics), or NULL with a message.
 */
static char *line_reward(const td_track *t)
{
    td_car_config car;
    td_car_config_default(&car);
    td_racing_options ro;
    td_racing_options_default(&ro, &car);
    td_racing_line rl;
    td_err err = {0};
    td__cli_status("computing the racing line of %s for reward_function.py", t->name);
    int rc = td_racing_line_compute(&rl, t, &car, &ro, &err);
    td__cli_status_done();
    if (rc) {
        td__cli_fail("--reward racing-line: %s", err.msg);
        return NULL;
    }
    char *text = td__racing_line_reward(t, &rl, REWARD_LINE_INTRO, &err);
    td_racing_line_free(&rl);
    if (!text)
        td__cli_fail("%s", err.msg);
    return text;
}

/* Writes the files (moving the replaced ones aside with --force). */
static int write_files(const char *dir, const char *const texts[N_FILES], int force)
{
    char path[4200];
    td_err err;
    if (td_mkdir_p(dir, &err))
        return td__cli_fail("%s", err.msg);
    if (force && move_aside(dir, texts))
        return 1;
    for (int i = 0; i < N_FILES; i++) {
        if (join(path, sizeof(path), dir, FILE_NAMES[i]))
            return 1;
        if (td_file_write_atomic(path, texts[i], strlen(texts[i]), &err))
            return td__cli_fail("%s", err.msg);
    }
    return 0;
}

static const char *HYPER_JSON = "{\n"
                                "  \"batch_size\": 64,\n"
                                "  \"beta_entropy\": 0.01,\n"
                                "  \"discount_factor\": 0.99,\n"
                                "  \"e_greedy_value\": 0.05,\n"
                                "  \"epsilon_steps\": 10000,\n"
                                "  \"exploration_type\": \"categorical\",\n"
                                "  \"loss_type\": \"%s\",\n"
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
    "  heading error, distance to the borders, curvature ahead) which learns in minutes but\n"
    "  which DeepRacer cannot load (`trackday init --sensor state`). The default is the\n"
    "  DeepRacer console's: one camera and the shallow network.\n"
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
    "shows what it pays along a lap. See docs/rewards.md for every `params` key.\n"
    "On a DeepRacer route init writes the racing-line reward: it pays per metre for driving\n"
    "the track's minimum-time line at its speed (the line is in the file, for that track\n"
    "only; `trackday tracks racing-line T --reward reward_function.py` writes it for another\n"
    "track). On trackday's own tracks, or with `init --reward centre-line`, it pays per step\n"
    "for staying near the centre line and driving fast: quick to learn, slower laps.\n\n"
    "## What training writes\n"
    "`model/last.tdm` and `model/best.tdm` (checkpoints), `model/last.state` (to resume),\n"
    "`metrics/training.jsonl` (one line per iteration), `logs/` (simtrace CSV, errors).\n";

static int cmd_init(int argc, char **argv)
{
    /* The DeepRacer on AWS console's new model (source/apps/website/src/pages/CreateModel/
     * constants.ts, initialFormValues): A to Z Speedway clockwise, which DeepRacer's simulator
     * runs as the route reInvent2019_wide_cw (yaml_file.py _update_world_name). */
    const char *dir = NULL, *sensor = "camera", *algo = "ppo", *track = "reInvent2019_wide_cw";
    const char *reward = "auto";
    int force = 0, continuous = 0, discrete = 0, fast = 0;
    char meta[4096];
    td_err err;

    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR", &dir, "the directory to write (created if needed)"),
        TD_CLI_CHOICE("--sensor", &sensor, "camera|stereo|lidar|state",
                      "camera (default: DeepRacer's console default, FRONT_FACING_CAMERA with "
                      "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW), stereo, lidar (camera + LIDAR), or "
                      "state (trackday extension: a track-relative sensor with an MLP that "
                      "learns in minutes; DeepRacer cannot load it)"),
        TD_CLI_CHOICE("--algo", &algo, "ppo|sac",
                      "ppo (default, clipped PPO) or sac (continuous actions only)"),
        TD_CLI_FLAG("--continuous", &continuous,
                    "a continuous action space (the default, as the console's: steering "
                    "-10..10 degrees, speed 1..2 m/s)"),
        TD_CLI_FLAG("--discrete", &discrete,
                    "PPO with the console's discrete action space: steering -30, -15, 0, 15, "
                    "30 degrees at 0.5 and 1 m/s (10 actions)"),
        TD_CLI_FLAG("--fast-actions", &fast,
                    "trackday extension: faster actions (discrete: the same steering at 1.5 "
                    "and 3 m/s; continuous: steering -30..30 degrees, speed 0.8..2.5 m/s)"),
        TD_CLI_STRING(NULL, "--track", &track, "T",
                      "the track to train on (WORLD_NAME): a track name (trackday tracks "
                      "list) or a .npy/.json path; default: the console's, "
                      "reInvent2019_wide_cw (A to Z Speedway clockwise); `default` is "
                      "trackday's kidney"),
        TD_CLI_CHOICE("--reward", &reward, "auto|racing-line|centre-line",
                      "reward_function.py: racing-line (pays per metre for driving the track's "
                      "racing line at its speed, computed for the track now), centre-line (pays "
                      "per step for the centre and speed), or auto (default: racing-line on a "
                      "DeepRacer route whose file is on the track search path, centre-line on "
                      "trackday's own tracks and when the route's file is not found)"),
        TD_CLI_FLAG("--force", &force,
                    "replace existing files; the replaced ones and the previous run's model/, "
                    "ip/, metrics/, training-simtrace/, logs/ and plots/ move into "
                    "DIR/previous-<time>/"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "init", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (td_model_dir_check(dir, &err))
        return td__cli_fail("%s", err.msg);
    if (discrete && continuous)
        return td__cli_fail("--discrete and --continuous: choose one");
    if (discrete && !strcmp(algo, "sac"))
        return td__cli_fail("--discrete: SAC needs a continuous action space");
    /* A misspelt or undrivable track fails now, not at the first `train`; one of DeepRacer's
     * routes may be added to the track search path later (its files are DeepRacer's). */
    char track_path[4096];
    td_track t;
    int route_missing = 0;
    int have_track = 0;
    int want_line = !strcmp(reward, "racing-line");
    if (td__cli_track_path_quiet(track, NULL, track_path, sizeof(track_path)) != 0 &&
        td_deepracer_route_known(track)) {
        if (want_line)
            return td__cli_fail("--reward racing-line: the route %s is not on the track search "
                                "path (put its .npy file in a folder of --tracks-dir or "
                                "TRACKDAY_TRACKS)",
                                track);
        route_missing = 1; /* said after the files are written, with the command that fetches it */
    } else {
        if (td__cli_track_path(track, track_path, sizeof(track_path)))
            return 1;
        if (td_track_load(&t, track_path, &err))
            return td__cli_fail("%s", err.msg);
        have_track = 1;
        /* auto: a DeepRacer route (by name or a .npy file) that is a loop gets its racing
         * line; trackday's own small tracks keep the centre-line reward of the quick start. */
        size_t tl = strlen(track_path);
        int route =
            td_deepracer_route_known(track) || (tl > 4 && !strcmp(track_path + tl - 4, ".npy"));
        if (!strcmp(reward, "auto") && route && t.closed)
            want_line = 1;
    }
    /* The racing line is computed on this same load of the route (below, once the files
     * may be written). */
    if (have_track && !want_line) {
        td_track_free(&t);
        have_track = 0;
    }
    continuous = !discrete;

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
        if (have_track)
            td_track_free(&t);
        return td__cli_fail("--sensor: '%s' must be state, camera, stereo or lidar", sensor);
    }

    if (!continuous) {
        /* The console's discrete grid (computeDiscreteActionSpace(30, 5, 1, 2) in
         * CreateModel/constants.ts): for each steering angle, speeds max/2 and max. */
        static const double steer[5] = {-30, -15, 0, 15, 30};
        double top = fast ? 3.0 : 1.0;
        size_t n = 0;
        n += (size_t)snprintf(meta + n, sizeof(meta) - n, "{\n  \"action_space\": [\n");
        /* --fast-actions keeps trackday's old order too (all five angles at the lower speed
         * first), so its models train as before. */
        for (int k = 0; k < 10; k++) {
            int a = fast ? k % 5 : k / 2, s = fast ? k / 5 + 1 : k % 2 + 1;
            n += (size_t)snprintf(meta + n, sizeof(meta) - n,
                                  "    {\"steering_angle\": %g, \"speed\": %g, \"index\": "
                                  "%d}%s\n",
                                  steer[a], top * s / 2.0, k, k == 9 ? "" : ",");
        }
        snprintf(meta + n, sizeof(meta) - n,
                 "  ],\n  \"action_space_type\": \"discrete\",\n  \"sensor\": %s,\n"
                 "  \"neural_network\": \"%s\",\n  \"training_algorithm\": \"clipped_ppo\",\n"
                 "  \"version\": \"5\"\n}\n",
                 sensors, network);
    } else {
        /* The console's continuous default (initialFormValues.metadata.actionSpace). */
        snprintf(meta, sizeof(meta),
                 "{\n  \"action_space\": {\n    \"steering_angle\": {\"low\": %d, \"high\": %d},\n"
                 "    \"speed\": {\"low\": %g, \"high\": %g}\n  },\n"
                 "  \"action_space_type\": \"continuous\",\n  \"sensor\": %s,\n"
                 "  \"neural_network\": \"%s\",\n  \"training_algorithm\": \"%s\",\n"
                 "  \"version\": \"5\"\n}\n",
                 fast ? -30 : -10, fast ? 30 : 10, fast ? 0.8 : 1.0, fast ? 2.5 : 2.0, sensors,
                 network, !strcmp(algo, "sac") ? "sac" : "clipped_ppo");
    }

    char hyper[2048], training[4096], readme[8192];
    /* The console's PPO and SAC defaults (DEFAULT_PPO_HYPERPARAMETERS,
     * DEFAULT_SAC_HYPERPARAMETERS): SAC trains 1 episode per iteration with the mean squared
     * error loss. */
    int sac = !strcmp(algo, "sac");
    int nh = snprintf(hyper, sizeof(hyper), HYPER_JSON, sac ? "mean squared error" : "huber",
                      sac ? 1 : 20, 10);
    int nt = snprintf(
        training, sizeof(training),
        "# training_params.yaml - the world the car trains in (DeepRacer's keys).\n"
        "\n"
        "# The track: a shipped track name (trackday tracks list), a DeepRacer route\n"
        "# name, or a path to a .npy or .json route file. The DeepRacer console's default\n"
        "# is A to Z Speedway clockwise, the route reInvent2019_wide_cw (its file is\n"
        "# DeepRacer's: put it on the track search path, see trackday train --help).\n"
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
        "# practises every part of the track. Every car starts the first episode at\n"
        "# START_POSITION_OFFSET (a fraction of the lap), as every DeepRacer worker does\n"
        "# (trackday train --spread-starts spreads its cars over the lap instead).\n"
        "CHANGE_START_POSITION: true\n"
        "ROUND_ROBIN_ADVANCE_DIST: 0.05\n"
        "START_POSITION_OFFSET: 0.0\n"
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
    int nr = snprintf(readme, sizeof(readme), README_MD, dir, dir);
    if (nh < 0 || (size_t)nh >= sizeof(hyper) || nt < 0 || (size_t)nt >= sizeof(training) ||
        nr < 0 || (size_t)nr >= sizeof(readme)) {
        if (have_track)
            td_track_free(&t);
        return td__cli_fail("%s: the directory or track name is too long", dir);
    }
    const char *texts[N_FILES] = {meta, hyper, training, REWARD_PY, readme};
    char path[4200];

    /* Nothing is written unless everything can be. */
    if (!force)
        for (int i = 0; i < N_FILES; i++) {
            int exists = join(path, sizeof(path), dir, FILE_NAMES[i]) ? -1 : td_path_exists(path);
            if (exists && have_track)
                td_track_free(&t);
            if (exists < 0)
                return 1;
            if (exists)
                return td__cli_fail("%s exists (use --force to replace the files; the old ones "
                                    "and any trained model are moved aside, not deleted)",
                                    path);
        }
    char *line_text = NULL;
    if (want_line) {
        line_text = line_reward(&t);
        td_track_free(&t);
        if (!line_text)
            return 1;
        texts[F_REWARD] = line_text;
    }
    int rc = write_files(dir, texts, force);
    td_free(line_text);
    if (rc)
        return rc;
    printf("wrote %s/: model_metadata.json (%s sensor, %s), hyperparameters.json, "
           "training_params.yaml (track %s%s%s), reward_function.py (%s), README.md\n",
           dir, sensor,
           !strcmp(algo, "sac") ? "SAC, continuous"
           : continuous         ? "PPO, continuous"
                                : "PPO, discrete",
           track, strcmp(track, "default") ? "" : ": ",
           strcmp(track, "default") ? "" : td__cli_default_track(),
           want_line ? "the track's racing line" : "centre line and speed");
    if (route_missing) {
        fflush(stdout);
        fprintf(stderr,
                "trackday init: note: WORLD_NAME %s is DeepRacer's route, not on the track "
                "search path yet (trackday does not ship DeepRacer's route files)\n",
                track);
        td__cli_route_fetch_hint("trackday init", track, dir);
        fprintf(stderr,
                "or pass --track with a track trackday has (trackday tracks list; "
                "`default` is %s)\n",
                td__cli_default_track());
        if (!strcmp(reward, "auto"))
            fprintf(stderr, "trackday init: note: so reward_function.py pays for the centre "
                            "line; with the route's file on the search path, init --force "
                            "writes the racing-line reward for it\n");
    }
    char word[8300];
    printf("next: trackday train %s\n", td__cli_shell_word(dir, word, sizeof(word)));
    return 0;
}

TD_CLI_COMMAND("init", "write a working model directory (DeepRacer's files)", cmd_init)
