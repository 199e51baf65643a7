/*
 * test_track.c - the track layer: .npy reading cross-checked against files written by
 * numpy, the reference DeepRacer routes against their README table, the geometric queries
 * against brute-force references on every reference route in both directions, the JSON
 * format, the shipped tracks and the procedural generator.
 */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

#include "td_test.h"
#include "trackday/json.h"
#include "trackday/track.h"

#define PYTHON "/usr/bin/python3"

/* ---- helpers -------------------------------------------------------------------------------- */

static void require_numpy(void)
{
    int rc = system(PYTHON " -c 'import numpy' 2>/dev/null");
    if (rc != 0)
        TD_FAIL("numpy is missing: this test needs " PYTHON " with numpy (apt-get install "
                "python3-numpy) to write reference .npy files");
}

static void run_python(const char *dir, const char *script)
{
    char path[512], cmd[1024];
    TD_FMT(path, "%s/gen.py", dir);
    FILE *f = fopen(path, "w");
    TD_ASSERT(f != NULL);
    fputs(script, f);
    fclose(f);
    TD_FMT(cmd, PYTHON " '%s' '%s'", path, dir);
    int rc = system(cmd);
    TD_ASSERT_MSG(rc == 0, "python script failed (%d)", rc);
}

static double circ_diff(const td_track *t, double a, double b)
{
    double d = fabs(a - b);
    if (t->closed && d > 0.5 * t->length)
        d = t->length - d;
    return d;
}

/* ---- .npy against numpy --------------------------------------------------------------------- */

static const char *npy_script =
    "import numpy as np, sys, os\n"
    "d = sys.argv[1]\n"
    "rng = np.random.default_rng(7)\n"
    "n = 40\n"
    "ang = np.linspace(0, 2 * np.pi, n, endpoint=False)\n"
    "r = 3 + 0.1 * rng.standard_normal(n)\n"
    "c = np.stack([r * np.cos(ang), r * np.sin(ang)], 1)\n"
    "rows = np.concatenate([c, c * 0.85, c * 1.15], 1) + 1e-3 * rng.standard_normal((n, 6))\n"
    "rows = np.vstack([rows, rows[:1]])\n"
    "rows[3, 2] = -0.0\n"
    "rows[4, 3] = 5e-324\n"
    "rows[5, 4] = np.nextafter(1e5, 0)\n"
    "rows[6, 5] = np.nextafter(1.0, 2.0)\n"
    "np.save(os.path.join(d, 'good_v1.npy'), rows)\n"
    "for v in [(2, 0), (3, 0)]:\n"
    "    with open(os.path.join(d, 'good_v%d.npy' % v[0]), 'wb') as f:\n"
    "        np.lib.format.write_array(f, rows, version=v)\n"
    "open(os.path.join(d, 'good.raw'), 'wb').write(rows.astype('<f8').tobytes())\n"
    "dup = np.vstack([rows[:10], rows[9:10], rows[10:]])\n"
    "np.save(os.path.join(d, 'dup.npy'), dup)\n"
    "dupend = np.vstack([rows[:-1], rows[:1], rows[:1]])\n"
    "np.save(os.path.join(d, 'dupend.npy'), dupend)\n"
    "op = np.stack([np.linspace(0, 5, 12), np.zeros(12), np.linspace(0, 5, 12), np.full(12, 0.3),\n"
    "               np.linspace(0, 5, 12), np.full(12, -0.3)], 1)\n"
    "np.save(os.path.join(d, 'open.npy'), op)\n"
    "np.save(os.path.join(d, 'bad_f4.npy'), np.where(np.abs(rows) > 1e30, 0.0, "
    "rows).astype('<f4'))\n"
    "np.save(os.path.join(d, 'bad_be.npy'), rows.astype('>f8'))\n"
    "x = rows.copy(); x[7, 3] = np.nan\n"
    "np.save(os.path.join(d, 'bad_nan.npy'), x)\n"
    "x = rows.copy(); x[8, 0] = np.inf\n"
    "np.save(os.path.join(d, 'bad_inf.npy'), x)\n"
    "x = rows.copy(); x[9, 1] = -1e300\n"
    "np.save(os.path.join(d, 'bad_huge.npy'), x)\n"
    "np.save(os.path.join(d, 'bad_onerow.npy'), rows[:1])\n"
    "np.save(os.path.join(d, 'bad_empty.npy'), rows[:0])\n"
    "np.save(os.path.join(d, 'bad_shape5.npy'), rows[:, :5])\n"
    "np.save(os.path.join(d, 'bad_1d.npy'), rows.ravel())\n"
    "np.save(os.path.join(d, 'bad_fortran.npy'), np.asfortranarray(rows))\n"
    "tri = np.vstack([rows[0:3], rows[0:1]])\n"
    "np.save(os.path.join(d, 'bad_triangle.npy'), tri)\n"
    "b = open(os.path.join(d, 'good_v1.npy'), 'rb').read()\n"
    "open(os.path.join(d, 'bad_trunc.npy'), 'wb').write(b[:-8])\n"
    "open(os.path.join(d, 'bad_extra.npy'), 'wb').write(b + b'\\0' * 8)\n"
    "open(os.path.join(d, 'bad_magic.npy'), 'wb').write(b'\\x93NUMPZ' + b[6:])\n"
    "open(os.path.join(d, 'bad_version.npy'), 'wb').write(b[:6] + b'\\x04\\x00' + b[8:])\n";

static void check_bits(const td_track *t, const double *raw, int nraw, const int *map)
{
    /* map[i] = raw row of cleaned vertex i */
    for (int i = 0; i < t->n; i++) {
        const double *r = raw + 6 * map[i];
        const double got[6] = {t->center[2 * i],    t->center[2 * i + 1], t->inner[2 * i],
                               t->inner[2 * i + 1], t->outer[2 * i],      t->outer[2 * i + 1]};
        TD_ASSERT_LT(map[i], nraw);
        for (int j = 0; j < 6; j++)
            TD_ASSERT_MSG(memcmp(&got[j], &r[j], 8) == 0, "vertex %d col %d: %.17g vs %.17g", i, j,
                          got[j], r[j]);
    }
}

TD_TEST(npy_matches_numpy_bit_for_bit)
{
    char dir[256], path[512];
    require_numpy();
    TD_FMT(dir, "%s", td_test_tmpdir());
    run_python(dir, npy_script);

    TD_FMT(path, "%s/good.raw", dir);
    char *raw;
    size_t len;
    TD_ASSERT_OK(td_file_read(path, &raw, &len, NULL));
    TD_ASSERT_EQ_INT(len, 41 * 6 * 8);
    double *rows = td_malloc(len);
    memcpy(rows, raw, len);
    td_free(raw);
    int ident[41];
    for (int i = 0; i < 41; i++)
        ident[i] = i;

    const char *versions[] = {"good_v1", "good_v2", "good_v3"};
    for (int v = 0; v < 3; v++) {
        td_track t;
        td_err err;
        TD_FMT(path, "%s/%s.npy", dir, versions[v]);
        TD_ASSERT_OK(td_track_load_npy(&t, path, &err));
        TD_ASSERT_EQ_INT(t.n, 41);
        TD_ASSERT_EQ_INT(t.closed, 1);
        TD_ASSERT_STREQ(t.name, versions[v]);
        check_bits(&t, rows, 41, ident);
        td_track_free(&t);
    }

    /* A duplicated middle row is dropped; a duplicated closing row keeps the last row. */
    td_track t;
    TD_FMT(path, "%s/dup.npy", dir);
    TD_ASSERT_OK(td_track_load(&t, path, NULL));
    TD_ASSERT_EQ_INT(t.n, 41);
    check_bits(&t, rows, 41, ident);
    td_track_free(&t);
    TD_FMT(path, "%s/dupend.npy", dir);
    TD_ASSERT_OK(td_track_load(&t, path, NULL));
    TD_ASSERT_EQ_INT(t.n, 41);
    TD_ASSERT_EQ_INT(t.closed, 1);
    check_bits(&t, rows, 41, ident);
    td_track_free(&t);

    TD_FMT(path, "%s/open.npy", dir);
    TD_ASSERT_OK(td_track_load(&t, path, NULL));
    TD_ASSERT_EQ_INT(t.n, 12);
    TD_ASSERT_EQ_INT(t.closed, 0);
    TD_ASSERT_NEAR(t.length, 5.0, 1e-12);
    td_track_free(&t);

    td_free(rows);
}

TD_TEST(npy_rejects_bad_files_naming_them)
{
    static const struct {
        const char *file, *needle;
    } bad[] = {
        {"bad_f4", "'<f4'"},
        {"bad_be", "'>f8'"},
        {"bad_nan", "row 7 column 3"},
        {"bad_inf", "row 8 column 0"},
        {"bad_huge", "row 9 column 1 (center y) is -1e+300 m"},
        {"bad_onerow", "1 row"},
        {"bad_empty", "0 rows"},
        {"bad_shape5", "(41, 5)"},
        {"bad_1d", "(246,)"},
        {"bad_fortran", "Fortran"},
        {"bad_triangle", "3"},
        {"bad_trunc", "truncated"},
        {"bad_extra", "unexpected"},
        {"bad_magic", "magic"},
        {"bad_version", "4.0"},
    };
    char dir[256], path[512];
    require_numpy();
    TD_FMT(dir, "%s", td_test_tmpdir());
    run_python(dir, npy_script);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        td_track t;
        td_err err;
        td_err_clear(&err);
        TD_FMT(path, "%s/%s.npy", dir, bad[i].file);
        int rc = td_track_load_npy(&t, path, &err);
        TD_ASSERT_MSG(rc < 0, "%s was accepted", bad[i].file);
        TD_ASSERT_CONTAINS(err.msg, path);
        TD_ASSERT_CONTAINS(err.msg, bad[i].needle);
        TD_ASSERT(t.center == NULL);
    }
    td_track t;
    td_err err;
    TD_FMT(path, "%s/absent.npy", dir);
    TD_ASSERT_EQ_INT(td_track_load(&t, path, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "absent.npy");
}

/* ---- reference routes ------------------------------------------------------------------------ */

static const struct ref_route {
    const char *name;
    int rows;
    double length, mean_width;
    int dup; /* rows in the README's table minus rows after de-duplication */
} ref_routes[] = {
    {"reinvent_base", 119, 17.71, 0.762, 0},
    {"reInvent2019_track", 155, 23.12, 1.067, 1},
    {"reInvent2019_wide", 112, 16.64, 1.067, 1},
    {"2022_reinvent_champ_ccw", 113, 33.28, 0.950, 0},
    {"2024_reinvent_champ_ccw", 86, 25.11, 0.762, 0},
    {"2022_summit_speedway", 127, 25.17, 1.067, 1},
    {"2022_march_pro", 256, 76.76, 1.067, 0},
    {"penbay_pro", 299, 89.24, 1.067, 1},
    {"AWS_track", 302, 69.25, 0.942, 1},
    {"Albert", 344, 51.39, 1.067, 1},
    {"Bowtie_track", 163, 17.43, 0.789, 1},
    {"Canada_Training", 203, 21.74, 0.757, 1},
    {"LGSWide", 255, 38.03, 1.067, 1},
    {"Monaco", 235, 60.27, 1.458, 1},
    {"Oval_track", 102, 19.55, 0.710, 1},
    {"Spain_track", 259, 60.00, 0.913, 1},
    {"Straight_track", 22, 5.71, 0.610, 0},
    {"Vegas_track", 151, 22.55, 1.067, 1},
    {"caecer_loop", 121, 35.09, 1.286, 1},
};
#define NREF ((int)(sizeof(ref_routes) / sizeof(ref_routes[0])))

static void load_ref(td_track *t, int i)
{
    char path[512];
    td_err err;
    TD_FMT(path, "%s/%s.npy", TD_SHARED_TRACKS, ref_routes[i].name);
    int rc = td_track_load_npy(t, path, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
}

TD_TEST(reference_routes_match_readme)
{
    int files = 0;
    DIR *d = opendir(TD_SHARED_TRACKS);
    TD_ASSERT_MSG(d != NULL, "cannot open %s", TD_SHARED_TRACKS);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".npy") == 0) {
            int known = 0;
            for (int i = 0; i < NREF; i++)
                known |= strncmp(e->d_name, ref_routes[i].name, len - 4) == 0 &&
                         strlen(ref_routes[i].name) == len - 4;
            TD_ASSERT_MSG(known, "%s is not in the README table", e->d_name);
            files++;
        }
    }
    closedir(d);
    TD_ASSERT_EQ_INT(files, NREF);
    for (int i = 0; i < NREF; i++) {
        td_track t;
        load_ref(&t, i);
        const struct ref_route *r = &ref_routes[i];
        TD_ASSERT_MSG(t.n == r->rows - r->dup, "%s: %d rows, expected %d", r->name, t.n,
                      r->rows - r->dup);
        TD_ASSERT_MSG(fabs(t.length - r->length) <= 0.01, "%s: length %.4f, README %.2f", r->name,
                      t.length, r->length);
        double w = 0.0;
        for (int k = 0; k < t.n; k++)
            w += t.width[k];
        w /= t.n;
        /* The README rounds to 3 decimals over the raw rows (the duplicate row included). */
        TD_ASSERT_MSG(fabs(w - r->mean_width) <= 0.002, "%s: mean width %.4f, README %.3f", r->name,
                      w, r->mean_width);
        TD_ASSERT_EQ_INT(t.closed, strcmp(r->name, "Straight_track") != 0);
        /* Geometry is valid (no crossings, inner border inside); the design rules are
         * trackday's and several DeepRacer routes are tighter. */
        td_err err;
        TD_ASSERT_MSG(td_track_check(&t, 0.0, &err) == 0, "%s", err.msg);
        TD_ASSERT_NEAR(t.arc[t.n - 1], t.length, 0.0);
        td_track_free(&t);
    }
}

/* ---- brute-force references ------------------------------------------------------------------ */

typedef struct {
    double arc, dist, px, py;
    int left, unique;
} brute_proj;

/* Global nearest point on the centreline polyline by scanning every segment. */
static void brute_project(const td_track *t, double x, double y, brute_proj *b)
{
    double best = INFINITY;
    int bi = 0;
    double bu = 0;
    for (int i = 0; i + 1 < t->n; i++) {
        const double *a = t->center + 2 * i;
        double dx = a[2] - a[0], dy = a[3] - a[1];
        double u = ((x - a[0]) * dx + (y - a[1]) * dy) / (dx * dx + dy * dy);
        u = u < 0 ? 0 : (u > 1 ? 1 : u);
        double px = a[0] + u * dx, py = a[1] + u * dy;
        double d = hypot(x - px, y - py);
        if (d < best) {
            best = d;
            bi = i;
            bu = u;
        }
    }
    const double *a = t->center + 2 * bi;
    b->px = a[0] + bu * (a[2] - a[0]);
    b->py = a[1] + bu * (a[3] - a[1]);
    b->dist = best;
    b->arc = t->arc[bi] + bu * (t->arc[bi + 1] - t->arc[bi]);
    if (t->closed && b->arc >= t->length)
        b->arc -= t->length;
    /* Left of the segment direction, away from vertices (where the side is ambiguous). */
    double dx = a[2] - a[0], dy = a[3] - a[1];
    b->left = dx * (y - b->py) - dy * (x - b->px) > 0;
    /* Unique: no other segment reaches a point farther than 1 mm away within 1e-7 m. */
    b->unique = bu > 1e-6 && bu < 1 - 1e-6;
    for (int i = 0; i + 1 < t->n && b->unique; i++) {
        const double *c = t->center + 2 * i;
        double ex = c[2] - c[0], ey = c[3] - c[1];
        double u = ((x - c[0]) * ex + (y - c[1]) * ey) / (ex * ex + ey * ey);
        u = u < 0 ? 0 : (u > 1 ? 1 : u);
        double px = c[0] + u * ex, py = c[1] + u * ey;
        if (hypot(x - px, y - py) < best + 1e-7 && hypot(px - b->px, py - b->py) > 1e-3)
            b->unique = 0;
    }
}

static long g_checked, g_unique;

static void check_proj(const td_track *t, const td_track_proj *p, double x, double y,
                       const char *what)
{
    brute_proj b;
    brute_project(t, x, y, &b);
    g_checked++;
    g_unique += b.unique;
    /* The projection's distance is never worse than the global nearest (within rounding). */
    TD_ASSERT_MSG(p->dist >= b.dist - 1e-9, "%s %s: dist %.9f < brute %.9f", t->name, what, p->dist,
                  b.dist);
    TD_ASSERT_MSG(p->seg >= 0 && p->seg < t->n - 1, "%s %s: seg %d", t->name, what, p->seg);
    /* Closest waypoints bracket the arc length. */
    TD_ASSERT_EQ_INT(p->prev_wp, p->seg);
    TD_ASSERT_EQ_INT(p->next_wp, p->seg + 1);
    TD_ASSERT_MSG(t->arc[p->prev_wp] <= p->arc + 1e-12 && p->arc <= t->arc[p->next_wp] + 1e-12,
                  "%s %s: arc %.9f not in [%.9f, %.9f]", t->name, what, p->arc, t->arc[p->prev_wp],
                  t->arc[p->next_wp]);
    if (p->arc == t->arc[p->next_wp])
        TD_ASSERT(!t->closed && p->next_wp == t->n - 1);
    TD_ASSERT(p->arc >= 0 && (t->closed ? p->arc < t->length : p->arc <= t->length));
    if (!b.unique)
        return;
    TD_ASSERT_MSG(circ_diff(t, p->arc, b.arc) <= 1e-6,
                  "%s %s at (%.6f, %.6f): arc %.9f vs brute %.9f", t->name, what, x, y, p->arc,
                  b.arc);
    TD_ASSERT_NEAR(p->dist, b.dist, 1e-9);
    TD_ASSERT_NEAR(p->px, b.px, 1e-6);
    TD_ASSERT_NEAR(p->py, b.py, 1e-6);
    if (b.dist > 1e-6)
        TD_ASSERT_MSG(p->left == b.left, "%s %s: left %d vs brute %d", t->name, what, p->left,
                      b.left);
}

/* Nearest point of a border polyline to (x, y) by scanning it (shapely's project). */
static void brute_border(const double *B, int n, double x, double y, double *px, double *py)
{
    double best = INFINITY;
    for (int k = 0; k + 1 < n; k++) {
        const double *q = B + 2 * k;
        double dx = q[2] - q[0], dy = q[3] - q[1], l2 = dx * dx + dy * dy;
        double u = l2 > 0 ? ((x - q[0]) * dx + (y - q[1]) * dy) / l2 : 0.0;
        u = u < 0 ? 0 : (u > 1 ? 1 : u);
        double ex = q[0] + u * dx, ey = q[1] + u * dy;
        double d = hypot(ex - x, ey - y);
        if (d < best) {
            best = d;
            *px = ex;
            *py = ey;
        }
    }
}

static void check_width_nearest(const td_track *t, const td_track_proj *p)
{
    double ix, iy, ox, oy, bix = 0, biy = 0, box = 0, boy = 0;
    td_track_nearest_border_points(t, p, &ix, &iy, &ox, &oy);
    brute_border(t->inner, t->n, p->px, p->py, &bix, &biy);
    brute_border(t->outer, t->n, p->px, p->py, &box, &boy);
    /* Equal distances to the projected point (the points themselves may differ on ties). */
    TD_ASSERT_NEAR(hypot(ix - p->px, iy - p->py), hypot(bix - p->px, biy - p->py), 1e-9);
    TD_ASSERT_NEAR(hypot(ox - p->px, oy - p->py), hypot(box - p->px, boy - p->py), 1e-9);
    TD_ASSERT_NEAR(td_track_width_nearest(t, p), hypot(ox - ix, oy - iy), 1e-12);
}

static void check_geometry_one(const td_track *t, uint64_t seed)
{
    td_rng rng;
    td_rng_seed(&rng, seed, 1);
    int onroad = 0, offroad = 0;
    /* A driven path: small steps along the road with a lateral random walk inside it. */
    double s = td_rng_uniform(&rng) * t->length, lat = 0.0;
    double x, y;
    td_track_point_at(t, s, lat, &x, &y, NULL);
    td_track_proj p;
    td_track_project(t, x, y, &p);
    check_proj(t, &p, x, y, "full");
    int steps = t->closed ? (int)(1.3 * t->length / 0.05) : (int)(t->length / 0.05);
    if (steps > 800)
        steps = 800;
    double ds = t->closed ? 1.3 * t->length / steps : 0.9 * t->length / steps;
    if (!t->closed)
        s = 0.05 * t->length;
    for (int k = 0; k < steps; k++) {
        s += ds * td_rng_range(&rng, 0.5, 1.5);
        double w = td_track_width_at(t, &p);
        lat += td_rng_range(&rng, -0.03, 0.03);
        if (lat > 0.4 * w)
            lat = 0.4 * w;
        if (lat < -0.4 * w)
            lat = -0.4 * w;
        td_track_point_at(t, s, lat, &x, &y, NULL);
        td_track_project_from(t, x, y, &p);
        check_proj(t, &p, x, y, "path");
        check_width_nearest(t, &p);
        /* Wheels around the car: the local containment agrees with the reference. */
        for (int wv = 0; wv < 2; wv++) {
            double wx = x + td_rng_range(&rng, -0.25, 0.25);
            double wy = y + td_rng_range(&rng, -0.25, 0.25);
            int a = td_track_on_road(t, &p, wx, wy), b = td_track_on_road_slow(t, wx, wy);
            TD_ASSERT_MSG(a == b, "%s: on_road(%.6f, %.6f) %d vs slow %d", t->name, wx, wy, a, b);
            onroad += b;
            offroad += !b;
        }
    }
    /* Random points in a band of the width around the road, from a nearby projection. */
    for (int k = 0; k < 400; k++) {
        double s0 = td_rng_uniform(&rng) * t->length;
        double x0, y0;
        td_track_point_at(t, s0, 0, &x0, &y0, NULL);
        td_track_project(t, x0, y0, &p);
        double w = td_track_width_at(t, &p);
        td_track_point_at(t, s0 + td_rng_range(&rng, -0.1, 0.1),
                          td_rng_range(&rng, -0.75, 0.75) * w, &x, &y, NULL);
        /* Jitter, so no point sits exactly on a border (the end rungs of an open route). */
        x += td_rng_range(&rng, -1e-3, 1e-3);
        y += td_rng_range(&rng, -1e-3, 1e-3);
        td_track_proj full;
        td_track_project(t, x, y, &full);
        check_proj(t, &full, x, y, "random full");
        check_width_nearest(t, &full);
        td_track_project_from(t, x, y, &p);
        check_proj(t, &p, x, y, "random incremental");
        int a = td_track_on_road(t, &p, x, y), b = td_track_on_road_slow(t, x, y);
        TD_ASSERT_MSG(a == b, "%s: on_road(%.6f, %.6f) %d vs slow %d", t->name, x, y, a, b);
        onroad += b;
        offroad += !b;
        /* Width at the projection is the width of the nearer end vertex. */
        TD_ASSERT_NEAR(td_track_width_at(t, &full),
                       t->width[full.t < 0.5 ? full.seg : full.seg + 1], 0);
    }
    /* Far off the road and from stale projections: the grid fallbacks. */
    for (int k = 0; k < 100; k++) {
        double s0 = td_rng_uniform(&rng) * t->length;
        td_track_point_at(t, s0, td_rng_range(&rng, -3, 3), &x, &y, NULL);
        td_track_proj stale;
        td_track_project(t, x + td_rng_range(&rng, -2, 2), y + td_rng_range(&rng, -2, 2), &stale);
        td_track_project_from(t, x, y, &stale);
        check_proj(t, &stale, x, y, "far incremental");
        int a = td_track_on_road(t, &stale, x, y), b = td_track_on_road_slow(t, x, y);
        TD_ASSERT_MSG(a == b, "%s: far on_road(%.6f, %.6f) %d vs slow %d", t->name, x, y, a, b);
    }
    TD_ASSERT_MSG(onroad > 100 && offroad > 20, "%s: %d on road, %d off", t->name, onroad, offroad);
}

TD_TEST(geometry_matches_brute_force_on_reference_routes)
{
    for (int i = 0; i < NREF; i++) {
        td_track t, r;
        load_ref(&t, i);
        TD_ASSERT_OK(td_track_reverse(&r, &t, NULL));
        check_geometry_one(&t, 100 + (uint64_t)i);
        check_geometry_one(&r, 200 + (uint64_t)i);
        td_track_free(&t);
        td_track_free(&r);
    }
    /* The comparisons were not vacuous: almost every nearest point is unique. */
    printf("%ld projections checked, %ld with a unique nearest point\n", g_checked, g_unique);
    TD_ASSERT_GT(g_checked, 30000);
    TD_ASSERT_GT(g_unique, 0.95 * g_checked);
}

TD_TEST(reverse_maps_arc_and_sides)
{
    for (int i = 0; i < NREF; i++) {
        td_track t, r;
        load_ref(&t, i);
        TD_ASSERT_OK(td_track_reverse(&r, &t, NULL));
        TD_ASSERT_EQ_INT(r.n, t.n);
        TD_ASSERT_EQ_INT(r.reversed, 1);
        TD_ASSERT_EQ_INT(r.closed, t.closed);
        TD_ASSERT_STREQ(r.name, t.name);
        TD_ASSERT_NEAR(r.length, t.length, 1e-9);
        if (t.closed)
            TD_ASSERT_EQ_INT(td_track_direction(&r), -td_track_direction(&t));
        for (int k = 0; k < t.n; k++) {
            TD_ASSERT_EQ(r.center[2 * k], t.center[2 * (t.n - 1 - k)]);
            TD_ASSERT_EQ(r.inner[2 * k + 1], t.inner[2 * (t.n - 1 - k) + 1]);
        }
        td_rng rng;
        td_rng_seed(&rng, 300 + (uint64_t)i, 0);
        for (int k = 0; k < 300; k++) {
            double s = td_rng_uniform(&rng) * t.length, x, y;
            td_track_proj p;
            td_track_point_at(&t, s, 0, &x, &y, NULL);
            td_track_project(&t, x, y, &p);
            double w = td_track_width_at(&t, &p);
            td_track_point_at(&t, s, td_rng_range(&rng, -0.6, 0.6) * w, &x, &y, NULL);
            td_track_proj pf, pr;
            brute_proj b;
            brute_project(&t, x, y, &b);
            if (!b.unique || b.dist < 1e-6)
                continue;
            td_track_project(&t, x, y, &pf);
            td_track_project(&r, x, y, &pr);
            double expect = t.closed ? fmod(t.length - pf.arc, t.length) : t.length - pf.arc;
            TD_ASSERT_MSG(circ_diff(&t, pr.arc, expect) <= 1e-6, "%s: reverse arc %.9f vs %.9f",
                          t.name, pr.arc, expect);
            TD_ASSERT_NEAR(pr.dist, pf.dist, 1e-9);
            TD_ASSERT_EQ_INT(pr.left, !pf.left);
            /* Waypoint i of the reverse is waypoint n-1-i of the forward direction. */
            TD_ASSERT_EQ_INT(pr.prev_wp, t.n - 1 - pf.next_wp);
            TD_ASSERT_EQ_INT(td_track_on_road(&r, &pr, x, y), td_track_on_road(&t, &pf, x, y));
        }
        td_track_free(&t);
        td_track_free(&r);
    }
}

/* ---- points, lanes, curvature on a known shape ------------------------------------------------
 */

/* A circle of radius R, counter-clockwise, width w, as a centreline track. */
static void make_circle(td_track *t, double R, double w, int n)
{
    double *xy = td_malloc(sizeof(double) * 2 * (size_t)n);
    for (int i = 0; i < n; i++) {
        xy[2 * i] = R * cos(2 * M_PI * i / n);
        xy[2 * i + 1] = R * sin(2 * M_PI * i / n);
    }
    td_err err;
    int rc = td_track_from_centerline(t, xy, NULL, w, n, 1, "circle", "circle", &err);
    td_free(xy);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
}

TD_TEST(wrap_arc_wraps_loops_and_clamps_open_routes)
{
    td_track t;
    make_circle(&t, 3.0, 1.0, 120);
    double L = t.length;
    /* In range: returned exactly (the inline fast path takes no fmod). */
    TD_ASSERT_EQ(td_track_wrap_arc(&t, 0.0), 0.0);
    TD_ASSERT_EQ(td_track_wrap_arc(&t, 0.3 * L), 0.3 * L);
    TD_ASSERT_NEAR(td_track_wrap_arc(&t, L + 1.25), 1.25, 1e-12);
    TD_ASSERT_NEAR(td_track_wrap_arc(&t, -1.25), L - 1.25, 1e-12);
    TD_ASSERT_NEAR(td_track_wrap_arc(&t, -3.0 * L - 1.0), L - 1.0, 1e-9);
    TD_ASSERT_EQ(td_track_wrap_arc(&t, L), 0.0);
    /* -tiny + L rounds to L, which is not in [0, L): 0. */
    TD_ASSERT_EQ(td_track_wrap_arc(&t, -1e-300), 0.0);
    t.closed = 0; /* an open route clamps */
    TD_ASSERT_EQ(td_track_wrap_arc(&t, -1.0), 0.0);
    TD_ASSERT_EQ(td_track_wrap_arc(&t, L + 1.0), L);
    TD_ASSERT_EQ(td_track_wrap_arc(&t, 0.5 * L), 0.5 * L);
    t.closed = 1;
    td_track_free(&t);
}

TD_TEST(points_lanes_curvature_on_a_circle)
{
    td_track t, r;
    make_circle(&t, 3.0, 1.0, 120);
    TD_ASSERT_EQ_INT(t.n, 121);
    TD_ASSERT_EQ_INT(td_track_direction(&t), 1);
    TD_ASSERT_NEAR(t.length, 2 * 120 * 3.0 * sin(M_PI / 120), 1e-9);
    /* The inner border is on the inside (left of a CCW loop), at half the width. */
    for (int i = 0; i < t.n; i++) {
        TD_ASSERT_NEAR(hypot(t.inner[2 * i], t.inner[2 * i + 1]), 2.5, 1e-9);
        TD_ASSERT_NEAR(hypot(t.outer[2 * i], t.outer[2 * i + 1]), 3.5, 1e-9);
        TD_ASSERT_NEAR(t.width[i], 1.0, 1e-12);
    }
    TD_ASSERT_OK(td_track_reverse(&r, &t, NULL));
    for (int k = 0; k < 50; k++) {
        double s = k * t.length / 50 + 0.013, x, y, h;
        TD_ASSERT_NEAR(td_track_curvature_at(&t, s), 1.0 / 3.0, 2e-3);
        TD_ASSERT_NEAR(td_track_curvature_at(&r, s), -1.0 / 3.0, 2e-3);
        /* A point at lateral +0.3 is left of centre, 0.3 m away, at arc s. */
        td_track_point_at(&t, s, 0.3, &x, &y, &h);
        td_track_proj p;
        td_track_project(&t, x, y, &p);
        TD_ASSERT_NEAR(p.arc, s, 1e-9);
        TD_ASSERT_NEAR(p.dist, 0.3, 1e-9);
        TD_ASSERT_EQ_INT(p.left, 1);
        TD_ASSERT_LT(hypot(x, y), 3.0);
        double sx, sy;
        td_track_point_at(&t, s, 0, &sx, &sy, NULL);
        /* Heading is tangent: perpendicular to the radius, turning CCW. */
        TD_ASSERT_NEAR((cos(h) * sx + sin(h) * sy) / 3.0, 0.0, 0.03);
        TD_ASSERT_GT(sin(h) * sx - cos(h) * sy, 0);
        /* Lane +1 is halfway to the inner border (radius 2.75), -1 to the outer (3.25). */
        td_track_lane_point(&t, s, 1, &x, &y);
        TD_ASSERT_NEAR(hypot(x, y), 2.75, 2e-3);
        td_track_lane_point(&t, s, -1, &x, &y);
        TD_ASSERT_NEAR(hypot(x, y), 3.25, 2e-3);
        td_track_lane_point(&r, s, 1, &x, &y);
        TD_ASSERT_NEAR(hypot(x, y), 2.75, 2e-3);
        /* Containment by radius. */
        td_track_project(&t, sx, sy, &p);
        TD_ASSERT_EQ_INT(td_track_on_road(&t, &p, 1.01 * sx, 1.01 * sy), 1);
        TD_ASSERT_EQ_INT(td_track_on_road(&t, &p, 0.8 * sx, 0.8 * sy), 0);
        TD_ASSERT_EQ_INT(td_track_on_road(&t, &p, 1.2 * sx, 1.2 * sy), 0);
    }
    TD_ASSERT_NEAR(td_track_wrap_arc(&t, -1.0), t.length - 1.0, 1e-12);
    TD_ASSERT_NEAR(td_track_wrap_arc(&t, t.length + 2.0), 2.0, 1e-9);
    TD_ASSERT_NEAR(td_track_min_radius(&t), 3.0, 0.01);
    TD_ASSERT_OK(td_track_check(&t, 0.6, NULL));
    td_err err;
    TD_ASSERT_EQ_INT(td_track_check(&t, 3.5, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "radius");
    td_track_free(&t);
    td_track_free(&r);

    /* Too wide for its radius: the inner border folds. */
    make_circle(&t, 1.0, 2.0, 60);
    TD_ASSERT_EQ_INT(td_track_check(&t, 0.1, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "the inner border crosses itself");
    td_track_free(&t);
}

TD_TEST(from_rows_validates)
{
    double rows[6 * 6] = {0};
    td_err err;
    td_track t;
    /* A closed square with 4 distinct points is the smallest loop. */
    double sq[5][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}};
    for (int i = 0; i < 5; i++) {
        rows[6 * i] = sq[i][0];
        rows[6 * i + 1] = sq[i][1];
        rows[6 * i + 2] = 0.5 + 0.8 * (sq[i][0] - 0.5);
        rows[6 * i + 3] = 0.5 + 0.8 * (sq[i][1] - 0.5);
        rows[6 * i + 4] = 0.5 + 1.2 * (sq[i][0] - 0.5);
        rows[6 * i + 5] = 0.5 + 1.2 * (sq[i][1] - 0.5);
    }
    TD_ASSERT_OK(td_track_from_rows(&t, rows, 5, "sq", "square", &err));
    TD_ASSERT_EQ_INT(t.closed, 1);
    TD_ASSERT_NEAR(t.length, 4.0, 1e-12);
    TD_ASSERT_OK(td_track_check(&t, 0.0, &err));
    td_track_free(&t);
    /* Inner and outer columns swapped: loads (the file says so), but fails the check. */
    double sw[5 * 6];
    for (int i = 0; i < 5; i++) {
        memcpy(sw + 6 * i, rows + 6 * i, 2 * sizeof(double));
        memcpy(sw + 6 * i + 2, rows + 6 * i + 4, 2 * sizeof(double));
        memcpy(sw + 6 * i + 4, rows + 6 * i + 2, 2 * sizeof(double));
    }
    TD_ASSERT_OK(td_track_from_rows(&t, sw, 5, "sq", "square", &err));
    TD_ASSERT_EQ_INT(td_track_check(&t, 0.0, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "swapped");
    td_track_free(&t);
    memcpy(rows + 6 * 3, rows, 6 * sizeof(double)); /* (0,0),(1,0),(1,1),(0,0) */
    TD_ASSERT_EQ_INT(td_track_from_rows(&t, rows, 4, "tri", "tri.npy", &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "tri.npy");
    TD_ASSERT_CONTAINS(err.msg, "at least 4 distinct");
    TD_ASSERT_CONTAINS(err.msg, "it has 3");
}

/* ---- validity, independent of td_track_check ---------------------------------------------- */

/* Segments p0-p1 and q0-q1 share a point (parametric solve; parallel ones by overlap). */
static int segs_meet(const double *p0, const double *p1, const double *q0, const double *q1)
{
    double rx = p1[0] - p0[0], ry = p1[1] - p0[1], sx = q1[0] - q0[0], sy = q1[1] - q0[1];
    double den = rx * sy - ry * sx;
    double qpx = q0[0] - p0[0], qpy = q0[1] - p0[1];
    if (fabs(den) < 1e-15) {
        if (fabs(qpx * ry - qpy * rx) > 1e-12)
            return 0;
        double rr = rx * rx + ry * ry;
        double t0 = (qpx * rx + qpy * ry) / rr, t1 = t0 + (sx * rx + sy * ry) / rr;
        return fmax(fmin(t0, t1), 0.0) <= fmin(fmax(t0, t1), 1.0);
    }
    double t = (qpx * sy - qpy * sx) / den, u = (qpx * ry - qpy * rx) / den;
    return t >= 0 && t <= 1 && u >= 0 && u <= 1;
}

static void assert_valid_track(const td_track *t, double min_radius)
{
    TD_ASSERT_MSG(t->closed, "%s is not closed", t->name);
    const double *polys[3] = {t->center, t->inner, t->outer};
    int nseg = t->n - 1;
    for (int a = 0; a < 3; a++)
        for (int b = a; b < 3; b++)
            for (int i = 0; i < nseg; i++)
                for (int j = (a == b ? i + 2 : 0); j < nseg; j++) {
                    if (a == b && i == 0 && j == nseg - 1)
                        continue;
                    TD_ASSERT_MSG(!segs_meet(polys[a] + 2 * i, polys[a] + 2 * i + 2,
                                             polys[b] + 2 * j, polys[b] + 2 * j + 2),
                                  "%s: polylines %d/%d segments %d/%d cross", t->name, a, b, i, j);
                }
    /* Radius by three consecutive vertices, against the minimum and half the width. */
    for (int i = 0; i < nseg; i++) {
        const double *p = t->center + 2 * ((i + nseg - 1) % nseg), *q = t->center + 2 * i,
                     *r = t->center + 2 * ((i + 1) % nseg);
        double cross = (q[0] - p[0]) * (r[1] - q[1]) - (q[1] - p[1]) * (r[0] - q[0]);
        double k = 2 * fabs(cross) /
                   (hypot(q[0] - p[0], q[1] - p[1]) * hypot(r[0] - q[0], r[1] - q[1]) *
                    hypot(r[0] - p[0], r[1] - p[1]));
        if (k > 0) {
            TD_ASSERT_MSG(1 / k >= min_radius - 1e-6, "%s: radius %.3f at %d", t->name, 1 / k, i);
            TD_ASSERT_MSG(1 / k > 0.5 * t->width[i], "%s: radius %.3f < half width at %d", t->name,
                          1 / k, i);
        }
        double seg = t->arc[i + 1] - t->arc[i];
        TD_ASSERT_MSG(seg >= 0.1 && seg <= 0.3, "%s: spacing %.3f at %d", t->name, seg, i);
    }
    /* The centreline runs on the road, inner border inside the outer one. */
    for (int i = 0; i < nseg; i++) {
        double mx = 0.5 * (t->center[2 * i] + t->center[2 * i + 2]);
        double my = 0.5 * (t->center[2 * i + 1] + t->center[2 * i + 3]);
        TD_ASSERT(td_track_on_road_slow(t, mx, my));
    }
    TD_ASSERT_OK(td_track_check(t, min_radius, NULL));
}

TD_TEST(generated_tracks_are_valid)
{
    td_trackgen_config cfg;
    td_trackgen_defaults(&cfg);
    for (uint64_t seed = 1; seed <= 50; seed++) {
        td_track t;
        td_err err;
        cfg.seed = seed;
        int rc = td_track_generate(&t, &cfg, &err);
        TD_ASSERT_MSG(rc == 0, "seed %llu: %s", (unsigned long long)seed, err.msg);
        TD_ASSERT_NEAR(t.length, cfg.target_length_m, 0.05 * cfg.target_length_m);
        for (int i = 0; i < t.n; i++)
            TD_ASSERT_NEAR(t.width[i], cfg.width_m, 1e-9);
        assert_valid_track(&t, cfg.min_radius_m);
        /* Grass between parts of the road that are not neighbours along it (0.4 m). */
        double clear = cfg.width_m + 0.4, span = 2.5 * clear;
        for (int i = 0; i + 1 < t.n; i++)
            for (int j = i + 1; j + 1 < t.n; j++) {
                double along = fmin(t.arc[j] - t.arc[i], t.length - (t.arc[j] - t.arc[i]));
                if (along > span)
                    TD_ASSERT_MSG(hypot(t.center[2 * i] - t.center[2 * j],
                                        t.center[2 * i + 1] - t.center[2 * j + 1]) >= clear,
                                  "seed %llu: vertices %d and %d too close",
                                  (unsigned long long)seed, i, j);
            }
        td_track_free(&t);
    }
}

TD_TEST(generator_is_deterministic_and_configurable)
{
    td_trackgen_config cfg;
    td_trackgen_defaults(&cfg);
    td_track a, b, c;
    cfg.seed = 7;
    TD_ASSERT_OK(td_track_generate(&a, &cfg, NULL));
    TD_ASSERT_OK(td_track_generate(&b, &cfg, NULL));
    TD_ASSERT_EQ_INT(a.n, b.n);
    TD_ASSERT_EQ(memcmp(a.center, b.center, sizeof(double) * 8 * (size_t)a.n), 0);
    TD_ASSERT_STREQ(a.name, "gen-7");
    cfg.seed = 8;
    TD_ASSERT_OK(td_track_generate(&c, &cfg, NULL));
    TD_ASSERT(c.n != a.n || memcmp(a.center, c.center, sizeof(double) * 2 * (size_t)a.n) != 0);
    td_track_free(&a);
    td_track_free(&b);
    td_track_free(&c);

    cfg.seed = 3;
    cfg.target_length_m = 60;
    cfg.width_m = 0.8;
    cfg.min_radius_m = 0.9;
    cfg.spacing_m = 0.2;
    TD_ASSERT_OK(td_track_generate(&a, &cfg, NULL));
    TD_ASSERT_NEAR(a.length, 60, 3);
    TD_ASSERT_NEAR(a.width[5], 0.8, 1e-12);
    assert_valid_track(&a, 0.9);
    td_track_free(&a);

    td_err err;
    cfg.width_m = -1;
    TD_ASSERT_EQ_INT(td_track_generate(&a, &cfg, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "width");
}

/* ---- JSON format ---------------------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    TD_ASSERT_OK(td_file_write_atomic(path, text, strlen(text), NULL));
}

TD_TEST(json_round_trip_and_errors)
{
    char dir[256], path[512];
    TD_FMT(dir, "%s", td_test_tmpdir());
    /* Rows form: a reference route saved and reloaded is identical, bit for bit. */
    for (int i = 0; i < NREF; i += 6) {
        td_track t, u;
        load_ref(&t, i);
        TD_FMT(t.description, "a \"quoted\" description\n");
        TD_FMT(path, "%s/%s.json", dir, t.name);
        TD_ASSERT_OK(td_track_save_json(&t, path, NULL));
        TD_ASSERT_OK(td_track_load(&u, path, NULL));
        TD_ASSERT_EQ_INT(u.n, t.n);
        TD_ASSERT_EQ_INT(u.closed, t.closed);
        TD_ASSERT_STREQ(u.name, t.name);
        TD_ASSERT_STREQ(u.description, t.description);
        TD_ASSERT_EQ(memcmp(u.center, t.center, sizeof(double) * 6 * (size_t)t.n), 0);
        td_track_free(&t);
        td_track_free(&u);
    }
    /* Centreline form with a per-point width: a CW square-ish loop, inner border on the right. */
    TD_FMT(path, "%s/cl.json", dir);
    write_text(path, "{\"format\": \"trackday-track\", \"version\": 1, \"name\": \"cl\",\n"
                     " \"direction\": \"cw\",\n"
                     " \"centerline\": [[0,0],[0,2],[2,2],[2,0]],\n"
                     " \"width\": [0.5, 0.6, 0.7, 0.8]}\n");
    td_track t;
    td_err err;
    TD_ASSERT_OK(td_track_load(&t, path, &err));
    TD_ASSERT_EQ_INT(t.n, 5);
    TD_ASSERT_EQ_INT(t.closed, 1);
    TD_ASSERT_EQ_INT(td_track_direction(&t), -1);
    TD_ASSERT_NEAR(t.width[2], 0.7, 1e-12);
    TD_ASSERT_NEAR(t.width[4], 0.5, 1e-12);
    /* Inner points are closer to the loop's middle (1, 1) than outer ones. */
    for (int i = 0; i < t.n; i++)
        TD_ASSERT(hypot(t.inner[2 * i] - 1, t.inner[2 * i + 1] - 1) <
                  hypot(t.outer[2 * i] - 1, t.outer[2 * i + 1] - 1));
    td_track_free(&t);

    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"{\"centerline\": [[0,0],[0,2],[2,2],[2,0]], \"width\": 0.5, \"colour\": 1}", "colour"},
        {"{\"centerline\": [[0,0],[0,2],[2,2],[2,0]], \"width\": [0.5]}", "1 values"},
        {"{\"centerline\": [[0,0],[0,2],[2,2],[2,0]]}", "width"},
        {"{\"centerline\": [[0,0],[0,2],[2,2]], \"width\": 0.5}", "at least 4"},
        {"{\"centerline\": [[0,0],[0,2],[2,2],[2,0]], \"width\": 0.5, \"direction\": \"ccw\"}",
         "centreline is cw"},
        {"{\"centerline\": [[0,0],[0,2],[2,2],[2,0]], \"width\": -1}", "width at point 0"},
        {"{\"rows\": [[0,0,0,0,0,0]], \"centerline\": [[0,0]]}", "exactly one"},
        {"{\"rows\": [[0,0,0,0,0]]}", "\"rows\"[0]"},
        {"{\"format\": \"other\", \"rows\": []}", "other"},
        {"{\"version\": 2, \"rows\": []}", "version 2"},
        {"[1, 2]", "JSON object"},
        {"{\"rows\": [[0,0,0,0,0,0],", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        TD_FMT(path, "%s/bad%zu.json", dir, i);
        write_text(path, bad[i].text);
        TD_ASSERT_MSG(td_track_load(&t, path, &err) < 0, "bad%zu accepted", i);
        TD_ASSERT_CONTAINS(err.msg, path);
        TD_ASSERT_CONTAINS(err.msg, bad[i].needle);
    }
}

/* ---- shipped tracks ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    double min_length, max_length;
} shipped[] = {
    {"oval", 17, 19},       {"kidney", 20, 24}, {"hairpin", 30, 40},   {"chicane", 24, 30},
    {"grand_prix", 60, 70}, {"canyon", 28, 36}, {"technical", 30, 40},
};

TD_TEST(shipped_tracks_are_valid)
{
    char path[512];
    int variable = 0, long_one = 0, hairpin = 0;
    for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
        td_track t;
        td_err err;
        TD_FMT(path, "%s/tracks/%s.json", TD_TEST_SOURCE_DIR, shipped[i].name);
        int rc = td_track_load(&t, path, &err);
        TD_ASSERT_MSG(rc == 0, "%s", err.msg);
        TD_ASSERT_STREQ(t.name, shipped[i].name);
        TD_ASSERT_GT(strlen(t.description), 20);
        TD_ASSERT_MSG(t.length >= shipped[i].min_length && t.length <= shipped[i].max_length,
                      "%s: length %.2f", t.name, t.length);
        assert_valid_track(&t, 0.6);
        for (int k = 0; k + 1 < t.n; k++)
            TD_ASSERT_MSG(t.arc[k + 1] - t.arc[k] >= 0.15 && t.arc[k + 1] - t.arc[k] <= 0.25,
                          "%s: waypoints %d and %d are %.3f m apart", t.name, k, k + 1,
                          t.arc[k + 1] - t.arc[k]);
        /* At least 0.3 m of grass between parts of the road that are not neighbours. */
        for (int a = 0; a + 1 < t.n; a++)
            for (int b = a + 1; b + 1 < t.n; b++) {
                double along = fmin(t.arc[b] - t.arc[a], t.length - (t.arc[b] - t.arc[a]));
                double clear = 0.5 * (t.width[a] + t.width[b]) + 0.3;
                if (along > 2.5 * clear)
                    TD_ASSERT_MSG(hypot(t.center[2 * a] - t.center[2 * b],
                                        t.center[2 * a + 1] - t.center[2 * b + 1]) >= clear,
                                  "%s: vertices %d and %d too close", t.name, a, b);
            }
        double wmin = INFINITY, wmax = 0;
        for (int k = 0; k < t.n; k++) {
            wmin = fmin(wmin, t.width[k]);
            wmax = fmax(wmax, t.width[k]);
        }
        variable += wmax - wmin > 0.3;
        long_one += t.length >= 60;
        hairpin += td_track_min_radius(&t) < 0.9;
        /* Both directions pass the geometry checks against the brute-force references. */
        td_track r;
        TD_ASSERT_OK(td_track_reverse(&r, &t, NULL));
        check_geometry_one(&t, 500 + i);
        check_geometry_one(&r, 600 + i);
        td_track_free(&r);
        td_track_free(&t);
    }
    TD_ASSERT_GE(variable, 1);
    TD_ASSERT_GE(long_one, 1);
    TD_ASSERT_GE(hairpin, 1);
}

/* ---- the command ---------------------------------------------------------------------------- */

/* Runs a shell command; returns its exit status and its stdout+stderr in out (cut to cap). */
static int run_cmd(const char *cmd, char *out, size_t cap)
{
    char *text;
    int rc = td_test_run_merged(cmd, &text);
    size_t n = strlen(text);
    memcpy(out, text, n < cap ? n + 1 : cap);
    out[cap - 1] = '\0';
    td_free(text);
    return rc;
}

TD_TEST(cli_tracks_commands)
{
    static char out[65536];
    char cmd[1024], dir[256], path[512];
    const char *bin = TD_TEST_TRACKDAY_BIN;
    TD_FMT(dir, "%s", td_test_tmpdir());

    TD_FMT(cmd, "%s tracks list", bin);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 0);
    TD_ASSERT_CONTAINS(out, "kidney");
    TD_ASSERT_CONTAINS(out, "shipped");
    TD_ASSERT_CONTAINS(out, "reInvent2019_track");
    TD_ASSERT_CONTAINS(out, "reference");

    TD_FMT(cmd, "%s tracks show reinvent_base --json", bin);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    TD_ASSERT_MSG(j != NULL, "show --json printed: %s", out);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "rows")), 119);
    TD_ASSERT_NEAR(json_real_value(json_object_get(j, "length_m")), 17.71, 0.01);
    TD_ASSERT_STREQ(json_string_value(json_object_get(j, "direction")), "ccw");
    TD_ASSERT(json_is_true(json_object_get(j, "closed")));
    json_decref(j);

    TD_FMT(cmd, "%s tracks show kidney --reverse", bin);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 0);
    TD_ASSERT_CONTAINS(out, "(reversed)");
    TD_ASSERT_CONTAINS(out, "direction:   cw");
    TD_ASSERT_CONTAINS(out, "check:       ok");
    TD_ASSERT_CONTAINS(out, "design:      ok");

    /* import: the JSON holds the de-duplicated rows and reloads to the same track. */
    TD_FMT(path, "%s/smile.json", dir);
    TD_FMT(cmd, "%s tracks import %s/reInvent2019_track.npy -o %s --name smile", bin,
           TD_SHARED_TRACKS, path);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 0);
    td_track a, b;
    TD_ASSERT_OK(td_track_load(&a, path, NULL));
    load_ref(&b, 1);
    TD_ASSERT_STREQ(a.name, "smile");
    TD_ASSERT_EQ_INT(a.n, 154);
    TD_ASSERT_EQ(memcmp(a.center, b.center, sizeof(double) * 6 * (size_t)a.n), 0);
    td_track_free(&a);
    td_track_free(&b);

    /* export: a DeepRacer route numpy reads back as the same values, bit for bit. */
    require_numpy();
    TD_FMT(path, "%s/hairpin_rev.npy", dir);
    TD_FMT(cmd, "%s tracks export hairpin --reverse -o %s", bin, path);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 0);
    TD_FMT(cmd,
           PYTHON " -c \"import numpy as np; a = np.load('%s'); "
                  "assert a.dtype == np.dtype('<f8') and a.shape[1] == 6 and a.flags.c_contiguous; "
                  "open('%s/hairpin_rev.raw', 'wb').write(a.tobytes())\"",
           path, dir);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 0);
    {
        td_track fwd, rev;
        char rawpath[512], *raw;
        size_t rawlen;
        TD_FMT(rawpath, "%s/tracks/hairpin.json", TD_TEST_SOURCE_DIR);
        TD_ASSERT_OK(td_track_load(&fwd, rawpath, NULL));
        TD_ASSERT_OK(td_track_reverse(&rev, &fwd, NULL));
        TD_FMT(rawpath, "%s/hairpin_rev.raw", dir);
        TD_ASSERT_OK(td_file_read(rawpath, &raw, &rawlen, NULL));
        TD_ASSERT_EQ_INT(rawlen, 48 * (size_t)rev.n);
        for (int i = 0; i < rev.n; i++) {
            double v[6];
            memcpy(v, raw + 48 * i, 48);
            TD_ASSERT_EQ(memcmp(&v[0], &rev.center[2 * i], 16), 0);
            TD_ASSERT_EQ(memcmp(&v[2], &rev.inner[2 * i], 16), 0);
            TD_ASSERT_EQ(memcmp(&v[4], &rev.outer[2 * i], 16), 0);
        }
        td_free(raw);
        td_track_free(&rev);
        td_track_free(&fwd);
        td_track again;
        TD_ASSERT_OK(td_track_load(&again, path, NULL));
        TD_ASSERT_STREQ(again.name, "hairpin_rev");
        td_track_free(&again);
    }

    /* render: a PNG of the requested width with road, ground and border colours. */
    TD_FMT(path, "%s/oval.png", dir);
    TD_FMT(cmd, "%s tracks render oval -o %s --width 400 --reverse", bin, path);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 0);
    uint8_t *px;
    int w, h, ch;
    TD_ASSERT_OK(td_png_read(path, &px, &w, &h, &ch, NULL));
    TD_ASSERT_EQ_INT(w, 400);
    TD_ASSERT(h > 100 && h < 400);
    int green = 0, dark = 0, white = 0;
    for (int i = 0; i < w * h; i++) {
        const uint8_t *p = px + ch * i;
        green += p[1] > p[0] + 40 && p[1] > p[2] + 40;
        dark += p[0] < 60 && p[1] < 60 && p[2] < 60;
        white += p[0] > 220 && p[1] > 220 && p[2] > 220;
    }
    TD_ASSERT_GT(green, w * h / 4);
    TD_ASSERT_GT(dark, w * h / 10);
    TD_ASSERT_GT(white, 500);
    td_free(px);

    TD_FMT(path, "%s/g.json", dir);
    TD_FMT(cmd, "%s tracks generate --seed 5 --length 25 --width 0.9 -o %s", bin, path);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 0);
    TD_ASSERT_OK(td_track_load(&a, path, NULL));
    TD_ASSERT_NEAR(a.length, 25, 1.5);
    TD_ASSERT_NEAR(a.width[3], 0.9, 1e-12);
    TD_ASSERT_STREQ(a.name, "gen-5");
    td_track_free(&a);

    /* Errors go to stderr with a non-zero status; every command has --help. */
    TD_FMT(cmd, "%s tracks show no_such_track", bin);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 1);
    TD_ASSERT_CONTAINS(out, "no track named 'no_such_track'");
    TD_FMT(cmd, "%s tracks generate --seed x -o %s", bin, path);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 2);
    TD_ASSERT_CONTAINS(out, "--seed: 'x' is not a whole number");
    TD_FMT(cmd, "%s tracks frobnicate", bin);
    TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 2);
    TD_ASSERT_CONTAINS(out, "unknown command 'frobnicate'");
    const char *subs[] = {"list", "show", "import", "export", "render", "generate"};
    for (int i = 0; i < 6; i++) {
        TD_FMT(cmd, "%s tracks %s --help", bin, subs[i]);
        TD_ASSERT_EQ_INT(run_cmd(cmd, out, sizeof(out)), 0);
        TD_ASSERT_CONTAINS(out, "usage: trackday tracks");
    }
}

/* ---- documentation -------------------------------------------------------------------------- */

TD_TEST(docs_example_loads)
{
    char *doc;
    size_t len;
    TD_ASSERT_OK(td_file_read(TD_TEST_SOURCE_DIR "/docs/track-format.md", &doc, &len, NULL));
    const char *start = strstr(doc, "```json\n");
    TD_ASSERT(start != NULL);
    start += 8;
    const char *end = strstr(start, "```");
    TD_ASSERT(end != NULL);
    char dir[256], path[512];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/square.json", dir);
    TD_ASSERT_OK(td_file_write_atomic(path, start, (size_t)(end - start), NULL));
    td_free(doc);
    td_track t;
    td_err err;
    int rc = td_track_load(&t, path, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
    TD_ASSERT_STREQ(t.name, "square");
    TD_ASSERT_EQ_INT(t.n, 13);
    TD_ASSERT_EQ_INT(td_track_direction(&t), 1);
    TD_ASSERT_NEAR(t.length, 10.09, 0.01);
    /* The inner border of a loop: each centre point moved half the width to the left of the
     * mean of its two segments' directions (the doc's first point: from (0.3, 0.3) to (2, 0)). */
    const double *c = t.center;
    int last = t.n - 1;
    if (c[2 * last] == c[0] && c[2 * last + 1] == c[1])
        last--; /* a closed loop repeats its first point */
    double ax = c[0] - c[2 * last], ay = c[1] - c[2 * last + 1], bx = c[2] - c[0], by = c[3] - c[1];
    double la = hypot(ax, ay), lb = hypot(bx, by);
    double tx = ax / la + bx / lb, ty = ay / la + by / lb, lt = hypot(tx, ty);
    TD_ASSERT_NEAR(t.inner[0], c[0] - ty / lt * 0.45, 1e-12);
    TD_ASSERT_NEAR(t.inner[1], c[1] + tx / lt * 0.45, 1e-12);
    TD_ASSERT_OK(td_track_check(&t, 0.6, NULL));
    td_track_free(&t);
}

/* ---- out of memory ----------------------------------------------------------------------------
 */

TD_TEST(out_of_memory_is_reported_without_leaks)
{
    char path[512];
    TD_FMT(path, "%s/reInvent2019_track.npy", TD_SHARED_TRACKS);
    char jpath[512];
    TD_FMT(jpath, "%s/tracks/canyon.json", TD_TEST_SOURCE_DIR);
    td_trackgen_config cfg;
    td_trackgen_defaults(&cfg);
    td_track ref;
    TD_ASSERT_OK(td_track_generate(&ref, &cfg, NULL));
    int ok_seen[3] = {0, 0, 0};
    for (long k = 0; k < 60; k++) {
        for (int which = 0; which < 3; which++) {
            long live = td_alloc_live();
            td_track t, r;
            td_err err;
            td_alloc_fail_after(k);
            int rc = which == 0   ? td_track_load(&t, path, &err)
                     : which == 1 ? td_track_load(&t, jpath, &err)
                                  : td_track_generate(&t, &cfg, &err);
            if (rc == 0 && which == 2) {
                /* Memory trouble never changes which track a seed gives. */
                TD_ASSERT_EQ_INT(t.n, ref.n);
                TD_ASSERT_EQ(memcmp(t.center, ref.center, sizeof(double) * 2 * (size_t)t.n), 0);
            }
            if (rc == 0) {
                rc = td_track_reverse(&r, &t, &err);
                if (rc == 0)
                    td_track_free(&r);
                td_track_free(&t);
            }
            td_alloc_fail_after(-1);
            TD_ASSERT_MSG(rc == 0 || rc == TD_ENOMEM || rc == TD_EIO,
                          "fail after %ld, case %d: rc %d (%s)", k, which, rc, err.msg);
            ok_seen[which] |= rc == 0;
            TD_ASSERT_MSG(td_alloc_live() == live, "fail after %ld, case %d: %ld leaked", k, which,
                          td_alloc_live() - live);
        }
    }
    TD_ASSERT(ok_seen[0] && ok_seen[1]);
    td_track_free(&ref);
}

/* ---- edge cases of the queries ----------------------------------------------------------------
 */

TD_TEST(queries_accept_any_previous_state_and_open_ends)
{
    td_track t;
    load_ref(&t, 16); /* Straight_track: open */
    TD_ASSERT_EQ_INT(t.closed, 0);
    double x, y, h;
    /* Arc lengths clamp to the ends of an open route. */
    TD_ASSERT_NEAR(td_track_wrap_arc(&t, -3.0), 0.0, 0);
    TD_ASSERT_NEAR(td_track_wrap_arc(&t, t.length + 3.0), t.length, 0);
    td_track_point_at(&t, t.length + 1.0, 0.0, &x, &y, &h);
    TD_ASSERT_NEAR(x, t.center[2 * (t.n - 1)], 1e-12);
    TD_ASSERT_NEAR(y, t.center[2 * (t.n - 1) + 1], 1e-12);
    /* Beyond the end: the projection is the end point, arc == length, last segment. */
    td_track_proj p = {.seg = -5};
    td_track_project_from(&t, x + 1.0, y, &p);
    TD_ASSERT_EQ_INT(p.seg, t.n - 2);
    TD_ASSERT_NEAR(p.t, 1.0, 0);
    TD_ASSERT_NEAR(p.arc, t.length, 1e-12);
    TD_ASSERT_EQ_INT(p.next_wp, t.n - 1);
    TD_ASSERT_EQ_INT(td_track_on_road(&t, &p, x + 1.0, y), 0);
    td_track_free(&t);

    /* A loop: from any previous segment, even an out-of-range one, the same answer. */
    load_ref(&t, 1);
    td_track_point_at(&t, 7.3, 0.2, &x, &y, NULL);
    td_track_proj ref;
    td_track_project(&t, x, y, &ref);
    int starts[] = {-1, 0, 17, t.n - 2, t.n - 1, t.n + 40, 100000};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        p.seg = starts[i];
        td_track_project_from(&t, x, y, &p);
        TD_ASSERT_EQ_INT(p.seg, ref.seg);
        TD_ASSERT_NEAR(p.arc, ref.arc, 1e-12);
        TD_ASSERT_EQ_INT(td_track_on_road(&t, &p, x, y), 1);
    }
    /* The start line: a point just behind it projects near the end of the lap, just
     * after it near 0; the closing duplicate is never the prev waypoint. */
    td_track_point_at(&t, -0.01, 0.0, &x, &y, NULL);
    td_track_project(&t, x, y, &p);
    TD_ASSERT(p.arc > t.length - 0.02 && p.arc < t.length);
    TD_ASSERT_EQ_INT(p.prev_wp, t.n - 2);
    TD_ASSERT_EQ_INT(p.next_wp, t.n - 1);
    td_track_point_at(&t, 0.01, 0.0, &x, &y, NULL);
    td_track_project_from(&t, x, y, &p);
    TD_ASSERT_LT(p.arc, 0.02);
    TD_ASSERT_EQ_INT(p.prev_wp, 0);
    td_track_free(&t);
}

/* ---- finding a track by name ------------------------------------------------------------- */

/* DeepRacer's 127 route names, _cw/_ccw variants included (facts from deepracer-simapp's
 * bundle/routes: 127 files, 58 of them _cw/_ccw variants). */
TD_TEST(deepracer_route_names_are_all_known)
{
    int n, variants = 0;
    const char *const *names = td_deepracer_route_names(&n);
    TD_ASSERT_EQ_INT(n, 127);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        variants += (l > 3 && !strcmp(names[i] + l - 3, "_cw")) ||
                    (l > 4 && !strcmp(names[i] + l - 4, "_ccw"));
        TD_ASSERT(td_deepracer_route_known(names[i]));
        for (int j = 0; j < i; j++)
            TD_ASSERT_MSG(strcmp(names[i], names[j]) != 0, "%s twice", names[i]);
    }
    TD_ASSERT_EQ_INT(variants, 58);
    TD_ASSERT(td_deepracer_route_known("reInvent2019_track_cw"));
    TD_ASSERT(td_deepracer_route_known("2024_reinvent_champ_ccw"));
    TD_ASSERT(!td_deepracer_route_known("reinvent_base_cw"));
}

/* Every one of the 127 names resolves through the search path, folder by folder in order: a
 * folder standing in for DeepRacer's bundle/routes holds a file for each name (copies of one
 * reference route), an earlier folder overrides one name, and each file loads. */
TD_TEST(every_deepracer_name_resolves_through_the_search_path)
{
    char first[512], routes[512], path[1024], src[512];
    int n;
    const char *const *names = td_deepracer_route_names(&n);
    TD_FMT(first, "%s/first", td_test_tmpdir());
    TD_FMT(routes, "%s/routes", td_test_tmpdir());
    TD_ASSERT_EQ_INT(mkdir(first, 0755), 0);
    TD_ASSERT_EQ_INT(mkdir(routes, 0755), 0);
    snprintf(src, sizeof(src), "%s/Oval_track.npy", TD_SHARED_TRACKS);
    char *data;
    size_t len;
    td_err err;
    TD_ASSERT_OK(td_file_read(src, &data, &len, &err));
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s.npy", routes, names[i]);
        TD_ASSERT_OK(td_file_write_atomic(path, data, len, &err));
    }
    snprintf(path, sizeof(path), "%s/Albert.npy", first);
    TD_ASSERT_OK(td_file_write_atomic(path, data, len, &err));
    td_free(data);
    const char *dirs[3] = {"/nonexistent/folder", first, routes};
    for (int i = 0; i < n; i++) {
        char out[512];
        td_track t;
        TD_ASSERT_OK(td_track_find(names[i], dirs, 3, NULL, 0, out, sizeof(out), &err));
        snprintf(path, sizeof(path), "%s/%s.npy", strcmp(names[i], "Albert") ? routes : first,
                 names[i]);
        TD_ASSERT_STREQ(out, path);
        TD_ASSERT_OK(td_track_load(&t, out, &err));
        TD_ASSERT_STREQ(t.name, names[i]);
        td_track_free(&t);
    }
}

TD_TEST(unresolved_track_names_say_where_they_looked)
{
    char out[512];
    td_err err;
    const char *dirs[2] = {"/nowhere/a", "/nowhere/b"};
    const char *known[2] = {"kidney", "oval"};
    /* A DeepRacer route that is not on the path: where it looked and how to pass a file. */
    TD_ASSERT_EQ_INT(td_track_find("2022_april_open", dirs, 2, known, 2, out, sizeof(out), &err),
                     TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "'2022_april_open' is a DeepRacer route");
    TD_ASSERT_CONTAINS(err.msg, "Looked for 2022_april_open.npy in: /nowhere/a, /nowhere/b");
    TD_ASSERT_CONTAINS(err.msg, "--tracks-dir or TRACKDAY_TRACKS, or give the file's path");
    /* A typo: the closest name, shipped or DeepRacer's. */
    TD_ASSERT_EQ_INT(td_track_find("kidny", dirs, 2, known, 2, out, sizeof(out), &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "no track named 'kidny' (did you mean 'kidney'?)");
    TD_ASSERT_CONTAINS(err.msg, "in: /nowhere/a, /nowhere/b");
    TD_ASSERT_EQ_INT(td_track_find("reinvent2019_trak", dirs, 2, known, 2, out, sizeof(out), &err),
                     TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "did you mean 'reInvent2019_track'?");
    TD_ASSERT_EQ_INT(td_track_find("zzzzzzzzzzzz", dirs, 2, known, 2, out, sizeof(out), &err),
                     TD_ENOENT);
    TD_ASSERT(strstr(err.msg, "did you mean") == NULL);
    /* A direction's route whose base route is on the path: the base is found, and the message
     * says why it is not used (DeepRacer's _cw file is a separate route) and what drives it the
     * other way. */
    const char *shared[2] = {"/nowhere/a", TD_SHARED_TRACKS};
    TD_ASSERT_EQ_INT(
        td_track_find("reInvent2019_wide_cw", shared, 2, known, 2, out, sizeof(out), &err),
        TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "'reInvent2019_wide_cw' is a DeepRacer route");
    TD_ASSERT_CONTAINS(err.msg, TD_SHARED_TRACKS "/reInvent2019_wide.npy is there: the base route");
    TD_ASSERT_CONTAINS(err.msg, "separate, resampled route file");
    TD_ASSERT_CONTAINS(err.msg, "WORLD_NAME reInvent2019_wide with REVERSE_DIR: true");
    TD_ASSERT_EQ_INT(
        td_track_find("reInvent2019_wide_ccw", shared, 2, known, 2, out, sizeof(out), &err),
        TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "/reInvent2019_wide.npy is there");
    /* Without the base on the path, no such note. */
    TD_ASSERT_EQ_INT(
        td_track_find("reInvent2019_wide_cw", dirs, 2, known, 2, out, sizeof(out), &err),
        TD_ENOENT);
    TD_ASSERT(strstr(err.msg, "is there") == NULL);
    /* A path is a path. */
    TD_ASSERT_EQ_INT(td_track_find("/nowhere/x.npy", dirs, 2, NULL, 0, out, sizeof(out), &err),
                     TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "track file '/nowhere/x.npy' not found");
}

/* ---- a route that crosses itself --------------------------------------------------------- */

/* Writes a figure-eight (a lemniscate of Gerono, crossing at the origin) as a JSON track. */
static void write_figure_eight(const char *path)
{
    char text[8192];
    int n = snprintf(text, sizeof(text),
                     "{\"format\": \"trackday-track\", \"version\": 1, \"name\": \"eight\", "
                     "\"closed\": true, \"width\": 0.6, \"centerline\": [");
    for (int i = 0; i < 64; i++) {
        double a = 2.0 * M_PI * i / 64.0;
        n += snprintf(text + n, sizeof(text) - (size_t)n, "%s[%.6f, %.6f]", i ? ", " : "",
                      4.0 * sin(a), 3.0 * sin(a) * cos(a));
    }
    TD_ASSERT_LT(snprintf(text + n, sizeof(text) - (size_t)n, "]}\n"), (int)sizeof(text) - n);
    td_test_write(path, text);
}

TD_TEST(self_crossing_route_is_refused_by_every_loader)
{
    char path[512], cmd[2048], dir[512];
    td_track t;
    td_err err;
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/eight.json", dir);
    write_figure_eight(path);
    TD_ASSERT_ERR(td_track_load(&t, path, &err), TD_EFORMAT, &err, "the centreline crosses itself");
    TD_ASSERT_CONTAINS(err.msg, "eight.json: not a drivable route");
    /* A route that does not cross itself loads. */
    td_track ok;
    TD_ASSERT_OK(td_track_load(&ok, TD_TEST_SOURCE_DIR "/tracks/oval.json", &err));
    td_track_free(&ok);

    /* Every command that loads a track says so and exits 1. */
    const char *cmds[] = {
        "tracks show '%s'",
        "tracks import '%s' -o '%s/x.json'",
        "tracks render '%s' -o '%s/x.png'",
        "drive --track '%s'",
        "camera --track '%s' --at 10 -o '%s/c.png'",
        "probe --track '%s' < /dev/null",
        "init '%s/m' --track '%s'",
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char args[1024];
        if (i == 6)
            TD_FMT(args, cmds[i], dir, path);
        else
            TD_FMT(args, cmds[i], path, dir);
        TD_FMT(cmd, "'%s' %s", TD_TEST_TRACKDAY_BIN, args);
        char *errs;
        int rc = td_test_run(cmd, NULL, &errs);
        TD_ASSERT_MSG(rc == 1, "%s: exit %d: %s", args, rc, errs);
        TD_ASSERT_CONTAINS(errs, "the centreline crosses itself");
        td_free(errs);
    }
    /* A model directory whose WORLD_NAME is the route: train refuses it too. */
    TD_FMT(cmd,
           "'%s' init '%s/m2' >/dev/null && sed -i 's|^WORLD_NAME:.*|WORLD_NAME: %s|' "
           "'%s/m2/training_params.yaml'",
           TD_TEST_TRACKDAY_BIN, dir, path, dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_FMT(cmd, "'%s' train '%s/m2' --iterations 1 --quiet", TD_TEST_TRACKDAY_BIN, dir);
    char *errs;
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, &errs), 1);
    TD_ASSERT_CONTAINS(errs, "the centreline crosses itself");
    td_free(errs);
}

/* A route too short to drive (the newcomer audit's first three rows of a DeepRacer route,
 * 0.3 m, and a route drawn in mm) is refused where it loads, naming the length and the
 * minimum; a straight of exactly the minimum loads, one just under it does not. */
TD_TEST(routes_too_short_to_drive_are_refused)
{
    char dir[512], cmd[2048];
    require_numpy();
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(cmd,
           PYTHON " -c \"import numpy as np; a = np.load('%s/reinvent_base.npy'); "
                  "np.save('%s/three.npy', a[:3]); np.save('%s/tiny.npy', a * 1e-3)\"",
           TD_SHARED_TRACKS, dir, dir);
    TD_ASSERT_EQ_INT(system(cmd), 0);
    static const char *const files[] = {"three.npy", "tiny.npy"};
    static const char *const lengths[] = {"0.3 m long (3 points)", "0.0177 m long"};
    for (int f = 0; f < 2; f++) {
        const char *cmds[] = {"tracks show '%s/%s'", "drive --track '%s/%s' --laps 1",
                              "init '%s/m' --track '%s/three.npy'"};
        for (int i = 0; i < (f ? 2 : 3); i++) {
            char args[1024];
            if (i == 2)
                TD_FMT(args, cmds[i], dir, dir);
            else
                TD_FMT(args, cmds[i], dir, files[f]);
            TD_FMT(cmd, "'%s' %s", TD_TEST_TRACKDAY_BIN, args);
            char *errs;
            int rc = td_test_run(cmd, NULL, &errs);
            TD_ASSERT_MSG(rc == 1, "%s: exit %d: %s", args, rc, errs);
            TD_ASSERT_CONTAINS(errs, files[f]);
            TD_ASSERT_CONTAINS(errs, lengths[f]);
            TD_ASSERT_CONTAINS(errs, "a route needs at least 2 m to be driven");
            td_free(errs);
        }
    }
    /* The bound itself: a straight of TD_TRACK_MIN_LENGTH_M loads, a hair shorter does not. */
    for (int k = 0; k < 2; k++) {
        double len = k ? nextafter(TD_TRACK_MIN_LENGTH_M, 0.0) : TD_TRACK_MIN_LENGTH_M;
        double rows[5 * 6];
        for (int i = 0; i < 5; i++) {
            double x = len * i / 4.0;
            double r[6] = {x, 0.0, x, 0.4, x, -0.4};
            memcpy(rows + 6 * i, r, sizeof(r));
        }
        td_track t;
        td_err err;
        int rc = td_track_from_rows(&t, rows, 5, "straight", "straight.npy", &err);
        if (k == 0) {
            TD_ASSERT_MSG(rc == 0, "%s", err.msg);
            TD_ASSERT_NEAR(t.length, TD_TRACK_MIN_LENGTH_M, 1e-12);
            td_track_free(&t);
        } else {
            TD_ASSERT_ERR(rc, TD_EFORMAT, &err, "straight.npy: the centreline is 2 m long");
            TD_ASSERT(t.center == NULL);
        }
    }
}
