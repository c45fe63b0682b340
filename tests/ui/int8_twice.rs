// `#[int8]` may be written once.
constnet::network! {
    #[int8]
    #[int8]
    pub struct Net {
        input: [4],
        Linear(4, 2),
    }
}

fn main() {}
