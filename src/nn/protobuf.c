/*
 * protobuf.c - the Protocol Buffers writer of protobuf.h. Encoding rules (developers.google
 * .com/protocol-buffers/docs/encoding): a key is (field << 3 | wire type) as a varint;
 * varints are 7 bits per byte, low bits first, high bit set on all but the last byte;
 * negative int32/int64 values are 10-byte varints of their two's complement; fixed32 is
 * little-endian; length-delimited fields are a varint length and the bytes.
 */
#include <string.h>

#include "nn/protobuf.h"
#include "trackday/core.h"

#define RESERVE 5 /* bytes kept for a nested message's length: up to 2^35 - 1 */

void td__pb_init(td__pb *p)
{
    memset(p, 0, sizeof(*p));
}

void td__pb_free(td__pb *p)
{
    td_free(p->buf);
    memset(p, 0, sizeof(*p));
}

static int grow(td__pb *p, size_t extra)
{
    if (p->oom)
        return 0;
    if (p->len + extra <= p->cap)
        return 1;
    size_t ncap = p->cap ? p->cap : 4096;
    while (ncap < p->len + extra)
        ncap *= 2;
    uint8_t *nb = td_realloc(p->buf, ncap);
    if (!nb) {
        p->oom = 1;
        return 0;
    }
    p->buf = nb;
    p->cap = ncap;
    return 1;
}

static void put(td__pb *p, const void *data, size_t n)
{
    if (n && grow(p, n)) {
        memcpy(p->buf + p->len, data, n);
        p->len += n;
    }
}

static size_t varint_encode(uint8_t out[10], uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static void varint(td__pb *p, uint64_t v)
{
    uint8_t b[10];
    put(p, b, varint_encode(b, v));
}

static void key(td__pb *p, int field, int wire)
{
    varint(p, (uint64_t)field << 3 | (uint64_t)wire);
}

void td__pb_varint_field(td__pb *p, int field, uint64_t v)
{
    key(p, field, TD__PB_VARINT);
    varint(p, v);
}

void td__pb_int_field(td__pb *p, int field, int64_t v)
{
    td__pb_varint_field(p, field, (uint64_t)v);
}

static void le32(uint8_t b[4], uint32_t u)
{
    b[0] = (uint8_t)u;
    b[1] = (uint8_t)(u >> 8);
    b[2] = (uint8_t)(u >> 16);
    b[3] = (uint8_t)(u >> 24);
}

void td__pb_float_field(td__pb *p, int field, float v)
{
    uint32_t u;
    uint8_t b[4];
    memcpy(&u, &v, 4);
    le32(b, u);
    key(p, field, TD__PB_FIXED32);
    put(p, b, 4);
}

void td__pb_bytes_field(td__pb *p, int field, const void *data, size_t n)
{
    key(p, field, TD__PB_LEN);
    varint(p, n);
    put(p, data, n);
}

void td__pb_string_field(td__pb *p, int field, const char *s)
{
    td__pb_bytes_field(p, field, s, strlen(s));
}

void td__pb_packed_int64(td__pb *p, int field, const int64_t *v, int n)
{
    uint8_t b[10];
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += varint_encode(b, (uint64_t)v[i]);
    key(p, field, TD__PB_LEN);
    varint(p, total);
    for (int i = 0; i < n; i++)
        varint(p, (uint64_t)v[i]);
}

void td__pb_raw(td__pb *p, const void *data, size_t n)
{
    put(p, data, n);
}

void td__pb_raw_floats(td__pb *p, const float *v, size_t n)
{
    if (!grow(p, 4 * n))
        return;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        le32(p->buf + p->len + 4 * i, u);
    }
    p->len += 4 * n;
}

void td__pb_packed_float(td__pb *p, int field, const float *v, size_t n)
{
    key(p, field, TD__PB_LEN);
    varint(p, 4 * n);
    td__pb_raw_floats(p, v, n);
}

size_t td__pb_begin(td__pb *p, int field)
{
    static const uint8_t zeros[RESERVE] = {0};
    key(p, field, TD__PB_LEN);
    size_t mark = p->len;
    put(p, zeros, RESERVE);
    return mark;
}

void td__pb_end(td__pb *p, size_t mark)
{
    uint8_t b[10];
    if (p->oom)
        return;
    size_t body = p->len - mark - RESERVE;
    if (body >= ((uint64_t)1 << 35)) {
        p->oom = 1;
        return;
    }
    size_t n = varint_encode(b, body);
    /* Shift the body left over the unused part of the reservation. */
    memmove(p->buf + mark + n, p->buf + mark + RESERVE, body);
    memcpy(p->buf + mark, b, n);
    p->len = mark + n + body;
}
