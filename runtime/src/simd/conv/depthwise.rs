//! The channel-blocked depthwise body (AVX-512F): depthwise convolutions
//! vectorised across 16 *channels* instead of along a plane's pixels.
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
//! 2. *compute*: 16 output pixels at a time (in row-major order, across
//!    rows), 16 accumulators, each tap's 16 weights one vector held in a
//!    register while it meets the 16 pixels' input vectors: one plain load
//!    per FMA, no masks, no padding tests, any stride and dilation;
//! 3. *store*: the 16 accumulators are transposed back, so that each holds
//!    one channel's 16 consecutive output pixels (a plane is contiguous, so
//!    rows do not matter), and go through the epilogue
//!    ([`Post`](crate::conv::Post): norm,
//!    residual, activation, the same operations as the other bodies, so the
//!    fused result is the unfused one bit for bit) and a plain store (a
//!    masked one for the plane's last pixels).
//!
//! The transposes cost about as much as the FMAs (64 shuffles per 256
//! values, twice), which the packed body's fixed costs far exceed on small
//! planes; on large ones it wins anyway ([`profitable`]).
//!
//! Each output is `bias + Σ_kh Σ_kw w·x` in that order, one fused
//! multiply-add per term: the packed body's order, so both give the same
//! bits.
//!
//! # Where it runs
//!
//! [`applies`]: depthwise (`groups = in = out channels`), channels a
//! multiple of 16, at most [`MAX_TAPS`] kernel taps, and a padded plane of
//! at most [`BUF_PIXELS`] pixels (its buffer is 64 KiB on the stack).

/// The most padded input pixels of a plane: the buffer holds one vector
/// (16 channels) per pixel, 64 KiB: up to a 32×32 padded plane. Larger
/// planes (MobileNetV1's 50×50 at a 96×96 input) run the packed body.
pub(crate) const BUF_PIXELS: usize = 1024;

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
}

/// Whether it beats the packed body where it [`applies`]: always, as
/// measured on the zoo's depthwise layers it takes (`cargo bench -p
/// constnet-runtime --bench kernels -- layers/`, interleaved with the
/// packed body): DS-CNN's 64-channel 25×5 layer 2.4 against 4.6 µs,
/// MobileNetV1's 128-channel 6×6 layer level (1.79 against 1.85 µs).
pub(crate) const fn profitable() -> bool {
    true
}

/// The AVX-512F body.
pub(crate) mod avx512 {
    use super::{BUF_PIXELS, MAX_TAPS};
    use crate::act::PostAct;
    use crate::conv::Post;
    use crate::simd::act::post_act512;
    use crate::simd::conv::{lane_mask, Epilogue};
    use crate::simd::transpose::transpose16;
    use core::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps,
        _mm512_maskz_loadu_ps, _mm512_max_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };
    use core::mem::MaybeUninit;

    const LANES: usize = 16;

    /// The pixel-major padded input of one group of channels, a vector per
    /// pixel; cache-line aligned, so that no vector spans two lines.
    #[repr(C, align(64))]
    struct Buffer([MaybeUninit<f32>; BUF_PIXELS * LANES]);

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
            // SAFETY: AVX-512F is enabled; the mask keeps the first `n`
            // lanes, inside `x`, and a masked-off lane is not accessed.
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
            // SAFETY: AVX-512F is enabled; the mask keeps the first `n`
            // lanes, inside `x`.
            unsafe { _mm512_mask_storeu_ps(x.as_mut_ptr(), lane_mask(0, n), v) }
        }
    }

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
        // The element offset of each tap in the buffer.
        let mut taps = [0usize; MAX_TAPS];
        for kh in 0..KH {
            for kw in 0..KW {
                taps[kh * KW + kw] = ((kh * DH) * pw + kw * DW) * LANES;
            }
        }
        let mut c0 = 0;
        while c0 < C {
            pack::<PT, PL, C, H, W>(input, c0, pw, buf);
            let weights = tap_weights::<KH, KW, CG, O>(weight, c0);
            let mut b = [0.0f32; LANES];
            if let Some(bias) = bias {
                b.copy_from_slice(&bias[c0..c0 + LANES]);
            }
            // The group's norm coefficients (one square root per channel)
            // and residual planes, as the direct body's blocks have them.
            let ep = Epilogue::<LANES, OH, OW>::new(post, c0);
            let group = Group {
                pw,
                taps: &taps,
                weights: &weights,
                bias: load(&b, LANES),
            };
            let mut q = 0;
            while q < OH * OW {
                let n = LANES.min(OH * OW - q);
                let mut acc = compute::<SH, SW, KH, KW, OW>(&group, buf, q, n);
                transpose16(&mut acc);
                epilogue(&ep, q, n, &mut acc);
                for (l, a) in acc.iter().enumerate() {
                    let plane = output[c0 + l].as_flattened_mut();
                    store(*a, plane.get_mut(q..).unwrap_or_default(), n);
                }
                q += n;
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
        /// Each tap's element offset in the buffer.
        taps: &'a [usize; MAX_TAPS],
        /// Each tap's 16 weights.
        weights: &'a [__m512; MAX_TAPS],
        /// The 16 channels' biases.
        bias: __m512,
    }

    /// Transposes channels `c0..c0 + 16` of `input` into the interior of
    /// the pixel-major buffer (row pitch `pw` pixels).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn pack<const PT: usize, const PL: usize, const C: usize, const H: usize, const W: usize>(
        input: &[[[f32; W]; H]; C],
        c0: usize,
        pw: usize,
        buf: &mut [f32],
    ) {
        let mut p = 0;
        let (mut h, mut w) = (0, 0);
        while p < H * W {
            let n = LANES.min(H * W - p);
            let mut r = [_mm512_setzero_ps(); 16];
            for (l, v) in r.iter_mut().enumerate() {
                let plane = input[c0 + l].as_flattened();
                *v = load(plane.get(p..).unwrap_or_default(), n);
            }
            transpose16(&mut r);
            for v in r.iter().take(n) {
                let at = ((h + PT) * pw + w + PL) * LANES;
                store(*v, buf.get_mut(at..).unwrap_or_default(), LANES);
                w += 1;
                if w == W {
                    w = 0;
                    h += 1;
                }
            }
            p += n;
        }
    }

    /// The 16 accumulators of output pixels `q..q + n` (row-major over the
    /// plane; the lanes are the group's channels), `bias + Σ w·x`. Pixels
    /// past `n` repeat pixel `q` and are not stored.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn compute<
        const SH: usize,
        const SW: usize,
        const KH: usize,
        const KW: usize,
        const OW: usize,
    >(
        group: &Group<'_>,
        buf: &[f32],
        q: usize,
        n: usize,
    ) -> [__m512; 16] {
        // Each pixel's first tap's element offset.
        let mut base = [0usize; 16];
        let (mut oh, mut ow) = (q / OW, q % OW);
        for b in base.iter_mut().take(n) {
            *b = (oh * SH * group.pw + ow * SW) * LANES;
            ow += 1;
            if ow == OW {
                ow = 0;
                oh += 1;
            }
        }
        for j in n..16 {
            base[j] = base[0];
        }
        // Every offset `base + tap` plus 16 is at most the buffer's length:
        // the last tap of the last pixel reads padded pixel
        // `((OH−1)·SH + (KH−1)·DH, (OW−1)·SW + (KW−1)·DW)`, the last of the
        // padded plane by the output size's definition.
        let ptr = buf.as_ptr();
        let last = base.iter().max().copied().unwrap_or(0) + group.taps[KH * KW - 1] + LANES;
        assert!(last <= buf.len(), "depthwise: a tap outside the buffer");
        let mut acc = [group.bias; 16];
        for t in 0..KH * KW {
            let w = group.weights[t];
            let off = group.taps[t];
            for j in 0..16 {
                // SAFETY: AVX-512F is enabled; `base[j] + off + 16` is at
                // most `last`, checked against the buffer's length above
                // (the taps grow with `t`, the last is the largest).
                let x = unsafe { _mm512_loadu_ps(ptr.add(base[j] + off)) };
                acc[j] = _mm512_fmadd_ps(w, x, acc[j]);
            }
        }
        acc
    }

    /// The epilogue on the transposed accumulators (`acc[l]`: channel
    /// `c0 + l`'s output pixels `q..q + n`, `ep` the group's): the other
    /// bodies' operations in their order.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(in crate::simd::conv) fn epilogue<const OH: usize, const OW: usize>(
        ep: &Epilogue<'_, LANES, OH, OW>,
        q: usize,
        n: usize,
        acc: &mut [__m512; 16],
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
        match ep.act {
            PostAct::None => {}
            // `post_act512`'s ReLU, inline: called on `acc` itself, that
            // function (not inlined) kept the 16 vectors in memory.
            PostAct::Relu => {
                let zero = _mm512_setzero_ps();
                for a in acc.iter_mut() {
                    *a = _mm512_max_ps(zero, *a);
                }
            }
            act => {
                let mut v = *acc;
                post_act512(&mut v, act);
                *acc = v;
            }
        }
    }
}
