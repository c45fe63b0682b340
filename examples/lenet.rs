//! The flagship example: LeNet-5 declared with `constnet::network!`, loaded
//! from the PyTorch weights in `data/lenet5.safetensors` (trained by
//! `tools/train_lenet.py`), classifying the 2,000 held-out MNIST test digits
//! shipped in `data/mnist/`.
//!
//! Prints the layer table, the accuracy, the median latency of one
//! `forward` (single thread), and a few digits drawn in the terminal with
//! the predicted class and its probability.
//!
//! Run with `cargo run --release --example lenet`.

mod mnist;

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use constnet::Network;
use mnist::{argmax, draw, lenet_input, probabilities, Mnist};

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
    let net = LeNet5::from_file(root.join("data/lenet5.safetensors"))?;
    let test = Mnist::load(&root.join("data/mnist"), "t10k")?;

    println!("{}\n", LeNet5::summary());

    let inputs: Vec<_> = test.images.iter().map(lenet_input).collect();
    let mut workspace = LeNet5::new_workspace();
    let mut predictions = Vec::with_capacity(inputs.len());
    let mut times = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let start = Instant::now();
        let logits = net.forward_with(std::hint::black_box(input), &mut workspace);
        times.push(start.elapsed());
        predictions.push(logits);
    }
    times.sort();
    let median = times[times.len() / 2];

    let correct = predictions
        .iter()
        .zip(&test.labels)
        .filter(|(logits, &label)| argmax(&logits[..]) == usize::from(label))
        .count();
    println!(
        "accuracy: {correct}/{} = {:.2}% on the held-out MNIST test digits",
        test.labels.len(),
        100.0 * correct as f64 / test.labels.len() as f64
    );
    println!(
        "latency:  {} per image (median of {} single-threaded forward calls)",
        micros(median),
        times.len()
    );

    // The first four test digits, and the first mistake if there is one.
    let mut shown: Vec<usize> = (0..4).collect();
    if let Some(miss) =
        (0..predictions.len()).find(|&i| argmax(&predictions[i][..]) != usize::from(test.labels[i]))
    {
        shown.push(miss);
    }
    println!();
    let pictures: Vec<Vec<String>> = shown.iter().map(|&i| draw(&test.images[i])).collect();
    for line in 0..14 {
        let row: Vec<&str> = pictures.iter().map(|p| p[line].as_str()).collect();
        println!("  {}", row.join(" │ "));
    }
    let captions: Vec<String> = shown
        .iter()
        .map(|&i| {
            let p = probabilities(&predictions[i]);
            let class = argmax(&predictions[i][..]);
            let text = format!(
                "#{i} label {} → {class} {:.1}%",
                test.labels[i],
                100.0 * p[class]
            );
            format!("{text:<28}")
        })
        .collect();
    println!("  {}", captions.join(" │ "));
    Ok(())
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
