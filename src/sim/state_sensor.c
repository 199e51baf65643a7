/*
 * state_sensor.c - the "state" observation: a fixed-size vector of track-relative features
 * that lets a small network learn to drive in minutes (docs/sim.md lists them). Everything
 * comes from the step's projection and precomputed tables: no search, no trigonometry.
 */
#include <math.h>

#include "sim/sim_internal.h"

/* Look-ahead distances of the curvature features, metres. */
static const double lookahead_m[6] = {0.25, 0.5, 1.0, 1.5, 2.0, 3.0};
/* Objects farther ahead than this are "none". */
#define OBJECT_RANGE_M 5.0
/* Curvature scale: a 0.4 m radius turn (the tightest reference corners) maps to 1. */
#define CURV_SCALE 0.4

static float clipf(double v, double lo, double hi)
{
    return (float)(v < lo ? lo : (v > hi ? hi : v));
}

void td__state_features(const td_vecenv *env, const td__car *c, float *out)
{
    const td__dirdata *dd = &env->priv->dir[c->dir];
    const td_track *t = dd->t;
    const td_car_config *car = &env->cfg.car;
    const td_track_proj *pr = &c->proj;

    out[0] = (float)(c->st.speed / car->speed_max);
    out[1] = (float)(c->st.steer / (car->steer_max_deg * (M_PI / 180.0)));
    /* Heading error against the tangent of the projection's segment. */
    double tx = dd->tx[pr->seg], ty = dd->ty[pr->seg];
    out[2] = (float)(tx * c->st.sin_yaw - ty * c->st.cos_yaw);
    out[3] = (float)(tx * c->st.cos_yaw + ty * c->st.sin_yaw);
    double w = c->width_m > 1e-6 ? c->width_m : 1e-6;
    double lat = pr->left ? pr->dist : -pr->dist;
    out[4] = clipf(lat / (0.5 * w), -2.0, 2.0);
    out[5] = clipf((0.5 * w - lat) / w, -1.0, 2.0);
    out[6] = clipf((0.5 * w + lat) / w, -1.0, 2.0);
    for (int k = 0; k < 6; k++) {
        double s = td_track_wrap_arc(t, pr->arc + lookahead_m[k]);
        int idx = (int)(s * (1.0 / TD__CURV_STEP_M) + 0.5);
        if (idx >= dd->ncurv)
            idx = dd->ncurv - 1;
        out[7 + k] = clipf(CURV_SCALE * dd->curv[idx], -1.0, 1.0);
    }
    out[13] = 0.0f;
    out[14] = 1.0f;
    out[15] = 0.0f;
    double best = OBJECT_RANGE_M;
    for (int k = 0; k < c->nobj; k++) {
        const td__object *o = &c->obj[k];
        double d = o->proj.arc - pr->arc;
        if (t->closed && d < 0)
            d += t->length;
        if (d > 0 && d <= best) {
            best = d;
            double olat = o->proj.left ? o->proj.dist : -o->proj.dist;
            out[13] = 1.0f;
            out[14] = (float)(d / OBJECT_RANGE_M);
            out[15] = clipf(olat / (0.5 * w), -2.0, 2.0);
        }
    }
}
