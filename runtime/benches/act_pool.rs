//! Activations and pools, each next to its baseline in the same run.
//!
//! ```sh
//! taskset -c 0 cargo bench -p constnet-runtime --bench act_pool
//! taskset -c 0 cargo bench -p constnet-runtime --bench act_pool -- tanh   # one group
//! ```
//!
//! Every activation runs on a LeNet-sized map (16×10×10, conv2's output)
//! and a larger one (32×48×48), as `libm/<name>` (the scalar `libm` twin
//! of `constnet_runtime::reference::libm_act`, what `act` computed before
//! it was vectorised) and as `<name>` (the dispatched kernel). Each
//! iteration copies a fixed input into the buffer first (in both), so
//! every call sees the same values in `[-4, 4)` whatever the function.
//! Softmax and log-softmax run over the channels of the 16×10×10 map
//! (`dim = 1`, strided lanes) and over 1000 logits (contiguous).
//!
//! The pools: LeNet's 2×2 average pool (6×28×28), a 3×3 / stride 2 / padding
//! 1 average pool in ceil mode without the padding in the divisor, and
//! global average pooling of 256×3×3 and 64×8×8 (`AdaptiveAvgPool2d(1)`)
//! and an adaptive max pool 64×8×8 → 3×3; next to the naive reference
//! kernels. Criterion reports time and elements (inputs) per second.
#![allow(clippy::cast_precision_loss)] // Counts far below 2^24.
#![allow(clippy::large_stack_arrays)] // A few hundred KiB, boxed.

use std::hint::black_box;
use std::time::Duration;

use constnet_runtime::reference::{self, libm_act, AvgPool2dParams};
use constnet_runtime::{act, pool, Tensor};
use criterion::{Criterion, Throughput};

/// Deterministic data in `[-1, 1)` (xorshift32).
fn fill(xs: &mut [f32], seed: u32) {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    for x in xs {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *x = (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
    }
}

type Kernel = fn(&mut [f32]);

/// Each activation: name, the vectorised kernel, its libm twin.
fn activations() -> Vec<(&'static str, Kernel, Kernel)> {
    fn each(x: &mut [f32], f: fn(f32) -> f32) {
        for v in x {
            *v = f(*v);
        }
    }
    vec![
        ("tanh", act::tanh, |x| each(x, libm_act::tanh)),
        ("sigmoid", act::sigmoid, |x| each(x, libm_act::sigmoid)),
        ("silu", act::silu, |x| each(x, libm_act::silu)),
        (
            "elu",
            |x| act::elu(x, 1.0),
            |x| each(x, |v| libm_act::elu(v, 1.0)),
        ),
        ("selu", act::selu, |x| each(x, libm_act::selu)),
        ("gelu", act::gelu, |x| each(x, libm_act::gelu)),
        ("gelu_tanh", act::gelu_tanh, |x| {
            each(x, libm_act::gelu_tanh)
        }),
        ("hardswish", act::hardswish, |x| {
            each(x, |v| v * (v + 3.0).clamp(0.0, 6.0) / 6.0);
        }),
        ("relu6", act::relu6, |x| each(x, |v| v.clamp(0.0, 6.0))),
    ]
}

fn bench_acts(c: &mut Criterion) {
    for (shape, len) in [("16x10x10", 16 * 10 * 10), ("32x48x48", 32 * 48 * 48)] {
        let mut src = vec![0.0f32; len];
        fill(&mut src, 1);
        for v in &mut src {
            *v *= 4.0;
        }
        let mut buf = src.clone();
        let mut group = c.benchmark_group(format!("act/{shape}"));
        group.throughput(Throughput::Elements(len as u64));
        for (name, kernel, twin) in activations() {
            group.bench_function(format!("libm/{name}"), |b| {
                b.iter(|| {
                    buf.copy_from_slice(&src);
                    twin(black_box(&mut buf));
                });
            });
            group.bench_function(name, |b| {
                b.iter(|| {
                    buf.copy_from_slice(&src);
                    kernel(black_box(&mut buf));
                });
            });
        }
        group.finish();
    }
}

fn bench_softmax(c: &mut Criterion) {
    let mut group = c.benchmark_group("softmax");
    let mut map = Box::new([[[0.0f32; 10]; 10]; 16]);
    fill(map.as_flat_mut(), 2);
    let src = *map;
    let mut logits = [0.0f32; 1000];
    fill(&mut logits, 3);
    let src_logits = logits;
    group.throughput(Throughput::Elements(1600));
    for log in [false, true] {
        let name = if log { "log_softmax" } else { "softmax" };
        group.bench_function(format!("libm/{name}/16x10x10,dim=1"), |b| {
            b.iter(|| {
                *map = src;
                libm_act::normalize(black_box(map.as_flat_mut()), 1, 16, 100, log);
            });
        });
        group.bench_function(format!("{name}/16x10x10,dim=1"), |b| {
            b.iter(|| {
                *map = src;
                if log {
                    act::log_softmax::<1, 16, 100, _>(black_box(&mut *map));
                } else {
                    act::softmax::<1, 16, 100, _>(black_box(&mut *map));
                }
            });
        });
    }
    group.throughput(Throughput::Elements(1000));
    for log in [false, true] {
        let name = if log { "log_softmax" } else { "softmax" };
        group.bench_function(format!("libm/{name}/1000"), |b| {
            b.iter(|| {
                logits = src_logits;
                libm_act::normalize(black_box(&mut logits), 1, 1000, 1, log);
            });
        });
        group.bench_function(format!("{name}/1000"), |b| {
            b.iter(|| {
                logits = src_logits;
                if log {
                    act::log_softmax::<1, 1000, 1, _>(black_box(&mut logits));
                } else {
                    act::softmax::<1, 1000, 1, _>(black_box(&mut logits));
                }
            });
        });
    }
    group.finish();
}

/// The pools' inputs and outputs.
struct Pools {
    lenet: [[[f32; 28]; 28]; 6],
    lenet_out: [[[f32; 14]; 14]; 6],
    padded_out: [[[f32; 15]; 15]; 6],
    g3: [[[f32; 3]; 3]; 256],
    g3_out: [[[f32; 1]; 1]; 256],
    g8: [[[f32; 8]; 8]; 64],
    g8_out: [[[f32; 1]; 1]; 64],
    a8_out: [[[f32; 3]; 3]; 64],
}

fn bench_pools(c: &mut Criterion) {
    let mut p = Box::new(Pools {
        lenet: Tensor::zeroed(),
        lenet_out: Tensor::zeroed(),
        padded_out: Tensor::zeroed(),
        g3: Tensor::zeroed(),
        g3_out: Tensor::zeroed(),
        g8: Tensor::zeroed(),
        g8_out: Tensor::zeroed(),
        a8_out: Tensor::zeroed(),
    });
    fill(p.lenet.as_flat_mut(), 4);
    fill(p.g3.as_flat_mut(), 5);
    fill(p.g8.as_flat_mut(), 6);
    let mut group = c.benchmark_group("pool");
    let lenet_params = AvgPool2dParams {
        kernel: (2, 2),
        stride: (2, 2),
        padding: (0, 0),
        ceil_mode: false,
        count_include_pad: true,
        divisor_override: None,
    };
    let padded_params = AvgPool2dParams {
        kernel: (3, 3),
        stride: (2, 2),
        padding: (1, 1),
        ceil_mode: true,
        count_include_pad: false,
        divisor_override: None,
    };
    group.throughput(Throughput::Elements(6 * 28 * 28));
    group.bench_function("avg_2x2/6x28x28", |b| {
        b.iter(|| {
            pool::avg_pool2d::<2, 2, 2, 2, 0, 0, false, true, 0, 6, 28, 28, 14, 14>(
                black_box(&p.lenet),
                &mut p.lenet_out,
            );
        });
    });
    group.bench_function("naive/avg_2x2/6x28x28", |b| {
        b.iter(|| {
            reference::avg_pool2d(
                &lenet_params,
                6,
                (28, 28),
                black_box(p.lenet.as_flat()),
                p.lenet_out.as_flat_mut(),
            );
        });
    });
    group.bench_function("avg_3x3s2p1_ceil/6x28x28", |b| {
        b.iter(|| {
            pool::avg_pool2d::<3, 3, 2, 2, 1, 1, true, false, 0, 6, 28, 28, 15, 15>(
                black_box(&p.lenet),
                &mut p.padded_out,
            );
        });
    });
    group.bench_function("naive/avg_3x3s2p1_ceil/6x28x28", |b| {
        b.iter(|| {
            reference::avg_pool2d(
                &padded_params,
                6,
                (28, 28),
                black_box(p.lenet.as_flat()),
                p.padded_out.as_flat_mut(),
            );
        });
    });
    group.throughput(Throughput::Elements(256 * 9));
    group.bench_function("global_avg/256x3x3", |b| {
        b.iter(|| pool::adaptive_avg_pool2d(black_box(&p.g3), &mut p.g3_out));
    });
    group.bench_function("naive/global_avg/256x3x3", |b| {
        b.iter(|| {
            reference::adaptive_avg_pool2d(
                256,
                (3, 3),
                (1, 1),
                black_box(p.g3.as_flat()),
                p.g3_out.as_flat_mut(),
            );
        });
    });
    group.throughput(Throughput::Elements(64 * 64));
    group.bench_function("global_avg/64x8x8", |b| {
        b.iter(|| pool::adaptive_avg_pool2d(black_box(&p.g8), &mut p.g8_out));
    });
    group.bench_function("naive/global_avg/64x8x8", |b| {
        b.iter(|| {
            reference::adaptive_avg_pool2d(
                64,
                (8, 8),
                (1, 1),
                black_box(p.g8.as_flat()),
                p.g8_out.as_flat_mut(),
            );
        });
    });
    group.bench_function("adaptive_max_3x3/64x8x8", |b| {
        b.iter(|| pool::adaptive_max_pool2d(black_box(&p.g8), &mut p.a8_out));
    });
    group.bench_function("adaptive_avg_3x3/64x8x8", |b| {
        b.iter(|| pool::adaptive_avg_pool2d(black_box(&p.g8), &mut p.a8_out));
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    bench_acts(&mut criterion);
    bench_softmax(&mut criterion);
    bench_pools(&mut criterion);
    criterion.final_summary();
}
