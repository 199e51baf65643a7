/*
 * logs.c - analysis of simtrace logs (eval.h), as the community tools (deepracer-utils,
 * log-guru) do it: episodes cut from the rows, per-iteration aggregates, the fastest complete
 * laps, where the other episodes ended; per-waypoint summaries of speed and steering; and
 * the training metrics file (one JSON object per line).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trackday/logs.h"

/* ------------------------------------------------------------------------------------ */
/* Episodes and iterations                                                              */
/* ------------------------------------------------------------------------------------ */

/* The iteration number in a DeepRacer file name "N-iteration.csv", or -1. */
static long iteration_from_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!isdigit((unsigned char)base[0]))
        return -1;
    char *end;
    long v = strtol(base, &end, 10);
    if (*end != '-' && *end != '_' && *end != '.')
        return -1;
    return v;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* Complete episodes sorted by lap time (ties by episode order). The keys travel with the
 * indices, so the comparison needs no global state and analyses may run in parallel. */
typedef struct lap_key {
    double lap_time_s;
    int index;
} lap_key;

static int cmp_lap(const void *a, const void *b)
{
    const lap_key *x = a, *y = b;
    if (x->lap_time_s != y->lap_time_s)
        return x->lap_time_s < y->lap_time_s ? -1 : 1;
    return x->index - y->index;
}

static int cmp_end(const void *a, const void *b)
{
    const td_logs_end *x = a, *y = b;
    if (x->count != y->count)
        return y->count - x->count;
    return x->waypoint - y->waypoint;
}

void td_logs_report_free(td_logs_report *r)
{
    td_free(r->episodes);
    td_free(r->iterations);
    td_free(r->fastest);
    td_free(r->ends);
    memset(r, 0, sizeof(*r));
}

static int status_is(const char *s, const char *name)
{
    return strcmp(s, name) == 0;
}

int td_logs_analyze(td_logs_report *r, const td_simtrace *t, int episodes_per_iteration,
                    td_err *err)
{
    memset(r, 0, sizeof(*r));
    if (episodes_per_iteration < 1)
        return td_err_set(err, TD_EINVAL, "episodes per iteration must be >= 1 (got %d)",
                          episodes_per_iteration);
    r->n_rows = t->n;
    r->n_files = t->n_files;
    if (t->n == 0)
        return 0;

    /* Count episodes first so one allocation holds them. */
    int ne = 0;
    for (int i = 0; i < t->n; i++)
        if (i == 0 || t->rows[i].file != t->rows[i - 1].file ||
            t->rows[i].episode != t->rows[i - 1].episode)
            ne++;
    r->episodes = td_calloc((size_t)ne, sizeof(td_logs_episode));
    r->fastest = td_calloc((size_t)ne, sizeof(int));
    r->ends = td_calloc((size_t)ne, sizeof(td_logs_end));
    long *iters = td_calloc((size_t)ne, sizeof(long));
    if (!r->episodes || !r->fastest || !r->ends || !iters) {
        td_free(iters);
        td_logs_report_free(r);
        return td_err_set(err, TD_ENOMEM, "out of memory analysing %d episodes", ne);
    }

    int all_iter = 1;
    for (int i = 0; i < t->n; i++)
        if (t->rows[i].iteration < 0) {
            all_iter = 0;
            break;
        }
    r->iteration_source = all_iter         ? TD_LOGS_ITER_COLUMN
                          : t->n_files > 1 ? TD_LOGS_ITER_FILE
                                           : TD_LOGS_ITER_EPISODES;

    int k = -1;
    for (int i = 0; i < t->n; i++) {
        const td_simtrace_row *row = &t->rows[i];
        if (i == 0 || row->file != t->rows[i - 1].file || row->episode != t->rows[i - 1].episode) {
            k++;
            td_logs_episode *e = &r->episodes[k];
            e->episode = row->episode;
            e->file = row->file;
            e->first_row = i;
            if (r->iteration_source == TD_LOGS_ITER_COLUMN) {
                e->iteration = row->iteration;
            } else if (r->iteration_source == TD_LOGS_ITER_FILE) {
                long it = iteration_from_name(t->files[row->file]);
                e->iteration = it >= 0 ? it : row->file;
            } else {
                e->iteration = k / episodes_per_iteration;
            }
        }
        td_logs_episode *e = &r->episodes[k];
        e->n_rows++;
        e->total_reward += row->reward;
        e->mean_speed += row->throttle;
    }
    r->n_episodes = ne;

    for (int j = 0; j < ne; j++) {
        td_logs_episode *e = &r->episodes[j];
        const td_simtrace_row *last = &t->rows[e->first_row + e->n_rows - 1];
        e->mean_speed /= e->n_rows;
        /* The episode's own steps, as deepracer-utils counts them (max - min + 1): a
         * continuous evaluation's laps are episodes whose steps run on across them. */
        e->steps = last->steps - t->rows[e->first_row].steps + 1;
        e->progress = last->progress;
        memcpy(e->status, last->episode_status, sizeof(e->status));
        e->complete =
            status_is(last->episode_status, "lap_complete") || last->progress >= 100.0 - 1e-6;
        e->lap_time_s =
            e->complete ? td_simtrace_lap_time(t->rows, e->first_row, e->first_row + e->n_rows - 1)
                        : -1.0;
        e->end_waypoint = last->closest_waypoint;
        e->end_x = last->x;
        e->end_y = last->y;
        iters[j] = e->iteration;
        if (e->complete)
            r->fastest[r->n_fastest++] = j;
    }
    if (r->n_fastest > 1) {
        lap_key *keys = td_malloc(sizeof(lap_key) * (size_t)r->n_fastest);
        if (!keys) {
            td_free(iters);
            td_logs_report_free(r);
            return td_err_set(err, TD_ENOMEM, "out of memory sorting %d laps", ne);
        }
        for (int q = 0; q < r->n_fastest; q++)
            keys[q] = (lap_key){r->episodes[r->fastest[q]].lap_time_s, r->fastest[q]};
        qsort(keys, (size_t)r->n_fastest, sizeof(lap_key), cmp_lap);
        for (int q = 0; q < r->n_fastest; q++)
            r->fastest[q] = keys[q].index;
        td_free(keys);
    }

    /* Iterations: the distinct iteration values in order. */
    qsort(iters, (size_t)ne, sizeof(long), cmp_long);
    int ni = 0;
    for (int j = 0; j < ne; j++)
        if (j == 0 || iters[j] != iters[j - 1])
            iters[ni++] = iters[j];
    r->iterations = td_calloc((size_t)ni, sizeof(td_logs_iteration));
    if (!r->iterations) {
        td_free(iters);
        td_logs_report_free(r);
        return td_err_set(err, TD_ENOMEM, "out of memory analysing iterations");
    }
    r->n_iterations = ni;
    for (int q = 0; q < ni; q++) {
        r->iterations[q].iteration = iters[q];
        r->iterations[q].best_lap_s = -1;
    }
    for (int j = 0; j < ne; j++) {
        const td_logs_episode *e = &r->episodes[j];
        long *hit = bsearch(&e->iteration, iters, (size_t)ni, sizeof(long), cmp_long);
        td_logs_iteration *it = &r->iterations[hit - iters];
        it->episodes++;
        it->mean_reward += e->total_reward;
        it->mean_progress += e->progress;
        it->mean_steps += (double)e->steps;
        if (e->complete) {
            it->complete++;
            if (it->best_lap_s < 0 || e->lap_time_s < it->best_lap_s)
                it->best_lap_s = e->lap_time_s;
        }
    }
    for (int q = 0; q < ni; q++) {
        td_logs_iteration *it = &r->iterations[q];
        it->mean_reward /= it->episodes;
        it->mean_progress /= it->episodes;
        it->mean_steps /= it->episodes;
        it->completion_rate = (double)it->complete / it->episodes;
    }
    td_free(iters);

    /* Where incomplete episodes ended, by waypoint. */
    for (int j = 0; j < ne; j++) {
        const td_logs_episode *e = &r->episodes[j];
        if (e->complete)
            continue;
        td_logs_end *end = NULL;
        for (int q = 0; q < r->n_ends; q++)
            if (r->ends[q].waypoint == e->end_waypoint) {
                end = &r->ends[q];
                break;
            }
        if (!end) {
            end = &r->ends[r->n_ends++];
            end->waypoint = e->end_waypoint;
        }
        end->count++;
        if (status_is(e->status, "off_track"))
            end->off_track++;
        else if (status_is(e->status, "crashed"))
            end->crashed++;
        else if (status_is(e->status, "reversed"))
            end->reversed++;
        else if (status_is(e->status, "immobilized"))
            end->immobilized++;
        else
            end->other++;
    }
    qsort(r->ends, (size_t)r->n_ends, sizeof(td_logs_end), cmp_end);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* JSON                                                                                 */
/* ------------------------------------------------------------------------------------ */

static json_t *num_or_null(double v)
{
    return v >= 0 && isfinite(v) ? json_real(v) : json_null();
}

/* Rounds for output, so reports diff cleanly (values keep 6 significant decimals). */
static json_t *real6(double v)
{
    if (!isfinite(v))
        return json_null();
    return json_real(round(v * 1e6) / 1e6);
}

static const char *iteration_source_name(int s)
{
    return s == TD_LOGS_ITER_COLUMN ? "column" : s == TD_LOGS_ITER_FILE ? "file" : "episodes";
}

json_t *td_logs_report_json(const td_logs_report *r, const td_simtrace *t)
{
    json_t *root = json_object();
    json_t *files = json_array();
    json_t *iters = json_array();
    json_t *eps = json_array();
    json_t *fast = json_array();
    json_t *ends = json_array();
    json_t *summary = json_object();
    if (!root || !files || !iters || !eps || !fast || !ends || !summary) {
        json_decref(root);
        json_decref(files);
        json_decref(iters);
        json_decref(eps);
        json_decref(fast);
        json_decref(ends);
        json_decref(summary);
        return NULL;
    }
    for (int i = 0; t && i < t->n_files; i++)
        json_array_append_new(files, json_string(t->files[i]));

    int complete = 0;
    double sum_progress = 0, sum_reward = 0;
    for (int j = 0; j < r->n_episodes; j++) {
        const td_logs_episode *e = &r->episodes[j];
        complete += e->complete;
        sum_progress += e->progress;
        sum_reward += e->total_reward;
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer(j));
        json_object_set_new(o, "episode", json_integer(e->episode));
        json_object_set_new(o, "iteration", json_integer(e->iteration));
        json_object_set_new(o, "file", json_integer(e->file));
        json_object_set_new(o, "steps", json_integer(e->steps));
        json_object_set_new(o, "progress", real6(e->progress));
        json_object_set_new(o, "total_reward", real6(e->total_reward));
        json_object_set_new(o, "mean_speed", real6(e->mean_speed));
        json_object_set_new(o, "status", json_string(e->status));
        json_object_set_new(o, "complete", json_boolean(e->complete));
        json_object_set_new(o, "lap_time_s", e->complete ? real6(e->lap_time_s) : json_null());
        json_object_set_new(o, "end_waypoint", json_integer(e->end_waypoint));
        json_array_append_new(eps, o);
    }
    for (int q = 0; q < r->n_iterations; q++) {
        const td_logs_iteration *it = &r->iterations[q];
        json_t *o = json_object();
        json_object_set_new(o, "iteration", json_integer(it->iteration));
        json_object_set_new(o, "episodes", json_integer(it->episodes));
        json_object_set_new(o, "complete", json_integer(it->complete));
        json_object_set_new(o, "completion_rate", real6(it->completion_rate));
        json_object_set_new(o, "mean_reward", real6(it->mean_reward));
        json_object_set_new(o, "mean_progress", real6(it->mean_progress));
        json_object_set_new(o, "mean_steps", real6(it->mean_steps));
        json_object_set_new(o, "best_lap_s", num_or_null(it->best_lap_s));
        json_array_append_new(iters, o);
    }
    for (int q = 0; q < r->n_fastest; q++) {
        const td_logs_episode *e = &r->episodes[r->fastest[q]];
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer(r->fastest[q]));
        json_object_set_new(o, "episode", json_integer(e->episode));
        json_object_set_new(o, "iteration", json_integer(e->iteration));
        json_object_set_new(o, "lap_time_s", real6(e->lap_time_s));
        json_object_set_new(o, "steps", json_integer(e->steps));
        json_object_set_new(o, "total_reward", real6(e->total_reward));
        json_array_append_new(fast, o);
    }
    for (int q = 0; q < r->n_ends; q++) {
        const td_logs_end *e = &r->ends[q];
        json_t *o = json_object();
        json_object_set_new(o, "waypoint", json_integer(e->waypoint));
        json_object_set_new(o, "count", json_integer(e->count));
        json_object_set_new(o, "off_track", json_integer(e->off_track));
        json_object_set_new(o, "crashed", json_integer(e->crashed));
        json_object_set_new(o, "reversed", json_integer(e->reversed));
        json_object_set_new(o, "immobilized", json_integer(e->immobilized));
        json_object_set_new(o, "other", json_integer(e->other));
        json_array_append_new(ends, o);
    }
    int ne = r->n_episodes;
    json_object_set_new(summary, "rows", json_integer(r->n_rows));
    json_object_set_new(summary, "episodes", json_integer(ne));
    json_object_set_new(summary, "complete", json_integer(complete));
    json_object_set_new(summary, "completion_rate", real6(ne ? (double)complete / ne : 0));
    json_object_set_new(summary, "mean_progress", real6(ne ? sum_progress / ne : 0));
    json_object_set_new(summary, "mean_reward", real6(ne ? sum_reward / ne : 0));
    json_object_set_new(summary, "best_lap_s",
                        r->n_fastest ? real6(r->episodes[r->fastest[0]].lap_time_s) : json_null());
    json_object_set_new(summary, "iteration_source",
                        json_string(iteration_source_name(r->iteration_source)));

    json_object_set_new(root, "files", files);
    json_object_set_new(root, "summary", summary);
    json_object_set_new(root, "iterations", iters);
    json_object_set_new(root, "episodes", eps);
    json_object_set_new(root, "fastest_laps", fast);
    json_object_set_new(root, "episode_ends", ends);
    return root;
}

/* ------------------------------------------------------------------------------------ */
/* Per-waypoint summaries                                                               */
/* ------------------------------------------------------------------------------------ */

void td_waypoint_summary_free(td_waypoint_summary *ws)
{
    td_free(ws->speed);
    td_free(ws->count);
    td_free(ws->action_count);
    td_free(ws->action_steer_deg);
    memset(ws, 0, sizeof(*ws));
}

int td_waypoint_summary_set_actions(td_waypoint_summary *ws, int n, const double *steer_deg,
                                    const double *speed, td_err *err)
{
    if (n > TD_SUMMARY_MAX_ACTIONS)
        n = TD_SUMMARY_MAX_ACTIONS;
    int old = ws->n_actions;
    if (n > old) {
        size_t nb = (size_t)ws->n_bins;
        long *cnt = td_calloc(nb * (size_t)n, sizeof(long));
        double *per = td_malloc(sizeof(double) * 3 * (size_t)n);
        if (!cnt || !per) {
            td_free(cnt);
            td_free(per);
            return td_err_set(err, TD_ENOMEM, "waypoint summary: out of memory");
        }
        for (size_t b = 0; b < nb; b++)
            for (int a = 0; a < old; a++)
                cnt[b * (size_t)n + (size_t)a] = ws->action_count[b * (size_t)old + (size_t)a];
        for (int a = 0; a < n; a++)
            per[2 * n + a] = a < old ? ws->action_steer_deg[2 * old + a] : 0;
        td_free(ws->action_count);
        td_free(ws->action_steer_deg);
        ws->action_count = cnt;
        ws->action_steer_deg = per;
        ws->action_speed = per + n;
        ws->n_actions = n;
    }
    /* What each action commands, from the model (for the rows' actions, the same numbers). */
    for (int a = 0; a < n; a++) {
        ws->action_steer_deg[a] = steer_deg[a];
        ws->action_speed[a] = speed[a];
    }
    return 0;
}

/* The centreline point and direction at arc length s (binary search over arc). */
static void center_at(const td_track *tr, double s, double *x, double *y, double *dir)
{
    int lo = 0, hi = tr->n - 1;
    if (s < 0)
        s = 0;
    if (s > tr->length)
        s = tr->length;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (tr->arc[mid] <= s)
            lo = mid;
        else
            hi = mid;
    }
    double seg = tr->arc[hi] - tr->arc[lo];
    double u = seg > 1e-12 ? (s - tr->arc[lo]) / seg : 0;
    double ax = tr->center[2 * lo], ay = tr->center[2 * lo + 1];
    double bx = tr->center[2 * hi], by = tr->center[2 * hi + 1];
    *x = ax + (bx - ax) * u;
    *y = ay + (by - ay) * u;
    *dir = atan2(by - ay, bx - ax);
}

int td_waypoint_summary_compute(td_waypoint_summary *ws, const td_simtrace *t, int first, int n,
                                const td_track *track, int n_bins, td_err *err)
{
    memset(ws, 0, sizeof(*ws));
    if (n_bins < 1 || n_bins > 100000)
        return td_err_set(err, TD_EINVAL, "waypoint summary: %d sections (1..100000)", n_bins);
    if (first < 0)
        first = 0;
    int last = n < 0 ? t->n : first + n;
    if (last > t->n)
        last = t->n;
    if (track && (track->n < 2 || track->length <= 0))
        return td_err_set(err, TD_EINVAL, "waypoint summary: the track has no length");

    size_t nb = (size_t)n_bins;
    ws->speed = td_malloc(sizeof(double) * nb * 6);
    ws->count = td_calloc(nb, sizeof(long));
    if (!ws->speed || !ws->count) {
        td_waypoint_summary_free(ws);
        return td_err_set(err, TD_ENOMEM, "waypoint summary: out of memory");
    }
    ws->n_bins = n_bins;
    ws->steer_deg = ws->speed + nb;
    ws->reward = ws->speed + 2 * nb;
    ws->x = ws->speed + 3 * nb;
    ws->y = ws->speed + 4 * nb;
    ws->dir_rad = ws->speed + 5 * nb;
    for (size_t b = 0; b < nb * 6; b++)
        ws->speed[b] = 0;

    int max_wp = 0, max_action = -1;
    for (int i = first; i < last; i++) {
        if (t->rows[i].closest_waypoint > max_wp)
            max_wp = t->rows[i].closest_waypoint;
        if (t->rows[i].action > max_action && t->rows[i].action < TD_SUMMARY_MAX_ACTIONS)
            max_action = t->rows[i].action;
    }
    int na = max_action + 1;
    if (na > 0) {
        ws->action_count = td_calloc(nb * (size_t)na, sizeof(long));
        ws->action_steer_deg = td_calloc((size_t)na * 3, sizeof(double));
        if (!ws->action_count || !ws->action_steer_deg) {
            td_waypoint_summary_free(ws);
            return td_err_set(err, TD_ENOMEM, "waypoint summary: out of memory");
        }
        ws->n_actions = na;
        ws->action_speed = ws->action_steer_deg + na;
    }
    double *action_n = ws->action_steer_deg ? ws->action_steer_deg + 2 * na : NULL;
    for (int i = first; i < last; i++) {
        const td_simtrace_row *row = &t->rows[i];
        int wp = row->closest_waypoint < 0 ? 0 : row->closest_waypoint;
        double frac;
        if (track) {
            if (wp > track->n - 1)
                wp = track->n - 1;
            frac = track->arc[wp] / track->length;
        } else {
            frac = (double)wp / (max_wp + 1);
        }
        int b = (int)(frac * n_bins);
        if (b >= n_bins)
            b = n_bins - 1;
        if (b < 0)
            b = 0;
        ws->count[b]++;
        if (row->action >= 0 && row->action < na) {
            ws->action_count[(size_t)b * (size_t)na + (size_t)row->action]++;
            ws->action_steer_deg[row->action] += row->steer_deg;
            ws->action_speed[row->action] += row->throttle;
            action_n[row->action] += 1;
        }
        ws->speed[b] += row->throttle;
        ws->steer_deg[b] += row->steer_deg;
        ws->reward[b] += row->reward;
    }
    for (int a = 0; a < na; a++) {
        ws->action_steer_deg[a] = action_n[a] > 0 ? ws->action_steer_deg[a] / action_n[a] : NAN;
        ws->action_speed[a] = action_n[a] > 0 ? ws->action_speed[a] / action_n[a] : NAN;
    }
    for (int b = 0; b < n_bins; b++) {
        if (ws->count[b]) {
            ws->speed[b] /= (double)ws->count[b];
            ws->steer_deg[b] /= (double)ws->count[b];
            ws->reward[b] /= (double)ws->count[b];
        } else {
            ws->speed[b] = ws->steer_deg[b] = ws->reward[b] = NAN;
        }
        if (track)
            center_at(track, (b + 0.5) / n_bins * track->length, &ws->x[b], &ws->y[b],
                      &ws->dir_rad[b]);
        else
            ws->x[b] = ws->y[b] = ws->dir_rad[b] = NAN;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Training metrics                                                                     */
/* ------------------------------------------------------------------------------------ */

void td_metrics_free(td_metrics *m)
{
    td_free(m->iteration);
    td_free(m->best);
    memset(m, 0, sizeof(*m));
}

static double get_num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return v && json_is_number(v) ? json_number_value(v) : NAN;
}

int td_metrics_load(td_metrics *m, const char *path, td_err *err)
{
    memset(m, 0, sizeof(*m));
    m->best_index = -1;
    char *data;
    size_t len;
    int rc = td_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    lines++;
    size_t nl = (size_t)lines;
    m->iteration = td_malloc(sizeof(double) * nl * 8);
    m->best = td_calloc(nl, sizeof(int));
    if (!m->iteration || !m->best) {
        td_free(data);
        td_metrics_free(m);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    }
    m->episodes = m->iteration + nl;
    m->steps = m->iteration + 2 * nl;
    m->mean_reward = m->iteration + 3 * nl;
    m->mean_progress = m->iteration + 4 * nl;
    m->completion_rate = m->iteration + 5 * nl;
    m->entropy = m->iteration + 6 * nl;
    m->mean_steps = m->iteration + 7 * nl;

    char *p = data, *end = data + len;
    long line = 0;
    while (p < end) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        int terminated = e != NULL;
        if (!e)
            e = end;
        line++;
        char *b = p;
        p = terminated ? e + 1 : end;
        while (b < e && isspace((unsigned char)*b))
            b++;
        if (b == e)
            continue;
        json_error_t jerr;
        json_t *o = json_loadb(b, (size_t)(e - b), 0, &jerr);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            if (!terminated)
                break; /* a line cut short by a killed writer */
            rc = td_err_set(err, TD_EFORMAT, "%s: line %ld: not a JSON object%s%s", path, line,
                            o ? "" : ": ", o ? "" : jerr.text);
            td_free(data);
            td_metrics_free(m);
            return rc;
        }
        int k = m->n++;
        m->iteration[k] = get_num(o, "iteration");
        if (!isfinite(m->iteration[k]))
            m->iteration[k] = k;
        m->episodes[k] = get_num(o, "episodes");
        m->steps[k] = get_num(o, "steps");
        m->mean_reward[k] = get_num(o, "mean_reward");
        m->mean_progress[k] = get_num(o, "mean_progress");
        m->completion_rate[k] = get_num(o, "completion_rate");
        m->entropy[k] = get_num(o, "entropy");
        m->mean_steps[k] = get_num(o, "mean_steps");
        json_t *best = json_object_get(o, "best");
        m->best[k] = best && json_is_true(best);
        if (m->best[k])
            m->best_index = k;
        json_decref(o);
    }
    td_free(data);
    return 0;
}

int td_metrics_from_report(td_metrics *m, const td_logs_report *r, td_err *err)
{
    memset(m, 0, sizeof(*m));
    m->best_index = -1;
    size_t n = (size_t)(r->n_iterations > 0 ? r->n_iterations : 1);
    m->iteration = td_malloc(sizeof(double) * n * 8);
    m->best = td_calloc(n, sizeof(int));
    if (!m->iteration || !m->best) {
        td_metrics_free(m);
        return td_err_set(err, TD_ENOMEM, "metrics from logs: out of memory");
    }
    m->episodes = m->iteration + n;
    m->steps = m->iteration + 2 * n;
    m->mean_reward = m->iteration + 3 * n;
    m->mean_progress = m->iteration + 4 * n;
    m->completion_rate = m->iteration + 5 * n;
    m->entropy = m->iteration + 6 * n;
    m->mean_steps = m->iteration + 7 * n;
    double episodes = 0, steps = 0;
    for (int q = 0; q < r->n_iterations; q++) {
        const td_logs_iteration *it = &r->iterations[q];
        episodes += it->episodes;
        steps += it->mean_steps * it->episodes;
        m->iteration[q] = (double)it->iteration;
        m->episodes[q] = episodes;
        m->steps[q] = steps;
        m->mean_reward[q] = it->mean_reward;
        m->mean_progress[q] = it->mean_progress;
        m->completion_rate[q] = it->completion_rate;
        m->entropy[q] = NAN;
        m->mean_steps[q] = it->mean_steps;
    }
    m->n = r->n_iterations;
    return 0;
}
