/*
 * routes.c - finding a track file by name on a search path of folders, and the names of
 * DeepRacer's 127 routes (the WORLD_NAME values its simulator knows,
 * bundle/routes of deepracer-simapp 6.0.5), including the clockwise and counter-clockwise
 * variants that DeepRacer ships as separate route files (_cw/_ccw: resampled routes with their
 * own start lines, not a reversal of the base route). Only the names are here: the route files
 * are DeepRacer's and are found on the track search path (track.h, td_track_find).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "trackday/track.h"

static const char *const ROUTES[] = {
    "2022_april_open",
    "2022_april_open_ccw",
    "2022_april_open_cw",
    "2022_april_pro",
    "2022_april_pro_ccw",
    "2022_april_pro_cw",
    "2022_august_open",
    "2022_august_open_ccw",
    "2022_august_open_cw",
    "2022_august_pro",
    "2022_august_pro_ccw",
    "2022_august_pro_cw",
    "2022_july_open",
    "2022_july_pro",
    "2022_july_pro_ccw",
    "2022_july_pro_cw",
    "2022_june_open",
    "2022_june_open_ccw",
    "2022_june_open_cw",
    "2022_june_pro",
    "2022_june_pro_ccw",
    "2022_june_pro_cw",
    "2022_march_open",
    "2022_march_open_ccw",
    "2022_march_open_cw",
    "2022_march_pro",
    "2022_march_pro_ccw",
    "2022_march_pro_cw",
    "2022_may_open",
    "2022_may_open_ccw",
    "2022_may_open_cw",
    "2022_may_pro",
    "2022_may_pro_ccw",
    "2022_may_pro_cw",
    "2022_october_open",
    "2022_october_open_ccw",
    "2022_october_open_cw",
    "2022_october_pro",
    "2022_october_pro_ccw",
    "2022_october_pro_cw",
    "2022_reinvent_champ_ccw",
    "2022_reinvent_champ_cw",
    "2022_september_open",
    "2022_september_open_ccw",
    "2022_september_open_cw",
    "2022_september_pro",
    "2022_september_pro_ccw",
    "2022_september_pro_cw",
    "2022_summit_speedway",
    "2022_summit_speedway_ccw",
    "2022_summit_speedway_cw",
    "2022_summit_speedway_mini",
    "2024_reinvent_champ_ccw",
    "2024_reinvent_champ_cw",
    "AWS_track",
    "Albert",
    "AmericasGeneratedInclStart",
    "Aragon",
    "Austin",
    "Belille",
    "Bowtie_track",
    "Canada_Training",
    "China_track",
    "FS_June2020",
    "July_2020",
    "LGSWide",
    "Mexico_track",
    "Monaco",
    "Monaco_building",
    "New_York_Track",
    "Oval_track",
    "Singapore",
    "Singapore_building",
    "Singapore_f1",
    "Spain_track",
    "Spain_track_f1",
    "Straight_track",
    "Tokyo_Training_track",
    "Vegas_track",
    "Virtual_May19_Train_track",
    "arctic_open",
    "arctic_open_ccw",
    "arctic_open_cw",
    "arctic_pro",
    "arctic_pro_ccw",
    "arctic_pro_cw",
    "caecer_gp",
    "caecer_loop",
    "dubai_open",
    "dubai_open_ccw",
    "dubai_open_cw",
    "dubai_pro",
    "hamption_open",
    "hamption_pro",
    "jyllandsringen_open",
    "jyllandsringen_open_ccw",
    "jyllandsringen_open_cw",
    "jyllandsringen_pro",
    "jyllandsringen_pro_ccw",
    "jyllandsringen_pro_cw",
    "morgan_open",
    "morgan_pro",
    "penbay_open",
    "penbay_open_ccw",
    "penbay_open_cw",
    "penbay_pro",
    "penbay_pro_ccw",
    "penbay_pro_cw",
    "reInvent2019_track",
    "reInvent2019_track_ccw",
    "reInvent2019_track_cw",
    "reInvent2019_wide",
    "reInvent2019_wide_ccw",
    "reInvent2019_wide_cw",
    "reInvent2019_wide_mirrored",
    "red_star_open",
    "red_star_pro",
    "red_star_pro_ccw",
    "red_star_pro_cw",
    "reinvent_base",
    "reinvent_carpet",
    "reinvent_concrete",
    "reinvent_wood",
    "thunder_hill_open",
    "thunder_hill_pro",
    "thunder_hill_pro_ccw",
    "thunder_hill_pro_cw",
};

const char *const *td_deepracer_route_names(int *n)
{
    *n = (int)(sizeof(ROUTES) / sizeof(ROUTES[0]));
    return ROUTES;
}

int td_deepracer_route_known(const char *name)
{
    int n;
    const char *const *names = td_deepracer_route_names(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int td_track_find(const char *name, const char *const *dirs, int ndirs, const char *const *known,
                  int nknown, char *out, size_t cap, td_err *err)
{
    static const char *const exts[2] = {".json", ".npy"};
    char looked[1024];
    size_t k = 0;

    if (ends_with(name, ".npy") || ends_with(name, ".json") || strchr(name, '/')) {
        if (!is_file(name))
            return td_err_set(err, TD_ENOENT, "track file '%s' not found", name);
        snprintf(out, cap, "%s", name);
        return 0;
    }
    if (!name[0])
        return td_err_set(err, TD_EINVAL, "empty track name");
    looked[0] = '\0';
    for (int d = 0; d < ndirs; d++) {
        if (!dirs[d] || !dirs[d][0])
            continue;
        for (int e = 0; e < 2; e++) {
            int n = snprintf(out, cap, "%s/%s%s", dirs[d], name, exts[e]);
            if (n > 0 && (size_t)n < cap && is_file(out))
                return 0;
        }
        if (k + 4 < sizeof(looked)) {
            int n = snprintf(looked + k, sizeof(looked) - k, "%s%s", k ? ", " : "", dirs[d]);
            if (n > 0)
                k += (size_t)n < sizeof(looked) - k ? (size_t)n : sizeof(looked) - k - 1;
        }
    }
    out[0] = '\0';
    if (!looked[0])
        snprintf(looked, sizeof(looked), "(no folders)");
    if (td_deepracer_route_known(name)) {
        /* A direction's route (NAME_cw, NAME_ccw) is a file of its own in DeepRacer, not the
         * base route reversed: reInvent2019_wide_cw has 57 waypoints around the origin where
         * reInvent2019_wide has 112 around (4, 2.8), so it cannot be made from the base. */
        char base[128], found[1200];
        size_t n = strlen(name);
        size_t cut = ends_with(name, "_ccw") ? 4 : ends_with(name, "_cw") ? 3 : 0;
        const char *note = "";
        char note_buf[1600];
        found[0] = '\0';
        if (cut && n - cut < sizeof(base)) {
            memcpy(base, name, n - cut);
            base[n - cut] = '\0';
            if (td_track_find(base, dirs, ndirs, known, nknown, found, sizeof(found), NULL) == 0) {
                snprintf(note_buf, sizeof(note_buf),
                         " (%s is there: the base route; DeepRacer's %s is a separate, "
                         "resampled route file that trackday cannot make from it. To drive the "
                         "base route the other way, use WORLD_NAME %s with REVERSE_DIR: true)",
                         found, name, base);
                note = note_buf;
            }
        }
        return td_err_set(err, TD_ENOENT,
                          "'%s' is a DeepRacer route, and trackday does not ship DeepRacer's "
                          "route files. Looked for %s.npy in: %s%s. Put %s.npy (bundle/routes/ of "
                          "deepracer-simapp) in one of those folders, or in a folder given with "
                          "--tracks-dir or TRACKDAY_TRACKS, or give the file's path",
                          name, name, looked, note, name);
    }
    /* Not DeepRacer's name either: the closest name the user may have meant. */
    int nr;
    const char *const *routes = td_deepracer_route_names(&nr);
    const char *near = td_closest_name(name, known, nknown, NULL);
    int dk = 1 << 30, dr = 1 << 30;
    if (near)
        td_closest_name(name, known, nknown, &dk);
    const char *near_route = td_closest_name(name, routes, nr, &dr);
    if (near_route && (!near || dr < dk))
        near = near_route;
    return td_err_set(err, TD_ENOENT,
                      "no track named '%s'%s%s%s. Looked for %s.json and %s.npy in: %s. Try "
                      "'trackday tracks list', or give a .npy or .json path",
                      name, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "",
                      name, name, looked);
}
