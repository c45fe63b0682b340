#!/usr/bin/env python3
"""Write the small safetensors files that the `#[weights]` compile-fail tests
(tests/ui/weights_*.rs) bake in: one per kind of mistake in a weights file,
for the network `input: [4], fc: Linear(4, 2)` (keys fc.weight [2, 4] and
fc.bias [2]).

Run from the repository root with a Python that has numpy and safetensors
(`pip install numpy safetensors`; PyTorch is not needed):

    python3 tools/make_ui_weights.py

Writes tests/ui/weights/{missing_tensor,wrong_shape,wrong_dtype,extra_tensor}.safetensors.
The output is deterministic.
"""

import os

import numpy as np
from safetensors.numpy import save_file

OUT = os.path.join("tests", "ui", "weights")
W = np.arange(8, dtype=np.float32).reshape(2, 4) / 10
B = np.array([0.5, -0.5], dtype=np.float32)

FILES = {
    "missing_tensor": {"fc.weight": W},
    "wrong_shape": {"fc.weight": W.reshape(4, 2), "fc.bias": B},
    "wrong_dtype": {"fc.weight": W.astype(np.float64), "fc.bias": B},
    "extra_tensor": {"fc.weight": W, "fc.bias": B, "fc2.weight": W},
}

os.makedirs(OUT, exist_ok=True)
for name, tensors in FILES.items():
    save_file(tensors, os.path.join(OUT, f"{name}.safetensors"))
    print(f"{OUT}/{name}.safetensors: {sorted(tensors)}")
