constnet::network! {
    struct Net {
        input: [100],
        fc1: Linear(100, 50),
        ReLU,
        fc1: Linear(50, 10),
    }
}

fn main() {}
