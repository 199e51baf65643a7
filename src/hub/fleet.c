/*
 * fleet.c - cars on the hub (issue 15, docs/fleet.md): the key bundles must be signed with,
 * enrollment tokens, devices (a device registers its own Ed25519 key with an enrollment token
 * and gets a device token, its own role; an admin approves the key; groups and tags),
 * bundles uploaded for deployment, and deployments with a staged rollout: canaries first,
 * a wait in which their health and laps are watched, then the rest; more failures than the
 * strategy allows roll the whole deployment back (each device to the bundle it ran before),
 * and an admin may roll back by hand. Every step lands in the device's history.
 *
 * The controller (advance()) is a function of the database: it runs after every device report
 * and heartbeat of a device in a deployment, and from the hub's reaper for the timers (the
 * canaries' wait, devices that never report), so several hub processes agree.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"
#include "trackday/bundle.h"
#include "trackday/crypto.h"

#define DEFAULT_HEARTBEAT_S 10
#define DEFAULT_TIMEOUT_S   600
#define MAX_TARGET_DEVICES  10000
#define REGISTER_CONTEXT    "trackday-device-register"

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

static int is_sha(const char *s)
{
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* Records one event in a device's history (in the caller's transaction). */
static int device_event(td_db_conn *c, int64_t now, int64_t device, int64_t deployment,
                        const char *event, const char *sha, const char *message, td_err *err)
{
    if (deployment)
        return td__db_exec(c, err,
                           "INSERT INTO device_events (device_id, deployment_id, created_at, "
                           "event, sha256, message) VALUES (?, ?, ?, ?, ?, ?)",
                           "iiittt", device, deployment, now, event, sha, message ? message : "");
    return td__db_exec(c, err,
                       "INSERT INTO device_events (device_id, created_at, event, sha256, message) "
                       "VALUES (?, ?, ?, ?, ?)",
                       "iittt", device, now, event, sha, message ? message : "");
}

/* The fleet's signing key (the public key file's text), or "" when none is set. */
static int signing_key(td_db_conn *c, char *out, size_t cap, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(c, &row, err,
                              "SELECT value FROM settings WHERE key = 'fleet_signing_key'", "");
    out[0] = 0;
    if (rc < 0)
        return rc;
    if (rc > 0) {
        snprintf(out, cap, "%s", td__db_text(row, 0));
        td__db_rows_free(row);
    }
    return 0;
}

/* A group name or tag: [A-Za-z0-9._-], 1-64 characters. */
static int valid_label(const char *s)
{
    return td__valid_name(s, 64);
}

/* Checks "tags": an array of at most 32 labels; *out a new JSON array (sorted input kept). */
static int arg_tags(td__req *r, json_t *o, json_t **out)
{
    json_t *v = json_object_get(o, "tags"), *e;
    size_t i;
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > 32)
        return td__fail(r, 400, "bad_request", "field 'tags' must be an array of at most 32 tags");
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || !valid_label(json_string_value(e)))
            return td__fail(r, 400, "bad_request",
                            "field 'tags': each tag is 1-64 letters, digits, '.', '_' or '-'");
    }
    *out = json_deep_copy(v);
    return 0;
}

int td__device_self(td__req *r, int64_t *id)
{
    if (td__param_id(r, 0, "device", id))
        return 1;
    if (r->who.who == TD__WHO_DEVICE && (r->who.id <= 0 || r->who.id != *id))
        return td__fail(r, 404, "not_found", "no device %lld", (long long)*id);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* The signing key                                                                      */
/* ------------------------------------------------------------------------------------ */

static int put_signing_key(td__req *r)
{
    json_t *o;
    const char *text = NULL;
    uint8_t pk[TD_SIGN_PUBLIC_BYTES];
    char id[TD_KEY_ID_LEN];
    td_err err = {0};
    if (td__req_json(r, &o) || td__only_keys(r, o, "public_key") ||
        td__arg_str(r, o, "public_key", 1, 400, &text))
        return 1;
    if (td_sign_public_parse(text, strlen(text), "public_key", pk, id, &err))
        return td__fail(r, 400, "bad_request", "%s", err.msg);
    int rc = td__db_exec(td__req_db(r), &err,
                         "INSERT INTO settings (key, value) VALUES ('fleet_signing_key', ?) ON "
                         "CONFLICT (key) DO UPDATE SET value = excluded.value",
                         "t", text);
    if (rc)
        return td__fail_err(r, rc, &err);
    return td__reply_json(r, 200, json_pack("{s:s,s:s}", "public_key", text, "key_id", id));
}

static int get_signing_key(td__req *r)
{
    char text[512];
    uint8_t pk[TD_SIGN_PUBLIC_BYTES];
    char id[TD_KEY_ID_LEN];
    td_err err = {0};
    int rc = signing_key(td__req_db(r), text, sizeof(text), &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (!text[0] || td_sign_public_parse(text, strlen(text), "key", pk, id, &err))
        return td__fail(r, 404, "not_found",
                        "no fleet signing key: an admin sets it (PUT /api/v1/fleet/signing-key)");
    return td__reply_json(r, 200, json_pack("{s:s,s:s}", "public_key", text, "key_id", id));
}

/* ------------------------------------------------------------------------------------ */
/* Enrollment tokens                                                                    */
/* ------------------------------------------------------------------------------------ */

static int post_enrollment(td__req *r)
{
    json_t *o, *tags = NULL;
    const char *name = NULL, *group = "";
    int auto_approve = 0;
    int64_t max_devices = 1, hours = 0, now = td__hub_now(r->hub);
    char token[128], hash[65];
    td_err err = {0};
    if (td__req_json(r, &o) ||
        td__only_keys(r, o, "name,group,tags,auto_approve,max_devices,expires_in_hours") ||
        td__arg_str(r, o, "name", 1, 64, &name) || td__arg_str(r, o, "group", 0, 64, &group) ||
        td__arg_bool(r, o, "auto_approve", &auto_approve) ||
        td__arg_int(r, o, "max_devices", 0, 1, 100000, &max_devices) ||
        td__arg_int(r, o, "expires_in_hours", 0, 1, 24 * 366, &hours) || arg_tags(r, o, &tags))
        return 1;
    if (!td__valid_name(name, 64) || (group[0] && !valid_label(group))) {
        json_decref(tags);
        return td__fail(r, 400, "bad_request",
                        "'name' and 'group' are 1-64 letters, digits, '.', '_' or '-'");
    }
    char *tags_text = tags ? json_dumps(tags, JSON_COMPACT) : NULL;
    json_decref(tags);
    td__token_new("tde", token, sizeof(token), hash);
    td_db_conn *c = td__req_db(r);
    int rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__db_exec(c, &err,
                         "INSERT INTO tokens (hash, kind, created_at, expires_at) VALUES (?, "
                         "'device', ?, ?)",
                         hours ? "tii" : "tin", hash, now, now + hours * 3600);
    if (!rc)
        rc = td__db_exec(c, &err,
                         "INSERT INTO device_enrollments (token_hash, name, group_name, tags, "
                         "auto_approve, max_devices, created_by, created_at) VALUES (?, ?, ?, ?, "
                         "?, ?, ?, ?)",
                         "ttttiiii", hash, name, group, tags_text ? tags_text : "[]",
                         (int64_t)auto_approve, max_devices, r->who.id, now);
    if (!rc)
        rc = td__db_commit(c, &err);
    free(tags_text);
    if (rc) {
        td__db_rollback(c);
        sodium_memzero(token, sizeof(token));
        return td__fail_err(r, rc, &err);
    }
    json_t *reply =
        json_pack("{s:s,s:s,s:s,s:b,s:I,s:o}", "name", name, "token", token, "group", group,
                  "auto_approve", auto_approve, "max_devices", (json_int_t)max_devices,
                  "expires_at", td__json_time(hours ? now + hours * 3600 : 0));
    sodium_memzero(token, sizeof(token));
    return td__reply_json(r, 201, reply);
}

/* ------------------------------------------------------------------------------------ */
/* Devices                                                                              */
/* ------------------------------------------------------------------------------------ */

#define DEVICE_COLS                                                                                \
    "d.id, d.name, d.key_id, d.state, d.group_name, d.tags, d.agent, d.created_at, "               \
    "d.approved_at, d.last_seen_at, d.status, d.active_sha256, d.previous_sha256, "                \
    "d.desired_sha256, d.desired_action, d.desired_deployment_id, d.public_key"

static json_t *text_or_null(td_db_rows *row, int col)
{
    return td__db_is_null(row, col) ? json_null() : json_string(td__db_text(row, col));
}

static json_t *device_json(td_db_rows *row, int64_t now)
{
    json_t *tags = json_loads(td__db_text(row, 5), 0, NULL);
    json_t *status = json_loads(td__db_text(row, 10), 0, NULL);
    int64_t seen = td__db_is_null(row, 9) ? 0 : td__db_int(row, 9);
    json_t *d =
        json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:s}", "id",
                  (json_int_t)td__db_int(row, 0), "name", td__db_text(row, 1), "key_id",
                  td__db_text(row, 2), "state", td__db_text(row, 3), "group", td__db_text(row, 4),
                  "tags", tags ? tags : json_array(), "agent", td__db_text(row, 6), "created_at",
                  td__json_time(td__db_int(row, 7)), "approved_at",
                  td__json_time(td__db_is_null(row, 8) ? 0 : td__db_int(row, 8)), "last_seen_at",
                  td__json_time(seen), "online", seen && now - seen <= 3 * DEFAULT_HEARTBEAT_S,
                  "status", status ? status : json_object(), "active_sha256", text_or_null(row, 11),
                  "previous_sha256", text_or_null(row, 12), "public_key", td__db_text(row, 16));
    if (!td__db_is_null(row, 13))
        json_object_set_new(d, "desired",
                            json_pack("{s:s,s:s,s:I}", "sha256", td__db_text(row, 13), "action",
                                      td__db_is_null(row, 14) ? "install" : td__db_text(row, 14),
                                      "deployment", (json_int_t)td__db_int(row, 15)));
    else
        json_object_set_new(d, "desired", json_null());
    return d;
}

/* Replies with device id (200 or status). */
static int reply_device(td__req *r, int status, int64_t id)
{
    td_db_rows *row;
    td_err err = {0};
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT " DEVICE_COLS " FROM devices d WHERE d.id = ?", "i", id);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    if (rc == 0)
        return td__fail(r, 404, "not_found", "no device %lld", (long long)id);
    json_t *d = device_json(row, td__hub_now(r->hub));
    td__db_rows_free(row);
    return td__reply_json(r, status, d);
}

/* The message a device signs to register: context, name and public key, one a line. */
static void register_message(const char *name, const char *pk_b64, char *out, size_t cap)
{
    snprintf(out, cap, "%s\n%s\n%s", REGISTER_CONTEXT, name, pk_b64);
}

static int post_register(td__req *r)
{
    json_t *o;
    const char *name = NULL, *pk_b64 = NULL, *sig_b64 = NULL, *agent = "";
    uint8_t pk[TD_SIGN_PUBLIC_BYTES], sig[TD_SIGN_BYTES];
    size_t pk_len = 0, sig_len = 0;
    char msg[400], key_id[TD_KEY_ID_LEN], token[128], hash[65];
    td_db_rows *row;
    td_err err = {0};
    int64_t now = td__hub_now(r->hub), id = 0;
    int rc, created = 0;
    if (r->who.id != 0)
        return td__fail(r, 403, "forbidden",
                        "registration takes an enrollment token, not a device's own token");
    if (td__req_json(r, &o) || td__only_keys(r, o, "name,public_key,signature,agent") ||
        td__arg_str(r, o, "name", 1, 64, &name) ||
        td__arg_str(r, o, "public_key", 1, 64, &pk_b64) ||
        td__arg_str(r, o, "signature", 1, 128, &sig_b64) ||
        td__arg_str(r, o, "agent", 0, 120, &agent))
        return 1;
    if (!td__valid_name(name, 64))
        return td__fail(r, 400, "bad_request",
                        "device name '%.64s': use 1-64 letters, digits, '.', '_' or '-'", name);
    if (sodium_base642bin(pk, sizeof(pk), pk_b64, strlen(pk_b64), NULL, &pk_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) ||
        pk_len != sizeof(pk))
        return td__fail(r, 400, "bad_request",
                        "field 'public_key' must be a 32-byte Ed25519 key in base64");
    if (sodium_base642bin(sig, sizeof(sig), sig_b64, strlen(sig_b64), NULL, &sig_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) ||
        sig_len != sizeof(sig))
        return td__fail(r, 400, "bad_request",
                        "field 'signature' must be a 64-byte Ed25519 signature in base64");
    register_message(name, pk_b64, msg, sizeof(msg));
    if (td_sign_verify(sig, msg, strlen(msg), pk) != 0)
        return td__fail(r, 400, "bad_request",
                        "the signature is not the key's over \"" REGISTER_CONTEXT
                        "\\nNAME\\nPUBLIC_KEY\" (docs/fleet.md)");
    td_sign_key_id(pk, key_id);
    td_db_conn *c = td__req_db(r);
    if ((rc = td__db_begin(c, 1, &err)) != 0)
        return td__fail_err(r, rc, &err);
    rc = td__db_query_row(c, &row, &err,
                          "SELECT group_name, tags, auto_approve, max_devices, used FROM "
                          "device_enrollments WHERE token_hash = ?",
                          "t", r->who.token_hash);
    if (rc <= 0) {
        td__db_rollback(c);
        return rc < 0 ? td__fail_err(r, rc, &err)
                      : td__fail(r, 403, "forbidden", "this token is not an enrollment token");
    }
    char group[80], tags[1200];
    snprintf(group, sizeof(group), "%s", td__db_text(row, 0));
    snprintf(tags, sizeof(tags), "%s", td__db_text(row, 1));
    int64_t auto_approve = td__db_int(row, 2), max_devices = td__db_int(row, 3),
            used = td__db_int(row, 4);
    td__db_rows_free(row);
    /* The same key again (a device that lost its token): a new token for the same device. */
    rc = td__db_query_row(c, &row, &err, "SELECT id, name, state FROM devices WHERE public_key = ?",
                          "t", pk_b64);
    if (rc > 0) {
        id = td__db_int(row, 0);
        int same_name = !strcmp(td__db_text(row, 1), name);
        int revoked = !strcmp(td__db_text(row, 2), "revoked");
        td__db_rows_free(row);
        if (!same_name || revoked) {
            td__db_rollback(c);
            return td__fail(r, 409, "conflict",
                            revoked ? "this device key was revoked"
                                    : "this key is registered under another device name");
        }
        rc = td__db_exec(c, &err, "DELETE FROM tokens WHERE kind = 'device' AND device_id = ?", "i",
                         id);
    } else if (rc == 0) {
        if (used >= max_devices) {
            td__db_rollback(c);
            return td__fail(r, 403, "forbidden",
                            "this enrollment token has registered its %lld device(s)",
                            (long long)max_devices);
        }
        rc = td__db_query_row(
            c, &row, &err,
            "INSERT INTO devices (name, public_key, key_id, state, group_name, tags, agent, "
            "created_at, approved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            auto_approve ? "tttttttii" : "tttttttin", name, pk_b64, key_id,
            auto_approve ? "approved" : "pending", group, tags, agent, now, now);
        if (rc == TD_ECONFLICT) {
            td__db_rollback(c);
            return td__fail(r, 409, "conflict",
                            "a device named '%s' exists with another key (an admin deletes it "
                            "first, or choose another name)",
                            name);
        }
        if (rc > 0) {
            id = td__db_int(row, 0);
            td__db_rows_free(row);
            created = 1;
            rc = td__db_exec(c, &err,
                             "UPDATE device_enrollments SET used = used + 1 WHERE token_hash = ?",
                             "t", r->who.token_hash);
        } else if (rc == 0) {
            rc = td_err_set(&err, TD_EINTERNAL, "no device id");
        }
        if (!rc)
            rc = device_event(c, now, id, 0, "registered", NULL, key_id, &err);
        if (!rc && auto_approve)
            rc = device_event(c, now, id, 0, "approved", NULL, "by its enrollment token", &err);
    }
    if (!rc) {
        td__token_new("tdd", token, sizeof(token), hash);
        rc = td__db_exec(c, &err,
                         "INSERT INTO tokens (hash, kind, device_id, created_at) VALUES (?, "
                         "'device', ?, ?)",
                         "tii", hash, id, now);
    }
    if (td__req_commit(r, c, rc, &err))
        return 1;
    char key_text[512];
    signing_key(c, key_text, sizeof(key_text), NULL);
    td_db_rows *drow;
    const char *state = "pending";
    if (td__db_query_row(c, &drow, NULL, "SELECT state FROM devices WHERE id = ?", "i", id) > 0) {
        state = !strcmp(td__db_text(drow, 0), "approved") ? "approved" : "pending";
        td__db_rows_free(drow);
    }
    json_t *reply =
        json_pack("{s:I,s:s,s:s,s:s,s:s,s:i}", "id", (json_int_t)id, "name", name, "key_id", key_id,
                  "state", state, "token", token, "heartbeat_s", DEFAULT_HEARTBEAT_S);
    json_object_set_new(reply, "signing_key", key_text[0] ? json_string(key_text) : json_null());
    sodium_memzero(token, sizeof(token));
    return td__reply_json(r, created ? 201 : 200, reply);
}

static int list_devices(td__req *r)
{
    const char *group = td__req_query(r, "group"), *tag = td__req_query(r, "tag");
    const char *state = td__req_query(r, "state");
    td_db_rows *rows;
    td_err err = {0};
    int64_t now = td__hub_now(r->hub);
    json_t *arr = json_array();
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " DEVICE_COLS " FROM devices d WHERE (? IS NULL OR "
                          "d.group_name = ?) AND (? IS NULL OR d.state = ?) ORDER BY d.id",
                          "tttt", group, group, state, state);
    if (!rc)
        while ((rc = td__db_next(rows, &err)) > 0) {
            json_t *d = device_json(rows, now);
            if (tag) {
                json_t *t, *tags = json_object_get(d, "tags");
                size_t i;
                int has = 0;
                json_array_foreach(tags, i, t) has |= !strcmp(json_string_value(t), tag);
                if (!has) {
                    json_decref(d);
                    continue;
                }
            }
            json_array_append_new(arr, d);
        }
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "devices", arr));
}

static int get_device(td__req *r)
{
    int64_t id;
    if (td__device_self(r, &id))
        return 1;
    return reply_device(r, 200, id);
}

static int patch_device(td__req *r)
{
    json_t *o, *tags = NULL;
    const char *group = NULL;
    int64_t id;
    td_err err = {0};
    int rc = 0;
    if (td__req_json(r, &o) || td__only_keys(r, o, "group,tags") ||
        td__arg_str(r, o, "group", 0, 64, &group) || arg_tags(r, o, &tags))
        return 1;
    if (td__param_id(r, 0, "device", &id)) {
        json_decref(tags);
        return 1;
    }
    if (group && group[0] && !valid_label(group)) {
        json_decref(tags);
        return td__fail(r, 400, "bad_request",
                        "field 'group' is 1-64 letters, digits, '.', '_' or '-'");
    }
    td_db_conn *c = td__req_db(r);
    if (group)
        rc =
            td__db_exec(c, &err, "UPDATE devices SET group_name = ? WHERE id = ?", "ti", group, id);
    if (!rc && tags) {
        char *text = json_dumps(tags, JSON_COMPACT);
        rc = td__db_exec(c, &err, "UPDATE devices SET tags = ? WHERE id = ?", "ti", text, id);
        free(text);
    }
    json_decref(tags);
    if (rc)
        return td__fail_err(r, rc, &err);
    return reply_device(r, 200, id);
}

/*
 * An admin's state change of device {id} and its event, in one transaction: approve (pending
 * to approved, stamped; approving an approved device changes nothing) or revoke (its tokens
 * go, and it gets no bundle; 404 when there is no such device or it is revoked). Returns 1
 * when it has replied (an error), else 0 with the device id in *id.
 */
static int device_transition(td__req *r, int revoke, int64_t *id)
{
    int64_t now = td__hub_now(r->hub);
    td_err err = {0};
    if (td__param_id(r, 0, "device", id))
        return 1;
    td_db_conn *c = td__req_db(r);
    int rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = revoke ? td__db_exec(c, &err,
                                  "UPDATE devices SET state = 'revoked', desired_sha256 = NULL "
                                  "WHERE id = ? AND state != 'revoked'",
                                  "i", *id)
                    : td__db_exec(c, &err,
                                  "UPDATE devices SET state = 'approved', approved_at = ? WHERE "
                                  "id = ? AND state = 'pending'",
                                  "ii", now, *id);
    int changed = !rc && td__db_changes(c) > 0;
    if (!rc && !changed && revoke) {
        td__db_rollback(c);
        return td__fail(r, 404, "not_found", "no device %lld (or already revoked)", (long long)*id);
    }
    if (!rc && revoke)
        rc = td__db_exec(c, &err, "DELETE FROM tokens WHERE kind = 'device' AND device_id = ?", "i",
                         *id);
    if (!rc && changed) {
        char by[100];
        snprintf(by, sizeof(by), "%s%s", revoke ? "" : "by ", r->who.name);
        rc = device_event(c, now, *id, 0, revoke ? "revoked" : "approved", NULL, by, &err);
    }
    return td__req_commit(r, c, rc, &err);
}

static int approve_device(td__req *r)
{
    int64_t id;
    return device_transition(r, 0, &id) ? 1 : reply_device(r, 200, id);
}

static int delete_device(td__req *r)
{
    int64_t id;
    return device_transition(r, 1, &id) ? 1 : td__reply_empty(r, 204);
}

static int get_history(td__req *r)
{
    int64_t id, limit;
    td_db_rows *rows;
    td_err err = {0};
    if (td__device_self(r, &id) || td__query_int(r, "limit", 200, 1, 10000, &limit))
        return 1;
    json_t *arr = json_array();
    int64_t exists = 0;
    td__db_int_query(td__req_db(r), &exists, 0, NULL, "SELECT COUNT(*) FROM devices WHERE id = ?",
                     "i", id);
    if (!exists) {
        json_decref(arr);
        return td__fail(r, 404, "not_found", "no device %lld", (long long)id);
    }
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT e.created_at, e.event, e.deployment_id, e.sha256, e.message, "
                          "b.name FROM device_events e LEFT JOIN bundles b ON b.sha256 = e.sha256 "
                          "WHERE e.device_id = ? ORDER BY e.id DESC LIMIT ?",
                          "ii", id, limit);
    if (!rc)
        while ((rc = td__db_next(rows, &err)) > 0) {
            json_t *e = json_pack("{s:o,s:s,s:s}", "time", td__json_time(td__db_int(rows, 0)),
                                  "event", td__db_text(rows, 1), "message", td__db_text(rows, 4));
            if (!td__db_is_null(rows, 2) && td__db_int(rows, 2))
                json_object_set_new(e, "deployment", json_integer(td__db_int(rows, 2)));
            if (!td__db_is_null(rows, 3))
                json_object_set_new(e, "sha256", json_string(td__db_text(rows, 3)));
            if (!td__db_is_null(rows, 5))
                json_object_set_new(e, "bundle", json_string(td__db_text(rows, 5)));
            json_array_append_new(arr, e);
        }
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:I,s:o}", "device", (json_int_t)id, "history", arr));
}

/* ------------------------------------------------------------------------------------ */
/* Bundles                                                                              */
/* ------------------------------------------------------------------------------------ */

static json_t *bundle_json(td_db_rows *row, int col)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:o,s:s,s:I,s:o,s:s}", "id",
                     (json_int_t)td__db_int(row, col), "sha256", td__db_text(row, col + 1),
                     "bundle_id", td__db_text(row, col + 2), "name", td__db_text(row, col + 3),
                     "created", td__json_time(td__db_int(row, col + 4)), "key_id",
                     td__db_text(row, col + 5), "size", (json_int_t)td__db_int(row, col + 6),
                     "uploaded_at", td__json_time(td__db_int(row, col + 7)), "download", "");
}

#define BUNDLE_COLS                                                                                \
    "b.id, b.sha256, b.bundle_id, b.name, b.created_unix, b.key_id, b.size, b.uploaded_at"

static void set_download(json_t *b)
{
    char path[80];
    snprintf(path, sizeof(path), "/api/v1/bundles/%lld/file",
             (long long)json_integer_value(json_object_get(b, "id")));
    json_object_set_new(b, "download", json_string(path));
}

static int post_bundle(td__req *r)
{
    char key_text[512], key_id[TD_KEY_ID_LEN];
    uint8_t pk[TD_SIGN_PUBLIC_BYTES];
    td_bundle b;
    td__fileset fs;
    td_err err = {0};
    td_db_rows *row;
    int64_t fsid = 0, id = 0, now = td__hub_now(r->hub);
    int rc;
    td_db_conn *c = td__req_db(r);
    if ((rc = signing_key(c, key_text, sizeof(key_text), &err)) != 0)
        return td__fail_err(r, rc, &err);
    if (!key_text[0] || td_sign_public_parse(key_text, strlen(key_text), "key", pk, key_id, &err))
        return td__fail(r, 409, "conflict",
                        "set the fleet's signing key first (PUT /api/v1/fleet/signing-key): "
                        "bundles are checked against it");
    if (!r->upload_len)
        return td__fail(r, 400, "bad_request", "the body must be a bundle (.tdb)");
    if (td_bundle_open_file(&b, r->upload_path, pk, NULL, &err) != 0) {
        td_bundle_close(&b);
        return td__fail(r, 400, "bad_request", "not a bundle of this fleet: %s", err.msg);
    }
    /* A bundle already stored: its row. */
    rc =
        td__db_int_query(c, &id, 0, &err, "SELECT id FROM bundles WHERE sha256 = ?", "t", b.sha256);
    if (!rc && id) {
        td_bundle_close(&b);
        goto reply;
    }
    memset(&fs, 0, sizeof(fs));
    rc = td__fileset_add_file(r->hub, &fs, "bundle.tdb", r->upload_path, &err);
    if (!rc)
        rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__fileset_insert(r->hub, c, &fs, &fsid, &err);
    if (!rc) {
        rc = td__db_query_row(c, &row, &err,
                              "INSERT INTO bundles (sha256, bundle_id, name, created_unix, key_id, "
                              "size, fileset_id, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, "
                              "?, ?, ?, ?) RETURNING id",
                              "tttitiiii", b.sha256, b.bundle_id, b.name, b.created_unix, b.key_id,
                              (int64_t)r->upload_len, fsid, r->who.id, now);
        if (rc > 0) {
            id = td__db_int(row, 0);
            td__db_rows_free(row);
            rc = 0;
        } else if (rc == 0) {
            rc = td_err_set(&err, TD_EINTERNAL, "no bundle id");
        }
    }
    td__fileset_free(&fs);
    td_bundle_close(&b);
    if (td__req_commit(r, c, rc, &err))
        return 1;
reply:
    rc = td__db_query_row(c, &row, &err, "SELECT " BUNDLE_COLS " FROM bundles b WHERE b.id = ?",
                          "i", id);
    if (rc <= 0)
        return td__fail_err(r, rc ? rc : TD_EINTERNAL, &err);
    json_t *j = bundle_json(row, 0);
    td__db_rows_free(row);
    set_download(j);
    return td__reply_json(r, fsid ? 201 : 200, j);
}

static int list_bundles(td__req *r)
{
    td_db_rows *rows;
    td_err err = {0};
    json_t *arr = json_array();
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT " BUNDLE_COLS " FROM bundles b ORDER BY b.id DESC", "");
    if (!rc)
        while ((rc = td__db_next(rows, &err)) > 0) {
            json_t *j = bundle_json(rows, 0);
            set_download(j);
            json_array_append_new(arr, j);
        }
    td__db_rows_free(rows);
    if (rc < 0) {
        json_decref(arr);
        return td__fail_err(r, rc, &err);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "bundles", arr));
}

static int get_bundle_file(td__req *r)
{
    int64_t id, fsid = 0, allowed = 1;
    td_err err = {0};
    td__fileset fs;
    if (td__param_id(r, 0, "bundle", &id))
        return 1;
    td_db_conn *c = td__req_db(r);
    if (r->who.who == TD__WHO_DEVICE) {
        /* A device reads a bundle a deployment gave it, or the one it is told to go back to. */
        td__db_int_query(c, &allowed, 0, NULL,
                         "SELECT COUNT(*) FROM devices d, bundles b WHERE d.id = ? AND b.id = ? "
                         "AND d.state = 'approved' AND (d.desired_sha256 = b.sha256 OR EXISTS "
                         "(SELECT 1 FROM deployment_devices x JOIN deployments y ON y.id = "
                         "x.deployment_id WHERE x.device_id = d.id AND x.state NOT IN ('held', "
                         "'skipped') AND (y.bundle_id = b.id OR x.from_sha256 = b.sha256)))",
                         "ii", r->who.id, id);
    }
    int rc =
        td__db_int_query(c, &fsid, 0, &err, "SELECT fileset_id FROM bundles WHERE id = ?", "i", id);
    if (rc)
        return td__fail_err(r, rc, &err);
    if (!fsid || !allowed)
        return td__fail(r, 404, "not_found", "no bundle %lld", (long long)id);
    if ((rc = td__fileset_load(c, fsid, &fs, &err)) != 0)
        return td__fail_err(r, rc, &err);
    const td__file_entry *e = td__fileset_find(&fs, "bundle.tdb");
    rc = e ? td__reply_blob(r, e, "application/octet-stream")
           : td__fail(r, 500, "internal", "the bundle's file is missing");
    td__fileset_free(&fs);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Deployments: the controller                                                           */
/* ------------------------------------------------------------------------------------ */

typedef struct strategy {
    int64_t canary; /* devices, or with canary_pct a percentage */
    int canary_pct;
    int64_t wait_s; /* after the canaries installed, before the rest */
    int64_t max_failures;
    int64_t timeout_s;            /* a released device that does not report in this long failed */
    int64_t min_laps;             /* each canary drives at least this many laps in the wait */
    double max_off_track_per_lap; /* < 0: not checked */
    double max_lap_s;             /* mean lap time of a canary; <= 0: not checked */
} strategy;

static void strategy_default(strategy *s)
{
    memset(s, 0, sizeof(*s));
    s->canary = 1;
    s->timeout_s = DEFAULT_TIMEOUT_S;
    s->max_off_track_per_lap = -1;
}

static void strategy_from_json(strategy *s, const json_t *j)
{
    strategy_default(s);
    const json_t *v = json_object_get(j, "canary");
    if (json_is_integer(v))
        s->canary = json_integer_value(v);
    else if (json_is_string(v)) {
        s->canary = strtol(json_string_value(v), NULL, 10);
        s->canary_pct = 1;
    }
    if ((v = json_object_get(j, "wait_s")))
        s->wait_s = json_integer_value(v);
    if ((v = json_object_get(j, "max_failures")))
        s->max_failures = json_integer_value(v);
    if ((v = json_object_get(j, "timeout_s")))
        s->timeout_s = json_integer_value(v);
    if ((v = json_object_get(j, "min_laps")))
        s->min_laps = json_integer_value(v);
    if ((v = json_object_get(j, "max_off_track_per_lap")))
        s->max_off_track_per_lap = json_number_value(v);
    if ((v = json_object_get(j, "max_lap_s")))
        s->max_lap_s = json_number_value(v);
}

/* Marks a device of a deployment failed (and counts it). */
static int fail_device(td_db_conn *c, int64_t now, int64_t dep, int64_t dev, const char *why,
                       td_err *err)
{
    int rc = td__db_exec(c, err,
                         "UPDATE deployment_devices SET state = 'failed', message = ?, updated_at "
                         "= ? WHERE deployment_id = ? AND device_id = ? AND state IN ('pending', "
                         "'installed')",
                         "tiii", why, now, dep, dev);
    if (rc || td__db_changes(c) == 0)
        return rc;
    if ((rc = td__db_exec(c, err, "UPDATE deployments SET failures = failures + 1 WHERE id = ?",
                          "i", dep)) != 0)
        return rc;
    return device_event(c, now, dev, dep, "failed", NULL, why, err);
}

/* Rolls the deployment back: every device that was given its bundle goes back to the bundle
 * it ran before; those not yet given it are skipped. */
static int begin_rollback(td_db_conn *c, int64_t now, int64_t dep, const char *reason, td_err *err)
{
    td_db_rows *rows;
    int rc = td__db_exec(c, err,
                         "UPDATE deployments SET state = 'rolling_back', reason = ?, phase_at = ? "
                         "WHERE id = ?",
                         "tii", reason, now, dep);
    if (!rc)
        rc = td__db_exec(c, err,
                         "UPDATE deployment_devices SET state = 'skipped', updated_at = ? WHERE "
                         "deployment_id = ? AND state = 'held'",
                         "ii", now, dep);
    if (rc)
        return rc;
    /* The devices to send back, collected first (the updates below change the rows). */
    int64_t ids[1024];
    char from[1024][65];
    int n = 0, failed_state[1024];
    /* A device that failed by refusing the bundle still runs what it ran (nothing to undo);
     * one failed by the hub's checks after installing it (laps, silence) may run the new one. */
    rc = td__db_query(c, &rows, err,
                      "SELECT x.device_id, x.from_sha256, x.state, d.active_sha256 FROM "
                      "deployment_devices x JOIN devices d ON d.id = x.device_id WHERE "
                      "x.deployment_id = ? AND x.state IN ('pending', 'installed', 'failed')",
                      "i", dep);
    if (!rc)
        while ((rc = td__db_next(rows, err)) > 0 && n < 1024) {
            ids[n] = td__db_int(rows, 0);
            snprintf(from[n], 65, "%s", td__db_is_null(rows, 1) ? "" : td__db_text(rows, 1));
            failed_state[n] = !strcmp(td__db_text(rows, 2), "failed") &&
                              (td__db_is_null(rows, 3) || !strcmp(td__db_text(rows, 3), from[n]));
            n++;
        }
    td__db_rows_free(rows);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n && !rc; i++) {
        if (!from[i][0]) {
            /* Nothing ran before: the device keeps what it has and is told nothing more. */
            rc = td__db_exec(c, err,
                             "UPDATE deployment_devices SET state = CASE WHEN state = 'failed' "
                             "THEN state ELSE 'skipped' END, message = 'no previous bundle to "
                             "go back to', updated_at = ? WHERE deployment_id = ? AND device_id = "
                             "?",
                             "iii", now, dep, ids[i]);
            if (!rc)
                rc = td__db_exec(c, err,
                                 "UPDATE devices SET desired_sha256 = NULL, desired_action = "
                                 "NULL, desired_deployment_id = NULL WHERE id = ? AND "
                                 "desired_deployment_id = ?",
                                 "ii", ids[i], dep);
            continue;
        }
        if (!failed_state[i])
            rc = td__db_exec(c, err,
                             "UPDATE deployment_devices SET state = 'rolling_back', updated_at = "
                             "? WHERE deployment_id = ? AND device_id = ?",
                             "iii", now, dep, ids[i]);
        if (!rc)
            rc = td__db_exec(c, err,
                             "UPDATE devices SET desired_sha256 = ?, desired_action = 'rollback', "
                             "desired_deployment_id = ? WHERE id = ?",
                             "tii", from[i], dep, ids[i]);
        if (!rc && !failed_state[i])
            rc = device_event(c, now, ids[i], dep, "rollback_requested", from[i], reason, err);
    }
    return rc;
}

/* Gives the deployment's bundle to the devices of one phase (canary = 1 or 0). */
static int release(td_db_conn *c, int64_t now, int64_t dep, const char *sha, int canary,
                   td_err *err)
{
    int rc = td__db_exec(c, err,
                         "UPDATE deployment_devices SET state = 'pending', released_at = ?, "
                         "updated_at = ?, from_sha256 = (SELECT active_sha256 FROM devices d "
                         "WHERE d.id = device_id) WHERE deployment_id = ? AND canary = ? AND "
                         "state = 'held'",
                         "iiii", now, now, dep, (int64_t)canary);
    if (!rc)
        rc = td__db_exec(c, err,
                         "UPDATE devices SET desired_sha256 = ?, desired_action = 'install', "
                         "desired_deployment_id = ? WHERE id IN (SELECT device_id FROM "
                         "deployment_devices WHERE deployment_id = ? AND canary = ? AND state = "
                         "'pending')",
                         "tiii", sha, dep, dep, (int64_t)canary);
    if (!rc)
        rc = td__db_exec(c, err,
                         "INSERT INTO device_events (device_id, deployment_id, created_at, event, "
                         "sha256, message) SELECT device_id, deployment_id, ?, 'deployment', ?, ? "
                         "FROM deployment_devices WHERE deployment_id = ? AND canary = ? AND "
                         "state = 'pending'",
                         "ittii", now, sha, canary ? "install (canary)" : "install", dep,
                         (int64_t)canary);
    return rc;
}

/* The canaries' laps with the deployment's bundle, from their heartbeats: a reason to fail
 * a device, written into why, or "" when it passes. final: the wait is over (min_laps). */
static void lap_check(const strategy *s, const char *status_text, const char *sha, int final,
                      char *why, size_t cap)
{
    json_t *st = json_loads(status_text, 0, NULL);
    const json_t *drv = json_object_get(st, "driving");
    const char *drv_sha = json_string_value(json_object_get(drv, "sha256"));
    int64_t laps = 0, off = 0;
    double mean = 0;
    why[0] = 0;
    if (drv && drv_sha && !strcmp(drv_sha, sha)) {
        laps = json_integer_value(json_object_get(drv, "laps"));
        off = json_integer_value(json_object_get(drv, "off_track"));
        mean = json_number_value(json_object_get(drv, "lap_time_mean_s"));
    }
    if (s->max_off_track_per_lap >= 0 && off > 0 &&
        (double)off / (double)(laps > 0 ? laps : 1) > s->max_off_track_per_lap &&
        (laps > 0 || off > s->max_off_track_per_lap))
        snprintf(why, cap, "lap check: %lld off-track in %lld laps (at most %.3g a lap)",
                 (long long)off, (long long)laps, s->max_off_track_per_lap);
    else if (s->max_lap_s > 0 && laps > 0 && mean > s->max_lap_s)
        snprintf(why, cap, "lap check: mean lap %.2f s over %lld laps (at most %.2f s)", mean,
                 (long long)laps, s->max_lap_s);
    else if (final && laps < s->min_laps)
        snprintf(why, cap, "lap check: %lld laps in the wait (at least %lld)", (long long)laps,
                 (long long)s->min_laps);
    json_decref(st);
}

/* Deployment dep ends in state `final` when none of its devices is in state open1 or open2. */
static int finish_when_settled(td_db_conn *c, int64_t now, int64_t dep, const char *open1,
                               const char *open2, const char *final, td_err *err)
{
    int64_t open = 0;
    td__db_int_query(c, &open, 0, NULL,
                     "SELECT COUNT(*) FROM deployment_devices WHERE deployment_id = ? AND state "
                     "IN (?, ?)",
                     "itt", dep, open1, open2);
    if (open)
        return 0;
    return td__db_exec(c, err, "UPDATE deployments SET state = ?, finished_at = ? WHERE id = ?",
                       "tii", final, now, dep);
}

/* Moves one deployment on as far as its devices' reports and the clock allow. */
static int advance(td_db_conn *c, int64_t now, int64_t dep, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(c, &row, err,
                              "SELECT y.state, y.strategy, y.failures, y.phase_at, b.sha256 FROM "
                              "deployments y JOIN bundles b ON b.id = y.bundle_id WHERE y.id = ?",
                              "i", dep);
    if (rc <= 0)
        return rc;
    char state[20], sha[65];
    snprintf(state, sizeof(state), "%s", td__db_text(row, 0));
    json_t *sj = json_loads(td__db_text(row, 1), 0, NULL);
    strategy s;
    strategy_from_json(&s, sj);
    json_decref(sj);
    int64_t failures = td__db_int(row, 2), phase_at = td__db_int(row, 3);
    snprintf(sha, sizeof(sha), "%s", td__db_text(row, 4));
    td__db_rows_free(row);
    if (!strcmp(state, "succeeded") || !strcmp(state, "rolled_back"))
        return 0;
    if (strcmp(state, "rolling_back") != 0) {
        /* Devices that never reported. */
        td_db_rows *rows;
        int64_t late[256];
        int n = 0;
        rc = td__db_query(c, &rows, err,
                          "SELECT device_id FROM deployment_devices WHERE deployment_id = ? AND "
                          "state = 'pending' AND released_at < ?",
                          "ii", dep, now - s.timeout_s);
        if (!rc)
            while ((rc = td__db_next(rows, err)) > 0 && n < 256)
                late[n++] = td__db_int(rows, 0);
        td__db_rows_free(rows);
        if (rc < 0)
            return rc;
        for (int i = 0; i < n && !rc; i++) {
            char why[120];
            snprintf(why, sizeof(why), "no report within %lld s", (long long)s.timeout_s);
            rc = fail_device(c, now, dep, late[i], why, err);
        }
        if (rc)
            return rc;
        td__db_int_query(c, &failures, 0, NULL, "SELECT failures FROM deployments WHERE id = ?",
                         "i", dep);
    }
    int64_t canary_failed = 0;
    td__db_int_query(c, &canary_failed, 0, NULL,
                     "SELECT COUNT(*) FROM deployment_devices WHERE deployment_id = ? AND canary "
                     "= 1 AND state = 'failed'",
                     "i", dep);
    if (!strcmp(state, "canary") || !strcmp(state, "waiting") || !strcmp(state, "rolling_out")) {
        if (canary_failed > 0 || failures > s.max_failures) {
            char reason[400], first[300] = "";
            td_db_rows *fr;
            if (td__db_query_row(c, &fr, NULL,
                                 "SELECT d.name, x.message FROM deployment_devices x JOIN devices "
                                 "d ON d.id = x.device_id WHERE x.deployment_id = ? AND x.state "
                                 "= 'failed' ORDER BY x.updated_at, x.device_id LIMIT 1",
                                 "i", dep) > 0) {
                snprintf(first, sizeof(first), "%s: %s", td__db_text(fr, 0), td__db_text(fr, 1));
                td__db_rows_free(fr);
            }
            snprintf(reason, sizeof(reason), "%s failed (%lld failure%s; %s)",
                     canary_failed ? "a canary" : "too many devices", (long long)failures,
                     failures == 1 ? "" : "s", first);
            rc = begin_rollback(c, now, dep, reason, err);
            return rc ? rc : advance(c, now, dep, err); /* done when no device had it */
        }
    }
    int64_t open_canary = 0;
    td__db_int_query(c, &open_canary, 0, NULL,
                     "SELECT COUNT(*) FROM deployment_devices WHERE deployment_id = ? AND canary "
                     "= 1 AND state != 'installed'",
                     "i", dep);
    if (!strcmp(state, "canary") && open_canary == 0) {
        rc = td__db_exec(c, err,
                         "UPDATE deployments SET state = 'waiting', phase_at = ? WHERE id = ?",
                         "ii", now, dep);
        if (rc)
            return rc;
        snprintf(state, sizeof(state), "waiting");
        phase_at = now;
    }
    if (!strcmp(state, "waiting")) {
        int final = now - phase_at >= s.wait_s;
        td_db_rows *rows;
        int64_t bad_ids[64];
        char bad_why[64][200];
        int nbad = 0;
        rc = td__db_query(c, &rows, err,
                          "SELECT x.device_id, d.status FROM deployment_devices x JOIN devices d "
                          "ON d.id = x.device_id WHERE x.deployment_id = ? AND x.canary = 1",
                          "i", dep);
        if (!rc)
            while ((rc = td__db_next(rows, err)) > 0 && nbad < 64) {
                lap_check(&s, td__db_text(rows, 1), sha, final, bad_why[nbad],
                          sizeof(bad_why[nbad]));
                if (bad_why[nbad][0])
                    bad_ids[nbad++] = td__db_int(rows, 0);
            }
        td__db_rows_free(rows);
        if (rc < 0)
            return rc;
        for (int i = 0; i < nbad && !rc; i++)
            rc = fail_device(c, now, dep, bad_ids[i], bad_why[i], err);
        if (rc)
            return rc;
        if (nbad)
            return advance(c, now, dep, err); /* the failure rolls it back */
        if (!final)
            return 0;
        if ((rc = release(c, now, dep, sha, 0, err)) != 0)
            return rc;
        rc = td__db_exec(c, err,
                         "UPDATE deployments SET state = 'rolling_out', phase_at = ? WHERE id = ?",
                         "ii", now, dep);
        if (rc)
            return rc;
        snprintf(state, sizeof(state), "rolling_out");
    }
    if (!strcmp(state, "rolling_out"))
        return finish_when_settled(c, now, dep, "held", "pending", "succeeded", err);
    if (!strcmp(state, "rolling_back"))
        return finish_when_settled(c, now, dep, "rolling_back", "rolling_back", "rolled_back", err);
    return 0;
}

/* Advances every unfinished deployment (the reaper's tick; also after a device reports). */
int td__fleet_tick(td_hub *h, td_db_conn *c, td_err *err)
{
    int64_t ids[256];
    int n = 0, rc;
    td_db_rows *rows;
    rc = td__db_query(c, &rows, err,
                      "SELECT id FROM deployments WHERE state NOT IN ('succeeded', "
                      "'rolled_back') ORDER BY id LIMIT 256",
                      "");
    if (!rc)
        while ((rc = td__db_next(rows, err)) > 0)
            ids[n++] = td__db_int(rows, 0);
    td__db_rows_free(rows);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        if ((rc = td__db_begin(c, 1, err)) != 0)
            return rc;
        rc = advance(c, td__hub_now(h), ids[i], err);
        if (!rc)
            rc = td__db_commit(c, err);
        if (rc) {
            td__db_rollback(c);
            return rc;
        }
    }
    if (n)
        td__hub_notify(h);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Deployments: routes                                                                   */
/* ------------------------------------------------------------------------------------ */

static json_t *deployment_json(td_db_conn *c, int64_t id, int with_devices, td_err *err)
{
    td_db_rows *row;
    int rc = td__db_query_row(c, &row, err,
                              "SELECT y.id, y.target, y.strategy, y.state, y.failures, y.reason, "
                              "y.created_at, y.phase_at, y.finished_at, " BUNDLE_COLS
                              " FROM deployments y JOIN bundles b ON b.id = y.bundle_id WHERE "
                              "y.id = ?",
                              "i", id);
    if (rc <= 0)
        return NULL;
    json_t *bundle = bundle_json(row, 9);
    set_download(bundle);
    json_t *target = json_loads(td__db_text(row, 1), 0, NULL);
    json_t *strat = json_loads(td__db_text(row, 2), 0, NULL);
    json_t *d =
        json_pack("{s:I,s:o,s:o,s:o,s:s,s:I,s:s,s:o,s:o,s:o}", "id", (json_int_t)td__db_int(row, 0),
                  "bundle", bundle, "target", target ? target : json_object(), "strategy",
                  strat ? strat : json_object(), "state", td__db_text(row, 3), "failures",
                  (json_int_t)td__db_int(row, 4), "reason", td__db_text(row, 5), "created_at",
                  td__json_time(td__db_int(row, 6)), "phase_at", td__json_time(td__db_int(row, 7)),
                  "finished_at", td__json_time(td__db_is_null(row, 8) ? 0 : td__db_int(row, 8)));
    td__db_rows_free(row);
    /* Counts per device state. */
    json_t *counts = json_object();
    td_db_rows *rows;
    if (td__db_query(c, &rows, NULL,
                     "SELECT state, COUNT(*) FROM deployment_devices WHERE deployment_id = ? "
                     "GROUP BY state",
                     "i", id) == 0)
        while (td__db_next(rows, NULL) > 0)
            json_object_set_new(counts, td__db_text(rows, 0), json_integer(td__db_int(rows, 1)));
    td__db_rows_free(rows);
    json_object_set_new(d, "devices_by_state", counts);
    if (with_devices) {
        json_t *arr = json_array();
        if (td__db_query(c, &rows, NULL,
                         "SELECT x.device_id, d.name, x.canary, x.state, x.from_sha256, "
                         "x.message, x.released_at, x.updated_at FROM deployment_devices x JOIN "
                         "devices d ON d.id = x.device_id WHERE x.deployment_id = ? ORDER BY "
                         "x.canary DESC, x.device_id",
                         "i", id) == 0)
            while (td__db_next(rows, NULL) > 0)
                json_array_append_new(
                    arr, json_pack("{s:I,s:s,s:b,s:s,s:o,s:s,s:o,s:o}", "device",
                                   (json_int_t)td__db_int(rows, 0), "name", td__db_text(rows, 1),
                                   "canary", (int)td__db_int(rows, 2), "state",
                                   td__db_text(rows, 3), "from_sha256", text_or_null(rows, 4),
                                   "message", td__db_text(rows, 5), "released_at",
                                   td__json_time(td__db_is_null(rows, 6) ? 0 : td__db_int(rows, 6)),
                                   "updated_at", td__json_time(td__db_int(rows, 7))));
        td__db_rows_free(rows);
        json_object_set_new(d, "devices", arr);
    }
    return d;
}

/* Checks the request's strategy into a canonical object; replies 400 and returns 1. */
static int arg_strategy(td__req *r, json_t *o, json_t **out)
{
    json_t *s = json_object_get(o, "strategy"), *v;
    int64_t n;
    double x;
    *out = json_object();
    if (!s || json_is_null(s))
        s = *out; /* the defaults */
    else if (!json_is_object(s))
        return td__fail(r, 400, "bad_request", "field 'strategy' must be an object");
    if (s != *out && td__only_keys(r, s,
                                   "canary,canary_devices,wait_s,max_failures,timeout_s,min_laps,"
                                   "max_off_track_per_lap,max_lap_s"))
        return 1;
    /* Devices that must be among the canaries (the one that alerted, docs/drift.md). */
    json_t *cd = json_object_get(s, "canary_devices");
    if (cd) {
        size_t i;
        if (!json_is_array(cd) || json_array_size(cd) > 16)
            return td__fail(r, 400, "bad_request",
                            "field 'strategy.canary_devices' must be an array of at most 16 ids");
        json_array_foreach(cd, i, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) <= 0)
                return td__fail(r, 400, "bad_request",
                                "field 'strategy.canary_devices' must be an array of ids");
        }
        json_object_set(*out, "canary_devices", cd);
    }
    v = json_object_get(s, "canary");
    if (json_is_string(v)) {
        const char *t = json_string_value(v);
        char *end;
        long pct = strtol(t, &end, 10);
        if (end == t || strcmp(end, "%") || pct < 0 || pct > 100)
            return td__fail(r, 400, "bad_request",
                            "field 'strategy.canary' is a number of devices or a percentage "
                            "(\"25%%\")");
        json_object_set_new(*out, "canary", json_string(t));
    } else {
        n = 1;
        if (td__arg_int(r, s, "canary", 0, 0, MAX_TARGET_DEVICES, &n))
            return 1;
        json_object_set_new(*out, "canary", json_integer(n));
    }
    n = 0;
    if (td__arg_int(r, s, "wait_s", 0, 0, 7 * 86400, &n))
        return 1;
    json_object_set_new(*out, "wait_s", json_integer(n));
    n = 0;
    if (td__arg_int(r, s, "max_failures", 0, 0, MAX_TARGET_DEVICES, &n))
        return 1;
    json_object_set_new(*out, "max_failures", json_integer(n));
    n = DEFAULT_TIMEOUT_S;
    if (td__arg_int(r, s, "timeout_s", 0, 1, 7 * 86400, &n))
        return 1;
    json_object_set_new(*out, "timeout_s", json_integer(n));
    n = 0;
    if (td__arg_int(r, s, "min_laps", 0, 0, 100000, &n))
        return 1;
    json_object_set_new(*out, "min_laps", json_integer(n));
    if (json_object_get(s, "max_off_track_per_lap")) {
        if (td__arg_num(r, s, "max_off_track_per_lap", 0, 0, 1000, &x))
            return 1;
        json_object_set_new(*out, "max_off_track_per_lap", json_real(x));
    }
    if (json_object_get(s, "max_lap_s")) {
        if (td__arg_num(r, s, "max_lap_s", 0, 0.001, 1e6, &x))
            return 1;
        json_object_set_new(*out, "max_lap_s", json_real(x));
    }
    return 0;
}

/* The approved devices a target names ({"group"}, {"tags"} or {"devices"}), sorted by id. */
static int target_devices(td__req *r, json_t *o, json_t **target, int64_t **ids, int *n)
{
    json_t *t = json_object_get(o, "target"), *v;
    td_db_rows *rows;
    td_err err = {0};
    size_t i;
    *ids = NULL;
    *n = 0;
    *target = NULL;
    if (!json_is_object(t))
        return td__fail(r, 400, "bad_request",
                        "field 'target' must be {\"group\": G}, {\"tags\": [T...]} or "
                        "{\"devices\": [ID...]}");
    if (td__only_keys(r, t, "group,tags,devices"))
        return 1;
    const char *group = NULL;
    json_t *tags = NULL, *devs = json_object_get(t, "devices");
    if (td__arg_str(r, t, "group", 0, 64, &group) || arg_tags(r, t, &tags))
        return 1;
    if (devs && (!json_is_array(devs) || json_array_size(devs) > MAX_TARGET_DEVICES)) {
        json_decref(tags);
        return td__fail(r, 400, "bad_request", "field 'target.devices' must be an array of ids");
    }
    json_array_foreach(devs, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            json_decref(tags);
            return td__fail(r, 400, "bad_request",
                            "field 'target.devices' must be an array of ids");
        }
    }
    if (!group && !tags && !devs) {
        return td__fail(r, 400, "bad_request", "field 'target' names no group, tags or devices");
    }
    int64_t *out = td_malloc(sizeof(int64_t) * MAX_TARGET_DEVICES);
    if (!out) {
        json_decref(tags);
        return td__fail(r, 500, "internal", "out of memory");
    }
    int rc = td__db_query(td__req_db(r), &rows, &err,
                          "SELECT id, tags FROM devices WHERE state = 'approved' AND (? IS NULL "
                          "OR group_name = ?) ORDER BY id",
                          "tt", group, group);
    if (!rc)
        while ((rc = td__db_next(rows, &err)) > 0 && *n < MAX_TARGET_DEVICES) {
            int64_t id = td__db_int(rows, 0);
            int ok = 1;
            if (devs) {
                ok = 0;
                json_array_foreach(devs, i, v) ok |= json_integer_value(v) == id;
            }
            if (ok && tags) {
                json_t *have = json_loads(td__db_text(rows, 1), 0, NULL), *want, *h;
                size_t k, m;
                json_array_foreach(tags, k, want)
                {
                    int found = 0;
                    json_array_foreach(have, m, h) found |=
                        json_is_string(h) && !strcmp(json_string_value(h), json_string_value(want));
                    ok &= found;
                }
                json_decref(have);
            }
            if (ok)
                out[(*n)++] = id;
        }
    td__db_rows_free(rows);
    json_decref(tags);
    if (rc < 0) {
        td_free(out);
        return td__fail_err(r, rc, &err);
    }
    if (devs && (size_t)*n != json_array_size(devs)) {
        td_free(out);
        return td__fail(r, 400, "bad_request",
                        "field 'target.devices' names a device that does not exist or is not "
                        "approved");
    }
    if (*n == 0) {
        td_free(out);
        return td__fail(r, 400, "bad_request", "the target names no approved device");
    }
    *ids = out;
    *target = json_deep_copy(t);
    return 0;
}

static int post_deployment(td__req *r)
{
    json_t *o, *strat = NULL, *target = NULL;
    int64_t bundle = 0, *ids = NULL, now = td__hub_now(r->hub), id = 0, busy = 0, bexists = 0;
    int n = 0, rc;
    td_err err = {0};
    td_db_rows *row;
    if (td__req_json(r, &o) || td__only_keys(r, o, "bundle,target,strategy") ||
        td__arg_int(r, o, "bundle", 1, 1, INT64_MAX, &bundle))
        return 1;
    if (arg_strategy(r, o, &strat)) {
        json_decref(strat);
        return 1;
    }
    if (!json_is_object(json_object_get(o, "target"))) {
        json_decref(strat);
        return td__fail(r, 400, "bad_request",
                        "field 'target' must be {\"group\": G}, {\"tags\": [T...]} or "
                        "{\"devices\": [ID...]}");
    }
    td_db_conn *c = td__req_db(r);
    td__db_int_query(c, &bexists, 0, NULL, "SELECT COUNT(*) FROM bundles WHERE id = ?", "i",
                     bundle);
    if (!bexists) {
        json_decref(strat);
        return td__fail(r, 404, "not_found", "no bundle %lld", (long long)bundle);
    }
    if (target_devices(r, o, &target, &ids, &n)) {
        json_decref(strat);
        return 1;
    }
    strategy s;
    strategy_from_json(&s, strat);
    int64_t ncanary = s.canary_pct ? (n * s.canary + 99) / 100 : s.canary;
    /* The named canaries first, in the order named; the rest by id. */
    json_t *cd = json_object_get(strat, "canary_devices"), *v;
    size_t k;
    int front = 0;
    json_array_foreach(cd, k, v)
    {
        int at = -1;
        for (int i = front; i < n && at < 0; i++)
            if (ids[i] == json_integer_value(v))
                at = i;
        if (at < 0) {
            json_decref(target);
            json_decref(strat);
            td_free(ids);
            return td__fail(r, 400, "bad_request",
                            "strategy.canary_devices: device %lld is not an approved device of "
                            "the target",
                            (long long)json_integer_value(v));
        }
        int64_t dev = ids[at];
        memmove(ids + front + 1, ids + front, sizeof(int64_t) * (size_t)(at - front));
        ids[front++] = dev;
    }
    if (ncanary < front)
        ncanary = front;
    if (ncanary > n)
        ncanary = n;
    char *ttext = json_dumps(target, JSON_COMPACT), *stext = json_dumps(strat, JSON_COMPACT);
    json_decref(target);
    json_decref(strat);
    rc = td__db_begin(c, 1, &err);
    /* One deployment at a time per device. */
    for (int i = 0; i < n && !rc && !busy; i++)
        rc = td__db_int_query(c, &busy, 0, &err,
                              "SELECT y.id FROM deployment_devices x JOIN deployments y ON y.id "
                              "= x.deployment_id WHERE x.device_id = ? AND y.state NOT IN "
                              "('succeeded', 'rolled_back') LIMIT 1",
                              "i", ids[i]);
    if (!rc && busy) {
        td__db_rollback(c);
        free(ttext);
        free(stext);
        td_free(ids);
        return td__fail(r, 409, "conflict",
                        "a device of the target is in deployment %lld, which has not finished "
                        "(wait for it or roll it back)",
                        (long long)busy);
    }
    if (!rc) {
        rc = td__db_query_row(c, &row, &err,
                              "INSERT INTO deployments (bundle_id, target, strategy, state, "
                              "created_by, created_at, phase_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                              "RETURNING id",
                              "itttiii", bundle, ttext, stext,
                              ncanary > 0 ? "canary" : "rolling_out", r->who.id, now, now);
        if (rc > 0) {
            id = td__db_int(row, 0);
            td__db_rows_free(row);
            rc = 0;
        } else if (rc == 0) {
            rc = td_err_set(&err, TD_EINTERNAL, "no deployment id");
        }
    }
    for (int i = 0; i < n && !rc; i++)
        rc = td__db_exec(c, &err,
                         "INSERT INTO deployment_devices (deployment_id, device_id, canary, "
                         "state, updated_at) VALUES (?, ?, ?, 'held', ?)",
                         "iiii", id, ids[i], (int64_t)(i < ncanary), now);
    char sha[65] = "";
    if (!rc) {
        if (td__db_query_row(c, &row, &err, "SELECT sha256 FROM bundles WHERE id = ?", "i",
                             bundle) > 0) {
            snprintf(sha, sizeof(sha), "%s", td__db_text(row, 0));
            td__db_rows_free(row);
        }
        rc = release(c, now, id, sha, ncanary > 0, &err);
    }
    if (!rc)
        rc = advance(c, now, id, &err);
    free(ttext);
    free(stext);
    td_free(ids);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    json_t *d = deployment_json(c, id, 1, &err);
    if (!d)
        return td__fail(r, 500, "internal", "the deployment vanished");
    char loc[80];
    snprintf(loc, sizeof(loc), "/api/v1/deployments/%lld", (long long)id);
    td__req_add_header(r, "Location", loc);
    return td__reply_json(r, 201, d);
}

static int list_deployments(td__req *r)
{
    td_db_rows *rows;
    td_err err = {0};
    int64_t limit, ids[500];
    int n = 0;
    if (td__query_int(r, "limit", 50, 1, 500, &limit))
        return 1;
    td_db_conn *c = td__req_db(r);
    int rc = td__db_query(c, &rows, &err, "SELECT id FROM deployments ORDER BY id DESC LIMIT ?",
                          "i", limit);
    if (!rc)
        while ((rc = td__db_next(rows, &err)) > 0 && n < 500)
            ids[n++] = td__db_int(rows, 0);
    td__db_rows_free(rows);
    if (rc < 0)
        return td__fail_err(r, rc, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *d = deployment_json(c, ids[i], 0, &err);
        if (d)
            json_array_append_new(arr, d);
    }
    return td__reply_json(r, 200, json_pack("{s:o}", "deployments", arr));
}

static int get_deployment(td__req *r)
{
    int64_t id;
    td_err err = {0};
    if (td__param_id(r, 0, "deployment", &id))
        return 1;
    json_t *d = deployment_json(td__req_db(r), id, 1, &err);
    if (!d)
        return td__fail(r, 404, "not_found", "no deployment %lld", (long long)id);
    return td__reply_json(r, 200, d);
}

static int rollback_deployment(td__req *r)
{
    int64_t id;
    json_t *o = NULL;
    const char *why = NULL;
    td_err err = {0};
    td_db_rows *row;
    if (r->body_len && (td__req_json(r, &o) || td__only_keys(r, o, "reason") ||
                        td__arg_str(r, o, "reason", 0, 300, &why)))
        return 1;
    if (td__param_id(r, 0, "deployment", &id))
        return 1;
    td_db_conn *c = td__req_db(r);
    int rc = td__db_begin(c, 1, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    rc = td__db_query_row(c, &row, &err, "SELECT state FROM deployments WHERE id = ?", "i", id);
    if (rc <= 0) {
        td__db_rollback(c);
        return rc < 0 ? td__fail_err(r, rc, &err)
                      : td__fail(r, 404, "not_found", "no deployment %lld", (long long)id);
    }
    int done =
        !strcmp(td__db_text(row, 0), "rolling_back") || !strcmp(td__db_text(row, 0), "rolled_back");
    td__db_rows_free(row);
    if (done) {
        td__db_rollback(c);
        return td__fail(r, 409, "conflict", "deployment %lld is already rolled back",
                        (long long)id);
    }
    char reason[400];
    snprintf(reason, sizeof(reason), "rolled back by %s%s%s", r->who.name, why ? ": " : "",
             why ? why : "");
    rc = begin_rollback(c, td__hub_now(r->hub), id, reason, &err);
    if (!rc)
        rc = advance(c, td__hub_now(r->hub), id, &err);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    json_t *d = deployment_json(c, id, 1, &err);
    return td__reply_json(r, 200, d ? d : json_object());
}

/* ------------------------------------------------------------------------------------ */
/* The device's own routes: heartbeat and reports                                        */
/* ------------------------------------------------------------------------------------ */

/* The heartbeat's reply: the device's state and its desired bundle. */
static int reply_desired(td__req *r, int64_t id)
{
    td_db_rows *row;
    td_err err = {0};
    int rc = td__db_query_row(td__req_db(r), &row, &err,
                              "SELECT d.state, d.desired_sha256, d.desired_action, "
                              "d.desired_deployment_id, b.id, b.size, b.created_unix, b.name, "
                              "b.bundle_id, d.active_sha256 FROM devices d LEFT JOIN bundles b "
                              "ON b.sha256 = d.desired_sha256 WHERE d.id = ?",
                              "i", id);
    if (rc <= 0)
        return rc < 0 ? td__fail_err(r, rc, &err)
                      : td__fail(r, 404, "not_found", "no device %lld", (long long)id);
    json_t *reply =
        json_pack("{s:s,s:i}", "state", td__db_text(row, 0), "heartbeat_s", DEFAULT_HEARTBEAT_S);
    json_t *desired = json_null();
    if (!strcmp(td__db_text(row, 0), "approved") && !td__db_is_null(row, 1)) {
        desired = json_pack("{s:s,s:s,s:I}", "sha256", td__db_text(row, 1), "action",
                            td__db_text(row, 2), "deployment", (json_int_t)td__db_int(row, 3));
        if (!td__db_is_null(row, 4)) {
            char path[80];
            snprintf(path, sizeof(path), "/api/v1/bundles/%lld/file",
                     (long long)td__db_int(row, 4));
            json_object_set_new(desired, "download", json_string(path));
            json_object_set_new(desired, "size", json_integer(td__db_int(row, 5)));
            json_object_set_new(desired, "name", json_string(td__db_text(row, 7)));
            json_object_set_new(desired, "bundle_id", json_string(td__db_text(row, 8)));
        }
    }
    json_object_set_new(reply, "desired", desired);
    td__db_rows_free(row);
    char key_text[512];
    signing_key(td__req_db(r), key_text, sizeof(key_text), NULL);
    json_object_set_new(reply, "signing_key", key_text[0] ? json_string(key_text) : json_null());
    return td__reply_json(r, 200, reply);
}

/* The deployment a device takes part in now (0: none). */
static int64_t current_deployment(td_db_conn *c, int64_t dev)
{
    int64_t dep = 0;
    td__db_int_query(c, &dep, 0, NULL,
                     "SELECT y.id FROM deployment_devices x JOIN deployments y ON y.id = "
                     "x.deployment_id WHERE x.device_id = ? AND y.state NOT IN ('succeeded', "
                     "'rolled_back') ORDER BY y.id DESC LIMIT 1",
                     "i", dev);
    return dep;
}

static int post_heartbeat(td__req *r)
{
    json_t *o;
    int64_t id, now = td__hub_now(r->hub);
    const char *active = NULL, *previous = NULL, *agent = NULL;
    td_err err = {0};
    if (td__device_self(r, &id))
        return 1;
    if (r->who.who != TD__WHO_DEVICE)
        return td__fail(r, 403, "forbidden", "heartbeats come from the device");
    if (td__req_json(r, &o) || td__arg_str(r, o, "active_sha256", 0, 64, &active) ||
        td__arg_str(r, o, "previous_sha256", 0, 64, &previous) ||
        td__arg_str(r, o, "agent", 0, 120, &agent))
        return 1;
    if ((active && active[0] && !is_sha(active)) || (previous && previous[0] && !is_sha(previous)))
        return td__fail(r, 400, "bad_request",
                        "'active_sha256' and 'previous_sha256' are 64 lowercase hex digits");
    char *status = json_dumps(o, JSON_COMPACT);
    if (status && strlen(status) > 16384) {
        free(status);
        return td__fail(r, 413, "too_large", "a heartbeat is at most 16 KiB of JSON");
    }
    td_db_conn *c = td__req_db(r);
    int rc = td__db_begin(c, 1, &err);
    if (!rc)
        rc = td__db_exec(c, &err,
                         "UPDATE devices SET last_seen_at = ?, status = ?, active_sha256 = ?, "
                         "previous_sha256 = ?, agent = COALESCE(?, agent) WHERE id = ?",
                         "itttti", now, status ? status : "{}", active && active[0] ? active : NULL,
                         previous && previous[0] ? previous : NULL, agent, id);
    free(status);
    int64_t dep = rc ? 0 : current_deployment(c, id);
    if (!rc && dep)
        rc = advance(c, now, dep, &err);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    return reply_desired(r, id);
}

static int post_report(td__req *r)
{
    json_t *o;
    int64_t id, dep = 0, now = td__hub_now(r->hub);
    const char *sha = NULL, *result = NULL, *message = "";
    td_err err = {0};
    td_db_rows *row;
    if (td__device_self(r, &id))
        return 1;
    if (r->who.who != TD__WHO_DEVICE)
        return td__fail(r, 403, "forbidden", "reports come from the device");
    if (td__req_json(r, &o) || td__only_keys(r, o, "deployment,sha256,result,message") ||
        td__arg_int(r, o, "deployment", 1, 1, INT64_MAX, &dep) ||
        td__arg_str(r, o, "sha256", 1, 64, &sha) || td__arg_str(r, o, "result", 1, 20, &result) ||
        td__arg_str(r, o, "message", 0, 1000, &message))
        return 1;
    int ok = !strcmp(result, "installed");
    if (!ok && strcmp(result, "failed"))
        return td__fail(r, 400, "bad_request", "field 'result' is \"installed\" or \"failed\"");
    if (!is_sha(sha))
        return td__fail(r, 400, "bad_request", "field 'sha256' is 64 lowercase hex digits");
    td_db_conn *c = td__req_db(r);
    int rc = td__db_begin(c, 1, &err);
    if (rc)
        return td__fail_err(r, rc, &err);
    rc = td__db_query_row(c, &row, &err,
                          "SELECT x.state, x.from_sha256, b.sha256 FROM deployment_devices x JOIN "
                          "deployments y ON y.id = x.deployment_id JOIN bundles b ON b.id = "
                          "y.bundle_id WHERE x.deployment_id = ? AND x.device_id = ?",
                          "ii", dep, id);
    if (rc <= 0) {
        td__db_rollback(c);
        return rc < 0 ? td__fail_err(r, rc, &err)
                      : td__fail(r, 404, "not_found", "device %lld is not in deployment %lld",
                                 (long long)id, (long long)dep);
    }
    char state[20], from[65], want[65];
    snprintf(state, sizeof(state), "%s", td__db_text(row, 0));
    snprintf(from, sizeof(from), "%s", td__db_is_null(row, 1) ? "" : td__db_text(row, 1));
    snprintf(want, sizeof(want), "%s", td__db_text(row, 2));
    td__db_rows_free(row);
    rc = 0;
    const char *event = NULL;
    if (!strcmp(state, "pending") && !strcmp(sha, want)) {
        if (ok) {
            rc = td__db_exec(c, &err,
                             "UPDATE deployment_devices SET state = 'installed', message = ?, "
                             "updated_at = ? WHERE deployment_id = ? AND device_id = ?",
                             "tiii", message, now, dep, id);
            event = "installed";
        } else {
            rc = fail_device(c, now, dep, id, message[0] ? message : "the device refused it", &err);
            /* The device keeps what it ran: it is not asked again. */
            if (!rc)
                rc = td__db_exec(c, &err,
                                 "UPDATE devices SET desired_sha256 = active_sha256, "
                                 "desired_action = 'install' WHERE id = ? AND "
                                 "desired_deployment_id = ?",
                                 "ii", id, dep);
        }
    } else if (!strcmp(state, "rolling_back") && !strcmp(sha, from)) {
        rc = td__db_exec(c, &err,
                         "UPDATE deployment_devices SET state = ?, message = ?, updated_at = ? "
                         "WHERE deployment_id = ? AND device_id = ?",
                         "ttiii", ok ? "rolled_back" : "failed", message, now, dep, id);
        event = ok ? "rolled_back" : "rollback_failed";
    }
    /* The device runs what it reported installed (its next heartbeat says so too). */
    if (!rc && ok)
        rc = td__db_exec(c, &err,
                         "UPDATE devices SET previous_sha256 = CASE WHEN active_sha256 = ? THEN "
                         "previous_sha256 ELSE active_sha256 END, active_sha256 = ? WHERE id = ?",
                         "tti", sha, sha, id);
    /* Anything else is a report the hub already has (a retry): accepted, nothing changes. */
    if (!rc && event)
        rc = device_event(c, now, id, dep, event, sha, message, &err);
    if (!rc)
        rc = advance(c, now, dep, &err);
    if (td__req_commit(r, c, rc, &err))
        return 1;
    td__hub_notify(r->hub);
    json_t *d = deployment_json(c, dep, 0, &err);
    json_t *reply = json_pack("{s:s,s:O}", "deployment_state",
                              d ? json_string_value(json_object_get(d, "state")) : "", "accepted",
                              event ? json_true() : json_false());
    json_decref(d);
    return td__reply_json(r, 200, reply);
}

/* ------------------------------------------------------------------------------------ */
/* Routes                                                                               */
/* ------------------------------------------------------------------------------------ */

const char td__fleet_schemas[] =
    "{\"SigningKey\": {\"type\": \"object\", \"required\": [\"public_key\"], "
    "\"additionalProperties\": false, \"properties\": {\"public_key\": {\"type\": \"string\", "
    "\"description\": \"the text of trackday keygen's KEY.pub\"}}},"
    " \"EnrollmentCreate\": {\"type\": \"object\", \"required\": [\"name\"], "
    "\"additionalProperties\": false, \"properties\": {\"name\": {\"type\": \"string\"}, "
    "\"group\": {\"type\": \"string\"}, \"tags\": {\"type\": \"array\", \"items\": {\"type\": "
    "\"string\"}}, \"auto_approve\": {\"type\": \"boolean\"}, \"max_devices\": {\"type\": "
    "\"integer\"}, \"expires_in_hours\": {\"type\": \"integer\"}}},"
    " \"DevicePatch\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": "
    "{\"group\": {\"type\": \"string\"}, \"tags\": {\"type\": \"array\", \"items\": "
    "{\"type\": \"string\"}}}},"
    " \"DeploymentCreate\": {\"type\": \"object\", \"required\": [\"bundle\", \"target\"], "
    "\"additionalProperties\": false, \"properties\": {\"bundle\": {\"type\": \"integer\"}, "
    "\"target\": {\"type\": \"object\", \"description\": \"group, tags and/or devices\"}, "
    "\"strategy\": {\"type\": \"object\", \"description\": \"canary, canary_devices, wait_s, "
    "max_failures, timeout_s, min_laps, max_off_track_per_lap, max_lap_s\"}}},"
    " \"DeploymentRollback\": {\"type\": \"object\", \"additionalProperties\": false, "
    "\"properties\": {\"reason\": {\"type\": \"string\"}}}}";

#define BODY(s)                                                                                    \
    "\"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\": "      \
    "{\"$ref\": \"#/components/schemas/" s "\"}}}}"

#define OK_201(what) "{\"responses\": {\"201\": {\"description\": \"" what "\"}}}"

const td__route td__routes_fleet[] = {
    {"PUT", "/api/v1/fleet/signing-key", put_signing_key, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Set the public key bundles must be signed with (the text of trackday keygen's KEY.pub)",
     "{" BODY("SigningKey") "}"},
    {"GET", "/api/v1/fleet/signing-key", get_signing_key, TD__ALLOW_ADMIN | TD__ALLOW_DEVICE,
     TD__BODY_NONE, "The fleet's signing key", NULL},
    {"POST", "/api/v1/device-enrollments", post_enrollment, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "An enrollment token: cars register with it (group, tags, how many devices, approved "
     "at once or by an admin); shown once",
     "{" BODY("EnrollmentCreate") ", \"responses\": {\"201\": {\"description\": \"created\"}}}"},
    {"POST", "/api/v1/devices/register", post_register, TD__ALLOW_DEVICE, TD__BODY_JSON,
     "A car registers its Ed25519 key with an enrollment token (signed by that key) and gets "
     "its own device token",
     OK_201("registered")},
    {"GET", "/api/v1/devices", list_devices, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Devices with their state, group, tags, bundles and last heartbeat; ?group=, ?tag=, "
     "?state=",
     NULL},
    {"GET", "/api/v1/devices/{id}", get_device, TD__ALLOW_ADMIN | TD__ALLOW_DEVICE, TD__BODY_NONE,
     "A device (the admin, or the device itself)", NULL},
    {"PATCH", "/api/v1/devices/{id}", patch_device, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Change a device's group or tags", "{" BODY("DevicePatch") "}"},
    {"DELETE", "/api/v1/devices/{id}", delete_device, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Revoke a device: its token stops working and its key may not register again",
     "{\"responses\": {\"204\": {\"description\": \"revoked\"}}}"},
    {"POST", "/api/v1/devices/{id}/approve", approve_device, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Approve a registered device's key", NULL},
    {"POST", "/api/v1/devices/{id}/heartbeat", post_heartbeat, TD__ALLOW_DEVICE, TD__BODY_JSON,
     "The device's heartbeat (its bundles, how it drives); the reply is its desired bundle", NULL},
    {"POST", "/api/v1/devices/{id}/report", post_report, TD__ALLOW_DEVICE, TD__BODY_JSON,
     "The device reports the outcome of installing (or going back to) a deployment's bundle", NULL},
    {"GET", "/api/v1/devices/{id}/history", get_history, TD__ALLOW_ADMIN | TD__ALLOW_DEVICE,
     TD__BODY_NONE,
     "A device's history: registration, approval, deployments, installs, "
     "failures, rollbacks (newest first)",
     NULL},
    {"POST", "/api/v1/bundles", post_bundle, TD__ALLOW_ADMIN, TD__BODY_UPLOAD,
     "Upload a bundle (.tdb) for deployment; it must verify against the fleet's signing key",
     OK_201("stored")},
    {"GET", "/api/v1/bundles", list_bundles, TD__ALLOW_ADMIN, TD__BODY_NONE, "Uploaded bundles",
     NULL},
    {"GET", "/api/v1/bundles/{id}/file", get_bundle_file, TD__ALLOW_ADMIN | TD__ALLOW_DEVICE,
     TD__BODY_NONE, "A bundle's file (a device only one a deployment gave it)", NULL},
    {"POST", "/api/v1/deployments", post_deployment, TD__ALLOW_ADMIN, TD__BODY_JSON,
     "Deploy a bundle to a group, tags or devices: canaries first, a wait, then the rest; "
     "failures roll it back",
     "{" BODY("DeploymentCreate") ", \"responses\": {\"201\": {\"description\": \"created\"}}}"},
    {"GET", "/api/v1/deployments", list_deployments, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "Deployments, newest first", NULL},
    {"GET", "/api/v1/deployments/{id}", get_deployment, TD__ALLOW_ADMIN, TD__BODY_NONE,
     "A deployment and each device's part in it", NULL},
    {"POST", "/api/v1/deployments/{id}/rollback", rollback_deployment, TD__ALLOW_ADMIN,
     TD__BODY_JSON, "Roll a deployment back by hand: its devices go back to what they ran",
     "{" BODY("DeploymentRollback") "}"},
    {NULL, NULL, NULL, 0, 0, NULL, NULL},
};
