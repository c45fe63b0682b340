//! Batches: `forward_batch` on one thread and `par_forward_batch` on all
//! cores give exactly the per-sample outputs.

#[path = "../examples/mnist/mod.rs"]
mod mnist;

use std::path::Path;

use constnet::batch::forward_batch;
use constnet::Network;

constnet::network! {
    pub struct LeNet5 {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
        conv2: Conv2d(6, 16, 5),
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

type Input = <LeNet5 as Network>::Input;

fn setup(n: usize) -> (Box<LeNet5>, Vec<Input>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let net = LeNet5::from_file(root.join("data/lenet5.safetensors")).unwrap();
    let test = mnist::Mnist::load(&root.join("data/mnist"), "t10k").unwrap();
    let inputs = test.images[..n].iter().map(mnist::lenet_input).collect();
    (net, inputs)
}

#[test]
fn forward_batch_equals_per_sample() {
    let (net, inputs) = setup(100);
    let mut outputs = vec![[0.0f32; 10]; inputs.len()];
    forward_batch(&*net, &inputs, &mut outputs);
    for (x, y) in inputs.iter().zip(&outputs) {
        assert_eq!(*y, net.forward(x));
    }
}

#[test]
#[should_panic(expected = "3 inputs but 2 outputs")]
fn forward_batch_checks_lengths() {
    let (net, inputs) = setup(3);
    let mut outputs = vec![[0.0f32; 10]; 2];
    forward_batch(&*net, &inputs, &mut outputs);
}

#[cfg(feature = "rayon")]
#[test]
fn par_forward_batch_equals_per_sample() {
    let (net, inputs) = setup(257);
    let mut outputs = vec![[0.0f32; 10]; inputs.len()];
    constnet::batch::par_forward_batch(&*net, &inputs, &mut outputs);
    for (x, y) in inputs.iter().zip(&outputs) {
        assert_eq!(*y, net.forward(x));
    }
}
