//! SIMD bodies of the activations: [`crate::act::relu`] (`x < 0 ? 0 : x`
//! per lane, exactly the portable result: NaN and `-0.0` are kept,
//! negatives become `+0.0`); the other piecewise-linear ones and the
//! transcendental ones ([`super::math`]'s generic code on the
//! [`super::lanes`] tokens) and (log-)softmax, one `#[target_feature]`
//! entry point per instruction set; and the fused activations of
//! [`PostAct`] on one vector, for the stores of the convolution and linear
//! bodies.
//!
//! # The fused activations are the portable ones, bit for bit
//!
//! Each does the portable function's IEEE operations in the same order, so
//! every lane is rounded the same way. The clamps use `vmaxps`/`vminps`,
//! whose result is their *second* operand when the comparison is false
//! (either operand NaN, or `±0` against `±0`): `max(0, v)` is
//! `0 > v ? 0 : v`, exactly the portable `v < 0 ? 0 : v` (NaN and `-0.0`
//! kept), and `min(6, v)` is `6 < v ? 6 : v`, exactly `f32::clamp`'s upper
//! bound (NaN kept). Hardswish and hardsigmoid divide by 6 as the portable
//! code does (a multiply by `1/6` would round differently).

use super::lanes::{Avx2, Avx512};
use super::math::{self, Unary};
use crate::act::PostAct;
use core::arch::x86_64::{
    __m256, __m512, _mm256_add_ps, _mm256_andnot_ps, _mm256_blendv_ps, _mm256_cmp_ps,
    _mm256_div_ps, _mm256_loadu_ps, _mm256_max_ps, _mm256_min_ps, _mm256_mul_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_storeu_ps, _mm512_add_ps, _mm512_cmp_ps_mask, _mm512_div_ps,
    _mm512_loadu_ps, _mm512_mask_blend_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
    _mm512_maskz_mov_ps, _mm512_max_ps, _mm512_min_ps, _mm512_mul_ps, _mm512_set1_ps,
    _mm512_setzero_ps, _mm512_storeu_ps, _CMP_GT_OQ, _CMP_LT_OQ, _CMP_NLT_UQ,
};

/// `act` on every lane of every vector of `vs`; see the module docs. One
/// `match`, then a loop per activation: called on a block's accumulators,
/// which stay in registers, the loop unrolls into straight-line code.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn post_act512(vs: &mut [__m512], act: PostAct) {
    let zero = _mm512_setzero_ps();
    let three = _mm512_set1_ps(3.0);
    let six = _mm512_set1_ps(6.0);
    // `min(max(x, 0), 6)` as `f32::clamp(x, 0, 6)`.
    let clamp = |x| _mm512_min_ps(six, _mm512_max_ps(zero, x));
    match act {
        PostAct::None => {}
        PostAct::Relu => vs.iter_mut().for_each(|v| *v = _mm512_max_ps(zero, *v)),
        PostAct::Relu6 => vs.iter_mut().for_each(|v| *v = clamp(*v)),
        PostAct::LeakyRelu(slope) => {
            let slope = _mm512_set1_ps(slope);
            for v in vs {
                let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(*v, zero);
                *v = _mm512_mask_blend_ps(positive, _mm512_mul_ps(*v, slope), *v);
            }
        }
        PostAct::Hardswish => vs.iter_mut().for_each(|v| {
            *v = _mm512_div_ps(_mm512_mul_ps(*v, clamp(_mm512_add_ps(*v, three))), six);
        }),
        PostAct::Hardsigmoid => vs
            .iter_mut()
            .for_each(|v| *v = _mm512_div_ps(clamp(_mm512_add_ps(*v, three)), six)),
    }
}

/// `act` on every lane of every vector of `vs`; see [`post_act512`].
#[target_feature(enable = "avx")]
#[inline]
pub(crate) fn post_act256(vs: &mut [__m256], act: PostAct) {
    let zero = _mm256_setzero_ps();
    let three = _mm256_set1_ps(3.0);
    let six = _mm256_set1_ps(6.0);
    // `min(max(x, 0), 6)` as `f32::clamp(x, 0, 6)`.
    let clamp = |x| _mm256_min_ps(six, _mm256_max_ps(zero, x));
    match act {
        PostAct::None => {}
        PostAct::Relu => vs.iter_mut().for_each(|v| *v = _mm256_max_ps(zero, *v)),
        PostAct::Relu6 => vs.iter_mut().for_each(|v| *v = clamp(*v)),
        PostAct::LeakyRelu(slope) => {
            let slope = _mm256_set1_ps(slope);
            for v in vs {
                // All ones where `v > 0` (false for NaN): keep `v` there.
                let positive = _mm256_cmp_ps::<_CMP_GT_OQ>(*v, zero);
                *v = _mm256_blendv_ps(_mm256_mul_ps(*v, slope), *v, positive);
            }
        }
        PostAct::Hardswish => vs.iter_mut().for_each(|v| {
            *v = _mm256_div_ps(_mm256_mul_ps(*v, clamp(_mm256_add_ps(*v, three))), six);
        }),
        PostAct::Hardsigmoid => vs
            .iter_mut()
            .for_each(|v| *v = _mm256_div_ps(clamp(_mm256_add_ps(*v, three)), six)),
    }
}

/// ReLU on the first `n <= 16` floats at `p`, with masked loads and stores.
///
/// # Safety
///
/// The CPU must have AVX-512F and `p..p + n` must be valid for reads and
/// writes.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn relu16_masked(p: *mut f32, n: usize) {
    // `n <= 16`.
    #[allow(clippy::cast_possible_truncation)]
    let m = ((1u32 << n) - 1) as u16;
    // SAFETY: the masked load and store touch only lanes `0..n`, which the
    // caller guarantees are valid.
    unsafe {
        let v = _mm512_maskz_loadu_ps(m, p);
        let keep = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(v, _mm512_setzero_ps());
        _mm512_mask_storeu_ps(p, m, _mm512_maskz_mov_ps(keep, v));
    }
}

/// The AVX-512F body. The floats before the first 64-byte boundary and
/// after the last full vector are done with masked loads and stores, so
/// that every full-vector store is aligned (a 64-byte store that straddles
/// two cache lines costs two).
#[target_feature(enable = "avx512f")]
pub(crate) fn relu_avx512(x: &mut [f32]) {
    let head = x.as_ptr().align_offset(64).min(x.len()).min(16);
    let (head, body) = x.split_at_mut(head);
    // SAFETY: AVX-512F is enabled on this function; `head` holds
    // `head.len() <= 16` floats.
    unsafe { relu16_masked(head.as_mut_ptr(), head.len()) };
    let zero = _mm512_setzero_ps();
    let mut chunks = body.chunks_exact_mut(16);
    for chunk in &mut chunks {
        let p = chunk.as_mut_ptr();
        // SAFETY: AVX-512F is enabled on this function; `chunk` holds
        // exactly 16 floats at `p`.
        unsafe {
            let v = _mm512_loadu_ps(p);
            // Keep the lanes that are not `< 0` (NaN included), zero the rest.
            let keep = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(v, zero);
            _mm512_storeu_ps(p, _mm512_maskz_mov_ps(keep, v));
        }
    }
    let rest = chunks.into_remainder();
    // SAFETY: AVX-512F is enabled on this function; `rest` holds
    // `rest.len() < 16` floats.
    unsafe { relu16_masked(rest.as_mut_ptr(), rest.len()) };
}

/// The AVX2 body (AVX suffices; dispatched with AVX2 + FMA like the
/// others).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn relu_avx2(x: &mut [f32]) {
    let zero = _mm256_setzero_ps();
    let mut chunks = x.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let p = chunk.as_mut_ptr();
        // SAFETY: AVX is enabled on this function; `chunk` holds exactly 8
        // floats at `p`.
        unsafe {
            let v = _mm256_loadu_ps(p);
            // All-ones where `v < 0` (false for NaN): those lanes become +0.
            let negative = _mm256_cmp_ps::<_CMP_LT_OQ>(v, zero);
            _mm256_storeu_ps(p, _mm256_andnot_ps(negative, v));
        }
    }
    for v in chunks.into_remainder() {
        if *v < 0.0 {
            *v = 0.0;
        }
    }
}

/// [`math::apply`]`(k)` on every element of `x` with 16 lanes.
#[target_feature(enable = "avx512f")]
pub(crate) fn unary_avx512(x: &mut [f32], k: Unary) {
    // SAFETY: this function is compiled with AVX-512F, and calling it
    // requires the CPU to have it.
    let s = unsafe { Avx512::new() };
    math::apply(s, k, x);
}

/// [`math::apply`]`(k)` on every element of `x` with 8 lanes.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn unary_avx2(x: &mut [f32], k: Unary) {
    // SAFETY: this function is compiled with AVX2 and FMA, and calling it
    // requires the CPU to have them.
    let s = unsafe { Avx2::new() };
    math::apply(s, k, x);
}

/// A piecewise-linear activation on every element of `x` with 16 lanes:
/// the portable bits (see the module docs).
#[target_feature(enable = "avx512f")]
pub(crate) fn piecewise_avx512(x: &mut [f32], act: PostAct) {
    // SAFETY: as in `unary_avx512`.
    let s = unsafe { Avx512::new() };
    math::piecewise(s, act, x);
}

/// A piecewise-linear activation on every element of `x` with 8 lanes.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn piecewise_avx2(x: &mut [f32], act: PostAct) {
    // SAFETY: as in `unary_avx2`.
    let s = unsafe { Avx2::new() };
    math::piecewise(s, act, x);
}

/// [`math::normalize`] with 16 lanes.
#[target_feature(enable = "avx512f")]
pub(crate) fn normalize_avx512(x: &mut [f32], d: usize, inner: usize, log: bool) {
    // SAFETY: as in `unary_avx512`.
    let s = unsafe { Avx512::new() };
    math::normalize(s, x, d, inner, log);
}

/// [`math::normalize`] with 8 lanes.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn normalize_avx2(x: &mut [f32], d: usize, inner: usize, log: bool) {
    // SAFETY: as in `unary_avx2`.
    let s = unsafe { Avx2::new() };
    math::normalize(s, x, d, inner, log);
}

/// [`post_act512`] on 16 floats in memory, for the tests.
#[cfg(test)]
#[target_feature(enable = "avx512f")]
pub(crate) fn post_act512_on(x: &mut [f32; 16], act: PostAct) {
    // SAFETY: AVX-512F is enabled on this function; `x` holds 16 floats.
    let mut v = [unsafe { _mm512_loadu_ps(x.as_ptr()) }];
    post_act512(&mut v, act);
    // SAFETY: as above.
    unsafe { _mm512_storeu_ps(x.as_mut_ptr(), v[0]) };
}

/// [`post_act256`] on 8 floats in memory, for the tests.
#[cfg(test)]
#[target_feature(enable = "avx")]
pub(crate) fn post_act256_on(x: &mut [f32; 8], act: PostAct) {
    // SAFETY: AVX is enabled on this function; `x` holds 8 floats.
    let mut v = [unsafe { _mm256_loadu_ps(x.as_ptr()) }];
    post_act256(&mut v, act);
    // SAFETY: as above.
    unsafe { _mm256_storeu_ps(x.as_mut_ptr(), v[0]) };
}
