//! The packed SIMD convolution: every zero-padded geometry — any stride,
//! padding on each side, dilation, groups (depthwise included) — as one
//! mask-free inner loop, by repacking the input once per call so that every
//! weight tap reads a *contiguous* run of it.
//!
//! # The packed input
//!
//! With the zero padding written out, output pixel `(oh, ow)` reads, at tap
//! `(kh, kw)`, padded row `oh·SH + kh·DH` and column `ow·SW + kw·DW`. Write
//! `kh·DH = SH·a + ph` and `kw·DW = SW·b + pw` (`ph < SH`, `pw < SW`): the
//! row is `SH·(oh + a) + ph` and the column `SW·(ow + b) + pw`. So if the
//! padded plane is split into *phase planes*, `P[ph][pw][i][j] =
//! padded[SH·i + ph][SW·j + pw]` (for stride 2: even rows and columns, even
//! rows and odd columns, …), tap `(kh, kw)` reads phase plane `(ph, pw)` at
//! `[oh + a][ow + b]`: consecutive output columns read consecutive
//! elements, whatever the stride. Only the phases some tap reads are packed
//! (a 1×1 kernel at stride 2 reads one of four).
//!
//! Every phase plane is stored with a row pitch of `PITCH = OW + bmax`
//! (`bmax` the largest `b`), so the plane's element `[i][j]` is at
//! `i·PITCH + j`. Then output pixel `(oh, ow)`'s *wide* index
//! `q = oh·PITCH + ow` reads element `q + a·PITCH + b` at tap `(kh, kw)`:
//! an offset that does not depend on the pixel. The kernel computes the
//! wide output `q = 0..(OH−1)·PITCH + OW` in vectors of consecutive `q`
//! (crossing output rows as the direct body does) with one plain load per
//! vector and tap — no masks, no gathers, no padding tests. The
//! `PITCH − OW` junk columns per row (`bmax` of them: 2 of 34 for a padded
//! 3×3 over 32 columns, 1 of 17 at stride 2, none for 1×1) are computed and
//! dropped at the store. Where the output width is a multiple of a chunk
//! of vectors (below), each output row is computed on its own instead,
//! from its first column: no vector crosses a row's end, so the junk
//! columns are skipped and every store is a whole vector (a masked store
//! is microcoded on AMD's cores; MobileNetV1's first layer took 13% less).
//!
//! Without padding at stride 1 the input already is that layout
//! (`PITCH = W`, one phase): the kernel reads it in place, nothing is
//! packed. That is every 1×1 pointwise convolution, a GEMM
//! `out[O][HW] = W[O][C] · X[C][HW]` whose pixel vectors are plain loads
//! along `HW`.
//!
//! # Cost
//!
//! Packing writes each input element once per phase it is read in (once
//! for stride 1, and for stride 2 with a 3×3 kernel; rows that two bands
//! share twice), into a buffer of [`CAP`] floats on the stack
//! (uninitialised: only what is packed is ever read); a convolution whose
//! packed input is larger is cut into *bands* of output rows, each packed
//! and computed in turn. Against that, every one of the `O × K` (`K =
//! C/G·KH·KW`) weight taps per output vector is one load shared by `OB`
//! fused multiply-adds, and one broadcast weight serves `NS` vectors: for
//! AVX-512 `OB × NS` = 8 × 3 accumulators, 11 loads per 24 FMAs, so the
//! FMA ports, not the loads, bound the loop.
//!
//! # Depthwise
//!
//! A depthwise convolution (one input and one output channel per group)
//! has a single output channel per input plane: one load per FMA, half the
//! FMA peak at best, and its planes are small (DS-CNN's 25×5), so the
//! fixed costs per plane matter as much as the loop. So all its channels
//! are packed in one pass, and each chunk of `NS` vectors (8 for AVX-512,
//! 8 accumulators to hide the FMA latency) is computed for every channel in
//! turn: the chunk's store segments are worked out once for all channels,
//! the batch norm's coefficients once per call.
//!
//! # Packing rows
//!
//! A phase-plane row is written 8 columns at a time with AVX2 (16 with
//! AVX-512 at stride 1): plain loads where the source is inside the input
//! row, masked loads at its edges (a masked-off lane reads zero: the
//! padding), a masked store at the row's end; at stride 2 the even (or
//! odd) elements of 16 source columns come out of one `shufps` and one
//! `vpermpd`. Larger strides gather their 8 elements one by one.
//!
//! A padding row, and any step none of whose lanes is inside the input
//! row, is stored as zeros *without a load*: a masked load is free only if
//! its address is mapped, masked-off lanes or not. On this machine's AMD
//! EPYC a fully masked load from an unmapped address (a padding row's
//! wrapped null pointer) costs about 150 ns, a fault-suppression assist;
//! that made packing 35% of ResNet-8's time until it was found.
//!
//! # Order and epilogue
//!
//! Each output is `bias + Σ_c Σ_kh Σ_kw w·x`, in that order, one fused
//! multiply-add per term. The epilogue ([`crate::conv::Post`]) is applied
//! to the accumulators in registers, as in the direct body (and with the
//! same operations, so the fused result is the unfused one bit for bit);
//! the residual is read, and the results stored, with one masked access per
//! output row segment of a vector.
//!
//! # Why the accesses stay in bounds (`IN_BOUNDS`)
//!
//! A vector of wide pixels `q..q + LANES` loads lanes `q + l < NQ`, where
//! `NQ = (rows − 1)·PITCH + OW` is one past the band's last real pixel
//! (the last vector of a band is masked to those lanes). For such a lane,
//! with `q + l = r·PITCH + ow` (`r < rows`, `ow < PITCH`), tap `(kh, kw)`
//! reads element `(r + a)·PITCH + ow + b` of its phase plane, below
//! `(rows + amax)·PITCH`: inside the plane, whose `rows + amax` rows of
//! `PITCH` elements are all written by the pack (real input or zeros). In
//! place (no padding, stride 1), the plane is the input channel itself:
//! `rows + amax = H` rows of `PITCH = W` elements. The stores write only
//! lanes whose column `ow < OW` in a row `r < rows` of the band.

use super::{block_size, lane_mask, mask8, row_mask, Epilogue};
use crate::conv::Post;
use core::arch::x86_64::{
    __m256, _mm256_castpd_ps, _mm256_castps_pd, _mm256_loadu_ps, _mm256_maskload_ps,
    _mm256_maskstore_ps, _mm256_permute4x64_pd, _mm256_setzero_ps, _mm256_shuffle_ps,
    _mm256_storeu_ps,
};
use core::mem::MaybeUninit;

/// The packing buffer's capacity in floats (80 KiB on the stack): enough
/// for a 16-channel 32×32 input with its padding (ResNet-8's first stage)
/// in one band. Against 64 KiB, which cut that stage into two bands,
/// ResNet-8 was about 4% faster (`cargo bench --bench zoo`, interleaved).
pub(crate) const CAP: usize = 20480;

/// The part of [`CAP`] a depthwise convolution's bands use (64 KiB): with
/// 80 KiB bands MobileNetV1, whose depthwise layers pack every channel at
/// once, measured no faster (147–167 against 157–174 µs, interleaved), so
/// they keep the smaller bands.
const DW_CAP: usize = 16384;

/// Whether the packed body beats the portable one for `per_group` output
/// and `cg` input channels per group and `taps` kernel taps. Taking every
/// layer of the zoo off the portable loops (depthwise included) made each
/// zoo network faster (`cargo bench --bench zoo`), so always, for now; a
/// rule measured per layer kind would go here.
pub(crate) const fn profitable(per_group: usize, cg: usize, taps: usize) -> bool {
    let _ = (per_group, cg, taps);
    true
}

/// Where the packed (or in-place) input of one group is and how it is laid
/// out; see the [module docs](self).
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    /// The input is read in place: no padding, stride 1.
    pub(crate) in_place: bool,
    /// A depthwise convolution (one input and one output channel per
    /// group, several groups): every channel is packed at once and each
    /// chunk of pixels is computed for all of them (`dw_band`).
    pub(crate) depthwise: bool,
    /// The row pitch of a phase plane, `OW + bmax` (`W` in place).
    pub(crate) pitch: usize,
    /// The largest `a = kh·DH / SH`: extra rows a band reads below its own.
    pub(crate) amax: usize,
    /// Bit `ph` set iff some tap reads row phase `ph`.
    pub(crate) row_phases: u64,
    /// Bit `pw` set iff some tap reads column phase `pw`.
    pub(crate) col_phases: u64,
    /// Output rows per band.
    pub(crate) band: usize,
    /// Rows of a phase plane: `band + amax` (`H` in place).
    pub(crate) plane_rows: usize,
    /// Floats per input channel: the phase planes, `phases · plane_rows ·
    /// pitch` (`H·W` in place).
    pub(crate) channel: usize,
    /// Whether the packed path takes this geometry at all.
    pub(crate) fits: bool,
}

impl Layout {
    /// The layout of a zero-padded convolution with `g` groups of `cg`
    /// input channels (`c` in all) and `o` output channels; `fits` is false
    /// if its strides are too large for the phase masks or one band's
    /// packed input (one group's, or every channel's if depthwise) exceeds
    /// [`CAP`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) const fn new(
        (sh, sw): (usize, usize),
        (pt, pb, pl, pr): (usize, usize, usize, usize),
        (dh, dw): (usize, usize),
        (g, c, cg, o): (usize, usize, usize, usize),
        (h, w): (usize, usize),
        (kh, kw): (usize, usize),
        (oh, ow): (usize, usize),
    ) -> Layout {
        let depthwise = g > 1 && cg == 1 && o == g;
        // The channels packed together.
        let packed = if depthwise { c } else { cg };
        let in_place = sh == 1 && sw == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0;
        let amax = (kh - 1) * dh / sh;
        let bmax = (kw - 1) * dw / sw;
        let mut row_phases = 0u64;
        let mut col_phases = 0u64;
        let small = sh <= 64 && sw <= 64;
        if small {
            let mut k = 0;
            while k < kh {
                row_phases |= 1 << ((k * dh) % sh);
                k += 1;
            }
            k = 0;
            while k < kw {
                col_phases |= 1 << ((k * dw) % sw);
                k += 1;
            }
        }
        if in_place {
            return Layout {
                in_place,
                depthwise,
                pitch: w,
                amax,
                row_phases,
                col_phases,
                band: oh,
                plane_rows: h,
                channel: h * w,
                fits: true,
            };
        }
        let pitch = ow + bmax;
        let phases = (row_phases.count_ones() * col_phases.count_ones()) as usize;
        let per_row = packed * phases * pitch;
        // The most output rows whose packed input fits.
        let rows = if depthwise { DW_CAP } else { CAP } / per_row;
        let band = rows.saturating_sub(amax);
        let band = if band < oh { band } else { oh };
        Layout {
            in_place,
            depthwise,
            pitch,
            amax,
            row_phases,
            col_phases,
            band,
            plane_rows: band + amax,
            channel: phases * (band + amax) * pitch,
            fits: small && band > 0,
        }
    }

    /// The offset of tap `(kh, kw)`'s first element from its channel's
    /// first: its phase plane's, plus `a·PITCH + b`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn tap(&self, kh: usize, kw: usize, sh: usize, sw: usize, dh: usize, dw: usize) -> usize {
        let (a, ph) = (kh * dh / sh, kh * dh % sh);
        let (b, pw) = (kw * dw / sw, kw * dw % sw);
        // The phase plane's index among the packed ones: row phase rank ×
        // column phases + column phase rank.
        let below = |mask: u64, p: usize| (mask & ((1u64 << p) - 1)).count_ones() as usize;
        let plane = below(self.row_phases, ph) * self.col_phases.count_ones() as usize
            + below(self.col_phases, pw);
        plane * self.plane_rows * self.pitch + a * self.pitch + b
    }
}

/// Packs output rows `r0..r0 + rows` of `CG` channels (one group's, or
/// every channel of a depthwise convolution) into `buf`: for every channel
/// and every read phase `(ph, pw)`, the phase plane rows `r0..r0 + rows +
/// amax`, each `PITCH` elements, zeros where they read the padding
/// (`row`: [`pack_row`], or the AVX-512 body's `pack_row1` at stride 1).
#[inline(always)]
#[allow(clippy::cast_possible_wrap)] // Sizes are far below `isize::MAX`.
fn pack<
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const CG: usize,
    const H: usize,
    const W: usize,
>(
    lay: &Layout,
    input: &[[[f32; W]; H]; CG],
    buf: &mut [MaybeUninit<f32>; CAP],
    r0: usize,
    rows: usize,
    row: impl Fn(&mut [MaybeUninit<f32>], Option<&[f32]>, isize),
) {
    let pitch = lay.pitch;
    let plane_len = lay.plane_rows * pitch;
    let mut planes = buf.chunks_exact_mut(plane_len);
    for channel in input {
        for ph in (0..SH).filter(|&p| lay.row_phases >> p & 1 == 1) {
            for pw in (0..SW).filter(|&p| lay.col_phases >> p & 1 == 1) {
                let Some(plane) = planes.next() else { return };
                for (i, dst) in plane
                    .chunks_exact_mut(pitch)
                    .take(rows + lay.amax)
                    .enumerate()
                {
                    let ih = (SH * (r0 + i) + ph).checked_sub(PT);
                    let src = ih.and_then(|ih| channel.get(ih));
                    row(dst, src.map(|r| r.as_slice()), pw as isize - PL as isize);
                }
            }
        }
    }
}

/// One row of a phase plane: `dst[j] = src[SW·j + first]`, zero where that
/// index is outside `src` or there is no `src` (a padding row), 8 columns
/// at a time: masked loads of the source (a masked-off lane reads zero),
/// at stride 2 split into even and odd columns with two shuffles, and a
/// masked store.
#[target_feature(enable = "avx2")]
#[inline]
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)] // Sizes far below `isize::MAX`; clamped first.
fn pack_row<const SW: usize>(dst: &mut [MaybeUninit<f32>], src: Option<&[f32]>, first: isize) {
    let len = src.map_or(0, <[f32]>::len) as isize;
    let base = src.map_or(core::ptr::null(), <[f32]>::as_ptr);
    // The 8 source elements from index `s`, zero outside `0..len`.
    let load8 = |s: isize| -> __m256 {
        if s >= 0 && s + 8 <= len {
            // SAFETY: AVX is enabled on this function (AVX2 implies it);
            // source indices `s..s + 8` are inside `src`.
            return unsafe { _mm256_loadu_ps(base.wrapping_offset(s)) };
        }
        let lo = (-s).clamp(0, 8) as usize;
        let hi = (len - s).clamp(0, 8) as usize;
        if lo >= hi {
            return _mm256_setzero_ps();
        }
        // SAFETY: AVX is enabled on this function (AVX2 implies it).
        // `vmaskmovps` touches only lanes `lo..hi`, source indices
        // `s + l` in `0..len`: elements of `src`. The pointer is formed
        // with wrapping arithmetic; masked-off lanes are not accessed.
        unsafe { _mm256_maskload_ps(base.wrapping_offset(s), mask8(lane_mask(lo, hi))) }
    };
    let pitch = dst.len();
    let out = dst.as_mut_ptr().cast::<f32>();
    let mut j0 = 0;
    while j0 < pitch {
        let n = (pitch - j0).min(8);
        let s0 = (SW * j0) as isize + first;
        let v = if src.is_none() {
            _mm256_setzero_ps()
        } else if SW == 1 {
            load8(s0)
        } else if SW == 2 {
            // Even elements of the 16 from `s0`: `shufps` takes elements
            // 0 and 2 of each 4 of `a` and of `b` per 128-bit half, the
            // 64-bit permute puts the halves in order.
            let (a, b) = (load8(s0), load8(s0 + 8));
            let even = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                even,
            )))
        } else {
            let mut lanes = [0.0f32; 8];
            for (l, v) in lanes.iter_mut().enumerate() {
                let k = s0 + (SW * l) as isize;
                if let Some(&x) = usize::try_from(k).ok().and_then(|k| src?.get(k)) {
                    *v = x;
                }
            }
            // SAFETY: AVX is enabled on this function; `lanes` holds 8
            // floats.
            unsafe { _mm256_loadu_ps(lanes.as_ptr()) }
        };
        let p = out.wrapping_add(j0);
        if n == 8 {
            // SAFETY: AVX is enabled on this function; elements `j0..j0 + 8`
            // of `dst` exist (`n == 8`).
            unsafe { _mm256_storeu_ps(p, v) };
        } else {
            // SAFETY: AVX is enabled on this function; the store writes
            // only lanes `0..n`, elements `j0..pitch` of `dst`.
            unsafe { _mm256_maskstore_ps(p, mask8(lane_mask(0, n)), v) };
        }
        j0 += 8;
    }
}

/// Per vector of a chunk, the output row segments it stores: segment `k`
/// the lanes `mask[s][k]` at output index `off[s][k] + lane` of each
/// channel's plane. The kernels visit a fixed number of segments per
/// vector, [`segments`]: the unused ones have empty masks (a masked access
/// with no lane is none), so the AVX-512 store loop has no data-dependent
/// branch (a vector of a 7-wide plane touches 2 or 3 rows,
/// unpredictably). The AVX2 one skips them: `vmaskmovps` stores are
/// microcoded on AMD's cores, empty or not. Without junk columns (`pitch
/// == ow`) a vector is one segment however many rows it spans, and the
/// AVX-512 kernel makes that one store (plain but in a band's last chunk)
/// instead of visiting the empty ones: a 1×1 layer's stores were half
/// empty (MobileNetV1's 8 → 16 on 48×48: 9.4–9.5 → 7.4–7.8 µs).
struct Stores<const NS: usize, const MS: usize> {
    off: [[isize; MS]; NS],
    mask: [[u16; MS]; NS],
}

/// The most output rows a vector of `lanes` wide pixels can touch when
/// `ow` of every `PITCH >= ow` are real, at most `ms`.
const fn segments(lanes: usize, ow: usize, ms: usize) -> usize {
    let n = super::rows_per_vector(lanes, ow);
    if n < ms {
        n
    } else {
        ms
    }
}

/// The band being computed: output rows `r0..r0 + rows`, wide pixels
/// `0..nq` (`nq = (rows − 1)·PITCH + OW`), row pitch `pitch`.
#[derive(Clone, Copy)]
struct Band {
    r0: usize,
    rows: usize,
    pitch: usize,
    nq: usize,
}

impl<const NS: usize, const MS: usize> Stores<NS, MS> {
    /// The segments of the `NS` vectors of `lanes` wide pixels from `q`
    /// in a band of output `ow` columns.
    #[inline(always)]
    #[allow(clippy::cast_possible_wrap)] // Sizes are far below `isize::MAX`.
    fn new(q: usize, lanes: usize, band: Band, ow: usize) -> Self {
        let mut st = Stores {
            off: [[0; MS]; NS],
            mask: [[0; MS]; NS],
        };
        if band.pitch == ow {
            // No junk columns (a one-column kernel: every 1×1 layer, read
            // in place or packed at a stride): the band's output is
            // contiguous and each vector one segment, its lanes those
            // before the band's end — no walk over its rows.
            for s in 0..NS {
                let qs = q + s * lanes;
                let end = band.nq.min(qs + lanes);
                st.off[s][0] = (band.r0 * ow + qs) as isize;
                st.mask[s][0] = lane_mask(0, end.saturating_sub(qs));
            }
            return st;
        }
        for s in 0..NS {
            let qs = q + s * lanes;
            let end = band.nq.min(qs + lanes);
            let mut r = qs / band.pitch;
            let mut k = 0;
            while k < MS && r < band.rows && r * band.pitch < end {
                let row = r * band.pitch;
                let lo = row.max(qs) - qs;
                let hi = (row + ow).min(end).saturating_sub(qs);
                if lo < hi {
                    st.off[s][k] = ((band.r0 + r) * ow) as isize + qs as isize - row as isize;
                    st.mask[s][k] = lane_mask(lo, hi);
                    k += 1;
                }
                r += 1;
            }
        }
        st
    }
}

/// The body shared by both instruction sets: `conv2d` packs each group
/// (band by band) and splits its output channels into blocks, `block` runs
/// the chunks of one block through `chunk`, the micro-kernel, which each
/// module writes with its own intrinsics. Each block size `OB` is listed
/// with its chunk size `NS` (vectors) and the size of the chunk that takes
/// 3 or 4 remaining vectors.
macro_rules! packed_driver {
    ($feature:literal, $max_ob:expr, $lanes:expr,
     { $($ob:literal => ($ns:literal, $tail:literal)),* }) => {
        /// [`crate::conv::conv2d_fused`] for zero padding, any geometry
        /// whose [`Layout`] fits; see the [module docs](super).
        #[target_feature(enable = $feature)]
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
            let lay = const {
                Layout::new(
                    (SH, SW),
                    (PT, PB, PL, PR),
                    (DH, DW),
                    (G, C, CG, O),
                    (H, W),
                    (KH, KW),
                    (OH, OW),
                )
            };
            let taps: [[usize; KW]; KH] =
                core::array::from_fn(|kh| core::array::from_fn(|kw| lay.tap(kh, kw, SH, SW, DH, DW)));
            let mut buf = [const { MaybeUninit::<f32>::uninit() }; CAP];
            if lay.depthwise {
                // One square root per channel, once per call, 8 channels
                // at a time.
                let norms: Option<[(f32, f32); O]> =
                    post.norm.map(|n| super::super::coefficients::<O, O>(&n, 0));
                let mut r0 = 0;
                while r0 < OH {
                    let rows = lay.band.min(OH - r0);
                    pack_input::<SH, SW, PT, PL, C, H, W>(&lay, input, &mut buf, r0, rows);
                    let band = Band {
                        r0,
                        rows,
                        pitch: lay.pitch,
                        nq: (rows - 1) * lay.pitch + OW,
                    };
                    dw_band::<CG, O, KH, KW, OH, OW>(
                        buf.as_ptr().cast::<f32>(),
                        lay.channel,
                        &taps,
                        weight,
                        bias,
                        norms.as_ref(),
                        post,
                        output,
                        band,
                    );
                    r0 += rows;
                }
                return;
            }
            let per_group = O / G;
            let size = block_size(per_group, $max_ob);
            for g in 0..G {
                let in_group = <&[_; CG]>::try_from(&input[g * CG..(g + 1) * CG])
                    .expect("group within the input channels");
                let mut r0 = 0;
                while r0 < OH {
                    let rows = lay.band.min(OH - r0);
                    let src = if lay.in_place {
                        in_group.as_ptr().cast::<f32>()
                    } else {
                        pack_input::<SH, SW, PT, PL, CG, H, W>(&lay, in_group, &mut buf, r0, rows);
                        buf.as_ptr().cast::<f32>()
                    };
                    let band = Band {
                        r0,
                        rows,
                        pitch: lay.pitch,
                        nq: (rows - 1) * lay.pitch + OW,
                    };
                    let end = (g + 1) * per_group;
                    let mut o = g * per_group;
                    while o < end {
                        let n = size.min(end - o);
                        match n {
                            $($ob => block::<$ob, $ns, $tail, CG, O, KH, KW, OH, OW>(
                                src, lay.channel, &taps, weight, bias, post, output, o, band
                            ),)*
                            _ => unreachable!("block sizes are 1..={}", $max_ob),
                        }
                        o += n;
                    }
                    r0 += rows;
                }
            }
        }

        /// One row of a phase plane ([`pack_row`]), at stride 1 the body's
        /// own `pack_row1`.
        #[target_feature(enable = $feature)]
        #[inline]
        fn pack_row_any<const SW: usize>(dst: &mut [MaybeUninit<f32>], src: Option<&[f32]>, first: isize) {
            if SW == 1 {
                pack_row1(dst, src, first);
            } else {
                pack_row::<SW>(dst, src, first);
            }
        }

        /// A depthwise convolution over one band, every channel packed in
        /// `src` (`channel` floats apart): chunks of `DW_NS` vectors, each
        /// for every channel in turn, so that its stores are worked out once.
        #[target_feature(enable = $feature)]
        #[allow(clippy::too_many_arguments)]
        fn dw_band<
            const CG: usize,
            const O: usize,
            const KH: usize,
            const KW: usize,
            const OH: usize,
            const OW: usize,
        >(
            src: *const f32,
            channel: usize,
            taps: &[[usize; KW]; KH],
            weight: &[[[[f32; KW]; KH]; CG]; O],
            bias: Option<&[f32; O]>,
            norms: Option<&[(f32, f32); O]>,
            post: &Post<'_, O, OH, OW>,
            output: &mut [[[f32; OW]; OH]; O],
            band: Band,
        ) {
            let step = DW_NS * $lanes;
            let mut q = 0;
            while q + step <= band.nq {
                dw_chunk::<DW_NS, false, CG, O, KH, KW, OH, OW>(
                    src, channel, taps, weight, bias, norms, post, output, band, q,
                );
                q += step;
            }
            match (band.nq - q).div_ceil($lanes) {
                0 => {}
                1 => dw_chunk::<1, true, CG, O, KH, KW, OH, OW>(
                    src, channel, taps, weight, bias, norms, post, output, band, q,
                ),
                2 => dw_chunk::<2, true, CG, O, KH, KW, OH, OW>(
                    src, channel, taps, weight, bias, norms, post, output, band, q,
                ),
                3 | 4 => dw_chunk::<4, true, CG, O, KH, KW, OH, OW>(
                    src, channel, taps, weight, bias, norms, post, output, band, q,
                ),
                _ => dw_chunk::<DW_NS, true, CG, O, KH, KW, OH, OW>(
                    src, channel, taps, weight, bias, norms, post, output, band, q,
                ),
            }
        }

        /// Output channels `o..o + OB` over one band: chunks of `NS`
        /// vectors, then the last, masked, chunk (of 1, 2, `TAIL` or `NS`
        /// vectors).
        #[target_feature(enable = $feature)]
        #[allow(clippy::too_many_arguments)]
        fn block<
            const OB: usize,
            const NS: usize,
            const TAIL: usize,
            const CG: usize,
            const O: usize,
            const KH: usize,
            const KW: usize,
            const OH: usize,
            const OW: usize,
        >(
            src: *const f32,
            channel: usize,
            taps: &[[usize; KW]; KH],
            weight: &[[[[f32; KW]; KH]; CG]; O],
            bias: Option<&[f32; O]>,
            post: &Post<'_, O, OH, OW>,
            output: &mut [[[f32; OW]; OH]; O],
            o: usize,
            band: Band,
        ) {
            let weight = channels!(weight, o, OB);
            let output = channels!(mut output, o, OB);
            let mut b = [0.0f32; OB];
            if let Some(bias) = bias {
                b.copy_from_slice(&bias[o..o + OB]);
            }
            let ep = Epilogue::<OB, OH, OW>::new(post, o);
            let step = NS * $lanes;
            if const { OW % (NS * $lanes) == 0 } && band.pitch != OW {
                // Whole chunks per output row: each starts a row's
                // multiple of `step` columns in, so the junk columns are
                // skipped and every store is a whole vector (a masked
                // store, for a vector across the end of a row, is
                // microcoded on AMD's cores).
                for r in 0..band.rows {
                    for j in (0..OW).step_by(step) {
                        chunk::<OB, NS, false, CG, KH, KW, OH, OW>(
                            src, channel, taps, weight, &b, &ep, output, band, r * band.pitch + j,
                        );
                    }
                }
                return;
            }
            let mut q = 0;
            while q + step <= band.nq {
                chunk::<OB, NS, false, CG, KH, KW, OH, OW>(
                    src, channel, taps, weight, &b, &ep, output, band, q,
                );
                q += step;
            }
            match (band.nq - q).div_ceil($lanes) {
                0 => {}
                1 => chunk::<OB, 1, true, CG, KH, KW, OH, OW>(
                    src, channel, taps, weight, &b, &ep, output, band, q,
                ),
                2 => chunk::<OB, 2, true, CG, KH, KW, OH, OW>(
                    src, channel, taps, weight, &b, &ep, output, band, q,
                ),
                3 | 4 => chunk::<OB, TAIL, true, CG, KH, KW, OH, OW>(
                    src, channel, taps, weight, &b, &ep, output, band, q,
                ),
                _ => chunk::<OB, NS, true, CG, KH, KW, OH, OW>(
                    src, channel, taps, weight, &b, &ep, output, band, q,
                ),
            }
        }
    };
}

/// The AVX-512F body: 16 lanes, up to 8 output channels × 3 vectors
/// (24 of the 32 `zmm` registers); fewer channels, more vectors.
pub(crate) mod avx512 {
    #![allow(clippy::wildcard_imports)]
    use super::*;
    use crate::simd::act::post_act512;
    #[cfg(not(miri))]
    use core::arch::x86_64::_mm512_permutex2var_ps;
    use core::arch::x86_64::_mm512_storeu_ps;
    #[cfg(miri)]
    use core::arch::x86_64::_mm512_storeu_si512;
    use core::arch::x86_64::{
        __m512, __m512i, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_loadu_ps,
        _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps, _mm512_set1_ps,
        _mm512_setr_epi32, _mm512_setzero_ps,
    };

    const LANES: usize = 16;
    /// `Stores` capacity: the rows a vector can touch, at most `LANES`.
    const MS: usize = 16;

    // At most 24 accumulators, at most 8 vectors.
    packed_driver!("avx512f", 8, LANES, {
        1 => (8, 4), 2 => (8, 4), 3 => (8, 4), 4 => (6, 4),
        5 => (4, 4), 6 => (4, 4), 7 => (3, 3), 8 => (3, 3)
    });

    /// Packs a band ([`pack`]); at horizontal stride 2 with both column
    /// phases read, each input row into both planes at once (`pack_pairs`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn pack_input<
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
        const CG: usize,
        const H: usize,
        const W: usize,
    >(
        lay: &Layout,
        input: &[[[f32; W]; H]; CG],
        buf: &mut [MaybeUninit<f32>; CAP],
        r0: usize,
        rows: usize,
    ) {
        if SW == 2 && lay.col_phases == 0b11 {
            pack_pairs::<SH, PT, PL, CG, H, W>(lay, input, buf, r0, rows);
        } else {
            pack::<SH, SW, PT, PL, CG, H, W>(lay, input, buf, r0, rows, |d, s, f| {
                pack_row_any::<SW>(d, s, f);
            });
        }
    }

    /// [`pack`] at horizontal stride 2 when both column phases are read
    /// (a 3×3 kernel, say): each input row is loaded once, 32 columns at
    /// a time, and split into the row of the even-column plane and the row
    /// of the odd-column plane by two `vpermt2ps`, instead of being loaded
    /// once per plane. The rows are taken in the input's order (both row
    /// phases of a row pair in turn), [`PREFETCH_ROWS`] ahead asked for.
    #[target_feature(enable = "avx512f")]
    fn pack_pairs<
        const SH: usize,
        const PT: usize,
        const PL: usize,
        const CG: usize,
        const H: usize,
        const W: usize,
    >(
        lay: &Layout,
        input: &[[[f32; W]; H]; CG],
        buf: &mut [MaybeUninit<f32>; CAP],
        r0: usize,
        rows: usize,
    ) {
        let (pitch, plane_len) = (lay.pitch, lay.plane_rows * lay.pitch);
        let pre = first_pair_masks::<PL, W>(pitch);
        let out = buf.as_mut_ptr().cast::<f32>();
        let phases = (0..SH).filter(|&p| lay.row_phases >> p & 1 == 1).count();
        for (c, channel) in input.iter().enumerate() {
            // Row by row of the input, each into its phase's planes: the
            // input is read in its order (a new image comes from L3 or
            // memory: MobileNetV1's first layer).
            for i in 0..rows + lay.amax {
                let read = (0..SH).filter(|&p| lay.row_phases >> p & 1 == 1);
                for (k, ph) in read.enumerate() {
                    let plane = 2 * (c * phases + k);
                    let ih = (SH * (r0 + i) + ph).checked_sub(PT);
                    let even = out.wrapping_add(plane * plane_len + i * pitch);
                    let odd = even.wrapping_add(plane_len);
                    if let Some(src) = ih.and_then(|ih| channel.get(ih)) {
                        prefetch_row(src.as_ptr().wrapping_add(PREFETCH_ROWS * W), W);
                        split_row::<PL, W>(even, odd, pitch, src, &pre);
                    } else {
                        zero(even, 0, pitch);
                        zero(odd, 0, pitch);
                    }
                }
            }
        }
    }

    /// How many input rows ahead [`pack_pairs`] asks for: a network's
    /// first layer reads an image that is not in L2 (MobileNetV1's 110 KB
    /// at batch 1 from a pool of images, as the peers bench runs it, cost
    /// about 11 µs more than from L2); the hardware's prefetchers did not
    /// hide that. With the rows read in order, 8 rows ahead (3 KB there)
    /// hid about a third of it (`perf`: the packing 6.9% of the network's
    /// samples before, 6.0% with the order alone, 5.2% with the prefetch,
    /// 2.2% from L2; `taskset -c 0 cargo bench --bench zoo --
    /// 'mobilenet_v1_025/batch 1$'`, order and prefetch against neither:
    /// 189.1–192.9 µs against 190.8–197.9 in 5 interleaved rounds; 24 rows
    /// ahead measured no better).
    const PREFETCH_ROWS: usize = 8;

    /// Asks for the `len` floats at `row` (a hint: it reads nothing, so
    /// `row` may lie past the input's end).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn prefetch_row(row: *const f32, len: usize) {
        #[cfg(not(miri))]
        for line in (0..len).step_by(16) {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                row.wrapping_add(line).cast::<i8>(),
            );
        }
        #[cfg(miri)]
        let _ = (row, len);
    }

    /// The [`pair_masks`] of a row's first [`PAIR_STEPS`] steps, for
    /// [`split_row`]: the same for every row of `pitch` columns.
    fn first_pair_masks<const PL: usize, const W: usize>(
        pitch: usize,
    ) -> [(u16, u16, u16); PAIR_STEPS] {
        core::array::from_fn(|k| pair_masks::<PL, W>(k, pitch.max(LANES * k)))
    }

    /// The masks of step `k` of a row of [`pack_pairs`] (plane columns
    /// `16k..16k + 16` of `pitch`): the lanes of the two 16-column loads
    /// from input column `32k − PL` inside the row's `W` columns, and the
    /// lanes stored.
    #[allow(clippy::cast_possible_wrap)] // Sizes far below `isize::MAX`.
    fn pair_masks<const PL: usize, const W: usize>(k: usize, pitch: usize) -> (u16, u16, u16) {
        let s = (2 * LANES * k) as isize - PL as isize;
        (
            row_mask(s, W, LANES),
            row_mask(s + 16, W, LANES),
            lane_mask(0, (pitch - LANES * k).min(LANES)),
        )
    }

    /// One input row of [`pack_pairs`]: `even[j] = src[2j − PL]`, `odd[j] =
    /// src[2j + 1 − PL]` for `j < pitch`, zero outside `src`; `pre` the
    /// [`first_pair_masks`]. `even` and `odd` must each have `pitch` floats
    /// to write.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::cast_possible_wrap)] // Sizes far below `isize::MAX`.
    fn split_row<const PL: usize, const W: usize>(
        even: *mut f32,
        odd: *mut f32,
        pitch: usize,
        src: &[f32; W],
        pre: &[(u16, u16, u16); PAIR_STEPS],
    ) {
        let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for k in 0..pitch.div_ceil(LANES) {
            let (ma, mb, m) = pre
                .get(k)
                .copied()
                .unwrap_or_else(|| pair_masks::<PL, W>(k, pitch));
            let s = (2 * LANES * k) as isize - PL as isize;
            let base = src.as_ptr();
            // SAFETY: AVX-512F is enabled on this function. Each load
            // touches only its mask's lanes, source indices `s + l` (and
            // `s + 16 + l`) in `0..W`: elements of `src`. The pointers are
            // formed with wrapping arithmetic; masked-off lanes are not
            // accessed and read zero. The stores write elements `16k..
            // min(16k + 16, pitch)` of the two rows, each `pitch` floats of
            // its plane in the buffer.
            unsafe {
                let a = _mm512_maskz_loadu_ps(ma, base.wrapping_offset(s));
                // No load without a lane (module docs, *Packing rows*):
                // past the row, its address may be past the input.
                let b = if mb == 0 {
                    _mm512_setzero_ps()
                } else {
                    _mm512_maskz_loadu_ps(mb, base.wrapping_offset(s + 16))
                };
                _mm512_mask_storeu_ps(even.wrapping_add(LANES * k), m, permute2(a, evens, b));
                _mm512_mask_storeu_ps(odd.wrapping_add(LANES * k), m, permute2(a, odds, b));
            }
        }
    }

    /// `_mm512_permutex2var_ps`: lane `l` is element `idx[l]` of `a`
    /// followed by `b` (`idx[l] < 32`). Under Miri, which has no
    /// `vpermt2ps`, the same through arrays.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn permute2(a: __m512, idx: __m512i, b: __m512) -> __m512 {
        #[cfg(not(miri))]
        return _mm512_permutex2var_ps(a, idx, b);
        #[cfg(miri)]
        {
            let mut ab = [0.0f32; 2 * LANES];
            let mut ix = [0i32; LANES];
            // SAFETY: AVX-512F is enabled on this function; `ab` holds 32
            // floats and `ix` 16 `i32`s.
            unsafe {
                _mm512_storeu_ps(ab.as_mut_ptr(), a);
                _mm512_storeu_ps(ab.as_mut_ptr().add(LANES), b);
                _mm512_storeu_si512(ix.as_mut_ptr().cast(), idx);
            }
            let lanes: [f32; LANES] = core::array::from_fn(|l| ab[(ix[l] & 31) as usize]);
            // SAFETY: AVX-512F is enabled on this function; `lanes` holds
            // 16 floats.
            unsafe { _mm512_loadu_ps(lanes.as_ptr()) }
        }
    }

    /// Steps of a row whose [`pair_masks`] [`pack_pairs`] works out once.
    const PAIR_STEPS: usize = 16;

    /// Writes zeros over elements `from..to` of `plane`, 16 at a time.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn zero(plane: *mut f32, from: usize, to: usize) {
        let mut t = from;
        while t < to {
            let lanes = (to - t).min(LANES);
            // SAFETY: AVX-512F is enabled on this function; the callers
            // pass ranges of one channel's plane inside the buffer.
            unsafe {
                _mm512_mask_storeu_ps(
                    plane.wrapping_add(t),
                    lane_mask(0, lanes),
                    _mm512_setzero_ps(),
                );
            }
            t += LANES;
        }
    }

    /// The micro-kernel: output channels `0..OB` of the block, the `NS`
    /// vectors of wide pixels from `q`; `MASKED` for the band's last chunk.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    fn chunk<
        const OB: usize,
        const NS: usize,
        const MASKED: bool,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    >(
        src: *const f32,
        channel: usize,
        taps: &[[usize; KW]; KH],
        weight: &[[[[f32; KW]; KH]; CG]; OB],
        bias: &[f32; OB],
        ep: &Epilogue<'_, OB, OH, OW>,
        output: &mut [[[f32; OW]; OH]; OB],
        band: Band,
        q: usize,
    ) {
        let mut load_mask = [u16::MAX; NS];
        if MASKED {
            for (s, m) in load_mask.iter_mut().enumerate() {
                let qs = q + s * LANES;
                *m = lane_mask(0, band.nq.saturating_sub(qs).min(LANES));
            }
        }
        let mut acc = [[_mm512_setzero_ps(); NS]; OB];
        for ob in 0..OB {
            acc[ob] = [_mm512_set1_ps(bias[ob]); NS];
        }
        for c in 0..CG {
            let pc = src.wrapping_add(c * channel + q);
            for kh in 0..KH {
                for kw in 0..KW {
                    let p = pc.wrapping_add(taps[kh][kw]);
                    let mut x = [_mm512_setzero_ps(); NS];
                    for s in 0..NS {
                        let ps = p.wrapping_add(s * LANES);
                        // SAFETY: AVX-512F is enabled on this function. The
                        // lanes loaded are wide pixels `< NQ` (all of them
                        // unless `MASKED`, where the mask keeps those), whose
                        // elements lie inside the channel's phase plane (see
                        // `IN_BOUNDS` above), all written by the pack or the
                        // input itself. Masked-off lanes are not accessed.
                        x[s] = unsafe {
                            if MASKED {
                                _mm512_maskz_loadu_ps(load_mask[s], ps)
                            } else {
                                _mm512_loadu_ps(ps)
                            }
                        };
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
        let st = Stores::<NS, MS>::new(q, LANES, band, OW);
        // Without junk columns (every 1×1 layer) the band's output is
        // contiguous and a vector is its one segment (`Stores::new`): one
        // load or store a vector, a plain store but in the last chunk.
        // (The loops over segments stored every vector of MobileNetV1's
        // 1×1 layers twice, the second time with an empty mask, where a
        // vector might cross a row.)
        let contiguous = band.pitch == OW;
        let segments = if contiguous {
            1
        } else {
            const { segments(LANES, OW, MS) }
        };
        // The epilogue, one step at a time over all the accumulators, in
        // registers: the direct body's operations.
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
                    let r = residual[ob].as_flattened().as_ptr();
                    for s in 0..NS {
                        let mut rv = _mm512_setzero_ps();
                        for k in 0..segments {
                            // SAFETY: AVX-512F is enabled on this function.
                            // The load reads only the lanes of the segment's
                            // mask, output pixels of the band's rows and
                            // columns `< OW`, inside the plane `r`.
                            rv = unsafe {
                                _mm512_mask_loadu_ps(
                                    rv,
                                    st.mask[s][k],
                                    r.wrapping_offset(st.off[s][k]),
                                )
                            };
                        }
                        acc[ob][s] = _mm512_add_ps(acc[ob][s], rv);
                    }
                }
            }
            post_act512(acc.as_flattened_mut(), ep.act);
        }
        for ob in 0..OB {
            let plane = output[ob].as_flattened_mut().as_mut_ptr();
            for s in 0..NS {
                if contiguous && !MASKED {
                    // SAFETY: AVX-512F is enabled on this function. The
                    // vector is its one segment, and outside the band's
                    // last chunk every lane is before the band's end
                    // (`Stores::new`'s full mask): 16 output pixels of the
                    // band, inside `plane`.
                    unsafe { _mm512_storeu_ps(plane.wrapping_offset(st.off[s][0]), acc[ob][s]) };
                    continue;
                }
                for k in 0..segments {
                    // SAFETY: AVX-512F is enabled on this function. The
                    // store writes only the lanes of the segment's mask,
                    // output pixels of the band's rows and columns `< OW`,
                    // inside `plane`.
                    unsafe {
                        _mm512_mask_storeu_ps(
                            plane.wrapping_offset(st.off[s][k]),
                            st.mask[s][k],
                            acc[ob][s],
                        );
                    }
                }
            }
        }
    }

    /// [`pack_row`] at stride 1, 16 columns at a time: `dst[j] = src[j +
    /// first]`, zero outside `src`, with one masked load (a masked-off lane
    /// reads zero) and one masked store per 16 columns — a short depthwise
    /// row in one step.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)] // Sizes far below `isize::MAX`; clamped first.
    fn pack_row1(dst: &mut [MaybeUninit<f32>], src: Option<&[f32]>, first: isize) {
        let pitch = dst.len();
        let out = dst.as_mut_ptr().cast::<f32>();
        let Some(src) = src else {
            zero(out, 0, pitch);
            return;
        };
        let len = src.len() as isize;
        let base = src.as_ptr();
        let mut j0 = 0;
        while j0 < pitch {
            let n = (pitch - j0).min(LANES);
            let s = j0 as isize + first;
            let lo = (-s).clamp(0, LANES as isize) as usize;
            let hi = (len - s).clamp(0, LANES as isize) as usize;
            // No load when no lane is inside `src` (module docs, *Packing
            // rows*).
            let v = if lo < hi {
                // SAFETY: AVX-512F is enabled on this function. The load
                // touches only lanes `lo..hi`, source indices `s + l` in
                // `0..len`: elements of `src`. The pointer is formed with
                // wrapping arithmetic; masked-off lanes are not accessed
                // and read zero.
                unsafe { _mm512_maskz_loadu_ps(lane_mask(lo, hi), base.wrapping_offset(s)) }
            } else {
                _mm512_setzero_ps()
            };
            // SAFETY: AVX-512F is enabled on this function; the store
            // writes only lanes `0..n`, elements `j0..j0 + n <= pitch` of
            // `dst`.
            unsafe { _mm512_mask_storeu_ps(out.wrapping_add(j0), lane_mask(0, n), v) };
            j0 += LANES;
        }
    }

    /// Vectors per depthwise chunk: 8 accumulators, one channel at a time.
    const DW_NS: usize = 8;

    /// The depthwise micro-kernel: the `NS` vectors of wide pixels from
    /// `q`, for every channel in turn (the store segments worked out once);
    /// `MASKED` for the band's last chunk.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    fn dw_chunk<
        const NS: usize,
        const MASKED: bool,
        const CG: usize,
        const O: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    >(
        src: *const f32,
        channel: usize,
        taps: &[[usize; KW]; KH],
        weight: &[[[[f32; KW]; KH]; CG]; O],
        bias: Option<&[f32; O]>,
        norms: Option<&[(f32, f32); O]>,
        post: &Post<'_, O, OH, OW>,
        output: &mut [[[f32; OW]; OH]; O],
        band: Band,
        q: usize,
    ) {
        let mut load_mask = [u16::MAX; NS];
        if MASKED {
            for (s, m) in load_mask.iter_mut().enumerate() {
                let qs = q + s * LANES;
                *m = lane_mask(0, band.nq.saturating_sub(qs).min(LANES));
            }
        }
        let st = Stores::<NS, MS>::new(q, LANES, band, OW);
        let any = !post.is_none();
        for o in 0..O {
            let mut acc = [_mm512_set1_ps(bias.map_or(0.0, |b| b[o])); NS];
            let pc = src.wrapping_add(o * channel + q);
            for kh in 0..KH {
                for kw in 0..KW {
                    let p = pc.wrapping_add(taps[kh][kw]);
                    let w = _mm512_set1_ps(weight[o][0][kh][kw]);
                    for s in 0..NS {
                        let ps = p.wrapping_add(s * LANES);
                        // SAFETY: AVX-512F is enabled on this function. The
                        // lanes loaded are wide pixels `< NQ` (all of them
                        // unless `MASKED`, where the mask keeps those), whose
                        // elements lie inside channel `o`'s phase plane (see
                        // `IN_BOUNDS` above), all written by the pack.
                        // Masked-off lanes are not accessed.
                        let x = unsafe {
                            if MASKED {
                                _mm512_maskz_loadu_ps(load_mask[s], ps)
                            } else {
                                _mm512_loadu_ps(ps)
                            }
                        };
                        acc[s] = _mm512_fmadd_ps(w, x, acc[s]);
                    }
                }
            }
            // The epilogue: the direct body's operations, in registers.
            if any {
                if let Some(norms) = norms {
                    let (alpha, beta) = norms[o];
                    let (alpha, beta) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
                    for a in &mut acc {
                        *a = _mm512_add_ps(_mm512_mul_ps(*a, alpha), beta);
                    }
                }
                if let Some(residual) = post.residual {
                    let r = residual[o].as_flattened().as_ptr();
                    for s in 0..NS {
                        let mut rv = _mm512_setzero_ps();
                        for k in 0..const { segments(LANES, OW, MS) } {
                            // SAFETY: AVX-512F is enabled on this function.
                            // The load reads only the lanes of the segment's
                            // mask, output pixels of the band's rows and
                            // columns `< OW`, inside the plane `r`.
                            rv = unsafe {
                                _mm512_mask_loadu_ps(
                                    rv,
                                    st.mask[s][k],
                                    r.wrapping_offset(st.off[s][k]),
                                )
                            };
                        }
                        acc[s] = _mm512_add_ps(acc[s], rv);
                    }
                }
                post_act512(&mut acc, post.act);
            }
            let plane = output[o].as_flattened_mut().as_mut_ptr();
            for s in 0..NS {
                for k in 0..const { segments(LANES, OW, MS) } {
                    // SAFETY: AVX-512F is enabled on this function. The
                    // store writes only the lanes of the segment's mask,
                    // output pixels of the band's rows and columns `< OW`,
                    // inside `plane`.
                    unsafe {
                        _mm512_mask_storeu_ps(
                            plane.wrapping_offset(st.off[s][k]),
                            st.mask[s][k],
                            acc[s],
                        );
                    }
                }
            }
        }
    }
}

/// The AVX2 + FMA body: 8 lanes, up to 4 output channels × 2 vectors
/// (8 of the 16 `ymm` registers; larger blocks spill); fewer channels,
/// more vectors.
pub(crate) mod avx2 {
    #![allow(clippy::wildcard_imports)]
    use super::*;
    use crate::simd::act::post_act256;
    use core::arch::x86_64::{
        _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_maskload_ps, _mm256_maskstore_ps,
        _mm256_mul_ps, _mm256_or_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    const LANES: usize = 8;
    /// `Stores` capacity: the rows a vector can touch, at most `LANES`.
    const MS: usize = 8;

    // At most 8 accumulators (12 for a single channel), at most 6 vectors.
    packed_driver!("avx2,fma", 4, LANES, {
        1 => (6, 4), 2 => (4, 4), 3 => (2, 2), 4 => (2, 2)
    });

    /// Packs a band row by row ([`pack`]).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn pack_input<
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
        const CG: usize,
        const H: usize,
        const W: usize,
    >(
        lay: &Layout,
        input: &[[[f32; W]; H]; CG],
        buf: &mut [MaybeUninit<f32>; CAP],
        r0: usize,
        rows: usize,
    ) {
        pack::<SH, SW, PT, PL, CG, H, W>(lay, input, buf, r0, rows, |d, s, f| {
            pack_row_any::<SW>(d, s, f);
        });
    }

    /// The micro-kernel: output channels `0..OB` of the block, the `NS`
    /// vectors of wide pixels from `q`; `MASKED` for the band's last chunk.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    fn chunk<
        const OB: usize,
        const NS: usize,
        const MASKED: bool,
        const CG: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    >(
        src: *const f32,
        channel: usize,
        taps: &[[usize; KW]; KH],
        weight: &[[[[f32; KW]; KH]; CG]; OB],
        bias: &[f32; OB],
        ep: &Epilogue<'_, OB, OH, OW>,
        output: &mut [[[f32; OW]; OH]; OB],
        band: Band,
        q: usize,
    ) {
        let mut load_mask = [mask8(0xFF); NS];
        if MASKED {
            for (s, m) in load_mask.iter_mut().enumerate() {
                let qs = q + s * LANES;
                *m = mask8(lane_mask(0, band.nq.saturating_sub(qs).min(LANES)));
            }
        }
        let mut acc = [[_mm256_setzero_ps(); NS]; OB];
        for ob in 0..OB {
            acc[ob] = [_mm256_set1_ps(bias[ob]); NS];
        }
        for c in 0..CG {
            let pc = src.wrapping_add(c * channel + q);
            for kh in 0..KH {
                for kw in 0..KW {
                    let p = pc.wrapping_add(taps[kh][kw]);
                    let mut x = [_mm256_setzero_ps(); NS];
                    for s in 0..NS {
                        let ps = p.wrapping_add(s * LANES);
                        // SAFETY: AVX is enabled on this function. The lanes
                        // loaded are wide pixels `< NQ` (all of them unless
                        // `MASKED`, where `vmaskmovps` keeps those), whose
                        // elements lie inside the channel's phase plane (see
                        // `IN_BOUNDS` above), all written by the pack or the
                        // input itself. Masked-off lanes are not accessed.
                        x[s] = unsafe {
                            if MASKED {
                                _mm256_maskload_ps(ps, load_mask[s])
                            } else {
                                _mm256_loadu_ps(ps)
                            }
                        };
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
        let st = Stores::<NS, MS>::new(q, LANES, band, OW);
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
                    let r = residual[ob].as_flattened().as_ptr();
                    for s in 0..NS {
                        let mut rv = _mm256_setzero_ps();
                        for k in 0..const { segments(LANES, OW, MS) } {
                            // SAFETY: AVX is enabled on this function.
                            // `vmaskmovps` reads only the lanes of the
                            // segment's mask, output pixels of the band's
                            // rows and columns `< OW`, inside the plane `r`;
                            // the others read as zero, so the OR merges the
                            // segments.
                            let v = unsafe {
                                _mm256_maskload_ps(
                                    r.wrapping_offset(st.off[s][k]),
                                    mask8(st.mask[s][k]),
                                )
                            };
                            rv = _mm256_or_ps(rv, v);
                        }
                        acc[ob][s] = _mm256_add_ps(acc[ob][s], rv);
                    }
                }
            }
            post_act256(acc.as_flattened_mut(), ep.act);
        }
        for ob in 0..OB {
            let plane = output[ob].as_flattened_mut().as_mut_ptr();
            for s in 0..NS {
                for k in 0..const { segments(LANES, OW, MS) } {
                    let dst = plane.wrapping_offset(st.off[s][k]);
                    let m = st.mask[s][k];
                    if m == 0xFF {
                        // SAFETY: AVX is enabled on this function; all 8
                        // lanes are output pixels of the band, inside
                        // `plane`: of one row, or without junk columns of
                        // consecutive rows, contiguous in the plane.
                        unsafe { _mm256_storeu_ps(dst, acc[ob][s]) };
                    } else if m != 0 {
                        // SAFETY: AVX is enabled on this function; the store
                        // writes only the lanes of the segment's mask,
                        // output pixels of the band's rows and columns
                        // `< OW`, inside `plane`. Empty segments are
                        // skipped: a masked store is microcoded on AMD's
                        // cores even with no lane.
                        unsafe { _mm256_maskstore_ps(dst, mask8(m), acc[ob][s]) };
                    }
                }
            }
        }
    }

    /// [`pack_row`] at stride 1.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn pack_row1(dst: &mut [MaybeUninit<f32>], src: Option<&[f32]>, first: isize) {
        pack_row::<1>(dst, src, first);
    }

    /// Vectors per depthwise chunk: 4 accumulators, one channel at a time.
    const DW_NS: usize = 4;

    /// The depthwise micro-kernel: the `NS` vectors of wide pixels from
    /// `q`, for every channel in turn (the store segments worked out once);
    /// `MASKED` for the band's last chunk.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    fn dw_chunk<
        const NS: usize,
        const MASKED: bool,
        const CG: usize,
        const O: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
    >(
        src: *const f32,
        channel: usize,
        taps: &[[usize; KW]; KH],
        weight: &[[[[f32; KW]; KH]; CG]; O],
        bias: Option<&[f32; O]>,
        norms: Option<&[(f32, f32); O]>,
        post: &Post<'_, O, OH, OW>,
        output: &mut [[[f32; OW]; OH]; O],
        band: Band,
        q: usize,
    ) {
        let mut load_mask = [mask8(0xFF); NS];
        if MASKED {
            for (s, m) in load_mask.iter_mut().enumerate() {
                let qs = q + s * LANES;
                *m = mask8(lane_mask(0, band.nq.saturating_sub(qs).min(LANES)));
            }
        }
        let st = Stores::<NS, MS>::new(q, LANES, band, OW);
        let any = !post.is_none();
        for o in 0..O {
            let mut acc = [_mm256_set1_ps(bias.map_or(0.0, |b| b[o])); NS];
            let pc = src.wrapping_add(o * channel + q);
            for kh in 0..KH {
                for kw in 0..KW {
                    let p = pc.wrapping_add(taps[kh][kw]);
                    let w = _mm256_set1_ps(weight[o][0][kh][kw]);
                    for s in 0..NS {
                        let ps = p.wrapping_add(s * LANES);
                        // SAFETY: AVX is enabled on this function. The lanes
                        // loaded are wide pixels `< NQ` (all of them unless
                        // `MASKED`, where `vmaskmovps` keeps those), whose
                        // elements lie inside channel `o`'s phase plane (see
                        // `IN_BOUNDS` above), all written by the pack.
                        // Masked-off lanes are not accessed.
                        let x = unsafe {
                            if MASKED {
                                _mm256_maskload_ps(ps, load_mask[s])
                            } else {
                                _mm256_loadu_ps(ps)
                            }
                        };
                        acc[s] = _mm256_fmadd_ps(w, x, acc[s]);
                    }
                }
            }
            if any {
                if let Some(norms) = norms {
                    let (alpha, beta) = norms[o];
                    let (alpha, beta) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
                    for a in &mut acc {
                        *a = _mm256_add_ps(_mm256_mul_ps(*a, alpha), beta);
                    }
                }
                if let Some(residual) = post.residual {
                    let r = residual[o].as_flattened().as_ptr();
                    for s in 0..NS {
                        let mut rv = _mm256_setzero_ps();
                        for k in 0..const { segments(LANES, OW, MS) } {
                            // SAFETY: AVX is enabled on this function.
                            // `vmaskmovps` reads only the lanes of the
                            // segment's mask, output pixels of the band's
                            // rows and columns `< OW`, inside the plane `r`;
                            // the others read as zero, so the OR merges the
                            // segments.
                            let v = unsafe {
                                _mm256_maskload_ps(
                                    r.wrapping_offset(st.off[s][k]),
                                    mask8(st.mask[s][k]),
                                )
                            };
                            rv = _mm256_or_ps(rv, v);
                        }
                        acc[s] = _mm256_add_ps(acc[s], rv);
                    }
                }
                post_act256(&mut acc, post.act);
            }
            let plane = output[o].as_flattened_mut().as_mut_ptr();
            for s in 0..NS {
                for k in 0..const { segments(LANES, OW, MS) } {
                    let dst = plane.wrapping_offset(st.off[s][k]);
                    let m = st.mask[s][k];
                    if m == 0xFF {
                        // SAFETY: AVX is enabled on this function; all 8
                        // lanes are output pixels of the band, inside
                        // `plane`: of one row, or without junk columns of
                        // consecutive rows, contiguous in the plane.
                        unsafe { _mm256_storeu_ps(dst, acc[s]) };
                    } else {
                        // SAFETY: AVX is enabled on this function; the store
                        // writes only the lanes of the segment's mask,
                        // output pixels of the band's rows and columns
                        // `< OW`, inside `plane`.
                        unsafe { _mm256_maskstore_ps(dst, mask8(m), acc[s]) };
                    }
                }
            }
        }
    }
}
