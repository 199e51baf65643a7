/*
 * seed.c - `trackday admin seed-content`: the content a new hub ships with, made through the
 * same route handlers the API uses (so it is checked as a request would be): three leagues
 * (a beginner time trial on a shipped track, an object-avoidance league, a hidden-track
 * qualifier) and three assignments that teach one idea each (follow the centre line; go faster
 * without crashing; generalise to an unseen track) for a class. Running it again adds only
 * what is missing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"

typedef struct seeder {
    td_hub *h;
    td__principal who;
    void (*say)(void *user, const char *line);
    void *user;
} seeder;

static void say(seeder *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(seeder *s, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (s->say)
        s->say(s->user, line);
}

/* Calls the handler of METHOD pattern with body (JSON text) as the owner would over HTTP;
 * returns the reply's status, the reply in *reply (new reference) and the error in err. */
static int call(seeder *s, const char *method, const char *pattern, char *param, const char *body,
                json_t **reply, td_err *err)
{
    const td__route *rt = NULL;
    for (int t = 0; td__route_tables[t] && !rt; t++)
        for (const td__route *x = td__route_tables[t]; x->method && !rt; x++)
            if (!strcmp(x->method, method) && !strcmp(x->pattern, pattern))
                rt = x;
    *reply = NULL;
    if (!rt)
        return td_err_set(err, TD_EINTERNAL, "no route %s %s", method, pattern), 500;
    td__req r;
    memset(&r, 0, sizeof(r));
    r.hub = s->h;
    r.route = rt;
    r.method = method;
    snprintf(r.path, sizeof(r.path), "%s", pattern);
    r.who = s->who;
    r.upload_fd = -1;
    r.reply_fd = -1;
    if (param) {
        r.params[0] = param;
        r.nparams = 1;
    }
    json_error_t je;
    r.json = json_loads(body, 0, &je);
    if (!r.json)
        return td_err_set(err, TD_EINTERNAL, "seed body: %s", je.text), 500;
    rt->fn(&r);
    if (r.db)
        td__db_release(s->h->db, r.db);
    json_decref(r.json);
    td_free(r.reply_data);
    *reply = r.reply_json;
    if (r.status >= 300) {
        json_t *e = json_object_get(r.reply_json, "error");
        const char *m = json_string_value(json_object_get(e, "message"));
        td_err_set(err, TD_EINVAL, "%s", m ? m : "refused");
    }
    return r.status;
}

/* The id of the thing named so (SQL with two parameters: the name and the scope), or 0. */
static int64_t existing(seeder *s, const char *sql, const char *name, int64_t scope)
{
    int64_t id = 0;
    td_db_conn *c = td__db_acquire(s->h->db);
    td__db_int_query(c, &id, 0, NULL, sql, "ti", name, scope);
    td__db_release(s->h->db, c);
    return id;
}

static int make(seeder *s, const char *what, const char *name, const char *method,
                const char *pattern, char *param, const char *body, int64_t *id, td_err *err)
{
    json_t *reply;
    int st = call(s, method, pattern, param, body, &reply, err);
    if (st != 201) {
        char why[TD_ERR_MSG_LEN];
        snprintf(why, sizeof(why), "%s", err->msg);
        json_decref(reply);
        return td_err_set(err, TD_EINVAL, "%s '%s': %s", what, name, why);
    }
    *id = json_integer_value(json_object_get(reply, "id"));
    json_decref(reply);
    say(s, "%s %lld '%s': created", what, (long long)*id, name);
    return 0;
}

int td_hub_seed_content(td_hub *h, const char *owner, long long class_id,
                        void (*say_fn)(void *user, const char *line), void *user, td_err *err)
{
    seeder s;
    td_db_conn *c;
    td_db_rows *row;
    char body[3000], when[3][40], cls[32];
    int64_t id = 0;
    memset(&s, 0, sizeof(s));
    s.h = h;
    s.say = say_fn;
    s.user = user;
    /* The owner: an instructor or an admin. */
    c = td__db_acquire(h->db);
    int rc = td__db_query_row(
        c, &row, err, "SELECT id, role FROM users WHERE username = ? AND disabled = 0", "t", owner);
    if (rc > 0) {
        s.who.who = TD__WHO_USER;
        s.who.id = td__db_int(row, 0);
        s.who.role = td__role_parse(td__db_text(row, 1));
        snprintf(s.who.name, sizeof(s.who.name), "%s", owner);
        td__db_rows_free(row);
    }
    td__db_release(h->db, c);
    if (rc <= 0)
        return rc < 0 ? rc : td_err_set(err, TD_ENOENT, "no account named '%s'", owner);
    if (s.who.role != TD__ROLE_INSTRUCTOR && s.who.role != TD__ROLE_ADMIN)
        return td_err_set(err, TD_EINVAL,
                          "%s is a learner: the content's owner is an instructor or an admin",
                          owner);
    int64_t now = td__hub_now(h);
    td__format_time(now + 14 * 86400, when[0], sizeof(when[0]));
    td__format_time(now + 21 * 86400, when[1], sizeof(when[1]));
    td__format_time(now + 60 * 86400, when[2], sizeof(when[2]));

    /* ---- Leagues (open to every account) ---- */
    static const struct {
        const char *name, *fmt;
    } leagues[] = {
        {"Beginner time trial",
         "{\"name\": \"Beginner time trial\", \"description\": \"Your first race. The shipped "
         "oval, three laps, your fastest lap counts. Train on it (trackday train DIR --track "
         "oval, or --hub), then trackday submit MODEL --league 'Beginner time trial'. Five "
         "entries a day.\", \"tracks\": [\"oval\"], \"race_type\": \"time-trial\", \"ranking\": "
         "\"BEST_LAP_TIME\", \"laps\": 3, \"min_laps\": 1, \"daily_limit\": 5, \"closes_at\": "
         "\"%s\"}"},
        {"Object avoidance cup",
         "{\"name\": \"Object avoidance cup\", \"description\": \"Three boxes on the kidney "
         "track, placed by the league's seed. All three laps must be completed and the average "
         "counts; a crash costs 5 s. Your model needs a sensor that sees the boxes (a camera or "
         "lidar) and a reward that keeps it off them.\", \"tracks\": [\"kidney\"], "
         "\"race_type\": \"object-avoidance\", \"obstacles\": 3, \"ranking\": \"AVG_LAP_TIME\", "
         "\"laps\": 3, \"min_laps\": 3, \"collision_penalty\": 5, \"daily_limit\": 3, "
         "\"closes_at\": \"%s\"}"},
        {"Hidden-track qualifier",
         "{\"name\": \"Hidden-track qualifier\", \"description\": \"Two tracks: the oval you "
         "know and one you will only see when the qualifier closes. Two laps on each, total "
         "time counts; the top of each division qualifies for the race day.\", \"tracks\": "
         "[{\"name\": \"oval\"}, {\"name\": \"technical\", \"hidden\": true}], \"race_type\": "
         "\"time-trial\", \"ranking\": \"TOTAL_TIME\", \"laps\": 2, \"min_laps\": 2, "
         "\"daily_limit\": 2, \"total_limit\": 10, \"divisions\": [\"Student\", \"Open\"], "
         "\"closes_at\": \"%s\"}"},
    };
    for (int i = 0; i < 3; i++) {
        id = existing(&s,
                      "SELECT id FROM leagues WHERE name = ? AND owner_id = ? AND deleted_at IS "
                      "NULL",
                      leagues[i].name, s.who.id);
        if (id) {
            say(&s, "league %lld '%s': already there", (long long)id, leagues[i].name);
            continue;
        }
        snprintf(body, sizeof(body), leagues[i].fmt, when[i == 2 ? 0 : 2]);
        rc = make(&s, "league", leagues[i].name, "POST", "/api/v1/leagues", NULL, body, &id, err);
        if (rc)
            return rc;
    }

    /* ---- A class for the assignments ---- */
    if (!class_id) {
        class_id = existing(&s,
                            "SELECT id FROM classes WHERE name = ? AND owner_id = ? AND "
                            "deleted_at IS NULL",
                            "Starter class", s.who.id);
        if (class_id) {
            say(&s, "class %lld 'Starter class': already there", (long long)class_id);
        } else {
            rc = make(&s, "class", "Starter class", "POST", "/api/v1/classes", NULL,
                      "{\"name\": \"Starter class\", \"description\": \"The assignments "
                      "trackday ships with\"}",
                      &id, err);
            if (rc)
                return rc;
            class_id = id;
        }
    }
    snprintf(cls, sizeof(cls), "%lld", class_id);
    static const struct {
        const char *name, *fmt;
    } assignments[] = {
        {"Follow the centre line",
         "{\"name\": \"Follow the centre line\", \"description\": \"One idea: reward the car for "
         "staying near the centre line (distance_from_center against track_width, as "
         "DeepRacer's first example does) and it learns to drive the lap. Pass: three laps of "
         "the oval with no off-track, and a reward function that passes trackday reward "
         "check.\", \"track\": \"oval\", \"laps\": 3, \"max_resets\": 0, \"deadline\": \"%s\", "
         "\"criteria\": [{\"kind\": \"complete_laps\", \"value\": 3, \"points\": 2}, {\"kind\": "
         "\"max_off_tracks\", \"value\": 0, \"points\": 1}, {\"kind\": \"reward_check\", "
         "\"points\": 1}]}"},
        {"Go faster without crashing",
         "{\"name\": \"Go faster without crashing\", \"description\": \"One idea: speed is "
         "worth nothing off the track. Reward progress per step and speed, but only while all "
         "wheels are on the track; a wider action space helps. Pass: three laps of the kidney "
         "with an average lap under 20 s and no off-track (extra points under 14 s).\", "
         "\"track\": \"kidney\", \"laps\": 3, \"deadline\": \"%s\", \"criteria\": [{\"kind\": "
         "\"complete_laps\", \"value\": 3, \"points\": 1}, {\"kind\": \"avg_lap_under\", "
         "\"value\": 20, \"points\": 1}, {\"kind\": \"max_off_tracks\", \"value\": 0, "
         "\"points\": 1}, {\"kind\": \"avg_lap_under\", \"value\": 14, \"points\": 1}]}"},
        {"Generalise to an unseen track",
         "{\"name\": \"Generalise to an unseen track\", \"description\": \"One idea: a model "
         "that learnt one track by heart fails on the next. Train on several tracks (or with "
         "domain randomization) so the policy reads the road, not the lap. The grading track "
         "stays hidden until the deadline. Pass: three laps on it.\", \"track\": "
         "\"technical\", \"hidden\": true, \"laps\": 3, \"deadline\": \"%s\", \"criteria\": "
         "[{\"kind\": \"complete_laps\", \"value\": 3, \"points\": 3}, {\"kind\": "
         "\"max_off_tracks\", \"value\": 2, \"points\": 1}]}"},
    };
    for (int i = 0; i < 3; i++) {
        id = existing(&s,
                      "SELECT id FROM assignments WHERE name = ? AND class_id = ? AND deleted_at "
                      "IS NULL",
                      assignments[i].name, class_id);
        if (id) {
            say(&s, "assignment %lld '%s': already there", (long long)id, assignments[i].name);
            continue;
        }
        snprintf(body, sizeof(body), assignments[i].fmt, when[i]);
        rc = make(&s, "assignment", assignments[i].name, "POST", "/api/v1/classes/{id}/assignments",
                  cls, body, &id, err);
        if (rc)
            return rc;
    }
    return 0;
}
