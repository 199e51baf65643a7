/*
 * simtrace.c - simtrace logs (simtrace.h, DEEPRACER.md section 10): a buffered CSV writer in
 * DeepRacer's column layout for the trainer and the evaluator, and a reader that accepts
 * DeepRacer's files (columns in any order, extra columns ignored, continuous actions written
 * as "[steer, speed]") and rejects a malformed file with the line and column at fault.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trackday/simtrace.h"

/* ------------------------------------------------------------------------------------ */
/* Rows from params                                                                     */
/* ------------------------------------------------------------------------------------ */

void td_simtrace_row_from_params(td_simtrace_row *row, const td_params *p)
{
    /* A fresh row, so fields the caller does not set are never stack garbage in the file. */
    memset(row, 0, sizeof(*row));
    row->iteration = -1;
    row->steps = p->steps;
    row->x = p->x;
    row->y = p->y;
    row->yaw_deg = p->heading;
    row->steer_deg = p->steering_angle;
    row->throttle = p->speed;
    row->progress = p->progress;
    /* DeepRacer's simtrace shows the nearer of the two bracketing waypoints to the model point
     * (the next one only when strictly nearer). */
    row->closest_waypoint = p->closest_waypoints[0];
    if (p->waypoints && p->closest_waypoints[1] >= 0 && p->closest_waypoints[1] < p->n_waypoints &&
        p->closest_waypoints[0] >= 0 && p->closest_waypoints[0] < p->n_waypoints) {
        const double *a = p->waypoints + 2 * p->closest_waypoints[0];
        const double *b = p->waypoints + 2 * p->closest_waypoints[1];
        double da = hypot(p->x - a[0], p->y - a[1]), db = hypot(p->x - b[0], p->y - b[1]);
        if (db < da)
            row->closest_waypoint = p->closest_waypoints[1];
    }
    row->track_len = p->track_length;
    row->tstamp = p->sim_time;
    row->all_wheels_on_track = p->all_wheels_on_track ? 1 : 0;
}

void td_simtrace_row_from_step(td_simtrace_row *row, const td_vecenv *env, int i)
{
    const td_episode_info *info =
        env->dones[i] ? td_vecenv_last_episode(env, i) : td_vecenv_current_episode(env, i);
    td_simtrace_row_from_params(row, td_vecenv_step_params(env, i));
    /* DeepRacer stamps a row when its step's physics has run (judge_action), one step after
     * the pose in it was read (update_agent, the params' sim_time). */
    row->tstamp += 1.0 / env->cfg.hz;
    row->episode = info->episode;
    row->reward = env->rewards[i];
    row->done = env->dones[i] ? 1 : 0;
    snprintf(row->episode_status, sizeof(row->episode_status), "%s",
             td_episode_status_name(td_vecenv_step_status(env, i)));
    row->pause_duration = td_vecenv_step_pause_s(env, i);
}

/* The previous lap of the same run ended on the row before: a continuous run goes on (its
 * steps count on across laps; a new episode starts again from step 1). */
static int continues_a_lap(const td_simtrace_row *rows, int first)
{
    const td_simtrace_row *a = &rows[first - 1], *b = &rows[first];
    return a->file == b->file && strcmp(b->episode_status, "prepare") != 0 &&
           a->progress >= 100.0 - 1e-6 && b->steps == a->steps + 1 && b->tstamp >= a->tstamp;
}

double td_simtrace_lap_time(const td_simtrace_row *rows, int first, int last)
{
    double t = rows[last].tstamp - rows[first].tstamp;
    if (first > 0 && continues_a_lap(rows, first))
        return t + (rows[first].tstamp - rows[first - 1].tstamp);
    if (first < last)
        return t + (rows[first + 1].tstamp - rows[first].tstamp);
    return t;
}

/* ------------------------------------------------------------------------------------ */
/* Writer                                                                               */
/* ------------------------------------------------------------------------------------ */

#define WRITE_BUF (1 << 16)

/* The writer buffers whole lines and writes only whole lines, so a reader of a file being
 * written (or whose writer was killed) sees complete rows, at worst without the newest. */
struct td_simtrace_writer {
    int fd;
    char *buf;
    size_t len;
    int failed;
    char path[1024];
};

/* DeepRacer's 19 columns (metrics/constants.py), in its order. */
static const char *const HEADER =
    "episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,progress,"
    "closest_waypoint,track_len,tstamp,episode_status,pause_duration,obstacle_crash_counter,"
    "wall_clock\n";

static int flush_lines(td_simtrace_writer *w)
{
    size_t off = 0;
    while (off < w->len) {
        ssize_t k = write(w->fd, w->buf + off, w->len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->failed = 1;
            w->len = 0;
            return TD_EIO;
        }
        off += (size_t)k;
    }
    w->len = 0;
    return 0;
}

static void buffer_line(td_simtrace_writer *w, const char *line, size_t n)
{
    if (w->len + n > WRITE_BUF && flush_lines(w) != 0)
        return;
    memcpy(w->buf + w->len, line, n);
    w->len += n;
}

int td_simtrace_writer_open(td_simtrace_writer **out, const char *path, td_err *err)
{
    *out = NULL;
    td_simtrace_writer *w = td_calloc(1, sizeof(*w));
    char *buf = td_malloc(WRITE_BUF);
    if (!w || !buf) {
        td_free(w);
        td_free(buf);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    }
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        td_free(w);
        td_free(buf);
        return td_err_set(err, e == ENOENT ? TD_ENOENT : TD_EIO, "%s: cannot create: %s", path,
                          strerror(e));
    }
    w->buf = buf;
    snprintf(w->path, sizeof(w->path), "%s", path);
    buffer_line(w, HEADER, strlen(HEADER));
    *out = w;
    return 0;
}

/* Status strings go into an unquoted CSV field: keep only characters that are safe there. */
static void safe_status(char *out, const char *in)
{
    size_t k = 0;
    for (size_t i = 0; in[i] && k + 1 < TD_SIMTRACE_STATUS_LEN; i++) {
        unsigned char c = (unsigned char)in[i];
        out[k++] = (isalnum(c) || c == '_' || c == '-') ? (char)c : '_';
    }
    out[k] = '\0';
}

/*
 * Number formatting for the writer. A simtrace gets a row per step of every car in training,
 * so rows are formatted by hand (fixed decimals through integer arithmetic) rather than with
 * fprintf, which is several times slower.
 */
static char *put_ull(char *p, unsigned long long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_long(char *p, long v)
{
    if (v < 0) {
        *p++ = '-';
        return put_ull(p, (unsigned long long)(-(v + 1)) + 1);
    }
    return put_ull(p, (unsigned long long)v);
}

/* v with `dec` decimals (0..6); trim drops trailing zeros (and the point). Non-finite is 0. */
static char *put_fixed(char *p, double v, int dec, int trim)
{
    static const double scale[7] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    static const long long iscale[7] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    if (!isfinite(v))
        v = 0.0;
    double scaled = v * scale[dec];
    if (fabs(scaled) >= 9e15)
        return p + snprintf(p, 48, "%.*g", 17, v);
    long long q = llround(scaled);
    if (q < 0) {
        *p++ = '-';
        q = -q;
    }
    p = put_ull(p, (unsigned long long)(q / iscale[dec]));
    if (dec == 0)
        return p;
    long long frac = q % iscale[dec];
    char digits[8];
    for (int i = dec - 1; i >= 0; i--) {
        digits[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    int n = dec;
    if (trim)
        while (n > 0 && digits[n - 1] == '0')
            n--;
    if (n == 0)
        return p;
    *p++ = '.';
    memcpy(p, digits, (size_t)n);
    return p + n;
}

/* A float as Python's str() shows it, to 4 decimals: always with a point ("2.0", "-25.0"). */
static char *put_float(char *p, double v)
{
    char *start = p;
    p = put_fixed(p, v, 4, 1);
    if (!memchr(start, '.', (size_t)(p - start))) {
        *p++ = '.';
        *p++ = '0';
    }
    return p;
}

static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

const char *td_simtrace_header(void)
{
    return HEADER;
}

size_t td_simtrace_format_row(char *line, const td_simtrace_row *r)
{
    char status[TD_SIMTRACE_STATUS_LEN];
    safe_status(status, r->episode_status[0] ? r->episode_status : "in_progress");
    /* 19 fields of at most 48 characters each fit easily in TD_SIMTRACE_LINE_MAX. */
    char *p = line;
    p = put_long(p, r->episode);
    *p++ = ',';
    /* DeepRacer's steps is a float: "1.0", "2.0", ... */
    p = put_long(p, r->steps);
    p = put_str(p, ".0,");
    p = put_fixed(p, r->x, 4, 0);
    *p++ = ',';
    p = put_fixed(p, r->y, 4, 0);
    *p++ = ',';
    p = put_fixed(p, r->yaw_deg, 3, 0);
    *p++ = ',';
    p = put_fixed(p, r->steer_deg, 3, 0);
    *p++ = ',';
    p = put_fixed(p, r->throttle, 4, 0);
    *p++ = ',';
    if (r->action >= 0) {
        p = put_long(p, r->action);
    } else {
        /* A continuous action as DeepRacer writes it: "[steer speed]" (no comma inside). */
        *p++ = '[';
        p = put_float(p, r->steer_deg);
        *p++ = ' ';
        p = put_float(p, r->throttle);
        *p++ = ']';
    }
    *p++ = ',';
    p = put_fixed(p, r->reward, 6, 1);
    *p++ = ',';
    p = put_str(p, r->done ? "True," : "False,");
    p = put_str(p, r->all_wheels_on_track ? "True," : "False,");
    p = put_fixed(p, r->progress, 4, 0);
    *p++ = ',';
    p = put_long(p, r->closest_waypoint);
    *p++ = ',';
    p = put_fixed(p, r->track_len, 4, 0);
    *p++ = ',';
    p = put_fixed(p, r->tstamp, 4, 0);
    *p++ = ',';
    p = put_str(p, status);
    *p++ = ',';
    p = put_fixed(p, r->pause_duration, 4, 0);
    *p++ = ',';
    p = put_long(p, r->obstacle_crash_counter);
    *p++ = ',';
    p = put_fixed(p, r->wall_clock, 3, 0);
    *p++ = '\n';
    return (size_t)(p - line);
}

int td_simtrace_writer_write(td_simtrace_writer *w, const td_simtrace_row *r, td_err *err)
{
    char line[TD_SIMTRACE_LINE_MAX];
    size_t n = td_simtrace_format_row(line, r);
    buffer_line(w, line, n);
    if (w->failed)
        return td_err_set(err, TD_EIO, "%s: write failed: %s", w->path, strerror(errno));
    return 0;
}

int td_simtrace_writer_close(td_simtrace_writer *w, td_err *err)
{
    if (!w)
        return 0;
    int rc = 0;
    if (!w->failed)
        flush_lines(w);
    if (close(w->fd) != 0)
        w->failed = 1;
    if (w->failed)
        rc = td_err_set(err, TD_EIO, "%s: writing the simtrace failed", w->path);
    td_free(w->buf);
    td_free(w);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Reader                                                                               */
/* ------------------------------------------------------------------------------------ */

void td_simtrace_init(td_simtrace *t)
{
    memset(t, 0, sizeof(*t));
}

void td_simtrace_free(td_simtrace *t)
{
    td_free(t->rows);
    for (int i = 0; i < t->n_files; i++)
        td_free(t->files[i]);
    td_free(t->files);
    memset(t, 0, sizeof(*t));
}

enum {
    C_EPISODE,
    C_STEPS,
    C_X,
    C_Y,
    C_YAW,
    C_STEER,
    C_THROTTLE,
    C_ACTION,
    C_REWARD,
    C_DONE,
    C_WHEELS,
    C_PROGRESS,
    C_WAYPOINT,
    C_TRACK_LEN,
    C_TSTAMP,
    C_STATUS,
    C_PAUSE,
    C_REQUIRED, /* the columns above are DeepRacer's 17 and required */
    C_CRASHES = C_REQUIRED,
    C_WALL,
    C_ITERATION,
    C_COUNT
};

static const char *const COLUMN_NAMES[C_COUNT] = {"episode",
                                                  "steps",
                                                  "X",
                                                  "Y",
                                                  "yaw",
                                                  "steer",
                                                  "throttle",
                                                  "action",
                                                  "reward",
                                                  "done",
                                                  "all_wheels_on_track",
                                                  "progress",
                                                  "closest_waypoint",
                                                  "track_len",
                                                  "tstamp",
                                                  "episode_status",
                                                  "pause_duration",
                                                  "obstacle_crash_counter",
                                                  "wall_clock",
                                                  "iteration"};

#define MAX_FIELDS 256

/* A field of the current line: [b, e) in the text, quotes removed by trimming. */
typedef struct field {
    const char *b, *e;
} field;

/*
 * Splits one line [p, end) into fields. Double-quoted fields may hold commas. A field that
 * opens a '[' without closing it is joined with the following ones up to the ']' (DeepRacer
 * wrote continuous actions as an unquoted Python list). Returns the field count, or -1 if
 * there are more than MAX_FIELDS.
 */
static int split_line(const char *p, const char *end, field *f)
{
    int n = 0;
    const char *s = p;
    while (1) {
        const char *q = s;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q < end && *q == '"') {
            q++;
            const char *b = q;
            while (q < end && *q != '"')
                q++;
            const char *e = q;
            if (q < end)
                q++;
            while (q < end && *q != ',')
                q++;
            if (n >= MAX_FIELDS)
                return -1;
            f[n++] = (field){b, e};
        } else {
            const char *b = s;
            while (q < end && *q != ',')
                q++;
            if (n >= MAX_FIELDS)
                return -1;
            f[n++] = (field){b, q};
        }
        if (q >= end)
            break;
        s = q + 1;
    }
    /* Join an unquoted "[a, b]" split across fields. */
    for (int i = 0; i < n; i++) {
        const char *b = f[i].b;
        while (b < f[i].e && isspace((unsigned char)*b))
            b++;
        if (b >= f[i].e || *b != '[' || memchr(b, ']', (size_t)(f[i].e - b)))
            continue;
        int j = i + 1;
        while (j < n && !memchr(f[j].b, ']', (size_t)(f[j].e - f[j].b)))
            j++;
        if (j >= n)
            break;
        f[i].e = f[j].e;
        int drop = j - i;
        memmove(&f[i + 1], &f[j + 1], sizeof(field) * (size_t)(n - j - 1));
        n -= drop;
    }
    return n;
}

static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static int field_eq(const field *f, const char *name)
{
    const char *b = f->b, *e = f->e;
    trim(&b, &e);
    size_t n = strlen(name);
    if ((size_t)(e - b) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)b[i]) != tolower((unsigned char)name[i]))
            return 0;
    return 1;
}

static void field_str(const field *f, char *out, size_t outlen)
{
    const char *b = f->b, *e = f->e;
    trim(&b, &e);
    size_t n = (size_t)(e - b);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, b, n);
    out[n] = '\0';
}

/*
 * Parses a number; returns 0 or -1 if the field is not a complete finite number. strtod reads
 * the text in place: it stops at the delimiter (a comma, quote, space or line end), which
 * must be exactly where the trimmed field ends.
 */
static int field_num(const field *f, double *out)
{
    const char *b = f->b, *e = f->e;
    trim(&b, &e);
    if (b == e)
        return -1;
    char *endp;
    double v = strtod(b, &endp);
    if (endp != e || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int field_bool(const field *f, int *out)
{
    char tmp[16];
    field_str(f, tmp, sizeof(tmp));
    for (char *c = tmp; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (!strcmp(tmp, "true") || !strcmp(tmp, "1") || !strcmp(tmp, "1.0")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(tmp, "false") || !strcmp(tmp, "0") || !strcmp(tmp, "0.0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int grow_rows(td_simtrace *t)
{
    if (t->n < t->cap)
        return 0;
    int cap = t->cap ? t->cap * 2 : 1024;
    td_simtrace_row *nr = td_realloc(t->rows, sizeof(*nr) * (size_t)cap);
    if (!nr)
        return TD_ENOMEM;
    t->rows = nr;
    t->cap = cap;
    return 0;
}

static int add_file(td_simtrace *t, const char *what)
{
    char **nf = td_realloc(t->files, sizeof(char *) * (size_t)(t->n_files + 1));
    if (!nf)
        return TD_ENOMEM;
    t->files = nf;
    char *copy = td_strdup(what);
    if (!copy)
        return TD_ENOMEM;
    t->files[t->n_files++] = copy;
    return 0;
}

static int bad_value(td_err *err, const char *what, long line, const char *col, const field *f,
                     const char *expected)
{
    char v[48];
    field_str(f, v, sizeof(v));
    return td_err_set(err, TD_EFORMAT, "%s: line %ld, column '%s': '%s' is not %s", what, line, col,
                      v, expected);
}

/* Counts read into integer fields: whole numbers within +-TD_SIMTRACE_MAX_COUNT, so the
 * conversion to long or int is always defined (a step count needs far less). */
#define TD_SIMTRACE_MAX_COUNT 1e9

static int is_count_column(int c)
{
    return c == C_EPISODE || c == C_STEPS || c == C_WAYPOINT || c == C_CRASHES || c == C_ITERATION;
}

/* Parses one data line into row. */
static int parse_row(td_simtrace_row *row, const field *f, const int *col, const char *what,
                     long line, td_err *err)
{
    double v[C_COUNT];
    for (int c = 0; c < C_COUNT; c++) {
        v[c] = 0;
        if (c == C_ACTION || c == C_DONE || c == C_WHEELS || c == C_STATUS || col[c] < 0)
            continue;
        if (field_num(&f[col[c]], &v[c]) != 0) {
            /* Optional extra columns may be empty. */
            if (c >= C_REQUIRED) {
                const char *b = f[col[c]].b, *e = f[col[c]].e;
                trim(&b, &e);
                if (b == e) {
                    v[c] = c == C_ITERATION ? -1 : 0;
                    continue;
                }
            }
            return bad_value(err, what, line, COLUMN_NAMES[c], &f[col[c]], "a number");
        }
        if (is_count_column(c) && !(v[c] == floor(v[c]) && fabs(v[c]) <= TD_SIMTRACE_MAX_COUNT))
            return bad_value(err, what, line, COLUMN_NAMES[c], &f[col[c]],
                             "a whole number from -1000000000 to 1000000000");
    }
    memset(row, 0, sizeof(*row));
    row->episode = (long)v[C_EPISODE];
    row->steps = (long)v[C_STEPS];
    row->x = v[C_X];
    row->y = v[C_Y];
    row->yaw_deg = v[C_YAW];
    row->steer_deg = v[C_STEER];
    row->throttle = v[C_THROTTLE];
    row->reward = v[C_REWARD];
    row->progress = v[C_PROGRESS];
    row->closest_waypoint = (int)v[C_WAYPOINT];
    row->track_len = v[C_TRACK_LEN];
    row->tstamp = v[C_TSTAMP];
    row->pause_duration = v[C_PAUSE];
    row->obstacle_crash_counter = col[C_CRASHES] >= 0 ? (long)v[C_CRASHES] : 0;
    row->wall_clock = col[C_WALL] >= 0 ? v[C_WALL] : 0;
    row->iteration = col[C_ITERATION] >= 0 ? (long)v[C_ITERATION] : -1;

    /* action: an index, or a continuous "[steer, speed]" list (then -1). */
    const field *fa = &f[col[C_ACTION]];
    const char *b = fa->b, *e = fa->e;
    trim(&b, &e);
    double a;
    if (b < e && *b == '[')
        row->action = -1;
    else if (field_num(fa, &a) == 0)
        row->action = (a == floor(a) && fabs(a) < 1e9) ? (int)a : -1;
    else
        return bad_value(err, what, line, "action", fa, "an action index or [steer, speed]");

    if (field_bool(&f[col[C_DONE]], &row->done) != 0)
        return bad_value(err, what, line, "done", &f[col[C_DONE]], "True or False");
    if (field_bool(&f[col[C_WHEELS]], &row->all_wheels_on_track) != 0)
        return bad_value(err, what, line, "all_wheels_on_track", &f[col[C_WHEELS]],
                         "True or False");
    /* Statuses compare in DeepRacer's lower-case form; a Python enum name written as text
     * ("EpisodeStatus.OFF_TRACK") is reduced to it. */
    char status[64];
    field_str(&f[col[C_STATUS]], status, sizeof(status));
    const char *st = strrchr(status, '.');
    st = st ? st + 1 : status;
    size_t k = 0;
    for (; st[k] && k + 1 < sizeof(row->episode_status); k++)
        row->episode_status[k] = (char)tolower((unsigned char)st[k]);
    row->episode_status[k] = '\0';
    if (!row->episode_status[0])
        return bad_value(err, what, line, "episode_status", &f[col[C_STATUS]],
                         "a status (in_progress, lap_complete, off_track, ...)");
    return 0;
}

/* Records a row that was skipped, keeping the first reason for the caller's note. */
static void skip_note(td_simtrace *t, const char *fmt, const char *what, long line)
{
    if (t->skipped_rows++ == 0)
        snprintf(t->skipped_note, sizeof(t->skipped_note), fmt, what, line);
}

/* Where needle first occurs in hay[0..n), or NULL. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || n < m)
        return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

/* The DeepRacer log line marker; the CSV fields follow it, in the simtrace column order. */
static const char SIM_TRACE_LOG[] = "SIM_TRACE_LOG:";

/*
 * Column positions of a SIM_TRACE_LOG line by its field count (deepracer-utils reads them
 * so): 16 fields end with episode_status, 17 add pause_duration, 18 pause_duration and
 * wall_clock, 19 (DeepRacer on AWS) pause_duration, obstacle_crash_counter and wall_clock.
 */
static int log_columns(int nf, int *col)
{
    if (nf < 16 || nf > 19)
        return -1;
    for (int c = 0; c < C_COUNT; c++)
        col[c] = c < C_PAUSE ? c : -1;
    if (nf >= 17)
        col[C_PAUSE] = 16;
    if (nf == 18)
        col[C_WALL] = 17;
    if (nf == 19) {
        col[C_CRASHES] = 17;
        col[C_WALL] = 18;
    }
    return 0;
}

/*
 * Parses rows into t. in_log: only lines holding SIM_TRACE_LOG are rows (a robomaker or
 * simulation log, no header). last_partial: the text does not end with a newline, so its last
 * line may be a row cut short by a writer that is still running or was killed: that line is
 * skipped with a note when it does not parse, never an error.
 */
static int parse_text(td_simtrace *t, const char *text, size_t len, const char *what, int in_log,
                      int last_partial, td_err *err)
{
    field *f = td_malloc(sizeof(field) * MAX_FIELDS);
    if (!f)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", what);
    int n0 = t->n, files0 = t->n_files, skipped0 = t->skipped_rows, rc = 0;
    char note0[sizeof(t->skipped_note)];
    memcpy(note0, t->skipped_note, sizeof(note0));
    int col[C_COUNT];
    for (int c = 0; c < C_COUNT; c++)
        col[c] = -1;
    int ncols = 0, header_cut = 0;
    const char *header_b = NULL;
    size_t header_len = 0;
    long line = 0;
    const char *p = text, *end = text + len;
    if (len >= 3 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
        (unsigned char)p[2] == 0xbf)
        p += 3; /* a UTF-8 byte order mark from a spreadsheet */

    rc = add_file(t, what);
    if (rc) {
        rc = td_err_set(err, rc, "%s: out of memory", what);
        goto fail;
    }
    int file_index = t->n_files - 1;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        /* The caller appended the newline of a text that had none: its last line may be cut. */
        int cut_short = last_partial && next >= end;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        const char *b = p, *e = le;
        trim(&b, &e);
        p = next;
        if (b == e)
            continue; /* blank line */
        if (in_log) {
            const char *m =
                find_bytes(b, (size_t)(e - b), SIM_TRACE_LOG, sizeof(SIM_TRACE_LOG) - 1);
            if (!m)
                continue; /* the log's other lines */
            b = m + sizeof(SIM_TRACE_LOG) - 1;
            int nf = split_line(b, e, f);
            if (nf < 0 || log_columns(nf, col) != 0) {
                /* Log lines of several processes can interleave: a broken row is skipped. */
                skip_note(t,
                          "%s: line %ld: a SIM_TRACE_LOG line that is not a whole row was "
                          "skipped",
                          what, line);
                continue;
            }
        } else if (!header_b) {
            if (cut_short) {
                skip_note(t, "%s: line %ld: the header is cut short (the file is being written)",
                          what, line);
                header_cut = 1;
                continue;
            }
            ncols = split_line(b, e, f);
            if (ncols < 0) {
                rc = td_err_set(err, TD_EFORMAT, "%s: line %ld: more than %d columns", what, line,
                                MAX_FIELDS);
                goto fail;
            }
            for (int i = 0; i < ncols; i++)
                for (int c = 0; c < C_COUNT; c++)
                    if (col[c] < 0 && field_eq(&f[i], COLUMN_NAMES[c]))
                        col[c] = i;
            for (int c = 0; c < C_REQUIRED; c++)
                if (col[c] < 0) {
                    double dummy;
                    if (ncols > 0 && field_num(&f[0], &dummy) == 0)
                        rc = td_err_set(err, TD_EFORMAT,
                                        "%s: line %ld: no header row (the "
                                        "first line must name the columns, e.g. '%s')",
                                        what, line, "episode,steps,X,Y,...");
                    else
                        rc = td_err_set(err, TD_EFORMAT,
                                        "%s: line %ld: missing required "
                                        "column '%s' in the header",
                                        what, line, COLUMN_NAMES[c]);
                    goto fail;
                }
            header_b = b;
            header_len = (size_t)(e - b);
            continue;
        } else {
            /* A repeated header (files concatenated with cat) is skipped. */
            if ((size_t)(e - b) == header_len && memcmp(b, header_b, header_len) == 0)
                continue;
            int nf = split_line(b, e, f);
            if (nf != ncols) {
                /* A row cut short has fewer fields than the header; one with the right
                 * number of fields but a bad value is a bad row, cut or not. */
                if (cut_short && nf >= 0 && nf < ncols) {
                    skip_note(t,
                              "%s: line %ld: the last row is cut short (the file is being "
                              "written, or its writer stopped); it was skipped",
                              what, line);
                    continue;
                }
                rc = td_err_set(err, TD_EFORMAT,
                                "%s: line %ld: expected %d columns as in the "
                                "header, found %d",
                                what, line, ncols, nf < 0 ? MAX_FIELDS : nf);
                goto fail;
            }
        }
        rc = grow_rows(t);
        if (rc) {
            rc = td_err_set(err, rc, "%s: out of memory at line %ld", what, line);
            goto fail;
        }
        rc = parse_row(&t->rows[t->n], f, col, what, line, err);
        if (rc) {
            if (in_log) {
                skip_note(t, "%s: line %ld: a SIM_TRACE_LOG row that does not parse was skipped",
                          what, line);
                rc = 0;
                continue;
            }
            goto fail;
        }
        t->rows[t->n].file = file_index;
        if (col[C_ITERATION] >= 0)
            t->has_iteration = 1;
        t->n++;
    }
    if (!in_log && !header_b && !header_cut) {
        rc = td_err_set(err, TD_EFORMAT, "%s: empty file (no header row)", what);
        goto fail;
    }
    td_free(f);
    return 0;
fail:
    t->n = n0;
    t->skipped_rows = skipped0;
    memcpy(t->skipped_note, note0, sizeof(note0));
    while (t->n_files > files0)
        td_free(t->files[--t->n_files]);
    td_free(f);
    return rc;
}

/* A CSV's first line names the episode column; a log's does not. */
static int starts_with_header(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end && isspace((unsigned char)*p))
        p++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t first = (size_t)((nl ? nl : end) - p);
    return find_bytes(p, first, "episode", 7) && memchr(p, ',', first);
}

/* A DeepRacer log (robomaker, simulation) rather than a CSV: no header, SIM_TRACE_LOG lines. */
static int looks_like_log(const char *text, size_t len)
{
    if (starts_with_header(text, len))
        return 0;
    return find_bytes(text, len, SIM_TRACE_LOG, sizeof(SIM_TRACE_LOG) - 1) != NULL;
}

int td_simtrace_parse(td_simtrace *t, const char *text, size_t len, const char *what, td_err *err)
{
    int partial = len > 0 && text[len - 1] != '\n';
    int in_log = looks_like_log(text, len);
    /* Numbers are parsed in place with strtod, which needs a delimiter after the last one:
     * text that does not end with a newline is copied once with one appended. */
    if (partial) {
        char *copy = td_malloc(len + 2);
        if (!copy)
            return td_err_set(err, TD_ENOMEM, "%s: out of memory", what);
        memcpy(copy, text, len);
        copy[len] = '\n';
        copy[len + 1] = '\0';
        int rc = parse_text(t, copy, len + 1, what, in_log, 1, err);
        td_free(copy);
        return rc;
    }
    return parse_text(t, text, len, what, in_log, 0, err);
}

int td_simtrace_read(td_simtrace *t, const char *path, td_err *err)
{
    char *data;
    size_t len;
    int rc = td_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    size_t pl = strlen(path);
    if (pl > 4 && !strcmp(path + pl - 4, ".log") && !starts_with_header(data, len) &&
        !looks_like_log(data, len)) {
        td_free(data);
        return td_err_set(err, TD_EFORMAT,
                          "%s: no SIM_TRACE_LOG lines: DeepRacer's robomaker and simulation logs "
                          "hold the simtrace rows (a sagemaker log holds the trainer's output)",
                          path);
    }
    rc = td_simtrace_parse(t, data, len, path, err);
    td_free(data);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Directories                                                                          */
/* ------------------------------------------------------------------------------------ */

static int is_csv(const char *name, void *user)
{
    (void)user;
    return td_str_ends_with(name, ".csv") && strlen(name) > 4;
}

int td_simtrace_read_dir(td_simtrace *t, const char *dir, td_err *err)
{
    return td_simtrace_read_dir_match(t, dir, NULL, 0, err);
}

int td_simtrace_list_dir(const char *dir, const char *part, int exclude, char ***paths, int *n,
                         td_err *err)
{
    *paths = NULL;
    *n = 0;
    char **v;
    int nv;
    /* The .csv files of dir and of its subdirectories (DeepRacer's training-simtrace/). */
    int rc = td_dir_list(dir, TD_DIR_FILES | TD_DIR_DEPTH(1), is_csv, NULL, &v, &nv, err);
    if (rc)
        return rc;
    /* Keep the matching files (compacting the list in place). */
    size_t skip = strlen(dir) + 1;
    int k = 0;
    for (int i = 0; i < nv; i++) {
        int has = part && strstr(v[i] + skip, part) != NULL;
        if (!part || has != exclude)
            v[k++] = v[i];
        else
            td_free(v[i]);
    }
    if (k == 0) {
        td_free(v);
        return td_err_set(err, TD_ENOENT, "%s: no simtrace .csv files%s%s%s", dir,
                          part ? (exclude ? " without '" : " with '") : "", part ? part : "",
                          part ? "' in their path" : "");
    }
    *paths = v;
    *n = k;
    return 0;
}

int td_simtrace_read_dir_match(td_simtrace *t, const char *dir, const char *part, int exclude,
                               td_err *err)
{
    char **paths;
    int n;
    int rc = td_simtrace_list_dir(dir, part, exclude, &paths, &n, err);
    for (int i = 0; i < n && !rc; i++)
        rc = td_simtrace_read(t, paths[i], err);
    td_dir_list_free(paths, n);
    return rc;
}
