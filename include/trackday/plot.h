/*
 * plot.h - pictures without a plotting library: a small SVG builder and the charts trackday
 * draws with it (line charts for training curves and the reward along a lap, bar charts, and
 * top views of a track with driven lines coloured by speed), and the pictures of a model
 * directory made from its logs and metrics (logs.h): every td_plot_* function is here. Every
 * chart has a title, axis labels with units and a legend, and opens in any browser. Part of
 * the eval layer.
 *
 * The SVG text is built in memory (td_svg) and written atomically with td_svg_save, so a
 * reader never sees half a picture. docs/pictures.md shows examples of every chart.
 */
#ifndef TRACKDAY_PLOT_H
#define TRACKDAY_PLOT_H

#include <stdarg.h>

#include "trackday/core.h"
#include "trackday/logs.h"
#include "trackday/track.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- SVG builder ---------------------------------------------------------------------------- */

/*
 * An SVG document being built. Appending never fails visibly: on out-of-memory the builder
 * remembers it (nomem) and td_svg_save / td_svg_finish report TD_ENOMEM, so drawing code
 * needs no error check per element. Free with td_svg_free.
 */
typedef struct td_svg {
    char *buf;
    size_t len, cap;
    int nomem;
    int finished;
    double width, height;
} td_svg;

/* Starts a document of width x height user units (pixels) with a white background. */
void td_svg_begin(td_svg *s, double width, double height);
/* Closes the root element (idempotent). */
void td_svg_finish(td_svg *s);
void td_svg_free(td_svg *s);

/* Finishes the document and writes it atomically to path. */
int td_svg_save(td_svg *s, const char *path, td_err *err);

/* Appends raw markup (printf format; the caller is responsible for it being valid SVG). */
void td_svg_raw(td_svg *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text with &, <, >, " and ' escaped (for text content and attribute values). */
void td_svg_escaped(td_svg *s, const char *text);
/* Appends a number with at most `decimals` decimals, trailing zeros trimmed ("12.5", "3");
 * a non-finite value is written as 0 so the document stays valid. */
void td_svg_num(td_svg *s, double v, int decimals);

/* Returns v if it can go into an attribute as is (no quote, <, > or &; at most 64 characters),
 * else fallback. Charts pass caller-given colours and dash patterns through it. */
const char *td_svg_safe_attr(const char *v, const char *fallback);

/* Elements. Colours are SVG colour strings ("#1f77b4", "none"); text is escaped. */
void td_svg_line(td_svg *s, double x1, double y1, double x2, double y2, const char *stroke,
                 double stroke_width);
void td_svg_rect(td_svg *s, double x, double y, double w, double h, const char *fill,
                 const char *stroke);
void td_svg_circle(td_svg *s, double cx, double cy, double r, const char *fill, const char *stroke);
/* anchor: "start", "middle" or "end"; rotate_deg rotates about (x, y). */
void td_svg_text(td_svg *s, double x, double y, double size, const char *anchor, double rotate_deg,
                 const char *fill, const char *text);
/* A polyline through n points; dash may be NULL. `cls` (may be NULL) becomes class="...". */
void td_svg_polyline(td_svg *s, const double *px, const double *py, int n, const char *stroke,
                     double stroke_width, const char *dash, const char *cls);

/* ---- legends --------------------------------------------------------------------------------
 * A legend under a title: entries (a symbol, then the label in TD_SVG_LEGEND_SIZE text) left
 * to right in rows TD_SVG_LEGEND_ROW high, wrapping at a width. The caller draws each symbol
 * at the place td_svg_legend_next gives; a dry run (next without drawing) counts the rows. */
#define TD_SVG_LEGEND_SIZE 11.0
#define TD_SVG_LEGEND_ROW  16.0

typedef struct td_svg_legend {
    double x0, y0, w; /* top left and wrapping width */
    double symbol_w;  /* room for the symbol before each label */
    double x, y;      /* where the next entry goes, relative to x0 / absolute */
    double lx, ly;    /* the entry just placed: its symbol's left end at mid-row */
    int rows;         /* rows used so far */
} td_svg_legend;

void td_svg_legend_begin(td_svg_legend *l, double x0, double y0, double w, double symbol_w);
/* Places the next entry (its label's width decides the wrap); its symbol goes at l->lx, l->ly. */
void td_svg_legend_next(td_svg_legend *l, const char *label);
/* Writes the label of the entry just placed, after its symbol (escaped). */
void td_svg_legend_label(td_svg *s, const td_svg_legend *l, const char *label);

/* ---- colours and axes ----------------------------------------------------------------------- */

/* The i-th colour of the series palette (10 colours, cycling); a static string. */
const char *td_plot_palette(int i);

/* Colour of t in [0, 1] on the sequential speed scale (dark blue - purple - orange - yellow),
 * written as "#rrggbb" into out (8 bytes). t is clamped. */
void td_plot_scale_color(double t, char out[8]);

/*
 * A vertical colour scale legend at (x, y), h pixels tall and about 80 pixels wide: the speed
 * scale from lo (bottom) to hi (top) with nice ticks and a rotated label.
 */
void td_plot_color_scale_draw(td_svg *s, double x, double y, double h, double lo, double hi,
                              const char *label);

/*
 * "Nice" axis ticks covering [lo, hi]: a step of 1, 2 or 5 times a power of ten giving about
 * `target` ticks. Writes *first (the first tick >= lo), *step and returns the tick count.
 * lo == hi is widened. Non-finite input gives the range [0, 1].
 */
int td_plot_nice_ticks(double lo, double hi, int target, double *first, double *step);

/* ---- line charts ---------------------------------------------------------------------------- */

typedef struct td_plot_series {
    const char *name;    /* legend entry */
    const double *x, *y; /* n points; non-finite y values break the line (missing data) */
    int n;
    const char *color; /* NULL: palette colour of the series index */
    const char *dash;  /* NULL: solid; e.g. "6 3" */
    int markers;       /* 1: a dot at every point */
} td_plot_series;

typedef struct td_line_chart {
    const char *title;
    const char *x_label; /* with units, e.g. "iteration" or "progress (%)" */
    const char *y_label; /* with units, e.g. "mean reward (points per episode)" */
    const td_plot_series *series;
    int n_series;
    int has_marker; /* draw a vertical marker at x = marker_x */
    double marker_x;
    const char *marker_label; /* legend entry of the marker, e.g. "best checkpoint" */
    int fixed_y;              /* 1: use [y_min, y_max] instead of the data range */
    double y_min, y_max;
    int include_zero; /* 1: the y range includes 0 */
} td_line_chart;

/*
 * Draws a line chart into the box (x, y, w, h) of s (so several charts can share one
 * document). Returns 0, or TD_EINVAL for a series with n < 0 or NULL arrays.
 */
int td_plot_line_chart_draw(td_svg *s, const td_line_chart *c, double x, double y, double w,
                            double h, td_err *err);
/* A whole document with one line chart (width x height pixels), written to path. */
int td_plot_line_chart_write(const char *path, const td_line_chart *c, int width, int height,
                             td_err *err);

/* ---- bar charts ----------------------------------------------------------------------------- */

typedef struct td_bar_chart {
    const char *title;
    const char *x_label, *y_label;
    const char *series_name;   /* legend entry */
    int n;                     /* bars */
    const double *values;      /* n values; non-finite = no bar (no data) */
    const char *const *labels; /* n category labels (may be NULL: 0, 1, ...); thinned if crowded */
    const char *color;         /* NULL: palette colour 0 */
    const double *color_value; /* optional n values in [0, 1] colouring bars on the speed scale */
} td_bar_chart;

int td_plot_bar_chart_draw(td_svg *s, const td_bar_chart *c, double x, double y, double w, double h,
                           td_err *err);

/* ---- heat maps ------------------------------------------------------------------------------ */

/* A grid of cells coloured on the speed scale, e.g. how often each action is chosen in each
 * section of the lap. */
typedef struct td_heatmap {
    const char *title;
    const char *x_label, *y_label;
    const char *scale_label; /* the colour scale's legend, with units */
    int rows, cols;
    const double *values;          /* rows x cols, row-major; non-finite = an empty cell */
    const char *const *row_labels; /* rows labels (may be NULL: 0, 1, ...), row 0 at the top */
    const char *const *col_labels; /* cols labels (may be NULL), thinned if crowded */
    int fixed_scale;               /* 1: [scale_min, scale_max], else the data range */
    double scale_min, scale_max;
} td_heatmap;

/* Draws a heat map into the box (x, y, w, h); one <rect class="cell"> per finite value. */
int td_plot_heatmap_draw(td_svg *s, const td_heatmap *hm, double x, double y, double w, double h,
                         td_err *err);

/* ---- track views ---------------------------------------------------------------------------- */

/* A driven line: one lap or episode. Every lap is one <polyline class="lap"> in the SVG (the
 * outline), with its colour-coded segments in a group after it. */
typedef struct td_plot_lap {
    const char *name;    /* legend entry, e.g. "lap 1 (9.87 s)" */
    const double *x, *y; /* n points, metres */
    const double *value; /* n values coloured on the scale (speed); NULL: solid colour */
    int n;
    const char *color; /* solid colour when value is NULL; NULL: palette */
} td_plot_lap;

typedef enum td_plot_mark_kind {
    TD_MARK_OFF_TRACK = 0,   /* red cross */
    TD_MARK_CRASH = 1,       /* black diamond */
    TD_MARK_REVERSED = 2,    /* orange triangle */
    TD_MARK_IMMOBILIZED = 3, /* grey square */
    TD_MARK_KINDS = 4
} td_plot_mark_kind;

typedef struct td_plot_mark {
    double x, y;
    td_plot_mark_kind kind;
} td_plot_mark;

/* An arrow drawn at a point (per-waypoint summaries): direction in radians, colour value. */
typedef struct td_plot_arrow {
    double x, y;
    double dir_rad; /* arrow direction (counter-clockwise from +x) */
    double value;   /* coloured on the scale */
} td_plot_arrow;

/* A box on the track (an obstacle or a car, as the simulator places them). */
typedef struct td_plot_box {
    double x, y, yaw_rad; /* centre and heading */
    double length, width; /* metres */
    int is_car;           /* drawn blue; an obstacle is white */
} td_plot_box;

typedef struct td_plot_track_view {
    const char *title;
    const td_track *track; /* borders, centre line, start line, direction; may be NULL */
    const td_plot_lap *laps;
    int n_laps;
    const td_plot_mark *marks;
    int n_marks;
    const td_plot_arrow *arrows;
    int n_arrows;
    const td_plot_box *boxes; /* obstacles and cars, under the laps */
    int n_boxes;
    const char *scale_label; /* colour scale legend, e.g. "speed (m/s)" */
    int fixed_scale;         /* 1: use [scale_min, scale_max], else the data range */
    double scale_min, scale_max;
} td_plot_track_view;

/*
 * Draws a top view into the box (x, y, w, h): the road (between the borders), the dashed
 * centre line, the start line and a direction arrow, the laps (coloured by value with a
 * colour scale legend), the marks and arrows, a legend, a title and a metre scale bar.
 * Equal scale on both axes; north up (y grows upwards in metres).
 */
int td_plot_track_draw(td_svg *s, const td_plot_track_view *v, double x, double y, double w,
                       double h, td_err *err);
/* A whole document of width pixels (height from the track's aspect ratio), written to path. */
int td_plot_track_write(const char *path, const td_plot_track_view *v, int width, td_err *err);

/* ---- reward along a lap (for `trackday reward explain`) ------------------------------------- */

/*
 * Writes a chart of the reward of each step of one lap or episode. x is the step number
 * (x_is_progress = 0) or the progress in percent (1); `reward` holds n values. Extra series
 * on the same axes (e.g. reward components, another reward function) may be given in
 * extra / n_extra.
 */
int td_plot_reward_lap_write(const char *path, const char *title, const double *x,
                             const double *reward, int n, int x_is_progress,
                             const td_plot_series *extra, int n_extra, td_err *err);

/* ---- pictures from logs and metrics --------------------------------------------------------- */

/*
 * Training curves in one SVG: four panels (mean reward, mean progress, lap completion rate,
 * entropy) per iteration, each marking the best checkpoint. When no row has an entropy (logs
 * alone), the fourth panel shows the mean episode length in steps instead.
 */
int td_plot_training_write(const char *path, const td_metrics *m, const char *title, td_err *err);

/*
 * The track with the driven lines of the given episodes of a report coloured by speed, and
 * marks where the incomplete ones ended (off track, crash, ...). episodes holds indices into
 * r->episodes (n_sel of them); NULL means all. track may be NULL (lines only).
 */
int td_plot_episodes_write(const char *path, const td_simtrace *t, const td_logs_report *r,
                           const int *episodes, int n_sel, const td_track *track, const char *title,
                           td_err *err);

/*
 * Where the episodes of a report that did not complete a lap ended, as marks on the track
 * (off track, crash, reversed, immobilized), with their counts in the legend: the places the
 * policy has not learned yet. track may be NULL.
 */
int td_plot_episode_ends_write(const char *path, const td_logs_report *r, const td_track *track,
                               const char *title, td_err *err);

/*
 * A per-waypoint summary drawn two ways in one SVG: on the track (a dot per section coloured
 * by mean speed with an arrow turned by the mean steering) and as bar charts of mean speed
 * and mean steering per section. The track is required for the map part.
 */
int td_plot_waypoints_write(const char *path, const td_waypoint_summary *ws, const td_track *track,
                            const char *title, td_err *err);

/* ---- the pictures of a run and of a model directory ----------------------------------------- */

#define TD_PLOT_MAX_OUTPUTS 8

/* What a picture-writing call did: the files written, and notes on what it skipped and why
 * (for the caller to show; the library prints nothing). */
typedef struct td_plot_output {
    int n_paths;
    char paths[TD_PLOT_MAX_OUTPUTS][1024];
    int n_notes;
    char notes[TD_PLOT_MAX_OUTPUTS][512];
} td_plot_output;

/*
 * The pictures of one run: the episodes of file `file` of t (-1: every row), the last
 * max_episodes of them (<= 0: all), written into out_dir as laps.svg (driven lines by speed
 * with end marks), waypoints.svg (`sections` sections) and reward-lap.svg (the fastest lap,
 * else the longest episode). label starts the title of laps.svg ("evaluation "). track may
 * be NULL. The evaluator calls this on the simtrace it has just written.
 */
int td_plot_simtrace_pictures(const td_simtrace *t, int file, int max_episodes,
                              const td_track *track, int sections, const char *out_dir,
                              const char *label, td_plot_output *out, td_err *err);

/*
 * What `trackday plot DIR` writes: out_dir/training.svg from DIR/metrics/training.jsonl (else
 * computed from the training simtrace logs), out_dir/ends.svg (where training episodes end),
 * and td_plot_simtrace_pictures of the newest evaluation simtrace in DIR/logs (a .csv with
 * "eval" in its path below logs/), else of the last 10 episodes of the last training file.
 * Missing inputs become notes; TD_ENOENT if there was nothing to plot at all.
 */
int td_plot_model_dir(const char *dir, const td_track *track, const char *out_dir, int sections,
                      td_plot_output *out, td_err *err);

/*
 * Writes an example model directory into dir for the pictures: training_params.yaml naming
 * world_name, a synthetic learning curve (metrics/training.jsonl) and simtrace logs of the
 * built-in driver on track (two training iterations with steering noise, one evaluation).
 */
int td_plot_demo_write(const char *dir, const char *world_name, const td_track *track, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_PLOT_H */
