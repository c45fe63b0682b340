constnet::network! {
    struct Net {
        input: [3, 2, 2],
        Conv2d(3, 4, 5, padding = 3, padding_mode = "circular"),
    }
}

fn main() {}
