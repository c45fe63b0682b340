#!/usr/bin/env python3
"""The PyTorch importer's round trip, as files tests/import.rs checks:
tests/import/.

Purpose
    Runs the importer (tools/constnet_import, `import_module`) on
    - every network of tools/golden_networks.py (18), with the weights of
      tests/golden/<name>.safetensors loaded into the PyTorch module, and
    - the shipped LeNet-5 (tools/train_lenet.py's `LeNet5`, with
      data/lenet5.safetensors),
    - `Functional` below (functional calls, ModuleLists, a key the
      declaration cannot keep) and `CifarResNet` (a ResNet as CIFAR code
      writes it), seeded,
    and writes what it generates: tests/import/<name>.rs (the declaration)
    and tests/import/<name>.safetensors (the weights under its keys).
    tests/import.rs includes the declarations, loads the weights and
    compares the outputs with PyTorch's committed ones
    (tests/golden/<name>.io.safetensors `__output`; data/lenet5_golden.
    safetensors `logits`; tests/import/<name>.io.safetensors for the two
    networks of this file), with no Python.

    And torchvision's resnet18, mobilenet_v2 and squeezenet1_1 (built with
    weights=None after torch.manual_seed(0): nothing is downloaded), whose
    weights are then replaced by a deterministic generator that
    tests/import.rs implements too (`deterministic` below: SplitMix64
    seeded with the FNV-1a hash of each state_dict key), so that their
    megabytes of weights need not be committed: it writes
    tests/import/torchvision_<model>.rs (the declaration) and
    tests/import/torchvision_<model>.out.safetensors (`output`, PyTorch's
    output for the generated inputs `input.0` and `input.1`).

Versions used
    torch 2.15.0 (CPU, float32), torchvision 0.29.2, safetensors 0.8.0,
    numpy 2.4.6, Python 3.11.

How to run
    From the repository root, with a Python that has torch, torchvision,
    safetensors and numpy:
        python tools/gen_import_tests.py            # writes tests/import/
        python tools/gen_import_tests.py --check    # regenerates in a temporary
                                                    # folder, compares, writes nothing
    --check exits 1 if anything differs (tools/test_import.py runs it).
"""

from __future__ import annotations

import argparse
import filecmp
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "import")
sys.path.insert(0, os.path.join(ROOT, "tools", "constnet_import"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from constnet_import import import_module  # noqa: E402
from constnet_import.trace import class_name  # noqa: E402

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

TORCHVISION_SAMPLES = 2
REGENERATE = "Regenerate with `python tools/gen_import_tests.py`; checked by tests/import.rs."


@dataclass
class Case:
    name: str
    struct: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def golden_cases() -> list[Case]:
    import golden_networks as g

    def builder(name, make):
        def build():
            model = make()
            model.load_state_dict(load_file(os.path.join(ROOT, "tests", "golden",
                                                         f"{name}.safetensors")))
            return model
        return build
    return [Case(name, _camel(name), builder(name, make), shape)
            for name, make, shape, _scale in g.NETWORKS]


def lenet_case() -> Case:
    import train_lenet

    def build():
        model = train_lenet.LeNet5()
        model.load_state_dict(load_file(os.path.join(ROOT, "data", "lenet5.safetensors")))
        return model
    return Case("lenet5", "LeNet5", build, (1, 32, 32))


class Functional(nn.Module):
    """What the importer maps beyond modules of the vocabulary: functional
    calls (`F.pad(mode="reflect")`, `F.hardtanh(0, 6)`, `F.relu`,
    `F.avg_pool2d(stride=None)`, `x.mean((2, 3))`, `F.gelu`,
    `F.log_softmax`, `.contiguous()`), `nn.Softmax2d`, residuals written
    `x = x + …` in a loop over an `nn.ModuleList`, a `torch.cat` of a list
    comprehension, and a `ModuleList` with a functional call between its
    layers (whose keys the declaration cannot keep: the weights are saved
    under the declaration's keys)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3)
        self.blocks = nn.ModuleList([nn.Conv2d(8, 8, 3, padding=1) for _ in range(2)])
        self.heads = nn.ModuleList([nn.Conv2d(8, 4, 1), nn.Conv2d(8, 4, 3, padding=1)])
        self.act = nn.Softmax2d()
        self.mlp = nn.ModuleList([nn.Linear(8, 16), nn.Linear(16, 5)])

    def forward(self, x):
        x = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
        x = nn.functional.hardtanh(self.stem(x), 0.0, 6.0)
        for block in self.blocks:
            x = x + nn.functional.relu(block(x))
        x = self.act(torch.cat([head(x) for head in self.heads], dim=1))
        x = nn.functional.avg_pool2d(x, 2, stride=None).mean((2, 3))
        x = nn.functional.gelu(self.mlp[0](x))
        return nn.functional.log_softmax(self.mlp[1](x).contiguous(), dim=-1)


class CifarBlock(nn.Module):
    """The BasicBlock of the popular CIFAR ResNets (kuangliu/pytorch-cifar):
    an empty `nn.Sequential()` as the identity shortcut, `out += …`."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride,
                                                    bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = nn.functional.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return nn.functional.relu(out)


class Swish(nn.Module):
    """A weightless module of one's own, used twice."""

    def forward(self, x):
        return nn.functional.silu(x)


class CifarResNet(nn.Module):
    """A small ResNet as CIFAR code writes it: `_make_layer`, one `Swish`
    instance called twice (its second call would take the field `layer2`
    that `self.layer2` takes: the importer names it), `F.avg_pool2d(out,
    4)`, `out.view(out.size(0), -1)`."""

    def __init__(self):
        super().__init__()
        self.in_planes = 8
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act = Swish()
        self.layer1 = self._make_layer(8, 1)
        self.layer2 = self._make_layer(16, 2)
        self.layer3 = self._make_layer(32, 2)
        self.linear = nn.Linear(32, 10)

    def _make_layer(self, planes, stride):
        layers = []
        for s in [stride, 1]:
            layers.append(CifarBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = nn.functional.avg_pool2d(self.act(out), 4)
        return self.linear(out.view(out.size(0), -1))


def cifar_resnet_case() -> Case:
    def build():
        torch.manual_seed(0)
        model = CifarResNet()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.copy_(torch.randn(m.num_features) * 0.5)
                    m.running_var.copy_(torch.rand(m.num_features) + 0.5)
        return model
    return Case("cifar_resnet", "CifarResNet", build, (3, 16, 16))


def functional_case() -> Case:
    def build():
        torch.manual_seed(0)
        return Functional()
    return Case("functional", "Functional", build, (3, 10, 10))


def write_case(case: Case, out: str, io: bool = False, log=print) -> None:
    model = case.build()
    header = [f"Generated by constnet-import from `{class_name(type(model))}`, input "
              f"[{', '.join(map(str, case.input_shape))}].", REGENERATE]
    result = import_module(model, case.input_shape, name=case.struct, header=header)
    result.write(os.path.join(out, f"{case.name}.rs"),
                 os.path.join(out, f"{case.name}.safetensors"))
    if io:
        torch.manual_seed(1)
        x = torch.randn(3, *case.input_shape)
        with torch.no_grad():
            y = model(x)
        save_file({"__input": x, "__output": y.contiguous()},
                  os.path.join(out, f"{case.name}.io.safetensors"),
                  metadata={"source": f"tools/gen_import_tests.py {case.name}"})
    log(f"{case.name}: {result.name}, {result.parameters} parameters, "
          f"{len(result.blocks)} blocks, checked within {result.error:.1e}"
          + "".join(f"\n  note: {n}" for n in result.notes))


# ---------------------------------------------------------------------------
# Deterministic weights and inputs (the same in tests/import.rs).
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


def deterministic(key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """A tensor for state_dict key `key`: conv/linear weights uniform with
    the variance of N(0, (1.4 / sqrt(fan_in))^2), BatchNorm weights in
    [0.5, 1.5), biases in [-0.3, 0.3), running means in [-0.5, 0.5),
    running variances in [0.5, 2); inputs (`input.<i>`) in [-1.5, 1.5).
    Computed in float64 (one rounding per operation, as in Rust), then
    rounded to float32."""
    n = math.prod(shape)
    u = uniform(key, n)
    if key.endswith(".weight") and len(shape) >= 2:
        scale = 1.4 * math.sqrt(3.0 / math.prod(shape[1:]))
        values = (2.0 * u - 1.0) * scale
    else:
        lo, width = {"weight": (0.5, 1.0), "bias": (-0.3, 0.6), "running_mean": (-0.5, 1.0),
                     "running_var": (0.5, 1.5), "input": (-1.5, 3.0)}[key.split(".")[-2 if
                                                                            key.startswith("input.") else -1]]
        values = lo + width * u
    return torch.from_numpy(values.astype(np.float32).reshape(shape))


def torchvision_cases() -> list[tuple[str, str, Callable[[], nn.Module], tuple[int, ...]]]:
    """resnet18 on 112x112 (any size from 33x33 works: its pool is
    adaptive), so that tests/import.rs, an unoptimised build, runs its
    1.8 GMACs at 224x224 in a quarter of the time."""
    import torchvision
    return [("resnet18", "TvResNet18", torchvision.models.resnet18, (3, 112, 112)),
            ("mobilenet_v2", "TvMobileNetV2", torchvision.models.mobilenet_v2, (3, 224, 224)),
            ("squeezenet1_1", "TvSqueezeNet11", torchvision.models.squeezenet1_1, (3, 224, 224))]


def write_torchvision(model_name: str, struct: str, make, shape: tuple[int, ...],
                      out: str, log=print) -> None:
    torch.manual_seed(0)
    model = make(weights=None).eval()
    with torch.no_grad():
        state = model.state_dict()
        for key, tensor in state.items():
            if tensor.is_floating_point():
                tensor.copy_(deterministic(key, tuple(tensor.shape)))
    header = [f"Generated by constnet-import from `torchvision.models.{model_name}()` "
              f"(torchvision's `{type(model).__name__}`), input "
              f"[{', '.join(map(str, shape))}].", REGENERATE]
    result = import_module(model, shape, name=struct, header=header)
    assert not result.weights.renamed, result.weights.renamed
    for key, tensor in result.weights.tensors.items():
        assert torch.equal(tensor, state[key]), key
    x = torch.stack([deterministic(f"input.{i}", shape)
                     for i in range(TORCHVISION_SAMPLES)])
    with torch.no_grad():
        y = model(x)
    stem = os.path.join(out, f"torchvision_{model_name}")
    with open(f"{stem}.rs", "w", encoding="utf-8") as f:
        f.write(result.rust)
    save_file({"output": y.contiguous()}, f"{stem}.out.safetensors",
              metadata={"source": f"tools/gen_import_tests.py torchvision {model_name}"})
    log(f"torchvision {model_name}: {result.name}, {result.parameters} parameters, blocks "
          f"{[b.name for b in result.blocks]}, checked within {result.error:.1e}, output range "
          f"{y.min().item():.3g}..{y.max().item():.3g}")


def generate(out: str, log=print) -> None:
    os.makedirs(out, exist_ok=True)
    for case in golden_cases() + [lenet_case()]:
        write_case(case, out, log=log)
    write_case(functional_case(), out, io=True, log=log)
    write_case(cifar_resnet_case(), out, io=True, log=log)
    for model_name, struct, make, shape in torchvision_cases():
        write_torchvision(model_name, struct, make, shape, out, log=log)


def check(log=print) -> int:
    """Regenerates into a temporary folder and compares with tests/import/:
    declarations and weights byte for byte, torchvision's outputs within
    1e-5 (they may move in the last bits with another torch build)."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp, log=log)
        committed = sorted(f for f in os.listdir(OUT) if f != "README.md")
        fresh = sorted(os.listdir(tmp))
        problems = [f"missing from tests/import/: {f}" for f in fresh if f not in committed]
        problems += [f"not generated any more: {f}" for f in committed if f not in fresh]
        for f in sorted(set(fresh) & set(committed)):
            a, b = os.path.join(tmp, f), os.path.join(OUT, f)
            if f.endswith((".out.safetensors", ".io.safetensors")):
                x, y = load_file(a), load_file(b)
                if x.keys() != y.keys() or any(
                        x[k].shape != y[k].shape or (x[k] - y[k]).abs().max() > 1e-5 for k in x):
                    problems.append(f"{f}: outputs differ")
            elif not filecmp.cmp(a, b, shallow=False):
                problems.append(f"{f} differs from the regenerated file")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    log("tests/import/ is up to date" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    if args.check:
        return check()
    generate(OUT)
    return 0


if __name__ == "__main__":
    # Run as the module `gen_import_tests`, so that the classes above are
    # named as they are when tools/test_import.py imports this file.
    import gen_import_tests
    sys.exit(gen_import_tests.main())
