constnet::network! {
    block A(c) { Conv2d(c, c, 1), B(c) }
    block B(c) { A(c) }

    struct Net {
        input: [3, 8, 8],
        A(3),
    }
}

fn main() {}
