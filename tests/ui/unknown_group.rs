constnet::network! {
    struct Net {
        input: [3, 8, 8],
        Concat { Conv2d(3, 4, 1), Conv2d(3, 4, 1) },
        Sequential,
        Conv2d { ReLU },
    }
}

fn main() {}
