//! LeNet-5 declared with `constnet::network!`: prints the layer table the
//! macro computed, then runs `forward` on a test pattern.
//!
//! Run with `cargo run --release --example lenet`.

use constnet::Network;

constnet::network! {
    /// LeNet-5, ReLU + max-pool variant.
    pub struct LeNet5 {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),              // -> [6, 28, 28]
        ReLU,
        MaxPool2d(2),                        // -> [6, 14, 14]
        conv2: Conv2d(6, 16, 5) -> [16, 10, 10],
        ReLU,
        MaxPool2d(2),
        Flatten,
        fc1: Linear(16 * 5 * 5, 120),
        ReLU,
        fc2: Linear(120, 84),
        ReLU,
        fc3: Linear(84, 10),
    }
}

fn main() {
    println!("{}\n", LeNet5::summary());

    // Deterministic weights: a fixed pseudo-random pattern, scaled like
    // PyTorch's default initialisation (uniform in ±1/sqrt(fan_in)).
    let mut net = LeNet5::new_zeroed();
    let mut state = 0x2545_f491_u32;
    net.visit_params_mut(&mut |info, values| {
        let fan_in: usize = info.shape[1..].iter().product::<usize>().max(1);
        let bound = 1.0 / (fan_in as f32).sqrt();
        for v in values {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *v = (state as f32 / u32::MAX as f32 * 2.0 - 1.0) * bound;
        }
    });

    // Test pattern: a bright diagonal cross on a dark background.
    let mut input = [[[0.0f32; 32]; 32]; 1];
    for i in 2..30 {
        input[0][i][i] = 1.0;
        input[0][i][31 - i] = 1.0;
    }
    let logits = net.forward(&input);
    println!("forward(test pattern) =");
    for (class, value) in logits.iter().enumerate() {
        println!("  {class}: {value:+.6}");
    }
}
