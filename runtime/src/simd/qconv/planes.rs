//! The layout both micro-kernels read: the layer's geometry, the input
//! rewritten into lane planes, the tap offsets and the packed weight lanes
//! (see the parent module's docs).

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

use super::dot::{self, Dot};
use super::{NT, PLANES, TAPS};
use crate::simd::transpose::transpose_bytes16;
use core::arch::x86_64::{
    __m128i, _mm_loadu_si128, _mm_maskz_loadu_epi8, _mm_setzero_si128, _mm_storeu_si128,
};
use core::mem::MaybeUninit;

/// How the kernel lays a layer out, from its const parameters and the
/// taps per lane `K` ([`Dot::K`]): each lane holds `cs` consecutive
/// channels by `ks` consecutive kernel columns, `cs · ks = K`, as many
/// channels as divide the group's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Geometry {
    /// Channels per lane (`K`, `K / 2` or 1, dividing `CG`).
    pub(super) cs: usize,
    /// Kernel columns per lane, `K / cs`.
    pub(super) ks: usize,
    /// Planes per group and phase: `CG / cs`.
    pub(super) cq: usize,
    /// Lanes of taps per kernel row: `⌈KW / ks⌉`.
    pub(super) jq: usize,
    /// Phase plane width, `⌈(PL + W + PR) / SW⌉`.
    pub(super) wu: usize,
    /// Phase rows a band reads beyond its output rows, `(KH − 1)·DH / SH`.
    pub(super) extra: usize,
    /// Output rows per band.
    pub(super) band: usize,
    /// `i32`s per phase plane, with the tiles' overreach.
    pub(super) plane: usize,
    /// The row phases `a` and column phases `b` some tap reads (bit `a`,
    /// bit `b`; every bit for strides past 63): the planes of the others
    /// are only zeroed (a 1×1 convolution at stride 2 reads one phase of
    /// four; a 3-wide kernel in quads of columns one column phase of two).
    pub(super) row_phases: u64,
    pub(super) col_phases: u64,
}

impl Geometry {
    /// The layout, or `None` if the layer does not fit the scratch space.
    pub(super) const fn new(
        k: usize,
        (sh, sw, dh, dw): (usize, usize, usize, usize),
        (cg, kh, kw): (usize, usize, usize),
        (pl, w, pr): (usize, usize, usize),
        oh: usize,
    ) -> Option<Geometry> {
        let mut cs = k;
        while cg % cs != 0 {
            cs /= 2;
        }
        let ks = k / cs;
        let (cq, jq) = (cg / cs, kw.div_ceil(ks));
        let wu = (pl + w + pr).div_ceil(sw);
        let extra = (kh - 1) * dh / sh;
        let slack = NT + (kw - 1) * dw / sw;
        let planes = cq * sh * sw;
        if cq * kh * jq > TAPS || planes == 0 || PLANES / planes < slack + (extra + 1) * wu {
            return None;
        }
        let rows = (PLANES / planes - slack) / wu - extra;
        let band = if rows < oh { rows } else { oh };
        let (mut row_phases, mut col_phases) = (0u64, 0u64);
        let mut i = 0;
        while i < kh {
            row_phases |= 1u64 << (i * dh % sh % 64);
            i += 1;
        }
        let mut jq = 0;
        while jq * ks < kw {
            col_phases |= 1u64 << (jq * ks * dw % sw % 64);
            jq += 1;
        }
        if sh > 63 {
            row_phases = u64::MAX;
        }
        if sw > 63 {
            col_phases = u64::MAX;
        }
        Some(Geometry {
            cs,
            ks,
            cq,
            jq,
            wu,
            extra,
            band,
            plane: (band + extra) * wu + slack,
            row_phases,
            col_phases,
        })
    }

    /// Lanes of taps per output channel.
    pub(super) const fn taps(&self, kh: usize) -> usize {
        self.cq * kh * self.jq
    }

    /// Lane `t`'s plane (its first channel over `cs`), kernel row and first
    /// kernel column.
    #[inline(always)]
    pub(super) fn tap(&self, t: usize, kh: usize) -> (usize, usize, usize) {
        let (c, i, jq) = (t / (kh * self.jq), t / self.jq % kh, t % self.jq);
        (c, i, jq * self.ks)
    }

    /// Whether some tap reads phase `(a, b)`.
    #[inline(always)]
    pub(super) fn reads(&self, a: usize, b: usize) -> bool {
        self.row_phases >> a.min(63) & self.col_phases >> b.min(63) & 1 == 1
    }

    /// Part `b` of a lane: its channel within the lane's `cs` and its
    /// kernel column within the lane's `ks`.
    #[inline(always)]
    pub(super) fn part(&self, b: usize) -> (usize, usize) {
        (b / self.ks, b % self.ks)
    }
}

/// Each tap's offset from a pixel's index `n = r · wu + x` into the planes.
#[inline(always)]
pub(super) fn offsets<
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const KH: usize,
>(
    geo: &Geometry,
    offsets: &mut [usize],
) {
    for (t, off) in offsets.iter_mut().enumerate() {
        let (c, i, j) = geo.tap(t, KH);
        let phase = (c * SH + i * DH % SH) * SW + j * DW % SW;
        *off = phase * geo.plane + i * DH / SH * geo.wu + j * DW / SW;
    }
}

/// Rewrites the `CG` channels of one group, padded rows `oy0·SH ..` of a
/// band of `rows` output rows, into lane planes (see the parent's docs),
/// and returns them: every plane's rows, then zeros to the plane's end.
///
/// The buffer is not zeroed first (that cost as much as filling it): this
/// writes every `i32` of the `cq · SH · SW` planes it returns, rows and
/// slack, on every call.
///
/// # Safety
///
/// The CPU must have `D`'s instruction set ([`Dot::inner`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub(super) unsafe fn fill<
    'p,
    D: Dot,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const DW: usize,
    const H: usize,
    const W: usize,
>(
    geo: &Geometry,
    x: &[[[i8; W]; H]],
    zp: i8,
    oy0: usize,
    rows: usize,
    planes: &'p mut [MaybeUninit<i32>; PLANES],
) -> &'p [i32] {
    let len = geo.cq * SH * SW * geo.plane;
    let (used, _) = planes.split_at_mut(len);
    // Part b of a lane: channel cs·c + channel(b), DW · shift(b) columns on.
    let channel: [usize; 4] = core::array::from_fn(|b| geo.part(b).0);
    let shift: [usize; 4] = core::array::from_fn(|b| geo.part(b).1 * DW);
    for (p, plane) in used.chunks_exact_mut(geo.plane).enumerate() {
        // Plane p is phase (pr, pc) of lane channels cs·c ..
        let (c, pr, pc) = (p / (SH * SW), p / SW % SH, p % SW);
        if !geo.reads(pr, pc) {
            plane.fill(MaybeUninit::new(0));
            continue;
        }
        let (band, slack) = plane.split_at_mut((rows + geo.extra) * geo.wu);
        for (u, dest) in band.chunks_exact_mut(geo.wu).enumerate() {
            match ((oy0 + u) * SH + pr).checked_sub(PT).filter(|&r| r < H) {
                Some(r) => {
                    // (Loops, not `array::map` or `from_fn`, here and in
                    // `fill_row`: those stayed out-of-line calls per row, 6.8%
                    // of DS-CNN's int8 1×1 layer under `perf`.)
                    let mut src = [&x[0][0]; 4];
                    for (src, &k) in src.iter_mut().zip(&channel) {
                        *src = &x[geo.cs * c + k.min(geo.cs - 1)][r];
                    }
                    // SAFETY: the caller guarantees `D`'s instruction set.
                    unsafe { fill_row::<D, SW, PL, W>(dest, &src, &shift, pc, zp) };
                }
                None => dest.fill(MaybeUninit::new(D::join((0..D::K).map(|_| D::pad(zp))))),
            }
        }
        slack.fill(MaybeUninit::new(0));
    }
    // SAFETY: the loop above wrote every element of `used` (each plane is
    // its rows, each row written by `fill_row` or `fill`, then its slack),
    // and `MaybeUninit<i32>` has the layout of `i32`.
    unsafe { core::slice::from_raw_parts(used.as_ptr().cast::<i32>(), len) }
}

/// `dest[v]` = the lane whose part `b` is `src[b][col + shift[b]]` for the
/// padded column `col = SW·v + pc` (minus `PL`), [`Dot::pad`] outside the
/// row. Writes every element of `dest`.
///
/// The columns whose parts are all inside the row (all but a few at each
/// end) are read from slices cut to length first, without tests; at column
/// stride 1 by [`Dot::inner`].
///
/// # Safety
///
/// The CPU must have `D`'s instruction set.
#[inline(always)]
unsafe fn fill_row<D: Dot, const SW: usize, const PL: usize, const W: usize>(
    dest: &mut [MaybeUninit<i32>],
    src: &[&[i8; W]; 4],
    shift: &[usize; 4],
    pc: usize,
    zp: i8,
) {
    let part = |b: usize, col: usize| match (col + shift[b]).checked_sub(PL) {
        Some(k) if k < W => D::input(src[b][k], zp),
        _ => D::pad(zp),
    };
    // Inner columns v in lo..hi: SW·v + pc ≥ PL and SW·v + pc + widest − PL < W.
    let widest = shift[D::K - 1];
    let lo = PL.saturating_sub(pc).div_ceil(SW).min(dest.len());
    let hi = (W + PL)
        .saturating_sub(pc + widest)
        .div_ceil(SW)
        .clamp(lo, dest.len());
    if hi > lo {
        let n = hi - lo;
        let start = SW * lo + pc - PL;
        let mut rows: [&[i8]; 4] = [&[]; 4];
        for (row, (src, &shift)) in rows.iter_mut().zip(src.iter().zip(shift)) {
            *row = &src[start + shift.min(widest)..][..(n - 1) * SW + 1];
        }
        if SW == 1 {
            // SAFETY: the caller guarantees `D`'s instruction set.
            unsafe { D::inner(&mut dest[lo..hi], &rows, zp) };
        } else {
            for (i, d) in dest[lo..hi].iter_mut().enumerate() {
                d.write(D::join((0..D::K).map(|b| D::input(rows[b][i * SW], zp))));
            }
        }
    }
    for v in (0..lo).chain(hi..dest.len()) {
        let col = v * SW + pc;
        dest[v].write(D::join((0..D::K).map(|b| part(b, col))));
    }
}

/// The weight lanes of output channels `weight` in tap order, into the
/// first `geo.taps(KH)` rows of `buffer`, and returns them: `packed[t][k]`
/// for channel `k` (a kernel column past `KW` weighs 0; a channel past
/// `weight.len()` is all zeros).
///
/// The buffer is not zeroed first (a `memset` of the layer's whole
/// `CG · KH · KW` rows, 2% of LeNet-5's int8 time under `perf`): this
/// writes every lane of the rows it returns.
///
/// Per call, so it is on every layer's path: with quads, blocks of 16
/// channels take [`Dot::pack16`] ([`pack_quads`]); otherwise each lane's
/// parts are found once per tap (their indices into a channel's weights,
/// and a mask that zeroes the columns past `KW`), then read from every
/// channel in turn, with no more than a load, a shift and an `or` per
/// part.
///
/// # Safety
///
/// The CPU must have `D`'s instruction set.
#[inline(always)]
pub(super) unsafe fn pack<
    'p,
    D: Dot,
    const KH: usize,
    const KW: usize,
    const CG: usize,
    const N: usize,
>(
    geo: &Geometry,
    weight: &[[[[i8; KW]; KH]; CG]],
    buffer: &'p mut [MaybeUninit<[i32; N]>],
) -> &'p [[i32; N]] {
    // SAFETY: the caller guarantees `D`'s instruction set.
    if !unsafe { D::pack16::<KH, KW, CG, N>(geo, weight, buffer) } {
        pack_lanes::<D, KH, KW, CG, N>(geo, weight, buffer);
    }
    let len = geo.taps(KH);
    // SAFETY: `pack16` (when it returns true) or `pack_lanes` wrote every
    // element of `buffer[..len]` (both slice it so, so it is that long),
    // and `MaybeUninit<[i32; N]>` has the layout of `[i32; N]`.
    unsafe { core::slice::from_raw_parts(buffer.as_ptr().cast::<[i32; N]>(), len) }
}

/// [`pack`] a lane at a time.
#[inline(always)]
fn pack_lanes<D: Dot, const KH: usize, const KW: usize, const CG: usize, const N: usize>(
    geo: &Geometry,
    weight: &[[[[i8; KW]; KH]; CG]],
    buffer: &mut [MaybeUninit<[i32; N]>],
) {
    let bits = 32 / D::K;
    let used = &mut buffer[..geo.taps(KH)];
    for (t, p) in used.iter_mut().enumerate() {
        let (c, i, j) = geo.tap(t, KH);
        let (mut at, mut mask) = ([0usize; 4], 0u32);
        for (b, at) in at.iter_mut().enumerate().take(D::K) {
            let (k, dj) = geo.part(b);
            if j + dj < KW {
                *at = ((geo.cs * c + k) * KH + i) * KW + j + dj;
                mask |= (u32::MAX >> (32 - bits)) << (b * bits);
            }
        }
        // (Written in place: a local array copied in stalled on store
        // forwarding, 8% of LeNet-5's int8 conv2 on one instruction.)
        let lanes = p.write([0; N]);
        for (p, w) in lanes.iter_mut().zip(weight) {
            let w = w.as_flattened().as_flattened();
            *p = D::join(at.iter().take(D::K).map(|&a| i32::from(w[a]))) & mask.cast_signed();
        }
    }
}

/// [`pack`] for quads and `N = 16` channels (at most 16 in `weight`), with
/// AVX-512 BW and VL: the block's weights are first transposed, 16
/// positions by 16 channels at a time (masked loads,
/// [`transpose_bytes16`]), into `cols[a]`, weight `a` of every channel (0 past the
/// block); each tap's lane vector is then the four parts' columns
/// interleaved ([`dot::quads`]), a part past `KW` a zero column.
///
/// It replaced [`pack_lanes`]'s byte loads, shifts and `or`s, 17
/// instructions per lane and about a fifth of LeNet-5's int8 conv2 under
/// `perf`. Writes every lane of the first `geo.taps(KH)` rows.
///
/// # Safety
///
/// The CPU must have AVX-512 BW and VL.
#[inline(always)]
pub(super) unsafe fn pack_quads<
    const KH: usize,
    const KW: usize,
    const CG: usize,
    const N: usize,
>(
    geo: &Geometry,
    weight: &[[[[i8; KW]; KH]; CG]],
    buffer: &mut [MaybeUninit<[i32; N]>],
) {
    assert!(N == 16 && weight.len() <= 16, "a block of 16 channels");
    let len = CG * KH * KW;
    let mut cols = [[[[0i8; 16]; KW]; KH]; CG];
    let cols = cols.as_flattened_mut().as_flattened_mut();
    // SAFETY: the caller guarantees AVX-512 BW and VL (and so SSE2). Each
    // masked load reads bytes `a0 .. a0 + m ≤ len` of one channel's
    // weights; each store writes one `[i8; 16]` of `cols`, or the 64
    // bytes of one `[i32; 16]` row of `buffer` (`N = 16`, asserted).
    unsafe {
        let zero = _mm_setzero_si128();
        for a0 in (0..len).step_by(16) {
            let m = (len - a0).min(16);
            let mask = dot::first(m);
            let mut r = [zero; 16];
            for (r, w) in r.iter_mut().zip(weight) {
                let w = w.as_flattened().as_flattened();
                *r = _mm_maskz_loadu_epi8(mask, w[a0..].as_ptr());
            }
            transpose_bytes16(&mut r);
            for (col, r) in cols[a0..a0 + m].iter_mut().zip(&r) {
                _mm_storeu_si128(col.as_mut_ptr().cast::<__m128i>(), *r);
            }
        }
        for (t, p) in buffer[..geo.taps(KH)].iter_mut().enumerate() {
            let (c, i, j) = geo.tap(t, KH);
            let mut parts = [zero; 4];
            for (b, part) in parts.iter_mut().enumerate() {
                let (k, dj) = geo.part(b);
                if j + dj < KW {
                    let a = ((geo.cs * c + k) * KH + i) * KW + j + dj;
                    *part = _mm_loadu_si128(cols[a].as_ptr().cast::<__m128i>());
                }
            }
            let row = p.as_mut_ptr().cast::<__m128i>();
            for (k, q) in dot::quads(&parts).iter().enumerate() {
                _mm_storeu_si128(row.add(k), *q);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Geometry, NT, PLANES, TAPS};

    #[test]
    fn geometry_of_lenet_and_of_layers_that_do_not_fit() {
        // LeNet-5's conv2: channel pairs, the whole output in one band.
        let g = Geometry::new(2, (1, 1, 1, 1), (6, 5, 5), (0, 14, 0), 10).expect("fits");
        assert_eq!(
            (g.cs, g.ks, g.cq, g.jq, g.wu, g.extra, g.band),
            (2, 1, 3, 5, 14, 4, 10)
        );
        // In quads: pairs of channels by pairs of columns (6 is not 4k).
        let g = Geometry::new(4, (1, 1, 1, 1), (6, 5, 5), (0, 14, 0), 10).expect("fits");
        assert_eq!((g.cs, g.ks, g.cq, g.jq), (2, 2, 3, 3));
        assert_eq!((g.part(0), g.part(1), g.part(3)), ((0, 0), (0, 1), (1, 1)));
        // conv1: one channel, pairs (quads) of columns.
        let g = Geometry::new(2, (1, 1, 1, 1), (1, 5, 5), (0, 32, 0), 28).expect("fits");
        assert_eq!((g.cs, g.ks, g.cq, g.jq, g.wu, g.band), (1, 2, 1, 3, 32, 28));
        let g = Geometry::new(4, (1, 1, 1, 1), (1, 5, 5), (0, 32, 0), 28).expect("fits");
        assert_eq!((g.cs, g.ks, g.jq, g.taps(5)), (1, 4, 2, 10));
        assert_eq!(g.tap(7, 5), (0, 3, 4));
        // Phases read: a 3×3 kernel at stride 2 reads both row phases; in
        // quads of columns one column phase, in pairs of channels both.
        let g = Geometry::new(4, (2, 2, 1, 1), (3, 3, 3), (1, 96, 1), 48).expect("fits");
        assert_eq!((g.row_phases, g.col_phases), (0b11, 0b01));
        assert!(g.reads(1, 0) && !g.reads(0, 1));
        let g = Geometry::new(2, (2, 2, 1, 1), (16, 3, 3), (1, 32, 1), 16).expect("fits");
        assert_eq!((g.row_phases, g.col_phases), (0b11, 0b11));
        let g = Geometry::new(4, (2, 2, 1, 1), (16, 1, 1), (0, 32, 0), 16).expect("fits");
        assert_eq!((g.row_phases, g.col_phases), (0b01, 0b01));
        // Sixteen channels in quads of channels.
        let g = Geometry::new(4, (1, 1, 1, 1), (16, 3, 3), (1, 32, 1), 32).expect("fits");
        assert_eq!((g.cs, g.ks, g.cq, g.jq), (4, 1, 4, 3));
        // Stride 2 with padding: four phases of ⌈34 / 2⌉ columns, in bands.
        let g = Geometry::new(2, (2, 2, 1, 1), (16, 3, 3), (1, 32, 1), 16).expect("fits");
        assert_eq!((g.wu, g.extra, g.band), (17, 1, 9));
        assert!(8 * 4 * g.plane <= PLANES);
        assert!(
            8 * 4 * (g.plane + 17) > PLANES,
            "the largest band that fits"
        );
        // Too many taps, or not one row of planes.
        let cg = 2 * (TAPS / 9 + 1);
        assert!(Geometry::new(2, (1, 1, 1, 1), (cg, 3, 3), (1, 8, 1), 8).is_none());
        assert!(Geometry::new(4, (1, 1, 1, 1), (2 * cg, 3, 3), (1, 8, 1), 8).is_none());
        let w = PLANES / 64 - NT + 1;
        assert!(Geometry::new(2, (1, 1, 1, 1), (128, 1, 1), (0, w, 0), 1).is_none());
    }
}
