// Every problem of a weights file is reported at once, in the run-time
// loader's words and order (fixtures: tools/make_ui_weights.py).
constnet::network! {
    #[weights("weights/many_problems.safetensors")]
    struct Net {
        input: [4],
        fc1: Linear(4, 3),
        ReLU,
        fc2: Linear(3, 2),
    }
}

fn main() {}
