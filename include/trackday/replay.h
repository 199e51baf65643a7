/*
 * replay.h - replays: a run rendered as video frames. Each frame shows the car's camera view
 * (what the model saw, scaled up) beside a top view of the track with the car, its trail and
 * text overlays (lap, lap time, speed, progress). Frames go to MP4 through the `ffmpeg`
 * command when it is on the PATH (an optional dependency), or to numbered PNG files.
 * The building blocks (a 5x7 bitmap font, the top view with cars, the frame sink) are public
 * so races (race.h) draw their replays with them. Part of the eval layer.
 */
#ifndef TRACKDAY_REPLAY_H
#define TRACKDAY_REPLAY_H

#include <signal.h>

#include "trackday/eval.h"
#include "trackday/simtrace.h"
#include "trackday/track.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- raster (raster.c): text in a built-in 5x7 bitmap font --------------------------------- */

#define TD_FONT_W 5
#define TD_FONT_H 7

/*
 * Draws text into an RGB image (w x h, rows of w * 3 bytes) with its top-left corner at
 * (x, y), each font pixel a scale x scale block, 6 * scale pixels per character. Digits,
 * letters (lower case drawn as upper case), space and . : / - % ( ) + , = _ ! ? # ' [ ] < > *;
 * anything else draws as a hollow box. Clipped to the image. Returns the width drawn.
 */
int td_raster_text(uint8_t *rgb, int w, int h, int x, int y, const char *text, int scale,
                   const uint8_t color[3]);
/* Width in pixels td_raster_text would use. */
int td_raster_text_width(const char *text, int scale);
/* 1 if the font has a glyph for c (after upper-casing); 0 if it would draw a box. */
int td_raster_font_has(int c);

/* ---- drawing ----------------------------------------------------------------------------- */

/* Fills a rectangle (clipped). */
void td_raster_rect(uint8_t *rgb, int w, int h, int x0, int y0, int rw, int rh,
                    const uint8_t color[3]);
/* A line of `thick` pixels from (x0, y0) to (x1, y1) in pixel coordinates (clipped). */
void td_raster_line(uint8_t *rgb, int w, int h, double x0, double y0, double x1, double y1,
                    double thick, const uint8_t color[3]);

/* ---- top view --------------------------------------------------------------------------- */

/* A top view of a track (td_track_render_rgb) to draw cars and trails on. */
typedef struct td_topview {
    uint8_t *base; /* w * h * 3, the empty track */
    int w, h;
    double ox, oy, sc; /* px = (x - ox) * sc, py = (oy - y) * sc */
} td_topview;

/* Renders the track at width_px columns, or narrower so that the height stays within
 * max_height_px (0 = no limit). */
int td_topview_init(td_topview *v, const td_track *t, int width_px, int max_height_px, td_err *err);
void td_topview_free(td_topview *v);
/* World point (metres) to pixel coordinates of the view. */
void td_topview_project(const td_topview *v, double x, double y, double *px, double *py);

/*
 * Draws a car footprint (origin x, y; yaw radians; length and width in metres, at least a
 * few pixels) in `color` with its front quarter lighter, into an image holding the view at
 * pixel offset (dx, dy).
 */
void td_topview_draw_car(const td_topview *v, uint8_t *rgb, int w, int h, int dx, int dy, double x,
                         double y, double yaw, double length, double width, const uint8_t color[3]);

/* The colour of car k of a race (distinct for k = 0..5, then repeating); car 0 of a replay. */
void td_replay_car_color(int k, uint8_t out[3]);

/* The top-view colour of an obstacle (TD_BOX_OBSTACLE) or a bot car (TD_BOX_CAR). */
void td_replay_box_color(int kind, uint8_t out[3]);

/* ---- frame sink ------------------------------------------------------------------------- */

typedef struct td_frame_sink td_frame_sink;

/*
 * Searches the PATH for an executable `ffmpeg`; writes its path into out (may be NULL) and
 * returns 1 if found, else 0.
 */
int td_frame_sink_find_ffmpeg(char *out, size_t outlen);

/* 1 if path names a video file (.mp4, .mkv, .mov, .webm, .avi): frames go through ffmpeg. */
int td_frame_sink_is_video(const char *path);

/*
 * Opens a frame sink of width x height RGB frames (both even) at fps frames per second:
 * a video path pipes raw RGB frames to `ffmpeg -f rawvideo -pix_fmt rgb24 -s WxH -r FPS -i -
 * -pix_fmt yuv420p PATH` (TD_ENOENT with a clear message when ffmpeg is not on the PATH);
 * any other path is a directory (created) receiving frame_00001.png, frame_00002.png, ...
 */
int td_frame_sink_open(td_frame_sink **out, const char *path, int width, int height, int fps,
                       td_err *err);
int td_frame_sink_write(td_frame_sink *s, const uint8_t *rgb, td_err *err);
/* Frames written so far. */
int td_frame_sink_frames(const td_frame_sink *s);
/* The render failed or was interrupted: td_frame_sink_close then removes what was written,
 * keeps the previous output (if any) and returns TD_EINTERRUPTED. s may be NULL. */
void td_frame_sink_abandon(td_frame_sink *s);
/* Finishes the file(s) (waits for ffmpeg); s may be NULL. TD_EIO if ffmpeg failed. */
int td_frame_sink_close(td_frame_sink *s, td_err *err);

/* ---- replay of a simtrace ------------------------------------------------------------------ */

typedef struct td_replay_options {
    int width;         /* frame width in pixels, default 960 (even, 320..3840) */
    int fps;           /* default 15 (the simulator's rate: real time) */
    int camera;        /* 1 (default): camera view on the left half */
    const char *title; /* first text line (default: the track name) */
    /* When not NULL: once *stop is nonzero (a SIGINT handler sets it), rendering stops before
     * the next frame with TD_EINTERRUPTED, and nothing is left under the output's name or as
     * a temporary. */
    const volatile sig_atomic_t *stop;
} td_replay_options;

void td_replay_options_default(td_replay_options *o);

typedef struct td_replay_stats {
    int frames;
    int width, height;
    double render_s; /* time spent drawing frames */
    double total_s;  /* drawing plus encoding and writing */
    /* Where the top view sits in a frame: a world point (x, y) is at pixel
     * (view_x + (x - view_ox) * view_scale, view_y + (view_oy - y) * view_scale). */
    int view_x, view_y;
    double view_ox, view_oy, view_scale;
} td_replay_stats;

/*
 * Renders rows [0, n) of a simtrace (one frame per row: X, Y are the model point, the car
 * origin is TD_CAR_MODEL_POINT_M behind it along the heading) on `track` into out_path
 * (video or PNG directory, see td_frame_sink_open). stats may be NULL.
 */
int td_replay_simtrace(const td_track *track, const td_simtrace_row *rows, int n,
                       const td_replay_options *o, const char *out_path, td_replay_stats *stats,
                       td_err *err);

/* ---- replay of a fresh drive ---------------------------------------------------------------- */

/*
 * Drives `policy` greedily as td_evaluate does with the same options (laps, continuous,
 * penalties, race type, seed: the same run as `trackday eval`) and renders every step, with
 * the obstacles and bot cars a simtrace does not record (camera view and top view).
 * e's simtrace, report and picture paths are ignored.
 */
int td_replay_drive(td_policy *policy, const td_track *track, const td_eval_options *e,
                    const td_replay_options *o, const char *out_path, td_replay_stats *stats,
                    td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_REPLAY_H */
