/*
 * protobuf.h - a minimal Protocol Buffers WRITER for the model exporters (export.c): varint,
 * fixed32 and length-delimited fields into a growing buffer, nested messages by reserving
 * their length and closing them afterwards. Reading protobuf is never needed (the tests read
 * the exports with ONNX's and OpenCV's own parsers), so there is no schema compiler and no
 * generated code: each exporter states its field numbers next to where it writes them.
 */
#ifndef TD_NN_PROTOBUF_H
#define TD_NN_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct td__pb {
    uint8_t *buf;
    size_t len, cap;
    int oom; /* an allocation failed: every later write is dropped; check at the end */
} td__pb;

/* Wire types. */
enum { TD__PB_VARINT = 0, TD__PB_FIXED64 = 1, TD__PB_LEN = 2, TD__PB_FIXED32 = 5 };

void td__pb_init(td__pb *p);
void td__pb_free(td__pb *p);

/* A varint field (uint32/uint64/bool/enum; int32 and int64 values as two's complement). */
void td__pb_varint_field(td__pb *p, int field, uint64_t v);
void td__pb_int_field(td__pb *p, int field, int64_t v);
/* A float field (fixed32, little-endian IEEE-754). */
void td__pb_float_field(td__pb *p, int field, float v);
/* A length-delimited field: bytes, string. */
void td__pb_bytes_field(td__pb *p, int field, const void *data, size_t n);
void td__pb_string_field(td__pb *p, int field, const char *s);
/* A packed repeated int64 / float field. */
void td__pb_packed_int64(td__pb *p, int field, const int64_t *v, int n);
void td__pb_packed_float(td__pb *p, int field, const float *v, size_t n);

/*
 * Opens a nested message in field `field`; write its fields, then td__pb_end(p, mark).
 * Messages nest to any depth; the length prefix is the minimal varint.
 */
size_t td__pb_begin(td__pb *p, int field);
void td__pb_end(td__pb *p, size_t mark);

/* Appends n raw bytes (the payload of a bytes field being written by hand). */
void td__pb_raw(td__pb *p, const void *data, size_t n);

/* Appends n raw little-endian floats (the payload of a bytes field being written by hand). */
void td__pb_raw_floats(td__pb *p, const float *v, size_t n);

#endif
