constnet::network! {
    struct Net {
        input: [3, 32, 32],
        Conv2d(3, 16, 3, stride = 2, padding = "same"),
    }
}

fn main() {}
