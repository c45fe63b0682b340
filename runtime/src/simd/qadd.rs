//! [`crate::quant::add::add`] (TFLite's int8 `ADD`, a residual connection)
//! on 8 lanes with AVX2 or 16 with AVX-512F, bit for bit: the three
//! rescalings are [`Lanes`] / [`Wide`] ([`Lanes::requant`] for the two
//! inputs, then [`Lanes::store`] with the zero point and the clamp for the
//! sum), the same integer steps as [`crate::quant::QAdd::apply`].
//!
//! The scalar form costs three 64-bit multiplies and their roundings per
//! element: ResNet-8's three residual additions (28,672 elements) were 44%
//! of its int8 time under `perf`. See the commit that added this module
//! for the figures.

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry points.

use super::qrescale::{Lanes, Wide};
use crate::quant::add::{QAdd, LEFT_SHIFT};
use crate::quant::{Clamp, Requant, Rescale, Rounding};
use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepi8_epi32,
    _mm256_extracti128_si256, _mm256_packs_epi16, _mm256_packs_epi32, _mm256_set1_epi32,
    _mm256_setzero_si256, _mm256_slli_epi32, _mm256_sub_epi32, _mm512_add_epi32,
    _mm512_cvtepi8_epi32, _mm512_set1_epi32, _mm512_slli_epi32, _mm512_sub_epi32, _mm_loadl_epi64,
    _mm_loadu_si128, _mm_storel_epi64, _mm_storeu_si128, _mm_unpacklo_epi32,
};

/// [`LEFT_SHIFT`] as AVX-512's shift takes it.
#[allow(clippy::cast_sign_loss)] // 20.
const LEFT_SHIFT_512: u32 = LEFT_SHIFT as u32;

/// A rescaling by `requant` with the output's `zero_point` and `clamp`, as
/// the one-channel [`Rescale`] the vector types are built from.
fn rescale(requant: &[Requant; 1], zero_point: i8, clamp: Clamp) -> Rescale<'_, 1> {
    Rescale {
        bias: None,
        requant,
        zero_point,
        clamp,
        rounding: Rounding::Double,
    }
}

/// The first `8·k` elements of `target` (as long as `other` at most) with
/// AVX2; returns how many (the caller does the rest).
///
/// # Safety
///
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn add_avx2(target: &mut [i8], other: &[i8], op: &QAdd) -> usize {
    let (ra, rb, ro) = ([op.a], [op.b], [op.out]);
    // SAFETY: AVX2 is enabled. Each `Rescale` rounds twice, so `new` gives
    // `Some`.
    let (a, b, out) = unsafe {
        (
            Lanes::new(&rescale(&ra, 0, Clamp::NONE), 0),
            Lanes::new(&rescale(&rb, 0, Clamp::NONE), 0),
            Lanes::new(&rescale(&ro, op.out_zero, op.clamp), 0),
        )
    };
    let (Some(a), Some(b), Some(out)) = (a, b, out) else {
        unreachable!("double rounding")
    };
    let (a_zero, b_zero) = (
        _mm256_set1_epi32(i32::from(op.a_zero)),
        _mm256_set1_epi32(i32::from(op.b_zero)),
    );
    let n = target.len().min(other.len()) / 8 * 8;
    for (x, y) in target[..n].chunks_exact_mut(8).zip(other.chunks_exact(8)) {
        // SAFETY: AVX2 is enabled; the loads read the eight bytes of `x`
        // and of `y`, the store writes the eight of `x`.
        unsafe {
            let xs = _mm256_cvtepi8_epi32(_mm_loadl_epi64(x.as_ptr().cast()));
            let ys = _mm256_cvtepi8_epi32(_mm_loadl_epi64(y.as_ptr().cast()));
            // |q − zp| ≤ 255 < 2^8, so the shifted values stay below 2^28.
            let xs = _mm256_slli_epi32::<LEFT_SHIFT>(_mm256_sub_epi32(xs, a_zero));
            let ys = _mm256_slli_epi32::<LEFT_SHIFT>(_mm256_sub_epi32(ys, b_zero));
            let sum = _mm256_add_epi32(a.requant(xs), b.requant(ys));
            _mm_storel_epi64(x.as_mut_ptr().cast(), bytes(out.store(sum)));
        }
    }
    n
}

/// The eight `i32`s of `v` (each in `i8`'s range) as the low eight bytes.
#[target_feature(enable = "avx2")]
#[inline]
fn bytes(v: __m256i) -> __m128i {
    // Within each 128-bit half: four `i16`s twice, then four bytes four
    // times; the halves' first four bytes side by side.
    let v = _mm256_packs_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());
    _mm_unpacklo_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v))
}

/// [`add_avx2`] on `16·k` elements with AVX-512F.
///
/// # Safety
///
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx2,avx512f")]
pub(crate) unsafe fn add_avx512(target: &mut [i8], other: &[i8], op: &QAdd) -> usize {
    let (ra, rb, ro) = ([op.a], [op.b], [op.out]);
    // SAFETY: AVX-512F is enabled.
    let (a, b, out) = unsafe {
        (
            Wide::channel(&rescale(&ra, 0, Clamp::NONE), 0),
            Wide::channel(&rescale(&rb, 0, Clamp::NONE), 0),
            Wide::channel(&rescale(&ro, op.out_zero, op.clamp), 0),
        )
    };
    let (a_zero, b_zero) = (
        _mm512_set1_epi32(i32::from(op.a_zero)),
        _mm512_set1_epi32(i32::from(op.b_zero)),
    );
    let n = target.len().min(other.len()) / 16 * 16;
    for (x, y) in target[..n].chunks_exact_mut(16).zip(other.chunks_exact(16)) {
        // SAFETY: AVX-512F is enabled; the loads read the sixteen bytes of
        // `x` and of `y`, the store writes the sixteen of `x`.
        unsafe {
            let xs = _mm512_cvtepi8_epi32(_mm_loadu_si128(x.as_ptr().cast()));
            let ys = _mm512_cvtepi8_epi32(_mm_loadu_si128(y.as_ptr().cast()));
            let xs = _mm512_slli_epi32::<LEFT_SHIFT_512>(_mm512_sub_epi32(xs, a_zero));
            let ys = _mm512_slli_epi32::<LEFT_SHIFT_512>(_mm512_sub_epi32(ys, b_zero));
            let sum = _mm512_add_epi32(a.requant(xs), b.requant(ys));
            _mm_storeu_si128(x.as_mut_ptr().cast(), out.store(sum));
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::{add_avx2, add_avx512};
    use crate::quant::add::QAdd;
    use crate::quant::layer::Act;
    use crate::quant::QParams;
    use crate::reference::test_util::Rng;
    use std::vec::Vec;

    /// Random scales (ratios from 1/100 to 100) and zero points.
    fn params(rng: &mut Rng) -> QParams {
        let scale = 0.001 + rng.next_f32().abs() * 0.3;
        #[allow(clippy::cast_possible_truncation)]
        let zero_point = (rng.next_f32() * 127.0) as i8;
        QParams { scale, zero_point }
    }

    /// Each vector form against `QAdd::apply` on every pair of bytes (in
    /// lanes and tails of every length below a vector), for random
    /// rescalings with and without a fused ReLU.
    #[test]
    fn avx2_and_avx512_adds_equal_the_scalar_one() {
        let (avx2, avx512) = (
            std::is_x86_feature_detected!("avx2"),
            std::is_x86_feature_detected!("avx512f"),
        );
        let mut rng = Rng::new(11);
        // Every (x, y): 65,536 pairs, then a few extra for the tails.
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for x in i8::MIN..=i8::MAX {
            for y in i8::MIN..=i8::MAX {
                xs.push(x);
                ys.push(y);
            }
        }
        let cases = if cfg!(miri) { 1 } else { 40 };
        for case in 0..cases {
            let (a, b, o) = (params(&mut rng), params(&mut rng), params(&mut rng));
            let act = if case % 2 == 0 { Act::None } else { Act::Relu };
            let op = QAdd::new(a, b, o, act);
            let len = if cfg!(miri) { 40 } else { xs.len() - case % 17 };
            let want: Vec<i8> = xs[..len]
                .iter()
                .zip(&ys)
                .map(|(&x, &y)| op.apply(x, y))
                .collect();
            for (name, has) in [("avx2", avx2), ("avx512", avx512)] {
                if !has {
                    continue;
                }
                let mut got = xs[..len].to_vec();
                // SAFETY: the CPU has the instruction set (detected above).
                let done = unsafe {
                    if name == "avx2" {
                        add_avx2(&mut got, &ys, &op)
                    } else {
                        add_avx512(&mut got, &ys, &op)
                    }
                };
                let step = if name == "avx2" { 8 } else { 16 };
                assert_eq!(done, len / step * step, "{name}");
                assert_eq!(&got[..done], &want[..done], "{name}, {op:?}");
                assert_eq!(&got[done..], &xs[done..len], "{name}: wrote past");
            }
        }
    }
}
