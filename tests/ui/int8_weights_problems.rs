// Every problem of an int8 weights file is reported at once, in the int8
// loader's words (fixture: tools/make_ui_weights.py).
constnet::network! {
    #[int8(weights = "weights/int8_problems.safetensors")]
    pub struct Net {
        input: [4],
        fc: Linear(4, 2),
    }
}

fn main() {}
