/*
 * classes.c - classes: an instructor's group of learners with a quota, a join code for
 * learners to join by themselves, members added one by one or from a CSV roster (name, email,
 * role), per-learner quota overrides and each member's usage. The instructor who creates a
 * class is its first instructor member; instructors manage only the classes they teach.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"

#define CLASS_COLS                                                                                 \
    "c.id, c.name, c.description, c.owner_id, c.join_code, c.created_at, "                         \
    "c.quota_training_minutes, c.quota_concurrent_jobs, c.quota_models, c.quota_storage_mb, "      \
    "(SELECT COUNT(*) FROM class_members x WHERE x.class_id = c.id AND x.role = 'learner')"

/* ------------------------------------------------------------------------------------ */
/* Who teaches whom                                                                     */
/* ------------------------------------------------------------------------------------ */

int td__teaches(td__req *r, int64_t uid)
{
    int64_t n = 0;
    if (r->who.who != TD__WHO_USER)
        return 0;
    td__db_int_query(td__req_db(r), &n, 0, NULL,
                     "SELECT COUNT(*) FROM class_members cm WHERE cm.user_id = ? AND "
                     "cm.class_id IN (" TD__TAUGHT_CLASSES_SQL ")",
                     "ii", uid, r->who.id);
    return n > 0;
}

int td__class_relation(td__req *r, int64_t id)
{
    td_db_rows *row;
    int rel = 0;
    if (r->who.who != TD__WHO_USER)
        return 0;
    if (td__db_query_row(td__req_db(r), &row, NULL,
                         "SELECT m.role FROM class_members m JOIN classes c ON c.id = m.class_id "
                         "WHERE m.class_id = ? AND m.user_id = ? AND c.deleted_at IS NULL",
                         "ii", id, r->who.id) > 0) {
        rel = strcmp(td__db_text(row, 0), "instructor") ? 1 : 2;
        td__db_rows_free(row);
    }
    if (r->who.role == TD__ROLE_ADMIN) {
        int64_t exists = 0;
        td__db_int_query(td__req_db(r), &exists, 0, NULL,
                         "SELECT COUNT(*) FROM classes WHERE id = ? AND deleted_at IS NULL", "i",
                         id);
        if (exists)
            rel = 2;
    }
    return rel;
}

/* Finds class {id} for the caller: replies 404 when it is not theirs to see, 403 when they
 * only belong to it and need to teach it. Returns 1 to go on. */
static int class_param(td__req *r, int64_t *id, int need_teach)
{
    int rel;
    if (td__param_id(r, 0, "class", id))
        return 0;
    rel = td__class_relation(r, *id);
    if (rel == 0) {
        td__fail(r, 404, "not_found", "no class %lld", (long long)*id);
        return 0;
    }
    if (need_teach && rel < 2) {
        td__fail(r, 403, "forbidden", "only the class's instructors (or an admin) may do this");
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* JSON                                                                                 */
/* ------------------------------------------------------------------------------------ */

static json_t *class_json(td_db_rows *row, int teach)
{
    int64_t q[TD__NQUOTA];
    for (int i = 0; i < TD__NQUOTA; i++)
        q[i] = td__db_is_null(row, 6 + i) ? -1 : td__db_int(row, 6 + i);
    json_t *o =
        json_pack("{s:I,s:s,s:s,s:I,s:o,s:o,s:I}", "id", (json_int_t)td__db_int(row, 0), "name",
                  td__db_text(row, 1), "description", td__db_text(row, 2), "owner_id",
                  (json_int_t)td__db_int(row, 3), "created_at", td__json_time(td__db_int(row, 5)),
                  "quota", td__quota_limits_json(q), "learners", (json_int_t)td__db_int(row, 10));
    /* The join code is the instructors' to hand out. */
    if (teach)
        json_object_set_new(o, "join_code",
                            td__db_is_null(row, 4) ? json_null()
                                                   : json_string(td__db_text(row, 4)));
    return o;
}

static int reply_class(td__req *r, int status, int64_t id)
{
    td_db_rows *row;
    td_err err = {0};
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT " CLASS_COLS " FROM classes c WHERE c.id = ?", "i", id);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_ENOENT, &err);
    json_t *o = class_json(row, td__class_relation(r, id) == 2);
    td__db_rows_free(row);
    return td__reply_json(r, status, o);
}

/* An unambiguous code (no 0/O, 1/I/L) for learners to type. */
static void new_join_code(char out[9])
{
    static const char alphabet[] = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    for (int i = 0; i < 8; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[8] = 0;
}

/* ------------------------------------------------------------------------------------ */
/* Classes                                                                              */
/* ------------------------------------------------------------------------------------ */

static int list_classes(td__req *r)
{
    td_db_rows *rows;
    td_err err = {0};
    int rc;
    json_t *arr = json_array();
    if (r->who.role == TD__ROLE_ADMIN)
        rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " CLASS_COLS ", 'instructor' FROM classes c WHERE "
                          "c.deleted_at IS NULL ORDER BY c.id",
                          "");
    else
        rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " CLASS_COLS ", m.role FROM classes c JOIN class_members m ON "
                          "m.class_id = c.id WHERE m.user_id = ? AND c.deleted_at IS NULL ORDER "
                          "BY c.id",
                          "i", r->who.id);
    if (!rc)
        while ((rc = td__db_next(rows, &err)) > 0) {
            int teach = !strcmp(td__db_text(rows, 11), "instructor");
            json_t *o = class_json(rows, teach);
            json_object_set_new(o, "my_role", json_string(td__db_text(rows, 11)));
            json_array_append_new(arr, o);
        }
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "classes", arr));
}

static int post_class(td__req *r)
{
    json_t *o, *qo;
    const char *name = NULL, *desc = "";
    int64_t q[TD__NQUOTA], id = 0, now = td__hub_now(r->hub);
    td_db_conn *c = td__req_db(r);
    td_err err = {0};
    char code[9];
    int rc;
    if (td__req_json(r, &o) || td__only_keys(r, o, "name,description,quota") ||
        td__arg_str(r, o, "name", 1, 100, &name) ||
        td__arg_str(r, o, "description", 0, 1000, &desc))
        return 1;
    if (!*name)
        return td__fail(r, 400, "bad_request", "the class needs a name");
    rc = td__quota_default(c, q, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    qo = json_object_get(o, "quota");
    if (qo && td__quota_arg(r, qo, q, NULL))
        return 1;
    new_join_code(code);
    rc = td__db_begin(c, 1, &err);
    if (!rc) {
        rc = td__db_insert_id(
            c, &id, &err,
            "INSERT INTO classes (name, description, owner_id, join_code, created_at, "
            "quota_training_minutes, quota_concurrent_jobs, quota_models, quota_storage_mb) "
            "VALUES (?, ?, ?, ?, ?, NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1)) "
            "RETURNING id",
            "ttitiiiii", name, desc, r->who.id, code, now, q[0], q[1], q[2], q[3]);
    }
    if (!rc)
        rc = td__db_exec(c, &err,
                         "INSERT INTO class_members (class_id, user_id, role, joined_at) VALUES "
                         "(?, ?, 'instructor', ?)",
                         "iii", id, r->who.id, now);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    return reply_class(r, 201, id);
}

static int get_class(td__req *r)
{
    int64_t id;
    if (!class_param(r, &id, 0))
        return 1;
    return reply_class(r, 200, id);
}

static int patch_class(td__req *r)
{
    json_t *o, *qo;
    const char *name = NULL, *desc = NULL;
    int64_t id, q[TD__NQUOTA] = {0};
    int set[TD__NQUOTA] = {0};
    td_err err = {0};
    int rc = 0;
    static const char *const cols[TD__NQUOTA] = {"quota_training_minutes", "quota_concurrent_jobs",
                                                 "quota_models", "quota_storage_mb"};
    if (!class_param(r, &id, 1) || td__req_json(r, &o) ||
        td__only_keys(r, o, "name,description,quota") || td__arg_str(r, o, "name", 0, 100, &name) ||
        td__arg_str(r, o, "description", 0, 1000, &desc))
        return 1;
    qo = json_object_get(o, "quota");
    if (qo && td__quota_arg(r, qo, q, set))
        return 1;
    if (name && !*name)
        return td__fail(r, 400, "bad_request", "the class needs a name");
    if (name)
        rc = td__db_exec(td__req_db(r), &err, "UPDATE classes SET name = ? WHERE id = ?", "ti",
                         name, id);
    if (!rc && desc)
        rc = td__db_exec(td__req_db(r), &err, "UPDATE classes SET description = ? WHERE id = ?",
                         "ti", desc, id);
    for (int i = 0; i < TD__NQUOTA && !rc; i++) {
        char sql[128];
        if (!set[i])
            continue;
        snprintf(sql, sizeof(sql), "UPDATE classes SET %s = NULLIF(?, -1) WHERE id = ?", cols[i]);
        rc = td__db_exec(td__req_db(r), &err, sql, "ii", q[i], id);
    }
    if (rc)
        return td__fail_err(r, rc, &err);
    return reply_class(r, 200, id);
}

static int delete_class(td__req *r)
{
    int64_t id;
    td_err err = {0};
    int rc;
    if (!class_param(r, &id, 1))
        return 1;
    rc = td__db_exec(td__req_db(r), &err,
                     "UPDATE classes SET deleted_at = ?, join_code = NULL WHERE id = ?", "ii",
                     td__hub_now(r->hub), id);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_empty(r, 204);
}

static int post_join_code(td__req *r)
{
    int64_t id;
    char code[9];
    td_err err = {0};
    int rc;
    if (!class_param(r, &id, 1))
        return 1;
    new_join_code(code);
    rc = td__db_exec(td__req_db(r), &err, "UPDATE classes SET join_code = ? WHERE id = ?", "ti",
                     code, id);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_json(r, 200, json_pack("{s:s}", "join_code", code));
}

static int delete_join_code(td__req *r)
{
    int64_t id;
    td_err err = {0};
    int rc;
    if (!class_param(r, &id, 1))
        return 1;
    rc = td__db_exec(td__req_db(r), &err, "UPDATE classes SET join_code = NULL WHERE id = ?", "i",
                     id);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_empty(r, 204);
}

/* Looks up an active class by join code (any case, spaces and dashes ignored). */
static int64_t class_by_code(td__req *r, const char *code_in)
{
    char code[16];
    size_t n = 0;
    int64_t id = 0;
    for (const char *p = code_in; *p && n < sizeof(code) - 1; p++)
        if (*p != ' ' && *p != '-')
            code[n++] = (char)toupper((unsigned char)*p);
    code[n] = 0;
    if (n != 8)
        return 0;
    td__db_int_query(td__req_db(r), &id, 0, NULL,
                     "SELECT id FROM classes WHERE join_code = ? AND deleted_at IS NULL", "t",
                     code);
    return id;
}

static int post_join(td__req *r)
{
    json_t *o;
    const char *code = NULL;
    int64_t id;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) || td__only_keys(r, o, "code") ||
        td__arg_str(r, o, "code", 1, 32, &code))
        return 1;
    id = class_by_code(r, code);
    if (!id)
        return td__fail(r, 404, "not_found", "no class has the join code '%.32s'", code);
    rc = td__db_exec(td__req_db(r), &err,
                     "INSERT INTO class_members (class_id, user_id, role, joined_at) VALUES (?, ?, "
                     "'learner', ?) ON CONFLICT (class_id, user_id) DO NOTHING",
                     "iii", id, r->who.id, td__hub_now(r->hub));
    if (rc)
        return td__fail_err(r, rc, &err);
    return reply_class(r, 200, id);
}

static int post_signup(td__req *r)
{
    json_t *o;
    const char *name = NULL, *password = NULL, *email = "", *code = NULL, *display = "";
    int64_t cid, uid = 0, now = td__hub_now(r->hub), wait;
    char key[96];
    td_db_conn *c;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) ||
        td__only_keys(r, o, "username,password,email,display_name,join_code") ||
        td__arg_str(r, o, "username", 1, 64, &name) ||
        td__arg_str(r, o, "password", 1, 256, &password) ||
        td__arg_str(r, o, "email", 0, 254, &email) ||
        td__arg_str(r, o, "display_name", 0, 100, &display) ||
        td__arg_str(r, o, "join_code", 1, 32, &code))
        return 1;
    c = td__req_db(r);
    /* Account creation is open to anyone with a code: bound it per address. */
    snprintf(key, sizeof(key), "signup:ip:%s", r->client_ip);
    wait = td__rate_blocked(c, key, 30, 3600, now);
    if (wait) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%lld", (long long)wait);
        td__req_add_header(r, "Retry-After", secs);
        return td__fail(r, 429, "rate_limited",
                        "too many sign-ups from this address; try again in %lld minutes",
                        (long long)(wait + 59) / 60);
    }
    td__rate_hit(c, key, 3600, now);
    cid = class_by_code(r, code);
    if (!cid)
        return td__fail(r, 404, "not_found", "no class has the join code '%.32s'", code);
    rc = td__user_create(r->hub, c, name, "learner", password, email, display, &uid, &err);
    if (!rc)
        rc = td__db_exec(c, &err,
                         "INSERT INTO class_members (class_id, user_id, role, joined_at) VALUES "
                         "(?, ?, 'learner', ?)",
                         "iii", cid, uid, now);
    if (rc)
        return td__fail_err(r, rc, &err);
    td_db_rows *row;
    rc = td__db_query_row(c, &row, &err,
                          "SELECT id, username, display_name, email, role, disabled, created_at "
                          "FROM users WHERE id = ?",
                          "i", uid);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_EINTERNAL, &err);
    json_t *u = td__user_json(row, 0);
    td__db_rows_free(row);
    json_object_set_new(u, "class_id", json_integer(cid));
    return td__reply_json(r, 201, u);
}

/* ------------------------------------------------------------------------------------ */
/* Members                                                                              */
/* ------------------------------------------------------------------------------------ */

/* A password for an account an instructor creates: 12 characters of an unambiguous alphabet
 * (about 70 bits), shown once in the reply. */
static void new_password(char out[13])
{
    static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    for (int i = 0; i < 12; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[12] = 0;
}

/* Derives a user name from a name or an email: lowercase letters, digits and '.', '_', '-'. */
static void derive_username(const char *name, const char *email, char *out, size_t cap)
{
    const char *src = name;
    size_t n = 0;
    if (!td__user_name_ok(name) && email && strchr(email, '@'))
        src = email;
    for (const char *p = src; *p && *p != '@' && n + 1 < cap && n < 32; p++) {
        char ch = (char)tolower((unsigned char)*p);
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
            ch == '-')
            out[n++] = ch;
        else if (ch == ' ' && n && out[n - 1] != '.')
            out[n++] = '.';
    }
    out[n] = 0;
}

/* Adds one member: an existing account by user name, or a new one (with the given password
 * or a generated one returned in *generated). Returns 0, or an error with err set. */
static int add_member(td__req *r, int64_t cid, const char *name, const char *email,
                      const char *role, const char *password, int64_t *uid, int *created,
                      char generated[13], td_err *err)
{
    td_db_conn *c = td__req_db(r);
    td_db_rows *row;
    char username[40];
    int rc;
    *created = 0;
    generated[0] = 0;
    if (strcmp(role, "learner") && strcmp(role, "instructor"))
        return td_err_set(err, TD_EINVAL, "role '%.20s': use learner or instructor", role);
    derive_username(name, email, username, sizeof(username));
    if (!td__user_name_ok(username))
        return td_err_set(err, TD_EINVAL,
                          "'%.60s' gives no valid user name (2-32 lowercase letters, digits, "
                          "'.', '_', '-')",
                          name);
    rc = td__db_query_row(c, &row, err, "SELECT id, role FROM users WHERE username = ?", "t",
                          username);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        *uid = td__db_int(row, 0);
        int account_learner = !strcmp(td__db_text(row, 1), "learner");
        td__db_rows_free(row);
        if (!strcmp(role, "instructor") && account_learner)
            return td_err_set(err, TD_EINVAL,
                              "%s has a learner account and cannot teach (an admin can change "
                              "the account's role)",
                              username);
    } else {
        if (!password) {
            new_password(generated);
            password = generated;
        }
        rc = td__user_create(r->hub, c, username, role, password, email,
                             td__user_name_ok(name) ? "" : name, uid, err);
        if (rc)
            return rc;
        *created = 1;
    }
    rc = td__db_exec(c, err,
                     "INSERT INTO class_members (class_id, user_id, role, joined_at) VALUES (?, ?, "
                     "?, ?)",
                     "iiti", cid, *uid, role, td__hub_now(r->hub));
    if (rc == TD_ECONFLICT)
        return td_err_set(err, TD_ECONFLICT, "%s is already in the class", username);
    return rc;
}

static json_t *member_json(td__req *r, td_db_rows *row)
{
    int64_t uid = td__db_int(row, 0), q[TD__NQUOTA];
    json_t *usage = td__quota_json(r->hub, td__req_db(r), uid, NULL);
    for (int i = 0; i < TD__NQUOTA; i++)
        q[i] = td__db_is_null(row, 5 + i) ? -2 : td__db_int(row, 5 + i);
    json_t *over = json_object();
    for (int i = 0; i < TD__NQUOTA; i++)
        if (q[i] != -2)
            json_object_set_new(over, td__quota_key(i), json_integer(q[i]));
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "user_id", (json_int_t)uid, "username",
                     td__db_text(row, 1), "display_name", td__db_text(row, 2), "email",
                     td__db_text(row, 3), "role", td__db_text(row, 4), "joined_at",
                     td__json_time(td__db_int(row, 9)), "quota_override", over, "usage",
                     usage ? usage : json_null());
}

#define MEMBER_COLS                                                                                \
    "u.id, u.username, u.display_name, u.email, m.role, m.quota_training_minutes, "                \
    "m.quota_concurrent_jobs, m.quota_models, m.quota_storage_mb, m.joined_at"

static int list_members(td__req *r)
{
    int64_t id;
    td_db_rows *rows;
    td_err err = {0};
    int rc;
    json_t *arr;
    if (!class_param(r, &id, 1))
        return 1;
    arr = json_array();
    rc = td__db_query(td__req_db(r), &rows, &err,
                      "SELECT " MEMBER_COLS " FROM class_members m JOIN users u ON u.id = "
                      "m.user_id WHERE m.class_id = ? ORDER BY m.role, u.username",
                      "i", id);
    if (!rc)
        while ((rc = td__db_next(rows, &err)) > 0)
            json_array_append_new(arr, member_json(r, rows));
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "members", arr));
}

static int post_member(td__req *r)
{
    json_t *o;
    const char *name = NULL, *email = "", *role = "learner", *password = NULL;
    int64_t id, uid = 0;
    int created = 0;
    char generated[13];
    td_err err = {0};
    int rc;
    if (!class_param(r, &id, 1) || td__req_json(r, &o) ||
        td__only_keys(r, o, "username,email,role,password") ||
        td__arg_str(r, o, "username", 1, 100, &name) ||
        td__arg_str(r, o, "email", 0, 254, &email) || td__arg_str(r, o, "role", 0, 20, &role) ||
        td__arg_str(r, o, "password", 0, 256, &password))
        return 1;
    rc = td__db_begin(td__req_db(r), 1, &err);
    if (!rc)
        rc = add_member(r, id, name, email, role, password, &uid, &created, generated, &err);
    if (!rc)
        rc = td__db_commit(td__req_db(r), &err);
    if (rc) {
        td__db_rollback(td__req_db(r));
        return td__fail_err(r, rc, &err);
    }
    json_t *reply = json_pack("{s:I,s:b}", "user_id", (json_int_t)uid, "created", created);
    if (generated[0])
        json_object_set_new(reply, "initial_password", json_string(generated));
    return td__reply_json(r, 201, reply);
}

/* ---- CSV ------------------------------------------------------------------------------------ */

/* Splits one CSV record (RFC 4180: quotes, doubled quotes, commas and newlines in quotes) from
 * *p into up to max fields (pointers into buf). Returns the field count, or -1 at the end. */
static int csv_record(const char **p, char *buf, size_t cap, char **fields, int max)
{
    const char *s = *p;
    size_t n = 0;
    int nf = 0, quoted = 0;
    if (!*s)
        return -1;
    fields[nf++] = buf;
    while (*s) {
        char ch = *s++;
        if (quoted) {
            if (ch == '"' && *s == '"') {
                s++;
            } else if (ch == '"') {
                quoted = 0;
                continue;
            }
        } else if (ch == '"') {
            quoted = 1;
            continue;
        } else if (ch == ',') {
            if (n + 1 < cap)
                buf[n++] = 0;
            if (nf < max)
                fields[nf++] = buf + n;
            continue;
        } else if (ch == '\r' || ch == '\n') {
            if (ch == '\r' && *s == '\n')
                s++;
            break;
        }
        if (n + 1 < cap)
            buf[n++] = ch;
    }
    buf[n] = 0;
    *p = s;
    /* Trim spaces around fields. */
    for (int i = 0; i < nf; i++) {
        while (*fields[i] == ' ' || *fields[i] == '\t')
            fields[i]++;
        size_t l = strlen(fields[i]);
        while (l && (fields[i][l - 1] == ' ' || fields[i][l - 1] == '\t'))
            fields[i][--l] = 0;
    }
    return nf;
}

static int import_members(td__req *r)
{
    int64_t id;
    const char *p;
    char buf[2048];
    char *f[8];
    int line = 0, nf, header_checked = 0;
    json_t *created = json_array(), *added = json_array(), *errors = json_array();
    if (!class_param(r, &id, 1)) {
        json_decref(created);
        json_decref(added);
        json_decref(errors);
        return 1;
    }
    if (!r->body_len) {
        json_decref(created);
        json_decref(added);
        json_decref(errors);
        return td__fail(r, 400, "bad_request",
                        "the body must be CSV lines 'name,email,role' (text/csv)");
    }
    if (!td__utf8_valid(r->body, r->body_len)) {
        json_decref(created);
        json_decref(added);
        json_decref(errors);
        return td__fail(r, 400, "bad_request",
                        "the roster is not UTF-8 text (save the CSV as UTF-8)");
    }
    p = r->body;
    /* A UTF-8 byte order mark from a spreadsheet. */
    if (!strncmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    while ((nf = csv_record(&p, buf, sizeof(buf), f, 8)) >= 0) {
        const char *name, *email, *role;
        char generated[13];
        int64_t uid;
        int was_created;
        td_err err = {0};
        line++;
        if (nf == 1 && !f[0][0])
            continue;
        if (!header_checked) {
            header_checked = 1;
            if (!strcasecmp(f[0], "name") || !strcasecmp(f[0], "username"))
                continue;
        }
        name = f[0];
        email = nf > 1 ? f[1] : "";
        role = nf > 2 && f[2][0] ? f[2] : "learner";
        int rc = td__db_begin(td__req_db(r), 1, &err);
        if (!rc)
            rc = add_member(r, id, name, email, role, NULL, &uid, &was_created, generated, &err);
        if (!rc)
            rc = td__db_commit(td__req_db(r), &err);
        if (rc) {
            td__db_rollback(td__req_db(r));
            td__utf8_scrub(err.msg); /* quotes the line, perhaps cut inside a character */
            json_array_append_new(errors, json_pack("{s:i,s:s}", "line", line, "message", err.msg));
            continue;
        }
        td_db_rows *row;
        const char *uname = name;
        char ubuf[64] = "";
        if (td__db_query_row(td__req_db(r), &row, NULL, "SELECT username FROM users WHERE id = ?",
                             "i", uid) > 0) {
            snprintf(ubuf, sizeof(ubuf), "%s", td__db_text(row, 0));
            uname = ubuf;
            td__db_rows_free(row);
        }
        if (was_created)
            json_array_append_new(created, json_pack("{s:i,s:I,s:s,s:s,s:s}", "line", line,
                                                     "user_id", (json_int_t)uid, "username", uname,
                                                     "role", role, "initial_password", generated));
        else
            json_array_append_new(added,
                                  json_pack("{s:i,s:I,s:s,s:s}", "line", line, "user_id",
                                            (json_int_t)uid, "username", uname, "role", role));
    }
    return td__reply_json(
        r, 200, json_pack("{s:o,s:o,s:o}", "created", created, "added", added, "errors", errors));
}

static int member_param(td__req *r, int64_t cid, int64_t *uid)
{
    int64_t n = 0;
    if (td__param_id(r, 1, "member", uid))
        return 0;
    td__db_int_query(td__req_db(r), &n, 0, NULL,
                     "SELECT COUNT(*) FROM class_members WHERE class_id = ? AND user_id = ?", "ii",
                     cid, *uid);
    if (!n) {
        td__fail(r, 404, "not_found", "user %lld is not in class %lld", (long long)*uid,
                 (long long)cid);
        return 0;
    }
    return 1;
}

static int patch_member(td__req *r)
{
    int64_t cid, uid, q[TD__NQUOTA] = {0};
    int set[TD__NQUOTA] = {0};
    json_t *o, *qo;
    const char *role = NULL;
    td_err err = {0};
    int rc = 0;
    static const char *const cols[TD__NQUOTA] = {"quota_training_minutes", "quota_concurrent_jobs",
                                                 "quota_models", "quota_storage_mb"};
    if (!class_param(r, &cid, 1) || !member_param(r, cid, &uid) || td__req_json(r, &o) ||
        td__only_keys(r, o, "role,quota") || td__arg_str(r, o, "role", 0, 20, &role))
        return 1;
    if (role && strcmp(role, "learner") && strcmp(role, "instructor"))
        return td__fail(r, 400, "bad_request", "role '%.20s': use learner or instructor", role);
    /* In a member's override, null means "back to the class's quota". */
    qo = json_object_get(o, "quota");
    if (qo) {
        if (!json_is_object(qo))
            return td__fail(r, 400, "bad_request", "'quota' must be an object");
        const char *key;
        json_t *v;
        json_object_foreach(qo, key, v)
        {
            int i;
            for (i = 0; i < TD__NQUOTA; i++)
                if (!strcmp(key, td__quota_key(i)))
                    break;
            if (i == TD__NQUOTA)
                return td__fail(r, 400, "bad_request", "unknown quota '%.40s'", key);
            if (json_is_null(v))
                q[i] = -2;
            else if (json_is_integer(v) && json_integer_value(v) >= -1 &&
                     json_integer_value(v) <= 100000000)
                q[i] = json_integer_value(v);
            else
                return td__fail(r, 400, "bad_request",
                                "quota '%s' must be a whole number >= 0, -1 for no limit, or "
                                "null to use the class's",
                                key);
            set[i] = 1;
        }
    }
    if (role) {
        if (!strcmp(role, "instructor")) {
            int64_t learner = 0;
            td__db_int_query(td__req_db(r), &learner, 0, NULL,
                             "SELECT COUNT(*) FROM users WHERE id = ? AND role = 'learner'", "i",
                             uid);
            if (learner)
                return td__fail(r, 400, "bad_request",
                                "a learner account cannot teach (an admin can change its role)");
        }
        rc = td__db_exec(td__req_db(r), &err,
                         "UPDATE class_members SET role = ? WHERE class_id = ? AND user_id = ?",
                         "tii", role, cid, uid);
    }
    for (int i = 0; i < TD__NQUOTA && !rc; i++) {
        char sql[160];
        if (!set[i])
            continue;
        snprintf(sql, sizeof(sql),
                 "UPDATE class_members SET %s = NULLIF(?, -2) WHERE class_id = ? AND user_id = ?",
                 cols[i]);
        rc = td__db_exec(td__req_db(r), &err, sql, "iii", q[i], cid, uid);
    }
    if (rc)
        return td__fail_err(r, rc, &err);
    td_db_rows *row;
    rc = td__db_query_row(td__req_db(r), &row, &err,
                          "SELECT " MEMBER_COLS " FROM class_members m JOIN users u ON u.id = "
                          "m.user_id WHERE m.class_id = ? AND m.user_id = ?",
                          "ii", cid, uid);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_ENOENT, &err);
    json_t *reply = member_json(r, row);
    td__db_rows_free(row);
    return td__reply_json(r, 200, reply);
}

static int delete_member(td__req *r)
{
    int64_t cid, uid;
    td_err err = {0};
    int rc;
    if (!class_param(r, &cid, 1) || !member_param(r, cid, &uid))
        return 1;
    rc =
        td__db_exec(td__req_db(r), &err,
                    "DELETE FROM class_members WHERE class_id = ? AND user_id = ?", "ii", cid, uid);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_empty(r, 204);
}

/* ------------------------------------------------------------------------------------ */
/* Routes                                                                               */
/* ------------------------------------------------------------------------------------ */

#define JR(s) "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/" s "\"}}}"

const char td__classes_schemas[] =
    "{\"Class\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, "
    "\"name\": {\"type\": \"string\"}, \"description\": {\"type\": \"string\"}, \"owner_id\": "
    "{\"type\": \"integer\"}, \"join_code\": {\"type\": [\"string\", \"null\"], \"description\": "
    "\"shown to the class's instructors\"}, \"quota\": {\"$ref\": "
    "\"#/components/schemas/QuotaLimits\"}, \"learners\": {\"type\": \"integer\"}, "
    "\"created_at\": {\"type\": \"string\"}, \"my_role\": {\"type\": \"string\"}}},"
    " \"ClassCreate\": {\"type\": \"object\", \"required\": [\"name\"], "
    "\"additionalProperties\": false, \"properties\": {\"name\": {\"type\": \"string\"}, "
    "\"description\": {\"type\": \"string\"}, \"quota\": {\"$ref\": "
    "\"#/components/schemas/QuotaLimits\"}}},"
    " \"MemberAdd\": {\"type\": \"object\", \"required\": [\"username\"], "
    "\"additionalProperties\": false, \"properties\": {\"username\": {\"type\": \"string\", "
    "\"description\": \"an existing account, or a new one (a name; an email gives the user "
    "name when the name is not one)\"}, \"email\": {\"type\": \"string\"}, \"role\": {\"enum\": "
    "[\"learner\", \"instructor\"]}, \"password\": {\"type\": \"string\"}}},"
    " \"MemberPatch\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"role\": {\"enum\": [\"learner\", \"instructor\"]}, \"quota\": {\"type\": \"object\", "
    "\"description\": \"per quota: a number, -1 for no limit, null for the class's\"}}},"
    " \"Join\": {\"type\": \"object\", \"required\": [\"code\"], \"properties\": {\"code\": "
    "{\"type\": \"string\"}}},"
    " \"Signup\": {\"type\": \"object\", \"required\": [\"username\", \"password\", "
    "\"join_code\"], \"additionalProperties\": false, \"properties\": {\"username\": {\"type\": "
    "\"string\"}, \"password\": {\"type\": \"string\", \"minLength\": 8}, \"email\": {\"type\": "
    "\"string\"}, \"display_name\": {\"type\": \"string\"}, \"join_code\": {\"type\": "
    "\"string\"}}}}";

const td__route td__routes_classes[] = {
    {"GET", "/api/v1/classes", list_classes, TD__ALLOW_USERS, TD__BODY_NONE,
     "Your classes (all of them for an admin), with your role in each", NULL},
    {"POST", "/api/v1/classes", post_class, TD__ALLOW_STAFF, TD__BODY_JSON,
     "Create a class (instructor or admin): you become its instructor; it gets a join code",
     "{\"requestBody\": {\"required\": true, \"content\": " JR(
         "ClassCreate") "}, \"responses\": {\"201\": {\"description\": \"created\", "
                        "\"content\": " JR("Class") "}}}"},
    {"POST", "/api/v1/classes/join", post_join, TD__ALLOW_USERS, TD__BODY_JSON,
     "Join a class as a learner with its join code",
     "{\"requestBody\": {\"required\": true, \"content\": " JR("Join") "}}"},
    {"GET", "/api/v1/classes/{id}", get_class, TD__ALLOW_USERS, TD__BODY_NONE,
     "A class you belong to (the join code only for its instructors)",
     "{\"responses\": {\"200\": {\"description\": \"the class\", \"content\": " JR("Class") "}}}"},
    {"PATCH", "/api/v1/classes/{id}", patch_class, TD__ALLOW_STAFF, TD__BODY_JSON,
     "Change a class's name, description or quota (its instructors, admin)",
     "{\"requestBody\": {\"required\": true, \"content\": " JR("ClassCreate") "}}"},
    {"DELETE", "/api/v1/classes/{id}", delete_class, TD__ALLOW_STAFF, TD__BODY_NONE,
     "Close a class (its quota no longer applies; its instructors, admin)",
     "{\"responses\": {\"204\": {\"description\": \"closed\"}}}"},
    {"POST", "/api/v1/classes/{id}/join-code", post_join_code, TD__ALLOW_STAFF, TD__BODY_NONE,
     "A new join code (the old one stops working)", NULL},
    {"DELETE", "/api/v1/classes/{id}/join-code", delete_join_code, TD__ALLOW_STAFF, TD__BODY_NONE,
     "Stop joining by code", "{\"responses\": {\"204\": {\"description\": \"no code\"}}}"},
    {"GET", "/api/v1/classes/{id}/members", list_members, TD__ALLOW_STAFF, TD__BODY_NONE,
     "Members with their role, quota overrides and usage this month", NULL},
    {"POST", "/api/v1/classes/{id}/members", post_member, TD__ALLOW_STAFF, TD__BODY_JSON,
     "Add a member: an existing account, or a new one whose password is in the reply (once)",
     "{\"requestBody\": {\"required\": true, \"content\": " JR(
         "MemberAdd") "}, \"responses\": {\"201\": {\"description\": \"added\"}}}"},
    {"POST", "/api/v1/classes/{id}/members/import", import_members, TD__ALLOW_STAFF, TD__BODY_TEXT,
     "Add members from a CSV roster (name,email,role; a header line is optional): accounts "
     "created (with their initial passwords), added, and the lines refused",
     "{\"requestBody\": {\"required\": true, \"content\": {\"text/csv\": {\"schema\": {\"type\": "
     "\"string\"}}}}}"},
    {"PATCH", "/api/v1/classes/{id}/members/{uid}", patch_member, TD__ALLOW_STAFF, TD__BODY_JSON,
     "Change a member's role or quota overrides",
     "{\"requestBody\": {\"required\": true, \"content\": " JR("MemberPatch") "}}"},
    {"DELETE", "/api/v1/classes/{id}/members/{uid}", delete_member, TD__ALLOW_STAFF, TD__BODY_NONE,
     "Remove a member (the account stays)",
     "{\"responses\": {\"204\": {\"description\": \"removed\"}}}"},
    {"POST", "/api/v1/signup", post_signup, TD__ALLOW_ANON, TD__BODY_JSON,
     "Create a learner account with a class's join code (30 an hour per address)",
     "{\"requestBody\": {\"required\": true, \"content\": " JR(
         "Signup") "}, \"responses\": {\"201\": {\"description\": \"the account\"}, \"429\": "
                   "{\"$ref\": \"#/components/responses/Error\"}}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
