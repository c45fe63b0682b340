// Baking weights checks the file while compiling. (The path is relative to
// the crate's Cargo.toml; trybuild builds this file from
// target/tests/trybuild/constnet/, four levels below the repository.)
constnet::network! {
    #[weights("../../../../tests/ui/weights/missing_file.safetensors")]
    struct Net {
        input: [4],
        fc: Linear(4, 2),
    }
}

fn main() {}
