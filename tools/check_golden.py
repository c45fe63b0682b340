#!/usr/bin/env python3
"""Independent self-check of the shipped LeNet-5 files, without torch.

Re-implements the preprocessing and the LeNet-5 forward pass in plain numpy
(float32 normalisation, float64 accumulation for the layers) from
data/lenet5.safetensors and the IDX test files, and compares with
data/lenet5_golden.safetensors:
  * trace.input must match bit for bit (the preprocessing is exact f32);
  * every trace.* layer and all 2,000 logits must match within 1e-4 absolute;
  * predicted classes must equal argmax of the golden logits, and the
    accuracy recomputed from the IDX labels is printed.
This is what the Rust side is expected to reproduce.

Run from the repository root (needs numpy and safetensors, not torch):
    python tools/check_golden.py
"""

import gzip
import os
import struct
import sys

import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data")
TOL = 1e-4


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def preprocess(images28):
    padded = np.pad(images28, ((0, 0), (2, 2), (2, 2)))           # raw bytes, pad 0
    x = (padded.astype(np.float32) / np.float32(255.0) - np.float32(0.1307)) / np.float32(0.3081)
    return x[:, None]                                              # [N,1,32,32] f32


def conv(x, w, b):  # x [N,C,H,W], w [O,C,k,k], valid cross-correlation, stride 1
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    cols = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # N,C,H',W',k,k
    return np.einsum("nchwij,ocij->nohw", cols, w, optimize=True) + b[None, :, None, None]


def pool(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def forward(p, x):
    t = {}
    x = x.astype(np.float64)
    t["conv1"] = h = conv(x, p["conv1.weight"], p["conv1.bias"])
    t["relu1"] = h = np.maximum(h, 0)
    t["pool1"] = h = pool(h)
    t["conv2"] = h = conv(h, p["conv2.weight"], p["conv2.bias"])
    t["relu2"] = h = np.maximum(h, 0)
    t["pool2"] = h = pool(h)
    t["flatten"] = h = h.reshape(len(h), -1)
    t["fc1"] = h = h @ p["fc1.weight"].T + p["fc1.bias"]
    t["relu3"] = h = np.maximum(h, 0)
    t["fc2"] = h = h @ p["fc2.weight"].T + p["fc2.bias"]
    t["relu4"] = h = np.maximum(h, 0)
    t["fc3"] = h = h @ p["fc3.weight"].T + p["fc3.bias"]
    return t


def main():
    p = {k: v.astype(np.float64) for k, v in load_file(os.path.join(DATA, "lenet5.safetensors")).items()}
    g = load_file(os.path.join(DATA, "lenet5_golden.safetensors"))
    imgs = read_idx(os.path.join(DATA, "mnist", "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA, "mnist", "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    x = preprocess(imgs)
    ok = True

    same = np.array_equal(x[0], g["trace.input"])
    print(f"trace.input bit-exact: {same}")
    ok &= same
    ok &= np.array_equal(labels, g["labels"].astype(np.int64))

    t = forward(p, x)
    for name, v in t.items():
        key = "trace." + name
        d = float(np.abs(v[0] - g[key]).max())
        print(f"{key:14s} {str(list(g[key].shape)):14s} max |diff| {d:.2e}")
        ok &= d < TOL
    d = float(np.abs(t["fc3"] - g["logits"]).max())
    pred = t["fc3"].argmax(1)
    print(f"logits [2000,10] max |diff| {d:.2e}")
    ok &= d < TOL and np.array_equal(pred, g["logits"].argmax(1))
    print(f"accuracy {np.mean(pred == labels) * 100:.2f}% ({int((pred == labels).sum())}/{len(labels)})")
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
