//! The benchmark zoo, one pinned thread: each network at batch 1
//! (`forward_with` on one workspace) and at batch 64 (`forward_batch`, per
//! image), with `2·MACS` FLOP per image as criterion's throughput, so it
//! prints GFLOP/s ("elem/s"). Compare them with the single-core FMA peak
//! of `cargo bench -p constnet-runtime --bench peak`.
//!
//! ```sh
//! taskset -c 0 cargo bench --bench zoo              # every network
//! taskset -c 0 cargo bench --bench zoo -- resnet8   # one
//! ```
//!
//! Networks: LeNet-5 (the shipped weights and digits), and the zoo of
//! `data/zoo/` (seeded weights and inputs from `tools/zoo.py`): LeNet-5
//! with Tanh and average pooling, and MLPerf Tiny's four networks —
//! ResNet-8, DS-CNN, MobileNetV1 ×0.25 and the autoencoder. These four
//! also in int8 ("int8, batch 1", `#[int8]`, calibrated on the golden
//! inputs; TFLite's semantics, `tests/int8_tflite_cnns.rs`).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../examples/resnet8/net.rs"]
mod resnet8;
#[path = "../tests/common/zoo.rs"]
mod zoo;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use constnet::batch::forward_batch;
use constnet::quant::calibrate::{calibrate, Method};
use constnet::quant::{quantize, Int8Network, QTensor};
use constnet::{Network, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use safetensors::SafeTensors;

/// Times `net` at batch 1 and at batch 64 on 64 samples in memory (the
/// `inputs`, cycled): batch 1 takes them one by one, batch 64 at once, so
/// both read their inputs from the same place (for MobileNetV1, 7 MB: from
/// L3, not from the L2 its 4 golden inputs alone would stay in).
fn bench_net<N: Network>(c: &mut Criterion, name: &str, net: &N, inputs: &[N::Input]) {
    let flops = 2 * N::MACS as u64;
    let batch: Vec<N::Input> = (0..64).map(|k| inputs[k % inputs.len()]).collect();
    let mut group = c.benchmark_group(name);
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(flops));
    let mut workspace = N::new_workspace();
    let mut i = 0;
    group.bench_function("batch 1", |b| {
        b.iter(|| {
            i = (i + 1) % batch.len();
            net.forward_with(black_box(&batch[i]), &mut workspace)
        });
    });
    let mut outputs = vec![<N::Output as Tensor>::zeroed(); 64];
    group.throughput(Throughput::Elements(flops * 64));
    group.bench_with_input(BenchmarkId::new("batch 64", "per call"), &batch, |b, xs| {
        b.iter(|| forward_batch(net, black_box(xs), &mut outputs));
    });
    group.finish();
}

/// The golden inputs of a zoo network.
fn zoo_inputs<N: Network>(name: &str) -> Vec<N::Input> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/zoo")
        .join(format!("{name}_golden.safetensors"));
    let bytes = std::fs::read(path).expect("the zoo's golden file");
    let file = SafeTensors::deserialize(&bytes).expect("a safetensors file");
    let (_, values) = common::tensor_f32(&file, "input");
    values
        .chunks_exact(<N::Input as Tensor>::LEN)
        .map(|x| *N::Input::from_flat(x).expect("input size"))
        .collect()
}

fn zoo_net<N: Network>(name: &str) -> Box<N> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/zoo")
        .join(format!("{name}.safetensors"));
    N::from_file(path).expect("the zoo's weights")
}

/// Benches the zoo network `name`.
fn bench_zoo<N: Network>(c: &mut Criterion, name: &str) {
    bench_net(c, name, &*zoo_net::<N>(name), &zoo_inputs::<N>(name));
}

/// Benches the int8 twin `Q` of the zoo network `name` at batch 1
/// (`forward_with`, int8 in and out), calibrated on its golden inputs, in
/// the float network's group: "int8, batch 1" next to "batch 1".
fn bench_zoo_int8<N: Network, Q: Int8Network<Float = N>>(c: &mut Criterion, name: &str) {
    let (net, inputs) = (zoo_net::<N>(name), zoo_inputs::<N>(name));
    let params = calibrate(&*net, &inputs, Method::MinMax).expect("calibration");
    let q = Q::quantize(&net, &params).expect("quantization");
    let quantized: Vec<Q::Input> = inputs
        .iter()
        .map(|x| {
            let mut xq = vec![0i8; x.as_flat().len()];
            quantize(x.as_flat(), q.input_params(), &mut xq);
            *Q::Input::from_flat(&xq).expect("input size")
        })
        .collect();
    let mut group = c.benchmark_group(name);
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(2 * N::MACS as u64));
    let mut workspace = Q::new_workspace();
    let mut i = 0;
    group.bench_function("int8, batch 1", |b| {
        b.iter(|| {
            i = (i + 1) % quantized.len();
            q.forward_with(black_box(&quantized[i]), &mut workspace)
        });
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    bench_net(c, "lenet5", &*common::lenet(), &common::first_inputs(64));
    bench_zoo::<zoo::LeNet5Tanh>(c, "lenet5_tanh");
    bench_zoo::<resnet8::ResNet8>(c, "resnet8");
    bench_zoo_int8::<resnet8::ResNet8, resnet8::ResNet8Int8>(c, "resnet8");
    bench_zoo::<zoo::DsCnn>(c, "ds_cnn");
    bench_zoo_int8::<zoo::DsCnn, zoo::DsCnnInt8>(c, "ds_cnn");
    bench_zoo::<zoo::MobileNetV1>(c, "mobilenet_v1_025");
    bench_zoo_int8::<zoo::MobileNetV1, zoo::MobileNetV1Int8>(c, "mobilenet_v1_025");
    bench_zoo::<zoo::AutoEncoder>(c, "autoencoder");
    bench_zoo_int8::<zoo::AutoEncoder, zoo::AutoEncoderInt8>(c, "autoencoder");
}

criterion_group!(benches, bench);
criterion_main!(benches);
