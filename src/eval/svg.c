/*
 * svg.c - the SVG builder of plot.h: a growing text buffer with escaping, numbers of bounded
 * precision and the few elements the charts use; plus the colour palette, the speed colour
 * scale and "nice" axis ticks shared by every chart.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trackday/plot.h"

/* ------------------------------------------------------------------------------------ */
/* Buffer                                                                               */
/* ------------------------------------------------------------------------------------ */

static int reserve(td_svg *s, size_t more)
{
    if (s->nomem)
        return -1;
    if (s->len + more + 1 <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + more + 1)
        cap *= 2;
    char *nb = td_realloc(s->buf, cap);
    if (!nb) {
        s->nomem = 1;
        return -1;
    }
    s->buf = nb;
    s->cap = cap;
    return 0;
}

static void append(td_svg *s, const char *text, size_t n)
{
    if (reserve(s, n) != 0)
        return;
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

static void appends(td_svg *s, const char *text)
{
    append(s, text, strlen(text));
}

static void vraw(td_svg *s, const char *fmt, va_list ap)
{
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof(small)) {
        append(s, small, (size_t)n);
    } else if (reserve(s, (size_t)n) == 0) {
        vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap2);
        s->len += (size_t)n;
    }
    va_end(ap2);
}

void td_svg_raw(td_svg *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vraw(s, fmt, ap);
    va_end(ap);
}

void td_svg_escaped(td_svg *s, const char *text)
{
    if (!text)
        return;
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&':
            appends(s, "&amp;");
            break;
        case '<':
            appends(s, "&lt;");
            break;
        case '>':
            appends(s, "&gt;");
            break;
        case '"':
            appends(s, "&quot;");
            break;
        case '\'':
            appends(s, "&apos;");
            break;
        default:
            /* Control characters other than tab and newline are not allowed in XML 1.0. */
            if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\n')
                append(s, " ", 1);
            else
                append(s, p, 1);
        }
    }
}

void td_svg_num(td_svg *s, double v, int decimals)
{
    char tmp[64];
    if (!isfinite(v))
        v = 0.0;
    if (decimals < 0)
        decimals = 0;
    if (decimals > 6)
        decimals = 6;
    int n = snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);
    if (n <= 0 || n >= (int)sizeof(tmp))
        return;
    if (decimals > 0) {
        while (n > 0 && tmp[n - 1] == '0')
            n--;
        if (n > 0 && tmp[n - 1] == '.')
            n--;
    }
    tmp[n] = '\0';
    if (strcmp(tmp, "-0") == 0)
        memcpy(tmp, "0", 2), n = 1;
    append(s, tmp, (size_t)n);
}

const char *td_svg_safe_attr(const char *v, const char *fallback)
{
    if (!v)
        return fallback;
    size_t n = strlen(v);
    if (n > 64 || strpbrk(v, "\"'<>&") != NULL)
        return fallback;
    return v;
}

/* ------------------------------------------------------------------------------------ */
/* Document                                                                             */
/* ------------------------------------------------------------------------------------ */

void td_svg_begin(td_svg *s, double width, double height)
{
    memset(s, 0, sizeof(*s));
    s->width = width;
    s->height = height;
    appends(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"");
    td_svg_num(s, width, 0);
    appends(s, "\" height=\"");
    td_svg_num(s, height, 0);
    appends(s, "\" viewBox=\"0 0 ");
    td_svg_num(s, width, 0);
    appends(s, " ");
    td_svg_num(s, height, 0);
    appends(s, "\" font-family=\"Helvetica, Arial, sans-serif\">\n");
    td_svg_rect(s, 0, 0, width, height, "#ffffff", NULL);
}

void td_svg_finish(td_svg *s)
{
    if (s->finished)
        return;
    appends(s, "</svg>\n");
    s->finished = 1;
}

void td_svg_free(td_svg *s)
{
    td_free(s->buf);
    memset(s, 0, sizeof(*s));
}

int td_svg_save(td_svg *s, const char *path, td_err *err)
{
    td_svg_finish(s);
    if (s->nomem || !s->buf)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory while drawing", path);
    return td_file_write_atomic(path, s->buf, s->len, err);
}

/* ------------------------------------------------------------------------------------ */
/* Elements                                                                             */
/* ------------------------------------------------------------------------------------ */

static void attr_num(td_svg *s, const char *name, double v)
{
    appends(s, " ");
    appends(s, name);
    appends(s, "=\"");
    td_svg_num(s, v, 2);
    appends(s, "\"");
}

static void attr_str(td_svg *s, const char *name, const char *v)
{
    if (!v)
        return;
    appends(s, " ");
    appends(s, name);
    appends(s, "=\"");
    td_svg_escaped(s, v);
    appends(s, "\"");
}

void td_svg_line(td_svg *s, double x1, double y1, double x2, double y2, const char *stroke,
                 double stroke_width)
{
    appends(s, "<line");
    attr_num(s, "x1", x1);
    attr_num(s, "y1", y1);
    attr_num(s, "x2", x2);
    attr_num(s, "y2", y2);
    attr_str(s, "stroke", stroke ? stroke : "#000000");
    attr_num(s, "stroke-width", stroke_width);
    appends(s, "/>\n");
}

void td_svg_rect(td_svg *s, double x, double y, double w, double h, const char *fill,
                 const char *stroke)
{
    appends(s, "<rect");
    attr_num(s, "x", x);
    attr_num(s, "y", y);
    attr_num(s, "width", w < 0 ? 0 : w);
    attr_num(s, "height", h < 0 ? 0 : h);
    attr_str(s, "fill", fill ? fill : "none");
    attr_str(s, "stroke", stroke);
    appends(s, "/>\n");
}

void td_svg_circle(td_svg *s, double cx, double cy, double r, const char *fill, const char *stroke)
{
    appends(s, "<circle");
    attr_num(s, "cx", cx);
    attr_num(s, "cy", cy);
    attr_num(s, "r", r);
    attr_str(s, "fill", fill ? fill : "none");
    attr_str(s, "stroke", stroke);
    appends(s, "/>\n");
}

void td_svg_text(td_svg *s, double x, double y, double size, const char *anchor, double rotate_deg,
                 const char *fill, const char *text)
{
    appends(s, "<text");
    attr_num(s, "x", x);
    attr_num(s, "y", y);
    attr_num(s, "font-size", size);
    attr_str(s, "text-anchor", anchor ? anchor : "start");
    attr_str(s, "fill", fill ? fill : "#222222");
    if (rotate_deg != 0.0) {
        appends(s, " transform=\"rotate(");
        td_svg_num(s, rotate_deg, 2);
        appends(s, " ");
        td_svg_num(s, x, 2);
        appends(s, " ");
        td_svg_num(s, y, 2);
        appends(s, ")\"");
    }
    appends(s, ">");
    td_svg_escaped(s, text);
    appends(s, "</text>\n");
}

/* ---- legends ----------------------------------------------------------------------------------
 */

/* Estimated width of a label (Helvetica averages about 0.58 em per character) plus the gap
 * after it. */
static double legend_label_w(const char *label)
{
    return (label ? (double)strlen(label) * TD_SVG_LEGEND_SIZE * 0.58 : 0.0) + 14;
}

void td_svg_legend_begin(td_svg_legend *l, double x0, double y0, double w, double symbol_w)
{
    memset(l, 0, sizeof(*l));
    l->x0 = x0;
    l->y0 = l->y = y0;
    l->w = w;
    l->symbol_w = symbol_w;
}

void td_svg_legend_next(td_svg_legend *l, const char *label)
{
    double iw = l->symbol_w + legend_label_w(label);
    if (l->x > 0 && l->x + iw > l->w) {
        l->y += TD_SVG_LEGEND_ROW;
        l->x = 0;
        l->rows++;
    } else if (l->rows == 0) {
        l->rows = 1;
    }
    l->lx = l->x0 + l->x;
    l->ly = l->y + TD_SVG_LEGEND_ROW / 2;
    l->x += iw;
}

void td_svg_legend_label(td_svg *s, const td_svg_legend *l, const char *label)
{
    td_svg_raw(s,
               "<text class=\"legend-entry\" x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" "
               "fill=\"#222222\">",
               l->lx + l->symbol_w, l->ly + TD_SVG_LEGEND_SIZE * 0.35, TD_SVG_LEGEND_SIZE);
    td_svg_escaped(s, label ? label : "");
    td_svg_raw(s, "</text>\n");
}

void td_svg_polyline(td_svg *s, const double *px, const double *py, int n, const char *stroke,
                     double stroke_width, const char *dash, const char *cls)
{
    appends(s, "<polyline");
    attr_str(s, "class", cls);
    appends(s, " fill=\"none\"");
    attr_str(s, "stroke", stroke ? stroke : "#000000");
    attr_num(s, "stroke-width", stroke_width);
    appends(s, " stroke-linejoin=\"round\" stroke-linecap=\"round\"");
    attr_str(s, "stroke-dasharray", dash);
    appends(s, " points=\"");
    for (int i = 0; i < n; i++) {
        if (i)
            appends(s, " ");
        td_svg_num(s, px[i], 2);
        appends(s, ",");
        td_svg_num(s, py[i], 2);
    }
    appends(s, "\"/>\n");
}

/* ------------------------------------------------------------------------------------ */
/* Colours and ticks                                                                    */
/* ------------------------------------------------------------------------------------ */

const char *td_plot_palette(int i)
{
    /* A colour-blind friendly categorical palette (Okabe-Ito order, then two greys). */
    static const char *pal[10] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00",
                                  "#56b4e9", "#f0e442", "#000000", "#7f7f7f", "#8c564b"};
    if (i < 0)
        i = -i;
    return pal[i % 10];
}

void td_plot_scale_color(double t, char out[8])
{
    /* Stops of a plasma-like sequential scale: readable on white and on the grey road. */
    static const double stops[5][3] = {
        {13, 8, 135}, {126, 3, 168}, {204, 71, 120}, {248, 149, 64}, {240, 249, 33}};
    if (!isfinite(t))
        t = 0.0;
    if (t < 0)
        t = 0;
    if (t > 1)
        t = 1;
    double f = t * 4.0;
    int k = (int)f;
    if (k > 3)
        k = 3;
    double u = f - k;
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(stops[k][c] + (stops[k + 1][c] - stops[k][c]) * u);
    snprintf(out, 8, "#%02x%02x%02x", rgb[0] & 255, rgb[1] & 255, rgb[2] & 255);
}

int td_plot_nice_ticks(double lo, double hi, int target, double *first, double *step)
{
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (hi < lo) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (hi - lo < 1e-12) {
        double pad = fabs(lo) > 1e-12 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    if (target < 2)
        target = 2;
    double raw = (hi - lo) / target;
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    double nice = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
    double st = nice * mag;
    double f = ceil(lo / st - 1e-9) * st;
    int count = (int)floor((hi - f) / st + 1e-9) + 1;
    if (count < 1)
        count = 1;
    *first = f;
    *step = st;
    return count;
}

/* ------------------------------------------------------------------------------------ */
/* Colour scale legend                                                                  */
/* ------------------------------------------------------------------------------------ */

void td_plot_color_scale_draw(td_svg *s, double x, double y, double h, double lo, double hi,
                              const char *label)
{
    unsigned long id = (unsigned long)s->len;
    td_svg_raw(s,
               "<g class=\"color-scale\">\n<defs><linearGradient id=\"scale%lu\" x1=\"0\" "
               "y1=\"1\" x2=\"0\" y2=\"0\">",
               id);
    for (int i = 0; i <= 8; i++) {
        char col[8];
        td_plot_scale_color(i / 8.0, col);
        td_svg_raw(s, "<stop offset=\"%.3f\" stop-color=\"%s\"/>", i / 8.0, col);
    }
    td_svg_raw(s, "</linearGradient></defs>\n");
    td_svg_raw(s,
               "<rect x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"%.2f\" "
               "fill=\"url(#scale%lu)\" stroke=\"#333333\" stroke-width=\"0.8\"/>\n",
               x, y, h, id);
    double first, step;
    double l = lo, hgh = hi > lo ? hi : lo + 1;
    int n = td_plot_nice_ticks(l, hgh, 5, &first, &step);
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    for (int i = 0; i < n; i++) {
        double v = first + i * step;
        if (v > hgh + 1e-9)
            break;
        double yy = y + h - (v - l) / (hgh - l) * h;
        char buf[32];
        snprintf(buf, sizeof(buf), "%.*f", dec, fabs(v) < 1e-12 ? 0.0 : v);
        td_svg_line(s, x + 14, yy, x + 18, yy, "#333333", 1);
        td_svg_text(s, x + 21, yy + 3.5, 10.5, "start", 0, "#333333", buf);
    }
    td_svg_text(s, x + 62, y + h / 2, 12, "middle", -90, "#111111", label ? label : "value");
    td_svg_raw(s, "</g>\n");
}
