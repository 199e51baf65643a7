/*
 * robustness.c - `trackday eval --robustness`: a model driven under a fixed suite of visual
 * perturbations of the camera's world (the look's lighting, noise, blur, floor texture,
 * distractors and the camera's mount), each at a mild and a strong strength. Under each it
 * drives the same trials (one lap each, from staggered starts, each with its own seed) and
 * counts the laps driven without an off-track, the off-tracks and resets, the progress before
 * the first one and the lap times; docs/cli/eval.md.
 */
#include <string.h>

#include "trackday/eval.h"

typedef struct rcase {
    const char *name, *strength;
    int what;
    double value;
} rcase;

enum { R_NONE, R_BRIGHT, R_CONTRAST, R_NOISE, R_BLUR, R_TEXTURE, R_DECOR, R_PITCH, R_HEIGHT };

/* The suite. Strengths: mild is about the edge of domain randomization's ranges (TD_DR_*),
 * strong well beyond them. */
static const rcase SUITE[TD_ROBUSTNESS_N] = {
    {"clean", "none", R_NONE, 0},
    {"dim", "mild", R_BRIGHT, 0.7},
    {"dim", "strong", R_BRIGHT, 0.45},
    {"bright", "mild", R_BRIGHT, 1.3},
    {"bright", "strong", R_BRIGHT, 1.8},
    {"contrast", "mild", R_CONTRAST, 0.7},
    {"contrast", "strong", R_CONTRAST, 0.4},
    {"noise", "mild", R_NOISE, 6.0},
    {"noise", "strong", R_NOISE, 16.0},
    {"blur", "mild", R_BLUR, 0.02},
    {"blur", "strong", R_BLUR, 0.06},
    {"floor_texture", "mild", R_TEXTURE, 24.0},
    {"floor_texture", "strong", R_TEXTURE, 64.0},
    {"distractors", "mild", R_DECOR, 1},
    {"distractors", "strong", R_DECOR, 2},
    {"camera_pitch", "mild", R_PITCH, 3.0},
    {"camera_pitch", "strong", R_PITCH, 8.0},
    {"camera_height", "mild", R_HEIGHT, 0.02},
    {"camera_height", "strong", R_HEIGHT, 0.05},
};

void td_robustness_case(int k, const char **name, const char **strength, td_look *look)
{
    const rcase *c = &SUITE[k < 0 ? 0 : (k >= TD_ROBUSTNESS_N ? TD_ROBUSTNESS_N - 1 : k)];
    td_look_default(look);
    *name = c->name;
    *strength = c->strength;
    switch (c->what) {
    case R_BRIGHT:
        look->brightness = c->value;
        break;
    case R_CONTRAST:
        look->contrast = c->value;
        break;
    case R_NOISE:
        look->noise_sigma = c->value;
        break;
    case R_BLUR:
        look->blur_s = c->value;
        break;
    case R_TEXTURE:
        look->texture = c->value;
        break;
    case R_DECOR:
        look->decor = (int)c->value;
        break;
    case R_PITCH:
        look->pitch_offset_deg = c->value;
        break;
    case R_HEIGHT:
        look->height_offset_m = c->value;
        break;
    default:
        break;
    }
}

uint64_t td_robustness_trial_seed(uint64_t seed, int j)
{
    if (j <= 0)
        return seed;
    /* A stream of its own per trial (PCG32's streams are independent sequences). */
    td_rng r;
    td_rng_seed(&r, seed, 0x726f627573740000ull + (uint64_t)j);
    /* 47 bits: a positive JSON integer and a valid --seed. */
    uint64_t hi = td_rng_u32(&r) & 0x7fff;
    return hi << 32 | td_rng_u32(&r);
}

static int events_of(const td_event_counts *e)
{
    return e->off_tracks + e->crashes + e->reverses + e->immobilized;
}

/* What one trial's steps showed: the progress at its first event (the step's params judge
 * the pose where the event was found), -1 before it, and the last progress. */
typedef struct watch {
    double first, last;
} watch;

static int first_event(void *user, const td_eval_step *s, td_err *err)
{
    (void)err;
    watch *w = user;
    w->last = s->params->progress;
    if (w->first < 0 && events_of(&s->info->events) > 0)
        w->first = s->params->progress;
    return 0;
}

void td_robustness_total(const td_robustness_row *rows, int n, td_robustness_row *all)
{
    double progress = 0, lap = 0, clean_lap = 0;
    memset(all, 0, sizeof(*all));
    all->name = "all";
    all->best_lap_s = -1;
    all->strength = "";
    for (int k = 0; k < n; k++) {
        const td_robustness_row *r = &rows[k];
        td_event_counts *e = &all->events;
        all->trials += r->trials;
        all->laps_clean += r->laps_clean;
        all->laps_completed += r->laps_completed;
        e->off_tracks += r->events.off_tracks;
        e->crashes += r->events.crashes;
        e->reverses += r->events.reverses;
        e->immobilized += r->events.immobilized;
        e->resets += r->events.resets;
        e->penalty_s += r->events.penalty_s;
        all->steps += r->steps;
        progress += r->progress_first * r->trials;
        if (r->laps_completed > 0)
            lap += r->mean_lap_s * r->laps_completed;
        if (r->best_lap_s > 0 && (all->best_lap_s < 0 || r->best_lap_s < all->best_lap_s))
            all->best_lap_s = r->best_lap_s;
        if (r->laps_clean > 0)
            clean_lap += r->mean_clean_lap_s * r->laps_clean;
    }
    all->progress_first = all->trials ? progress / all->trials : 0;
    all->mean_lap_s = all->laps_completed ? lap / all->laps_completed : -1;
    all->mean_clean_lap_s = all->laps_clean ? clean_lap / all->laps_clean : -1;
}

int td_eval_robustness(td_policy *policy, const td_track *track, const td_eval_options *o,
                       td_robustness_row *rows, td_err *err)
{
    int n = o->laps < 1 ? 1 : (o->laps > TD_EVAL_MAX_TRIALS ? TD_EVAL_MAX_TRIALS : o->laps);
    for (int k = 0; k < TD_ROBUSTNESS_N; k++) {
        td_robustness_row *row = &rows[k];
        td_look look;
        double progress = 0, lap = 0, clean_lap = 0;
        memset(row, 0, sizeof(*row));
        row->best_lap_s = -1;
        td_robustness_case(k, &row->name, &row->strength, &look);
        for (int j = 0; j < n; j++) {
            td_robustness_trial *tr = &row->trial[j];
            td_eval_options e = *o;
            td_eval_result r;
            watch w = {-1, 0};
            e.look = &look;
            e.laps = 1;
            e.continuous = 0;
            e.race.enable_domain_randomization = 0;
            e.start_ndist = (double)j / n;
            e.seed = td_robustness_trial_seed(o->seed, j);
            e.simtrace_path = e.report_path = e.picture_path = e.metrics_path = NULL;
            e.reward = NULL;
            e.on_step = first_event;
            e.on_step_user = &w;
            int rc = td_evaluate(policy, track, &e, &r, err);
            if (rc)
                return rc;
            tr->start_ndist = e.start_ndist;
            tr->seed = e.seed;
            tr->completed = r.laps_completed > 0;
            tr->clean = tr->completed && events_of(&r.events) == 0;
            tr->lap_s = tr->completed ? r.lap_times_s[0] : -1;
            /* No event: 100 for a lap, else (the step cap) where it got to. */
            tr->progress_first = w.first >= 0 ? w.first : (tr->completed ? 100.0 : w.last);
            tr->events = r.events;
            tr->steps = r.steps;
            row->trials++;
            row->laps_completed += tr->completed;
            row->laps_clean += tr->clean;
            row->events.off_tracks += r.events.off_tracks;
            row->events.crashes += r.events.crashes;
            row->events.reverses += r.events.reverses;
            row->events.immobilized += r.events.immobilized;
            row->events.resets += r.events.resets;
            row->events.penalty_s += r.events.penalty_s;
            row->steps += r.steps;
            progress += tr->progress_first;
            if (tr->completed) {
                lap += tr->lap_s;
                if (row->best_lap_s < 0 || tr->lap_s < row->best_lap_s)
                    row->best_lap_s = tr->lap_s;
            }
            if (tr->clean)
                clean_lap += tr->lap_s;
        }
        row->progress_first = progress / n;
        row->mean_lap_s = row->laps_completed ? lap / row->laps_completed : -1;
        row->mean_clean_lap_s = row->laps_clean ? clean_lap / row->laps_clean : -1;
    }
    return 0;
}
