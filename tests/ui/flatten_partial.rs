constnet::network! {
    struct Net {
        input: [8, 4, 4],
        Flatten(start_dim = 2),
    }
}

fn main() {}
