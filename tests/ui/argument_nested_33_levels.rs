constnet::network! {
    struct Net {
        input: [3],
        Linear(3, (((((((((((((((((((((((((((((((((4)))))))))))))))))))))))))))))))))),
    }
}

fn main() {}
