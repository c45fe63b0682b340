constnet::network! {
    struct Net {
        input: [784],
        Linear(784, 10),
        input: [10],
    }
}

fn main() {}
