/*
 * hash.c - CRC-32 for file checksums and FNV-1a for cheap content identifiers.
 */
#include "trackday/core.h"

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint32_t td_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    /* The table is a pure function of constants, so a racing first use writes equal values. */
    if (!crc_ready)
        crc_init();
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
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
