//! How taps share an `i32` lane, and the instruction that multiplies lanes:
//! the one thing the two instruction sets of [`super`] do differently.
//!
//! - [`Pairs`] (AVX2): two taps per lane, `x − zp` as `i16`s, multiplied
//!   by `vpmaddwd` and added by `vpaddd` (16 multiply-adds in two
//!   instructions). A tap outside the input holds 0.
//! - [`Quads`] (AVX-512 VNNI): four taps per lane, `x + 128` as unsigned
//!   bytes, multiplied by `vpdpbusd` with the weights as signed bytes and
//!   added into the accumulator in the same instruction (32 multiply-adds
//!   in one). A tap outside the input holds `zp + 128`. The instruction
//!   sums `(x + 128) · w`; the layer's sum `Σ (x − zp) · w` is that minus
//!   `(zp + 128) · Σ w`, which [`Dot::correction`] gives per output channel
//!   and the rescaling adds to the bias. Four products of at most `255 ·
//!   128` fit `i32`, and the sums wrap as the bias addition does, so the
//!   result is exact: the same bits as the pairs.

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

use super::planes::{self, Geometry};
use crate::simd::qrescale::{Lanes, Wide};
use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_dpbusd_epi32,
    _mm256_extracti128_si256, _mm256_madd_epi16, _mm256_packs_epi32, _mm256_permute4x64_epi64,
    _mm512_castsi256_si512, _mm512_inserti64x4, _mm_mask_storeu_epi8, _mm_maskz_loadu_epi8,
    _mm_packs_epi16, _mm_set1_epi8, _mm_unpackhi_epi16, _mm_unpackhi_epi8, _mm_unpacklo_epi16,
    _mm_unpacklo_epi8, _mm_xor_si128,
};
use core::mem::MaybeUninit;

/// A lane format and its multiply-add.
pub(super) trait Dot {
    /// Taps per `i32` lane.
    const K: usize;
    /// The lane part of input value `x` (zero point `zp`).
    fn input(x: i8, zp: i8) -> i32;
    /// The lane part of a tap outside the input.
    fn pad(zp: i8) -> i32;
    /// What adds to output channel's accumulator whose weights sum to
    /// `weight_sum`, to make it the sum of `(x − zp) · w`.
    fn correction(zp: i8, weight_sum: i32) -> i32;
    /// `acc` plus the lane-wise dot products of `x`'s and `w`'s parts.
    ///
    /// # Safety
    ///
    /// The CPU must have the instruction set ([`Pairs`]: AVX2; [`Quads`]:
    /// AVX-512 VNNI, VL and BW).
    unsafe fn mac(acc: __m256i, x: __m256i, w: __m256i) -> __m256i;

    /// The rescaling of sixteen lanes, eight accumulators' then eight more.
    type Rescale16: Copy;
    /// `lo`'s lanes, then `hi`'s.
    ///
    /// # Safety
    ///
    /// As [`Dot::mac`].
    unsafe fn rescale16(lo: &Lanes, hi: &Lanes) -> Self::Rescale16;
    /// The sixteen output bytes of `lo`'s accumulators then `hi`'s.
    ///
    /// # Safety
    ///
    /// As [`Dot::mac`].
    unsafe fn store16(r: &Self::Rescale16, lo: __m256i, hi: __m256i) -> __m128i;
    /// `dst.copy_from_slice(src)` for at most 16 bytes: with quads one
    /// masked load and store (a `copy_from_slice` there became a `memcpy`
    /// call per row); with pairs a byte loop.
    ///
    /// # Safety
    ///
    /// As [`Dot::mac`].
    unsafe fn put(dst: &mut [i8], src: &[i8]);
    /// [`super::planes::pack`] with vector instructions where this format
    /// has them, for blocks of 16 channels (`N = 16`); `false` (nothing
    /// written) where it does not.
    ///
    /// # Safety
    ///
    /// As [`Dot::mac`].
    #[inline(always)]
    unsafe fn pack16<const KH: usize, const KW: usize, const CG: usize, const N: usize>(
        _: &Geometry,
        _: &[[[[i8; KW]; KH]; CG]],
        _: &mut [MaybeUninit<[i32; N]>],
    ) -> bool {
        false
    }
    /// `dest[i]` = the lane whose part `b` is `rows[b][i]`, each row at
    /// least as long as `dest`: a plane row's inner columns at column
    /// stride 1 ([`super::planes::fill`]). A lane at a time here; quads
    /// override it with vectors.
    ///
    /// # Safety
    ///
    /// As [`Dot::mac`].
    #[inline(always)]
    unsafe fn inner(dest: &mut [MaybeUninit<i32>], rows: &[&[i8]; 4], zp: i8) {
        for (i, d) in dest.iter_mut().enumerate() {
            d.write(Self::join(
                (0..Self::K).map(|b| Self::input(rows[b][i], zp)),
            ));
        }
    }

    /// `K` parts of `32 / K` bits each into one lane, the first lowest (the
    /// instructions' order: the first in memory).
    #[inline(always)]
    #[allow(clippy::cast_sign_loss)] // Bit patterns.
    fn join(parts: impl Iterator<Item = i32>) -> i32 {
        let bits = 32 / Self::K;
        let mask = u32::MAX >> (32 - bits);
        parts
            .enumerate()
            .fold(0u32, |lane, (k, p)| lane | (p as u32 & mask) << (k * bits))
            .cast_signed()
    }
}

/// Two `i16` taps per lane, `vpmaddwd` (AVX2).
pub(super) struct Pairs;

impl Dot for Pairs {
    const K: usize = 2;
    #[inline(always)]
    fn input(x: i8, zp: i8) -> i32 {
        i32::from(x) - i32::from(zp)
    }
    #[inline(always)]
    fn pad(_: i8) -> i32 {
        0
    }
    #[inline(always)]
    fn correction(_: i8, _: i32) -> i32 {
        0
    }
    #[inline(always)]
    unsafe fn mac(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { _mm256_add_epi32(acc, _mm256_madd_epi16(x, w)) }
    }
    #[inline(always)]
    unsafe fn put(dst: &mut [i8], src: &[i8]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
    }
    type Rescale16 = [Lanes; 2];
    #[inline(always)]
    unsafe fn rescale16(lo: &Lanes, hi: &Lanes) -> [Lanes; 2] {
        [*lo, *hi]
    }
    /// Two [`Lanes::store`]s, packed to `i16`s (lane-wise: halves
    /// interleaved, put back in order by `vpermq`) and then to bytes.
    #[inline(always)]
    unsafe fn store16(r: &[Lanes; 2], lo: __m256i, hi: __m256i) -> __m128i {
        // SAFETY: the caller guarantees AVX2.
        unsafe {
            let words = _mm256_packs_epi32(r[0].store(lo), r[1].store(hi));
            let words = _mm256_permute4x64_epi64::<0b11_01_10_00>(words);
            _mm_packs_epi16(
                _mm256_castsi256_si128(words),
                _mm256_extracti128_si256::<1>(words),
            )
        }
    }
}

/// Four byte taps per lane, `vpdpbusd` (AVX-512 VNNI, on 256 bits).
pub(super) struct Quads;

impl Dot for Quads {
    const K: usize = 4;
    #[inline(always)]
    fn input(x: i8, _: i8) -> i32 {
        i32::from(x) + 128
    }
    #[inline(always)]
    fn pad(zp: i8) -> i32 {
        i32::from(zp) + 128
    }
    #[inline(always)]
    fn correction(zp: i8, weight_sum: i32) -> i32 {
        (-(i32::from(zp) + 128)).wrapping_mul(weight_sum)
    }
    #[inline(always)]
    unsafe fn mac(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
        // SAFETY: the caller guarantees AVX-512 VNNI and VL.
        unsafe { _mm256_dpbusd_epi32(acc, x, w) }
    }
    #[inline(always)]
    unsafe fn put(dst: &mut [i8], src: &[i8]) {
        let mask = first(dst.len().min(src.len()));
        // SAFETY: the caller guarantees AVX-512 BW and VL; the masked load
        // and store touch only the first bytes of `src` and `dst` that both
        // have (16 at most).
        unsafe {
            _mm_mask_storeu_epi8(
                dst.as_mut_ptr(),
                mask,
                _mm_maskz_loadu_epi8(mask, src.as_ptr()),
            )
        }
    }
    /// Sixteen lanes a step: each row's sixteen bytes in one masked load
    /// (nothing read past `dest`'s length), `x + 128` as `x ^ 0x80`, the
    /// four rows interleaved bytewise then wordwise (lane `i`'s bytes are
    /// `rows[0..4][i]`, the first lowest), and stored by masked stores of
    /// four lanes. LeNet-5's conv2 built its lanes a byte at a time:
    /// about a sixth of the layer under `perf`.
    #[inline(always)]
    unsafe fn inner(dest: &mut [MaybeUninit<i32>], rows: &[&[i8]; 4], _: i8) {
        let n = dest.len();
        assert!(rows.iter().all(|r| r.len() >= n), "rows shorter than dest");
        // SAFETY: the caller guarantees AVX-512 BW and VL. Every masked
        // load reads bytes `i0 .. i0 + m` of a row (`i0 + m ≤ n ≤` its
        // length, asserted above); every masked store writes lanes
        // `i0 + 4k .. i0 + 4k + lanes` of `dest`, `≤ i0 + m ≤ n`.
        unsafe {
            let flip = _mm_set1_epi8(i8::MIN);
            for i0 in (0..n).step_by(16) {
                let m = (n - i0).min(16);
                let mask = first(m);
                let mut p = [flip; 4];
                for (p, row) in p.iter_mut().zip(rows) {
                    *p = _mm_xor_si128(_mm_maskz_loadu_epi8(mask, row[i0..].as_ptr()), flip);
                }
                for (k, q) in quads(&p).iter().enumerate() {
                    let lanes = m.saturating_sub(4 * k).min(4);
                    if lanes == 0 {
                        break;
                    }
                    let at = dest[i0 + 4 * k..].as_mut_ptr().cast::<i8>();
                    _mm_mask_storeu_epi8(at, first(4 * lanes), *q);
                }
            }
        }
    }
    #[inline(always)]
    unsafe fn pack16<const KH: usize, const KW: usize, const CG: usize, const N: usize>(
        geo: &Geometry,
        weight: &[[[[i8; KW]; KH]; CG]],
        buffer: &mut [MaybeUninit<[i32; N]>],
    ) -> bool {
        if N != 16 {
            return false;
        }
        // SAFETY: the caller guarantees AVX-512 BW and VL.
        unsafe { planes::pack_quads::<KH, KW, CG, N>(geo, weight, buffer) };
        true
    }
    type Rescale16 = Wide;
    #[inline(always)]
    unsafe fn rescale16(lo: &Lanes, hi: &Lanes) -> Wide {
        // SAFETY: the caller guarantees AVX-512 (VNNI implies F).
        unsafe { Wide::new(lo, hi) }
    }
    /// One [`Wide::store`] of the two vectors side by side.
    #[inline(always)]
    unsafe fn store16(r: &Wide, lo: __m256i, hi: __m256i) -> __m128i {
        // SAFETY: as above.
        unsafe { r.store(_mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)) }
    }
}

/// The byte mask of a masked 16-byte load or store that touches the first
/// `n` bytes (all 16 from `n = 16` on).
#[inline(always)]
pub(super) fn first(n: usize) -> u16 {
    #[allow(clippy::cast_possible_truncation)] // At most 16 bits set.
    {
        ((1u32 << n.min(16)) - 1) as u16
    }
}

/// Lanes of four bytes from four vectors of sixteen: lane `i` of the
/// result (vector `i / 4`, lane `i % 4`) holds `p[0..4]`'s bytes `i`, the
/// first lowest. Two rounds of unpacks (bytes, then words).
///
/// # Safety
///
/// The CPU must have SSE2.
#[inline(always)]
pub(super) unsafe fn quads(p: &[__m128i; 4]) -> [__m128i; 4] {
    // SAFETY: the caller guarantees SSE2.
    unsafe {
        let (t0, t1) = (_mm_unpacklo_epi8(p[0], p[1]), _mm_unpackhi_epi8(p[0], p[1]));
        let (u0, u1) = (_mm_unpacklo_epi8(p[2], p[3]), _mm_unpackhi_epi8(p[2], p[3]));
        [
            _mm_unpacklo_epi16(t0, u0),
            _mm_unpackhi_epi16(t0, u0),
            _mm_unpacklo_epi16(t1, u1),
            _mm_unpackhi_epi16(t1, u1),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::{first, Dot, Pairs, Quads};

    #[test]
    fn masks_cover_the_first_bytes() {
        assert_eq!(
            [0, 1, 5, 15, 16, 40].map(first),
            [0, 1, 0x1f, 0x7fff, 0xffff, 0xffff]
        );
    }

    #[test]
    fn lanes_join_their_parts_first_lowest() {
        assert_eq!(Pairs::join([-1, 2].into_iter()), 0x0002_FFFF);
        assert_eq!(Quads::join([0x80, 0, 255, 1].into_iter()), 0x01FF_0080);
        assert_eq!(Quads::join([-128, 127, -1, 0].into_iter()), 0x00FF_7F80);
    }

    /// `Σ (x + 128) · w + correction = Σ (x − zp) · w` with every tap the
    /// same value, a padded tap included: the algebra the kernel relies on.
    #[test]
    fn the_correction_makes_the_quads_sum_exact() {
        for zp in [-128i8, -3, 0, 127] {
            for (x, w) in [(-128i8, 127i8), (127, -128), (5, -7), (zp, 100)] {
                let raw = 9 * Quads::input(x, zp) * i32::from(w);
                let sum = raw + Quads::correction(zp, 9 * i32::from(w));
                assert_eq!(sum, 9 * Pairs::input(x, zp) * i32::from(w));
                assert_eq!(Quads::pad(zp), Quads::input(zp, zp));
            }
        }
    }
}
