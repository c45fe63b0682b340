// `#[int8(…)]`: `weights` needs `=` before the file.
constnet::network! {
    #[int8(weights "lenet5_int8.safetensors")]
    pub struct Net {
        input: [4],
        fc: Linear(4, 2),
    }
}

fn main() {}
