/*
 * agent.h - the device side of deployments (docs/agent.md): a car's bundle store. It keeps
 * the bundle the car runs (active) and the one before it (previous) in a data directory, and
 * installs a new bundle only when the bundle is signed by the trusted key, every byte is as
 * the manifest and the deployment say, it is not older than the running one (a replayed
 * download) unless a rollback asks for it, and its health check passes; the switch is one
 * atomic rename, so a process killed at any point leaves a bundle that loads. Part of the
 * agent layer.
 *
 *   td_agent_store s;
 *   td_agent_store_open(&s, "/var/lib/trackday", public_key, &err);
 *   if (td_agent_install(&s, "download.tdb", sha256_from_hub, 0, &res, &err) != 0) { err.msg }
 *   td_bundle b;
 *   td_agent_open_active(&s, &b, &err);  (then run td_bundle_model_path(&b, "int8"))
 *   td_agent_store_close(&s);
 */
#ifndef TRACKDAY_AGENT_H
#define TRACKDAY_AGENT_H

#include <stdint.h>

#include "trackday/bundle.h"
#include "trackday/crypto.h"
#include "trackday/json.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_AGENT_STATE_VERSION 1
#define TD_AGENT_HISTORY_MAX   64 /* events kept in state.json, the oldest dropped first */

/* One installed bundle. An empty slot has sha256[0] == '\0'. */
typedef struct td_agent_slot {
    char sha256[TD_SHA256_HEX]; /* of the bundle file: its name in DIR/bundles */
    char bundle_id[33];
    char name[128];
    char created[32]; /* the manifest's time */
    int64_t created_unix;
    char installed[32]; /* when this device switched to it (UTC) */
} td_agent_slot;

typedef struct td_agent_store {
    char dir[512];
    int have_key;
    uint8_t pk[TD_SIGN_PUBLIC_BYTES]; /* the trusted signer */
    char key_id[TD_KEY_ID_LEN];
    td_agent_slot active, previous;
    json_t *history; /* array of {"time", "event", "sha256", "bundle_id", "why"} */
} td_agent_store;

/*
 * Opens (creating it when missing) the store in dir: reads DIR/state.json, removes what a
 * killed process left (partial downloads in DIR/incoming, temporary files) and bundle files
 * that are neither active nor previous. pk is the trusted signer's public key; NULL opens the
 * store for reading only (td_agent_install and td_agent_rollback then refuse). Call
 * td_agent_store_close after an error too.
 */
int td_agent_store_open(td_agent_store *s, const char *dir, const uint8_t *pk, td_err *err);
void td_agent_store_close(td_agent_store *s);

/* Flags of td_agent_install. */
#define TD_AGENT_ALLOW_OLDER 1 /* a rollback: accept a bundle older than the running one */

/* What an install or rollback did. */
typedef struct td_agent_result {
    int installed; /* 1: the bundle is now active; 0: nothing changed (why says why) */
    char sha256[TD_SHA256_HEX];
    char why[TD_ERR_MSG_LEN]; /* "" when installed */
    td_bundle_health health;  /* when the health check ran */
    int health_ran;
} td_agent_result;

/*
 * Installs the bundle file at path (a finished download) and makes it active: reads it once
 * into memory and checks those bytes (td_bundle_open: expected_sha256 when the deployment
 * names one, the trusted key's signature, every file's hash), refuses a bundle older than the
 * active one (created_unix) unless flags has TD_AGENT_ALLOW_OLDER, writes it to
 * DIR/bundles/SHA.tdb, opens that copy again and runs its health check (every model), and only
 * then switches state.json (active <- it, previous <- the old active) with one rename. When
 * any check fails the active bundle stays as it was, the failure is recorded in the history,
 * and the return is TD_EINVAL (refused: bad bundle, wrong key, older) or TD_ECHECKSUM
 * (the health check failed), with err saying why; I/O problems return TD_EIO. Installing the
 * active bundle again changes nothing and returns 0 with res->installed 0.
 */
int td_agent_install(td_agent_store *s, const char *path, const char *expected_sha256, int flags,
                     td_agent_result *res, td_err *err);

/*
 * Switches back to the previous bundle (checked again: signature, hashes, health), the old
 * active becoming the previous. TD_ENOENT when there is no previous bundle.
 */
int td_agent_rollback(td_agent_store *s, td_agent_result *res, td_err *err);

/*
 * Opens the active bundle for running, checked again against the trusted key and its
 * recorded SHA-256 (a file changed on the device's disk is refused). TD_ENOENT when nothing
 * is installed. td_bundle_close(b) after use, also after an error.
 */
int td_agent_open_active(const td_agent_store *s, td_bundle *b, td_err *err);

/* The state as JSON (a new reference): {"dir", "key_id", "active", "previous", "history"}. */
json_t *td_agent_state_json(const td_agent_store *s);

#ifdef __cplusplus
}
#endif

#endif /* TRACKDAY_AGENT_H */
