//! torchvision's ResNet `BasicBlock`, and two networks built from it: a
//! small one on 32×32 for the golden tests, and ResNet-18 itself (the
//! torchvision layout, [3, 224, 224]).

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
