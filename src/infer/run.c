/*
 * run.c - one observation through the policy tower: preprocessing, branches (camera convs,
 * lidar and state dense stacks) whose last layers write straight into the concatenation,
 * the trunk, the head, then the action (argmax, or the mean mapped to the action space).
 * Int8 layers quantize their input once (the first camera conv takes the uint8 pixels as
 * they are when its input scale is the preprocessing scale) and dequantize in the epilogue.
 */
#include <math.h>
#include <string.h>

#include "infer_internal.h"

/* Calibration: the range (and, in the second pass, the histogram) of a layer's input. */
static void observe(td_infer_model *m, int li, const float *x, size_t n)
{
    tdi_layer *L = &m->layers[li];
    size_t i;
    if (m->cal_pass == 0) {
        /* Only finite values count: an overflowing or NaN activation has no range. */
        float lo = L->cal_min, hi = L->cal_max;
        for (i = 0; i < n; i++) {
            if (!isfinite(x[i]))
                continue;
            if (x[i] < lo)
                lo = x[i];
            if (x[i] > hi)
                hi = x[i];
        }
        L->cal_min = lo;
        L->cal_max = hi;
    } else if (m->cal_hist) {
        /* Histogram of x over [cal_min, cal_max] in TDI_HIST bins. */
        float *h = m->cal_hist + (size_t)li * TDI_HIST;
        float lo = L->cal_min, span = L->cal_max - L->cal_min;
        float k = span > 0 ? (float)TDI_HIST / span : 0.0f;
        for (i = 0; i < n; i++) {
            /* Clamped as a float, so NaN and infinities land in an end bin, never in an
             * out-of-range conversion. */
            float f = (x[i] - lo) * k;
            int b = !(f >= 0.0f) ? 0 : f >= (float)TDI_HIST ? TDI_HIST - 1 : (int)f;
            h[b] += 1.0f;
        }
    }
}

/* Whether layer L takes the camera pixels directly as its quantized input. */
static int pixels_are_qin(const td_infer_model *m, const tdi_layer *L)
{
    return L->int8 && L->in_zp == 0 && m->cam_offset == 0.0f &&
           fabsf(L->in_scale - m->cam_scale) <= 1e-6f * m->cam_scale;
}

static void run_layer(td_infer_model *m, int li, const float *in, const uint8_t *pixels)
{
    tdi_layer *L = &m->layers[li];
    const uint8_t *q = L->qin;
    if (m->calibrating && in) {
        if (m->cal_pass < 2)
            observe(m, li, in, L->in_len);
        else if (m->cal_hook)
            m->cal_hook(m->cal_ctx, m, li, in);
    }
    if (L->int8) {
        if (pixels && pixels_are_qin(m, L))
            q = pixels;
        else
            td__infer_quantize_u8(m->isa, L->qin, in, L->in_len, L->in_scale, L->in_zp);
        if (m->reference) {
            if (L->kind == TDI_CONV)
                td__infer_conv_i8_ref(L->out, q, L->wq, L->in_zp, L->mult, L->bias, L->in_h,
                                      L->in_w, L->in_c, L->oc, L->k, L->s, L->relu);
            else
                td__infer_dense_i8_ref(L->out, q, L->wq, L->in_zp, L->mult, L->bias, L->in_c, L->oc,
                                       L->relu);
        } else if (L->kind == TDI_CONV) {
            td__infer_conv_i8_isa(m->isa, L, L->out, q);
        } else {
            td__infer_dense_i8_isa(m->isa, L, L->out, q);
        }
        return;
    }
    if (L->kind == TDI_CONV) {
        if (m->reference)
            td__infer_conv_ref(L->out, in, L->w, L->bias, L->in_h, L->in_w, L->in_c, L->oc, L->k,
                               L->s, L->relu);
        else
            td__infer_conv_f32(m->isa, L->out, in, L->wt, L->bias, L->in_h, L->in_w, L->in_c, L->oc,
                               L->k, L->s, L->relu);
    } else {
        if (m->reference)
            td__infer_dense_ref(L->out, in, L->w, L->bias, L->in_c, L->oc, L->relu);
        else
            td__infer_dense_f32(m->isa, L->out, in, L->w, L->bias, L->in_c, L->oc, L->relu);
    }
}

/* Runs the layers of one branch from input `in`; the last one writes into the concat. */
static void run_stack(td_infer_model *m, int br, const float *in, const uint8_t *pixels)
{
    int i, first = m->first_layer[br], n = m->n_branch_layers[br];
    for (i = 0; i < n; i++) {
        run_layer(m, first + i, in, i == 0 ? pixels : NULL);
        in = m->layers[first + i].out;
    }
}

static void preprocess(float *dst, const float *src, int n, float scale, float offset,
                       const float *mean, const float *stdv)
{
    int i;
    for (i = 0; i < n; i++) {
        float v = src[i] * scale + offset;
        dst[i] = mean ? (v - mean[i]) / stdv[i] : v;
    }
}

int td__infer_forward(td_infer_model *m, const td_infer_obs *obs)
{
    size_t off = 0;
    if (m->first_layer[TDI_BR_CAMERA] >= 0) {
        size_t n = (size_t)m->info.camera_h * m->info.camera_w * m->info.camera_c, i;
        int nl = m->n_branch_layers[TDI_BR_CAMERA];
        const tdi_layer *L0 = nl ? &m->layers[m->first_layer[TDI_BR_CAMERA]] : NULL;
        float *dst = nl ? m->camera_f : m->concat;
        if (!obs->camera)
            return TD_INFER_EINVAL;
        /* Floats are needed unless the first layer eats the pixels directly. */
        if (!L0 || m->reference || m->calibrating || !pixels_are_qin(m, L0))
            for (i = 0; i < n; i++)
                dst[i] = (float)obs->camera[i] * m->cam_scale + m->cam_offset;
        if (nl)
            run_stack(m, TDI_BR_CAMERA, m->camera_f, obs->camera);
        off += m->cam_len;
    }
    if (m->first_layer[TDI_BR_LIDAR] >= 0) {
        int nl = m->n_branch_layers[TDI_BR_LIDAR];
        if (!obs->lidar)
            return TD_INFER_EINVAL;
        preprocess(nl ? m->lidar_f : m->concat + off, obs->lidar, m->info.lidar_dim, m->lidar_scale,
                   m->lidar_offset, m->lidar_mean, m->lidar_std);
        if (nl)
            run_stack(m, TDI_BR_LIDAR, m->lidar_f, NULL);
        off += m->lidar_len;
    }
    if (m->first_layer[TDI_BR_STATE] >= 0) {
        int nl = m->n_branch_layers[TDI_BR_STATE];
        if (!obs->state)
            return TD_INFER_EINVAL;
        preprocess(nl ? m->state_f : m->concat + off, obs->state, m->info.state_dim, m->state_scale,
                   m->state_offset, m->state_mean, m->state_std);
        if (nl)
            run_stack(m, TDI_BR_STATE, m->state_f, NULL);
        off += m->state_len;
    }
    {
        const float *in = m->concat;
        int i, first = m->first_layer[TDI_BR_TRUNK], n = m->n_branch_layers[TDI_BR_TRUNK];
        for (i = 0; i < n; i++) {
            run_layer(m, first + i, in, NULL);
            in = m->layers[first + i].out;
        }
        run_layer(m, m->first_layer[TDI_BR_HEAD], in, NULL);
        memcpy(m->out, m->layers[m->first_layer[TDI_BR_HEAD]].out,
               (size_t)m->info.n_out * sizeof(float));
    }
    return 0;
}

/* v clamped to [lo, hi]; NaN (a network whose output overflowed) gives nan_value. */
static float clampf(float v, float lo, float hi, float nan_value)
{
    return v != v ? nan_value : v < lo ? lo : v > hi ? hi : v;
}

int td_infer_run(td_infer_model *m, const td_infer_obs *obs, td_infer_action *act)
{
    const td_infer_info *in;
    int rc, i;
    if (!m || !obs)
        return TD_INFER_EINVAL;
    in = &m->info;
    if ((rc = td__infer_forward(m, obs)) != 0)
        return rc;
    if (in->head == TD_INFER_HEAD_CATEGORICAL) {
        int best = 0;
        float mx = m->out[0], sum = 0.0f;
        for (i = 1; i < in->n_out; i++)
            if (m->out[i] > mx) {
                mx = m->out[i];
                best = i;
            }
        for (i = 0; i < in->n_out; i++) {
            m->probs[i] = expf(m->out[i] - mx);
            sum += m->probs[i];
        }
        for (i = 0; i < in->n_out; i++)
            m->probs[i] /= sum;
        if (act) {
            act->index = best;
            act->steering_angle = in->actions[best].steering_angle;
            act->speed = in->actions[best].speed;
        }
    } else if (act) {
        float s = m->out[0], v = m->out[1];
        if (in->squash_tanh) {
            s = tanhf(s);
            v = tanhf(v);
        }
        /* A NaN mean steers to the middle of the range at the lowest speed: a car must never
         * get NaN commands. */
        float mid = 0.5f * (in->steering_low + in->steering_high);
        if (in->mapping_unit) {
            s = clampf(s, -1.0f, 1.0f, 0.0f);
            v = clampf(v, -1.0f, 1.0f, -1.0f);
            s = in->steering_low + (s + 1.0f) * 0.5f * (in->steering_high - in->steering_low);
            v = in->speed_low + (v + 1.0f) * 0.5f * (in->speed_high - in->speed_low);
        }
        act->index = -1;
        act->steering_angle = clampf(s, in->steering_low, in->steering_high, mid);
        act->speed = clampf(v, in->speed_low, in->speed_high, in->speed_low);
    }
    return 0;
}

const float *td_infer_output(const td_infer_model *m)
{
    return m ? m->out : NULL;
}

const float *td_infer_probs(const td_infer_model *m)
{
    return m && m->info.head == TD_INFER_HEAD_CATEGORICAL ? m->probs : NULL;
}

void td_infer_set_reference(td_infer_model *m, int reference)
{
    if (m)
        m->reference = reference != 0;
}
