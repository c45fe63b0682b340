//! [`Rescale::store`] on eight `i32` accumulators of one output channel at a
//! time, with AVX2, bit for bit (TFLite's two roundings, [`Rounding::Double`]).
//!
//! The scalar code multiplies in `i64` and divides with C's truncation; the
//! vector code has neither a 64-bit arithmetic shift nor a division, and
//! needs neither:
//!
//! - gemmlowp's `SaturatingRoundingDoublingHighMul(a, b)` truncates `(ab +
//!   nudge) / 2^31` toward zero with the nudge `2^30` for `ab ≥ 0` and `1 −
//!   2^30` for `ab < 0`. For `ab < 0` that is `ceil((ab + 1 − 2^30) / 2^31)
//!   = floor((ab + 2^30) / 2^31)`, so in every case it is `(ab + 2^30) >> 31`,
//!   arithmetic. Its low 32 bits are bits 31 to 62 of `ab + 2^30`, which a
//!   logical 64-bit shift (`vpsrlq`) gives as well. `vpmuldq` multiplies the
//!   even lanes; the odd ones are shifted down first, and their results
//!   shifted up by one bit lands them in the odd lanes' places (`vpblendd`).
//!   The one overflow, `i32::MIN · i32::MIN`, gives `i32::MIN` there and is
//!   flipped to `i32::MAX` with an xor.
//! - `RoundingDivideByPOT` is already lane-wise `i32` arithmetic: with
//!   AVX2 gemmlowp's remainder against a threshold; with AVX-512 `(x +
//!   nudge) >> right`, the nudge one less for `x < 0`, the shift logical
//!   for `x ≥ 0` (where the sum may pass `i32::MAX` but not `u32::MAX`).
//! - `saturating_add(zero_point)` then the clamp: the clamp's bounds less
//!   the zero point first, then the zero point; the bounds and the zero
//!   point are bytes, so nothing overflows and the result is the same.

#![allow(clippy::inline_always)] // Must inline into #[target_feature] callers.

use crate::quant::{Rescale, Rounding};
use core::arch::x86_64::{
    __m128i, __m256i, __m512i, __mmask16, _mm256_add_epi32, _mm256_add_epi64, _mm256_and_si256,
    _mm256_blend_epi32, _mm256_cmpeq_epi32, _mm256_cmpgt_epi32, _mm256_loadu_si256,
    _mm256_max_epi32, _mm256_min_epi32, _mm256_mul_epi32, _mm256_set1_epi32, _mm256_set1_epi64x,
    _mm256_setzero_si256, _mm256_slli_epi64, _mm256_sllv_epi32, _mm256_srav_epi32,
    _mm256_srli_epi64, _mm256_sub_epi32, _mm256_xor_si256, _mm512_add_epi32, _mm512_add_epi64,
    _mm512_and_si512, _mm512_castsi256_si512, _mm512_cmpeq_epi32_mask, _mm512_cmplt_epi32_mask,
    _mm512_cvtepi32_epi8, _mm512_inserti64x4, _mm512_mask_blend_epi32,
    _mm512_mask_cmpeq_epi32_mask, _mm512_mask_mov_epi32, _mm512_mask_srav_epi32, _mm512_max_epi32,
    _mm512_min_epi32, _mm512_mul_epi32, _mm512_set1_epi32, _mm512_set1_epi64, _mm512_setzero_si512,
    _mm512_slli_epi64, _mm512_sllv_epi32, _mm512_srli_epi64, _mm512_srlv_epi32,
    _mm512_test_epi32_mask,
};

/// A channel's shift as the vectors take it: `(left, right, mask)`, the
/// left shift before the multiply, the rounding right shift after it and
/// its remainder's mask `2^right − 1`.
#[inline(always)]
fn shifts(shift: i32) -> (i32, i32, i32) {
    let right = (-shift).max(0);
    #[allow(clippy::cast_possible_truncation)] // 2^31 − 1 at most.
    let mask = ((1i64 << right) - 1) as i32;
    (shift.max(0), right, mask)
}

/// The clamp's bounds less the zero point, `(min − zp, max − zp)`.
#[inline(always)]
fn bounds<const O: usize>(rescale: &Rescale<'_, O>) -> (i32, i32) {
    let zp = i32::from(rescale.zero_point);
    (
        i32::from(rescale.clamp.min) - zp,
        i32::from(rescale.clamp.max) - zp,
    )
}

/// A [`Rescale`]'s constants for eight lanes: one output channel's in every
/// lane ([`Lanes::new`]), or eight channels' ([`Lanes::channels`]).
#[derive(Clone, Copy)]
pub(crate) struct Lanes {
    bias: __m256i,
    /// The multipliers, and the odd lanes' moved to the even places for
    /// `vpmuldq`.
    multiplier: __m256i,
    multiplier_odd: __m256i,
    /// Whether the multiplier is `i32::MIN` (all ones) or not (zero).
    multiplier_min: __m256i,
    left: __m256i,
    right: __m256i,
    /// `2^right − 1`, the remainder's mask.
    mask: __m256i,
    /// `mask >> 1`: the remainder a rounding ties at (not counting the
    /// sign).
    half: __m256i,
    zero_point: __m256i,
    /// The clamp's bounds less the zero point: clamping before adding the
    /// zero point is clamping after it (both bounds and the zero point are
    /// bytes, so nothing overflows), in three instructions instead of five.
    lo: __m256i,
    hi: __m256i,
}

impl Lanes {
    /// Channel `o` of `rescale` in every lane, or `None` if it rounds once
    /// ([`Rounding::Single`], left to the scalar code).
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[inline(always)]
    pub(crate) unsafe fn new<const O: usize>(rescale: &Rescale<'_, O>, o: usize) -> Option<Lanes> {
        // SAFETY: the caller guarantees AVX2.
        unsafe { Lanes::channels(rescale, [o; 8]) }
    }

    /// Channel `channels[k]` of `rescale` in lane `k`, or `None` if it
    /// rounds once.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[inline(always)]
    pub(crate) unsafe fn channels<const O: usize>(
        rescale: &Rescale<'_, O>,
        channels: [usize; 8],
    ) -> Option<Lanes> {
        if rescale.rounding != Rounding::Double {
            return None;
        }
        /// `f` of each lane's channel. (AVX2 on the function itself: a
        /// plain helper would keep the load an out-of-line call.)
        #[target_feature(enable = "avx2")]
        #[inline]
        fn each(channels: [usize; 8], f: impl Fn(usize) -> i32) -> __m256i {
            // (A loop, not `channels.map(f)`: the closure does not inherit
            // the target features, and `map` can stay an out-of-line call
            // per field; see `qconv::planes::fill`.)
            let mut v = [0i32; 8];
            for (v, &o) in v.iter_mut().zip(&channels) {
                *v = f(o);
            }
            // SAFETY: AVX2 is enabled on this function; the load reads the
            // eight `i32`s of `v`.
            unsafe { _mm256_loadu_si256(v.as_ptr().cast::<__m256i>()) }
        }
        let shifts = |o: usize| shifts(rescale.requant[o].shift);
        // SAFETY: the caller guarantees AVX2 (for `each` and the shift).
        unsafe {
            let multiplier = each(channels, |o| rescale.requant[o].multiplier);
            Some(Lanes {
                bias: each(channels, |o| rescale.bias.map_or(0, |b| b[o])),
                multiplier,
                multiplier_odd: _mm256_srli_epi64(multiplier, 32),
                multiplier_min: each(channels, |o| {
                    -i32::from(rescale.requant[o].multiplier == i32::MIN)
                }),
                left: each(channels, |o| shifts(o).0),
                right: each(channels, |o| shifts(o).1),
                mask: each(channels, |o| shifts(o).2),
                half: each(channels, |o| shifts(o).2 >> 1),
                zero_point: each(channels, |_| i32::from(rescale.zero_point)),
                lo: each(channels, |_| bounds(rescale).0),
                hi: each(channels, |_| bounds(rescale).1),
            })
        }
    }

    /// These lanes with `offset[k]` added to lane `k`'s bias (wrapping, as
    /// the bias adds): what turns an accumulator that is off by a known
    /// amount per channel into the right one (`simd::qconv`'s quads).
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[inline(always)]
    pub(crate) unsafe fn offset(self, offset: [i32; 8]) -> Lanes {
        // SAFETY: the caller guarantees AVX2; the load reads the eight
        // `i32`s of `offset`.
        let offset = unsafe { _mm256_loadu_si256(offset.as_ptr().cast::<__m256i>()) };
        Lanes {
            // SAFETY: as above.
            bias: unsafe { _mm256_add_epi32(self.bias, offset) },
            ..self
        }
    }

    /// `Rescale::store(channel, acc[k])` for the eight lanes `k`, as `i32`s
    /// in `[clamp.min, clamp.max]`.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[inline(always)]
    pub(crate) unsafe fn store(&self, acc: __m256i) -> __m256i {
        // SAFETY: the caller guarantees AVX2.
        let v = unsafe { self.requant(acc) };
        // The clamp (less the zero point), then the zero point.
        let v = _mm256_min_epi32(_mm256_max_epi32(v, self.lo), self.hi);
        _mm256_add_epi32(v, self.zero_point)
    }

    /// The first part of [`Lanes::store`]: `Requant::apply(acc[k] +
    /// bias)` for the eight lanes `k`, before the zero point and the clamp
    /// (what `quant::add` needs of its inputs' rescalings).
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[inline(always)]
    pub(crate) unsafe fn requant(&self, acc: __m256i) -> __m256i {
        let x = _mm256_sllv_epi32(_mm256_add_epi32(acc, self.bias), self.left);
        // Rounding doubling high multiply, even lanes then odd ones.
        let half = _mm256_set1_epi64x(1 << 30);
        let even = _mm256_add_epi64(_mm256_mul_epi32(x, self.multiplier), half);
        let odd = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_srli_epi64(x, 32), self.multiplier_odd),
            half,
        );
        let high = _mm256_blend_epi32(
            _mm256_srli_epi64(even, 31),
            _mm256_slli_epi64(odd, 1),
            0b1010_1010,
        );
        let overflow = _mm256_and_si256(
            _mm256_cmpeq_epi32(x, _mm256_set1_epi32(i32::MIN)),
            self.multiplier_min,
        );
        let high = _mm256_xor_si256(high, overflow);
        // Rounding divide by 2^right, ties away from zero.
        let remainder = _mm256_and_si256(high, self.mask);
        let negative = _mm256_cmpgt_epi32(_mm256_setzero_si256(), high);
        let threshold = _mm256_sub_epi32(self.half, negative);
        let up = _mm256_cmpgt_epi32(remainder, threshold);
        _mm256_sub_epi32(_mm256_srav_epi32(high, self.right), up)
    }
}

/// [`Lanes`] on sixteen lanes with AVX-512F: two sets of eight side by
/// side, the same arithmetic in half the instructions per value, the
/// compares as mask registers. Bit for bit [`Lanes::store`]'s results (the
/// tests hold both to the scalar store).
#[derive(Clone, Copy)]
pub(crate) struct Wide {
    bias: __m512i,
    multiplier: __m512i,
    multiplier_odd: __m512i,
    /// Lanes whose multiplier is `i32::MIN` (none, in any rescaling of
    /// TFLite's: the store skips their fix-up then).
    multiplier_min: __mmask16,
    /// Whether a lane shifts left (most rescalings only shift right).
    shifts_left: bool,
    left: __m512i,
    right: __m512i,
    /// What the rounding right shift adds first, to a sum `≥ 0` and to one
    /// `< 0`: `2^(right − 1)` and `2^(right − 1) − 1` (0 and 0 if `right`
    /// is 0).
    nudge: __m512i,
    nudge_negative: __m512i,
    zero_point: __m512i,
    /// As [`Lanes`]'s.
    lo: __m512i,
    hi: __m512i,
}

impl Wide {
    /// `lo`'s lanes, then `hi`'s.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[inline(always)]
    pub(crate) unsafe fn new(lo: &Lanes, hi: &Lanes) -> Wide {
        // (A function, not a closure: a closure does not inherit the target
        // features, and the intrinsics would stay calls.)
        #[inline(always)]
        unsafe fn join(a: __m256i, b: __m256i) -> __m512i {
            // SAFETY: the caller guarantees AVX-512F.
            unsafe { _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b) }
        }
        // SAFETY: the caller guarantees AVX-512F.
        unsafe {
            let multiplier = join(lo.multiplier, hi.multiplier);
            let left = join(lo.left, hi.left);
            let half = join(lo.half, hi.half);
            // `2^right − 1` is odd unless `right` is 0.
            let odd = _mm512_and_si512(join(lo.mask, hi.mask), _mm512_set1_epi32(1));
            Wide {
                bias: join(lo.bias, hi.bias),
                multiplier,
                multiplier_odd: _mm512_srli_epi64::<32>(multiplier),
                multiplier_min: _mm512_cmpeq_epi32_mask(multiplier, _mm512_set1_epi32(i32::MIN)),
                shifts_left: _mm512_test_epi32_mask(left, left) != 0,
                left,
                right: join(lo.right, hi.right),
                nudge: _mm512_add_epi32(half, odd),
                nudge_negative: half,
                zero_point: join(lo.zero_point, hi.zero_point),
                lo: join(lo.lo, hi.lo),
                hi: join(lo.hi, hi.hi),
            }
        }
    }

    /// Channel `o` of `rescale` in all sixteen lanes: what `Wide::new` of
    /// two `Lanes::new(rescale, o)` gives, without their per-lane tables
    /// (a kernel with one channel per vector builds one per channel). The
    /// caller checks that `rescale` rounds twice (`Lanes::new` says `None`
    /// otherwise).
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[inline(always)]
    pub(crate) unsafe fn channel<const O: usize>(rescale: &Rescale<'_, O>, o: usize) -> Wide {
        debug_assert!(rescale.rounding == Rounding::Double);
        let multiplier = rescale.requant[o].multiplier;
        let (left, right, mask) = shifts(rescale.requant[o].shift);
        let (lo, hi) = bounds(rescale);
        // SAFETY: the caller guarantees AVX-512F.
        unsafe {
            let m = _mm512_set1_epi32(multiplier);
            Wide {
                bias: _mm512_set1_epi32(rescale.bias.map_or(0, |b| b[o])),
                multiplier: m,
                multiplier_odd: _mm512_srli_epi64::<32>(m),
                multiplier_min: if multiplier == i32::MIN { u16::MAX } else { 0 },
                shifts_left: left > 0,
                left: _mm512_set1_epi32(left),
                right: _mm512_set1_epi32(right),
                nudge: _mm512_set1_epi32((mask >> 1) + (mask & 1)),
                nudge_negative: _mm512_set1_epi32(mask >> 1),
                zero_point: _mm512_set1_epi32(i32::from(rescale.zero_point)),
                lo: _mm512_set1_epi32(lo),
                hi: _mm512_set1_epi32(hi),
            }
        }
    }

    /// The same, with `offset` added to the bias of every lane (wrapping,
    /// as the scalar bias is added).
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[inline(always)]
    pub(crate) unsafe fn offset(self, offset: i32) -> Wide {
        Wide {
            // SAFETY: the caller guarantees AVX-512F.
            bias: unsafe { _mm512_add_epi32(self.bias, _mm512_set1_epi32(offset)) },
            ..self
        }
    }

    /// [`Lanes::store`] on sixteen lanes, then narrowed to bytes (the
    /// values are in `i8`'s range after the clamp).
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[inline(always)]
    pub(crate) unsafe fn store(&self, acc: __m512i) -> __m128i {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe {
            let v = self.requant(acc);
            // The clamp (less the zero point), then the zero point.
            let v = _mm512_min_epi32(_mm512_max_epi32(v, self.lo), self.hi);
            _mm512_cvtepi32_epi8(_mm512_add_epi32(v, self.zero_point))
        }
    }

    /// [`Lanes::requant`] on sixteen lanes.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[inline(always)]
    pub(crate) unsafe fn requant(&self, acc: __m512i) -> __m512i {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe {
            let mut x = _mm512_add_epi32(acc, self.bias);
            if self.shifts_left {
                x = _mm512_sllv_epi32(x, self.left);
            }
            let half = _mm512_set1_epi64(1 << 30);
            let even = _mm512_add_epi64(_mm512_mul_epi32(x, self.multiplier), half);
            let odd = _mm512_add_epi64(
                _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), self.multiplier_odd),
                half,
            );
            let mut high = _mm512_mask_blend_epi32(
                0xAAAA,
                _mm512_srli_epi64::<31>(even),
                _mm512_slli_epi64::<1>(odd),
            );
            if self.multiplier_min != 0 {
                // i32::MIN · i32::MIN: i32::MAX, as the scalar saturates.
                let overflow = _mm512_mask_cmpeq_epi32_mask(
                    self.multiplier_min,
                    x,
                    _mm512_set1_epi32(i32::MIN),
                );
                high = _mm512_mask_mov_epi32(high, overflow, _mm512_set1_epi32(i32::MAX));
            }
            // Rounding divide by 2^right, ties away from zero: `(high +
            // nudge) >> right` with the nudge one less below zero. Above
            // zero the sum may pass `i32::MAX` but not `u32::MAX`, so it
            // shifts as unsigned there; below zero it cannot overflow.
            let negative = _mm512_cmplt_epi32_mask(high, _mm512_setzero_si512());
            let nudge = _mm512_mask_mov_epi32(self.nudge, negative, self.nudge_negative);
            let sum = _mm512_add_epi32(high, nudge);
            let v = _mm512_srlv_epi32(sum, self.right);
            _mm512_mask_srav_epi32(v, negative, sum, self.right)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Lanes, Wide};
    use crate::quant::{Clamp, Requant, Rescale, Rounding};
    use crate::reference::test_util::Rng;
    use core::arch::x86_64::{
        __m128i, __m256i, _mm256_loadu_si256, _mm256_storeu_si256, _mm512_loadu_si512,
        _mm_storeu_si128,
    };

    /// [`Wide::store`] of `acc` with lane `k` rescaled as `channels[k]`, or
    /// `None` without AVX-512F.
    fn wide<const O: usize>(
        r: &Rescale<'_, O>,
        channels: [usize; 16],
        acc: &[i32; 16],
    ) -> Option<[i8; 16]> {
        #[target_feature(enable = "avx2,avx512f")]
        fn store<const O: usize>(
            r: &Rescale<'_, O>,
            channels: [usize; 16],
            acc: &[i32; 16],
        ) -> [i8; 16] {
            let mut out = [0i8; 16];
            let half = |h: usize| core::array::from_fn(|k| channels[8 * h + k]);
            // SAFETY: AVX2 and AVX-512F are enabled on this function; the
            // load reads the sixteen `i32`s of `acc`, the store writes the
            // sixteen bytes of `out`.
            unsafe {
                let lo = Lanes::channels(r, half(0)).expect("double rounding");
                let hi = Lanes::channels(r, half(1)).expect("double rounding");
                let v = Wide::new(&lo, &hi).store(_mm512_loadu_si512(acc.as_ptr().cast()));
                _mm_storeu_si128(out.as_mut_ptr().cast::<__m128i>(), v);
            }
            out
        }
        // SAFETY: the features were detected.
        std::is_x86_feature_detected!("avx512f").then(|| unsafe { store(r, channels, acc) })
    }

    /// [`Wide::store`] of `acc` on [`Wide::channel`]`(r, 0)`, or `None`
    /// without AVX-512F.
    fn wide_channel(r: &Rescale<'_, 1>, acc: &[i32; 16]) -> Option<[i8; 16]> {
        #[target_feature(enable = "avx512f")]
        fn store(r: &Rescale<'_, 1>, acc: &[i32; 16]) -> [i8; 16] {
            let mut out = [0i8; 16];
            // SAFETY: AVX-512F is enabled on this function; the load reads
            // the sixteen `i32`s of `acc`, the store writes the sixteen
            // bytes of `out`.
            unsafe {
                let v = Wide::channel(r, 0).store(_mm512_loadu_si512(acc.as_ptr().cast()));
                _mm_storeu_si128(out.as_mut_ptr().cast::<__m128i>(), v);
            }
            out
        }
        // SAFETY: the feature was detected.
        std::is_x86_feature_detected!("avx512f").then(|| unsafe { store(r, acc) })
    }

    #[target_feature(enable = "avx2")]
    fn lanes_avx2(r: &Rescale<'_, 1>, acc: &[i32; 8]) -> [i32; 8] {
        let mut out = [0i32; 8];
        // SAFETY: AVX2 is enabled on this function; the loads and stores
        // read and write exactly the eight `i32`s of the two arrays.
        unsafe {
            let lanes = Lanes::new(r, 0).expect("double rounding");
            let v = lanes.store(_mm256_loadu_si256(acc.as_ptr().cast::<__m256i>()));
            _mm256_storeu_si256(out.as_mut_ptr().cast::<__m256i>(), v);
        }
        out
    }

    /// Every shift from −31 to 30, both extreme multipliers, biases, zero
    /// points, clamps and accumulators near the edges: the lanes equal
    /// `Rescale::store` exactly.
    #[test]
    fn store_avx2_equals_the_scalar_store() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Rng::new(7);
        let mut edges = std::vec![
            0,
            1,
            -1,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30)
        ];
        for k in 0..31 {
            edges.push(1 << k);
            edges.push(-(1 << k));
            edges.push((1 << k) + 1);
        }
        let shifts: std::vec::Vec<i32> = if cfg!(miri) {
            std::vec![-31, -8, 0, 1, 30]
        } else {
            (-31..=30).collect()
        };
        for shift in shifts {
            for multiplier in [0, 1 << 30, (1 << 30) + 12_345, i32::MAX, i32::MIN] {
                let requant = [Requant { multiplier, shift }];
                let bias = [(rng.next_u32() % 2001) as i32 - 1000];
                #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
                let zero_point = (rng.next_u32() % 256) as u8 as i8;
                for clamp in [
                    Clamp::NONE,
                    Clamp {
                        min: zero_point.min(90),
                        max: 100,
                    },
                ] {
                    let r = Rescale {
                        bias: Some(&bias),
                        requant: &requant,
                        zero_point,
                        clamp,
                        rounding: Rounding::Double,
                    };
                    for chunk in 0..if cfg!(miri) { 2 } else { 12 } {
                        let acc: [i32; 8] = core::array::from_fn(|k| {
                            let e = edges[(chunk * 8 + k) % edges.len()];
                            if chunk % 3 == 2 {
                                rng.next_u32() as i32
                            } else {
                                e
                            }
                        });
                        // SAFETY: AVX2 was detected above.
                        let got = unsafe { lanes_avx2(&r, &acc) };
                        for (k, (&g, &a)) in got.iter().zip(&acc).enumerate() {
                            assert_eq!(
                                g,
                                i32::from(r.store(0, a)),
                                "acc {a} lane {k} shift {shift} multiplier {multiplier}"
                            );
                        }
                        // Sixteen lanes: these eight, then the same reversed.
                        let acc16 = core::array::from_fn(|k| acc[if k < 8 { k } else { 15 - k }]);
                        for (how, got) in [
                            ("new", wide(&r, [0; 16], &acc16)),
                            ("channel", wide_channel(&r, &acc16)),
                        ] {
                            let Some(got) = got else { continue };
                            for (k, (&g, &a)) in got.iter().zip(&acc16).enumerate() {
                                assert_eq!(
                                    g,
                                    r.store(0, a),
                                    "wide ({how}): acc {a} lane {k} shift {shift}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[target_feature(enable = "avx2")]
    fn channels_avx2(r: &Rescale<'_, 8>, acc: &[i32; 8]) -> [i32; 8] {
        let mut out = [0i32; 8];
        // SAFETY: AVX2 is enabled on this function; the loads and stores
        // read and write exactly the eight `i32`s of the two arrays.
        unsafe {
            let lanes = Lanes::channels(r, [0, 1, 2, 3, 4, 5, 6, 7]).expect("double rounding");
            let v = lanes.store(_mm256_loadu_si256(acc.as_ptr().cast::<__m256i>()));
            _mm256_storeu_si256(out.as_mut_ptr().cast::<__m256i>(), v);
        }
        out
    }

    /// Eight channels, each lane its own shift, multiplier and bias.
    #[test]
    fn store_of_eight_channels_avx2_equals_the_scalar_store() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Rng::new(8);
        for round in 0..if cfg!(miri) { 4 } else { 400 } {
            let requant: [Requant; 8] = core::array::from_fn(|k| Requant {
                multiplier: match (round + k) % 5 {
                    0 => i32::MIN,
                    1 => 0,
                    _ => (rng.next_u32() >> 1) as i32,
                },
                shift: (rng.next_u32() % 62) as i32 - 31,
            });
            let bias: [i32; 8] = core::array::from_fn(|_| rng.next_u32() as i32 >> 8);
            let r = Rescale {
                bias: Some(&bias),
                requant: &requant,
                zero_point: -5,
                clamp: Clamp {
                    min: -100,
                    max: 120,
                },
                rounding: Rounding::Double,
            };
            let acc: [i32; 8] = core::array::from_fn(|k| {
                let a = rng.next_u32() as i32;
                if k % 3 == 0 {
                    a >> (rng.next_u32() % 31)
                } else {
                    a
                }
            });
            // Sixteen lanes: channels 0 to 7, then 7 to 0, on other sums.
            let acc16 = core::array::from_fn(|k| {
                if k < 8 {
                    acc[k]
                } else {
                    acc[15 - k].wrapping_mul(3)
                }
            });
            let channels = core::array::from_fn(|k| if k < 8 { k } else { 15 - k });
            if let Some(got) = wide(&r, channels, &acc16) {
                for (k, (&g, &a)) in got.iter().zip(&acc16).enumerate() {
                    assert_eq!(g, r.store(channels[k], a), "wide: acc {a} lane {k}");
                }
            }
            // SAFETY: AVX2 was detected above.
            let got = unsafe { channels_avx2(&r, &acc) };
            for (k, (&g, &a)) in got.iter().zip(&acc).enumerate() {
                assert_eq!(
                    g,
                    i32::from(r.store(k, a)),
                    "acc {a} lane {k} {:?}",
                    requant[k]
                );
            }
        }
    }

    #[test]
    fn single_rounding_is_left_to_the_scalar_code_avx2() {
        let requant = [Requant::new(0.5)];
        let r = Rescale {
            bias: None,
            requant: &requant,
            zero_point: 0,
            clamp: Clamp::NONE,
            rounding: Rounding::Single,
        };
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected.
            assert!(unsafe { Lanes::new(&r, 0) }.is_none());
        }
    }
}
