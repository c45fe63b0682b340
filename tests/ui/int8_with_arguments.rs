// `#[int8]` takes no arguments but `weights = "…"`.
constnet::network! {
    #[int8(per_tensor)]
    pub struct Net {
        input: [4],
        Linear(4, 2),
    }
}

fn main() {}
