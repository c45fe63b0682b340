constnet::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: Conv2d(3, 32, 3, padding = 1, bias = false),
        bn1: BatchNorm2d(16),
        ReLU,
    }
}

fn main() {}
