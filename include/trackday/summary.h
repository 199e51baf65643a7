/*
 * summary.h - mergeable summaries of what a driving policy sees and does: fixed-bin
 * histograms of per-frame camera statistics (pixel values, brightness, contrast, edge
 * density, a coarse grid of cell means), lidar values per sector, state features, the actions
 * chosen, the policy's confidence (entropy, top-1 probability) and inference latency, plus
 * driving outcomes (laps, off-tracks). A model bundle carries the summaries of its training
 * and evaluation runs as the reference for drift detection; a device's telemetry windows are
 * the same summaries, so windows, devices and references merge exactly (counts add). The
 * features and bins are listed in docs/bundle.md. Part of the eval layer.
 *
 *   td_summary s;
 *   td_summary_init(&s, &layout, &err);
 *   td_summary_add(&s, &obs, outputs, latency_ms);   // once per frame
 *   json_t *j = td_summary_to_json(&s);
 *   td_summary_free(&s);
 */
#ifndef TRACKDAY_SUMMARY_H
#define TRACKDAY_SUMMARY_H

#include <stdint.h>

#include "trackday/core.h"
#include "trackday/infer.h"
#include "trackday/json.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_HIST_NAME_LEN    32
#define TD_HIST_MAX_BINS    128
#define TD_SUMMARY_GRID     4  /* the camera grid is 4 x 4 cells */
#define TD_SUMMARY_EDGE     24 /* a pixel is an edge when a neighbour differs by more than this */
#define TD_SUMMARY_MAX_LAPS 256

/*
 * A histogram of n uniform bins over [lo, hi); values below lo count in `under`, values at or
 * above hi in `over` (NaN counts in `over`). Moments are kept for exact means and variances.
 */
typedef struct td_hist {
    char name[TD_HIST_NAME_LEN];
    double lo, hi;
    int n;
    uint64_t counts[TD_HIST_MAX_BINS];
    uint64_t under, over, total;
    uint64_t nan;                 /* NaN values (also counted in over) */
    double sum, sum_sq, min, max; /* over the values that are not NaN (0 when none); +-inf
                                     enters as +-DBL_MAX and the sums saturate there, so a
                                     summary always writes JSON that reads back */
} td_hist;

void td_hist_init(td_hist *h, const char *name, double lo, double hi, int n);
void td_hist_add(td_hist *h, double v);
/* Adds src's counts to dst; TD_EINVAL (nothing changed) if their bins differ. */
int td_hist_merge(td_hist *dst, const td_hist *src);

/* What a summary is of: the model's inputs and outputs (from td_infer_info). */
typedef struct td_summary_layout {
    int camera_h, camera_w, camera_c; /* 0: no camera */
    int lidar_dim;
    int state_dim;
    int n_actions;  /* discrete: actions; 0 for continuous */
    int continuous; /* 1: two action dims (steering, speed) in [-1, 1] */
} td_summary_layout;

/* The layout of a loaded model. */
void td_summary_layout_of(td_summary_layout *l, const td_infer_info *info);

/* Driving outcomes over the frames summarized (when known: simulator, lap timer). */
typedef struct td_summary_outcomes {
    int n_laps;
    double lap_times_s[TD_SUMMARY_MAX_LAPS]; /* completed laps, in order (first 256) */
    long laps_total;                         /* all completed laps, even beyond 256 */
    long episodes, off_tracks, crashes, resets;
    double distance_m;
} td_summary_outcomes;

typedef struct td_summary {
    td_summary_layout layout;
    uint64_t frames;
    int n_hist;
    td_hist *hist; /* td_malloc'd */
    td_summary_outcomes outcomes;
} td_summary;

/*
 * Creates an empty summary with the histograms of docs/bundle.md for this layout. Free with
 * td_summary_free (also after an error).
 */
int td_summary_init(td_summary *s, const td_summary_layout *l, td_err *err);
void td_summary_free(td_summary *s);

/*
 * Adds one frame: the observation (parts the layout has must be set), the policy's outputs
 * as td_infer_output gives them (logits for a discrete model, the mean in network units for
 * a continuous one; NULL skips the action and confidence histograms) and the inference time
 * in milliseconds (< 0: not measured). Allocates nothing.
 */
void td_summary_add(td_summary *s, const td_infer_obs *obs, const float *outputs,
                    double latency_ms);

/* Adds a completed lap's time. */
void td_summary_add_lap(td_summary *s, double lap_s);

/* The histogram named name, or NULL. */
const td_hist *td_summary_find(const td_summary *s, const char *name);

/* Adds src into dst; TD_EINVAL with a message when their layouts or bins differ, TD_ERANGE
 * when a count would pass INT64_MAX (JSON's integers); dst is unchanged after an error. */
int td_summary_merge(td_summary *dst, const td_summary *src, td_err *err);

/* JSON (docs/bundle.md): {"frames", "layout", "histograms": {name: {...}}, "outcomes"}. */
json_t *td_summary_to_json(const td_summary *s);

/* Reads what td_summary_to_json wrote; errors name the histogram and key. */
int td_summary_from_json(td_summary *s, const json_t *j, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_SUMMARY_H */
