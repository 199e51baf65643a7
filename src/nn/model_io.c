/*
 * model_io.c - saving and loading nets as a `.tdm` model file (docs/model-format.md): a JSON
 * header (topology, inputs, the caller's extras, the tensor table) and 64-byte aligned
 * little-endian fp32 tensors, framed (magic, version, CRC-32 trailer) by infer/'s frame.c,
 * the one framing every writer and reader of the format shares. The writer is canonical (same
 * nets and extras give the same bytes); the loader checks the file in the order of the
 * format's section 6 and says what is wrong and where.
 */
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"
#include "trackday/infer.h"

#define MAX_HEADER (64u << 20)

static size_t align64(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

/* ---- little-endian helpers (explicit, whatever the host) ------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_f32s(uint8_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        put_u32(dst + 4 * i, u);
    }
}

static void get_f32s(float *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = get_u32(src + 4 * i);
        memcpy(&dst[i], &u, 4);
    }
}

/* ---- save ------------------------------------------------------------------------------------ */

/* Keys the writer owns; an extras object may not set them. */
static int owned_key(const char *k)
{
    static const char *const owned[] = {"format",   "version", "data_size",
                                        "topology", "inputs",  "tensors"};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (strcmp(k, owned[i]) == 0)
            return 1;
    return 0;
}

int td_nn_save_buffer(const td_nn_net *const *nets, int n_nets, const json_t *extras, uint8_t **out,
                      size_t *out_len, const char *what, td_err *err)
{
    const char *path = what ? what : "model";
    *out = NULL;
    *out_len = 0;
    if (!nets || n_nets < 1 || n_nets > TD_NN_MAX_TOWERS)
        return td_err_set(err, TD_EINVAL, "%s: save needs 1 to %d nets (got %d)", path,
                          TD_NN_MAX_TOWERS, n_nets);
    if (extras && !json_is_object(extras))
        return td_err_set(err, TD_EINVAL, "%s: header extras must be a JSON object", path);
    if (!extras || !json_is_string(json_object_get(extras, "action_space_type")) ||
        !json_object_get(extras, "action_space"))
        return td_err_set(err, TD_EINVAL,
                          "%s: the header extras must give \"action_space_type\" "
                          "and \"action_space\" (docs/model-format.md)",
                          path);
    td_nn_topology topo;
    memset(&topo, 0, sizeof(topo));
    topo.n_towers = n_nets;
    for (int i = 0; i < n_nets; i++) {
        topo.towers[i] = nets[i]->spec;
        for (int j = 0; j < i; j++)
            if (strcmp(nets[j]->spec.name, nets[i]->spec.name) == 0)
                return td_err_set(err, TD_EINVAL, "%s: two towers named '%s'", path,
                                  nets[i]->spec.name);
    }
    json_t *tj = NULL, *ij = NULL;
    int rc = td_nn_topology_to_json(&topo, &tj, &ij, err);
    if (rc)
        return td_err_prefix(err, rc, "%s: ", path);

    /* tensor table: canonical offsets, tensors in net then table order */
    json_t *tensors = json_array();
    size_t off = 0;
    for (int i = 0; i < n_nets; i++) {
        for (int k = 0; k < nets[i]->n_tensors; k++) {
            const td_nn_tensor *t = &nets[i]->tensors[k];
            json_t *e = json_object(), *shape = json_array();
            for (int d = 0; d < t->ndim; d++)
                json_array_append_new(shape, json_integer(t->shape[d]));
            json_object_set_new(e, "name", json_string(t->name));
            json_object_set_new(e, "dtype", json_string("f32"));
            json_object_set_new(e, "shape", shape);
            json_object_set_new(e, "offset", json_integer((json_int_t)off));
            json_object_set_new(e, "nbytes", json_integer((json_int_t)(t->n * 4)));
            json_array_append_new(tensors, e);
            off = align64(off + t->n * 4);
        }
    }
    size_t data_size = off;

    json_t *h = json_object();
    json_object_set_new(h, "format", json_string("trackday-model"));
    json_object_set_new(h, "version", json_integer(TD_INFER_FORMAT_VERSION));
    json_object_set_new(h, "data_size", json_integer((json_int_t)data_size));
    json_object_set_new(h, "topology", tj);
    json_object_set_new(h, "inputs", ij);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)extras, key, val)
    {
        if (!owned_key(key))
            json_object_set(h, key, val);
    }
    json_object_set_new(h, "tensors", tensors);
    char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!text)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory for the header", path);
    size_t hlen = strlen(text);
    size_t total = td_infer_frame_size(hlen, data_size);
    uint8_t *buf = td_calloc(1, total);
    if (!buf) {
        free(text);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory (%zu bytes)", path, total);
    }
    size_t d0 = td_infer_frame_begin(buf, text, hlen);
    free(text);
    off = 0;
    for (int i = 0; i < n_nets; i++)
        for (int k = 0; k < nets[i]->n_tensors; k++) {
            const td_nn_tensor *t = &nets[i]->tensors[k];
            put_f32s(buf + d0 + off, nets[i]->params + t->offset, t->n);
            off = align64(off + t->n * 4);
        }
    td_infer_frame_end(buf, total);
    *out = buf;
    *out_len = total;
    return 0;
}

int td_nn_save(const char *path, const td_nn_net *const *nets, int n_nets, const json_t *extras,
               td_err *err)
{
    uint8_t *buf;
    size_t len;
    if (!path)
        return td_err_set(err, TD_EINVAL, "save needs a path");
    int rc = td_nn_save_buffer(nets, n_nets, extras, &buf, &len, path, err);
    if (rc)
        return rc;
    rc = td_file_write_atomic(path, buf, len, err);
    td_free(buf);
    return rc;
}

/* ---- load ------------------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    int ndim;
    long shape[8];
    size_t offset, nbytes;
    int i8;
} entry;

/* Reads a non-negative JSON integer member; err names the tensor index and key. */
static int get_size(const json_t *e, const char *key, int idx, const char *path, size_t *out,
                    td_err *err)
{
    const json_t *v = json_object_get(e, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return td_err_set(err, TD_EFORMAT, "%s: tensors[%d].%s must be a non-negative integer",
                          path, idx, key);
    *out = (size_t)json_integer_value(v);
    return 0;
}

static int check_table(const json_t *tensors, size_t data_size, const char *path, entry *ents,
                       int n, td_err *err)
{
    for (int i = 0; i < n; i++) {
        const json_t *e = json_array_get(tensors, (size_t)i);
        entry *t = &ents[i];
        if (!json_is_object(e))
            return td_err_set(err, TD_EFORMAT, "%s: tensors[%d] must be an object", path, i);
        t->name = json_string_value(json_object_get(e, "name"));
        if (!t->name || !t->name[0])
            return td_err_set(err, TD_EFORMAT, "%s: tensors[%d] has no name", path, i);
        const char *dt = json_string_value(json_object_get(e, "dtype"));
        if (!dt || (strcmp(dt, "f32") != 0 && strcmp(dt, "i8") != 0))
            return td_err_set(err, TD_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", path, t->name,
                              dt ? dt : "(missing)");
        t->i8 = dt[0] == 'i';
        const json_t *shape = json_object_get(e, "shape");
        if (!json_is_array(shape) || json_array_size(shape) < 1 || json_array_size(shape) > 8)
            return td_err_set(err, TD_EFORMAT,
                              "%s: tensor '%s': shape must be a list of 1 to 8 "
                              "sizes",
                              path, t->name);
        t->ndim = (int)json_array_size(shape);
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            const json_t *v = json_array_get(shape, (size_t)d);
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > (1L << 30))
                return td_err_set(err, TD_EFORMAT,
                                  "%s: tensor '%s': shape[%d] must be a "
                                  "positive integer",
                                  path, t->name, d);
            t->shape[d] = (long)json_integer_value(v);
            count *= (size_t)t->shape[d];
            if (count > data_size) /* also keeps the product from overflowing */
                return td_err_set(err, TD_EFORMAT,
                                  "%s: tensor '%s': shape holds more elements "
                                  "than the data section has bytes",
                                  path, t->name);
        }
        int rc;
        if ((rc = get_size(e, "offset", i, path, &t->offset, err)) ||
            (rc = get_size(e, "nbytes", i, path, &t->nbytes, err)))
            return rc;
        if (t->nbytes != count * (t->i8 ? 1 : 4))
            return td_err_set(err, TD_EFORMAT,
                              "%s: tensor '%s': nbytes %zu but its shape holds "
                              "%zu bytes",
                              path, t->name, t->nbytes, count * (t->i8 ? 1 : 4));
        if (t->offset % 64)
            return td_err_set(err, TD_EFORMAT,
                              "%s: tensor '%s': offset %zu is not a multiple "
                              "of 64",
                              path, t->name, t->offset);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return td_err_set(err, TD_EFORMAT,
                              "%s: tensor '%s' (offset %zu, %zu bytes) runs "
                              "past the data section (%zu bytes)",
                              path, t->name, t->offset, t->nbytes, data_size);
        for (int j = 0; j < i; j++) {
            if (strcmp(ents[j].name, t->name) == 0)
                return td_err_set(err, TD_EFORMAT, "%s: tensor '%s' appears twice", path, t->name);
            if (t->offset < ents[j].offset + ents[j].nbytes &&
                ents[j].offset < t->offset + t->nbytes && t->nbytes && ents[j].nbytes)
                return td_err_set(err, TD_EFORMAT, "%s: tensors '%s' and '%s' overlap", path,
                                  ents[j].name, t->name);
        }
    }
    return 0;
}

static void free_nets(td_nn_net *nets, int n)
{
    for (int i = 0; i < n; i++)
        td_nn_net_free(&nets[i]);
}

/* Everything after the bytes are in memory; on error nets[0..*n_nets) are freed. */
static int parse_model(const uint8_t *buf, size_t len, const char *path, td_nn_net *nets,
                       int max_nets, int *n_nets, int max_batch, json_t **header, td_err *err)
{
    /* The prologue as infer/ checks it, so both readers say the same thing. */
    const char *htext;
    size_t hlen, d0;
    td_infer_err ie;
    int frc = td_infer_frame_check(buf, len, &htext, &hlen, &d0, &ie);
    if (frc)
        return td_err_set(err,
                          frc == TD_INFER_EVERSION ? TD_EVERSION
                          : frc == TD_INFER_EINVAL ? TD_EINVAL
                                                   : TD_EFORMAT,
                          "%s: %s", path, ie.msg);
    if (hlen > MAX_HEADER)
        return td_err_set(err, TD_EFORMAT, "%s: a header of %zu bytes is more than a model has",
                          path, hlen);
    json_error_t jerr;
    json_t *h = json_loadb(htext, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!h) {
        /* a corrupted file is more likely than a bad writer: say so when the CRC fails too */
        if (td_crc32(0, buf, len - 4) != get_u32(buf + len - 4))
            return td_err_set(err, TD_ECHECKSUM,
                              "%s: checksum mismatch (and the header is not "
                              "valid JSON)",
                              path);
        return td_err_set(err, TD_EFORMAT, "%s: header JSON invalid at byte %d: %s", path,
                          jerr.position, jerr.text);
    }
    int rc = 0;
    *n_nets = 0;
    const char *fmt = json_string_value(json_object_get(h, "format"));
    const json_t *jv = json_object_get(h, "version"), *jd = json_object_get(h, "data_size");
    if (!fmt || strcmp(fmt, "trackday-model") != 0) {
        rc = td_err_set(err, TD_EFORMAT, "%s: header \"format\" is not \"trackday-model\"", path);
        goto out;
    }
    if (!json_is_integer(jv) || json_integer_value(jv) != TD_INFER_FORMAT_VERSION) {
        rc = td_err_set(err, TD_EVERSION, "%s: header \"version\" must be %d", path,
                        TD_INFER_FORMAT_VERSION);
        goto out;
    }
    if (!json_is_integer(jd) || json_integer_value(jd) < 0 || json_integer_value(jd) % 64) {
        rc = td_err_set(err, TD_EFORMAT,
                        "%s: header \"data_size\" must be a non-negative "
                        "multiple of 64",
                        path);
        goto out;
    }
    size_t data_size = (size_t)json_integer_value(jd);
    if (td_infer_frame_check_size(len, d0, data_size, &ie)) {
        rc = td_err_set(err, TD_EFORMAT, "%s: %s", path, ie.msg); /* as `model show` says it */
        goto out;
    }
    uint32_t stored = get_u32(buf + len - 4), computed = td_crc32(0, buf, len - 4);
    if (stored != computed) {
        rc = td_err_set(err, TD_ECHECKSUM, "%s: checksum mismatch: stored %08x, computed %08x",
                        path, stored, computed);
        goto out;
    }
    const json_t *tensors = json_object_get(h, "tensors");
    if (!json_is_array(tensors)) {
        rc = td_err_set(err, TD_EFORMAT, "%s: header \"tensors\" must be a list", path);
        goto out;
    }
    if (!json_is_string(json_object_get(h, "action_space_type")) ||
        !json_object_get(h, "action_space")) {
        rc = td_err_set(err, TD_EFORMAT,
                        "%s: header lacks \"action_space_type\" or "
                        "\"action_space\"",
                        path);
        goto out;
    }
    int n_ent = (int)json_array_size(tensors);
    entry *ents = td_calloc(n_ent ? (size_t)n_ent : 1, sizeof(entry));
    if (!ents) {
        rc = td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if ((rc = check_table(tensors, data_size, path, ents, n_ent, err)))
        goto out_ents;
    td_nn_topology topo;
    if ((rc = td_nn_topology_from_json(&topo, json_object_get(h, "topology"),
                                       json_object_get(h, "inputs"), err))) {
        td_err_prefix(err, rc, "%s: ", path);
        goto out_ents;
    }
    if (topo.n_towers > max_nets) {
        rc = td_err_set(err, TD_EINVAL, "%s: %d towers but room for %d", path, topo.n_towers,
                        max_nets);
        goto out_ents;
    }
    for (int i = 0; i < topo.n_towers; i++) {
        td_nn_net *net = &nets[i];
        if ((rc = td_nn_net_init(net, &topo.towers[i], max_batch, NULL, err))) {
            td_err_prefix(err, rc, "%s: ", path);
            goto out_nets;
        }
        (*n_nets)++;
        for (int k = 0; k < net->n_tensors; k++) {
            const td_nn_tensor *t = &net->tensors[k];
            const entry *e = NULL;
            for (int j = 0; j < n_ent && !e; j++)
                if (strcmp(ents[j].name, t->name) == 0)
                    e = &ents[j];
            char want[64], got[64];
            int wl = snprintf(want, sizeof(want), "[");
            for (int d = 0; d < t->ndim; d++)
                wl += snprintf(want + wl, sizeof(want) - (size_t)wl, "%s%d", d ? ", " : "",
                               t->shape[d]);
            snprintf(want + wl, sizeof(want) - (size_t)wl, "]");
            if (!e) {
                rc = td_err_set(err, TD_EFORMAT, "%s: tensor '%s' %s is missing", path, t->name,
                                want);
                goto out_nets;
            }
            int same = e->ndim == t->ndim;
            for (int d = 0; same && d < t->ndim; d++)
                same = e->shape[d] == t->shape[d];
            if (!same) {
                int gl = snprintf(got, sizeof(got), "[");
                for (int d = 0; d < e->ndim && gl < (int)sizeof(got) - 16; d++)
                    gl += snprintf(got + gl, sizeof(got) - (size_t)gl, "%s%ld", d ? ", " : "",
                                   e->shape[d]);
                snprintf(got + gl, sizeof(got) - (size_t)gl, "]");
                rc = td_err_set(err, TD_EFORMAT,
                                "%s: tensor '%s' has shape %s, the topology "
                                "needs %s",
                                path, t->name, got, want);
                goto out_nets;
            }
            if (e->i8) {
                rc = td_err_set(err, TD_EUNSUPPORTED,
                                "%s: tensor '%s' is int8: nn loads fp32 "
                                "models only (use the fp32 parent, or infer/)",
                                path, t->name);
                goto out_nets;
            }
            get_f32s(net->params + t->offset, buf + d0 + e->offset, t->n);
        }
    }
    if (header)
        *header = json_incref(h);
    rc = 0;
    goto out_ents;
out_nets:
    free_nets(nets, *n_nets);
    *n_nets = 0;
out_ents:
    td_free(ents);
out:
    json_decref(h);
    return rc;
}

int td_nn_load(const char *path, td_nn_net *nets, int max_nets, int *n_nets, int max_batch,
               json_t **header, td_err *err)
{
    if (header)
        *header = NULL;
    *n_nets = 0;
    char *data = NULL;
    size_t len = 0;
    int rc = td_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    rc = parse_model((const uint8_t *)data, len, path, nets, max_nets, n_nets, max_batch, header,
                     err);
    td_free(data);
    return rc;
}
