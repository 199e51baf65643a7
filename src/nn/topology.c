/*
 * topology.c - what a network looks like, before any memory exists: validation of a tower,
 * parameter counts, DeepRacer's named networks (DEEPRACER.md section 6) and the topology /
 * inputs JSON of the model file (docs/model-format.md section 3).
 */
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

#define MAX_WIDTH (1 << 20)

/* ---- validation and counting ---------------------------------------------------------------- */

const char *td_nn_head_name(td_nn_head_type head)
{
    switch (head) {
    case TD_NN_HEAD_CATEGORICAL:
        return "categorical";
    case TD_NN_HEAD_GAUSSIAN:
        return "gaussian";
    case TD_NN_HEAD_VALUE:
        return "value";
    case TD_NN_HEAD_Q:
        return "q";
    }
    return "?";
}

static int check_stack(const char *tower, const char *branch, int n, const int *w, td_err *err)
{
    if (n < 0 || n > TD_NN_MAX_STACK)
        return td_err_set(err, TD_EINVAL, "tower '%s': %s has %d layers (at most %d)", tower,
                          branch, n, TD_NN_MAX_STACK);
    for (int i = 0; i < n; i++)
        if (w[i] < 1 || w[i] > MAX_WIDTH)
            return td_err_set(err, TD_EINVAL, "tower '%s': %s layer %d has width %d", tower, branch,
                              i, w[i]);
    return 0;
}

/* Checks sizes and that every conv output is at least 1x1; err names the tower and layer. */
static int tower_validate(const td_nn_tower *t, td_err *err)
{
    const char *nm = t->name;
    if (!t->name[0] || memchr(t->name, '\0', TD_NN_NAME_LEN) == NULL)
        return td_err_set(err, TD_EINVAL, "tower without a name");
    int has_camera = t->camera_h > 0 || t->camera_w > 0 || t->camera_c > 0;
    if (has_camera && (t->camera_h < 1 || t->camera_w < 1 || t->camera_c < 1 ||
                       t->camera_h > 4096 || t->camera_w > 4096 || t->camera_c > 64))
        return td_err_set(err, TD_EINVAL, "tower '%s': bad camera input %dx%dx%d", nm, t->camera_h,
                          t->camera_w, t->camera_c);
    if (!has_camera && t->n_camera)
        return td_err_set(err, TD_EINVAL, "tower '%s': camera layers but no camera input", nm);
    if (t->lidar_dim < 0 || t->lidar_dim > MAX_WIDTH || t->state_dim < 0 ||
        t->state_dim > MAX_WIDTH || t->action_dim < 0 || t->action_dim > 64)
        return td_err_set(err, TD_EINVAL,
                          "tower '%s': bad input sizes (lidar %d, state %d, "
                          "action %d)",
                          nm, t->lidar_dim, t->state_dim, t->action_dim);
    if (!has_camera && !t->lidar_dim && !t->state_dim)
        return td_err_set(err, TD_EINVAL, "tower '%s': no input (camera, lidar or state)", nm);
    if (t->n_camera < 0 || t->n_camera > TD_NN_MAX_STACK)
        return td_err_set(err, TD_EINVAL, "tower '%s': camera has %d layers (at most %d)", nm,
                          t->n_camera, TD_NN_MAX_STACK);
    int h = t->camera_h, w = t->camera_w;
    for (int i = 0; i < t->n_camera; i++) {
        const td_nn_conv_spec *c = &t->camera[i];
        if (c->filters < 1 || c->filters > 4096 || c->kernel < 1 || c->kernel > 64 ||
            c->stride < 1 || c->stride > 64)
            return td_err_set(err, TD_EINVAL,
                              "tower '%s': camera layer %d [%d, %d, %d] is "
                              "invalid",
                              nm, i, c->filters, c->kernel, c->stride);
        int oh = td_nn_conv2d_out_dim(h, c->kernel, c->stride);
        int ow = td_nn_conv2d_out_dim(w, c->kernel, c->stride);
        if (oh < 1 || ow < 1)
            return td_err_set(err, TD_EINVAL,
                              "tower '%s': camera layer %d (kernel %d) does not "
                              "fit its %dx%d input",
                              nm, i, c->kernel, h, w);
        h = oh;
        w = ow;
    }
    int rc;
    if ((rc = check_stack(nm, "lidar", t->n_lidar, t->lidar, err)) ||
        (rc = check_stack(nm, "state", t->n_state, t->state, err)) ||
        (rc = check_stack(nm, "trunk", t->n_trunk, t->trunk, err)))
        return rc;
    if (t->n_lidar && !t->lidar_dim)
        return td_err_set(err, TD_EINVAL, "tower '%s': lidar layers but no lidar input", nm);
    if (t->n_state && !t->state_dim)
        return td_err_set(err, TD_EINVAL, "tower '%s': state layers but no state input", nm);
    if ((int)t->head < TD_NN_HEAD_CATEGORICAL || (int)t->head > TD_NN_HEAD_Q)
        return td_err_set(err, TD_EINVAL, "tower '%s': unknown head type %d", nm, (int)t->head);
    if (t->n_out < 1 || t->n_out > 4096)
        return td_err_set(err, TD_EINVAL, "tower '%s': head has %d outputs", nm, t->n_out);
    if (t->head == TD_NN_HEAD_Q && t->action_dim < 1)
        return td_err_set(err, TD_EINVAL, "tower '%s': a q head needs an action input", nm);
    if (t->head != TD_NN_HEAD_Q && t->action_dim)
        return td_err_set(err, TD_EINVAL, "tower '%s': only a q head takes an action input", nm);
    if (t->head_tanh && t->head != TD_NN_HEAD_GAUSSIAN)
        return td_err_set(err, TD_EINVAL, "tower '%s': tanh squash needs a gaussian head", nm);
    return 0;
}

int td__nn_tower_validate(const td_nn_tower *t, td_err *err)
{
    return tower_validate(t, err);
}

long td_nn_tower_param_count(const td_nn_tower *t)
{
    if (tower_validate(t, NULL))
        return -1;
    long n = 0;
    int h = t->camera_h, w = t->camera_w, c = t->camera_c;
    for (int i = 0; i < t->n_camera; i++) {
        const td_nn_conv_spec *s = &t->camera[i];
        n += (long)s->filters * s->kernel * s->kernel * c + s->filters;
        h = td_nn_conv2d_out_dim(h, s->kernel, s->stride);
        w = td_nn_conv2d_out_dim(w, s->kernel, s->stride);
        c = s->filters;
    }
    long concat = t->camera_h > 0 ? (long)h * w * c : 0;
    int in = t->lidar_dim;
    for (int i = 0; i < t->n_lidar; i++) {
        n += (long)t->lidar[i] * in + t->lidar[i];
        in = t->lidar[i];
    }
    concat += t->lidar_dim ? in : 0;
    in = t->state_dim;
    for (int i = 0; i < t->n_state; i++) {
        n += (long)t->state[i] * in + t->state[i];
        in = t->state[i];
    }
    concat += t->state_dim ? in : 0;
    concat += t->action_dim;
    long cin = concat;
    for (int i = 0; i < t->n_trunk; i++) {
        n += (long)t->trunk[i] * cin + t->trunk[i];
        cin = t->trunk[i];
    }
    n += (long)t->n_out * cin + t->n_out;
    if (t->head == TD_NN_HEAD_GAUSSIAN)
        n += t->n_out;
    return n;
}

const td_nn_tower *td_nn_topology_find(const td_nn_topology *topo, const char *name)
{
    for (int i = 0; i < topo->n_towers; i++)
        if (strcmp(topo->towers[i].name, name) == 0)
            return &topo->towers[i];
    return NULL;
}

/* ---- DeepRacer's networks ------------------------------------------------------------------ */

static void set_convs(td_nn_tower *t, const int (*layers)[3], int n)
{
    t->n_camera = n;
    for (int i = 0; i < n; i++)
        t->camera[i] = (td_nn_conv_spec){layers[i][0], layers[i][1], layers[i][2]};
}

int td_nn_topology_deepracer(td_nn_topology *topo, const char *network, const td_nn_io_spec *io,
                             td_err *err)
{
    static const int shallow[][3] = {{32, 8, 4}, {64, 4, 2}, {64, 3, 1}};
    static const int standard[][3] = {{32, 5, 2}, {32, 3, 1}, {64, 3, 2}, {64, 3, 1}};
    static const int deep[][3] = {{32, 8, 4}, {32, 4, 2}, {64, 4, 2}, {64, 3, 1}};
    static const int stereo[][3] = {{32, 3, 1}, {64, 3, 2}, {64, 3, 1}, {128, 3, 2}, {128, 3, 1}};
    memset(topo, 0, sizeof(*topo));
    td_nn_tower base;
    memset(&base, 0, sizeof(base));
    int has_camera = io->camera_h > 0;
    if (has_camera) {
        if (!network)
            network = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW";
        base.camera_h = io->camera_h;
        base.camera_w = io->camera_w;
        base.camera_c = io->camera_c;
        int is_stereo = io->camera_c == 2;
        if (strcmp(network, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW") == 0) {
            set_convs(&base, shallow, 3);
            base.n_trunk = 1;
            base.trunk[0] = 512;
        } else if (strcmp(network, "DEEP_CONVOLUTIONAL_NETWORK") == 0) {
            if (is_stereo) {
                set_convs(&base, stereo, 5);
                base.n_trunk = 1;
                base.trunk[0] = 512;
            } else {
                set_convs(&base, standard, 4);
                base.n_trunk = 2;
                base.trunk[0] = 64;
                base.trunk[1] = 512;
            }
        } else if (strcmp(network, "DEEP_CONVOLUTIONAL_NETWORK_DEEP") == 0) {
            if (is_stereo) {
                set_convs(&base, stereo, 5);
                base.n_trunk = 1;
                base.trunk[0] = 512;
            } else {
                set_convs(&base, deep, 4);
                base.n_trunk = 4;
                base.trunk[0] = 512;
                base.trunk[1] = 512;
                base.trunk[2] = 256;
                base.trunk[3] = 128;
            }
        } else {
            return td_err_set(err, TD_EINVAL,
                              "unknown neural_network '%s' (expected "
                              "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW, DEEP_CONVOLUTIONAL_NETWORK "
                              "or DEEP_CONVOLUTIONAL_NETWORK_DEEP)",
                              network);
        }
    }
    if (io->lidar_dim > 0) {
        base.lidar_dim = io->lidar_dim;
        base.n_lidar = 2;
        base.lidar[0] = base.lidar[1] = 256;
    }
    if (io->state_dim > 0) {
        int layers = io->state_layers > 0 ? io->state_layers : 2;
        int width = io->state_width > 0 ? io->state_width : 64;
        if (layers > TD_NN_MAX_STACK)
            return td_err_set(err, TD_EINVAL, "state MLP of %d layers (at most %d)", layers,
                              TD_NN_MAX_STACK);
        base.state_dim = io->state_dim;
        base.n_state = layers;
        for (int i = 0; i < layers; i++)
            base.state[i] = width;
    }
    if (io->sac && !io->continuous)
        return td_err_set(err, TD_EINVAL, "SAC needs a continuous action space");
    if (!io->continuous && io->n_actions < 1)
        return td_err_set(err, TD_EINVAL,
                          "a discrete action space needs at least one action "
                          "(got %d)",
                          io->n_actions);

    td_nn_tower *policy = &topo->towers[0];
    *policy = base;
    snprintf(policy->name, sizeof(policy->name), "policy");
    policy->head = io->continuous ? TD_NN_HEAD_GAUSSIAN : TD_NN_HEAD_CATEGORICAL;
    policy->n_out = io->continuous ? 2 : io->n_actions;
    if (!io->sac) {
        td_nn_tower *value = &topo->towers[1];
        *value = base;
        snprintf(value->name, sizeof(value->name), "value");
        value->head = TD_NN_HEAD_VALUE;
        value->n_out = 1;
        topo->n_towers = 2;
    } else {
        for (int q = 0; q < 2; q++) {
            td_nn_tower *t = &topo->towers[1 + q];
            *t = base;
            snprintf(t->name, sizeof(t->name), "q%d", q + 1);
            t->head = TD_NN_HEAD_Q;
            t->n_out = 1;
            t->action_dim = 2;
            /* The action joins after the branches. Without a trunk the head would be linear
             * in the action (Q(s, a) = f(s) + w.a), which cannot rank actions per state:
             * then the state MLP's layers move after the join (a critic on [s, a]). */
            if (t->n_trunk == 0) {
                t->n_trunk = t->n_state;
                memcpy(t->trunk, t->state, sizeof(t->state));
                t->n_state = 0;
                if (t->n_trunk == 0) {
                    t->n_trunk = 2;
                    t->trunk[0] = t->trunk[1] = 256;
                }
            }
        }
        topo->n_towers = 3;
    }
    for (int i = 0; i < topo->n_towers; i++) {
        int rc = tower_validate(&topo->towers[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

/* Reads a positive integer array element; err names the tower, key and index. */
static int get_pos_int(const json_t *v, const char *tower, const char *key, int idx, int max,
                       int *out, td_err *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max)
        return td_err_set(err, TD_EFORMAT,
                          "topology: tower '%s': %s[%d] must be an integer in "
                          "[1, %d]",
                          tower, key, idx, max);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_widths(const json_t *tj, const char *tower, const char *key, int *n, int *w,
                      td_err *err)
{
    const json_t *a = json_object_get(tj, key);
    *n = 0;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return td_err_set(err, TD_EFORMAT,
                          "topology: tower '%s': \"%s\" must be an array of "
                          "widths",
                          tower, key);
    if (json_array_size(a) > TD_NN_MAX_STACK)
        return td_err_set(err, TD_EFORMAT,
                          "topology: tower '%s': \"%s\" has %zu layers (at "
                          "most %d)",
                          tower, key, json_array_size(a), TD_NN_MAX_STACK);
    for (size_t i = 0; i < json_array_size(a); i++) {
        int rc = get_pos_int(json_array_get(a, i), tower, key, (int)i, MAX_WIDTH, &w[i], err);
        if (rc)
            return rc;
    }
    *n = (int)json_array_size(a);
    return 0;
}

/* Reads inputs[key] = [d0, d1, ...] with exactly n positive entries into dims. */
static int get_input(const json_t *inputs, const char *key, int n, int *dims, int *present,
                     td_err *err)
{
    const json_t *a = json_object_get(inputs, key);
    *present = 0;
    if (!a)
        return 0;
    if (!json_is_array(a) || (int)json_array_size(a) != n)
        return td_err_set(err, TD_EFORMAT, "inputs: \"%s\" must be an array of %d integers", key,
                          n);
    for (int i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > MAX_WIDTH)
            return td_err_set(err, TD_EFORMAT, "inputs: \"%s\"[%d] must be a positive integer", key,
                              i);
        dims[i] = (int)json_integer_value(v);
    }
    *present = 1;
    return 0;
}

int td_nn_topology_from_json(td_nn_topology *topo, const json_t *topology, const json_t *inputs,
                             td_err *err)
{
    memset(topo, 0, sizeof(*topo));
    if (!json_is_object(topology))
        return td_err_set(err, TD_EFORMAT, "topology: must be an object");
    if (!json_is_object(inputs))
        return td_err_set(err, TD_EFORMAT, "inputs: must be an object");
    int cam[3] = {0, 0, 0}, lidar = 0, state = 0, action = 0;
    int has_cam, has_lidar, has_state, has_action, rc;
    if ((rc = get_input(inputs, "camera", 3, cam, &has_cam, err)) ||
        (rc = get_input(inputs, "lidar", 1, &lidar, &has_lidar, err)) ||
        (rc = get_input(inputs, "state", 1, &state, &has_state, err)) ||
        (rc = get_input(inputs, "action", 1, &action, &has_action, err)))
        return rc;
    const json_t *towers = json_object_get(topology, "towers");
    if (!json_is_object(towers) || json_object_size(towers) == 0)
        return td_err_set(err, TD_EFORMAT, "topology: \"towers\" must be a non-empty object");
    if (json_object_size(towers) > TD_NN_MAX_TOWERS)
        return td_err_set(err, TD_EFORMAT, "topology: %zu towers (at most %d)",
                          json_object_size(towers), TD_NN_MAX_TOWERS);
    const char *name;
    const json_t *tj;
    json_object_foreach((json_t *)towers, name, tj)
    {
        td_nn_tower *t = &topo->towers[topo->n_towers];
        if (strlen(name) == 0 || strlen(name) >= TD_NN_NAME_LEN)
            return td_err_set(err, TD_EFORMAT,
                              "topology: tower name '%s' must have 1 to %d "
                              "characters",
                              name, TD_NN_NAME_LEN - 1);
        snprintf(t->name, sizeof(t->name), "%s", name);
        if (!json_is_object(tj))
            return td_err_set(err, TD_EFORMAT, "topology: tower '%s' must be an object", name);
        /* branches follow the inputs; a tower key without its input is an error */
        static const char *const branch_keys[] = {"camera", "lidar", "state"};
        const int present[] = {has_cam, has_lidar, has_state};
        for (int b = 0; b < 3; b++) {
            const json_t *v = json_object_get(tj, branch_keys[b]);
            if (v && !present[b] && !(json_is_array(v) && json_array_size(v) == 0))
                return td_err_set(err, TD_EFORMAT,
                                  "topology: tower '%s' has a \"%s\" branch "
                                  "but inputs has no \"%s\"",
                                  name, branch_keys[b], branch_keys[b]);
        }
        if (has_cam) {
            t->camera_h = cam[0];
            t->camera_w = cam[1];
            t->camera_c = cam[2];
            const json_t *a = json_object_get(tj, "camera");
            if (a && !json_is_array(a))
                return td_err_set(err, TD_EFORMAT,
                                  "topology: tower '%s': \"camera\" must be "
                                  "an array of [filters, kernel, stride]",
                                  name);
            if (a && json_array_size(a) > TD_NN_MAX_STACK)
                return td_err_set(err, TD_EFORMAT,
                                  "topology: tower '%s': \"camera\" has %zu "
                                  "layers (at most %d)",
                                  name, json_array_size(a), TD_NN_MAX_STACK);
            for (size_t i = 0; a && i < json_array_size(a); i++) {
                const json_t *l = json_array_get(a, i);
                int v3[3];
                if (!json_is_array(l) || json_array_size(l) != 3)
                    return td_err_set(err, TD_EFORMAT,
                                      "topology: tower '%s': camera[%zu] must "
                                      "be [filters, kernel, stride]",
                                      name, i);
                for (int k = 0; k < 3; k++)
                    if ((rc = get_pos_int(json_array_get(l, k), name, "camera", (int)i,
                                          k == 0 ? 4096 : 64, &v3[k], err)))
                        return rc;
                t->camera[i] = (td_nn_conv_spec){v3[0], v3[1], v3[2]};
            }
            t->n_camera = a ? (int)json_array_size(a) : 0;
        }
        if (has_lidar) {
            t->lidar_dim = lidar;
            if ((rc = get_widths(tj, name, "lidar", &t->n_lidar, t->lidar, err)))
                return rc;
        }
        if (has_state) {
            t->state_dim = state;
            if ((rc = get_widths(tj, name, "state", &t->n_state, t->state, err)))
                return rc;
        }
        if ((rc = get_widths(tj, name, "trunk", &t->n_trunk, t->trunk, err)))
            return rc;
        const json_t *head = json_object_get(tj, "head");
        if (!json_is_object(head))
            return td_err_set(err, TD_EFORMAT,
                              "topology: tower '%s': \"head\" must be an "
                              "object {\"type\", \"n\"}",
                              name);
        const char *type = json_string_value(json_object_get(head, "type"));
        if (!type)
            return td_err_set(err, TD_EFORMAT, "topology: tower '%s': head.type missing", name);
        if (strcmp(type, "categorical") == 0)
            t->head = TD_NN_HEAD_CATEGORICAL;
        else if (strcmp(type, "gaussian") == 0)
            t->head = TD_NN_HEAD_GAUSSIAN;
        else if (strcmp(type, "value") == 0)
            t->head = TD_NN_HEAD_VALUE;
        else if (strcmp(type, "q") == 0)
            t->head = TD_NN_HEAD_Q;
        else
            return td_err_set(err, TD_EFORMAT,
                              "topology: tower '%s': unknown head.type '%s' "
                              "(categorical, gaussian, value, q)",
                              name, type);
        if ((rc = get_pos_int(json_object_get(head, "n"), name, "head.n", 0, 4096, &t->n_out, err)))
            return rc;
        const char *squash = json_string_value(json_object_get(head, "squash"));
        if (squash && strcmp(squash, "tanh") == 0)
            t->head_tanh = 1;
        else if (squash && strcmp(squash, "none") != 0)
            return td_err_set(err, TD_EFORMAT, "topology: tower '%s': unknown head.squash '%s'",
                              name, squash);
        if (t->head == TD_NN_HEAD_Q) {
            if (!has_action)
                return td_err_set(err, TD_EFORMAT,
                                  "topology: tower '%s' has a q head but "
                                  "inputs has no \"action\"",
                                  name);
            t->action_dim = action;
        }
        if ((rc = tower_validate(t, err)))
            return td_err_prefix(err, rc, "topology: ");
        topo->n_towers++;
    }
    return 0;
}

static json_t *int_array(const int *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

int td_nn_topology_to_json(const td_nn_topology *topo, json_t **topology, json_t **inputs,
                           td_err *err)
{
    *topology = NULL;
    *inputs = NULL;
    if (topo->n_towers < 1 || topo->n_towers > TD_NN_MAX_TOWERS)
        return td_err_set(err, TD_EINVAL, "topology with %d towers", topo->n_towers);
    const td_nn_tower *t0 = &topo->towers[0];
    int action = 0;
    for (int i = 0; i < topo->n_towers; i++) {
        const td_nn_tower *t = &topo->towers[i];
        int rc = tower_validate(t, err);
        if (rc)
            return rc;
        /* the file has one inputs object: every tower must see the same observation */
        if (t->camera_h != t0->camera_h || t->camera_w != t0->camera_w ||
            t->camera_c != t0->camera_c || t->lidar_dim != t0->lidar_dim ||
            t->state_dim != t0->state_dim)
            return td_err_set(err, TD_EINVAL, "towers '%s' and '%s' have different inputs",
                              t0->name, t->name);
        if (t->action_dim) {
            if (action && action != t->action_dim)
                return td_err_set(err, TD_EINVAL, "q towers with different action sizes");
            action = t->action_dim;
        }
    }
    json_t *in = json_object();
    if (t0->camera_h) {
        int cam[3] = {t0->camera_h, t0->camera_w, t0->camera_c};
        json_object_set_new(in, "camera", int_array(cam, 3));
    }
    if (t0->lidar_dim)
        json_object_set_new(in, "lidar", int_array(&t0->lidar_dim, 1));
    if (t0->state_dim)
        json_object_set_new(in, "state", int_array(&t0->state_dim, 1));
    if (action)
        json_object_set_new(in, "action", int_array(&action, 1));
    json_t *towers = json_object();
    for (int i = 0; i < topo->n_towers; i++) {
        const td_nn_tower *t = &topo->towers[i];
        json_t *tj = json_object();
        if (t->camera_h) {
            json_t *cam = json_array();
            for (int l = 0; l < t->n_camera; l++) {
                int v[3] = {t->camera[l].filters, t->camera[l].kernel, t->camera[l].stride};
                json_array_append_new(cam, int_array(v, 3));
            }
            json_object_set_new(tj, "camera", cam);
        }
        if (t->lidar_dim)
            json_object_set_new(tj, "lidar", int_array(t->lidar, t->n_lidar));
        if (t->state_dim)
            json_object_set_new(tj, "state", int_array(t->state, t->n_state));
        json_object_set_new(tj, "trunk", int_array(t->trunk, t->n_trunk));
        json_t *head = json_object();
        json_object_set_new(head, "type", json_string(td_nn_head_name(t->head)));
        json_object_set_new(head, "n", json_integer(t->n_out));
        if (t->head_tanh)
            json_object_set_new(head, "squash", json_string("tanh"));
        json_object_set_new(tj, "head", head);
        json_object_set_new(towers, t->name, tj);
    }
    json_t *top = json_object();
    json_object_set_new(top, "towers", towers);
    *topology = top;
    *inputs = in;
    return 0;
}
