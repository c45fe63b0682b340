constnet::network! {
    #[weights(lenet5)]
    struct Net {
        input: [4],
        fc: Linear(4, 2),
    }
}

fn main() {}
