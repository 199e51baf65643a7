/*
 * robustness.c - `trackday eval --robustness`: a model driven under a fixed suite of visual
 * perturbations of the camera's world (the look's lighting, noise, blur, floor texture,
 * distractors and the camera's mount), each at a mild and a strong strength, with the laps it
 * completes under each. A model trained without domain randomization typically drives the
 * clean look and fails some of the others; docs/cli/eval.md.
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

int td_eval_robustness(td_policy *policy, const td_track *track, const td_eval_options *o,
                       td_robustness_row *rows, td_err *err)
{
    for (int k = 0; k < TD_ROBUSTNESS_N; k++) {
        td_look look;
        td_eval_options e = *o;
        td_robustness_case(k, &rows[k].name, &rows[k].strength, &look);
        e.look = &look;
        e.simtrace_path = e.report_path = e.picture_path = NULL;
        e.on_step = NULL;
        int rc = td_evaluate(policy, track, &e, &rows[k].result, err);
        if (rc)
            return rc;
    }
    return 0;
}
