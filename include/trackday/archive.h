/*
 * archive.h - gzip-compressed tar archives (.tar.gz) held in memory: written for model
 * bundles and DeepRacer car archives, read back with limits because an archive may come
 * from anywhere. Only regular files with plain relative names are accepted: no links,
 * devices, absolute paths, "..", or duplicate names. Part of the core layer (zlib).
 *
 *   td_archive a;
 *   td_archive_init(&a);
 *   td_archive_add(&a, "model.pb", pb, pb_len, &err);
 *   td_archive_write_targz(&a, "car.tar.gz", 0, &err);
 *   td_archive_free(&a);
 */
#ifndef TRACKDAY_ARCHIVE_H
#define TRACKDAY_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_ARCHIVE_NAME_LEN 100 /* ustar's name field; longer names are refused */

typedef struct td_archive_entry {
    char name[TD_ARCHIVE_NAME_LEN + 1];
    uint8_t *data; /* owned by the archive */
    size_t size;
} td_archive_entry;

typedef struct td_archive {
    int n, cap;
    td_archive_entry *entries;
} td_archive;

/* What a reader accepts (td_archive_limits_default: 64 entries, 1 GiB in all, 1 GiB each). */
typedef struct td_archive_limits {
    int max_entries;
    uint64_t max_total_bytes; /* uncompressed, all entries */
    uint64_t max_entry_bytes;
} td_archive_limits;

void td_archive_limits_default(td_archive_limits *l);

void td_archive_init(td_archive *a);
void td_archive_free(td_archive *a);

/*
 * Adds a copy of data (size bytes) under name, a relative path of at most 100 bytes made of
 * [A-Za-z0-9._-] and "/" separators, no "." or ".." part. A name already present is an error.
 */
int td_archive_add(td_archive *a, const char *name, const void *data, size_t size, td_err *err);

/* The entry named name, or NULL. */
const td_archive_entry *td_archive_find(const td_archive *a, const char *name);

/*
 * Serializes the archive as tar (ustar, entries in insertion order, mode 0644, owner 0, the
 * given mtime in seconds) compressed with gzip, into *out (td_malloc'd) of *out_len bytes.
 * The same archive and mtime give the same bytes.
 */
int td_archive_to_targz(const td_archive *a, int64_t mtime, uint8_t **out, size_t *out_len,
                        td_err *err);

/*
 * The archive as an uncompressed tar in canonical form (*out td_malloc'd): the headers
 * td_archive_to_targz writes with mtime 0, data padded with zeros to 512 bytes, two zero
 * blocks at the end and nothing else. Every byte of it is determined by the entries' names,
 * sizes and data, so td_archive_read_tar can check all of them.
 */
int td_archive_to_tar(const td_archive *a, uint8_t **out, size_t *out_len, td_err *err);

/* td_archive_to_targz, then an atomic write to path. */
int td_archive_write_targz(const td_archive *a, const char *path, int64_t mtime, td_err *err);

/*
 * Reads a .tar.gz held in memory into a (initialized here; free it with td_archive_free even
 * on error). Refuses, with a message naming the entry: a bad gzip stream or tar header
 * checksum, a truncated archive, anything but regular files and directories (directories are
 * skipped), unsafe or duplicate names, and anything beyond the limits (NULL: defaults).
 */
int td_archive_read_targz(td_archive *a, const void *buf, size_t len, const td_archive_limits *lim,
                          td_err *err);

/*
 * Reads a canonical tar (td_archive_to_tar) held in memory, with the reader's limits and
 * refusals as above, and byte for byte: each header must equal the one td_archive_to_tar
 * writes for that name and size, padding must be zero, and exactly two zero blocks end it.
 */
int td_archive_read_tar(td_archive *a, const void *buf, size_t len, const td_archive_limits *lim,
                        td_err *err);

/* Reads the file at path (at most lim->max_total_bytes of compressed data) as above. */
int td_archive_read_targz_file(td_archive *a, const char *path, const td_archive_limits *lim,
                               td_err *err);

/* ---- any tar, one member at a time (tar_read.c) ------------------------------------------ */

/*
 * The one tar reader under td_archive_read_*, td_archive_stream_file and the hub's upload
 * reader: ustar, GNU long names and pax paths; header checksums and number fields checked;
 * data and padding skipped when the caller does not read them. A member's name is reported as
 * stored, never used as a path here: what a caller accepts (names, types, sizes) is its own
 * policy.
 */
typedef struct td_tar_reader td_tar_reader;

typedef struct td_tar_member {
    char name[4096];     /* as stored: ustar prefix/name, or the GNU or pax long name */
    uint64_t size;       /* data bytes */
    uint32_t mode;       /* permission bits */
    char type;           /* the typeflag: '0' or '\0' file, '5' directory, '1'/'2' links, ... */
    int long_name;       /* 1 when the name came from a GNU long-name or pax entry */
    int index;           /* 1 for the first member */
    uint8_t header[512]; /* the member's own header block, as read */
} td_tar_member;

/* A tar or .tar.gz file (zlib reads either), streamed. An end without the closing zero
 * blocks is accepted; what follows them is not read. Close with td_tar_close. */
int td_tar_open_file(td_tar_reader **out, const char *path, td_err *err);
/* A .tar.gz in memory (buf must outlive the reader), checked byte for byte: the gzip header,
 * the deflate stream, the trailer's CRC-32 and length, nothing but zeros after the tar's end
 * and nothing after the gzip stream. */
int td_tar_open_gzip_memory(td_tar_reader **out, const void *buf, size_t len, td_err *err);
/* A plain tar in memory; canonical: padding must be zero and exactly two zero blocks end it
 * (else any number of zero blocks may). */
int td_tar_open_memory(td_tar_reader **out, const void *buf, size_t len, int canonical,
                       td_err *err);
/* The next member into m: 1, 0 at the end of the archive, or a negative TD_E* code (bad
 * checksum or number field, truncation, a long name over 16 KiB, damaged compression). */
int td_tar_next(td_tar_reader *r, td_tar_member *m, td_err *err);
/* Up to cap bytes of the current member's data: bytes read, 0 at its end, < 0 on error. */
ssize_t td_tar_read(td_tar_reader *r, void *buf, size_t cap, td_err *err);
/* Exactly n bytes of the current member's data (n at most what is left of it). */
int td_tar_read_exact(td_tar_reader *r, void *buf, size_t n, td_err *err);
/* Tar bytes consumed so far (headers, data, padding), to bound the work an archive costs. */
uint64_t td_tar_position(const td_tar_reader *r);
void td_tar_close(td_tar_reader *r);

/* ---- archives other tools wrote, as a stream (archive_stream.c) ---------------------------- */

/*
 * DeepRacer's exports (a DeepRacer on AWS virtual model, a console model archive) are read
 * differently from trackday's own archives: they hold names td_archive refuses (':' in time
 * stamps, pax and GNU long names), hundreds of files and large TensorFlow checkpoints. This
 * reader streams through such an archive (gzip-compressed or not; ustar, GNU long names, pax
 * paths) without holding it: `want` sees each regular file's name as stored (never used as a
 * path here) and size; `file` gets the bytes of those it wants. The archive may hold at most
 * max_total bytes and a wanted file at most max_file; a damaged or cut archive is an error.
 */
typedef int (*td_tar_want_fn)(void *user, const char *name, uint64_t size);
/* A wanted member's bytes (NUL-terminated; len without it). Nonzero stops the reading. */
typedef int (*td_tar_file_fn)(void *user, const char *name, const char *data, size_t len,
                              td_err *err);

int td_archive_stream_file(const char *path, td_tar_want_fn want, td_tar_file_fn file, void *user,
                           uint64_t max_total, uint64_t max_file, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_ARCHIVE_H */
