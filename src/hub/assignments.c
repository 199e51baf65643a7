/*
 * assignments.c - autograded assignments (like nbgrader, for reinforcement learning): an
 * instructor sets a class a task on a track (public or hidden until the deadline) with pass
 * criteria and points; each submission of a model version is frozen and graded by an official
 * evaluation (a "grade" job: `trackday eval` with the assignment's settings and fixed seed,
 * plus `trackday reward check` when a criterion asks for it); submissions after the deadline
 * are marked late; the class's gradebook shows each learner's best grade and attempts, also as
 * CSV.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"

#define MAX_CRITERIA 12

/* The criteria an instructor may set; value is in the criterion's unit. */
typedef struct criterion {
    char kind[32];
    double value;
    int64_t points;
} criterion;

static const struct {
    const char *kind, *what;
    int needs_value;
} kinds[] = {
    {"complete_laps", "complete at least N laps", 1},
    {"avg_lap_under", "average lap under S seconds", 1},
    {"best_lap_under", "best lap under S seconds", 1},
    {"max_off_tracks", "at most N off-tracks", 1},
    {"max_crashes", "at most N crashes", 1},
    {"reward_check", "the reward function passes trackday reward check", 0},
    {NULL, NULL, 0},
};

typedef struct assignment {
    int64_t id, class_id, owner_id, laps, continuous, max_resets, off_ms, coll_ms, seed, deadline;
    int64_t accept_late, created_at, hidden;
    char name[128], description[1040], track[104], race_type[24];
    int ncriteria;
    criterion criteria[MAX_CRITERIA];
} assignment;

/* ------------------------------------------------------------------------------------ */
/* Loading                                                                              */
/* ------------------------------------------------------------------------------------ */

static int load_db(td_db_conn *c, int64_t id, assignment *A, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(
        c, &row, err,
        "SELECT id, class_id, owner_id, laps, continuous, max_resets, off_track_penalty_ms, "
        "collision_penalty_ms, seed, deadline, accept_late, created_at, hidden, name, "
        "description, track, race_type FROM assignments WHERE id = ? AND deleted_at IS NULL",
        "i", id);
    if (rc <= 0)
        return rc ? rc : TD_ENOENT;
    memset(A, 0, sizeof(*A));
    int64_t *ints[] = {&A->id,          &A->class_id,   &A->owner_id, &A->laps, &A->continuous,
                       &A->max_resets,  &A->off_ms,     &A->coll_ms,  &A->seed, &A->deadline,
                       &A->accept_late, &A->created_at, &A->hidden};
    for (int i = 0; i < 13; i++)
        *ints[i] = td__db_int(row, i);
    snprintf(A->name, sizeof(A->name), "%s", td__db_text(row, 13));
    snprintf(A->description, sizeof(A->description), "%s", td__db_text(row, 14));
    snprintf(A->track, sizeof(A->track), "%s", td__db_text(row, 15));
    snprintf(A->race_type, sizeof(A->race_type), "%s", td__db_text(row, 16));
    td__db_rows_free(row);
    rc = td__db_query(c, &row, err,
                      "SELECT kind, value_milli, points FROM assignment_criteria WHERE "
                      "assignment_id = ? ORDER BY position",
                      "i", id);
    while (rc == 0 && (rc = td__db_next(row, err)) > 0) {
        rc = 0;
        if (A->ncriteria == MAX_CRITERIA)
            continue;
        criterion *k = &A->criteria[A->ncriteria++];
        snprintf(k->kind, sizeof(k->kind), "%s", td__db_text(row, 0));
        k->value = (double)td__db_int(row, 1) / 1000.0;
        k->points = td__db_int(row, 2);
    }
    td__db_rows_free(row);
    return rc < 0 ? rc : 0;
}

/* Loads assignment {param i} for a member of its class: 1, or 0 having replied 404. *rel is
 * 2 for who teaches the class (or an admin), 1 for a learner in it. */
static int assignment_param(td__req *r, int i, assignment *A, int *rel)
{
    int64_t id;
    td_err err = {0};
    if (td__param_id(r, i, "assignment", &id))
        return 0;
    int rc = load_db(td__req_db(r), id, A, &err);
    if (!rc)
        *rel = td__class_relation(r, A->class_id);
    if (rc == TD_ENOENT || (!rc && !*rel))
        return td__fail(r, 404, "not_found", "no assignment %lld", (long long)id), 0;
    if (rc)
        return td__fail_err(r, rc, &err), 0;
    return 1;
}

static int64_t max_points(const assignment *A)
{
    int64_t m = 0;
    for (int i = 0; i < A->ncriteria; i++)
        m += A->criteria[i].points;
    return m;
}

static json_t *assignment_json(td__req *r, const assignment *A, int rel)
{
    int secret = A->hidden && rel < 2 && td__hub_now(r->hub) < A->deadline;
    json_t *crit = json_array();
    for (int i = 0; i < A->ncriteria; i++) {
        json_t *c = json_pack("{s:s,s:I}", "kind", A->criteria[i].kind, "points",
                              (json_int_t)A->criteria[i].points);
        if (strcmp(A->criteria[i].kind, "reward_check"))
            json_object_set_new(c, "value", json_real(A->criteria[i].value));
        json_array_append_new(crit, c);
    }
    json_t *o = json_pack(
        "{s:I,s:I,s:s,s:s,s:o,s:b,s:s,s:I,s:b,s:I,s:f,s:f,s:o,s:b,s:o,s:I,s:o,s:b}", "id",
        (json_int_t)A->id, "class", (json_int_t)A->class_id, "name", A->name, "description",
        A->description, "track", secret ? json_null() : json_string(A->track), "hidden",
        (int)A->hidden, "race_type", A->race_type, "laps", (json_int_t)A->laps, "continuous",
        (int)A->continuous, "max_resets", (json_int_t)A->max_resets, "off_track_penalty_s",
        (double)A->off_ms / 1000.0, "collision_penalty_s", (double)A->coll_ms / 1000.0, "deadline",
        td__json_time(A->deadline), "accept_late", (int)A->accept_late, "criteria", crit,
        "max_points", (json_int_t)max_points(A), "created_at", td__json_time(A->created_at),
        "past_deadline", td__hub_now(r->hub) >= A->deadline);
    if (rel >= 2)
        json_object_set_new(o, "seed", json_integer(A->seed));
    return o;
}

/* ------------------------------------------------------------------------------------ */
/* Assignments                                                                          */
/* ------------------------------------------------------------------------------------ */

#define TYPES                                                                                      \
    "name:s,description:s,track:s,hidden:b,race_type:s,laps:i,continuous:b,max_resets:i,"          \
    "off_track_penalty:n,collision_penalty:n,deadline:s,accept_late:b,criteria:a,seed:i"
#define KEYS                                                                                       \
    "name,description,track,hidden,race_type,laps,continuous,max_resets,off_track_penalty,"        \
    "collision_penalty,deadline,accept_late,criteria,seed"

static int args(td__req *r, json_t *o, assignment *A, int creating)
{
    const char *name = NULL, *desc = NULL, *track = NULL, *race = NULL, *deadline = NULL;
    int hidden = (int)A->hidden, cont = (int)A->continuous, late = (int)A->accept_late;
    double off = (double)A->off_ms / 1000.0, coll = (double)A->coll_ms / 1000.0;
    if (td__arg_str(r, o, "name", creating, 100, &name) ||
        td__arg_str(r, o, "description", 0, 1000, &desc) ||
        td__arg_str(r, o, "track", creating, 100, &track) ||
        td__arg_bool(r, o, "hidden", &hidden) || td__arg_str(r, o, "race_type", 0, 24, &race) ||
        td__arg_int(r, o, "laps", 0, 1, 20, &A->laps) || td__arg_bool(r, o, "continuous", &cont) ||
        td__arg_int(r, o, "max_resets", 0, 0, 10000, &A->max_resets) ||
        td__arg_num(r, o, "off_track_penalty", 0, 0, 60, &off) ||
        td__arg_num(r, o, "collision_penalty", 0, 0, 60, &coll) ||
        td__arg_str(r, o, "deadline", creating, 40, &deadline) ||
        td__arg_bool(r, o, "accept_late", &late) ||
        td__arg_int(r, o, "seed", 0, 0, 0x7fffffff, &A->seed))
        return 1;
    if (name) {
        if (!td__display_name_ok(name, 100))
            return td__fail(r, 400, "bad_request",
                            "field 'name': letters, digits, spaces and . , _ - : ( ) & + # (not "
                            "'%.40s')",
                            name);
        snprintf(A->name, sizeof(A->name), "%s", name);
    }
    if (desc)
        snprintf(A->description, sizeof(A->description), "%s", desc);
    if (track) {
        if (!strcmp(track, "default"))
            track = "kidney";
        if (!td__track_known(r->hub, track))
            return td__fail(r, 400, "bad_request",
                            "field 'track': no track named '%.100s' (GET /api/v1/tracks lists "
                            "them)",
                            track);
        snprintf(A->track, sizeof(A->track), "%s", track);
    }
    if (race) {
        if (strcmp(race, "time-trial") && strcmp(race, "object-avoidance") &&
            strcmp(race, "head-to-bot"))
            return td__fail(r, 400, "bad_request",
                            "field 'race_type' '%.24s': time-trial, object-avoidance or "
                            "head-to-bot",
                            race);
        snprintf(A->race_type, sizeof(A->race_type), "%s", race);
    }
    if (deadline) {
        A->deadline = td__parse_time(deadline);
        if (A->deadline < 0)
            return td__fail(r, 400, "bad_request",
                            "field 'deadline' must be a UTC time such as 2026-12-01T18:00:00Z");
    }
    A->hidden = hidden;
    A->continuous = cont;
    A->accept_late = late;
    A->off_ms = (int64_t)(off * 1000 + 0.5);
    A->coll_ms = (int64_t)(coll * 1000 + 0.5);
    json_t *crit = json_object_get(o, "criteria"), *v;
    size_t i;
    if (crit) {
        if (json_array_size(crit) < 1 || json_array_size(crit) > MAX_CRITERIA)
            return td__fail(r, 400, "bad_request", "field 'criteria' must list 1 to %d criteria",
                            MAX_CRITERIA);
        A->ncriteria = 0;
        json_array_foreach(crit, i, v)
        {
            const char *kind = json_string_value(json_object_get(v, "kind"));
            json_t *val = json_object_get(v, "value"), *pts = json_object_get(v, "points");
            int k;
            for (k = 0; kind && kinds[k].kind; k++)
                if (!strcmp(kinds[k].kind, kind))
                    break;
            if (!kind || !kinds[k].kind)
                return td__fail(r, 400, "bad_request",
                                "field 'criteria': each is {\"kind\", \"value\", \"points\"} "
                                "with kind complete_laps, avg_lap_under, best_lap_under, "
                                "max_off_tracks, max_crashes or reward_check");
            if (kinds[k].needs_value && (!json_is_number(val) || json_number_value(val) < 0 ||
                                         json_number_value(val) > 1e6))
                return td__fail(r, 400, "bad_request", "field 'criteria': %s needs a 'value' (%s)",
                                kind, kinds[k].what);
            if (pts && (!json_is_integer(pts) || json_integer_value(pts) < 0 ||
                        json_integer_value(pts) > 1000))
                return td__fail(r, 400, "bad_request",
                                "field 'criteria': 'points' is a whole number 0-1000");
            criterion *c = &A->criteria[A->ncriteria++];
            snprintf(c->kind, sizeof(c->kind), "%s", kind);
            c->value = kinds[k].needs_value ? json_number_value(val) : 0;
            c->points = pts ? json_integer_value(pts) : 1;
        }
    } else if (creating) {
        return td__fail(r, 400, "bad_request", "missing field 'criteria'");
    }
    return 0;
}

static int save_criteria(td_db_conn *c, const assignment *A, td_err *err)
{
    int rc =
        td__db_exec(c, err, "DELETE FROM assignment_criteria WHERE assignment_id = ?", "i", A->id);
    for (int i = 0; !rc && i < A->ncriteria; i++)
        rc = td__db_exec(c, err,
                         "INSERT INTO assignment_criteria (assignment_id, position, kind, "
                         "value_milli, points) VALUES (?, ?, ?, ?, ?)",
                         "iitii", A->id, (int64_t)(i + 1), A->criteria[i].kind,
                         (int64_t)(A->criteria[i].value * 1000 + 0.5), A->criteria[i].points);
    return rc;
}

static int reply_assignment(td__req *r, int status, int64_t id)
{
    assignment A;
    td_err err = {0};
    int rc = load_db(td__req_db(r), id, &A, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_json(r, status, assignment_json(r, &A, td__class_relation(r, A.class_id)));
}

static int post_assignment(td__req *r)
{
    json_t *o;
    assignment A;
    int64_t cls, now = td__hub_now(r->hub);
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) || td__check_types(r, o, TYPES))
        return 1;
    if (td__param_id(r, 0, "class", &cls))
        return 1;
    int rel = td__class_relation(r, cls);
    if (!rel)
        return td__fail(r, 404, "not_found", "no class %lld", (long long)cls);
    if (rel < 2)
        return td__fail(r, 403, "forbidden",
                        "only the class's instructors (or an admin) may do this");
    if (td__only_keys(r, o, KEYS))
        return 1;
    memset(&A, 0, sizeof(A));
    A.class_id = cls;
    A.laps = 3;
    A.max_resets = 10000;
    A.off_ms = 2000;
    A.coll_ms = 5000;
    A.accept_late = 1;
    A.seed = (int64_t)randombytes_uniform(0x7fffffff);
    snprintf(A.race_type, sizeof(A.race_type), "time-trial");
    if (args(r, o, &A, 1))
        return 1;
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    rc = td__db_insert_id(
        c, &A.id, &err,
        "INSERT INTO assignments (class_id, owner_id, name, description, track, hidden, "
        "race_type, laps, continuous, max_resets, off_track_penalty_ms, collision_penalty_ms, "
        "seed, deadline, accept_late, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?) RETURNING id",
        "iitttitiiiiiiiii", cls, r->who.id, A.name, A.description, A.track, A.hidden, A.race_type,
        A.laps, A.continuous, A.max_resets, A.off_ms, A.coll_ms, A.seed, A.deadline, A.accept_late,
        now);
    if (!rc)
        rc = save_criteria(c, &A, &err);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__req_location(r, "/api/v1/assignments/%lld", (long long)A.id);
    return reply_assignment(r, 201, A.id);
}

static int list_assignments(td__req *r)
{
    int64_t cls, ids[500];
    int n = 0, rc;
    td_db_rows *rows;
    td_err err = {0};
    if (td__param_id(r, 0, "class", &cls))
        return 1;
    int rel = td__class_relation(r, cls);
    if (!rel)
        return td__fail(r, 404, "not_found", "no class %lld", (long long)cls);
    rc = td__db_query(td__req_db(r), &rows, &err,
                      "SELECT id FROM assignments WHERE class_id = ? AND deleted_at IS NULL "
                      "ORDER BY deadline, id LIMIT 500",
                      "i", cls);
    if (rc)
        return td__fail_err(r, rc, &err);
    while (n < 500 && (rc = td__db_next(rows, &err)) > 0)
        ids[n++] = td__db_int(rows, 0);
    td__db_rows_free(rows);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        assignment A;
        if (load_db(td__req_db(r), ids[i], &A, &err) == 0)
            json_array_append_new(arr, assignment_json(r, &A, rel));
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "assignments", arr));
}

static int get_assignment(td__req *r)
{
    assignment A;
    int rel;
    if (!assignment_param(r, 0, &A, &rel))
        return 1;
    return td__reply_json(r, 200, assignment_json(r, &A, rel));
}

static int patch_assignment(td__req *r)
{
    json_t *o;
    assignment A;
    int rel;
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) || td__check_types(r, o, TYPES))
        return 1;
    if (!assignment_param(r, 0, &A, &rel))
        return 1;
    if (rel < 2)
        return td__fail(r, 403, "forbidden",
                        "only the class's instructors (or an admin) may do this");
    if (td__only_keys(r, o, KEYS) || args(r, o, &A, 0))
        return 1;
    int64_t subs = 0;
    td__db_int_query(td__req_db(r), &subs, 0, NULL,
                     "SELECT COUNT(*) FROM assignment_submissions WHERE assignment_id = ?", "i",
                     A.id);
    static const char *const fixed[] = {"track",
                                        "race_type",
                                        "laps",
                                        "continuous",
                                        "max_resets",
                                        "off_track_penalty",
                                        "collision_penalty",
                                        "criteria",
                                        "seed",
                                        NULL};
    for (int i = 0; subs && fixed[i]; i++)
        if (json_object_get(o, fixed[i]))
            return td__fail(r, 409, "conflict",
                            "field '%s': submissions were graded with it; it can no longer change",
                            fixed[i]);
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__db_exec(c, &err,
                         "UPDATE assignments SET name = ?, description = ?, track = ?, hidden = ?, "
                         "race_type = ?, laps = ?, continuous = ?, max_resets = ?, "
                         "off_track_penalty_ms = ?, collision_penalty_ms = ?, seed = ?, deadline = "
                         "?, accept_late = ? WHERE id = ?",
                         "tttitiiiiiiiii", A.name, A.description, A.track, A.hidden, A.race_type,
                         A.laps, A.continuous, A.max_resets, A.off_ms, A.coll_ms, A.seed,
                         A.deadline, A.accept_late, A.id);
    if (!rc)
        rc = save_criteria(c, &A, &err);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    return reply_assignment(r, 200, A.id);
}

static int delete_assignment(td__req *r)
{
    assignment A;
    int rel;
    td_err err = {0};
    if (!assignment_param(r, 0, &A, &rel))
        return 1;
    if (rel < 2)
        return td__fail(r, 403, "forbidden",
                        "only the class's instructors (or an admin) may do this");
    int rc = td__db_exec(td__req_db(r), &err, "UPDATE assignments SET deleted_at = ? WHERE id = ?",
                         "ii", td__hub_now(r->hub), A.id);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_empty(r, 204);
}

/* ------------------------------------------------------------------------------------ */
/* Submissions and grades                                                               */
/* ------------------------------------------------------------------------------------ */

#define SUB_COLS                                                                                   \
    "s.id, s.user_id, u.username, s.model_id, s.model_version, s.content_sha256, s.created_at, "   \
    "s.late, j.state, s.points, s.max_points, s.passed, s.results, j.error, j.id"
#define SUB_FROM                                                                                   \
    "FROM assignment_submissions s JOIN users u ON u.id = s.user_id JOIN jobs j ON j.id = "        \
    "s.job_id"

/* A submission; on a hidden track before the deadline, to a learner, the grade without the
 * evaluation's numbers. */
static json_t *sub_json(td_db_rows *row, int secret)
{
    int graded = !td__db_is_null(row, 9);
    json_t *o = json_pack(
        "{s:I,s:{s:I,s:s},s:{s:I,s:I},s:s,s:o,s:b,s:s,s:I}", "submission",
        (json_int_t)td__db_int(row, 0), "user", "id", (json_int_t)td__db_int(row, 1), "username",
        td__db_text(row, 2), "model", "id", (json_int_t)td__db_int(row, 3), "version",
        (json_int_t)td__db_int(row, 4), "content_sha256", td__db_text(row, 5), "submitted_at",
        td__json_time(td__db_int(row, 6)), "late", (int)td__db_int(row, 7), "state",
        graded ? "graded" : td__db_text(row, 8), "job", (json_int_t)td__db_int(row, 14));
    if (graded) {
        json_object_set_new(o, "points", json_integer(td__db_int(row, 9)));
        json_object_set_new(o, "max_points", json_integer(td__db_int(row, 10)));
        json_object_set_new(o, "passed", json_boolean(td__db_int(row, 11)));
        json_t *res = json_loads(td__db_is_null(row, 12) ? "null" : td__db_text(row, 12), 0, NULL);
        json_t *crit = json_object_get(res, "criteria"), *c;
        size_t i;
        if (secret) {
            /* Pass or fail per criterion, not the measured values. */
            json_array_foreach(crit, i, c) json_object_del(c, "measured");
            json_object_del(res, "evaluation");
        }
        json_object_set_new(o, "criteria", crit ? json_incref(crit) : json_array());
        if (!secret && json_object_get(res, "evaluation"))
            json_object_set(o, "evaluation", json_object_get(res, "evaluation"));
        json_decref(res);
    }
    if (!td__db_is_null(row, 13))
        json_object_set_new(o, "error", json_string(td__db_text(row, 13)));
    return o;
}

static int reply_sub(td__req *r, int status, const assignment *A, int rel, int64_t sid)
{
    td_db_rows *row;
    td_err err = {0};
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT " SUB_COLS " " SUB_FROM
                              " WHERE s.id = ? AND s.assignment_id = ? AND (? = 2 OR s.user_id "
                              "= ?)",
                              "iiii", sid, A->id, (int64_t)rel, r->who.id);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (!rc)
        return td__fail(r, 404, "not_found", "no submission %lld of assignment %lld",
                        (long long)sid, (long long)A->id);
    int secret = A->hidden && rel < 2 && td__hub_now(r->hub) < A->deadline;
    json_t *o = sub_json(row, secret);
    td__db_rows_free(row);
    return td__reply_json(r, status, o);
}

static int post_sub(td__req *r)
{
    json_t *o;
    assignment A;
    int rel;
    int64_t model_id = 0, version = 0, now = td__hub_now(r->hub), sid = 0, jid = 0;
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) || td__check_types(r, o, "model:i,version:i"))
        return 1;
    if (!assignment_param(r, 0, &A, &rel))
        return 1;
    if (td__only_keys(r, o, "model,version") ||
        td__arg_int(r, o, "model", 1, 1, INT64_MAX, &model_id) ||
        td__arg_int(r, o, "version", 0, 1, INT64_MAX, &version))
        return 1;
    int late = now >= A.deadline;
    if (late && !A.accept_late) {
        char when[40];
        td__format_time(A.deadline, when, sizeof(when));
        return td__fail(r, 409, "past_deadline",
                        "assignment '%s' was due at %s and takes no late submissions", A.name,
                        when);
    }
    if (td__submission_model(r, model_id, &version))
        return 1;
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    int64_t fsid = 0;
    char sha[65] = "";
    if (td__submission_files(r, c, model_id, version, &fsid, sha))
        return 1;
    /* The submission, then its grading job (which names the submission's frozen files). */
    if (!rc) {
        rc = td__db_insert_id(c, &sid, &err,
                              "INSERT INTO assignment_submissions (assignment_id, user_id, "
                              "model_id, model_version, fileset_id, content_sha256, created_at, "
                              "late, job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL) RETURNING id",
                              "iiiiitii", A.id, r->who.id, model_id, version, fsid, sha, now,
                              (int64_t)late);
    }
    if (!rc) {
        char input[128];
        snprintf(input, sizeof(input), "/api/v1/assignments/%lld/submissions/%lld/download",
                 (long long)A.id, (long long)sid);
        int check = 0;
        for (int i = 0; i < A.ncriteria; i++)
            check |= !strcmp(A.criteria[i].kind, "reward_check");
        json_t *p = json_pack(
            "{s:s,s:I,s:I,s:I,s:f,s:f,s:s,s:I,s:I,s:s}", "track", A.track, "laps",
            (json_int_t)A.laps, "seed", (json_int_t)A.seed, "max_resets", (json_int_t)A.max_resets,
            "off_track_penalty", (double)A.off_ms / 1000.0, "collision_penalty",
            (double)A.coll_ms / 1000.0, "race_type", A.race_type, "assignment", (json_int_t)A.id,
            "assignment_submission", (json_int_t)sid, "input", input);
        if (A.continuous)
            json_object_set_new(p, "continuous", json_true());
        if (check)
            json_object_set_new(p, "reward_check", json_true());
        rc = td__job_create(r->hub, c, r->who.id, "grade", model_id, version, p, 0, 0, &jid, &err);
        json_decref(p);
    }
    if (!rc)
        rc = td__db_exec(c, &err, "UPDATE assignment_submissions SET job_id = ? WHERE id = ?", "ii",
                         jid, sid);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    td__req_location(r, "/api/v1/assignments/%lld/submissions/%lld", (long long)A.id,
                     (long long)sid);
    return reply_sub(r, 201, &A, rel, sid);
}

static int list_subs(td__req *r)
{
    assignment A;
    int rel;
    int64_t user = 0;
    td_db_rows *rows;
    td_err err = {0};
    if (!assignment_param(r, 0, &A, &rel) || td__query_int(r, "user", 0, 0, INT64_MAX, &user))
        return 1;
    if (rel < 2) {
        if (user && user != r->who.id)
            return td__fail(r, 404, "not_found", "no user %lld", (long long)user);
        user = r->who.id;
    }
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " SUB_COLS " " SUB_FROM
                          " WHERE s.assignment_id = ? AND (? = 0 OR s.user_id = ?) ORDER BY s.id "
                          "DESC LIMIT 1000",
                          "iii", A.id, user, user);
    if (rc)
        return td__fail_err(r, rc, &err);
    int secret = A.hidden && rel < 2 && td__hub_now(r->hub) < A.deadline;
    json_t *arr = json_array();
    while ((rc = td__db_next(rows, &err)) > 0)
        json_array_append_new(arr, sub_json(rows, secret));
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "submissions", arr));
}

static int get_sub(td__req *r)
{
    assignment A;
    int rel;
    int64_t sid;
    if (!assignment_param(r, 0, &A, &rel) || td__param_id(r, 1, "submission", &sid))
        return 1;
    return reply_sub(r, 200, &A, rel, sid);
}

/* The frozen version: for its submitter, the class's instructors and the worker grading it. */
static int get_sub_download(td__req *r)
{
    int64_t aid, sid, fsid = 0, uid = 0, cls = 0;
    td_db_rows *row;
    td_err err = {0};
    td__fileset fs;
    char name[80];
    if (td__param_id(r, 0, "assignment", &aid) || td__param_id(r, 1, "submission", &sid))
        return 1;
    if (td__db_query_row(td__req_db(r), &row, &err,
                         "SELECT s.fileset_id, s.user_id, a.class_id FROM assignment_submissions "
                         "s JOIN assignments a ON a.id = s.assignment_id WHERE s.id = ? AND "
                         "s.assignment_id = ?",
                         "ii", sid, aid) > 0) {
        fsid = td__db_int(row, 0);
        uid = td__db_int(row, 1);
        cls = td__db_int(row, 2);
        td__db_rows_free(row);
    }
    int ok = 0;
    if (fsid && r->who.who == TD__WHO_WORKER) {
        int64_t n = 0;
        td__db_int_query(td__req_db(r), &n, 0, NULL,
                         "SELECT COUNT(*) FROM assignment_submissions s JOIN jobs j ON j.id = "
                         "s.job_id WHERE s.id = ? AND j.worker_id = ? AND j.state = 'running'",
                         "ii", sid, r->who.id);
        ok = n > 0;
    } else if (fsid) {
        ok = uid == r->who.id || td__class_relation(r, cls) == 2;
    }
    if (!ok)
        return td__fail(r, 404, "not_found", "no submission %lld of assignment %lld",
                        (long long)sid, (long long)aid);
    int rc = td__fileset_load(td__req_db(r), fsid, &fs, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    snprintf(name, sizeof(name), "assignment-%lld-submission-%lld.tar.gz", (long long)aid,
             (long long)sid);
    rc = td__reply_fileset_tgz(r, &fs, name, 0);
    td__fileset_free(&fs);
    return rc;
}

/* ---- The grading job ---------------------------------------------------------------------- */

int td__grade_job_validate(td__req *r, json_t *o, json_t *params, int64_t *max_seconds)
{
    (void)o;
    (void)params;
    (void)max_seconds;
    return td__fail(r, 400, "bad_request",
                    "grading jobs are made by submissions (POST "
                    "/api/v1/assignments/{id}/submissions)");
}

/* Reads reward-check.json of the job's files: 1 ok, 0 failed, -1 absent. */
static int reward_check_result(td__req *r, const td__fileset *fs, char *why, size_t cap)
{
    const td__file_entry *e = td__fileset_find(fs, "reward-check.json");
    char *data;
    size_t len;
    why[0] = 0;
    if (!e || td__fileset_read(r->hub, e, &data, &len, 4 << 20, NULL))
        return -1;
    json_t *o = json_loadb(data, len, 0, NULL);
    td_free(data);
    int ok = json_is_true(json_object_get(o, "ok"));
    if (!ok) {
        const char *le = json_string_value(json_object_get(o, "load_error"));
        snprintf(why, cap, "%lld errors%s%.200s",
                 (long long)json_integer_value(json_object_get(o, "errors")), le ? ": " : "",
                 le ? le : "");
    }
    json_decref(o);
    return o ? ok : -1;
}

int td__grade_job_complete(td__req *r, td_db_conn *c, td__job *j, td__fileset *fs, json_t *summary,
                           int64_t *result_version, td_err *err)
{
    int rc = td__eval_complete(r, c, j, fs, summary, result_version, err);
    if (rc)
        return rc;
    int64_t aid = json_integer_value(json_object_get(j->params, "assignment"));
    assignment A;
    rc = load_db(c, aid, &A, err);
    if (rc)
        return rc;
    int64_t laps = json_integer_value(json_object_get(summary, "laps_completed"));
    double best = json_number_value(json_object_get(summary, "best_lap_s"));
    double avg = json_number_value(json_object_get(summary, "average_lap_s"));
    int64_t off = json_integer_value(json_object_get(summary, "off_tracks"));
    int64_t crashes = json_integer_value(json_object_get(summary, "crashes"));
    char why[300];
    int check = reward_check_result(r, fs, why, sizeof(why));
    json_t *crit = json_array();
    int64_t points = 0, maxp = 0;
    int all = 1;
    for (int i = 0; i < A.ncriteria; i++) {
        const criterion *k = &A.criteria[i];
        int pass = 0;
        json_t *measured = json_null();
        if (!strcmp(k->kind, "complete_laps")) {
            pass = (double)laps >= k->value;
            measured = json_integer(laps);
        } else if (!strcmp(k->kind, "avg_lap_under")) {
            pass = laps > 0 && avg > 0 && avg < k->value;
            measured = laps > 0 ? json_real(avg) : json_null();
        } else if (!strcmp(k->kind, "best_lap_under")) {
            pass = laps > 0 && best > 0 && best < k->value;
            measured = laps > 0 ? json_real(best) : json_null();
        } else if (!strcmp(k->kind, "max_off_tracks")) {
            pass = (double)off <= k->value;
            measured = json_integer(off);
        } else if (!strcmp(k->kind, "max_crashes")) {
            pass = (double)crashes <= k->value;
            measured = json_integer(crashes);
        } else if (!strcmp(k->kind, "reward_check")) {
            pass = check == 1;
            measured = json_string(check == 1 ? "ok" : check == 0 ? why : "not checked");
        }
        json_t *cj = json_pack("{s:s,s:b,s:I,s:I,s:o}", "kind", k->kind, "passed", pass, "points",
                               (json_int_t)(pass ? k->points : 0), "max_points",
                               (json_int_t)k->points, "measured", measured);
        if (strcmp(k->kind, "reward_check"))
            json_object_set_new(cj, "value", json_real(k->value));
        json_array_append_new(crit, cj);
        points += pass ? k->points : 0;
        maxp += k->points;
        all &= pass;
    }
    json_t *res = json_pack(
        "{s:o,s:{s:I,s:o,s:o,s:I,s:I,s:O}}", "criteria", crit, "evaluation", "laps_completed",
        (json_int_t)laps, "best_lap_s", laps ? json_real(best) : json_null(), "average_lap_s",
        laps ? json_real(avg) : json_null(), "off_tracks", (json_int_t)off, "crashes",
        (json_int_t)crashes, "laps",
        json_object_get(summary, "laps") ? json_object_get(summary, "laps") : json_null());
    char *text = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    rc = td__db_exec(c, err,
                     "UPDATE assignment_submissions SET points = ?, max_points = ?, passed = ?, "
                     "results = ? WHERE job_id = ?",
                     "iiiti", points, maxp, (int64_t)all, text ? text : "{}", j->id);
    free(text);
    return rc;
}

/* ---- The gradebook ------------------------------------------------------------------------ */

typedef struct grade {
    int64_t sub, points, max_points, attempts, submitted_at;
    int passed, late, graded, any_late;
} grade;

/* The gradebook of class cls (names: room for 100 assignments and 2000 learners). */
static int gradebook(td__req *r, int64_t cls, const char *format, char (*anames)[128],
                     char (*unames)[64])
{
    td_err err = {0};
    td_db_rows *rows;
    /* The assignments (columns) and learners (rows). */
    int64_t aids[100], uids[2000];
    int64_t amax[100], adead[100];
    int na = 0, nu = 0, rc;
    rc = td__db_query(td__req_db(r), &rows, &err,
                      "SELECT id, name, deadline FROM assignments WHERE class_id = ? AND "
                      "deleted_at IS NULL ORDER BY deadline, id LIMIT 100",
                      "i", cls);
    while (!rc && td__db_next(rows, &err) > 0 && na < 100) {
        aids[na] = td__db_int(rows, 0);
        snprintf(anames[na], sizeof(anames[0]), "%s", td__db_text(rows, 1));
        adead[na] = td__db_int(rows, 2);
        amax[na] = 0;
        na++;
    }
    td__db_rows_free(rows);
    for (int i = 0; i < na; i++)
        td__db_int_query(td__req_db(r), &amax[i], 0, NULL,
                         "SELECT COALESCE(SUM(points), 0) FROM assignment_criteria WHERE "
                         "assignment_id = ?",
                         "i", aids[i]);
    if (!rc)
        rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT u.id, u.username FROM class_members m JOIN users u ON u.id = "
                          "m.user_id WHERE m.class_id = ? AND m.role = 'learner' ORDER BY "
                          "u.username LIMIT 2000",
                          "i", cls);
    while (!rc && td__db_next(rows, &err) > 0 && nu < 2000) {
        uids[nu] = td__db_int(rows, 0);
        snprintf(unames[nu], sizeof(unames[0]), "%s", td__db_text(rows, 1));
        nu++;
    }
    td__db_rows_free(rows);
    if (rc)
        return td__fail_err(r, rc, &err);
    grade *g = td_calloc((size_t)(na * nu) + 1, sizeof(*g));
    if (!g)
        return td__fail(r, 500, "internal", "out of memory");
    /* Every submission: best grade (most points, then the earlier), attempts, late. */
    rc = td__db_query(td__req_db(r), &rows, &err,
                      "SELECT s.assignment_id, s.user_id, s.id, s.points, s.max_points, s.passed, "
                      "s.late, s.created_at FROM assignment_submissions s JOIN assignments a ON "
                      "a.id = s.assignment_id WHERE a.class_id = ? AND a.deleted_at IS NULL "
                      "ORDER BY s.id",
                      "i", cls);
    while (!rc && td__db_next(rows, &err) > 0) {
        int ai = -1, ui = -1;
        for (int i = 0; i < na; i++)
            if (aids[i] == td__db_int(rows, 0))
                ai = i;
        for (int i = 0; i < nu && ai >= 0; i++)
            if (uids[i] == td__db_int(rows, 1))
                ui = i;
        if (ai < 0 || ui < 0)
            continue;
        grade *x = &g[ui * na + ai];
        x->attempts++;
        x->any_late |= (int)td__db_int(rows, 6);
        if (td__db_is_null(rows, 3))
            continue;
        int64_t pts = td__db_int(rows, 3);
        if (!x->graded || pts > x->points) {
            x->graded = 1;
            x->sub = td__db_int(rows, 2);
            x->points = pts;
            x->max_points = td__db_int(rows, 4);
            x->passed = (int)td__db_int(rows, 5);
            x->late = (int)td__db_int(rows, 6);
            x->submitted_at = td__db_int(rows, 7);
        }
    }
    td__db_rows_free(rows);
    if (rc) {
        td_free(g);
        return td__fail_err(r, rc, &err);
    }
    if (format && !strcmp(format, "csv")) {
        td__sb b = {0};
        td__sb_str(&b, "username");
        for (int a = 0; a < na; a++) {
            const char *cols[] = {" points", " max", " passed", " attempts", " late"};
            for (int k = 0; k < 5; k++) {
                char h[160];
                snprintf(h, sizeof(h), "%.127s%s", anames[a], cols[k]);
                td__sb_str(&b, ",");
                td__csv_field(&b, h);
            }
        }
        td__sb_str(&b, ",total points,total max\n");
        for (int u = 0; u < nu; u++) {
            int64_t tp = 0, tm = 0;
            td__csv_field(&b, unames[u]);
            for (int a = 0; a < na; a++) {
                const grade *x = &g[u * na + a];
                char cell[160];
                if (x->graded)
                    snprintf(cell, sizeof(cell), ",%lld,%lld,%s,%lld,%s", (long long)x->points,
                             (long long)amax[a], x->passed ? "yes" : "no", (long long)x->attempts,
                             x->late ? "yes" : "no");
                else
                    snprintf(cell, sizeof(cell), ",,%lld,,%lld,%s", (long long)amax[a],
                             (long long)x->attempts, x->any_late ? "yes" : "");
                td__sb_str(&b, cell);
                tp += x->graded ? x->points : 0;
                tm += amax[a];
            }
            char tot[64];
            snprintf(tot, sizeof(tot), ",%lld,%lld\n", (long long)tp, (long long)tm);
            td__sb_str(&b, tot);
        }
        td_free(g);
        if (b.failed) {
            td_free(b.buf);
            return td__fail(r, 500, "internal", "out of memory");
        }
        char disp[96];
        snprintf(disp, sizeof(disp), "attachment; filename=\"class-%lld-gradebook.csv\"",
                 (long long)cls);
        td__req_add_header(r, "Content-Disposition", disp);
        return td__reply_data(r, 200, "text/csv; charset=utf-8", b.buf, b.len);
    }
    json_t *as = json_array(), *ls = json_array();
    for (int a = 0; a < na; a++)
        json_array_append_new(as, json_pack("{s:I,s:s,s:I,s:o}", "id", (json_int_t)aids[a], "name",
                                            anames[a], "max_points", (json_int_t)amax[a],
                                            "deadline", td__json_time(adead[a])));
    for (int u = 0; u < nu; u++) {
        json_t *gs = json_array();
        int64_t tp = 0;
        for (int a = 0; a < na; a++) {
            const grade *x = &g[u * na + a];
            json_t *gj = json_pack("{s:I,s:I,s:b}", "assignment", (json_int_t)aids[a], "attempts",
                                   (json_int_t)x->attempts, "graded", x->graded);
            if (x->graded) {
                json_object_set_new(gj, "points", json_integer(x->points));
                json_object_set_new(gj, "max_points", json_integer(amax[a]));
                json_object_set_new(gj, "passed", json_boolean(x->passed));
                json_object_set_new(gj, "late", json_boolean(x->late));
                json_object_set_new(gj, "submission", json_integer(x->sub));
                json_object_set_new(gj, "submitted_at", td__json_time(x->submitted_at));
                tp += x->points;
            }
            json_object_set_new(gj, "any_late", json_boolean(x->any_late));
            json_array_append_new(gs, gj);
        }
        json_array_append_new(ls, json_pack("{s:{s:I,s:s},s:o,s:I}", "user", "id",
                                            (json_int_t)uids[u], "username", unames[u], "grades",
                                            gs, "total_points", (json_int_t)tp));
    }
    td_free(g);
    return td__reply_json(
        r, 200,
        json_pack("{s:I,s:o,s:o}", "class", (json_int_t)cls, "assignments", as, "learners", ls));
}

static int get_gradebook(td__req *r)
{
    int64_t cls;
    const char *format = td__req_query(r, "format");
    if (td__param_id(r, 0, "class", &cls))
        return 1;
    int rel = td__class_relation(r, cls);
    if (!rel)
        return td__fail(r, 404, "not_found", "no class %lld", (long long)cls);
    if (rel < 2)
        return td__fail(r, 403, "forbidden",
                        "only the class's instructors (or an admin) may do this");
    if (format && strcmp(format, "json") && strcmp(format, "csv"))
        return td__fail(r, 400, "bad_request", "format '%.10s': json or csv", format);
    char(*anames)[128] = td_calloc(100, sizeof(*anames));
    char(*unames)[64] = td_calloc(2000, sizeof(*unames));
    int rc = anames && unames ? gradebook(r, cls, format, anames, unames)
                              : td__fail(r, 500, "internal", "out of memory");
    td_free(anames);
    td_free(unames);
    return rc;
}

/* 1 if track name is the hidden track of an assignment not yet due that the caller does not
 * teach (leagues.c's td__track_hidden asks). */
int td__track_hidden_by_assignment(td__req *r, const char *name)
{
    int64_t n = 0;
    td__db_int_query(td__req_db(r), &n, 0, NULL,
                     "SELECT COUNT(*) FROM assignments a WHERE a.track = ? AND a.hidden = 1 AND "
                     "a.deleted_at IS NULL AND a.deadline > ? AND a.owner_id <> ? AND "
                     "a.class_id NOT IN (" TD__TAUGHT_CLASSES_SQL ")",
                     "tiii", name, td__hub_now(r->hub), r->who.id, r->who.id);
    return n > 0;
}

/* ------------------------------------------------------------------------------------ */
/* Routes                                                                               */
/* ------------------------------------------------------------------------------------ */

#define JJ(s) "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/" s "\"}}}"

const char td__assignments_schemas[] =
    "{\"AssignmentCreate\": {\"type\": \"object\", \"required\": [\"name\", \"track\", "
    "\"deadline\", \"criteria\"], \"additionalProperties\": false, \"properties\": {\"name\": "
    "{\"type\": \"string\"}, \"description\": {\"type\": \"string\"}, \"track\": {\"type\": "
    "\"string\"}, \"hidden\": {\"type\": \"boolean\", \"description\": \"the track's name, "
    "geometry and results withheld from learners until the deadline\"}, \"race_type\": "
    "{\"enum\": [\"time-trial\", \"object-avoidance\", \"head-to-bot\"]}, \"laps\": {\"type\": "
    "\"integer\"}, \"continuous\": {\"type\": \"boolean\"}, \"max_resets\": {\"type\": "
    "\"integer\"}, \"off_track_penalty\": {\"type\": \"number\"}, \"collision_penalty\": "
    "{\"type\": \"number\"}, \"deadline\": {\"type\": \"string\"}, \"accept_late\": {\"type\": "
    "\"boolean\"}, \"criteria\": {\"type\": \"array\", \"items\": {\"type\": \"object\", "
    "\"properties\": {\"kind\": {\"enum\": [\"complete_laps\", \"avg_lap_under\", "
    "\"best_lap_under\", \"max_off_tracks\", \"max_crashes\", \"reward_check\"]}, \"value\": "
    "{\"type\": \"number\"}, \"points\": {\"type\": \"integer\"}}}}, \"seed\": {\"type\": "
    "\"integer\"}}},"
    " \"AssignmentChange\": {\"type\": \"object\", \"additionalProperties\": false, "
    "\"properties\": {\"name\": {\"type\": \"string\"}, \"description\": {\"type\": \"string\"}, "
    "\"deadline\": {\"type\": \"string\"}, \"accept_late\": {\"type\": \"boolean\"}, \"hidden\": "
    "{\"type\": \"boolean\"}, \"criteria\": {\"type\": \"array\"}}},"
    " \"AssignmentSubmit\": {\"type\": \"object\", \"required\": [\"model\"], "
    "\"additionalProperties\": false, \"properties\": {\"model\": {\"type\": \"integer\"}, "
    "\"version\": {\"type\": \"integer\", \"description\": \"default: the latest\"}}}}";

#define AP "/api/v1/assignments/{id}"

const td__route td__routes_assignments[] = {
    {"POST", "/api/v1/classes/{id}/assignments", post_assignment, TD__ALLOW_STAFF, TD__BODY_JSON,
     "Set a class an autograded assignment: a track (hidden until the deadline if asked), the "
     "evaluation's settings, a deadline and pass criteria with points",
     "{\"requestBody\": {\"required\": true, \"content\": " JJ(
         "AssignmentCreate") "}, \"responses\": {\"201\": {\"description\": \"created\"}}}"},
    {"GET", "/api/v1/classes/{id}/assignments", list_assignments, TD__ALLOW_USERS, TD__BODY_NONE,
     "A class's assignments, by deadline", NULL},
    {"GET", "/api/v1/classes/{id}/gradebook", get_gradebook, TD__ALLOW_STAFF, TD__BODY_NONE,
     "The class's gradebook: each learner's best grade and attempts per assignment, late "
     "marked; ?format=csv",
     "{\"responses\": {\"200\": {\"description\": \"the gradebook\", \"content\": "
     "{\"application/json\": {}, \"text/csv\": {}}}}}"},
    {"GET", AP, get_assignment, TD__ALLOW_USERS, TD__BODY_NONE,
     "An assignment (a hidden track without its name to a learner until the deadline)", NULL},
    {"PATCH", AP, patch_assignment, TD__ALLOW_STAFF, TD__BODY_JSON,
     "Change an assignment; what grading runs with is fixed once there are submissions",
     "{\"requestBody\": {\"required\": true, \"content\": " JJ(
         "AssignmentChange") "}, \"responses\": {\"409\": {\"$ref\": "
                             "\"#/components/responses/Error\"}}}"},
    {"DELETE", AP, delete_assignment, TD__ALLOW_STAFF, TD__BODY_NONE, "Delete an assignment (soft)",
     "{\"responses\": {\"204\": {\"description\": \"deleted\"}}}"},
    {"POST", AP "/submissions", post_sub, TD__ALLOW_USERS, TD__BODY_JSON,
     "Submit a version of one of your models for grading (frozen; after the deadline marked "
     "late, or refused when the assignment takes no late work)",
     "{\"requestBody\": {\"required\": true, \"content\": " JJ(
         "AssignmentSubmit") "}, \"responses\": {\"201\": {\"description\": \"submitted\"}, "
                             "\"409\": {\"$ref\": \"#/components/responses/Error\"}}}"},
    {"GET", AP "/submissions", list_subs, TD__ALLOW_USERS, TD__BODY_NONE,
     "Submissions and their grades, newest first: yours (every learner's for the class's "
     "instructors; ?user=)",
     NULL},
    {"GET", AP "/submissions/{sid}", get_sub, TD__ALLOW_USERS, TD__BODY_NONE,
     "A submission's grade: points per criterion, passed, late, the evaluation", NULL},
    {"GET", AP "/submissions/{sid}/download", get_sub_download, TD__ALLOW_USERS | TD__ALLOW_WORKER,
     TD__BODY_NONE, "The submission's frozen model version as .tar.gz",
     "{\"responses\": {\"200\": {\"description\": \"the archive\", \"content\": "
     "{\"application/gzip\": {}}}}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
