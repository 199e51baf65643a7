/*
 * check.c - the checks of a `.tdm` model file (docs/model-format.md, section 6): the frame
 * (prologue, header bounds, length, checksum), the header's semantics, the tensor table, every
 * tower's topology, the action space and the preprocessing. Each fails with its own code and
 * a message naming what is wrong; while checking, the model's layers, tensors and info are
 * filled in and the bytes its arena needs are counted (load.c lays the arena out).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer_internal.h"

/* ---- the file's frame: prologue, header bounds, length, checksum ----------------------- */

int td__infer_check_prologue(const uint8_t *buf, size_t len, tdi_frame *f, td_infer_err *err)
{
    int rc = td_infer_frame_check(buf, len, &f->json, &f->json_len, &f->data_off, err);
    if (rc)
        return rc;
    f->buf = buf;
    f->len = len;
    return 0;
}

static int check_crc(const tdi_frame *f, td_infer_err *err)
{
    return td_infer_frame_check_crc(f->buf, f->len, err);
}

/* Parses the header into nodes (counting first when nodes is NULL). */
int td__infer_parse_header(const tdi_frame *f, tdi_json *nodes, int cap, char *pool,
                           size_t pool_cap, int *n_nodes, size_t *pool_used, td_infer_err *err)
{
    char msg[160];
    int rc = td__infer_json_parse(f->json, f->json_len, nodes, cap, pool, pool_cap, n_nodes,
                                  pool_used, msg, sizeof(msg));
    if (rc) {
        /* A corrupted file explains a broken header better than the JSON error does. */
        if (check_crc(f, NULL) != 0)
            return check_crc(f, err);
        return td__infer_fail(err, TD_INFER_EJSON, "header JSON invalid %s", msg);
    }
    return 0;
}

/* ---- header semantics ----------------------------------------------------------------- */

static const char *type_name(int t)
{
    static const char *names[] = {"null", "false", "true", "number", "string", "array", "object"};
    return t >= 0 && t <= TDI_OBJ ? names[t] : "?";
}

static int need(tdi_check *c, int obj, const char *key, int type, const char *where, int *out)
{
    int i = td__infer_json_get(c->j, obj, key);
    *out = -1;
    if (i < 0)
        return td__infer_fail(c->err, TD_INFER_EHEADER, "header: %s has no key \"%s\"", where, key);
    if (type >= 0 && c->j[i].type != type)
        return td__infer_fail(c->err, TD_INFER_EHEADER, "header: %s key \"%s\" is a %s, not a %s",
                              where, key, type_name(c->j[i].type), type_name(type));
    *out = i;
    return 0;
}

/* The largest action value (degrees, m/s) a model may give: far beyond any car, and small
 * enough that sums and midpoints of action values stay finite floats. */
#define MAX_ACTION_VALUE 1e6

/* Reads an action-space number (see MAX_ACTION_VALUE). */
static int get_number(tdi_check *c, int obj, const char *key, const char *where, double *v)
{
    int i = -1, rc = need(c, obj, key, TDI_NUM, where, &i);
    if (rc)
        return rc;
    *v = c->j[i].num;
    if (!(fabs(*v) <= MAX_ACTION_VALUE))
        return td__infer_fail(c->err, TD_INFER_EHEADER, "header: %s: \"%s\" %g is out of range",
                              where, key, *v);
    return 0;
}

/* Reads an array of n_max positive integers; *n receives the count. */
static int int_array(tdi_check *c, int arr, int n_max, long long *v, int *n, const char *what)
{
    int i, k = 0;
    if (arr < 0 || c->j[arr].type != TDI_ARR)
        return td__infer_fail(c->err, TD_INFER_EHEADER, "header: %s is not an array", what);
    if (c->j[arr].n > n_max)
        return td__infer_fail(c->err, TD_INFER_EHEADER, "header: %s has %d entries (at most %d)",
                              what, c->j[arr].n, n_max);
    for (i = c->j[arr].first; i >= 0; i = c->j[i].next, k++)
        if (!td__infer_json_int(c->j, i, 1, (1L << 30), &v[k]))
            return td__infer_fail(c->err, TD_INFER_EHEADER,
                                  "header: %s entry %d is not a positive integer", what, k);
    *n = k;
    return 0;
}

/* ---- the tensor table ----------------------------------------------------------------- */

static int check_tensors(tdi_check *c, int tensors, int *n_out)
{
    const tdi_json *j = c->j;
    int t, u, k = 0;
    if (tensors < 0 || j[tensors].type != TDI_ARR)
        return td__infer_fail(c->err, TD_INFER_EHEADER, "header: \"tensors\" is not an array");
    for (t = j[tensors].first; t >= 0; t = j[t].next, k++) {
        int name, dtype, shape, off, nb, dim, ndim = 0;
        long long offset, nbytes, count = 1, d;
        size_t esize;
        char where[96];
        if (j[t].type != TDI_OBJ)
            return td__infer_fail(c->err, TD_INFER_ETENSOR, "tensor %d is not an object", k);
        name = td__infer_json_get(j, t, "name");
        if (name < 0 || j[name].type != TDI_STR || j[name].len == 0 || j[name].len >= TDI_NAME_LEN)
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "tensor %d: \"name\" missing, not a string, or longer than %d", k,
                                  TDI_NAME_LEN - 1);
        snprintf(where, sizeof(where), "tensor %s", j[name].str);
        dtype = td__infer_json_get(j, t, "dtype");
        if (dtype < 0 || j[dtype].type != TDI_STR ||
            (strcmp(j[dtype].str, "f32") != 0 && strcmp(j[dtype].str, "i8") != 0))
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "%s: \"dtype\" must be \"f32\" or \"i8\"", where);
        esize = j[dtype].str[0] == 'f' ? 4 : 1;
        shape = td__infer_json_get(j, t, "shape");
        if (shape < 0 || j[shape].type != TDI_ARR || j[shape].n < 1 || j[shape].n > 4)
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "%s: \"shape\" must be an array of 1 to 4 sizes", where);
        for (dim = j[shape].first; dim >= 0; dim = j[dim].next, ndim++) {
            if (!td__infer_json_int(j, dim, 1, (1L << 30), &d))
                return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                      "%s: shape entry %d is not a positive integer", where, ndim);
            count *= d;
            if (count > ((long long)1 << 40))
                return td__infer_fail(c->err, TD_INFER_ETENSOR, "%s: too many elements", where);
        }
        off = td__infer_json_get(j, t, "offset");
        nb = td__infer_json_get(j, t, "nbytes");
        if (!td__infer_json_int(j, off, 0, (long long)1 << 50, &offset) || offset % 64 != 0)
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "%s: \"offset\" must be a non-negative multiple of 64", where);
        if (!td__infer_json_int(j, nb, 0, (long long)1 << 50, &nbytes) ||
            nbytes != count * (long long)esize)
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "%s: \"nbytes\" must be %lld (its shape times %d bytes)", where,
                                  count * (long long)esize, (int)esize);
        if ((unsigned long long)(offset + nbytes) > (unsigned long long)c->data_size)
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "%s: offset %lld + %lld bytes is out of bounds (data section "
                                  "has %lu bytes)",
                                  where, offset, nbytes, (unsigned long)c->data_size);
        /* Names unique, no overlap with the tensors before it. */
        for (u = j[tensors].first; u != t; u = j[u].next) {
            int un = td__infer_json_get(j, u, "name");
            long long uo, ub;
            td__infer_json_int(j, td__infer_json_get(j, u, "offset"), 0, (long long)1 << 50, &uo);
            td__infer_json_int(j, td__infer_json_get(j, u, "nbytes"), 0, (long long)1 << 50, &ub);
            if (strcmp(j[un].str, j[name].str) == 0)
                return td__infer_fail(c->err, TD_INFER_ETENSOR, "%s appears twice", where);
            if (nbytes > 0 && ub > 0 && offset < uo + ub && uo < offset + nbytes)
                return td__infer_fail(c->err, TD_INFER_ETENSOR, "%s overlaps tensor %s", where,
                                      j[un].str);
        }
    }
    /* int8 entries: scale tensor and activation parameters (needs all names, second pass). */
    for (t = j[tensors].first; t >= 0; t = j[t].next) {
        int name = td__infer_json_get(j, t, "name"), dtype = td__infer_json_get(j, t, "dtype");
        int sc, is, zp, found = -1;
        long long z, first_dim;
        if (strcmp(j[dtype].str, "i8") != 0)
            continue;
        sc = td__infer_json_get(j, t, "scale");
        is = td__infer_json_get(j, t, "input_scale");
        zp = td__infer_json_get(j, t, "input_zero_point");
        if (sc < 0 || j[sc].type != TDI_STR)
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "tensor %s: an i8 tensor needs \"scale\" naming its f32 scale "
                                  "tensor",
                                  j[name].str);
        for (u = j[tensors].first; u >= 0; u = j[u].next)
            if (strcmp(j[td__infer_json_get(j, u, "name")].str, j[sc].str) == 0)
                found = u;
        td__infer_json_int(j, j[td__infer_json_get(j, t, "shape")].first, 1, (1L << 30),
                           &first_dim);
        if (found < 0)
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "tensor %s: scale tensor %s is not in the table", j[name].str,
                                  j[sc].str);
        {
            int fs = td__infer_json_get(j, found, "shape");
            int fd = td__infer_json_get(j, found, "dtype");
            long long n0;
            if (strcmp(j[fd].str, "f32") != 0 || j[fs].n != 1 ||
                !td__infer_json_int(j, j[fs].first, 1, (1L << 30), &n0) || n0 != first_dim)
                return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                      "tensor %s: scale tensor %s must be f32 of shape [%lld]",
                                      j[name].str, j[sc].str, first_dim);
        }
        if (is < 0 || j[is].type != TDI_NUM || !(j[is].num > 0) || !(j[is].num < 1e30))
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "tensor %s: \"input_scale\" must be a positive number",
                                  j[name].str);
        if (!td__infer_json_int(j, zp, 0, 255, &z))
            return td__infer_fail(c->err, TD_INFER_ETENSOR,
                                  "tensor %s: \"input_zero_point\" must be an integer in [0, 255]",
                                  j[name].str);
    }
    *n_out = k;
    return 0;
}

/* Finds tensor `name` in the table; returns its node or -1. */
static int find_tensor(tdi_check *c, const char *name)
{
    int tensors = td__infer_json_get(c->j, 0, "tensors"), t;
    for (t = c->j[tensors].first; t >= 0; t = c->j[t].next)
        if (strcmp(c->j[td__infer_json_get(c->j, t, "name")].str, name) == 0)
            return t;
    return -1;
}

static void shape_text(char *buf, size_t n, const long long *s, int nd)
{
    size_t k = 0;
    int i;
    buf[0] = '\0';
    for (i = 0; i < nd && k < n; i++) {
        int w = snprintf(buf + k, n - k, "%s%lld", i ? "," : "[", s[i]);
        if (w < 0)
            return;
        k += (size_t)w;
    }
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

/*
 * Checks that tensor `name` exists with exactly the expected shape; for the policy tower
 * (m != NULL) records it in the model's tensor list and returns its index in *idx.
 */
static int expect_tensor(tdi_check *c, const char *name, const long long *shape, int nd, int weight,
                         int record, int *idx)
{
    const tdi_json *j = c->j;
    int t = find_tensor(c, name), sh, dim, k = 0, is_i8;
    long long got[4] = {0, 0, 0, 0};
    char a[64], b[64];
    if (t < 0)
        return td__infer_fail(c->err, TD_INFER_ETOPOLOGY,
                              "the topology needs tensor %s, which the file does not have", name);
    sh = td__infer_json_get(j, t, "shape");
    for (dim = j[sh].first; dim >= 0; dim = j[dim].next, k++)
        td__infer_json_int(j, dim, 1, (1L << 30), &got[k]);
    if (k != nd || memcmp(got, shape, sizeof(long long) * (size_t)nd) != 0) {
        shape_text(a, sizeof(a), got, k);
        shape_text(b, sizeof(b), shape, nd);
        return td__infer_fail(c->err, TD_INFER_ETOPOLOGY,
                              "tensor %s has shape %s, the topology needs %s", name, a, b);
    }
    is_i8 = strcmp(j[td__infer_json_get(j, t, "dtype")].str, "i8") == 0;
    if (is_i8 && !weight)
        return td__infer_fail(c->err, TD_INFER_ETOPOLOGY, "tensor %s must be f32", name);
    if (record) {
        td_infer_model *m = c->m;
        tdi_tensor *tt;
        long long v;
        int s;
        if (m->n_tensors + 2 > TDI_MAX_TENSORS)
            return td__infer_fail(c->err, TD_INFER_EUNSUPPORTED, "too many tensors");
        tt = &m->tensors[m->n_tensors];
        memset(tt, 0, sizeof(*tt));
        memcpy(tt->name, name, strlen(name) + 1);
        tt->is_i8 = is_i8;
        tt->ndim = nd;
        for (s = 0; s < nd; s++)
            tt->shape[s] = (int)shape[s];
        td__infer_json_int(j, td__infer_json_get(j, t, "offset"), 0, (long long)1 << 50, &v);
        tt->offset = (size_t)v;
        td__infer_json_int(j, td__infer_json_get(j, t, "nbytes"), 0, (long long)1 << 50, &v);
        tt->nbytes = (size_t)v;
        tt->scale_tensor = -1;
        c->tensor_bytes += TDI_ALIGN64(tt->nbytes);
        *idx = m->n_tensors++;
        if (is_i8) {
            const char *sname = j[td__infer_json_get(j, t, "scale")].str;
            int st = find_tensor(c, sname);
            tdi_tensor *ts = &m->tensors[m->n_tensors];
            memset(ts, 0, sizeof(*ts));
            memcpy(ts->name, sname, strlen(sname) + 1);
            ts->ndim = 1;
            ts->shape[0] = (int)shape[0];
            td__infer_json_int(j, td__infer_json_get(j, st, "offset"), 0, (long long)1 << 50, &v);
            ts->offset = (size_t)v;
            ts->nbytes = (size_t)shape[0] * 4;
            ts->scale_tensor = -1;
            c->tensor_bytes += TDI_ALIGN64(ts->nbytes);
            tt->scale_tensor = m->n_tensors++;
            tt->input_scale = j[td__infer_json_get(j, t, "input_scale")].num;
            td__infer_json_int(j, td__infer_json_get(j, t, "input_zero_point"), 0, 255, &v);
            tt->input_zero_point = (int)v;
        }
    }
    return 0;
}

/* ---- topology ------------------------------------------------------------------------- */

/*
 * Bytes of an int8 layer's buffers for the SIMD kernels compiled into this build (kernels_x86.c,
 * kernels_arm.c): packed conv weights and the im2col rows or widened dense input. Sets the
 * padded lengths kk, k4, k2. The same for every CPU of an architecture, so an arena size
 * computed on one machine fits another.
 */
static size_t simd_bytes(tdi_layer *L)
{
    size_t oc16 = (size_t)(L->oc + 15) / 16 * 16, oc8 = (size_t)(L->oc + 7) / 8 * 8, bytes = 0;
    size_t P = (size_t)L->out_h * L->out_w;
    L->kk = L->kind == TDI_CONV ? L->k * L->k * L->in_c : L->in_c;
    L->k4 = (L->kk + 3) / 4 * 4;
    L->k2 = (L->kk + 1) / 2 * 2;
    if (!TDI_X86 && !TDI_ARM64)
        return 0;
    if (L->kind != TDI_CONV)
        return TDI_ALIGN64((size_t)L->kk * 2 + 64); /* widened (16-bit) or shifted (s8) input */
    bytes += TDI_ALIGN64(oc16 * (size_t)L->k4);     /* wp4_16 */
    if (TDI_X86)
        bytes += TDI_ALIGN64(oc8 * (size_t)L->k4);                        /* wp4_8 */
    bytes += TDI_ALIGN64(oc8 * (size_t)(TDI_X86 ? L->k2 : L->k4) * 2);    /* wp2_8 */
    bytes += TDI_ALIGN64(P * (size_t)(TDI_X86 ? L->k2 : L->k4) * 2 + 64); /* im2col rows */
    return bytes;
}

static int add_layer(tdi_check *c, int record, int kind, int branch, int relu, int in_h, int in_w,
                     int in_c, int oc, int k, int s, const char *wname, const char *bname)
{
    long long wshape[4], bshape[1];
    int widx = -1, bidx = -1, rc;
    if (kind == TDI_CONV) {
        wshape[0] = oc;
        wshape[1] = k;
        wshape[2] = k;
        wshape[3] = in_c;
    } else {
        wshape[0] = oc;
        wshape[1] = in_c;
    }
    bshape[0] = oc;
    if ((rc = expect_tensor(c, wname, wshape, kind == TDI_CONV ? 4 : 2, 1, record, &widx)) != 0)
        return rc;
    if ((rc = expect_tensor(c, bname, bshape, 1, 0, record, &bidx)) != 0)
        return rc;
    if (kind == TDI_CONV &&
        (double)((in_h - k) / s + 1) * (double)((in_w - k) / s + 1) * (double)oc >
            (double)(1L << 28))
        return td__infer_fail(c->err, TD_INFER_EUNSUPPORTED,
                              "tensor %s: the layer's output is larger than this runtime supports",
                              wname);
    if (record) {
        td_infer_model *m = c->m;
        tdi_layer *L;
        if (m->n_layers >= TDI_MAX_LAYERS)
            return td__infer_fail(c->err, TD_INFER_EUNSUPPORTED, "more than %d layers",
                                  TDI_MAX_LAYERS);
        L = &m->layers[m->n_layers++];
        memset(L, 0, sizeof(*L));
        L->kind = kind;
        L->branch = branch;
        L->relu = relu;
        L->in_h = in_h;
        L->in_w = in_w;
        L->in_c = in_c;
        L->oc = oc;
        L->k = k;
        L->s = s;
        if (kind == TDI_CONV) {
            L->out_h = (in_h - k) / s + 1;
            L->out_w = (in_w - k) / s + 1;
        } else {
            L->out_h = L->out_w = 1;
        }
        L->w_tensor = widx;
        L->b_tensor = bidx;
        L->int8 = m->tensors[widx].is_i8;
        L->in_len = (size_t)in_h * in_w * in_c;
        L->out_len = (size_t)L->out_h * L->out_w * oc;
        if (L->int8) {
            L->in_scale = (float)m->tensors[widx].input_scale;
            L->in_zp = m->tensors[widx].input_zero_point;
            c->scratch += TDI_ALIGN64(L->in_len) + 3 * TDI_ALIGN64((size_t)oc * 4);
            if (kind == TDI_CONV)
                c->scratch += TDI_ALIGN64((size_t)L->out_h * L->out_w * k * k * in_c);
            c->scratch += simd_bytes(L);
        } else if (kind == TDI_CONV) {
            c->scratch += TDI_ALIGN64((size_t)oc * k * k * in_c * 4); /* transposed weights */
        }
        c->scratch += TDI_ALIGN64(L->out_len * 4);
        m->info.n_layers++;
        m->info.n_int8_layers += L->int8;
        m->info.n_params += (long long)oc * (k * k * in_c + 1);
        m->info.flops += 2.0 * (double)L->out_h * L->out_w * oc * k * k * in_c;
    }
    return 0;
}

/* Dense stack under key `key` of tower `tw`: widths; updates *dim. */
static int dense_stack(tdi_check *c, int tw, const char *tname, const char *key, int branch,
                       int record, int relu_last, int *dim)
{
    long long widths[64];
    int n = 0, i, rc, arr = td__infer_json_get(c->j, tw, key);
    char what[80], wn[TDI_NAME_LEN + 16], bn[TDI_NAME_LEN + 16];
    if (arr < 0)
        return 0;
    snprintf(what, sizeof(what), "tower %s key \"%s\"", tname, key);
    if ((rc = int_array(c, arr, 64, widths, &n, what)) != 0)
        return rc;
    for (i = 0; i < n; i++) {
        snprintf(wn, sizeof(wn), "%s.%s.%d.weight", tname, key, i);
        snprintf(bn, sizeof(bn), "%s.%s.%d.bias", tname, key, i);
        rc = add_layer(c, record, TDI_DENSE, branch, i < n - 1 || relu_last, 1, 1, *dim,
                       (int)widths[i], 1, 1, wn, bn);
        if (rc)
            return rc;
        *dim = (int)widths[i];
    }
    return 0;
}

static int input_dims(tdi_check *c, const char *key, long long *v, int *n, int n_max)
{
    int inputs = td__infer_json_get(c->j, 0, "inputs"), arr;
    char what[64];
    *n = 0;
    if (inputs < 0)
        return 0;
    arr = td__infer_json_get(c->j, inputs, key);
    if (arr < 0)
        return 0;
    snprintf(what, sizeof(what), "inputs key \"%s\"", key);
    return int_array(c, arr, n_max, v, n, what);
}

/*
 * Walks one tower, checking every tensor shape against its topology; for the policy tower
 * (record) it also builds the layers and fills the model's input, head and size info.
 */
static int walk_tower(tdi_check *c, int tw, const char *tname, int record)
{
    const tdi_json *j = c->j;
    td_infer_model *m = c->m;
    long long cam[3], lid[1], st[1], act[1];
    int ncam, nlid, nst, nact, rc, concat = 0, dim, head, htype_node, n_node, i;
    long long n_out;
    char wn[TDI_NAME_LEN + 16], bn[TDI_NAME_LEN + 16];
    const char *htype;
    if (j[tw].type != TDI_OBJ)
        return td__infer_fail(c->err, TD_INFER_EHEADER, "header: tower %s is not an object", tname);
    if ((rc = input_dims(c, "camera", cam, &ncam, 3)) != 0 ||
        (rc = input_dims(c, "lidar", lid, &nlid, 1)) != 0 ||
        (rc = input_dims(c, "state", st, &nst, 1)) != 0 ||
        (rc = input_dims(c, "action", act, &nact, 1)) != 0)
        return rc;
    if (ncam != 0 && ncam != 3)
        return td__infer_fail(c->err, TD_INFER_EHEADER,
                              "header: inputs \"camera\" must be [H, W, C]");
    /* Bounds that keep every size computation far from overflow, even with 32-bit size_t. */
    if (ncam &&
        (cam[0] > 8192 || cam[1] > 8192 || cam[2] > 64 || cam[0] * cam[1] * cam[2] > (1L << 26)))
        return td__infer_fail(c->err, TD_INFER_EUNSUPPORTED,
                              "inputs camera [%lld, %lld, %lld] is larger than this runtime "
                              "supports (8192 x 8192 x 64, 2^26 values)",
                              cam[0], cam[1], cam[2]);
    if ((nlid && lid[0] > (1L << 24)) || (nst && st[0] > (1L << 24)) || (nact && act[0] > 64))
        return td__infer_fail(c->err, TD_INFER_EUNSUPPORTED,
                              "inputs lidar, state or action larger than this runtime supports");
    {
        static const char *const keys[3] = {"camera", "lidar", "state"};
        int present[3];
        present[0] = ncam;
        present[1] = nlid;
        present[2] = nst;
        for (i = 0; i < 3; i++)
            if (td__infer_json_get(j, tw, keys[i]) >= 0 && !present[i])
                return td__infer_fail(c->err, TD_INFER_ETOPOLOGY,
                                      "tower %s has a \"%s\" branch but inputs has no \"%s\"",
                                      tname, keys[i], keys[i]);
    }
    if (record) {
        for (i = 0; i < 5; i++)
            m->first_layer[i] = -1;
    }
    /* camera: conv stack, then flatten */
    if (ncam) {
        int h = (int)cam[0], w = (int)cam[1], ch = (int)cam[2];
        int arr = td__infer_json_get(j, tw, "camera"), l, k = 0;
        if (record) {
            m->info.camera_h = h;
            m->info.camera_w = w;
            m->info.camera_c = ch;
            m->first_layer[TDI_BR_CAMERA] = m->n_layers;
        }
        if (arr >= 0) {
            if (j[arr].type != TDI_ARR)
                return td__infer_fail(c->err, TD_INFER_EHEADER,
                                      "header: tower %s \"camera\" is not an array", tname);
            for (l = j[arr].first; l >= 0; l = j[l].next, k++) {
                long long spec[3];
                int ns;
                char what[80];
                snprintf(what, sizeof(what), "tower %s camera layer %d", tname, k);
                if ((rc = int_array(c, l, 3, spec, &ns, what)) != 0)
                    return rc;
                if (ns != 3)
                    return td__infer_fail(c->err, TD_INFER_EHEADER,
                                          "header: %s must be [filters, kernel, stride]", what);
                if (spec[1] > h || spec[1] > w)
                    return td__infer_fail(c->err, TD_INFER_ETOPOLOGY,
                                          "%s: kernel %lld is larger than its %dx%d input", what,
                                          spec[1], h, w);
                snprintf(wn, sizeof(wn), "%s.camera.%d.weight", tname, k);
                snprintf(bn, sizeof(bn), "%s.camera.%d.bias", tname, k);
                rc = add_layer(c, record, TDI_CONV, TDI_BR_CAMERA, 1, h, w, ch, (int)spec[0],
                               (int)spec[1], (int)spec[2], wn, bn);
                if (rc)
                    return rc;
                h = (int)((h - spec[1]) / spec[2] + 1);
                w = (int)((w - spec[1]) / spec[2] + 1);
                ch = (int)spec[0];
            }
        }
        if (record) {
            m->n_branch_layers[TDI_BR_CAMERA] = k;
            m->cam_len = (size_t)h * w * ch;
        }
        concat += h * w * ch;
    }
    if (nlid) {
        dim = (int)lid[0];
        if (record) {
            m->info.lidar_dim = dim;
            m->first_layer[TDI_BR_LIDAR] = m->n_layers;
        }
        if ((rc = dense_stack(c, tw, tname, "lidar", TDI_BR_LIDAR, record, 1, &dim)) != 0)
            return rc;
        if (record) {
            m->n_branch_layers[TDI_BR_LIDAR] = m->n_layers - m->first_layer[TDI_BR_LIDAR];
            m->lidar_len = (size_t)dim;
        }
        concat += dim;
    }
    if (nst) {
        dim = (int)st[0];
        if (record) {
            m->info.state_dim = dim;
            m->first_layer[TDI_BR_STATE] = m->n_layers;
        }
        if ((rc = dense_stack(c, tw, tname, "state", TDI_BR_STATE, record, 1, &dim)) != 0)
            return rc;
        if (record) {
            m->n_branch_layers[TDI_BR_STATE] = m->n_layers - m->first_layer[TDI_BR_STATE];
            m->state_len = (size_t)dim;
        }
        concat += dim;
    }
    if (concat == 0)
        return td__infer_fail(c->err, TD_INFER_ETOPOLOGY, "tower %s has no input", tname);
    /* head type decides whether the action joins the concatenation */
    if ((rc = need(c, tw, "head", TDI_OBJ, tname, &head)) != 0)
        return rc;
    if ((rc = need(c, head, "type", TDI_STR, "head", &htype_node)) != 0)
        return rc;
    htype = j[htype_node].str;
    if ((rc = need(c, head, "n", TDI_NUM, "head", &n_node)) != 0)
        return rc;
    if (!td__infer_json_int(j, n_node, 1, 4096, &n_out))
        return td__infer_fail(c->err, TD_INFER_EHEADER,
                              "header: tower %s head \"n\" must be an integer in [1, 4096]", tname);
    if (strcmp(htype, "q") == 0)
        concat += nact ? (int)act[0] : 2;
    if (record)
        m->concat_len = (size_t)concat;
    dim = concat;
    if (record)
        m->first_layer[TDI_BR_TRUNK] = m->n_layers;
    if ((rc = dense_stack(c, tw, tname, "trunk", TDI_BR_TRUNK, record, 1, &dim)) != 0)
        return rc;
    if (record) {
        m->n_branch_layers[TDI_BR_TRUNK] = m->n_layers - m->first_layer[TDI_BR_TRUNK];
        m->first_layer[TDI_BR_HEAD] = m->n_layers;
        m->n_branch_layers[TDI_BR_HEAD] = 1;
    }
    snprintf(wn, sizeof(wn), "%s.head.weight", tname);
    snprintf(bn, sizeof(bn), "%s.head.bias", tname);
    if ((rc = add_layer(c, record, TDI_DENSE, TDI_BR_HEAD, 0, 1, 1, dim, (int)n_out, 1, 1, wn,
                        bn)) != 0)
        return rc;
    if (strcmp(htype, "categorical") == 0) {
        if (record)
            m->info.head = TD_INFER_HEAD_CATEGORICAL;
    } else if (strcmp(htype, "gaussian") == 0) {
        long long ls[1];
        int idx = -1, sq;
        ls[0] = n_out;
        snprintf(wn, sizeof(wn), "%s.log_std", tname);
        if ((rc = expect_tensor(c, wn, ls, 1, 0, record, &idx)) != 0)
            return rc;
        if (record) {
            m->info.head = TD_INFER_HEAD_GAUSSIAN;
            sq = td__infer_json_get(j, head, "squash");
            if (sq >= 0 && (j[sq].type != TDI_STR ||
                            (strcmp(j[sq].str, "tanh") != 0 && strcmp(j[sq].str, "none") != 0)))
                return td__infer_fail(c->err, TD_INFER_EHEADER,
                                      "header: head \"squash\" must be \"tanh\" or \"none\"");
            m->info.squash_tanh = sq >= 0 && strcmp(j[sq].str, "tanh") == 0;
        }
    } else if (strcmp(htype, "value") == 0 || strcmp(htype, "q") == 0) {
        if (record)
            m->info.head = htype[0] == 'v' ? TD_INFER_HEAD_VALUE : TD_INFER_HEAD_Q;
    } else {
        return td__infer_fail(c->err, TD_INFER_EHEADER,
                              "header: tower %s head type \"%s\" is not categorical, gaussian, "
                              "value or q",
                              tname, htype);
    }
    if (record)
        m->info.n_out = (int)n_out;
    return 0;
}

/* ---- action space and preprocessing --------------------------------------------------- */

int td__infer_check_action_space(tdi_check *c, int record_actions)
{
    const tdi_json *j = c->j;
    td_infer_model *m = c->m;
    int ast = -1, as = -1, rc, alg, map, i, k = 0;
    if ((rc = need(c, 0, "action_space_type", TDI_STR, "the top level", &ast)) != 0)
        return rc;
    if ((rc = need(c, 0, "action_space", -1, "the top level", &as)) != 0)
        return rc;
    if (strcmp(j[ast].str, "discrete") == 0) {
        if (j[as].type != TDI_ARR || j[as].n < 1)
            return td__infer_fail(c->err, TD_INFER_EHEADER,
                                  "header: a discrete \"action_space\" must be a non-empty list");
        m->info.continuous = 0;
        m->info.n_actions = j[as].n;
        for (i = j[as].first; i >= 0; i = j[i].next, k++) {
            double sa, sp;
            char where[48];
            snprintf(where, sizeof(where), "action %d", k);
            if (j[i].type != TDI_OBJ)
                return td__infer_fail(c->err, TD_INFER_EHEADER, "header: %s is not an object",
                                      where);
            if ((rc = get_number(c, i, "steering_angle", where, &sa)) != 0 ||
                (rc = get_number(c, i, "speed", where, &sp)) != 0)
                return rc;
            if (record_actions) {
                m->actions[k].steering_angle = (float)sa;
                m->actions[k].speed = (float)sp;
            }
        }
        if (m->info.head != TD_INFER_HEAD_CATEGORICAL || m->info.n_out != m->info.n_actions)
            return td__infer_fail(c->err, TD_INFER_ETOPOLOGY,
                                  "a discrete space of %d actions needs a categorical policy "
                                  "head with n = %d (the file has %s n = %d)",
                                  m->info.n_actions, m->info.n_actions,
                                  m->info.head == TD_INFER_HEAD_CATEGORICAL ? "categorical"
                                                                            : "another head",
                                  m->info.n_out);
    } else if (strcmp(j[ast].str, "continuous") == 0) {
        int sa, sp;
        double v[4];
        if (j[as].type != TDI_OBJ)
            return td__infer_fail(c->err, TD_INFER_EHEADER,
                                  "header: a continuous \"action_space\" must be an object");
        if ((rc = need(c, as, "steering_angle", TDI_OBJ, "action_space", &sa)) != 0 ||
            (rc = need(c, as, "speed", TDI_OBJ, "action_space", &sp)) != 0 ||
            (rc = get_number(c, sa, "low", "action_space.steering_angle", &v[0])) != 0 ||
            (rc = get_number(c, sa, "high", "action_space.steering_angle", &v[1])) != 0 ||
            (rc = get_number(c, sp, "low", "action_space.speed", &v[2])) != 0 ||
            (rc = get_number(c, sp, "high", "action_space.speed", &v[3])) != 0)
            return rc;
        if (!(v[0] < v[1]) || !(v[2] < v[3]))
            return td__infer_fail(c->err, TD_INFER_EHEADER,
                                  "header: action_space needs low < high");
        m->info.continuous = 1;
        m->info.steering_low = (float)v[0];
        m->info.steering_high = (float)v[1];
        m->info.speed_low = (float)v[2];
        m->info.speed_high = (float)v[3];
        if (m->info.head != TD_INFER_HEAD_GAUSSIAN || m->info.n_out != 2)
            return td__infer_fail(c->err, TD_INFER_ETOPOLOGY,
                                  "a continuous action space needs a gaussian policy head with "
                                  "n = 2");
        alg = td__infer_json_get(j, 0, "training_algorithm");
        map = td__infer_json_get(j, 0, "action_mapping");
        m->info.mapping_unit =
            !(alg >= 0 && j[alg].type == TDI_STR && strcmp(j[alg].str, "sac") == 0);
        if (map >= 0) {
            if (j[map].type != TDI_STR ||
                (strcmp(j[map].str, "unit") != 0 && strcmp(j[map].str, "direct") != 0))
                return td__infer_fail(c->err, TD_INFER_EHEADER,
                                      "header: \"action_mapping\" must be \"unit\" or \"direct\"");
            m->info.mapping_unit = strcmp(j[map].str, "unit") == 0;
        }
    } else {
        return td__infer_fail(c->err, TD_INFER_EHEADER,
                              "header: \"action_space_type\" must be \"discrete\" or "
                              "\"continuous\", not \"%s\"",
                              j[ast].str);
    }
    return 0;
}

/* Preprocessing of one input: scale/offset and optional per-element mean/std. */
int td__infer_check_preproc(tdi_check *c, const char *key, int dim, float *scale, float *offset,
                            float *stats, int *has_stats)
{
    const tdi_json *j = c->j;
    int pp = td__infer_json_get(j, 0, "preprocessing"), o, s, mean, stdv, i, k;
    *has_stats = 0;
    if (pp < 0)
        return 0;
    o = td__infer_json_get(j, pp, key);
    if (o < 0)
        return 0;
    if (j[o].type != TDI_OBJ)
        return td__infer_fail(c->err, TD_INFER_EHEADER,
                              "header: preprocessing \"%s\" is not an object", key);
    if ((s = td__infer_json_get(j, o, "scale")) >= 0) {
        if (j[s].type != TDI_NUM)
            return td__infer_fail(c->err, TD_INFER_EHEADER,
                                  "header: preprocessing.%s.scale is not a number", key);
        *scale = (float)j[s].num;
    }
    if ((s = td__infer_json_get(j, o, "offset")) >= 0) {
        if (j[s].type != TDI_NUM)
            return td__infer_fail(c->err, TD_INFER_EHEADER,
                                  "header: preprocessing.%s.offset is not a number", key);
        *offset = (float)j[s].num;
    }
    mean = td__infer_json_get(j, o, "mean");
    stdv = td__infer_json_get(j, o, "std");
    if (mean < 0 && stdv < 0)
        return 0;
    if (mean < 0 || stdv < 0 || j[mean].type != TDI_ARR || j[stdv].type != TDI_ARR ||
        j[mean].n != dim || j[stdv].n != dim)
        return td__infer_fail(c->err, TD_INFER_EHEADER,
                              "header: preprocessing.%s needs both \"mean\" and \"std\" arrays "
                              "of %d numbers",
                              key, dim);
    for (i = j[mean].first, k = 0; i >= 0; i = j[i].next, k++) {
        if (j[i].type != TDI_NUM)
            return td__infer_fail(c->err, TD_INFER_EHEADER,
                                  "header: preprocessing.%s.mean[%d] is not a number", key, k);
        if (stats)
            stats[k] = (float)j[i].num;
    }
    for (i = j[stdv].first, k = 0; i >= 0; i = j[i].next, k++) {
        if (j[i].type != TDI_NUM || !(j[i].num > 0))
            return td__infer_fail(c->err, TD_INFER_EHEADER,
                                  "header: preprocessing.%s.std[%d] must be > 0", key, k);
        if (stats)
            stats[dim + k] = (float)j[i].num;
    }
    *has_stats = 1;
    return 0;
}

/* ---- putting it together -------------------------------------------------------------- */

/*
 * Checks the whole file against its parsed header (length, checksum, tensor table, every
 * tower's topology, action space) and fills c->m (layers, tensors, info) and the byte counts
 * the arena needs. record_actions: also copy the discrete actions (m->actions must exist).
 */
int td__infer_check_model(tdi_check *c, int record_actions)
{
    const tdi_json *j = c->j;
    int fmt, ver, ds, tensors, topo, towers, tw, rc, ntens, policy = -1;
    long long v;
    if (j[0].type != TDI_OBJ)
        return td__infer_fail(c->err, TD_INFER_EHEADER, "header: not a JSON object");
    if ((rc = need(c, 0, "format", TDI_STR, "the top level", &fmt)) != 0)
        return rc;
    if (strcmp(j[fmt].str, "trackday-model") != 0)
        return td__infer_fail(c->err, TD_INFER_EHEADER,
                              "header: \"format\" is \"%s\", not \"trackday-model\"", j[fmt].str);
    if ((rc = need(c, 0, "version", TDI_NUM, "the top level", &ver)) != 0)
        return rc;
    if (!td__infer_json_int(j, ver, 0, (1L << 30), &v) || v != TD_INFER_FORMAT_VERSION)
        return td__infer_fail(c->err, TD_INFER_EVERSION,
                              "header: \"version\" %g differs from the supported version %d",
                              j[ver].num, TD_INFER_FORMAT_VERSION);
    if ((rc = need(c, 0, "data_size", TDI_NUM, "the top level", &ds)) != 0)
        return rc;
    if (!td__infer_json_int(j, ds, 0, (long long)1 << 50, &v) || v % 64 != 0)
        return td__infer_fail(c->err, TD_INFER_EHEADER,
                              "header: \"data_size\" must be a non-negative multiple of 64");
    c->data_size = (size_t)v;
    if ((rc = td_infer_frame_check_size(c->f->len, c->f->data_off, c->data_size, c->err)) != 0)
        return rc;
    if ((rc = check_crc(c->f, c->err)) != 0)
        return rc;
    if ((rc = need(c, 0, "tensors", TDI_ARR, "the top level", &tensors)) != 0)
        return rc;
    if ((rc = check_tensors(c, tensors, &ntens)) != 0)
        return rc;
    if ((rc = need(c, 0, "topology", TDI_OBJ, "the top level", &topo)) != 0)
        return rc;
    if ((rc = need(c, topo, "towers", TDI_OBJ, "topology", &towers)) != 0)
        return rc;
    if ((rc = need(c, 0, "inputs", TDI_OBJ, "the top level", &tw)) != 0)
        return rc;
    for (tw = j[towers].first; tw >= 0; tw = j[tw].next) {
        if (strcmp(j[tw].key, "policy") == 0) {
            policy = tw;
            continue;
        }
        if ((rc = walk_tower(c, tw, j[tw].key, 0)) != 0)
            return rc;
    }
    if (policy < 0)
        return td__infer_fail(c->err, TD_INFER_ETOPOLOGY, "the topology has no \"policy\" tower");
    if ((rc = walk_tower(c, policy, "policy", 1)) != 0)
        return rc;
    if (c->m->info.head != TD_INFER_HEAD_CATEGORICAL && c->m->info.head != TD_INFER_HEAD_GAUSSIAN)
        return td__infer_fail(c->err, TD_INFER_ETOPOLOGY,
                              "the policy head must be categorical or gaussian");
    if ((rc = td__infer_check_action_space(c, record_actions)) != 0)
        return rc;
    /* Preprocessing too, so td_infer_arena_size refuses every file td_infer_load refuses
     * (values are read again, into the arena, by the load). */
    {
        static const char *const keys[3] = {"camera", "lidar", "state"};
        const int dims[3] = {0, c->m->info.lidar_dim, c->m->info.state_dim};
        float scale, offset;
        int has, k;
        for (k = 0; k < 3; k++)
            if ((rc = td__infer_check_preproc(c, keys[k], dims[k], &scale, &offset, NULL, &has)) !=
                0)
                return rc;
    }
    return 0;
}
