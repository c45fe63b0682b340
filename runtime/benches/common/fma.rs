//! The single-core FMA peak, measured: independent chains of vector FMAs
//! that stay in registers (more accumulators than FMA latency × ports),
//! the widest this CPU has (AVX-512F, else AVX2 + FMA). Shared by the
//! `peak` bench and the `kernels` bench's "% of peak" column.

/// Independent accumulators of the AVX-512 kernel: more than latency
/// (4 cycles) × FMA ports (2), 18 of the 32 registers with the two operands.
pub const ACC512: usize = 16;

/// Independent accumulators of the AVX2 kernel: 12, because with the two
/// operands 16 would need 18 of the 16 `ymm` registers, and the spills
/// halve the measured peak (55 against 96 GFLOP/s on a Zen 3 core).
pub const ACC256: usize = 12;

/// A timed FMA kernel: its name, the floating-point operations of one of
/// its iterations (lanes × accumulators × 2), and the kernel running
/// `iters` iterations.
pub type Kernel = (&'static str, usize, fn(u64) -> f32);

/// This CPU's widest FMA kernel; `None` off x86-64 or without FMA.
pub fn widest() -> Option<Kernel> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return Some(("AVX-512F", 16 * ACC512 * 2, |n| unsafe { x86::avx512(n) }));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return Some(("AVX2+FMA", 8 * ACC256 * 2, |n| unsafe { x86::avx2(n) }));
        }
    }
    None
}

/// GFLOP/s of the best of `runs` timed runs of `iters` iterations of the
/// widest FMA kernel (on a shared core, the best run is the one no other
/// thread interrupted); `None` without one.
#[allow(clippy::cast_precision_loss)]
pub fn peak_gflops(iters: u64, runs: usize) -> Option<f64> {
    let (_, flops_per_iter, kernel) = widest()?;
    let flops = (iters as usize * flops_per_iter) as f64;
    for _ in 0..runs / 4 + 1 {
        std::hint::black_box(kernel(std::hint::black_box(iters)));
    }
    Some(
        (0..runs)
            .map(|_| {
                let t0 = std::time::Instant::now();
                std::hint::black_box(kernel(std::hint::black_box(iters)));
                flops / t0.elapsed().as_secs_f64() / 1e9
            })
            .fold(0.0, f64::max),
    )
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ACC256, ACC512};
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
        _mm512_add_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };

    /// `iters` × [`ACC512`] AVX-512 FMAs; returns their sum so that none is
    /// dead.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(iters: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_9), _mm512_set1_ps(1e-4));
        let mut acc = [_mm512_setzero_ps(); ACC512];
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

    /// `iters` × [`ACC256`] AVX2 FMAs; returns their sum.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(iters: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_9), _mm256_set1_ps(1e-4));
        let mut acc = [_mm256_setzero_ps(); ACC256];
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
