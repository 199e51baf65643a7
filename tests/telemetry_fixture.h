/*
 * telemetry_fixture.h - synthetic telemetry for the drift tests (test_drift_cli,
 * test_hub_telemetry): a 12x16 grey camera, 8 lidar sectors, 5 actions, and frames around a
 * brightness with a lap every 150 frames. Header-only, like hub_harness.h.
 */
#ifndef TD_TELEMETRY_FIXTURE_H
#define TD_TELEMETRY_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include "trackday/core.h"
#include "trackday/telemetry.h"

static inline void layout_of(td_summary_layout *l)
{
    memset(l, 0, sizeof(*l));
    l->camera_h = 12;
    l->camera_w = 16;
    l->camera_c = 1;
    l->lidar_dim = 8;
    l->n_actions = 5;
}

/* Frames around brightness `light`, every pixel times `gain` (the camera's lighting gain), one
 * lap every 150 frames around `lap_s`. */
static inline void frames_gain(td_summary *s, td_rng *r, int n, double light, double lap_s,
                               double gain)
{
    uint8_t px[12 * 16];
    float lidar[8], logits[5];
    for (int f = 0; f < n; f++) {
        double base = light + 12 * td_rng_normal(r);
        for (int i = 0; i < 12 * 16; i++) {
            double v = (base + (i % 16) * 2 + 6 * td_rng_normal(r)) * gain;
            px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        for (int i = 0; i < 8; i++)
            lidar[i] = (float)(0.5 + 0.1 * td_rng_normal(r));
        int a = (int)td_rng_below(r, 5);
        for (int i = 0; i < 5; i++)
            logits[i] = (float)(i == a ? 3 : 0);
        td_infer_obs obs = {px, lidar, NULL};
        td_summary_add(s, &obs, logits, 1.0 + 0.1 * td_rng_uniform(r));
        if (f % 150 == 149)
            td_summary_add_lap(s, lap_s + 0.1 * td_rng_normal(r));
    }
}

#endif
