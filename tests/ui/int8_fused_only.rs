// Layers `#[int8]` takes only folded into the layer before them, and pools
// with options its kernels lack.
constnet::network! {
    #[int8]
    pub struct Net {
        input: [3, 16, 16],
        Conv2d(3, 8, 3),
        MaxPool2d(2, dilation = 2),
        ReLU6,
        BatchNorm2d(8),
        AvgPool2d(2, ceil_mode = true),
        Flatten,
        Linear(8 * 3 * 3, 10),
    }
}

fn main() {}
