//! The output-channel body: convolutions vectorised across *output
//! channels*, two vectors at a time (32 channels with AVX-512F, 16 with
//! AVX2 + FMA), instead of along a plane's pixels. With AVX-512F, a
//! convolution whose output channels are a multiple of 16 but not of 32
//! runs one vector at a time where [`one_vector_pays`].
//!
//! # Why
//!
//! The packed body vectorises along the pixels of a plane. On the small
//! planes of ResNet-8's later stages and of MobileNets' pointwise layers,
//! many of its lanes are computed for nothing: an 8×8 plane padded to 10
//! columns is 5 vectors for 64 pixels (80% of the lanes useful), a 6×6 one
//! 3 vectors for 36, a 3×3 one a vector for 9; and at stride 2 each output
//! row is one more junk column. Here a lane is an output channel, so with
//! at least two vectors of output channels every lane computes a wanted
//! output, whatever the plane's size, stride, dilation or padding.
//!
//! The text below counts AVX-512F's 16 lanes; with AVX2 read 8 lanes, 16
//! channels per block, runs of at most 5 pixels (10 accumulators of the
//! 16 registers), 8×8 transposes.
//!
//! # Algorithm
//!
//! 1. *pad*: with padding, the input is copied once per call into a
//!    zero-bordered buffer (`[C][PH][PW]`; only the borders are zeroed);
//!    without, it is read in place.
//! 2. For each block of 32 output channels:
//!    1. *weights*: the block's `32 × K` weights (`K = C·KH·KW`, PyTorch's
//!       `[O][C][KH][KW]`) are transposed, 16×16 in registers, into a
//!       `K × 32` buffer: tap `k`'s 32 weights are two plain loads.
//!    2. *compute*: each output row is cut into runs of at most 12 pixels
//!       of nearly equal length (`R`, a constant of the micro-kernel). For
//!       every tap, its two weight vectors meet the `R` pixels' input,
//!       each one broadcast from memory (`vbroadcastss`): `2·R` FMAs for
//!       `R + 2` loads, `2·R` accumulators (24 of the 32 registers), no
//!       masks, no padding tests. A 1×1 convolution at stride 1 without
//!       padding reads its plane as one row.
//!    3. *store*: each run's accumulators go, pixel-major, to a band buffer
//!       of up to [`BAND`] pixels; a full band is transposed back 16 pixels
//!       by 16 channels, so that each vector holds one channel's 16
//!       consecutive output pixels, and goes through the epilogue (norm,
//!       residual, activation: the other bodies' operations, so the fused
//!       result is the unfused one bit for bit) and a plain store.
//! 3. With AVX2, a residual and the activation after it are not applied in
//!    the store but in one more pass over the output, plane by plane
//!    (`avx2::add_residual` says why); the norm stays in the store.
//!
//! Each output is `bias + Σ_kh Σ_c Σ_kw w·x` in that order, one fused
//! multiply-add per term: the direct body's order.
//!
//! # Cost
//!
//! The weight transpose costs a shuffle per four weights, once per call,
//! and the output's a shuffle per four outputs; against that, no lane is
//! wasted. It wins wherever the packed body computes lanes for nothing
//! ([`profitable`]), even on a 3×3 plane.
//!
//! # Where it runs
//!
//! [`applies`]: ungrouped, output channels a multiple of the block, at
//! most [`WEIGHT_CAP`]` / 32` weights per output channel with AVX-512F
//! (576: 64 input channels at 3×3; twice as many with AVX2), a padded
//! input of at most [`INPUT_CAP`] floats, and output rows of at most
//! [`BAND`] pixels. Its three buffers (72, 72.25 and 32 or 16 KiB) are on the
//! stack.

use core::mem::MaybeUninit;

/// The floats of the transposed weights of a block, `K × OB`: `K ≤ 576`
/// for AVX-512F's 32 channels.
pub(crate) const WEIGHT_CAP: usize = 18432;

/// The floats of the padded input: ResNet-8's 16-channel 34×34 (its first
/// stage's, padded on every side).
pub(crate) const INPUT_CAP: usize = 16 * 34 * 34;

/// The output pixels of a band, each [`OB`] floats in the band buffer.
pub(crate) const BAND: usize = 256;

/// The rows and columns the body iterates over: the output plane, or for a
/// 1×1 convolution at stride 1 without padding (whose input pixels are
/// contiguous, as its output's) the plane as one row when it fits a band.
pub(crate) const fn view(
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    padded: bool,
    (oh, ow): (usize, usize),
) -> (usize, usize) {
    if kh == 1 && kw == 1 && sh == 1 && sw == 1 && !padded && oh * ow <= BAND {
        (1, oh * ow)
    } else {
        (oh, ow)
    }
}

/// How a row of `n` pixels is cut into runs of at most `max`: as few runs
/// as possible, of nearly equal length, `(long, short, longs)`: the first
/// `longs` runs are `long` pixels, the others `short` (`long − 1`, or
/// `long` when they divide `n`). With `max = 12`: 16 → 8 + 8, 13 → 7 + 6;
/// with `max = 6`: 32 → 6 + 6 + 5 + 5 + 5 + 5, not 5 runs of 6 and one of
/// 2, whose 4 accumulators would wait on the FMA latency.
pub(crate) const fn runs(n: usize, max: usize) -> (usize, usize, usize) {
    let count = n.div_ceil(max);
    let short = n / count;
    (n.div_ceil(count), short, n - count * short)
}

/// Whether this body, with blocks of `ob` output channels, computes the
/// zero-padded convolution: see the [module docs](self#where-it-runs).
/// `padded` is whether any side is padded, `(ph, pw)` the padded input's
/// size.
pub(crate) const fn applies(
    ob: usize,
    (g, c, cg, o): (usize, usize, usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (padded, ph, pw): (bool, usize, usize),
    (oh, ow): (usize, usize),
) -> bool {
    let (_, row) = view((kh, kw), (sh, sw), padded, (oh, ow));
    g == 1
        && o.is_multiple_of(ob)
        && cg * kh * kw * ob <= WEIGHT_CAP
        && (!padded || c * ph * pw <= INPUT_CAP)
        && row <= BAND
}

/// Whether it beats the packed body where it [`applies`], with AVX2
/// (`avx2`) or AVX-512F.
///
/// With AVX-512F: everywhere but on a 1×1 convolution at stride 1 without
/// padding over a multiple of 16 pixels, or nearly (at most one lane in 16
/// computed for nothing), where the packed body wastes (almost) no lane
/// either and transposes nothing. Measured with `cargo bench -p
/// constnet-runtime --bench kernels` (fastest of 4 interleaved runs, µs,
/// packed → this body): ResNet-8's 3×3 32×16×16 23.9 → 21.6, 64×8×8 26.1
/// → 22.7, stride-2 16→32 13.3 → 11.9 and 32→64 14.1 → 12.0, its 1×1
/// stride-2 projection 2.53 → 2.12; DS-CNN's 10×4 stride-2 first layer 4.8
/// → 4.0; MobileNetV1's 1×1 128→128 6×6 7.5 → 6.0 and 256→256 3×3 11.5 →
/// 8.8; but its 64→128 12×12 layer 11.3 → 11.8. Later, on an AMD EPYC
/// with AVX-512F (2026-12-04, fastest of 3 interleaved runs), DS-CNN's
/// 64→64 layer on 25×5 = 125 pixels (8 vectors, 3 lanes wasted) 4.4 → 4.9,
/// so "nearly" joined the rule: the network went 32.4 → 30.5 µs. With AVX2
/// (its bodies forced on that machine) the same layer is faster in this
/// body, 9.2 against 9.9 µs: AVX2 keeps the exact-multiple rule below.
///
/// With AVX2, on an AMD Zen 3 core, the same bench (fastest of 2
/// interleaved runs, µs, packed → this body) found one more exception:
/// unpadded 1×1 convolutions over a multiple of 16 pixels at any stride,
/// ResNet-8's stride-2 projections 16→32 3.7 → 5.4 and 32→64 3.2 → 4.0
/// (with 16 or 32 taps the transposes cost as much as the products). It
/// wins on ResNet-8's 3×3 32×16×16 67 → 56, 64×8×8 91 → 56, stride-2
/// 16→32 40 → 30 and 32→64 39 → 28, its 3→16 32×32 first layer 17.2 →
/// 15.0; DS-CNN's first layer 21.0 → 10.7; MobileNetV1's 1×1 128→128 6×6
/// 17.1 → 14.9, 128→256 3×3 13.8 → 10.7 and 256→256 3×3 24.1 → 20.8.
/// ResNet-8's first stage, 3×3 16×32×32, was an exception too (62 → 67)
/// while its rows of 32 were cut into runs of 6, 6, 6, 6, 6 and 2; in
/// balanced runs ([`runs`]) it wins, 61.6 → 55.6.
pub(crate) const fn profitable(
    avx2: bool,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    padded: bool,
    (oh, ow): (usize, usize),
) -> bool {
    let one_by_one = kh == 1 && kw == 1 && !padded;
    let pixels = oh * ow;
    if avx2 {
        !(one_by_one && pixels.is_multiple_of(16))
    } else {
        // At most one lane in 16 of the packed body's vectors is wasted:
        // `wasted / (pixels + wasted) <= 1/16`, i.e. `pixels >= 15·wasted`.
        let wasted = (16 - pixels % 16) % 16;
        let nearly_whole = pixels >= 15 * wasted;
        !(one_by_one && nearly_whole && sh == 1 && sw == 1)
    }
}

/// Whether, with AVX-512F, blocks of one vector (16 output channels) beat
/// the packed body, for a convolution with 16 (not 32) channels per block:
/// where more than a fifth of the packed body's lanes are junk columns,
/// `bmax = (KW − 1)·DW / SW` of every `OW + bmax` (see
/// [`packed`](super::packed)). Measured (`taskset -c 0 cargo bench -p
/// constnet-runtime --bench kernels`, 2 interleaved runs, µs, packed →
/// one vector): LeNet-5's conv2, 6 → 16 5×5 on 14×14 (4 junk columns of
/// 14), 2.89 → 2.09; but ResNet-8's 16-channel 32×32 3×3 layer (2 of 34)
/// 21.0 → 21.5 and its 3 → 16 first layer 4.8 → 7.0.
pub(crate) const fn one_vector_pays(kw: usize, sw: usize, dw: usize, ow: usize) -> bool {
    // `bmax / (ow + bmax) > 1/5`, i.e. `4·bmax > ow`; saturating, so that
    // no size overflows the constant evaluation.
    let bmax = (kw - 1).saturating_mul(dw) / sw;
    bmax.saturating_mul(4) > ow
}

/// A stack buffer of `N` floats, cache-line aligned so that no vector of
/// the weights or the band spans two lines.
#[repr(C, align(64))]
pub(crate) struct Buffer<const N: usize>(pub(crate) [MaybeUninit<f32>; N]);

impl<const N: usize> Buffer<N> {
    pub(crate) fn new() -> Self {
        Buffer([MaybeUninit::uninit(); N])
    }
}

/// Where the input is and which plane the body iterates over.
struct Plan {
    /// Floats per input row (padded if the input is).
    pitch: usize,
    /// Floats per input channel.
    plane: usize,
    /// The rows and columns iterated over ([`view`]).
    view: (usize, usize),
}

impl Plan {
    /// The plan of a convolution whose input has `(h, w)` pixels, `(ph,
    /// pw)` once padded.
    fn new(
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        padded: bool,
        (h, w, ph, pw): (usize, usize, usize, usize),
        (oh, ow): (usize, usize),
    ) -> Self {
        Plan {
            pitch: pw,
            plane: if padded { ph * pw } else { h * w },
            view: view((kh, kw), (sh, sw), padded, (oh, ow)),
        }
    }

    /// Calls `f(long, base, i)` for each run of rows `r0..r1` of the view,
    /// cut into runs as [`runs`] says (`long` and `short` pixels, the first
    /// `longs` of each row long): `long` is whether the run is, `base` the
    /// input offset its first pixel's first tap reads at stride `(sh,
    /// sw)`, `i` its first pixel's index in the band (row-major from row
    /// `r0`).
    #[inline]
    fn each_run(
        &self,
        (r0, r1): (usize, usize),
        (sh, sw): (usize, usize),
        (long, short, longs): (usize, usize, usize),
        mut f: impl FnMut(bool, usize, usize),
    ) {
        let ow = self.view.1;
        let mut i = 0;
        for row in r0..r1 {
            let mut col = 0;
            while col < ow {
                let is_long = col < longs * long;
                f(is_long, row * sh * self.pitch + col * sw, i);
                let n = if is_long { long } else { short };
                col += n;
                i += n;
            }
        }
    }
}

/// Copies `input` into `buf` with `PT` rows and `PL` columns of zeros
/// before it, and zeros after it up to a `ph × pw` plane per channel;
/// returns the `C·ph·pw` floats written.
#[inline]
pub(crate) fn pad<
    'b,
    const PT: usize,
    const PL: usize,
    const C: usize,
    const H: usize,
    const W: usize,
>(
    input: &[[[f32; W]; H]; C],
    (ph, pw): (usize, usize),
    buf: &'b mut [MaybeUninit<f32>],
) -> &'b [f32] {
    let len = C * ph * pw;
    let buf = &mut buf[..len];
    for (plane, channel) in buf.chunks_exact_mut(ph * pw).zip(input) {
        let (top, rest) = plane.split_at_mut(PT * pw);
        top.fill(MaybeUninit::new(0.0));
        let (middle, bottom) = rest.split_at_mut(H * pw);
        bottom.fill(MaybeUninit::new(0.0));
        for (row, src) in middle.chunks_exact_mut(pw).zip(channel) {
            let (left, rest) = row.split_at_mut(PL);
            left.fill(MaybeUninit::new(0.0));
            let (interior, right) = rest.split_at_mut(W);
            for (d, s) in interior.iter_mut().zip(src) {
                *d = MaybeUninit::new(*s);
            }
            right.fill(MaybeUninit::new(0.0));
        }
    }
    // SAFETY: every element of the `C` planes was written above (top rows,
    // then each row's left padding, interior and right padding, then the
    // bottom rows), and an initialised `MaybeUninit<f32>` is an `f32`
    // (same size, alignment and validity).
    unsafe { &*(core::ptr::from_ref::<[MaybeUninit<f32>]>(buf) as *const [f32]) }
}

/// The AVX-512F body.
pub(crate) mod avx512 {
    use super::{pad, runs, view, Buffer, Plan, BAND, INPUT_CAP, WEIGHT_CAP};
    use crate::conv::Post;
    use crate::simd::conv::vector::{band_to_planes, load};
    use crate::simd::conv::Epilogue;
    use crate::simd::transpose::transpose16;
    use core::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };
    use core::mem::MaybeUninit;

    const LANES: usize = 16;

    /// Output channels per block: two vectors (`V = 2`); one (`V = 1`)
    /// where the channels are not a multiple of this.
    pub(crate) const OB: usize = 2 * LANES;

    /// The most pixels of a run: `2·12` accumulators, two weight vectors
    /// and a broadcast fill 27 of the 32 vector registers (one vector: 14).
    pub(crate) const MAX_RUN: usize = 12;

    /// The vectors per block for this convolution: 2 where the body
    /// [`applies`](super::applies) with blocks of 32 channels, else 1 where
    /// it does with blocks of 16, else 0 (it does not apply).
    pub(crate) const fn vectors(
        groups: (usize, usize, usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padded: (bool, usize, usize),
        out: (usize, usize),
    ) -> usize {
        if super::applies(OB, groups, kernel, stride, padded, out) {
            2
        } else if super::applies(LANES, groups, kernel, stride, padded, out) {
            1
        } else {
            0
        }
    }

    /// [`crate::conv::conv2d_fused`] for a convolution that
    /// [`super::applies`] with blocks of `V` vectors (`V·16` channels, `V`
    /// 1 or 2); see the [module docs](super).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    pub(crate) fn conv2d<
        const V: usize,
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PB: usize,
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
        input: &[[[f32; W]; H]; C],
        weight: &[[[[f32; KW]; KH]; CG]; O],
        bias: Option<&[f32; O]>,
        post: &Post<'_, O, OH, OW>,
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        let padded = PT + PB + PL + PR > 0;
        let (ph, pw) = (H + PT + PB, W + PL + PR);
        debug_assert!(super::applies(
            V * LANES,
            (1, C, CG, O),
            (KH, KW),
            (SH, SW),
            (padded, ph, pw),
            (OH, OW)
        ));
        let mut padded_input = Buffer::<INPUT_CAP>::new();
        let x: &[f32] = if padded {
            pad::<PT, PL, C, H, W>(input, (ph, pw), &mut padded_input.0)
        } else {
            input.as_flattened().as_flattened()
        };
        let plan = Plan::new((KH, KW), (SH, SW), padded, (H, W, ph, pw), (OH, OW));
        let mut weights = Buffer::<WEIGHT_CAP>::new();
        let mut band = Buffer::<{ BAND * OB }>::new();
        let mut o0 = 0;
        while o0 < O {
            let w = transpose_weights::<V, CG, KH, KW, O>(weight, o0, &mut weights.0);
            let mut b = [_mm512_setzero_ps(); V];
            if let Some(bias) = bias {
                for (v, b) in b.iter_mut().enumerate() {
                    *b = load(&bias[o0 + v * LANES..], LANES);
                }
            }
            let ep: [_; V] =
                core::array::from_fn(|v| Epilogue::<LANES, OH, OW>::new(post, o0 + v * LANES));
            let rows = (BAND / plan.view.1).max(1);
            let mut r0 = 0;
            while r0 < plan.view.0 {
                let r1 = plan.view.0.min(r0 + rows);
                compute_band::<V, SH, SW, PT, PB, PL, PR, DH, DW, CG, KH, KW, OH, OW>(
                    &plan,
                    x,
                    w,
                    b,
                    (r0, r1),
                    &mut band.0,
                );
                let (q0, q1) = (r0 * plan.view.1, r1 * plan.view.1);
                band_to_planes(&band.0, (q0, q1), o0, &ep, output);
                r0 = r1;
            }
            o0 += V * LANES;
        }
    }

    /// Transposes output channels `o0..o0 + OB`'s weights (`OB = V·16`)
    /// into `buf`, `K × OB` (`K = CG·KH·KW`): element `k·OB + l` is
    /// `weight[o0 + l]`'s `k`-th, flattened in PyTorch's order. Returns the
    /// `K·OB` floats written.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn transpose_weights<
        'b,
        const V: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const O: usize,
    >(
        weight: &[[[[f32; KW]; KH]; CG]; O],
        o0: usize,
        buf: &'b mut [MaybeUninit<f32>],
    ) -> &'b [f32] {
        let k = CG * KH * KW;
        let ob = V * LANES;
        let buf = &mut buf[..k * ob];
        for half in 0..V {
            let first = o0 + half * LANES;
            let mut k0 = 0;
            while k0 < k {
                let n = LANES.min(k - k0);
                let mut r = [_mm512_setzero_ps(); LANES];
                for (v, kernel) in r.iter_mut().zip(&weight[first..first + LANES]) {
                    let taps = kernel.as_flattened().as_flattened();
                    *v = load(&taps[k0..], n);
                }
                transpose16(&mut r);
                for (i, v) in r.iter().take(n).enumerate() {
                    let at = (k0 + i) * ob + half * LANES;
                    let dst = &mut buf[at..at + LANES];
                    // SAFETY: AVX-512F is enabled; `dst` holds 16 floats
                    // (uninitialised memory is written, never read).
                    unsafe { _mm512_storeu_ps(dst.as_mut_ptr().cast::<f32>(), *v) };
                }
                k0 += n;
            }
        }
        // SAFETY: for every `k` below `K` and both halves the loop above
        // stored the 16 floats at `k·OB + half·16`: all `K·OB`, and an
        // initialised `MaybeUninit<f32>` is an `f32`.
        unsafe { &*(core::ptr::from_ref::<[MaybeUninit<f32>]>(buf) as *const [f32]) }
    }

    /// Computes rows `r0..r1` of the view for the block whose transposed
    /// weights are `w` and biases `bias`, into `band`: pixel `i` of the
    /// band (row-major from row `r0`) at `i·V·16`, its `V·16` channels.
    ///
    /// The run lengths are constants, matched on as such: only the (at
    /// most two) micro-kernels a layer uses are instantiated.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    fn compute_band<
        const V: usize,
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PB: usize,
        const PL: usize,
        const PR: usize,
        const DH: usize,
        const DW: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    >(
        plan: &Plan,
        x: &[f32],
        w: &[f32],
        bias: [__m512; V],
        (r0, r1): (usize, usize),
        band: &mut [MaybeUninit<f32>],
    ) {
        macro_rules! dispatch {
            ($n:expr, $base:expr, $out:expr) => {
                with_run_length!(
                    $n,
                    run::<V, SW, DH, DW, CG, KH, KW>(plan, x, w, bias, $base, $out)
                )
            };
        }
        let (len, last, longs) = runs(plan.view.1, MAX_RUN);
        plan.each_run((r0, r1), (SH, SW), (len, last, longs), |long, base, i| {
            if long {
                let out = &mut band[i * V * LANES..(i + len) * V * LANES];
                dispatch!(
                    {
                        const {
                            runs(
                                view((KH, KW), (SH, SW), PT + PB + PL + PR > 0, (OH, OW)).1,
                                MAX_RUN,
                            )
                            .0
                        }
                    },
                    base,
                    out
                );
            } else {
                let out = &mut band[i * V * LANES..(i + last) * V * LANES];
                dispatch!(
                    {
                        const {
                            runs(
                                view((KH, KW), (SH, SW), PT + PB + PL + PR > 0, (OH, OW)).1,
                                MAX_RUN,
                            )
                            .1
                        }
                    },
                    base,
                    out
                );
            }
        });
    }

    /// The micro-kernel: `R` consecutive pixels of a row, whose first
    /// pixel's first tap reads `x[base]`, for the `V·16` channels of the
    /// block; stores them pixel-major into `out` (`R·V·16` floats).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn run<
        const R: usize,
        const V: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
    >(
        plan: &Plan,
        x: &[f32],
        w: &[f32],
        bias: [__m512; V],
        base: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        // The last input element read: the last pixel's last tap; the last
        // weight read: tap `K − 1`'s second vector.
        let last = base
            + (CG - 1) * plan.plane
            + (KH - 1) * DH * plan.pitch
            + (R - 1) * SW
            + (KW - 1) * DW;
        assert!(
            last < x.len() && CG * KH * KW * V * LANES <= w.len() && R * V * LANES <= out.len(),
            "channels: a run outside its buffers"
        );
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        let mut acc = [bias; R];
        for kh in 0..KH {
            for c in 0..CG {
                let row = base + c * plan.plane + kh * DH * plan.pitch;
                let taps = (c * KH + kh) * KW * V * LANES;
                for kw in 0..KW {
                    let mut wv = [_mm512_setzero_ps(); V];
                    for (v, w) in wv.iter_mut().enumerate() {
                        // SAFETY: AVX-512F is enabled; tap `(c·KH + kh)·KW +
                        // kw` is below `K`, so its `V·16` weights are inside
                        // `w` (asserted above).
                        *w = unsafe { _mm512_loadu_ps(wp.add(taps + (kw * V + v) * LANES)) };
                    }
                    for (j, a) in acc.iter_mut().enumerate() {
                        // SAFETY: `row + j·SW + kw·DW` is at most `last`
                        // (each term at most its maximum), inside `x`.
                        let x = _mm512_set1_ps(unsafe { *xp.add(row + j * SW + kw * DW) });
                        for (a, w) in a.iter_mut().zip(&wv) {
                            *a = _mm512_fmadd_ps(*w, x, *a);
                        }
                    }
                }
            }
        }
        for (j, a) in acc.iter().enumerate() {
            for (half, v) in a.iter().enumerate() {
                let dst = &mut out[(j * V + half) * LANES..][..LANES];
                // SAFETY: AVX-512F is enabled; `dst` holds 16 floats.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr().cast::<f32>(), *v) };
            }
        }
    }
}

/// The AVX2 + FMA body: the AVX-512F one with 8 lanes.
pub(crate) mod avx2 {
    use super::{pad, runs, view, Buffer, Plan, BAND, INPUT_CAP, WEIGHT_CAP};
    use crate::act::PostAct;
    use crate::conv::Post;
    use crate::simd::act::post_act256;
    use crate::simd::conv::vector::avx2::{band_to_planes, load};
    use crate::simd::conv::Epilogue;
    use crate::simd::transpose::transpose8;
    use core::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_max_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_storeu_ps,
    };
    use core::mem::MaybeUninit;

    const LANES: usize = 8;

    /// Output channels per block: two vectors.
    pub(crate) const OB: usize = 2 * LANES;

    /// The most pixels of a run: `2·5` accumulators, two weight vectors
    /// and a broadcast, 13 of the 16 vector registers. With runs of 6 (15
    /// registers) the compiler kept some accumulators on the stack, a
    /// store and a reload in their FMA chains; runs of 5 made (`cargo
    /// bench -p constnet-runtime --bench kernels -- layers/`, AMD Zen 3,
    /// fastest of 3 interleaved runs, in two orders, µs) ResNet-8's 3×3
    /// 16×32×32 57.0 → 51.8 and 58.8 → 53.1, 64×8×8 58.3 → 54.7, stride-2
    /// 16→32 30.2 → 26.5, its 3→16 first layer 13.5 → 11.9, and no layer
    /// slower.
    pub(crate) const MAX_RUN: usize = 5;

    /// [`crate::conv::conv2d_fused`] for a convolution that
    /// [`super::applies`]; see the [module docs](super).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    pub(crate) fn conv2d<
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PB: usize,
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
        input: &[[[f32; W]; H]; C],
        weight: &[[[[f32; KW]; KH]; CG]; O],
        bias: Option<&[f32; O]>,
        post: &Post<'_, O, OH, OW>,
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        let padded = PT + PB + PL + PR > 0;
        let (ph, pw) = (H + PT + PB, W + PL + PR);
        debug_assert!(super::applies(
            OB,
            (1, C, CG, O),
            (KH, KW),
            (SH, SW),
            (padded, ph, pw),
            (OH, OW)
        ));
        let mut padded_input = Buffer::<INPUT_CAP>::new();
        let x: &[f32] = if padded {
            pad::<PT, PL, C, H, W>(input, (ph, pw), &mut padded_input.0)
        } else {
            input.as_flattened().as_flattened()
        };
        let plan = Plan::new((KH, KW), (SH, SW), padded, (H, W, ph, pw), (OH, OW));
        let mut weights = Buffer::<WEIGHT_CAP>::new();
        let mut band = Buffer::<{ BAND * OB }>::new();
        // With a residual, the store applies only the norm; the residual
        // and the activation follow in one pass per plane: see
        // `add_residual`.
        let in_store = match post.residual {
            Some(_) => Post {
                norm: post.norm,
                ..Post::NONE
            },
            None => *post,
        };
        let (residual, act) = (post.residual, post.act);
        let post = &in_store;
        let mut o0 = 0;
        while o0 < O {
            let w = transpose_weights(weight, o0, &mut weights.0);
            let mut b = [_mm256_setzero_ps(); 2];
            if let Some(bias) = bias {
                b = [load(&bias[o0..], LANES), load(&bias[o0 + LANES..], LANES)];
            }
            let ep = [
                Epilogue::<LANES, OH, OW>::new(post, o0),
                Epilogue::<LANES, OH, OW>::new(post, o0 + LANES),
            ];
            let rows = (BAND / plan.view.1).max(1);
            let mut r0 = 0;
            while r0 < plan.view.0 {
                let r1 = plan.view.0.min(r0 + rows);
                compute_band::<SH, SW, PT, PB, PL, PR, DH, DW, CG, KH, KW, OH, OW>(
                    &plan,
                    x,
                    w,
                    b,
                    (r0, r1),
                    &mut band.0,
                );
                let (q0, q1) = (r0 * plan.view.1, r1 * plan.view.1);
                band_to_planes(&band.0, (q0, q1), o0, &ep, output);
                r0 = r1;
            }
            o0 += OB;
        }
        if let Some(residual) = residual {
            add_residual(residual, act, output);
        }
    }

    /// `output = act(output + residual)`, 8 floats at a time: the residual
    /// connection and the activation of a convolution whose store applied
    /// only the norm, the same operations in the same order as the fused
    /// epilogue, so the same bits.
    ///
    /// Why not in the store: there a block of 8 pixels reads the residual
    /// from 8 channel planes at once, which for 32×32 planes (4 KiB apart)
    /// are 8 lines of one L1 set, next to the 8 lines it stores. Here each
    /// plane is read in order, as the hardware prefetcher likes. ResNet-8's
    /// 3×3 16-channel 32×32 block with its norm, residual and ReLU went
    /// from 61.3 to 54.6 µs, against 53.3 for the convolution alone
    /// (`taskset -c 0 cargo bench -p constnet-runtime --bench kernels --
    /// block/`, AMD Zen 3, fastest of 3 interleaved runs). Prefetching the
    /// residual in the store did not help.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn add_residual<const O: usize, const OH: usize, const OW: usize>(
        residual: &[[[f32; OW]; OH]; O],
        act: PostAct,
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        // `O` is a multiple of the block, 16 channels (`applies`, asserted
        // by `conv2d`): whole vectors.
        let out = output.as_flattened_mut().as_flattened_mut();
        let res = residual.as_flattened().as_flattened();
        for (out, res) in out.chunks_exact_mut(LANES).zip(res.chunks_exact(LANES)) {
            let mut v = [_mm256_add_ps(load(out, LANES), load(res, LANES))];
            match act {
                // Inline: `post_act256` is not inlined.
                PostAct::Relu => v[0] = _mm256_max_ps(_mm256_setzero_ps(), v[0]),
                act => post_act256(&mut v, act),
            }
            // SAFETY: AVX is enabled; `out` holds 8 floats.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v[0]) };
        }
    }

    /// Transposes output channels `o0..o0 + 16`'s weights into `buf`,
    /// `K × 16` (`K = CG·KH·KW`): element `k·16 + l` is
    /// `weight[o0 + l]`'s `k`-th, flattened in PyTorch's order. Returns the
    /// `K·16` floats written.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn transpose_weights<'b, const CG: usize, const KH: usize, const KW: usize, const O: usize>(
        weight: &[[[[f32; KW]; KH]; CG]; O],
        o0: usize,
        buf: &'b mut [MaybeUninit<f32>],
    ) -> &'b [f32] {
        let k = CG * KH * KW;
        let buf = &mut buf[..k * OB];
        for half in 0..2 {
            let first = o0 + half * LANES;
            let mut k0 = 0;
            while k0 < k {
                let n = LANES.min(k - k0);
                let mut r = [_mm256_setzero_ps(); LANES];
                for (v, kernel) in r.iter_mut().zip(&weight[first..first + LANES]) {
                    let taps = kernel.as_flattened().as_flattened();
                    *v = load(&taps[k0..], n);
                }
                transpose8(&mut r);
                for (i, v) in r.iter().take(n).enumerate() {
                    let at = (k0 + i) * OB + half * LANES;
                    let dst = &mut buf[at..at + LANES];
                    // SAFETY: AVX is enabled; `dst` holds 8 floats
                    // (uninitialised memory is written, never read).
                    unsafe { _mm256_storeu_ps(dst.as_mut_ptr().cast::<f32>(), *v) };
                }
                k0 += n;
            }
        }
        // SAFETY: for every `k` below `K` and both halves the loop above
        // stored the 8 floats at `k·16 + half·8`: all `K·16`, and an
        // initialised `MaybeUninit<f32>` is an `f32`.
        unsafe { &*(core::ptr::from_ref::<[MaybeUninit<f32>]>(buf) as *const [f32]) }
    }

    /// Computes rows `r0..r1` of the view for the block whose transposed
    /// weights are `w` and biases `bias`, into `band`: pixel `i` of the
    /// band (row-major from row `r0`) at `i·16`, its 16 channels.
    ///
    /// The run lengths are constants, matched on as such: only the (at
    /// most two) micro-kernels a layer uses are instantiated.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    fn compute_band<
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PB: usize,
        const PL: usize,
        const PR: usize,
        const DH: usize,
        const DW: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    >(
        plan: &Plan,
        x: &[f32],
        w: &[f32],
        bias: [__m256; 2],
        (r0, r1): (usize, usize),
        band: &mut [MaybeUninit<f32>],
    ) {
        macro_rules! dispatch {
            ($n:expr, $base:expr, $out:expr) => {
                with_run_length!(
                    $n,
                    run::<SW, DH, DW, CG, KH, KW>(plan, x, w, bias, $base, $out)
                )
            };
        }
        let (len, last, longs) = runs(plan.view.1, MAX_RUN);
        plan.each_run((r0, r1), (SH, SW), (len, last, longs), |long, base, i| {
            if long {
                let out = &mut band[i * OB..(i + len) * OB];
                dispatch!(
                    {
                        const {
                            runs(
                                view((KH, KW), (SH, SW), PT + PB + PL + PR > 0, (OH, OW)).1,
                                MAX_RUN,
                            )
                            .0
                        }
                    },
                    base,
                    out
                );
            } else {
                let out = &mut band[i * OB..(i + last) * OB];
                dispatch!(
                    {
                        const {
                            runs(
                                view((KH, KW), (SH, SW), PT + PB + PL + PR > 0, (OH, OW)).1,
                                MAX_RUN,
                            )
                            .1
                        }
                    },
                    base,
                    out
                );
            }
        });
    }

    /// The micro-kernel: `R` consecutive pixels of a row, whose first
    /// pixel's first tap reads `x[base]`, for the 16 channels of the block;
    /// stores them pixel-major into `out` (`R·16` floats).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn run<
        const R: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
    >(
        plan: &Plan,
        x: &[f32],
        w: &[f32],
        bias: [__m256; 2],
        base: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        // The last input element read: the last pixel's last tap; the last
        // weight read: tap `K − 1`'s second vector.
        let last = base
            + (CG - 1) * plan.plane
            + (KH - 1) * DH * plan.pitch
            + (R - 1) * SW
            + (KW - 1) * DW;
        assert!(
            last < x.len() && CG * KH * KW * OB <= w.len() && R * OB <= out.len(),
            "channels: a run outside its buffers"
        );
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        let mut acc = [bias; R];
        for kh in 0..KH {
            for c in 0..CG {
                let row = base + c * plan.plane + kh * DH * plan.pitch;
                let taps = (c * KH + kh) * KW * OB;
                for kw in 0..KW {
                    // SAFETY: AVX is enabled; tap `(c·KH + kh)·KW + kw`
                    // is below `K`, so its 16 weights are inside `w`
                    // (asserted above).
                    let (w0, w1) = unsafe {
                        (
                            _mm256_loadu_ps(wp.add(taps + kw * OB)),
                            _mm256_loadu_ps(wp.add(taps + kw * OB + LANES)),
                        )
                    };
                    for (j, a) in acc.iter_mut().enumerate() {
                        // SAFETY: `row + j·SW + kw·DW` is at most `last`
                        // (each term at most its maximum), inside `x`.
                        let v = _mm256_set1_ps(unsafe { *xp.add(row + j * SW + kw * DW) });
                        a[0] = _mm256_fmadd_ps(w0, v, a[0]);
                        a[1] = _mm256_fmadd_ps(w1, v, a[1]);
                    }
                }
            }
        }
        for (j, a) in acc.iter().enumerate() {
            for (half, v) in a.iter().enumerate() {
                let dst = &mut out[j * OB + half * LANES..][..LANES];
                // SAFETY: AVX is enabled; `dst` holds 8 floats.
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr().cast::<f32>(), *v) };
            }
        }
    }
}
