/*
 * core.h - the bottom layer of trackday: error codes, allocation, logging, random
 * numbers, files, time and JSON helpers. Every other layer may use it; it uses nothing
 * of trackday.
 */
#ifndef TRACKDAY_CORE_H
#define TRACKDAY_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Errors                                                                               */
/* ------------------------------------------------------------------------------------ */

/* One table of error codes. Library functions return 0 or one of these (negative). */
#define TD_ERRNO_MAP(X)                                                                            \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(INVAL, -2, "invalid argument")                                                               \
    X(IO, -3, "input/output error")                                                                \
    X(NOENT, -4, "no such file or entry")                                                          \
    X(FORMAT, -5, "malformed input")                                                               \
    X(VERSION, -6, "unsupported version")                                                          \
    X(CHECKSUM, -7, "checksum mismatch")                                                           \
    X(RANGE, -8, "value out of range")                                                             \
    X(UNSUPPORTED, -9, "not supported")                                                            \
    X(TIMEOUT, -10, "timed out")                                                                   \
    X(INTERRUPTED, -11, "interrupted")                                                             \
    X(REWARD, -12, "reward function error")                                                        \
    X(INTERNAL, -13, "internal error")                                                             \
    X(CONFLICT, -14, "already exists or changed meanwhile")                                        \
    X(PERM, -15, "permission denied")                                                              \
    X(LIMIT, -16, "limit exceeded")

enum {
    TD_OK = 0,
#define TD__ERRNO_ENUM(name, val, msg) TD_E##name = val,
    TD_ERRNO_MAP(TD__ERRNO_ENUM)
#undef TD__ERRNO_ENUM
};

/* Returns a static English description of an error code; never NULL. */
const char *td_strerror(int code);

/* Returns the symbolic name of an error code ("TD_EFORMAT"); never NULL. */
const char *td_err_name(int code);

/*
 * A message buffer for errors the user must act on: what was wrong and where (file,
 * line, key, value). Functions that take a `td_err *` may be given NULL.
 */
#define TD_ERR_MSG_LEN 1024
typedef struct td_err {
    int code;
    char msg[TD_ERR_MSG_LEN];
} td_err;

/* The formatter behind td_err_set (out of line). */
void td__err_vformat(td_err *err, int code, const char *fmt, va_list ap);

/*
 * Sets err (if not NULL) to code and a formatted message; returns code. Inline so static
 * analysers see that `return td_err_set(err, TD_EIO, ...)` returns its code (an error path
 * they would otherwise follow as a success).
 */
static inline int td_err_set(td_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int td_err_set(td_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    td__err_vformat(err, code, fmt, ap);
    va_end(ap);
    return code;
}

/*
 * floor(v) and ceil(v) as an int, held to +-1e9 (NaN gives -1e9): for pixel and grid-cell
 * indices computed from coordinates that come from files or the command line, where a plain
 * cast of an out-of-range double is undefined behaviour. Callers clamp to their range after.
 */
static inline int td__floor_int(double v)
{
    if (!(v > -1e9))
        return -1000000000;
    if (v > 1e9)
        return 1000000000;
    int i = (int)v;
    return (double)i > v ? i - 1 : i;
}

/* ceil(v) = -floor(-v), but NaN (which -v keeps) gives -1e9 here too, as v <= -1e9 does. */
static inline int td__ceil_int(double v)
{
    if (!(v > -1e9))
        return -1000000000;
    return -td__floor_int(-v);
}

/* Prefixes err's message (if err is not NULL) with a formatted context ("file.json: ");
 * returns code unchanged, so `return td_err_prefix(err, rc, "%s: ", path);` passes the
 * callee's code through whether or not the caller gave a message buffer. */
int td_err_prefix(td_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err (if not NULL). */
void td_err_clear(td_err *err);

/* ------------------------------------------------------------------------------------ */
/* Allocation                                                                           */
/* ------------------------------------------------------------------------------------ */

/*
 * Every allocation in trackday goes through these, so tests can count live allocations
 * and inject failures. td_free(NULL) does nothing. Memory from td_malloc_aligned is freed
 * with td_free too.
 */
void *td_malloc(size_t size);
void *td_calloc(size_t count, size_t size);
void *td_realloc(void *ptr, size_t size);
void *td_malloc_aligned(size_t alignment, size_t size);
char *td_strdup(const char *s);
void td_free(void *ptr);

/*
 * One allocation per buffer group (STYLE rule 4, llm.c's malloc_and_point): a group lists its
 * buffers once, as X(name, type, count) rows of an X-macro; TD_GROUP_BYTES sums their sizes
 * (each rounded up to 64 bytes) into a size_t `total`, and after one allocation of `total`
 * bytes into `uint8_t *block`, TD_GROUP_POINT points g->name at its place (NULL for a count
 * of 0), advancing a size_t `off`. Freeing the group is one td_free(block).
 */
#define TD_GROUP_ROUND(n)                 (((size_t)(n) + 63) & ~(size_t)63)
#define TD_GROUP_BYTES(name, type, count) total += TD_GROUP_ROUND((size_t)(count) * sizeof(type));
#define TD_GROUP_POINT(name, type, count)                                                          \
    g->name = (count) > 0 ? (type *)(void *)(block + off) : NULL;                                  \
    off += TD_GROUP_ROUND((size_t)(count) * sizeof(type));

/* Number of allocations made and not yet freed (for leak checks in tests). */
long td_alloc_live(void);

/* Makes the n-th allocation from now (0 = the next) fail; -1 turns injection off. */
void td_alloc_fail_after(long n);

/* ------------------------------------------------------------------------------------ */
/* Logging                                                                              */
/* ------------------------------------------------------------------------------------ */

typedef enum td_log_level {
    TD_LOG_DEBUG = 0,
    TD_LOG_INFO = 1,
    TD_LOG_WARN = 2,
    TD_LOG_ERROR = 3,
    TD_LOG_OFF = 4
} td_log_level;

/*
 * A sink receives every message at or above the current level. The default writes to stderr.
 * There is one sink and one level per process (the library never prints otherwise); both may
 * be set from any thread at any time, and a sink may be called from any thread (an env's
 * workers log too), so it must be thread-safe.
 */
typedef void (*td_log_sink)(td_log_level level, const char *msg, void *user);

void td_log_set_level(td_log_level level);
td_log_level td_log_get_level(void);
void td_log_set_sink(td_log_sink sink, void *user);
void td_log(td_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define TD_DEBUG(...) td_log(TD_LOG_DEBUG, __VA_ARGS__)
#define TD_INFO(...)  td_log(TD_LOG_INFO, __VA_ARGS__)
#define TD_WARN(...)  td_log(TD_LOG_WARN, __VA_ARGS__)
#define TD_ERROR(...) td_log(TD_LOG_ERROR, __VA_ARGS__)

/* ------------------------------------------------------------------------------------ */
/* Random numbers                                                                       */
/* ------------------------------------------------------------------------------------ */

/*
 * PCG32 (O'Neill, XSH-RR output over a 64-bit LCG). Each (seed, stream) pair is an
 * independent sequence, so every car of a vector env gets its own stream and a run is
 * reproducible whatever the thread schedule.
 */
typedef struct td_rng {
    uint64_t state;
    uint64_t inc;
} td_rng;

void td_rng_seed(td_rng *rng, uint64_t seed, uint64_t stream);
uint32_t td_rng_u32(td_rng *rng);
/* Uniform integer in [0, bound), unbiased. bound must be > 0. */
uint32_t td_rng_below(td_rng *rng, uint32_t bound);
/* Uniform double in [0, 1) with 53 random bits. */
double td_rng_uniform(td_rng *rng);
/* Uniform double in [lo, hi). */
double td_rng_range(td_rng *rng, double lo, double hi);
/* Standard normal (Box-Muller; no cached second value, so the state is just the struct). */
double td_rng_normal(td_rng *rng);

/* ------------------------------------------------------------------------------------ */
/* Files and time                                                                       */
/* ------------------------------------------------------------------------------------ */

/*
 * Reads a whole file into a new buffer (NUL-terminated; the terminator is not counted in
 * *len). The caller frees *data with td_free. On error *data is NULL and err says why.
 */
int td_file_read(const char *path, char **data, size_t *len, td_err *err);

/*
 * Writes data to path atomically: a temporary file beside it, fsync, rename, fsync of the
 * directory. Readers see the old file or the new one, never a partial one. With
 * TRACKDAY_SCRATCH=1 in the environment (a hub worker's jobs) the fsyncs are skipped.
 */
int td_file_write_atomic(const char *path, const void *data, size_t len, td_err *err);

/*
 * Takes the lock of directory dir (flock on dir/.trackday-lock, created if missing): shared
 * for readers that need its files as one consistent set, exclusive for the writer that
 * changes several of them together (the trainer at the end of an iteration). Blocks until
 * granted. Returns the descriptor to give td_dir_unlock, or -1 with err set.
 */
int td_dir_lock(const char *dir, int exclusive, td_err *err);
void td_dir_unlock(int fd);

/* Creates a directory and its parents (like mkdir -p). Existing directories are fine. */
int td_mkdir_p(const char *path, td_err *err);

/* What td_dir_list gives (or-ed). Neither FILES nor DIRS: entries of every kind. */
#define TD_DIR_FILES  1 /* regular files (links followed) */
#define TD_DIR_DIRS   2 /* directories */
#define TD_DIR_PATHS  4 /* "dir/name" rather than the name alone */
#define TD_DIR_HIDDEN 8 /* names that start with '.' too (never "." and "..") */
/* The files of subdirectories too, down to k levels (k 1-255); implies TD_DIR_PATHS. */
#define TD_DIR_DEPTH(k) ((k) << 8)

/* Accepts (1) or leaves out (0) an entry by its name (without the directory). */
typedef int (*td_dir_filter)(const char *name, void *user);

/*
 * The entries of dir of the kinds flags asks for that keep accepts (every one when keep is
 * NULL), in natural order (td_str_natural_cmp: "2-x" before "10-x"), as *n new strings (the
 * names, or paths with TD_DIR_PATHS); free them with td_dir_list_free. Names that start with
 * '.' are left out unless TD_DIR_HIDDEN. An empty directory gives *n = 0. Errors: TD_ENOENT
 * "DIR: no such directory", TD_EIO (cannot be opened), TD_ENOMEM. A subdirectory that cannot
 * be read holds nothing.
 */
int td_dir_list(const char *dir, int flags, td_dir_filter keep, void *user, char ***names, int *n,
                td_err *err);
void td_dir_list_free(char **names, int n);

/* Compares names with runs of digits compared by value ("2-x" < "10-x" < "10-y"). */
int td_str_natural_cmp(const char *a, const char *b);
/* Sorts n strings in td_str_natural_cmp's order. */
void td_str_sort_natural(char **names, int n);

/* Removes path: a file, or a directory and everything below it (links removed, never
 * followed). What cannot be removed stays; nothing is reported. */
void td_remove_tree(const char *path);

/* The file name of path without directories and extension ("a/b/reinvent_base.npy" ->
 * "reinvent_base"), truncated to fit cap bytes with the terminator. */
void td_path_stem(const char *path, char *out, size_t cap);

/*
 * Builds a path with snprintf's format into out (cap bytes) and checks that it fit: a path cut
 * short would name another file (or write somewhere else). Returns 0, or TD_ERANGE with a
 * message giving the start of the path and the limit (err may be NULL).
 */
int td_path_fmt(char *out, size_t cap, td_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* dir + "/" + name into out, checked as td_path_fmt. */
int td_path_join(char *out, size_t cap, const char *dir, const char *name, td_err *err);

/* 1 if s ends with suffix ("model.tdm", ".tdm"), else 0. */
int td_str_ends_with(const char *s, const char *suffix);

/* Returns 1 if path exists (file or directory), else 0. */
int td_path_exists(const char *path);

/* Monotonic seconds since an arbitrary origin. */
double td_time_now(void);

/* CPU seconds used by this process (every thread), and by the calling thread alone, since an
 * arbitrary origin: what a benchmark measures on a shared machine, where wall time also
 * counts the other programs. */
double td_time_cpu(void);
double td_time_thread_cpu(void);

/* Wall-clock seconds since the Unix epoch. */
double td_time_wall(void);

/* ------------------------------------------------------------------------------------ */
/* Names                                                                                */
/* ------------------------------------------------------------------------------------ */

/* Edit distance between a and b (insertions, deletions, substitutions and swaps of two
 * neighbours each cost 1), letters compared without case. Names longer than 127 bytes are
 * compared on their first 127. */
int td_name_distance(const char *a, const char *b);

/*
 * The name among names[0..n) closest to `name` by td_name_distance, or NULL when none is
 * close enough to be a likely typo (distance at most 2, or a third of the name's length for
 * longer names). *dist (may be NULL) receives the distance of the returned name.
 */
const char *td_closest_name(const char *name, const char *const *names, int n, int *dist);

/* ------------------------------------------------------------------------------------ */
/* Checksums                                                                            */
/* ------------------------------------------------------------------------------------ */

/* CRC-32 (IEEE 802.3, as zlib). Pass 0 as crc to start; feed chunks to continue. */
uint32_t td_crc32(uint32_t crc, const void *data, size_t len);

/* 64-bit FNV-1a hash, for content identifiers that need no cryptographic strength. */
uint64_t td_fnv1a64(const void *data, size_t len);

/* ------------------------------------------------------------------------------------ */
/* Images                                                                               */
/* ------------------------------------------------------------------------------------ */

/*
 * Writes an 8-bit PNG atomically. channels is 1 (grey), 3 (RGB) or 4 (RGBA); pixels are
 * row-major, rows of width * channels bytes, top row first.
 */
int td_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels,
                 td_err *err);

/*
 * Reads an 8-bit grey, RGB or RGBA PNG. *pixels is a new buffer (td_free) of
 * width * height * channels bytes.
 */
int td_png_read(const char *path, uint8_t **pixels, int *width, int *height, int *channels,
                td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_CORE_H */
