/*
 * bundle_internal.h - what building (bundle.c) and reading (bundle_read.c) a bundle share.
 */
#ifndef TD_BUNDLE_INTERNAL_H
#define TD_BUNDLE_INTERNAL_H

#include <stddef.h>

#include "trackday/infer.h"

#define MANIFEST  "manifest.json"
#define SIGNATURE "manifest.sig"

/* Bytes of one observation in health/observations.bin: camera, then lidar, then state. */
size_t td__bundle_obs_bytes(const td_infer_info *in);
/* qsort's comparison of doubles, ascending. */
int td__bundle_cmp_double(const void *a, const void *b);

#endif
