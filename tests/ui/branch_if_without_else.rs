// An `if` among branches needs an `else`: without one, a false condition
// would silently drop the shortcut instead of making it the identity.
constnet::network! {
    block Block(c, stride) {
        Add {
            Conv2d(c, c, 3, stride = stride, padding = 1),
            if stride != 1 { Conv2d(c, c, 1, stride = stride) },
        },
    }

    struct Net {
        input: [3, 8, 8],
        Block(3, 1),
    }
}

fn main() {}
