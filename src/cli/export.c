/*
 * export.c - `trackday export DIR|MODEL.tdm --format onnx|deepracer|bundle -o OUT`: packages
 * a trained policy for other runtimes and for cars. onnx: the policy network as an ONNX
 * model; deepracer: the .tar.gz a DeepRacer car loads (model.pb, a frozen TensorFlow graph
 * with DeepRacer's node names, and model_metadata.json); bundle: trackday's signed deployable
 * unit (docs/bundle.md). See docs/cli/export.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "trackday/archive.h"
#include "trackday/bundle.h"
#include "trackday/export.h"
#include "trackday/modeldir.h"
#include "trackday/nn.h"

static const char about[] =
    "Packages a trained policy for other runtimes and for cars. onnx: the policy network as "
    "ONNX (opset 13), inputs named and shaped as a DeepRacer car feeds its model. deepracer: "
    "the .tar.gz a DeepRacer car loads: model.pb (a frozen TensorFlow graph with DeepRacer's "
    "node names) and model_metadata.json; camera (and lidar) models only. bundle: trackday's "
    "signed deployable unit: fp32 and int8 models, model_metadata.json, reference statistics, "
    "health-check cases, a manifest with the SHA-256 of every file, signed with Ed25519.";

/* ---- the model to export -------------------------------------------------------------- */

typedef struct source {
    char model_path[1024];
    char dir[1024]; /* "" when a model file was given */
    td_nn_net nets[TD_NN_MAX_TOWERS];
    int n_nets;
    const td_nn_net *policy;
    json_t *header;
    json_t *metadata;    /* DeepRacer's model_metadata.json (new reference) */
    char *metadata_text; /* the directory's file as it is (td_malloc'd), else NULL */
    size_t metadata_len;
} source;

static void source_free(source *s)
{
    for (int i = 0; i < s->n_nets; i++)
        td_nn_net_free(&s->nets[i]);
    s->n_nets = 0;
    json_decref(s->header);
    json_decref(s->metadata);
    td_free(s->metadata_text);
    s->header = s->metadata = NULL;
    s->metadata_text = NULL;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether a model file's header lists an int8 tensor (nn reads fp32 files only). */
static int header_has_int8(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    int found = 0;
    if (td_file_read(path, &data, &len, NULL) != 0)
        return 0;
    if (len > 24) {
        uint64_t h = 0;
        for (int i = 0; i < 8; i++)
            h |= (uint64_t)(uint8_t)data[16 + i] << (8 * i);
        if (h < len - 24) {
            char *hdr = td_malloc((size_t)h + 1);
            if (hdr) {
                memcpy(hdr, data + 24, (size_t)h);
                hdr[h] = '\0';
                found = strstr(hdr, "\"i8\"") != NULL;
                td_free(hdr);
            }
        }
    }
    td_free(data);
    return found;
}

/*
 * DeepRacer's model_metadata.json rebuilt from a model file's header when the file does not
 * carry the original (files written by `trackday bench` or older tools): the action space as
 * it is, the sensors from the header or the inputs, the network name, the algorithm.
 */
static json_t *metadata_from_header(const json_t *h, const td_nn_tower *t)
{
    json_t *m = json_object();
    const json_t *v;
    if ((v = json_object_get(h, "action_space")))
        json_object_set(m, "action_space", (json_t *)v);
    v = json_object_get(h, "action_space_type");
    json_object_set_new(m, "action_space_type",
                        json_string(json_is_string(v) ? json_string_value(v) : "discrete"));
    v = json_object_get(h, "sensors");
    if (json_is_array(v)) {
        json_object_set(m, "sensor", (json_t *)v);
    } else {
        json_t *s = json_array();
        if (t->camera_h)
            json_array_append_new(
                s, json_string(t->camera_c == 2 ? "STEREO_CAMERAS" : "FRONT_FACING_CAMERA"));
        if (t->lidar_dim)
            json_array_append_new(s, json_string("LIDAR"));
        if (t->state_dim)
            json_array_append_new(s, json_string("STATE"));
        json_object_set_new(m, "sensor", s);
    }
    v = json_object_get(h, "neural_network");
    json_object_set_new(m, "neural_network",
                        json_string(json_is_string(v) ? json_string_value(v)
                                                      : "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"));
    v = json_object_get(h, "training_algorithm");
    json_object_set_new(m, "training_algorithm",
                        json_string(json_is_string(v) ? json_string_value(v) : "clipped_ppo"));
    json_object_set_new(m, "version", json_string("5"));
    return m;
}

static int source_open(source *s, const char *arg, const char *checkpoint)
{
    td_err err;
    memset(s, 0, sizeof(*s));
    if (is_dir(arg)) {
        snprintf(s->dir, sizeof(s->dir), "%s", arg);
        snprintf(s->model_path, sizeof(s->model_path), "%s/model/%s.tdm", arg, checkpoint);
        if (!td_path_exists(s->model_path))
            return td__cli_fail("export: %s has no %s (train it first: trackday train %s)", arg,
                                s->model_path + strlen(arg) + 1, arg);
    } else {
        if (!td_path_exists(arg))
            return td__cli_fail("export: %s: no such model file or directory", arg);
        snprintf(s->model_path, sizeof(s->model_path), "%s", arg);
    }
    if (td_nn_load(s->model_path, s->nets, TD_NN_MAX_TOWERS, &s->n_nets, 1, &s->header, &err) !=
        0) {
        if (header_has_int8(s->model_path))
            return td__cli_fail("export: %s is an int8 model: export the fp32 model it was "
                                "quantized from (its lineage.parent, see trackday model show)",
                                s->model_path);
        return td__cli_fail("export: %s", err.msg);
    }
    for (int i = 0; i < s->n_nets; i++)
        if (!strcmp(s->nets[i].spec.name, "policy"))
            s->policy = &s->nets[i];
    if (!s->policy) {
        source_free(s);
        return td__cli_fail("export: %s has no policy tower", s->model_path);
    }
    /* DeepRacer's model_metadata.json: the directory's file, else the copy in the header. */
    if (s->dir[0]) {
        char p[1100];
        json_error_t je;
        snprintf(p, sizeof(p), "%s/model_metadata.json", s->dir);
        if (td_file_read(p, &s->metadata_text, &s->metadata_len, &err) != 0) {
            source_free(s);
            return td__cli_fail("export: %s", err.msg);
        }
        s->metadata = json_loadb(s->metadata_text, s->metadata_len, 0, &je);
        if (!s->metadata) {
            source_free(s);
            return td__cli_fail("export: %s:%d: %s", p, je.line, je.text);
        }
    } else {
        const json_t *mm = json_object_get(s->header, "model_metadata");
        s->metadata = mm ? json_deep_copy(mm) : metadata_from_header(s->header, &s->policy->spec);
    }
    return 0;
}

/* ---- formats -------------------------------------------------------------------------- */

static void print_io(const td_export_io *io)
{
    for (int i = 0; i < io->n_inputs; i++) {
        printf("input  %s [", io->input_names[i]);
        for (int d = 0; d < io->input_ndim[i]; d++)
            printf("%s%d", d ? ", " : "", io->input_shape[i][d]);
        printf("] float32 (%s%s)\n", io->input_kind[i],
               !strcmp(io->input_kind[i], "camera") ? ": raw 0-255 pixels" : "");
    }
    printf("output %s [1, %d] (%s)\n", io->output_name, io->n_out,
           io->output_probabilities ? "action probabilities" : "action mean in [-1, 1]");
}

static int export_onnx(source *s, const char *out)
{
    td_export_result r;
    td_err err;
    td__cli_status("writing the ONNX graph of %s", s->model_path);
    int grc = td_export_graph(TD_EXPORT_ONNX, s->policy, s->header, &r, &err);
    td__cli_status_done();
    if (grc != 0)
        return td__cli_fail("export: %s", err.msg);
    int rc = td_file_write_atomic(out, r.data, r.len, &err);
    if (!rc) {
        printf("wrote %s (ONNX, %zu bytes) from %s\n", out, r.len, s->model_path);
        print_io(&r.io);
    }
    td_export_result_free(&r);
    return rc ? td__cli_fail("%s", err.msg) : 0;
}

static int export_deepracer(source *s, const char *out)
{
    td_export_result r;
    td_err err;
    td_archive a;
    if (!s->metadata)
        return td__cli_fail("export: %s carries no model_metadata.json; export the model "
                            "directory instead",
                            s->model_path);
    td__cli_status("writing the TensorFlow graph of %s", s->model_path);
    int grc = td_export_graph(TD_EXPORT_TF_GRAPHDEF, s->policy, s->header, &r, &err);
    td__cli_status_done();
    if (grc != 0)
        return td__cli_fail("export: %s", err.msg);
    /* The directory's model_metadata.json goes as it is (the car reads the user's file). */
    char *meta = s->metadata_text
                     ? strdup(s->metadata_text)
                     : json_dumps(s->metadata, JSON_INDENT(4) | JSON_REAL_PRECISION(10));
    td_archive_init(&a);
    int rc = !meta;
    if (!rc)
        rc = td_archive_add(&a, "model.pb", r.data, r.len, &err) ||
             td_archive_add(&a, "model_metadata.json", meta, strlen(meta), &err) ||
             td_archive_write_targz(&a, out, (int64_t)td_time_wall(), &err);
    if (!rc) {
        printf("wrote %s (DeepRacer car model: model.pb %zu bytes, model_metadata.json) from %s\n",
               out, r.len, s->model_path);
        print_io(&r.io);
    }
    free(meta);
    td_archive_free(&a);
    td_export_result_free(&r);
    return rc ? td__cli_fail("export: %s", meta ? err.msg : "out of memory") : 0;
}

typedef struct bundle_args {
    const char *key, *track, *name;
    long laps, train_steps, seed, calibrate;
    int no_int8;
    double budget_ms;
} bundle_args;

static int export_bundle(source *s, const bundle_args *ba, const char *out)
{
    td_bundle_options o;
    td_bundle_report rep;
    td_err err;
    uint8_t sk[TD_SIGN_SECRET_BYTES];
    char track_path[1200], meta_path[1100], name[256];
    const char *track = ba->track;
    td_model_dir md; /* outlives the block below: track may point into it */
    if (!ba->key)
        return td__cli_fail("export: --format bundle needs --key KEY (make one with trackday "
                            "keygen -o KEY)");
    td_bundle_options_default(&o);
    if (s->dir[0]) {
        if (td_model_dir_load(&md, s->dir, &err) != 0)
            return td__cli_fail("export: %s", err.msg);
        o.race = md.training.race;
        if (!track && md.training.world_name[0])
            track = md.training.world_name;
        snprintf(meta_path, sizeof(meta_path), "%s/model_metadata.json", s->dir);
        o.metadata_path = meta_path;
    }
    if (!track) {
        const char *t =
            json_string_value(json_object_get(json_object_get(s->header, "lineage"), "track"));
        track = t ? t : "default";
    }
    if (td__cli_track_path(track, track_path, sizeof(track_path)) != 0)
        return 1;
    if (ba->name) {
        snprintf(name, sizeof(name), "%s", ba->name);
    } else {
        const char *src = s->dir[0] ? s->dir : s->model_path;
        size_t n = strlen(src);
        while (n > 1 && src[n - 1] == '/')
            n--;
        const char *b = src + n;
        while (b > src && b[-1] != '/')
            b--;
        snprintf(name, sizeof(name), "%.*s", (int)(src + n - b), b);
        if (!s->dir[0] && strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".tdm"))
            name[strlen(name) - 4] = '\0';
    }
    if (td_sign_secret_load(ba->key, sk, NULL, &err) != 0)
        return td__cli_fail("export: %s", err.msg);
    o.model_path = s->model_path;
    o.track_path = track_path;
    o.name = name;
    o.secret_key = sk;
    if (ba->laps)
        o.eval_laps = (int)ba->laps;
    if (ba->train_steps)
        o.train_steps = (int)ba->train_steps;
    if (ba->calibrate)
        o.calibrate = (int)ba->calibrate;
    if (ba->budget_ms > 0)
        o.latency_budget_ms = ba->budget_ms;
    o.int8 = !ba->no_int8;
    o.seed = (uint64_t)ba->seed;
    /* A camera model's bundle takes minutes on a loaded machine (the reference drives, the
     * int8 calibration, the health check): the status line says what runs. */
    td__cli_status("building %s: reference laps on %s, int8 calibration, health check", out, track);
    int rc = td_bundle_build(&o, out, &rep, &err);
    td__cli_status_done();
    td_crypto_wipe(sk, sizeof(sk));
    if (rc)
        return td__cli_fail("export: %s", err.msg);
    printf("wrote %s (trackday bundle, %zu bytes, %d files) from %s\n", out, rep.bytes, rep.n_files,
           s->model_path);
    printf("sha256    %s\n", rep.sha256);
    printf("signed    ed25519, key id %s\n", rep.key_id);
    printf("reference %ld evaluation frames (%d of %d laps", rep.eval_frames,
           rep.eval_laps_completed, o.eval_laps);
    if (rep.eval_average_lap_s > 0)
        printf(", average %.2f s", rep.eval_average_lap_s);
    printf("), %ld training frames on %s\n", rep.train_frames, track);
    if (rep.has_int8)
        printf("int8      %s the fp32 model's action on %.1f%% of the evaluation frames\n", "picks",
               100.0 * rep.int8_agreement);
    printf("health    %d reference observations; fp32 %.3g ms%s", rep.health_cases,
           rep.latency_ms[0], rep.has_int8 ? ", " : "");
    if (rep.has_int8)
        printf("int8 %.3g ms", rep.latency_ms[1]);
    printf(" per inference here (budget %.3g ms)\n", o.latency_budget_ms);
    return 0;
}

static int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *format = NULL, *out = NULL, *checkpoint = "best";
    bundle_args ba;
    memset(&ba, 0, sizeof(ba));
    ba.seed = 1;
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR|MODEL.tdm", &in,
                   "a model directory (its model/best.tdm, or model/last.tdm with --checkpoint "
                   "last, with its model_metadata.json) or an fp32 model file"),
        {.name = "--format",
         .kind = TD__CLI_CHOICE,
         .dst = &format,
         .arg = "onnx|deepracer|bundle",
         .required = 1,
         .help = "onnx, deepracer (the car's .tar.gz) or bundle (signed, for trackday's agent)"},
        TD_CLI_REQUIRED_STRING("-o", "--out", &out, "OUT", "the file to write"),
        TD_CLI_OPT_CHECKPOINT(&checkpoint),
        TD_CLI_SECTION("bundle options"),
        TD_CLI_STRING(NULL, "--key", &ba.key, "KEY",
                      "the secret key that signs it (trackday keygen; required)"),
        TD_CLI_STRING(NULL, "--track", &ba.track, "T",
                      "track of the reference runs (default: the directory's WORLD_NAME, else "
                      "the model's training track, else default)"),
        TD_CLI_LONG("--laps", &ba.laps, 1, 16, "N",
                    "evaluation laps of the reference run (default 3; continuous, at most 10 "
                    "resets a lap)"),
        TD_CLI_LONG("--train-steps", &ba.train_steps, 1, 100000, "N",
                    "steps of each of 4 sampled-policy cars (default 300)"),
        TD_CLI_LONG("--calibrate", &ba.calibrate, 1, 100000, "N",
                    "observations calibrating the int8 model (default 256)"),
        TD_CLI_FLAG("--no-int8", &ba.no_int8, "no int8 model"),
        TD_CLI_DOUBLE("--latency-budget-ms", &ba.budget_ms, 0.001, 60000, "X",
                      "the health check's budget per inference (default 66.7, one control step "
                      "at DeepRacer's 15 Hz)"),
        TD_CLI_STRING(NULL, "--name", &ba.name, "NAME",
                      "the model's name in the manifest (default: the directory's)"),
        TD_CLI_OPT_SEED(&ba.seed, "seed of the reference runs (default 1)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "export",
                               .about = about,
                               .opts = opts,
                               .usage = "DIR|MODEL.tdm --format FORMAT -o OUT [options]"};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    source s;
    if (source_open(&s, in, checkpoint) != 0)
        return 1;
    int rc;
    if (!strcmp(format, "onnx"))
        rc = export_onnx(&s, out);
    else if (!strcmp(format, "deepracer"))
        rc = export_deepracer(&s, out);
    else
        rc = export_bundle(&s, &ba, out);
    source_free(&s);
    return rc;
}

TD_CLI_COMMAND("export", "package a model: signed bundle, ONNX, DeepRacer car archive", cmd_export)
