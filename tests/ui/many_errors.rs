constnet::network! {
    struct Net {
        input: [1, 32, 32],
        conv1: Conv2d(3, 6, 5),
        Relu,
        MaxPool2d(2),
        Flatten,
        fc1: Linear(6 * 5 * 5, 10),
        fc1: Linear(10, 10, bias = 3),
    }
}

fn main() {}
