#!/usr/bin/env python3
"""Write the small safetensors files that the `#[weights]` compile-fail tests
(tests/ui/weights_*.rs) bake in: one per kind of mistake in a weights file,
for the network `input: [4], fc: Linear(4, 2)` (keys fc.weight [2, 4] and
fc.bias [2]), and three for the two-layer network
`input: [4], fc1: Linear(4, 3), ReLU, fc2: Linear(3, 2)`: several problems
of every kind at once, nn.Sequential keys, and nn.DataParallel's `module.`
prefix.

Run from the repository root with a Python that has numpy and safetensors
(`pip install numpy safetensors`; PyTorch is not needed):

    python3 tools/make_ui_weights.py

Writes tests/ui/weights/{missing_tensor,wrong_shape,wrong_dtype,extra_tensor,
many_problems,sequential_keys,data_parallel}.safetensors.
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
}

os.makedirs(OUT, exist_ok=True)
for name, tensors in FILES.items():
    save_file(tensors, os.path.join(OUT, f"{name}.safetensors"))
    print(f"{OUT}/{name}.safetensors: {sorted(tensors)}")
