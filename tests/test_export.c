/*
 * test_export.c - `trackday export --format onnx|deepracer` on policies of every kind
 * trackday trains (SHALLOW, DEEP and STANDARD CNNs; front, stereo cameras; lidar; discrete and
 * continuous PPO; SAC): ONNX's checker accepts the ONNX file, and OpenCV's ONNX and
 * TensorFlow importers, fed the same observations, give infer/'s outputs within 1e-4
 * (tests/check_export.py). Also: the DeepRacer archive's layout and node names, refusals
 * (state sensor for a car, int8 model, bad arguments) with their messages.
 */
#include <sys/stat.h>

#include "td_test.h"
#include "trackday/archive.h"
#include "trackday/export.h"
#include "trackday/infer.h"
#include "trackday/policy.h"

#ifndef TD_TEST_TRACKDAY_BIN
#define TD_TEST_TRACKDAY_BIN "trackday"
#endif
#define TMP TD_TEST_BUILD_DIR "/export_test"
#define K   6 /* observations per model */

static void fresh_dir(const char *sub)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/%s && mkdir -p %s/%s", TMP, sub, TMP, sub);
    TD_ASSERT_EQ_INT(system(cmd), 0);
}

/* Runs a shell command, returns its exit status and (first 64 KB of) its output. */
static int run(const char *cmd, char *out, size_t cap)
{
    char full[4096];
    snprintf(full, sizeof(full), "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    TD_ASSERT(p != NULL);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

typedef struct model_case {
    const char *name;
    td_network_kind net;
    td_camera_sensor camera;
    td_lidar_sensor lidar;
    int state;
    int continuous, sac;
} model_case;

/* Writes a freshly initialized policy of the case's kind to path (as training saves it). */
static void make_model(const model_case *c, const char *path, uint64_t seed)
{
    td_model_metadata m;
    td_policy p;
    td_rng rng;
    td_err err;
    td_model_metadata_default(&m);
    m.network = c->net;
    m.camera = c->camera;
    m.lidar = c->lidar;
    m.state_sensor = c->state;
    if (c->lidar == TD_LIDAR_DISCRETIZED) {
        m.lidar_num_sectors = 8;
        m.lidar_values_per_sector = 4;
        m.lidar_clipping_dist = 2.0;
    }
    if (c->continuous) {
        m.action_space_type = TD_ACTIONS_CONTINUOUS;
        m.steering_low = -30;
        m.steering_high = 30;
        m.speed_low = 0.5;
        m.speed_high = 3;
        m.algorithm = c->sac ? TD_ALGO_SAC : TD_ALGO_CLIPPED_PPO;
    }
    td_rng_seed(&rng, seed, 7);
    TD_ASSERT_OK(td_policy_init(&p, &m, 1, &rng, &err));
    /* Non-zero biases, so a wrong bias layout shows, and a head with large weights, so the
     * probabilities are far from uniform and any layout mistake moves them well past 1e-4. */
    for (int t = 0; t < p.n_nets; t++)
        for (int k = 0; k < p.nets[t].n_tensors; k++) {
            const td_nn_tensor *tt = &p.nets[t].tensors[k];
            float *v = p.nets[t].params + tt->offset;
            if (strstr(tt->name, ".bias"))
                for (size_t q = 0; q < tt->n; q++)
                    v[q] = (float)td_rng_range(&rng, -0.1, 0.1);
            if (!strcmp(tt->name, "policy.head.weight"))
                for (size_t q = 0; q < tt->n; q++)
                    v[q] *= 30.0f;
        }
    TD_ASSERT_OK(td_policy_save(&p, path, NULL, &err));
    td_policy_free(&p);
}

static void write_file(const char *path, const void *data, size_t n)
{
    td_err err;
    TD_ASSERT_OK(td_file_write_atomic(path, data, n, &err));
}

/*
 * Runs infer/ on K random observations of the model at dir/model.tdm, writes them and the
 * expected outputs beside it and the case file for check_export.py. Input names come from
 * the export (io).
 */
static void write_case(const char *dir, const td_export_io *io, int with_onnx, int with_pb)
{
    char path[1024];
    td_infer_model *m;
    td_infer_err ie;
    td_rng rng;
    snprintf(path, sizeof(path), "%s/model.tdm", dir);
    if (td_infer_open_file(&m, path, &ie) != 0)
        TD_FAIL("%s", ie.msg);
    const td_infer_info *in = td_infer_get_info(m);
    size_t cam = (size_t)in->camera_h * in->camera_w * in->camera_c;
    uint8_t *frames = td_malloc(cam * K + 1);
    float *lidar = td_malloc(sizeof(float) * ((size_t)in->lidar_dim * K + 1));
    float *state = td_malloc(sizeof(float) * ((size_t)in->state_dim * K + 1));
    float *expected = td_malloc(sizeof(float) * (size_t)in->n_out * K);
    td_rng_seed(&rng, 99, 1);
    for (size_t i = 0; i < cam * K; i++)
        frames[i] = (uint8_t)td_rng_below(&rng, 256);
    for (int i = 0; i < in->lidar_dim * K; i++)
        lidar[i] = (float)td_rng_range(&rng, 0.15, 1.0);
    for (int i = 0; i < in->state_dim * K; i++)
        state[i] = (float)td_rng_range(&rng, -1.0, 1.0);
    for (int k = 0; k < K; k++) {
        td_infer_obs obs = {frames + cam * k, lidar + (size_t)in->lidar_dim * k,
                            state + (size_t)in->state_dim * k};
        TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
        const float *out = td_infer_probs(m) ? td_infer_probs(m) : td_infer_output(m);
        for (int j = 0; j < in->n_out; j++)
            expected[k * in->n_out + j] =
                !td_infer_probs(m) && in->squash_tanh ? tanhf(out[j]) : out[j];
    }
    TD_ASSERT_EQ_INT(io->n_out, in->n_out);
    TD_ASSERT_EQ_INT(io->output_probabilities, !in->continuous);
    json_t *c = json_object(), *inputs = json_array();
    for (int i = 0; i < io->n_inputs; i++) {
        json_t *e = json_object(), *shape = json_array();
        const char *kind = io->input_kind[i];
        char f[1100];
        snprintf(f, sizeof(f), "%s/%s.raw", dir, kind);
        if (!strcmp(kind, "camera")) {
            write_file(f, frames, cam * K);
            json_array_append_new(shape, json_integer(in->camera_h));
            json_array_append_new(shape, json_integer(in->camera_w));
            json_array_append_new(shape, json_integer(in->camera_c));
        } else if (!strcmp(kind, "lidar")) {
            write_file(f, lidar, sizeof(float) * (size_t)in->lidar_dim * K);
            json_array_append_new(shape, json_integer(in->lidar_dim));
        } else {
            write_file(f, state, sizeof(float) * (size_t)in->state_dim * K);
            json_array_append_new(shape, json_integer(in->state_dim));
        }
        json_object_set_new(e, "name", json_string(io->input_names[i]));
        json_object_set_new(e, "kind", json_string(kind));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "file", json_string(f));
        json_array_append_new(inputs, e);
    }
    snprintf(path, sizeof(path), "%s/expected.f32", dir);
    write_file(path, expected, sizeof(float) * (size_t)in->n_out * K);
    json_object_set_new(c, "expected", json_string(path));
    json_object_set_new(c, "inputs", inputs);
    json_object_set_new(c, "count", json_integer(K));
    json_object_set_new(c, "n_out", json_integer(in->n_out));
    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    json_object_set_new(c, "onnx", with_onnx ? json_string(path) : json_null());
    snprintf(path, sizeof(path), "%s/car/model.pb", dir);
    json_object_set_new(c, "pb", with_pb ? json_string(path) : json_null());
    snprintf(path, sizeof(path), "%s/case.json", dir);
    TD_ASSERT_EQ_INT(json_dump_file(c, path, 0), 0);
    json_decref(c);
    td_free(frames);
    td_free(lidar);
    td_free(state);
    td_free(expected);
    td_infer_close(m);
}

/* Exports one case both ways through the CLI and checks it in OpenCV. */
static void check_case(const model_case *c, uint64_t seed)
{
    char dir[512], cmd[2048], out[65536], path[1024];
    td_err err;
    fresh_dir(c->name);
    snprintf(dir, sizeof(dir), "%s/%s", TMP, c->name);
    snprintf(path, sizeof(path), "%s/model.tdm", dir);
    make_model(c, path, seed);

    snprintf(cmd, sizeof(cmd), "%s export %s/model.tdm --format onnx -o %s/model.onnx",
             TD_TEST_TRACKDAY_BIN, dir, dir);
    if (run(cmd, out, sizeof(out)) != 0)
        TD_FAIL("%s: %s", cmd, out);
    TD_ASSERT_CONTAINS(out, "wrote");
    int car = !c->state;
    if (car) {
        snprintf(cmd, sizeof(cmd), "%s export %s/model.tdm --format deepracer -o %s/car.tar.gz",
                 TD_TEST_TRACKDAY_BIN, dir, dir);
        if (run(cmd, out, sizeof(out)) != 0)
            TD_FAIL("%s: %s", cmd, out);
        /* The archive holds exactly model.pb and model_metadata.json, at its root. */
        td_archive a;
        snprintf(path, sizeof(path), "%s/car.tar.gz", dir);
        TD_ASSERT_OK(td_archive_read_targz_file(&a, path, NULL, &err));
        TD_ASSERT_EQ_INT(a.n, 2);
        const td_archive_entry *pb = td_archive_find(&a, "model.pb");
        const td_archive_entry *mm = td_archive_find(&a, "model_metadata.json");
        TD_ASSERT(pb && mm);
        json_error_t je;
        json_t *meta = json_loadb((const char *)mm->data, mm->size, 0, &je);
        TD_ASSERT(meta != NULL);
        TD_ASSERT(json_object_get(meta, "action_space") != NULL);
        TD_ASSERT(json_is_array(json_object_get(meta, "sensor")));
        json_decref(meta);
        snprintf(path, sizeof(path), "%s/car", dir);
        TD_ASSERT_OK(td_mkdir_p(path, &err));
        snprintf(path, sizeof(path), "%s/car/model.pb", dir);
        write_file(path, pb->data, pb->size);
        td_archive_free(&a);
    } else {
        /* A state-sensor model cannot go to a car: refused with a message, no file. */
        snprintf(cmd, sizeof(cmd), "%s export %s/model.tdm --format deepracer -o %s/car.tar.gz",
                 TD_TEST_TRACKDAY_BIN, dir, dir);
        TD_ASSERT_EQ_INT(run(cmd, out, sizeof(out)), 1);
        TD_ASSERT_CONTAINS(out, "STATE sensor");
        TD_ASSERT_CONTAINS(out, "DeepRacer car");
        snprintf(path, sizeof(path), "%s/car.tar.gz", dir);
        TD_ASSERT(!td_path_exists(path));
    }

    /* The exported graphs' inputs and output, from the library (same code as the CLI). */
    td_nn_net nets[TD_NN_MAX_TOWERS];
    int n = 0;
    json_t *header = NULL;
    snprintf(path, sizeof(path), "%s/model.tdm", dir);
    TD_ASSERT_OK(td_nn_load(path, nets, TD_NN_MAX_TOWERS, &n, 1, &header, &err));
    td_export_result r;
    TD_ASSERT_OK(td_export_graph(TD_EXPORT_ONNX, &nets[0], header, &r, &err));
    const char *agent = c->sac ? "policy" : "main";
    char want[256];
    snprintf(want, sizeof(want), "main_level/agent/%s/online/network_%d/%s/policy", agent,
             c->sac ? 0 : 1, c->sac ? "sac_policy_head_0" : "ppo_head_0");
    TD_ASSERT_STREQ(r.io.output_name, want);
    for (int i = 0; i < r.io.n_inputs; i++) {
        snprintf(want, sizeof(want), "main_level/agent/%s/online/network_0/", agent);
        TD_ASSERT(strncmp(r.io.input_names[i], want, strlen(want)) == 0);
    }
    write_case(dir, &r.io, 1, car);
    td_export_result_free(&r);
    json_decref(header);
    for (int i = 0; i < n; i++)
        td_nn_net_free(&nets[i]);

    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/check_export.py %s/case.json",
             TD_TEST_SOURCE_DIR, dir);
    int st = run(cmd, out, sizeof(out));
    printf("%s:\n%s", c->name, out);
    if (st != 0)
        TD_FAIL("%s: check_export.py failed: %s", c->name, out);
    TD_ASSERT_CONTAINS(out, "PASS onnx.checker");
    TD_ASSERT_CONTAINS(out, "PASS OpenCV ONNX importer");
    if (car)
        TD_ASSERT_CONTAINS(out, "PASS OpenCV TensorFlow importer");
}

TD_TEST(shallow_front_camera_discrete_ppo)
{
    model_case c = {"shallow", TD_NET_SHALLOW, TD_CAMERA_FRONT, TD_LIDAR_NONE, 0, 0, 0};
    check_case(&c, 1);
}

TD_TEST(stereo_lidar_continuous_ppo)
{
    /* DeepRacer concatenates LIDAR before STEREO_CAMERAS (sorted names): the export
     * reorders the first dense layer's columns. */
    model_case c = {"stereo_lidar", TD_NET_SHALLOW, TD_CAMERA_STEREO, TD_LIDAR_CLIPPED, 0, 1, 0};
    check_case(&c, 2);
}

TD_TEST(deep_network_discretized_lidar)
{
    model_case c = {"deep_dsl", TD_NET_DEEP, TD_CAMERA_FRONT, TD_LIDAR_DISCRETIZED, 0, 0, 0};
    check_case(&c, 3);
}

TD_TEST(standard_network_sac)
{
    model_case c = {"standard_sac", TD_NET_STANDARD, TD_CAMERA_LEFT, TD_LIDAR_NONE, 0, 1, 1};
    check_case(&c, 4);
}

TD_TEST(state_sensor_onnx_only)
{
    model_case c = {"state", TD_NET_MLP, TD_CAMERA_NONE, TD_LIDAR_NONE, 1, 0, 0};
    check_case(&c, 5);
}

/* The graph DeepRacer's tools look up: node names and order of the TensorFlow export. */
TD_TEST(graphdef_has_deepracer_node_names)
{
    model_case c = {"names", TD_NET_SHALLOW, TD_CAMERA_FRONT, TD_LIDAR_NONE, 0, 0, 0};
    char path[1024];
    td_err err;
    fresh_dir("names");
    snprintf(path, sizeof(path), "%s/names/model.tdm", TMP);
    make_model(&c, path, 6);
    td_nn_net nets[TD_NN_MAX_TOWERS];
    int n = 0;
    json_t *header = NULL;
    TD_ASSERT_OK(td_nn_load(path, nets, TD_NN_MAX_TOWERS, &n, 1, &header, &err));
    td_export_result r;
    TD_ASSERT_OK(td_export_graph(TD_EXPORT_TF_GRAPHDEF, &nets[0], header, &r, &err));
    /* The node names appear in the protobuf as length-prefixed strings. */
    static const char *names[] = {
        "main_level/agent/main/online/network_0/FRONT_FACING_CAMERA/FRONT_FACING_CAMERA",
        "main_level/agent/main/online/network_1/FRONT_FACING_CAMERA/truediv",
        "main_level/agent/main/online/network_1/FRONT_FACING_CAMERA/Conv2d_0/Conv2D",
        "main_level/agent/main/online/network_1/FRONT_FACING_CAMERA/Conv2d_4/BiasAdd",
        ("main_level/agent/main/online/network_1/FRONT_FACING_CAMERA/"
         "BatchnormActivationDropout_5_activation"),
        "main_level/agent/main/online/network_1/FRONT_FACING_CAMERA/flatten/Reshape",
        "main_level/agent/main/online/network_1/middleware_fc_embedder/Dense_0/MatMul",
        "main_level/agent/main/online/network_1/ppo_head_0/policy_fc/MatMul",
        "main_level/agent/main/online/network_1/ppo_head_0/policy",
    };
    size_t last = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t len = strlen(names[i]), at = 0;
        int found = 0;
        for (size_t p = 1; p + len <= r.len; p++)
            if (r.data[p - 1] == len && memcmp(r.data + p, names[i], len) == 0) {
                found = 1;
                at = p;
                break;
            }
        if (!found)
            TD_FAIL("node %s not in the graph", names[i]);
        TD_ASSERT(at > last); /* in graph order */
        last = at;
    }
    TD_ASSERT_STREQ(r.io.input_names[0], names[0]);
    TD_ASSERT_EQ_INT(r.io.input_shape[0][0], -1);
    TD_ASSERT_EQ_INT(r.io.input_shape[0][1], 120);
    TD_ASSERT_EQ_INT(r.io.input_shape[0][2], 160);
    TD_ASSERT_EQ_INT(r.io.input_shape[0][3], 1);
    /* Same model, same bytes. */
    td_export_result r2;
    TD_ASSERT_OK(td_export_graph(TD_EXPORT_TF_GRAPHDEF, &nets[0], header, &r2, &err));
    TD_ASSERT_EQ_INT(r.len, r2.len);
    TD_ASSERT(memcmp(r.data, r2.data, r.len) == 0);
    /* A value tower is not a policy. */
    td_export_result_free(&r2);
    TD_ASSERT_EQ_INT(td_export_graph(TD_EXPORT_ONNX, &nets[1], header, &r2, &err), TD_EUNSUPPORTED);
    TD_ASSERT_CONTAINS(err.msg, "not a policy");
    td_export_result_free(&r);
    td_export_result_free(&r2);
    json_decref(header);
    for (int i = 0; i < n; i++)
        td_nn_net_free(&nets[i]);
}

TD_TEST(cli_refusals_have_messages)
{
    char cmd[2048], out[8192], path[1024];
    model_case c = {"refuse", TD_NET_SHALLOW, TD_CAMERA_FRONT, TD_LIDAR_NONE, 0, 0, 0};
    fresh_dir("refuse");
    snprintf(path, sizeof(path), "%s/refuse/model.tdm", TMP);
    make_model(&c, path, 7);
    /* Command-line mistakes exit 2 (the option parser's message), failures while running 1. */
    static const struct {
        const char *args, *msg;
        int rc;
    } cases[] = {
        {"%s/refuse/model.tdm -o %s/refuse/x", "missing --format onnx|deepracer", 2},
        {"%s/refuse/model.tdm --format tflite -o %s/refuse/x", "'tflite' must be one of onnx", 2},
        {"%s/refuse/model.tdm --format onnx", "missing --out OUT", 2},
        {"%s/refuse/missing.tdm --format onnx -o %s/refuse/x", "no such model file", 1},
        {"%s/refuse --format onnx -o %s/refuse/x", "train it first", 1},
        {"%s/refuse/model.tdm --format onnx --checkpoint first -o %s/refuse/x",
         "'first' must be one of best|last", 2},
        {"%s/refuse/model.tdm --format onnx --bogus -o %s/refuse/x", "unknown option '--bogus'", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char args[1024];
        snprintf(args, sizeof(args), cases[i].args, TMP, TMP);
        snprintf(cmd, sizeof(cmd), "%s export %s", TD_TEST_TRACKDAY_BIN, args);
        TD_ASSERT_EQ_INT(run(cmd, out, sizeof(out)), cases[i].rc);
        TD_ASSERT_CONTAINS(out, cases[i].msg);
    }
    /* An int8 model names its way out. */
    snprintf(cmd, sizeof(cmd), "%s quantize %s --calibrate 4 --random -o %s/refuse/q.tdm",
             TD_TEST_TRACKDAY_BIN, path, TMP);
    TD_ASSERT_EQ_INT(run(cmd, out, sizeof(out)), 0);
    snprintf(cmd, sizeof(cmd), "%s export %s/refuse/q.tdm --format onnx -o %s/refuse/q.onnx",
             TD_TEST_TRACKDAY_BIN, TMP, TMP);
    TD_ASSERT_EQ_INT(run(cmd, out, sizeof(out)), 1);
    TD_ASSERT_CONTAINS(out, "int8 model");
    TD_ASSERT_CONTAINS(out, "fp32");
    snprintf(path, sizeof(path), "%s/refuse/q.onnx", TMP);
    TD_ASSERT(!td_path_exists(path));
    snprintf(cmd, sizeof(cmd), "%s export --help", TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_EQ_INT(run(cmd, out, sizeof(out)), 0);
    TD_ASSERT_CONTAINS(out, "--format");
}
