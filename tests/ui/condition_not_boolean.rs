constnet::network! {
    block Block(c, stride) {
        if stride { MaxPool2d(2) },
        Conv2d(c, c, 1),
    }

    struct Net {
        input: [3, 8, 8],
        Block(3, 2),
    }
}

fn main() {}
