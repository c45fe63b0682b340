constnet::network! {
    struct Net {
        input: [3, 16, 16],
        Conv2d(3, 8, 4, padding = "same"),
    }
}

fn main() {}
