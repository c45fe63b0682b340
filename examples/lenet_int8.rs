//! LeNet-5 in int8: the flagship network declared once with `#[int8]`,
//! calibrated in Rust on 500 training digits, quantized with TensorFlow
//! Lite's rules, and run on the 2,000 held-out test digits next to the
//! float network.
//!
//! Prints the int8 layer table (each value's scale and zero point, each
//! layer's weight scales), the bytes of both networks, and both
//! accuracies.
//!
//! Run with `cargo run --release --example lenet_int8`.

mod mnist;

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;

use constnet::quant::calibrate::{calibrate, Method};
use constnet::quant::{quantize, Int8Network, QTensor};
use constnet::Network;
use mnist::{argmax, lenet_input, Mnist};

constnet::network! {
    /// LeNet-5, ReLU + max-pool variant, and its int8 twin `LeNet5Int8`.
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

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let float = LeNet5::from_file(root.join("data/lenet5.safetensors"))?;
    let train = Mnist::load(&root.join("data/mnist"), "train")?;
    let test = Mnist::load(&root.join("data/mnist"), "t10k")?;

    let calibration: Vec<_> = train.images[..500].iter().map(lenet_input).collect();
    let calibration = calibrate(&*float, &calibration, Method::MinMax)?;
    let int8 = LeNet5Int8::quantize(&float, &calibration)?;

    println!("quantized values (real = scale · (q − zero point)):");
    println!("{}", int8.summary());
    println!(
        "weights: {} bytes in f32, {} bytes in int8; workspace: {} bytes in f32, {} in int8",
        LeNet5::WEIGHT_BYTES,
        <LeNet5Int8 as Int8Network>::WEIGHT_BYTES,
        LeNet5::WORKSPACE_BYTES,
        <LeNet5Int8 as Int8Network>::WORKSPACE_BYTES,
    );

    let (mut right_f32, mut right_i8, mut agree) = (0, 0, 0);
    let mut workspace = LeNet5Int8::new_workspace();
    for (digit, &label) in test.images.iter().zip(&test.labels) {
        let x = lenet_input(digit);
        let mut q = [[[0i8; 32]; 32]; 1];
        quantize(
            x.as_flattened().as_flattened(),
            int8.input_params(),
            q.as_flat_mut(),
        );
        let logits = int8.forward_with(&q, &mut workspace);
        let a = argmax(&float.forward(&x));
        let b = (0..10)
            .max_by_key(|&i| (logits[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        right_f32 += usize::from(a == usize::from(label));
        right_i8 += usize::from(b == usize::from(label));
        agree += usize::from(a == b);
    }
    let n = test.images.len();
    println!(
        "accuracy on {n} test digits: f32 {right_f32}/{n}, int8 {right_i8}/{n}; same class on {agree}/{n}"
    );
    Ok(())
}
