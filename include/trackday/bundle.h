/*
 * bundle.h - trackday's deployable unit (docs/bundle.md): one tar file holding a policy as
 * fp32 and int8 model files, DeepRacer's model_metadata.json, the reference statistics of the
 * inputs and actions seen in training and evaluation (for drift detection), reference
 * observations with the outputs each model must give (the health check), and a manifest with
 * the SHA-256 of every file, signed with Ed25519. Built by `trackday export --format bundle`,
 * checked by `trackday verify` and by the device agent before it runs anything. Part of the
 * eval layer.
 *
 *   td_bundle b;
 *   if (td_bundle_open_file(&b, "car.tdb", public_key, &err) != 0) { refuse: err.msg }
 *   td_bundle_health h;
 *   td_bundle_health_check(&b, NULL, &h, &err);
 *   td_bundle_close(&b);
 */
#ifndef TRACKDAY_BUNDLE_H
#define TRACKDAY_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "trackday/archive.h"
#include "trackday/crypto.h"
#include "trackday/json.h"
#include "trackday/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_BUNDLE_FORMAT_VERSION 1
#define TD_BUNDLE_MAX_MODELS     2

/* ---- building --------------------------------------------------------------------------- */

typedef struct td_bundle_options {
    const char *model_path;    /* the fp32 .tdm to package */
    const char *metadata_path; /* model_metadata.json to include; NULL: the header's copy */
    const char *track_path;    /* track of the reference runs (.npy or .json) */
    const char *name;          /* the model's name in the manifest (e.g. the directory) */
    const uint8_t *secret_key; /* TD_SIGN_SECRET_BYTES */
    td_race_config race;       /* race settings of the reference runs (training's) */
    int eval_laps;             /* evaluation laps (default 3) */
    int eval_resets_per_lap;   /* off-tracks that reset the car before the evaluation gives up
                                  (default 10 a lap; 0: the first one ends it) */
    int train_cars;            /* cars driving the sampled policy (default 4) */
    int train_steps;           /* steps of each (default 300) */
    int health_cases;          /* reference observations for the health check (default 16) */
    int calibrate;             /* observations calibrating the int8 model (default 256) */
    int int8;                  /* 1 (default): include an int8 model */
    double latency_budget_ms;  /* the health check's budget per inference (default 1000/15) */
    uint64_t seed;             /* default 1 */
    int64_t created_unix;      /* 0: now */
} td_bundle_options;

void td_bundle_options_default(td_bundle_options *o);

/* What a build did (for the command's report). */
typedef struct td_bundle_report {
    size_t bytes;
    char sha256[TD_SHA256_HEX]; /* of the bundle file */
    char key_id[TD_KEY_ID_LEN];
    int n_files;
    long train_frames, eval_frames;
    int eval_laps_completed;
    double eval_average_lap_s; /* -1 when no lap completed */
    int health_cases;
    int has_int8;
    double int8_agreement; /* share of reference observations where int8 picks fp32's action
                              (discrete), or 1 - the largest mean difference / 2 (continuous) */
    double latency_ms[TD_BUNDLE_MAX_MODELS]; /* median on this machine: fp32, int8 */
} td_bundle_report;

/*
 * Drives the policy on the track (evaluation laps, greedy, and sampled-policy episodes as in
 * training), summarizes what it saw and did, quantizes it to int8 on those observations,
 * records the health-check cases, writes the manifest, signs it and writes the bundle to
 * out_path atomically. report may be NULL.
 */
int td_bundle_build(const td_bundle_options *o, const char *out_path, td_bundle_report *report,
                    td_err *err);

/* ---- opening and checking --------------------------------------------------------------- */

typedef struct td_bundle {
    td_archive files;
    json_t *manifest;
    char key_id[TD_KEY_ID_LEN];
    char sha256[TD_SHA256_HEX]; /* of the bundle's bytes */
    char bundle_id[33];
    char name[128];
    char created[32];
    int64_t created_unix;
} td_bundle;

/*
 * Reads a bundle and checks it, in this order, refusing with a message at the first problem:
 * the bundle's SHA-256 is expected_sha256 (64 hex digits; NULL skips this, e.g. when the
 * hub's deployment does not name it), the archive is readable and canonical byte for byte
 * (limits; no links or unsafe names; each header exactly the one trackday writes, zero
 * padding, nothing after the end: so no byte of the file goes unchecked), manifest.json and
 * manifest.sig are present, the signature is the given public key's over manifest.json's exact
 * bytes (a bundle signed by another key names that key's id), the manifest's format and version,
 * then every listed file: present, of its size, of its SHA-256, and no file in the archive that the
 * manifest does not list. On success b holds the files (td_bundle_close frees them; also call it
 * after an error).
 */
int td_bundle_open(td_bundle *b, const void *buf, size_t len,
                   const uint8_t pk[TD_SIGN_PUBLIC_BYTES], const char *expected_sha256,
                   td_err *err);
int td_bundle_open_file(td_bundle *b, const char *path, const uint8_t pk[TD_SIGN_PUBLIC_BYTES],
                        const char *expected_sha256, td_err *err);
void td_bundle_close(td_bundle *b);

/* A verified file of the bundle (path as in the manifest), or NULL. */
const td_archive_entry *td_bundle_file(const td_bundle *b, const char *path);

/* The manifest's path of a model: "fp32" or "int8" (NULL when the bundle has none). */
const char *td_bundle_model_path(const td_bundle *b, const char *which);

/* The result of the health check of one model. */
typedef struct td_bundle_model_health {
    char path[64];
    int loaded;
    int cases, cases_ok; /* outputs within tolerance */
    double max_diff, tolerance;
    double latency_median_ms, latency_max_ms, budget_ms;
    int ok;
    char why[160]; /* the first problem, "" when ok */
} td_bundle_model_health;

typedef struct td_bundle_health {
    int n_models;
    td_bundle_model_health models[TD_BUNDLE_MAX_MODELS];
    int ok; /* every model checked is ok */
} td_bundle_health;

/*
 * The health check a device runs before switching to a bundle: each model (which: "fp32",
 * "int8" or NULL for both) loads in infer/, gives the recorded outputs on the reference
 * observations within the recorded tolerance, and runs within the latency budget (median
 * over the cases, each run three times). Returns 0 when the check could be run (h->ok says
 * whether it passed), else an error (bad health.json).
 */
int td_bundle_health_check(const td_bundle *b, const char *which, td_bundle_health *h, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_BUNDLE_H */
