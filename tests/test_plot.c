/*
 * test_plot.c - the SVG builder and charts (plot.h) and the pictures made from metrics and
 * simtrace logs (eval.h): output is well-formed XML (checked by xml_check.h and, when
 * present, Python's parser) with the expected elements: one polyline per lap, titles, axis
 * labels, legend entries, the best-checkpoint marker.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "td_test.h"
#include "trackday/logs.h"
#include "trackday/plot.h"
#include "trackday/trainer.h"
#include "xml_check.h"

#define FIXTURE TD_TEST_SOURCE_DIR "/tests/data/simtrace_deepracer.csv"

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

static void assert_wellformed(const char *doc)
{
    const char *why = xml_check(doc);
    TD_ASSERT_MSG(why == NULL, "not well-formed: %s", why);
}

static void assert_file_wellformed(const char *path)
{
    char *doc = td_test_slurp(path);
    assert_wellformed(doc);
    td_free(doc);
    TD_ASSERT_MSG(xml_check_python(path) != 1, "python's XML parser rejects %s", path);
}

/*
 * A circular track (radius 2 m, width 0.8 m, counter-clockwise) built by hand from the
 * td_track fields the drawing reads, so these tests do not depend on the track loaders.
 */
#define CIRC_N 41
typedef struct circ {
    td_track t;
    double c[CIRC_N * 2], in[CIRC_N * 2], out[CIRC_N * 2], arc[CIRC_N], w[CIRC_N];
} circ;

static void make_circle(circ *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < CIRC_N; i++) {
        double a = 2 * M_PI * i / (CIRC_N - 1);
        c->c[2 * i] = 2.0 * cos(a);
        c->c[2 * i + 1] = 2.0 * sin(a);
        c->in[2 * i] = 1.6 * cos(a);
        c->in[2 * i + 1] = 1.6 * sin(a);
        c->out[2 * i] = 2.4 * cos(a);
        c->out[2 * i + 1] = 2.4 * sin(a);
        c->w[i] = 0.8;
        c->arc[i] = i ? c->arc[i - 1] +
                            hypot(c->c[2 * i] - c->c[2 * i - 2], c->c[2 * i + 1] - c->c[2 * i - 1])
                      : 0;
    }
    TD_FMT(c->t.name, "circle");
    c->t.n = CIRC_N;
    c->t.closed = 1;
    c->t.center = c->c;
    c->t.inner = c->in;
    c->t.outer = c->out;
    c->t.arc = c->arc;
    c->t.width = c->w;
    c->t.length = c->arc[CIRC_N - 1];
    c->t.min_x = c->t.min_y = -2.4;
    c->t.max_x = c->t.max_y = 2.4;
}

/* ------------------------------------------------------------------------------------ */
/* SVG builder                                                                          */
/* ------------------------------------------------------------------------------------ */

TD_TEST(svg_escapes_text_and_bounds_numbers)
{
    td_svg s;
    td_svg_begin(&s, 100, 50);
    size_t mark = s.len;
    td_svg_escaped(&s, "a<b & \"c\" 'd' >e");
    TD_ASSERT_STREQ(s.buf + mark, "a&lt;b &amp; &quot;c&quot; &apos;d&apos; &gt;e");
    mark = s.len;
    td_svg_num(&s, 1.50, 2);
    td_svg_raw(&s, "|");
    td_svg_num(&s, 3.0, 2);
    td_svg_raw(&s, "|");
    td_svg_num(&s, NAN, 2);
    td_svg_raw(&s, "|");
    td_svg_num(&s, -0.0001, 2);
    td_svg_raw(&s, "|");
    td_svg_num(&s, 2.0 / 3.0, 3);
    td_svg_raw(&s, "|");
    td_svg_num(&s, 1234567.891, 1);
    TD_ASSERT_STREQ(s.buf + mark, "1.5|3|0|0|0.667|1234567.9");
    td_svg_text(&s, 10, 20, 12, "middle", -90, NULL, "x < y & z");
    td_svg_finish(&s);
    assert_wellformed(s.buf);
    TD_ASSERT_CONTAINS(s.buf, "x &lt; y &amp; z");
    TD_ASSERT_CONTAINS(s.buf, "rotate(-90 10 20)");
    td_svg_free(&s);
}

TD_TEST(svg_out_of_memory_is_reported_on_save)
{
    char dir[64], path[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/a.svg", dir);
    td_svg s;
    td_svg_begin(&s, 100, 50);
    td_alloc_fail_after(0);
    for (int i = 0; i < 2000; i++)
        td_svg_circle(&s, i, i, 1, "#000000", NULL);
    td_alloc_fail_after(-1);
    td_err err;
    TD_ASSERT_EQ_INT(td_svg_save(&s, path, &err), TD_ENOMEM);
    TD_ASSERT_CONTAINS(err.msg, "out of memory");
    TD_ASSERT(!td_path_exists(path));
    td_svg_free(&s);
    rmdir(dir);
}

TD_TEST(nice_ticks_are_round_numbers)
{
    double first, step;
    int n = td_plot_nice_ticks(0, 97, 5, &first, &step);
    TD_ASSERT_NEAR(step, 20, 1e-12);
    TD_ASSERT_NEAR(first, 0, 1e-12);
    TD_ASSERT_EQ_INT(n, 5);
    n = td_plot_nice_ticks(0.013, 0.087, 4, &first, &step);
    TD_ASSERT_NEAR(step, 0.02, 1e-12);
    TD_ASSERT_NEAR(first, 0.02, 1e-12);
    TD_ASSERT_EQ_INT(n, 4);
    n = td_plot_nice_ticks(-7.5, 12, 4, &first, &step);
    TD_ASSERT_NEAR(step, 5, 1e-12);
    TD_ASSERT_NEAR(first, -5, 1e-12);
    TD_ASSERT_EQ_INT(n, 4);
    /* Degenerate and non-finite ranges still give usable ticks. */
    n = td_plot_nice_ticks(3, 3, 5, &first, &step);
    TD_ASSERT(n >= 2 && step > 0);
    n = td_plot_nice_ticks(NAN, 1, 5, &first, &step);
    TD_ASSERT(n >= 2 && step > 0 && isfinite(first));
}

TD_TEST(scale_colors_run_from_dark_to_light)
{
    char a[8], b[8], c[8];
    td_plot_scale_color(0, a);
    td_plot_scale_color(1, b);
    td_plot_scale_color(7, c);
    TD_ASSERT_STREQ(a, "#0d0887");
    TD_ASSERT_STREQ(b, "#f0f921");
    TD_ASSERT_STREQ(c, b);
}

/* ------------------------------------------------------------------------------------ */
/* Charts                                                                               */
/* ------------------------------------------------------------------------------------ */

TD_TEST(line_chart_has_title_labels_legend_and_gaps)
{
    double x[6] = {0, 1, 2, 3, 4, 5};
    double y1[6] = {1, 2, 3, 2.5, 4, 5};
    double y2[6] = {0.5, NAN, 1, 1.5, NAN, 2}; /* gaps split the line: runs of 1, 2, 1 */
    double y3[6] = {5, 4, 3, 2, 1, 0};
    td_plot_series series[3] = {
        {.name = "mean reward", .x = x, .y = y1, .n = 6},
        {.name = "with gaps", .x = x, .y = y2, .n = 6, .dash = "4 2"},
        {.name = "falling & <odd>", .x = x, .y = y3, .n = 6, .markers = 1},
    };
    td_line_chart c = {.title = "Training <curves>",
                       .x_label = "iteration",
                       .y_label = "reward (points)",
                       .series = series,
                       .n_series = 3,
                       .has_marker = 1,
                       .marker_x = 4,
                       .marker_label = "best checkpoint"};
    td_svg s;
    td_svg_begin(&s, 700, 400);
    td_err err;
    TD_ASSERT_OK(td_plot_line_chart_draw(&s, &c, 0, 0, 700, 400, &err));
    td_svg_finish(&s);
    assert_wellformed(s.buf);
    /* Series 1 and 3 are one polyline each; series 2 has one run of 2 points (a polyline)
     * and two single points (dots). */
    TD_ASSERT_EQ_INT(count_str(s.buf, "class=\"series-line\""), 3);
    TD_ASSERT_EQ_INT(count_str(s.buf, "<g class=\"series\">"), 3);
    TD_ASSERT_CONTAINS(s.buf, ">Training &lt;curves&gt;</text>");
    TD_ASSERT_CONTAINS(s.buf, ">iteration</text>");
    TD_ASSERT_CONTAINS(s.buf, ">reward (points)</text>");
    TD_ASSERT_EQ_INT(count_str(s.buf, "class=\"legend-entry\""), 4);
    TD_ASSERT_CONTAINS(s.buf, ">mean reward</text>");
    TD_ASSERT_CONTAINS(s.buf, ">falling &amp; &lt;odd&gt;</text>");
    TD_ASSERT_CONTAINS(s.buf, ">best checkpoint</text>");
    TD_ASSERT_EQ_INT(count_str(s.buf, "class=\"marker\""), 1);
    /* Six markers on series 3 plus the two isolated points of series 2. */
    TD_ASSERT_EQ_INT(count_str(s.buf, "<circle"), 8);
    td_svg_free(&s);
}

TD_TEST(line_chart_whole_number_x_gets_whole_ticks)
{
    double x[2] = {0, 1}, y[2] = {3, 4};
    td_plot_series se = {.name = "two iterations", .x = x, .y = y, .n = 2};
    td_line_chart c = {
        .title = "t", .x_label = "iteration", .y_label = "y", .series = &se, .n_series = 1};
    td_svg s;
    td_svg_begin(&s, 700, 400);
    td_err err;
    TD_ASSERT_OK(td_plot_line_chart_draw(&s, &c, 0, 0, 700, 400, &err));
    td_svg_finish(&s);
    TD_ASSERT(strstr(s.buf, ">0.5</text>") == NULL);
    TD_ASSERT_CONTAINS(s.buf, ">1</text>");
    td_svg_free(&s);
}

TD_TEST(line_chart_rejects_a_series_without_data)
{
    td_plot_series se = {.name = "broken", .x = NULL, .y = NULL, .n = 3};
    td_line_chart c = {.title = "t", .series = &se, .n_series = 1};
    td_svg s;
    td_svg_begin(&s, 300, 200);
    td_err err;
    TD_ASSERT_EQ_INT(td_plot_line_chart_draw(&s, &c, 0, 0, 300, 200, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "broken");
    td_svg_free(&s);
}

TD_TEST(line_chart_without_data_says_so)
{
    td_line_chart c = {.title = "empty", .x_label = "x (s)", .y_label = "y (m)"};
    td_svg s;
    td_svg_begin(&s, 400, 300);
    td_err err;
    TD_ASSERT_OK(td_plot_line_chart_draw(&s, &c, 0, 0, 400, 300, &err));
    td_svg_finish(&s);
    assert_wellformed(s.buf);
    TD_ASSERT_CONTAINS(s.buf, ">no data</text>");
    td_svg_free(&s);
}

TD_TEST(bar_chart_draws_one_bar_per_finite_value)
{
    double v[7] = {1, 2, NAN, -1.5, 3, 0.5, 2};
    double cv[7] = {0, 0.2, 0.4, 0.5, 1, 0.3, 0.6};
    td_bar_chart c = {.title = "Mean steering per section",
                      .x_label = "section (% of the lap)",
                      .y_label = "steering (degrees)",
                      .series_name = "mean steering",
                      .n = 7,
                      .values = v,
                      .color_value = cv};
    td_svg s;
    td_svg_begin(&s, 600, 300);
    td_err err;
    TD_ASSERT_OK(td_plot_bar_chart_draw(&s, &c, 0, 0, 600, 300, &err));
    td_svg_finish(&s);
    assert_wellformed(s.buf);
    TD_ASSERT_EQ_INT(count_str(s.buf, "class=\"bar\""), 6);
    TD_ASSERT_CONTAINS(s.buf, ">Mean steering per section</text>");
    TD_ASSERT_CONTAINS(s.buf, ">section (% of the lap)</text>");
    TD_ASSERT_CONTAINS(s.buf, ">steering (degrees)</text>");
    TD_ASSERT_CONTAINS(s.buf, ">mean steering</text>");
    td_svg_free(&s);
}

TD_TEST(heatmap_has_a_cell_per_finite_value)
{
    double v[12] = {0, 10, 20, 30, 40, NAN, 60, 70, 80, 90, 100, 5};
    const char *rows[3] = {"left & slow", "straight", "right"};
    td_heatmap hm = {.title = "Action choice",
                     .x_label = "section",
                     .y_label = "action",
                     .scale_label = "share (%)",
                     .rows = 3,
                     .cols = 4,
                     .values = v,
                     .row_labels = rows};
    td_svg s;
    td_svg_begin(&s, 600, 300);
    td_err err;
    TD_ASSERT_OK(td_plot_heatmap_draw(&s, &hm, 0, 0, 600, 300, &err));
    td_svg_finish(&s);
    assert_wellformed(s.buf);
    TD_ASSERT_EQ_INT(count_str(s.buf, "class=\"cell\""), 11);
    TD_ASSERT_CONTAINS(s.buf, ">Action choice</text>");
    TD_ASSERT_CONTAINS(s.buf, ">left &amp; slow</text>");
    TD_ASSERT_CONTAINS(s.buf, ">share (%)</text>");
    TD_ASSERT_CONTAINS(s.buf, ">section</text>");
    TD_ASSERT_EQ_INT(count_str(s.buf, "class=\"color-scale\""), 1);
    td_svg_free(&s);
}

TD_TEST(reward_lap_chart_is_written)
{
    char dir[64], path[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/reward.svg", dir);
    double x[50], r[50], half[50];
    for (int i = 0; i < 50; i++) {
        x[i] = i * 2.0;
        r[i] = sin(i * 0.3);
        half[i] = r[i] / 2;
    }
    td_plot_series extra = {.name = "centre-line term", .x = x, .y = half, .n = 50};
    td_err err;
    TD_ASSERT_OK(
        td_plot_reward_lap_write(path, "Reward along lap 1", x, r, 50, 1, &extra, 1, &err));
    assert_file_wellformed(path);
    char *doc = td_test_slurp(path);
    TD_ASSERT_CONTAINS(doc, ">Reward along lap 1</text>");
    TD_ASSERT_CONTAINS(doc, ">progress (% of the lap)</text>");
    TD_ASSERT_CONTAINS(doc, ">reward (points per step)</text>");
    TD_ASSERT_CONTAINS(doc, ">reward per step</text>");
    TD_ASSERT_CONTAINS(doc, ">centre-line term</text>");
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"series-line\""), 2);
    td_free(doc);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------------------------------ */
/* Track views                                                                          */
/* ------------------------------------------------------------------------------------ */

TD_TEST(track_view_has_one_polyline_per_lap)
{
    circ c;
    make_circle(&c);
    enum { NL = 3, NP = 60 };
    double xs[NL][NP], ys[NL][NP], vs[NL][NP];
    td_plot_lap laps[NL];
    char names[NL][32];
    for (int l = 0; l < NL; l++) {
        for (int i = 0; i < NP; i++) {
            double a = 2 * M_PI * i / NP, r = 2.0 + 0.1 * sin(i * 0.2 + l);
            xs[l][i] = r * cos(a);
            ys[l][i] = r * sin(a);
            vs[l][i] = 1.0 + l + 0.5 * sin(i * 0.1);
        }
        TD_FMT(names[l], "lap %d (9.%d s)", l + 1, l);
        laps[l] = (td_plot_lap){.name = names[l], .x = xs[l], .y = ys[l], .value = vs[l], .n = NP};
    }
    td_plot_mark marks[3] = {
        {2.5, 0, TD_MARK_OFF_TRACK}, {0, 2.5, TD_MARK_OFF_TRACK}, {-2, 0, TD_MARK_CRASH}};
    td_plot_track_view v = {.title = "Evaluation laps & speed",
                            .track = &c.t,
                            .laps = laps,
                            .n_laps = NL,
                            .marks = marks,
                            .n_marks = 3,
                            .scale_label = "speed (m/s)"};
    char dir[64], path[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/track.svg", dir);
    td_err err;
    TD_ASSERT_OK(td_plot_track_write(path, &v, 900, &err));
    assert_file_wellformed(path);
    char *doc = td_test_slurp(path);
    TD_ASSERT_EQ_INT(count_str(doc, "<polyline"), NL);
    TD_ASSERT_EQ_INT(count_str(doc, "<polyline class=\"lap\""), NL);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"lap-colors\""), NL);
    TD_ASSERT_CONTAINS(doc, ">Evaluation laps &amp; speed</text>");
    TD_ASSERT_CONTAINS(doc, ">lap 1 (9.0 s)</text>");
    TD_ASSERT_CONTAINS(doc, ">lap 3 (9.2 s)</text>");
    /* Each lap's outline has its own colour, and its legend line the same one. */
    for (int l = 0; l < NL; l++) {
        char outline[64], key[128];
        TD_FMT(outline, "data-lap=\"%d\" fill=\"none\" stroke=\"%s\"", l, td_plot_palette(l));
        TD_ASSERT_CONTAINS(doc, outline);
        TD_FMT(key, "stroke=\"%s\" stroke-opacity=\"0.75\" stroke-width=\"6\"/>",
               td_plot_palette(l));
        TD_ASSERT_CONTAINS(strstr(doc, "class=\"legend\""), key);
    }
    TD_ASSERT_CONTAINS(doc, ">off track (2)</text>");
    TD_ASSERT_CONTAINS(doc, ">crash (1)</text>");
    TD_ASSERT_CONTAINS(doc, ">centre line</text>");
    TD_ASSERT_CONTAINS(doc, ">start line</text>");
    TD_ASSERT_CONTAINS(doc, ">speed (m/s)</text>");
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"mark-off-track\""), 2);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"mark-crash\""), 1);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"start-line\""), 1);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"direction\""), 1);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"color-scale\""), 1);
    /* Both ends of the speed scale are used: the lowest and highest of the 32 colour bins. */
    char lo[8], hi[8], attr[32];
    td_plot_scale_color(0.5 / 32, lo);
    td_plot_scale_color(31.5 / 32, hi);
    TD_FMT(attr, "stroke=\"%s\"", lo);
    TD_ASSERT_CONTAINS(doc, attr);
    TD_FMT(attr, "stroke=\"%s\"", hi);
    TD_ASSERT_CONTAINS(doc, attr);
    td_free(doc);
    unlink(path);
    rmdir(dir);
}

TD_TEST(track_view_without_track_draws_lines_only)
{
    double x[3] = {0, 1, 2}, y[3] = {0, 1, 0};
    td_plot_lap lap = {.name = "episode 0", .x = x, .y = y, .n = 3};
    td_plot_track_view v = {.title = "no track", .laps = &lap, .n_laps = 1};
    td_svg s;
    td_svg_begin(&s, 500, 400);
    td_err err;
    TD_ASSERT_OK(td_plot_track_draw(&s, &v, 0, 0, 500, 400, &err));
    td_svg_finish(&s);
    assert_wellformed(s.buf);
    TD_ASSERT_EQ_INT(count_str(s.buf, "<polyline class=\"lap\""), 1);
    TD_ASSERT_EQ_INT(count_str(s.buf, "class=\"road\""), 0);
    TD_ASSERT_EQ_INT(count_str(s.buf, "class=\"color-scale\""), 0);
    td_svg_free(&s);
}

TD_TEST(track_view_skips_missing_points_and_unsafe_colours)
{
    double x[5] = {0, 1, NAN, 3, 4}, y[5] = {0, 1, 1, 0, 1}, v[5] = {1, 2, 3, NAN, 2};
    td_plot_lap laps[2] = {
        {.name = "valued", .x = x, .y = y, .value = v, .n = 5},
        {.name = "solid", .x = x, .y = y, .n = 5, .color = "red\" onload=\"x"},
    };
    td_plot_mark mark = {NAN, 1, TD_MARK_CRASH};
    td_plot_series se = {.name = "s", .x = x, .y = y, .n = 5, .color = "<bad>", .dash = "1'2"};
    td_line_chart c = {.title = "t", .series = &se, .n_series = 1};
    td_plot_track_view view = {
        .title = "gaps", .laps = laps, .n_laps = 2, .marks = &mark, .n_marks = 1};
    td_svg s;
    td_svg_begin(&s, 600, 900);
    td_err err;
    TD_ASSERT_OK(td_plot_track_draw(&s, &view, 0, 0, 600, 450, &err));
    TD_ASSERT_OK(td_plot_line_chart_draw(&s, &c, 0, 450, 600, 450, &err));
    td_svg_finish(&s);
    assert_wellformed(s.buf);
    TD_ASSERT(strstr(s.buf, "onload") == NULL);
    TD_ASSERT(strstr(s.buf, "<bad>") == NULL);
    /* The missing point is left out of the outline: 4 of 5 points, 3 spaces. */
    const char *pl = strstr(s.buf, "<polyline class=\"lap\"");
    TD_ASSERT(pl != NULL);
    const char *pts = strstr(pl, "points=\"") + 8;
    int spaces = 0;
    for (const char *q = pts; *q != '"'; q++)
        spaces += *q == ' ';
    TD_ASSERT_EQ_INT(spaces, 3);
    TD_ASSERT_EQ_INT(count_str(s.buf, "class=\"mark-crash\""), 0);
    TD_ASSERT(strstr(s.buf, "nan") == NULL && strstr(s.buf, "inf") == NULL);
    td_svg_free(&s);
}

/* ------------------------------------------------------------------------------------ */
/* Metrics and training curves                                                          */
/* ------------------------------------------------------------------------------------ */

TD_TEST(training_curves_from_metrics_file)
{
    char dir[64], metrics[128], svg[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(metrics, "%s/training.jsonl", dir);
    TD_FMT(svg, "%s/training.svg", dir);
    td_err err;
    for (int i = 0; i < 12; i++) {
        td_train_progress r = {.iteration = i,
                               .episodes = 20 * (i + 1),
                               .steps = 3000 * (i + 1),
                               .mean_reward = 10 + 5 * i,
                               .mean_progress = 8.0 * i,
                               .completion_rate = i >= 8 ? 0.1 * (i - 7) : 0,
                               .entropy = i == 5 ? NAN : 1.6 - 0.1 * i,
                               .mean_steps = NAN,
                               .elapsed_s = NAN,
                               .best = i == 9 || i == 3};
        TD_ASSERT_OK(td_train_metrics_append(metrics, &r, &err));
    }
    td_metrics m;
    TD_ASSERT_OK(td_metrics_load(&m, metrics, &err));
    TD_ASSERT_EQ_INT(m.n, 12);
    TD_ASSERT_EQ_INT(m.best_index, 9);
    TD_ASSERT_NEAR(m.mean_reward[4], 30, 1e-9);
    TD_ASSERT_NEAR(m.steps[11], 36000, 1e-9);
    TD_ASSERT(isnan(m.entropy[5])); /* the key was left out of line 6 */
    TD_ASSERT_NEAR(m.entropy[6], 1.0, 1e-9);
    TD_ASSERT_OK(td_plot_training_write(svg, &m, "Training of my-model", &err));
    td_metrics_free(&m);

    assert_file_wellformed(svg);
    char *doc = td_test_slurp(svg);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"line-chart\""), 4);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"marker\""), 4);
    TD_ASSERT_EQ_INT(count_str(doc, ">best checkpoint</text>"), 4);
    TD_ASSERT_CONTAINS(doc, ">Training of my-model</text>");
    TD_ASSERT_CONTAINS(doc, ">Lap completion rate</text>");
    TD_ASSERT_CONTAINS(doc, ">progress (% of a lap)</text>");
    TD_ASSERT_EQ_INT(count_str(doc, ">iteration (policy updates)</text>"), 4);
    /* The missing entropy value splits that curve in two. */
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"series-line\""), 5);
    td_free(doc);
    unlink(svg);
    unlink(metrics);
    rmdir(dir);
}

TD_TEST(metrics_from_a_log_report)
{
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_read(&t, FIXTURE, &err));
    td_logs_report r;
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 2, &err));
    td_metrics m;
    TD_ASSERT_OK(td_metrics_from_report(&m, &r, &err));
    TD_ASSERT_EQ_INT(m.n, 2);
    TD_ASSERT_EQ_INT(m.best_index, -1);
    TD_ASSERT_NEAR(m.mean_reward[1], r.iterations[1].mean_reward, 1e-12);
    TD_ASSERT_NEAR(m.completion_rate[0], 0.5, 1e-12); /* episodes 0 and 1: one lap */
    TD_ASSERT_NEAR(m.episodes[1], 4, 0);
    TD_ASSERT(isnan(m.entropy[0]));
    td_metrics_free(&m);
    td_logs_report_free(&r);
    td_simtrace_free(&t);
}

TD_TEST(metrics_file_errors_name_the_line)
{
    char dir[64], path[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/training.jsonl", dir);
    const char *bad = "{\"iteration\": 0, \"mean_reward\": 1}\n[1, 2]\n{\"iteration\": 2}\n";
    td_err err;
    TD_ASSERT_OK(td_file_write_atomic(path, bad, strlen(bad), &err));
    td_metrics m;
    TD_ASSERT_EQ_INT(td_metrics_load(&m, path, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "line 2");
    /* A last line cut short by a killed writer is skipped; missing keys are NaN. */
    const char *cut =
        "{\"iteration\": 0, \"mean_reward\": 1}\n\n{\"iteration\": 1, \"best\": true}\n"
        "{\"iteration\": 2, \"mean_re";
    TD_ASSERT_OK(td_file_write_atomic(path, cut, strlen(cut), &err));
    TD_ASSERT_OK(td_metrics_load(&m, path, &err));
    TD_ASSERT_EQ_INT(m.n, 2);
    TD_ASSERT_EQ_INT(m.best_index, 1);
    TD_ASSERT(isnan(m.mean_reward[1]));
    TD_ASSERT(isnan(m.entropy[0]));
    td_metrics_free(&m);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------------------------------ */
/* Pictures from simtrace logs                                                          */
/* ------------------------------------------------------------------------------------ */

TD_TEST(episodes_picture_has_a_polyline_per_episode_and_end_marks)
{
    circ c;
    make_circle(&c);
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_read(&t, FIXTURE, &err));
    td_logs_report r;
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 20, &err));
    TD_ASSERT_EQ_INT(r.n_episodes, 4);
    char dir[64], path[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/episodes.svg", dir);
    TD_ASSERT_OK(td_plot_episodes_write(path, &t, &r, NULL, 0, &c.t, "All episodes", &err));
    assert_file_wellformed(path);
    char *doc = td_test_slurp(path);
    TD_ASSERT_EQ_INT(count_str(doc, "<polyline class=\"lap\""), 4);
    /* Two episodes went off track, one was immobilized; the complete lap has no mark. */
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"mark-off-track\""), 2);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"mark-immobilized\""), 1);
    TD_ASSERT_CONTAINS(doc, ">episode 1: lap ");
    td_free(doc);

    /* A selection draws only the chosen episodes; a bad index is an error. */
    int sel[1] = {1};
    TD_ASSERT_OK(td_plot_episodes_write(path, &t, &r, sel, 1, &c.t, "Fastest lap", &err));
    doc = td_test_slurp(path);
    TD_ASSERT_EQ_INT(count_str(doc, "<polyline class=\"lap\""), 1);
    td_free(doc);
    int badsel[1] = {7};
    TD_ASSERT_EQ_INT(td_plot_episodes_write(path, &t, &r, badsel, 1, &c.t, "x", &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "episode index 7");
    td_logs_report_free(&r);
    td_simtrace_free(&t);
    unlink(path);
    rmdir(dir);
}

TD_TEST(waypoint_summary_means_and_picture)
{
    circ c;
    make_circle(&c);
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_read(&t, FIXTURE, &err));
    td_waypoint_summary ws;
    TD_ASSERT_OK(td_waypoint_summary_compute(&ws, &t, 0, -1, &c.t, 20, &err));
    /* The circle's waypoints are equally spaced: waypoint w (of 40 segments) falls in section
     * floor(w / 2). Recompute section 3's means from the raw rows. */
    double sum_v = 0, sum_s = 0;
    long cnt = 0, total = 0;
    for (int i = 0; i < t.n; i++) {
        int b = t.rows[i].closest_waypoint / 2;
        if (b == 3) {
            sum_v += t.rows[i].throttle;
            sum_s += t.rows[i].steer_deg;
            cnt++;
        }
    }
    for (int b = 0; b < 20; b++)
        total += ws.count[b];
    TD_ASSERT_EQ_INT(total, t.n);
    TD_ASSERT_GT(cnt, 0);
    TD_ASSERT_EQ_INT(ws.count[3], cnt);
    TD_ASSERT_NEAR(ws.speed[3], sum_v / cnt, 1e-9);
    TD_ASSERT_NEAR(ws.steer_deg[3], sum_s / cnt, 1e-9);
    /* Section mid points lie on the centre line (radius 2 m, within chord error). */
    TD_ASSERT_NEAR(hypot(ws.x[3], ws.y[3]), 2.0, 0.01);

    char dir[64], path[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/waypoints.svg", dir);
    TD_ASSERT_OK(td_plot_waypoints_write(path, &ws, &c.t, "Per-section summary", &err));
    assert_file_wellformed(path);
    char *doc = td_test_slurp(path);
    int with_data = 0;
    for (int b = 0; b < 20; b++)
        with_data += ws.count[b] > 0;
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"bar\""), 2 * with_data);
    /* The fixture's six discrete actions: one heat map row each, a cell per section with
     * data, labelled with what the action does. */
    TD_ASSERT_EQ_INT(ws.n_actions, 6);
    TD_ASSERT_NEAR(ws.action_steer_deg[0], -30, 1e-9);
    TD_ASSERT_NEAR(ws.action_speed[0], 0.5, 1e-9);
    TD_ASSERT_NEAR(ws.action_speed[5], 2.0, 1e-9);
    for (int b = 0; b < 20; b++) {
        long sum = 0;
        for (int a = 0; a < 6; a++)
            sum += ws.action_count[b * 6 + a];
        TD_ASSERT_EQ_INT(sum, ws.count[b]);
    }
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"heatmap\""), 1);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"cell\""), 6 * with_data);
    TD_ASSERT_CONTAINS(doc, ">0: -30 deg, 0.5 m/s</text>");
    TD_ASSERT_CONTAINS(doc, ">share of the section&apos;s steps (%)</text>");
    TD_ASSERT_CONTAINS(doc, ">Mean commanded speed per section</text>");
    TD_ASSERT_CONTAINS(doc, ">steering (degrees, + = left)</text>");
    TD_ASSERT_CONTAINS(doc, ">mean commanded speed (m/s)</text>");
    td_free(doc);
    td_waypoint_summary_free(&ws);
    td_simtrace_free(&t);
    unlink(path);
    rmdir(dir);
}

TD_TEST(model_dir_pictures_and_notes)
{
    circ c;
    make_circle(&c);
    char dir[64], p[256], cmd[512];
    TD_FMT(dir, "%s", td_test_tmpdir());
    td_plot_output out;
    td_err err;
    TD_FMT(p, "%s/plots", dir);
    /* Nothing there: TD_ENOENT, with a note for each missing input. */
    TD_ASSERT_EQ_INT(td_plot_model_dir(dir, &c.t, p, 20, &out, &err), TD_ENOENT);
    TD_ASSERT_EQ_INT(out.n_paths, 0);
    TD_ASSERT_EQ_INT(out.n_notes, 2);
    TD_ASSERT_CONTAINS(out.notes[0], "metrics/training.jsonl");
    TD_ASSERT_CONTAINS(out.notes[1], "logs");
    TD_ASSERT_CONTAINS(err.msg, "nothing to plot");

    /* Training logs only: curves computed from the logs (DeepRacer's model directories have
     * no metrics file), and the last 10 episodes (here all 4) on the track. */
    TD_FMT(cmd,
           "mkdir -p %s/logs/training-simtrace && cp %s "
           "%s/logs/training-simtrace/0-iteration.csv",
           dir, FIXTURE, dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_OK(td_plot_model_dir(dir, &c.t, p, 10, &out, &err));
    TD_ASSERT_EQ_INT(out.n_paths, 5);
    TD_ASSERT_EQ_INT(out.n_notes, 1);
    TD_ASSERT_CONTAINS(out.notes[0], "computed from the simtrace logs");
    TD_ASSERT_CONTAINS(out.paths[0], "/plots/training.svg");
    TD_ASSERT_CONTAINS(out.paths[1], "/plots/ends.svg");
    TD_ASSERT_CONTAINS(out.paths[2], "/plots/laps.svg");
    TD_ASSERT_CONTAINS(out.paths[3], "/plots/waypoints.svg");
    TD_ASSERT_CONTAINS(out.paths[4], "/plots/reward-lap.svg");
    char *doc = td_test_slurp(out.paths[0]);
    TD_ASSERT_CONTAINS(doc, ">Mean episode length</text>");
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"marker\""), 0);
    td_free(doc);
    /* Three of the four episodes ended early: two off track, one immobilized. */
    doc = td_test_slurp(out.paths[1]);
    TD_ASSERT_CONTAINS(doc, "3 of 4 episodes ended early, 1 complete lap");
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"mark-off-track\""), 2);
    TD_ASSERT_EQ_INT(count_str(doc, "class=\"mark-immobilized\""), 1);
    TD_ASSERT_EQ_INT(count_str(doc, "<polyline"), 0);
    td_free(doc);
    doc = td_test_slurp(out.paths[2]);
    TD_ASSERT_CONTAINS(doc, "last training episodes, 0-iteration.csv (4 episodes)");
    td_free(doc);
    doc = td_test_slurp(out.paths[4]);
    /* 7.80 s between its first and last rows, plus the first row's step (from the reset). */
    TD_ASSERT_CONTAINS(doc, "Reward along the fastest lap (episode 1, 7.87 s)");
    td_free(doc);
    for (int i = 0; i < out.n_paths; i++)
        assert_file_wellformed(out.paths[i]);

    /* With an evaluation file, that one is drawn, all its episodes. */
    TD_FMT(cmd,
           "mkdir -p %s/logs/evaluation-simtrace && head -50 %s > "
           "%s/logs/evaluation-simtrace/0-iteration.csv",
           dir, FIXTURE, dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_OK(td_plot_model_dir(dir, &c.t, p, 10, &out, &err));
    doc = td_test_slurp(out.paths[2]);
    TD_ASSERT_CONTAINS(doc, "circle: evaluation 0-iteration.csv (1 episode)");
    TD_ASSERT_EQ_INT(count_str(doc, "<polyline class=\"lap\""), 1);
    td_free(doc);
    /* Without model_metadata.json the action heat map knows the rows' actions only (the
     * fixture's 0-5); with it, every action of the model has a row, named from the file,
     * chosen or not. */
    doc = td_test_slurp(out.paths[3]);
    TD_ASSERT(strstr(doc, ">6: ") == NULL);
    td_free(doc);
    TD_FMT(p, "%s/model_metadata.json", dir);
    FILE *f = fopen(p, "w");
    TD_ASSERT(f != NULL);
    fputs("{\"action_space\": [", f);
    for (int a = 0; a < 8; a++)
        fprintf(f, "%s{\"steering_angle\": %d, \"speed\": %.1f, \"index\": %d}", a ? ", " : "",
                a < 6 ? -30 + 12 * a : 5 * a - 10, a < 6 ? 0.5 + 0.3 * a : 3.5, a);
    fputs("], \"sensor\": [\"STATE\"], \"neural_network\": \"MLP\", \"version\": \"5\"}\n", f);
    fclose(f);
    TD_FMT(p, "%s/plots", dir);
    TD_ASSERT_OK(td_plot_model_dir(dir, &c.t, p, 10, &out, &err));
    doc = td_test_slurp(out.paths[3]);
    TD_ASSERT_CONTAINS(doc, ">6: +20 deg, 3.5 m/s, never chosen</text>");
    TD_ASSERT_CONTAINS(doc, ">7: +25 deg, 3.5 m/s, never chosen</text>");
    td_free(doc);
    TD_FMT(cmd, "rm -rf '%s'", dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
}

TD_TEST(pictures_survive_out_of_memory)
{
    circ c;
    make_circle(&c);
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_read(&t, FIXTURE, &err));
    td_logs_report r;
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 20, &err));
    td_waypoint_summary ws;
    TD_ASSERT_OK(td_waypoint_summary_compute(&ws, &t, 0, -1, &c.t, 20, &err));
    char dir[64], path[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/x.svg", dir);
    /* Each picture with the k-th allocation failing, until it succeeds: TD_ENOMEM, no leak,
     * no file. */
    for (int which = 0; which < 2; which++) {
        int ok = 0;
        for (int k = 0; k < 100 && !ok; k++) {
            td_alloc_fail_after(k);
            int rc = which == 0 ? td_plot_episodes_write(path, &t, &r, NULL, 0, &c.t, "oom", &err)
                                : td_plot_waypoints_write(path, &ws, &c.t, "oom", &err);
            td_alloc_fail_after(-1);
            if (rc == 0) {
                ok = 1;
                assert_file_wellformed(path);
                unlink(path);
            } else {
                TD_ASSERT_EQ_INT(rc, TD_ENOMEM);
                TD_ASSERT(!td_path_exists(path));
            }
        }
        TD_ASSERT(ok);
    }
    td_waypoint_summary_free(&ws);
    td_logs_report_free(&r);
    td_simtrace_free(&t);
    rmdir(dir);
}
