// A block parameter used as a size must be an integer.
constnet::network! {
    block Block(inplanes, planes) {
        Conv2d(inplanes, planes, 3, padding = 1),
    }

    struct Net {
        input: [3, 8, 8],
        Block(3, "eight"),
    }
}

fn main() {}
