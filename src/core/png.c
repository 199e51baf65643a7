/*
 * png.c - PNG files through libpng: atomic writes of grey, RGB and RGBA images, and reads.
 */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/core.h"

typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed;
} membuf;

static void mem_write(png_structp png, png_bytep data, png_size_t len)
{
    membuf *m = png_get_io_ptr(png);
    if (m->failed)
        return;
    if (m->len + len > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 65536;
        while (ncap < m->len + len)
            ncap *= 2;
        uint8_t *nd = td_realloc(m->data, ncap);
        if (!nd) {
            m->failed = 1;
            return;
        }
        m->data = nd;
        m->cap = ncap;
    }
    memcpy(m->data + m->len, data, len);
    m->len += len;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

int td_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels,
                 td_err *err)
{
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB,
                                 PNG_COLOR_TYPE_RGBA};
    membuf m = {0};
    png_structp png;
    png_infop info;
    int rc;

    if (width <= 0 || height <= 0 || channels < 1 || channels > 4 || channels == 2)
        return td_err_set(err, TD_EINVAL, "%s: bad image shape %dx%dx%d", path, width, height,
                          channels);
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png)
        return td_err_set(err, TD_ENOMEM, "%s: cannot create PNG writer", path);
    info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        td_free(m.data);
        return td_err_set(err, TD_EIO, "%s: PNG encoding failed", path);
    }
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, types[channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * width * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (m.failed) {
        td_free(m.data);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory encoding PNG", path);
    }
    rc = td_file_write_atomic(path, m.data, m.len, err);
    td_free(m.data);
    return rc;
}

typedef struct {
    const uint8_t *data;
    size_t len, pos;
} memreader;

static void mem_read(png_structp png, png_bytep out, png_size_t len)
{
    memreader *r = png_get_io_ptr(png);
    if (r->pos + len > r->len)
        png_error(png, "truncated PNG");
    memcpy(out, r->data + r->pos, len);
    r->pos += len;
}

int td_png_read(const char *path, uint8_t **pixels, int *width, int *height, int *channels,
                td_err *err)
{
    char *file = NULL;
    size_t len;
    memreader r;
    png_structp png;
    png_infop info;
    uint8_t *volatile out = NULL;
    int rc;

    *pixels = NULL;
    rc = td_file_read(path, &file, &len, err);
    if (rc)
        return rc;
    if (len < 8 || png_sig_cmp((png_const_bytep)file, 0, 8)) {
        td_free(file);
        return td_err_set(err, TD_EFORMAT, "%s: not a PNG file", path);
    }
    r.data = (const uint8_t *)file;
    r.len = len;
    r.pos = 0;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        td_free(file);
        return td_err_set(err, TD_ENOMEM, "%s: cannot create PNG reader", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        td_free(file);
        td_free(out);
        return td_err_set(err, TD_EFORMAT, "%s: corrupt PNG", path);
    }
    png_set_read_fn(png, &r, mem_read);
    png_read_info(png, info);
    png_set_strip_16(png);
    png_set_packing(png);
    png_set_palette_to_rgb(png);
    png_set_expand_gray_1_2_4_to_8(png);
    png_read_update_info(png, info);
    {
        int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
        int c = png_get_channels(png, info);
        size_t rowbytes = png_get_rowbytes(png, info);
        out = td_malloc((size_t)h * rowbytes);
        if (!out)
            png_error(png, "out of memory");
        for (int y = 0; y < h; y++)
            png_read_row(png, out + (size_t)y * rowbytes, NULL);
        *width = w;
        *height = h;
        *channels = c;
    }
    png_destroy_read_struct(&png, &info, NULL);
    td_free(file);
    *pixels = out;
    return 0;
}
