// `#[int8]` on a network with layers that have no int8 kernel: one error
// per layer, on its kind.
constnet::network! {
    #[int8]
    pub struct Net {
        input: [3, 16, 16],
        Conv2d(3, 8, 3, padding = 1, padding_mode = "reflect"),
        Sigmoid,
        MaxPool2d(2, ceil_mode = true),
        Conv2d(8, 8, 3),
        ReLU6,
        Flatten,
        Linear(8 * 6 * 6, 10),
        LogSoftmax(dim = 1),
    }
}

fn main() {}
