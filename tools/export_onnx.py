#!/usr/bin/env python3
"""Export constnet's reference LeNet-5 to ONNX for the peer benchmark.

What: loads data/lenet5.safetensors (the weights tools/train_lenet.py trained)
into the very same PyTorch module (``LeNet5``, imported from
tools/train_lenet.py) and writes data/lenet5.onnx: one graph, input ``input``
[batch, 1, 32, 32] float32, output ``logits`` [batch, 10] float32, with a
dynamic batch dimension, weights embedded (no external-data file), opset 18 (the exporter's own; 17 works too but goes through a version converter).

Why: benches/peers/ runs the same network in other inference engines
(tract-onnx in Rust, ONNX Runtime in Python) that read ONNX, not
safetensors. constnet itself never reads this file.

Check: after exporting, the script runs the file with ONNX Runtime (CPU, one
thread) on the first 64 test digits (data/mnist/t10k-*, preprocessed exactly
as data/README.md says), as one batch of 64 and as batches of 1, and compares
the logits with PyTorch's (eager, same weights) and with the golden logits in
data/lenet5_golden.safetensors; it fails (exit code 1) if any logit differs by
more than 1e-4 or any prediction differs.

How to run (from anywhere; a Python with torch, safetensors, numpy, onnx,
onnxscript and onnxruntime):

    python tools/export_onnx.py            # write data/lenet5.onnx + check it
    python tools/export_onnx.py --check    # check the existing file only

Versions used for the shipped data/lenet5.onnx: torch 2.15.0+cu132 (CPU),
onnx 1.23.2, onnxscript 0.7.2, onnxruntime 1.32.0, numpy 2.4.6,
safetensors 0.8.0, Python 3.11.7. The script prints the versions it ran with.
The exporter is torch's default (``dynamo=True``, torch.export based; it needs
onnxscript). The graph is 12 nodes -- Conv, Relu, MaxPool, Conv, Relu,
MaxPool, Reshape (to [-1, 400]), Gemm, Relu, Gemm, Relu, Gemm -- with the ten
state_dict tensors as initializers under their PyTorch names, and
``value_info`` shapes for every intermediate in terms of the symbol
``batch``. The output is byte-for-byte reproducible with the versions above
(249,921 bytes, sha256 7c0afd13dd89c1ac3393c98c24ef1f381ce57393575fe878f18a3be9ed81cf8b; the exporter's per-node metadata, with this machine's paths, is stripped).
ONNX Runtime 1.32 and tract-onnx 0.23 both run it (tract: to pin the batch
to a number, load it with ``with_ignore_value_info(true)`` and
``with_ignore_output_shapes(true)``, as benches/peers does, since the
recorded shapes say ``batch``).
"""

import argparse
import os
import sys

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_lenet import LeNet5, load_split, normalise, pad_bytes  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(REPO_ROOT, "data", "lenet5.safetensors")
GOLDEN = os.path.join(REPO_ROOT, "data", "lenet5_golden.safetensors")
ONNX = os.path.join(REPO_ROOT, "data", "lenet5.onnx")
OPSET = 18
TOL = 1e-4
CHECK_DIGITS = 64


def load_model():
    model = LeNet5()
    model.load_state_dict(load_file(WEIGHTS), strict=True)
    model.eval()
    return model


def export(model):
    example = torch.zeros(2, 1, 32, 32, dtype=torch.float32)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    program = torch.onnx.export(
        model,
        (example,),
        dynamo=True,
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes={"x": {0: batch}},
        opset_version=OPSET,
        external_data=False,
        optimize=True,
    )
    program.save(ONNX, external_data=False)
    # The exporter's per-node metadata holds Python stack traces with this
    # machine's paths; the engines never read it.
    from golden_networks import strip_metadata
    strip_metadata(ONNX)
    print(f"wrote {os.path.relpath(ONNX, REPO_ROOT)} ({os.path.getsize(ONNX)} bytes)")


def check(model):
    import onnx
    import onnxruntime as ort

    proto = onnx.load(ONNX)
    onnx.checker.check_model(proto, full_check=True)
    inp, out = proto.graph.input[0], proto.graph.output[0]
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    print(f"graph: {inp.name} {dims(inp)} -> {out.name} {dims(out)}, "
          f"opset {proto.opset_import[0].version}, "
          f"ops {[n.op_type for n in proto.graph.node]}")
    if isinstance(dims(inp)[0], int):
        sys.exit("error: the batch dimension is not dynamic")

    images, labels = load_split("t10k")
    x = normalise(pad_bytes(images[:CHECK_DIGITS], 2)).contiguous()   # [64,1,32,32] f32
    with torch.no_grad():
        ref = model(x).numpy()
    golden = load_numpy(GOLDEN)["logits"][:CHECK_DIGITS]

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(ONNX, opts, providers=["CPUExecutionProvider"])
    xn = x.numpy()
    batched = sess.run(["logits"], {"input": xn})[0]
    single = np.concatenate([sess.run(["logits"], {"input": xn[i:i + 1]})[0]
                             for i in range(CHECK_DIGITS)])
    worst = 0.0
    for name, got in [("onnxruntime batch 64", batched), ("onnxruntime batch 1", single)]:
        for what, want in [("PyTorch", ref), ("golden", golden)]:
            diff = float(np.abs(got - want).max())
            same = bool((got.argmax(1) == want.argmax(1)).all())
            print(f"{name} vs {what}: max |diff| {diff:.2e}, predictions identical: {same}")
            worst = max(worst, diff)
            if diff > TOL or not same:
                sys.exit(f"error: {name} differs from {what} (max |diff| {diff:.2e} > {TOL})")
    acc = (batched.argmax(1) == labels[:CHECK_DIGITS]).mean()
    print(f"ok: {CHECK_DIGITS} digits, max |diff| {worst:.2e} <= {TOL}, accuracy {acc:.2%}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="check the existing data/lenet5.onnx only")
    args = ap.parse_args()

    import onnx
    import onnxruntime
    import onnxscript
    import safetensors
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxscript {onnxscript.__version__}, "
          f"onnxruntime {onnxruntime.__version__}, numpy {np.__version__}, "
          f"safetensors {safetensors.__version__}, Python {sys.version.split()[0]}")
    torch.set_num_threads(1)
    model = load_model()
    if not args.check:
        export(model)
    check(model)


if __name__ == "__main__":
    main()
