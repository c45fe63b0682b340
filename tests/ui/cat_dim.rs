constnet::network! {
    struct Net {
        input: [3, 8, 8],
        Cat(dim = 2) { Conv2d(3, 4, 1), Conv2d(3, 4, 1) },
    }
}

fn main() {}
