/*
 * trackview.c - top views of a track in SVG (plot.h): the road between its borders, the
 * dashed centre line, the start line and the driving direction, driven lines coloured by a
 * value (speed) with a colour scale, marks where episodes ended (off track, crash, ...) and
 * per-waypoint arrows. Reads only the track's arrays, so it draws any td_track.
 *
 * Each lap is one <polyline class="lap"> (a dark outline that keeps light colours readable)
 * followed by a group of <path> elements, one per colour bin, so a lap of a few thousand
 * points stays a small file.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trackday/plot.h"

#define TITLE_SIZE 15.0
#define LEGEND_ROW TD_SVG_LEGEND_ROW
#define SCALE_W    80.0
#define COLOR_BINS 32
#define MAX_LEGEND 24

typedef struct map {
    double ox, oy; /* pixel of the metre origin (x = 0, y = 0) */
    double k;      /* pixels per metre */
} map;

static double mx(const map *m, double x)
{
    return m->ox + x * m->k;
}

static double my(const map *m, double y)
{
    return m->oy - y * m->k;
}

static const char *mark_name(td_plot_mark_kind k)
{
    switch (k) {
    case TD_MARK_OFF_TRACK:
        return "off track";
    case TD_MARK_CRASH:
        return "crash";
    case TD_MARK_REVERSED:
        return "reversed";
    case TD_MARK_IMMOBILIZED:
        return "immobilized";
    default:
        return "event";
    }
}

static const char *mark_class(td_plot_mark_kind k)
{
    switch (k) {
    case TD_MARK_OFF_TRACK:
        return "mark-off-track";
    case TD_MARK_CRASH:
        return "mark-crash";
    case TD_MARK_REVERSED:
        return "mark-reversed";
    case TD_MARK_IMMOBILIZED:
        return "mark-immobilized";
    default:
        return "mark";
    }
}

/* Draws one mark symbol centred on (px, py) with half size r. */
static void draw_mark_symbol(td_svg *s, td_plot_mark_kind k, double px, double py, double r)
{
    switch (k) {
    case TD_MARK_OFF_TRACK:
        td_svg_raw(s,
                   "<path d=\"M%.2f %.2fL%.2f %.2fM%.2f %.2fL%.2f %.2f\" stroke=\"#e00000\" "
                   "stroke-width=\"2.5\"/>\n",
                   px - r, py - r, px + r, py + r, px - r, py + r, px + r, py - r);
        break;
    case TD_MARK_CRASH:
        td_svg_raw(s,
                   "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f %.2f,%.2f\" "
                   "fill=\"#000000\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n",
                   px, py - r * 1.3, px + r, py, px, py + r * 1.3, px - r, py);
        break;
    case TD_MARK_REVERSED:
        td_svg_raw(s,
                   "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f\" fill=\"#f08c00\" "
                   "stroke=\"#000000\" stroke-width=\"0.8\"/>\n",
                   px, py - r * 1.2, px + r, py + r, px - r, py + r);
        break;
    default:
        td_svg_raw(s,
                   "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                   "fill=\"#808080\" stroke=\"#000000\" stroke-width=\"0.8\"/>\n",
                   px - r, py - r, 2 * r, 2 * r);
    }
}

/* Appends the points of an (n, 2) array as path commands (M then L ...). */
static void path_points(td_svg *s, const map *m, const double *xy, int n, int close)
{
    for (int i = 0; i < n; i++) {
        td_svg_raw(s, i ? "L" : "M");
        td_svg_num(s, mx(m, xy[2 * i]), 2);
        td_svg_raw(s, " ");
        td_svg_num(s, my(m, xy[2 * i + 1]), 2);
    }
    if (close)
        td_svg_raw(s, "Z");
}

static void draw_track(td_svg *s, const map *m, const td_track *t)
{
    int n = t->n;
    td_svg_raw(s, "<g class=\"track\">\n");
    /* The road: the outer border with the inner border as a hole (even-odd fill); an open
     * route is one polygon along one border and back along the other. */
    td_svg_raw(s, "<path class=\"road\" fill=\"#d4d4d4\" fill-rule=\"evenodd\" stroke=\"none\" "
                  "d=\"");
    if (t->closed) {
        path_points(s, m, t->outer, n, 1);
        path_points(s, m, t->inner, n, 1);
    } else {
        path_points(s, m, t->outer, n, 0);
        for (int i = n - 1; i >= 0; i--) {
            td_svg_raw(s, "L");
            td_svg_num(s, mx(m, t->inner[2 * i]), 2);
            td_svg_raw(s, " ");
            td_svg_num(s, my(m, t->inner[2 * i + 1]), 2);
        }
        td_svg_raw(s, "Z");
    }
    td_svg_raw(s, "\"/>\n");
    td_svg_raw(s, "<path class=\"border\" fill=\"none\" stroke=\"#3a3a3a\" stroke-width=\"1.6\" "
                  "d=\"");
    path_points(s, m, t->outer, n, t->closed);
    path_points(s, m, t->inner, n, t->closed);
    td_svg_raw(s, "\"/>\n");
    td_svg_raw(s, "<path class=\"center-line\" fill=\"none\" stroke=\"#e69f00\" "
                  "stroke-width=\"1.2\" stroke-dasharray=\"6 5\" d=\"");
    path_points(s, m, t->center, n, 0);
    td_svg_raw(s, "\"/>\n");

    /* Start line across the road at vertex 0, and an arrow along the first metre. */
    td_svg_raw(s,
               "<line class=\"start-line\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
               "stroke=\"#000000\" stroke-width=\"4\"/>\n",
               mx(m, t->inner[0]), my(m, t->inner[1]), mx(m, t->outer[0]), my(m, t->outer[1]));
    double want = fmin(1.0, t->length * 0.08);
    int j = 1;
    while (j < n - 1 && t->arc[j] < want)
        j++;
    double ax0 = mx(m, t->center[0]), ay0 = my(m, t->center[1]);
    double ax1 = mx(m, t->center[2 * j]), ay1 = my(m, t->center[2 * j + 1]);
    double dx = ax1 - ax0, dy = ay1 - ay0, len = hypot(dx, dy);
    if (len > 1e-6) {
        /* Beside the road (outside the outer border at the start) so it never hides a lap. */
        double nx = t->outer[0] - t->inner[0], ny = -(t->outer[1] - t->inner[1]);
        double nl = hypot(nx, ny);
        double off = 14.0;
        double ox = nl > 1e-9 ? nx / nl * (nl * m->k / 2 + off) : 0;
        double oy = nl > 1e-9 ? ny / nl * (nl * m->k / 2 + off) : 0;
        double ux = dx / len, uy = dy / len;
        double sx = ax0 + ox, sy = ay0 + oy, ex = ax0 + ox + ux * fmax(len, 30),
               ey = ay0 + oy + uy * fmax(len, 30);
        td_svg_raw(s,
                   "<g class=\"direction\"><line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                   "y2=\"%.2f\" stroke=\"#1a7f37\" stroke-width=\"3\"/>"
                   "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f\" fill=\"#1a7f37\"/></g>\n",
                   sx, sy, ex - ux * 6, ey - uy * 6, ex + ux * 4, ey + uy * 4, ex - ux * 8 - uy * 6,
                   ey - uy * 8 + ux * 6, ex - ux * 8 + uy * 6, ey - uy * 8 - ux * 6);
    }
    td_svg_raw(s, "</g>\n");
}

static double scale_t(double v, double lo, double hi)
{
    return hi > lo ? (v - lo) / (hi - lo) : 0.5;
}

/*
 * The outline colour of lap i: dark grey, or, when the laps the legend lists one by one are
 * coloured by a value, the lap's own colour so that the legend tells them apart.
 */
static const char *lap_outline(const td_plot_track_view *v, int i)
{
    if (v->laps[i].value && v->n_laps > 1 && v->n_laps <= 8)
        return td_svg_safe_attr(v->laps[i].color, td_plot_palette(i));
    return "#202020";
}

static void draw_lap(td_svg *s, const map *m, const td_plot_track_view *v, int index, double lo,
                     double hi)
{
    const td_plot_lap *lap = &v->laps[index];
    /* The outline: one polyline per lap, with the lap's name as a tooltip. */
    td_svg_raw(s,
               "<polyline class=\"lap\" data-lap=\"%d\" fill=\"none\" stroke=\"%s\" "
               "stroke-opacity=\"0.75\" stroke-width=\"%s\" stroke-linejoin=\"round\" "
               "stroke-linecap=\"round\" points=\"",
               index, lap_outline(v, index),
               strcmp(lap_outline(v, index), "#202020") ? "6" : "4.5");
    int first = 1;
    for (int i = 0; i < lap->n; i++) {
        if (!isfinite(lap->x[i]) || !isfinite(lap->y[i]))
            continue; /* a missing point is left out rather than drawn at the origin */
        if (!first)
            td_svg_raw(s, " ");
        first = 0;
        td_svg_num(s, mx(m, lap->x[i]), 2);
        td_svg_raw(s, ",");
        td_svg_num(s, my(m, lap->y[i]), 2);
    }
    td_svg_raw(s, "\"><title>");
    td_svg_escaped(s, lap->name ? lap->name : "lap");
    td_svg_raw(s, "</title></polyline>\n");

    td_svg_raw(s,
               "<g class=\"lap-colors\" data-lap=\"%d\" fill=\"none\" stroke-width=\"2.6\" "
               "stroke-linecap=\"round\" stroke-linejoin=\"round\">\n",
               index);
    if (!lap->value) {
        const char *c = td_svg_safe_attr(lap->color, td_plot_palette(index));
        td_svg_raw(s, "<path stroke=\"%s\" d=\"", c);
        int move = 1;
        for (int i = 0; i < lap->n; i++) {
            if (!isfinite(lap->x[i]) || !isfinite(lap->y[i])) {
                move = 1;
                continue;
            }
            td_svg_raw(s, move ? "M" : "L");
            move = 0;
            td_svg_num(s, mx(m, lap->x[i]), 2);
            td_svg_raw(s, " ");
            td_svg_num(s, my(m, lap->y[i]), 2);
        }
        td_svg_raw(s, "\"/>\n</g>\n");
        return;
    }
    /* One path per colour bin: consecutive segments of one bin join into one subpath. */
    for (int b = 0; b < COLOR_BINS; b++) {
        int open = 0, any = 0;
        for (int i = 0; i + 1 < lap->n; i++) {
            double v = 0.5 * (lap->value[i] + lap->value[i + 1]);
            if (!isfinite(v) || !isfinite(lap->x[i]) || !isfinite(lap->y[i]) ||
                !isfinite(lap->x[i + 1]) || !isfinite(lap->y[i + 1])) {
                open = 0;
                continue;
            }
            int bin = (int)(scale_t(v, lo, hi) * COLOR_BINS);
            if (bin < 0)
                bin = 0;
            if (bin >= COLOR_BINS)
                bin = COLOR_BINS - 1;
            if (bin != b) {
                open = 0;
                continue;
            }
            if (!any) {
                char col[8];
                td_plot_scale_color((b + 0.5) / COLOR_BINS, col);
                td_svg_raw(s, "<path stroke=\"%s\" d=\"", col);
                any = 1;
            }
            if (!open) {
                td_svg_raw(s, "M");
                td_svg_num(s, mx(m, lap->x[i]), 2);
                td_svg_raw(s, " ");
                td_svg_num(s, my(m, lap->y[i]), 2);
                open = 1;
            }
            td_svg_raw(s, "L");
            td_svg_num(s, mx(m, lap->x[i + 1]), 2);
            td_svg_raw(s, " ");
            td_svg_num(s, my(m, lap->y[i + 1]), 2);
        }
        if (any)
            td_svg_raw(s, "\"/>\n");
    }
    td_svg_raw(s, "</g>\n");
}

typedef struct litem {
    char name[96];
    int kind; /* 0 line, 1 mark, 2 dashed line, 3 arrow, 4 a lap coloured by value */
    const char *color;
    td_plot_mark_kind mark;
} litem;

static int build_legend(const td_plot_track_view *v, litem *it, int has_values)
{
    int n = 0;
    if (v->track) {
        it[n++] = (litem){"centre line", 2, "#e69f00", 0};
        it[n++] = (litem){"start line", 0, "#000000", 0};
        it[n++] = (litem){"driving direction", 3, "#1a7f37", 0};
    }
    if (v->n_laps > 8) {
        litem li = {"", 0, "#202020", 0};
        snprintf(li.name, sizeof(li.name), "%d driven lines%s", v->n_laps,
                 has_values ? " (colour: see scale)" : "");
        it[n++] = li;
    } else {
        for (int i = 0; i < v->n_laps; i++) {
            litem li = {"", 0, NULL, 0};
            snprintf(li.name, sizeof(li.name), "%s", v->laps[i].name ? v->laps[i].name : "lap");
            li.color = v->laps[i].value ? lap_outline(v, i)
                                        : td_svg_safe_attr(v->laps[i].color, td_plot_palette(i));
            li.kind = v->laps[i].value && strcmp(li.color, "#202020") ? 4 : 0;
            it[n++] = li;
        }
    }
    int seen[TD_MARK_KINDS] = {0};
    for (int i = 0; i < v->n_marks; i++) {
        int k = v->marks[i].kind;
        if (k >= 0 && k < TD_MARK_KINDS)
            seen[k]++;
    }
    for (int k = 0; k < TD_MARK_KINDS; k++) {
        if (!seen[k])
            continue;
        litem li = {"", 1, NULL, (td_plot_mark_kind)k};
        snprintf(li.name, sizeof(li.name), "%s (%d)", mark_name((td_plot_mark_kind)k), seen[k]);
        it[n++] = li;
    }
    if (v->n_arrows > 0)
        it[n++] = (litem){"mean steering (arrow) and speed (colour)", 3, "#7e03a8", 0};
    return n;
}

/* Symbol room before each label. */
#define LEGEND_SYMBOL_W 30

static double legend_rows(const litem *it, int n, double w)
{
    td_svg_legend l;
    td_svg_legend_begin(&l, 0, 0, w, LEGEND_SYMBOL_W);
    for (int i = 0; i < n; i++)
        td_svg_legend_next(&l, it[i].name);
    return l.rows;
}

static void draw_legend(td_svg *s, const litem *it, int n, double x0, double y0, double w)
{
    td_svg_legend l;
    td_svg_legend_begin(&l, x0, y0, w, LEGEND_SYMBOL_W);
    td_svg_raw(s, "<g class=\"legend\">\n");
    for (int i = 0; i < n; i++) {
        td_svg_legend_next(&l, it[i].name);
        double lx = l.lx, ly = l.ly;
        switch (it[i].kind) {
        case 1:
            draw_mark_symbol(s, it[i].mark, lx + 11, ly, 4.5);
            break;
        case 2:
            td_svg_raw(s,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-width=\"2\" stroke-dasharray=\"6 5\"/>\n",
                       lx, ly, lx + 24, ly, it[i].color);
            break;
        case 3:
            td_svg_raw(s,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-width=\"2.5\"/><polygon points=\"%.1f,%.1f %.1f,%.1f "
                       "%.1f,%.1f\" fill=\"%s\"/>\n",
                       lx, ly, lx + 18, ly, it[i].color, lx + 25, ly, lx + 17, ly - 5, lx + 17,
                       ly + 5, it[i].color);
            break;
        case 4: {
            /* As on the map: the lap's colour around a line coloured by the value. */
            char mid[8];
            td_plot_scale_color(0.5, mid);
            td_svg_raw(s,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-opacity=\"0.75\" stroke-width=\"6\"/><line x1=\"%.1f\" "
                       "y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.6\"/>\n",
                       lx, ly, lx + 24, ly, it[i].color, lx, ly, lx + 24, ly, mid);
            break;
        }
        default:
            td_svg_raw(s,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-width=\"3\"/>\n",
                       lx, ly, lx + 24, ly, it[i].color);
        }
        td_svg_legend_label(s, &l, it[i].name);
    }
    td_svg_raw(s, "</g>\n");
}

/* Bounding box of everything drawn, in metres. */
static void bounds(const td_plot_track_view *v, double *x0, double *y0, double *x1, double *y1)
{
    *x0 = *y0 = INFINITY;
    *x1 = *y1 = -INFINITY;
    if (v->track && v->track->n > 0) {
        const td_track *t = v->track;
        for (int i = 0; i < t->n; i++) {
            const double *arr[3] = {t->center, t->inner, t->outer};
            for (int a = 0; a < 3; a++) {
                *x0 = fmin(*x0, arr[a][2 * i]);
                *x1 = fmax(*x1, arr[a][2 * i]);
                *y0 = fmin(*y0, arr[a][2 * i + 1]);
                *y1 = fmax(*y1, arr[a][2 * i + 1]);
            }
        }
    }
    for (int l = 0; l < v->n_laps; l++)
        for (int i = 0; i < v->laps[l].n; i++) {
            double x = v->laps[l].x[i], y = v->laps[l].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            *x0 = fmin(*x0, x);
            *x1 = fmax(*x1, x);
            *y0 = fmin(*y0, y);
            *y1 = fmax(*y1, y);
        }
    for (int i = 0; i < v->n_marks; i++) {
        if (!isfinite(v->marks[i].x) || !isfinite(v->marks[i].y))
            continue;
        *x0 = fmin(*x0, v->marks[i].x);
        *x1 = fmax(*x1, v->marks[i].x);
        *y0 = fmin(*y0, v->marks[i].y);
        *y1 = fmax(*y1, v->marks[i].y);
    }
    if (!isfinite(*x0) || !isfinite(*y0)) {
        *x0 = *y0 = 0;
        *x1 = *y1 = 1;
    }
    double pad = 0.35;
    *x0 -= pad;
    *y0 -= pad;
    *x1 += pad;
    *y1 += pad;
}

int td_plot_track_draw(td_svg *s, const td_plot_track_view *v, double x, double y, double w,
                       double h, td_err *err)
{
    for (int l = 0; l < v->n_laps; l++)
        if (v->laps[l].n < 0 || (v->laps[l].n > 0 && (!v->laps[l].x || !v->laps[l].y)))
            return td_err_set(err, TD_EINVAL, "track view '%s': lap %d has no points",
                              v->title ? v->title : "", l);
    if (v->track && (v->track->n < 2 || !v->track->center || !v->track->inner || !v->track->outer ||
                     !v->track->arc))
        return td_err_set(err, TD_EINVAL, "track view '%s': the track has no geometry",
                          v->title ? v->title : "");

    /* Colour scale range over lap values and arrows. */
    double lo = INFINITY, hi = -INFINITY;
    int has_values = 0;
    for (int l = 0; l < v->n_laps; l++) {
        if (!v->laps[l].value)
            continue;
        has_values = 1;
        for (int i = 0; i < v->laps[l].n; i++)
            if (isfinite(v->laps[l].value[i])) {
                lo = fmin(lo, v->laps[l].value[i]);
                hi = fmax(hi, v->laps[l].value[i]);
            }
    }
    for (int i = 0; i < v->n_arrows; i++) {
        has_values = 1;
        if (isfinite(v->arrows[i].value)) {
            lo = fmin(lo, v->arrows[i].value);
            hi = fmax(hi, v->arrows[i].value);
        }
    }
    if (v->fixed_scale) {
        lo = v->scale_min;
        hi = v->scale_max;
    }
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (hi - lo < 1e-9)
        hi = lo + 1;

    litem items[MAX_LEGEND];
    int nitems = build_legend(v, items, has_values);
    double lw = w - 40;
    double lh = legend_rows(items, nitems, lw) * LEGEND_ROW;

    double top = y + 30 + lh + 8;
    double right = has_values ? SCALE_W : 10;
    double aw = w - 20 - right, ah = h - (top - y) - 34;
    if (aw < 40 || ah < 40)
        return td_err_set(err, TD_EINVAL, "track view '%s': box %.0fx%.0f is too small",
                          v->title ? v->title : "", w, h);
    double bx0, by0, bx1, by1;
    bounds(v, &bx0, &by0, &bx1, &by1);
    map m;
    m.k = fmin(aw / (bx1 - bx0), ah / (by1 - by0));
    double used_w = (bx1 - bx0) * m.k, used_h = (by1 - by0) * m.k;
    double left = x + 10 + (aw - used_w) / 2, ttop = top + (ah - used_h) / 2;
    m.ox = left - bx0 * m.k;
    m.oy = ttop + by1 * m.k;

    td_svg_raw(s, "<g class=\"track-view\">\n");
    td_svg_raw(s,
               "<text class=\"title\" x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" "
               "font-weight=\"bold\" text-anchor=\"middle\" fill=\"#111111\">",
               x + w / 2, y + 20, TITLE_SIZE);
    td_svg_escaped(s, v->title ? v->title : "");
    td_svg_raw(s, "</text>\n");
    draw_legend(s, items, nitems, x + 20, y + 30, lw);
    td_svg_rect(s, left, ttop, used_w, used_h, "#eef5e9", "#cfd8c8");
    if (v->track)
        draw_track(s, &m, v->track);

    if (v->n_boxes > 0) {
        td_svg_raw(s, "<g class=\"boxes\">\n");
        for (int b = 0; b < v->n_boxes; b++) {
            const td_plot_box *o = &v->boxes[b];
            double c = cos(o->yaw_rad), sn = sin(o->yaw_rad), hl = o->length / 2, hw = o->width / 2;
            static const double corners[4][2] = {{1, 1}, {1, -1}, {-1, -1}, {-1, 1}};
            td_svg_raw(s,
                       "<polygon class=\"%s\" fill=\"%s\" stroke=\"#000000\" "
                       "stroke-width=\"1\" points=\"",
                       o->is_car ? "car" : "obstacle", o->is_car ? "#3070e0" : "#f0f0f0");
            for (int k = 0; k < 4; k++) {
                double dx = corners[k][0] * hl, dy = corners[k][1] * hw;
                td_svg_raw(s, "%.1f,%.1f ", mx(&m, o->x + dx * c - dy * sn),
                           my(&m, o->y + dx * sn + dy * c));
            }
            td_svg_raw(s, "\"/>\n");
        }
        td_svg_raw(s, "</g>\n");
    }

    td_svg_raw(s, "<g class=\"laps\">\n");
    for (int l = 0; l < v->n_laps; l++)
        draw_lap(s, &m, v, l, lo, hi);
    td_svg_raw(s, "</g>\n");

    if (v->n_arrows > 0) {
        td_svg_raw(s, "<g class=\"arrows\">\n");
        for (int i = 0; i < v->n_arrows; i++) {
            const td_plot_arrow *a = &v->arrows[i];
            if (!isfinite(a->x) || !isfinite(a->y) || !isfinite(a->dir_rad))
                continue;
            char col[8];
            td_plot_scale_color(scale_t(a->value, lo, hi), col);
            double px = mx(&m, a->x), py = my(&m, a->y);
            double ux = cos(a->dir_rad), uy = -sin(a->dir_rad);
            double L = 22;
            double ex = px + ux * L, ey = py + uy * L;
            /* A dark outline under the arrow keeps light (fast) colours readable. */
            td_svg_raw(s,
                       "<g><line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                       "stroke=\"#202020\" stroke-width=\"4.2\"/><line x1=\"%.2f\" "
                       "y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                       "stroke-width=\"2.4\"/><polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f\" "
                       "fill=\"%s\" stroke=\"#202020\" stroke-width=\"0.8\"/><circle "
                       "cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\" stroke=\"#202020\" "
                       "stroke-width=\"0.8\"/></g>\n",
                       px, py, ex - ux * 5, ey - uy * 5, px, py, ex - ux * 5, ey - uy * 5, col,
                       ex + ux * 2, ey + uy * 2, ex - ux * 7 - uy * 5, ey - uy * 7 + ux * 5,
                       ex - ux * 7 + uy * 5, ey - uy * 7 - ux * 5, col, px, py, col);
        }
        td_svg_raw(s, "</g>\n");
    }

    if (v->n_marks > 0) {
        td_svg_raw(s, "<g class=\"marks\">\n");
        for (int i = 0; i < v->n_marks; i++) {
            if (!isfinite(v->marks[i].x) || !isfinite(v->marks[i].y))
                continue;
            td_svg_raw(s, "<g class=\"%s\">", mark_class(v->marks[i].kind));
            draw_mark_symbol(s, v->marks[i].kind, mx(&m, v->marks[i].x), my(&m, v->marks[i].y), 5);
            td_svg_raw(s, "</g>\n");
        }
        td_svg_raw(s, "</g>\n");
    }

    if (has_values)
        td_plot_color_scale_draw(s, x + w - SCALE_W + 6, top + 10, fmin(ah - 20, 260), lo, hi,
                                 v->scale_label ? v->scale_label : "speed (m/s)");

    /* A metre scale bar under the map. */
    double bar_m = 1.0;
    while (bar_m * m.k > used_w * 0.3 && bar_m > 0.1)
        bar_m /= 2;
    double sbx = left, sby = ttop + used_h + 16;
    char lab[32];
    snprintf(lab, sizeof(lab), "%g m", bar_m);
    td_svg_raw(s, "<g class=\"scale-bar\">");
    td_svg_line(s, sbx, sby, sbx + bar_m * m.k, sby, "#333333", 2);
    td_svg_line(s, sbx, sby - 4, sbx, sby + 4, "#333333", 1.5);
    td_svg_line(s, sbx + bar_m * m.k, sby - 4, sbx + bar_m * m.k, sby + 4, "#333333", 1.5);
    td_svg_text(s, sbx + bar_m * m.k + 6, sby + 4, 11, "start", 0, "#333333", lab);
    td_svg_text(s, x + w - 10, sby + 4, 10.5, "end", 0, "#666666",
                "x, y in metres (track frame); north up");
    td_svg_raw(s, "</g>\n</g>\n");
    return 0;
}

int td_plot_track_write(const char *path, const td_plot_track_view *v, int width, td_err *err)
{
    double bx0, by0, bx1, by1;
    bounds(v, &bx0, &by0, &bx1, &by1);
    int has_values = v->n_arrows > 0;
    for (int l = 0; l < v->n_laps; l++)
        has_values |= v->laps[l].value != NULL;
    double aw = width - 20 - (has_values ? SCALE_W : 10);
    litem items[MAX_LEGEND];
    int nitems = build_legend(v, items, has_values);
    double lh = legend_rows(items, nitems, width - 40) * LEGEND_ROW;
    double map_h = aw * (by1 - by0) / (bx1 - bx0);
    if (!(map_h >= 200))
        map_h = 200; /* also NaN: a degenerate or non-finite extent */
    if (map_h > 8.0 * width)
        map_h = 8.0 * width; /* poses from a hostile simtrace can span anything */
    int height = (int)ceil(30 + lh + 8 + map_h + 34);
    td_svg s;
    td_svg_begin(&s, width, height);
    int rc = td_plot_track_draw(&s, v, 0, 0, width, height, err);
    if (rc == 0)
        rc = td_svg_save(&s, path, err);
    td_svg_free(&s);
    return rc;
}
