constnet::network! {
    struct Net {
        input: [3, 8, 8],
        MaxPool2d(4),
        Conv2d(3, 4, 5, padding = 2, padding_mode = "reflect"),
    }
}

fn main() {}
