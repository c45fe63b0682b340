// `#[int8(weights = "…")]` names a file that does not exist.
constnet::network! {
    #[int8(weights = "weights/no_such_int8.safetensors")]
    pub struct Net {
        input: [4],
        fc: Linear(4, 2),
    }
}

fn main() {}
