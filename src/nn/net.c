/*
 * net.c - a tower built from its topology: one allocation each for parameters, gradients,
 * the two Adam moments and the activations (sized for max_batch), laid out once at init
 * so forward, backward and the optimizer step allocate nothing. The layer order is camera
 * convs, lidar denses, state denses, (concatenation), trunk denses, head.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

#define ALIGN_FLOATS 16 /* 64 bytes */

static size_t align_up(size_t n)
{
    return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* Hands out 64-byte aligned ranges of a buffer being laid out; returns the offset. */
static size_t take(size_t *cursor, size_t n)
{
    size_t off = *cursor;
    *cursor = align_up(off + n);
    return off;
}

static size_t cols_budget = TD_NN_DEFAULT_COLS_BUDGET;

size_t td_nn_set_cols_budget(size_t bytes)
{
    size_t old = cols_budget;
    cols_budget = bytes;
    return old;
}

/* Layer index ranges, derived from the spec. */
typedef struct {
    int cam0, lid0, st0, tr0, head, n;
} plan;

static plan plan_of(const td_nn_tower *t)
{
    plan p;
    p.cam0 = 0;
    p.lid0 = p.cam0 + t->n_camera;
    p.st0 = p.lid0 + t->n_lidar;
    p.tr0 = p.st0 + t->n_state;
    p.head = p.tr0 + t->n_trunk;
    p.n = p.head + 1;
    return p;
}

/* ---- private state beyond the layers ------------------------------------------------------ */

/*
 * The net keeps a few buffers that are not per-layer: they live in the activation
 * allocation, and their pointers in this struct, placed after the layers array (same
 * allocation as net->layers).
 */
typedef struct {
    float *cam_in;   /* (max_batch, H*W*C) camera converted from uint8 */
    float *concat;   /* (max_batch, n_concat), or NULL when a single source is used as is */
    float *dconcat;  /* gradient of concat (or the single source's dout; may be NULL) */
    float *dcols;    /* conv input-gradient workspace */
    float *tanh_out; /* squashed head output */
    int n_concat;
    int single_source; /* 1: the one branch output feeds the trunk directly */
    int n_src;
    int src_dim[4];
    const float *src[4];
    float *dsrc[4];
} extra;

static extra *extra_of(const td_nn_net *net)
{
    return (extra *)(void *)(net->layers + net->n_layers);
}

/* ---- initialization ----------------------------------------------------------------------- */

static void add_tensor(td_nn_net *net, size_t *cursor, const char *branch, int idx,
                       const char *what, int ndim, const int *shape)
{
    td_nn_tensor *t = &net->tensors[net->n_tensors++];
    char tower[TD_NN_NAME_LEN];
    memcpy(tower, net->spec.name, sizeof(tower));
    if (idx >= 0)
        snprintf(t->name, sizeof(t->name), "%s.%s.%d.%s", tower, branch, idx, what);
    else if (what)
        snprintf(t->name, sizeof(t->name), "%s.%s.%s", tower, branch, what);
    else
        snprintf(t->name, sizeof(t->name), "%s.%s", tower, branch);
    t->ndim = ndim;
    t->n = 1;
    for (int i = 0; i < 4; i++) {
        t->shape[i] = i < ndim ? shape[i] : 0;
        if (i < ndim)
            t->n *= (size_t)shape[i];
    }
    t->offset = take(cursor, t->n);
}

/* Kaiming-uniform as PyTorch's default for Linear/Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void td_nn_net_reset_params(td_nn_net *net, td_rng *rng)
{
    memset(net->params, 0, net->n_params * sizeof(float));
    memset(net->adam_m, 0, net->n_params * sizeof(float));
    memset(net->adam_v, 0, net->n_params * sizeof(float));
    net->adam_t = 0;
    if (!rng)
        return;
    for (int i = 0; i < net->n_layers; i++) {
        td_nn_layer *l = &net->layers[i];
        size_t fan_in = l->kind == TD__NN_CONV ? (size_t)l->K * l->K * l->C : (size_t)l->C;
        size_t nw = fan_in * l->OC;
        double bound = 1.0 / sqrt((double)fan_in);
        for (size_t k = 0; k < nw; k++)
            net->params[l->w_off + k] = (float)td_rng_range(rng, -bound, bound);
        for (int k = 0; k < l->OC; k++)
            net->params[l->b_off + k] = (float)td_rng_range(rng, -bound, bound);
    }
    /* log_std starts at 0 (std 1), as DeepRacer */
}

void td_nn_net_free(td_nn_net *net)
{
    if (!net)
        return;
    td_free(net->params);
    td_free(net->grads);
    td_free(net->adam_m);
    td_free(net->adam_v);
    td_free(net->acts);
    td_free(net->layers);
    memset(net, 0, sizeof(*net));
}

static void set_layer_dense(td_nn_layer *l, int C, int OC, int relu)
{
    l->kind = TD__NN_DENSE;
    l->C = C;
    l->OC = OC;
    l->relu = relu;
    l->out_size = (size_t)OC;
}

int td_nn_net_init(td_nn_net *net, const td_nn_tower *tower, int max_batch, td_rng *rng,
                   td_err *err)
{
    memset(net, 0, sizeof(*net));
    int rc = td__nn_tower_validate(tower, err);
    if (rc)
        return rc;
    if (max_batch < 1 || max_batch > (1 << 20))
        return td_err_set(err, TD_EINVAL, "tower '%s': max_batch %d out of range", tower->name,
                          max_batch);
    td_nn_init();
    net->spec = *tower;
    net->max_batch = max_batch;
    const td_nn_tower *t = &net->spec;
    plan p = plan_of(t);
    net->n_layers = p.n;
    net->layers = td_calloc(1, sizeof(td_nn_layer) * p.n + sizeof(extra));
    if (!net->layers)
        return td_err_set(err, TD_ENOMEM, "tower '%s': out of memory", t->name);
    extra *x = extra_of(net);

    /* shapes, tensors and parameter layout, in the model file's canonical order */
    size_t pcur = 0;
    double macs = 0.0;
    int h = t->camera_h, w = t->camera_w, c = t->camera_c;
    for (int i = 0; i < t->n_camera; i++) {
        td_nn_layer *l = &net->layers[p.cam0 + i];
        const td_nn_conv_spec *s = &t->camera[i];
        l->kind = TD__NN_CONV;
        l->relu = 1;
        l->H = h;
        l->W = w;
        l->C = c;
        l->OC = s->filters;
        l->K = s->kernel;
        l->S = s->stride;
        l->OH = td_nn_conv2d_out_dim(h, l->K, l->S);
        l->OW = td_nn_conv2d_out_dim(w, l->K, l->S);
        l->out_size = (size_t)l->OH * l->OW * l->OC;
        int wshape[4] = {l->OC, l->K, l->K, l->C};
        add_tensor(net, &pcur, "camera", i, "weight", 4, wshape);
        l->w_off = net->tensors[net->n_tensors - 1].offset;
        add_tensor(net, &pcur, "camera", i, "bias", 1, &l->OC);
        l->b_off = net->tensors[net->n_tensors - 1].offset;
        macs += (double)l->OH * l->OW * l->OC * l->K * l->K * l->C;
        h = l->OH;
        w = l->OW;
        c = l->OC;
    }
    x->n_src = 0;
    if (t->camera_h)
        x->src_dim[x->n_src++] = t->n_camera ? h * w * c : t->camera_h * t->camera_w * t->camera_c;
    const struct {
        const char *name;
        int dim, n, first;
        const int *widths;
    } mlps[2] = {{"lidar", t->lidar_dim, t->n_lidar, p.lid0, t->lidar},
                 {"state", t->state_dim, t->n_state, p.st0, t->state}};
    for (int m = 0; m < 2; m++) {
        if (!mlps[m].dim)
            continue;
        int in = mlps[m].dim;
        for (int i = 0; i < mlps[m].n; i++) {
            td_nn_layer *l = &net->layers[mlps[m].first + i];
            set_layer_dense(l, in, mlps[m].widths[i], 1);
            int wshape[2] = {l->OC, l->C};
            add_tensor(net, &pcur, mlps[m].name, i, "weight", 2, wshape);
            l->w_off = net->tensors[net->n_tensors - 1].offset;
            add_tensor(net, &pcur, mlps[m].name, i, "bias", 1, &l->OC);
            l->b_off = net->tensors[net->n_tensors - 1].offset;
            macs += (double)l->C * l->OC;
            in = l->OC;
        }
        x->src_dim[x->n_src++] = in;
    }
    if (t->action_dim)
        x->src_dim[x->n_src++] = t->action_dim;
    x->n_concat = 0;
    for (int i = 0; i < x->n_src; i++)
        x->n_concat += x->src_dim[i];
    x->single_source = x->n_src == 1;
    int in = x->n_concat;
    for (int i = 0; i <= t->n_trunk; i++) {
        int is_head = i == t->n_trunk;
        td_nn_layer *l = &net->layers[p.tr0 + i];
        set_layer_dense(l, in, is_head ? t->n_out : t->trunk[i], !is_head);
        int wshape[2] = {l->OC, l->C};
        if (is_head) {
            add_tensor(net, &pcur, "head", -1, "weight", 2, wshape);
            l->w_off = net->tensors[net->n_tensors - 1].offset;
            add_tensor(net, &pcur, "head", -1, "bias", 1, &l->OC);
        } else {
            add_tensor(net, &pcur, "trunk", i, "weight", 2, wshape);
            l->w_off = net->tensors[net->n_tensors - 1].offset;
            add_tensor(net, &pcur, "trunk", i, "bias", 1, &l->OC);
        }
        l->b_off = net->tensors[net->n_tensors - 1].offset;
        macs += (double)l->C * l->OC;
        in = l->OC;
    }
    size_t log_std_off = 0;
    if (t->head == TD_NN_HEAD_GAUSSIAN) {
        add_tensor(net, &pcur, "log_std", -1, NULL, 1, &t->n_out);
        log_std_off = net->tensors[net->n_tensors - 1].offset;
    }
    net->n_params = align_up(pcur);
    net->n_weights = 0;
    for (int i = 0; i < net->n_tensors; i++)
        net->n_weights += net->tensors[i].n;
    net->flops_per_sample = 2.0 * macs;

    /* activation layout */
    size_t B = (size_t)max_batch, acur = 0, dcols_n = 0;
    size_t cam_in_off = 0, concat_off = 0, dconcat_off = 0, dcols_off = 0, tanh_off = 0;
    size_t *out_off = td_calloc((size_t)p.n * 3, sizeof(size_t));
    if (!out_off) {
        td_nn_net_free(net);
        return td_err_set(err, TD_ENOMEM, "tower '%s': out of memory", t->name);
    }
    size_t *dout_off = out_off + p.n, *cols_off = out_off + 2 * p.n;
    if (t->camera_h)
        cam_in_off = take(&acur, B * t->camera_h * t->camera_w * t->camera_c);
    /* im2col: kept per layer if everything fits the budget, else one buffer in chunks */
    size_t keep_floats = 0, max_cols1 = 0, max_dcols1 = 0;
    for (int i = 0; i < p.n; i++) {
        td_nn_layer *l = &net->layers[i];
        if (l->kind != TD__NN_CONV)
            continue;
        size_t n1 = td_nn_conv2d_cols_size(1, l->H, l->W, l->C, l->K, l->S);
        keep_floats += B * n1;
        max_cols1 = n1 > max_cols1 ? n1 : max_cols1;
        if (i > p.cam0)
            max_dcols1 = n1 > max_dcols1 ? n1 : max_dcols1;
    }
    keep_floats += B * max_dcols1;
    size_t shared_off = 0;
    net->cols_chunk = 0;
    if (keep_floats * sizeof(float) > cols_budget) {
        size_t chunk = cols_budget / (sizeof(float) * (max_cols1 + max_dcols1));
        chunk = chunk < 1 ? 1 : chunk;
        net->cols_chunk = chunk < B ? (int)chunk : max_batch;
        shared_off = take(&acur, (size_t)net->cols_chunk * max_cols1);
        dcols_n = (size_t)net->cols_chunk * max_dcols1;
    } else {
        dcols_n = B * max_dcols1;
    }
    for (int i = 0; i < p.n; i++) {
        td_nn_layer *l = &net->layers[i];
        out_off[i] = take(&acur, B * l->out_size);
        dout_off[i] = take(&acur, B * l->out_size);
        if (l->kind == TD__NN_CONV)
            cols_off[i] =
                net->cols_chunk
                    ? shared_off
                    : take(&acur, td_nn_conv2d_cols_size(max_batch, l->H, l->W, l->C, l->K, l->S));
    }
    if (!x->single_source) {
        concat_off = take(&acur, B * x->n_concat);
        dconcat_off = take(&acur, B * x->n_concat);
    }
    if (dcols_n)
        dcols_off = take(&acur, dcols_n);
    if (t->head_tanh)
        tanh_off = take(&acur, B * t->n_out);
    size_t daction_off = t->action_dim ? take(&acur, B * t->action_dim) : 0;
    net->n_acts = acur;

    size_t pbytes = net->n_params * sizeof(float);
    net->params = td_malloc_aligned(64, pbytes);
    net->grads = td_malloc_aligned(64, pbytes);
    net->adam_m = td_malloc_aligned(64, pbytes);
    net->adam_v = td_malloc_aligned(64, pbytes);
    net->acts = td_malloc_aligned(64, (acur ? acur : 1) * sizeof(float));
    if (!net->params || !net->grads || !net->adam_m || !net->adam_v || !net->acts) {
        td_free(out_off);
        size_t mb = (4 * pbytes + acur * sizeof(float)) >> 20;
        char name[TD_NN_NAME_LEN];
        memcpy(name, t->name, sizeof(name));
        td_nn_net_free(net);
        return td_err_set(err, TD_ENOMEM, "tower '%s': out of memory (%zu MB for max_batch %d)",
                          name, mb, max_batch);
    }
    memset(net->grads, 0, pbytes);
    memset(net->acts, 0, acur * sizeof(float));
    for (int i = 0; i < p.n; i++) {
        td_nn_layer *l = &net->layers[i];
        l->out = net->acts + out_off[i];
        l->dout = net->acts + dout_off[i];
        l->cols = l->kind == TD__NN_CONV ? net->acts + cols_off[i] : NULL;
    }
    x->cam_in = t->camera_h ? net->acts + cam_in_off : NULL;
    x->concat = x->single_source ? NULL : net->acts + concat_off;
    x->dconcat = x->single_source ? NULL : net->acts + dconcat_off;
    x->dcols = dcols_n ? net->acts + dcols_off : NULL;
    x->tanh_out = t->head_tanh ? net->acts + tanh_off : NULL;
    net->d_action = t->action_dim ? net->acts + daction_off : NULL;
    td_free(out_off);

    /* where each layer's input gradient goes (NULL: nobody needs it) */
    for (int i = 0; i < t->n_camera; i++)
        net->layers[p.cam0 + i].din = i > 0 ? net->layers[p.cam0 + i - 1].dout : NULL;
    for (int i = 0; i < t->n_lidar; i++)
        net->layers[p.lid0 + i].din = i > 0 ? net->layers[p.lid0 + i - 1].dout : NULL;
    for (int i = 0; i < t->n_state; i++)
        net->layers[p.st0 + i].din = i > 0 ? net->layers[p.st0 + i - 1].dout : NULL;
    /* gradient buffers of the concatenation's sources */
    int k = 0;
    if (t->camera_h)
        x->dsrc[k++] = t->n_camera ? net->layers[p.lid0 - 1].dout : NULL;
    if (t->lidar_dim)
        x->dsrc[k++] = t->n_lidar ? net->layers[p.st0 - 1].dout : NULL;
    if (t->state_dim)
        x->dsrc[k++] = t->n_state ? net->layers[p.tr0 - 1].dout : NULL;
    if (t->action_dim)
        x->dsrc[k++] = net->d_action;
    if (x->single_source)
        x->dconcat = x->dsrc[0];
    for (int i = 0; i <= t->n_trunk; i++)
        net->layers[p.tr0 + i].din = i > 0 ? net->layers[p.tr0 + i - 1].dout : x->dconcat;

    if (t->head == TD_NN_HEAD_GAUSSIAN) {
        net->log_std = net->params + log_std_off;
        net->d_log_std = net->grads + log_std_off;
    }
    net->out = t->head_tanh ? x->tanh_out : net->layers[p.head].out;
    td_nn_net_reset_params(net, rng);
    return 0;
}

/* ---- forward / backward ------------------------------------------------------------------- */

/* Whether the caller wants the pass abandoned (td_nn_net.cancel). */
static int cancelled(const td_nn_net *net)
{
    return net->cancel && net->cancel(net->cancel_user);
}

static int layer_forward(const td_nn_net *net, td_nn_layer *l, const float *in, int B)
{
    const float *wt = net->params + l->w_off, *bias = net->params + l->b_off;
    l->in = in;
    if (cancelled(net))
        return TD_EINTERRUPTED;
    if (l->kind != TD__NN_CONV) {
        td_nn_dense_forward(l->out, in, wt, bias, B, l->C, l->OC, l->relu);
        return 0;
    }
    /* chunks of samples share one im2col buffer (one chunk of all B when cols are kept) */
    int chunk = net->cols_chunk ? net->cols_chunk : B;
    size_t in1 = (size_t)l->H * l->W * l->C;
    for (int b0 = 0; b0 < B; b0 += chunk) {
        int nb = B - b0 < chunk ? B - b0 : chunk;
        if (b0 && cancelled(net))
            return TD_EINTERRUPTED;
        td_nn_conv2d_forward(l->out + b0 * l->out_size, l->cols, in + b0 * in1, wt, bias, nb, l->H,
                             l->W, l->C, l->OC, l->K, l->S, l->relu);
    }
    return 0;
}

static int layer_backward(td_nn_net *net, td_nn_layer *l, float *dcols, int B)
{
    const float *wt = net->params + l->w_off;
    float *dw = net->grads + l->w_off, *db = net->grads + l->b_off;
    const float *relu_out = l->relu ? l->out : NULL;
    if (cancelled(net))
        return TD_EINTERRUPTED;
    if (l->kind != TD__NN_CONV) {
        td_nn_dense_backward(l->din, dw, db, l->dout, relu_out, l->in, wt, B, l->C, l->OC);
        return 0;
    }
    if (!net->cols_chunk) {
        td_nn_conv2d_backward(l->din, dw, db, dcols, l->dout, relu_out, l->cols, wt, B, l->H, l->W,
                              l->C, l->OC, l->K, l->S);
        return 0;
    }
    /* the shared buffer holds the last chunk's patches: rebuild each chunk's */
    size_t in1 = (size_t)l->H * l->W * l->C, o1 = l->out_size;
    for (int b0 = 0; b0 < B; b0 += net->cols_chunk) {
        int nb = B - b0 < net->cols_chunk ? B - b0 : net->cols_chunk;
        if (b0 && cancelled(net))
            return TD_EINTERRUPTED;
        td__nn_im2col(l->cols, l->in + b0 * in1, nb, l->H, l->W, l->C, l->K, l->S);
        td_nn_conv2d_backward(l->din ? l->din + b0 * in1 : NULL, dw, db, dcols, l->dout + b0 * o1,
                              relu_out ? relu_out + b0 * o1 : NULL, l->cols, wt, nb, l->H, l->W,
                              l->C, l->OC, l->K, l->S);
    }
    return 0;
}

int td_nn_net_forward(td_nn_net *net, const td_nn_input *in, int B)
{
    const td_nn_tower *t = &net->spec;
    if (B < 1 || B > net->max_batch || !in)
        return TD_EINVAL;
    extra *x = extra_of(net);
    plan p = plan_of(t);
    int k = 0;
    if (t->camera_h) {
        const float *cam = in->camera;
        size_t n = (size_t)B * t->camera_h * t->camera_w * t->camera_c;
        if (!cam && in->camera_u8) {
            const float scale = 1.0f / 255.0f;
            for (size_t i = 0; i < n; i++)
                x->cam_in[i] = (float)in->camera_u8[i] * scale;
            cam = x->cam_in;
        } else if (cam && net->cols_chunk && t->n_camera) {
            /* chunked convs read their input again in the backward: keep a copy */
            memcpy(x->cam_in, cam, n * sizeof(float));
            cam = x->cam_in;
        }
        if (!cam)
            return TD_EINVAL;
        for (int i = 0; i < t->n_camera; i++)
            if (layer_forward(net, &net->layers[p.cam0 + i],
                              i ? net->layers[p.cam0 + i - 1].out : cam, B))
                return TD_EINTERRUPTED;
        x->src[k++] = t->n_camera ? net->layers[p.lid0 - 1].out : cam;
    }
    if (t->lidar_dim) {
        if (!in->lidar)
            return TD_EINVAL;
        for (int i = 0; i < t->n_lidar; i++)
            if (layer_forward(net, &net->layers[p.lid0 + i],
                              i ? net->layers[p.lid0 + i - 1].out : in->lidar, B))
                return TD_EINTERRUPTED;
        x->src[k++] = t->n_lidar ? net->layers[p.st0 - 1].out : in->lidar;
    }
    if (t->state_dim) {
        if (!in->state)
            return TD_EINVAL;
        for (int i = 0; i < t->n_state; i++)
            if (layer_forward(net, &net->layers[p.st0 + i],
                              i ? net->layers[p.st0 + i - 1].out : in->state, B))
                return TD_EINTERRUPTED;
        x->src[k++] = t->n_state ? net->layers[p.tr0 - 1].out : in->state;
    }
    if (t->action_dim) {
        if (!in->action)
            return TD_EINVAL;
        x->src[k++] = in->action;
    }
    const float *cat = x->src[0];
    if (!x->single_source) {
        td_nn_concat_forward(x->concat, x->src, x->src_dim, x->n_src, B);
        cat = x->concat;
    }
    for (int i = 0; i <= t->n_trunk; i++)
        if (layer_forward(net, &net->layers[p.tr0 + i], i ? net->layers[p.tr0 + i - 1].out : cat,
                          B))
            return TD_EINTERRUPTED;
    if (t->head_tanh)
        td_nn_tanh_forward(x->tanh_out, net->layers[p.head].out, (size_t)B * t->n_out);
    return 0;
}

int td_nn_net_backward(td_nn_net *net, const float *dout, int B)
{
    const td_nn_tower *t = &net->spec;
    if (B < 1 || B > net->max_batch || !dout)
        return TD_EINVAL;
    extra *x = extra_of(net);
    plan p = plan_of(t);
    /* the kernels accumulate into input gradients: clear the ones this pass fills */
    for (int i = 0; i < p.n; i++) {
        td_nn_layer *l = &net->layers[i];
        if (l->din)
            memset(l->din, 0,
                   (size_t)B * l->C * (l->kind == TD__NN_CONV ? (size_t)l->H * l->W : 1) *
                       sizeof(float));
    }
    if (x->dconcat)
        memset(x->dconcat, 0, (size_t)B * x->n_concat * sizeof(float));
    if (net->d_action)
        memset(net->d_action, 0, (size_t)B * t->action_dim * sizeof(float));
    /* and the branch outputs' gradients, which the concatenation's backward adds into */
    for (int k = 0; k < x->n_src && !x->single_source; k++)
        if (x->dsrc[k])
            memset(x->dsrc[k], 0, (size_t)B * x->src_dim[k] * sizeof(float));

    td_nn_layer *head = &net->layers[p.head];
    size_t nout = (size_t)B * t->n_out;
    if (t->head_tanh) {
        memset(head->dout, 0, nout * sizeof(float));
        td_nn_tanh_backward(head->dout, dout, x->tanh_out, nout);
    } else {
        memcpy(head->dout, dout, nout * sizeof(float));
    }
    for (int i = p.head; i >= p.tr0; i--)
        if (layer_backward(net, &net->layers[i], NULL, B))
            return TD_EINTERRUPTED;
    if (!x->single_source)
        td_nn_concat_backward(x->dsrc, x->dconcat, x->src_dim, x->n_src, B);
    for (int i = p.tr0 - 1; i >= 0; i--)
        if (layer_backward(net, &net->layers[i], x->dcols, B))
            return TD_EINTERRUPTED;
    return 0;
}

void td_nn_net_zero_grad(td_nn_net *net)
{
    memset(net->grads, 0, net->n_params * sizeof(float));
}

void td_nn_adam_step(td_nn_net *net, const td_nn_adam_config *cfg)
{
    net->adam_t++;
    td_nn_adam_update(net->params, net->adam_m, net->adam_v, net->grads, net->n_params, cfg,
                      net->adam_t);
}

/* ---- parameters ----------------------------------------------------------------------------- */

static int same_shape(const td_nn_net *a, const td_nn_net *b)
{
    if (a->n_params != b->n_params || a->n_tensors != b->n_tensors)
        return 0;
    for (int i = 0; i < a->n_tensors; i++)
        if (a->tensors[i].n != b->tensors[i].n || a->tensors[i].offset != b->tensors[i].offset)
            return 0;
    return 1;
}

int td_nn_net_copy_params(td_nn_net *dst, const td_nn_net *src)
{
    if (!same_shape(dst, src))
        return TD_EINVAL;
    memcpy(dst->params, src->params, src->n_params * sizeof(float));
    return 0;
}

int td_nn_net_polyak(td_nn_net *dst, const td_nn_net *src, float tau)
{
    if (!same_shape(dst, src))
        return TD_EINVAL;
    for (size_t i = 0; i < src->n_params; i++)
        dst->params[i] = (1.0f - tau) * dst->params[i] + tau * src->params[i];
    return 0;
}

const td_nn_tensor *td_nn_net_tensor(const td_nn_net *net, const char *name)
{
    for (int i = 0; i < net->n_tensors; i++)
        if (strcmp(net->tensors[i].name, name) == 0)
            return &net->tensors[i];
    return NULL;
}
