//! Weights baked in at compile time (`#[weights("…")]`) equal the same file
//! loaded at run time, bit for bit, on every shipped test digit.

mod common;

use common::mnist::{argmax, lenet_input};
use common::{data, test_digits};
use constnet::Network;

constnet::network! {
    /// LeNet-5 with the shipped weights compiled in.
    #[weights("data/lenet5.safetensors")]
    pub struct BakedLeNet5 {
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

#[test]
fn baked_equals_loaded_bit_for_bit() {
    let loaded = BakedLeNet5::from_file(data("lenet5.safetensors")).unwrap();
    let baked = BakedLeNet5::baked();
    assert!(*baked == *loaded, "the weights differ");

    let test = test_digits();
    let mut ws = BakedLeNet5::new_workspace();
    let mut correct = 0;
    for (digit, &label) in test.images.iter().zip(&test.labels) {
        let x = lenet_input(digit);
        let a = baked.forward_with(&x, &mut ws);
        let b = loaded.forward_with(&x, &mut ws);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
        correct += usize::from(argmax(&a) == usize::from(label));
    }
    assert_eq!(correct, 1980);
}

#[test]
fn baked_weights_live_in_a_static() {
    let a: *const BakedLeNet5 = BakedLeNet5::baked();
    let b: *const BakedLeNet5 = BakedLeNet5::baked();
    assert_eq!(a, b);
}
