constnet::network! {
    struct Net {
        input: [3, 32, 32],
        Conv2D(3, 8, 3),
    }
}

fn main() {}
