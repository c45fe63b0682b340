//! The x86-64 implementations of [`Simd`]: [`Avx2`] (8 lanes, AVX2 + FMA)
//! and [`Avx512`] (16 lanes, AVX-512F).
//!
//! Each is a zero-sized token that exists only where the CPU has the
//! features (made by the `unsafe` `new` inside a `#[target_feature]`
//! function, which can only be called on such a CPU), which is what makes
//! its methods' intrinsic calls sound. Every method is `#[inline(always)]`: called from
//! a `#[target_feature]` function (the `*_avx2` / `*_avx512` entry points),
//! the generic code and then the intrinsics inline into it, so LLVM sees
//! one function compiled for the features.
//!
//! `max`/`min` are `vmaxps`/`vminps`, whose result is the second operand
//! when the comparison is false (NaN, or `±0` against `±0`), exactly the
//! [`Simd`] contract and [`super::math::Scalar`]'s `a > b ? a : b`.

#![allow(clippy::inline_always)] // Must inline into #[target_feature] callers.

use super::math::{Lanewise, Simd};
use core::arch::x86_64::{
    __m256, __m256i, __m512, __m512i, __mmask16, _mm256_add_epi32, _mm256_add_ps, _mm256_and_si256,
    _mm256_blendv_ps, _mm256_castps_si256, _mm256_castsi256_ps, _mm256_cmp_ps, _mm256_div_ps,
    _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_loadu_si256, _mm256_maskload_ps, _mm256_maskstore_ps,
    _mm256_max_ps, _mm256_min_ps, _mm256_mul_ps, _mm256_or_si256, _mm256_set1_epi32,
    _mm256_set1_ps, _mm256_slli_epi32, _mm256_srai_epi32, _mm256_storeu_ps, _mm256_sub_epi32,
    _mm256_sub_ps, _mm512_add_epi32, _mm512_add_ps, _mm512_and_si512, _mm512_castps_si512,
    _mm512_castsi512_ps, _mm512_cmp_ps_mask, _mm512_div_ps, _mm512_fmadd_ps, _mm512_loadu_ps,
    _mm512_mask_blend_ps, _mm512_mask_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
    _mm512_max_ps, _mm512_min_ps, _mm512_mul_ps, _mm512_or_si512, _mm512_set1_epi32,
    _mm512_set1_ps, _mm512_slli_epi32, _mm512_srai_epi32, _mm512_storeu_ps, _mm512_sub_epi32,
    _mm512_sub_ps, _CMP_GT_OQ, _CMP_LT_OQ, _CMP_UNORD_Q,
};

/// Proof that the CPU has AVX2 and FMA.
#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The token, unchecked.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Avx2(())
    }
}

/// Proof that the CPU has AVX-512F.
#[derive(Clone, Copy)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// The token, unchecked.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Avx512(())
    }
}

/// `vmaskmov` mask of lanes `0..n`, `n <= 8`.
#[inline(always)]
pub(crate) fn prefix8(_: Avx2, n: usize) -> __m256i {
    const TABLE: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
    let start = 8 - n.min(8);
    let window = &TABLE[start..start + 8];
    // SAFETY: the token proves AVX; `window` is 8 `i32`s.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

/// The low `n` bits set, `n <= 16`.
#[inline(always)]
pub(crate) fn low_mask(n: usize) -> __mmask16 {
    // `n <= 16`: fits in 16 bits.
    #[allow(clippy::cast_possible_truncation)]
    let m = ((1u32 << n.min(16)) - 1) as u16;
    m
}

/// Implements a binary [`Simd`] method with one intrinsic.
macro_rules! op {
    ($name:ident, $t:ty, $intr:ident) => {
        #[inline(always)]
        fn $name(self, a: $t, b: $t) -> $t {
            // SAFETY: the token proves the CPU has the instruction set.
            unsafe { $intr(a, b) }
        }
    };
}

impl Simd for Avx2 {
    type V = __m256;
    type I = __m256i;
    type M = __m256;
    const LANES: usize = 8;

    #[inline(always)]
    fn splat(self, v: f32) -> __m256 {
        // SAFETY: the token proves the CPU has AVX.
        unsafe { _mm256_set1_ps(v) }
    }
    op!(add, __m256, _mm256_add_ps);
    op!(sub, __m256, _mm256_sub_ps);
    op!(mul, __m256, _mm256_mul_ps);
    op!(div, __m256, _mm256_div_ps);
    op!(max, __m256, _mm256_max_ps);
    op!(min, __m256, _mm256_min_ps);
    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the token proves the CPU has FMA.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn lt(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token proves the CPU has AVX.
        unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn gt(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token proves the CPU has AVX.
        unsafe { _mm256_cmp_ps::<_CMP_GT_OQ>(a, b) }
    }
    #[inline(always)]
    fn is_nan(self, a: __m256) -> __m256 {
        // SAFETY: the token proves the CPU has AVX.
        unsafe { _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a) }
    }
    #[inline(always)]
    fn select(self, m: __m256, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token proves the CPU has AVX.
        unsafe { _mm256_blendv_ps(b, a, m) }
    }
    #[inline(always)]
    fn to_bits(self, v: __m256) -> __m256i {
        // SAFETY: the token proves the CPU has AVX.
        unsafe { _mm256_castps_si256(v) }
    }
    #[inline(always)]
    fn bits_to_f32(self, i: __m256i) -> __m256 {
        // SAFETY: the token proves the CPU has AVX.
        unsafe { _mm256_castsi256_ps(i) }
    }
    #[inline(always)]
    fn isplat(self, v: i32) -> __m256i {
        // SAFETY: the token proves the CPU has AVX.
        unsafe { _mm256_set1_epi32(v) }
    }
    op!(iadd, __m256i, _mm256_add_epi32);
    op!(isub, __m256i, _mm256_sub_epi32);
    op!(iand, __m256i, _mm256_and_si256);
    op!(ior, __m256i, _mm256_or_si256);
    #[inline(always)]
    fn shl23(self, a: __m256i) -> __m256i {
        // SAFETY: the token proves the CPU has AVX2.
        unsafe { _mm256_slli_epi32::<23>(a) }
    }
    #[inline(always)]
    fn sar1(self, a: __m256i) -> __m256i {
        // SAFETY: the token proves the CPU has AVX2.
        unsafe { _mm256_srai_epi32::<1>(a) }
    }
    #[inline(always)]
    fn map(self, x: &mut [f32], f: impl Lanewise<Self>) {
        let mut chunks = x.chunks_exact_mut(8);
        for c in &mut chunks {
            let p = c.as_mut_ptr();
            // SAFETY: the token proves AVX; `c` holds 8 floats at `p`.
            unsafe { _mm256_storeu_ps(p, f.at(self, _mm256_loadu_ps(p))) };
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let m = prefix8(self, rest.len());
            let p = rest.as_mut_ptr();
            // SAFETY: the token proves AVX; `vmaskmovps` touches only lanes
            // `0..rest.len()`, which `rest` holds (the others read as 0).
            unsafe { _mm256_maskstore_ps(p, m, f.at(self, _mm256_maskload_ps(p, m))) };
        }
    }
    #[inline(always)]
    fn load_or(self, x: &[f32], fill: f32) -> __m256 {
        let p = x.as_ptr();
        if x.len() >= 8 {
            // SAFETY: the token proves AVX; `x` holds 8 floats at `p`.
            return unsafe { _mm256_loadu_ps(p) };
        }
        let m = prefix8(self, x.len());
        // SAFETY: the token proves AVX; `vmaskmovps` reads only lanes
        // `0..x.len()`, which `x` holds.
        let v = unsafe { _mm256_maskload_ps(p, m) };
        self.select(self.bits_to_f32(m), v, self.splat(fill))
    }
    #[inline(always)]
    fn store(self, v: __m256, x: &mut [f32]) {
        let p = x.as_mut_ptr();
        if x.len() >= 8 {
            // SAFETY: the token proves AVX; `x` holds 8 floats at `p`.
            unsafe { _mm256_storeu_ps(p, v) };
        } else {
            // SAFETY: the token proves AVX; `vmaskmovps` writes only lanes
            // `0..x.len()`, which `x` holds.
            unsafe { _mm256_maskstore_ps(p, prefix8(self, x.len()), v) };
        }
    }
}

impl Simd for Avx512 {
    type V = __m512;
    type I = __m512i;
    type M = __mmask16;
    const LANES: usize = 16;

    #[inline(always)]
    fn splat(self, v: f32) -> __m512 {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_set1_ps(v) }
    }
    op!(add, __m512, _mm512_add_ps);
    op!(sub, __m512, _mm512_sub_ps);
    op!(mul, __m512, _mm512_mul_ps);
    op!(div, __m512, _mm512_div_ps);
    op!(max, __m512, _mm512_max_ps);
    op!(min, __m512, _mm512_min_ps);
    #[inline(always)]
    fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn gt(self, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b) }
    }
    #[inline(always)]
    fn is_nan(self, a: __m512) -> __mmask16 {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a) }
    }
    #[inline(always)]
    fn select(self, m: __mmask16, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_mask_blend_ps(m, b, a) }
    }
    #[inline(always)]
    fn to_bits(self, v: __m512) -> __m512i {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_castps_si512(v) }
    }
    #[inline(always)]
    fn bits_to_f32(self, i: __m512i) -> __m512 {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_castsi512_ps(i) }
    }
    #[inline(always)]
    fn isplat(self, v: i32) -> __m512i {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_set1_epi32(v) }
    }
    op!(iadd, __m512i, _mm512_add_epi32);
    op!(isub, __m512i, _mm512_sub_epi32);
    op!(iand, __m512i, _mm512_and_si512);
    op!(ior, __m512i, _mm512_or_si512);
    #[inline(always)]
    fn shl23(self, a: __m512i) -> __m512i {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_slli_epi32::<23>(a) }
    }
    #[inline(always)]
    fn sar1(self, a: __m512i) -> __m512i {
        // SAFETY: the token proves the CPU has AVX-512F.
        unsafe { _mm512_srai_epi32::<1>(a) }
    }
    #[inline(always)]
    fn map(self, x: &mut [f32], f: impl Lanewise<Self>) {
        // The floats before the first 64-byte boundary with a masked load
        // and store, so that every full-vector store is aligned (a 64-byte
        // store that straddles two cache lines costs two).
        let head = x.as_ptr().align_offset(64).min(x.len()).min(16);
        let (head, x) = x.split_at_mut(head);
        if !head.is_empty() {
            let m = low_mask(head.len());
            let p = head.as_mut_ptr();
            // SAFETY: the token proves AVX-512F; the masked load and store
            // touch only lanes `0..head.len()`, which `head` holds.
            unsafe { _mm512_mask_storeu_ps(p, m, f.at(self, _mm512_maskz_loadu_ps(m, p))) };
        }
        let mut chunks = x.chunks_exact_mut(16);
        for c in &mut chunks {
            let p = c.as_mut_ptr();
            // SAFETY: the token proves AVX-512F; `c` holds 16 floats at `p`.
            unsafe { _mm512_storeu_ps(p, f.at(self, _mm512_loadu_ps(p))) };
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let m = low_mask(rest.len());
            let p = rest.as_mut_ptr();
            // SAFETY: the token proves AVX-512F; the masked load and store
            // touch only lanes `0..rest.len()`, which `rest` holds.
            unsafe { _mm512_mask_storeu_ps(p, m, f.at(self, _mm512_maskz_loadu_ps(m, p))) };
        }
    }
    #[inline(always)]
    fn load_or(self, x: &[f32], fill: f32) -> __m512 {
        // SAFETY: the token proves AVX-512F; the masked load reads only
        // lanes `0..min(x.len(), 16)`, which `x` holds.
        unsafe { _mm512_mask_loadu_ps(self.splat(fill), low_mask(x.len()), x.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, v: __m512, x: &mut [f32]) {
        // SAFETY: the token proves AVX-512F; the masked store writes only
        // lanes `0..min(x.len(), 16)`, which `x` holds.
        unsafe { _mm512_mask_storeu_ps(x.as_mut_ptr(), low_mask(x.len()), v) };
    }
}
