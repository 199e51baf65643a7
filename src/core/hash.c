/*
 * hash.c - CRC-32 for file checksums (zlib's) and FNV-1a for cheap content identifiers.
 */
#include <zlib.h>

#include "trackday/core.h"

/* zlib's CRC-32: its tables are constants, so first uses from several threads do not race. */
uint32_t td_crc32(uint32_t crc, const void *data, size_t len)
{
    return (uint32_t)crc32_z(crc, (const Bytef *)data, len);
}

uint64_t td_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    while (len--) {
        h ^= *p++;
        h *= 1099511628211ULL;
    }
    return h;
}
