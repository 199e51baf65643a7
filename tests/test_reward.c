/*
 * test_reward.c - reward hosts: built-ins, C plugins, and the embedded Python host (every
 * params key arrives with its type and value, object keys only with objects, fresh copies,
 * numpy), the errors that teach (syntax, missing function, exceptions with traceback and
 * params JSON, NaN, inf, non-numbers, range, timeout), the static check, and the examples.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_test.h"
#include "trackday/json.h"
#include "trackday/reward.h"
#include "trackday/track.h"

/* ---- helpers ------------------------------------------------------------------------- */

static char tmpdir[256];

static const char *tmp_dir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/td_reward_XXXXXX");
        TD_ASSERT(mkdtemp(tmpdir) != NULL);
    }
    return tmpdir;
}

/* Writes text to DIR/name and returns the path (static buffer, one per slot). */
static const char *write_file(const char *name, const char *text)
{
    static char paths[8][512];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, 512, "%s/%s", tmp_dir(), name);
    FILE *f = fopen(p, "w");
    TD_ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Three waypoints (a tiny open route) for params built by hand. */
static const double test_wp[4][2] = {{0.0, 0.0}, {1.0, 0.0}, {2.0, 0.5}, {3.0, 1.5}};

/* A params struct where every key has a distinct, checkable value. */
static void fill_params(td_params *p)
{
    memset(p, 0, sizeof(*p));
    p->x = 1.25;
    p->y = -0.5;
    p->heading = 45.5;
    p->speed = 2.5;
    p->steering_angle = -15.0;
    p->progress = 37.5;
    p->steps = 42;
    p->track_length = 17.7;
    p->track_width = 1.066;
    p->distance_from_center = 0.125;
    p->is_left_of_center = 1;
    p->all_wheels_on_track = 1;
    p->is_offtrack = 0;
    p->is_crashed = 0;
    p->is_reversed = 1;
    p->closest_waypoints[0] = 1;
    p->closest_waypoints[1] = 2;
    p->projection_distance = 6.6375;
    p->sim_time = 2.8;
    p->waypoints = &test_wp[0][0];
    p->n_waypoints = 4;
}

static void add_objects(td_params *p)
{
    p->n_objects = 2;
    p->closest_objects[0] = 0;
    p->closest_objects[1] = 1;
    p->objects_location[0][0] = 0.5;
    p->objects_location[0][1] = 0.25;
    p->objects_location[1][0] = 2.5;
    p->objects_location[1][1] = 1.0;
    p->objects_distance[0] = 0.55;
    p->objects_distance[1] = 2.75;
    p->objects_distance_from_center[0] = 0.25;
    p->objects_distance_from_center[1] = 0.2;
    p->objects_left_of_center[0] = 1;
    p->objects_left_of_center[1] = 0;
    p->objects_speed[0] = 0.0;
    p->objects_speed[1] = 0.2;
    p->objects_heading[0] = 0.0;
    p->objects_heading[1] = 1.5;
    p->object_in_camera = 1;
}

static td_reward *open_ok(const char *spec)
{
    td_reward *r = NULL;
    td_err err = {0};
    int rc = td_reward_open(&r, spec, NULL, &err);
    if (rc)
        TD_FAIL("td_reward_open(%s): %s", spec, err.msg);
    return r;
}

/* Opens a spec that must fail; returns the message (static). */
static const char *open_fail(const char *spec)
{
    static td_err err;
    td_reward *r = NULL;
    memset(&err, 0, sizeof(err));
    int rc = td_reward_open(&r, spec, NULL, &err);
    TD_ASSERT(rc != 0);
    TD_ASSERT(r == NULL);
    return err.msg;
}

static double call_one(td_reward *r, const td_params *p)
{
    double v = -12345;
    td_err err = {0};
    int rc = td_reward_one(r, p, &v, &err);
    if (rc)
        TD_FAIL("reward call failed: %s", err.msg);
    return v;
}

/* ---- built-ins and plugins ------------------------------------------------------------- */

TD_TEST(builtin_follow_center_line_bands)
{
    td_reward *r = open_ok("builtin:follow_center_line");
    TD_ASSERT_EQ_INT(td_reward_get_kind(r), TD_REWARD_BUILTIN);
    td_params p;
    fill_params(&p);
    p.track_width = 1.0;
    double expect[][2] = {{0.05, 1.0}, {0.2, 0.5}, {0.4, 0.1}, {0.6, 1e-3}};
    for (int i = 0; i < 4; i++) {
        p.distance_from_center = expect[i][0];
        TD_ASSERT_NEAR(call_one(r, &p), expect[i][1], 1e-12);
    }
    td_reward_close(r);
}

TD_TEST(builtin_all_names_open_and_return_finite)
{
    int count = 0;
    td_params p;
    fill_params(&p);
    add_objects(&p);
    for (const char *const *n = td_reward_builtin_names(); *n; n++, count++) {
        char spec[128];
        snprintf(spec, sizeof(spec), "builtin:%s", *n);
        td_reward *r = open_ok(spec);
        double v = call_one(r, &p);
        TD_ASSERT(isfinite(v));
        TD_ASSERT(td_reward_builtin_summary(*n) != NULL);
        td_reward_close(r);
    }
    TD_ASSERT(count >= 8);
    TD_ASSERT(td_reward_builtin_find("prevent_zigzag") != NULL);
    TD_ASSERT(td_reward_builtin_find("stay_inside_two_borders") != NULL);
    const char *msg = open_fail("builtin:no_such_reward");
    TD_ASSERT_CONTAINS(msg, "no_such_reward");
    TD_ASSERT_CONTAINS(msg, "follow_center_line");
    TD_ASSERT_CONTAINS(open_fail("reward.txt"), "expected builtin:NAME");
}

TD_TEST(builtin_prevent_zigzag_penalizes_steering)
{
    td_reward *r = open_ok("builtin:prevent_zigzag");
    td_params p;
    fill_params(&p);
    p.distance_from_center = 0;
    p.steering_angle = 5;
    TD_ASSERT_NEAR(call_one(r, &p), 1.0, 1e-12);
    p.steering_angle = -20;
    TD_ASSERT_NEAR(call_one(r, &p), 0.8, 1e-12);
    td_reward_close(r);
}

TD_TEST(plugin_compiled_with_cc)
{
    const char *src = write_file("plugin.c",
                                 "#include \"trackday/params.h\"\n"
                                 "double trackday_reward(const td_params *p)\n"
                                 "{ return p->speed * 2.0 + p->steps + p->n_waypoints; }\n");
    char so[512], cmd[2048];
    snprintf(so, sizeof(so), "%s/plugin.so", tmp_dir());
    snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -I%s/include -o %s %s", TD_TEST_SOURCE_DIR, so,
             src);
    TD_ASSERT_EQ_INT(system(cmd), 0);
    td_reward *r = open_ok(so);
    TD_ASSERT_EQ_INT(td_reward_get_kind(r), TD_REWARD_PLUGIN);
    td_params p[3];
    float out[3];
    for (int i = 0; i < 3; i++) {
        fill_params(&p[i]);
        p[i].steps = i;
    }
    td_err err = {0};
    TD_ASSERT_OK(td_reward_batch(r, p, 3, out, &err));
    for (int i = 0; i < 3; i++)
        TD_ASSERT_NEAR(out[i], 2.5 * 2 + i + 4, 1e-6);
    td_reward_close(r);

    /* A library without the symbol, and a missing file. */
    const char *bad = write_file("bad.c", "int not_a_reward(void) { return 1; }\n");
    snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -o %s/bad.so %s", tmp_dir(), bad);
    TD_ASSERT_EQ_INT(system(cmd), 0);
    snprintf(so, sizeof(so), "%s/bad.so", tmp_dir());
    TD_ASSERT_CONTAINS(open_fail(so), "does not export trackday_reward");
    TD_ASSERT_CONTAINS(open_fail("/nonexistent/x.so"), "not found");
}

TD_TEST(value_checks_apply_to_c_hosts)
{
    const char *src = write_file("nan.c", "#include \"trackday/params.h\"\n"
                                          "double trackday_reward(const td_params *p)\n"
                                          "{ return p->steps == 7 ? 0.0 / 0.0 : 1.0; }\n");
    char so[512], cmd[2048];
    snprintf(so, sizeof(so), "%s/nan.so", tmp_dir());
    snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -I%s/include -o %s %s", TD_TEST_SOURCE_DIR, so,
             src);
    TD_ASSERT_EQ_INT(system(cmd), 0);
    td_reward *r = open_ok(so);
    td_params p[4];
    float out[4] = {9, 9, 9, 9};
    for (int i = 0; i < 4; i++) {
        fill_params(&p[i]);
        p[i].steps = 5 + i;
    }
    td_err err = {0};
    TD_ASSERT_EQ_INT(td_reward_batch(r, p, 4, out, &err), TD_EREWARD);
    TD_ASSERT_CONTAINS(err.msg, "NaN at step 7 (car 2)");
    TD_ASSERT_NEAR(out[0], 1.0, 0);
    TD_ASSERT_NEAR(out[2], 0.0, 0);
    TD_ASSERT_NEAR(out[3], 0.0, 0);
    const td_reward_error *e = td_reward_last_error(r);
    TD_ASSERT_EQ_INT(e->kind, TD_REWARD_ERR_VALUE);
    TD_ASSERT_EQ_INT(e->car, 2);
    TD_ASSERT_EQ_INT(e->step, 7);
    td_reward_close(r);
}

/* ---- Python: params ------------------------------------------------------------------- */

#define SKIP_WITHOUT_PYTHON()                                                              \
    do {                                                                                   \
        if (!td_reward_python_available()) {                                               \
            printf("(skipped: built without Python)\n");                                   \
            return;                                                                        \
        }                                                                                  \
    } while (0)

/* Asserts every key's type and the values fill_params set; returns a value built from them. */
static const char all_keys_py[] =
    "import math\n"
    "def close(a, b):\n"
    "    return abs(a - b) < 1e-9\n"
    "def reward_function(params):\n"
    "    floats = ['x', 'y', 'heading', 'speed', 'steering_angle', 'progress',\n"
    "              'track_length', 'track_width', 'distance_from_center',\n"
    "              'projection_distance', 'sim_time']\n"
    "    for k in floats:\n"
    "        assert type(params[k]) is float, (k, type(params[k]))\n"
    "    bools = ['is_left_of_center', 'all_wheels_on_track', 'is_offtrack', 'is_crashed',\n"
    "             'is_reversed']\n"
    "    for k in bools:\n"
    "        assert type(params[k]) is bool, (k, type(params[k]))\n"
    "    assert type(params['steps']) is int\n"
    "    assert close(params['x'], 1.25) and close(params['y'], -0.5)\n"
    "    assert close(params['heading'], 45.5) and close(params['speed'], 2.5)\n"
    "    assert close(params['steering_angle'], -15.0) and close(params['progress'], 37.5)\n"
    "    assert params['steps'] == 42 and close(params['track_length'], 17.7)\n"
    "    assert close(params['track_width'], 1.066)\n"
    "    assert close(params['distance_from_center'], 0.125)\n"
    "    assert close(params['projection_distance'], 6.6375)\n"
    "    assert close(params['sim_time'], 2.8)\n"
    "    assert params['is_left_of_center'] is True and params['all_wheels_on_track'] is True\n"
    "    assert params['is_offtrack'] is False and params['is_crashed'] is False\n"
    "    assert params['is_reversed'] is True\n"
    "    wp = params['waypoints']\n"
    "    assert type(wp) is list and len(wp) == 4\n"
    "    assert all(type(p) is tuple and len(p) == 2 for p in wp)\n"
    "    assert wp[2] == (2.0, 0.5) and wp[3] == (3.0, 1.5)\n"
    "    cw = params['closest_waypoints']\n"
    "    assert type(cw) is list and cw == [1, 2] and all(type(i) is int for i in cw)\n"
    "    objects = 'objects_location' in params\n"
    "    okeys = ['closest_objects', 'objects_location', 'objects_distance',\n"
    "             'objects_distance_from_center', 'objects_left_of_center', 'objects_speed',\n"
    "             'objects_heading', 'object_in_camera']\n"
    "    assert all((k in params) == objects for k in okeys), 'object keys all or none'\n"
    "    assert len(params) == 19 + (8 if objects else 0), sorted(params)\n"
    "    extra = 0.0\n"
    "    if objects:\n"
    "        assert params['closest_objects'] == [0, 1]\n"
    "        loc = params['objects_location']\n"
    "        assert type(loc) is list and loc == [(0.5, 0.25), (2.5, 1.0)]\n"
    "        assert params['objects_distance'] == [0.55, 2.75]\n"
    "        assert params['objects_distance_from_center'] == [0.25, 0.2]\n"
    "        assert params['objects_left_of_center'] == [True, False]\n"
    "        assert all(type(b) is bool for b in params['objects_left_of_center'])\n"
    "        assert params['objects_speed'] == [0.0, 0.2]\n"
    "        assert params['objects_heading'] == [0.0, 1.5]\n"
    "        assert params['object_in_camera'] is True\n"
    "        extra = 1000.0 + sum(params['objects_distance'])\n"
    "    return (params['x'] + 10 * params['progress'] + params['steps'] + len(wp)\n"
    "            + params['closest_waypoints'][1] + extra)\n";

TD_TEST(python_every_key_type_and_value)
{
    SKIP_WITHOUT_PYTHON();
    td_reward *r = open_ok(write_file("all_keys.py", all_keys_py));
    TD_ASSERT_EQ_INT(td_reward_get_kind(r), TD_REWARD_PYTHON);
    td_params p;
    fill_params(&p);
    TD_ASSERT_NEAR(call_one(r, &p), 1.25 + 375 + 42 + 4 + 2, 1e-9);
    add_objects(&p);
    TD_ASSERT_NEAR(call_one(r, &p), 1.25 + 375 + 42 + 4 + 2 + 1000 + 3.3, 1e-9);
    td_reward_close(r);
}

TD_TEST(python_object_keys_only_with_objects)
{
    SKIP_WITHOUT_PYTHON();
    td_reward *r = open_ok(write_file(
        "objkeys.py", "def reward_function(params):\n"
                      "    keys = [k for k in params if 'object' in k]\n"
                      "    return len(keys) * 10 + len(params.get('objects_location', []))\n"));
    td_params p[3];
    fill_params(&p[0]);
    fill_params(&p[1]);
    add_objects(&p[1]);
    fill_params(&p[2]);
    float out[3];
    td_err err = {0};
    TD_ASSERT_OK(td_reward_batch(r, p, 3, out, &err));
    TD_ASSERT_NEAR(out[0], 0, 0);
    TD_ASSERT_NEAR(out[1], 8 * 10 + 2, 0);
    TD_ASSERT_NEAR(out[2], 0, 0);
    td_reward_close(r);
}

TD_TEST(python_params_are_fresh_each_call)
{
    SKIP_WITHOUT_PYTHON();
    /* Mutates everything it can; keeps the previous dict; the next call must not notice. */
    td_reward *r = open_ok(write_file(
        "mutate.py", "last = None\n"
                     "def reward_function(params):\n"
                     "    global last\n"
                     "    bad = 0\n"
                     "    if last is not None:\n"
                     "        bad += last['x'] != 99.0\n"
                     "    if params['x'] == 99.0 or len(params['waypoints']) != 4:\n"
                     "        bad += 100\n"
                     "    if params['closest_waypoints'] != [1, 2] or 'junk' in params:\n"
                     "        bad += 1000\n"
                     "    params['x'] = 99.0\n"
                     "    params['junk'] = 1\n"
                     "    params['waypoints'].append((9.0, 9.0))\n"
                     "    params['waypoints'][0] = (5.0, 5.0)\n"
                     "    params['closest_waypoints'][0] = 77\n"
                     "    last = params\n"
                     "    return float(bad)\n"));
    td_params p[4];
    for (int i = 0; i < 4; i++)
        fill_params(&p[i]);
    float out[4];
    td_err err = {0};
    for (int rep = 0; rep < 2; rep++) {
        TD_ASSERT_OK(td_reward_batch(r, p, 4, out, &err));
        for (int i = 0; i < 4; i++)
            TD_ASSERT_NEAR(out[i], 0, 0);
    }
    td_reward_close(r);
}

TD_TEST(python_result_conversion_follows_float)
{
    SKIP_WITHOUT_PYTHON();
    td_reward *r = open_ok(write_file(
        "conv.py", "def reward_function(params):\n"
                   "    s = params['steps']\n"
                   "    if s == 0: return 3\n"
                   "    if s == 1: return True\n"
                   "    if s == 2: return '2.5'\n"
                   "    class F:\n"
                   "        def __float__(self): return 4.25\n"
                   "    return F()\n"));
    td_params p[4];
    for (int i = 0; i < 4; i++) {
        fill_params(&p[i]);
        p[i].steps = i;
    }
    float out[4];
    td_err err = {0};
    TD_ASSERT_OK(td_reward_batch(r, p, 4, out, &err));
    TD_ASSERT_NEAR(out[0], 3, 0);
    TD_ASSERT_NEAR(out[1], 1, 0);
    TD_ASSERT_NEAR(out[2], 2.5, 0);
    TD_ASSERT_NEAR(out[3], 4.25, 0);
    td_reward_close(r);
}

TD_TEST(python_numpy_works)
{
    SKIP_WITHOUT_PYTHON();
    td_reward *r = open_ok(write_file(
        "np_reward.py", "import numpy as np\n"
                        "def reward_function(params):\n"
                        "    wp = np.array(params['waypoints'])\n"
                        "    car = np.array([params['x'], params['y']])\n"
                        "    d = np.linalg.norm(wp - car, axis=1)\n"
                        "    return np.float64(d.min()) + np.float32(0.5)\n"));
    td_params p;
    fill_params(&p);
    p.x = 2.0;
    p.y = 0.0;
    TD_ASSERT_NEAR(call_one(r, &p), 0.5 + 0.5, 1e-6); /* nearest is (2.0, 0.5) */
    td_reward_close(r);
}

TD_TEST(python_matches_builtin_over_a_batch)
{
    SKIP_WITHOUT_PYTHON();
    char path[512];
    snprintf(path, sizeof(path), "%s/examples/rewards/follow_center_line.py", TD_TEST_SOURCE_DIR);
    td_reward *py = open_ok(path);
    td_reward *c = open_ok("builtin:follow_center_line");
    enum { N = 64 };
    static td_params p[N];
    float a[N], b[N];
    td_rng rng;
    td_rng_seed(&rng, 7, 1);
    for (int i = 0; i < N; i++) {
        fill_params(&p[i]);
        p[i].track_width = td_rng_range(&rng, 0.6, 1.2);
        p[i].distance_from_center = td_rng_range(&rng, 0, 0.7);
    }
    td_err err = {0};
    TD_ASSERT_OK(td_reward_batch(py, p, N, a, &err));
    TD_ASSERT_OK(td_reward_batch(c, p, N, b, &err));
    int bands[4] = {0};
    for (int i = 0; i < N; i++) {
        TD_ASSERT_NEAR(a[i], b[i], 0);
        bands[a[i] >= 1 ? 0 : a[i] >= 0.5 ? 1 : a[i] >= 0.1 ? 2 : 3]++;
    }
    for (int k = 0; k < 4; k++)
        TD_ASSERT(bands[k] > 0); /* the batch exercised every band */
    td_reward_close(py);
    td_reward_close(c);
}

/* ---- Python: errors that teach ---------------------------------------------------------- */

TD_TEST(error_syntax_has_line_and_caret)
{
    SKIP_WITHOUT_PYTHON();
    const char *path = write_file("syntax.py", "def reward_function(params):\n"
                                               "    x = params['x']\n"
                                               "    if x > 1\n"
                                               "        return 1.0\n"
                                               "    return 0.5\n");
    const char *msg = open_fail(path);
    char where[600];
    snprintf(where, sizeof(where), "%s:3:", path);
    TD_ASSERT_CONTAINS(msg, where);
    TD_ASSERT_CONTAINS(msg, "SyntaxError");
    TD_ASSERT_CONTAINS(msg, "\n    if x > 1\n");
    TD_ASSERT_CONTAINS(msg, "        ^"); /* under the end of the line, where ':' is missing */

    const char *indent = write_file("indent.py", "def reward_function(params):\n"
                                                 "return 1.0\n");
    msg = open_fail(indent);
    TD_ASSERT_CONTAINS(msg, "IndentationError");
    TD_ASSERT_CONTAINS(msg, ":2:");
}

TD_TEST(error_missing_or_bad_function)
{
    SKIP_WITHOUT_PYTHON();
    const char *msg = open_fail(write_file("missing.py", "def reward_fn(params):\n"
                                                         "    return 1.0\n"));
    TD_ASSERT_CONTAINS(msg, "no function named reward_function");
    TD_ASSERT_CONTAINS(msg, "reward_fn");
    msg = open_fail(write_file("notcallable.py", "reward_function = 3\n"));
    TD_ASSERT_CONTAINS(msg, "not a function");
    msg = open_fail(write_file("arity.py", "import math\n"
                                           "def reward_function(params, speed):\n"
                                           "    return 1.0\n"));
    TD_ASSERT_CONTAINS(msg, ":2: reward_function(params, speed) cannot be called with one");
    msg = open_fail(write_file("importerr.py", "import not_a_module_xyz\n"
                                               "def reward_function(params):\n"
                                               "    return 1.0\n"));
    TD_ASSERT_CONTAINS(msg, ":1: ModuleNotFoundError");
    TD_ASSERT_CONTAINS(open_fail("/nonexistent/reward_function.py"), "cannot read");
    /* Defaults and *args are fine. */
    td_reward *r = open_ok(write_file("defaults.py", "def reward_function(params, k=2.0):\n"
                                                     "    return k\n"));
    td_params p;
    fill_params(&p);
    TD_ASSERT_NEAR(call_one(r, &p), 2.0, 0);
    td_reward_close(r);
}

TD_TEST(error_exception_has_traceback_and_params_json)
{
    SKIP_WITHOUT_PYTHON();
    const char *path = write_file("raise.py", "def helper(w):\n"
                                              "    return 1.0 / w\n"
                                              "\n"
                                              "def reward_function(params):\n"
                                              "    w = params['track_width'] - 1.0\n"
                                              "    return helper(w)\n");
    td_reward *r = open_ok(path);
    td_params p[3];
    for (int i = 0; i < 3; i++)
        fill_params(&p[i]);
    p[1].track_width = 1.0;
    p[1].steps = 17;
    float out[3] = {5, 5, 5};
    td_err err = {0};
    TD_ASSERT_EQ_INT(td_reward_batch(r, p, 3, out, &err), TD_EREWARD);
    char where[600];
    snprintf(where, sizeof(where), "%s:2: ZeroDivisionError", path);
    TD_ASSERT_CONTAINS(err.msg, where);
    TD_ASSERT_CONTAINS(err.msg, "at step 17 (car 1)");
    TD_ASSERT_CONTAINS(err.msg, "return 1.0 / w");
    TD_ASSERT_NEAR(out[0], 1.0 / 0.066, 1e-3);
    TD_ASSERT_NEAR(out[1], 0, 0);
    const td_reward_error *e = td_reward_last_error(r);
    TD_ASSERT_EQ_INT(e->kind, TD_REWARD_ERR_EXCEPTION);
    TD_ASSERT_EQ_INT(e->line, 2);
    TD_ASSERT_EQ_INT(e->step, 17);
    TD_ASSERT_CONTAINS(e->traceback, "line 6, in reward_function");
    TD_ASSERT_CONTAINS(e->traceback, "line 2, in helper");
    TD_ASSERT_CONTAINS(e->traceback, "ZeroDivisionError");

    char *json = NULL;
    TD_ASSERT_OK(td_reward_error_json(r, &json, &err));
    json_t *o = NULL;
    TD_ASSERT_OK(td_json_parse(json, strlen(json), "error json", &o, &err));
    TD_ASSERT_STREQ(json_string_value(json_object_get(o, "kind")), "exception");
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(o, "step")), 17);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(o, "line")), 2);
    json_t *params = json_object_get(o, "params");
    TD_ASSERT(json_is_object(params));
    TD_ASSERT_NEAR(json_number_value(json_object_get(params, "track_width")), 1.0, 0);
    TD_ASSERT_EQ_INT(json_array_size(json_object_get(params, "waypoints")), 4);
    TD_ASSERT(json_object_get(params, "objects_location") == NULL);
    json_decref(o);
    td_free(json);

    char out_path[512];
    snprintf(out_path, sizeof(out_path), "%s/logs_reward_error.json", tmp_dir());
    TD_ASSERT_OK(td_reward_error_write(r, out_path, &err));
    TD_ASSERT_OK(td_json_load_file(out_path, &o, &err));
    TD_ASSERT_CONTAINS(json_string_value(json_object_get(o, "traceback")), "ZeroDivisionError");
    json_decref(o);

    /* The adapter for the simulator keeps the first error and writes zeros after it. */
    td_reward_clear_error(r);
    TD_ASSERT_EQ_INT(td_reward_failed(r), 0);
    td_reward_batch_cb(r, p, 3, out);
    TD_ASSERT_EQ_INT(td_reward_failed(r), TD_EREWARD);
    fill_params(&p[1]);
    td_reward_batch_cb(r, p, 3, out);
    TD_ASSERT_NEAR(out[0], 0, 0);
    TD_ASSERT_EQ_INT(td_reward_failed(r), TD_EREWARD);
    td_reward_clear_error(r);
    td_reward_batch_cb(r, p, 3, out);
    TD_ASSERT_NEAR(out[0], 1.0 / 0.066, 1e-3);
    td_reward_close(r);
}

TD_TEST(error_key_error_hints_object_keys)
{
    SKIP_WITHOUT_PYTHON();
    td_reward *r = open_ok(write_file("keyerr.py", "def reward_function(params):\n"
                                                   "    return len(params['objects_location'])\n"));
    td_params p;
    fill_params(&p);
    double v;
    td_err err = {0};
    TD_ASSERT_EQ_INT(td_reward_one(r, &p, &v, &err), TD_EREWARD);
    TD_ASSERT_CONTAINS(err.msg, "KeyError");
    TD_ASSERT_CONTAINS(err.msg, "only when the race has obstacles");
    td_reward_close(r);
}

/* Returns the message of a call of a function whose body is `body` (one line). */
static const char *call_fail(const char *name, const char *body, int *code)
{
    static td_err err;
    char src[1024];
    snprintf(src, sizeof(src), "import math\ndef reward_function(params):\n    %s\n", body);
    td_reward *r = open_ok(write_file(name, src));
    td_params p;
    fill_params(&p);
    p.steps = 31;
    double v = 7;
    memset(&err, 0, sizeof(err));
    *code = td_reward_one(r, &p, &v, &err);
    TD_ASSERT(*code != 0);
    TD_ASSERT_NEAR(v, 0, 0);
    TD_ASSERT_EQ_INT(td_reward_last_error(r)->kind, TD_REWARD_ERR_VALUE);
    td_reward_close(r);
    return err.msg;
}

TD_TEST(error_bad_values)
{
    SKIP_WITHOUT_PYTHON();
    int code;
    const char *msg = call_fail("nan.py", "return float('nan')", &code);
    TD_ASSERT_EQ_INT(code, TD_EREWARD);
    TD_ASSERT_CONTAINS(msg, "returned NaN at step 31");
    msg = call_fail("inf.py", "return math.inf", &code);
    TD_ASSERT_CONTAINS(msg, "returned inf at step 31");
    msg = call_fail("ninf.py", "return -1e400", &code);
    TD_ASSERT_CONTAINS(msg, "returned -inf at step 31");
    msg = call_fail("range.py", "return 100001.0", &code);
    TD_ASSERT_CONTAINS(msg, "returned 100001 at step 31");
    TD_ASSERT_CONTAINS(msg, "[-1e5, 1e5]");
    msg = call_fail("none.py", "pass", &code);
    TD_ASSERT_CONTAINS(msg, "returned None at step 31");
    msg = call_fail("str.py", "return 'fast'", &code);
    TD_ASSERT_CONTAINS(msg, "returned 'fast' (a str) at step 31");
    msg = call_fail("list.py", "return [1.0]", &code);
    TD_ASSERT_CONTAINS(msg, "(a list)");
    msg = call_fail("bigint.py", "return 10**400", &code);
    TD_ASSERT_CONTAINS(msg, "not a number");
    /* The boundary itself is allowed. */
    td_reward *r = open_ok(write_file("edge.py", "def reward_function(params):\n"
                                                 "    return -1e5\n"));
    td_params p;
    fill_params(&p);
    TD_ASSERT_NEAR(call_one(r, &p), -1e5, 0);
    td_reward_close(r);
}

TD_TEST(error_timeout_stops_an_endless_loop)
{
    SKIP_WITHOUT_PYTHON();
    const char *path = write_file("loop.py", "def reward_function(params):\n"
                                             "    if params['steps'] == 3:\n"
                                             "        while True:\n"
                                             "            pass\n"
                                             "    return 1.0\n");
    td_reward *r = open_ok(path);
    td_reward_set_timeout(r, 0.3);
    td_params p[5];
    for (int i = 0; i < 5; i++) {
        fill_params(&p[i]);
        p[i].steps = i + 1;
    }
    float out[5];
    td_err err = {0};
    TD_ASSERT_EQ_INT(td_reward_batch(r, p, 5, out, &err), TD_ETIMEOUT);
    TD_ASSERT_CONTAINS(err.msg, "longer than the 0.3 s limit at step 3 (car 2)");
    TD_ASSERT_CONTAINS(err.msg, ":3:"); /* where it was stopped: the loop */
    TD_ASSERT_CONTAINS(err.msg, "while True:");
    TD_ASSERT_EQ_INT(td_reward_last_error(r)->kind, TD_REWARD_ERR_TIMEOUT);
    TD_ASSERT_NEAR(out[0], 1.0, 0);
    /* `except Exception` must not swallow the stop, and the host stays usable. */
    TD_ASSERT_OK(td_reward_batch(r, p, 2, out, &err));
    td_reward_close(r);

    td_reward *r2 = open_ok(write_file("loop2.py", "def reward_function(params):\n"
                                                   "    while True:\n"
                                                   "        try:\n"
                                                   "            sum(range(1000))\n"
                                                   "        except Exception:\n"
                                                   "            pass\n"));
    td_reward_set_timeout(r2, 0.2);
    double v;
    TD_ASSERT_EQ_INT(td_reward_one(r2, &p[0], &v, &err), TD_ETIMEOUT);
    td_reward_close(r2);
}

TD_TEST(error_timeout_in_module_code)
{
    SKIP_WITHOUT_PYTHON();
    /* The default limit (1 s) applies to the module's own code at load time. */
    const char *msg = open_fail(write_file("loadloop.py", "while True:\n"
                                                          "    pass\n"
                                                          "def reward_function(params):\n"
                                                          "    return 1.0\n"));
    TD_ASSERT_CONTAINS(msg, "longer than the 1 s limit while loading");
}
