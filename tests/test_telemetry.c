/*
 * test_telemetry.c - telemetry windows (telemetry.h, docs/telemetry.md): JSON round trip
 * bit for bit, exact merging across windows and devices (equal to one summary of all the
 * frames), refusal of windows of another model, hostile documents refused with a message
 * naming the field, and telemetry files (JSON lines, arrays) read with errors naming the line.
 */
#include "td_test.h"
#include "trackday/telemetry.h"

static void layout_of(td_summary_layout *l)
{
    memset(l, 0, sizeof(*l));
    l->camera_h = 24;
    l->camera_w = 32;
    l->camera_c = 3;
    l->lidar_dim = 16;
    l->n_actions = 5;
}

/* Frame i of a reproducible stream: a gradient whose brightness drifts with i. */
static void frame(int i, uint8_t *px, float *lidar, float *logits)
{
    td_rng r;
    td_rng_seed(&r, 1234, (uint64_t)i);
    for (int k = 0; k < 24 * 32 * 3; k++)
        px[k] = (uint8_t)((k * 7 + i * 3 + (int)(td_rng_uniform(&r) * 40)) & 255);
    for (int k = 0; k < 16; k++)
        lidar[k] = (float)td_rng_uniform(&r);
    for (int k = 0; k < 5; k++)
        logits[k] = (float)(td_rng_uniform(&r) * 4 - 2);
}

static void add_frames(td_telemetry *w, int from, int to)
{
    uint8_t px[24 * 32 * 3];
    float lidar[16], logits[5];
    for (int i = from; i < to; i++) {
        frame(i, px, lidar, logits);
        td_infer_obs obs = {px, lidar, NULL};
        td_summary_add(&w->summary, &obs, logits, 0.25 + (i % 13) * 0.1);
        if (i % 50 == 49)
            td_summary_add_lap(&w->summary, 10.0 + i * 0.01);
        if (i % 70 == 0)
            w->summary.outcomes.off_tracks++;
    }
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Equal counts; lap times equal in order, or as sets when any_order. */
static void assert_same(const td_summary *a, const td_summary *b, int any_order)
{
    TD_ASSERT_EQ(a->n_hist, b->n_hist);
    TD_ASSERT_EQ_U64(a->frames, b->frames);
    for (int i = 0; i < a->n_hist; i++) {
        const td_hist *x = &a->hist[i], *y = &b->hist[i];
        TD_ASSERT_STREQ(x->name, y->name);
        for (int k = 0; k < x->n; k++)
            TD_ASSERT_EQ_U64(x->counts[k], y->counts[k]);
        TD_ASSERT_EQ_U64(x->under, y->under);
        TD_ASSERT_EQ_U64(x->over, y->over);
        TD_ASSERT_EQ_U64(x->total, y->total);
        TD_ASSERT(x->min == y->min && x->max == y->max);
    }
    TD_ASSERT_EQ(a->outcomes.n_laps, b->outcomes.n_laps);
    double la[TD_SUMMARY_MAX_LAPS], lb[TD_SUMMARY_MAX_LAPS];
    memcpy(la, a->outcomes.lap_times_s, sizeof(la));
    memcpy(lb, b->outcomes.lap_times_s, sizeof(lb));
    if (any_order) {
        qsort(la, (size_t)a->outcomes.n_laps, sizeof(double), cmp_double);
        qsort(lb, (size_t)b->outcomes.n_laps, sizeof(double), cmp_double);
    }
    for (int i = 0; i < a->outcomes.n_laps; i++)
        TD_ASSERT(la[i] == lb[i]);
    TD_ASSERT_EQ(a->outcomes.off_tracks, b->outcomes.off_tracks);
}

TD_TEST(json_round_trip_is_bit_exact)
{
    td_summary_layout l;
    td_telemetry w, r;
    td_err err;
    layout_of(&l);
    TD_ASSERT_OK(td_telemetry_begin(&w, &l, "car-7", "829bd8998ede81fd87cc6b0c9c165461",
                                    1796582615000, &err));
    snprintf(w.deployment, sizeof(w.deployment), "dep-3");
    snprintf(w.bundle_sha256, sizeof(w.bundle_sha256), "%s",
             "5cdfabbfce70d59b73daf44422cc9d95644709602ef66142c2c798fe1c60dd58");
    w.seq = 41;
    add_frames(&w, 0, 300);
    td_telemetry_end(&w, 1796582675000);
    char *text = td_telemetry_dumps(&w);
    TD_ASSERT(text != NULL);
    TD_ASSERT_CONTAINS(text, "\"format\":\"trackday-telemetry\"");
    TD_ASSERT_OK(td_telemetry_loads(&r, text, strlen(text), &err));
    TD_ASSERT_STREQ(r.device, "car-7");
    TD_ASSERT_STREQ(r.deployment, "dep-3");
    TD_ASSERT_STREQ(r.bundle_id, "829bd8998ede81fd87cc6b0c9c165461");
    TD_ASSERT_STREQ(r.bundle_sha256,
                    "5cdfabbfce70d59b73daf44422cc9d95644709602ef66142c2c798fe1c60dd58");
    TD_ASSERT_EQ_U64(r.seq, 41);
    TD_ASSERT_EQ(r.start_ms, 1796582615000);
    TD_ASSERT_EQ(r.end_ms, 1796582675000);
    TD_ASSERT_EQ_U64(r.windows, 1);
    assert_same(&w.summary, &r.summary, 0);
    /* The moments survive as the same doubles (17 significant digits). */
    for (int i = 0; i < w.summary.n_hist; i++) {
        TD_ASSERT(w.summary.hist[i].sum == r.summary.hist[i].sum);
        TD_ASSERT(w.summary.hist[i].sum_sq == r.summary.hist[i].sum_sq);
    }
    TD_ASSERT_EQ_U64(td_summary_find(&r.summary, "camera.brightness")->total, 300);
    TD_ASSERT_EQ_U64(td_summary_find(&r.summary, "latency_ms")->total, 300);
    TD_ASSERT_EQ_U64(td_summary_find(&r.summary, "lidar.sector.3")->total, 300 * 2);
    TD_ASSERT_EQ(r.summary.outcomes.n_laps, 6);
    TD_ASSERT_EQ(r.summary.outcomes.off_tracks, 5);
    td_free(text);
    td_telemetry_free(&w);
    td_telemetry_free(&r);
}

TD_TEST(merge_across_windows_and_devices_is_exact)
{
    td_summary_layout l;
    td_telemetry all, a, b, c, m;
    td_err err;
    layout_of(&l);
    TD_ASSERT_OK(td_telemetry_begin(&all, &l, "car-1", "b1", 0, &err));
    add_frames(&all, 0, 450);
    TD_ASSERT_OK(td_telemetry_begin(&a, &l, "car-1", "b1", 60000, &err));
    add_frames(&a, 0, 100);
    td_telemetry_end(&a, 120000);
    TD_ASSERT_OK(td_telemetry_begin(&b, &l, "car-1", "b1", 120000, &err));
    add_frames(&b, 100, 300);
    td_telemetry_end(&b, 180000);
    TD_ASSERT_OK(td_telemetry_begin(&c, &l, "car-2", "b1", 30000, &err));
    add_frames(&c, 300, 450);
    td_telemetry_end(&c, 90000);
    /* Merge through JSON, as the hub does with what devices post. */
    TD_ASSERT_OK(td_telemetry_copy(&m, &a, &err));
    char *tb = td_telemetry_dumps(&b), *tc = td_telemetry_dumps(&c);
    td_telemetry rb, rc;
    TD_ASSERT_OK(td_telemetry_loads(&rb, tb, strlen(tb), &err));
    TD_ASSERT_OK(td_telemetry_loads(&rc, tc, strlen(tc), &err));
    TD_ASSERT_OK(td_telemetry_merge(&m, &rb, &err));
    TD_ASSERT_STREQ(m.device, "car-1"); /* same device so far */
    TD_ASSERT_OK(td_telemetry_merge(&m, &rc, &err));
    assert_same(&all.summary, &m.summary, 0);
    for (int i = 0; i < m.summary.n_hist; i++)
        TD_ASSERT_NEAR(m.summary.hist[i].sum, all.summary.hist[i].sum,
                       1e-12 * (1 + fabs(all.summary.hist[i].sum)));
    TD_ASSERT_STREQ(m.device, TD_TELEMETRY_MIXED);
    TD_ASSERT_STREQ(m.bundle_id, "b1");
    TD_ASSERT_EQ(m.start_ms, 30000);
    TD_ASSERT_EQ(m.end_ms, 180000);
    TD_ASSERT_EQ_U64(m.windows, 3);
    /* Merging in another order gives the same counts (a commutative, associative merge); lap
     * times are kept in merge order. */
    td_telemetry m2;
    TD_ASSERT_OK(td_telemetry_copy(&m2, &rc, &err));
    TD_ASSERT_OK(td_telemetry_merge(&m2, &a, &err));
    TD_ASSERT_OK(td_telemetry_merge(&m2, &rb, &err));
    assert_same(&m.summary, &m2.summary, 1);
    td_free(tb);
    td_free(tc);
    td_telemetry_free(&all);
    td_telemetry_free(&a);
    td_telemetry_free(&b);
    td_telemetry_free(&c);
    td_telemetry_free(&rb);
    td_telemetry_free(&rc);
    td_telemetry_free(&m);
    td_telemetry_free(&m2);
}

TD_TEST(windows_of_another_model_do_not_merge)
{
    td_summary_layout l, l2;
    td_telemetry a, b;
    td_err err;
    layout_of(&l);
    l2 = l;
    l2.n_actions = 7;
    TD_ASSERT_OK(td_telemetry_begin(&a, &l, "car-1", NULL, 0, &err));
    TD_ASSERT_OK(td_telemetry_begin(&b, &l2, "car-1", NULL, 0, &err));
    add_frames(&a, 0, 10);
    TD_ASSERT_ERR(td_telemetry_merge(&a, &b, &err), TD_EINVAL, &err, "different models");
    TD_ASSERT_EQ_U64(a.summary.frames, 10);
    TD_ASSERT_EQ_U64(a.windows, 1);
    td_telemetry_free(&b);
    TD_ASSERT_ERR(td_telemetry_begin(&b, &l, "car 1", NULL, 0, &err), TD_EINVAL, &err,
                  "device must be 1-63 characters");
    td_telemetry_free(&a);
    td_telemetry_free(&b);
}

/* Replaces the first occurrence of from in text with to. */
static char *edit(const char *text, const char *from, const char *to)
{
    const char *p = strstr(text, from);
    TD_ASSERT_MSG(p != NULL, "'%s' not in the document", from);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = td_malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
    return out;
}

TD_TEST(hostile_windows_are_refused_with_a_message)
{
    td_summary_layout l;
    td_telemetry w, r;
    td_err err;
    layout_of(&l);
    TD_ASSERT_OK(td_telemetry_begin(&w, &l, "car-7", "b1", 1000, &err));
    add_frames(&w, 0, 20);
    td_telemetry_end(&w, 2000);
    char *text = td_telemetry_dumps(&w);
    static const struct {
        const char *from, *to, *msg;
    } cases[] = {
        {"\"format\":\"trackday-telemetry\"", "\"format\":\"x\"", "\"format\" must be"},
        {"\"version\":1", "\"version\":2", "version 2 is not supported"},
        {"\"device\":\"car-7\"", "\"device\":\"../etc\"", "device must be"},
        {"\"device\":\"car-7\"", "\"device\":7", "\"device\" must be a string"},
        {"\"end_ms\":2000", "\"end_ms\":999", "is before \"start_ms\""},
        {"\"start_ms\":1000", "\"start_ms\":-5", "\"start_ms\" must be an integer >= 0"},
        {"\"seq\":0", "\"seq\":0,\"evil\":1", "unknown key \"evil\""},
        {"\"seq\":0", "\"seq\":0,\"bundle_sha256\":\"ABC\"", "\"bundle_sha256\" must be 64"},
        {"\"windows\":1", "\"windows\":0", "\"windows\" must be an integer >= 1"},
        {"\"frames\":20", "\"frames\":-1", "\"frames\" must be a non-negative integer"},
        {"\"total\":20", "\"total\":21", "counts add up to 20, total says 21"},
        {"\"n_actions\":5", "\"n_actions\":6", "not as this layout defines it"},
        {"\"summary\":{", "\"summary\":[{", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *bad = edit(text, cases[i].from, cases[i].to);
        int rc = td_telemetry_loads(&r, bad, strlen(bad), &err);
        TD_ASSERT_MSG(rc != 0, "case %zu accepted: %s", i, cases[i].to);
        TD_ASSERT_MSG(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].msg);
        td_telemetry_free(&r);
        td_free(bad);
    }
    /* Too large: refused before parsing. */
    TD_ASSERT_ERR(td_telemetry_loads(&r, text, TD_TELEMETRY_MAX_BYTES + 1, &err), TD_ERANGE, &err,
                  "more than the");
    td_free(text);
    td_telemetry_free(&w);
}

static int count_each(const td_telemetry *w, void *ctx)
{
    int *n = ctx;
    (*n)++;
    return w->summary.frames == 5 ? 0 : -1;
}

TD_TEST(telemetry_files_of_lines_and_arrays)
{
    td_summary_layout l;
    td_telemetry w, m;
    td_err err;
    layout_of(&l);
    char path[512], text[1 << 17];
    size_t off = 0;
    for (int k = 0; k < 3; k++) {
        TD_ASSERT_OK(td_telemetry_begin(&w, &l, k == 2 ? "car-2" : "car-1", "b1", k * 60000, &err));
        add_frames(&w, k * 5, k * 5 + 5);
        td_telemetry_end(&w, k * 60000 + 60000);
        char *t = td_telemetry_dumps(&w);
        off += (size_t)snprintf(text + off, sizeof(text) - off, "%s\n", t);
        td_free(t);
        td_telemetry_free(&w);
    }
    TD_FMT(path, "%s/w.jsonl", td_test_tmpdir());
    td_test_write(path, text);
    int n = 0;
    TD_ASSERT_OK(td_telemetry_read_file(path, &m, count_each, &n, &err));
    TD_ASSERT_EQ(n, 3);
    TD_ASSERT_EQ_U64(m.summary.frames, 15);
    TD_ASSERT_EQ_U64(m.windows, 3);
    TD_ASSERT_EQ(m.end_ms, 180000);
    TD_ASSERT_STREQ(m.device, "*");
    td_telemetry_free(&m);
    /* The same windows as a JSON array. */
    char arr[(1 << 17) + 8];
    size_t a = 0;
    arr[a++] = '[';
    for (size_t i = 0; i < off; i++)
        arr[a++] = text[i] == '\n' && i + 1 < off ? ',' : text[i];
    arr[a++] = ']';
    arr[a] = 0;
    TD_FMT(path, "%s/w.json", td_test_tmpdir());
    td_test_write(path, arr);
    TD_ASSERT_OK(td_telemetry_read_file(path, &m, NULL, NULL, &err));
    TD_ASSERT_EQ_U64(m.summary.frames, 15);
    td_telemetry_free(&m);
    /* A bad second line: the error names the file and line 2. */
    char *nl = strchr(text, '\n');
    char *bad = edit(nl + 1, "\"windows\":1", "\"windows\":\"x\"");
    static char bad2[1 << 18];
    snprintf(bad2, sizeof(bad2), "%.*s%s", (int)(nl + 1 - text), text, bad);
    TD_FMT(path, "%s/bad.jsonl", td_test_tmpdir());
    td_test_write(path, bad2);
    TD_ASSERT_ERR(td_telemetry_read_file(path, &m, NULL, NULL, &err), TD_EFORMAT, &err,
                  "bad.jsonl:2: telemetry: \"windows\" must be");
    /* Windows of two models in one file do not merge. */
    td_summary_layout l2 = l;
    l2.lidar_dim = 0;
    TD_ASSERT_OK(td_telemetry_begin(&w, &l2, "car-1", "b1", 0, &err));
    char *t = td_telemetry_dumps(&w);
    snprintf(bad2, sizeof(bad2), "%s%s\n", text, t);
    td_test_write(path, bad2);
    TD_ASSERT_ERR(td_telemetry_read_file(path, &m, NULL, NULL, &err), TD_EINVAL, &err,
                  "bad.jsonl:4: summary: the two summaries are of different models");
    td_test_write(path, "\n\n");
    TD_ASSERT_ERR(td_telemetry_read_file(path, &m, NULL, NULL, &err), TD_EFORMAT, &err,
                  "no telemetry windows");
    td_free(t);
    td_free(bad);
    td_telemetry_free(&w);
}
