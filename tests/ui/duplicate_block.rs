constnet::network! {
    block Block(c) { Conv2d(c, c, 1) }
    block Block(c) { ReLU }
    block ReLU(c) { ReLU }

    struct Net {
        input: [3, 8, 8],
        Block(3),
    }
}

fn main() {}
