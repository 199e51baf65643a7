/*
 * frame.c - the framing of a `.tdm` model file (docs/model-format.md section 1), in one place
 * for every writer and reader: nn/ (fp32 models from training), the int8 quantizer and the
 * loader. A file is a 24-byte prologue ("TDMODEL\0", format version, flags, header length,
 * little-endian), the JSON header, zero padding to a multiple of 64, the tensor data, and a
 * CRC-32 of everything before it.
 */
#include <string.h>

#include "infer_internal.h"

#define PROLOGUE 24

static const uint8_t MAGIC[8] = {'T', 'D', 'M', 'O', 'D', 'E', 'L', 0};

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t td_infer_frame_data_offset(size_t header_len)
{
    return (PROLOGUE + header_len + 63) & ~(size_t)63;
}

size_t td_infer_frame_size(size_t header_len, size_t data_size)
{
    return td_infer_frame_data_offset(header_len) + data_size + 4;
}

size_t td_infer_frame_begin(uint8_t *file, const char *header, size_t header_len)
{
    memcpy(file, MAGIC, 8);
    wr32(file + 8, TD_INFER_FORMAT_VERSION);
    wr32(file + 12, 0);
    wr32(file + 16, (uint32_t)header_len);
    wr32(file + 20, (uint32_t)((header_len >> 16) >> 16));
    memcpy(file + PROLOGUE, header, header_len);
    return td_infer_frame_data_offset(header_len);
}

void td_infer_frame_end(uint8_t *file, size_t total)
{
    wr32(file + total - 4, td_infer_crc32(0, file, total - 4));
}

int td_infer_frame_check(const void *buf, size_t len, const char **header, size_t *header_len,
                         size_t *data_off, td_infer_err *err)
{
    const uint8_t *b = (const uint8_t *)buf;
    uint32_t version, flags, hlo, hhi;
    if (!b)
        return td__infer_fail(err, TD_INFER_EINVAL, "no model data");
    if (len < PROLOGUE + 4)
        return td__infer_fail(err, TD_INFER_ETRUNCATED,
                              "truncated: %lu bytes, a model file has at least %d",
                              (unsigned long)len, PROLOGUE + 4);
    if (memcmp(b, MAGIC, 8) != 0)
        return td__infer_fail(err, TD_INFER_EMAGIC,
                              "bad magic: not a trackday model file (expected \"TDMODEL\\0\")");
    version = rd32(b + 8);
    flags = rd32(b + 12);
    if (version != TD_INFER_FORMAT_VERSION)
        return td__infer_fail(err, TD_INFER_EVERSION,
                              "unsupported format version %lu (this reader supports %d)",
                              (unsigned long)version, TD_INFER_FORMAT_VERSION);
    if (flags != 0)
        return td__infer_fail(err, TD_INFER_EVERSION,
                              "unknown flags 0x%lx (this reader supports none)",
                              (unsigned long)flags);
    hlo = rd32(b + 16);
    hhi = rd32(b + 20);
    if (hhi != 0 || hlo > len - PROLOGUE - 4)
        return td__infer_fail(err, TD_INFER_ETRUNCATED,
                              "truncated: the header of %lu%s bytes runs past the end of the "
                              "%lu-byte file",
                              (unsigned long)hlo, hhi ? " x 2^32 and more" : "",
                              (unsigned long)len);
    *header = (const char *)b + PROLOGUE;
    *header_len = hlo;
    *data_off = td_infer_frame_data_offset(hlo);
    return 0;
}

int td_infer_frame_check_size(size_t len, size_t data_off, size_t data_size, td_infer_err *err)
{
    if (len < 4 || len - 4 < data_off || len - 4 - data_off < data_size)
        return td__infer_fail(err, TD_INFER_ETRUNCATED,
                              "truncated: the file has %lu bytes, its header says %lu",
                              (unsigned long)len, (unsigned long)(data_off + data_size + 4));
    if (len - 4 - data_off > data_size)
        return td__infer_fail(err, TD_INFER_EHEADER,
                              "%lu trailing bytes: the file has %lu bytes, its header says %lu",
                              (unsigned long)(len - 4 - data_off - data_size), (unsigned long)len,
                              (unsigned long)(data_off + data_size + 4));
    return 0;
}

int td_infer_frame_check_crc(const void *buf, size_t len, td_infer_err *err)
{
    const uint8_t *b = (const uint8_t *)buf;
    uint32_t stored = rd32(b + len - 4);
    uint32_t computed = td_infer_crc32(0, b, len - 4);
    if (stored != computed)
        return td__infer_fail(err, TD_INFER_ECHECKSUM,
                              "checksum mismatch: stored 0x%08lx, computed 0x%08lx (the file "
                              "is corrupted or truncated)",
                              (unsigned long)stored, (unsigned long)computed);
    return 0;
}
