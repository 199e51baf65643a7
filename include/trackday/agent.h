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

#include <signal.h>
#include <stdint.h>

#include "trackday/bundle.h"
#include "trackday/crypto.h"
#include "trackday/json.h"
#include "trackday/sensors.h"

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

/* ---- the simulated world a car drives in (`--sim WORLD.json`) -------------------------- */

/*
 * The stand-in for a physical car: trackday's simulator on a track, with the world's own
 * domain shift from what the model was trained on: lighting, colours, floor texture, camera
 * noise and pose (td_look), and grip (docs/agent.md, "Simulated worlds").
 */
typedef struct td_agent_driver td_agent_driver;
typedef struct td_agent_world {
    char track[256];       /* as the file names it: a track name or a path */
    char track_path[1024]; /* resolved by the caller (the CLI's track search path) */
    uint64_t seed;
    td_look look;      /* td_look_default with the shift applied */
    double grip_scale; /* multiplies the car's lateral grip; 1 */
    json_t *shift;     /* the shift as given: {"brightness": 0.6, ...} (reported) */
    /* Puts a driver's simulated car in this world (set by td_agent_world_init: the driver
     * reaches the simulator only through it, so a build without one links none of it). */
    int (*drive)(td_agent_driver *d, const td_bundle *b, const struct td_agent_world *w,
                 td_err *err);
} td_agent_world;

void td_agent_world_init(td_agent_world *w); /* the default: oval, no shift */
void td_agent_world_free(td_agent_world *w);
/*
 * Reads {"track": NAME, "seed": N, "shift": {KEY: VALUE...}} (docs/agent.md lists the keys;
 * an unknown key is refused); `what` names the source in messages.
 */
int td_agent_world_from_json(td_agent_world *w, const json_t *j, const char *what, td_err *err);
int td_agent_world_load(td_agent_world *w, const char *path, td_err *err);
/* Applies "key=value[,key=value...]" (the same keys) on top of the world's shift. */
int td_agent_world_shift(td_agent_world *w, const char *spec, td_err *err);

/* A model driving (td_agent_driver, declared above): the simulated world (or camera frames
 * handed in), the policy on infer/, what it saw and did since the last telemetry window, and
 * its laps. */

/* What the car did with the active bundle since it switched to it (heartbeats carry it). */
typedef struct td_agent_driving {
    char sha256[TD_SHA256_HEX];
    long frames, laps, off_track, crashes;
    double lap_time_sum_s, lap_time_min_s;
    double latency_sum_ms, latency_max_ms;
} td_agent_driving;

/*
 * Loads the bundle's model (which: "int8" when the bundle has one, else "fp32") and, with a
 * world, a simulated car on its track. world NULL: frames come from td_agent_driver_frame.
 * Free with td_agent_driver_close (also after an error).
 */
int td_agent_driver_open(td_agent_driver **out, const td_bundle *b, const td_agent_world *world,
                         td_err *err);
void td_agent_driver_close(td_agent_driver *d);
/* One control step in the simulated world: observe, infer, act, step. */
int td_agent_driver_step(td_agent_driver *d, td_err *err);
/* One camera frame (grey, the model's width x height) through the policy. */
int td_agent_driver_frame(td_agent_driver *d, const uint8_t *grey, td_err *err);
/* The model's camera size (0 x 0 for a model without a camera). */
void td_agent_driver_camera_size(const td_agent_driver *d, int *w, int *h);
const td_agent_driving *td_agent_driver_stats(const td_agent_driver *d);
/*
 * The telemetry window since the last call (telemetry.h: the mergeable summary of the frames,
 * the window's laps as outcomes, the bundle, the span) with the device's id, the deployment
 * that installed the bundle ("" unknown) and the device's window counter, as a new JSON
 * object; a new window starts. This is the body of POST /api/v1/devices/{id}/telemetry
 * (docs/telemetry.md). NULL when out of memory.
 */
json_t *td_agent_driver_window(td_agent_driver *d, const char *device, const char *deployment,
                               uint64_t seq);

/* ---- a V4L2 camera (`--camera /dev/videoN`) ---------------------------------------------- */

typedef struct td_agent_camera td_agent_camera;

/*
 * Opens a V4L2 capture device for frames of the model's grey input size (out_w x out_h): YUYV
 * or GREY by memory-mapped streaming, the luma scaled to that size. TD_EUNSUPPORTED when this
 * build has no V4L2 (no <linux/videodev2.h>) or the device has neither format. Close with
 * td_agent_camera_close (also after an error).
 */
int td_agent_camera_open(td_agent_camera **out, const char *dev, int out_w, int out_h, td_err *err);
/* The next frame into grey (out_w x out_h bytes); TD_ETIMEOUT when none came in timeout_s. */
int td_agent_camera_grab(td_agent_camera *c, uint8_t *grey, double timeout_s, td_err *err);
void td_agent_camera_close(td_agent_camera *c);

/* ---- the disk buffer (DIR/outbox) ------------------------------------------------------- */

/*
 * What the agent sends the hub and must not lose (reports, telemetry windows) goes through a
 * bounded queue of files, so a hub that cannot be reached, or an agent killed, loses nothing
 * that fits: one file per message (written atomically), sent oldest first; over the bound the
 * oldest telemetry goes first, then the oldest of anything (counted in `dropped`).
 */
typedef struct td_agent_outbox {
    char dir[600];
    size_t max_bytes;
    int max_files;
    uint64_t next_seq;
    long dropped;
} td_agent_outbox;

int td_agent_outbox_open(td_agent_outbox *ob, const char *dir, size_t max_bytes, int max_files,
                         td_err *err);
/* Queues one message: kind "report" or "telemetry" (the route it goes to is the kind's). */
int td_agent_outbox_put(td_agent_outbox *ob, const char *kind, const json_t *body, td_err *err);
/* The oldest message: 1 and its file name (for td_agent_outbox_done), kind and body (new
 * reference), 0 when empty. A file that does not read back (a torn write) is dropped. */
int td_agent_outbox_peek(td_agent_outbox *ob, char *name, size_t cap, char *kind, size_t kcap,
                         json_t **body);
void td_agent_outbox_done(td_agent_outbox *ob, const char *name);
/* Messages queued and their bytes. */
int td_agent_outbox_count(const td_agent_outbox *ob, size_t *bytes);

/* ---- the daemon (`trackday agent --hub URL --device-token T --data DIR`) ---------------- */

typedef void (*td_agent_log_fn)(void *user, const char *line);

typedef struct td_agent_options {
    const char *hub_url;
    const char *enroll_token; /* the enrollment token the car registers with */
    const char *data_dir;
    const char *name;            /* the device's name (default: the host name) */
    const char *key_path;        /* the trusted signer's KEY.pub; NULL: the hub's, pinned at
                                    registration */
    const td_agent_world *world; /* drive in this simulated world, or NULL */
    const char *camera;          /* or from this V4L2 device (NULL: neither: no driving) */
    double hz;                   /* control steps per second (15) */
    double speedup;              /* simulated seconds per wall second (1) */
    double heartbeat_s;          /* 0: what the hub says (10) */
    double window_s;             /* telemetry window (60) */
    size_t outbox_bytes;         /* the disk buffer's bound (16 MiB) */
    int outbox_files;            /* ... and files (2000) */
    double run_s;                /* stop after this long (0: until stopped) */
    const volatile sig_atomic_t *stop;
    td_agent_log_fn log;
    void *log_user;
} td_agent_options;

void td_agent_options_default(td_agent_options *o);

/*
 * Runs the car: registers its key (DIR/device.key, made on first start) with the enrollment
 * token (DIR/device.json keeps the device's id and token), then until stopped: heartbeats
 * with what runs and how it drives; when the hub names a desired bundle, goes back to the
 * previous one or downloads it into DIR/incoming and installs it (td_agent_install:
 * signature, hashes, not older unless it is a rollback, health check, atomic switch) and
 * reports the outcome; drives the active bundle's model; queues telemetry windows and reports
 * in DIR/outbox while the hub cannot be reached. Returns 0 when stopped, or an error the
 * agent cannot go on from (a revoked device, a bad data directory).
 */
int td_agent_run(const td_agent_options *o, td_err *err);

/*
 * Registration alone (`trackday agent register`): makes the device key when missing and
 * returns the request body {"name", "public_key", "signature"} a hub's
 * POST /api/v1/devices/register takes (new reference), or NULL with err set.
 */
json_t *td_agent_register_body(const char *data_dir, const char *name, td_err *err);

#ifdef __cplusplus
}
#endif

#endif /* TRACKDAY_AGENT_H */
