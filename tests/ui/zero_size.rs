constnet::network! {
    struct Net {
        input: [100],
        Linear(100, 0),
    }
}

fn main() {}
