constnet::network! {
    struct Net {
        input: [3, 8, 8],
        Residual(stride = 1) { ReLU },
        Residual(when = 2) { ReLU },
    }
}

fn main() {}
