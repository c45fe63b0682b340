const HIDDEN: usize = 64;

// A proc macro sees tokens, not values: a named constant cannot be used.
constnet::network! {
    struct Net {
        input: [784],
        Linear(784, HIDDEN),
    }
}

fn main() {}
