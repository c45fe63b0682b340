//! The int8 depthwise convolution at stride 1 with AVX-512 (F, BW, VL):
//! one channel at a time, 16 output pixels per vector in `i32` lanes.
//!
//! # Why
//!
//! The lane kernels of this module's parent rewrite a layer's input into
//! lane planes and its weights into lanes, then requantize and scatter, all
//! once per *group*: a depthwise layer has one group per channel, so
//! DS-CNN's 64-channel 25×5 layer did all of that 64 times for 9
//! multiply-adds per output (23–26 µs, ten times the float layer).
//!
//! # Algorithm
//!
//! For each channel:
//!
//! 1. its plane is widened into a zero-bordered `i32` plane on the stack,
//!    `x − zp` (so a padding element is 0, as `zp − zp` is in the twin), `PW
//!    = PL + W + PR` columns wide ([`Layout`]; the border is zeroed once
//!    per call, each channel rewrites the interior);
//! 2. output pixel `(oh, ow)` is *wide index* `q = oh·PW + ow`, which reads
//!    tap `(kh, kw)` at `q + kh·DH·PW + kw·DW`: every tap is one plain load
//!    at a constant offset. The wide indices `0..(OH − 1)·PW + OW` are
//!    computed [`NV`] vectors of 16 at a time (the `PW − OW` indices past
//!    each row's end computed and dropped: 2 of 7 on DS-CNN's rows, where
//!    a vector of one row's 5 outputs would waste 11 of 16 lanes), each tap
//!    a load, a multiply (`vpmulld`) and an add per vector;
//! 3. the sums go through the channel's requantization ([`Wide::store`]:
//!    bias, fixed-point multiplier, rounding shift, zero point, clamp: the
//!    twin's integer operations) and one masked byte store per output row
//!    a vector touches.
//!
//! Every step is exact integer arithmetic (`|x − zp| ≤ 255` and `|w| ≤
//! 128`, so a product is below 2^15, and a layer that fits the buffer has
//! fewer than 8192 · 7 taps: the sum stays inside `i32`), so the result is
//! the portable kernel's bit for bit (tested).
//!
//! # Cost
//!
//! `taskset -c 0 cargo bench -p constnet-runtime --bench int8 --
//! 'int8/ds_cnn/dw'`, Intel Xeon with VNNI: DS-CNN's 64-channel 25×5 layer
//! 23.0–25.8 → 11.8 µs (the lane kernel on pairs, then this one).
//! Building the requantization's vectors from the channel's scalars
//! (`Wide::channel`) instead of from `Lanes` took 17.2 → 13.2 µs, widening
//! the rows with `vpmovsxbd` and reading the plane through a pointer (one
//! bound, `Layout::fits`, for every load) 13.2 → 11.8. The loads are
//! misaligned `zmm` loads, about one per cycle on this core, and each
//! multiply is two micro-operations on one port: those bound the loop.

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

use crate::quant::{Rescale, Rounding};
use crate::simd::qrescale::Wide;
use core::arch::x86_64::{
    __m128i, __m512i, _mm512_add_epi32, _mm512_cvtepi8_epi32, _mm512_loadu_si512,
    _mm512_mask_storeu_epi32, _mm512_mullo_epi32, _mm512_set1_epi32, _mm512_setzero_si512,
    _mm512_sub_epi32, _mm_mask_storeu_epi8, _mm_maskz_loadu_epi8,
};

/// The most kernel columns.
pub(super) const MAX_KW: usize = 7;

/// The `i32`s of the padded plane, with the last vector's reach (32 KiB).
const CAP: usize = 8192;

/// Vectors computed together: independent chains for the multiply's
/// latency (10 cycles).
const NV: usize = 4;

/// Where a channel's plane lies in the buffer: `PW = PL + W + PR` columns
/// of `(x − zp)` with zeros around, and the wide output indices `q =
/// oh·PW + ow` the vectors cover (`ow < OW` real, the rest dropped).
#[derive(Clone, Copy)]
pub(super) struct Layout {
    pw: usize,
    /// `(OH − 1)·PW + OW`: one past the last real output.
    nq: usize,
    fits: bool,
}

impl Layout {
    #[allow(clippy::too_many_arguments)] // One tuple per parameter family.
    pub(super) const fn new(
        (pt, pl, pr): (usize, usize, usize),
        (dh, dw): (usize, usize),
        (h, w): (usize, usize),
        (kh, kw): (usize, usize),
        (oh, ow): (usize, usize),
    ) -> Layout {
        let pw = pl + w + pr;
        let nq = (oh - 1) * pw + ow;
        // The last chunk computes all `NV` vectors, past `nq` too.
        let reach = nq.div_ceil(16 * NV) * 16 * NV + (kh - 1) * dh * pw + (kw - 1) * dw;
        // The rows the taps read (stride 1): `OH + (KH − 1)·DH`, at
        // least the `PT + H` the plane is copied into.
        let rows = oh + (kh - 1) * dh;
        let plane = if rows > pt + h { rows } else { pt + h } * pw;
        let len = if reach > plane { reach } else { plane };
        Layout {
            pw,
            nq,
            // The loads reach `len` `i32`s, all written (plane or zeros).
            fits: len <= CAP && plane <= len,
        }
    }
}

/// Whether [`conv2d`] takes a layer: depthwise (one input and one output
/// channel per group), stride 1, at most [`MAX_KW`] kernel columns, a
/// padded plane that fits the buffer.
pub(super) const fn applies(
    (g, c, cg, o): (usize, usize, usize, usize),
    (sh, sw): (usize, usize),
    kw: usize,
    layout: Layout,
) -> bool {
    cg == 1 && g == c && o == c && sh == 1 && sw == 1 && kw <= MAX_KW && layout.fits
}

/// The layer, or `false` (nothing written) if its requantization rounds
/// once ([`crate::quant::Rounding::Single`], left to the scalar code).
///
/// # Safety
///
/// The CPU must have AVX2 and AVX-512 F, BW and VL, and the layer must be
/// one that [`applies`].
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub(super) unsafe fn conv2d<
    const PT: usize,
    const PL: usize,
    const PR: usize,
    const DH: usize,
    const DW: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const CG: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) -> bool {
    let lay = const { Layout::new((PT, PL, PR), (DH, DW), (H, W), (KH, KW), (OH, OW)) };
    assert!(
        lay.fits && KW <= MAX_KW,
        "not a layer of the int8 depthwise kernel"
    );
    if rescale.rounding != Rounding::Double {
        return false;
    }
    let mut buf = [0i32; CAP];
    let zp = _mm512_set1_epi32(i32::from(input_zero));
    for o in 0..O {
        // SAFETY: the caller guarantees AVX-512F. (Double rounding,
        // checked above.)
        let wide = unsafe { Wide::channel(rescale, o) };
        for (ih, row) in input[o].iter().enumerate() {
            let at = (PT + ih) * lay.pw + PL;
            widen(&mut buf[at..at + W], row, zp);
        }
        let mut taps = [[_mm512_setzero_si512(); KW]; KH];
        for (t, w) in taps.iter_mut().zip(&weight[o][0]) {
            for (t, &w) in t.iter_mut().zip(w) {
                *t = _mm512_set1_epi32(i32::from(w));
            }
        }
        let plane = output[o].as_flattened_mut();
        let mut q = 0;
        while q < lay.nq {
            let n = (lay.nq - q).div_ceil(16).min(NV);
            let acc = chunk::<DH, DW, KH, KW>(&buf, lay, &taps, q);
            for (s, acc) in acc.iter().enumerate().take(n) {
                // SAFETY: the caller guarantees AVX-512F.
                let y = unsafe { wide.store(*acc) };
                store::<OW>(plane, lay, q + 16 * s, y);
            }
            q += 16 * n;
        }
    }
    true
}

/// `x − zp` of a row of bytes, as `i32`s, into `dst` (as long as `src`).
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
#[inline]
fn widen(dst: &mut [i32], src: &[i8], zp: __m512i) {
    for (d, s) in dst.chunks_mut(16).zip(src.chunks(16)) {
        #[allow(clippy::cast_possible_truncation)] // `s.len() <= 16`.
        let keep = ((1u32 << s.len()) - 1) as u16;
        // SAFETY: AVX-512 F, BW and VL are enabled; the load and the store
        // touch the `s.len()` lanes of `keep`, inside `s` and `d` (as
        // long).
        unsafe {
            let x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(keep, s.as_ptr()));
            _mm512_mask_storeu_epi32(d.as_mut_ptr().cast(), keep, _mm512_sub_epi32(x, zp));
        }
    }
}

/// The sums of the `NV` vectors of wide indices from `q` (those past
/// `nq` computed and dropped).
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
#[inline]
fn chunk<const DH: usize, const DW: usize, const KH: usize, const KW: usize>(
    buf: &[i32; CAP],
    lay: Layout,
    taps: &[[__m512i; KW]; KH],
    q: usize,
) -> [__m512i; NV] {
    let mut acc = [_mm512_setzero_si512(); NV];
    for (kh, taps) in taps.iter().enumerate() {
        for (kw, &w) in taps.iter().enumerate() {
            let at = q + kh * DH * lay.pw + kw * DW;
            for (s, acc) in acc.iter_mut().enumerate() {
                // SAFETY: AVX-512F is enabled. The load reads `i32`s `at +
                // 16·s + 0..16`, below `q + 16·NV + (KH − 1)·DH·PW + (KW −
                // 1)·DW <= reach <= CAP` (`q < nq` starts a chunk, so `q +
                // 16·NV` is at most `nq` rounded up to a chunk; `conv2d`
                // asserted `fits`).
                let x = unsafe { _mm512_loadu_si512(buf.as_ptr().add(at + 16 * s).cast()) };
                *acc = _mm512_add_epi32(*acc, _mm512_mullo_epi32(x, w));
            }
        }
    }
    acc
}

/// Stores the real outputs among the 16 bytes `y` of wide indices `q..`:
/// one masked store per output row they touch.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
#[inline]
fn store<const OW: usize>(plane: &mut [i8], lay: Layout, q: usize, y: __m128i) {
    let end = lay.nq.min(q + 16);
    let mut r = q / lay.pw;
    while r * lay.pw < end {
        let row = r * lay.pw;
        let lo = row.max(q) - q;
        let hi = (row + OW).min(end).saturating_sub(q);
        if lo < hi {
            #[allow(clippy::cast_possible_truncation)] // hi ≤ 16.
            let keep = (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as u16;
            // Lane `l` is output column `q + l − row` of row `r`: plane
            // index `r·OW + q + l − row`.
            let base = plane
                .as_mut_ptr()
                .wrapping_add(r * OW + q)
                .wrapping_sub(row);
            // SAFETY: AVX-512 BW and VL are enabled; the mask keeps lanes
            // `lo..hi`, columns `0..OW` of row `r < OH`: inside `plane`.
            // The pointer is formed with wrapping arithmetic; masked-off
            // lanes are not accessed.
            unsafe { _mm_mask_storeu_epi8(base, keep, y) };
        }
        r += 1;
    }
}
