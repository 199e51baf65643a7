/*
 * load.c - loads a `.tdm` model file (docs/model-format.md) once check.c has checked it, and
 * lays the policy tower out in one arena: model struct, parsed header, tensors, derived int8
 * constants and every activation buffer, so that running allocates nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_internal.h"

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Sizes of the pieces of a model's arena. */
typedef struct plan {
    int n_nodes;
    size_t pool;
    size_t total;
} plan;

static size_t fixed_part(const plan *p)
{
    return TDI_ALIGN64(sizeof(td_infer_model)) +
           TDI_ALIGN64((size_t)p->n_nodes * sizeof(tdi_json)) + TDI_ALIGN64(p->pool);
}

/* Buffers beyond the layers: inputs, concat, outputs, actions, preprocessing stats. */
static size_t extra_part(const td_infer_model *m)
{
    size_t cam = (size_t)m->info.camera_h * m->info.camera_w * m->info.camera_c;
    return TDI_ALIGN64(cam * 4) + 3 * TDI_ALIGN64((size_t)m->info.lidar_dim * 4) +
           3 * TDI_ALIGN64((size_t)m->info.state_dim * 4) + TDI_ALIGN64(m->concat_len * 4) +
           2 * TDI_ALIGN64((size_t)m->info.n_out * 4) +
           TDI_ALIGN64((size_t)m->info.n_actions * sizeof(td_infer_discrete_action)) + 64;
}

int td_infer_arena_size(const void *buf, size_t len, size_t *size, td_infer_err *err)
{
    tdi_frame f;
    plan p;
    tdi_json *nodes;
    char *pool;
    td_infer_model *m;
    tdi_check c;
    int rc;
    if (!size)
        return td__infer_fail(err, TD_INFER_EINVAL, "size is NULL");
    if ((rc = td__infer_check_prologue((const uint8_t *)buf, len, &f, err)) != 0)
        return rc;
    if ((rc = td__infer_parse_header(&f, NULL, 0, NULL, 0, &p.n_nodes, &p.pool, err)) != 0)
        return rc;
    /* The check needs the parsed header; this temporary copy is freed before returning. */
    nodes = (tdi_json *)malloc((size_t)p.n_nodes * sizeof(tdi_json));
    pool = (char *)malloc(p.pool ? p.pool : 1);
    m = (td_infer_model *)calloc(1, sizeof(*m));
    if (!nodes || !pool || !m) {
        free(nodes);
        free(pool);
        free(m);
        return td__infer_fail(err, TD_INFER_ENOMEM, "out of memory parsing the header");
    }
    rc = td__infer_parse_header(&f, nodes, p.n_nodes, pool, p.pool, NULL, NULL, err);
    if (!rc) {
        memset(&c, 0, sizeof(c));
        c.f = &f;
        c.j = nodes;
        c.m = m;
        c.err = err;
        rc = td__infer_check_model(&c, 0);
        if (!rc)
            *size = fixed_part(&p) + c.tensor_bytes + c.scratch + extra_part(m) + 64;
    }
    free(nodes);
    free(pool);
    free(m);
    return rc;
}

/* Hands out aligned pieces of the arena. */
typedef struct bump {
    uint8_t *p, *end;
} bump;

static void *take(bump *b, size_t n)
{
    void *r = b->p;
    b->p += TDI_ALIGN64(n);
    return r;
}

static void copy_tensor(void *dst, const uint8_t *src, const tdi_tensor *t)
{
    memcpy(dst, src, t->nbytes);
    if (!t->is_i8 && !host_is_little_endian()) {
        uint8_t *d = (uint8_t *)dst, x;
        size_t i;
        for (i = 0; i + 4 <= t->nbytes; i += 4) {
            x = d[i];
            d[i] = d[i + 3];
            d[i + 3] = x;
            x = d[i + 1];
            d[i + 1] = d[i + 2];
            d[i + 2] = x;
        }
    }
}

int td_infer_load(td_infer_model **out, const void *buf, size_t len, void *arena, size_t arena_size,
                  td_infer_err *err)
{
    tdi_frame f;
    plan p;
    bump b;
    td_infer_model *m;
    tdi_json *nodes;
    char *pool;
    tdi_check c;
    int rc, i;
    size_t need_bytes;
    if (!out)
        return td__infer_fail(err, TD_INFER_EINVAL, "out is NULL");
    *out = NULL;
    if (!arena)
        return td__infer_fail(err, TD_INFER_EINVAL, "arena is NULL");
    if ((rc = td__infer_check_prologue((const uint8_t *)buf, len, &f, err)) != 0)
        return rc;
    if ((rc = td__infer_parse_header(&f, NULL, 0, NULL, 0, &p.n_nodes, &p.pool, err)) != 0)
        return rc;
    b.p = (uint8_t *)arena + ((64 - ((uintptr_t)arena & 63)) & 63);
    b.end = (uint8_t *)arena + arena_size;
    if (arena_size < fixed_part(&p) + 64)
        return td__infer_fail(err, TD_INFER_EARENA, "arena of %lu bytes is too small",
                              (unsigned long)arena_size);
    m = (td_infer_model *)take(&b, sizeof(*m));
    memset(m, 0, sizeof(*m));
    nodes = (tdi_json *)take(&b, (size_t)p.n_nodes * sizeof(tdi_json));
    pool = (char *)take(&b, p.pool);
    if ((rc = td__infer_parse_header(&f, nodes, p.n_nodes, pool, p.pool, NULL, NULL, err)) != 0)
        return rc;
    memset(&c, 0, sizeof(c));
    c.f = &f;
    c.j = nodes;
    c.m = m;
    c.err = err;
    if ((rc = td__infer_check_model(&c, 0)) != 0)
        return rc;
    m->json = nodes;
    need_bytes = fixed_part(&p) + c.tensor_bytes + c.scratch + extra_part(m) + 64;
    if (arena_size < need_bytes)
        return td__infer_fail(err, TD_INFER_EARENA,
                              "arena of %lu bytes is too small: the model needs %lu",
                              (unsigned long)arena_size, (unsigned long)need_bytes);
    m->info.arena_size = need_bytes;
    /* metadata */
    m->actions = (td_infer_discrete_action *)take(&b, (size_t)m->info.n_actions *
                                                          sizeof(td_infer_discrete_action));
    if ((rc = td__infer_check_action_space(&c, 1)) != 0)
        return rc;
    m->info.actions = m->actions;
    m->cam_scale = 1.0f / 255.0f;
    m->lidar_scale = m->state_scale = 1.0f;
    {
        float *ls = m->info.lidar_dim ? (float *)take(&b, (size_t)m->info.lidar_dim * 8) : NULL;
        float *ss = m->info.state_dim ? (float *)take(&b, (size_t)m->info.state_dim * 8) : NULL;
        int has;
        if ((rc = td__infer_check_preproc(&c, "camera", 0, &m->cam_scale, &m->cam_offset, NULL,
                                          &has)) != 0)
            return rc;
        if ((rc = td__infer_check_preproc(&c, "lidar", m->info.lidar_dim, &m->lidar_scale,
                                          &m->lidar_offset, ls, &has)) != 0)
            return rc;
        if (has) {
            m->lidar_mean = ls;
            m->lidar_std = ls + m->info.lidar_dim;
        }
        if ((rc = td__infer_check_preproc(&c, "state", m->info.state_dim, &m->state_scale,
                                          &m->state_offset, ss, &has)) != 0)
            return rc;
        if (has) {
            m->state_mean = ss;
            m->state_std = ss + m->info.state_dim;
        }
    }
    /* tensors */
    for (i = 0; i < m->n_tensors; i++) {
        tdi_tensor *t = &m->tensors[i];
        void *d = take(&b, t->nbytes);
        copy_tensor(d, f.buf + f.data_off + t->offset, t);
        t->data = d;
    }
    /* buffers */
    m->camera_f =
        (float *)take(&b, (size_t)m->info.camera_h * m->info.camera_w * m->info.camera_c * 4);
    m->lidar_f = (float *)take(&b, (size_t)m->info.lidar_dim * 4);
    m->state_f = (float *)take(&b, (size_t)m->info.state_dim * 4);
    m->concat = (float *)take(&b, m->concat_len * 4);
    m->out = (float *)take(&b, (size_t)m->info.n_out * 4);
    m->probs = (float *)take(&b, (size_t)m->info.n_out * 4);
    for (i = 0; i < m->n_layers; i++) {
        tdi_layer *L = &m->layers[i];
        const tdi_tensor *wt = &m->tensors[L->w_tensor];
        L->bias = (const float *)m->tensors[L->b_tensor].data;
        L->out = (float *)take(&b, L->out_len * 4);
        if (L->int8) {
            size_t per = L->in_len / (size_t)L->in_h / (size_t)L->in_w; /* in_c */
            size_t kk = (size_t)L->k * L->k * per;
            int o;
            size_t q;
            L->wq = (const int8_t *)wt->data;
            L->wscale = (const float *)m->tensors[wt->scale_tensor].data;
            L->qin = (uint8_t *)take(&b, L->in_len);
            if (L->kind == TDI_CONV)
                L->cols = (uint8_t *)take(&b, (size_t)L->out_h * L->out_w * kk);
            L->mult = (float *)take(&b, (size_t)L->oc * 4);
            L->wsum = (int32_t *)take(&b, (size_t)L->oc * 4);
            L->wsum_raw = (int32_t *)take(&b, (size_t)L->oc * 4);
            for (o = 0; o < L->oc; o++) {
                int32_t s = 0;
                for (q = 0; q < kk; q++)
                    s += L->wq[(size_t)o * kk + q];
                L->wsum_raw[o] = s;
                L->wsum[o] = s * L->in_zp;
                L->mult[o] = L->wscale[o] * L->in_scale;
            }
            if (TDI_X86 || TDI_ARM64) {
                size_t oc16 = (size_t)(L->oc + 15) / 16 * 16, oc8 = (size_t)(L->oc + 7) / 8 * 8;
                size_t P = (size_t)L->out_h * L->out_w;
                if (L->kind == TDI_CONV) {
                    int kx = TDI_X86 ? L->k2 : L->k4;
                    L->wp4_16 = (int8_t *)take(&b, oc16 * (size_t)L->k4);
                    if (TDI_X86)
                        L->wp4_8 = (int8_t *)take(&b, oc8 * (size_t)L->k4);
                    L->wp2_8 = (int16_t *)take(&b, oc8 * (size_t)kx * 2);
                    L->work = take(&b, P * (size_t)kx * 2 + 64);
                    td__infer_pack_weights(L);
                } else {
                    L->work = take(&b, (size_t)L->kk * 2 + 64);
                }
            }
        } else {
            L->w = (const float *)wt->data;
            if (L->kind == TDI_CONV) {
                size_t kkc = (size_t)L->k * L->k * L->in_c, q;
                float *t = (float *)take(&b, kkc * (size_t)L->oc * 4);
                int o;
                for (o = 0; o < L->oc; o++)
                    for (q = 0; q < kkc; q++)
                        t[q * (size_t)L->oc + o] = L->w[(size_t)o * kkc + q];
                L->wt = t;
            }
        }
    }
    /* The last layer of each branch writes straight into its place in the concatenation. */
    {
        size_t off = 0;
        int br;
        for (br = TDI_BR_CAMERA; br <= TDI_BR_STATE; br++) {
            size_t blen = br == TDI_BR_CAMERA  ? m->cam_len
                          : br == TDI_BR_LIDAR ? m->lidar_len
                                               : m->state_len;
            if (m->first_layer[br] < 0)
                continue;
            if (m->n_branch_layers[br] > 0)
                m->layers[m->first_layer[br] + m->n_branch_layers[br] - 1].out = m->concat + off;
            off += blen;
        }
    }
    for (i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, "policy.log_std") == 0)
            m->log_std = (const float *)m->tensors[i].data;
    m->isa = m->info.isa = td_infer_isa_best();
    if (b.p > b.end)
        return td__infer_fail(err, TD_INFER_EARENA, "internal: arena plan exceeded");
    *out = m;
    return 0;
}

int td_infer_open_buffer(td_infer_model **out, const void *buf, size_t len, td_infer_err *err)
{
    size_t size;
    void *arena;
    int rc;
    if (!out)
        return td__infer_fail(err, TD_INFER_EINVAL, "out is NULL");
    *out = NULL;
    if ((rc = td_infer_arena_size(buf, len, &size, err)) != 0)
        return rc;
    arena = malloc(size);
    if (!arena)
        return td__infer_fail(err, TD_INFER_ENOMEM, "out of memory (%lu bytes for the model)",
                              (unsigned long)size);
    if ((rc = td_infer_load(out, buf, len, arena, size, err)) != 0) {
        free(arena);
        return rc;
    }
    (*out)->owned = arena;
    return 0;
}

int td_infer_open_file(td_infer_model **out, const char *path, td_infer_err *err)
{
    FILE *fp;
    long n;
    uint8_t *buf;
    int rc;
    if (!out || !path)
        return td__infer_fail(err, TD_INFER_EINVAL, "out or path is NULL");
    *out = NULL;
    fp = fopen(path, "rb");
    if (!fp)
        return td__infer_fail(err, TD_INFER_EIO, "%s: cannot open", path);
    if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return td__infer_fail(err, TD_INFER_EIO, "%s: cannot get its size", path);
    }
    buf = (uint8_t *)malloc(n > 0 ? (size_t)n : 1);
    if (!buf) {
        fclose(fp);
        return td__infer_fail(err, TD_INFER_ENOMEM, "%s: out of memory", path);
    }
    if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        free(buf);
        return td__infer_fail(err, TD_INFER_EIO, "%s: read error", path);
    }
    fclose(fp);
    rc = td_infer_open_buffer(out, buf, (size_t)n, err);
    free(buf);
    if (rc && err) {
        /* Name the file in the message. */
        char tmp[sizeof(err->msg)];
        size_t pl = strlen(path), ml;
        memcpy(tmp, err->msg, sizeof(tmp));
        tmp[sizeof(tmp) - 1] = '\0';
        ml = strlen(tmp);
        if (pl + 2 + ml < sizeof(err->msg)) {
            memcpy(err->msg, path, pl);
            memcpy(err->msg + pl, ": ", 2);
            memcpy(err->msg + pl + 2, tmp, ml + 1);
        }
    }
    return rc;
}

void td_infer_close(td_infer_model *m)
{
    if (m && m->owned)
        free(m->owned);
}

const td_infer_info *td_infer_get_info(const td_infer_model *m)
{
    return m ? &m->info : NULL;
}

int td_infer_get_tensor(const td_infer_model *m, const char *name, const char **dtype, int shape[4],
                        int *ndim, const void **data, size_t *nbytes)
{
    int i, k;
    if (!m || !name)
        return TD_INFER_EINVAL;
    for (i = 0; i < m->n_tensors; i++) {
        const tdi_tensor *t = &m->tensors[i];
        if (strcmp(t->name, name) != 0)
            continue;
        if (dtype)
            *dtype = t->is_i8 ? "i8" : "f32";
        if (shape)
            for (k = 0; k < 4; k++)
                shape[k] = k < t->ndim ? t->shape[k] : 0;
        if (ndim)
            *ndim = t->ndim;
        if (data)
            *data = t->data;
        if (nbytes)
            *nbytes = t->nbytes;
        return 0;
    }
    return TD_INFER_EINVAL;
}
