constnet::network! {
    struct Net {
        input: [6, 16, 16],
        Conv2d(6, 8, 3, groups = 4),
    }
}

fn main() {}
