/*
 * evalplot.c - pictures made from the eval layer's data (eval.h): training curves from the
 * metrics file, driven episodes on the track coloured by speed with end-of-episode marks, and
 * per-waypoint summaries on the track and as bar charts. The drawing itself is plot.h's.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trackday/logs.h"
#include "trackday/plot.h"

/* ------------------------------------------------------------------------------------ */
/* Training curves                                                                      */
/* ------------------------------------------------------------------------------------ */

int td_plot_training_write(const char *path, const td_metrics *m, const char *title, td_err *err)
{
    const int W = 1100, H = 820;
    const double panel_w = W / 2.0, panel_h = (H - 40) / 2.0;
    td_svg s;
    td_svg_begin(&s, W, H);
    td_svg_raw(&s,
               "<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"17\" font-weight=\"bold\" "
               "text-anchor=\"middle\" fill=\"#111111\">",
               W / 2);
    td_svg_escaped(&s, title ? title : "Training curves");
    td_svg_raw(&s, "</text>\n");

    struct {
        const char *title, *y_label, *name;
        const double *y;
        int fixed;
        double lo, hi;
    } panels[4] = {
        {"Mean reward per episode", "reward (points per episode)", "mean reward", m->mean_reward, 0,
         0, 0},
        {"Mean progress per episode", "progress (% of a lap)", "mean progress", m->mean_progress, 1,
         0, 100},
        {"Lap completion rate", "completed laps (fraction of episodes)", "completion rate",
         m->completion_rate, 1, 0, 1},
        {"Policy entropy", "entropy (nats)", "entropy", m->entropy, 0, 0, 0},
    };
    /* Logs alone carry no entropy: show the episode length instead of an empty panel. */
    int any_entropy = 0;
    for (int i = 0; i < m->n; i++)
        any_entropy |= isfinite(m->entropy[i]);
    if (!any_entropy && m->mean_steps) {
        panels[3].title = "Mean episode length";
        panels[3].y_label = "steps per episode (1/15 s each)";
        panels[3].name = "mean steps";
        panels[3].y = m->mean_steps;
    }
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        td_plot_series se = {.name = panels[i].name,
                             .x = m->iteration,
                             .y = panels[i].y,
                             .n = m->n,
                             .color = td_plot_palette(i),
                             .markers = m->n <= 40};
        td_line_chart c = {
            .title = panels[i].title,
            .x_label = "iteration (policy updates)",
            .y_label = panels[i].y_label,
            .series = &se,
            .n_series = 1,
            .has_marker = m->best_index >= 0,
            .marker_x = m->best_index >= 0 ? m->iteration[m->best_index] : 0,
            .marker_label = "best checkpoint",
            .fixed_y = panels[i].fixed,
            .y_min = panels[i].lo,
            .y_max = panels[i].hi,
        };
        rc = td_plot_line_chart_draw(&s, &c, (i % 2) * panel_w, 36 + (i / 2) * panel_h, panel_w,
                                     panel_h, err);
    }
    if (!rc)
        rc = td_svg_save(&s, path, err);
    td_svg_free(&s);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Episodes on the track                                                                */
/* ------------------------------------------------------------------------------------ */

static int mark_kind(const char *status, td_plot_mark_kind *k)
{
    if (!strcmp(status, "off_track"))
        *k = TD_MARK_OFF_TRACK;
    else if (!strcmp(status, "crashed"))
        *k = TD_MARK_CRASH;
    else if (!strcmp(status, "reversed"))
        *k = TD_MARK_REVERSED;
    else if (!strcmp(status, "immobilized"))
        *k = TD_MARK_IMMOBILIZED;
    else
        return 0;
    return 1;
}

int td_plot_episodes_write(const char *path, const td_simtrace *t, const td_logs_report *r,
                           const int *episodes, int n_sel, const td_track *track, const char *title,
                           td_err *err)
{
    if (!episodes)
        n_sel = r->n_episodes;
    if (n_sel < 0)
        return td_err_set(err, TD_EINVAL, "%s: negative episode count", path);
    for (int i = 0; i < n_sel; i++) {
        int j = episodes ? episodes[i] : i;
        if (j < 0 || j >= r->n_episodes)
            return td_err_set(err, TD_EINVAL, "%s: episode index %d outside 0..%d", path, j,
                              r->n_episodes - 1);
    }
    long points = 0;
    for (int i = 0; i < n_sel; i++)
        points += r->episodes[episodes ? episodes[i] : i].n_rows;
    size_t np = (size_t)points;
    td_plot_lap *laps = td_calloc((size_t)(n_sel ? n_sel : 1), sizeof(td_plot_lap));
    td_plot_mark *marks = td_calloc((size_t)(n_sel ? n_sel : 1), sizeof(td_plot_mark));
    double *buf = td_malloc(sizeof(double) * (np ? np : 1) * 3);
    char(*names)[64] = td_calloc((size_t)(n_sel ? n_sel : 1), 64);
    int rc = 0;
    if (!laps || !marks || !buf || !names) {
        rc = td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    int nmarks = 0;
    size_t off = 0;
    for (int i = 0; i < n_sel; i++) {
        const td_logs_episode *e = &r->episodes[episodes ? episodes[i] : i];
        double *x = buf + off, *y = buf + np + off, *v = buf + 2 * np + off;
        for (int k = 0; k < e->n_rows; k++) {
            const td_simtrace_row *row = &t->rows[e->first_row + k];
            x[k] = row->x;
            y[k] = row->y;
            v[k] = row->throttle;
        }
        off += (size_t)e->n_rows;
        if (e->complete)
            snprintf(names[i], 64, "episode %ld: lap %.2f s", e->episode, e->lap_time_s);
        else
            snprintf(names[i], 64, "episode %ld: %.0f%%, %s", e->episode, e->progress, e->status);
        laps[i] = (td_plot_lap){.name = names[i], .x = x, .y = y, .value = v, .n = e->n_rows};
        td_plot_mark_kind kind;
        if (!e->complete && mark_kind(e->status, &kind))
            marks[nmarks++] = (td_plot_mark){e->end_x, e->end_y, kind};
    }
    td_plot_track_view view = {
        .title = title ? title : "Driven line coloured by speed",
        .track = track,
        .laps = laps,
        .n_laps = n_sel,
        .marks = marks,
        .n_marks = nmarks,
        .scale_label = "commanded speed (m/s)",
    };
    rc = td_plot_track_write(path, &view, 1000, err);
done:
    td_free(laps);
    td_free(marks);
    td_free(buf);
    td_free(names);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Per-waypoint summaries                                                               */
/* ------------------------------------------------------------------------------------ */

/* Which discrete action the policy chooses where: the share of each section's steps (%) per
 * action, one row per action labelled with what it does. */
static int draw_actions(td_svg *s, const td_waypoint_summary *ws, const char *const *col_labels,
                        double x, double y, double w, double h, td_err *err)
{
    int na = ws->n_actions, nb = ws->n_bins;
    double *share = td_malloc(sizeof(double) * (size_t)na * (size_t)nb);
    char(*names)[48] = td_calloc((size_t)na, 48);
    const char **rl = td_calloc((size_t)na, sizeof(char *));
    int rc = 0;
    if (!share || !names || !rl) {
        rc = td_err_set(err, TD_ENOMEM, "action heat map: out of memory");
        goto done;
    }
    for (int a = 0; a < na; a++) {
        long chosen = 0;
        for (int b = 0; b < nb; b++)
            chosen += ws->action_count[(size_t)b * (size_t)na + (size_t)a];
        if (isfinite(ws->action_steer_deg[a]))
            snprintf(names[a], 48, "%d: %+.0f deg, %.1f m/s%s", a, ws->action_steer_deg[a],
                     ws->action_speed[a], chosen ? "" : ", never chosen");
        else
            snprintf(names[a], 48, "%d: never chosen", a);
        rl[a] = names[a];
        for (int b = 0; b < nb; b++)
            share[a * nb + b] =
                ws->count[b]
                    ? 100.0 * (double)ws->action_count[(size_t)b * (size_t)na + (size_t)a] /
                          (double)ws->count[b]
                    : NAN;
    }
    td_heatmap hm = {.title = "Action choice per section",
                     .x_label = "section start (% of the lap)",
                     .y_label = "action (steering, speed)",
                     .scale_label = "share of the section's steps (%)",
                     .rows = na,
                     .cols = nb,
                     .values = share,
                     .row_labels = rl,
                     .col_labels = col_labels,
                     .fixed_scale = 1,
                     .scale_min = 0,
                     .scale_max = 100};
    rc = td_plot_heatmap_draw(s, &hm, x, y, w, h, err);
done:
    td_free(share);
    td_free(names);
    td_free(rl);
    return rc;
}

int td_plot_waypoints_write(const char *path, const td_waypoint_summary *ws, const td_track *track,
                            const char *title, td_err *err)
{
    int nb = ws->n_bins;
    td_plot_arrow *arrows = td_calloc((size_t)(nb ? nb : 1), sizeof(td_plot_arrow));
    double *cv = td_malloc(sizeof(double) * (size_t)(nb ? nb : 1));
    char(*labels)[16] = td_calloc((size_t)(nb ? nb : 1), 16);
    const char **lp = td_calloc((size_t)(nb ? nb : 1), sizeof(char *));
    int rc = 0;
    if (!arrows || !cv || !labels || !lp) {
        rc = td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (int b = 0; b < nb; b++)
        if (ws->count[b]) {
            lo = fmin(lo, ws->speed[b]);
            hi = fmax(hi, ws->speed[b]);
        }
    int n_arrows = 0;
    for (int b = 0; b < nb; b++) {
        cv[b] = hi > lo ? (ws->speed[b] - lo) / (hi - lo) : 0.5;
        snprintf(labels[b], 16, "%.0f", 100.0 * b / nb);
        lp[b] = labels[b];
        if (!ws->count[b] || !track)
            continue;
        /* The arrow is the track direction turned by the mean steering (+ = left). */
        arrows[n_arrows++] = (td_plot_arrow){
            ws->x[b], ws->y[b], ws->dir_rad[b] + ws->steer_deg[b] * M_PI / 180.0, ws->speed[b]};
    }

    const int W = 1000;
    double map_h = 0;
    if (track) {
        double aspect = (track->max_y - track->min_y + 0.7) / (track->max_x - track->min_x + 0.7);
        if (!(aspect > 0) || !isfinite(aspect))
            aspect = 0.6;
        map_h = (W - 100) * aspect + 110;
        if (map_h < 300)
            map_h = 300;
    }
    const double bar_h = 300;
    int n_actions = ws->n_actions;
    double heat_h = n_actions > 0 ? 34 + 50 + 18.0 * n_actions + 20 : 0;
    if (n_actions > 0 && heat_h < 300)
        heat_h = 300;
    double H = 40 + map_h + 2 * bar_h + heat_h;
    td_svg s;
    td_svg_begin(&s, W, H);
    td_svg_raw(&s,
               "<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"17\" font-weight=\"bold\" "
               "text-anchor=\"middle\" fill=\"#111111\">",
               W / 2);
    td_svg_escaped(&s, title ? title : "What the policy does where");
    td_svg_raw(&s, "</text>\n");
    if (track) {
        td_plot_track_view v = {.title =
                                    "Mean speed (colour) and mean steering (arrow) per section",
                                .track = track,
                                .arrows = arrows,
                                .n_arrows = n_arrows,
                                .scale_label = "mean commanded speed (m/s)"};
        rc = td_plot_track_draw(&s, &v, 0, 36, W, map_h, err);
    }
    char xl[64];
    snprintf(xl, sizeof(xl), "section start (%% of the lap, %d sections)", nb);
    td_bar_chart speed = {.title = "Mean commanded speed per section",
                          .x_label = xl,
                          .y_label = "speed (m/s)",
                          .series_name = "mean speed (colour as on the map)",
                          .n = nb,
                          .values = ws->speed,
                          .labels = lp,
                          .color_value = cv};
    td_bar_chart steer = {.title = "Mean steering per section",
                          .x_label = xl,
                          .y_label = "steering (degrees, + = left)",
                          .series_name = "mean steering angle",
                          .n = nb,
                          .values = ws->steer_deg,
                          .labels = lp,
                          .color = td_plot_palette(2)};
    if (!rc)
        rc = td_plot_bar_chart_draw(&s, &speed, 0, 36 + map_h, W, bar_h, err);
    if (!rc)
        rc = td_plot_bar_chart_draw(&s, &steer, 0, 36 + map_h + bar_h, W, bar_h, err);
    if (!rc && n_actions > 0)
        rc = draw_actions(&s, ws, lp, 0, 36 + map_h + 2 * bar_h, W, heat_h, err);
    if (!rc)
        rc = td_svg_save(&s, path, err);
    td_svg_free(&s);
done:
    td_free(arrows);
    td_free(cv);
    td_free(labels);
    td_free(lp);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Where episodes end                                                                   */
/* ------------------------------------------------------------------------------------ */

int td_plot_episode_ends_write(const char *path, const td_logs_report *r, const td_track *track,
                               const char *title, td_err *err)
{
    int n = 0;
    td_plot_mark *marks =
        td_calloc((size_t)(r->n_episodes ? r->n_episodes : 1), sizeof(td_plot_mark));
    if (!marks)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    int complete = 0;
    for (int j = 0; j < r->n_episodes; j++) {
        const td_logs_episode *e = &r->episodes[j];
        td_plot_mark_kind kind;
        complete += e->complete;
        if (!e->complete && mark_kind(e->status, &kind))
            marks[n++] = (td_plot_mark){e->end_x, e->end_y, kind};
    }
    char full[512];
    snprintf(full, sizeof(full), "%s: %d of %d episodes ended early, %d complete lap%s",
             title ? title : "Where episodes end", n, r->n_episodes, complete,
             complete == 1 ? "" : "s");
    td_plot_track_view view = {.title = full, .track = track, .marks = marks, .n_marks = n};
    int rc = td_plot_track_write(path, &view, 1000, err);
    td_free(marks);
    return rc;
}
