/*
 * bundle_read.c - opening and health-checking model bundles (bundle.h, docs/bundle.md): all a
 * car needs of them (the car-only build, trackday-car, links this file and not bundle.c,
 * which builds bundles by driving the simulator). Opening checks the signature before
 * anything of the manifest is believed, then every file against the manifest's sizes and
 * hashes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/bundle.h"
#include "trackday/infer.h"

#include "eval/bundle_internal.h"

/* ---- health cases --------------------------------------------------------------------- */

/* Bytes of one observation in health/observations.bin: camera, then lidar, then state. */
size_t td__bundle_obs_bytes(const td_infer_info *in)
{
    return (size_t)in->camera_h * in->camera_w * in->camera_c +
           4 * ((size_t)in->lidar_dim + (size_t)in->state_dim);
}

static float get_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* Unpacks case k into caller buffers (lidar and state floats). */
static void unpack_obs(const uint8_t *src, const td_infer_info *in, float *lidar, float *state,
                       td_infer_obs *obs)
{
    size_t cam = (size_t)in->camera_h * in->camera_w * in->camera_c;
    for (int i = 0; i < in->lidar_dim; i++)
        lidar[i] = get_f32(src + cam + 4 * (size_t)i);
    for (int i = 0; i < in->state_dim; i++)
        state[i] = get_f32(src + cam + 4 * ((size_t)in->lidar_dim + i));
    obs->camera = cam ? src : NULL;
    obs->lidar = in->lidar_dim ? lidar : NULL;
    obs->state = in->state_dim ? state : NULL;
}

int td__bundle_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- opening -------------------------------------------------------------------------- */

void td_bundle_close(td_bundle *b)
{
    if (!b)
        return;
    td_archive_free(&b->files);
    json_decref(b->manifest);
    memset(b, 0, sizeof(*b));
}

static const char *str_or_empty(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int td_bundle_open(td_bundle *b, const void *buf, size_t len,
                   const uint8_t pk[TD_SIGN_PUBLIC_BYTES], const char *expected_sha256, td_err *err)
{
    td_archive_limits lim;
    json_error_t je;
    int rc;
    memset(b, 0, sizeof(*b));
    td_sha256_hex(b->sha256, buf, len);
    if (expected_sha256 && strcmp(expected_sha256, b->sha256) != 0)
        return td_err_set(err, TD_ECHECKSUM,
                          "the bundle's SHA-256 is %s, not the expected %.64s (damaged or "
                          "replaced in transit)",
                          b->sha256, expected_sha256);
    td_archive_limits_default(&lim);
    lim.max_entries = 32;
    if ((rc = td_archive_read_tar(&b->files, buf, len, &lim, err)) != 0)
        return rc;

    /* The signature first: nothing of the manifest is believed before it verifies. */
    const td_archive_entry *me = td_archive_find(&b->files, MANIFEST);
    const td_archive_entry *se = td_archive_find(&b->files, SIGNATURE);
    if (!me || !se)
        return td_err_set(err, TD_EFORMAT, "not a trackday bundle: no %s",
                          !me ? MANIFEST : SIGNATURE);
    if (se->size > 4096)
        return td_err_set(err, TD_EFORMAT, "%s is too large", SIGNATURE);
    json_t *sj = json_loadb((const char *)se->data, se->size, 0, &je);
    const char *alg = json_string_value(json_object_get(sj, "algorithm"));
    const char *kid = json_string_value(json_object_get(sj, "key_id"));
    const char *sig64 = json_string_value(json_object_get(sj, "signature"));
    char want[TD_KEY_ID_LEN];
    uint8_t sig[TD_SIGN_BYTES];
    size_t sl = 0;
    td_sign_key_id(pk, want);
    if (!sj || !alg || !kid || !sig64) {
        rc = td_err_set(err, TD_EFORMAT, "%s is not a signature record", SIGNATURE);
    } else if (strcmp(alg, "ed25519") != 0) {
        rc = td_err_set(err, TD_EUNSUPPORTED, "signature algorithm '%.32s' is not supported", alg);
    } else if (strcmp(kid, want) != 0) {
        rc = td_err_set(err, TD_ECHECKSUM,
                        "the bundle is signed by key %.32s, not by the key given (%s): wrong key, "
                        "or a bundle from someone else",
                        kid, want);
    } else if (td_base64_decode(sig, sizeof(sig), &sl, sig64, strlen(sig64)) != 0 ||
               sl != TD_SIGN_BYTES) {
        rc = td_err_set(err, TD_EFORMAT, "%s: the signature is not %d bytes of base64", SIGNATURE,
                        TD_SIGN_BYTES);
    } else if (td_sign_verify(sig, me->data, me->size, pk) != 0) {
        rc = td_err_set(err, TD_ECHECKSUM,
                        "signature check failed: %s was changed after it was signed", MANIFEST);
    }
    json_decref(sj);
    if (rc)
        return rc;
    memcpy(b->key_id, want, sizeof(want));

    /* The manifest (authentic now), then every file against it. */
    b->manifest = json_loadb((const char *)me->data, me->size, 0, &je);
    json_t *m = b->manifest;
    if (!json_is_object(m))
        return td_err_set(err, TD_EFORMAT, "%s: not JSON (line %d: %s)", MANIFEST, je.line,
                          je.text);
    const char *fmt = json_string_value(json_object_get(m, "format"));
    if (!fmt || strcmp(fmt, "trackday-bundle") != 0)
        return td_err_set(err, TD_EFORMAT, "%s: format is not \"trackday-bundle\"", MANIFEST);
    json_int_t ver = json_integer_value(json_object_get(m, "version"));
    if (ver != TD_BUNDLE_FORMAT_VERSION)
        return td_err_set(err, TD_EVERSION,
                          "bundle format version %lld is not supported (this trackday reads %d)",
                          (long long)ver, TD_BUNDLE_FORMAT_VERSION);
    const json_t *files = json_object_get(m, "files");
    if (!json_is_array(files) || json_array_size(files) == 0)
        return td_err_set(err, TD_EFORMAT, "%s: no \"files\" list", MANIFEST);
    size_t i;
    const json_t *f;
    json_array_foreach(files, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *hex = json_string_value(json_object_get(f, "sha256"));
        const json_t *size = json_object_get(f, "size");
        if (!path || !is_hex(hex, 64) || !json_is_integer(size))
            return td_err_set(err, TD_EFORMAT, "%s: file entry %zu needs path, size and sha256",
                              MANIFEST, i);
        const td_archive_entry *e = td_archive_find(&b->files, path);
        if (!e)
            return td_err_set(err, TD_EFORMAT, "%.100s is listed in the manifest but missing",
                              path);
        if ((json_int_t)e->size != json_integer_value(size))
            return td_err_set(err, TD_ECHECKSUM,
                              "%.100s has %zu bytes, the manifest says %lld (truncated or "
                              "replaced)",
                              path, e->size, (long long)json_integer_value(size));
        char got[TD_SHA256_HEX];
        td_sha256_hex(got, e->data, e->size);
        if (strcmp(got, hex) != 0)
            return td_err_set(err, TD_ECHECKSUM,
                              "%.100s: SHA-256 %s differs from the manifest's %s (the file was "
                              "changed)",
                              path, got, hex);
    }
    for (int k = 0; k < b->files.n; k++) {
        const char *name = b->files.entries[k].name;
        int listed = !strcmp(name, MANIFEST) || !strcmp(name, SIGNATURE);
        json_array_foreach(files, i, f)
        {
            const char *path = json_string_value(json_object_get(f, "path"));
            listed |= path && !strcmp(path, name);
        }
        if (!listed)
            return td_err_set(err, TD_EFORMAT, "%.100s is in the bundle but not in the manifest",
                              name);
    }
    /* The paths the manifest points to must be among its files. */
    static const char *refs[] = {"metadata", "reference", "health"};
    for (size_t r = 0; r < sizeof(refs) / sizeof(refs[0]); r++) {
        const char *p = json_string_value(json_object_get(m, refs[r]));
        if (!p || !td_archive_find(&b->files, p))
            return td_err_set(err, TD_EFORMAT, "%s: \"%s\" does not name a file of the bundle",
                              MANIFEST, refs[r]);
    }
    const char *fp = td_bundle_model_path(b, "fp32");
    if (!fp || !td_archive_find(&b->files, fp))
        return td_err_set(err, TD_EFORMAT, "%s: models.fp32 does not name a file of the bundle",
                          MANIFEST);
    const char *q = td_bundle_model_path(b, "int8");
    if (q && !td_archive_find(&b->files, q))
        return td_err_set(err, TD_EFORMAT, "%s: models.int8 does not name a file of the bundle",
                          MANIFEST);
    snprintf(b->bundle_id, sizeof(b->bundle_id), "%s", str_or_empty(m, "bundle_id"));
    snprintf(b->name, sizeof(b->name), "%s", str_or_empty(m, "name"));
    snprintf(b->created, sizeof(b->created), "%s", str_or_empty(m, "created"));
    b->created_unix = (int64_t)json_integer_value(json_object_get(m, "created_unix"));
    return 0;
}

int td_bundle_open_file(td_bundle *b, const char *path, const uint8_t pk[TD_SIGN_PUBLIC_BYTES],
                        const char *expected_sha256, td_err *err)
{
    char *data = NULL;
    size_t len = 0;
    memset(b, 0, sizeof(*b));
    int rc = td_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    rc = td_bundle_open(b, data, len, pk, expected_sha256, err);
    td_free(data);
    if (rc)
        td_err_prefix(err, rc, "%s: ", path);
    return rc;
}

const td_archive_entry *td_bundle_file(const td_bundle *b, const char *path)
{
    return path ? td_archive_find(&b->files, path) : NULL;
}

const char *td_bundle_model_path(const td_bundle *b, const char *which)
{
    const json_t *models = json_object_get(b->manifest, "models");
    return json_string_value(json_object_get(models, which));
}

/* ---- health check --------------------------------------------------------------------- */

static void check_model(const td_bundle *b, const json_t *hj, const char *path,
                        const td_archive_entry *obsf, int k, size_t ob, double budget,
                        td_bundle_model_health *r)
{
    const json_t *mj = json_object_get(json_object_get(hj, "models"), path);
    const json_t *outs = json_object_get(mj, "outputs");
    const td_archive_entry *e = td_bundle_file(b, path);
    td_infer_model *m = NULL;
    td_infer_err ie;
    memset(r, 0, sizeof(*r));
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->cases = k;
    r->budget_ms = budget;
    r->tolerance = json_number_value(json_object_get(mj, "tolerance"));
    if (!e || !json_is_array(outs) || (int)json_array_size(outs) != k) {
        snprintf(r->why, sizeof(r->why), "no recorded outputs for %s", path);
        return;
    }
    if (td_infer_open_buffer(&m, e->data, e->size, &ie) != 0) {
        snprintf(r->why, sizeof(r->why), "does not load: %.120s", ie.msg);
        return;
    }
    r->loaded = 1;
    const td_infer_info *in = td_infer_get_info(m);
    if (td__bundle_obs_bytes(in) != ob) {
        snprintf(r->why, sizeof(r->why), "its inputs differ from the reference observations");
        td_infer_close(m);
        return;
    }
    float *lidar = td_malloc(sizeof(float) * ((size_t)in->lidar_dim + 1));
    float *state = td_malloc(sizeof(float) * ((size_t)in->state_dim + 1));
    double t[3 * 64];
    int nt = 0;
    for (int i = 0; i < k && lidar && state; i++) {
        td_infer_obs obs;
        const json_t *want = json_array_get(outs, (size_t)i);
        unpack_obs(obsf->data + ob * (size_t)i, in, lidar, state, &obs);
        for (int rep = 0; rep < 3; rep++) {
            double t0 = td_time_now();
            td_infer_run(m, &obs, NULL);
            t[nt++] = (td_time_now() - t0) * 1e3;
        }
        const float *y = td_infer_output(m);
        double d = 0;
        if (!json_is_array(want) || (int)json_array_size(want) != in->n_out) {
            d = INFINITY;
        } else {
            for (int j = 0; j < in->n_out; j++) {
                double w = json_number_value(json_array_get(want, (size_t)j));
                double x = fabs((double)y[j] - w);
                d = fmax(d, x == x ? x : INFINITY);
            }
        }
        r->max_diff = fmax(r->max_diff, d);
        if (d <= r->tolerance)
            r->cases_ok++;
        else if (!r->why[0])
            snprintf(r->why, sizeof(r->why),
                     "reference case %d: outputs differ by %.3g (tolerance %.3g)", i, d,
                     r->tolerance);
    }
    td_free(lidar);
    td_free(state);
    qsort(t, (size_t)nt, sizeof(double), td__bundle_cmp_double);
    r->latency_median_ms = nt ? t[nt / 2] : 0;
    r->latency_max_ms = nt ? t[nt - 1] : 0;
    if (!r->why[0] && r->latency_median_ms > budget)
        snprintf(r->why, sizeof(r->why), "median inference %.3g ms is over the budget of %.3g ms",
                 r->latency_median_ms, budget);
    r->ok = r->why[0] == '\0' && r->cases_ok == k;
    td_infer_close(m);
}

int td_bundle_health_check(const td_bundle *b, const char *which, td_bundle_health *h, td_err *err)
{
    json_error_t je;
    memset(h, 0, sizeof(*h));
    const char *hp = json_string_value(json_object_get(b->manifest, "health"));
    const td_archive_entry *he = td_bundle_file(b, hp);
    if (!he)
        return td_err_set(err, TD_EFORMAT, "bundle: no health check file");
    json_t *hj = json_loadb((const char *)he->data, he->size, 0, &je);
    if (!hj)
        return td_err_set(err, TD_EFORMAT, "%s: not JSON (line %d: %s)", hp, je.line, je.text);
    json_int_t k = json_integer_value(json_object_get(hj, "cases"));
    json_int_t ob = json_integer_value(json_object_get(hj, "observation_bytes"));
    double budget = json_number_value(json_object_get(hj, "latency_budget_ms"));
    const td_archive_entry *obsf =
        td_bundle_file(b, json_string_value(json_object_get(hj, "observations")));
    /* size / k, not k * ob: ob comes from the file and k * ob can overflow. */
    if (k < 1 || k > 64 || ob < 0 || !obsf || obsf->size % (size_t)k != 0 ||
        (json_int_t)(obsf->size / (size_t)k) != ob || !(budget > 0)) {
        json_decref(hj);
        return td_err_set(err, TD_EFORMAT,
                          "%s: cases, observation_bytes, observations or latency_budget_ms are "
                          "missing or inconsistent",
                          hp);
    }
    h->ok = 1;
    static const char *kinds[] = {"fp32", "int8"};
    for (int i = 0; i < 2; i++) {
        const char *path = td_bundle_model_path(b, kinds[i]);
        if (!path || (which && strcmp(which, kinds[i]) != 0))
            continue;
        td_bundle_model_health *r = &h->models[h->n_models++];
        check_model(b, hj, path, obsf, (int)k, (size_t)ob, budget, r);
        h->ok &= r->ok;
    }
    json_decref(hj);
    if (h->n_models == 0)
        return td_err_set(err, TD_EINVAL, "bundle: it has no %s model", which ? which : "");
    return 0;
}
