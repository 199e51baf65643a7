/*
 * bundle.c - building model bundles (bundle.h, docs/bundle.md).
 *
 * Building drives the policy on a track twice - DeepRacer's evaluation (greedy, lap times)
 * and sampled-policy episodes as training runs them - and runs every observation through the
 * device runtime (infer/) to summarize inputs, actions, confidence and latency. Those
 * observations then calibrate the int8 model and supply the health check's reference cases.
 * Opening and the health check, all a car needs, are in bundle_read.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trackday/bundle.h"
#include "trackday/eval.h"
#include "trackday/infer.h"
#include "trackday/policy.h"
#include "trackday/summary.h"
#include "trackday/track.h"

#include "eval/bundle_internal.h"

#define P_FP32    "model/model.fp32.tdm"
#define P_INT8    "model/model.int8.tdm"
#define P_META    "model/model_metadata.json"
#define P_REF     "reference/stats.json"
#define P_HEALTH  "health/health.json"
#define P_OBS     "health/observations.bin"
#define MAX_STORE 4096 /* observations kept from the reference runs */

void td_bundle_options_default(td_bundle_options *o)
{
    memset(o, 0, sizeof(*o));
    td_race_config_default(&o->race);
    o->eval_laps = 3;
    o->eval_resets_per_lap = 10;
    o->train_cars = 4;
    o->train_steps = 300;
    o->health_cases = 16;
    o->calibrate = 256;
    o->int8 = 1;
    o->latency_budget_ms = 1000.0 / 15.0;
    o->seed = 1;
}

/* ---- observations of the reference runs ----------------------------------------------- */

typedef struct obs_store {
    size_t cam; /* bytes of a camera frame */
    int lidar, state;
    int n, cap;
    uint8_t *camera;
    float *lidar_v, *state_v;
} obs_store;

static void store_free(obs_store *s)
{
    td_free(s->camera);
    td_free(s->lidar_v);
    td_free(s->state_v);
    memset(s, 0, sizeof(*s));
}

static int store_init(obs_store *s, const td_infer_info *in, int cap)
{
    memset(s, 0, sizeof(*s));
    s->cam = (size_t)in->camera_h * in->camera_w * in->camera_c;
    s->lidar = in->lidar_dim;
    s->state = in->state_dim;
    s->cap = cap;
    s->camera = td_malloc(s->cam * (size_t)cap + 1);
    s->lidar_v = td_malloc(sizeof(float) * ((size_t)s->lidar * cap + 1));
    s->state_v = td_malloc(sizeof(float) * ((size_t)s->state * cap + 1));
    return s->camera && s->lidar_v && s->state_v ? 0 : TD_ENOMEM;
}

static void store_get(const obs_store *s, int i, td_infer_obs *obs)
{
    obs->camera = s->cam ? s->camera + s->cam * (size_t)i : NULL;
    obs->lidar = s->lidar ? s->lidar_v + (size_t)s->lidar * i : NULL;
    obs->state = s->state ? s->state_v + (size_t)s->state * i : NULL;
}

/* Keeps a copy of obs when there is room (the runs below are bounded to fit). */
static void store_add(obs_store *s, const td_infer_obs *obs)
{
    if (s->n >= s->cap)
        return;
    if (s->cam)
        memcpy(s->camera + s->cam * (size_t)s->n, obs->camera, s->cam);
    if (s->lidar)
        memcpy(s->lidar_v + (size_t)s->lidar * s->n, obs->lidar, sizeof(float) * (size_t)s->lidar);
    if (s->state)
        memcpy(s->state_v + (size_t)s->state * s->n, obs->state, sizeof(float) * (size_t)s->state);
    s->n++;
}

/* The observation of car i of a vector env. */
static void env_obs(const td_vecenv *env, int i, const obs_store *s, td_infer_obs *obs)
{
    obs->camera = s->cam ? env->obs_camera + s->cam * (size_t)i : NULL;
    obs->lidar = s->lidar ? env->obs_lidar + (size_t)s->lidar * i : NULL;
    obs->state = s->state ? env->obs_state + (size_t)s->state * i : NULL;
}

/* Runs the model on obs, timing it, and adds the frame to the summary. */
static void observe(td_infer_model *m, td_summary *sum, const td_infer_obs *obs)
{
    double t0 = td_time_now();
    int rc = td_infer_run(m, obs, NULL);
    double ms = (td_time_now() - t0) * 1e3;
    td_summary_add(sum, obs, rc == 0 ? td_infer_output(m) : NULL, ms);
}

/* ---- the reference runs --------------------------------------------------------------- */

typedef struct eval_ctx {
    td_infer_model *m;
    td_summary *sum;
    obs_store *store;
    double last_x, last_y;
    int have_last;
} eval_ctx;

static int eval_hook(void *user, const td_eval_step *st, td_err *err)
{
    eval_ctx *c = user;
    td_infer_obs obs;
    (void)err;
    env_obs(st->env, 0, c->store, &obs);
    observe(c->m, c->sum, &obs);
    store_add(c->store, &obs);
    const td_car_state *car = td_vecenv_car(st->env, 0);
    if (c->have_last)
        c->sum->outcomes.distance_m += hypot(car->x - c->last_x, car->y - c->last_y);
    c->last_x = car->x;
    c->last_y = car->y;
    c->have_last = !st->done;
    return 0;
}

/* DeepRacer's evaluation: the greedy policy drives eval_laps laps from the start line. */
static int run_evaluation(const td_bundle_options *o, td_policy *pol, const td_track *track,
                          td_infer_model *m, td_summary *sum, obs_store *store, td_eval_result *res,
                          td_err *err)
{
    td_eval_options eo;
    eval_ctx c;
    memset(&c, 0, sizeof(c));
    c.m = m;
    c.sum = sum;
    c.store = store;
    td_eval_options_default(&eo);
    /* DeepRacer's continuous evaluation: an off-track costs a penalty and a reset, so even a
     * weak model drives every lap and the reference holds whole laps' observations. */
    eo.continuous = 1;
    eo.laps = o->eval_laps;
    eo.penalties.max_resets = o->eval_resets_per_lap * o->eval_laps; /* a model that cannot drive
                                                               gives up instead of looping */
    eo.race = o->race;
    /* DeepRacer evaluates in the nominal world: the reference's evaluation is what a clean car
     * sees and how fast it laps there (a model trained with domain randomization is evaluated
     * without it; the training summary keeps the randomized looks it learned on). */
    eo.race.enable_domain_randomization = 0;
    eo.seed = o->seed;
    eo.on_step = eval_hook;
    eo.on_step_user = &c;
    int rc = td_evaluate(pol, track, &eo, res, err);
    if (rc)
        return rc;
    for (int i = 0; i < res->laps_completed && i < TD_EVAL_MAX_TRIALS; i++)
        td_summary_add_lap(sum, res->lap_times_s[i]);
    sum->outcomes.episodes += res->laps_requested;
    sum->outcomes.off_tracks += res->events.off_tracks;
    sum->outcomes.crashes += res->events.crashes;
    sum->outcomes.resets += res->events.resets;
    return 0;
}

/*
 * Training's view: cars spread around the lap drive the sampled (not greedy) policy with
 * training's race settings, episodes ending and restarting as in training.
 */
static int run_training(const td_bundle_options *o, td_policy *pol, const td_track *track,
                        td_infer_model *m, td_summary *sum, obs_store *store, td_err *err)
{
    td_sim_config cfg;
    td_vecenv env;
    td_vecenv_buffers buf;
    td_rng rng;
    td_policy_obs pobs;
    int n = o->train_cars, rc;
    td_sim_config_default(&cfg);
    cfg.race = o->race;
    td_policy_sim_sensors(&pol->meta, &cfg);
    cfg.mode = TD_MODE_TRAIN;
    cfg.race.spread_starts = 1; /* the reference covers the lap: cars spread around it */
    cfg.seed = o->seed;
    if ((rc = td_vecenv_init(&env, &cfg, track, n, err)) != 0)
        return rc;
    if ((rc = td_vecenv_buffers_init(&buf, &env, err)) != 0) {
        td_vecenv_free(&env);
        return rc;
    }
    td_vecenv_reset(&env);
    for (int i = 0; i < n; i++)
        td_vecenv_reset_car_at(&env, i, (double)i / n, cfg.race.reverse_dir);
    td_rng_seed(&rng, o->seed, 1000);
    /* Keep every k-th observation so the store holds both runs. */
    int keep = (int)ceil((double)n * o->train_steps / (MAX_STORE / 2.0));
    keep = keep < 1 ? 1 : keep;
    long frame = 0;
    for (int step = 0; step < o->train_steps; step++) {
        td_policy_obs_from_env(&env, 0, &pobs);
        if ((rc = td_policy_act(pol, &pobs, n, 0, &rng, buf.actions, NULL, NULL, NULL)) != 0) {
            td_err_set(err, rc, "bundle: the policy failed to act");
            break;
        }
        for (int i = 0; i < n; i++, frame++) {
            td_infer_obs obs;
            env_obs(&env, i, store, &obs);
            observe(m, sum, &obs);
            if (frame % keep == 0)
                store_add(store, &obs);
        }
        td_vecenv_step(&env);
        for (int i = 0; i < n; i++) {
            if (!buf.dones[i])
                continue;
            const td_episode_info *e = td_vecenv_last_episode(&env, i);
            sum->outcomes.episodes++;
            for (int l = 0; l < e->laps && l < TD_MAX_LAPS; l++)
                td_summary_add_lap(sum, e->lap_times_s[l]);
            sum->outcomes.off_tracks += e->status == TD_EP_OFF_TRACK;
            sum->outcomes.crashes += e->status == TD_EP_CRASHED;
        }
    }
    td_vecenv_buffers_free(&buf);
    td_vecenv_free(&env);
    return rc;
}

/* ---- health cases --------------------------------------------------------------------- */

static void put_f32(uint8_t *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

static void pack_obs(uint8_t *dst, const td_infer_info *in, const td_infer_obs *obs)
{
    size_t cam = (size_t)in->camera_h * in->camera_w * in->camera_c;
    if (cam)
        memcpy(dst, obs->camera, cam);
    for (int i = 0; i < in->lidar_dim; i++)
        put_f32(dst + cam + 4 * (size_t)i, obs->lidar[i]);
    for (int i = 0; i < in->state_dim; i++)
        put_f32(dst + cam + 4 * ((size_t)in->lidar_dim + i), obs->state[i]);
}

/* Median time of running the model on each observation three times (ms). */
static double median_latency(td_infer_model *m, const obs_store *s, const int *idx, int k,
                             double *worst)
{
    double t[3 * 64];
    int n = 0;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < k && n < 3 * 64; i++) {
            td_infer_obs obs;
            store_get(s, idx[i], &obs);
            double t0 = td_time_now();
            td_infer_run(m, &obs, NULL);
            t[n++] = (td_time_now() - t0) * 1e3;
        }
    qsort(t, (size_t)n, sizeof(double), td__bundle_cmp_double);
    if (worst)
        *worst = n ? t[n - 1] : 0;
    return n ? t[n / 2] : 0;
}

/*
 * The tolerance on a model's outputs: fp32 kernels sum in an order that depends on the CPU's
 * vector width, int8 kernels are exact in integers, but their fp32 head and the rounding of
 * activations between layers may differ in the last bit; 1e-3 of the outputs' scale covers
 * both by orders of magnitude and still catches a wrong model or a broken runtime.
 */
static double tolerance_for(const float *outs, int n)
{
    double mx = 1;
    for (int i = 0; i < n; i++)
        mx = fmax(mx, fabs(outs[i]));
    return 1e-3 * mx;
}

/* ---- the deployable fp32 model -------------------------------------------------------- */

/*
 * A training checkpoint holds the value (or Q) towers too; a car needs the policy tower
 * only. Writes it as a model file of its own (every other header key kept, lineage.parent =
 * the checkpoint's SHA-256) and returns its bytes (td_malloc'd).
 */
static int policy_only(const char *model_path, const char *tmp_path, char **out, size_t *out_len,
                       td_err *err)
{
    td_nn_net nets[TD_NN_MAX_TOWERS];
    json_t *hdr = NULL;
    int n = 0, pi = -1;
    uint8_t h[TD_SHA256_BYTES];
    char hex[TD_SHA256_HEX];
    int rc = td_nn_load(model_path, nets, TD_NN_MAX_TOWERS, &n, 1, &hdr, err);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++)
        if (!strcmp(nets[i].spec.name, "policy"))
            pi = i;
    json_t *extras = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(hdr, key, v)
    {
        static const char *skip[] = {"format",   "version", "data_size",
                                     "topology", "inputs",  "tensors"};
        int keep = 1;
        for (size_t k = 0; k < sizeof(skip) / sizeof(skip[0]); k++)
            keep &= strcmp(key, skip[k]) != 0;
        if (keep)
            json_object_set(extras, key, v);
    }
    json_t *lin = json_object_get(hdr, "lineage");
    lin = json_is_object(lin) ? json_deep_copy(lin) : json_object();
    if ((rc = td_sha256_file(model_path, h, NULL, err)) == 0) {
        td_hex_encode(hex, h, sizeof(h));
        json_object_set_new(lin, "parent", json_string(hex));
        json_object_set_new(lin, "extracted", json_string("policy tower of the parent"));
    }
    json_object_set_new(extras, "lineage", lin);
    if (!rc && pi < 0)
        rc = td_err_set(err, TD_EFORMAT, "%s has no policy tower", model_path);
    if (!rc) {
        const td_nn_net *one[1] = {&nets[pi]};
        rc = td_nn_save(tmp_path, one, 1, extras, err);
    }
    if (!rc)
        rc = td_file_read(tmp_path, out, out_len, err);
    remove(tmp_path);
    json_decref(extras);
    json_decref(hdr);
    for (int i = 0; i < n; i++)
        td_nn_net_free(&nets[i]);
    return rc;
}

/* ---- manifest and signature ----------------------------------------------------------- */

static void iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
}

/* Adds a file to the archive and its entry to the manifest's file list. */
static int add_file(td_archive *a, json_t *files, const char *path, const void *data, size_t n,
                    td_err *err)
{
    char hex[TD_SHA256_HEX];
    int rc = td_archive_add(a, path, data, n, err);
    if (rc)
        return rc;
    td_sha256_hex(hex, data, n);
    json_array_append_new(
        files, json_pack("{s:s,s:I,s:s}", "path", path, "size", (json_int_t)n, "sha256", hex));
    return 0;
}

static int add_json_file(td_archive *a, json_t *files, const char *path, const json_t *j,
                         td_err *err)
{
    char *text = dump(j);
    if (!text)
        return td_err_set(err, TD_ENOMEM, "bundle: out of memory");
    int rc = add_file(a, files, path, text, strlen(text), err);
    free(text);
    return rc;
}

/* ---- building ------------------------------------------------------------------------- */

typedef struct cal_ctx {
    const obs_store *s;
    int n;
} cal_ctx;

static int cal_obs(void *ctx, int i, td_infer_obs *obs)
{
    const cal_ctx *c = ctx;
    /* Spread the calibration over everything the runs saw. */
    store_get(c->s, (int)((long)i * c->s->n / c->n), obs);
    return 0;
}

static json_t *outputs_json(const float *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

int td_bundle_build(const td_bundle_options *o, const char *out_path, td_bundle_report *report,
                    td_err *err)
{
    td_bundle_report rep;
    char *model = NULL, *meta_text = NULL;
    size_t model_len = 0, meta_len = 0;
    td_infer_model *m32 = NULL, *m8 = NULL;
    td_infer_err ie;
    td_policy pol;
    td_track track;
    td_summary train_sum, eval_sum;
    obs_store store;
    td_eval_result eres;
    td_archive a;
    json_t *header = NULL, *files = json_array(), *manifest = NULL;
    void *qbuf = NULL;
    size_t qlen = 0;
    uint8_t *obsbin = NULL;
    int rc, have_pol = 0, have_track = 0, idx[64];
    memset(&rep, 0, sizeof(rep));
    memset(&store, 0, sizeof(store));
    memset(&train_sum, 0, sizeof(train_sum));
    memset(&eval_sum, 0, sizeof(eval_sum));
    td_archive_init(&a);
    if (!o->secret_key || !o->model_path || !o->track_path || !out_path) {
        json_decref(files);
        return td_err_set(err, TD_EINVAL, "bundle: model, track, key and output are required");
    }
    if (o->health_cases < 1 || o->health_cases > 64 || o->eval_laps < 1 ||
        o->eval_resets_per_lap < 0 || o->train_cars < 1 || o->train_steps < 1 || o->calibrate < 1 ||
        !(o->latency_budget_ms > 0)) {
        json_decref(files);
        return td_err_set(err, TD_EINVAL, "bundle: an option is out of range");
    }

    /* The model, as infer/ runs it on a car and as the simulator drives it. */
    {
        char tmp[1100];
        snprintf(tmp, sizeof(tmp), "%s.policy.tmp.%ld", out_path, (long)getpid());
        if ((rc = policy_only(o->model_path, tmp, &model, &model_len, err)) != 0)
            goto out;
    }
    if (td_infer_open_buffer(&m32, model, model_len, &ie) != 0) {
        rc = td_err_set(err, TD_EFORMAT, "%s: %s", o->model_path, ie.msg);
        goto out;
    }
    if ((rc = td_policy_load(&pol, o->model_path, o->train_cars, err)) != 0)
        goto out;
    have_pol = 1;
    if ((rc = td_track_load(&track, o->track_path, err)) != 0)
        goto out;
    have_track = 1;
    const td_infer_info *in = td_infer_get_info(m32);
    td_summary_layout lay;
    td_summary_layout_of(&lay, in);
    if ((rc = td_summary_init(&train_sum, &lay, err)) != 0 ||
        (rc = td_summary_init(&eval_sum, &lay, err)) != 0)
        goto out;
    if (store_init(&store, in, MAX_STORE) != 0) {
        rc = td_err_set(err, TD_ENOMEM, "bundle: out of memory for the observations");
        goto out;
    }

    /* 1. Evaluation laps, then training-like episodes. */
    if ((rc = run_evaluation(o, &pol, &track, m32, &eval_sum, &store, &eres, err)) != 0)
        goto out;
    int eval_n = store.n;
    if ((rc = run_training(o, &pol, &track, m32, &train_sum, &store, err)) != 0)
        goto out;
    if (store.n == 0) {
        rc = td_err_set(err, TD_EINTERNAL, "bundle: the reference runs saw no observation");
        goto out;
    }
    rep.eval_frames = (long)eval_sum.frames;
    rep.train_frames = (long)train_sum.frames;
    rep.eval_laps_completed = eres.laps_completed;
    rep.eval_average_lap_s = eres.average_lap_s;

    /* 2. The int8 model, calibrated on what the runs saw. */
    if (o->int8) {
        td_infer_quant_options qo;
        cal_ctx cc = {&store, o->calibrate < store.n ? o->calibrate : store.n};
        char calib[160];
        snprintf(calib, sizeof(calib), "bundle:%s:%d", track.name, cc.n);
        td_infer_quant_options_default(&qo);
        qo.parent = o->model_path;
        qo.calibration = calib;
        if (td_infer_quantize(model, model_len, cal_obs, &cc, cc.n, &qo, &qbuf, &qlen, &ie) != 0 ||
            td_infer_open_buffer(&m8, qbuf, qlen, &ie) != 0) {
            rc = td_err_set(err, TD_EUNSUPPORTED,
                            "bundle: quantizing to int8 failed (%s); leave the int8 model out "
                            "with --no-int8",
                            ie.msg);
            goto out;
        }
        rep.has_int8 = 1;
        /* How often int8 agrees with fp32 on the evaluation's observations. */
        int agree = 0, cnt = eval_n ? eval_n : store.n;
        double worst = 0;
        for (int i = 0; i < cnt; i++) {
            td_infer_obs obs;
            td_infer_action x, y;
            store_get(&store, i, &obs);
            td_infer_run(m32, &obs, &x);
            td_infer_run(m8, &obs, &y);
            if (!in->continuous)
                agree += x.index == y.index;
            else
                worst =
                    fmax(worst, fmax(fabs(x.steering_angle - y.steering_angle) /
                                         (in->steering_high - in->steering_low),
                                     fabs(x.speed - y.speed) / (in->speed_high - in->speed_low)));
        }
        rep.int8_agreement = in->continuous ? 1.0 - worst : (double)agree / cnt;
    }

    /* 3. Health cases: spread over the evaluation (else everything), outputs per model. */
    int k = o->health_cases < store.n ? o->health_cases : store.n;
    int span = eval_n >= k ? eval_n : store.n;
    for (int i = 0; i < k; i++)
        idx[i] = (int)((long)i * span / k + span / (2 * k));
    size_t ob = td__bundle_obs_bytes(in);
    obsbin = td_malloc(ob * (size_t)k + 1);
    if (!obsbin) {
        rc = td_err_set(err, TD_ENOMEM, "bundle: out of memory");
        goto out;
    }
    json_t *health = json_object(), *hmodels = json_object();
    for (int mi = 0; mi < 2; mi++) {
        td_infer_model *mm = mi == 0 ? m32 : m8;
        if (!mm)
            continue;
        json_t *outs = json_array();
        double tol = 0;
        for (int i = 0; i < k; i++) {
            td_infer_obs obs;
            store_get(&store, idx[i], &obs);
            if (mi == 0)
                pack_obs(obsbin + ob * (size_t)i, in, &obs);
            td_infer_run(mm, &obs, NULL);
            const float *y = td_infer_output(mm);
            tol = fmax(tol, tolerance_for(y, in->n_out));
            json_array_append_new(outs, outputs_json(y, in->n_out));
        }
        double worst;
        rep.latency_ms[mi] = median_latency(mm, &store, idx, k, &worst);
        json_object_set_new(hmodels, mi == 0 ? P_FP32 : P_INT8,
                            json_pack("{s:f,s:o,s:f}", "tolerance", tol, "outputs", outs,
                                      "measured_latency_ms", rep.latency_ms[mi]));
    }
    json_object_set_new(health, "format", json_string("trackday-health"));
    json_object_set_new(health, "version", json_integer(1));
    json_object_set_new(health, "cases", json_integer(k));
    json_object_set_new(health, "observations", json_string(P_OBS));
    json_object_set_new(health, "observation_bytes", json_integer((json_int_t)ob));
    json_object_set_new(health, "outputs", json_string("raw head outputs (td_infer_output)"));
    json_object_set_new(health, "latency_budget_ms", json_real(o->latency_budget_ms));
    json_object_set_new(health, "models", hmodels);
    rep.health_cases = k;

    /* 4. Reference statistics. */
    json_t *ref = json_object();
    json_t *tj = td_summary_to_json(&train_sum), *ej = td_summary_to_json(&eval_sum);
    char src[256];
    snprintf(src, sizeof(src),
             "%d cars x %d steps of the sampled policy on %s with training's race settings",
             o->train_cars, o->train_steps, track.name);
    json_object_set_new(tj, "source", json_string(src));
    snprintf(src, sizeof(src),
             "trackday eval --continuous --max-resets %d: %d laps of the greedy policy on %s (lap "
             "times include penalties)",
             o->eval_resets_per_lap * o->eval_laps, o->eval_laps, track.name);
    json_object_set_new(ej, "source", json_string(src));
    json_object_set_new(ref, "format", json_string("trackday-reference"));
    json_object_set_new(ref, "version", json_integer(1));
    json_object_set_new(ref, "track", json_string(track.name));
    json_object_set_new(ref, "training", tj);
    json_object_set_new(ref, "evaluation", ej);

    /* 5. Files, manifest, signature, archive. */
    if (o->metadata_path) {
        if ((rc = td_file_read(o->metadata_path, &meta_text, &meta_len, err)) != 0) {
            json_decref(health);
            json_decref(ref);
            goto out;
        }
    } else {
        json_t *hdr = NULL;
        td_nn_net nets[TD_NN_MAX_TOWERS];
        int nn = 0;
        if (td_nn_load(o->model_path, nets, TD_NN_MAX_TOWERS, &nn, 1, &hdr, NULL) == 0) {
            for (int i = 0; i < nn; i++)
                td_nn_net_free(&nets[i]);
            const json_t *mm = json_object_get(hdr, "model_metadata");
            meta_text = mm ? json_dumps(mm, JSON_INDENT(4)) : NULL;
            meta_len = meta_text ? strlen(meta_text) : 0;
            header = hdr;
        }
        if (!meta_text) {
            json_decref(health);
            json_decref(ref);
            rc = td_err_set(err, TD_EFORMAT, "%s carries no model_metadata.json", o->model_path);
            goto out;
        }
    }
    rc = add_file(&a, files, P_FP32, model, model_len, err);
    if (!rc && qbuf)
        rc = add_file(&a, files, P_INT8, qbuf, qlen, err);
    if (!rc)
        rc = add_file(&a, files, P_META, meta_text, meta_len, err);
    if (!rc)
        rc = add_json_file(&a, files, P_REF, ref, err);
    if (!rc)
        rc = add_json_file(&a, files, P_HEALTH, health, err);
    if (!rc)
        rc = add_file(&a, files, P_OBS, obsbin, ob * (size_t)k, err);
    json_decref(health);
    json_decref(ref);
    if (rc)
        goto out;

    {
        uint8_t pk[TD_SIGN_PUBLIC_BYTES], id_raw[16], sig[TD_SIGN_BYTES];
        char id_hex[33], created[32], fp32_hex[TD_SHA256_HEX], b64[128];
        int64_t now = o->created_unix ? o->created_unix : (int64_t)td_time_wall();
        memcpy(pk, o->secret_key + 32, TD_SIGN_PUBLIC_BYTES); /* Ed25519 secret = seed | pk */
        td_sign_key_id(pk, rep.key_id);
        td_crypto_random(id_raw, sizeof(id_raw));
        td_hex_encode(id_hex, id_raw, sizeof(id_raw));
        iso_time(now, created);
        td_sha256_hex(fp32_hex, model, model_len);
        manifest = json_object();
        json_object_set_new(manifest, "format", json_string("trackday-bundle"));
        json_object_set_new(manifest, "version", json_integer(TD_BUNDLE_FORMAT_VERSION));
        json_object_set_new(manifest, "bundle_id", json_string(id_hex));
        json_object_set_new(manifest, "name", json_string(o->name ? o->name : track.name));
        json_object_set_new(manifest, "created", json_string(created));
        json_object_set_new(manifest, "created_unix", json_integer((json_int_t)now));
        json_object_set_new(manifest, "producer", json_string("trackday 0.1.0"));
        json_t *mj = json_pack("{s:s,s:s}", "sha256", fp32_hex, "source", o->model_path);
        if (!header) {
            td_nn_net nets[TD_NN_MAX_TOWERS];
            int nn = 0;
            if (td_nn_load(o->model_path, nets, TD_NN_MAX_TOWERS, &nn, 1, &header, NULL) == 0)
                for (int i = 0; i < nn; i++)
                    td_nn_net_free(&nets[i]);
        }
        /* The training checkpoint's lineage (run, reward, track, iteration). */
        const json_t *lin = header ? json_object_get(header, "lineage") : NULL;
        if (lin)
            json_object_set(mj, "lineage", (json_t *)lin);
        json_object_set_new(manifest, "model", mj);
        json_t *models = json_object();
        json_object_set_new(models, "fp32", json_string(P_FP32));
        if (qbuf)
            json_object_set_new(models, "int8", json_string(P_INT8));
        json_object_set_new(models, "default", json_string(qbuf ? "int8" : "fp32"));
        json_object_set_new(manifest, "models", models);
        json_object_set_new(manifest, "metadata", json_string(P_META));
        json_object_set_new(manifest, "reference", json_string(P_REF));
        json_object_set_new(manifest, "health", json_string(P_HEALTH));
        json_object_set_new(manifest, "files", files);
        files = NULL;
        json_object_set_new(manifest, "signer",
                            json_pack("{s:s,s:s}", "algorithm", "ed25519", "key_id", rep.key_id));
        char *mtext = dump(manifest);
        if (!mtext) {
            rc = td_err_set(err, TD_ENOMEM, "bundle: out of memory");
            goto out;
        }
        td_sign_detached(sig, mtext, strlen(mtext), o->secret_key);
        /* A signature that does not verify means the secret key is damaged: never write it. */
        if (td_sign_verify(sig, mtext, strlen(mtext), pk) != 0) {
            free(mtext);
            rc = td_err_set(err, TD_EINVAL, "bundle: the secret key does not sign verifiably");
            goto out;
        }
        td_base64_encode(b64, sizeof(b64), sig, sizeof(sig));
        json_t *sj = json_pack("{s:s,s:s,s:s}", "algorithm", "ed25519", "key_id", rep.key_id,
                               "signature", b64);
        char *stext = dump(sj);
        json_decref(sj);
        rc = td_archive_add(&a, MANIFEST, mtext, strlen(mtext), err);
        if (!rc)
            rc = td_archive_add(&a, SIGNATURE, stext, strlen(stext), err);
        free(mtext);
        free(stext);
        if (rc)
            goto out;
        uint8_t *gz = NULL;
        size_t gz_len = 0;
        if ((rc = td_archive_to_tar(&a, &gz, &gz_len, err)) != 0)
            goto out;
        rc = td_file_write_atomic(out_path, gz, gz_len, err);
        td_sha256_hex(rep.sha256, gz, gz_len);
        rep.bytes = gz_len;
        rep.n_files = a.n;
        td_free(gz);
    }
out:
    if (report)
        *report = rep;
    json_decref(files);
    json_decref(manifest);
    json_decref(header);
    td_archive_free(&a);
    td_free(obsbin);
    td_infer_free(qbuf);
    td_infer_close(m8);
    td_infer_close(m32);
    td_free(model);
    if (o->metadata_path)
        td_free(meta_text);
    else
        free(meta_text);
    td_summary_free(&train_sum);
    td_summary_free(&eval_sum);
    store_free(&store);
    if (have_pol)
        td_policy_free(&pol);
    if (have_track)
        td_track_free(&track);
    return rc;
}
