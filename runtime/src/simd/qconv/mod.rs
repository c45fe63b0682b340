//! The int8 convolution ([`crate::quant::conv::conv2d`]) on x86, in two
//! lane formats ([`dot`]): with AVX2, `vpmaddwd` on pairs of `i16` taps
//! (sixteen products summed in pairs into eight `i32` lanes, then
//! `vpaddd`); with AVX-512 VNNI, `vpdpbusd` on quads of byte taps (32
//! products summed in fours and accumulated in one instruction). Both are
//! exact (no saturation: `|x − zp| ≤ 255`, `|w| ≤ 128`), so the results are
//! the portable kernel's bit for bit.
//!
//! # Layout: taps in `i32` lanes ([`planes`])
//!
//! Each `i32` lane of the input holds `K` taps (2 or 4), each of the
//! weight's the `K` matching weights: `cs` consecutive channels by `ks`
//! consecutive kernel columns, `cs · ks = K`, with as many channels as
//! divide a group's (LeNet-5's conv2, 6 channels: pairs of channels, or in
//! quads pairs of channels by pairs of columns; its conv1, one channel:
//! pairs or quads of columns). Columns past the kernel's width weigh 0.
//!
//! The input of a band of output rows is rewritten once into such lanes
//! (the "planes", on the stack), zero padding included (a padded tap holds
//! what adds 0: `x − zp = 0`, or for quads `zp + 128`) and split into the
//! `SH · SW` phases of the stride (space to depth: phase `(a, b)` holds
//! padded rows `SH·u + a`, columns `SW·v + b`). In a phase plane of width
//! `wu`, output pixel `(r, x)`'s tap `(i, j)` sits at `(r + i·DH / SH) · wu
//! + x + j·DW / SW`: with pixel indices `n = r · wu + x`, every tap is at a
//! fixed offset from `n`, for any stride, dilation and padding.
//!
//! # Two micro-kernels
//!
//! - [`pixels`]: 16 consecutive indices `n` in two vectors by up to 6
//!   output channels; every tap a contiguous load. It also computes the
//!   indices `x ≥ OW` at each row's end and drops them.
//! - [`channels`]: 16 output channels in two vectors by 6 pixels (or 8 by
//!   12); every tap a broadcast per pixel. Only real pixels, but the
//!   channels are rounded up to 8.
//!
//! The layer takes the one with fewer multiply-adds, decided at compile
//! time: LeNet-5's conv1 (6 channels, planes 32 wide for 28 outputs)
//! the first, conv2 (16 channels, 14 for 10) the second.
//! Both keep 12 accumulators in registers across all the taps, then
//! requantize them in vector form ([`Lanes::store`], the quads' correction
//! added to the bias) and write the valid outputs. Both are generic over
//! the lane format; the two entry points ([`conv2d_avx2`],
//! [`conv2d_vnni`]) compile them with their instruction sets.
//!
//! Depthwise layers at column stride 1 or 2 take a third kernel with
//! AVX-512 VNNI ([`rows`]: kernel rows in the quads): one channel at a time, 16 output pixels
//! per vector, quads of kernel rows (DS-CNN's 64-channel layer 23–26 µs on
//! pairs → 5.3 µs); so do other layers with at most 16 outputs per group
//! and 16 quads of taps per output (LeNet-5's conv1: 3.1 → 2.4 µs;
//! MobileNetV1's 3 → 8 first layer: 19.2 → 13.1–14.0 µs; ResNet-8's 3 →
//! 16 one: 11.0–12.0 → 6.8–6.9 µs).
//!
//! Scratch space is on the stack: the planes in a fixed 24 KiB buffer
//! (not zeroed first: [`planes::fill`] writes every element it hands out),
//! the tap offsets and packed weights in arrays sized by the layer. A
//! layer is cut into bands of output rows whose planes fit. Layers where
//! not even one row fits, or with more than [`TAPS`] lanes of taps per
//! output, or with single rounding, return `false` and run on the
//! portable kernel.

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

mod channels;
mod dot;
mod pixels;
mod planes;
mod rows;

use super::qrescale::Lanes;
use crate::quant::Rescale;
use core::mem::MaybeUninit;
use dot::{Dot, Pairs, Quads};
use planes::Geometry;

/// `i32`s of lane planes a band may use (24 KiB).
const PLANES: usize = 6 * 1024;
/// Lanes of taps per output channel the packed weights hold.
const TAPS: usize = 384;
/// Pixel indices per tile of the pixels kernel: two vectors of eight.
const NT: usize = 16;

/// What a micro-kernel reads: the planes, each tap's offset into them, and
/// the weight pairs of a block of at most `N` output channels.
struct Operands<'a, const N: usize> {
    planes: &'a [i32],
    offsets: &'a [usize],
    packed: &'a [[i32; N]],
    wu: usize,
}

impl<const N: usize> Operands<'_, N> {
    /// The largest tap offset: with a tile's largest pixel index, the
    /// furthest lane a tile reads (the micro-kernels check that once per
    /// tile, not per load).
    fn reach(&self) -> usize {
        self.offsets.iter().copied().max().unwrap_or(0)
    }
}

/// Whether the channels kernel does fewer multiply-adds than the pixels one
/// on a layer (per group; see the module docs).
const fn channels_in_lanes(geo: &Geometry, per_group: usize, oh: usize, ow: usize) -> bool {
    let pixels = (oh * geo.wu).div_ceil(NT) * NT * per_group;
    let channels = (oh * ow).div_ceil(6) * 6 * per_group.div_ceil(8) * 8;
    channels < pixels
}

/// The kernel that pays on this layer: where `vnni` says the CPU has
/// AVX-512 VNNI, VL and BW, the [`rows`] kernel for the depthwise
/// layers it takes (column stride 1 or 2), else quads ([`conv2d_vnni`]),
/// but pairs ([`conv2d_avx2`]) for the other depthwise layers (groups of one
/// channel, more than one group), whose quads hold 3 taps of 4 in rows a
/// few lanes wide and ran slower (`bench int8`, same run: DS-CNN's 23.0 µs
/// on pairs against 34.0 on quads, MobileNetV1's stride-2 one 14.0 against
/// 19.0); `false` (nothing written) if the layer does not fit.
///
/// # Safety
///
/// The CPU must have AVX2, and if `vnni`, AVX-512 VNNI, VL and BW.
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub(crate) unsafe fn conv2d<
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const PR: usize,
    const DH: usize,
    const DW: usize,
    const G: usize,
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
    vnni: bool,
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) -> bool {
    let (x, zp, w, r, y) = (input, input_zero, weight, rescale, output);
    let by_rows = const {
        rows::applies(
            (G, C, CG, O),
            (KH, SW),
            rows::Layout::new((SH, SW), (PT, PL, PR), (DH, DW), (H, W), (CG, KH, KW), OH),
        )
    };
    if vnni && by_rows {
        // SAFETY: the caller guarantees the instruction sets (`vnni`:
        // AVX-512 VNNI, VL and BW, which CPUs have only with AVX-512F);
        // the layer is one the kernel `applies` to.
        let done = unsafe {
            rows::conv2d::<SH, SW, PT, PL, PR, DH, DW, C, H, W, O, CG, KH, KW, OH, OW>(
                x, zp, w, r, y,
            )
        };
        if done {
            return true;
        }
    }
    // SAFETY: the caller guarantees the instruction sets.
    unsafe {
        if vnni && (CG > 1 || G == 1) {
            conv2d_vnni::<SH, SW, PT, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
                None, x, zp, w, r, y,
            )
        } else {
            conv2d_avx2::<SH, SW, PT, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
                None, x, zp, w, r, y,
            )
        }
    }
}

/// The kernel on pairs with `vpmaddwd`, with the micro-kernel
/// `by_channels` says (`None`: the one with fewer multiply-adds, decided at
/// compile time; the tests run both on every layer); `false` (nothing
/// written) if the layer does not fit it.
///
/// # Safety
///
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
unsafe fn conv2d_avx2<
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const PR: usize,
    const DH: usize,
    const DW: usize,
    const G: usize,
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
    by_channels: Option<bool>,
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) -> bool {
    // SAFETY: the caller guarantees AVX2.
    unsafe {
        conv2d_by::<Pairs, SH, SW, PT, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
            by_channels,
            input,
            input_zero,
            weight,
            rescale,
            output,
        )
    }
}

/// [`conv2d_avx2`] on quads with `vpdpbusd`.
///
/// # Safety
///
/// The CPU must have AVX2 and AVX-512 VNNI, VL and BW.
#[target_feature(enable = "avx2,avx512vnni,avx512vl,avx512bw")]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
unsafe fn conv2d_vnni<
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const PR: usize,
    const DH: usize,
    const DW: usize,
    const G: usize,
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
    by_channels: Option<bool>,
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) -> bool {
    // SAFETY: the caller guarantees the instruction sets.
    unsafe {
        conv2d_by::<Quads, SH, SW, PT, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
            by_channels,
            input,
            input_zero,
            weight,
            rescale,
            output,
        )
    }
}

/// The kernel on `D`'s lanes (see [`conv2d_avx2`]).
///
/// # Safety
///
/// The CPU must have AVX2 and `D`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
unsafe fn conv2d_by<
    D: Dot,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const PR: usize,
    const DH: usize,
    const DW: usize,
    const G: usize,
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
    by_channels: Option<bool>,
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) -> bool {
    // Evaluated at compile time: every loop bound below is a constant.
    let geo = const { Geometry::new(D::K, (SH, SW, DH, DW), (CG, KH, KW), (PL, W, PR), OH) };
    let Some(geo) = geo else {
        return false;
    };
    // SAFETY: the caller guarantees AVX2.
    if unsafe { Lanes::new(rescale, 0) }.is_none() {
        return false;
    }
    let by_channels = by_channels.unwrap_or(channels_in_lanes(&geo, O / G, OH, OW));
    // SAFETY: the caller guarantees the instruction sets.
    unsafe {
        layer::<D, SH, SW, PT, PL, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
            &geo,
            by_channels,
            input,
            input_zero,
            weight,
            rescale,
            output,
        );
    }
    true
}

/// The layer, band by band and group by group, once it is known to fit.
///
/// # Safety
///
/// The CPU must have AVX2 and `D`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
unsafe fn layer<
    D: Dot,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const DH: usize,
    const DW: usize,
    const G: usize,
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
    geo: &Geometry,
    by_channels: bool,
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) {
    // At least `taps` long: CG · KH · KW ≥ cq · KH · jq.
    let mut offsets = [[[0usize; KW]; KH]; CG];
    let offsets = &mut offsets.as_flattened_mut().as_flattened_mut()[..geo.taps(KH)];
    planes::offsets::<SH, SW, DH, DW, KH>(geo, offsets);
    let mut planes = [const { MaybeUninit::uninit() }; PLANES];
    let per_group = O / G;
    for oy0 in (0..OH).step_by(geo.band) {
        let rows = geo.band.min(OH - oy0);
        for g in 0..G {
            // SAFETY: the caller guarantees the instruction sets.
            let filled = unsafe {
                planes::fill::<D, SH, SW, PT, PL, DW, H, W>(
                    geo,
                    &input[g * CG..][..CG],
                    input_zero,
                    oy0,
                    rows,
                    &mut planes,
                )
            };
            let band = Band {
                geo,
                planes: filled,
                offsets,
                oy0,
                rows,
                zp: input_zero,
            };
            let outputs = g * per_group..(g + 1) * per_group;
            // SAFETY: the caller guarantees the instruction sets.
            unsafe {
                if by_channels {
                    band.by_channels::<D, KH, KW, CG, O, OH, OW>(weight, rescale, outputs, output);
                } else {
                    band.by_pixels::<D, KH, KW, CG, O, OH, OW>(weight, rescale, outputs, output);
                }
            }
        }
    }
}

/// The rescaling of output channels `o` (one a lane), with `D`'s
/// correction ([`Dot::correction`]) of each added to its bias.
///
/// # Safety
///
/// The CPU must have AVX2.
#[inline(always)]
unsafe fn lanes_of<D: Dot, const KH: usize, const KW: usize, const CG: usize, const O: usize>(
    rescale: &Rescale<'_, O>,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    o: [usize; 8],
    zp: i8,
) -> Lanes {
    let mut offset = [0i32; 8];
    for (offset, &o) in offset.iter_mut().zip(&o) {
        let sum = weight[o]
            .as_flattened()
            .as_flattened()
            .iter()
            .map(|&v| i32::from(v))
            .sum();
        *offset = D::correction(zp, sum);
    }
    // SAFETY: the caller guarantees AVX2.
    unsafe {
        Lanes::channels(rescale, o)
            .expect("double rounding")
            .offset(offset)
    }
}

/// One group's planes over one band of output rows.
struct Band<'a> {
    geo: &'a Geometry,
    planes: &'a [i32],
    offsets: &'a [usize],
    oy0: usize,
    rows: usize,
    /// The input's zero point.
    zp: i8,
}

impl Band<'_> {
    /// The output channels `outputs` in blocks of up to 6, by [`pixels`].
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2 and `D`'s instruction set.
    #[inline(always)]
    unsafe fn by_pixels<
        D: Dot,
        const KH: usize,
        const KW: usize,
        const CG: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        &self,
        weight: &[[[[i8; KW]; KH]; CG]; O],
        rescale: &Rescale<'_, O>,
        outputs: core::ops::Range<usize>,
        output: &mut [[[i8; OW]; OH]; O],
    ) {
        const N: usize = pixels::CHANNELS;
        // At least `taps` rows: CG · KH · KW ≥ cq · KH · jq.
        let mut buffer = [[[const { MaybeUninit::uninit() }; KW]; KH]; CG];
        let buffer = buffer.as_flattened_mut().as_flattened_mut();
        for o0 in outputs.clone().step_by(N) {
            let b = N.min(outputs.end - o0);
            // SAFETY: the caller guarantees `D`'s instruction set.
            let packed =
                unsafe { planes::pack::<D, KH, KW, CG, N>(self.geo, &weight[o0..o0 + b], buffer) };
            let ops = Operands {
                planes: self.planes,
                offsets: self.offsets,
                packed,
                wu: self.geo.wu,
            };
            // Block channel k's rescaling (past the block's end, unused).
            // (Loops, not closures: a closure does not inherit the target
            // features, and every intrinsic in it would stay a call.)
            // SAFETY: the caller guarantees AVX2 and `D`'s instructions.
            let r = unsafe {
                let lanes = lanes_of::<D, KH, KW, CG, O>(rescale, weight, [o0; 8], self.zp);
                let mut r = [D::rescale16(&lanes, &lanes); N];
                for (k, r) in r.iter_mut().enumerate().take(b).skip(1) {
                    let lanes = lanes_of::<D, KH, KW, CG, O>(rescale, weight, [o0 + k; 8], self.zp);
                    *r = D::rescale16(&lanes, &lanes);
                }
                r
            };
            let (oy0, rows, out) = (self.oy0, self.rows, &mut output[o0..o0 + b]);
            // SAFETY: the caller guarantees AVX2 and `D`'s instruction set.
            unsafe {
                match b {
                    6 => pixels::run::<D, 6, OH, OW>(
                        &ops,
                        r.first_chunk().expect("6 ≥ 6"),
                        oy0,
                        rows,
                        out,
                    ),
                    5 => pixels::run::<D, 5, OH, OW>(
                        &ops,
                        r.first_chunk().expect("6 ≥ 5"),
                        oy0,
                        rows,
                        out,
                    ),
                    4 => pixels::run::<D, 4, OH, OW>(
                        &ops,
                        r.first_chunk().expect("6 ≥ 4"),
                        oy0,
                        rows,
                        out,
                    ),
                    3 => pixels::run::<D, 3, OH, OW>(
                        &ops,
                        r.first_chunk().expect("6 ≥ 3"),
                        oy0,
                        rows,
                        out,
                    ),
                    2 => pixels::run::<D, 2, OH, OW>(
                        &ops,
                        r.first_chunk().expect("6 ≥ 2"),
                        oy0,
                        rows,
                        out,
                    ),
                    _ => pixels::run::<D, 1, OH, OW>(
                        &ops,
                        r.first_chunk().expect("6 ≥ 1"),
                        oy0,
                        rows,
                        out,
                    ),
                }
            }
        }
    }

    /// The output channels `outputs` in blocks of up to 16, by [`channels`].
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2 and `D`'s instruction set.
    #[inline(always)]
    unsafe fn by_channels<
        D: Dot,
        const KH: usize,
        const KW: usize,
        const CG: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        &self,
        weight: &[[[[i8; KW]; KH]; CG]; O],
        rescale: &Rescale<'_, O>,
        outputs: core::ops::Range<usize>,
        output: &mut [[[i8; OW]; OH]; O],
    ) {
        const N: usize = channels::CHANNELS;
        // At least `taps` rows: CG · KH · KW ≥ cq · KH · jq.
        let mut buffer = [[[const { MaybeUninit::uninit() }; KW]; KH]; CG];
        let buffer = buffer.as_flattened_mut().as_flattened_mut();
        for o0 in outputs.clone().step_by(N) {
            let b = N.min(outputs.end - o0);
            // SAFETY: the caller guarantees `D`'s instruction set.
            let packed =
                unsafe { planes::pack::<D, KH, KW, CG, N>(self.geo, &weight[o0..o0 + b], buffer) };
            let ops = Operands {
                planes: self.planes,
                offsets: self.offsets,
                packed,
                wu: self.geo.wu,
            };
            // Lane k of vector v is channel o0 + 8v + k (the last one again
            // past the block's end; those lanes are not stored).
            let o = |v: usize| core::array::from_fn(|k| o0 + (8 * v + k).min(b - 1));
            // SAFETY: the caller guarantees AVX2.
            let r = unsafe {
                [
                    lanes_of::<D, KH, KW, CG, O>(rescale, weight, o(0), self.zp),
                    lanes_of::<D, KH, KW, CG, O>(rescale, weight, o(1), self.zp),
                ]
            };
            let (oy0, rows, out) = (self.oy0, self.rows, &mut output[o0..o0 + b]);
            // SAFETY: the caller guarantees AVX2 and `D`'s instruction set.
            unsafe {
                if b > 8 {
                    channels::run::<D, 2, 6, OH, OW>(&ops, &r, oy0, rows, out);
                } else {
                    channels::run::<D, 1, 12, OH, OW>(
                        &ops,
                        r.first_chunk().expect("2 ≥ 1"),
                        oy0,
                        rows,
                        out,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{conv2d_avx2, conv2d_vnni, rows};
    use crate::quant::test_util::{bytes, check, multipliers};
    use crate::quant::{Clamp, Requant, Rescale, Rounding};
    use crate::reference::{quant_conv2d, test_util::Rng, Conv2dParams, PaddingMode};
    use crate::simd::has_vnni;
    use std::vec::Vec;

    /// A random layer (int8 input and weights, zero point, `i32` biases,
    /// multipliers that spread the results over the output range) and the
    /// naive twin's accumulators: `(x, w, zp, bias, requant, out_zp, acc,
    /// real)`.
    macro_rules! layer {
        ($seed:expr; C=$c:literal H=$h:literal W=$w:literal O=$o:tt G=$g:tt
         K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal) P=($pt:literal, $pl:literal)
         D=($dh:literal, $dw:literal) -> ($oh:literal, $ow:literal)) => {{
            let mut rng = Rng::new($seed);
            let mut x = [[[0i8; $w]; $h]; $c];
            let mut w = [[[[0i8; $kw]; $kh]; { $c / $g }]; $o];
            bytes(&mut rng, x.as_flattened_mut().as_flattened_mut(), -128, 127);
            bytes(
                &mut rng,
                w.as_flattened_mut().as_flattened_mut().as_flattened_mut(),
                -128,
                127,
            );
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            let zp = (rng.next_u32() % 256) as u8 as i8;
            let bias: [i32; $o] =
                core::array::from_fn(|_| (rng.next_u32() % 20_001) as i32 - 10_000);
            let p = Conv2dParams {
                in_channels: $c,
                out_channels: $o,
                kernel: ($kh, $kw),
                stride: ($sh, $sw),
                padding: ($pt, $pl),
                dilation: ($dh, $dw),
                groups: $g,
                padding_mode: PaddingMode::Zeros,
            };
            let mut acc = Vec::from([0i64; $o * $oh * $ow]);
            let (xs, ws) = (
                x.as_flattened().as_flattened(),
                w.as_flattened().as_flattened().as_flattened(),
            );
            quant_conv2d(&p, ($h, $w), ($oh, $ow), xs, zp, ws, &mut acc);
            let real = multipliers(&mut rng, &acc, &bias);
            let requant = real.map(Requant::new);
            let out_zp = (rng.next_u32() % 64) as i8 - 32;
            (x, w, zp, bias, requant, out_zp, acc, real)
        }};
    }

    /// The `Rescale` of a `layer!`, clamped to `[out_zp, 120]` or not.
    fn rescale<'a, const O: usize>(
        clamped: bool,
        bias: &'a [i32; O],
        requant: &'a [Requant; O],
        out_zp: i8,
    ) -> Rescale<'a, O> {
        Rescale {
            bias: Some(bias),
            requant,
            zero_point: out_zp,
            clamp: if clamped {
                Clamp {
                    min: out_zp,
                    max: 120,
                }
            } else {
                Clamp::NONE
            },
            rounding: Rounding::Double,
        }
    }

    /// Both micro-kernels on one layer against the naive twin: exactly its
    /// accumulators through `Rescale::store` (see `test_util::check`).
    /// `fits` says whether the layer fits the scratch space (else both
    /// must decline, writing nothing).
    macro_rules! case {
        ($seed:expr, fits = $fits:expr; C=$c:literal H=$h:literal W=$w:literal O=$o:literal G=$g:literal
         K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal) P=($pt:literal, $pl:literal, $pr:literal)
         D=($dh:literal, $dw:literal) -> ($oh:literal, $ow:literal)) => {{
            const CG: usize = $c / $g;
            let (x, w, zp, bias, requant, out_zp, acc, real) = layer!($seed;
                C=$c H=$h W=$w O=$o G=$g K=($kh, $kw) S=($sh, $sw) P=($pt, $pl) D=($dh, $dw) -> ($oh, $ow));
            let r = rescale($seed % 2 == 1, &bias, &requant, out_zp);
            let vnni = has_vnni();
            for (quads, by_channels) in [(false, false), (false, true), (true, false), (true, true)]
            {
                if quads && !vnni {
                    continue;
                }
                let mut y = [[[7i8; $ow]; $oh]; $o];
                // SAFETY: AVX2 was detected by the caller, VNNI above.
                let done = unsafe {
                    if quads {
                        conv2d_vnni::<
                            $sh,
                            $sw,
                            $pt,
                            $pl,
                            $pr,
                            $dh,
                            $dw,
                            $g,
                            $c,
                            $h,
                            $w,
                            $o,
                            CG,
                            $kh,
                            $kw,
                            $oh,
                            $ow,
                        >(Some(by_channels), &x, zp, &w, &r, &mut y)
                    } else {
                        conv2d_avx2::<
                            $sh,
                            $sw,
                            $pt,
                            $pl,
                            $pr,
                            $dh,
                            $dw,
                            $g,
                            $c,
                            $h,
                            $w,
                            $o,
                            CG,
                            $kh,
                            $kw,
                            $oh,
                            $ow,
                        >(Some(by_channels), &x, zp, &w, &r, &mut y)
                    }
                };
                let what = std::format!("seed {}, quads {quads}, by channels {by_channels}", $seed);
                assert_eq!(done, if quads { $fits.1 } else { $fits.0 }, "{what}");
                if done {
                    check(y.as_flattened().as_flattened(), &acc, &r, &real, &what);
                } else {
                    assert!(
                        y.as_flattened().as_flattened().iter().all(|&v| v == 7),
                        "{what}: wrote"
                    );
                }
            }
        }};
    }

    #[test]
    fn both_kernels_match_the_twin_avx2() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        // Stride 2, padding, an odd channel count in groups, depthwise,
        // dilation, a 10×4 kernel, pointwise; 1 to 24 outputs a group.
        case!(1, fits = (true, true); C=16 H=9 W=10 O=24 G=1 K=(3, 3) S=(2, 2) P=(1, 1, 1) D=(1, 1) -> (5, 5));
        case!(2, fits = (true, true); C=8 H=9 W=9 O=8 G=8 K=(3, 3) S=(2, 2) P=(1, 1, 1) D=(1, 1) -> (5, 5));
        case!(3, fits = (true, true); C=6 H=7 W=8 O=10 G=2 K=(3, 2) S=(1, 2) P=(0, 1, 0) D=(1, 1) -> (5, 4));
        case!(4, fits = (true, true); C=3 H=9 W=11 O=9 G=1 K=(3, 3) S=(1, 1) P=(2, 2, 1) D=(2, 2) -> (9, 10));
        case!(5, fits = (true, true); C=1 H=19 W=10 O=5 G=1 K=(10, 4) S=(2, 2) P=(4, 1, 1) D=(1, 1) -> (9, 5));
        case!(6, fits = (true, true); C=32 H=6 W=6 O=20 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0) D=(1, 1) -> (6, 6));
        case!(7, fits = (true, true); C=2 H=8 W=8 O=13 G=1 K=(2, 3) S=(3, 1) P=(1, 0, 2) D=(1, 2) -> (3, 6));
        // A 1×1 convolution at stride 2 (one phase of four read).
        case!(16, fits = (true, true); C=16 H=8 W=9 O=9 G=1 K=(1, 1) S=(2, 2) P=(0, 0, 0) D=(1, 1) -> (4, 5));
        // Dilated depthwise with padding (quads of columns, 4 for 3).
        case!(14, fits = (true, true); C=8 H=7 W=7 O=8 G=8 K=(3, 3) S=(1, 1) P=(2, 2, 2) D=(2, 2) -> (7, 7));
        // Planes too big for one row, and too many taps (for pairs; 96
        // channels in quads fit, 192 do not): declined.
        case!(8, fits = (false, false); C=2 H=1 W=6200 O=1 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0) D=(1, 1) -> (1, 6200));
        case!(9, fits = (false, true); C=96 H=6 W=6 O=8 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (6, 6));
        case!(15, fits = (false, false); C=192 H=3 W=3 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (3, 3));
        if cfg!(miri) {
            return;
        }
        // Rows of 300 columns.
        case!(17, fits = (true, true); C=2 H=4 W=300 O=3 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (4, 300));
        // LeNet-5's two convolutions; bands (64 channels: 7 rows a band).
        case!(10, fits = (true, true); C=1 H=32 W=32 O=6 G=1 K=(5, 5) S=(1, 1) P=(0, 0, 0) D=(1, 1) -> (28, 28));
        case!(11, fits = (true, true); C=6 H=14 W=14 O=16 G=1 K=(5, 5) S=(1, 1) P=(0, 0, 0) D=(1, 1) -> (10, 10));
        case!(12, fits = (true, true); C=64 H=16 W=16 O=17 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (16, 16));
        case!(13, fits = (true, true); C=16 H=32 W=32 O=32 G=1 K=(3, 3) S=(2, 2) P=(1, 1, 1) D=(1, 1) -> (16, 16));
    }

    /// The AVX-512 row-quads kernel (`rows.rs`) on one layer against
    /// the naive twin, as `case!` does.
    macro_rules! rows_case {
        ($seed:expr; C=$c:literal H=$h:literal W=$w:literal O=$o:literal G=$g:literal
         K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal)
         P=($pt:literal, $pl:literal, $pr:literal) D=($dh:literal, $dw:literal)
         -> ($oh:literal, $ow:literal)) => {{
            const CG: usize = $c / $g;
            let (x, w, zp, bias, requant, out_zp, acc, real) = layer!($seed;
                C=$c H=$h W=$w O=$o G=$g K=($kh, $kw) S=($sh, $sw) P=($pt, $pl) D=($dh, $dw) -> ($oh, $ow));
            let r = rescale($seed % 2 == 1, &bias, &requant, out_zp);
            let lay = rows::Layout::new(
                ($sh, $sw),
                ($pt, $pl, $pr),
                ($dh, $dw),
                ($h, $w),
                (CG, $kh, $kw),
                $oh,
            );
            assert!(rows::applies(($g, $c, CG, $o), ($kh, $sw), lay));
            let mut y = [[[7i8; $ow]; $oh]; $o];
            // SAFETY: the caller checked AVX-512 F, BW, VL and VNNI.
            let done = unsafe {
                rows::conv2d::<
                    $sh,
                    $sw,
                    $pt,
                    $pl,
                    $pr,
                    $dh,
                    $dw,
                    $c,
                    $h,
                    $w,
                    $o,
                    CG,
                    $kh,
                    $kw,
                    $oh,
                    $ow,
                >(&x, zp, &w, &r, &mut y)
            };
            let what = std::format!("rows, seed {}", $seed);
            assert!(done, "{what}");
            check(y.as_flattened().as_flattened(), &acc, &r, &real, &what);
        }};
    }

    #[test]
    fn rows_kernel_matches_the_twin_avx512() {
        if !(has_vnni() && std::is_x86_feature_detected!("avx512f")) {
            return;
        }
        // DS-CNN's layer (rows of 5, three to a vector), and at stride 2
        // (both phases, an odd padded width).
        rows_case!(31; C=4 H=6 W=5 O=4 G=4 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (6, 5));
        rows_case!(40; C=3 H=7 W=9 O=3 G=3 K=(3, 3) S=(2, 2) P=(1, 1, 1) D=(1, 1) -> (4, 5));
        // Stride 2 with two input channels per group: two vectors per
        // chunk (`rows::vectors`), as MobileNetV1's first layer.
        rows_case!(60; C=2 H=5 W=7 O=2 G=1 K=(3, 3) S=(2, 2) P=(1, 1, 1) D=(1, 1) -> (3, 4));
        // A 5×5 kernel: its fifth row as column quads.
        rows_case!(61; C=1 H=6 W=7 O=2 G=1 K=(5, 5) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (4, 5));
        if cfg!(miri) {
            return;
        }
        // Rows of 20, padding on one side only, dilation, more padding
        // rows than the kernel needs, a 1×7 and a 5×5 kernel (two groups
        // of kernel rows).
        rows_case!(32; C=64 H=25 W=5 O=64 G=64 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (25, 5));
        rows_case!(33; C=3 H=7 W=20 O=3 G=3 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (7, 20));
        rows_case!(34; C=2 H=6 W=9 O=2 G=2 K=(3, 3) S=(1, 1) P=(0, 2, 0) D=(1, 1) -> (4, 9));
        rows_case!(35; C=3 H=9 W=11 O=3 G=3 K=(3, 3) S=(1, 1) P=(2, 2, 2) D=(2, 2) -> (9, 11));
        rows_case!(37; C=2 H=3 W=6 O=2 G=2 K=(3, 3) S=(1, 1) P=(3, 1, 1) D=(1, 1) -> (7, 6));
        rows_case!(38; C=3 H=4 W=13 O=3 G=3 K=(1, 7) S=(1, 1) P=(0, 3, 3) D=(1, 1) -> (4, 13));
        rows_case!(39; C=5 H=8 W=33 O=5 G=5 K=(5, 5) S=(1, 1) P=(2, 2, 2) D=(1, 1) -> (8, 33));
        // Stride 2: MobileNetV1's 48×48 layer (padding on the right too,
        // as PyTorch's), no padding at all (the last input row and column
        // unread), padding on the left only, dilated, stride 2 in rows
        // only and in columns only, stride 3 in rows, rows of 150
        // (three chunks of 64 columns) and a 7×7 kernel (two groups).
        rows_case!(41; C=16 H=48 W=48 O=16 G=16 K=(3, 3) S=(2, 2) P=(1, 1, 1) D=(1, 1) -> (24, 24));
        rows_case!(42; C=3 H=8 W=8 O=3 G=3 K=(3, 3) S=(2, 2) P=(0, 0, 0) D=(1, 1) -> (3, 3));
        rows_case!(52; C=2 H=9 W=9 O=2 G=2 K=(3, 3) S=(2, 2) P=(1, 1, 0) D=(1, 1) -> (5, 5));
        rows_case!(44; C=2 H=11 W=12 O=2 G=2 K=(3, 3) S=(2, 2) P=(2, 2, 2) D=(2, 2) -> (6, 6));
        rows_case!(45; C=3 H=9 W=10 O=3 G=3 K=(3, 3) S=(2, 1) P=(1, 1, 1) D=(1, 1) -> (5, 10));
        rows_case!(46; C=3 H=9 W=10 O=3 G=3 K=(3, 3) S=(1, 2) P=(1, 1, 1) D=(1, 1) -> (9, 5));
        rows_case!(47; C=2 H=10 W=7 O=2 G=2 K=(3, 3) S=(3, 1) P=(1, 1, 1) D=(1, 1) -> (4, 7));
        rows_case!(48; C=2 H=6 W=150 O=2 G=2 K=(3, 3) S=(2, 2) P=(1, 1, 1) D=(1, 1) -> (3, 75));
        rows_case!(49; C=2 H=12 W=12 O=2 G=2 K=(7, 7) S=(2, 2) P=(3, 3, 3) D=(1, 1) -> (6, 6));
        // Bands: 60 rows of 62 quads are more than one band holds.
        rows_case!(50; C=2 H=60 W=60 O=2 G=2 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (60, 60));
        // Several outputs per input channel: two per channel, LeNet-5's
        // conv1 (one input channel, six outputs, two groups of kernel rows)
        // and a 10×4 kernel at stride 2 like DS-CNN's first layer (three
        // groups of kernel rows, eight outputs).
        rows_case!(53; C=3 H=9 W=9 O=6 G=3 K=(3, 3) S=(2, 2) P=(1, 1, 1) D=(1, 1) -> (5, 5));
        rows_case!(54; C=1 H=32 W=32 O=6 G=1 K=(5, 5) S=(1, 1) P=(0, 0, 0) D=(1, 1) -> (28, 28));
        rows_case!(55; C=1 H=49 W=10 O=8 G=1 K=(10, 4) S=(2, 2) P=(4, 1, 1) D=(1, 1) -> (24, 5));
        // Several input channels per group: MobileNetV1's first layer (3 →
        // 8 at stride 2, Keras' padding: bottom and right only; four
        // bands), three channels in each of two groups at stride 1, a
        // 5×3 kernel on 2 channels (two groups of rows, 2·2·3 taps).
        rows_case!(56; C=3 H=96 W=96 O=8 G=1 K=(3, 3) S=(2, 2) P=(0, 0, 1) D=(1, 1) -> (48, 48));
        rows_case!(57; C=6 H=7 W=9 O=4 G=2 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (7, 9));
        rows_case!(58; C=2 H=9 W=8 O=3 G=1 K=(5, 3) S=(1, 1) P=(2, 1, 1) D=(1, 1) -> (9, 8));
        // ResNet-8's first layer: 16 outputs, the most the kernel takes.
        rows_case!(59; C=3 H=32 W=32 O=16 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1) D=(1, 1) -> (32, 32));
        // Column quads: two and three rows of them (6×5, 7×7), at row
        // stride 2, with dilated rows.
        rows_case!(62; C=2 H=8 W=9 O=2 G=2 K=(6, 5) S=(1, 1) P=(2, 2, 2) D=(1, 1) -> (7, 9));
        rows_case!(63; C=1 H=9 W=10 O=3 G=1 K=(7, 7) S=(1, 1) P=(3, 3, 3) D=(1, 1) -> (9, 10));
        rows_case!(64; C=2 H=9 W=8 O=2 G=2 K=(5, 5) S=(2, 1) P=(2, 2, 2) D=(1, 1) -> (5, 8));
        rows_case!(66; C=2 H=9 W=8 O=2 G=2 K=(5, 5) S=(1, 1) P=(4, 2, 2) D=(2, 1) -> (9, 8));
        let column_rows = |s, k: (usize, usize), d| {
            rows::Layout::new(s, (0, 0, 0), d, (32, 32), (1, k.0, k.1), 28).column_rows()
        };
        assert_eq!(column_rows((1, 1), (5, 5), (1, 1)), 1); // LeNet-5's conv1
        assert_eq!(column_rows((1, 1), (6, 5), (1, 1)), 2);
        assert_eq!(column_rows((1, 1), (7, 7), (1, 1)), 3);
        assert_eq!(column_rows((1, 1), (3, 3), (1, 1)), 0); // 3 rows · 1 quad = 3 columns
        assert_eq!(column_rows((1, 2), (5, 5), (1, 1)), 0); // column stride 2
        assert_eq!(column_rows((1, 1), (5, 5), (1, 2)), 0); // dilated columns
        assert_eq!(column_rows((1, 1), (4, 4), (1, 1)), 0); // no row left over
                                                            // DS-CNN's first layer itself (64 outputs), 1×1 layers and LeNet-5's
                                                            // conv2 (6·2·5 taps) stay on the lane kernel.
        let lay = rows::Layout::new((2, 2), (4, 1, 1), (1, 1), (49, 10), (1, 10, 4), 25);
        assert!(!rows::applies((1, 1, 1, 64), (10, 2), lay));
        assert!(!rows::applies((1, 1, 1, 17), (10, 2), lay));
        assert!(rows::applies((1, 1, 1, 16), (10, 2), lay));
        let lay = rows::Layout::new((1, 1), (0, 0, 0), (1, 1), (8, 8), (4, 1, 1), 8);
        assert!(!rows::applies((1, 4, 4, 4), (1, 1), lay));
        let lay = rows::Layout::new((1, 1), (0, 0, 0), (1, 1), (14, 14), (6, 5, 5), 10);
        assert!(!rows::applies((1, 6, 6, 16), (5, 1), lay));
    }

    #[test]
    fn single_rounding_is_declined_avx2() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let requant = [Requant::new(0.01)];
        let r = Rescale {
            bias: None,
            requant: &requant,
            zero_point: 0,
            clamp: Clamp::NONE,
            rounding: Rounding::Single,
        };
        let mut y = [[[0i8; 2]; 2]; 1];
        for by_channels in [Some(false), Some(true), None] {
            let (x, w) = (&[[[1, 2], [3, 4]]], &[[[[1]]]]);
            let mut done = Vec::new();
            // SAFETY: AVX2 was detected above.
            done.push(unsafe {
                conv2d_avx2::<1, 1, 0, 0, 0, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 2, 2>(
                    by_channels,
                    x,
                    0,
                    w,
                    &r,
                    &mut y,
                )
            });
            if has_vnni() {
                // SAFETY: VNNI was detected.
                done.push(unsafe {
                    conv2d_vnni::<1, 1, 0, 0, 0, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 2, 2>(
                        by_channels,
                        x,
                        0,
                        w,
                        &r,
                        &mut y,
                    )
                });
            }
            assert!(done.iter().all(|&d| !d));
        }
    }
}
