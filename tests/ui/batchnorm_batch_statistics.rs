constnet::network! {
    struct Net {
        input: [8, 16, 16],
        BatchNorm2d(8, track_running_stats = false),
    }
}

fn main() {}
