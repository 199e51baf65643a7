/*
 * tracks.c - `trackday tracks`: list the shipped tracks and the reference routes, show one,
 * import a DeepRacer .npy route into trackday's JSON format, export a track as a DeepRacer
 * route, render a top view, generate a procedural track.
 */
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

/* ---- helpers -------------------------------------------------------------------------------- */

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

static int has_suffix(const char *name, void *suffix)
{
    return td_str_ends_with(name, suffix);
}

/* Sorted names of the files in dir ending with suffix; returns the count (0 if no dir). */
static int list_dir(const char *dir, const char *suffix, char ***names)
{
    int n;
    if (td_dir_list(dir, 0, has_suffix, (void *)suffix, names, &n, NULL))
        return 0;
    return n;
}

/* ---- list ----------------------------------------------------------------------------------- */

/* One row: the track in dir/file, under its file name or, when alias is given, under that
 * name with the file's name after the row. */
static void list_one(const char *dir, const char *file, const char *kind, const char *alias)
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
    td__cli_track_label(file, name, sizeof(name));
    char wtxt[48];
    if (wmax - wmin < 0.005)
        snprintf(wtxt, sizeof(wtxt), "%.3f", wmean);
    else
        snprintf(wtxt, sizeof(wtxt), "%.3f (%.2f-%.2f)", wmean, wmin, wmax);
    printf("%-26s %-9s %8.2f  %-18s %-5s %5d", alias ? alias : name, kind, t.length, wtxt,
           dir_name(&t), t.n);
    if (alias)
        printf("  (%s)", name);
    printf("\n");
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
    char about[1024];
    snprintf(about, sizeof(about),
             "Lists the shipped tracks (%s) and the route files (.npy) in the other folders of the "
             "track search path (--tracks-dir, TRACKDAY_TRACKS, ../shared/tracks), with "
             "centreline length (m), mean width (m, with the range if it varies), direction and "
             "rows, and the track the name 'default' stands for (%s).",
             td__cli_tracks_dir(), td__cli_default_track());
    int deepracer = 0;
    const td__cli_opt opts[] = {
        TD_CLI_FLAG("--deepracer", &deepracer,
                    "DeepRacer's 127 route names (WORLD_NAME values) and the file each one "
                    "resolves to, '-' when it is not on the search path"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "tracks list", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (deepracer)
        return list_deepracer();
    printf("%-26s %-9s %8s  %-18s %-5s %5s\n", "name", "kind", "length m", "width m", "dir",
           "rows");
    char **names;
    const char *dir = td__cli_tracks_dir();
    int n = list_dir(dir, ".json", &names);
    for (int i = 0; i < n; i++)
        list_one(dir, names[i], "shipped", NULL);
    td_dir_list_free(names, n);
    /* The name init and train use when no track is given. */
    char file[TD_TRACK_NAME_LEN + 8];
    snprintf(file, sizeof(file), "%s.json", td__cli_default_track());
    list_one(dir, file, "alias", "default");
    const char *dirs[40];
    int nd = td__cli_track_search_path(NULL, dirs, 40);
    for (int d = 0; d < nd; d++) {
        if (!strcmp(dirs[d], dir))
            continue;
        n = list_dir(dirs[d], ".npy", &names);
        for (int i = 0; i < n; i++)
            list_one(dirs[d], names[i], "reference", NULL);
        td_dir_list_free(names, n);
    }
    return 0;
}

/* ---- show ----------------------------------------------------------------------------------- */

static int cmd_show(int argc, char **argv)
{
    const char *arg = NULL;
    int json = 0, reverse = 0;
    char about[1024];
    snprintf(about, sizeof(about),
             "Prints a track's name, description, rows, centreline length, width (min, mean, "
             "max), whether it is closed, its direction, bounding box, smallest turn radius, "
             "the geometry check (no crossing of centre line and borders, inner border inside) "
             "and trackday's design rules (turn radius at least %.2f m and more than half the "
             "width; some DeepRacer routes are tighter).",
             SHOW_MIN_RADIUS_M);
    const td__cli_opt opts[] = {
        TD_CLI_POS("NAME|PATH", &arg, "a track name or a .npy/.json file"),
        TD_CLI_FLAG("--reverse", &reverse, "the reverse driving direction"),
        TD_CLI_FLAG("--json", &json, "one JSON object"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "tracks show", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
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
    const td__cli_opt opts[] = {
        TD_CLI_POS("FILE.npy", &in, "a DeepRacer route file"),
        TD_CLI_STRING("-o", "--out", &out, "OUT.json",
                      "output (default NAME.json in the current directory)"),
        TD_CLI_STRING(NULL, "--name", &name, "NAME", "track name (default: the file's base name)"),
        TD_CLI_STRING(NULL, "--description", &desc, "TEXT", "description"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "tracks import",
        .about = "Converts a DeepRacer route file (.npy, shape (N, 6)) into trackday's JSON track "
                 "format (docs/track-format.md), rows form. Duplicate consecutive points are "
                 "removed as DeepRacer does; a route that crosses itself is refused.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
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
    const td__cli_opt opts[] = {
        TD_CLI_POS("NAME|PATH", &arg, "a track name or a .npy/.json file"),
        TD_CLI_REQUIRED_STRING("-o", "--out", &out, "OUT.npy|OUT.json",
                               "the file to write; its extension chooses the format"),
        TD_CLI_FLAG("--reverse", &reverse, "write the reverse driving direction"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "tracks export",
        .about = "Writes a track as a DeepRacer route file (.npy version 1.0, '<f8', shape (N, "
                 "6), usable by DeepRacer tools) or as trackday JSON in the rows form.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    int npy = td_str_ends_with(out, ".npy");
    if (!npy && !td_str_ends_with(out, ".json"))
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
    int reverse = 0, width = 1024;
    const td__cli_opt opts[] = {
        TD_CLI_POS("NAME|PATH", &arg, "a track name or a .npy/.json file"),
        TD_CLI_REQUIRED_STRING("-o", "--out", &out, "OUT.png", "the picture to write"),
        TD_CLI_FLAG("--reverse", &reverse, "the reverse driving direction"),
        TD_CLI_INT("--width", &width, 64, 16384, "PX", "picture width (default 1024)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "tracks render",
        .about = "Draws a top view: green ground, dark road, white borders, a dashed yellow "
                 "centre line, a chequered start line at row 0 and a red arrow in the driving "
                 "direction.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    td_track t;
    if (load_arg(arg, reverse, &t))
        return 1;
    td_err err;
    int rc = td_track_render_png(&t, out, width, &err);
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
    long seed = 0;
    char about[1024];
    snprintf(about, sizeof(about),
             "Generates a valid closed track (no self-intersection, turn radius at least the "
             "minimum, grass between parts of the road); the same seed gives the same track. "
             "Defaults: length %.0f m, width %.3f m, minimum radius %.2f m, waypoint spacing "
             "%.2f m.",
             cfg.target_length_m, cfg.width_m, cfg.min_radius_m, cfg.spacing_m);
    const td__cli_opt opts[] = {
        {.name = "--seed",
         .kind = TD__CLI_LONG,
         .dst = &seed,
         .lo = 0,
         .hi = 2147483647,
         .arg = "S",
         .required = 1,
         .help = "random seed: the same seed, the same track"},
        TD_CLI_REQUIRED_STRING("-o", "--out", &out, "OUT.json", "the track file to write"),
        TD_CLI_DOUBLE("--length", &cfg.target_length_m, 1, 100000, "M", "centreline length"),
        TD_CLI_DOUBLE("--width", &cfg.width_m, 0.1, 100, "M", "road width"),
        TD_CLI_DOUBLE("--min-radius", &cfg.min_radius_m, 0.01, 1000, "M", "smallest turn radius"),
        TD_CLI_DOUBLE("--spacing", &cfg.spacing_m, 0.01, 100, "M", "waypoint spacing"),
        TD_CLI_STRING(NULL, "--png", &png, "OUT.png", "also draw it"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {.name = "tracks generate", .about = about, .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    cfg.seed = (uint64_t)seed;
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
    if (rc == 0 && png)
        printf("wrote %s\n", png);
    td_track_free(&t);
    return rc ? td__cli_fail("%s", err.msg) : 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

int td__cli_racing_line(int argc, char **argv); /* racing_line.c */

static int cmd_tracks(int argc, char **argv)
{
    static const td__cli_sub subs[] = {
        {"list", "shipped tracks and reference routes", cmd_list},
        {"show", "details of one track", cmd_show},
        {"import", "convert a DeepRacer route to trackday JSON", cmd_import},
        {"export", "write a track as a DeepRacer route or JSON", cmd_export},
        {"render", "top-view picture", cmd_render},
        {"generate", "procedural track", cmd_generate},
        {"racing-line", "the minimum-time line for a car, driven", td__cli_racing_line},
        {NULL, NULL, NULL},
    };
    return td__cli_dispatch("tracks",
                            "NAME is a shipped track (tracks/NAME.json) or a reference route "
                            "(../shared/tracks); PATH a .npy or .json file.",
                            subs, argc, argv);
}

TD_CLI_COMMAND("tracks", "list, show, import, export, render, generate tracks; racing lines",
               cmd_tracks)
