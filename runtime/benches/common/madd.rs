//! The single-core int8 multiply-add peak, measured as [`super::fma`]
//! measures the f32 one: 12 independent chains of AVX2's `vpmaddwd` +
//! `vpaddd` (sixteen `i16 · i16` products summed in pairs into eight `i32`
//! lanes: the instruction constnet's exact int8 kernels multiply with,
//! `runtime/src/simd/qconv`) that stay in registers.
//!
//! On a Zen 3 core it retires one per cycle, 16 multiply-adds, where the
//! FMA units retire two 8-lane FMAs, also 16: without AVX-512 VNNI (`vpdpbusd`,
//! four `u8 · i8` products per lane, no saturation) the int8 kernels have
//! the f32 kernels' peak, not twice it. With VNNI, [`vnni_peak_gmacs`]
//! measures `vpdpbusd` the same way (32 `u8 · i8` products accumulated per
//! instruction on 256 bits: the instruction the VNNI kernels use).

/// Independent accumulators: with the two operands, 14 of the 16 `ymm`.
const ACC: usize = 12;

/// Multiply-adds (MACs) per second of the best of `runs` timed runs of
/// `iters` iterations, in billions; `None` off x86-64 or without AVX2.
pub fn peak_gmacs(iters: u64, runs: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if !is_x86_feature_detected!("avx2") {
            return None;
        }
        // SAFETY: the CPU has AVX2.
        Some(best(iters, runs, 16, |n| unsafe { x86::avx2(n) }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (iters, runs);
        None
    }
}

/// [`peak_gmacs`] of `vpdpbusd`; `None` without AVX-512 VNNI and VL.
pub fn vnni_peak_gmacs(iters: u64, runs: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if !is_x86_feature_detected!("avx512vnni") || !is_x86_feature_detected!("avx512vl") {
            return None;
        }
        // SAFETY: the CPU has AVX-512 VNNI and VL.
        Some(best(iters, runs, 32, |n| unsafe { x86::vnni(n) }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (iters, runs);
        None
    }
}

/// GMAC/s of the best of `runs` calls of `run(iters)` ([`ACC`] chains of
/// `iters` instructions of `per` MACs each), after a few to warm up.
#[allow(clippy::cast_precision_loss, dead_code)]
fn best(iters: u64, runs: usize, per: usize, run: impl Fn(u64) -> i32) -> f64 {
    let macs = (iters as usize * ACC * per) as f64;
    // `iters` passes through `black_box` on every call: `run` is a pure
    // function of it, and LLVM otherwise calls it once and reuses the sum
    // (this bench then printed a `vpdpbusd` peak of 9 million GMAC/s).
    let run = |n: u64| std::hint::black_box(run(std::hint::black_box(n)));
    for _ in 0..runs / 4 + 1 {
        run(iters);
    }
    (0..runs)
        .map(|_| {
            let t0 = std::time::Instant::now();
            run(iters);
            macs / t0.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::ACC;
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_dpbusd_epi32, _mm256_madd_epi16, _mm256_set1_epi16,
        _mm256_set1_epi8, _mm256_setzero_si256, _mm256_storeu_si256,
    };

    /// `iters` × [`ACC`] `vpmaddwd` + `vpaddd`; returns their sum so that
    /// none is dead.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2(iters: u64) -> i32 {
        // Each chain multiplies its own accumulator, so that no product is
        // loop-invariant: latency 3 + 1 cycles, 12 chains in flight.
        let b = _mm256_set1_epi16(-3);
        let mut acc = [_mm256_set1_epi16(1); ACC];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm256_add_epi32(*x, _mm256_madd_epi16(*x, b));
            }
        }
        // SAFETY: AVX2 is enabled on this function.
        unsafe { sum(&acc) }
    }

    /// `iters` × [`ACC`] `vpdpbusd`; returns their sum so that none is
    /// dead.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512 VNNI and VL.
    #[target_feature(enable = "avx2,avx512vnni,avx512vl")]
    pub unsafe fn vnni(iters: u64) -> i32 {
        // Each chain multiplies its own accumulator's bytes, so that no
        // product is loop-invariant (LLVM folds a constant one away):
        // latency 5 cycles, 12 chains in flight.
        let a = _mm256_set1_epi8(3);
        let mut acc = [_mm256_set1_epi16(1); ACC];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm256_dpbusd_epi32(*x, a, *x);
            }
        }
        // SAFETY: AVX2 is enabled on this function.
        unsafe { sum(&acc) }
    }

    /// The lanes of all the accumulators, summed.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn sum(acc: &[__m256i; ACC]) -> i32 {
        let sum = acc
            .iter()
            .fold(_mm256_setzero_si256(), |s, &x| _mm256_add_epi32(s, x));
        let mut lanes = [0i32; 8];
        // SAFETY: the store writes the eight `i32`s of `lanes`.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), sum) };
        lanes.iter().fold(0, |s, &x| s.wrapping_add(x))
    }
}
