constnet::network! {
    struct Net {
        input: [3, 7, 3],
        MaxPool2d((2, 4)),
    }
}

fn main() {}
