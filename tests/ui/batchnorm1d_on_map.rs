constnet::network! {
    struct Net {
        input: [3, 8, 8],
        BatchNorm1d(3),
    }
}

fn main() {}
