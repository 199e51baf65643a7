/*
 * leagues.c - leagues on the hub: a league (class or open) races on one or more tracks, each
 * public or hidden; a learner submits a model version, which is frozen by its content hash
 * and evaluated officially by a worker (a "league" job with the league's settings and fixed
 * seed, one per track); the leaderboard ranks each learner's best counted entry by the
 * league's method (DeepRacer's BEST_LAP_TIME, AVG_LAP_TIME, TOTAL_TIME), per division, ties
 * to the earlier submission. A hidden track's name, geometry, pictures and every result on
 * it stay away from learners until the league closes (td__track_hidden is what the track
 * and job routes ask).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <time.h>

#include <microhttpd.h>

#include "hub/hub_internal.h"
#include "trackday/plot.h"
#include "trackday/sensors.h"
#include "trackday/track.h"

#define MAX_TRACKS    8
#define MAX_DIVISIONS 16

typedef struct league_track {
    char name[104];
    int hidden;
} league_track;

typedef struct league_division {
    char name[72];
    int64_t class_id;
} league_division;

typedef struct league {
    int64_t id, owner_id, class_id, laps, min_laps, continuous, off_ms, coll_ms, max_resets;
    int64_t obstacles, bots, bot_speed_mms, daily_limit, total_limit, opens_at, closes_at, seed;
    int64_t created_at, generation;
    char name[128], description[1040], race_type[24], ranking[24], owner_name[64];
    int ntracks, ndivisions;
    league_track tracks[MAX_TRACKS];
    league_division divisions[MAX_DIVISIONS];
} league;

static const char *const race_types[] = {"time-trial", "object-avoidance", "head-to-bot", NULL};
static const char *const rankings[] = {"BEST_LAP_TIME", "AVG_LAP_TIME", "TOTAL_TIME", NULL};

static int in_list(const char *s, const char *const *list)
{
    for (int i = 0; s && list[i]; i++)
        if (!strcmp(s, list[i]))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Arguments                                                                            */
/* ------------------------------------------------------------------------------------ */

int td__check_types(td__req *r, json_t *o, const char *spec)
{
    const char *p = spec;
    while (*p) {
        char key[64];
        size_t n = strcspn(p, ":");
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        char t = p[n + 1];
        p += n + 2;
        if (*p == ',')
            p++;
        json_t *v = json_object_get(o, key);
        if (!v || json_is_null(v))
            continue;
        int ok = t == 's'   ? json_is_string(v)
                 : t == 'i' ? json_is_integer(v)
                 : t == 'n' ? json_is_number(v)
                 : t == 'b' ? json_is_boolean(v)
                 : t == 'a' ? json_is_array(v)
                            : json_is_object(v);
        if (!ok)
            return td__fail(r, 400, "bad_request", "field '%s' must be %s", key,
                            t == 's'   ? "a string"
                            : t == 'i' ? "a whole number"
                            : t == 'n' ? "a number"
                            : t == 'b' ? "true or false"
                            : t == 'a' ? "an array"
                                       : "an object");
    }
    return 0;
}

int td__display_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max || s[0] == '.' || s[0] == ' ' || strstr(s, ".."))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9'))
            continue;
        if (!strchr(" .,_-:()&+#", *p))
            return 0;
    }
    return 1;
}

int64_t td__parse_time(const char *s)
{
    struct tm tm;
    int y, mo, d, h, mi, sec;
    char tail[8] = "";
    memset(&tm, 0, sizeof(tm));
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%7s", &y, &mo, &d, &h, &mi, &sec, tail) != 7)
        return -1;
    if (strcmp(tail, "Z") && strcmp(tail, "+00:00"))
        return -1;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60 || h < 0 || mi < 0 || sec < 0)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm);
}

static int arg_time(td__req *r, json_t *o, const char *key, int64_t *out)
{
    const char *s = NULL;
    if (td__arg_str(r, o, key, 0, 40, &s))
        return 1;
    if (!s)
        return 0;
    int64_t t = td__parse_time(s);
    if (t < 0)
        return td__fail(r, 400, "bad_request",
                        "field '%s' must be a UTC time such as 2026-12-01T18:00:00Z", key);
    *out = t;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Loading and access                                                                   */
/* ------------------------------------------------------------------------------------ */

#define LEAGUE_COLS                                                                                \
    "l.id, l.owner_id, l.class_id, l.laps, l.min_laps, l.continuous, l.off_track_penalty_ms, "     \
    "l.collision_penalty_ms, l.max_resets, l.obstacles, l.bots, l.bot_speed_mms, l.daily_limit, "  \
    "l.total_limit, l.opens_at, l.closes_at, l.seed, l.created_at, l.name, l.description, "        \
    "l.race_type, l.ranking, u.username, l.generation"

static int league_load_db(td_db_conn *c, int64_t id, league *L, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(c, &row, err,
                              "SELECT " LEAGUE_COLS " FROM leagues l JOIN users u ON u.id = "
                              "l.owner_id WHERE l.id = ? AND l.deleted_at IS NULL",
                              "i", id);
    if (rc <= 0)
        return rc ? rc : TD_ENOENT;
    memset(L, 0, sizeof(*L));
    int64_t *ints[] = {&L->id,          &L->owner_id,    &L->class_id, &L->laps,
                       &L->min_laps,    &L->continuous,  &L->off_ms,   &L->coll_ms,
                       &L->max_resets,  &L->obstacles,   &L->bots,     &L->bot_speed_mms,
                       &L->daily_limit, &L->total_limit, &L->opens_at, &L->closes_at,
                       &L->seed,        &L->created_at};
    for (int i = 0; i < 18; i++)
        *ints[i] = td__db_is_null(row, i) ? (i == 12 || i == 13 ? -1 : 0) : td__db_int(row, i);
    snprintf(L->name, sizeof(L->name), "%s", td__db_text(row, 18));
    snprintf(L->description, sizeof(L->description), "%s", td__db_text(row, 19));
    snprintf(L->race_type, sizeof(L->race_type), "%s", td__db_text(row, 20));
    snprintf(L->ranking, sizeof(L->ranking), "%s", td__db_text(row, 21));
    snprintf(L->owner_name, sizeof(L->owner_name), "%s", td__db_text(row, 22));
    L->generation = td__db_int(row, 23);
    td__db_rows_free(row);
    rc = td__db_query(c, &row, err,
                      "SELECT track, hidden FROM league_tracks WHERE league_id = ? ORDER BY "
                      "position",
                      "i", id);
    while (rc == 0 && (rc = td__db_next(row, err)) > 0) {
        rc = 0;
        if (L->ntracks == MAX_TRACKS)
            continue;
        snprintf(L->tracks[L->ntracks].name, sizeof(L->tracks[0].name), "%s", td__db_text(row, 0));
        L->tracks[L->ntracks++].hidden = (int)td__db_int(row, 1);
    }
    td__db_rows_free(row);
    if (rc < 0)
        return rc;
    rc = td__db_query(c, &row, err,
                      "SELECT name, class_id FROM league_divisions WHERE league_id = ? ORDER BY "
                      "position",
                      "i", id);
    while (rc == 0 && (rc = td__db_next(row, err)) > 0) {
        rc = 0;
        if (L->ndivisions == MAX_DIVISIONS)
            continue;
        snprintf(L->divisions[L->ndivisions].name, sizeof(L->divisions[0].name), "%s",
                 td__db_text(row, 0));
        L->divisions[L->ndivisions++].class_id = td__db_is_null(row, 1) ? 0 : td__db_int(row, 1);
    }
    td__db_rows_free(row);
    return rc < 0 ? rc : 0;
}

/* 1 if the caller belongs to class id (as a learner or an instructor). */
static int in_class(td__req *r, int64_t class_id)
{
    int64_t n = 0;
    td__db_int_query(td__req_db(r), &n, 0, NULL,
                     "SELECT COUNT(*) FROM class_members m JOIN classes c ON c.id = m.class_id "
                     "WHERE m.class_id = ? AND m.user_id = ? AND c.deleted_at IS NULL",
                     "ii", class_id, r->who.id);
    return n > 0;
}

/* The caller runs the league: an admin, its owner, or an instructor of its class. */
static int may_manage(td__req *r, const league *L)
{
    if (r->who.who != TD__WHO_USER)
        return 0;
    if (r->who.role == TD__ROLE_ADMIN || L->owner_id == r->who.id)
        return 1;
    if (r->who.role != TD__ROLE_INSTRUCTOR || !L->class_id)
        return 0;
    int64_t n = 0;
    td__db_int_query(td__req_db(r), &n, 0, NULL,
                     "SELECT COUNT(*) FROM class_members WHERE class_id = ? AND user_id = ? AND "
                     "role = 'instructor'",
                     "ii", L->class_id, r->who.id);
    return n > 0;
}

static int may_see(td__req *r, const league *L)
{
    if (r->who.who != TD__WHO_USER)
        return 0;
    return may_manage(r, L) || !L->class_id || in_class(r, L->class_id);
}

/* Hidden tracks stay hidden from the caller (not one who runs the league) until it closes. */
static int hides(td__req *r, const league *L)
{
    return !may_manage(r, L) && td__hub_now(r->hub) < L->closes_at;
}

/* Loads league {param i} if the caller may see it: 1, or 0 having replied 404. */
static int league_param(td__req *r, int i, league *L)
{
    int64_t id;
    td_err err = {0};
    if (td__param_id(r, i, "league", &id))
        return 0;
    int rc = league_load_db(td__req_db(r), id, L, &err);
    if (rc == TD_ENOENT || (!rc && !may_see(r, L)))
        return td__fail(r, 404, "not_found", "no league %lld", (long long)id), 0;
    if (rc)
        return td__fail_err(r, rc, &err), 0;
    return 1;
}

static const char *league_state(td__req *r, const league *L)
{
    int64_t now = td__hub_now(r->hub);
    return now < L->opens_at ? "upcoming" : now < L->closes_at ? "open" : "closed";
}

int td__track_hidden(td__req *r, const char *name)
{
    int64_t n = 0;
    if (r->who.who != TD__WHO_USER || r->who.role == TD__ROLE_ADMIN)
        return 0;
    td__db_int_query(td__req_db(r), &n, 0, NULL,
                     "SELECT COUNT(*) FROM league_tracks lt JOIN leagues l ON l.id = lt.league_id "
                     "WHERE lt.track = ? AND lt.hidden = 1 AND l.deleted_at IS NULL AND "
                     "l.closes_at > ? AND l.owner_id <> ? AND (l.class_id IS NULL OR l.class_id "
                     "NOT IN (" TD__TAUGHT_CLASSES_SQL "))",
                     "tiii", name, td__hub_now(r->hub), r->who.id, r->who.id);
    return n > 0 || td__track_hidden_by_assignment(r, name);
}

/* ------------------------------------------------------------------------------------ */
/* JSON                                                                                 */
/* ------------------------------------------------------------------------------------ */

static json_t *opt_int(int64_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

/* The day's window (UTC) of a daily limit: its start and the next. */
static int64_t day_start(int64_t t)
{
    return t - (((t % 86400) + 86400) % 86400);
}

/* The caller's submissions in the league today and in all. */
static void my_usage(td__req *r, const league *L, int64_t *today, int64_t *total)
{
    int64_t now = td__hub_now(r->hub);
    *today = *total = 0;
    td__db_int_query(td__req_db(r), total, 0, NULL,
                     "SELECT COUNT(*) FROM submissions WHERE league_id = ? AND user_id = ?", "ii",
                     L->id, r->who.id);
    td__db_int_query(td__req_db(r), today, 0, NULL,
                     "SELECT COUNT(*) FROM submissions WHERE league_id = ? AND user_id = ? AND "
                     "created_at >= ?",
                     "iii", L->id, r->who.id, day_start(now));
}

static json_t *league_json(td__req *r, const league *L)
{
    int hide = hides(r, L), manage = may_manage(r, L);
    json_t *tracks = json_array(), *divs = json_array();
    for (int i = 0; i < L->ntracks; i++) {
        int secret = L->tracks[i].hidden && hide;
        json_array_append_new(tracks,
                              json_pack("{s:i,s:o,s:b}", "position", i + 1, "name",
                                        secret ? json_null() : json_string(L->tracks[i].name),
                                        "hidden", L->tracks[i].hidden));
    }
    for (int i = 0; i < L->ndivisions; i++)
        json_array_append_new(divs, json_pack("{s:s,s:o}", "name", L->divisions[i].name, "class",
                                              L->divisions[i].class_id
                                                  ? json_integer(L->divisions[i].class_id)
                                                  : json_null()));
    json_t *o = json_pack(
        "{s:I,s:s,s:s,s:o,s:{s:I,s:s},s:s,s:s,s:I,s:I,s:b,s:f,s:f,s:I,s:I,s:I,s:f,s:o,s:o,s:o,"
        "s:o,s:s,s:o,s:o,s:o}",
        "id", (json_int_t)L->id, "name", L->name, "description", L->description, "class",
        L->class_id ? json_integer(L->class_id) : json_null(), "owner", "id",
        (json_int_t)L->owner_id, "username", L->owner_name, "race_type", L->race_type, "ranking",
        L->ranking, "laps", (json_int_t)L->laps, "min_laps", (json_int_t)L->min_laps, "continuous",
        (int)L->continuous, "off_track_penalty_s", (double)L->off_ms / 1000.0,
        "collision_penalty_s", (double)L->coll_ms / 1000.0, "max_resets", (json_int_t)L->max_resets,
        "obstacles", (json_int_t)L->obstacles, "bots", (json_int_t)L->bots, "bot_speed",
        (double)L->bot_speed_mms / 1000.0, "daily_limit", opt_int(L->daily_limit), "total_limit",
        opt_int(L->total_limit), "opens_at", td__json_time(L->opens_at), "closes_at",
        td__json_time(L->closes_at), "state", league_state(r, L), "tracks", tracks, "divisions",
        divs, "created_at", td__json_time(L->created_at));
    if (manage)
        json_object_set_new(o, "seed", json_integer(L->seed));
    json_object_set_new(o, "may_manage", json_boolean(manage));
    int64_t today, total;
    my_usage(r, L, &today, &total);
    json_object_set_new(o, "my_submissions",
                        json_pack("{s:I,s:I,s:o}", "today", (json_int_t)today, "total",
                                  (json_int_t)total, "daily_resets_at",
                                  td__json_time(day_start(td__hub_now(r->hub)) + 86400)));
    return o;
}

/* ------------------------------------------------------------------------------------ */
/* Leagues                                                                              */
/* ------------------------------------------------------------------------------------ */

#define LEAGUE_TYPES                                                                               \
    "name:s,description:s,class:i,tracks:a,race_type:s,ranking:s,laps:i,min_laps:i,continuous:b,"  \
    "off_track_penalty:n,collision_penalty:n,max_resets:i,obstacles:i,bots:i,bot_speed:n,"         \
    "daily_limit:i,total_limit:i,opens_at:s,closes_at:s,divisions:a,seed:i"
#define LEAGUE_KEYS                                                                                \
    "name,description,class,tracks,race_type,ranking,laps,min_laps,continuous,off_track_penalty,"  \
    "collision_penalty,max_resets,obstacles,bots,bot_speed,daily_limit,total_limit,opens_at,"      \
    "closes_at,divisions,seed"

/* Reads the settings of o into L (a new league's defaults, or the league being changed). */
static int league_args(td__req *r, json_t *o, league *L, int creating)
{
    const char *name = NULL, *desc = NULL, *race = NULL, *ranking = NULL;
    int cont = (int)L->continuous;
    double off = (double)L->off_ms / 1000.0, coll = (double)L->coll_ms / 1000.0;
    double bot_speed = (double)L->bot_speed_mms / 1000.0;
    if (td__arg_str(r, o, "name", creating, 100, &name) ||
        td__arg_str(r, o, "description", 0, 1000, &desc) ||
        td__arg_str(r, o, "race_type", 0, 24, &race) ||
        td__arg_str(r, o, "ranking", 0, 24, &ranking) ||
        td__arg_int(r, o, "laps", 0, 1, 20, &L->laps) ||
        td__arg_int(r, o, "min_laps", 0, 1, 20, &L->min_laps) ||
        td__arg_bool(r, o, "continuous", &cont) ||
        td__arg_num(r, o, "off_track_penalty", 0, 0, 60, &off) ||
        td__arg_num(r, o, "collision_penalty", 0, 0, 60, &coll) ||
        td__arg_int(r, o, "max_resets", 0, 0, 10000, &L->max_resets) ||
        td__arg_int(r, o, "obstacles", 0, 0, 12, &L->obstacles) ||
        td__arg_int(r, o, "bots", 0, 0, 6, &L->bots) ||
        td__arg_num(r, o, "bot_speed", 0, 0.1, 4, &bot_speed) ||
        td__arg_int(r, o, "daily_limit", 0, 0, 1000, &L->daily_limit) ||
        td__arg_int(r, o, "total_limit", 0, 0, 100000, &L->total_limit) ||
        arg_time(r, o, "opens_at", &L->opens_at) || arg_time(r, o, "closes_at", &L->closes_at) ||
        td__arg_int(r, o, "seed", 0, 0, 0x7fffffff, &L->seed))
        return 1;
    if (name) {
        if (!td__display_name_ok(name, 100))
            return td__fail(r, 400, "bad_request",
                            "field 'name': letters, digits, spaces and . , _ - : ( ) & + # (not "
                            "'%.40s')",
                            name);
        snprintf(L->name, sizeof(L->name), "%s", name);
    }
    if (desc)
        snprintf(L->description, sizeof(L->description), "%s", desc);
    if (race) {
        if (!in_list(race, race_types))
            return td__fail(r, 400, "bad_request",
                            "field 'race_type' '%.24s': time-trial, object-avoidance or "
                            "head-to-bot",
                            race);
        snprintf(L->race_type, sizeof(L->race_type), "%s", race);
    }
    if (ranking) {
        if (!in_list(ranking, rankings))
            return td__fail(r, 400, "bad_request",
                            "field 'ranking' '%.24s': BEST_LAP_TIME, AVG_LAP_TIME or TOTAL_TIME",
                            ranking);
        snprintf(L->ranking, sizeof(L->ranking), "%s", ranking);
    }
    L->continuous = cont;
    L->off_ms = (int64_t)(off * 1000 + 0.5);
    L->coll_ms = (int64_t)(coll * 1000 + 0.5);
    L->bot_speed_mms = (int64_t)(bot_speed * 1000 + 0.5);
    if (L->min_laps > L->laps)
        return td__fail(r, 400, "bad_request", "field 'min_laps' (%lld) is more than 'laps' (%lld)",
                        (long long)L->min_laps, (long long)L->laps);
    if (L->closes_at <= L->opens_at)
        return td__fail(r, 400, "bad_request", "field 'closes_at' must be after 'opens_at'");
    json_t *tracks = json_object_get(o, "tracks"), *v;
    size_t i;
    if (tracks) {
        if (json_array_size(tracks) < 1 || json_array_size(tracks) > MAX_TRACKS)
            return td__fail(r, 400, "bad_request", "field 'tracks' must list 1 to %d tracks",
                            MAX_TRACKS);
        L->ntracks = 0;
        json_array_foreach(tracks, i, v)
        {
            const char *t = json_is_string(v) ? json_string_value(v)
                                              : json_string_value(json_object_get(v, "name"));
            json_t *h = json_is_object(v) ? json_object_get(v, "hidden") : NULL;
            if (!t || (h && !json_is_boolean(h)))
                return td__fail(r, 400, "bad_request",
                                "field 'tracks': each is a name or {\"name\": N, \"hidden\": "
                                "true|false}");
            if (!strcmp(t, "default"))
                t = "kidney";
            if (!td__track_known(r->hub, t))
                return td__fail(r, 400, "bad_request",
                                "field 'tracks': no track named '%.100s' (GET /api/v1/tracks "
                                "lists them)",
                                t);
            snprintf(L->tracks[L->ntracks].name, sizeof(L->tracks[0].name), "%s", t);
            L->tracks[L->ntracks++].hidden = h && json_is_true(h);
        }
    } else if (creating) {
        return td__fail(r, 400, "bad_request", "missing field 'tracks'");
    }
    json_t *divs = json_object_get(o, "divisions");
    if (divs) {
        if (json_array_size(divs) > MAX_DIVISIONS)
            return td__fail(r, 400, "bad_request", "field 'divisions': at most %d", MAX_DIVISIONS);
        L->ndivisions = 0;
        json_array_foreach(divs, i, v)
        {
            const char *dn = json_is_string(v) ? json_string_value(v)
                                               : json_string_value(json_object_get(v, "name"));
            json_t *cl = json_is_object(v) ? json_object_get(v, "class") : NULL;
            if (!dn || !td__display_name_ok(dn, 64) || (cl && !json_is_integer(cl)))
                return td__fail(r, 400, "bad_request",
                                "field 'divisions': each is a name or {\"name\": N, \"class\": "
                                "ID} (names: letters, digits, spaces, . , _ - : ( ) & + #)");
            for (int k = 0; k < L->ndivisions; k++)
                if (!strcmp(L->divisions[k].name, dn))
                    return td__fail(r, 400, "bad_request",
                                    "field 'divisions': '%.64s' is named twice", dn);
            league_division *d = &L->divisions[L->ndivisions++];
            snprintf(d->name, sizeof(d->name), "%s", dn);
            d->class_id = cl ? json_integer_value(cl) : 0;
        }
    }
    return 0;
}

/* The caller may put a league in class id: they teach it, or are an admin. */
static int class_ok(td__req *r, int64_t class_id)
{
    int64_t n = 0;
    if (r->who.role == TD__ROLE_ADMIN)
        td__db_int_query(td__req_db(r), &n, 0, NULL,
                         "SELECT COUNT(*) FROM classes WHERE id = ? AND deleted_at IS NULL", "i",
                         class_id);
    else
        td__db_int_query(td__req_db(r), &n, 0, NULL,
                         "SELECT COUNT(*) FROM class_members m JOIN classes c ON c.id = "
                         "m.class_id WHERE m.class_id = ? AND m.user_id = ? AND m.role = "
                         "'instructor' AND c.deleted_at IS NULL",
                         "ii", class_id, r->who.id);
    return n > 0;
}

static int save_children(td_db_conn *c, const league *L, td_err *err)
{
    int rc = td__db_exec(c, err, "DELETE FROM league_tracks WHERE league_id = ?", "i", L->id);
    for (int i = 0; !rc && i < L->ntracks; i++)
        rc = td__db_exec(c, err,
                         "INSERT INTO league_tracks (league_id, position, track, hidden) VALUES "
                         "(?, ?, ?, ?)",
                         "iiti", L->id, (int64_t)(i + 1), L->tracks[i].name,
                         (int64_t)L->tracks[i].hidden);
    if (!rc)
        rc = td__db_exec(c, err, "DELETE FROM league_divisions WHERE league_id = ?", "i", L->id);
    for (int i = 0; !rc && i < L->ndivisions; i++)
        rc = td__db_exec(c, err,
                         "INSERT INTO league_divisions (league_id, position, name, class_id) "
                         "VALUES (?, ?, ?, NULLIF(?, 0))",
                         "iiti", L->id, (int64_t)(i + 1), L->divisions[i].name,
                         L->divisions[i].class_id);
    return rc;
}

static int reply_league(td__req *r, int status, int64_t id)
{
    league L;
    td_err err = {0};
    int rc = league_load_db(td__req_db(r), id, &L, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_json(r, status, league_json(r, &L));
}

static int post_league(td__req *r)
{
    json_t *o;
    league L;
    int64_t now = td__hub_now(r->hub), cls = 0;
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) || td__check_types(r, o, LEAGUE_TYPES) ||
        td__only_keys(r, o, LEAGUE_KEYS))
        return 1;
    memset(&L, 0, sizeof(L));
    snprintf(L.race_type, sizeof(L.race_type), "time-trial");
    snprintf(L.ranking, sizeof(L.ranking), "BEST_LAP_TIME");
    L.laps = 3;
    L.min_laps = 1;
    L.off_ms = 2000;
    L.coll_ms = 5000;
    L.max_resets = 10000;
    L.bot_speed_mms = 500;
    L.daily_limit = -1;
    L.total_limit = -1;
    L.opens_at = now;
    L.closes_at = now + 30 * 86400;
    L.seed = (int64_t)randombytes_uniform(0x7fffffff);
    if (td__arg_int(r, o, "class", 0, 1, INT64_MAX, &cls) || league_args(r, o, &L, 1))
        return 1;
    /* Object avoidance and head-to-bot bring their usual objects unless told. */
    if (!json_object_get(o, "obstacles") && !strcmp(L.race_type, "object-avoidance"))
        L.obstacles = 3;
    if (!json_object_get(o, "bots") && !strcmp(L.race_type, "head-to-bot"))
        L.bots = 3;
    if (cls && !class_ok(r, cls))
        return td__fail(r, 404, "not_found", "no class %lld that you teach", (long long)cls);
    for (int i = 0; i < L.ndivisions; i++)
        if (L.divisions[i].class_id && !class_ok(r, L.divisions[i].class_id))
            return td__fail(r, 404, "not_found", "division '%s': no class %lld that you teach",
                            L.divisions[i].name, (long long)L.divisions[i].class_id);
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    rc = td__db_insert_id(
        c, &L.id, &err,
        "INSERT INTO leagues (name, description, owner_id, class_id, race_type, ranking, laps, "
        "min_laps, continuous, off_track_penalty_ms, collision_penalty_ms, max_resets, obstacles, "
        "bots, bot_speed_mms, daily_limit, total_limit, opens_at, closes_at, seed, created_at) "
        "VALUES (?, ?, ?, NULLIF(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, -1), "
        "NULLIF(?, -1), ?, ?, ?, ?) RETURNING id",
        "ttiittiiiiiiiiiiiiiii", L.name, L.description, r->who.id, cls, L.race_type, L.ranking,
        L.laps, L.min_laps, L.continuous, L.off_ms, L.coll_ms, L.max_resets, L.obstacles, L.bots,
        L.bot_speed_mms, L.daily_limit, L.total_limit, L.opens_at, L.closes_at, L.seed, now);
    if (!rc)
        rc = save_children(c, &L, &err);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__req_location(r, "/api/v1/leagues/%lld", (long long)L.id);
    return reply_league(r, 201, L.id);
}

static int list_leagues(td__req *r)
{
    td_db_rows *rows;
    td_err err = {0};
    int64_t ids[500];
    int n = 0, rc;
    const char *name = td__req_query(r, "name");
    rc = td__db_query(td__req_db(r), &rows, &err,
                      "SELECT l.id FROM leagues l WHERE l.deleted_at IS NULL AND (? = '' OR "
                      "l.name = ?) ORDER BY l.id DESC LIMIT 500",
                      "tt", name ? name : "", name ? name : "");
    if (rc)
        return td__fail_err(r, rc, &err);
    while (n < 500 && (rc = td__db_next(rows, &err)) > 0)
        ids[n++] = td__db_int(rows, 0);
    td__db_rows_free(rows);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        league L;
        if (league_load_db(td__req_db(r), ids[i], &L, &err) == 0 && may_see(r, &L))
            json_array_append_new(arr, league_json(r, &L));
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "leagues", arr));
}

static int get_league(td__req *r)
{
    league L;
    if (!league_param(r, 0, &L))
        return 1;
    return td__reply_json(r, 200, league_json(r, &L));
}

static int patch_league(td__req *r)
{
    json_t *o;
    league L;
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) || td__check_types(r, o, LEAGUE_TYPES))
        return 1;
    if (!league_param(r, 0, &L))
        return 1;
    if (!may_manage(r, &L))
        return td__fail(r, 403, "forbidden", "only who runs league %lld may change it",
                        (long long)L.id);
    if (td__only_keys(r, o, LEAGUE_KEYS) || league_args(r, o, &L, 0))
        return 1;
    if (json_object_get(o, "class"))
        return td__fail(r, 400, "bad_request", "field 'class': a league stays in its class");
    int64_t subs = 0;
    td__db_int_query(td__req_db(r), &subs, 0, NULL,
                     "SELECT COUNT(*) FROM submissions WHERE league_id = ?", "i", L.id);
    /* What an official evaluation runs is fixed once there are entries to compare. */
    static const char *const fixed[] = {"tracks",
                                        "race_type",
                                        "laps",
                                        "continuous",
                                        "off_track_penalty",
                                        "collision_penalty",
                                        "max_resets",
                                        "obstacles",
                                        "bots",
                                        "bot_speed",
                                        "seed",
                                        NULL};
    for (int i = 0; subs && fixed[i]; i++)
        if (json_object_get(o, fixed[i]))
            return td__fail(r, 409, "conflict",
                            "field '%s': the league has submissions evaluated with it; it can "
                            "no longer change",
                            fixed[i]);
    for (int i = 0; i < L.ndivisions; i++)
        if (L.divisions[i].class_id && !class_ok(r, L.divisions[i].class_id))
            return td__fail(r, 404, "not_found", "division '%s': no class %lld that you teach",
                            L.divisions[i].name, (long long)L.divisions[i].class_id);
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__db_exec(
            c, &err,
            "UPDATE leagues SET name = ?, description = ?, race_type = ?, ranking = "
            "?, laps = ?, min_laps = ?, continuous = ?, off_track_penalty_ms = ?, "
            "collision_penalty_ms = ?, max_resets = ?, obstacles = ?, bots = ?, "
            "bot_speed_mms = ?, daily_limit = NULLIF(?, -1), total_limit = "
            "NULLIF(?, -1), opens_at = ?, closes_at = ?, seed = ?, generation = generation + 1 "
            "WHERE id = ?",
            "ttttiiiiiiiiiiiiiii", L.name, L.description, L.race_type, L.ranking, L.laps,
            L.min_laps, L.continuous, L.off_ms, L.coll_ms, L.max_resets, L.obstacles, L.bots,
            L.bot_speed_mms, L.daily_limit, L.total_limit, L.opens_at, L.closes_at, L.seed, L.id);
    if (!rc)
        rc = save_children(c, &L, &err);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    return reply_league(r, 200, L.id);
}

static int delete_league(td__req *r)
{
    league L;
    td_err err = {0};
    if (!league_param(r, 0, &L))
        return 1;
    if (!may_manage(r, &L))
        return td__fail(r, 403, "forbidden", "only who runs league %lld may delete it",
                        (long long)L.id);
    int rc =
        td__db_exec(td__req_db(r), &err,
                    "UPDATE leagues SET deleted_at = ?, generation = generation + 1 WHERE id = ?",
                    "ii", td__hub_now(r->hub), L.id);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_empty(r, 204);
}

/* ------------------------------------------------------------------------------------ */
/* Entries and scores                                                                   */
/* ------------------------------------------------------------------------------------ */

typedef struct track_result {
    char state[16];
    int64_t laps_completed, best_ms, avg_ms, total_ms;
    int have;
} track_result;

typedef struct entry {
    int64_t id, user_id, model_id, model_version, created_at;
    char username[64], division[72], model_name[80], state[16];
    track_result t[MAX_TRACKS];
    /* The score over the tracks the caller may see. */
    int counted, pending;
    int64_t score_ms, laps, best_ms, avg_ms, total_ms;
} entry;

/* Scores e over the tracks in mask. An entry counts when every such track's evaluation
 * succeeded with at least min_laps laps. */
static void score_entry(const league *L, entry *e, unsigned mask)
{
    e->counted = 1;
    e->pending = 0;
    e->score_ms = e->laps = e->best_ms = e->avg_ms = e->total_ms = 0;
    int any = 0;
    for (int i = 0; i < L->ntracks; i++) {
        if (!(mask & (1u << i)))
            continue;
        any = 1;
        const track_result *t = &e->t[i];
        if (strcmp(t->state, "succeeded")) {
            e->counted = 0;
            if (!strcmp(t->state, "queued") || !strcmp(t->state, "running"))
                e->pending = 1;
            continue;
        }
        if (t->laps_completed < L->min_laps || t->laps_completed < 1) {
            e->counted = 0;
            continue;
        }
        e->laps += t->laps_completed;
        e->best_ms += t->best_ms;
        e->avg_ms += t->avg_ms;
        e->total_ms += t->total_ms;
    }
    if (!any)
        e->counted = 0;
    e->score_ms = !strcmp(L->ranking, "BEST_LAP_TIME")  ? e->best_ms
                  : !strcmp(L->ranking, "AVG_LAP_TIME") ? e->avg_ms
                                                        : e->total_ms;
}

/* The league's order: TOTAL_TIME ranks more laps first; then the lower time; then the
 * earlier submission. */
static int entry_cmp(const league *L, const entry *a, const entry *b)
{
    if (!strcmp(L->ranking, "TOTAL_TIME") && a->laps != b->laps)
        return a->laps > b->laps ? -1 : 1;
    if (a->score_ms != b->score_ms)
        return a->score_ms < b->score_ms ? -1 : 1;
    if (a->created_at != b->created_at)
        return a->created_at < b->created_at ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Sorts a[0..n) into the league's order: a merge sort that takes the league as an argument,
 * so leaderboards of different leagues sort at once on different threads (qsort needs a
 * global for the league; glibc's qsort_r needs _GNU_SOURCE). Without memory for the merge
 * buffer, an insertion sort. */
static void sort_entries(const league *L, entry **a, int n)
{
    entry **tmp = n > 1 ? td_malloc((size_t)n * sizeof(*tmp)) : NULL;
    if (!tmp) {
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && entry_cmp(L, a[j], a[j - 1]) < 0; j--) {
                entry *t = a[j];
                a[j] = a[j - 1];
                a[j - 1] = t;
            }
        return;
    }
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = entry_cmp(L, a[j], a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, (size_t)n * sizeof(*a));
    }
    td_free(tmp);
}

/* Every submission of the league (user_id > 0: only theirs), oldest first. */
static int load_entries(td_db_conn *c, const league *L, int64_t user_id, entry **out, int *n,
                        td_err *err)
{
    td_db_rows *rows;
    int cap = 0, rc;
    entry *es = NULL;
    *n = 0;
    rc = td__db_query(
        c, &rows, err,
        "SELECT s.id, s.user_id, u.username, s.division, s.model_id, s.model_version, "
        "s.created_at, m.name, e.position, j.state, e.laps_completed, e.best_ms, e.avg_ms, "
        "e.total_ms FROM submissions s JOIN users u ON u.id = s.user_id JOIN models m ON m.id = "
        "s.model_id LEFT JOIN submission_evals e ON e.submission_id = s.id LEFT JOIN jobs j ON "
        "j.id = e.job_id WHERE s.league_id = ? AND (? = 0 OR s.user_id = ?) ORDER BY s.id, "
        "e.position",
        "iii", L->id, user_id, user_id);
    if (rc)
        return rc;
    while ((rc = td__db_next(rows, err)) > 0) {
        int64_t id = td__db_int(rows, 0);
        if (!*n || es[*n - 1].id != id) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                entry *ne = td_realloc(es, (size_t)cap * sizeof(*es));
                if (!ne) {
                    rc = td_err_set(err, TD_ENOMEM, "out of memory");
                    break;
                }
                es = ne;
            }
            entry *e = &es[(*n)++];
            memset(e, 0, sizeof(*e));
            e->id = id;
            e->user_id = td__db_int(rows, 1);
            snprintf(e->username, sizeof(e->username), "%s", td__db_text(rows, 2));
            snprintf(e->division, sizeof(e->division), "%s", td__db_text(rows, 3));
            e->model_id = td__db_int(rows, 4);
            e->model_version = td__db_int(rows, 5);
            e->created_at = td__db_int(rows, 6);
            snprintf(e->model_name, sizeof(e->model_name), "%s", td__db_text(rows, 7));
        }
        entry *e = &es[*n - 1];
        if (td__db_is_null(rows, 8))
            continue;
        int pos = (int)td__db_int(rows, 8) - 1;
        if (pos < 0 || pos >= MAX_TRACKS)
            continue;
        track_result *t = &e->t[pos];
        snprintf(t->state, sizeof(t->state), "%s",
                 td__db_is_null(rows, 9) ? "failed" : td__db_text(rows, 9));
        t->have = !td__db_is_null(rows, 10);
        t->laps_completed = t->have ? td__db_int(rows, 10) : 0;
        t->best_ms = td__db_is_null(rows, 11) ? 0 : td__db_int(rows, 11);
        t->avg_ms = td__db_is_null(rows, 12) ? 0 : td__db_int(rows, 12);
        t->total_ms = td__db_is_null(rows, 13) ? 0 : td__db_int(rows, 13);
    }
    td__db_rows_free(rows);
    if (rc < 0) {
        td_free(es);
        return rc;
    }
    *out = es;
    return 0;
}

/* The tracks whose results the caller may see. */
static unsigned visible_mask(td__req *r, const league *L)
{
    unsigned m = 0;
    int hide = hides(r, L);
    for (int i = 0; i < L->ntracks; i++)
        if (!(L->tracks[i].hidden && hide))
            m |= 1u << i;
    return m;
}

static json_t *ms_json(int64_t ms, int ok)
{
    return ok ? json_real((double)ms / 1000.0) : json_null();
}

static json_t *entry_json(const league *L, const entry *e, unsigned mask)
{
    int ok = e->counted;
    json_t *o =
        json_pack("{s:I,s:{s:I,s:s},s:s,s:{s:I,s:s,s:I},s:o,s:s,s:b,s:o,s:o,s:o,s:o,s:I}",
                  "submission", (json_int_t)e->id, "user", "id", (json_int_t)e->user_id, "username",
                  e->username, "division", e->division, "model", "id", (json_int_t)e->model_id,
                  "name", e->model_name, "version", (json_int_t)e->model_version, "submitted_at",
                  td__json_time(e->created_at), "state",
                  e->pending   ? "evaluating"
                  : e->counted ? "counted"
                               : "not_counted",
                  "counted", e->counted, "score_s", ms_json(e->score_ms, ok), "best_lap_s",
                  ms_json(e->best_ms, ok), "average_lap_s", ms_json(e->avg_ms, ok), "total_time_s",
                  ms_json(e->total_ms, ok), "laps_completed", (json_int_t)e->laps);
    (void)L;
    (void)mask;
    return o;
}

/* ------------------------------------------------------------------------------------ */
/* Leaderboard                                                                          */
/* ------------------------------------------------------------------------------------ */

void td__csv_field(td__sb *b, const char *s)
{
    int quote =
        strpbrk(s, ",\"\n\r") != NULL || s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@';
    if (!quote) {
        td__sb_str(b, s);
        return;
    }
    td__sb_str(b, "\"");
    /* A leading formula character is defused for spreadsheets. */
    if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')
        td__sb_str(b, "'");
    for (const char *p = s; *p; p++)
        td__sb_add(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
    td__sb_str(b, "\"");
}

/* The physical track's standings: each racer's best counted attempt of laps a marshal
 * entered, by the league's ranking; a lap counts its time plus the league's off-track
 * penalty per off-track. */
static json_t *physical_build(td__req *r, const league *L, int64_t top, td_err *err)
{
    td_db_rows *rows;
    typedef struct {
        char racer[72];
        int64_t user_id, attempt, n, best, total, off, first_at, first_id;
    } run;
    run *runs = NULL;
    int nr = 0, cap = 0;
    int rc = td__db_query(td__req_db(r), &rows, err,
                          "SELECT p.racer, p.user_id, p.attempt, p.lap_ms, p.off_tracks, "
                          "p.created_at, p.id FROM physical_laps p WHERE p.league_id = ? AND "
                          "p.deleted_at IS NULL ORDER BY p.id",
                          "i", L->id);
    if (rc)
        return NULL;
    while ((rc = td__db_next(rows, err)) > 0) {
        const char *racer = td__db_text(rows, 0);
        int64_t attempt = td__db_int(rows, 2);
        int k;
        for (k = 0; k < nr; k++)
            if (!strcmp(runs[k].racer, racer) && runs[k].attempt == attempt)
                break;
        if (k == nr) {
            if (nr == cap) {
                cap = cap ? cap * 2 : 32;
                run *nw = td_realloc(runs, (size_t)cap * sizeof(*runs));
                if (!nw)
                    break;
                runs = nw;
            }
            memset(&runs[nr], 0, sizeof(runs[0]));
            snprintf(runs[nr].racer, sizeof(runs[0].racer), "%s", racer);
            runs[nr].user_id = td__db_is_null(rows, 1) ? 0 : td__db_int(rows, 1);
            runs[nr].attempt = attempt;
            runs[nr].first_at = td__db_int(rows, 5);
            runs[nr].first_id = td__db_int(rows, 6);
            nr++;
        }
        int64_t ms = td__db_int(rows, 3) + td__db_int(rows, 4) * L->off_ms;
        run *x = &runs[k];
        x->best = !x->n || ms < x->best ? ms : x->best;
        x->total += ms;
        x->off += td__db_int(rows, 4);
        x->n++;
    }
    td__db_rows_free(rows);
    if (rc < 0) {
        td_free(runs);
        return NULL;
    }
    /* As entries, so the league's order applies; each racer's best counted attempt. */
    entry *es = td_calloc((size_t)nr + 1, sizeof(*es));
    entry **best = td_calloc((size_t)nr + 1, sizeof(*best));
    int nb = 0;
    for (int i = 0; es && best && i < nr; i++) {
        entry *e = &es[i];
        e->id = runs[i].first_id;
        e->created_at = runs[i].first_at;
        e->user_id = runs[i].user_id;
        e->laps = runs[i].n;
        e->best_ms = runs[i].best;
        e->total_ms = runs[i].total;
        e->avg_ms = runs[i].n ? (runs[i].total + runs[i].n / 2) / runs[i].n : 0;
        e->score_ms = !strcmp(L->ranking, "BEST_LAP_TIME")  ? e->best_ms
                      : !strcmp(L->ranking, "AVG_LAP_TIME") ? e->avg_ms
                                                            : e->total_ms;
        e->counted = runs[i].n >= L->min_laps;
        if (!e->counted)
            continue;
        int k;
        for (k = 0; k < nb; k++)
            if (!strcmp(runs[best[k] - es].racer, runs[i].racer))
                break;
        if (k == nb)
            best[nb++] = e;
        else if (entry_cmp(L, e, best[k]) < 0)
            best[k] = e;
    }
    sort_entries(L, best, nb);
    json_t *arr = json_array();
    for (int i = 0; i < nb && (!top || i < top); i++) {
        const run *x = &runs[best[i] - es];
        json_t *o = json_pack(
            "{s:i,s:s,s:o,s:I,s:I,s:f,s:f,s:f,s:f,s:I}", "rank", i + 1, "racer", x->racer, "user",
            x->user_id ? json_integer(x->user_id) : json_null(), "attempt", (json_int_t)x->attempt,
            "laps", (json_int_t)x->n, "score_s", (double)best[i]->score_ms / 1000.0, "best_lap_s",
            (double)best[i]->best_ms / 1000.0, "average_lap_s", (double)best[i]->avg_ms / 1000.0,
            "total_time_s", (double)best[i]->total_ms / 1000.0, "off_tracks", (json_int_t)x->off);
        json_array_append_new(arr, o);
    }
    td_free(best);
    td_free(es);
    td_free(runs);
    return arr;
}

/* The standings as the caller may see them (virtual per division, and the physical track),
 * as JSON, or as CSV into csv when it is not NULL. *missing is set when the division named
 * does not exist. NULL on a database error. */
static json_t *standings_build(td__req *r, const league *L, const char *division, int64_t top,
                               td__sb *csv, int *missing, td_err *err)
{
    entry *es = NULL;
    int n = 0;
    *missing = 0;
    unsigned mask = visible_mask(r, L);
    if (load_entries(td__req_db(r), L, 0, &es, &n, err))
        return NULL;
    /* Each learner's best counted entry. */
    entry **best = td_calloc((size_t)n + 1, sizeof(*best));
    int nb = 0;
    for (int i = 0; best && i < n; i++) {
        score_entry(L, &es[i], mask);
        if (!es[i].counted)
            continue;
        int k;
        for (k = 0; k < nb; k++)
            if (best[k]->user_id == es[i].user_id)
                break;
        if (k == nb)
            best[nb++] = &es[i];
        else if (entry_cmp(L, &es[i], best[k]) < 0)
            best[k] = &es[i];
    }
    if (best)
        sort_entries(L, best, nb);
    int ndiv = L->ndivisions ? L->ndivisions : 1, found = 0;
    json_t *divs = json_array();
    if (csv)
        td__sb_str(csv, "rank,username,division,score_s,best_lap_s,average_lap_s,total_time_s,"
                        "laps_completed,submission,model,version,submitted_at\n");
    for (int d = 0; d < ndiv; d++) {
        const char *dname = L->ndivisions ? L->divisions[d].name : "all";
        if (division && strcmp(division, dname))
            continue;
        found = 1;
        json_t *arr = json_array();
        int rank = 0;
        for (int i = 0; i < nb; i++) {
            if (L->ndivisions && strcmp(best[i]->division, dname))
                continue;
            if (top && rank >= top)
                break;
            rank++;
            if (csv) {
                char line[512], t[5][32];
                double v[4] = {(double)best[i]->score_ms, (double)best[i]->best_ms,
                               (double)best[i]->avg_ms, (double)best[i]->total_ms};
                for (int k = 0; k < 4; k++)
                    snprintf(t[k], sizeof(t[k]), "%.3f", v[k] / 1000.0);
                td__format_time(best[i]->created_at, t[4], sizeof(t[4]));
                snprintf(line, sizeof(line), "%d,", rank);
                td__sb_str(csv, line);
                td__csv_field(csv, best[i]->username);
                td__sb_str(csv, ",");
                td__csv_field(csv, dname);
                snprintf(line, sizeof(line), ",%s,%s,%s,%s,%lld,%lld,", t[0], t[1], t[2], t[3],
                         (long long)best[i]->laps, (long long)best[i]->id);
                td__sb_str(csv, line);
                td__csv_field(csv, best[i]->model_name);
                snprintf(line, sizeof(line), ",%lld,%s\n", (long long)best[i]->model_version, t[4]);
                td__sb_str(csv, line);
            } else {
                json_t *o = entry_json(L, best[i], mask);
                json_object_set_new(o, "rank", json_integer(rank));
                int64_t entries = 0;
                for (int k = 0; k < n; k++)
                    entries += es[k].user_id == best[i]->user_id;
                json_object_set_new(o, "entries", json_integer(entries));
                json_array_append_new(arr, o);
            }
        }
        json_array_append_new(divs, json_pack("{s:s,s:o}", "name", dname, "entries", arr));
    }
    td_free(best);
    td_free(es);
    if (division && !found)
        *missing = 1;
    json_t *physical = csv ? json_array() : physical_build(r, L, top, err);
    if (!physical) {
        json_decref(divs);
        return NULL;
    }
    json_t *hidden = json_array();
    for (int i = 0; i < L->ntracks; i++)
        if (!(mask & (1u << i)))
            json_array_append_new(hidden, json_integer(i + 1));
    return json_pack("{s:I,s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:o}", "league", (json_int_t)L->id, "name",
                     L->name, "ranking", L->ranking, "state", league_state(r, L), "min_laps",
                     (json_int_t)L->min_laps, "hidden_tracks_not_counted", hidden, "divisions",
                     divs, "physical", physical, "closes_at", td__json_time(L->closes_at));
}

/* ---- Generations and the leaderboard cache ---------------------------------------------- */

int td__league_bump(td_db_conn *c, int64_t league_id, td_err *err)
{
    return td__db_exec(c, err, "UPDATE leagues SET generation = generation + 1 WHERE id = ?", "i",
                       league_id);
}

int td__league_bump_job(td_db_conn *c, int64_t job_id, td_err *err)
{
    return td__db_exec(c, err,
                       "UPDATE leagues SET generation = generation + 1 WHERE id IN (SELECT "
                       "s.league_id FROM submission_evals e JOIN submissions s ON s.id = "
                       "e.submission_id WHERE e.job_id = ?)",
                       "i", job_id);
}

int td__league_bump_model(td_db_conn *c, int64_t model_id, td_err *err)
{
    return td__db_exec(c, err,
                       "UPDATE leagues SET generation = generation + 1 WHERE id IN (SELECT "
                       "league_id FROM submissions WHERE model_id = ?)",
                       "i", model_id);
}

/* A leaderboard as this process last computed it for one view of one generation of a
 * league. Every change to standings bumps the generation in the database, in its own
 * transaction, so no process serves a body older than the generation it read. */
typedef struct board_slot {
    int64_t league, generation, top;
    unsigned mask;
    int csv, has_division;
    char state[16], division[72], etag[24];
    char *body;
    size_t len;
    uint64_t used;
} board_slot;

#define BOARD_SLOTS 64

struct td__board_cache {
    pthread_mutex_t mu;
    uint64_t tick;
    board_slot s[BOARD_SLOTS];
};

struct td__board_cache *td__board_cache_new(void)
{
    struct td__board_cache *bc = td_calloc(1, sizeof(*bc));
    if (bc)
        pthread_mutex_init(&bc->mu, NULL);
    return bc;
}

void td__board_cache_free(struct td__board_cache *bc)
{
    if (!bc)
        return;
    for (int i = 0; i < BOARD_SLOTS; i++)
        td_free(bc->s[i].body);
    pthread_mutex_destroy(&bc->mu);
    td_free(bc);
}

static int slot_is(const board_slot *s, const board_slot *k)
{
    return s->body && s->league == k->league && s->generation == k->generation &&
           s->top == k->top && s->mask == k->mask && s->csv == k->csv &&
           s->has_division == k->has_division && !strcmp(s->state, k->state) &&
           !strcmp(s->division, k->division);
}

/* A copy of the cached body of key k into *body (and its ETag into k): 1, or 0. */
static int board_get(struct td__board_cache *bc, board_slot *k, char **body, size_t *len)
{
    int hit = 0;
    pthread_mutex_lock(&bc->mu);
    for (int i = 0; i < BOARD_SLOTS && !hit; i++) {
        board_slot *s = &bc->s[i];
        if (!slot_is(s, k))
            continue;
        *body = td_malloc(s->len ? s->len : 1);
        if (*body) {
            memcpy(*body, s->body, s->len);
            *len = s->len;
            memcpy(k->etag, s->etag, sizeof(k->etag));
            s->used = ++bc->tick;
            hit = 1;
        }
    }
    pthread_mutex_unlock(&bc->mu);
    return hit;
}

/* Keeps a copy of body under key k, in place of the least recently used view. */
static void board_put(struct td__board_cache *bc, const board_slot *k, const char *body, size_t len)
{
    char *copy = td_malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, body, len);
    pthread_mutex_lock(&bc->mu);
    board_slot *v = &bc->s[0];
    for (int i = 0; i < BOARD_SLOTS; i++) {
        board_slot *s = &bc->s[i];
        /* A view of an older generation of the league is dead: reuse it first. */
        if (slot_is(s, k) || !s->body ||
            (s->league == k->league && s->generation < k->generation)) {
            v = s;
            break;
        }
        if (s->used < v->used)
            v = s;
    }
    td_free(v->body);
    *v = *k;
    v->body = copy;
    v->len = len;
    v->used = ++bc->tick;
    pthread_mutex_unlock(&bc->mu);
}

/* The body's ETag: its 64-bit FNV-1a hash, so every process gives the same one. */
static void board_etag(board_slot *k, const char *body, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)body[i]) * 1099511628211ULL;
    snprintf(k->etag, sizeof(k->etag), "\"%016llx\"", (unsigned long long)h);
}

/* The leaderboard as JSON (or CSV) text: 0, or having replied with the error (1). */
static int board_body(td__req *r, const league *L, const char *division, int64_t top, int csv,
                      char **body, size_t *len)
{
    int missing = 0;
    td_err err = {0};
    td__sb b = {0};
    json_t *o = standings_build(r, L, division, top, csv ? &b : NULL, &missing, &err);
    if (!o) {
        td_free(b.buf);
        return td__fail_err(r, TD_EINTERNAL, &err);
    }
    if (missing) {
        json_decref(o);
        td_free(b.buf);
        return td__fail(r, 404, "not_found", "league %lld has no division '%.64s'",
                        (long long)L->id, division);
    }
    if (!csv) {
        /* As td__reply_json sends it: compact, one line. */
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        size_t n = s ? strlen(s) : 0;
        td__sb_add(&b, s ? s : "", n);
        td__sb_str(&b, "\n");
        free(s);
        if (!s)
            b.failed = 1;
    } else {
        json_decref(o);
    }
    if (b.failed) {
        td_free(b.buf);
        return td__fail(r, 500, "internal", "out of memory");
    }
    *body = b.buf;
    *len = b.len;
    return 0;
}

static int get_leaderboard(td__req *r)
{
    league L;
    int64_t top;
    const char *division = td__req_query(r, "division");
    const char *format = td__req_query(r, "format");
    if (!league_param(r, 0, &L))
        return 1;
    if (td__query_int(r, "top", 0, 0, 100000, &top))
        return 1;
    if (format && strcmp(format, "json") && strcmp(format, "csv"))
        return td__fail(r, 400, "bad_request", "format '%.10s': json or csv", format);
    int csv = format && !strcmp(format, "csv");
    /* The view: what the caller may see of this generation (hidden tracks before the close,
     * the state the clock gives), the division, top and the format. */
    board_slot k = {.league = L.id, .generation = L.generation, .top = top, .csv = csv};
    k.mask = visible_mask(r, &L);
    snprintf(k.state, sizeof(k.state), "%s", league_state(r, &L));
    k.has_division = division != NULL;
    snprintf(k.division, sizeof(k.division), "%s", division ? division : "");
    char *body = NULL;
    size_t len = 0;
    if (!board_get(r->hub->boards, &k, &body, &len)) {
        if (board_body(r, &L, division, top, csv, &body, &len))
            return 1;
        board_etag(&k, body, len);
        board_put(r->hub->boards, &k, body, len);
    }
    td__req_add_header(r, "ETag", k.etag);
    td__req_add_header(r, "Cache-Control", "no-cache");
    const char *inm = td__req_header(r, "If-None-Match");
    if (inm && strstr(inm, k.etag)) {
        td_free(body);
        return td__reply_empty(r, 304);
    }
    if (!csv)
        return td__reply_data(r, 200, "application/json", body, len);
    char disp[128];
    snprintf(disp, sizeof(disp), "attachment; filename=\"league-%lld-leaderboard.csv\"",
             (long long)L.id);
    td__req_add_header(r, "Content-Disposition", disp);
    return td__reply_data(r, 200, "text/csv; charset=utf-8", body, len);
}

/* ---- The big screen: the leaderboard as server-sent events -------------------------------- */

typedef struct board_stream {
    td__sse sse; /* first: the stream holds a td__sse */
    td__principal who;
    int64_t league_id;
    char division[72];
    int has_division;
    char *last; /* the last standings sent */
} board_stream;

static void board_fill(td__sse *base)
{
    board_stream *s = (board_stream *)base;
    td__req tr;
    league L;
    td_err err = {0};
    int missing = 0;
    memset(&tr, 0, sizeof(tr));
    tr.hub = base->hub;
    tr.who = s->who;
    tr.db = td__db_acquire(base->hub->db);
    json_t *o = NULL;
    if (league_load_db(tr.db, s->league_id, &L, &err) == 0)
        o = standings_build(&tr, &L, s->has_division ? s->division : NULL, 0, NULL, &missing, &err);
    else
        base->ended = 1; /* deleted */
    td__db_release(base->hub->db, tr.db);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text && (!s->last || strcmp(text, s->last))) {
        /* fill runs when everything sent before has been read: the buffer is empty. */
        if (td__sse_append(base, "event: leaderboard\ndata: ", 25) == 0 &&
            td__sse_append(base, text, strlen(text)) == 0 && td__sse_append(base, "\n\n", 2) == 0) {
            free(s->last);
            s->last = text;
            text = NULL;
        } else {
            base->len = 0;
        }
    }
    free(text);
}

static void board_free(td__sse *base)
{
    free(((board_stream *)base)->last);
}

static int get_leaderboard_events(td__req *r)
{
    league L;
    const char *division = td__req_query(r, "division");
    if (!league_param(r, 0, &L))
        return 1;
    if (division && strlen(division) > 64)
        return td__fail(r, 400, "bad_request", "division: at most 64 characters");
    board_stream *s = td_calloc(1, sizeof(*s));
    if (!s)
        return td__fail(r, 500, "internal", "out of memory");
    s->sse.hub = r->hub;
    s->sse.fill = board_fill;
    s->sse.free_user = board_free;
    s->who = r->who;
    s->league_id = L.id;
    if (division) {
        snprintf(s->division, sizeof(s->division), "%s", division);
        s->has_division = 1;
    }
    return td__reply_sse(r, &s->sse);
}

/* ---- Physical laps: a race marshal's entries ---------------------------------------------- */

static json_t *lap_json(td_db_rows *row)
{
    return json_pack("{s:I,s:s,s:o,s:I,s:f,s:I,s:o,s:s}", "id", (json_int_t)td__db_int(row, 0),
                     "racer", td__db_text(row, 1), "user",
                     td__db_is_null(row, 2) ? json_null() : json_integer(td__db_int(row, 2)),
                     "attempt", (json_int_t)td__db_int(row, 3), "lap_time_s",
                     (double)td__db_int(row, 4) / 1000.0, "off_tracks",
                     (json_int_t)td__db_int(row, 5), "entered_at",
                     td__json_time(td__db_int(row, 6)), "marshal", td__db_text(row, 7));
}

#define LAP_COLS                                                                                   \
    "p.id, p.racer, p.user_id, p.attempt, p.lap_ms, p.off_tracks, p.created_at, u.username"
#define LAP_FROM "FROM physical_laps p JOIN users u ON u.id = p.marshal_id"

static int post_lap(td__req *r)
{
    json_t *o;
    league L;
    const char *racer = NULL;
    int64_t user = 0, attempt = 1, off = 0, id = 0;
    double lap = 0;
    char name[72];
    td_db_rows *row;
    td_err err = {0};
    if (td__req_json(r, &o) ||
        td__check_types(r, o, "racer:s,user:i,attempt:i,lap_time:n,off_tracks:i"))
        return 1;
    if (!league_param(r, 0, &L))
        return 1;
    if (!may_manage(r, &L))
        return td__fail(r, 403, "forbidden",
                        "only who runs league %lld (its race marshals) may enter laps",
                        (long long)L.id);
    if (td__only_keys(r, o, "racer,user,attempt,lap_time,off_tracks") ||
        td__arg_str(r, o, "racer", 0, 64, &racer) ||
        td__arg_int(r, o, "user", 0, 1, INT64_MAX, &user) ||
        td__arg_int(r, o, "attempt", 0, 1, 1000, &attempt) ||
        td__arg_num(r, o, "lap_time", 1, 0.5, 3600, &lap) ||
        td__arg_int(r, o, "off_tracks", 0, 0, 100, &off))
        return 1;
    if (user) {
        if (td__db_query_row(td__req_db(r), &row, &err, "SELECT username FROM users WHERE id = ?",
                             "i", user) <= 0)
            return td__fail(r, 404, "not_found", "no user %lld", (long long)user);
        snprintf(name, sizeof(name), "%s", td__db_text(row, 0));
        td__db_rows_free(row);
        if (racer && strcmp(racer, name))
            return td__fail(r, 400, "bad_request",
                            "field 'racer': user %lld is %s; give one or the other",
                            (long long)user, name);
    } else if (!racer) {
        return td__fail(r, 400, "bad_request", "missing field 'racer' (or 'user')");
    } else if (!td__display_name_ok(racer, 64)) {
        return td__fail(r, 400, "bad_request",
                        "field 'racer': letters, digits, spaces and . , _ - : ( ) & + #");
    } else {
        snprintf(name, sizeof(name), "%s", racer);
    }
    /* The lap and the standings' generation move together. */
    td_db_conn *c = td__req_db(r);
    int rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__db_query_row(c, &row, &err,
                              "INSERT INTO physical_laps (league_id, racer, user_id, attempt, "
                              "lap_ms, off_tracks, marshal_id, created_at) VALUES (?, ?, "
                              "NULLIF(?, 0), ?, ?, ?, ?, ?) RETURNING id",
                              "itiiiiii", L.id, name, user, attempt, (int64_t)(lap * 1000 + 0.5),
                              off, r->who.id, td__hub_now(r->hub));
    if (rc > 0) {
        id = td__db_int(row, 0);
        td__db_rows_free(row);
        rc = td__league_bump(c, L.id, &err);
    } else if (rc == 0) {
        rc = td_err_set(&err, TD_EINTERNAL, "the lap's row was not returned");
    }
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    rc = td__db_query_row(td__req_db(r), &row, &err,
                          "SELECT " LAP_COLS " " LAP_FROM " WHERE p.id = ?", "i", id);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_EINTERNAL, &err);
    json_t *j = lap_json(row);
    td__db_rows_free(row);
    return td__reply_json(r, 201, j);
}

static int list_laps(td__req *r)
{
    league L;
    td_db_rows *rows;
    td_err err = {0};
    if (!league_param(r, 0, &L))
        return 1;
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " LAP_COLS " " LAP_FROM
                          " WHERE p.league_id = ? AND p.deleted_at IS NULL ORDER BY p.id",
                          "i", L.id);
    if (rc)
        return td__fail_err(r, rc, &err);
    json_t *arr = json_array();
    while ((rc = td__db_next(rows, &err)) > 0)
        json_array_append_new(arr, lap_json(rows));
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "laps", arr));
}

static int delete_lap(td__req *r)
{
    league L;
    int64_t lid;
    td_err err = {0};
    if (!league_param(r, 0, &L) || td__param_id(r, 1, "lap", &lid))
        return 1;
    if (!may_manage(r, &L))
        return td__fail(r, 403, "forbidden", "only who runs league %lld may correct laps",
                        (long long)L.id);
    td_db_conn *c = td__req_db(r);
    int rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__db_exec(c, &err,
                         "UPDATE physical_laps SET deleted_at = ? WHERE id = ? AND league_id = ? "
                         "AND deleted_at IS NULL",
                         "iii", td__hub_now(r->hub), lid, L.id);
    if (!rc && !td__db_changes(c))
        rc = td_err_set(&err, TD_ENOENT, "no lap %lld in league %lld", (long long)lid,
                        (long long)L.id);
    if (!rc)
        rc = td__league_bump(c, L.id, &err);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    return td__reply_empty(r, 204);
}

/* ------------------------------------------------------------------------------------ */
/* Submissions                                                                          */
/* ------------------------------------------------------------------------------------ */

/* The division the caller enters: by class, else the one asked for, else the first open to
 * all. "" when the league has none. */
static int pick_division(td__req *r, const league *L, const char *asked, char *out, size_t cap)
{
    out[0] = 0;
    if (!L->ndivisions)
        return 0;
    for (int i = 0; i < L->ndivisions; i++)
        if (L->divisions[i].class_id && in_class(r, L->divisions[i].class_id)) {
            if (asked && strcmp(asked, L->divisions[i].name))
                return td__fail(r, 400, "bad_request",
                                "field 'division': your class puts you in '%s'",
                                L->divisions[i].name);
            snprintf(out, cap, "%s", L->divisions[i].name);
            return 0;
        }
    for (int i = 0; i < L->ndivisions; i++) {
        if (L->divisions[i].class_id)
            continue;
        if (!asked || !strcmp(asked, L->divisions[i].name)) {
            snprintf(out, cap, "%s", L->divisions[i].name);
            return 0;
        }
    }
    return td__fail(r, 400, "bad_request",
                    "field 'division': league %lld has no division '%.64s' open to you",
                    (long long)L->id, asked ? asked : "");
}

/* Refuses a submission over a limit: 429 with the limit, the use and when it resets. */
static int limit_check(td__req *r, const league *L)
{
    int64_t today, total, now = td__hub_now(r->hub);
    my_usage(r, L, &today, &total);
    if (L->total_limit >= 0 && total >= L->total_limit) {
        td__fail(r, 429, "submission_limit",
                 "you have made %lld of the %lld submissions league '%s' allows in total; the "
                 "limit does not reset",
                 (long long)total, (long long)L->total_limit, L->name);
        td__fail_details(r, json_pack("{s:s,s:I,s:I,s:n}", "limit", "total", "allowed",
                                      (json_int_t)L->total_limit, "used", (json_int_t)total,
                                      "resets_at"));
        return 1;
    }
    if (L->daily_limit >= 0 && today >= L->daily_limit) {
        int64_t reset = day_start(now) + 86400;
        char when[40], retry[32];
        td__format_time(reset, when, sizeof(when));
        snprintf(retry, sizeof(retry), "%lld", (long long)(reset - now));
        td__req_add_header(r, "Retry-After", retry);
        td__fail(r, 429, "submission_limit",
                 "you have made %lld of the %lld submissions league '%s' allows per day; the "
                 "next is allowed at %s",
                 (long long)today, (long long)L->daily_limit, L->name, when);
        td__fail_details(r, json_pack("{s:s,s:I,s:I,s:o}", "limit", "daily", "allowed",
                                      (json_int_t)L->daily_limit, "used", (json_int_t)today,
                                      "resets_at", td__json_time(reset)));
        return 1;
    }
    return 0;
}

/* The job params of the official evaluation on track i. */
static json_t *official_params(const league *L, int i, int64_t submission)
{
    char input[96];
    snprintf(input, sizeof(input), "/api/v1/submissions/%lld/download", (long long)submission);
    json_t *p = json_pack(
        "{s:s,s:I,s:I,s:I,s:f,s:f,s:s,s:I,s:I,s:i,s:s}", "track", L->tracks[i].name, "laps",
        (json_int_t)L->laps, "seed", (json_int_t)L->seed, "max_resets", (json_int_t)L->max_resets,
        "off_track_penalty", (double)L->off_ms / 1000.0, "collision_penalty",
        (double)L->coll_ms / 1000.0, "race_type", L->race_type, "league", (json_int_t)L->id,
        "submission", (json_int_t)submission, "track_position", i + 1, "input", input);
    if (L->continuous)
        json_object_set_new(p, "continuous", json_true());
    if (L->obstacles > 0)
        json_object_set_new(p, "obstacles", json_integer(L->obstacles));
    if (L->bots > 0) {
        json_object_set_new(p, "bots", json_integer(L->bots));
        json_object_set_new(p, "bot_speed", json_real((double)L->bot_speed_mms / 1000.0));
    }
    return p;
}

static int reply_submission(td__req *r, int status, const league *L, int64_t sid);

static int post_submission(td__req *r)
{
    json_t *o;
    league L;
    int64_t model_id = 0, version = 0, now = td__hub_now(r->hub), sid = 0;
    const char *division = NULL;
    char div[72];
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) || td__check_types(r, o, "model:i,version:i,division:s"))
        return 1;
    if (!league_param(r, 0, &L))
        return 1;
    if (td__only_keys(r, o, "model,version,division") ||
        td__arg_int(r, o, "model", 1, 1, INT64_MAX, &model_id) ||
        td__arg_int(r, o, "version", 0, 1, INT64_MAX, &version) ||
        td__arg_str(r, o, "division", 0, 64, &division))
        return 1;
    if (now < L.opens_at || now >= L.closes_at) {
        char when[40];
        td__format_time(now < L.opens_at ? L.opens_at : L.closes_at, when, sizeof(when));
        return td__fail(r, 409, "league_not_open", "league '%s' %s %s", L.name,
                        now < L.opens_at ? "opens at" : "closed at", when);
    }
    if (td__submission_model(r, model_id, &version))
        return 1;
    if (pick_division(r, &L, division, div, sizeof(div)))
        return 1;
    c = td__req_db(r);
    /* The limit check and the insert are one transaction: two at once cannot both pass. */
    rc = td__db_begin(c, 1, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (limit_check(r, &L)) {
        td__db_rollback(c);
        return 1;
    }
    /* The version is frozen: the submission keeps its files and their hash. */
    int64_t fsid = 0;
    char sha[65] = "";
    if (td__submission_files(r, c, model_id, version, &fsid, sha))
        return 1;
    if (!rc) {
        rc = td__db_insert_id(c, &sid, &err,
                              "INSERT INTO submissions (league_id, user_id, division, model_id, "
                              "model_version, fileset_id, content_sha256, created_at) VALUES (?, "
                              "?, ?, ?, ?, ?, ?, ?) RETURNING id",
                              "iitiiiti", L.id, r->who.id, div, model_id, version, fsid, sha, now);
    }
    /* One official evaluation per track, as jobs any worker runs. */
    for (int i = 0; !rc && i < L.ntracks; i++) {
        json_t *p = official_params(&L, i, sid);
        int64_t jid = 0;
        rc = td__job_create(r->hub, c, r->who.id, "league", model_id, version, p, 0, 0, &jid, &err);
        json_decref(p);
        if (!rc)
            rc = td__db_exec(c, &err,
                             "INSERT INTO submission_evals (submission_id, position, job_id) "
                             "VALUES (?, ?, ?)",
                             "iii", sid, (int64_t)(i + 1), jid);
    }
    if (!rc)
        rc = td__league_bump(c, L.id, &err);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    td__req_location(r, "/api/v1/leagues/%lld/submissions/%lld", (long long)L.id, (long long)sid);
    return reply_submission(r, 201, &L, sid);
}

/* One submission with its evaluations (hidden tracks' withheld from who may not see them). */
static json_t *submission_json(td__req *r, const league *L, const entry *e, td_err *err)
{
    unsigned mask = visible_mask(r, L);
    json_t *o = entry_json(L, e, mask);
    json_t *evals = json_array();
    td_db_rows *rows;
    char sha[65] = "";
    td_db_rows *row;
    if (td__db_query_row(td__req_db(r), &row, err,
                         "SELECT content_sha256 FROM submissions WHERE id = ?", "i", e->id) > 0) {
        snprintf(sha, sizeof(sha), "%s", td__db_text(row, 0));
        td__db_rows_free(row);
    }
    json_object_set_new(o, "content_sha256", json_string(sha));
    json_object_set_new(o, "league", json_integer(L->id));
    int rc = td__db_query(
        td__req_db(r), &rows, err,
        "SELECT e.position, j.state, e.laps_completed, e.best_ms, e.avg_ms, e.total_ms, "
        "e.lap_times, e.off_tracks, e.crashes, e.resets, e.penalty_ms, j.error, j.id FROM "
        "submission_evals e JOIN jobs j ON j.id = e.job_id WHERE e.submission_id = ? ORDER BY "
        "e.position",
        "i", e->id);
    while (!rc && td__db_next(rows, err) > 0) {
        int pos = (int)td__db_int(rows, 0);
        int secret = pos >= 1 && pos <= L->ntracks && !(mask & (1u << (pos - 1)));
        if (secret) {
            json_array_append_new(evals, json_pack("{s:i,s:n,s:b,s:s}", "position", pos, "track",
                                                   "hidden", 1, "state", "hidden"));
            continue;
        }
        int done = !td__db_is_null(rows, 2);
        json_t *laps = done ? json_loads(td__db_text(rows, 6), 0, NULL) : NULL;
        json_t *ev =
            json_pack("{s:i,s:s,s:b,s:s,s:I}", "position", pos, "track",
                      pos >= 1 && pos <= L->ntracks ? L->tracks[pos - 1].name : "", "hidden",
                      pos >= 1 && pos <= L->ntracks ? L->tracks[pos - 1].hidden : 0, "state",
                      td__db_text(rows, 1), "job", (json_int_t)td__db_int(rows, 12));
        if (done) {
            json_object_set_new(ev, "laps_completed", json_integer(td__db_int(rows, 2)));
            json_object_set_new(ev, "lap_times_s", laps ? laps : json_array());
            json_object_set_new(ev, "best_lap_s",
                                ms_json(td__db_int(rows, 3), td__db_int(rows, 2)));
            json_object_set_new(ev, "average_lap_s",
                                ms_json(td__db_int(rows, 4), td__db_int(rows, 2)));
            json_object_set_new(ev, "total_time_s",
                                ms_json(td__db_int(rows, 5), td__db_int(rows, 2)));
            json_object_set_new(ev, "off_tracks", json_integer(td__db_int(rows, 7)));
            json_object_set_new(ev, "crashes", json_integer(td__db_int(rows, 8)));
            json_object_set_new(ev, "resets", json_integer(td__db_int(rows, 9)));
            json_object_set_new(ev, "penalty_s", json_real((double)td__db_int(rows, 10) / 1000.0));
        }
        if (!td__db_is_null(rows, 11))
            json_object_set_new(ev, "error", json_string(td__db_text(rows, 11)));
        json_array_append_new(evals, ev);
    }
    td__db_rows_free(rows);
    json_object_set_new(o, "evaluations", evals);
    return o;
}

/* Loads submission sid of league L for the caller (theirs, or they run the league): 1, or 0
 * having replied 404. */
static int load_submission(td__req *r, const league *L, int64_t sid, entry *out)
{
    entry *es = NULL;
    int n = 0;
    td_err err = {0};
    int rc = load_entries(td__req_db(r), L, may_manage(r, L) ? 0 : r->who.id, &es, &n, &err);
    if (rc)
        return td__fail_err(r, rc, &err), 0;
    for (int i = 0; i < n; i++)
        if (es[i].id == sid) {
            *out = es[i];
            td_free(es);
            score_entry(L, out, visible_mask(r, L));
            return 1;
        }
    td_free(es);
    td__fail(r, 404, "not_found", "no submission %lld in league %lld", (long long)sid,
             (long long)L->id);
    return 0;
}

static int reply_submission(td__req *r, int status, const league *L, int64_t sid)
{
    entry e;
    td_err err = {0};
    if (!load_submission(r, L, sid, &e))
        return 1;
    return td__reply_json(r, status, submission_json(r, L, &e, &err));
}

static int list_submissions(td__req *r)
{
    league L;
    entry *es = NULL;
    int n = 0;
    int64_t user = 0;
    td_err err = {0};
    if (!league_param(r, 0, &L))
        return 1;
    if (td__query_int(r, "user", 0, 0, INT64_MAX, &user))
        return 1;
    if (!may_manage(r, &L)) {
        if (user && user != r->who.id)
            return td__fail(r, 404, "not_found", "no user %lld", (long long)user);
        user = r->who.id;
    }
    int rc = load_entries(td__req_db(r), &L, user, &es, &n, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    json_t *arr = json_array();
    for (int i = n - 1; i >= 0; i--) {
        score_entry(&L, &es[i], visible_mask(r, &L));
        json_array_append_new(arr, submission_json(r, &L, &es[i], &err));
    }
    td_free(es);
    return td__reply_json(r, 200, json_pack("{s:o}", "submissions", arr));
}

static int get_submission(td__req *r)
{
    league L;
    int64_t sid;
    if (!league_param(r, 0, &L) || td__param_id(r, 1, "submission", &sid))
        return 1;
    return reply_submission(r, 200, &L, sid);
}

/* The evaluation files of a submission on track {n}: the report, the simtrace and the
 * picture of the driven laps (the replay). */
static int eval_files(td__req *r, const league *L, int64_t *sid, int *pos, td__fileset *fs)
{
    entry e;
    int64_t p, fsid = 0;
    td_err err = {0};
    if (td__param_id(r, 1, "submission", sid) || td__param_id(r, 2, "track", &p))
        return 0;
    if (!load_submission(r, L, *sid, &e))
        return 0;
    if (p > L->ntracks || (L->tracks[p - 1].hidden && hides(r, L)))
        return td__fail(r, 404, "not_found", "no results of submission %lld on track %lld",
                        (long long)*sid, (long long)p),
               0;
    td__db_int_query(td__req_db(r), &fsid, 0, NULL,
                     "SELECT j.result_fileset_id FROM submission_evals e JOIN jobs j ON j.id = "
                     "e.job_id WHERE e.submission_id = ? AND e.position = ?",
                     "ii", *sid, p);
    if (!fsid)
        return td__fail(r, 404, "not_found",
                        "submission %lld has no results on track %lld yet (see its state)",
                        (long long)*sid, (long long)p),
               0;
    int rc = td__fileset_load(td__req_db(r), fsid, fs, &err);
    if (rc)
        return td__fail_err(r, rc, &err), 0;
    *pos = (int)p;
    return 1;
}

static int get_eval_result(td__req *r)
{
    league L;
    int64_t sid;
    int pos;
    td__fileset fs;
    char name[96];
    if (!league_param(r, 0, &L) || !eval_files(r, &L, &sid, &pos, &fs))
        return 1;
    snprintf(name, sizeof(name), "submission-%lld-track-%d.tar.gz", (long long)sid, pos);
    int rc = td__reply_fileset_tgz(r, &fs, name, 0);
    td__fileset_free(&fs);
    return rc;
}

static int get_eval_picture(td__req *r)
{
    league L;
    int64_t sid;
    int pos;
    td__fileset fs;
    if (!league_param(r, 0, &L) || !eval_files(r, &L, &sid, &pos, &fs))
        return 1;
    for (int i = 0; i < fs.count; i++) {
        const char *p = fs.files[i].path;
        size_t n = strlen(p);
        if (n > 4 && !strcmp(p + n - 4, ".svg") && !strncmp(p, "eval-", 5)) {
            td__file_entry fe = fs.files[i];
            td__fileset_free(&fs);
            return td__reply_blob(r, &fe, "image/svg+xml");
        }
    }
    td__fileset_free(&fs);
    return td__fail(r, 404, "not_found", "the evaluation made no picture");
}

static int get_eval_replay(td__req *r)
{
    league L;
    int64_t sid;
    int pos;
    td__fileset fs;
    if (!league_param(r, 0, &L) || !eval_files(r, &L, &sid, &pos, &fs))
        return 1;
    const td__file_entry *e = td__fileset_find(&fs, "replay.mp4");
    if (!e) {
        td__fileset_free(&fs);
        return td__fail(r, 404, "not_found",
                        "no replay video: the worker that evaluated it had no ffmpeg (the "
                        "picture of the driven laps is at /picture)");
    }
    td__file_entry fe = *e;
    td__fileset_free(&fs);
    return td__reply_blob(r, &fe, "video/mp4");
}

/* The frozen files of a submission: for the worker that evaluates it, its submitter and who
 * runs the league. */
static int get_submission_download(td__req *r)
{
    int64_t sid, fsid = 0, uid = 0, lid = 0;
    td_db_rows *row;
    td_err err = {0};
    td__fileset fs;
    char name[64];
    if (td__param_id(r, 0, "submission", &sid))
        return 1;
    if (td__db_query_row(td__req_db(r), &row, &err,
                         "SELECT fileset_id, user_id, league_id FROM submissions WHERE id = ?", "i",
                         sid) > 0) {
        fsid = td__db_int(row, 0);
        uid = td__db_int(row, 1);
        lid = td__db_int(row, 2);
        td__db_rows_free(row);
    }
    int ok = 0;
    if (fsid && r->who.who == TD__WHO_WORKER) {
        int64_t n = 0;
        td__db_int_query(td__req_db(r), &n, 0, NULL,
                         "SELECT (SELECT COUNT(*) FROM submission_evals e JOIN jobs j ON j.id = "
                         "e.job_id WHERE e.submission_id = ? AND j.worker_id = ? AND j.state = "
                         "'running') + (SELECT COUNT(*) FROM bracket_matches m JOIN jobs j ON "
                         "j.id = m.job_id WHERE (m.submission_a = ? OR m.submission_b = ?) AND "
                         "j.worker_id = ? AND j.state = 'running')",
                         "iiiii", sid, r->who.id, sid, sid, r->who.id);
        ok = n > 0;
    } else if (fsid && r->who.who == TD__WHO_USER) {
        league L;
        ok = uid == r->who.id ||
             (league_load_db(td__req_db(r), lid, &L, &err) == 0 && may_manage(r, &L));
    }
    if (!ok)
        return td__fail(r, 404, "not_found", "no submission %lld", (long long)sid);
    int rc = td__fileset_load(td__req_db(r), fsid, &fs, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    snprintf(name, sizeof(name), "submission-%lld.tar.gz", (long long)sid);
    rc = td__reply_fileset_tgz(r, &fs, name, 0);
    td__fileset_free(&fs);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* The official evaluation job                                                          */
/* ------------------------------------------------------------------------------------ */

int td__league_job_validate(td__req *r, json_t *o, json_t *params, int64_t *max_seconds)
{
    (void)o;
    (void)params;
    (void)max_seconds;
    return td__fail(r, 400, "bad_request",
                    "league evaluations are made by submissions (POST "
                    "/api/v1/leagues/{id}/submissions)");
}

int td__league_job_complete(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                            int64_t *result_version, td_err *err)
{
    int rc = td__eval_complete(r, c, j, fs, summary, result_version, err);
    if (rc)
        return rc;
    json_t *laps = json_object_get(summary, "laps"), *lap, *times = json_array();
    size_t i;
    int64_t n = 0, best = 0, total = 0;
    json_array_foreach(laps, i, lap)
    {
        double t = json_number_value(json_object_get(lap, "time_s"));
        int64_t ms = (int64_t)(t * 1000 + 0.5);
        if (ms <= 0)
            continue;
        json_array_append_new(times, json_real((double)ms / 1000.0));
        if (!best || ms < best)
            best = ms;
        total += ms;
        n++;
    }
    char *text = json_dumps(times, JSON_COMPACT);
    json_decref(times);
    rc = td__db_exec(
        c, err,
        "UPDATE submission_evals SET laps_completed = ?, lap_times = ?, best_ms = ?, avg_ms = ?, "
        "total_ms = ?, off_tracks = ?, crashes = ?, resets = ?, penalty_ms = ? WHERE job_id = ?",
        "itiiiiiiii", n, text ? text : "[]", best, n ? (total + n / 2) / n : 0, total,
        (int64_t)json_integer_value(json_object_get(summary, "off_tracks")),
        (int64_t)json_integer_value(json_object_get(summary, "crashes")),
        (int64_t)json_integer_value(json_object_get(summary, "resets")),
        (int64_t)(json_number_value(json_object_get(summary, "penalty_s")) * 1000 + 0.5), j->id);
    free(text);
    return rc ? rc : td__league_bump_job(c, j->id, err);
}

/* ------------------------------------------------------------------------------------ */
/* Tracks: geometry and picture                                                         */
/* ------------------------------------------------------------------------------------ */

/* Loads track {param 0} if the caller may see it: 1, or 0 having replied 404. */
static int track_param(td__req *r, td_track *t)
{
    const char *name = r->nparams > 0 ? r->params[0] : "";
    const char *dirs[2];
    int nd = 0;
    char path[1400];
    td_err err = {0};
    if (!td__valid_name(name, 100) || !td__track_known(r->hub, name) || td__track_hidden(r, name))
        return td__fail(r, 404, "not_found", "no track named '%.100s'", name), 0;
    if (r->hub->opt.tracks_dir)
        dirs[nd++] = r->hub->opt.tracks_dir;
    if (r->hub->opt.shared_tracks)
        dirs[nd++] = r->hub->opt.shared_tracks;
    if (td_track_find(name, dirs, nd, NULL, 0, path, sizeof(path), &err) ||
        td_track_load(t, path, &err))
        return td__fail(r, 404, "not_found", "no track named '%.100s'", name), 0;
    return 1;
}

static json_t *xy_array(const double *a, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("[f,f]", a[2 * i], a[2 * i + 1]));
    return arr;
}

static int get_track(td__req *r)
{
    td_track t;
    if (!track_param(r, &t))
        return 1;
    double w = 0;
    for (int i = 0; i < t.n; i++)
        w += t.width[i];
    json_t *o = json_pack("{s:s,s:s,s:b,s:f,s:f,s:i,s:o,s:o,s:o}", "name", t.name, "description",
                          t.description, "closed", t.closed, "length_m", t.length, "width_m",
                          t.n ? w / t.n : 0.0, "points", t.n, "waypoints", xy_array(t.center, t.n),
                          "inner", xy_array(t.inner, t.n), "outer", xy_array(t.outer, t.n));
    td_track_free(&t);
    return td__reply_json(r, 200, o);
}

static int get_track_picture(td__req *r)
{
    td_track t;
    td_svg s;
    td_plot_track_view v;
    td_err err = {0};
    if (!track_param(r, &t))
        return 1;
    memset(&v, 0, sizeof(v));
    v.title = t.name;
    v.track = &t;
    double aspect = (t.max_y - t.min_y + 1) / (t.max_x - t.min_x + 1);
    double w = 800, h = w * (aspect > 0.2 && aspect < 5 ? aspect : 1) + 60;
    td_svg_begin(&s, w, h);
    int rc = td_plot_track_draw(&s, &v, 0, 0, w, h, &err);
    td_svg_finish(&s);
    td_track_free(&t);
    if (rc || s.nomem) {
        td_svg_free(&s);
        return td__fail_err(r, rc ? rc : TD_ENOMEM, &err);
    }
    char *data = s.buf;
    size_t len = s.len;
    s.buf = NULL;
    td_svg_free(&s);
    return td__reply_data(r, 200, "image/svg+xml", data, len);
}

/* A number of the query (finite, |v| <= limit); replies 400 naming it otherwise. */
static int query_num(td__req *r, const char *name, double limit, double *out)
{
    const char *v = td__req_query(r, name);
    char *end = NULL;
    double d = v ? strtod(v, &end) : NAN;
    if (!v || !*v || *end || !isfinite(d) || fabs(d) > limit)
        return td__fail(r, 400, "bad_request", "query '%s' must be a number (|%s| <= %g)", name,
                        name, limit);
    *out = d;
    return 0;
}

/* What the car's front camera sees at a pose on the track (x, y in metres, yaw in degrees, as
 * a simtrace's X, Y and yaw), with the default look and no obstacles: the browser's replay
 * shows it at each step (evaluations store no frames). PNG, 160 x 120, RGB or grey (the
 * network's input). */
static int get_track_camera(td__req *r)
{
    td_track t;
    td_ground_map *map = NULL;
    td_err err = {0};
    double x, y, yaw;
    const char *mode = td__req_query(r, "color");
    /* The track first: one the caller may not see is 404 whatever the query. */
    if (!track_param(r, &t))
        return 1;
    if (query_num(r, "x", 1000, &x) || query_num(r, "y", 1000, &y) ||
        query_num(r, "yaw", 100000, &yaw) ||
        (mode && strcmp(mode, "rgb") && strcmp(mode, "grey") &&
         td__fail(r, 400, "bad_request", "query 'color' must be rgb or grey"))) {
        td_track_free(&t);
        return 1;
    }
    int rgb = !mode || !strcmp(mode, "rgb");
    int rc = td_ground_map_open(&map, &t, 0.0, &err);
    td_look look;
    td_look_default(&look);
    static _Thread_local td_box decor[TD_DECOR_MAX];
    static _Thread_local uint8_t level[TD_DECOR_MAX];
    int ndecor = rc ? 0 : td_decor_build(&t, 0, decor, level, TD_DECOR_MAX);
    td_scene scene = {&t, map, NULL, 0, &look, decor, level, ndecor};
    td_camera_config cfg;
    td_camera_config_default(&cfg);
    uint8_t *img = rc ? NULL : td_malloc((size_t)cfg.width * (size_t)cfg.height * 3);
    char path[1200];
    int fd = -1;
    if (!rc && !img)
        rc = td_err_set(&err, TD_ENOMEM, "out of memory");
    if (!rc) {
        if (rgb)
            td_camera_render_rgb(&cfg, &scene, x, y, yaw * (M_PI / 180.0), img);
        else
            td_camera_render_grey(&cfg, &scene, x, y, yaw * (M_PI / 180.0), img);
        snprintf(path, sizeof(path), "%s/tmp/camera-%s-XXXXXX", r->hub->data_dir, td__tmp_tag());
        fd = mkstemp(path);
        if (fd < 0)
            rc = td_err_set(&err, TD_EIO, "%s: %s", path, strerror(errno));
        else
            close(fd);
    }
    if (!rc)
        rc = td_png_write(path, img, cfg.width, cfg.height, rgb ? 3 : 1, &err);
    if (fd >= 0) {
        fd = rc ? -1 : open(path, O_RDONLY | O_CLOEXEC);
        unlink(path);
    }
    td_free(img);
    td_ground_map_close(map);
    td_track_free(&t);
    if (!rc && fd < 0)
        rc = td_err_set(&err, TD_EIO, "the picture is gone");
    if (rc)
        return td__fail_err(r, rc, &err);
    struct stat st;
    fstat(fd, &st);
    td__req_add_header(r, "Cache-Control", "private, max-age=3600");
    return td__reply_fd(r, 200, "image/png", fd, (uint64_t)st.st_size);
}

/* ------------------------------------------------------------------------------------ */
/* For brackets.c                                                                       */
/* ------------------------------------------------------------------------------------ */

int td__league_brief_param(td__req *r, int i, td__league_brief *b)
{
    league L;
    if (!league_param(r, i, &L))
        return 0;
    memset(b, 0, sizeof(*b));
    b->id = L.id;
    b->laps = L.laps;
    b->continuous = L.continuous;
    b->off_ms = L.off_ms;
    b->coll_ms = L.coll_ms;
    b->max_resets = L.max_resets;
    b->closes_at = L.closes_at;
    b->manage = may_manage(r, &L);
    b->hides = hides(r, &L);
    b->ntracks = L.ntracks;
    snprintf(b->name, sizeof(b->name), "%s", L.name);
    for (int k = 0; k < L.ntracks && k < 8; k++) {
        snprintf(b->tracks[k], sizeof(b->tracks[k]), "%s", L.tracks[k].name);
        b->hidden[k] = L.tracks[k].hidden;
    }
    return 1;
}

int td__league_seeds(td__req *r, int64_t league_id, const char *division, int n, td__seed *out,
                     int *got, td_err *err)
{
    league L;
    entry *es = NULL;
    int ne = 0, rc;
    *got = 0;
    rc = league_load_db(td__req_db(r), league_id, &L, err);
    if (!rc)
        rc = load_entries(td__req_db(r), &L, 0, &es, &ne, err);
    if (rc)
        return rc;
    entry **best = td_calloc((size_t)ne + 1, sizeof(*best));
    int nb = 0;
    unsigned all = (1u << L.ntracks) - 1;
    for (int i = 0; best && i < ne; i++) {
        score_entry(&L, &es[i], all);
        if (!es[i].counted || (division && strcmp(es[i].division, division)))
            continue;
        int k;
        for (k = 0; k < nb; k++)
            if (best[k]->user_id == es[i].user_id)
                break;
        if (k == nb)
            best[nb++] = &es[i];
        else if (entry_cmp(&L, &es[i], best[k]) < 0)
            best[k] = &es[i];
    }
    if (best)
        sort_entries(&L, best, nb);
    for (int i = 0; i < nb && i < n; i++) {
        out[i].user_id = best[i]->user_id;
        out[i].submission = best[i]->id;
        snprintf(out[i].username, sizeof(out[i].username), "%s", best[i]->username);
        (*got)++;
    }
    int ok = best != NULL;
    td_free(best);
    td_free(es);
    return ok ? 0 : td_err_set(err, TD_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------------------------------ */
/* Routes                                                                               */
/* ------------------------------------------------------------------------------------ */

#define JJ(s) "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/" s "\"}}}"

const char td__leagues_schemas[] =
    "{\"League\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, "
    "\"name\": {\"type\": \"string\"}, \"class\": {\"type\": [\"integer\", \"null\"]}, "
    "\"state\": {\"enum\": [\"upcoming\", \"open\", \"closed\"]}, \"tracks\": {\"type\": "
    "\"array\", \"items\": {\"type\": \"object\", \"properties\": {\"position\": {\"type\": "
    "\"integer\"}, \"name\": {\"type\": [\"string\", \"null\"], \"description\": \"null: a "
    "hidden track, to a learner before the league closes\"}, \"hidden\": {\"type\": "
    "\"boolean\"}}}}, \"ranking\": {\"enum\": [\"BEST_LAP_TIME\", \"AVG_LAP_TIME\", "
    "\"TOTAL_TIME\"]}}},"
    " \"LeagueCreate\": {\"type\": \"object\", \"required\": [\"name\", \"tracks\"], "
    "\"additionalProperties\": false, \"properties\": {\"name\": {\"type\": \"string\"}, "
    "\"description\": {\"type\": \"string\"}, \"class\": {\"type\": \"integer\", "
    "\"description\": \"the class whose members race (default: open to every account)\"}, "
    "\"tracks\": {\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": "
    "{\"name\": {\"type\": \"string\"}, \"hidden\": {\"type\": \"boolean\"}}}}, "
    "\"race_type\": {\"enum\": [\"time-trial\", \"object-avoidance\", \"head-to-bot\"]}, "
    "\"ranking\": {\"enum\": [\"BEST_LAP_TIME\", \"AVG_LAP_TIME\", \"TOTAL_TIME\"]}, \"laps\": "
    "{\"type\": \"integer\"}, \"min_laps\": {\"type\": \"integer\"}, \"continuous\": {\"type\": "
    "\"boolean\"}, \"off_track_penalty\": {\"type\": \"number\"}, \"collision_penalty\": "
    "{\"type\": \"number\"}, \"max_resets\": {\"type\": \"integer\"}, \"obstacles\": {\"type\": "
    "\"integer\"}, \"bots\": {\"type\": \"integer\"}, \"bot_speed\": {\"type\": \"number\"}, "
    "\"daily_limit\": {\"type\": \"integer\"}, \"total_limit\": {\"type\": \"integer\"}, "
    "\"opens_at\": {\"type\": \"string\"}, \"closes_at\": {\"type\": \"string\"}, \"divisions\": "
    "{\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"name\": "
    "{\"type\": \"string\"}, \"class\": {\"type\": \"integer\"}}}}, \"seed\": {\"type\": "
    "\"integer\"}}},"
    " \"LeagueChange\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"name\": {\"type\": \"string\"}, \"description\": {\"type\": \"string\"}, \"ranking\": "
    "{\"enum\": [\"BEST_LAP_TIME\", \"AVG_LAP_TIME\", \"TOTAL_TIME\"]}, \"min_laps\": {\"type\": "
    "\"integer\"}, \"daily_limit\": {\"type\": \"integer\"}, \"total_limit\": {\"type\": "
    "\"integer\"}, \"opens_at\": {\"type\": \"string\"}, \"closes_at\": {\"type\": \"string\"}, "
    "\"divisions\": {\"type\": \"array\"}, \"laps\": {\"type\": \"integer\"}}},"
    " \"PhysicalLap\": {\"type\": \"object\", \"required\": [\"lap_time\"], "
    "\"additionalProperties\": false, \"properties\": {\"racer\": {\"type\": \"string\", "
    "\"description\": \"a racer without an account (or give user)\"}, \"user\": {\"type\": "
    "\"integer\"}, \"attempt\": {\"type\": \"integer\", \"description\": \"the racer's "
    "run (default 1)\"}, \"lap_time\": {\"type\": \"number\", \"description\": \"seconds, "
    "as timed\"}, \"off_tracks\": {\"type\": \"integer\"}}},"
    " \"SubmissionCreate\": {\"type\": \"object\", \"required\": [\"model\"], "
    "\"additionalProperties\": false, \"properties\": {\"model\": {\"type\": \"integer\"}, "
    "\"version\": {\"type\": \"integer\", \"description\": \"default: the latest\"}, "
    "\"division\": {\"type\": \"string\"}}},"
    " \"Submission\": {\"type\": \"object\", \"properties\": {\"submission\": {\"type\": "
    "\"integer\"}, \"content_sha256\": {\"type\": \"string\"}, \"state\": {\"enum\": "
    "[\"evaluating\", \"counted\", \"not_counted\"]}, \"score_s\": {\"type\": [\"number\", "
    "\"null\"]}, \"evaluations\": {\"type\": \"array\"}}}}";

#define LP "/api/v1/leagues/{id}"

const td__route td__routes_leagues[] = {
    {"GET", "/api/v1/leagues", list_leagues, TD__ALLOW_USERS, TD__BODY_NONE,
     "Leagues you may enter or run: your classes' and the open ones; ?name=", NULL},
    {"POST", "/api/v1/leagues", post_league, TD__ALLOW_STAFF, TD__BODY_JSON,
     "Create a league (a class's, or open): tracks (public or hidden), race type, ranking, "
     "laps, penalties, limits, open and close times, divisions",
     "{\"requestBody\": {\"required\": true, \"content\": " JJ(
         "LeagueCreate") "}, \"responses\": {\"201\": {\"description\": \"created\", "
                         "\"content\": " JJ("League") "}}}"},
    {"GET", LP, get_league, TD__ALLOW_USERS, TD__BODY_NONE,
     "A league: settings, state, tracks (a hidden one without its name to a learner until "
     "the league closes), your submissions today and in all",
     "{\"responses\": {\"200\": {\"description\": \"the league\", \"content\": " JJ(
         "League") "}}}"},
    {"PATCH", LP, patch_league, TD__ALLOW_STAFF, TD__BODY_JSON,
     "Change a league (who runs it); what evaluations run with is fixed once there are "
     "submissions",
     "{\"requestBody\": {\"required\": true, \"content\": " JJ(
         "LeagueChange") "}, \"responses\": {\"409\": {\"$ref\": "
                         "\"#/components/responses/Error\"}}}"},
    {"DELETE", LP, delete_league, TD__ALLOW_STAFF, TD__BODY_NONE, "Delete a league (soft)",
     "{\"responses\": {\"204\": {\"description\": \"deleted\"}}}"},
    {"GET", LP "/leaderboard", get_leaderboard, TD__ALLOW_USERS, TD__BODY_NONE,
     "Standings per division: each learner's best counted entry by the league's ranking, ties "
     "to the earlier submission; ?division=, ?top=N, ?format=csv",
     "{\"responses\": {\"200\": {\"description\": \"the standings\", \"content\": "
     "{\"application/json\": {}, \"text/csv\": {}}}}}"},
    {"GET", LP "/leaderboard/events", get_leaderboard_events, TD__ALLOW_USERS, TD__BODY_NONE,
     "The standings as server-sent events for a race day's big screen: a 'leaderboard' event "
     "now and at every change (an evaluation, a physical lap, a race); ?division=",
     "{\"responses\": {\"200\": {\"description\": \"an event stream\", \"content\": "
     "{\"text/event-stream\": {}}}}}"},
    {"POST", LP "/laps", post_lap, TD__ALLOW_STAFF, TD__BODY_JSON,
     "A race marshal enters a physical car's lap: racer (or user), lap time, off-tracks, "
     "attempt; it joins the league's physical standings",
     "{\"requestBody\": {\"required\": true, \"content\": " JJ(
         "PhysicalLap") "}, \"responses\": {\"201\": {\"description\": \"entered\"}}}"},
    {"GET", LP "/laps", list_laps, TD__ALLOW_USERS, TD__BODY_NONE,
     "The physical laps entered, oldest first", NULL},
    {"DELETE", LP "/laps/{lap}", delete_lap, TD__ALLOW_STAFF, TD__BODY_NONE,
     "Withdraw a physical lap entered by mistake",
     "{\"responses\": {\"204\": {\"description\": \"withdrawn\"}}}"},
    {"POST", LP "/submissions", post_submission, TD__ALLOW_USERS, TD__BODY_JSON,
     "Submit a version of one of your models: frozen by its content hash and evaluated "
     "officially; over a limit: 429 with the limit and when it resets",
     "{\"requestBody\": {\"required\": true, \"content\": " JJ(
         "SubmissionCreate") "}, \"responses\": {\"201\": {\"description\": \"submitted\", "
                             "\"content\": " JJ(
                                 "Submission") "}, \"409\": {\"$ref\": "
                                               "\"#/components/responses/Error\"}, \"429\": "
                                               "{\"$ref\": \"#/components/responses/Error\"}}}"},
    {"GET", LP "/submissions", list_submissions, TD__ALLOW_USERS, TD__BODY_NONE,
     "Submissions, newest first, with their scores: yours (every one of a league you run; "
     "?user=): the history of a learner's entries",
     NULL},
    {"GET", LP "/submissions/{sid}", get_submission, TD__ALLOW_USERS, TD__BODY_NONE,
     "A submission: its frozen version, evaluations per track (lap times, penalties), score",
     "{\"responses\": {\"200\": {\"description\": \"the submission\", \"content\": " JJ(
         "Submission") "}}}"},
    {"GET", LP "/submissions/{sid}/tracks/{n}/result", get_eval_result, TD__ALLOW_USERS,
     TD__BODY_NONE,
     "The official evaluation's files on track n (report, simtrace, picture) as .tar.gz",
     "{\"responses\": {\"200\": {\"description\": \"the archive\", \"content\": "
     "{\"application/gzip\": {}}}}}"},
    {"GET", LP "/submissions/{sid}/tracks/{n}/picture", get_eval_picture, TD__ALLOW_USERS,
     TD__BODY_NONE, "The official evaluation's laps on track n as a picture (SVG)",
     "{\"responses\": {\"200\": {\"description\": \"the picture\", \"content\": "
     "{\"image/svg+xml\": {}}}}}"},
    {"GET", LP "/submissions/{sid}/tracks/{n}/replay", get_eval_replay, TD__ALLOW_USERS,
     TD__BODY_NONE,
     "The official evaluation's replay on track n as video (MP4; made when the worker has "
     "ffmpeg)",
     "{\"responses\": {\"200\": {\"description\": \"the video\", \"content\": "
     "{\"video/mp4\": {}}}}}"},
    {"GET", "/api/v1/submissions/{id}/download", get_submission_download,
     TD__ALLOW_USERS | TD__ALLOW_WORKER, TD__BODY_NONE,
     "The frozen model version of a submission as .tar.gz (its submitter, who runs the "
     "league, the worker evaluating it)",
     "{\"responses\": {\"200\": {\"description\": \"the archive\", \"content\": "
     "{\"application/gzip\": {}}}}}"},
    {"GET", "/api/v1/tracks/{name}", get_track, TD__ALLOW_USERS, TD__BODY_NONE,
     "A track's geometry: centre line (waypoints), borders, length and width", NULL},
    {"GET", "/api/v1/tracks/{name}/picture", get_track_picture, TD__ALLOW_USERS, TD__BODY_NONE,
     "A track as a picture (SVG)",
     "{\"responses\": {\"200\": {\"description\": \"the picture\", \"content\": "
     "{\"image/svg+xml\": {}}}}}"},
    {"GET", "/api/v1/tracks/{name}/camera", get_track_camera, TD__ALLOW_USERS, TD__BODY_NONE,
     "What the car's front camera sees at a pose (?x=&y=&yaw= in metres and degrees, as a "
     "simtrace's X, Y and yaw; ?color=rgb|grey): a 160 x 120 PNG rendered on demand",
     NULL},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
