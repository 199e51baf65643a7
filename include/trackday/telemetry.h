/*
 * telemetry.h - a device's telemetry: what a running model saw and did over a window of time
 * (default 60 s), as a mergeable summary (summary.h: latency histogram, actions, per-frame
 * camera statistics, lidar ranges per sector, policy entropy and top-1 probability, lap times
 * and off-track events) plus who sent it (device, deployment, bundle), when (start and end,
 * Unix milliseconds) and its sequence number. Windows merge exactly (counts add) across time
 * and devices; the JSON is what an agent posts to `POST /api/v1/devices/{id}/telemetry`
 * (docs/telemetry.md). Part of the eval layer.
 *
 *   td_telemetry w;
 *   td_telemetry_begin(&w, &layout, "car-7", bundle_id, now_ms, &err);
 *   td_summary_add(&w.summary, &obs, outputs, latency_ms);   // every frame
 *   td_telemetry_end(&w, now_ms);
 *   char *body = td_telemetry_dumps(&w);                     // POST it, then free
 *   td_telemetry_free(&w);
 */
#ifndef TRACKDAY_TELEMETRY_H
#define TRACKDAY_TELEMETRY_H

#include <stdint.h>

#include "trackday/core.h"
#include "trackday/json.h"
#include "trackday/summary.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_TELEMETRY_ID_LEN    64 /* device, deployment and bundle ids: at most 63 characters */
#define TD_TELEMETRY_WINDOW_MS 60000
#define TD_TELEMETRY_VERSION   1
/* The largest telemetry document a reader accepts (a camera model's window is ~15 KiB). */
#define TD_TELEMETRY_MAX_BYTES (1 << 20)

/* The id a merged window names when its parts came from several devices (or bundles...). */
#define TD_TELEMETRY_MIXED "*"

typedef struct td_telemetry {
    char device[TD_TELEMETRY_ID_LEN];     /* the device's id on the hub ("" unknown) */
    char deployment[TD_TELEMETRY_ID_LEN]; /* the deployment that installed the bundle ("") */
    char bundle_id[TD_TELEMETRY_ID_LEN];  /* manifest.json's bundle_id ("" unknown) */
    char bundle_sha256[65];               /* the bundle file's SHA-256, 64 lowercase hex digits
                                             ("" unknown): how the hub finds the reference */
    uint64_t seq;                         /* the device's window counter (idempotent posts) */
    int64_t start_ms, end_ms;             /* [start, end), Unix milliseconds */
    uint64_t windows;                     /* how many windows were merged into this one */
    td_summary summary;
} td_telemetry;

/*
 * Starts an empty window at start_ms for a model of this layout. device and bundle_id may be
 * NULL; an id must be 1-63 characters of [A-Za-z0-9._:-] (TD_EINVAL otherwise). Free with
 * td_telemetry_free (also after an error).
 */
int td_telemetry_begin(td_telemetry *w, const td_summary_layout *l, const char *device,
                       const char *bundle_id, int64_t start_ms, td_err *err);
/* Closes the window at end_ms (>= start_ms). */
void td_telemetry_end(td_telemetry *w, int64_t end_ms);
void td_telemetry_free(td_telemetry *w);

/* 1 when s is a valid id (see td_telemetry_begin). */
int td_telemetry_id_ok(const char *s);

/*
 * Adds src into dst: the summaries merge exactly (summary.h), the time span becomes the union's
 * [min start, max end), windows add up, and an id that differs becomes TD_TELEMETRY_MIXED.
 * TD_EINVAL (different models) or TD_ERANGE; dst is unchanged after an error.
 */
int td_telemetry_merge(td_telemetry *dst, const td_telemetry *src, td_err *err);

/* A deep copy (dst is initialized). */
int td_telemetry_copy(td_telemetry *dst, const td_telemetry *src, td_err *err);

/*
 * JSON (docs/telemetry.md):
 *   {"format": "trackday-telemetry", "version": 1, "device", "deployment", "bundle_id",
 *    "bundle_sha256", "seq", "start_ms", "end_ms", "windows", "summary": {...summary.h...}}
 */
json_t *td_telemetry_to_json(const td_telemetry *w);
/* Compact JSON text, td_malloc'd (td_free), or NULL when out of memory. */
char *td_telemetry_dumps(const td_telemetry *w);
/* Reads what td_telemetry_to_json wrote; hostile input: every field checked, errors name it. */
int td_telemetry_from_json(td_telemetry *w, const json_t *j, td_err *err);
int td_telemetry_loads(td_telemetry *w, const char *text, size_t len, td_err *err);

/*
 * Reads a telemetry file: one window per line (JSON lines, what `trackday agent` buffers and
 * `trackday drift` reads), a JSON array of windows, or one window. All windows are merged into
 * *merged (when not NULL) and, when each is not NULL, handed to each(w, ctx) in file order
 * (a non-zero return stops the read and is returned). Errors name the file and line.
 */
int td_telemetry_read_file(const char *path, td_telemetry *merged,
                           int (*each)(const td_telemetry *w, void *ctx), void *ctx, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_TELEMETRY_H */
