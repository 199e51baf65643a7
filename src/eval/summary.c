/*
 * summary.c - mergeable summaries of observations, actions, confidence and latency
 * (summary.h): the histograms a bundle's reference statistics and a device's telemetry share.
 * Every feature has fixed bins, decided by the layout alone, so two summaries of the same
 * model always merge by adding counts.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/summary.h"

/* ---- histograms ----------------------------------------------------------------------- */

void td_hist_init(td_hist *h, const char *name, double lo, double hi, int n)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->name, sizeof(h->name), "%s", name);
    h->lo = lo;
    h->hi = hi;
    h->n = n < 1 ? 1 : n > TD_HIST_MAX_BINS ? TD_HIST_MAX_BINS : n;
}

/* Adds to a moment, saturating at +-DBL_MAX: JSON has no infinity, and a summary must write
 * and read back whatever it was fed (a lidar's "no return" is +inf). */
static double add_sat(double a, double b)
{
    double r = a + b;
    return r > DBL_MAX ? DBL_MAX : r < -DBL_MAX ? -DBL_MAX : r;
}

void td_hist_add(td_hist *h, double v)
{
    h->total++;
    if (!(v == v)) {
        h->over++;
        h->nan++;
        return;
    }
    /* +-inf counts in over/under and enters the moments as +-DBL_MAX. */
    double m = v > DBL_MAX ? DBL_MAX : v < -DBL_MAX ? -DBL_MAX : v;
    int first = h->total - h->nan == 1;
    if (first || m < h->min)
        h->min = m;
    if (first || m > h->max)
        h->max = m;
    h->sum = add_sat(h->sum, m);
    h->sum_sq = add_sat(h->sum_sq, m * m);
    if (v < h->lo) {
        h->under++;
    } else if (v >= h->hi) {
        h->over++;
    } else {
        int b = (int)((v - h->lo) / (h->hi - h->lo) * h->n);
        h->counts[b < h->n ? b : h->n - 1]++;
    }
}

static int same_bins(const td_hist *a, const td_hist *b)
{
    return !strcmp(a->name, b->name) && a->lo == b->lo && a->hi == b->hi && a->n == b->n;
}

int td_hist_merge(td_hist *dst, const td_hist *src)
{
    if (!same_bins(dst, src))
        return TD_EINVAL;
    if (src->total > src->nan) {
        int first = dst->total == dst->nan;
        if (first || src->min < dst->min)
            dst->min = src->min;
        if (first || src->max > dst->max)
            dst->max = src->max;
    }
    for (int i = 0; i < dst->n; i++)
        dst->counts[i] += src->counts[i];
    dst->under += src->under;
    dst->over += src->over;
    dst->nan += src->nan;
    dst->total += src->total;
    dst->sum = add_sat(dst->sum, src->sum);
    dst->sum_sq = add_sat(dst->sum_sq, src->sum_sq);
    return 0;
}

/* Counts are written as JSON integers (int64): a merge whose sums would not fit is refused. */
#define COUNT_MAX ((uint64_t)INT64_MAX)

static int add_fits(uint64_t a, uint64_t b)
{
    return a <= COUNT_MAX && b <= COUNT_MAX - a;
}

static int hist_merge_fits(const td_hist *a, const td_hist *b)
{
    for (int i = 0; i < a->n; i++)
        if (!add_fits(a->counts[i], b->counts[i]))
            return 0;
    return add_fits(a->under, b->under) && add_fits(a->over, b->over) && add_fits(a->nan, b->nan) &&
           add_fits(a->total, b->total);
}

static int long_add_fits(long a, long b)
{
    return b >= 0 ? a <= LONG_MAX - b : a >= LONG_MIN - b;
}

/* ---- layout and features -------------------------------------------------------------- */

void td_summary_layout_of(td_summary_layout *l, const td_infer_info *info)
{
    memset(l, 0, sizeof(*l));
    l->camera_h = info->camera_h;
    l->camera_w = info->camera_w;
    l->camera_c = info->camera_c;
    l->lidar_dim = info->lidar_dim;
    l->state_dim = info->state_dim;
    l->continuous = info->continuous;
    l->n_actions = info->continuous ? 0 : info->n_out;
}

/* Lidar values are grouped into this many contiguous sectors (at most 8). */
static int lidar_sectors(int dim)
{
    return dim < 8 ? dim : 8;
}

static int add_hist(td_summary *s, int *cap, const char *name, double lo, double hi, int n)
{
    if (s->n_hist == *cap) {
        int nc = *cap ? *cap * 2 : 32;
        td_hist *nh = td_realloc(s->hist, (size_t)nc * sizeof(td_hist));
        if (!nh)
            return TD_ENOMEM;
        s->hist = nh;
        *cap = nc;
    }
    td_hist_init(&s->hist[s->n_hist++], name, lo, hi, n);
    return 0;
}

int td_summary_init(td_summary *s, const td_summary_layout *l, td_err *err)
{
    int cap = 0, rc = 0;
    char name[TD_HIST_NAME_LEN];
    memset(s, 0, sizeof(*s));
    s->layout = *l;
    if (l->n_actions > TD_HIST_MAX_BINS || l->camera_c > 4 || l->lidar_dim < 0 ||
        l->state_dim < 0 || l->state_dim > 1024)
        return td_err_set(err, TD_EINVAL, "summary: unsupported layout");
    if (l->camera_h) {
        rc |= add_hist(s, &cap, "camera.pixel", 0, 256, 32);
        rc |= add_hist(s, &cap, "camera.brightness", 0, 256, 32);
        rc |= add_hist(s, &cap, "camera.contrast", 0, 128, 32);
        rc |= add_hist(s, &cap, "camera.edges", 0, 1.0000001, 20);
        for (int r = 0; r < TD_SUMMARY_GRID; r++)
            for (int c = 0; c < TD_SUMMARY_GRID; c++) {
                snprintf(name, sizeof(name), "camera.grid.%d.%d", r, c);
                rc |= add_hist(s, &cap, name, 0, 256, 16);
            }
    }
    for (int k = 0; k < lidar_sectors(l->lidar_dim); k++) {
        snprintf(name, sizeof(name), "lidar.sector.%d", k);
        rc |= add_hist(s, &cap, name, 0, 1.0000001, 20);
    }
    for (int i = 0; i < l->state_dim; i++) {
        snprintf(name, sizeof(name), "state.%d", i);
        rc |= add_hist(s, &cap, name, -1.5, 1.5, 30);
    }
    if (l->continuous) {
        rc |= add_hist(s, &cap, "action.steering", -1, 1.0000001, 20);
        rc |= add_hist(s, &cap, "action.speed", -1, 1.0000001, 20);
    } else if (l->n_actions > 0) {
        rc |= add_hist(s, &cap, "action", 0, l->n_actions, l->n_actions);
        rc |= add_hist(s, &cap, "policy.entropy", 0, log((double)l->n_actions) + 1e-9, 20);
        rc |= add_hist(s, &cap, "policy.top1", 0, 1.0000001, 20);
    }
    rc |= add_hist(s, &cap, "latency_ms", 0, 20, 80);
    if (rc) {
        td_summary_free(s);
        return td_err_set(err, TD_ENOMEM, "summary: out of memory");
    }
    return 0;
}

void td_summary_free(td_summary *s)
{
    if (!s)
        return;
    td_free(s->hist);
    s->hist = NULL;
    s->n_hist = 0;
}

const td_hist *td_summary_find(const td_summary *s, const char *name)
{
    for (int i = 0; i < s->n_hist; i++)
        if (!strcmp(s->hist[i].name, name))
            return &s->hist[i];
    return NULL;
}

/* The camera features of one frame (channels interleaved; all channels count). */
static void add_camera(td_summary *s, int *hi, const uint8_t *px)
{
    const td_summary_layout *l = &s->layout;
    int H = l->camera_h, W = l->camera_w, C = l->camera_c;
    double cell_sum[TD_SUMMARY_GRID][TD_SUMMARY_GRID] = {{0}};
    long cell_n[TD_SUMMARY_GRID][TD_SUMMARY_GRID] = {{0}};
    uint64_t pix[32] = {0};
    double sum = 0, sum_sq = 0;
    long edges = 0, n = (long)H * W * C;
    for (int y = 0; y < H; y++) {
        int gr = y * TD_SUMMARY_GRID / H;
        const uint8_t *row = px + (size_t)y * W * C;
        for (int x = 0; x < W; x++) {
            int gc = x * TD_SUMMARY_GRID / W;
            for (int c = 0; c < C; c++) {
                int v = row[x * C + c];
                sum += v;
                sum_sq += (double)v * v;
                pix[v >> 3]++;
                cell_sum[gr][gc] += v;
                cell_n[gr][gc]++;
                int e = (x + 1 < W && abs(v - row[(x + 1) * C + c]) > TD_SUMMARY_EDGE) ||
                        (y + 1 < H && abs(v - row[(size_t)W * C + x * C + c]) > TD_SUMMARY_EDGE);
                edges += e;
            }
        }
    }
    /* camera.pixel: whole-frame pixel counts go straight into the bins (exactly what adding
     * each pixel would do, without n calls). */
    td_hist *hp = &s->hist[(*hi)++];
    for (int b = 0; b < 32; b++)
        hp->counts[b] += pix[b];
    {
        /* min/max of the pixels themselves */
        int mn = 255, mx = 0;
        for (long i = 0; i < n; i++) {
            mn = px[i] < mn ? px[i] : mn;
            mx = px[i] > mx ? px[i] : mx;
        }
        if (hp->total == 0 || mn < hp->min)
            hp->min = mn;
        if (hp->total == 0 || mx > hp->max)
            hp->max = mx;
    }
    hp->total += (uint64_t)n;
    hp->sum += sum;
    hp->sum_sq += sum_sq;
    double mean = sum / (double)n;
    double var = sum_sq / (double)n - mean * mean;
    td_hist_add(&s->hist[(*hi)++], mean);
    td_hist_add(&s->hist[(*hi)++], sqrt(var > 0 ? var : 0));
    td_hist_add(&s->hist[(*hi)++], (double)edges / (double)n);
    for (int r = 0; r < TD_SUMMARY_GRID; r++)
        for (int c = 0; c < TD_SUMMARY_GRID; c++)
            td_hist_add(&s->hist[(*hi)++], cell_n[r][c] ? cell_sum[r][c] / cell_n[r][c] : 0);
}

void td_summary_add(td_summary *s, const td_infer_obs *obs, const float *outputs, double latency_ms)
{
    const td_summary_layout *l = &s->layout;
    int hi = 0;
    s->frames++;
    if (l->camera_h) {
        if (obs && obs->camera)
            add_camera(s, &hi, obs->camera);
        else
            hi += 4 + TD_SUMMARY_GRID * TD_SUMMARY_GRID;
    }
    int ns = lidar_sectors(l->lidar_dim);
    for (int k = 0; k < ns; k++) {
        td_hist *h = &s->hist[hi++];
        if (!obs || !obs->lidar)
            continue;
        int a = k * l->lidar_dim / ns, b = (k + 1) * l->lidar_dim / ns;
        for (int i = a; i < b; i++)
            td_hist_add(h, obs->lidar[i]);
    }
    for (int i = 0; i < l->state_dim; i++) {
        td_hist *h = &s->hist[hi++];
        if (obs && obs->state)
            td_hist_add(h, obs->state[i]);
    }
    if (l->continuous) {
        if (outputs) {
            td_hist_add(&s->hist[hi], outputs[0]);
            td_hist_add(&s->hist[hi + 1], outputs[1]);
        }
        hi += 2;
    } else if (l->n_actions > 0) {
        if (outputs) {
            int best = 0, n = l->n_actions;
            double mx = outputs[0], z = 0, ent = 0;
            for (int i = 1; i < n; i++)
                if (outputs[i] > mx) {
                    mx = outputs[i];
                    best = i;
                }
            for (int i = 0; i < n; i++)
                z += exp(outputs[i] - mx);
            for (int i = 0; i < n; i++) {
                double p = exp(outputs[i] - mx) / z;
                if (p > 0)
                    ent -= p * log(p);
            }
            td_hist_add(&s->hist[hi], best);
            td_hist_add(&s->hist[hi + 1], ent);
            td_hist_add(&s->hist[hi + 2], 1.0 / z);
        }
        hi += 3;
    }
    if (latency_ms >= 0)
        td_hist_add(&s->hist[hi], latency_ms);
}

void td_summary_add_lap(td_summary *s, double lap_s)
{
    td_summary_outcomes *o = &s->outcomes;
    if (o->n_laps < TD_SUMMARY_MAX_LAPS)
        o->lap_times_s[o->n_laps++] = lap_s;
    o->laps_total++;
}

static int same_layout(const td_summary_layout *a, const td_summary_layout *b)
{
    return a->camera_h == b->camera_h && a->camera_w == b->camera_w && a->camera_c == b->camera_c &&
           a->lidar_dim == b->lidar_dim && a->state_dim == b->state_dim &&
           a->n_actions == b->n_actions && a->continuous == b->continuous;
}

int td_summary_merge(td_summary *dst, const td_summary *src, td_err *err)
{
    if (!same_layout(&dst->layout, &src->layout) || dst->n_hist != src->n_hist)
        return td_err_set(err, TD_EINVAL, "summary: the two summaries are of different models");
    for (int i = 0; i < dst->n_hist; i++)
        if (!same_bins(&dst->hist[i], &src->hist[i]))
            return td_err_set(err, TD_EINVAL, "summary: histogram %s has different bins",
                              dst->hist[i].name);
    /* Nothing changes unless every sum fits. */
    for (int i = 0; i < dst->n_hist; i++)
        if (!hist_merge_fits(&dst->hist[i], &src->hist[i]))
            return td_err_set(err, TD_ERANGE, "summary: histogram %s: the counts would overflow",
                              dst->hist[i].name);
    const td_summary_outcomes *a = &dst->outcomes, *b = &src->outcomes;
    if (!add_fits(dst->frames, src->frames) || !long_add_fits(a->laps_total, b->laps_total) ||
        !long_add_fits(a->episodes, b->episodes) || !long_add_fits(a->off_tracks, b->off_tracks) ||
        !long_add_fits(a->crashes, b->crashes) || !long_add_fits(a->resets, b->resets))
        return td_err_set(err, TD_ERANGE, "summary: the frame or outcome counts would overflow");
    for (int i = 0; i < dst->n_hist; i++)
        td_hist_merge(&dst->hist[i], &src->hist[i]);
    dst->frames += src->frames;
    td_summary_outcomes *o = &dst->outcomes;
    const td_summary_outcomes *q = &src->outcomes;
    int n_laps = q->n_laps; /* src may be dst */
    for (int i = 0; i < n_laps && o->n_laps < TD_SUMMARY_MAX_LAPS; i++)
        o->lap_times_s[o->n_laps++] = q->lap_times_s[i];
    o->laps_total += q->laps_total;
    o->episodes += q->episodes;
    o->off_tracks += q->off_tracks;
    o->crashes += q->crashes;
    o->resets += q->resets;
    o->distance_m = add_sat(o->distance_m, q->distance_m);
    return 0;
}

/* ---- JSON ----------------------------------------------------------------------------- */

static json_t *hist_json(const td_hist *h)
{
    json_t *j = json_object(), *c = json_array();
    for (int i = 0; i < h->n; i++)
        json_array_append_new(c, json_integer((json_int_t)h->counts[i]));
    json_object_set_new(j, "lo", json_real(h->lo));
    json_object_set_new(j, "hi", json_real(h->hi));
    json_object_set_new(j, "counts", c);
    json_object_set_new(j, "under", json_integer((json_int_t)h->under));
    json_object_set_new(j, "over", json_integer((json_int_t)h->over));
    json_object_set_new(j, "total", json_integer((json_int_t)h->total));
    json_object_set_new(j, "nan", json_integer((json_int_t)h->nan));
    json_object_set_new(j, "sum", json_real(h->sum));
    json_object_set_new(j, "sum_sq", json_real(h->sum_sq));
    json_object_set_new(j, "min", json_real(h->min));
    json_object_set_new(j, "max", json_real(h->max));
    return j;
}

json_t *td_summary_to_json(const td_summary *s)
{
    const td_summary_layout *l = &s->layout;
    json_t *j = json_object(), *lay = json_object(), *hs = json_object(), *o = json_object();
    if (l->camera_h)
        json_object_set_new(lay, "camera",
                            json_pack("[iii]", l->camera_h, l->camera_w, l->camera_c));
    json_object_set_new(lay, "lidar", json_integer(l->lidar_dim));
    json_object_set_new(lay, "state", json_integer(l->state_dim));
    json_object_set_new(lay, "n_actions", json_integer(l->n_actions));
    json_object_set_new(lay, "continuous", json_boolean(l->continuous));
    for (int i = 0; i < s->n_hist; i++)
        json_object_set_new(hs, s->hist[i].name, hist_json(&s->hist[i]));
    json_t *laps = json_array();
    for (int i = 0; i < s->outcomes.n_laps; i++)
        json_array_append_new(laps, json_real(s->outcomes.lap_times_s[i]));
    json_object_set_new(o, "lap_times_s", laps);
    json_object_set_new(o, "laps", json_integer(s->outcomes.laps_total));
    json_object_set_new(o, "episodes", json_integer(s->outcomes.episodes));
    json_object_set_new(o, "off_tracks", json_integer(s->outcomes.off_tracks));
    json_object_set_new(o, "crashes", json_integer(s->outcomes.crashes));
    json_object_set_new(o, "resets", json_integer(s->outcomes.resets));
    json_object_set_new(o, "distance_m", json_real(s->outcomes.distance_m));
    json_object_set_new(j, "frames", json_integer((json_int_t)s->frames));
    json_object_set_new(j, "layout", lay);
    json_object_set_new(j, "histograms", hs);
    json_object_set_new(j, "outcomes", o);
    return j;
}

static int get_u64(const json_t *o, const char *key, uint64_t *v)
{
    const json_t *x = json_object_get(o, key);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return -1;
    *v = (uint64_t)json_integer_value(x);
    return 0;
}

static int get_num(const json_t *o, const char *key, double *v)
{
    const json_t *x = json_object_get(o, key);
    if (!json_is_number(x))
        return -1;
    *v = json_number_value(x);
    return 0;
}

int td_summary_from_json(td_summary *s, const json_t *j, td_err *err)
{
    td_summary_layout l;
    memset(&l, 0, sizeof(l));
    memset(s, 0, sizeof(*s));
    const json_t *lay = json_object_get(j, "layout");
    if (!json_is_object(lay))
        return td_err_set(err, TD_EFORMAT, "summary: no \"layout\" object");
    const json_t *cam = json_object_get(lay, "camera");
    if (cam) {
        if (!json_is_array(cam) || json_array_size(cam) != 3)
            return td_err_set(err, TD_EFORMAT, "summary: layout.camera must be [h, w, c]");
        l.camera_h = (int)json_integer_value(json_array_get(cam, 0));
        l.camera_w = (int)json_integer_value(json_array_get(cam, 1));
        l.camera_c = (int)json_integer_value(json_array_get(cam, 2));
        if (l.camera_h < 1 || l.camera_w < 1 || l.camera_c < 1 || l.camera_h > 4096 ||
            l.camera_w > 4096)
            return td_err_set(err, TD_EFORMAT, "summary: layout.camera out of range");
    }
    l.lidar_dim = (int)json_integer_value(json_object_get(lay, "lidar"));
    l.state_dim = (int)json_integer_value(json_object_get(lay, "state"));
    l.n_actions = (int)json_integer_value(json_object_get(lay, "n_actions"));
    l.continuous = json_is_true(json_object_get(lay, "continuous"));
    if (l.lidar_dim < 0 || l.lidar_dim > 4096 || l.n_actions < 0)
        return td_err_set(err, TD_EFORMAT, "summary: layout out of range");
    int rc = td_summary_init(s, &l, err);
    if (rc)
        return rc;
    uint64_t frames;
    if (get_u64(j, "frames", &frames) != 0) {
        td_summary_free(s);
        return td_err_set(err, TD_EFORMAT, "summary: \"frames\" must be a non-negative integer");
    }
    s->frames = frames;
    const json_t *hs = json_object_get(j, "histograms");
    for (int i = 0; i < s->n_hist; i++) {
        td_hist *h = &s->hist[i];
        const json_t *o = json_object_get(hs, h->name), *c;
        double lo, hi;
        /* The bins are the layout's; the file's lo/hi must match them (to the 9 significant
         * digits JSON writers may keep). */
        if (!json_is_object(o) || get_num(o, "lo", &lo) || get_num(o, "hi", &hi) ||
            fabs(lo - h->lo) > 1e-7 * fmax(1, fabs(h->lo)) ||
            fabs(hi - h->hi) > 1e-7 * fmax(1, fabs(h->hi)) ||
            !json_is_array(c = json_object_get(o, "counts")) || (int)json_array_size(c) != h->n ||
            get_u64(o, "under", &h->under) || get_u64(o, "over", &h->over) ||
            get_u64(o, "total", &h->total) || get_u64(o, "nan", &h->nan) || h->nan > h->over ||
            get_num(o, "sum", &h->sum) || get_num(o, "sum_sq", &h->sum_sq) ||
            get_num(o, "min", &h->min) || get_num(o, "max", &h->max)) {
            td_err_set(err, TD_EFORMAT,
                       "summary: histogram %s missing or not as this layout defines it", h->name);
            td_summary_free(s);
            return TD_EFORMAT;
        }
        uint64_t sum = h->under + h->over;
        for (int b = 0; b < h->n; b++) {
            const json_t *x = json_array_get(c, (size_t)b);
            if (!json_is_integer(x) || json_integer_value(x) < 0) {
                td_err_set(err, TD_EFORMAT, "summary: histogram %s: bad count %d", h->name, b);
                td_summary_free(s);
                return TD_EFORMAT;
            }
            h->counts[b] = (uint64_t)json_integer_value(x);
            if (!add_fits(sum, h->counts[b])) {
                td_err_set(err, TD_EFORMAT, "summary: histogram %s: counts overflow", h->name);
                td_summary_free(s);
                return TD_EFORMAT;
            }
            sum += h->counts[b];
        }
        if (sum != h->total) {
            td_err_set(err, TD_EFORMAT,
                       "summary: histogram %s: counts add up to %llu, total says %llu", h->name,
                       (unsigned long long)sum, (unsigned long long)h->total);
            td_summary_free(s);
            return TD_EFORMAT;
        }
    }
    const json_t *o = json_object_get(j, "outcomes"), *laps = json_object_get(o, "lap_times_s");
    size_t i;
    const json_t *v;
    json_array_foreach(laps, i, v)
    {
        if (s->outcomes.n_laps < TD_SUMMARY_MAX_LAPS && json_is_number(v))
            s->outcomes.lap_times_s[s->outcomes.n_laps++] = json_number_value(v);
    }
    s->outcomes.laps_total = (long)json_integer_value(json_object_get(o, "laps"));
    s->outcomes.episodes = (long)json_integer_value(json_object_get(o, "episodes"));
    s->outcomes.off_tracks = (long)json_integer_value(json_object_get(o, "off_tracks"));
    s->outcomes.crashes = (long)json_integer_value(json_object_get(o, "crashes"));
    s->outcomes.resets = (long)json_integer_value(json_object_get(o, "resets"));
    s->outcomes.distance_m = json_number_value(json_object_get(o, "distance_m"));
    return 0;
}
