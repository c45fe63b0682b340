constnet::network! {
    struct Net {
        input: [100],
        Linear(100, 10),
        Relu,
    }
}

fn main() {}
