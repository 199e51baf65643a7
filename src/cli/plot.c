/*
 * plot.c - `trackday plot DIR`: writes the pictures of a model directory into DIR/plots/
 * (training curves from DIR/metrics/training.jsonl; from the simtrace CSVs in DIR/logs the
 * last evaluation's laps coloured by speed, a per-section summary of speed and steering and
 * the reward along the fastest lap) and prints their paths.
 *
 * `trackday plot --demo DIR` first writes an example model directory: a synthetic learning
 * curve and simtrace logs of the built-in driver (with steering noise in training so some
 * episodes leave the track). scripts/make-doc-pictures uses it for docs/images/.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "trackday/modeldir.h"
#include "trackday/logs.h"
#include "trackday/plot.h"
#include "trackday/sim.h"
#include "trackday/trainer.h"

static const char about[] =
    "Writes pictures (SVG, open them in a browser) of a model directory into DIR/plots/ and "
    "prints their paths:\n"
    "  training.svg     mean reward, progress, completion rate and entropy per\n"
    "                   iteration (from DIR/metrics/training.jsonl, else from the\n"
    "                   training simtraces)\n"
    "  ends.svg         where training episodes ended early (off track, crash, ...)\n"
    "  laps.svg         the last evaluation's laps on the track coloured by speed,\n"
    "                   with off-track and crash points (from DIR/logs/*.csv)\n"
    "  waypoints.svg    mean speed and steering per section of the lap\n"
    "  reward-lap.svg   the reward of each step along the fastest lap\n"
    "\n"
    "With --demo, first writes an example model directory into DIR: a synthetic learning "
    "curve and simulated laps of the built-in driver.";

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* WORLD_NAME of the directory's training_params.yaml (read as training reads it). */
static int world_name(const char *dir, char *out, size_t n)
{
    char path[4096];
    td_training_params tp;
    td_config_warnings quiet; /* training reports them; a picture need not */
    td_config_warnings_clear(&quiet);
    snprintf(path, sizeof(path), "%s/training_params.yaml", dir);
    if (!td_path_exists(path) || td_training_params_load(&tp, path, &quiet, NULL) != 0 ||
        !tp.world_name[0])
        return 0;
    snprintf(out, n, "%s", tp.world_name);
    return 1;
}

static int cmd_plot(int argc, char **argv)
{
    const char *dir = NULL, *track_arg = NULL, *out_arg = NULL;
    int demo = 0, sections = 20;
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR", &dir, "the model directory"),
        TD_CLI_STRING(NULL, "--track", &track_arg, "T",
                      "the track (name or .npy/.json path); default: WORLD_NAME of "
                      "DIR/training_params.yaml (--demo: reInvent2019_track)"),
        TD_CLI_STRING(NULL, "--out", &out_arg, "D", "write into D instead of DIR/plots"),
        TD_CLI_INT("--sections", &sections, 1, 1000, "N",
                   "sections of the lap in waypoints.svg (default 20, i.e. 5%)"),
        TD_CLI_FLAG("--demo", &demo,
                    "first write an example model directory into DIR (a synthetic learning "
                    "curve and simulated laps of the built-in driver)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "plot", .about = about, .opts = opts};
    int prc0 = td__cli_parse(&spec, argc, argv);
    if (prc0 != TD_CLI_RUN)
        return prc0;
    td_err derr;
    if (td_model_dir_check(dir, &derr))
        return td__cli_fail("%s", derr.msg);
    if (!demo && !is_dir(dir))
        return td__cli_fail("%s: no such directory", dir);

    char name[256];
    if (!track_arg && demo)
        track_arg = "reInvent2019_track";
    if (!track_arg && world_name(dir, name, sizeof(name)))
        track_arg = name;
    td_track track;
    int have_track = 0;
    td_err err;
    td_err_clear(&err);
    if (track_arg) {
        char path[4096];
        if (td__cli_track_path_for(track_arg, dir, path, sizeof(path)))
            return 1;
        if (td_track_load(&track, path, &err))
            return td__cli_fail("%s", err.msg);
        have_track = 1;
    }
    int rc = 0;
    if (demo) {
        td__cli_status("writing an example model directory into %s", dir);
        rc = td_plot_demo_write(dir, track_arg, &track, &err);
        td__cli_status_done();
        if (rc) {
            rc = td__cli_fail("%s", err.msg);
            goto done;
        }
        printf("%s: example model directory (track %s)\n", dir, track_arg);
    }
    if (!have_track)
        fprintf(stderr,
                "trackday: no track (pass --track T, or set WORLD_NAME in "
                "%s/training_params.yaml): drawing the driven lines alone\n",
                dir);

    char out[4096];
    if (out_arg ? td_path_fmt(out, sizeof(out), &err, "%s", out_arg)
                : td_path_join(out, sizeof(out), dir, "plots", &err)) {
        if (have_track)
            td_track_free(&track);
        return td__cli_fail("%s", err.msg);
    }
    td_plot_output po;
    td__cli_status("drawing the pictures of %s", dir);
    int prc = td_plot_model_dir(dir, have_track ? &track : NULL, out, sections, &po, &err);
    td__cli_status_done();
    for (int i = 0; i < po.n_notes; i++)
        fprintf(stderr, "trackday: %s\n", po.notes[i]);
    for (int i = 0; i < po.n_paths; i++)
        printf("%s\n", po.paths[i]);
    if (prc)
        rc = td__cli_fail("%s", err.msg);
done:
    if (have_track)
        td_track_free(&track);
    return rc;
}

TD_CLI_COMMAND("plot", "write training curves and track pictures of a model directory", cmd_plot)
