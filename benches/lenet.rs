//! LeNet-5 end to end: batch 1 and batch 64, on one thread and on all
//! cores, with the shipped weights and real test digits. Prints GFLOP/s and
//! the percentage of the single-core FMA peak measured in the same run
//! (`runtime/benches/common/fma.rs`, the `peak` bench's kernel).
//!
//! The int8 twin runs in the same group (`int8, batch 1, one thread`), so
//! the two compare within one run; `int8 from f32` times it from a float
//! image to float logits (quantize, run, dequantize), as `benches/peers`
//! does against ONNX Runtime's int8 model.
//!
//! ```sh
//! taskset -c 0 cargo bench --bench lenet -- 'batch'   # one core
//! cargo bench --bench lenet --features rayon          # all cores too
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{first_inputs, lenet, mnist, LeNet5, LeNet5Int8};
use constnet::batch::forward_batch;
use constnet::quant::calibrate::{calibrate, Method};
use constnet::quant::{dequantize, quantize, Int8Network, QTensor};
use constnet::Network;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[path = "../runtime/benches/common/fma.rs"]
mod fma;
#[path = "../runtime/benches/common/madd.rs"]
mod madd;

fn bench(c: &mut Criterion) {
    let net = lenet();
    let inputs = first_inputs(64);
    let flops = 2 * LeNet5::MACS as u64;

    let mut group = c.benchmark_group("lenet5");
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(flops));
    let mut workspace = LeNet5::new_workspace();
    let mut i = 0;
    group.bench_function("batch 1, one thread", |b| {
        b.iter(|| {
            i = (i + 1) % inputs.len();
            net.forward_with(black_box(&inputs[i]), &mut workspace)
        });
    });
    group.throughput(Throughput::Elements(flops * 64));
    let mut outputs = vec![[0.0f32; 10]; 64];
    group.bench_with_input(
        BenchmarkId::new("batch 64", "one thread"),
        &inputs,
        |b, xs| {
            b.iter(|| forward_batch(&*net, black_box(xs), &mut outputs));
        },
    );
    #[cfg(feature = "rayon")]
    group.bench_with_input(
        BenchmarkId::new("batch 64", "all cores"),
        &inputs,
        |b, xs| {
            b.iter(|| constnet::batch::par_forward_batch(&*net, black_box(xs), &mut outputs));
        },
    );
    // The int8 twin (`#[int8]`), calibrated on 200 training digits; its
    // input quantized once per digit, as a deployment quantizes its sensor
    // data.
    group.throughput(Throughput::Elements(flops));
    let train = mnist::Mnist::load(&common::data("mnist"), "train").expect("data/mnist");
    let calibration: Vec<_> = train.images[..200].iter().map(mnist::lenet_input).collect();
    let calibration = calibrate(&*net, &calibration, Method::MinMax).expect("calibration");
    let int8 = LeNet5Int8::quantize(&net, &calibration).expect("quantization");
    let quantized: Vec<[[[i8; 32]; 32]; 1]> = inputs
        .iter()
        .map(|x| {
            let mut q = [[[0i8; 32]; 32]; 1];
            quantize(
                x.as_flattened().as_flattened(),
                int8.input_params(),
                q.as_flat_mut(),
            );
            q
        })
        .collect();
    let mut int8_workspace = LeNet5Int8::new_workspace();
    group.bench_function("int8, batch 1, one thread", |b| {
        b.iter(|| {
            i = (i + 1) % quantized.len();
            int8.forward_with(black_box(&quantized[i]), &mut int8_workspace)
        });
    });
    // The same from a float image to float logits (quantize, run,
    // dequantize), as `benches/peers` times it against ONNX Runtime's int8
    // model, which takes and returns floats.
    group.bench_function("int8 from f32, batch 1, one thread", |b| {
        b.iter(|| {
            i = (i + 1) % inputs.len();
            let mut q = [[[0i8; 32]; 32]; 1];
            quantize(
                black_box(&inputs[i]).as_flattened().as_flattened(),
                int8.input_params(),
                q.as_flat_mut(),
            );
            let out = int8.forward_with(&q, &mut int8_workspace);
            let mut y = [0.0f32; 10];
            dequantize(out.as_flat(), int8.output_params(), &mut y);
            y
        });
    });
    group.finish();

    // A one-line summary in the units of the issue: µs per image and
    // percent of peak, from a direct timing loop.
    let runs = 20_000;
    let start = std::time::Instant::now();
    for k in 0..runs {
        black_box(net.forward_with(black_box(&inputs[k % 64]), &mut workspace));
    }
    let per_image = start.elapsed().as_secs_f64() / runs as f64;
    let gflops = flops as f64 / per_image / 1e9;
    let share = fma::peak_gflops(400_000, 100).map_or_else(
        || "no FMA peak measured on this CPU".to_owned(),
        |p| {
            format!(
                "{:.0}% of the measured {p:.0} GFLOP/s FMA peak",
                100.0 * gflops / p
            )
        },
    );
    println!(
        "lenet5 batch 1, one thread: {:.2} µs/image, {gflops:.1} GFLOP/s = {share}",
        per_image * 1e6
    );
    // The int8 twin the same way, against the int8 multiply-add peak.
    let start = std::time::Instant::now();
    for k in 0..runs {
        black_box(int8.forward_with(black_box(&quantized[k % 64]), &mut int8_workspace));
    }
    let int8_per_image = start.elapsed().as_secs_f64() / runs as f64;
    let gmacs = LeNet5::MACS as f64 / int8_per_image / 1e9;
    let (name, peak) = match madd::vnni_peak_gmacs(400_000, 100) {
        Some(p) => ("vpdpbusd", Some(p)),
        None => ("vpmaddwd", madd::peak_gmacs(400_000, 100)),
    };
    let share = peak.map_or_else(
        || "no int8 multiply-add peak measured on this CPU".to_owned(),
        |p| {
            format!(
                "{:.0}% of the measured {p:.0} GMAC/s {name} peak",
                100.0 * gmacs / p
            )
        },
    );
    println!(
        "lenet5 int8 batch 1, one thread: {:.2} µs/image ({:.2}× float), {gmacs:.1} GMAC/s = {share}",
        int8_per_image * 1e6,
        per_image / int8_per_image
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
