#!/usr/bin/env python3
"""The ONNX importer's test data (constnet-import, `import/`): the ONNX
models, ONNX Runtime's outputs on fixed inputs, and what the importer
wrote, in tests/import_onnx/, checked by tests/import_onnx.rs with no
Python.

Purpose
    For each model below, writes tests/import_onnx/<name>.ort.safetensors:
    `__input` (the input as the ONNX model takes it, batch first) and
    `__output` (ONNX Runtime's output for it, CPU, float32). Then runs the
    importer (`cargo run -p constnet-import`) on every model and writes its
    output next to it: <name>.rs (the declaration) and <name>.safetensors
    (the weights under the declaration's keys).

    - The golden networks that tools/golden_networks.py exported with
      torch.onnx.export (tests/golden/<name>.onnx, used in place), on the
      inputs of tests/golden/<name>.io.safetensors.
    - The shipped LeNet-5 (data/lenet5.onnx, from tools/export_onnx.py), on
      4 seeded random inputs.
    - torchvision's resnet18, mobilenet_v2 and squeezenet1_1 (weights=None,
      nothing downloaded), exported here with torch.onnx.export on
      [N, 3, 112, 112] (a symbolic batch; mobilenet_v2 with the legacy
      TorchScript exporter, dynamo=False, the others with the dynamo one). Their initializers are then
      replaced by a deterministic generator that tests/import_onnx.rs
      implements too (`onnx_value` below: SplitMix64 seeded with the FNV-1a
      hash of each initializer's ONNX name, as tools/gen_import_tests.py's),
      ONNX Runtime runs that model on 2 generated inputs, and the model is
      committed with those initializers emptied
      (tests/import_onnx/torchvision_<model>.onnx, a few kB instead of
      14-45 MB): the test fills them again before importing.
    - `nhwc`: a Keras-style NHWC network built with the onnx helper API as
      tf2onnx writes one: an NHWC input, Transposes around each
      convolution, SAME_UPPER padding at stride 2 (asymmetric: 0 before, 1
      after), a depthwise convolution with Clip(0, 6), a residual sum and a
      channel concatenation in NHWC, a mean over H and W (Keras'
      GlobalAveragePooling2D), MatMul + Add (Keras' Dense) and a softmax;
      weights stored as float_data rather than raw_data.
    - `nhwc_map`: an NHWC graph whose output is an NHWC map (which constnet
      gives as [C, H, W]), with a reflection pad and a softmax along NHWC's
      axes.
    - `keras_tf2onnx.onnx`: a Keras model converted by tf2onnx, written by
      tools/keras_tf2onnx.py (which needs TensorFlow and tf2onnx, not torch);
      used here as committed.
    - `unsupported.onnx`: a model the importer must refuse with one report:
      a dynamic height and width, an unsupported operator (Resize), an
      initializer stored as external data, a Clip to [-1, 1].

Versions used
    torch 2.15.0 (CPU, float32), torchvision 0.29.2, onnx 1.23.2,
    onnxruntime 1.32.0, onnxscript (for torch.onnx.export), safetensors,
    numpy, Python 3.11.

How to run
    From the repository root, with a Python that has those packages, and
    cargo:
        python tools/gen_onnx_import_tests.py
    then `cargo test --test import_onnx`. Regenerating is deterministic
    except for torch.onnx.export's node names across torch versions.
"""

from __future__ import annotations

import math
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file, save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "import_onnx"
TMP = OUT / ".tmp"

GOLDEN = ["vgg_stack", "mobilenet", "strided_big", "padding_modes", "max_pools",
          "activations_map", "mlp", "mlp_named", "bn_variants", "tiny_edge",
          "resnet_cifar", "mobilenet_v2", "squeezenet", "densenet", "tf_padding"]

# ---------------------------------------------------------------------------
# Deterministic values (the same in tests/import_onnx.rs).
# ---------------------------------------------------------------------------

MASK = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def fnv1a(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def uniform(key: str, n: int) -> np.ndarray:
    """n values in [0, 1), 24 bits each: SplitMix64 seeded with FNV-1a of
    `key`, output i = mix(seed + (i + 1) * gamma), top 24 bits."""
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a(key)) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GOLDEN_GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / 16777216.0


def onnx_value(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 tensor for ONNX initializer `name`: rank >= 2 uniform in
    +-1.4 * sqrt(3 / fan_in); rank 1 by the name's last `.` part: `weight`
    in [0.5, 1.5), `running_mean` in [-0.5, 0.5), `running_var` in [0.5, 2),
    anything else in [-0.3, 0.3); inputs (`input.<i>`) in [-1.5, 1.5).
    Float64 arithmetic, then rounded to float32."""
    n = math.prod(shape)
    u = uniform(name, n)
    if name.startswith("input."):
        values = -1.5 + 3.0 * u
    elif len(shape) >= 2:
        values = (2.0 * u - 1.0) * (1.4 * math.sqrt(3.0 / math.prod(shape[1:])))
    else:
        lo, width = {"weight": (0.5, 1.0), "running_mean": (-0.5, 1.0),
                     "running_var": (0.5, 1.5)}.get(name.split(".")[-1], (-0.3, 0.6))
        values = lo + width * u
    return values.astype(np.float32).reshape(shape)


def run_ort(model: onnx.ModelProto | str, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    source = model if isinstance(model, str) else model.SerializeToString()
    session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})[0]


def save_io(name: str, x: np.ndarray, y: np.ndarray) -> None:
    save_file({"__input": np.ascontiguousarray(x, dtype=np.float32),
               "__output": np.ascontiguousarray(y, dtype=np.float32)},
              str(OUT / f"{name}.ort.safetensors"))
    print(f"{name}: input {list(x.shape)} -> output {list(y.shape)}, range {y.min():.3g}..{y.max():.3g}")


# ---------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------

def golden() -> list[tuple[str, pathlib.Path]]:
    out = []
    for name in GOLDEN:
        path = ROOT / "tests" / "golden" / f"{name}.onnx"
        x = load_file(str(ROOT / "tests" / "golden" / f"{name}.io.safetensors"))["__input"]
        save_io(name, x, run_ort(str(path), x))
        out.append((name, path))
    return out


def lenet() -> list[tuple[str, pathlib.Path]]:
    path = ROOT / "data" / "lenet5.onnx"
    x = np.random.default_rng(5).normal(size=(4, 1, 32, 32)).astype(np.float32)
    save_io("lenet5", x, run_ort(str(path), x))
    return [("lenet5", path)]


def strip_metadata(model: onnx.ModelProto) -> None:
    """Removes the exporter's per-node metadata (Python stack traces with
    this machine's paths) and doc strings, as tools/golden_networks.py
    does."""
    for graph in [model.graph] + list(model.functions):
        for n in graph.node:
            del n.metadata_props[:]
            n.doc_string = ""
    for info in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        del info.metadata_props[:]
    del model.metadata_props[:]
    model.doc_string = ""


def torchvision_models() -> list[tuple[str, pathlib.Path]]:
    import warnings

    import torch
    import torchvision
    out = []
    # mobilenet_v2 through the legacy TorchScript exporter (dynamo=False,
    # opset 13: BatchNorm folded into onnx::Conv_<n> initializers, Clip with
    # its bounds as inputs, GlobalAveragePool, Flatten), the others through
    # the dynamo one, as tools/golden_networks.py.
    for model_name, dynamo in [("resnet18", True), ("mobilenet_v2", False), ("squeezenet1_1", True)]:
        torch.manual_seed(0)
        module = getattr(torchvision.models, model_name)(weights=None).eval()
        shape = (3, 112, 112)
        name = f"torchvision_{model_name}"
        full = TMP / f"{name}.onnx"
        batch = torch.export.Dim("batch", min=1, max=1024)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if dynamo:
                torch.onnx.export(module, (torch.zeros(2, *shape),), str(full), input_names=["input"],
                                  output_names=["output"], dynamic_shapes=({0: batch},),
                                  opset_version=18, external_data=False, verbose=False)
            else:
                torch.onnx.export(module, (torch.zeros(1, *shape),), str(full), input_names=["input"],
                                  output_names=["output"], dynamo=False, opset_version=13,
                                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        model = onnx.load(str(full))
        strip_metadata(model)
        for t in model.graph.initializer:
            if t.data_type == TensorProto.FLOAT and len(t.dims) >= 1:
                t.CopyFrom(numpy_helper.from_array(onnx_value(t.name, tuple(t.dims)), t.name))
        onnx.save(model, str(full))
        x = np.stack([onnx_value(f"input.{i}", shape) for i in range(2)])
        save_io(name, x, run_ort(model, x))
        # The declaration, from the full model.
        import_one(name, full)
        (OUT / f"{name}.safetensors").unlink()
        # Committed without the generated values: dims and names only.
        for t in model.graph.initializer:
            if t.data_type == TensorProto.FLOAT and len(t.dims) >= 1:
                t.ClearField("raw_data")
                t.ClearField("float_data")
        path = OUT / f"{name}.onnx"
        onnx.save(model, str(path))
        full.unlink()
    return out


def nhwc() -> list[tuple[str, pathlib.Path]]:
    rng = np.random.default_rng(13)
    inits = []

    def const(name, array, raw=False):
        array = np.asarray(array)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        if raw or array.dtype != np.float32:
            inits.append(numpy_helper.from_array(array, name))
        else:
            inits.append(helper.make_tensor(name, TensorProto.FLOAT, array.shape, array.flatten().tolist()))
        return name

    def w(shape):
        fan_in = math.prod(shape[1:])
        return rng.uniform(-1, 1, size=shape) * math.sqrt(3.0 / fan_in)

    nodes = []

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def to_nchw(x, name):
        return node("Transpose", [x], name, perm=[0, 3, 1, 2])

    def to_nhwc(x, name):
        return node("Transpose", [x], name, perm=[0, 2, 3, 1])

    # Keras: Conv2D(8, 3, strides=2, padding="same", activation="relu")
    x = to_nchw("input", "conv1/transpose_in")
    x = node("Conv", [x, const("conv1/kernel", w((8, 3, 3, 3))), const("conv1/bias", rng.uniform(-.3, .3, 8))],
             "conv1/Conv2D", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    x = node("Relu", [x], "conv1/Relu")
    y = to_nhwc(x, "conv1/transpose_out")                       # [N, 8, 8, 8]
    # DepthwiseConv2D(3, padding="same") + ReLU6, added to its input (NHWC)
    z = to_nchw(y, "dw/transpose_in")
    z = node("Conv", [z, const("dw/depthwise_kernel", w((8, 1, 3, 3))), const("dw/bias", rng.uniform(-.3, .3, 8))],
             "dw/depthwise", kernel_shape=[3, 3], group=8, auto_pad="SAME_UPPER")
    z = node("Clip", [z, const("relu6/min", np.array(0, np.float32), raw=True),
                      const("relu6/max", np.array(6, np.float32), raw=True)], "dw/Relu6")
    z = to_nhwc(z, "dw/transpose_out")
    s = node("Add", [y, z], "add/add")                          # NHWC residual
    # Concatenate([s, ReLU(s)], axis=-1)
    r = node("Relu", [s], "relu/Relu")
    c = node("Concat", [s, r], "concat/concat", axis=3)        # [N, 8, 8, 16]
    # Conv2D(16, 3, strides=2, padding="same"), BatchNormalization, ReLU
    c = to_nchw(c, "conv2/transpose_in")
    c = node("Conv", [c, const("conv2/kernel", w((16, 16, 3, 3)), raw=True)], "conv2/Conv2D",
             kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    c = node("BatchNormalization", [c, const("bn/gamma", rng.uniform(.5, 1.5, 16)),
                                    const("bn/beta", rng.uniform(-.3, .3, 16)),
                                    const("bn/moving_mean", rng.uniform(-.5, .5, 16)),
                                    const("bn/moving_variance", rng.uniform(.5, 2, 16))],
             "bn/FusedBatchNormV3", epsilon=1e-3)
    c = node("Relu", [c], "conv2/Relu")
    c = to_nhwc(c, "conv2/transpose_out")                       # [N, 4, 4, 16]
    # GlobalAveragePooling2D, Dense(10), softmax
    g = node("ReduceMean", [c, const("gap/axes", np.array([1, 2], np.int64))], "gap/Mean", keepdims=0)
    d = node("MatMul", [g, const("dense/kernel", w((16, 10)))], "dense/MatMul")
    d = node("Add", [d, const("dense/bias", rng.uniform(-.3, .3, 10))], "dense/BiasAdd")
    node("Softmax", [d], "output", axis=-1)
    graph = helper.make_graph(
        nodes, "keras_nhwc",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 16, 16, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, producer_name="onnx-helper (tf2onnx-style)",
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    path = OUT / "nhwc.onnx"
    onnx.save(model, str(path))
    x = rng.normal(size=(3, 16, 16, 3)).astype(np.float32)
    save_io("nhwc", x, run_ort(str(path), x))
    return [("nhwc", path)]


def nhwc_map() -> list[tuple[str, pathlib.Path]]:
    """An NHWC graph whose output is an NHWC map: constnet gives it as
    [C, H, W]. A reflection pad and a softmax along NHWC's axes."""
    rng = np.random.default_rng(21)
    w = numpy_helper.from_array((rng.uniform(-1, 1, (4, 3, 3, 3)) / 3).astype(np.float32), "conv/kernel")
    b = numpy_helper.from_array(rng.uniform(-.3, .3, 4).astype(np.float32), "conv/bias")
    pads = numpy_helper.from_array(np.array([0, 1, 2, 0, 0, 1, 2, 0], np.int64), "pad/pads")
    nodes = [
        helper.make_node("Transpose", ["input"], ["t"], name="conv/transpose_in", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "conv/kernel", "conv/bias"], ["c"], name="conv/Conv2D",
                         kernel_shape=[3, 3], auto_pad="SAME_UPPER"),
        helper.make_node("Transpose", ["c"], ["n"], name="conv/transpose_out", perm=[0, 2, 3, 1]),
        helper.make_node("Pad", ["n", "pad/pads"], ["p"], name="pad/MirrorPad", mode="reflect"),
        helper.make_node("Softmax", ["p"], ["output"], name="softmax", axis=3),
    ]
    graph = helper.make_graph(
        nodes, "nhwc_map",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 8, 8, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10, 12, 4])], [w, b, pads])
    model = helper.make_model(graph, producer_name="onnx-helper (tf2onnx-style)",
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    path = OUT / "nhwc_map.onnx"
    onnx.save(model, str(path))
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    save_io("nhwc_map", x, run_ort(str(path), x))
    return [("nhwc_map", path)]


def keras() -> list[tuple[str, pathlib.Path]]:
    """tests/import_onnx/keras_tf2onnx.onnx, written by tools/keras_tf2onnx.py
    (TensorFlow and tf2onnx): used as committed."""
    path = OUT / "keras_tf2onnx.onnx"
    x = np.random.default_rng(17).normal(size=(3, 16, 16, 3)).astype(np.float32)
    save_io("keras_tf2onnx", x, run_ort(str(path), x))
    return [("keras_tf2onnx", path)]


def unsupported() -> None:
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "conv.weight")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="weights.bin")
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    lo = numpy_helper.from_array(np.array(-1, np.float32), "lo")
    hi = numpy_helper.from_array(np.array(1, np.float32), "hi")
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("Resize", ["c", "", "scales"], ["r"], name="upsample", mode="nearest"),
        helper.make_node("Clip", ["r", "lo", "hi"], ["output"], name="clip"),
    ]
    graph = helper.make_graph(
        nodes, "unsupported",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4, None, None])],
        [w, scales, lo, hi])
    model = helper.make_model(graph, producer_name="onnx-helper", opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(OUT / "unsupported.onnx"))


def import_one(name: str, path: pathlib.Path) -> None:
    """Runs the importer: OUT/<name>.rs and OUT/<name>.safetensors."""
    struct = "".join(p[:1].upper() + p[1:] for p in name.split("_"))
    subprocess.run(["cargo", "run", "-q", "-p", "constnet-import", "--", str(path), "--name", struct,
                    "--out-dir", str(OUT), "--stem", name],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    TMP.mkdir(parents=True, exist_ok=True)
    for name, path in golden() + lenet() + nhwc() + nhwc_map() + keras():
        import_one(name, path)
    if "--no-torch" not in sys.argv:
        torchvision_models()
    unsupported()
    TMP.rmdir()


if __name__ == "__main__":
    main()
