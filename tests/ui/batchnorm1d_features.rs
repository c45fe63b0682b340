constnet::network! {
    struct Net {
        input: [3, 8, 8],
        Flatten,
        Linear(_, 16),
        BatchNorm1d(12),
        BatchNorm1d(16),
    }
}

fn main() {}
