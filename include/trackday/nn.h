/*
 * nn.h - trackday's neural-network engine (layer nn/): layers as forward/backward kernel
 * pairs (llm.c style), the Adam optimizer, gradient clipping, networks ("towers") built from
 * a topology description (DeepRacer's CNNs, the lidar branch, state MLPs), and model files.
 *
 * Conventions (shared with infer/, see docs/nn.md and docs/model-format.md):
 * - float32 activations, batch first, channels last: a camera batch is (B, H, W, C).
 * - Argument order: outputs first, then inputs, then weights, then sizes.
 * - Every *_backward ACCUMULATES (+=) into its d* buffers; callers zero them first
 *   (td_nn_net_zero_grad). A d* pointer documented as optional may be NULL to skip it.
 * - dense weight (OC, C) row-major; conv2d weight (OC, K, K, C) row-major, valid padding,
 *   square kernel K, stride S, OH = (H - K) / S + 1.
 * - OpenBLAS is used single-threaded (td_nn_init sets openblas_set_num_threads(1)): trackday
 *   parallelizes across worker processes, never inside a kernel.
 */
#ifndef TRACKDAY_NN_H
#define TRACKDAY_NN_H

#include <stddef.h>
#include <stdint.h>

#include "trackday/core.h"
#include "trackday/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Setup and matrix product                                                             */
/* ------------------------------------------------------------------------------------ */

/*
 * Prepares the engine: makes OpenBLAS single-threaded (when built with it). Idempotent and
 * cheap; td_nn_net_init calls it, so explicit calls are only needed before using the raw
 * kernels. Returns the name of the GEMM backend ("openblas" or "builtin").
 */
const char *td_nn_init(void);

/*
 * C = alpha * op(A) * op(B) + beta * C, row-major, like cblas_sgemm(CblasRowMajor, ...).
 * op(X) = X^T when trans_x is nonzero. op(A) is M x K, op(B) is K x N, C is M x N.
 * Wraps cblas_sgemm (TD_HAVE_OPENBLAS) or a cache-blocked C implementation.
 */
void td_nn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The built-in blocked GEMM, whatever the backend (for tests and the benchmark). */
void td_nn_sgemm_builtin(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* ------------------------------------------------------------------------------------ */
/* Layers: forward/backward pairs                                                        */
/* ------------------------------------------------------------------------------------ */

/*
 * Dense: out[b][o] = bias[o] + sum_c inp[b][c] * weight[o][c].
 * out (B, OC), inp (B, C), weight (OC, C), bias (OC) (may be NULL: no bias).
 * relu: nonzero applies ReLU in the epilogue (out = max(0, .)).
 */
void td_nn_dense_forward(float *out, const float *inp, const float *weight, const float *bias,
                         int B, int C, int OC, int relu);
/*
 * dinp (B, C) optional, dweight (OC, C), dbias (OC) optional; dout (B, OC) is the gradient
 * with respect to the layer's (post-activation, if fused) output; inp (B, C); weight (OC, C).
 * When the forward fused a ReLU, pass its out as relu_out: dout is masked by relu_out > 0
 * in place (dout is then modified!); otherwise pass NULL.
 */
void td_nn_dense_backward(float *dinp, float *dweight, float *dbias, float *dout,
                          const float *relu_out, const float *inp, const float *weight, int B,
                          int C, int OC);

/* Output height/width of a valid conv: (H - K) / S + 1, or 0 if the input is too small. */
int td_nn_conv2d_out_dim(int in, int K, int S);
/* Floats of the im2col buffer a conv needs: B * OH * OW * K * K * C. */
size_t td_nn_conv2d_cols_size(int B, int H, int W, int C, int K, int S);

/*
 * conv2d, valid padding, stride S, channels last.
 * out (B, OH, OW, OC), inp (B, H, W, C), weight (OC, K, K, C), bias (OC) (may be NULL).
 * cols (B*OH*OW, K*K*C) is a workspace the forward fills with the im2col matrix and the
 * backward reads again for the weight gradient (keep it unchanged between the two, so no
 * second im2col is needed). relu as for dense.
 */
void td_nn_conv2d_forward(float *out, float *cols, const float *inp, const float *weight,
                          const float *bias, int B, int H, int W, int C, int OC, int K, int S,
                          int relu);
/*
 * dinp (B, H, W, C) optional (NULL skips the input gradient: the first layer needs none),
 * dweight (OC, K, K, C), dbias (OC) optional, dcols (B*OH*OW, K*K*C) workspace needed only
 * when dinp is given, dout (B, OH, OW, OC) (masked in place when relu_out is given, as for
 * dense), cols as filled by the forward, weight (OC, K, K, C).
 */
void td_nn_conv2d_backward(float *dinp, float *dweight, float *dbias, float *dcols, float *dout,
                           const float *relu_out, const float *cols, const float *weight, int B,
                           int H, int W, int C, int OC, int K, int S);

/* ReLU, elementwise over N floats. out may equal inp. */
void td_nn_relu_forward(float *out, const float *inp, size_t N);
/* dinp += dout * (out > 0); out is the forward's output. */
void td_nn_relu_backward(float *dinp, const float *dout, const float *out, size_t N);

/* tanh, elementwise. out may equal inp. */
void td_nn_tanh_forward(float *out, const float *inp, size_t N);
/* dinp += dout * (1 - out^2). */
void td_nn_tanh_backward(float *dinp, const float *dout, const float *out, size_t N);

/* Softmax over the last axis: probs (B, V), logits (B, V). Numerically stable. */
void td_nn_softmax_forward(float *probs, const float *logits, int B, int V);
/* dlogits (B, V) += J^T dprobs. */
void td_nn_softmax_backward(float *dlogits, const float *dprobs, const float *probs, int B, int V);
/* Log-softmax: logp (B, V) = logits - logsumexp(logits). */
void td_nn_log_softmax_forward(float *logp, const float *logits, int B, int V);
/* dlogits (B, V) += dlogp - softmax * sum(dlogp). */
void td_nn_log_softmax_backward(float *dlogits, const float *dlogp, const float *logp, int B,
                                int V);

/*
 * Entropy of categorical distributions given by log-probabilities (from log-softmax):
 * ent (B) = -sum_v p log p. The backward goes straight to the logits: dlogits (B, V) +=
 * dent[b] * dH/dlogits = -dent[b] * p * (logp + H) (no separate log-softmax backward).
 */
void td_nn_categorical_entropy_forward(float *ent, const float *logp, int B, int V);
void td_nn_categorical_entropy_backward(float *dlogits, const float *dent, const float *logp, int B,
                                        int V);

/*
 * Diagonal Gaussian with a state-independent log std: mean (B, A), log_std (A), clipped to
 * [TD_NN_LOG_STD_MIN, TD_NN_LOG_STD_MAX] (DeepRacer's range); gradients do not flow through a
 * clipped entry. logp (B) = sum_a log N(action[b][a]; mean[b][a], exp(log_std[a])).
 */
#define TD_NN_LOG_STD_MIN (-20.0f)
#define TD_NN_LOG_STD_MAX 3.0f
void td_nn_gaussian_logprob_forward(float *logp, const float *mean, const float *log_std,
                                    const float *action, int B, int A);
/* dmean (B, A) += dlogp[b] * dlogp/dmean; dlog_std (A) += sum_b dlogp[b] * dlogp/dlog_std. */
void td_nn_gaussian_logprob_backward(float *dmean, float *dlog_std, const float *dlogp,
                                     const float *mean, const float *log_std, const float *action,
                                     int B, int A);
/* Entropy of one sample's distribution: sum_a (log_std[a] + 0.5 * log(2 pi e)). */
float td_nn_gaussian_entropy(const float *log_std, int A);
/* dlog_std (A) += dentropy (for each unclipped entry). */
void td_nn_gaussian_entropy_backward(float *dlog_std, float dentropy, const float *log_std, int A);

/*
 * Concatenation along the feature axis: out (B, sum C_i) = [inps[0] | inps[1] | ...],
 * inps[i] (B, C[i]). Backward splits dout and accumulates into dinps[i] (each may be NULL).
 */
void td_nn_concat_forward(float *out, const float *const *inps, const int *C, int n, int B);
void td_nn_concat_backward(float *const *dinps, const float *dout, const int *C, int n, int B);

/*
 * Losses over N values: MSE = mean((pred - target)^2); Huber (delta) = mean(h(pred - target))
 * with h(x) = x^2 / 2 for |x| <= delta, else delta * (|x| - delta / 2). The backward adds
 * scale * dloss/dpred to dpred (N).
 */
float td_nn_mse_forward(const float *pred, const float *target, int N);
void td_nn_mse_backward(float *dpred, const float *pred, const float *target, int N, float scale);
float td_nn_huber_forward(const float *pred, const float *target, int N, float delta);
void td_nn_huber_backward(float *dpred, const float *pred, const float *target, int N, float delta,
                          float scale);

/* ------------------------------------------------------------------------------------ */
/* Optimizer                                                                            */
/* ------------------------------------------------------------------------------------ */

typedef struct td_nn_adam_config {
    float lr;           /* 3e-4 (DeepRacer's default) */
    float beta1;        /* 0.9 */
    float beta2;        /* 0.999 */
    float eps;          /* 1e-5 as DeepRacer (PyTorch's default is 1e-8) */
    float weight_decay; /* 0: plain Adam; > 0 decoupled (AdamW) */
} td_nn_adam_config;

void td_nn_adam_config_default(td_nn_adam_config *cfg);

/*
 * One Adam step over n parameters, t = step number starting at 1 (bias correction):
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * (and p -= lr * weight_decay * p first when weight_decay > 0).
 */
void td_nn_adam_update(float *params, float *m, float *v, const float *grads, size_t n,
                       const td_nn_adam_config *cfg, long t);

/* Global L2 norm of n gradients (accumulated in double). */
float td_nn_grad_norm(const float *grads, size_t n);
/* Scales grads so that their global norm is at most max_norm; returns the norm before. */
float td_nn_clip_grad_norm(float *grads, size_t n, float max_norm);

/* ------------------------------------------------------------------------------------ */
/* Topologies                                                                           */
/* ------------------------------------------------------------------------------------ */

#define TD_NN_MAX_STACK  8 /* layers per branch / trunk */
#define TD_NN_MAX_TOWERS 4
#define TD_NN_NAME_LEN   32

typedef enum td_nn_head_type {
    TD_NN_HEAD_CATEGORICAL = 0, /* n = number of discrete actions; logits (softmax outside) */
    TD_NN_HEAD_GAUSSIAN = 1,    /* n = action dims (2): mean; plus a log_std tensor (n) */
    TD_NN_HEAD_VALUE = 2,       /* n = 1 */
    TD_NN_HEAD_Q = 3            /* n = 1; the action (action_dim) joins after the branches */
} td_nn_head_type;

typedef struct td_nn_conv_spec {
    int filters, kernel, stride;
} td_nn_conv_spec;

/*
 * One tower: branches camera (conv stack + flatten), lidar (dense stack), state (dense
 * stack), concatenated in that order (then the action for a Q head), a dense trunk, a linear
 * head. ReLU after every hidden layer. A branch is present when its input dim is > 0; a
 * present lidar/state branch with 0 layers passes its input straight to the concatenation.
 */
typedef struct td_nn_tower {
    char name[TD_NN_NAME_LEN]; /* "policy", "value", "q1", ... */
    /* inputs */
    int camera_h, camera_w, camera_c; /* 0 when there is no camera */
    int lidar_dim;                    /* 0 when there is no lidar */
    int state_dim;                    /* 0 when there is no state sensor */
    int action_dim;                   /* Q head only: 2 */
    /* layers */
    int n_camera;
    td_nn_conv_spec camera[TD_NN_MAX_STACK];
    int n_lidar, lidar[TD_NN_MAX_STACK];
    int n_state, state[TD_NN_MAX_STACK];
    int n_trunk, trunk[TD_NN_MAX_STACK];
    td_nn_head_type head;
    int n_out;
    int head_tanh; /* gaussian "squash": "tanh": the mean is tanh(head output) */
} td_nn_tower;

typedef struct td_nn_topology {
    int n_towers;
    td_nn_tower towers[TD_NN_MAX_TOWERS];
} td_nn_topology;

/* Sensors and action space from which td_nn_topology_deepracer builds towers. */
typedef struct td_nn_io_spec {
    int camera_h, camera_w, camera_c; /* 120, 160, 1 (2 for STEREO_CAMERAS); 0 = none */
    int lidar_dim;                    /* 64 (LIDAR), 8 (SECTOR_LIDAR), ...; 0 = none */
    int state_dim;                    /* state sensor features; 0 = none */
    int state_layers;                 /* state MLP: layers (default 2 when 0 and state) */
    int state_width;                  /* state MLP width (default 64 when 0) */
    int continuous;                   /* 0: discrete (n_actions), 1: continuous (2 dims) */
    int n_actions;                    /* discrete: number of actions */
    int sac;                          /* 1: policy + q1 + q2 (continuous only); 0: PPO */
} td_nn_io_spec;

/*
 * Fills topo with DeepRacer's named network ("DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
 * "DEEP_CONVOLUTIONAL_NETWORK", "DEEP_CONVOLUTIONAL_NETWORK_DEEP"; a 2-channel camera with
 * either of the last two gives the STEREO stack) on the given sensors: towers "policy" and
 * "value" (PPO) or "policy", "q1", "q2" (SAC). Without a camera the name is ignored and
 * the lidar / state branches form the network. Returns TD_EINVAL with a message on a bad name
 * or a camera too small for the conv stack.
 */
int td_nn_topology_deepracer(td_nn_topology *topo, const char *network, const td_nn_io_spec *io,
                             td_err *err);

/* Returns the tower named name, or NULL. */
const td_nn_tower *td_nn_topology_find(const td_nn_topology *topo, const char *name);

/*
 * Topology JSON (docs/model-format.md): topology = {"towers": {"policy": {"camera":
 * [[32,8,4],...], "lidar": [256,256], "state": [64,64], "trunk": [512], "head": {"type":
 * "categorical", "n": 10}}, ...}} and inputs = {"camera": [120,160,1], "lidar": [64],
 * "state": [D], "action": [2]}. from_json validates everything (errors name the tower and
 * key); to_json returns new references (json_decref them).
 */
int td_nn_topology_from_json(td_nn_topology *topo, const json_t *topology, const json_t *inputs,
                             td_err *err);
int td_nn_topology_to_json(const td_nn_topology *topo, json_t **topology, json_t **inputs,
                           td_err *err);

/* Returns "categorical", "gaussian", "value", "q". */
const char *td_nn_head_name(td_nn_head_type head);

/* ------------------------------------------------------------------------------------ */
/* Networks                                                                             */
/* ------------------------------------------------------------------------------------ */

/* A named parameter tensor inside a net's single parameter allocation. */
#define TD_NN_TENSOR_NAME_LEN 64
typedef struct td_nn_tensor {
    char name[TD_NN_TENSOR_NAME_LEN]; /* "<tower>.camera.0.weight", "<tower>.head.bias", ... */
    int ndim;
    int shape[4];
    size_t offset; /* in floats from net->params (64-byte aligned) */
    size_t n;      /* floats */
} td_nn_tensor;

#define TD_NN_MAX_TENSORS (2 * (4 * TD_NN_MAX_STACK + 1) + 1)
#define TD_NN_MAX_LAYERS  (4 * TD_NN_MAX_STACK + 1)

/* Inputs of one forward pass; those the tower does not use are ignored. */
typedef struct td_nn_input {
    const float *camera;      /* (B, H, W, C) floats, already scaled (/255) */
    const uint8_t *camera_u8; /* or (B, H, W, C) raw bytes: the net divides by 255 */
    const float *lidar;       /* (B, lidar_dim) */
    const float *state;       /* (B, state_dim) */
    const float *action;      /* (B, action_dim), Q towers */
} td_nn_input;

/* Private per-layer bookkeeping (see src/nn/net.c). */
typedef struct td_nn_layer td_nn_layer;

/*
 * A tower ready to run: parameters, gradients, Adam moments and activations each live in
 * ONE allocation (tensors 64-byte aligned inside). Fields are read-only for callers except
 * the contents of params (e.g. to load weights) and grads.
 */
typedef struct td_nn_net {
    td_nn_tower spec;
    int max_batch;
    size_t n_params;  /* floats in params / grads / adam_m / adam_v (with alignment padding) */
    size_t n_weights; /* true parameter count (no padding) */
    float *params, *grads, *adam_m, *adam_v;
    float *acts; /* all activations for max_batch */
    size_t n_acts;
    long adam_t; /* Adam steps taken */
    int n_tensors;
    td_nn_tensor tensors[TD_NN_MAX_TENSORS];
    float *out;       /* (B, n_out) after td_nn_net_forward */
    float *log_std;   /* gaussian head: (n_out) inside params, else NULL */
    float *d_log_std; /* its gradient inside grads */
    float *d_action; /* Q head: (B, action_dim) dQ/daction, written (not accumulated) by backward */
    double flops_per_sample; /* forward multiply-adds * 2 */
    int cols_chunk;          /* 0: im2col kept per conv layer; else samples per conv chunk */
    int n_layers;
    td_nn_layer *layers; /* private */
    /* Asked before each layer and each conv chunk of a forward or backward pass (NULL, as
     * td_nn_net_init leaves it: never). A nonzero answer abandons the pass, which returns
     * TD_EINTERRUPTED; the outputs and gradients then hold nothing usable. The trainer's
     * second Ctrl-C: a camera tower's pass at batch 64 takes seconds on a slow machine. */
    int (*cancel)(void *user);
    void *cancel_user;
} td_nn_net;

/*
 * Budget (bytes, process-wide, read by td_nn_net_init) for a net's im2col buffers. When the
 * im2col matrices of all its conv layers at max_batch fit, each layer keeps its own from
 * forward to backward. Otherwise (the default for camera nets) the net shares one buffer of
 * at most this size, runs its convs in chunks of samples and redoes im2col in the backward.
 * Small chunks stay in cache (the default 1 MB is about one L2), which more than pays for
 * the second im2col: a SHALLOW tower then trains 10-20% faster than with kept buffers and
 * needs 38 MB of activations at batch 64 instead of 143 MB. Returns the previous value.
 */
#define TD_NN_DEFAULT_COLS_BUDGET ((size_t)1 << 20)
size_t td_nn_set_cols_budget(size_t bytes);

/*
 * Builds a tower for batches of up to max_batch samples. Weights are initialized like
 * PyTorch's default (Kaiming-uniform: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights
 * and biases), log_std to 0. rng may be NULL (weights left zero). On error nothing is
 * allocated and err says why. Free with td_nn_net_free.
 */
int td_nn_net_init(td_nn_net *net, const td_nn_tower *tower, int max_batch, td_rng *rng,
                   td_err *err);
void td_nn_net_free(td_nn_net *net);

/* Re-initializes all weights (Kaiming-uniform as above) and zeroes the Adam state. */
void td_nn_net_reset_params(td_nn_net *net, td_rng *rng);

/*
 * Forward pass of B <= max_batch samples; the result is net->out (B, n_out). Keeps the
 * activations needed by td_nn_net_backward. The lidar, state and action arrays are read
 * again by the backward (weight gradients of the first dense layers): keep them unchanged
 * until then (camera input is consumed by the forward). Returns TD_EINVAL if B is out of
 * range or a needed input is NULL. Allocates nothing.
 */
int td_nn_net_forward(td_nn_net *net, const td_nn_input *in, int B);
/* (Both passes return TD_EINTERRUPTED when net->cancel asks them to stop.) */

/*
 * Backward pass for the last forward: dout (B, n_out) is dLoss/dout. Accumulates into
 * net->grads (not into d_log_std: the caller's loss owns it). Overwrites net->d_action for a
 * Q head. dout is not modified. Allocates nothing.
 */
int td_nn_net_backward(td_nn_net *net, const float *dout, int B);

void td_nn_net_zero_grad(td_nn_net *net);

/* One Adam step over all parameters (increments net->adam_t). */
void td_nn_adam_step(td_nn_net *net, const td_nn_adam_config *cfg);

/* Copies parameters src -> dst (same tower shape); polyak: dst = (1-tau) dst + tau src. */
int td_nn_net_copy_params(td_nn_net *dst, const td_nn_net *src);
int td_nn_net_polyak(td_nn_net *dst, const td_nn_net *src, float tau);

/* Returns the tensor named name ("policy.head.weight") or NULL. */
const td_nn_tensor *td_nn_net_tensor(const td_nn_net *net, const char *name);

/* True parameter count of a tower (no padding), without building it; -1 if invalid. */
long td_nn_tower_param_count(const td_nn_tower *tower);

/* ------------------------------------------------------------------------------------ */
/* Model files (.tdm, docs/model-format.md)                                              */
/* ------------------------------------------------------------------------------------ */

/*
 * Serializes nets into a model file in memory (the bytes td_nn_save writes): *out is
 * td_malloc'd (the caller td_frees it), *out_len its size. what names the model in messages.
 */
int td_nn_save_buffer(const td_nn_net *const *nets, int n_nets, const json_t *extras, uint8_t **out,
                      size_t *out_len, const char *what, td_err *err);

/*
 * Writes nets (their topology and fp32 parameters) to path atomically. extras (may be
 * NULL) is a JSON object whose keys ("sensors", "action_space", "preprocessing", "lineage",
 * ...) are copied into the header.
 */
int td_nn_save(const char *path, const td_nn_net *const *nets, int n_nets, const json_t *extras,
               td_err *err);

/*
 * Reads a model file: builds every tower (max_batch as for td_nn_net_init) into nets[]
 * (capacity max_nets; *n_nets set) and loads their parameters bit-exactly. header (may be
 * NULL) receives a new reference to the whole JSON header. Rejects bad magic, version,
 * truncation, checksum mismatch and inconsistent tensor tables with a message.
 */
int td_nn_load(const char *path, td_nn_net *nets, int max_nets, int *n_nets, int max_batch,
               json_t **header, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_NN_H */
