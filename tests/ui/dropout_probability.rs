constnet::network! {
    struct Net {
        input: [64],
        Dropout(1.5),
    }
}

fn main() {}
