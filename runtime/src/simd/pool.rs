//! SIMD bodies of [`crate::pool::max_pool2d`] for the 2×2 window with
//! stride 2 (no padding or dilation, every window inside the input).
//!
//! For each output row, the two input rows are loaded 2·`LANES` columns at
//! a time, split into even and odd columns with a permute, and the four
//! window taps are folded in PyTorch's order `(0,0), (0,1), (1,0), (1,1)`
//! with PyTorch's `val > max || isnan(val)` rule as a compare-and-blend.
//! The result is the portable kernel's bit for bit, NaN and signed zeros
//! included.

use core::arch::x86_64::{
    __m256, __m256i, __m512, _mm256_blendv_ps, _mm256_castpd_ps, _mm256_castps_pd, _mm256_cmp_ps,
    _mm256_loadu_si256, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_or_ps,
    _mm256_permute4x64_pd, _mm256_setzero_ps, _mm256_shuffle_ps, _mm512_cmp_ps_mask,
    _mm512_mask_mov_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_permutex2var_ps,
    _mm512_setr_epi32, _mm512_setzero_ps, _CMP_GT_OQ, _CMP_UNORD_Q,
};

/// Whether the SIMD bodies handle this max pool: a 2×2 window, stride 2,
/// no padding, no dilation, and every window inside the input.
#[allow(clippy::too_many_arguments)] // Pool parameters.
pub(crate) const fn supported(
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    dh: usize,
    dw: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
) -> bool {
    kh == 2
        && kw == 2
        && sh == 2
        && sw == 2
        && ph == 0
        && pw == 0
        && dh == 1
        && dw == 1
        && 2 * oh <= h
        && 2 * ow <= w
}

/// The low `n` bits set, `n <= 16`.
#[inline(always)]
fn low_mask(n: usize) -> u16 {
    // `n <= 16`: fits in 16 bits.
    #[allow(clippy::cast_possible_truncation)]
    let m = ((1u32 << n) - 1) as u16;
    m
}

/// PyTorch's max step on 16 lanes: `v` where `v > m` or `v` is NaN, else
/// `m`.
#[target_feature(enable = "avx512f")]
#[inline]
fn fold512(m: __m512, v: __m512) -> __m512 {
    let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, m) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
    _mm512_mask_mov_ps(m, take, v)
}

/// PyTorch's max step on 8 lanes, as [`fold512`].
#[target_feature(enable = "avx")]
#[inline]
fn fold256(m: __m256, v: __m256) -> __m256 {
    let take = _mm256_or_ps(
        _mm256_cmp_ps::<_CMP_GT_OQ>(v, m),
        _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
    );
    _mm256_blendv_ps(m, v, take)
}

/// The even and the odd columns of the 16 columns `a` then `b`: shuffle
/// within 128-bit halves, then put the 64-bit pairs in order.
#[target_feature(enable = "avx2")]
#[inline]
fn split256(a: __m256, b: __m256) -> [__m256; 2] {
    let e = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
    let o = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
    [
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(e))),
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(o))),
    ]
}

/// The AVX-512F body.
#[target_feature(enable = "avx512f")]
pub(crate) fn max_pool_2x2_avx512<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    const LANES: usize = 16;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (in_plane, out_plane) in input.iter().zip(output.iter_mut()) {
        for (oh, out_row) in out_plane.iter_mut().enumerate() {
            let rows = [&in_plane[2 * oh], &in_plane[2 * oh + 1]];
            let mut ow = 0;
            while ow < OW {
                let n = (OW - ow).min(LANES);
                // Input columns `2·ow .. 2·(ow + n)`, `<= 2·OW <= W`.
                let (lo, hi) = (
                    low_mask((2 * n).min(LANES)),
                    low_mask((2 * n).saturating_sub(LANES)),
                );
                let mut taps = [[_mm512_setzero_ps(); 2]; 2];
                for (tap, row) in taps.iter_mut().zip(rows) {
                    let p = row.as_ptr().wrapping_add(2 * ow);
                    // SAFETY: AVX-512F is enabled on this function. The
                    // loads touch lanes `0..min(2n, 16)` and `0..2n − 16` of
                    // columns `2·ow..` and `2·ow + 16..`: columns below
                    // `2·(ow + n) <= 2·OW <= W`, inside `row`.
                    let (a, b) = unsafe {
                        (
                            _mm512_maskz_loadu_ps(lo, p),
                            _mm512_maskz_loadu_ps(hi, p.wrapping_add(LANES)),
                        )
                    };
                    *tap = [
                        _mm512_permutex2var_ps(a, even, b),
                        _mm512_permutex2var_ps(a, odd, b),
                    ];
                }
                let m = fold512(
                    fold512(fold512(taps[0][0], taps[0][1]), taps[1][0]),
                    taps[1][1],
                );
                // SAFETY: AVX-512F is enabled on this function; the store
                // writes lanes `0..n`, columns `ow..ow + n <= OW` of
                // `out_row`.
                unsafe {
                    _mm512_mask_storeu_ps(out_row.as_mut_ptr().wrapping_add(ow), low_mask(n), m)
                };
                ow += LANES;
            }
        }
    }
}

/// `vmaskmov` mask of lanes `0..n`, `n <= 8`.
#[target_feature(enable = "avx")]
#[inline]
fn prefix8(n: usize) -> __m256i {
    const TABLE: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
    let start = 8 - n.min(8);
    let window = &TABLE[start..start + 8];
    // SAFETY: AVX is enabled on this function; `window` is 8 `i32`s.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

/// The AVX2 body.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn max_pool_2x2_avx2<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    const LANES: usize = 8;
    for (in_plane, out_plane) in input.iter().zip(output.iter_mut()) {
        for (oh, out_row) in out_plane.iter_mut().enumerate() {
            let rows = [&in_plane[2 * oh], &in_plane[2 * oh + 1]];
            let mut ow = 0;
            while ow < OW {
                let n = (OW - ow).min(LANES);
                let (lo, hi) = (prefix8(2 * n), prefix8((2 * n).saturating_sub(LANES)));
                let mut taps = [[_mm256_setzero_ps(); 2]; 2];
                for (tap, row) in taps.iter_mut().zip(rows) {
                    let p = row.as_ptr().wrapping_add(2 * ow);
                    // SAFETY: AVX is enabled on this function. `vmaskmovps`
                    // touches lanes `0..min(2n, 8)` and `0..2n − 8` of
                    // columns `2·ow..` and `2·ow + 8..`: columns below
                    // `2·(ow + n) <= 2·OW <= W`, inside `row` (no fault on
                    // the others).
                    let (a, b) = unsafe {
                        (
                            _mm256_maskload_ps(p, lo),
                            _mm256_maskload_ps(p.wrapping_add(LANES), hi),
                        )
                    };
                    *tap = split256(a, b);
                }
                let m = fold256(
                    fold256(fold256(taps[0][0], taps[0][1]), taps[1][0]),
                    taps[1][1],
                );
                // SAFETY: AVX is enabled on this function; the store writes
                // lanes `0..n`, columns `ow..ow + n <= OW` of `out_row`.
                unsafe {
                    _mm256_maskstore_ps(out_row.as_mut_ptr().wrapping_add(ow), prefix8(n), m)
                };
                ow += LANES;
            }
        }
    }
}
