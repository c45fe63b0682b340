constnet::network! {
    struct Net {
        input: [3, 8, 8],
        ZeroPad2d((0, 1, 0)),
        ReflectionPad2d((0, 1, -1, 1)),
    }
}

fn main() {}
