//! SIMD bodies of the pools.
//!
//! [`crate::pool::max_pool2d`] for the 2×2 window with stride 2 (no
//! padding or dilation, every window inside the input): for each output
//! row, the two input rows are loaded 2·`LANES` columns at a time, split
//! into even and odd columns with a permute, and the four window taps are
//! folded in PyTorch's order `(0,0), (0,1), (1,0), (1,1)` with PyTorch's
//! `val > max || isnan(val)` rule as a compare-and-blend. The result is the
//! portable kernel's bit for bit, NaN and signed zeros included. With
//! AVX2 the same body runs the 2×2 stride-2 average pool (whole windows),
//! which the general [`avg_row`] reads with two masked loads and a
//! deinterleave per tap.
//!
//! [`crate::pool::avg_pool2d`] for every window ([`avg_row`]) and the
//! adaptive pools ([`adaptive`]), generic over the [`Strided`] tokens; see
//! their docs for why they give the portable bits.

use super::lanes::{low_mask, prefix8, Avx2, Avx512};
use super::math::Simd;
use super::transpose::transpose16;
use core::arch::x86_64::{
    __m256, __m256i, __m512, _mm256_add_ps, _mm256_blendv_ps, _mm256_castpd_ps, _mm256_castps_pd,
    _mm256_cmp_ps, _mm256_div_ps, _mm256_loadu_ps, _mm256_loadu_si256, _mm256_mask_i32gather_ps,
    _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_or_ps, _mm256_permute4x64_pd,
    _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
    _mm256_xor_si256, _mm512_cmp_ps_mask, _mm512_loadu_si512, _mm512_mask_i32gather_ps,
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
                            // No load without a lane: past the row, the
                            // address may be past the tensor.
                            if hi == 0 {
                                _mm512_setzero_ps()
                            } else {
                                _mm512_maskz_loadu_ps(hi, p.wrapping_add(LANES))
                            },
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

/// The AVX2 body: the max pool, or with `AVG` the average pool (whose
/// windows here are all whole: the four taps added in the same order to
/// `+0.0`, as [`avg_row`] and the portable kernel do, then divided by
/// `divisor`, the same bits). A chunk of 8 outputs whose 16 input columns
/// are all inside the row is read with plain loads; the last, partial one
/// with masked loads.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn pool_2x2_avx2<
    const AVG: bool,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
    divisor: f32,
) {
    const LANES: usize = 8;
    // SAFETY: this function is compiled with AVX2 and FMA, and calling it
    // requires the CPU to have them.
    let tok = unsafe { Avx2::new() };
    for (in_plane, out_plane) in input.iter().zip(output.iter_mut()) {
        for (oh, out_row) in out_plane.iter_mut().enumerate() {
            let rows = [&in_plane[2 * oh], &in_plane[2 * oh + 1]];
            let mut ow = 0;
            while ow < OW {
                let n = (OW - ow).min(LANES);
                let (lo, hi) = (
                    prefix8(tok, 2 * n),
                    prefix8(tok, (2 * n).saturating_sub(LANES)),
                );
                let mut taps = [[_mm256_setzero_ps(); 2]; 2];
                for (tap, row) in taps.iter_mut().zip(rows) {
                    let p = row.as_ptr().wrapping_add(2 * ow);
                    let (a, b) = if n == LANES {
                        // SAFETY: AVX is enabled on this function; columns
                        // `2·ow .. 2·ow + 16 <= 2·OW <= W`, inside `row`.
                        unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.wrapping_add(LANES))) }
                    } else {
                        // SAFETY: AVX is enabled on this function.
                        // `vmaskmovps` touches lanes `0..min(2n, 8)` and
                        // `0..2n − 8` of columns `2·ow..` and `2·ow + 8..`:
                        // columns below `2·(ow + n) <= 2·OW <= W`, inside
                        // `row` (no fault on the others).
                        unsafe {
                            (
                                _mm256_maskload_ps(p, lo),
                                // No load without a lane (as in the AVX-512 body).
                                if 2 * n > LANES {
                                    _mm256_maskload_ps(p.wrapping_add(LANES), hi)
                                } else {
                                    _mm256_setzero_ps()
                                },
                            )
                        }
                    };
                    *tap = split256(a, b);
                }
                let m = if AVG {
                    let mut sum = _mm256_setzero_ps();
                    for t in [taps[0][0], taps[0][1], taps[1][0], taps[1][1]] {
                        sum = _mm256_add_ps(sum, t);
                    }
                    _mm256_div_ps(sum, _mm256_set1_ps(divisor))
                } else {
                    fold256(
                        fold256(fold256(taps[0][0], taps[0][1]), taps[1][0]),
                        taps[1][1],
                    )
                };
                if n == LANES {
                    // SAFETY: AVX is enabled on this function; columns
                    // `ow..ow + 8 <= OW` of `out_row`.
                    unsafe { _mm256_storeu_ps(out_row.as_mut_ptr().wrapping_add(ow), m) };
                } else {
                    // SAFETY: AVX is enabled on this function; the store
                    // writes lanes `0..n`, columns `ow..ow + n <= OW` of
                    // `out_row`.
                    unsafe {
                        _mm256_maskstore_ps(
                            out_row.as_mut_ptr().wrapping_add(ow),
                            prefix8(tok, n),
                            m,
                        )
                    };
                }
                ow += LANES;
            }
        }
    }
}

/// A [`Simd`] token that can load the floats of a row at a stride.
pub(crate) trait Strided: Simd {
    /// Lane `j` in `lo..hi` is `row[first + j·stride]`; the other lanes
    /// are `+0.0` and read nothing. The caller guarantees that those
    /// indices are inside `row` (`first` itself may be negative when
    /// `lo > 0`).
    fn strided(self, row: &[f32], first: isize, stride: usize, lo: usize, hi: usize) -> Self::V;
}

/// Lane indices `first + j·stride` for `j` in `0..16`, wrapping (only the
/// lanes a mask keeps are meaningful).
#[inline(always)]
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // Indices of one plane, far below 2³¹.
fn lane_index(first: isize, stride: usize, j: usize) -> i32 {
    (first as i32).wrapping_add((j * stride) as i32)
}

impl Strided for Avx512 {
    #[inline(always)]
    fn strided(self, row: &[f32], first: isize, stride: usize, lo: usize, hi: usize) -> __m512 {
        if lo == 0 && (stride == 1 || stride == 2) && hi > 0 {
            // Lane 0 is inside the row, so `first >= 0`.
            let p = row.as_ptr().wrapping_add(first.unsigned_abs());
            let count = (hi - 1) * stride + 1;
            if stride == 1 {
                // SAFETY: the token proves AVX-512F; the load reads lanes
                // `0..hi`, columns `first..first + hi` inside `row`.
                return unsafe { _mm512_maskz_loadu_ps(low_mask(hi), p) };
            }
            // SAFETY: the token proves AVX-512F; the loads read the
            // `count` columns `first..first + count` (the last one read is
            // the last lane's), inside `row`; a zero mask reads nothing.
            return unsafe {
                let even =
                    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                let a = _mm512_maskz_loadu_ps(low_mask(count.min(16)), p);
                // No load without a lane: `p + 16` may be past the tensor,
                // and a masked load from an unmapped address is slow.
                let b = if count > 16 {
                    _mm512_maskz_loadu_ps(low_mask(count - 16), p.wrapping_add(16))
                } else {
                    _mm512_setzero_ps()
                };
                _mm512_permutex2var_ps(a, even, b)
            };
        }
        let idx: [i32; 16] = core::array::from_fn(|j| lane_index(first, stride, j));
        let m = low_mask(hi) & !low_mask(lo);
        // SAFETY: the token proves AVX-512F; `idx` is 16 `i32`s; the gather
        // reads only the lanes of `m`, whose indices the caller guarantees
        // are inside `row`.
        unsafe {
            let idx = _mm512_loadu_si512(idx.as_ptr().cast());
            _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), m, idx, row.as_ptr())
        }
    }
}

impl Strided for Avx2 {
    #[inline(always)]
    fn strided(self, row: &[f32], first: isize, stride: usize, lo: usize, hi: usize) -> __m256 {
        if lo == 0 && (stride == 1 || stride == 2) && hi > 0 {
            let p = row.as_ptr().wrapping_add(first.unsigned_abs());
            let count = (hi - 1) * stride + 1;
            if stride == 1 {
                // SAFETY: the token proves AVX; `vmaskmovps` reads lanes
                // `0..hi`, columns `first..first + hi` inside `row`.
                return unsafe { _mm256_maskload_ps(p, prefix8(self, hi)) };
            }
            // SAFETY: the token proves AVX2; the loads read the `count`
            // columns `first..first + count` inside `row` (an empty mask
            // reads nothing); `split256` needs AVX2.
            return unsafe {
                let a = _mm256_maskload_ps(p, prefix8(self, count.min(8)));
                // No load without a lane (see the AVX-512 body).
                let b = if count > 8 {
                    _mm256_maskload_ps(p.wrapping_add(8), prefix8(self, count - 8))
                } else {
                    _mm256_setzero_ps()
                };
                split256(a, b)[0]
            };
        }
        let idx: [i32; 8] = core::array::from_fn(|j| lane_index(first, stride, j));
        let m = self.bits_to_f32(self.iand(prefix8(self, hi), self.ixor_ones(prefix8(self, lo))));
        // SAFETY: the token proves AVX2; `idx` is 8 `i32`s; the gather
        // reads only the lanes whose mask sign bit is set, whose indices the
        // caller guarantees are inside `row`.
        unsafe {
            let idx = _mm256_loadu_si256(idx.as_ptr().cast());
            _mm256_mask_i32gather_ps::<4>(_mm256_setzero_ps(), row.as_ptr(), idx, m)
        }
    }
}

impl Avx2 {
    /// `!a`.
    #[inline(always)]
    fn ixor_ones(self, a: __m256i) -> __m256i {
        // SAFETY: the token proves AVX2.
        unsafe { _mm256_xor_si256(a, _mm256_set1_epi32(-1)) }
    }
}

/// `AvgPool2d`'s output row `oh` of one plane on `S`: for each `LANES`
/// output columns, every window tap in PyTorch's `(kh, kw)` order added to
/// a register accumulator that starts at `+0.0` (lanes outside a tap's
/// range add `+0.0`, which never changes a sum that is not `−0.0`, and one
/// that starts at `+0.0` never is), then divided by `div_row`. The
/// portable kernel's operations per output, in its order: the same bits.
///
/// `cols[kw]` is the range of output columns tap `kw` reads inside the
/// input (`conv::tap_range`); `div_row` holds the row's divisors (1 where a
/// window holds no input, whose sum is then `+0`).
#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::cast_possible_wrap)]
pub(crate) fn avg_row<S: Strided, const H: usize, const W: usize, const OW: usize>(
    s: S,
    (oh, kh_n, sh, ph): (usize, usize, usize, usize),
    (sw, pw): (usize, usize),
    cols: &[(usize, usize)],
    in_plane: &[[f32; W]; H],
    out_row: &mut [f32; OW],
    div_row: &[f32; OW],
) {
    let mut j0 = 0;
    while j0 < OW {
        let n = (OW - j0).min(S::LANES);
        let mut acc = s.splat(0.0);
        for kh in 0..kh_n {
            let Some(ih) = (oh * sh + kh).checked_sub(ph) else {
                continue;
            };
            let Some(row) = in_plane.get(ih) else {
                continue;
            };
            for (kw, &(c_lo, c_hi)) in cols.iter().enumerate() {
                let lo = c_lo.max(j0);
                let hi = c_hi.min(j0 + n);
                if lo >= hi {
                    continue;
                }
                let first = (j0 * sw + kw) as isize - pw as isize;
                acc = s.add(acc, s.strided(row, first, sw, lo - j0, hi - j0));
            }
        }
        let d = s.load_or(div_row.get(j0..).unwrap_or_default(), 1.0);
        s.store(s.div(acc, d), out_row.get_mut(j0..).unwrap_or_default());
        j0 += n;
    }
}

/// Adaptive average (`max == false`) or max pooling on `S`, `LANES`
/// channels at a time: each bin folded in row-major order per channel
/// with the portable kernel's operations (sum then the same divisions, or
/// PyTorch's NaN-propagating max keeping the first of equal values), the
/// channels gathered at a stride of one plane: the same bits.
#[inline(always)]
#[allow(clippy::cast_possible_wrap, clippy::cast_precision_loss)]
pub(crate) fn adaptive<
    S: Strided,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    s: S,
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
    max: bool,
) {
    let flat = input.as_flattened().as_flattened();
    let plane = H * W;
    let mut c0 = 0;
    while c0 < C {
        let n = (C - c0).min(S::LANES);
        let base = flat.get(c0 * plane..).unwrap_or_default();
        for oh in 0..OH {
            let (h0, h1) = crate::pool::adaptive_bin(oh, OH, H);
            for ow in 0..OW {
                let (w0, w1) = crate::pool::adaptive_bin(ow, OW, W);
                let mut acc = s.splat(if max { f32::NEG_INFINITY } else { 0.0 });
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        let v = s.strided(base, (ih * W + iw) as isize, plane, 0, n);
                        acc = if max {
                            let m = s.select(s.gt(v, acc), v, acc);
                            s.select(s.is_nan(v), v, m)
                        } else {
                            s.add(acc, v)
                        };
                    }
                }
                if !max {
                    acc = if OH == 1 && OW == 1 {
                        s.div(acc, s.splat((H * W) as f32))
                    } else {
                        let a = s.div(acc, s.splat((h1 - h0) as f32));
                        s.div(a, s.splat((w1 - w0) as f32))
                    };
                }
                let mut buf = [0.0f32; 16];
                s.store(acc, &mut buf);
                for (plane_out, &v) in output.iter_mut().skip(c0).zip(buf.iter().take(n)) {
                    if let Some(o) = plane_out.get_mut(oh).and_then(|r| r.get_mut(ow)) {
                        *o = v;
                    }
                }
            }
        }
        c0 += n;
    }
}

/// The `#[target_feature]` entry points of the average and adaptive pools.
macro_rules! entry_points {
    ($token:ident, $feature:literal, $avg:ident, $adaptive:ident) => {
        /// [`avg_row`] on every row of every plane, each row's divisors
        /// computed once for all planes.
        #[target_feature(enable = $feature)]
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn $avg<
            const C: usize,
            const H: usize,
            const W: usize,
            const OH: usize,
            const OW: usize,
        >(
            rows: (usize, usize, usize),
            columns: (usize, usize),
            cols: &[(usize, usize)],
            input: &[[[f32; W]; H]; C],
            output: &mut [[[f32; OW]; OH]; C],
            divisors: impl Fn(usize, &mut [f32; OW]),
        ) {
            // SAFETY: this function is compiled with the token's features,
            // and calling it requires the CPU to have them.
            let s = unsafe { $token::new() };
            let (kh_n, sh, ph) = rows;
            let mut div_row = [1.0f32; OW];
            for oh in 0..OH {
                divisors(oh, &mut div_row);
                for (in_plane, out_plane) in input.iter().zip(output.iter_mut()) {
                    if let Some(out_row) = out_plane.get_mut(oh) {
                        avg_row(
                            s,
                            (oh, kh_n, sh, ph),
                            columns,
                            cols,
                            in_plane,
                            out_row,
                            &div_row,
                        );
                    }
                }
            }
        }

        /// [`adaptive`].
        #[target_feature(enable = $feature)]
        pub(crate) fn $adaptive<
            const C: usize,
            const H: usize,
            const W: usize,
            const OH: usize,
            const OW: usize,
        >(
            input: &[[[f32; W]; H]; C],
            output: &mut [[[f32; OW]; OH]; C],
            max: bool,
        ) {
            // SAFETY: as above.
            let s = unsafe { $token::new() };
            adaptive(s, input, output, max);
        }
    };
}

entry_points!(Avx512, "avx512f", avg_pool_avx512, adaptive_bins_avx512);

/// [`adaptive`] on AVX-512F; a global pool (one bin, `OH = OW = 1`, the
/// classifier head of DS-CNN, MobileNets and ResNets) by [`global512`].
#[target_feature(enable = "avx512f")]
pub(crate) fn adaptive_avx512<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
    max: bool,
) {
    if OH == 1 && OW == 1 {
        global512(input, output, max);
    } else {
        adaptive_bins_avx512(input, output, max);
    }
}

/// A global average (`max == false`) or max pool, 16 channels at a time:
/// 16 consecutive pixels of each channel loaded, transposed
/// ([`transpose16`]) so that each vector holds one pixel of the 16
/// channels, and folded in pixel order with [`adaptive`]'s operations, so
/// the same bits. [`adaptive`] gathers the 16 channels of a pixel at a
/// stride of one plane instead: 16 scalar loads per vector, which took
/// 5% of DS-CNN's time (`perf`, `cargo bench --bench zoo`).
#[target_feature(enable = "avx512f")]
#[allow(clippy::cast_precision_loss)] // A plane's size, far below 2^24.
fn global512<const C: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
    max: bool,
) {
    // SAFETY: this function is compiled with AVX-512F, so the CPU has it.
    let s = unsafe { Avx512::new() };
    let plane = H * W;
    let mut c0 = 0;
    while c0 < C {
        let nc = (C - c0).min(16);
        let mut acc = s.splat(if max { f32::NEG_INFINITY } else { 0.0 });
        let mut p = 0;
        while p < plane {
            let n = (plane - p).min(16);
            let mut r = [s.splat(0.0); 16];
            for (v, channel) in r.iter_mut().zip(input.iter().skip(c0).take(nc)) {
                let pixels = channel.as_flattened().get(p..p + n).unwrap_or_default();
                *v = s.load_or(pixels, 0.0);
            }
            transpose16(&mut r);
            for &v in r.iter().take(n) {
                acc = if max {
                    let m = s.select(s.gt(v, acc), v, acc);
                    s.select(s.is_nan(v), v, m)
                } else {
                    s.add(acc, v)
                };
            }
            p += n;
        }
        if !max {
            acc = s.div(acc, s.splat(plane as f32));
        }
        let mut buf = [0.0f32; 16];
        s.store(acc, &mut buf);
        for (plane_out, &v) in output.iter_mut().skip(c0).zip(buf.iter().take(nc)) {
            if let Some(o) = plane_out.get_mut(0).and_then(|r| r.get_mut(0)) {
                *o = v;
            }
        }
        c0 += nc;
    }
}
entry_points!(Avx2, "avx2,fma", avg_pool_avx2, adaptive_avx2);
