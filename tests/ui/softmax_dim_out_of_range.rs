constnet::network! {
    struct Net {
        input: [784],
        Linear(784, 10),
        Softmax(dim = 2),
    }
}

fn main() {}
