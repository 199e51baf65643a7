/*
 * brackets.c - a race day's head-to-head knockout: the league's best entries seeded from its
 * leaderboard (1 against the last, 2 against the second last, so the first two meet only in
 * the final; a missing opponent is a bye), each match a "race" job a worker runs with
 * `trackday race`'s rules on the two frozen submissions, the winner moving on until the
 * final names the champion. The race's standings and its replay are kept with the match.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"

#define MAX_SIZE 32

/* The standard seeding order of a bracket of size n (a power of two). */
static void seed_order(int n, int *order)
{
    int cur[MAX_SIZE], len = 1;
    cur[0] = 1;
    while (len < n) {
        int next[MAX_SIZE];
        for (int i = 0; i < len; i++) {
            next[2 * i] = cur[i];
            next[2 * i + 1] = 2 * len + 1 - cur[i];
        }
        len *= 2;
        memcpy(cur, next, sizeof(int) * (size_t)len);
    }
    memcpy(order, cur, sizeof(int) * (size_t)n);
}

typedef struct bracket {
    int64_t id, league_id, size, laps, created_by, created_at, champion;
    char name[128], track[104], division[72];
} bracket;

static int bracket_load(td_db_conn *c, int64_t league, int64_t id, bracket *b, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(c, &row, err,
                              "SELECT id, league_id, size, laps, created_by, created_at, "
                              "champion_user_id, name, track, division FROM brackets WHERE id = ? "
                              "AND (? = 0 OR league_id = ?)",
                              "iii", id, league, league);
    if (rc <= 0)
        return rc ? rc : TD_ENOENT;
    memset(b, 0, sizeof(*b));
    b->id = td__db_int(row, 0);
    b->league_id = td__db_int(row, 1);
    b->size = td__db_int(row, 2);
    b->laps = td__db_int(row, 3);
    b->created_by = td__db_int(row, 4);
    b->created_at = td__db_int(row, 5);
    b->champion = td__db_is_null(row, 6) ? 0 : td__db_int(row, 6);
    snprintf(b->name, sizeof(b->name), "%s", td__db_text(row, 7));
    snprintf(b->track, sizeof(b->track), "%s", td__db_text(row, 8));
    snprintf(b->division, sizeof(b->division), "%s", td__db_text(row, 9));
    td__db_rows_free(row);
    return 0;
}

static int rounds_of(int64_t size)
{
    int r = 0;
    while ((1 << r) < size)
        r++;
    return r;
}

/* Queues the race of match (round, slot) when both its sides are known and it has none yet
 * (in the caller's transaction). */
static int queue_race(td_hub *h, td_db_conn *c, const bracket *b, int64_t round, int64_t slot,
                      const td__league_brief *lb, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(c, &row, err,
                              "SELECT m.submission_a, m.submission_b, ua.username, ub.username, "
                              "sa.model_id, sa.model_version FROM bracket_matches m JOIN users ua "
                              "ON ua.id = m.user_a JOIN users ub ON ub.id = m.user_b JOIN "
                              "submissions sa ON sa.id = m.submission_a WHERE m.bracket_id = ? AND "
                              "m.round = ? AND m.slot = ? AND m.job_id IS NULL AND m.winner IS "
                              "NULL",
                              "iii", b->id, round, slot);
    if (rc <= 0)
        return rc;
    int64_t sa = td__db_int(row, 0), sb = td__db_int(row, 1);
    char na[64], nb[64], ia[96], ib[96];
    snprintf(na, sizeof(na), "%s", td__db_text(row, 2));
    snprintf(nb, sizeof(nb), "%s", td__db_text(row, 3));
    int64_t model = td__db_int(row, 4), version = td__db_int(row, 5);
    td__db_rows_free(row);
    snprintf(ia, sizeof(ia), "/api/v1/submissions/%lld/download", (long long)sa);
    snprintf(ib, sizeof(ib), "/api/v1/submissions/%lld/download", (long long)sb);
    json_t *p = json_pack(
        "{s:[s,s],s:[s,s],s:s,s:I,s:I,s:f,s:f,s:I,s:I,s:I,s:I}", "inputs", ia, ib, "names", na, nb,
        "track", b->track, "laps", (json_int_t)b->laps, "max_resets", (json_int_t)lb->max_resets,
        "off_track_penalty", (double)lb->off_ms / 1000.0, "collision_penalty",
        (double)lb->coll_ms / 1000.0, "bracket", (json_int_t)b->id, "round", (json_int_t)round,
        "slot", (json_int_t)slot, "league", (json_int_t)b->league_id);
    if (lb->continuous)
        json_object_set_new(p, "continuous", json_true());
    int64_t jid = 0;
    rc = td__job_create(h, c, b->created_by, "race", model, version, p, 0, 10, &jid, err);
    json_decref(p);
    if (rc)
        return rc;
    return td__db_exec(c, err,
                       "UPDATE bracket_matches SET job_id = ? WHERE bracket_id = ? AND round = ? "
                       "AND slot = ?",
                       "iiii", jid, b->id, round, slot);
}

/* Match (round, slot) was won by side w (1 or 2): the winner moves on, or is the champion. */
static int advance(td_hub *h, td_db_conn *c, const bracket *b, int64_t round, int64_t slot, int w,
                   const td__league_brief *lb, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(c, &row, err,
                              "SELECT seed_a, submission_a, user_a, seed_b, submission_b, user_b "
                              "FROM bracket_matches WHERE bracket_id = ? AND round = ? AND slot = "
                              "?",
                              "iii", b->id, round, slot);
    if (rc <= 0)
        return rc ? rc : TD_ENOENT;
    int k = w == 1 ? 0 : 3;
    int64_t seed = td__db_int(row, k), sub = td__db_int(row, k + 1), user = td__db_int(row, k + 2);
    td__db_rows_free(row);
    rc = td__db_exec(c, err,
                     "UPDATE bracket_matches SET winner = ? WHERE bracket_id = ? AND round = ? AND "
                     "slot = ?",
                     "iiii", (int64_t)w, b->id, round, slot);
    if (rc)
        return rc;
    if (round == rounds_of(b->size))
        return td__db_exec(c, err, "UPDATE brackets SET champion_user_id = ? WHERE id = ?", "ii",
                           user, b->id);
    int64_t nslot = slot / 2;
    rc = td__db_exec(c, err,
                     slot % 2 == 0 ? "UPDATE bracket_matches SET seed_a = ?, submission_a = ?, "
                                     "user_a = ? WHERE bracket_id = ? AND round = ? AND slot = ?"
                                   : "UPDATE bracket_matches SET seed_b = ?, submission_b = ?, "
                                     "user_b = ? WHERE bracket_id = ? AND round = ? AND slot = ?",
                     "iiiiii", seed, sub, user, b->id, round + 1, nslot);
    if (!rc)
        rc = queue_race(h, c, b, round + 1, nslot, lb, err);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Routes                                                                               */
/* ------------------------------------------------------------------------------------ */

static json_t *bracket_json(td__req *r, const bracket *b, td_err *err)
{
    td_db_rows *rows;
    int nr = rounds_of(b->size);
    json_t *rounds = json_array();
    for (int i = 0; i < nr; i++)
        json_array_append_new(rounds, json_pack("{s:i,s:[]}", "round", i + 1, "matches"));
    int rc = td__db_query(
        td__req_db(r), &rows, err,
        "SELECT m.round, m.slot, m.seed_a, ua.username, m.submission_a, m.seed_b, ub.username, "
        "m.submission_b, m.winner, m.job_id, j.state, j.result, j.error, m.user_a, m.user_b "
        "FROM bracket_matches m LEFT JOIN users ua ON ua.id = m.user_a LEFT JOIN users ub ON "
        "ub.id = m.user_b LEFT JOIN jobs j ON j.id = m.job_id WHERE m.bracket_id = ? ORDER BY "
        "m.round, m.slot",
        "i", b->id);
    while (!rc && td__db_next(rows, err) > 0) {
        int round = (int)td__db_int(rows, 0);
        json_t *side[2];
        for (int k = 0; k < 2; k++) {
            int c0 = k ? 5 : 2;
            side[k] = td__db_is_null(rows, c0 + 1)
                          ? json_null()
                          : json_pack("{s:I,s:s,s:I,s:I}", "seed", (json_int_t)td__db_int(rows, c0),
                                      "username", td__db_text(rows, c0 + 1), "user",
                                      (json_int_t)td__db_int(rows, 13 + k), "submission",
                                      (json_int_t)td__db_int(rows, c0 + 2));
        }
        int64_t winner = td__db_is_null(rows, 8) ? 0 : td__db_int(rows, 8);
        const char *state = winner                                     ? "decided"
                            : td__db_is_null(rows, 10)                 ? "waiting"
                            : !strcmp(td__db_text(rows, 10), "failed") ? "failed"
                                                                       : "racing";
        json_t *m = json_pack("{s:I,s:o,s:o,s:s,s:o}", "slot", (json_int_t)td__db_int(rows, 1), "a",
                              side[0], "b", side[1], "state", state, "winner",
                              winner == 1   ? json_string("a")
                              : winner == 2 ? json_string("b")
                                            : json_null());
        if (!td__db_is_null(rows, 11)) {
            json_t *res = json_loads(td__db_text(rows, 11), 0, NULL);
            json_t *st = json_object_get(res, "standings");
            if (st)
                json_object_set(m, "standings", st);
            json_object_set(m, "race_time_s", json_object_get(res, "race_time_s"));
            json_decref(res);
        }
        if (!td__db_is_null(rows, 12) && !winner)
            json_object_set_new(m, "error", json_string(td__db_text(rows, 12)));
        json_t *rj = json_array_get(rounds, (size_t)(round - 1));
        if (rj)
            json_array_append_new(json_object_get(rj, "matches"), m);
        else
            json_decref(m);
    }
    td__db_rows_free(rows);
    json_t *champ = json_null();
    if (b->champion) {
        td_db_rows *row;
        if (td__db_query_row(td__req_db(r), &row, NULL, "SELECT username FROM users WHERE id = ?",
                             "i", b->champion) > 0) {
            champ = json_pack("{s:I,s:s}", "id", (json_int_t)b->champion, "username",
                              td__db_text(row, 0));
            td__db_rows_free(row);
        }
    }
    return json_pack("{s:I,s:I,s:s,s:I,s:s,s:I,s:s,s:o,s:o,s:o}", "id", (json_int_t)b->id, "league",
                     (json_int_t)b->league_id, "name", b->name, "size", (json_int_t)b->size,
                     "track", b->track, "laps", (json_int_t)b->laps, "division", b->division,
                     "rounds", rounds, "champion", champ, "created_at",
                     td__json_time(b->created_at));
}

static int post_bracket(td__req *r)
{
    json_t *o;
    td__league_brief lb;
    const char *name = NULL, *track = NULL, *division = NULL;
    int64_t size = 8, laps = 0;
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) || td__check_types(r, o, "name:s,size:i,track:s,laps:i,division:s"))
        return 1;
    if (!td__league_brief_param(r, 0, &lb))
        return 1;
    if (!lb.manage)
        return td__fail(r, 403, "forbidden", "only who runs league %lld may draw a bracket",
                        (long long)lb.id);
    if (td__only_keys(r, o, "name,size,track,laps,division") ||
        td__arg_str(r, o, "name", 0, 100, &name) ||
        td__arg_int(r, o, "size", 0, 2, MAX_SIZE, &size) ||
        td__arg_str(r, o, "track", 0, 100, &track) || td__arg_int(r, o, "laps", 0, 1, 16, &laps) ||
        td__arg_str(r, o, "division", 0, 64, &division))
        return 1;
    if (name && !td__display_name_ok(name, 100))
        return td__fail(r, 400, "bad_request",
                        "field 'name': letters, digits, spaces and . , _ - : ( ) & + #");
    /* The race's track: one of the league's, not a hidden one before the close. */
    int ti = -1;
    for (int i = 0; i < lb.ntracks; i++)
        if (track ? !strcmp(track, lb.tracks[i]) : !lb.hidden[i]) {
            ti = i;
            break;
        }
    if (ti < 0)
        return td__fail(r, 400, "bad_request", "field 'track': %s",
                        track ? "not one of the league's tracks"
                              : "the league has no public track");
    if (lb.hidden[ti] && td__hub_now(r->hub) < lb.closes_at)
        return td__fail(r, 400, "bad_request",
                        "field 'track': a hidden track is raced only after the league closes");
    td__seed seeds[MAX_SIZE];
    int got = 0;
    rc = td__league_seeds(r, lb.id, division, (int)size, seeds, &got, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (got < 2)
        return td__fail(r, 409, "conflict",
                        "league %lld has %d counted entr%s%s%s: a bracket needs two",
                        (long long)lb.id, got, got == 1 ? "y" : "ies",
                        division ? " in division " : "", division ? division : "");
    /* The smallest power of two that holds them: the rest of it are byes. */
    int n = 2;
    while (n < got)
        n *= 2;
    int order[MAX_SIZE];
    seed_order(n, order);
    char bname[128];
    snprintf(bname, sizeof(bname), "%s", name ? name : "Knockout");
    bracket b;
    memset(&b, 0, sizeof(b));
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    rc =
        td__db_insert_id(c, &b.id, &err,
                         "INSERT INTO brackets (league_id, name, size, track, laps, division, "
                         "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                         "itititii", lb.id, bname, (int64_t)n, lb.tracks[ti], laps ? laps : lb.laps,
                         division ? division : "", r->who.id, td__hub_now(r->hub));
    if (!rc)
        rc = bracket_load(c, lb.id, b.id, &b, &err);
    /* Every match of every round; the first round's sides from the seeds. */
    int nr = rounds_of(n);
    for (int round = 1; !rc && round <= nr; round++)
        for (int slot = 0; !rc && slot < (n >> round); slot++) {
            int sa = round == 1 ? order[2 * slot] : 0, sb = round == 1 ? order[2 * slot + 1] : 0;
            int ha = sa && sa <= got, hb = sb && sb <= got;
            rc = td__db_exec(c, &err,
                             "INSERT INTO bracket_matches (bracket_id, round, slot, seed_a, "
                             "submission_a, user_a, seed_b, submission_b, user_b) VALUES (?, ?, "
                             "?, NULLIF(?, 0), NULLIF(?, 0), NULLIF(?, 0), NULLIF(?, 0), "
                             "NULLIF(?, 0), NULLIF(?, 0))",
                             "iiiiiiiii", b.id, (int64_t)round, (int64_t)slot,
                             (int64_t)(ha ? sa : 0), ha ? seeds[sa - 1].submission : 0,
                             ha ? seeds[sa - 1].user_id : 0, (int64_t)(hb ? sb : 0),
                             hb ? seeds[sb - 1].submission : 0, hb ? seeds[sb - 1].user_id : 0);
        }
    /* Round one: a race where both sides are there, a bye otherwise. */
    for (int slot = 0; !rc && slot < n / 2; slot++) {
        int sb = order[2 * slot + 1];
        if (sb <= got)
            rc = queue_race(r->hub, c, &b, 1, slot, &lb, &err);
        else
            rc = advance(r->hub, c, &b, 1, slot, 1, &lb, &err);
    }
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    bracket_load(c, lb.id, b.id, &b, &err);
    td__req_location(r, "/api/v1/leagues/%lld/brackets/%lld", (long long)lb.id, (long long)b.id);
    return td__reply_json(r, 201, bracket_json(r, &b, &err));
}

static int list_brackets(td__req *r)
{
    td__league_brief lb;
    td_db_rows *rows;
    td_err err = {0};
    int64_t ids[200];
    int n = 0;
    if (!td__league_brief_param(r, 0, &lb))
        return 1;
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT id FROM brackets WHERE league_id = ? ORDER BY id LIMIT 200", "i",
                          lb.id);
    while (!rc && n < 200 && td__db_next(rows, &err) > 0)
        ids[n++] = td__db_int(rows, 0);
    td__db_rows_free(rows);
    if (rc)
        return td__fail_err(r, rc, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        bracket b;
        if (bracket_load(td__req_db(r), lb.id, ids[i], &b, &err) == 0)
            json_array_append_new(arr, bracket_json(r, &b, &err));
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "brackets", arr));
}

static int bracket_param(td__req *r, td__league_brief *lb, bracket *b)
{
    int64_t bid;
    td_err err = {0};
    if (!td__league_brief_param(r, 0, lb) || td__param_id(r, 1, "bracket", &bid))
        return 0;
    if (bracket_load(td__req_db(r), lb->id, bid, b, &err))
        return td__fail(r, 404, "not_found", "no bracket %lld in league %lld", (long long)bid,
                        (long long)lb->id),
               0;
    return 1;
}

static int get_bracket(td__req *r)
{
    td__league_brief lb;
    bracket b;
    td_err err = {0};
    if (!bracket_param(r, &lb, &b))
        return 1;
    return td__reply_json(r, 200, bracket_json(r, &b, &err));
}

/* The files of match {round}/{slot}'s race. */
static int match_files(td__req *r, td__fileset *fs)
{
    td__league_brief lb;
    bracket b;
    int64_t round, slot1, fsid = 0;
    td_err err = {0};
    if (!bracket_param(r, &lb, &b) || td__param_id(r, 2, "round", &round) ||
        td__param_id(r, 3, "match", &slot1))
        return 0;
    /* Matches are numbered from 1 in the URL. */
    td__db_int_query(td__req_db(r), &fsid, 0, NULL,
                     "SELECT j.result_fileset_id FROM bracket_matches m JOIN jobs j ON j.id = "
                     "m.job_id WHERE m.bracket_id = ? AND m.round = ? AND m.slot = ?",
                     "iii", b.id, round, slot1 - 1);
    if (!fsid)
        return td__fail(r, 404, "not_found", "match %lld of round %lld has not been raced",
                        (long long)slot1, (long long)round),
               0;
    int rc = td__fileset_load(td__req_db(r), fsid, fs, &err);
    if (rc)
        return td__fail_err(r, rc, &err), 0;
    return 1;
}

static int get_match_result(td__req *r)
{
    td__fileset fs;
    if (!match_files(r, &fs))
        return 1;
    int rc = td__reply_fileset_tgz(r, &fs, "race.tar.gz", 0);
    td__fileset_free(&fs);
    return rc;
}

static int get_match_replay(td__req *r)
{
    td__fileset fs;
    if (!match_files(r, &fs))
        return 1;
    const td__file_entry *e = td__fileset_find(&fs, "race.mp4");
    if (!e) {
        td__fileset_free(&fs);
        return td__fail(r, 404, "not_found",
                        "this race's worker had no ffmpeg: its replay is the PNG frames in "
                        "/result (replay/)");
    }
    td__file_entry fe = *e;
    td__fileset_free(&fs);
    return td__reply_blob(r, &fe, "video/mp4");
}

/* ---- The race job ---------------------------------------------------------------------------- */

int td__race_job_validate(td__req *r, json_t *o, json_t *params, int64_t *max_seconds)
{
    (void)o;
    (void)params;
    (void)max_seconds;
    return td__fail(r, 400, "bad_request",
                    "races are made by brackets (POST /api/v1/leagues/{id}/brackets)");
}

int td__race_job_complete(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                          int64_t *result_version, td_err *err)
{
    int64_t fsid = 0;
    (void)result_version;
    const td__file_entry *e = td__fileset_find(fs, "race.json");
    char *data;
    size_t len;
    if (!e || td__fileset_read(r->hub, e, &data, &len, 4 << 20, err))
        return td_err_set(err, TD_EFORMAT, "the race's output has no race.json");
    json_t *race = json_loadb(data, len, 0, NULL);
    td_free(data);
    /* The race names a car by the directory it was given (the worker's DIR/cars/NAME): the
     * standings keep the racer's name. */
    size_t k;
    json_t *car;
    json_array_foreach(json_object_get(race, "standings"), k, car)
    {
        const char *nm = json_string_value(json_object_get(car, "name"));
        if (nm && strrchr(nm, '/'))
            json_object_set_new(car, "name", json_string(strrchr(nm, '/') + 1));
    }
    json_t *first = json_array_get(json_object_get(race, "standings"), 0);
    const char *winner = json_string_value(json_object_get(first, "name"));
    json_t *names = json_object_get(j->params, "names");
    const char *n0 = json_string_value(json_array_get(names, 0));
    const char *n1 = json_string_value(json_array_get(names, 1));
    int w = !winner || !n0 || !n1 ? 0 : !strcmp(winner, n0) ? 1 : !strcmp(winner, n1) ? 2 : 0;
    if (!w) {
        json_decref(race);
        return td_err_set(err, TD_EFORMAT, "race.json names no racer of this match first");
    }
    json_object_update(summary, race);
    json_decref(race);
    int rc = td__fileset_insert(r->hub, c, fs, &fsid, err);
    char *text = json_dumps(summary, JSON_COMPACT);
    if (!rc)
        rc = td__db_exec(c, err, "UPDATE jobs SET result_fileset_id = ?, result = ? WHERE id = ?",
                         "iti", fsid, text, j->id);
    free(text);
    if (rc)
        return rc;
    bracket b;
    int64_t lid = json_integer_value(json_object_get(j->params, "league"));
    rc = bracket_load(c, lid, json_integer_value(json_object_get(j->params, "bracket")), &b, err);
    if (rc)
        return rc;
    /* The league's rules as they are now (they are fixed once there are submissions). */
    td__league_brief lb;
    memset(&lb, 0, sizeof(lb));
    td_db_rows *row;
    if (td__db_query_row(c, &row, err,
                         "SELECT max_resets, off_track_penalty_ms, collision_penalty_ms, "
                         "continuous FROM leagues WHERE id = ?",
                         "i", lid) > 0) {
        lb.max_resets = td__db_int(row, 0);
        lb.off_ms = td__db_int(row, 1);
        lb.coll_ms = td__db_int(row, 2);
        lb.continuous = td__db_int(row, 3);
        td__db_rows_free(row);
    }
    return advance(r->hub, c, &b, json_integer_value(json_object_get(j->params, "round")),
                   json_integer_value(json_object_get(j->params, "slot")), w, &lb, err);
}

#define JJ(s) "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/" s "\"}}}"

const char td__brackets_schemas[] =
    "{\"BracketCreate\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"name\": {\"type\": \"string\"}, \"size\": {\"type\": \"integer\", \"description\": "
    "\"entrants at most (2-32, default 8): the leaderboard's best, byes fill the rest\"}, "
    "\"track\": {\"type\": \"string\", \"description\": \"one of the league's (default: its "
    "first public one)\"}, \"laps\": {\"type\": \"integer\"}, \"division\": {\"type\": "
    "\"string\"}}}}";

#define BP "/api/v1/leagues/{id}/brackets"

const td__route td__routes_brackets[] = {
    {"POST", BP, post_bracket, TD__ALLOW_STAFF, TD__BODY_JSON,
     "Draw a head-to-head knockout seeded from the leaderboard (1 v last, 2 v second last...; "
     "byes fill it); its races are queued for workers",
     "{\"requestBody\": {\"content\": " JJ(
         "BracketCreate") "}, \"responses\": {\"201\": {\"description\": \"drawn\"}, \"409\": "
                          "{\"$ref\": \"#/components/responses/Error\"}}}"},
    {"GET", BP, list_brackets, TD__ALLOW_USERS, TD__BODY_NONE, "The league's brackets", NULL},
    {"GET", BP "/{bid}", get_bracket, TD__ALLOW_USERS, TD__BODY_NONE,
     "A bracket: rounds, matches (seeds, racers, state, winner, the race's standings), "
     "champion",
     NULL},
    {"GET", BP "/{bid}/matches/{round}/{match}/result", get_match_result, TD__ALLOW_USERS,
     TD__BODY_NONE, "A match's race files (race.json, the replay) as .tar.gz",
     "{\"responses\": {\"200\": {\"description\": \"the archive\", \"content\": "
     "{\"application/gzip\": {}}}}}"},
    {"GET", BP "/{bid}/matches/{round}/{match}/replay", get_match_replay, TD__ALLOW_USERS,
     TD__BODY_NONE, "A match's replay video (MP4)",
     "{\"responses\": {\"200\": {\"description\": \"the video\", \"content\": {\"video/mp4\": "
     "{}}}}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
