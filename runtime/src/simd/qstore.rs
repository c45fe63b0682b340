//! [`Rescale::store`] over a run of consecutive output channels with
//! AVX-512F, eight channels per step in 64-bit lanes, either rounding: what
//! a dense layer does with its sums, one per output channel.
//!
//! # Why
//!
//! `simd::qlinear` computed each output's sum with `vpdpbusd` and then
//! rescaled it with the scalar [`Rescale::store`]: about 25 dependent
//! scalar instructions per output (a 64-bit multiply, variable shifts,
//! saturations, the clamp), half of LeNet-5's `fc2` (120 → 84) under
//! `perf`. [`crate::simd::qrescale`]'s vectors take one channel per vector
//! or eight channels whose constants are gathered lane by lane, and only
//! the double rounding; here each channel's constants come in one load.
//!
//! # Arithmetic
//!
//! [`Requant`] is `#[repr(C)]` (`multiplier`, then `shift`), so eight of
//! them load as eight 64-bit lanes: the multiplier in each lane's low half
//! (what `vpmuldq` multiplies, signed), the shift in its high half (one
//! arithmetic shift right by 32). With 64-bit lanes neither rounding needs
//! the 32-bit tricks of `qrescale`:
//!
//! - **single** ([`Requant::apply_single`]): `(acc · m + 2^(s − 1)) >> s`,
//!   `s = 31 − shift`, literally (`vpsravq`): `|acc · m| ≤ 2^62` and the
//!   nudge is at most `2^61`, so nothing overflows;
//! - **double** ([`Requant::apply`]): `h = ⌊(x·m + 2^30) / 2^31⌋` (`x` the
//!   sum shifted left by `max(shift, 0)`, wrapping in 32 bits as the scalar
//!   does), then `h / 2^r` rounded half away from zero, `r = max(−shift,
//!   0)`, which is `⌊(h + n) / 2^r⌋` with `n = 2^(r − 1)` for `h ≥ 0` and
//!   one less below (0 for `r = 0`). As `⌊⌊a / b⌋ + n⌋ = ⌊a + n·b⌋ / b`
//!   rounded down for integers, both steps are one: `⌊(x·m + 2^30 + n·2^31)
//!   / 2^(31 + r)⌋`, with `h < 0` exactly when `x·m + 2^30 < 0`. The
//!   scalar's one saturation, `i32::MIN · i32::MIN` giving `i32::MAX`
//!   instead of `2^31`, changes nothing once clamped (see below);
//! - the `i32` saturation, `saturating_add(zero_point)` and the clamp are
//!   one clamp to `[min − zp, max − zp]` in 64 bits, then `+ zp`: the
//!   bounds and the zero point are bytes, so a value past `i32`'s range
//!   lands on the same bound either way.
//!
//! The tests hold both roundings to the scalar store on random and extreme
//! sums, multipliers (`i32::MIN` and 0 included) and every shift.
//!
//! [`Requant`]: crate::quant::Requant
//! [`Requant::apply`]: crate::quant::Requant::apply
//! [`Requant::apply_single`]: crate::quant::Requant::apply_single

#![allow(clippy::inline_always)] // Must inline into #[target_feature] callers.

use crate::quant::{Rescale, Rounding};
use core::arch::x86_64::{
    __m256i, __m512i, _mm256_add_epi32, _mm256_maskz_loadu_epi32, _mm512_add_epi64,
    _mm512_cmplt_epi64_mask, _mm512_cvtepi32_epi64, _mm512_cvtepi32_epi8, _mm512_cvtepi64_epi32,
    _mm512_mask_mov_epi64, _mm512_maskz_loadu_epi64, _mm512_max_epi64, _mm512_min_epi64,
    _mm512_mul_epi32, _mm512_set1_epi64, _mm512_setzero_si512, _mm512_slli_epi64,
    _mm512_sllv_epi64, _mm512_srai_epi64, _mm512_srav_epi64, _mm512_srli_epi64, _mm512_sub_epi64,
    _mm512_zextsi256_si512, _mm_mask_storeu_epi8,
};

/// `output[k] = rescale.store(first + k, acc[k])` for every `k`.
///
/// # Safety
///
/// The CPU must have AVX-512 F, BW and VL.
///
/// # Panics
///
/// If `acc` and `output` differ in length or run past channel `O`.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
#[inline]
pub(crate) unsafe fn store<const O: usize>(
    rescale: &Rescale<'_, O>,
    first: usize,
    acc: &[i32],
    output: &mut [i8],
) {
    let n = acc.len();
    assert!(
        output.len() == n && first + n <= O,
        "qstore: {n} sums, {} outputs, channels {first}.. of {O}",
        output.len()
    );
    let zp = i64::from(rescale.zero_point);
    let lo = _mm512_set1_epi64(i64::from(rescale.clamp.min) - zp);
    let hi = _mm512_set1_epi64(i64::from(rescale.clamp.max) - zp);
    let zp = _mm512_set1_epi64(zp);
    for k in (0..n).step_by(8) {
        let len = (n - k).min(8);
        #[allow(clippy::cast_possible_truncation)] // `len <= 8`.
        let keep = ((1u16 << len) - 1) as u8;
        let o = first + k;
        // SAFETY: AVX-512 F, BW and VL are enabled. The masked loads read
        // the `len` elements of `acc`, the bias and the `Requant`s from
        // `k` and `o` on (asserted in bounds above); a `Requant` is two
        // `i32`s (`#[repr(C)]`), one 64-bit lane. The store writes the
        // `len` bytes of `output` from `k`.
        unsafe {
            let mut x = _mm256_maskz_loadu_epi32(keep, acc[k..].as_ptr());
            if let Some(bias) = rescale.bias {
                // Wrapping, as the scalar store adds it.
                x = _mm256_add_epi32(x, _mm256_maskz_loadu_epi32(keep, bias[o..].as_ptr()));
            }
            let requant = _mm512_maskz_loadu_epi64(keep, rescale.requant[o..].as_ptr().cast());
            let v = match rescale.rounding {
                Rounding::Single => single(x, requant),
                Rounding::Double => double(x, requant),
            };
            let v = _mm512_add_epi64(_mm512_min_epi64(_mm512_max_epi64(v, lo), hi), zp);
            // In `i8`'s range now: to `i32`s, then bytes.
            let bytes = _mm512_cvtepi32_epi8(_mm512_zextsi256_si512(_mm512_cvtepi64_epi32(v)));
            _mm_mask_storeu_epi8(output[k..].as_mut_ptr(), u16::from(keep), bytes);
        }
    }
}

/// [`apply_single`](crate::quant::Requant::apply_single) of each lane's
/// sum `x` (`i32`s) by its `requant` (multiplier in the low half, shift in
/// the high half), as `i64`s, before the `i32` saturation.
///
/// # Safety
///
/// The CPU must have AVX-512F.
#[inline(always)]
unsafe fn single(x: __m256i, requant: __m512i) -> __m512i {
    // SAFETY: the caller guarantees AVX-512F.
    unsafe {
        let s = _mm512_sub_epi64(_mm512_set1_epi64(31), _mm512_srai_epi64::<32>(requant));
        let one = _mm512_set1_epi64(1);
        let nudge = _mm512_sllv_epi64(one, _mm512_sub_epi64(s, one));
        let p = _mm512_mul_epi32(_mm512_cvtepi32_epi64(x), requant);
        _mm512_srav_epi64(_mm512_add_epi64(p, nudge), s)
    }
}

/// [`apply`](crate::quant::Requant::apply) of each lane's sum `x`, as
/// [`single`] (see the module docs for the one-step form).
///
/// # Safety
///
/// The CPU must have AVX-512F.
#[inline(always)]
unsafe fn double(x: __m256i, requant: __m512i) -> __m512i {
    // SAFETY: the caller guarantees AVX-512F.
    unsafe {
        let zero = _mm512_setzero_si512();
        let shift = _mm512_srai_epi64::<32>(requant);
        let left = _mm512_max_epi64(shift, zero);
        let right = _mm512_max_epi64(_mm512_sub_epi64(zero, shift), zero);
        // The left shift, wrapping in the low 32 bits `vpmuldq` reads.
        let x = _mm512_sllv_epi64(_mm512_cvtepi32_epi64(x), left);
        let u = _mm512_add_epi64(_mm512_mul_epi32(x, requant), _mm512_set1_epi64(1 << 30));
        // n·2^31: 2^(r − 1)·2^31 (0 for r = 0), less 2^31 below zero.
        let one = _mm512_set1_epi64(1);
        let up = _mm512_slli_epi64::<31>(_mm512_srli_epi64::<1>(_mm512_sllv_epi64(one, right)));
        let down = _mm512_max_epi64(_mm512_sub_epi64(up, _mm512_set1_epi64(1 << 31)), zero);
        let n = _mm512_mask_mov_epi64(up, _mm512_cmplt_epi64_mask(u, zero), down);
        _mm512_srav_epi64(
            _mm512_add_epi64(u, n),
            _mm512_add_epi64(right, _mm512_set1_epi64(31)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::store;
    use crate::quant::{Clamp, Requant, Rescale, Rounding};
    use crate::reference::test_util::Rng;

    /// Whether this CPU runs `store`.
    fn features() -> bool {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
    }

    /// `store` against the scalar store on `O` channels, from `first`.
    fn check<const O: usize>(r: &Rescale<'_, O>, first: usize, acc: &[i32]) {
        let mut got = [0i8; O];
        let out = &mut got[..acc.len()];
        // SAFETY: the caller checked the features.
        unsafe { store(r, first, acc, out) };
        for (k, (&g, &a)) in out.iter().zip(acc).enumerate() {
            let o = first + k;
            assert_eq!(
                g,
                r.store(o, a),
                "{:?}: acc {a}, channel {o}, {:?}, bias {:?}",
                r.rounding,
                r.requant[o],
                r.bias.map(|b| b[o])
            );
        }
    }

    #[test]
    fn both_roundings_equal_the_scalar_store_avx512() {
        if !features() {
            return;
        }
        let mut rng = Rng::new(11);
        for round in 0..if cfg!(miri) { 6 } else { 3000 } {
            let requant: [Requant; 21] = core::array::from_fn(|k| Requant {
                multiplier: match (round + k) % 7 {
                    0 => i32::MIN,
                    1 => 0,
                    2 => i32::MAX,
                    3 => 1 << 30,
                    _ => (rng.next_u32() >> 1) as i32,
                },
                // Every shift, −31 to 30, in turn and at random.
                shift: if round % 2 == 0 {
                    ((round / 2 + 3 * k) % 62) as i32 - 31
                } else {
                    (rng.next_u32() % 62) as i32 - 31
                },
            });
            let bias: [i32; 21] = core::array::from_fn(|k| match k % 4 {
                0 => rng.next_u32() as i32,
                1 => 0,
                _ => rng.next_u32() as i32 >> 12,
            });
            let acc: [i32; 21] = core::array::from_fn(|k| match (round + k) % 9 {
                0 => i32::MIN,
                1 => i32::MAX,
                2 => 0,
                3 => -1,
                _ => (rng.next_u32() as i32) >> (rng.next_u32() % 32),
            });
            let (min, max) = if round % 3 == 0 {
                (-128, 127)
            } else {
                (-100, 120)
            };
            #[allow(clippy::cast_possible_truncation)] // A byte on purpose.
            let zero_point = rng.next_u32() as i8;
            for rounding in [Rounding::Single, Rounding::Double] {
                let r = Rescale {
                    bias: (round % 5 != 0).then_some(&bias),
                    requant: &requant,
                    zero_point,
                    clamp: Clamp { min, max },
                    rounding,
                };
                // Every length 1 to 21 and start, so the masked tails too.
                let first = round % 7;
                let len = 1 + round % (21 - first);
                check(&r, first, &acc[first..first + len]);
            }
        }
    }

    /// Sums near the rounding ties of every shift: `(2j + 1)·2^(r − 1)`
    /// after the multiply, with multiplier `2^30` (a product `x·2^30` is
    /// `x / 2` before the right shift).
    #[test]
    fn ties_round_as_the_scalar_store_avx512() {
        if !features() {
            return;
        }
        for shift in -31..=0 {
            let requant = [Requant {
                multiplier: 1 << 30,
                shift,
            }; 8];
            let right = -shift;
            let mut acc = [0i32; 8];
            for j in -4i64..4 {
                for (d, a) in acc.iter_mut().enumerate() {
                    let tie = (2 * j + 1) << right;
                    let d = i64::try_from(d).expect("small") - 4;
                    *a = i32::try_from((tie + d).clamp(i32::MIN.into(), i32::MAX.into()))
                        .expect("clamped");
                }
                for rounding in [Rounding::Single, Rounding::Double] {
                    let r = Rescale {
                        bias: None,
                        requant: &requant,
                        zero_point: 3,
                        clamp: Clamp::NONE,
                        rounding,
                    };
                    check(&r, 0, &acc);
                }
            }
        }
    }
}
