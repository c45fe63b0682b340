constnet::network! {
    struct Net {
        input: [100],
        Linear(100, 4096 * 4096 * 4096 * 4096 * 4096 * 4096 * 4096 * 4096 * 4096 * 4096),
    }
}

fn main() {}
