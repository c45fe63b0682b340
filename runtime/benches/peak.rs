//! The achievable single-core f32 FMA throughput, for stating the kernels'
//! efficiency against a measurement rather than a datasheet: criterion
//! times independent chains of the widest vector FMA (16 of AVX-512F, else
//! 12 of AVX2 + FMA, which has 16 registers) and reports FLOP/s ("elem/s"),
//! then the best of many short runs is printed as GFLOP/s.
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
    group.finish();
    criterion.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        if let Some(gflops) = fma::peak_gflops(400_000, 200) {
            println!("single-core {what} FMA peak: {gflops:.1} GFLOP/s (best of 200 runs)");
        }
    }
}
