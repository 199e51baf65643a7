/*
 * infer_internal.h - what the files of the device runtime (src/infer/) share: a minimal JSON
 * reader for the model header, the model's in-arena layout, and the kernels. C99, libc only.
 * Included by relative path so compiling the .c files of src/infer alone needs no -I.
 */
#ifndef TD_INFER_INTERNAL_H
#define TD_INFER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../../include/trackday/infer.h"

/* ---- JSON ----------------------------------------------------------------------------- */

enum { TDI_NULL, TDI_FALSE, TDI_TRUE, TDI_NUM, TDI_STR, TDI_ARR, TDI_OBJ };

/* One JSON value. Children of arrays and objects are linked through first / next. */
typedef struct tdi_json {
    int type;
    int n;                     /* number of children (array, object) */
    int first;                 /* index of the first child, -1 if none */
    int next;                  /* index of the next sibling, -1 if none */
    const char *key;           /* member name when the parent is an object (NUL-terminated) */
    const char *str;           /* string value (unescaped, NUL-terminated) */
    size_t len;                /* its length in bytes */
    double num;                /* number value */
    size_t src_begin, src_end; /* where the value is in the source text */
} tdi_json;

/*
 * Parses text (len bytes) into nodes[0..] (node 0 is the root) with strings unescaped into
 * pool. With nodes == NULL it only validates and counts: *n_nodes and *pool_used receive the
 * capacities a real parse needs. Returns 0, or TD_INFER_EJSON with "at byte N: why" in msg.
 */
int td__infer_json_parse(const char *text, size_t len, tdi_json *nodes, int cap_nodes, char *pool,
                         size_t pool_cap, int *n_nodes, size_t *pool_used, char *msg,
                         size_t msglen);

/* The member key of object node obj, or -1. */
int td__infer_json_get(const tdi_json *nodes, int obj, const char *key);

/* Nonzero if node i is a number holding an integer in [lo, hi]; stores it in *v. */
int td__infer_json_int(const tdi_json *nodes, int i, long long lo, long long hi, long long *v);

/* ---- instruction sets compiled in --------------------------------------------------------- */

/* x86-64 kernels need GCC or clang (target attributes, <immintrin.h>); AArch64 kernels
 * <arm_neon.h>. Defining TD_INFER_NO_SIMD leaves the portable C kernels only. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TD_INFER_NO_SIMD)
#define TDI_X86 1
#else
#define TDI_X86 0
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TD_INFER_NO_SIMD)
#define TDI_ARM64 1
#else
#define TDI_ARM64 0
#endif

/* ---- model layout --------------------------------------------------------------------- */

#define TDI_MAX_LAYERS  40
#define TDI_MAX_TENSORS 160
#define TDI_NAME_LEN    64

enum { TDI_CONV = 0, TDI_DENSE = 1 };
enum { TDI_BR_CAMERA = 0, TDI_BR_LIDAR = 1, TDI_BR_STATE = 2, TDI_BR_TRUNK = 3, TDI_BR_HEAD = 4 };

typedef struct tdi_tensor {
    char name[TDI_NAME_LEN];
    int is_i8;
    int ndim;
    int shape[4];
    size_t offset; /* in the file's data section */
    size_t nbytes;
    const void *data; /* in the arena after loading */
    /* int8 weights */
    int scale_tensor; /* index of the f32 scale tensor, -1 */
    double input_scale;
    int input_zero_point;
} tdi_tensor;

/* One conv or dense layer of the policy tower. */
typedef struct tdi_layer {
    int kind;   /* TDI_CONV / TDI_DENSE */
    int branch; /* TDI_BR_* */
    int relu;
    int in_h, in_w, in_c; /* conv input; dense: in_c = input length, in_h = in_w = 1 */
    int out_h, out_w, oc; /* dense: out_h = out_w = 1 */
    int k, s;
    int int8;
    int w_tensor, b_tensor;
    const float *w;      /* fp32 weights as stored: (OC, K, K, C) or (OC, C) */
    const float *wt;     /* fp32 conv weights transposed to (K*K*C, OC) for the fast kernel */
    const int8_t *wq;    /* int8 weights (OC, K*K*C) / (OC, C) */
    const float *bias;   /* (OC) */
    const float *wscale; /* int8: (OC) */
    float *mult;         /* int8: wscale[o] * in_scale (OC) */
    int32_t *wsum;       /* int8: zero_point * sum_c wq[o][c] (OC) */
    int32_t *wsum_raw;   /* int8: sum_c wq[o][c] (OC) */
    /* int8 weights packed for the SIMD kernels (conv layers; NULL when not compiled in):
     * "4" layouts hold 4 consecutive inputs of one output in a 32-bit lane, V outputs side by
     * side: [OC/V][K4/4][V][4] bytes (K4 = K*K*C rounded up to 4, zero padding); wp2_8 holds
     * 16-bit weights, x86: pairs of inputs [OC/8][K2/2][8][2], AArch64: [OC/8][K4][8]. */
    int kk, k4, k2; /* K*K*C (dense: C), rounded up to 4 and to 2 */
    int8_t *wp4_16; /* x86 AVX-512 VNNI, AArch64 SDOT: V = 16 */
    int8_t *wp4_8;  /* x86 AVX-VNNI: V = 8 */
    int16_t *wp2_8; /* x86 AVX2, AArch64 NEON: V = 8 */
    void *work;     /* SIMD kernels: im2col rows / the widened dense input */
    float in_scale; /* int8 input quantization */
    int in_zp;
    const float *in; /* fp32 input (arena) */
    uint8_t *qin;    /* int8: quantized input (arena) */
    uint8_t *cols;   /* int8 conv: im2col rows (arena) */
    float *out;      /* output (arena) */
    size_t in_len, out_len;
    /* calibration */
    float cal_min, cal_max;
} tdi_layer;

struct td_infer_model {
    td_infer_info info;
    int n_tensors;
    tdi_tensor tensors[TDI_MAX_TENSORS];
    int n_layers;
    tdi_layer layers[TDI_MAX_LAYERS];
    int first_layer[5]; /* index of the first layer of each branch, or -1 */
    int n_branch_layers[5];
    /* branch outputs and the concatenation */
    size_t cam_len, lidar_len, state_len, concat_len;
    float *camera_f;          /* the camera input as floats (fp32 first layer) */
    float *lidar_f, *state_f; /* preprocessed lidar and state */
    float *concat;
    float *out;   /* head outputs (n_out) */
    float *probs; /* softmax (categorical) */
    const float *log_std;
    /* preprocessing */
    float cam_scale, cam_offset;
    float lidar_scale, lidar_offset, state_scale, state_offset;
    const float *lidar_mean, *lidar_std, *state_mean, *state_std; /* in the arena or NULL */
    td_infer_discrete_action *actions;
    int reference;
    int isa;         /* td_infer_isa of the kernels in use */
    int calibrating; /* record per-layer input ranges in cal_min / cal_max */
    float *cal_hist; /* percentile calibration: histograms (n_layers x TDI_HIST) */
    int cal_pass;    /* 0: ranges, 1: histograms, 2: cal_hook (bias correction) */
    void (*cal_hook)(void *ctx, struct td_infer_model *m, int layer, const float *in);
    void *cal_ctx;
    const tdi_json *json; /* the parsed header (in the arena); node 0 is the root */
    void *owned;          /* the block to free in td_infer_close, or NULL */
};

#define TDI_HIST 2048

/* Runs the tower (internal entry used by td_infer_run and calibration). */
int td__infer_forward(td_infer_model *m, const td_infer_obs *obs);

/* Formats a message into err (may be NULL) and returns code. */
int td__infer_fail(td_infer_err *err, int code, const char *fmt, ...);

/* ---- checking a file (check.c), for the loader (load.c) ---------------------------------- */

#define TDI_ALIGN64(x) (((x) + (size_t)63) & ~(size_t)63)

/* The file's frame: prologue, header bounds. */
typedef struct tdi_frame {
    const uint8_t *buf;
    size_t len;
    const char *json;
    size_t json_len;
    size_t data_off;
} tdi_frame;

/* A check in progress. */
typedef struct tdi_check {
    const tdi_frame *f;
    const tdi_json *j;
    size_t data_size;
    td_infer_model *m; /* filled while checking */
    size_t scratch;    /* bytes of derived data and buffers (aligned pieces) */
    size_t tensor_bytes;
    td_infer_err *err;
} tdi_check;

/* The prologue (magic, version, header length) into f. */
int td__infer_check_prologue(const uint8_t *buf, size_t len, tdi_frame *f, td_infer_err *err);
/* Parses the header into nodes (counting first when nodes is NULL). */
int td__infer_parse_header(const tdi_frame *f, tdi_json *nodes, int cap, char *pool,
                           size_t pool_cap, int *n_nodes, size_t *pool_used, td_infer_err *err);
/*
 * Checks the whole file against its parsed header (length, checksum, tensor table, every
 * tower's topology, action space, preprocessing) and fills c->m (layers, tensors, info) and the
 * byte counts the arena needs. record_actions: also copy the discrete actions (m->actions must
 * exist).
 */
int td__infer_check_model(tdi_check *c, int record_actions);
/* The action space alone (record_actions: copy the discrete actions into m->actions). */
int td__infer_check_action_space(tdi_check *c, int record_actions);
/* Preprocessing of one input: scale/offset and optional per-element mean/std (into stats, 2 *
 * dim floats, when not NULL; *has_stats says whether the file has them). */
int td__infer_check_preproc(tdi_check *c, const char *key, int dim, float *scale, float *offset,
                            float *stats, int *has_stats);

/* ---- kernels (kernels.c fp32, kernels_i8.c int8, kernels_x86.c, kernels_arm.c) ------------ */

/* out (OH*OW, OC) = relu?(bias + conv(in (H, W, C), w)), weights transposed wt (K*K*C, OC). */
void td__infer_conv_f32(int isa, float *out, const float *in, const float *wt, const float *bias,
                        int H, int W, int C, int OC, int K, int S, int relu);
/* out (OC) = relu?(bias + W (OC, C) x in (C)). */
void td__infer_dense_f32(int isa, float *out, const float *in, const float *w, const float *bias,
                         int C, int OC, int relu);
/* The int8 conv / dense layer L on its quantized input q (u8), with isa's kernels. */
void td__infer_conv_i8_isa(int isa, const tdi_layer *L, float *out, const uint8_t *q);
void td__infer_dense_i8_isa(int isa, const tdi_layer *L, float *out, const uint8_t *q);
/* Fills L's packed weights (wp4_16, wp4_8, wp2_8 where allocated) from L->wq. */
void td__infer_pack_weights(tdi_layer *L);
/* int8: acc = sum wq * qin - wsum; out = bias + mult * acc. */
/* cols: an (OH*OW, K*K*C) byte workspace for the im2col rows. */
void td__infer_conv_i8(float *out, uint8_t *cols, const uint8_t *in, const int8_t *wq,
                       const int32_t *wsum, const float *mult, const float *bias, int H, int W,
                       int C, int OC, int K, int S, int relu);
void td__infer_dense_i8(float *out, const uint8_t *in, const int8_t *wq, const int32_t *wsum,
                        const float *mult, const float *bias, int C, int OC, int relu);
/* Naive references (double accumulation for fp32; exact integers for int8). */
void td__infer_conv_ref(float *out, const float *in, const float *w, const float *bias, int H,
                        int W, int C, int OC, int K, int S, int relu);
void td__infer_dense_ref(float *out, const float *in, const float *w, const float *bias, int C,
                         int OC, int relu);
void td__infer_conv_i8_ref(float *out, const uint8_t *in, const int8_t *wq, int zp,
                           const float *mult, const float *bias, int H, int W, int C, int OC, int K,
                           int S, int relu);
void td__infer_dense_i8_ref(float *out, const uint8_t *in, const int8_t *wq, int zp,
                            const float *mult, const float *bias, int C, int OC, int relu);
/* q[i] = clamp(round(x[i] / scale) + zp, 0, 255). */
void td__infer_quantize_u8(int isa, uint8_t *q, const float *x, size_t n, float scale, int zp);

/* SIMD kernels (kernels_x86.c, kernels_arm.c): return 0 when they ran, -1 when isa is not
 * theirs (the caller then uses the portable kernels). */
int td__infer_i8_x86(int isa, const tdi_layer *L, float *out, const uint8_t *q);
int td__infer_i8_arm(int isa, const tdi_layer *L, float *out, const uint8_t *q);

/* The int8 epilogue, the same float operations in every kernel (separate statements, so no
 * compiler fuses them into an FMA): bias + mult * (float)acc, then ReLU. acc is exact. */
#define TDI_REQUANT(acc, mult, bias, relu, outv)                                                   \
    do {                                                                                           \
        float tdi_d_ = (float)(acc);                                                               \
        float tdi_p_ = (mult)*tdi_d_;                                                              \
        float tdi_v_ = (bias) + tdi_p_;                                                            \
        (outv) = (relu) && tdi_v_ < 0.0f ? 0.0f : tdi_v_;                                          \
    } while (0)

#endif
