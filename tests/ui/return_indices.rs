constnet::network! {
    struct Net {
        input: [3, 8, 8],
        MaxPool2d(2, return_indices = true),
    }
}

fn main() {}
