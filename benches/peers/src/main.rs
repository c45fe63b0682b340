//! `peers`: the shipped LeNet-5 (`data/lenet5.safetensors`, trained by
//! `tools/train_lenet.py`) in constnet and in two other Rust inference
//! engines, on the 2,000 held-out MNIST digits of `data/mnist/`.
//!
//! - constnet: `LeNet5::from_file`; batch 1 is `forward_with` on one
//!   workspace, batch 64 is `constnet::batch::forward_batch`.
//! - tract-onnx: `data/lenet5.onnx` (written by `tools/export_onnx.py`),
//!   `into_optimized()?.into_runnable()?`, one plan per batch size with the
//!   batch dimension pinned (1 or 64) and a reused `SimpleState`; the
//!   correctness check also runs the plan with the batch left symbolic.
//! - candle: `candle_nn::conv2d` / `linear` layers from the safetensors file
//!   through a `VarBuilder`, CPU device.
//!
//! First it checks every engine: all 2,000 digits at batch 1, at batch 64
//! (the first 31 × 64) and as one batch of 2,000; every logit must be within
//! 1e-4 of constnet's (and constnet's within 1e-4 of PyTorch's golden logits
//! in `data/lenet5_golden.safetensors`). Then it times each engine:
//! microseconds per image at batch 1 (median of single calls) and at batch 64
//! (median batch call / 64); every call copies its inputs in from a plain
//! `f32` buffer (constnet takes a reference to it) and its logits out to a
//! plain buffer. Engines are timed in interleaved rounds so that load on the
//! shared machine hits all of them alike. A counting global allocator counts
//! heap allocations (`alloc`, `alloc_zeroed`, `realloc`, on any thread) per
//! call.
//!
//! Prints the accuracy and checks to stderr and one Markdown table to stdout.
//! `--quick` makes a short run. Build and run it with `../run.sh`, which also
//! adds ONNX Runtime's rows (`ort.py`).

#[path = "../../../examples/mnist/mod.rs"]
mod mnist;

use std::alloc::{GlobalAlloc, Layout, System};
use std::error::Error;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor as CTensor};
use constnet::Network;
use tract_onnx::prelude::*;

type Res<T> = Result<T, Box<dyn Error>>;

// ---------------------------------------------------------------- allocations

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------- the model

constnet::network! {
    /// LeNet-5, ReLU + max-pool variant (as `examples/lenet.rs`).
    pub struct LeNet5 {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
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

type Input = <LeNet5 as Network>::Input; // [[[f32; 32]; 32]; 1]
type Logits = [f32; 10];
const BIG_BATCH: usize = 64;

/// One inference engine: runs `inputs.len()` digits, writes their logits.
trait Engine {
    fn name(&self) -> String;
    fn run(&mut self, inputs: &[Input], out: &mut [Logits]) -> Res<()>;
}

fn flat(inputs: &[Input]) -> &[f32] {
    inputs.as_flattened().as_flattened().as_flattened()
}

// ---------------------------------------------------------------- constnet

struct Constnet {
    net: Box<LeNet5>,
    workspace: Box<<LeNet5 as Network>::Workspace>,
}

impl Constnet {
    fn new(root: &Path) -> Res<Self> {
        Ok(Constnet {
            net: LeNet5::from_file(root.join("data/lenet5.safetensors"))?,
            workspace: LeNet5::new_workspace(),
        })
    }
}

impl Engine for Constnet {
    fn name(&self) -> String {
        format!("constnet {}", locked_version("constnet"))
    }
    fn run(&mut self, inputs: &[Input], out: &mut [Logits]) -> Res<()> {
        if let ([x], [y]) = (inputs, &mut *out) {
            *y = self.net.forward_with(x, &mut self.workspace);
        } else {
            constnet::batch::forward_batch(&*self.net, inputs, out);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- tract

struct Tract {
    /// Batch dimension pinned to 1 and to `BIG_BATCH`, and left symbolic.
    one: TypedSimpleState,
    big: TypedSimpleState,
    any: TypedSimpleState,
}

impl Tract {
    fn new(root: &Path) -> Res<Self> {
        let path = root.join("data/lenet5.onnx");
        let plan = |batch: Option<usize>| -> Res<TypedSimpleState> {
            // The exporter records every intermediate shape with the symbolic
            // batch (`value_info`, output type); pinning the input to a
            // number contradicts those, so a pinned plan ignores them and
            // lets tract infer the shapes from the input.
            let pinned = batch.is_some();
            let mut model = tract_onnx::onnx()
                .with_ignore_value_info(pinned)
                .with_ignore_output_shapes(pinned)
                .model_for_path(&path)?;
            if let Some(b) = batch {
                model = model.with_input_fact(0, f32::fact([b, 1, 32, 32]).into())?;
            }
            let runnable = model.into_optimized()?.into_runnable()?;
            Ok(runnable.spawn()?)
        };
        Ok(Tract {
            one: plan(Some(1))?,
            big: plan(Some(BIG_BATCH))?,
            any: plan(None)?,
        })
    }
}

impl Engine for Tract {
    fn name(&self) -> String {
        format!("tract-onnx {}", locked_version("tract-onnx"))
    }
    fn run(&mut self, inputs: &[Input], out: &mut [Logits]) -> Res<()> {
        let state = match inputs.len() {
            1 => &mut self.one,
            BIG_BATCH => &mut self.big,
            _ => &mut self.any,
        };
        let x = tract_onnx::prelude::Tensor::from_shape(&[inputs.len(), 1, 32, 32], flat(inputs))?;
        let y = state.run(tvec!(x.into()))?;
        out.as_flattened_mut()
            .copy_from_slice(y[0].try_as_plain_ram()?.as_slice::<f32>()?);
        Ok(())
    }
}

// ---------------------------------------------------------------- candle

struct Candle {
    conv1: candle_nn::Conv2d,
    conv2: candle_nn::Conv2d,
    fc1: candle_nn::Linear,
    fc2: candle_nn::Linear,
    fc3: candle_nn::Linear,
}

impl Candle {
    fn new(root: &Path) -> Res<Self> {
        let bytes = std::fs::read(root.join("data/lenet5.safetensors"))?;
        let vb = candle_nn::VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)?;
        let conv = Default::default();
        Ok(Candle {
            conv1: candle_nn::conv2d(1, 6, 5, conv, vb.pp("conv1"))?,
            conv2: candle_nn::conv2d(6, 16, 5, conv, vb.pp("conv2"))?,
            fc1: candle_nn::linear(400, 120, vb.pp("fc1"))?,
            fc2: candle_nn::linear(120, 84, vb.pp("fc2"))?,
            fc3: candle_nn::linear(84, 10, vb.pp("fc3"))?,
        })
    }

    fn forward(&self, x: &CTensor) -> candle_core::Result<CTensor> {
        let x = self.conv1.forward(x)?.relu()?.max_pool2d(2)?;
        let x = self.conv2.forward(&x)?.relu()?.max_pool2d(2)?;
        let x = x.flatten_from(1)?;
        let x = self.fc1.forward(&x)?.relu()?;
        let x = self.fc2.forward(&x)?.relu()?;
        self.fc3.forward(&x)
    }
}

impl Engine for Candle {
    fn name(&self) -> String {
        format!("candle {}", locked_version("candle-core"))
    }
    fn run(&mut self, inputs: &[Input], out: &mut [Logits]) -> Res<()> {
        let x = CTensor::from_slice(flat(inputs), (inputs.len(), 1, 32, 32), &Device::Cpu)?;
        let y = self.forward(&x)?.flatten_all()?.to_vec1::<f32>()?;
        out.as_flattened_mut().copy_from_slice(&y);
        Ok(())
    }
}

// ---------------------------------------------------------------- helpers

/// The version of `package` in this crate's Cargo.lock (for the table).
fn locked_version(package: &str) -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .unwrap_or_default();
    let needle = format!("name = \"{package}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|i| lock[i + needle.len()..].split('"').next())
        .unwrap_or("?")
        .to_string()
}

fn golden_logits(root: &Path) -> Res<Vec<f32>> {
    let bytes = std::fs::read(root.join("data/lenet5_golden.safetensors"))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let t = st.tensor("logits")?;
    if t.dtype() != safetensors::Dtype::F32 || t.shape() != [2000, 10] {
        return Err(format!("golden logits: {:?} {:?}", t.dtype(), t.shape()).into());
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .map(|d| if d.is_nan() { f32::INFINITY } else { d })
        .fold(0.0, f32::max)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

const TOL: f32 = 1e-4;

/// Runs every digit through `engine` at batch 1, at `BIG_BATCH` and as one
/// batch; checks against `reference` (constnet's batch-1 logits, or the
/// golden ones for constnet itself). Returns the batch-1 logits.
fn check(
    engine: &mut dyn Engine,
    inputs: &[Input],
    reference: &[f32],
    against: &str,
) -> Res<Vec<Logits>> {
    let n = inputs.len();
    let mut one = vec![[0.0; 10]; n];
    for (x, y) in inputs.chunks(1).zip(one.chunks_mut(1)) {
        engine.run(x, y)?;
    }
    let full = (n / BIG_BATCH) * BIG_BATCH;
    let mut big = vec![[0.0; 10]; full];
    for (x, y) in inputs[..full]
        .chunks(BIG_BATCH)
        .zip(big.chunks_mut(BIG_BATCH))
    {
        engine.run(x, y)?;
    }
    let mut all = vec![[0.0; 10]; n];
    engine.run(inputs, &mut all)?;
    let diffs = [
        max_diff(one.as_flattened(), reference),
        max_diff(big.as_flattened(), &reference[..full * 10]),
        max_diff(all.as_flattened(), reference),
    ];
    eprintln!(
        "{:<24} max |logit − {against}|: batch 1 {:.1e}, batch {BIG_BATCH} {:.1e}, batch {n} {:.1e}",
        engine.name(),
        diffs[0],
        diffs[1],
        diffs[2]
    );
    if let Some(d) = diffs.iter().find(|&&d| d > TOL) {
        return Err(format!(
            "{}: logits differ from {against} by {d:e} > {TOL:e}",
            engine.name()
        )
        .into());
    }
    Ok(one)
}

struct Timing {
    one: Vec<f64>,
    big: Vec<f64>,
    allocations: Vec<usize>,
    allocations_big: Vec<usize>,
}

/// Times `calls` batch-1 calls and `big_calls` batch-64 calls (ns per call),
/// cycling through the digits, and counts allocations of a few calls.
fn time(
    engine: &mut dyn Engine,
    inputs: &[Input],
    calls: usize,
    big_calls: usize,
    t: &mut Timing,
) -> Res<()> {
    let n = inputs.len();
    let batches = n / BIG_BATCH;
    let mut out = vec![[0.0f32; 10]; BIG_BATCH];
    // warm-up
    for i in 0..(calls / 20).max(20) {
        engine.run(&inputs[i % n..][..1], &mut out[..1])?;
    }
    for i in 0..(big_calls / 20).max(2) {
        engine.run(&inputs[(i % batches) * BIG_BATCH..][..BIG_BATCH], &mut out)?;
    }
    let start = t.one.len();
    for i in start..start + calls {
        let x = black_box(&inputs[i % n..][..1]);
        let t0 = Instant::now();
        engine.run(x, &mut out[..1])?;
        t.one.push(t0.elapsed().as_nanos() as f64);
        black_box(&out);
    }
    let start = t.big.len();
    for i in start..start + big_calls {
        let x = black_box(&inputs[(i % batches) * BIG_BATCH..][..BIG_BATCH]);
        let t0 = Instant::now();
        engine.run(x, &mut out)?;
        t.big.push(t0.elapsed().as_nanos() as f64);
        black_box(&out);
    }
    for i in 0..10 {
        let x = &inputs[i % n..][..1];
        let before = ALLOCATIONS.load(Relaxed);
        engine.run(x, &mut out[..1])?;
        t.allocations.push(ALLOCATIONS.load(Relaxed) - before);
        let x = &inputs[(i % batches) * BIG_BATCH..][..BIG_BATCH];
        let before = ALLOCATIONS.load(Relaxed);
        engine.run(x, &mut out)?;
        t.allocations_big.push(ALLOCATIONS.load(Relaxed) - before);
    }
    Ok(())
}

fn range(v: &[usize]) -> String {
    let (lo, hi) = (v.iter().min().unwrap(), v.iter().max().unwrap());
    if lo == hi {
        format!("{lo}")
    } else {
        format!("{lo}–{hi}")
    }
}

// ---------------------------------------------------------------- main

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Res<()> {
    // candle sizes its thread pool from RAYON_NUM_THREADS, else from the
    // number of physical cores, ignoring the CPU affinity `taskset` sets; pin
    // it to one thread (like every other engine here) unless the caller chose.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let mut quick = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            _ => return Err(format!("unknown argument {arg:?} (usage: peers [--quick])").into()),
        }
    }
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()?;
    let test = mnist::Mnist::load(&root.join("data/mnist"), "t10k")?;
    let inputs: Vec<Input> = test.images.iter().map(mnist::lenet_input).collect();
    let golden = golden_logits(&root)?;
    if golden.len() != inputs.len() * 10 {
        return Err("golden logits and test digits differ in number".into());
    }

    let mut engines: Vec<Box<dyn Engine>> = vec![
        Box::new(Constnet::new(&root)?),
        Box::new(Tract::new(&root)?),
        Box::new(Candle::new(&root)?),
    ];

    // Correctness: constnet against PyTorch, everyone else against constnet.
    let reference = check(&mut *engines[0], &inputs, &golden, "PyTorch")?;
    let reference = reference.as_flattened().to_vec();
    let mut logits = vec![reference.clone()];
    for engine in &mut engines[1..] {
        let l = check(&mut **engine, &inputs, &reference, "constnet")?;
        logits.push(l.as_flattened().to_vec());
    }
    for (engine, l) in engines.iter().zip(&logits) {
        let correct = l
            .chunks_exact(10)
            .zip(&test.labels)
            .filter(|(y, &label)| mnist::argmax(y) == usize::from(label))
            .count();
        eprintln!(
            "{:<24} accuracy {correct}/{} = {:.2}%",
            engine.name(),
            test.labels.len(),
            100.0 * correct as f64 / test.labels.len() as f64
        );
    }

    // Timing, in interleaved rounds.
    let (rounds, calls, big_calls) = if quick { (2, 500, 16) } else { (20, 1000, 50) };
    let mut timings: Vec<Timing> = engines
        .iter()
        .map(|_| Timing {
            one: Vec::with_capacity(rounds * calls),
            big: Vec::with_capacity(rounds * big_calls),
            allocations: Vec::new(),
            allocations_big: Vec::new(),
        })
        .collect();
    let start = Instant::now();
    for _ in 0..rounds {
        for (engine, t) in engines.iter_mut().zip(&mut timings) {
            time(&mut **engine, &inputs, calls, big_calls, t)?;
        }
    }
    eprintln!(
        "timed {} batch-1 and {} batch-{BIG_BATCH} calls per engine in {rounds} interleaved rounds ({:.1} s){}",
        rounds * calls,
        rounds * big_calls,
        start.elapsed().as_secs_f64(),
        if quick { ", --quick" } else { "" }
    );

    println!("| engine | µs/image batch 1 | µs/image batch {BIG_BATCH} | allocations per call |");
    println!("|---|---:|---:|---:|");
    for (engine, t) in engines.iter().zip(&mut timings) {
        println!(
            "| {} | {:.2} | {:.2} | {} |",
            engine.name(),
            median(&mut t.one) / 1e3,
            median(&mut t.big) / 1e3 / BIG_BATCH as f64,
            range(&t.allocations),
        );
    }
    // (`timings` are sorted now.) The spread shows how noisy the run was.
    for (engine, t) in engines.iter().zip(&timings) {
        let pct = |v: &[f64], p: usize, scale: f64| v[(v.len() - 1) * p / 100] / 1e3 / scale;
        eprintln!(
            "{:<24} µs/image min/p10/p90: batch 1 {:.2}/{:.2}/{:.2}, batch {BIG_BATCH} {:.2}/{:.2}/{:.2}; allocations per batch-{BIG_BATCH} call: {}",
            engine.name(),
            pct(&t.one, 0, 1.0),
            pct(&t.one, 10, 1.0),
            pct(&t.one, 90, 1.0),
            pct(&t.big, 0, BIG_BATCH as f64),
            pct(&t.big, 10, BIG_BATCH as f64),
            pct(&t.big, 90, BIG_BATCH as f64),
            range(&t.allocations_big)
        );
    }
    Ok(())
}
