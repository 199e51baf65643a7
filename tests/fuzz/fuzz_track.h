/*
 * fuzz_track.h - what the track targets do with a route that loaded: everything
 * `trackday tracks show` does (check, design rules, radius, widths) plus the per-step
 * queries, the reverse direction and a small picture. The incremental projection must equal
 * the full search (track.h promises it), which turns a wrong certificate into a finding.
 */
#ifndef TD_FUZZ_TRACK_H
#define TD_FUZZ_TRACK_H

#include <math.h>

#include "fuzz.h"
#include "track/track_internal.h"
#include "trackday/track.h"

static inline void fuzz_track_queries(const td_track *t)
{
    int n = t->n;
    int step = n > 64 ? n / 64 : 1;
    td_track_proj p = {0};
    td_track_project(t, t->center[0], t->center[1], &p);
    for (int i = 0; i + 1 < n; i += step) {
        /* A point beside the midpoint of segment i, and one on its inner border. */
        double mx = 0.5 * (t->center[2 * i] + t->center[2 * i + 2]);
        double my = 0.5 * (t->center[2 * i + 1] + t->center[2 * i + 3]);
        double qx[3] = {mx + 0.1, t->inner[2 * i], 0.5 * (mx + t->outer[2 * i])};
        double qy[3] = {my - 0.07, t->inner[2 * i + 1], 0.5 * (my + t->outer[2 * i + 1])};
        for (int k = 0; k < 3; k++) {
            td_track_proj full;
            td_track_project(t, qx[k], qy[k], &full);
            td_track_project_from(t, qx[k], qy[k], &p);
            double scale = 1.0 + fabs(qx[k]) + fabs(qy[k]);
            if (!(fabs(p.dist - full.dist) <= 1e-9 * scale)) {
                fprintf(stderr,
                        "incremental projection %.17g != full search %.17g at (%.17g, %.17g)\n",
                        p.dist, full.dist, qx[k], qy[k]);
                TD_FUZZ_CHECK(0);
            }
            double ix, iy, ox, oy;
            td_track_nearest_border_points(t, &p, &ix, &iy, &ox, &oy);
            (void)td_track_width_at(t, &p);
            (void)td_track_width_nearest(t, &p);
            (void)td_track_on_road(t, &p, qx[k], qy[k]);
            int slow = td_track_on_road_slow(t, qx[k], qy[k]);
            TD_FUZZ_CHECK(td__track_pip_grid(t->accel, qx[k], qy[k]) == slow);
        }
        double x, y, h;
        td_track_point_at(t, t->arc[i] + 0.05, 0.1, &x, &y, &h);
        td_track_lane_point(t, t->arc[i], i % 2 ? 1 : -1, &x, &y);
        (void)td_track_curvature_at(t, t->arc[i] + 0.01);
    }
    /* Far off the road and at the edges of the grid. */
    td_track_project_from(t, t->max_x + 1e4, t->min_y - 1e4, &p);
    td_track_project_from(t, t->min_x, t->max_y, &p);
    (void)td_track_wrap_arc(t, -3.0 * t->length - 1.0);
}

static inline void fuzz_track_exercise(const td_track *t)
{
    td_err err;
    (void)td_track_check(t, 0.0, &err);
    (void)td_track_check(t, 0.6, &err);
    (void)td_track_min_radius(t);
    (void)td_track_signed_area(t);
    (void)td_track_direction(t);
    fuzz_track_queries(t);
    td_track rev;
    if (td_track_reverse(&rev, t, &err) == 0) {
        fuzz_track_queries(&rev);
        td_track_free(&rev);
    }
    uint8_t *px = NULL;
    int h;
    double ox, oy, sc;
    if (td_track_render_rgb(t, 48, &px, &h, &ox, &oy, &sc, &err) == 0)
        td_free(px);
}

#endif
