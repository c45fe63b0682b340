// Each weight is 2^62 bytes; together they overflow `isize`.
constnet::network! {
    struct Heavy {
        input: [536870912],
        Linear(536870912, 2147483648, bias = false),
        Linear(2147483648, 536870912, bias = false),
        Linear(536870912, 2147483648, bias = false),
    }
}

fn main() {}
