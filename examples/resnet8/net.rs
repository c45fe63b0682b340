//! MLPerf Tiny's image-classification network, ResNet-8 (the tinyMLPerf
//! Keras reference), declared as its PyTorch port is written: Keras' "same"
//! padding at stride 2 pads 0 before and 1 after, which the port writes as
//! `nn.ZeroPad2d((0, 1, 0, 1))` before an unpadded convolution (constnet
//! folds it into the convolution). `tools/zoo.py` holds the PyTorch module
//! and wrote the weights.

constnet::network! {
    /// One residual stack: two 3×3 convolutions with batch norm, plus the
    /// input — or, at stride 2, its 1×1 stride-2 projection (`shortcut`).
    block Stack(inp, out, stride = 1) {
        Add {
            {
                if stride == 1 {
                    conv1: Conv2d(inp, out, 3, padding = 1),
                } else {
                    pad: ZeroPad2d((0, 1, 0, 1)),
                    conv1: Conv2d(inp, out, 3, stride = stride),
                },
                bn1: BatchNorm2d(out),
                ReLU,
                conv2: Conv2d(out, out, 3, padding = 1),
                bn2: BatchNorm2d(out),
            },
            if stride != 1 {
                shortcut: Conv2d(inp, out, 1, stride = stride),
            } else {},
        },
        ReLU,
    }

    /// ResNet-8 for 32×32 RGB images, 10 classes.
    #[int8]
    pub struct ResNet8 {
        input: [3, 32, 32],
        conv1: Conv2d(3, 16, 3, padding = 1),
        bn1: BatchNorm2d(16),
        ReLU,
        stack1: Stack(16, 16),
        stack2: Stack(16, 32, stride = 2) -> [32, 16, 16],
        stack3: Stack(32, 64, stride = 2) -> [64, 8, 8],
        AvgPool2d(8),
        Flatten,
        fc: Linear(64, 10),
        Softmax(dim = 1),
    }
}
