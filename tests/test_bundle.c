/*
 * test_bundle.c - model bundles (bundle.h, docs/bundle.md) and the summaries they carry
 * (summary.h): a bundle built from a trained model verifies and passes its health check;
 * a bundle with any byte changed, truncated, signed by another key, with a file added,
 * removed or replaced, or of an unknown version is refused with a message naming the
 * problem; a health check whose outputs or latency budget do not hold fails; summaries merge
 * exactly and survive JSON; `trackday keygen`, `export --format bundle` and `verify` from the
 * command line, exit status and messages.
 */
#include <sys/stat.h>

#include "td_test.h"
#include "trackday/archive.h"
#include "trackday/bundle.h"
#include "trackday/modeldir.h"
#include "trackday/policy.h"
#include "trackday/summary.h"

#ifndef TD_TEST_TRACKDAY_BIN
#define TD_TEST_TRACKDAY_BIN "trackday"
#endif

/* ---- summaries ------------------------------------------------------------------------ */

static void layout_camera(td_summary_layout *l)
{
    memset(l, 0, sizeof(*l));
    l->camera_h = 120;
    l->camera_w = 160;
    l->camera_c = 1;
    l->lidar_dim = 64;
    l->n_actions = 5;
}

TD_TEST(summary_camera_features_of_known_frames)
{
    td_summary_layout l;
    td_summary s;
    td_err err;
    layout_camera(&l);
    TD_ASSERT_OK(td_summary_init(&s, &l, &err));
    uint8_t *f = td_malloc(120 * 160);
    float lidar[64], logits[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < 64; i++)
        lidar[i] = i < 8 ? 0.22f : 0.93f;
    /* A flat grey frame: brightness 100, contrast 0, no edges, every cell 100. */
    memset(f, 100, 120 * 160);
    td_infer_obs obs = {f, lidar, NULL};
    td_summary_add(&s, &obs, logits, 0.5);
    const td_hist *h = td_summary_find(&s, "camera.brightness");
    TD_ASSERT(h != NULL);
    TD_ASSERT_EQ(h->counts[100 * 32 / 256], 1);
    TD_ASSERT_NEAR(h->sum, 100, 1e-9);
    TD_ASSERT_NEAR(td_summary_find(&s, "camera.contrast")->sum, 0, 1e-9);
    TD_ASSERT_NEAR(td_summary_find(&s, "camera.edges")->sum, 0, 1e-9);
    TD_ASSERT_NEAR(td_summary_find(&s, "camera.grid.2.3")->sum, 100, 1e-9);
    TD_ASSERT_EQ(td_summary_find(&s, "camera.pixel")->counts[100 / 8], 120 * 160);
    /* Uniform logits: entropy ln 5, top-1 probability 1/5, action 0 (first maximum). */
    TD_ASSERT_NEAR(td_summary_find(&s, "policy.entropy")->sum, log(5.0), 1e-9);
    TD_ASSERT_NEAR(td_summary_find(&s, "policy.top1")->sum, 0.2, 1e-9);
    TD_ASSERT_EQ(td_summary_find(&s, "action")->counts[0], 1);
    /* Lidar: sector 0 holds the 8 values at 0.2, the others 0.9. */
    TD_ASSERT_EQ(td_summary_find(&s, "lidar.sector.0")->counts[4], 8);
    TD_ASSERT_EQ(td_summary_find(&s, "lidar.sector.5")->counts[18], 8);
    TD_ASSERT_EQ(td_summary_find(&s, "latency_ms")->counts[2], 1);
    /* A 1-pixel checkerboard of 0 and 255: every pixel is an edge, contrast 127.5, the top
     * half dark and the bottom half bright in the grid. */
    for (int y = 0; y < 120; y++)
        for (int x = 0; x < 160; x++)
            f[y * 160 + x] = (uint8_t)((x + y) % 2 ? 255 : 0);
    float sure[5] = {0, 20, 0, 0, 0};
    td_summary_add(&s, &obs, sure, -1);
    /* (the bottom-right pixel has no right or lower neighbour) */
    TD_ASSERT_NEAR(td_summary_find(&s, "camera.edges")->max, 19199.0 / 19200.0, 1e-12);
    TD_ASSERT_NEAR(td_summary_find(&s, "camera.contrast")->max, 127.5, 1e-9);
    TD_ASSERT_EQ(td_summary_find(&s, "action")->counts[1], 1);
    TD_ASSERT_NEAR(td_summary_find(&s, "policy.top1")->max, 1.0, 1e-6);
    TD_ASSERT_EQ(td_summary_find(&s, "latency_ms")->total, 1); /* -1: not measured */
    TD_ASSERT_EQ(s.frames, 2);
    td_free(f);
    td_summary_free(&s);
}

static void random_frames(td_summary *s, int n, uint64_t seed)
{
    td_rng rng;
    td_rng_seed(&rng, seed, 3);
    uint8_t *f = td_malloc(120 * 160);
    float lidar[64], logits[5];
    for (int k = 0; k < n; k++) {
        int base = (int)td_rng_below(&rng, 200);
        for (int i = 0; i < 120 * 160; i++)
            f[i] = (uint8_t)(base + (int)td_rng_below(&rng, 56));
        for (int i = 0; i < 64; i++)
            lidar[i] = (float)td_rng_range(&rng, 0.15, 1.0);
        for (int i = 0; i < 5; i++)
            logits[i] = (float)td_rng_range(&rng, -3, 3);
        td_infer_obs obs = {f, lidar, NULL};
        td_summary_add(s, &obs, logits, td_rng_range(&rng, 0, 3));
    }
    td_summary_add_lap(s, 10 + (double)seed);
    s->outcomes.off_tracks += (long)seed;
    td_free(f);
}

TD_TEST(summary_merge_is_exact_and_json_round_trips)
{
    td_summary_layout l;
    td_summary all, a, b, back;
    td_err err;
    layout_camera(&l);
    TD_ASSERT_OK(td_summary_init(&all, &l, &err));
    TD_ASSERT_OK(td_summary_init(&a, &l, &err));
    TD_ASSERT_OK(td_summary_init(&b, &l, &err));
    random_frames(&a, 9, 1);
    random_frames(&b, 6, 2);
    random_frames(&all, 9, 1);
    random_frames(&all, 6, 2);
    TD_ASSERT_OK(td_summary_merge(&a, &b, &err));
    TD_ASSERT_EQ(a.frames, all.frames);
    for (int i = 0; i < a.n_hist; i++) {
        const td_hist *x = &a.hist[i], *y = &all.hist[i];
        TD_ASSERT_STREQ(x->name, y->name);
        for (int k = 0; k < x->n; k++)
            if (x->counts[k] != y->counts[k])
                TD_FAIL("%s bin %d: %llu vs %llu", x->name, k, (unsigned long long)x->counts[k],
                        (unsigned long long)y->counts[k]);
        TD_ASSERT_EQ(x->under, y->under);
        TD_ASSERT_EQ(x->over, y->over);
        TD_ASSERT_EQ(x->total, y->total);
        TD_ASSERT(x->min == y->min && x->max == y->max);
        TD_ASSERT_NEAR(x->sum, y->sum, 1e-9 * fmax(1, fabs(y->sum)));
    }
    TD_ASSERT_EQ(a.outcomes.n_laps, 2);
    TD_ASSERT_EQ(a.outcomes.off_tracks, 3);
    /* JSON and back gives the same JSON. */
    json_t *j = td_summary_to_json(&a);
    TD_ASSERT_OK(td_summary_from_json(&back, j, &err));
    json_t *j2 = td_summary_to_json(&back);
    char *t1 = json_dumps(j, JSON_SORT_KEYS), *t2 = json_dumps(j2, JSON_SORT_KEYS);
    TD_ASSERT_STREQ(t1, t2);
    free(t1);
    free(t2);
    json_decref(j2);
    td_summary_free(&back);
    /* Counts that do not add up, and bins that differ, are refused. */
    json_t *h = json_object_get(json_object_get(j, "histograms"), "camera.brightness");
    json_array_set_new(json_object_get(h, "counts"), 0, json_integer(12345));
    TD_ASSERT_ERR(td_summary_from_json(&back, j, &err), TD_EFORMAT, &err, "add up");
    json_object_set_new(h, "hi", json_real(300));
    TD_ASSERT_ERR(td_summary_from_json(&back, j, &err), TD_EFORMAT, &err, "camera.brightness");
    json_decref(j);
    /* Summaries of different models do not merge. */
    td_summary other;
    l.n_actions = 7;
    TD_ASSERT_OK(td_summary_init(&other, &l, &err));
    TD_ASSERT_ERR(td_summary_merge(&a, &other, &err), TD_EINVAL, &err, "different models");
    td_summary_free(&other);
    td_summary_free(&a);
    td_summary_free(&b);
    td_summary_free(&all);
}

/* ---- building a bundle ---------------------------------------------------------------- */

typedef struct fixture {
    char dir[512], model_dir[600], key[600], pub[600], bundle[600];
    uint8_t sk[TD_SIGN_SECRET_BYTES], pk[TD_SIGN_PUBLIC_BYTES];
} fixture;

/* A model directory from `trackday init` with a freshly initialized policy as best.tdm. */
static void make_model_dir(fixture *fx, const char *sensor)
{
    char cmd[2048], path[1024];
    td_err err;
    TD_FMT(fx->dir, "%s", td_test_tmpdir());
    TD_FMT(fx->model_dir, "%s/car", fx->dir);
    /* The centre-line reward: these tests use the policy, not the reward, and the racing line
     * init computes for a DeepRacer route costs about 12 s under ASan. */
    TD_FMT(cmd,
           "%s init %s --discrete --fast-actions --sensor %s --track reinvent_base --reward "
           "centre-line > /dev/null",
           TD_TEST_TRACKDAY_BIN, fx->model_dir, sensor);
    TD_ASSERT_EQ(system(cmd), 0);
    td_model_dir md;
    TD_ASSERT_OK(td_model_dir_load(&md, fx->model_dir, &err));
    td_policy p;
    td_rng rng;
    td_rng_seed(&rng, 5, 5);
    TD_ASSERT_OK(td_policy_init(&p, &md.metadata, 1, &rng, &err));
    TD_FMT(path, "%s/model", fx->model_dir);
    TD_ASSERT_OK(td_mkdir_p(path, &err));
    TD_FMT(path, "%s/model/best.tdm", fx->model_dir);
    json_t *lin = json_pack("{s:s,s:s}", "run_id", "test-run", "track", "reinvent_base");
    TD_ASSERT_OK(td_policy_save(&p, path, lin, &err));
    json_decref(lin);
    td_policy_free(&p);
    TD_FMT(fx->key, "%s/signing.key", fx->dir);
    TD_FMT(fx->pub, "%s/signing.key.pub", fx->dir);
    TD_ASSERT_OK(td_sign_keypair(fx->pk, fx->sk));
    TD_ASSERT_OK(td_sign_key_write(fx->key, fx->pk, fx->sk, 0, &err));
    TD_FMT(fx->bundle, "%s/car.tdb", fx->dir);
}

static void build(fixture *fx, int laps, int steps, int resets, td_bundle_report *rep)
{
    td_bundle_options o;
    td_err err;
    char model[700], meta[700], track[700];
    TD_FMT(model, "%s/model/best.tdm", fx->model_dir);
    TD_FMT(meta, "%s/model_metadata.json", fx->model_dir);
    TD_FMT(track, "%s/reinvent_base.npy", TD_SHARED_TRACKS);
    td_bundle_options_default(&o);
    o.model_path = model;
    o.metadata_path = meta;
    o.track_path = track;
    o.name = "car";
    o.secret_key = fx->sk;
    o.eval_laps = laps;
    o.eval_resets_per_lap = resets;
    o.train_steps = steps;
    o.train_cars = 2;
    o.calibrate = 64;
    o.health_cases = 8;
    o.seed = 3;
    if (td_bundle_build(&o, fx->bundle, rep, &err) != 0)
        TD_FAIL("%s", err.msg);
}

static uint8_t *read_bundle(const fixture *fx, size_t *len)
{
    char *data;
    td_err err;
    TD_ASSERT_OK(td_file_read(fx->bundle, &data, len, &err));
    return (uint8_t *)data;
}

TD_TEST(state_model_bundle_verifies_and_passes_health)
{
    fixture fx;
    td_bundle_report rep;
    td_err err;
    make_model_dir(&fx, "state");
    build(&fx, 1, 100, 10, &rep);
    TD_ASSERT(rep.has_int8);
    TD_ASSERT_EQ(rep.health_cases, 8);
    TD_ASSERT_EQ(rep.n_files, 8);
    TD_ASSERT_GT(rep.eval_frames, 10);
    TD_ASSERT_EQ(rep.train_frames, 200);
    td_bundle b;
    TD_ASSERT_OK(td_bundle_open_file(&b, fx.bundle, fx.pk, rep.sha256, &err));
    TD_ASSERT_STREQ(b.name, "car");
    TD_ASSERT_EQ(strlen(b.bundle_id), 32);
    /* The model_metadata.json is the directory's, byte for byte. */
    char meta[700];
    TD_FMT(meta, "%s/model_metadata.json", fx.model_dir);
    char *want = td_test_slurp(meta);
    const td_archive_entry *e = td_bundle_file(&b, "model/model_metadata.json");
    TD_ASSERT(e && e->size == strlen(want) && memcmp(e->data, want, e->size) == 0);
    td_free(want);
    /* The fp32 model holds the policy tower only; both models load in infer/. */
    e = td_bundle_file(&b, td_bundle_model_path(&b, "fp32"));
    td_infer_model *m;
    td_infer_err ie;
    TD_ASSERT_OK(td_infer_open_buffer(&m, e->data, e->size, &ie));
    TD_ASSERT_EQ(td_infer_get_info(m)->state_dim, TD_STATE_DIM);
    TD_ASSERT(e->size < 40000); /* policy only: the value tower would add about as much */
    td_infer_close(m);
    /* The reference statistics read back as summaries of this model's layout. */
    e = td_bundle_file(&b, "reference/stats.json");
    json_error_t je;
    json_t *ref = json_loadb((const char *)e->data, e->size, 0, &je);
    TD_ASSERT(ref != NULL);
    td_summary s;
    if (td_summary_from_json(&s, json_object_get(ref, "evaluation"), &err) != 0)
        TD_FAIL("%s", err.msg);
    TD_ASSERT_EQ((long)s.frames, rep.eval_frames);
    TD_ASSERT_EQ(s.layout.state_dim, TD_STATE_DIM);
    TD_ASSERT_EQ(td_summary_find(&s, "action")->total, s.frames);
    td_summary_free(&s);
    TD_ASSERT_OK(td_summary_from_json(&s, json_object_get(ref, "training"), &err));
    TD_ASSERT_EQ((long)s.frames, rep.train_frames);
    td_summary_free(&s);
    json_decref(ref);
    td_bundle_health h;
    TD_ASSERT_OK(td_bundle_health_check(&b, NULL, &h, &err));
    TD_ASSERT_EQ(h.n_models, 2);
    for (int i = 0; i < 2; i++) {
        if (!h.models[i].ok)
            TD_FAIL("%s: %s", h.models[i].path, h.models[i].why);
        TD_ASSERT_EQ(h.models[i].cases_ok, 8);
    }
    TD_ASSERT(h.ok);
    td_bundle_close(&b);
}

TD_TEST(camera_model_bundle_verifies_and_passes_health)
{
    fixture fx;
    td_bundle_report rep;
    td_err err;
    make_model_dir(&fx, "camera");
    build(&fx, 1, 20, 0, &rep); /* a random camera policy: one trial */
    TD_ASSERT(rep.has_int8);
    td_bundle b;
    TD_ASSERT_OK(td_bundle_open_file(&b, fx.bundle, fx.pk, NULL, &err));
    td_bundle_health h;
    TD_ASSERT_OK(td_bundle_health_check(&b, "int8", &h, &err));
    TD_ASSERT_EQ(h.n_models, 1);
    if (!h.ok)
        TD_FAIL("%s", h.models[0].why);
    /* The health observations are camera frames of the track, not blank ones. */
    const td_archive_entry *obs = td_bundle_file(&b, "health/observations.bin");
    TD_ASSERT_EQ(obs->size, 8 * 120 * 160);
    long distinct = 0;
    int seen[256] = {0};
    for (size_t i = 0; i < obs->size; i++)
        distinct += !seen[obs->data[i]]++;
    TD_ASSERT_GT(distinct, 8);
    td_bundle_close(&b);
}

/* ---- refusals ------------------------------------------------------------------------- */

/* Rewrites a bundle's archive through edit (which may change entries) and re-signs the
 * manifest with sk when resign is set. */
typedef void (*edit_fn)(td_archive *a, void *ctx);

static uint8_t *rebuild(const uint8_t *bundle, size_t len, edit_fn edit, void *ctx,
                        const uint8_t *sk, size_t *out_len)
{
    td_archive a, b;
    td_err err;
    TD_ASSERT_OK(td_archive_read_tar(&a, bundle, len, NULL, &err));
    td_archive_init(&b);
    edit(&a, ctx);
    for (int i = 0; i < a.n; i++) {
        if (sk && !strcmp(a.entries[i].name, "manifest.sig")) {
            const td_archive_entry *m = td_archive_find(&a, "manifest.json");
            uint8_t sig[TD_SIGN_BYTES], pk[TD_SIGN_PUBLIC_BYTES];
            char b64[128], id[TD_KEY_ID_LEN], text[512];
            memcpy(pk, sk + 32, 32);
            td_sign_key_id(pk, id);
            td_sign_detached(sig, m->data, m->size, sk);
            td_base64_encode(b64, sizeof(b64), sig, sizeof(sig));
            TD_FMT(text, "{\"algorithm\": \"ed25519\", \"key_id\": \"%s\", \"signature\": \"%s\"}",
                   id, b64);
            TD_ASSERT_OK(td_archive_add(&b, "manifest.sig", text, strlen(text), &err));
            continue;
        }
        TD_ASSERT_OK(
            td_archive_add(&b, a.entries[i].name, a.entries[i].data, a.entries[i].size, &err));
    }
    uint8_t *out;
    TD_ASSERT_OK(td_archive_to_tar(&b, &out, out_len, &err));
    td_archive_free(&a);
    td_archive_free(&b);
    return out;
}

static td_archive_entry *entry(td_archive *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->entries[i].name, name))
            return &a->entries[i];
    TD_FAIL("no entry %s", name);
    return NULL;
}

static void flip_in(td_archive *a, void *ctx)
{
    td_archive_entry *e = entry(a, (const char *)ctx);
    e->data[e->size / 2] ^= 0x40;
}

static void add_extra(td_archive *a, void *ctx)
{
    td_err err;
    (void)ctx;
    TD_ASSERT_OK(td_archive_add(a, "model/extra.so",
                                "\x7f"
                                "ELF",
                                4, &err));
}

static void drop_int8(td_archive *a, void *ctx)
{
    (void)ctx;
    td_archive_entry *e = entry(a, "model/model.int8.tdm");
    td_free(e->data);
    *e = a->entries[a->n - 1];
    a->n--;
}

/* Replaces a manifest value: ctx = "key=json" applied to the top-level object. */
static void set_manifest(td_archive *a, void *ctx)
{
    td_archive_entry *e = entry(a, "manifest.json");
    json_error_t je;
    json_t *m = json_loadb((const char *)e->data, e->size, 0, &je);
    char key[64];
    const char *eq = strchr((const char *)ctx, '=');
    TD_FMT(key, "%.*s", (int)(eq - (const char *)ctx), (const char *)ctx);
    json_object_set_new(m, key, json_loads(eq + 1, JSON_DECODE_ANY, &je));
    char *t = json_dumps(m, JSON_SORT_KEYS);
    td_free(e->data);
    e->size = strlen(t);
    e->data = td_malloc(e->size);
    memcpy(e->data, t, e->size);
    free(t);
    json_decref(m);
}

/* Replaces the health check's recorded outputs of the int8 model by zeros. */
static void zero_health(td_archive *a, void *ctx)
{
    (void)ctx;
    td_archive_entry *h = entry(a, "health/health.json"), *m = entry(a, "manifest.json");
    json_error_t je;
    json_t *hj = json_loadb((const char *)h->data, h->size, 0, &je);
    json_t *outs = json_object_get(
        json_object_get(json_object_get(hj, "models"), "model/model.int8.tdm"), "outputs");
    size_t i;
    json_t *row;
    json_array_foreach(outs, i, row)
    {
        size_t k;
        json_t *v;
        json_array_foreach(row, k, v) json_real_set(v, 0.0);
    }
    char *t = json_dumps(hj, JSON_SORT_KEYS);
    td_free(h->data);
    h->size = strlen(t);
    h->data = td_malloc(h->size);
    memcpy(h->data, t, h->size);
    free(t);
    json_decref(hj);
    /* and the manifest's record of the file, so only the health check can catch it */
    char hex[TD_SHA256_HEX];
    td_sha256_hex(hex, h->data, h->size);
    json_t *mj = json_loadb((const char *)m->data, m->size, 0, &je);
    json_array_foreach(json_object_get(mj, "files"), i, row)
    {
        if (!strcmp(json_string_value(json_object_get(row, "path")), "health/health.json")) {
            json_object_set_new(row, "sha256", json_string(hex));
            json_object_set_new(row, "size", json_integer((json_int_t)h->size));
        }
    }
    t = json_dumps(mj, JSON_SORT_KEYS);
    td_free(m->data);
    m->size = strlen(t);
    m->data = td_malloc(m->size);
    memcpy(m->data, t, m->size);
    free(t);
    json_decref(mj);
}

static void expect_refused(const uint8_t *buf, size_t len, const uint8_t *pk, const char *sha,
                           const char *needle, const char *what)
{
    td_bundle b;
    td_err err;
    int rc = td_bundle_open(&b, buf, len, pk, sha, &err);
    td_bundle_close(&b);
    if (rc == 0)
        TD_FAIL("%s: accepted", what);
    if (needle && !strstr(err.msg, needle))
        TD_FAIL("%s: message \"%s\" lacks \"%s\"", what, err.msg, needle);
}

TD_TEST(tampered_bundles_are_refused)
{
    fixture fx;
    td_bundle_report rep;
    td_err err;
    make_model_dir(&fx, "state");
    build(&fx, 1, 20, 10, &rep);
    size_t len;
    uint8_t *orig = read_bundle(&fx, &len);
    td_bundle b;
    TD_ASSERT_OK(td_bundle_open(&b, orig, len, fx.pk, rep.sha256, &err));
    td_bundle_close(&b);

    /* Any byte changed: bytes of every field of every tar header, of every padding and of the
     * closing blocks, and 300 spread over the file; with and without the expected hash a
     * deployment names. */
    static const int fields[] = {0,   1,   50,  99,  100, 103, 107, 108, 115, 116, 123,
                                 124, 130, 135, 136, 142, 147, 148, 150, 154, 155, 156,
                                 157, 200, 256, 257, 262, 263, 264, 265, 296, 297, 328,
                                 329, 336, 337, 344, 345, 400, 499, 500, 511};
    uint8_t *copy = td_malloc(len);
    td_archive arc;
    TD_ASSERT_OK(td_archive_read_tar(&arc, orig, len, NULL, &err));
    size_t checked = 0;
    for (size_t pos = 0; pos < len; pos++) {
        /* Where pos is: a header (512 bytes), data, padding, or the closing blocks. */
        size_t off = 0;
        int pick = 0;
        for (int i = 0; i < arc.n; i++) {
            size_t data = off + 512, pad = data + arc.entries[i].size;
            size_t end = data + (arc.entries[i].size + 511) / 512 * 512;
            if (pos < data)
                for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
                    pick |= pos - off == (size_t)fields[f];
            else if (pos >= pad && pos < end)
                pick |= pos == pad || pos == end - 1 || pos == (pad + end) / 2;
            if (pos < end)
                break;
            off = end;
        }
        pick |= pos >= off && (pos - off) % 61 == 0; /* the closing zero blocks */
        pick |= pos % (len / 300 + 1) == 0;
        if (!pick)
            continue;
        memcpy(copy, orig, len);
        copy[pos] ^= (uint8_t)(1 + pos % 255);
        char what[64];
        TD_FMT(what, "byte %zu changed", pos);
        expect_refused(copy, len, fx.pk, NULL, NULL, what);
        expect_refused(copy, len, fx.pk, rep.sha256, "SHA-256", what);
        checked++;
    }
    td_archive_free(&arc);
    TD_ASSERT_GT(checked, 8 * 42 + 300);
    /* Truncated downloads, and bytes appended. */
    for (size_t cut = 0; cut < len; cut += len / 37 + 1)
        expect_refused(orig, cut, fx.pk, NULL, NULL, "truncated");
    uint8_t *longer = td_malloc(len + 10);
    memcpy(longer, orig, len);
    memset(longer + len, 0, 10);
    expect_refused(longer, len + 10, fx.pk, NULL, "after the last entry", "appended bytes");
    td_free(longer);

    /* Another key; a valid signature by another key claiming ours. */
    uint8_t pk2[32], sk2[64];
    TD_ASSERT_OK(td_sign_keypair(pk2, sk2));
    expect_refused(orig, len, pk2, NULL, "signed by key", "wrong key");
    size_t l2;
    uint8_t *other = rebuild(orig, len, set_manifest, "name=\"evil\"", sk2, &l2);
    expect_refused(other, l2, fx.pk, NULL, "not by the key given", "re-signed by another key");
    td_free(other);

    /* A file changed after signing, re-packed: its hash is wrong. */
    static const char *files[] = {"model/model.fp32.tdm",      "model/model.int8.tdm",
                                  "model/model_metadata.json", "reference/stats.json",
                                  "health/health.json",        "health/observations.bin"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        other = rebuild(orig, len, flip_in, (void *)files[i], NULL, &l2);
        expect_refused(other, l2, fx.pk, NULL, files[i], files[i]);
        td_free(other);
    }
    /* The manifest changed without the key: the signature fails. */
    other = rebuild(orig, len, set_manifest, "name=\"evil\"", NULL, &l2);
    expect_refused(other, l2, fx.pk, NULL, "signature check failed", "manifest edited");
    td_free(other);
    /* A file added, a file removed. */
    other = rebuild(orig, len, add_extra, NULL, NULL, &l2);
    expect_refused(other, l2, fx.pk, NULL, "not in the manifest", "file added");
    td_free(other);
    other = rebuild(orig, len, drop_int8, NULL, NULL, &l2);
    expect_refused(other, l2, fx.pk, NULL, "missing", "file removed");
    td_free(other);
    /* A later format version, properly signed: refused by version. */
    other = rebuild(orig, len, set_manifest, "version=2", fx.sk, &l2);
    expect_refused(other, l2, fx.pk, NULL, "version 2", "version 2");
    td_free(other);
    td_free(copy);
    td_free(orig);
}

TD_TEST(failing_health_checks_are_reported)
{
    fixture fx;
    td_bundle_report rep;
    td_err err;
    make_model_dir(&fx, "state");
    build(&fx, 1, 20, 10, &rep);
    size_t len, l2;
    uint8_t *orig = read_bundle(&fx, &len);
    /* Wrong recorded outputs for the int8 model, signed by the right key: the bundle opens,
     * the fp32 model passes, the int8 model fails. */
    uint8_t *bad = rebuild(orig, len, zero_health, NULL, fx.sk, &l2);
    td_bundle b;
    TD_ASSERT_OK(td_bundle_open(&b, bad, l2, fx.pk, NULL, &err));
    td_bundle_health h;
    TD_ASSERT_OK(td_bundle_health_check(&b, NULL, &h, &err));
    TD_ASSERT(!h.ok);
    TD_ASSERT(h.models[0].ok);
    TD_ASSERT(!h.models[1].ok);
    TD_ASSERT_CONTAINS(h.models[1].why, "outputs differ");
    td_bundle_close(&b);
    td_free(bad);
    td_free(orig);
    /* A latency budget no model meets. */
    char model[700], meta[700], track[700];
    td_bundle_options o;
    TD_FMT(model, "%s/model/best.tdm", fx.model_dir);
    TD_FMT(meta, "%s/model_metadata.json", fx.model_dir);
    TD_FMT(track, "%s/reinvent_base.npy", TD_SHARED_TRACKS);
    td_bundle_options_default(&o);
    o.model_path = model;
    o.metadata_path = meta;
    o.track_path = track;
    o.secret_key = fx.sk;
    o.eval_laps = 1;
    o.train_steps = 10;
    o.latency_budget_ms = 1e-7;
    TD_ASSERT_OK(td_bundle_build(&o, fx.bundle, NULL, &err));
    TD_ASSERT_OK(td_bundle_open_file(&b, fx.bundle, fx.pk, NULL, &err));
    TD_ASSERT_OK(td_bundle_health_check(&b, "fp32", &h, &err));
    TD_ASSERT(!h.ok);
    TD_ASSERT_CONTAINS(h.models[0].why, "over the budget");
    td_bundle_close(&b);
}

/* ---- the commands --------------------------------------------------------------------- */

TD_TEST(keygen_export_verify_commands)
{
    fixture fx;
    char cmd[4096], *out;
    struct stat st;
    make_model_dir(&fx, "state");
    TD_FMT(cmd, "%s keygen -o %s/k", TD_TEST_TRACKDAY_BIN, fx.dir);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
    TD_ASSERT_CONTAINS(out, "key id ");
    td_free(out);
    TD_FMT(cmd, "%s/k", fx.dir);
    TD_ASSERT_EQ(stat(cmd, &st), 0);
    TD_ASSERT_EQ(st.st_mode & 0777, 0600);
    TD_FMT(cmd, "%s keygen -o %s/k", TD_TEST_TRACKDAY_BIN, fx.dir);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 1);
    TD_ASSERT_CONTAINS(out, "already exists");
    td_free(out);

    TD_FMT(cmd, "%s export %s --format bundle -o %s/c.tdb", TD_TEST_TRACKDAY_BIN, fx.model_dir,
           fx.dir);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 1);
    TD_ASSERT_CONTAINS(out, "--key");
    td_free(out);
    TD_FMT(cmd, "%s export %s --format bundle --key %s/k.pub -o %s/c.tdb", TD_TEST_TRACKDAY_BIN,
           fx.model_dir, fx.dir, fx.dir);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 1);
    TD_ASSERT_CONTAINS(out, "PUBLIC key");
    td_free(out);
    TD_FMT(cmd, "%s export %s --format bundle --key %s/k --laps 1 --train-steps 20 -o %s/c.tdb",
           TD_TEST_TRACKDAY_BIN, fx.model_dir, fx.dir, fx.dir);
    if (td_test_run_merged(cmd, &out) != 0)
        TD_FAIL("%s: %s", cmd, out);
    TD_ASSERT_CONTAINS(out, "wrote ");
    TD_ASSERT_CONTAINS(out, "trackday bundle");
    TD_ASSERT_CONTAINS(out, "signed    ed25519, key id");
    td_free(out);

    TD_FMT(cmd, "%s verify %s/c.tdb --key %s/k.pub", TD_TEST_TRACKDAY_BIN, fx.dir, fx.dir);
    if (td_test_run_merged(cmd, &out) != 0)
        TD_FAIL("%s: %s", cmd, out);
    TD_ASSERT_CONTAINS(out, "signature ed25519 by key");
    TD_ASSERT_CONTAINS(out, "model/model.int8.tdm");
    TD_ASSERT_CONTAINS(out, "\nverified\n");
    td_free(out);
    TD_FMT(cmd, "%s verify %s/c.tdb --key %s/k.pub --json", TD_TEST_TRACKDAY_BIN, fx.dir, fx.dir);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    TD_ASSERT(j != NULL);
    TD_ASSERT(json_is_true(json_object_get(j, "verified")));
    TD_ASSERT_EQ(json_array_size(json_object_get(j, "health")), 2);
    json_decref(j);
    td_free(out);
    /* The wrong key, a wrong expected hash, a secret key given as the public one. */
    TD_FMT(cmd, "%s verify %s/c.tdb --key %s", TD_TEST_TRACKDAY_BIN, fx.dir, fx.pub);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 1);
    TD_ASSERT_CONTAINS(out, "REFUSED");
    TD_ASSERT_CONTAINS(out, "signed by key");
    td_free(out);
    TD_FMT(cmd, "%s verify %s/c.tdb --key %s/k.pub --sha256 %064d", TD_TEST_TRACKDAY_BIN, fx.dir,
           fx.dir, 0);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 1);
    TD_ASSERT_CONTAINS(out, "not the expected");
    td_free(out);
    TD_FMT(cmd, "%s verify %s/c.tdb --key %s/k", TD_TEST_TRACKDAY_BIN, fx.dir, fx.dir);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 1);
    TD_ASSERT_CONTAINS(out, "SECRET");
    td_free(out);
    TD_FMT(cmd, "%s verify %s/c.tdb", TD_TEST_TRACKDAY_BIN, fx.dir);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "trackday verify: missing --key KEY.pub");
    td_free(out);
    TD_FMT(cmd, "%s verify %s/c.tdb --key %s/k.pub --sha256 12", TD_TEST_TRACKDAY_BIN, fx.dir,
           fx.dir);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "--sha256 needs 64 lowercase hex digits (got '12')");
    td_free(out);
    TD_FMT(cmd, "%s keygen", TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_EQ(td_test_run_merged(cmd, &out), 2);
    TD_ASSERT_CONTAINS(out, "trackday keygen: missing --out KEY");
    td_free(out);
}
