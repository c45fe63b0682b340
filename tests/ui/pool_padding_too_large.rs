constnet::network! {
    struct Net {
        input: [3, 28, 28],
        AvgPool2d(3, padding = 2),
    }
}

fn main() {}
