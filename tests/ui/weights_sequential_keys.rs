// An nn.Sequential's state_dict for named layers: the error says so, and
// which index each layer has (fixtures: tools/make_ui_weights.py).
constnet::network! {
    #[weights("weights/sequential_keys.safetensors")]
    struct Net {
        input: [4],
        fc1: Linear(4, 3),
        ReLU,
        fc2: Linear(3, 2),
    }
}

fn main() {}
