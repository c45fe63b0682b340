//! The *dot-product* body: 1×1 convolutions over small planes (at most
//! [`MAX_PIXELS`] pixels: MobileNetV1's last two pointwise layers, on 3×3)
//! as dot products along the input channels, with AVX2 + FMA or AVX-512F.
//!
//! # Why another body
//!
//! A 1×1 convolution is the matrix product `out[O][P] = W[O][C] · X[C][P]`
//! over the `P` pixels. The other bodies put pixels (the packed body) or
//! output channels (the output-channel body) in the vector lanes. On a
//! 3×3 plane the first wastes most lanes, and the second transposes the
//! weights into `C × 16` blocks on every call: `O·C` floats read and
//! written for `O·C·P` multiply-adds, so with `P = 9` the transposes cost
//! about as much as the products (MobileNetV1's 256 → 256 layer ran at 55%
//! of the FMA peak there). Here the lanes run along the input channels:
//! the weights are read as they are stored (row `o` of `W` is contiguous),
//! and only the *input*, `C·P` floats, is transposed, into `X[P][C]`:
//! one float moved per `O` multiply-adds instead of one per `P`.
//!
//! # The kernels
//!
//! With AVX2, each block of 4 output channels × 3 pixels keeps 12 accumulators of 8
//! lanes; each step over 8 channels loads the 4 weight vectors and the 3
//! input vectors and does 12 FMAs (7 loads per 12 FMAs: the FMA ports bound
//! it, and every operand is in L1: a block's weights `4·C` floats, the
//! transposed input `P·C`). At the end, each accumulator's 8 lanes are
//! summed (three `vhaddps` and one add for 4 of them at once) and the bias
//! added. Pixels left over (`P` not a multiple of 3) take blocks of 1 or 2.
//!
//! With AVX-512F, blocks of 4 output channels × 4 pixels, 16 accumulators
//! of 16 lanes; each step over 16 channels loads 4 weight vectors and 4
//! input vectors for 16 FMAs. The input's rows are cache-line aligned (its
//! buffer is, and `C` is a multiple of 16) but the weights' need not be,
//! and a load split across two lines takes two of the core's two load
//! slots per cycle: 4 × 4 keeps the loop within them (4 × 2 + 4 = 12 slots
//! per 8 cycles of FMAs), where 8 × 2 (18 per 8) did not, and 8 × 3 (24
//! accumulators) made LLVM spill accumulators to the stack. The sums are
//! reduced 8 vectors at a time (their 256-bit halves added pairwise, then
//! their 128-bit quarters, then within 128-bit lanes: 15 shuffles and 8
//! adds for 8 sums). Pixels left over take a block of 1, 2 or 3.
//!
//! The fused epilogue ([`crate::conv::Post`]) is applied to each block's
//! 12 sums before they are stored, with the portable code's operations in
//! its order, so a fused call is the unfused sequence bit for bit.
//!
//! # Numerics
//!
//! Each output is `bias + Σ_c w·x` summed in a different order than the
//! other bodies' (8 or 16 partial sums of every 8th or 16th channel, then
//! those added pairwise): not their bits, within the bound every body is
//! held to (`1e-5` of an `f64` reference).
//!
//! # What it takes
//!
//! Groups 1, a 1×1 kernel at stride 1 without padding, input channels a
//! multiple of 8 (of 16 for AVX-512F), output channels a multiple of 4,
//! and `P·C` within the stack buffer of [`CAP`] floats (32 KiB) for the
//! transposed input.

use super::channels::Buffer;
use super::Epilogue;
#[cfg(doc)]
use crate::conv::epilogue_plane;
use core::mem::MaybeUninit;

/// The transposed input's buffer, in floats (32 KiB).
pub(crate) const CAP: usize = 8192;

/// Output channels per block (both instruction sets).
const OB: usize = 4;

/// Pixels per block with AVX2.
const PB: usize = 3;

/// The most pixels [`profitable`] gives this body: it wins on 3×3 planes
/// and loses on 6×6 ones (measured there).
pub(crate) const MAX_PIXELS: usize = 16;

/// Whether the body computes a convolution with `g` groups, `c` input and
/// `o` output channels, a `kh × kw` kernel, strides `sh, sw`, padding or
/// not and an `oh × ow` output.
pub(crate) const fn applies(
    (g, c, o): (usize, usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    padded: bool,
    (oh, ow): (usize, usize),
) -> bool {
    g == 1
        && kh == 1
        && kw == 1
        && sh == 1
        && sw == 1
        && !padded
        && c.is_multiple_of(8)
        && o.is_multiple_of(OB)
        && oh.saturating_mul(ow).saturating_mul(c) <= CAP
}

/// Whether it beats the output-channel body where it [`applies`]: on
/// planes of at most [`MAX_PIXELS`] pixels. Measured with `taskset -c 0
/// cargo bench -p constnet-runtime --bench kernels -- mbv1/1x1` (2
/// interleaved runs, AMD Zen 3, µs, output-channel body → this one):
/// MobileNetV1's 256 → 256 on 3×3 20.1–20.5 → 15.3, 128 → 256 on 3×3
/// 10.3–10.4 → 8.85, but 128 → 128 on 6×6 14.4 → 17.6 (16 steps of 8
/// channels per block against 32: the sums' reduction and the stores
/// weigh twice as much, and 36 pixels amortise the weights' transposes).
/// The AVX-512F body, against the output-channel body on an Intel Xeon
/// with AVX-512 (`-- 'layers/(mbv1/1x1|ds_cnn/1x1)'`, 2 interleaved runs):
/// 256 → 256 on 3×3 14.0–14.9 → 9.5–11.1 µs, 128 → 256 on 3×3 6.3–7.0 →
/// 5.6–6.1, but 128 → 128 on 6×6 8.0 → 9.9 and DS-CNN's 64 → 64 on 25×5
/// (the packed body's) 6.5 → 14.7, so the same limit.
pub(crate) const fn profitable((oh, ow): (usize, usize)) -> bool {
    oh.saturating_mul(ow) <= MAX_PIXELS
}

/// `X[P][C]` from the input `[C][P]`, into `buf` (`P·C` floats).
#[inline(always)]
fn transpose<'b, const C: usize, const H: usize, const W: usize>(
    input: &[[[f32; W]; H]; C],
    buf: &'b mut [MaybeUninit<f32>],
) -> &'b [f32] {
    let pixels = H * W;
    for (c, plane) in input.iter().enumerate() {
        for (p, &x) in plane.as_flattened().iter().enumerate() {
            buf[p * C + c] = MaybeUninit::new(x);
        }
    }
    debug_assert_eq!(buf.len(), pixels * C);
    // SAFETY: every element `p·C + c` of `buf` (`p < P`, `c < C`, all
    // `P·C` of them) was just written; a `MaybeUninit<f32>` that is
    // initialised is an `f32`.
    unsafe { &*(core::ptr::from_ref::<[MaybeUninit<f32>]>(buf) as *const [f32]) }
}

/// Writes `bias + sums[p][o]`, with the epilogue, to the block's channel
/// `o` (`out`), pixel `p0 + p`. The epilogue is [`epilogue_plane`]'s
/// operations on each value, in its order.
#[inline(always)]
fn finish<const OB: usize, const OH: usize, const OW: usize, const NP: usize>(
    out: &mut [[[f32; OW]; OH]; OB],
    p0: usize,
    bias: &[f32; OB],
    ep: &Epilogue<'_, OB, OH, OW>,
    sums: &[[f32; OB]; NP],
) {
    for (p, s) in (p0..).zip(sums) {
        let mut v = *s;
        for (v, &b) in v.iter_mut().zip(bias) {
            *v += b;
        }
        if ep.any {
            if let Some(norm) = &ep.norm {
                for (v, &(alpha, beta)) in v.iter_mut().zip(norm) {
                    *v = *v * alpha + beta;
                }
            }
            if let Some(residual) = ep.residual {
                for (v, r) in v.iter_mut().zip(residual) {
                    *v += r.as_flattened()[p];
                }
            }
            ep.act.apply_all(&mut v);
        }
        for (plane, v) in out.iter_mut().zip(v) {
            plane.as_flattened_mut()[p] = v;
        }
    }
}

/// The bias of output channels `o0..o0 + OB`, zeros without one.
#[inline(always)]
fn bias_of<const OB: usize, const O: usize>(bias: Option<&[f32; O]>, o0: usize) -> [f32; OB] {
    let mut b = [0.0f32; OB];
    if let Some(bias) = bias {
        b.copy_from_slice(&bias[o0..o0 + OB]);
    }
    b
}

/// The loop both instruction sets share, expanded in each one's `conv2d`
/// (so compiled with its features): the input transposed once, then for
/// each block of [`OB`] output channels, blocks of `$pb` pixels through
/// that module's `block`, and the pixels left over in one block of as
/// many (`$tail`).
macro_rules! blocks {
    ($input:ident, $weight:ident, $bias:ident, $post:ident, $output:ident;
     $pb:ident; $($tail:literal),*) => {
        let pixels = H * W;
        let mut buf = Buffer::<CAP>::new();
        let xt = transpose($input, &mut buf.0[..pixels * C]);
        for o0 in (0..O).step_by(OB) {
            let mut rows: [&[f32]; OB] = [&[]; OB];
            for (o, row) in rows.iter_mut().enumerate() {
                *row = $weight[o0 + o].as_flattened().as_flattened();
            }
            let b = bias_of::<OB, O>($bias, o0);
            let ep = Epilogue::<OB, OH, OW>::new($post, o0);
            let out = channels!(mut $output, o0, OB);
            let mut p0 = 0;
            while p0 + $pb <= pixels {
                finish(out, p0, &b, &ep, &block::<C, $pb>(&rows, &xt[p0 * C..]));
                p0 += $pb;
            }
            match pixels - p0 {
                $($tail => finish(out, p0, &b, &ep, &block::<C, $tail>(&rows, &xt[p0 * C..])),)*
                _ => {}
            }
        }
    };
}

pub(crate) mod avx2 {
    use super::{bias_of, finish, transpose, Buffer, Epilogue, CAP, OB, PB};
    use crate::conv::Post;
    use core::arch::x86_64::{
        __m128, __m256, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps,
        _mm256_hadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm_add_ps, _mm_storeu_ps,
    };

    /// [`crate::conv::conv2d_fused`] for the geometries of
    /// [`applies`](super::applies); see the [module docs](super).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    pub(crate) fn conv2d<
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
        // Instantiated for every geometry (the dispatch picks the body at
        // run time), so not a `const` assertion; out of its geometries the
        // slicing below panics rather than read out of bounds.
        debug_assert!(
            const { super::applies((C / CG, C, O), (KH, KW), (1, 1), false, (OH, OW)) }
                && H * W == OH * OW
                && CG == C
        );
        blocks!(input, weight, bias, post, output; PB; 1, 2);
    }

    /// The sums `Σ_c W[o][c]·X[p][c]` of the block's 4 output channels
    /// (`rows`) and `NP` pixels (`xt`'s first `NP` rows of `C`), by pixel:
    /// `[p][o]`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::needless_range_loop)]
    fn block<const C: usize, const NP: usize>(rows: &[&[f32]; OB], xt: &[f32]) -> [[f32; OB]; NP] {
        let rows = [&rows[0][..C], &rows[1][..C], &rows[2][..C], &rows[3][..C]];
        let xt = &xt[..NP * C];
        let mut acc = [[_mm256_setzero_ps(); NP]; OB];
        for k in 0..C / 8 {
            let c = 8 * k;
            let mut x = [_mm256_setzero_ps(); NP];
            for p in 0..NP {
                // SAFETY: AVX is enabled on this function; `xt` holds `NP·C`
                // floats and `c + 8 = 8·(k + 1) <= C` (`k < C / 8`).
                x[p] = unsafe { _mm256_loadu_ps(xt.as_ptr().add(p * C + c)) };
            }
            for o in 0..OB {
                // SAFETY: as above, row `o` holds `C` floats.
                let w = unsafe { _mm256_loadu_ps(rows[o].as_ptr().add(c)) };
                for p in 0..NP {
                    acc[o][p] = _mm256_fmadd_ps(w, x[p], acc[o][p]);
                }
            }
        }
        let mut sums = [[0.0f32; OB]; NP];
        for p in 0..NP {
            let s: __m128 = hsum4([acc[0][p], acc[1][p], acc[2][p], acc[3][p]]);
            // SAFETY: SSE is enabled on this function (AVX2 implies it);
            // `sums[p]` holds 4 floats.
            unsafe { _mm_storeu_ps(sums[p].as_mut_ptr(), s) };
        }
        sums
    }

    /// The lane sums of 4 vectors, as the 4 lanes of one: two rounds of
    /// pairwise `vhaddps`, then the two 128-bit halves added.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn hsum4(v: [__m256; 4]) -> __m128 {
        let ab = _mm256_hadd_ps(v[0], v[1]);
        let cd = _mm256_hadd_ps(v[2], v[3]);
        let abcd = _mm256_hadd_ps(ab, cd);
        _mm_add_ps(
            _mm256_castps256_ps128(abcd),
            _mm256_extractf128_ps::<1>(abcd),
        )
    }
}

pub(crate) mod avx512 {
    use super::{bias_of, finish, transpose, Buffer, Epilogue, CAP, OB};
    use crate::conv::Post;
    use core::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_permute_ps,
        _mm512_setzero_ps, _mm512_shuffle_f32x4, _mm512_storeu_ps, _mm512_unpackhi_ps,
        _mm512_unpacklo_ps,
    };

    /// Pixels per block: 4 × 4 accumulators; 8 loads per 16 FMAs.
    const PB: usize = 4;

    /// Whether this body takes a geometry [`applies`](super::applies)
    /// accepts: the channels come 16 at a time, the output channels in
    /// blocks of 4.
    pub(crate) const fn applies(c: usize, o: usize) -> bool {
        c.is_multiple_of(16) && o.is_multiple_of(OB)
    }

    /// [`crate::conv::conv2d_fused`] for the geometries of
    /// [`applies`](super::applies) and [this module's](applies); see the
    /// [module docs](super).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    pub(crate) fn conv2d<
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
        // As in the AVX2 body: out of its geometries the slicing below
        // panics rather than read out of bounds.
        debug_assert!(
            const { super::applies((C / CG, C, O), (KH, KW), (1, 1), false, (OH, OW)) && applies(C, O) }
                && H * W == OH * OW
                && CG == C
        );
        blocks!(input, weight, bias, post, output; PB; 1, 2, 3);
    }

    /// The sums `Σ_c W[o][c]·X[p][c]` of the block's 8 output channels
    /// (`rows`) and `NP` pixels (`xt`'s first `NP` rows of `C`), by pixel:
    /// `[p][o]`. Each accumulator holds 16 partial sums, of every 16th
    /// channel.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::needless_range_loop)]
    fn block<const C: usize, const NP: usize>(rows: &[&[f32]; OB], xt: &[f32]) -> [[f32; OB]; NP] {
        let mut w = [core::ptr::null::<f32>(); OB];
        for o in 0..OB {
            w[o] = rows[o][..C].as_ptr();
        }
        let xt = &xt[..NP * C];
        let mut acc = [[_mm512_setzero_ps(); NP]; OB];
        for k in 0..C / 16 {
            let c = 16 * k;
            let mut x = [_mm512_setzero_ps(); NP];
            for p in 0..NP {
                // SAFETY: AVX-512F is enabled on this function; `xt` holds
                // `NP·C` floats and `c + 16 = 16·(k + 1) <= C` (`k < C / 16`).
                x[p] = unsafe { _mm512_loadu_ps(xt.as_ptr().add(p * C + c)) };
            }
            for o in 0..OB {
                // SAFETY: as above; `w[o]` points to row `o`'s `C` floats.
                let w = unsafe { _mm512_loadu_ps(w[o].add(c)) };
                for p in 0..NP {
                    acc[o][p] = _mm512_fmadd_ps(w, x[p], acc[o][p]);
                }
            }
        }
        // The accumulators `(p, o)` in that order, 8 at a time.
        let mut sums = [[0.0f32; OB]; NP];
        let mut i = 0;
        while i < NP * OB {
            let mut v = [_mm512_setzero_ps(); 8];
            for (j, v) in v.iter_mut().enumerate() {
                if i + j < NP * OB {
                    *v = acc[(i + j) % OB][(i + j) / OB];
                }
            }
            let s = hsum8(v);
            for (j, s) in s.iter().enumerate() {
                if i + j < NP * OB {
                    sums[(i + j) / OB][(i + j) % OB] = *s;
                }
            }
            i += 8;
        }
        sums
    }

    /// The lane sums of 8 vectors `a..h`: their halves added pairwise
    /// (`a` in lanes 0–7 and `b` in 8–15, …), then their quarters (`a..d`
    /// in the four 128-bit lanes of one vector, `e..h` of another), then
    /// within 128-bit lanes, where lanes 0 and 1 of lane group `q` end as
    /// the sums of vectors `q` and `q + 4`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn hsum8(v: [__m512; 8]) -> [f32; 8] {
        let s0 = sum_halves(v[0], v[1]);
        let s1 = sum_halves(v[2], v[3]);
        let s2 = sum_halves(v[4], v[5]);
        let s3 = sum_halves(v[6], v[7]);
        // Per pair of half sums, quarters (s0.0, s0.2, s1.0, s1.2) + (s0.1,
        // s0.3, s1.1, s1.3): 4 partial sums of a, b, c, d (of e..h in t1).
        let t0 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(s0, s1),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(s0, s1),
        );
        let t1 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(s2, s3),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(s2, s3),
        );
        // Per 128-bit lane, x of t0 and y of t1: (x0 + x2, y0 + y2, x1 +
        // x3, y1 + y3), then its two 64-bit halves added.
        let u = _mm512_add_ps(_mm512_unpacklo_ps(t0, t1), _mm512_unpackhi_ps(t0, t1));
        let u = _mm512_add_ps(u, _mm512_permute_ps::<0b01_00_11_10>(u));
        let mut lanes = [0.0f32; 16];
        // SAFETY: AVX-512F is enabled on this function; `lanes` holds 16
        // floats.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), u) };
        [
            lanes[0], lanes[4], lanes[8], lanes[12], lanes[1], lanes[5], lanes[9], lanes[13],
        ]
    }

    /// `a`'s 8 partial sums in lanes 0–7 and `b`'s in 8–15: quarters `(a0,
    /// a1, b0, b1) + (a2, a3, b2, b3)`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn sum_halves(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b01_00_01_00>(a, b),
            _mm512_shuffle_f32x4::<0b11_10_11_10>(a, b),
        )
    }
}
