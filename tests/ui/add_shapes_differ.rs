// A residual block whose body changes the shape but whose shortcut is the
// identity: the sum is impossible.
constnet::network! {
    block Down(inp, out) {
        Add {
            { conv1: Conv2d(inp, out, 3, stride = 2, padding = 1), ReLU },
            {},
        },
    }

    struct Net {
        input: [8, 16, 16],
        Down(8, 16),
    }
}

fn main() {}
