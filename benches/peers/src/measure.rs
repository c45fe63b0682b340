//! Checking an engine against PyTorch's outputs, and timing it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::alloc;
use crate::engine::{Engine, Res, BIG};
use crate::nets::Case;

/// Within 1e-4 of PyTorch's value, or 1e-3 relative where it exceeds 1
/// (as `tests/zoo.rs`).
fn within(got: f32, want: f32) -> bool {
    let err = (got - want).abs();
    err <= 1e-4 || (want.abs() > 1.0 && err <= 1e-3 * want.abs())
}

/// The largest |difference| of image `i`'s outputs; an error if one is out
/// of tolerance (or NaN).
fn compare(case: &Case, engine: &dyn Engine, i: usize, got: &[f32], batch: usize) -> Res<f32> {
    let want = case.golden(i);
    let mut max = 0.0f32;
    for (j, (&g, &w)) in got.iter().zip(want).enumerate() {
        if !within(g, w) {
            return Err(format!(
                "{}: {} at batch {batch}, image {i}, output {j}: {g} where PyTorch has {w}",
                case.name,
                engine.name()
            )
            .into());
        }
        max = max.max((g - w).abs());
    }
    Ok(max)
}

/// Runs every image of the pool at batch 1 and at [`BIG`] and checks every
/// output against PyTorch's. Returns the largest |difference|.
pub fn check(engine: &mut dyn Engine, case: &Case) -> Res<f32> {
    let mut max = 0.0f32;
    for i in 0..case.images() {
        engine.run(i, 1)?;
        max = max.max(compare(case, engine, i, engine.output(0), 1)?);
    }
    for first in (0..case.images()).step_by(BIG) {
        engine.run(first, BIG)?;
        for k in 0..BIG {
            max = max.max(compare(case, engine, first + k, engine.output(k), BIG)?);
        }
    }
    Ok(max)
}

/// One engine's measurements on one network, gathered over rounds.
#[derive(Default)]
pub struct Samples {
    /// Nanoseconds per call, at batch 1 and at [`BIG`].
    pub one: Vec<f64>,
    pub big: Vec<f64>,
    /// Heap allocations per call, at batch 1 and at [`BIG`].
    pub allocations_one: Vec<usize>,
    pub allocations_big: Vec<usize>,
}

/// How long a round spends on one engine at one batch size, and the least
/// number of calls it makes there.
pub struct Budget {
    pub per_round: Duration,
    pub min_calls_one: usize,
    pub min_calls_big: usize,
}

/// Calls `engine` on successive images (or batches) of the pool until the
/// budget is spent, after a short warm-up; returns the ns of each call.
fn timed_calls(
    engine: &mut dyn Engine,
    images: usize,
    batch: usize,
    start: usize,
    budget: Duration,
    min_calls: usize,
) -> Res<Vec<f64>> {
    let first = |k: usize| (k * batch) % images;
    for k in 0..2 {
        engine.run(first(start + k), batch)?;
    }
    let mut times = Vec::new();
    let begin = Instant::now();
    let mut k = start;
    while times.len() < min_calls || begin.elapsed() < budget {
        let x = black_box(first(k));
        let t0 = Instant::now();
        engine.run(x, batch)?;
        times.push(t0.elapsed().as_nanos() as f64);
        black_box(engine.output(0));
        k += 1;
    }
    Ok(times)
}

/// Heap allocations of one call.
fn allocations(engine: &mut dyn Engine, first: usize, batch: usize) -> Res<usize> {
    let before = alloc::count();
    engine.run(first, batch)?;
    Ok(alloc::count() - before)
}

/// One round of `engine` on `case`: batch-1 calls, then batch-[`BIG`]
/// calls, each for the budget; then the allocations of a few calls.
pub fn round(engine: &mut dyn Engine, case: &Case, budget: &Budget, s: &mut Samples) -> Res<()> {
    let images = case.images();
    let one = timed_calls(
        engine,
        images,
        1,
        s.one.len(),
        budget.per_round,
        budget.min_calls_one,
    )?;
    s.one.extend(one);
    let big = timed_calls(
        engine,
        images,
        BIG,
        s.big.len(),
        budget.per_round,
        budget.min_calls_big,
    )?;
    s.big.extend(big);
    for k in 0..3 {
        s.allocations_one.push(allocations(engine, k % images, 1)?);
        s.allocations_big
            .push(allocations(engine, (k * BIG) % images, BIG)?);
    }
    Ok(())
}

/// The percentile of calls the tables show: the 10th. On a shared core, a
/// call long enough to span a scheduler time slice (batch 64 of the larger
/// networks: milliseconds) is about twice as slow whenever another process
/// is runnable on the core, so the median of such calls measures the
/// machine's load; the fastest tenth is robust to that one-sided noise and
/// less optimistic than the minimum. `ort.py` takes the same.
pub const SHOWN: usize = 10;

/// The `p`-th percentile of sorted `v`.
pub fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() - 1) * p / 100]
}
