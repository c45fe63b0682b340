constnet::network! {
    struct Net {
        input: [64],
        GELU(approximate = "fast"),
    }
}

fn main() {}
