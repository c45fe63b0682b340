//! MLPerf Tiny's ResNet-8 (`net.rs`): a residual network declared with
//! blocks, loaded from the PyTorch weights in `data/zoo/resnet8.safetensors`
//! (seeded by `tools/zoo.py`), run on the 8 inputs of
//! `data/zoo/resnet8_golden.safetensors` and checked against PyTorch's
//! outputs; prints the layer table (blocks indented), the memory the
//! network needs and the latency of one `forward_with`.
//!
//! Run with `cargo run --release --example resnet8`.

mod net;

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use constnet::{Network, Tensor};
use net::ResNet8;
use safetensors::SafeTensors;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A float32 tensor of the golden file, flat.
fn tensor(file: &SafeTensors<'_>, name: &str) -> Result<Vec<f32>, Box<dyn Error>> {
    let t = file.tensor(name)?;
    Ok(t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn run() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/zoo");
    let net = ResNet8::from_file(root.join("resnet8.safetensors"))?;
    println!("{}\n", ResNet8::summary());
    println!(
        "{} parameters ({} bytes of weights), {} multiply-accumulates, {} bytes of workspace\n",
        ResNet8::PARAMETERS,
        ResNet8::WEIGHT_BYTES,
        ResNet8::MACS,
        ResNet8::WORKSPACE_BYTES
    );

    let bytes = std::fs::read(root.join("resnet8_golden.safetensors"))?;
    let golden = SafeTensors::deserialize(&bytes)?;
    let (inputs, outputs) = (tensor(&golden, "input")?, tensor(&golden, "output")?);
    let mut workspace = ResNet8::new_workspace();
    let mut worst = 0.0f32;
    let samples = inputs
        .chunks_exact(3 * 32 * 32)
        .zip(outputs.chunks_exact(10));
    for (i, (x, expected)) in samples.enumerate() {
        let x = <[[[f32; 32]; 32]; 3]>::from_flat(x).ok_or("input size")?;
        let p = net.forward_with(x, &mut workspace);
        let class = argmax(&p);
        let err = p
            .iter()
            .zip(expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        worst = worst.max(err);
        println!(
            "input {i}: class {class} with probability {:.3} (PyTorch: class {}), max |difference| {err:.1e}",
            p[class],
            argmax(expected)
        );
    }
    println!("\nlargest difference from PyTorch: {worst:.1e}");
    if worst > 1e-4 {
        return Err(format!("outputs differ from PyTorch's by {worst:e}").into());
    }

    let x = <[[[f32; 32]; 32]; 3]>::from_flat(&inputs[..3 * 32 * 32]).ok_or("input size")?;
    let mut times = Vec::new();
    for _ in 0..2000 {
        let start = Instant::now();
        std::hint::black_box(net.forward_with(std::hint::black_box(x), &mut workspace));
        times.push(start.elapsed());
    }
    times.sort();
    let median: Duration = times[times.len() / 2];
    println!(
        "median latency of forward_with: {:.1} µs (one thread, this machine; `cargo bench --bench zoo` measures properly)",
        median.as_secs_f64() * 1e6
    );
    Ok(())
}

fn argmax(values: &[f32]) -> usize {
    (0..values.len())
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0)
}
