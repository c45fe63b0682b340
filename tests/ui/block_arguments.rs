// Too many arguments, a missing one, an unknown keyword.
constnet::network! {
    block Block(inplanes, planes, stride = 1) {
        Conv2d(inplanes, planes, 3, stride = stride, padding = 1),
    }

    struct Net {
        input: [3, 8, 8],
        Block(3, 8, 1, 2),
        Block(8),
        Block(8, 8, strides = 2),
    }
}

fn main() {}
