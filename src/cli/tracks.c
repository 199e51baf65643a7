/*
 * tracks.c - `trackday tracks`: list the shipped tracks and the reference routes, show one,
 * import a DeepRacer .npy route into trackday's JSON format, export a track as a DeepRacer
 * route, render a top view, generate a procedural track.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/json.h"
#include "trackday/track.h"

#ifndef TD_SOURCE_DIR
#define TD_SOURCE_DIR "."
#endif

/* The minimum turn radius `show` checks shipped tracks against (a 1/18 car, m). */
#define SHOW_MIN_RADIUS_M 0.6

static const char *tracks_usage =
    "usage: trackday tracks COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  list                                  shipped tracks and reference routes\n"
    "  show NAME|PATH [--reverse] [--json]   details of one track\n"
    "  import FILE.npy [-o OUT.json] [--name NAME] [--description TEXT]\n"
    "                                        convert a DeepRacer route to trackday JSON\n"
    "  export NAME|PATH -o OUT.npy|OUT.json [--reverse]\n"
    "                                        write a track as a DeepRacer route or JSON\n"
    "  render NAME|PATH -o OUT.png [--reverse] [--width PX]\n"
    "                                        top-view picture\n"
    "  generate --seed S [--length M] [--width M] [--min-radius M] [--spacing M]\n"
    "           -o OUT.json [--png OUT.png]  procedural track\n"
    "\n"
    "NAME is a shipped track (tracks/NAME.json) or a reference route (../shared/tracks).\n"
    "Run 'trackday tracks COMMAND --help' for details.\n";

/* ---- helpers -------------------------------------------------------------------------------- */

/* The generator checks the values against each other and says what is wrong. */
static int parse_double(const char *opt, const char *s, double *out)
{
    return td__cli_parse_double(opt, s, -1e9, 1e9, out);
}

/* Loads a track argument (name or path), optionally reversed. */
static int load_arg(const char *arg, int reverse, td_track *t)
{
    char path[4096];
    td_err err;
    if (td__cli_track_path(arg, path, sizeof(path)))
        return 1;
    if (td_track_load(t, path, &err))
        return td__cli_fail("%s", err.msg);
    if (reverse) {
        td_track r;
        int rc = td_track_reverse(&r, t, &err);
        td_track_free(t);
        if (rc)
            return td__cli_fail("%s", err.msg);
        *t = r;
    }
    return 0;
}

static void width_stats(const td_track *t, double *wmin, double *wmean, double *wmax)
{
    *wmin = INFINITY;
    *wmax = -INFINITY;
    *wmean = 0.0;
    for (int i = 0; i < t->n; i++) {
        *wmin = fmin(*wmin, t->width[i]);
        *wmax = fmax(*wmax, t->width[i]);
        *wmean += t->width[i];
    }
    *wmean /= t->n;
}

/* DeepRacer's track_width (nearest border points) at every centre vertex. */
static void nearest_width_stats(const td_track *t, double *wmin, double *wmean, double *wmax)
{
    *wmin = INFINITY;
    *wmax = -INFINITY;
    *wmean = 0.0;
    for (int i = 0; i + 1 < t->n; i++) {
        td_track_proj p = {.seg = i, .t = 0.0, .px = t->center[2 * i], .py = t->center[2 * i + 1]};
        double w = td_track_width_nearest(t, &p);
        *wmin = fmin(*wmin, w);
        *wmax = fmax(*wmax, w);
        *wmean += w;
    }
    *wmean /= t->n - 1;
}

static const char *dir_name(const td_track *t)
{
    int d = td_track_direction(t);
    return d > 0 ? "ccw" : (d < 0 ? "cw" : "open");
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the files in dir ending with suffix; returns the count (0 if no dir). */
static int list_dir(const char *dir, const char *suffix, char ***names)
{
    DIR *d = opendir(dir);
    int n = 0, cap = 0;
    *names = NULL;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_suffix(e->d_name, suffix))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nn = td_realloc(*names, sizeof(char *) * (size_t)cap);
            if (!nn)
                break;
            *names = nn;
        }
        (*names)[n++] = td_strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(*names, (size_t)n, sizeof(char *), cmp_str);
    return n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        td_free(names[i]);
    td_free(names);
}

/* ---- list ----------------------------------------------------------------------------------- */

static void list_one(const char *dir, const char *file, const char *kind)
{
    char path[4096];
    td_track t;
    td_err err;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (td_track_load(&t, path, &err)) {
        printf("%-26s %-9s  (does not load: %s)\n", file, kind, err.msg);
        return;
    }
    double wmin, wmean, wmax;
    width_stats(&t, &wmin, &wmean, &wmax);
    char name[TD_TRACK_NAME_LEN];
    snprintf(name, sizeof(name), "%s", file);
    char *dot = strrchr(name, '.');
    if (dot)
        *dot = '\0';
    char wtxt[48];
    if (wmax - wmin < 0.005)
        snprintf(wtxt, sizeof(wtxt), "%.3f", wmean);
    else
        snprintf(wtxt, sizeof(wtxt), "%.3f (%.2f-%.2f)", wmean, wmin, wmax);
    printf("%-26s %-9s %8.2f  %-18s %-5s %5d\n", name, kind, t.length, wtxt, dir_name(&t), t.n);
    td_track_free(&t);
}

/* The DeepRacer route names and where on the search path each one is, if anywhere. */
static int list_deepracer(void)
{
    const char *dirs[40];
    int nd = td__cli_track_search_path(NULL, dirs, 40), n, found = 0;
    const char *const *names = td_deepracer_route_names(&n);
    printf("%-30s %s\n", "DeepRacer route (WORLD_NAME)", "file");
    for (int i = 0; i < n; i++) {
        char path[4096];
        td_err err;
        int ok = td_track_find(names[i], dirs, nd, NULL, 0, path, sizeof(path), &err) == 0;
        found += ok;
        printf("%-30s %s\n", names[i], ok ? path : "-");
    }
    printf("%d of %d found on the search path:", found, n);
    for (int d = 0; d < nd; d++)
        printf(" %s", dirs[d]);
    printf("\n");
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    if (td__cli_wants_help(argc, argv)) {
        printf("usage: trackday tracks list [--deepracer]\n\nLists the shipped tracks (%s) and the "
               "route files (.npy) in the other folders of the track search path (--tracks-dir, "
               "TRACKDAY_TRACKS, ../shared/tracks), with centreline length (m), mean width (m, "
               "with the range if it varies), direction and rows.\n\n"
               "  --deepracer   DeepRacer's 127 route names (WORLD_NAME values) and the file each "
               "one resolves to, '-' when it is not on the search path\n",
               td__cli_tracks_dir());
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--deepracer"))
        return list_deepracer();
    if (argc > 1)
        return td__cli_fail("tracks list: unexpected argument '%s'", argv[1]);
    printf("%-26s %-9s %8s  %-18s %-5s %5s\n", "name", "kind", "length", "width", "dir", "rows");
    char **names;
    const char *dir = td__cli_tracks_dir();
    int n = list_dir(dir, ".json", &names);
    for (int i = 0; i < n; i++)
        list_one(dir, names[i], "shipped");
    free_names(names, n);
    const char *dirs[40];
    int nd = td__cli_track_search_path(NULL, dirs, 40);
    for (int d = 0; d < nd; d++) {
        if (!strcmp(dirs[d], dir))
            continue;
        n = list_dir(dirs[d], ".npy", &names);
        for (int i = 0; i < n; i++)
            list_one(dirs[d], names[i], "reference");
        free_names(names, n);
    }
    return 0;
}

/* ---- show ----------------------------------------------------------------------------------- */

static int cmd_show(int argc, char **argv)
{
    const char *arg = NULL;
    int json = 0, reverse = 0;
    if (td__cli_wants_help(argc, argv)) {
        printf("usage: trackday tracks show NAME|PATH [--reverse] [--json]\n\n"
               "Prints a track's name, description, rows, centreline length, width (min, mean, "
               "max), whether it is closed, its direction, bounding box, smallest turn radius, "
               "the geometry check (no crossing of centre line and borders, inner border "
               "inside) and trackday's design rules (turn radius at least %.2f m and more "
               "than half the width; some DeepRacer routes are tighter).\n",
               SHOW_MIN_RADIUS_M);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--reverse") == 0)
            reverse = 1;
        else if (argv[i][0] == '-')
            return td__cli_fail("tracks show: unknown option '%s'", argv[i]);
        else if (!arg)
            arg = argv[i];
        else
            return td__cli_fail("tracks show: unexpected argument '%s'", argv[i]);
    }
    if (!arg)
        return td__cli_fail("tracks show: which track? (trackday tracks show NAME|PATH)");
    td_track t;
    if (load_arg(arg, reverse, &t))
        return 1;
    double wmin, wmean, wmax, nmin, nmean, nmax;
    width_stats(&t, &wmin, &wmean, &wmax);
    nearest_width_stats(&t, &nmin, &nmean, &nmax);
    td_err err, derr;
    int valid = td_track_check(&t, 0.0, &err) == 0;
    int design = valid && td_track_check(&t, SHOW_MIN_RADIUS_M, &derr) == 0;
    double rmin = td_track_min_radius(&t);
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(t.name));
        json_object_set_new(o, "description", json_string(t.description));
        json_object_set_new(o, "rows", json_integer(t.n));
        json_object_set_new(o, "length_m", json_real(t.length));
        json_object_set_new(o, "width_min_m", json_real(wmin));
        json_object_set_new(o, "width_mean_m", json_real(wmean));
        json_object_set_new(o, "width_max_m", json_real(wmax));
        json_object_set_new(o, "track_width_min_m", json_real(nmin));
        json_object_set_new(o, "track_width_mean_m", json_real(nmean));
        json_object_set_new(o, "track_width_max_m", json_real(nmax));
        json_object_set_new(o, "closed", json_boolean(t.closed));
        json_object_set_new(o, "reversed", json_boolean(t.reversed));
        json_object_set_new(o, "direction", json_string(dir_name(&t)));
        json_object_set_new(o, "bbox", json_pack("[ffff]", t.min_x, t.min_y, t.max_x, t.max_y));
        json_object_set_new(o, "min_radius_m", rmin < 1e4 ? json_real(rmin) : json_null());
        json_object_set_new(o, "valid", json_boolean(valid));
        if (!valid)
            json_object_set_new(o, "problem", json_string(err.msg));
        json_object_set_new(o, "design_rules", json_boolean(design));
        if (valid && !design)
            json_object_set_new(o, "design_problem", json_string(derr.msg));
        char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (txt)
            printf("%s\n", txt);
        free(txt);
        json_decref(o);
    } else {
        printf("name:        %s%s\n", t.name, t.reversed ? " (reversed)" : "");
        if (t.description[0])
            printf("description: %s\n", t.description);
        printf("rows:        %d%s\n", t.n, t.closed ? " (including the closing duplicate)" : "");
        printf("length:      %.3f m\n", t.length);
        printf("width:       min %.3f  mean %.3f  max %.3f m (rows)\n", wmin, wmean, wmax);
        printf("track_width: min %.3f  mean %.3f  max %.3f m (nearest border points, as "
               "DeepRacer's params)\n",
               nmin, nmean, nmax);
        printf("closed:      %s\n", t.closed ? "yes" : "no");
        printf("direction:   %s\n", dir_name(&t));
        printf("bbox:        x %.3f .. %.3f, y %.3f .. %.3f m\n", t.min_x, t.max_x, t.min_y,
               t.max_y);
        if (rmin < 1e4)
            printf("min radius:  %.3f m\n", rmin);
        else
            printf("min radius:  none (straight)\n");
        printf("check:       %s\n", valid ? "ok" : err.msg);
        if (valid)
            printf("design:      %s\n", design ? "ok" : derr.msg);
    }
    td_track_free(&t);
    return 0;
}

/* ---- import --------------------------------------------------------------------------------- */

static int cmd_import(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *name = NULL, *desc = NULL;
    if (td__cli_wants_help(argc, argv)) {
        printf("usage: trackday tracks import FILE.npy [-o OUT.json] [--name NAME] "
               "[--description TEXT]\n\n"
               "Converts a DeepRacer route file (.npy, shape (N, 6)) into trackday's JSON "
               "track format (docs/track-format.md), rows form. Duplicate consecutive points "
               "are removed as DeepRacer does. The default output is NAME.json in the current "
               "directory, NAME being the file's base name.\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--name") == 0 ||
             strcmp(argv[i], "--description") == 0)) {
            if (i + 1 >= argc)
                return td__cli_fail("tracks import: %s needs a value", argv[i]);
            const char **dst = argv[i][1] == 'o' ? &out : (argv[i][2] == 'n' ? &name : &desc);
            *dst = argv[++i];
        } else if (argv[i][0] == '-') {
            return td__cli_fail("tracks import: unknown option '%s'", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else {
            return td__cli_fail("tracks import: unexpected argument '%s'", argv[i]);
        }
    }
    if (!in)
        return td__cli_fail("tracks import: which file? (trackday tracks import FILE.npy)");
    td_track t;
    td_err err;
    if (td_track_load(&t, in, &err))
        return td__cli_fail("%s", err.msg);
    if (name)
        snprintf(t.name, sizeof(t.name), "%s", name);
    if (desc)
        snprintf(t.description, sizeof(t.description), "%s", desc);
    else if (!t.description[0])
        snprintf(t.description, sizeof(t.description), "imported from %s", in);
    char outbuf[4096];
    if (!out) {
        snprintf(outbuf, sizeof(outbuf), "%s.json", t.name);
        out = outbuf;
    }
    int rc = td_track_save_json(&t, out, &err);
    if (rc == 0)
        printf("wrote %s: %s, %d rows, %.2f m, %s\n", out, t.name, t.n, t.length, dir_name(&t));
    td_track_free(&t);
    return rc ? td__cli_fail("%s", err.msg) : 0;
}

/* ---- export --------------------------------------------------------------------------------- */

static int cmd_export(int argc, char **argv)
{
    const char *arg = NULL, *out = NULL;
    int reverse = 0;
    if (td__cli_wants_help(argc, argv)) {
        printf("usage: trackday tracks export NAME|PATH -o OUT.npy|OUT.json [--reverse]\n\n"
               "Writes a track as a DeepRacer route file (.npy version 1.0, '<f8', shape (N, 6), "
               "usable by DeepRacer tools) or as trackday JSON in the rows form, by the output's "
               "extension. --reverse writes the reverse driving direction.\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0) {
            if (i + 1 >= argc)
                return td__cli_fail("tracks export: -o needs a value");
            out = argv[++i];
        } else if (strcmp(argv[i], "--reverse") == 0) {
            reverse = 1;
        } else if (argv[i][0] == '-') {
            return td__cli_fail("tracks export: unknown option '%s'", argv[i]);
        } else if (!arg) {
            arg = argv[i];
        } else {
            return td__cli_fail("tracks export: unexpected argument '%s'", argv[i]);
        }
    }
    if (!arg || !out)
        return td__cli_fail("tracks export: usage: trackday tracks export NAME|PATH -o OUT.npy");
    int npy = has_suffix(out, ".npy");
    if (!npy && !has_suffix(out, ".json"))
        return td__cli_fail("tracks export: '%s' must end in .npy or .json", out);
    td_track t;
    if (load_arg(arg, reverse, &t))
        return 1;
    td_err err;
    int rc = npy ? td_track_save_npy(&t, out, &err) : td_track_save_json(&t, out, &err);
    if (rc == 0)
        printf("wrote %s: %s%s, %d rows, %.2f m\n", out, t.name, t.reversed ? " (reversed)" : "",
               t.n, t.length);
    td_track_free(&t);
    return rc ? td__cli_fail("%s", err.msg) : 0;
}

/* ---- render --------------------------------------------------------------------------------- */

static int cmd_render(int argc, char **argv)
{
    const char *arg = NULL, *out = NULL;
    int reverse = 0;
    double width = 1024;
    if (td__cli_wants_help(argc, argv)) {
        printf("usage: trackday tracks render NAME|PATH -o OUT.png [--reverse] [--width PX]\n\n"
               "Draws a top view: green ground, dark road, white borders, a dashed yellow "
               "centre line, a chequered start line at row 0 and a red arrow in the driving "
               "direction. Default width 1024 px.\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--width") == 0) {
            if (i + 1 >= argc)
                return td__cli_fail("tracks render: %s needs a value", argv[i]);
            if (argv[i][1] == 'o')
                out = argv[++i];
            else if (parse_double("--width", argv[++i], &width))
                return 1;
        } else if (strcmp(argv[i], "--reverse") == 0) {
            reverse = 1;
        } else if (argv[i][0] == '-') {
            return td__cli_fail("tracks render: unknown option '%s'", argv[i]);
        } else if (!arg) {
            arg = argv[i];
        } else {
            return td__cli_fail("tracks render: unexpected argument '%s'", argv[i]);
        }
    }
    if (!arg || !out)
        return td__cli_fail("tracks render: usage: trackday tracks render NAME|PATH -o OUT.png");
    td_track t;
    if (load_arg(arg, reverse, &t))
        return 1;
    td_err err;
    int rc = td_track_render_png(&t, out, (int)width, &err);
    td_track_free(&t);
    if (rc)
        return td__cli_fail("%s", err.msg);
    printf("wrote %s\n", out);
    return 0;
}

/* ---- generate ------------------------------------------------------------------------------- */

static int cmd_generate(int argc, char **argv)
{
    td_trackgen_config cfg;
    td_trackgen_defaults(&cfg);
    const char *out = NULL, *png = NULL;
    int have_seed = 0;
    if (td__cli_wants_help(argc, argv)) {
        printf("usage: trackday tracks generate --seed S [--length M] [--width M] "
               "[--min-radius M] [--spacing M] -o OUT.json [--png OUT.png]\n\n"
               "Generates a valid closed track (no self-intersection, turn radius at least the "
               "minimum, grass between parts of the road); the same seed gives the same "
               "track. Defaults: length %.0f m, width %.3f m, minimum radius %.2f m, waypoint "
               "spacing %.2f m.\n",
               cfg.target_length_m, cfg.width_m, cfg.min_radius_m, cfg.spacing_m);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "-o") == 0 || strcmp(o, "--png") == 0 || strcmp(o, "--seed") == 0 ||
            strcmp(o, "--length") == 0 || strcmp(o, "--width") == 0 ||
            strcmp(o, "--min-radius") == 0 || strcmp(o, "--spacing") == 0) {
            if (i + 1 >= argc)
                return td__cli_fail("tracks generate: %s needs a value", o);
            const char *v = argv[++i];
            if (strcmp(o, "-o") == 0) {
                out = v;
            } else if (strcmp(o, "--png") == 0) {
                png = v;
            } else if (strcmp(o, "--seed") == 0) {
                char *end;
                unsigned long long s = strtoull(v, &end, 10);
                if (end == v || *end || v[0] == '-')
                    return td__cli_fail("--seed: '%s' is not a non-negative integer", v);
                cfg.seed = s;
                have_seed = 1;
            } else {
                double *dst = strcmp(o, "--length") == 0    ? &cfg.target_length_m
                              : strcmp(o, "--width") == 0   ? &cfg.width_m
                              : strcmp(o, "--spacing") == 0 ? &cfg.spacing_m
                                                            : &cfg.min_radius_m;
                if (parse_double(o, v, dst))
                    return 1;
            }
        } else {
            return td__cli_fail("tracks generate: unknown argument '%s'", o);
        }
    }
    if (!have_seed || !out)
        return td__cli_fail("tracks generate: --seed S and -o OUT.json are required");
    td_track t;
    td_err err;
    if (td_track_generate(&t, &cfg, &err))
        return td__cli_fail("%s", err.msg);
    int rc = td_track_save_json(&t, out, &err);
    if (rc == 0 && png)
        rc = td_track_render_png(&t, png, 1024, &err);
    if (rc == 0)
        printf("wrote %s: %s, %d rows, %.2f m, width %.3f m, min radius %.2f m\n", out, t.name, t.n,
               t.length, t.width[0], td_track_min_radius(&t));
    td_track_free(&t);
    return rc ? td__cli_fail("%s", err.msg) : 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static int cmd_tracks(int argc, char **argv)
{
    if (argc < 2) {
        fputs(tracks_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        fputs(tracks_usage, stdout);
        return 0;
    }
    if (strcmp(sub, "list") == 0)
        return cmd_list(argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0)
        return cmd_show(argc - 1, argv + 1);
    if (strcmp(sub, "import") == 0)
        return cmd_import(argc - 1, argv + 1);
    if (strcmp(sub, "export") == 0)
        return cmd_export(argc - 1, argv + 1);
    if (strcmp(sub, "render") == 0)
        return cmd_render(argc - 1, argv + 1);
    if (strcmp(sub, "generate") == 0)
        return cmd_generate(argc - 1, argv + 1);
    fprintf(stderr, "trackday: tracks: unknown command '%s'\n\n%s", sub, tracks_usage);
    return 2;
}

TD_CLI_COMMAND("tracks", "list, show, import, export, render and generate tracks", cmd_tracks)
