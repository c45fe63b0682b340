constnet::network! {
    struct Net {
        input: [3, 8, 8],
        Conv2d(3, 8, kernel_size = 3, 2),
    }
}

fn main() {}
