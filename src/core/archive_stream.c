/*
 * archive_stream.c - reading the files of a tar archive that another tool wrote (DeepRacer's
 * model and log exports) as a stream, without extracting it (archive.h explains why this is
 * not td_archive_read_targz): each regular file's name and size go to the caller, who says
 * whether it wants the bytes. Archives are untrusted input: the reader (tar_read.c) checks
 * every header, names are only reported (never used as paths here), and a wanted file and the
 * whole archive have size limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/archive.h"

#define BLOCK 512

int td_archive_stream_file(const char *path, td_tar_want_fn want, td_tar_file_fn file, void *user,
                           uint64_t max_total, uint64_t max_file, td_err *err)
{
    td_tar_reader *r;
    td_tar_member *m = td_malloc(sizeof(*m));
    int rc, got, members = 0;
    if (!m)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    if ((rc = td_tar_open_file(&r, path, err)) != 0) {
        td_free(m);
        return rc;
    }
    while ((got = td_tar_next(r, m, err)) > 0) {
        members++;
        uint64_t padded = (m->size + BLOCK - 1) / BLOCK * BLOCK;
        if (td_tar_position(r) + padded > max_total) {
            rc = td_err_set(err, TD_ERANGE, "%s: the archive holds more than %llu bytes", path,
                            (unsigned long long)max_total);
            break;
        }
        int regular = m->type == '0' || m->type == '\0' || m->type == '7';
        if (!regular || !want(user, m->name, m->size))
            continue; /* td_tar_next skips what is not read */
        if (m->size > max_file) {
            rc =
                td_err_set(err, TD_ERANGE, "%s: %s is %llu bytes, more than the %llu allowed", path,
                           m->name, (unsigned long long)m->size, (unsigned long long)max_file);
            break;
        }
        char *data = td_malloc((size_t)m->size + 1);
        if (!data) {
            rc = td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
            break;
        }
        if ((rc = td_tar_read_exact(r, data, (size_t)m->size, err)) != 0) {
            td_free(data);
            td_err_prefix(err, rc, "%s: ", path);
            break;
        }
        data[m->size] = '\0';
        rc = file(user, m->name, data, (size_t)m->size, err);
        td_free(data);
        if (rc)
            break;
    }
    if (got < 0) {
        rc = got;
        td_err_prefix(err, rc, "%s: ", path);
    } else if (got == 0 && !rc && members == 0 && td_tar_position(r) == 0) {
        rc = td_err_set(err, TD_EFORMAT, "%s: empty archive", path);
    }
    td_tar_close(r);
    td_free(m);
    return rc;
}
