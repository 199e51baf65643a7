/*
 * chart.c - line and bar charts drawn into a box of an SVG document (plot.h): axes with nice
 * ticks and grid lines, axis labels, a title, a legend row under the title, an optional
 * vertical marker (the best checkpoint) and the data clipped to the plot area.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trackday/plot.h"

#define TITLE_SIZE 15.0
#define LABEL_SIZE 12.0
#define TICK_SIZE  10.5
#define LEGEND_ROW TD_SVG_LEGEND_ROW

/* The pixel box of the data and the mapping of data values into it. */
typedef struct frame {
    double px, py, pw, ph; /* plot area in pixels */
    double x0, x1, y0, y1; /* data range shown */
    double xfirst, xstep, yfirst, ystep;
    int nx, ny;
} frame;

/* The plot area of a chart in the box (x, y, w, h) under a title and a legend lh high (room for
 * the axis labels around it). Returns -1 when the box leaves less than 20 x 20. */
static int plot_area(frame *f, double x, double y, double w, double h, double lh)
{
    f->px = x + 72;
    f->py = y + 30 + lh + 8;
    f->pw = w - 72 - 20;
    f->ph = h - (f->py - y) - 50;
    return f->pw < 20 || f->ph < 20 ? -1 : 0;
}

static double fx(const frame *f, double x)
{
    return f->px + (x - f->x0) / (f->x1 - f->x0) * f->pw;
}

static double fy(const frame *f, double y)
{
    return f->py + f->ph - (y - f->y0) / (f->y1 - f->y0) * f->ph;
}

/* Decimals needed to print ticks of this step without losing digits. */
static int tick_decimals(double step)
{
    if (!(step > 0))
        return 0;
    int d = (int)ceil(-log10(step) - 1e-9);
    if (d < 0)
        d = 0;
    if (d > 6)
        d = 6;
    return d;
}

static void format_tick(char *out, size_t n, double v, int decimals)
{
    if (fabs(v) < 1e-12)
        v = 0;
    if (fabs(v) >= 1e5 && decimals == 0)
        snprintf(out, n, "%.3g", v);
    else
        snprintf(out, n, "%.*f", decimals, v);
}

/* Fits nice ticks to [lo, hi] and widens the range to the outer ticks. */
static void fit_axis(double lo, double hi, int target, double *a0, double *a1, double *first,
                     double *step, int *count)
{
    double f, st;
    td_plot_nice_ticks(lo, hi, target, &f, &st);
    double l = floor(lo / st + 1e-9) * st, h = ceil(hi / st - 1e-9) * st;
    if (!isfinite(lo) || !isfinite(hi)) {
        l = 0;
        h = 1;
    }
    if (h - l < st * 0.999) {
        l = f - st;
        h = f + st;
    }
    *a0 = l;
    *a1 = h;
    *first = l;
    *step = st;
    *count = (int)floor((h - l) / st + 1e-6) + 1;
}

/* Estimated width of a text in pixels (Helvetica averages about 0.58 em per character). */
static double text_width(const char *t, double size)
{
    return t ? (double)strlen(t) * size * 0.58 : 0.0;
}

static void draw_axes(td_svg *s, const frame *f, const char *x_label, const char *y_label,
                      int x_ticks_are_categories)
{
    char buf[64];
    int xd = tick_decimals(f->xstep), yd = tick_decimals(f->ystep);
    td_svg_raw(s, "<g class=\"axes\">\n");
    td_svg_rect(s, f->px, f->py, f->pw, f->ph, "#fbfbfb", NULL);
    for (int i = 0; i < f->ny; i++) {
        double v = f->yfirst + i * f->ystep;
        double yy = fy(f, v);
        td_svg_line(s, f->px, yy, f->px + f->pw, yy, fabs(v) < 1e-12 ? "#999999" : "#e3e3e3", 1);
        format_tick(buf, sizeof(buf), v, yd);
        td_svg_text(s, f->px - 6, yy + TICK_SIZE * 0.35, TICK_SIZE, "end", 0, "#333333", buf);
    }
    if (!x_ticks_are_categories) {
        for (int i = 0; i < f->nx; i++) {
            double v = f->xfirst + i * f->xstep;
            double xx = fx(f, v);
            td_svg_line(s, xx, f->py, xx, f->py + f->ph, "#eeeeee", 1);
            format_tick(buf, sizeof(buf), v, xd);
            td_svg_text(s, xx, f->py + f->ph + TICK_SIZE + 5, TICK_SIZE, "middle", 0, "#333333",
                        buf);
        }
    }
    td_svg_line(s, f->px, f->py + f->ph, f->px + f->pw, f->py + f->ph, "#333333", 1);
    td_svg_line(s, f->px, f->py, f->px, f->py + f->ph, "#333333", 1);
    td_svg_raw(s, "</g>\n");
    td_svg_raw(s, "<g class=\"axis-labels\">\n");
    td_svg_text(s, f->px + f->pw / 2, f->py + f->ph + 38, LABEL_SIZE, "middle", 0, "#111111",
                x_label ? x_label : "");
    td_svg_text(s, f->px - 52, f->py + f->ph / 2, LABEL_SIZE, "middle", -90, "#111111",
                y_label ? y_label : "");
    td_svg_raw(s, "</g>\n");
}

/* A legend laid out in rows under the title. Returns the height used. */
typedef struct legend_item {
    const char *name;
    const char *color;
    const char *dash;
    int kind; /* 0 line, 1 box, 2 dot */
} legend_item;

/* Symbol room before each label. */
#define LEGEND_SYMBOL_W 26

static double legend_height(const legend_item *items, int n, double w)
{
    td_svg_legend l;
    td_svg_legend_begin(&l, 0, 0, w, LEGEND_SYMBOL_W);
    for (int i = 0; i < n; i++)
        td_svg_legend_next(&l, items[i].name);
    return l.rows * LEGEND_ROW;
}

static void draw_legend(td_svg *s, const legend_item *items, int n, double x0, double y0, double w)
{
    td_svg_legend l;
    td_svg_legend_begin(&l, x0, y0, w, LEGEND_SYMBOL_W);
    td_svg_raw(s, "<g class=\"legend\">\n");
    for (int i = 0; i < n; i++) {
        td_svg_legend_next(&l, items[i].name);
        double lx = l.lx, ly = l.ly;
        if (items[i].kind == 1) {
            td_svg_rect(s, lx + 4, ly - 5, 14, 10, items[i].color, NULL);
        } else if (items[i].kind == 2) {
            td_svg_circle(s, lx + 11, ly, 4, items[i].color, NULL);
        } else {
            td_svg_raw(s,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-width=\"2.5\"%s%s%s/>\n",
                       lx, ly, lx + 22, ly, items[i].color,
                       items[i].dash ? " stroke-dasharray=\"" : "",
                       items[i].dash ? items[i].dash : "", items[i].dash ? "\"" : "");
        }
        td_svg_legend_label(s, &l, items[i].name);
    }
    td_svg_raw(s, "</g>\n");
}

static void draw_title(td_svg *s, const char *title, double x, double y, double w)
{
    td_svg_raw(s,
               "<text class=\"title\" x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" "
               "font-weight=\"bold\" text-anchor=\"middle\" fill=\"#111111\">",
               x + w / 2, y + 20, TITLE_SIZE);
    td_svg_escaped(s, title ? title : "");
    td_svg_raw(s, "</text>\n");
}

/* Opens a clip path around the plot area; returns its id number. */
static unsigned long open_clip(td_svg *s, const frame *f)
{
    unsigned long id = (unsigned long)s->len;
    td_svg_raw(s,
               "<clipPath id=\"clip%lu\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
               "height=\"%.2f\"/></clipPath>\n<g clip-path=\"url(#clip%lu)\">\n",
               id, f->px, f->py, f->pw, f->ph, id);
    return id;
}

/* ------------------------------------------------------------------------------------ */
/* Line charts                                                                          */
/* ------------------------------------------------------------------------------------ */

#define MAX_LEGEND 64

int td_plot_line_chart_draw(td_svg *s, const td_line_chart *c, double x, double y, double w,
                            double h, td_err *err)
{
    for (int i = 0; i < c->n_series; i++) {
        const td_plot_series *se = &c->series[i];
        if (se->n < 0 || (se->n > 0 && (!se->x || !se->y)))
            return td_err_set(err, TD_EINVAL,
                              "line chart '%s': series %d ('%s') has no data "
                              "arrays",
                              c->title ? c->title : "", i, se->name ? se->name : "");
    }
    /* Data range over every finite point. */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int points = 0;
    for (int i = 0; i < c->n_series; i++) {
        const td_plot_series *se = &c->series[i];
        for (int k = 0; k < se->n; k++) {
            if (!isfinite(se->x[k]) || !isfinite(se->y[k]))
                continue;
            points++;
            xlo = fmin(xlo, se->x[k]);
            xhi = fmax(xhi, se->x[k]);
            ylo = fmin(ylo, se->y[k]);
            yhi = fmax(yhi, se->y[k]);
        }
    }
    if (c->has_marker && isfinite(c->marker_x)) {
        xlo = fmin(xlo, c->marker_x);
        xhi = fmax(xhi, c->marker_x);
    }
    if (!points) {
        ylo = 0;
        yhi = 1;
    }
    if (!isfinite(xlo)) {
        xlo = 0;
        xhi = 1;
    }
    if (c->include_zero) {
        ylo = fmin(ylo, 0);
        yhi = fmax(yhi, 0);
    }
    if (c->fixed_y) {
        ylo = c->y_min;
        yhi = c->y_max;
    }

    legend_item items[MAX_LEGEND];
    int nitems = 0;
    for (int i = 0; i < c->n_series && nitems < MAX_LEGEND - 1; i++) {
        const td_plot_series *se = &c->series[i];
        items[nitems++] =
            (legend_item){se->name ? se->name : "", td_svg_safe_attr(se->color, td_plot_palette(i)),
                          td_svg_safe_attr(se->dash, NULL), 0};
    }
    if (c->has_marker)
        items[nitems++] =
            (legend_item){c->marker_label ? c->marker_label : "marker", "#555555", "5 4", 0};

    double lw = w - 40;
    double lh = legend_height(items, nitems, lw);
    frame f;
    if (plot_area(&f, x, y, w, h, lh))
        return td_err_set(err, TD_EINVAL, "line chart '%s': box %.0fx%.0f is too small",
                          c->title ? c->title : "", w, h);
    fit_axis(xlo, xhi, (int)(f.pw / 90) + 2, &f.x0, &f.x1, &f.xfirst, &f.xstep, &f.nx);
    /* Whole-number x values (iterations, steps) get whole-number ticks. */
    int x_whole = points > 0;
    for (int i = 0; i < c->n_series && x_whole; i++)
        for (int k = 0; k < c->series[i].n; k++)
            if (isfinite(c->series[i].x[k]) && c->series[i].x[k] != floor(c->series[i].x[k])) {
                x_whole = 0;
                break;
            }
    if (x_whole && f.xstep < 1) {
        f.x0 = floor(xlo);
        f.x1 = ceil(xhi) > f.x0 ? ceil(xhi) : f.x0 + 1;
        f.xfirst = f.x0;
        f.xstep = 1;
        f.nx = (int)(f.x1 - f.x0) + 1;
    }
    if (c->fixed_y) {
        double a0, a1;
        fit_axis(ylo, yhi, (int)(f.ph / 45) + 2, &a0, &a1, &f.yfirst, &f.ystep, &f.ny);
        f.y0 = ylo;
        f.y1 = yhi > ylo ? yhi : ylo + 1;
        f.yfirst = ceil(f.y0 / f.ystep - 1e-9) * f.ystep;
        f.ny = (int)floor((f.y1 - f.yfirst) / f.ystep + 1e-6) + 1;
    } else {
        fit_axis(ylo, yhi, (int)(f.ph / 45) + 2, &f.y0, &f.y1, &f.yfirst, &f.ystep, &f.ny);
    }

    td_svg_raw(s, "<g class=\"line-chart\">\n");
    draw_title(s, c->title, x, y, w);
    draw_legend(s, items, nitems, x + 20, y + 30, lw);
    draw_axes(s, &f, c->x_label, c->y_label, 0);
    if (!points)
        td_svg_text(s, f.px + f.pw / 2, f.py + f.ph / 2, LABEL_SIZE, "middle", 0, "#888888",
                    "no data");

    open_clip(s, &f);
    if (c->has_marker && isfinite(c->marker_x)) {
        double mx = fx(&f, c->marker_x);
        td_svg_raw(s,
                   "<line class=\"marker\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                   "stroke=\"#555555\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\n",
                   mx, f.py, mx, f.py + f.ph);
    }
    for (int i = 0; i < c->n_series; i++) {
        const td_plot_series *se = &c->series[i];
        const char *color = td_svg_safe_attr(se->color, td_plot_palette(i));
        const char *dash = td_svg_safe_attr(se->dash, NULL);
        /* Each run of finite points is one polyline, so missing values show as gaps. */
        td_svg_raw(s, "<g class=\"series\">\n");
        int k = 0;
        while (k < se->n) {
            while (k < se->n && !(isfinite(se->x[k]) && isfinite(se->y[k])))
                k++;
            int start = k;
            while (k < se->n && isfinite(se->x[k]) && isfinite(se->y[k]))
                k++;
            if (k - start >= 2) {
                td_svg_raw(s,
                           "<polyline class=\"series-line\" fill=\"none\" stroke=\"%s\" "
                           "stroke-width=\"2\" stroke-linejoin=\"round\"%s%s%s points=\"",
                           color, dash ? " stroke-dasharray=\"" : "", dash ? dash : "",
                           dash ? "\"" : "");
                for (int j = start; j < k; j++) {
                    if (j > start)
                        td_svg_raw(s, " ");
                    td_svg_num(s, fx(&f, se->x[j]), 2);
                    td_svg_raw(s, ",");
                    td_svg_num(s, fy(&f, se->y[j]), 2);
                }
                td_svg_raw(s, "\"/>\n");
            }
            if (se->markers || k - start == 1)
                for (int j = start; j < k; j++)
                    td_svg_circle(s, fx(&f, se->x[j]), fy(&f, se->y[j]), 2.5, color, NULL);
        }
        td_svg_raw(s, "</g>\n");
    }
    td_svg_raw(s, "</g>\n</g>\n");
    return 0;
}

int td_plot_line_chart_write(const char *path, const td_line_chart *c, int width, int height,
                             td_err *err)
{
    td_svg s;
    td_svg_begin(&s, width, height);
    int rc = td_plot_line_chart_draw(&s, c, 0, 0, width, height, err);
    if (rc == 0)
        rc = td_svg_save(&s, path, err);
    td_svg_free(&s);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Bar charts                                                                           */
/* ------------------------------------------------------------------------------------ */

int td_plot_bar_chart_draw(td_svg *s, const td_bar_chart *c, double x, double y, double w, double h,
                           td_err *err)
{
    if (c->n < 0 || (c->n > 0 && !c->values))
        return td_err_set(err, TD_EINVAL, "bar chart '%s': no values", c->title ? c->title : "");
    double lo = 0, hi = 0;
    int have = 0;
    for (int i = 0; i < c->n; i++) {
        if (!isfinite(c->values[i]))
            continue;
        have++;
        lo = fmin(lo, c->values[i]);
        hi = fmax(hi, c->values[i]);
    }
    if (!have || hi - lo < 1e-12)
        hi = lo + 1;
    const char *color = td_svg_safe_attr(c->color, td_plot_palette(0));
    legend_item item = {c->series_name ? c->series_name : "", color, NULL, 1};
    char mid[8];
    if (c->color_value) {
        td_plot_scale_color(0.6, mid);
        item.color = mid;
    }
    double lw = w - 40;
    double lh = legend_height(&item, 1, lw);
    frame f;
    if (plot_area(&f, x, y, w, h, lh))
        return td_err_set(err, TD_EINVAL, "bar chart '%s': box %.0fx%.0f is too small",
                          c->title ? c->title : "", w, h);
    f.x0 = 0;
    f.x1 = c->n > 0 ? c->n : 1;
    f.xfirst = 0;
    f.xstep = 1;
    f.nx = 0;
    fit_axis(lo, hi, (int)(f.ph / 45) + 2, &f.y0, &f.y1, &f.yfirst, &f.ystep, &f.ny);

    td_svg_raw(s, "<g class=\"bar-chart\">\n");
    draw_title(s, c->title, x, y, w);
    draw_legend(s, &item, 1, x + 20, y + 30, lw);
    draw_axes(s, &f, c->x_label, c->y_label, 1);
    double bw = f.pw / (c->n > 0 ? c->n : 1);
    /* Category labels: as many as fit without overlapping. */
    int every = 1;
    while (c->n / every > 0 && bw * every < 34)
        every++;
    td_svg_raw(s, "<g class=\"bars\">\n");
    for (int i = 0; i < c->n; i++) {
        double cx = f.px + (i + 0.5) * bw;
        if (i % every == 0) {
            char lab[32];
            const char *text = lab;
            if (c->labels && c->labels[i])
                text = c->labels[i];
            else
                snprintf(lab, sizeof(lab), "%d", i);
            td_svg_text(s, cx, f.py + f.ph + TICK_SIZE + 5, TICK_SIZE, "middle", 0, "#333333",
                        text);
        }
        double v = c->values[i];
        if (!isfinite(v))
            continue;
        char col[8];
        const char *fill = color;
        if (c->color_value) {
            td_plot_scale_color(c->color_value[i], col);
            fill = col;
        }
        double y0 = fy(&f, 0), y1 = fy(&f, v);
        td_svg_raw(s,
                   "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                   "fill=\"%s\"/>\n",
                   f.px + i * bw + bw * 0.1, fmin(y0, y1), bw * 0.8, fabs(y1 - y0), fill);
    }
    if (!have)
        td_svg_text(s, f.px + f.pw / 2, f.py + f.ph / 2, LABEL_SIZE, "middle", 0, "#888888",
                    "no data");
    td_svg_raw(s, "</g>\n</g>\n");
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Reward along a lap                                                                   */
/* ------------------------------------------------------------------------------------ */

#define MAX_EXTRA 15

int td_plot_reward_lap_write(const char *path, const char *title, const double *x,
                             const double *reward, int n, int x_is_progress,
                             const td_plot_series *extra, int n_extra, td_err *err)
{
    if (n_extra > MAX_EXTRA)
        n_extra = MAX_EXTRA;
    td_plot_series series[1 + MAX_EXTRA];
    series[0] = (td_plot_series){.name = "reward per step",
                                 .x = x,
                                 .y = reward,
                                 .n = n,
                                 .color = td_plot_palette(0),
                                 .markers = n <= 60};
    for (int i = 0; i < n_extra; i++) {
        series[1 + i] = extra[i];
        if (!series[1 + i].color)
            series[1 + i].color = td_plot_palette(1 + i);
    }
    td_line_chart c = {
        .title = title ? title : "Reward along the lap",
        .x_label = x_is_progress ? "progress (% of the lap)" : "step (1/15 s)",
        .y_label = "reward (points per step)",
        .series = series,
        .n_series = 1 + n_extra,
        .include_zero = 1,
    };
    return td_plot_line_chart_write(path, &c, 900, 420, err);
}

/* ------------------------------------------------------------------------------------ */
/* Heat maps                                                                            */
/* ------------------------------------------------------------------------------------ */

int td_plot_heatmap_draw(td_svg *s, const td_heatmap *hm, double x, double y, double w, double h,
                         td_err *err)
{
    const char *title = hm->title ? hm->title : "";
    if (hm->rows < 0 || hm->cols < 0 || (hm->rows * hm->cols > 0 && !hm->values))
        return td_err_set(err, TD_EINVAL, "heat map '%s': no values", title);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < hm->rows * hm->cols; i++)
        if (isfinite(hm->values[i])) {
            lo = fmin(lo, hm->values[i]);
            hi = fmax(hi, hm->values[i]);
        }
    if (hm->fixed_scale) {
        lo = hm->scale_min;
        hi = hm->scale_max;
    }
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (hi - lo < 1e-12)
        hi = lo + 1;
    /* Room for row labels on the left (their longest text) and the scale on the right. */
    double label_w = 30;
    for (int r = 0; r < hm->rows; r++) {
        char tmp[16];
        const char *t = tmp;
        if (hm->row_labels && hm->row_labels[r])
            t = hm->row_labels[r];
        else
            snprintf(tmp, sizeof(tmp), "%d", r);
        label_w = fmax(label_w, text_width(t, TICK_SIZE) + 10);
    }
    frame f;
    f.px = x + 30 + label_w;
    f.py = y + 34;
    f.pw = w - (f.px - x) - 90;
    f.ph = h - 34 - 50;
    if (f.pw < 20 || f.ph < 20)
        return td_err_set(err, TD_EINVAL, "heat map '%s': box %.0fx%.0f is too small", title, w, h);
    td_svg_raw(s, "<g class=\"heatmap\">\n");
    draw_title(s, hm->title, x, y, w);
    td_svg_rect(s, f.px, f.py, f.pw, f.ph, "#fbfbfb", "#333333");
    double cw = f.pw / (hm->cols > 0 ? hm->cols : 1), ch = f.ph / (hm->rows > 0 ? hm->rows : 1);
    for (int r = 0; r < hm->rows; r++) {
        for (int c = 0; c < hm->cols; c++) {
            double v = hm->values[r * hm->cols + c];
            if (!isfinite(v))
                continue;
            char col[8];
            td_plot_scale_color((v - lo) / (hi - lo), col);
            td_svg_raw(s,
                       "<rect class=\"cell\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                       "height=\"%.2f\" fill=\"%s\"/>\n",
                       f.px + c * cw, f.py + r * ch, cw + 0.3, ch + 0.3, col);
        }
        char tmp[16];
        const char *t = tmp;
        if (hm->row_labels && hm->row_labels[r])
            t = hm->row_labels[r];
        else
            snprintf(tmp, sizeof(tmp), "%d", r);
        td_svg_text(s, f.px - 6, f.py + (r + 0.5) * ch + TICK_SIZE * 0.35, TICK_SIZE, "end", 0,
                    "#333333", t);
    }
    int every = 1;
    while (hm->cols / every > 0 && cw * every < 34)
        every++;
    for (int c = 0; c < hm->cols; c += every) {
        char tmp[16];
        const char *t = tmp;
        if (hm->col_labels && hm->col_labels[c])
            t = hm->col_labels[c];
        else
            snprintf(tmp, sizeof(tmp), "%d", c);
        td_svg_text(s, f.px + (c + 0.5) * cw, f.py + f.ph + TICK_SIZE + 5, TICK_SIZE, "middle", 0,
                    "#333333", t);
    }
    td_svg_raw(s, "<g class=\"axis-labels\">\n");
    td_svg_text(s, f.px + f.pw / 2, f.py + f.ph + 38, LABEL_SIZE, "middle", 0, "#111111",
                hm->x_label ? hm->x_label : "");
    td_svg_text(s, x + 16, f.py + f.ph / 2, LABEL_SIZE, "middle", -90, "#111111",
                hm->y_label ? hm->y_label : "");
    td_svg_raw(s, "</g>\n");
    td_plot_color_scale_draw(s, f.px + f.pw + 12, f.py, fmin(f.ph, 260), lo, hi,
                             hm->scale_label ? hm->scale_label : "value");
    td_svg_raw(s, "</g>\n");
    return 0;
}
