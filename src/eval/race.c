/*
 * race.c - head-to-head races (race.h): one single-car world per racer, stepped in lockstep.
 * Every world holds the other cars as boxes at the poses where the cars chose their actions:
 * a step judges params and collisions there, before its physics, as DeepRacer does for every
 * racer (update_agent of all agents, then the physics), so collisions are judged at the same
 * instant in every world, by DeepRacer's rule (the car behind crashes, the car ahead does
 * not). After all cars have stepped, every world gets the others' new poses and renders its
 * observation again, so each car sees the others where the physics left them. Every car
 * starts with DeepRacer's prepare step, and a car serving a penalty is held by its world in
 * pause steps, so every world's clock is the race clock.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/eval.h"
#include "trackday/json.h"
#include "trackday/race.h"
#include "trackday/replay.h"

enum { CAR_RACING = 0, CAR_FINISHED = 1, CAR_OUT = 2 };

#define TRAIL 45 /* steps of trail drawn behind each car in the replay (3 s) */

typedef struct racecar {
    td_vecenv env;
    int env_ok;
    td_vecenv_buffers buf; /* action, reward, done, params and observations of the car */
    td_policy *policy;
    td_driver driver;
    int driver_ok;
    int state;     /* CAR_* */
    int moved;     /* stepped in the current lockstep step */
    int reset_now; /* the current step put the car on a reset pose */
    td_race_car_result res;
    double trail[TRAIL][2];
    int trail_n, trail_head;
} racecar;

struct td_race {
    td_race_options o;
    const td_track *track;
    int n;
    racecar cars[TD_RACE_MAX_CARS];
    long steps, max_steps;
    int over;
    /* replay */
    td_frame_sink *sink;
    td_topview tv;
    int tv_ok;
    uint8_t *frame;
    int fw, fh, band, tvx, scale;
    /* the camera view of one car (replay_camera_car >= 0) on the left half */
    td_ground_map *ground;
    td_camera_config cam;
    uint8_t *camrgb;
    int pw, ph;
};

void td_race_options_default(td_race_options *o)
{
    memset(o, 0, sizeof(*o));
    o->laps = 3;
    o->penalties.max_resets = TD_EVAL_DEFAULT_RESETS;
    o->penalties.off_track_penalty_s = 2.0;
    o->penalties.collision_penalty_s = 5.0;
    o->stagger_m = 0.75;
    o->seed = 1;
    o->replay_width = 960;
    o->replay_fps = 15;
    o->replay_camera_car = -1;
}

int td_racer_parse_builtin(const char *spec, td_driver_config *out, td_err *err)
{
    char kind[64];
    const char *p, *colon;
    td_driver_kind k;
    if (strncmp(spec, "builtin:", 8) != 0)
        return td_err_set(err, TD_EINVAL, "'%s': a built-in racer is builtin:KIND[:SPEED]", spec);
    p = spec + 8;
    colon = strchr(p, ':');
    snprintf(kind, sizeof(kind), "%.*s", colon ? (int)(colon - p) : (int)strlen(p), p);
    if (td_driver_kind_parse(kind, &k) != 0)
        return td_err_set(err, TD_EINVAL,
                          "'%s': unknown built-in driver '%s' (pure-pursuit, centerline, zigzag)",
                          spec, kind);
    td_driver_config_default(out, k);
    if (colon) {
        char *end;
        double v = strtod(colon + 1, &end);
        if (end == colon + 1 || *end || !(v >= 0.1 && v <= 4.0))
            return td_err_set(err, TD_EINVAL, "'%s': top speed '%s' must be 0.1..4 m/s", spec,
                              colon + 1);
        out->max_speed = v;
        if (out->min_speed > v)
            out->min_speed = v;
    }
    return 0;
}

/* ---- standings ---------------------------------------------------------------------------- */

/* Finishers first by time; then by laps, progress; ties by start slot. */
static int better(const td_race_car_result *a, const td_race_car_result *b)
{
    if (a->finished != b->finished)
        return a->finished;
    if (a->finished) {
        if (a->total_time_s != b->total_time_s)
            return a->total_time_s < b->total_time_s;
    } else {
        if (a->laps != b->laps)
            return a->laps > b->laps;
        if (a->progress != b->progress)
            return a->progress > b->progress;
    }
    return a->start_slot < b->start_slot;
}

/* order[0..n) = car indices in standings order (insertion sort: n <= 6). */
static void standings(const td_race *r, int *order)
{
    for (int i = 0; i < r->n; i++) {
        int j = i;
        while (j > 0 && better(&r->cars[i].res, &r->cars[order[j - 1]].res)) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

/* ---- replay ----------------------------------------------------------------------------- */

static const uint8_t BAND[3] = {24, 24, 28}, GREY[3] = {150, 150, 160};

static int replay_open(td_race *r, td_err *err)
{
    int W = r->o.replay_width & ~1, lines = r->n + 1, rc, k = r->o.replay_camera_car;
    if (W < 320 || W > 3840)
        return td_err_set(err, TD_EINVAL, "replay width %d: must be 320..3840 pixels",
                          r->o.replay_width);
    if (k >= r->n)
        return td_err_set(err, TD_EINVAL, "replay camera: car %d of a race of %d (0-based)", k,
                          r->n);
    r->scale = W >= 640 ? 2 : 1;
    r->band = lines * (TD_FONT_H + 3) * r->scale + 4 * r->scale;
    if (k >= 0) {
        /* What that car's camera sees, scaled up, left of the top view. */
        td_camera_config_default(&r->cam);
        r->pw = W / 2;
        r->ph = r->pw * r->cam.height / r->cam.width;
        r->camrgb = td_malloc((size_t)r->cam.width * r->cam.height * 3);
        if (!r->camrgb)
            return td_err_set(err, TD_ENOMEM, "out of memory");
        if ((rc = td_ground_map_open(&r->ground, r->track, 0.01, err)) != 0)
            return rc;
    }
    /* The track as driven (the arrow shows the direction of a reverse race). */
    rc = td_topview_init(&r->tv, td_vecenv_track(&r->cars[0].env, 0), W - r->pw,
                         k >= 0 ? (r->ph > (W * 3) / 8 ? r->ph : (W * 3) / 8) : (W * 3) / 4, err);
    if (rc)
        return rc;
    r->tv_ok = 1;
    r->fw = W;
    r->fh = (r->band + (r->tv.h > r->ph ? r->tv.h : r->ph) + 1) & ~1;
    r->tvx = r->pw + (W - r->pw - r->tv.w) / 2;
    r->frame = td_malloc((size_t)r->fw * r->fh * 3);
    if (!r->frame)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    return td_frame_sink_open(&r->sink, r->o.replay_path, r->fw, r->fh,
                              r->o.replay_fps > 0 ? r->o.replay_fps : 15, err);
}

/* Car k's camera view (what its model sees, in colour) into the left half of the frame. */
static void replay_camera(td_race *r, int k)
{
    const racecar *c = &r->cars[k];
    const td_car_state *st = td_vecenv_car(&c->env, 0);
    td_scene sc;
    td_look look;
    td_vecenv_scene(&c->env, 0, &sc);
    td_look_default(&look);
    sc.ground = r->ground;
    sc.look = &look;
    if (c->state != CAR_RACING)
        sc.nboxes = 0; /* finished or out: its world no longer holds the others */
    td_camera_render_rgb(&r->cam, &sc, st->x, st->y, st->yaw, r->camrgb);
    for (int y = 0; y < r->ph; y++) {
        int sy = y * r->cam.height / r->ph;
        uint8_t *dst = r->frame + ((size_t)(r->band + y) * r->fw) * 3;
        const uint8_t *src = r->camrgb + (size_t)sy * r->cam.width * 3;
        for (int x = 0; x < r->pw; x++)
            memcpy(dst + 3 * x, src + (size_t)(x * r->cam.width / r->pw) * 3, 3);
    }
}

static void short_name(const char *name, char *out, size_t n)
{
    const char *b = strrchr(name, '/');
    /* "dir/model/best.tdm" and "dir/" read better as the directory's name. */
    snprintf(out, n, "%s", b && b[1] && !strstr(b, ".tdm") ? b + 1 : name);
    if (strlen(out) > 22)
        out[22] = 0;
}

static int replay_frame(td_race *r, td_err *err)
{
    int W = r->fw, H = r->fh, s = r->scale, lh = (TD_FONT_H + 3) * s, order[TD_RACE_MAX_CARS];
    char line[256];
    td_raster_rect(r->frame, W, H, 0, 0, W, H, BAND);
    if (r->o.replay_camera_car >= 0)
        replay_camera(r, r->o.replay_camera_car);
    for (int y = 0; y < r->tv.h; y++)
        memcpy(r->frame + ((size_t)(r->band + y) * W + r->tvx) * 3,
               r->tv.base + (size_t)y * r->tv.w * 3, (size_t)r->tv.w * 3);
    for (int k = 0; k < r->n; k++) {
        racecar *c = &r->cars[k];
        uint8_t col[3], light[3];
        if (c->state != CAR_RACING)
            continue; /* finished and retired cars leave the track */
        td_replay_car_color(k, col);
        for (int j = 0; j < 3; j++)
            light[j] = (uint8_t)(col[j] + (255 - col[j]) / 3);
        for (int i = 1; i < c->trail_n; i++) {
            const double *a = c->trail[(c->trail_head - i + TRAIL) % TRAIL];
            const double *b = c->trail[(c->trail_head - i - 1 + 2 * TRAIL) % TRAIL];
            double ax, ay, bx, by;
            if (hypot(a[0] - b[0], a[1] - b[1]) > 0.5)
                break; /* a reset */
            td_topview_project(&r->tv, a[0], a[1], &ax, &ay);
            td_topview_project(&r->tv, b[0], b[1], &bx, &by);
            td_raster_line(r->frame, W, H, ax + r->tvx, ay + r->band, bx + r->tvx, by + r->band,
                           fmax(2.0, 0.025 * r->tv.sc), light);
        }
        const td_car_state *st = td_vecenv_car(&c->env, 0);
        td_topview_draw_car(&r->tv, r->frame, W, H, r->tvx, r->band, st->x, st->y, st->yaw,
                            c->env.cfg.car.length_m, c->env.cfg.car.width_m, col);
    }
    snprintf(line, sizeof(line), "%s   RACE %d LAPS%s   TIME %.2f S", r->track->name, r->o.laps,
             r->o.continuous ? " CONTINUOUS" : "", r->steps / TD_SIM_HZ);
    td_raster_text(r->frame, W, H, 4 * s, 4 * s, line, s, GREY);
    standings(r, order);
    for (int p = 0; p < r->n; p++) {
        const racecar *c = &r->cars[order[p]];
        char name[64];
        uint8_t col[3];
        td_replay_car_color(order[p], col);
        short_name(c->res.name, name, sizeof(name));
        if (c->state == CAR_FINISHED)
            snprintf(line, sizeof(line), "P%d %-22s FINISHED %.2f S", p + 1, name,
                     c->res.total_time_s);
        else if (c->state == CAR_OUT)
            snprintf(line, sizeof(line), "P%d %-22s OUT (%s) LAP %d", p + 1, name,
                     td_episode_status_name(c->res.status), c->res.laps + 1);
        else
            snprintf(line, sizeof(line), "P%d %-22s LAP %d/%d %5.1f%%%s", p + 1, name,
                     c->res.laps + 1 > r->o.laps ? r->o.laps : c->res.laps + 1, r->o.laps,
                     c->res.progress < 0 ? 0.0 : c->res.progress,
                     td_vecenv_step_status(&c->env, 0) == TD_EP_PAUSE ? "  PENALTY" : "");
        td_raster_text(r->frame, W, H, 4 * s, 4 * s + (p + 1) * lh, line, s, col);
    }
    return td_frame_sink_write(r->sink, r->frame, err);
}

/* ---- the race ------------------------------------------------------------------------------ */

static void trail_push(racecar *c)
{
    const td_car_state *st = td_vecenv_car(&c->env, 0);
    c->trail_head = (c->trail_head + 1) % TRAIL;
    c->trail[c->trail_head][0] = st->x;
    c->trail[c->trail_head][1] = st->y;
    if (c->trail_n < TRAIL)
        c->trail_n++;
}

/* Gives every racing car's world the other racing cars at their current poses. */
static int share_boxes(td_race *r, td_err *err)
{
    for (int k = 0; k < r->n; k++) {
        td_box boxes[TD_RACE_MAX_CARS];
        int nb = 0, rc;
        if (r->cars[k].state != CAR_RACING)
            continue;
        for (int j = 0; j < r->n; j++) {
            const racecar *o = &r->cars[j];
            if (j == k || o->state != CAR_RACING)
                continue;
            const td_car_state *st = td_vecenv_car(&o->env, 0);
            boxes[nb].x = st->x;
            boxes[nb].y = st->y;
            boxes[nb].yaw = st->yaw;
            boxes[nb].length = o->env.cfg.car.length_m;
            boxes[nb].width = o->env.cfg.car.width_m;
            boxes[nb].height = TD_CAR_HEIGHT_M;
            boxes[nb].kind = TD_BOX_CAR;
            nb++;
        }
        if ((rc = td_vecenv_set_external_boxes(&r->cars[k].env, 0, boxes, nb, err)) != 0)
            return rc;
    }
    return 0;
}

static int init_car(td_race *r, racecar *c, const td_racer *racer, int k, td_err *err)
{
    td_sim_config cfg;
    int rc;
    td_sim_config_default(&cfg);
    cfg.race.race_type = TD_RACE_TIME_TRIAL;
    cfg.race.reverse_dir = r->o.reverse;
    cfg.race.alternate_driving_direction = 0;
    if (racer->policy)
        td_policy_sim_sensors(&racer->policy->meta, &cfg);
    /* Continuous mode counts laps across the line; without --continuous no reset is left, so
     * the first event ends the car's race. */
    cfg.mode = TD_MODE_CONTINUOUS;
    cfg.laps = r->o.laps;
    cfg.penalties = r->o.penalties;
    if (!r->o.continuous)
        cfg.penalties.max_resets = 0;
    cfg.seed = r->o.seed + (uint64_t)k * 7919u;
    if ((rc = td_vecenv_init(&c->env, &cfg, r->track, 1, err)) != 0)
        return rc;
    c->env_ok = 1;
    if ((rc = td_vecenv_buffers_init(&c->buf, &c->env, err)) != 0)
        return rc;
    c->policy = racer->policy;
    td_vecenv_reset(&c->env);
    if (!c->policy) {
        /* After the reset: the track of the car's direction (the reverse one with --reverse). */
        if ((rc = td_driver_init(&c->driver, &racer->driver, td_vecenv_track(&c->env, 0), err)))
            return rc;
        c->driver_ok = 1;
    }
    snprintf(c->res.name, sizeof(c->res.name), "%s", racer->name ? racer->name : "car");
    c->res.start_slot = k;
    c->res.best_lap_s = -1;
    c->res.status = TD_EP_IN_PROGRESS;
    return 0;
}

void td_race_teleport(td_race *r, int k, double x, double y, double yaw, double speed)
{
    racecar *c = &r->cars[k];
    td_vecenv_teleport(&c->env, 0, x, y, yaw, speed);
    td_vecenv_refresh(&c->env, 0);
    c->res.progress = c->buf.params[0].progress;
    /* The other worlds see the car where it stands now: their next step judges collisions
     * there. (share_boxes fails only for worlds with obstacles or bots of their own, which a
     * race never builds.) */
    if (share_boxes(r, NULL) == 0)
        for (int j = 0; j < r->n; j++)
            if (j != k && r->cars[j].state == CAR_RACING && r->cars[j].env_ok)
                td_vecenv_refresh(&r->cars[j].env, 0);
    if (c->driver_ok)
        td_driver_reset(&c->driver);
}

const td_vecenv *td_race_env(const td_race *r, int k)
{
    return &r->cars[k].env;
}

int td_race_open(td_race **out, const td_track *track, const td_racer *racers, int n,
                 const td_race_options *o, td_err *err)
{
    td_race *r;
    int rc;
    *out = NULL;
    if (n < TD_RACE_MIN_CARS || n > TD_RACE_MAX_CARS)
        return td_err_set(err, TD_EINVAL, "a race has %d to %d cars, not %d", TD_RACE_MIN_CARS,
                          TD_RACE_MAX_CARS, n);
    if (!track->closed)
        return td_err_set(err, TD_EINVAL, "track %s: races need a loop (it is an open route)",
                          track->name);
    if (o->laps < 1 || o->laps > TD_MAX_LAPS)
        return td_err_set(err, TD_EINVAL, "laps %d: must be 1..%d", o->laps, TD_MAX_LAPS);
    if (!(o->stagger_m >= 0.4) || o->stagger_m * n > 0.5 * track->length)
        return td_err_set(err, TD_EINVAL,
                          "start spacing %.2f m: at least 0.4 m, and the grid "
                          "must fit in half the lap",
                          o->stagger_m);
    r = td_calloc(1, sizeof(*r));
    if (!r)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    r->o = *o;
    r->track = track;
    r->n = n;
    {
        double limit = o->max_time_s > 0 ? o->max_time_s : o->laps * (track->length / 0.5) + 30;
        r->max_steps = (long)ceil(limit * TD_SIM_HZ);
    }
    for (int k = 0; k < n; k++) {
        if ((rc = init_car(r, &r->cars[k], &racers[k], k, err)) != 0) {
            td_race_close(r);
            return rc;
        }
    }
    /* The grid: slot k stands k x stagger behind the line, inner lane for even slots. */
    for (int k = 0; k < n; k++) {
        const td_track *t = td_vecenv_track(&r->cars[k].env, 0);
        double s = td_track_wrap_arc(t, -o->stagger_m * k), x, y, hd;
        td_track_lane_point(t, s, (k & 1) ? -1 : 1, &x, &y);
        td_track_point_at(t, s, 0.0, NULL, NULL, &hd);
        td_race_teleport(r, k, x, y, hd, 0.0);
    }
    if ((rc = share_boxes(r, err)) != 0) {
        td_race_close(r);
        return rc;
    }
    for (int k = 0; k < n; k++) {
        td_vecenv_refresh(&r->cars[k].env, 0);
        trail_push(&r->cars[k]);
    }
    if (o->replay_path && (rc = replay_open(r, err)) != 0) {
        td_race_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* Records what car c's step did. */
static void after_step(td_race *r, racecar *c)
{
    const td_vecenv *env = &c->env;
    const td_episode_info *cur =
        c->buf.dones[0] ? td_vecenv_last_episode(env, 0) : td_vecenv_current_episode(env, 0);
    td_episode_status e = td_vecenv_step_status(env, 0);
    td_race_car_result *res = &c->res;
    int new_resets = cur->events.resets - res->events.resets;

    res->steps++;
    res->laps = cur->laps < TD_MAX_LAPS ? cur->laps : TD_MAX_LAPS;
    memcpy(res->lap_times_s, cur->lap_times_s, sizeof(res->lap_times_s));
    res->best_lap_s = -1;
    for (int i = 0; i < res->laps; i++)
        if (res->best_lap_s < 0 || res->lap_times_s[i] < res->best_lap_s)
            res->best_lap_s = res->lap_times_s[i];
    res->events = cur->events;
    res->total_time_s = cur->sim_time_s;
    res->progress = cur->progress;

    (void)e;
    if (c->buf.dones[0]) {
        res->status = cur->status;
        if (cur->status == TD_EP_LAP_COMPLETE && cur->laps >= r->o.laps) {
            c->state = CAR_FINISHED;
            res->finished = 1;
            res->progress = 100.0;
        } else {
            c->state = CAR_OUT; /* out of resets, or the simulator's step limit */
            res->progress = td_vecenv_step_params(&c->env, 0)->progress;
        }
        return;
    }
    if (new_resets > 0 && c->driver_ok)
        td_driver_reset(&c->driver); /* reset: the built-in driver finds its line again */
    c->reset_now = new_resets > 0;
    res->progress = c->buf.params[0].progress;
}

static void car_box(const racecar *c, const td_car_state *st, td_box *b)
{
    b->x = st->x;
    b->y = st->y;
    b->yaw = st->yaw;
    b->length = c->env.cfg.car.length_m;
    b->width = c->env.cfg.car.width_m;
    b->height = TD_CAR_HEIGHT_M;
    b->kind = TD_BOX_CAR;
}

/*
 * Two cars that hit each other are both reset 1 m behind the other on its other lane, which
 * can be the same spot; a car reset onto another car is moved back along the track until it
 * stands clear, else they would crash again the moment their penalties end.
 */
static void separate_resets(td_race *r)
{
    for (int k = 0; k < r->n; k++) {
        racecar *c = &r->cars[k];
        if (c->state != CAR_RACING || !c->moved || !c->reset_now)
            continue;
        for (int tries = 0; tries < 8; tries++) {
            td_box me, other;
            int hit = 0;
            car_box(c, td_vecenv_car(&c->env, 0), &me);
            for (int j = 0; j < r->n && !hit; j++) {
                if (j == k || r->cars[j].state != CAR_RACING)
                    continue;
                car_box(&r->cars[j], td_vecenv_car(&r->cars[j].env, 0), &other);
                hit = td_box_overlap(&me, &other);
            }
            if (!hit)
                break;
            /* Where the car stands now (its step's params show where it stood before). */
            const td_track *t = td_vecenv_track(&c->env, 0);
            const td_car_state *st = td_vecenv_car(&c->env, 0);
            double m = c->env.cfg.car.model_point_m;
            td_track_proj pr;
            td_track_project(t, st->x + m * st->cos_yaw, st->y + m * st->sin_yaw, &pr);
            double s = td_track_wrap_arc(t, pr.arc - m - (me.length + 0.2)), x, y, hd, ax, ay, bx,
                   by;
            /* Same lane as now. */
            td_track_lane_point(t, s, 1, &ax, &ay);
            td_track_lane_point(t, s, -1, &bx, &by);
            td_track_point_at(t, s, 0.0, NULL, NULL, &hd);
            int inner = hypot(st->x - ax, st->y - ay) <= hypot(st->x - bx, st->y - by);
            x = inner ? ax : bx;
            y = inner ? ay : by;
            td_race_teleport(r, k, x, y, hd, 0.0);
        }
    }
}

int td_race_step(td_race *r, td_err *err)
{
    int rc, racing = 0;
    if (r->over)
        return 0;
    for (int k = 0; k < r->n; k++) {
        racecar *c = &r->cars[k];
        c->moved = 0;
        if (c->state != CAR_RACING)
            continue;
        if (c->policy) {
            td_policy_obs obs;
            td_policy_obs_from_env(&c->env, 0, &obs);
            rc = td_policy_act(c->policy, &obs, 1, 1, NULL, c->buf.actions, NULL, NULL, NULL);
            if (rc)
                return td_err_set(err, rc, "%s: the policy failed to act", c->res.name);
        } else {
            double steer, speed;
            td_driver_act(&c->driver, &c->env.cfg.car, td_vecenv_car(&c->env, 0), &c->buf.params[0],
                          &steer, &speed);
            c->buf.actions[0] = (float)steer;
            c->buf.actions[1] = (float)speed;
        }
        c->moved = 1;
    }
    for (int k = 0; k < r->n; k++) {
        racecar *c = &r->cars[k];
        if (c->state != CAR_RACING)
            continue;
        td_vecenv_step(&c->env);
        after_step(r, c);
        trail_push(c);
    }
    separate_resets(r);
    /* The physics moved every car: each world gets the others' new poses, and its params
     * and observation are made again with them for the next decision. */
    if ((rc = share_boxes(r, err)) != 0)
        return rc;
    for (int k = 0; k < r->n; k++)
        if (r->cars[k].state == CAR_RACING)
            td_vecenv_refresh(&r->cars[k].env, 0);
    r->steps++;
    for (int k = 0; k < r->n; k++)
        racing += r->cars[k].state == CAR_RACING;
    if (racing && r->steps >= r->max_steps) {
        for (int k = 0; k < r->n; k++)
            if (r->cars[k].state == CAR_RACING) {
                r->cars[k].state = CAR_OUT;
                r->cars[k].res.status = TD_EP_TIME_UP;
            }
        racing = 0;
    }
    if (r->sink && (rc = replay_frame(r, err)) != 0)
        return rc;
    if (!racing)
        r->over = 1;
    return racing ? 1 : 0;
}

int td_race_finish(td_race *r, td_race_result *res, td_err *err)
{
    int order[TD_RACE_MAX_CARS], rc = 0;
    memset(res, 0, sizeof(*res));
    standings(r, order);
    res->n = r->n;
    for (int p = 0; p < r->n; p++) {
        res->cars[p] = r->cars[order[p]].res;
        res->cars[p].position = p + 1;
    }
    res->steps = r->steps;
    res->race_time_s = r->steps / TD_SIM_HZ;
    if (r->sink) {
        res->replay_frames = td_frame_sink_frames(r->sink);
        rc = td_frame_sink_close(r->sink, err);
        r->sink = NULL;
    }
    return rc;
}

void td_race_close(td_race *r)
{
    if (!r)
        return;
    for (int k = 0; k < r->n; k++) {
        racecar *c = &r->cars[k];
        if (c->driver_ok)
            td_driver_free(&c->driver);
        if (c->env_ok)
            td_vecenv_free(&c->env);
        td_vecenv_buffers_free(&c->buf);
    }
    td_frame_sink_close(r->sink, NULL);
    if (r->tv_ok)
        td_topview_free(&r->tv);
    td_ground_map_close(r->ground);
    td_free(r->camrgb);
    td_free(r->frame);
    td_free(r);
}

int td_race_run(const td_track *track, const td_racer *racers, int n, const td_race_options *o,
                td_race_result *res, td_err *err)
{
    td_race *r;
    int rc = td_race_open(&r, track, racers, n, o, err);
    if (rc)
        return rc;
    while ((rc = td_race_step(r, err)) > 0)
        ;
    if (rc == 0)
        rc = td_race_finish(r, res, err);
    td_race_close(r);
    return rc;
}

/* ---- JSON -------------------------------------------------------------------------------- */

int td_race_write_json(const char *path, const td_track *track, const td_race_options *o,
                       const td_race_result *res, td_err *err)
{
    json_t *root, *cars = json_array();
    int rc;
    for (int p = 0; p < res->n; p++) {
        const td_race_car_result *c = &res->cars[p];
        json_t *laps = json_array();
        for (int i = 0; i < c->laps && i < TD_MAX_LAPS; i++)
            json_array_append_new(laps, json_real(c->lap_times_s[i]));
        json_t *car = json_pack(
            "{s:i, s:s, s:i, s:b, s:s, s:i, s:o, s:o, s:f, s:f}", "position", c->position, "name",
            c->name, "start_slot", c->start_slot, "finished", c->finished, "status",
            td_episode_status_name(c->status), "laps", c->laps, "lap_times_s", laps, "best_lap_s",
            c->best_lap_s > 0 ? json_real(c->best_lap_s) : json_null(), "progress", c->progress,
            "total_time_s", c->total_time_s);
        td__events_to_json(car, &c->events, 1);
        if (car)
            json_object_set_new(car, "steps", json_integer((json_int_t)c->steps));
        json_array_append_new(cars, car);
    }
    root = json_pack("{s:s, s:s, s:s, s:i, s:b, s:f, s:f, s:i, s:f, s:f, s:I, s:o}", "race_type",
                     "HEAD_TO_MODEL", "track", track->name, "direction",
                     o->reverse ? "reverse" : "forward", "laps", o->laps, "continuous",
                     o->continuous, "off_track_penalty_s", o->penalties.off_track_penalty_s,
                     "collision_penalty_s", o->penalties.collision_penalty_s, "max_resets",
                     o->penalties.max_resets, "stagger_m", o->stagger_m, "race_time_s",
                     res->race_time_s, "steps", (json_int_t)res->steps, "standings", cars);
    if (!root)
        return td_err_set(err, TD_ENOMEM, "%s: cannot build the race report", path);
    rc = td_json_write_file(path, root, err);
    json_decref(root);
    return rc;
}
