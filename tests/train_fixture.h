/*
 * train_fixture.h - the trainer tests' model directories and options (test_train,
 * test_distill): a STATE model with five actions, trained on the oval with the built-in
 * centre-line reward, and trackday init's hyperparameters. Header-only, like
 * telemetry_fixture.h.
 */
#ifndef TD_TRAIN_FIXTURE_H
#define TD_TRAIN_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "td_test.h"
#include "trackday/trainer.h"

static TD__UNUSED const char *OVAL = TD_TEST_SOURCE_DIR "/tracks/oval.json";

/* Five actions at 1 m/s, from full left to full right. */
#define FIVE_ACTIONS                                                                               \
    "\"action_space\": ["                                                                          \
    "{\"steering_angle\": -30, \"speed\": 1}, {\"steering_angle\": -15, \"speed\": 1},"            \
    "{\"steering_angle\": 0, \"speed\": 1}, {\"steering_angle\": 15, \"speed\": 1},"               \
    "{\"steering_angle\": 30, \"speed\": 1}]"

/* Version 5, as trackday init writes: DeepRacer's current car (without a version DeepRacer
 * takes the file for version 2, whose car turns and accelerates differently). */
static TD__UNUSED const char *STATE_META =
    "{\"version\": \"5\", \"sensor\": [\"STATE\"], \"neural_network\": \"MLP\", " FIVE_ACTIONS "}";

/* trackday init's values (DeepRacer's defaults for absent keys are discount 0.999 and the mean
 * squared error loss). */
static TD__UNUSED const char *INIT_HYPER =
    "{\"num_episodes_between_training\": 10, \"num_epochs\": 5, "
    "\"discount_factor\": 0.99, \"loss_type\": \"huber\"}";

/* A new model directory under the test's scratch directory (dir: 128 bytes) with this
 * metadata, hyperparameters and (unless NULL) reward function. */
static TD__UNUSED void make_model_dir(char *dir, const char *meta, const char *hyper,
                                      const char *reward_py)
{
    char path[512];
    int n = snprintf(dir, 128, "%s/m_XXXXXX", td_test_tmpdir());
    if (n <= 0 || n >= 128 || !mkdtemp(dir))
        TD_FAIL("mkdtemp");
    TD_FMT(path, "%s/model_metadata.json", dir);
    td_test_write(path, meta);
    TD_FMT(path, "%s/hyperparameters.json", dir);
    td_test_write(path, hyper);
    if (reward_py) {
        TD_FMT(path, "%s/reward_function.py", dir);
        td_test_write(path, reward_py);
    }
}

/* Training options for dir: the oval, the built-in centre-line reward, 8 envs, seed 7. */
static TD__UNUSED void train_options(td_train_options *o, const char *dir, int iterations)
{
    td_train_options_default(o);
    o->dir = dir;
    o->track_path = OVAL;
    o->reward_spec = "builtin:follow_center_line";
    o->max_iterations = iterations;
    o->envs = 8;
    o->seed = 7;
}

/* A STATE model directory with trackday init's hyperparameters, and its training options. */
static TD__UNUSED void init_values_model(char *dir, int iterations, td_train_options *o)
{
    make_model_dir(dir, STATE_META, INIT_HYPER, NULL);
    train_options(o, dir, iterations);
}

#endif
