#!/usr/bin/python3
"""check_export.py - runs trackday's ONNX and TensorFlow exports in two independent
importers and compares their outputs with what trackday's own runtime (infer/) computed.

    /usr/bin/python3 tests/check_export.py CASE.json

CASE.json: {"onnx": path or null, "pb": path or null, "count": K, "n_out": N,
            "inputs": [{"name": ..., "kind": "camera"|"lidar"|"state", "shape": [H, W, C] or
                        [N], "file": raw little-endian path (uint8 camera, float32 otherwise)}],
            "expected": path of K x N float32 (infer/'s outputs), "tolerance": 1e-4}

Checks: onnx.checker.check_model; the ONNX graph's input names and shapes; OpenCV's ONNX
importer (cv2.dnn.readNetFromONNX) and TensorFlow importer (cv2.dnn.readNetFromTensorflow) on
every observation, each within the tolerance of infer/. Prints one line per check and exits 1
on the first failure.
"""
import json
import sys

import cv2
import numpy as np
import onnx


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def load_inputs(case):
    k = case["count"]
    out = []
    for inp in case["inputs"]:
        shape = [k] + list(inp["shape"])
        dtype = np.uint8 if inp["kind"] == "camera" else np.float32
        data = np.fromfile(inp["file"], dtype=dtype)
        if data.size != int(np.prod(shape)):
            fail("%s: %d values, expected %s" % (inp["file"], data.size, shape))
        out.append(data.reshape(shape).astype(np.float32))
    return out


def run(net, case, inputs, nchw):
    """Outputs of net for every observation; camera blobs NCHW for OpenCV's TF importer."""
    rows = []
    for i in range(case["count"]):
        for inp, data in zip(case["inputs"], inputs):
            x = data[i : i + 1]
            if inp["kind"] == "camera" and nchw:
                x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
            net.setInput(x, inp["name"])
        rows.append(np.asarray(net.forward()).reshape(-1))
    return np.stack(rows)


def compare(what, got, expected, tol):
    if got.shape != expected.shape:
        fail("%s: output shape %s, expected %s" % (what, got.shape, expected.shape))
    diff = float(np.max(np.abs(got - expected)))
    if not diff <= tol:
        fail("%s: max |difference| %.3g > %.1g" % (what, diff, tol))
    print("PASS %s: max |difference| to infer/ %.3g over %d observations" % (what, diff, len(got)))


def main():
    case = json.load(open(sys.argv[1]))
    tol = case.get("tolerance", 1e-4)
    inputs = load_inputs(case)
    expected = np.fromfile(case["expected"], dtype=np.float32).reshape(case["count"], case["n_out"])
    if case.get("onnx"):
        model = onnx.load(case["onnx"])
        onnx.checker.check_model(model)
        print("PASS onnx.checker: %s" % case["onnx"])
        names = [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in model.graph.input]
        want = [(i["name"], [1] + list(i["shape"])) for i in case["inputs"]]
        if sorted(names) != sorted(want):
            fail("ONNX inputs %s, expected %s" % (names, want))
        print("PASS ONNX inputs %s" % names)
        net = cv2.dnn.readNetFromONNX(case["onnx"])
        compare("OpenCV ONNX importer", run(net, case, inputs, False), expected, tol)
    if case.get("pb"):
        net = cv2.dnn.readNetFromTensorflow(case["pb"])
        compare("OpenCV TensorFlow importer", run(net, case, inputs, True), expected, tol)


if __name__ == "__main__":
    main()
