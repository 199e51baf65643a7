/*
 * export.h - a trained policy network as files other runtimes load: an ONNX model, or a
 * frozen TensorFlow GraphDef laid out as DeepRacer's (the `model.pb` a DeepRacer car loads,
 * with DeepRacer's input and output node names). Both are written by trackday itself (a small
 * protobuf writer, no TensorFlow or ONNX library); docs/export.md describes the graphs. Part
 * of the nn layer.
 *
 *   td_export_result r;
 *   td_export_graph(TD_EXPORT_ONNX, policy_net, header, &r, &err);   // r.data, r.len
 *   td_export_result_free(&r);
 */
#ifndef TRACKDAY_EXPORT_H
#define TRACKDAY_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "trackday/json.h"
#include "trackday/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_export_format {
    TD_EXPORT_ONNX = 0,       /* ONNX (opset 13, IR version 7) */
    TD_EXPORT_TF_GRAPHDEF = 1 /* TensorFlow GraphDef, frozen (weights as constants) */
} td_export_format;

#define TD_EXPORT_MAX_INPUTS 3
#define TD_EXPORT_NAME_LEN   192

/* What the exported graph takes and gives. */
typedef struct td_export_io {
    int n_inputs;
    char input_names[TD_EXPORT_MAX_INPUTS][TD_EXPORT_NAME_LEN];
    int input_ndim[TD_EXPORT_MAX_INPUTS];
    int input_shape[TD_EXPORT_MAX_INPUTS][4]; /* batch first: 1 (ONNX) or -1 (TF) */
    char input_kind[TD_EXPORT_MAX_INPUTS][8]; /* "camera", "lidar", "state" */
    char output_name[TD_EXPORT_NAME_LEN];
    int n_out;
    int output_probabilities; /* 1: softmax of the logits (discrete); 0: the continuous mean in
                                 the network's [-1, 1] units (tanh applied when the head
                                 squashes) */
} td_export_io;

typedef struct td_export_result {
    uint8_t *data; /* td_malloc'd */
    size_t len;
    td_export_io io;
} td_export_result;

/*
 * Writes the policy tower `policy` (fp32, as td_nn_load builds it) of a model file whose JSON
 * header is `header` (training_algorithm, sensors, preprocessing; may be NULL for defaults)
 * in the given format. Camera inputs are float [batch, H, W, C] holding the raw 0-255 pixel
 * values (DeepRacer's graph divides by 255 itself), lidar and state inputs float [batch, N].
 * Refuses with TD_EUNSUPPORTED and a message: a state-sensor model in TensorFlow form (a
 * DeepRacer car has no such sensor), and towers that are not policy towers.
 */
int td_export_graph(td_export_format format, const td_nn_net *policy, const json_t *header,
                    td_export_result *out, td_err *err);

void td_export_result_free(td_export_result *r);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_EXPORT_H */
