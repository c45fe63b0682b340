#!/usr/bin/env python3
"""ONNX Runtime from Python: its column of the peer benchmark (see README.md;
run.sh runs it before the Rust engines and hands its results to them).

The networks are those of the Rust side (src/nets.rs), found by their files:
the shipped LeNet-5 (data/lenet5.onnx) on the 2,000 held-out digits of
data/mnist/ preprocessed exactly as data/README.md says (the first digit is
checked bit for bit against the golden trace input); the zoo's networks
(data/zoo/<name>.onnx, golden `input`/`output` in <name>_golden.safetensors);
and the golden networks with an ONNX export (tests/golden/<name>.onnx,
`__input`/`__output` in <name>.io.safetensors). As on the Rust side, the
golden inputs are repeated to a multiple of 64 images (the pool).

Each network runs in ONNX Runtime's CPU execution provider with one intra-op
and one inter-op thread, sequential execution and all graph optimisations.
Every call goes through io-binding onto fixed numpy buffers: the images are
copied into the bound input buffer, `run_with_iobinding`, the outputs copied
out of the bound output buffer -- what the Rust engines' calls do, plus the
Python interpreter's work per call (about a microsecond).

First every network is checked: every pool image at batch 1 and in batches
of 64, each output within 1e-4 (or 1e-3 relative above 1) of PyTorch's; a
failure exits with status 1. Then each network is timed in rounds of the
Rust side's size (batch-1 calls, then batch-64 calls, each for the round's
budget): the 10th percentile of calls, per image (as on the Rust side: on
a shared core the median of calls longer than a scheduler time slice
measures the machine's load).

Logs go to stderr; the results, a `# onnxruntime <version>` line and one
`<network>\\t<us/image batch 1>\\t<us/image batch 64>` line per network
(10th percentiles), to
--results FILE (or stdout), which `peers --python-results FILE` reads.

    python benches/peers/ort.py [--quick] [--results FILE] [NETWORK...]

NETWORKs select the networks whose names contain one of them. Needs numpy
and onnxruntime (pip install onnxruntime numpy); no torch.
"""

import argparse
import glob
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIG = 64
SHOWN = 10  # the percentile of calls in the tables (see the docstring)


def read_idx(path, magic, dims):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    hdr = struct.unpack(">" + "I" * (1 + dims), raw[: 4 * (1 + dims)])
    assert hdr[0] == magic, path
    return np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + dims)).reshape(hdr[1:])


def read_safetensors(path, names):
    """The float32 tensors `names` of a safetensors file (no extra package)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for key in names:
        info = header[key]
        assert info["dtype"] == "F32", (path, key)
        a, b = info["data_offsets"]
        out[key] = np.frombuffer(body[a:b], dtype=np.float32).reshape(info["shape"])
    return out


def lenet5_golden():
    images = read_idx(os.path.join(ROOT, "data/mnist/t10k-images-idx3-ubyte.gz"), 0x803, 3)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)), constant_values=0)
    x = (padded.astype(np.float32) / np.float32(255.0) - np.float32(0.1307)) / np.float32(0.3081)
    x = np.ascontiguousarray(x[:, None, :, :], dtype=np.float32)
    golden = read_safetensors(os.path.join(ROOT, "data/lenet5_golden.safetensors"),
                              ["trace.input", "logits"])
    assert np.array_equal(x[0], golden["trace.input"]), "preprocessing differs from the golden trace"
    return x, golden["logits"]


def networks():
    """(name, onnx path, function returning the golden inputs and outputs)."""
    found = [("lenet5", os.path.join(ROOT, "data/lenet5.onnx"), lenet5_golden)]
    for onnx in sorted(glob.glob(os.path.join(ROOT, "data/zoo/*.onnx"))):
        name = os.path.basename(onnx)[:-5]
        golden = os.path.join(ROOT, "data/zoo", name + "_golden.safetensors")
        found.append((name, onnx, lambda g=golden: tuple(read_safetensors(g, ["input", "output"]).values())))
    for onnx in sorted(glob.glob(os.path.join(ROOT, "tests/golden/*.onnx"))):
        name = os.path.basename(onnx)[:-5]
        golden = os.path.join(ROOT, "tests/golden", name + ".io.safetensors")
        found.append((name, onnx, lambda g=golden: tuple(read_safetensors(g, ["__input", "__output"]).values())))
    return found


def cycle_to_batches(a):
    """Repeats the images of `a` to the next multiple of BIG."""
    n = -(-len(a) // BIG) * BIG
    return np.ascontiguousarray(a[np.arange(n) % len(a)])


def within(got, want):
    err = np.abs(got - want)
    return (err <= 1e-4) | ((np.abs(want) > 1) & (err <= 1e-3 * np.abs(want)))  # NaN fails


def session(onnx):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only
    return ort.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])


class Bound:
    """A session bound to fixed input/output buffers of one batch size."""

    def __init__(self, sess, batch, image_shape, output_shape):
        self.sess = sess
        self.x = np.zeros((batch, *image_shape), np.float32)
        self.y = np.zeros((batch, *output_shape), np.float32)
        self.binding = sess.io_binding()
        self.binding.bind_input(sess.get_inputs()[0].name, "cpu", 0, np.float32,
                                list(self.x.shape), self.x.ctypes.data)
        self.binding.bind_output(sess.get_outputs()[0].name, "cpu", 0, np.float32,
                                 list(self.y.shape), self.y.ctypes.data)

    def __call__(self, x, out):
        self.x[...] = x                          # copy in
        self.sess.run_with_iobinding(self.binding)
        out[...] = self.y                        # copy out


def check(name, one, big, pool, golden):
    """Every pool image at batch 1 and in batches of BIG against PyTorch."""
    n = len(pool)
    diff = 0.0
    for batch, bound in ((1, one), (BIG, big)):
        got = np.zeros_like(golden)
        for i in range(0, n, batch):
            bound(pool[i:i + batch], got[i:i + batch])
        ok = within(got, golden)
        if not ok.all():
            i = np.argwhere(~ok)[0]
            sys.exit(f"error: {name}: onnxruntime {ort.__version__} (Python) at batch {batch}, "
                     f"image {i[0]}: {got[tuple(i)]} where PyTorch has {golden[tuple(i)]}")
        diff = max(diff, float(np.abs(got - golden).max()))
    print(f"{name:<18} {'onnxruntime ' + ort.__version__ + ' (Python)':<34} max |output − PyTorch| "
          f"{diff:.1e} ({n} images at batch 1 and {BIG})", file=sys.stderr)


def timed_calls(bound, pool, batch, start, budget, min_calls, out):
    """Calls on successive images (batches) of the pool until the budget
    (s) is spent, after a short warm-up; ns per call."""
    n = len(pool)
    for k in range(2):
        i = ((start + k) * batch) % n
        bound(pool[i:i + batch], out[:batch])
    clock = time.perf_counter_ns
    times = []
    begin = time.perf_counter()
    k = start
    while len(times) < min_calls or time.perf_counter() - begin < budget:
        i = (k * batch) % n
        x = pool[i:i + batch]
        t0 = clock()
        bound(x, out[:batch])
        times.append(clock() - t0)
        k += 1
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short run")
    ap.add_argument("--results", help="write the results here (default: stdout)")
    ap.add_argument("networks", nargs="*", help="only networks whose names contain one of these")
    args = ap.parse_args()

    # The Rust side's rounds and budget per round and batch size.
    rounds, budget, min_one, min_big = (2, 0.010, 5, 1) if args.quick else (10, 0.050, 20, 3)
    chosen = [n for n in networks() if not args.networks or any(f in n[0] for f in args.networks)]
    if not chosen:
        sys.exit(f"error: no network matches {args.networks}")

    benches = []
    for name, onnx, golden in chosen:
        inputs, outputs = golden()
        pool, want = cycle_to_batches(inputs), cycle_to_batches(outputs)
        sess = session(onnx)
        one = Bound(sess, 1, pool.shape[1:], want.shape[1:])
        big = Bound(sess, BIG, pool.shape[1:], want.shape[1:])
        check(name, one, big, pool, want)
        benches.append((name, one, big, pool, want))

    lines = [f"# onnxruntime {ort.__version__}"]
    for name, one, big, pool, want in benches:
        out = np.zeros((BIG, *want.shape[1:]), np.float32)
        t1, t64 = [], []
        start = time.perf_counter()
        for _ in range(rounds):
            t1 += timed_calls(one, pool, 1, len(t1), budget, min_one, out)
            t64 += timed_calls(big, pool, BIG, len(t64), budget, min_big, out)
        t1, t64 = np.sort(t1) / 1e3, np.sort(t64) / 1e3 / BIG
        pct = lambda v, p: v[(len(v) - 1) * p // 100]  # noqa: E731
        print(f"{name:<18} {'onnxruntime ' + ort.__version__ + ' (Python)':<34} µs/image min/p10/p50/p90: "
              f"batch 1 {pct(t1, 0):.2f}/{pct(t1, 10):.2f}/{pct(t1, 50):.2f}/{pct(t1, 90):.2f} "
              f"({len(t1)} calls), batch {BIG} {pct(t64, 0):.2f}/{pct(t64, 10):.2f}/{pct(t64, 50):.2f}/"
              f"{pct(t64, 90):.2f} ({len(t64)} calls); {time.perf_counter() - start:.1f} s",
              file=sys.stderr)
        lines.append(f"{name}\t{pct(t1, SHOWN):.4f}\t{pct(t64, SHOWN):.4f}")

    text = "\n".join(lines) + "\n"
    if args.results:
        with open(args.results, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
