/*
 * tar.h - model directories travel as .tar.gz: a reader that takes hostile archives (every
 * path checked, links and devices refused, sizes bounded) and a pull-driven writer that
 * streams an archive of files on disk without holding it in memory (the server's downloads,
 * the client's uploads through libcurl's read callback). Also the content-addressed blob
 * store the hub keeps files in.
 */
#ifndef TD_HUB_TAR_H
#define TD_HUB_TAR_H

#include <stdint.h>
#include <sys/types.h>

#include "trackday/core.h"

#define TD_TAR_PATH_MAX 240

/* ---- Paths ------------------------------------------------------------------------------- */

/*
 * Checks and normalises a relative path from an archive or a URL: strips "./" components and
 * a trailing "/", refuses an absolute path, "..", empty names, control characters, a
 * backslash, a name that is not UTF-8 and anything longer than TD_TAR_PATH_MAX. Returns 0 and
 * writes the clean path into out, or TD_EINVAL with a message naming the path.
 */
int td__path_clean(const char *in, char *out, size_t cap, td_err *err);

/* 1 when s[0..n) is UTF-8 without NUL bytes, overlong forms or surrogates. */
int td__utf8_valid(const char *s, size_t n);
/* Replaces every byte that is not part of a valid UTF-8 sequence with '?' (for messages that
 * quote client input: jansson refuses strings that are not UTF-8). */
void td__utf8_scrub(char *s);

/* ---- Reading ----------------------------------------------------------------------------- */

typedef struct td__tar_entry {
    char path[TD_TAR_PATH_MAX + 16]; /* clean, relative */
    uint64_t size;
    int mode;
    int is_dir;
} td__tar_entry;

typedef struct td__tar_reader td__tar_reader;

/* Opens a .tar.gz (or an uncompressed .tar) file. Free with td__tar_close. */
int td__tar_open(td__tar_reader **out, const char *path, td_err *err);
/* The next file or directory: 1 (e filled), 0 at the end, < 0 on a malformed or hostile
 * archive (symlink, hard link, device, bad checksum, bad path, truncated). */
int td__tar_next(td__tar_reader *r, td__tar_entry *e, td_err *err);
/* Reads the current file's data: bytes read, 0 at its end, < 0 on error. */
ssize_t td__tar_read(td__tar_reader *r, void *buf, size_t cap, td_err *err);
void td__tar_close(td__tar_reader *r);

/* ---- Writing ----------------------------------------------------------------------------- */

typedef struct td__tgz_item {
    char path[TD_TAR_PATH_MAX + 16]; /* name in the archive */
    char *src;                       /* file on disk (td_free'd by td__tgz_free) */
    uint64_t size;
    int mode;
} td__tgz_item;

typedef struct td__tgz td__tgz;

/*
 * A gzip-compressed ustar archive of items, produced on demand by td__tgz_read. Takes
 * ownership of items (an array from td_malloc). mtime is written into every header so the
 * same files give the same bytes.
 */
int td__tgz_new(td__tgz **out, td__tgz_item *items, int count, int64_t mtime, td_err *err);
/* Fills buf with up to cap bytes: count, 0 at the end, < 0 on error (a file changed size or
 * could not be read; err says which). */
ssize_t td__tgz_read(td__tgz *t, void *buf, size_t cap, td_err *err);
void td__tgz_free(td__tgz *t);

/*
 * Lists the regular files under dir (recursively, sorted, hidden names and symlinks skipped)
 * as archive items with paths relative to dir. *items is td_malloc'd; free with
 * td__tgz_items_free unless handed to td__tgz_new. Fails with TD_ELIMIT beyond max_files.
 */
int td__tgz_items_from_dir(const char *dir, td__tgz_item **items, int *count, int max_files,
                           td_err *err);
void td__tgz_items_free(td__tgz_item *items, int count);

/* Writes an archive of dir to path (atomically). */
int td__tgz_write_dir(const char *dir, const char *path, td_err *err);

/*
 * Extracts a .tar.gz into dir (created), refusing what td__tar_next refuses, more than
 * max_files entries or more than max_bytes of content.
 */
int td__tar_extract(const char *archive, const char *dir, int max_files, uint64_t max_bytes,
                    td_err *err);

/* ---- Content-addressed blobs ------------------------------------------------------------- */

/* A blob is stored as ROOT/blobs/ab/abcdef... (hex SHA-256). Temporary files are written in
 * ROOT/tmp and renamed into place after fsync, so a blob is either whole or absent. */
typedef struct td__blob_writer {
    int fd;
    char tmp[1200];
    uint64_t size;
    unsigned char state[512]; /* crypto_hash_sha256_state */
} td__blob_writer;

/*
 * This process's tag in the names of its files under DIR/tmp ("HOST.PID"): hub processes
 * sharing DIR (PostgreSQL) remove at start only what a dead process of their own machine
 * left there (hub.c).
 */
const char *td__tmp_tag(void);

int td__blob_begin(const char *root, td__blob_writer *w, td_err *err);
int td__blob_write(td__blob_writer *w, const void *data, size_t len, td_err *err);
/* Makes the blob durable and visible; sha_hex receives its 64-hex-digit name. */
int td__blob_commit(const char *root, td__blob_writer *w, char sha_hex[65], td_err *err);
void td__blob_abort(td__blob_writer *w);
/* ROOT/blobs/ab/abcd... for a valid hex name; TD_EINVAL otherwise. */
int td__blob_path(const char *root, const char *sha_hex, char *out, size_t cap);
/*
 * The lock between storing blobs and collecting them (td_dir_lock of ROOT: ROOT/.trackday-lock,
 * flock): a commit holds
 * it shared while it finds its blob present (and renews its time) or renames it into place;
 * the collection (storage.c) holds it exclusive while it checks a blob once more and deletes
 * it. So a blob stored while a collection runs is either renewed before the check (kept) or
 * written again after the delete. Returns the lock's descriptor (release with
 * td__blob_unlock) or a negative error.
 */
int td__blob_lock(const char *root, int exclusive, td_err *err);
void td__blob_unlock(int fd);
/* Stores a whole file as a blob. */
int td__blob_put_file(const char *root, const char *path, char sha_hex[65], uint64_t *size,
                      td_err *err);

/* SHA-256 of a file or of memory, as 64 hex digits. */
int td__sha256_file(const char *path, char hex[65], td_err *err);
void td__sha256_hex(const void *data, size_t len, char hex[65]);

#endif
