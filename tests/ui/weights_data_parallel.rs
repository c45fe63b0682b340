// nn.DataParallel's `module.` prefix: the error names it, and how to save
// the file without it (fixtures: tools/make_ui_weights.py).
constnet::network! {
    #[weights("weights/data_parallel.safetensors")]
    struct Net {
        input: [4],
        fc1: Linear(4, 3),
        ReLU,
        fc2: Linear(3, 2),
    }
}

fn main() {}
