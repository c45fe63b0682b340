//! 2-D convolution, `torch.nn.Conv2d` on one sample.
//!
//! One implementation serves every entry point. [`conv2d_fused`] is the
//! general one: any [`PaddingMode`] (the types [`Zeros`], [`Reflect`],
//! [`Replicate`], [`Circular`]), padding that may differ on each of the four
//! sides (`PT`, `PB`, `PL`, `PR`: Keras' "same" at stride 2, or a
//! `ZeroPad2d((0, 1, 0, 1))` folded into the convolution after it), and a
//! fused epilogue [`Post`] (batch norm, residual add, activation) applied as
//! the results are stored. [`conv2d`] (`padding_mode="zeros"`, the default),
//! [`conv2d_reflect`], [`conv2d_replicate`] and [`conv2d_circular`] are thin
//! wrappers over it with symmetric padding and [`Post::NONE`].
//!
//! # Algorithm
//!
//! On x86-64 CPUs with AVX-512F or AVX2 + FMA (detected at run time with the
//! `std` feature, chosen at compile time without it), every zero-padded
//! convolution runs an explicit-SIMD body, vectorised along the output
//! pixels with several output channels register-blocked, every weight
//! broadcast, and no allocation:
//!
//! - the *packed* body (`simd/conv/packed.rs`) takes any stride, padding
//!   (different on each side), dilation and groups: the input is repacked
//!   once per call, on the stack, into phase planes with the zero padding
//!   written out (even and odd rows and columns at stride 2), so that every
//!   weight tap reads a contiguous run — one plain load per vector and tap.
//!   Without padding at stride 1 (every 1×1 pointwise convolution, a GEMM)
//!   the input is read in place. Depthwise convolutions pack every channel
//!   at once and run each chunk of pixels for all of them;
//! - the *channel-blocked depthwise* body (`simd/conv/depthwise.rs`),
//!   tried first, takes depthwise convolutions of a multiple of 16 channels
//!   on planes of up to 1,024 padded pixels, vectorised across 16 (AVX2:
//!   8) channels instead of along the pixels (small planes fill few lanes
//!   and cost the packed body a masked store per output row); with
//!   AVX-512F only where the row-wise body (`simd/conv/rowwise.rs`) does
//!   not take the layer, rows of fewer than 12 columns, nor the
//!   row-stacked body, and with AVX2 wherever it applies;
//! - with AVX-512F, the *row-stacked depthwise* body
//!   (`simd/conv/stacked.rs`), tried first, takes stride-1 depthwise
//!   convolutions whose output rows are as wide as the input's and at most
//!   8 columns, on planes of at least two vectors (DS-CNN's 25×5,
//!   MobileNetV1's 6×6): each vector holds several whole rows of one
//!   channel, read straight from a zero-margined copy of the plane, so
//!   nothing is transposed;
//! - the *output-channel* body (`simd/conv/channels.rs`), tried next,
//!   takes ungrouped convolutions of a multiple of two vectors of output
//!   channels (32 with AVX-512F, at most 576 weights each; 16 with AVX2,
//!   at most 1,152), vectorised across them: runs of up to 12 (AVX2: 6)
//!   pixels of an output row, each input value broadcast to two weight
//!   vectors, so no lane is computed for nothing (the packed body's junk
//!   columns and plane tails); the weights are transposed once per call.
//!   It yields to the packed body's in-place GEMM, an unpadded 1×1
//!   convolution over a multiple of 16 pixels (with AVX-512F at stride 1
//!   only; `channels::profitable`);
//! - with AVX2, the *pointwise* body (`simd/conv/pointwise.rs`), tried
//!   before the output-channel and packed bodies, takes unpadded 1×1
//!   convolutions at stride 1 on planes of at least 64 pixels: the input
//!   read in place as a matrix, blocks of 6 output channels × 16 pixels,
//!   no store segments and no masks (the dot-product body,
//!   `simd/conv/dot.rs`, keeps the planes of at most 16 pixels);
//! - the *direct* body (`simd/conv/mod.rs`), horizontal stride 1 only,
//!   reads the input in place with one masked load per row segment (the
//!   padding is only a mask): the fallback for inputs whose packed band
//!   would not fit the packing buffer.
//!
//! Everything else (other targets, older CPUs, and the reflect, replicate
//! and circular padding modes) runs the portable direct
//! convolution, organised around *taps*. For every output channel the
//! output plane is first filled with the bias; then every weight tap
//! `(input channel, kh, kw)` is added, scaled by its weight, to every output
//! pixel it touches. For a tap the output pixels whose source lies inside the
//! real (unpadded) input form one contiguous rectangle, which is computed once
//! per tap (`tap_range`). Inside that rectangle the inner loop over output
//! columns has no padding test at all: with stride 1 it is a plain
//! `out[i] += w * in[i + offset]` over two contiguous slices, which LLVM
//! vectorises; with a larger stride it reads the input with a constant step.
//! Zero padding contributes nothing, so only the rectangle is visited; the
//! other padding modes visit the few border pixels outside it separately,
//! through an index map. Only the padding before the input (`PT`, `PL`)
//! shifts the indices; the padding after it (`PB`, `PR`) only sets the
//! output size.
//!
//! The loops are ordered input channel → kernel row → output row → kernel
//! column, so one input row and one output row stay in L1 while all `KW`
//! taps of a kernel row are applied to them.
//!
//! # The fused epilogue
//!
//! A ResNet block's `conv → BatchNorm2d → + identity → ReLU` is four passes
//! over the output unfused; with [`Post`] the three after the convolution
//! happen in registers, on the accumulators, just before they are stored
//! (portable path: in one more pass over each output plane right after it
//! is computed, while it is in L1). The operations and their order are
//! those of the unfused sequence `conv2d` → [`batch_norm2d`] →
//! [`merge::add`] → activation, so the fused result is the unfused one
//! **bit for bit** on the same instruction set:
//!
//! - the accumulators start at the convolution's bias as without a norm;
//!   the norm is `y = acc · alpha + beta` with [`batch_norm2d`]'s own
//!   per-channel `alpha = weight / sqrt(var + eps)` and
//!   `beta = bias − mean · alpha` (computed once per call: `O` square roots),
//!   a multiply and an add, not a fused multiply-add;
//! - then `+ residual`, then the [`PostAct`], each exactly as the standalone
//!   kernel computes it.
//!
//! Folding the conv bias into `beta` (`acc·alpha + (bias·alpha + beta)`, or
//! the whole norm into the weights at load time) would save nothing here —
//! the bias is the accumulators' initial value, free — and would change the
//! rounding.
//!
//! # Summation order
//!
//! Each output is `bias + Σ_c Σ_kh Σ_kw w·x`, accumulated in `f32`: in
//! exactly that order, one multiply and one add per term, on the portable
//! path; with one fused multiply-add per term on the SIMD paths, in that
//! order on the packed body and in the order `Σ_kh Σ_c Σ_kw` on the direct
//! one. So the SIMD and the portable results differ in the last
//! bits. PyTorch reaches the same sum through im2col + GEMM or oneDNN with a
//! different association, so results agree to rounding (a few ULP per
//! accumulated term), not bit for bit.
//!
//! # Compile-time checks
//!
//! Every geometry rule that PyTorch checks at run time is a `const` assertion
//! here, evaluated when the kernel is instantiated: a call whose sizes do not
//! fit fails to build with a message naming the rule.
//!
//! [`batch_norm2d`]: crate::norm::batch_norm2d
//! [`merge::add`]: crate::merge::add

#![allow(clippy::doc_markdown)] // "PyTorch" and "NaN" are names, not code.
#![deny(clippy::undocumented_unsafe_blocks)]
pub use crate::act::PostAct;
pub use crate::norm::Norm;
use crate::simd::{self, Isa};
use sealed::PadKind;

mod sealed {
    /// How the positions outside the input are filled, `padding_mode` in
    /// PyTorch.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum PadKind {
        /// Zeros (a constant, for [`crate::pad::pad2d`]): padded positions
        /// contribute nothing.
        Zeros,
        /// Mirror without repeating the edge: `[a b c]` pads to `c b [a b c] b a`.
        Reflect,
        /// Repeat the edge: `[a b c]` pads to `a a [a b c] c c`.
        Replicate,
        /// Wrap around: `[a b c]` pads to `b c [a b c] a b`.
        Circular,
    }

    /// The crate-private half of [`super::PaddingMode`]: outside this
    /// crate it can be neither named nor implemented.
    pub trait Sealed {
        /// The mode's kind.
        const KIND: PadKind;
    }
}

/// A padding mode, PyTorch's `padding_mode` as a type: [`Zeros`],
/// [`Reflect`], [`Replicate`] or [`Circular`], so that a kernel is
/// monomorphised per mode and the mode tests fold away.
///
/// The trait is sealed: these four types are its only implementations.
pub trait PaddingMode: sealed::Sealed + Copy + core::fmt::Debug + Default {}

/// `padding_mode="zeros"`: padded positions are zero (for
/// [`crate::pad::pad2d`], the constant it is given).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Zeros;
/// `padding_mode="reflect"`: `[a b c]` pads to `c b [a b c] b a` (each pad
/// smaller than the input).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reflect;
/// `padding_mode="replicate"`: `[a b c]` pads to `a a [a b c] c c`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replicate;
/// `padding_mode="circular"`: `[a b c]` pads to `b c [a b c] a b` (each pad
/// at most the input size).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Circular;

impl sealed::Sealed for Zeros {
    const KIND: PadKind = PadKind::Zeros;
}
impl sealed::Sealed for Reflect {
    const KIND: PadKind = PadKind::Reflect;
}
impl sealed::Sealed for Replicate {
    const KIND: PadKind = PadKind::Replicate;
}
impl sealed::Sealed for Circular {
    const KIND: PadKind = PadKind::Circular;
}
impl PaddingMode for Zeros {}
impl PaddingMode for Reflect {}
impl PaddingMode for Replicate {}
impl PaddingMode for Circular {}

/// The kind of the padding mode `P`.
#[inline(always)]
pub(crate) const fn kind<P: PaddingMode>() -> PadKind {
    <P as sealed::Sealed>::KIND
}

/// Whether padding `(before, after)` around an axis of `len` is allowed in
/// mode `P`: reflect needs each pad `< len` and circular `<= len`
/// (PyTorch's rules; one reflection or wrap then suffices), the others take
/// any.
pub(crate) const fn padding_fits<P: PaddingMode>(before: usize, after: usize, len: usize) -> bool {
    match kind::<P>() {
        PadKind::Reflect => before < len && after < len,
        PadKind::Circular => before <= len && after <= len,
        PadKind::Zeros | PadKind::Replicate => true,
    }
}

/// Maps a position of the padded axis (`0..pad + len + pad_after`) to the
/// input position it reads, or `None` for a zero. `pad` is the padding
/// before the input; the padding after it does not enter.
///
/// Reflect assumes each pad `< len` and circular `<= len`, which the kernels
/// assert at compile time ([`padding_fits`]), so one reflection or wrap is
/// enough.
#[inline]
pub(crate) fn source_index(kind: PadKind, padded: usize, pad: usize, len: usize) -> Option<usize> {
    if let Some(i) = padded.checked_sub(pad) {
        if i < len {
            return Some(i);
        }
        // Right border: `i - len + 1` positions past the last element.
        let past = i - len + 1;
        return match kind {
            PadKind::Zeros => None,
            PadKind::Reflect => (len - 1).checked_sub(past),
            PadKind::Replicate => len.checked_sub(1),
            PadKind::Circular => Some(i - len).filter(|&j| j < len),
        };
    }
    // Left border: `before` positions before the first element.
    let before = pad - padded;
    match kind {
        PadKind::Zeros => None,
        PadKind::Reflect => Some(before).filter(|&j| j < len),
        PadKind::Replicate => (len > 0).then_some(0),
        PadKind::Circular => len.checked_sub(before),
    }
}

/// The outputs `lo..hi` of one axis whose source position
/// `i * stride + offset - pad` lies inside the input `0..len`, clamped to
/// `0..out`; `lo <= hi` always (an empty range has `lo == hi`).
///
/// `offset` is the tap's position within the dilated window (`k * dilation`)
/// and `pad` the padding before the input. Outputs before `lo` and from
/// `hi` on read padding. Used by the pooling kernels too.
#[inline]
#[must_use]
pub(crate) const fn tap_range(
    offset: usize,
    pad: usize,
    len: usize,
    stride: usize,
    out: usize,
) -> (usize, usize) {
    // First output whose source is at or past the left edge.
    let lo = if offset >= pad {
        0
    } else {
        (pad - offset).div_ceil(stride)
    };
    // One past the last output whose source is before the right edge.
    let end = len + pad;
    let hi = if offset >= end {
        0
    } else {
        (end - offset - 1) / stride + 1
    };
    let lo = if lo < out { lo } else { out };
    let hi = if hi < out { hi } else { out };
    let hi = if hi < lo { lo } else { hi };
    (lo, hi)
}

/// The output length of a convolution along one axis, PyTorch's
/// `(len + 2·padding − dilation·(kernel − 1) − 1) / stride + 1`, or `None`
/// if a parameter is zero or the dilated kernel does not fit in the padded
/// input.
///
/// ```
/// use constnet_runtime::conv::output_len;
/// assert_eq!(output_len(32, 5, 1, 0, 1), Some(28));
/// assert_eq!(output_len(7, 3, 2, 1, 1), Some(4));
/// assert_eq!(output_len(2, 5, 1, 0, 1), None);
/// ```
#[must_use]
pub const fn output_len(
    len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Option<usize> {
    output_len_padded(len, kernel, stride, padding, padding, dilation)
}

/// [`output_len`] with different padding before and after the input:
/// `(len + pad_before + pad_after − dilation·(kernel − 1) − 1) / stride + 1`,
/// the size [`conv2d_fused`] requires.
///
/// ```
/// use constnet_runtime::conv::output_len_padded;
/// // Keras "same" at stride 2 on 32: pad 0 before, 1 after, 3x3 → 16.
/// assert_eq!(output_len_padded(32, 3, 2, 0, 1, 1), Some(16));
/// ```
#[must_use]
pub const fn output_len_padded(
    len: usize,
    kernel: usize,
    stride: usize,
    pad_before: usize,
    pad_after: usize,
    dilation: usize,
) -> Option<usize> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let span = dilation * (kernel - 1) + 1;
    let padded = len + pad_before + pad_after;
    if padded < span {
        return None;
    }
    Some((padded - span) / stride + 1)
}

/// What a convolution does to its results as it stores them, in this order:
/// `out = act(conv(x) · alpha + beta + residual)`, each step optional. See
/// the [module docs](self#the-fused-epilogue): the result is that of the
/// unfused sequence conv → [`batch_norm2d`](crate::norm::batch_norm2d) →
/// [`merge::add`](crate::merge::add) → activation, bit for bit.
///
/// ```
/// use constnet_runtime::conv::{conv2d_fused, Norm, Post, PostAct, Zeros};
/// // A 1x1 convolution (weight 2, bias 1) → BN (mean 1, var 3 + eps 1, so
/// // std 2; weight 3, bias 0.5) → + residual → ReLU:
/// // relu(((2x + 1) − 1) / 2 · 3 + 0.5 + r) = relu(3x + 0.5 + r).
/// let x = [[[1.0, -1.0]]];
/// let w = [[[[2.0]]]];
/// let r = [[[0.5, 1.0]]];
/// let post = Post {
///     norm: Some(Norm {
///         weight: Some(&[3.0]),
///         bias: Some(&[0.5]),
///         running_mean: &[1.0],
///         running_var: &[3.0],
///         eps: 1.0,
///     }),
///     residual: Some(&r),
///     act: PostAct::Relu,
/// };
/// let mut y = [[[0.0f32; 2]; 1]; 1];
/// conv2d_fused::<Zeros, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2>(
///     &x, &w, Some(&[1.0]), &post, &mut y,
/// );
/// assert_eq!(y, [[[4.0, 0.0]]]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Post<'a, const O: usize, const OH: usize, const OW: usize> {
    /// A `BatchNorm2d` in eval mode after the convolution, applied in the
    /// store: `y = acc · alpha[o] + beta[o]`.
    pub norm: Option<Norm<'a, O>>,
    /// Added after the norm: `out = conv(x) (· alpha + beta) + residual`, a
    /// residual connection. A separate buffer (it may be the convolution's
    /// input).
    pub residual: Option<&'a [[[f32; OW]; OH]; O]>,
    /// Applied last, in the store.
    pub act: PostAct,
}

impl<const O: usize, const OH: usize, const OW: usize> Post<'_, O, OH, OW> {
    /// Nothing: the plain convolution.
    pub const NONE: Self = Post {
        norm: None,
        residual: None,
        act: PostAct::None,
    };

    /// Whether the epilogue does nothing.
    #[inline]
    pub(crate) fn is_none(&self) -> bool {
        self.norm.is_none() && self.residual.is_none() && self.act == PostAct::None
    }
}

/// Applies an epilogue to one finished output plane (the portable path):
/// `plane · alpha + beta` if `norm`, `+ residual`, then `act`, one pass
/// each over the plane while it is in L1, each a loop LLVM vectorises.
#[inline]
pub(crate) fn epilogue_plane(
    plane: &mut [f32],
    norm: Option<(f32, f32)>,
    residual: Option<&[f32]>,
    act: PostAct,
) {
    if let Some((alpha, beta)) = norm {
        for v in plane.iter_mut() {
            *v = *v * alpha + beta;
        }
    }
    if let Some(residual) = residual {
        for (v, &r) in plane.iter_mut().zip(residual) {
            *v += r;
        }
    }
    act.apply_all(plane);
}

/// Adds `w · input[i·SW + offset − PL]` to `out[i]` for every output column,
/// the interior `lo..hi` with a branch-free (for `SW == 1`, contiguous) loop
/// and, for the non-zero padding modes, the border columns through
/// [`source_index`].
#[inline]
fn accumulate_row<
    P: PaddingMode,
    const SW: usize,
    const PL: usize,
    const W: usize,
    const OW: usize,
>(
    out: &mut [f32; OW],
    input: &[f32; W],
    w: f32,
    offset: usize,
    (lo, hi): (usize, usize),
) {
    if lo < hi {
        // `lo < hi` means output `lo` reads inside the input, so the
        // subtraction cannot wrap and `start < W`.
        let start = lo * SW + offset - PL;
        if let (Some(dst), Some(src)) = (out.get_mut(lo..hi), input.get(start..)) {
            if SW == 1 {
                for (o, &x) in dst.iter_mut().zip(src) {
                    *o += w * x;
                }
            } else {
                for (o, &x) in dst.iter_mut().zip(src.iter().step_by(SW)) {
                    *o += w * x;
                }
            }
        }
    }
    if kind::<P>() != PadKind::Zeros {
        let (left, rest) = out.split_at_mut(lo);
        let right = rest.get_mut(hi - lo..).unwrap_or_default();
        let border = left
            .iter_mut()
            .enumerate()
            .chain(right.iter_mut().enumerate().map(|(i, o)| (i + hi, o)));
        for (ow, o) in border {
            if let Some(&x) =
                source_index(kind::<P>(), ow * SW + offset, PL, W).and_then(|i| input.get(i))
            {
                *o += w * x;
            }
        }
    }
}

/// Which body [`conv2d_with`] runs for a zero-padded convolution on a CPU
/// with the instruction set asked for; any other case runs
/// [`conv2d_portable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// The fastest: the row-wise or the channel-blocked depthwise body or
    /// the output-channel body where it applies and pays, else the packed SIMD body where its
    /// buffer holds a band of the packed input (every layer of the zoo),
    /// else the direct one at horizontal stride 1, each where it beats the
    /// portable loops (`simd::conv::packed::profitable`,
    /// `simd::conv::profitable`).
    Auto,
    /// As `Auto`, a SIMD body even where the portable one is as fast: the
    /// tests of the SIMD bodies.
    #[cfg_attr(not(test), allow(dead_code))]
    Simd,
    /// The direct SIMD body (`simd/conv/mod.rs`) where it applies.
    #[cfg_attr(not(test), allow(dead_code))]
    Direct,
    /// The packed SIMD body (`simd/conv/packed.rs`) where it applies.
    #[cfg_attr(not(test), allow(dead_code))]
    Packed,
    /// The channel-blocked depthwise body (`simd/conv/depthwise.rs`) where
    /// it applies.
    #[cfg_attr(not(test), allow(dead_code))]
    Depthwise,
    /// The output-channel body (`simd/conv/channels.rs`) where it applies.
    #[cfg_attr(not(test), allow(dead_code))]
    Channels,
    /// The row-wise depthwise body (`simd/conv/rowwise.rs`) where it
    /// applies.
    #[cfg_attr(not(test), allow(dead_code))]
    Rowwise,
    /// The row-stacked depthwise body (`simd/conv/stacked.rs`) where it
    /// applies.
    #[cfg_attr(not(test), allow(dead_code))]
    Stacked,
    /// The Winograd body (`simd/conv/winograd.rs`) where it applies.
    #[cfg_attr(not(test), allow(dead_code))]
    Winograd,
    /// The dot-product body (`simd/conv/dot.rs`) where it applies.
    #[cfg_attr(not(test), allow(dead_code))]
    Dot,
    /// The pointwise body (`simd/conv/pointwise.rs`) where it applies.
    #[cfg_attr(not(test), allow(dead_code))]
    Pointwise,
}

impl Body {
    /// Whether this choice runs the body `own` where it applies: always if
    /// it names `own`, under `Auto` where `auto` (the body's rule of where
    /// it pays), under `Simd` where `simd` (`true` for every body but the
    /// dot-product one, which keeps `Auto`'s rule so that the pointwise
    /// cases of the other bodies' tests still reach those bodies). Only the
    /// x86-64 dispatch asks.
    #[cfg(target_arch = "x86_64")]
    fn selects(self, own: Body, auto: bool, simd: bool) -> bool {
        match self {
            Body::Auto => auto,
            Body::Simd => simd,
            chosen => chosen == own,
        }
    }
}

/// The shared implementation: checks the geometry at compile time, then runs
/// the SIMD body that `body` picks for `isa` where it applies (zero
/// padding, the CPU has the feature, the geometry suits the body) and
/// [`conv2d_portable`] otherwise.
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
#[inline]
fn conv2d_with<
    P: PaddingMode,
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
    body: Body,
    input: &[[[f32; W]; H]; C],
    weight: &[[[[f32; KW]; KH]; CG]; O],
    bias: Option<&[f32; O]>,
    post: &Post<'_, O, OH, OW>,
    output: &mut [[[f32; OW]; OH]; O],
) {
    const {
        assert!(SH > 0 && SW > 0, "conv2d: stride must be positive");
        assert!(DH > 0 && DW > 0, "conv2d: dilation must be positive");
        assert!(KH > 0 && KW > 0, "conv2d: kernel size must be positive");
        assert!(G > 0, "conv2d: groups must be positive");
        assert!(
            CG > 0 && C == CG * G,
            "conv2d: in_channels must equal groups * (weight in_channels per group), C == CG * G"
        );
        assert!(
            O > 0 && O.is_multiple_of(G),
            "conv2d: out_channels must be a positive multiple of groups"
        );
        assert!(
            H > 0 && W > 0,
            "conv2d: input height and width must be positive"
        );
        assert!(
            H + PT + PB > DH * (KH - 1),
            "conv2d: the dilated kernel is taller than the padded input"
        );
        assert!(
            W + PL + PR > DW * (KW - 1),
            "conv2d: the dilated kernel is wider than the padded input"
        );
        assert!(
            OH == (H + PT + PB - DH * (KH - 1) - 1) / SH + 1,
            "conv2d: OH must equal (H + PT + PB - DH*(KH-1) - 1) / SH + 1 (PT = PB = PH for symmetric padding)"
        );
        assert!(
            OW == (W + PL + PR - DW * (KW - 1) - 1) / SW + 1,
            "conv2d: OW must equal (W + PL + PR - DW*(KW-1) - 1) / SW + 1 (PL = PR = PW for symmetric padding)"
        );
        assert!(
            !matches!(kind::<P>(), PadKind::Reflect)
                || (padding_fits::<P>(PT, PB, H) && padding_fits::<P>(PL, PR, W)),
            "conv2d_reflect: padding must be smaller than the input size (PT, PB < H; PL, PR < W)"
        );
        assert!(
            !matches!(kind::<P>(), PadKind::Circular)
                || (padding_fits::<P>(PT, PB, H) && padding_fits::<P>(PL, PR, W)),
            "conv2d_circular: padding must not exceed the input size (PT, PB <= H; PL, PR <= W)"
        );
    };

    #[cfg(target_arch = "x86_64")]
    if kind::<P>() == PadKind::Zeros {
        use simd::conv::{channels, depthwise, dot, packed, pointwise, rowwise, stacked, winograd};
        if isa == Isa::Avx512
            && const {
                stacked::applies(
                    (G, C, CG, O),
                    (SH, SW, DW),
                    (W, OH, OW),
                    (KH, KW, DH, PT, PL),
                )
            }
            && body.selects(Body::Stacked, const { stacked::profitable(OH, OW) }, true)
            && simd::has_avx512()
        {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe {
                stacked::avx512::conv2d::<PT, PL, DH, C, H, W, O, CG, KH, KW, OH, OW>(
                    input, weight, bias, post, output,
                );
            }
            return;
        }
        let blocked =
            const { depthwise::applies((G, C, CG, O), (KH, KW), (H + PT + PB, W + PL + PR)) };
        let use_rowwise = const { rowwise::applies((G, C, CG, O), (SW, DW), KW) }
            && body.selects(
                Body::Rowwise,
                rowwise::profitable(isa == Isa::Avx2, OW, blocked),
                true,
            );
        if isa == Isa::Avx512 && use_rowwise && simd::has_avx512() {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe {
                rowwise::avx512::conv2d::<SH, SW, PT, PL, DH, C, H, W, O, CG, KH, KW, OH, OW>(
                    input, weight, bias, post, output,
                );
            }
            return;
        }
        if isa == Isa::Avx2 && use_rowwise && simd::has_avx2_fma() {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe {
                rowwise::avx2::conv2d::<SH, SW, PT, PL, DH, C, H, W, O, CG, KH, KW, OH, OW>(
                    input, weight, bias, post, output,
                );
            }
            return;
        }
        let use_depthwise = blocked && body.selects(Body::Depthwise, depthwise::profitable(), true);
        if isa == Isa::Avx512 && use_depthwise && simd::has_avx512() {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe {
                depthwise::avx512::conv2d::<
                    SH,
                    SW,
                    PT,
                    PB,
                    PL,
                    PR,
                    DH,
                    DW,
                    C,
                    H,
                    W,
                    O,
                    CG,
                    KH,
                    KW,
                    OH,
                    OW,
                >(input, weight, bias, post, output);
            }
            return;
        }
        if isa == Isa::Avx2 && use_depthwise && simd::has_avx2_fma() {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe {
                depthwise::avx2::conv2d::<
                    SH,
                    SW,
                    PT,
                    PB,
                    PL,
                    PR,
                    DH,
                    DW,
                    C,
                    H,
                    W,
                    O,
                    CG,
                    KH,
                    KW,
                    OH,
                    OW,
                >(input, weight, bias, post, output);
            }
            return;
        }
        // Stride-1 3×3 layers of 16 channels and more as F(2×2, 3×3), 2.25×
        // fewer multiplies: with AVX-512F where the tiles make several bands,
        // with AVX2 all of them.
        if isa == Isa::Avx512
            && const { winograd::avx512::applies((G, C, O), (KH, KW), (SH, SW), (DH, DW), (OH, OW)) }
            && body.selects(
                Body::Winograd,
                const { winograd::avx512::profitable(C, O, (OH, OW)) },
                true,
            )
            && simd::has_avx512()
            && simd::has_avx2_fma()
        {
            // SAFETY: the guard just checked that the CPU has AVX-512F, AVX2
            // and FMA, the features this body is compiled with.
            unsafe {
                winograd::avx512::conv2d::<PT, PL, C, H, W, O, CG, KH, KW, OH, OW>(
                    input, weight, bias, post, output,
                );
            }
            return;
        }
        let use_winograd = const { winograd::applies((G, C, O), (KH, KW), (SH, SW), (DH, DW), (OH, OW)) }
            && body.selects(Body::Winograd, const { winograd::profitable(C, O) }, true);
        if isa == Isa::Avx2 && use_winograd && simd::has_avx2_fma() {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe {
                winograd::avx2::conv2d::<PT, PL, C, H, W, O, CG, KH, KW, OH, OW>(
                    input, weight, bias, post, output,
                );
            }
            return;
        }
        // 1×1 layers on small planes as dot products along the channels,
        // the weights read as stored.
        let use_dot = const {
            dot::applies(
                (G, C, O),
                (KH, KW),
                (SH, SW),
                PT + PB + PL + PR > 0,
                (OH, OW),
            )
        } && {
            let pays = const { dot::profitable((OH, OW)) };
            body.selects(Body::Dot, pays, pays)
        };
        if isa == Isa::Avx512
            && use_dot
            && const { dot::avx512::applies(C, O) }
            && simd::has_avx512()
        {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // feature this body is compiled with.
            unsafe {
                dot::avx512::conv2d::<C, H, W, O, CG, KH, KW, OH, OW>(
                    input, weight, bias, post, output,
                );
            }
            return;
        }
        if isa == Isa::Avx2 && use_dot && simd::has_avx2_fma() {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe {
                dot::avx2::conv2d::<C, H, W, O, CG, KH, KW, OH, OW>(
                    input, weight, bias, post, output,
                );
            }
            return;
        }
        let use_pointwise =
            const { pointwise::applies(G, (KH, KW), (SH, SW), PT + PB + PL + PR > 0, (OH, OW)) }
                && {
                    let pays = const { pointwise::profitable((OH, OW)) };
                    body.selects(Body::Pointwise, pays, pays)
                };
        if isa == Isa::Avx2 && use_pointwise && simd::has_avx2_fma() {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe {
                pointwise::avx2::conv2d::<C, H, W, O, CG, KH, KW, OH, OW>(
                    input, weight, bias, post, output,
                );
            }
            return;
        }
        let use_channels = body.selects(
            Body::Channels,
            channels::profitable(
                isa == Isa::Avx2,
                (KH, KW),
                (SH, SW),
                PT + PB + PL + PR > 0,
                (OH, OW),
            ),
            true,
        );
        // With AVX-512F: blocks of two vectors, or of one where the
        // channels are not a multiple of 32 (by default only where it pays).
        let vectors = const {
            channels::avx512::vectors(
                (G, C, CG, O),
                (KH, KW),
                (SH, SW),
                (PT + PB + PL + PR > 0, H + PT + PB, W + PL + PR),
                (OH, OW),
            )
        };
        let two = vectors == 2;
        let one = vectors == 1
            && (body != Body::Auto || const { channels::one_vector_pays(KW, SW, DW, OW) });
        if isa == Isa::Avx512 && (two || one) && use_channels && simd::has_avx512() {
            macro_rules! blocks_of {
                ($v:literal) => {
                    channels::avx512::conv2d::<
                        $v,
                        SH,
                        SW,
                        PT,
                        PB,
                        PL,
                        PR,
                        DH,
                        DW,
                        C,
                        H,
                        W,
                        O,
                        CG,
                        KH,
                        KW,
                        OH,
                        OW,
                    >(input, weight, bias, post, output)
                };
            }
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe {
                if two {
                    blocks_of!(2);
                } else {
                    blocks_of!(1);
                }
            }
            return;
        }
        if isa == Isa::Avx2
            && const {
                channels::applies(
                    channels::avx2::OB,
                    (G, C, CG, O),
                    (KH, KW),
                    (SH, SW),
                    (PT + PB + PL + PR > 0, H + PT + PB, W + PL + PR),
                    (OH, OW),
                )
            }
            && use_channels
            && simd::has_avx2_fma()
        {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe {
                channels::avx2::conv2d::<
                    SH,
                    SW,
                    PT,
                    PB,
                    PL,
                    PR,
                    DH,
                    DW,
                    C,
                    H,
                    W,
                    O,
                    CG,
                    KH,
                    KW,
                    OH,
                    OW,
                >(input, weight, bias, post, output);
            }
            return;
        }
        let packed_fits = const {
            packed::Layout::new(
                (SH, SW),
                (PT, PB, PL, PR),
                (DH, DW),
                (G, C, CG, O),
                (H, W),
                (KH, KW),
                (OH, OW),
            )
            .fits
        };
        let use_packed =
            packed_fits && body.selects(Body::Packed, packed::profitable(O / G, CG, KH * KW), true);
        let use_direct = !use_packed
            && simd::conv::supported(SW)
            && body.selects(
                Body::Direct,
                simd::conv::profitable(O / G, CG, PL + PR),
                true,
            );
        match isa {
            Isa::Avx512 if use_packed && simd::has_avx512() => {
                // SAFETY: the guard just checked that the CPU has AVX-512F,
                // the one feature this body is compiled with.
                unsafe {
                    packed::avx512::conv2d::<
                        SH,
                        SW,
                        PT,
                        PB,
                        PL,
                        PR,
                        DH,
                        DW,
                        G,
                        C,
                        H,
                        W,
                        O,
                        CG,
                        KH,
                        KW,
                        OH,
                        OW,
                    >(input, weight, bias, post, output);
                }
                return;
            }
            Isa::Avx2 if use_packed && simd::has_avx2_fma() => {
                // SAFETY: the guard just checked that the CPU has AVX2 and
                // FMA, the features this body is compiled with.
                unsafe {
                    packed::avx2::conv2d::<
                        SH,
                        SW,
                        PT,
                        PB,
                        PL,
                        PR,
                        DH,
                        DW,
                        G,
                        C,
                        H,
                        W,
                        O,
                        CG,
                        KH,
                        KW,
                        OH,
                        OW,
                    >(input, weight, bias, post, output);
                }
                return;
            }
            Isa::Avx512 if use_direct && simd::has_avx512() => {
                // SAFETY: the guard just checked that the CPU has AVX-512F,
                // the one feature this body is compiled with.
                unsafe {
                    simd::conv::avx512::conv2d::<
                        SH,
                        PT,
                        PB,
                        PL,
                        PR,
                        DH,
                        DW,
                        G,
                        C,
                        H,
                        W,
                        O,
                        CG,
                        KH,
                        KW,
                        OH,
                        OW,
                    >(input, weight, bias, post, output);
                }
                return;
            }
            Isa::Avx2 if use_direct && simd::has_avx2_fma() => {
                // SAFETY: the guard just checked that the CPU has AVX2 and
                // FMA, the features this body is compiled with.
                unsafe {
                    simd::conv::avx2::conv2d::<
                        SH,
                        PT,
                        PB,
                        PL,
                        PR,
                        DH,
                        DW,
                        G,
                        C,
                        H,
                        W,
                        O,
                        CG,
                        KH,
                        KW,
                        OH,
                        OW,
                    >(input, weight, bias, post, output);
                }
                return;
            }
            _ => {}
        }
    }
    // Only the x86-64 SIMD dispatch above reads them.
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (isa, body);
    conv2d_portable::<P, SH, SW, PT, PL, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
        input, weight, bias, post, output,
    );
}

/// The portable kernel, every padding mode and geometry; see the module
/// documentation. Only the padding before the input (`PT`, `PL`) enters:
/// the padding after it is implied by the output size.
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
fn conv2d_portable<
    P: PaddingMode,
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
    input: &[[[f32; W]; H]; C],
    weight: &[[[[f32; KW]; KH]; CG]; O],
    bias: Option<&[f32; O]>,
    post: &Post<'_, O, OH, OW>,
    output: &mut [[[f32; OW]; OH]; O],
) {
    let rows: [(usize, usize); KH] = core::array::from_fn(|kh| tap_range(kh * DH, PT, H, SH, OH));
    let cols: [(usize, usize); KW] = core::array::from_fn(|kw| tap_range(kw * DW, PL, W, SW, OW));
    let per_group = O / G;
    let mut biases = bias.into_iter().flatten();
    let fused = !post.is_none();
    let mut norms = post.norm.as_ref().map(Norm::coefficients);
    let mut residuals = post.residual.map(|r| r.iter());

    let groups = input
        .chunks_exact(CG)
        .zip(weight.chunks_exact(per_group))
        .zip(output.chunks_exact_mut(per_group));
    for ((in_group, w_group), out_group) in groups {
        for (w_o, out_plane) in w_group.iter().zip(out_group) {
            let b = biases.next().copied().unwrap_or(0.0);
            for row in out_plane.iter_mut() {
                row.fill(b);
            }
            for (w_c, in_plane) in w_o.iter().zip(in_group) {
                for ((kh, w_row), &(r_lo, r_hi)) in w_c.iter().enumerate().zip(&rows) {
                    // Zero padding only needs the rows that read the input.
                    let (first, last) = if kind::<P>() == PadKind::Zeros {
                        (r_lo, r_hi)
                    } else {
                        (0, OH)
                    };
                    let out_rows = out_plane.get_mut(first..last).unwrap_or_default();
                    for (oh, out_row) in (first..).zip(out_rows) {
                        let Some(in_row) = source_index(kind::<P>(), oh * SH + kh * DH, PT, H)
                            .and_then(|ih| in_plane.get(ih))
                        else {
                            continue;
                        };
                        for ((kw, &w), &range) in w_row.iter().enumerate().zip(&cols) {
                            accumulate_row::<P, SW, PL, W, OW>(out_row, in_row, w, kw * DW, range);
                        }
                    }
                }
            }
            if fused {
                let norm = norms.as_mut().and_then(Iterator::next);
                let residual = residuals.as_mut().and_then(Iterator::next);
                epilogue_plane(
                    out_plane.as_flattened_mut(),
                    norm,
                    residual.map(|r| r.as_flattened()),
                    post.act,
                );
            }
        }
    }
}

/// `torch.nn.Conv2d` with any padding mode, padding that may differ on each
/// side, and a fused epilogue: the general entry point, which the macro
/// calls for a convolution (or a pad layer folded into the convolution
/// after it) followed by a `BatchNorm2d`, a residual add and/or a cheap
/// activation.
///
/// `P` is the padding mode ([`Zeros`], [`Reflect`], [`Replicate`],
/// [`Circular`]); the input is padded by `PT` rows on top, `PB` at the
/// bottom, `PL` columns on the left and `PR` on the right — as
/// `F.pad(x, (PL, PR, PT, PB), mode)` followed by an unpadded convolution.
/// `post` is applied as the results are stored; see [`Post`] and the
/// [module docs](self#the-fused-epilogue). The rest is as [`conv2d`]: weight
/// layout `[O, C/G, KH, KW]`, groups, dilation; `output` is fully
/// overwritten.
///
/// Checked at compile time, besides [`conv2d`]'s rules:
/// `OH == (H + PT + PB − DH·(KH−1) − 1) / SH + 1` (likewise `OW` with `PL`,
/// `PR`); for [`Reflect`] each pad smaller than the input size
/// (`PT, PB < H`, `PL, PR < W`), for [`Circular`] at most the input size.
///
/// ```
/// use constnet_runtime::conv::{conv2d_fused, Post, Zeros};
/// // Keras "same" at stride 2: no padding before, 1 row/column after. A
/// // 2x2 kernel of ones over 3x3: windows at rows and columns 0 and 2, the
/// // last ones half in the padding.
/// let x = [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]];
/// let w = [[[[1.0, 1.0], [1.0, 1.0]]]];
/// let mut y = [[[0.0f32; 2]; 2]; 1];
/// conv2d_fused::<Zeros, 2, 2, 0, 1, 0, 1, 1, 1, 1, 1, 3, 3, 1, 1, 2, 2, 2, 2>(
///     &x, &w, None, &Post::NONE, &mut y,
/// );
/// assert_eq!(y, [[[12.0, 9.0], [15.0, 9.0]]]);
/// ```
///
/// Reflect padding as large as the input fails to build:
///
/// ```compile_fail
/// use constnet_runtime::conv::{conv2d_fused, Post, Reflect};
/// let x = [[[0.0f32; 2]; 2]; 1];
/// let w = [[[[0.0f32; 1]; 1]; 1]; 1];
/// let mut y = [[[0.0f32; 2]; 4]; 1];
/// conv2d_fused::<Reflect, 1, 1, 2, 0, 0, 0, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 4, 2>(
///     &x, &w, None, &Post::NONE, &mut y,
/// );
/// ```
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
#[inline]
pub fn conv2d_fused<
    P: PaddingMode,
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
    input: &[[[f32; W]; H]; C],
    weight: &[[[[f32; KW]; KH]; CG]; O],
    bias: Option<&[f32; O]>,
    post: &Post<'_, O, OH, OW>,
    output: &mut [[[f32; OW]; OH]; O],
) {
    conv2d_with::<P, SH, SW, PT, PB, PL, PR, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
        simd::best(),
        Body::Auto,
        input,
        weight,
        bias,
        post,
        output,
    );
}

/// Declares one public symmetric convolution entry point over
/// [`conv2d_with`]: `PT = PB = PH`, `PL = PR = PW`, no epilogue.
macro_rules! conv2d_entry {
    ($(#[$doc:meta])* $name:ident, $mode:ty) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
        #[inline]
        pub fn $name<
            const SH: usize,
            const SW: usize,
            const PH: usize,
            const PW: usize,
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
            input: &[[[f32; W]; H]; C],
            weight: &[[[[f32; KW]; KH]; CG]; O],
            bias: Option<&[f32; O]>,
            output: &mut [[[f32; OW]; OH]; O],
        ) {
            conv2d_with::<$mode, SH, SW, PH, PH, PW, PW, DH, DW, G, C, H, W, O, CG, KH, KW, OH, OW>(
                simd::best(),
                Body::Auto,
                input,
                weight,
                bias,
                &Post::NONE,
                output,
            );
        }
    };
}

conv2d_entry! {
    /// `torch.nn.Conv2d(C, O, (KH, KW), stride=(SH, SW), padding=(PH, PW),
    /// dilation=(DH, DW), groups=G, bias=bias.is_some())` with the default
    /// `padding_mode="zeros"`, on one `[C, H, W]` sample.
    ///
    /// `weight` has PyTorch's layout `[O, C/G, KH, KW]` (`CG = C / G`);
    /// output channel `o` belongs to group `g = o / (O/G)` and reads input
    /// channels `g·CG .. (g+1)·CG`. `output` is fully overwritten.
    ///
    /// The sizes must satisfy PyTorch's rules, checked at compile time:
    /// every stride, dilation, kernel size and `G` positive, `C == CG·G`,
    /// `O % G == 0`, the dilated kernel no larger than the padded input, and
    /// `OH == (H + 2·PH − DH·(KH−1) − 1) / SH + 1` (likewise `OW`).
    ///
    /// Direct convolution with the padding resolved once per weight tap, so
    /// the inner loop is branch-free; see the [module docs](self).
    ///
    /// ```
    /// use constnet_runtime::conv::conv2d;
    /// // A 3x3 input, a 2x2 kernel summing its window, bias 0.5.
    /// let x = [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]];
    /// let w = [[[[1.0, 1.0], [1.0, 1.0]]]];
    /// let mut y = [[[0.0f32; 2]; 2]; 1];
    /// conv2d::<1, 1, 0, 0, 1, 1, 1, 1, 3, 3, 1, 1, 2, 2, 2, 2>(&x, &w, Some(&[0.5]), &mut y);
    /// assert_eq!(y, [[[12.5, 16.5], [24.5, 28.5]]]);
    /// ```
    ///
    /// Sizes that do not follow from each other fail to build (at `cargo
    /// build`, after monomorphisation; `network!` reports such mistakes
    /// earlier and with better messages): a 5x5 kernel over 32x32 gives
    /// 28x28, not 30x30.
    ///
    /// ```compile_fail
    /// use constnet_runtime::conv::conv2d;
    /// let x = [[[0.0f32; 32]; 32]; 1];
    /// let w = [[[[0.0f32; 5]; 5]; 1]; 6];
    /// let mut y = [[[0.0f32; 30]; 30]; 6];
    /// conv2d::<1, 1, 0, 0, 1, 1, 1, 1, 32, 32, 6, 1, 5, 5, 30, 30>(&x, &w, None, &mut y);
    /// ```
    conv2d, Zeros
}

conv2d_entry! {
    /// [`conv2d`] with `padding_mode="reflect"`: the input is mirrored at its
    /// border without repeating the edge (`[a b c]` → `c b [a b c] b a`), as
    /// `F.pad(x, mode="reflect")` followed by an unpadded convolution.
    ///
    /// Besides [`conv2d`]'s rules, PyTorch requires `PH < H` and `PW < W`;
    /// checked at compile time.
    conv2d_reflect, Reflect
}

conv2d_entry! {
    /// [`conv2d`] with `padding_mode="replicate"`: the padding repeats the
    /// edge value (`[a b c]` → `a a [a b c] c c`).
    conv2d_replicate, Replicate
}

conv2d_entry! {
    /// [`conv2d`] with `padding_mode="circular"`: the input wraps around
    /// (`[a b c]` → `b c [a b c] a b`).
    ///
    /// Besides [`conv2d`]'s rules, PyTorch requires `PH <= H` and `PW <= W`;
    /// checked at compile time.
    conv2d_circular, Circular
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
    use crate::reference::test_util::{self, assert_close, Rng};
    use crate::reference::{self, Conv2dParams, PaddingMode};
    use crate::Tensor;
    use std::vec::Vec;

    #[test]
    fn source_index_modes() {
        // len 3, pad 2: padded positions 0..7.
        let map =
            |kind| -> Vec<Option<usize>> { (0..7).map(|p| source_index(kind, p, 2, 3)).collect() };
        let (n, s) = (None, Some);
        assert_eq!(map(PadKind::Zeros), [n, n, s(0), s(1), s(2), n, n]);
        assert_eq!(
            map(PadKind::Reflect),
            [s(2), s(1), s(0), s(1), s(2), s(1), s(0)]
        );
        assert_eq!(
            map(PadKind::Replicate),
            [s(0), s(0), s(0), s(1), s(2), s(2), s(2)]
        );
        assert_eq!(
            map(PadKind::Circular),
            [s(1), s(2), s(0), s(1), s(2), s(0), s(1)]
        );
    }

    #[test]
    fn tap_range_matches_brute_force() {
        for len in 1..6 {
            for pad in 0..4 {
                for stride in 1..4 {
                    for offset in 0..8 {
                        for out in 0..6 {
                            let (lo, hi) = tap_range(offset, pad, len, stride, out);
                            assert!(lo <= hi && hi <= out);
                            for i in 0..out {
                                let p = i * stride + offset;
                                let inside = p >= pad && p - pad < len;
                                assert_eq!(
                                    inside,
                                    (lo..hi).contains(&i),
                                    "{offset} {pad} {len} {stride} {out} {i}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn hand_worked_3x3_by_2x2() {
        // x = 1..9 row-major, w = [[1, 2], [3, 4]], no bias:
        // y00 = 1 + 2*2 + 3*4 + 4*5 = 37, y01 = 2 + 6 + 15 + 24 = 47,
        // y10 = 4 + 10 + 21 + 32 = 67, y11 = 5 + 12 + 24 + 36 = 77.
        let x = [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]];
        let w = [[[[1.0, 2.0], [3.0, 4.0]]]];
        let mut y = [[[f32::NAN; 2]; 2]; 1];
        conv2d::<1, 1, 0, 0, 1, 1, 1, 1, 3, 3, 1, 1, 2, 2, 2, 2>(&x, &w, None, &mut y);
        assert_eq!(y, [[[37.0, 47.0], [67.0, 77.0]]]);

        // Padding 1, stride 2, bias 1: the windows start at (0, 0), (0, 2),
        // (2, 0), (2, 2) of the zero-padded 5x5 grid.
        // y00 = 4*1 = 4, y01 = 3*2 + 4*3 = 18, y10 = 2*4 + 4*7 = 36,
        // y11 = 1*5 + 2*6 + 3*8 + 4*9 = 77; plus the bias.
        let mut y = [[[f32::NAN; 2]; 2]; 1];
        conv2d::<2, 2, 1, 1, 1, 1, 1, 1, 3, 3, 1, 1, 2, 2, 2, 2>(&x, &w, Some(&[1.0]), &mut y);
        assert_eq!(y, [[[5.0, 19.0], [37.0, 78.0]]]);
    }

    #[test]
    fn hand_worked_padding_modes() {
        // 1x3 input [1 2 3], 1x3 kernel [1 10 100], padding (0, 2).
        let x = [[[1.0, 2.0, 3.0]]];
        let w = [[[[1.0, 10.0, 100.0]]]];
        let mut y = [[[0.0f32; 5]; 1]; 1];
        // reflect: padded 3 2 [1 2 3] 2 1.
        conv2d_reflect::<1, 1, 0, 2, 1, 1, 1, 1, 1, 3, 1, 1, 1, 3, 1, 5>(&x, &w, None, &mut y);
        assert_eq!(
            y,
            [[[
                3.0 + 20.0 + 100.0,
                2.0 + 10.0 + 200.0,
                1.0 + 20.0 + 300.0,
                2.0 + 30.0 + 200.0,
                3.0 + 20.0 + 100.0
            ]]]
        );
        // replicate: 1 1 [1 2 3] 3 3.
        conv2d_replicate::<1, 1, 0, 2, 1, 1, 1, 1, 1, 3, 1, 1, 1, 3, 1, 5>(&x, &w, None, &mut y);
        assert_eq!(
            y,
            [[[
                1.0 + 10.0 + 100.0,
                1.0 + 10.0 + 200.0,
                1.0 + 20.0 + 300.0,
                2.0 + 30.0 + 300.0,
                3.0 + 30.0 + 300.0
            ]]]
        );
        // circular: 2 3 [1 2 3] 1 2.
        conv2d_circular::<1, 1, 0, 2, 1, 1, 1, 1, 1, 3, 1, 1, 1, 3, 1, 5>(&x, &w, None, &mut y);
        assert_eq!(
            y,
            [[[
                2.0 + 30.0 + 100.0,
                3.0 + 10.0 + 200.0,
                1.0 + 20.0 + 300.0,
                2.0 + 30.0 + 100.0,
                3.0 + 10.0 + 200.0
            ]]]
        );
        // zeros: 0 0 [1 2 3] 0 0.
        conv2d::<1, 1, 0, 2, 1, 1, 1, 1, 1, 3, 1, 1, 1, 3, 1, 5>(&x, &w, None, &mut y);
        assert_eq!(
            y,
            [[[100.0, 10.0 + 200.0, 1.0 + 20.0 + 300.0, 2.0 + 30.0, 3.0]]]
        );
    }

    #[test]
    fn output_is_overwritten() {
        let x = [[[1.0f32; 4]; 4]; 2];
        let w = [[[[1.0f32; 3]; 3]; 2]; 3];
        let mut y = [[[f32::NAN; 2]; 2]; 3];
        conv2d::<1, 1, 0, 0, 1, 1, 1, 2, 4, 4, 3, 2, 3, 3, 2, 2>(&x, &w, None, &mut y);
        assert!(Tensor::as_flat(&y).iter().all(|&v| v == 18.0));
    }

    /// Runs one padding mode of the kernel and the reference on the same
    /// pseudo-random data and compares them.
    macro_rules! conv_case {
        ($kernel:ident, $mode:expr, $seed:expr, bias = $bias:expr;
         C=$c:literal H=$h:literal W=$w:literal O=$o:literal G=$g:literal
         K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal)
         P=($ph:literal, $pw:literal) D=($dh:literal, $dw:literal)) => {{
            const C: usize = $c;
            const G: usize = $g;
            const CG: usize = C / G;
            const O: usize = $o;
            const H: usize = $h;
            const W: usize = $w;
            const OH: usize = match output_len(H, $kh, $sh, $ph, $dh) { Some(n) => n, None => 0 };
            const OW: usize = match output_len(W, $kw, $sw, $pw, $dw) { Some(n) => n, None => 0 };
            let mut rng = Rng::new($seed);
            let mut x = [[[0.0f32; W]; H]; C];
            rng.fill(Tensor::as_flat_mut(&mut x));
            let mut w = [[[[0.0f32; $kw]; $kh]; CG]; O];
            rng.fill(w.as_flattened_mut().as_flattened_mut().as_flattened_mut());
            let mut b = [0.0f32; O];
            rng.fill(&mut b);
            let bias: Option<&[f32; O]> = if $bias { Some(&b) } else { None };
            let mut y = [[[f32::NAN; OW]; OH]; O];
            $kernel::<$sh, $sw, $ph, $pw, $dh, $dw, G, C, H, W, O, CG, $kh, $kw, OH, OW>(&x, &w, bias, &mut y);

            let p = Conv2dParams {
                in_channels: C,
                out_channels: O,
                kernel: ($kh, $kw),
                stride: ($sh, $sw),
                padding: ($ph, $pw),
                dilation: ($dh, $dw),
                groups: G,
                padding_mode: $mode,
            };
            assert_eq!(p.output_hw((H, W)), Some((OH, OW)));
            let mut expected = std::vec![0.0f32; O * OH * OW];
            reference::conv2d(
                &p,
                (H, W),
                Tensor::as_flat(&x),
                w.as_flattened().as_flattened().as_flattened(),
                bias.map(|b| b.as_slice()),
                &mut expected,
            );
            assert_close(Tensor::as_flat(&y), &expected, stringify!($kernel C=$c H=$h W=$w O=$o G=$g));
        }};
    }

    /// Every geometry case, run for one kernel/mode pair. Cases that need
    /// `PH < H` are fine for all modes.
    ///
    /// Under Miri, which interprets every operation some thousands of times
    /// slower than native code, a case marked `#[cfg(not(miri))]` gives way
    /// to the `#[cfg(miri)]` twin after it: the same kind of geometry (the
    /// same kernel, stride, padding, dilation and groups, or kernel against
    /// input size) on a smaller plane with fewer channels, checked alike.
    macro_rules! conv_cases {
        ($kernel:ident, $mode:expr) => {{
            // 1x1 kernels.
            conv_case!($kernel, $mode, 1, bias = true; C=3 H=5 W=5 O=4 G=1 K=(1, 1) S=(1, 1) P=(0, 0) D=(1, 1));
            conv_case!($kernel, $mode, 2, bias = false; C=8 H=4 W=6 O=2 G=1 K=(1, 1) S=(2, 2) P=(0, 0) D=(1, 1));
            conv_case!($kernel, $mode, 3, bias = true; C=2 H=3 W=3 O=3 G=1 K=(1, 1) S=(1, 1) P=(1, 1) D=(1, 1));
            // Kernel == input size.
            conv_case!($kernel, $mode, 4, bias = true; C=2 H=5 W=5 O=3 G=1 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1));
            conv_case!($kernel, $mode, 5, bias = true; C=1 H=3 W=4 O=2 G=1 K=(3, 4) S=(2, 3) P=(0, 0) D=(1, 1));
            // LeNet-like.
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 6, bias = true; C=1 H=32 W=32 O=6 G=1 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 6, bias = true; C=1 H=6 W=7 O=6 G=1 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 7, bias = true; C=6 H=14 W=14 O=16 G=1 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 7, bias = true; C=3 H=5 W=6 O=16 G=1 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1));
            // Same padding.
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 8, bias = true; C=3 H=8 W=8 O=4 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 8, bias = true; C=2 H=4 W=5 O=3 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 9, bias = false; C=4 H=7 W=9 O=5 G=1 K=(5, 5) S=(1, 1) P=(2, 2) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 9, bias = false; C=2 H=3 W=4 O=2 G=1 K=(5, 5) S=(1, 1) P=(2, 2) D=(1, 1));
            // Stride > kernel.
            conv_case!($kernel, $mode, 10, bias = true; C=2 H=11 W=11 O=3 G=1 K=(2, 2) S=(3, 3) P=(0, 0) D=(1, 1));
            conv_case!($kernel, $mode, 11, bias = true; C=2 H=10 W=13 O=2 G=1 K=(2, 1) S=(4, 5) P=(1, 0) D=(1, 1));
            // Stride with padding.
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 12, bias = true; C=3 H=9 W=9 O=4 G=1 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 12, bias = true; C=2 H=5 W=5 O=3 G=1 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 13, bias = true; C=3 H=8 W=8 O=2 G=1 K=(7, 7) S=(2, 2) P=(3, 3) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 13, bias = true; C=1 H=4 W=5 O=2 G=1 K=(7, 7) S=(2, 2) P=(3, 3) D=(1, 1));
            // Dilation, with and without padding.
            conv_case!($kernel, $mode, 14, bias = true; C=2 H=9 W=9 O=3 G=1 K=(3, 3) S=(1, 1) P=(0, 0) D=(2, 2));
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 15, bias = true; C=2 H=8 W=10 O=3 G=1 K=(3, 3) S=(1, 1) P=(2, 2) D=(2, 2));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 15, bias = true; C=1 H=5 W=6 O=3 G=1 K=(3, 3) S=(1, 1) P=(2, 2) D=(2, 2));
            conv_case!($kernel, $mode, 16, bias = false; C=2 H=10 W=7 O=2 G=1 K=(3, 2) S=(2, 1) P=(3, 1) D=(3, 2));
            // Groups.
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 17, bias = true; C=4 H=6 W=6 O=6 G=2 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 17, bias = true; C=4 H=3 W=4 O=4 G=2 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 18, bias = true; C=6 H=5 W=7 O=9 G=3 K=(2, 3) S=(1, 2) P=(0, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 18, bias = true; C=6 H=3 W=7 O=9 G=3 K=(2, 3) S=(1, 2) P=(0, 1) D=(1, 1));
            // Depthwise, and depthwise with channel multiplier 2 and 3.
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 19, bias = true; C=4 H=8 W=8 O=4 G=4 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 19, bias = true; C=4 H=4 W=5 O=4 G=4 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            conv_case!($kernel, $mode, 20, bias = true; C=3 H=9 W=9 O=6 G=3 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 21, bias = false; C=2 H=7 W=6 O=6 G=2 K=(5, 3) S=(1, 1) P=(2, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 21, bias = false; C=2 H=3 W=4 O=6 G=2 K=(5, 3) S=(1, 1) P=(2, 1) D=(1, 1));
            // Rectangular kernels and strides, non-square inputs.
            conv_case!($kernel, $mode, 22, bias = true; C=2 H=6 W=11 O=3 G=1 K=(1, 5) S=(1, 2) P=(0, 2) D=(1, 1));
            conv_case!($kernel, $mode, 23, bias = true; C=2 H=12 W=5 O=2 G=1 K=(4, 2) S=(3, 1) P=(2, 0) D=(1, 1));
            conv_case!($kernel, $mode, 24, bias = true; C=1 H=1 W=16 O=2 G=1 K=(1, 3) S=(1, 1) P=(0, 0) D=(1, 1));
            conv_case!($kernel, $mode, 25, bias = true; C=3 H=13 W=2 O=2 G=1 K=(3, 2) S=(2, 1) P=(1, 1) D=(1, 1));
            // Wide enough to exercise vectorised inner loops.
            #[cfg(not(miri))]
            conv_case!($kernel, $mode, 26, bias = true; C=3 H=20 W=37 O=4 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, $mode, 26, bias = true; C=1 H=2 W=37 O=2 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            // Padding as large as allowed for reflect (H - 1).
            conv_case!($kernel, $mode, 27, bias = true; C=1 H=3 W=4 O=2 G=1 K=(3, 3) S=(1, 1) P=(2, 3) D=(1, 1));
        }};
    }

    /// `conv2d` (zero padding) forced onto one instruction set, for the
    /// tests of each body; geometries the SIMD bodies do not handle (a
    /// horizontal stride > 1) and CPUs without the feature run the portable
    /// body.
    macro_rules! conv2d_on {
        ($name:ident, $isa:expr) => {
            conv2d_on!($name, $isa, Body::Simd);
        };
        ($name:ident, $isa:expr, $body:expr) => {
            #[allow(clippy::too_many_arguments)]
            fn $name<
                const SH: usize,
                const SW: usize,
                const PH: usize,
                const PW: usize,
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
                input: &[[[f32; W]; H]; C],
                weight: &[[[[f32; KW]; KH]; CG]; O],
                bias: Option<&[f32; O]>,
                output: &mut [[[f32; OW]; OH]; O],
            ) {
                conv2d_with::<
                    Zeros,
                    SH,
                    SW,
                    PH,
                    PH,
                    PW,
                    PW,
                    DH,
                    DW,
                    G,
                    C,
                    H,
                    W,
                    O,
                    CG,
                    KH,
                    KW,
                    OH,
                    OW,
                >($isa, $body, input, weight, bias, &Post::NONE, output);
            }
        };
    }
    conv2d_on!(conv2d_portable_zeros, Isa::Portable);
    #[cfg(target_arch = "x86_64")]
    conv2d_on!(conv2d_avx2, Isa::Avx2);
    #[cfg(target_arch = "x86_64")]
    conv2d_on!(conv2d_avx512, Isa::Avx512);
    #[cfg(target_arch = "x86_64")]
    conv2d_on!(conv2d_avx2_direct, Isa::Avx2, Body::Direct);
    #[cfg(target_arch = "x86_64")]
    conv2d_on!(conv2d_avx512_direct, Isa::Avx512, Body::Direct);
    #[cfg(target_arch = "x86_64")]
    conv2d_on!(conv2d_avx2_packed, Isa::Avx2, Body::Packed);
    #[cfg(target_arch = "x86_64")]
    conv2d_on!(conv2d_avx512_packed, Isa::Avx512, Body::Packed);

    /// Stride-1 geometries for the SIMD bodies: row widths on both sides of
    /// every vector and chunk boundary (8, 16, 32, 48, 64 columns), every
    /// output-channel block size and remainder (1..=20 channels per group),
    /// padding (including wider than the input), dilation, a vertical
    /// stride, groups, and kernels wider than the input.
    ///
    /// Under Miri (see [`conv_cases`]) the twins keep every row width, on
    /// two rows with one or two output channels, and the narrow cases
    /// 136..=144 give the block sizes and remainders.
    macro_rules! stride1_cases {
        ($kernel:ident) => {{
            let z = PaddingMode::Zeros;
            conv_case!($kernel, z, 101, bias = true; C=1 H=3 W=1 O=1 G=1 K=(1, 1) S=(1, 1) P=(0, 0) D=(1, 1));
            conv_case!($kernel, z, 102, bias = true; C=2 H=4 W=2 O=2 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            conv_case!($kernel, z, 103, bias = false; C=1 H=5 W=7 O=3 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 104, bias = true; C=2 H=4 W=8 O=4 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 104, bias = true; C=1 H=2 W=8 O=4 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 105, bias = true; C=1 H=6 W=9 O=5 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 105, bias = true; C=1 H=2 W=9 O=5 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 106, bias = true; C=2 H=3 W=15 O=6 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 106, bias = true; C=2 H=2 W=15 O=2 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 107, bias = true; C=1 H=4 W=16 O=7 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 107, bias = true; C=1 H=2 W=16 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 108, bias = true; C=3 H=3 W=17 O=8 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 108, bias = true; C=1 H=2 W=17 O=2 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 109, bias = false; C=1 H=5 W=23 O=9 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 109, bias = false; C=1 H=2 W=23 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 110, bias = true; C=2 H=3 W=24 O=10 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 110, bias = true; C=2 H=2 W=24 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 111, bias = true; C=1 H=4 W=25 O=11 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 111, bias = true; C=1 H=2 W=25 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 112, bias = true; C=2 H=3 W=31 O=12 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 112, bias = true; C=1 H=2 W=31 O=2 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 113, bias = true; C=1 H=3 W=32 O=13 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 113, bias = true; C=1 H=2 W=32 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 114, bias = true; C=2 H=3 W=33 O=14 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 114, bias = true; C=1 H=2 W=33 O=2 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 115, bias = true; C=1 H=3 W=40 O=15 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 115, bias = true; C=1 H=2 W=40 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 116, bias = true; C=1 H=2 W=47 O=16 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 116, bias = true; C=1 H=2 W=47 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 117, bias = true; C=2 H=3 W=48 O=17 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 117, bias = true; C=1 H=2 W=48 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 118, bias = false; C=1 H=2 W=49 O=18 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 118, bias = false; C=1 H=2 W=49 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 119, bias = true; C=1 H=3 W=64 O=19 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 119, bias = true; C=1 H=2 W=64 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 120, bias = true; C=2 H=3 W=65 O=20 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 120, bias = true; C=1 H=2 W=65 O=1 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            // Unpadded, the output narrower than the input: 32 → 28, 14 → 10.
            #[cfg(not(miri))]
            conv_case!($kernel, z, 121, bias = true; C=3 H=12 W=36 O=6 G=1 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 121, bias = true; C=1 H=6 W=20 O=2 G=1 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 122, bias = true; C=4 H=9 W=21 O=9 G=1 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 122, bias = true; C=2 H=6 W=9 O=3 G=1 K=(5, 5) S=(1, 1) P=(0, 0) D=(1, 1));
            // Wide kernels, asymmetric padding, a kernel wider than the input.
            conv_case!($kernel, z, 123, bias = true; C=2 H=3 W=9 O=3 G=1 K=(1, 7) S=(1, 1) P=(0, 3) D=(1, 1));
            conv_case!($kernel, z, 124, bias = true; C=1 H=4 W=2 O=2 G=1 K=(3, 5) S=(1, 1) P=(1, 2) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 125, bias = true; C=2 H=5 W=20 O=4 G=1 K=(5, 1) S=(1, 1) P=(2, 0) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 125, bias = true; C=1 H=3 W=20 O=2 G=1 K=(5, 1) S=(1, 1) P=(2, 0) D=(1, 1));
            // Padding wider than the input: whole taps read only zeros.
            conv_case!($kernel, z, 126, bias = true; C=2 H=2 W=3 O=2 G=1 K=(3, 3) S=(1, 1) P=(4, 5) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 127, bias = true; C=1 H=3 W=18 O=3 G=1 K=(3, 3) S=(1, 1) P=(3, 9) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 127, bias = true; C=1 H=2 W=18 O=1 G=1 K=(3, 3) S=(1, 1) P=(3, 9) D=(1, 1));
            // Dilation, with padding; a vertical stride.
            #[cfg(not(miri))]
            conv_case!($kernel, z, 128, bias = true; C=2 H=9 W=33 O=5 G=1 K=(3, 3) S=(1, 1) P=(2, 3) D=(2, 3));
            #[cfg(miri)]
            conv_case!($kernel, z, 128, bias = true; C=1 H=3 W=20 O=2 G=1 K=(3, 3) S=(1, 1) P=(2, 3) D=(2, 3));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 129, bias = false; C=2 H=11 W=19 O=4 G=1 K=(3, 3) S=(2, 1) P=(1, 1) D=(1, 2));
            #[cfg(miri)]
            conv_case!($kernel, z, 129, bias = false; C=1 H=5 W=19 O=2 G=1 K=(3, 3) S=(2, 1) P=(1, 1) D=(1, 2));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 130, bias = true; C=1 H=12 W=17 O=3 G=1 K=(2, 4) S=(3, 1) P=(0, 2) D=(2, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 130, bias = true; C=1 H=6 W=17 O=3 G=1 K=(2, 4) S=(3, 1) P=(0, 2) D=(2, 1));
            // Groups: depthwise, multiplier 3, and 5 channels per group.
            #[cfg(not(miri))]
            conv_case!($kernel, z, 131, bias = true; C=4 H=6 W=18 O=4 G=4 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 131, bias = true; C=2 H=2 W=18 O=2 G=2 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 132, bias = true; C=2 H=5 W=20 O=6 G=2 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 132, bias = true; C=2 H=2 W=10 O=6 G=2 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 133, bias = false; C=6 H=4 W=33 O=10 G=2 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 133, bias = false; C=2 H=2 W=9 O=10 G=2 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(not(miri))]
            conv_case!($kernel, z, 134, bias = true; C=6 H=7 W=9 O=18 G=3 K=(3, 2) S=(1, 1) P=(1, 0) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 134, bias = true; C=3 H=2 W=5 O=18 G=3 K=(3, 2) S=(1, 1) P=(1, 0) D=(1, 1));
            // Many input channels.
            #[cfg(not(miri))]
            conv_case!($kernel, z, 135, bias = true; C=20 H=5 W=11 O=12 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 135, bias = true; C=20 H=2 W=3 O=2 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            // Under Miri the planes above have few output channels; these
            // narrow ones give every block size and remainder of both bodies
            // (AVX-512: 5..=8, 5 + 4, 6 + 6, 8 + 8, 6 + 6 + 5, 7 + 7 + 6;
            // AVX2: 3 + 2, 3 + 3, 4 + 3, 3 + 3 + 3, 4 + 4 + 4, …).
            #[cfg(miri)]
            conv_case!($kernel, z, 136, bias = true; C=1 H=2 W=3 O=5 G=1 K=(1, 3) S=(1, 1) P=(0, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 137, bias = true; C=1 H=2 W=3 O=6 G=1 K=(1, 3) S=(1, 1) P=(0, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 138, bias = true; C=1 H=2 W=3 O=7 G=1 K=(1, 3) S=(1, 1) P=(0, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 139, bias = true; C=1 H=2 W=3 O=8 G=1 K=(1, 3) S=(1, 1) P=(0, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 140, bias = false; C=1 H=2 W=3 O=9 G=1 K=(1, 3) S=(1, 1) P=(0, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 141, bias = true; C=1 H=2 W=3 O=12 G=1 K=(1, 3) S=(1, 1) P=(0, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 142, bias = true; C=1 H=2 W=3 O=16 G=1 K=(1, 3) S=(1, 1) P=(0, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 143, bias = true; C=1 H=2 W=3 O=17 G=1 K=(1, 3) S=(1, 1) P=(0, 1) D=(1, 1));
            #[cfg(miri)]
            conv_case!($kernel, z, 144, bias = true; C=1 H=2 W=3 O=20 G=1 K=(1, 3) S=(1, 1) P=(0, 1) D=(1, 1));
        }};
    }

    #[test]
    fn zeros_portable_matches_reference() {
        conv_cases!(conv2d_portable_zeros, PaddingMode::Zeros);
        stride1_cases!(conv2d_portable_zeros);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn zeros_avx2_matches_reference() {
        if !simd::has_avx2_fma() {
            std::eprintln!("skipped: this CPU has no AVX2+FMA");
            return;
        }
        conv_cases!(conv2d_avx2, PaddingMode::Zeros);
        stride1_cases!(conv2d_avx2_direct);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn zeros_avx512_matches_reference() {
        if !simd::has_avx512() {
            std::eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        conv_cases!(conv2d_avx512, PaddingMode::Zeros);
        stride1_cases!(conv2d_avx512_direct);
    }

    /// Geometries for the packed body (`simd/conv/packed.rs`): strides 1
    /// to 3 with every kind of padding (none: read in place; symmetric;
    /// Keras' asymmetric "same"; DS-CNN's `(4, 5, 1, 1)`), dilation,
    /// depthwise with and without padding (stride 1 and 2, and channel
    /// counts around the chunk), pointwise with plane sizes that leave
    /// every tail length, output channels that are not a multiple of the
    /// block (so every block size and remainder), and inputs larger than
    /// the packing buffer (bands).
    ///
    /// Under Miri (see [`conv_cases`]) a few tiny twins: one per body
    /// path (in place, also with a whole chunk and a tail; packed stride 2
    /// with asymmetric padding, stride 3 with dilation, depthwise padded at
    /// stride 1 and 2).
    macro_rules! packed_cases {
        ($kernel:ident) => {{
            let z = PaddingMode::Zeros;
            #[cfg(not(miri))]
            {
                // Pointwise (in place): odd planes, every tail, every block.
                conv_case!($kernel, z, 401, bias = true; C=5 H=5 W=5 O=13 G=1 K=(1, 1) S=(1, 1) P=(0, 0) D=(1, 1));
                conv_case!($kernel, z, 402, bias = false; C=3 H=3 W=3 O=20 G=1 K=(1, 1) S=(1, 1) P=(0, 0) D=(1, 1));
                conv_case!($kernel, z, 403, bias = true; C=9 H=7 W=9 O=7 G=1 K=(1, 1) S=(1, 1) P=(0, 0) D=(1, 1));
                conv_case!($kernel, z, 404, bias = true; C=4 H=11 W=13 O=17 G=1 K=(1, 1) S=(1, 1) P=(0, 0) D=(1, 1));
                conv_case!($kernel, z, 405, bias = true; C=2 H=1 W=1 O=3 G=1 K=(1, 1) S=(1, 1) P=(0, 0) D=(1, 1));
                // The stride-2 projection shortcut, and stride 3.
                conv_case!($kernel, z, 406, bias = true; C=6 H=16 W=16 O=12 G=1 K=(1, 1) S=(2, 2) P=(0, 0) D=(1, 1));
                conv_case!($kernel, z, 407, bias = false; C=3 H=11 W=10 O=5 G=1 K=(1, 1) S=(3, 3) P=(0, 0) D=(1, 1));
                // Stride 2 and 3, padded, 3x3 and larger, dilated.
                conv_case!($kernel, z, 408, bias = true; C=5 H=17 W=17 O=11 G=1 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 409, bias = true; C=3 H=14 W=23 O=9 G=1 K=(3, 3) S=(3, 3) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 410, bias = true; C=2 H=13 W=21 O=6 G=1 K=(5, 5) S=(2, 3) P=(2, 2) D=(1, 1));
                conv_case!($kernel, z, 411, bias = false; C=2 H=15 W=15 O=4 G=1 K=(3, 3) S=(2, 2) P=(2, 2) D=(2, 2));
                conv_case!($kernel, z, 412, bias = true; C=3 H=12 W=12 O=5 G=1 K=(3, 2) S=(3, 2) P=(0, 1) D=(2, 3));
                // Stride 1 padded and dilated, in place with a vertical-only
                // kernel.
                conv_case!($kernel, z, 413, bias = true; C=4 H=9 W=19 O=10 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 414, bias = true; C=2 H=12 W=14 O=3 G=1 K=(3, 3) S=(1, 1) P=(2, 2) D=(2, 2));
                conv_case!($kernel, z, 415, bias = true; C=3 H=10 W=7 O=9 G=1 K=(4, 1) S=(1, 1) P=(0, 0) D=(1, 1));
                // Depthwise: padded and not, stride 1 and 2, narrow planes.
                conv_case!($kernel, z, 416, bias = true; C=20 H=9 W=5 O=20 G=20 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 417, bias = false; C=7 H=12 W=13 O=7 G=7 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 418, bias = true; C=5 H=10 W=11 O=5 G=5 K=(3, 3) S=(1, 1) P=(0, 0) D=(1, 1));
                conv_case!($kernel, z, 419, bias = true; C=3 H=7 W=33 O=3 G=3 K=(5, 5) S=(1, 1) P=(2, 2) D=(1, 1));
                conv_case!($kernel, z, 420, bias = true; C=4 H=9 W=9 O=4 G=4 K=(3, 3) S=(2, 2) P=(2, 2) D=(2, 2));
                // Grouped (not depthwise), and depthwise with multiplier 2.
                conv_case!($kernel, z, 421, bias = true; C=6 H=8 W=9 O=9 G=3 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 422, bias = true; C=4 H=8 W=8 O=8 G=4 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
                // Larger than the packing buffer: bands of rows (dense
                // stride 1 and 2, depthwise).
                conv_case!($kernel, z, 423, bias = true; C=3 H=72 W=130 O=3 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 424, bias = true; C=3 H=67 W=97 O=2 G=1 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 425, bias = true; C=8 H=50 W=50 O=8 G=8 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 426, bias = true; C=16 H=33 W=33 O=16 G=16 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
                // Padding wider than the input: bands that read no input row.
                conv_case!($kernel, z, 427, bias = true; C=3 H=2 W=3 O=5 G=1 K=(3, 3) S=(1, 1) P=(3, 3) D=(1, 1));
                conv_case!($kernel, z, 428, bias = false; C=4 H=3 W=2 O=4 G=4 K=(2, 2) S=(1, 1) P=(4, 2) D=(1, 1));
                // Output rows of whole chunks (AVX2: 16, 32 and 48 columns
                // for blocks of 4, 2 and 1 channels) with junk columns:
                // computed row by row, junk skipped, whole stores.
                conv_case!($kernel, z, 431, bias = true; C=3 H=12 W=32 O=8 G=1 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 432, bias = true; C=2 H=5 W=32 O=6 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 433, bias = false; C=2 H=4 W=50 O=1 G=1 K=(1, 3) S=(1, 1) P=(0, 0) D=(1, 1));
            }
            #[cfg(miri)]
            {
                conv_case!($kernel, z, 401, bias = true; C=2 H=3 W=5 O=3 G=1 K=(1, 1) S=(1, 1) P=(0, 0) D=(1, 1));
                // A whole chunk of contiguous (pointwise) stores, then a tail.
                conv_case!($kernel, z, 434, bias = true; C=1 H=7 W=8 O=2 G=1 K=(1, 1) S=(1, 1) P=(0, 0) D=(1, 1));
                conv_case!($kernel, z, 408, bias = true; C=1 H=5 W=6 O=2 G=1 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 412, bias = true; C=1 H=7 W=8 O=2 G=1 K=(3, 2) S=(3, 2) P=(0, 1) D=(2, 3));
                conv_case!($kernel, z, 416, bias = true; C=3 H=4 W=5 O=3 G=3 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 417, bias = false; C=2 H=5 W=6 O=2 G=2 K=(3, 3) S=(2, 2) P=(1, 1) D=(1, 1));
                conv_case!($kernel, z, 431, bias = true; C=1 H=3 W=16 O=4 G=1 K=(3, 3) S=(1, 1) P=(1, 1) D=(1, 1));
            }
        }};
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn packed_avx2_matches_reference() {
        if !simd::has_avx2_fma() {
            std::eprintln!("skipped: this CPU has no AVX2+FMA");
            return;
        }
        packed_cases!(conv2d_avx2_packed);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn packed_avx512_matches_reference() {
        if !simd::has_avx512() {
            std::eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        packed_cases!(conv2d_avx512_packed);
    }

    /// The packed body takes every layer of the zoo: strided, padded,
    /// depthwise and pointwise.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn packed_covers_the_zoo() {
        use simd::conv::packed::Layout;
        // ResNet-8 3x3 (stride 1, padded; stride 2, Keras "same"), its 1x1
        // projection; DS-CNN's 10x4 first layer, depthwise and pointwise;
        // MobileNetV1's first layer and its stride-2 depthwise at 48x48.
        let layers = [
            Layout::new(
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                (1, 16, 16, 16),
                (32, 32),
                (3, 3),
                (32, 32),
            ),
            Layout::new(
                (2, 2),
                (0, 1, 0, 1),
                (1, 1),
                (1, 16, 16, 32),
                (32, 32),
                (3, 3),
                (16, 16),
            ),
            Layout::new(
                (2, 2),
                (0, 0, 0, 0),
                (1, 1),
                (1, 32, 32, 64),
                (16, 16),
                (1, 1),
                (8, 8),
            ),
            Layout::new(
                (2, 2),
                (4, 5, 1, 1),
                (1, 1),
                (1, 1, 1, 64),
                (49, 10),
                (10, 4),
                (25, 5),
            ),
            Layout::new(
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                (64, 64, 1, 64),
                (25, 5),
                (3, 3),
                (25, 5),
            ),
            Layout::new(
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                (1, 64, 64, 64),
                (25, 5),
                (1, 1),
                (25, 5),
            ),
            Layout::new(
                (2, 2),
                (0, 1, 0, 1),
                (1, 1),
                (1, 3, 3, 8),
                (96, 96),
                (3, 3),
                (48, 48),
            ),
            Layout::new(
                (2, 2),
                (0, 1, 0, 1),
                (1, 1),
                (16, 16, 1, 16),
                (48, 48),
                (3, 3),
                (24, 24),
            ),
        ];
        for (i, l) in layers.iter().enumerate() {
            assert!(l.fits, "layer {i}");
        }
        assert!(layers[2].row_phases == 1 && layers[2].col_phases == 1);
        assert!(layers[4].depthwise && !layers[0].depthwise);
        assert!(layers[5].in_place && !layers[0].in_place);
        // ResNet-8's first stage is packed in one band.
        assert_eq!(layers[0].band, 32);
    }

    /// The banded cases of `conv_cases!` (423–426) are cut into bands.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn banded_cases_are_banded() {
        use simd::conv::packed::Layout;
        // (stride, channels, output channels, groups, input side H×W,
        // output side OH×OW), 3×3 kernel, padding 1.
        let cases = [
            (1, 3, 3, 1, (72, 130), (72, 130)),
            (2, 3, 2, 1, (67, 97), (34, 49)),
            (1, 8, 8, 8, (50, 50), (50, 50)),
            (2, 16, 16, 16, (33, 33), (17, 17)),
        ];
        for (i, (s, c, o, g, hw, ohw)) in cases.into_iter().enumerate() {
            let l = Layout::new(
                (s, s),
                (1, 1, 1, 1),
                (1, 1),
                (g, c, c / g, o),
                hw,
                (3, 3),
                ohw,
            );
            assert!(l.fits && l.band > 0 && l.band < ohw.0, "case {}", 423 + i);
        }
    }

    /// The SIMD bodies handle the layers that matter: LeNet's convolutions
    /// (and every zero-padded stride-1 one) do not fall back.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_covers_stride_1() {
        assert!(simd::conv::supported(1));
        assert!(!simd::conv::supported(2));
        // LeNet's convolutions: 6 and 16 output channels, no padding.
        assert!(simd::conv::profitable(6, 1, 0) && simd::conv::profitable(16, 6, 0));
        // A padded depthwise convolution is as fast on the portable path.
        assert!(!simd::conv::profitable(1, 1, 1));
        assert!(simd::conv::profitable(2, 1, 1) && simd::conv::profitable(1, 2, 1));
    }

    #[test]
    fn zeros_matches_reference() {
        conv_cases!(conv2d, PaddingMode::Zeros);
        // Padding larger than the input, only valid for zeros: whole taps
        // and whole output rows read nothing but padding.
        conv_case!(conv2d, PaddingMode::Zeros, 40, bias = true; C=2 H=2 W=3 O=2 G=1 K=(3, 3) S=(1, 1) P=(4, 5) D=(1, 1));
        conv_case!(conv2d, PaddingMode::Zeros, 41, bias = true; C=1 H=2 W=2 O=1 G=1 K=(3, 3) S=(3, 3) P=(3, 3) D=(2, 2));
    }

    #[test]
    fn reflect_matches_reference() {
        conv_cases!(conv2d_reflect, PaddingMode::Reflect);
    }

    #[test]
    fn replicate_matches_reference() {
        conv_cases!(conv2d_replicate, PaddingMode::Replicate);
        conv_case!(conv2d_replicate, PaddingMode::Replicate, 42, bias = true; C=2 H=2 W=3 O=2 G=1 K=(3, 3) S=(1, 1) P=(4, 5) D=(1, 1));
    }

    #[test]
    fn circular_matches_reference() {
        conv_cases!(conv2d_circular, PaddingMode::Circular);
        // Padding equal to the input size.
        conv_case!(conv2d_circular, PaddingMode::Circular, 43, bias = true; C=2 H=2 W=3 O=2 G=1 K=(3, 3) S=(1, 2) P=(2, 3) D=(1, 2));
    }

    /// The instruction sets this CPU has, portable first.
    fn isas() -> Vec<Isa> {
        #[allow(unused_mut)]
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

    /// The naive twin of [`conv2d_fused`]'s convolution with padding
    /// `(top, bottom, left, right)`: `F.pad` (the reference `pad2d`) then an
    /// unpadded reference convolution, in `f64`.
    #[allow(clippy::too_many_arguments)]
    fn reference_padded_conv(
        mode: PaddingMode,
        p: &Conv2dParams,
        (h, w): (usize, usize),
        (pt, pb, pl, pr): (usize, usize, usize, usize),
        input: &[f32],
        weight: &[f32],
        bias: Option<&[f32]>,
        output: &mut [f32],
    ) {
        let (ph, pw) = (h + pt + pb, w + pl + pr);
        let mut padded = std::vec![0.0f32; p.in_channels * ph * pw];
        reference::pad2d(
            mode,
            p.in_channels,
            (h, w),
            (pt, pb, pl, pr),
            0.0,
            input,
            &mut padded,
        );
        let unpadded = Conv2dParams {
            padding: (0, 0),
            padding_mode: PaddingMode::Zeros,
            ..*p
        };
        reference::conv2d(&unpadded, (ph, pw), &padded, weight, bias, output);
    }

    /// The standalone activation a [`PostAct`] stands for.
    fn standalone(act: PostAct, x: &mut [f32]) {
        match act {
            PostAct::None => {}
            PostAct::Relu => crate::act::relu(x),
            PostAct::Relu6 => crate::act::relu6(x),
            PostAct::LeakyRelu(slope) => crate::act::leaky_relu(x, slope),
            PostAct::Hardswish => crate::act::hardswish(x),
            PostAct::Hardsigmoid => crate::act::hardsigmoid(x),
        }
    }

    /// The `f64` reference activation of a [`PostAct`].
    fn reference_act(act: PostAct, x: f32) -> f32 {
        use crate::reference::act as r;
        match act {
            PostAct::None => x,
            PostAct::Relu => r::relu(x),
            PostAct::Relu6 => r::relu6(x),
            PostAct::LeakyRelu(slope) => r::leaky_relu(x, slope),
            PostAct::Hardswish => r::hardswish(x),
            PostAct::Hardsigmoid => r::hardsigmoid(x),
        }
    }

    const ACTS: [PostAct; 6] = [
        PostAct::None,
        PostAct::Relu,
        PostAct::Relu6,
        PostAct::LeakyRelu(0.1),
        PostAct::Hardswish,
        PostAct::Hardsigmoid,
    ];

    /// Whether two results are the same bits, NaNs of any payload counting
    /// as equal.
    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    /// `conv2d_with` on every instruction set of this CPU (zero padding; the
    /// SIMD bodies forced even where `profitable` would decline) and, for
    /// the other modes, on the portable body, against the naive
    /// pad-then-convolve reference, for asymmetric padding
    /// `P=(top, bottom, left, right)`.
    macro_rules! asym_case {
        ($ty:ty, $mode:expr, $seed:expr, bias = $bias:expr; $($geometry:tt)*) => {
            asym_case!(@body Body::Simd; $ty, $mode, $seed, bias = $bias; $($geometry)*)
        };
        (@body $body:expr; $ty:ty, $mode:expr, $seed:expr, bias = $bias:expr;
         C=$c:literal H=$h:literal W=$w:literal O=$o:literal G=$g:literal
         K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal)
         P=($pt:literal, $pb:literal, $pl:literal, $pr:literal) D=($dh:literal, $dw:literal)) => {{
            // A function per case, so that in a debug build (no stack slot
            // reuse) a test's frame holds one case's arrays, not the sum
            // of all of them.
            #[inline(never)]
            fn case() {
                const C: usize = $c;
                const G: usize = $g;
                const CG: usize = C / G;
                const O: usize = $o;
                const H: usize = $h;
                const W: usize = $w;
                const OH: usize = match output_len_padded(H, $kh, $sh, $pt, $pb, $dh) { Some(n) => n, None => 0 };
                const OW: usize = match output_len_padded(W, $kw, $sw, $pl, $pr, $dw) { Some(n) => n, None => 0 };
                let mut rng = Rng::new($seed);
                let mut x = [[[0.0f32; W]; H]; C];
                rng.fill(Tensor::as_flat_mut(&mut x));
                let mut w = [[[[0.0f32; $kw]; $kh]; CG]; O];
                rng.fill(w.as_flattened_mut().as_flattened_mut().as_flattened_mut());
                let mut b = [0.0f32; O];
                rng.fill(&mut b);
                let bias: Option<&[f32; O]> = if $bias { Some(&b) } else { None };
                let p = Conv2dParams {
                    in_channels: C,
                    out_channels: O,
                    kernel: ($kh, $kw),
                    stride: ($sh, $sw),
                    padding: (0, 0),
                    dilation: ($dh, $dw),
                    groups: G,
                    padding_mode: $mode,
                };
                let mut expected = std::vec![0.0f32; O * OH * OW];
                reference_padded_conv(
                    $mode,
                    &p,
                    (H, W),
                    ($pt, $pb, $pl, $pr),
                    Tensor::as_flat(&x),
                    w.as_flattened().as_flattened().as_flattened(),
                    bias.map(|b| b.as_slice()),
                    &mut expected,
                );
                let isas = if $mode == PaddingMode::Zeros { isas() } else { std::vec![Isa::Portable] };
                for isa in isas {
                    let mut y = [[[f32::NAN; OW]; OH]; O];
                    conv2d_with::<$ty, $sh, $sw, $pt, $pb, $pl, $pr, $dh, $dw, G, C, H, W, O, CG, $kh, $kw, OH, OW>(
                        isa, $body, &x, &w, bias, &Post::NONE, &mut y,
                    );
                    let what = std::format!(
                        "{:?} on {isa:?}, seed {}: C={} H={} W={} O={} G={} P=({}, {}, {}, {})",
                        $mode, $seed, C, H, W, O, G, $pt, $pb, $pl, $pr
                    );
                    assert_close(Tensor::as_flat(&y), &expected, &what);
                }
                // The public entry (run-time dispatch) agrees too.
                let mut y = [[[f32::NAN; OW]; OH]; O];
                conv2d_fused::<$ty, $sh, $sw, $pt, $pb, $pl, $pr, $dh, $dw, G, C, H, W, O, CG, $kh, $kw, OH, OW>(
                    &x, &w, bias, &Post::NONE, &mut y,
                );
                assert_close(Tensor::as_flat(&y), &expected, "conv2d_fused");
            }
            case();
        }};
    }

    /// Asymmetric geometries valid in every mode (each pad smaller than the
    /// input): zero padding on some sides, each side alone, Keras' "same"
    /// at stride 2 (0 before, 1 after), strides, dilation, groups and
    /// depthwise, and stride-1 row widths on both sides of the SIMD
    /// vector and chunk boundaries (8, 16, 32, 48 columns).
    macro_rules! asym_cases {
        ($ty:ty, $mode:expr) => {{
            // Under Miri (every operation interpreted) the first four: one
            // side padded, Keras "same" at stride 2, grouped, depthwise.
            asym_case!($ty, $mode, 201, bias = true; C=2 H=5 W=6 O=3 G=1 K=(3, 3) S=(1, 1) P=(1, 0, 0, 0) D=(1, 1));
            asym_case!($ty, $mode, 205, bias = true; C=3 H=8 W=8 O=4 G=1 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
            asym_case!($ty, $mode, 212, bias = true; C=4 H=6 W=9 O=6 G=2 K=(3, 3) S=(1, 1) P=(0, 2, 2, 0) D=(1, 1));
            asym_case!($ty, $mode, 213, bias = true; C=4 H=8 W=8 O=4 G=4 K=(3, 3) S=(1, 1) P=(1, 0, 0, 1) D=(1, 1));
            #[cfg(not(miri))]
            {
                asym_case!($ty, $mode, 219, bias = true; C=2 H=3 W=33 O=10 G=1 K=(3, 3) S=(1, 1) P=(0, 0, 2, 0) D=(1, 1));
                asym_case!($ty, $mode, 211, bias = false; C=2 H=10 W=8 O=2 G=1 K=(3, 2) S=(2, 1) P=(3, 1, 1, 0) D=(3, 2));
                asym_case!($ty, $mode, 202, bias = true; C=2 H=5 W=6 O=3 G=1 K=(3, 3) S=(1, 1) P=(0, 1, 0, 0) D=(1, 1));
                asym_case!($ty, $mode, 203, bias = false; C=2 H=5 W=6 O=3 G=1 K=(3, 3) S=(1, 1) P=(0, 0, 1, 0) D=(1, 1));
                asym_case!($ty, $mode, 204, bias = true; C=2 H=5 W=6 O=3 G=1 K=(3, 3) S=(1, 1) P=(0, 0, 0, 1) D=(1, 1));
                asym_case!($ty, $mode, 206, bias = true; C=3 H=9 W=9 O=4 G=1 K=(3, 3) S=(2, 2) P=(1, 1, 0, 1) D=(1, 1));
                asym_case!($ty, $mode, 207, bias = true; C=2 H=7 W=10 O=5 G=1 K=(2, 2) S=(1, 1) P=(0, 1, 0, 1) D=(1, 1));
                asym_case!($ty, $mode, 208, bias = true; C=2 H=7 W=10 O=5 G=1 K=(2, 2) S=(1, 1) P=(1, 0, 1, 0) D=(1, 1));
                asym_case!($ty, $mode, 209, bias = true; C=1 H=6 W=7 O=2 G=1 K=(5, 5) S=(1, 1) P=(3, 1, 0, 4) D=(1, 1));
                asym_case!($ty, $mode, 210, bias = true; C=2 H=9 W=11 O=3 G=1 K=(3, 3) S=(1, 1) P=(2, 0, 0, 2) D=(2, 2));
                asym_case!($ty, $mode, 214, bias = true; C=3 H=9 W=9 O=6 G=3 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
                asym_case!($ty, $mode, 215, bias = true; C=2 H=4 W=8 O=4 G=1 K=(3, 3) S=(1, 1) P=(0, 2, 1, 0) D=(1, 1));
                asym_case!($ty, $mode, 216, bias = true; C=1 H=4 W=15 O=5 G=1 K=(3, 3) S=(1, 1) P=(2, 0, 0, 2) D=(1, 1));
                asym_case!($ty, $mode, 217, bias = true; C=2 H=3 W=16 O=8 G=1 K=(3, 3) S=(1, 1) P=(0, 1, 1, 1) D=(1, 1));
                asym_case!($ty, $mode, 218, bias = false; C=1 H=3 W=31 O=9 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 0, 1) D=(1, 1));
                asym_case!($ty, $mode, 220, bias = true; C=1 H=2 W=47 O=17 G=1 K=(2, 3) S=(1, 1) P=(1, 0, 0, 2) D=(1, 1));
                asym_case!($ty, $mode, 221, bias = true; C=2 H=5 W=20 O=4 G=1 K=(5, 1) S=(1, 1) P=(4, 0, 0, 0) D=(1, 1));
                asym_case!($ty, $mode, 222, bias = true; C=2 H=3 W=9 O=3 G=1 K=(1, 7) S=(1, 1) P=(0, 0, 1, 5) D=(1, 1));
                asym_case!($ty, $mode, 223, bias = true; C=1 H=12 W=17 O=3 G=1 K=(2, 4) S=(3, 1) P=(0, 2, 3, 0) D=(2, 1));
                asym_case!($ty, $mode, 224, bias = true; C=2 H=3 W=4 O=2 G=1 K=(3, 3) S=(1, 1) P=(2, 0, 3, 0) D=(1, 1));
            }
        }};
    }

    #[test]
    fn asymmetric_zeros_matches_reference_on_every_isa() {
        asym_cases!(Zeros, PaddingMode::Zeros);
        // Padding larger than the input on one side only: whole taps and
        // whole output rows read nothing but padding.
        asym_case!(Zeros, PaddingMode::Zeros, 240, bias = true; C=2 H=2 W=3 O=2 G=1 K=(3, 3) S=(1, 1) P=(5, 0, 0, 6) D=(1, 1));
        asym_case!(Zeros, PaddingMode::Zeros, 241, bias = true; C=1 H=3 W=18 O=3 G=1 K=(3, 3) S=(1, 1) P=(0, 4, 9, 0) D=(1, 1));
        asym_case!(Zeros, PaddingMode::Zeros, 242, bias = true; C=1 H=2 W=2 O=1 G=1 K=(3, 3) S=(3, 3) P=(0, 5, 4, 1) D=(2, 2));
    }

    /// DS-CNN's first layer as the network runs it: `ZeroPad2d((1, 1, 4,
    /// 5))` folded into a 10×4 stride-2 convolution, on every instruction
    /// set (the packed body where the CPU has one), through `conv2d_with`
    /// and the public entry. Under Miri, the same padding and kernel on
    /// fewer channels and rows.
    #[test]
    fn ds_cnn_first_layer_on_every_isa() {
        #[cfg(not(miri))]
        asym_case!(Zeros, PaddingMode::Zeros, 430, bias = true; C=1 H=49 W=10 O=12 G=1 K=(10, 4) S=(2, 2) P=(4, 5, 1, 1) D=(1, 1));
        #[cfg(miri)]
        asym_case!(Zeros, PaddingMode::Zeros, 430, bias = true; C=1 H=12 W=10 O=2 G=1 K=(10, 4) S=(2, 2) P=(4, 5, 1, 1) D=(1, 1));
    }

    /// Geometries for the channel-blocked depthwise body
    /// (`simd/conv/depthwise.rs`), each checked to be one it takes:
    /// DS-CNN's and MobileNetV1's depthwise layers (stride 1 and 2, Keras
    /// "same" padding at stride 2), several groups of 16 channels, planes
    /// of one pixel, of fewer than 16 pixels and of a multiple of 16, rows
    /// shorter and longer than a vector (not a multiple of it), a
    /// 5×5 kernel, dilation, a 1×1 kernel, and the largest padded plane.
    macro_rules! depthwise_cases {
        () => {{
            macro_rules! dw {
                ($seed:expr, bias = $bias:expr; C=$c:literal H=$h:literal W=$w:literal
                 K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal)
                 P=($pt:literal, $pb:literal, $pl:literal, $pr:literal) D=($dh:literal, $dw:literal)) => {{
                    assert!(
                        simd::conv::depthwise::applies(($c, $c, 1, $c), ($kh, $kw), ($h + $pt + $pb, $w + $pl + $pr)),
                        "seed {}: not a geometry of the depthwise body", $seed
                    );
                    asym_case!(@body Body::Depthwise; Zeros, PaddingMode::Zeros, $seed, bias = $bias;
                        C=$c H=$h W=$w O=$c G=$c K=($kh, $kw) S=($sh, $sw) P=($pt, $pb, $pl, $pr) D=($dh, $dw));
                }};
            }
            dw!(601, bias = true; C=16 H=5 W=3 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
            // Rows longer than a vector (8 and 16 lanes), packed a vector
            // at a time, the last overlapping the one before it.
            dw!(614, bias = true; C=16 H=2 W=19 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
            #[cfg(not(miri))]
            {
                dw!(602, bias = true; C=64 H=25 W=5 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                dw!(603, bias = false; C=32 H=24 W=24 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
                dw!(604, bias = true; C=128 H=6 W=6 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                dw!(605, bias = true; C=16 H=1 W=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                dw!(606, bias = true; C=48 H=7 W=9 K=(5, 5) S=(1, 2) P=(2, 2, 2, 2) D=(1, 1));
                dw!(607, bias = true; C=16 H=9 W=8 K=(3, 3) S=(1, 1) P=(0, 2, 2, 0) D=(2, 2));
                dw!(608, bias = true; C=32 H=4 W=4 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
                dw!(609, bias = false; C=16 H=30 W=30 K=(3, 3) S=(3, 3) P=(0, 2, 0, 2) D=(1, 1));
                dw!(610, bias = true; C=256 H=3 W=3 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                // Two bands of runs of 10 + 10; two bands of 5-pixel rows
                // in pairs, the first band (51 rows) ending on a single row.
                dw!(611, bias = true; C=16 H=20 W=20 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                dw!(612, bias = false; C=16 H=60 W=5 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                // Pairs of rows at stride 2 (MobileNetV1's 12×12 → 6×6).
                dw!(613, bias = true; C=16 H=12 W=12 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
            }
        }};
    }

    #[test]
    fn depthwise_matches_reference_on_every_isa() {
        depthwise_cases!();
    }

    /// One geometry of `channels_cases!`, checked to be one the AVX2
    /// output-channel body takes (AVX-512 takes those with a multiple of
    /// 32 output channels and at most 576 weights per channel).
    macro_rules! channels_case {
        ($seed:expr, bias = $bias:expr; C=$c:literal H=$h:literal W=$w:literal O=$o:literal
         K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal)
         P=($pt:literal, $pb:literal, $pl:literal, $pr:literal) D=($dh:literal, $dw:literal)) => {{
            const OH: usize = match output_len_padded($h, $kh, $sh, $pt, $pb, $dh) { Some(n) => n, None => 0 };
            const OW: usize = match output_len_padded($w, $kw, $sw, $pl, $pr, $dw) { Some(n) => n, None => 0 };
            assert!(
                simd::conv::channels::applies(
                    simd::conv::channels::avx2::OB,
                    (1, $c, $c, $o),
                    ($kh, $kw),
                    ($sh, $sw),
                    ($pt + $pb + $pl + $pr > 0, $h + $pt + $pb, $w + $pl + $pr),
                    (OH, OW),
                ),
                "seed {}: not a geometry of the output-channel body", $seed
            );
            asym_case!(@body Body::Channels; Zeros, PaddingMode::Zeros, $seed, bias = $bias;
                C=$c H=$h W=$w O=$o G=1 K=($kh, $kw) S=($sh, $sw) P=($pt, $pb, $pl, $pr) D=($dh, $dw));
        }};
    }

    /// Geometries for the output-channel body (`simd/conv/channels.rs`),
    /// each checked to be one it takes: ResNet-8's stage-2 and stage-3
    /// layers (3×3 at stride 1, Keras "same" at stride 2, the 1×1 stride-2
    /// projections), MobileNetV1's pointwise layers (one row of a 6×6 and
    /// of a 3×3 plane), rows cut into unequal runs (13 → 7 + 6), a row of a
    /// single pixel, several bands, a tap count that is not a multiple of
    /// 16, dilation with padding on one side, stride 3 and the largest
    /// weights the AVX-512 body holds (64 channels at 3×3). Then AVX2's
    /// own: blocks of 16 channels (ResNet-8's first stage), 72 channels at
    /// 3×3 (too many weights for AVX-512's blocks of 32), and bands that
    /// end inside a vector of pixels (27-pixel rows, 9 to a band), whose
    /// whole-vector stores reach into the next band.
    macro_rules! channels_cases {
        () => {{
            channels_case!(701, bias = true; C=2 H=4 W=5 O=32 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
            // 16 channels: AVX-512F's blocks of one vector.
            channels_case!(719, bias = true; C=2 H=6 W=7 O=16 K=(3, 3) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
            #[cfg(not(miri))]
            {
                channels_case!(702, bias = true; C=32 H=16 W=16 O=32 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                channels_case!(703, bias = false; C=64 H=8 W=8 O=64 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                channels_case!(704, bias = true; C=16 H=32 W=32 O=32 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
                channels_case!(705, bias = true; C=32 H=16 W=16 O=64 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
                channels_case!(706, bias = true; C=16 H=32 W=32 O=32 K=(1, 1) S=(2, 2) P=(0, 0, 0, 0) D=(1, 1));
                channels_case!(707, bias = true; C=128 H=6 W=6 O=128 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
                channels_case!(708, bias = false; C=256 H=3 W=3 O=256 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
                channels_case!(709, bias = true; C=3 H=9 W=13 O=32 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                channels_case!(710, bias = true; C=5 H=7 W=1 O=32 K=(3, 1) S=(1, 1) P=(1, 1, 0, 0) D=(1, 1));
                channels_case!(711, bias = true; C=4 H=20 W=20 O=32 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                channels_case!(712, bias = true; C=8 H=12 W=20 O=32 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
                channels_case!(713, bias = true; C=6 H=11 W=12 O=96 K=(3, 3) S=(1, 1) P=(0, 2, 2, 0) D=(2, 2));
                channels_case!(714, bias = false; C=7 H=14 W=17 O=32 K=(2, 3) S=(3, 3) P=(0, 1, 1, 0) D=(1, 1));
                channels_case!(715, bias = true; C=64 H=10 W=10 O=32 K=(3, 3) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
            }
        }};
        (avx2) => {{
            channels_case!(716, bias = true; C=16 H=32 W=32 O=16 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
            channels_case!(717, bias = false; C=72 H=4 W=4 O=16 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
            channels_case!(718, bias = true; C=2 H=20 W=27 O=48 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
            // LeNet-5's conv2, which AVX-512F runs in blocks of one vector.
            channels_case!(720, bias = true; C=6 H=14 W=14 O=16 K=(5, 5) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
        }};
    }

    #[test]
    fn channels_matches_reference_on_every_isa() {
        channels_cases!();
    }

    /// A test of its own, not to overflow the test thread's stack in a
    /// debug build.
    #[test]
    #[cfg(not(miri))]
    fn channels_avx2_blocks_match_reference_on_every_isa() {
        channels_cases!(avx2);
    }

    /// Geometries for the row-wise depthwise body (`simd/conv/rowwise.rs`),
    /// each checked to be one it takes: MobileNetV1's 48×48 and 24×24
    /// layers at stride 1 and 2 (rows of 16 + 8 columns, Keras "same"),
    /// rows of one vector and a tail, band tails (rows not a multiple of
    /// the 8, 4 or 2 computed together), an odd width at stride 2, vertical
    /// strides 2 and 3 and vertical dilation, a 5×5 kernel, the widest
    /// kernel it takes (7 columns), padding on one side, a 1-pixel plane
    /// and DS-CNN's 5-column rows (also small enough for Miri).
    macro_rules! rowwise_cases {
        () => {{
            macro_rules! rw {
                ($seed:expr, bias = $bias:expr; C=$c:literal H=$h:literal W=$w:literal
                 K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal)
                 P=($pt:literal, $pb:literal, $pl:literal, $pr:literal) D=($dh:literal, $dw:literal)) => {{
                    assert!(
                        simd::conv::rowwise::applies(($c, $c, 1, $c), ($sw, $dw), $kw),
                        "seed {}: not a geometry of the row-wise body", $seed
                    );
                    asym_case!(@body Body::Rowwise; Zeros, PaddingMode::Zeros, $seed, bias = $bias;
                        C=$c H=$h W=$w O=$c G=$c K=($kh, $kw) S=($sh, $sw) P=($pt, $pb, $pl, $pr) D=($dh, $dw));
                }};
            }
            // Miri runs these four: two at stride 1, and two at stride 2
            // whose masked loads start left of a row and end past it.
            rw!(901, bias = true; C=3 H=5 W=18 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
            // Rows narrower than a vector: the AVX2 body stores them whole
            // but for the last rows of each plane.
            rw!(915, bias = true; C=2 H=6 W=5 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
            // Stride 2 on rows narrower than a vector of their own input,
            // and with 8 columns of padding each side (17 output columns,
            // a vector and one).
            rw!(917, bias = true; C=3 H=5 W=3 K=(3, 3) S=(2, 2) P=(1, 1, 1, 1) D=(1, 1));
            rw!(919, bias = true; C=2 H=6 W=21 K=(1, 5) S=(1, 2) P=(0, 0, 8, 8) D=(1, 1));
            #[cfg(not(miri))]
            {
                rw!(902, bias = true; C=16 H=48 W=48 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
                rw!(903, bias = false; C=8 H=48 W=48 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                rw!(904, bias = true; C=32 H=24 W=24 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
                rw!(905, bias = true; C=32 H=24 W=24 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                rw!(906, bias = true; C=3 H=7 W=35 K=(5, 5) S=(1, 1) P=(2, 2, 2, 2) D=(1, 1));
                rw!(907, bias = true; C=2 H=11 W=30 K=(3, 7) S=(2, 2) P=(1, 2, 3, 3) D=(2, 1));
                rw!(908, bias = true; C=5 H=9 W=33 K=(3, 3) S=(1, 2) P=(1, 1, 1, 1) D=(1, 1));
                rw!(909, bias = false; C=2 H=20 W=40 K=(3, 3) S=(3, 2) P=(0, 0, 0, 0) D=(1, 1));
                // Stride 2: an output row's first kernel row the previous
                // one's last with dilated rows (2 = (2 − 1)·2), split once
                // for both; a plane wider than 112 columns with 20 columns
                // of padding on the left (past what the deinterleaving path
                // this one replaced took).
                rw!(921, bias = true; C=2 H=9 W=40 K=(2, 3) S=(2, 2) P=(0, 1, 0, 1) D=(2, 1));
                rw!(922, bias = true; C=2 H=5 W=131 K=(3, 3) S=(2, 2) P=(1, 1, 20, 1) D=(1, 1));
                rw!(910, bias = true; C=16 H=1 W=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                rw!(911, bias = true; C=2 H=6 W=20 K=(1, 7) S=(1, 1) P=(0, 0, 3, 3) D=(1, 1));
                rw!(912, bias = true; C=4 H=7 W=17 K=(3, 3) S=(1, 1) P=(0, 2, 2, 0) D=(1, 1));
                rw!(913, bias = true; C=64 H=25 W=5 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                rw!(914, bias = true; C=3 H=9 W=16 K=(3, 3) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
                // 13 rows at stride 1: a band of 8 (AVX2), one of 4, one row.
                rw!(916, bias = true; C=2 H=13 W=18 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
                // Stride 2 on 2-column rows.
                rw!(918, bias = true; C=2 H=9 W=2 K=(3, 3) S=(2, 2) P=(1, 1, 1, 1) D=(1, 1));
            }
        }};
    }

    #[test]
    fn rowwise_matches_reference_on_every_isa() {
        rowwise_cases!();
    }

    /// Geometries for the row-stacked depthwise body
    /// (`simd/conv/stacked.rs`, AVX-512F; the other instruction sets run
    /// their own bodies), each checked to be one it takes: DS-CNN's 25×5
    /// planes (blocks of 4 vectors of 3 rows, and one of 1), MobileNetV1's
    /// 6×6 and 3×3, rows of 8 (whole vectors), of 1 and of 7 (the widest
    /// kernel), a 5×5 kernel, padding on one side or more than the kernel
    /// needs (taps and output rows reading only padding), none vertically,
    /// and vertical dilation.
    macro_rules! stacked_cases {
        () => {{
            macro_rules! st {
                ($seed:expr, bias = $bias:expr; C=$c:literal H=$h:literal W=$w:literal
                 K=($kh:literal, $kw:literal) P=($pt:literal, $pb:literal, $pl:literal, $pr:literal) D=$dh:literal) => {{
                    assert!(
                        simd::conv::stacked::applies(($c, $c, 1, $c), (1, 1, 1), ($w, $h + $pt + $pb + 1 - $dh * ($kh - 1) - 1, $w + $pl + $pr + 1 - $kw), ($kh, $kw, $dh, $pt, $pl)),
                        "seed {}: not a geometry of the row-stacked body", $seed
                    );
                    asym_case!(@body Body::Stacked; Zeros, PaddingMode::Zeros, $seed, bias = $bias;
                        C=$c H=$h W=$w O=$c G=$c K=($kh, $kw) S=(1, 1) P=($pt, $pb, $pl, $pr) D=($dh, 1));
                }};
            }
            // Miri runs these two: vectors reading the slot's zero margins
            // above and below the plane, and a plane of one vector.
            st!(941, bias = true; C=2 H=7 W=5 K=(3, 3) P=(1, 1, 1, 1) D=1);
            st!(942, bias = true; C=2 H=3 W=3 K=(3, 3) P=(1, 1, 1, 1) D=1);
            #[cfg(not(miri))]
            {
                st!(943, bias = true; C=64 H=25 W=5 K=(3, 3) P=(1, 1, 1, 1) D=1);
                st!(944, bias = false; C=16 H=6 W=6 K=(3, 3) P=(1, 1, 1, 1) D=1);
                st!(945, bias = true; C=3 H=9 W=8 K=(3, 3) P=(1, 1, 1, 1) D=1);
                st!(946, bias = true; C=2 H=20 W=1 K=(3, 1) P=(1, 1, 0, 0) D=1);
                st!(947, bias = true; C=2 H=11 W=7 K=(1, 7) P=(0, 0, 3, 3) D=1);
                st!(948, bias = true; C=3 H=11 W=8 K=(5, 5) P=(2, 2, 2, 2) D=1);
                st!(949, bias = true; C=2 H=10 W=6 K=(3, 3) P=(0, 2, 2, 0) D=1);
                st!(950, bias = true; C=2 H=12 W=5 K=(3, 3) P=(0, 0, 1, 1) D=1);
                st!(951, bias = true; C=2 H=2 W=4 K=(3, 3) P=(4, 3, 1, 1) D=1);
                st!(952, bias = true; C=3 H=13 W=5 K=(3, 3) P=(2, 2, 1, 1) D=2);
            }
        }};
    }

    #[test]
    fn stacked_matches_reference_on_every_isa() {
        stacked_cases!();
    }

    /// The Winograd bodies (AVX2 + FMA, and AVX-512F where the output
    /// channels are a multiple of 16; the other instruction sets, and
    /// AVX-512F on the other cases, run their own bodies) against the `f64`
    /// reference: ResNet-8's layers, padding on some sides only, more
    /// padding than the kernel needs, none, and tile rows of one and two
    /// vectors.
    #[test]
    fn winograd_matches_reference_on_every_isa() {
        macro_rules! wg {
            ($seed:expr, bias = $bias:expr; C=$c:literal H=$h:literal W=$w:literal O=$o:literal
             P=($pt:literal, $pb:literal, $pl:literal, $pr:literal)) => {{
                assert!(
                    simd::conv::winograd::applies(
                        (1, $c, $o),
                        (3, 3),
                        (1, 1),
                        (1, 1),
                        ($h + $pt + $pb - 2, $w + $pl + $pr - 2)
                    ),
                    "seed {}: not a geometry of the Winograd body", $seed
                );
                asym_case!(@body Body::Winograd; Zeros, PaddingMode::Zeros, $seed, bias = $bias;
                    C=$c H=$h W=$w O=$o G=1 K=(3, 3) S=(1, 1) P=($pt, $pb, $pl, $pr) D=(1, 1));
            }};
        }
        // Under Miri: one band, one tile row per vector; and one of two
        // tile rows per vector.
        wg!(951, bias = true; C=2 H=4 W=16 O=4 P=(1, 1, 1, 1));
        wg!(961, bias = true; C=2 H=8 W=8 O=4 P=(1, 1, 1, 1));
        // And for the AVX-512F body: two bands, and one band of tile rows of
        // 4 (each block's weights transformed as needed).
        wg!(962, bias = true; C=2 H=8 W=16 O=16 P=(1, 1, 1, 1));
        wg!(963, bias = false; C=3 H=8 W=8 O=32 P=(1, 1, 1, 1));
        #[cfg(not(miri))]
        {
            wg!(952, bias = true; C=16 H=32 W=32 O=16 P=(1, 1, 1, 1));
            wg!(953, bias = false; C=32 H=16 W=16 O=32 P=(1, 1, 1, 1));
            wg!(954, bias = true; C=4 H=17 W=16 O=8 P=(0, 1, 2, 0));
            wg!(955, bias = true; C=8 H=18 W=18 O=4 P=(0, 0, 0, 0));
            wg!(956, bias = true; C=3 H=14 W=14 O=12 P=(2, 2, 2, 2));
            wg!(957, bias = false; C=5 H=4 W=32 O=4 P=(1, 1, 1, 1));
            // Tile rows of 4 (a vector's tiles in two tile rows): ResNet-8's
            // 64-channel layer, one band (each block's weights transformed
            // as needed), and two bands (all the weights first).
            wg!(958, bias = true; C=64 H=8 W=8 O=64 P=(1, 1, 1, 1));
            wg!(959, bias = true; C=3 H=16 W=8 O=8 P=(1, 1, 1, 1));
            wg!(960, bias = false; C=6 H=10 W=9 O=4 P=(0, 0, 0, 1));
            // Tile rows of 32 (two bands per row) for the AVX-512F body.
            wg!(964, bias = true; C=2 H=4 W=64 O=16 P=(1, 1, 1, 1));
        }
    }

    /// The AVX-512F Winograd body computes what the AVX2 one does (the same
    /// transforms and products, 16 tiles per vector instead of 8), so the
    /// same bits: tile rows of 32, 16, 8 and 4 tiles, one band and several.
    #[test]
    fn winograd_avx512_gives_the_avx2_bits() {
        if !(simd::has_avx512() && simd::has_avx2_fma()) {
            return;
        }
        macro_rules! same {
            ($seed:expr; C=$c:literal H=$h:literal W=$w:literal O=$o:literal) => {{
                const C: usize = $c;
                const H: usize = $h;
                const W: usize = $w;
                const O: usize = $o;
                assert!(simd::conv::winograd::avx512::applies(
                    (1, C, O),
                    (3, 3),
                    (1, 1),
                    (1, 1),
                    (H, W)
                ));
                let mut rng = Rng::new($seed);
                let mut x = [[[0.0f32; W]; H]; C];
                rng.fill(Tensor::as_flat_mut(&mut x));
                let mut w = [[[[0.0f32; 3]; 3]; C]; O];
                rng.fill(w.as_flattened_mut().as_flattened_mut().as_flattened_mut());
                let mut b = [0.0f32; O];
                rng.fill(&mut b);
                let run = |isa| {
                    let mut y = std::boxed::Box::new([[[f32::NAN; W]; H]; O]);
                    conv2d_with::<Zeros, 1, 1, 1, 1, 1, 1, 1, 1, 1, C, H, W, O, C, 3, 3, H, W>(
                        isa,
                        Body::Winograd,
                        &x,
                        &w,
                        Some(&b),
                        &Post::NONE,
                        &mut y,
                    );
                    y
                };
                let (avx2, avx512) = (run(Isa::Avx2), run(Isa::Avx512));
                let (avx2, avx512) = (Tensor::as_flat(&*avx2), Tensor::as_flat(&*avx512));
                assert!(avx2.iter().all(|v| v.is_finite()), "seed {}", $seed);
                for (i, (a, v)) in avx2.iter().zip(avx512).enumerate() {
                    assert_eq!(
                        a.to_bits(),
                        v.to_bits(),
                        "seed {}, element {i}: {a} against {v}",
                        $seed
                    );
                }
            }};
        }
        same!(971; C=2 H=8 W=16 O=16);
        // Input channels a multiple of 16: the vectorised weight transform.
        same!(975; C=16 H=8 W=8 O=16);
        #[cfg(not(miri))]
        {
            same!(972; C=16 H=32 W=32 O=16);
            same!(973; C=5 H=4 W=64 O=32);
            same!(974; C=32 H=8 W=8 O=64);
        }
    }

    /// The dot-product body (AVX2 + FMA, and AVX-512F where the channels
    /// are a multiple of 16; the portable path runs its own loops on the
    /// same cases) against the `f64` reference: MobileNetV1's pointwise
    /// layers on 3×3 and 6×6 planes, pixel counts that leave 1 and 2 pixels
    /// after the AVX2 blocks of 3 and 1, 2 and 3 after the AVX-512F blocks
    /// of 4, a single pixel, the fewest channels it takes (8 in, 4 out),
    /// and the largest transposed input its buffer holds.
    #[test]
    fn dot_matches_reference_on_every_isa() {
        macro_rules! dt {
            ($seed:expr, bias = $bias:expr; C=$c:literal H=$h:literal W=$w:literal O=$o:literal) => {{
                assert!(
                    simd::conv::dot::applies((1, $c, $o), (1, 1), (1, 1), false, ($h, $w)),
                    "seed {}: not a geometry of the dot-product body", $seed
                );
                asym_case!(@body Body::Dot; Zeros, PaddingMode::Zeros, $seed, bias = $bias;
                    C=$c H=$h W=$w O=$o G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
            }};
        }
        // Under Miri: blocks of 3 pixels and a remainder of 2, and of 1;
        // with AVX-512F one block of 4, and one and a remainder of 3.
        dt!(971, bias = true; C=8 H=1 W=5 O=4);
        dt!(972, bias = false; C=16 H=2 W=2 O=8);
        dt!(979, bias = true; C=16 H=1 W=7 O=4);
        #[cfg(not(miri))]
        {
            dt!(973, bias = true; C=256 H=3 W=3 O=256);
            dt!(974, bias = true; C=128 H=3 W=3 O=256);
            dt!(975, bias = false; C=128 H=6 W=6 O=128);
            dt!(976, bias = true; C=64 H=1 W=1 O=12);
            dt!(977, bias = true; C=24 H=7 W=5 O=20);
            dt!(978, bias = true; C=1024 H=2 W=4 O=4);
            // With AVX-512F, a remainder of 2 pixels after a block of 4.
            dt!(980, bias = false; C=32 H=2 W=3 O=8);
        }
    }

    /// The pointwise body (AVX2 + FMA; the other instruction sets run
    /// their own bodies on the same cases) against the `f64` reference, and
    /// bit for bit against the packed body (the same sums in the same
    /// order): one vector of pixels, a vector and one overlapping it,
    /// chunks of 16 with a vector and an overlapping one after them, whole
    /// chunks, DS-CNN's 25×5 and MobileNetV1's 8 → 16 on 48×48, and output
    /// channels that leave every remainder after blocks of 6 (blocks of 4,
    /// 2 and 1).
    #[test]
    fn pointwise_matches_reference_on_every_isa() {
        macro_rules! pw {
            ($seed:expr, bias = $bias:expr; C=$c:literal H=$h:literal W=$w:literal O=$o:literal) => {{
                assert!(
                    simd::conv::pointwise::applies(1, (1, 1), (1, 1), false, ($h, $w)),
                    "seed {}: not a geometry of the pointwise body", $seed
                );
                asym_case!(@body Body::Pointwise; Zeros, PaddingMode::Zeros, $seed, bias = $bias;
                    C=$c H=$h W=$w O=$o G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
                pointwise_bits::<$c, $h, $w, $o>($seed);
            }};
        }
        // Under Miri: one vector, one and an overlapping one, with blocks
        // of 6 and 1, and of 4 and 2.
        pw!(981, bias = true; C=3 H=2 W=4 O=7);
        pw!(982, bias = false; C=2 H=3 W=3 O=12);
        #[cfg(not(miri))]
        {
            pw!(983, bias = true; C=5 H=9 W=11 O=11);
            pw!(984, bias = true; C=1 H=4 W=8 O=8);
            pw!(985, bias = true; C=16 H=6 W=4 O=3);
            pw!(986, bias = true; C=64 H=25 W=5 O=64);
            pw!(987, bias = false; C=8 H=48 W=48 O=16);
            pw!(988, bias = true; C=32 H=12 W=12 O=13);
        }
    }

    /// The pointwise body's bits equal the packed body's, with a bias and
    /// without, with AVX2 (the one instruction set it has a body for) if
    /// this CPU has it.
    fn pointwise_bits<const C: usize, const H: usize, const W: usize, const O: usize>(seed: u32) {
        let mut rng = Rng::new(seed);
        let mut x = std::vec![[[0.0f32; W]; H]; C];
        rng.fill(x.as_flattened_mut().as_flattened_mut());
        let mut w = std::vec![[[[0.0f32; 1]; 1]; C]; O];
        rng.fill(w.as_flattened_mut().as_flattened_mut().as_flattened_mut());
        let mut b = [0.0f32; O];
        rng.fill(&mut b);
        let x = <&[[[f32; W]; H]; C]>::try_from(x.as_slice()).expect("C planes");
        let w = <&[[[[f32; 1]; 1]; C]; O]>::try_from(w.as_slice()).expect("O rows");
        for isa in isas().into_iter().filter(|&isa| isa == Isa::Avx2) {
            for bias in [Some(&b), None] {
                let run = |body| {
                    let mut y = std::vec![[[f32::NAN; W]; H]; O];
                    let out =
                        <&mut [[[f32; W]; H]; O]>::try_from(y.as_mut_slice()).expect("O planes");
                    conv2d_with::<Zeros, 1, 1, 0, 0, 0, 0, 1, 1, 1, C, H, W, O, C, 1, 1, H, W>(
                        isa,
                        body,
                        x,
                        w,
                        bias,
                        &Post::NONE,
                        out,
                    );
                    y
                };
                let (pointwise, packed) = (run(Body::Pointwise), run(Body::Packed));
                assert!(
                    same_bits(
                        pointwise.as_flattened().as_flattened(),
                        packed.as_flattened().as_flattened()
                    ),
                    "seed {seed}, {isa:?}, bias {}: pointwise != packed",
                    bias.is_some()
                );
            }
        }
    }

    #[test]
    fn asymmetric_reflect_matches_reference() {
        asym_cases!(Reflect, PaddingMode::Reflect);
    }

    #[test]
    fn asymmetric_replicate_matches_reference() {
        asym_cases!(Replicate, PaddingMode::Replicate);
        asym_case!(Replicate, PaddingMode::Replicate, 250, bias = true; C=2 H=2 W=3 O=2 G=1 K=(3, 3) S=(1, 1) P=(5, 0, 0, 6) D=(1, 1));
    }

    #[test]
    fn asymmetric_circular_matches_reference() {
        asym_cases!(Circular, PaddingMode::Circular);
        // Padding equal to the input size on one side.
        asym_case!(Circular, PaddingMode::Circular, 260, bias = true; C=2 H=2 W=3 O=2 G=1 K=(3, 3) S=(1, 1) P=(2, 0, 0, 3) D=(1, 1));
    }

    /// The fused epilogue against the unfused sequence on the same
    /// instruction set (bit for bit) and against the `f64` reference (within
    /// rounding), for every combination of bias, norm, residual and
    /// activation.
    macro_rules! post_case {
        ($ty:ty, $mode:expr, $seed:expr;
         C=$c:literal H=$h:literal W=$w:literal O=$o:literal G=$g:literal
         K=($kh:literal, $kw:literal) S=($sh:literal, $sw:literal)
         P=($pt:literal, $pb:literal, $pl:literal, $pr:literal) D=($dh:literal, $dw:literal)) => {{
            const C: usize = $c;
            const G: usize = $g;
            const CG: usize = C / G;
            const O: usize = $o;
            const H: usize = $h;
            const W: usize = $w;
            const OH: usize = match output_len_padded(H, $kh, $sh, $pt, $pb, $dh) { Some(n) => n, None => 0 };
            const OW: usize = match output_len_padded(W, $kw, $sw, $pl, $pr, $dw) { Some(n) => n, None => 0 };
            const N: usize = O * OH * OW;
            let mut rng = Rng::new($seed);
            let mut x = [[[0.0f32; W]; H]; C];
            rng.fill(Tensor::as_flat_mut(&mut x));
            let mut w = [[[[0.0f32; $kw]; $kh]; CG]; O];
            rng.fill(w.as_flattened_mut().as_flattened_mut().as_flattened_mut());
            let (mut b, mut gamma, mut beta, mut mean, mut var) =
                ([0.0f32; O], [0.0f32; O], [0.0f32; O], [0.0f32; O], [0.0f32; O]);
            for v in [&mut b, &mut gamma, &mut beta, &mut mean, &mut var] {
                rng.fill(v);
            }
            for v in &mut var {
                *v = v.abs() * 2.0 + 0.1;
            }
            let mut residual = [[[0.0f32; OW]; OH]; O];
            rng.fill(Tensor::as_flat_mut(&mut residual));
            let p = Conv2dParams {
                in_channels: C,
                out_channels: O,
                kernel: ($kh, $kw),
                stride: ($sh, $sw),
                padding: (0, 0),
                dilation: ($dh, $dw),
                groups: G,
                padding_mode: $mode,
            };
            let isas = if $mode == PaddingMode::Zeros { isas() } else { std::vec![Isa::Portable] };
            for (isa, body) in isas.into_iter().flat_map(|i| [(i, Body::Simd), (i, Body::Direct)]) {
                for (k, (with_bias, with_norm, with_residual, affine)) in [
                    (true, false, false, true),
                    (false, true, false, true),
                    (true, true, false, true),
                    (true, true, false, false),
                    (true, false, true, true),
                    (false, true, true, true),
                    (true, true, true, true),
                ]
                .into_iter()
                .enumerate()
                {
                    for (j, act) in ACTS.into_iter().enumerate() {
                        // Under Miri (every operation interpreted) one
                        // activation per combination, a different one each.
                        if cfg!(miri) && j != k % ACTS.len() {
                            continue;
                        }
                        let bias = with_bias.then_some(&b);
                        let norm = with_norm.then_some(Norm {
                            weight: affine.then_some(&gamma),
                            bias: affine.then_some(&beta),
                            running_mean: &mean,
                            running_var: &var,
                            eps: 1e-5,
                        });
                        let post = Post {
                            norm,
                            residual: with_residual.then_some(&residual),
                            act,
                        };
                        let mut fused = [[[f32::NAN; OW]; OH]; O];
                        conv2d_with::<$ty, $sh, $sw, $pt, $pb, $pl, $pr, $dh, $dw, G, C, H, W, O, CG, $kh, $kw, OH, OW>(
                            isa, body, &x, &w, bias, &post, &mut fused,
                        );
                        // The unfused sequence, kernel by kernel.
                        let mut unfused = [[[f32::NAN; OW]; OH]; O];
                        conv2d_with::<$ty, $sh, $sw, $pt, $pb, $pl, $pr, $dh, $dw, G, C, H, W, O, CG, $kh, $kw, OH, OW>(
                            isa, body, &x, &w, bias, &Post::NONE, &mut unfused,
                        );
                        if let Some(n) = &norm {
                            crate::norm::batch_norm2d(&mut unfused, n.weight, n.bias, n.running_mean, n.running_var, n.eps);
                        }
                        if with_residual {
                            crate::merge::add::<N>(
                                crate::tensor::flatten_mut(&mut unfused),
                                crate::tensor::flatten(&residual),
                            );
                        }
                        standalone(act, Tensor::as_flat_mut(&mut unfused));
                        let what = std::format!(
                            "{:?} on {isa:?} ({body:?}), seed {}, bias {with_bias}, norm {with_norm} (affine {affine}), \
                             residual {with_residual}, {act:?}",
                            $mode, $seed
                        );
                        assert!(
                            same_bits(Tensor::as_flat(&fused), Tensor::as_flat(&unfused)),
                            "fused != unfused: {what}"
                        );
                        // The f64 reference: pad, convolve, normalise, add,
                        // activate. The tolerance scales with the terms
                        // summed after the convolution (the norm's shift and
                        // the residual may cancel the convolution's value).
                        let mut conv = std::vec![0.0f32; N];
                        reference_padded_conv(
                            $mode, &p, (H, W), ($pt, $pb, $pl, $pr), Tensor::as_flat(&x),
                            w.as_flattened().as_flattened().as_flattened(),
                            bias.map(|b| b.as_slice()), &mut conv,
                        );
                        let mut normed = conv.clone();
                        if let Some(n) = &norm {
                            reference::batch_norm2d(
                                &mut normed, O, n.weight.map(|w| w.as_slice()), n.bias.map(|b| b.as_slice()),
                                &mean, &var, n.eps,
                            );
                        }
                        let r = Tensor::as_flat(&residual);
                        for (i, &got) in Tensor::as_flat(&fused).iter().enumerate() {
                            let res = if with_residual { r[i] } else { 0.0 };
                            let want = reference_act(act, normed[i] + res);
                            let scale = 1.0 + conv[i].abs() * 2.0 + normed[i].abs() + res.abs();
                            assert!(
                                (got - want).abs() <= 1e-5 * scale,
                                "{what}: element {i}: got {got}, expected {want}"
                            );
                        }
                    }
                }
            }
        }};
    }

    #[test]
    fn fused_epilogue_is_the_unfused_sequence() {
        let z = PaddingMode::Zeros;
        // Under Miri (every operation interpreted) a stride-1 chunk with a
        // tail, Keras "same" at stride 2, a stride-2 depthwise and a
        // pointwise case.
        // Stride 1: the SIMD bodies' chunks and tails (16 → 8 + 8 channels,
        // 5 channels, row widths 7, 16, 32, 33), symmetric and asymmetric.
        post_case!(Zeros, z, 301; C=3 H=6 W=7 O=5 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 302; C=4 H=8 W=16 O=16 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 303; C=2 H=5 W=32 O=3 G=1 K=(3, 3) S=(1, 1) P=(0, 1, 0, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 304; C=2 H=4 W=33 O=9 G=1 K=(2, 2) S=(1, 1) P=(1, 0, 1, 0) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 305; C=6 H=14 W=14 O=16 G=1 K=(5, 5) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
        // Depthwise, grouped, dilated, a vertical stride.
        #[cfg(not(miri))]
        post_case!(Zeros, z, 306; C=4 H=9 W=9 O=4 G=4 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 307; C=4 H=7 W=10 O=6 G=2 K=(3, 3) S=(2, 1) P=(2, 0, 0, 2) D=(2, 1));
        // Stride 2 (the packed body; portable for `Body::Direct`), Keras
        // "same"; a stride-2 depthwise and a pointwise one, each with a
        // residual as wide as a vector plus a tail (the packed body's
        // store segments).
        post_case!(Zeros, z, 308; C=3 H=9 W=9 O=4 G=1 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
        post_case!(Zeros, z, 312; C=5 H=12 W=11 O=5 G=5 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
        post_case!(Zeros, z, 313; C=6 H=5 W=7 O=11 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
        // The same over whole chunks of the packed body and a tail (100
        // pixels: its contiguous stores, plain and masked).
        #[cfg(not(miri))]
        post_case!(Zeros, z, 315; C=4 H=10 W=10 O=9 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
        // The channel-blocked depthwise body: DS-CNN's 25×5 planes, and a
        // stride-2 plane whose last block of pixels is partial.
        #[cfg(not(miri))]
        post_case!(Zeros, z, 316; C=32 H=25 W=5 O=32 G=32 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 317; C=16 H=11 W=12 O=16 G=16 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
        // The row-stacked depthwise body: DS-CNN's 25×5 planes (one
        // vector of one row last), and 6×6 ones (two rows a vector).
        #[cfg(not(miri))]
        post_case!(Zeros, z, 341; C=16 H=25 W=5 O=16 G=16 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 342; C=3 H=6 W=6 O=3 G=3 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        // The row-wise depthwise body: rows of 16 + 4 columns at stride 1,
        // 13 at stride 2 (a residual and a store as wide as the row).
        #[cfg(not(miri))]
        post_case!(Zeros, z, 321; C=3 H=6 W=20 O=3 G=3 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 322; C=2 H=9 W=26 O=2 G=2 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
        // The output-channel body: a stride-1 3×3 layer whose rows are cut
        // into unequal runs, a stride-2 one whose last 16 pixels are
        // partial, and a pointwise one read as one row.
        #[cfg(not(miri))]
        post_case!(Zeros, z, 318; C=4 H=7 W=13 O=32 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 319; C=8 H=9 W=11 O=64 G=1 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 320; C=16 H=6 W=6 O=32 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
        // The Winograd body (AVX2): the epilogue after the convolution.
        #[cfg(not(miri))]
        post_case!(Zeros, z, 324; C=4 H=8 W=16 O=8 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 325; C=4 H=8 W=8 O=8 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        // The AVX-512F Winograd body: two bands of tile rows of 8, one band
        // of tile rows of 4, and tile rows of 32 (two bands per row).
        #[cfg(not(miri))]
        post_case!(Zeros, z, 331; C=16 H=8 W=16 O=16 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 332; C=4 H=8 W=8 O=32 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 333; C=3 H=4 W=64 O=16 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        // The packed body's rows of whole chunks (AVX2, 16 columns).
        #[cfg(not(miri))]
        post_case!(Zeros, z, 328; C=3 H=12 W=32 O=8 G=1 K=(3, 3) S=(2, 2) P=(0, 1, 0, 1) D=(1, 1));
        // The dot-product body (AVX2): blocks of 3 pixels, and a remainder
        // of 2.
        #[cfg(not(miri))]
        post_case!(Zeros, z, 326; C=16 H=3 W=3 O=12 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 327; C=8 H=1 W=5 O=8 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
        // The pointwise body (AVX2): chunks of 16 pixels, a vector and one
        // overlapping it (stored twice), blocks of 6, 4 and 1 channels; and
        // of 6 and 2.
        #[cfg(not(miri))]
        post_case!(Zeros, z, 329; C=5 H=9 W=11 O=11 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Zeros, z, 330; C=3 H=8 W=9 O=8 G=1 K=(1, 1) S=(1, 1) P=(0, 0, 0, 0) D=(1, 1));
        // Its AVX2 blocks of 16 channels, with bands that end inside a
        // vector of pixels (the residual read, and the stores, past them).
        #[cfg(not(miri))]
        post_case!(Zeros, z, 323; C=2 H=20 W=27 O=16 G=1 K=(3, 3) S=(1, 1) P=(1, 1, 1, 1) D=(1, 1));
        #[cfg(not(miri))] // `ds_cnn_first_layer_on_every_isa` runs it under Miri.
        post_case!(Zeros, z, 314; C=2 H=25 W=10 O=9 G=1 K=(10, 4) S=(2, 2) P=(4, 5, 1, 1) D=(1, 1));
        // The other modes (portable).
        #[cfg(not(miri))]
        post_case!(Reflect, PaddingMode::Reflect, 309; C=2 H=6 W=7 O=3 G=1 K=(3, 3) S=(1, 1) P=(1, 2, 0, 1) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Replicate, PaddingMode::Replicate, 310; C=2 H=5 W=5 O=3 G=1 K=(3, 3) S=(1, 2) P=(1, 1, 2, 0) D=(1, 1));
        #[cfg(not(miri))]
        post_case!(Circular, PaddingMode::Circular, 311; C=2 H=5 W=6 O=3 G=1 K=(3, 3) S=(1, 1) P=(0, 2, 1, 1) D=(1, 1));
    }

    /// NaN, infinities and signed zeros go through the fused epilogue as
    /// through the unfused kernels, on every instruction set.
    #[test]
    fn fused_epilogue_special_values() {
        const N: usize = 3 * 4 * 20;
        let x = [[[0.5f32; 20]; 4]; 2];
        // Weights of -0.0 on zero inputs give a -0.0 accumulator.
        let mut w = [[[[0.25f32; 3]; 3]; 2]; 3];
        w[2] = [[[-0.0; 3]; 3]; 2];
        let x0 = [[[0.0f32; 20]; 4]; 2];
        let b = [-1.0f32, 2.0, -0.0];
        let mut residual = [[[0.0f32; 20]; 4]; 3];
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            -10.0,
            10.0,
            3.0,
            -3.0,
        ];
        for (r, s) in Tensor::as_flat_mut(&mut residual)
            .iter_mut()
            .zip(specials.iter().cycle())
        {
            *r = *s;
        }
        for isa in isas() {
            for input in [&x, &x0] {
                for with_residual in [false, true] {
                    for act in ACTS {
                        let post = Post {
                            norm: None,
                            residual: with_residual.then_some(&residual),
                            act,
                        };
                        let mut fused = [[[f32::NAN; 20]; 4]; 3];
                        conv2d_with::<Zeros, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 20, 3, 2, 3, 3, 4, 20>(
                            isa,
                            Body::Simd,
                            input,
                            &w,
                            Some(&b),
                            &post,
                            &mut fused,
                        );
                        let mut unfused = [[[f32::NAN; 20]; 4]; 3];
                        conv2d_with::<Zeros, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 20, 3, 2, 3, 3, 4, 20>(
                            isa,
                            Body::Simd,
                            input,
                            &w,
                            Some(&b),
                            &Post::NONE,
                            &mut unfused,
                        );
                        if with_residual {
                            crate::merge::add::<N>(
                                crate::tensor::flatten_mut(&mut unfused),
                                crate::tensor::flatten(&residual),
                            );
                        }
                        standalone(act, Tensor::as_flat_mut(&mut unfused));
                        assert!(
                            same_bits(Tensor::as_flat(&fused), Tensor::as_flat(&unfused)),
                            "{isa:?} residual {with_residual} {act:?}"
                        );
                    }
                }
            }
            // The -0.0 channel stays -0.0 through a fused ReLU, as through
            // `act::relu`.
            let mut y = [[[f32::NAN; 20]; 4]; 3];
            let post = Post {
                act: PostAct::Relu,
                ..Post::NONE
            };
            conv2d_with::<Zeros, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 20, 3, 2, 3, 3, 4, 20>(
                isa,
                Body::Simd,
                &x0,
                &w,
                Some(&b),
                &post,
                &mut y,
            );
            assert!(
                y[2].as_flattened()
                    .iter()
                    .all(|v| v.to_bits() == (-0.0f32).to_bits()),
                "{isa:?}"
            );
        }
    }

    /// The symmetric entries are `conv2d_fused` with `PT = PB`, `PL = PR`
    /// and no epilogue: the same bits.
    #[test]
    fn symmetric_entries_are_conv2d_fused() {
        let mut rng = Rng::new(99);
        let mut x = [[[0.0f32; 11]; 7]; 3];
        rng.fill(Tensor::as_flat_mut(&mut x));
        let mut w = [[[[0.0f32; 3]; 3]; 3]; 4];
        rng.fill(w.as_flattened_mut().as_flattened_mut().as_flattened_mut());
        let b = [0.5f32, -0.5, 0.25, 0.0];
        let bits = |y: &[[[f32; 11]; 7]; 4]| -> Vec<u32> { test_util::bits(Tensor::as_flat(y)) };
        macro_rules! same {
            ($entry:ident, $ty:ty) => {{
                let mut a = [[[f32::NAN; 11]; 7]; 4];
                let mut f = [[[f32::NAN; 11]; 7]; 4];
                $entry::<1, 1, 1, 1, 1, 1, 1, 3, 7, 11, 4, 3, 3, 3, 7, 11>(
                    &x,
                    &w,
                    Some(&b),
                    &mut a,
                );
                conv2d_fused::<$ty, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 7, 11, 4, 3, 3, 3, 7, 11>(
                    &x,
                    &w,
                    Some(&b),
                    &Post::NONE,
                    &mut f,
                );
                assert_eq!(bits(&a), bits(&f), stringify!($entry));
            }};
        }
        same!(conv2d, Zeros);
        same!(conv2d_reflect, Reflect);
        same!(conv2d_replicate, Replicate);
        same!(conv2d_circular, Circular);
    }

    #[test]
    fn padding_rules() {
        assert!(padding_fits::<Reflect>(2, 2, 3) && !padding_fits::<Reflect>(3, 0, 3));
        assert!(!padding_fits::<Reflect>(0, 3, 3));
        assert!(padding_fits::<Circular>(3, 3, 3) && !padding_fits::<Circular>(0, 4, 3));
        assert!(padding_fits::<Zeros>(9, 9, 1) && padding_fits::<Replicate>(9, 9, 1));
        assert_eq!(output_len_padded(32, 3, 2, 0, 1, 1), Some(16));
        assert_eq!(output_len_padded(5, 3, 1, 0, 0, 2), Some(1));
        assert_eq!(output_len_padded(4, 3, 1, 0, 0, 2), None);
        for len in 1..6 {
            for (k, s, p, d) in [(1, 1, 0, 1), (3, 1, 1, 1), (3, 2, 1, 2), (2, 3, 0, 1)] {
                assert_eq!(
                    output_len(len, k, s, p, d),
                    output_len_padded(len, k, s, p, p, d)
                );
            }
        }
    }
}
