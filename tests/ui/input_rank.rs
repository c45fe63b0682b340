constnet::network! {
    struct Net {
        input: [28, 28],
        Flatten,
    }
}

fn main() {}
