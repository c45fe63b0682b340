//! The row-wise depthwise body (AVX-512F, and AVX2 + FMA in [`avx2`]): a
//! depthwise convolution at horizontal stride 1 or 2 computed a vector of
//! 16 (8) output columns of one row at a time, straight from the input
//! planes: nothing is packed, transposed or copied.
//!
//! # Why
//!
//! A depthwise layer does 9 multiply-adds per output (3×3) and reads its
//! whole input once, so the copies the other bodies make cost as much as
//! the arithmetic. The channel-blocked body transposes the input into
//! pixel-major order and the output back, a shuffle per four values each
//! way; at stride 2 it transposes four input pixels per output pixel. The
//! packed body copies the input into phase planes. On MobileNetV1 at 96×96
//! those layers ran at 8–22% of the FMA peak and took about 30% of the
//! network.
//!
//! # Algorithm
//!
//! Channel by channel (its input plane stays in the cache), for each
//! vector of up to 16 consecutive output columns of a row (a row of 24 is
//! 16 + 8), the masks of every kernel column are worked out once (at stride
//! 2 with AVX-512F, the offsets); then for
//! each band of [`ROWS`] output rows (2 at stride 2 with AVX2), that many
//! accumulators (independent chains for the FMA latency) start at the
//! bias, and each tap `(kh, kw)` adds `w · x`, with `x` the 16 input values
//! that output columns `ow0..ow0 + 16` read:
//!
//! - at stride 1, one unaligned load from column `ow0 + kw − PL`;
//! - at stride 2 with AVX2, two loads of 16 from column `2·ow0 + kw − PL`
//!   and a shuffle that keeps the even elements of the 32;
//! - at stride 2 with AVX-512F, two loads of 16 from column `2·ow0 +
//!   2·⌊(kw − PL) / 2⌋` and a `vpermt2ps` keeping the even or the odd
//!   elements of the 32, once per input row of a band and kernel column
//!   (kernel columns with the same loads share them), the row shared by
//!   the two output rows that read it at 3×3 (`avx512::conv2d_s2`).
//!
//! Lanes whose input column is in the padding are masked off (they read
//! zero); an input row in the padding is a vector of zeros. The
//! accumulators go through the epilogue ([`Post`](crate::conv::Post): norm, residual,
//! activation, the other bodies' operations) and a masked store into the
//! output row.
//!
//! Each output is `bias + Σ_kh Σ_kw w·x` in that order, one fused
//! multiply-add per term: the packed and channel-blocked bodies' order, so
//! the same bits.
//!
//! # Where it runs
//!
//! [`applies`]: depthwise (`groups = in = out channels`), horizontal stride
//! 1 or 2 without horizontal dilation, at most [`MAX_KW`] kernel columns;
//! [`profitable`] with AVX-512F on rows of at least 12 output columns,
//! with AVX2 where the channel-blocked body does not apply.

/// Output rows computed together at horizontal stride 1: independent
/// accumulators for the FMA latency. (At stride 2 the AVX-512F body
/// computes 4 or 2, `avx512::conv2d_s2`; the AVX2 body 2.)
pub(crate) const ROWS: usize = 4;

/// Whether this body computes the zero-padded convolution: see the
/// [module docs](self#where-it-runs).
pub(crate) const fn applies(
    (g, c, cg, o): (usize, usize, usize, usize),
    (sw, dw): (usize, usize),
    kw: usize,
) -> bool {
    cg == 1 && g == c && o == c && (sw == 1 || sw == 2) && dw == 1 && kw <= MAX_KW
}

/// The most kernel columns (a mask each).
pub(crate) const MAX_KW: usize = 7;

/// Whether it beats the other bodies where it [`applies`], for output rows
/// of `ow` columns, with AVX2 (`avx2`) or AVX-512F, where the
/// channel-blocked body applies (`blocked`) or not.
///
/// With AVX2 wherever the channel-blocked body does not apply: the
/// alternative there is the packed body, and the row-wise one beat it on
/// every depthwise layer of MobileNetV1 and DS-CNN (see [`avx2`]). Where
/// it does, the channel-blocked body was as fast or faster on every layer
/// of the zoo it takes (`cargo bench -p constnet-runtime --bench kernels
/// -- layers/`, fastest of 3 interleaved runs, µs, row-wise against
/// channel-blocked, AMD Zen 3): MobileNetV1's stride-1 64 ch 12×12 8.60
/// against 4.58, 256 ch 3×3 5.26 against 3.08, 32 ch 24×24 9.78 against
/// 9.53, 128 ch 6×6 3.02 against 2.99; its stride-2 32 ch 24×24 6.03
/// against 4.67, 64 ch 12×12 3.13 against 2.31, 128 ch 6×6 3.29 against
/// 2.08; DS-CNN's 64 ch 25×5 5.11 against 4.53.
///
/// With AVX-512F on rows of at least 12 (at most a quarter of the lanes
/// idle), where it also beats the channel-blocked body. Measured with `cargo bench -p
/// constnet-runtime --bench kernels -- layers/`, fastest of 3 interleaved
/// runs, µs, before → after: MobileNetV1's stride-1 layers 8 ch 48×48
/// 6.02 → 2.16, 32 ch 24×24 4.75 → 2.64, 64 ch 12×12 2.34 → 1.36, its
/// stride-2 layers 16 ch 48×48 6.29 → 4.34, 32 ch 24×24 2.56 → 1.69.
/// Forced onto narrower rows it lost: DS-CNN's 25×5 1.91 against 2.67,
/// 128 ch 6×6 1.26 against 1.38, 256 ch 3×3 0.63 against 2.69 (one
/// vector per row of 3). At 6 columns and stride 2 it won (64 ch 12×12,
/// 1.07 against 1.27); the rule keeps one threshold.
pub(crate) const fn profitable(avx2: bool, ow: usize, blocked: bool) -> bool {
    if avx2 {
        !blocked
    } else {
        ow >= 12
    }
}

/// The AVX-512F body.
pub(crate) mod avx512 {
    use super::{MAX_KW, ROWS};
    use crate::act::PostAct;
    use crate::conv::Post;
    use crate::simd::act::post_act512;
    use crate::simd::conv::packed::avx512::permute2;
    use crate::simd::conv::{coefficients, lane_mask, row_mask};
    use core::arch::x86_64::{
        __m512, _mm512_add_epi32, _mm512_add_ps, _mm512_fmadd_ps, _mm512_mask_storeu_ps,
        _mm512_maskz_loadu_ps, _mm512_max_ps, _mm512_mul_ps, _mm512_set1_epi32, _mm512_set1_ps,
        _mm512_setr_epi32, _mm512_setzero_ps,
    };

    const LANES: usize = 16;

    /// [`crate::conv::conv2d_fused`] for a depthwise convolution that
    /// [`super::applies`]; see the [module docs](super).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    pub(crate) fn conv2d<
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
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
        input: &[[[f32; W]; H]; C],
        weight: &[[[[f32; KW]; KH]; CG]; O],
        bias: Option<&[f32; O]>,
        post: &Post<'_, O, OH, OW>,
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        debug_assert!(super::applies((C, C, CG, O), (SW, 1), KW));
        let norms: Option<[(f32, f32); O]> = post.norm.map(|n| coefficients::<O, O>(&n, 0));
        if SW == 2 {
            conv2d_s2::<SH, PT, PL, DH, C, H, W, O, CG, KH, KW, OH, OW>(
                input,
                (weight, bias, norms.as_ref()),
                post,
                output,
            );
            return;
        }
        // Channel by channel, so that each input plane is read from the
        // cache by every vector of columns.
        for o in 0..O {
            let ch = Channel {
                input: input[o].as_flattened(),
                weight: weight[o][0].as_flattened(),
                bias: bias.map_or(0.0, |b| b[o]),
                norm: norms.as_ref().map(|n| n[o]),
            };
            let mut ow0 = 0;
            while ow0 < OW {
                let n = LANES.min(OW - ow0);
                let masks = Masks::new::<PL, W, KW>(ow0, n);
                let mut r0 = 0;
                while r0 + ROWS <= OH {
                    rows::<ROWS, SH, PT, PL, DH, H, W, KH, KW, O, OH, OW>(
                        &ch,
                        &masks,
                        post,
                        (o, r0, ow0, n),
                        &mut output[o],
                    );
                    r0 += ROWS;
                }
                while r0 < OH {
                    rows::<1, SH, PT, PL, DH, H, W, KH, KW, O, OH, OW>(
                        &ch,
                        &masks,
                        post,
                        (o, r0, ow0, n),
                        &mut output[o],
                    );
                    r0 += 1;
                }
                ow0 += n;
            }
        }
    }

    /// Output rows `r0..r0 + R` at columns `ow0..ow0 + n` of channel `o`:
    /// computed, through the epilogue and stored, the `R` accumulators in
    /// registers throughout (an array the epilogue took by slice was kept
    /// in memory, a store and a load per vector).
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    fn rows<
        const R: usize,
        const SH: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
        const H: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        ch: &Channel<'_>,
        masks: &Masks,
        post: &Post<'_, O, OH, OW>,
        (o, r0, ow0, n): (usize, usize, usize, usize),
        plane: &mut [[f32; OW]; OH],
    ) {
        let mut acc = band::<R, SH, PT, PL, DH, H, W, KH, KW>(ch, masks, r0, ow0);
        finish(ch, post, o, (r0, ow0, n), &mut acc, plane);
    }

    /// One channel's input plane, taps (`KH·KW`, row-major), bias and norm
    /// coefficients.
    struct Channel<'a> {
        input: &'a [f32],
        weight: &'a [f32],
        bias: f32,
        norm: Option<(f32, f32)>,
    }

    /// The load mask of each kernel column for one vector of output columns
    /// at stride 1.
    struct Masks([u16; MAX_KW]);

    impl Masks {
        /// For output columns `ow0..ow0 + n`.
        #[allow(clippy::cast_possible_wrap)] // Sizes far below `isize::MAX`.
        fn new<const PL: usize, const W: usize, const KW: usize>(ow0: usize, n: usize) -> Self {
            let mut m = Masks([0; MAX_KW]);
            for kw in 0..KW {
                // The elements of a load from column `s` that are input
                // columns and that the `n` lanes use.
                let s = (ow0 + kw) as isize - PL as isize;
                m.0[kw] = row_mask(s, W, n);
            }
            m
        }
    }

    /// The `R` accumulators of output rows `r0..r0 + R` at columns `ow0..`
    /// of one channel, without the epilogue.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments, clippy::cast_possible_wrap)] // Const parameters; sizes far below `isize::MAX`.
    fn band<
        const R: usize,
        const SH: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
        const H: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
    >(
        ch: &Channel<'_>,
        masks: &Masks,
        r0: usize,
        ow0: usize,
    ) -> [__m512; R] {
        let mut acc = [_mm512_set1_ps(ch.bias); R];
        let x = ch.input.as_ptr();
        for kh in 0..KH {
            for (r, a) in acc.iter_mut().enumerate() {
                // A padding row is zeros, multiplied as the other bodies do
                // (so an infinite weight gives NaN there too).
                let ih = ((r0 + r) * SH + kh * DH)
                    .checked_sub(PT)
                    .filter(|&ih| ih < H);
                for kw in 0..KW {
                    let w = _mm512_set1_ps(ch.weight[kh * KW + kw]);
                    let v = match ih {
                        Some(ih) => {
                            let s = (ih * W + ow0 + kw) as isize - PL as isize;
                            // SAFETY: AVX-512F is enabled on this function.
                            // The mask keeps only lanes whose element `s +
                            // e` is an input column `0..W` of input row `ih
                            // < H` (`Masks::new`): elements of the plane.
                            // The pointer is formed with wrapping
                            // arithmetic; masked-off lanes are not accessed.
                            unsafe { _mm512_maskz_loadu_ps(masks.0[kw], x.wrapping_offset(s)) }
                        }
                        None => _mm512_setzero_ps(),
                    };
                    *a = _mm512_fmadd_ps(w, v, *a);
                }
            }
        }
        acc
    }

    /// The stride-2 path: channel by channel, for each vector of up to 16
    /// output columns and each band of output rows (4, or 2 where a row
    /// takes two vectors or more), each input row an output row reads is
    /// loaded and split into the columns each kernel column reads
    /// ([`Pairs`]), then multiplied into that row's accumulator; at 3×3 an
    /// output row's first input row is the previous one's last, split once
    /// for both ([`band_s2`]).
    ///
    /// It replaces a path that deinterleaved each channel's plane into a
    /// stack buffer first (each row's even columns, then its odd ones, with
    /// zero margins; every tap then one plain load): on this AMD EPYC
    /// (Zen 4, 32 KiB L1) that copy was more than half of the 16-channel
    /// 48×48 layer's time (a 24 KiB buffer a plane beside the input
    /// streaming from L2), and the taps read 9 vectors from the buffer per
    /// output vector. Here an input row costs its loads and a `vpermt2ps`
    /// per kernel column, and nothing is stored but the outputs; there is
    /// no buffer (the old one took up to 128 KiB of stack), so no limit on
    /// the plane's size or padding. `taskset -c 0 cargo bench -p
    /// constnet-runtime --bench kernels -- 'layers/mbv1/dw3x3'`, 3
    /// interleaved runs, µs: 16 channels 48×48 6.62–8.07 → 4.65–4.80, 32
    /// channels 24×24 2.48–2.66 → 2.28–2.34 (1.75–2.0 in earlier runs of
    /// the same instructions, placed elsewhere). Four rows a band on the
    /// 48×48 layer (two vectors a row, 16 + 8) took 5.2–5.9 µs (LLVM loads
    /// all nine input rows first and spills); two on the 24×24 one (one
    /// vector a row) 1.95–2.0 against 1.8. Computing a row's two vectors
    /// together (twice the independent chains) was no faster on the 48×48
    /// layer (4.65–4.74 µs against 4.63–5.10).
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)] // Const parameters, not arguments.
    fn conv2d_s2<
        const SH: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
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
        input: &[[[f32; W]; H]; C],
        (weight, bias, norms): (
            &[[[[f32; KW]; KH]; CG]; O],
            Option<&[f32; O]>,
            Option<&[(f32, f32); O]>,
        ),
        post: &Post<'_, O, OH, OW>,
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        for o in 0..O {
            let ch = Channel {
                input: input[o].as_flattened(),
                weight: weight[o][0].as_flattened(),
                bias: bias.map_or(0.0, |b| b[o]),
                norm: norms.map(|n| n[o]),
            };
            let mut ow0 = 0;
            while ow0 < OW {
                let n = LANES.min(OW - ow0);
                let at = (o, ow0, n);
                if OW > LANES {
                    columns_s2::<2, SH, PT, PL, DH, H, W, KH, KW, O, OH, OW>(&ch, post, at, output);
                } else {
                    columns_s2::<4, SH, PT, PL, DH, H, W, KH, KW, O, OH, OW>(&ch, post, at, output);
                }
                ow0 += n;
            }
        }
    }

    /// Output columns `ow0..ow0 + n` of channel `o` at stride 2, every
    /// row: `R` rows at a time, then one, through the epilogue and stored.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    fn columns_s2<
        const R: usize,
        const SH: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
        const H: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        ch: &Channel<'_>,
        post: &Post<'_, O, OH, OW>,
        (o, ow0, n): (usize, usize, usize),
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        let pairs = Pairs::new::<PL, W, KW>(ow0, n);
        let mut r0 = 0;
        while r0 + R <= OH {
            let mut acc = band_s2::<R, SH, PT, DH, H, W, KH, KW>(ch, &pairs, r0);
            finish(ch, post, o, (r0, ow0, n), &mut acc, &mut output[o]);
            r0 += R;
        }
        while r0 < OH {
            let mut acc = band_s2::<1, SH, PT, DH, H, W, KH, KW>(ch, &pairs, r0);
            finish(ch, post, o, (r0, ow0, n), &mut acc, &mut output[o]);
            r0 += 1;
        }
    }

    /// Where each kernel column's inputs are, for one vector of output
    /// columns `ow0..ow0 + n` at stride 2: output column `ow0 + l` of kernel
    /// column `kw` reads input column `2·(ow0 + l) + q` (`q = kw − PL`),
    /// element `2·l + (q mod 2)` of the 32 input columns from `2·ow0 + 2·⌊q
    /// / 2⌋`: two loads of 16 and one `vpermt2ps` keeping the even or the
    /// odd elements. Kernel columns with the same `⌊q / 2⌋` share the
    /// loads.
    struct Pairs {
        /// Each kernel column's first loaded column, relative to the row.
        start: [isize; MAX_KW],
        /// Each kernel column's masks of its two loads: the elements that
        /// are input columns (`0..W`, the others read as zeros, the
        /// padding) and that the `n` lanes use (the same for columns with
        /// the same start).
        masks: [(u16, u16); MAX_KW],
        /// Each kernel column's permutation: `2·l + (q mod 2)` in lane `l`.
        odd: [bool; MAX_KW],
    }

    impl Pairs {
        #[allow(clippy::cast_possible_wrap)] // Sizes far below `isize::MAX`.
        fn new<const PL: usize, const W: usize, const KW: usize>(ow0: usize, n: usize) -> Self {
            let mut p = Pairs {
                start: [0; MAX_KW],
                masks: [(0, 0); MAX_KW],
                odd: [false; MAX_KW],
            };
            for kw in 0..KW {
                let q = kw as isize - PL as isize;
                let s = 2 * ow0 as isize + 2 * q.div_euclid(2);
                // Lane `l < n` uses element `2·l` or `2·l + 1` of the 32:
                // both loaded, so that columns sharing loads share masks.
                let used = 2 * n;
                p.start[kw] = s;
                p.masks[kw] = (
                    row_mask(s, W, used),
                    row_mask(s + 16, W, used.saturating_sub(16)),
                );
                p.odd[kw] = q.rem_euclid(2) == 1;
            }
            p
        }
    }

    /// The `R` accumulators of output rows `r0..r0 + R` of one channel at
    /// stride 2 (the vector of columns `pairs` describes), without the
    /// epilogue, the terms of each in `kh`, then `kw` order (the other
    /// bodies' sum order, so the same bits). Where an output row's first
    /// kernel row is the previous one's last (`SH = (KH − 1)·DH`: 3×3 at
    /// stride 2), that input row is split once for both. Row by row, each
    /// accumulator a chain of `KH·KW` multiply-adds: the rows' chains are
    /// independent, and the core overlaps them.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    fn band_s2<
        const R: usize,
        const SH: usize,
        const PT: usize,
        const DH: usize,
        const H: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
    >(
        ch: &Channel<'_>,
        pairs: &Pairs,
        r0: usize,
    ) -> [__m512; R] {
        let shared = SH == (KH - 1) * DH;
        let mut acc = [_mm512_set1_ps(ch.bias); R];
        let mut last = [_mm512_setzero_ps(); KW];
        for (r, a) in acc.iter_mut().enumerate() {
            for kh in 0..KH {
                let x = if shared && kh == 0 && r > 0 {
                    last
                } else {
                    // A padding row is zeros, multiplied as the other
                    // bodies do (so an infinite weight gives NaN there too).
                    match ((r0 + r) * SH + kh * DH)
                        .checked_sub(PT)
                        .filter(|&ih| ih < H)
                    {
                        Some(ih) => {
                            let row = ch.input[ih * W..].first_chunk::<W>();
                            row_s2::<W, KW>(row.expect("a row of the plane"), pairs)
                        }
                        None => [_mm512_setzero_ps(); KW],
                    }
                };
                for (kw, &x) in x.iter().enumerate() {
                    *a = _mm512_fmadd_ps(_mm512_set1_ps(ch.weight[kh * KW + kw]), x, *a);
                }
                last = x;
            }
        }
        acc
    }

    /// The elements `at + e` of `p` that mask `m` keeps, zeros elsewhere.
    /// A load without a lane is not made: a fully masked load from an
    /// unmapped address (past the input) is a fault-suppression assist
    /// (see `packed`'s module docs).
    ///
    /// # Safety
    ///
    /// Every element the mask keeps must be inside the allocation `p` is
    /// in.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load(p: *const f32, m: u16, at: isize) -> __m512 {
        if m == 0 {
            return _mm512_setzero_ps();
        }
        // SAFETY: AVX-512F is enabled on this function; the caller
        // guarantees the kept elements are in bounds. The pointer is formed
        // with wrapping arithmetic and masked-off lanes are not accessed.
        unsafe { _mm512_maskz_loadu_ps(m, p.wrapping_offset(at)) }
    }

    /// The 16 inputs of each kernel column (`pairs`) in one input row.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn row_s2<const W: usize, const KW: usize>(row: &[f32; W], pairs: &Pairs) -> [__m512; KW] {
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        let p = row.as_ptr();
        let mut x = [_mm512_setzero_ps(); KW];
        let mut loaded = (isize::MIN, _mm512_setzero_ps(), _mm512_setzero_ps());
        for (kw, x) in x.iter_mut().enumerate() {
            let s = pairs.start[kw];
            if s != loaded.0 {
                let (m0, m1) = pairs.masks[kw];
                // SAFETY: the masks keep only elements `s + e` that are
                // columns `0..W` of `row` (`Pairs::new`).
                loaded = unsafe { (s, load(p, m0, s), load(p, m1, s + 16)) };
            }
            let idx = if pairs.odd[kw] { odd } else { even };
            *x = permute2(loaded.1, idx, loaded.2);
        }
        x
    }

    /// The epilogue's norm, `acc · alpha + beta`, on `R` accumulators of
    /// one channel (an array, not a slice: one taken by slice was kept in
    /// memory). Shared with the row-stacked body.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn normalize<const R: usize>(acc: &mut [__m512; R], norm: Option<(f32, f32)>) {
        if let Some((alpha, beta)) = norm {
            let (alpha, beta) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
            for a in acc.iter_mut() {
                *a = _mm512_add_ps(_mm512_mul_ps(*a, alpha), beta);
            }
        }
    }

    /// The epilogue's activation on `R` accumulators (ReLU inline, the
    /// others in `simd/act.rs`). Shared with the row-stacked body.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn activate<const R: usize>(acc: &mut [__m512; R], act: PostAct) {
        match act {
            PostAct::None => {}
            PostAct::Relu => {
                for a in acc.iter_mut() {
                    *a = _mm512_max_ps(_mm512_setzero_ps(), *a);
                }
            }
            act => post_act512(acc, act),
        }
    }

    /// The epilogue (norm, residual, activation: the other bodies'
    /// operations) and the stores of rows `r0..` at columns `ow0..ow0 + n`
    /// of channel `o`'s output plane.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn finish<const R: usize, const O: usize, const OH: usize, const OW: usize>(
        ch: &Channel<'_>,
        post: &Post<'_, O, OH, OW>,
        o: usize,
        (r0, ow0, n): (usize, usize, usize),
        acc: &mut [__m512; R],
        plane: &mut [[f32; OW]; OH],
    ) {
        let m = lane_mask(0, n);
        normalize(acc, ch.norm);
        if let Some(residual) = post.residual {
            for (r, a) in acc.iter_mut().enumerate() {
                let row = &residual[o][r0 + r][ow0..];
                // SAFETY: AVX-512F is enabled; the mask keeps lanes
                // `0..n`, inside `row` (`ow0 + n <= OW`).
                *a = _mm512_add_ps(*a, unsafe { _mm512_maskz_loadu_ps(m, row.as_ptr()) });
            }
        }
        activate(acc, post.act);
        for (r, a) in acc.iter().enumerate() {
            let row = &mut plane[r0 + r][ow0..];
            // SAFETY: AVX-512F is enabled; the mask keeps lanes `0..n`,
            // inside `row` (`ow0 + n <= OW`).
            unsafe { _mm512_mask_storeu_ps(row.as_mut_ptr(), m, *a) };
        }
    }
}

/// The AVX2 + FMA body: the AVX-512 body's loops, 8 output columns per
/// vector and, at stride 1, 8 rows at a time ([`ROWS`], then
/// 4), not 4. AVX2 has no embedded broadcast, so each channel's taps are
/// broadcast once into vectors, which the multiply-adds read as memory
/// operands. Vectors of columns whose loads all stay inside the input row
/// use plain loads, the others `vmaskmovps`; at stride 2 two loads, a
/// `vshufps` and a `vpermpd` keep the even elements.
///
/// The sum order is the AVX-512 body's (`bias + Σ_kh Σ_kw w·x`), so the
/// same bits.
///
/// Measured on a Zen 3 core (AVX2, FMA peak 101 GFLOP/s) with `cargo bench
/// -p constnet-runtime --bench kernels -- layers/`, the packed body (which
/// ran every depthwise layer with AVX2 before) against this one,
/// fastest of 3 interleaved runs, µs: MobileNetV1 at stride 1, 8 ch 48×48
/// 23.4 → 6.0 (55 GFLOP/s), 32 ch 24×24 27.8 → 6.0, 64 ch 12×12 17.5 →
/// 7.1, 128 ch 6×6 8.0 → 4.9, 256 ch 3×3 15.5 → 5.8; at stride 2, 16 ch
/// 48×48 20.9 → 7.4, 32 ch 24×24 15.9 → 6.2, 64 ch 12×12 12.7 → 4.0, 128
/// ch 6×6 12.9 → 2.9; DS-CNN's 64 ch 25×5 28.6 → 9.6. Masked stores are
/// microcoded on AMD's cores, so only tails use them (a first version
/// that stored every vector masked, and looped over input rows outermost,
/// ran the 8 ch 48×48 layer in 26 µs). Rows narrower than a vector are
/// stored whole but for the plane's last rows ([`finish`]): DS-CNN's
/// layer 9.8 → 5.4 µs, 128 ch 6×6 5.1 → 3.0, 256 ch 3×3 5.8 → 5.0.
pub(crate) mod avx2 {
    use super::MAX_KW;
    use crate::act::PostAct;
    use crate::conv::Post;
    use crate::simd::act::post_act256;
    use crate::simd::conv::{coefficients, lane_mask, mask8};
    use core::arch::x86_64::{
        __m256, __m256i, _mm256_add_ps, _mm256_castpd_ps, _mm256_castps_pd, _mm256_fmadd_ps,
        _mm256_loadu_ps, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_max_ps, _mm256_mul_ps,
        _mm256_permute4x64_pd, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_ps,
        _mm256_shuffle_ps, _mm256_storeu_ps,
    };

    const LANES: usize = 8;

    /// Output rows computed together at stride 1: 8 accumulators (for the
    /// FMA latency: two FMA units of 4 cycles), the loaded row and a mask
    /// in registers, the taps in memory. Against 4, MobileNetV1's 8 ch
    /// 48×48 layer 9.72 → 8.15 µs (`cargo bench -p constnet-runtime
    /// --bench kernels -- layers/`, AMD Zen 3, fastest of 3 interleaved
    /// runs; 6 rows: 8.77).
    const ROWS: usize = 8;

    /// [`crate::conv::conv2d_fused`] for a depthwise convolution that
    /// [`super::applies`]; see the [module docs](self).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    pub(crate) fn conv2d<
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
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
        input: &[[[f32; W]; H]; C],
        weight: &[[[[f32; KW]; KH]; CG]; O],
        bias: Option<&[f32; O]>,
        post: &Post<'_, O, OH, OW>,
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        debug_assert!(super::applies((C, C, CG, O), (SW, 1), KW));
        let norms: Option<[(f32, f32); O]> = post.norm.map(|n| coefficients::<O, O>(&n, 0));
        for o in 0..O {
            let mut taps = [[_mm256_setzero_ps(); MAX_KW]; KH];
            for (t, w) in taps.iter_mut().zip(&weight[o][0]) {
                for (t, &w) in t.iter_mut().zip(w) {
                    *t = _mm256_set1_ps(w);
                }
            }
            let ch = Channel {
                input: input[o].as_flattened(),
                taps: &taps,
                bias: bias.map_or(0.0, |b| b[o]),
                norm: norms.as_ref().map(|n| n[o]),
            };
            let mut ow0 = 0;
            while ow0 < OW {
                let n = LANES.min(OW - ow0);
                let masks = Masks::new::<SW, PL, W, KW>(ow0, n);
                if masks.inside {
                    columns::<false, SH, SW, PT, PL, DH, H, W, KH, KW, O, OH, OW>(
                        &ch,
                        &masks,
                        post,
                        (o, ow0, n),
                        &mut output[o],
                    );
                } else {
                    columns::<true, SH, SW, PT, PL, DH, H, W, KH, KW, O, OH, OW>(
                        &ch,
                        &masks,
                        post,
                        (o, ow0, n),
                        &mut output[o],
                    );
                }
                ow0 += n;
            }
        }
    }

    /// Every output row of channel `o` at columns `ow0..ow0 + n`: bands of
    /// [`ROWS`] rows at stride 1 (then one of half as many, if that many
    /// are left), 2 at stride 2, then single rows.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    fn columns<
        const MASKED: bool,
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
        const H: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        ch: &Channel<'_, KH>,
        masks: &Masks,
        post: &Post<'_, O, OH, OW>,
        (o, ow0, n): (usize, usize, usize),
        plane: &mut [[f32; OW]; OH],
    ) {
        let mut r0 = 0;
        while SW == 1 && r0 + ROWS <= OH {
            let mut acc =
                band::<ROWS, MASKED, SH, SW, PT, PL, DH, H, W, KH, KW>(ch, masks, r0, ow0);
            finish(ch, post, o, (r0, ow0, n), &mut acc, plane);
            r0 += ROWS;
        }
        if SW == 1 && r0 + ROWS / 2 <= OH {
            let mut acc =
                band::<{ ROWS / 2 }, MASKED, SH, SW, PT, PL, DH, H, W, KH, KW>(ch, masks, r0, ow0);
            finish(ch, post, o, (r0, ow0, n), &mut acc, plane);
            r0 += ROWS / 2;
        }
        while SW == 2 && r0 + 2 <= OH {
            let mut acc = band::<2, MASKED, SH, SW, PT, PL, DH, H, W, KH, KW>(ch, masks, r0, ow0);
            finish(ch, post, o, (r0, ow0, n), &mut acc, plane);
            r0 += 2;
        }
        while r0 < OH {
            let mut acc = band::<1, MASKED, SH, SW, PT, PL, DH, H, W, KH, KW>(ch, masks, r0, ow0);
            finish(ch, post, o, (r0, ow0, n), &mut acc, plane);
            r0 += 1;
        }
    }

    /// One channel's input plane, taps (each broadcast to a vector), bias
    /// and norm coefficients.
    struct Channel<'a, const KH: usize> {
        input: &'a [f32],
        taps: &'a [[__m256; MAX_KW]; KH],
        bias: f32,
        norm: Option<(f32, f32)>,
    }

    /// The load masks of each kernel column for one vector of output
    /// columns (as [`super::avx512`]'s, one `i32` lane each), and whether
    /// every load of every kernel column stays inside the input row, so
    /// that plain loads do.
    struct Masks {
        lo: [__m256i; MAX_KW],
        hi: [__m256i; MAX_KW],
        inside: bool,
    }

    impl Masks {
        /// For output columns `ow0..ow0 + n`.
        #[target_feature(enable = "avx2")]
        #[inline]
        #[allow(
            clippy::cast_possible_wrap,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )] // Sizes far below `i32::MAX`; clamped first.
        fn new<const SW: usize, const PL: usize, const W: usize, const KW: usize>(
            ow0: usize,
            n: usize,
        ) -> Self {
            let mut m = Masks {
                lo: [_mm256_set1_epi32(0); MAX_KW],
                hi: [_mm256_set1_epi32(0); MAX_KW],
                inside: n == LANES,
            };
            // The elements `e` of a load from column `s` that are input
            // columns (`0 <= s + e < W`) and that the `n` lanes use (`e <=
            // SW·(n − 1)`), within `first..first + 8`.
            let lanes = |s: isize, first: usize| {
                let lo = (-s).clamp(0, 16) as usize;
                let hi = ((W as isize - s).clamp(0, 16) as usize).min(SW * (n - 1) + 1);
                mask8(lane_mask(
                    lo.clamp(first, first + LANES) - first,
                    hi.clamp(first, first + LANES) - first,
                ))
            };
            for kw in 0..KW {
                let s = (SW * ow0 + kw) as isize - PL as isize;
                m.lo[kw] = lanes(s, 0);
                m.hi[kw] = lanes(s, LANES);
                m.inside &= s >= 0 && s + (SW * LANES) as isize <= W as isize;
            }
            m
        }
    }

    /// The `R` accumulators of output rows `r0..r0 + R` at columns `ow0..`
    /// of one channel, without the epilogue.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments, clippy::cast_possible_wrap)] // Const parameters; sizes far below `isize::MAX`.
    fn band<
        const R: usize,
        const MASKED: bool,
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
        const H: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
    >(
        ch: &Channel<'_, KH>,
        masks: &Masks,
        r0: usize,
        ow0: usize,
    ) -> [__m256; R] {
        let mut acc = [_mm256_set1_ps(ch.bias); R];
        let x = ch.input.as_ptr();
        for kh in 0..KH {
            for (r, a) in acc.iter_mut().enumerate() {
                // A padding row is zeros, multiplied as the other bodies do
                // (so an infinite weight gives NaN there too).
                let ih = ((r0 + r) * SH + kh * DH)
                    .checked_sub(PT)
                    .filter(|&ih| ih < H);
                for kw in 0..KW {
                    let v = match ih {
                        Some(ih) => {
                            let s = (ih * W + SW * ow0 + kw) as isize - PL as isize;
                            row_load::<MASKED, SW>(x, s, masks.lo[kw], masks.hi[kw])
                        }
                        None => _mm256_setzero_ps(),
                    };
                    *a = _mm256_fmadd_ps(ch.taps[kh][kw], v, *a);
                }
            }
        }
        acc
    }

    /// The 8 input values of a vector of output columns: at stride 1
    /// elements `s..s + 8` of the plane `x`, at stride 2 the even ones of
    /// `s..s + 16`; with `MASKED`, lanes outside the masks read zero.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn row_load<const MASKED: bool, const SW: usize>(
        x: *const f32,
        s: isize,
        lo: __m256i,
        hi: __m256i,
    ) -> __m256 {
        // SAFETY: AVX2 is enabled on this function. With `MASKED`, the
        // masks keep only lanes whose element `s + e` is an input column
        // `0..W` of input row `ih` (`Masks::new`, `s = ih·W + SW·ow0 + kw −
        // PL` with `ih < H`): elements of the plane; masked-off lanes are
        // not accessed. Without, `Masks::new` found every element
        // `s..s + 8·SW` inside the row. The pointers are formed with
        // wrapping arithmetic.
        unsafe {
            let p = x.wrapping_offset(s);
            let load = |p: *const f32, m| {
                if MASKED {
                    _mm256_maskload_ps(p, m)
                } else {
                    _mm256_loadu_ps(p)
                }
            };
            let a = load(p, lo);
            if SW == 1 {
                return a;
            }
            let b = load(p.wrapping_add(LANES), hi);
            // [a0 a2 b0 b2 | a4 a6 b4 b6], then the 64-bit pairs reordered
            // to [a0 a2 a4 a6 b0 b2 b4 b6].
            let pairs = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                pairs,
            )))
        }
    }

    /// The epilogue (norm, residual, activation: the other bodies'
    /// operations) and the stores of rows `r0..` at columns `ow0..ow0 + n`
    /// of channel `o`'s output plane.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn finish<const R: usize, const KH: usize, const O: usize, const OH: usize, const OW: usize>(
        ch: &Channel<'_, KH>,
        post: &Post<'_, O, OH, OW>,
        o: usize,
        (r0, ow0, n): (usize, usize, usize),
        acc: &mut [__m256; R],
        plane: &mut [[f32; OW]; OH],
    ) {
        let m = mask8(lane_mask(0, n));
        if let Some((alpha, beta)) = ch.norm {
            let (alpha, beta) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
            for a in acc.iter_mut() {
                *a = _mm256_add_ps(_mm256_mul_ps(*a, alpha), beta);
            }
        }
        if let Some(residual) = post.residual {
            for (r, a) in acc.iter_mut().enumerate() {
                let row = &residual[o][r0 + r][ow0..];
                // SAFETY: AVX is enabled; the mask keeps lanes `0..n`,
                // inside `row` (`ow0 + n <= OW`).
                *a = _mm256_add_ps(*a, unsafe { _mm256_maskload_ps(row.as_ptr(), m) });
            }
        }
        match post.act {
            PostAct::None => {}
            PostAct::Relu => {
                for a in acc.iter_mut() {
                    *a = _mm256_max_ps(_mm256_setzero_ps(), *a);
                }
            }
            act => post_act256(acc, act),
        }
        // A masked store is microcoded on AMD's cores, so only tails take
        // it, and not even those where a row is one vector (`OW < 8`, so
        // `ow0 = 0`): there the full vector's extra lanes land on the next
        // row's first columns, which that row's own store, later in this
        // loop or the next band, overwrites. The plane's last rows, whose
        // vector would reach past the plane, stay masked.
        for (r, a) in acc.iter().enumerate() {
            if OW < LANES {
                let flat = plane.as_flattened_mut();
                let at = (r0 + r) * OW;
                let dst = flat[at..].as_mut_ptr();
                // SAFETY: AVX is enabled. A full store writes `flat[at..at
                // + 8]`, inside the plane by the bound checked; otherwise
                // the mask keeps lanes `0..n`, row `r0 + r` (`n = OW`).
                unsafe {
                    if at + LANES <= flat.len() {
                        _mm256_storeu_ps(dst, *a);
                    } else {
                        _mm256_maskstore_ps(dst, m, *a);
                    }
                }
                continue;
            }
            let row = &mut plane[r0 + r][ow0..];
            // SAFETY: AVX is enabled; a full vector is 8 floats and `row`
            // has at least `n = 8` (`ow0 + n <= OW`); otherwise the mask
            // keeps lanes `0..n`, inside `row`.
            unsafe {
                if n == LANES {
                    _mm256_storeu_ps(row.as_mut_ptr(), *a);
                } else {
                    _mm256_maskstore_ps(row.as_mut_ptr(), m, *a);
                }
            }
        }
    }
}
