/*
 * export.c - the policy tower as an ONNX model or a frozen TensorFlow GraphDef (export.h).
 *
 * Both start from one small graph in TensorFlow's terms (NHWC, DeepRacer's scopes and op
 * names, see docs/export.md): the inputs and their preprocessing, each branch (camera convs
 * or lidar/state dense layers), the merger (concatenation, in DeepRacer's order: inputs
 * sorted by sensor name), the middleware (trackday's trunk) and the head. DeepRacer's graph
 * is rl_coach's: for PPO, the input placeholders live in network_0 and the policy tower in
 * network_1 (network_0 is the value tower); for SAC both in the "policy" network's
 * network_0. Then:
 * - the TensorFlow writer emits it node for node (Const + Conv2D + BiasAdd, Const + MatMul +
 *   BiasAdd, ...), weights frozen as constants in TensorFlow's layouts (HWIO kernels, [in,
 *   out] dense kernels);
 * - the ONNX writer emits the same computation with ONNX ops, transposing to NCHW around the
 *   convolutions (ONNX's Conv is NCHW) and back before the flatten, so the flatten order and
 *   the dense weights stay DeepRacer's (H, W, C).
 * The protobuf field numbers are those of tensorflow/core/framework (graph, node_def, attr_value,
 * tensor, tensor_shape .proto) and onnx.proto, noted where they are written.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/protobuf.h"
#include "trackday/export.h"

/* ---- the graph ------------------------------------------------------------------------ */

enum {
    X_INPUT,
    X_DIV,     /* x / scalar (RealDiv) */
    X_SUB,     /* x - scalar */
    X_MUL,     /* x * scalar */
    X_ADD,     /* x + scalar */
    X_SUB_VEC, /* x - vec (per feature) */
    X_DIV_VEC, /* x / vec (per feature) */
    X_CONV,    /* conv + bias, VALID padding */
    X_DENSE,   /* matmul + bias */
    X_RELU,
    X_TANH,
    X_FLATTEN,
    X_CONCAT,
    X_SOFTMAX,
    X_IDENTITY
};

typedef struct xnode {
    int kind;
    char name[TD_EXPORT_NAME_LEN]; /* the op's name; conv and dense: their scope */
    int in[TD_EXPORT_MAX_INPUTS], n_in;
    int ndim, dims[4]; /* output shape (NHWC), batch 1 */
    float scalar;
    const float *vec; /* X_SUB_VEC / X_DIV_VEC: vec_n floats */
    int vec_n;
    const float *w, *b; /* conv (OC, K, K, C) / dense (OC, C) weights as trackday stores them */
    int K, S, C, OC;
    const int *perm; /* dense: input column j of the export is trackday's column perm[j] */
} xnode;

#define MAX_NODES 96

typedef struct xgraph {
    xnode n[MAX_NODES];
    int count;
    int output;
    int perm_storage_used;
    int *perm; /* owned */
    td_export_io io;
} xgraph;

static int add_node(xgraph *g, int kind, int input, td_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int add_node(xgraph *g, int kind, int input, td_err *err, const char *fmt, ...)
{
    va_list ap;
    if (g->count >= MAX_NODES)
        return td_err_set(err, TD_EUNSUPPORTED, "export: the network has too many layers");
    xnode *x = &g->n[g->count];
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    va_start(ap, fmt);
    vsnprintf(x->name, sizeof(x->name), fmt, ap);
    va_end(ap);
    if (input >= 0) {
        x->in[0] = input;
        x->n_in = 1;
        x->ndim = g->n[input].ndim;
        memcpy(x->dims, g->n[input].dims, sizeof(x->dims));
    }
    return g->count++;
}

/* Preprocessing of one input as the model file's header gives it. */
typedef struct preproc {
    float scale, offset;
    const float *mean, *std; /* NULL when absent */
    float *owned;
} preproc;

static int read_preproc(const json_t *header, const char *input, int n, int camera, preproc *p,
                        td_err *err)
{
    memset(p, 0, sizeof(*p));
    p->scale = camera ? 1.0f / 255.0f : 1.0f;
    const json_t *pp = header ? json_object_get(header, "preprocessing") : NULL;
    const json_t *o = pp ? json_object_get(pp, input) : NULL;
    if (!json_is_object(o))
        return 0; /* absent, or trackday's descriptive string: the defaults */
    const json_t *s = json_object_get(o, "scale"), *f = json_object_get(o, "offset");
    if (json_is_number(s))
        p->scale = (float)json_number_value(s);
    if (json_is_number(f))
        p->offset = (float)json_number_value(f);
    const json_t *m = json_object_get(o, "mean"), *d = json_object_get(o, "std");
    if (m || d) {
        if (!json_is_array(m) || !json_is_array(d) || (int)json_array_size(m) != n ||
            (int)json_array_size(d) != n)
            return td_err_set(err, TD_EFORMAT,
                              "export: preprocessing.%s: mean and std must be arrays of %d numbers",
                              input, n);
        p->owned = td_malloc(2 * (size_t)n * sizeof(float));
        if (!p->owned)
            return td_err_set(err, TD_ENOMEM, "export: out of memory");
        for (int i = 0; i < n; i++) {
            p->owned[i] = (float)json_number_value(json_array_get(m, (size_t)i));
            p->owned[n + i] = (float)json_number_value(json_array_get(d, (size_t)i));
            if (!(p->owned[n + i] > 0)) {
                td_free(p->owned);
                p->owned = NULL;
                return td_err_set(err, TD_EFORMAT, "export: preprocessing.%s: std[%d] <= 0", input,
                                  i);
            }
        }
        p->mean = p->owned;
        p->std = p->owned + n;
    }
    return 0;
}

/* The sensor name a header lists for a kind of input ("camera" / "lidar"), or a default. */
static const char *sensor_name(const json_t *header, const char *kind, int channels)
{
    static const char *cams[] = {"FRONT_FACING_CAMERA", "LEFT_CAMERA", "STEREO_CAMERAS",
                                 "observation"};
    static const char *lidars[] = {"LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR"};
    const json_t *s = header ? json_object_get(header, "sensors") : NULL;
    if (!s && header)
        s = json_object_get(header, "sensor");
    size_t i;
    const json_t *v;
    json_array_foreach(s, i, v)
    {
        const char *name = json_string_value(v);
        if (!name)
            continue;
        if (!strcmp(kind, "camera"))
            for (size_t k = 0; k < sizeof(cams) / sizeof(cams[0]); k++)
                if (!strcmp(name, cams[k]))
                    return cams[k];
        if (!strcmp(kind, "lidar"))
            for (size_t k = 0; k < sizeof(lidars) / sizeof(lidars[0]); k++)
                if (!strcmp(name, lidars[k]))
                    return lidars[k];
    }
    if (!strcmp(kind, "camera"))
        return channels == 2 ? "STEREO_CAMERAS" : "FRONT_FACING_CAMERA";
    if (!strcmp(kind, "lidar"))
        return "LIDAR";
    return "STATE";
}

static const float *tensor(const td_nn_net *net, const char *fmt, int i, td_err *err, int *rc)
{
    char name[TD_NN_TENSOR_NAME_LEN + 32];
    char part[64];
    if (strchr(fmt, '%'))
        snprintf(part, sizeof(part), fmt, i);
    else
        snprintf(part, sizeof(part), "%s", fmt);
    snprintf(name, sizeof(name), "%s.%s", net->spec.name, part);
    const td_nn_tensor *t = td_nn_net_tensor(net, name);
    if (!t) {
        *rc = td_err_set(err, TD_EFORMAT, "export: the network has no tensor %s", name);
        return NULL;
    }
    return net->params + t->offset;
}

typedef struct branch {
    const char *kind;   /* "camera", "lidar", "state" */
    const char *sensor; /* DeepRacer's name */
    int in_ndim, in_dims[4];
    int out_len;    /* length of its flattened output */
    int concat_off; /* where trackday's concatenation puts it */
    int node;       /* its last node */
    preproc pp;
} branch;

static int cmp_branch(const void *a, const void *b)
{
    return strcmp(((const branch *)a)->sensor, ((const branch *)b)->sensor);
}

/* Preprocessing nodes of one input: DeepRacer's "/ 255 - 0" for a camera, else x * s + o. */
static int add_preproc(xgraph *g, const char *scope, int x, int camera, const preproc *p,
                       td_err *err)
{
    if (camera && fabsf(p->scale * 255.0f - 1.0f) < 1e-6f && p->offset == 0.0f) {
        if ((x = add_node(g, X_DIV, x, err, "%s/truediv", scope)) < 0)
            return x;
        g->n[x].scalar = 255.0f;
        if ((x = add_node(g, X_SUB, x, err, "%s/sub", scope)) < 0)
            return x;
        g->n[x].scalar = 0.0f;
    } else {
        if (p->scale != 1.0f) {
            if ((x = add_node(g, X_MUL, x, err, "%s/mul", scope)) < 0)
                return x;
            g->n[x].scalar = p->scale;
        }
        if (p->offset != 0.0f) {
            if ((x = add_node(g, X_ADD, x, err, "%s/add", scope)) < 0)
                return x;
            g->n[x].scalar = p->offset;
        }
    }
    if (p->mean) {
        int n = g->n[x].dims[g->n[x].ndim - 1];
        if ((x = add_node(g, X_SUB_VEC, x, err, "%s/normalize/sub", scope)) < 0)
            return x;
        g->n[x].vec = p->mean;
        g->n[x].vec_n = n;
        if ((x = add_node(g, X_DIV_VEC, x, err, "%s/normalize/truediv", scope)) < 0)
            return x;
        g->n[x].vec = p->std;
        g->n[x].vec_n = n;
    }
    return x;
}

/* A dense layer (+ ReLU when relu) named scope/Dense_<2i> as rl_coach names them. */
static int add_dense(xgraph *g, int x, const char *scope, const char *opname, const float *w,
                     const float *b, int C, int OC, td_err *err)
{
    if ((x = add_node(g, X_DENSE, x, err, "%s/%s", scope, opname)) < 0)
        return x;
    xnode *d = &g->n[x];
    d->w = w;
    d->b = b;
    d->C = C;
    d->OC = OC;
    d->ndim = 2;
    d->dims[0] = 1;
    d->dims[1] = OC;
    return x;
}

static int build(xgraph *g, const td_nn_net *net, const json_t *header, td_export_format fmt,
                 branch br[3], int *nbr, td_err *err)
{
    const td_nn_tower *t = &net->spec;
    const char *algo =
        header ? json_string_value(json_object_get(header, "training_algorithm")) : NULL;
    int sac = algo && !strcmp(algo, "sac");
    char in_prefix[96], prefix[96];
    int rc = 0, x, n = 0, off = 0;

    if (t->head != TD_NN_HEAD_CATEGORICAL && t->head != TD_NN_HEAD_GAUSSIAN)
        return td_err_set(err, TD_EUNSUPPORTED,
                          "export: tower '%s' is not a policy (its head is %s)", t->name,
                          td_nn_head_name(t->head));
    if (fmt == TD_EXPORT_TF_GRAPHDEF && t->state_dim)
        return td_err_set(err, TD_EUNSUPPORTED,
                          "the model uses trackday's STATE sensor, which a DeepRacer car does not "
                          "have: train a camera (or camera + lidar) model to race it on a car, or "
                          "export it as a trackday bundle");
    snprintf(in_prefix, sizeof(in_prefix), "main_level/agent/%s/online/network_0/",
             sac ? "policy" : "main");
    snprintf(prefix, sizeof(prefix), "main_level/agent/%s/online/network_%d/",
             sac ? "policy" : "main", sac ? 0 : 1);

    /* Branches in trackday's order: camera, lidar, state. */
    memset(br, 0, 3 * sizeof(branch));
    if (t->camera_h) {
        branch *b = &br[n++];
        int h = t->camera_h, w = t->camera_w, c = t->camera_c;
        b->kind = "camera";
        b->sensor = sensor_name(header, "camera", c);
        b->in_ndim = 4;
        b->in_dims[0] = 1;
        b->in_dims[1] = h;
        b->in_dims[2] = w;
        b->in_dims[3] = c;
        for (int i = 0; i < t->n_camera; i++) {
            h = (h - t->camera[i].kernel) / t->camera[i].stride + 1;
            w = (w - t->camera[i].kernel) / t->camera[i].stride + 1;
            c = t->camera[i].filters;
        }
        b->out_len = h * w * c;
        if ((rc = read_preproc(header, "camera", 0, 1, &b->pp, err)) != 0)
            return rc;
    }
    if (t->lidar_dim) {
        branch *b = &br[n++];
        b->kind = "lidar";
        b->sensor = sensor_name(header, "lidar", 0);
        b->in_ndim = 2;
        b->in_dims[0] = 1;
        b->in_dims[1] = t->lidar_dim;
        b->out_len = t->n_lidar ? t->lidar[t->n_lidar - 1] : t->lidar_dim;
        if ((rc = read_preproc(header, "lidar", t->lidar_dim, 0, &b->pp, err)) != 0)
            return rc;
    }
    if (t->state_dim) {
        branch *b = &br[n++];
        b->kind = "state";
        b->sensor = "STATE";
        b->in_ndim = 2;
        b->in_dims[0] = 1;
        b->in_dims[1] = t->state_dim;
        b->out_len = t->n_state ? t->state[t->n_state - 1] : t->state_dim;
        if ((rc = read_preproc(header, "state", t->state_dim, 0, &b->pp, err)) != 0)
            return rc;
    }
    *nbr = n;
    if (n == 0)
        return td_err_set(err, TD_EFORMAT, "export: the policy tower has no input");
    for (int i = 0; i < n; i++) {
        br[i].concat_off = off;
        off += br[i].out_len;
    }
    /* DeepRacer builds its embedders (and concatenates them) in sorted sensor-name order. */
    qsort(br, (size_t)n, sizeof(branch), cmp_branch);

    for (int i = 0; i < n; i++) {
        branch *b = &br[i];
        char scope[160];
        snprintf(scope, sizeof(scope), "%s%s", prefix, b->sensor);
        if ((x = add_node(g, X_INPUT, -1, err, "%s%s/%s", in_prefix, b->sensor, b->sensor)) < 0)
            return x;
        g->n[x].ndim = b->in_ndim;
        memcpy(g->n[x].dims, b->in_dims, sizeof(b->in_dims));
        {
            td_export_io *io = &g->io;
            int k = io->n_inputs++;
            snprintf(io->input_names[k], TD_EXPORT_NAME_LEN, "%s", g->n[x].name);
            snprintf(io->input_kind[k], sizeof(io->input_kind[k]), "%s", b->kind);
            io->input_ndim[k] = b->in_ndim;
            memcpy(io->input_shape[k], b->in_dims, sizeof(b->in_dims));
            if (fmt == TD_EXPORT_TF_GRAPHDEF)
                io->input_shape[k][0] = -1;
        }
        if ((x = add_preproc(g, scope, x, !strcmp(b->kind, "camera"), &b->pp, err)) < 0)
            return x;
        if (!strcmp(b->kind, "camera")) {
            for (int l = 0; l < t->n_camera; l++) {
                const td_nn_conv_spec *cs = &t->camera[l];
                const float *w = tensor(net, "camera.%d.weight", l, err, &rc);
                const float *bias = tensor(net, "camera.%d.bias", l, err, &rc);
                if (rc)
                    return rc;
                int cin = g->n[x].dims[3];
                if ((x = add_node(g, X_CONV, x, err, "%s/Conv2d_%d", scope, 2 * l)) < 0)
                    return x;
                xnode *cv = &g->n[x];
                cv->w = w;
                cv->b = bias;
                cv->K = cs->kernel;
                cv->S = cs->stride;
                cv->C = cin;
                cv->OC = cs->filters;
                cv->dims[1] = (cv->dims[1] - cs->kernel) / cs->stride + 1;
                cv->dims[2] = (cv->dims[2] - cs->kernel) / cs->stride + 1;
                cv->dims[3] = cs->filters;
                if ((x = add_node(g, X_RELU, x, err, "%s/BatchnormActivationDropout_%d_activation",
                                  scope, 2 * l + 1)) < 0)
                    return x;
            }
            int len = g->n[x].dims[1] * g->n[x].dims[2] * g->n[x].dims[3];
            if ((x = add_node(g, X_FLATTEN, x, err, "%s/flatten/Reshape", scope)) < 0)
                return x;
            g->n[x].ndim = 2;
            g->n[x].dims[1] = len;
        } else {
            int nl = !strcmp(b->kind, "lidar") ? t->n_lidar : t->n_state;
            const int *widths = !strcmp(b->kind, "lidar") ? t->lidar : t->state;
            for (int l = 0; l < nl; l++) {
                char wn[32], bn[32], op[32];
                snprintf(wn, sizeof(wn), "%s.%%d.weight", b->kind);
                snprintf(bn, sizeof(bn), "%s.%%d.bias", b->kind);
                const float *w = tensor(net, wn, l, err, &rc);
                const float *bias = tensor(net, bn, l, err, &rc);
                if (rc)
                    return rc;
                snprintf(op, sizeof(op), "Dense_%d", 2 * l);
                if ((x = add_dense(g, x, scope, op, w, bias, g->n[x].dims[1], widths[l], err)) < 0)
                    return x;
                if ((x = add_node(g, X_RELU, x, err, "%s/BatchnormActivationDropout_%d_activation",
                                  scope, 2 * l + 1)) < 0)
                    return x;
            }
        }
        b->node = x;
    }

    /* The merger, and the permutation from DeepRacer's concatenation order to trackday's. */
    int total = off;
    int *perm = NULL;
    if (n > 1) {
        if ((x = add_node(g, X_CONCAT, -1, err, "%smerger", prefix)) < 0)
            return x;
        g->n[x].n_in = n;
        for (int i = 0; i < n; i++)
            g->n[x].in[i] = br[i].node;
        g->n[x].ndim = 2;
        g->n[x].dims[0] = 1;
        g->n[x].dims[1] = total;
        g->perm = perm = td_malloc((size_t)total * sizeof(int));
        if (!perm)
            return td_err_set(err, TD_ENOMEM, "export: out of memory");
        for (int i = 0, j = 0; i < n; i++)
            for (int k = 0; k < br[i].out_len; k++)
                perm[j++] = br[i].concat_off + k;
    }

    /* Middleware: trackday's trunk. */
    int first = 1;
    for (int l = 0; l < t->n_trunk; l++) {
        char op[32], scope[160];
        const float *w = tensor(net, "trunk.%d.weight", l, err, &rc);
        const float *bias = tensor(net, "trunk.%d.bias", l, err, &rc);
        if (rc)
            return rc;
        snprintf(scope, sizeof(scope), "%smiddleware_fc_embedder", prefix);
        snprintf(op, sizeof(op), "Dense_%d", 2 * l);
        if ((x = add_dense(g, x, scope, op, w, bias, g->n[x].dims[1], t->trunk[l], err)) < 0)
            return x;
        if (first)
            g->n[x].perm = perm;
        first = 0;
        if ((x = add_node(g, X_RELU, x, err, "%s/BatchnormActivationDropout_%d_activation", scope,
                          2 * l + 1)) < 0)
            return x;
    }

    /* Head: DeepRacer's output node is <head scope>/policy. */
    {
        char scope[160];
        const float *w = tensor(net, "head.weight", 0, err, &rc);
        const float *bias = tensor(net, "head.bias", 0, err, &rc);
        if (rc)
            return rc;
        snprintf(scope, sizeof(scope), "%s%s", prefix, sac ? "sac_policy_head_0" : "ppo_head_0");
        int discrete = t->head == TD_NN_HEAD_CATEGORICAL;
        if ((x = add_dense(g, x, scope, discrete ? "policy_fc" : "policy_mean", w, bias,
                           g->n[x].dims[1], t->n_out, err)) < 0)
            return x;
        if (first)
            g->n[x].perm = perm;
        if (discrete) {
            if ((x = add_node(g, X_SOFTMAX, x, err, "%s/policy", scope)) < 0)
                return x;
        } else {
            if (t->head_tanh && (x = add_node(g, X_TANH, x, err, "%s/policy_mean/Tanh", scope)) < 0)
                return x;
            if ((x = add_node(g, X_IDENTITY, x, err, "%s/policy", scope)) < 0)
                return x;
        }
        g->output = x;
        snprintf(g->io.output_name, TD_EXPORT_NAME_LEN, "%s", g->n[x].name);
        g->io.n_out = t->n_out;
        g->io.output_probabilities = discrete;
    }
    return 0;
}

/* ---- weight layouts ------------------------------------------------------------------- */

/* trackday conv (OC, K, K, C) -> TensorFlow HWIO (K, K, C, OC). */
static void conv_to_hwio(float *dst, const xnode *x)
{
    int K = x->K, C = x->C, OC = x->OC;
    for (int o = 0; o < OC; o++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++)
                for (int c = 0; c < C; c++)
                    dst[(((size_t)kh * K + kw) * C + c) * OC + o] =
                        x->w[(((size_t)o * K + kh) * K + kw) * C + c];
}

/* trackday conv (OC, K, K, C) -> ONNX OIHW (OC, C, K, K). */
static void conv_to_oihw(float *dst, const xnode *x)
{
    int K = x->K, C = x->C, OC = x->OC;
    for (int o = 0; o < OC; o++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++)
                for (int c = 0; c < C; c++)
                    dst[(((size_t)o * C + c) * K + kh) * K + kw] =
                        x->w[(((size_t)o * K + kh) * K + kw) * C + c];
}

/* Dense (OC, C) with permuted columns; transposed to TensorFlow's (C, OC) when tf. */
static void dense_layout(float *dst, const xnode *x, int tf)
{
    int C = x->C, OC = x->OC;
    for (int o = 0; o < OC; o++)
        for (int j = 0; j < C; j++) {
            float v = x->w[(size_t)o * C + (x->perm ? x->perm[j] : j)];
            if (tf)
                dst[(size_t)j * OC + o] = v;
            else
                dst[(size_t)o * C + j] = v;
        }
}

/* ---- TensorFlow GraphDef -------------------------------------------------------------- */
/*
 * graph.proto GraphDef: node = 1 (NodeDef), versions = 4 (VersionDef: producer = 1,
 * min_consumer = 2). node_def.proto NodeDef: name = 1, op = 2, input = 3, attr = 5
 * (map<string, AttrValue>: entries key = 1, value = 2). attr_value.proto AttrValue: list = 1
 * (ListValue: s = 2, i = 3 packed), s = 2, i = 3, f = 4, b = 5, type = 6, shape = 7,
 * tensor = 8. tensor.proto TensorProto: dtype = 1, tensor_shape = 2, tensor_content = 4,
 * int_val = 7.
 * tensor_shape.proto TensorShapeProto: dim = 2 (Dim: size = 1). types.proto: DT_FLOAT = 1,
 * DT_INT32 = 3.
 */
enum { DT_FLOAT = 1, DT_INT32 = 3 };

static size_t tf_node_begin(td__pb *p, const char *name, const char *op)
{
    size_t m = td__pb_begin(p, 1);
    td__pb_string_field(p, 1, name);
    td__pb_string_field(p, 2, op);
    return m;
}

static void tf_input(td__pb *p, const char *name)
{
    td__pb_string_field(p, 3, name);
}

static size_t tf_attr_begin(td__pb *p, const char *key, size_t *value_mark)
{
    size_t m = td__pb_begin(p, 5);
    td__pb_string_field(p, 1, key);
    *value_mark = td__pb_begin(p, 2);
    return m;
}

static void tf_attr_end(td__pb *p, size_t entry, size_t value)
{
    td__pb_end(p, value);
    td__pb_end(p, entry);
}

static void tf_attr_type(td__pb *p, const char *key, int dtype)
{
    size_t v, e = tf_attr_begin(p, key, &v);
    td__pb_varint_field(p, 6, (uint64_t)dtype);
    tf_attr_end(p, e, v);
}

static void tf_attr_string(td__pb *p, const char *key, const char *s)
{
    size_t v, e = tf_attr_begin(p, key, &v);
    td__pb_string_field(p, 2, s);
    tf_attr_end(p, e, v);
}

static void tf_attr_bool(td__pb *p, const char *key, int b)
{
    size_t v, e = tf_attr_begin(p, key, &v);
    td__pb_varint_field(p, 5, b ? 1 : 0);
    tf_attr_end(p, e, v);
}

static void tf_attr_int(td__pb *p, const char *key, int64_t i)
{
    size_t v, e = tf_attr_begin(p, key, &v);
    td__pb_int_field(p, 3, i);
    tf_attr_end(p, e, v);
}

static void tf_attr_ints(td__pb *p, const char *key, const int64_t *ints, int n)
{
    size_t v, e = tf_attr_begin(p, key, &v);
    size_t l = td__pb_begin(p, 1);
    td__pb_packed_int64(p, 3, ints, n);
    td__pb_end(p, l);
    tf_attr_end(p, e, v);
}

static void tf_shape(td__pb *p, int field, const int *dims, int ndim)
{
    size_t s = td__pb_begin(p, field);
    for (int i = 0; i < ndim; i++) {
        size_t d = td__pb_begin(p, 2);
        td__pb_int_field(p, 1, dims[i]);
        td__pb_end(p, d);
    }
    td__pb_end(p, s);
}

static void tf_attr_shape(td__pb *p, const char *key, const int *dims, int ndim)
{
    size_t v, e = tf_attr_begin(p, key, &v);
    tf_shape(p, 7, dims, ndim);
    tf_attr_end(p, e, v);
}

/* A Const node of dtype with the given shape; content is the raw little-endian tensor. */
static void tf_const(td__pb *p, const char *name, int dtype, const void *content, size_t bytes,
                     int floats, const int *dims, int ndim)
{
    size_t node = tf_node_begin(p, name, "Const");
    tf_attr_type(p, "dtype", dtype);
    size_t v, e = tf_attr_begin(p, "value", &v);
    size_t t = td__pb_begin(p, 8);
    td__pb_varint_field(p, 1, (uint64_t)dtype);
    tf_shape(p, 2, dims, ndim);
    size_t c = td__pb_begin(p, 4); /* tensor_content */
    if (floats)
        td__pb_raw_floats(p, content, bytes / 4);
    else
        td__pb_raw(p, content, bytes);
    td__pb_end(p, c);
    td__pb_end(p, t);
    tf_attr_end(p, e, v);
    td__pb_end(p, node);
}

static void tf_const_float(td__pb *p, const char *name, const float *data, const int *dims,
                           int ndim)
{
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)dims[i];
    tf_const(p, name, DT_FLOAT, data, 4 * count, 1, dims, ndim);
}

/*
 * int32 constants (reshape shapes, concat axes; ndim 0 is a scalar), in int_val = 7 (packed)
 * as TensorFlow writes small integer constants: OpenCV's importer reads a concat axis from
 * int_val only.
 */
static void tf_const_int32(td__pb *p, const char *name, const int32_t *vals, int n, int ndim)
{
    int64_t v[4];
    for (int i = 0; i < n && i < 4; i++)
        v[i] = vals[i];
    size_t node = tf_node_begin(p, name, "Const");
    tf_attr_type(p, "dtype", DT_INT32);
    size_t vm, e = tf_attr_begin(p, "value", &vm);
    size_t t = td__pb_begin(p, 8);
    td__pb_varint_field(p, 1, DT_INT32);
    tf_shape(p, 2, &n, ndim);
    td__pb_packed_int64(p, 7, v, n < 4 ? n : 4);
    td__pb_end(p, t);
    tf_attr_end(p, e, vm);
    td__pb_end(p, node);
}

/* The tensor name consumers of node x read. */
static void out_name(const xnode *x, char *buf, size_t cap)
{
    if (x->kind == X_CONV || x->kind == X_DENSE)
        snprintf(buf, cap, "%s/BiasAdd", x->name);
    else
        snprintf(buf, cap, "%s", x->name);
}

static void tf_binary_scalar(td__pb *p, const xgraph *g, const xnode *x, const char *op)
{
    char y[TD_EXPORT_NAME_LEN + 8], in[TD_EXPORT_NAME_LEN + 16];
    snprintf(y, sizeof(y), "%s/y", x->name);
    tf_const_float(p, y, &x->scalar, NULL, 0);
    size_t node = tf_node_begin(p, x->name, op);
    out_name(&g->n[x->in[0]], in, sizeof(in));
    tf_input(p, in);
    tf_input(p, y);
    tf_attr_type(p, "T", DT_FLOAT);
    td__pb_end(p, node);
}

static void tf_binary_vec(td__pb *p, const xgraph *g, const xnode *x, const char *op)
{
    char y[TD_EXPORT_NAME_LEN + 8], in[TD_EXPORT_NAME_LEN + 16];
    snprintf(y, sizeof(y), "%s/y", x->name);
    tf_const_float(p, y, x->vec, &x->vec_n, 1);
    size_t node = tf_node_begin(p, x->name, op);
    out_name(&g->n[x->in[0]], in, sizeof(in));
    tf_input(p, in);
    tf_input(p, y);
    tf_attr_type(p, "T", DT_FLOAT);
    td__pb_end(p, node);
}

static void tf_unary(td__pb *p, const xgraph *g, const xnode *x, const char *op)
{
    char in[TD_EXPORT_NAME_LEN + 16];
    size_t node = tf_node_begin(p, x->name, op);
    out_name(&g->n[x->in[0]], in, sizeof(in));
    tf_input(p, in);
    tf_attr_type(p, "T", DT_FLOAT);
    td__pb_end(p, node);
}

/*
 * A layer's weights as the Const NAME/kernel and its op NAME/OP on (input, kernel) with T
 * float; op_name gets NAME/OP. Returns the open node: the caller adds the op's attributes
 * and ends it.
 */
static size_t tf_kernel_op(td__pb *p, const xgraph *g, const xnode *x, const float *k,
                           const int *kd, int nd, const char *op, char *op_name, size_t cap)
{
    char kname[TD_EXPORT_NAME_LEN + 32], in[TD_EXPORT_NAME_LEN + 16];
    snprintf(kname, sizeof(kname), "%s/kernel", x->name);
    tf_const_float(p, kname, k, kd, nd);
    snprintf(op_name, cap, "%s/%s", x->name, op);
    size_t node = tf_node_begin(p, op_name, op);
    out_name(&g->n[x->in[0]], in, sizeof(in));
    tf_input(p, in);
    tf_input(p, kname);
    tf_attr_type(p, "T", DT_FLOAT);
    return node;
}

/* The layer's bias as the Const NAME/bias and NAME/BiasAdd on the op's output op_name. */
static void tf_bias_add(td__pb *p, const xnode *x, const char *op_name)
{
    char bname[TD_EXPORT_NAME_LEN + 32], name[TD_EXPORT_NAME_LEN + 32];
    snprintf(bname, sizeof(bname), "%s/bias", x->name);
    tf_const_float(p, bname, x->b, &x->OC, 1);
    snprintf(name, sizeof(name), "%s/BiasAdd", x->name);
    size_t node = tf_node_begin(p, name, "BiasAdd");
    tf_input(p, op_name);
    tf_input(p, bname);
    tf_attr_type(p, "T", DT_FLOAT);
    tf_attr_string(p, "data_format", "NHWC");
    td__pb_end(p, node);
}

static int write_tf(const xgraph *g, td__pb *p, td_err *err)
{
    char a[TD_EXPORT_NAME_LEN + 32], b[TD_EXPORT_NAME_LEN + 32], in[TD_EXPORT_NAME_LEN + 16];
    for (int i = 0; i < g->count; i++) {
        const xnode *x = &g->n[i];
        switch (x->kind) {
        case X_INPUT: {
            int dims[4];
            memcpy(dims, x->dims, sizeof(dims));
            dims[0] = -1;
            size_t node = tf_node_begin(p, x->name, "Placeholder");
            tf_attr_type(p, "dtype", DT_FLOAT);
            tf_attr_shape(p, "shape", dims, x->ndim);
            td__pb_end(p, node);
            break;
        }
        case X_DIV:
            tf_binary_scalar(p, g, x, "RealDiv");
            break;
        case X_SUB:
            tf_binary_scalar(p, g, x, "Sub");
            break;
        case X_MUL:
            tf_binary_scalar(p, g, x, "Mul");
            break;
        case X_ADD:
            tf_binary_scalar(p, g, x, "AddV2");
            break;
        case X_SUB_VEC:
            tf_binary_vec(p, g, x, "Sub");
            break;
        case X_DIV_VEC:
            tf_binary_vec(p, g, x, "RealDiv");
            break;
        case X_CONV: {
            size_t n = (size_t)x->K * x->K * x->C * x->OC;
            float *k = td_malloc(n * sizeof(float));
            if (!k)
                return td_err_set(err, TD_ENOMEM, "export: out of memory");
            conv_to_hwio(k, x);
            int kd[4] = {x->K, x->K, x->C, x->OC};
            size_t node = tf_kernel_op(p, g, x, k, kd, 4, "Conv2D", b, sizeof(b));
            td_free(k);
            tf_attr_string(p, "data_format", "NHWC");
            {
                int64_t dil[4] = {1, 1, 1, 1}, st[4] = {1, x->S, x->S, 1};
                tf_attr_ints(p, "dilations", dil, 4);
                tf_attr_string(p, "padding", "VALID");
                tf_attr_ints(p, "strides", st, 4);
            }
            tf_attr_bool(p, "use_cudnn_on_gpu", 1);
            td__pb_end(p, node);
            tf_bias_add(p, x, b);
            break;
        }
        case X_DENSE: {
            float *k = td_malloc((size_t)x->C * x->OC * sizeof(float));
            if (!k)
                return td_err_set(err, TD_ENOMEM, "export: out of memory");
            dense_layout(k, x, 1);
            int kd[2] = {x->C, x->OC};
            size_t node = tf_kernel_op(p, g, x, k, kd, 2, "MatMul", b, sizeof(b));
            td_free(k);
            tf_attr_bool(p, "transpose_a", 0);
            tf_attr_bool(p, "transpose_b", 0);
            td__pb_end(p, node);
            tf_bias_add(p, x, b);
            break;
        }
        case X_RELU:
            tf_unary(p, g, x, "Relu");
            break;
        case X_TANH:
            tf_unary(p, g, x, "Tanh");
            break;
        case X_SOFTMAX:
            tf_unary(p, g, x, "Softmax");
            break;
        case X_IDENTITY:
            tf_unary(p, g, x, "Identity");
            break;
        case X_FLATTEN: {
            /* Keras' Flatten: Reshape to (-1, features), the shape a Const beside it. */
            int32_t shape[2] = {-1, x->dims[1]};
            const char *slash = strrchr(x->name, '/');
            snprintf(a, sizeof(a), "%.*s/Const", (int)(slash - x->name), x->name);
            tf_const_int32(p, a, shape, 2, 1);
            size_t node = tf_node_begin(p, x->name, "Reshape");
            out_name(&g->n[x->in[0]], in, sizeof(in));
            tf_input(p, in);
            tf_input(p, a);
            tf_attr_type(p, "T", DT_FLOAT);
            tf_attr_type(p, "Tshape", DT_INT32);
            td__pb_end(p, node);
            break;
        }
        case X_CONCAT: {
            int32_t axis = -1;
            snprintf(a, sizeof(a), "%s/axis", x->name);
            tf_const_int32(p, a, &axis, 1, 0);
            size_t node = tf_node_begin(p, x->name, "ConcatV2");
            for (int k = 0; k < x->n_in; k++) {
                out_name(&g->n[x->in[k]], in, sizeof(in));
                tf_input(p, in);
            }
            tf_input(p, a);
            tf_attr_int(p, "N", x->n_in);
            tf_attr_type(p, "T", DT_FLOAT);
            tf_attr_type(p, "Tidx", DT_INT32);
            td__pb_end(p, node);
            break;
        }
        default:
            return td_err_set(err, TD_EINTERNAL, "export: unknown node kind %d", x->kind);
        }
    }
    /* versions = 4: producer 27 (TensorFlow >= 1.5 reads it; every op used here is older). */
    size_t v = td__pb_begin(p, 4);
    td__pb_int_field(p, 1, 27);
    td__pb_end(p, v);
    return 0;
}

/* ---- ONNX ----------------------------------------------------------------------------- */
/*
 * onnx.proto ModelProto: ir_version = 1, producer_name = 2, producer_version = 3,
 * doc_string = 6, graph = 7, opset_import = 8 (OperatorSetIdProto: domain = 1, version = 2),
 * metadata_props = 14 (StringStringEntryProto: key = 1, value = 2). GraphProto: node = 1,
 * name = 2, initializer = 5, input = 11, output = 12. NodeProto: input = 1, output = 2,
 * name = 3, op_type = 4, attribute = 5. AttributeProto: name = 1, f = 2, i = 3, ints = 8,
 * type = 20 (FLOAT = 1, INT = 2, INTS = 7). TensorProto: dims = 1, data_type = 2 (FLOAT = 1,
 * INT64 = 7), name = 8, raw_data = 9. ValueInfoProto: name = 1, type = 2 (TypeProto:
 * tensor_type = 1 (elem_type = 1, shape = 2 (TensorShapeProto: dim = 1 (dim_value = 1)))).
 * onnx.proto is proto2, so repeated numbers are written unpacked.
 */
enum { ONNX_FLOAT = 1, ONNX_INT64 = 7 };

static void onnx_initializer(td__pb *p, const char *name, const float *data, const int64_t *dims,
                             int ndim)
{
    size_t count = 1;
    size_t t = td__pb_begin(p, 5);
    for (int i = 0; i < ndim; i++) {
        td__pb_int_field(p, 1, dims[i]);
        count *= (size_t)dims[i];
    }
    td__pb_varint_field(p, 2, ONNX_FLOAT);
    td__pb_string_field(p, 8, name);
    size_t r = td__pb_begin(p, 9);
    td__pb_raw_floats(p, data, count);
    td__pb_end(p, r);
    td__pb_end(p, t);
}

typedef struct onnx_node {
    td__pb *p;
    size_t mark;
} onnx_node;

static onnx_node onnx_node_begin(td__pb *p, const char *op, const char *name,
                                 const char *const *inputs, int n_in, const char *output)
{
    onnx_node n = {p, td__pb_begin(p, 1)};
    for (int i = 0; i < n_in; i++)
        td__pb_string_field(p, 1, inputs[i]);
    td__pb_string_field(p, 2, output);
    td__pb_string_field(p, 3, name);
    td__pb_string_field(p, 4, op);
    return n;
}

static void onnx_attr_int(td__pb *p, const char *name, int64_t v)
{
    size_t a = td__pb_begin(p, 5);
    td__pb_string_field(p, 1, name);
    td__pb_int_field(p, 3, v);
    td__pb_varint_field(p, 20, 2);
    td__pb_end(p, a);
}

static void onnx_attr_ints(td__pb *p, const char *name, const int64_t *v, int n)
{
    size_t a = td__pb_begin(p, 5);
    td__pb_string_field(p, 1, name);
    for (int i = 0; i < n; i++)
        td__pb_int_field(p, 8, v[i]);
    td__pb_varint_field(p, 20, 7);
    td__pb_end(p, a);
}

static void onnx_value_info(td__pb *p, int field, const char *name, const int *dims, int ndim)
{
    size_t vi = td__pb_begin(p, field);
    td__pb_string_field(p, 1, name);
    size_t ty = td__pb_begin(p, 2);
    size_t tt = td__pb_begin(p, 1);
    td__pb_varint_field(p, 1, ONNX_FLOAT);
    size_t sh = td__pb_begin(p, 2);
    for (int i = 0; i < ndim; i++) {
        size_t d = td__pb_begin(p, 1);
        td__pb_int_field(p, 1, dims[i]);
        td__pb_end(p, d);
    }
    td__pb_end(p, sh);
    td__pb_end(p, tt);
    td__pb_end(p, ty);
    td__pb_end(p, vi);
}

/* Transposes value `in` with perm into `out` (a new node). */
static void onnx_transpose(td__pb *p, const char *in, const char *out, const int64_t perm[4])
{
    const char *ins[1] = {in};
    onnx_node n = onnx_node_begin(p, "Transpose", out, ins, 1, out);
    onnx_attr_ints(p, "perm", perm, 4);
    td__pb_end(p, n.mark);
}

/*
 * A conv (dims OIHW) or dense (dims (OC, C)) node's weights as the initializers NAME/kernel,
 * in ONNX's layout, and NAME/bias; their names into kn and bn. Returns 0, or -1 when out of
 * memory.
 */
static int onnx_weights(td__pb *p, const xnode *x, const int64_t *dims, int ndim, char *kn,
                        size_t kcap, char *bn, size_t bcap)
{
    size_t cnt = 1;
    for (int i = 0; i < ndim; i++)
        cnt *= (size_t)dims[i];
    float *k = td_malloc(cnt * sizeof(float));
    if (!k)
        return -1;
    if (x->kind == X_CONV)
        conv_to_oihw(k, x);
    else
        dense_layout(k, x, 0);
    int64_t bd[1] = {x->OC};
    snprintf(kn, kcap, "%s/kernel", x->name);
    onnx_initializer(p, kn, k, dims, ndim);
    td_free(k);
    snprintf(bn, bcap, "%s/bias", x->name);
    onnx_initializer(p, bn, x->b, bd, 1);
    return 0;
}

static int write_onnx_graph(const xgraph *g, td__pb *p, td_err *err)
{
    static const int64_t to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};
    char name[MAX_NODES][TD_EXPORT_NAME_LEN + 16]; /* the value each node produces */
    int nchw[MAX_NODES];                           /* 1 when that value is in NCHW layout */
    char a[TD_EXPORT_NAME_LEN + 32], b[TD_EXPORT_NAME_LEN + 32];
    size_t graph = td__pb_begin(p, 7);
    for (int i = 0; i < g->count; i++) {
        const xnode *x = &g->n[i];
        const char *in0 = x->n_in ? name[x->in[0]] : NULL;
        int lay = x->n_in ? nchw[x->in[0]] : 0;
        out_name(x, name[i], sizeof(name[i]));
        nchw[i] = lay;
        switch (x->kind) {
        case X_INPUT:
            nchw[i] = 0;
            break;
        case X_DIV:
        case X_SUB:
        case X_MUL:
        case X_ADD:
        case X_SUB_VEC:
        case X_DIV_VEC: {
            static const char *ops[] = {"Div", "Sub", "Mul", "Add", "Sub", "Div"};
            int vec = x->kind == X_SUB_VEC || x->kind == X_DIV_VEC;
            int64_t d = vec ? x->vec_n : 0;
            snprintf(a, sizeof(a), "%s/y", x->name);
            onnx_initializer(p, a, vec ? x->vec : &x->scalar, &d, vec ? 1 : 0);
            const char *ins[2] = {in0, a};
            onnx_node n = onnx_node_begin(p, ops[x->kind - X_DIV], x->name, ins, 2, name[i]);
            td__pb_end(p, n.mark);
            break;
        }
        case X_CONV: {
            if (!lay) {
                snprintf(a, sizeof(a), "%s/nchw", name[x->in[0]]);
                onnx_transpose(p, in0, a, to_nchw);
                in0 = a;
            }
            int64_t kd[4] = {x->OC, x->C, x->K, x->K};
            char kn[TD_EXPORT_NAME_LEN + 16], cn[TD_EXPORT_NAME_LEN + 16];
            if (onnx_weights(p, x, kd, 4, kn, sizeof(kn), b, sizeof(b)))
                return td_err_set(err, TD_ENOMEM, "export: out of memory");
            const char *ins[3] = {in0, kn, b};
            snprintf(cn, sizeof(cn), "%s/Conv2D", x->name);
            onnx_node n = onnx_node_begin(p, "Conv", cn, ins, 3, name[i]);
            int64_t ks[2] = {x->K, x->K}, st[2] = {x->S, x->S}, pads[4] = {0, 0, 0, 0};
            onnx_attr_ints(p, "kernel_shape", ks, 2);
            onnx_attr_ints(p, "pads", pads, 4);
            onnx_attr_ints(p, "strides", st, 2);
            td__pb_end(p, n.mark);
            nchw[i] = 1;
            break;
        }
        case X_RELU:
        case X_TANH:
        case X_IDENTITY: {
            const char *op = x->kind == X_RELU ? "Relu" : x->kind == X_TANH ? "Tanh" : "Identity";
            const char *ins[1] = {in0};
            onnx_node n = onnx_node_begin(p, op, x->name, ins, 1, name[i]);
            td__pb_end(p, n.mark);
            break;
        }
        case X_FLATTEN: {
            /* Back to NHWC so the flattened order is DeepRacer's (H, W, C). */
            if (lay) {
                snprintf(a, sizeof(a), "%s/nhwc", name[x->in[0]]);
                onnx_transpose(p, in0, a, to_nhwc);
                in0 = a;
            }
            const char *ins[1] = {in0};
            onnx_node n = onnx_node_begin(p, "Flatten", x->name, ins, 1, name[i]);
            onnx_attr_int(p, "axis", 1);
            td__pb_end(p, n.mark);
            nchw[i] = 0;
            break;
        }
        case X_CONCAT: {
            const char *ins[TD_EXPORT_MAX_INPUTS];
            for (int k = 0; k < x->n_in; k++)
                ins[k] = name[x->in[k]];
            onnx_node n = onnx_node_begin(p, "Concat", x->name, ins, x->n_in, name[i]);
            onnx_attr_int(p, "axis", 1);
            td__pb_end(p, n.mark);
            nchw[i] = 0;
            break;
        }
        case X_DENSE: {
            int64_t wd[2] = {x->OC, x->C};
            char kn[TD_EXPORT_NAME_LEN + 16], mn[TD_EXPORT_NAME_LEN + 16];
            if (onnx_weights(p, x, wd, 2, kn, sizeof(kn), b, sizeof(b)))
                return td_err_set(err, TD_ENOMEM, "export: out of memory");
            const char *ins[3] = {in0, kn, b};
            snprintf(mn, sizeof(mn), "%s/MatMul", x->name);
            /* Gemm: Y = A * B^T + C with B = trackday's (OC, C) weight. */
            onnx_node n = onnx_node_begin(p, "Gemm", mn, ins, 3, name[i]);
            onnx_attr_int(p, "transB", 1);
            td__pb_end(p, n.mark);
            break;
        }
        case X_SOFTMAX: {
            const char *ins[1] = {in0};
            onnx_node n = onnx_node_begin(p, "Softmax", x->name, ins, 1, name[i]);
            onnx_attr_int(p, "axis", 1);
            td__pb_end(p, n.mark);
            break;
        }
        default:
            return td_err_set(err, TD_EINTERNAL, "export: unknown node kind %d", x->kind);
        }
    }
    td__pb_string_field(p, 2, "trackday_policy");
    for (int i = 0; i < g->count; i++)
        if (g->n[i].kind == X_INPUT)
            onnx_value_info(p, 11, g->n[i].name, g->n[i].dims, g->n[i].ndim);
    {
        int od[2] = {1, g->io.n_out};
        onnx_value_info(p, 12, name[g->output], od, 2);
    }
    td__pb_end(p, graph);
    return 0;
}

static void onnx_meta(td__pb *p, const char *key, const char *value)
{
    size_t m = td__pb_begin(p, 14);
    td__pb_string_field(p, 1, key);
    td__pb_string_field(p, 2, value);
    td__pb_end(p, m);
}

static int write_onnx(const xgraph *g, const json_t *header, td__pb *p, td_err *err)
{
    td__pb_int_field(p, 1, 7); /* IR version 7 goes with opset 13 */
    td__pb_string_field(p, 2, "trackday");
    td__pb_string_field(p, 3, "0.1.0");
    td__pb_string_field(p, 6,
                        "trackday policy network; camera inputs are raw 0-255 pixel values, "
                        "[batch, height, width, channels] as a DeepRacer car feeds its model");
    int rc = write_onnx_graph(g, p, err);
    if (rc)
        return rc;
    size_t o = td__pb_begin(p, 8);
    td__pb_string_field(p, 1, "");
    td__pb_int_field(p, 2, 13);
    td__pb_end(p, o);
    onnx_meta(p, "output",
              g->io.output_probabilities ? "action probabilities (softmax)"
                                         : "continuous action mean in [-1, 1]");
    const json_t *mm = header ? json_object_get(header, "model_metadata") : NULL;
    if (mm) {
        char *text = json_dumps(mm, JSON_SORT_KEYS | JSON_COMPACT);
        if (text) {
            onnx_meta(p, "model_metadata", text);
            free(text);
        }
    }
    return 0;
}

/* ---- entry point ---------------------------------------------------------------------- */

int td_export_graph(td_export_format format, const td_nn_net *policy, const json_t *header,
                    td_export_result *out, td_err *err)
{
    branch br[3];
    int nbr = 0, rc;
    memset(out, 0, sizeof(*out));
    if (!policy)
        return td_err_set(err, TD_EINVAL, "export: no policy network");
    xgraph *g = td_calloc(1, sizeof(*g));
    if (!g)
        return td_err_set(err, TD_ENOMEM, "export: out of memory");
    td__pb p;
    td__pb_init(&p);
    rc = build(g, policy, header, format, br, &nbr, err);
    if (!rc)
        rc = format == TD_EXPORT_ONNX ? write_onnx(g, header, &p, err) : write_tf(g, &p, err);
    if (!rc && p.oom)
        rc = td_err_set(err, TD_ENOMEM, "export: out of memory writing the model");
    if (!rc) {
        out->data = p.buf;
        out->len = p.len;
        out->io = g->io;
    } else {
        td__pb_free(&p);
    }
    for (int i = 0; i < nbr; i++)
        td_free(br[i].pp.owned);
    td_free(g->perm);
    td_free(g);
    return rc;
}

void td_export_result_free(td_export_result *r)
{
    if (!r)
        return;
    td_free(r->data);
    memset(r, 0, sizeof(*r));
}
