//! The channel-blocked depthwise body (AVX-512F, and AVX2 + FMA in
//! [`avx2`]): depthwise convolutions vectorised across 16 (AVX2: 8)
//! *channels* instead of along a plane's pixels. The text below counts
//! AVX-512F's 16 lanes.
//!
//! # Why
//!
//! A depthwise convolution has one output channel per input channel, so the
//! packed body (vectorised along the pixels of one plane) does one load per
//! FMA and, on the small planes these layers have in keyword spotting and
//! MobileNets (DS-CNN's 25×5, MobileNetV1's 12×12, 6×6 and 3×3), spends
//! most of its time on plane-sized fixed costs: a 5-wide row is 5 of a
//! vector's 16 lanes, and each vector touches up to four output rows, each
//! stored with its own masked store. DS-CNN's 64-channel 25×5 layer ran at
//! about 11% of the FMA peak.
//!
//! # Algorithm
//!
//! For each group of 16 channels:
//!
//! 1. *pack*: the group's input is transposed, 16 pixels at a time (a
//!    16×16 transpose in registers: `unpcklps`/`unpckhps`, `shufps`, two
//!    rounds of `vshuff32x4`), into a padded *pixel-major* buffer: element
//!    `[(h + PT)·PW + w + PL][l]` is channel `l`'s input at `(h, w)`, one
//!    vector per padded pixel. The padding is zeroed once per call; each
//!    group rewrites only the interior;
//! 2. *compute*: each output row is cut into runs of at most 12 pixels of
//!    nearly equal length, two rows at a time where a run is at most 6
//!    pixels (DS-CNN's 5-pixel rows: 10 independent accumulators instead
//!    of 5, which the FMA latency needs). For every tap, its 16 weights
//!    (one vector, in a register) meet the run's input vectors: one plain
//!    load per FMA at a constant offset from the run's first pixel, no
//!    masks, no padding tests, any stride and dilation. The run lengths
//!    are constants, matched on as such, so only the (at most four)
//!    micro-kernels a layer uses are instantiated. Results go, a vector per
//!    pixel, to a band buffer of whole rows (at most 256 pixels);
//! 3. *store*: a full band is transposed back 16 pixels by 16 channels, so
//!    that each vector holds one channel's 16 consecutive output pixels (a
//!    plane is contiguous, so rows do not matter), and goes through the
//!    epilogue ([`Post`](crate::conv::Post): norm, residual, activation,
//!    the same operations as the other bodies, so the fused result is the
//!    unfused one bit for bit) and a plain store (a masked one for the
//!    plane's last pixels).
//!
//! The transposes cost about as much as the FMAs (64 shuffles per 256
//! values, twice), which the packed body's fixed costs far exceed on small
//! planes; on large ones it wins anyway ([`profitable`]).
//!
//! The runs replace 16-pixel blocks that crossed rows: each pixel's first
//! offset then lived in an array that the compiler kept on the stack, a
//! second load per FMA. Runs within rows made DS-CNN's 64-channel 25×5
//! layer 2.48 → 1.95 µs and MobileNetV1's 128-channel 6×6 one 1.68 → 1.20
//! (fastest of 4 interleaved runs of the kernels bench).
//!
//! The pack step walks rows, not the flattened plane (`pack!` below): each
//! pixel's buffer offset, worked out with a division by `W`, cost more
//! instructions than its loads and shuffles. With the pack step skipped (a
//! measurement only, wrong results) most layers ran in half the time; the
//! row walk made them, with AVX2 on an AMD Zen 3 core (`cargo bench -p
//! constnet-runtime --bench kernels -- layers/`, fastest of 3 interleaved
//! runs, µs): MobileNetV1's stride-1 32 ch 24×24 10.07 → 7.69, 64 ch
//! 12×12 4.73 → 3.73, 128 ch 6×6 3.08 → 1.95, 256 ch 3×3 3.19 → 1.34; its
//! stride-2 32 ch 24×24 4.85 → 3.24, 64 ch 12×12 2.43 → 1.57, 128 ch 6×6
//! 2.21 → 1.03; DS-CNN's 64 ch 25×5 4.65 → 3.80.
//!
//! Each output is `bias + Σ_kh Σ_kw w·x` in that order, one fused
//! multiply-add per term: the packed body's order, so both give the same
//! bits.
//!
//! # Where it runs
//!
//! [`applies`]: depthwise (`groups = in = out channels`), channels a
//! multiple of 16, at most [`MAX_TAPS`] kernel taps, and a padded plane of
//! at most [`BUF_PIXELS`] pixels and rows of at most [`BAND`] (its buffers
//! are 64 and 16 KiB on the stack, half that with AVX2).

/// The most padded input pixels of a plane: the buffer holds one vector
/// (16 channels) per pixel, 64 KiB: up to a 32×32 padded plane. Larger
/// planes (MobileNetV1's 50×50 at a 96×96 input) run the packed body.
pub(crate) const BUF_PIXELS: usize = 1024;

/// The output pixels of a band: whole rows, computed before they are
/// stored (16 KiB).
pub(crate) const BAND: usize = 256;

/// The most kernel taps: 5×5, the largest depthwise kernel of the
/// MobileNet and EfficientNet families.
pub(crate) const MAX_TAPS: usize = 25;

/// Whether this body computes the zero-padded convolution: see the
/// [module docs](self#where-it-runs).
pub(crate) const fn applies(
    (g, c, cg, o): (usize, usize, usize, usize),
    (kh, kw): (usize, usize),
    (ph, pw): (usize, usize),
) -> bool {
    cg == 1
        && g == c
        && o == c
        && c.is_multiple_of(16)
        && kh * kw <= MAX_TAPS
        && ph * pw <= BUF_PIXELS
        && pw <= BAND
}

/// Whether it beats the packed body where it [`applies`]: always, as
/// measured on the zoo's depthwise layers it takes (`cargo bench -p
/// constnet-runtime --bench kernels -- layers/`, interleaved with the
/// packed body): DS-CNN's 64-channel 25×5 layer 2.4 against 4.6 µs,
/// MobileNetV1's 128-channel 6×6 layer level (1.79 against 1.85 µs).
pub(crate) const fn profitable() -> bool {
    true
}

/// Walks output rows `r0..r1` of a plane of `OW`-pixel rows, each cut
/// into runs as [`runs`](super::channels::runs) says (`long` and shorter
/// pixels, the first `longs` of each row long), two rows at a time where
/// `pairs` (a run is at most half the longest) and two rows are left:
/// calls `f(long, two, base, at)`, `long` whether the run is, `two`
/// whether it covers two rows, `base` the padded input pixel (row pitch
/// `pw`) its first output's first tap reads at stride `(SH, SW)`, `at` its
/// first output's pixel in the band (row-major from row `r0`).
#[inline]
fn each_run<const SH: usize, const SW: usize, const OW: usize>(
    pw: usize,
    (long, short, longs, pairs): (usize, usize, usize, bool),
    (r0, r1): (usize, usize),
    mut f: impl FnMut(bool, bool, usize, usize),
) {
    let mut row = r0;
    while row < r1 {
        let two = pairs && row + 1 < r1;
        let mut col = 0;
        while col < OW {
            let is_long = col < longs * long;
            f(
                is_long,
                two,
                row * SH * pw + col * SW,
                (row - r0) * OW + col,
            );
            col += if is_long { long } else { short };
        }
        row += if two { 2 } else { 1 };
    }
}

/// Defines `compute_band` in the ISA module that expands it, with that
/// module's `LANES`, `MAX_RUN`, `Group` and `run`: the same walk and the
/// same choice of micro-kernel for both instruction sets.
macro_rules! compute_band {
    ($feature:literal) => {
        /// Computes output rows `r0..r1` of the group into `band`: pixel `i`
        /// of the band (row-major from row `r0`) at `i·LANES`, its `LANES`
        /// channels, in the runs of [`super::each_run`].
        ///
        /// The run lengths are constants, matched on as such: only the
        /// micro-kernels a layer uses are instantiated.
        #[target_feature(enable = $feature)]
        #[inline]
        fn compute_band<
            const SH: usize,
            const SW: usize,
            const DH: usize,
            const DW: usize,
            const KH: usize,
            const KW: usize,
            const OW: usize,
        >(
            group: &Group<'_>,
            buf: &[f32],
            (r0, r1): (usize, usize),
            band: &mut [MaybeUninit<f32>],
        ) {
            macro_rules! dispatch {
                ($n:expr, $rows:literal, $base:expr, $out:expr) => {
                    with_run_length!(
                        $n,
                        run::<$rows, SH, SW, DH, DW, KH, KW>(group, buf, $base, OW, $out)
                    )
                };
            }
            let (long, short, longs) = const { runs(OW, MAX_RUN) };
            let pairs = 2 * long <= MAX_RUN;
            each_run::<SH, SW, OW>(
                group.pw,
                (long, short, longs, pairs),
                (r0, r1),
                |is_long, two, base, at| {
                    let (base, out) = (base * LANES, &mut band[at * LANES..]);
                    match (is_long, two) {
                        (true, false) => dispatch!({ const { runs(OW, MAX_RUN).0 } }, 1, base, out),
                        (false, false) => {
                            dispatch!({ const { runs(OW, MAX_RUN).1 } }, 1, base, out)
                        }
                        (true, true) => {
                            if const { 2 * runs(OW, MAX_RUN).0 <= MAX_RUN } {
                                dispatch!({ const { runs(OW, MAX_RUN).0 } }, 2, base, out);
                            }
                        }
                        (false, true) => {
                            if const { 2 * runs(OW, MAX_RUN).0 <= MAX_RUN } {
                                dispatch!({ const { runs(OW, MAX_RUN).1 } }, 2, base, out);
                            }
                        }
                    }
                },
            );
        }
    };
}

/// Defines `pack` in the ISA module that expands it, with that module's
/// `LANES`, `load` (a short load) and the given vector type, full load and
/// store, and transpose: the same walk over the input for both
/// instruction sets.
///
/// The walk keeps the work per vector of pixels to its loads, shuffles and
/// one store at an offset known at compile time relative to its row:
/// - rows of at least `LANES` pixels, row by row, a vector of pixels at a
///   time, the last one overlapping the one before it (its pixels are
///   written twice, with the same values) rather than shortened;
/// - shorter rows, as many whole rows as a vector of the flattened plane
///   holds, while a whole vector is left in the plane; the rest (and a
///   plane smaller than a vector) a vector at a time, each pixel's offset
///   worked out.
///
/// Packing pixel by pixel along the flattened plane, each offset worked
/// out with a division by `W`, took as long as the arithmetic: the
/// instructions per pixel, not the memory, bounded it (see the
/// [module docs](self) for the measurements).
macro_rules! pack {
    ($feature:literal, $vector:ty, $zero:ident, $loadu:ident, $storeu:ident, $transpose:ident) => {
        /// Transposes channels `c0..c0 + LANES` of `input` into the
        /// interior of the pixel-major buffer (row pitch `pw` pixels).
        #[target_feature(enable = $feature)]
        #[inline]
        fn pack<
            const PT: usize,
            const PL: usize,
            const C: usize,
            const H: usize,
            const W: usize,
        >(
            input: &[[[f32; W]; H]; C],
            c0: usize,
            pw: usize,
            buf: &mut [f32],
        ) {
            let planes = &input[c0..c0 + LANES];
            // Pixels `p..p + LANES` of each plane, transposed: vector `i`
            // holds pixel `p + i`'s channels.
            let pixels = |p: usize| -> [$vector; LANES] {
                let mut r = [$zero(); LANES];
                for (v, plane) in r.iter_mut().zip(planes) {
                    let src = &plane.as_flattened()[p..p + LANES];
                    // SAFETY: the feature is enabled; `src` holds `LANES`
                    // floats.
                    *v = unsafe { $loadu(src.as_ptr()) };
                }
                $transpose(&mut r);
                r
            };
            let put = |buf: &mut [f32], at: usize, v: $vector| {
                let dst = &mut buf[at..at + LANES];
                // SAFETY: the feature is enabled; `dst` holds `LANES`
                // floats.
                unsafe { $storeu(dst.as_mut_ptr(), v) };
            };
            // The buffer offset of the vector of input pixel `(h, w)`.
            let at = |h: usize, w: usize| ((h + PT) * pw + w + PL) * LANES;
            let mut p = 0;
            if W >= LANES {
                for h in 0..H {
                    let mut w0 = 0;
                    while w0 < W {
                        let w = w0.min(W - LANES);
                        for (i, v) in pixels(h * W + w).into_iter().enumerate() {
                            put(buf, at(h, w + i), v);
                        }
                        w0 += LANES;
                    }
                }
                p = H * W;
            } else {
                // Whole rows per vector.
                let k = LANES / W;
                while p + LANES <= H * W {
                    let h = p / W;
                    for (j, v) in pixels(p).into_iter().enumerate().take(k * W) {
                        put(buf, at(h + j / W, j % W), v);
                    }
                    p += k * W;
                }
            }
            while p < H * W {
                let n = LANES.min(H * W - p);
                let mut r = [$zero(); LANES];
                for (v, plane) in r.iter_mut().zip(planes) {
                    *v = load(&plane.as_flattened()[p..], n);
                }
                $transpose(&mut r);
                for (i, v) in r.into_iter().take(n).enumerate() {
                    put(buf, at((p + i) / W, (p + i) % W), v);
                }
                p += n;
            }
        }
    };
}

/// The AVX-512F body.
pub(crate) mod avx512 {
    use super::super::channels::{avx512::MAX_RUN, runs};
    use super::{each_run, BAND, BUF_PIXELS, MAX_TAPS};
    use crate::conv::Post;
    use crate::simd::conv::vector::{band_to_planes, load};
    use crate::simd::conv::Epilogue;
    use crate::simd::transpose::transpose16;
    use core::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };
    use core::mem::MaybeUninit;

    const LANES: usize = 16;

    /// The pixel-major padded input of one group of channels, a vector per
    /// pixel; cache-line aligned, so that no vector spans two lines.
    #[repr(C, align(64))]
    struct Buffer([MaybeUninit<f32>; BUF_PIXELS * LANES]);

    /// The output pixels of a band, a vector each, cache-line aligned.
    #[repr(C, align(64))]
    struct Band([MaybeUninit<f32>; BAND * LANES]);

    /// [`crate::conv::conv2d_fused`] for a depthwise convolution that
    /// [`super::applies`]; see the [module docs](super).
    #[target_feature(enable = "avx512f")]
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
        let (ph, pw) = (H + PT + PB, W + PL + PR);
        // `O == C` (as `applies`), so channel `c < C` indexes all of them.
        debug_assert!(super::applies((C, C, CG, O), (KH, KW), (ph, pw)));
        let mut buffer = Buffer([MaybeUninit::uninit(); BUF_PIXELS * LANES]);
        let prefix = buffer.0.get_mut(..ph * pw * LANES).unwrap_or_default();
        prefix.fill(MaybeUninit::new(0.0));
        // SAFETY: every element of `prefix` was initialised just above, and
        // an initialised `MaybeUninit<f32>` is an `f32` (same size,
        // alignment and validity).
        let buf =
            unsafe { &mut *(core::ptr::from_mut::<[MaybeUninit<f32>]>(prefix) as *mut [f32]) };
        let mut band = Band([MaybeUninit::uninit(); BAND * LANES]);
        // Whole rows per band (`applies`: a row fits).
        let rows = (BAND / OW).max(1);
        let mut c0 = 0;
        while c0 < C {
            pack::<PT, PL, C, H, W>(input, c0, pw, buf);
            let weights = tap_weights::<KH, KW, CG, O>(weight, c0);
            let mut b = [0.0f32; LANES];
            if let Some(bias) = bias {
                b.copy_from_slice(&bias[c0..c0 + LANES]);
            }
            let group = Group {
                pw,
                weights: &weights,
                bias: load(&b, LANES),
            };
            // The group's norm coefficients (one square root per channel)
            // and residual planes, as the direct body's blocks have them.
            let ep = [Epilogue::<LANES, OH, OW>::new(post, c0)];
            let mut r0 = 0;
            while r0 < OH {
                let r1 = OH.min(r0 + rows);
                compute_band::<SH, SW, DH, DW, KH, KW, OW>(&group, buf, (r0, r1), &mut band.0);
                let (q0, q1) = (r0 * OW, r1 * OW);
                band_to_planes(&band.0, (q0, q1), c0, &ep, output);
                r0 = r1;
            }
            c0 += LANES;
        }
    }

    /// Each tap's weights for channels `c0..c0 + 16`: each channel's
    /// `KH·KW` taps (contiguous) transposed 16 at a time, instead of 16
    /// scalar loads per tap (MobileNetV1's 128-channel 6×6 layer: 1.64
    /// against 1.68 µs, DS-CNN's 25×5 layer 2.27 against 2.35, kernels
    /// bench medians, interleaved).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tap_weights<const KH: usize, const KW: usize, const CG: usize, const O: usize>(
        weight: &[[[[f32; KW]; KH]; CG]; O],
        c0: usize,
    ) -> [__m512; MAX_TAPS] {
        let mut weights = [_mm512_setzero_ps(); MAX_TAPS];
        for (k, out) in weights.chunks_mut(LANES).enumerate() {
            let t0 = k * LANES;
            if t0 >= KH * KW {
                break;
            }
            let n = LANES.min(KH * KW - t0);
            let mut r = [_mm512_setzero_ps(); 16];
            for (v, kernel) in r.iter_mut().zip(weight.iter().skip(c0)) {
                let taps = kernel.as_flattened().as_flattened();
                *v = load(taps.get(t0..).unwrap_or_default(), n);
            }
            transpose16(&mut r);
            for (w, v) in out.iter_mut().zip(r) {
                *w = v;
            }
        }
        weights
    }

    /// What the compute step of one group of 16 channels reads.
    struct Group<'a> {
        /// Padded pixels per buffer row.
        pw: usize,
        /// Each tap's 16 weights.
        weights: &'a [__m512; MAX_TAPS],
        /// The 16 channels' biases.
        bias: __m512,
    }

    pack!(
        "avx512f",
        __m512,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        transpose16
    );

    compute_band!("avx512f");

    /// The micro-kernel: `ROWS` rows of `R` consecutive output pixels of
    /// the group, the first pixel's first tap at `buf[base]`; stores each
    /// pixel's 16 channels at `out[(rr·ow + j)·16]` (row `rr`, pixel `j`).
    /// Each accumulator is `bias + Σ_kh Σ_kw w·x` in that order, one FMA
    /// per term, as in the packed body.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    fn run<
        const R: usize,
        const ROWS: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const KH: usize,
        const KW: usize,
    >(
        group: &Group<'_>,
        buf: &[f32],
        base: usize,
        ow: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        let pitch = group.pw * LANES;
        // The last element read: the last row's last pixel's last tap.
        let last = base
            + ((ROWS - 1) * SH + (KH - 1) * DH) * pitch
            + ((R - 1) * SW + (KW - 1) * DW) * LANES
            + LANES;
        assert!(
            last <= buf.len() && ((ROWS - 1) * ow + R) * LANES <= out.len(),
            "depthwise: a run outside its buffers"
        );
        let p = buf.as_ptr();
        let mut acc = [[group.bias; R]; ROWS];
        for kh in 0..KH {
            for kw in 0..KW {
                let w = group.weights[kh * KW + kw];
                for (rr, acc) in acc.iter_mut().enumerate() {
                    let row = base + (rr * SH + kh * DH) * pitch + kw * DW * LANES;
                    for (j, a) in acc.iter_mut().enumerate() {
                        // SAFETY: AVX-512F is enabled; the offset is at
                        // most `last − 16` (each term at most its maximum),
                        // so the 16 floats are inside `buf` (asserted
                        // above).
                        let x = unsafe { _mm512_loadu_ps(p.add(row + j * SW * LANES)) };
                        *a = _mm512_fmadd_ps(w, x, *a);
                    }
                }
            }
        }
        for (rr, acc) in acc.iter().enumerate() {
            for (j, a) in acc.iter().enumerate() {
                let dst = &mut out[(rr * ow + j) * LANES..][..LANES];
                // SAFETY: AVX-512F is enabled; `dst` holds 16 floats.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr().cast::<f32>(), *a) };
            }
        }
    }
}

/// The AVX2 + FMA body: the AVX-512F one with 8 lanes (groups of 8
/// channels, 8×8 transposes, a 32 KiB buffer for the same
/// [`BUF_PIXELS`]), run lengths of up to 12 pixels (one accumulator per
/// pixel: 12 of the 16 registers, with the tap's weights beside them).
pub(crate) mod avx2 {
    use super::super::channels::runs;
    use super::{each_run, BAND, BUF_PIXELS, MAX_TAPS};
    use crate::conv::Post;
    use crate::simd::conv::vector::avx2::{band_to_planes, load};
    use crate::simd::conv::Epilogue;
    use crate::simd::transpose::transpose8;
    use core::arch::x86_64::{
        __m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    use core::mem::MaybeUninit;

    const LANES: usize = 8;

    /// The most pixels of a run: 12 accumulators, the tap's weights and an
    /// input vector fill 14 of the 16 vector registers.
    const MAX_RUN: usize = 12;

    /// The pixel-major padded input of one group of channels, a vector per
    /// pixel; cache-line aligned, so that no vector spans two lines.
    #[repr(C, align(64))]
    struct Buffer([MaybeUninit<f32>; BUF_PIXELS * LANES]);

    /// The output pixels of a band, a vector each, cache-line aligned.
    #[repr(C, align(64))]
    struct Band([MaybeUninit<f32>; BAND * LANES]);

    /// [`crate::conv::conv2d_fused`] for a depthwise convolution that
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
        let (ph, pw) = (H + PT + PB, W + PL + PR);
        // `O == C` (as `applies`), so channel `c < C` indexes all of them.
        debug_assert!(super::applies((C, C, CG, O), (KH, KW), (ph, pw)));
        let mut buffer = Buffer([MaybeUninit::uninit(); BUF_PIXELS * LANES]);
        let prefix = buffer.0.get_mut(..ph * pw * LANES).unwrap_or_default();
        prefix.fill(MaybeUninit::new(0.0));
        // SAFETY: every element of `prefix` was initialised just above, and
        // an initialised `MaybeUninit<f32>` is an `f32` (same size,
        // alignment and validity).
        let buf =
            unsafe { &mut *(core::ptr::from_mut::<[MaybeUninit<f32>]>(prefix) as *mut [f32]) };
        let mut band = Band([MaybeUninit::uninit(); BAND * LANES]);
        // Whole rows per band (`applies`: a row fits).
        let rows = (BAND / OW).max(1);
        let mut c0 = 0;
        while c0 < C {
            pack::<PT, PL, C, H, W>(input, c0, pw, buf);
            let weights = tap_weights::<KH, KW, CG, O>(weight, c0);
            let bias = match bias {
                Some(bias) => load(&bias[c0..], LANES),
                None => _mm256_setzero_ps(),
            };
            let group = Group {
                pw,
                weights: &weights,
                bias,
            };
            let ep = [Epilogue::<LANES, OH, OW>::new(post, c0)];
            let mut r0 = 0;
            while r0 < OH {
                let r1 = OH.min(r0 + rows);
                compute_band::<SH, SW, DH, DW, KH, KW, OW>(&group, buf, (r0, r1), &mut band.0);
                band_to_planes(&band.0, (r0 * OW, r1 * OW), c0, &ep, output);
                r0 = r1;
            }
            c0 += LANES;
        }
    }

    /// Each tap's weights for channels `c0..c0 + 8`: each channel's
    /// `KH·KW` taps (contiguous) transposed 8 at a time.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn tap_weights<const KH: usize, const KW: usize, const CG: usize, const O: usize>(
        weight: &[[[[f32; KW]; KH]; CG]; O],
        c0: usize,
    ) -> [__m256; MAX_TAPS] {
        let mut weights = [_mm256_setzero_ps(); MAX_TAPS];
        for (k, out) in weights.chunks_mut(LANES).enumerate() {
            let t0 = k * LANES;
            if t0 >= KH * KW {
                break;
            }
            let n = LANES.min(KH * KW - t0);
            let mut r = [_mm256_setzero_ps(); LANES];
            for (v, kernel) in r.iter_mut().zip(weight.iter().skip(c0)) {
                let taps = kernel.as_flattened().as_flattened();
                *v = load(taps.get(t0..).unwrap_or_default(), n);
            }
            transpose8(&mut r);
            for (w, v) in out.iter_mut().zip(r) {
                *w = v;
            }
        }
        weights
    }

    /// What the compute step of one group of 8 channels reads.
    struct Group<'a> {
        /// Padded pixels per buffer row.
        pw: usize,
        /// Each tap's 8 weights.
        weights: &'a [__m256; MAX_TAPS],
        /// The 8 channels' biases.
        bias: __m256,
    }

    pack!(
        "avx2,fma",
        __m256,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        transpose8
    );

    compute_band!("avx2,fma");

    /// The micro-kernel: `ROWS` rows of `R` consecutive output pixels of
    /// the group, the first pixel's first tap at `buf[base]`; stores each
    /// pixel's 8 channels at `out[(rr·ow + j)·8]` (row `rr`, pixel `j`).
    /// Each accumulator is `bias + Σ_kh Σ_kw w·x` in that order, one FMA
    /// per term, as in the packed body.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    fn run<
        const R: usize,
        const ROWS: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const KH: usize,
        const KW: usize,
    >(
        group: &Group<'_>,
        buf: &[f32],
        base: usize,
        ow: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        let pitch = group.pw * LANES;
        // The last element read: the last row's last pixel's last tap.
        let last = base
            + ((ROWS - 1) * SH + (KH - 1) * DH) * pitch
            + ((R - 1) * SW + (KW - 1) * DW) * LANES
            + LANES;
        assert!(
            last <= buf.len() && ((ROWS - 1) * ow + R) * LANES <= out.len(),
            "depthwise: a run outside its buffers"
        );
        let p = buf.as_ptr();
        let mut acc = [[group.bias; R]; ROWS];
        for kh in 0..KH {
            for kw in 0..KW {
                let w = group.weights[kh * KW + kw];
                for (rr, acc) in acc.iter_mut().enumerate() {
                    let row = base + (rr * SH + kh * DH) * pitch + kw * DW * LANES;
                    for (j, a) in acc.iter_mut().enumerate() {
                        // SAFETY: AVX is enabled; the offset is at most
                        // `last − 8` (each term at most its maximum), so
                        // the 8 floats are inside `buf` (asserted above).
                        let x = unsafe { _mm256_loadu_ps(p.add(row + j * SW * LANES)) };
                        *a = _mm256_fmadd_ps(w, x, *a);
                    }
                }
            }
        }
        for (rr, acc) in acc.iter().enumerate() {
            for (j, a) in acc.iter().enumerate() {
                let dst = &mut out[(rr * ow + j) * LANES..][..LANES];
                // SAFETY: AVX is enabled; `dst` holds 8 floats.
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr().cast::<f32>(), *a) };
            }
        }
    }
}
