/*
 * json.h - small helpers over jansson for reading configuration and writing reports:
 * load a file with an error that names the file, line and column; read typed fields with
 * defaults and range checks whose errors name the file and key.
 */
#ifndef TRACKDAY_JSON_H
#define TRACKDAY_JSON_H

#include <jansson.h>
#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads and parses a JSON file. On success *out holds a new reference (json_decref it). */
int td_json_load_file(const char *path, json_t **out, td_err *err);

/* Parses JSON text; `what` names the source in error messages. */
int td_json_parse(const char *text, size_t len, const char *what, json_t **out, td_err *err);

#define TD_JSON_MAX_DUPLICATES 16
/*
 * Like td_json_parse, but a key given twice in one object keeps its last value, as in
 * Python's json (DeepRacer's configuration files). dup(ctx, line, key) is called for each
 * repeated key (the first TD_JSON_MAX_DUPLICATES), key as written between its quotes.
 */
int td_json_parse_last_wins(const char *text, size_t len, const char *what, json_t **out,
                            void (*dup)(void *ctx, int line, const char *key), void *ctx,
                            td_err *err);

/*
 * Reads obj[key] as a number (integer or real). If the key is absent, *out = dflt and 0 is
 * returned. If present but not a number, or outside [lo, hi], an error naming `what`
 * (usually the file) and the key is returned.
 */
int td_json_get_number(const json_t *obj, const char *key, double dflt, double lo, double hi,
                       double *out, const char *what, td_err *err);

/* Like td_json_get_number for integers (a real with a fractional part is an error). */
int td_json_get_int(const json_t *obj, const char *key, long dflt, long lo, long hi, long *out,
                    const char *what, td_err *err);

/* Reads obj[key] as a bool (JSON true/false); absent gives dflt. */
int td_json_get_bool(const json_t *obj, const char *key, int dflt, int *out, const char *what,
                     td_err *err);

/*
 * Reads obj[key] as a string; absent gives dflt (which may be NULL). *out points into obj
 * (or is dflt): valid while obj lives.
 */
int td_json_get_string(const json_t *obj, const char *key, const char *dflt, const char **out,
                       const char *what, td_err *err);

/*
 * Serializes value to path atomically (td_file_write_atomic), indented, keys in insertion
 * order, with a trailing newline.
 */
int td_json_write_file(const char *path, const json_t *value, td_err *err);

/* ---- JSON forms of other layers' types (kept out of the installed headers) ------------- */

struct td_car_config;
/*
 * Reads a car from a JSON object: {"preset": name (default "deepracer"), then any field of
 * td_car_config by name, e.g. "steer_gain": 0.6}. Unknown keys and values outside their
 * ranges are errors that name `what` and the key. (sim/car.c)
 */
int td_car_config_from_json(struct td_car_config *cfg, const json_t *obj, const char *what,
                            td_err *err);
/* The car as a JSON object with every field (a new reference). */
json_t *td_car_config_to_json(const struct td_car_config *cfg);

struct td_event_counts;
/*
 * Adds the events a car ran into to the object obj, in the order every report writes them
 * (drive --json, the evaluation report, eval --robustness's cases, a race's standings):
 * "off_tracks", "crashes", "reverses", "immobilized", "resets", then "penalty_s" when
 * with_penalty. Returns 0, or -1 when obj is NULL or a value cannot be allocated (what was
 * added stays). (sim/episode.c)
 */
int td__events_to_json(json_t *obj, const struct td_event_counts *e, int with_penalty);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_JSON_H */
