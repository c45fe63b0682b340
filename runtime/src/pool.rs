//! 2-D pooling on one `[C, H, W]` sample: `torch.nn.MaxPool2d`,
//! `AvgPool2d`, `AdaptiveAvgPool2d` and `AdaptiveMaxPool2d`.
//!
//! # Algorithm
//!
//! The windowed pools use the same tap-oriented loop as the convolution
//! (see [`crate::conv`]): for each window tap `(kh, kw)` the output pixels
//! whose tap reads the real input form one rectangle, computed once per tap,
//! and the tap is folded into that rectangle with a loop free of padding
//! tests (contiguous for stride 1). Taps are folded in row-major window
//! order, the order PyTorch's CPU kernels visit the window, so max pooling
//! and the average-pool sums are bit-identical to PyTorch's.
//!
//! [`max_pool2d`] with the common 2×2 window and stride 2 (no padding, every
//! window inside the input) has explicit AVX-512 and AVX2 bodies on x86-64
//! (chosen as for the convolution): they split even and odd columns with a
//! permute and fold the four taps in the same order with the same NaN rule,
//! so they give the portable result bit for bit.
//!
//! [`avg_pool2d`] has AVX-512 and AVX2 bodies for every option (padding,
//! `ceil_mode`, `count_include_pad`, `divisor_override`, any stride): a
//! row's outputs a vector at a time, every tap summed in a register in the
//! same `(kh, kw)` order from the same `+0.0`, then the same division; the
//! taps are masked loads (stride 1), two loads and a permute (stride 2) or
//! masked gathers (wider strides, padded edges). They give the portable
//! bits.
//!
//! The adaptive pools visit each bin directly: bins overlap and vary in
//! size. Their SIMD bodies do `LANES` channels at once, gathering each bin
//! element across channels (a plane apart), so each channel's bin is folded
//! in the portable order: the same bits, global pooling included.
//!
//! "The same bits" holds for NaN too, except its payload and sign, which
//! Rust leaves unspecified (LLVM may commute an addition).
//!
//! # Compile-time checks
//!
//! PyTorch's run-time checks (positive kernel/stride/dilation, padding at
//! most half the dilated kernel, output size following from the input size)
//! are `const` assertions here, evaluated when the kernel is instantiated.

#![allow(clippy::doc_markdown)] // "PyTorch" and "NaN" are names, not code.
#![deny(clippy::undocumented_unsafe_blocks)]
use crate::conv::tap_range;
use crate::simd::{self, Isa};

/// The output length of a pooling layer along one axis, exactly PyTorch's
/// `pooling_output_shape`: `(len + 2·padding − dilation·(kernel−1) − 1) /
/// stride + 1`, rounded down, or up with `ceil_mode`; in ceil mode a last
/// window that would start in the right padding is dropped.
///
/// `None` where PyTorch raises: a zero size, stride or dilation, `padding`
/// over half the dilated kernel `(dilation·(kernel−1)+1)/2`, or an empty
/// output.
///
/// ```
/// use constnet_runtime::pool::output_len;
/// assert_eq!(output_len(28, 2, 2, 0, 1, false), Some(14));
/// assert_eq!(output_len(5, 2, 2, 0, 1, false), Some(2));
/// assert_eq!(output_len(5, 2, 2, 0, 1, true), Some(3));
/// // ceil mode would start a fourth window in the right padding: dropped.
/// assert_eq!(output_len(5, 2, 2, 1, 1, true), Some(3));
/// ```
#[must_use]
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)] // Sizes are far below `isize::MAX`; `out >= 1` is checked.
pub const fn output_len(
    len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Option<usize> {
    if len == 0 || kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let span = dilated_span(kernel, dilation);
    if padding > span / 2 {
        return None;
    }
    let round_up = if ceil_mode { stride - 1 } else { 0 };
    let numerator = (len + 2 * padding + round_up) as isize - span as isize;
    // `div_euclid` by a positive divisor rounds towards −∞, like `div_rtn`.
    let mut out = numerator.div_euclid(stride as isize) + 1;
    if ceil_mode && (out - 1) * stride as isize >= (len + padding) as isize {
        out -= 1;
    }
    if out >= 1 {
        Some(out as usize)
    } else {
        None
    }
}

/// The extent of a dilated window, `dilation·(kernel−1) + 1`, PyTorch's
/// "effective kernel size"; `kernel > 0`.
const fn dilated_span(kernel: usize, dilation: usize) -> usize {
    dilation * (kernel - 1) + 1
}

/// Whether `output_len(..) == Some(expected)`, for the const assertions.
const fn output_len_is(
    expected: usize,
    len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    ceil_mode: bool,
) -> bool {
    matches!(output_len(len, kernel, stride, padding, dilation, ceil_mode), Some(n) if n == expected)
}

/// PyTorch's max: NaN wins (`val > max || isnan(val)`), so a window holding
/// a NaN gives NaN; otherwise the first of equal values is kept.
#[inline]
fn max_nan(max: f32, val: f32) -> f32 {
    if val > max || val.is_nan() {
        val
    } else {
        max
    }
}

/// Folds every window tap into `out_plane` with `op(out, x)`: for tap
/// `(kh, kw)` the outputs in its rectangle receive input
/// `[oh·SH + kh·DH − PH][ow·SW + kw·DW − PW]`. Padding taps are skipped.
fn fold_taps<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const DH: usize,
    const DW: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    in_plane: &[[f32; W]; H],
    out_plane: &mut [[f32; OW]; OH],
    op: impl Fn(f32, f32) -> f32,
) {
    let cols: [(usize, usize); KW] = core::array::from_fn(|kw| tap_range(kw * DW, PW, W, SW, OW));
    for kh in 0..KH {
        let (r_lo, r_hi) = tap_range(kh * DH, PH, H, SH, OH);
        if r_lo >= r_hi {
            continue;
        }
        // Output row `r_lo` reads inside the input: no wrap, in bounds.
        let first = r_lo * SH + kh * DH - PH;
        let out_rows = out_plane.get_mut(r_lo..r_hi).unwrap_or_default();
        let in_rows = in_plane.get(first..).unwrap_or_default().iter().step_by(SH);
        for (out_row, in_row) in out_rows.iter_mut().zip(in_rows) {
            for (kw, &(c_lo, c_hi)) in cols.iter().enumerate() {
                if c_lo >= c_hi {
                    continue;
                }
                let start = c_lo * SW + kw * DW - PW;
                let (Some(dst), Some(src)) = (out_row.get_mut(c_lo..c_hi), in_row.get(start..))
                else {
                    continue;
                };
                if SW == 1 {
                    for (o, &x) in dst.iter_mut().zip(src) {
                        *o = op(*o, x);
                    }
                } else {
                    for (o, &x) in dst.iter_mut().zip(src.iter().step_by(SW)) {
                        *o = op(*o, x);
                    }
                }
            }
        }
    }
}

/// `torch.nn.MaxPool2d(kernel_size=(KH, KW), stride=(SH, SW),
/// padding=(PH, PW), dilation=(DH, DW), ceil_mode=CEIL)` on one
/// `[C, H, W]` sample. `output` is fully overwritten.
///
/// Padding is `-inf`, i.e. ignored; a window holding a NaN yields NaN, as in
/// PyTorch. A window that covers only padding (possible with dilation)
/// yields `-inf`, as PyTorch's CPU kernel does.
///
/// Checked at compile time: `KH, KW, SH, SW, DH, DW > 0`, padding at most
/// half the dilated kernel (`PH <= (DH·(KH−1)+1)/2`), and
/// `OH == output_len(H, KH, SH, PH, DH, CEIL)` (likewise `OW`; see
/// [`output_len`]).
///
/// ```
/// use constnet_runtime::pool::max_pool2d;
/// let x = [[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0], [13.0, 14.0, 15.0, 16.0]]];
/// let mut y = [[[0.0f32; 2]; 2]; 1];
/// max_pool2d::<2, 2, 2, 2, 0, 0, 1, 1, false, 1, 4, 4, 2, 2>(&x, &mut y);
/// assert_eq!(y, [[[6.0, 8.0], [14.0, 16.0]]]);
/// ```
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub fn max_pool2d<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const DH: usize,
    const DW: usize,
    const CEIL: bool,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    const {
        assert!(KH > 0 && KW > 0, "max_pool2d: kernel size must be positive");
        assert!(SH > 0 && SW > 0, "max_pool2d: stride must be positive");
        assert!(DH > 0 && DW > 0, "max_pool2d: dilation must be positive");
        assert!(
            H > 0 && W > 0,
            "max_pool2d: input height and width must be positive"
        );
        assert!(
            PH <= dilated_span(KH, DH) / 2 && PW <= dilated_span(KW, DW) / 2,
            "max_pool2d: padding must be at most half the (dilated) kernel size"
        );
        assert!(
            output_len_is(OH, H, KH, SH, PH, DH, CEIL),
            "max_pool2d: OH must equal PyTorch's pooling output size for H"
        );
        assert!(
            output_len_is(OW, W, KW, SW, PW, DW, CEIL),
            "max_pool2d: OW must equal PyTorch's pooling output size for W"
        );
    };
    max_pool2d_with::<KH, KW, SH, SW, PH, PW, DH, DW, C, H, W, OH, OW>(simd::best(), input, output);
}

/// [`max_pool2d`] on the SIMD body of `isa` where it applies (the 2×2
/// window with stride 2, every window inside the input, and the CPU has the
/// feature), else [`max_pool2d_portable`]. Every body gives the same bits.
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
#[inline]
fn max_pool2d_with<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const DH: usize,
    const DW: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    isa: Isa,
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    #[cfg(target_arch = "x86_64")]
    if simd::pool::supported(KH, KW, SH, SW, PH, PW, DH, DW, H, W, OH, OW) {
        match isa {
            Isa::Avx512 if simd::has_avx512() => {
                // SAFETY: the guard just checked that the CPU has AVX-512F,
                // the one feature this body is compiled with; `supported`
                // holds, as the body requires.
                unsafe { simd::pool::max_pool_2x2_avx512(input, output) };
                return;
            }
            Isa::Avx2 if simd::has_avx2_fma() => {
                // SAFETY: the guard just checked that the CPU has AVX2 and
                // FMA, the features this body is compiled with; `supported`
                // holds, as the body requires.
                unsafe { simd::pool::pool_2x2_avx2::<false, C, H, W, OH, OW>(input, output, 1.0) };
                return;
            }
            _ => {}
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    max_pool2d_portable::<KH, KW, SH, SW, PH, PW, DH, DW, C, H, W, OH, OW>(input, output);
}

/// The portable body of [`max_pool2d`]: every window tap folded in with
/// [`max_nan`] through [`fold_taps`].
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
fn max_pool2d_portable<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const DH: usize,
    const DW: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    for (in_plane, out_plane) in input.iter().zip(output.iter_mut()) {
        for row in out_plane.iter_mut() {
            row.fill(f32::NEG_INFINITY);
        }
        fold_taps::<KH, KW, SH, SW, PH, PW, DH, DW, H, W, OH, OW>(in_plane, out_plane, max_nan);
    }
}

/// The window extents along one axis for output `i`: `(padded, real)`, the
/// number of window positions inside the padded input (PyTorch's
/// `pool_size` factor, computed before clamping to the input) and inside the
/// real input.
#[inline]
pub(crate) const fn avg_window(
    i: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    len: usize,
) -> (usize, usize) {
    // In padded coordinates the window is `start..start + kernel` and the
    // input `pad..pad + len`; the padded input is `0..len + 2·pad`.
    let start = i * stride;
    let end = start + kernel;
    let padded_end = if end < len + 2 * pad {
        end
    } else {
        len + 2 * pad
    };
    let padded = padded_end.saturating_sub(start);
    let lo = if start > pad { start } else { pad };
    let hi = if end < pad + len { end } else { pad + len };
    (padded, hi.saturating_sub(lo))
}

/// `torch.nn.AvgPool2d(kernel_size=(KH, KW), stride=(SH, SW),
/// padding=(PH, PW), ceil_mode=CEIL, count_include_pad=COUNT_INCLUDE_PAD,
/// divisor_override=DIVISOR)` on one `[C, H, W]` sample, with
/// `DIVISOR == 0` meaning no override. `output` is fully overwritten.
///
/// Each output is the sum of the real inputs in its window divided by:
/// `DIVISOR` if non-zero; else, with `COUNT_INCLUDE_PAD`, the number of
/// window positions inside the zero-padded input (positions beyond the
/// padding, which only ceil mode creates, do not count); else the number
/// of real inputs in the window. This is PyTorch's CPU kernel exactly,
/// including its summation order, so results are bit-identical.
///
/// Checked at compile time: `KH, KW, SH, SW > 0`, `PH <= KH/2`,
/// `PW <= KW/2`, and `OH == output_len(H, KH, SH, PH, 1, CEIL)` (likewise
/// `OW`; see [`output_len`]).
///
/// ```
/// use constnet_runtime::pool::avg_pool2d;
/// let x = [[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0], [13.0, 14.0, 15.0, 16.0]]];
/// let mut y = [[[0.0f32; 2]; 2]; 1];
/// avg_pool2d::<2, 2, 2, 2, 0, 0, false, true, 0, 1, 4, 4, 2, 2>(&x, &mut y);
/// assert_eq!(y, [[[3.5, 5.5], [11.5, 13.5]]]);
/// ```
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
#[allow(clippy::cast_precision_loss)] // Window sizes are small integers, exact in f32.
pub fn avg_pool2d<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const CEIL: bool,
    const COUNT_INCLUDE_PAD: bool,
    const DIVISOR: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    const {
        assert!(KH > 0 && KW > 0, "avg_pool2d: kernel size must be positive");
        assert!(SH > 0 && SW > 0, "avg_pool2d: stride must be positive");
        assert!(
            H > 0 && W > 0,
            "avg_pool2d: input height and width must be positive"
        );
        assert!(
            PH <= KH / 2 && PW <= KW / 2,
            "avg_pool2d: padding must be at most half the kernel size"
        );
        assert!(
            output_len_is(OH, H, KH, SH, PH, 1, CEIL),
            "avg_pool2d: OH must equal PyTorch's pooling output size for H"
        );
        assert!(
            output_len_is(OW, W, KW, SW, PW, 1, CEIL),
            "avg_pool2d: OW must equal PyTorch's pooling output size for W"
        );
    };
    avg_pool2d_with::<KH, KW, SH, SW, PH, PW, COUNT_INCLUDE_PAD, DIVISOR, C, H, W, OH, OW>(
        simd::best(),
        input,
        output,
    );
}

/// The divisor of output `(oh, ow)` of [`avg_pool2d`], as `f32`: 1 for a
/// window without input (whose sum, `+0`, the portable kernel writes as
/// `0.0`: the same bits).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::cast_precision_loss)] // Window sizes are small integers, exact in f32.
#[inline]
fn avg_divisor<const COUNT_INCLUDE_PAD: bool, const DIVISOR: usize>(
    (padded_h, real_h): (usize, usize),
    (padded_w, real_w): (usize, usize),
) -> f32 {
    let d = if real_h == 0 || real_w == 0 {
        1
    } else if DIVISOR != 0 {
        DIVISOR
    } else if COUNT_INCLUDE_PAD {
        padded_h * padded_w
    } else {
        real_h * real_w
    };
    d as f32
}

/// [`avg_pool2d`] on the SIMD body of `isa` if the CPU has it (every
/// window shape, stride, padding and mode: see `simd::pool::avg_row`),
/// else [`avg_pool2d_portable`]. Every body gives the same bits.
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
#[inline]
fn avg_pool2d_with<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const COUNT_INCLUDE_PAD: bool,
    const DIVISOR: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    isa: Isa,
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    #[cfg(target_arch = "x86_64")]
    {
        // A global average (DS-CNN's `AvgPool2d((25, 5))`): one window per
        // plane, so the row bodies would sum one lane at a time. The
        // adaptive body's 1×1 bin sums the same elements in the same
        // (row-major) order and divides by the same `H·W`, with `LANES`
        // channels per vector: the same bits, 16 times fewer steps.
        let global = KH == H && KW == W && OH == 1 && OW == 1 && PH == 0 && PW == 0;
        if global && (DIVISOR == 0 || DIVISOR == H * W) {
            match isa {
                Isa::Avx512 if simd::has_avx512() => {
                    // SAFETY: the guard just checked that the CPU has
                    // AVX-512F, the one feature this body is compiled with.
                    unsafe { simd::pool::adaptive_avx512(input, output, false) };
                    return;
                }
                Isa::Avx2 if simd::has_avx2_fma() => {
                    // SAFETY: the guard just checked that the CPU has AVX2
                    // and FMA, the features this body is compiled with.
                    unsafe { simd::pool::adaptive_avx2(input, output, false) };
                    return;
                }
                _ => {}
            }
        }
        // A 2×2 window at stride 2 with every window whole (LeNet-5's
        // pools): the 2×2 body, plain loads and no gather (the AVX-512F
        // body is the max pool's only; not measured, so not taken here).
        #[allow(clippy::cast_precision_loss)] // 4 or the override, small.
        let divisor = if DIVISOR == 0 { 4.0 } else { DIVISOR as f32 };
        if simd::pool::supported(KH, KW, SH, SW, PH, PW, 1, 1, H, W, OH, OW)
            && isa == Isa::Avx2
            && simd::has_avx2_fma()
        {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with; `supported` holds,
            // as the body requires.
            unsafe { simd::pool::pool_2x2_avx2::<true, C, H, W, OH, OW>(input, output, divisor) };
            return;
        }
        let cols: [(usize, usize); KW] = core::array::from_fn(|kw| tap_range(kw, PW, W, SW, OW));
        let windows: [(usize, usize); OW] =
            core::array::from_fn(|ow| avg_window(ow, KW, SW, PW, W));
        let divisors = |oh: usize, row: &mut [f32; OW]| {
            let h = avg_window(oh, KH, SH, PH, H);
            for (d, &w) in row.iter_mut().zip(&windows) {
                *d = avg_divisor::<COUNT_INCLUDE_PAD, DIVISOR>(h, w);
            }
        };
        match isa {
            Isa::Avx512 if simd::has_avx512() => {
                // SAFETY: the guard just checked that the CPU has AVX-512F,
                // the one feature this body is compiled with.
                unsafe {
                    simd::pool::avg_pool_avx512(
                        (KH, SH, PH),
                        (SW, PW),
                        &cols,
                        input,
                        output,
                        divisors,
                    );
                };
                return;
            }
            Isa::Avx2 if simd::has_avx2_fma() => {
                // SAFETY: the guard just checked that the CPU has AVX2 and
                // FMA, the features this body is compiled with.
                unsafe {
                    simd::pool::avg_pool_avx2(
                        (KH, SH, PH),
                        (SW, PW),
                        &cols,
                        input,
                        output,
                        divisors,
                    );
                };
                return;
            }
            _ => {}
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    avg_pool2d_portable::<KH, KW, SH, SW, PH, PW, COUNT_INCLUDE_PAD, DIVISOR, C, H, W, OH, OW>(
        input, output,
    );
}

/// The portable body of [`avg_pool2d`]: the window sums through
/// [`fold_taps`], then the divisions.
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
#[allow(clippy::cast_precision_loss)] // Window sizes are small integers, exact in f32.
fn avg_pool2d_portable<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PH: usize,
    const PW: usize,
    const COUNT_INCLUDE_PAD: bool,
    const DIVISOR: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    let cols: [(usize, usize); OW] = core::array::from_fn(|ow| avg_window(ow, KW, SW, PW, W));
    for (in_plane, out_plane) in input.iter().zip(output.iter_mut()) {
        for row in out_plane.iter_mut() {
            row.fill(0.0);
        }
        fold_taps::<KH, KW, SH, SW, PH, PW, 1, 1, H, W, OH, OW>(in_plane, out_plane, |acc, x| {
            acc + x
        });
        for (oh, row) in out_plane.iter_mut().enumerate() {
            let (padded_h, real_h) = avg_window(oh, KH, SH, PH, H);
            for (o, &(padded_w, real_w)) in row.iter_mut().zip(&cols) {
                // A window without real input stays 0, as in PyTorch (this
                // cannot happen under the padding rule, but costs nothing).
                if real_h == 0 || real_w == 0 {
                    *o = 0.0;
                    continue;
                }
                let divisor = if DIVISOR != 0 {
                    DIVISOR
                } else if COUNT_INCLUDE_PAD {
                    padded_h * padded_w
                } else {
                    real_h * real_w
                };
                *o /= divisor as f32;
            }
        }
    }
}

/// The input bin `start..end` that adaptive-pooling output `i` of `out`
/// reads along an axis of `len`: PyTorch's `start_index` /`end_index`,
/// `floor(i·len/out) .. ceil((i+1)·len/out)`. Never empty for `len, out > 0`.
#[inline]
#[must_use]
pub const fn adaptive_bin(i: usize, out: usize, len: usize) -> (usize, usize) {
    ((i * len) / out, ((i + 1) * len).div_ceil(out))
}

/// The compile-time checks shared by the adaptive pools.
const fn adaptive_checks(h: usize, w: usize, oh: usize, ow: usize) {
    assert!(
        h > 0 && w > 0,
        "adaptive pooling: input height and width must be positive"
    );
    assert!(
        oh > 0 && ow > 0,
        "adaptive pooling: output height and width must be positive"
    );
}

/// `torch.nn.AdaptiveAvgPool2d((OH, OW))` on one `[C, H, W]` sample: output
/// `(i, j)` is the mean of the input bin `adaptive_bin(i, OH, H)` ×
/// `adaptive_bin(j, OW, W)` ([`adaptive_bin`]). Bins may overlap, and `OH`
/// may exceed `H` (bins then repeat inputs), as in PyTorch. `output` is fully
/// overwritten.
///
/// Like PyTorch's CPU kernel, the bin is summed in row-major order and the
/// sum divided by the bin height, then by the bin width. For a `1×1` output
/// PyTorch computes `mean` instead (one division by `H·W`, with its own
/// summation order); this kernel divides once by `H·W` in that case too.
///
/// Checked at compile time: `H, W, OH, OW > 0`.
#[allow(clippy::cast_precision_loss)] // Bin sizes are small integers, exact in f32.
pub fn adaptive_avg_pool2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    const { adaptive_checks(H, W, OH, OW) };
    adaptive_with(simd::best(), input, output, false);
}

/// [`adaptive_avg_pool2d`] (`max == false`) or [`adaptive_max_pool2d`] on
/// the SIMD body of `isa` if the CPU has it (`LANES` channels at a time,
/// each bin folded in the portable order: see `simd::pool::adaptive`),
/// else the portable loops. Every body gives the same bits.
#[inline]
fn adaptive_with<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    isa: Isa,
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
    max: bool,
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if simd::has_avx512() => {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe { simd::pool::adaptive_avx512(input, output, max) };
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if simd::has_avx2_fma() => {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe { simd::pool::adaptive_avx2(input, output, max) };
        }
        _ if max => adaptive_max_portable(input, output),
        _ => adaptive_avg_portable(input, output),
    }
}

/// The portable body of [`adaptive_avg_pool2d`].
#[allow(clippy::cast_precision_loss)] // Bin sizes are small integers, exact in f32.
fn adaptive_avg_portable<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    let cols: [(usize, usize); OW] = core::array::from_fn(|ow| adaptive_bin(ow, OW, W));
    for (in_plane, out_plane) in input.iter().zip(output.iter_mut()) {
        for (oh, out_row) in out_plane.iter_mut().enumerate() {
            let (h0, h1) = adaptive_bin(oh, OH, H);
            let rows = in_plane.get(h0..h1).unwrap_or_default();
            for (o, &(w0, w1)) in out_row.iter_mut().zip(&cols) {
                let mut sum = 0.0f32;
                for in_row in rows {
                    for &x in in_row.get(w0..w1).unwrap_or_default() {
                        sum += x;
                    }
                }
                *o = if OH == 1 && OW == 1 {
                    sum / (H * W) as f32
                } else {
                    sum / (h1 - h0) as f32 / (w1 - w0) as f32
                };
            }
        }
    }
}

/// `torch.nn.AdaptiveMaxPool2d((OH, OW))` on one `[C, H, W]` sample: output
/// `(i, j)` is the maximum of the input bin `adaptive_bin(i, OH, H)` ×
/// `adaptive_bin(j, OW, W)` ([`adaptive_bin`]), NaN if the bin holds a NaN.
/// `OH` may exceed `H`. `output` is fully overwritten.
///
/// Checked at compile time: `H, W, OH, OW > 0`.
pub fn adaptive_max_pool2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    const { adaptive_checks(H, W, OH, OW) };
    adaptive_with(simd::best(), input, output, true);
}

/// The portable body of [`adaptive_max_pool2d`].
fn adaptive_max_portable<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    input: &[[[f32; W]; H]; C],
    output: &mut [[[f32; OW]; OH]; C],
) {
    let cols: [(usize, usize); OW] = core::array::from_fn(|ow| adaptive_bin(ow, OW, W));
    for (in_plane, out_plane) in input.iter().zip(output.iter_mut()) {
        for (oh, out_row) in out_plane.iter_mut().enumerate() {
            let (h0, h1) = adaptive_bin(oh, OH, H);
            let rows = in_plane.get(h0..h1).unwrap_or_default();
            for (o, &(w0, w1)) in out_row.iter_mut().zip(&cols) {
                let mut max = f32::NEG_INFINITY;
                for in_row in rows {
                    for &x in in_row.get(w0..w1).unwrap_or_default() {
                        max = max_nan(max, x);
                    }
                }
                *o = max;
            }
        }
    }
}

#[cfg(test)]
// Hand-worked values are exact, so exact comparisons are intended; test
// tensors of a few tens of KiB on the stack are fine.
#[allow(
    clippy::float_cmp,
    clippy::large_stack_arrays,
    clippy::cast_precision_loss
)]
mod tests {
    use super::*;
    use crate::reference::test_util::{assert_close, Rng};
    use crate::reference::{self, AvgPool2dParams, MaxPool2dParams};
    use crate::Tensor;
    use std::vec::Vec;

    /// The bits of a map, to compare signed zeros too; every NaN as one
    /// (Rust leaves NaN payloads unspecified: LLVM may commute an `fadd`,
    /// so not even the portable loop fixes which NaN `inf + −inf + NaN`
    /// gives).
    fn bits<const C: usize, const H: usize, const W: usize>(t: &[[[f32; W]; H]; C]) -> Vec<u32> {
        Tensor::as_flat(t)
            .iter()
            .map(|v| if v.is_nan() { u32::MAX } else { v.to_bits() })
            .collect()
    }

    fn every_isa() -> Vec<Isa> {
        let mut isas = std::vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if simd::has_avx2_fma() {
                isas.push(Isa::Avx2);
            } else {
                std::eprintln!("skipped: this CPU has no AVX2+FMA");
            }
            if simd::has_avx512() {
                isas.push(Isa::Avx512);
            } else {
                std::eprintln!("skipped: this CPU has no AVX-512F");
            }
        }
        isas
    }

    /// The 4x4 grid 1..16, row-major.
    const GRID: [[[f32; 4]; 4]; 1] = [[
        [1.0, 2.0, 3.0, 4.0],
        [5.0, 6.0, 7.0, 8.0],
        [9.0, 10.0, 11.0, 12.0],
        [13.0, 14.0, 15.0, 16.0],
    ]];

    #[test]
    fn hand_worked_max_pool() {
        let mut y = [[[0.0f32; 2]; 2]; 1];
        max_pool2d::<2, 2, 2, 2, 0, 0, 1, 1, false, 1, 4, 4, 2, 2>(&GRID, &mut y);
        assert_eq!(y, [[[6.0, 8.0], [14.0, 16.0]]]);
        // 3x3, stride 1: maxima at the bottom-right of each window.
        let mut y = [[[0.0f32; 2]; 2]; 1];
        max_pool2d::<3, 3, 1, 1, 0, 0, 1, 1, false, 1, 4, 4, 2, 2>(&GRID, &mut y);
        assert_eq!(y, [[[11.0, 12.0], [15.0, 16.0]]]);
        // 3x3, stride 2, padding 1, ceil mode: out = ceil((4+2-3)/2)+1 = 3,
        // last window starts at 4-1 = 3 < 4+1: kept. Windows (padded rows)
        // 0..3, 2..5, 4..7 → input rows 0..2, 1..4, 3..4.
        let mut y = [[[0.0f32; 3]; 3]; 1];
        max_pool2d::<3, 3, 2, 2, 1, 1, 1, 1, true, 1, 4, 4, 3, 3>(&GRID, &mut y);
        assert_eq!(
            y,
            [[[6.0, 8.0, 8.0], [14.0, 16.0, 16.0], [14.0, 16.0, 16.0]]]
        );
        // Dilation 2, 2x2 kernel: taps at +0 and +2.
        let mut y = [[[0.0f32; 2]; 2]; 1];
        max_pool2d::<2, 2, 1, 1, 0, 0, 2, 2, false, 1, 4, 4, 2, 2>(&GRID, &mut y);
        assert_eq!(y, [[[11.0, 12.0], [15.0, 16.0]]]);
    }

    #[test]
    fn max_pool_nan_and_padding_only_windows() {
        let mut x = GRID;
        x[0][0][1] = f32::NAN;
        let mut y = [[[0.0f32; 2]; 2]; 1];
        max_pool2d::<2, 2, 2, 2, 0, 0, 1, 1, false, 1, 4, 4, 2, 2>(&x, &mut y);
        assert!(y[0][0][0].is_nan());
        assert_eq!([y[0][0][1], y[0][1][0], y[0][1][1]], [8.0, 14.0, 16.0]);
        // NaN before a larger value still wins.
        let x = [[[f32::NAN, 5.0]]];
        let mut y = [[[0.0f32; 1]; 1]; 1];
        max_pool2d::<1, 2, 1, 1, 0, 0, 1, 1, false, 1, 1, 2, 1, 1>(&x, &mut y);
        assert!(y[0][0][0].is_nan());
        // Kernel 2, dilation 2, padding 1 on a length-1 axis: the only
        // window reads padded positions 0 and 2, both padding → -inf.
        let x = [[[3.0f32]]];
        let mut y = [[[0.0f32; 1]; 1]; 1];
        max_pool2d::<1, 2, 1, 1, 0, 1, 1, 2, false, 1, 1, 1, 1, 1>(&x, &mut y);
        assert_eq!(y[0][0][0], f32::NEG_INFINITY);
    }

    #[test]
    fn hand_worked_avg_pool() {
        let mut y = [[[0.0f32; 2]; 2]; 1];
        avg_pool2d::<2, 2, 2, 2, 0, 0, false, true, 0, 1, 4, 4, 2, 2>(&GRID, &mut y);
        assert_eq!(y, [[[3.5, 5.5], [11.5, 13.5]]]);
        // 3x3 windows, stride 2, padding 1 (4x4 → 2x2). The top-left window
        // covers x[0..2][0..2] = 1 + 2 + 5 + 6 = 14.
        let mut y = [[[0.0f32; 2]; 2]; 1];
        avg_pool2d::<3, 3, 2, 2, 1, 1, false, true, 0, 1, 4, 4, 2, 2>(&GRID, &mut y);
        assert_eq!(y[0][0][0], 14.0 / 9.0);
        avg_pool2d::<3, 3, 2, 2, 1, 1, false, false, 0, 1, 4, 4, 2, 2>(&GRID, &mut y);
        assert_eq!(y[0][0][0], 14.0 / 4.0);
        // Bottom-right window: x[1..4][1..4] = 6+7+8+10+11+12+14+15+16 = 99.
        assert_eq!(y[0][1][1], 99.0 / 9.0);
        avg_pool2d::<3, 3, 2, 2, 1, 1, false, false, 7, 1, 4, 4, 2, 2>(&GRID, &mut y);
        assert_eq!(y[0][0][0], 14.0 / 7.0);
    }

    #[test]
    fn avg_pool_ceil_mode_divisors() {
        // 1x5 row, kernel (1, 2), stride 2, ceil mode, no padding: windows
        // [0,1], [2,3], [4] — the last hangs past the input. Past-the-border
        // positions are never counted, even with count_include_pad.
        let x = [[[1.0f32, 2.0, 3.0, 4.0, 5.0]]];
        let mut y = [[[0.0f32; 3]; 1]; 1];
        avg_pool2d::<1, 2, 1, 2, 0, 0, true, true, 0, 1, 1, 5, 1, 3>(&x, &mut y);
        assert_eq!(y, [[[1.5, 3.5, 5.0]]]);
        // Padding 1, ceil: windows over padded [p 1 2 3 4 5 p] at 0, 2, 4:
        // [p,1] [2,3] [4,5]; a fourth would start at 6 >= 5+1: dropped.
        let mut y = [[[0.0f32; 3]; 1]; 1];
        avg_pool2d::<1, 2, 1, 2, 0, 1, true, true, 0, 1, 1, 5, 1, 3>(&x, &mut y);
        assert_eq!(y, [[[0.5, 2.5, 4.5]]]);
        avg_pool2d::<1, 2, 1, 2, 0, 1, true, false, 0, 1, 1, 5, 1, 3>(&x, &mut y);
        assert_eq!(y, [[[1.0, 2.5, 4.5]]]);
        // 1x6 row, kernel 3, stride 2, padding 1, ceil: padded
        // [p 1 2 3 4 5 6 p]; windows at 0, 2, 4, 6 → [p12] [234] [456] [6p|]:
        // the last has 2 positions inside the padded input, 1 real.
        let x = [[[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]]];
        let mut y = [[[0.0f32; 4]; 1]; 1];
        avg_pool2d::<1, 3, 1, 2, 0, 1, true, true, 0, 1, 1, 6, 1, 4>(&x, &mut y);
        assert_eq!(y, [[[1.0, 3.0, 5.0, 3.0]]]);
        avg_pool2d::<1, 3, 1, 2, 0, 1, true, false, 0, 1, 1, 6, 1, 4>(&x, &mut y);
        assert_eq!(y, [[[1.5, 3.0, 5.0, 6.0]]]);
    }

    #[test]
    fn hand_worked_adaptive() {
        let mut y = [[[0.0f32; 1]; 1]; 1];
        adaptive_avg_pool2d::<1, 4, 4, 1, 1>(&GRID, &mut y);
        assert_eq!(y[0][0][0], 8.5);
        adaptive_max_pool2d::<1, 4, 4, 1, 1>(&GRID, &mut y);
        assert_eq!(y[0][0][0], 16.0);
        // 4 → 3: bins 0..2, 1..3, 2..4.
        let mut y = [[[0.0f32; 3]; 3]; 1];
        adaptive_max_pool2d::<1, 4, 4, 3, 3>(&GRID, &mut y);
        assert_eq!(
            y,
            [[[6.0, 7.0, 8.0], [10.0, 11.0, 12.0], [14.0, 15.0, 16.0]]]
        );
        adaptive_avg_pool2d::<1, 4, 4, 3, 3>(&GRID, &mut y);
        assert_eq!(y[0][0], [3.5, 4.5, 5.5]);
        // 2 → 3 (upsampling): bins 0..1, 0..2, 1..2.
        let x = [[[1.0f32, 3.0]]];
        let mut y = [[[0.0f32; 3]; 1]; 1];
        adaptive_avg_pool2d::<1, 1, 2, 1, 3>(&x, &mut y);
        assert_eq!(y, [[[1.0, 2.0, 3.0]]]);
    }

    macro_rules! max_case {
        ($seed:expr; C=$c:literal H=$h:literal W=$w:literal K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal)
         P=($ph:literal, $pw:literal) D=($dh:literal, $dw:literal) ceil=$ceil:literal) => {{
            const C: usize = $c;
            const H: usize = $h;
            const W: usize = $w;
            const OH: usize = match output_len(H, $kh, $sh, $ph, $dh, $ceil) { Some(n) => n, None => 0 };
            const OW: usize = match output_len(W, $kw, $sw, $pw, $dw, $ceil) { Some(n) => n, None => 0 };
            let mut rng = Rng::new($seed);
            let mut x = [[[0.0f32; W]; H]; C];
            rng.fill(Tensor::as_flat_mut(&mut x));
            let mut y = [[[f32::NAN; OW]; OH]; C];
            max_pool2d::<$kh, $kw, $sh, $sw, $ph, $pw, $dh, $dw, $ceil, C, H, W, OH, OW>(&x, &mut y);
            let p = MaxPool2dParams { kernel: ($kh, $kw), stride: ($sh, $sw), padding: ($ph, $pw), dilation: ($dh, $dw), ceil_mode: $ceil };
            assert_eq!(p.output_hw((H, W)), Some((OH, OW)));
            let mut expected = std::vec![0.0f32; C * OH * OW];
            reference::max_pool2d(&p, C, (H, W), Tensor::as_flat(&x), &mut expected);
            assert_close(Tensor::as_flat(&y), &expected, stringify!(max_pool2d $seed));
        }};
    }

    macro_rules! avg_case {
        ($seed:expr; C=$c:literal H=$h:literal W=$w:literal K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal)
         P=($ph:literal, $pw:literal) ceil=$ceil:literal include_pad=$inc:literal divisor=$div:literal) => {{
            const C: usize = $c;
            const H: usize = $h;
            const W: usize = $w;
            const OH: usize = match output_len(H, $kh, $sh, $ph, 1, $ceil) { Some(n) => n, None => 0 };
            const OW: usize = match output_len(W, $kw, $sw, $pw, 1, $ceil) { Some(n) => n, None => 0 };
            let mut rng = Rng::new($seed);
            let mut x = [[[0.0f32; W]; H]; C];
            rng.fill(Tensor::as_flat_mut(&mut x));
            let mut y = [[[f32::NAN; OW]; OH]; C];
            avg_pool2d::<$kh, $kw, $sh, $sw, $ph, $pw, $ceil, $inc, $div, C, H, W, OH, OW>(&x, &mut y);
            // Every body gives the portable bits, also with NaN, infinities
            // and signed zeros in the input.
            let mut xs = x;
            let specials = [f32::NAN, -0.0, f32::INFINITY, 0.0, f32::NEG_INFINITY, -0.0];
            for (v, s) in Tensor::as_flat_mut(&mut xs).iter_mut().step_by(7).zip(specials.iter().cycle()) {
                *v = *s;
            }
            for input in [&x, &xs] {
                let mut want = [[[f32::NAN; OW]; OH]; C];
                avg_pool2d_portable::<$kh, $kw, $sh, $sw, $ph, $pw, $inc, $div, C, H, W, OH, OW>(input, &mut want);
                for isa in every_isa() {
                    let mut got = [[[f32::NAN; OW]; OH]; C];
                    avg_pool2d_with::<$kh, $kw, $sh, $sw, $ph, $pw, $inc, $div, C, H, W, OH, OW>(isa, input, &mut got);
                    assert_eq!(bits(&got), bits(&want), "avg_pool2d on {isa:?}, seed {}", $seed);
                }
            }
            let p = AvgPool2dParams {
                kernel: ($kh, $kw),
                stride: ($sh, $sw),
                padding: ($ph, $pw),
                ceil_mode: $ceil,
                count_include_pad: $inc,
                divisor_override: if $div == 0 { None } else { Some($div) },
            };
            assert_eq!(p.output_hw((H, W)), Some((OH, OW)));
            let mut expected = std::vec![0.0f32; C * OH * OW];
            reference::avg_pool2d(&p, C, (H, W), Tensor::as_flat(&x), &mut expected);
            assert_close(Tensor::as_flat(&y), &expected, stringify!(avg_pool2d $seed));
        }};
    }

    /// The 2×2 / stride 2 max pool on every instruction set: the portable
    /// bits exactly (NaN, ±0 ties and infinities included) and the
    /// reference's values, for widths around the vector sizes.
    macro_rules! max2_case {
        ($isas:expr, $seed:expr; C=$c:literal H=$h:literal W=$w:literal ceil=$ceil:literal) => {{
            const C: usize = $c;
            const H: usize = $h;
            const W: usize = $w;
            const OH: usize = match output_len(H, 2, 2, 0, 1, $ceil) { Some(n) => n, None => 0 };
            const OW: usize = match output_len(W, 2, 2, 0, 1, $ceil) { Some(n) => n, None => 0 };
            let mut rng = Rng::new($seed);
            let mut x = [[[0.0f32; W]; H]; C];
            rng.fill(Tensor::as_flat_mut(&mut x));
            // Sprinkle specials: NaN, signed zeros (ties whose winner shows
            // in the bits), infinities.
            let specials = [f32::NAN, 0.0, -0.0, f32::NEG_INFINITY, f32::INFINITY, -0.0, 0.0];
            for (v, s) in Tensor::as_flat_mut(&mut x).iter_mut().step_by(5).zip(specials.iter().cycle()) {
                *v = *s;
            }
            let mut want = [[[f32::NAN; OW]; OH]; C];
            max_pool2d_portable::<2, 2, 2, 2, 0, 0, 1, 1, C, H, W, OH, OW>(&x, &mut want);
            let p = MaxPool2dParams { kernel: (2, 2), stride: (2, 2), padding: (0, 0), dilation: (1, 1), ceil_mode: $ceil };
            let mut expected = std::vec![0.0f32; C * OH * OW];
            reference::max_pool2d(&p, C, (H, W), Tensor::as_flat(&x), &mut expected);
            assert_close(Tensor::as_flat(&want), &expected, stringify!(max_pool2d 2x2 $seed));
            for &isa in $isas {
                let mut y = [[[f32::NAN; OW]; OH]; C];
                max_pool2d_with::<2, 2, 2, 2, 0, 0, 1, 1, C, H, W, OH, OW>(isa, &x, &mut y);
                let bits = |t: &[[[f32; OW]; OH]; C]| -> Vec<u32> {
                    Tensor::as_flat(t).iter().map(|v| v.to_bits()).collect()
                };
                assert_eq!(bits(&y), bits(&want), "max_pool2d 2x2 on {isa:?}, seed {}", $seed);
            }
        }};
    }

    #[test]
    fn max_pool_2x2_every_isa_is_exact() {
        let mut isas = std::vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if simd::has_avx2_fma() {
                isas.push(Isa::Avx2);
            } else {
                std::eprintln!("skipped: this CPU has no AVX2+FMA");
            }
            if cfg!(miri) {
                // Miri does not implement `_mm512_permutex2var_ps`
                // (`llvm.x86.avx512.vpermi2var.ps.512`) nor
                // `_mm512_cmp_ps_mask` (`llvm.x86.avx512.mask.cmp.ps.512`),
                // which this body uses.
                std::eprintln!("skipped: Miri cannot run the AVX-512F body");
            } else if simd::has_avx512() {
                isas.push(Isa::Avx512);
            } else {
                std::eprintln!("skipped: this CPU has no AVX-512F");
            }
        }
        let isas = &isas;
        // Under Miri, some thousands of times slower, the large cases have
        // twins with the same widths on fewer rows and channels.
        max2_case!(isas, 1; C=1 H=2 W=2 ceil=false);
        max2_case!(isas, 2; C=2 H=3 W=3 ceil=false);
        #[cfg(not(miri))]
        max2_case!(isas, 3; C=6 H=28 W=28 ceil=false);
        #[cfg(miri)]
        max2_case!(isas, 3; C=2 H=4 W=28 ceil=false);
        #[cfg(not(miri))]
        max2_case!(isas, 4; C=16 H=10 W=10 ceil=false);
        #[cfg(miri)]
        max2_case!(isas, 4; C=3 H=4 W=10 ceil=false);
        max2_case!(isas, 5; C=2 H=4 W=14 ceil=false);
        max2_case!(isas, 6; C=2 H=4 W=15 ceil=false);
        max2_case!(isas, 7; C=2 H=4 W=16 ceil=false);
        max2_case!(isas, 8; C=2 H=5 W=17 ceil=false);
        max2_case!(isas, 9; C=1 H=4 W=31 ceil=false);
        max2_case!(isas, 10; C=1 H=4 W=32 ceil=false);
        max2_case!(isas, 11; C=1 H=4 W=33 ceil=false);
        #[cfg(not(miri))]
        max2_case!(isas, 12; C=1 H=6 W=63 ceil=false);
        #[cfg(miri)]
        max2_case!(isas, 12; C=1 H=2 W=63 ceil=false);
        max2_case!(isas, 13; C=1 H=2 W=64 ceil=false);
        max2_case!(isas, 14; C=1 H=2 W=66 ceil=false);
        #[cfg(not(miri))]
        max2_case!(isas, 15; C=3 H=7 W=100 ceil=false);
        #[cfg(miri)]
        max2_case!(isas, 15; C=2 H=3 W=100 ceil=false);
        // Ceil mode with an even size is the same pool; with an odd size
        // the last window is partial and goes to the portable body.
        max2_case!(isas, 16; C=2 H=8 W=18 ceil=true);
        max2_case!(isas, 17; C=2 H=7 W=19 ceil=true);
    }

    /// The 2×2 stride-2 average pool on the AVX2 2×2 body gives the
    /// portable bits exactly (NaN, infinities, signed zeros included), for
    /// widths around the vector sizes, odd sizes (the last row and column
    /// unread) and a divisor override; LeNet-5's two pools.
    #[test]
    fn avg_pool_2x2_avx2_is_exact() {
        let mut isas = std::vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        if simd::has_avx2_fma() {
            isas.push(Isa::Avx2);
        } else {
            std::eprintln!("skipped: this CPU has no AVX2+FMA");
        }
        macro_rules! case {
            ($seed:expr; C=$c:literal H=$h:literal W=$w:literal divisor=$div:literal) => {{
                const C: usize = $c;
                const H: usize = $h;
                const W: usize = $w;
                const OH: usize = H / 2;
                const OW: usize = W / 2;
                let mut rng = Rng::new($seed);
                let mut x = [[[0.0f32; W]; H]; C];
                rng.fill(Tensor::as_flat_mut(&mut x));
                // Magnitudes from 0.01 to 100 with full mantissas: sums that
                // round, so that another order of the additions shows.
                for (i, v) in Tensor::as_flat_mut(&mut x).iter_mut().enumerate() {
                    let scale = [0.01f32, 0.3, 1.7, 23.0, 100.0][i % 5];
                    *v = (*v + 0.123_456_79) * scale;
                }
                let specials = [f32::NAN, -0.0, f32::INFINITY, 0.0, f32::NEG_INFINITY, -0.0];
                for (v, s) in Tensor::as_flat_mut(&mut x)
                    .iter_mut()
                    .step_by(11)
                    .zip(specials.iter().cycle())
                {
                    *v = *s;
                }
                // A window of four −0.0: the sum starts at +0.0 (PyTorch's).
                x[0][0][0] = -0.0;
                x[0][0][1] = -0.0;
                x[0][1][0] = -0.0;
                x[0][1][1] = -0.0;
                let mut want = [[[f32::NAN; OW]; OH]; C];
                avg_pool2d_portable::<2, 2, 2, 2, 0, 0, true, $div, C, H, W, OH, OW>(&x, &mut want);
                assert_eq!(want[0][0][0].to_bits(), 0.0f32.to_bits());
                for &isa in &isas {
                    let mut got = [[[f32::NAN; OW]; OH]; C];
                    avg_pool2d_with::<2, 2, 2, 2, 0, 0, true, $div, C, H, W, OH, OW>(
                        isa, &x, &mut got,
                    );
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "avg_pool2d 2x2 on {isa:?}, seed {}",
                        $seed
                    );
                }
            }};
        }
        #[cfg(not(miri))]
        case!(61; C=6 H=28 W=28 divisor=0);
        #[cfg(miri)]
        case!(61; C=1 H=4 W=28 divisor=0);
        case!(62; C=2 H=10 W=10 divisor=0);
        case!(63; C=1 H=4 W=14 divisor=0);
        case!(64; C=1 H=4 W=15 divisor=0);
        case!(65; C=1 H=4 W=16 divisor=0);
        case!(66; C=1 H=5 W=17 divisor=0);
        case!(67; C=1 H=2 W=32 divisor=0);
        case!(68; C=1 H=2 W=33 divisor=0);
        case!(69; C=1 H=3 W=35 divisor=3);
        case!(70; C=2 H=2 W=2 divisor=0);
    }

    #[test]
    fn max_pool_matches_reference() {
        max_case!(1; C=3 H=8 W=8 K=(2, 2) S=(2, 2) P=(0, 0) D=(1, 1) ceil=false);
        max_case!(2; C=2 H=7 W=7 K=(2, 2) S=(2, 2) P=(0, 0) D=(1, 1) ceil=false);
        max_case!(3; C=2 H=7 W=7 K=(2, 2) S=(2, 2) P=(0, 0) D=(1, 1) ceil=true);
        max_case!(4; C=2 H=9 W=9 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1) ceil=false);
        max_case!(5; C=2 H=10 W=10 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1) ceil=true);
        // Ceil mode where the last window would start in the right padding.
        max_case!(6; C=1 H=5 W=5 K=(2, 2) S=(2, 2) P=(1, 1) D=(1, 1) ceil=true);
        max_case!(7; C=1 H=6 W=11 K=(4, 4) S=(3, 3) P=(2, 2) D=(1, 1) ceil=true);
        max_case!(8; C=2 H=8 W=9 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1) ceil=false);
        // Dilation, with padding up to half the dilated kernel.
        max_case!(9; C=2 H=9 W=9 K=(3, 3) S=(1, 1) P=(0, 0) D=(2, 2) ceil=false);
        max_case!(10; C=2 H=10 W=11 K=(3, 2) S=(2, 1) P=(2, 1) D=(2, 3) ceil=true);
        max_case!(11; C=1 H=6 W=6 K=(2, 2) S=(1, 1) P=(1, 1) D=(2, 2) ceil=false);
        // Rectangular kernels and strides, non-square inputs.
        max_case!(12; C=3 H=6 W=13 K=(2, 3) S=(2, 3) P=(1, 1) D=(1, 1) ceil=false);
        max_case!(13; C=2 H=12 W=5 K=(3, 1) S=(3, 1) P=(0, 0) D=(1, 1) ceil=true);
        // Stride larger than the kernel, kernel == input.
        max_case!(14; C=2 H=11 W=11 K=(2, 2) S=(4, 4) P=(0, 0) D=(1, 1) ceil=true);
        max_case!(15; C=2 H=5 W=5 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1) ceil=false);
        // Padding-only windows (dilation 2 skips the single real row/column).
        max_case!(16; C=1 H=1 W=1 K=(2, 2) S=(1, 1) P=(1, 1) D=(2, 2) ceil=false);
        // Wide rows for the vectorised path (under Miri, on fewer rows).
        #[cfg(not(miri))]
        max_case!(17; C=2 H=5 W=40 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1) ceil=false);
        #[cfg(miri)]
        max_case!(17; C=1 H=3 W=40 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1) ceil=false);
    }

    #[test]
    fn avg_pool_matches_reference() {
        avg_case!(21; C=3 H=8 W=8 K=(2, 2) S=(2, 2) P=(0, 0) ceil=false include_pad=true divisor=0);
        avg_case!(22; C=2 H=7 W=7 K=(2, 2) S=(2, 2) P=(0, 0) ceil=true include_pad=true divisor=0);
        avg_case!(23; C=2 H=7 W=7 K=(2, 2) S=(2, 2) P=(0, 0) ceil=true include_pad=false divisor=0);
        avg_case!(24; C=2 H=9 W=9 K=(3, 3) S=(2, 2) P=(1, 1) ceil=false include_pad=true divisor=0);
        avg_case!(25; C=2 H=9 W=9 K=(3, 3) S=(2, 2) P=(1, 1) ceil=false include_pad=false divisor=0);
        avg_case!(26; C=2 H=10 W=10 K=(3, 3) S=(2, 2) P=(1, 1) ceil=true include_pad=true divisor=0);
        avg_case!(27; C=2 H=10 W=10 K=(3, 3) S=(2, 2) P=(1, 1) ceil=true include_pad=false divisor=0);
        // Ceil mode where a window would start in the right padding.
        avg_case!(28; C=1 H=5 W=5 K=(2, 2) S=(2, 2) P=(1, 1) ceil=true include_pad=true divisor=0);
        avg_case!(29; C=1 H=6 W=11 K=(4, 4) S=(3, 3) P=(2, 2) ceil=true include_pad=true divisor=0);
        avg_case!(30; C=1 H=6 W=11 K=(4, 4) S=(3, 3) P=(2, 2) ceil=true include_pad=false divisor=0);
        // divisor_override.
        avg_case!(31; C=2 H=8 W=8 K=(3, 3) S=(1, 1) P=(1, 1) ceil=false include_pad=true divisor=5);
        avg_case!(32; C=2 H=7 W=9 K=(3, 2) S=(2, 2) P=(1, 1) ceil=true include_pad=false divisor=3);
        // Rectangular, stride > kernel, kernel == input.
        avg_case!(33; C=3 H=6 W=13 K=(2, 3) S=(2, 3) P=(1, 1) ceil=false include_pad=true divisor=0);
        avg_case!(34; C=2 H=11 W=11 K=(2, 2) S=(4, 4) P=(0, 0) ceil=true include_pad=false divisor=0);
        avg_case!(35; C=2 H=5 W=5 K=(5, 5) S=(1, 1) P=(2, 2) ceil=false include_pad=false divisor=0);
        avg_case!(36; C=2 H=12 W=5 K=(3, 1) S=(3, 1) P=(1, 0) ceil=true include_pad=true divisor=0);
        // Wide rows (under Miri, on fewer rows).
        #[cfg(not(miri))]
        avg_case!(37; C=2 H=5 W=40 K=(3, 3) S=(1, 1) P=(1, 1) ceil=false include_pad=true divisor=0);
        #[cfg(miri)]
        avg_case!(37; C=1 H=3 W=40 K=(3, 3) S=(1, 1) P=(1, 1) ceil=false include_pad=true divisor=0);
        // Around the vector widths (8, 16 output columns), every stride
        // body (1: loads, 2: loads and a permute, 3: gathers), padded edges;
        // under Miri the narrower of them.
        #[cfg(not(miri))]
        avg_case!(38; C=6 H=28 W=28 K=(2, 2) S=(2, 2) P=(0, 0) ceil=false include_pad=true divisor=0);
        avg_case!(39; C=2 H=4 W=33 K=(2, 2) S=(2, 2) P=(1, 1) ceil=true include_pad=false divisor=0);
        avg_case!(40; C=2 H=4 W=34 K=(3, 3) S=(2, 2) P=(1, 1) ceil=false include_pad=true divisor=0);
        #[cfg(not(miri))]
        avg_case!(41; C=2 H=4 W=66 K=(3, 3) S=(2, 2) P=(1, 1) ceil=true include_pad=true divisor=0);
        avg_case!(42; C=1 H=3 W=17 K=(1, 3) S=(1, 1) P=(0, 1) ceil=false include_pad=false divisor=0);
        avg_case!(43; C=1 H=3 W=8 K=(3, 3) S=(1, 1) P=(1, 1) ceil=false include_pad=true divisor=0);
        avg_case!(44; C=1 H=3 W=9 K=(3, 3) S=(1, 1) P=(1, 1) ceil=false include_pad=false divisor=0);
        #[cfg(not(miri))]
        avg_case!(45; C=2 H=7 W=50 K=(3, 3) S=(3, 3) P=(1, 1) ceil=true include_pad=false divisor=0);
        #[cfg(not(miri))]
        avg_case!(46; C=2 H=7 W=52 K=(4, 5) S=(3, 3) P=(2, 2) ceil=true include_pad=true divisor=7);
        avg_case!(47; C=1 H=9 W=47 K=(4, 4) S=(4, 4) P=(2, 2) ceil=true include_pad=true divisor=0);
        #[cfg(not(miri))]
        avg_case!(48; C=3 H=2 W=70 K=(2, 7) S=(1, 2) P=(1, 3) ceil=false include_pad=false divisor=0);
        // Global averages (DS-CNN's), on the adaptive body: more channels
        // than a vector, a divisor equal to the window.
        avg_case!(49; C=20 H=25 W=5 K=(25, 5) S=(25, 5) P=(0, 0) ceil=false include_pad=true divisor=0);
        avg_case!(50; C=3 H=4 W=3 K=(4, 3) S=(1, 1) P=(0, 0) ceil=false include_pad=false divisor=12);
    }

    macro_rules! adaptive_case {
        ($seed:expr; C=$c:literal H=$h:literal W=$w:literal OH=$oh:literal OW=$ow:literal) => {{
            const C: usize = $c;
            const H: usize = $h;
            const W: usize = $w;
            const OH: usize = $oh;
            const OW: usize = $ow;
            let mut rng = Rng::new($seed);
            let mut x = [[[0.0f32; W]; H]; C];
            rng.fill(Tensor::as_flat_mut(&mut x));
            let mut expected = std::vec![0.0f32; C * OH * OW];
            let mut y = [[[f32::NAN; OW]; OH]; C];
            adaptive_avg_pool2d::<C, H, W, OH, OW>(&x, &mut y);
            reference::adaptive_avg_pool2d(C, (H, W), (OH, OW), Tensor::as_flat(&x), &mut expected);
            assert_close(Tensor::as_flat(&y), &expected, stringify!(adaptive_avg_pool2d $seed));
            let mut y = [[[f32::NAN; OW]; OH]; C];
            adaptive_max_pool2d::<C, H, W, OH, OW>(&x, &mut y);
            reference::adaptive_max_pool2d(C, (H, W), (OH, OW), Tensor::as_flat(&x), &mut expected);
            assert_close(Tensor::as_flat(&y), &expected, stringify!(adaptive_max_pool2d $seed));
            // Every body gives the portable bits, also with NaN, infinities
            // and signed zeros in the input.
            let mut xs = x;
            let specials = [f32::NAN, -0.0, f32::INFINITY, 0.0, f32::NEG_INFINITY, -0.0];
            for (v, s) in Tensor::as_flat_mut(&mut xs).iter_mut().step_by(5).zip(specials.iter().cycle()) {
                *v = *s;
            }
            for input in [&x, &xs] {
                for max in [false, true] {
                    let mut want = [[[f32::NAN; OW]; OH]; C];
                    if max {
                        adaptive_max_portable(input, &mut want);
                    } else {
                        adaptive_avg_portable(input, &mut want);
                    }
                    for isa in every_isa() {
                        let mut got = [[[f32::NAN; OW]; OH]; C];
                        adaptive_with(isa, input, &mut got, max);
                        assert_eq!(bits(&got), bits(&want), "adaptive max={max} on {isa:?}, seed {}", $seed);
                    }
                }
            }
        }};
    }

    #[test]
    fn adaptive_pools_match_reference() {
        // Divisible.
        adaptive_case!(41; C=3 H=8 W=8 OH=4 OW=4);
        adaptive_case!(42; C=2 H=6 W=9 OH=2 OW=3);
        // Not divisible (overlapping bins).
        adaptive_case!(43; C=2 H=7 W=7 OH=3 OW=3);
        adaptive_case!(44; C=2 H=10 W=5 OH=4 OW=3);
        // Global.
        adaptive_case!(45; C=4 H=7 W=5 OH=1 OW=1);
        adaptive_case!(46; C=2 H=13 W=13 OH=1 OW=1);
        // Output larger than input.
        adaptive_case!(47; C=2 H=3 W=2 OH=5 OW=7);
        adaptive_case!(48; C=1 H=1 W=1 OH=2 OW=3);
        // Identity and mixed.
        adaptive_case!(49; C=2 H=5 W=6 OH=5 OW=6);
        adaptive_case!(50; C=2 H=4 W=9 OH=6 OW=2);
        // Channel counts around the vector widths; LeNet- and ResNet-sized
        // global pools.
        adaptive_case!(51; C=7 H=3 W=3 OH=1 OW=1);
        adaptive_case!(52; C=17 H=5 W=4 OH=2 OW=3);
        adaptive_case!(53; C=33 H=3 W=3 OH=1 OW=1);
        adaptive_case!(54; C=64 H=8 W=8 OH=1 OW=1);
        // DS-CNN's head (planes of 125 pixels: whole and partial blocks of
        // 16), and a partial group of 16 channels.
        adaptive_case!(57; C=64 H=25 W=5 OH=1 OW=1);
        adaptive_case!(58; C=20 H=6 W=6 OH=1 OW=1);
        adaptive_case!(55; C=9 H=1 W=2 OH=3 OW=1);
        adaptive_case!(56; C=20 H=1 W=1 OH=1 OW=1);
    }

    #[test]
    fn output_len_matches_pytorch() {
        // nn.MaxPool2d(3, 2, 1, ceil_mode=True) on 112 (ResNet stem): 56.
        assert_eq!(output_len(112, 3, 2, 1, 1, false), Some(56));
        assert_eq!(output_len(112, 3, 2, 1, 1, true), Some(57));
        // Rejections.
        assert_eq!(output_len(4, 3, 2, 2, 1, false), None);
        assert_eq!(output_len(2, 3, 1, 0, 1, false), None);
        assert_eq!(output_len(4, 0, 1, 0, 1, false), None);
        // Dilation widens the padding limit: (2·(3−1)+1)/2 = 2.
        assert_eq!(output_len(5, 3, 1, 2, 2, false), Some(5));
        // Kernel 3 on 2 inputs: no full window, but ceil mode keeps one.
        assert_eq!(output_len(2, 3, 2, 0, 1, true), Some(1));
        assert_eq!(output_len(2, 3, 2, 0, 1, false), None);
        assert_eq!(output_len(1, 3, 2, 0, 1, true), None);
    }
}
