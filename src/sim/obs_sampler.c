/*
 * obs_sampler.c - observations of a car placed at random poses on a track, every sensor as
 * the vector env computes it: what calibrates a quantized model (its activation ranges come
 * from the inputs the car will see, not from noise) and feeds benchmarks.
 */
#include <math.h>
#include <string.h>

#include "trackday/sim.h"

int td_obs_sampler_init(td_obs_sampler *s, const td_sim_config *cfg, const td_track *track,
                        uint64_t seed, td_err *err)
{
    memset(s, 0, sizeof(*s));
    s->seed = seed;
    s->track = track;
    int rc = td_vecenv_init(&s->env, cfg, track, 1, err);
    if (rc)
        return rc;
    rc = td_vecenv_buffers_init(&s->buf, &s->env, err);
    if (rc) {
        td_vecenv_free(&s->env);
        return rc;
    }
    td_vecenv_reset(&s->env);
    return 0;
}

void td_obs_sampler_draw(td_obs_sampler *s, long i, td_sim_obs *out)
{
    /* A pose on the road: random arc length, lateral offset within 80% of the half width,
     * heading within +-25 degrees of the track's; deterministic in (seed, i). */
    const td_track *t = s->track;
    td_rng rng;
    double x, y, heading;
    td_rng_seed(&rng, s->seed, (uint64_t)i + 1);
    double arc = td_rng_uniform(&rng) * t->length;
    int seg = (int)(arc / t->length * (t->n - 1));
    double half = 0.5 * t->width[seg < t->n ? seg : t->n - 1];
    double lateral = td_rng_range(&rng, -0.8, 0.8) * half;
    td_track_point_at(t, arc, lateral, &x, &y, &heading);
    heading += td_rng_range(&rng, -25.0, 25.0) * M_PI / 180.0;
    td_vecenv_teleport(&s->env, 0, x, y, heading, td_rng_range(&rng, 0.5, 3.0));
    td_vecenv_refresh(&s->env, 0);
    out->camera = s->env.obs_camera;
    out->lidar = s->env.obs_lidar;
    out->state = s->env.obs_state;
}

void td_obs_sampler_free(td_obs_sampler *s)
{
    td_vecenv_free(&s->env);
    td_vecenv_buffers_free(&s->buf);
    memset(s, 0, sizeof(*s));
}
