/*
 * import.h - a DeepRacer model brought into trackday (`trackday import`): a
 * deepracer-for-cloud model folder (its S3 prefix copied out: model/, ip/, reward_function.py,
 * training_params.yaml, ...) or a DeepRacer console / DeepRacer on AWS model archive
 * (.tar.gz). Its reward function, model_metadata.json, hyperparameters.json and
 * training_params.yaml (or run.env) and evaluation_params.yaml become a trackday model directory
 * that trains; its TensorFlow checkpoints cannot be loaded and are reported, never silently
 * dropped. Part of the train layer.
 */
#ifndef TRACKDAY_IMPORT_H
#define TRACKDAY_IMPORT_H

#include "trackday/modeldir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The files an import takes, in the order of td_import_report.source. */
enum {
    TD_IMPORT_METADATA = 0, /* model_metadata.json (required) */
    TD_IMPORT_HYPERPARAMETERS,
    TD_IMPORT_REWARD,
    TD_IMPORT_TRAINING_PARAMS,   /* training_params.yaml, or run.env */
    TD_IMPORT_EVALUATION_PARAMS, /* evaluation_params.yaml (optional) */
    TD_IMPORT_FILES
};

typedef struct td_import_report {
    char kind[64];                      /* "deepracer-for-cloud model folder", "archive" */
    char source[TD_IMPORT_FILES][1024]; /* where each file came from ("" = not found) */
    char written[TD_IMPORT_FILES][64];  /* its name in the model directory */
    int tf_files;                       /* TensorFlow checkpoints and graphs found */
    char tf_examples[3][256];           /* a few of them, for the message */
    char moved_aside[1100];             /* --force: where the replaced directory went */
    td_model_dir dir;                   /* the imported directory as training reads it */
} td_import_report;

/*
 * Imports src (a folder or a .tar.gz / .tar archive) into the new model directory dst
 * (force: replace an existing one, which is moved aside to dst.before-import-<time>). Where several
 * copies of a file exist, the one nearest the top of the folder is taken (DeepRacer on AWS keeps
 * them at the top, deepracer-for-cloud in model/ and ip/). The result is checked as `trackday
 * train` reads it (td_model_dir_load); dst appears only when it loads, whole (written beside it,
 * then renamed).
 */
int td_model_import(const char *src, const char *dst, int force, td_import_report *rep,
                    td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_IMPORT_H */
