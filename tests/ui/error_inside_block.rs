// A mistake inside a block is reported where it is written, and at each
// use it happens in.
constnet::network! {
    block Block(inplanes, planes) {
        conv1: Conv2d(inplanes, planes, 3, padding = 1),
        conv2: Conv2d(inplanes, planes, 3, padding = 1),
    }

    struct Net {
        input: [3, 8, 8],
        layer1: Block(3, 8),
        layer2: Block(8, 8),
    }
}

fn main() {}
