//! The achievable single-core f32 FMA throughput, for stating the kernels'
//! efficiency against a measurement rather than a datasheet: criterion
//! times independent chains of the widest vector FMA (16 of AVX-512F, else
//! 12 of AVX2 + FMA, which has 16 registers) and reports FLOP/s ("elem/s"),
//! then the best of many short runs is printed as GFLOP/s.
//!
//! Also the bandwidth that bounds a dense layer at batch 1 (`peak/l2
//! read`): a sum of LeNet-5's `fc1`-sized 192,000 bytes of floats, read
//! again and again (in L2, past L1), in four independent vector chains;
//! criterion reports bytes/s.
//!
//! ```sh
//! taskset -c 0 cargo bench -p constnet-runtime --bench peak
//! ```
#![allow(clippy::cast_precision_loss)] // Counts far below 2^52.

#[path = "common/fma.rs"]
mod fma;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};

fn main() {
    let Some((what, flops_per_iter, kernel)) = fma::widest() else {
        println!("no x86-64 FMA on this CPU: nothing to measure");
        return;
    };
    let iters: u64 = 10_000;
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut group = criterion.benchmark_group("peak");
    group.throughput(Throughput::Elements(iters * flops_per_iter as u64));
    group.bench_function(what, |b| b.iter(|| kernel(black_box(iters))));
    // LeNet-5's `fc1` weights: 120 × 400 floats, in whole cache lines.
    let data = vec![Line([1.0; 16]); 120 * 400 / 16];
    group.throughput(Throughput::Bytes(
        std::mem::size_of_val(data.as_slice()) as u64
    ));
    group.bench_function("l2 read", |b| b.iter(|| sum(black_box(&data))));
    group.finish();
    criterion.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        if let Some(gflops) = fma::peak_gflops(400_000, 200) {
            println!("single-core {what} FMA peak: {gflops:.1} GFLOP/s (best of 200 runs)");
        }
    }
}

/// 16 floats on one cache line of their own, so that no load is split.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// The sum of `data`, read once, a line at a time into four independent
/// accumulators (so that the loads, not the additions' latency, bound it):
/// LLVM keeps each line a vector with AVX-512F (two with AVX2).
fn sum(data: &[Line]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was detected just above.
            return unsafe { sum_avx512(data) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected just above.
            return unsafe { sum_avx2(data) };
        }
    }
    sum_lines(data)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn sum_avx512(data: &[Line]) -> f32 {
    sum_lines(data)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sum_avx2(data: &[Line]) -> f32 {
    sum_lines(data)
}

#[inline(always)]
#[allow(clippy::inline_always)] // Must inline into the #[target_feature] bodies.
fn sum_lines(data: &[Line]) -> f32 {
    let mut acc = [[0.0f32; 16]; 4];
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        for (a, line) in acc.iter_mut().zip(block) {
            for (a, &x) in a.iter_mut().zip(&line.0) {
                *a += x;
            }
        }
    }
    let rest: f32 = blocks.remainder().iter().flat_map(|l| l.0).sum();
    acc.as_flattened().iter().sum::<f32>() + rest
}
