// With ceil_mode, PyTorch drops a last window that would start in the
// padding: 5 → ⌈(5 + 2 − 3) / 3⌉ + 1 = 3, minus that window = 2.
constnet::network! {
    struct Net {
        input: [3, 5, 5],
        MaxPool2d(3, stride = 3, padding = 1, ceil_mode = true) -> [3, 3, 3],
    }
}

fn main() {}
