//! Batches: `forward_batch` on one thread and `par_forward_batch` on all
//! cores give exactly the per-sample outputs.

mod common;

use common::{first_inputs, lenet, Input, LeNet5};
use constnet::batch::forward_batch;

fn setup(n: usize) -> (Box<LeNet5>, Vec<Input>) {
    (lenet(), first_inputs(n))
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
