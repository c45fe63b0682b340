constnet::network! {
    struct Net {
        input: [3, 32, 32],
        Conv2d(3, 8, 3, stride = 2),
        AdaptiveAvgPool2d(16),
    }
}

fn main() {}
