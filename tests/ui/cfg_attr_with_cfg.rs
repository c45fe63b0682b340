constnet::network! {
    #[cfg_attr(feature = "small", cfg(any()))]
    pub struct Net {
        input: [3],
        ReLU,
    }
}

fn main() {}
