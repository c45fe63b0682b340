constnet::network! {
    struct Net {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
        conv2: Conv2d(3, 16, 5),
    }
}

fn main() {}
