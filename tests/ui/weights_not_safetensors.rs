// Baking weights checks the file while compiling; this one is Rust source.
constnet::network! {
    #[weights("weights_not_safetensors.rs")]
    struct Net {
        input: [4],
        fc: Linear(4, 2),
    }
}

fn main() {}
