/*
 * infer.h - trackday's device inference runtime (layer infer/): loads a `.tdm` model file
 * (docs/model-format.md) into one arena and runs the policy tower forward, observation to
 * action, in fp32 or int8. C99, libc and libm only, no other trackday header: it builds
 * alone (cc -std=c99 -O2 src/infer/[all .c files] -lm) for a Raspberry Pi or a microcontroller.
 *
 *   td_infer_model *m;
 *   td_infer_err err;
 *   if (td_infer_open_file(&m, "model.tdm", &err) != 0) { fprintf(stderr, "%s\n", err.msg); }
 *   td_infer_obs obs = {frame, NULL, NULL};      // 160x120 grey bytes
 *   td_infer_action act;
 *   td_infer_run(m, &obs, &act);                  // act.index / act.steering_angle, act.speed
 *   td_infer_close(m);
 *
 * Memory: a model lives in ONE block: the caller's arena (td_infer_arena_size, then
 * td_infer_load) or one malloc made by td_infer_open_*. Nothing is allocated after loading;
 * td_infer_run allocates nothing. A model is not thread-safe: use one per thread.
 */
#ifndef TRACKDAY_INFER_H
#define TRACKDAY_INFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TD_INFER_FORMAT_VERSION 1

/* Return codes: 0 or one of these (negative). */
typedef enum td_infer_status {
    TD_INFER_OK = 0,
    TD_INFER_EINVAL = -1,       /* bad argument (NULL, missing observation part, ...) */
    TD_INFER_EIO = -2,          /* the file could not be read or written */
    TD_INFER_ENOMEM = -3,       /* allocation failed */
    TD_INFER_ETRUNCATED = -4,   /* the file is shorter than its header says */
    TD_INFER_EMAGIC = -5,       /* not a trackday model file */
    TD_INFER_EVERSION = -6,     /* format version or flags this reader does not know */
    TD_INFER_ECHECKSUM = -7,    /* CRC-32 mismatch: the file is corrupted */
    TD_INFER_EJSON = -8,        /* the header is not valid JSON */
    TD_INFER_EHEADER = -9,      /* a header key is missing or has a bad type or value */
    TD_INFER_ETENSOR = -10,     /* tensor table: dtype, size, offset, overlap, name */
    TD_INFER_ETOPOLOGY = -11,   /* the tensors or inputs do not match the topology */
    TD_INFER_EARENA = -12,      /* the arena is too small */
    TD_INFER_EUNSUPPORTED = -13 /* valid but not supported by this runtime */
} td_infer_status;

/* A short constant description of a return code. */
const char *td_infer_strerror(int code);

/* The detailed message of a failure: what is wrong and where (tensor, key, byte offset). */
typedef struct td_infer_err {
    char msg[256];
} td_infer_err;

typedef enum td_infer_head {
    TD_INFER_HEAD_CATEGORICAL = 0,
    TD_INFER_HEAD_GAUSSIAN = 1,
    TD_INFER_HEAD_VALUE = 2,
    TD_INFER_HEAD_Q = 3
} td_infer_head;

/* One discrete action of the action space. */
typedef struct td_infer_discrete_action {
    float steering_angle; /* degrees */
    float speed;          /* m/s */
} td_infer_discrete_action;

/* What a loaded model is (read-only; valid until the model is closed). */
typedef struct td_infer_info {
    int camera_h, camera_w, camera_c; /* camera input (uint8, channels-last); 0 = none */
    int lidar_dim;                    /* 0 = none */
    int state_dim;                    /* 0 = none */
    int continuous;                   /* 0: discrete action space, 1: continuous */
    td_infer_head head;               /* of the policy tower */
    int n_out;                        /* head outputs: n_actions (discrete) or 2 (mean) */
    int n_actions;                    /* discrete: entries of actions[] */
    const td_infer_discrete_action *actions;
    float steering_low, steering_high; /* continuous: degrees */
    float speed_low, speed_high;       /* continuous: m/s */
    int mapping_unit;                  /* continuous: 1 = mean in [-1,1] mapped to [low,high]
                                          (PPO), 0 = mean already in [low,high] (SAC) */
    int squash_tanh;                   /* gaussian head: the mean is tanh(output) */
    int n_layers;                      /* conv + dense layers of the policy tower */
    int n_int8_layers;                 /* of which int8 */
    long long n_params;                /* parameters of the policy tower */
    double flops;                      /* per observation: 2 x multiply-adds */
    size_t arena_size;                 /* bytes of the block the model lives in */
    int isa;                           /* the kernels in use (td_infer_isa) */
} td_infer_info;

/* One observation; the parts the model does not use may be NULL. */
typedef struct td_infer_obs {
    const uint8_t *camera; /* camera_h * camera_w * camera_c bytes, top row first */
    const float *lidar;    /* lidar_dim floats */
    const float *state;    /* state_dim floats */
} td_infer_obs;

/* The chosen action: discrete argmax, or the continuous mean mapped to the action space. */
typedef struct td_infer_action {
    int index;            /* discrete: the action index; continuous: -1 */
    float steering_angle; /* degrees */
    float speed;          /* m/s */
} td_infer_action;

typedef struct td_infer_model td_infer_model;

/* ---- loading -------------------------------------------------------------------------- */

/*
 * Validates a model file held in memory (every check of docs/model-format.md section 6) and
 * sets *size to the bytes of the arena td_infer_load needs for it. It parses the header into
 * a temporary malloc'd block (a few KB, freed before returning); td_infer_load itself
 * allocates nothing, so a device without malloc can compute the size offline.
 */
int td_infer_arena_size(const void *buf, size_t len, size_t *size, td_infer_err *err);

/*
 * Loads the model file in buf (len bytes) into the caller's arena (arena_size bytes, any
 * alignment): tensors, scratch buffers and metadata are copied there, so buf may be freed
 * afterwards; the arena must stay alive and untouched until the model is no longer used.
 * td_infer_close on such a model does nothing. On error *out is NULL and err says why.
 */
int td_infer_load(td_infer_model **out, const void *buf, size_t len, void *arena, size_t arena_size,
                  td_infer_err *err);

/* As td_infer_load into one block this function allocates; td_infer_close frees it. */
int td_infer_open_buffer(td_infer_model **out, const void *buf, size_t len, td_infer_err *err);

/* Reads the file at path and loads it as td_infer_open_buffer does. */
int td_infer_open_file(td_infer_model **out, const char *path, td_infer_err *err);

/* Frees a model from td_infer_open_* (NULL is fine). */
void td_infer_close(td_infer_model *m);

const td_infer_info *td_infer_get_info(const td_infer_model *m);

/*
 * A tensor of the policy tower as stored in the file: name ("policy.head.weight"), dtype
 * ("f32" or "i8"), shape (up to 4 dims). Returns 0 and fills the out pointers (each may be
 * NULL), or TD_INFER_EINVAL if there is no such tensor. data points into the model's arena.
 */
int td_infer_get_tensor(const td_infer_model *m, const char *name, const char **dtype, int shape[4],
                        int *ndim, const void **data, size_t *nbytes);

/* ---- running -------------------------------------------------------------------------- */

/*
 * Runs the policy tower on one observation and chooses the action: discrete = argmax of the
 * logits; continuous = the mean, clipped and mapped to the action space (see mapping_unit).
 * act may be NULL (then only the outputs below are updated). A continuous mean that is NaN
 * (a network whose activations overflowed) gives the middle of the steering range and the
 * lowest speed, so the action is always finite and in range. Allocates nothing. Returns
 * TD_INFER_EINVAL if a part of the observation the model needs is NULL.
 */
int td_infer_run(td_infer_model *m, const td_infer_obs *obs, td_infer_action *act);

/*
 * The raw head outputs of the last run: n_out logits (categorical) or means before squash and
 * mapping (gaussian). Valid until the next run.
 */
const float *td_infer_output(const td_infer_model *m);

/* Softmax of the logits of the last run (categorical heads), else NULL. */
const float *td_infer_probs(const td_infer_model *m);

/*
 * Selects the kernels td_infer_run uses: 0 = the fast ones (default), 1 = the naive
 * reference loops (direct convolution, double accumulation) that tests hold the fast path
 * to. Int8 layers have an exact integer reference.
 */
void td_infer_set_reference(td_infer_model *m, int reference);

/* ---- kernels and CPU features --------------------------------------------------------- */

/*
 * The instruction sets the kernels are written for. A model uses the best one this CPU and
 * operating system support (read at run time) unless told otherwise; all give the same int8
 * results bit for bit, and fp32 results within rounding (the order of additions differs).
 */
typedef enum td_infer_isa {
    TD_INFER_ISA_AUTO = 0,         /* the best supported (td_infer_isa_best) */
    TD_INFER_ISA_GENERIC = 1,      /* portable C (the compiler vectorizes what it can) */
    TD_INFER_ISA_AVX2 = 2,         /* x86-64 AVX2 + FMA; int8 as exact 16-bit multiply-adds */
    TD_INFER_ISA_AVX_VNNI = 3,     /* x86-64 AVX2 + AVX-VNNI (u8 x s8 dot products, 256 bits) */
    TD_INFER_ISA_AVX512_VNNI = 4,  /* x86-64 AVX-512 F/BW/VL + VNNI (512 bits) */
    TD_INFER_ISA_NEON = 5,         /* AArch64 Advanced SIMD */
    TD_INFER_ISA_NEON_DOTPROD = 6, /* AArch64 Advanced SIMD + dot product (ARMv8.2 SDOT) */
    TD_INFER_ISA_COUNT = 7
} td_infer_isa;

/* "generic", "avx2", "avx-vnni", "avx512-vnni", "neon", "neon-dotprod" ("auto" for 0). */
const char *td_infer_isa_name(int isa);
/* The td_infer_isa of a name, or -1. */
int td_infer_isa_parse(const char *name);
/* 1 when isa's kernels are compiled in and this CPU and OS can run them. */
int td_infer_isa_supported(int isa);
/* The best supported isa; the environment variable TD_INFER_ISA=<name> picks another
 * supported one (to measure or test it on this machine). */
int td_infer_isa_best(void);
/* Makes m use isa's kernels (AUTO: the best); TD_INFER_EUNSUPPORTED when not supported. */
int td_infer_set_isa(td_infer_model *m, int isa);

/* ---- int8 quantization ---------------------------------------------------------------- */

/*
 * Calibration observations for td_infer_quantize: fills obs with observation i (0 <= i < n).
 * It is called twice for every i (two passes) and must give the same observation both times.
 * Returns 0, or nonzero to abort.
 */
typedef int (*td_infer_obs_fn)(void *ctx, int i, td_infer_obs *obs);

typedef struct td_infer_quant_options {
    double percentile;       /* activation range: 0 (default) = the clip value with the least
                                squared quantization error over a histogram of the calibration
                                values; 100 = min/max; in (50, 100) = that percentile */
    int quantize_head;       /* 0 (default): keep the head layer fp32 */
    int bias_correction;     /* 1 (default): add each int8 layer's mean output error, measured
                                on up to 64 calibration observations, to its bias */
    const char *parent;      /* lineage.parent of the output (e.g. the fp32 file); may be NULL */
    const char *calibration; /* lineage.calibration text, e.g. "rendered:reInvent2019:1000" */
} td_infer_quant_options;

void td_infer_quant_options_default(td_infer_quant_options *opt);

/*
 * Quantizes the fp32 model file in buf to int8: weights symmetric per output channel,
 * each layer's input activation per tensor (uint8 with a zero point; zero point 0 after a
 * ReLU), calibrated on n observations from next_obs. Writes a new model file (policy tower
 * only, canonical layout) into a block *out of *out_len bytes that the caller frees with
 * td_infer_free.
 */
int td_infer_quantize(const void *buf, size_t len, td_infer_obs_fn next_obs, void *ctx, int n,
                      const td_infer_quant_options *opt, void **out, size_t *out_len,
                      td_infer_err *err);

/* Frees a block returned by td_infer_quantize. */
void td_infer_free(void *p);

/* CRC-32 (IEEE, zlib's) of len bytes, continuing from crc (start with 0). */
uint32_t td_infer_crc32(uint32_t crc, const void *data, size_t len);

/* ---- the file's framing (every writer and reader of .tdm files uses these) --------------- */

/* Where the data starts after a header of header_len bytes (64-byte aligned). */
size_t td_infer_frame_data_offset(size_t header_len);
/* The bytes of a whole file: prologue, header, padding, data, CRC trailer. */
size_t td_infer_frame_size(size_t header_len, size_t data_size);
/* Writes the prologue (magic, this format version, no flags, header length) and the header
 * into a zeroed file of td_infer_frame_size bytes; returns the data offset. */
size_t td_infer_frame_begin(uint8_t *file, const char *header, size_t header_len);
/* Writes the CRC-32 trailer once the data is in place (and again after changing it). */
void td_infer_frame_end(uint8_t *file, size_t total);
/* Checks the prologue of a file in memory (length, magic, version, flags, header length) and
 * finds the header and the data; the CRC and the header's content are checked apart. */
int td_infer_frame_check(const void *buf, size_t len, const char **header, size_t *header_len,
                         size_t *data_off, td_infer_err *err);
/* Checks that the file's length is the one its header gives (data_size bytes of data at
 * data_off, then the trailer): "truncated" or "trailing bytes" otherwise. */
int td_infer_frame_check_size(size_t len, size_t data_off, size_t data_size, td_infer_err *err);
/* Checks the CRC-32 trailer. */
int td_infer_frame_check_crc(const void *buf, size_t len, td_infer_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_INFER_H */
