constnet::network! {
    struct Net {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5, padding = 1) -> [6, 28, 28],
    }
}

fn main() {}
