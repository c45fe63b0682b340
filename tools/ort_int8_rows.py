#!/usr/bin/env python3
"""Write what ONNX Runtime's quantizer chose for LeNet-5 in the form
`Int8Network::from_row_parameters` loads, with ONNX Runtime's own int8
outputs, so that tests/int8_ort.rs can compare constnet's int8 LeNet-5 with
ORT's scales against ORT without Python.

Needs (in a venv outside the repository; not needed by the tests or CI):
    pip install onnxruntime onnx safetensors numpy
Versions used for the shipped file: printed and stored in its metadata.

Run from the repository root, after tools/ort_int8.py (which wrote
data/lenet5_int8.onnx, ORT's QDQ model: per-channel symmetric int8
weights, per-tensor asymmetric int8 activations, MinMax on 200 training
digits):
    python tools/ort_int8_rows.py      # writes tests/int8/lenet5_ort.safetensors

How ORT's QDQ model maps onto constnet's int8 network
    - each Conv / Gemm reads its weight through a DequantizeLinear of an
      int8 initializer (`<key>.weight_quantized`, per-channel scales on
      axis 0, zero points 0) and its bias through one of an int32
      initializer on the scale s_in * s_w: they are `<key>.weight`,
      `<key>.weight_scale` and `<key>.bias`;
    - its output's QuantizeLinear (ORT's quantizer has already fused the
      ReLU: the range starts at 0) gives `<key>.scale` / `<key>.zero_point`
      under the layer's row; the ReLU row after it has none and keeps them
      (from_row_parameters' rule), which is the fused clamp;
    - MaxPool and Reshape keep their input's parameters (checked);
    - the input's QuantizeLinear gives `input.scale` / `input.zero_point`.

What it writes (tests/int8/lenet5_ort.safetensors), besides the above:
    logits.values  I8 [2000, 10]   ORT's int8 logits of the 2,000 shipped
                                   test digits (its output
                                   DequantizeLinear undone exactly)
"""
import gzip
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digits():
    with gzip.open(os.path.join(ROOT, "data", "mnist", "t10k-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(-1, 28, 28)
    padded = np.zeros((len(raw), 32, 32), dtype=np.uint8)
    padded[:, 2:30, 2:30] = raw
    x = padded.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(0.1307)) / np.float32(0.3081)
    return x[:, None, :, :]


def main():
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from safetensors.numpy import save_file

    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}")
    path = os.path.join(ROOT, "data", "lenet5_int8.onnx")
    model = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes = list(model.graph.node)
    quantized_by = {n.input[0]: n for n in nodes if n.op_type == "QuantizeLinear"}
    out = {}

    def params(name, tensor):
        q = quantized_by[tensor]
        out[f"{name}.scale"] = init[q.input[1]].reshape(1).astype(np.float32)
        out[f"{name}.zero_point"] = init[q.input[2]].reshape(1).astype(np.int32)
        return q.input[1], q.input[2]

    params("input", "input")
    for n in nodes:
        if n.op_type in ("Conv", "Gemm"):
            key = n.input[1].removesuffix("_DequantizeLinear_Output").removesuffix(".weight")
            if n.op_type == "Gemm":
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
                assert attrs.get("transB") == 1 and attrs.get("transA", 0) == 0, attrs
            w = init[f"{key}.weight_quantized"]
            assert w.dtype == np.int8 and (init[f"{key}.weight_zero_point"] == 0).all(), key
            out[f"{key}.weight"] = np.ascontiguousarray(w)
            out[f"{key}.weight_scale"] = init[f"{key}.weight_scale"].astype(np.float32)
            out[f"{key}.bias"] = init[f"{key}.bias_quantized"].astype(np.int32)
            params(key, n.output[0])
        elif n.op_type in ("MaxPool", "Reshape"):
            # The DequantizeLinear it reads and the QuantizeLinear after it
            # share their scale and zero point initializers.
            dq = next(d for d in nodes if d.output[0] == n.input[0])
            q = quantized_by[n.output[0]]
            assert dq.input[1:] == q.input[1:], n.name
        else:
            assert n.op_type in ("QuantizeLinear", "DequantizeLinear"), n.op_type

    xs = digits()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(None, {"input": xs[i:i + 100]})[0] for i in range(0, len(xs), 100)])
    s, z = out["fc3.scale"][0], int(out["fc3.zero_point"][0])
    q = np.round(logits / s) + z
    assert np.abs(q - np.round(q)).max() < 1e-3 and q.min() >= -128 and q.max() <= 127
    out["logits.values"] = q.astype(np.int8)

    meta = {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "model": "data/lenet5_int8.onnx"}
    dest = os.path.join(ROOT, "tests", "int8", "lenet5_ort.safetensors")
    save_file(out, dest, metadata=meta)
    os.chmod(dest, 0o644)
    print("wrote", dest, os.path.getsize(dest), "bytes")


if __name__ == "__main__":
    sys.exit(main())
