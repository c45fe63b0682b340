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

constnet::network! {
    /// The same declaration as `examples/resnet8/net.rs` (MLPerf Tiny's
    /// ResNet-8), with its weights baked in: nested keys
    /// (`stack2.shortcut.weight`), blocks and folded layers.
    block Stack(inp, out, stride = 1) {
        Add {
            {
                if stride == 1 {
                    conv1: Conv2d(inp, out, 3, padding = 1),
                } else {
                    pad: ZeroPad2d((0, 1, 0, 1)),
                    conv1: Conv2d(inp, out, 3, stride = stride),
                },
                bn1: BatchNorm2d(out),
                ReLU,
                conv2: Conv2d(out, out, 3, padding = 1),
                bn2: BatchNorm2d(out),
            },
            if stride != 1 {
                shortcut: Conv2d(inp, out, 1, stride = stride),
            } else {},
        },
        ReLU,
    }

    #[weights("data/zoo/resnet8.safetensors")]
    pub struct BakedResNet8 {
        input: [3, 32, 32],
        conv1: Conv2d(3, 16, 3, padding = 1),
        bn1: BatchNorm2d(16),
        ReLU,
        stack1: Stack(16, 16),
        stack2: Stack(16, 32, stride = 2),
        stack3: Stack(32, 64, stride = 2),
        AvgPool2d(8),
        Flatten,
        fc: Linear(64, 10),
        Softmax(dim = 1),
    }
}

#[test]
fn a_baked_graph_equals_the_loaded_one() {
    let loaded = BakedResNet8::from_file(data("zoo/resnet8.safetensors")).unwrap();
    let baked = BakedResNet8::baked();
    assert!(*baked == *loaded, "the weights differ");
    let x = [[[0.3f32; 32]; 32]; 3];
    let (a, b) = (baked.forward(&x), loaded.forward(&x));
    assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
    assert_eq!(
        BakedResNet8::PARAMS
            .iter()
            .find(|p| p.name == "stack2.shortcut.weight")
            .map(|p| p.shape),
        Some(&[32, 16, 1, 1][..])
    );
}
