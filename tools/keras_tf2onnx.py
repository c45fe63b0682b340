#!/usr/bin/env python3
"""A Keras model converted to ONNX by tf2onnx, for the ONNX importer's tests
(tests/import_onnx.rs).

Purpose
    Builds a small Keras (TensorFlow) network in NHWC with seeded random
    weights, biases and batch-norm statistics, converts it with
    tf2onnx.convert.from_function (opset 13), checks ONNX Runtime against
    Keras on 3 random inputs (1e-4), and writes
    tests/import_onnx/keras_tf2onnx.onnx (doc strings and metadata
    removed). tools/gen_onnx_import_tests.py then runs ONNX Runtime and the
    importer on it like on the other models.

    The network covers what a Keras export brings: an NHWC input that
    tf2onnx transposes once, Conv2D with padding="same" at stride 2 on an
    even size (TensorFlow pads 0 before and 1 after), a DepthwiseConv2D, a
    BatchNormalization that tf2onnx leaves as Mul + Add, ReLU6 (Clip), an
    Add of two branches, a Concatenate of two convolutions, a
    BatchNormalization folded into its convolution, MaxPooling2D with
    padding="same", GlobalAveragePooling2D (GlobalAveragePool + Squeeze) and
    a Dense layer (MatMul + Add) with a softmax.

Versions used
    tensorflow-cpu 2.21.0 (Keras 3.15.1), tf2onnx 1.17.0, onnx 1.23.2,
    onnxruntime 1.32.0, numpy 2.4.6, Python 3.11. TensorFlow and PyTorch
    need not share an environment: this script needs no torch.

How to run
    From the repository root, with a Python that has those packages:
        python tools/keras_tf2onnx.py
    then python tools/gen_onnx_import_tests.py (any Python with onnx,
    onnxruntime, safetensors, numpy and, for the torchvision models, torch).
"""

import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "import_onnx" / "keras_tf2onnx.onnx"


def build() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(7)
    L = tf.keras.layers
    bias = tf.keras.initializers.RandomUniform(-0.3, 0.3, seed=11)
    inp = tf.keras.Input((16, 16, 3), name="input")
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", bias_initializer=bias, name="conv1")(inp)
    y = L.DepthwiseConv2D(3, padding="same", bias_initializer=bias, name="dw")(x)
    y = L.BatchNormalization(name="bn1")(y)
    y = L.ReLU(6.0, name="relu6")(y)
    x = L.Add(name="add")([x, y])
    x = L.Conv2D(16, 3, strides=2, padding="same", bias_initializer=bias, name="conv2")(x)
    x = L.BatchNormalization(epsilon=1e-3, name="bn2")(x)
    x = L.ReLU(name="relu")(x)
    a = L.Conv2D(8, 1, bias_initializer=bias, name="expand1")(x)
    b = L.Conv2D(8, 3, padding="same", bias_initializer=bias, name="expand3")(x)
    x = L.Concatenate(name="cat")([a, b])
    x = L.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(10, bias_initializer=bias, name="dense")(x)
    out = L.Softmax(name="softmax")(x)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            g, b_, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(.5, 1.5, g.shape), rng.uniform(-.3, .3, b_.shape),
                               rng.uniform(-.5, .5, m.shape), rng.uniform(.5, 2, v.shape)])
    return model


def main() -> None:
    model = build()
    spec = (tf.TensorSpec((None, 16, 16, 3), tf.float32, name="input"),)

    @tf.function(input_signature=spec)
    def forward(x):
        return model(x, training=False)

    onnx_model, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=13)
    onnx_model.doc_string = ""
    del onnx_model.metadata_props[:]
    for n in onnx_model.graph.node:
        n.doc_string = ""
    onnx.checker.check_model(onnx_model)
    x = np.random.default_rng(1).normal(size=(3, 16, 16, 3)).astype(np.float32)
    want = model(x, training=False).numpy()
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    err = float(np.abs(got - want).max())
    assert err <= 1e-4, err
    onnx.save(onnx_model, str(OUT))
    print(f"wrote {OUT.name}: {len(onnx_model.graph.node)} nodes, ONNX Runtime within {err:.1e} of Keras")


if __name__ == "__main__":
    main()
