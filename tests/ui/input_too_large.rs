constnet::network! {
    pub struct Big {
        input: [4611686018427387904],
        ReLU,
    }
}

fn main() {}
