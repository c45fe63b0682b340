//! The int8 depthwise convolution with AVX-512 VNNI ("row quads"): one
//! channel at a time, 16 output pixels per vector, each `vpdpbusd` four
//! kernel *rows* of one kernel column. It also takes other layers with a few outputs per
//! group ([`OUTPUTS`]) and few taps ([`TAPS`]): LeNet-5's conv1 (one input
//! channel, 6 outputs), depthwise layers with two outputs per channel,
//! MobileNetV1's first layer (3 → 8, 3×3 at stride 2), each output channel
//! summing over its group's input channels and reading the same quads.
//!
//! # Why
//!
//! The lane kernels of this module's parent rewrite a layer's input into
//! lane planes and its weights into lanes, then requantize and scatter, all
//! once per *group*: a depthwise layer has one group per channel, so
//! DS-CNN's 64-channel 25×5 layer did all of that 64 times for 9
//! multiply-adds per output (23–26 µs, ten times the float layer). The
//! kernel before this one widened each plane to `i32`s and multiplied with
//! `vpmulld` (two micro-operations, ten cycles of latency): 9 of them per
//! vector of 3×3 outputs, 11 µs on that layer.
//!
//! # Algorithm
//!
//! For each group, each of its input channels:
//!
//! 1. its plane is copied as bytes `x + 128` (as `u8`, `vpdpbusd`'s
//!    unsigned operand) into a padded plane `PW = PL + W + PR` columns wide,
//!    the padding holding `zp + 128` (which adds `w · 0` once corrected,
//!    as `zp − zp` does in the twin), split into the `SH · SW` phases of
//!    the stride (phase `(a, b)` holds padded rows `SH·u + a`, columns
//!    `SW·v + b`; `WU = ⌈PW / SW⌉` columns), so that every tap is then at a
//!    fixed offset (see 3);
//! 2. the *quads*: for output row `r` and kernel rows `4g..4g + 4`, the
//!    four bytes of padded rows `SH·r + (4g + j)·DH` in each column, one
//!    `i32` (kernel rows past `KH` weigh 0). Row `SH·r + kh·DH` is row `r +
//!    ⌊kh·DH / SH⌋` of row phase `kh·DH mod SH`, so a band's quads are
//!    four runs of bytes at fixed offsets interleaved, one pass;
//! 3. output pixel `(r, ow)` is *wide index* `n = r·WU + ow`, and its taps
//!    in kernel column `kw` are the quad at `n + ⌊kw·DW / SW⌋` in the
//!    quads of column phase `kw·DW mod SW`: one load and one `vpdpbusd`
//!    per kernel column (and group of four rows) per 16 outputs, three per
//!    vector of 3×3 outputs. The `WU − OW` indices past each row's end
//!    are computed and dropped (2 of 7 on DS-CNN's rows, 1 of 25 on
//!    MobileNetV1's stride-2 48×48 layer);
//!    *Column quads*: at column stride and dilation 1, the kernel rows
//!    past the last full group of four, when `(KH mod 4)·⌈KW / 4⌉ <
//!    KW`, take *column* quads instead: each row's bytes at columns
//!    `+0..+4` (the same pass of 2, offsets one byte apart), kernel
//!    columns `4q..4q + 4` at `n + 4q`. LeNet-5's conv1 (5×5) did its
//!    fifth row as a group of four rows with three of them zeros, 5
//!    `vpdpbusd` per vector; now 2, 7 in all instead of 10 (`taskset -c
//!    0 cargo bench -p constnet-runtime --bench int8 -- lenet/conv1`, 2
//!    interleaved runs: 2.50 → 2.14 µs);
//! 4. for each of the group's output channels, 3 over every input channel
//!    of the group with that channel's weights;
//!    the sums, less `(zp + 128)·Σw` (folded into the bias), go through
//!    the channel's requantization ([`Wide::store`]) into a wide byte row,
//!    whose first `OW` bytes are each output row.
//!
//! Every step is exact integer arithmetic (`vpdpbusd` does not saturate; a
//! product `w·(x + 128)` is below 2^15 in magnitude and a layer that fits
//! has at most 64 taps), so the result is the portable kernel's bit for
//! bit (tested).
//!
//! # Cost
//!
//! `taskset -c 0 cargo bench -p constnet-runtime --bench int8 --
//! 'int8/(ds_cnn|mbv1)/dw'`, Intel Xeon with VNNI, 2 interleaved runs
//! against the `vpmulld` kernel (stride 1 only; stride 2 on the lane
//! kernel's pairs): DS-CNN's 64-channel 25×5 layer 10.5–11.2 → 5.3–5.4 µs,
//! MobileNetV1's 16-channel stride-2 48×48 one 13.2–13.3 → 5.7–5.8 µs
//! (the f32 layers: 2.6 and 4.9 µs). What remains is spread over the
//! four steps: under `perf`, the requantization about a quarter, building
//! the quads a quarter, the copy (at stride 2, `vpmovwb` to split the
//! columns) a fifth. Tried: copying the next channel's plane before this
//! one's quads are built, in case loads of freshly stored bytes waited for
//! the stores (no change); 64-byte masked loads in the copy instead of 16
//! (DS-CNN's rows of 5 bytes: 5.3 → 6.0–6.3 µs).

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

use crate::quant::{Rescale, Rounding};
use crate::simd::qrescale::Wide;
use core::arch::x86_64::{
    __m512i, _mm256_cvtepi16_epi8, _mm256_maskz_loadu_epi8, _mm256_set1_epi8, _mm256_srli_epi16,
    _mm256_xor_si256, _mm512_cvtepu8_epi32, _mm512_dpbusd_epi32, _mm512_loadu_si512,
    _mm512_or_si512, _mm512_set1_epi32, _mm512_setzero_si512, _mm512_slli_epi32,
    _mm512_storeu_si512, _mm_loadu_si128, _mm_mask_storeu_epi8, _mm_maskz_loadu_epi8,
    _mm_set1_epi8, _mm_storeu_si128, _mm_xor_si128,
};
use core::mem::MaybeUninit;

/// Bytes of the padded planes (one per input channel of a group).
const PLANE: usize = 32 * 1024;

/// `i32`s of a band's quads (16 KiB); also the bytes of its wide output rows.
const QUADS: usize = 4 * 1024;

/// Vectors computed together: independent chains for `vpdpbusd`'s latency
/// (at most; see [`vectors`]).
const NV: usize = 4;

/// Vectors per chunk of a layer: [`NV`], but 2 at column stride 2 with
/// several input channels per group, where four vectors' accumulators, the
/// taps and the requantization's constants did not fit the 32 registers
/// (the taps became memory operands, the constants reloads):
/// MobileNetV1's 3 → 8 first layer 15.9–16.5 µs with 4 against 10.8–11.2
/// with 2 (`taskset -c 0 cargo bench -p constnet-runtime --bench int8 --
/// mbv1/3x3s2`, AMD EPYC (Zen 4), 2 interleaved runs). Every other layer
/// of that bench that runs here is as fast or faster with 4 (LeNet-5's
/// conv1 2.50 against 2.61 µs; ResNet-8's 3 → 16, also 9 taps but at
/// stride 1, 7.11 against 7.39–7.46; DS-CNN's depthwise 5.32 against
/// 5.55).
const fn vectors(sw: usize, cg: usize) -> usize {
    if sw == 2 && cg > 1 {
        2
    } else {
        NV
    }
}

/// Output channels per group, at most: this kernel requantizes one output
/// channel at a time, where the lane kernel's channels micro-kernel does 8
/// or 16 (`bench int8`, 2 interleaved runs: LeNet-5's conv1, 6 outputs,
/// 3.06–3.10 µs on the lane kernel against 2.34–2.38 here; ResNet-8's
/// first layer, 3 → 16, 11.0–12.0 against 6.8–6.9; DS-CNN's first layer,
/// 64 outputs, 5.73–5.82 against 7.60–7.66).
const OUTPUTS: usize = 16;

/// Input channels per group times kernel columns times groups of four
/// kernel rows, at most (more go to the lane kernels: the taps stay in
/// registers).
const TAPS: usize = 16;

/// Bytes a padded plane holds past its rows: the last 16-byte loads that
/// build quads (up to 15 past a band's end), at most 3 columns further for
/// column quads.
const PAST: usize = 32;

/// How a layer lies in the buffers, from its const parameters.
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    /// Columns of a padded plane's phase: `⌈PW / SW⌉`; also of a band's
    /// quads and of its wide output rows.
    wu: usize,
    /// Rows of each of the padded plane's `SH·SW` phases: those a tap
    /// reads, at least those the input is copied into.
    rows: usize,
    /// Groups of four kernel rows in the quads: `⌈KH / 4⌉`, or `⌊KH /
    /// 4⌋` when the rows left over take column quads.
    groups: usize,
    /// Kernel rows left over after the groups that take *column* quads
    /// instead (four kernel columns of one row per `i32`): at column
    /// stride and dilation 1, when `(KH mod 4)·⌈KW / 4⌉ < KW` (LeNet-5's
    /// conv1: its fifth row in 2 `vpdpbusd` per vector instead of 5, a
    /// group of four rows with three of them zeros); else 0.
    cols: usize,
    /// Quads of tap planes per input channel: `groups·SW + cols`.
    planes: usize,
    /// Output rows per band.
    band: usize,
    /// `i32`s per plane of quads (one per input channel, group of kernel
    /// rows and column phase): the band's, then what the last chunk of
    /// vectors reads past it.
    quads: usize,
    fits: bool,
}

impl Layout {
    #[allow(clippy::too_many_arguments)] // One tuple per parameter family.
    pub(super) const fn new(
        (sh, sw): (usize, usize),
        (pt, pl, pr): (usize, usize, usize),
        (dh, dw): (usize, usize),
        (h, w): (usize, usize),
        (cg, kh, kw): (usize, usize, usize),
        oh: usize,
    ) -> Layout {
        let wu = (pl + w + pr).div_ceil(sw);
        // Output row r reads padded row `SH·r + kh·DH`: row `r + ⌊kh·DH /
        // SH⌋` of row phase `kh·DH mod SH`.
        let read = oh + (kh - 1) * dh / sh;
        let copied = (pt + h).div_ceil(sh);
        let rows = if read > copied { read } else { copied };
        let rest = kh % 4;
        let cols = if sw == 1 && dw == 1 && rest > 0 && rest * kw.div_ceil(4) < kw {
            rest
        } else {
            0
        };
        let groups = if cols > 0 { kh / 4 } else { kh.div_ceil(4) };
        let per = groups * sw + cols;
        let slack = 16 * NV + (kw - 1) * dw / sw;
        let planes = cg * per;
        let room = QUADS / planes;
        let mut band = if room > slack { (room - slack) / wu } else { 0 };
        if band > oh {
            band = oh;
        }
        Layout {
            wu,
            rows,
            groups,
            cols,
            planes: per,
            band,
            quads: band * wu + slack,
            fits: band > 0
                && cg * (sh * sw * rows * wu + PAST) <= PLANE
                && cg * kh.div_ceil(4) * kw <= TAPS,
        }
    }

    /// The kernel rows that take column quads.
    #[cfg(test)]
    pub(super) const fn column_rows(&self) -> usize {
        self.cols
    }

    /// Bytes of one input channel's padded plane (its phases), with what
    /// the last quads' 16-byte loads read past it.
    const fn plane_len(&self, (sh, sw): (usize, usize)) -> usize {
        sh * sw * self.rows * self.wu + PAST
    }
}

/// Whether [`conv2d`] takes a layer: at most [`OUTPUTS`] outputs per
/// group, column stride 1 or 2, taps and buffers that fit, and with more
/// than one input channel per group at least 3 kernel rows (quads of 1 or
/// 2 rows would be mostly zeros, where the lane kernels make quads of
/// channels).
pub(super) const fn applies(
    (g, c, cg, o): (usize, usize, usize, usize),
    (kh, sw): (usize, usize),
    layout: Layout,
) -> bool {
    c == g * cg
        && o % g == 0
        && o / g <= OUTPUTS
        && (cg == 1 || kh >= 3)
        && (sw == 1 || sw == 2)
        && layout.fits
}

/// The layer, or `false` (nothing written) if its requantization rounds
/// once ([`crate::quant::Rounding::Single`], left to the scalar code).
///
/// # Safety
///
/// The CPU must have AVX2 and AVX-512 F, BW, VL and VNNI, and the layer
/// must be one that [`applies`].
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub(super) unsafe fn conv2d<
    const SH: usize,
    const SW: usize,
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
    let lay = const { Layout::new((SH, SW), (PT, PL, PR), (DH, DW), (H, W), (CG, KH, KW), OH) };
    assert!(
        lay.fits && (SW == 1 || SW == 2),
        "not a layer of the int8 depthwise kernel"
    );
    if rescale.rounding != Rounding::Double {
        return false;
    }
    #[allow(clippy::cast_sign_loss)] // The byte's bits, as `u8`.
    let pad = input_zero as u8 ^ 0x80;
    let len = lay.plane_len((SH, SW));
    let mut planes = [const { MaybeUninit::uninit() }; PLANE];
    let planes = prefix(&mut planes, CG * len, pad);
    let per = lay.planes * lay.quads;
    let mut quads = [const { MaybeUninit::uninit() }; QUADS];
    let quads = prefix(&mut quads, CG * per, 0i32);
    let mut wide = [const { MaybeUninit::uninit() }; QUADS];
    let wide = prefix(&mut wide, lay.band * lay.wu + 16 * NV, 0i8);
    // A group's planes and quads serve its `O / G` output channels.
    let (groups, outputs) = (C / CG, O / (C / CG));
    for g in 0..groups {
        for (plane, x) in planes.chunks_exact_mut(len).zip(&input[g * CG..][..CG]) {
            // SAFETY: the caller guarantees AVX-512 F and BW.
            unsafe { copy::<SH, SW, PT, PL, H, W>(plane, lay, x) };
        }
        for r0 in (0..OH).step_by(lay.band) {
            let rows = lay.band.min(OH - r0);
            for (plane, quads) in planes.chunks_exact(len).zip(quads.chunks_exact_mut(per)) {
                // SAFETY: the caller guarantees AVX-512F.
                unsafe { build::<SH, SW, DH, KH>(plane, lay, r0, rows, quads) };
            }
            for o in g * outputs..(g + 1) * outputs {
                let out = Band {
                    r0,
                    rows,
                    zp: input_zero,
                };
                // SAFETY: the caller guarantees AVX-512 F and VNNI.
                unsafe {
                    out.channel::<SW, DW, CG, KH, KW, O, OH, OW>(
                        quads,
                        lay,
                        (&weight[o], rescale, o),
                        wide,
                        &mut output[o],
                    );
                }
            }
        }
    }
    true
}

/// Output rows `r0..r0 + rows` of a layer whose quads are built.
struct Band {
    r0: usize,
    rows: usize,
    /// The input's zero point.
    zp: i8,
}

impl Band {
    /// Output channel `o` of the band, whose weights are `w` (through the
    /// `wide` rows).
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512 F and VNNI; `rescale` must round twice.
    #[target_feature(enable = "avx2,avx512f,avx512vnni")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    unsafe fn channel<
        const SW: usize,
        const DW: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        &self,
        quads: &[i32],
        lay: Layout,
        (w, rescale, o): (&[[[i8; KW]; KH]; CG], &Rescale<'_, O>, usize),
        wide: &mut [i8],
        output: &mut [[i8; OW]; OH],
    ) {
        let (taps, sum) = taps::<CG, KH, KW>(w, (lay.groups, lay.cols));
        // The sums are `Σ w·(x + 128)`; the twin's are `Σ w·(x − zp)`.
        let correction = sum.wrapping_mul(-(i32::from(self.zp) + 128));
        // SAFETY: the caller guarantees AVX-512F and double rounding.
        let rq = unsafe { Wide::channel(rescale, o).offset(correction) };
        let end = self.rows * lay.wu;
        assert!(end + 16 * NV <= wide.len(), "a band past the output rows");
        // SAFETY: the caller guarantees AVX-512 F and VNNI; `end + 16·NV
        // <= wide.len()` (asserted).
        unsafe {
            if vectors(SW, CG) == 2 {
                sweep::<SW, DW, CG, KH, KW, 2>(quads, lay, (&taps, &rq), wide, end);
            } else {
                sweep::<SW, DW, CG, KH, KW, NV>(quads, lay, (&taps, &rq), wide, end);
            }
        }
        let rows = &mut output[self.r0..self.r0 + self.rows];
        for (r, out) in rows.iter_mut().enumerate() {
            out.copy_from_slice(&wide[r * lay.wu..][..OW]);
        }
    }
}

/// Wide indices `0..end` of a band's output channel, `V` vectors at a
/// time, requantized into `wide`.
///
/// # Safety
///
/// The CPU must have AVX-512 F and VNNI; `end + 16·V <= wide.len()`.
#[inline(always)] // Into `conv2d`: a call passes the taps in memory.
#[allow(clippy::type_complexity)] // The weights' shape, in registers.
unsafe fn sweep<
    const SW: usize,
    const DW: usize,
    const CG: usize,
    const KH: usize,
    const KW: usize,
    const V: usize,
>(
    quads: &[i32],
    lay: Layout,
    (taps, rq): (&[[[__m512i; KW]; KH]; CG], &Wide),
    wide: &mut [i8],
    end: usize,
) {
    for n in (0..end).step_by(16 * V) {
        // SAFETY: the caller guarantees AVX-512 F and VNNI.
        let acc = unsafe { chunk::<SW, DW, CG, KH, KW, V>(quads, lay, taps, n) };
        // (The last chunk's vectors past `end` are not stored.)
        for (s, &acc) in acc.iter().enumerate().take((end - n).div_ceil(16)) {
            // SAFETY: the caller guarantees AVX-512F; the store writes
            // bytes `n + 16·s + 0..16`, below `end + 16·V <= wide.len()`.
            unsafe {
                let y = rq.store(acc);
                _mm_storeu_si128(wide.as_mut_ptr().add(n + 16 * s).cast(), y);
            }
        }
    }
}

/// The first `len` elements of `buf`, each set to `value`.
fn prefix<T: Copy>(buf: &mut [MaybeUninit<T>], len: usize, value: T) -> &mut [T] {
    let used = &mut buf[..len];
    used.fill(MaybeUninit::new(value));
    // SAFETY: every element of `used` was just written, and `MaybeUninit<T>`
    // has the layout of `T`.
    unsafe { &mut *(core::ptr::from_mut(used) as *mut [T]) }
}

/// The channel's plane `x` as bytes `x + 128` into the padded plane (its
/// padding already holds `zp + 128`): padded row `PT + ih` is row `⌊(PT +
/// ih) / SH⌋` of row phase `(PT + ih) mod SH`, padded column `PL + iw`
/// column `⌊(PL + iw) / SW⌋` of column phase `(PL + iw) mod SW`.
///
/// # Safety
///
/// The CPU must have AVX-512 F and BW.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn copy<
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const H: usize,
    const W: usize,
>(
    plane: &mut [u8],
    lay: Layout,
    x: &[[i8; W]; H],
) {
    let phase = lay.rows * lay.wu;
    assert!(SH * SW * phase <= plane.len(), "a plane past the buffer");
    for (ih, row) in x.iter().enumerate() {
        // Padded row `PT + ih`: row `u` of row phase `a`.
        let (a, u) = ((PT + ih) % SH, (PT + ih) / SH);
        let at = a * SW * phase + u * lay.wu;
        // 16 columns at a time (32 at stride 2, 16 to each phase): wider
        // masked loads ran slower on DS-CNN's rows of 5.
        for c0 in (0..W).step_by(16 * SW) {
            let len = (W - c0).min(16 * SW);
            let p0 = PL + c0;
            if SW == 1 {
                #[allow(clippy::cast_possible_truncation)] // `len <= 16`.
                let keep = ((1u32 << len) - 1) as u16;
                // Columns `p0..p0 + len` of row `u < rows`: inside the
                // plane (`PL + W <= wu`).
                let dst = &mut plane[at + p0..at + p0 + len];
                // SAFETY: AVX-512 BW and VL are enabled; the load reads the
                // `len` bytes of `row` from `c0`, the store writes the `len`
                // bytes of `dst`.
                unsafe {
                    let v = _mm_maskz_loadu_epi8(keep, row[c0..].as_ptr());
                    let v = _mm_xor_si128(v, _mm_set1_epi8(i8::MIN));
                    _mm_mask_storeu_epi8(dst.as_mut_ptr().cast(), keep, v);
                }
            } else {
                let keep = if len == 32 {
                    u32::MAX
                } else {
                    (1u32 << len) - 1
                };
                // SAFETY: AVX-512 BW and VL are enabled; the load reads the
                // `len` bytes of `row` from `c0`.
                let v = unsafe { _mm256_maskz_loadu_epi8(keep, row[c0..].as_ptr()) };
                let v = _mm256_xor_si256(v, _mm256_set1_epi8(i8::MIN));
                // Input columns `c0 + 2k` land in phase `p0 mod 2` from
                // column `⌊p0 / 2⌋`, columns `c0 + 2k + 1` in the other
                // from `⌊(p0 + 1) / 2⌋`: each phase's bytes are contiguous.
                let even = _mm256_cvtepi16_epi8(v);
                let odd = _mm256_cvtepi16_epi8(_mm256_srli_epi16::<8>(v));
                for (part, start, count) in [(even, p0, len.div_ceil(2)), (odd, p0 + 1, len / 2)] {
                    let from = start % 2 * phase + at + start / 2;
                    let dst = &mut plane[from..from + count];
                    #[allow(clippy::cast_possible_truncation)] // `count <= 16`.
                    let keep = ((1u32 << count) - 1) as u16;
                    // SAFETY: AVX-512 BW and VL are enabled; the store
                    // writes the `count` bytes of `dst`.
                    unsafe { _mm_mask_storeu_epi8(dst.as_mut_ptr().cast(), keep, part) };
                }
            }
        }
    }
}

/// Each input channel's taps as broadcast `i32` quads, and the sum of the
/// weights: `taps[c][g][kw]` for `g < groups` holds kernel rows `4g..4g +
/// 4` of column `kw` (rows past `KH` zero); `taps[c][groups + j][q]` for
/// `j < cols` kernel columns `4q..4q + 4` of row `4·groups + j` (columns
/// past `KW` zero). The rest is unused.
#[target_feature(enable = "avx2,avx512f")]
#[inline]
#[allow(clippy::type_complexity)] // The weights' shape, in registers.
fn taps<const CG: usize, const KH: usize, const KW: usize>(
    w: &[[[i8; KW]; KH]; CG],
    (groups, cols): (usize, usize),
) -> ([[[__m512i; KW]; KH]; CG], i32) {
    // (Loops, no closures: a closure does not inherit the target features,
    // and taps built through one stayed in memory, read by every
    // `vpdpbusd`.)
    let mut taps = [[[_mm512_setzero_si512(); KW]; KH]; CG];
    let mut sum = 0i32;
    for (taps, w) in taps.iter_mut().zip(w) {
        for (g, taps) in taps.iter_mut().enumerate().take(groups) {
            for (kw, tap) in taps.iter_mut().enumerate() {
                let mut quad = [0u8; 4];
                for (j, q) in quad.iter_mut().enumerate() {
                    if let Some(row) = w.get(4 * g + j) {
                        *q = row[kw].cast_unsigned();
                        sum += i32::from(row[kw]);
                    }
                }
                *tap = _mm512_set1_epi32(i32::from_le_bytes(quad));
            }
        }
        for (j, taps) in taps.iter_mut().skip(groups).enumerate().take(cols) {
            let row = &w[4 * groups + j];
            for (q, tap) in taps.iter_mut().enumerate().take(KW.div_ceil(4)) {
                let mut quad = [0u8; 4];
                for (i, b) in quad.iter_mut().enumerate() {
                    if let Some(&v) = row.get(4 * q + i) {
                        *b = v.cast_unsigned();
                        sum += i32::from(v);
                    }
                }
                *tap = _mm512_set1_epi32(i32::from_le_bytes(quad));
            }
        }
    }
    (taps, sum)
}

/// The band's quads (output rows `r0..r0 + rows`), plane `g·SW + b` for
/// kernel rows `4g..4g + 4` and column phase `b`, row `r` at `r·WU`: each
/// quad's byte `j` is kernel row `kh = 4g + j`'s, padded row `SH·r +
/// kh·DH`, in the plane's row phase `kh·DH mod SH` at row `r + ⌊kh·DH /
/// SH⌋`, so that the band is one run at fixed offsets for any stride.
///
/// # Safety
///
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx2,avx512f")]
#[inline]
unsafe fn build<const SH: usize, const SW: usize, const DH: usize, const KH: usize>(
    plane: &[u8],
    lay: Layout,
    r0: usize,
    rows: usize,
    quads: &mut [i32],
) {
    let phase = lay.rows * lay.wu;
    // Column quads: kernel row `kh`'s bytes at columns `+0..+4`.
    for j in 0..lay.cols {
        let kh = 4 * lay.groups + j;
        let row = (kh * DH % SH * SW) * phase + kh * DH / SH * lay.wu;
        let from = [row, row + 1, row + 2, row + 3];
        let dst = (lay.groups * SW + j) * lay.quads;
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { run(plane, r0 * lay.wu, &from, &mut quads[dst..], rows * lay.wu) };
    }
    for g in 0..lay.groups {
        for b in 0..SW {
            let mut from = [0usize; 4];
            for (j, from) in from.iter_mut().enumerate() {
                // Kernel rows past `KH` weigh 0: read any row the plane has.
                let kh = (4 * g + j).min(KH - 1);
                *from = (kh * DH % SH * SW + b) * phase + kh * DH / SH * lay.wu;
            }
            let dst = (g * SW + b) * lay.quads;
            // SAFETY: the caller guarantees AVX-512F.
            unsafe { run(plane, r0 * lay.wu, &from, &mut quads[dst..], rows * lay.wu) };
        }
    }
}

/// `dst[m]` for `m < len` (and up to the next multiple of 16): the quad
/// of bytes `plane[src + from[j] + m]`, `j = 0..4`, byte `j` at bits `8j`.
///
/// # Safety
///
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx2,avx512f")]
#[inline]
unsafe fn run(plane: &[u8], src: usize, from: &[usize; 4], dst: &mut [i32], len: usize) {
    let end = len.div_ceil(16) * 16;
    let reach = from.iter().copied().max().unwrap_or(0);
    assert!(
        src + reach + end <= plane.len() && end <= dst.len(),
        "quads past the buffers"
    );
    let base = plane.as_ptr().wrapping_add(src);
    for m in (0..end).step_by(16) {
        // SAFETY: AVX-512F is enabled. Each load reads bytes `src + from[j]
        // + m + 0..16 <= src + reach + end <= plane.len()`, the store
        // `i32`s `m + 0..16 <= end <= dst.len()` (asserted above).
        // (No closure for the four loads: it would not inherit the target
        // features, and could stay a call.)
        unsafe {
            let b0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(base.add(from[0] + m).cast()));
            let b1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(base.add(from[1] + m).cast()));
            let b2 = _mm512_cvtepu8_epi32(_mm_loadu_si128(base.add(from[2] + m).cast()));
            let b3 = _mm512_cvtepu8_epi32(_mm_loadu_si128(base.add(from[3] + m).cast()));
            let quad = _mm512_or_si512(
                _mm512_or_si512(b0, _mm512_slli_epi32::<8>(b1)),
                _mm512_or_si512(_mm512_slli_epi32::<16>(b2), _mm512_slli_epi32::<24>(b3)),
            );
            _mm512_storeu_si512(dst.as_mut_ptr().add(m).cast(), quad);
        }
    }
}

/// The sums of the `V` vectors of wide indices from `n`: per input
/// channel, group of kernel rows and kernel column, one `vpdpbusd` per
/// vector.
///
/// # Safety
///
/// The CPU must have AVX-512 F and VNNI.
#[inline(always)] // Into `conv2d`: a call passes the taps in memory.
unsafe fn chunk<
    const SW: usize,
    const DW: usize,
    const CG: usize,
    const KH: usize,
    const KW: usize,
    const V: usize,
>(
    quads: &[i32],
    lay: Layout,
    taps: &[[[__m512i; KW]; KH]; CG],
    n: usize,
) -> [__m512i; V] {
    // The furthest read: the last plane's `n + 16·V` vectors on from the
    // largest column offset, inside its slack (`Layout::quads`) while `n`
    // starts a chunk of the band.
    let planes = CG * lay.planes;
    let reach = (planes - 1) * lay.quads + n + 16 * V + (KW - 1) * DW / SW;
    assert!(reach <= quads.len(), "a tap past the quads");
    let mut acc = [_mm512_setzero_si512(); V];
    for (c, taps) in taps.iter().enumerate() {
        let first = c * lay.planes;
        for (g, taps) in taps.iter().enumerate().take(lay.groups) {
            for (kw, &w) in taps.iter().enumerate() {
                let plane = first + g * SW + kw * DW % SW;
                // SAFETY: the caller guarantees AVX-512 F and VNNI;
                // `plane < planes` and `kw·DW / SW <= (KW − 1)·DW / SW`, so
                // the reads end by `reach <= quads.len()` (asserted above).
                unsafe { dot(quads, plane * lay.quads + n + kw * DW / SW, w, &mut acc) };
            }
        }
        // Column quads (stride and dilation 1): quad `q` at `n + 4q`.
        for (j, taps) in taps.iter().skip(lay.groups).enumerate().take(lay.cols) {
            let plane = first + lay.groups * SW + j;
            for (q, &w) in taps.iter().enumerate().take(KW.div_ceil(4)) {
                // SAFETY: as above, with `4q <= 4·(⌈KW / 4⌉ − 1) <= KW −
                // 1` (and `DW = SW = 1` where there are column quads).
                unsafe { dot(quads, plane * lay.quads + n + 4 * q, w, &mut acc) };
            }
        }
    }
    acc
}

/// `acc[s] += vpdpbusd(quads[at + 16·s..][..16], w)` for each vector `s`.
///
/// # Safety
///
/// The CPU must have AVX-512 F and VNNI, and `at + 16·V <= quads.len()`
/// (the callers' reach: `at` is at most the last plane's `n` plus its
/// largest column offset, `(KW − 1)·DW / SW`, or for column quads `4·(⌈KW
/// / 4⌉ − 1) <= KW − 1`).
#[inline(always)] // Into `conv2d`: a call passes the taps in memory.
unsafe fn dot<const V: usize>(quads: &[i32], at: usize, w: __m512i, acc: &mut [__m512i; V]) {
    debug_assert!(at + 16 * V <= quads.len());
    for (s, acc) in acc.iter_mut().enumerate() {
        // SAFETY: the caller guarantees AVX-512 F and VNNI and that `i32`s
        // `at + 16·s + 0..16`, which the load reads, are inside `quads`.
        unsafe {
            let x = _mm512_loadu_si512(quads.as_ptr().add(at + 16 * s).cast());
            *acc = _mm512_dpbusd_epi32(*acc, x, w);
        }
    }
}
