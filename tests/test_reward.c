/*
 * test_reward.c - reward hosts: built-ins, C plugins, and the embedded Python host (every
 * params key arrives with its type and value, object keys only with objects, fresh copies,
 * numpy), the errors that teach (syntax, missing function, exceptions with traceback and
 * params JSON, NaN, inf, non-numbers, range, timeout), the static check, and the examples.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "td_test.h"
#include "trackday/explain.h"
#include "trackday/json.h"
#include "trackday/reward.h"
#include "trackday/sim.h"
#include "trackday/track.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* Writes text to DIR/name and returns the path (static buffer, one per slot). */
static const char *write_file(const char *name, const char *text)
{
    static char paths[8][512];
    static int slot;
    char *p = paths[slot++ % 8];
    int n = snprintf(p, 512, "%s/%s", td_test_tmpdir(), name);
    TD_ASSERT_MSG(n > 0 && n < 512, "%s: path too long", name);
    td_test_write(p, text);
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
    TD_ASSERT_NE(rc, 0);
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
        TD_FMT(spec, "builtin:%s", *n);
        td_reward *r = open_ok(spec);
        double v = call_one(r, &p);
        TD_ASSERT(isfinite(v));
        TD_ASSERT(td_reward_builtin_summary(*n) != NULL);
        td_reward_close(r);
    }
    TD_ASSERT_GE(count, 8);
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
    const char *src =
        write_file("plugin.c", "#include \"trackday/params.h\"\n"
                               "double trackday_reward(const td_params *p)\n"
                               "{ return p->speed * 2.0 + p->steps + p->n_waypoints; }\n");
    char so[512], cmd[2048];
    TD_FMT(so, "%s/plugin.so", td_test_tmpdir());
    TD_FMT(cmd, "cc -shared -fPIC -I%s/include -o %s %s", TD_TEST_SOURCE_DIR, so, src);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
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
    TD_FMT(cmd, "cc -shared -fPIC -o %s/bad.so %s", td_test_tmpdir(), bad);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_FMT(so, "%s/bad.so", td_test_tmpdir());
    TD_ASSERT_CONTAINS(open_fail(so), "does not export trackday_reward");
    TD_ASSERT_CONTAINS(open_fail("/nonexistent/x.so"), "not found");
}

TD_TEST(value_checks_apply_to_c_hosts)
{
    const char *src = write_file("nan.c", "#include \"trackday/params.h\"\n"
                                          "double trackday_reward(const td_params *p)\n"
                                          "{ return p->steps == 7 ? 0.0 / 0.0 : 1.0; }\n");
    char so[512], cmd[2048];
    TD_FMT(so, "%s/nan.so", td_test_tmpdir());
    TD_FMT(cmd, "cc -shared -fPIC -I%s/include -o %s %s", TD_TEST_SOURCE_DIR, so, src);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
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

#define SKIP_WITHOUT_PYTHON()                                                                      \
    do {                                                                                           \
        if (!td_reward_python_available())                                                         \
            TD_SKIP("built without Python (TD_WITH_PYTHON=OFF)");                                  \
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
    "    assert type(params['steps']) is float  # DeepRacer's: 1.0, 2.0, ...\n"
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
    "    # Every key, always, in the order of DeepRacer's RewardParam enum.\n"
    "    assert list(params) == ['all_wheels_on_track', 'x', 'y', 'heading',\n"
    "        'distance_from_center', 'projection_distance', 'progress', 'steps', 'speed',\n"
    "        'steering_angle', 'track_width', 'track_length', 'waypoints',\n"
    "        'closest_waypoints', 'is_left_of_center', 'is_reversed', 'closest_objects',\n"
    "        'objects_location', 'objects_left_of_center', 'object_in_camera',\n"
    "        'objects_speed', 'objects_heading', 'objects_distance_from_center',\n"
    "        'objects_distance', 'is_crashed', 'is_offtrack', 'sim_time'], list(params)\n"
    "    objects = len(params['objects_location']) > 0\n"
    "    extra = 0.0\n"
    "    if not objects:  # DeepRacer's time-trial defaults\n"
    "        assert params['closest_objects'] == [0, 0]\n"
    "        for k in ['objects_location', 'objects_left_of_center', 'objects_speed',\n"
    "                  'objects_heading', 'objects_distance_from_center', 'objects_distance']:\n"
    "            assert params[k] == [] and type(params[k]) is list, k\n"
    "        assert params['object_in_camera'] is False\n"
    "    if objects:\n"
    "        assert params['closest_objects'] == [0, 1]\n"
    "        loc = params['objects_location']\n"
    "        assert type(loc) is list and loc == [[0.5, 0.25], [2.5, 1.0]], loc\n"
    "        assert all(type(p) is list for p in loc)\n"
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

TD_TEST(python_object_keys_in_every_race_with_deepracer_defaults)
{
    SKIP_WITHOUT_PYTHON();
    /* A DeepRacer-style function that reads the object keys unconditionally works in a time
     * trial (DeepRacer's dict always has them); one that appends to the default list does
     * not change the next call's params. */
    td_reward *r = open_ok(
        write_file("objkeys.py", "def reward_function(params):\n"
                                 "    keys = [k for k in params if 'object' in k]\n"
                                 "    n = len(params['objects_location'])\n"
                                 "    params['objects_location'].append([9.0, 9.0])\n"
                                 "    params['closest_objects'][0] = 7\n"
                                 "    return len(keys) * 10 + n + params['closest_objects'][1]\n"));
    td_params p[3];
    fill_params(&p[0]);
    fill_params(&p[1]);
    add_objects(&p[1]);
    fill_params(&p[2]);
    float out[3];
    td_err err = {0};
    TD_ASSERT_OK(td_reward_batch(r, p, 3, out, &err));
    TD_ASSERT_NEAR(out[0], 8 * 10, 0);
    TD_ASSERT_NEAR(out[1], 8 * 10 + 2 + 1, 0);
    TD_ASSERT_NEAR(out[2], 8 * 10, 0);
    td_reward_close(r);
}

/* The sandboxed reward process sees every object of a world at the limit (DeepRacer sets
 * none): the batch carries them all. */
TD_TEST(python_sees_every_object_of_a_full_world)
{
    SKIP_WITHOUT_PYTHON();
    td_reward *r = open_ok(
        write_file("allobj.py", "def reward_function(params):\n"
                                "    loc = params['objects_location']\n"
                                "    d = params['objects_distance']\n"
                                "    ok = all(loc[k] == [float(k), -float(k)] and d[k] == 0.5 * k\n"
                                "             for k in range(len(loc)))\n"
                                "    return float(len(loc)) if ok else -1.0\n"));
    td_params *p = td_calloc(2, sizeof(*p));
    TD_ASSERT(p != NULL);
    for (int i = 0; i < 2; i++) {
        fill_params(&p[i]);
        add_objects(&p[i]);
        p[i].n_objects = i ? TD_MAX_OBJECTS : 3;
        for (int k = 0; k < p[i].n_objects; k++) {
            p[i].objects_location[k][0] = k;
            p[i].objects_location[k][1] = -k;
            p[i].objects_distance[k] = 0.5 * k;
        }
    }
    float out[2];
    td_err err = {0};
    TD_ASSERT_OK(td_reward_batch(r, p, 2, out, &err));
    TD_ASSERT_NEAR(out[0], 3, 0);
    TD_ASSERT_NEAR(out[1], TD_MAX_OBJECTS, 0);
    td_free(p);
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
    td_reward *r = open_ok(write_file("conv.py", "def reward_function(params):\n"
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
    td_reward *r =
        open_ok(write_file("np_reward.py", "import numpy as np\n"
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

TD_TEST(python_is_the_pinned_system_interpreter)
{
    SKIP_WITHOUT_PYTHON();
    /* Debian's python3.11, isolated: not a pyenv or virtualenv Python from the PATH or the
     * environment, and the reward file's directory is not on sys.path. */
    td_reward *r = open_ok(write_file(
        "which.py", "import sys, os\n"
                    "def reward_function(params):\n"
                    "    assert sys.version_info[:2] == (3, 11), sys.version\n"
                    "    assert sys.executable == '/usr/bin/python3.11', sys.executable\n"
                    "    assert not any('pyenv' in p for p in sys.path), sys.path\n"
                    "    here = os.path.dirname(os.path.abspath(__file__))\n"
                    "    assert here not in sys.path, sys.path\n"
                    "    return float(sys.flags.isolated)\n"));
    td_params p;
    fill_params(&p);
    TD_ASSERT_NEAR(call_one(r, &p), 1.0, 0);
    td_reward_close(r);
}

/* examples/rewards/follow_center_line.py is the DeepRacer on AWS console's default reward
 * (CreateModel/constants.ts BASIC_REWARD_FUNCTION: markers at 0.1, 0.25 and 0.5 of the track
 * width, each band's edge inside it (<=), rewards 1.0, 0.5, 0.1, else 1e-3, a float). Checked
 * on each edge and just beyond it, where a rewrite (< for <=, other markers) would differ. */
TD_TEST(follow_center_line_example_is_the_consoles_default_reward)
{
    SKIP_WITHOUT_PYTHON();
    char path[512];
    TD_FMT(path, "%s/examples/rewards/follow_center_line.py", TD_TEST_SOURCE_DIR);
    td_reward *r = open_ok(path);
    td_params p;
    fill_params(&p);
    p.track_width = 10.0; /* markers 1.0, 2.5 and 5.0 m: exact in binary */
    const double w = p.track_width, markers[3] = {0.1 * w, 0.25 * w, 0.5 * w};
    const double inside[4] = {1.0, 0.5, 0.1, 1e-3};
    p.distance_from_center = 0.0;
    TD_ASSERT_NEAR(call_one(r, &p), 1.0, 0);
    for (int i = 0; i < 3; i++) {
        p.distance_from_center = markers[i];
        TD_ASSERT_NEAR(call_one(r, &p), inside[i], 0);
        p.distance_from_center = nextafter(markers[i], INFINITY);
        TD_ASSERT_NEAR(call_one(r, &p), inside[i + 1], 0);
    }
    td_reward_close(r);
}

TD_TEST(python_matches_builtin_over_a_batch)
{
    SKIP_WITHOUT_PYTHON();
    char path[512];
    TD_FMT(path, "%s/examples/rewards/follow_center_line.py", TD_TEST_SOURCE_DIR);
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
        TD_ASSERT_GT(bands[k], 0); /* the batch exercised every band */
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
    TD_FMT(where, "%s:3:", path);
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
    TD_ASSERT_CONTAINS(msg, "DeepRacer allows only math, random, numpy, scipy and shapely");
    TD_ASSERT_CONTAINS(open_fail("/nonexistent/reward_function.py"), "cannot read");
    char nulpath[600];
    TD_FMT(nulpath, "%s/nul.py", td_test_tmpdir());
    FILE *f = fopen(nulpath, "wb");
    TD_ASSERT(f != NULL);
    fwrite("def reward_function(params):\n    return 1.0\0\n", 1, 45, f);
    fclose(f);
    TD_ASSERT_CONTAINS(open_fail(nulpath), "nul.py:2: the file contains a NUL byte");
    td_reward_issue *is = NULL;
    int n_is = 0;
    td_err cerr = {0};
    TD_ASSERT_OK(td_reward_check_source(nulpath, &is, &n_is, &cerr));
    TD_ASSERT(n_is >= 1 && is[0].severity == TD_REWARD_ERROR && is[0].line == 2);
    TD_ASSERT_CONTAINS(is[0].message, "NUL byte");
    td_free(is);
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
    TD_FMT(where, "%s:2: ZeroDivisionError", path);
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
    TD_ASSERT_EQ_INT(json_array_size(json_object_get(params, "objects_location")), 0);
    TD_ASSERT(json_is_array(json_object_get(params, "objects_location")));
    json_decref(o);
    td_free(json);

    char out_path[512];
    TD_FMT(out_path, "%s/logs_reward_error.json", td_test_tmpdir());
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

TD_TEST(error_key_error_hints_the_keys)
{
    SKIP_WITHOUT_PYTHON();
    td_reward *r = open_ok(write_file("keyerr.py", "def reward_function(params):\n"
                                                   "    return params['steering']\n"));
    td_params p;
    fill_params(&p);
    double v;
    td_err err = {0};
    TD_ASSERT_EQ_INT(td_reward_one(r, &p, &v, &err), TD_EREWARD);
    TD_ASSERT_CONTAINS(err.msg, "KeyError");
    TD_ASSERT_CONTAINS(err.msg, "params has no key 'steering'");
    td_reward_close(r);
}

/* Returns the message of a call of a function whose body is `body` (one line). */
static const char *call_fail(const char *name, const char *body, int *code)
{
    static td_err err;
    char src[1024];
    TD_FMT(src, "import math\ndef reward_function(params):\n    %s\n", body);
    td_reward *r = open_ok(write_file(name, src));
    td_params p;
    fill_params(&p);
    p.steps = 31;
    double v = 7;
    memset(&err, 0, sizeof(err));
    *code = td_reward_one(r, &p, &v, &err);
    TD_ASSERT_NE(*code, 0);
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

    /* A bare except catches the first stop; the watchdog raises again one limit later. */
    td_reward *r3 = open_ok(write_file("loop3.py", "def reward_function(params):\n"
                                                   "    try:\n"
                                                   "        while True:\n"
                                                   "            pass\n"
                                                   "    except:\n"
                                                   "        pass\n"
                                                   "    while True:\n"
                                                   "        pass\n"));
    td_reward_set_timeout(r3, 0.2);
    TD_ASSERT_EQ_INT(td_reward_one(r3, &p[0], &v, &err), TD_ETIMEOUT);
    TD_ASSERT_CONTAINS(err.msg, ":7:");
    td_reward_close(r3);
}

TD_TEST(error_timeout_in_module_code)
{
    SKIP_WITHOUT_PYTHON();
    /* A separate limit (default 30 s) applies to the module's own code at load time. */
    td_reward_set_load_timeout(0.5);
    const char *msg = open_fail(write_file("loadloop.py", "while True:\n"
                                                          "    pass\n"
                                                          "def reward_function(params):\n"
                                                          "    return 1.0\n"));
    TD_ASSERT_CONTAINS(msg, "longer than the 0.5 s limit while loading");
}

/* ---- static check, sampled states, examples ------------------------------------------------ */

static int has_issue(const td_reward_issue *is, int n, td_reward_severity sev, int line,
                     const char *text)
{
    for (int i = 0; i < n; i++)
        if (is[i].severity == sev && (line == 0 || is[i].line == line) &&
            strstr(is[i].message, text))
            return 1;
    return 0;
}

TD_TEST(check_source_reports_validator_rules)
{
    SKIP_WITHOUT_PYTHON();
    const char *path = write_file("bad_check.py", "import math\n"
                                                  "import os\n"
                                                  "from subprocess import run\n"
                                                  "import numpy as np\n"
                                                  "from numpy import loadtxt\n"
                                                  "history = []\n"
                                                  "def reward_function(params):\n"
                                                  "    global count\n"
                                                  "    print(params['x'])\n"
                                                  "    f = open('/tmp/x')\n"
                                                  "    v = eval('1 + 1')\n"
                                                  "    m = __import__('os')\n"
                                                  "    a = np.load('w.npy')\n"
                                                  "    history.append(v)\n"
                                                  "    exec('x = 1')\n"
                                                  "    try:\n"
                                                  "        v = 1\n"
                                                  "    except:\n"
                                                  "        pass\n"
                                                  "    return 1.0\n");
    td_reward_issue *is = NULL;
    int n = 0;
    td_err err = {0};
    TD_ASSERT_OK(td_reward_check_source(path, &is, &n, &err));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 2, "import of 'os'"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 3, "'subprocess'"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 5, "the text 'load' appears"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 5, "the text 'loadtxt' appears"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_WARNING, 8, "global count"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_WARNING, 9, "print()"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 10, "use of open()"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 11, "use of eval()"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 12, "the text '__import__' appears"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_WARNING, 14, "module-level 'history'"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 15, "use of exec()"));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 18, "do not use bare 'except'")); /* E722 */
    TD_ASSERT(!has_issue(is, n, TD_REWARD_ERROR, 1, "math"));
    TD_ASSERT(!has_issue(is, n, TD_REWARD_ERROR, 4, "numpy"));
    for (int i = 1; i < n; i++) /* in order of line */
        TD_ASSERT_GE(is[i].line, is[i - 1].line);
    td_free(is);

    /* Syntax errors, a missing function, a wrong signature, an oversized file. */
    TD_ASSERT_OK(
        td_reward_check_source(write_file("c1.py", "def reward_function(p)\n"), &is, &n, &err));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 1, "SyntaxError"));
    td_free(is);
    TD_ASSERT_OK(td_reward_check_source(write_file("c2.py", "def reward(p):\n    return 1\n"), &is,
                                        &n, &err));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 0, "no top-level function reward_function"));
    td_free(is);
    TD_ASSERT_OK(td_reward_check_source(
        write_file("c3.py", "def reward_function(a, b):\n    return 1\n"), &is, &n, &err));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 1, "has 2 parameters"));
    td_free(is);
    size_t big = 140001;
    char *text = malloc(big + 64);
    TD_ASSERT(text != NULL);
    memset(text, '#', big);
    memcpy(text + big, "\ndef reward_function(p):\n    return 1.0\n", 41);
    text[big + 41] = 0;
    TD_ASSERT_OK(td_reward_check_source(write_file("c4.py", text), &is, &n, &err));
    free(text);
    TD_ASSERT(
        has_issue(is, n, TD_REWARD_WARNING, 0, "140,000")); /* the console's, not the validator's */
    td_free(is);

    /* A UTF-8 byte-order mark (Windows editors) is fine; a file in another encoding is not. */
    TD_ASSERT_OK(
        td_reward_check_source(write_file("bom.py", "\xef\xbb\xbf"
                                                    "def reward_function(p):\n    return 1.0\n"),
                               &is, &n, &err));
    TD_ASSERT_EQ_INT(n, 0);
    td_free(is);
    TD_ASSERT_OK(td_reward_check_source(
        write_file("latin1.py", "# caf\xe9\ndef reward_function(p):\n    return 1.0\n"), &is, &n,
        &err));
    TD_ASSERT(has_issue(is, n, TD_REWARD_ERROR, 1, "not UTF-8 (byte 0xe9 at line 1, column 6)"));
    td_free(is);
    /* Loading it (as train does) fails with the same message. */
    td_reward *bad = NULL;
    TD_ASSERT_EQ_INT(
        td_reward_open(
            &bad, write_file("latin1b.py", "# caf\xe9\ndef reward_function(p):\n    return 1.0\n"),
            NULL, &err),
        TD_EREWARD);
    TD_ASSERT_CONTAINS(err.msg,
                       "latin1b.py:1:6: the file is not UTF-8 (byte 0xe9 at line 1, column 6)");
    /* A declared encoding is Python's (PEP 263): accepted. */
    TD_ASSERT_OK(td_reward_check_source(
        write_file(
            "latin1c.py",
            "# -*- coding: latin-1 -*-\n# caf\xe9\ndef reward_function(p):\n    return 1.0\n"),
        &is, &n, &err));
    TD_ASSERT_EQ_INT(n, 0);
    td_free(is);
    td_reward *r = open_ok(write_file("bom2.py", "\xef\xbb\xbf"
                                                 "def reward_function(p):\n    return 2.0\n"));
    td_params p;
    fill_params(&p);
    TD_ASSERT_NEAR(call_one(r, &p), 2.0, 0);
    td_reward_close(r);
}

static int load_track(const char *name, td_track *t)
{
    char path[1024];
    td_err err = {0};
    TD_FMT(path, "%s/%s.npy", TD_SHARED_TRACKS, name);
    int rc = td_track_load(t, path, &err);
    if (rc)
        TD_FAIL("load %s: %s", path, err.msg);
    return rc;
}

TD_TEST(samples_cover_the_situations)
{
    td_track t, rev;
    load_track("reInvent2019_track", &t);
    td_err err = {0};
    TD_ASSERT_OK(td_track_reverse(&rev, &t, &err));
    static td_reward_sample s[TD_REWARD_MAX_SAMPLES];
    int n = td_reward_samples(&t, &rev, s, TD_REWARD_MAX_SAMPLES);
    TD_ASSERT_GE(n, 25);
    int centre = 0, off = 0, partly = 0, objects = 0, crashed = 0, reversed = 0, camera = 0;
    for (int i = 0; i < n; i++) {
        const td_params *p = &s[i].params;
        TD_ASSERT_NE(s[i].label[0], 0);
        TD_ASSERT_NEAR(p->track_length, p->is_reversed ? rev.length : t.length, 1e-9);
        TD_ASSERT_EQ(p->waypoints, (p->is_reversed ? rev.center : t.center));
        TD_ASSERT_EQ(p->closest_waypoints[1], p->closest_waypoints[0] + 1);
        if (strncmp(s[i].label, "centre line at", 14) == 0) {
            centre++;
            TD_ASSERT_LT(p->distance_from_center, 0.01);
            TD_ASSERT(p->all_wheels_on_track);
        }
        off += p->is_offtrack;
        partly += !p->all_wheels_on_track && !p->is_offtrack;
        objects += p->n_objects > 0;
        crashed += p->is_crashed;
        reversed += p->is_reversed;
        camera += p->object_in_camera;
        if (strstr(s[i].label, "outside the left border")) {
            TD_ASSERT(p->is_offtrack && p->is_left_of_center);
            TD_ASSERT_GT(p->distance_from_center, 0.5 * p->track_width + 0.4);
        }
    }
    TD_ASSERT_EQ_INT(centre, 8);
    TD_ASSERT_EQ_INT(off, 2);
    TD_ASSERT_GE(partly, 2);
    TD_ASSERT_GE(objects, 4);
    TD_ASSERT_GE(crashed, 1);
    TD_ASSERT_GE(reversed, 2);
    TD_ASSERT_GE(camera, 1);
    td_track_free(&rev);
    td_track_free(&t);
}

TD_TEST(probe_params_match_the_simulator)
{
    /* The check's params (a full projection) against the simulator's at the same pose. */
    td_track t;
    load_track("reInvent2019_track", &t);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.mode = TD_MODE_EVAL;
    td_vecenv env;
    td_err err = {0};
    TD_ASSERT_OK(td_vecenv_init(&env, &cfg, &t, 1, &err));
    float actions[2] = {0, 1}, obs[TD_STATE_DIM], rewards[1];
    uint8_t dones[1];
    td_params sp[1];
    env.actions = actions;
    env.obs_state = obs;
    env.rewards = rewards;
    env.dones = dones;
    env.params = sp;
    td_vecenv_reset(&env);
    td_rng rng;
    td_rng_seed(&rng, 3, 0);
    for (int k = 0; k < 40; k++) {
        double s = td_rng_range(&rng, 0, t.length), x, y, h;
        td_track_point_at(&t, s, td_rng_range(&rng, -0.6, 0.6) * t.width[0], &x, &y, &h);
        double yaw = h + td_rng_range(&rng, -0.5, 0.5);
        td_vecenv_teleport(&env, 0, x, y, yaw, 1.0);
        const td_params *q = &sp[0];
        td_reward_probe pr = {0};
        pr.x = q->x;
        pr.y = q->y;
        pr.heading_deg = q->heading;
        td_params p;
        td_reward_probe_params(&t, &pr, &p);
        TD_ASSERT_NEAR(p.distance_from_center, q->distance_from_center, 1e-6);
        TD_ASSERT_NEAR(p.projection_distance, q->projection_distance, 1e-6);
        TD_ASSERT_NEAR(p.track_width, q->track_width, 1e-9);
        TD_ASSERT_EQ_INT(p.closest_waypoints[0], q->closest_waypoints[0]);
        TD_ASSERT_EQ_INT(p.is_left_of_center, q->is_left_of_center);
        TD_ASSERT_EQ_INT(p.all_wheels_on_track, q->all_wheels_on_track);
        TD_ASSERT_EQ_INT(p.is_offtrack, q->is_offtrack);
    }
    td_vecenv_free(&env);
    td_track_free(&t);
}

#include <dirent.h>

/* The examples directory's .py files (sorted names in a static list). */
static int list_examples(char names[][128], int max)
{
    char dir[512];
    TD_FMT(dir, "%s/examples/rewards", TD_TEST_SOURCE_DIR);
    DIR *d = opendir(dir);
    TD_ASSERT(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".py") == 0) {
            TD_ASSERT_LT(len, 128);
            memcpy(names[n++], e->d_name, len + 1);
        }
    }
    closedir(d);
    return n;
}

TD_TEST(examples_cover_every_key_and_teach_an_idea)
{
    static char names[64][128];
    int n = list_examples(names, 64);
    TD_ASSERT_GE(n, 20);
    static const char *keys[] = {"x",
                                 "y",
                                 "heading",
                                 "speed",
                                 "steering_angle",
                                 "progress",
                                 "steps",
                                 "track_length",
                                 "track_width",
                                 "waypoints",
                                 "closest_waypoints",
                                 "distance_from_center",
                                 "is_left_of_center",
                                 "all_wheels_on_track",
                                 "is_offtrack",
                                 "is_crashed",
                                 "is_reversed",
                                 "closest_objects",
                                 "objects_location",
                                 "objects_distance",
                                 "objects_distance_from_center",
                                 "objects_left_of_center",
                                 "objects_speed",
                                 "objects_heading",
                                 "object_in_camera",
                                 "projection_distance",
                                 "sim_time"};
    int used[sizeof(keys) / sizeof(keys[0])] = {0};
    for (int i = 0; i < n; i++) {
        char path[700];
        TD_FMT(path, "%s/examples/rewards/%s", TD_TEST_SOURCE_DIR, names[i]);
        char *text = NULL;
        size_t len;
        td_err err = {0};
        TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
        TD_ASSERT_MSG(strncmp(text, "# Idea:", 7) == 0, "%s opens without '# Idea:'", names[i]);
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            char quoted[64];
            TD_FMT(quoted, "'%s'", keys[k]);
            used[k] += strstr(text, quoted) != NULL;
        }
        td_free(text);
    }
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        TD_ASSERT_MSG(used[k] > 0, "no example reads params['%s']", keys[k]);
}

TD_TEST(examples_pass_reward_check)
{
    SKIP_WITHOUT_PYTHON();
    static char names[64][128];
    int n = list_examples(names, 64);
    TD_ASSERT_GE(n, 20);
    for (int i = 0; i < n; i++) {
        char cmd[2048];
        TD_FMT(cmd,
               "%s reward check %s/examples/rewards/%s --track %s/reInvent2019_track.npy "
               ">%s/check_out.txt 2>&1",
               TD_TEST_TRACKDAY_BIN, TD_TEST_SOURCE_DIR, names[i], TD_SHARED_TRACKS,
               td_test_tmpdir());
        int rc = td_test_run(cmd, NULL, NULL);
        if (rc != 0) {
            char out[700];
            TD_FMT(out, "cat %s/check_out.txt >&2", td_test_tmpdir());
            TD_ASSERT_EQ_INT(td_test_run(out, NULL, NULL), 0);
            TD_FAIL("trackday reward check %s failed (status %d)", names[i], rc);
        }
    }
}

TD_TEST(check_cli_fails_on_errors)
{
    SKIP_WITHOUT_PYTHON();
    char cmd[2048];
    const char *bad = write_file("cli_bad.py", "import os\n"
                                               "def reward_function(params):\n"
                                               "    return 1.0\n");
    TD_FMT(cmd, "%s reward check %s --track %s/Oval_track.npy >%s/o1.txt 2>&1",
           TD_TEST_TRACKDAY_BIN, bad, TD_SHARED_TRACKS, td_test_tmpdir());
    char *text;
    int rc = td_test_run(cmd, NULL, NULL);
    TD_ASSERT_EQ_INT(rc, 1);
    TD_FMT(cmd, "%s/o1.txt", td_test_tmpdir());
    text = td_test_slurp(cmd);
    TD_ASSERT_CONTAINS(text, "import of 'os'");
    td_free(text);
    /* A function that fails only in some states: the table shows which, with the traceback. */
    const char *flaky =
        write_file("cli_flaky.py", "def reward_function(params):\n"
                                   "    print('hello-from-reward', params['steps'])\n"
                                   "    if params['is_offtrack']:\n"
                                   "        return params['objects_locaton'][0][0]\n"
                                   "    return 1.0\n");
    TD_FMT(cmd, "%s reward check %s --track %s/Oval_track.npy >%s/o2.txt 2>&1",
           TD_TEST_TRACKDAY_BIN, flaky, TD_SHARED_TRACKS, td_test_tmpdir());
    rc = td_test_run(cmd, NULL, NULL);
    TD_ASSERT_EQ_INT(rc, 1);
    char path[600], *out = NULL;
    size_t len;
    td_err err = {0};
    TD_FMT(path, "%s/o2.txt", td_test_tmpdir());
    TD_ASSERT_OK(td_file_read(path, &out, &len, &err));
    TD_ASSERT_CONTAINS(out, "off track, 0.45 m outside the left border");
    TD_ASSERT_CONTAINS(out, "ERROR");
    TD_ASSERT_CONTAINS(out, "KeyError");
    TD_ASSERT_CONTAINS(out, "cli_flaky.py:4:");
    TD_ASSERT_CONTAINS(out, "hello-from-reward"); /* the function's prints are not lost */
    TD_ASSERT_CONTAINS(out, "cannot tell good driving from bad");
    /* The validator's off-track state fails too: one more error, with its rule. */
    TD_ASSERT_CONTAINS(
        out, "error [test input]: reward_function failed on the validator's off-track car state");
    TD_ASSERT_CONTAINS(out, "FAILED: 3 errors, 2 warnings");
    td_free(out);

    /* The same as JSON, for tools and the hub. */
    TD_FMT(cmd, "%s reward check %s --json --track %s/Oval_track.npy >%s/o3.json 2>/dev/null",
           TD_TEST_TRACKDAY_BIN, flaky, TD_SHARED_TRACKS, td_test_tmpdir());
    rc = td_test_run(cmd, NULL, NULL);
    TD_ASSERT_EQ_INT(rc, 1);
    TD_FMT(path, "%s/o3.json", td_test_tmpdir());
    json_t *o = NULL;
    TD_ASSERT_OK(td_json_load_file(path, &o, &err));
    TD_ASSERT(json_is_false(json_object_get(o, "ok")));
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(o, "errors")), 3);
    json_t *samples = json_object_get(o, "samples");
    TD_ASSERT_GE(json_array_size(samples), 25);
    int failed = 0;
    for (size_t i = 0; i < json_array_size(samples); i++) {
        json_t *smp = json_array_get(samples, i);
        const char *e = json_string_value(json_object_get(smp, "error"));
        if (e) {
            failed++;
            TD_ASSERT_CONTAINS(e, "KeyError");
            TD_ASSERT(json_is_null(json_object_get(smp, "reward")));
        } else {
            TD_ASSERT_NEAR(json_number_value(json_object_get(smp, "reward")), 1.0, 0);
        }
    }
    TD_ASSERT_EQ_INT(failed, 2);
    json_decref(o);
}

TD_TEST(explain_drives_two_laps_and_draws_them)
{
    td_track t;
    load_track("reInvent2019_track", &t);
    td_reward *r = open_ok("builtin:follow_center_line");
    td_explain_lap laps[2];
    td_err err = {0};
    TD_ASSERT_OK(td_explain_drive_lap(r, &t, NULL, TD_DRIVER_PURE_PURSUIT, 3000, &laps[0], &err));
    TD_ASSERT_OK(td_explain_drive_lap(r, &t, NULL, TD_DRIVER_ZIGZAG, 3000, &laps[1], &err));
    for (int k = 0; k < 2; k++) {
        TD_ASSERT(!laps[k].failed);
        TD_ASSERT_GT(laps[k].n, 50);
        TD_ASSERT_STREQ(laps[k].status, "lap_complete");
        TD_ASSERT_GT(laps[k].progress[laps[k].n - 1], 99.0);
        for (int i = 0; i < laps[k].n; i++) /* each step's reward is the host's */
            TD_ASSERT(laps[k].reward[i] == 1.0f || laps[k].reward[i] == 0.5f ||
                      laps[k].reward[i] == 0.1f || laps[k].reward[i] == 0.001f);
    }
    TD_ASSERT_GT(laps[1].n, laps[0].n); /* zig-zagging is slower */
    char svg[600];
    TD_FMT(svg, "%s/explain.svg", td_test_tmpdir());
    TD_ASSERT_OK(td_explain_svg(svg, &t, laps, 2, "a <title> & more", &err));
    char *text = NULL;
    size_t len;
    TD_ASSERT_OK(td_file_read(svg, &text, &len, &err));
    TD_ASSERT_CONTAINS(text, "<svg");
    TD_ASSERT_CONTAINS(text, "a &lt;title&gt; &amp; more");
    TD_ASSERT_CONTAINS(text, "racing line: ");
    TD_ASSERT_CONTAINS(text, "zig-zag: ");
    /* Each lap is one track view (trackview.c, as every track picture) with its lap. */
    int views = 0, lapn = 0;
    for (const char *s = text; (s = strstr(s, "class=\"track-view\"")); s++)
        views++;
    for (const char *s = text; (s = strstr(s, "class=\"lap\"")); s++)
        lapn++;
    TD_ASSERT_EQ_INT(views, 2);
    TD_ASSERT_EQ_INT(lapn, 2);
    TD_ASSERT_CONTAINS(text, ">reward<");
    td_free(text);
    /* The file is well-formed XML (Python's parser, when available). */
    char cmd[1200];
    TD_FMT(cmd,
           "/usr/bin/python3 -c \"import xml.dom.minidom,sys; "
           "xml.dom.minidom.parse(sys.argv[1])\" %s",
           svg);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    td_explain_lap_free(&laps[0]);
    td_explain_lap_free(&laps[1]);
    td_reward_close(r);
    td_track_free(&t);
}

TD_TEST(explain_cli_with_python)
{
    SKIP_WITHOUT_PYTHON();
    char cmd[2048], out[600];
    TD_FMT(out, "%s/cli.svg", td_test_tmpdir());
    TD_FMT(cmd,
           "%s reward explain %s/examples/rewards/progress_per_step.py --track "
           "%s/reInvent2019_track.npy --out %s >%s/explain.txt 2>&1",
           TD_TEST_TRACKDAY_BIN, TD_TEST_SOURCE_DIR, TD_SHARED_TRACKS, out, td_test_tmpdir());
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_ASSERT(td_path_exists(out));
    char path[600], *text = NULL;
    size_t len;
    td_err err = {0};
    TD_FMT(path, "%s/explain.txt", td_test_tmpdir());
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    TD_ASSERT_CONTAINS(text, "racing line");
    TD_ASSERT_CONTAINS(text, "zig-zag");
    TD_ASSERT_CONTAINS(text, "90-100%");
    td_free(text);
}

/* Newcomer audit: explain wrote ./reward_explain.svg wherever the user stood. Given a model
 * directory (or the reward_function.py in one) it drives the model's own track and writes
 * DIR/plots/reward_explain.svg, saying so; a bare file without --out still writes into the
 * current directory, and the line names it in full and says how to choose another place. */
TD_TEST(explain_writes_beside_the_model_and_says_where)
{
    SKIP_WITHOUT_PYTHON();
    char cmd[4096], dir[600], *out = NULL;
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(cmd, "mkdir -p '%s/cwd' && '%s' init '%s/m' --sensor state --track oval >/dev/null", dir,
           TD_TEST_TRACKDAY_BIN, dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    static const char *const args[] = {"'%s/m'", "'%s/m/reward_function.py'"};
    for (int k = 0; k < 2; k++) {
        char arg[700], want[800];
        TD_FMT(arg, args[k], dir);
        TD_FMT(cmd, "cd '%s/cwd' && '%s' reward explain %s", dir, TD_TEST_TRACKDAY_BIN, arg);
        TD_ASSERT_EQ_INT(td_test_run(cmd, &out, NULL), 0);
        TD_ASSERT_CONTAINS(out, "reward along two laps of oval"); /* WORLD_NAME, not the default */
        TD_FMT(want, "picture: %s/m/plots/reward_explain.svg\n", dir);
        TD_ASSERT_CONTAINS(out, want);
        td_free(out);
        TD_FMT(want, "%s/m/plots/reward_explain.svg", dir);
        TD_ASSERT(td_path_exists(want));
        TD_FMT(want, "%s/cwd/reward_explain.svg", dir);
        TD_ASSERT(!td_path_exists(want));
    }
    TD_FMT(cmd, "cd '%s/cwd' && '%s' reward explain builtin:follow_center_line --track oval", dir,
           TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_EQ_INT(td_test_run(cmd, &out, NULL), 0);
    char want[800];
    TD_FMT(want,
           "picture: %s/cwd/reward_explain.svg (the current directory; --out chooses another "
           "place)\n",
           dir);
    TD_ASSERT_CONTAINS(out, want);
    td_free(out);
    /* A place that does not exist is refused before the laps are driven. */
    TD_FMT(cmd, "'%s' reward explain builtin:follow_center_line --track oval --out '%s/no/x.svg'",
           TD_TEST_TRACKDAY_BIN, dir);
    char *errs = NULL;
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, &errs), 1);
    TD_FMT(want, "--out %s/no/x.svg: there is no folder %s/no", dir, dir);
    TD_ASSERT_CONTAINS(errs, want);
    td_free(errs);
    /* A directory that is not a model directory: the error names what is missing. */
    TD_FMT(cmd, "'%s' reward explain '%s/cwd'", TD_TEST_TRACKDAY_BIN, dir);
    errs = NULL;
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, &errs), 1);
    TD_ASSERT_CONTAINS(errs, "no model_metadata.json");
    td_free(errs);
}

/* ---- threads ------------------------------------------------------------------------- */

#include <pthread.h>

typedef struct {
    td_reward *r;
    double scale;
    int bad;
} thread_job;

static void *thread_calls(void *arg)
{
    thread_job *j = arg;
    td_params p[8];
    float out[8];
    for (int rep = 0; rep < 100; rep++) {
        for (int i = 0; i < 8; i++) {
            fill_params(&p[i]);
            p[i].steps = rep * 8 + i;
        }
        td_err err = {0};
        if (td_reward_batch(j->r, p, 8, out, &err)) {
            j->bad++;
            continue;
        }
        for (int i = 0; i < 8; i++)
            if (out[i] != (float)(j->scale * (rep * 8 + i)))
                j->bad++;
    }
    return NULL;
}

TD_TEST(python_hosts_called_from_other_threads)
{
    SKIP_WITHOUT_PYTHON();
    /* Two hosts, opened here, called from two other threads at once (and one host from two
     * threads): the GIL and the per-host lock keep every result right. */
    td_reward *a = open_ok(write_file("ta.py", "def reward_function(params):\n"
                                               "    return params['steps'] * 2.0\n"));
    td_reward *b = open_ok(write_file("tb.py", "import math\n"
                                               "def reward_function(params):\n"
                                               "    return params['steps'] * 3.0\n"));
    thread_job jobs[3] = {{a, 2.0, 0}, {b, 3.0, 0}, {a, 2.0, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        TD_ASSERT_EQ_INT(pthread_create(&th[i], NULL, thread_calls, &jobs[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        TD_ASSERT_EQ_INT(jobs[i].bad, 0);
    td_reward_close(a);
    td_reward_close(b);
}

TD_TEST(params_json_has_every_key)
{
    td_params p;
    fill_params(&p);
    add_objects(&p);
    char *text = NULL;
    td_err err = {0};
    TD_ASSERT_OK(td_params_to_json(&p, &text, &err));
    json_t *o = NULL;
    TD_ASSERT_OK(td_json_parse(text, strlen(text), "params", &o, &err));
    TD_ASSERT_EQ_INT(json_object_size(o), 27);
    TD_ASSERT_NEAR(json_number_value(json_object_get(o, "heading")), 45.5, 0);
    TD_ASSERT(json_is_real(json_object_get(o, "steps"))); /* DeepRacer's steps is a float */
    TD_ASSERT_NEAR(json_real_value(json_object_get(o, "steps")), 42, 0);
    TD_ASSERT_STREQ(json_object_iter_key(json_object_iter(o)), "all_wheels_on_track");
    TD_ASSERT(json_is_true(json_object_get(o, "is_reversed")));
    TD_ASSERT_EQ_INT(json_array_size(json_object_get(o, "objects_location")), 2);
    TD_ASSERT(json_is_true(json_object_get(o, "object_in_camera")));
    json_decref(o);
    td_free(text);
    p.n_objects = 0;
    p.x = NAN; /* not representable in JSON: null */
    TD_ASSERT_OK(td_params_to_json(&p, &text, &err));
    TD_ASSERT_OK(td_json_parse(text, strlen(text), "params", &o, &err));
    TD_ASSERT_EQ_INT(json_object_size(o), 27); /* a time trial has every key too */
    TD_ASSERT_EQ_INT(json_array_size(json_object_get(o, "objects_location")), 0);
    TD_ASSERT_EQ_INT(json_integer_value(json_array_get(json_object_get(o, "closest_objects"), 1)),
                     0);
    TD_ASSERT(json_is_false(json_object_get(o, "object_in_camera")));
    TD_ASSERT(json_is_null(json_object_get(o, "x")));
    json_decref(o);
    td_free(text);
}

TD_TEST(python_reward_as_the_vecenv_callback)
{
    SKIP_WITHOUT_PYTHON();
    /* As training runs it: the Python host is the env's batch callback for 16 cars driven
     * by the built-in driver; every reward equals the C built-in on the same params. */
    td_track t;
    load_track("reInvent2019_track", &t);
    char path[512];
    TD_FMT(path, "%s/examples/rewards/follow_center_line.py", TD_TEST_SOURCE_DIR);
    td_reward *r = NULL;
    td_err err = {0};
    TD_ASSERT_OK(td_reward_open(&r, path, &t, &err));
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    enum { N = 16 };
    td_vecenv env;
    TD_ASSERT_OK(td_vecenv_init(&env, &cfg, &t, N, &err));
    static float actions[N * 2], obs[N * TD_STATE_DIM], rewards[N];
    static uint8_t dones[N];
    static td_params params[N];
    env.actions = actions;
    env.obs_state = obs;
    env.rewards = rewards;
    env.dones = dones;
    env.params = params;
    env.reward_fn = td_reward_batch_cb;
    env.reward_user = r;
    td_vecenv_reset(&env);
    static td_driver drv[N];
    for (int i = 0; i < N; i++) {
        td_driver_config dc;
        td_driver_config_default(&dc, i % 2 ? TD_DRIVER_ZIGZAG : TD_DRIVER_PURE_PURSUIT);
        TD_ASSERT_OK(td_driver_init(&drv[i], &dc, td_vecenv_track(&env, i), &err));
    }
    td_reward_c_fn c = td_reward_builtin_find("follow_center_line");
    int compared = 0, levels[2] = {0, 0};
    for (int step = 0; step < 150; step++) {
        for (int i = 0; i < N; i++) {
            double st, sp;
            td_driver_act(&drv[i], &env.cfg.car, td_vecenv_car(&env, i), &params[i], &st, &sp);
            actions[2 * i] = (float)st;
            actions[2 * i + 1] = (float)sp;
        }
        td_vecenv_step(&env);
        TD_ASSERT_EQ_INT(td_reward_failed(r), 0);
        for (int i = 0; i < N; i++) {
            if (dones[i]) { /* params already hold the next episode's start */
                td_driver_reset(&drv[i]);
                continue;
            }
            if (td_vecenv_step_status(&env, i) == TD_EP_PREPARE) {
                /* DeepRacer's prepare step: the function is not called, the reward is 0. */
                TD_ASSERT_NEAR(rewards[i], 0.0f, 0);
                continue;
            }
            TD_ASSERT_NEAR(rewards[i], (float)c(&params[i]), 0);
            levels[rewards[i] == 1.0f]++;
            compared++;
        }
    }
    TD_ASSERT_GT(compared, N * 100);
    TD_ASSERT(levels[0] > 0 && levels[1] > 0);
    for (int i = 0; i < N; i++)
        td_driver_free(&drv[i]);
    td_vecenv_free(&env);
    td_reward_close(r);
    td_track_free(&t);
}

TD_TEST(open_survives_allocation_failures)
{
    /* Every trackday allocation of an open fails in turn: a clean error, nothing leaked. */
    const char *py = td_reward_python_available()
                         ? write_file("oom.py", "def reward_function(params):\n    return 1.0\n")
                         : NULL;
    const char *specs[2] = {"builtin:follow_center_line", py};
    for (int s = 0; s < 2; s++) {
        if (!specs[s])
            continue;
        int opened = 0;
        for (int k = 0; k < 20 && !opened; k++) {
            td_reward *r = NULL;
            td_err err = {0};
            td_alloc_fail_after(k);
            int rc = td_reward_open(&r, specs[s], NULL, &err);
            td_alloc_fail_after(-1);
            if (rc == 0) {
                opened = 1;
                td_params p;
                fill_params(&p);
                TD_ASSERT_GT(call_one(r, &p), 0);
                td_reward_close(r);
            } else {
                TD_ASSERT(r == NULL);
                TD_ASSERT_NE(err.msg[0], 0);
            }
        }
        TD_ASSERT(opened);
    }
}

TD_TEST(explain_object_avoidance_lap_sees_objects)
{
    SKIP_WITHOUT_PYTHON();
    /* Through the simulator, an object-avoidance race gives the function its object keys. */
    td_track t;
    load_track("reInvent2019_track", &t);
    td_reward *r =
        open_ok(write_file("count_objects.py", "def reward_function(params):\n"
                                               "    n = len(params.get('objects_location', []))\n"
                                               "    assert len(params['objects_distance']) == n\n"
                                               "    assert params['closest_objects'][1] < n\n"
                                               "    return float(n)\n"));
    td_race_config race;
    td_race_config_default(&race);
    race.race_type = TD_RACE_OBJECT_AVOIDANCE;
    race.number_of_obstacles = 2;
    /* From 20 % of the lap on, so the driver has a stretch before the first one. */
    race.min_distance_between_obstacles = 20.0;
    td_explain_lap lap;
    td_err err = {0};
    TD_ASSERT_OK(td_explain_drive_lap(r, &t, &race, TD_DRIVER_PURE_PURSUIT, 2000, &lap, &err));
    TD_ASSERT_MSG(!lap.failed, "%s", err.msg);
    TD_ASSERT_EQ_INT(lap.n_objects, 2);
    TD_ASSERT_GT(lap.n, 20);
    for (int i = 0; i < lap.n; i++)
        TD_ASSERT_NEAR(lap.reward[i], 2.0, 0);
    td_explain_lap_free(&lap);
    td_reward_close(r);
    td_track_free(&t);
}

TD_TEST(bench_reward_prints_json_lines)
{
    SKIP_WITHOUT_PYTHON();
    /* A smoke run (no timing asserted): the benchmark's lines parse and name their values. */
    char cmd[2048], path[600];
    TD_FMT(path, "%s/bench.txt", td_test_tmpdir());
    TD_FMT(cmd, "%s bench reward --rounds 2 --track %s/reInvent2019_track.npy >%s",
           TD_TEST_TRACKDAY_BIN, TD_SHARED_TRACKS, path);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    char *text = NULL;
    size_t len;
    td_err err = {0};
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    const char *want[] = {"python_reward_us_per_call",
                          "python_reward_overhead_us_per_call",
                          "python_reward_in_process_us_per_call",
                          "sandbox_in_process_ratio",
                          "c_reward_us_per_call",
                          "python_c_reward_ratio"};
    enum { N_WANT = sizeof(want) / sizeof(want[0]) };
    int found = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        json_t *o = NULL;
        TD_ASSERT_OK(td_json_parse(line, strlen(line), "bench line", &o, &err));
        const char *name = json_string_value(json_object_get(o, "bench"));
        TD_ASSERT(name != NULL);
        TD_ASSERT_GT(json_number_value(json_object_get(o, "value")), 0);
        for (int k = 0; k < N_WANT; k++)
            found += strcmp(name, want[k]) == 0;
        /* The sandboxed call is timed on both clocks, its CPU time including the reward
         * process's (td_reward_process_cpu_s). */
        if (strcmp(name, "python_reward_us_per_call") == 0) {
            TD_ASSERT_GT(json_number_value(json_object_get(o, "wall_us")), 0);
            TD_ASSERT_STREQ(json_string_value(json_object_get(o, "host")), "sandboxed process");
        }
        json_decref(o);
        line = nl ? nl + 1 : line + strlen(line);
    }
    TD_ASSERT_EQ_INT(found, N_WANT);
    td_free(text);
}

TD_TEST(python_waypoints_follow_a_new_track_at_the_same_address)
{
    SKIP_WITHOUT_PYTHON();
    /* A track freed and another loaded at the same address must not reuse the old list. */
    td_reward *r = open_ok(write_file("wp.py", "def reward_function(params):\n"
                                               "    return params['waypoints'][-1][0]\n"));
    double *wp = td_malloc(sizeof(double) * 8);
    for (int i = 0; i < 8; i++)
        wp[i] = i;
    td_params p;
    fill_params(&p);
    p.waypoints = wp;
    p.n_waypoints = 4;
    TD_ASSERT_NEAR(call_one(r, &p), 6.0, 0);
    TD_ASSERT_NEAR(call_one(r, &p), 6.0, 0);
    wp[6] = 42.0;
    TD_ASSERT_NEAR(call_one(r, &p), 42.0, 0);
    td_free(wp);
    td_reward_close(r);
}

/* ---- the sandbox ------------------------------------------------------------------------ */

/* Opens a reward with body as reward_function's body and calls it once; returns the error
 * message (static) and fills *kind. Fails the test if the call succeeds. */
static const char *sandbox_fail(const char *name, const char *module, const char *body,
                                td_reward_error_kind *kind, double timeout)
{
    static char msg[TD_ERR_MSG_LEN];
    char text[2048];
    TD_FMT(text, "%s\ndef reward_function(params):\n%s\n", module, body);
    td_reward *r = open_ok(write_file(name, text));
    if (timeout > 0)
        td_reward_set_timeout(r, timeout);
    td_params p;
    fill_params(&p);
    double v;
    td_err err = {0};
    int rc = td_reward_one(r, &p, &v, &err);
    TD_ASSERT_MSG(rc != 0, "%s: the call succeeded (%g)", name, v);
    snprintf(msg, sizeof(msg), "%s", err.msg);
    *kind = td_reward_last_error(r)->kind;
    td_reward_close(r);
    return msg;
}

TD_TEST(sandbox_stops_a_socket)
{
    SKIP_WITHOUT_PYTHON();
    td_reward_error_kind k;
    const char *m = sandbox_fail("sock.py", "import socket",
                                 "    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
                                 "    return 1.0",
                                 &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_SANDBOX);
    TD_ASSERT_CONTAINS(m, "sock.py:3: the sandbox stopped the reward function at step 42 (car 0)");
    TD_ASSERT_CONTAINS(m, "network access (socket.__new__) is not allowed");
    TD_ASSERT_CONTAINS(m, "s = socket.socket(");
    /* Catching the error does not hide the attempt. */
    m = sandbox_fail("sock2.py", "import socket",
                     "    try:\n"
                     "        socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
                     "    except Exception:\n"
                     "        pass\n"
                     "    return 1.0",
                     &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_SANDBOX);
    TD_ASSERT_CONTAINS(m, "network access (socket.");
}

TD_TEST(sandbox_stops_reading_etc_passwd)
{
    SKIP_WITHOUT_PYTHON();
    td_reward_error_kind k;
    const char *m = sandbox_fail("passwd.py", "",
                                 "    data = open('/etc/passwd').read()\n"
                                 "    return float(len(data))",
                                 &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_SANDBOX);
    TD_ASSERT_CONTAINS(m, "reading '/etc/passwd' is not allowed");
    TD_ASSERT_CONTAINS(m, "passwd.py:3:");
    /* Without a flagged construct (the newcomer audit's validator bypass), and through a
     * file descriptor: the same. */
    m = sandbox_fail("passwd2.py", "import random",
                     "    fd = random._os.open('/etc/hostname', 0)\n"
                     "    return 1.0",
                     &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_SANDBOX);
    TD_ASSERT_CONTAINS(m, "reading '/etc/hostname' is not allowed");
    /* Below the guards (ctypes straight to libc) the file is simply not there. */
    td_reward *r =
        open_ok(write_file("passwd3.py", "import ctypes\n"
                                         "libc = ctypes.CDLL(None)\n"
                                         "def reward_function(params):\n"
                                         "    return float(libc.open(b'/etc/passwd', 0))\n"));
    td_params p;
    fill_params(&p);
    TD_ASSERT_NEAR(call_one(r, &p), -1.0, 0);
    td_reward_close(r);
}

TD_TEST(sandbox_stops_writes_outside_the_scratch_directory)
{
    SKIP_WITHOUT_PYTHON();
    char canary[512], text[1024];
    TD_FMT(canary, "%s/canary.txt", td_test_tmpdir());
    td_test_write(canary, "precious");
    td_reward_error_kind k;
    TD_FMT(text, "    open('%s', 'w').write('overwritten')\n    return 1.0", canary);
    const char *m = sandbox_fail("write.py", "", text, &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_SANDBOX);
    TD_ASSERT_CONTAINS(m, "writing '");
    TD_ASSERT_CONTAINS(m, "canary.txt' is not allowed: a reward function may write only in its "
                          "scratch directory");
    TD_FMT(text, "    os.remove('%s')\n    return 1.0", canary);
    m = sandbox_fail("remove.py", "import os", text, &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_SANDBOX);
    TD_ASSERT_CONTAINS(m, "changing files outside the scratch directory (os.remove '");
    char *left = td_test_slurp(canary);
    TD_ASSERT_STREQ(left, "precious");
    td_free(left);
    /* Its own scratch directory is writable. */
    td_reward *r =
        open_ok(write_file("scratch.py", "def reward_function(params):\n"
                                         "    with open('notes.txt', 'a') as f:\n"
                                         "        f.write('x')\n"
                                         "    return float(len(open('notes.txt').read()))\n"));
    td_params p;
    fill_params(&p);
    TD_ASSERT_NEAR(call_one(r, &p), 1.0, 0);
    TD_ASSERT_NEAR(call_one(r, &p), 2.0, 0);
    td_reward_close(r);
}

TD_TEST(sandbox_stops_forks_and_signals)
{
    SKIP_WITHOUT_PYTHON();
    td_reward_error_kind k;
    const char *m = sandbox_fail("fork.py", "import os",
                                 "    while True:\n"
                                 "        os.fork()\n"
                                 "    return 1.0",
                                 &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_SANDBOX);
    TD_ASSERT_CONTAINS(m, "starting a process (os.fork) is not allowed");
    TD_ASSERT_CONTAINS(m, "fork.py:4:");
    m = sandbox_fail("kill.py", "import os, signal", "    os.kill(os.getpid(), signal.SIGKILL)", &k,
                     0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_SANDBOX);
    TD_ASSERT_CONTAINS(m, "sending a signal (os.kill) is not allowed");
    /* Below the guards the kernel refuses the fork, and a signal the process sends itself
     * ends only the reward process: the error says so. */
    td_reward *r = open_ok(write_file("cfork.py", "import ctypes\n"
                                                  "libc = ctypes.CDLL(None)\n"
                                                  "def reward_function(params):\n"
                                                  "    return float(libc.fork())\n"));
    td_params p;
    fill_params(&p);
    TD_ASSERT_NEAR(call_one(r, &p), -1.0, 0);
    td_reward_close(r);
    m = sandbox_fail("ckill.py", "import ctypes",
                     "    ctypes.CDLL(None).kill(0, 9)\n    return 1.0", &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_CRASH);
    TD_ASSERT_CONTAINS(m, "the reward process was killed by signal 9 (SIGKILL) at step 42 (car 0)");
}

TD_TEST(sandbox_reports_os_exit)
{
    SKIP_WITHOUT_PYTHON();
    td_reward_error_kind k;
    const char *m = sandbox_fail("exit.py", "import os", "    os._exit(0)", &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_SANDBOX);
    TD_ASSERT_CONTAINS(m, "exit.py:3: the sandbox stopped the reward function at step 42");
    TD_ASSERT_CONTAINS(m, "os._exit(0) was called: a reward function must return a number");
    m = sandbox_fail("cexit.py", "import ctypes", "    ctypes.CDLL(None)._exit(0)", &k, 0);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_CRASH);
    TD_ASSERT_CONTAINS(m, "the reward process exited with status 0 at step 42 (car 0)");
    TD_ASSERT_CONTAINS(m, "os._exit(), or C code calling exit");
    /* At module level too. */
    td_reward *r = NULL;
    td_err err = {0};
    TD_ASSERT_EQ_INT(td_reward_open(&r,
                                    write_file("exit2.py", "import os\nos._exit(3)\n"
                                                           "def reward_function(p):\n"
                                                           "    return 1.0\n"),
                                    NULL, &err),
                     TD_EREWARD);
    TD_ASSERT_CONTAINS(err.msg, "exit2.py:2: the sandbox stopped the reward function while "
                                "loading the file: os._exit(3) was called");
}

TD_TEST(sandbox_kills_a_loop_that_ignores_the_stop)
{
    SKIP_WITHOUT_PYTHON();
    td_reward_error_kind k;
    double t0 = td_time_now();
    const char *m = sandbox_fail("stubborn.py", "",
                                 "    while True:\n"
                                 "        try:\n"
                                 "            while True:\n"
                                 "                pass\n"
                                 "        except BaseException:\n"
                                 "            pass",
                                 &k, 0.2);
    TD_ASSERT_EQ_INT(k, TD_REWARD_ERR_TIMEOUT);
    TD_ASSERT_CONTAINS(m, "longer than the 0.2 s limit at step 42 (car 0) and did not stop when "
                          "asked");
    TD_ASSERT_CONTAINS(m, "its process was killed");
    TD_ASSERT(td_time_now() - t0 < 20);
}

TD_TEST(sandbox_reports_its_cpu_time)
{
    SKIP_WITHOUT_PYTHON();
    /* The bench's measure of what a sandboxed call costs: the reward process's CPU time,
     * which grows with the work done there; -1 for a reward computed in this process. */
    td_reward *r = open_ok(write_file("busy.py", "def reward_function(params):\n"
                                                 "    return float(sum(range(300000)) % 7)\n"));
    td_params p;
    fill_params(&p);
    call_one(r, &p);
    double before = td_reward_process_cpu_s(r);
    TD_ASSERT(before > 0);
    for (int i = 0; i < 5; i++)
        call_one(r, &p);
    double after = td_reward_process_cpu_s(r);
    TD_ASSERT_MSG(after > before + 0.005, "cpu %g -> %g s", before, after);
    td_reward_close(r);
    td_reward *c = open_ok("builtin:follow_center_line");
    TD_ASSERT_NEAR(td_reward_process_cpu_s(c), -1.0, 0);
    td_reward_close(c);
}

TD_TEST(sandbox_skip_policy_goes_on_after_errors_and_crashes)
{
    SKIP_WITHOUT_PYTHON();
    /* Car 1 tries a socket, car 3 ends the process; the others get their rewards. */
    td_reward *r = open_ok(write_file("mixed.py", "import socket, ctypes\n"
                                                  "def reward_function(params):\n"
                                                  "    if params['steps'] == 2:\n"
                                                  "        socket.socket()\n"
                                                  "    if params['steps'] == 4:\n"
                                                  "        ctypes.CDLL(None)._exit(1)\n"
                                                  "    return float(params['steps'])\n"));
    td_reward_set_on_error(r, TD_REWARD_ON_ERROR_SKIP, 10);
    td_params p[6];
    for (int i = 0; i < 6; i++) {
        fill_params(&p[i]);
        p[i].steps = i + 1;
    }
    float out[6];
    td_reward_batch_cb(r, p, 6, out);
    TD_ASSERT_EQ_INT(td_reward_failed(r), 0);
    TD_ASSERT_EQ_INT(td_reward_error_count(r), 2);
    float want[6] = {1, 0, 3, 0, 5, 6};
    for (int i = 0; i < 6; i++)
        TD_ASSERT_NEAR(out[i], want[i], 0);
    /* Past the limit it stops like STOP. */
    td_reward_set_on_error(r, TD_REWARD_ON_ERROR_SKIP, 2);
    td_reward_batch_cb(r, p, 6, out);
    TD_ASSERT_NE_INT(td_reward_failed(r), 0);
    td_reward_close(r);
}

TD_TEST(sandbox_mode_none_runs_in_process_with_a_warning)
{
    SKIP_WITHOUT_PYTHON();
    setenv("TRACKDAY_SANDBOX", "none", 1);
    td_reward *r =
        open_ok(write_file("inproc.py", "import os\n"
                                        "def reward_function(params):\n"
                                        "    return float(os.path.exists('/etc/passwd'))\n"));
    td_params p;
    fill_params(&p);
    TD_ASSERT_NEAR(call_one(r, &p), 1.0, 0);
    td_reward_close(r);
    unsetenv("TRACKDAY_SANDBOX");
    r = open_ok(write_file("inproc2.py", "import os\n"
                                         "def reward_function(params):\n"
                                         "    return float(os.path.exists('/etc/passwd'))\n"));
    TD_ASSERT_NEAR(call_one(r, &p), 0.0, 0);
    td_reward_close(r);
    setenv("TRACKDAY_SANDBOX", "bogus", 1);
    td_err err = {0};
    TD_ASSERT_EQ_INT(td_reward_open(&r,
                                    write_file("inproc3.py", "def reward_function(p):\n"
                                                             "    return 1.0\n"),
                                    NULL, &err),
                     TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "TRACKDAY_SANDBOX is 'bogus'");
    unsetenv("TRACKDAY_SANDBOX");
}

/* ---- DeepRacer's validator ---------------------------------------------------------------- */

/* One small function per rule of DeepRacer's validator (static part): the rule each is
 * rejected by, and a file it accepts. rule NULL: no error. */
static const struct {
    const char *name, *src, *rule;
    int line;
} static_rules[] = {
    {"ok", "import math\ndef reward_function(params):\n    return float(math.sqrt(4.0))\n", NULL,
     0},
    {"e712",
     "def reward_function(params):\n    if params['is_offtrack'] == True:\n"
     "        return 1e-3\n    return 1.0\n",
     "flake8 E712", 2},
    {"e701",
     "def reward_function(params):\n    if params['is_offtrack']: return 1e-3\n"
     "    return 1.0\n",
     "flake8 E701", 2},
    {"e722",
     "def reward_function(params):\n    try:\n        return 1.0\n    except:\n"
     "        return 0.0\n",
     "flake8 E722", 4},
    {"e741", "def reward_function(params):\n    l = 1.0\n    return l\n", "flake8 E741", 2},
    {"f821", "def reward_function(params):\n    return undefined_name\n", "flake8 F821", 2},
    {"e111", "def reward_function(params):\n  return 1.0\n", "flake8 E111", 2},
    {"e999", "def reward_function(params)\n    return 1.0\n", "flake8 E999", 1},
    {"noqa",
     "def reward_function(params):\n    if params['is_offtrack'] == True:  # noqa\n"
     "        return 1e-3\n    return 1.0\n",
     NULL, 0},
    {"unused", "import math\ndef reward_function(params):\n    x = 1\n    return 1.0\n", NULL, 0},
    {"import", "import os\ndef reward_function(params):\n    return 1.0\n", "import", 1},
    {"from", "from os import path\ndef reward_function(params):\n    return 1.0\n", "import", 1},
    {"relative", "from . import x\ndef reward_function(params):\n    return 1.0\n", "import", 1},
    {"open", "def reward_function(params):\n    f = open('x')\n    return 1.0\n", "forbidden call",
     2},
    {"eval", "def reward_function(params):\n    return eval('1.0')\n", "forbidden call", 2},
    {"attr", "def reward_function(params):\n    return float(len('a,b'.split(',')))\n",
     "validator attribute", 2},
    {"word", "def reward_function(params):\n    # reload the lap\n    return 1.0\n",
     "forbidden word", 2},
    {"word2", "def reward_function(params):\n    saved = 1.0\n    return saved\n", "forbidden word",
     2},
    {"two", "def reward_function(params, scale=1.0):\n    return scale\n", "signature", 1},
    {"none", "def reward_function():\n    return 1.0\n", "signature", 1},
    {"missing", "def reward(params):\n    return 1.0\n", "reward_function", 0},
    {"latin1", "def reward_function(params):\n    # caf\xe9\n    return 1.0\n", "encoding", 2},
    /* The audit's further single-rule cases (deepracer-compat.md section 8). */
    {"e731", "def reward_function(params):\n    f = lambda x: x\n    return f(1.0)\n",
     "flake8 E731", 2},
    {"f403", "from math import *\ndef reward_function(params):\n    return float(pi)\n",
     "flake8 F403", 1},
    {"e711",
     "def reward_function(params):\n    if params['x'] == None:\n        return 1e-3\n"
     "    return 1.0\n",
     "flake8 E711", 2},
    {"e713",
     "def reward_function(params):\n    if not 1 in params['closest_waypoints']:\n"
     "        return 1e-3\n    return 1.0\n",
     "flake8 E713", 2},
    {"f541", "def reward_function(params):\n    s = f'fixed'\n    return float(len(s))\n",
     "flake8 F541", 2},
    {"e128", "def reward_function(params):\n    x = max(1.0,\n        2.0)\n    return x\n",
     "flake8 E128", 3},
    {"import_word", "def reward_function(params):\n    s = '__import__'\n    return 1.0\n",
     "forbidden word", 2},
    {"load_name", "def reward_function(params):\n    payload = 1.0\n    return payload\n",
     "forbidden word", 2},
    /* Accepted by DeepRacer's validator: tabs only (W191, ignored), *args (one parameter for
     * inspect.signature), a variable named input (only calls are walked). */
    {"tabs",
     "def reward_function(params):\n\tif params['is_offtrack']:\n\t\treturn 1e-3\n"
     "\treturn 1.0\n",
     NULL, 0},
    {"varargs", "def reward_function(*args):\n    return float(args[0]['speed'])\n", NULL, 0},
    {"input_name", "def reward_function(params):\n    input = params['speed']\n    return input\n",
     NULL, 0},
};

static int find_rule(const td_reward_issue *is, int n, const char *rule, td_reward_severity sev)
{
    for (int i = 0; i < n; i++)
        if (strcmp(is[i].rule, rule) == 0 && is[i].severity == sev)
            return i;
    return -1;
}

TD_TEST(validator_static_rules_table)
{
    SKIP_WITHOUT_PYTHON();
    for (size_t k = 0; k < sizeof(static_rules) / sizeof(static_rules[0]); k++) {
        char name[64];
        TD_FMT(name, "rule_%s.py", static_rules[k].name);
        td_reward_issue *is = NULL;
        int n = 0;
        td_err err = {0};
        TD_ASSERT_OK(td_reward_check_source(write_file(name, static_rules[k].src), &is, &n, &err));
        int errors = 0;
        for (int i = 0; i < n; i++)
            errors += is[i].severity == TD_REWARD_ERROR;
        if (!static_rules[k].rule) {
            TD_ASSERT_MSG(errors == 0, "%s: %d errors, first [%s] %s", name, errors,
                          n ? is[0].rule : "", n ? is[0].message : "");
        } else {
            int i = find_rule(is, n, static_rules[k].rule, TD_REWARD_ERROR);
            TD_ASSERT_MSG(i >= 0, "%s: no [%s] error (%d findings, first [%s] %s)", name,
                          static_rules[k].rule, n, n ? is[0].rule : "", n ? is[0].message : "");
            TD_ASSERT_MSG(is[i].line == static_rules[k].line, "%s: line %d, expected %d", name,
                          is[i].line, static_rules[k].line);
        }
        td_free(is);
    }
    /* trackday's advice is a warning, never a rejection. */
    td_reward_issue *is = NULL;
    int n = 0;
    td_err err = {0};
    TD_ASSERT_OK(td_reward_check_source(
        write_file("advice.py", "seen = []\ndef reward_function(params):\n"
                                "    print(params['steps'])\n    seen.append(1)\n"
                                "    return 1.0\n"),
        &is, &n, &err));
    TD_ASSERT(find_rule(is, n, "print", TD_REWARD_WARNING) >= 0);
    TD_ASSERT(find_rule(is, n, "global state", TD_REWARD_WARNING) >= 0);
    for (int i = 0; i < n; i++)
        TD_ASSERT_EQ_INT(is[i].severity, TD_REWARD_WARNING);
    td_free(is);
    /* Over the console editor's 140,000 characters: DeepRacer's validator has no limit, so
     * a warning only. */
    size_t big = 150000;
    char *text = td_malloc(big + 64);
    TD_ASSERT(text != NULL);
    int head = snprintf(text, 64, "def reward_function(params):\n    return 1.0\n# ");
    memset(text + head, 'x', big);
    text[head + (int)big] = '\n';
    text[head + (int)big + 1] = 0;
    is = NULL;
    n = 0;
    TD_ASSERT_OK(td_reward_check_source(write_file("big.py", text), &is, &n, &err));
    td_free(text);
    TD_ASSERT(find_rule(is, n, "console size", TD_REWARD_WARNING) >= 0);
    for (int i = 0; i < n; i++)
        TD_ASSERT_MSG(is[i].severity == TD_REWARD_WARNING, "big.py: [%s] %s", is[i].rule,
                      is[i].message);
    td_free(is);
}

/* The run-time part: the validator's five states on a real route. */
static const struct {
    const char *name, *src, *rule;
} runtime_rules[] = {
    {"rt_ok", "def reward_function(params):\n    return float(params['speed'])\n", NULL},
    {"rt_objects",
     "def reward_function(params):\n"
     "    d = params['objects_distance'][params['closest_objects'][1]]\n"
     "    return 1.0 if params['objects_left_of_center'][0] else float(d)\n",
     NULL},
    {"rt_int", "def reward_function(params):\n    return 1\n", "return type"},
    {"rt_f32", "import numpy as np\ndef reward_function(params):\n    return np.float32(1)\n",
     "return type"},
    {"rt_import", "def reward_function(params):\n    import math\n    return math.pi\n",
     "import in function"},
    {"rt_projection", "def reward_function(params):\n    return params['projection_distance']\n",
     "test input"},
    {"rt_hash",
     "def reward_function(params):\n    d = {params['waypoints'][0]: 1.0}\n"
     "    return 1.0 + len(d)\n",
     "test input"},
    {"rt_range", "def reward_function(params):\n    return 1e6\n", "reward range"},
    {"rt_bool", "def reward_function(params):\n    return params['all_wheels_on_track']\n",
     "return type"},
    {"rt_objects_distance_from_center",
     "def reward_function(params):\n    return float(params['objects_distance_from_center'][0])\n",
     "test input"},
    {"rt_sim_time", "def reward_function(params):\n    return float(params['sim_time'])\n",
     "test input"},
    {"rt_waypoints_eq",
     "def reward_function(params):\n    if params['waypoints'] == params['waypoints']:\n"
     "        return 1.0\n    return 0.5\n",
     "test input"},
    {"rt_varargs", "def reward_function(*args):\n    return float(args[0]['speed'])\n", NULL},
};

TD_TEST(validator_runtime_rules_table)
{
    SKIP_WITHOUT_PYTHON();
    td_track t;
    char path[600];
    TD_FMT(path, "%s/reInvent2019_track.npy", TD_SHARED_TRACKS);
    td_err err = {0};
    TD_ASSERT_OK(td_track_load(&t, path, &err));
    for (size_t k = 0; k < sizeof(runtime_rules) / sizeof(runtime_rules[0]); k++) {
        char name[64];
        TD_FMT(name, "%s.py", runtime_rules[k].name);
        td_reward *r = open_ok(write_file(name, runtime_rules[k].src));
        td_reward_issue *is = NULL;
        int n = 0;
        TD_ASSERT_OK(td_reward_validate(r, &t, &is, &n, &err));
        if (!runtime_rules[k].rule)
            TD_ASSERT_MSG(n == 0, "%s: [%s] %s", name, is[0].rule, is[0].message);
        else
            TD_ASSERT_MSG(find_rule(is, n, runtime_rules[k].rule, TD_REWARD_ERROR) >= 0,
                          "%s: no [%s] (%d findings, first [%s] %s)", name, runtime_rules[k].rule,
                          n, n ? is[0].rule : "", n ? is[0].message : "");
        td_free(is);
        td_reward_close(r);
    }
    /* A C reward has nothing to validate. */
    td_reward *c = open_ok("builtin:follow_center_line");
    td_reward_issue *is = NULL;
    int n = 0;
    TD_ASSERT_OK(td_reward_validate(c, &t, &is, &n, &err));
    TD_ASSERT_EQ_INT(n, 0);
    td_free(is);
    td_reward_close(c);
    td_track_free(&t);
}

TD_TEST(validator_timeout_is_five_seconds)
{
    SKIP_WITHOUT_PYTHON();
    td_track t;
    char path[600];
    TD_FMT(path, "%s/reInvent2019_track.npy", TD_SHARED_TRACKS);
    td_err err = {0};
    TD_ASSERT_OK(td_track_load(&t, path, &err));
    td_reward *r = open_ok(write_file("rt_loop.py", "def reward_function(params):\n"
                                                    "    while True:\n        pass\n"));
    td_reward_issue *is = NULL;
    int n = 0;
    double t0 = td_time_now();
    TD_ASSERT_OK(td_reward_validate(r, &t, &is, &n, &err));
    TD_ASSERT(td_time_now() - t0 >= 4.9);
    TD_ASSERT(find_rule(is, n, "timeout", TD_REWARD_ERROR) >= 0);
    td_free(is);
    td_reward_close(r);
    td_track_free(&t);
}
