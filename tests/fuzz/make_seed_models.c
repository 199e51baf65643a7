/*
 * make_seed_models.c - writes the .tdm seeds of the model fuzz targets (run by
 * tests/fuzz/make-seeds): small models of every kind the format holds, written by nn/'s own
 * writer (td_nn_save) and infer/'s quantizer, so the seeds are trackday's files, only small.
 *
 *   make_seed_models OUTDIR
 *
 * For each model NAME it writes OUTDIR/tdm/NAME.tdm (the file) and OUTDIR/tdm_repair/NAME
 * (the "header JSON \0 data section" form of fuzz_tdm.h, also used by infer_run).
 *
 *   make_seed_models --split FILE.tdm OUT
 *
 * writes that form of one model file. It also writes the seeds of the targz and public_key
 * targets: OUTDIR/targz/ (archives written by td_archive: a model directory, a car archive
 * layout, an empty archive) and OUTDIR/public_key/ (a key file written by td_sign_key_write),
 * and the fuzz key's secret half, OUTDIR/secret/fuzz.key (fuzz_key.h).
 *
 *   make_seed_models --tree BUNDLE.tdb OUT
 *
 * writes a bundle's files in fuzz_bundle's repaired form.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_key.h"
#include "trackday/archive.h"
#include "trackday/crypto.h"
#include "trackday/infer.h"
#include "trackday/json.h"
#include "trackday/nn.h"

typedef struct seed_model {
    const char *name;
    const char *topology; /* {"towers": {...}} */
    const char *inputs;
    const char *extras; /* action space, preprocessing, sensors, ... */
    int quantize;       /* also write an int8 copy */
} seed_model;

#define DISCRETE                                                                                   \
    "\"action_space_type\": \"discrete\", \"action_space\": [{\"steering_angle\": -30, "           \
    "\"speed\": 1.0}, {\"steering_angle\": 0, \"speed\": 2.0}, {\"steering_angle\": 30, "          \
    "\"speed\": 1.0}]"
#define CONTINUOUS                                                                                 \
    "\"action_space_type\": \"continuous\", \"action_space\": {\"steering_angle\": {\"low\": "     \
    "-30, \"high\": 30}, \"speed\": {\"low\": 0.5, \"high\": 3}}"

static const seed_model MODELS[] = {
    {"camera_ppo_discrete",
     "{\"towers\": {\"policy\": {\"camera\": [[4, 5, 2], [8, 3, 2]], \"trunk\": [16], "
     "\"head\": {\"type\": \"categorical\", \"n\": 3}}, \"value\": {\"camera\": [[4, 5, 2]], "
     "\"trunk\": [8], \"head\": {\"type\": \"value\", \"n\": 1}}}}",
     "{\"camera\": [16, 20, 1]}",
     "{\"sensors\": [\"FRONT_FACING_CAMERA\"], " DISCRETE ", \"training_algorithm\": "
     "\"clipped_ppo\", \"neural_network\": \"DEEP_CONVOLUTIONAL_NETWORK_SHALLOW\", "
     "\"preprocessing\": {\"camera\": {\"scale\": 0.00392156862745098, \"offset\": 0}}, "
     "\"lineage\": {\"run_id\": \"seed\", \"track\": \"oval\"}}",
     1},
    {"stereo_lidar_ppo_continuous",
     "{\"towers\": {\"policy\": {\"camera\": [[4, 3, 2]], \"lidar\": [8], \"trunk\": [8], "
     "\"head\": {\"type\": \"gaussian\", \"n\": 2, \"squash\": \"tanh\"}}}}",
     "{\"camera\": [8, 10, 2], \"lidar\": [8]}",
     "{\"sensors\": [\"STEREO_CAMERAS\", \"SECTOR_LIDAR\"], " CONTINUOUS
     ", \"action_mapping\": \"unit\", \"preprocessing\": {\"camera\": {\"scale\": "
     "0.00392156862745098}, \"lidar\": {\"scale\": 0.5, \"offset\": -0.1}}}",
     1},
    {"state_ppo_discrete",
     "{\"towers\": {\"policy\": {\"state\": [8, 8], \"head\": {\"type\": \"categorical\", "
     "\"n\": 3}}, \"value\": {\"state\": [8], \"head\": {\"type\": \"value\", \"n\": 1}}}}",
     "{\"state\": [6]}",
     "{\"sensors\": [\"STATE\"], " DISCRETE ", \"preprocessing\": {\"state\": {\"mean\": [0, "
     "0, 0, 0, 0, 0], \"std\": [1, 2, 1, 1, 0.5, 1]}}}",
     1},
    {"state_sac",
     "{\"towers\": {\"policy\": {\"state\": [8], \"head\": {\"type\": \"gaussian\", \"n\": 2}}, "
     "\"q1\": {\"state\": [8], \"head\": {\"type\": \"q\", \"n\": 1}}, \"q2\": {\"state\": [8], "
     "\"head\": {\"type\": \"q\", \"n\": 1}}}}",
     "{\"state\": [4], \"action\": [2]}",
     "{\"sensors\": [\"STATE\"], " CONTINUOUS ", \"training_algorithm\": \"sac\", "
     "\"action_mapping\": \"direct\"}",
     0},
    {"lidar_policy_only",
     "{\"towers\": {\"policy\": {\"lidar\": [], \"trunk\": [4], \"head\": {\"type\": "
     "\"categorical\", \"n\": 3}}}}",
     "{\"lidar\": [8]}", "{\"sensors\": [\"LIDAR\"], " DISCRETE "}", 0},
};

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "make_seed_models: cannot write %s\n", path);
        if (f)
            fclose(f);
        return 1;
    }
    return fclose(f) != 0;
}

/* Writes the "header \0 data" form of the model file in buf. */
static int write_split(const char *path, const uint8_t *buf, size_t len)
{
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[16 + i];
    size_t d0 = (24 + (size_t)hlen + 63) & ~(size_t)63;
    size_t dlen = len - 4 - d0;
    uint8_t *out = td_malloc((size_t)hlen + 1 + dlen);
    if (!out)
        return 1;
    memcpy(out, buf + 24, (size_t)hlen);
    out[hlen] = 0;
    memcpy(out + hlen + 1, buf + d0, dlen);
    int rc = write_file(path, out, (size_t)hlen + 1 + dlen);
    td_free(out);
    return rc;
}

static int calib(void *ctx, int i, td_infer_obs *obs)
{
    static uint8_t camera[16 * 20 * 2];
    static float vec[16];
    for (size_t k = 0; k < sizeof(camera); k++)
        camera[k] = (uint8_t)(k * 7 + (size_t)i * 13);
    for (int k = 0; k < 16; k++)
        vec[k] = (float)((k + i) % 5) * 0.3f;
    (void)ctx;
    obs->camera = camera;
    obs->lidar = vec;
    obs->state = vec;
    return 0;
}

static int one_model(const char *outdir, const seed_model *sm)
{
    td_err err;
    json_error_t jerr;
    json_t *topo_j = json_loads(sm->topology, 0, &jerr);
    json_t *inputs_j = json_loads(sm->inputs, 0, &jerr);
    json_t *extras = json_loads(sm->extras, 0, &jerr);
    if (!topo_j || !inputs_j || !extras) {
        fprintf(stderr, "make_seed_models: %s: bad JSON: %s\n", sm->name, jerr.text);
        return 1;
    }
    td_nn_topology topo;
    int rc = td_nn_topology_from_json(&topo, topo_j, inputs_j, &err);
    json_decref(topo_j);
    json_decref(inputs_j);
    if (rc) {
        fprintf(stderr, "make_seed_models: %s: %s\n", sm->name, err.msg);
        json_decref(extras);
        return 1;
    }
    td_nn_net nets[TD_NN_MAX_TOWERS];
    const td_nn_net *ptrs[TD_NN_MAX_TOWERS];
    td_rng rng;
    td_rng_seed(&rng, 19, 0);
    for (int i = 0; i < topo.n_towers; i++) {
        if (td_nn_net_init(&nets[i], &topo.towers[i], 1, &rng, &err)) {
            fprintf(stderr, "make_seed_models: %s: %s\n", sm->name, err.msg);
            return 1;
        }
        ptrs[i] = &nets[i];
    }
    char path[1024];
    snprintf(path, sizeof(path), "%s/tdm/%s.tdm", outdir, sm->name);
    rc = td_nn_save(path, ptrs, topo.n_towers, extras, &err);
    for (int i = 0; i < topo.n_towers; i++)
        td_nn_net_free(&nets[i]);
    json_decref(extras);
    if (rc) {
        fprintf(stderr, "make_seed_models: %s\n", err.msg);
        return 1;
    }
    char *data;
    size_t len;
    if (td_file_read(path, &data, &len, &err))
        return 1;
    snprintf(path, sizeof(path), "%s/tdm_repair/%s", outdir, sm->name);
    rc = write_split(path, (const uint8_t *)data, len);
    if (!rc && sm->quantize) {
        td_infer_quant_options opt;
        td_infer_quant_options_default(&opt);
        opt.calibration = "seed:4";
        void *q;
        size_t qlen;
        td_infer_err ierr;
        if (td_infer_quantize(data, len, calib, NULL, 4, &opt, &q, &qlen, &ierr)) {
            fprintf(stderr, "make_seed_models: %s: quantize: %s\n", sm->name, ierr.msg);
            rc = 1;
        } else {
            snprintf(path, sizeof(path), "%s/tdm/%s_int8.tdm", outdir, sm->name);
            rc = write_file(path, q, qlen);
            snprintf(path, sizeof(path), "%s/tdm_repair/%s_int8", outdir, sm->name);
            rc |= write_split(path, q, qlen);
            td_infer_free(q);
        }
    }
    td_free(data);
    return rc;
}

/* Archives as the hub and the car get them, written by trackday's own archive writer. */
static int write_archives(const char *outdir)
{
    static const char metadata[] = "{\"action_space\": [{\"steering_angle\": 0, \"speed\": 1}], "
                                   "\"sensor\": [\"FRONT_FACING_CAMERA\"], \"version\": \"5\"}\n";
    static const char reward[] = "def reward_function(params):\n    return 1.0\n";
    static const char hyper[] = "{\"batch_size\": 64, \"lr\": 0.0003}\n";
    const struct {
        const char *file;
        int n;
        const char *names[4];
        const char *texts[4];
    } sets[] = {
        {"model-dir.tar.gz",
         3,
         {"model_metadata.json", "reward_function.py", "hyperparameters.json"},
         {metadata, reward, hyper}},
        {"car.tar.gz", 2, {"model/model_metadata.json", "model/model.pb"}, {metadata, "\x08\x01"}},
        {"empty.tar.gz", 0, {NULL}, {NULL}},
    };
    td_err err;
    int rc = 0;
    for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
        td_archive a;
        td_archive_init(&a);
        for (int i = 0; i < sets[k].n && !rc; i++)
            rc = td_archive_add(&a, sets[k].names[i], sets[k].texts[i], strlen(sets[k].texts[i]),
                                &err);
        char path[1024];
        snprintf(path, sizeof(path), "%s/targz/%s", outdir, sets[k].file);
        if (!rc)
            rc = td_archive_write_targz(&a, path, 1800000000, &err);
        td_archive_free(&a);
        if (rc) {
            fprintf(stderr, "make_seed_models: %s\n", err.msg);
            return 1;
        }
    }
    return 0;
}

/* The fuzz key (fuzz_key.h): OUTDIR/public_key/seed-key.pub, the seed of the public_key
 * target, and OUTDIR/secret/fuzz.key, the secret half that make-seeds signs the seed bundles
 * with (never copied into the corpus). */
static int write_key(const char *outdir)
{
    uint8_t pk[TD_SIGN_PUBLIC_BYTES], sk[TD_SIGN_SECRET_BYTES];
    td_err err;
    char path[1024], pub[1100], dst[1100];
    if (td_fuzz_keypair(pk, sk) != 0)
        return 1;
    snprintf(path, sizeof(path), "%s/secret/fuzz.key", outdir);
    int rc = td_sign_key_write(path, pk, sk, 1, &err);
    td_crypto_wipe(sk, sizeof(sk));
    if (rc) {
        fprintf(stderr, "make_seed_models: %s\n", err.msg);
        return 1;
    }
    snprintf(pub, sizeof(pub), "%s.pub", path);
    snprintf(dst, sizeof(dst), "%s/public_key/seed-key.pub", outdir);
    return rename(pub, dst) != 0;
}

/* A bundle's files in fuzz_bundle's repaired form: "@@ PATH\n", the bytes, "\n" between. */
static int write_tree(const char *bundle, const char *out)
{
    char *data;
    size_t len;
    td_err err;
    td_archive a;
    td_archive_limits lim;
    td_archive_limits_default(&lim);
    if (td_file_read(bundle, &data, &len, &err)) {
        fprintf(stderr, "make_seed_models: %s\n", err.msg);
        return 1;
    }
    int rc = td_archive_read_tar(&a, data, len, &lim, &err);
    td_free(data);
    if (rc) {
        fprintf(stderr, "make_seed_models: %s: %s\n", bundle, err.msg);
        return 1;
    }
    FILE *f = fopen(out, "wb");
    for (int i = 0; f && i < a.n; i++) {
        const td_archive_entry *e = &a.entries[i];
        if (memmem(e->data, e->size, "\n@@ ", 4))
            fprintf(stderr, "make_seed_models: %s holds a \"@@ \" line: the tree splits it\n",
                    e->name);
        fprintf(f, "%s@@ %s\n", i ? "\n" : "", e->name);
        fwrite(e->data, 1, e->size, f);
    }
    td_archive_free(&a);
    return !f || fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--split") == 0) {
        char *data;
        size_t len;
        td_err err;
        if (td_file_read(argv[2], &data, &len, &err)) {
            fprintf(stderr, "make_seed_models: %s\n", err.msg);
            return 1;
        }
        int rc = len < 28 || write_split(argv[3], (const uint8_t *)data, len);
        td_free(data);
        return rc;
    }
    if (argc == 4 && strcmp(argv[1], "--tree") == 0)
        return write_tree(argv[2], argv[3]);
    if (argc != 2) {
        fprintf(stderr, "usage: make_seed_models OUTDIR | --split FILE.tdm OUT | --tree BUNDLE "
                        "OUT\n");
        return 2;
    }
    char path[1024];
    snprintf(path, sizeof(path), "%s/tdm", argv[1]);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/tdm_repair", argv[1]);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/targz", argv[1]);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/public_key", argv[1]);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/secret", argv[1]);
    mkdir(path, 0700);
    int rc = 0;
    for (size_t i = 0; i < sizeof(MODELS) / sizeof(MODELS[0]); i++)
        rc |= one_model(argv[1], &MODELS[i]);
    rc |= write_archives(argv[1]);
    rc |= write_key(argv[1]);
    return rc;
}
