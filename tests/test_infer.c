/*
 * test_infer.c - the device runtime (infer/) against the training engine (nn/): the same
 * network gives the same outputs in both; the fast kernels match the naive references; int8
 * models choose the same actions as fp32; every kind of bad model file is rejected with its
 * message; infer/ builds alone as strict C99.
 *
 * Model files here are written by a test-side writer that follows docs/model-format.md
 * (nn's td_nn_save writes the same layout; this file does not depend on it).
 */
#include <jansson.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

#include "td_test.h"
#include "infer/infer_internal.h" /* the JSON reader, tested directly */
#include "trackday/infer.h"
#include "trackday/nn.h"
#include "trackday/sensors.h"
#include "trackday/track.h"

/* ---- a test-side model writer --------------------------------------------------------- */

typedef struct wtensor {
    char name[96];
    int ndim, shape[4];
    const void *data;
    size_t nbytes;
} wtensor;

typedef struct tfile {
    uint8_t *buf;
    size_t len;
} tfile;

static size_t align64(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Lays out header text + data section + CRC (the data section is copied as given). */
static tfile assemble(const char *json, const uint8_t *data, size_t data_size)
{
    tfile f;
    size_t h = strlen(json), off = align64(24 + h);
    f.len = off + data_size + 4;
    f.buf = td_calloc(1, f.len);
    TD_ASSERT(f.buf != NULL);
    memcpy(f.buf, "TDMODEL", 8);
    put32(f.buf + 8, 1);
    put32(f.buf + 12, 0);
    put32(f.buf + 16, (uint32_t)h);
    put32(f.buf + 20, 0);
    memcpy(f.buf + 24, json, h);
    if (data_size)
        memcpy(f.buf + off, data, data_size);
    put32(f.buf + f.len - 4, td_crc32(0, f.buf, f.len - 4));
    return f;
}

/* Writes a model: hdr (borrowed) gains format, version, data_size and the tensor table. */
static tfile write_model(const json_t *hdr_in, const wtensor *t, int nt)
{
    json_t *hdr = json_deep_copy(hdr_in), *table = json_array();
    size_t off = 0;
    for (int i = 0; i < nt; i++) {
        json_t *e = json_object(), *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++)
            json_array_append_new(shape, json_integer(t[i].shape[d]));
        json_object_set_new(e, "name", json_string(t[i].name));
        json_object_set_new(e, "dtype", json_string("f32"));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "offset", json_integer((json_int_t)off));
        json_object_set_new(e, "nbytes", json_integer((json_int_t)t[i].nbytes));
        json_array_append_new(table, e);
        off = align64(off + t[i].nbytes);
    }
    uint8_t *data = td_calloc(1, off ? off : 1);
    off = 0;
    for (int i = 0; i < nt; i++) {
        memcpy(data + off, t[i].data, t[i].nbytes);
        off = align64(off + t[i].nbytes);
    }
    json_object_set_new(hdr, "format", json_string("trackday-model"));
    json_object_set_new(hdr, "version", json_integer(1));
    json_object_set_new(hdr, "data_size", json_integer((json_int_t)off));
    json_object_set_new(hdr, "tensors", table);
    char *text = json_dumps(hdr, JSON_SORT_KEYS);
    tfile f = assemble(text, data, off);
    free(text);
    td_free(data);
    json_decref(hdr);
    return f;
}

static void tfile_free(tfile *f)
{
    td_free(f->buf);
    f->buf = NULL;
}

/* The header of a file as JSON (new reference). */
static json_t *read_header(const tfile *f)
{
    size_t h = (size_t)get32(f->buf + 16);
    json_error_t je;
    json_t *j = json_loadb((const char *)f->buf + 24, h, 0, &je);
    TD_ASSERT(j != NULL);
    return j;
}

/* A new file with header text json and f's data section (CRC recomputed). */
static tfile with_header_text(const tfile *f, const char *json)
{
    size_t h = (size_t)get32(f->buf + 16), off = align64(24 + h);
    return assemble(json, f->buf + off, f->len - 4 - off);
}

static tfile with_header(const tfile *f, const json_t *hdr)
{
    char *text = json_dumps(hdr, JSON_SORT_KEYS);
    tfile g = with_header_text(f, text);
    free(text);
    return g;
}

/* ---- models from nn ------------------------------------------------------------------- */

static json_t *discrete_space(int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "steering_angle", json_real(-30.0 + 60.0 * i / (n > 1 ? n - 1 : 1)));
        json_object_set_new(e, "speed", json_real(0.5 + 0.25 * (i % 3)));
        json_array_append_new(a, e);
    }
    return a;
}

static json_t *continuous_space(void)
{
    json_t *sa = json_object(), *sp = json_object(), *a = json_object();
    json_object_set_new(sa, "low", json_real(-30));
    json_object_set_new(sa, "high", json_real(30));
    json_object_set_new(sp, "low", json_real(0.5));
    json_object_set_new(sp, "high", json_real(4));
    json_object_set_new(a, "steering_angle", sa);
    json_object_set_new(a, "speed", sp);
    return a;
}

/* Header keys and tensors of a set of nets (borrowed), in the nets' tensor order. */
static tfile file_of_nets(td_nn_net *nets, int n, const char *space_type, json_t *space,
                          const char *algorithm)
{
    td_nn_topology topo;
    memset(&topo, 0, sizeof(topo));
    topo.n_towers = n;
    for (int i = 0; i < n; i++)
        topo.towers[i] = nets[i].spec;
    json_t *tj, *ij;
    td_err err;
    TD_ASSERT_OK(td_nn_topology_to_json(&topo, &tj, &ij, &err));
    json_t *hdr = json_object();
    json_object_set_new(hdr, "topology", tj);
    json_object_set_new(hdr, "inputs", ij);
    json_object_set_new(hdr, "action_space_type", json_string(space_type));
    json_object_set_new(hdr, "action_space", space);
    json_object_set_new(hdr, "training_algorithm", json_string(algorithm));
    json_t *lin = json_object();
    json_object_set_new(lin, "run_id", json_string("test-\xc3\xa9t\xc3\xa9 \"q\""));
    json_object_set_new(hdr, "lineage", lin);
    wtensor t[TD_NN_MAX_TENSORS * TD_NN_MAX_TOWERS];
    int nt = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nets[i].n_tensors; k++) {
            const td_nn_tensor *s = &nets[i].tensors[k];
            wtensor *w = &t[nt++];
            TD_FMT(w->name, "%s", s->name);
            w->ndim = s->ndim;
            memcpy(w->shape, s->shape, sizeof(w->shape));
            w->data = nets[i].params + s->offset;
            w->nbytes = s->n * sizeof(float);
        }
    tfile f = write_model(hdr, t, nt);
    json_decref(hdr);
    return f;
}

static void random_frame(uint8_t *px, size_t n, td_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        px[i] = (uint8_t)td_rng_below(rng, 256);
}

static void random_floats(float *x, int n, double lo, double hi, td_rng *rng)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)td_rng_range(rng, lo, hi);
}

/* max |a - b| relative to max |b|. */
static double rel_diff(const float *a, const float *b, int n)
{
    double d = 0, s = 1e-12;
    for (int i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > d)
            d = e;
        if (fabs(b[i]) > s)
            s = fabs(b[i]);
    }
    return d / s;
}

static td_infer_model *load_ok(const tfile *f)
{
    td_infer_model *m = NULL;
    td_infer_err e;
    int rc = td_infer_open_buffer(&m, f->buf, f->len, &e);
    if (rc)
        TD_FAIL("load failed: %s (%s)", e.msg, td_infer_strerror(rc));
    return m;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Builds the SHALLOW PPO discrete towers (policy, value) with random weights. */
static void shallow_nets(td_nn_net nets[2], int n_actions, uint64_t seed, int max_batch)
{
    td_nn_io_spec io;
    memset(&io, 0, sizeof(io));
    io.camera_h = 120;
    io.camera_w = 160;
    io.camera_c = 1;
    io.n_actions = n_actions;
    td_nn_topology topo;
    td_err err;
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", &io, &err));
    TD_ASSERT_EQ_INT(topo.n_towers, 2);
    td_rng rng;
    td_rng_seed(&rng, seed, 1);
    for (int i = 0; i < 2; i++)
        TD_ASSERT_OK(td_nn_net_init(&nets[i], &topo.towers[i], max_batch, &rng, &err));
}

/* ---- nn and infer agree ----------------------------------------------------------------- */

TD_TEST(shallow_fp32_matches_nn)
{
    td_nn_net nets[2];
    shallow_nets(nets, 5, 7, 1);
    tfile f = file_of_nets(nets, 2, "discrete", discrete_space(5), "clipped_ppo");
    td_infer_model *m = load_ok(&f);
    const td_infer_info *in = td_infer_get_info(m);
    TD_ASSERT_EQ_INT(in->camera_h, 120);
    TD_ASSERT_EQ_INT(in->camera_w, 160);
    TD_ASSERT_EQ_INT(in->n_out, 5);
    TD_ASSERT_EQ_INT(in->n_layers, 5);
    TD_ASSERT_EQ_INT(in->n_int8_layers, 0);
    TD_ASSERT_EQ_INT((long)in->n_params, td_nn_tower_param_count(&nets[0].spec));
    td_rng rng;
    td_rng_seed(&rng, 99, 2);
    uint8_t frame[120 * 160];
    for (int k = 0; k < 3; k++) {
        random_frame(frame, sizeof(frame), &rng);
        td_nn_input nin;
        memset(&nin, 0, sizeof(nin));
        nin.camera_u8 = frame;
        TD_ASSERT_OK(td_nn_net_forward(&nets[0], &nin, 1));
        td_infer_obs obs = {frame, NULL, NULL};
        td_infer_action act;
        TD_ASSERT_OK(td_infer_run(m, &obs, &act));
        const float *out = td_infer_output(m);
        double d = rel_diff(out, nets[0].out, 5);
        TD_ASSERT_LE(d, 1e-5);
        TD_ASSERT_EQ_INT(act.index, argmax(nets[0].out, 5));
        TD_ASSERT_NEAR(act.steering_angle, in->actions[act.index].steering_angle, 0);
        const float *p = td_infer_probs(m);
        double s = 0;
        for (int i = 0; i < 5; i++)
            s += p[i];
        TD_ASSERT_NEAR(s, 1.0, 1e-5);
        /* The fast kernels of every instruction set this CPU has against the naive
         * references. */
        float ref[5];
        td_infer_set_reference(m, 1);
        TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
        memcpy(ref, td_infer_output(m), sizeof(ref));
        td_infer_set_reference(m, 0);
        for (int isa = TD_INFER_ISA_GENERIC; isa < TD_INFER_ISA_COUNT; isa++) {
            if (!td_infer_isa_supported(isa))
                continue;
            TD_ASSERT_OK(td_infer_set_isa(m, isa));
            TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
            if (rel_diff(ref, td_infer_output(m), 5) > 1e-5)
                TD_FAIL("%s: relative difference %g", td_infer_isa_name(isa),
                        rel_diff(ref, td_infer_output(m), 5));
        }
        TD_ASSERT_OK(td_infer_set_isa(m, TD_INFER_ISA_AUTO));
    }
    td_infer_close(m);
    tfile_free(&f);
    td_nn_net_free(&nets[0]);
    td_nn_net_free(&nets[1]);
}

typedef struct cl_src {
    uint8_t cam[32][30 * 40 * 2];
    float lid[32][64];
} cl_src;

static int cl_obs(void *ctx, int i, td_infer_obs *obs)
{
    cl_src *s = ctx;
    obs->camera = s->cam[i];
    obs->lidar = s->lid[i];
    obs->state = NULL;
    return 0;
}

/* A camera + lidar tower with a small camera, continuous PPO head. */
TD_TEST(camera_lidar_continuous_matches_nn)
{
    td_nn_tower t;
    memset(&t, 0, sizeof(t));
    TD_FMT(t.name, "policy");
    t.camera_h = 30;
    t.camera_w = 40;
    t.camera_c = 2;
    t.n_camera = 2;
    t.camera[0] = (td_nn_conv_spec){8, 4, 2};
    t.camera[1] = (td_nn_conv_spec){16, 3, 1};
    t.lidar_dim = 64;
    t.n_lidar = 2;
    t.lidar[0] = 32;
    t.lidar[1] = 24;
    t.n_trunk = 1;
    t.trunk[0] = 40;
    t.head = TD_NN_HEAD_GAUSSIAN;
    t.n_out = 2;
    td_nn_net net;
    td_err err;
    td_rng rng;
    td_rng_seed(&rng, 3, 3);
    TD_ASSERT_OK(td_nn_net_init(&net, &t, 1, &rng, &err));
    /* Larger head weights so the means leave [-1, 1] sometimes and clipping is exercised. */
    const td_nn_tensor *hw = td_nn_net_tensor(&net, "policy.head.weight");
    TD_ASSERT(hw != NULL);
    for (size_t i = 0; i < hw->n; i++)
        net.params[hw->offset + i] *= 60.0f;
    tfile f = file_of_nets(&net, 1, "continuous", continuous_space(), "clipped_ppo");
    td_infer_model *m = load_ok(&f);
    const td_infer_info *in = td_infer_get_info(m);
    TD_ASSERT_EQ_INT(in->continuous, 1);
    TD_ASSERT_EQ_INT(in->mapping_unit, 1);
    TD_ASSERT_EQ_INT(in->lidar_dim, 64);
    int clipped = 0;
    for (int k = 0; k < 20; k++) {
        uint8_t frame[30 * 40 * 2];
        float lidar[64];
        random_frame(frame, sizeof(frame), &rng);
        random_floats(lidar, 64, 0.15, 1.0, &rng);
        td_nn_input nin;
        memset(&nin, 0, sizeof(nin));
        nin.camera_u8 = frame;
        nin.lidar = lidar;
        TD_ASSERT_OK(td_nn_net_forward(&net, &nin, 1));
        td_infer_obs obs = {frame, lidar, NULL};
        td_infer_action act;
        TD_ASSERT_OK(td_infer_run(m, &obs, &act));
        TD_ASSERT_LE(rel_diff(td_infer_output(m), net.out, 2), 1e-5);
        TD_ASSERT_EQ_INT(act.index, -1);
        /* PPO: clip the mean to [-1, 1], map linearly to [low, high]. */
        double s = fmin(1, fmax(-1, net.out[0])), v = fmin(1, fmax(-1, net.out[1]));
        clipped += fabs(net.out[0]) > 1 || fabs(net.out[1]) > 1;
        TD_ASSERT_NEAR(act.steering_angle, -30 + (s + 1) * 30, 1e-3);
        TD_ASSERT_NEAR(act.speed, 0.5 + (v + 1) * 0.5 * 3.5, 1e-4);
        TD_ASSERT(td_infer_probs(m) == NULL);
    }
    TD_ASSERT_GT(clipped, 0);
    /* int8 (head and log_std stay fp32): the means move by a small part of their spread. */
    {
        cl_src *src = td_malloc(sizeof(*src));
        for (int i = 0; i < 32; i++) {
            random_frame(src->cam[i], sizeof(src->cam[i]), &rng);
            random_floats(src->lid[i], 64, 0.15, 1.0, &rng);
        }
        void *q = NULL;
        size_t qlen = 0;
        td_infer_err e;
        TD_ASSERT_OK(td_infer_quantize(f.buf, f.len, cl_obs, src, 16, NULL, &q, &qlen, &e));
        td_infer_model *m8 = NULL;
        TD_ASSERT_OK(td_infer_open_buffer(&m8, q, qlen, &e));
        TD_ASSERT_EQ_INT(td_infer_get_info(m8)->n_int8_layers, 5);
        TD_ASSERT_EQ_INT(td_infer_get_info(m8)->mapping_unit, 1);
        double err = 0, spread = 0, mean[2] = {0, 0};
        float outs[16][2];
        for (int i = 16; i < 32; i++) { /* observations not used for calibration */
            td_infer_obs obs;
            cl_obs(src, i, &obs);
            TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
            TD_ASSERT_OK(td_infer_run(m8, &obs, NULL));
            for (int k = 0; k < 2; k++) {
                outs[i - 16][k] = td_infer_output(m)[k];
                mean[k] += td_infer_output(m)[k] / 16;
                err += fabs(td_infer_output(m)[k] - td_infer_output(m8)[k]) / 32;
            }
        }
        for (int i = 0; i < 16; i++)
            for (int k = 0; k < 2; k++)
                spread += fabs(outs[i][k] - mean[k]) / 32;
        fprintf(stderr, "continuous int8: mean |fp32 - int8| %.4f, mean spread %.4f\n", err,
                spread);
        TD_ASSERT_LT(err, 0.1 * spread);
        td_infer_close(m8);
        td_infer_free(q);
        td_free(src);
    }
    /* Missing lidar is an argument error, not a crash. */
    uint8_t frame[30 * 40 * 2] = {0};
    td_infer_obs bad = {frame, NULL, NULL};
    TD_ASSERT_EQ_INT(td_infer_run(m, &bad, NULL), TD_INFER_EINVAL);
    td_infer_close(m);
    tfile_free(&f);
    td_nn_net_free(&net);
}

/* State MLP: SAC (policy + q1 + q2 in the file; infer runs the policy) and discrete PPO. */
TD_TEST(state_mlp_sac_and_discrete_match_nn)
{
    td_nn_io_spec io;
    memset(&io, 0, sizeof(io));
    io.state_dim = 12;
    io.continuous = 1;
    io.sac = 1;
    td_nn_topology topo;
    td_err err;
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", &io, &err));
    TD_ASSERT_EQ_INT(topo.n_towers, 3);
    td_nn_net nets[3];
    td_rng rng;
    td_rng_seed(&rng, 11, 4);
    for (int i = 0; i < 3; i++)
        TD_ASSERT_OK(td_nn_net_init(&nets[i], &topo.towers[i], 1, &rng, &err));
    tfile f = file_of_nets(nets, 3, "continuous", continuous_space(), "sac");
    td_infer_model *m = load_ok(&f);
    TD_ASSERT_EQ_INT(td_infer_get_info(m)->mapping_unit, 0);
    TD_ASSERT_EQ_INT(td_infer_get_info(m)->squash_tanh, nets[0].spec.head_tanh);
    for (int k = 0; k < 10; k++) {
        float st[12];
        random_floats(st, 12, -3, 3, &rng);
        td_nn_input nin;
        memset(&nin, 0, sizeof(nin));
        nin.state = st;
        TD_ASSERT_OK(td_nn_net_forward(&nets[0], &nin, 1));
        td_infer_obs obs = {NULL, NULL, st};
        td_infer_action act;
        TD_ASSERT_OK(td_infer_run(m, &obs, &act));
        TD_ASSERT_LE(rel_diff(td_infer_output(m), nets[0].out, 2), 1e-5);
        /* SAC: the mean (tanh-squashed if the head says so) is in action units: clip only. */
        double s = nets[0].out[0], v = nets[0].out[1];
        if (nets[0].spec.head_tanh) {
            s = tanh(s);
            v = tanh(v);
        }
        TD_ASSERT_NEAR(act.steering_angle, fmin(30, fmax(-30, s)), 1e-4);
        TD_ASSERT_NEAR(act.speed, fmin(4, fmax(0.5, v)), 1e-4);
    }
    td_infer_close(m);
    tfile_free(&f);
    for (int i = 0; i < 3; i++)
        td_nn_net_free(&nets[i]);

    /* discrete PPO on the state sensor */
    io.continuous = 0;
    io.sac = 0;
    io.n_actions = 7;
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", &io, &err));
    for (int i = 0; i < 2; i++)
        TD_ASSERT_OK(td_nn_net_init(&nets[i], &topo.towers[i], 1, &rng, &err));
    f = file_of_nets(nets, 2, "discrete", discrete_space(7), "clipped_ppo");
    m = load_ok(&f);
    for (int k = 0; k < 10; k++) {
        float st[12];
        random_floats(st, 12, -3, 3, &rng);
        td_nn_input nin;
        memset(&nin, 0, sizeof(nin));
        nin.state = st;
        TD_ASSERT_OK(td_nn_net_forward(&nets[0], &nin, 1));
        td_infer_obs obs = {NULL, NULL, st};
        td_infer_action act;
        TD_ASSERT_OK(td_infer_run(m, &obs, &act));
        TD_ASSERT_LE(rel_diff(td_infer_output(m), nets[0].out, 7), 1e-5);
        TD_ASSERT_EQ_INT(act.index, argmax(nets[0].out, 7));
    }
    td_infer_close(m);

    /* Preprocessing mean/std: infer(x) == infer without it on (x - mean) / std. */
    json_t *hdr = read_header(&f);
    json_t *pp = json_object(), *sp = json_object(), *mean = json_array(), *sd = json_array();
    for (int i = 0; i < 12; i++) {
        json_array_append_new(mean, json_real(0.25 * i));
        json_array_append_new(sd, json_real(1.0 + 0.5 * i));
    }
    json_object_set_new(sp, "mean", mean);
    json_object_set_new(sp, "std", sd);
    json_object_set_new(pp, "state", sp);
    json_object_set_new(hdr, "preprocessing", pp);
    tfile g = with_header(&f, hdr);
    json_decref(hdr);
    td_infer_model *mp = load_ok(&g);
    m = load_ok(&f);
    float st[12], z[12];
    random_floats(st, 12, -3, 3, &rng);
    for (int i = 0; i < 12; i++)
        z[i] = (float)((st[i] - 0.25 * i) / (1.0 + 0.5 * i));
    td_infer_obs o1 = {NULL, NULL, st}, o2 = {NULL, NULL, z};
    TD_ASSERT_OK(td_infer_run(mp, &o1, NULL));
    TD_ASSERT_OK(td_infer_run(m, &o2, NULL));
    TD_ASSERT_LE(rel_diff(td_infer_output(mp), td_infer_output(m), 7), 1e-5);
    td_infer_close(mp);
    td_infer_close(m);
    tfile_free(&g);
    tfile_free(&f);
    for (int i = 0; i < 2; i++)
        td_nn_net_free(&nets[i]);
}

/* ---- loading: round trip, arenas ------------------------------------------------------ */

TD_TEST(tensors_round_trip_bit_exact_and_caller_arena)
{
    td_nn_net nets[2];
    shallow_nets(nets, 3, 21, 1);
    tfile f = file_of_nets(nets, 2, "discrete", discrete_space(3), "clipped_ppo");
    td_infer_model *m = load_ok(&f);
    for (int k = 0; k < nets[0].n_tensors; k++) {
        const td_nn_tensor *t = &nets[0].tensors[k];
        const char *dtype;
        int shape[4], nd;
        const void *data;
        size_t nb;
        TD_ASSERT_OK(td_infer_get_tensor(m, t->name, &dtype, shape, &nd, &data, &nb));
        TD_ASSERT_STREQ(dtype, "f32");
        TD_ASSERT_EQ_INT(nd, t->ndim);
        for (int d = 0; d < nd; d++)
            TD_ASSERT_EQ_INT(shape[d], t->shape[d]);
        TD_ASSERT_EQ_INT((long)nb, (long)(t->n * 4));
        TD_ASSERT_EQ(memcmp(data, nets[0].params + t->offset, nb), 0);
    }
    /* Only the policy tower is loaded. */
    TD_ASSERT_EQ_INT(td_infer_get_tensor(m, "value.head.weight", NULL, NULL, NULL, NULL, NULL),
                     TD_INFER_EINVAL);

    /* A caller arena at an odd address gives the same outputs; a small one is refused. */
    size_t size = 0;
    td_infer_err e;
    TD_ASSERT_OK(td_infer_arena_size(f.buf, f.len, &size, &e));
    TD_ASSERT_GE(size, td_infer_get_info(m)->arena_size);
    uint8_t *arena = td_malloc(size + 3);
    td_infer_model *m2 = NULL;
    TD_ASSERT_EQ_INT(td_infer_load(&m2, f.buf, f.len, arena + 3, size / 2, &e), TD_INFER_EARENA);
    TD_ASSERT(m2 == NULL);
    TD_ASSERT_CONTAINS(e.msg, "too small");
    TD_ASSERT_OK(td_infer_load(&m2, f.buf, f.len, arena + 3, size, &e));
    uint8_t frame[120 * 160];
    td_rng rng;
    td_rng_seed(&rng, 5, 5);
    random_frame(frame, sizeof(frame), &rng);
    td_infer_obs obs = {frame, NULL, NULL};
    TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
    TD_ASSERT_OK(td_infer_run(m2, &obs, NULL));
    TD_ASSERT_EQ(memcmp(td_infer_output(m), td_infer_output(m2), 3 * sizeof(float)), 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    /* Running holds no heap memory: the in-use bytes do not move over many runs (a leak or a
     * growing cache would show; a malloc/free pair inside a run would not). */
    {
        struct mallinfo2 before = mallinfo2();
        for (int k = 0; k < 20; k++) {
            frame[k] ^= 0x5a;
            TD_ASSERT_OK(td_infer_run(m2, &obs, NULL));
        }
        struct mallinfo2 after = mallinfo2();
        TD_ASSERT_EQ_INT((long)after.uordblks, (long)before.uordblks);
        TD_ASSERT_EQ_INT((long)after.hblkhd, (long)before.hblkhd);
    }
#endif
    td_infer_close(m2); /* a caller arena: nothing to free */
    td_free(arena);
    td_infer_close(m);

    /* The file on disk loads the same way and names itself in errors. */
    char path[512];
    TD_FMT(path, "%s/test_infer_rt.tdm", TD_TEST_BUILD_DIR);
    TD_ASSERT_OK(td_file_write_atomic(path, f.buf, f.len, NULL));
    TD_ASSERT_OK(td_infer_open_file(&m, path, &e));
    td_infer_close(m);
    TD_ASSERT_EQ_INT(td_infer_open_file(&m, "/nonexistent/x.tdm", &e), TD_INFER_EIO);
    TD_ASSERT_CONTAINS(e.msg, "/nonexistent/x.tdm");
    remove(path);
    tfile_free(&f);
    td_nn_net_free(&nets[0]);
    td_nn_net_free(&nets[1]);
}

/* ---- bad files ------------------------------------------------------------------------ */

static void expect_reject(const uint8_t *buf, size_t len, int code, const char *needle)
{
    td_infer_model *m = (td_infer_model *)(uintptr_t)1;
    td_infer_err e;
    memset(&e, 0, sizeof(e));
    int rc = td_infer_open_buffer(&m, buf, len, &e);
    if (rc != code)
        TD_FAIL("expected %s, got %d (%s): %s", td_infer_strerror(code), rc, td_infer_strerror(rc),
                e.msg);
    TD_ASSERT(m == NULL);
    TD_ASSERT_GT(strlen(e.msg), 10);
    TD_ASSERT_CONTAINS(e.msg, needle);
    size_t size;
    TD_ASSERT_EQ_INT(td_infer_arena_size(buf, len, &size, &e), code);
}

/* Applies f to the header JSON and checks the rejection. */
static void expect_reject_hdr(const tfile *f, void (*mut)(json_t *), int code, const char *needle)
{
    json_t *h = read_header(f);
    mut(h);
    tfile g = with_header(f, h);
    json_decref(h);
    expect_reject(g.buf, g.len, code, needle);
    tfile_free(&g);
}

static json_t *tensor_named(json_t *h, const char *name)
{
    json_t *t = json_object_get(h, "tensors");
    for (size_t i = 0; i < json_array_size(t); i++) {
        json_t *e = json_array_get(t, i);
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return e;
    }
    TD_FAIL("no tensor %s", name);
    return NULL;
}

static void mut_offset_oob(json_t *h)
{
    json_int_t ds = json_integer_value(json_object_get(h, "data_size"));
    json_object_set_new(tensor_named(h, "policy.state.1.bias"), "offset", json_integer(ds));
}
static void mut_offset_unaligned(json_t *h)
{
    json_object_set_new(tensor_named(h, "policy.head.bias"), "offset", json_integer(4));
}
static void mut_overlap(json_t *h)
{
    json_t *a = tensor_named(h, "policy.state.0.weight");
    json_object_set(tensor_named(h, "policy.state.0.bias"), "offset", json_object_get(a, "offset"));
}
static void mut_shape(json_t *h)
{
    /* same element count, wrong shape: (64, 12) -> (32, 24) */
    json_t *s = json_array();
    json_array_append_new(s, json_integer(32));
    json_array_append_new(s, json_integer(24));
    json_object_set_new(tensor_named(h, "policy.state.0.weight"), "shape", s);
}
static void mut_topology(json_t *h)
{
    json_t *tw =
        json_object_get(json_object_get(json_object_get(h, "topology"), "towers"), "policy");
    json_t *st = json_array();
    json_array_append_new(st, json_integer(64));
    json_array_append_new(st, json_integer(48));
    json_object_set_new(tw, "state", st);
}
static void mut_missing_tensor(json_t *h)
{
    json_t *t = json_object_get(h, "tensors");
    for (size_t i = 0; i < json_array_size(t); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(t, i), "name")),
                   "policy.head.bias") == 0)
            json_array_remove(t, i);
}
static void mut_nbytes(json_t *h)
{
    json_object_set_new(tensor_named(h, "policy.head.bias"), "nbytes", json_integer(8));
}
static void mut_dtype(json_t *h)
{
    json_object_set_new(tensor_named(h, "policy.head.bias"), "dtype", json_string("f16"));
}
static void mut_format(json_t *h)
{
    json_object_del(h, "format");
}
static void mut_hversion(json_t *h)
{
    json_object_set_new(h, "version", json_integer(2));
}
static void mut_actions(json_t *h)
{
    json_object_set_new(h, "action_space", discrete_space(4));
}
static void mut_no_policy(json_t *h)
{
    json_object_del(json_object_get(json_object_get(h, "topology"), "towers"), "policy");
}
static void mut_camera_huge(json_t *h)
{
    json_object_set_new(json_object_get(h, "inputs"), "camera",
                        json_pack("[iii]", 100000, 100000, 1));
}
static void mut_head_type(json_t *h)
{
    json_t *tw =
        json_object_get(json_object_get(json_object_get(h, "topology"), "towers"), "policy");
    json_object_set_new(json_object_get(tw, "head"), "type", json_string("beta"));
}

TD_TEST(bad_files_rejected_with_messages)
{
    td_nn_io_spec io;
    memset(&io, 0, sizeof(io));
    io.state_dim = 12;
    io.n_actions = 5;
    td_nn_topology topo;
    td_err err;
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", &io, &err));
    td_nn_net nets[2];
    td_rng rng;
    td_rng_seed(&rng, 1, 1);
    for (int i = 0; i < 2; i++)
        TD_ASSERT_OK(td_nn_net_init(&nets[i], &topo.towers[i], 1, &rng, &err));
    tfile f = file_of_nets(nets, 2, "discrete", discrete_space(5), "clipped_ppo");
    td_infer_model *m = load_ok(&f);
    td_infer_close(m);
    size_t hlen = get32(f.buf + 16), doff = align64(24 + hlen);

    /* truncated at several points */
    size_t cuts[] = {0, 7, 20, 27, 40, 24 + hlen / 2, 24 + hlen, doff + 100, f.len - 5, f.len - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        expect_reject(f.buf, cuts[i], TD_INFER_ETRUNCATED, "truncated");
    /* one byte flipped: in the data, in the header, in the checksum itself */
    size_t flips[] = {doff + 3, f.len - 40, 30, f.len - 2};
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        uint8_t *g = td_malloc(f.len);
        memcpy(g, f.buf, f.len);
        g[flips[i]] ^= 0x10;
        expect_reject(g, f.len, TD_INFER_ECHECKSUM, "checksum mismatch");
        td_free(g);
    }
    /* bytes after the end */
    {
        uint8_t *g = td_calloc(1, f.len + 64);
        memcpy(g, f.buf, f.len);
        expect_reject(g, f.len + 64, TD_INFER_EHEADER, "trailing bytes");
        td_free(g);
    }
    /* magic, version, flags */
    {
        uint8_t *g = td_malloc(f.len);
        memcpy(g, f.buf, f.len);
        g[1] = 'X';
        expect_reject(g, f.len, TD_INFER_EMAGIC, "magic");
        memcpy(g, f.buf, f.len);
        put32(g + 8, 2);
        expect_reject(g, f.len, TD_INFER_EVERSION, "version 2");
        memcpy(g, f.buf, f.len);
        put32(g + 12, 4);
        expect_reject(g, f.len, TD_INFER_EVERSION, "flags");
        td_free(g);
    }
    /* invalid JSON with a valid checksum */
    {
        const char *bad[] = {"{\"format\": \"trackday-model\",}",
                             "{\"a\": [1, 2}",
                             "nul",
                             "{\"a\": \"\\x\"}",
                             "{\"a\": 01}",
                             "{} x",
                             "{\"a\": \"\x01\"}"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            tfile g = with_header_text(&f, bad[i]);
            expect_reject(g.buf, g.len, TD_INFER_EJSON, "at byte");
            tfile_free(&g);
        }
    }
    /* header semantics and the tensor table */
    expect_reject_hdr(&f, mut_offset_oob, TD_INFER_ETENSOR, "out of bounds");
    expect_reject_hdr(&f, mut_offset_unaligned, TD_INFER_ETENSOR, "multiple of 64");
    expect_reject_hdr(&f, mut_overlap, TD_INFER_ETENSOR, "overlaps");
    expect_reject_hdr(&f, mut_nbytes, TD_INFER_ETENSOR, "nbytes");
    expect_reject_hdr(&f, mut_dtype, TD_INFER_ETENSOR, "dtype");
    expect_reject_hdr(&f, mut_shape, TD_INFER_ETOPOLOGY, "policy.state.0.weight has shape [32,24]");
    expect_reject_hdr(&f, mut_topology, TD_INFER_ETOPOLOGY, "policy.state.1.weight has shape");
    expect_reject_hdr(&f, mut_missing_tensor, TD_INFER_ETOPOLOGY, "policy.head.bias");
    expect_reject_hdr(&f, mut_format, TD_INFER_EHEADER, "format");
    expect_reject_hdr(&f, mut_hversion, TD_INFER_EVERSION, "version");
    expect_reject_hdr(&f, mut_actions, TD_INFER_ETOPOLOGY, "4 actions");
    expect_reject_hdr(&f, mut_no_policy, TD_INFER_ETOPOLOGY, "policy");
    expect_reject_hdr(&f, mut_head_type, TD_INFER_EHEADER, "beta");
    expect_reject_hdr(&f, mut_camera_huge, TD_INFER_EUNSUPPORTED, "larger than");
    tfile_free(&f);
    for (int i = 0; i < 2; i++)
        td_nn_net_free(&nets[i]);
}

/* ---- int8 ----------------------------------------------------------------------------- */

/* Observations for calibration and agreement: rendered camera frames at random poses along
 * a real track (sim's sensors), or random frames if the track cannot be rendered. */
typedef struct frames {
    td_track track;
    td_ground_map *ground;
    td_look look;
    td_scene scene;
    td_camera_config cfg;
    int rendered;
    uint8_t px[120 * 160];
    uint64_t seed;
} frames;

static void frames_open(frames *f, uint64_t seed)
{
    td_err err;
    memset(f, 0, sizeof(*f));
    f->seed = seed;
    /* Camera frames of a real route: random noise would make the int8 agreement
     * meaningless, so a missing route fails the test rather than falling back. */
    if (td_track_load(&f->track, TD_SHARED_TRACKS "/reInvent2019_track.npy", &err) != 0)
        TD_FAIL("%s (the reference routes are expected in ../shared/tracks)", err.msg);
    if (td_ground_map_open(&f->ground, &f->track, 0.01, &err) != 0)
        TD_FAIL("%s", err.msg);
    td_look_default(&f->look);
    f->scene.track = &f->track;
    f->scene.ground = f->ground;
    f->scene.look = &f->look;
    td_camera_config_default(&f->cfg);
    f->cfg.width = 160;
    f->cfg.height = 120;
    f->rendered = 1;
}

static void frames_close(frames *f)
{
    if (f->rendered) {
        td_ground_map_close(f->ground);
        td_track_free(&f->track);
    }
}

static const uint8_t *frame_at(frames *f, int i)
{
    td_rng rng;
    td_rng_seed(&rng, f->seed, (uint64_t)i + 1);
    if (!f->rendered) {
        random_frame(f->px, sizeof(f->px), &rng);
        return f->px;
    }
    double x, y, hd, s = td_rng_uniform(&rng) * f->track.length;
    td_track_point_at(&f->track, s, td_rng_range(&rng, -0.25, 0.25), &x, &y, &hd);
    hd += td_rng_range(&rng, -0.4, 0.4);
    td_camera_render_grey(&f->cfg, &f->scene, x, y, hd, f->px);
    return f->px;
}

static int frames_obs(void *ctx, int i, td_infer_obs *obs)
{
    memset(obs, 0, sizeof(*obs));
    obs->camera = frame_at(ctx, i);
    return 0;
}

/*
 * The agreement test needs a policy whose logits are separated the way a trained policy's
 * are. A randomly initialized network is not such a policy: its features vary little from
 * frame to frame compared with their size, any head on them gives near-tied logits, and
 * scaling the head changes nothing (the argmax and the quantization error scale alike).
 * What a trained head does is read the directions in which the features vary. So: He
 * initialization (normal, std sqrt(2 / fan_in), zero biases) keeps the frame dependence
 * through the ReLUs, and the head's rows are the top principal directions of the trunk
 * output over sample frames (centred by the head bias). The logits are then projections on
 * the features' main directions of variation; the test checks that the fp32 policy uses
 * several actions and reports how close the top two logits come.
 */
#define BATCH 32 /* frames per nn forward: OpenBLAS keeps the fp32 side fast under ASan */

static void he_init(td_nn_net *net, td_rng *rng)
{
    for (int k = 0; k < net->n_tensors; k++) {
        const td_nn_tensor *t = &net->tensors[k];
        size_t nl = strlen(t->name);
        float *p = net->params + t->offset;
        if (nl > 7 && strcmp(t->name + nl - 7, ".weight") == 0) {
            double sd = sqrt(2.0 / (double)(t->n / (size_t)t->shape[0]));
            for (size_t i = 0; i < t->n; i++)
                p[i] = (float)(td_rng_normal(rng) * sd);
        } else if (nl > 5 && strcmp(t->name + nl - 5, ".bias") == 0) {
            memset(p, 0, t->n * sizeof(float));
        }
    }
}

static void pca_head(td_nn_net *net, frames *fr, int n_frames, int first, td_rng *rng)
{
    /* A copy of the tower whose head is the identity outputs the trunk features. */
    const td_nn_tensor *hw = td_nn_net_tensor(net, "policy.head.weight");
    const td_nn_tensor *hb = td_nn_net_tensor(net, "policy.head.bias");
    int D = hw->shape[1], A = net->spec.n_out;
    td_nn_tower ft = net->spec;
    ft.n_out = D;
    td_nn_net feat;
    td_err err;
    TD_ASSERT_OK(td_nn_net_init(&feat, &ft, BATCH, NULL, &err));
    for (int k = 0; k < net->n_tensors; k++) {
        const td_nn_tensor *t = &net->tensors[k];
        if (strstr(t->name, ".head."))
            continue;
        const td_nn_tensor *u = td_nn_net_tensor(&feat, t->name);
        memcpy(feat.params + u->offset, net->params + t->offset, t->n * sizeof(float));
    }
    const td_nn_tensor *fw = td_nn_net_tensor(&feat, "policy.head.weight");
    for (int i = 0; i < D; i++)
        feat.params[fw->offset + (size_t)i * D + i] = 1.0f;
    double *X = td_calloc((size_t)n_frames * D, sizeof(double));
    double *mean = td_calloc((size_t)D, sizeof(double));
    double *cov = td_calloc((size_t)D * D, sizeof(double));
    double *v = td_calloc((size_t)D, sizeof(double)), *w = td_calloc((size_t)D, sizeof(double));
    uint8_t *batch = td_malloc((size_t)BATCH * 120 * 160);
    for (int i0 = 0; i0 < n_frames; i0 += BATCH) {
        int nb = n_frames - i0 < BATCH ? n_frames - i0 : BATCH;
        for (int i = 0; i < nb; i++)
            memcpy(batch + (size_t)i * 120 * 160, frame_at(fr, first + i0 + i), 120 * 160);
        td_nn_input in;
        memset(&in, 0, sizeof(in));
        in.camera_u8 = batch;
        TD_ASSERT_OK(td_nn_net_forward(&feat, &in, nb));
        for (int i = 0; i < nb; i++)
            for (int d = 0; d < D; d++) {
                X[(size_t)(i0 + i) * D + d] = feat.out[(size_t)i * D + d];
                mean[d] += feat.out[(size_t)i * D + d] / n_frames;
            }
    }
    td_free(batch);
    for (int i = 0; i < n_frames; i++)
        for (int a = 0; a < D; a++) {
            double xa = X[(size_t)i * D + a] - mean[a];
            if (xa == 0)
                continue;
            for (int b = 0; b < D; b++)
                cov[(size_t)a * D + b] += xa * (X[(size_t)i * D + b] - mean[b]);
        }
    /* Top A eigenvectors by power iteration with deflation. */
    for (int k = 0; k < A; k++) {
        double lambda = 0;
        for (int d = 0; d < D; d++)
            v[d] = td_rng_normal(rng);
        for (int it = 0; it < 200; it++) {
            double nrm = 0;
            for (int a = 0; a < D; a++) {
                double s2 = 0;
                for (int b = 0; b < D; b++)
                    s2 += cov[(size_t)a * D + b] * v[b];
                w[a] = s2;
                nrm += s2 * s2;
            }
            nrm = sqrt(nrm);
            TD_ASSERT_GT(nrm, 0);
            lambda = nrm;
            for (int d = 0; d < D; d++)
                v[d] = w[d] / nrm;
        }
        float *row = net->params + hw->offset + (size_t)k * D;
        double b = 0;
        for (int d = 0; d < D; d++) {
            row[d] = (float)(v[d] / sqrt(lambda / n_frames)); /* unit variance logit */
            b -= row[d] * mean[d];
        }
        net->params[hb->offset + k] = (float)b;
        for (int a = 0; a < D; a++)
            for (int c = 0; c < D; c++)
                cov[(size_t)a * D + c] -= lambda * v[a] * v[c];
    }
    td_free(X);
    td_free(mean);
    td_free(cov);
    td_free(v);
    td_free(w);
    td_nn_net_free(&feat);
}

/* Random observations for the small mixed model below. */
typedef struct mixed_src {
    uint8_t cam[16][23 * 29 * 3];
    float lid[16][13], st[16][5];
} mixed_src;

static int mixed_obs(void *ctx, int i, td_infer_obs *obs)
{
    mixed_src *s = ctx;
    obs->camera = s->cam[i % 16];
    obs->lidar = s->lid[i % 16];
    obs->state = s->st[i % 16];
    return 0;
}

TD_TEST(int8_kernels_match_int8_reference_exactly)
{
    /* Camera + lidar + state with odd sizes (tails of every tile), all layers int8. */
    td_nn_tower t;
    memset(&t, 0, sizeof(t));
    TD_FMT(t.name, "policy");
    t.camera_h = 23;
    t.camera_w = 29;
    t.camera_c = 3;
    t.n_camera = 2;
    t.camera[0] = (td_nn_conv_spec){7, 3, 2};
    t.camera[1] = (td_nn_conv_spec){5, 3, 1};
    t.lidar_dim = 13;
    t.n_lidar = 1;
    t.lidar[0] = 9;
    t.state_dim = 5;
    t.n_state = 0;
    t.n_trunk = 1;
    t.trunk[0] = 11;
    t.head = TD_NN_HEAD_CATEGORICAL;
    t.n_out = 3;
    td_nn_net net;
    td_err err;
    td_rng rng;
    td_rng_seed(&rng, 8, 8);
    TD_ASSERT_OK(td_nn_net_init(&net, &t, 1, &rng, &err));
    tfile f = file_of_nets(&net, 1, "discrete", discrete_space(3), "clipped_ppo");
    mixed_src *s = td_malloc(sizeof(*s));
    for (int i = 0; i < 16; i++) {
        random_frame(s->cam[i], sizeof(s->cam[i]), &rng);
        random_floats(s->lid[i], 13, 0.15, 1, &rng);
        random_floats(s->st[i], 5, -2, 2, &rng); /* negative: a zero point above 0 */
    }
    td_infer_quant_options opt;
    td_infer_quant_options_default(&opt);
    opt.quantize_head = 1;
    void *q = NULL, *q2 = NULL;
    size_t qlen = 0, qlen2 = 0;
    td_infer_err e;
    TD_ASSERT_OK(td_infer_quantize(f.buf, f.len, mixed_obs, s, 16, &opt, &q, &qlen, &e));
    /* Deterministic: the same inputs give the same bytes. */
    TD_ASSERT_OK(td_infer_quantize(f.buf, f.len, mixed_obs, s, 16, &opt, &q2, &qlen2, &e));
    TD_ASSERT_EQ_INT((long)qlen, (long)qlen2);
    TD_ASSERT_EQ(memcmp(q, q2, qlen), 0);
    td_infer_free(q2);
    td_infer_model *m = NULL;
    TD_ASSERT_OK(td_infer_open_buffer(&m, q, qlen, &e));
    TD_ASSERT_EQ_INT(td_infer_get_info(m)->n_int8_layers, 5);
    /* The state input goes below zero, so its layer has a zero point above 0. */
    json_t *hdr = read_header(&(tfile){q, qlen});
    json_t *tw = tensor_named(hdr, "policy.trunk.0.weight");
    TD_ASSERT_STREQ(json_string_value(json_object_get(tw, "dtype")), "i8");
    TD_ASSERT_STREQ(json_string_value(json_object_get(tw, "scale")), "policy.trunk.0.weight.scale");
    TD_ASSERT_GT(json_integer_value(json_object_get(tw, "input_zero_point")), 0);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(tensor_named(hdr, "policy.camera.1.weight"),
                                                        "input_zero_point")),
                     0);
    json_decref(hdr);
    int differ = 0, isas = 0;
    for (int i = 0; i < 16; i++) {
        td_infer_obs obs;
        mixed_obs(s, i, &obs);
        float fast[3], ref[3];
        td_infer_set_reference(m, 1);
        TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
        memcpy(ref, td_infer_output(m), sizeof(ref));
        td_infer_set_reference(m, 0);
        /* Integer sums are exact in every instruction set's kernels and the epilogue's float
         * operations are the same: the outputs are the same floats. */
        for (int isa = TD_INFER_ISA_GENERIC; isa < TD_INFER_ISA_COUNT; isa++) {
            if (!td_infer_isa_supported(isa))
                continue;
            isas += i == 0;
            TD_ASSERT_OK(td_infer_set_isa(m, isa));
            TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
            if (memcmp(ref, td_infer_output(m), sizeof(ref)) != 0)
                TD_FAIL("%s: %.9g %.9g %.9g, reference %.9g %.9g %.9g", td_infer_isa_name(isa),
                        td_infer_output(m)[0], td_infer_output(m)[1], td_infer_output(m)[2], ref[0],
                        ref[1], ref[2]);
        }
        TD_ASSERT_OK(td_infer_set_isa(m, TD_INFER_ISA_AUTO));
        TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
        memcpy(fast, td_infer_output(m), sizeof(fast));
        /* ...and close to fp32 (quantization error only). */
        td_nn_input nin;
        memset(&nin, 0, sizeof(nin));
        nin.camera_u8 = obs.camera;
        nin.lidar = obs.lidar;
        nin.state = obs.state;
        TD_ASSERT_OK(td_nn_net_forward(&net, &nin, 1));
        double d = rel_diff(fast, net.out, 3);
        TD_ASSERT_LT(d, 0.1);
        differ += d > 0;
    }
    TD_ASSERT_GT(differ, 0); /* it really is a different (quantized) computation */
    TD_ASSERT_GE(isas, 1);
    /* A quantized model is not quantized again. */
    TD_ASSERT_EQ_INT(td_infer_quantize(q, qlen, mixed_obs, s, 4, &opt, &q2, &qlen2, &e),
                     TD_INFER_EUNSUPPORTED);
    /* Bad int8 entries are rejected. */
    hdr = read_header(&(tfile){q, qlen});
    json_object_set_new(tensor_named(hdr, "policy.lidar.0.weight"), "input_zero_point",
                        json_integer(300));
    tfile g = with_header(&(tfile){q, qlen}, hdr);
    expect_reject(g.buf, g.len, TD_INFER_ETENSOR, "input_zero_point");
    tfile_free(&g);
    json_object_set_new(tensor_named(hdr, "policy.lidar.0.weight"), "scale",
                        json_string("policy.nothing.scale"));
    g = with_header(&(tfile){q, qlen}, hdr);
    expect_reject(g.buf, g.len, TD_INFER_ETENSOR, "policy.nothing.scale");
    tfile_free(&g);
    json_decref(hdr);
    td_infer_close(m);
    td_infer_free(q);
    td_free(s);
    tfile_free(&f);
    td_nn_net_free(&net);
}

TD_TEST(int8_shallow_agrees_with_fp32_on_1000_frames)
{
    /* Rendered frames of reInvent2019 (the simulator's camera) when available, else random
     * frames; calibration and evaluation use disjoint frames. */
    frames fr;
    frames_open(&fr, 2024);
    td_nn_net nets[2];
    shallow_nets(nets, 5, 77, BATCH);
    td_rng rng;
    td_rng_seed(&rng, 78, 1);
    he_init(&nets[0], &rng);
    pca_head(&nets[0], &fr, 96, 5000, &rng);
    tfile f = file_of_nets(nets, 1, "discrete", discrete_space(5), "clipped_ppo");
    td_infer_quant_options opt;
    td_infer_quant_options_default(&opt);
    opt.calibration = fr.rendered ? "rendered:reInvent2019_track:128" : "random:128";
    void *q = NULL;
    size_t qlen = 0;
    td_infer_err e;
    /* calibrate on frames 10000.. (a frames_obs offset through the seed) */
    frames cal = fr;
    cal.seed = fr.seed + 1;
    TD_ASSERT_OK(td_infer_quantize(f.buf, f.len, frames_obs, &cal, 128, &opt, &q, &qlen, &e));
    TD_ASSERT_LT(qlen, f.len / 3); /* int8 weights: about a quarter of the bytes */
    td_infer_model *m32 = load_ok(&f), *m8 = NULL;
    TD_ASSERT_OK(td_infer_open_buffer(&m8, q, qlen, &e));
    TD_ASSERT_EQ_INT(td_infer_get_info(m8)->n_int8_layers, 4); /* head kept fp32 */
    int agree = 0, hist[5] = {0}, N = 1000, close = 0;
    double max_logit_err = 0, gap_sum = 0, sd_sum = 0;
    /* fp32 = nn's forward in batches (infer's fp32 equals it within 1e-5: checked on the
     * first frames here and by shallow_fp32_matches_nn); int8 = infer, frame by frame. */
    uint8_t *batch = td_malloc((size_t)BATCH * 120 * 160);
    for (int i0 = 0; i0 < N; i0 += BATCH) {
        int nb = N - i0 < BATCH ? N - i0 : BATCH;
        for (int i = 0; i < nb; i++)
            memcpy(batch + (size_t)i * 120 * 160, frame_at(&fr, i0 + i), 120 * 160);
        td_nn_input nin;
        memset(&nin, 0, sizeof(nin));
        nin.camera_u8 = batch;
        TD_ASSERT_OK(td_nn_net_forward(&nets[0], &nin, nb));
        for (int i = 0; i < nb; i++) {
            const float *lo = nets[0].out + (size_t)i * 5;
            td_infer_obs obs = {batch + (size_t)i * 120 * 160, NULL, NULL};
            td_infer_action b;
            if (i0 == 0 && i < 4) {
                TD_ASSERT_OK(td_infer_run(m32, &obs, NULL));
                TD_ASSERT_LE(rel_diff(td_infer_output(m32), lo, 5), 1e-5);
            }
            TD_ASSERT_OK(td_infer_run(m8, &obs, &b));
            int a = argmax(lo, 5);
            agree += a == b.index;
            hist[a]++;
            double top = -1e30, second = -1e30, mean = 0, var = 0;
            for (int k = 0; k < 5; k++) {
                max_logit_err = fmax(max_logit_err, fabs(lo[k] - td_infer_output(m8)[k]));
                if (lo[k] > top) {
                    second = top;
                    top = lo[k];
                } else if (lo[k] > second) {
                    second = lo[k];
                }
                mean += lo[k] / 5;
            }
            for (int k = 0; k < 5; k++)
                var += (lo[k] - mean) * (lo[k] - mean) / 5;
            gap_sum += top - second;
            sd_sum += sqrt(var);
            close += top - second < 0.1 * sqrt(var);
        }
    }
    td_free(batch);
    fprintf(stderr,
            "int8 vs fp32 on %d %s frames: %d agree (%.1f%%); fp32 actions %d %d %d %d "
            "%d; max logit error %.4f; mean top-2 gap %.3f, mean logit sd %.3f, %d frames "
            "with a gap under 0.1 sd\n",
            N, fr.rendered ? "rendered" : "random", agree, 100.0 * agree / N, hist[0], hist[1],
            hist[2], hist[3], hist[4], max_logit_err, gap_sum / N, sd_sum / N, close);
    /* Not trivial: the fp32 policy uses several actions, none on more than 90% of frames. */
    int used = 0;
    for (int k = 0; k < 5; k++) {
        used += hist[k] >= N / 50;
        TD_ASSERT_LE(hist[k], N * 9 / 10);
    }
    TD_ASSERT_GE(used, 3);
    TD_ASSERT_GE(agree, N * 99 / 100);
    td_infer_close(m32);
    td_infer_close(m8);
    td_infer_free(q);
    tfile_free(&f);
    td_nn_net_free(&nets[0]);
    td_nn_net_free(&nets[1]);
    frames_close(&fr);
}

/* ---- files written by nn ----------------------------------------------------------------- */

/* nn's own writer (td_nn_save) and infer's reader agree on the format, tensors bit for bit. */
TD_TEST(nn_saved_model_loads_in_infer)
{
    td_nn_net nets[2];
    shallow_nets(nets, 5, 31, 1);
    json_t *extras = json_object();
    json_object_set_new(extras, "action_space_type", json_string("discrete"));
    json_object_set_new(extras, "action_space", discrete_space(5));
    json_object_set_new(extras, "sensors", json_pack("[s]", "FRONT_FACING_CAMERA"));
    char path[512];
    TD_FMT(path, "%s/test_infer_nn.tdm", TD_TEST_BUILD_DIR);
    const td_nn_net *np[2] = {&nets[0], &nets[1]};
    td_err err;
    TD_ASSERT_OK(td_nn_save(path, np, 2, extras, &err));
    json_decref(extras);
    td_infer_model *m = NULL;
    td_infer_err e;
    int rc = td_infer_open_file(&m, path, &e);
    if (rc)
        TD_FAIL("infer cannot load nn's file: %s", e.msg);
    for (int k = 0; k < nets[0].n_tensors; k++) {
        const td_nn_tensor *t = &nets[0].tensors[k];
        const void *data;
        size_t nb;
        TD_ASSERT_OK(td_infer_get_tensor(m, t->name, NULL, NULL, NULL, &data, &nb));
        TD_ASSERT_EQ_INT((long)nb, (long)(t->n * 4));
        TD_ASSERT_EQ(memcmp(data, nets[0].params + t->offset, nb), 0);
    }
    td_rng rng;
    td_rng_seed(&rng, 32, 1);
    uint8_t frame[120 * 160];
    random_frame(frame, sizeof(frame), &rng);
    td_nn_input nin;
    memset(&nin, 0, sizeof(nin));
    nin.camera_u8 = frame;
    TD_ASSERT_OK(td_nn_net_forward(&nets[0], &nin, 1));
    td_infer_obs obs = {frame, NULL, NULL};
    TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
    TD_ASSERT_LE(rel_diff(td_infer_output(m), nets[0].out, 5), 1e-5);
    td_infer_close(m);
    remove(path);
    td_nn_net_free(&nets[0]);
    td_nn_net_free(&nets[1]);
}

/* ---- the header's JSON reader ------------------------------------------------------------- */

static int parse(const char *text, tdi_json *nodes, int cap, char *pool, size_t pool_cap, char *msg)
{
    int n = 0;
    size_t used = 0;
    int rc = td__infer_json_parse(text, strlen(text), NULL, 0, NULL, 0, &n, &used, msg, 128);
    if (rc)
        return rc;
    TD_ASSERT(n <= cap && used <= pool_cap);
    return td__infer_json_parse(text, strlen(text), nodes, cap, pool, pool_cap, NULL, NULL, msg,
                                128);
}

TD_TEST(json_reader_edge_cases)
{
    tdi_json nodes[64];
    char pool[512], msg[128];
    /* escapes, a surrogate pair, UTF-8 as is, numbers, literals, nesting, duplicates */
    const char *ok =
        " {\"a\\\"b\": \"x\\u00e9\\ud83d\\ude00\\n\\/\", \"n\": [-0, 1.5e3, -2E-2, 123456789012],"
        " \"t\": true, \"f\": false, \"z\": null, \"o\": {\"k\": [[], {}]},"
        " \"u\": \"\xc3\xa9\", \"d\": 1, \"d\": 2} ";
    TD_ASSERT_OK(parse(ok, nodes, 64, pool, sizeof(pool), msg));
    int a = td__infer_json_get(nodes, 0, "a\"b");
    TD_ASSERT_GT(a, 0);
    TD_ASSERT_STREQ(nodes[a].str, "x\xc3\xa9\xf0\x9f\x98\x80\n/");
    int n = td__infer_json_get(nodes, 0, "n");
    TD_ASSERT_EQ_INT(nodes[n].n, 4);
    int e = nodes[nodes[n].first].next;
    TD_ASSERT_NEAR(nodes[e].num, 1500, 0);
    long long v = 0;
    TD_ASSERT(td__infer_json_int(nodes, e, 0, 10000, &v) && v == 1500);
    TD_ASSERT(!td__infer_json_int(nodes, nodes[e].next, -10, 10, &v)); /* -0.02: no integer */
    TD_ASSERT(td__infer_json_int(nodes, nodes[nodes[e].next].next, 0, 1LL << 40, &v));
    TD_ASSERT_EQ(v, 123456789012LL);
    TD_ASSERT_EQ_INT(nodes[td__infer_json_get(nodes, 0, "t")].type, TDI_TRUE);
    TD_ASSERT_EQ_INT(nodes[td__infer_json_get(nodes, 0, "z")].type, TDI_NULL);
    TD_ASSERT(td__infer_json_int(nodes, td__infer_json_get(nodes, 0, "d"), 0, 9, &v) && v == 2);
    TD_ASSERT_EQ_INT(td__infer_json_get(nodes, 0, "missing"), -1);
    /* the raw span of a value, used to copy header keys verbatim */
    int o = td__infer_json_get(nodes, 0, "o");
    TD_ASSERT(strncmp(ok + nodes[o].src_begin, "{\"k\": [[], {}]}",
                      nodes[o].src_end - nodes[o].src_begin) == 0);
    /* rejected, each with a byte position */
    const char *bad[] = {"",   "{", "[1,]",        "{\"a\" 1}", "{\"a\": tru}", "\"\\ud800\"",
                         "1.", "-", "\"\\u0000\"", "[1] [2]",   "{\"a\": 1,}",  "\"\x1f\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = td__infer_json_parse(bad[i], strlen(bad[i]), NULL, 0, NULL, 0, NULL, NULL, msg,
                                      sizeof(msg));
        if (rc != TD_INFER_EJSON)
            TD_FAIL("accepted bad JSON '%s'", bad[i]);
        TD_ASSERT_CONTAINS(msg, "at byte");
    }
    /* nesting deeper than 64 levels */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    TD_ASSERT_EQ_INT(
        td__infer_json_parse(deep, 200, NULL, 0, NULL, 0, NULL, NULL, msg, sizeof(msg)),
        TD_INFER_EJSON);
    TD_ASSERT_CONTAINS(msg, "deep");
    /* every status has a description */
    for (int c = 0; c >= TD_INFER_EUNSUPPORTED; c--)
        TD_ASSERT_NE(strcmp(td_infer_strerror(c), "unknown error"), 0);
    td_infer_model *m;
    td_infer_err err;
    TD_ASSERT_EQ_INT(td_infer_open_buffer(&m, NULL, 0, &err), TD_INFER_EINVAL);
}

/* Random damage to the header (with the checksum made valid again, so the parser and the
 * checks behind it see it) never crashes the loader: it loads or says why not. */
TD_TEST(damaged_headers_never_crash)
{
    td_nn_io_spec io;
    memset(&io, 0, sizeof(io));
    io.state_dim = 6;
    io.lidar_dim = 8;
    io.n_actions = 3;
    td_nn_topology topo;
    td_err err;
    TD_ASSERT_OK(td_nn_topology_deepracer(&topo, "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", &io, &err));
    td_nn_net net;
    td_rng rng;
    td_rng_seed(&rng, 5, 9);
    TD_ASSERT_OK(td_nn_net_init(&net, &topo.towers[0], 1, &rng, &err));
    tfile f = file_of_nets(&net, 1, "discrete", discrete_space(3), "clipped_ppo");
    size_t hlen = get32(f.buf + 16);
    uint8_t *g = td_malloc(f.len);
    int loaded = 0, rejected = 0;
    for (int k = 0; k < 400; k++) {
        memcpy(g, f.buf, f.len);
        int edits = 1 + (int)td_rng_below(&rng, 3);
        for (int e = 0; e < edits; e++) {
            size_t at = 24 + td_rng_below(&rng, (uint32_t)hlen);
            static const char alphabet[] = "{}[]\",:0123456789-.eE \\tfnu";
            g[at] = td_rng_below(&rng, 4) == 0 ? (uint8_t)td_rng_below(&rng, 256)
                                               : (uint8_t)alphabet[td_rng_below(&rng, 27)];
        }
        put32(g + f.len - 4, td_crc32(0, g, f.len - 4));
        td_infer_model *m = NULL;
        td_infer_err e;
        memset(&e, 0, sizeof(e));
        int rc = td_infer_open_buffer(&m, g, f.len, &e);
        if (rc == 0) {
            float st[6] = {0}, li[8] = {0};
            td_infer_obs obs = {NULL, li, st};
            td_infer_action act;
            td_infer_run(m, &obs, &act);
            td_infer_close(m);
            loaded++;
        } else {
            TD_ASSERT(m == NULL);
            TD_ASSERT_GT(strlen(e.msg), 5);
            rejected++;
        }
    }
    TD_ASSERT_GT(rejected, 100);
    td_free(g);
    tfile_free(&f);
    td_nn_net_free(&net);
}

/* DeepRacer's other networks (and the stereo stack with a lidar branch) run the same in both. */
TD_TEST(deepracer_topologies_match_nn)
{
    static const struct {
        const char *net;
        int channels, lidar;
    } cases[] = {{"DEEP_CONVOLUTIONAL_NETWORK", 1, 0},
                 {"DEEP_CONVOLUTIONAL_NETWORK_DEEP", 1, 0},
                 {"DEEP_CONVOLUTIONAL_NETWORK", 2, 64}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        td_nn_io_spec io;
        memset(&io, 0, sizeof(io));
        io.camera_h = 120;
        io.camera_w = 160;
        io.camera_c = cases[c].channels;
        io.lidar_dim = cases[c].lidar;
        io.n_actions = 6;
        td_nn_topology topo;
        td_err err;
        TD_ASSERT_OK(td_nn_topology_deepracer(&topo, cases[c].net, &io, &err));
        td_nn_net net;
        td_rng rng;
        td_rng_seed(&rng, 40 + c, 1);
        TD_ASSERT_OK(td_nn_net_init(&net, &topo.towers[0], 1, &rng, &err));
        tfile f = file_of_nets(&net, 1, "discrete", discrete_space(6), "clipped_ppo");
        td_infer_model *m = load_ok(&f);
        TD_ASSERT_EQ_INT((long)td_infer_get_info(m)->n_params, td_nn_tower_param_count(&net.spec));
        uint8_t *frame = td_malloc((size_t)120 * 160 * 2);
        float lidar[64];
        random_frame(frame, (size_t)120 * 160 * cases[c].channels, &rng);
        random_floats(lidar, 64, 0.15, 1.0, &rng);
        td_nn_input nin;
        memset(&nin, 0, sizeof(nin));
        nin.camera_u8 = frame;
        nin.lidar = cases[c].lidar ? lidar : NULL;
        TD_ASSERT_OK(td_nn_net_forward(&net, &nin, 1));
        td_infer_obs obs = {frame, cases[c].lidar ? lidar : NULL, NULL};
        TD_ASSERT_OK(td_infer_run(m, &obs, NULL));
        double d = rel_diff(td_infer_output(m), net.out, 6);
        if (d > 1e-5)
            TD_FAIL("%s (%d channels): relative difference %g", cases[c].net, cases[c].channels, d);
        td_free(frame);
        td_infer_close(m);
        tfile_free(&f);
        td_nn_net_free(&net);
    }
}

/* Instruction sets: names, detection, the choice a model makes, TD_INFER_ISA. */
TD_TEST(instruction_sets_detected_and_selectable)
{
    for (int isa = TD_INFER_ISA_AUTO; isa < TD_INFER_ISA_COUNT; isa++)
        TD_ASSERT_EQ_INT(td_infer_isa_parse(td_infer_isa_name(isa)), isa);
    TD_ASSERT_EQ_INT(td_infer_isa_parse("sse9"), -1);
    TD_ASSERT(td_infer_isa_supported(TD_INFER_ISA_GENERIC));
    TD_ASSERT(!td_infer_isa_supported(TD_INFER_ISA_AUTO));
#if defined(__x86_64__)
    TD_ASSERT(!td_infer_isa_supported(TD_INFER_ISA_NEON));
    /* Every x86-64 machine this project runs on has AVX2 (checked: not silently generic). */
    TD_ASSERT(td_infer_isa_supported(TD_INFER_ISA_AVX2));
    TD_ASSERT_NE_INT(td_infer_isa_best(), TD_INFER_ISA_GENERIC);
#endif
    td_nn_net nets[2];
    shallow_nets(nets, 5, 3, 1);
    tfile f = file_of_nets(nets, 1, "discrete", discrete_space(5), "clipped_ppo");
    td_infer_model *m = load_ok(&f);
    TD_ASSERT_EQ_INT(td_infer_get_info(m)->isa, td_infer_isa_best());
    for (int isa = TD_INFER_ISA_GENERIC; isa < TD_INFER_ISA_COUNT; isa++) {
        int rc = td_infer_set_isa(m, isa);
        if (td_infer_isa_supported(isa)) {
            TD_ASSERT_OK(rc);
            TD_ASSERT_EQ_INT(td_infer_get_info(m)->isa, isa);
        } else {
            TD_ASSERT_EQ_INT(rc, TD_INFER_EUNSUPPORTED);
        }
    }
    /* TD_INFER_ISA picks a supported one; an unsupported or unknown name is ignored. */
    setenv("TD_INFER_ISA", "generic", 1);
    TD_ASSERT_EQ_INT(td_infer_isa_best(), TD_INFER_ISA_GENERIC);
    setenv("TD_INFER_ISA", "no-such-isa", 1);
    TD_ASSERT_NE_INT(td_infer_isa_best(), -1);
    unsetenv("TD_INFER_ISA");
    td_infer_close(m);
    tfile_free(&f);
    td_nn_net_free(&nets[0]);
    td_nn_net_free(&nets[1]);
}

/*
 * The fp32 kernels' loops are not instrumented by AddressSanitizer (kernels.c: its checks
 * stopped them vectorizing); their entry points check the whole ranges instead. A buffer one
 * float short, for each of a dense layer's and a convolution's four buffers, must still be
 * reported; exact sizes must not be.
 */
#ifdef TD__TEST_ASAN
static int f32_kernel_child(int which, int isa, int short_by, char *msg, size_t msg_cap)
{
    int pe[2];
    TD_ASSERT_EQ_INT(pipe(pe), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    TD_ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(pe[1], 2);
        close(pe[0]);
        close(pe[1]);
        /* dense: C 37, OC 6; conv: 9 x 11 x 3 input, 3 x 3 kernel, stride 2, 5 channels */
        int C = 37, OC = 6, H = 9, W = 11, K = 3, S = 2, CC = 3, OCC = 5;
        size_t n[4];
        if (which < 4) {
            size_t d[4] = {(size_t)C, (size_t)C * OC, (size_t)OC, (size_t)OC};
            memcpy(n, d, sizeof(n));
        } else {
            size_t d[4] = {(size_t)H * W * CC, (size_t)K * K * CC * OCC, (size_t)OCC,
                           (size_t)((H - K) / S + 1) * ((W - K) / S + 1) * OCC};
            memcpy(n, d, sizeof(n));
        }
        n[which % 4] -= (size_t)short_by;
        float *b[4];
        for (int i = 0; i < 4; i++) {
            b[i] = malloc(n[i] * sizeof(float));
            for (size_t j = 0; j < n[i]; j++)
                b[i][j] = (float)j * 0.01f;
        }
        /* b: in, weights, bias, out */
        if (which < 4)
            td__infer_dense_f32(isa, b[3], b[0], b[1], b[2], C, OC, 1);
        else
            td__infer_conv_f32(isa, b[3], b[0], b[1], b[2], H, W, CC, OCC, K, S, 1);
        for (int i = 0; i < 4; i++)
            free(b[i]);
        _exit(0);
    }
    close(pe[1]);
    size_t len = 0;
    ssize_t r;
    while (len < msg_cap - 1 && (r = read(pe[0], msg + len, msg_cap - 1 - len)) > 0)
        len += (size_t)r;
    msg[len] = '\0';
    close(pe[0]);
    int status = 0;
    TD_ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif

TD_TEST(fp32_kernel_short_buffers_reported_by_asan)
{
#ifndef TD__TEST_ASAN
    TD_SKIP("not an AddressSanitizer build");
#else
    static char msg[1 << 16];
    static const char *names[4] = {"input", "weights", "bias", "output"};
    /* The check comes before the choice of kernels: the portable ones and this CPU's best. */
    int isas[2] = {TD_INFER_ISA_GENERIC, td_infer_isa_best()};
    for (int k = 0; k < 2; k++) {
        int isa = isas[k];
        for (int which = 0; which < 8; which++) {
            const char *what = which < 4 ? "dense" : "conv";
            int rc = f32_kernel_child(which, isa, 0, msg, sizeof(msg));
            if (rc != 0)
                TD_FAIL("%s %s exact size, isa %d: status %d\n%s", what, names[which % 4], isa, rc,
                        msg);
            rc = f32_kernel_child(which, isa, 1, msg, sizeof(msg));
            if (rc == 0 || !strstr(msg, "AddressSanitizer: heap-buffer-overflow"))
                TD_FAIL("%s %s one float short, isa %d: status %d, not reported\n%s", what,
                        names[which % 4], isa, rc, msg);
        }
    }
#endif
}
