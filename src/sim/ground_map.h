/*
 * ground_map.h - the private layout of td_ground_map, shared by ground_map.c (which builds
 * it) and camera.c (which reads it once per pixel). Not a public header.
 */
#ifndef TD_SIM_GROUND_MAP_H
#define TD_SIM_GROUND_MAP_H

#include <stdint.h>

#include "trackday/sensors.h"

/* Width of the painted lines and the dash pattern of the centre line (metres). */
#define TD__BORDER_LINE_M 0.05
#define TD__CENTER_LINE_M 0.05
#define TD__DASH_PERIOD_M 0.6
/* Grass around the track's bounding box, so the camera sees grass beyond the borders. */
#define TD__GROUND_PAD_M 2.0

/*
 * Levels of detail: level k has cells 2^k times larger than level 0 over the same area and
 * origin. The camera samples each screen row from the level whose cells are about one pixel
 * wide there, so near rows get fine lines and far rows touch a small map (fewer cache misses,
 * less shimmer).
 */
#define TD__GROUND_LEVELS 4

/* A cell's byte: the ground class in the low bits, the floor's grain (0..63) above them. */
#define TD__CLASS_MASK  3
#define TD__GRAIN_SHIFT 2

typedef struct td__ground_level {
    double cell_m;   /* cell side */
    double inv_cell; /* 1 / cell_m */
    int w, h;        /* cells along x and y */
    uint8_t *cls;    /* (h, w) ground class | grain << TD__GRAIN_SHIFT, row y = 0 first */
} td__ground_level;

struct td_ground_map {
    double x0, y0; /* world position of the corner of cell (0, 0), every level */
    int nlevels;
    td__ground_level level[TD__GROUND_LEVELS];
    double dash_period_m; /* actual dash period: the nominal one fitted to the track length */
};

#endif
