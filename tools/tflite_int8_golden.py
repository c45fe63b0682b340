#!/usr/bin/env python3
"""Quantize the shipped LeNet-5 with TensorFlow Lite and record what TFLite's
int8 kernels compute, so that constnet's int8 kernels can be checked against
them bit for bit without Python.

Needs (in a venv outside the repository; not needed by the tests or CI):
    pip install tensorflow-cpu ai-edge-litert safetensors numpy
Versions used for the shipped file: tensorflow 2.21.0, ai-edge-litert 2.3.0
(printed by the script and stored in the file's metadata).

Run from the repository root:
    python tools/tflite_int8_golden.py          # writes tests/int8/lenet5_tflite.safetensors

What it does
    1. Builds LeNet-5 in Keras (NHWC) with the weights of data/lenet5.safetensors
       (conv kernels transposed, fc1's columns reordered from PyTorch's C,H,W
       flattening to Keras' H,W,C) and checks its logits against PyTorch's
       golden ones (data/lenet5_golden.safetensors) within 1e-4.
    2. Converts it to a full-integer TFLite model (weights int8 per output
       channel, activations int8 per tensor, float input and output through
       TFLite's Quantize / Dequantize ops), calibrated by TFLite's converter
       on the first 500 training digits.
    3. Runs it with TFLite's *reference* kernels (OpResolverType.BUILTIN_REF)
       on all 2,000 test digits, keeping every intermediate tensor. It also
       runs the default (optimized) kernels and prints how many int8 values
       differ from the reference ones (0 when this was run).

What it writes (tests/int8/lenet5_tflite.safetensors), in PyTorch's layouts:
    {conv1,conv2,fc1,fc2,fc3}.weight        I8   [O, C, KH, KW] / [O, I]
    {conv1,...}.weight_scale                F32  [O]   per output channel
    {conv1,...}.bias                        I32  [O]   on scale s_in * s_w[o]
    {t}.scale F32 [1], {t}.zero_point I32 [1]   for t in input, conv1, pool1,
        conv2, pool2, fc1, fc2, fc3 (conv1 = conv1's output after its fused
        ReLU, fc3 = the int8 logits)
    input.float     F32 [20, 1, 32, 32]  the first 20 test digits, preprocessed
    {t}.values      I8  [20, ...]        every tensor t for those 20 digits,
                                         C,H,W order
    fc3.all         I8  [2000, 10]       int8 logits of all 2,000 test digits
    fc3.default     I8  [2000, 10]       the same from the default kernels
"""
import gzip
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEEP = 20


def idx_images(name):
    with gzip.open(os.path.join(ROOT, "data", "mnist", name)) as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 28, 28)


def preprocess(images):
    """As tools/train_lenet.py: pad to 32x32 with byte 0, then
    ((b / 255) - 0.1307) / 0.3081 in float32 at every step."""
    padded = np.zeros((len(images), 32, 32), dtype=np.uint8)
    padded[:, 2:30, 2:30] = images
    x = padded.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(0.1307)) / np.float32(0.3081)
    return x[:, :, :, None]  # NHWC


def keras_lenet(tf, w):
    L = tf.keras.layers
    model = tf.keras.Sequential([
        L.Input((32, 32, 1)),
        L.Conv2D(6, 5, activation="relu", name="conv1"),
        L.MaxPool2D(2, name="pool1"),
        L.Conv2D(16, 5, activation="relu", name="conv2"),
        L.MaxPool2D(2, name="pool2"),
        L.Flatten(),
        L.Dense(120, activation="relu", name="fc1"),
        L.Dense(84, activation="relu", name="fc2"),
        L.Dense(10, name="fc3"),
    ])
    conv = lambda k: k.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    model.get_layer("conv1").set_weights([conv(w["conv1.weight"]), w["conv1.bias"]])
    model.get_layer("conv2").set_weights([conv(w["conv2.weight"]), w["conv2.bias"]])
    fc1 = w["fc1.weight"].reshape(120, 16, 5, 5).transpose(2, 3, 1, 0).reshape(400, 120)
    model.get_layer("fc1").set_weights([fc1, w["fc1.bias"]])
    model.get_layer("fc2").set_weights([w["fc2.weight"].T, w["fc2.bias"]])
    model.get_layer("fc3").set_weights([w["fc3.weight"].T, w["fc3.bias"]])
    return model


def convert(tf, model, calibration):
    def representative():
        for x in calibration:
            yield [x[None]]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return c.convert()


def run(interp_mod, model, xs, ref):
    kind = interp_mod.OpResolverType.BUILTIN_REF if ref else interp_mod.OpResolverType.AUTO
    it = interp_mod.Interpreter(model_content=model, experimental_op_resolver_type=kind,
                                experimental_preserve_all_tensors=True, num_threads=1)
    it.allocate_tensors()
    # The layers; Flatten's reshape (and the shape ops Keras' dynamic batch
    # adds for it) only reorder nothing in NHWC -> flat, so they are skipped.
    ops = [op for op in it._get_ops_details() if op["op_name"] in ("CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED")]
    quant = next(op for op in it._get_ops_details() if op["op_name"] == "QUANTIZE")
    details = {d["index"]: d for d in it.get_tensor_details()}
    inp = it.get_input_details()[0]["index"]
    traces = []
    for x in xs:
        it.set_tensor(inp, x[None])
        it.invoke()
        t = [it.get_tensor(quant["outputs"][0]).copy()]
        t += [it.get_tensor(op["outputs"][0]).copy() for op in ops]
        traces.append(t)
    return it, ops, quant, details, traces


def chw(a):
    """NHWC int8 tensor of one sample -> C,H,W (flat ones stay flat)."""
    a = a[0]
    return a.transpose(2, 0, 1) if a.ndim == 3 else a


def main():
    import tensorflow as tf
    from ai_edge_litert import interpreter as litert
    import ai_edge_litert
    from safetensors.numpy import load_file, save_file

    print("tensorflow", tf.__version__, "ai-edge-litert", ai_edge_litert.__version__)
    w = load_file(os.path.join(ROOT, "data", "lenet5.safetensors"))
    golden = load_file(os.path.join(ROOT, "data", "lenet5_golden.safetensors"))
    train = preprocess(idx_images("train-images-idx3-ubyte.gz")[:500])
    test = preprocess(idx_images("t10k-images-idx3-ubyte.gz"))

    model = keras_lenet(tf, w)
    logits = model.predict(test, batch_size=500, verbose=0)
    err = np.abs(logits - golden["logits"]).max()
    print(f"Keras float LeNet-5 against PyTorch: max |diff| {err:.2e}")
    assert err < 1e-4

    tfl = convert(tf, model, train)
    it, ops, quant, details, ref = run(litert, tfl, test, ref=True)
    _, _, _, _, dflt = run(litert, tfl, test, ref=False)
    names = ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    assert [op["op_name"] for op in ops] == ["CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D",
                                             "FULLY_CONNECTED", "FULLY_CONNECTED", "FULLY_CONNECTED"], ops

    out = {}
    def params(name, index):
        q = details[index]["quantization_parameters"]
        out[f"{name}.scale"] = q["scales"].astype(np.float32)
        out[f"{name}.zero_point"] = q["zero_points"].astype(np.int32)

    params("input", quant["outputs"][0])
    for name, op in zip(names, ops):
        params(name, op["outputs"][0])
        if name.startswith("pool"):
            continue
        wi, bi = op["inputs"][1], op["inputs"][2]
        k = it.get_tensor(wi)
        q = details[wi]["quantization_parameters"]
        assert (q["zero_points"] == 0).all() and len(q["scales"]) == k.shape[0], (name, q)
        if k.ndim == 4:
            k = k.transpose(0, 3, 1, 2)  # OHWI -> OIHW
        elif name == "fc1":
            k = k.reshape(120, 5, 5, 16).transpose(0, 3, 1, 2).reshape(120, 400)
        out[f"{name}.weight"] = np.ascontiguousarray(k.astype(np.int8))
        out[f"{name}.weight_scale"] = q["scales"].astype(np.float32)
        out[f"{name}.bias"] = it.get_tensor(bi).astype(np.int32)

    out["input.float"] = np.ascontiguousarray(test[:KEEP].transpose(0, 3, 1, 2))
    for i, name in enumerate(["input"] + names):
        vals = [chw(t[i]) for t in ref[:KEEP]]
        out[f"{name}.values"] = np.ascontiguousarray(np.stack(vals).astype(np.int8))
    out["fc3.all"] = np.stack([t[-1][0] for t in ref]).astype(np.int8)
    out["fc3.default"] = np.stack([t[-1][0] for t in dflt]).astype(np.int8)

    differ = sum(int((a != b).sum()) for r, d in zip(ref, dflt) for a, b in zip(r, d))
    total = sum(a.size for r in ref for a in r)
    print(f"default kernels against reference kernels: {differ} of {total} int8 values differ")
    labels = np.frombuffer(gzip.open(os.path.join(ROOT, "data", "mnist", "t10k-labels-idx1-ubyte.gz")).read()[8:], np.uint8)
    acc_f = (logits.argmax(1) == labels).mean()
    acc_q = (out["fc3.all"].argmax(1) == labels).mean()
    print(f"accuracy on the 2,000 test digits: float {acc_f:.4f}, TFLite int8 {acc_q:.4f}")

    meta = {"tensorflow": tf.__version__, "ai_edge_litert": ai_edge_litert.__version__,
            "calibration": "first 500 training digits", "kernels": "BUILTIN_REF",
            "default_kernels_differ": str(differ)}
    path = os.path.join(ROOT, "tests", "int8", "lenet5_tflite.safetensors")
    save_file(out, path, metadata=meta)
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    sys.exit(main())
