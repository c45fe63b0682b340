//! The networks of `tests/golden/` (written by `tools/golden_networks.py`),
//! declared with `network!` as the PyTorch modules are written: the
//! vocabulary's golden tests (`tests/golden_networks.rs`) and the graph
//! networks (torchvision's ResNet `BasicBlock`, with a small ResNet on
//! 32×32 and ResNet-18 itself in torchvision's layout, [3, 224, 224];
//! MobileNetV2, SqueezeNet, DenseNet and padding layers), shared with the
//! benchmarks.

constnet::network! {
    /// VGG-style blocks: 3x3 convs with padding 1, BatchNorm, ReLU, 2x2 max
    /// pools, a bias-free conv, Flatten, Linear, Dropout (`nn.Sequential`);
    /// with its int8 twin `VggStackInt8`.
    #[int8]
    pub struct VggStack {
        input: [3, 16, 12],
        Conv2d(3, 8, 3, padding = 1),
        BatchNorm2d(8),
        ReLU,
        Conv2d(8, 8, 3, padding = 1),
        BatchNorm2d(8),
        ReLU(inplace = true),
        MaxPool2d(2),
        Conv2d(8, 16, 3, padding = 1),
        ReLU,
        Conv2d(16, 16, 3, padding = 1, bias = false),
        BatchNorm2d(16),
        ReLU,
        MaxPool2d(2, stride = 2) -> [16, 4, 3],
        Flatten,
        Linear(16 * 4 * 3, 32),
        ReLU,
        Dropout(0.5),
        Linear(32, 10),
    }
}

constnet::network! {
    /// Depthwise-separable (MobileNet-style), named attributes: depthwise
    /// (groups = in_channels) and depthwise with multiplier 2.
    #[int8]
    pub struct MobileNet {
        input: [4, 15, 11],
        stem: Conv2d(4, 8, 3, stride = 2, padding = 1, bias = false),
        stem_bn: BatchNorm2d(8),
        ReLU6,
        dw1: Conv2d(8, 8, 3, padding = 1, groups = 8, bias = false),
        dw1_bn: BatchNorm2d(8),
        ReLU6,
        pw1: Conv2d(8, 16, 1, bias = false),
        pw1_bn: BatchNorm2d(16),
        ReLU6,
        dw2: Conv2d(16, 32, 3, stride = 2, padding = 1, groups = 16) -> [32, 4, 3],
        Hardswish,
        pw2: Conv2d(32, 24, 1),
        pw2_bn: BatchNorm2d(24, eps = 1e-3, momentum = 0.01),
        Hardswish,
        AdaptiveAvgPool2d(1),
        Flatten,
        Dropout(p = 0.2),
        classifier: Linear(24, 6),
        Softmax(dim = 1),
    }
}

constnet::network! {
    /// Strided convs and no pooling, on inputs of magnitude ~10; Softmax over
    /// the channels of a map, LogSoftmax over its columns.
    pub struct StridedBig {
        input: [5, 13, 9],
        Conv2d(5, 8, 3, stride = 2),
        LeakyReLU(0.2),
        Conv2d(8, 12, (3, 2), stride = (2, 1), padding = (1, 0)),
        ELU(alpha = 0.7),
        Conv2d(12, 6, 3, stride = 2, padding = 1) -> [6, 2, 2],
        SELU,
        Conv2d(6, 5, 1),
        Softmax(dim = 1),
        LogSoftmax(dim = 3),
    }
}

constnet::network! {
    /// Conv2d padding modes and string paddings, named attributes; GELU's
    /// two forms (the exact one as the output, after a high-gain conv).
    pub struct PaddingModes {
        input: [3, 10, 7],
        reflect: Conv2d(3, 6, 3, padding = 1, padding_mode = "reflect"),
        Tanh,
        replicate: Conv2d(6, 6, (3, 5), padding = (2, 1), padding_mode = "replicate"),
        GELU(approximate = "tanh"),
        circular: Conv2d(6, 8, 3, stride = (1, 2), padding = (1, 2), padding_mode = "circular"),
        SiLU,
        same: Conv2d(8, 8, 5, padding = "same"),
        ReLU,
        same_dilated: Conv2d(8, 4, 3, padding = "same", dilation = 2, padding_mode = "reflect"),
        valid: Conv2d(4, 4, 3, padding = "valid") -> [4, 10, 2],
        GELU,
    }
}

constnet::network! {
    /// Dilation with padding, grouped and depthwise-multiplier convs,
    /// AdaptiveMaxPool2d on a non-divisible map.
    pub struct DilationGroups {
        input: [6, 14, 12],
        Conv2d(6, 12, 3, padding = 2, dilation = 2, groups = 3),
        ReLU,
        Conv2d(12, 12, (3, 2), padding = (1, 2), dilation = (2, 3), groups = 4, bias = false),
        Hardswish,
        Conv2d(_, 24, 3, stride = (2, 3), groups = 12) -> [24, 5, 4],
        Hardsigmoid,
        Conv2d(24, 24, 1, groups = 2),
        AdaptiveMaxPool2d((2, 3)),
        Flatten,
        Linear(144, 8, bias = false),
    }
}

constnet::network! {
    /// MaxPool2d with dilation, padding and ceil_mode (including a last
    /// window that would start in the padding, which PyTorch drops).
    pub struct MaxPools {
        input: [3, 17, 14],
        Conv2d(3, 4, 1),
        MaxPool2d(3, stride = 1, padding = 1, dilation = 2) -> [4, 15, 12],
        MaxPool2d(3, stride = 2, padding = 1, ceil_mode = true) -> [4, 8, 7],
        MaxPool2d(2, stride = None, padding = 1, ceil_mode = true) -> [4, 5, 4],
        MaxPool2d((2, 3), stride = (1, 2), dilation = (2, 1), ceil_mode = true) -> [4, 3, 2],
        Flatten,
        Linear(24, 5),
    }
}

constnet::network! {
    /// AvgPool2d with ceil_mode, count_include_pad = false and
    /// divisor_override.
    pub struct AvgPools {
        input: [4, 13, 14],
        Conv2d(4, 6, 3, padding = 1),
        Sigmoid,
        AvgPool2d(3, stride = 2, ceil_mode = true) -> [6, 6, 7],
        AvgPool2d(3, stride = 1, padding = 1, count_include_pad = false),
        Conv2d(6, 6, 1),
        AvgPool2d(2, padding = 1, ceil_mode = true) -> [6, 4, 4],
        AvgPool2d(
            (2, 3),
            stride = (1, 2),
            padding = (1, 1),
            ceil_mode = true,
            count_include_pad = false
        ) -> [6, 5, 3],
        AvgPool2d(2, stride = 1, divisor_override = 3) -> [6, 4, 2],
        Flatten,
        Linear(48, 6),
    }
}

constnet::network! {
    /// Adaptive pools with overlapping, non-divisible bins and a global one,
    /// named attributes.
    pub struct Adaptive {
        input: [3, 17, 15],
        conv1: Conv2d(3, 8, 3, stride = 2, padding = 1) -> [8, 9, 8],
        ReLU,
        AdaptiveMaxPool2d((7, 5)),
        conv2: Conv2d(8, 8, 3, padding = 1),
        GELU(approximate = "tanh"),
        AdaptiveAvgPool2d((3, 2)),
        conv3: Conv2d(8, 10, 1),
        AdaptiveAvgPool2d(1),
        Flatten,
        fc: Linear(_, 4),
        Tanh,
    }
}

constnet::network! {
    /// Every activation on a [C, H, W] map, Softmax over the rows and
    /// LogSoftmax over the channels.
    pub struct ActivationsMap {
        input: [6, 7, 9],
        Conv2d(6, 8, 3, padding = 1),
        ReLU6,
        Conv2d(8, 8, 1),
        LeakyReLU,
        Conv2d(8, 8, 1),
        ELU,
        Conv2d(8, 8, 1),
        GELU(approximate = "none"),
        Conv2d(8, 8, 1),
        SiLU,
        Conv2d(8, 8, 1),
        Hardswish,
        Conv2d(8, 8, 1),
        Hardsigmoid,
        Conv2d(8, 8, 1),
        Sigmoid,
        Conv2d(8, 8, 1),
        Tanh,
        Conv2d(8, 8, 1),
        Softmax(dim = 2),
        Conv2d(8, 4, 1),
        LogSoftmax(dim = -3),
    }
}

constnet::network! {
    /// An MLP on vectors (`nn.Sequential`).
    pub struct Mlp {
        input: [20],
        Linear(20, 32),
        GELU(approximate = "tanh"),
        Dropout(0.3),
        Linear(32, 32, bias = false),
        SELU,
        Linear(32, 16),
        Hardswish,
        Identity,
        Linear(16, 16),
        ReLU6,
        Linear(16, 16),
        LeakyReLU(negative_slope = 0.1),
        Linear(16, 10),
        LogSoftmax(dim = 1),
    }
}

constnet::network! {
    /// An MLP with named attributes; Softmax with PyTorch's implicit dim.
    pub struct MlpNamed {
        input: [12],
        fc1: Linear(12, 24),
        ELU(alpha = 1.5),
        Dropout,
        fc2: Linear(24, 24),
        Sigmoid,
        fc3: Linear(24, 24, bias = false),
        Tanh,
        fc4: Linear(_, 16),
        SiLU,
        fc5: Linear(16, 16),
        Hardsigmoid,
        fc6: Linear(16, 16),
        GELU,
        fc7: Linear(16, 8),
        Softmax(dim = None),
    }
}

constnet::network! {
    /// BatchNorm2d variants (on the raw input, affine = false, custom eps),
    /// Dropout2d and Identity, named attributes.
    pub struct BnVariants {
        input: [5, 9, 13],
        bn0: BatchNorm2d(5),
        conv1: Conv2d(5, 8, 3, bias = false),
        bn1: BatchNorm2d(8, affine = false),
        ReLU,
        Dropout2d(0.25),
        conv2: Conv2d(8, 8, (2, 3), stride = (1, 2)) -> [8, 6, 5],
        bn2: BatchNorm2d(8, eps = 1e-3, momentum = 0.05),
        Identity,
        SiLU,
        conv3: Conv2d(8, 6, 3, padding = 1, groups = 2, padding_mode = "zeros"),
        bn3: BatchNorm2d(_, eps = 0.1, track_running_stats = true),
        Dropout2d,
    }
}

constnet::network! {
    /// A kernel as large as the non-square input, a 1x1 map flattened.
    #[int8]
    pub struct TinyEdge {
        input: [2, 5, 7],
        Conv2d(2, 3, (5, 7)) -> [3, 1, 1],
        Flatten,
        Linear(3, 4, bias = false),
        Softmax(dim = -1),
    }
}

constnet::network! {
    /// torchvision's `Conv2dNormActivation` with ReLU6.
    block ConvBnRelu6(inp, oup, kernel = 3, stride = 1, groups = 1) {
        Conv2d(inp, oup, kernel, stride = stride, padding = (kernel - 1) / 2, groups = groups, bias = false),
        BatchNorm2d(oup),
        ReLU6,
    }

    /// torchvision's `InvertedResidual`: expansion (unless 1), depthwise,
    /// linear bottleneck; the input added only where the shape allows.
    block InvertedResidual(inp, oup, stride, expand_ratio) {
        Residual(when = stride == 1 && inp == oup) {
            conv: Sequential {
                if expand_ratio != 1 {
                    ConvBnRelu6(inp, inp * expand_ratio, kernel = 1),
                },
                ConvBnRelu6(inp * expand_ratio, inp * expand_ratio, stride = stride, groups = inp * expand_ratio),
                Conv2d(inp * expand_ratio, oup, 1, bias = false),
                BatchNorm2d(oup),
            },
        },
    }

    /// MobileNetV2's structure, small.
    #[int8]
    pub struct MobileNetV2 {
        input: [3, 32, 32],
        features: Sequential {
            ConvBnRelu6(3, 16, stride = 2),
            InvertedResidual(16, 8, 1, 1),
            InvertedResidual(8, 12, 2, 6),
            InvertedResidual(12, 12, 1, 6),
            InvertedResidual(12, 16, 2, 6),
            InvertedResidual(16, 16, 1, 6),
            ConvBnRelu6(16, 64, kernel = 1),
        },
        AdaptiveAvgPool2d(1),
        Flatten,
        classifier: Sequential { Dropout(0.2), Linear(64, 10) },
    }
}

constnet::network! {
    /// torchvision's SqueezeNet `Fire`: squeeze, then two expand branches
    /// concatenated.
    block Fire(inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes) {
        squeeze: Conv2d(inplanes, squeeze_planes, 1),
        squeeze_activation: ReLU,
        Cat {
            {
                expand1x1: Conv2d(squeeze_planes, expand1x1_planes, 1),
                expand1x1_activation: ReLU,
            },
            {
                expand3x3: Conv2d(squeeze_planes, expand3x3_planes, 3, padding = 1),
                expand3x3_activation: ReLU,
            },
        },
    }

    /// SqueezeNet 1.1's structure, small.
    #[int8]
    pub struct SqueezeNet {
        input: [3, 33, 33],
        features: Sequential {
            Conv2d(3, 16, 3, stride = 2),
            ReLU,
            MaxPool2d(3, stride = 2, ceil_mode = true),
            Fire(16, 4, 8, 8),
            Fire(16, 4, 8, 8),
            MaxPool2d(3, stride = 2, ceil_mode = true),
            Fire(16, 8, 16, 16) -> [32, 4, 4],
        },
        classifier: Sequential { Dropout(0.5), Conv2d(32, 10, 1), ReLU, AdaptiveAvgPool2d(1) },
        Flatten,
    }
}

constnet::network! {
    /// A DenseNet layer: its input and its new features, concatenated.
    block DenseLayer(inp, growth, bn_size = 4) {
        Cat {
            {},
            {
                norm1: BatchNorm2d(inp),
                relu1: ReLU,
                conv1: Conv2d(inp, bn_size * growth, 1, bias = false),
                norm2: BatchNorm2d(bn_size * growth),
                relu2: ReLU,
                conv2: Conv2d(bn_size * growth, growth, 3, padding = 1, bias = false),
            },
        },
    }

    /// A DenseNet-style dense block and transition.
    pub struct DenseNet {
        input: [3, 12, 12],
        conv0: Conv2d(3, 12, 3, padding = 1, bias = false),
        denseblock1: Sequential {
            denselayer1: DenseLayer(12, 6),
            denselayer2: DenseLayer(18, 6),
            denselayer3: DenseLayer(24, 6),
        } -> [30, 12, 12],
        transition1: Sequential {
            norm: BatchNorm2d(30),
            relu: ReLU,
            conv: Conv2d(30, 15, 1, bias = false),
            pool: AvgPool2d(2),
        },
        AdaptiveAvgPool2d(1),
        Flatten,
        classifier: Linear(15, 5),
    }
}

constnet::network! {
    /// Padding layers: TensorFlow's "same" at stride 2, and each mode; a
    /// "same" convolution with an even kernel (padded unevenly).
    pub struct TfPadding {
        input: [3, 17, 17],
        ZeroPad2d((0, 1, 0, 1)),
        Conv2d(3, 8, 3, stride = 2) -> [8, 8, 8],
        ReLU,
        ReflectionPad2d((1, 2, 0, 1)),
        Conv2d(8, 8, 3),
        ReplicationPad2d(1),
        MaxPool2d(2),
        ConstantPad2d((1, 0, 2, 1), 0.5),
        Conv2d(8, 6, 3, stride = 2) -> [6, 3, 2],
        CircularPad2d(1),
        Conv2d(6, 4, 3),
        Conv2d(4, 4, (2, 3), padding = "same") -> [4, 3, 2],
    }
}

constnet::network! {
    /// torchvision's `BasicBlock`: conv-BN-ReLU-conv-BN, plus the input
    /// or, where the shape changes, its 1×1 projection (`downsample`).
    block BasicBlock(inplanes, planes, stride = 1) {
        Add {
            {
                conv1: Conv2d(inplanes, planes, 3, stride = stride, padding = 1, bias = false),
                bn1: BatchNorm2d(planes),
                ReLU,
                conv2: Conv2d(planes, planes, 3, padding = 1, bias = false),
                bn2: BatchNorm2d(planes),
            },
            if stride != 1 || inplanes != planes {
                downsample: Sequential {
                    Conv2d(inplanes, planes, 1, stride = stride, bias = false),
                    BatchNorm2d(planes),
                },
            } else {},
        },
        ReLU,
    }

    /// A torchvision-style ResNet on 32×32: identity shortcuts in stage 1,
    /// projections in stages 2 and 3.
    #[int8]
    pub struct ResNetCifar {
        input: [3, 32, 32],
        conv1: Conv2d(3, 16, 3, padding = 1, bias = false),
        bn1: BatchNorm2d(16),
        relu: ReLU,
        layer1: Sequential { BasicBlock(16, 16), BasicBlock(16, 16) },
        layer2: Sequential { BasicBlock(16, 32, stride = 2), BasicBlock(32, 32) } -> [32, 16, 16],
        layer3: Sequential { BasicBlock(32, 64, stride = 2) } -> [64, 8, 8],
        avgpool: AdaptiveAvgPool2d(1),
        Flatten,
        fc: Linear(64, 10),
    }

    /// torchvision's `resnet18()`: its `state_dict` loads unchanged.
    pub struct ResNet18 {
        input: [3, 224, 224],
        conv1: Conv2d(3, 64, 7, stride = 2, padding = 3, bias = false),
        bn1: BatchNorm2d(64),
        relu: ReLU,
        maxpool: MaxPool2d(3, stride = 2, padding = 1),
        layer1: Sequential { BasicBlock(64, 64), BasicBlock(64, 64) },
        layer2: Sequential { BasicBlock(64, 128, stride = 2), BasicBlock(128, 128) },
        layer3: Sequential { BasicBlock(128, 256, stride = 2), BasicBlock(256, 256) },
        layer4: Sequential { BasicBlock(256, 512, stride = 2), BasicBlock(512, 512) },
        avgpool: AdaptiveAvgPool2d(1),
        Flatten,
        fc: Linear(512, 1000),
    }
}
