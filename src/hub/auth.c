/*
 * auth.c - who is asking and may they: bearer tokens (users' sessions, worker machines,
 * later devices) and the browser's session cookie with its CSRF token; argon2id password
 * hashes with a bound on how many run at once (64 MiB each); login rate limits kept in the
 * database so several hub processes share them.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <microhttpd.h>

#include "hub/hub_internal.h"

#define MAX_HASHING 2

const char *td__role_name(int role)
{
    switch (role) {
    case TD__ROLE_ADMIN:
        return "admin";
    case TD__ROLE_INSTRUCTOR:
        return "instructor";
    case TD__ROLE_LEARNER:
        return "learner";
    default:
        return "none";
    }
}

int td__role_parse(const char *s)
{
    if (!s)
        return 0;
    if (!strcmp(s, "admin"))
        return TD__ROLE_ADMIN;
    if (!strcmp(s, "instructor"))
        return TD__ROLE_INSTRUCTOR;
    if (!strcmp(s, "learner"))
        return TD__ROLE_LEARNER;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Tokens and passwords                                                                 */
/* ------------------------------------------------------------------------------------ */

void td__token_hash(const char *token, char hash[65])
{
    td__sha256_hex(token, strlen(token), hash);
}

void td__token_new(const char *prefix, char *token, size_t cap, char hash[65])
{
    unsigned char raw[32];
    char b64[64];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(token, cap, "%s_%s", prefix, b64);
    sodium_memzero(raw, sizeof(raw));
    td__token_hash(token, hash);
}

static void hashing_enter(td_hub *h)
{
    pthread_mutex_lock(&h->pw_mu);
    while (h->pw_running >= MAX_HASHING)
        pthread_cond_wait(&h->pw_cv, &h->pw_mu);
    h->pw_running++;
    pthread_mutex_unlock(&h->pw_mu);
}

static void hashing_leave(td_hub *h)
{
    pthread_mutex_lock(&h->pw_mu);
    h->pw_running--;
    pthread_cond_signal(&h->pw_cv);
    pthread_mutex_unlock(&h->pw_mu);
}

int td__password_hash(td_hub *h, const char *password, char *out, size_t cap, td_err *err)
{
    int rc;
    if (cap < crypto_pwhash_STRBYTES)
        return td_err_set(err, TD_EINVAL, "password hash buffer too small");
    hashing_enter(h);
    rc = crypto_pwhash_str(
        out, password, strlen(password),
        h->opt.fast_passwords ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE,
        h->opt.fast_passwords ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE);
    hashing_leave(h);
    if (rc)
        return td_err_set(err, TD_ENOMEM, "not enough memory to hash the password");
    return 0;
}

int td__password_verify(td_hub *h, const char *hash, const char *password)
{
    int ok;
    hashing_enter(h);
    ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
    hashing_leave(h);
    return ok;
}

/* ------------------------------------------------------------------------------------ */
/* Authentication                                                                       */
/* ------------------------------------------------------------------------------------ */

static int unauthorized(td__req *r, const char *msg)
{
    td__req_add_header(r, "WWW-Authenticate", "Bearer realm=\"trackday\"");
    return td__fail(r, 401, "unauthorized", "%s", msg);
}

static int unsafe_method(const char *m)
{
    return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS");
}

/* A cookie-authenticated request that changes something must come from the hub's own
 * pages: same Origin (when the browser says) and the session's CSRF token in a header. */
static int check_csrf(td__req *r, const char *csrf)
{
    const char *origin = td__req_header(r, "Origin");
    const char *host = td__req_header(r, "Host");
    const char *sent = td__req_header(r, "X-CSRF-Token");
    if (origin && host) {
        const char *o = strstr(origin, "://");
        if (!o || strcmp(o + 3, host))
            return td__fail(r, 403, "csrf", "cross-origin request refused (Origin %.80s)", origin);
    }
    if (!sent || !csrf || strlen(sent) != strlen(csrf) ||
        sodium_memcmp(sent, csrf, strlen(csrf)) != 0)
        return td__fail(r, 403, "csrf",
                        "missing or wrong X-CSRF-Token header (a session cookie needs the "
                        "csrf_token from POST /api/v1/sessions)");
    return 0;
}

int td__authenticate(td__req *r)
{
    const char *auth = td__req_header(r, "Authorization");
    const char *token = NULL;
    td_db_rows *row;
    td_err err = {0};
    char hash[65];
    int rc, cookie = 0;
    int64_t now = td__hub_now(r->hub);

    memset(&r->who, 0, sizeof(r->who));
    if (auth) {
        if (strncasecmp(auth, "Bearer ", 7))
            return unauthorized(r, "the Authorization header must be 'Bearer TOKEN'");
        token = auth + 7;
        while (*token == ' ')
            token++;
    } else {
        token = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "td_session");
        cookie = token != NULL;
    }
    if (!token)
        return 0;
    if (!*token || strlen(token) > 200)
        return unauthorized(r, "invalid token");
    td__token_hash(token, hash);
    rc = td__db_query_row(td__req_db(r), &row, &err,
                          "SELECT t.kind, t.user_id, t.worker_id, t.device_id, t.expires_at, "
                          "t.csrf, t.last_used_at, u.role, u.username, u.disabled, w.name, "
                          "w.revoked FROM tokens t LEFT JOIN users u ON u.id = t.user_id "
                          "LEFT JOIN workers w ON w.id = t.worker_id WHERE t.hash = ?",
                          "t", hash);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (rc == 0)
        return unauthorized(r, "invalid or expired token: log in again");
    const char *kind = td__db_text(row, 0);
    int64_t expires = td__db_is_null(row, 4) ? 0 : td__db_int(row, 4);
    int64_t last_used = td__db_is_null(row, 6) ? 0 : td__db_int(row, 6);
    char csrf[80] = "";
    if (!td__db_is_null(row, 5))
        snprintf(csrf, sizeof(csrf), "%s", td__db_text(row, 5));
    if (expires && expires <= now) {
        td__db_rows_free(row);
        return unauthorized(r, "the session has expired: log in again");
    }
    if (!strcmp(kind, "session")) {
        if (td__db_is_null(row, 7) || td__db_int(row, 9)) {
            td__db_rows_free(row);
            return unauthorized(r, "this account is disabled");
        }
        r->who.who = TD__WHO_USER;
        r->who.id = td__db_int(row, 1);
        r->who.role = td__role_parse(td__db_text(row, 7));
        snprintf(r->who.name, sizeof(r->who.name), "%s", td__db_text(row, 8));
    } else if (!strcmp(kind, "worker")) {
        if (td__db_is_null(row, 10) || td__db_int(row, 11)) {
            td__db_rows_free(row);
            return unauthorized(r, "this worker's token was revoked");
        }
        r->who.who = TD__WHO_WORKER;
        r->who.id = td__db_int(row, 2);
        snprintf(r->who.name, sizeof(r->who.name), "%s", td__db_text(row, 10));
    } else {
        r->who.who = TD__WHO_DEVICE;
        r->who.id = td__db_is_null(row, 3) ? 0 : td__db_int(row, 3);
    }
    td__db_rows_free(row);
    r->who.cookie = cookie;
    memcpy(r->who.token_hash, hash, sizeof(hash));
    if (cookie && unsafe_method(r->method) && check_csrf(r, csrf))
        return 1;
    /* Bookkeeping at most once a minute: a write per request would cost more than the
     * request. */
    if (now - last_used >= 60) {
        td__db_exec(td__req_db(r), NULL, "UPDATE tokens SET last_used_at = ? WHERE hash = ?", "it",
                    now, hash);
        if (r->who.who == TD__WHO_WORKER)
            td__db_exec(td__req_db(r), NULL, "UPDATE workers SET last_seen_at = ? WHERE id = ?",
                        "ii", now, r->who.id);
    }
    return 0;
}

int td__authorize(td__req *r)
{
    unsigned need = r->route->allow, have = 0;
    if (need & TD__ALLOW_ANON)
        return 1;
    switch (r->who.who) {
    case TD__WHO_NONE:
        unauthorized(r, "this needs a login: send 'Authorization: Bearer TOKEN' (POST "
                        "/api/v1/sessions gives one)");
        return 0;
    case TD__WHO_USER:
        have = r->who.role == TD__ROLE_ADMIN        ? TD__ALLOW_ADMIN
               : r->who.role == TD__ROLE_INSTRUCTOR ? TD__ALLOW_INSTRUCTOR
                                                    : TD__ALLOW_LEARNER;
        break;
    case TD__WHO_WORKER:
        have = TD__ALLOW_WORKER;
        break;
    case TD__WHO_DEVICE:
        have = TD__ALLOW_DEVICE;
        break;
    }
    if (need & have)
        return 1;
    if (r->who.who == TD__WHO_USER && (need & TD__ALLOW_USERS))
        td__fail(
            r, 403, "forbidden", "a %s may not do this (it needs %s)", td__role_name(r->who.role),
            (need & TD__ALLOW_USERS) == TD__ALLOW_ADMIN ? "an admin" : "an instructor or an admin");
    else
        td__fail(r, 403, "forbidden", "this token may not be used for %s %s", r->method,
                 r->route->pattern);
    return 0;
}
