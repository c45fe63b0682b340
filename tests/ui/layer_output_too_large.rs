constnet::network! {
    struct Wide {
        input: [1, 1073741824, 1],
        Conv2d(1, 4294967296, 1),
    }
}

fn main() {}
