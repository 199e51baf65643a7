/*
 * store.c - a car's bundle store (agent.h, docs/agent.md).
 *
 * DIR/state.json    which bundle is active and which was before it, and the history
 * DIR/bundles/S.tdb the active and the previous bundle, named by their SHA-256
 * DIR/incoming/     downloads in progress (the agent's); emptied when the store opens
 *
 * The only switch is the rename of state.json (td_file_write_atomic). Before it the new
 * bundle is written to DIR/bundles in full (fsync, rename), read back, verified and
 * health-checked; after it, the bundle that is no longer needed is removed. A process killed
 * anywhere leaves state.json naming bundles that are complete on disk: the old ones before the
 * rename, the new ones after it. TD_AGENT_CRASH_AT=NAME kills the process at the step NAME
 * (stored, checked, switched) for the tests of exactly that.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trackday/agent.h"

#define MAX_BUNDLE_BYTES ((size_t)1 << 30) /* a SHALLOW bundle is about 30 MB */

static void crash_point(const char *step)
{
    const char *at = getenv("TD_AGENT_CRASH_AT");
    if (at && strcmp(at, step) == 0)
        raise(SIGKILL);
}

static void utc_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* snprintf into an array, or an error when it does not fit (dir is bounded at open). */
#define PATHF(buf, err, ...)                                                                       \
    (snprintf(buf, sizeof(buf), __VA_ARGS__) >= (int)sizeof(buf)                                   \
         ? td_err_set(err, TD_EINVAL, "path too long: %s", buf)                                    \
         : 0)

static int is_sha(const char *s)
{
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static int bundle_path(const td_agent_store *s, const char *sha, char *out, size_t cap, td_err *err)
{
    if (snprintf(out, cap, "%s/bundles/%s.tdb", s->dir, sha) >= (int)cap)
        return td_err_set(err, TD_EINVAL, "%s: data directory path too long", s->dir);
    return 0;
}

/* ---- state.json ------------------------------------------------------------------------ */

static json_t *slot_json(const td_agent_slot *sl)
{
    if (!sl->sha256[0])
        return json_null();
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "sha256", sl->sha256, "bundle_id", sl->bundle_id,
                     "name", sl->name, "created", sl->created, "created_unix",
                     (json_int_t)sl->created_unix, "installed", sl->installed);
}

static int slot_from_json(td_agent_slot *sl, const json_t *j, const char *what, td_err *err)
{
    const char *sha = NULL, *id = NULL, *name = NULL, *created = NULL, *inst = NULL;
    long cu = 0;
    memset(sl, 0, sizeof(*sl));
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_object(j))
        return td_err_set(err, TD_EFORMAT, "%s: not an object", what);
    if (td_json_get_string(j, "sha256", NULL, &sha, what, err) ||
        td_json_get_string(j, "bundle_id", "", &id, what, err) ||
        td_json_get_string(j, "name", "", &name, what, err) ||
        td_json_get_string(j, "created", "", &created, what, err) ||
        td_json_get_string(j, "installed", "", &inst, what, err) ||
        td_json_get_int(j, "created_unix", 0, 0, 1L << 40, &cu, what, err))
        return err ? err->code : TD_EFORMAT;
    if (!is_sha(sha))
        return td_err_set(err, TD_EFORMAT, "%s: sha256 is not 64 hex digits", what);
    copy_str(sl->sha256, sizeof(sl->sha256), sha);
    copy_str(sl->bundle_id, sizeof(sl->bundle_id), id);
    copy_str(sl->name, sizeof(sl->name), name);
    copy_str(sl->created, sizeof(sl->created), created);
    copy_str(sl->installed, sizeof(sl->installed), inst);
    sl->created_unix = cu;
    return 0;
}

json_t *td_agent_state_json(const td_agent_store *s)
{
    return json_pack("{s:s,s:i,s:s,s:s,s:o,s:o,s:O}", "format", "trackday-agent-state", "version",
                     TD_AGENT_STATE_VERSION, "dir", s->dir, "key_id", s->have_key ? s->key_id : "",
                     "active", slot_json(&s->active), "previous", slot_json(&s->previous),
                     "history", s->history);
}

static int save_state(const td_agent_store *s, td_err *err)
{
    char path[600];
    int rc;
    if ((rc = PATHF(path, err, "%s/state.json", s->dir)) != 0)
        return rc;
    json_t *j = td_agent_state_json(s);
    json_object_del(j, "dir"); /* the directory may move */
    json_object_del(j, "key_id");
    rc = td_json_write_file(path, j, err);
    json_decref(j);
    return rc;
}

static void add_event(td_agent_store *s, const char *event, const td_agent_slot *sl,
                      const char *sha, const char *why)
{
    char now[32];
    utc_now(now);
    json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s}", "time", now, "event", event, "sha256",
                          sl ? sl->sha256 : (sha ? sha : ""), "bundle_id", sl ? sl->bundle_id : "",
                          "why", why ? why : "");
    json_array_append_new(s->history, e);
    while (json_array_size(s->history) > TD_AGENT_HISTORY_MAX)
        json_array_remove(s->history, 0);
}

/* ---- opening --------------------------------------------------------------------------- */

/* Removes the files of dir/sub for which keep() says 0. */
static void sweep(const td_agent_store *s, const char *sub, int all)
{
    char d[600], p[1200];
    if (snprintf(d, sizeof(d), "%s/%s", s->dir, sub) >= (int)sizeof(d))
        return;
    DIR *dh = opendir(d);
    if (!dh)
        return;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        const char *n = de->d_name;
        if (n[0] == '.')
            continue;
        int keep = 0;
        if (!all && strlen(n) == 68 && strcmp(n + 64, ".tdb") == 0)
            keep = (s->active.sha256[0] && strncmp(n, s->active.sha256, 64) == 0) ||
                   (s->previous.sha256[0] && strncmp(n, s->previous.sha256, 64) == 0);
        if (!keep && snprintf(p, sizeof(p), "%s/%s", d, n) < (int)sizeof(p))
            unlink(p);
    }
    closedir(dh);
}

/* Temporary files of td_file_write_atomic (state.json.tmp.PID) left by a killed process. */
static void sweep_state_tmp(const td_agent_store *s)
{
    char p[1200];
    DIR *dh = opendir(s->dir);
    if (!dh)
        return;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL)
        if (strncmp(de->d_name, "state.json.tmp.", 15) == 0 &&
            snprintf(p, sizeof(p), "%s/%s", s->dir, de->d_name) < (int)sizeof(p))
            unlink(p);
    closedir(dh);
}

int td_agent_store_open(td_agent_store *s, const char *dir, const uint8_t *pk, td_err *err)
{
    char path[600];
    json_t *st = NULL;
    int rc;
    memset(s, 0, sizeof(*s));
    s->history = json_array();
    if (!dir || !dir[0])
        return td_err_set(err, TD_EINVAL, "no data directory given");
    if (strlen(dir) >= sizeof(s->dir) - 80)
        return td_err_set(err, TD_EINVAL, "%s: data directory path too long", dir);
    copy_str(s->dir, sizeof(s->dir), dir);
    if (pk) {
        memcpy(s->pk, pk, TD_SIGN_PUBLIC_BYTES);
        td_sign_key_id(pk, s->key_id);
        s->have_key = 1;
    }
    if ((rc = PATHF(path, err, "%s/bundles", dir)) != 0)
        return rc;
    if ((rc = td_mkdir_p(path, err)) != 0)
        return rc;
    if ((rc = PATHF(path, err, "%s/incoming", dir)) != 0)
        return rc;
    if ((rc = td_mkdir_p(path, err)) != 0)
        return rc;
    if ((rc = PATHF(path, err, "%s/state.json", dir)) != 0)
        return rc;
    if (td_path_exists(path)) {
        if ((rc = td_json_load_file(path, &st, err)) != 0)
            return rc;
        long version = 0;
        const json_t *h = json_object_get(st, "history");
        if ((rc = td_json_get_int(st, "version", 0, 0, 1000, &version, path, err)) != 0)
            goto done;
        if (version != TD_AGENT_STATE_VERSION) {
            rc = td_err_set(err, TD_EVERSION, "%s: state version %ld is not supported (%d is)",
                            path, version, TD_AGENT_STATE_VERSION);
            goto done;
        }
        char what[700];
        if ((rc = PATHF(what, err, "%s: active", path)) != 0)
            goto done;
        if ((rc = slot_from_json(&s->active, json_object_get(st, "active"), what, err)) != 0)
            goto done;
        if ((rc = PATHF(what, err, "%s: previous", path)) != 0)
            goto done;
        if ((rc = slot_from_json(&s->previous, json_object_get(st, "previous"), what, err)) != 0)
            goto done;
        if (json_is_array(h)) {
            json_decref(s->history);
            s->history = json_deep_copy(h);
        }
    }
    sweep(s, "incoming", 1);
    sweep(s, "bundles", 0);
    sweep_state_tmp(s);
    rc = 0;
done:
    json_decref(st);
    return rc;
}

void td_agent_store_close(td_agent_store *s)
{
    json_decref(s->history);
    s->history = NULL;
}

/* ---- installing ------------------------------------------------------------------------ */

/* Records a refusal (err says why) in the history and returns err's code. */
static int refuse(td_agent_store *s, td_agent_result *res, const char *event, const char *sha,
                  td_err *err)
{
    td_err ignore;
    copy_str(res->why, sizeof(res->why), err->msg);
    add_event(s, event, NULL, sha, err->msg);
    save_state(s, &ignore); /* the history is best effort; the refusal stands */
    return err->code;
}

static void slot_of(td_agent_slot *sl, const td_bundle *b)
{
    memset(sl, 0, sizeof(*sl));
    copy_str(sl->sha256, sizeof(sl->sha256), b->sha256);
    copy_str(sl->bundle_id, sizeof(sl->bundle_id), b->bundle_id);
    copy_str(sl->name, sizeof(sl->name), b->name);
    copy_str(sl->created, sizeof(sl->created), b->created);
    sl->created_unix = b->created_unix;
    utc_now(sl->installed);
}

/* The first failing model of a health check, as one line. */
static void health_why(const td_bundle_health *h, char *out, size_t cap)
{
    for (int i = 0; i < h->n_models; i++)
        if (!h->models[i].ok) {
            snprintf(out, cap, "health check failed: %s: %s", h->models[i].path, h->models[i].why);
            return;
        }
    snprintf(out, cap, "health check failed");
}

/* Opens the stored copy of sha, runs its health check; 0 when it passed. */
static int check_stored(td_agent_store *s, const char *sha, td_agent_result *res, td_err *err)
{
    char path[700];
    td_bundle b;
    int rc;
    if ((rc = bundle_path(s, sha, path, sizeof(path), err)) != 0)
        return rc;
    if ((rc = td_bundle_open_file(&b, path, s->pk, sha, err)) != 0) {
        td_bundle_close(&b);
        /* A stored copy that no longer verifies (or is gone) is refused like a download. */
        return rc == TD_ENOMEM ? rc : td_err_prefix(err, TD_EINVAL, "%s", "");
    }
    crash_point("checked");
    rc = td_bundle_health_check(&b, NULL, &res->health, err);
    td_bundle_close(&b);
    if (rc)
        return rc;
    res->health_ran = 1;
    if (!res->health.ok) {
        char why[TD_ERR_MSG_LEN];
        health_why(&res->health, why, sizeof(why));
        return td_err_set(err, TD_ECHECKSUM, "%s", why);
    }
    return 0;
}

/* Makes `to` active and the old active previous, with one rename of state.json. */
static int switch_to(td_agent_store *s, const td_agent_slot *to, const char *event, td_err *err)
{
    td_agent_slot old_prev = s->previous, old_active = s->active;
    s->previous = s->active;
    s->active = *to;
    utc_now(s->active.installed);
    add_event(s, event, &s->active, NULL, "");
    int rc = save_state(s, err);
    if (rc) {
        s->active = old_active;
        s->previous = old_prev;
        return rc;
    }
    crash_point("switched");
    /* The bundle that is neither active nor previous now. */
    if (old_prev.sha256[0] && strcmp(old_prev.sha256, s->active.sha256) != 0 &&
        strcmp(old_prev.sha256, s->previous.sha256) != 0) {
        char path[700];
        if (bundle_path(s, old_prev.sha256, path, sizeof(path), NULL) == 0)
            unlink(path);
    }
    return 0;
}

int td_agent_install(td_agent_store *s, const char *path, const char *expected_sha256, int flags,
                     td_agent_result *res, td_err *err)
{
    td_agent_result local_res;
    td_err local_err;
    char *data = NULL, dest[700];
    size_t len = 0;
    struct stat sb;
    td_bundle b;
    td_agent_slot sl;
    int rc;
    if (!res)
        res = &local_res;
    if (!err)
        err = &local_err;
    memset(res, 0, sizeof(*res));
    if (!s->have_key)
        return td_err_set(err, TD_EINVAL, "%s: opened without a trusted key", s->dir);
    if (expected_sha256 && !is_sha(expected_sha256))
        return td_err_set(err, TD_EINVAL, "expected SHA-256 '%s' is not 64 lowercase hex digits",
                          expected_sha256);
    if (stat(path, &sb) != 0)
        return td_err_set(err, TD_ENOENT, "%s: %s", path, strerror(errno));
    if ((size_t)sb.st_size > MAX_BUNDLE_BYTES) {
        td_err_set(err, TD_EINVAL, "%s: %lld bytes, more than a bundle may have (%zu)", path,
                   (long long)sb.st_size, MAX_BUNDLE_BYTES);
        return refuse(s, res, "refused", expected_sha256, err);
    }
    if ((rc = td_file_read(path, &data, &len, err)) != 0)
        return rc;
    /* These bytes, and only these, are checked and stored. */
    if (td_bundle_open(&b, data, len, s->pk, expected_sha256, err) != 0) {
        td_bundle_close(&b);
        td_free(data);
        td_err_prefix(err, TD_EINVAL, "%s: ", path);
        return refuse(s, res, "refused", expected_sha256, err);
    }
    slot_of(&sl, &b);
    td_bundle_close(&b);
    copy_str(res->sha256, sizeof(res->sha256), sl.sha256);
    if (s->active.sha256[0] && strcmp(sl.sha256, s->active.sha256) == 0) {
        td_free(data);
        copy_str(res->why, sizeof(res->why), "already the active bundle");
        return 0;
    }
    if (s->active.sha256[0] && sl.created_unix < s->active.created_unix &&
        !(flags & TD_AGENT_ALLOW_OLDER)) {
        td_free(data);
        td_err_set(err, TD_EINVAL,
                   "%s: bundle %s was created %s, before the running bundle %s (%s): an older "
                   "bundle is installed only as a rollback",
                   path, sl.bundle_id, sl.created, s->active.bundle_id, s->active.created);
        return refuse(s, res, "refused", sl.sha256, err);
    }
    if ((rc = bundle_path(s, sl.sha256, dest, sizeof(dest), err)) != 0) {
        td_free(data);
        return rc;
    }
    rc = td_file_write_atomic(dest, data, len, err);
    td_free(data);
    if (rc)
        return rc;
    crash_point("stored");
    if ((rc = check_stored(s, sl.sha256, res, err)) != 0) {
        if (strcmp(sl.sha256, s->previous.sha256) != 0)
            unlink(dest);
        if (rc == TD_EIO || rc == TD_ENOMEM)
            return rc;
        td_err_prefix(err, rc == TD_ECHECKSUM ? TD_ECHECKSUM : TD_EINVAL, "%s: ", path);
        return refuse(s, res, rc == TD_ECHECKSUM ? "health_failed" : "refused", sl.sha256, err);
    }
    if ((rc = switch_to(s, &sl, "installed", err)) != 0)
        return rc;
    res->installed = 1;
    return 0;
}

int td_agent_rollback(td_agent_store *s, td_agent_result *res, td_err *err)
{
    td_agent_result local_res;
    td_err local_err;
    int rc;
    if (!res)
        res = &local_res;
    if (!err)
        err = &local_err;
    memset(res, 0, sizeof(*res));
    if (!s->have_key)
        return td_err_set(err, TD_EINVAL, "%s: opened without a trusted key", s->dir);
    if (!s->previous.sha256[0])
        return td_err_set(err, TD_ENOENT, "%s: no previous bundle to roll back to", s->dir);
    td_agent_slot to = s->previous;
    copy_str(res->sha256, sizeof(res->sha256), to.sha256);
    if ((rc = check_stored(s, to.sha256, res, err)) != 0) {
        if (rc == TD_EIO || rc == TD_ENOMEM)
            return rc;
        td_err_prefix(err, rc == TD_ECHECKSUM ? TD_ECHECKSUM : TD_EINVAL,
                      "rollback to bundle %s refused: ", to.bundle_id);
        return refuse(s, res, "rollback_refused", to.sha256, err);
    }
    if ((rc = switch_to(s, &to, "rolled_back", err)) != 0)
        return rc;
    res->installed = 1;
    return 0;
}

int td_agent_open_active(const td_agent_store *s, td_bundle *b, td_err *err)
{
    char path[700];
    int rc;
    memset(b, 0, sizeof(*b));
    if (!s->active.sha256[0])
        return td_err_set(err, TD_ENOENT, "%s: no bundle installed", s->dir);
    if (!s->have_key)
        return td_err_set(err, TD_EINVAL, "%s: opened without a trusted key", s->dir);
    if ((rc = bundle_path(s, s->active.sha256, path, sizeof(path), err)) != 0)
        return rc;
    return td_bundle_open_file(b, path, s->pk, s->active.sha256, err);
}
