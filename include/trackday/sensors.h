/*
 * sensors.h - what the car perceives: the front camera (a software renderer of the ground
 * plane, borders, centre line, boxes and horizon), the stereo pair, and the lidar with
 * DeepRacer's three encodings. Sensors see a scene: a track, its pre-rasterized ground map,
 * and boxes (obstacles and other cars). They know nothing of episodes or rewards.
 * Part of the sim layer.
 */
#ifndef TRACKDAY_SENSORS_H
#define TRACKDAY_SENSORS_H

#include "trackday/core.h"
#include "trackday/track.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- scene -------------------------------------------------------------------------------- */

enum {
    TD_BOX_OBSTACLE = 0,
    TD_BOX_CAR = 1,
    /* Surroundings the camera sees beyond the borders (decor): never hit, never in params. */
    TD_BOX_WALL = 2,
    TD_BOX_BARRIER = 3,
    TD_BOX_PERSON = 4
};

/* An oriented box standing on the ground: an obstacle or a car. */
typedef struct td_box {
    double x, y;   /* centre, metres */
    double yaw;    /* radians, counter-clockwise from +x */
    double length; /* along yaw, metres */
    double width;  /* across, metres */
    double height; /* metres */
    int kind;      /* TD_BOX_OBSTACLE or TD_BOX_CAR */
} td_box;

/*
 * The ground of a track rasterized once into a top-down map of ground classes (off-track
 * grass, road, border line, centre line dash), 0.5 cm per cell with coarser levels of detail
 * for distant rows, so the camera needs one lookup per pixel. Built once per track and
 * direction-independent (the dashes are centred so both directions see the same pattern):
 * share one map between a track and its reverse, and between threads (it is read-only).
 * About 27 MB for the largest DeepRacer track (penbay_pro). Private layout.
 */
typedef struct td_ground_map td_ground_map;

/* Ground classes of the map's cells (the camera's palette is indexed by these). */
enum {
    TD_GROUND_GRASS = 0,  /* off track */
    TD_GROUND_ROAD = 1,   /* asphalt */
    TD_GROUND_BORDER = 2, /* white line, 5 cm wide, painted on the road along both borders */
    TD_GROUND_CENTER = 3, /* dashed centre line, 5 cm wide, dashes of half a ~0.6 m period */
    TD_GROUND_CLASSES = 4
};

/* Default cell size of the ground map (metres). */
#define TD_GROUND_CELL_M 0.005

/*
 * Rasterizes a track's ground into a new map (*out, free with td_ground_map_close).
 * cell_m <= 0 picks TD_GROUND_CELL_M; otherwise it must lie in [0.002, 0.5]. The map covers
 * the track's bounding box plus 2 m of grass; beyond it the camera sees grass. Returns 0,
 * TD_EINVAL (bad cell size or track) or TD_ENOMEM, with a message in err.
 */
int td_ground_map_open(td_ground_map **out, const td_track *t, double cell_m, td_err *err);
void td_ground_map_close(td_ground_map *m);

/* Ground class (TD_GROUND_*) at a world point; TD_GROUND_GRASS outside the map. */
int td_ground_map_class_at(const td_ground_map *m, double x, double y);

/*
 * Colours, lighting and the real camera's imperfections; domain randomization perturbs a
 * copy per episode (td_look_randomize; the ranges are the TD_DR_* below, docs/sensors.md).
 * The defaults are the clean simulator: every effect off.
 */
typedef struct td_look {
    uint8_t road[3], border[3], center[3], grass[3], sky[3], obstacle[3], car[3];
    uint8_t wall[3], barrier[3], person[3]; /* the surroundings (decor) */
    double brightness;                      /* multiplier, 1 = nominal */
    double contrast;                        /* multiplier around mid-grey, 1 = nominal */
    double exposure;                        /* the camera's gain, multiplier after brightness, 1 */
    double wb[3];                           /* white balance: per-channel gains, 1 */
    double texture;      /* floor texture (road and grass grain) amplitude, grey levels, 0 */
    double sky_gradient; /* the sky darkens toward the top of the image by this fraction, 0 */
    double noise_sigma;  /* sensor noise, standard deviation in grey levels, 0 */
    double blur_s;       /* exposure time for motion blur (turning smears rows), s, 0 */
    double vignette;     /* brightness lost at the image corners (lens vignetting), 0..1, 0 */
    int decor;           /* surroundings drawn: 0 none, 1 walls, barriers, a few people, 2 more */
    double pitch_offset_deg; /* camera mount: more pitch down, degrees, 0 */
    double height_offset_m;  /* camera mount: higher lens, metres, 0 */
} td_look;

/* Domain randomization ranges (td_look_randomize draws uniformly within them). */
#define TD_DR_BRIGHTNESS_LO   0.70
#define TD_DR_BRIGHTNESS_HI   1.30
#define TD_DR_CONTRAST_LO     0.75
#define TD_DR_CONTRAST_HI     1.25
#define TD_DR_EXPOSURE_LO     0.80
#define TD_DR_EXPOSURE_HI     1.25
#define TD_DR_WB_LO           0.90
#define TD_DR_WB_HI           1.10
#define TD_DR_TEXTURE_HI      24.0 /* grey levels */
#define TD_DR_SKY_GRADIENT_HI 0.40
#define TD_DR_NOISE_HI        6.0  /* grey levels */
#define TD_DR_BLUR_HI         0.02 /* s */
#define TD_DR_VIGNETTE_HI     0.40
#define TD_DR_DECOR_P         0.75 /* probability of surroundings; then half the time many */
#define TD_DR_PITCH_HI        2.0  /* +- degrees */
#define TD_DR_HEIGHT_HI       0.01 /* +- metres */

/*
 * The ranges domain randomization draws from, a setting of training (training_params.yaml's
 * DOMAIN_RANDOMIZATION_* keys, docs/config/training_params.md): a model retrained after a
 * drift alert widens them toward what its cars saw (docs/drift.md, "Closing the loop"). A
 * struct with set == 0 (a zeroed td_race_config) means the TD_DR_* defaults.
 */
typedef struct td_dr_ranges {
    int set;              /* 0: the defaults (TD_DR_*), whatever the fields hold */
    double brightness[2]; /* lighting multiplier [lo, hi], TD_DR_BRIGHTNESS_* */
    double contrast[2];   /* contrast multiplier [lo, hi], TD_DR_CONTRAST_* */
    double exposure[2];   /* camera gain [lo, hi], TD_DR_EXPOSURE_* */
    double texture_hi;    /* floor texture amplitude up to, grey levels */
    double noise_hi;      /* sensor noise sigma up to, grey levels */
    double blur_hi;       /* motion blur exposure up to, s */
    double vignette_hi;   /* vignetting up to, 0..1 */
} td_dr_ranges;

void td_dr_ranges_default(td_dr_ranges *r); /* the TD_DR_* ranges, set = 1 */
/* Checks a range set: lo <= hi, each inside what the renderer can draw (brightness, contrast
 * and exposure in [0.05, 5], texture and noise in [0, 127] grey levels, blur in [0, 0.2] s,
 * vignette in [0, 1]). Returns 0 or TD_ERANGE naming the field. */
int td_dr_ranges_check(const td_dr_ranges *r, td_err *err);
/* dst becomes the smallest range set holding both a and b (either may be unset: defaults). */
void td_dr_ranges_union(td_dr_ranges *dst, const td_dr_ranges *a, const td_dr_ranges *b);

void td_look_default(td_look *look);
/*
 * Randomizes lighting, colours and the camera's imperfections around the defaults
 * (ENABLE_DOMAIN_RANDOMIZATION): each surface's lightness +-20 % and channels +-18 levels,
 * then every effect within its range: ranges (NULL or unset: the TD_DR_* defaults). A fixed
 * number of draws in a fixed order, whatever the ranges.
 */
void td_look_randomize_in(td_look *look, td_rng *rng, const td_dr_ranges *ranges);
void td_look_randomize(td_look *look, td_rng *rng); /* td_look_randomize_in(.., NULL) */

typedef struct td_scene {
    const td_track *track;
    const td_ground_map *ground;
    const td_box *boxes;
    int nboxes;
    const td_look *look;
    /* The surroundings (td_decor_build), drawn by the camera when look->decor > 0 (boxes of
     * level <= look->decor: decor_level[k]). Not obstacles: the lidar and the rules ignore
     * them. May be NULL. */
    const td_box *decor;
    const uint8_t *decor_level;
    int ndecor;
} td_scene;

#define TD_DECOR_MAX 96

/*
 * Builds a track's surroundings: walls around it (1 m high, 1.5 m beyond its bounding box),
 * low barriers along the outside of the road, and people-sized boxes (0.4 x 0.3 x 1.7 m)
 * standing 0.8-2.5 m beyond the borders, at positions drawn from `seed`; none touches the
 * road. level[k] is 1 for what every decorated look shows and 2 for the extra people of
 * "many". Returns the count (at most max).
 */
int td_decor_build(const td_track *t, uint64_t seed, td_box *out, uint8_t *level, int max);

/* ---- camera ------------------------------------------------------------------------------ */

typedef struct td_camera_config {
    int width, height;        /* output size, default 160 x 120 */
    double hfov_deg;          /* 64.7 */
    double pitch_deg;         /* 15, downwards */
    double height_m;          /* lens height above ground, 0.14 */
    double forward_m;         /* lens position ahead of the car origin */
    double stereo_baseline_m; /* distance between the stereo lenses */
    int supersample;          /* 1 (none) or 2 (2x2) */
} td_camera_config;

/*
 * Defaults: 160 x 120, hfov 64.7 deg, pitch 15 deg, lens 0.14 m high and 0.08 m ahead of
 * the car origin, stereo baseline 0.06 m, no supersampling (docs/sensors.md says why).
 */
void td_camera_config_default(td_camera_config *cfg);

/*
 * Checks a camera configuration (size 8..1024, fov, pitch, height, supersample 1 or 2);
 * returns 0 or TD_EINVAL naming the bad field. The render functions do nothing with a
 * configuration that fails this check.
 */
int td_camera_config_check(const td_camera_config *cfg, td_err *err);

/*
 * Renders what a camera on a car at origin pose (x, y, yaw) sees, as grey uint8 with
 * DeepRacer's luma (Y = 0.2989 R + 0.5870 G + 0.1140 B), width * height bytes, top row
 * first. No allocation. Thread-safe for distinct outputs.
 */
void td_camera_render_grey(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                           double yaw, uint8_t *out);

/* The same view in RGB (width * height * 3 bytes), for pictures. */
void td_camera_render_rgb(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                          double yaw, uint8_t *out);

/*
 * What differs from frame to frame for a real camera: the car's turn rate (motion blur) and
 * the sensor noise's draw. NULL: a still car and draw 0.
 */
typedef struct td_camera_frame {
    double yaw_rate;     /* rad/s */
    uint32_t noise_draw; /* any number; the same number gives the same noise */
} td_camera_frame;

/* td_camera_render_grey with the frame's effects (noise, blur). */
void td_camera_render_grey_frame(const td_camera_config *cfg, const td_scene *scene, double x,
                                 double y, double yaw, const td_camera_frame *frame, uint8_t *out);

/* Stereo pair: two grey images interleaved as channels (height, width, 2), left first. */
void td_camera_render_stereo(const td_camera_config *cfg, const td_scene *scene, double x, double y,
                             double yaw, uint8_t *out);

/* ---- lidar -------------------------------------------------------------------------------- */

#define TD_LIDAR_BEAMS 64

typedef struct td_lidar_config {
    int beams;            /* 64 */
    double fov_deg;       /* 300: beams over -150 .. +150 */
    double min_range_m;   /* 0.15 */
    double max_range_m;   /* 12 */
    double noise_sigma_m; /* 0.01 */
    /* DISCRETIZED_SECTOR_LIDAR */
    int num_sectors;           /* 8, must divide beams */
    int num_values_per_sector; /* 8 */
    double clipping_dist_m;    /* 2.0 */
} td_lidar_config;

/* DeepRacer's values: 64 beams over 300 deg, 0.15-12 m, sigma 0.01 m, lidar_config 8/8/2.0. */
void td_lidar_config_default(td_lidar_config *cfg);

/*
 * Checks a lidar configuration (beams 2..1024, fov in (0, 360], 0 <= min < max, sigma >= 0,
 * num_sectors dividing beams, num_values_per_sector >= 1, clipping_dist > 0); returns 0 or
 * TD_EINVAL naming the bad field. td_lidar_scan does nothing with a failing configuration.
 */
int td_lidar_config_check(const td_lidar_config *cfg, td_err *err);

/* Default grid cell size (metres). */
#define TD_LIDAR_CELL_M 0.25

/*
 * Segments of a scene's walls (track borders) in a uniform grid, built once per track.
 * Boxes are tested per scan (few of them). Private layout.
 */
typedef struct td_lidar_grid td_lidar_grid;

/*
 * Puts the inner and outer border segments of a track into a new grid (*out, free with
 * td_lidar_grid_close). cell_m <= 0 picks TD_LIDAR_CELL_M; otherwise [0.02, 10].
 * Returns 0, TD_EINVAL or TD_ENOMEM with a message.
 */
int td_lidar_grid_open(td_lidar_grid **out, const td_track *t, double cell_m, td_err *err);
void td_lidar_grid_close(td_lidar_grid *g);

/*
 * Raw scan from a car at origin pose (x, y, yaw): `beams` distances in metres, beam 0 at
 * -fov/2 (right), increasing counter-clockwise with spacing fov / (beams - 1), clipped to
 * [min, max]. The lidar sits at the car origin; walls and boxes are hit whatever their
 * height. A beam that hits nothing within max reads exactly max; a hit gets noise of sigma
 * noise_sigma_m from rng (NULL for none): a sum of four uniforms, so Gaussian-shaped with
 * tails cut at 3.45 sigma; one draw per beam, hit or not. grid may be NULL (boxes only).
 * No allocation.
 */
void td_lidar_scan(const td_lidar_config *cfg, const td_lidar_grid *grid, const td_scene *scene,
                   double x, double y, double yaw, td_rng *rng, float *out);

/*
 * The same scan searching walls and boxes only up to reach_m: a beam that finds nothing
 * that near reads max_range_m. It draws the same noise as td_lidar_scan, so for an encoding
 * whose clip distance is at most reach_m - 3.5 sigma the encoded result is identical, bit for
 * bit, and the scan is several times faster (DeepRacer's encodings clip at 0.5 to 2 m).
 * td_lidar_reach_m gives the shortest such reach for an encoding.
 */
void td_lidar_scan_reach(const td_lidar_config *cfg, const td_lidar_grid *grid,
                         const td_scene *scene, double x, double y, double yaw, td_rng *rng,
                         double reach_m, float *out);

enum {
    TD_LIDAR_REACH_RAW = 0,        /* raw metres: the full max range */
    TD_LIDAR_REACH_CLIPPED = 1,    /* LIDAR */
    TD_LIDAR_REACH_SECTOR = 2,     /* SECTOR_LIDAR */
    TD_LIDAR_REACH_DISCRETIZED = 3 /* DISCRETIZED_SECTOR_LIDAR */
};

/* Shortest reach (m) leaving an encoding (TD_LIDAR_REACH_*) unchanged: its clip + 3.5 sigma. */
double td_lidar_reach_m(const td_lidar_config *cfg, int encoding);

/*
 * Reference scan without noise by testing every wall segment and every box for every beam
 * (no grid walk, no culling): slow, for tests holding td_lidar_scan to it.
 */
void td_lidar_scan_reference(const td_lidar_config *cfg, const td_lidar_grid *grid,
                             const td_scene *scene, double x, double y, double yaw, float *out);

#define TD_LIDAR_CLIPPED_MAX_M 1.0 /* LIDAR encoding's upper clip */
#define TD_LIDAR_SECTORS       8   /* SECTOR_LIDAR's sectors */
#define TD_LIDAR_SECTOR_DIST_M 0.5 /* SECTOR_LIDAR's threshold */

/* LIDAR encoding: `beams` values, the scan clipped to [min_range, 1.0] m (in place allowed). */
void td_lidar_encode_clipped(const td_lidar_config *cfg, const float *scan, float *out);
/* SECTOR_LIDAR: 8 values, 1 if the sector's minimum < 0.5 m, else 0. */
void td_lidar_encode_sector(const td_lidar_config *cfg, const float *scan, float *out);
/*
 * DISCRETIZED_SECTOR_LIDAR: num_sectors * num_values_per_sector values. Each sector's
 * minimum m (clipping_dist first clamped to [0.15, 12] as DeepRacer does) is binned as
 * floor(min(m, clip) / (clip / num_values_per_sector)) and one-hot encoded; a sector whose
 * minimum reaches clip (nothing seen) is all zeros.
 */
void td_lidar_encode_discretized(const td_lidar_config *cfg, const float *scan, float *out);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_SENSORS_H */
