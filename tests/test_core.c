/*
 * test_core.c - errors, allocation counting and failure injection, RNG streams, files,
 * checksums and JSON helpers.
 */
#include <math.h>
#include <string.h>

#include "td_test.h"
#include "trackday/json.h"

TD_TEST(strerror_covers_every_code)
{
    TD_ASSERT_STREQ(td_strerror(TD_OK), "success");
    TD_ASSERT_STREQ(td_strerror(TD_EFORMAT), "malformed input");
    TD_ASSERT_STREQ(td_err_name(TD_ECHECKSUM), "TD_ECHECKSUM");
    TD_ASSERT_STREQ(td_strerror(-9999), "unknown error");
    for (int c = -1; c >= TD_EINTERNAL; c--)
        TD_ASSERT_NE(strcmp(td_strerror(c), "unknown error"), 0);
}

TD_TEST(err_set_and_prefix)
{
    td_err e;
    TD_ASSERT_EQ_INT(td_err_set(&e, TD_ERANGE, "key %s is %d", "lr", 5), TD_ERANGE);
    TD_ASSERT_EQ_INT(e.code, TD_ERANGE);
    TD_ASSERT_EQ_INT(td_err_prefix(&e, TD_ERANGE, "%s: ", "hp.json"), TD_ERANGE);
    TD_ASSERT_STREQ(e.msg, "hp.json: key lr is 5");
    TD_ASSERT_EQ_INT(td_err_set(NULL, TD_EIO, "ignored"), TD_EIO);
    /* The code passes through whether or not there is a message buffer (it used to become
     * TD_EINVAL without one). */
    TD_ASSERT_EQ_INT(td_err_prefix(NULL, TD_ERANGE, "%s: ", "hp.json"), TD_ERANGE);
    /* A prefix that leaves no room keeps the prefix and cuts the old message. */
    char longkey[TD_ERR_MSG_LEN + 10];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    td_err_set(&e, TD_EFORMAT, "tail");
    TD_ASSERT_EQ_INT(td_err_prefix(&e, TD_EFORMAT, "%s", longkey), TD_EFORMAT);
    TD_ASSERT_EQ_INT(strlen(e.msg), TD_ERR_MSG_LEN - 1);
    TD_ASSERT_EQ_INT(e.msg[0], 'k');
}

TD_TEST(alloc_counts_and_injects)
{
    long live = td_alloc_live();
    void *a = td_malloc(10), *b = td_calloc(3, 4), *c = td_malloc_aligned(64, 100);
    TD_ASSERT(a && b && c);
    TD_ASSERT_EQ_INT(((uintptr_t)c) % 64, 0);
    TD_ASSERT_EQ_INT(td_alloc_live(), live + 3);
    td_alloc_fail_after(1);
    void *d = td_malloc(1);
    void *e = td_malloc(1);
    TD_ASSERT(d != NULL);
    TD_ASSERT(e == NULL);
    void *f = td_malloc(1);
    TD_ASSERT(f != NULL);
    td_alloc_fail_after(-1);
    td_free(a);
    td_free(b);
    td_free(c);
    td_free(d);
    td_free(f);
    TD_ASSERT_EQ_INT(td_alloc_live(), live);
}

TD_TEST(rng_streams_are_reproducible_and_distinct)
{
    td_rng a, b, c;
    td_rng_seed(&a, 42, 7);
    td_rng_seed(&b, 42, 7);
    td_rng_seed(&c, 42, 8);
    int same = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = td_rng_u32(&a), y = td_rng_u32(&b), z = td_rng_u32(&c);
        TD_ASSERT_EQ_INT(x, y);
        same += (x == z);
    }
    TD_ASSERT_LT(same, 5);
}

TD_TEST(rng_pcg32_reference_values)
{
    /* pcg32_srandom(42, 54) reference output from the PCG paper's demo program. */
    td_rng r;
    td_rng_seed(&r, 42, 54);
    TD_ASSERT_EQ_INT(td_rng_u32(&r), 0xa15c02b7u);
    TD_ASSERT_EQ_INT(td_rng_u32(&r), 0x7b47f409u);
    TD_ASSERT_EQ_INT(td_rng_u32(&r), 0xba1d3330u);
}

TD_TEST(rng_distributions)
{
    td_rng r;
    double sum = 0, sum2 = 0, usum = 0;
    int n = 200000, counts[5] = {0};
    td_rng_seed(&r, 1, 1);
    for (int i = 0; i < n; i++) {
        double x = td_rng_normal(&r);
        double u = td_rng_uniform(&r);
        TD_ASSERT(u >= 0.0 && u < 1.0);
        sum += x;
        sum2 += x * x;
        usum += u;
        counts[td_rng_below(&r, 5)]++;
    }
    TD_ASSERT_NEAR(sum / n, 0.0, 0.01);
    TD_ASSERT_NEAR(sum2 / n, 1.0, 0.02);
    TD_ASSERT_NEAR(usum / n, 0.5, 0.005);
    for (int k = 0; k < 5; k++)
        TD_ASSERT_NEAR(counts[k] / (double)n, 0.2, 0.01);
}

TD_TEST(file_atomic_write_and_read)
{
    char dir[] = "/tmp/td_core_XXXXXX";
    char path[256];
    char *data;
    size_t len;
    td_err err;
    TD_ASSERT(mkdtemp(dir) != NULL);
    TD_FMT(path, "%s/a/b/file.txt", dir);
    TD_ASSERT_EQ_INT(td_file_read(path, &data, &len, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "file.txt");
    char sub[256];
    TD_FMT(sub, "%s/a/b", dir);
    TD_ASSERT_OK(td_mkdir_p(sub, &err));
    TD_ASSERT_OK(td_file_write_atomic(path, "hello", 5, &err));
    TD_ASSERT_OK(td_file_write_atomic(path, "world!", 6, &err));
    TD_ASSERT_OK(td_file_read(path, &data, &len, &err));
    TD_ASSERT_EQ_INT(len, 6);
    TD_ASSERT_STREQ(data, "world!");
    td_free(data);
}

/* A writer killed between creating its temporary file and the rename leaves the temporary
 * behind; the next atomic write of the same file removes it (issue 10: temp files removed),
 * and leaves alone the temporary of a writer that is still running. */
TD_TEST(file_atomic_write_removes_stale_temporaries)
{
    char dir[] = "/tmp/td_core_XXXXXX";
    char path[256], stale[300], live[300], other[300];
    td_err err;
    TD_ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/last.tdm", dir);
    pid_t dead = fork();
    TD_ASSERT(dead >= 0);
    if (dead == 0)
        _exit(0);
    TD_ASSERT_EQ_INT(waitpid(dead, NULL, 0), dead);
    snprintf(stale, sizeof(stale), "%s.tmp.%ld", path, (long)dead);
    snprintf(live, sizeof(live), "%s.tmp.%ld", path, (long)getppid());
    snprintf(other, sizeof(other), "%s/best.tdm.tmp.%ld", dir, (long)dead);
    TD_ASSERT_OK(td_file_write_atomic(stale, "half", 4, &err));
    TD_ASSERT_OK(td_file_write_atomic(live, "half", 4, &err));
    TD_ASSERT_OK(td_file_write_atomic(other, "half", 4, &err));
    TD_ASSERT_OK(td_file_write_atomic(path, "whole", 5, &err));
    TD_ASSERT(!td_path_exists(stale));
    TD_ASSERT(td_path_exists(live));
    TD_ASSERT(td_path_exists(other)); /* another file's temporary: its own writer cleans it */
    TD_ASSERT(td_path_exists(path));
    /* Errors name the file asked for, not the temporary. */
    TD_ASSERT(td_file_write_atomic("/nonexistent/dir/x.json", "x", 1, &err) < 0);
    TD_ASSERT_CONTAINS(err.msg, "/nonexistent/dir/x.json: cannot create");
    TD_ASSERT(strstr(err.msg, ".tmp.") == NULL);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    TD_ASSERT_EQ_INT(system(cmd), 0);
}

TD_TEST(path_stem)
{
    char out[16];
    td_path_stem("a/b/reinvent_base.npy", out, sizeof(out));
    TD_ASSERT_STREQ(out, "reinvent_base");
    td_path_stem("plain", out, sizeof(out));
    TD_ASSERT_STREQ(out, "plain");
    td_path_stem("dir.d/.hidden", out, sizeof(out));
    TD_ASSERT_STREQ(out, ".hidden");
    td_path_stem("a_very_long_track_name.json", out, 8);
    TD_ASSERT_STREQ(out, "a_very_");
}

TD_TEST(crc32_known_value)
{
    TD_ASSERT_EQ_INT(td_crc32(0, "123456789", 9), 0xCBF43926u);
    uint32_t part = td_crc32(0, "12345", 5);
    TD_ASSERT_EQ_INT(td_crc32(part, "6789", 4), 0xCBF43926u);
    TD_ASSERT_NE(td_fnv1a64("a", 1), td_fnv1a64("b", 1));
}

TD_TEST(json_fields_with_ranges)
{
    json_t *root;
    td_err err;
    const char *text = "{\"lr\": 0.5, \"n\": 3, \"flag\": true, \"name\": \"x\", \"bad\": 2.5}";
    TD_ASSERT_OK(td_json_parse(text, strlen(text), "hp.json", &root, &err));
    double lr;
    long n;
    int flag;
    const char *name;
    TD_ASSERT_OK(td_json_get_number(root, "lr", 0.1, 0, 1, &lr, "hp.json", &err));
    TD_ASSERT_NEAR(lr, 0.5, 0);
    TD_ASSERT_OK(td_json_get_number(root, "missing", 0.1, 0, 1, &lr, "hp.json", &err));
    TD_ASSERT_NEAR(lr, 0.1, 0);
    TD_ASSERT_EQ_INT(td_json_get_number(root, "n", 0, 0, 1, &lr, "hp.json", &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "hp.json: \"n\" is 3");
    TD_ASSERT_OK(td_json_get_int(root, "n", 0, 0, 10, &n, "hp.json", &err));
    TD_ASSERT_EQ_INT(n, 3);
    TD_ASSERT_EQ_INT(td_json_get_int(root, "bad", 0, 0, 10, &n, "hp.json", &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "hp.json: \"bad\"");
    TD_ASSERT_CONTAINS(err.msg, "must be an integer");
    TD_ASSERT_OK(td_json_get_bool(root, "flag", 0, &flag, "hp.json", &err));
    TD_ASSERT_EQ_INT(flag, 1);
    TD_ASSERT_EQ_INT(td_json_get_bool(root, "n", 0, &flag, "hp.json", &err), TD_EFORMAT);
    TD_ASSERT_OK(td_json_get_string(root, "name", NULL, &name, "hp.json", &err));
    TD_ASSERT_STREQ(name, "x");
    json_decref(root);
}

TD_TEST(json_parse_error_names_position)
{
    json_t *root;
    td_err err;
    const char *text = "{\n  \"a\": 1,\n  \"b\": }\n";
    TD_ASSERT_EQ_INT(td_json_parse(text, strlen(text), "m.json", &root, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "m.json:3:");
}

TD_TEST(png_round_trip)
{
    char path[] = "/tmp/td_png_XXXXXX";
    int fd = mkstemp(path);
    td_err err;
    uint8_t img[3 * 4 * 3];
    uint8_t *back;
    int w, h, c;
    TD_ASSERT_GE(fd, 0);
    close(fd);
    for (int i = 0; i < (int)sizeof(img); i++)
        img[i] = (uint8_t)(i * 7);
    TD_ASSERT_OK(td_png_write(path, img, 4, 3, 3, &err));
    TD_ASSERT_OK(td_png_read(path, &back, &w, &h, &c, &err));
    TD_ASSERT_EQ_INT(w, 4);
    TD_ASSERT_EQ_INT(h, 3);
    TD_ASSERT_EQ_INT(c, 3);
    TD_ASSERT_EQ(memcmp(img, back, sizeof(img)), 0);
    td_free(back);
    TD_ASSERT_EQ_INT(td_png_read("/nonexistent.png", &back, &w, &h, &c, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "/nonexistent.png: cannot open");
    unlink(path);
}

TD_TEST(path_fmt_refuses_a_path_cut_short)
{
    char out[16];
    td_err err;
    TD_ASSERT_EQ_INT(td_path_join(out, sizeof(out), "dir", "name.csv", &err), 0);
    TD_ASSERT_STREQ(out, "dir/name.csv");
    /* 15 characters fit a 16-byte buffer; 16 do not. */
    TD_ASSERT_EQ_INT(td_path_fmt(out, sizeof(out), &err, "%s", "abcdefghijklmno"), 0);
    TD_ASSERT_STREQ(out, "abcdefghijklmno");
    TD_ASSERT_EQ_INT(td_path_join(out, sizeof(out), "a-long-directory", "f", &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "path too long (18 bytes, at most 15): a-long-director");
    /* Without a message buffer the code still says it did not fit. */
    TD_ASSERT_EQ_INT(td_path_join(out, sizeof(out), "a-long-directory", "f", NULL), TD_ERANGE);
}

TD_TEST(cpu_clocks_count_work_not_waiting)
{
    double p0 = td_time_cpu(), t0 = td_time_thread_cpu();
    volatile double x = 0;
    /* Work until this thread has used 20 ms of CPU. */
    while (td_time_thread_cpu() - t0 < 0.02)
        for (int i = 0; i < 1000; i++)
            x += i * 1e-9;
    (void)x;
    double dp = td_time_cpu() - p0, dt = td_time_thread_cpu() - t0;
    TD_ASSERT_GT(dt, 0.02 - 1e-9);
    /* The process's clock includes this thread's. */
    TD_ASSERT_GT(dp, dt - 1e-3);
}

/* What td__floor_int / td__ceil_int give for v: floor(v) or ceil(v) (rounded) inside
 * (-1e9, 1e9], held to +-1e9 outside, -1e9 for NaN. */
static int held(double v, double rounded)
{
    if (!(v > -1e9))
        return -1000000000;
    return v > 1e9 ? 1000000000 : (int)rounded;
}

/* Around every integer and half of [-300, 300] and the limits, down to the next double either
 * side, and the special values: NaN of either sign (-NaN is the -v that td__ceil_int, written
 * through td__floor_int, would pass on), infinities, -0 and the smallest denormals. */
TD_TEST(floor_and_ceil_int_hold_their_range)
{
    double points[1210];
    int n = 0;
    for (int i = -300; i <= 300; i++) {
        points[n++] = i;
        points[n++] = i + 0.5;
    }
    const double limits[] = {1e9, 1e9 - 1, 1e9 - 0.5, 1e9 + 1, 2147483648.0, 1e300};
    for (int k = 0; k < 6; k++)
        points[n++] = limits[k];
    for (int k = 0; k < n; k++) {
        for (int sign = -1; sign <= 1; sign += 2) {
            double c = sign * points[k];
            double vs[3] = {c, nextafter(c, -INFINITY), nextafter(c, INFINITY)};
            for (int j = 0; j < 3; j++) {
                TD_ASSERT_EQ_INT(td__floor_int(vs[j]), held(vs[j], floor(vs[j])));
                TD_ASSERT_EQ_INT(td__ceil_int(vs[j]), held(vs[j], ceil(vs[j])));
            }
        }
    }
    const double special[] = {NAN, -NAN, INFINITY, -INFINITY, -0.0, 5e-324, -5e-324};
    for (int k = 0; k < 7; k++) {
        TD_ASSERT_EQ_INT(td__floor_int(special[k]), held(special[k], floor(special[k])));
        TD_ASSERT_EQ_INT(td__ceil_int(special[k]), held(special[k], ceil(special[k])));
    }
    TD_ASSERT_EQ_INT(td__ceil_int(NAN), -1000000000);
    TD_ASSERT_EQ_INT(td__ceil_int(-1e9), -1000000000);
    TD_ASSERT_EQ_INT(td__ceil_int(1e9 - 0.5), 1000000000);
    TD_ASSERT_EQ_INT(td__floor_int(-1e9 + 0.5), -1000000000);
}

TD_TEST(str_ends_with)
{
    TD_ASSERT_EQ_INT(td_str_ends_with("model.tdm", ".tdm"), 1);
    TD_ASSERT_EQ_INT(td_str_ends_with("model.tdm", "model.tdm"), 1);
    TD_ASSERT_EQ_INT(td_str_ends_with("tdm", ".tdm"), 0);
    TD_ASSERT_EQ_INT(td_str_ends_with("model.tdm.bak", ".tdm"), 0);
    TD_ASSERT_EQ_INT(td_str_ends_with("", ""), 1);
}

static int not_b(const char *name, void *user)
{
    (void)user;
    return name[0] != 'b';
}

/* One directory listing (code review b7): natural order, kinds, filters, paths, depth, hidden
 * names, errors; and one tree removal that removes links, never what they point at. */
TD_TEST(dir_list_natural_order_kinds_and_depth)
{
    char dir[] = "/tmp/td_core_XXXXXX";
    char p[512], outside[] = "/tmp/td_core_out_XXXXXX";
    char **v;
    int n;
    td_err err;
    TD_ASSERT(mkdtemp(dir) != NULL);
    TD_ASSERT(mkdtemp(outside) != NULL);
    const char *files[] = {"10-iteration.csv", "2-iteration.csv", "b.txt",
                           ".hidden",          "sub/1-x.csv",     "sub/deep/0-y.csv"};
    for (int i = 0; i < 6; i++) {
        TD_FMT(p, "%s/%s", dir, files[i]);
        char *slash = strrchr(p, '/');
        *slash = '\0';
        TD_ASSERT_OK(td_mkdir_p(p, &err));
        *slash = '/';
        td_test_write(p, "x");
    }
    TD_ASSERT_OK(td_dir_list(dir, 0, NULL, NULL, &v, &n, &err));
    TD_ASSERT_EQ_INT(n, 4);
    TD_ASSERT_STREQ(v[0], "2-iteration.csv");
    TD_ASSERT_STREQ(v[1], "10-iteration.csv");
    TD_ASSERT_STREQ(v[2], "b.txt");
    TD_ASSERT_STREQ(v[3], "sub");
    td_dir_list_free(v, n);
    TD_ASSERT_OK(td_dir_list(dir, TD_DIR_FILES | TD_DIR_HIDDEN, not_b, NULL, &v, &n, &err));
    TD_ASSERT_EQ_INT(n, 3);
    TD_ASSERT_STREQ(v[0], ".hidden");
    td_dir_list_free(v, n);
    TD_ASSERT_OK(td_dir_list(dir, TD_DIR_DIRS | TD_DIR_PATHS, NULL, NULL, &v, &n, &err));
    TD_ASSERT_EQ_INT(n, 1);
    TD_FMT(p, "%s/sub", dir);
    TD_ASSERT_STREQ(v[0], p);
    td_dir_list_free(v, n);
    /* One level down: sub/1-x.csv, not sub/deep/0-y.csv; paths sorted as a whole. */
    TD_ASSERT_OK(td_dir_list(dir, TD_DIR_FILES | TD_DIR_DEPTH(1), not_b, NULL, &v, &n, &err));
    TD_ASSERT_EQ_INT(n, 3);
    TD_FMT(p, "%s/sub/1-x.csv", dir);
    TD_ASSERT_STREQ(v[2], p);
    td_dir_list_free(v, n);
    TD_ASSERT_OK(td_dir_list(dir, TD_DIR_FILES | TD_DIR_DEPTH(2), not_b, NULL, &v, &n, &err));
    TD_ASSERT_EQ_INT(n, 4);
    td_dir_list_free(v, n);
    TD_ASSERT(td_str_natural_cmp("a2", "a10") < 0 && td_str_natural_cmp("a010", "a9") > 0);
    TD_ASSERT_EQ_INT(td_str_natural_cmp("x07", "x7"), 0);
    TD_FMT(p, "%s/missing", dir);
    TD_ASSERT_EQ_INT(td_dir_list(p, 0, NULL, NULL, &v, &n, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "missing: no such directory");
    TD_ASSERT(v == NULL && n == 0);
    /* A link to a folder outside goes, the folder's file stays. */
    char keep[600], link[600];
    TD_FMT(keep, "%s/keep.txt", outside);
    td_test_write(keep, "x");
    TD_FMT(link, "%s/sub/out", dir);
    TD_ASSERT_EQ_INT(symlink(outside, link), 0);
    td_remove_tree(dir);
    TD_ASSERT(!td_path_exists(dir));
    TD_ASSERT(td_path_exists(keep));
    td_remove_tree(outside);
    TD_ASSERT(!td_path_exists(outside));
}
