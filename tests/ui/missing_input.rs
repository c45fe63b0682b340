constnet::network! {
    struct Net {
        fc1: Linear(100, 50),
        ReLU,
    }
}

fn main() {}
