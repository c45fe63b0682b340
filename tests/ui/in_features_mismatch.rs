constnet::network! {
    /// LeNet-5 with the classic mistake: 16 × 4 × 4 is for 28×28 inputs.
    struct LeNet5 {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
        conv2: Conv2d(6, 16, 5),
        ReLU,
        MaxPool2d(2),
        Flatten,
        fc1: Linear(16 * 4 * 4, 120),
        ReLU,
        fc2: Linear(120, 84),
        ReLU,
        fc3: Linear(84, 10),
    }
}

fn main() {}
