/*
 * model.c - `trackday model show MODEL.tdm [--json]`: what a model file holds (towers and
 * their topology, parameter counts, FLOPs per frame, inputs and sensors, action space,
 * dtype, lineage), after checking it with the device runtime's loader. Also the helpers the
 * model commands share: writing nn towers to a model file, a random SHALLOW policy.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/infer_cli.h"
#include "trackday/infer.h"

/* ---- writing towers to a model file --------------------------------------------------- */

int td__cli_random_shallow(td_nn_net nets[2], int n_actions, uint64_t seed, td_err *err)
{
    td_nn_io_spec io;
    td_nn_topology topo;
    td_rng rng;
    memset(&io, 0, sizeof(io));
    io.camera_h = 120;
    io.camera_w = 160;
    io.camera_c = 1;
    io.n_actions = n_actions;
    int rc = td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", &io, err);
    if (rc)
        return rc;
    td_rng_seed(&rng, seed, 1);
    if ((rc = td_nn_net_init(&nets[0], &topo.towers[0], 1, &rng, err)) != 0)
        return rc;
    if ((rc = td_nn_net_init(&nets[1], &topo.towers[1], 1, &rng, err)) != 0) {
        td_nn_net_free(&nets[0]);
        return rc;
    }
    return 0;
}

/* ---- model show ----------------------------------------------------------------------- */

/* Forward FLOPs (2 x multiply-adds) of one sample through a tower. */
static double tower_flops(const td_nn_tower *t)
{
    double f = 0;
    int concat = 0, dim;
    if (t->camera_h) {
        int h = t->camera_h, w = t->camera_w, c = t->camera_c;
        for (int i = 0; i < t->n_camera; i++) {
            int k = t->camera[i].kernel, s = t->camera[i].stride, oc = t->camera[i].filters;
            int oh = (h - k) / s + 1, ow = (w - k) / s + 1;
            f += 2.0 * oh * ow * oc * k * k * c;
            h = oh;
            w = ow;
            c = oc;
        }
        concat += h * w * c;
    }
    if (t->lidar_dim) {
        dim = t->lidar_dim;
        for (int i = 0; i < t->n_lidar; i++) {
            f += 2.0 * dim * t->lidar[i];
            dim = t->lidar[i];
        }
        concat += dim;
    }
    if (t->state_dim) {
        dim = t->state_dim;
        for (int i = 0; i < t->n_state; i++) {
            f += 2.0 * dim * t->state[i];
            dim = t->state[i];
        }
        concat += dim;
    }
    dim = concat + (t->head == TD_NN_HEAD_Q ? t->action_dim : 0);
    for (int i = 0; i < t->n_trunk; i++) {
        f += 2.0 * dim * t->trunk[i];
        dim = t->trunk[i];
    }
    return f + 2.0 * dim * t->n_out;
}

static void print_widths(FILE *o, const char *label, const int *w, int n)
{
    fprintf(o, " %s [", label);
    for (int i = 0; i < n; i++)
        fprintf(o, "%s%d", i ? "," : "", w[i]);
    fprintf(o, "]");
}

static void print_scalar(FILE *o, const json_t *v)
{
    if (json_is_string(v))
        fprintf(o, "%s", json_string_value(v));
    else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        fprintf(o, "%s", s ? s : "?");
        free(s);
    }
}

static int cmd_model_show(int argc, char **argv)
{
    const char *path = NULL;
    int as_json = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("MODEL.tdm", &path, "a model file (DIR/model/best.tdm, an int8 copy, ...)"),
        TD_CLI_FLAG("--json", &as_json, "print one JSON object instead"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "model show",
        .about = "Checks a model file (magic, version, checksum, tensor table, topology) and "
                 "prints its towers, parameters, FLOPs per frame, inputs, sensors, action space, "
                 "dtype and lineage.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    /* A model directory stands for its best checkpoint. */
    char best[4200];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        int n = snprintf(best, sizeof(best), "%s/model/best.tdm", path);
        if (n < 0 || (size_t)n >= sizeof(best))
            return td__cli_fail("%s: path too long", path);
        if (!td_path_exists(best))
            return td__cli_fail("%s is a directory without model/best.tdm (train it first, or "
                                "give a .tdm file)",
                                path);
        path = best;
    }

    char *data = NULL;
    size_t len = 0;
    td_err err;
    if (td_file_read(path, &data, &len, &err) != 0)
        return td__cli_fail("%s", err.msg);
    td_infer_err ie;
    size_t arena = 0;
    int rc = td_infer_arena_size(data, len, &arena, &ie);
    if (rc) {
        td_free(data);
        return td__cli_fail("%s: %s", path, ie.msg);
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)(uint8_t)data[16 + i] << (8 * i);
    json_error_t je;
    json_t *hdr = json_loadb(data + 24, (size_t)hlen, 0, &je);
    td_free(data);
    if (!hdr)
        return td__cli_fail("%s: header: %s", path, je.text);

    td_nn_topology topo;
    if (td_nn_topology_from_json(&topo, json_object_get(hdr, "topology"),
                                 json_object_get(hdr, "inputs"), &err) != 0) {
        json_decref(hdr);
        return td__cli_fail("%s: %s", path, err.msg);
    }
    /* dtype: which layer weights are int8 */
    int n_i8 = 0, n_w = 0;
    json_t *tensors = json_object_get(hdr, "tensors");
    for (size_t i = 0; i < json_array_size(tensors); i++) {
        json_t *t = json_array_get(tensors, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        size_t nl = name ? strlen(name) : 0;
        if (nl > 7 && strcmp(name + nl - 7, ".weight") == 0) {
            n_w++;
            n_i8 += strcmp(json_string_value(json_object_get(t, "dtype")), "i8") == 0;
        }
    }
    const char *dtype = n_i8 == 0 ? "f32" : "int8";
    json_t *space = json_object_get(hdr, "action_space");
    const char *space_type = json_string_value(json_object_get(hdr, "action_space_type"));
    const char *algo = json_string_value(json_object_get(hdr, "training_algorithm"));
    const char *netname = json_string_value(json_object_get(hdr, "neural_network"));

    if (as_json) {
        json_t *o = json_object(), *towers = json_array();
        json_object_set_new(o, "path", json_string(path));
        json_object_set_new(o, "bytes", json_integer((json_int_t)len));
        json_object_set_new(o, "format_version", json_integer(TD_INFER_FORMAT_VERSION));
        json_object_set_new(o, "dtype", json_string(dtype));
        json_object_set_new(o, "int8_layers", json_integer(n_i8));
        json_object_set_new(o, "layers", json_integer(n_w));
        json_object_set_new(o, "infer_arena_bytes", json_integer((json_int_t)arena));
        if (netname)
            json_object_set_new(o, "neural_network", json_string(netname));
        for (int i = 0; i < topo.n_towers; i++) {
            const td_nn_tower *t = &topo.towers[i];
            json_t *tw = json_object();
            json_object_set_new(tw, "name", json_string(t->name));
            json_object_set_new(tw, "head", json_string(td_nn_head_name(t->head)));
            json_object_set_new(tw, "outputs", json_integer(t->n_out));
            json_object_set_new(tw, "params", json_integer(td_nn_tower_param_count(t)));
            json_object_set_new(tw, "flops_per_frame", json_real(tower_flops(t)));
            json_object_set_new(
                tw, "topology",
                json_deep_copy(json_object_get(
                    json_object_get(json_object_get(hdr, "topology"), "towers"), t->name)));
            json_array_append_new(towers, tw);
        }
        json_object_set_new(o, "towers", towers);
        const char *keys[] = {"inputs",
                              "sensors",
                              "action_space_type",
                              "action_space",
                              "training_algorithm",
                              "action_mapping",
                              "preprocessing",
                              "lineage"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            json_t *v = json_object_get(hdr, keys[k]);
            if (v)
                json_object_set(o, keys[k], v);
        }
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        json_decref(hdr);
        return 0;
    }

    printf("model        %s (%zu bytes, format v%d, checksum ok)\n", path, len,
           TD_INFER_FORMAT_VERSION);
    if (netname)
        printf("network      %s\n", netname);
    if (n_i8 == n_w)
        printf("dtype        int8 (all %d layers)\n", n_w);
    else if (n_i8)
        printf("dtype        int8 (%d of %d layers; the others f32)\n", n_i8, n_w);
    else
        printf("dtype        f32\n");
    printf("inputs      ");
    const td_nn_tower *t0 = &topo.towers[0];
    if (t0->camera_h)
        printf(" camera %dx%dx%d (uint8 / 255)", t0->camera_h, t0->camera_w, t0->camera_c);
    if (t0->lidar_dim)
        printf(" lidar %d", t0->lidar_dim);
    if (t0->state_dim)
        printf(" state %d", t0->state_dim);
    printf("\n");
    json_t *sensors = json_object_get(hdr, "sensors");
    if (json_is_array(sensors)) {
        printf("sensors     ");
        for (size_t i = 0; i < json_array_size(sensors); i++)
            printf(" %s", json_string_value(json_array_get(sensors, i)));
        printf("\n");
    }
    printf("actions      %s", space_type ? space_type : "?");
    if (json_is_array(space)) {
        printf(", %zu:", json_array_size(space));
        for (size_t i = 0; i < json_array_size(space); i++) {
            json_t *a = json_array_get(space, i);
            printf(" (%g deg, %g m/s)", json_number_value(json_object_get(a, "steering_angle")),
                   json_number_value(json_object_get(a, "speed")));
        }
    } else if (json_is_object(space)) {
        json_t *sa = json_object_get(space, "steering_angle"),
               *sp = json_object_get(space, "speed");
        printf(": steering [%g, %g] deg, speed [%g, %g] m/s",
               json_number_value(json_object_get(sa, "low")),
               json_number_value(json_object_get(sa, "high")),
               json_number_value(json_object_get(sp, "low")),
               json_number_value(json_object_get(sp, "high")));
    }
    printf("\n");
    if (algo)
        printf("algorithm    %s\n", algo);
    printf("towers\n");
    for (int i = 0; i < topo.n_towers; i++) {
        const td_nn_tower *t = &topo.towers[i];
        printf("  %-7s", t->name);
        if (t->camera_h) {
            printf(" camera");
            for (int l = 0; l < t->n_camera; l++)
                printf(" [%d,%d,%d]", t->camera[l].filters, t->camera[l].kernel,
                       t->camera[l].stride);
        }
        if (t->lidar_dim)
            print_widths(stdout, "lidar", t->lidar, t->n_lidar);
        if (t->state_dim)
            print_widths(stdout, "state", t->state, t->n_state);
        print_widths(stdout, "trunk", t->trunk, t->n_trunk);
        printf(" head %s(%d)\n", td_nn_head_name(t->head), t->n_out);
        printf("          params %ld, %.2f MFLOP per frame\n", td_nn_tower_param_count(t),
               tower_flops(t) / 1e6);
    }
    json_t *lin = json_object_get(hdr, "lineage");
    if (json_is_object(lin) && json_object_size(lin)) {
        const char *k;
        json_t *v;
        printf("lineage\n");
        json_object_foreach(lin, k, v)
        {
            printf("  %-12s ", k);
            print_scalar(stdout, v);
            printf("\n");
        }
    }
    json_decref(hdr);
    return 0;
}

static int cmd_model(int argc, char **argv)
{
    static const td__cli_sub subs[] = {
        {"show", "what a model file holds: towers, parameters, FLOPs, sensors, lineage",
         cmd_model_show},
        {NULL, NULL, NULL},
    };
    return td__cli_dispatch("model", "Model files (.tdm).", subs, argc, argv);
}

TD_CLI_COMMAND("model", "show what a model file holds (model show MODEL [--json])", cmd_model)
