/*
 * test_replay.c - replays (replay.h) and `trackday replay`: one frame per simtrace row, the
 * frame size, the car drawn at its projected position in the top view, the font, MP4 through
 * an ffmpeg on the PATH (a stand-in script that records what it receives) and a clear error
 * when ffmpeg is missing.
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "td_test.h"
#include "trackday/replay.h"
#include "trackday/sim.h"

#define OVAL TD_TEST_SOURCE_DIR "/tracks/oval.json"

static int is_frame(const char *name, void *user)
{
    (void)user;
    return strncmp(name, "frame_", 6) == 0 && strstr(name, ".png") != NULL;
}

static int count_pngs(const char *dir)
{
    char **v;
    int n;
    td_err err;
    TD_ASSERT_OK(td_dir_list(dir, 0, is_frame, NULL, &v, &n, &err));
    td_dir_list_free(v, n);
    return n;
}

/* n rows driving the centre line of t from arc s0, ds metres per step, one episode. */
static td_simtrace_row *make_rows(const td_track *t, int n, double s0, double ds)
{
    td_simtrace_row *rows = td_calloc((size_t)n, sizeof(*rows));
    TD_ASSERT(rows != NULL);
    for (int i = 0; i < n; i++) {
        double x, y, hd, s = td_track_wrap_arc(t, s0 + ds * (i + 1));
        td_track_point_at(t, s, 0.0, &x, &y, &hd);
        rows[i].episode = 0;
        rows[i].steps = i + 1;
        rows[i].x = x;
        rows[i].y = y;
        rows[i].yaw_deg = hd * 180.0 / M_PI;
        rows[i].throttle = ds * TD_SIM_HZ;
        rows[i].action = -1;
        rows[i].progress = 100.0 * (ds * (i + 1)) / t->length;
        rows[i].tstamp = (i + 1) / TD_SIM_HZ;
        rows[i].track_len = t->length;
        rows[i].all_wheels_on_track = 1;
        rows[i].iteration = -1;
        TD_FMT(rows[i].episode_status, "in_progress");
    }
    return rows;
}

static void load_oval(td_track *t)
{
    td_err err;
    int rc = td_track_load(t, OVAL, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
}

/* Writes rows as a simtrace CSV. */
static void write_simtrace(const char *path, const td_simtrace_row *rows, int n)
{
    td_simtrace_writer *w;
    td_err err;
    TD_ASSERT_OK(td_simtrace_writer_open(&w, path, &err));
    for (int i = 0; i < n; i++)
        TD_ASSERT_OK(td_simtrace_writer_write(w, &rows[i], &err));
    TD_ASSERT_OK(td_simtrace_writer_close(w, &err));
}

static int pixel_is(const uint8_t *img, int w, int x, int y, const uint8_t c[3])
{
    const uint8_t *p = img + ((size_t)y * w + x) * 3;
    return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

/* 1 if colour c appears within r pixels of (cx, cy). */
static int colour_near(const uint8_t *img, int w, int h, double cx, double cy, int r,
                       const uint8_t c[3])
{
    for (int y = (int)cy - r; y <= (int)cy + r; y++)
        for (int x = (int)cx - r; x <= (int)cx + r; x++)
            if (x >= 0 && y >= 0 && x < w && y < h && pixel_is(img, w, x, y, c))
                return 1;
    return 0;
}

TD_TEST(font_draws_every_documented_character)
{
    const char *set = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcz .:/-%()+,=_!?#'[]<>*";
    for (const char *s = set; *s; s++)
        TD_ASSERT_MSG(td_raster_font_has(*s), "no glyph for '%c'", *s);
    TD_ASSERT(!td_raster_font_has('~'));
    TD_ASSERT_EQ_INT(td_raster_text_width("AB", 2), (2 * 6 - 1) * 2);
    uint8_t img[40 * 20 * 3];
    const uint8_t white[3] = {255, 255, 255};
    memset(img, 0, sizeof(img));
    td_raster_text(img, 40, 20, 1, 1, "1", 1, white);
    /* '1' is a vertical bar in column 2 of the glyph and a base in columns 1..3. */
    TD_ASSERT(pixel_is(img, 40, 1 + 2, 1 + 3, white));
    TD_ASSERT(!pixel_is(img, 40, 1 + 0, 1 + 3, white));
    TD_ASSERT(pixel_is(img, 40, 1 + 1, 1 + 6, white));
    TD_ASSERT(!pixel_is(img, 40, 1 + 0, 1 + 6, white));
    /* "8" and "0" differ in the middle row. */
    uint8_t a[40 * 20 * 3], b[40 * 20 * 3];
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    td_raster_text(a, 40, 20, 0, 0, "8", 1, white);
    td_raster_text(b, 40, 20, 0, 0, "0", 1, white);
    TD_ASSERT_NE(memcmp(a, b, sizeof(a)), 0);
    /* Clipped at the border: no crash, nothing outside. */
    td_raster_text(img, 40, 20, 35, 15, "WWW", 3, white);
}

TD_TEST(replay_frame_per_row_with_car_at_its_position)
{
    td_track t;
    td_err err;
    td_replay_stats st;
    td_replay_options o;
    char dir[256], out[320], png[400];
    const int n = 23;
    load_oval(&t);
    td_simtrace_row *rows = make_rows(&t, n, 0.0, 0.2);
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(out, "%s/frames", dir);
    td_replay_options_default(&o);
    o.width = 640;
    int rc = td_replay_simtrace(&t, rows, n, &o, out, &st, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
    TD_ASSERT_EQ_INT(st.frames, n);
    TD_ASSERT_EQ_INT(count_pngs(out), n);
    TD_ASSERT_EQ_INT(st.width, 640);

    uint8_t car[3];
    td_replay_car_color(0, car);
    for (int k = 0; k < n; k += 11) {
        uint8_t *img;
        int w, h, c;
        TD_FMT(png, "%s/frame_%05d.png", out, k + 1);
        TD_ASSERT_OK(td_png_read(png, &img, &w, &h, &c, &err));
        TD_ASSERT_EQ_INT(w, st.width);
        TD_ASSERT_EQ_INT(h, st.height);
        TD_ASSERT_EQ_INT(c, 3);
        /* The car origin, projected into the frame. */
        double yaw = rows[k].yaw_deg * M_PI / 180.0;
        double ox = rows[k].x - TD_CAR_MODEL_POINT_M * cos(yaw);
        double oy = rows[k].y - TD_CAR_MODEL_POINT_M * sin(yaw);
        double px = st.view_x + (ox - st.view_ox) * st.view_scale;
        double py = st.view_y + (st.view_oy - oy) * st.view_scale;
        TD_ASSERT_MSG(colour_near(img, w, h, px, py, 2, car), "frame %d: no car at %.0f,%.0f",
                      k + 1, px, py);
        /* And not on the far side of the oval (half a lap away). */
        double fx, fy;
        td_track_point_at(&t, td_track_wrap_arc(&t, 0.2 * (k + 1) + 0.5 * t.length), 0, &fx, &fy,
                          NULL);
        TD_ASSERT(!colour_near(img, w, h, st.view_x + (fx - st.view_ox) * st.view_scale,
                               st.view_y + (st.view_oy - fy) * st.view_scale, 6, car));
        td_free(img);
    }
    td_free(rows);
    td_track_free(&t);
}

TD_TEST(replay_frames_differ_and_show_the_camera)
{
    td_track t;
    td_err err;
    td_replay_stats st1, st2;
    td_replay_options o;
    char dir[256], a[320], b[320], png[400];
    load_oval(&t);
    td_simtrace_row *rows = make_rows(&t, 4, 1.0, 0.3);
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(a, "%s/cam", dir);
    TD_FMT(b, "%s/nocam", dir);
    td_replay_options_default(&o);
    o.width = 480;
    TD_ASSERT_OK(td_replay_simtrace(&t, rows, 4, &o, a, &st1, &err));
    o.camera = 0;
    TD_ASSERT_OK(td_replay_simtrace(&t, rows, 4, &o, b, &st2, &err));
    /* With the camera the top view sits in the right half. */
    TD_ASSERT_GE(st1.view_x, 240);
    TD_ASSERT_LT(st2.view_x, 240);
    uint8_t *f1, *f4;
    int w, h, c;
    TD_FMT(png, "%s/frame_00001.png", a);
    TD_ASSERT_OK(td_png_read(png, &f1, &w, &h, &c, &err));
    TD_FMT(png, "%s/frame_00004.png", a);
    TD_ASSERT_OK(td_png_read(png, &f4, &w, &h, &c, &err));
    /* The camera half (below the text band) has sky and road: many distinct colours, and
     * it changes as the car moves. */
    int differ = 0;
    for (int y = st1.view_y; y < h; y++)
        for (int x = 0; x < 240; x++)
            differ += memcmp(f1 + ((size_t)y * w + x) * 3, f4 + ((size_t)y * w + x) * 3, 3) != 0;
    TD_ASSERT_MSG(differ > 100, "camera view unchanged (%d pixels differ)", differ);
    td_free(f1);
    td_free(f4);
    td_free(rows);
    td_track_free(&t);
}

TD_TEST(replay_bad_input_is_an_error)
{
    td_track t;
    td_err err;
    td_replay_options o;
    load_oval(&t);
    td_replay_options_default(&o);
    TD_ASSERT_EQ_INT(td_replay_simtrace(&t, NULL, 0, &o, "/tmp/x", NULL, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "no rows");
    td_simtrace_row *rows = make_rows(&t, 2, 0, 0.1);
    o.width = 100;
    TD_ASSERT_EQ_INT(td_replay_simtrace(&t, rows, 2, &o, "/tmp/x", NULL, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "width");
    td_free(rows);
    td_track_free(&t);
}

TD_TEST(cli_mp4_without_ffmpeg_is_a_clear_error)
{
    td_track t;
    char dir[256], csv[320], cmd[2048], errf[320];
    char *text;
    size_t len;
    td_err err;
    load_oval(&t);
    td_simtrace_row *rows = make_rows(&t, 5, 0, 0.2);
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(csv, "%s/eval-oval-simtrace.csv", dir);
    write_simtrace(csv, rows, 5);
    TD_FMT(errf, "%s/stderr.txt", dir);
    /* A PATH holding no ffmpeg (an empty directory). */
    TD_FMT(cmd, "env PATH='%s' '%s' replay '%s' --track '%s' -o '%s/out.mp4' 2>'%s'", dir,
           TD_TEST_TRACKDAY_BIN, csv, OVAL, dir, errf);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 1);
    TD_ASSERT_OK(td_file_read(errf, &text, &len, &err));
    TD_ASSERT_CONTAINS(text, "ffmpeg");
    TD_ASSERT_CONTAINS(text, "PATH");
    TD_ASSERT_CONTAINS(text, "out.mp4");
    td_free(text);
    char mp4[320];
    TD_FMT(mp4, "%s/out.mp4", dir);
    TD_ASSERT(!td_path_exists(mp4));
    td_free(rows);
    td_track_free(&t);
}

TD_TEST(cli_pipes_raw_frames_to_ffmpeg_and_writes_pngs)
{
    td_track t;
    char dir[256], csv[320], cmd[2048], ff[320], out[320], args[320], frames[320];
    char *text;
    size_t len;
    td_err err;
    const int n = 6;
    load_oval(&t);
    td_simtrace_row *rows = make_rows(&t, n, 0, 0.2);
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(csv, "%s/eval-oval-simtrace.csv", dir);
    write_simtrace(csv, rows, n);
    /* A stand-in ffmpeg: records its arguments and copies stdin to the last argument. */
    TD_FMT(ff, "%s/bin", dir);
    TD_ASSERT_EQ(mkdir(ff, 0755), 0);
    TD_FMT(args, "%s/args.txt", dir);
    TD_FMT(ff, "%s/bin/ffmpeg", dir);
    FILE *f = fopen(ff, "w");
    TD_ASSERT(f != NULL);
    fprintf(f, "#!/bin/sh\necho \"$@\" > '%s'\nfor a; do last=$a; done\ncat > \"$last\"\n", args);
    fclose(f);
    TD_ASSERT_EQ(chmod(ff, 0755), 0);
    TD_FMT(out, "%s/out.mp4", dir);
    TD_FMT(cmd,
           "env PATH='%s/bin':/usr/bin:/bin '%s' replay '%s' --track '%s' -o '%s' --width 480 "
           "--fps 30 >/dev/null",
           dir, TD_TEST_TRACKDAY_BIN, csv, OVAL, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_OK(td_file_read(args, &text, &len, &err));
    TD_ASSERT_CONTAINS(text, "-f rawvideo -pix_fmt rgb24");
    TD_ASSERT_CONTAINS(text, "-r 30");
    TD_ASSERT_CONTAINS(text, "yuv420p");
    int w = 0, h = 0;
    const char *s = strstr(text, "-s ");
    TD_ASSERT(s && sscanf(s, "-s %dx%d", &w, &h) == 2);
    TD_ASSERT_EQ_INT(w, 480);
    td_free(text);
    struct stat sb;
    TD_ASSERT_EQ(stat(out, &sb), 0);
    TD_ASSERT_EQ_INT((long)sb.st_size, (long)n * w * h * 3);

    /* A directory gets PNG frames, one per row. */
    TD_FMT(frames, "%s/frames", dir);
    TD_FMT(cmd, "'%s' replay '%s' --track '%s' -o '%s' --width 480 >/dev/null",
           TD_TEST_TRACKDAY_BIN, csv, OVAL, frames);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_EQ_INT(count_pngs(frames), n);
    td_free(rows);
    td_track_free(&t);
}

/* ffmpeg is started without a shell: an output path full of shell syntax reaches it as one
 * argument, nothing in it runs, and ffmpeg is this process's own child. */
TD_TEST(frame_sink_starts_ffmpeg_without_a_shell)
{
    char dir[256], bin[320], ff[320], args[320], out[512], pwned[320], final[700];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(bin, "%s/bin", dir);
    TD_ASSERT_EQ(mkdir(bin, 0755), 0);
    TD_FMT(args, "%s/args.txt", dir);
    TD_FMT(ff, "%s/ffmpeg", bin);
    FILE *f = fopen(ff, "w");
    TD_ASSERT(f != NULL);
    fprintf(f,
            "#!/bin/sh\necho \"ppid $PPID\" > '%s'\nprintf 'arg %%s\\n' \"$@\" >> '%s'\n"
            "for a; do last=$a; done\ncat > \"$last\"\n",
            args, args);
    fclose(f);
    TD_ASSERT_EQ(chmod(ff, 0755), 0);
    char path[400];
    TD_FMT(path, "%s:/usr/bin:/bin", bin);
    TD_ASSERT_EQ(setenv("PATH", path, 1), 0);
    /* A shell would run the touches in the current directory. */
    TD_ASSERT_EQ(chdir(dir), 0);
    TD_FMT(pwned, "%s/pwned", dir);
    TD_FMT(out, "%s/a b'$(touch pwned)';`touch pwned`.mp4", dir);
    td_frame_sink *s;
    td_err err;
    TD_ASSERT_OK(td_frame_sink_open(&s, out, 4, 2, 15, &err));
    uint8_t rgb[4 * 2 * 3];
    memset(rgb, 7, sizeof(rgb));
    TD_ASSERT_OK(td_frame_sink_write(s, rgb, &err));
    TD_ASSERT_OK(td_frame_sink_write(s, rgb, &err));
    TD_ASSERT_OK(td_frame_sink_close(s, &err));
    struct stat sb;
    TD_ASSERT_EQ(stat(out, &sb), 0);
    TD_ASSERT_EQ_INT((long)sb.st_size, 2L * sizeof(rgb));
    TD_ASSERT(!td_path_exists(pwned));
    char *text;
    size_t len;
    TD_ASSERT_OK(td_file_read(args, &text, &len, &err));
    char want[64];
    TD_FMT(want, "ppid %ld\n", (long)getpid());
    TD_ASSERT_CONTAINS(text, want);
    TD_ASSERT_CONTAINS(text, "arg -i\narg -\n");
    /* The last argument is the temporary beside the output, its name intact. */
    TD_FMT(final, "arg %s/.a b'$(touch pwned)';`touch pwned`.partial-%ld.mp4\n", dir,
           (long)getpid());
    TD_ASSERT_CONTAINS(text, final);
    td_free(text);
}

TD_TEST(cli_finds_the_run_of_a_directory_or_a_report)
{
    td_track t;
    char dir[256], csv[320], cmd[2048], out[320], report[320];
    const int n = 7;
    load_oval(&t);
    td_simtrace_row *rows = make_rows(&t, n, 0, 0.2);
    TD_FMT(dir, "%s", td_test_tmpdir());
    /* No evaluation yet: says what to run. */
    TD_FMT(cmd, "'%s' replay '%s' -o '%s/f0' 2>'%s/err.txt'", TD_TEST_TRACKDAY_BIN, dir, dir, dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 1);
    char *text;
    size_t len;
    td_err err;
    TD_FMT(out, "%s/err.txt", dir);
    TD_ASSERT_OK(td_file_read(out, &text, &len, &err));
    TD_ASSERT_CONTAINS(text, "trackday eval");
    td_free(text);

    TD_FMT(csv, "%s/logs", dir);
    TD_ASSERT_EQ(mkdir(csv, 0755), 0);
    TD_FMT(csv, "%s/logs/eval-oval-simtrace.csv", dir);
    write_simtrace(csv, rows, n);
    /* DIR: its one eval simtrace, the track from the file name. */
    TD_FMT(out, "%s/f1", dir);
    TD_FMT(cmd, "'%s' replay '%s' -o '%s' --width 320 >/dev/null", TD_TEST_TRACKDAY_BIN, dir, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_EQ_INT(count_pngs(out), n);
    /* REPORT.json: the simtrace beside it, the track from the report. */
    TD_FMT(report, "%s/logs/eval-oval.json", dir);
    FILE *f = fopen(report, "w");
    TD_ASSERT(f != NULL);
    fprintf(f, "{\"track\": \"oval\", \"laps_completed\": 0}\n");
    fclose(f);
    TD_FMT(out, "%s/f2", dir);
    TD_FMT(cmd, "'%s' replay '%s' -o '%s' --width 320 >/dev/null", TD_TEST_TRACKDAY_BIN, report,
           out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_EQ_INT(count_pngs(out), n);
    /* Two tracks evaluated: --track chooses. */
    TD_FMT(csv, "%s/logs/eval-kidney-simtrace.csv", dir);
    write_simtrace(csv, rows, 3);
    TD_FMT(cmd, "'%s' replay '%s' -o '%s/f3' 2>'%s/err.txt'", TD_TEST_TRACKDAY_BIN, dir, dir, dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 1);
    TD_FMT(out, "%s/err.txt", dir);
    TD_ASSERT_OK(td_file_read(out, &text, &len, &err));
    TD_ASSERT_CONTAINS(text, "--track");
    td_free(text);
    TD_FMT(out, "%s/f4", dir);
    TD_FMT(cmd, "'%s' replay '%s' --track oval -o '%s' --width 320 >/dev/null",
           TD_TEST_TRACKDAY_BIN, dir, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_EQ_INT(count_pngs(out), n);
    td_free(rows);
    td_track_free(&t);
}

TD_TEST(cli_failing_ffmpeg_is_an_error)
{
    td_track t;
    char dir[256], csv[320], cmd[2048], ff[320], errf[320];
    char *text;
    size_t len;
    td_err err;
    load_oval(&t);
    td_simtrace_row *rows = make_rows(&t, 5, 0, 0.2);
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(csv, "%s/eval-oval-simtrace.csv", dir);
    write_simtrace(csv, rows, 5);
    TD_FMT(ff, "%s/ffmpeg", dir);
    FILE *f = fopen(ff, "w");
    TD_ASSERT(f != NULL);
    fprintf(f, "#!/bin/sh\necho 'Unknown encoder' >&2\nexit 3\n");
    fclose(f);
    TD_ASSERT_EQ(chmod(ff, 0755), 0);
    TD_FMT(errf, "%s/stderr.txt", dir);
    TD_FMT(cmd, "env PATH='%s':/usr/bin:/bin '%s' replay '%s' --track '%s' -o '%s/o.mp4' 2>'%s'",
           dir, TD_TEST_TRACKDAY_BIN, csv, OVAL, dir, errf);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 1);
    TD_ASSERT_OK(td_file_read(errf, &text, &len, &err));
    TD_ASSERT_CONTAINS(text, "ffmpeg");
    TD_ASSERT_CONTAINS(text, "o.mp4");
    td_free(text);
    td_free(rows);
    td_track_free(&t);
}

TD_TEST(cli_episodes_selects_rows)
{
    td_track t;
    char dir[256], csv[320], cmd[2048], out[320];
    const int n = 9;
    load_oval(&t);
    td_simtrace_row *rows = make_rows(&t, n, 0, 0.2);
    for (int i = 0; i < n; i++)
        rows[i].episode = i < 3 ? 0 : (i < 7 ? 1 : 2);
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(csv, "%s/eval-oval-simtrace.csv", dir);
    write_simtrace(csv, rows, n);
    TD_FMT(out, "%s/e1", dir);
    TD_FMT(cmd, "'%s' replay '%s' --episodes 1 -o '%s' --width 320 >/dev/null",
           TD_TEST_TRACKDAY_BIN, csv, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_EQ_INT(count_pngs(out), 4);
    TD_FMT(out, "%s/e12", dir);
    TD_FMT(cmd, "'%s' replay '%s' --episodes 1-2 -o '%s' --width 320 >/dev/null",
           TD_TEST_TRACKDAY_BIN, csv, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT_EQ_INT(count_pngs(out), 6);
    TD_FMT(cmd, "'%s' replay '%s' --episodes 5 -o '%s/e5' 2>/dev/null", TD_TEST_TRACKDAY_BIN, csv,
           dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 1);
    td_free(rows);
    td_track_free(&t);
}

static long count_colour(const char *png, const uint8_t c[3])
{
    uint8_t *img;
    int w, h, ch;
    td_err err;
    long n = 0;
    TD_ASSERT_OK(td_png_read(png, &img, &w, &h, &ch, &err));
    for (long i = 0; i < (long)w * h; i++)
        n += !memcmp(img + 3 * i, c, 3);
    td_free(img);
    return n;
}

TD_TEST(cli_redrive_is_the_eval_run_with_obstacles_drawn)
{
    char dir[256], cmd[2048], out[320], png[400];
    td_simtrace t;
    td_err err;
    uint8_t obst[3];
    TD_FMT(dir, "%s", td_test_tmpdir());
    /* NUMBER_OF_RESETS 0 in the directory's settings: eval and --redrive both read it, and an
     * untrained model's trial ends at its first event instead of driving on with resets. */
    TD_FMT(cmd,
           "cd '%s' && '%s' init m --discrete --fast-actions --track default --sensor state "
           ">/dev/null && echo 'NUMBER_OF_RESETS: 0' >> "
           "m/training_params.yaml && '%s' train m --iterations 2 >/dev/null 2>&1 && "
           "'%s' eval m --laps 1 --track oval >/dev/null; test $? -le 1",
           dir, TD_TEST_TRACKDAY_BIN, TD_TEST_TRACKDAY_BIN, TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    /* Driving again gives the evaluation's run: a frame per simtrace row. */
    TD_FMT(out, "%s/rd", dir);
    TD_FMT(cmd,
           "cd '%s' && '%s' replay m --redrive --laps 1 --track oval -o '%s' --width 320 "
           ">/dev/null",
           dir, TD_TEST_TRACKDAY_BIN, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_FMT(png, "%s/m/logs/eval-oval-simtrace.csv", dir);
    td_simtrace_init(&t);
    TD_ASSERT_OK(td_simtrace_read(&t, png, &err));
    TD_ASSERT_GT(t.n, 0);
    TD_ASSERT_EQ_INT(count_pngs(out), t.n);
    td_simtrace_free(&t);
    td_replay_box_color(TD_BOX_OBSTACLE, obst);
    TD_FMT(png, "%s/frame_00001.png", out);
    TD_ASSERT_EQ_INT((int)count_colour(png, obst), 0);
    /* Object avoidance: the obstacles are in the picture. */
    TD_FMT(out, "%s/oa", dir);
    TD_FMT(cmd,
           "cd '%s' && '%s' replay m --redrive --laps 1 --track oval --race-type "
           "object-avoidance -o '%s' --width 320 >/dev/null",
           dir, TD_TEST_TRACKDAY_BIN, out);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_FMT(png, "%s/frame_00001.png", out);
    TD_ASSERT_GT(count_colour(png, obst), 20);
}
