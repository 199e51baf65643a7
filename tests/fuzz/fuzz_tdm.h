/*
 * fuzz_tdm.h - the .tdm model targets (docs/model-format.md): the two loaders (nn/'s
 * td_nn_load, infer/'s td_infer_open_buffer), a repair that makes a mutated input a
 * well-framed file, and what runs a loaded model.
 *
 * Raw mutations of a .tdm rarely survive the CRC and the length fields, so the repairing
 * targets read their input as "header JSON, a NUL byte, data section" and write the framing
 * themselves: magic, version, flags, the header length, padding, a data section of the size
 * the header's "data_size" promises (the input's data, cut or zero-filled; up to
 * TDM_REPAIR_MAX_DATA) and the CRC. Mutations then reach the tensor table, the topology,
 * the arena layout and the kernels. tests/fuzz/make-seeds writes seeds in this form.
 */
#ifndef TD_FUZZ_TDM_H
#define TD_FUZZ_TDM_H

#include <jansson.h>
#include <math.h>

#include "fuzz.h"
#include "trackday/export.h"
#include "trackday/infer.h"
#include "trackday/nn.h"

#define TDM_REPAIR_MAX_DATA (4u << 20)

static inline void tdm_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A well-framed .tdm (malloc'd, *len bytes) from "header JSON \0 data". */
static inline uint8_t *tdm_repair(const uint8_t *data, size_t size, size_t *len)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t hlen = nul ? (size_t)(nul - data) : size;
    const uint8_t *payload = nul ? nul + 1 : data + size;
    size_t plen = (size_t)(data + size - payload);
    size_t dsize = (plen + 63) & ~(size_t)63;
    json_t *h = json_loadb((const char *)data, hlen, 0, NULL);
    const json_t *jd = h ? json_object_get(h, "data_size") : NULL;
    if (json_is_integer(jd) && json_integer_value(jd) >= 0 &&
        json_integer_value(jd) <= (json_int_t)TDM_REPAIR_MAX_DATA)
        dsize = (size_t)json_integer_value(jd);
    json_decref(h);
    size_t d0 = (24 + hlen + 63) & ~(size_t)63;
    *len = d0 + dsize + 4;
    uint8_t *buf = calloc(1, *len);
    TD_FUZZ_CHECK(buf != NULL);
    memcpy(buf, "TDMODEL\0", 8);
    tdm_put_u32(buf + 8, 1);
    tdm_put_u32(buf + 12, 0);
    tdm_put_u32(buf + 16, (uint32_t)hlen);
    tdm_put_u32(buf + 20, (uint32_t)((uint64_t)hlen >> 32));
    memcpy(buf + 24, data, hlen);
    memcpy(buf + d0, payload, plen < dsize ? plen : dsize);
    tdm_put_u32(buf + d0 + dsize, td_infer_crc32(0, buf, d0 + dsize));
    return buf;
}

/* Deterministic observation values from a seed, with the awkward ones mixed in. */
static inline float tdm_obs_value(uint32_t *s, int i)
{
    *s = *s * 1664525u + 1013904223u;
    switch ((*s >> 24) % 16) {
    case 0:
        return 0.0f;
    case 1:
        return i % 2 ? 1e30f : -1e30f;
    case 2:
        return (float)(1.0 / 0.0);
    case 3:
        return -0.0f;
    default:
        return (float)((*s >> 8) & 0xffff) / 6553.6f - 5.0f;
    }
}

/* Runs a model that td_infer loaded: both kernel paths, outputs in range. */
static inline void tdm_infer_run(td_infer_model *m, uint32_t seed)
{
    const td_infer_info *info = td_infer_get_info(m);
    size_t cam = (size_t)info->camera_h * (size_t)info->camera_w * (size_t)info->camera_c;
    uint8_t *camera = malloc(cam ? cam : 1);
    float *lidar = malloc(sizeof(float) * (size_t)(info->lidar_dim + 1));
    float *state = malloc(sizeof(float) * (size_t)(info->state_dim + 1));
    TD_FUZZ_CHECK(camera && lidar && state);
    uint32_t s = seed;
    for (size_t i = 0; i < cam; i++) {
        s = s * 1664525u + 1013904223u;
        camera[i] = (uint8_t)(s >> 24);
    }
    for (int i = 0; i < info->lidar_dim; i++)
        lidar[i] = tdm_obs_value(&s, i);
    for (int i = 0; i < info->state_dim; i++)
        state[i] = tdm_obs_value(&s, i);
    td_infer_obs obs = {cam ? camera : NULL, info->lidar_dim ? lidar : NULL,
                        info->state_dim ? state : NULL};
    for (int reference = 0; reference < 2; reference++) {
        td_infer_set_reference(m, reference);
        td_infer_action act;
        if (td_infer_run(m, &obs, &act) != 0)
            continue;
        if (!info->continuous && info->n_actions > 0)
            TD_FUZZ_CHECK(act.index >= 0 && act.index < info->n_actions);
        if (info->continuous && info->head == TD_INFER_HEAD_GAUSSIAN) {
            TD_FUZZ_CHECK(act.steering_angle >= fminf(info->steering_low, info->steering_high) &&
                          act.steering_angle <= fmaxf(info->steering_low, info->steering_high));
            TD_FUZZ_CHECK(act.speed >= fminf(info->speed_low, info->speed_high) &&
                          act.speed <= fmaxf(info->speed_low, info->speed_high));
        }
        (void)td_infer_output(m);
        (void)td_infer_probs(m);
    }
    free(camera);
    free(lidar);
    free(state);
}

/* td_infer on the bytes: the arena size, then a load and a run when it loads. */
static inline void tdm_infer(const uint8_t *buf, size_t len, int run)
{
    td_infer_err ierr;
    size_t arena = 0;
    int rc = td_infer_arena_size(buf, len, &arena, &ierr);
    td_infer_model *m = NULL;
    int rc2 = td_infer_open_buffer(&m, buf, len, &ierr);
    TD_FUZZ_CHECK((rc == 0) == (rc2 == 0));
    if (rc2 != 0) {
        TD_FUZZ_CHECK(m == NULL && ierr.msg[0] != '\0');
        return;
    }
    TD_FUZZ_CHECK(td_infer_get_info(m)->arena_size <= arena);
    const void *data;
    size_t nbytes;
    (void)td_infer_get_tensor(m, "policy.head.weight", NULL, NULL, NULL, &data, &nbytes);
    if (run)
        tdm_infer_run(m, (uint32_t)len);
    td_infer_close(m);
}

/* The policy tower exported as ONNX and as DeepRacer's TensorFlow graph (trackday export). */
static inline void tdm_export(const td_nn_net *nets, int n_nets, const json_t *header)
{
    for (int i = 0; i < n_nets; i++) {
        if (strcmp(nets[i].spec.name, "policy") != 0)
            continue;
        for (int f = 0; f < 2; f++) {
            td_export_result r;
            td_err err;
            if (td_export_graph(f ? TD_EXPORT_TF_GRAPHDEF : TD_EXPORT_ONNX, &nets[i], header, &r,
                                &err) == 0) {
                TD_FUZZ_CHECK(r.len > 0);
                td_export_result_free(&r);
            } else {
                TD_FUZZ_CHECK(err.msg[0] != '\0');
            }
        }
    }
}

/* nn/'s loader on the bytes (through an in-memory file), then one forward pass per tower. */
static inline void tdm_nn(const uint8_t *buf, size_t len, int forward)
{
    td_fuzz_file f;
    td_fuzz_file_open(&f, buf, len);
    static td_nn_net nets[TD_NN_MAX_TOWERS];
    int n_nets = 0;
    json_t *header = NULL;
    td_err err;
    int rc = td_nn_load(f.path, nets, TD_NN_MAX_TOWERS, &n_nets, 1, &header, &err);
    td_fuzz_file_close(&f);
    if (rc != 0) {
        TD_FUZZ_CHECK(n_nets == 0 && header == NULL && err.msg[0] != '\0');
        return;
    }
    for (int i = 0; i < n_nets && forward; i++) {
        const td_nn_tower *tw = &nets[i].spec;
        size_t cam = (size_t)tw->camera_h * (size_t)tw->camera_w * (size_t)tw->camera_c;
        uint8_t *camera = calloc(cam ? cam : 1, 1);
        float *lidar = calloc((size_t)tw->lidar_dim + 1, sizeof(float));
        float *state = calloc((size_t)tw->state_dim + 1, sizeof(float));
        float action[2] = {0.5f, -0.25f};
        TD_FUZZ_CHECK(camera && lidar && state);
        uint32_t s = (uint32_t)len;
        for (int k = 0; k < tw->lidar_dim; k++)
            lidar[k] = tdm_obs_value(&s, k);
        for (int k = 0; k < tw->state_dim; k++)
            state[k] = tdm_obs_value(&s, k);
        td_nn_input in = {NULL, camera, lidar, state, action};
        (void)td_nn_net_forward(&nets[i], &in, 1);
        free(camera);
        free(lidar);
        free(state);
    }
    if (forward)
        tdm_export(nets, n_nets, header);
    for (int i = 0; i < n_nets; i++)
        td_nn_net_free(&nets[i]);
    json_decref(header);
}

#endif
