//! The single-core FMA peak, measured: independent chains of vector FMAs
//! that stay in registers (enough accumulators to cover the FMA latency on
//! every FMA port), timed over a fixed number of iterations, the best of
//! many short runs.

use std::hint::black_box;
use std::time::Instant;

/// A measured peak.
pub struct Peak {
    pub gflops: f64,
    /// The instructions it used.
    pub what: &'static str,
}

/// Independent accumulators: more than latency (4 cycles) × FMA ports (2).
#[cfg(target_arch = "x86_64")]
const ACC: usize = 16;

/// The peak of this CPU's widest FMA (AVX-512F, else AVX2 + FMA); `None`
/// elsewhere.
pub fn measure() -> Option<Peak> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            let flops = best(|iters| unsafe { x86::avx512(iters) }, 16);
            return Some(Peak {
                gflops: flops,
                what: "AVX-512F vfmadd",
            });
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            let flops = best(|iters| unsafe { x86::avx2(iters) }, 8);
            return Some(Peak {
                gflops: flops,
                what: "AVX2 vfmadd",
            });
        }
    }
    None
}

/// GFLOP/s of the best of many short timed runs of `kernel` (`lanes` f32
/// lanes per vector, [`ACC`] vectors per iteration): on a shared core, the
/// best of short runs is the one no other thread interrupted.
#[cfg(target_arch = "x86_64")]
fn best(kernel: impl Fn(u64) -> f32, lanes: usize) -> f64 {
    let iters: u64 = 400_000;
    let flops = (iters as usize * ACC * lanes * 2) as f64;
    for _ in 0..50 {
        black_box(kernel(black_box(iters))); // warm-up: clocks up, code in
    }
    (0..200)
        .map(|_| {
            let t0 = Instant::now();
            black_box(kernel(black_box(iters)));
            flops / t0.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::ACC;
    use std::arch::x86_64::*;

    /// `iters` × [`ACC`] AVX-512 FMAs; returns their sum so that none is
    /// dead.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(iters: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_9), _mm512_set1_ps(1e-4));
        let mut acc = [_mm512_setzero_ps(); ACC];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let sum = acc
            .iter()
            .fold(_mm512_setzero_ps(), |s, &x| _mm512_add_ps(s, x));
        _mm512_reduce_add_ps(sum)
    }

    /// `iters` × [`ACC`] AVX2 FMAs; returns their sum.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(iters: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_9), _mm256_set1_ps(1e-4));
        let mut acc = [_mm256_setzero_ps(); ACC];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let sum = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &x| _mm256_add_ps(s, x));
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
        lanes.iter().sum()
    }
}
