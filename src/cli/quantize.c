/*
 * quantize.c - `trackday quantize MODEL.tdm --calibrate N [--track T | --frames DIR |
 * --random] [-o OUT.tdm]`: turns an fp32 model into an int8 one with the device runtime's
 * quantizer (src/infer/quantize.c), calibrated on N observations: camera frames rendered by
 * the simulator at random poses along a track (the default), frames read from a directory
 * (PNG or raw), or random frames. Lidar and state inputs are calibrated on random values.
 * Afterwards it reports how often the int8 model picks the fp32 model's action.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/infer_cli.h"
#include "trackday/infer.h"
#include "trackday/sensors.h"
#include "trackday/track.h"

/* ---- rendered frames ------------------------------------------------------------------ */

struct td__cli_frames {
    td_track track;
    td_ground_map *ground;
    td_look look;
    td_scene scene;
    td_camera_config cfg;
    int channels;
    uint64_t seed;
};

int td__cli_frames_open(td__cli_frames **out, const char *track, int w, int h, int c, uint64_t seed,
                        td_err *err)
{
    char path[1024];
    *out = NULL;
    if (c != 1 && c != 2)
        return td_err_set(err, TD_EINVAL,
                          "camera with %d channels: only grey (1) or stereo (2) "
                          "frames can be rendered",
                          c);
    if (td__cli_track_path(track, path, sizeof(path)) != 0)
        return td_err_set(err, TD_ENOENT, "track '%s' not found", track);
    td__cli_frames *f = td_calloc(1, sizeof(*f));
    if (!f)
        return td_err_set(err, TD_ENOMEM, "frames");
    int rc = td_track_load(&f->track, path, err);
    if (rc) {
        td_free(f);
        return rc;
    }
    if ((rc = td_ground_map_create(&f->ground, &f->track, 0.01, err)) != 0) {
        td_track_free(&f->track);
        td_free(f);
        return rc;
    }
    td_look_default(&f->look);
    f->scene.track = &f->track;
    f->scene.ground = f->ground;
    f->scene.look = &f->look;
    td_camera_config_default(&f->cfg);
    f->cfg.width = w;
    f->cfg.height = h;
    f->channels = c;
    f->seed = seed;
    *out = f;
    return 0;
}

void td__cli_frames_render(td__cli_frames *f, int i, uint8_t *px)
{
    /* A pose on the road: random arc length, lateral offset within the lanes, heading
     * within +-25 degrees of the track's; deterministic in i. */
    td_rng rng;
    double x, y, heading;
    td_rng_seed(&rng, f->seed, (uint64_t)i + 1);
    double s = td_rng_uniform(&rng) * f->track.length;
    int seg = (int)(s / f->track.length * (f->track.n - 1));
    double half = 0.5 * f->track.width[seg < f->track.n ? seg : f->track.n - 1];
    double lateral = td_rng_range(&rng, -0.8, 0.8) * half;
    td_track_point_at(&f->track, s, lateral, &x, &y, &heading);
    heading += td_rng_range(&rng, -25.0, 25.0) * M_PI / 180.0;
    if (f->channels == 2)
        td_camera_render_stereo(&f->cfg, &f->scene, x, y, heading, px);
    else
        td_camera_render_grey(&f->cfg, &f->scene, x, y, heading, px);
}

void td__cli_frames_close(td__cli_frames *f)
{
    if (!f)
        return;
    td_ground_map_destroy(f->ground);
    td_track_free(&f->track);
    td_free(f);
}

/* ---- observation source --------------------------------------------------------------- */

enum { SRC_RENDER, SRC_DIR, SRC_RANDOM };

typedef struct obs_src {
    const td_infer_info *info;
    int kind;
    td__cli_frames *frames;
    char **files; /* SRC_DIR */
    int n_files;
    uint8_t *camera;
    float *lidar, *state;
    uint64_t seed;
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
    const td_infer_info *in = s->info;
    td_rng rng;
    td_rng_seed(&rng, s->seed ^ 0x9e3779b97f4a7c15ull, (uint64_t)i + 1);
    memset(obs, 0, sizeof(*obs));
    if (in->camera_h) {
        size_t n = (size_t)in->camera_h * in->camera_w * in->camera_c;
        if (s->kind == SRC_RENDER)
            td__cli_frames_render(s->frames, i, s->camera);
        else if (s->kind == SRC_DIR) {
            if (load_frame_file(s, s->files[i % s->n_files]) != 0)
                return -1;
        } else
            for (size_t k = 0; k < n; k++)
                s->camera[k] = (uint8_t)td_rng_below(&rng, 256);
        obs->camera = s->camera;
    }
    for (int k = 0; k < in->lidar_dim; k++)
        s->lidar[k] = (float)td_rng_range(&rng, 0.15, 1.0);
    for (int k = 0; k < in->state_dim; k++)
        s->state[k] = (float)td_rng_normal(&rng);
    obs->lidar = in->lidar_dim ? s->lidar : NULL;
    obs->state = in->state_dim ? s->state : NULL;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(obs_src *s, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int cap = 0;
    if (!d)
        return td__cli_fail("quantize: cannot open directory %s", dir);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 5)
            continue;
        if (strcmp(e->d_name + n - 4, ".png") != 0 && strcmp(e->d_name + n - 4, ".raw") != 0)
            continue;
        if (s->n_files == cap) {
            cap = cap ? 2 * cap : 64;
            char **f = td_malloc((size_t)cap * sizeof(char *));
            if (s->n_files)
                memcpy(f, s->files, (size_t)s->n_files * sizeof(char *));
            td_free(s->files);
            s->files = f;
        }
        size_t len = strlen(dir) + n + 2;
        s->files[s->n_files] = td_malloc(len);
        snprintf(s->files[s->n_files], len, "%s/%s", dir, e->d_name);
        s->n_files++;
    }
    closedir(d);
    if (s->n_files == 0)
        return td__cli_fail("quantize: no .png or .raw frames in %s", dir);
    qsort(s->files, (size_t)s->n_files, sizeof(char *), cmp_str);
    return 0;
}

/* ---- the command ---------------------------------------------------------------------- */

static const char quantize_about[] =
    "Writes an int8 copy of an fp32 model (weights per output channel, activations per "
    "tensor), calibrated on N observations: camera frames rendered at random poses along a "
    "track (default), frames from a directory, or random frames. Lidar and state inputs are "
    "calibrated on random values.";

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
                      "camera frames rendered at random poses along track T (default "
                      "reInvent2019_track)"),
        TD_CLI_STRING(NULL, "--frames", &dir, "DIR",
                      "frames from DIR (*.png of the camera size, or *.raw bytes)"),
        TD_CLI_FLAG("--random", &random_frames, "uniformly random frames"),
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
    if (info->camera_h) {
        src.camera = td_malloc((size_t)info->camera_h * info->camera_w * info->camera_c);
        if (dir) {
            if (list_dir(&src, dir) != 0)
                goto done;
            src.kind = SRC_DIR;
            snprintf(calib, sizeof(calib), "frames:%s:%d", dir, n);
        } else if (!random_frames) {
            if (td__cli_frames_open(&src.frames, track, info->camera_w, info->camera_h,
                                    info->camera_c, (uint64_t)seed, &err) == 0) {
                src.kind = SRC_RENDER;
                snprintf(calib, sizeof(calib), "rendered:%s:%d", track, n);
            } else {
                fprintf(stderr,
                        "trackday: quantize: cannot render frames (%s); calibrating on "
                        "random frames instead\n",
                        err.msg);
            }
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
    if (td_infer_quantize(data, len, next_obs, &src, n, &opt, &qbuf, &qlen, &ie) != 0) {
        if (src.err[0])
            td__cli_fail("quantize: %s", src.err);
        else
            td__cli_fail("quantize: %s", ie.msg);
        goto done;
    }
    double t1 = td_time_now();
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
    double max_mean_diff = 0;
    for (int i = 0; i < n; i++) {
        td_infer_obs obs;
        td_infer_action a, b;
        if (next_obs(&src, i, &obs) != 0)
            break;
        td_infer_run(m, &obs, &a);
        td_infer_run(q, &obs, &b);
        if (!info->continuous) {
            agree += a.index == b.index;
        } else {
            double d = fmax(fabs(a.steering_angle - b.steering_angle) /
                                (info->steering_high - info->steering_low),
                            fabs(a.speed - b.speed) / (info->speed_high - info->speed_low));
            max_mean_diff = fmax(max_mean_diff, d);
        }
    }
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
    td__cli_frames_close(src.frames);
    for (int i = 0; i < src.n_files; i++)
        td_free(src.files[i]);
    td_free(src.files);
    td_free(src.camera);
    td_free(src.lidar);
    td_free(src.state);
    td_infer_close(m);
    td_free(data);
    return rc;
}

TD_CLI_COMMAND("quantize", "write an int8 copy of a model, calibrated on frames", cmd_quantize)
