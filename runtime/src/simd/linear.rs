//! SIMD bodies of [`crate::linear::linear`]: a matrix-vector product.
//!
//! # Algorithm
//!
//! The weight is `[O][I]` row-major, so every output is the dot product of
//! one contiguous weight row with the input. Rows go in blocks of 8 (then
//! 4, 2, 1 for the rest): one accumulator vector per row, and each input
//! vector, loaded once, feeds the fused multiply-adds of all 8 rows (eight
//! independent dependency chains keep the FMA units busy). The `I % LANES`
//! leftover columns are a masked load. At the end the eight accumulators
//! are reduced together by a transposing tree of horizontal adds into one
//! vector of eight sums, the bias is added and the eight outputs are stored
//! at once.
//!
//! Output `o` is `(Σ_lanes Σ_chunks w·x) + bias[o]`: lane `l` of the
//! accumulator sums the columns `≡ l (mod LANES)` in column order, then the
//! lanes are summed pairwise. The activation of [`crate::linear::linear_fused`]
//! is applied to the eight sums in a register before the store
//! (`simd/act.rs`), or to each single sum with the portable code.

use super::act::post_act256;
use crate::act::PostAct;
use core::arch::x86_64::{
    __m256, __m256i, __m512, _mm256_add_ps, _mm256_castpd_ps, _mm256_castps256_ps128,
    _mm256_cmpgt_epi32, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_hadd_ps, _mm256_loadu_ps,
    _mm256_maskload_ps, _mm256_permute2f128_ps, _mm256_set1_epi32, _mm256_set1_ps,
    _mm256_setr_epi32, _mm256_storeu_ps, _mm512_castps512_ps256, _mm512_castps_pd,
    _mm512_extractf64x4_pd, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_maskz_loadu_ps,
    _mm512_reduce_add_ps, _mm512_set1_ps, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehdup_ps,
    _mm_movehl_ps,
};

/// Sums eight vectors of eight lanes: lane `r` of the result is the sum of
/// the lanes of `s[r]`.
#[target_feature(enable = "avx")]
#[inline]
fn sum8(s: [__m256; 8]) -> __m256 {
    // hadd works within 128-bit halves: after two rounds, half 0 of `u0`
    // holds the low-half sums of s0..s3 and half 1 their high-half sums.
    let t0 = _mm256_hadd_ps(s[0], s[1]);
    let t1 = _mm256_hadd_ps(s[2], s[3]);
    let t2 = _mm256_hadd_ps(s[4], s[5]);
    let t3 = _mm256_hadd_ps(s[6], s[7]);
    let u0 = _mm256_hadd_ps(t0, t1);
    let u1 = _mm256_hadd_ps(t2, t3);
    _mm256_add_ps(
        _mm256_permute2f128_ps::<0x20>(u0, u1),
        _mm256_permute2f128_ps::<0x31>(u0, u1),
    )
}

/// Adds the bias (if any) to eight sums, applies `act` and stores them at
/// `output[o..o + 8]`.
#[target_feature(enable = "avx")]
#[inline]
fn store8<const O: usize>(
    sums: __m256,
    bias: Option<&[f32; O]>,
    act: PostAct,
    output: &mut [f32; O],
    o: usize,
) {
    let sums = match bias {
        Some(b) => {
            let b = &b[o..o + 8];
            // SAFETY: AVX is enabled on this function; `b` has 8 elements.
            _mm256_add_ps(sums, unsafe { _mm256_loadu_ps(b.as_ptr()) })
        }
        None => sums,
    };
    let mut sums = [sums];
    post_act256(&mut sums, act);
    let [sums] = sums;
    let out = &mut output[o..o + 8];
    // SAFETY: AVX is enabled on this function; `out` has 8 elements.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sums) };
}

/// The AVX-512F body: 16 lanes.
pub(crate) mod avx512 {
    #![allow(clippy::wildcard_imports)]
    use super::*;

    const LANES: usize = 16;

    /// Per row, the vector of partial sums of `w[r] · x`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::needless_range_loop)]
    fn dots<const R: usize, const I: usize>(x: &[f32; I], w: &[[f32; I]]) -> [__m512; R] {
        let w: &[[f32; I]; R] = w.try_into().expect("R rows");
        let mut acc = [_mm512_set1_ps(0.0); R];
        let mut i = 0;
        while i + LANES <= I {
            // SAFETY: AVX-512F is enabled on this function; `i + 16 <= I`,
            // so the 16 floats at `i` are inside `x` and inside every row.
            let xv = unsafe { _mm512_loadu_ps(x.as_ptr().add(i)) };
            for r in 0..R {
                // SAFETY: as above, `i + 16 <= I`.
                let wv = unsafe { _mm512_loadu_ps(w[r].as_ptr().add(i)) };
                acc[r] = _mm512_fmadd_ps(wv, xv, acc[r]);
            }
            i += LANES;
        }
        if i < I {
            // The low `I - i < 16` lanes.
            #[allow(clippy::cast_possible_truncation)] // `I - i < 16`.
            let m = ((1u32 << (I - i)) - 1) as u16;
            // SAFETY: AVX-512F is enabled on this function; the masked load
            // reads only lanes `0..I - i`, floats `i..I` of `x`.
            let xv = unsafe { _mm512_maskz_loadu_ps(m, x.as_ptr().add(i)) };
            for r in 0..R {
                // SAFETY: as above, floats `i..I` of the row.
                let wv = unsafe { _mm512_maskz_loadu_ps(m, w[r].as_ptr().add(i)) };
                acc[r] = _mm512_fmadd_ps(wv, xv, acc[r]);
            }
        }
        acc
    }

    /// Rows `o..o + R` one by one (`R < 8`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn rows<const R: usize, const I: usize, const O: usize>(
        input: &[f32; I],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        output: &mut [f32; O],
        o: usize,
    ) {
        let acc = dots::<R, I>(input, &weight[o..o + R]);
        for (r, a) in acc.into_iter().enumerate() {
            output[o + r] = act.apply(_mm512_reduce_add_ps(a) + bias.map_or(0.0, |b| b[o + r]));
        }
    }

    /// [`crate::linear::linear_fused`]; see the [module docs](super).
    #[target_feature(enable = "avx512f")]
    pub(crate) fn linear<const I: usize, const O: usize>(
        input: &[f32; I],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        output: &mut [f32; O],
    ) {
        let mut o = 0;
        while o + 8 <= O {
            let acc = dots::<8, I>(input, &weight[o..o + 8]);
            let mut halves = [_mm256_set1_ps(0.0); 8];
            for (h, a) in halves.iter_mut().zip(acc) {
                // 16 lanes to 8: low half + high half.
                let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(a)));
                *h = _mm256_add_ps(_mm512_castps512_ps256(a), hi);
            }
            store8(sum8(halves), bias, act, output, o);
            o += 8;
        }
        if o + 4 <= O {
            rows::<4, I, O>(input, weight, bias, act, output, o);
            o += 4;
        }
        if o + 2 <= O {
            rows::<2, I, O>(input, weight, bias, act, output, o);
            o += 2;
        }
        if o < O {
            rows::<1, I, O>(input, weight, bias, act, output, o);
        }
    }
}

/// The AVX2 + FMA body: 8 lanes.
pub(crate) mod avx2 {
    #![allow(clippy::wildcard_imports)]
    use super::*;

    const LANES: usize = 8;

    /// The sum of the 8 lanes of `v`.
    #[target_feature(enable = "avx")]
    #[inline]
    fn hsum(v: __m256) -> f32 {
        let q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let d = _mm_add_ps(q, _mm_movehl_ps(q, q));
        _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)))
    }

    /// Per row, the vector of partial sums of `w[r] · x`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::needless_range_loop)]
    fn dots<const R: usize, const I: usize>(x: &[f32; I], w: &[[f32; I]]) -> [__m256; R] {
        let w: &[[f32; I]; R] = w.try_into().expect("R rows");
        let mut acc = [_mm256_set1_ps(0.0); R];
        let mut i = 0;
        while i + LANES <= I {
            // SAFETY: AVX is enabled on this function; `i + 8 <= I`, so the
            // 8 floats at `i` are inside `x` and inside every row.
            let xv = unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) };
            for r in 0..R {
                // SAFETY: as above, `i + 8 <= I`.
                let wv = unsafe { _mm256_loadu_ps(w[r].as_ptr().add(i)) };
                acc[r] = _mm256_fmadd_ps(wv, xv, acc[r]);
            }
            i += LANES;
        }
        if i < I {
            // Lanes `0..I - i`, `I - i < 8`.
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            let n = (I - i) as i32;
            let m: __m256i = _mm256_cmpgt_epi32(
                _mm256_set1_epi32(n),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            );
            // SAFETY: AVX is enabled on this function; `vmaskmovps` reads
            // only the lanes of `m`, floats `i..I` of `x` (no fault on the
            // others, which read as zero).
            let xv = unsafe { _mm256_maskload_ps(x.as_ptr().add(i), m) };
            for r in 0..R {
                // SAFETY: as above, floats `i..I` of the row.
                let wv = unsafe { _mm256_maskload_ps(w[r].as_ptr().add(i), m) };
                acc[r] = _mm256_fmadd_ps(wv, xv, acc[r]);
            }
        }
        acc
    }

    /// Rows `o..o + R` one by one (`R < 8`).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn rows<const R: usize, const I: usize, const O: usize>(
        input: &[f32; I],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        output: &mut [f32; O],
        o: usize,
    ) {
        let acc = dots::<R, I>(input, &weight[o..o + R]);
        for (r, a) in acc.into_iter().enumerate() {
            output[o + r] = act.apply(hsum(a) + bias.map_or(0.0, |b| b[o + r]));
        }
    }

    /// [`crate::linear::linear_fused`]; see the [module docs](super).
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn linear<const I: usize, const O: usize>(
        input: &[f32; I],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        output: &mut [f32; O],
    ) {
        let mut o = 0;
        while o + 8 <= O {
            let acc = dots::<8, I>(input, &weight[o..o + 8]);
            store8(sum8(acc), bias, act, output, o);
            o += 8;
        }
        if o + 4 <= O {
            rows::<4, I, O>(input, weight, bias, act, output, o);
            o += 4;
        }
        if o + 2 <= O {
            rows::<2, I, O>(input, weight, bias, act, output, o);
            o += 2;
        }
        if o < O {
            rows::<1, I, O>(input, weight, bias, act, output, o);
        }
    }
}
