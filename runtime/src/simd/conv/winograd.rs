//! The *Winograd* body: 3×3 convolutions at stride 1 computed as
//! F(2×2, 3×3) (Lavin & Gray, *Fast Algorithms for Convolutional Neural
//! Networks*, 2016), with AVX2 + FMA ([`avx2`]) and with AVX-512F
//! ([`avx512`], the same operations on 16 tiles per vector, so the same
//! bits).
//!
//! # Algorithm
//!
//! The output plane of channel `k` is cut into 2×2 *tiles*. The tile at
//! `(i, j)` reads the 4×4 patch `d_c` of the zero-padded input starting at
//! row `2i`, column `2j` of every input channel `c`, and is
//!
//! ```text
//! Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A        (⊙: element by element)
//!
//!      ⎡1  0 −1  0⎤        ⎡ 1    0    0 ⎤
//! Bᵀ = ⎢0  1  1  0⎥    G = ⎢1/2  1/2  1/2⎥    Aᵀ = ⎡1 1  1  0⎤
//!      ⎢0 −1  1  0⎥        ⎢1/2 −1/2  1/2⎥         ⎣0 1 −1 −1⎦
//!      ⎣0  1  0 −1⎦        ⎣ 0    0    1 ⎦
//! ```
//!
//! So each (tile, input channel, output channel) costs 16 multiply-adds
//! instead of the direct convolution's 36: 2.25× fewer. The sum over `c`
//! is, for each of the 16 positions `ξ` of the 4×4 transforms, a matrix
//! product `M[ξ] = U[ξ] · V[ξ]` of the transformed weights `U[ξ]` (`K × C`)
//! and the transformed input `V[ξ]` (`C × tiles`). The transforms are
//! additions (and the weights' halvings), the products are FMAs.
//!
//! Per call:
//!
//! 1. The input is copied once, zero-padded, into a stack buffer
//!    ([`pad`]), and the weights transformed into `U[ξ][k][c]` (`K·C`
//!    3×3 filters; scalar, inlined into the body where every size is a
//!    constant, or with AVX-512F sixteen input channels at a time:
//!    `avx512::transform_weights`). It is the price of transforming per
//!    call: 30% of ResNet-8's 64-channel 8×8 layer under `perf` (which
//!    writes `U`, 256 KiB, for 16 tiles), a few % of its 32×32 ones.
//! 2. The tiles, in row-major order, are taken in *bands* of 16, two
//!    vectors of 8 consecutive tiles of one tile row. For a band, the input
//!    transform `V[ξ][c][t]` is vectorised across the 8 tiles of a vector:
//!    their patches start at the even columns of the padded rows `2i ..
//!    2i + 3`, so each row is read as two vectors and split into its even
//!    and odd columns (`vshufps` + `vpermpd`), once at the patch's column 0
//!    and once at column 2 (`d0, d1` and `d2, d3`).
//! 3. For each block of 4 output channels, the 16 products `M[ξ]` for the
//!    band: 4 channels × 2 vectors of tiles, 8 accumulators, each step over
//!    `c` two vector loads of `V`, four broadcasts of `U` and 8 FMAs, every
//!    operand in L1 (the band's `V` is `16 · C · 16` floats, 32 KiB at 32
//!    channels). Then `Y = Aᵀ M A` in registers, the bias added, and each
//!    tile's two columns interleaved back into pixel order (`vunpcklps` /
//!    `vunpckhps` + `vperm2f128`): two whole vectors of an output row.
//!
//! A fused epilogue ([`crate::conv::Post`]) is applied to those two
//! vectors before they are stored: the norm, the residual (loaded from the
//! same pixels) and the activation, the portable code's operations in its
//! order, so a fused call is the unfused sequence bit for bit, as
//! everywhere.
//!
//! # What it takes
//!
//! Groups 1, a 3×3 kernel, stride and dilation 1, zero padding of any
//! amount per side that gives an even output height and width; tile rows
//! of a multiple of 8 tiles (output widths of a multiple of 16) or of 4
//! (a vector's 8 tiles then lie in two tile rows, one per 128-bit half)
//! and a multiple of 16 tiles in all, so that vectors and bands are whole;
//! a multiple of 4 output channels; and the padded input, the transformed
//! weights (`16·K·C` floats, or one block's `16·4·C` where there is one
//! band) and a band's transformed input (`16·C·16`) within one stack
//! buffer of [`CAP`] floats, 168 KiB ([`plan`]). The AVX-512F body
//! takes the same geometries with a multiple of 16 output channels and
//! tile rows of a multiple of 16 tiles, or of 8 or 4
//! ([`avx512::applies`]).
//!
//! # Numerics
//!
//! Not the direct bodies' bits: the transforms add and subtract inputs (and
//! weights) before the products, and products after them, so the rounding
//! errors differ, and are larger by a small factor (each transformed value
//! is a sum of up to 4 inputs or 9 weights, each output a sum of 9
//! products' sums). The tests hold it to the same bound as every body,
//! `1e-5` of an `f64` reference (relative above one), and ResNet-8 to
//! `1e-4` of PyTorch. Infinities differ: an infinite input reaches several of `V`'s
//! positions, and the output transform subtracts them, so where the direct
//! convolution gives `±∞` this body may give NaN. NaN inputs give NaN in
//! the tiles that read them, as they should.
//!
//! # Why it pays
//!
//! The direct bodies run ResNet-8's stride-1 3×3 layers at 84–91% of the
//! FMA peak already; what is left is the number of multiplies. At 16–32
//! channels the transforms (about 4 additions per input value and per
//! output value) and the weight transform are small against the 2.25×
//! fewer FMAs. With fewer channels (ResNet-8's first layer, 3 → 16) they
//! are not, and [`profitable`] leaves such layers to the direct bodies.

use super::channels::{pad, Buffer};
use core::mem::MaybeUninit;

/// Tiles per band: two vectors of 8.
const BAND: usize = 16;

/// Output channels per block of accumulators.
const KB: usize = 4;

/// The stack buffer of a call, in floats (168 KiB): the padded input, the
/// transformed weights and a band's transformed input, one after another.
pub(crate) const CAP: usize = 42 * 1024;

/// How a call uses its buffer: [`plan`].
struct Plan {
    /// Floats of the padded input, `C·(OH + 2)·(OW + 2)`.
    input: usize,
    /// Whether the weights are transformed once for every band (where
    /// there are several); with one band, block by block as the products
    /// need them, so that the deep layers' `16·K·C` floats need not fit.
    whole_u: bool,
    /// Floats of the transformed weights kept at a time: `16·K·C`, or
    /// `16·KB·C`.
    u: usize,
    /// Floats of a band's transformed input, `16·C·BAND`.
    v: usize,
}

/// The plan of a convolution with `c` input and `o` output channels and an
/// `oh × ow` output, in blocks of `kb` output channels. `saturating_mul` so
/// that no size overflows the constant evaluation.
const fn plan(c: usize, o: usize, (oh, ow): (usize, usize), kb: usize) -> Plan {
    let whole_u = (oh / 2) * (ow / 2) > BAND;
    Plan {
        input: c.saturating_mul(oh + 2).saturating_mul(ow + 2),
        whole_u,
        u: c.saturating_mul(16)
            .saturating_mul(if whole_u { o } else { kb }),
        v: c.saturating_mul(16 * BAND),
    }
}

/// Whether the AVX2 body computes this convolution (see the module docs):
/// the geometry, and the buffer's size.
pub(crate) const fn applies(
    (g, c, o): (usize, usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    (oh, ow): (usize, usize),
) -> bool {
    fits((g, c, o), (kh, kw), (sh, sw), (dh, dw), (oh, ow), KB)
}

/// Whether a body with blocks of `kb` output channels computes this
/// convolution: the geometry, and the buffer's size.
const fn fits(
    (g, c, o): (usize, usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    (oh, ow): (usize, usize),
    kb: usize,
) -> bool {
    if g != 1 || kh != 3 || kw != 3 || sh != 1 || sw != 1 || dh != 1 || dw != 1 {
        return false;
    }
    let tw = ow / 2;
    if oh % 2 != 0 || ow % 2 != 0 || !(tw % 8 == 0 || tw == 4) || (oh / 2 * tw) % BAND != 0 {
        return false;
    }
    let p = plan(c, o, (oh, ow), kb);
    o % kb == 0 && p.input.saturating_add(p.u).saturating_add(p.v) <= CAP
}

/// Whether it beats the direct bodies: with at least 16 input and output
/// channels (at 3 input channels the transforms cost more than the
/// multiplies saved).
pub(crate) const fn profitable(c: usize, o: usize) -> bool {
    c >= 16 && o >= 16
}

/// `U[ξ][k][c] = (G g_kc Gᵀ)[ξ]` for the `kn` output channels from `k0`,
/// written to `buf` and returned as `16·kn` rows of `C`, row `ξ·kn + k −
/// k0`. Inlined into the body, where the sizes are constants (out of
/// line, with the channel range a variable, it took 9% of ResNet-8).
#[inline(always)]
fn transform_weights<'b, const C: usize, const O: usize, const KH: usize, const KW: usize>(
    weight: &[[[[f32; KW]; KH]; C]; O],
    (k0, kn): (usize, usize),
    buf: &'b mut [MaybeUninit<f32>],
) -> &'b [[f32; C]] {
    let buf = &mut buf[..16 * kn * C];
    for (k, w_k) in weight[k0..k0 + kn].iter().enumerate() {
        for (c, g) in w_k.iter().enumerate() {
            // G g, column by column (`col(s)` is column `s`'s 4 rows),
            // then each row times Gᵀ.
            let col = |s: usize| {
                let (g0, g1, g2) = (g[0][s], g[1][s], g[2][s]);
                [g0, (g0 + g1 + g2) * 0.5, (g0 - g1 + g2) * 0.5, g2]
            };
            let (c0, c1, c2) = (col(0), col(1), col(2));
            for p in 0..4 {
                let (a0, a1, a2) = (c0[p], c1[p], c2[p]);
                let row = [a0, (a0 + a1 + a2) * 0.5, (a0 - a1 + a2) * 0.5, a2];
                for (q, &u) in row.iter().enumerate() {
                    buf[((4 * p + q) * kn + k) * C + c] = MaybeUninit::new(u);
                }
            }
        }
    }
    // SAFETY: the loops above wrote every element of `buf`: each `(k, c)`
    // pair (`k < kn`) and each of the 16 `ξ = 4p + q`, at `(ξ·kn + k)·C +
    // c`, which ranges over `0..16·kn·C`; an initialised `MaybeUninit<f32>`
    // is an `f32` (same size, alignment and validity).
    let floats = unsafe { &*(core::ptr::from_ref::<[MaybeUninit<f32>]>(buf) as *const [f32]) };
    floats.as_chunks::<C>().0
}

/// The body of both modules' `conv2d`, expanded in each, where `KB`,
/// `transform_input` and `block` are the module's own and the const
/// parameters its function's: pad the input, transform the weights (all at
/// once, or block by block where there is one band), then per band of
/// tiles the input transform and every block of output channels. `$applies`
/// is the module's rule, asserted (not as a `const` assertion: the dispatch
/// instantiates the function for every geometry and calls it only for
/// those that apply).
macro_rules! drive {
    ($applies:path, $input:ident, $weight:ident, $bias:ident, $post:ident, $output:ident) => {{
        assert!(CG == C && $applies((1, C, O), (KH, KW), (1, 1), (1, 1), (OH, OW)));
        let plan = const { plan(C, O, (OH, OW), KB) };
        let (ph, pw) = (OH + 2, OW + 2);
        let mut buf = Buffer::<CAP>::new();
        let (padded, rest) = buf.0.split_at_mut(plan.input);
        let (u_buf, v_buf) = rest.split_at_mut(plan.u);
        let xp = pad::<PT, PL, C, H, W>($input, (ph, pw), padded);
        // The weights of every channel, rows `ξ·O + k`; or (one band) none
        // yet, and the buffer for each block's.
        let (u_all, mut u_block) = if plan.whole_u {
            (Some(transform_weights($weight, (0, O), u_buf)), None)
        } else {
            (None, Some(u_buf))
        };
        let ep = Epilogue::<O, OH, OW>::new($post, 0);
        let tw = OW / 2;
        for t0 in (0..OH / 2 * tw).step_by(BAND) {
            let v = transform_input::<C>(xp, (ph, pw), (t0, tw), v_buf);
            for k0 in (0..O).step_by(KB) {
                // This block's `KB` rows of `U[ξ]` are `u[ξ·n + first..]`.
                let (u, n, first) = match (u_all, u_block.as_deref_mut()) {
                    (Some(u), _) => (u, O, k0),
                    (None, Some(b)) => (transform_weights($weight, (k0, KB), b), KB, 0),
                    (None, None) => unreachable!("the weights or their buffer"),
                };
                block::<C, O, CG, OH, OW>((u, n, first), v, ($bias, &ep), (t0, tw, k0), $output);
            }
        }
    }};
}

/// The AVX2 + FMA body; its store also serves the AVX-512F body's tile
/// rows of 4.
pub(crate) mod avx2 {
    use super::{pad, plan, transform_weights, Buffer, BAND, CAP, KB};
    use crate::conv::Post;
    use crate::simd::act::post_act256;
    use crate::simd::conv::Epilogue;
    use core::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_castpd_ps, _mm256_castps_pd, _mm256_fmadd_ps,
        _mm256_loadu2_m128, _mm256_loadu_ps, _mm256_mul_ps, _mm256_permute2f128_ps,
        _mm256_permute4x64_pd, _mm256_set1_ps, _mm256_setzero_ps, _mm256_shuffle_ps,
        _mm256_storeu_ps, _mm256_sub_ps, _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };
    use core::mem::MaybeUninit;

    /// Lanes per vector.
    const L: usize = 8;

    /// The vector at `x[at..at + 8]` (bounds-checked).
    #[inline(always)]
    fn load(x: &[f32], at: usize) -> __m256 {
        let x = &x[at..at + L];
        // SAFETY: `x` holds 8 floats; the body's `target_feature` (AVX)
        // is enabled wherever this inlines.
        unsafe { _mm256_loadu_ps(x.as_ptr()) }
    }

    /// Stores `v` at `x[at..at + 8]` (bounds-checked).
    #[inline(always)]
    fn store(v: __m256, x: &mut [f32], at: usize) {
        let x = &mut x[at..at + L];
        // SAFETY: `x` holds 8 floats; AVX as in `load`.
        unsafe { _mm256_storeu_ps(x.as_mut_ptr(), v) }
    }

    /// `a[at..at + 4] ++ b[at..at + 4]` (bounds-checked).
    #[inline(always)]
    fn load2(a: &[f32], b: &[f32], at: usize) -> __m256 {
        let (a, b) = (&a[at..at + 4], &b[at..at + 4]);
        // SAFETY: `a` and `b` hold 4 floats each; AVX as in `load`.
        unsafe { _mm256_loadu2_m128(b.as_ptr(), a.as_ptr()) }
    }

    /// In each 128-bit half, the even and the odd elements of that half of
    /// `a` followed by that half of `b`.
    #[inline(always)]
    fn split_halves(a: __m256, b: __m256) -> (__m256, __m256) {
        // SAFETY: AVX as in `load`.
        unsafe {
            (
                _mm256_shuffle_ps::<0x88>(a, b),
                _mm256_shuffle_ps::<0xDD>(a, b),
            )
        }
    }

    /// The even and the odd elements of the 16 floats `a ++ b`.
    #[inline(always)]
    fn split(a: __m256, b: __m256) -> (__m256, __m256) {
        // SAFETY: AVX2 as in `load` (`vpermpd` is AVX2).
        unsafe {
            // a0 a2 b0 b2 | a4 a6 b4 b6, then the 64-bit pairs reordered.
            let e = _mm256_shuffle_ps::<0x88>(a, b);
            let o = _mm256_shuffle_ps::<0xDD>(a, b);
            (
                _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(e))),
                _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(o))),
            )
        }
    }

    /// `e0 o0 e1 o1 … e7 o7`: the 16 floats of `e` and `o` interleaved.
    #[inline(always)]
    fn zip(e: __m256, o: __m256) -> (__m256, __m256) {
        // SAFETY: AVX as in `load`.
        unsafe {
            let lo = _mm256_unpacklo_ps(e, o); // e0 o0 e1 o1 | e4 o4 e5 o5
            let hi = _mm256_unpackhi_ps(e, o); // e2 o2 e3 o3 | e6 o6 e7 o7
            (
                _mm256_permute2f128_ps::<0x20>(lo, hi),
                _mm256_permute2f128_ps::<0x31>(lo, hi),
            )
        }
    }

    /// `(x0 − x2, x1 + x2, x2 − x1, x1 − x3)`: `Bᵀ x` along one axis.
    #[inline(always)]
    fn bt(x: [__m256; 4]) -> [__m256; 4] {
        // SAFETY: AVX as in `load`.
        unsafe {
            [
                _mm256_sub_ps(x[0], x[2]),
                _mm256_add_ps(x[1], x[2]),
                _mm256_sub_ps(x[2], x[1]),
                _mm256_sub_ps(x[1], x[3]),
            ]
        }
    }

    /// `(m0 + m1 + m2, m1 − m2 − m3)`: `Aᵀ m` along one axis.
    #[inline(always)]
    fn at(m: [__m256; 4]) -> [__m256; 2] {
        // SAFETY: AVX as in `load`.
        unsafe {
            [
                _mm256_add_ps(_mm256_add_ps(m[0], m[1]), m[2]),
                _mm256_sub_ps(_mm256_sub_ps(m[1], m[2]), m[3]),
            ]
        }
    }

    /// The transformed input of one band, `V[ξ][c]`: `16·C` rows of the
    /// band's 16 tiles, written to `buf`. `xp` is the padded input, `pw`
    /// floats per row, `ph·pw` per channel; the band's first tile is `t0`
    /// of a plane of tile rows of `tw` tiles.
    #[inline(always)]
    fn transform_input<'b, const C: usize>(
        xp: &[f32],
        (ph, pw): (usize, usize),
        (t0, tw): (usize, usize),
        buf: &'b mut [MaybeUninit<f32>],
    ) -> &'b [[f32; BAND]] {
        let buf = &mut buf[..16 * C * BAND];
        // SAFETY: AVX as in `load`.
        let zero = unsafe { _mm256_setzero_ps() };
        for (c, plane) in xp.chunks_exact(ph * pw).take(C).enumerate() {
            for half in 0..2 {
                let t = t0 + half * L;
                let (i, j0) = (t / tw, t % tw);
                // Bᵀ along each of the patch's 4 rows. (Loops, not
                // `array::from_fn`: a closure would not inline into the
                // `target_feature` body, nor its intrinsics.)
                let mut rows = [[zero; 4]; 4];
                for (r, t) in rows.iter_mut().enumerate() {
                    let row = |i: usize| &plane[(2 * i + r) * pw..(2 * i + r + 1) * pw];
                    let [d0, d1, d2, d3] = if tw == 4 {
                        // Tile rows of 4: the vector's tiles are those of
                        // tile rows `i` and `i + 1`, one in each half.
                        let (a, b) = (row(i), row(i + 1));
                        let (d0, d1) = split_halves(load2(a, b, 0), load2(a, b, 4));
                        let (d2, d3) = split_halves(load2(a, b, 2), load2(a, b, 6));
                        [d0, d1, d2, d3]
                    } else {
                        let row = row(i);
                        let (d0, d1) = split(load(row, 2 * j0), load(row, 2 * j0 + L));
                        let (d2, d3) = split(load(row, 2 * j0 + 2), load(row, 2 * j0 + 2 + L));
                        [d0, d1, d2, d3]
                    };
                    *t = bt([d0, d1, d2, d3]);
                }
                // Then along the columns: V[4p + q] = (Bᵀ d B)[p][q].
                for q in 0..4 {
                    let v = bt(rows.map(|r| r[q]));
                    for (p, &v) in v.iter().enumerate() {
                        let at = ((4 * p + q) * C + c) * BAND + half * L;
                        let dst = &mut buf[at..at + L];
                        // SAFETY: `dst` holds 8 floats (`MaybeUninit<f32>`
                        // has `f32`'s layout); AVX as in `load`.
                        unsafe { _mm256_storeu_ps(dst.as_mut_ptr().cast(), v) };
                    }
                }
            }
        }
        // SAFETY: the loops wrote every element: for each `ξ = 4p + q`,
        // channel `c` and half of the band, the 8 floats at `(ξ·C + c)·16 +
        // 8·half`, which cover `0..16·C·16`; an initialised
        // `MaybeUninit<f32>` is an `f32`.
        let floats = unsafe { &*(core::ptr::from_ref::<[MaybeUninit<f32>]>(buf) as *const [f32]) };
        floats.as_chunks::<BAND>().0
    }

    /// `M[ξ]` for output channels `k0..k0 + 4` and the band's tiles: `u` is
    /// `U[ξ]`'s 4 rows, `v` is `V[ξ]`'s `C` rows.
    #[inline(always)]
    fn product<const C: usize>(u: &[[f32; C]], v: &[[f32; BAND]]) -> [[__m256; 2]; KB] {
        let u: &[[f32; C]; KB] = u.try_into().expect("4 rows of U");
        // SAFETY: AVX + FMA as in `load`.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; KB];
            for (c, x) in v.iter().enumerate().take(C) {
                let x = [
                    _mm256_loadu_ps(x.as_ptr()),
                    _mm256_loadu_ps(x[L..].as_ptr()),
                ];
                for (acc, u) in acc.iter_mut().zip(u) {
                    let w = _mm256_set1_ps(u[c]);
                    acc[0] = _mm256_fmadd_ps(w, x[0], acc[0]);
                    acc[1] = _mm256_fmadd_ps(w, x[1], acc[1]);
                }
            }
            acc
        }
    }

    /// `Y = Aᵀ M A + bias` for one output channel's 8 tiles from tile `t`
    /// (`m(ξ)` their `M[ξ]`) in tile rows of `tw`: two vectors in each of
    /// the output rows `2i` and `2i + 1` of the tiles' tile row `i`, or
    /// with tile rows of 4 one vector in each of those rows of tile rows `i`
    /// and `i + 1`.
    #[inline(always)]
    pub(super) fn store_tiles<const O: usize, const OH: usize, const OW: usize>(
        m: impl Fn(usize) -> __m256,
        (k, bias): (usize, f32),
        ep: &Epilogue<'_, O, OH, OW>,
        (t, tw): (usize, usize),
        plane: &mut [[f32; OW]; OH],
    ) {
        // Aᵀ along the columns (q) of each row p, giving column b; then
        // along the rows: y[b][a] is output row a, column b of the tiles.
        let cols = [
            at([m(0), m(1), m(2), m(3)]),
            at([m(4), m(5), m(6), m(7)]),
            at([m(8), m(9), m(10), m(11)]),
            at([m(12), m(13), m(14), m(15)]),
        ];
        let y = [
            at([cols[0][0], cols[1][0], cols[2][0], cols[3][0]]),
            at([cols[0][1], cols[1][1], cols[2][1], cols[3][1]]),
        ];
        // SAFETY: AVX as in `load`.
        let b = unsafe { _mm256_set1_ps(bias) };
        let (i, j0) = (t / tw, t % tw);
        for (a, (y0, y1)) in y[0].into_iter().zip(y[1]).enumerate() {
            // SAFETY: AVX as in `load`.
            let (y0, y1) = unsafe { (_mm256_add_ps(y0, b), _mm256_add_ps(y1, b)) };
            let (lo, hi) = zip(y0, y1);
            // Where each vector goes: (row, column).
            let at = if tw == 4 {
                [(2 * i + a, 0), (2 * i + 2 + a, 0)]
            } else {
                [(2 * i + a, 2 * j0), (2 * i + a, 2 * j0 + L)]
            };
            let mut v = [lo, hi];
            if ep.any {
                epilogue(&mut v, ep, k, at);
            }
            for (v, (r, col)) in v.into_iter().zip(at) {
                store(v, &mut plane[r], col);
            }
        }
    }

    /// The fused epilogue on two vectors of outputs of channel `k`, at
    /// `(row, column)` `at[0]` and `at[1]`: the norm (a multiply, then an
    /// add), the residual, the activation, as the portable code does them,
    /// so the same bits.
    #[inline(always)]
    fn epilogue<const O: usize, const OH: usize, const OW: usize>(
        v: &mut [__m256; 2],
        ep: &Epilogue<'_, O, OH, OW>,
        k: usize,
        at: [(usize, usize); 2],
    ) {
        // SAFETY: AVX as in `load`.
        unsafe {
            if let Some(norm) = &ep.norm {
                let (alpha, beta) = norm[k];
                let (alpha, beta) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
                for v in v.iter_mut() {
                    *v = _mm256_add_ps(_mm256_mul_ps(*v, alpha), beta);
                }
            }
            if let Some(residual) = ep.residual {
                for (v, (r, col)) in v.iter_mut().zip(at) {
                    *v = _mm256_add_ps(*v, load(&residual[k][r], col));
                }
            }
            post_act256(v, ep.act);
        }
    }

    /// Output channels `k0..k0 + 4` of the band of tiles from `t0`: the 16
    /// products (`U[ξ]`'s rows for the block at `u[ξ·n + first..]`), then
    /// each channel's output transform, bias, epilogue and store.
    #[inline(always)]
    fn block<const C: usize, const O: usize, const CG: usize, const OH: usize, const OW: usize>(
        (u, n, first): (&[[f32; CG]], usize, usize),
        v: &[[f32; BAND]],
        (bias, ep): (Option<&[f32; O]>, &Epilogue<'_, O, OH, OW>),
        (t0, tw, k0): (usize, usize, usize),
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        // M[ξ][k][half], each written once (an array literal: no zeroing
        // first).
        macro_rules! products {
            ($($xi:literal)*) => {
                [$(product::<CG>(
                    &u[$xi * n + first..$xi * n + first + KB],
                    &v[$xi * C..($xi + 1) * C],
                )),*]
            };
        }
        let m = products!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        for kk in 0..KB {
            let k = k0 + kk;
            let b = bias.map_or(0.0, |b| b[k]);
            for half in 0..2 {
                let m = |xi: usize| m[xi][kk][half];
                store_tiles(m, (k, b), ep, (t0 + half * L, tw), &mut output[k]);
            }
        }
    }

    /// The body; see the module docs.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    pub(crate) unsafe fn conv2d<
        const PT: usize,
        const PL: usize,
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
        drive!(super::applies, input, weight, bias, post, output);
    }
}

/// The AVX-512F body: the AVX2 body's algorithm with a band's 16 tiles in
/// one `zmm`. The products meet one row of `V[ξ]` (one vector load) with
/// 16 output channels' weights, broadcast as the FMAs' memory operands: 16
/// accumulators, 16 FMAs per step over `c`. The input transform reads each
/// patch row as two vectors split into even and odd columns by one
/// `vpermt2ps` each; the output transform interleaves the tiles' two
/// columns back with two more, and stores whole vectors (with tile rows of
/// 4, whose output rows are 8 wide, each half goes through the AVX2 body's
/// store). Every sum is the AVX2 body's, in the same order: the same bits
/// (tested).
///
/// Where it pays (`taskset -c 0 cargo bench -p constnet-runtime --bench
/// kernels -- 'layers/resnet8/3x3s1'`, an Intel Xeon with AVX-512, against
/// the direct AVX-512F bodies, 3 interleaved runs): the 32-channel 16×16
/// layer 26.4–27.3 → 23.7–24.7 µs, the 16-channel 32×32 one 29.6–31.1 →
/// 29.0–30.6 (16 input and output channels amortise the transforms least).
/// The 64-channel 8×8 layer, a single band of 16 tiles, gained nothing
/// there (27.7–27.9 against 26.1–29.7 µs in a build that took it): each
/// call transforms all `64·64` filters for one band (a throwaway build that
/// skipped the transform, with wrong results, took about 10 µs off; 3 µs
/// off the 16- and 32-channel layers). The transform vectorised across 16
/// input channels ([`transform_weights`]: masked loads and a 16×16
/// transpose instead of the gathers LLVM makes of the scalar code, same
/// bits) measured no faster on that Xeon, but on an AMD EPYC (Zen 4),
/// whose gathers are slow, it made one band pay (2026-12-08: that layer
/// 44.4–46.8 µs direct against 34.7–35.9 here; [`profitable`]), so the
/// body now takes it. What is left of the transform, 30% of that layer,
/// is more likely the 256 KiB of transformed weights written and read back
/// per call than the arithmetic: the way on is transformed weights kept
/// from one call to the next (at load time). Where the time goes on the
/// 32×32 layer (`perf`):
/// the broadcast FMAs of the products about half, the transforms, the
/// products' stores and reloads of `M` and the weight transform the rest.
pub(crate) mod avx512 {
    use super::avx2::store_tiles;
    use super::{fits, pad, plan, Buffer, BAND, CAP};
    use crate::conv::Post;
    use crate::simd::act::post_act512;
    use crate::simd::conv::packed::avx512::permute2;
    use crate::simd::conv::Epilogue;
    use crate::simd::transpose::transpose16;
    use core::arch::x86_64::{
        __m256, __m512, _mm256_castpd_ps, _mm256_loadu_pd, _mm256_setzero_ps, _mm512_add_ps,
        _mm512_castpd256_pd512, _mm512_castpd_ps, _mm512_castps512_ps256, _mm512_castps_pd,
        _mm512_extractf64x4_pd, _mm512_fmadd_ps, _mm512_insertf64x4, _mm512_loadu_ps,
        _mm512_maskz_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setr_epi32, _mm512_setzero_ps,
        _mm512_storeu_ps, _mm512_sub_ps,
    };
    use core::mem::MaybeUninit;

    /// Lanes per vector.
    const L: usize = 16;

    /// The vector at `x[at..at + 16]` (bounds-checked).
    #[inline(always)]
    fn load(x: &[f32], at: usize) -> __m512 {
        let x = &x[at..at + L];
        // SAFETY: `x` holds 16 floats; AVX-512F, the body's
        // `target_feature`, is enabled wherever this inlines.
        unsafe { _mm512_loadu_ps(x.as_ptr()) }
    }

    /// `a[at..at + 8] ++ b[at..at + 8]` (bounds-checked).
    #[inline(always)]
    fn load2(a: &[f32], b: &[f32], at: usize) -> __m512 {
        let (a, b) = (&a[at..at + 8], &b[at..at + 8]);
        // SAFETY: `a` and `b` hold 8 floats each; AVX-512F as in `load`.
        unsafe {
            let lo = _mm512_castpd256_pd512(_mm256_loadu_pd(a.as_ptr().cast()));
            _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                lo,
                _mm256_loadu_pd(b.as_ptr().cast()),
            ))
        }
    }

    /// Stores `v` at `x[at..at + 16]` (bounds-checked).
    #[inline(always)]
    fn store(v: __m512, x: &mut [f32], at: usize) {
        let x = &mut x[at..at + L];
        // SAFETY: `x` holds 16 floats; AVX-512F as in `load`.
        unsafe { _mm512_storeu_ps(x.as_mut_ptr(), v) }
    }

    /// The even and the odd elements of the 32 floats `a ++ b`.
    #[inline(always)]
    fn split(a: __m512, b: __m512) -> (__m512, __m512) {
        // SAFETY: AVX-512F as in `load`.
        unsafe {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            (permute2(a, even, b), permute2(a, odd, b))
        }
    }

    /// `e0 o0 e1 o1 … e15 o15`: the 32 floats of `e` and `o` interleaved.
    #[inline(always)]
    fn zip(e: __m512, o: __m512) -> (__m512, __m512) {
        // SAFETY: AVX-512F as in `load`.
        unsafe {
            let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            let hi =
                _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            (permute2(e, lo, o), permute2(e, hi, o))
        }
    }

    /// `(x0 − x2, x1 + x2, x2 − x1, x1 − x3)`: `Bᵀ x` along one axis.
    #[inline(always)]
    fn bt(x: [__m512; 4]) -> [__m512; 4] {
        // SAFETY: AVX-512F as in `load`.
        unsafe {
            [
                _mm512_sub_ps(x[0], x[2]),
                _mm512_add_ps(x[1], x[2]),
                _mm512_sub_ps(x[2], x[1]),
                _mm512_sub_ps(x[1], x[3]),
            ]
        }
    }

    /// `(m0 + m1 + m2, m1 − m2 − m3)`: `Aᵀ m` along one axis.
    #[inline(always)]
    fn at(m: [__m512; 4]) -> [__m512; 2] {
        // SAFETY: AVX-512F as in `load`.
        unsafe {
            [
                _mm512_add_ps(_mm512_add_ps(m[0], m[1]), m[2]),
                _mm512_sub_ps(_mm512_sub_ps(m[1], m[2]), m[3]),
            ]
        }
    }

    /// The band's transformed input `V[ξ][c]` as the AVX2 body computes it
    /// (the same operations on the same values, so the same bits), 16
    /// tiles per vector: each patch row is read as two vectors and split
    /// into its even and odd columns with one `vpermt2ps` each. With tile
    /// rows of 16 tiles or more, the two vectors are 32 consecutive columns
    /// of one row; of 8, the first 16 columns of two tile rows' rows; of 4,
    /// the first 8 columns of four.
    #[inline(always)]
    fn transform_input<'b, const C: usize>(
        xp: &[f32],
        (ph, pw): (usize, usize),
        (t0, tw): (usize, usize),
        buf: &'b mut [MaybeUninit<f32>],
    ) -> &'b [[f32; BAND]] {
        let buf = &mut buf[..16 * C * BAND];
        // SAFETY: AVX-512F as in `load`.
        let zero = unsafe { _mm512_setzero_ps() };
        let (i, j0) = (t0 / tw, t0 % tw);
        for (c, plane) in xp.chunks_exact(ph * pw).take(C).enumerate() {
            // Bᵀ along each of the patch's 4 rows (loops, not closures
            // around intrinsics: see the AVX2 body).
            let mut rows = [[zero; 4]; 4];
            for (r, t) in rows.iter_mut().enumerate() {
                let row = |i: usize| &plane[(2 * i + r) * pw..(2 * i + r + 1) * pw];
                let (a, b, a2, b2) = match tw {
                    4 => {
                        let (r0, r1, r2, r3) = (row(i), row(i + 1), row(i + 2), row(i + 3));
                        (
                            load2(r0, r1, 0),
                            load2(r2, r3, 0),
                            load2(r0, r1, 2),
                            load2(r2, r3, 2),
                        )
                    }
                    8 => {
                        let (r0, r1) = (row(i), row(i + 1));
                        (load(r0, 0), load(r1, 0), load(r0, 2), load(r1, 2))
                    }
                    _ => {
                        let r0 = row(i);
                        let j = 2 * j0;
                        (
                            load(r0, j),
                            load(r0, j + L),
                            load(r0, j + 2),
                            load(r0, j + 2 + L),
                        )
                    }
                };
                let (d0, d1) = split(a, b);
                let (d2, d3) = split(a2, b2);
                *t = bt([d0, d1, d2, d3]);
            }
            // Then along the columns: V[4p + q] = (Bᵀ d B)[p][q].
            for q in 0..4 {
                let v = bt(rows.map(|r| r[q]));
                for (p, &v) in v.iter().enumerate() {
                    let at = ((4 * p + q) * C + c) * BAND;
                    let dst = &mut buf[at..at + L];
                    // SAFETY: `dst` holds 16 floats (`MaybeUninit<f32>` has
                    // `f32`'s layout); AVX-512F as in `load`.
                    unsafe { _mm512_storeu_ps(dst.as_mut_ptr().cast(), v) };
                }
            }
        }
        // SAFETY: the loops wrote every element: for each `ξ = 4p + q` and
        // channel `c`, the 16 floats at `(ξ·C + c)·16`, which cover
        // `0..16·C·16`; an initialised `MaybeUninit<f32>` is an `f32`.
        let floats = unsafe { &*(core::ptr::from_ref::<[MaybeUninit<f32>]>(buf) as *const [f32]) };
        floats.as_chunks::<BAND>().0
    }

    /// `Y = Aᵀ M A + bias` for one output channel's 16 tiles from tile `t`
    /// (`m[ξ][kk]` their `M[ξ]`) in tile rows of `tw` (16 and more, or 8): in
    /// each of the output rows `2i` and `2i + 1`, two vectors of the tiles'
    /// tile row `i`, or with tile rows of 8 one vector of tile row `i` and
    /// one of `i + 1`. The same operations as the AVX2 body's.
    #[inline(always)]
    fn store_tiles16<const O: usize, const OH: usize, const OW: usize>(
        (m, kk): (&[[__m512; KB]; 16], usize),
        (k, bias): (usize, f32),
        ep: &Epilogue<'_, O, OH, OW>,
        (t, tw): (usize, usize),
        plane: &mut [[f32; OW]; OH],
    ) {
        let m = |xi: usize| m[xi][kk];
        let cols = [
            at([m(0), m(1), m(2), m(3)]),
            at([m(4), m(5), m(6), m(7)]),
            at([m(8), m(9), m(10), m(11)]),
            at([m(12), m(13), m(14), m(15)]),
        ];
        let y = [
            at([cols[0][0], cols[1][0], cols[2][0], cols[3][0]]),
            at([cols[0][1], cols[1][1], cols[2][1], cols[3][1]]),
        ];
        // SAFETY: AVX-512F as in `load`.
        let b = unsafe { _mm512_set1_ps(bias) };
        let (i, j0) = (t / tw, t % tw);
        for (a, (y0, y1)) in y[0].into_iter().zip(y[1]).enumerate() {
            // SAFETY: AVX-512F as in `load`.
            let (y0, y1) = unsafe { (_mm512_add_ps(y0, b), _mm512_add_ps(y1, b)) };
            let (lo, hi) = zip(y0, y1);
            let at = if tw == 8 {
                [(2 * i + a, 0), (2 * i + 2 + a, 0)]
            } else {
                [(2 * i + a, 2 * j0), (2 * i + a, 2 * j0 + L)]
            };
            let mut v = [lo, hi];
            if ep.any {
                epilogue(&mut v, ep, k, at);
            }
            for (v, (r, col)) in v.into_iter().zip(at) {
                store(v, &mut plane[r], col);
            }
        }
    }

    /// The fused epilogue on two vectors of outputs of channel `k`, as the
    /// AVX2 body's (the norm, the residual, the activation), on `zmm`.
    #[inline(always)]
    fn epilogue<const O: usize, const OH: usize, const OW: usize>(
        v: &mut [__m512; 2],
        ep: &Epilogue<'_, O, OH, OW>,
        k: usize,
        at: [(usize, usize); 2],
    ) {
        // SAFETY: AVX-512F as in `load`.
        unsafe {
            if let Some(norm) = &ep.norm {
                let (alpha, beta) = norm[k];
                let (alpha, beta) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
                for v in v.iter_mut() {
                    *v = _mm512_add_ps(_mm512_mul_ps(*v, alpha), beta);
                }
            }
            if let Some(residual) = ep.residual {
                for (v, (r, col)) in v.iter_mut().zip(at) {
                    *v = _mm512_add_ps(*v, load(&residual[k][r], col));
                }
            }
            post_act512(v, ep.act);
        }
    }

    /// [`super::transform_weights`] sixteen input channels at a time,
    /// where `C` is a multiple of 16 (else that function): the same
    /// additions and halvings in the same order on vectors, so the same
    /// bits, and the same layout of `U`.
    ///
    /// The scalar loop, inlined with every size a constant, was vectorised
    /// by LLVM across input channels with gathers (a filter's 9 taps are
    /// 9 floats apart): 18 `vgatherqps` per 16 filters, 43% of ResNet-8's
    /// 64-channel 8×8 layer under `perf` once that layer ran here. Here
    /// each of the 16 filters is one masked load of its 9 taps, one 16×16
    /// transpose in registers makes vector `t` tap `t` of the 16 filters,
    /// and each of the 16 positions of `U` is one plain store of 16
    /// channels.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn transform_weights<'b, const C: usize, const O: usize, const KH: usize, const KW: usize>(
        weight: &[[[[f32; KW]; KH]; C]; O],
        (k0, kn): (usize, usize),
        buf: &'b mut [MaybeUninit<f32>],
    ) -> &'b [[f32; C]] {
        if !C.is_multiple_of(L) || KH != 3 || KW != 3 {
            return super::transform_weights(weight, (k0, kn), buf);
        }
        let buf = &mut buf[..16 * kn * C];
        for (k, w_k) in weight[k0..k0 + kn].iter().enumerate() {
            let taps = w_k.as_flattened().as_flattened();
            for c0 in (0..C).step_by(L) {
                // `g[t]` lane `l`: tap `t` (row `t / 3`, column `t mod 3`)
                // of input channel `c0 + l`'s filter (vectors 9.. unused).
                let mut g = [_mm512_setzero_ps(); L];
                for (l, g) in g.iter_mut().enumerate() {
                    let filter = &taps[(c0 + l) * 9..][..9];
                    // SAFETY: AVX-512F is enabled; the mask keeps the 9
                    // floats of `filter`, the only ones read.
                    *g = unsafe { _mm512_maskz_loadu_ps(0x1FF, filter.as_ptr()) };
                }
                transpose16(&mut g);
                // G g, column by column, then each row times Gᵀ: the
                // scalar function's steps.
                // (An array, not `map`: a closure does not inherit the
                // target features.)
                let cols = [
                    outer(g[0], g[3], g[6]),
                    outer(g[1], g[4], g[7]),
                    outer(g[2], g[5], g[8]),
                ];
                #[allow(clippy::needless_range_loop)] // Row `p` of all three columns.
                for p in 0..4 {
                    let row = outer(cols[0][p], cols[1][p], cols[2][p]);
                    for (q, &u) in row.iter().enumerate() {
                        let at = ((4 * p + q) * kn + k) * C + c0;
                        let dst = &mut buf[at..at + L];
                        // SAFETY: AVX-512F is enabled; `dst` holds 16
                        // floats (uninitialised memory is written, not
                        // read).
                        unsafe { _mm512_storeu_ps(dst.as_mut_ptr().cast::<f32>(), u) };
                    }
                }
            }
        }
        // SAFETY: the loops above stored, for each `k < kn`, each block of
        // 16 channels from `c0` and each `ξ = 4p + q`, the 16 floats at
        // `(ξ·kn + k)·C + c0`: all of `0..16·kn·C`; an initialised
        // `MaybeUninit<f32>` is an `f32`.
        let floats = unsafe { &*(core::ptr::from_ref::<[MaybeUninit<f32>]>(buf) as *const [f32]) };
        floats.as_chunks::<C>().0
    }

    /// `[a0, (a0 + a1 + a2)·½, (a0 − a1 + a2)·½, a2]`: one column (or row)
    /// of three taps times `G` (or `Gᵀ`), in the scalar function's order.
    #[inline(always)]
    fn outer(a0: __m512, a1: __m512, a2: __m512) -> [__m512; 4] {
        // SAFETY: AVX-512F is enabled wherever this inlines (the body and
        // its weight transform).
        unsafe {
            let half = _mm512_set1_ps(0.5);
            [
                a0,
                _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), a2), half),
                _mm512_mul_ps(_mm512_add_ps(_mm512_sub_ps(a0, a1), a2), half),
                a2,
            ]
        }
    }

    /// Output channels per block of accumulators.
    const KB: usize = 16;

    /// Whether this body computes the convolution: the AVX2 body's
    /// geometry, in blocks of 16 output channels, with tile rows of a
    /// multiple of 16 tiles, or of 8 or 4 (a vector's 16 tiles then lie in
    /// two or four tile rows).
    pub(crate) const fn applies(
        (g, c, o): (usize, usize, usize),
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (dh, dw): (usize, usize),
        (oh, ow): (usize, usize),
    ) -> bool {
        let tw = ow / 2;
        (tw % L == 0 || tw == 8 || tw == 4)
            && fits((g, c, o), (kh, kw), (sh, sw), (dh, dw), (oh, ow), KB)
    }

    /// Whether it beats the AVX-512F direct bodies: with at least 16 input
    /// and output channels and at least one band of tiles (an 8×8 output
    /// is one). With one band, each block's weights are transformed as its
    /// products need them; the transform is paid once per call either way,
    /// and since it runs vectorised ([`transform_weights`]) one band pays
    /// too: ResNet-8's 64-channel 8×8 layer, direct against here, 44.4–46.8
    /// against 34.7–35.9 µs (`taskset -c 0 cargo bench -p
    /// constnet-runtime --bench kernels -- 'resnet8/3x3s1 64'`, 2
    /// interleaved runs, AMD EPYC, Zen 4). With the scalar transform it
    /// was 41.1–41.7, why the rule used to ask for several bands.
    pub(crate) const fn profitable(c: usize, o: usize, (oh, ow): (usize, usize)) -> bool {
        super::profitable(c, o) && (oh / 2) * (ow / 2) >= BAND
    }

    /// `M[ξ]` for output channels `k0..k0 + 16` and the band's 16 tiles:
    /// `u` is `U[ξ]`'s 16 rows, `v` is `V[ξ]`'s `C` rows.
    #[inline(always)]
    fn product<const C: usize>(u: &[[f32; C]], v: &[[f32; BAND]]) -> [__m512; KB] {
        let u: &[[f32; C]; KB] = u.try_into().expect("16 rows of U");
        // SAFETY: AVX-512F, the body's `target_feature`, is enabled
        // wherever this inlines; each row of `v` holds 16 floats.
        unsafe {
            let mut acc = [_mm512_setzero_ps(); KB];
            for (c, x) in v.iter().enumerate().take(C) {
                let x = _mm512_loadu_ps(x.as_ptr());
                for (acc, u) in acc.iter_mut().zip(u) {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(u[c]), x, *acc);
                }
            }
            acc
        }
    }

    /// Half `h` of a band's vector: its tiles `8h .. 8h + 8`.
    #[inline(always)]
    fn half(v: __m512, h: usize) -> __m256 {
        // SAFETY: AVX-512F as in `product`.
        unsafe {
            if h == 0 {
                _mm512_castps512_ps256(v)
            } else {
                _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
            }
        }
    }

    /// Output channels `k0..k0 + 16` of the band of tiles from `t0`: the 16
    /// products (`U[ξ]`'s rows for the block at `u[ξ·n + first..]`), then
    /// each channel's output transform, bias, epilogue and store, 8 tiles
    /// at a time with the AVX2 body's code.
    #[inline(always)]
    fn block<const C: usize, const O: usize, const CG: usize, const OH: usize, const OW: usize>(
        (u, n, first): (&[[f32; CG]], usize, usize),
        v: &[[f32; BAND]],
        (bias, ep): (Option<&[f32; O]>, &Epilogue<'_, O, OH, OW>),
        (t0, tw, k0): (usize, usize, usize),
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        macro_rules! products {
            ($($xi:literal)*) => {
                [$(product::<CG>(
                    &u[$xi * n + first..$xi * n + first + KB],
                    &v[$xi * C..($xi + 1) * C],
                )),*]
            };
        }
        let m = products!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        // SAFETY: AVX as in `product`.
        let zero = unsafe { _mm256_setzero_ps() };
        for (kk, k) in (k0..k0 + KB).enumerate() {
            let b = bias.map_or(0.0, |b| b[k]);
            if tw != 4 {
                store_tiles16((&m, kk), (k, b), ep, (t0, tw), &mut output[k]);
                continue;
            }
            // Tile rows of 4: each half's 8 tiles with the AVX2 body's code.
            for h in 0..2 {
                // The halves taken here, in the `target_feature` body (a
                // closure calling the intrinsics would not inline them).
                let mut mh = [zero; 16];
                for (xi, mh) in mh.iter_mut().enumerate() {
                    *mh = half(m[xi][kk], h);
                }
                store_tiles(|xi| mh[xi], (k, b), ep, (t0 + h * 8, tw), &mut output[k]);
            }
        }
    }

    /// The body; see the module docs.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F, AVX2 and FMA.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    pub(crate) unsafe fn conv2d<
        const PT: usize,
        const PL: usize,
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
        drive!(applies, input, weight, bias, post, output);
    }
}
