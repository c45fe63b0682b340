#!/usr/bin/env python3
"""Quantize the shipped LeNet-5 ONNX export with ONNX Runtime's own quantizer,
for benches/peers' int8 table (constnet's int8 LeNet-5 next to ONNX Runtime's
int8 model of the same network).

Needs (in a venv outside the repository; not needed by the tests or CI):
    pip install onnxruntime onnx numpy
Version used for the shipped file: onnxruntime 1.32.0, onnx 1.23.2 (printed).

Run from the repository root:
    python tools/ort_int8.py        # writes data/lenet5_int8.onnx

What it does
    1. quantize_static on data/lenet5.onnx: QDQ format, int8 weights per
       output channel (symmetric), int8 activations per tensor (asymmetric),
       MinMax calibration on the first 200 training digits -- the same
       digits and the same observer as constnet's int8 LeNet-5 in
       benches/lenet.rs and benches/peers. The model keeps a float input and
       output (QuantizeLinear / DequantizeLinear inside), as constnet's
       `forward_f32`.
    2. Runs the float and the int8 model with ONNX Runtime on the 2,000 test
       digits and prints both accuracies.
"""
import gzip
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALIBRATION = 200


def idx(name, offset):
    with gzip.open(os.path.join(ROOT, "data", "mnist", name)) as f:
        return np.frombuffer(f.read()[offset:], dtype=np.uint8)


def images(name):
    raw = idx(name, 16)
    return raw.reshape(-1, 28, 28)


def preprocess(digits):
    """As tools/train_lenet.py: pad to 32x32 with byte 0, then
    ((b / 255) - 0.1307) / 0.3081 in float32 at every step; NCHW."""
    padded = np.zeros((len(digits), 32, 32), dtype=np.uint8)
    padded[:, 2:30, 2:30] = digits
    x = padded.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(0.1307)) / np.float32(0.3081)
    return x[:, None, :, :]


def accuracy(ort, path, xs, labels):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    logits = np.concatenate([session.run(None, {name: xs[i : i + 100]})[0] for i in range(0, len(xs), 100)])
    return int((logits.argmax(1) == labels).sum())


def main():
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}")
    float_path = os.path.join(ROOT, "data", "lenet5.onnx")
    int8_path = os.path.join(ROOT, "data", "lenet5_int8.onnx")
    train = preprocess(images("train-images-idx3-ubyte.gz")[:CALIBRATION])

    class Digits(CalibrationDataReader):
        def __init__(self):
            self.it = iter({"input": train[i : i + 1]} for i in range(len(train)))

        def get_next(self):
            return next(self.it, None)

    quantize_static(
        float_path,
        int8_path,
        Digits(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    print(f"wrote {os.path.relpath(int8_path, ROOT)} ({os.path.getsize(int8_path)} bytes)")
    test = preprocess(images("t10k-images-idx3-ubyte.gz"))
    labels = idx("t10k-labels-idx1-ubyte.gz", 8)
    for what, path in [("float", float_path), ("int8", int8_path)]:
        print(f"{what}: {accuracy(ort, path, test, labels)} / {len(labels)} test digits right")
    return 0


if __name__ == "__main__":
    sys.exit(main())
