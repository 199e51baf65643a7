/*
 * replay.c - replays of a run as video frames (replay.h): a 5x7 bitmap font, simple raster
 * drawing, the top view with cars, the frame sink (ffmpeg pipe or numbered PNG files) and the
 * frame layout of a simtrace replay (camera view | top view, text band on top).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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

int td_topview_init(td_topview *v, const td_track *t, int width_px, int max_height_px, td_err *err)
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

void td_topview_draw_car(const td_topview *v, uint8_t *rgb, int w, int h, int dx, int dy, double x,
                         double y, double yaw, double length, double width, const uint8_t color[3])
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

void td_replay_box_color(int kind, uint8_t out[3])
{
    /* Tinted, so no blend of the track picture's colours matches them exactly. */
    static const uint8_t obstacle[3] = {225, 225, 240}, bot[3] = {120, 120, 130};
    memcpy(out, kind == TD_BOX_CAR ? bot : obstacle, 3);
}

/* ---- frame sink ------------------------------------------------------------------------ */

/*
 * The output appears under its name only when it is complete: frames go to a temporary beside
 * it (".NAME.partial-PID.mp4" for a video, so ffmpeg still sees the extension; "NAME.partial-PID"
 * for a folder of frames), renamed into place when the sink closes without an error. An
 * interrupted replay leaves the previous output (if any) untouched; its temporary is removed
 * by the next replay that writes there.
 */
struct td_frame_sink {
    int failed; /* set by a failed render: close removes the output instead of keeping it */
    int w, h, fps, frames;
    FILE *pipe;      /* ffmpeg's stdin, or NULL for PNG frames */
    char path[1024]; /* the final name (messages name it) */
    char tmp[1200];  /* where the frames are written */
    png_bytep *rows; /* h row pointers for PNG frames */
};

/* The temporary name of a sink's output, beside the final one. */
static int partial_name(char *out, size_t cap, const char *path, int video, long pid)
{
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) + 1 : 0;
    const char *base = path + dir_len;
    int n;
    if (video) {
        const char *dot = strrchr(base, '.');
        int stem = dot ? (int)(dot - base) : (int)strlen(base);
        n = snprintf(out, cap, "%.*s.%.*s.partial-%ld%s", dir_len, path, stem, base, pid,
                     dot ? dot : "");
    } else {
        n = snprintf(out, cap, "%s.partial-%ld", path, pid);
    }
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int ends_with_ci(const char *s, const char *suf);

/* Removes a folder of frames: frame_*.png and the folder itself (only if nothing else is in it). */
static void remove_frames(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[2700];
    while (d && (e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "frame_", 6) && ends_with_ci(e->d_name, ".png") &&
            td_path_join(p, sizeof(p), dir, e->d_name, NULL) == 0)
            unlink(p);
    if (d)
        closedir(d);
    rmdir(dir);
}

/* The temporaries of replays into path that were interrupted (their process is gone). */
static void remove_stale_partials(const char *path, int video)
{
    char dir[1024], probe[1200], prefix[1200];
    const char *slash = strrchr(path, '/');
    if (td_path_fmt(dir, sizeof(dir), NULL, "%.*s", slash ? (int)(slash - path) : 1,
                    slash ? path : ".") != 0)
        return;
    if (partial_name(probe, sizeof(probe), path, video, 0) != 0)
        return;
    /* Everything of probe's name up to "partial-". */
    const char *b = strrchr(probe, '/');
    b = b ? b + 1 : probe;
    const char *cut = strstr(b, ".partial-");
    if (!cut)
        return;
    snprintf(prefix, sizeof(prefix), "%.*s.partial-", (int)(cut - b), b);
    DIR *d = opendir(dir[0] ? dir : "/");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + strlen(prefix), &end, 10);
        if (end == e->d_name + strlen(prefix) || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* that replay may still be running */
        char full[2400];
        if (td_path_join(full, sizeof(full), dir, e->d_name, NULL) != 0)
            continue;
        if (video)
            unlink(full);
        else
            remove_frames(full);
    }
    if (d)
        closedir(d);
}

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
    if (td_path_fmt(s->path, sizeof(s->path), err, "%s", path) != 0) {
        td_free(s);
        return td_err_prefix(err, TD_ERANGE, "replay output: ");
    }
    int video = td_frame_sink_is_video(path);
    if (partial_name(s->tmp, sizeof(s->tmp), path, video, (long)getpid()) != 0) {
        td_free(s);
        return td_err_set(err, TD_EINVAL, "%s: path too long", path);
    }
    remove_stale_partials(path, video);
    if (video) {
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
        if (shell_quote(cmd, sizeof(cmd), &len, s->tmp)) {
            td_free(s);
            return td_err_set(err, TD_EINVAL, "%s: path too long", path);
        }
        s->pipe = popen(cmd, "w");
        if (!s->pipe) {
            td_free(s);
            return td_err_set(err, TD_EIO, "%s: cannot start %s: %s", path, ff, strerror(errno));
        }
    } else {
        int rc = td_mkdir_p(s->tmp, err);
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
    char path[1300];
    FILE *f;
    png_structp png;
    png_infop info;
    int rc = td_path_fmt(path, sizeof(path), err, "%s/frame_%05d.png", s->tmp, s->frames + 1);
    if (rc)
        return rc;
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

/*
 * A dying ffmpeg must show up as a write error, not kill the process, and the library must
 * not change the process's SIGPIPE disposition (the caller owns signals): SIGPIPE is blocked
 * in this thread around the pipe's writes, and one it raised is taken back before unblocking.
 */
typedef struct pipe_guard {
    sigset_t old;
    int was_pending;
} pipe_guard;

static void pipe_guard_begin(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_guard_end(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

int td_frame_sink_write(td_frame_sink *s, const uint8_t *rgb, td_err *err)
{
    if (s->pipe) {
        size_t bytes = (size_t)s->w * s->h * 3;
        pipe_guard g;
        pipe_guard_begin(&g);
        size_t put = fwrite(rgb, 1, bytes, s->pipe);
        if (put == bytes && fflush(s->pipe) != 0)
            put = 0;
        pipe_guard_end(&g);
        if (put != bytes)
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
    int rc = s && s->failed ? TD_EINTERRUPTED : 0;
    if (!s)
        return 0;
    if (s->pipe) {
        pipe_guard g;
        pipe_guard_begin(&g);
        int st = pclose(s->pipe);
        pipe_guard_end(&g);
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = td_err_set(err, TD_EIO, "%s: ffmpeg failed (exit status %d)", s->path,
                            st == -1 ? -1 : (WIFEXITED(st) ? WEXITSTATUS(st) : 128));
        if (!rc && rename(s->tmp, s->path) != 0)
            rc = td_err_set(err, TD_EIO, "%s: cannot create: %s", s->path, strerror(errno));
        if (rc)
            unlink(s->tmp);
    } else if (rc) {
        remove_frames(s->tmp); /* a failed replay: the previous output stays as it was */
    } else if (td_path_exists(s->tmp)) {
        /* A folder of frames: the old folder (trackday's frames only) gives way to the new. */
        char old_dir[1300];
        int moved = 0;
        rc = td_path_fmt(old_dir, sizeof(old_dir), err, "%s.old-%ld", s->path, (long)getpid());
        if (!rc && td_path_exists(s->path)) {
            if (rename(s->path, old_dir) != 0)
                rc = td_err_set(err, TD_EIO, "%s: cannot replace: %s", s->path, strerror(errno));
            moved = !rc;
        }
        if (!rc && rename(s->tmp, s->path) != 0)
            rc = td_err_set(err, TD_EIO, "%s: cannot create: %s", s->path, strerror(errno));
        if (rc)
            remove_frames(s->tmp);
        if (moved) {
            remove_frames(old_dir);
            if (td_path_exists(old_dir))
                TD_WARN("%s: the previous frames folder held other files; it is kept as %s",
                        s->path, old_dir);
        }
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

static const uint8_t BAND[3] = {24, 24, 28}, WHITE[3] = {245, 245, 245}, GREY[3] = {170, 170, 180},
                     TRAIL[3] = {255, 200, 40};

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

/* The frame layout and everything a frame is drawn with. */
typedef struct renderer {
    const td_track *track;
    td_replay_options o;
    td_topview tv;
    int tv_ok;
    td_ground_map *ground;
    td_camera_config cam;
    td_look look;
    td_frame_sink *sink;
    uint8_t *frame, *camrgb;
    int W, H, scale, band, pw, ph, tvx, panel_h;
    double t_start, t_render;
} renderer;

static void renderer_free(renderer *r)
{
    td_frame_sink_close(r->sink, NULL);
    td_ground_map_close(r->ground);
    td_free(r->frame);
    td_free(r->camrgb);
    if (r->tv_ok)
        td_topview_free(&r->tv);
}

static int renderer_open(renderer *r, const td_track *track, const td_replay_options *o,
                         const char *out_path, td_err *err)
{
    int rc;
    memset(r, 0, sizeof(*r));
    r->t_start = td_time_now();
    r->track = track;
    if (o)
        r->o = *o;
    else
        td_replay_options_default(&r->o);
    if (r->o.width < 320 || r->o.width > 3840)
        return td_err_set(err, TD_EINVAL, "replay width %d: must be 320..3840 pixels", r->o.width);
    r->W = r->o.width & ~1;
    r->scale = r->W >= 640 ? 2 : 1;
    r->band = 2 * (TD_FONT_H * r->scale) + 3 * 4 * r->scale;
    td_camera_config_default(&r->cam);
    if (r->o.camera) {
        r->pw = r->W / 2;
        r->ph = r->pw * r->cam.height / r->cam.width;
    }
    rc = td_topview_init(&r->tv, track, r->W - r->pw, r->o.camera ? r->ph : (r->W * 3) / 4, err);
    if (rc)
        return rc;
    r->tv_ok = 1;
    r->panel_h = r->tv.h > r->ph ? r->tv.h : r->ph;
    r->H = (r->band + r->panel_h + 1) & ~1;
    r->tvx = r->pw + (r->W - r->pw - r->tv.w) / 2;
    r->frame = td_malloc((size_t)r->W * r->H * 3);
    if (r->o.camera)
        r->camrgb = td_malloc((size_t)r->cam.width * r->cam.height * 3);
    if (!r->frame || (r->o.camera && !r->camrgb))
        return td_err_set(err, TD_ENOMEM, "out of memory");
    if (r->o.camera && (rc = td_ground_map_open(&r->ground, track, 0.01, err)) != 0)
        return rc;
    td_look_default(&r->look);
    return td_frame_sink_open(&r->sink, out_path, r->W, r->H, r->o.fps, err);
}

/* What one frame shows. */
typedef struct frame_info {
    double x, y, yaw;    /* car origin */
    const td_box *boxes; /* obstacles and bots (may be NULL) */
    int nboxes;
    const double *trail; /* (trail_n, 2) model points of the lap so far */
    int trail_n;
    const char *line1, *line2; /* text */
} frame_info;

static int renderer_frame(renderer *r, const frame_info *f, td_err *err)
{
    if (r->o.stop && *r->o.stop)
        return td_err_set(err, TD_EINTERRUPTED, "interrupted after %d frames",
                          td_frame_sink_frames(r->sink));
    double t0 = td_time_now();
    int W = r->W, H = r->H;
    uint8_t car[3];
    td_draw_rect(r->frame, W, H, 0, 0, W, H, BAND);
    if (r->o.camera) {
        td_scene scene = {r->track, r->ground, f->boxes, f->boxes ? f->nboxes : 0,
                          &r->look, NULL,      NULL,     0};
        td_camera_render_rgb(&r->cam, &scene, f->x, f->y, f->yaw, r->camrgb);
        blit_scaled(r->frame, W, H, 0, r->band + (r->panel_h - r->ph) / 2, r->pw, r->ph, r->camrgb,
                    r->cam.width, r->cam.height);
    }
    /* Top view: the empty track, the boxes, the lap's trail, the car. */
    for (int yy = 0; yy < r->tv.h; yy++)
        memcpy(r->frame + ((size_t)(r->band + yy) * W + r->tvx) * 3,
               r->tv.base + (size_t)yy * r->tv.w * 3, (size_t)r->tv.w * 3);
    for (int k = 0; f->boxes && k < f->nboxes; k++) {
        const td_box *b = &f->boxes[k];
        uint8_t col[3];
        td_replay_box_color(b->kind, col);
        td_topview_draw_car(&r->tv, r->frame, W, H, r->tvx, r->band, b->x, b->y, b->yaw, b->length,
                            b->width, col);
    }
    for (int k = 1; k < f->trail_n; k++) {
        const double *a = f->trail + 2 * (k - 1), *b = f->trail + 2 * k;
        double ax, ay, bx, by;
        if (hypot(b[0] - a[0], b[1] - a[1]) > 0.5)
            continue; /* a reset, not driving */
        td_topview_project(&r->tv, a[0], a[1], &ax, &ay);
        td_topview_project(&r->tv, b[0], b[1], &bx, &by);
        td_draw_line(r->frame, W, H, ax + r->tvx, ay + r->band, bx + r->tvx, by + r->band,
                     fmax(2.0, 0.03 * r->tv.sc), TRAIL);
    }
    td_replay_car_color(0, car);
    td_topview_draw_car(&r->tv, r->frame, W, H, r->tvx, r->band, f->x, f->y, f->yaw,
                        TD_CAR_LENGTH_M, TD_CAR_WIDTH_M, car);
    td_text_draw(r->frame, W, H, 4 * r->scale, 4 * r->scale, f->line1, r->scale, GREY);
    td_text_draw(r->frame, W, H, 4 * r->scale, 8 * r->scale + TD_FONT_H * r->scale, f->line2,
                 r->scale, WHITE);
    r->t_render += td_time_now() - t0;
    return td_frame_sink_write(r->sink, r->frame, err);
}

/* Closes the sink (rc: the run's result so far), fills stats, frees. */
static int renderer_close(renderer *r, int rc, td_replay_stats *stats, td_err *err)
{
    int frames = td_frame_sink_frames(r->sink);
    if (rc && r->sink)
        r->sink->failed = 1; /* nothing of a failed or interrupted render is kept */
    int rc2 = td_frame_sink_close(r->sink, rc ? NULL : err);
    r->sink = NULL;
    rc = rc ? rc : rc2;
    if (stats) {
        memset(stats, 0, sizeof(*stats));
        stats->frames = frames;
        stats->width = r->W;
        stats->height = r->H;
        stats->view_x = r->tvx;
        stats->view_y = r->band;
        stats->view_ox = r->tv.ox;
        stats->view_oy = r->tv.oy;
        stats->view_scale = r->tv.sc;
        stats->render_s = r->t_render;
        stats->total_s = td_time_now() - r->t_start;
    }
    renderer_free(r);
    return rc;
}

int td_replay_simtrace(const td_track *track, const td_simtrace_row *rows, int n,
                       const td_replay_options *o, const char *out_path, td_replay_stats *stats,
                       td_err *err)
{
    renderer r;
    double *trail = NULL;
    int rc;
    int ep_first = 0; /* first row of the current episode */
    double ep_t0 = 0; /* clock at the current episode's start */

    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (n <= 0)
        return td_err_set(err, TD_EINVAL, "%s: the simtrace has no rows to replay", out_path);
    if ((rc = renderer_open(&r, track, o, out_path, err)) != 0) {
        renderer_free(&r);
        return rc;
    }
    trail = td_malloc(sizeof(double) * 2 * (size_t)n);
    if (!trail) {
        rc = td_err_set(err, TD_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const td_simtrace_row *row = &rows[i];
        double speed = row->throttle;
        char line1[256], line2[256];
        frame_info f;
        trail[2 * i] = row->x;
        trail[2 * i + 1] = row->y;
        if (i == 0 || row->episode != rows[i - 1].episode || row->file != rows[i - 1].file) {
            /* A new lap (trackday's eval logs are one episode per lap): its clock starts at
             * the previous row's time, or one step before the first row's. */
            ep_first = i;
            if (i > 0 && row->file == rows[i - 1].file && rows[i - 1].tstamp <= row->tstamp)
                ep_t0 = rows[i - 1].tstamp;
            else
                ep_t0 = row->tstamp - (row->steps > 0 ? row->steps : 1) / TD_SIM_HZ;
        }
        if (i > ep_first) {
            /* Measured speed between rows; a reset (a jump) falls back to the command. */
            const td_simtrace_row *q = &rows[i - 1];
            double dt = row->tstamp - q->tstamp - row->pause_duration;
            double d = hypot(row->x - q->x, row->y - q->y);
            if (dt > 1e-6 && d / dt < 5.0)
                speed = d / dt;
        }
        memset(&f, 0, sizeof(f));
        row_origin(row, &f.x, &f.y, &f.yaw);
        f.trail = trail + 2 * ep_first;
        f.trail_n = i - ep_first + 1;
        snprintf(line1, sizeof(line1), "%s   STEP %d/%d   %s", r.o.title ? r.o.title : track->name,
                 i + 1, n, row->episode_status);
        snprintf(line2, sizeof(line2),
                 "LAP %ld   LAP TIME %.2f S   SPEED %.2f M/S   PROGRESS %.1f%%",
                 row->episode - rows[0].episode + 1, row->tstamp - ep_t0, speed, row->progress);
        f.line1 = line1;
        f.line2 = line2;
        if ((rc = renderer_frame(&r, &f, err)) != 0)
            goto out;
    }
    rc = 0;
out:
    td_free(trail);
    return renderer_close(&r, rc, stats, err);
}

/* ---- replay of a fresh drive ---------------------------------------------------------------- */

/* A drive replayed as td_evaluate drives it: one frame per step from its step hook. */
typedef struct redrive {
    renderer r;
    int opened;
    const td_replay_options *o;
    const char *out_path;
    const char *name;
    double *trail;
    int trail_n, trail_cap, lap;
    double lap_t0, last_t;
} redrive;

static int redrive_step(void *user, const td_eval_step *s, td_err *err)
{
    redrive *d = user;
    const td_params *p = s->params;
    const td_box *boxes;
    frame_info f;
    char line1[256], line2[256];
    int rc;
    if (!d->opened) {
        /* The top view of the direction driven, which the env knows. */
        if ((rc = renderer_open(&d->r, td_vecenv_track(s->env, 0), d->o, d->out_path, err)) != 0)
            return rc;
        d->opened = 1;
    }
    if (s->lap != d->lap) {
        /* A new lap or trial starts a new trail and lap clock. */
        d->lap = s->lap;
        d->trail_n = 0;
        d->lap_t0 = d->last_t;
    }
    if (d->trail_n == d->trail_cap) {
        int nc = d->trail_cap ? 2 * d->trail_cap : 1024;
        double *nt = td_realloc(d->trail, sizeof(double) * 2 * (size_t)nc);
        if (!nt)
            return td_err_set(err, TD_ENOMEM, "out of memory");
        d->trail = nt;
        d->trail_cap = nc;
    }
    d->trail[2 * d->trail_n] = p->x;
    d->trail[2 * d->trail_n + 1] = p->y;
    d->trail_n++;
    memset(&f, 0, sizeof(f));
    f.yaw = p->heading * (M_PI / 180.0);
    f.x = p->x - s->env->cfg.car.model_point_m * cos(f.yaw);
    f.y = p->y - s->env->cfg.car.model_point_m * sin(f.yaw);
    f.nboxes = td_vecenv_boxes(s->env, 0, &boxes);
    f.boxes = boxes;
    f.trail = d->trail;
    f.trail_n = d->trail_n;
    snprintf(line1, sizeof(line1), "%s   STEP %ld   %s", d->name, s->step + 1,
             td_episode_status_name(s->done ? s->info->status : td_vecenv_step_status(s->env, 0)));
    snprintf(line2, sizeof(line2), "LAP %d   LAP TIME %.2f S   SPEED %.2f M/S   PROGRESS %.1f%%",
             s->lap + 1, p->sim_time - d->lap_t0, s->done ? 0.0 : td_vecenv_car(s->env, 0)->speed,
             p->progress);
    f.line1 = line1;
    f.line2 = line2;
    d->last_t = p->sim_time;
    return renderer_frame(&d->r, &f, err);
}

int td_replay_drive(td_policy *policy, const td_track *track, const td_eval_options *e,
                    const td_replay_options *o, const char *out_path, td_replay_stats *stats,
                    td_err *err)
{
    redrive d;
    td_eval_options eo = *e;
    td_eval_result res;
    int rc;

    memset(&d, 0, sizeof(d));
    d.o = o;
    d.out_path = out_path;
    d.name = o && o->title ? o->title : track->name;
    eo.simtrace_path = eo.report_path = eo.picture_path = NULL;
    eo.on_step = redrive_step;
    eo.on_step_user = &d;
    rc = td_evaluate(policy, track, &eo, &res, err);
    td_free(d.trail);
    if (!d.opened) {
        if (stats)
            memset(stats, 0, sizeof(*stats));
        return rc;
    }
    return renderer_close(&d.r, rc, stats, err);
}
