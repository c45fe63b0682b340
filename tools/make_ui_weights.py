#!/usr/bin/env python3
"""Write the small safetensors files that the `#[weights]` compile-fail tests
(tests/ui/weights_*.rs) bake in: one per kind of mistake in a weights file,
for the network `input: [4], fc: Linear(4, 2)` (keys fc.weight [2, 4] and
fc.bias [2]), and three for the two-layer network
`input: [4], fc1: Linear(4, 3), ReLU, fc2: Linear(3, 2)`: several problems
of every kind at once, nn.Sequential keys, and nn.DataParallel's `module.`
prefix. Also one int8 file (`to_safetensors`' format) with a problem of
every kind for `#[int8(weights = "…")]` on `input: [4], fc: Linear(4, 2)`
(keys fc.weight I8 [2, 4], fc.bias I32 [2], fc.weight_scale F32 [2],
values.scale F32 [2], values.zero_point I8 [2]).

Run from the repository root with a Python that has numpy and safetensors
(`pip install numpy safetensors`; PyTorch is not needed):

    python3 tools/make_ui_weights.py

Writes tests/ui/weights/{missing_tensor,wrong_shape,wrong_dtype,extra_tensor,
many_problems,sequential_keys,data_parallel,int8_problems}.safetensors.
The output is deterministic.
"""

import os

import numpy as np
from safetensors.numpy import save_file

OUT = os.path.join("tests", "ui", "weights")
W = np.arange(8, dtype=np.float32).reshape(2, 4) / 10
B = np.array([0.5, -0.5], dtype=np.float32)

# The two-layer network's tensors.
W1 = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
B1 = np.array([0.5, -0.5, 0.25], dtype=np.float32)
W2 = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
B2 = np.array([1.0, -1.0], dtype=np.float32)
TWO_LAYERS = {"fc1.weight": W1, "fc1.bias": B1, "fc2.weight": W2, "fc2.bias": B2}

FILES = {
    "missing_tensor": {"fc.weight": W},
    "wrong_shape": {"fc.weight": W.reshape(4, 2), "fc.bias": B},
    "wrong_dtype": {"fc.weight": W.astype(np.float64), "fc.bias": B},
    "extra_tensor": {"fc.weight": W, "fc.bias": B, "fc2.weight": W},
    # Two tensors wrong, two missing, two unexpected.
    "many_problems": {
        "fc1.weight": W1.reshape(4, 3),
        "fc1.bias": B1.astype(np.float64),
        "fc3.weight": W2,
        "head.bias": B2,
    },
    # nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).
    "sequential_keys": {
        "0.weight": W1,
        "0.bias": B1,
        "2.weight": W2,
        "2.bias": B2,
    },
    # nn.DataParallel(model).state_dict().
    "data_parallel": {f"module.{k}": v for k, v in TWO_LAYERS.items()},
    # int8: a weight of the wrong shape, a float bias, a zero scale, the
    # values' zero points missing.
    "int8_problems": {
        "fc.weight": np.arange(8, dtype=np.int8).reshape(4, 2),
        "fc.bias": B,
        "fc.weight_scale": np.array([0.01, 0.0], dtype=np.float32),
        "values.scale": np.array([0.05, 0.1], dtype=np.float32),
    },
}

os.makedirs(OUT, exist_ok=True)
for name, tensors in FILES.items():
    save_file(tensors, os.path.join(OUT, f"{name}.safetensors"))
    print(f"{OUT}/{name}.safetensors: {sorted(tensors)}")
