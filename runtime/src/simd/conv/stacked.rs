//! The row-stacked depthwise body (AVX-512F): a stride-1 depthwise
//! convolution on planes whose rows are at most half a vector wide, each
//! vector holding several *whole output rows* of one channel, straight
//! from the input plane: nothing is packed or transposed.
//!
//! # Why
//!
//! DS-CNN's depthwise layers have 5-column rows (25×5 planes), and
//! MobileNetV1's last stride-1 ones 6 and 3. The row-wise body
//! ([`super::rowwise`]) puts one row in a vector (5 of 16 lanes); the
//! channel-blocked body ([`super::depthwise`]) fills its vectors with
//! channels but transposes the input into pixel-major order and the output
//! back, a shuffle per four values each way, which cost more than its
//! multiply-adds: DS-CNN's 64-channel 25×5 layer ran at 16% of the FMA
//! peak, and its four such layers were about a third of the network.
//!
//! # Algorithm
//!
//! With output rows as wide as the input's (`OW = W`: stride 1, `PL + PR
//! = KW − 1`), output pixel `(r, c)` of a plane reads input `(r + kh·DH −
//! PT, c + kw − PL)`, which in the flattened plane is `r·W + c` shifted by
//! a constant for each tap: the `rows() · W` output pixels of `rows()`
//! consecutive rows read `rows() · W` consecutive input elements per tap.
//! So each vector holds `rows() = ⌊16 / W⌋` whole output rows (DS-CNN's
//! rows of 5: three rows, 15 of the 16 lanes), and each tap is one fused
//! multiply-add. Each kernel row's taps are one unaligned load of 16
//! floats and one of the `KW − 1` after them, shifted into place with
//! `valignd` ([`avx512`]'s `shifted`), not a load per tap: 15 of 16 such
//! loads cross a cache line, and with one per tap they were a third of
//! the layer's time (all loads aligned, a measurement only with wrong
//! results: DS-CNN's layer 3.0 → 1.9 µs; `valignd` made it 2.7).
//!
//! - *Columns*: a lane whose input column is in the padding would read the
//!   neighbouring row's element instead; the load's mask, one per kernel
//!   column and the same for every vector (so in a mask register
//!   throughout), zeroes it.
//! - *Rows*: each channel's plane is first copied into a *slot* on the
//!   stack with zeros before and after it, where the rows of the padding
//!   (and those past the last output row that the last vector's lanes
//!   read) are zeros: a handful of vector copies per plane (8 for 25×5),
//!   against masks that would differ for each tap of the first and last
//!   vectors. (A first version computed those masks in the loop: DS-CNN's
//!   layer took 4.6 µs, against 3.7 for the channel-blocked body.)
//!
//! Channel by channel, the plane's vectors are computed in blocks of at
//! most [`BLOCK`] of nearly equal size (independent accumulators for the
//! FMA latency; DS-CNN's 9 vectors as 5 + 4), planes of fewer vectors
//! several channels at a time (6×6: 2 channels × 3 vectors). The copy of
//! the next channels' planes goes into a second set of slots, so that the
//! loads do not wait for its stores. The
//! accumulators go through the epilogue ([`Post`](crate::conv::Post):
//! norm, residual, activation, the other bodies' operations) and are stored
//! with one masked store each: the plane is contiguous, so a vector's rows
//! are consecutive output elements too.
//!
//! Each output is `bias + Σ_kh Σ_kw w·x` in that order, one fused
//! multiply-add per term, `x` zero in the padding: the other depthwise
//! bodies' order and values, so the same bits.
//!
//! # Where it runs
//!
//! [`applies`]: depthwise (`groups = in = out channels`), stride 1,
//! horizontal dilation 1, output rows as wide as the input's and at most
//! half a vector (8 columns), at most [`MAX_KW`] kernel columns, and the
//! two sets of slots of the channels computed together within [`SLOTS`]
//! floats (a plane of up to about 450 pixels). [`profitable`]: planes of
//! two vectors or more. With AVX-512F only: with AVX2's 8 lanes a vector
//! would hold one of DS-CNN's rows.

use crate::simd::conv::rowwise::MAX_KW;

/// The most vectors computed together: independent accumulators, enough
/// for the FMA latency (4 cycles, 2 a cycle) with each tap's weight in a
/// register.
pub(crate) const BLOCK: usize = 8;

/// The lanes of a vector.
const LANES: usize = 16;

/// The floats of the stack buffer that holds the slots (4 KiB).
pub(crate) const SLOTS: usize = 1024;

/// Whether this body computes the zero-padded convolution: see the
/// [module docs](self#where-it-runs).
pub(crate) const fn applies(
    (g, c, cg, o): (usize, usize, usize, usize),
    (sh, sw, dw): (usize, usize, usize),
    (w, oh, ow): (usize, usize, usize),
    (kh, kw, dh, pt, pl): (usize, usize, usize, usize, usize),
) -> bool {
    cg == 1
        && g == c
        && o == c
        && sh == 1
        && sw == 1
        && dw == 1
        && w == ow
        && ow > 0
        && 2 * ow <= LANES
        && oh > 0
        && kh > 0
        && kw <= MAX_KW
        && oh <= SLOTS
        && kh <= SLOTS
        && dh <= SLOTS
        && pt <= SLOTS
        && pl <= SLOTS
        && 2 * together(vectors(oh, ow)) * slot(oh, w, (kh, kw, dh, pt, pl)) <= SLOTS
}

/// Whether it beats the other bodies where it [`applies`], on planes of
/// `oh` output rows of `ow` columns: on those of two vectors or more.
/// Measured with `taskset -c 0 cargo bench -p constnet-runtime --bench
/// kernels -- layers/`, against the channel-blocked body that ran them
/// before (µs, an AMD EPYC with AVX-512, interleaved runs): DS-CNN's 64
/// channels of 25×5 3.72 → 2.70, MobileNetV1's 128 of 6×6 1.95 → 1.71;
/// its 256 of 3×3 (one vector of 9 lanes, eight channels a block) 1.22
/// against 2.21, so those stay on the channel-blocked body.
pub(crate) const fn profitable(oh: usize, ow: usize) -> bool {
    ow > 0 && 2 * ow <= LANES && vectors(oh, ow) >= 2
}

/// Output rows per vector, for rows of `ow` columns.
pub(crate) const fn rows(ow: usize) -> usize {
    LANES / ow
}

/// The vectors of a plane of `oh` output rows of `ow` columns.
const fn vectors(oh: usize, ow: usize) -> usize {
    oh.div_ceil(rows(ow))
}

/// The channels computed together for planes of `vectors` vectors: as
/// many as [`BLOCK`] takes, for planes of up to 4 vectors.
const fn together(vectors: usize) -> usize {
    match vectors {
        1 => 8,
        2 => 4,
        3 | 4 => 2,
        _ => 1,
    }
}

/// The channels from `o` of `c` computed together for planes of
/// `vectors` vectors: [`together`] while they last, then one at a time.
const fn group(o: usize, vectors: usize, c: usize) -> usize {
    if o + together(vectors) <= c {
        together(vectors)
    } else {
        1
    }
}

/// The zeros before a plane in its slot: at least the `pt` rows and `pl`
/// columns of padding the first vector's taps read, a whole number of
/// vectors (so that the copy's stores are aligned).
const fn lead(w: usize, pt: usize, pl: usize) -> usize {
    (pt * w + pl).next_multiple_of(LANES)
}

/// The floats of a channel's slot for a plane of `oh` output rows of `w`
/// columns: the lead, the plane, and zeros to past the last element the
/// last vector's last tap's last lane reads (first output row `(v − 1) ·
/// rows(w)`, input row `+ (kh − 1)·dh − pt` from the lead's end, column
/// `+ kw − 1 − pl`, lane 15); a whole number of vectors. At least the
/// lead and the plane: the rows the last vector reads reach the last row
/// of padding below, `oh + (kh − 1)·dh = h + pt + pb`.
const fn slot(
    oh: usize,
    w: usize,
    (kh, kw, dh, pt, pl): (usize, usize, usize, usize, usize),
) -> usize {
    let last = (vectors(oh, w) - 1) * rows(w) + (kh - 1) * dh;
    (lead(w, pt, pl) + last * w + kw + LANES).next_multiple_of(LANES)
}

/// The AVX-512F body.
pub(crate) mod avx512 {
    use super::{group, lead, rows, slot, together, vectors, BLOCK, LANES, SLOTS};
    use crate::conv::Post;
    use crate::simd::conv::rowwise::avx512::{activate, normalize};
    use crate::simd::conv::rowwise::MAX_KW;
    use crate::simd::conv::{coefficients, lane_mask};
    use core::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_castps_si512, _mm512_castsi512_ps, _mm512_fmadd_ps,
        _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_alignr_epi32, _mm512_maskz_loadu_ps,
        _mm512_maskz_mov_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_store_ps,
    };
    use core::mem::MaybeUninit;

    /// The slots, cache-line aligned.
    #[repr(C, align(64))]
    struct Slots([MaybeUninit<f32>; SLOTS]);

    /// One channel's taps (`KH·KW`, row-major), bias and norm
    /// coefficients.
    #[derive(Clone, Copy)]
    struct Channel<'a> {
        weight: &'a [f32],
        bias: f32,
        norm: Option<(f32, f32)>,
    }

    /// Every vector of channels `o..o + k`, whose planes are in the slots
    /// from float `at`: all of them at once for `k > 1` (planes of fewer
    /// than [`BLOCK`] vectors), else in blocks of nearly equal size, the
    /// first `vectors % blocks` one vector larger. A macro, expanded in
    /// [`conv2d`]: as a function, LLVM did not inline it, and the call
    /// per channel (with `vzeroupper`s and copies of its arguments) was
    /// slower.
    macro_rules! blocks {
        ($layer:expr, $slots:expr, ($o:expr, $k:expr, $at:expr), $output:expr) => {{
            let (layer, o, at) = ($layer, $o, $at);
            macro_rules! run {
                ($kk:literal, $v:literal, $first:expr) => {{
                    let mut chs = [channel(layer, o); $kk];
                    for (i, ch) in chs.iter_mut().enumerate().skip(1) {
                        *ch = channel(layer, o + i);
                    }
                    let geometry = Geometry::<PT, PL, DH, W, KH, KW> {
                        cols: layer.cols,
                        len: layer.len,
                        at,
                    };
                    block::<$kk, $v, PT, PL, DH, W, KH, KW, O, OH, OW>(
                        &chs,
                        &geometry,
                        $slots,
                        layer.post,
                        (o, $first),
                        $output,
                    );
                }};
            }
            let vectors = vectors(OH, OW);
            if $k > 1 {
                match vectors {
                    1 => run!(8, 1, 0),
                    2 => run!(4, 2, 0),
                    3 => run!(2, 3, 0),
                    _ => run!(2, 4, 0),
                }
            } else {
                let blocks = vectors.div_ceil(BLOCK);
                let mut v = 0;
                for b in 0..blocks {
                    let n = vectors / blocks + usize::from(b < vectors % blocks);
                    match n {
                        1 => run!(1, 1, v),
                        2 => run!(1, 2, v),
                        3 => run!(1, 3, v),
                        4 => run!(1, 4, v),
                        5 => run!(1, 5, v),
                        6 => run!(1, 6, v),
                        7 => run!(1, 7, v),
                        _ => run!(1, 8, v),
                    }
                    v += n;
                }
            }
        }};
    }

    /// [`crate::conv::conv2d_fused`] for a depthwise convolution that
    /// [`super::applies`]; see the [module docs](super).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    pub(crate) fn conv2d<
        const PT: usize,
        const PL: usize,
        const DH: usize,
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
        debug_assert!(super::applies(
            (C, C, CG, O),
            (1, 1, 1),
            (W, OH, OW),
            (KH, KW, DH, PT, PL)
        ));
        let norms: Option<[(f32, f32); O]> = post.norm.map(|n| coefficients::<O, O>(&n, 0));
        let vectors = vectors(OH, OW);
        let layer = Layer {
            weight,
            bias,
            norms: norms.as_ref(),
            post,
            cols: columns::<PL, W, KW>(),
            len: slot(OH, W, (KH, KW, DH, PT, PL)),
        };
        let mut slots = Slots([MaybeUninit::uninit(); SLOTS]);
        // The zeros of every slot used; `copy` rewrites the planes only.
        for v in slots.0[..2 * together(vectors) * layer.len].chunks_exact_mut(LANES) {
            // SAFETY: AVX-512F is enabled; `v` is 16 floats of the
            // cache-line aligned buffer at a multiple of 16 floats.
            unsafe { _mm512_store_ps(v.as_mut_ptr().cast::<f32>(), _mm512_setzero_ps()) };
        }
        // Two sets of slots: a group's planes are copied into one while
        // the group before is computed from the other, so that the loads
        // do not wait for the copy's stores (reading them at once,
        // DS-CNN's layer took 3.9 µs).
        let set = together(vectors) * layer.len;
        let first = (0, group(0, vectors, O));
        copy(input, &mut slots, first, lead(W, PT, PL), layer.len);
        let (mut o, mut at) = (0, 0);
        while o < O {
            let k = group(o, vectors, O);
            if o + k < O {
                let next = (o + k, group(o + k, vectors, O));
                copy(
                    input,
                    &mut slots,
                    next,
                    set - at + lead(W, PT, PL),
                    layer.len,
                );
            }
            blocks!(&layer, &slots, (o, k, at), output);
            o += k;
            at = set - at;
        }
    }

    /// What every block of a layer reads: the weights, biases, norm
    /// coefficients and epilogue, the load mask of each kernel column
    /// (`cols`, from [`columns`]) and the floats of a slot (`len`).
    struct Layer<
        'a,
        const O: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    > {
        weight: &'a [[[[f32; KW]; KH]; CG]; O],
        bias: Option<&'a [f32; O]>,
        norms: Option<&'a [(f32, f32); O]>,
        post: &'a Post<'a, O, OH, OW>,
        cols: [u16; MAX_KW],
        len: usize,
    }

    /// Channel `o`'s taps, bias and norm coefficients. `match`es, not a
    /// closure or `Option::map`: those are not inlined into functions with
    /// other target features, and the call (with a `vzeroupper` and a
    /// store-forwarding stall on its result) took 13% of DS-CNN's layer.
    #[inline(always)]
    #[allow(clippy::manual_map)] // See above.
    fn channel<
        'a,
        const O: usize,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    >(
        layer: &Layer<'a, O, CG, KH, KW, OH, OW>,
        o: usize,
    ) -> Channel<'a> {
        Channel {
            weight: layer.weight[o][0].as_flattened(),
            bias: match layer.bias {
                Some(b) => b[o],
                None => 0.0,
            },
            norm: match layer.norms {
                Some(n) => Some(n[o]),
                None => None,
            },
        }
    }

    /// What the blocks of a group of channels share: the load mask of
    /// each kernel column (`columns`), the floats of a slot, where the
    /// group's slots start.
    struct Geometry<
        const PT: usize,
        const PL: usize,
        const DH: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
    > {
        cols: [u16; MAX_KW],
        len: usize,
        /// The first slot's first float.
        at: usize,
    }

    /// Copies the input planes of channels `o..o + k` into `slots`, plane
    /// `i` from float `at + i·len` (multiples of 16), 16 floats at a time.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn copy<const C: usize, const H: usize, const W: usize>(
        input: &[[[f32; W]; H]; C],
        slots: &mut Slots,
        (o, k): (usize, usize),
        at: usize,
        len: usize,
    ) {
        for i in 0..k {
            let src = input[o + i].as_flattened();
            let dst = &mut slots.0[at + i * len..][..src.len()];
            for (d, s) in dst.chunks_mut(LANES).zip(src.chunks(LANES)) {
                let m = lane_mask(0, s.len());
                // SAFETY: AVX-512F is enabled; the mask keeps lanes
                // `0..n`, `n` the length of both `s` and `d`.
                unsafe {
                    let x = _mm512_maskz_loadu_ps(m, s.as_ptr());
                    _mm512_mask_storeu_ps(d.as_mut_ptr().cast::<f32>(), m, x);
                }
            }
        }
    }

    /// The load mask of each kernel column: the lanes (`rows(W)` rows of
    /// `W` columns) whose input column `c + kw − PL` is in `0..W`.
    #[allow(clippy::cast_possible_wrap)] // Sizes far below `isize::MAX`.
    fn columns<const PL: usize, const W: usize, const KW: usize>() -> [u16; MAX_KW] {
        let mut m = [0; MAX_KW];
        for (kw, m) in m.iter_mut().enumerate().take(KW) {
            let shift = kw as isize - PL as isize;
            for c in 0..W {
                if (0..W as isize).contains(&(c as isize + shift)) {
                    for r in 0..rows(W) {
                        *m |= 1 << (r * W + c);
                    }
                }
            }
        }
        m
    }

    /// Vectors `v..v + V` of channels `o..o + K` (in slots `0..K`):
    /// computed, through the epilogue and stored, the accumulators in
    /// registers throughout.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    fn block<
        const K: usize,
        const V: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        chs: &[Channel<'_>; K],
        geometry: &Geometry<PT, PL, DH, W, KH, KW>,
        slots: &Slots,
        post: &Post<'_, O, OH, OW>,
        (o, v): (usize, usize),
        output: &mut [[[f32; OW]; OH]; O],
    ) {
        let r0 = v * rows(OW);
        let mut acc: [[__m512; V]; K] = band(chs, geometry, slots, r0);
        for (k, (ch, acc)) in chs.iter().zip(acc.iter_mut()).enumerate() {
            finish(ch, post, (o + k, r0), acc, output[o + k].as_flattened_mut());
        }
    }

    /// The accumulators of output rows `r0..r0 + V·rows(W)` of each
    /// channel, without the epilogue.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::cast_possible_wrap)] // Sizes far below `isize::MAX`.
    fn band<
        const K: usize,
        const V: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
    >(
        chs: &[Channel<'_>; K],
        geometry: &Geometry<PT, PL, DH, W, KH, KW>,
        slots: &Slots,
        r0: usize,
    ) -> [[__m512; V]; K] {
        let mut acc = [[_mm512_setzero_ps(); V]; K];
        for (ch, acc) in chs.iter().zip(acc.iter_mut()) {
            *acc = [_mm512_set1_ps(ch.bias); V];
        }
        let plane = slots
            .0
            .as_ptr()
            .cast::<f32>()
            .wrapping_add(geometry.at + lead(W, PT, PL));
        for kh in 0..KH {
            for (k, (ch, acc)) in chs.iter().zip(acc.iter_mut()).enumerate() {
                let x = plane.wrapping_add(k * geometry.len);
                for (j, a) in acc.iter_mut().enumerate() {
                    // The input row the vector's first lane reads at this
                    // kernel row, from the plane's first (negative in the
                    // padding above it).
                    let ih = (r0 + j * rows(W) + kh * DH) as isize - PT as isize;
                    let s = ih * W as isize - PL as isize;
                    // SAFETY: AVX-512F is enabled on this function. Lane
                    // `l` of `first` reads float `s + l` of the slot's
                    // plane, of `next` float `s + 16 + l` for `l < KW − 1`:
                    // the floats the row's taps read, inside the slot
                    // (`slot`: from `−lead` for the first vector's first
                    // tap, to past the last vector's last tap's lane 15),
                    // all of it written (zeros, then the plane).
                    let (first, next) = unsafe {
                        (
                            _mm512_loadu_ps(x.wrapping_offset(s)),
                            _mm512_maskz_loadu_ps(lane_mask(0, KW - 1), x.wrapping_offset(s + 16)),
                        )
                    };
                    for kw in 0..KW {
                        let w = _mm512_set1_ps(ch.weight[kh * KW + kw]);
                        let v = shifted(first, next, kw, geometry.cols[kw]);
                        *a = _mm512_fmadd_ps(w, v, *a);
                    }
                }
            }
        }
        acc
    }
    /// The 16 floats from `kw` of the 32 in `first` and `next`, the lanes
    /// not in `mask` zero: one `valignd` (a load of its own would split a
    /// cache line, as 15 of 16 of these unaligned loads do, and take both
    /// of the core's load slots; with three loads a row DS-CNN's layer took
    /// 3.0 µs).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn shifted(first: __m512, next: __m512, kw: usize, mask: u16) -> __m512 {
        let (a, b) = (_mm512_castps_si512(next), _mm512_castps_si512(first));
        let v = match kw {
            0 => return _mm512_maskz_mov_ps(mask, first),
            1 => _mm512_maskz_alignr_epi32::<1>(mask, a, b),
            2 => _mm512_maskz_alignr_epi32::<2>(mask, a, b),
            3 => _mm512_maskz_alignr_epi32::<3>(mask, a, b),
            4 => _mm512_maskz_alignr_epi32::<4>(mask, a, b),
            5 => _mm512_maskz_alignr_epi32::<5>(mask, a, b),
            _ => _mm512_maskz_alignr_epi32::<6>(mask, a, b),
        };
        _mm512_castsi512_ps(v)
    }

    /// The epilogue (norm, residual, activation: the other bodies'
    /// operations) and the stores of `acc`'s vectors, whole output rows
    /// from `r0` of channel `o`'s (flattened) output `plane`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn finish<const V: usize, const O: usize, const OH: usize, const OW: usize>(
        ch: &Channel<'_>,
        post: &Post<'_, O, OH, OW>,
        (o, r0): (usize, usize),
        acc: &mut [__m512; V],
        plane: &mut [f32],
    ) {
        normalize(acc, ch.norm);
        if let Some(residual) = post.residual {
            let residual = residual[o].as_flattened();
            for (j, a) in acc.iter_mut().enumerate() {
                let (first, m) = stored::<OH, OW>(r0, j);
                let src = &residual[first..];
                // SAFETY: AVX-512F is enabled; the mask keeps lanes `0..n`
                // with `n <= src.len()` (`stored`).
                *a = _mm512_add_ps(*a, unsafe { _mm512_maskz_loadu_ps(m, src.as_ptr()) });
            }
        }
        activate(acc, post.act);
        for (j, a) in acc.iter().enumerate() {
            let (first, m) = stored::<OH, OW>(r0, j);
            let dst = &mut plane[first..];
            // SAFETY: AVX-512F is enabled; the mask keeps lanes `0..n`
            // with `n <= dst.len()` (`stored`).
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), m, *a) };
        }
    }

    /// The first element of vector `j` of a block from output row `r0`,
    /// and the mask of its lanes that are output elements: its rows, up to
    /// the plane's last.
    #[inline]
    fn stored<const OH: usize, const OW: usize>(r0: usize, j: usize) -> (usize, u16) {
        let row = r0 + j * rows(OW);
        let m = if row + rows(OW) <= OH {
            lane_mask(0, rows(OW) * OW)
        } else {
            lane_mask(0, (OH - row) * OW)
        };
        (row * OW, m)
    }
}
