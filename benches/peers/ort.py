#!/usr/bin/env python3
"""ONNX Runtime's rows of the peer benchmark (see README.md; run.sh runs it).

Runs data/lenet5.onnx (tools/export_onnx.py) in ONNX Runtime's CPU execution
provider with one intra-op and one inter-op thread, on the 2,000 held-out
digits of data/mnist/ preprocessed exactly as data/README.md says (the first
digit is checked bit for bit against the golden trace input). Checks the
logits of every digit at batch 1, at batch 64 (the first 31 x 64) and as one
batch of 2,000 against PyTorch's golden logits in
data/lenet5_golden.safetensors (max |diff| <= 1e-4), prints the accuracy,
then times batch-1 calls and batch-64 calls. Each call goes through
io-binding onto fixed numpy buffers: the digits are copied into the bound
input buffer, `run_with_iobinding`, the logits copied out of the bound output
buffer -- so the timed call is what the Rust engines' calls are, plus the
Python interpreter's overhead per call (a few microseconds).

Prints accuracy and checks to stderr, the table rows to stdout (run.sh puts
them under the Rust table; --header prints a header too).

    python benches/peers/ort.py [--quick] [--header]

Needs numpy and onnxruntime (pip install onnxruntime numpy); no torch.
"""

import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIG = 64
TOL = 1e-4


def read_idx(path, magic, dims):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    hdr = struct.unpack(">" + "I" * (1 + dims), raw[: 4 * (1 + dims)])
    assert hdr[0] == magic, path
    return np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + dims)).reshape(hdr[1:])


def read_safetensors(path):
    """Minimal safetensors reader (F32 and I64 only), to need no extra package."""
    import json
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for key, info in header.items():
        if key == "__metadata__" or info["dtype"] not in dtypes:
            continue
        a, b = info["data_offsets"]
        out[key] = np.frombuffer(body[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def lenet_inputs():
    images = read_idx(os.path.join(ROOT, "data/mnist/t10k-images-idx3-ubyte.gz"), 0x803, 3)
    labels = read_idx(os.path.join(ROOT, "data/mnist/t10k-labels-idx1-ubyte.gz"), 0x801, 1)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)), constant_values=0)
    x = (padded.astype(np.float32) / np.float32(255.0) - np.float32(0.1307)) / np.float32(0.3081)
    return np.ascontiguousarray(x[:, None, :, :], dtype=np.float32), labels


class Bound:
    """A session bound to fixed input/output buffers of one batch size."""

    def __init__(self, sess, batch):
        self.sess = sess
        self.x = np.zeros((batch, 1, 32, 32), np.float32)
        self.y = np.zeros((batch, 10), np.float32)
        self.binding = sess.io_binding()
        self.binding.bind_input("input", "cpu", 0, np.float32, list(self.x.shape), self.x.ctypes.data)
        self.binding.bind_output("logits", "cpu", 0, np.float32, list(self.y.shape), self.y.ctypes.data)

    def __call__(self, x, out):
        self.x[...] = x                          # copy in
        self.sess.run_with_iobinding(self.binding)
        out[...] = self.y                        # copy out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short run")
    ap.add_argument("--header", action="store_true", help="print the table header too")
    args = ap.parse_args()

    x, labels = lenet_inputs()
    golden = read_safetensors(os.path.join(ROOT, "data/lenet5_golden.safetensors"))
    assert np.array_equal(x[0], golden["trace.input"]), "preprocessing differs from the golden trace"
    assert np.array_equal(labels, golden["labels"])
    ref = golden["logits"]
    n = len(x)

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(os.path.join(ROOT, "data/lenet5.onnx"), opts,
                                providers=["CPUExecutionProvider"])
    one, big = Bound(sess, 1), Bound(sess, BIG)
    name = f"onnxruntime {ort.__version__} (Python, io-binding)"

    # correctness
    y1 = np.zeros((n, 10), np.float32)
    for i in range(n):
        one(x[i:i + 1], y1[i:i + 1])
    full = n // BIG * BIG
    y64 = np.zeros((full, 10), np.float32)
    for i in range(0, full, BIG):
        big(x[i:i + BIG], y64[i:i + BIG])
    yall = sess.run(["logits"], {"input": x})[0]
    diffs = [float(np.abs(y1 - ref).max()), float(np.abs(y64 - ref[:full]).max()),
             float(np.abs(yall - ref).max())]
    print(f"{'onnxruntime ' + ort.__version__:<24} max |logit − PyTorch|: batch 1 {diffs[0]:.1e}, "
          f"batch {BIG} {diffs[1]:.1e}, batch {n} {diffs[2]:.1e}", file=sys.stderr)
    if not all(d <= TOL for d in diffs):  # (NaN fails too)
        sys.exit(f"error: onnxruntime logits differ from PyTorch's by {max(diffs):e} > {TOL:e}")
    correct = int((y1.argmax(1) == labels).sum())
    print(f"{'onnxruntime ' + ort.__version__:<24} accuracy {correct}/{n} = {100 * correct / n:.2f}%",
          file=sys.stderr)

    # Timing: rounds of the Rust side's size, at least as many, and for at
    # least as long as the Rust side takes for its three engines (~15 s), so
    # that load from elsewhere on the shared machine weighs on ONNX Runtime's
    # median as much as on theirs.
    rounds, calls, big_calls = (2, 500, 16) if args.quick else (20, 1000, 50)
    min_seconds = 0.0 if args.quick else 15.0
    out = np.zeros((BIG, 10), np.float32)
    batches = n // BIG
    clock = time.perf_counter_ns
    t1, t64 = [], []
    start = time.perf_counter()
    done = 0
    while done < rounds or time.perf_counter() - start < min_seconds:
        done += 1
        for i in range(max(calls // 20, 20)):
            one(x[i % n:i % n + 1], out[:1])
        for i in range(max(big_calls // 20, 2)):
            b = (i % batches) * BIG
            big(x[b:b + BIG], out)
        for i in range(len(t1), len(t1) + calls):
            xi = x[i % n:i % n + 1]
            t0 = clock()
            one(xi, out[:1])
            t1.append(clock() - t0)
        for i in range(len(t64), len(t64) + big_calls):
            b = (i % batches) * BIG
            xb = x[b:b + BIG]
            t0 = clock()
            big(xb, out)
            t64.append(clock() - t0)
    print(f"timed {len(t1)} batch-1 and {len(t64)} batch-{BIG} calls in {done} rounds "
          f"({time.perf_counter() - start:.1f} s){', --quick' if args.quick else ''}", file=sys.stderr)

    t1, t64 = np.sort(t1) / 1e3, np.sort(t64) / 1e3 / BIG
    pct = lambda v, p: v[(len(v) - 1) * p // 100]  # noqa: E731
    # Python's share of a batch-1 call: the same call with a no-op instead of
    # the session (copy in, call, copy out).
    noop = Bound.__new__(Bound)
    noop.x, noop.y = one.x, one.y
    noop.sess = type("NoSession", (), {"run_with_iobinding": staticmethod(lambda b: None)})
    noop.binding = None
    overhead = []
    for i in range(calls):
        xi = x[i % n:i % n + 1]
        t0 = clock()
        noop(xi, out[:1])
        overhead.append(clock() - t0)
    print(f"{'onnxruntime ' + ort.__version__:<24} µs/image min/p10/p90: batch 1 "
          f"{pct(t1, 0):.2f}/{pct(t1, 10):.2f}/{pct(t1, 90):.2f}, batch {BIG} "
          f"{pct(t64, 0):.2f}/{pct(t64, 10):.2f}/{pct(t64, 90):.2f}; the same batch-1 call "
          f"without the session (Python overhead) {np.median(overhead) / 1e3:.2f} µs", file=sys.stderr)

    if args.header:
        print(f"| engine | µs/image batch 1 | µs/image batch {BIG} | allocations per call |")
        print("|---|---:|---:|---:|")
    print(f"| {name} | {np.median(t1):.2f} | {np.median(t64):.2f} | n/a |")


if __name__ == "__main__":
    main()
