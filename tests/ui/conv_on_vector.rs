constnet::network! {
    struct Net {
        input: [784],
        fc1: Linear(784, 100),
        conv1: Conv2d(1, 6, 5),
    }
}

fn main() {}
