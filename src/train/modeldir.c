/*
 * modeldir.c - reads a DeepRacer model directory's configuration files with DeepRacer's
 * defaults and ranges (DEEPRACER.md sections 5, 7, 8). Every rejection names the file and key.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "trackday/json.h"
#include "trackday/modeldir.h"

/* ==================================================================================== */
/* Names                                                                                */
/* ==================================================================================== */

const char *td_camera_sensor_name(td_camera_sensor s)
{
    switch (s) {
    case TD_CAMERA_FRONT:
        return "FRONT_FACING_CAMERA";
    case TD_CAMERA_STEREO:
        return "STEREO_CAMERAS";
    case TD_CAMERA_LEFT:
        return "LEFT_CAMERA";
    default:
        return "NONE";
    }
}

const char *td_lidar_sensor_name(td_lidar_sensor s)
{
    switch (s) {
    case TD_LIDAR_CLIPPED:
        return "LIDAR";
    case TD_LIDAR_SECTOR:
        return "SECTOR_LIDAR";
    case TD_LIDAR_DISCRETIZED:
        return "DISCRETIZED_SECTOR_LIDAR";
    default:
        return "NONE";
    }
}

const char *td_network_name(td_network_kind n)
{
    switch (n) {
    case TD_NET_SHALLOW:
        return "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW";
    case TD_NET_STANDARD:
        return "DEEP_CONVOLUTIONAL_NETWORK";
    case TD_NET_DEEP:
        return "DEEP_CONVOLUTIONAL_NETWORK_DEEP";
    case TD_NET_MLP:
        return "MLP";
    }
    return "?";
}

const char *td_algorithm_name(td_algorithm a)
{
    return a == TD_ALGO_SAC ? "sac" : "clipped_ppo";
}

/* ==================================================================================== */
/* model_metadata.json                                                                  */
/* ==================================================================================== */

void td_model_metadata_default(td_model_metadata *m)
{
    static const double steer[5] = {-30, -15, 0, 15, 30};
    static const double speed[2] = {0.4, 0.8};
    memset(m, 0, sizeof(*m));
    m->action_space_type = TD_ACTIONS_DISCRETE;
    for (int s = 0; s < 2; s++)
        for (int a = 0; a < 5; a++) {
            m->actions[m->n_actions].steering_deg = steer[a];
            m->actions[m->n_actions].speed_mps = speed[s];
            m->n_actions++;
        }
    m->steering_low = -30;
    m->steering_high = 30;
    m->speed_low = 0.5;
    m->speed_high = 1.0;
    m->algorithm = TD_ALGO_CLIPPED_PPO;
    m->camera = TD_CAMERA_FRONT;
    m->lidar = TD_LIDAR_NONE;
    m->network = TD_NET_SHALLOW;
    m->version = 5;
    m->lidar_num_sectors = 8;
    m->lidar_values_per_sector = 8;
    m->lidar_clipping_dist = 2.0;
}

/* Reads one action-space bound pair {"low": a, "high": b} with low < high inside [lo, hi]. */
static int read_bounds(const json_t *space, const char *key, double lo, double hi, double *low,
                       double *high, const char *path, td_err *err)
{
    const json_t *o = json_object_get(space, key);
    char full[96];
    int rc;
    if (!json_is_object(o))
        return td_err_set(
            err, TD_EFORMAT,
            "%s: \"action_space\".\"%s\" must be an object {\"low\": .., \"high\": ..}"
            " for a continuous action space",
            path, key);
    snprintf(full, sizeof(full), "action_space.%s.low", key);
    if (!json_object_get(o, "low") || !json_object_get(o, "high"))
        return td_err_set(err, TD_EFORMAT, "%s: \"action_space\".\"%s\" needs \"low\" and \"high\"",
                          path, key);
    rc = td_json_get_number(o, "low", 0, lo, hi, low, path, err);
    if (!rc)
        rc = td_json_get_number(o, "high", 0, lo, hi, high, path, err);
    if (rc)
        return td_err_prefix(err, rc, "%s: ", full);
    if (!(*low < *high))
        return td_err_set(err, TD_ERANGE,
                          "%s: \"action_space\".\"%s\": low (%g) must be less than high (%g)", path,
                          key, *low, *high);
    return 0;
}

static int read_action_space(td_model_metadata *m, const json_t *root, const char *path,
                             td_err *err)
{
    const json_t *space = json_object_get(root, "action_space");
    if (!space)
        return 0;
    if (m->action_space_type == TD_ACTIONS_CONTINUOUS) {
        int rc = read_bounds(space, "steering_angle", -30, 30, &m->steering_low, &m->steering_high,
                             path, err);
        if (!rc)
            rc = read_bounds(space, "speed", 0.1, 4.0, &m->speed_low, &m->speed_high, path, err);
        return rc;
    }
    if (!json_is_array(space))
        return td_err_set(err, TD_EFORMAT,
                          "%s: \"action_space\" must be a list of {\"steering_angle\", \"speed\"} "
                          "for a discrete action space (or set \"action_space_type\": "
                          "\"continuous\")",
                          path);
    size_t n = json_array_size(space);
    if (n < 2 || n > TD_MAX_ACTIONS)
        return td_err_set(err, TD_ERANGE, "%s: \"action_space\" has %zu actions, must have 2 to %d",
                          path, n, TD_MAX_ACTIONS);
    m->n_actions = (int)n;
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(space, i);
        char what[1200];
        int rc;
        snprintf(what, sizeof(what), "%s: action_space[%zu]", path, i);
        if (!json_is_object(a))
            return td_err_set(err, TD_EFORMAT, "%s must be an object", what);
        if (!json_object_get(a, "steering_angle") || !json_object_get(a, "speed"))
            return td_err_set(err, TD_EFORMAT, "%s needs \"steering_angle\" and \"speed\"", what);
        rc = td_json_get_number(a, "steering_angle", 0, -30, 30, &m->actions[i].steering_deg, what,
                                err);
        if (!rc)
            rc = td_json_get_number(a, "speed", 0, 0.1, 4.0, &m->actions[i].speed_mps, what, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int read_sensors(td_model_metadata *m, const json_t *root, const char *path, td_err *err)
{
    const json_t *list = json_object_get(root, "sensor");
    if (!list)
        return 0;
    if (!json_is_array(list) || json_array_size(list) == 0)
        return td_err_set(err, TD_EFORMAT, "%s: \"sensor\" must be a non-empty list of names",
                          path);
    m->camera = TD_CAMERA_NONE;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *v = json_array_get(list, i);
        const char *s = json_string_value(v);
        td_camera_sensor cam = TD_CAMERA_NONE;
        td_lidar_sensor lid = TD_LIDAR_NONE;
        if (!s)
            return td_err_set(err, TD_EFORMAT, "%s: \"sensor\"[%zu] must be a string", path, i);
        if (strcmp(s, "FRONT_FACING_CAMERA") == 0)
            cam = TD_CAMERA_FRONT;
        else if (strcmp(s, "STEREO_CAMERAS") == 0)
            cam = TD_CAMERA_STEREO;
        else if (strcmp(s, "LEFT_CAMERA") == 0)
            cam = TD_CAMERA_LEFT;
        else if (strcmp(s, "LIDAR") == 0)
            lid = TD_LIDAR_CLIPPED;
        else if (strcmp(s, "SECTOR_LIDAR") == 0)
            lid = TD_LIDAR_SECTOR;
        else if (strcmp(s, "DISCRETIZED_SECTOR_LIDAR") == 0)
            lid = TD_LIDAR_DISCRETIZED;
        else if (strcmp(s, "STATE") == 0) {
            m->state_sensor = 1;
            continue;
        } else
            return td_err_set(err, TD_EINVAL,
                              "%s: \"sensor\": unknown sensor \"%s\" (known: FRONT_FACING_CAMERA, "
                              "STEREO_CAMERAS, LEFT_CAMERA, LIDAR, SECTOR_LIDAR, "
                              "DISCRETIZED_SECTOR_LIDAR, STATE)",
                              path, s);
        if (cam != TD_CAMERA_NONE) {
            if (m->camera != TD_CAMERA_NONE)
                return td_err_set(err, TD_EINVAL, "%s: \"sensor\": at most one camera (%s and %s)",
                                  path, td_camera_sensor_name(m->camera), s);
            m->camera = cam;
        }
        if (lid != TD_LIDAR_NONE) {
            if (m->lidar != TD_LIDAR_NONE)
                return td_err_set(err, TD_EINVAL, "%s: \"sensor\": at most one lidar (%s and %s)",
                                  path, td_lidar_sensor_name(m->lidar), s);
            m->lidar = lid;
        }
    }
    if (m->camera == TD_CAMERA_NONE && !m->state_sensor)
        return td_err_set(err, TD_EINVAL,
                          "%s: \"sensor\" needs a camera (FRONT_FACING_CAMERA, STEREO_CAMERAS or "
                          "LEFT_CAMERA) or trackday's STATE sensor",
                          path);
    if (m->state_sensor && m->camera != TD_CAMERA_NONE)
        return td_err_set(err, TD_EINVAL, "%s: \"sensor\": STATE cannot be combined with a camera",
                          path);
    return 0;
}

int td_model_metadata_load(td_model_metadata *m, const char *path, td_err *err)
{
    json_t *root;
    int rc;

    td_model_metadata_default(m);
    rc = td_json_load_file(path, &root, err);
    if (rc)
        return rc;
    rc = td_model_metadata_from_json(m, root, path, err);
    json_decref(root);
    return rc;
}

int td_model_metadata_from_json(td_model_metadata *m, const json_t *root, const char *path,
                                td_err *err)
{
    const char *s;
    int rc;
    static const char *known[] = {"action_space",
                                  "action_space_type",
                                  "training_algorithm",
                                  "sensor",
                                  "neural_network",
                                  "version",
                                  "lidar_config",
                                  "preprocess_type",
                                  "regional_parameters",
                                  "mask_action",
                                  NULL};

    td_model_metadata_default(m);
    if (!json_is_object(root))
        return td_err_set(err, TD_EFORMAT, "%s: must be a JSON object", path);
    {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)root, key, v)
        {
            int k = 0;
            while (known[k] && strcmp(known[k], key) != 0)
                k++;
            if (!known[k])
                TD_WARN("%s: unknown key \"%s\" ignored", path, key);
        }
    }

    rc = td_json_get_string(root, "action_space_type", "discrete", &s, path, err);
    if (!rc) {
        if (strcmp(s, "discrete") == 0)
            m->action_space_type = TD_ACTIONS_DISCRETE;
        else if (strcmp(s, "continuous") == 0)
            m->action_space_type = TD_ACTIONS_CONTINUOUS;
        else
            rc = td_err_set(err, TD_EINVAL,
                            "%s: \"action_space_type\" is \"%s\", must be \"discrete\" or "
                            "\"continuous\"",
                            path, s);
    }
    if (!rc)
        rc = td_json_get_string(root, "training_algorithm", "clipped_ppo", &s, path, err);
    if (!rc) {
        if (strcmp(s, "clipped_ppo") == 0)
            m->algorithm = TD_ALGO_CLIPPED_PPO;
        else if (strcmp(s, "sac") == 0)
            m->algorithm = TD_ALGO_SAC;
        else
            rc = td_err_set(err, TD_EINVAL,
                            "%s: \"training_algorithm\" is \"%s\", must be \"clipped_ppo\" or "
                            "\"sac\"",
                            path, s);
    }
    if (!rc && m->algorithm == TD_ALGO_SAC && m->action_space_type != TD_ACTIONS_CONTINUOUS)
        rc = td_err_set(err, TD_EINVAL,
                        "%s: \"training_algorithm\": \"sac\" needs \"action_space_type\": "
                        "\"continuous\"",
                        path);
    if (!rc)
        rc = read_action_space(m, root, path, err);
    if (!rc)
        rc = read_sensors(m, root, path, err);
    if (!rc)
        rc = td_json_get_string(root, "neural_network", NULL, &s, path, err);
    if (!rc && s) {
        if (strcmp(s, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW") == 0)
            m->network = TD_NET_SHALLOW;
        else if (strcmp(s, "DEEP_CONVOLUTIONAL_NETWORK") == 0)
            m->network = TD_NET_STANDARD;
        else if (strcmp(s, "DEEP_CONVOLUTIONAL_NETWORK_DEEP") == 0)
            m->network = TD_NET_DEEP;
        else if (strcmp(s, "MLP") == 0)
            m->network = TD_NET_MLP;
        else
            rc = td_err_set(err, TD_EINVAL,
                            "%s: \"neural_network\" is \"%s\", must be "
                            "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW, DEEP_CONVOLUTIONAL_NETWORK, "
                            "DEEP_CONVOLUTIONAL_NETWORK_DEEP or MLP",
                            path, s);
    }
    if (!rc && m->state_sensor)
        m->network = TD_NET_MLP;
    if (!rc && m->network == TD_NET_MLP && !m->state_sensor)
        rc = td_err_set(err, TD_EINVAL,
                        "%s: \"neural_network\": MLP is for the STATE sensor; cameras need a "
                        "DEEP_CONVOLUTIONAL_NETWORK*",
                        path);
    if (!rc) {
        /* DeepRacer writes the version as a string ("5"); accept a number too. */
        const json_t *v = json_object_get(root, "version");
        if (json_is_string(v)) {
            char *end;
            long ver = strtol(json_string_value(v), &end, 10);
            if (*end != '\0' && *end != '.')
                rc = td_err_set(err, TD_EFORMAT, "%s: \"version\" is \"%s\", must be a number",
                                path, json_string_value(v));
            m->version = (int)ver;
        } else if (v) {
            long ver;
            rc = td_json_get_int(root, "version", 5, 1, 100, &ver, path, err);
            m->version = (int)ver;
        }
        if (!rc && (m->version < 1 || m->version > 100))
            rc = td_err_set(err, TD_ERANGE, "%s: \"version\" is %d, must be 1 to 100", path,
                            m->version);
    }
    if (!rc) {
        const json_t *lc = json_object_get(root, "lidar_config");
        if (lc) {
            long ns, nv;
            char what[1100];
            snprintf(what, sizeof(what), "%s: lidar_config", path);
            if (!json_is_object(lc))
                rc = td_err_set(err, TD_EFORMAT, "%s must be an object", what);
            if (!rc)
                rc = td_json_get_int(lc, "num_sectors", 8, 1, 64, &ns, what, err);
            if (!rc && 64 % ns != 0)
                rc = td_err_set(err, TD_ERANGE, "%s: \"num_sectors\" is %ld, must divide 64", what,
                                ns);
            if (!rc)
                rc = td_json_get_int(lc, "num_values_per_sector", 8, 1, 64, &nv, what, err);
            if (!rc)
                rc = td_json_get_number(lc, "clipping_dist", 2.0, 0.15, 12.0,
                                        &m->lidar_clipping_dist, what, err);
            if (!rc) {
                m->lidar_num_sectors = (int)ns;
                m->lidar_values_per_sector = (int)nv;
            }
        }
    }
    return rc;
}

json_t *td_model_metadata_to_json(const td_model_metadata *m)
{
    json_t *root = json_object(), *sensors = json_array(), *space;
    if (m->action_space_type == TD_ACTIONS_DISCRETE) {
        space = json_array();
        for (int i = 0; i < m->n_actions; i++)
            json_array_append_new(space, json_pack("{s:f, s:f, s:i}", "steering_angle",
                                                   m->actions[i].steering_deg, "speed",
                                                   m->actions[i].speed_mps, "index", i));
    } else {
        space = json_pack("{s:{s:f, s:f}, s:{s:f, s:f}}", "steering_angle", "low", m->steering_low,
                          "high", m->steering_high, "speed", "low", m->speed_low, "high",
                          m->speed_high);
    }
    json_object_set_new(root, "action_space", space);
    if (m->camera != TD_CAMERA_NONE)
        json_array_append_new(sensors, json_string(td_camera_sensor_name(m->camera)));
    if (m->lidar != TD_LIDAR_NONE)
        json_array_append_new(sensors, json_string(td_lidar_sensor_name(m->lidar)));
    if (m->state_sensor)
        json_array_append_new(sensors, json_string("STATE"));
    json_object_set_new(root, "sensor", sensors);
    json_object_set_new(root, "neural_network", json_string(td_network_name(m->network)));
    json_object_set_new(root, "training_algorithm", json_string(td_algorithm_name(m->algorithm)));
    json_object_set_new(
        root, "action_space_type",
        json_string(m->action_space_type == TD_ACTIONS_DISCRETE ? "discrete" : "continuous"));
    {
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", m->version);
        json_object_set_new(root, "version", json_string(ver));
    }
    if (m->lidar == TD_LIDAR_DISCRETIZED)
        json_object_set_new(root, "lidar_config",
                            json_pack("{s:i, s:i, s:f}", "num_sectors", m->lidar_num_sectors,
                                      "num_values_per_sector", m->lidar_values_per_sector,
                                      "clipping_dist", m->lidar_clipping_dist));
    return root;
}

/* ==================================================================================== */
/* hyperparameters.json                                                                 */
/* ==================================================================================== */

void td_hyperparams_default(td_hyperparams *h)
{
    memset(h, 0, sizeof(*h));
    h->batch_size = 64;
    h->num_epochs = 10;
    h->lr = 0.0003;
    h->beta_entropy = 0.01;
    h->discount_factor = 0.99;
    h->loss_type = TD_LOSS_HUBER;
    h->num_episodes_between_training = 20;
    h->exploration_type = TD_EXPLORE_CATEGORICAL;
    h->e_greedy_value = 0.05;
    h->epsilon_steps = 10000;
    h->sac_alpha = 0.2;
    h->stack_size = 1;
    h->term_cond_max_episodes = 100000000L;
    h->term_cond_avg_score = 1e9;
}

int td_hyperparams_load(td_hyperparams *h, const char *path, td_algorithm algo, td_err *err)
{
    json_t *root;
    const char *s;
    long v;
    int rc;
    static const char *known[] = {"batch_size",
                                  "num_epochs",
                                  "lr",
                                  "beta_entropy",
                                  "discount_factor",
                                  "loss_type",
                                  "num_episodes_between_training",
                                  "exploration_type",
                                  "e_greedy_value",
                                  "epsilon_steps",
                                  "sac_alpha",
                                  "stack_size",
                                  "term_cond_max_episodes",
                                  "term_cond_avg_score",
                                  NULL};

    td_hyperparams_default(h);
    rc = td_json_load_file(path, &root, err);
    if (rc)
        return rc;
    if (!json_is_object(root)) {
        json_decref(root);
        return td_err_set(err, TD_EFORMAT, "%s: must be a JSON object", path);
    }
    {
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val)
        {
            int k = 0;
            while (known[k] && strcmp(known[k], key) != 0)
                k++;
            if (!known[k]) {
                td_err_set(err, TD_EINVAL, "%s: unknown hyperparameter \"%s\"", path, key);
                json_decref(root);
                return TD_EINVAL;
            }
        }
    }
    rc = td_json_get_int(root, "batch_size", 64, 1, 1 << 20, &v, path, err);
    if (!rc && v != 32 && v != 64 && v != 128 && v != 256 && v != 512)
        rc = td_err_set(err, TD_ERANGE,
                        "%s: \"batch_size\" is %ld, must be one of 32, 64, 128, 256, 512", path, v);
    h->batch_size = (int)v;
    if (!rc)
        rc = td_json_get_int(root, "num_epochs", 10, 3, 10, &v, path, err);
    h->num_epochs = (int)v;
    if (!rc)
        rc = td_json_get_number(root, "lr", 0.0003, 1e-8, 1e-3, &h->lr, path, err);
    if (!rc)
        rc = td_json_get_number(root, "beta_entropy", 0.01, 0, 1, &h->beta_entropy, path, err);
    if (!rc)
        rc =
            td_json_get_number(root, "discount_factor", 0.99, 0, 1, &h->discount_factor, path, err);
    if (!rc)
        rc = td_json_get_string(root, "loss_type", "huber", &s, path, err);
    if (!rc) {
        if (strcmp(s, "huber") == 0)
            h->loss_type = TD_LOSS_HUBER;
        else if (strcmp(s, "mean squared error") == 0 || strcmp(s, "mean_squared_error") == 0)
            h->loss_type = TD_LOSS_MSE;
        else
            rc = td_err_set(err, TD_EINVAL,
                            "%s: \"loss_type\" is \"%s\", must be \"huber\" or \"mean squared "
                            "error\"",
                            path, s);
    }
    if (!rc)
        rc = td_json_get_int(root, "num_episodes_between_training", algo == TD_ALGO_SAC ? 1 : 20,
                             algo == TD_ALGO_SAC ? 1 : 5, 100, &v, path, err);
    h->num_episodes_between_training = (int)v;
    if (!rc)
        rc = td_json_get_string(root, "exploration_type", "categorical", &s, path, err);
    if (!rc) {
        if (strcmp(s, "categorical") == 0)
            h->exploration_type = TD_EXPLORE_CATEGORICAL;
        else if (strcmp(s, "e-greedy") == 0 || strcmp(s, "e_greedy") == 0)
            h->exploration_type = TD_EXPLORE_EGREEDY;
        else
            rc = td_err_set(err, TD_EINVAL,
                            "%s: \"exploration_type\" is \"%s\", must be \"categorical\" or "
                            "\"e-greedy\"",
                            path, s);
    }
    if (!rc)
        rc = td_json_get_number(root, "e_greedy_value", 0.05, 0, 1, &h->e_greedy_value, path, err);
    if (!rc)
        rc = td_json_get_int(root, "epsilon_steps", 10000, 1, 1000000000L, &h->epsilon_steps, path,
                             err);
    if (!rc)
        rc = td_json_get_number(root, "sac_alpha", 0.2, 0, 1, &h->sac_alpha, path, err);
    if (!rc)
        rc = td_json_get_int(root, "stack_size", 1, 1, 1, &v, path, err);
    h->stack_size = 1;
    if (!rc)
        rc = td_json_get_int(root, "term_cond_max_episodes", 100000000L, 1, 1000000000000L,
                             &h->term_cond_max_episodes, path, err);
    if (!rc)
        rc = td_json_get_number(root, "term_cond_avg_score", 1e9, -1e12, 1e12,
                                &h->term_cond_avg_score, path, err);
    json_decref(root);
    return rc;
}

/* ==================================================================================== */
/* training_params.yaml                                                                 */
/* ==================================================================================== */

void td_training_params_default(td_training_params *p)
{
    memset(p, 0, sizeof(*p));
    td_race_config_default(&p->race);
    td_eval_config_default(&p->eval);
}

/* One entry of the flat mapping: a scalar value, or a sequence of scalars. */
typedef struct {
    char key[128];
    char value[256];
    int is_seq;
    int nseq;
    char seq[TD_MAX_OBSTACLES][64];
    int line;
} yaml_entry;

static int parse_bool(const char *s, int *out)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1") || !strcasecmp(s, "on"))
        *out = 1;
    else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0") ||
             !strcasecmp(s, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || *end != '\0' || errno || !isfinite(*out))
        return -1;
    return 0;
}

/* Applies one key of training_params.yaml; unknown keys are DeepRacer plumbing, ignored. */
static int apply_entry(td_training_params *p, const yaml_entry *e, const char *path, td_err *err)
{
    td_race_config *r = &p->race;
    const char *k = e->key, *v = e->value;
    double d;
    int b;

#define BAD(what) td_err_set(err, TD_EINVAL, "%s:%d: %s is \"%s\", %s", path, e->line, k, v, what)
#define NUMBER(lo, hi, dst)                                                                        \
    do {                                                                                           \
        if (parse_double(v, &d) != 0)                                                              \
            return BAD("must be a number");                                                        \
        if (d < (lo) || d > (hi))                                                                  \
            return td_err_set(err, TD_ERANGE, "%s:%d: %s is %g, must be in [%g, %g]", path,        \
                              e->line, k, d, (double)(lo), (double)(hi));                          \
        dst = d;                                                                                   \
    } while (0)
#define BOOL(dst)                                                                                  \
    do {                                                                                           \
        if (parse_bool(v, &b) != 0)                                                                \
            return BAD("must be true or false");                                                   \
        dst = b;                                                                                   \
    } while (0)

    if (e->is_seq && strcmp(k, "OBJECT_POSITIONS") != 0)
        return td_err_set(err, TD_EFORMAT, "%s:%d: %s must be a single value, not a list", path,
                          e->line, k);
    if (!strcmp(k, "WORLD_NAME")) {
        if (snprintf(p->world_name, sizeof(p->world_name), "%s", v) >= (int)sizeof(p->world_name))
            return BAD("longer than the 127 characters a track name may have");
    } else if (!strcmp(k, "RACE_TYPE")) {
        if (!strcmp(v, "TIME_TRIAL"))
            r->race_type = TD_RACE_TIME_TRIAL;
        else if (!strcmp(v, "OBJECT_AVOIDANCE"))
            r->race_type = TD_RACE_OBJECT_AVOIDANCE;
        else if (!strcmp(v, "HEAD_TO_BOT"))
            r->race_type = TD_RACE_HEAD_TO_BOT;
        else
            return BAD("must be TIME_TRIAL, OBJECT_AVOIDANCE or HEAD_TO_BOT");
    } else if (!strcmp(k, "REVERSE_DIR")) {
        BOOL(r->reverse_dir);
    } else if (!strcmp(k, "ALTERNATE_DRIVING_DIRECTION")) {
        BOOL(r->alternate_driving_direction);
    } else if (!strcmp(k, "CHANGE_START_POSITION")) {
        BOOL(r->change_start_position);
    } else if (!strcmp(k, "ROUND_ROBIN_ADVANCE_DIST")) {
        NUMBER(0, 1, r->round_robin_advance_dist);
    } else if (!strcmp(k, "NUMBER_OF_OBSTACLES")) {
        NUMBER(0, 6, d);
        if (d != floor(d))
            return BAD("must be a whole number");
        r->number_of_obstacles = (int)d;
    } else if (!strcmp(k, "MIN_DISTANCE_BETWEEN_OBSTACLES")) {
        NUMBER(0, 100, r->min_distance_between_obstacles);
    } else if (!strcmp(k, "RANDOMIZE_OBSTACLE_LOCATIONS")) {
        BOOL(r->randomize_obstacle_locations);
    } else if (!strcmp(k, "NUMBER_OF_BOT_CARS")) {
        NUMBER(0, 4, d);
        if (d != floor(d))
            return BAD("must be a whole number");
        r->number_of_bot_cars = (int)d;
    } else if (!strcmp(k, "BOT_CAR_SPEED")) {
        NUMBER(0.05, 4.0, r->bot_car_speed);
    } else if (!strcmp(k, "IS_LANE_CHANGE")) {
        BOOL(r->is_lane_change);
    } else if (!strcmp(k, "LOWER_LANE_CHANGE_TIME")) {
        NUMBER(0, 1000, r->lower_lane_change_time);
    } else if (!strcmp(k, "UPPER_LANE_CHANGE_TIME")) {
        NUMBER(0, 1000, r->upper_lane_change_time);
    } else if (!strcmp(k, "LANE_CHANGE_DISTANCE")) {
        NUMBER(0.1, 100, r->lane_change_distance);
    } else if (!strcmp(k, "MIN_DISTANCE_BETWEEN_BOT_CARS")) {
        NUMBER(0, 1000, r->min_distance_between_bot_cars);
    } else if (!strcmp(k, "RANDOMIZE_BOT_CAR_LOCATIONS")) {
        BOOL(r->randomize_bot_car_locations);
    } else if (!strcmp(k, "PENALTY_SECONDS")) {
        NUMBER(0, 3600, r->penalty_seconds);
    } else if (!strcmp(k, "NUMBER_OF_TRIALS")) {
        NUMBER(1, TD_MAX_LAPS, d);
        if (d != floor(d))
            return BAD("must be a whole number");
        p->eval.number_of_trials = (int)d;
    } else if (!strcmp(k, "IS_CONTINUOUS")) {
        BOOL(p->eval.is_continuous);
    } else if (!strcmp(k, "NUMBER_OF_RESETS")) {
        NUMBER(0, 1e9, d);
        if (d != floor(d))
            return BAD("must be a whole number");
        p->eval.number_of_resets = (int)d;
    } else if (!strcmp(k, "OFF_TRACK_PENALTY")) {
        NUMBER(0, 3600, p->eval.off_track_penalty_s);
    } else if (!strcmp(k, "COLLISION_PENALTY")) {
        NUMBER(0, 3600, p->eval.collision_penalty_s);
    } else if (!strcmp(k, "ENABLE_DOMAIN_RANDOMIZATION")) {
        BOOL(r->enable_domain_randomization);
    } else if (!strcmp(k, "OBJECT_POSITIONS")) {
        if (!e->is_seq) {
            if (v[0] == '\0' || !strcmp(v, "[]"))
                return 0;
            return BAD("must be a list of \"progress_fraction,lane\"");
        }
        r->n_object_positions = 0;
        for (int i = 0; i < e->nseq; i++) {
            char buf[64];
            char *comma, *end;
            double prog;
            long lane;
            snprintf(buf, sizeof(buf), "%s", e->seq[i]);
            comma = strchr(buf, ',');
            if (!comma)
                return td_err_set(err, TD_EFORMAT,
                                  "%s:%d: OBJECT_POSITIONS[%d] is \"%s\", must be "
                                  "\"progress_fraction,lane\"",
                                  path, e->line, i, e->seq[i]);
            *comma = '\0';
            if (parse_double(buf, &prog) != 0 || prog < 0 || prog > 1)
                return td_err_set(err, TD_ERANGE,
                                  "%s:%d: OBJECT_POSITIONS[%d]: progress \"%s\" must be a "
                                  "fraction in [0, 1]",
                                  path, e->line, i, buf);
            lane = strtol(comma + 1, &end, 10);
            if (*end != '\0' || (lane != 1 && lane != -1))
                return td_err_set(err, TD_ERANGE,
                                  "%s:%d: OBJECT_POSITIONS[%d]: lane \"%s\" must be 1 (inner) "
                                  "or -1 (outer)",
                                  path, e->line, i, comma + 1);
            r->object_positions[i][0] = prog;
            r->object_positions[i][1] = (double)lane;
            r->n_object_positions++;
        }
    }
#undef BAD
#undef NUMBER
#undef BOOL
    return 0;
}

int td_training_params_load(td_training_params *p, const char *path, td_err *err)
{
    char *text;
    size_t len;
    yaml_parser_t parser;
    yaml_event_t ev;
    yaml_entry e;
    int depth = 0, have_key = 0, in_seq = 0, done = 0, rc;
    int saw_number_of_obstacles = 0;

    td_training_params_default(p);
    rc = td_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    if (!yaml_parser_initialize(&parser)) {
        td_free(text);
        return td_err_set(err, TD_ENOMEM, "%s: cannot create a YAML parser", path);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    memset(&e, 0, sizeof(e));
    while (!done && !rc) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = td_err_set(err, TD_EFORMAT, "%s:%zu:%zu: invalid YAML: %s", path,
                            parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "syntax error");
            break;
        }
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            depth++;
            if (depth > 1)
                rc = td_err_set(err, TD_EFORMAT,
                                "%s:%zu: nested mappings are not supported (a flat list of KEY: "
                                "value is expected)",
                                path, ev.start_mark.line + 1);
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SEQUENCE_START_EVENT:
            if (!have_key || in_seq)
                rc = td_err_set(err, TD_EFORMAT, "%s:%zu: unexpected list", path,
                                ev.start_mark.line + 1);
            in_seq = 1;
            e.is_seq = 1;
            e.nseq = 0;
            break;
        case YAML_SEQUENCE_END_EVENT:
            in_seq = 0;
            rc = apply_entry(p, &e, path, err);
            have_key = 0;
            break;
        case YAML_SCALAR_EVENT: {
            const char *val = (const char *)ev.data.scalar.value;
            if (in_seq) {
                if (e.nseq >= TD_MAX_OBSTACLES)
                    rc = td_err_set(err, TD_ERANGE, "%s:%d: %s has more than %d entries", path,
                                    e.line, e.key, TD_MAX_OBSTACLES);
                else
                    snprintf(e.seq[e.nseq++], sizeof(e.seq[0]), "%s", val);
            } else if (!have_key) {
                memset(&e, 0, sizeof(e));
                snprintf(e.key, sizeof(e.key), "%s", val);
                e.line = (int)ev.start_mark.line + 1;
                have_key = 1;
            } else {
                snprintf(e.value, sizeof(e.value), "%s", val);
                saw_number_of_obstacles |= !strcmp(e.key, "NUMBER_OF_OBSTACLES");
                rc = apply_entry(p, &e, path, err);
                have_key = 0;
            }
            break;
        }
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    td_free(text);
    if (!rc && p->race.lower_lane_change_time > p->race.upper_lane_change_time)
        rc = td_err_set(err, TD_ERANGE,
                        "%s: LOWER_LANE_CHANGE_TIME (%g) exceeds UPPER_LANE_CHANGE_TIME (%g)", path,
                        p->race.lower_lane_change_time, p->race.upper_lane_change_time);
    /* Fixed positions decide the number of obstacles when NUMBER_OF_OBSTACLES is not given. */
    if (!rc && p->race.n_object_positions > 0 && !saw_number_of_obstacles)
        p->race.number_of_obstacles = p->race.n_object_positions;
    return rc;
}

/* ==================================================================================== */
/* The directory                                                                        */
/* ==================================================================================== */

int td_model_dir_load(td_model_dir *d, const char *dir, td_err *err)
{
    char path[1200];
    int rc;

    memset(d, 0, sizeof(*d));
    snprintf(d->path, sizeof(d->path), "%s", dir);
    snprintf(path, sizeof(path), "%s/model_metadata.json", dir);
    if (!td_path_exists(path))
        return td_err_set(err, TD_ENOENT,
                          "%s: no model_metadata.json (create a model directory with 'trackday "
                          "init %s')",
                          dir, dir);
    rc = td_model_metadata_load(&d->metadata, path, err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/hyperparameters.json", dir);
    if (!td_path_exists(path))
        return td_err_set(err, TD_ENOENT, "%s: no hyperparameters.json", dir);
    rc = td_hyperparams_load(&d->hyper, path, d->metadata.algorithm, err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/training_params.yaml", dir);
    if (td_path_exists(path)) {
        d->has_training_params = 1;
        rc = td_training_params_load(&d->training, path, err);
        if (rc)
            return rc;
    } else {
        td_training_params_default(&d->training);
    }
    snprintf(path, sizeof(path), "%s/reward_function.py", dir);
    d->has_reward_py = td_path_exists(path);
    return 0;
}
