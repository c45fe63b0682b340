//! int8 2-D convolution, TFLite's `ConvPerChannel` (and, with one group per
//! channel, `DepthwiseConvPerChannel`) on PyTorch's `[C][H][W]` layout.
//!
//! Every output value is the `i32` sum of `w · (x − zp_in)` over the taps
//! inside the input (a zero-padded tap is `x = zp_in`, adding 0, so it is
//! skipped, as TFLite skips it), then [`Rescale::store`]. Integer sums are
//! exact, so the order of the taps does not matter: every organisation
//! gives the same bits (`reference::quant_conv2d` is the naive twin).
//!
//! The kernel works a row of output pixels at a time, in an `i32`
//! accumulator row on the stack: for each tap `(c, i, j)` whose kernel row
//! `i` is inside the input, the output columns whose input column is
//! inside too form one range (computed once per call per `j`), and the tap
//! adds `w · (x − zp_in)` to all of them in a loop without bounds tests,
//! contiguous at stride 1, which LLVM vectorises: the portable kernel, and
//! the twin the SIMD one is tested against. Where the CPU has AVX2 (chosen
//! at run time as the float kernels are) the layer runs on
//! `simd::qconv` (`vpmaddwd` on pairs of taps, or with AVX-512 VNNI
//! `vpdpbusd` on quads of them but for depthwise layers; the same bits),
//! or, if it does not fit that kernel's scratch space, on this code
//! compiled with AVX2 (`#[target_feature]`). On Arm cores with the DSP extension
//! (`thumbv7em`: Cortex-M4, M7) it runs on `simd::qpairs` (`smlad` on
//! pairs of taps, the same bits) where it fits.
//!
//! Each product is at most `128 · 255` in size, so the sum of `CG · KH ·
//! KW` of them fits `i32` up to 65,793 taps, checked at compile time.

use super::Rescale;
use crate::conv::{output_len_padded, tap_range};
use crate::simd::{self, Isa};

/// `(first, end)`: the kernel indices `k` in `0..kernel` whose input index
/// `o · stride + k · dilation − pad` lies in `0..len` (the pools' windows
/// too, with dilation 1). The other way round, the outputs a kernel index
/// reaches, is `conv::tap_range`.
#[inline]
pub(super) fn taps(
    o: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
    kernel: usize,
    len: usize,
) -> (usize, usize) {
    let start = o * stride; // input index + pad of tap 0
    let first = pad.saturating_sub(start).div_ceil(dilation).min(kernel);
    let end = if len + pad > start {
        ((len + pad - start - 1) / dilation + 1).min(kernel)
    } else {
        0
    };
    (first, end.max(first))
}

/// `torch.nn.Conv2d` quantized: `output[o][y][x] = rescale.store(o, Σ
/// weight[o][c][i][j] · (input[g·CG + c][y·SH + i·DH − PT][x·SW + j·DW − PL]
/// − input_zero))` over the taps inside the input, `g` the group of `o`.
/// Padding may differ on each side (`PT`, `PB`, `PL`, `PR`) as in
/// [`crate::conv::conv2d_fused`]; it is zero padding (the input's zero point).
///
/// Checked at compile time: positive strides and dilations, `C = G · CG`,
/// `O` a multiple of `G`, `OH` and `OW` PyTorch's output sizes, and the
/// accumulator's bound (`CG · KH · KW · 128 · 255 < 2^31`).
///
/// ```
/// use constnet_runtime::quant::{conv::conv2d, Clamp, Requant, Rescale, Rounding};
/// // 1 → 1 channel, 2×2 kernel of ones on a 2×3 input, real = q + 3.
/// let x = [[[-3i8, -2, -1], [0, 1, 2]]];
/// let w = [[[[1i8, 1], [1, 1]]]];
/// let requant = [Requant::new(0.5)];
/// let r = Rescale { bias: Some(&[2]), requant: &requant, zero_point: 0, clamp: Clamp::NONE, rounding: Rounding::Double };
/// let mut y = [[[0i8; 2]; 1]; 1];
/// conv2d::<1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 1, 1, 2, 2, 1, 2>(&x, -3, &w, &r, &mut y);
/// // (0+1+3+4 + 2) · 0.5 = 5, (1+2+4+5 + 2) · 0.5 = 7
/// assert_eq!(y, [[[5, 7]]]);
/// ```
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub fn conv2d<
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PB: usize,
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
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) {
    const {
        assert!(
            SH > 0 && SW > 0 && DH > 0 && DW > 0,
            "quant::conv2d: stride and dilation must be positive"
        );
        assert!(
            G > 0 && C == G * CG && O.is_multiple_of(G),
            "quant::conv2d: C must be G · CG and O a multiple of G"
        );
        assert!(
            matches!(output_len_padded(H, KH, SH, PT, PB, DH), Some(n) if n == OH)
                && matches!(output_len_padded(W, KW, SW, PL, PR, DW), Some(n) if n == OW),
            "quant::conv2d: OH and OW must be PyTorch's output sizes"
        );
        assert!(
            (CG * KH * KW) as u64 * 128 * 255 < 1 << 31,
            "quant::conv2d: too many taps for an i32 accumulator"
        );
    };
    conv2d_with::<SH, SW, PT, PB, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
        simd::best(),
        input,
        input_zero,
        weight,
        rescale,
        output,
    );
}

/// [`conv2d`] on `isa` (AVX2 and AVX-512 machines take `simd::qconv`, or
/// the AVX2 build of the portable kernel; the tests run each).
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub(crate) fn conv2d_with<
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PB: usize,
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
    isa: Isa,
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Portable {
        // SAFETY: `isa` is AVX2 or AVX-512F only when `simd::best` found
        // them on this CPU (or the build enables them), and every CPU with
        // AVX-512F has AVX2; `has_vnni` checks VNNI, VL and BW; `rows_avx2`
        // is safe code compiled with AVX2.
        let done = unsafe {
            simd::qconv::conv2d::<SH, SW, PT, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
                isa == Isa::Avx512 && simd::has_vnni(),
                input,
                input_zero,
                weight,
                rescale,
                output,
            )
        };
        if !done {
            // SAFETY: as above.
            unsafe {
                rows_avx2::<SH, SW, PT, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
                    input, input_zero, weight, rescale, output,
                );
            }
        }
        return;
    }
    let _ = isa;
    // Arm: dual 16-bit multiply-adds (`smlad`) where the DSP extension is.
    #[cfg(target_arch = "arm")]
    if simd::qpairs::conv2d::<SH, SW, PT, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
        input, input_zero, weight, rescale, output,
    ) {
        return;
    }
    rows::<SH, SW, PT, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
        input, input_zero, weight, rescale, output,
    );
}

/// [`rows`] compiled with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
unsafe fn rows_avx2<
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
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) {
    rows::<SH, SW, PT, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
        input, input_zero, weight, rescale, output,
    );
}

/// The kernel (see the module docs): a row of outputs at a time, each tap
/// added to the range of columns it reaches.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
fn rows<
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
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) {
    let zp = i32::from(input_zero);
    let per_group = O / G;
    let columns: [(usize, usize); KW] = core::array::from_fn(|j| tap_range(j * DW, PL, W, SW, OW));
    let mut acc = [0i32; OW];
    for (o, (out, w)) in output.iter_mut().zip(weight).enumerate() {
        let x = &input[(o / per_group) * CG..][..CG];
        for (oy, row) in out.iter_mut().enumerate() {
            acc.fill(0);
            let (i0, i1) = taps(oy, SH, PT, DH, KH, H);
            for (plane, wc) in x.iter().zip(w) {
                for i in i0..i1 {
                    let src = &plane[oy * SH + i * DH - PT];
                    for (j, (&wv, &(a, b))) in wc[i].iter().zip(&columns).enumerate() {
                        if PL == 0 && PR == 0 {
                            // No column padding: every tap reaches the whole
                            // row, and `acc` is indexed by constants only, so
                            // LLVM keeps it in registers across the taps.
                            add_tap_row::<SW, OW>(&mut acc, &src[j * DW..], i32::from(wv), zp);
                            continue;
                        }
                        // The input column of output `a` (inside the row
                        // when `a < b`; an empty range reads nothing).
                        let start = (a * SW + j * DW).saturating_sub(PL).min(W);
                        if b - a == OW {
                            // The whole row (no padding reached): a loop of
                            // a known trip count, unrolled without a tail.
                            add_tap_row::<SW, OW>(&mut acc, &src[start..], i32::from(wv), zp);
                        } else {
                            add_tap::<SW>(&mut acc[a..b], &src[start..], i32::from(wv), zp);
                        }
                    }
                }
            }
            for (y, &a) in row.iter_mut().zip(&acc) {
                *y = rescale.store(o, a);
            }
        }
    }
}

/// `acc[k] += w · (src[k · SW] − zp)` for every `k` of `acc`; `src` holds
/// at least `(acc.len() − 1) · SW + 1` values (or `acc` is empty).
#[inline(always)]
fn add_tap<const SW: usize>(acc: &mut [i32], src: &[i8], w: i32, zp: i32) {
    if SW == 1 {
        for (a, &x) in acc.iter_mut().zip(src) {
            *a += w * (i32::from(x) - zp);
        }
    } else {
        for (a, &x) in acc.iter_mut().zip(src.iter().step_by(SW)) {
            *a += w * (i32::from(x) - zp);
        }
    }
}

/// [`add_tap`] over a whole row of `OW` outputs.
#[inline(always)]
fn add_tap_row<const SW: usize, const OW: usize>(acc: &mut [i32; OW], src: &[i8], w: i32, zp: i32) {
    if SW == 1 {
        for (a, &x) in acc.iter_mut().zip(&src[..OW]) {
            *a += w * (i32::from(x) - zp);
        }
    } else {
        add_tap::<SW>(acc, src, w, zp);
    }
}

#[cfg(test)]
mod tests {
    use super::{conv2d_with, taps};
    use crate::quant::test_util::{bytes, check, multipliers};
    use crate::quant::{Clamp, Requant, Rescale, Rounding};
    use crate::reference::{quant_conv2d, test_util::Rng, Conv2dParams, PaddingMode};
    use crate::simd;
    use std::vec::Vec;

    macro_rules! case {
        ($seed:expr, relu = $relu:expr; C=$c:literal H=$h:literal W=$w:literal O=$o:literal G=$g:literal
         K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal) P=($pt:literal, $pb:literal, $pl:literal, $pr:literal)
         D=($dh:literal, $dw:literal) -> ($oh:literal, $ow:literal)) => {{
            const CG: usize = $c / $g;
            let mut rng = Rng::new($seed);
            let mut x = [[[0i8; $w]; $h]; $c];
            let mut w = [[[[0i8; $kw]; $kh]; CG]; $o];
            bytes(&mut rng, x.as_flattened_mut().as_flattened_mut(), -128, 127);
            bytes(
                &mut rng,
                w.as_flattened_mut().as_flattened_mut().as_flattened_mut(),
                -127,
                127,
            );
            let zp = (rng.next_u32() % 256) as i32 as i8;
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
            quant_conv2d(
                &p,
                ($h, $w),
                ($oh, $ow),
                x.as_flattened().as_flattened(),
                zp,
                w.as_flattened().as_flattened().as_flattened(),
                &mut acc,
            );
            let real = multipliers(&mut rng, &acc, &bias);
            let requant = real.map(Requant::new);
            let out_zp = (rng.next_u32() % 64) as i8 - 32;
            let clamp = if $relu {
                Clamp {
                    min: out_zp,
                    max: i8::MAX,
                }
            } else {
                Clamp::NONE
            };
            let r = Rescale {
                bias: Some(&bias),
                requant: &requant,
                zero_point: out_zp,
                clamp,
                rounding: Rounding::Double,
            };
            // The pairs kernel (Arm's, portable code) takes every layer
            // without a column dilation.
            let mut y = [[[0i8; $ow]; $oh]; $o];
            let taken = simd::qpairs::conv2d::<
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
            >(&x, zp, &w, &r, &mut y);
            assert_eq!(
                taken,
                $dw == 1,
                concat!("seed ", $seed, ": pairs kernel taken")
            );
            if taken {
                check(
                    y.as_flattened().as_flattened(),
                    &acc,
                    &r,
                    &real,
                    concat!("seed ", $seed, " pairs"),
                );
            } else {
                assert!(y.as_flattened().as_flattened().iter().all(|&v| v == 0));
            }
            for isa in crate::quant::test_util::isas() {
                let mut y = [[[0i8; $ow]; $oh]; $o];
                conv2d_with::<
                    $sh,
                    $sw,
                    $pt,
                    $pb,
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
                >(isa, &x, zp, &w, &r, &mut y);
                check(
                    y.as_flattened().as_flattened(),
                    &acc,
                    &r,
                    &real,
                    concat!("seed ", $seed),
                );
            }
        }};
    }

    #[test]
    fn conv2d_matches_the_twin_and_the_real_product_on_every_isa() {
        // LeNet-5's two convolutions (too slow under Miri).
        if !cfg!(miri) {
            case!(1, relu = true; C=1 H=32 W=32 O=6 G=1 K=(5, 5) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1) -> (28, 28));
            case!(2, relu = false; C=6 H=14 W=14 O=16 G=1 K=(5, 5) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1) -> (10, 10));
        }
        // Padded 3×3, stride 2 with padding after only (Keras "same"), dilation.
        case!(3, relu = false; C=3 H=9 W=8 O=5 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1) -> (9, 8));
        case!(4, relu = true; C=4 H=8 W=9 O=4 G=1 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1) -> (4, 4));
        case!(5, relu = false; C=2 H=10 W=8 O=3 G=1 K=(3, 2) S=(2, 1) P=(3, 1, 1, 0) D=(3, 2) -> (4, 7));
        // Grouped, depthwise (padded, stride 2), pointwise.
        case!(6, relu = false; C=4 H=6 W=7 O=6 G=2 K=(3, 3) S=(1, 1) P=(0, 2, 2, 0) D=(1, 1) -> (6, 7));
        case!(7, relu = true; C=8 H=12 W=12 O=8 G=8 K=(3, 3) S=(2, 2) P=(1, 1, 1, 1) D=(1, 1) -> (6, 6));
        case!(8, relu = false; C=16 H=5 W=5 O=12 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1) -> (5, 5));
        // DS-CNN's first layer: 10×4 at stride 2 with asymmetric padding.
        if !cfg!(miri) {
            case!(9, relu = true; C=1 H=49 W=10 O=8 G=1 K=(10, 4) S=(2, 2) P=(4, 5, 1, 1) D=(1, 1) -> (25, 5));
        }
    }

    #[test]
    fn taps_are_the_kernel_indices_inside_the_input() {
        for len in 1..7 {
            for kernel in 1..5 {
                for stride in 1..4 {
                    for dilation in 1..3 {
                        for pad in 0..4 {
                            for o in 0..6 {
                                let inside: std::vec::Vec<usize> = (0..kernel)
                                    .filter(|&k| {
                                        let p = o * stride + k * dilation;
                                        p >= pad && p - pad < len
                                    })
                                    .collect();
                                let (a, b) = taps(o, stride, pad, dilation, kernel, len);
                                let got: std::vec::Vec<usize> = (a..b).collect();
                                assert_eq!(
                                    got, inside,
                                    "o {o} s {stride} p {pad} d {dilation} k {kernel} len {len}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
