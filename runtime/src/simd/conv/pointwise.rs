//! The *pointwise* body: 1×1 convolutions at stride 1 without padding,
//! read in place as the matrix product `out[O][P] = W[O][C] · X[C][P]`
//! over the `P` pixels, with AVX2 + FMA.
//!
//! # Why another body
//!
//! A 1×1 layer's input planes are already the product's right-hand matrix,
//! row `c` contiguous: nothing needs packing or transposing. The packed
//! body reads it in place too, but works out the store segments of each
//! chunk of pixels (rows with junk columns, a division per vector) for
//! every block of output channels; with few input channels (MobileNetV1's
//! 8 → 16 on 48×48: 8 FMAs per output vector) that bookkeeping costs more
//! than the arithmetic. The output-channel body transposes the input and
//! the output.
//!
//! # The kernel
//!
//! For each chunk of 16 pixels (2 vectors), every block of 6 output
//! channels keeps 12 accumulators, started at the bias; each input channel
//! `c` loads the 2 vectors of pixels and broadcasts the 6 weights
//! `W[o][c]` (8 loads per 12 FMAs: the FMA ports bound it, as in BLIS's
//! 6×16 kernel for this register file; 4 channels × 3 vectors, the other
//! 12-accumulator shape, left no register free and spilled one accumulator
//! into the loop, twice as slow). The chunk's `C × 16` input values stay in
//! L1 while the blocks of channels run over them. A plane's pixels are
//! contiguous, so rows do not matter: every load and store is a whole
//! vector. The last pixels (`P` not a multiple of 16) take one vector,
//! then one ending at the plane's end (it overlaps the vector before and
//! recomputes its pixels, with the same result): no masked load or store,
//! which AMD's cores microcode. Output channels left over (`O` not a
//! multiple of 6) take blocks of 4, 2 and 1.
//!
//! The fused epilogue ([`crate::conv::Post`]) is applied to the
//! accumulators before they are stored, with the portable code's
//! operations in its order (a multiply then an add for the norm, the
//! residual added, the activation), so a fused call is the unfused
//! sequence bit for bit.
//!
//! # Numerics
//!
//! Each output is `bias + Σ_c w·x` summed over `c` in order, one FMA per
//! term: the packed and output-channel bodies' order, so their bits.
//!
//! # What it takes
//!
//! Groups 1, a 1×1 kernel at stride 1 without padding, and at least one
//! vector of pixels ([`applies`]); by default planes of at least
//! [`MIN_PIXELS`] ([`profitable`]).

use super::Epilogue;

/// Output channels per block.
const OB: usize = 6;

/// Vectors of pixels per block.
const NV: usize = 2;

/// Whether the body computes a convolution with `g` groups, a `kh × kw`
/// kernel, strides `sh, sw`, padding or not and an `oh × ow` output.
pub(crate) const fn applies(
    g: usize,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    padded: bool,
    (oh, ow): (usize, usize),
) -> bool {
    g == 1 && kh == 1 && kw == 1 && sh == 1 && sw == 1 && !padded && oh * ow >= 8
}

/// The fewest pixels [`profitable`] gives this body.
pub(crate) const MIN_PIXELS: usize = 64;

/// Whether it beats the other bodies where it [`applies`] (with AVX2: the
/// dot-product body on planes of at most 16 pixels comes first): on planes
/// of at least [`MIN_PIXELS`] pixels. Measured with `taskset -c 0 cargo
/// bench -p constnet-runtime --bench kernels -- 'layers/(mbv1|ds_cnn)/1x1'`
/// (2 interleaved runs, AMD Zen 3, µs, the packed or output-channel body →
/// this one): MobileNetV1's 8 → 16 on 48×48 20.3–20.4 → 9.8–10.0, 16 → 32
/// on 24×24 8.7–9.2 → 9.0–9.2, 32 → 32 on 24×24 16.3–16.4 → 15.3, 32 → 64
/// on 12×12 7.4 → 7.3–7.4, 64 → 64 on 12×12 15.8–16.2 → 13.1–13.2, 64 →
/// 128 on 12×12 29.4 → 24.2–24.8; DS-CNN's 64 → 64 on 25×5 12.5–12.7 →
/// 11.4; but MobileNetV1's 128 → 128 on 6×6 (36 pixels: 2 chunks and 2
/// single vectors, the last overlapping) 14.3 → 14.5–14.6.
pub(crate) const fn profitable((oh, ow): (usize, usize)) -> bool {
    oh * ow >= MIN_PIXELS
}

pub(crate) mod avx2 {
    use super::{Epilogue, NV, OB};
    use crate::conv::Post;
    use crate::simd::act::post_act256;
    use core::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_storeu_ps,
    };

    const LANES: usize = 8;

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
            const { super::applies(C / CG, (KH, KW), (1, 1), false, (OH, OW)) }
                && H * W == OH * OW
                && CG == C
        );
        let x = input.as_flattened().as_flattened();
        let w = weight.as_flattened().as_flattened().as_flattened();
        let b = bias.unwrap_or(&[0.0; O]);
        let ep = Epilogue::<O, OH, OW>::new(post, 0);
        let pixels = OH * OW;
        let mut p = 0;
        while p + NV * LANES <= pixels {
            channels::<NV, C, O, OH, OW>(x, w, b, &ep, output, p);
            p += NV * LANES;
        }
        // The rest: whole vectors, then one ending at the plane's end.
        if pixels - p >= LANES {
            channels::<1, C, O, OH, OW>(x, w, b, &ep, output, p);
        }
        if !pixels.is_multiple_of(LANES) {
            channels::<1, C, O, OH, OW>(x, w, b, &ep, output, pixels - LANES);
        }
    }

    /// Every output channel at pixels `p..p + 8·V`: the input's `C × 8·V`
    /// values stay in L1 while the blocks of channels run over them.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn channels<
        const V: usize,
        const C: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        x: &[f32],
        w: &[f32],
        b: &[f32; O],
        ep: &Epilogue<'_, O, OH, OW>,
        output: &mut [[[f32; OW]; OH]; O],
        p: usize,
    ) {
        let mut o0 = 0;
        while o0 + OB <= O {
            chunk::<OB, V, C, O, OH, OW>(x, w, b, ep, output, (o0, p));
            o0 += OB;
        }
        // The last `O % 6` channels: 4 or 2, then 1.
        if o0 + 4 <= O {
            chunk::<4, V, C, O, OH, OW>(x, w, b, ep, output, (o0, p));
            o0 += 4;
        }
        if o0 + 2 <= O {
            chunk::<2, V, C, O, OH, OW>(x, w, b, ep, output, (o0, p));
            o0 += 2;
        }
        if o0 < O {
            chunk::<1, V, C, O, OH, OW>(x, w, b, ep, output, (o0, p));
        }
    }

    /// Output channels `o0..o0 + B` at pixels `p..p + 8·V`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::needless_range_loop)] // Indices into several arrays.
    fn chunk<
        const B: usize,
        const V: usize,
        const C: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        x: &[f32],
        w: &[f32],
        bias: &[f32; O],
        ep: &Epilogue<'_, O, OH, OW>,
        output: &mut [[[f32; OW]; OH]; O],
        (o0, p): (usize, usize),
    ) {
        let pixels = OH * OW;
        assert!(p + V * LANES <= pixels && x.len() == C * pixels);
        let w = &w[o0 * C..(o0 + B) * C];
        let mut acc = [[_mm256_setzero_ps(); V]; B];
        for o in 0..B {
            acc[o] = [_mm256_set1_ps(bias[o0 + o]); V];
        }
        for c in 0..C {
            let row = x[c * pixels + p..].as_ptr();
            let mut v = [_mm256_setzero_ps(); V];
            for s in 0..V {
                // SAFETY: AVX is enabled on this function; `row` is pixel
                // `p` of input plane `c`, which has `pixels >= p + 8·V`
                // floats from its start (asserted above).
                v[s] = unsafe { _mm256_loadu_ps(row.add(s * LANES)) };
            }
            for o in 0..B {
                let wv = _mm256_set1_ps(w[o * C + c]);
                for s in 0..V {
                    acc[o][s] = _mm256_fmadd_ps(wv, v[s], acc[o][s]);
                }
            }
        }
        if ep.any {
            epilogue(ep, &mut acc, (o0, p));
        }
        for (plane, acc) in output[o0..o0 + B].iter_mut().zip(&acc) {
            let dst = plane.as_flattened_mut()[p..p + V * LANES].as_mut_ptr();
            for (s, a) in acc.iter().enumerate() {
                // SAFETY: AVX is enabled on this function; `dst` holds the
                // `8·V` floats just sliced.
                unsafe { _mm256_storeu_ps(dst.add(s * LANES), *a) };
            }
        }
    }

    /// Norm, residual and activation on the accumulators of pixels
    /// `p..p + 8·V`: the portable code's operations, in its order.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn epilogue<
        const B: usize,
        const V: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        ep: &Epilogue<'_, O, OH, OW>,
        acc: &mut [[__m256; V]; B],
        (o0, p): (usize, usize),
    ) {
        if let Some(norm) = &ep.norm {
            for (acc, &(alpha, beta)) in acc.iter_mut().zip(&norm[o0..]) {
                let (alpha, beta) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
                for a in acc {
                    *a = _mm256_add_ps(_mm256_mul_ps(*a, alpha), beta);
                }
            }
        }
        if let Some(residual) = ep.residual {
            for (acc, plane) in acc.iter_mut().zip(&residual[o0..]) {
                let r = plane.as_flattened()[p..p + V * LANES].as_ptr();
                for (s, a) in acc.iter_mut().enumerate() {
                    // SAFETY: AVX is enabled on this function; `r` holds the
                    // `8·V` floats just sliced.
                    *a = _mm256_add_ps(*a, unsafe { _mm256_loadu_ps(r.add(s * LANES)) });
                }
            }
        }
        post_act256(acc.as_flattened_mut(), ep.act);
    }
}
