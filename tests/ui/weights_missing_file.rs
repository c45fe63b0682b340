// Baking weights checks the file while compiling. (trybuild compiles this
// file from a crate inside the target directory, so the path resolves
// relative to this source file, as include_bytes! would.)
constnet::network! {
    #[weights("weights/missing_file.safetensors")]
    struct Net {
        input: [4],
        fc: Linear(4, 2),
    }
}

fn main() {}
