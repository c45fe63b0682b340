//! The shipped LeNet-5 against PyTorch: for all 2,000 held-out test digits,
//! constnet's logits equal the PyTorch logits committed in
//! `data/lenet5_golden.safetensors` (written by `tools/train_lenet.py`)
//! within 1e-4, the predicted classes are identical, and the accuracy is at
//! least 98%. No Python needed: the golden outputs are committed.

mod common;

use common::mnist::{argmax, lenet_input, Mnist};
use common::{data, tensor_f32, LeNet5};
use constnet::Network;
use safetensors::SafeTensors;

#[test]
fn logits_match_pytorch_on_all_test_digits() {
    let net = LeNet5::from_file(data("lenet5.safetensors")).unwrap();
    let test = Mnist::load(&data("mnist"), "t10k").unwrap();
    let bytes = std::fs::read(data("lenet5_golden.safetensors")).unwrap();
    let golden = SafeTensors::deserialize(&bytes).unwrap();
    let (shape, logits) = tensor_f32(&golden, "logits");
    assert_eq!(shape, [2000, 10]);
    assert_eq!(test.images.len(), 2000);

    let labels = golden.tensor("labels").unwrap();
    let labels: Vec<i64> = labels
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert!(labels
        .iter()
        .zip(&test.labels)
        .all(|(&a, &b)| a == i64::from(b)));

    let mut worst = 0.0f32;
    let mut correct = 0;
    let mut workspace = LeNet5::new_workspace();
    for (i, (digit, &label)) in test.images.iter().zip(&test.labels).enumerate() {
        let ours = net.forward_with(&lenet_input(digit), &mut workspace);
        let theirs = &logits[i * 10..(i + 1) * 10];
        for (a, b) in ours.iter().zip(theirs) {
            worst = worst.max((a - b).abs());
        }
        assert_eq!(
            argmax(&ours),
            argmax(theirs),
            "digit {i}: constnet {ours:?} vs PyTorch {theirs:?}"
        );
        if argmax(&ours) == usize::from(label) {
            correct += 1;
        }
    }
    println!("max |constnet − PyTorch| over 2,000 × 10 logits: {worst:e}; accuracy {correct}/2000");
    assert!(worst <= 1e-4, "max |diff| = {worst}");
    assert!(correct >= 1960, "accuracy {correct}/2000 < 98%");
}

#[test]
fn preprocessing_matches_pytorch_bit_for_bit() {
    let test = Mnist::load(&data("mnist"), "t10k").unwrap();
    let bytes = std::fs::read(data("lenet5_golden.safetensors")).unwrap();
    let golden = SafeTensors::deserialize(&bytes).unwrap();
    let (shape, expected) = tensor_f32(&golden, "trace.input");
    assert_eq!(shape, [1, 32, 32]);
    let ours = lenet_input(&test.images[0]);
    let ours: Vec<f32> = ours.iter().flatten().flatten().copied().collect();
    assert!(ours
        .iter()
        .zip(&expected)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn missing_files_are_clear_errors() {
    let err = LeNet5::from_file(data("no-such-weights.safetensors")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no-such-weights.safetensors"), "{msg}");
    let err = Mnist::load(&data("nowhere"), "t10k").err().unwrap();
    assert!(err.to_string().contains("data/mnist/"), "{err}");
}
