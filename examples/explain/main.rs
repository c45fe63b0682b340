//! What LeNet-5 sees: one shipped MNIST test digit run through the network
//! with `forward_traced`, which keeps every layer's output, drawn as two
//! figures.
//!
//! - `explain.png`: the input; the feature maps of conv1, its ReLU and
//!   max-pool, conv2, its ReLU and max-pool, one greyscale tile per channel
//!   with one colour scale per layer; and the class probabilities.
//! - `kernels.png`: the learned 5×5 kernels of conv1 and conv2.
//!
//! Prints the layer table, the digit's label, the prediction and its
//! probability, and the files written.
//!
//! Run with `cargo run --release --example explain -- [DIGIT] [--out DIR]`:
//! `DIGIT` is the index of a test digit in `data/mnist/` (default 0), `DIR`
//! where the figures go (default `docs/` of the repository).

#[path = "../mnist/mod.rs"]
mod mnist;

mod canvas;
mod font;
mod render;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use constnet::Network;
use mnist::Mnist;

constnet::network! {
    /// LeNet-5, ReLU + max-pool variant, as in examples/lenet.rs.
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

const USAGE: &str = "usage: cargo run --release --example explain -- [DIGIT] [--out DIR]
  DIGIT  index of a test digit in data/mnist/ (default 0)
  DIR    where explain.png and kernels.png go (default docs/ of the repository)";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line: the digit's index, if given, and the output folder.
fn parse_args(root: &Path) -> Result<(Option<String>, PathBuf), String> {
    let mut digit = None;
    let mut out = root.join("docs");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = args.next().ok_or("--out needs a folder")?.into(),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option `{arg}`")),
            _ if digit.is_none() => digit = Some(arg),
            _ => {
                return Err(format!(
                    "unexpected argument `{arg}`: only one digit at a time"
                ))
            }
        }
    }
    Ok((digit, out))
}

/// The digit index `arg`, checked against the `count` shipped test digits.
fn digit_index(arg: &str, count: usize) -> Result<usize, String> {
    let last = count - 1;
    match arg.parse::<usize>() {
        Ok(i) if i < count => Ok(i),
        Ok(i) => Err(format!(
            "there is no test digit {i}: the {count} shipped test digits are numbered 0 to {last}"
        )),
        Err(_) => Err(format!("`{arg}` is not a digit index (0 to {last})")),
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (digit, out_dir) = parse_args(root).map_err(|e| format!("{e}\n{USAGE}"))?;
    let net = LeNet5::from_file(root.join("data/lenet5.safetensors"))?;
    let test = Mnist::load(&root.join("data/mnist"), "t10k")?;

    let index = match digit {
        None => 0,
        Some(arg) => digit_index(&arg, test.images.len()).map_err(|e| format!("{e}\n{USAGE}"))?,
    };
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;

    println!("{}\n", LeNet5::summary());
    let label = test.labels[index];
    let written = render::write_figures(&net, index, &test.images[index], label, &out_dir)?;
    let explained = &written.explained;
    let predicted = explained.predicted;
    let verdict = if usize::from(label) == predicted {
        "right"
    } else {
        "wrong"
    };
    println!(
        "test digit #{index}: label {label}, predicted {predicted} ({verdict}) with probability {}",
        render::percent(explained.probabilities[predicted]),
    );
    let logits: Vec<String> = explained.output.iter().map(|v| format!("{v:.2}")).collect();
    println!("logits (fc3): [{}]", logits.join(", "));
    for (path, (w, h)) in [
        (&written.explain_png, written.explain_size),
        (&written.kernels_png, written.kernels_size),
    ] {
        println!("wrote {} ({w}×{h})", path.display());
    }
    Ok(())
}
