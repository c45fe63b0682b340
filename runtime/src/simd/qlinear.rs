//! The int8 fully connected layer ([`crate::quant::linear::linear`]) with
//! AVX2: the input's `x − zp` widened to `i16` once, then four weight rows
//! at a time, sixteen weights per step sign-extended (`vpmovsxbw`) and
//! multiplied in pairs (`vpmaddwd`) into `i32` lanes. Integer sums are
//! exact, so the results are the portable kernel's bit for bit; the layer's
//! few outputs are rescaled by the scalar [`Rescale::store`].
//!
//! LeNet-5's `fc1` (400 → 120) is a 48 KB weight stream read once per
//! image; four rows per step share each input load and keep four
//! independent sums in flight.
//!
//! With AVX-512 VNNI ([`linear_vnni`]) the input is instead `x + 128` as
//! unsigned bytes and the weights are read as they are, 32 per vector (the
//! last vector a masked load, zeros past the end: no scalar tail), into
//! `vpdpbusd` (32 multiply-adds in one instruction, no widening). It sums
//! `(x + 128) · w`; the row's `Σ w`, summed by a second `vpdpbusd` against
//! ones from the weights already in registers, turns that into `Σ (x −
//! zp) · w` (minus `(zp + 128) · Σ w`): exact, the same bits. The sums,
//! [`CHUNK`] outputs at a time, are rescaled by [`qstore::store`], eight
//! channels per vector, where the scalar store took half of `fc2`'s time
//! (`taskset -c 0 cargo bench -p constnet-runtime --bench int8 --
//! lenet/fc`, AMD EPYC (Zen 4), 2 interleaved runs: `fc1` 857 → 571 ns,
//! `fc2` 328–342 → 181 ns).

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

use crate::quant::Rescale;
use crate::simd::qstore;
use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepi8_epi16,
    _mm256_dpbusd_epi32, _mm256_extracti128_si256, _mm256_hadd_epi32, _mm256_loadu_si256,
    _mm256_madd_epi16, _mm256_maskz_loadu_epi8, _mm256_mullo_epi32, _mm256_set1_epi32,
    _mm256_set1_epi8, _mm256_setzero_si256, _mm256_sub_epi32, _mm_add_epi32, _mm_loadu_si128,
    _mm_storeu_si128,
};

/// Inputs per step: one vector of sixteen `i16`s.
const STEP: usize = 16;

/// The kernel.
///
/// # Safety
///
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn linear_avx2<const I: usize, const O: usize>(
    input: &[i8; I],
    input_zero: i8,
    weight: &[[i8; I]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [i8; O],
) {
    let zp = i16::from(input_zero);
    // (Loops and literal arrays, not `array::from_fn` or `map`, in both
    // kernels: those stayed out-of-line calls, one per four rows.)
    let mut x = [0i16; I];
    for (x, &v) in x.iter_mut().zip(input) {
        *x = i16::from(v) - zp;
    }
    let body = I / STEP * STEP;
    let mut o = 0;
    while o + 4 <= O {
        let rows = [&weight[o], &weight[o + 1], &weight[o + 2], &weight[o + 3]];
        // SAFETY: the caller guarantees AVX2.
        let mut sums = unsafe {
            dots4(
                &x[..body],
                [
                    &rows[0][..body],
                    &rows[1][..body],
                    &rows[2][..body],
                    &rows[3][..body],
                ],
            )
        };
        for (s, row) in sums.iter_mut().zip(rows) {
            *s += tail(&x[body..], &row[body..]);
        }
        for (k, &s) in sums.iter().enumerate() {
            output[o + k] = rescale.store(o + k, s);
        }
        o += 4;
    }
    for o in o..O {
        let s = weight[o]
            .iter()
            .zip(&x)
            .map(|(&w, &x)| i32::from(w) * i32::from(x))
            .sum();
        output[o] = rescale.store(o, s);
    }
}

/// `Σ w · x` over the last `I mod 16` inputs.
#[inline(always)]
fn tail(x: &[i16], w: &[i8]) -> i32 {
    x.iter()
        .zip(w)
        .map(|(&x, &w)| i32::from(x) * i32::from(w))
        .sum()
}

/// The four rows' dot products with `x` (a multiple of 16 long).
///
/// # Safety
///
/// The CPU must have AVX2.
#[inline(always)]
unsafe fn dots4(x: &[i16], rows: [&[i8]; 4]) -> [i32; 4] {
    // SAFETY: the caller guarantees AVX2.
    let mut acc = [unsafe { _mm256_setzero_si256() }; 4];
    for (k, x) in x.chunks_exact(STEP).enumerate() {
        // SAFETY: AVX2 as above; `x` holds the 16 `i16`s the 256-bit load
        // reads and each row's chunk the 16 `i8`s of its 128-bit load.
        unsafe {
            let xv = _mm256_loadu_si256(x.as_ptr().cast::<__m256i>());
            for (acc, row) in acc.iter_mut().zip(rows) {
                let w = &row[k * STEP..][..STEP];
                let w = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().cast::<__m128i>()));
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(w, xv));
            }
        }
    }
    // SAFETY: AVX2 as above.
    unsafe { sums4(acc) }
}

/// Each vector's eight lanes summed.
///
/// # Safety
///
/// The CPU must have AVX2.
#[inline(always)]
unsafe fn sums4(acc: [__m256i; 4]) -> [i32; 4] {
    let mut out = [0i32; 4];
    // SAFETY: the caller guarantees AVX2; the store writes the four `i32`s
    // of `out`.
    unsafe {
        // Horizontal sums: pairs, then quads, then the two 128-bit halves.
        let ab = _mm256_hadd_epi32(acc[0], acc[1]);
        let cd = _mm256_hadd_epi32(acc[2], acc[3]);
        let abcd = _mm256_hadd_epi32(ab, cd);
        let sum = _mm_add_epi32(
            _mm256_castsi256_si128(abcd),
            _mm256_extracti128_si256(abcd, 1),
        );
        _mm_storeu_si128(out.as_mut_ptr().cast::<__m128i>(), sum);
    }
    out
}

/// Input bytes per step of the VNNI kernel: one vector.
const BYTES: usize = 32;

/// Outputs whose sums are rescaled together by [`qstore::store`].
const CHUNK: usize = 32;

/// The kernel with `vpdpbusd` (see the module docs).
///
/// # Safety
///
/// The CPU must have AVX2 and AVX-512 F, VNNI, VL and BW.
#[target_feature(enable = "avx2,avx512f,avx512vnni,avx512vl,avx512bw")]
pub(crate) unsafe fn linear_vnni<const I: usize, const O: usize>(
    input: &[i8; I],
    input_zero: i8,
    weight: &[[i8; I]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [i8; O],
) {
    let mut x = [0u8; I];
    for (x, &v) in x.iter_mut().zip(input) {
        // x + 128: the sign bit flipped.
        *x = v.cast_unsigned() ^ 0x80;
    }
    let mut sums = [0i32; CHUNK];
    for first in (0..O).step_by(CHUNK) {
        let n = (O - first).min(CHUNK);
        let mut k = 0;
        while k + 4 <= n {
            let o = first + k;
            let rows = [
                &weight[o][..],
                &weight[o + 1][..],
                &weight[o + 2][..],
                &weight[o + 3][..],
            ];
            // SAFETY: the caller guarantees the instruction sets.
            let four = unsafe { dots4_vnni(&x, rows, input_zero) };
            sums[k..k + 4].copy_from_slice(&four);
            k += 4;
        }
        for k in k..n {
            let row = &weight[first + k][..];
            // SAFETY: as above.
            sums[k] = unsafe { dots4_vnni(&x, [row; 4], input_zero) }[0];
        }
        // SAFETY: as above.
        unsafe { qstore::store(rescale, first, &sums[..n], &mut output[first..first + n]) };
    }
}

/// The four rows' sums of `(x − zp) · w` over `x + 128`.
///
/// # Safety
///
/// The CPU must have AVX2 and AVX-512 VNNI, VL and BW.
#[inline(always)]
unsafe fn dots4_vnni(x: &[u8], rows: [&[i8]; 4], zp: i8) -> [i32; 4] {
    // SAFETY: the caller guarantees the instruction sets.
    let (mut acc, mut sum, ones) = unsafe {
        (
            [_mm256_setzero_si256(); 4],
            [_mm256_setzero_si256(); 4],
            _mm256_set1_epi8(1),
        )
    };
    for k in (0..x.len()).step_by(BYTES) {
        // The last chunk's bytes past the end read as zeros: they add 0.
        let n = (x.len() - k).min(BYTES);
        let mask = u32::MAX >> (BYTES - n);
        // SAFETY: as above; each masked load reads the `n` bytes of `x` and
        // of each row from `k` on, which are in them.
        unsafe {
            let xv = _mm256_maskz_loadu_epi8(mask, x[k..].as_ptr().cast::<i8>());
            for ((acc, sum), row) in acc.iter_mut().zip(&mut sum).zip(rows) {
                let w = _mm256_maskz_loadu_epi8(mask, row[k..].as_ptr());
                *acc = _mm256_dpbusd_epi32(*acc, xv, w);
                *sum = _mm256_dpbusd_epi32(*sum, ones, w);
            }
        }
    }
    // SAFETY: as above.
    unsafe {
        let by = _mm256_set1_epi32(i32::from(zp) + 128);
        for (acc, sum) in acc.iter_mut().zip(sum) {
            *acc = _mm256_sub_epi32(*acc, _mm256_mullo_epi32(sum, by));
        }
        sums4(acc)
    }
}
