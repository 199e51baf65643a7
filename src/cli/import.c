/*
 * import.c - `trackday import PATH [-o DIR]`: a DeepRacer model folder (deepracer-for-cloud)
 * or model archive (.tar.gz from the DeepRacer console or DeepRacer on AWS) made into a
 * trackday model directory that trains (include/trackday/import.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/import.h"

static const char about[] =
    "Makes a trackday model directory from a DeepRacer model: PATH is a deepracer-for-cloud "
    "model folder (the S3 prefix copied out: model/, ip/, reward_function.py, "
    "training_params.yaml), or a model archive (.tar.gz) from the DeepRacer console or DeepRacer "
    "on AWS (a virtual model export). Its model_metadata.json, hyperparameters.json, "
    "reward_function.py and training_params.yaml (or run.env) are copied unchanged and checked "
    "as 'trackday train' reads them. TensorFlow checkpoints cannot be loaded: they are listed, "
    "and training starts from a new network.";

static int cmd_import(int argc, char **argv)
{
    const char *src = NULL, *out = NULL;
    int force = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("PATH", &src, "a deepracer-for-cloud model folder or a model archive (.tar.gz)"),
        TD_CLI_STRING("-o", "--out", &out, "DIR",
                      "the new model directory (default: PATH's name, without .tar.gz, in the "
                      "current directory)"),
        TD_CLI_FLAG("--force", &force,
                    "replace DIR if it exists (the old one is moved aside to "
                    "DIR.before-import-<time>)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "import", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    char dflt[1024];
    if (!out) {
        /* PATH's last component, without a trailing slash or archive extension. */
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", src);
        size_t n = strlen(tmp);
        while (n > 1 && tmp[n - 1] == '/')
            tmp[--n] = '\0';
        const char *b = strrchr(tmp, '/');
        b = b ? b + 1 : tmp;
        snprintf(dflt, sizeof(dflt), "%s", b);
        static const char *const exts[] = {".tar.gz", ".tgz", ".tar"};
        for (int k = 0; k < 3; k++) {
            size_t l = strlen(dflt), e = strlen(exts[k]);
            if (l > e && !strcmp(dflt + l - e, exts[k])) {
                dflt[l - e] = '\0';
                break;
            }
        }
        out = dflt;
    }
    td_import_report rep;
    td_err err;
    if (td_model_import(src, out, force, &rep, &err))
        return td__cli_fail("%s", err.msg);
    td__cli_print_warnings(&rep.dir.warnings);
    static const char *const what[TD_IMPORT_FILES] = {"model_metadata.json", "hyperparameters.json",
                                                      "reward_function.py", "training_params.yaml",
                                                      "evaluation_params.yaml"};
    printf("imported the %s %s into %s/\n", rep.kind, src, out);
    for (int k = 0; k < TD_IMPORT_FILES; k++) {
        if (rep.source[k][0])
            printf("  %-22s from %s\n", rep.written[k], rep.source[k]);
        else if (k == TD_IMPORT_HYPERPARAMETERS)
            printf("  %-22s none: DeepRacer's defaults\n", what[k]);
        else if (k == TD_IMPORT_REWARD)
            printf("  %-22s none: 'trackday train' uses the built-in follow_center_line reward "
                   "unless you add one\n",
                   what[k]);
        else if (k == TD_IMPORT_EVALUATION_PARAMS)
            printf("  %-22s none: 'trackday eval' uses the training settings\n", what[k]);
        else
            printf("  %-22s none: the default track and a time trial\n", what[k]);
    }
    const td_model_dir *d = &rep.dir;
    printf("  %s, %s%s%s, %s action space (%d actions), version %d\n",
           td_algorithm_name(d->metadata.algorithm),
           d->metadata.state_sensor ? "STATE" : td_camera_sensor_name(d->metadata.camera),
           d->metadata.lidar ? " + " : "",
           d->metadata.lidar ? td_lidar_sensor_name(d->metadata.lidar) : "",
           d->metadata.action_space_type == TD_ACTIONS_CONTINUOUS ? "continuous" : "discrete",
           d->metadata.action_space_type == TD_ACTIONS_CONTINUOUS ? 2 : d->metadata.n_actions,
           d->metadata.version);
    if (rep.tf_files) {
        printf("not loadable: %d TensorFlow checkpoint file%s (", rep.tf_files,
               rep.tf_files == 1 ? "" : "s");
        for (int i = 0; i < rep.tf_files && i < 3; i++)
            printf("%s%s", i ? ", " : "", rep.tf_examples[i]);
        printf("%s): trackday cannot load TensorFlow weights, so 'trackday train' starts from a "
               "new network\n",
               rep.tf_files > 3 ? ", ..." : "");
    }
    if (rep.moved_aside[0])
        printf("the directory it replaced is now %s\n", rep.moved_aside);
    /* The route, which DeepRacer's exports do not carry. */
    const char *world = d->training.world_name[0] ? d->training.world_name : "default";
    char track[1200];
    if (td__cli_track_path_quiet(world, out, track, sizeof(track)) != 0)
        printf("track: WORLD_NAME %s is not on the track search path yet: put %s.npy in %s/ or "
               "pass --tracks-dir to 'trackday train'\n",
               world, world, out);
    printf("next: trackday train %s\n", out);
    return 0;
}

TD_CLI_COMMAND("import", "make a model directory from a DeepRacer model folder or archive",
               cmd_import)
