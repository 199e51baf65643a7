/*
 * models.c - the model registry: a model is a named line of versions owned by a user; a
 * version is an immutable fileset (a DeepRacer model directory: configuration, reward
 * function, checkpoints, metrics, simtrace) with its lineage (pushed, trained by job N from
 * version P, cloned from another model's version), who made it and when. Pushes arrive as
 * .tar.gz and are checked as model directories; downloads stream a .tar.gz; deleting is soft.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub/hub_internal.h"
#include "trackday/modeldir.h"

#define MODEL_COLS                                                                                 \
    "m.id, m.name, m.description, m.owner_id, u.username, m.latest_version, m.created_at, "        \
    "m.updated_at, m.parent_model_id, m.parent_version"
#define VERSION_COLS                                                                               \
    "v.model_id, v.version, v.created_at, v.created_by, u.username, v.source, v.job_id, "          \
    "v.parent_model_id, v.parent_version, v.bytes, v.content_sha256, v.reward_sha256, "            \
    "v.track, v.algorithm, v.sensor, v.action_space, v.metrics, v.fileset_id, v.file_count"

/* ------------------------------------------------------------------------------------ */
/* Visibility                                                                           */
/* ------------------------------------------------------------------------------------ */

int td__may_see_owner(td__req *r, int64_t owner_id)
{
    if (r->who.who != TD__WHO_USER)
        return 0;
    if (r->who.role == TD__ROLE_ADMIN || owner_id == r->who.id)
        return 1;
    return r->who.role == TD__ROLE_INSTRUCTOR && td__teaches(r, owner_id);
}

int td__model_get(td__req *r, int64_t id, td__model *m)
{
    td_db_rows *row;
    td_err err = {0};
    int rc;
    memset(m, 0, sizeof(*m));
    rc = td__db_query_row(td__req_db(r), &row, &err,
                          "SELECT m.owner_id, m.name, m.latest_version, u.username FROM models m "
                          "JOIN users u ON u.id = m.owner_id WHERE m.id = ? AND m.deleted_at IS "
                          "NULL",
                          "i", id);
    if (rc < 0)
        return td__fail_err(r, rc, &err), -1;
    if (rc > 0) {
        m->id = id;
        m->owner_id = td__db_int(row, 0);
        snprintf(m->name, sizeof(m->name), "%s", td__db_text(row, 1));
        m->latest_version = td__db_int(row, 2);
        snprintf(m->owner_name, sizeof(m->owner_name), "%s", td__db_text(row, 3));
        td__db_rows_free(row);
        if (td__may_see_owner(r, m->owner_id) ||
            (r->who.who == TD__WHO_WORKER && td__worker_may_read_model(r, id)))
            return 1;
    }
    td__fail(r, 404, "not_found", "no model %lld", (long long)id);
    return 0;
}

/* The caller may change the model (push, rename, delete): its owner or an admin. */
static int may_change(td__req *r, const td__model *m)
{
    if (r->who.who == TD__WHO_USER && (m->owner_id == r->who.id || r->who.role == TD__ROLE_ADMIN))
        return 1;
    td__fail(r, 403, "forbidden", "model %lld belongs to %s: only they (or an admin) may change it",
             (long long)m->id, m->owner_name);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* JSON                                                                                 */
/* ------------------------------------------------------------------------------------ */

static json_t *parent_json(td_db_rows *row, int mcol, int vcol)
{
    if (td__db_is_null(row, mcol))
        return json_null();
    return json_pack("{s:I,s:I}", "model", (json_int_t)td__db_int(row, mcol), "version",
                     (json_int_t)td__db_int(row, vcol));
}

/* Appends a string literal (its length known at compile time). */
#define SB_LIT(b, lit) td__sb_add((b), lit, sizeof(lit) - 1)

/*
 * A model row (MODEL_COLS) as its JSON object, written straight into b: the one spelling of
 * a model in replies (the list, the busiest read of the API, and model_json).
 */
static void model_sb(td__sb *b, td_db_rows *row)
{
    /* Each column (0-7) after its key: 'i' an integer, 's' a string, 't' a time. */
    static const struct {
        const char *key;
        char kind;
    } cols[] = {{"{\"id\":", 'i'},          {",\"name\":", 's'},
                {",\"description\":", 's'}, {",\"owner\":{\"id\":", 'i'},
                {",\"username\":", 's'},    {"},\"latest_version\":", 'i'},
                {",\"created_at\":", 't'},  {",\"updated_at\":", 't'}};
    for (int c = 0; c < (int)(sizeof(cols) / sizeof(cols[0])); c++) {
        td__sb_add(b, cols[c].key, strlen(cols[c].key));
        if (cols[c].kind == 's')
            td__sb_json_str(b, td__db_text(row, c));
        else if (cols[c].kind == 't')
            td__sb_time(b, td__db_int(row, c));
        else
            td__sb_int(b, td__db_int(row, c));
    }
    SB_LIT(b, ",\"parent\":");
    if (td__db_is_null(row, 8)) {
        SB_LIT(b, "null}");
        return;
    }
    SB_LIT(b, "{\"model\":");
    td__sb_int(b, td__db_int(row, 8));
    SB_LIT(b, ",\"version\":");
    td__sb_int(b, td__db_int(row, 9));
    SB_LIT(b, "}}");
}

/* The same object as a JSON tree (for replies that add to it); NULL when out of memory. */
static json_t *model_json(td_db_rows *row)
{
    td__sb b = {0};
    json_t *o = NULL;
    model_sb(&b, row);
    if (!b.failed)
        o = json_loadb(b.buf, b.len, 0, NULL);
    td_free(b.buf);
    return o;
}

static json_t *text_or_null(td_db_rows *row, int col)
{
    return td__db_is_null(row, col) ? json_null() : json_string(td__db_text(row, col));
}

static json_t *version_json(td_db_rows *row)
{
    json_t *metrics = json_null();
    if (!td__db_is_null(row, 16)) {
        json_t *m = json_loads(td__db_text(row, 16), 0, NULL);
        if (m)
            metrics = m;
    }
    return json_pack(
        "{s:I,s:I,s:o,s:{s:I,s:s},s:s,s:o,s:o,s:I,s:I,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "model",
        (json_int_t)td__db_int(row, 0), "version", (json_int_t)td__db_int(row, 1), "created_at",
        td__json_time(td__db_int(row, 2)), "created_by", "id", (json_int_t)td__db_int(row, 3),
        "username", td__db_text(row, 4), "source", td__db_text(row, 5), "job",
        td__db_is_null(row, 6) ? json_null() : json_integer(td__db_int(row, 6)), "parent",
        parent_json(row, 7, 8), "bytes", (json_int_t)td__db_int(row, 9), "files",
        (json_int_t)td__db_int(row, 18), "content_sha256", td__db_text(row, 10), "reward_sha256",
        text_or_null(row, 11), "track", text_or_null(row, 12), "algorithm", text_or_null(row, 13),
        "sensor", text_or_null(row, 14), "action_space", text_or_null(row, 15), "metrics", metrics);
}

/* ------------------------------------------------------------------------------------ */
/* Checking a model directory                                                           */
/* ------------------------------------------------------------------------------------ */

void td__model_meta_free(td__model_meta *m)
{
    td_free(m->metrics_json);
    memset(m, 0, sizeof(*m));
}

/* Writes the configuration files of the fileset into a scratch directory and reads them as
 * `trackday train` would, so a push that training would refuse is refused now, with the
 * same message. */
int td__model_meta_from_fileset(td_hub *h, const td__fileset *fs, td__model_meta *meta, td_err *err)
{
    static const char *const config[] = {"model_metadata.json", "hyperparameters.json",
                                         "training_params.yaml", "reward_function.py"};
    char dir[1200], path[1400];
    td_model_dir md;
    int rc = 0;
    memset(meta, 0, sizeof(*meta));
    for (int i = 0; i < 2; i++)
        if (!td__fileset_find(fs, config[i]))
            return td_err_set(err, TD_EINVAL,
                              "not a model directory: %s is missing (trackday init makes one)",
                              config[i]);
    snprintf(dir, sizeof(dir), "%s/tmp/check-%s-XXXXXX", h->data_dir, td__tmp_tag());
    if (!mkdtemp(dir))
        return td_err_set(err, TD_EIO, "%s: cannot make a scratch directory", dir);
    for (int i = 0; i < 4 && !rc; i++) {
        const td__file_entry *e = td__fileset_find(fs, config[i]);
        char *data;
        size_t len;
        if (!e)
            continue;
        rc = td__fileset_read(h, e, &data, &len, 1 << 20, err);
        if (!rc) {
            snprintf(path, sizeof(path), "%s/%s", dir, config[i]);
            rc = td_file_write_atomic(path, data, len, err);
            td_free(data);
        }
    }
    if (!rc) {
        rc = td_model_dir_load(&md, dir, err);
        if (rc && err) {
            /* The scratch directory's name means nothing to the user. */
            char *p = strstr(err->msg, dir);
            if (p) {
                size_t n = strlen(dir);
                memmove(p, p + n + (p[n] == '/'), strlen(p + n + (p[n] == '/')) + 1);
            }
        }
    }
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, config[i]);
        unlink(path);
    }
    rmdir(dir);
    if (rc)
        return rc;
    snprintf(meta->algorithm, sizeof(meta->algorithm), "%s",
             td_algorithm_name(md.metadata.algorithm));
    if (md.metadata.state_sensor)
        snprintf(meta->sensor, sizeof(meta->sensor), "STATE");
    else
        snprintf(meta->sensor, sizeof(meta->sensor), "%s%s%s",
                 md.metadata.camera ? td_camera_sensor_name(md.metadata.camera) : "",
                 md.metadata.camera && md.metadata.lidar ? "+" : "",
                 md.metadata.lidar ? td_lidar_sensor_name(md.metadata.lidar) : "");
    snprintf(meta->action_space, sizeof(meta->action_space), "%s",
             md.metadata.action_space_type == TD_ACTIONS_CONTINUOUS ? "continuous" : "discrete");
    snprintf(meta->track, sizeof(meta->track), "%s", md.training.world_name);
    const td__file_entry *rw = td__fileset_find(fs, "reward_function.py");
    if (rw)
        snprintf(meta->reward_sha, sizeof(meta->reward_sha), "%s", rw->sha);
    /* The last line of the training metrics summarises the run. */
    const td__file_entry *me = td__fileset_find(fs, "metrics/training.jsonl");
    if (me) {
        char *data;
        size_t len;
        if (td__fileset_read(h, me, &data, &len, 64u << 20, NULL) == 0) {
            while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
                data[--len] = 0;
            char *last = strrchr(data, '\n');
            last = last ? last + 1 : data;
            json_t *o = json_loads(last, 0, NULL);
            if (json_is_object(o)) {
                meta->metrics_json = td_strdup(last);
                meta->iterations = json_integer_value(json_object_get(o, "iteration"));
            }
            json_decref(o);
            td_free(data);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Versions                                                                             */
/* ------------------------------------------------------------------------------------ */

int td__model_version_files(td_db_conn *c, int64_t model_id, int64_t version, int64_t *fileset_id,
                            char sha[65], td_err *err)
{
    td_db_rows *row = NULL;
    int rc = td__db_query_row(c, &row, err,
                              "SELECT fileset_id, content_sha256 FROM model_versions WHERE "
                              "model_id = ? AND version = ?",
                              "ii", model_id, version);
    if (rc > 0) {
        *fileset_id = td__db_int(row, 0);
        snprintf(sha, 65, "%s", td__db_text(row, 1));
        td__db_rows_free(row);
    }
    return rc;
}

int td__submission_model(td__req *r, int64_t model_id, int64_t *version)
{
    td__model m;
    if (td__model_get(r, model_id, &m) <= 0)
        return 1;
    if (m.owner_id != r->who.id)
        return td__fail(r, 403, "forbidden", "model %lld belongs to %s: submit your own models",
                        (long long)model_id, m.owner_name);
    if (!*version)
        *version = m.latest_version;
    return 0;
}

int td__submission_files(td__req *r, td_db_conn *c, int64_t model_id, int64_t version,
                         int64_t *fileset_id, char sha[65])
{
    td_err err = {0};
    int rc = td__model_version_files(c, model_id, version, fileset_id, sha, &err);
    if (rc > 0)
        return 0;
    td__db_rollback(c);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    return td__fail(r, 404, "not_found", "model %lld has no version %lld", (long long)model_id,
                    (long long)version);
}

int td__model_add_version(td_hub *h, td_db_conn *c, int64_t model_id, int64_t fileset_id,
                          const td__fileset *fs, const td__model_meta *meta, const char *source,
                          int64_t created_by, int64_t job_id, int64_t parent_model,
                          int64_t parent_version, int64_t *version, td_err *err)
{
    int64_t v = 0, now = td__hub_now(h);
    int rc = td__db_int_query(c, &v, 0, err,
                              "SELECT latest_version FROM models WHERE id = ? AND deleted_at IS "
                              "NULL",
                              "i", model_id);
    if (rc)
        return rc;
    v++;
    rc = td__db_exec(
        c, err,
        "INSERT INTO model_versions (model_id, version, fileset_id, source, created_by, "
        "created_at, job_id, parent_model_id, parent_version, reward_sha256, track, algorithm, "
        "sensor, action_space, metrics, bytes, file_count, content_sha256) VALUES (?, ?, ?, ?, ?, "
        "?, NULLIF(?, 0), NULLIF(?, 0), NULLIF(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "iiitiiiiittttttiit", model_id, v, fileset_id, source, created_by, now, job_id,
        parent_model, parent_version, meta->reward_sha[0] ? meta->reward_sha : NULL,
        meta->track[0] ? meta->track : NULL, meta->algorithm, meta->sensor, meta->action_space,
        meta->metrics_json, (int64_t)fs->bytes, (int64_t)fs->count, fs->content_sha);
    if (!rc)
        rc =
            td__db_exec(c, err, "UPDATE models SET latest_version = ?, updated_at = ? WHERE id = ?",
                        "iii", v, now, model_id);
    if (!rc && version)
        *version = v;
    return rc;
}

/* Ingests the request's upload as a model directory into a new fileset. Replies (and returns
 * 1) when the archive is refused. */
static int ingest_upload(td__req *r, td__fileset *fs, td__model_meta *meta)
{
    td_err err = {0};
    int rc;
    if (!r->upload_len)
        return td__fail(r, 400, "bad_request",
                        "the body must be a model directory as .tar.gz (trackday push DIR)");
    rc = td__fileset_ingest(r->hub, r->upload_path, 1, fs, &err);
    if (rc)
        return td__fail_err(r, rc == TD_EIO ? TD_EFORMAT : rc, &err);
    rc = td__model_meta_from_fileset(r->hub, fs, meta, &err);
    if (rc) {
        td__fileset_free(fs);
        return td__fail(r, 400, "bad_request", "%s", err.msg);
    }
    return 0;
}

static int reply_version(td__req *r, int status, int64_t model_id, int64_t version, int detail);

/* ------------------------------------------------------------------------------------ */
/* Routes: models                                                                       */
/* ------------------------------------------------------------------------------------ */

static int list_models(td__req *r)
{
    int64_t limit, after, owner = 0;
    const char *name = td__req_query(r, "name");
    td_db_rows *rows;
    td_err err = {0};
    int rc;
    if (td__query_int(r, "limit", 50, 1, 500, &limit) ||
        td__query_int(r, "after", 0, 0, INT64_MAX, &after) ||
        td__query_int(r, "owner", 0, 0, INT64_MAX, &owner))
        return 1;
    if (owner && !td__may_see_owner(r, owner))
        return td__fail(r, 404, "not_found", "no user %lld", (long long)owner);
    if (!owner && r->who.role != TD__ROLE_ADMIN && r->who.role != TD__ROLE_INSTRUCTOR)
        owner = r->who.id;
    if (owner)
        rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " MODEL_COLS " FROM models m JOIN users u ON u.id = m.owner_id "
                          "WHERE m.owner_id = ? AND m.deleted_at IS NULL AND m.id > ? AND (? IS "
                          "NULL OR m.name = ?) ORDER BY m.id LIMIT ?",
                          "iitti", owner, after, name, name, limit + 1);
    else if (r->who.role == TD__ROLE_ADMIN)
        rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " MODEL_COLS " FROM models m JOIN users u ON u.id = m.owner_id "
                          "WHERE m.deleted_at IS NULL AND m.id > ? AND (? IS NULL OR m.name = ?) "
                          "ORDER BY m.id LIMIT ?",
                          "itti", after, name, name, limit + 1);
    else /* an instructor: their own and their classes' members' */
        rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " MODEL_COLS " FROM models m JOIN users u ON u.id = m.owner_id "
                          "WHERE m.deleted_at IS NULL AND m.id > ? AND (? IS NULL OR m.name = ?) "
                          "AND (m.owner_id = ? OR m.owner_id IN (" TD__TAUGHT_USERS_SQL ")) "
                          "ORDER BY m.id LIMIT ?",
                          "ittiii", after, name, name, r->who.id, r->who.id, limit + 1);
    if (rc)
        return td__fail_err(r, rc, &err);
    /* The busiest read of the API (a class's learners watching their models): written
     * straight into the reply (model_sb). */
    td__sb b = {0};
    int64_t n = 0, last = 0;
    int more = 0;
    td__sb_str(&b, "{\"models\":[");
    while ((rc = td__db_next(rows, &err)) > 0) {
        if (n == limit) {
            more = 1;
            break;
        }
        if (n)
            td__sb_add(&b, ",", 1);
        model_sb(&b, rows);
        last = td__db_int(rows, 0);
        n++;
    }
    td__db_rows_free(rows);
    if (rc < 0) {
        td_free(b.buf);
        return td__fail_err(r, rc, &err);
    }
    td__sb_str(&b, "],\"next_after\":");
    if (more)
        td__sb_int(&b, last);
    else
        td__sb_str(&b, "null");
    td__sb_str(&b, "}");
    return td__reply_sb(r, 200, &b);
}

/* Every version of model id, oldest first, as a new array in *out (also on error, < 0). */
static int versions_json(td__req *r, int64_t id, json_t **out, td_err *err)
{
    td_db_rows *rows = NULL;
    *out = json_array();
    int rc = td__db_query(td__req_db(r), &rows, err,
                          "SELECT " VERSION_COLS " FROM model_versions v JOIN users u ON u.id = "
                          "v.created_by WHERE v.model_id = ? ORDER BY v.version",
                          "i", id);
    if (!rc)
        while ((rc = td__db_next(rows, err)) > 0)
            json_array_append_new(*out, version_json(rows));
    td__db_rows_free(rows);
    return rc;
}

static int reply_model(td__req *r, int status, int64_t id, json_t *extra)
{
    td_db_rows *row;
    td_err err = {0};
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT " MODEL_COLS " FROM models m JOIN users u ON u.id = "
                              "m.owner_id WHERE m.id = ?",
                              "i", id);
    if (rc <= 0) {
        json_decref(extra);
        return td__fail_err(r, rc ? rc : TD_ENOENT, &err);
    }
    json_t *o = model_json(row);
    td__db_rows_free(row);
    json_t *versions;
    rc = versions_json(r, id, &versions, &err);
    json_object_set_new(o, "versions", versions);
    if (extra)
        json_object_update(o, extra);
    json_decref(extra);
    if (rc < 0) {
        json_decref(o);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, status, o);
}

static int post_model(td__req *r)
{
    const char *name = td__req_query(r, "name"), *desc = td__req_query(r, "description");
    td__fileset fs;
    td__model_meta meta;
    td_db_conn *c;
    td_err err = {0};
    int64_t id = 0, fsid = 0, now = td__hub_now(r->hub);
    int rc;
    if (!name)
        return td__fail(r, 400, "bad_request",
                        "the model needs a name: POST /api/v1/models?name=N");
    if (!td__valid_name(name, 64))
        return td__fail(r, 400, "bad_request",
                        "model name '%.64s': use 1-64 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit",
                        name);
    if (desc && strlen(desc) > 500)
        return td__fail(r, 400, "bad_request", "the description is longer than 500 characters");
    if (ingest_upload(r, &fs, &meta))
        return 1;
    if (td__quota_check(r, r->who.id, TD__QUOTA_MODELS | TD__QUOTA_STORAGE, fs.bytes, 0)) {
        td__fileset_free(&fs);
        td__model_meta_free(&meta);
        return 1;
    }
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (!rc) {
        rc = td__db_insert_id(c, &id, &err,
                              "INSERT INTO models (owner_id, name, description, created_at, "
                              "updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                              "ittii", r->who.id, name, desc ? desc : "", now, now);
        if (rc == TD_ECONFLICT) {
            td_err_set(&err, TD_ECONFLICT,
                       "you already have a model named '%s' (push a new version to it, or "
                       "choose another name)",
                       name);
        }
    }
    if (!rc)
        rc = td__fileset_insert(r->hub, c, &fs, &fsid, &err);
    if (!rc)
        rc = td__model_add_version(r->hub, c, id, fsid, &fs, &meta, "push", r->who.id, 0, 0, 0,
                                   NULL, &err);
    if (!rc)
        rc = td__db_commit(c, &err);
    td__fileset_free(&fs);
    td__model_meta_free(&meta);
    if (rc) {
        td__db_rollback(c);
        return td__fail_err(r, rc, &err);
    }
    td__req_location(r, "/api/v1/models/%lld", (long long)id);
    return reply_model(r, 201, id, NULL);
}

static int get_model(td__req *r)
{
    td__model m;
    int64_t id;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0)
        return 1;
    return reply_model(r, 200, id, NULL);
}

static int patch_model(td__req *r)
{
    td__model m;
    json_t *o;
    const char *name = NULL, *desc = NULL;
    td_err err = {0};
    int64_t id;
    int rc = 0;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0 || !may_change(r, &m) ||
        td__req_json(r, &o) || td__only_keys(r, o, "name,description") ||
        td__arg_str(r, o, "name", 0, 64, &name) || td__arg_str(r, o, "description", 0, 500, &desc))
        return 1;
    if (name && !td__valid_name(name, 64))
        return td__fail(r, 400, "bad_request",
                        "model name '%.64s': use 1-64 letters, digits, '.', '_' or '-'", name);
    if (name)
        rc = td__db_exec(td__req_db(r), &err, "UPDATE models SET name = ? WHERE id = ?", "ti", name,
                         id);
    /* Leaderboards show the model's name. */
    if (name && !rc)
        rc = td__league_bump_model(td__req_db(r), id, &err);
    if (rc == TD_ECONFLICT)
        return td__fail(r, 409, "conflict", "%s already has a model named '%s'", m.owner_name,
                        name);
    if (!rc && desc)
        rc = td__db_exec(td__req_db(r), &err, "UPDATE models SET description = ? WHERE id = ?",
                         "ti", desc, id);
    if (rc)
        return td__fail_err(r, rc, &err);
    return reply_model(r, 200, id, NULL);
}

static int delete_model(td__req *r)
{
    td__model m;
    td_err err = {0};
    int64_t id, active = 0;
    int rc;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0 || !may_change(r, &m))
        return 1;
    rc = td__db_int_query(td__req_db(r), &active, 0, &err, TD__ACTIVE_JOBS_OF_MODEL_SQL, "i", id);
    if (!rc && active)
        return td__fail(r, 409, "conflict",
                        "model %lld has %lld queued or running jobs: cancel them first",
                        (long long)id, (long long)active);
    /* Soft: the versions stay (lineage of clones and jobs points at them) but no longer count
     * against the owner's storage quota and the name is free again. */
    if (!rc)
        rc = td__db_exec(td__req_db(r), &err, "UPDATE models SET deleted_at = ? WHERE id = ?", "ii",
                         td__hub_now(r->hub), id);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_empty(r, 204);
}

/* Which version a request means: {v} of the path, "latest" or a number. */
static int version_param(td__req *r, int i, const td__model *m, int64_t *v)
{
    if (i < r->nparams && !strcmp(r->params[i], "latest")) {
        *v = m->latest_version;
        if (*v > 0)
            return 0;
    } else if (!td__param_id(r, i, "version", v)) {
        int64_t n = 0;
        td__db_int_query(td__req_db(r), &n, 0, NULL,
                         "SELECT COUNT(*) FROM model_versions WHERE model_id = ? AND version = ?",
                         "ii", m->id, *v);
        if (n)
            return 0;
    } else {
        return 1;
    }
    return td__fail(r, 404, "not_found", "model %lld has no version %s", (long long)m->id,
                    i < r->nparams ? r->params[i] : "");
}

static int post_clone(td__req *r)
{
    td__model m;
    json_t *o;
    const char *name = NULL;
    int64_t id, v = 0, fsid = 0, new_id = 0, now = td__hub_now(r->hub), bytes = 0;
    td_db_conn *c;
    td_db_rows *row;
    td_err err = {0};
    int rc;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0 || td__req_json(r, &o) ||
        td__only_keys(r, o, "name,version") || td__arg_str(r, o, "name", 1, 64, &name) ||
        td__arg_int(r, o, "version", 0, 1, INT64_MAX, &v))
        return 1;
    if (r->who.who != TD__WHO_USER)
        return td__fail(r, 403, "forbidden", "only users clone models");
    if (!td__valid_name(name, 64))
        return td__fail(r, 400, "bad_request",
                        "model name '%.64s': use 1-64 letters, digits, '.', '_' or '-'", name);
    if (!v)
        v = m.latest_version;
    c = td__req_db(r);
    rc = td__db_query_row(c, &row, &err,
                          "SELECT fileset_id, bytes FROM model_versions WHERE model_id = ? AND "
                          "version = ?",
                          "ii", id, v);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (rc == 0)
        return td__fail(r, 404, "not_found", "model %lld has no version %lld", (long long)id,
                        (long long)v);
    fsid = td__db_int(row, 0);
    bytes = td__db_int(row, 1);
    td__db_rows_free(row);
    if (td__quota_check(r, r->who.id, TD__QUOTA_MODELS | TD__QUOTA_STORAGE, (uint64_t)bytes, 0))
        return 1;
    rc = td__db_begin(c, 1, &err);
    if (!rc) {
        rc = td__db_query_row(c, &row, &err,
                              "INSERT INTO models (owner_id, name, description, created_at, "
                              "updated_at, parent_model_id, parent_version) SELECT ?, ?, "
                              "description, ?, ?, id, ? FROM models WHERE id = ? RETURNING id",
                              "itiiii", r->who.id, name, now, now, v, id);
        if (rc > 0) {
            new_id = td__db_int(row, 0);
            td__db_rows_free(row);
            rc = 0;
        } else if (rc == TD_ECONFLICT) {
            td_err_set(&err, TD_ECONFLICT, "you already have a model named '%s'", name);
        } else if (rc == 0) {
            rc = TD_EINTERNAL;
        }
    }
    /* The clone's first version shares the source version's files: nothing is copied. */
    if (!rc)
        rc = td__db_exec(
            c, &err,
            "INSERT INTO model_versions (model_id, version, fileset_id, source, created_by, "
            "created_at, parent_model_id, parent_version, reward_sha256, track, algorithm, "
            "sensor, action_space, metrics, bytes, file_count, content_sha256) SELECT ?, 1, "
            "fileset_id, 'clone', ?, ?, model_id, version, reward_sha256, track, algorithm, "
            "sensor, action_space, metrics, bytes, file_count, content_sha256 FROM "
            "model_versions WHERE model_id = ? AND version = ?",
            "iiiii", new_id, r->who.id, now, id, v);
    if (!rc)
        rc = td__db_exec(c, &err, "UPDATE models SET latest_version = 1 WHERE id = ?", "i", new_id);
    if (!rc)
        rc = td__db_commit(c, &err);
    (void)fsid;
    if (rc) {
        td__db_rollback(c);
        return td__fail_err(r, rc, &err);
    }
    return reply_model(r, 201, new_id, NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Routes: versions                                                                     */
/* ------------------------------------------------------------------------------------ */

static int list_versions(td__req *r)
{
    td__model m;
    td_err err = {0};
    int64_t id;
    int rc;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0)
        return 1;
    json_t *arr;
    rc = versions_json(r, id, &arr, &err);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "versions", arr));
}

static int post_version(td__req *r)
{
    td__model m;
    td__fileset fs;
    td__model_meta meta;
    td_db_conn *c;
    td_err err = {0};
    int64_t id, fsid = 0, v = 0;
    int rc;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0 || !may_change(r, &m))
        return 1;
    if (ingest_upload(r, &fs, &meta))
        return 1;
    if (td__quota_check(r, m.owner_id, TD__QUOTA_STORAGE, fs.bytes, 0)) {
        td__fileset_free(&fs);
        td__model_meta_free(&meta);
        return 1;
    }
    c = td__req_db(r);
    rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__fileset_insert(r->hub, c, &fs, &fsid, &err);
    /* A pushed version descends from the model's latest version at the time. */
    if (!rc) {
        int64_t latest = 0;
        rc = td__db_int_query(c, &latest, 0, &err, "SELECT latest_version FROM models WHERE id = ?",
                              "i", id);
        if (!rc)
            rc = td__model_add_version(r->hub, c, id, fsid, &fs, &meta, "push", r->who.id, 0,
                                       latest ? id : 0, latest, &v, &err);
    }
    if (!rc)
        rc = td__db_commit(c, &err);
    td__fileset_free(&fs);
    td__model_meta_free(&meta);
    if (rc) {
        td__db_rollback(c);
        return td__fail_err(r, rc, &err);
    }
    return reply_version(r, 201, id, v, 1);
}

static int reply_version(td__req *r, int status, int64_t model_id, int64_t version, int detail)
{
    td_db_rows *row;
    td_err err = {0};
    td__fileset fs;
    int64_t fsid;
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT " VERSION_COLS " FROM model_versions v JOIN users u ON u.id "
                              "= v.created_by WHERE v.model_id = ? AND v.version = ?",
                              "ii", model_id, version);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_ENOENT, &err);
    json_t *o = version_json(row);
    fsid = td__db_int(row, 17);
    td__db_rows_free(row);
    if (detail && td__fileset_load(td__req_db(r), fsid, &fs, &err) == 0) {
        static const char *const inline_json[] = {"model_metadata.json", "hyperparameters.json"};
        json_object_set_new(o, "file_list", td__fileset_json(&fs));
        for (int i = 0; i < 2; i++) {
            const td__file_entry *e = td__fileset_find(&fs, inline_json[i]);
            char *data;
            size_t len;
            char key[64];
            snprintf(key, sizeof(key), "%.*s", (int)(strlen(inline_json[i]) - 5), inline_json[i]);
            if (e && td__fileset_read(r->hub, e, &data, &len, 1 << 20, NULL) == 0) {
                json_t *j = json_loadb(data, len, 0, NULL);
                json_object_set_new(o, key, j ? j : json_null());
                td_free(data);
            }
        }
        const td__file_entry *e = td__fileset_find(&fs, "reward_function.py");
        char *data;
        size_t len;
        if (e && td__fileset_read(r->hub, e, &data, &len, 64 * 1024, NULL) == 0) {
            json_t *s = json_stringn_nocheck(data, len);
            json_object_set_new(o, "reward_function",
                                json_is_string(s) && json_string_value(s) ? s : json_null());
            td_free(data);
        }
        td__fileset_free(&fs);
    }
    return td__reply_json(r, status, o);
}

static int get_version(td__req *r)
{
    td__model m;
    int64_t id, v;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0 ||
        version_param(r, 1, &m, &v))
        return 1;
    return reply_version(r, 200, id, v, 1);
}

static int get_lineage(td__req *r)
{
    td__model m;
    int64_t id, v;
    td_err err = {0};
    json_t *chain;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0 ||
        version_param(r, 1, &m, &v))
        return 1;
    /* Follows parents up to the first version; a parent in a model the caller may not see is
     * shown by its numbers only. */
    chain = json_array();
    for (int depth = 0; id && depth < 1000; depth++) {
        td_db_rows *row;
        int rc = td__db_query_row(td__req_db(r), &row, &err,
                                  "SELECT " VERSION_COLS ", m.owner_id FROM model_versions v JOIN "
                                  "users u ON u.id = v.created_by JOIN models m ON m.id = "
                                  "v.model_id WHERE v.model_id = ? AND v.version = ?",
                                  "ii", id, v);
        if (rc <= 0)
            break;
        int visible = td__may_see_owner(r, td__db_int(row, 19)) || depth == 0;
        json_array_append_new(chain, visible ? version_json(row)
                                             : json_pack("{s:I,s:I,s:b}", "model", (json_int_t)id,
                                                         "version", (json_int_t)v, "hidden", 1));
        int64_t pm = td__db_is_null(row, 7) ? 0 : td__db_int(row, 7);
        int64_t pv = td__db_is_null(row, 8) ? 0 : td__db_int(row, 8);
        td__db_rows_free(row);
        if (!visible)
            break;
        id = pm;
        v = pv;
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "lineage", chain));
}

static int get_download(td__req *r)
{
    td__model m;
    td__fileset fs;
    td_err err = {0};
    int64_t id, v, fsid = 0, created = 0;
    td_db_rows *row;
    char filename[160];
    int rc;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0 ||
        version_param(r, 1, &m, &v))
        return 1;
    rc = td__db_query_row(td__req_db(r), &row, &err,
                          "SELECT fileset_id, created_at FROM model_versions WHERE model_id = ? "
                          "AND version = ?",
                          "ii", id, v);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_ENOENT, &err);
    fsid = td__db_int(row, 0);
    created = td__db_int(row, 1);
    td__db_rows_free(row);
    rc = td__fileset_load(td__req_db(r), fsid, &fs, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    snprintf(filename, sizeof(filename), "%s-v%lld.tar.gz", m.name, (long long)v);
    rc = td__reply_fileset_tgz(r, &fs, filename, created);
    td__fileset_free(&fs);
    return rc;
}

static const char *file_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } t[] = {{".json", "application/json"},
             {".jsonl", "application/jsonl"},
             {".csv", "text/csv; charset=utf-8"},
             {".py", "text/plain; charset=utf-8"},
             {".yaml", "text/plain; charset=utf-8"},
             {".md", "text/plain; charset=utf-8"},
             {".txt", "text/plain; charset=utf-8"},
             {".png", "image/png"},
             {".svg", "image/svg+xml"}};
    const char *dot = strrchr(path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
            if (!strcmp(dot, t[i].ext))
                return t[i].type;
    return "application/octet-stream";
}

static int get_file(td__req *r)
{
    td__model m;
    td__fileset fs;
    td_err err = {0};
    int64_t id, v, fsid = 0;
    char clean[TD_TAR_PATH_MAX + 16];
    int rc;
    if (td__param_id(r, 0, "model", &id) || td__model_get(r, id, &m) <= 0 ||
        version_param(r, 1, &m, &v))
        return 1;
    if (r->nparams < 3 || td__path_clean(r->params[2], clean, sizeof(clean), &err))
        return td__fail(r, 404, "not_found", "no such file");
    rc = td__db_int_query(td__req_db(r), &fsid, 0, &err,
                          "SELECT fileset_id FROM model_versions WHERE model_id = ? AND "
                          "version = ?",
                          "ii", id, v);
    if (!rc)
        rc = td__fileset_load(td__req_db(r), fsid, &fs, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    const td__file_entry *e = td__fileset_find(&fs, clean);
    if (!e) {
        td__fileset_free(&fs);
        return td__fail(r, 404, "not_found", "version %lld of model %lld has no file '%s'",
                        (long long)v, (long long)id, clean);
    }
    /* Stored files are shown, never run, by a browser. */
    td__req_add_header(r, "Content-Disposition", "inline");
    rc = td__reply_blob(r, e, file_type(clean));
    td__fileset_free(&fs);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Routes                                                                               */
/* ------------------------------------------------------------------------------------ */

#define JREF(s) "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/" s "\"}}}"

const char td__models_schemas[] =
    "{\"Model\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, "
    "\"name\": {\"type\": \"string\"}, \"description\": {\"type\": \"string\"}, \"owner\": "
    "{\"type\": \"object\"}, \"latest_version\": {\"type\": \"integer\"}, \"created_at\": "
    "{\"type\": \"string\"}, \"updated_at\": {\"type\": \"string\"}, \"parent\": {\"type\": "
    "[\"object\", \"null\"]}, \"versions\": {\"type\": \"array\", \"items\": {\"$ref\": "
    "\"#/components/schemas/Version\"}}}},"
    " \"ModelList\": {\"type\": \"object\", \"properties\": {\"models\": {\"type\": \"array\", "
    "\"items\": {\"$ref\": \"#/components/schemas/Model\"}}, \"next_after\": {\"type\": "
    "[\"integer\", \"null\"]}}},"
    " \"Version\": {\"type\": \"object\", \"properties\": {\"model\": {\"type\": \"integer\"}, "
    "\"version\": {\"type\": \"integer\"}, \"created_at\": {\"type\": \"string\"}, "
    "\"created_by\": {\"type\": \"object\"}, \"source\": {\"enum\": [\"push\", \"train\", "
    "\"clone\"]}, \"job\": {\"type\": [\"integer\", \"null\"]}, \"parent\": {\"type\": "
    "[\"object\", \"null\"]}, \"bytes\": {\"type\": \"integer\"}, \"files\": {\"type\": "
    "\"integer\"}, \"content_sha256\": {\"type\": \"string\"}, \"reward_sha256\": {\"type\": "
    "[\"string\", \"null\"]}, \"track\": {\"type\": [\"string\", \"null\"]}, \"algorithm\": "
    "{\"type\": [\"string\", \"null\"]}, \"sensor\": {\"type\": [\"string\", \"null\"]}, "
    "\"action_space\": {\"type\": [\"string\", \"null\"]}, \"metrics\": {\"type\": "
    "[\"object\", \"null\"]}, \"file_list\": {\"type\": \"array\"}, \"model_metadata\": "
    "{\"type\": \"object\"}, \"hyperparameters\": {\"type\": \"object\"}, \"reward_function\": "
    "{\"type\": [\"string\", \"null\"]}}},"
    " \"Clone\": {\"type\": \"object\", \"required\": [\"name\"], \"additionalProperties\": "
    "false, \"properties\": {\"name\": {\"type\": \"string\"}, \"version\": {\"type\": "
    "\"integer\"}}},"
    " \"ModelPatch\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"name\": {\"type\": \"string\"}, \"description\": {\"type\": \"string\"}}}}";

const td__route td__routes_models[] = {
    {"GET", "/api/v1/models", list_models, TD__ALLOW_USERS, TD__BODY_NONE,
     "Models: your own (learner), your own and your classes' members' (instructor), all "
     "(admin); ?owner=ID, ?name=, ?limit= (50), ?after=ID",
     "{\"responses\": {\"200\": {\"description\": \"a page of models\", \"content\": " JREF(
         "ModelList") "}}}"},
    {"POST", "/api/v1/models", post_model, TD__ALLOW_USERS, TD__BODY_UPLOAD,
     "Register a model: the body is the model directory as .tar.gz (trackday push DIR); "
     "?name=N, ?description=; version 1 is the upload",
     "{\"parameters\": [{\"name\": \"name\", \"in\": \"query\", \"required\": true, "
     "\"schema\": "
     "{\"type\": \"string\"}}], \"responses\": {\"201\": {\"description\": \"registered\", "
     "\"content\": " JREF("Model") "}, \"409\": {\"$ref\": \"#/components/responses/Error\"}}}"},
    {"GET", "/api/v1/models/{id}", get_model, TD__ALLOW_USERS, TD__BODY_NONE,
     "A model and its versions",
     "{\"responses\": {\"200\": {\"description\": \"the model\", \"content\": " JREF(
         "Model") "}}}"},
    {"PATCH", "/api/v1/models/{id}", patch_model, TD__ALLOW_USERS, TD__BODY_JSON,
     "Rename a model or change its description (owner or admin)",
     "{\"requestBody\": {\"required\": true, \"content\": " JREF("ModelPatch") "}}"},
    {"DELETE", "/api/v1/models/{id}", delete_model, TD__ALLOW_USERS, TD__BODY_NONE,
     "Delete a model (soft: its storage no longer counts against the quota; owner or admin)",
     "{\"responses\": {\"204\": {\"description\": \"deleted\"}, \"409\": {\"$ref\": "
     "\"#/components/responses/Error\"}}}"},
    {"POST", "/api/v1/models/{id}/clone", post_clone, TD__ALLOW_USERS, TD__BODY_JSON,
     "Clone a version (default the latest) into a new model of yours; its lineage points back",
     "{\"requestBody\": {\"required\": true, \"content\": " JREF(
         "Clone") "}, \"responses\": {\"201\": {\"description\": \"the clone\", "
                  "\"content\": " JREF("Model") "}}}"},
    {"GET", "/api/v1/models/{id}/versions", list_versions, TD__ALLOW_USERS, TD__BODY_NONE,
     "A model's versions", NULL},
    {"POST", "/api/v1/models/{id}/versions", post_version, TD__ALLOW_USERS, TD__BODY_UPLOAD,
     "Push a new version (.tar.gz of the model directory; owner or admin)",
     "{\"responses\": {\"201\": {\"description\": \"the new version\", \"content\": " JREF(
         "Version") "}}}"},
    {"GET", "/api/v1/models/{id}/versions/{v}", get_version, TD__ALLOW_USERS | TD__ALLOW_WORKER,
     TD__BODY_NONE,
     "A version ({v} a number or 'latest'): lineage, files, metadata, hyperparameters, reward "
     "function and its SHA-256, metrics summary",
     "{\"responses\": {\"200\": {\"description\": \"the version\", \"content\": " JREF(
         "Version") "}}}"},
    {"GET", "/api/v1/models/{id}/versions/{v}/lineage", get_lineage, TD__ALLOW_USERS, TD__BODY_NONE,
     "The version and its ancestors (parent, its parent, ...)", NULL},
    {"GET", "/api/v1/models/{id}/versions/{v}/download", get_download,
     TD__ALLOW_USERS | TD__ALLOW_WORKER, TD__BODY_NONE,
     "The version's model directory as .tar.gz (trackday pull)",
     "{\"responses\": {\"200\": {\"description\": \"the archive\", \"content\": "
     "{\"application/gzip\": {}}}}}"},
    {"GET", "/api/v1/models/{id}/versions/{v}/files/{path*}", get_file,
     TD__ALLOW_USERS | TD__ALLOW_WORKER, TD__BODY_NONE,
     "One file of a version (metrics/training.jsonl, reward_function.py, a simtrace...)",
     "{\"responses\": {\"200\": {\"description\": \"the file\"}}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
