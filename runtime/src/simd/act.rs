//! SIMD bodies of [`crate::act::relu`]: `x < 0 ? 0 : x` per lane, exactly
//! the portable result (NaN and `-0.0` are kept, negatives become `+0.0`).

use core::arch::x86_64::{
    _mm256_andnot_ps, _mm256_cmp_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    _mm512_cmp_ps_mask, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
    _mm512_maskz_mov_ps, _mm512_setzero_ps, _mm512_storeu_ps, _CMP_LT_OQ, _CMP_NLT_UQ,
};

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
