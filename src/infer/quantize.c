/*
 * quantize.c - turns an fp32 model file into an int8 one: calibrates every layer's input
 * range on sample observations (min/max, or a percentile from a histogram in a second pass),
 * quantizes weights symmetrically per output channel, and writes a new model file (policy
 * tower only, canonical layout) whose header keeps the original's keys verbatim. Lives in
 * infer/ so a device can quantize too; `trackday quantize` is the command.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_internal.h"

#define ALIGN64(x) (((x) + (size_t)63) & ~(size_t)63)

void td_infer_quant_options_default(td_infer_quant_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->percentile = 0.0; /* the clip with the least squared error */
    opt->bias_correction = 1;
}

void td_infer_free(void *p)
{
    free(p);
}

/* ---- a growable text buffer ----------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *q;
        while (cap < b->n + n + 1)
            cap *= 2;
        q = (char *)realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    int n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string literal. */
static void sb_jstr(sbuf *b, const char *s)
{
    sb_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2];
            e[0] = '\\';
            e[1] = (char)c;
            sb_put(b, e, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_puts(b, "\"");
}

/* ---- calibration ---------------------------------------------------------------------- */

/* The value below which `frac` of the histogram's mass lies. */
static float hist_quantile(const float *h, float lo, float hi, double frac)
{
    double total = 0, run = 0;
    int i;
    for (i = 0; i < TDI_HIST; i++)
        total += h[i];
    if (total <= 0)
        return hi;
    for (i = 0; i < TDI_HIST; i++) {
        run += h[i];
        if (run >= frac * total)
            return lo + (hi - lo) * (float)(i + 1) / (float)TDI_HIST;
    }
    return hi;
}

/*
 * The clip value for a non-negative input that minimizes the expected squared error of its
 * uint8 quantization over the histogram: values above the clip lose (v - clip)^2, values
 * below it the rounding noise step^2 / 12 (exact zeros, as after a ReLU, lose nothing).
 */
static float mse_clip(const float *h, float lo, float hi)
{
    double width = (double)(hi - lo) / TDI_HIST, best_err = -1;
    float best = hi;
    int k, b;
    for (k = TDI_HIST / 64; k <= TDI_HIST; k += TDI_HIST / 256) {
        double clip = lo + width * k, step = clip / 255.0, err = 0;
        for (b = 0; b < TDI_HIST; b++) {
            double v = lo + width * (b + 0.5);
            if (h[b] == 0)
                continue;
            if (v > clip)
                err += h[b] * (v - clip) * (v - clip);
            else if (b > 0 || lo > 0)
                err += h[b] * step * step / 12.0;
        }
        if (best_err < 0 || err < best_err) {
            best_err = err;
            best = (float)clip;
        }
    }
    return best;
}

static int calibrate(td_infer_model *m, td_infer_obs_fn next_obs, void *ctx, int n,
                     const td_infer_quant_options *opt, td_infer_err *err)
{
    int pass, i, li, rc;
    int passes = opt->percentile < 100.0 ? 2 : 1; /* 0 (MSE) and percentiles need histograms */
    for (li = 0; li < m->n_layers; li++) {
        m->layers[li].cal_min = 1e30f;
        m->layers[li].cal_max = -1e30f;
    }
    if (passes == 2) {
        m->cal_hist = (float *)calloc((size_t)m->n_layers * TDI_HIST, sizeof(float));
        if (!m->cal_hist)
            return td__infer_fail(err, TD_INFER_ENOMEM, "out of memory for histograms");
    }
    m->calibrating = 1;
    for (pass = 0; pass < passes; pass++) {
        m->cal_pass = pass;
        for (i = 0; i < n; i++) {
            td_infer_obs obs;
            memset(&obs, 0, sizeof(obs));
            if (next_obs(ctx, i, &obs) != 0) {
                rc = td__infer_fail(err, TD_INFER_EINVAL, "calibration observation %d failed", i);
                goto done;
            }
            if ((rc = td__infer_forward(m, &obs)) != 0) {
                td__infer_fail(err, rc,
                               "calibration observation %d lacks an input the model "
                               "needs",
                               i);
                goto done;
            }
        }
    }
    for (li = 0; li < m->n_layers; li++) {
        tdi_layer *L = &m->layers[li];
        float lo = L->cal_min < 0 ? L->cal_min : 0.0f;
        float hi = L->cal_max > 0 ? L->cal_max : 0.0f;
        if (li == m->first_layer[TDI_BR_CAMERA] && m->cam_offset == 0.0f) {
            /* Camera pixels: the uint8 frame itself is the quantized input. */
            L->in_scale = m->cam_scale;
            L->in_zp = 0;
            continue;
        }
        if (passes == 2 && L->cal_max > L->cal_min && opt->percentile == 0.0 && L->cal_min >= 0) {
            hi = mse_clip(m->cal_hist + (size_t)li * TDI_HIST, L->cal_min, L->cal_max);
        } else if (passes == 2 && L->cal_max > L->cal_min) {
            const float *h = m->cal_hist + (size_t)li * TDI_HIST;
            double p = (opt->percentile == 0.0 ? 99.99 : opt->percentile) / 100.0;
            float qhi = hist_quantile(h, L->cal_min, L->cal_max, p);
            /* The low tail is clipped only when the input goes below zero (no ReLU). */
            if (L->cal_min < 0) {
                float qlo = hist_quantile(h, L->cal_min, L->cal_max, 1.0 - p);
                lo = qlo < 0 ? qlo : 0.0f;
            }
            hi = qhi > 0 ? qhi : 0.0f;
        }
        if (hi - lo <= 1e-12f) {
            L->in_scale = 1.0f; /* a dead input: every value is 0 */
            L->in_zp = 0;
        } else {
            float s = (hi - lo) / 255.0f;
            int zp = (int)floor(-lo / s + 0.5);
            L->in_scale = s;
            L->in_zp = zp < 0 ? 0 : zp > 255 ? 255 : zp;
        }
    }
    rc = 0;
done:
    m->calibrating = 0;
    free(m->cal_hist);
    m->cal_hist = NULL;
    return rc;
}

/*
 * The symmetric scale of one output channel's weights: max |w| / 127, or a smaller one when
 * clipping the few largest weights lowers the squared rounding error of the rest.
 */
static float weight_scale(const float *w, size_t n)
{
    static const float shrink[] = {1.0f, 0.95f, 0.9f, 0.85f, 0.8f, 0.75f, 0.7f};
    float amax = 0, best = 1.0f;
    double best_err = -1;
    size_t i;
    int k;
    for (i = 0; i < n; i++)
        if (fabsf(w[i]) > amax)
            amax = fabsf(w[i]);
    /* Weights so small that their scale would be a denormal or 0 (and 1 / scale infinite)
     * round to 0 whatever the scale: 1 keeps every product finite. */
    if (amax < 127.0f * 1.17549435e-38f) /* FLT_MIN */
        return 1.0f;
    for (k = 0; k < (int)(sizeof(shrink) / sizeof(shrink[0])); k++) {
        float sc = amax * shrink[k] / 127.0f, inv = 1.0f / sc;
        double err = 0;
        for (i = 0; i < n; i++) {
            float v = (float)floor(w[i] * inv + 0.5f);
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            err += (double)(w[i] - v * sc) * (w[i] - v * sc);
        }
        if (best_err < 0 || err < best_err) {
            best_err = err;
            best = sc;
        }
    }
    return best;
}

/* ---- bias correction ------------------------------------------------------------------ */

/*
 * Rounding the weights of a channel shifts its output by (Wq - W) x, and inputs share a
 * large common component (the same road, the same lighting), so much of that error is a
 * constant per channel. Empirical bias correction measures it: for every int8 layer, on
 * calibration observations, the mean over samples and positions of the fp32 output minus
 * the int8 output (both before the ReLU, from the fp32 network's input to that layer),
 * added to the layer's bias.
 */
typedef struct bc_layer {
    int on;
    const int8_t *wq;
    float *mult;
    int32_t *wsum;
    double *diff;  /* per output channel: summed fp32 - int8 */
    double *sum32; /* per output channel: summed fp32 output */
    long count;    /* positions summed per channel */
} bc_layer;

typedef struct bc_ctx {
    bc_layer *layers;
    float *y32, *yq;
    uint8_t *qin, *cols;
} bc_ctx;

static void bc_hook(void *ctx, td_infer_model *m, int li, const float *in)
{
    bc_ctx *bc = ctx;
    tdi_layer *L = &m->layers[li];
    bc_layer *B = &bc->layers[li];
    size_t p, np = (size_t)L->out_h * L->out_w;
    int o;
    if (!B->on)
        return;
    td__infer_quantize_u8(m->isa, bc->qin, in, L->in_len, L->in_scale, L->in_zp);
    if (L->kind == TDI_CONV) {
        td__infer_conv_f32(m->isa, bc->y32, in, L->wt, L->bias, L->in_h, L->in_w, L->in_c, L->oc,
                           L->k, L->s, 0);
        td__infer_conv_i8(bc->yq, bc->cols, bc->qin, B->wq, B->wsum, B->mult, L->bias, L->in_h,
                          L->in_w, L->in_c, L->oc, L->k, L->s, 0);
    } else {
        td__infer_dense_f32(m->isa, bc->y32, in, L->w, L->bias, L->in_c, L->oc, 0);
        td__infer_dense_i8(bc->yq, bc->qin, B->wq, B->wsum, B->mult, L->bias, L->in_c, L->oc, 0);
    }
    for (p = 0; p < np; p++)
        for (o = 0; o < L->oc; o++) {
            B->diff[o] += (double)bc->y32[p * L->oc + o] - bc->yq[p * L->oc + o];
            B->sum32[o] += bc->y32[p * L->oc + o];
        }
    B->count += (long)np;
}

/*
 * The second, sequential stage: a layer's int8 input carries the errors of the layers before
 * it, and through their ReLUs those errors shift its mean output too. Layer by layer, in
 * order, the int8 model (with the corrections so far) is run on the observations and the
 * layer's bias moved so that its mean output before the ReLU equals the fp32 network's.
 */
typedef struct seq_ctx {
    int target;
    double *sumq;
    long count;
    float *y;
    uint8_t *qin, *cols;
} seq_ctx;

static void seq_hook(void *ctx, td_infer_model *m, int li, const float *in)
{
    seq_ctx *sc = ctx;
    tdi_layer *L = &m->layers[li];
    size_t p, np = (size_t)L->out_h * L->out_w;
    int o;
    if (li != sc->target || !L->int8)
        return;
    td__infer_quantize_u8(m->isa, sc->qin, in, L->in_len, L->in_scale, L->in_zp);
    if (L->kind == TDI_CONV)
        td__infer_conv_i8(sc->y, sc->cols, sc->qin, L->wq, L->wsum, L->mult, L->bias, L->in_h,
                          L->in_w, L->in_c, L->oc, L->k, L->s, 0);
    else
        td__infer_dense_i8(sc->y, sc->qin, L->wq, L->wsum, L->mult, L->bias, L->in_c, L->oc, 0);
    for (p = 0; p < np; p++)
        for (o = 0; o < L->oc; o++)
            sc->sumq[o] += sc->y[p * L->oc + o];
    sc->count += (long)np;
}

/* ---- writing -------------------------------------------------------------------------- */

typedef struct out_tensor {
    char name[TDI_NAME_LEN + 8];
    int is_i8, ndim, shape[4];
    const void *data; /* f32 (host order) or int8 */
    size_t nbytes, offset;
    const char *scale_name; /* i8 */
    float in_scale;
    int in_zp;
} out_tensor;

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Copies the raw text of member node i of the original header, with its key. */
static void sb_member(sbuf *b, const tdi_json *j, int i, const char *text, int *first)
{
    if (!*first)
        sb_puts(b, ", ");
    *first = 0;
    sb_jstr(b, j[i].key);
    sb_puts(b, ": ");
    sb_put(b, text + j[i].src_begin, j[i].src_end - j[i].src_begin);
}

/* Runs the correction over up to 64 calibration observations and points the bias tensors of
 * int8 layers at corrected copies (new_bias[li], OC floats each). */
static int bias_correct(td_infer_model *m, bc_layer *bcl, out_tensor **bias_slot, float **new_bias,
                        td_infer_obs_fn next_obs, void *ctx, int n, td_infer_err *err)
{
    bc_ctx bc;
    size_t max_out = 1, max_in = 1, max_cols = 1;
    int li, i, o, rc = 0, nb = n < 64 ? n : 64;
    for (li = 0; li < m->n_layers; li++) {
        const tdi_layer *L = &m->layers[li];
        size_t cols = (size_t)L->out_h * L->out_w * L->k * L->k * L->in_c;
        if (L->out_len > max_out)
            max_out = L->out_len;
        if (L->in_len > max_in)
            max_in = L->in_len;
        if (L->kind == TDI_CONV && cols > max_cols)
            max_cols = cols;
    }
    bc.layers = bcl;
    bc.y32 = (float *)malloc(max_out * 4);
    bc.yq = (float *)malloc(max_out * 4);
    bc.qin = (uint8_t *)malloc(max_in);
    bc.cols = (uint8_t *)malloc(max_cols);
    if (!bc.y32 || !bc.yq || !bc.qin || !bc.cols) {
        rc = td__infer_fail(err, TD_INFER_ENOMEM, "out of memory for bias correction");
        goto done;
    }
    m->calibrating = 1;
    m->cal_pass = 2;
    m->cal_hook = bc_hook;
    m->cal_ctx = &bc;
    for (i = 0; i < nb; i++) {
        td_infer_obs obs;
        memset(&obs, 0, sizeof(obs));
        if (next_obs(ctx, i, &obs) != 0 || td__infer_forward(m, &obs) != 0) {
            rc = td__infer_fail(err, TD_INFER_EINVAL, "calibration observation %d failed", i);
            goto done;
        }
    }
    for (li = 0; li < m->n_layers; li++) {
        const tdi_layer *L = &m->layers[li];
        if (!bcl[li].on || bcl[li].count == 0)
            continue;
        for (o = 0; o < L->oc; o++)
            new_bias[li][o] = (float)(L->bias[o] + bcl[li].diff[o] / (double)bcl[li].count);
        bias_slot[li]->data = new_bias[li];
    }
done:
    m->calibrating = 0;
    m->cal_pass = 0;
    m->cal_hook = NULL;
    m->cal_ctx = NULL; /* it pointed at this function's bc */
    free(bc.y32);
    free(bc.yq);
    free(bc.qin);
    free(bc.cols);
    return rc;
}

static float rdf32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The sequential stage on the finished file: biases are rewritten in place, CRC refreshed. */
static int refine_sequential(uint8_t *file, size_t total, size_t data_off, td_infer_model *m,
                             const bc_layer *bcl, out_tensor **bias_slot, td_infer_obs_fn next_obs,
                             void *ctx, int nb, td_infer_err *err)
{
    seq_ctx sc;
    size_t max_out = 1, max_in = 1, max_cols = 1;
    int li, i, o, rc = 0;
    memset(&sc, 0, sizeof(sc));
    for (li = 0; li < m->n_layers; li++) {
        const tdi_layer *L = &m->layers[li];
        size_t cols = (size_t)L->out_h * L->out_w * L->k * L->k * L->in_c;
        max_out = L->out_len > max_out ? L->out_len : max_out;
        max_in = L->in_len > max_in ? L->in_len : max_in;
        if (L->kind == TDI_CONV && cols > max_cols)
            max_cols = cols;
    }
    sc.y = (float *)malloc(max_out * 4);
    sc.qin = (uint8_t *)malloc(max_in);
    sc.cols = (uint8_t *)malloc(max_cols);
    sc.sumq = (double *)malloc(sizeof(double) * 4096);
    if (!sc.y || !sc.qin || !sc.cols || !sc.sumq) {
        rc = td__infer_fail(err, TD_INFER_ENOMEM, "out of memory for bias correction");
        goto done;
    }
    for (li = 0; li < m->n_layers; li++) {
        td_infer_model *q = NULL;
        uint8_t *bias_bytes;
        if (!bcl[li].on || bcl[li].count == 0 || m->layers[li].oc > 4096)
            continue;
        if ((rc = td_infer_open_buffer(&q, file, total, err)) != 0)
            goto done;
        sc.target = li;
        sc.count = 0;
        memset(sc.sumq, 0, sizeof(double) * (size_t)m->layers[li].oc);
        q->calibrating = 1;
        q->cal_pass = 2;
        q->cal_hook = seq_hook;
        q->cal_ctx = &sc;
        for (i = 0; i < nb; i++) {
            td_infer_obs obs;
            memset(&obs, 0, sizeof(obs));
            if (next_obs(ctx, i, &obs) != 0 || td__infer_forward(q, &obs) != 0) {
                td_infer_close(q);
                rc = td__infer_fail(err, TD_INFER_EINVAL, "calibration observation %d failed", i);
                goto done;
            }
        }
        td_infer_close(q);
        bias_bytes = file + data_off + bias_slot[li]->offset;
        for (o = 0; o < m->layers[li].oc; o++) {
            double want = bcl[li].sum32[o] / (double)bcl[li].count;
            double got = sc.count ? sc.sumq[o] / (double)sc.count : want;
            float b = rdf32(bias_bytes + 4 * o) + (float)(want - got);
            uint32_t u;
            memcpy(&u, &b, 4);
            wr32(bias_bytes + 4 * o, u);
        }
        td_infer_frame_end(file, total);
    }
done:
    free(sc.y);
    free(sc.qin);
    free(sc.cols);
    free(sc.sumq);
    return rc;
}

int td_infer_quantize(const void *buf, size_t len, td_infer_obs_fn next_obs, void *ctx, int n,
                      const td_infer_quant_options *opt_in, void **out, size_t *out_len,
                      td_infer_err *err)
{
    td_infer_model *m = NULL;
    td_infer_quant_options opt;
    out_tensor *ot = NULL;
    int8_t *qw = NULL;
    float *qs = NULL;
    sbuf hb = {NULL, 0, 0, 0};
    bc_layer *bcl = NULL;
    out_tensor **bias_slot = NULL;
    void *bc_mem = NULL;
    float *new_bias_off[TDI_MAX_LAYERS];
    float **new_bias = NULL;
    int rc, li, i, nt = 0, first;
    size_t qw_total = 0, qs_total = 0, data_size = 0, data_off, total;
    const tdi_json *j;
    const char *text = (const char *)buf + 24;
    uint8_t *file;
    if (!out || !out_len || !next_obs || n < 1)
        return td__infer_fail(err, TD_INFER_EINVAL,
                              "quantize needs an output, an observation source and n >= 1");
    *out = NULL;
    *out_len = 0;
    if (opt_in)
        opt = *opt_in;
    else
        td_infer_quant_options_default(&opt);
    if (!(opt.percentile == 0.0 || (opt.percentile > 50.0 && opt.percentile <= 100.0)))
        return td__infer_fail(err, TD_INFER_EINVAL, "percentile %g is not 0 or in (50, 100]",
                              opt.percentile);
    if ((rc = td_infer_open_buffer(&m, buf, len, err)) != 0)
        return rc;
    if (m->info.n_int8_layers > 0) {
        td_infer_close(m);
        return td__infer_fail(err, TD_INFER_EUNSUPPORTED, "the model is already quantized");
    }
    /* A weight that is not finite has no int8 value (and a diverged model nothing to keep). */
    for (li = 0; li < m->n_layers; li++) {
        const tdi_tensor *wt = &m->tensors[m->layers[li].w_tensor];
        size_t k, nw = wt->nbytes / 4;
        for (k = 0; k < nw; k++)
            if (!isfinite(m->layers[li].w[k])) {
                rc = td__infer_fail(err, TD_INFER_EUNSUPPORTED,
                                    "tensor %s: element %lu is %g; only finite weights can be "
                                    "quantized",
                                    wt->name, (unsigned long)k, (double)m->layers[li].w[k]);
                td_infer_close(m);
                return rc;
            }
    }
    if ((rc = calibrate(m, next_obs, ctx, n, &opt, err)) != 0) {
        td_infer_close(m);
        return rc;
    }
    /* Quantized weights and scales. */
    for (li = 0; li < m->n_layers; li++) {
        tdi_layer *L = &m->layers[li];
        if ((L->branch == TDI_BR_HEAD && !opt.quantize_head))
            continue;
        qw_total += ALIGN64(m->tensors[L->w_tensor].nbytes / 4);
        qs_total += ALIGN64((size_t)L->oc * 4);
    }
    qw = (int8_t *)malloc(qw_total ? qw_total : 1);
    qs = (float *)malloc(qs_total ? qs_total : 4);
    ot = (out_tensor *)calloc((size_t)m->n_tensors + (size_t)m->n_layers + 1, sizeof(*ot));
    bcl = (bc_layer *)calloc(TDI_MAX_LAYERS, sizeof(*bcl));
    bias_slot = (out_tensor **)calloc(TDI_MAX_LAYERS, sizeof(*bias_slot));
    {
        size_t per_layer = 0;
        for (li = 0; li < m->n_layers; li++)
            per_layer += 16 * (size_t)m->layers[li].oc +
                         3 * (((size_t)m->layers[li].oc * 4 + 7) & ~(size_t)7);
        bc_mem = calloc(1, per_layer + 64);
    }
    if (!qw || !qs || !ot || !bcl || !bias_slot || !bc_mem) {
        rc = td__infer_fail(err, TD_INFER_ENOMEM, "out of memory quantizing");
        goto fail;
    }
    {
        uint8_t *bm = (uint8_t *)bc_mem;
        for (li = 0; li < m->n_layers; li++) {
            size_t oc = (size_t)m->layers[li].oc;
            bcl[li].diff = (double *)(void *)bm;
            bm += oc * 8;
            bcl[li].sum32 = (double *)(void *)bm;
            bm += oc * 8;
            bcl[li].mult = (float *)(void *)bm;
            bm += (oc * 4 + 7) & ~(size_t)7; /* keeps the next layer's doubles aligned */
            bcl[li].wsum = (int32_t *)(void *)bm;
            bm += (oc * 4 + 7) & ~(size_t)7;
            new_bias_off[li] = (float *)(void *)bm;
            bm += (oc * 4 + 7) & ~(size_t)7;
        }
        new_bias = new_bias_off;
    }
    {
        int8_t *wp = qw;
        float *sp = qs;
        for (li = 0; li < m->n_layers; li++) {
            tdi_layer *L = &m->layers[li];
            const tdi_tensor *wt = &m->tensors[L->w_tensor], *bt = &m->tensors[L->b_tensor];
            out_tensor *w = &ot[nt++];
            size_t per = wt->nbytes / 4 / (size_t)L->oc, q;
            int o;
            memcpy(w->name, wt->name, sizeof(wt->name));
            w->ndim = wt->ndim;
            memcpy(w->shape, wt->shape, sizeof(w->shape));
            if ((L->branch == TDI_BR_HEAD && !opt.quantize_head)) {
                w->data = wt->data;
                w->nbytes = wt->nbytes;
            } else {
                out_tensor *s;
                for (o = 0; o < L->oc; o++) {
                    const float *row = L->w + (size_t)o * per;
                    float sc = weight_scale(row, per), inv = 1.0f / sc;
                    for (q = 0; q < per; q++) {
                        float v = (float)floor(row[q] * inv + 0.5f);
                        wp[(size_t)o * per + q] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
                    }
                    sp[o] = sc;
                }
                w->is_i8 = 1;
                w->data = wp;
                if (bcl) {
                    bcl[li].on = 1;
                    bcl[li].wq = wp;
                    for (o = 0; o < L->oc; o++) {
                        int32_t sum = 0;
                        for (q = 0; q < per; q++)
                            sum += wp[(size_t)o * per + q];
                        bcl[li].mult[o] = sp[o] * L->in_scale;
                        bcl[li].wsum[o] = sum * L->in_zp;
                    }
                }
                w->nbytes = wt->nbytes / 4;
                w->in_scale = L->in_scale;
                w->in_zp = L->in_zp;
                s = &ot[nt++];
                snprintf(s->name, sizeof(s->name), "%s.scale", wt->name);
                w->scale_name = s->name;
                s->ndim = 1;
                s->shape[0] = L->oc;
                s->data = sp;
                s->nbytes = (size_t)L->oc * 4;
                wp += ALIGN64(w->nbytes);
                sp += ALIGN64((size_t)L->oc * 4) / 4;
            }
            {
                out_tensor *b = &ot[nt++];
                memcpy(b->name, bt->name, sizeof(bt->name));
                b->ndim = 1;
                b->shape[0] = L->oc;
                b->data = bt->data;
                b->nbytes = bt->nbytes;
                bias_slot[li] = b;
            }
        }
        for (i = 0; i < m->n_tensors; i++)
            if (strcmp(m->tensors[i].name, "policy.log_std") == 0) {
                out_tensor *t = &ot[nt++];
                memcpy(t->name, m->tensors[i].name, sizeof(m->tensors[i].name));
                t->ndim = 1;
                t->shape[0] = m->tensors[i].shape[0];
                t->data = m->tensors[i].data;
                t->nbytes = m->tensors[i].nbytes;
            }
    }
    if (bcl && opt.bias_correction) {
        if ((rc = bias_correct(m, bcl, bias_slot, new_bias, next_obs, ctx, n, err)) != 0)
            goto fail;
    }
    for (i = 0; i < nt; i++) {
        ot[i].offset = data_size;
        data_size = ALIGN64(data_size + ot[i].nbytes);
    }
    /* The header: fixed keys first, then the original's other keys verbatim. */
    j = m->json;
    sb_printf(&hb, "{\"format\": \"trackday-model\", \"version\": %d, \"data_size\": %lu",
              TD_INFER_FORMAT_VERSION, (unsigned long)data_size);
    {
        int topo = td__infer_json_get(j, 0, "topology");
        int towers = td__infer_json_get(j, topo, "towers");
        int pol = td__infer_json_get(j, towers, "policy");
        first = 0;
        sb_puts(&hb, ", \"topology\": {\"towers\": {");
        first = 1;
        sb_member(&hb, j, pol, text, &first);
        sb_puts(&hb, "}}");
    }
    for (i = j[0].first; i >= 0; i = j[i].next) {
        static const char *const skip[] = {"format",   "version", "data_size",
                                           "topology", "tensors", "lineage"};
        int k, s = 0;
        for (k = 0; k < 6; k++)
            s |= strcmp(j[i].key, skip[k]) == 0;
        if (s)
            continue;
        first = 0;
        sb_member(&hb, j, i, text, &first);
    }
    {
        int lin = td__infer_json_get(j, 0, "lineage");
        sb_puts(&hb, ", \"lineage\": {");
        first = 1;
        if (lin >= 0 && j[lin].type == TDI_OBJ)
            for (i = j[lin].first; i >= 0; i = j[i].next) {
                if (strcmp(j[i].key, "parent") == 0 || strcmp(j[i].key, "calibration") == 0 ||
                    strcmp(j[i].key, "quantization") == 0)
                    continue;
                sb_member(&hb, j, i, text, &first);
            }
        if (!first)
            sb_puts(&hb, ", ");
        sb_puts(&hb, "\"parent\": ");
        if (opt.parent)
            sb_jstr(&hb, opt.parent);
        else
            sb_puts(&hb, "null");
        sb_printf(&hb, ", \"calibration\": ");
        sb_jstr(&hb, opt.calibration ? opt.calibration : "");
        sb_printf(&hb,
                  ", \"quantization\": {\"weights\": \"int8 symmetric per output "
                  "channel\", \"activations\": \"uint8 per tensor\", \"percentile\": %.6g, "
                  "\"bias_correction\": %s, \"observations\": %d}}",
                  opt.percentile, opt.bias_correction ? "true" : "false", n);
    }
    sb_puts(&hb, ",\n\"tensors\": [");
    for (i = 0; i < nt; i++) {
        const out_tensor *t = &ot[i];
        int d;
        sb_puts(&hb, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
        sb_jstr(&hb, t->name);
        sb_printf(&hb, ", \"dtype\": \"%s\", \"shape\": [", t->is_i8 ? "i8" : "f32");
        for (d = 0; d < t->ndim; d++)
            sb_printf(&hb, d ? ", %d" : "%d", t->shape[d]);
        sb_printf(&hb, "], \"offset\": %lu, \"nbytes\": %lu", (unsigned long)t->offset,
                  (unsigned long)t->nbytes);
        if (t->is_i8) {
            sb_puts(&hb, ", \"scale\": ");
            sb_jstr(&hb, t->scale_name);
            sb_printf(&hb, ", \"input_scale\": %.9g, \"input_zero_point\": %d", (double)t->in_scale,
                      t->in_zp);
        }
        sb_puts(&hb, "}");
    }
    sb_puts(&hb, "]}\n");
    if (hb.oom) {
        rc = td__infer_fail(err, TD_INFER_ENOMEM, "out of memory writing the header");
        goto fail;
    }
    total = td_infer_frame_size(hb.n, data_size);
    file = (uint8_t *)calloc(1, total);
    if (!file) {
        rc = td__infer_fail(err, TD_INFER_ENOMEM, "out of memory for the output file");
        goto fail;
    }
    data_off = td_infer_frame_begin(file, hb.p, hb.n);
    for (i = 0; i < nt; i++) {
        uint8_t *dst = file + data_off + ot[i].offset;
        if (ot[i].is_i8) {
            memcpy(dst, ot[i].data, ot[i].nbytes);
        } else {
            const float *f = (const float *)ot[i].data;
            size_t k;
            for (k = 0; k < ot[i].nbytes / 4; k++) {
                uint32_t u;
                memcpy(&u, &f[k], 4);
                wr32(dst + 4 * k, u);
            }
        }
    }
    td_infer_frame_end(file, total);
    if (opt.bias_correction && (rc = refine_sequential(file, total, data_off, m, bcl, bias_slot,
                                                       next_obs, ctx, n < 64 ? n : 64, err)) != 0) {
        free(file);
        goto fail;
    }
    *out = file;
    *out_len = total;
    rc = 0;
fail:
    free(bcl);
    free(bias_slot);
    free(bc_mem);
    free(hb.p);
    free(ot);
    free(qw);
    free(qs);
    td_infer_close(m);
    return rc;
}
