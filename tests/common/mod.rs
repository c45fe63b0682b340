//! Shared by the integration tests that run the shipped LeNet-5: its
//! declaration (the same as `examples/lenet.rs`), the shipped weights and
//! digits, and PyTorch's golden outputs. Each test crate uses a part, hence
//! the `dead_code` allowance.
#![allow(dead_code)]

#[path = "../../examples/mnist/mod.rs"]
pub mod mnist;
pub mod tensors;

use std::path::{Path, PathBuf};

use constnet::Network;
use safetensors::SafeTensors;

constnet::network! {
    /// LeNet-5, ReLU + max-pool variant, as in `examples/lenet.rs`; with
    /// its int8 twin `LeNet5Int8`.
    #[int8]
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

/// One LeNet-5 input.
pub type Input = <LeNet5 as Network>::Input;

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `data/`.
pub fn data(file: &str) -> PathBuf {
    root().join("data").join(file)
}

/// The shipped, PyTorch-trained LeNet-5.
pub fn lenet() -> Box<LeNet5> {
    LeNet5::from_file(data("lenet5.safetensors")).expect("data/lenet5.safetensors")
}

/// The 2,000 shipped held-out test digits.
pub fn test_digits() -> mnist::Mnist {
    mnist::Mnist::load(&data("mnist"), "t10k").expect("data/mnist")
}

/// A float32 tensor of a safetensors file: its shape and flat values.
pub fn tensor_f32(file: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = file.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
    let values = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), values)
}

/// The network's inputs for the first `n` test digits.
pub fn first_inputs(n: usize) -> Vec<Input> {
    test_digits().images[..n]
        .iter()
        .map(mnist::lenet_input)
        .collect()
}
