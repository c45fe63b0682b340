//! int8 LeNet-5: constnet's `LeNet5Int8` next to ONNX Runtime's int8 model
//! of the same network (`data/lenet5_int8.onnx`, `tools/ort_int8.py`: QDQ,
//! int8 weights per output channel, int8 activations, MinMax calibration),
//! both calibrated on the same 200 training digits, and next to the float
//! network in both.
//!
//! The int8 results are not PyTorch's to 1e-4, so instead of the zoo's check
//! each engine's accuracy on the 2,000 test digits is printed (and must be
//! within 0.5 percentage points of constnet's float network, or the run
//! stops). Both int8 engines take a float image and return float logits:
//! constnet quantizes the input, runs `forward_with` on one workspace and
//! dequantizes the logits (`Int8Network::forward_f32` without its
//! allocation of a workspace); ORT's graph starts with `QuantizeLinear` and
//! ends with `DequantizeLinear`. Timing as the zoo's: interleaved rounds,
//! the 10th percentile of calls.

use std::path::Path;

use constnet::quant::calibrate::{calibrate, Method};
use constnet::quant::{dequantize, quantize, Int8Network, QTensor};
use constnet::{Network, Tensor};

use crate::engine::{Engine, Kind, Res, BIG};
use crate::measure::{self, Budget, Samples};
use crate::nets::{common, Case};
use crate::onnxruntime::{Ort, Runtime};

use common::{LeNet5, LeNet5Int8};

/// Calibration digits: the first 200 of the training set, as in
/// `benches/lenet.rs` and `tools/ort_int8.py`.
const CALIBRATION: usize = 200;

/// constnet's int8 LeNet-5, float in and out.
struct ConstnetInt8 {
    net: Box<LeNet5Int8>,
    workspace: Box<<LeNet5Int8 as Int8Network>::Workspace>,
    pool: Vec<<LeNet5 as Network>::Input>,
    outputs: Vec<<LeNet5 as Network>::Output>,
}

impl Engine for ConstnetInt8 {
    fn kind(&self) -> Kind {
        Kind::Constnet
    }
    fn name(&self) -> String {
        format!("constnet {} int8", crate::locked_version("constnet"))
    }
    fn run(&mut self, first: usize, batch: usize) -> Res<()> {
        for (x, y) in self.pool[first..first + batch]
            .iter()
            .zip(&mut self.outputs)
        {
            let mut q = [[[0i8; 32]; 32]; 1];
            quantize(Tensor::as_flat(x), self.net.input_params(), q.as_flat_mut());
            let out = self.net.forward_with(&q, &mut self.workspace);
            dequantize(
                out.as_flat(),
                self.net.output_params(),
                Tensor::as_flat_mut(y),
            );
        }
        Ok(())
    }
    fn output(&self, i: usize) -> &[f32] {
        Tensor::as_flat(&self.outputs[i])
    }
}

/// Correct answers of `engine` on the pool's first `n` images (batch 1).
fn right(engine: &mut dyn Engine, labels: &[u8]) -> Res<usize> {
    let mut right = 0;
    for (i, &label) in labels.iter().enumerate() {
        engine.run(i, 1)?;
        let y = engine.output(0);
        let best = (0..y.len())
            .max_by(|&a, &b| y[a].total_cmp(&y[b]))
            .unwrap_or(0);
        right += usize::from(best == usize::from(label));
    }
    Ok(right)
}

/// Builds, checks and times the four engines; prints the table.
pub fn run(
    root: &Path,
    case: &Case,
    ort: Option<&Runtime>,
    rounds: usize,
    budget: &Budget,
) -> Res<()> {
    let float = LeNet5::from_file(&case.weights)?;
    let train = common::mnist::Mnist::load(&root.join("data/mnist"), "train")?;
    let digits: Vec<_> = train.images[..CALIBRATION]
        .iter()
        .map(common::mnist::lenet_input)
        .collect();
    let calibration = calibrate(&*float, &digits, Method::MinMax)?;
    let int8 = LeNet5Int8::quantize(&float, &calibration)?;
    let pool: Vec<_> = case
        .pool
        .chunks_exact(<LeNet5 as Network>::Input::LEN)
        .map(|x| *<LeNet5 as Network>::Input::from_flat(x).expect("input size"))
        .collect();
    let mut engines: Vec<(&str, Box<dyn Engine>)> = vec![
        (
            "float",
            Box::new(crate::engine::Constnet::new(float, &case.pool)?),
        ),
        (
            "int8",
            Box::new(ConstnetInt8 {
                net: int8,
                workspace: LeNet5Int8::new_workspace(),
                pool,
                outputs: vec![<<LeNet5 as Network>::Output as Tensor>::zeroed(); BIG],
            }),
        ),
    ];
    if let Some(runtime) = ort {
        engines.push(("float", Box::new(Ort::new(runtime, case)?)));
        let int8_case = Case {
            name: case.name,
            macs: case.macs,
            weights: case.weights.clone(),
            onnx: root.join("data/lenet5_int8.onnx"),
            input_shape: case.input_shape,
            input_len: case.input_len,
            output_shape: case.output_shape,
            output_len: case.output_len,
            pool: case.pool.clone(),
            golden: case.golden.clone(),
        };
        engines.push(("int8", Box::new(Ort::new(runtime, &int8_case)?)));
    }
    let labels = common::mnist::Mnist::load(&root.join("data/mnist"), "t10k")?.labels;
    let mut accuracy = Vec::new();
    for (what, engine) in &mut engines {
        let n = right(&mut **engine, &labels)?;
        eprintln!(
            "lenet5 {what:<5} {:<36} {n} / {} test digits right",
            engine.name(),
            labels.len()
        );
        accuracy.push(n);
    }
    let floor = accuracy[0] as f64 - 0.005 * labels.len() as f64;
    if let Some(k) = accuracy.iter().position(|&n| (n as f64) < floor) {
        return Err(format!(
            "{} {}: {} / {} right, more than 0.5 points below constnet's float network",
            engines[k].1.name(),
            engines[k].0,
            accuracy[k],
            labels.len()
        )
        .into());
    }
    let mut samples: Vec<Samples> = engines.iter().map(|_| Samples::default()).collect();
    for _ in 0..rounds {
        for ((_, engine), s) in engines.iter_mut().zip(&mut samples) {
            measure::round(&mut **engine, case, budget, s)?;
        }
    }
    let us = |v: &mut Vec<f64>, per: usize| {
        v.sort_by(f64::total_cmp);
        measure::percentile(v, measure::SHOWN) / 1e3 / per as f64
    };
    let times: Vec<(f64, f64)> = samples
        .iter_mut()
        .map(|s| (us(&mut s.one, 1), us(&mut s.big, BIG)))
        .collect();
    println!("\n### int8 LeNet-5 (one thread; µs per image, the 10th percentile of calls)\n");
    println!("| engine | weights | test digits right | batch 1 | batch {BIG} | batch 1 vs constnet int8 |");
    println!("|---|---|---:|---:|---:|---:|");
    for (((what, engine), n), (one, big)) in engines.iter().zip(&accuracy).zip(&times) {
        println!(
            "| {} | {what} | {n} / {} | {one:.2} | {big:.2} | {:.2}× |",
            engine.name(),
            labels.len(),
            one / times[1].0
        );
    }
    Ok(())
}
