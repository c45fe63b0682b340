//! Transposes of `f32` in registers, 16×16 in AVX-512 and 8×8 in AVX, for
//! the kernels that vectorise across channels a tensor stored
//! channel-major (`[C][H][W]`): a load of consecutive pixels per channel,
//! one transpose, and each vector holds one pixel's channels (and back).
//! And one of bytes, 16×16 in SSE2, for the int8 convolution's weights
//! ([`transpose_bytes16`]).
//!
//! Two-source shuffles (Intel's and LLVM's usual sequence):
//! `unpcklps`/`unpckhps` interleave pairs of rows within each 128-bit
//! lane, `shufps` gathers groups of four, and whole 128-bit lanes move
//! last (two rounds of `vshuff32x4` for 16 rows, 64 shuffles; one of
//! `vperm2f128` for 8 rows, 24 shuffles). Every shuffle is a plain
//! `simd_shuffle` in `core::arch`, which Miri runs.

use core::arch::x86_64::{
    __m128i, __m256, __m512, _mm256_permute2f128_ps, _mm256_setzero_ps, _mm256_shuffle_ps,
    _mm256_unpackhi_ps, _mm256_unpacklo_ps, _mm512_setzero_ps, _mm512_shuffle_f32x4,
    _mm512_shuffle_ps, _mm512_unpackhi_ps, _mm512_unpacklo_ps, _mm_setzero_si128,
    _mm_unpackhi_epi8, _mm_unpacklo_epi8,
};

/// Transposes the 8×8 matrix whose rows are `r`: afterwards `r[j]` lane
/// `i` is what `r[i]` lane `j` was. The first two rounds are
/// [`transpose16`]'s on 8 rows.
#[target_feature(enable = "avx")]
#[inline]
pub(crate) fn transpose8(r: &mut [__m256; 8]) {
    let mut t = [_mm256_setzero_ps(); 8];
    for i in 0..4 {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // `r[4i + k]`, 128-bit lane `L`: column `4L + k` of rows `4i..4i + 4`.
    for i in 0..2 {
        r[4 * i] = _mm256_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm256_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm256_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm256_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
    }
    // Column `k`: the low lanes of `r[k]` (rows 0..4) and of `r[4 + k]`
    // (rows 4..8); column `4 + k`: their high lanes.
    for k in 0..4 {
        t[k] = _mm256_permute2f128_ps::<0x20>(r[k], r[4 + k]);
        t[4 + k] = _mm256_permute2f128_ps::<0x31>(r[k], r[4 + k]);
    }
    *r = t;
}

/// Transposes the 16×16 matrix whose rows are `r`: afterwards `r[j]`
/// lane `i` is what `r[i]` lane `j` was.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn transpose16(r: &mut [__m512; 16]) {
    let mut t = [_mm512_setzero_ps(); 16];
    // Per 128-bit lane, rows `2i` and `2i + 1` interleaved: `a0 b0 a1 b1`
    // and `a2 b2 a3 b3`.
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // `r[4i + k]`, 128-bit lane `L`: column `4L + k` of rows `4i..4i + 4`.
    for i in 0..4 {
        r[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
    }
    // `t[k]`: columns `k` and `k + 8` of rows 0..8 (lanes 0 and 2 of
    // `r[k]`, then of `r[4 + k]`); `t[4 + k]`: columns `k + 4` and
    // `k + 12`; `t[8 + k]`, `t[12 + k]` the same for rows 8..16.
    for k in 0..4 {
        t[k] = _mm512_shuffle_f32x4::<0x88>(r[k], r[4 + k]);
        t[4 + k] = _mm512_shuffle_f32x4::<0xDD>(r[k], r[4 + k]);
        t[8 + k] = _mm512_shuffle_f32x4::<0x88>(r[8 + k], r[12 + k]);
        t[12 + k] = _mm512_shuffle_f32x4::<0xDD>(r[8 + k], r[12 + k]);
    }
    // Whole columns: rows 0..8 from `t[k]`, rows 8..16 from `t[8 + k]`.
    for k in 0..4 {
        r[k] = _mm512_shuffle_f32x4::<0x88>(t[k], t[8 + k]);
        r[8 + k] = _mm512_shuffle_f32x4::<0xDD>(t[k], t[8 + k]);
        r[4 + k] = _mm512_shuffle_f32x4::<0x88>(t[4 + k], t[12 + k]);
        r[12 + k] = _mm512_shuffle_f32x4::<0xDD>(t[4 + k], t[12 + k]);
    }
}

/// Transposes the 16×16 bytes whose rows are `r`: afterwards `r[j]` byte
/// `i` is what `r[i]` byte `j` was. Four perfect shuffles: each round
/// interleaves rows `i` and `i + 8` into rows `2i` (their low halves) and
/// `2i + 1` (their high halves); after four, row `j` holds column `j`. 64
/// `punpck`s, all SSE2.
#[target_feature(enable = "sse2")]
#[inline]
pub(crate) fn transpose_bytes16(r: &mut [__m128i; 16]) {
    for _ in 0..4 {
        let mut t = [_mm_setzero_si128(); 16];
        for (i, t) in t.chunks_exact_mut(2).enumerate() {
            t[0] = _mm_unpacklo_epi8(r[i], r[i + 8]);
            t[1] = _mm_unpackhi_epi8(r[i], r[i + 8]);
        }
        *r = t;
    }
}

#[cfg(test)]
mod tests {
    use super::{transpose16, transpose8, transpose_bytes16};
    use core::arch::x86_64::{
        __m128i, __m256, __m512, _mm256_loadu_ps, _mm256_storeu_ps, _mm512_loadu_ps,
        _mm512_storeu_ps, _mm_loadu_si128, _mm_storeu_si128,
    };

    #[test]
    fn transpose_bytes16_swaps_rows_and_columns() {
        // Every byte distinct, so a misplaced one shows.
        #[allow(clippy::cast_possible_truncation)]
        let m: [[u8; 16]; 16] =
            core::array::from_fn(|i| core::array::from_fn(|j| (16 * i + j) as u8));
        // SAFETY: SSE2 is part of x86_64; each load reads the 16 bytes of
        // one row.
        let mut r: [__m128i; 16] =
            core::array::from_fn(|i| unsafe { _mm_loadu_si128(m[i].as_ptr().cast()) });
        // SAFETY: SSE2 is part of x86_64.
        unsafe { transpose_bytes16(&mut r) };
        let mut t = [[0u8; 16]; 16];
        for (row, v) in t.iter_mut().zip(r) {
            // SAFETY: as above, each store writes one row's 16 bytes.
            unsafe { _mm_storeu_si128(row.as_mut_ptr().cast(), v) };
        }
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(t[j][i], m[i][j], "byte ({i}, {j})");
            }
        }
    }

    /// Transposes `m` on AVX.
    #[target_feature(enable = "avx")]
    fn transposed8(m: &[[f32; 8]; 8]) -> [[f32; 8]; 8] {
        // SAFETY: AVX is enabled on this function; each row holds 8 floats.
        let mut r: [__m256; 8] =
            core::array::from_fn(|i| unsafe { _mm256_loadu_ps(m[i].as_ptr()) });
        transpose8(&mut r);
        let mut out = [[0.0f32; 8]; 8];
        for (row, v) in out.iter_mut().zip(r) {
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(row.as_mut_ptr(), v) };
        }
        out
    }

    #[test]
    fn transpose8_avx2_swaps_rows_and_columns() {
        if !crate::simd::has_avx2_fma() {
            std::eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        // Every element distinct, so a misplaced one shows.
        #[allow(clippy::cast_precision_loss)]
        let m: [[f32; 8]; 8] =
            core::array::from_fn(|i| core::array::from_fn(|j| (8 * i + j) as f32));
        // SAFETY: the CPU has AVX (with AVX2), checked above.
        let t = unsafe { transposed8(&m) };
        for i in 0..8 {
            for j in 0..8 {
                assert_eq!(t[j][i].to_bits(), m[i][j].to_bits(), "element ({i}, {j})");
            }
        }
    }

    /// Transposes `m` on AVX-512F.
    #[target_feature(enable = "avx512f")]
    fn transposed(m: &[[f32; 16]; 16]) -> [[f32; 16]; 16] {
        // SAFETY: AVX-512F is enabled on this function; each row holds 16
        // floats.
        let mut r: [__m512; 16] =
            core::array::from_fn(|i| unsafe { _mm512_loadu_ps(m[i].as_ptr()) });
        transpose16(&mut r);
        let mut out = [[0.0f32; 16]; 16];
        for (row, v) in out.iter_mut().zip(r) {
            // SAFETY: as above.
            unsafe { _mm512_storeu_ps(row.as_mut_ptr(), v) };
        }
        out
    }

    #[test]
    fn transpose16_avx512_swaps_rows_and_columns() {
        if !crate::simd::has_avx512() {
            std::eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        // Every element distinct, so a misplaced one shows.
        #[allow(clippy::cast_precision_loss)]
        let m: [[f32; 16]; 16] =
            core::array::from_fn(|i| core::array::from_fn(|j| (16 * i + j) as f32));
        // SAFETY: the CPU has AVX-512F, checked above.
        let t = unsafe { transposed(&m) };
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(t[j][i].to_bits(), m[i][j].to_bits(), "element ({i}, {j})");
            }
        }
    }
}
