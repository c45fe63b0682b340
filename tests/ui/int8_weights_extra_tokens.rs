// `#[int8(…)]`: nothing may follow the weights file.
constnet::network! {
    #[int8(weights = "lenet5_int8.safetensors", per_tensor)]
    pub struct Net {
        input: [4],
        fc: Linear(4, 2),
    }
}

fn main() {}
