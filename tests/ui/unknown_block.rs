constnet::network! {
    block BasicBlock(inplanes, planes) {
        Conv2d(inplanes, planes, 3, padding = 1),
    }

    struct Net {
        input: [3, 8, 8],
        BasicBlok(3, 8),
    }
}

fn main() {}
