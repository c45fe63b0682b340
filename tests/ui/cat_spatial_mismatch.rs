constnet::network! {
    struct Net {
        input: [4, 8, 8],
        Cat {
            Conv2d(4, 4, 1),
            Conv2d(4, 4, 3),
        },
    }
}

fn main() {}
