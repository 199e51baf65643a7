/*
 * generate.c - seeded procedural tracks. Control points on a perturbed circle are smoothed
 * by a periodic cubic B-spline, scaled to the target length, resampled at a uniform spacing
 * and checked (td_track_check plus clearance between parts of the road); a rejected draw
 * is followed by the next draws of the same RNG, so a seed always gives the same track.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "track/track_internal.h"

#define GEN_MAX_ATTEMPTS 2000
#define GEN_SPAN_SAMPLES 48
#define GEN_MAX_CONTROL  48
/* Control points per metre of track: features every few metres whatever the length. */
#define GEN_CONTROL_SPACING_M 3.2
/* Scale of the perturbations (m): the circle radius of a 30 m track. */
#define GEN_FEATURE_RADIUS_M 4.8
/* Chance that a control point is pulled in to make a pocket. */
#define GEN_PINCH_P 0.04
/* Grass between two parts of the road that are not neighbours along the track (m). */
#define GEN_GAP_M 0.4

void td_trackgen_defaults(td_trackgen_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 1;
    cfg->width_m = 1.067;
    cfg->target_length_m = 30.0;
    cfg->min_radius_m = 0.6;
    cfg->spacing_m = 0.15;
}

/* Uniform cubic B-spline point of span k at parameter u, control points wrapping. */
static void bspline(const double *cp, int k, int ncp, double u, double *x, double *y)
{
    const double *p0 = cp + 2 * ((k - 1 + ncp) % ncp), *p1 = cp + 2 * (k % ncp);
    const double *p2 = cp + 2 * ((k + 1) % ncp), *p3 = cp + 2 * ((k + 2) % ncp);
    double u2 = u * u, u3 = u2 * u;
    double b0 = (1 - u) * (1 - u) * (1 - u) / 6.0;
    double b1 = (3 * u3 - 6 * u2 + 4) / 6.0;
    double b2 = (-3 * u3 + 3 * u2 + 3 * u + 1) / 6.0;
    double b3 = u3 / 6.0;
    *x = b0 * p0[0] + b1 * p1[0] + b2 * p2[0] + b3 * p3[0];
    *y = b0 * p0[1] + b1 * p1[1] + b2 * p2[1] + b3 * p3[1];
}

/* Every pair of centre points farther apart along the loop than `span` is at least `clear`
 * apart in the plane, so separate parts of the road keep grass between them. */
static int clearance_ok(const td_track *t, double span, double clear)
{
    int m = t->n - 1;
    for (int i = 0; i < m; i++)
        for (int j = i + 1; j < m; j++) {
            double along = t->arc[j] - t->arc[i];
            if (along > t->length - along)
                along = t->length - along;
            if (along <= span)
                continue;
            double dx = t->center[2 * i] - t->center[2 * j];
            double dy = t->center[2 * i + 1] - t->center[2 * j + 1];
            if (dx * dx + dy * dy < clear * clear)
                return 0;
        }
    return 1;
}

/*
 * One candidate from the next RNG draws: dense spline samples (dense, capacity ncp *
 * GEN_SPAN_SAMPLES + 1 points), resampled into out (capacity cap points). Returns the
 * number of resampled points, or 0 if the candidate cannot be built.
 */
static int candidate(td_rng *rng, const td_trackgen_config *cfg, double *dense, double *out,
                     int cap)
{
    double cp[2 * GEN_MAX_CONTROL];
    int ncp =
        (int)lround(cfg->target_length_m / GEN_CONTROL_SPACING_M) - 2 + (int)td_rng_below(rng, 5);
    ncp = ncp < 8 ? 8 + (int)td_rng_below(rng, 5) : (ncp > GEN_MAX_CONTROL ? GEN_MAX_CONTROL : ncp);
    /*
     * A perturbed circle. The perturbation is in metres (at most that of a 30 m track), so
     * long tracks get more features rather than bigger ones. Now and then a control point
     * is pulled in to make a hairpin-like pocket.
     */
    double R = cfg->target_length_m / (2 * M_PI);
    double amp = fmin(R, GEN_FEATURE_RADIUS_M);
    /* Low-frequency shape (oval, triangle, kidney) before the local bumps. */
    double a2 = td_rng_range(rng, 0.0, 0.22), p2 = td_rng_range(rng, 0.0, 2 * M_PI);
    double a3 = td_rng_range(rng, 0.0, 0.15), p3 = td_rng_range(rng, 0.0, 2 * M_PI);
    for (int k = 0; k < ncp; k++) {
        double ang = 2 * M_PI * (k + td_rng_range(rng, -0.3, 0.3)) / ncp;
        double r = R * (1.0 + a2 * cos(2 * ang + p2) + a3 * cos(3 * ang + p3)) +
                   amp * td_rng_range(rng, -0.35, 0.35);
        if (td_rng_uniform(rng) < GEN_PINCH_P)
            r = R - amp * td_rng_range(rng, 0.45, 0.7);
        cp[2 * k] = r * cos(ang);
        cp[2 * k + 1] = r * sin(ang);
    }
    int nd = ncp * GEN_SPAN_SAMPLES;
    for (int k = 0; k < ncp; k++)
        for (int j = 0; j < GEN_SPAN_SAMPLES; j++)
            bspline(cp, k, ncp, (double)j / GEN_SPAN_SAMPLES,
                    dense + 2 * (k * GEN_SPAN_SAMPLES + j),
                    dense + 2 * (k * GEN_SPAN_SAMPLES + j) + 1);
    dense[2 * nd] = dense[0];
    dense[2 * nd + 1] = dense[1];
    double len = 0.0;
    for (int i = 0; i < nd; i++)
        len += hypot(dense[2 * i + 2] - dense[2 * i], dense[2 * i + 3] - dense[2 * i + 1]);
    if (!(len > 0.0))
        return 0;
    double scale = cfg->target_length_m / len;
    for (int i = 0; i <= nd; i++) {
        dense[2 * i] *= scale;
        dense[2 * i + 1] *= scale;
    }
    len *= scale;
    int m = (int)lround(len / cfg->spacing_m);
    if (m < 8 || m > cap)
        return 0;
    /* Uniform resampling by arc length along the dense polyline. */
    double step = len / m, acc = 0.0;
    int seg = 0;
    double seg_len = hypot(dense[2] - dense[0], dense[3] - dense[1]);
    for (int j = 0; j < m; j++) {
        double s = j * step;
        while (acc + seg_len < s && seg < nd - 1) {
            acc += seg_len;
            seg++;
            seg_len =
                hypot(dense[2 * seg + 2] - dense[2 * seg], dense[2 * seg + 3] - dense[2 * seg + 1]);
        }
        double u = seg_len > 0 ? (s - acc) / seg_len : 0.0;
        out[2 * j] = dense[2 * seg] + u * (dense[2 * seg + 2] - dense[2 * seg]);
        out[2 * j + 1] = dense[2 * seg + 1] + u * (dense[2 * seg + 3] - dense[2 * seg + 1]);
    }
    return m;
}

int td_track_generate(td_track *t, const td_trackgen_config *cfg_in, td_err *err)
{
    td_trackgen_config cfg = *cfg_in;
    memset(t, 0, sizeof(*t));
    if (!(cfg.width_m >= 0.3 && cfg.width_m <= 3.0))
        return td_err_set(err, TD_ERANGE, "track generator: width %g m must be in [0.3, 3]",
                          cfg.width_m);
    if (!(cfg.target_length_m >= 8.0 && cfg.target_length_m <= 500.0))
        return td_err_set(err, TD_ERANGE, "track generator: length %g m must be in [8, 500]",
                          cfg.target_length_m);
    if (!(cfg.spacing_m >= 0.05 && cfg.spacing_m <= 1.0))
        return td_err_set(err, TD_ERANGE, "track generator: spacing %g m must be in [0.05, 1]",
                          cfg.spacing_m);
    if (!(cfg.min_radius_m > 0.0 && cfg.min_radius_m <= cfg.target_length_m / (2 * M_PI)))
        return td_err_set(err, TD_ERANGE,
                          "track generator: minimum radius %g m must be in (0, length / 2 pi]",
                          cfg.min_radius_m);
    int cap = (int)(cfg.target_length_m / cfg.spacing_m) + 16;
    double *dense = td_malloc(sizeof(double) * 2 * (GEN_MAX_CONTROL * GEN_SPAN_SAMPLES + 1));
    double *pts = td_malloc(sizeof(double) * 2 * (size_t)cap);
    double *rot = td_malloc(sizeof(double) * 2 * (size_t)cap);
    if (!dense || !pts || !rot) {
        td_free(dense);
        td_free(pts);
        td_free(rot);
        return td_err_set(err, TD_ENOMEM, "track generator: out of memory");
    }
    td_rng rng;
    td_rng_seed(&rng, cfg.seed, 0x747261636bULL);
    char name[TD_TRACK_NAME_LEN];
    snprintf(name, sizeof(name), "gen-%llu", (unsigned long long)cfg.seed);
    int rc = TD_EINTERNAL;
    for (int attempt = 0; attempt < GEN_MAX_ATTEMPTS; attempt++) {
        int m = candidate(&rng, &cfg, dense, pts, cap);
        if (m == 0)
            continue;
        td_track cand;
        int brc = td_track_from_centerline(&cand, pts, NULL, cfg.width_m, m, 1, name, name, err);
        if (brc == TD_ENOMEM) {
            /* Out of memory is an error, not a rejection: it must not change the track. */
            rc = brc;
            break;
        }
        if (brc)
            continue;
        int ok = td_track_check(&cand, cfg.min_radius_m, NULL) == 0 &&
                 clearance_ok(&cand, 2.5 * (cfg.width_m + GEN_GAP_M), cfg.width_m + GEN_GAP_M);
        if (!ok) {
            td_track_free(&cand);
            continue;
        }
        /* Start (row 0) at the straightest vertex, so the start line sits on a straight. */
        const double *curv = ((const td__track_accel *)cand.accel)->curv;
        int best = 0;
        for (int i = 1; i < m; i++)
            if (fabs(curv[i]) < fabs(curv[best]))
                best = i;
        td_track_free(&cand);
        for (int i = 0; i < m; i++) {
            rot[2 * i] = pts[2 * ((i + best) % m)];
            rot[2 * i + 1] = pts[2 * ((i + best) % m) + 1];
        }
        rc = td_track_from_centerline(t, rot, NULL, cfg.width_m, m, 1, name, name, err);
        if (rc == 0)
            snprintf(t->description, sizeof(t->description),
                     "procedural track: seed %llu, width %.3f m, minimum radius %.2f m",
                     (unsigned long long)cfg.seed, cfg.width_m, cfg.min_radius_m);
        break;
    }
    td_free(dense);
    td_free(pts);
    td_free(rot);
    if (rc == TD_EINTERNAL)
        return td_err_set(err, TD_ERANGE,
                          "track generator: no valid track for seed %llu in %d attempts (length "
                          "%g m, width %g m, minimum radius %g m): try a longer or narrower track",
                          (unsigned long long)cfg.seed, GEN_MAX_ATTEMPTS, cfg.target_length_m,
                          cfg.width_m, cfg.min_radius_m);
    return rc;
}
