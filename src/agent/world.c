/*
 * world.c - the car's simulated world (agent.h): the stand-in for a physical car (`trackday
 * agent --sim WORLD.json`: a track with its own domain shift in lighting, colours, floor,
 * camera and grip) and the simulated car a driver (driver.c) drives in it. The driver reaches
 * this file only through td_agent_world.drive, so a build without the simulator links none
 * of it.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"
#include "trackday/modeldir.h"
#include "trackday/policy.h"
#include "trackday/track.h"

static int sim_drive(td_agent_driver *d, const td_bundle *b, const td_agent_world *world,
                     td_err *err);

/* ---- the world --------------------------------------------------------------------------- */

void td_agent_world_init(td_agent_world *w)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->track, sizeof(w->track), "oval");
    w->seed = 1;
    td_look_default(&w->look);
    w->grip_scale = 1;
    w->shift = json_object();
    w->drive = sim_drive;
}

void td_agent_world_free(td_agent_world *w)
{
    json_decref(w->shift);
    w->shift = NULL;
}

static int parse_rgb(const char *s, uint8_t out[3])
{
    unsigned v;
    char *end;
    if (s[0] == '#')
        s++;
    if (strlen(s) != 6)
        return -1;
    v = (unsigned)strtoul(s, &end, 16);
    if (*end)
        return -1;
    out[0] = (uint8_t)(v >> 16);
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)v;
    return 0;
}

/* One shift key. value is a number, or for colours "#rrggbb". */
static int shift_one(td_agent_world *w, const char *key, const json_t *value, const char *what,
                     td_err *err)
{
    td_look *l = &w->look;
    if (!strcmp(key, "road") || !strcmp(key, "grass") || !strcmp(key, "border") ||
        !strcmp(key, "sky")) {
        uint8_t *dst = !strcmp(key, "road")     ? l->road
                       : !strcmp(key, "grass")  ? l->grass
                       : !strcmp(key, "border") ? l->border
                                                : l->sky;
        if (!json_is_string(value) || parse_rgb(json_string_value(value), dst))
            return td_err_set(err, TD_EINVAL, "%s: shift '%s' is a colour \"#rrggbb\"", what, key);
        json_object_set(w->shift, key, (json_t *)value);
        return 0;
    }
    static const struct {
        const char *key;
        double lo, hi;
    } K[] = {{"brightness", 0.05, 5},
             {"contrast", 0.05, 5},
             {"exposure", 0.05, 5},
             {"texture", 0, 128},
             {"noise", 0, 64},
             {"blur", 0, 0.2},
             {"vignette", 0, 1},
             {"decor", 0, 2},
             {"camera_pitch_deg", -20, 20},
             {"camera_height_m", -0.1, 0.1},
             {"grip", 0.05, 2}};
    for (size_t i = 0; i < sizeof(K) / sizeof(K[0]); i++) {
        if (strcmp(key, K[i].key))
            continue;
        if (!json_is_number(value))
            return td_err_set(err, TD_EINVAL, "%s: shift '%s' must be a number", what, key);
        double v = json_number_value(value);
        if (!(v >= K[i].lo && v <= K[i].hi))
            return td_err_set(err, TD_EINVAL, "%s: shift '%s' = %g is outside [%g, %g]", what, key,
                              v, K[i].lo, K[i].hi);
        switch (i) {
        case 0:
            l->brightness = v;
            break;
        case 1:
            l->contrast = v;
            break;
        case 2:
            l->exposure = v;
            break;
        case 3:
            l->texture = v;
            break;
        case 4:
            l->noise_sigma = v;
            break;
        case 5:
            l->blur_s = v;
            break;
        case 6:
            l->vignette = v;
            break;
        case 7:
            l->decor = (int)v;
            break;
        case 8:
            l->pitch_offset_deg = v;
            break;
        case 9:
            l->height_offset_m = v;
            break;
        default:
            w->grip_scale = v;
            break;
        }
        json_object_set(w->shift, key, (json_t *)value);
        return 0;
    }
    return td_err_set(err, TD_EINVAL,
                      "%s: unknown shift '%s' (brightness, contrast, exposure, texture, noise, "
                      "blur, vignette, decor, camera_pitch_deg, camera_height_m, grip, road, "
                      "grass, border, sky)",
                      what, key);
}

int td_agent_world_from_json(td_agent_world *w, const json_t *j, const char *what, td_err *err)
{
    const char *key;
    json_t *v;
    if (!json_is_object(j))
        return td_err_set(err, TD_EFORMAT, "%s: a world is a JSON object", what);
    json_object_foreach((json_t *)j, key, v)
    {
        if (!strcmp(key, "track")) {
            if (!json_is_string(v) || !json_string_length(v) ||
                json_string_length(v) >= sizeof(w->track))
                return td_err_set(err, TD_EINVAL, "%s: 'track' is a track name or path", what);
            snprintf(w->track, sizeof(w->track), "%s", json_string_value(v));
        } else if (!strcmp(key, "seed")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                return td_err_set(err, TD_EINVAL, "%s: 'seed' is a whole number", what);
            w->seed = (uint64_t)json_integer_value(v);
        } else if (!strcmp(key, "shift")) {
            const char *k;
            json_t *x;
            if (!json_is_object(v))
                return td_err_set(err, TD_EINVAL, "%s: 'shift' is an object", what);
            json_object_foreach(v, k, x)
            {
                int rc = shift_one(w, k, x, what, err);
                if (rc)
                    return rc;
            }
        } else {
            return td_err_set(err, TD_EINVAL, "%s: unknown key '%s' (track, seed, shift)", what,
                              key);
        }
    }
    return 0;
}

int td_agent_world_load(td_agent_world *w, const char *path, td_err *err)
{
    json_t *j = NULL;
    int rc = td_json_load_file(path, &j, err);
    if (!rc)
        rc = td_agent_world_from_json(w, j, path, err);
    json_decref(j);
    return rc;
}

int td_agent_world_shift(td_agent_world *w, const char *spec, td_err *err)
{
    char buf[512], *p, *save = NULL;
    if (strlen(spec) >= sizeof(buf))
        return td_err_set(err, TD_EINVAL, "shift '%.40s...' is too long", spec);
    snprintf(buf, sizeof(buf), "%s", spec);
    for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(p, '=');
        if (!eq || eq == p || !eq[1])
            return td_err_set(err, TD_EINVAL, "shift '%s': expected KEY=VALUE", p);
        *eq = 0;
        const char *val = eq + 1;
        char *end;
        double d = strtod(val, &end);
        json_t *v = (*end || end == val) ? json_string(val) : json_real(d);
        int rc = shift_one(w, p, v, "--shift", err);
        json_decref(v);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the simulated car -------------------------------------------------------------------- */

/* The car a driver drives in a world (td_agent_world.drive). */
typedef struct agent_sim {
    td_track track;
    int have_track;
    td_vecenv env;
    int have_env;
    td_vecenv_buffers buf;
} agent_sim;

static const int64_t LAP_STEPS_MAX = 15 * 180; /* an attempt at a lap ends after 3 minutes */

static void sim_free(void *p)
{
    agent_sim *s = p;
    if (!s)
        return;
    if (s->have_env) {
        td_vecenv_buffers_free(&s->buf);
        td_vecenv_free(&s->env);
    }
    if (s->have_track)
        td_track_free(&s->track);
    td_free(s);
}

static int sim_step(td_agent_driver *d, td_err *err)
{
    agent_sim *s = d->sim;
    td_infer_obs obs;
    td_infer_action act;
    int rc;
    obs.camera = d->info->camera_h ? s->env.obs_camera : NULL;
    obs.lidar = d->info->lidar_dim ? s->env.obs_lidar : NULL;
    obs.state = d->info->state_dim ? s->env.obs_state : NULL;
    if ((rc = td__agent_driver_infer(d, &obs, &act, err)) != 0)
        return rc;
    s->buf.actions[0] = act.steering_angle;
    s->buf.actions[1] = act.speed;
    long off_before = td_vecenv_current_episode(&s->env, 0)->events.off_tracks +
                      td_vecenv_current_episode(&s->env, 0)->events.reverses +
                      td_vecenv_current_episode(&s->env, 0)->events.immobilized;
    long crash_before = td_vecenv_current_episode(&s->env, 0)->events.crashes;
    td_vecenv_step(&s->env);
    if (s->buf.dones[0]) {
        const td_episode_info *e = td_vecenv_last_episode(&s->env, 0);
        for (int l = 0; l < e->laps && l < TD_MAX_LAPS; l++)
            td__agent_driver_lap(d, e->lap_times_s[l]);
        long off = e->events.off_tracks + e->events.reverses + e->events.immobilized;
        d->stats.off_track += off > off_before ? off - off_before : 0;
        d->stats.crashes += e->events.crashes > crash_before ? e->events.crashes - crash_before : 0;
        d->tel.summary.outcomes.episodes++;
        d->tel.summary.outcomes.off_tracks += off > off_before ? off - off_before : 0;
        d->tel.summary.outcomes.crashes +=
            e->events.crashes > crash_before ? e->events.crashes - crash_before : 0;
    } else {
        const td_episode_info *e = td_vecenv_current_episode(&s->env, 0);
        long off = e->events.off_tracks + e->events.reverses + e->events.immobilized;
        if (off > off_before) {
            d->stats.off_track += off - off_before;
            d->tel.summary.outcomes.off_tracks += off - off_before;
            d->tel.summary.outcomes.resets += off - off_before;
        }
        if (e->events.crashes > crash_before) {
            d->stats.crashes += e->events.crashes - crash_before;
            d->tel.summary.outcomes.crashes += e->events.crashes - crash_before;
        }
    }
    return 0;
}

/* The car: the metadata's sensors and physics, the world's look and grip. */
static int sim_drive(td_agent_driver *d, const td_bundle *b, const td_agent_world *world,
                     td_err *err)
{
    int rc;
    const td_archive_entry *meta = td_bundle_file(b, "model/model_metadata.json");
    td_model_metadata md;
    td_sim_config cfg;
    json_t *mj = meta ? json_loadb((const char *)meta->data, meta->size, 0, NULL) : NULL;
    if (!mj)
        return td_err_set(err, TD_EFORMAT, "bundle %s: no readable model_metadata.json",
                          b->bundle_id);
    td_config_warnings warn;
    td_config_warnings_clear(&warn);
    rc = td_model_metadata_from_json(&md, mj, "model_metadata.json", &warn, err);
    json_decref(mj);
    if (rc)
        return rc;
    agent_sim *s = td_calloc(1, sizeof(*s));
    if (!s)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    d->sim = s;
    d->sim_free = sim_free;
    if ((rc = td_track_load(&s->track, world->track_path[0] ? world->track_path : world->track,
                            err)) != 0)
        return rc;
    s->have_track = 1;
    td_sim_config_default(&cfg);
    td_policy_sim_sensors(&md, &cfg);
    cfg.look = world->look;
    if (world->grip_scale != 1)
        cfg.car.grip_mps2 = (cfg.car.grip_mps2 > 0 ? cfg.car.grip_mps2 : 6.0) * world->grip_scale;
    /* Laps one at a time from the start line; an off-track costs a reset and the car drives on
     * (counted), as a car on a real floor is put back. */
    cfg.mode = TD_MODE_EVAL;
    cfg.penalties.max_resets = TD_RESETS_UNLIMITED;
    cfg.max_steps = (int)LAP_STEPS_MAX;
    cfg.seed = world->seed;
    if ((rc = td_vecenv_init(&s->env, &cfg, &s->track, 1, err)) != 0)
        return rc;
    s->have_env = 1;
    if ((rc = td_vecenv_buffers_init(&s->buf, &s->env, err)) != 0)
        return rc;
    td_vecenv_reset(&s->env);
    d->sim_step = sim_step;
    return 0;
}
