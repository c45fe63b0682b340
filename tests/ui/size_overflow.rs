constnet::network! {
    struct Net {
        input: [100],
        Linear(100, 65536 * 65536 * 65536 * 65536 * 65536 * 65536 * 65536 * 65536 * 2),
    }
}

fn main() {}
