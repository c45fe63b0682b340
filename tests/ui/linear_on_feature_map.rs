constnet::network! {
    struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(1, 16, 3),
        MaxPool2d(2),
        fc1: Linear(16 * 13 * 13, 10),
    }
}

fn main() {}
