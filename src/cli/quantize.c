/*
 * quantize.c - `trackday quantize MODEL.tdm --calibrate N [--track T | --frames DIR |
 * --random] [-o OUT.tdm]`: turns an fp32 model into an int8 one with the device runtime's
 * quantizer (src/infer/quantize.c), calibrated on N observations: what the model's own sensors
 * (camera, stereo, lidar, state) see from a car at random poses along a track (the default,
 * td_obs_sampler), camera frames read from a directory (PNG or raw), or random values.
 * Afterwards it reports how often the int8 model picks the fp32 model's action.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "trackday/infer.h"
#include "trackday/policy.h"
#include "trackday/sim.h"
#include "trackday/track.h"

/* ---- observation source --------------------------------------------------------------- */

enum { SRC_SIM, SRC_DIR, SRC_RANDOM };

typedef struct obs_src {
    const td_infer_info *info;
    int kind;
    td_track track; /* SRC_SIM */
    int have_sampler;
    td_obs_sampler sampler;
    char **files; /* SRC_DIR */
    int n_files;
    uint8_t *camera;
    float *lidar, *state;
    uint64_t seed;
    const char *phase; /* what the observations are for, in the status line */
    int n;             /* observations per pass */
    char err[TD_ERR_MSG_LEN];
} obs_src;

static int load_frame_file(obs_src *s, const char *path)
{
    size_t need = (size_t)s->info->camera_h * s->info->camera_w * s->info->camera_c;
    size_t n = strlen(path);
    td_err err;
    if (n > 4 && strcmp(path + n - 4, ".png") == 0) {
        uint8_t *px = NULL;
        int w, h, c;
        if (td_png_read(path, &px, &w, &h, &c, &err) != 0) {
            snprintf(s->err, sizeof(s->err), "%s", err.msg);
            return -1;
        }
        if (w != s->info->camera_w || h != s->info->camera_h || c != s->info->camera_c) {
            snprintf(s->err, sizeof(s->err), "%s: %dx%dx%d, the model takes %dx%dx%d", path, w, h,
                     c, s->info->camera_w, s->info->camera_h, s->info->camera_c);
            td_free(px);
            return -1;
        }
        memcpy(s->camera, px, need);
        td_free(px);
        return 0;
    }
    char *data = NULL;
    size_t len = 0;
    if (td_file_read(path, &data, &len, &err) != 0) {
        snprintf(s->err, sizeof(s->err), "%s", err.msg);
        return -1;
    }
    if (len != need) {
        snprintf(s->err, sizeof(s->err), "%s: %zu bytes, a raw frame of this model has %zu", path,
                 len, need);
        td_free(data);
        return -1;
    }
    memcpy(s->camera, data, need);
    td_free(data);
    return 0;
}

static int next_obs(void *ctx, int i, td_infer_obs *obs)
{
    obs_src *s = ctx;
    td__cli_status("quantize: %s: observation %d of %d", s->phase, i + 1, s->n);
    const td_infer_info *in = s->info;
    td_rng rng;
    td_rng_seed(&rng, s->seed ^ 0x9e3779b97f4a7c15ull, (uint64_t)i + 1);
    memset(obs, 0, sizeof(*obs));
    td_sim_obs so = {NULL, NULL, NULL};
    if (s->kind == SRC_SIM)
        td_obs_sampler_draw(&s->sampler, i, &so);
    if (in->camera_h) {
        size_t n = (size_t)in->camera_h * in->camera_w * in->camera_c;
        if (so.camera)
            memcpy(s->camera, so.camera, n);
        else if (s->kind == SRC_DIR) {
            if (load_frame_file(s, s->files[i % s->n_files]) != 0)
                return -1;
        } else
            for (size_t k = 0; k < n; k++)
                s->camera[k] = (uint8_t)td_rng_below(&rng, 256);
        obs->camera = s->camera;
    }
    /* Lidar and state: the simulator's when it computes them, else random values. */
    for (int k = 0; k < in->lidar_dim; k++)
        s->lidar[k] = so.lidar ? so.lidar[k] : (float)td_rng_range(&rng, 0.15, 1.0);
    for (int k = 0; k < in->state_dim; k++)
        s->state[k] = so.state ? so.state[k] : (float)td_rng_normal(&rng);
    obs->lidar = in->lidar_dim ? s->lidar : NULL;
    obs->state = in->state_dim ? s->state : NULL;
    return 0;
}

static int is_frame(const char *name, void *user)
{
    (void)user;
    return strlen(name) > 4 && (td_str_ends_with(name, ".png") || td_str_ends_with(name, ".raw"));
}

static int list_dir(obs_src *s, const char *dir)
{
    td_err err;
    if (td_dir_list(dir, TD_DIR_FILES | TD_DIR_PATHS, is_frame, NULL, &s->files, &s->n_files, &err))
        return td__cli_fail("quantize: %s", err.msg);
    if (s->n_files == 0)
        return td__cli_fail("quantize: no .png or .raw frames in %s", dir);
    return 0;
}

/* ---- the command ---------------------------------------------------------------------- */

/*
 * The simulator configured with the model's sensors (from the model_metadata in its header,
 * else a camera of the model's size alone), on the calibration track.
 */
static int open_sampler(obs_src *s, const char *model_path, const char *track, uint64_t seed,
                        td_err *err)
{
    const td_infer_info *in = s->info;
    td_sim_config cfg;
    td_policy p;
    char path[4096];
    td_sim_config_default(&cfg);
    if (td_policy_load(&p, model_path, 1, NULL) == 0) {
        td_policy_sim_sensors(&p.meta, &cfg);
        td_policy_free(&p);
    } else if (in->camera_h && !in->lidar_dim && !in->state_dim) {
        cfg.sensors = in->camera_c == 2 ? TD_SENSOR_STEREO : TD_SENSOR_CAMERA;
    } else {
        return td_err_set(err, TD_EUNSUPPORTED, "%s has no model_metadata", model_path);
    }
    if (in->camera_h) {
        cfg.camera.width = in->camera_w;
        cfg.camera.height = in->camera_h;
    }
    if (in->lidar_dim && td_vecenv_lidar_dim(&cfg) != in->lidar_dim)
        return td_err_set(err, TD_EUNSUPPORTED, "the lidar gives %d values, the model takes %d",
                          td_vecenv_lidar_dim(&cfg), in->lidar_dim);
    if (td__cli_track_path(track, path, sizeof(path)) != 0)
        return td_err_set(err, TD_ENOENT, "track '%s' not found", track);
    int rc = td_track_load(&s->track, path, err);
    if (rc)
        return rc;
    rc = td_obs_sampler_init(&s->sampler, &cfg, &s->track, seed, err);
    if (rc) {
        td_track_free(&s->track);
        return rc;
    }
    s->have_sampler = 1;
    return 0;
}

static const char quantize_about[] =
    "Writes an int8 copy of an fp32 model (weights per output channel, activations per "
    "tensor), calibrated on N observations: by default what the model's own sensors (camera, "
    "stereo, lidar, state) see from a car at random poses along a track; else camera frames "
    "from a directory, or random values.";

static int parse_percentile(const char *opt, const char *v, void *dst)
{
    char *end;
    double p = strtod(v, &end);
    if (end == v || *end || !(p == 0 || (p > 50 && p <= 100)))
        return td__cli_usage_error("%s: '%s' must be 0 or in (50, 100]", opt, v);
    *(double *)dst = p;
    return 0;
}

static int cmd_quantize(int argc, char **argv)
{
    const char *in_path = NULL, *out_path = NULL, *track = "reInvent2019_track", *dir = NULL;
    int n = 0, random_frames = 0;
    long seed = 1;
    double percentile = 0.0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("MODEL.tdm", &in_path, "an fp32 model file"),
        {.name = "--calibrate",
         .kind = TD__CLI_INT,
         .dst = &n,
         .lo = 1,
         .hi = 1000000,
         .arg = "N",
         .required = 1,
         .help = "calibrate on N observations"},
        TD_CLI_STRING(NULL, "--track", &track, "T",
                      "the sensors of a car at random poses along track T (default "
                      "reInvent2019_track)"),
        TD_CLI_STRING(NULL, "--frames", &dir, "DIR",
                      "frames from DIR (*.png of the camera size, or *.raw bytes)"),
        TD_CLI_FLAG("--random", &random_frames, "uniformly random values"),
        TD_CLI_CUSTOM("--percentile", &percentile, parse_percentile, "P",
                      "activation range: 0 = least squared error (default), 100 = min/max, else "
                      "that percentile of the calibration values"),
        TD_CLI_OPT_SEED(&seed, "random seed (default 1)"),
        TD_CLI_STRING("-o", "--out", &out_path, "OUT.tdm", "output file (default MODEL.int8.tdm)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "quantize", .about = quantize_about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (dir && random_frames)
        return td__cli_fail("quantize: --frames and --random exclude each other");

    char default_out[1024];
    if (!out_path) {
        size_t l = strlen(in_path);
        if (l > 4 && strcmp(in_path + l - 4, ".tdm") == 0)
            snprintf(default_out, sizeof(default_out), "%.*s.int8.tdm", (int)(l - 4), in_path);
        else
            snprintf(default_out, sizeof(default_out), "%s.int8.tdm", in_path);
        out_path = default_out;
    }

    char *data = NULL;
    size_t len = 0;
    td_err err;
    if (td_file_read(in_path, &data, &len, &err) != 0)
        return td__cli_fail("%s", err.msg);
    td_infer_model *m = NULL;
    td_infer_err ie;
    if (td_infer_open_buffer(&m, data, len, &ie) != 0) {
        td_free(data);
        return td__cli_fail("%s: %s", in_path, ie.msg);
    }
    const td_infer_info *info = td_infer_get_info(m);
    obs_src src;
    memset(&src, 0, sizeof(src));
    src.info = info;
    src.seed = (uint64_t)seed;
    src.kind = SRC_RANDOM;
    char calib[256];
    int rc = 1;
    if (info->camera_h)
        src.camera = td_malloc((size_t)info->camera_h * info->camera_w * info->camera_c);
    if (dir) {
        if (!info->camera_h) {
            td__cli_fail("quantize: --frames: %s has no camera", in_path);
            goto done;
        }
        if (list_dir(&src, dir) != 0)
            goto done;
        src.kind = SRC_DIR;
        snprintf(calib, sizeof(calib), "frames:%s:%d", dir, n);
    } else if (!random_frames) {
        if (open_sampler(&src, in_path, track, (uint64_t)seed, &err) == 0) {
            src.kind = SRC_SIM;
            snprintf(calib, sizeof(calib), "simulated:%s:%d", track, n);
        } else {
            fprintf(stderr,
                    "trackday: quantize: cannot simulate the sensors (%s); calibrating on "
                    "random values instead\n",
                    err.msg);
        }
    }
    if (src.kind == SRC_RANDOM)
        snprintf(calib, sizeof(calib), "random:%d", n);
    src.lidar = td_malloc(sizeof(float) * (size_t)(info->lidar_dim + 1));
    src.state = td_malloc(sizeof(float) * (size_t)(info->state_dim + 1));

    td_infer_quant_options opt;
    td_infer_quant_options_default(&opt);
    opt.percentile = percentile;
    opt.parent = in_path;
    opt.calibration = calib;
    void *qbuf = NULL;
    size_t qlen = 0;
    double t0 = td_time_now();
    src.phase = "calibrating";
    src.n = n;
    if (td_infer_quantize(data, len, next_obs, &src, n, &opt, &qbuf, &qlen, &ie) != 0) {
        if (src.err[0])
            td__cli_fail("quantize: %s", src.err);
        else
            td__cli_fail("quantize: %s", ie.msg);
        goto done;
    }
    double t1 = td_time_now();
    td__cli_status_done();
    if (td_file_write_atomic(out_path, qbuf, qlen, &err) != 0) {
        td_infer_free(qbuf);
        td__cli_fail("%s", err.msg);
        goto done;
    }
    /* How often does the int8 model choose the fp32 model's action? */
    td_infer_model *q = NULL;
    if (td_infer_open_buffer(&q, qbuf, qlen, &ie) != 0) {
        td_infer_free(qbuf);
        td__cli_fail("quantize: the written model does not load: %s", ie.msg);
        goto done;
    }
    int agree = 0;
    src.phase = "comparing the int8 and fp32 models";
    double max_mean_diff = 0;
    for (int i = 0; i < n; i++) {
        td_infer_obs obs;
        td_infer_action a, b;
        if (next_obs(&src, i, &obs) != 0)
            break;
        int ra = td_infer_run(m, &obs, &a), rb = td_infer_run(q, &obs, &b);
        if (ra || rb) {
            td_infer_close(q);
            td_infer_free(qbuf);
            td__cli_fail("quantize: observation %d: %s", i, td_infer_strerror(ra ? ra : rb));
            goto done;
        }
        if (!info->continuous) {
            agree += a.index == b.index;
        } else {
            double d = fmax(fabs(a.steering_angle - b.steering_angle) /
                                (info->steering_high - info->steering_low),
                            fabs(a.speed - b.speed) / (info->speed_high - info->speed_low));
            max_mean_diff = fmax(max_mean_diff, d);
        }
    }
    td__cli_status_done();
    printf("wrote %s (%zu bytes, %d of %d layers int8; fp32 model %zu bytes)\n", out_path, qlen,
           td_infer_get_info(q)->n_int8_layers, info->n_layers, len);
    printf("calibration: %s, range %s, %.2f s\n", calib,
           percentile == 0     ? "least squared error"
           : percentile == 100 ? "min/max"
                               : "percentile",
           t1 - t0);
    if (!info->continuous)
        printf("int8 picks the fp32 action on %d of %d calibration observations (%.1f%%)\n", agree,
               n, 100.0 * agree / n);
    else
        printf("largest int8 - fp32 action difference on the calibration observations: %.2f%% "
               "of the range\n",
               100.0 * max_mean_diff);
    td_infer_close(q);
    td_infer_free(qbuf);
    rc = 0;
done:
    if (src.have_sampler) {
        td_obs_sampler_free(&src.sampler);
        td_track_free(&src.track);
    }
    td_dir_list_free(src.files, src.n_files);
    td_free(src.camera);
    td_free(src.lidar);
    td_free(src.state);
    td_infer_close(m);
    td_free(data);
    return rc;
}

TD_CLI_COMMAND("quantize", "write an int8 copy of a model, calibrated on what its sensors see",
               cmd_quantize)
