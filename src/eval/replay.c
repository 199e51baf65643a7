/*
 * replay.c - replays of a run as video frames (replay.h): a 5x7 bitmap font, simple raster
 * drawing, the top view with cars, the frame sink (ffmpeg pipe or numbered PNG files) and the
 * frame layout of a simtrace replay (camera view | top view, text band on top).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trackday/replay.h"
#include "trackday/sensors.h"
#include "trackday/sim.h"

/* ---- font ---------------------------------------------------------------------------------- */

/* Rows top to bottom, bit 4 = leftmost column. */
typedef struct glyph {
    char c;
    uint8_t rows[TD_FONT_H];
} glyph;

static const glyph FONT[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},
    {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},
    {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},
    {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},
    {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},
    {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'\'', {0x04, 0x04, 0x08, 0, 0, 0, 0}},
    {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}},
    {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}},
    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}},
    {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},
    {'*', {0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0}},
};

/* The hollow box drawn for a character the font lacks. */
static const uint8_t UNKNOWN[TD_FONT_H] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

static const uint8_t *glyph_rows(int c)
{
    c = toupper((unsigned char)c);
    for (size_t i = 0; i < sizeof(FONT) / sizeof(FONT[0]); i++)
        if (FONT[i].c == c)
            return FONT[i].rows;
    return NULL;
}

int td_font_has(int c)
{
    return glyph_rows(c) != NULL;
}

int td_text_width(const char *text, int scale)
{
    int n = (int)strlen(text);
    return n ? (n * (TD_FONT_W + 1) - 1) * scale : 0;
}

void td_draw_rect(uint8_t *rgb, int w, int h, int x0, int y0, int rw, int rh,
                  const uint8_t color[3])
{
    int x1 = x0 + rw, y1 = y0 + rh;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > w ? w : x1;
    y1 = y1 > h ? h : y1;
    for (int y = y0; y < y1; y++) {
        uint8_t *p = rgb + ((size_t)y * w + x0) * 3;
        for (int x = x0; x < x1; x++, p += 3) {
            p[0] = color[0];
            p[1] = color[1];
            p[2] = color[2];
        }
    }
}

int td_text_draw(uint8_t *rgb, int w, int h, int x, int y, const char *text, int scale,
                 const uint8_t color[3])
{
    scale = scale < 1 ? 1 : scale;
    for (const char *s = text; *s; s++) {
        const uint8_t *rows = glyph_rows(*s);
        if (!rows)
            rows = UNKNOWN;
        for (int r = 0; r < TD_FONT_H; r++)
            for (int col = 0; col < TD_FONT_W; col++)
                if (rows[r] & (0x10 >> col))
                    td_draw_rect(rgb, w, h, x + col * scale, y + r * scale, scale, scale, color);
        x += (TD_FONT_W + 1) * scale;
    }
    return td_text_width(text, scale);
}

/* ---- drawing ------------------------------------------------------------------------------- */

void td_draw_line(uint8_t *rgb, int w, int h, double x0, double y0, double x1, double y1,
                  double thick, const uint8_t color[3])
{
    /* Stamps squares along the line, one per pixel of its length: plenty for trails. */
    double dx = x1 - x0, dy = y1 - y0;
    double len = sqrt(dx * dx + dy * dy);
    int steps = (int)ceil(len) + 1, t = (int)ceil(thick);
    t = t < 1 ? 1 : t;
    if (steps > 100000)
        return; /* a wild jump (off the view): nothing useful to draw */
    for (int i = 0; i < steps; i++) {
        double f = steps > 1 ? (double)i / (steps - 1) : 0.0;
        int px = (int)floor(x0 + f * dx - 0.5 * t + 0.5);
        int py = (int)floor(y0 + f * dy - 0.5 * t + 0.5);
        td_draw_rect(rgb, w, h, px, py, t, t, color);
    }
}

/* ---- top view ----------------------------------------------------------------------------- */

int td_topview_init(td_topview *v, const td_track *t, int width_px, int max_height_px,
                    td_err *err)
{
    int rc;
    memset(v, 0, sizeof(*v));
    rc = td_track_render_rgb(t, width_px, &v->base, &v->h, &v->ox, &v->oy, &v->sc, err);
    if (rc)
        return rc;
    v->w = width_px;
    if (max_height_px > 0 && v->h > max_height_px) {
        /* A tall track: narrower, so that the height fits. */
        int w2 = (int)floor((double)width_px * max_height_px / v->h);
        w2 = w2 < 16 ? 16 : w2;
        td_free(v->base);
        v->base = NULL;
        rc = td_track_render_rgb(t, w2, &v->base, &v->h, &v->ox, &v->oy, &v->sc, err);
        if (rc)
            return rc;
        v->w = w2;
    }
    return 0;
}

void td_topview_free(td_topview *v)
{
    td_free(v->base);
    memset(v, 0, sizeof(*v));
}

void td_topview_project(const td_topview *v, double x, double y, double *px, double *py)
{
    *px = (x - v->ox) * v->sc;
    *py = (v->oy - y) * v->sc;
}

void td_topview_draw_car(const td_topview *v, uint8_t *rgb, int w, int h, int dx, int dy,
                         double x, double y, double yaw, double length, double width,
                         const uint8_t color[3])
{
    double cx, cy;
    td_topview_project(v, x, y, &cx, &cy);
    cx += dx;
    cy += dy;
    /* At least 8 x 5 pixels, so a car stays visible on a small view. */
    double hl = fmax(0.5 * length * v->sc, 4.0), hw = fmax(0.5 * width * v->sc, 2.5);
    double c = cos(yaw), s = sin(yaw);
    double r = sqrt(hl * hl + hw * hw) + 1;
    uint8_t nose[3];
    for (int k = 0; k < 3; k++)
        nose[k] = (uint8_t)(color[k] + (255 - color[k]) * 3 / 5);
    int x0 = (int)floor(cx - r), x1 = (int)ceil(cx + r);
    int y0 = (int)floor(cy - r), y1 = (int)ceil(cy + r);
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > w - 1 ? w - 1 : x1;
    y1 = y1 > h - 1 ? h - 1 : y1;
    for (int py = y0; py <= y1; py++)
        for (int px = x0; px <= x1; px++) {
            /* Pixel centre in the car's frame (image y points down: world y is -py). */
            double ex = px + 0.5 - cx, ey = -(py + 0.5 - cy);
            double f = ex * c + ey * s, l = -ex * s + ey * c;
            if (fabs(f) > hl || fabs(l) > hw)
                continue;
            const uint8_t *col = f > 0.5 * hl ? nose : color;
            uint8_t *p = rgb + ((size_t)py * w + px) * 3;
            p[0] = col[0];
            p[1] = col[1];
            p[2] = col[2];
        }
}

void td_replay_car_color(int k, uint8_t out[3])
{
    static const uint8_t colors[6][3] = {{230, 25, 35},  {30, 110, 255}, {255, 140, 0},
                                         {170, 40, 220}, {0, 200, 200},  {255, 60, 180}};
    k = ((k % 6) + 6) % 6;
    memcpy(out, colors[k], 3);
}

/* ---- frame sink ------------------------------------------------------------------------ */

struct td_frame_sink {
    int w, h, fps, frames;
    FILE *pipe;     /* ffmpeg's stdin, or NULL for PNG frames */
    char path[1024];
    void (*old_sigpipe)(int);
    png_bytep *rows; /* h row pointers for PNG frames */
};

int td_ffmpeg_find(char *out, size_t outlen)
{
    const char *path = getenv("PATH");
    char buf[1100];
    if (!path || !*path)
        return 0;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len < 1000) {
            snprintf(buf, sizeof(buf), "%.*s/ffmpeg", (int)len, path);
            if (access(buf, X_OK) == 0) {
                if (out)
                    snprintf(out, outlen, "%s", buf);
                return 1;
            }
        }
        if (!end)
            break;
        path = end + 1;
    }
    return 0;
}

static int ends_with_ci(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcasecmp(s + n - m, suf);
}

int td_frame_sink_is_video(const char *path)
{
    static const char *const ext[] = {".mp4", ".mkv", ".mov", ".webm", ".avi"};
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
        if (ends_with_ci(path, ext[i]))
            return 1;
    return 0;
}

/* Appends s to a shell command in single quotes (a quote becomes '\''). */
static int shell_quote(char *dst, size_t cap, size_t *len, const char *s)
{
    if (*len + 1 >= cap)
        return -1;
    dst[(*len)++] = '\'';
    for (; *s; s++) {
        if (*s == '\'') {
            if (*len + 4 >= cap)
                return -1;
            memcpy(dst + *len, "'\\''", 4);
            *len += 4;
        } else {
            if (*len + 1 >= cap)
                return -1;
            dst[(*len)++] = *s;
        }
    }
    if (*len + 2 >= cap)
        return -1;
    dst[(*len)++] = '\'';
    dst[*len] = 0;
    return 0;
}

int td_frame_sink_open(td_frame_sink **out, const char *path, int width, int height, int fps,
                       td_err *err)
{
    td_frame_sink *s;
    *out = NULL;
    if (width <= 0 || height <= 0 || (width & 1) || (height & 1) || fps < 1 || fps > 240)
        return td_err_set(err, TD_EINVAL,
                          "%s: bad frame size %dx%d at %d fps (even sizes, 1..240 fps)", path,
                          width, height, fps);
    s = td_calloc(1, sizeof(*s));
    if (!s)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    s->w = width;
    s->h = height;
    s->fps = fps;
    snprintf(s->path, sizeof(s->path), "%s", path);
    if (td_frame_sink_is_video(path)) {
        char ff[1100], cmd[3000], tail[256];
        size_t len = 0;
        if (!td_ffmpeg_find(ff, sizeof(ff))) {
            td_free(s);
            return td_err_set(err, TD_ENOENT,
                              "%s: writing a video needs the ffmpeg command, which is not on "
                              "the PATH; install ffmpeg (e.g. apt-get install ffmpeg), or give "
                              "a directory instead to get numbered PNG frames",
                              path);
        }
        cmd[0] = 0;
        if (shell_quote(cmd, sizeof(cmd), &len, ff)) {
            td_free(s);
            return td_err_set(err, TD_EINVAL, "%s: path too long", ff);
        }
        snprintf(tail, sizeof(tail),
                 " -loglevel error -y -f rawvideo -pix_fmt rgb24 -s %dx%d -r %d -i - "
                 "-pix_fmt yuv420p ",
                 width, height, fps);
        if (len + strlen(tail) + 1 >= sizeof(cmd)) {
            td_free(s);
            return td_err_set(err, TD_EINVAL, "%s: path too long", path);
        }
        memcpy(cmd + len, tail, strlen(tail) + 1);
        len += strlen(tail);
        if (shell_quote(cmd, sizeof(cmd), &len, path)) {
            td_free(s);
            return td_err_set(err, TD_EINVAL, "%s: path too long", path);
        }
        /* A dying ffmpeg must show up as a write error, not kill the process. */
        s->old_sigpipe = signal(SIGPIPE, SIG_IGN);
        s->pipe = popen(cmd, "w");
        if (!s->pipe) {
            signal(SIGPIPE, s->old_sigpipe);
            td_free(s);
            return td_err_set(err, TD_EIO, "%s: cannot start %s: %s", path, ff, strerror(errno));
        }
    } else {
        int rc = td_mkdir_p(path, err);
        if (rc) {
            td_free(s);
            return rc;
        }
        s->rows = td_malloc(sizeof(png_bytep) * (size_t)height);
        if (!s->rows) {
            td_free(s);
            return td_err_set(err, TD_ENOMEM, "out of memory");
        }
    }
    *out = s;
    return 0;
}

/* One PNG frame, fast compression and no fsync: frames are cheap to make again. */
static int write_png_frame(td_frame_sink *s, const uint8_t *rgb, td_err *err)
{
    char path[1100];
    FILE *f;
    png_structp png;
    png_infop info;
    snprintf(path, sizeof(path), "%s/frame_%05d.png", s->path, s->frames + 1);
    f = fopen(path, "wb");
    if (!f)
        return td_err_set(err, TD_EIO, "%s: cannot create: %s", path, strerror(errno));
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return td_err_set(err, TD_ENOMEM, "%s: cannot create a PNG writer", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return td_err_set(err, TD_EIO, "%s: PNG encoding failed", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 1);
    png_set_filter(png, 0, PNG_FILTER_SUB);
    for (int y = 0; y < s->h; y++)
        s->rows[y] = (png_bytep)(rgb + (size_t)y * s->w * 3);
    png_write_info(png, info);
    png_write_image(png, s->rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0)
        return td_err_set(err, TD_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

int td_frame_sink_write(td_frame_sink *s, const uint8_t *rgb, td_err *err)
{
    if (s->pipe) {
        size_t bytes = (size_t)s->w * s->h * 3;
        if (fwrite(rgb, 1, bytes, s->pipe) != bytes)
            return td_err_set(err, TD_EIO,
                              "%s: ffmpeg stopped reading frames at frame %d (its own messages, "
                              "if any, are above)",
                              s->path, s->frames + 1);
    } else {
        int rc = write_png_frame(s, rgb, err);
        if (rc)
            return rc;
    }
    s->frames++;
    return 0;
}

int td_frame_sink_frames(const td_frame_sink *s)
{
    return s ? s->frames : 0;
}

int td_frame_sink_close(td_frame_sink *s, td_err *err)
{
    int rc = 0;
    if (!s)
        return 0;
    if (s->pipe) {
        int st = pclose(s->pipe);
        signal(SIGPIPE, s->old_sigpipe);
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = td_err_set(err, TD_EIO, "%s: ffmpeg failed (exit status %d)", s->path,
                            st == -1 ? -1 : (WIFEXITED(st) ? WEXITSTATUS(st) : 128));
    }
    td_free(s->rows);
    td_free(s);
    return rc;
}

/* ---- simtrace replay -------------------------------------------------------------------- */

void td_replay_options_default(td_replay_options *o)
{
    memset(o, 0, sizeof(*o));
    o->width = 960;
    o->fps = 15;
    o->camera = 1;
}

static const uint8_t BAND[3] = {24, 24, 28}, WHITE[3] = {245, 245, 245},
                     GREY[3] = {170, 170, 180}, TRAIL[3] = {255, 200, 40};

/* The car origin of a row: the model point minus TD_CAR_MODEL_POINT_M along the heading. */
static void row_origin(const td_simtrace_row *r, double *x, double *y, double *yaw)
{
    *yaw = r->yaw_deg * (M_PI / 180.0);
    *x = r->x - TD_CAR_MODEL_POINT_M * cos(*yaw);
    *y = r->y - TD_CAR_MODEL_POINT_M * sin(*yaw);
}

/* Copies a w0 x h0 RGB image into dst at (x0, y0) scaled to dw x dh (nearest). */
static void blit_scaled(uint8_t *dst, int w, int h, int x0, int y0, int dw, int dh,
                        const uint8_t *src, int w0, int h0)
{
    for (int y = 0; y < dh; y++) {
        int sy = y * h0 / dh, ty = y0 + y;
        if (ty < 0 || ty >= h)
            continue;
        for (int x = 0; x < dw; x++) {
            int sx = x * w0 / dw, tx = x0 + x;
            if (tx < 0 || tx >= w)
                continue;
            memcpy(dst + ((size_t)ty * w + tx) * 3, src + ((size_t)sy * w0 + sx) * 3, 3);
        }
    }
}

int td_replay_simtrace(const td_track *track, const td_simtrace_row *rows, int n,
                       const td_replay_options *o, const char *out_path, td_replay_stats *stats,
                       td_err *err)
{
    td_replay_options def;
    td_topview tv;
    td_ground_map *ground = NULL;
    td_camera_config cam;
    td_look look;
    td_frame_sink *sink = NULL;
    uint8_t *frame = NULL, *camrgb = NULL;
    int rc, W, H, scale, band, pw = 0, ph = 0, tvx = 0, panel_h;
    double t_start = td_time_now(), t_render = 0;
    int ep_first = 0;      /* first row of the current episode */
    double ep_t0 = 0;      /* clock at the current episode's start */

    if (!o) {
        td_replay_options_default(&def);
        o = &def;
    }
    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (n <= 0)
        return td_err_set(err, TD_EINVAL, "%s: the simtrace has no rows to replay", out_path);
    if (o->width < 320 || o->width > 3840)
        return td_err_set(err, TD_EINVAL, "replay width %d: must be 320..3840 pixels", o->width);
    W = o->width & ~1;
    scale = W >= 640 ? 2 : 1;
    band = 2 * (TD_FONT_H * scale) + 3 * 4 * scale;
    td_camera_config_default(&cam);
    if (o->camera) {
        pw = W / 2;
        ph = pw * cam.height / cam.width;
    }
    rc = td_topview_init(&tv, track, W - pw, o->camera ? ph : (W * 3) / 4, err);
    if (rc)
        return rc;
    panel_h = tv.h > ph ? tv.h : ph;
    H = (band + panel_h + 1) & ~1;
    tvx = pw + (W - pw - tv.w) / 2;
    frame = td_malloc((size_t)W * H * 3);
    if (o->camera)
        camrgb = td_malloc((size_t)cam.width * cam.height * 3);
    if (!frame || (o->camera && !camrgb)) {
        rc = td_err_set(err, TD_ENOMEM, "out of memory");
        goto out;
    }
    if (o->camera && (rc = td_ground_map_create(&ground, track, 0.01, err)) != 0)
        goto out;
    td_look_default(&look);
    if ((rc = td_frame_sink_open(&sink, out_path, W, H, o->fps, err)) != 0)
        goto out;

    for (int i = 0; i < n; i++) {
        const td_simtrace_row *r = &rows[i];
        double t0 = td_time_now(), x, y, yaw, speed = r->throttle;
        char line[256];
        uint8_t car[3];
        if (i == 0 || r->episode != rows[i - 1].episode || r->file != rows[i - 1].file) {
            /* A new lap (trackday's eval logs are one episode per lap): its clock starts at
             * the previous row's time, or one step before the first row's. */
            ep_first = i;
            if (i > 0 && r->file == rows[i - 1].file && rows[i - 1].tstamp <= r->tstamp)
                ep_t0 = rows[i - 1].tstamp;
            else
                ep_t0 = r->tstamp - (r->steps > 0 ? r->steps : 1) / TD_SIM_HZ;
        }
        if (i > ep_first) {
            /* Measured speed between rows; a reset (a jump) falls back to the command. */
            const td_simtrace_row *q = &rows[i - 1];
            double dt = r->tstamp - q->tstamp - r->pause_duration;
            double d = hypot(r->x - q->x, r->y - q->y);
            if (dt > 1e-6 && d / dt < 5.0)
                speed = d / dt;
        }
        td_draw_rect(frame, W, H, 0, 0, W, H, BAND);
        if (o->camera) {
            td_scene scene = {track, ground, NULL, 0, &look};
            row_origin(r, &x, &y, &yaw);
            td_camera_render_rgb(&cam, &scene, x, y, yaw, camrgb);
            blit_scaled(frame, W, H, 0, band + (panel_h - ph) / 2, pw, ph, camrgb, cam.width,
                        cam.height);
        }
        /* Top view: the empty track, the lap's trail, the car. */
        for (int yy = 0; yy < tv.h; yy++)
            memcpy(frame + ((size_t)(band + yy) * W + tvx) * 3, tv.base + (size_t)yy * tv.w * 3,
                   (size_t)tv.w * 3);
        for (int k = ep_first + 1; k <= i; k++) {
            double ax, ay, bx, by;
            td_topview_project(&tv, rows[k - 1].x, rows[k - 1].y, &ax, &ay);
            td_topview_project(&tv, rows[k].x, rows[k].y, &bx, &by);
            if (hypot(bx - ax, by - ay) > 0.5 * tv.sc)
                continue; /* a reset, not driving */
            td_draw_line(frame, W, H, ax + tvx, ay + band, bx + tvx, by + band,
                         fmax(2.0, 0.03 * tv.sc), TRAIL);
        }
        row_origin(r, &x, &y, &yaw);
        td_replay_car_color(0, car);
        td_topview_draw_car(&tv, frame, W, H, tvx, band, x, y, yaw, TD_CAR_LENGTH_M,
                            TD_CAR_WIDTH_M, car);
        /* Text. */
        snprintf(line, sizeof(line), "%s   STEP %d/%d   %s", o->title ? o->title : track->name,
                 i + 1, n, r->episode_status);
        td_text_draw(frame, W, H, 4 * scale, 4 * scale, line, scale, GREY);
        snprintf(line, sizeof(line), "LAP %ld   LAP TIME %.2f S   SPEED %.2f M/S   PROGRESS %.1f%%",
                 r->episode - rows[0].episode + 1, r->tstamp - ep_t0, speed, r->progress);
        td_text_draw(frame, W, H, 4 * scale, 8 * scale + TD_FONT_H * scale, line, scale, WHITE);
        t_render += td_time_now() - t0;
        if ((rc = td_frame_sink_write(sink, frame, err)) != 0)
            goto out;
    }
    rc = 0;
out:
    if (sink) {
        int n_frames = td_frame_sink_frames(sink);
        int rc2 = td_frame_sink_close(sink, rc ? NULL : err);
        rc = rc ? rc : rc2;
        if (stats) {
            stats->frames = n_frames;
            stats->width = W;
            stats->height = H;
        }
    }
    if (stats) {
        stats->view_x = tvx;
        stats->view_y = band;
        stats->view_ox = tv.ox;
        stats->view_oy = tv.oy;
        stats->view_scale = tv.sc;
        stats->render_s = t_render;
        stats->total_s = td_time_now() - t_start;
    }
    td_ground_map_destroy(ground);
    td_free(frame);
    td_free(camrgb);
    td_topview_free(&tv);
    return rc;
}
