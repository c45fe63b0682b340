constnet::network! {
    block Block(c) {
        input: [3, 8, 8],
        Conv2d(c, c, 1),
    }

    struct Net {
        input: [3, 8, 8],
        Block(3),
    }
}

fn main() {}
