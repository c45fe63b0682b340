// `#[int8(…)]`: the file goes in `#[int8(weights = "…")]`.
constnet::network! {
    #[int8 = "lenet5_int8.safetensors"]
    pub struct Net {
        input: [4],
        fc: Linear(4, 2),
    }
}

fn main() {}
