//! The zoo's networks besides ResNet-8 (`examples/resnet8/net.rs`), each
//! declared as the PyTorch port of its published description in
//! `tools/zoo.py` is written (as `nn.Sequential`s, so unnamed: keys
//! `0.weight`, …). `tests/zoo.rs` checks them against PyTorch;
//! `benches/zoo.rs` times them.

constnet::network! {
    /// MLPerf Tiny keyword spotting: DS-CNN on 49×10 MFCCs, 12 classes.
    /// Keras' stride-2 "same" padding is `ZeroPad2d((1, 1, 4, 5))`.
    #[int8]
    pub struct DsCnn {
        input: [1, 49, 10],
        ZeroPad2d((1, 1, 4, 5)),
        Conv2d(1, 64, (10, 4), stride = 2) -> [64, 25, 5],
        BatchNorm2d(64),
        ReLU,
        Conv2d(64, 64, 3, padding = 1, groups = 64), BatchNorm2d(64), ReLU,
        Conv2d(64, 64, 1), BatchNorm2d(64), ReLU,
        Conv2d(64, 64, 3, padding = 1, groups = 64), BatchNorm2d(64), ReLU,
        Conv2d(64, 64, 1), BatchNorm2d(64), ReLU,
        Conv2d(64, 64, 3, padding = 1, groups = 64), BatchNorm2d(64), ReLU,
        Conv2d(64, 64, 1), BatchNorm2d(64), ReLU,
        Conv2d(64, 64, 3, padding = 1, groups = 64), BatchNorm2d(64), ReLU,
        Conv2d(64, 64, 1), BatchNorm2d(64), ReLU,
        AvgPool2d((25, 5)),
        Flatten,
        Linear(64, 12),
        Softmax(dim = 1),
    }
}

constnet::network! {
    /// A depthwise-separable layer: 3×3 depthwise + BN + ReLU, then 1×1 +
    /// BN + ReLU; Keras' "same" padding at stride 2 as `ZeroPad2d((0, 1, 0, 1))`.
    block Separable(inp, out, stride = 1) {
        if stride == 2 {
            ZeroPad2d((0, 1, 0, 1)),
            Conv2d(inp, inp, 3, stride = 2, groups = inp),
        } else {
            Conv2d(inp, inp, 3, padding = 1, groups = inp),
        },
        BatchNorm2d(inp),
        ReLU,
        Conv2d(inp, out, 1),
        BatchNorm2d(out),
        ReLU,
    }

    /// MLPerf Tiny visual wake words: MobileNetV1 ×0.25 on 96×96 RGB, 2
    /// classes; the thirteen separable layers in an `nn.Sequential`
    /// (keys `4.0.0.weight`, …).
    #[int8]
    pub struct MobileNetV1 {
        input: [3, 96, 96],
        ZeroPad2d((0, 1, 0, 1)),
        Conv2d(3, 8, 3, stride = 2) -> [8, 48, 48],
        BatchNorm2d(8),
        ReLU,
        Sequential {
            Separable(8, 16),
            Separable(16, 32, stride = 2),
            Separable(32, 32),
            Separable(32, 64, stride = 2),
            Separable(64, 64),
            Separable(64, 128, stride = 2),
            Separable(128, 128),
            Separable(128, 128),
            Separable(128, 128),
            Separable(128, 128),
            Separable(128, 128),
            Separable(128, 256, stride = 2),
            Separable(256, 256),
        } -> [256, 3, 3],
        AvgPool2d(3),
        Flatten,
        Linear(256, 2),
        Softmax(dim = 1),
    }
}

constnet::network! {
    /// MLPerf Tiny anomaly detection: the DCASE fully connected
    /// autoencoder on 640 log-mels.
    #[int8]
    pub struct AutoEncoder {
        input: [640],
        Linear(640, 128), BatchNorm1d(128), ReLU,
        Linear(128, 128), BatchNorm1d(128), ReLU,
        Linear(128, 128), BatchNorm1d(128), ReLU,
        Linear(128, 128), BatchNorm1d(128), ReLU,
        Linear(128, 8), BatchNorm1d(8), ReLU,
        Linear(8, 128), BatchNorm1d(128), ReLU,
        Linear(128, 128), BatchNorm1d(128), ReLU,
        Linear(128, 128), BatchNorm1d(128), ReLU,
        Linear(128, 128), BatchNorm1d(128), ReLU,
        Linear(128, 640),
    }
}

constnet::network! {
    /// LeNet-5 as LeCun drew it: Tanh and average pooling.
    pub struct LeNet5Tanh {
        input: [1, 32, 32],
        Conv2d(1, 6, 5), Tanh, AvgPool2d(2),
        Conv2d(6, 16, 5), Tanh, AvgPool2d(2),
        Flatten,
        Linear(400, 120), Tanh,
        Linear(120, 84), Tanh,
        Linear(84, 10),
    }
}
