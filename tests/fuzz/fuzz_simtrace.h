/*
 * fuzz_simtrace.h - what `trackday logs` (and `plot`) do with simtrace rows that were read:
 * the episode and iteration analysis, its JSON report, the per-waypoint summary with and
 * without a track, and the pictures `eval` and `plot` draw from a simtrace (laps, waypoints,
 * reward along the lap), whose scales and ticks come from the file's numbers.
 */
#ifndef TD_FUZZ_SIMTRACE_H
#define TD_FUZZ_SIMTRACE_H

#include "fuzz.h"
#include "trackday/logs.h"
#include "trackday/plot.h"
#include "trackday/simtrace.h"
#include "trackday/track.h"

static inline void fuzz_simtrace_analyze(const td_simtrace *t, const td_track *track)
{
    td_err err;
    for (int per = 1; per <= 20; per += 19) {
        td_logs_report r;
        if (td_logs_analyze(&r, t, per, &err) != 0) {
            TD_FUZZ_CHECK(err.msg[0] != '\0');
            continue;
        }
        TD_FUZZ_CHECK(r.n_rows == t->n);
        json_t *j = td_logs_report_json(&r, t);
        if (j) {
            char *text = json_dumps(j, JSON_COMPACT);
            free(text);
            json_decref(j);
        }
        td_metrics m;
        if (td_metrics_from_report(&m, &r, &err) == 0)
            td_metrics_free(&m);
        td_logs_report_free(&r);
    }
    td_waypoint_summary ws;
    if (td_waypoint_summary_compute(&ws, t, 0, -1, NULL, 40, &err) == 0)
        td_waypoint_summary_free(&ws);
    if (track && td_waypoint_summary_compute(&ws, t, 0, -1, track, 40, &err) == 0)
        td_waypoint_summary_free(&ws);
    td_plot_output out;
    memset(&out, 0, sizeof(out)); /* the call appends to it */
    (void)td_plot_simtrace_pictures(t, -1, 20, track, 20, td_fuzz_scratch_dir(), "fuzz ", &out,
                                    &err);
}

#endif
