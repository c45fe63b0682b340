//! SIMD bodies of [`crate::conv::conv2d_fused`] (and so of
//! [`crate::conv::conv2d`]) for zero padding: this module's *direct* body
//! for horizontal stride 1 (any vertical stride, dilation, padding on each
//! side, groups and epilogue), and the *packed* body of [`packed`] for
//! every geometry whose packed input fits its buffer — the one
//! `conv2d_with` prefers; the direct body is its fallback at stride 1.
//!
//! # Algorithm
//!
//! Direct convolution, vectorised along the output pixels and
//! register-blocked over output channels. An output channel's `OH × OW`
//! plane is contiguous, so it is cut into vectors of `LANES` consecutive
//! pixels in row-major order, regardless of rows: a vector may end one
//! output row and start the next (LeNet's 10-pixel rows fill 89% of the
//! 16-lane vectors this way instead of 62%). For a block of `OB` output
//! channels and a *chunk* of `NS` such vectors, `OB × NS` accumulators start
//! at the bias; then for every tap `(kh, c, kw)` each of the `NS` input
//! vectors is gathered from the (at most a few) input rows its pixels read,
//! with one masked unaligned load per row segment straight from the input
//! (no im2col buffer, no allocation), each of the `OB` weights
//! `weight[o][c][kh][kw]` is broadcast, and `OB × NS` fused multiply-adds
//! update the accumulators. They are stored once, contiguously, at the end,
//! through the epilogue ([`crate::conv::Post`]) if there is one: a multiply
//! and an add per vector for the norm, a masked load and an add for the
//! residual, the activation (`simd/act.rs`), all in registers and one step
//! at a time over all `OB × NS` accumulators (one branch per step, not per
//! vector) — the same operations as the unfused kernels', so the same bits.
//!
//! One input vector serves `OB` FMAs and one weight broadcast serves `NS`,
//! so the loop is bound by the FMA units, not by loads. Lanes that read the
//! zero padding (or lie past the end of the plane) are masked off: a
//! masked-off lane is not accessed and contributes `0`; row segments whose
//! input row is in the padding are skipped.
//!
//! Each output is `bias + Σ_kh Σ_c Σ_kw w·x` in that order, with one
//! rounding per FMA.
//!
//! The padding is `PT` rows above, `PB` below, `PL` columns left and `PR`
//! right. Only `PT` and `PL` shift indices; `PB` and `PR` only make the
//! output larger, and the masks below leave out whatever lies past the
//! input's last row or column, so asymmetric padding costs nothing extra.
//!
//! # Why the masked loads stay in bounds (`IN_BOUNDS`)
//!
//! A segment's load at tap `(kh, c, kw)` uses the pointer
//! `first + ih·W + base + c·H·W + kw·DW` (computed with wrapping arithmetic,
//! so forming it is never undefined), where `first` is the group's first
//! input element and `ih = row·SH + kh·DH − PT`, and touches only the lanes
//! of its mask; lane `l` is element `[c][ih][l + base + kw·DW]`. The mask is
//! empty unless the row is real (`row_offsets`: `ih` in `0..H`; without
//! vertical padding, `PT = PB = 0`, every output row of the plane reads a
//! real input row, `(OH−1)·SH + (KH−1)·DH < H`, and segments past the plane
//! have empty masks), and holds only lanes whose column `l + base + kw·DW`
//! is in `0..W` (`Segments::new`; without horizontal padding, `PL = PR = 0`,
//! the kernel column 0 mask is used for every `kw`, which is the same mask
//! because `OW − 1 + (KW−1)·DW = W − 1`). So every touched address is an
//! element of the input.

use crate::act::PostAct;
use crate::conv::Post;
use crate::norm::Norm;
use core::arch::x86_64::{
    __m256, __m256i, _mm256_add_ps, _mm256_div_ps, _mm256_fmadd_ps, _mm256_loadu_ps,
    _mm256_loadu_si256, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_mul_ps, _mm256_or_ps,
    _mm256_set1_ps, _mm256_sqrt_ps, _mm256_storeu_ps, _mm256_sub_ps, _mm512_add_ps,
    _mm512_fmadd_ps, _mm512_mask_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
    _mm512_mul_ps, _mm512_set1_ps,
};

/// Whether the SIMD bodies handle a zero-padded convolution with this
/// horizontal stride: they need stride 1 along the width (consecutive output
/// columns read consecutive input columns).
pub(crate) const fn supported(sw: usize) -> bool {
    sw == 1
}

/// Whether the SIMD bodies beat the portable one for `per_group` output and
/// `cg` input channels per group and horizontal padding `pw` (left plus
/// right). In a
/// depthwise convolution (one of each per group) every input load feeds a
/// single FMA, and with horizontal padding the column masks vary per tap:
/// the portable row loops are as fast then (1.0× on a 3×3 padded depthwise
/// layer, 56×56, measured on Zen 4; 0.7× before this rule). Without
/// padding the SIMD bodies win even there (1.3×).
pub(crate) const fn profitable(per_group: usize, cg: usize, pw: usize) -> bool {
    per_group >= 2 || cg >= 2 || pw == 0
}

/// The block size for `n` output channels when a block holds at most `max`:
/// as few blocks as possible, of nearly equal size (16 → 8 + 8, 10 → 5 + 5).
const fn block_size(n: usize, max: usize) -> usize {
    let blocks = n.div_ceil(max);
    n.div_ceil(blocks)
}

/// The most output rows a vector of `lanes` consecutive pixels of a plane
/// `ow` wide can touch.
const fn rows_per_vector(lanes: usize, ow: usize) -> usize {
    (lanes - 1).div_ceil(ow) + 1
}

/// The bit mask of lanes `lo..hi` (empty if `lo >= hi`), `hi <= 16`.
#[inline(always)]
fn lane_mask(lo: usize, hi: usize) -> u16 {
    if lo >= hi {
        return 0;
    }
    let below = |n: usize| -> u32 { (1u32 << n) - 1 };
    // `hi <= 16`, so the value fits in 16 bits.
    #[allow(clippy::cast_possible_truncation)]
    let m = (below(hi) & !below(lo)) as u16;
    m
}

/// The lanes of a 16-element load from column `s` of a row of `w` columns
/// that are columns of the row (`0 <= s + e < w`) and among the first
/// `used`: the mask of a load that reads zeros for the padding.
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)] // Sizes far below `isize::MAX`; clamped first.
#[inline]
fn row_mask(s: isize, w: usize, used: usize) -> u16 {
    let lo = (-s).clamp(0, 16) as usize;
    let hi = (w as isize - s).clamp(0, 16) as usize;
    lane_mask(lo, hi.min(used))
}

/// Where the pixels of one vector come from: the vector of `lanes` output
/// pixels starting at flat index `pv` of an `oh × ow` plane spans the output
/// rows `row[j]`, `j < rows_per_vector(lanes, ow)`. In row segment `j`,
/// lane `l` is output column `l + base[j] + pw` and, for kernel column `kw`,
/// reads input column `l + base[j] + kw·dw`: the lanes of `mask[j][kw]`
/// are those of the segment (inside the plane) whose input column lies in
/// `0..w`. Unused segments have empty masks.
struct Segments<const MS: usize, const KW: usize> {
    row: [usize; MS],
    base: [isize; MS],
    mask: [[u16; KW]; MS],
}

impl<const MS: usize, const KW: usize> Segments<MS, KW> {
    #[inline(always)]
    #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)] // Sizes are far below `isize::MAX`; clamped at 0 first.
    #[allow(clippy::too_many_arguments)]
    fn new(pv: usize, lanes: usize, oh: usize, ow: usize, w: usize, pw: usize, dw: usize) -> Self {
        let plane_end = (oh * ow).saturating_sub(pv).min(lanes);
        let r0 = pv / ow;
        let mut seg = Segments {
            row: [0; MS],
            base: [0; MS],
            mask: [[0; KW]; MS],
        };
        for j in 0..rows_per_vector(lanes, ow).min(MS) {
            let r = r0 + j;
            // The lanes of row `r`, clipped to the plane.
            let lo = (r * ow).saturating_sub(pv).min(lanes);
            let hi = ((r + 1) * ow).saturating_sub(pv).min(plane_end);
            let base = pv as isize - (r * ow) as isize - pw as isize;
            seg.row[j] = r;
            seg.base[j] = base;
            for kw in 0..KW {
                // Input column `l + b` in `0..w`.
                let b = base + (kw * dw) as isize;
                let in_lo = (-b).max(0) as usize;
                let in_hi = (w as isize - b).max(0) as usize;
                seg.mask[j][kw] = lane_mask(lo.max(in_lo), hi.min(in_hi));
            }
        }
        seg
    }
}

/// The `Segments` of the `NS` vectors from flat pixel `p0`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn segments<const NS: usize, const MS: usize, const KW: usize>(
    p0: usize,
    lanes: usize,
    oh: usize,
    ow: usize,
    w: usize,
    pw: usize,
    dw: usize,
) -> [Segments<MS, KW>; NS] {
    let mut seg = [const {
        Segments {
            row: [0; MS],
            base: [0; MS],
            mask: [[0; KW]; MS],
        }
    }; NS];
    for (s, seg) in seg.iter_mut().enumerate() {
        *seg = Segments::new(p0 + s * lanes, lanes, oh, ow, w, pw, dw);
    }
    seg
}

/// For kernel row `kh`, per segment of each vector: the offset of lane 0's
/// pixel of kernel column 0 from the first input element (channel 0), and
/// whether the input row it reads, `ih = row·SH + kh·DH − PT`, is in `0..H`.
/// The offset is meaningful only where it is.
#[inline(always)]
#[allow(clippy::cast_possible_wrap)] // Sizes are far below `isize::MAX`.
fn row_offsets<
    const NS: usize,
    const MS: usize,
    const KW: usize,
    const SH: usize,
    const PT: usize,
    const PB: usize,
    const DH: usize,
    const H: usize,
    const W: usize,
>(
    seg: &[Segments<MS, KW>; NS],
    nseg: usize,
    kh: usize,
) -> ([[isize; MS]; NS], [[bool; MS]; NS]) {
    let mut offset = [[0isize; MS]; NS];
    let mut valid = [[false; MS]; NS];
    for s in 0..NS {
        for j in 0..nseg.min(MS) {
            let ih = (seg[s].row[j] * SH + kh * DH) as isize - PT as isize;
            // Without vertical padding every row of the plane reads a real
            // input row, and the segments past the plane have empty masks.
            valid[s][j] = (PT == 0 && PB == 0) || (0..H as isize).contains(&ih);
            offset[s][j] = ih * W as isize + seg[s].base[j];
        }
    }
    (offset, valid)
}

/// Splits off the `n`-channel slice of a weight or output tensor starting at
/// channel `o` as an array of `N == n` channels.
macro_rules! channels {
    ($t:expr, $o:expr, $n:ident) => {
        <&[_; $n]>::try_from(&$t[$o..$o + $n]).expect("block within the output channels")
    };
    (mut $t:expr, $o:expr, $n:ident) => {
        <&mut [_; $n]>::try_from(&mut $t[$o..$o + $n]).expect("block within the output channels")
    };
}

/// Calls `$f::<OB, …>` for a run-time block size `1..=8`.
macro_rules! with_block_size {
    ($n:expr, $f:ident :: <$($g:tt),*>($($arg:expr),*)) => {
        match $n {
            1 => $f::<1, $($g),*>($($arg),*),
            2 => $f::<2, $($g),*>($($arg),*),
            3 => $f::<3, $($g),*>($($arg),*),
            4 => $f::<4, $($g),*>($($arg),*),
            5 => $f::<5, $($g),*>($($arg),*),
            6 => $f::<6, $($g),*>($($arg),*),
            7 => $f::<7, $($g),*>($($arg),*),
            _ => $f::<8, $($g),*>($($arg),*),
        }
    };
}

/// Calls `$f::<R, …>` for a run length `R` of `1..=12` (`channels::runs`),
/// the micro-kernels of the `channels` and `depthwise` bodies. Called with
/// a constant (`{ const { … } }`) as `$n`, only the matching arm is
/// instantiated.
macro_rules! with_run_length {
    ($n:expr, $f:ident :: <$($g:tt),*>($($arg:expr),*)) => {
        match $n {
            1 => $f::<1, $($g),*>($($arg),*),
            2 => $f::<2, $($g),*>($($arg),*),
            3 => $f::<3, $($g),*>($($arg),*),
            4 => $f::<4, $($g),*>($($arg),*),
            5 => $f::<5, $($g),*>($($arg),*),
            6 => $f::<6, $($g),*>($($arg),*),
            7 => $f::<7, $($g),*>($($arg),*),
            8 => $f::<8, $($g),*>($($arg),*),
            9 => $f::<9, $($g),*>($($arg),*),
            10 => $f::<10, $($g),*>($($arg),*),
            11 => $f::<11, $($g),*>($($arg),*),
            _ => $f::<12, $($g),*>($($arg),*),
        }
    };
}

/// The epilogue of one block of `OB` output channels starting at channel
/// `o`: [`Post`] restricted to the block, with the norm's coefficients
/// (one square root per channel, once per call: each channel is in one
/// block).
struct Epilogue<'a, const OB: usize, const OH: usize, const OW: usize> {
    /// `(alpha, beta)` of each channel: `y = acc · alpha + beta`.
    norm: Option<[(f32, f32); OB]>,
    /// The residual's planes of the block's channels.
    residual: Option<&'a [[[f32; OW]; OH]; OB]>,
    act: PostAct,
    /// Whether any of the above does something.
    any: bool,
}

impl<'a, const OB: usize, const OH: usize, const OW: usize> Epilogue<'a, OB, OH, OW> {
    /// The epilogue of channels `o..o + OB` (`o + OB <= O`). Compiled
    /// with AVX (every body has it): the norm's coefficients are worked out
    /// 8 channels at a time in 8-lane vectors, `alpha = (1 / sqrt(var +
    /// eps)) · weight` and `beta = bias − mean · alpha`, each operation
    /// correctly rounded as in `norm::alpha_beta`, so the bits are the
    /// same (one channel at a time, a scalar square root and a division
    /// each, they took 3.7% of DS-CNN's time under `perf`). The packed
    /// body's depthwise path takes all `O` channels' coefficients at once
    /// from the same function.
    #[target_feature(enable = "avx")]
    #[inline]
    fn new<const O: usize>(post: &Post<'a, O, OH, OW>, o: usize) -> Self {
        Epilogue {
            norm: post.norm.map(|n| coefficients(&n, o)),
            residual: post.residual.map(|r| channels!(r, o, OB)),
            act: post.act,
            any: !post.is_none(),
        }
    }
}

/// The norm's `(alpha, beta)` of channels `o..o + OB`, 8 at a time; see
/// [`Epilogue::new`].
#[target_feature(enable = "avx")]
#[inline]
fn coefficients<const O: usize, const OB: usize>(n: &Norm<'_, O>, o: usize) -> [(f32, f32); OB] {
    let mut out = [(0.0, 0.0); OB];
    for (k, out) in out.chunks_mut(8).enumerate() {
        let first = o + k * 8;
        // The chunk's inputs, lanes past it neutral (1 / sqrt(1) · 1).
        let lanes = |x: Option<&[f32; O]>, neutral: f32| {
            let mut v = [neutral; 8];
            if let Some(x) = x {
                for (v, x) in v.iter_mut().zip(&x[first..o + OB]) {
                    *v = *x;
                }
            }
            // SAFETY: AVX is enabled; `v` holds 8 floats.
            unsafe { _mm256_loadu_ps(v.as_ptr()) }
        };
        let weight = lanes(n.weight, 1.0);
        let bias = lanes(n.bias, 0.0);
        let mean = lanes(Some(n.running_mean), 0.0);
        let var = lanes(Some(n.running_var), 1.0);
        let std = _mm256_sqrt_ps(_mm256_add_ps(var, _mm256_set1_ps(n.eps)));
        let alpha = _mm256_mul_ps(_mm256_div_ps(_mm256_set1_ps(1.0), std), weight);
        let beta = _mm256_sub_ps(bias, _mm256_mul_ps(mean, alpha));
        let (mut a, mut b) = ([0.0f32; 8], [0.0f32; 8]);
        // SAFETY: AVX is enabled; `a` and `b` hold 8 floats.
        unsafe {
            _mm256_storeu_ps(a.as_mut_ptr(), alpha);
            _mm256_storeu_ps(b.as_mut_ptr(), beta);
        }
        for (i, out) in out.iter_mut().enumerate() {
            *out = (a[i], b[i]);
        }
    }
    out
}

/// The body shared by both instruction sets: `conv2d` splits the output
/// channels of each group into blocks, `block` runs the chunks of one block
/// through `chunk`, the micro-kernel, which each module writes with its own
/// intrinsics.
macro_rules! conv_driver {
    ($feature:literal, $max_ob:expr, $lanes:expr, $ns:literal) => {
        /// [`crate::conv::conv2d_fused`] for zero padding and `SW == 1`; see
        /// the [module docs](super).
        #[target_feature(enable = $feature)]
        #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
        pub(crate) fn conv2d<
            const SH: usize,
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
            let per_group = O / G;
            let size = block_size(per_group, $max_ob);
            for g in 0..G {
                let in_group = <&[_; CG]>::try_from(&input[g * CG..(g + 1) * CG])
                    .expect("group within the input channels");
                let end = (g + 1) * per_group;
                let mut o = g * per_group;
                while o < end {
                    let n = size.min(end - o);
                    with_block_size!(
                        n,
                        block::<SH, PT, PB, PL, PR, DH, DW, H, W, O, CG, KH, KW, OH, OW>(
                            in_group, weight, bias, post, output, o
                        )
                    );
                    o += n;
                }
            }
        }

        /// Output channels `o..o + OB`: the plane in chunks of `$ns`
        /// vectors, and a last chunk of one or two.
        #[target_feature(enable = $feature)]
        #[allow(clippy::too_many_arguments)]
        fn block<
            const OB: usize,
            const SH: usize,
            const PT: usize,
            const PB: usize,
            const PL: usize,
            const PR: usize,
            const DH: usize,
            const DW: usize,
            const H: usize,
            const W: usize,
            const O: usize,
            const CG: usize,
            const KH: usize,
            const KW: usize,
            const OH: usize,
            const OW: usize,
        >(
            input: &[[[f32; W]; H]; CG],
            weight: &[[[[f32; KW]; KH]; CG]; O],
            bias: Option<&[f32; O]>,
            post: &Post<'_, O, OH, OW>,
            output: &mut [[[f32; OW]; OH]; O],
            o: usize,
        ) {
            let weight = channels!(weight, o, OB);
            let output = channels!(mut output, o, OB);
            let mut b = [0.0f32; OB];
            if let Some(bias) = bias {
                b.copy_from_slice(&bias[o..o + OB]);
            }
            let ep = Epilogue::<OB, OH, OW>::new(post, o);
            let pixels = OH * OW;
            let mut pv = 0;
            while pv + ($ns - 1) * $lanes < pixels {
                chunk::<OB, $ns, SH, PT, PB, PL, PR, DH, DW, H, W, CG, KH, KW, OH, OW>(
                    input, weight, &b, &ep, output, pv,
                );
                pv += $ns * $lanes;
            }
            match (pixels - pv.min(pixels)).div_ceil($lanes) {
                0 => {}
                1 => chunk::<OB, 1, SH, PT, PB, PL, PR, DH, DW, H, W, CG, KH, KW, OH, OW>(
                    input, weight, &b, &ep, output, pv,
                ),
                _ => chunk::<OB, 2, SH, PT, PB, PL, PR, DH, DW, H, W, CG, KH, KW, OH, OW>(
                    input, weight, &b, &ep, output, pv,
                ),
            }
        }
    };
}

/// The AVX-512F body: 16 lanes, up to 8 output channels × 3 vectors
/// (24 of the 32 `zmm` registers) per chunk.
pub(crate) mod avx512 {
    #![allow(clippy::wildcard_imports)]
    use super::*;
    use crate::simd::act::post_act512;

    const LANES: usize = 16;
    /// `Segments` capacity: `rows_per_vector(16, 1)`.
    const MS: usize = 16;

    conv_driver!("avx512f", 8, LANES, 3);

    /// The micro-kernel: output channels `0..OB` of the block, the `NS`
    /// vectors of pixels from flat index `p0`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    fn chunk<
        const OB: usize,
        const NS: usize,
        const SH: usize,
        const PT: usize,
        const PB: usize,
        const PL: usize,
        const PR: usize,
        const DH: usize,
        const DW: usize,
        const H: usize,
        const W: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    >(
        input: &[[[f32; W]; H]; CG],
        weight: &[[[[f32; KW]; KH]; CG]; OB],
        bias: &[f32; OB],
        ep: &Epilogue<'_, OB, OH, OW>,
        output: &mut [[[f32; OW]; OH]; OB],
        p0: usize,
    ) {
        let nseg = const { rows_per_vector(LANES, OW) };
        let seg = segments::<NS, MS, KW>(p0, LANES, OH, OW, W, PL, DW);
        let mut acc = [[_mm512_set1_ps(0.0); NS]; OB];
        for ob in 0..OB {
            acc[ob] = [_mm512_set1_ps(bias[ob]); NS];
        }
        let plane = H * W;
        let first = input.as_ptr().cast::<f32>();
        for kh in 0..KH {
            let (offset, valid) = row_offsets::<NS, MS, KW, SH, PT, PB, DH, H, W>(&seg, nseg, kh);
            for c in 0..CG {
                for kw in 0..KW {
                    // Without horizontal padding every lane of a segment
                    // reads a real input column for every `kw`: one mask.
                    let mask_kw = if PL == 0 && PR == 0 { 0 } else { kw };
                    let mut x = [_mm512_set1_ps(0.0); NS];
                    for s in 0..NS {
                        for j in 0..nseg {
                            let m = if valid[s][j] {
                                seg[s].mask[j][mask_kw]
                            } else {
                                0
                            };
                            let p = first
                                .wrapping_offset(offset[s][j])
                                .wrapping_add(c * plane + kw * DW);
                            // SAFETY: AVX-512F is enabled on this function.
                            // The load touches only the lanes of `m` (see
                            // `IN_BOUNDS` above): each `p + l` is element
                            // `[c][ih][l + base + kw·DW]` of `input`, in
                            // bounds. Masked-off lanes are not accessed and
                            // keep the value of `x[s]` (zero, or another
                            // segment's).
                            x[s] = unsafe { _mm512_mask_loadu_ps(x[s], m, p) };
                        }
                    }
                    for ob in 0..OB {
                        let w = _mm512_set1_ps(weight[ob][c][kh][kw]);
                        for s in 0..NS {
                            acc[ob][s] = _mm512_fmadd_ps(w, x[s], acc[ob][s]);
                        }
                    }
                }
            }
        }
        // The epilogue, one step at a time over all the accumulators (a
        // branch per step, not per vector), in registers.
        if ep.any {
            if let Some(norm) = &ep.norm {
                for ob in 0..OB {
                    let (alpha, beta) = norm[ob];
                    let (alpha, beta) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
                    for s in 0..NS {
                        acc[ob][s] = _mm512_add_ps(_mm512_mul_ps(acc[ob][s], alpha), beta);
                    }
                }
            }
            if let Some(residual) = ep.residual {
                for ob in 0..OB {
                    let r = residual[ob].as_flattened();
                    for s in 0..NS {
                        let pv = p0 + s * LANES;
                        let n = r.len().saturating_sub(pv).min(LANES);
                        // SAFETY: AVX-512F is enabled on this function. The
                        // load reads only lanes `0..n`, elements
                        // `pv..pv + n <= OH·OW` of the plane `r`.
                        let rv = unsafe {
                            _mm512_maskz_loadu_ps(lane_mask(0, n), r.as_ptr().wrapping_add(pv))
                        };
                        acc[ob][s] = _mm512_add_ps(acc[ob][s], rv);
                    }
                }
            }
            post_act512(acc.as_flattened_mut(), ep.act);
        }
        for ob in 0..OB {
            let plane = output[ob].as_flattened_mut();
            for s in 0..NS {
                let pv = p0 + s * LANES;
                let n = plane.len().saturating_sub(pv).min(LANES);
                // SAFETY: AVX-512F is enabled on this function. The store
                // writes only lanes `0..n`, pixels `pv..pv + n` with
                // `pv + n <= OH·OW`: inside `plane`.
                unsafe {
                    _mm512_mask_storeu_ps(
                        plane.as_mut_ptr().wrapping_add(pv),
                        lane_mask(0, n),
                        acc[ob][s],
                    );
                }
            }
        }
    }
}

/// `vmaskmov` masks: entry `m` has lane `l` all ones iff bit `l` of `m` is
/// set.
static MASK8: [[i32; 8]; 256] = {
    let mut t = [[0; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let mut l = 0;
        while l < 8 {
            if (m >> l) & 1 == 1 {
                t[m][l] = -1;
            }
            l += 1;
        }
        m += 1;
    }
    t
};

/// The `vmaskmov` mask of the lanes set in `m` (`m < 256`): a row of
/// [`MASK8`].
#[target_feature(enable = "avx")]
#[inline]
fn mask8(m: u16) -> __m256i {
    let row = &MASK8[usize::from(m) & 0xFF];
    // SAFETY: AVX is enabled on this function; `row` is 8 `i32`s, 32 bytes,
    // and the load is unaligned.
    unsafe { _mm256_loadu_si256(row.as_ptr().cast()) }
}

/// The AVX2 + FMA body: 8 lanes, up to 4 output channels × 2 vectors
/// (8 of the 16 `ymm` registers; larger blocks spill) per chunk.
pub(crate) mod avx2 {
    #![allow(clippy::wildcard_imports)]
    use super::*;
    use crate::simd::act::post_act256;

    const LANES: usize = 8;
    /// `Segments` capacity: `rows_per_vector(8, 1)`.
    const MS: usize = 8;

    conv_driver!("avx2,fma", 4, LANES, 2);

    /// The micro-kernel: output channels `0..OB` of the block, the `NS`
    /// vectors of pixels from flat index `p0`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    fn chunk<
        const OB: usize,
        const NS: usize,
        const SH: usize,
        const PT: usize,
        const PB: usize,
        const PL: usize,
        const PR: usize,
        const DH: usize,
        const DW: usize,
        const H: usize,
        const W: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    >(
        input: &[[[f32; W]; H]; CG],
        weight: &[[[[f32; KW]; KH]; CG]; OB],
        bias: &[f32; OB],
        ep: &Epilogue<'_, OB, OH, OW>,
        output: &mut [[[f32; OW]; OH]; OB],
        p0: usize,
    ) {
        let nseg = const { rows_per_vector(LANES, OW) };
        let seg = segments::<NS, MS, KW>(p0, LANES, OH, OW, W, PL, DW);
        let mut acc = [[_mm256_set1_ps(0.0); NS]; OB];
        for ob in 0..OB {
            acc[ob] = [_mm256_set1_ps(bias[ob]); NS];
        }
        let plane = H * W;
        let first = input.as_ptr().cast::<f32>();
        for kh in 0..KH {
            let (offset, valid) = row_offsets::<NS, MS, KW, SH, PT, PB, DH, H, W>(&seg, nseg, kh);
            for c in 0..CG {
                for kw in 0..KW {
                    // Without horizontal padding every lane of a segment
                    // reads a real input column for every `kw`: one mask.
                    let mask_kw = if PL == 0 && PR == 0 { 0 } else { kw };
                    let mut x: [__m256; NS] = [_mm256_set1_ps(0.0); NS];
                    for s in 0..NS {
                        for j in 0..nseg {
                            let m = seg[s].mask[j][mask_kw];
                            if !valid[s][j] || m == 0 {
                                continue;
                            }
                            let p = first
                                .wrapping_offset(offset[s][j])
                                .wrapping_add(c * plane + kw * DW);
                            // SAFETY: AVX is enabled on this function.
                            // `vmaskmovps` touches only the lanes set in `m`
                            // (see `IN_BOUNDS` above): each `p + l` is element
                            // `[c][ih][l + base + kw·DW]` of `input`, in
                            // bounds. Masked-off lanes are not accessed (no
                            // fault) and read as zero, so the OR merges the
                            // segments.
                            let v = unsafe { _mm256_maskload_ps(p, mask8(m)) };
                            x[s] = _mm256_or_ps(x[s], v);
                        }
                    }
                    for ob in 0..OB {
                        let w = _mm256_set1_ps(weight[ob][c][kh][kw]);
                        for s in 0..NS {
                            acc[ob][s] = _mm256_fmadd_ps(w, x[s], acc[ob][s]);
                        }
                    }
                }
            }
        }
        // The epilogue, one step at a time over all the accumulators (a
        // branch per step, not per vector), in registers.
        if ep.any {
            if let Some(norm) = &ep.norm {
                for ob in 0..OB {
                    let (alpha, beta) = norm[ob];
                    let (alpha, beta) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
                    for s in 0..NS {
                        acc[ob][s] = _mm256_add_ps(_mm256_mul_ps(acc[ob][s], alpha), beta);
                    }
                }
            }
            if let Some(residual) = ep.residual {
                for ob in 0..OB {
                    let r = residual[ob].as_flattened();
                    for s in 0..NS {
                        let pv = p0 + s * LANES;
                        let n = r.len().saturating_sub(pv).min(LANES);
                        let p = r.as_ptr().wrapping_add(pv);
                        let rv = if n == LANES {
                            // SAFETY: AVX is enabled on this function;
                            // elements `pv..pv + 8` of the plane `r` exist.
                            unsafe { _mm256_loadu_ps(p) }
                        } else {
                            // SAFETY: AVX is enabled on this function;
                            // `vmaskmovps` reads only lanes `0..n`, elements
                            // `pv..pv + n <= OH·OW` of the plane `r`.
                            unsafe { _mm256_maskload_ps(p, mask8(lane_mask(0, n))) }
                        };
                        acc[ob][s] = _mm256_add_ps(acc[ob][s], rv);
                    }
                }
            }
            post_act256(acc.as_flattened_mut(), ep.act);
        }
        for ob in 0..OB {
            let plane = output[ob].as_flattened_mut();
            for s in 0..NS {
                let pv = p0 + s * LANES;
                let n = plane.len().saturating_sub(pv).min(LANES);
                let dst = plane.as_mut_ptr().wrapping_add(pv);
                if n == LANES {
                    // SAFETY: AVX is enabled on this function; pixels
                    // `pv..pv + 8` are inside `plane`.
                    unsafe { _mm256_storeu_ps(dst, acc[ob][s]) };
                } else if n > 0 {
                    // SAFETY: AVX is enabled on this function; the store
                    // writes only lanes `0..n`, pixels `pv..pv + n` inside
                    // `plane`, and does not touch the others.
                    unsafe { _mm256_maskstore_ps(dst, mask8(lane_mask(0, n)), acc[ob][s]) };
                }
            }
        }
    }
}

/// The packed body (after the macros above, which it uses).
pub(crate) mod channels;
pub(crate) mod depthwise;
pub(crate) mod dot;
pub(crate) mod packed;
pub(crate) mod pointwise;
pub(crate) mod rowwise;
pub(crate) mod stacked;
mod vector;
pub(crate) mod winograd;

#[cfg(test)]
mod tests {
    use super::channels::{avx512, one_vector_pays, profitable, runs};
    use super::coefficients;
    use crate::norm::Norm;

    /// Rows are cut into as few runs as the longest allows, each `long` or
    /// one shorter, the long ones first, covering the row exactly: every
    /// row width up to 300 pixels with runs of at most 6 and 12.
    #[test]
    fn runs_are_balanced() {
        assert_eq!(runs(32, 6), (6, 5, 2));
        assert_eq!(runs(16, 6), (6, 5, 1));
        assert_eq!(runs(16, 12), (8, 8, 0));
        assert_eq!(runs(13, 12), (7, 6, 1));
        for max in [6, 12] {
            for n in 1..=300 {
                let (long, short, longs) = runs(n, max);
                let count = n.div_ceil(max);
                assert!(long <= max && short >= 1, "{n} in runs of {max}");
                assert!(long == short || long == short + 1, "{n}, {max}");
                assert!(longs < count || long == short, "{n}, {max}");
                assert_eq!(longs * long + (count - longs) * short, n, "{n}, {max}");
            }
        }
    }

    /// Which unpadded 1×1 convolutions leave the output-channel body for the
    /// packed one: with AVX-512F at stride 1, those over whole vectors of
    /// pixels or nearly (DS-CNN's 125 = 8·16 − 3), not over a 6×6 plane (36
    /// of 48 lanes) or 14 pixels; with AVX2 only whole vectors, at any stride.
    #[test]
    fn one_by_one_bodies() {
        let one = |avx2, s, plane| profitable(avx2, (1, 1), (s, s), false, plane);
        assert!(!one(false, 1, (12, 12)) && !one(false, 1, (25, 5)));
        assert!(one(false, 1, (6, 6)) && one(false, 1, (3, 3)) && one(false, 1, (14, 1)));
        assert!(one(false, 2, (16, 16)) && one(false, 2, (25, 5)));
        assert!(!one(true, 1, (12, 12)) && !one(true, 2, (16, 16)));
        assert!(one(true, 1, (25, 5)) && one(true, 1, (6, 6)));
        // No overflow, whatever the plane's size.
        assert!(!one(false, 1, (usize::MAX, 1)) && !one(false, 1, (usize::MAX - 1, 1)));
        assert!(profitable(false, (3, 3), (1, 1), true, (16, 16)));
        assert!(profitable(false, (1, 1), (1, 1), true, (16, 16)));
    }

    /// AVX-512F's blocks: two vectors where the channels are a multiple of
    /// 32, one where only of 16, none otherwise; one vector pays where more
    /// than a fifth of the packed body's lanes would be junk columns
    /// (LeNet-5's conv2, 4 of 14), not on ResNet-8's 32×32 planes (2 of 34)
    /// nor at stride 2 (1 of 17).
    #[test]
    fn avx512_blocks() {
        let vectors =
            |c, o| avx512::vectors((1, c, c, o), (3, 3), (1, 1), (true, 34, 34), (32, 32));
        assert_eq!(
            (vectors(16, 32), vectors(16, 64), vectors(16, 96)),
            (2, 2, 2)
        );
        assert_eq!((vectors(16, 16), vectors(3, 48)), (1, 1));
        assert_eq!((vectors(16, 8), vectors(16, 24)), (0, 0));
        assert!(one_vector_pays(5, 1, 1, 10));
        assert!(!one_vector_pays(3, 1, 1, 32) && !one_vector_pays(3, 2, 1, 16));
        assert!(!one_vector_pays(1, 1, 1, 7) && !one_vector_pays(3, 1, 1, 9));
        assert!(one_vector_pays(3, 1, 1, 7) && one_vector_pays(3, 1, 2, 9));
        assert!(one_vector_pays(usize::MAX, 1, usize::MAX, usize::MAX - 1));
        assert!(!one_vector_pays(usize::MAX, 1, usize::MAX, usize::MAX));
    }

    /// The vectorised coefficients are `Norm::coefficients`' bit for bit:
    /// random channels, and the special ones (a zero variance with a zero
    /// `eps`, a negative one, NaN and infinite inputs, signed zeros), with
    /// and without the affine parameters, for blocks of 5, 8 and 16
    /// channels at every offset the bodies use.
    #[test]
    fn epilogue_coefficients_are_the_norms() {
        const O: usize = 32;
        let mut state = 0x2545_f491_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            f32::from_bits(0x3f80_0000 | (state >> 9)) * 4.0 - 6.0
        };
        let (mut w, mut b, mut mean, mut var) =
            ([0.0f32; O], [0.0f32; O], [0.0f32; O], [0.0f32; O]);
        for i in 0..O {
            (w[i], b[i], mean[i], var[i]) = (next(), next(), next(), next().abs());
        }
        let specials = [
            (f32::NAN, 1.0, 0.0, 1.0),
            (1.0, f32::INFINITY, 0.0, 1.0),
            (1.0, 0.0, f32::NEG_INFINITY, 1.0),
            (1.0, 0.0, 0.0, 0.0),
            (1.0, 0.0, 0.0, -1.0),
            (-0.0, -0.0, 0.0, 2.0),
            (2.0, 1.0, 3.0, f32::INFINITY),
            (1.0, 1.0, 1.0, f32::NAN),
        ];
        for (i, &(ws, bs, ms, vs)) in specials.iter().enumerate() {
            (w[i], b[i], mean[i], var[i]) = (ws, bs, ms, vs);
        }
        if !std::is_x86_feature_detected!("avx") {
            return;
        }
        for eps in [1e-5, 0.0] {
            for affine in [true, false] {
                let n = Norm {
                    weight: affine.then_some(&w),
                    bias: affine.then_some(&b),
                    running_mean: &mean,
                    running_var: &var,
                    eps,
                };
                let want: std::vec::Vec<(f32, f32)> = n.coefficients().collect();
                let same = |got: &[(f32, f32)], o: usize| {
                    for (i, (g, e)) in got.iter().zip(&want[o..]).enumerate() {
                        assert!(
                            g.0.to_bits() == e.0.to_bits() && g.1.to_bits() == e.1.to_bits(),
                            "channel {}: {g:?} against {e:?} (eps {eps}, affine {affine})",
                            o + i
                        );
                    }
                };
                for o in [0, 3, 8, 16] {
                    // SAFETY: the CPU has AVX (checked above), the feature of
                    // `coefficients`.
                    let (five, eight, sixteen) = unsafe {
                        (
                            coefficients::<O, 5>(&n, o),
                            coefficients::<O, 8>(&n, o),
                            coefficients::<O, 16>(&n, o),
                        )
                    };
                    same(&five, o);
                    same(&eight, o);
                    same(&sixteen, o);
                }
            }
        }
    }
}
