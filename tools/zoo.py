#!/usr/bin/env python3
"""The benchmark zoo: public-architecture networks, seeded weights, golden
outputs and ONNX exports, in data/zoo/.

Purpose
    The networks embedded users deploy, declared in PyTorch as a port of
    their published description is written, with weights drawn from a fixed
    seed (no dataset is needed: the point is the arithmetic, not accuracy).
    For each network it writes what constnet's example, tests and benchmarks
    load, and what the other engines of benches/peers read:

    resnet8   MLPerf Tiny image classification (tinyMLPerf ResNet-8, Keras
              reference): input [3, 32, 32]; 3x3 conv 16 + BN + ReLU; three
              stacks of one residual block (16, 32, 64 filters; stacks 2 and
              3 with stride 2 and a 1x1 stride-2 convolution as the
              shortcut); Keras 'same' padding, which at stride 2 pads 0
              before and 1 after (ZeroPad2d((0, 1, 0, 1)) here); 8x8 average
              pool; Linear(64, 10); softmax.
    ds_cnn    MLPerf Tiny keyword spotting (DS-CNN, tinyMLPerf Keras
              reference): input [1, 49, 10] MFCCs; 10x4 conv, 64 filters,
              stride 2, Keras 'same' padding (top 4, bottom 5, left 1,
              right 1: ZeroPad2d((1, 1, 4, 5))), BN, ReLU; four
              depthwise-separable layers (3x3 depthwise 'same' + BN + ReLU,
              1x1 64 + BN + ReLU); 25x5 average pool; Linear(64, 12);
              softmax. Dropout is the identity at inference and left out.
    mobilenet_v1_025
              MLPerf Tiny visual wake words (MobileNetV1, width 0.25,
              tinyMLPerf Keras reference): input [3, 96, 96]; 3x3 conv 8,
              stride 2; thirteen depthwise-separable layers (3x3 depthwise
              + BN + ReLU, 1x1 + BN + ReLU) with 16, 32, 32, 64, 64, 128 x6,
              256, 256 filters, stride 2 at the 2nd, 4th, 6th and 12th
              depthwise; Keras 'same' at stride 2 as ZeroPad2d((0, 1, 0, 1));
              3x3 average pool; Linear(256, 2); softmax.
    autoencoder
              MLPerf Tiny anomaly detection (DCASE fully connected
              autoencoder, tinyMLPerf reference): input [640] (5 frames of
              128 log-mels); Linear + BatchNorm1d + ReLU, 128 wide, four
              times; an 8-wide bottleneck likewise; four more 128-wide; a
              Linear(128, 640) output.
    lenet5_tanh
              LeNet-5 as LeCun drew it: Tanh and 2x2 average pooling
              (the shipped LeNet-5, data/lenet5.safetensors, has ReLU and max
              pooling), input [1, 32, 32].

Weights
    Conv and linear weights N(0, (1.4 / sqrt(fan_in))^2), biases N(0, 0.2^2);
    BatchNorm running_mean N(0, 0.5^2), running_var U(0.5, 2), weight
    U(0.5, 1.5), bias N(0, 0.3^2) -- as tools/golden_networks.py, so that
    activations stay O(1) through every layer. torch.manual_seed per
    network, float32, CPU, one thread, deterministic algorithms.

What it writes (data/zoo/)
    <name>.safetensors          the state_dict, PyTorch's keys
    <name>_golden.safetensors   `input` [4, ...] N(0, 1), `output` [4, ...]
                                PyTorch's eval-mode output, and `trace.<m>`
                                [1, ...] the output of submodules called
                                once, for input 0 (in forward order, each
                                of at most 20,000 values, 100,000 in all)
    <name>.onnx                 the same model, torch.onnx.export (dynamo,
                                opset 18, dynamic batch), checked against
                                PyTorch with ONNX Runtime (1e-4)

Versions used
    torch 2.15.0 (CPU), onnx 1.23.2, onnxscript 0.7.2, onnxruntime 1.32.0,
    safetensors 0.8.0, numpy 2.4.6.

How to run
    From the repository root, with a Python that has torch, safetensors,
    numpy, onnx, onnxscript and onnxruntime:
        python tools/zoo.py            # every network
        python tools/zoo.py resnet8    # one
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_networks  # noqa: E402  (its ONNX export)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "data", "zoo")
SAMPLES = 4
OPSET = 18

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)


class ResNet8Stack(nn.Module):
    """One residual stack of MLPerf Tiny's ResNet-8."""

    def __init__(self, inp, out, stride=1):
        super().__init__()
        self.pad = nn.ZeroPad2d((0, 1, 0, 1)) if stride != 1 else None
        self.conv1 = nn.Conv2d(inp, out, 3, stride, padding=1 if stride == 1 else 0)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out)
        self.shortcut = nn.Conv2d(inp, out, 1, stride) if stride != 1 else None

    def forward(self, x):
        y = self.conv1(self.pad(x) if self.pad is not None else x)
        y = self.bn2(self.conv2(F.relu(self.bn1(y))))
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return F.relu(y + shortcut)


class ResNet8(nn.Module):
    """MLPerf Tiny's ResNet-8 (see the module docs)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.stack1 = ResNet8Stack(16, 16)
        self.stack2 = ResNet8Stack(16, 32, stride=2)
        self.stack3 = ResNet8Stack(32, 64, stride=2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.stack3(self.stack2(self.stack1(x)))
        x = torch.flatten(F.avg_pool2d(x, 8), 1)
        return torch.softmax(self.fc(x), dim=1)


def conv_bn_relu(inp, out, kernel, stride=1, groups=1, pad=None):
    """Conv2d + BatchNorm2d + ReLU, Keras-style: 'same' padding, written as
    PyTorch ports write it (a ZeroPad2d first where it is not symmetric)."""
    layers = []
    if pad is not None:
        layers.append(nn.ZeroPad2d(pad))
        padding = 0
    else:
        padding = (kernel - 1) // 2 if isinstance(kernel, int) else 0
    layers += [nn.Conv2d(inp, out, kernel, stride, padding, groups=groups),
               nn.BatchNorm2d(out), nn.ReLU()]
    return layers


def ds_cnn():
    """MLPerf Tiny's DS-CNN (see the module docs), as an nn.Sequential."""
    layers = conv_bn_relu(1, 64, (10, 4), stride=2, pad=(1, 1, 4, 5))
    for _ in range(4):
        layers += conv_bn_relu(64, 64, 3, groups=64)
        layers += conv_bn_relu(64, 64, 1)
    layers += [nn.AvgPool2d((25, 5)), nn.Flatten(), nn.Linear(64, 12), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


def mobilenet_v1_025():
    """MLPerf Tiny's MobileNetV1 x0.25 (see the module docs): a stem, then
    an nn.Sequential of the thirteen depthwise-separable layers, each an
    nn.Sequential itself (keys `4.1.1.weight`, ...)."""
    separables = []
    channels = 8
    for out, stride in [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2),
                        (128, 1), (128, 1), (128, 1), (128, 1), (128, 1),
                        (256, 2), (256, 1)]:
        pad = (0, 1, 0, 1) if stride == 2 else None
        layers = conv_bn_relu(channels, channels, 3, stride=stride, groups=channels, pad=pad)
        layers += conv_bn_relu(channels, out, 1)
        separables.append(nn.Sequential(*layers))
        channels = out
    return nn.Sequential(
        *conv_bn_relu(3, 8, 3, stride=2, pad=(0, 1, 0, 1)),
        nn.Sequential(*separables),
        nn.AvgPool2d(3), nn.Flatten(), nn.Linear(256, 2), nn.Softmax(dim=1))


def autoencoder():
    """MLPerf Tiny's anomaly-detection autoencoder (see the module docs)."""
    layers = []
    widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
    for inp, out in zip(widths, widths[1:]):
        layers += [nn.Linear(inp, out), nn.BatchNorm1d(out), nn.ReLU()]
    layers.append(nn.Linear(128, 640))
    return nn.Sequential(*layers)


def lenet5_tanh():
    """LeNet-5 with Tanh and average pooling (see the module docs)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10))


# name: (builder, per-sample input shape)
NETWORKS = {
    "resnet8": (ResNet8, (3, 32, 32)),
    "ds_cnn": (ds_cnn, (1, 49, 10)),
    "mobilenet_v1_025": (mobilenet_v1_025, (3, 96, 96)),
    "autoencoder": (autoencoder, (640,)),
    "lenet5_tanh": (lenet5_tanh, (1, 32, 32)),
}


def randomize(model):
    """Weights that keep activations O(1) (see the module docs)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.normal_(0.0, 1.4 / m.weight[0].numel() ** 0.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.2)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n) * 0.5)
                m.running_var.copy_(torch.rand(n) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n) + 0.5)
                m.bias.copy_(torch.randn(n) * 0.3)


def traced(model, x):
    """The output, and every submodule called once's output by name."""
    outputs, calls, hooks = {}, {}, []
    for name, module in model.named_modules():
        if name:
            def hook(_m, _a, out, name=name):
                calls[name] = calls.get(name, 0) + 1
                outputs.setdefault(name, out.detach().clone())
            hooks.append(module.register_forward_hook(hook))
    try:
        y = model(x)
    finally:
        for h in hooks:
            h.remove()
    return y, {k: v for k, v in outputs.items() if calls[k] == 1}


def trace_subset(trace, largest=20_000, budget=100_000):
    """The first input's traced layers, in forward order, to keep the files
    small: each of at most `largest` values, `budget` values in all."""
    kept, total = {}, 0
    for name, value in trace.items():
        n = value[0].numel()
        if n <= largest and total + n <= budget:
            kept[f"trace.{name}"] = value[:1].contiguous()
            total += n
    return kept


def export_onnx(model, x, path):
    """torch.onnx.export with a dynamic batch, the exporter's metadata
    stripped, checked with ONNX Runtime (tools/golden_networks.py's)."""
    with torch.no_grad():
        expected = model(x)
    return golden_networks.export_onnx(model, x, expected, path)


def build(seed, name):
    builder, shape = NETWORKS[name]
    torch.manual_seed(seed)
    model = builder()
    randomize(model)
    model.eval()
    x = torch.randn(SAMPLES, *shape)
    with torch.no_grad():
        y, trace = traced(model, x)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {"source": f"tools/zoo.py {name}, torch {torch.__version__}"}
    os.makedirs(OUT, exist_ok=True)
    save_file(state, os.path.join(OUT, f"{name}.safetensors"), metadata=meta)
    golden = {"input": x.contiguous(), "output": y.contiguous()}
    golden.update(trace_subset(trace))
    save_file(golden, os.path.join(OUT, f"{name}_golden.safetensors"), metadata=meta)
    err = export_onnx(model, x, os.path.join(OUT, f"{name}.onnx"))
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {params} parameters, output {tuple(y.shape[1:])}, "
          f"ONNX Runtime within {err:.1e} of PyTorch")


def main(argv):
    names = argv or list(NETWORKS)
    for seed, name in enumerate(NETWORKS, start=1):
        if name in names:
            build(seed, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
