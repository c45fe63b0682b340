#!/usr/bin/env python3
"""Tests of the PyTorch importer (tools/constnet_import), with PyTorch.

Purpose
    - The committed round trip is current: tests/import/ is what
      tools/gen_import_tests.py writes today (tests/import.rs then checks
      it against PyTorch's outputs in Rust, without Python).
    - What cannot be expressed is reported, every problem at once, each
      with its module path and op, with a non-zero exit code and no file
      written (nor an existing one touched): unsupported ops and modules,
      control flow on the input, shapes that depend on the batch size, a
      size that is not fixed, an example input the module does not accept,
      shared weights, dataflow that is not branches meeting at one merge.
    - What the importer recovers: blocks with parameters and conditions,
      functional calls as layers, reports of renamed keys.

Versions used
    torch 2.15.0, torchvision 0.29.2, safetensors 0.8.0, numpy 2.4.6,
    Python 3.11. Without torchvision the round-trip and torchvision tests
    are skipped.

How to run
    From the repository root, with a Python that has torch and
    safetensors (and torchvision):
        python tools/test_import.py            # or: python -m unittest tools/test_import.py
    Never run by `cargo test` (which needs no Python).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "constnet_import"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from constnet_import import ImportFailure, import_module  # noqa: E402

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None

# Modules the command line is run on, written to a file of their own.
MODELS = textwrap.dedent('''
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            return x * torch.sigmoid(self.conv(x))


    class Unsupported(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.layer3 = nn.Sequential(Gate())
            self.scale = nn.Parameter(torch.ones(1))
            self.norm = nn.LayerNorm([8, 16, 16])
            self.classifier = nn.LSTM(8, 4)

        def forward(self, x):
            x = self.layer3(self.stem(x))
            x = F.interpolate(x, scale_factor=2)
            x = self.norm(x * self.scale)
            x = x.mean((2, 3))
            return self.classifier(x.unsqueeze(0))[0]


    class ControlFlow(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 4)

        def forward(self, x):
            if x.sum() > 0:
                x = -x
            return self.fc(x)


    class BatchOfOne(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(72, 3)

        def forward(self, x):
            return self.fc(self.conv(x).view(1, -1))


    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))


    class Tangled(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(4, 4, 1)
            self.b = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            a = self.a(x)
            b = self.b(a)
            return (x + a) + b


    class Tuple(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return self.fc(x), x


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
''')


class CommandLine(unittest.TestCase):
    """`tools/torch2constnet.py` on the modules above, in a fresh output
    folder each."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.models = os.path.join(self.tmp.name, "models.py")
        with open(self.models, "w", encoding="utf-8") as f:
            f.write(MODELS)
        self.out = os.path.join(self.tmp.name, "out")
        os.makedirs(self.out)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def run_cli(self, model: str, shape: str, *extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, os.path.join(ROOT, "tools", "torch2constnet.py"),
               f"{self.models}:{model}", "--input", shape, "-o", os.path.join(self.out, "net"),
               *extra]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    def assert_refused(self, model: str, shape: str, *expected: str, code: int = 1) -> str:
        """The import fails with `code`, every `expected` line is in the
        report, and the output folder is still empty."""
        result = self.run_cli(model, shape)
        self.assertEqual(result.returncode, code, result.stderr)
        for line in expected:
            self.assertIn(line, result.stderr)
        self.assertEqual(os.listdir(self.out), [], "files written despite the failure")
        self.assertEqual(result.stdout, "")
        return result.stderr

    def test_unsupported_ops_are_reported_all_at_once(self) -> None:
        report = self.assert_refused(
            "Unsupported", "3,8,8",
            "cannot express this module in constnet (6 problems):",
            "  layer3.0: * (elementwise product of two tensors), at models.py:",
            "  forward: F.interpolate (resizing (interpolation)), at models.py:",
            "  forward: * with the module's own tensor `scale`",
            "  norm: nn.LayerNorm (not in constnet's vocabulary)",
            "  forward: Tensor.unsqueeze (a new dimension), at models.py:",
            "  classifier: nn.LSTM (not in constnet's vocabulary)",
            "nothing written")
        self.assertIn("`x = F.interpolate(x, scale_factor=2)`", report)

    def test_control_flow_on_the_input(self) -> None:
        self.assert_refused(
            "ControlFlow", "12",
            "forward: cannot be traced at models.py:",
            "`if x.sum() > 0:`",
            "its control flow depends on the input's values or shape")

    def test_shapes_that_depend_on_the_batch(self) -> None:
        self.assert_refused(
            "BatchOfOne", "1,8,8",
            "input: the module runs on a batch of 1 but fails on a batch of 2",
            "the first value that does not keep the batch first is the output of forward: "
            "Tensor.view, [1, 144] for a batch of 2")

    def test_sizes_must_be_fixed(self) -> None:
        self.assert_refused("LeNet5", "1,?,32", "error: --input takes sizes separated by commas",
                            "constnet needs every size fixed", code=2)
        self.assert_refused("LeNet5", "1,-1,32",
                            "input: the example input shape [1, -1, 32] is not one sample's")

    def test_an_input_the_module_does_not_accept(self) -> None:
        self.assert_refused(
            "LeNet5", "1,28,28",
            "input: the example input [1, 28, 28] (one sample; batch of 1) does not fit the "
            "module: `fc1` (nn.Linear) fails on [1, 256]")
        self.assert_refused(
            "LeNet5", "3,32,32",
            "`conv1` (nn.Conv2d) fails on [1, 3, 32, 32]",
            "expected input[1, 3, 32, 32] to have 1 channels")
        self.assert_refused("LeNet5", "32,32", "is not one sample's [C, H, W] or [N]")

    def test_shared_weights(self) -> None:
        self.assert_refused("Shared", "8", "fc: nn.Linear is called 2 times (shared weights)")

    def test_dataflow_that_is_not_branches_meeting_once(self) -> None:
        self.assert_refused("Tangled", "4,5,5", "constnet's branches")

    def test_several_outputs(self) -> None:
        self.assert_refused("Tuple", "8", "forward: returns a tuple")

    def test_a_failure_leaves_existing_files_alone(self) -> None:
        for ext, text in ((".rs", "// mine\n"), (".safetensors", "not yet\n")):
            with open(os.path.join(self.out, "net" + ext), "w", encoding="utf-8") as f:
                f.write(text)
        result = self.run_cli("Unsupported", "3,8,8")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(sorted(os.listdir(self.out)), ["net.rs", "net.safetensors"])
        with open(os.path.join(self.out, "net.rs"), encoding="utf-8") as f:
            self.assertEqual(f.read(), "// mine\n")

    def test_success_writes_both_files(self) -> None:
        result = self.run_cli("LeNet5", "1,32,32", "--name", "LeNet5")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sorted(os.listdir(self.out)), ["net.rs", "net.safetensors"])
        self.assertIn("LeNet5 (models.LeNet5): [1, 32, 32] -> [10], 61,706 parameters",
                      result.stdout)
        with open(os.path.join(self.out, "net.rs"), encoding="utf-8") as f:
            rust = f.read()
        self.assertIn("        conv1: Conv2d(1, 6, 5),   // -> [6, 28, 28]\n", rust)
        self.assertIn("        fc1: Linear(400, 120),    // -> [120]\n", rust)


class Recovered(unittest.TestCase):
    """What the importer makes of modules (the Python API)."""

    def test_functional_calls_become_layers(self) -> None:
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)

            def forward(self, x):
                x = F.pad(x, (0, 1, 0, 1), value=0.5)
                x = F.leaky_relu(self.conv(x), 0.2)
                x = F.max_pool2d(x, 2, ceil_mode=True)
                x = x.mean((2, 3), keepdim=True)
                return F.softmax(x.view(x.size(0), -1), dim=1)

        rust = import_module(Net(), (3, 8, 8)).rust
        for line in ("ConstantPad2d((0, 1, 0, 1), 0.5),", "conv: Conv2d(3, 4, 3),",
                     "LeakyReLU(0.2),", "MaxPool2d(2, ceil_mode = true),",
                     "AdaptiveAvgPool2d(1),", "Flatten,", "Softmax(dim = 1),"):
            self.assertIn(line, rust)

    def test_residual_and_concatenation(self) -> None:
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(4, 4, 3, padding=1)
                self.b = nn.Conv2d(4, 2, 1)

            def forward(self, x):
                x = x + F.relu(self.a(x))
                return torch.cat([x, self.b(x)], 1)

        rust = import_module(Net(), (4, 6, 6)).rust
        self.assertIn("Residual {", rust)
        self.assertIn("Cat {\n            {},\n            b: Conv2d(4, 2, 1),", rust)

    def test_keys_a_declaration_cannot_keep_are_reported(self) -> None:
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 2)])

            def forward(self, x):
                return self.layers[1](torch.relu(self.layers[0](x)))

        result = import_module(Net(), (4,))
        self.assertIn("layers: Sequential {", result.rust)
        self.assertEqual(result.weights.renamed,
                         [("layers.1.weight", "layers.2.weight"),
                          ("layers.1.bias", "layers.2.bias")])
        self.assertIn("saved under the declaration's keys", result.notes[0])

    def test_no_blocks(self) -> None:
        import golden_networks as g
        rust = import_module(g.ResNetCifar(), (3, 32, 32), blocks=False).rust
        self.assertNotIn("block ", rust)
        self.assertIn("downsample: Sequential {", rust)

    def test_report_is_an_exception_with_every_problem(self) -> None:
        class Net(nn.Module):
            def forward(self, x):
                return torch.matmul(x, x) - 1

        with self.assertRaises(ImportFailure) as caught:
            import_module(Net(), (1, 4, 4))
        self.assertEqual([str(p).split(", at ")[0] for p in caught.exception.problems],
                         ["forward: torch.matmul (a matrix product)",
                          "forward: - (subtraction by a constant)"])

    @unittest.skipUnless(HAS_TORCHVISION, "torchvision is not installed")
    def test_torchvision_blocks(self) -> None:
        import torchvision
        result = import_module(torchvision.models.resnet18(weights=None), (3, 64, 64))
        self.assertEqual([b.name for b in result.blocks], ["BasicBlock"])
        self.assertIn("block BasicBlock(inp, oup, stride = 1) {", result.rust)
        self.assertIn("if stride != 1 || inp != oup {", result.rust)
        result = import_module(torchvision.models.squeezenet1_1(weights=None), (3, 96, 96))
        self.assertIn("block Fire(inplanes, oup) {", result.rust)


class RoundTrip(unittest.TestCase):
    @unittest.skipUnless(HAS_TORCHVISION, "torchvision is not installed")
    def test_committed_files_are_current(self) -> None:
        import gen_import_tests
        self.assertEqual(gen_import_tests.check(log=lambda *_: None), 0)


if __name__ == "__main__":
    unittest.main()
