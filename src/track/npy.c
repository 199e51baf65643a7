/*
 * npy.c - reads and writes DeepRacer route files: NumPy .npy arrays (format versions 1.0, 2.0 and
 * 3.0) of dtype '<f8', C order, shape (N, 6). Only what a route needs is accepted; anything
 * else is rejected with a message naming the file and the problem.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track/track_internal.h"

#define NPY_MAGIC     "\x93NUMPY"
#define NPY_MAGIC_LEN 6

/* ---- header dictionary -------------------------------------------------------------------- */

/*
 * The header is a Python dict literal such as
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (119, 6), }
 * padded with spaces and a newline. find_key returns a pointer just after "key':", or NULL.
 */
static const char *find_key(const char *hdr, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = hdr; (p = strchr(p, '\'')) != NULL; p++) {
        if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '\'') {
            const char *q = p + 2 + klen;
            while (*q == ' ')
                q++;
            if (*q == ':')
                return q + 1;
        }
    }
    return NULL;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Parses a quoted string value into out. Returns 0 or -1. */
static int parse_str(const char *p, char *out, size_t cap)
{
    p = skip_ws(p);
    if (*p != '\'' && *p != '"')
        return -1;
    char quote = *p++;
    size_t k = 0;
    while (*p && *p != quote) {
        if (k + 1 < cap)
            out[k++] = *p;
        p++;
    }
    out[k] = '\0';
    return *p == quote ? 0 : -1;
}

/* Parses a shape tuple "(a, b, ...)". Returns the number of dimensions or -1. */
static int parse_shape(const char *p, long *dims, int maxdims)
{
    int nd = 0;
    p = skip_ws(p);
    if (*p != '(')
        return -1;
    p++;
    for (;;) {
        p = skip_ws(p);
        if (*p == ')')
            return nd;
        if (!isdigit((unsigned char)*p))
            return -1;
        char *end;
        long v = strtol(p, &end, 10);
        if (nd < maxdims)
            dims[nd] = v;
        nd++;
        p = skip_ws(end);
        if (*p == 'L') /* Python 2 long suffix */
            p = skip_ws(p + 1);
        if (*p == ',')
            p++;
        else if (*p != ')')
            return -1;
    }
}

/* ---- the reader ---------------------------------------------------------------------------- */

static double le_f64(const unsigned char *b)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = (u << 8) | b[i];
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/*
 * Parses an .npy image already in memory into rows (a new td_malloc buffer of nrows * 6
 * doubles). `path` names the file in messages.
 */
static int npy_parse(const unsigned char *data, size_t len, const char *path, double **rows_out,
                     int *nrows_out, td_err *err)
{
    *rows_out = NULL;
    if (len < NPY_MAGIC_LEN + 2 || memcmp(data, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return td_err_set(err, TD_EFORMAT, "%s: not a NumPy .npy file (bad magic)", path);
    int major = data[6], minor = data[7];
    size_t hlen, hstart;
    if (major == 1) {
        if (len < 10)
            return td_err_set(err, TD_EFORMAT, "%s: truncated .npy header", path);
        hlen = (size_t)data[8] | ((size_t)data[9] << 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return td_err_set(err, TD_EFORMAT, "%s: truncated .npy header", path);
        hlen = (size_t)data[8] | ((size_t)data[9] << 8) | ((size_t)data[10] << 16) |
               ((size_t)data[11] << 24);
        hstart = 12;
    } else {
        return td_err_set(err, TD_EVERSION,
                          "%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)",
                          path, major, minor);
    }
    if (minor != 0)
        return td_err_set(err, TD_EVERSION,
                          "%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)",
                          path, major, minor);
    if (hlen > len - hstart)
        return td_err_set(err, TD_EFORMAT,
                          "%s: truncated .npy header (%zu header bytes announced, %zu present)",
                          path, hlen, len - hstart);
    char *hdr = td_malloc(hlen + 1);
    if (!hdr)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    memcpy(hdr, data + hstart, hlen);
    hdr[hlen] = '\0';

    int rc = 0;
    char descr[32];
    long dims[4];
    const char *v;
    if (!(v = find_key(hdr, "descr")) || parse_str(v, descr, sizeof(descr)) != 0) {
        rc = td_err_set(err, TD_EFORMAT, "%s: .npy header has no readable 'descr'", path);
        goto out;
    }
    if (strcmp(descr, "<f8") != 0) {
        rc = td_err_set(err, TD_EFORMAT,
                        "%s: dtype is '%s', a route must be '<f8' (little-endian float64)", path,
                        descr);
        goto out;
    }
    if (!(v = find_key(hdr, "fortran_order"))) {
        rc = td_err_set(err, TD_EFORMAT, "%s: .npy header has no 'fortran_order'", path);
        goto out;
    }
    v = skip_ws(v);
    if (strncmp(v, "True", 4) == 0) {
        rc = td_err_set(err, TD_EFORMAT, "%s: array is in Fortran order; a route must be C order",
                        path);
        goto out;
    }
    if (strncmp(v, "False", 5) != 0) {
        rc = td_err_set(err, TD_EFORMAT, "%s: .npy header 'fortran_order' is not True/False", path);
        goto out;
    }
    int nd;
    if (!(v = find_key(hdr, "shape")) || (nd = parse_shape(v, dims, 4)) < 0) {
        rc = td_err_set(err, TD_EFORMAT, "%s: .npy header has no readable 'shape'", path);
        goto out;
    }
    if (nd != 2 || dims[1] != 6) {
        char shape[96];
        int k = snprintf(shape, sizeof(shape), "(");
        for (int i = 0; i < nd && i < 4 && k < (int)sizeof(shape); i++)
            k += snprintf(shape + k, sizeof(shape) - (size_t)k, i ? ", %ld" : "%ld", dims[i]);
        if (k < (int)sizeof(shape))
            snprintf(shape + k, sizeof(shape) - (size_t)k, "%s", nd == 1 ? ",)" : ")");
        rc = td_err_set(err, TD_EFORMAT,
                        "%s: shape is %s, a route must be (N, 6): center, inner and outer x, y",
                        path, shape);
        goto out;
    }
    if (dims[0] > TD_TRACK_MAX_ROWS) {
        rc = td_err_set(err, TD_ERANGE, "%s: has %ld rows; a route may have at most %d", path,
                        dims[0], TD_TRACK_MAX_ROWS);
        goto out;
    }
    size_t need = (size_t)dims[0] * 6 * 8;
    size_t have = len - hstart - hlen;
    if (have < need) {
        rc = td_err_set(err, TD_EFORMAT,
                        "%s: truncated data: shape (%ld, 6) needs %zu bytes, the file has %zu",
                        path, dims[0], need, have);
        goto out;
    }
    if (have > need) {
        rc = td_err_set(err, TD_EFORMAT, "%s: %zu unexpected bytes after the (%ld, 6) array", path,
                        have - need, dims[0]);
        goto out;
    }
    double *rows = td_malloc(need ? need : 8);
    if (!rows) {
        rc = td_err_set(err, TD_ENOMEM, "%s: out of memory for %ld rows", path, dims[0]);
        goto out;
    }
    const unsigned char *p = data + hstart + hlen;
    for (size_t i = 0; i < (size_t)dims[0] * 6; i++)
        rows[i] = le_f64(p + 8 * i);
    *rows_out = rows;
    *nrows_out = (int)dims[0];
out:
    td_free(hdr);
    return rc;
}

int td_track_load_npy(td_track *t, const char *path, td_err *err)
{
    char *data;
    size_t len;
    double *rows;
    int nrows = 0;
    memset(t, 0, sizeof(*t));
    int rc = td_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    rc = npy_parse((const unsigned char *)data, len, path, &rows, &nrows, err);
    td_free(data);
    if (rc)
        return rc;
    char name[TD_TRACK_NAME_LEN];
    td_path_stem(path, name, sizeof(name));
    rc = td_track_from_rows(t, rows, nrows, name, path, err);
    td_free(rows);
    if (rc == 0)
        rc = td__track_check_loaded(t, path, err);
    return rc;
}

int td_track_save_npy(const td_track *t, const char *path, td_err *err)
{
    char dict[128];
    int dlen = snprintf(dict, sizeof(dict),
                        "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, 6), }", t->n);
    /* Magic (6) + version (2) + header length (2) + dict, padded with spaces and a newline
     * to a multiple of 64 bytes, as numpy writes it. */
    size_t head = 10 + (size_t)dlen + 1;
    size_t pad = (64 - head % 64) % 64;
    size_t hlen = (size_t)dlen + pad + 1;
    size_t total = 10 + hlen + (size_t)t->n * 48;
    unsigned char *buf = td_malloc(total);
    if (!buf)
        return td_err_set(err, TD_ENOMEM, "%s: out of memory", path);
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)dlen);
    memset(buf + 10 + dlen, ' ', pad);
    buf[10 + hlen - 1] = '\n';
    unsigned char *p = buf + 10 + hlen;
    for (int i = 0; i < t->n; i++) {
        const double v[6] = {t->center[2 * i],    t->center[2 * i + 1], t->inner[2 * i],
                             t->inner[2 * i + 1], t->outer[2 * i],      t->outer[2 * i + 1]};
        for (int j = 0; j < 6; j++) {
            uint64_t u;
            memcpy(&u, &v[j], 8);
            for (int b = 0; b < 8; b++)
                *p++ = (unsigned char)(u >> (8 * b));
        }
    }
    int rc = td_file_write_atomic(path, buf, total, err);
    td_free(buf);
    return rc;
}
