//! Output channels in lanes: a block of 6 output pixels by 16 output
//! channels (two vectors; or 12 pixels by 8), 12 accumulators in
//! registers; each lane of taps is one or two loads of packed weight lanes,
//! one broadcast input lane per pixel and one multiply-add ([`Dot::mac`])
//! per pixel and vector. Only the output's pixels are computed, in any order, so nothing
//! is thrown away at the row ends: the better choice when the planes are
//! much wider than the output (LeNet-5's conv2: 14 for 10) and the layer
//! has 8 or more output channels.

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

use super::dot::Dot;
use super::Operands;
use crate::simd::qrescale::Lanes;
use core::arch::x86_64::{
    __m128i, __m256i, _mm256_loadu_si256, _mm256_set1_epi32, _mm256_setzero_si256,
    _mm256_storeu_si256, _mm_setzero_si128, _mm_storeu_si128, _mm_unpackhi_epi16,
    _mm_unpackhi_epi32, _mm_unpackhi_epi8, _mm_unpacklo_epi16, _mm_unpacklo_epi32,
    _mm_unpacklo_epi8,
};

/// Output channels per block, at most.
pub(super) const CHANNELS: usize = 16;

/// Every output pixel of the band, for the `count` (at most `8 · V`) output
/// channels `out` whose weights are packed and whose rescaling is `lanes`;
/// `P` pixels at a time.
///
/// # Safety
///
/// The CPU must have AVX2 and `D`'s instruction set.
#[inline(always)]
pub(super) unsafe fn run<
    D: Dot,
    const V: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
>(
    ops: &Operands<'_, CHANNELS>,
    lanes: &[Lanes; V],
    oy0: usize,
    rows: usize,
    out: &mut [[[i8; OW]; OH]],
) {
    let pixels = rows * OW;
    let reach = ops.reach();
    // Sixteen channels: rescaled sixteen at a time, stored transposed.
    // (An `if`, not `bool::then`: its closure would not inherit the target
    // features, and every intrinsic in it would stay a call.)
    let wide = if V == 2 {
        // SAFETY: the caller guarantees AVX2 and `D`'s instruction set.
        Some(unsafe { D::rescale16(&lanes[0], &lanes[V - 1]) })
    } else {
        None
    };
    for m0 in (0..pixels).step_by(P) {
        // Output pixel m is (m / OW, m % OW); a short last block repeats
        // its last pixel.
        let at = |k: usize| {
            let m = (m0 + k).min(pixels - 1);
            (m / OW, m % OW)
        };
        // (A loop, not `array::from_fn`: its closure does not inherit the
        // target features, and the call can stay out of line, once per tile;
        // see `planes::fill`, where `perf` measured one.)
        let mut n = [0usize; P];
        for (k, n) in n.iter_mut().enumerate() {
            let (r, x) = at(k);
            *n = r * ops.wu + x;
        }
        // SAFETY: the caller guarantees AVX2 and `D`'s instructions.
        let acc = unsafe { tile::<D, V, P>(ops, reach, &n) };
        if let (Some(wide), 1..=8) = (&wide, P) {
            // SAFETY: as above.
            unsafe {
                store_transposed::<D, V, P, OH, OW>(wide, &acc, oy0 * OW + m0, pixels - m0, out)
            };
            continue;
        }
        for (k, acc) in acc.iter().enumerate().take(pixels - m0) {
            let (r, x) = at(k);
            for (v, (acc, lanes)) in acc.iter().zip(lanes).enumerate() {
                let mut values = [0i32; 8];
                // SAFETY: the caller guarantees AVX2; the store writes the
                // eight `i32`s of `values`.
                unsafe {
                    _mm256_storeu_si256(values.as_mut_ptr().cast::<__m256i>(), lanes.store(*acc));
                }
                for (o, &y) in out.iter_mut().skip(8 * v).zip(&values) {
                    #[allow(clippy::cast_possible_truncation)] // Clamped into i8.
                    {
                        o[oy0 + r][x] = y as i8;
                    }
                }
            }
        }
    }
}

/// Stores a tile of 16 channels by `P ≤ 8` pixels, the first `count` of
/// them, at flat index `at` of each channel's plane (a tile's pixels are
/// consecutive there, across row ends): each pixel's 16 accumulators
/// rescaled to 16 bytes at once ([`Dot::store16`]), the pixels-by-channels
/// bytes transposed in registers (three rounds of `punpck`), then each
/// channel's `count` bytes in one [`Dot::put`].
///
/// It replaced two 8-lane rescalings and 16 single-byte stores
/// (`vpextrb`) per pixel: about a sixth of LeNet-5's int8 conv2 under
/// `perf`.
///
/// # Safety
///
/// The CPU must have AVX2 and `D`'s instruction set.
#[inline(always)]
unsafe fn store_transposed<
    D: Dot,
    const V: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
>(
    wide: &D::Rescale16,
    acc: &[[__m256i; V]; P],
    at: usize,
    count: usize,
    out: &mut [[[i8; OW]; OH]],
) {
    let count = count.min(P);
    // SAFETY: the caller guarantees AVX2 and `D`'s instruction set (SSE2's
    // unpacks and the stores into the local array included).
    unsafe {
        let mut rows = [_mm_setzero_si128(); 8];
        for (row, acc) in rows.iter_mut().zip(acc) {
            *row = D::store16(wide, acc[0], acc[V - 1]);
        }
        // Round 1: pixel pairs of channels 0–7 and 8–15, as words.
        let mut words = [_mm_setzero_si128(); 8];
        for (k, w) in words.chunks_exact_mut(2).enumerate() {
            w[0] = _mm_unpacklo_epi8(rows[2 * k], rows[2 * k + 1]);
            w[1] = _mm_unpackhi_epi8(rows[2 * k], rows[2 * k + 1]);
        }
        // Round 2: pixel quads of channels 0–3, 4–7 (from words 0, 2),
        // 8–11, 12–15 (from words 1, 3); likewise pixels 4–7.
        let mut quads = [_mm_setzero_si128(); 8];
        for (h, q) in quads.chunks_exact_mut(4).enumerate() {
            let (a, b) = (&words[4 * h..], 4 * h + 2);
            q[0] = _mm_unpacklo_epi16(a[0], words[b]);
            q[1] = _mm_unpackhi_epi16(a[0], words[b]);
            q[2] = _mm_unpacklo_epi16(a[1], words[b + 1]);
            q[3] = _mm_unpackhi_epi16(a[1], words[b + 1]);
        }
        // Round 3: all eight pixels of channel pairs 2j, 2j + 1.
        let mut cols = [[0i8; 16]; 8];
        for (j, col) in cols.iter_mut().enumerate() {
            let x = if j % 2 == 0 {
                _mm_unpacklo_epi32(quads[j / 2], quads[4 + j / 2])
            } else {
                _mm_unpackhi_epi32(quads[j / 2], quads[4 + j / 2])
            };
            _mm_storeu_si128(col.as_mut_ptr().cast::<__m128i>(), x);
        }
        for (o, out) in out.iter_mut().enumerate() {
            let src = &cols[o / 2][o % 2 * 8..][..count];
            D::put(&mut out.as_flattened_mut()[at..at + count], src);
        }
    }
}

/// The accumulators of the pixels at indices `n` for `8 · V` channels;
/// `reach` is [`Operands::reach`].
///
/// The input lanes are read unchecked: every index `off + n` is at most
/// `reach + max(n)`, checked once per tile. A bounds check per pixel and
/// tap (six compares and branches next to twelve multiply-adds), with the
/// pixels kernel's per-tap slice, cost LeNet-5's int8 twin 2–6% (`taskset
/// -c 0 cargo bench --bench lenet -- 'int8, batch 1'`, 5 interleaved
/// rounds on an Intel Xeon with VNNI: 12.1–13.0 → 11.4–12.6 µs).
///
/// # Safety
///
/// The CPU must have AVX2 and `D`'s instruction set.
#[inline(always)]
unsafe fn tile<D: Dot, const V: usize, const P: usize>(
    ops: &Operands<'_, CHANNELS>,
    reach: usize,
    n: &[usize; P],
) -> [[__m256i; V]; P] {
    let last = reach + n.iter().copied().max().unwrap_or(0);
    assert!(last < ops.planes.len(), "a tap past the planes");
    // SAFETY: the caller guarantees AVX2 and `D`'s instructions.
    let mut acc = [[unsafe { _mm256_setzero_si256() }; V]; P];
    for (&off, w) in ops.offsets.iter().zip(ops.packed) {
        // (A loop, not `array::from_fn`: a closure does not inherit the
        // target features, and the load would stay a call.)
        // SAFETY: the caller guarantees AVX2 and `D`'s instructions.
        let mut wv = [unsafe { _mm256_setzero_si256() }; V];
        for (v, wv) in wv.iter_mut().enumerate() {
            // SAFETY: the caller guarantees AVX2; the load reads eight of
            // the 16 `i32`s of `w`.
            *wv = unsafe { _mm256_loadu_si256(w[8 * v..][..8].as_ptr().cast::<__m256i>()) };
        }
        for (acc, &n) in acc.iter_mut().zip(n) {
            // SAFETY: the caller guarantees AVX2 and `D`'s instructions.
            unsafe {
                // SAFETY (of the read): `off <= reach` and `n <= max(n)`,
                // so `off + n <= last < planes.len()` (asserted above).
                let x = _mm256_set1_epi32(*ops.planes.get_unchecked(off + n));
                for (acc, &w) in acc.iter_mut().zip(&wv) {
                    *acc = D::mac(*acc, x, w);
                }
            }
        }
    }
    acc
}
