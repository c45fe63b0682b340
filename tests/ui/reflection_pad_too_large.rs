constnet::network! {
    struct Net {
        input: [3, 8, 8],
        ReflectionPad2d((1, 1, 0, 8)),
    }
}

fn main() {}
