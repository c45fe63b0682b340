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
//!
//! # Many samples ([`crate::linear::linear_batch`])
//!
//! One sample reads every weight once for `2·I·O` FLOP: the layer is bound
//! by the bandwidth that brings the weights in, not by the FMA units (a
//! 640 → 128 layer streams 320 KiB per sample). With several samples at
//! hand, each block of 4 weight rows is loaded once for 3 samples at a
//! time (12 accumulators: 4 weight loads and 3 input loads per 12 FMAs,
//! AVX2; 4 × 4 with AVX-512F) and reused, from L1, for every sample of
//! the batch before the next block. Every accumulator is the one the
//! single-sample body computes (the same FMAs in the same order), and it is
//! reduced by the same tree (`sum4` is `sum8`'s arithmetic on four rows;
//! the `O % 8` last rows run the single-sample code per sample), so each
//! output has the single-sample bits.

use super::act::post_act256;
use crate::act::PostAct;
use crate::tensor::{head, head_mut};
use core::arch::x86_64::{
    __m128, __m256, __m256i, __m512, _mm256_add_ps, _mm256_castpd_ps, _mm256_castps128_ps256,
    _mm256_castps256_ps128, _mm256_cmpgt_epi32, _mm256_extractf128_ps, _mm256_fmadd_ps,
    _mm256_hadd_ps, _mm256_loadu_ps, _mm256_maskload_ps, _mm256_permute2f128_ps, _mm256_set1_epi32,
    _mm256_set1_ps, _mm256_setr_epi32, _mm256_storeu_ps, _mm512_castps512_ps256, _mm512_castps_pd,
    _mm512_extractf64x4_pd, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_maskz_loadu_ps,
    _mm512_reduce_add_ps, _mm512_set1_ps, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_loadu_ps,
    _mm_movehdup_ps, _mm_movehl_ps, _mm_storeu_ps,
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

/// Sums four vectors of eight lanes: lane `r` of the result is the sum of
/// the lanes of `s[r]`, with [`sum8`]'s additions in [`sum8`]'s order.
#[target_feature(enable = "avx")]
#[inline]
fn sum4(s: [__m256; 4]) -> __m128 {
    let u = _mm256_hadd_ps(_mm256_hadd_ps(s[0], s[1]), _mm256_hadd_ps(s[2], s[3]));
    _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps::<1>(u))
}

/// [`store8`] for four sums, at `output[o..o + 4]`: the bias added with
/// the same instruction on four lanes, the activation on a vector whose
/// upper half is never stored.
#[target_feature(enable = "avx")]
#[inline]
fn store4<const O: usize>(
    sums: __m128,
    bias: Option<&[f32; O]>,
    act: PostAct,
    output: &mut [f32; O],
    o: usize,
) {
    let sums = match bias {
        Some(b) => {
            let b = &b[o..o + 4];
            // SAFETY: AVX is enabled on this function; `b` has 4 elements.
            _mm_add_ps(sums, unsafe { _mm_loadu_ps(b.as_ptr()) })
        }
        None => sums,
    };
    let mut wide = [_mm256_castps128_ps256(sums)];
    post_act256(&mut wide, act);
    let out = &mut output[o..o + 4];
    // SAFETY: AVX is enabled on this function; `out` has 4 elements.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), _mm256_castps256_ps128(wide[0])) };
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

    /// Per sample `s` and row `r`, the vector of partial sums of
    /// `w[r] · x[s]`: each weight vector is loaded once for the `S`
    /// samples.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::needless_range_loop)]
    fn dots<const R: usize, const S: usize, const I: usize>(
        x: [&[f32; I]; S],
        w: &[[f32; I]],
    ) -> [[__m512; R]; S] {
        let w: &[[f32; I]; R] = w.try_into().expect("R rows");
        let mut acc = [[_mm512_set1_ps(0.0); R]; S];
        let mut i = 0;
        while i + LANES <= I {
            // SAFETY: AVX-512F is enabled on this function; `i + 16 <= I`,
            // so the 16 floats at `i` are inside every input and every row.
            let xv = x.map(|x| unsafe { _mm512_loadu_ps(x.as_ptr().add(i)) });
            for r in 0..R {
                // SAFETY: as above, `i + 16 <= I`.
                let wv = unsafe { _mm512_loadu_ps(w[r].as_ptr().add(i)) };
                for s in 0..S {
                    acc[s][r] = _mm512_fmadd_ps(wv, xv[s], acc[s][r]);
                }
            }
            i += LANES;
        }
        if i < I {
            // The low `I - i < 16` lanes.
            #[allow(clippy::cast_possible_truncation)] // `I - i < 16`.
            let m = ((1u32 << (I - i)) - 1) as u16;
            // SAFETY: AVX-512F is enabled on this function; the masked load
            // reads only lanes `0..I - i`, floats `i..I` of each input.
            let xv = x.map(|x| unsafe { _mm512_maskz_loadu_ps(m, x.as_ptr().add(i)) });
            for r in 0..R {
                // SAFETY: as above, floats `i..I` of the row.
                let wv = unsafe { _mm512_maskz_loadu_ps(m, w[r].as_ptr().add(i)) };
                for s in 0..S {
                    acc[s][r] = _mm512_fmadd_ps(wv, xv[s], acc[s][r]);
                }
            }
        }
        acc
    }

    /// 16 lanes to 8: low half + high half.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn halve(a: __m512) -> __m256 {
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(a)));
        _mm256_add_ps(_mm512_castps512_ps256(a), hi)
    }

    /// Rows `o..O` (fewer than 8) one block of 4, 2, 1 at a time, each
    /// sum reduced alone.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tail<const I: usize, const O: usize>(
        input: &[f32; I],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        output: &mut [f32; O],
        mut o: usize,
    ) {
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
        let [acc] = dots::<R, 1, I>([input], &weight[o..o + R]);
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
            let [acc] = dots::<8, 1, I>([input], &weight[o..o + 8]);
            store8(sum8(acc.map(|a| halve(a))), bias, act, output, o);
            o += 8;
        }
        tail(input, weight, bias, act, output, o);
    }

    /// Rows `o..o + 4` (inside the blocks of 8) for the `S` samples of
    /// `inputs` and `outputs` (both `S` long).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn group<const S: usize, const I: usize, const O: usize, const W: usize>(
        inputs: &[[f32; W]],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        outputs: &mut [[f32; W]],
        o: usize,
    ) {
        let acc = dots::<4, S, I>(
            core::array::from_fn(|s| head(&inputs[s])),
            &weight[o..o + 4],
        );
        for (a, y) in acc.into_iter().zip(outputs) {
            store4(sum4(a.map(|v| halve(v))), bias, act, head_mut(y), o);
        }
    }

    /// [`crate::linear::linear_batch`]; see the [module docs](super).
    #[target_feature(enable = "avx512f")]
    pub(crate) fn linear_batch<const I: usize, const O: usize, const W: usize>(
        inputs: &[[f32; W]],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        outputs: &mut [[f32; W]],
    ) {
        let blocks = O / 8 * 8;
        let n = inputs.len().min(outputs.len());
        for o in (0..blocks).step_by(4) {
            let mut s = 0;
            while s + 4 <= n {
                group::<4, I, O, W>(
                    &inputs[s..s + 4],
                    weight,
                    bias,
                    act,
                    &mut outputs[s..s + 4],
                    o,
                );
                s += 4;
            }
            match n - s {
                3 => group::<3, I, O, W>(&inputs[s..], weight, bias, act, &mut outputs[s..], o),
                2 => group::<2, I, O, W>(&inputs[s..], weight, bias, act, &mut outputs[s..], o),
                1 => group::<1, I, O, W>(&inputs[s..], weight, bias, act, &mut outputs[s..], o),
                _ => {}
            }
        }
        for (x, y) in inputs.iter().zip(outputs.iter_mut()) {
            tail(head(x), weight, bias, act, head_mut(y), blocks);
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

    /// Per sample `s` and row `r`, the vector of partial sums of
    /// `w[r] · x[s]`: each weight vector is loaded once for the `S`
    /// samples.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::needless_range_loop)]
    fn dots<const R: usize, const S: usize, const I: usize>(
        x: [&[f32; I]; S],
        w: &[[f32; I]],
    ) -> [[__m256; R]; S] {
        let w: &[[f32; I]; R] = w.try_into().expect("R rows");
        let mut acc = [[_mm256_set1_ps(0.0); R]; S];
        let mut i = 0;
        while i + LANES <= I {
            // SAFETY: AVX is enabled on this function; `i + 8 <= I`, so the
            // 8 floats at `i` are inside every input and every row.
            let xv = x.map(|x| unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) });
            for r in 0..R {
                // SAFETY: as above, `i + 8 <= I`.
                let wv = unsafe { _mm256_loadu_ps(w[r].as_ptr().add(i)) };
                for s in 0..S {
                    acc[s][r] = _mm256_fmadd_ps(wv, xv[s], acc[s][r]);
                }
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
            // only the lanes of `m`, floats `i..I` of each input (no fault
            // on the others, which read as zero).
            let xv = x.map(|x| unsafe { _mm256_maskload_ps(x.as_ptr().add(i), m) });
            for r in 0..R {
                // SAFETY: as above, floats `i..I` of the row.
                let wv = unsafe { _mm256_maskload_ps(w[r].as_ptr().add(i), m) };
                for s in 0..S {
                    acc[s][r] = _mm256_fmadd_ps(wv, xv[s], acc[s][r]);
                }
            }
        }
        acc
    }

    /// Rows `o..O` (fewer than 8) one block of 4, 2, 1 at a time, each
    /// sum reduced alone.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn tail<const I: usize, const O: usize>(
        input: &[f32; I],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        output: &mut [f32; O],
        mut o: usize,
    ) {
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
        let [acc] = dots::<R, 1, I>([input], &weight[o..o + R]);
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
            let [acc] = dots::<8, 1, I>([input], &weight[o..o + 8]);
            store8(sum8(acc), bias, act, output, o);
            o += 8;
        }
        tail(input, weight, bias, act, output, o);
    }

    /// Rows `o..o + 4` (inside the blocks of 8) for the `S` samples of
    /// `inputs` and `outputs` (both `S` long).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn group<const S: usize, const I: usize, const O: usize, const W: usize>(
        inputs: &[[f32; W]],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        outputs: &mut [[f32; W]],
        o: usize,
    ) {
        let acc = dots::<4, S, I>(
            core::array::from_fn(|s| head(&inputs[s])),
            &weight[o..o + 4],
        );
        for (a, y) in acc.into_iter().zip(outputs) {
            store4(sum4(a), bias, act, head_mut(y), o);
        }
    }

    /// [`crate::linear::linear_batch`]; see the [module docs](super).
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn linear_batch<const I: usize, const O: usize, const W: usize>(
        inputs: &[[f32; W]],
        weight: &[[f32; I]; O],
        bias: Option<&[f32; O]>,
        act: PostAct,
        outputs: &mut [[f32; W]],
    ) {
        let blocks = O / 8 * 8;
        let n = inputs.len().min(outputs.len());
        for o in (0..blocks).step_by(4) {
            let mut s = 0;
            while s + 3 <= n {
                group::<3, I, O, W>(
                    &inputs[s..s + 3],
                    weight,
                    bias,
                    act,
                    &mut outputs[s..s + 3],
                    o,
                );
                s += 3;
            }
            match n - s {
                2 => group::<2, I, O, W>(&inputs[s..], weight, bias, act, &mut outputs[s..], o),
                1 => group::<1, I, O, W>(&inputs[s..], weight, bias, act, &mut outputs[s..], o),
                _ => {}
            }
        }
        for (x, y) in inputs.iter().zip(outputs.iter_mut()) {
            tail(head(x), weight, bias, act, head_mut(y), blocks);
        }
    }
}
