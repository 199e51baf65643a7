/*
 * accounts.c - users, sessions and worker machines: logging in and out (with a rate limit on
 * failures), the user's own account, the admin's user list, and worker tokens. Also the
 * administration `trackday admin` runs on the hub machine.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "hub/hub_internal.h"

#define USER_COLS "id, username, display_name, email, role, disabled, created_at"

json_t *td__user_json(td_db_rows *row, int first_col)
{
    int c = first_col;
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:b,s:o}", "id", (json_int_t)td__db_int(row, c),
                     "username", td__db_text(row, c + 1), "display_name", td__db_text(row, c + 2),
                     "email", td__db_text(row, c + 3), "role", td__db_text(row, c + 4), "disabled",
                     (int)td__db_int(row, c + 5), "created_at",
                     td__json_time(td__db_int(row, c + 6)));
}

/* ------------------------------------------------------------------------------------ */
/* Rate limits                                                                          */
/* ------------------------------------------------------------------------------------ */

int64_t td__rate_blocked(td_db_conn *c, const char *key, int max, int window_s, int64_t now)
{
    td_db_rows *row;
    int64_t wait = 0;
    if (td__db_query_row(c, &row, NULL, "SELECT window_start, count FROM rate_limits WHERE key = ?",
                         "t", key) > 0) {
        int64_t start = td__db_int(row, 0), count = td__db_int(row, 1);
        if (start + window_s > now && count >= max)
            wait = start + window_s - now;
        td__db_rows_free(row);
    }
    return wait;
}

void td__rate_hit(td_db_conn *c, const char *key, int window_s, int64_t now)
{
    /* A fixed window from the first hit; SET expressions read the row as it was. */
    td__db_exec(c, NULL,
                "INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1) "
                "ON CONFLICT (key) DO UPDATE SET "
                "count = CASE WHEN rate_limits.window_start + ? <= ? THEN 1 "
                "ELSE rate_limits.count + 1 END, "
                "window_start = CASE WHEN rate_limits.window_start + ? <= ? THEN ? "
                "ELSE rate_limits.window_start END",
                "tiiiiii", key, now, (int64_t)window_s, now, (int64_t)window_s, now, now);
}

void td__rate_clear(td_db_conn *c, const char *key)
{
    td__db_exec(c, NULL, "DELETE FROM rate_limits WHERE key = ?", "t", key);
}

/* ------------------------------------------------------------------------------------ */
/* Users                                                                                */
/* ------------------------------------------------------------------------------------ */

int td__user_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n > 32)
        return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '-'))
            return 0;
    }
    return 1;
}

static int email_ok(const char *s)
{
    const char *at;
    if (!s || !*s)
        return 1;
    at = strchr(s, '@');
    if (!at || at == s || !strchr(at, '.') || strchr(at + 1, '@') || strlen(s) > 254)
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == '"' || *p == ',')
            return 0;
    return 1;
}

int td__user_create(td_hub *h, td_db_conn *c, const char *name, const char *role,
                    const char *password, const char *email, const char *display, int64_t *id,
                    td_err *err)
{
    char hash[crypto_pwhash_STRBYTES];
    td_db_rows *row;
    int rc;
    if (!td__user_name_ok(name))
        return td_err_set(err, TD_EINVAL,
                          "user name '%.40s': use 2-32 lowercase letters, digits, '.', '_' or "
                          "'-', starting with a letter or digit",
                          name ? name : "");
    if (!td__role_parse(role))
        return td_err_set(err, TD_EINVAL, "role '%.20s': use admin, instructor or learner",
                          role ? role : "");
    if (password && (strlen(password) < 8 || strlen(password) > 256))
        return td_err_set(err, TD_EINVAL, "the password must have 8 to 256 characters");
    if (!email_ok(email))
        return td_err_set(err, TD_EINVAL, "'%.80s' is not an email address", email);
    if (password) {
        rc = td__password_hash(h, password, hash, sizeof(hash), err);
        if (rc)
            return rc;
    }
    rc = td__db_query_row(c, &row, err,
                          "INSERT INTO users (username, display_name, email, role, "
                          "password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                          "ttttti", name, display ? display : "", email ? email : "", role,
                          password ? hash : NULL, td__hub_now(h));
    if (rc == TD_ECONFLICT)
        return td_err_set(err, TD_ECONFLICT, "the user name '%s' is taken", name);
    if (rc < 0)
        return rc;
    if (id)
        *id = td__db_int(row, 0);
    td__db_rows_free(row);
    return 0;
}

int td_hub_create_user(td_hub *h, const char *name, const char *role, const char *password,
                       const char *email, int64_t *id, td_err *err)
{
    td_db_conn *c = td__db_acquire(h->db);
    int rc = td__user_create(h, c, name, role, password, email, NULL, id, err);
    td__db_release(h->db, c);
    return rc;
}

int td_hub_set_password(td_hub *h, const char *name, const char *password, td_err *err)
{
    char hash[crypto_pwhash_STRBYTES];
    td_db_conn *c;
    int64_t id = 0;
    int rc;
    if (!password || strlen(password) < 8 || strlen(password) > 256)
        return td_err_set(err, TD_EINVAL, "the password must have 8 to 256 characters");
    rc = td__password_hash(h, password, hash, sizeof(hash), err);
    if (rc)
        return rc;
    c = td__db_acquire(h->db);
    rc = td__db_int_query(c, &id, 0, err, "SELECT id FROM users WHERE username = ?", "t", name);
    if (!rc && !id)
        rc = td_err_set(err, TD_ENOENT, "no user '%s'", name);
    if (!rc)
        rc = td__db_exec(c, err, "UPDATE users SET password_hash = ? WHERE id = ?", "ti", hash, id);
    if (!rc)
        rc = td__db_exec(c, err, "DELETE FROM tokens WHERE user_id = ?", "i", id);
    td__db_release(h->db, c);
    return rc;
}

int td_hub_create_worker(td_hub *h, const char *name, char *token, size_t cap, td_err *err)
{
    char hash[65];
    td_db_conn *c;
    td_db_rows *row;
    int64_t id;
    int rc;
    if (!td__valid_name(name, 64))
        return td_err_set(err, TD_EINVAL,
                          "worker name '%.40s': use 1-64 letters, digits, '.', '_' or '-'",
                          name ? name : "");
    c = td__db_acquire(h->db);
    rc = td__db_begin(c, 1, err);
    if (!rc) {
        rc = td__db_query_row(c, &row, err,
                              "INSERT INTO workers (name, created_at) VALUES (?, ?) RETURNING id",
                              "ti", name, td__hub_now(h));
        if (rc == TD_ECONFLICT)
            td_err_set(err, TD_ECONFLICT, "a worker named '%s' exists", name);
    }
    if (rc > 0) {
        id = td__db_int(row, 0);
        td__db_rows_free(row);
        td__token_new("tdw", token, cap, hash);
        rc = td__db_exec(c, err,
                         "INSERT INTO tokens (hash, kind, worker_id, created_at) VALUES (?, "
                         "'worker', ?, ?)",
                         "tii", hash, id, td__hub_now(h));
        if (!rc)
            rc = td__db_commit(c, err);
    } else if (rc == 0) {
        rc = TD_EINTERNAL;
    }
    td__db_release(h->db, c);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Sessions                                                                             */
/* ------------------------------------------------------------------------------------ */

static int post_session(td__req *r)
{
    td_hub *h = r->hub;
    json_t *o;
    const char *name = NULL, *password = NULL;
    int cookie = 0, rc;
    char ukey[128], ikey[128];
    int64_t now = td__hub_now(h), wait, uid = 0;
    td_db_rows *row;
    td_err err = {0};
    char token[128], hash[65], csrf[128] = "", csrf_hash[65], pwhash[crypto_pwhash_STRBYTES] = "";
    td_db_conn *c;

    if (td__req_json(r, &o) || td__only_keys(r, o, "username,password,cookie") ||
        td__arg_str(r, o, "username", 1, 64, &name) ||
        td__arg_str(r, o, "password", 1, 256, &password) || td__arg_bool(r, o, "cookie", &cookie))
        return 1;
    c = td__req_db(r);
    snprintf(ukey, sizeof(ukey), "login:user:%s", name);
    snprintf(ikey, sizeof(ikey), "login:ip:%s", r->client_ip);
    wait = td__rate_blocked(c, ukey, h->opt.login_max_failures, h->opt.login_window_s, now);
    if (!wait)
        wait = td__rate_blocked(c, ikey, h->opt.login_max_failures * 5, h->opt.login_window_s, now);
    if (wait) {
        char when[40], secs[24];
        td__format_time(now + wait, when, sizeof(when));
        snprintf(secs, sizeof(secs), "%lld", (long long)wait);
        td__req_add_header(r, "Retry-After", secs);
        return td__fail(r, 429, "rate_limited",
                        "too many failed logins; try again in %lld minutes (at %s)",
                        (long long)(wait + 59) / 60, when);
    }
    rc = td__db_query_row(c, &row, &err,
                          "SELECT id, password_hash, disabled FROM users WHERE username = ?", "t",
                          name);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (rc > 0) {
        uid = td__db_int(row, 0);
        if (!td__db_is_null(row, 1) && !td__db_int(row, 2))
            snprintf(pwhash, sizeof(pwhash), "%s", td__db_text(row, 1));
        td__db_rows_free(row);
    }
    /* Give the connection back while hashing (about 0.1 s): others need it more. */
    td__db_release(h->db, r->db);
    r->db = NULL;
    int ok = pwhash[0] && td__password_verify(h, pwhash, password);
    c = td__req_db(r);
    if (!ok) {
        td__rate_hit(c, ukey, h->opt.login_window_s, now);
        td__rate_hit(c, ikey, h->opt.login_window_s, now);
        return td__fail(r, 401, "unauthorized", "wrong user name or password");
    }
    td__rate_clear(c, ukey);
    td__token_new("tdu", token, sizeof(token), hash);
    if (cookie)
        td__token_new("csrf", csrf, sizeof(csrf), csrf_hash);
    int64_t expires = now + (int64_t)h->opt.session_hours * 3600;
    rc = td__db_exec(c, &err,
                     "INSERT INTO tokens (hash, kind, user_id, csrf, created_at, expires_at, "
                     "last_used_at) VALUES (?, 'session', ?, ?, ?, ?, ?)",
                     "titiii", hash, uid, cookie ? csrf : NULL, now, expires, now);
    if (rc)
        return td__fail_err(r, rc, &err);
    rc = td__db_query_row(c, &row, &err, "SELECT " USER_COLS " FROM users WHERE id = ?", "i", uid);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_EINTERNAL, &err);
    json_t *reply =
        json_pack("{s:o,s:o}", "expires_at", td__json_time(expires), "user", td__user_json(row, 0));
    td__db_rows_free(row);
    /* A browser's session stays in its HttpOnly cookie: never in a reply script can read. */
    if (!cookie)
        json_object_set_new(reply, "token", json_string(token));
    if (cookie) {
        char cookie_hdr[400];
        snprintf(cookie_hdr, sizeof(cookie_hdr),
                 "td_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", token,
                 (long long)h->opt.session_hours * 3600, h->opt.secure_cookies ? "; Secure" : "");
        td__req_add_header(r, "Set-Cookie", cookie_hdr);
        json_object_set_new(reply, "csrf_token", json_string(csrf));
    }
    sodium_memzero(token, sizeof(token));
    return td__reply_json(r, 201, reply);
}

static int delete_session(td__req *r)
{
    td_err err = {0};
    int rc = td__db_exec(td__req_db(r), &err, "DELETE FROM tokens WHERE hash = ?", "t",
                         r->who.token_hash);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (r->who.cookie)
        td__req_add_header(r, "Set-Cookie",
                           "td_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    return td__reply_empty(r, 204);
}

static int get_session(td__req *r)
{
    td_db_rows *row;
    td_err err = {0};
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT expires_at, created_at, csrf FROM tokens WHERE hash = ?", "t",
                              r->who.token_hash);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_ENOENT, &err);
    json_t *o = json_pack("{s:I,s:s,s:s,s:o,s:o}", "user_id", (json_int_t)r->who.id, "username",
                          r->who.name, "role", td__role_name(r->who.role), "created_at",
                          td__json_time(td__db_int(row, 1)), "expires_at",
                          td__json_time(td__db_int(row, 0)));
    /* A page reloaded in the browser learns its session's CSRF token here (same origin only:
     * the hub sends no CORS headers, so another site's script cannot read this reply). */
    if (r->who.cookie && !td__db_is_null(row, 2))
        json_object_set_new(o, "csrf_token", json_string(td__db_text(row, 2)));
    td__db_rows_free(row);
    return td__reply_json(r, 200, o);
}

/* ------------------------------------------------------------------------------------ */
/* Users                                                                                */
/* ------------------------------------------------------------------------------------ */

/* 1 if the caller may see user uid: themself; an admin anyone; an instructor the members of
 * the classes they teach. */
int td__may_see_user(td__req *r, int64_t uid)
{
    if (uid == r->who.id || r->who.role == TD__ROLE_ADMIN)
        return 1;
    return r->who.role == TD__ROLE_INSTRUCTOR && td__teaches(r, uid);
}

static int reply_user(td__req *r, int status, int64_t uid)
{
    td_db_rows *row;
    td_err err = {0};
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT " USER_COLS " FROM users WHERE id = ?", "i", uid);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (rc == 0)
        return td__fail(r, 404, "not_found", "no user %lld", (long long)uid);
    json_t *o = td__user_json(row, 0);
    td__db_rows_free(row);
    return td__reply_json(r, status, o);
}

static int get_me(td__req *r)
{
    return reply_user(r, 200, r->who.id);
}

static int put_my_password(td__req *r)
{
    json_t *o;
    const char *old = NULL, *new_pw = NULL;
    char hash[crypto_pwhash_STRBYTES], cur[crypto_pwhash_STRBYTES] = "";
    td_db_rows *row;
    td_err err = {0};
    int rc;
    if (td__req_json(r, &o) || td__only_keys(r, o, "old_password,new_password") ||
        td__arg_str(r, o, "old_password", 1, 256, &old) ||
        td__arg_str(r, o, "new_password", 1, 256, &new_pw))
        return 1;
    if (strlen(new_pw) < 8)
        return td__fail(r, 400, "bad_request", "the new password must have at least 8 characters");
    rc = td__db_query_row(td__req_db(r), &row, &err, "SELECT password_hash FROM users WHERE id = ?",
                          "i", r->who.id);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (rc > 0) {
        if (!td__db_is_null(row, 0))
            snprintf(cur, sizeof(cur), "%s", td__db_text(row, 0));
        td__db_rows_free(row);
    }
    if (!cur[0] || !td__password_verify(r->hub, cur, old))
        return td__fail(r, 403, "forbidden", "the old password is wrong");
    rc = td__password_hash(r->hub, new_pw, hash, sizeof(hash), &err);
    if (!rc)
        rc = td__db_exec(td__req_db(r), &err, "UPDATE users SET password_hash = ? WHERE id = ?",
                         "ti", hash, r->who.id);
    /* Other sessions end: a changed password is often a reaction to a leak. */
    if (!rc)
        rc = td__db_exec(td__req_db(r), &err, "DELETE FROM tokens WHERE user_id = ? AND hash <> ?",
                         "it", r->who.id, r->who.token_hash);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_empty(r, 204);
}

static int list_users(td__req *r)
{
    int64_t limit, after;
    const char *role = td__req_query(r, "role");
    td_db_rows *rows;
    td_err err = {0};
    json_t *arr = json_array();
    int rc;
    if (td__query_int(r, "limit", 100, 1, 1000, &limit) ||
        td__query_int(r, "after", 0, 0, INT64_MAX, &after)) {
        json_decref(arr);
        return 1;
    }
    if (role && !td__role_parse(role)) {
        json_decref(arr);
        return td__fail(r, 400, "bad_request", "role '%.20s': use admin, instructor or learner",
                        role);
    }
    rc = td__db_query(td__req_db(r), &rows, &err,
                      "SELECT " USER_COLS " FROM users WHERE id > ? AND (? IS NULL OR role = ?) "
                      "ORDER BY id LIMIT ?",
                      "itti", after, role, role, limit);
    if (!rc)
        while ((rc = td__db_next(rows, &err)) > 0)
            json_array_append_new(arr, td__user_json(rows, 0));
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "users", arr));
}

static int post_user(td__req *r)
{
    json_t *o;
    const char *name = NULL, *role = "learner", *password = NULL, *email = "", *display = "";
    td_err err = {0};
    int64_t id;
    int rc;
    if (td__req_json(r, &o) || td__only_keys(r, o, "username,password,role,email,display_name") ||
        td__arg_str(r, o, "username", 1, 64, &name) ||
        td__arg_str(r, o, "password", 1, 256, &password) ||
        td__arg_str(r, o, "role", 0, 20, &role) || td__arg_str(r, o, "email", 0, 254, &email) ||
        td__arg_str(r, o, "display_name", 0, 100, &display))
        return 1;
    rc = td__user_create(r->hub, td__req_db(r), name, role, password, email, display, &id, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    return reply_user(r, 201, id);
}

static int get_user(td__req *r)
{
    int64_t id;
    if (td__param_id(r, 0, "user", &id))
        return 1;
    if (!td__may_see_user(r, id))
        return td__fail(r, 404, "not_found", "no user %lld", (long long)id);
    return reply_user(r, 200, id);
}

static int patch_user(td__req *r)
{
    json_t *o;
    const char *role = NULL, *email = NULL, *display = NULL, *password = NULL;
    int disabled = -1;
    int64_t id;
    td_err err = {0};
    int rc = 0;
    td_db_conn *c;
    if (td__param_id(r, 0, "user", &id) || td__req_json(r, &o) ||
        td__only_keys(r, o, "role,disabled,email,display_name,password") ||
        td__arg_str(r, o, "role", 0, 20, &role) || td__arg_str(r, o, "email", 0, 254, &email) ||
        td__arg_str(r, o, "display_name", 0, 100, &display) ||
        td__arg_str(r, o, "password", 0, 256, &password) ||
        td__arg_bool(r, o, "disabled", &disabled))
        return 1;
    if (role && !td__role_parse(role))
        return td__fail(r, 400, "bad_request", "role '%.20s': use admin, instructor or learner",
                        role);
    if (email && !email_ok(email))
        return td__fail(r, 400, "bad_request", "'%.80s' is not an email address", email);
    if (password && strlen(password) < 8)
        return td__fail(r, 400, "bad_request", "the password must have at least 8 characters");
    if (id == r->who.id && (disabled == 1 || (role && strcmp(role, "admin"))))
        return td__fail(r, 409, "conflict", "an admin cannot disable or demote themself");
    c = td__req_db(r);
    int64_t exists = 0;
    rc = td__db_int_query(c, &exists, 0, &err, "SELECT COUNT(*) FROM users WHERE id = ?", "i", id);
    if (!rc && !exists)
        return td__fail(r, 404, "not_found", "no user %lld", (long long)id);
    if (!rc && role)
        rc = td__db_exec(c, &err, "UPDATE users SET role = ? WHERE id = ?", "ti", role, id);
    if (!rc && email)
        rc = td__db_exec(c, &err, "UPDATE users SET email = ? WHERE id = ?", "ti", email, id);
    if (!rc && display)
        rc = td__db_exec(c, &err, "UPDATE users SET display_name = ? WHERE id = ?", "ti", display,
                         id);
    if (!rc && disabled >= 0) {
        rc = td__db_exec(c, &err, "UPDATE users SET disabled = ? WHERE id = ?", "ii",
                         (int64_t)disabled, id);
        if (!rc && disabled)
            rc = td__db_exec(c, &err, "DELETE FROM tokens WHERE user_id = ?", "i", id);
    }
    if (!rc && password) {
        char hash[crypto_pwhash_STRBYTES];
        rc = td__password_hash(r->hub, password, hash, sizeof(hash), &err);
        if (!rc)
            rc = td__db_exec(c, &err, "UPDATE users SET password_hash = ? WHERE id = ?", "ti", hash,
                             id);
        if (!rc)
            rc = td__db_exec(c, &err, "DELETE FROM tokens WHERE user_id = ?", "i", id);
    }
    if (rc)
        return td__fail_err(r, rc, &err);
    return reply_user(r, 200, id);
}

/* ------------------------------------------------------------------------------------ */
/* Workers                                                                              */
/* ------------------------------------------------------------------------------------ */

static int list_workers(td__req *r)
{
    td_db_rows *rows;
    td_err err = {0};
    json_t *arr = json_array();
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT id, name, created_at, last_seen_at, revoked FROM workers "
                          "ORDER BY id",
                          "");
    if (!rc)
        while ((rc = td__db_next(rows, &err)) > 0)
            json_array_append_new(
                arr, json_pack("{s:I,s:s,s:o,s:o,s:b}", "id", (json_int_t)td__db_int(rows, 0),
                               "name", td__db_text(rows, 1), "created_at",
                               td__json_time(td__db_int(rows, 2)), "last_seen_at",
                               td__json_time(td__db_is_null(rows, 3) ? 0 : td__db_int(rows, 3)),
                               "revoked", (int)td__db_int(rows, 4)));
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "workers", arr));
}

static int post_worker(td__req *r)
{
    json_t *o;
    const char *name = NULL;
    char token[128];
    td_err err = {0};
    int64_t id = 0;
    int rc;
    if (td__req_json(r, &o) || td__only_keys(r, o, "name") ||
        td__arg_str(r, o, "name", 1, 64, &name))
        return 1;
    /* The pool's connection is not needed by td_hub_create_worker (it takes its own). */
    rc = td_hub_create_worker(r->hub, name, token, sizeof(token), &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    td__db_int_query(td__req_db(r), &id, 0, NULL, "SELECT id FROM workers WHERE name = ?", "t",
                     name);
    json_t *reply = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "name", name, "token", token);
    sodium_memzero(token, sizeof(token));
    return td__reply_json(r, 201, reply);
}

static int delete_worker(td__req *r)
{
    int64_t id;
    td_err err = {0};
    int rc;
    if (td__param_id(r, 0, "worker", &id))
        return 1;
    rc = td__db_exec(td__req_db(r), &err, "UPDATE workers SET revoked = 1 WHERE id = ?", "i", id);
    if (!rc && td__db_changes(td__req_db(r)) == 0)
        return td__fail(r, 404, "not_found", "no worker %lld", (long long)id);
    if (!rc)
        rc = td__db_exec(td__req_db(r), &err, "DELETE FROM tokens WHERE worker_id = ?", "i", id);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_empty(r, 204);
}

/* ------------------------------------------------------------------------------------ */
/* Routes                                                                               */
/* ------------------------------------------------------------------------------------ */

#define JSON_REF(s)                                                                                \
    "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/" s "\"}}}"

const td__route td__routes_accounts[] = {
    {"POST", "/api/v1/sessions", post_session, TD__ALLOW_ANON, TD__BODY_JSON,
     "Log in: a session token for 'Authorization: Bearer' (and with \"cookie\": true a "
     "HttpOnly SameSite=Strict cookie and a CSRF token for the browser)",
     "{\"requestBody\": {\"required\": true, \"content\": " JSON_REF(
         "Login") "},"
                  "\"responses\": {\"201\": {\"description\": \"logged in\", "
                  "\"content\": " JSON_REF(
                      "Session") "}, \"401\": {\"description\": \"wrong user name or password\"},"
                                 "\"429\": {\"description\": \"too many failed logins "
                                 "(Retry-After)\"}}}"},
    {"GET", "/api/v1/sessions/current", get_session, TD__ALLOW_USERS, TD__BODY_NONE,
     "The session of this token: who and until when", NULL},
    {"DELETE", "/api/v1/sessions/current", delete_session, TD__ALLOW_USERS, TD__BODY_NONE,
     "Log out: the token stops working",
     "{\"responses\": {\"204\": {\"description\": "
     "\"logged out\"}}}"},
    {"GET", "/api/v1/users/me", get_me, TD__ALLOW_USERS, TD__BODY_NONE, "The caller's account",
     "{\"responses\": {\"200\": {\"description\": \"the account\", \"content\": " JSON_REF(
         "User") "}}}"},
    {"PUT", "/api/v1/users/me/password", put_my_password, TD__ALLOW_USERS, TD__BODY_JSON,
     "Change the caller's password (other sessions end)",
     "{\"requestBody\": {\"required\": true, \"content\": " JSON_REF(
         "PasswordChange") "}, \"responses\": {\"204\": {\"description\": \"changed\"}}}"},
    {"GET", "/api/v1/users", list_users, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Every account (admin); ?role=, ?limit=, ?after= (the last id seen)", NULL},
    {"POST", "/api/v1/users", post_user, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Create an account (admin)",
     "{\"requestBody\": {\"required\": true, \"content\": " JSON_REF(
         "UserCreate") "}, \"responses\": {\"201\": {\"description\": \"created\", "
                       "\"content\": " JSON_REF("User") "}}}"},
    {"GET", "/api/v1/users/{id}", get_user, TD__ALLOW_USERS, TD__BODY_NONE,
     "An account: yourself, an admin anyone, an instructor the members of their classes", NULL},
    {"PATCH", "/api/v1/users/{id}", patch_user, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Change an account's role, email, name, password or disabled flag (admin)",
     "{\"requestBody\": {\"required\": true, \"content\": " JSON_REF("UserPatch") "}}"},
    {"GET", "/api/v1/workers", list_workers, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Worker machines and when they were last seen (admin)", NULL},
    {"POST", "/api/v1/workers", post_worker, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Register a worker machine; the reply holds its token, shown once (admin)",
     "{\"requestBody\": {\"required\": true, \"content\": " JSON_REF(
         "WorkerCreate") "}, \"responses\": {\"201\": {\"description\": \"registered\"}}}"},
    {"DELETE", "/api/v1/workers/{id}", delete_worker, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Revoke a worker's token (admin)",
     "{\"responses\": {\"204\": {\"description\": "
     "\"revoked\"}}}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
