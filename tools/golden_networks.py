#!/usr/bin/env python3
"""Golden PyTorch outputs for the `network!` vocabulary: tests/golden/.

Purpose
    Builds small CNNs and MLPs in PyTorch that together exercise every layer
    and every option of constnet's `network!` vocabulary (Conv2d with stride,
    padding, dilation, groups, bias, rectangular kernels, "same"/"valid",
    reflect/replicate/circular padding; MaxPool2d/AvgPool2d with every option
    incl. ceil_mode, count_include_pad and divisor_override; adaptive pools;
    BatchNorm2d with running statistics, affine=False and custom eps; Linear,
    Flatten, Dropout, Dropout2d, Identity; every activation, Softmax and
    LogSoftmax over maps and vectors). For each network it records the
    weights and PyTorch's eval-mode output on a few random samples, which
    tests/golden_networks.rs compares against the same network declared with
    `constnet::network!`. The Rust tests need no Python: the files are
    committed.

    Weights are random but not PyTorch's default init, which shrinks the
    signal ~3x per layer and would leave deep nets with near-constant outputs
    that test nothing: conv/linear weights are N(0, (1.4 / sqrt(fan_in))^2),
    biases N(0, 0.2^2); BatchNorm gets running_mean ~ N(0, 0.5^2),
    running_var ~ U(0.5, 2), weight ~ U(0.5, 1.5), bias ~ N(0, 0.3^2) and a
    random num_batches_tracked. Inputs are N(0, 1) times a per-network scale
    (x10 for strided_big). The networks are chosen so that flipping an
    option (padding_mode, count_include_pad, divisor_override, eps, GELU's
    approximation, an activation's slope/alpha, a softmax dim...) moves some
    output beyond the Rust test's tolerance.

Torch version used
    torch 2.15.0 (CPU, float32), safetensors 0.8.0, numpy 2.4.6. Every
    network is built with `torch.manual_seed(seed)` (its own seed), float32,
    on the CPU, one thread, `torch.use_deterministic_algorithms(True)`, in
    eval mode; rerunning it with the same versions rewrites identical bytes.

How to run
    From the repository root, with any Python that has torch + safetensors:
        python3 -m venv venv && venv/bin/pip install torch safetensors numpy
        venv/bin/python tools/golden_networks.py
    (any Python with torch, safetensors and numpy)

What it writes (tests/golden/)
    <name>.safetensors      the model's state_dict under its PyTorch keys
                            (BatchNorm's `num_batches_tracked` included: the
                            loader must ignore it); loaded by
                            `Net::from_safetensors`.
    <name>.onnx             the same model for other engines (benches/peers):
                            torch.onnx.export (dynamo, opset 18, dynamic
                            batch; needs onnx, onnxscript, onnxruntime),
                            checked with ONNX Runtime within 1e-4; none
                            where the exporter cannot express the network
                            (adaptive max pooling to a size other than 1).
    <name>.io.safetensors   `__input`  [B, ...sample shape] and
                            `__output` [B, ...output shape], B = 3 samples,
                            float32, PyTorch's eval-mode output; and
                            `__trace.<module>` [1, ...] the output of every
                            submodule called once (forward hooks) for the
                            first sample, under its
                            state_dict prefix (`layer1.0.conv1`), which the
                            test compares with `forward_traced`.
    README.md               the table printed below, with file sizes.
    resnet18_keys.json      the keys and shapes of torchvision's resnet18()
                            state_dict (needs torchvision; 0.29.2 used).
    The whole folder stays under 6 MB.
"""

import os
import sys
import warnings

import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden")
BATCH = 3

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
torch.set_default_dtype(torch.float32)


# --------------------------------------------------------------------------
# Networks. Sequential ones have keys "<index>.weight"; Module ones have keys
# "<attribute>.weight" and their forward applies the layers in the order of
# the matching `network!` declaration.
# --------------------------------------------------------------------------

def vgg_stack():
    """VGG-style blocks: 3x3 convs with padding 1, BatchNorm, ReLU, 2x2 max
    pools, bias=False conv, Flatten, Linear, Dropout (Sequential)."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),              # 0  [8,16,12]
        nn.BatchNorm2d(8),                          # 1
        nn.ReLU(),                                  # 2
        nn.Conv2d(8, 8, 3, padding=1),              # 3
        nn.BatchNorm2d(8),                          # 4
        nn.ReLU(inplace=True),                      # 5
        nn.MaxPool2d(2),                            # 6  [8,8,6]
        nn.Conv2d(8, 16, 3, padding=1),             # 7  [16,8,6]
        nn.ReLU(),                                  # 8
        nn.Conv2d(16, 16, 3, padding=1, bias=False),  # 9
        nn.BatchNorm2d(16),                         # 10
        nn.ReLU(),                                  # 11
        nn.MaxPool2d(2, stride=2),                  # 12 [16,4,3]
        nn.Flatten(),                               # 13 [192]
        nn.Linear(16 * 4 * 3, 32),                  # 14
        nn.ReLU(),                                  # 15
        nn.Dropout(0.5),                            # 16
        nn.Linear(32, 10),                          # 17
    )


class MobileNet(nn.Module):
    """Depthwise-separable (MobileNet-style): strided stem, depthwise conv
    (groups = in_channels), pointwise convs, depthwise with multiplier 2,
    ReLU6, Hardswish, BatchNorm with custom eps/momentum, global
    AdaptiveAvgPool2d(1), Dropout, Linear, Softmax (named attributes)."""

    # the layers in forward order, as the `network!` declaration lists them
    ORDER = ("stem", "stem_bn", "ReLU6", "dw1", "dw1_bn", "ReLU6", "pw1", "pw1_bn", "ReLU6",
             "dw2", "Hardswish", "pw2", "pw2_bn", "Hardswish", "AdaptiveAvgPool2d(1)", "Flatten",
             "Dropout(0.2)", "classifier", "Softmax(dim=1)")

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.dw1 = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.dw1_bn = nn.BatchNorm2d(8)
        self.pw1 = nn.Conv2d(8, 16, 1, bias=False)
        self.pw1_bn = nn.BatchNorm2d(16)
        self.dw2 = nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=16)
        self.pw2 = nn.Conv2d(32, 24, 1)
        self.pw2_bn = nn.BatchNorm2d(24, eps=1e-3, momentum=0.01)
        self.classifier = nn.Linear(24, 6)

    def forward(self, x):
        x = nn.functional.relu6(self.stem_bn(self.stem(x)))     # [8,8,6]
        x = nn.functional.relu6(self.dw1_bn(self.dw1(x)))
        x = nn.functional.relu6(self.pw1_bn(self.pw1(x)))       # [16,8,6]
        x = nn.functional.hardswish(self.dw2(x))                # [32,4,3]
        x = nn.functional.hardswish(self.pw2_bn(self.pw2(x)))   # [24,4,3]
        x = nn.functional.adaptive_avg_pool2d(x, 1)             # [24,1,1]
        x = torch.flatten(x, 1)
        x = nn.functional.dropout(x, 0.2, self.training)
        return torch.softmax(self.classifier(x), dim=1)


def strided_big():
    """Strided convs, no pooling, inputs x10: stride 2 'valid', rectangular
    kernel (3, 2) with stride (2, 1) and padding (1, 0), LeakyReLU(0.2),
    ELU(0.7), SELU, Softmax(dim=1) over the channels of a map (partly
    saturated), then LogSoftmax(dim=3) over its columns (Sequential)."""
    return nn.Sequential(
        nn.Conv2d(5, 8, 3, stride=2),                                 # 0 [8,6,4]
        nn.LeakyReLU(0.2),                                            # 1
        nn.Conv2d(8, 12, (3, 2), stride=(2, 1), padding=(1, 0)),      # 2 [12,3,3]
        nn.ELU(alpha=0.7),                                            # 3
        nn.Conv2d(12, 6, 3, stride=2, padding=1),                     # 4 [6,2,2]
        nn.SELU(),                                                    # 5
        nn.Conv2d(6, 5, 1),                                           # 6 [5,2,2]
        nn.Softmax(dim=1),                                            # 7
        nn.LogSoftmax(dim=3),                                         # 8
    )


class PaddingModes(nn.Module):
    """Conv2d padding modes: reflect, replicate with (2, 1) padding and a
    (3, 5) kernel, circular with (1, 2) padding and stride (1, 2), 'same'
    (kernel 5), 'same' with dilation 2 and reflect, 'valid'; Tanh,
    GELU(tanh), SiLU, ReLU on maps, and GELU() as the output (after a
    high-gain conv, so that the exact erf form and the tanh approximation,
    at most 4.7e-4 apart, are told apart) (named attributes)."""

    ORDER = ("reflect", "Tanh", "replicate", "GELU(tanh)", "circular", "SiLU", "same", "ReLU",
             "same_dilated", "valid", "GELU")

    def __init__(self):
        super().__init__()
        self.reflect = nn.Conv2d(3, 6, 3, padding=1, padding_mode="reflect")
        self.replicate = nn.Conv2d(6, 6, (3, 5), padding=(2, 1), padding_mode="replicate")
        self.circular = nn.Conv2d(6, 8, 3, stride=(1, 2), padding=(1, 2), padding_mode="circular")
        self.same = nn.Conv2d(8, 8, 5, padding="same")
        self.same_dilated = nn.Conv2d(8, 4, 3, padding="same", dilation=2, padding_mode="reflect")
        self.valid = nn.Conv2d(4, 4, 3, padding="valid")
        self.valid.init_gain = 5.0  # see randomize_weights

    def forward(self, x):
        x = torch.tanh(self.reflect(x))                                  # [6,10,7]
        x = nn.functional.gelu(self.replicate(x), approximate="tanh")    # [6,12,5]
        x = nn.functional.silu(self.circular(x))                         # [8,12,4]
        x = torch.relu(self.same(x))                                     # [8,12,4]
        x = self.same_dilated(x)                                         # [4,12,4]
        return nn.functional.gelu(self.valid(x))                         # [4,10,2]


def dilation_groups():
    """Dilation with padding, grouped convs (groups 3, 4, 2), depthwise with
    multiplier 2 and stride (2, 3), rectangular kernel with dilation (2, 3),
    bias=False, Hardswish, Hardsigmoid, AdaptiveMaxPool2d((2, 3)) on 5x4,
    Linear(bias=False) (Sequential)."""
    return nn.Sequential(
        nn.Conv2d(6, 12, 3, padding=2, dilation=2, groups=3),                 # 0 [12,14,12]
        nn.ReLU(),                                                            # 1
        nn.Conv2d(12, 12, (3, 2), padding=(1, 2), dilation=(2, 3), groups=4, bias=False),  # 2 [12,12,13]
        nn.Hardswish(),                                                       # 3
        nn.Conv2d(12, 24, 3, stride=(2, 3), groups=12),                       # 4 [24,5,4]
        nn.Hardsigmoid(),                                                     # 5
        nn.Conv2d(24, 24, 1, groups=2),                                       # 6
        nn.AdaptiveMaxPool2d((2, 3)),                                         # 7 [24,2,3]
        nn.Flatten(),                                                         # 8 [144]
        nn.Linear(144, 8, bias=False),                                        # 9
    )


def max_pools():
    """MaxPool2d: dilation 2 with padding, ceil_mode with padding where the
    last window would start in the padding (dropped, as PyTorch does) and
    where it runs past it, explicit stride=None, rectangular kernel with
    dilation (2, 1) and ceil_mode past the input (Sequential)."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 1),                                                   # 0 [4,17,14]
        nn.MaxPool2d(3, stride=1, padding=1, dilation=2),                     # 1 [4,15,12]
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),                 # 2 [4,8,7]
        nn.MaxPool2d(2, stride=None, padding=1, ceil_mode=True),              # 3 [4,5,4]
        nn.MaxPool2d((2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True),  # 4 [4,3,2]
        nn.Flatten(),                                                         # 5 [24]
        nn.Linear(24, 5),                                                     # 6
    )


def avg_pools():
    """AvgPool2d: ceil_mode with a window past the input (divisor clipped),
    count_include_pad=False with padding, padding + ceil_mode (last window
    dropped), rectangular kernel/stride/padding with ceil_mode and
    count_include_pad=False, divisor_override (Sequential)."""
    return nn.Sequential(
        nn.Conv2d(4, 6, 3, padding=1),                                        # 0 [6,13,14]
        nn.Sigmoid(),                                                         # 1
        nn.AvgPool2d(3, stride=2, ceil_mode=True),                            # 2 [6,6,7]
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),        # 3 [6,6,7]
        nn.Conv2d(6, 6, 1),                                                   # 4
        nn.AvgPool2d(2, padding=1, ceil_mode=True),                           # 5 [6,4,4]
        nn.AvgPool2d((2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True,
                     count_include_pad=False),                                # 6 [6,5,3]
        nn.AvgPool2d(2, stride=1, divisor_override=3),                        # 7 [6,4,2]
        nn.Flatten(),                                                         # 8 [48]
        nn.Linear(48, 6),                                                     # 9
    )


class Adaptive(nn.Module):
    """Adaptive pools: AdaptiveMaxPool2d((7, 5)) from 9x8 (overlapping
    bins), AdaptiveAvgPool2d((3, 2)) from 7x5 (non-divisible), global
    AdaptiveAvgPool2d(1); GELU(tanh), Tanh (named attributes)."""

    ORDER = ("conv1", "ReLU", "AdaptiveMaxPool2d((7, 5))", "conv2", "GELU(tanh)",
             "AdaptiveAvgPool2d((3, 2))", "conv3", "AdaptiveAvgPool2d(1)", "Flatten", "fc", "Tanh")

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 10, 1)
        self.fc = nn.Linear(10, 4)

    def forward(self, x):
        x = torch.relu(self.conv1(x))                               # [8,9,8]
        x = nn.functional.adaptive_max_pool2d(x, (7, 5))            # [8,7,5]
        x = nn.functional.gelu(self.conv2(x), approximate="tanh")
        x = nn.functional.adaptive_avg_pool2d(x, (3, 2))            # [8,3,2]
        x = nn.functional.adaptive_avg_pool2d(self.conv3(x), 1)     # [10,1,1]
        return torch.tanh(self.fc(torch.flatten(x, 1)))             # [4]


def activations_map():
    """Every activation on a [C, H, W] map, each after a 1x1 conv so the
    values stay varied (inputs x2.5 to reach ReLU6's and the hard functions'
    saturation): ReLU6, LeakyReLU(), ELU(), GELU(), SiLU, Hardswish,
    Hardsigmoid, Sigmoid, Tanh, Softmax(dim=2) over the rows, LogSoftmax(dim=-3)
    over the channels (Sequential)."""
    layers = [nn.Conv2d(6, 8, 3, padding=1), nn.ReLU6()]
    for act in [nn.LeakyReLU(), nn.ELU(), nn.GELU(), nn.SiLU(), nn.Hardswish(),
                nn.Hardsigmoid(), nn.Sigmoid(), nn.Tanh(), nn.Softmax(dim=2)]:
        layers += [nn.Conv2d(8, 8, 1), act]
    layers += [nn.Conv2d(8, 4, 1), nn.LogSoftmax(dim=-3)]
    return nn.Sequential(*layers)                                   # 0..21, [4,7,9]


def mlp():
    """MLP on [20]: GELU(tanh), Dropout, Linear(bias=False), SELU,
    Hardswish, Identity, ReLU6, LeakyReLU(0.1), LogSoftmax(dim=1)
    (Sequential)."""
    return nn.Sequential(
        nn.Linear(20, 32),              # 0
        nn.GELU(approximate="tanh"),    # 1
        nn.Dropout(0.3),                # 2
        nn.Linear(32, 32, bias=False),  # 3
        nn.SELU(),                      # 4
        nn.Linear(32, 16),              # 5
        nn.Hardswish(),                 # 6
        nn.Identity(),                  # 7
        nn.Linear(16, 16),              # 8
        nn.ReLU6(),                     # 9
        nn.Linear(16, 16),              # 10
        nn.LeakyReLU(0.1),              # 11
        nn.Linear(16, 10),              # 12
        nn.LogSoftmax(dim=1),           # 13
    )


class MlpNamed(nn.Module):
    """MLP on [12] with named attributes: ELU(1.5), Dropout(), Sigmoid,
    Linear(bias=False), Tanh, SiLU, Hardsigmoid, GELU(), Softmax(dim=None)
    (PyTorch's implicit dim: 1 for a batch of vectors)."""

    ORDER = ("fc1", "elu", "drop", "fc2", "Sigmoid", "fc3", "Tanh", "fc4", "SiLU", "fc5",
             "Hardsigmoid", "fc6", "GELU", "fc7", "softmax")

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 24)
        self.fc2 = nn.Linear(24, 24)
        self.fc3 = nn.Linear(24, 24, bias=False)
        self.fc4 = nn.Linear(24, 16)
        self.fc5 = nn.Linear(16, 16)
        self.fc6 = nn.Linear(16, 16)
        self.fc7 = nn.Linear(16, 8)
        self.elu = nn.ELU(alpha=1.5)
        self.drop = nn.Dropout()
        self.softmax = nn.Softmax(dim=None)

    def forward(self, x):
        x = self.drop(self.elu(self.fc1(x)))
        x = torch.sigmoid(self.fc2(x))
        x = torch.tanh(self.fc3(x))
        x = nn.functional.silu(self.fc4(x))
        x = nn.functional.hardsigmoid(self.fc5(x))
        x = nn.functional.gelu(self.fc6(x))
        return self.softmax(self.fc7(x))


class BnVariants(nn.Module):
    """BatchNorm2d on the raw input, affine=False, eps=1e-3 with momentum,
    eps=0.1; bias=False conv, rectangular kernel (2, 3) with stride (1, 2),
    groups=2 with explicit padding_mode="zeros", Dropout2d(0.25),
    Dropout2d(), Identity, SiLU (named attributes)."""

    ORDER = ("bn0", "conv1", "bn1", "ReLU", "drop1", "conv2", "bn2", "identity", "SiLU",
             "conv3", "bn3", "drop2")

    def __init__(self):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(5)
        self.conv1 = nn.Conv2d(5, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8, affine=False)
        self.conv2 = nn.Conv2d(8, 8, (2, 3), stride=(1, 2))
        self.bn2 = nn.BatchNorm2d(8, eps=1e-3, momentum=0.05)
        self.conv3 = nn.Conv2d(8, 6, 3, padding=1, groups=2, padding_mode="zeros")
        self.bn3 = nn.BatchNorm2d(6, eps=0.1)
        self.drop1 = nn.Dropout2d(0.25)
        self.drop2 = nn.Dropout2d()
        self.identity = nn.Identity()

    def forward(self, x):
        x = self.bn0(x)                                  # [5,9,13]
        x = self.drop1(torch.relu(self.bn1(self.conv1(x))))  # [8,7,11]
        x = nn.functional.silu(self.identity(self.bn2(self.conv2(x))))  # [8,6,5]
        return self.drop2(self.bn3(self.conv3(x)))       # [6,6,5]


def tiny_edge():
    """Edge sizes: a kernel as large as the (non-square) input -> [3,1,1],
    Flatten of a 1x1 map, Linear(bias=False), Softmax(dim=-1) (Sequential)."""
    return nn.Sequential(
        nn.Conv2d(2, 3, (5, 7)),        # 0 [3,1,1]
        nn.Flatten(),                   # 1 [3]
        nn.Linear(3, 4, bias=False),    # 2
        nn.Softmax(dim=-1),             # 3
    )


# --------------------------------------------------------------------------
# Graphs: residual blocks, branches, concatenation and padding layers, with
# the module structure (and so the state_dict keys) of torchvision's
# ResNet, MobileNetV2, SqueezeNet and DenseNet.
# --------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock, as written there."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNetCifar(nn.Module):
    """torchvision-style ResNet on 32x32 (keys as torchvision's:
    layer2.0.downsample.0.weight, ...): BasicBlocks with identity shortcuts
    in stage 1, projection shortcuts (1x1 stride-2 conv + BN) in stages 2
    and 3, global average pool, Linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 16))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, stride=2), BasicBlock(32, 32))
        self.layer3 = nn.Sequential(BasicBlock(32, 64, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def conv_bn_relu6(inp, oup, kernel=3, stride=1, groups=1):
    """torchvision's Conv2dNormActivation(..., activation_layer=nn.ReLU6)."""
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """torchvision.models.mobilenetv2.InvertedResidual: 1x1 expansion (if
    expand_ratio != 1), 3x3 depthwise, 1x1 linear bottleneck; the input
    added only where stride == 1 and inp == oup."""

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn_relu6(inp, hidden, kernel=1))
        layers += [
            conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2's structure (features.N..., classifier.1), small: a
    stride-2 stem, inverted residuals with expansion 1 and 6, stride 1
    and 2, with and without the residual; 1x1 head, global pool, Dropout,
    Linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu6(3, 16, stride=2),
            InvertedResidual(16, 8, 1, 1),
            InvertedResidual(8, 12, 2, 6),
            InvertedResidual(12, 12, 1, 6),
            InvertedResidual(12, 16, 2, 6),
            InvertedResidual(16, 16, 1, 6),
            conv_bn_relu6(16, 64, kernel=1),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, 10))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class Fire(nn.Module):
    """torchvision.models.squeezenet.Fire: squeeze 1x1, then the
    concatenation of an expand 1x1 and an expand 3x3 branch."""

    def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


def squeezenet():
    """SqueezeNet 1.1's structure (features.N, classifier.1), small: Fire
    modules (concatenation), ceil-mode max pools, a 1x1 conv classifier and
    a global average pool (Sequential of Sequentials)."""

    class SqueezeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, ceil_mode=True),
                Fire(16, 4, 8, 8),
                Fire(16, 4, 8, 8),
                nn.MaxPool2d(3, stride=2, ceil_mode=True),
                Fire(16, 8, 16, 16),
            )
            self.classifier = nn.Sequential(
                nn.Dropout(0.5), nn.Conv2d(32, 10, 1), nn.ReLU(inplace=True),
                nn.AdaptiveAvgPool2d(1))

        def forward(self, x):
            return torch.flatten(self.classifier(self.features(x)), 1)

    return SqueezeNet()


class DenseLayer(nn.Module):
    """A DenseNet layer (torchvision's _DenseLayer names: norm1, relu1,
    conv1, norm2, relu2, conv2) that returns the concatenation of its
    input and its new features, as the dense block's forward does."""

    def __init__(self, inp, growth, bn_size=4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(inp)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(inp, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        new = self.conv1(self.relu1(self.norm1(x)))
        new = self.conv2(self.relu2(self.norm2(new)))
        return torch.cat([x, new], 1)


class DenseNet(nn.Module):
    """A DenseNet-style dense block (keys denseblock1.denselayer2.conv1...):
    three dense layers, each concatenating its input with 6 new channels
    (BatchNorm and ReLU on an input the concatenation still needs), then a
    transition (BN, ReLU, 1x1 conv, 2x2 average pool), global pool, Linear."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 12, 3, padding=1, bias=False)
        self.denseblock1 = nn.Sequential()
        for i in range(3):
            self.denseblock1.add_module(f"denselayer{i + 1}", DenseLayer(12 + 6 * i, 6))
        self.transition1 = nn.Sequential()
        self.transition1.add_module("norm", nn.BatchNorm2d(30))
        self.transition1.add_module("relu", nn.ReLU(inplace=True))
        self.transition1.add_module("conv", nn.Conv2d(30, 15, 1, bias=False))
        self.transition1.add_module("pool", nn.AvgPool2d(2))
        self.classifier = nn.Linear(15, 5)

    def forward(self, x):
        x = self.transition1(self.denseblock1(self.conv0(x)))
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        return self.classifier(torch.flatten(x, 1))


def tf_padding():
    """Padding layers: TensorFlow's 'same' at stride 2 as ZeroPad2d((0, 1,
    0, 1)) before an unpadded conv, ReflectionPad2d((1, 2, 0, 1)) and
    CircularPad2d(1) before convs, ReplicationPad2d(1) before a max pool,
    ConstantPad2d((1, 0, 2, 1), 0.5) before a strided conv, and a conv with
    padding="same" and an even kernel (PyTorch pads one more on the bottom
    and right) (Sequential)."""
    return nn.Sequential(
        nn.ZeroPad2d((0, 1, 0, 1)),                    # 0 [3,18,18]
        nn.Conv2d(3, 8, 3, stride=2),                  # 1 [8,8,8]
        nn.ReLU(),                                     # 2
        nn.ReflectionPad2d((1, 2, 0, 1)),              # 3 [8,9,11]
        nn.Conv2d(8, 8, 3),                            # 4 [8,7,9]
        nn.ReplicationPad2d(1),                        # 5 [8,9,11]
        nn.MaxPool2d(2),                               # 6 [8,4,5]
        nn.ConstantPad2d((1, 0, 2, 1), 0.5),           # 7 [8,7,6]
        nn.Conv2d(8, 6, 3, stride=2),                  # 8 [6,3,2]
        nn.CircularPad2d(1),                           # 9 [6,5,4]
        nn.Conv2d(6, 4, 3),                            # 10 [4,3,2]
        nn.Conv2d(4, 4, (2, 3), padding="same"),       # 11 [4,3,2]
    )


# name, builder, per-sample input shape, input scale; seeds are 1, 2, ... in this order
NETWORKS = [
    ("vgg_stack", vgg_stack, (3, 16, 12), 1.0),
    ("mobilenet", MobileNet, (4, 15, 11), 1.0),
    ("strided_big", strided_big, (5, 13, 9), 10.0),
    ("padding_modes", PaddingModes, (3, 10, 7), 1.0),
    ("dilation_groups", dilation_groups, (6, 14, 12), 1.0),
    ("max_pools", max_pools, (3, 17, 14), 1.0),
    ("avg_pools", avg_pools, (4, 13, 14), 1.0),
    ("adaptive", Adaptive, (3, 17, 15), 1.0),
    ("activations_map", activations_map, (6, 7, 9), 2.5),
    ("mlp", mlp, (20,), 1.0),
    ("mlp_named", MlpNamed, (12,), 1.5),
    ("bn_variants", BnVariants, (5, 9, 13), 1.0),
    ("tiny_edge", tiny_edge, (2, 5, 7), 1.0),
    ("resnet_cifar", ResNetCifar, (3, 32, 32), 1.0),
    ("mobilenet_v2", MobileNetV2, (3, 32, 32), 1.0),
    ("squeezenet", squeezenet, (3, 33, 33), 1.0),
    ("densenet", DenseNet, (3, 12, 12), 1.0),
    ("tf_padding", tf_padding, (3, 17, 17), 1.0),
]


def randomize_weights(model):
    """PyTorch's default init shrinks the signal ~3x per layer, which would
    leave deep nets with near-constant outputs that test nothing; draw conv
    and linear weights N(0, (gain / sqrt(fan_in))^2), gain 1.4 unless the
    layer sets `init_gain`, and biases N(0, 0.2^2) instead, so activations
    stay O(1) through every layer."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, getattr(m, "init_gain", 1.4) / fan_in ** 0.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.2)


def randomize_batchnorm(model):
    """Non-trivial running statistics and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n) * 0.5)
                m.running_var.copy_(torch.rand(n) * 1.5 + 0.5)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, ()).item()))
                if m.affine:
                    m.weight.copy_(torch.rand(n) + 0.5)
                    m.bias.copy_(torch.randn(n) * 0.3)


def layer_count(model):
    if isinstance(model, nn.Sequential):
        return len(model)
    if hasattr(type(model), "ORDER"):
        return len(type(model).ORDER)
    return sum(1 for m in model.modules() if not list(m.children()))


def traced(model, x):
    """Runs `model` on `x` and returns its output and every submodule's
    output under the module's dotted name (its state_dict prefix), for the
    modules called exactly once (a module reused, like BasicBlock's relu,
    has no single output). In-place modules are seen after they ran."""
    outputs, calls, hooks = {}, {}, []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(_module, _args, out, name=name):
            calls[name] = calls.get(name, 0) + 1
            if isinstance(out, torch.Tensor):
                outputs[name] = out.detach().clone()
        hooks.append(module.register_forward_hook(hook))
    try:
        y = model(x)
    finally:
        for h in hooks:
            h.remove()
    return y, {k: v.contiguous() for k, v in outputs.items() if calls[k] == 1}


def fmt_shape(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def build(seed, name, builder, shape, scale):
    """Builds, saves and describes one network."""
    torch.manual_seed(seed)
    model = builder()
    randomize_weights(model)
    randomize_batchnorm(model)
    model.eval()
    x = torch.randn(BATCH, *shape) * scale
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Softmax(dim=None)'s deprecation notice
        y, trace = traced(model, x)
    assert y.std() > 1e-2, (name, "degenerate output")
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    for k, v in state.items():
        assert v.dtype in (torch.float32, torch.int64), (name, k, v.dtype)
    weights_path = os.path.join(OUT, f"{name}.safetensors")
    io_path = os.path.join(OUT, f"{name}.io.safetensors")
    # one metadata entry: safetensors writes several in hash order, not reproducibly
    metadata = {"source": f"tools/golden_networks.py {name}, torch {torch.__version__}"}
    save_file(state, weights_path, metadata=metadata)
    io = {"__input": x.contiguous(), "__output": y.contiguous()}
    # Every layer's output for the first sample only, to keep the files small.
    io.update({f"__trace.{k}": v[:1].contiguous() for k, v in trace.items()})
    save_file(io, io_path, metadata=metadata)
    onnx_path = os.path.join(OUT, f"{name}.onnx")
    try:
        export_onnx(model, x, y, onnx_path)
    except Exception as e:  # noqa: BLE001 -- the exporter raises many kinds
        reason = str(e).splitlines()[0][:160]
        print(f"{name}: no ONNX export ({reason})", file=sys.stderr)
        if os.path.exists(onnx_path):
            os.remove(onnx_path)
    params = sum(p.numel() for p in model.parameters())
    size = sum(os.path.getsize(p) for p in (weights_path, io_path, onnx_path)
               if os.path.exists(p))
    return {
        "name": name,
        "kind": "Sequential" if isinstance(model, nn.Sequential) else "Module",
        "layers": layer_count(model),
        "params": params,
        "input": fmt_shape(shape),
        "output": fmt_shape(tuple(y.shape[1:])),
        "scale": scale,
        "bytes": size,
        "range": f"{y.min().item():.3g}..{y.max().item():.3g}",
        "doc": " ".join((builder.__doc__ or "").split()),
    }


def export_onnx(model, x, y, path):
    """The model as ONNX (torch.onnx.export, dynamo, opset 18, dynamic
    batch), for the other engines of benches/peers; checked with ONNX
    Runtime against PyTorch's output (1e-4)."""
    import numpy as np
    import onnxruntime as ort
    batch = torch.export.Dim("batch", min=1, max=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["output"],
                          dynamic_shapes=({0: batch},), opset_version=18,
                          external_data=False, verbose=False)
    strip_metadata(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    err = float(np.abs(got - y.numpy()).max())
    assert err <= 1e-4, (path, err)
    return err


def strip_metadata(path):
    """Removes the exporter's per-node metadata (Python stack traces with
    this machine's paths, class hierarchies, fx node text) and doc strings
    from an ONNX file, which the engines never read: the file then depends
    only on the model, not on where it was exported."""
    import onnx
    model = onnx.load(path)
    for graph in [model.graph] + [f for f in model.functions]:
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
    for info in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        del info.metadata_props[:]
    del model.metadata_props[:]
    model.doc_string = ""
    onnx.save(model, path)


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = [build(seed, name, builder, shape, scale)
            for seed, (name, builder, shape, scale) in enumerate(NETWORKS, start=1)]
    header = ("network", "kind", "layers", "params", "input", "output", "x", "output range",
              "bytes")
    table = [header] + [(r["name"], r["kind"], str(r["layers"]), str(r["params"]), r["input"],
                         r["output"], f"{r['scale']:g}", r["range"], str(r["bytes"]))
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i in (0, 1, 4, 5, 7) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(r["bytes"] for r in rows)
    lines.append(f"total: {len(rows)} networks, {total} bytes")
    print("\n".join(lines))
    assert total < 6_000_000, total

    md = [
        "# Golden networks",
        "",
        "Written by `tools/golden_networks.py` (torch "
        f"{torch.__version__.split('+')[0]}, CPU, float32, eval mode, seeded); "
        "checked by `tests/golden_networks.rs`. Do not edit by hand: rerun the script.",
        "",
        "`<name>.safetensors` is the model's `state_dict`; `<name>.io.safetensors` holds "
        f"`__input` `[{BATCH}, ...input]` and `__output` `[{BATCH}, ...output]`. "
        "`x` is the scale of the random normal inputs.",
        "",
        "| network | kind | layers | params | input | output | x | output range | bytes |",
        "|---|---|---:|---:|---|---|---:|---|---:|",
    ]
    md += [f"| `{r['name']}` | {r['kind']} | {r['layers']} | {r['params']} | {r['input']} | "
           f"{r['output']} | {r['scale']:g} | {r['range']} | {r['bytes']} |" for r in rows]
    md += ["", f"Total: {total} bytes.", "", "## What each covers", ""]
    md += [f"- `{r['name']}`: {r['doc']}" for r in rows]
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    write_resnet18_keys()
    return 0


def write_resnet18_keys():
    """tests/golden/resnet18_keys.json: the keys and shapes of
    torchvision.models.resnet18()'s state_dict (without the BatchNorm
    counters), which the `network!` declaration of ResNet-18 must match.
    Needs torchvision; skipped with a message without it."""
    try:
        import torchvision
    except ImportError:
        print("torchvision not installed: tests/golden/resnet18_keys.json left as it is")
        return
    import json
    state = torchvision.models.resnet18().state_dict()
    keys = [[k, list(v.shape)] for k, v in state.items()
            if not k.endswith("num_batches_tracked")]
    with open(os.path.join(OUT, "resnet18_keys.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(k) for k in keys) + "\n]\n")


if __name__ == "__main__":
    sys.exit(main())
