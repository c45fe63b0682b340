//! Pixels in lanes: a tile of 16 consecutive pixel indices `n` (two
//! vectors) by up to 6 output channels, 12 accumulators in registers; each
//! lane of taps is two loads from the planes, one broadcast weight lane per
//! channel and two multiply-adds ([`Dot::mac`]) per channel. The pixels at `x ≥ OW` of each row are
//! computed and dropped, which is cheap when the planes are hardly wider
//! than the output (LeNet-5's conv1: 32 for 28) and the layer has few
//! output channels.

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

use super::dot::Dot;
use super::{Operands, NT};
use core::arch::x86_64::{
    __m128i, __m256i, _mm256_loadu_si256, _mm256_set1_epi32, _mm256_setzero_si256, _mm_storeu_si128,
};

/// Output channels per block, at most.
pub(super) const CHANNELS: usize = 6;

/// Every tile of the band's `rows · wu` pixel indices, for the `B` output
/// channels `out` whose weights are packed and whose rescaling is
/// `rescale`.
///
/// # Safety
///
/// The CPU must have AVX2 and `D`'s instruction set.
#[inline(always)]
pub(super) unsafe fn run<D: Dot, const B: usize, const OH: usize, const OW: usize>(
    ops: &Operands<'_, CHANNELS>,
    rescale: &[D::Rescale16; B],
    oy0: usize,
    rows: usize,
    out: &mut [[[i8; OW]; OH]],
) {
    let mut values = [[0i8; NT]; B];
    let reach = ops.reach();
    for n0 in (0..rows * ops.wu).step_by(NT) {
        // SAFETY: the caller guarantees AVX2 and `D`'s instructions.
        let acc = unsafe { tile::<D, B>(ops, reach, n0) };
        for ((v, acc), rescale) in values.iter_mut().zip(&acc).zip(rescale) {
            // SAFETY: as above; the store writes the sixteen bytes of `v`.
            unsafe {
                _mm_storeu_si128(
                    v.as_mut_ptr().cast::<__m128i>(),
                    D::store16(rescale, acc[0], acc[1]),
                );
            }
        }
        // The tile's pixels, row by row; those at x ≥ OW are dropped.
        let (mut r, mut x, mut k) = (n0 / ops.wu, n0 % ops.wu, 0);
        while k < NT && r < rows {
            let len = (NT - k).min(ops.wu - x);
            let valid = len.min(OW.saturating_sub(x));
            for (o, v) in out.iter_mut().zip(&values).filter(|_| valid > 0) {
                // SAFETY: as above.
                unsafe { D::put(&mut o[oy0 + r][x..x + valid], &v[k..k + valid]) };
            }
            k += len;
            x += len;
            if x == ops.wu {
                (r, x) = (r + 1, 0);
            }
        }
    }
}

/// The accumulators of pixel indices `n0 .. n0 + 16` for `B` channels;
/// `reach` is [`Operands::reach`].
///
/// The planes are read through a pointer: every tap's 16 lanes `off + n0
/// ..` end by `reach + n0 + 16`, checked once per tile (a slice per tap,
/// two compares and branches: see [`super::channels`] for what the
/// checks cost).
///
/// # Safety
///
/// The CPU must have AVX2 and `D`'s instruction set.
#[inline(always)]
unsafe fn tile<D: Dot, const B: usize>(
    ops: &Operands<'_, CHANNELS>,
    reach: usize,
    n0: usize,
) -> [[__m256i; 2]; B] {
    assert!(reach + n0 + NT <= ops.planes.len(), "a tap past the planes");
    // SAFETY: the caller guarantees AVX2 and `D`'s instructions.
    let mut acc = [[unsafe { _mm256_setzero_si256() }; 2]; B];
    for (&off, w) in ops.offsets.iter().zip(ops.packed) {
        // SAFETY: the caller guarantees AVX2. `off <= reach`, so the 16
        // `i32`s from `off + n0` that the two unaligned loads read end by
        // `reach + n0 + 16 <= planes.len()` (asserted above).
        unsafe {
            let x = ops.planes.as_ptr().add(off + n0);
            let x0 = _mm256_loadu_si256(x.cast::<__m256i>());
            let x1 = _mm256_loadu_si256(x.add(8).cast::<__m256i>());
            for (acc, &w) in acc.iter_mut().zip(w) {
                let w = _mm256_set1_epi32(w);
                acc[0] = D::mac(acc[0], x0, w);
                acc[1] = D::mac(acc[1], x1, w);
            }
        }
    }
    acc
}
