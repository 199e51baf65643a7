/*
 * state.c - model/last.state: what --resume needs besides the weights: the counters, the
 * trainer's RNG and every tower's Adam moments. Binary, little-endian:
 *   "TDSTATE\0", u32 version (1), u32 towers, u64 JSON length, JSON, then per tower the
 *   float32 arrays m and v (n_params each), then a u32 CRC-32 of everything before it.
 * Written atomically beside model/last.tdm, before the iteration's metrics line: the JSON's
 * "metrics_line" is a copy of that line, which --resume appends when a run was killed between
 * the two (td__metrics_resume). A reader ignores keys it does not know: the version stays 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model/last.state is written in host order; port the float copies for big-endian hosts"
#endif

#define STATE_MAGIC   "TDSTATE"
#define STATE_VERSION 1u

static int state_path(const td__train *tr, char *out, size_t n, td_err *err)
{
    return td__train_path(out, n, tr->opt.dir, "model/last.state", err);
}

int td__state_save(td__train *tr, const char *metrics_line, td_err *err)
{
    char path[TD__TRAIN_PATH_MAX];
    json_t *j, *nets;
    char *text, hex[3][24];
    size_t jlen, total, off = 0;
    uint8_t *buf;
    int rc;

    if ((rc = state_path(tr, path, sizeof(path), err)) != 0)
        return rc;
    snprintf(hex[0], sizeof(hex[0]), "%016" PRIx64, tr->rng.state);
    snprintf(hex[1], sizeof(hex[1]), "%016" PRIx64, tr->rng.inc);
    snprintf(hex[2], sizeof(hex[2]), "%016" PRIx64, tr->run_id);
    nets = json_array();
    for (int i = 0; i < tr->policy.n_nets; i++) {
        const td_nn_net *n = &tr->policy.nets[i];
        json_array_append_new(nets,
                              json_pack("{s:s, s:I, s:I}", "name", n->spec.name, "n_params",
                                        (json_int_t)n->n_params, "adam_t", (json_int_t)n->adam_t));
    }
    j = json_pack("{s:i, s:I, s:I, s:f, s:f, s:f, s:i, s:f, s:s, s:s, s:s, s:o}", "iteration",
                  tr->iteration, "episodes", (json_int_t)tr->episodes, "steps",
                  (json_int_t)tr->steps, "elapsed_s", td__train_elapsed(tr), "best_eval_progress",
                  tr->best_eval_progress, "best_eval_lap_s", tr->best_eval_lap_s, "best_iteration",
                  tr->best_iteration, "best_lap_s", tr->best_lap_s, "rng_state", hex[0], "rng_inc",
                  hex[1], "run_id", hex[2], "towers", nets);
    if (j && metrics_line &&
        json_object_set_new(j, "metrics_line", json_string(metrics_line)) != 0) {
        json_decref(j);
        j = NULL;
    }
    if (!j)
        return td_err_set(err, TD_ENOMEM, "%s: cannot build the state header", path);
    text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(j);
    if (!text)
        return td_err_set(err, TD_ENOMEM, "%s: cannot format the state header", path);
    jlen = strlen(text);
    total = 8 + 4 + 4 + 8 + jlen + 4;
    for (int i = 0; i < tr->policy.n_nets; i++)
        total += 2 * tr->policy.nets[i].n_params * sizeof(float);
    buf = td_malloc(total);
    if (!buf) {
        free(text);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    }
    {
        uint32_t ver = STATE_VERSION, n = (uint32_t)tr->policy.n_nets;
        uint64_t l = jlen;
        memcpy(buf, STATE_MAGIC, 8);
        memcpy(buf + 8, &ver, 4);
        memcpy(buf + 12, &n, 4);
        memcpy(buf + 16, &l, 8);
        off = 24;
        memcpy(buf + off, text, jlen);
        off += jlen;
    }
    free(text);
    for (int i = 0; i < tr->policy.n_nets; i++) {
        const td_nn_net *n = &tr->policy.nets[i];
        memcpy(buf + off, n->adam_m, n->n_params * sizeof(float));
        off += n->n_params * sizeof(float);
        memcpy(buf + off, n->adam_v, n->n_params * sizeof(float));
        off += n->n_params * sizeof(float);
    }
    {
        uint32_t crc = td_crc32(0, buf, off);
        memcpy(buf + off, &crc, 4);
        off += 4;
    }
    rc = td_file_write_atomic(path, buf, off, err);
    td_free(buf);
    return rc;
}

static int hex64(const json_t *o, const char *key, uint64_t *out)
{
    const char *s = json_string_value(json_object_get(o, key));
    char *end;
    if (!s)
        return -1;
    *out = (uint64_t)strtoull(s, &end, 16);
    return *end == '\0' ? 0 : -1;
}

int td__state_load(td__train *tr, td_err *err)
{
    char path[TD__TRAIN_PATH_MAX];
    char *data;
    size_t len, off;
    uint32_t ver, n, crc;
    uint64_t jlen;
    json_t *j = NULL, *towers;
    int rc;

    rc = state_path(tr, path, sizeof(path), err);
    if (!rc)
        rc = td_file_read(path, &data, &len, err);
    if (rc)
        return td_err_prefix(err, rc, "cannot resume: ");
    rc = TD_EFORMAT;
    if (len < 28 || memcmp(data, STATE_MAGIC, 8) != 0) {
        td_err_set(err, rc, "%s: not a trackday training state (bad magic or too short)", path);
        goto out;
    }
    memcpy(&crc, data + len - 4, 4);
    if (td_crc32(0, data, len - 4) != crc) {
        td_err_set(err, TD_ECHECKSUM, "%s: checksum mismatch (the file is corrupted)", path);
        rc = TD_ECHECKSUM;
        goto out;
    }
    memcpy(&ver, data + 8, 4);
    memcpy(&n, data + 12, 4);
    memcpy(&jlen, data + 16, 8);
    if (ver != STATE_VERSION) {
        td_err_set(err, TD_EVERSION, "%s: state version %u, this trackday reads %u", path, ver,
                   STATE_VERSION);
        rc = TD_EVERSION;
        goto out;
    }
    if (jlen > len - 28 || (int)n != tr->policy.n_nets) {
        td_err_set(err, rc, "%s: the state does not match model/last.tdm (%u towers)", path, n);
        goto out;
    }
    {
        json_error_t je;
        j = json_loadb(data + 24, (size_t)jlen, 0, &je);
        if (!j) {
            td_err_set(err, rc, "%s: bad state header: %s", path, je.text);
            goto out;
        }
    }
    towers = json_object_get(j, "towers");
    off = 24 + (size_t)jlen;
    for (uint32_t i = 0; i < n; i++) {
        td_nn_net *net = &tr->policy.nets[i];
        const json_t *t = json_array_get(towers, i);
        json_int_t np = json_integer_value(json_object_get(t, "n_params"));
        if (!t || (size_t)np != net->n_params || !json_string_value(json_object_get(t, "name")) ||
            strcmp(json_string_value(json_object_get(t, "name")), net->spec.name) != 0 ||
            off + 2 * net->n_params * sizeof(float) > len - 4) {
            td_err_set(err, rc, "%s: tower %u does not match model/last.tdm", path, i);
            goto out;
        }
        net->adam_t = (long)json_integer_value(json_object_get(t, "adam_t"));
        memcpy(net->adam_m, data + off, net->n_params * sizeof(float));
        off += net->n_params * sizeof(float);
        memcpy(net->adam_v, data + off, net->n_params * sizeof(float));
        off += net->n_params * sizeof(float);
    }
    tr->iteration = (int)json_integer_value(json_object_get(j, "iteration"));
    tr->episodes = (long)json_integer_value(json_object_get(j, "episodes"));
    tr->steps = (long)json_integer_value(json_object_get(j, "steps"));
    tr->elapsed_before = json_number_value(json_object_get(j, "elapsed_s"));
    tr->best_eval_progress = json_number_value(json_object_get(j, "best_eval_progress"));
    tr->best_eval_lap_s = json_number_value(json_object_get(j, "best_eval_lap_s"));
    tr->best_iteration = (int)json_integer_value(json_object_get(j, "best_iteration"));
    tr->best_lap_s = json_number_value(json_object_get(j, "best_lap_s"));
    {
        const char *ml = json_string_value(json_object_get(j, "metrics_line"));
        if (ml && !(tr->resume_metrics_line = td_strdup(ml))) {
            td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
            rc = TD_ENOMEM;
            goto out;
        }
    }
    if (hex64(j, "rng_state", &tr->rng.state) || hex64(j, "rng_inc", &tr->rng.inc) ||
        hex64(j, "run_id", &tr->run_id)) {
        td_err_set(err, rc, "%s: bad RNG or run id in the state header", path);
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    td_free(data);
    return rc;
}

int td_train_state_read(const char *dir, int64_t *iteration, double *elapsed_s, td_err *err)
{
    char path[TD__TRAIN_PATH_MAX];
    char *data = NULL;
    size_t len = 0;
    uint64_t jlen;
    json_t *j;
    int rc;
    *iteration = 0;
    *elapsed_s = 0;
    rc = td__train_path(path, sizeof(path), dir, "model/last.state", err);
    if (!rc)
        rc = td_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    rc = TD_EFORMAT;
    if (len < 28 || memcmp(data, STATE_MAGIC, 8) != 0) {
        td_err_set(err, rc, "%s: not a trackday training state (bad magic or too short)", path);
        goto out;
    }
    memcpy(&jlen, data + 16, 8);
    if (jlen > len - 28 || !(j = json_loadb(data + 24, (size_t)jlen, 0, NULL))) {
        td_err_set(err, rc, "%s: bad state header", path);
        goto out;
    }
    *iteration = json_integer_value(json_object_get(j, "iteration"));
    *elapsed_s = json_number_value(json_object_get(j, "elapsed_s"));
    json_decref(j);
    rc = 0;
out:
    td_free(data);
    return rc;
}
