// `#[cfg_attr(…, int8)]` would reach the struct alone, after the macro ran.
constnet::network! {
    #[cfg_attr(feature = "quantized", int8)]
    pub struct Net {
        input: [4],
        Linear(4, 2),
    }
}

fn main() {}
