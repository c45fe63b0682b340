// `#[int8]` takes an `Add` of two values and adaptive average pools whose
// bins divide the map; an `Add` of three and uneven bins are errors.
constnet::network! {
    #[int8]
    pub struct Net {
        input: [4, 7, 6],
        Add {
            Conv2d(4, 4, 3, padding = 1),
            Conv2d(4, 4, 1),
            {},
        },
        AdaptiveAvgPool2d((3, 2)),
        Add { Conv2d(4, 4, 1), {} },
        ReLU,
        AdaptiveAvgPool2d(1),
    }
}

fn main() {}
