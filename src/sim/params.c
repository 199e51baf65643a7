/*
 * params.c - copying a td_params (params.h) without its unused object slots.
 */
#include <string.h>

#include "trackday/params.h"

void td_params_copy(td_params *dst, const td_params *src)
{
    int n = src->n_objects < 0
                ? 0
                : (src->n_objects > TD_MAX_OBJECTS ? TD_MAX_OBJECTS : src->n_objects);
    if (dst == src)
        return;
    /* The fields before the object arrays, then each array's used part, then the rest. */
    memcpy(dst, src, offsetof(td_params, objects_location));
    memcpy(dst->objects_location, src->objects_location,
           sizeof(src->objects_location[0]) * (size_t)n);
    memcpy(dst->objects_distance, src->objects_distance, sizeof(double) * (size_t)n);
    memcpy(dst->objects_distance_from_center, src->objects_distance_from_center,
           sizeof(double) * (size_t)n);
    memcpy(dst->objects_left_of_center, src->objects_left_of_center, sizeof(int) * (size_t)n);
    memcpy(dst->objects_speed, src->objects_speed, sizeof(double) * (size_t)n);
    memcpy(dst->objects_heading, src->objects_heading, sizeof(double) * (size_t)n);
    dst->object_in_camera = src->object_in_camera;
}
