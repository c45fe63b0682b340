constnet::network! {
    struct Net {
        input: [1, 12, 12],
        conv1: Conv2d(1, 6, 5),
        MaxPool2d(2),
        conv2: Conv2d(6, 16, 5),
    }
}

fn main() {}
