//! LeNet-5 end to end: batch 1 and batch 64, on one thread and on all
//! cores, with the shipped weights and real test digits. Prints GFLOP/s and
//! the percentage of one core's peak (32 FLOP/cycle × 2.6 GHz on the Zen 4
//! machine this was tuned on; adjust `PEAK_GFLOPS` for yours).
//!
//! ```sh
//! taskset -c 0 cargo bench --bench lenet -- 'batch'   # one core
//! cargo bench --bench lenet --features rayon          # all cores too
//! ```

#[path = "../examples/mnist/mod.rs"]
mod mnist;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use constnet::batch::forward_batch;
use constnet::Network;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

constnet::network! {
    /// LeNet-5, ReLU + max-pool variant.
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

/// One core's peak: 32 single-precision FLOP per cycle (two 256-bit FMA
/// pipes, or one 512-bit) at 2.6 GHz.
const PEAK_GFLOPS: f64 = 32.0 * 2.6;

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let net = LeNet5::from_file(root.join("data/lenet5.safetensors")).expect("weights");
    let test = mnist::Mnist::load(&root.join("data/mnist"), "t10k").expect("digits");
    let inputs: Vec<_> = test.images[..64].iter().map(mnist::lenet_input).collect();
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
    println!(
        "lenet5 batch 1, one thread: {:.2} µs/image, {gflops:.1} GFLOP/s = {:.0}% of {PEAK_GFLOPS:.0} GFLOP/s peak",
        per_image * 1e6,
        100.0 * gflops / PEAK_GFLOPS
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
