/*
 * test_drift_cli.c - `trackday drift REF CURRENT` (docs/cli/drift.md): a reference (stats.json,
 * a bundle's tar) against telemetry windows whose light darkens half way: the report names the
 * input feature, the first alert window, the HTML report has the charts; unshifted windows
 * stay ok; simtrace runs of a slower car alert on lap time; mistakes exit 2, failures exit 1,
 * with the message; the examples of docs/cli/drift.md run as written.
 */
#include "td_test.h"
#include "trackday/archive.h"
#include "trackday/drift.h"
#include "trackday/simtrace.h"
#include "trackday/telemetry.h"
#include "telemetry_fixture.h"

static void frames(td_summary *s, td_rng *r, int n, double light, double lap_s)
{
    frames_gain(s, r, n, light, lap_s, 1.0);
}

/* dir/ref.json (reference statistics), dir/ref.tdb (a tar holding it), dir/car7.jsonl (14
 * windows, darker from window 8 on), dir/steady.jsonl (14 unshifted windows) and dir/dim.jsonl
 * (3 windows of a room at 45% of the light: every pixel x 0.45). */
static void write_files(const char *dir)
{
    td_summary_layout l;
    td_summary ev, tr;
    td_err err;
    td_rng r;
    char path[600];
    layout_of(&l);
    td_rng_seed(&r, 7, 7);
    TD_ASSERT_OK(td_summary_init(&ev, &l, &err));
    TD_ASSERT_OK(td_summary_init(&tr, &l, &err));
    frames(&ev, &r, 1800, 120, 10.0);
    frames(&tr, &r, 1200, 120, 10.0);
    json_t *ref = json_object();
    json_object_set_new(ref, "format", json_string("trackday-reference"));
    json_object_set_new(ref, "version", json_integer(1));
    json_object_set_new(ref, "training", td_summary_to_json(&tr));
    json_object_set_new(ref, "evaluation", td_summary_to_json(&ev));
    TD_FMT(path, "%s/ref.json", dir);
    TD_ASSERT_OK(td_json_write_file(path, ref, &err));
    char *text = json_dumps(ref, JSON_COMPACT);
    td_archive a;
    td_archive_init(&a);
    TD_ASSERT_OK(td_archive_add(&a, "reference/stats.json", text, strlen(text), &err));
    uint8_t *tar;
    size_t tlen;
    TD_ASSERT_OK(td_archive_to_tar(&a, &tar, &tlen, &err));
    TD_FMT(path, "%s/ref.tdb", dir);
    TD_ASSERT_OK(td_file_write_atomic(path, tar, tlen, &err));
    td_free(tar);
    td_archive_free(&a);
    free(text);
    json_decref(ref);
    for (int k = 0; k < 2; k++) {
        TD_FMT(path, "%s/%s", dir, k ? "steady.jsonl" : "car7.jsonl");
        FILE *f = fopen(path, "w");
        TD_ASSERT(f != NULL);
        for (int w = 0; w < 14; w++) {
            td_telemetry t;
            TD_ASSERT_OK(td_telemetry_begin(&t, &l, "car-7", "829bd8998ede81fd87cc6b0c9c165461",
                                            1796582615000 + w * 60000LL, &err));
            t.seq = (uint64_t)w;
            frames(&t.summary, &r, 900, k == 0 && w >= 8 ? 70 : 120, 10.0);
            td_telemetry_end(&t, 1796582615000 + (w + 1) * 60000LL);
            char *s = td_telemetry_dumps(&t);
            fprintf(f, "%s\n", s);
            td_free(s);
            td_telemetry_free(&t);
        }
        fclose(f);
    }
    td_rng_seed(&r, 8, 8);
    TD_FMT(path, "%s/dim.jsonl", dir);
    FILE *f = fopen(path, "w");
    TD_ASSERT(f != NULL);
    for (int w = 0; w < 3; w++) {
        td_telemetry t;
        TD_ASSERT_OK(td_telemetry_begin(&t, &l, "car-7", "829bd8998ede81fd87cc6b0c9c165461",
                                        1796582615000 + w * 60000LL, &err));
        t.seq = (uint64_t)w;
        frames_gain(&t.summary, &r, 900, 120, 10.0, 0.45);
        td_telemetry_end(&t, 1796582615000 + (w + 1) * 60000LL);
        char *s = td_telemetry_dumps(&t);
        fprintf(f, "%s\n", s);
        td_free(s);
        td_telemetry_free(&t);
    }
    fclose(f);
    td_summary_free(&ev);
    td_summary_free(&tr);
}

static int run(const char *args, char **out, char **err)
{
    char cmd[4096];
    TD_FMT(cmd, "cd %s && %s %s", td_test_tmpdir(), TD_TEST_TRACKDAY_BIN, args);
    return td_test_run(cmd, out, err);
}

TD_TEST(telemetry_darkening_alerts_on_input_drift_with_the_window)
{
    write_files(td_test_tmpdir());
    char *out, *err;
    int st = run("drift ref.json car7.jsonl --html car7.html", &out, &err);
    TD_ASSERT_MSG(st == 0, "exit %d: %s", st, err);
    TD_ASSERT_CONTAINS(out, "car7.jsonl: telemetry, 14 windows, device car-7");
    TD_ASSERT_CONTAINS(out, "input_drift    alert");
    TD_ASSERT_CONTAINS(out, "camera.");
    /* The light darkens at window 8; with two windows to rise, the alert is at window 9. */
    TD_ASSERT_CONTAINS(out, "first alert: input_drift at window 9");
    TD_ASSERT_NOT_CONTAINS(out, "first alert: lap_time");
    TD_ASSERT_CONTAINS(out, "overall    alert");
    TD_ASSERT_CONTAINS(out, "report     car7.html");
    char path[600];
    TD_FMT(path, "%s/car7.html", td_test_tmpdir());
    char *html = td_test_slurp(path);
    TD_ASSERT(html != NULL);
    TD_ASSERT_CONTAINS(html, "<title>Drift report: car-7</title>");
    TD_ASSERT_CONTAINS(html, "camera.brightness");
    TD_ASSERT_CONTAINS(html, "input_drift per window");
    TD_ASSERT_CONTAINS(html, "first alert");
    TD_ASSERT_CONTAINS(html, "Lap times");
    TD_ASSERT_NOT_CONTAINS(html, "<script");
    int open = 0, close = 0;
    for (const char *p = html; (p = strstr(p, "<svg")); p++)
        open++;
    for (const char *p = html; (p = strstr(p, "</svg>")); p++)
        close++;
    TD_ASSERT_EQ(open, close);
    TD_ASSERT_GT(open, 20);
    td_free(html);
    td_free(out);
    td_free(err);
    /* --json: the same verdict, machine-readable. */
    st = run("drift ref.json car7.jsonl --json", &out, &err);
    TD_ASSERT_EQ(st, 0);
    json_t *j = NULL;
    td_err e;
    TD_ASSERT_OK(td_json_parse(out, strlen(out), "drift --json", &j, &e));
    TD_ASSERT_STREQ(json_string_value(json_object_get(
                        json_object_get(json_object_get(j, "checks"), "input_drift"), "level")),
                    "alert");
    TD_ASSERT_EQ(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(j, "timeline"), "first_alert_window"), "input_drift")),
        9);
    TD_ASSERT_EQ((int)json_array_size(json_object_get(json_object_get(j, "timeline"), "windows")),
                 14);
    json_decref(j);
    td_free(out);
    td_free(err);
    /* --fail-on alert: exit 1 with the reason. */
    st = run("drift ref.json car7.jsonl --fail-on alert", &out, &err);
    TD_ASSERT_EQ(st, 1);
    TD_ASSERT_CONTAINS(err, "drift: alert (--fail-on alert)");
    td_free(out);
    td_free(err);
}

TD_TEST(unshifted_windows_stay_ok_and_bundles_are_read)
{
    write_files(td_test_tmpdir());
    char *out, *err;
    int st = run("drift ref.tdb steady.jsonl --fail-on alert", &out, &err);
    TD_ASSERT_MSG(st == 0, "exit %d: %s%s", st, out, err);
    TD_ASSERT_CONTAINS(out, "ref.tdb: evaluation reference");
    TD_ASSERT_CONTAINS(out, "input_drift    ok");
    TD_ASSERT_NOT_CONTAINS(out, "first alert");
    TD_ASSERT_NOT_CONTAINS(out, "ALERT");
    td_free(out);
    td_free(err);
    /* --reference both merges training and evaluation: more reference frames. */
    st = run("drift ref.tdb steady.jsonl --reference both", &out, &err);
    TD_ASSERT_EQ(st, 0);
    TD_ASSERT_CONTAINS(out, "frames     3000 reference, 12600 current");
    td_free(out);
    td_free(err);
}

/* A simtrace of `laps` laps of a car going `speed` m/s around a 20 m circle. */
static void write_simtrace(const char *path, int laps, double speed, uint64_t seed)
{
    td_simtrace_writer *w;
    td_err err;
    td_rng r;
    td_rng_seed(&r, seed, 1);
    TD_ASSERT_OK(td_simtrace_writer_open(&w, path, &err));
    double t = 0, R = 20 / (2 * M_PI);
    for (int e = 0; e < laps; e++) {
        double v = speed * (1 + 0.01 * td_rng_normal(&r));
        int steps = (int)(20 / v * 15);
        for (int s = 0; s <= steps; s++) {
            td_simtrace_row row;
            memset(&row, 0, sizeof(row));
            double ang = 2 * M_PI * s / steps;
            row.episode = e;
            row.steps = s + 1;
            row.x = R * cos(ang);
            row.y = R * sin(ang);
            row.steer_deg = 10 + 3 * td_rng_normal(&r);
            row.throttle = v;
            row.action = -1;
            row.reward = 1 + 0.1 * td_rng_normal(&r);
            row.all_wheels_on_track = 1;
            row.progress = 100.0 * s / steps;
            row.track_len = 20;
            row.tstamp = t;
            row.iteration = -1;
            row.done = s == steps;
            snprintf(row.episode_status, sizeof(row.episode_status), "%s",
                     s == 0       ? "prepare"
                     : s == steps ? "lap_complete"
                                  : "in_progress");
            TD_ASSERT_OK(td_simtrace_writer_write(w, &row, &err));
            t += 1.0 / 15;
        }
    }
    TD_ASSERT_OK(td_simtrace_writer_close(w, &err));
}

TD_TEST(a_slower_car_in_simtraces_alerts_on_lap_time)
{
    char a[600], b[600];
    TD_FMT(a, "%s/ref.csv", td_test_tmpdir());
    TD_FMT(b, "%s/slow.csv", td_test_tmpdir());
    write_simtrace(a, 8, 2.0, 1);
    write_simtrace(b, 8, 1.6, 2);
    char *out, *err;
    int st = run("drift ref.csv slow.csv", &out, &err);
    TD_ASSERT_MSG(st == 0, "exit %d: %s", st, err);
    TD_ASSERT_CONTAINS(out, "lap_time       alert");
    TD_ASSERT_CONTAINS(out, "laps       8 current, mean 12.");
    TD_ASSERT_CONTAINS(out, "(reference mean 10.");
    TD_ASSERT_CONTAINS(out, "action.speed");
    TD_ASSERT_CONTAINS(out, "driving.speed");
    TD_ASSERT_CONTAINS(out, "input_drift    no data");
    td_free(out);
    td_free(err);
    /* The same runs against themselves: ok. */
    st = run("drift ref.csv ref.csv --fail-on warning", &out, &err);
    TD_ASSERT_MSG(st == 0, "exit %d: %s %s", st, out, err);
    TD_ASSERT_CONTAINS(out, "overall    ok");
    td_free(out);
    td_free(err);
}

TD_TEST(mistakes_and_failures_exit_with_a_message)
{
    write_files(td_test_tmpdir());
    char a[600];
    TD_FMT(a, "%s/ref.csv", td_test_tmpdir());
    write_simtrace(a, 2, 2.0, 1);
    char *out, *err;
    int st = run("drift ref.json ref.csv", &out, &err);
    TD_ASSERT_EQ(st, 1);
    TD_ASSERT_CONTAINS(err, "compare simtraces with simtraces");
    td_free(out);
    td_free(err);
    st = run("drift ref.json nothing.jsonl", &out, &err);
    TD_ASSERT_EQ(st, 1);
    TD_ASSERT_CONTAINS(err, "drift: nothing.jsonl: no such file or folder");
    td_free(out);
    td_free(err);
    st = run("drift ref.json car7.jsonl --reference best", &out, &err);
    TD_ASSERT_EQ(st, 2);
    TD_ASSERT_CONTAINS(err, "--reference");
    td_free(out);
    td_free(err);
    st = run("drift ref.json", &out, &err);
    TD_ASSERT_EQ(st, 2);
    TD_ASSERT_CONTAINS(err, "CURRENT");
    td_free(out);
    td_free(err);
    td_test_write(a, "{\"format\": \"trackday-telemetry\", \"version\": 1}\n");
    st = run("drift ref.json ref.csv", &out, &err);
    TD_ASSERT_EQ(st, 1);
    td_free(out);
    td_free(err);
    char bad[600];
    TD_FMT(bad, "%s/bad.jsonl", td_test_tmpdir());
    td_test_write(bad, "{\"format\": \"trackday-telemetry\", \"version\": 1, \"start_ms\": 0, "
                       "\"end_ms\": 1}\n");
    st = run("drift ref.json bad.jsonl", &out, &err);
    TD_ASSERT_EQ(st, 1);
    TD_ASSERT_CONTAINS(err, "bad.jsonl:1: telemetry: no \"summary\" object");
    td_free(out);
    td_free(err);
}

/* The examples of docs/cli/drift.md: each "$ trackday drift ..." line runs (on the files this
 * test writes under the names the page uses) and exits 0, and each output line the page shows
 * that has no number in it appears in the real output. */
TD_TEST(the_documented_examples_run)
{
    write_files(td_test_tmpdir());
    char path[600];
    TD_FMT(path, "%s/docs/cli/drift.md", TD_TEST_SOURCE_DIR);
    char *doc = td_test_slurp(path);
    TD_ASSERT(doc != NULL);
    int ran = 0;
    char *p = doc;
    while ((p = strstr(p, "\n$ trackday drift "))) {
        p += 3;
        char *eol = strchr(p, '\n');
        TD_ASSERT(eol != NULL);
        char args[1024];
        snprintf(args, sizeof(args), "%.*s", (int)(eol - p - 9), p + 9);
        char *out, *err;
        int st = run(args, &out, &err);
        TD_ASSERT_MSG(st == 0, "'%s' exited %d: %s", args, st, err);
        /* The shown output: lines up to the next "$ " or the end of the block. */
        char *q = eol + 1;
        while (*q && strncmp(q, "$ ", 2) && strncmp(q, "```", 3)) {
            char *qe = strchr(q, '\n');
            if (!qe)
                break;
            char line[512];
            snprintf(line, sizeof(line), "%.*s", (int)(qe - q), q);
            if (!strpbrk(line, "0123456789") && line[0] && strcmp(line, "..."))
                TD_ASSERT_MSG(strstr(out, line) != NULL, "'%s' does not print '%s'", args, line);
            q = qe + 1;
        }
        ran++;
        td_free(out);
        td_free(err);
        p = eol;
    }
    TD_ASSERT_GE(ran, 2);
    td_free(doc);
}
