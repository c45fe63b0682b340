//! Pieces shared by the bodies that hold channels in a vector (`depthwise`
//! and `channels` with AVX-512F's 16 lanes, `channels` with [`avx2`]'s 8):
//! short loads and stores, and the way from their results (a vector per
//! output pixel, its channels, in a band buffer) to the output's planes:
//! transposed 16×16 (8×8) in registers, then
//! through the epilogue, [`Post`](crate::conv::Post)'s operations in its
//! order, each the same IEEE operation on the same operands as in the
//! unfused kernels (a multiply, then an add, for the norm), so the same
//! bits.

use super::{lane_mask, Epilogue};
use crate::act::PostAct;
use crate::simd::act::post_act512;
use crate::simd::transpose::transpose16;
use core::arch::x86_64::{
    __m512, _mm512_add_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
    _mm512_max_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};
use core::mem::MaybeUninit;

const LANES: usize = 16;

/// The first `n ≤ 16` floats of `x` (which holds at least `n`), zeros
/// above.
#[target_feature(enable = "avx512f")]
#[inline]
pub(in crate::simd::conv) fn load(x: &[f32], n: usize) -> __m512 {
    if n == LANES && x.len() >= LANES {
        // SAFETY: AVX-512F is enabled; `x` holds 16 floats.
        unsafe { _mm512_loadu_ps(x.as_ptr()) }
    } else {
        let n = n.min(x.len());
        // SAFETY: AVX-512F is enabled; the mask keeps the first `n` lanes,
        // inside `x`, and a masked-off lane is not accessed.
        unsafe { _mm512_maskz_loadu_ps(lane_mask(0, n), x.as_ptr()) }
    }
}

/// Stores the first `n ≤ 16` lanes of `v` into `x` (at most its length).
#[target_feature(enable = "avx512f")]
#[inline]
pub(in crate::simd::conv) fn store(v: __m512, x: &mut [f32], n: usize) {
    if n == LANES && x.len() >= LANES {
        // SAFETY: AVX-512F is enabled; `x` holds 16 floats.
        unsafe { _mm512_storeu_ps(x.as_mut_ptr(), v) }
    } else {
        let n = n.min(x.len());
        // SAFETY: AVX-512F is enabled; the mask keeps the first `n` lanes,
        // inside `x`.
        unsafe { _mm512_mask_storeu_ps(x.as_mut_ptr(), lane_mask(0, n), v) }
    }
}

/// The activation on the vectors `$acc` (an array or a slice of them):
/// ReLU inline, the others on a copy through `post_act512`. A macro, not a
/// function: called on the accumulators, a function that is not inlined
/// (`post_act512` is not) keeps them in memory.
macro_rules! activate {
    ($act:expr, $acc:expr) => {
        match $act {
            PostAct::None => {}
            PostAct::Relu => {
                let zero = _mm512_setzero_ps();
                for a in $acc.iter_mut() {
                    *a = _mm512_max_ps(zero, *a);
                }
            }
            act => {
                let mut v = *$acc;
                post_act512(&mut v, act);
                *$acc = v;
            }
        }
    };
}

/// The epilogue in the planes form: `acc[l]` holds channel `l`'s (of the
/// block `ep` is for) output pixels `q..q + n`.
#[target_feature(enable = "avx512f")]
#[inline]
pub(in crate::simd::conv) fn epilogue<const OH: usize, const OW: usize>(
    ep: &Epilogue<'_, LANES, OH, OW>,
    q: usize,
    n: usize,
    acc: &mut [__m512; LANES],
) {
    if !ep.any {
        return;
    }
    if let Some(norm) = &ep.norm {
        for (a, &(alpha, beta)) in acc.iter_mut().zip(norm) {
            *a = _mm512_add_ps(
                _mm512_mul_ps(*a, _mm512_set1_ps(alpha)),
                _mm512_set1_ps(beta),
            );
        }
    }
    if let Some(residual) = ep.residual {
        for (a, plane) in acc.iter_mut().zip(residual) {
            let plane = plane.as_flattened();
            *a = _mm512_add_ps(*a, load(plane.get(q..).unwrap_or_default(), n));
        }
    }
    activate!(ep.act, acc);
}

/// Moves a band's pixels `q0..q1` of the output plane (band pixel `q −
/// q0` at `(q − q0)·V·16`, its `V·16` channels from `o0`) to the planes of
/// `output`'s channels `o0..o0 + V·16`: 16 pixels by 16 channels at a time,
/// transposed in registers, through the epilogue (`ep[v]`: channels
/// `o0 + 16·v..`), then plain stores (masked for a partial last block).
#[target_feature(enable = "avx512f")]
#[inline]
pub(in crate::simd::conv) fn band_to_planes<
    const V: usize,
    const O: usize,
    const OH: usize,
    const OW: usize,
>(
    band: &[MaybeUninit<f32>],
    (q0, q1): (usize, usize),
    o0: usize,
    ep: &[Epilogue<'_, LANES, OH, OW>; V],
    output: &mut [[[f32; OW]; OH]; O],
) {
    for (v, ep) in ep.iter().enumerate() {
        let mut q = q0;
        while q < q1 {
            let n = LANES.min(q1 - q);
            let mut acc = [_mm512_setzero_ps(); LANES];
            for (i, a) in acc.iter_mut().take(n).enumerate() {
                let src = &band[(q - q0 + i) * V * LANES + v * LANES..][..LANES];
                // SAFETY: AVX-512F is enabled; `src` holds 16 floats, which
                // the body wrote (it computes every pixel of the band).
                *a = unsafe { _mm512_loadu_ps(src.as_ptr().cast::<f32>()) };
            }
            transpose16(&mut acc);
            epilogue(ep, q, n, &mut acc);
            for (l, a) in acc.iter().enumerate() {
                let plane = output[o0 + v * LANES + l].as_flattened_mut();
                store(*a, &mut plane[q..], n);
            }
            q += n;
        }
    }
}

/// The AVX2 twins of the pieces above, 8 lanes.
pub(in crate::simd::conv) mod avx2 {
    use super::super::Epilogue;
    use crate::act::PostAct;
    use crate::simd::act::post_act256;
    use crate::simd::transpose::transpose8;
    use core::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_loadu_ps, _mm256_max_ps, _mm256_mul_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_storeu_ps,
    };
    use core::mem::MaybeUninit;

    const LANES: usize = 8;

    /// The first `n ≤ 8` floats of `x` (which holds at least `n`), zeros
    /// above. A short load goes through a copy: `vmaskmovps` is slow on
    /// AMD's cores.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(in crate::simd::conv) fn load(x: &[f32], n: usize) -> __m256 {
        let mut lanes = [0.0f32; LANES];
        let src: &[f32] = if n >= LANES && x.len() >= LANES {
            x
        } else {
            let n = n.min(x.len());
            lanes[..n].copy_from_slice(&x[..n]);
            &lanes
        };
        // SAFETY: AVX is enabled; `src` holds at least 8 floats.
        unsafe { _mm256_loadu_ps(src.as_ptr()) }
    }

    /// The epilogue in the planes form: `acc[l]` holds channel `l`'s (of
    /// the block `ep` is for) output pixels `q..q + 8` (those past the
    /// plane are computed for nothing).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn epilogue<const OH: usize, const OW: usize>(
        ep: &Epilogue<'_, LANES, OH, OW>,
        q: usize,
        acc: &mut [__m256; LANES],
    ) {
        if !ep.any {
            return;
        }
        if let Some(norm) = &ep.norm {
            for (a, &(alpha, beta)) in acc.iter_mut().zip(norm) {
                *a = _mm256_add_ps(
                    _mm256_mul_ps(*a, _mm256_set1_ps(alpha)),
                    _mm256_set1_ps(beta),
                );
            }
        }
        if let Some(residual) = ep.residual {
            for (a, plane) in acc.iter_mut().zip(residual) {
                let plane = plane.as_flattened();
                *a = _mm256_add_ps(*a, load(&plane[q..], LANES));
            }
        }
        match ep.act {
            PostAct::None => {}
            // Inline: `post_act256` is not inlined, and a call keeps the
            // vectors in memory.
            PostAct::Relu => {
                let zero = _mm256_setzero_ps();
                for a in acc.iter_mut() {
                    *a = _mm256_max_ps(zero, *a);
                }
            }
            act => post_act256(acc, act),
        }
    }

    /// [`super::band_to_planes`] with 8 lanes: 8 pixels by 8 channels at a
    /// time. A block of pixels that ends the band early (its last pixels
    /// are the next band's) is stored whole where the plane has room: the
    /// next band's stores come later and overwrite the extra lanes. Only a
    /// plane's last pixels go through a copy.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(in crate::simd::conv) fn band_to_planes<
        const V: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        band: &[MaybeUninit<f32>],
        (q0, q1): (usize, usize),
        o0: usize,
        ep: &[Epilogue<'_, LANES, OH, OW>; V],
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        for (v, ep) in ep.iter().enumerate() {
            let mut q = q0;
            while q < q1 {
                let n = LANES.min(q1 - q);
                let at = (q - q0) * V * LANES + v * LANES;
                let mut acc = [_mm256_setzero_ps(); LANES];
                // A whole block of pixels unrolled (the vectors stay in
                // registers), a partial one lane by lane.
                if n == LANES {
                    for (i, a) in acc.iter_mut().enumerate() {
                        *a = load_band(band, at + i * V * LANES);
                    }
                } else {
                    for (i, a) in acc.iter_mut().take(n).enumerate() {
                        *a = load_band(band, at + i * V * LANES);
                    }
                }
                transpose8(&mut acc);
                epilogue(ep, q, &mut acc);
                for (l, a) in acc.iter().enumerate() {
                    let dst = &mut output[o0 + v * LANES + l].as_flattened_mut()[q..];
                    if dst.len() >= LANES {
                        // SAFETY: AVX is enabled; `dst` holds 8 floats.
                        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), *a) };
                    } else {
                        let mut lanes = [0.0f32; LANES];
                        // SAFETY: AVX is enabled; `lanes` holds 8 floats.
                        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *a) };
                        dst.copy_from_slice(&lanes[..dst.len()]);
                    }
                }
                q += n;
            }
        }
    }

    /// The 8 floats of `band` at `at`, which the body wrote (it computes
    /// every pixel of the band).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn load_band(band: &[MaybeUninit<f32>], at: usize) -> __m256 {
        let src = &band[at..at + LANES];
        // SAFETY: AVX is enabled; `src` holds 8 floats, initialised by the
        // body (see above).
        unsafe { _mm256_loadu_ps(src.as_ptr().cast::<f32>()) }
    }
}
