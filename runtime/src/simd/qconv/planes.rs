//! The layout both micro-kernels read: the layer's geometry, the input
//! rewritten into pair planes, the tap offsets and the packed weight pairs
//! (see the parent module's docs).

#![allow(clippy::inline_always)] // Must inline into the #[target_feature] entry point.

use super::{NT, PLANES, TAPS};
use core::mem::MaybeUninit;

/// How the kernel lays a layer out, from its const parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Geometry {
    /// Pairs of channels (`CG` even), else pairs of kernel columns.
    pub(super) channel_pairs: bool,
    /// Pair planes per group and phase: `CG / 2`, or `CG`.
    pub(super) cq: usize,
    /// Pairs of taps per kernel row: `KW`, or `⌈KW / 2⌉`.
    pub(super) jq: usize,
    /// Phase plane width, `⌈(PL + W + PR) / SW⌉`.
    pub(super) wu: usize,
    /// Phase rows a band reads beyond its output rows, `(KH − 1)·DH / SH`.
    pub(super) extra: usize,
    /// Output rows per band.
    pub(super) band: usize,
    /// `i32`s per phase plane, with the tiles' overreach.
    pub(super) plane: usize,
}

impl Geometry {
    /// The layout, or `None` if the layer does not fit the scratch space.
    pub(super) const fn new(
        (sh, sw, dh, dw): (usize, usize, usize, usize),
        (cg, kh, kw): (usize, usize, usize),
        (pl, w, pr): (usize, usize, usize),
        oh: usize,
    ) -> Option<Geometry> {
        let channel_pairs = cg % 2 == 0;
        let (cq, jq) = if channel_pairs {
            (cg / 2, kw)
        } else {
            (cg, kw.div_ceil(2))
        };
        let wu = (pl + w + pr).div_ceil(sw);
        let extra = (kh - 1) * dh / sh;
        let slack = NT + (kw - 1) * dw / sw;
        let planes = cq * sh * sw;
        if cq * kh * jq > TAPS || planes == 0 || PLANES / planes < slack + (extra + 1) * wu {
            return None;
        }
        let rows = (PLANES / planes - slack) / wu - extra;
        let band = if rows < oh { rows } else { oh };
        Some(Geometry {
            channel_pairs,
            cq,
            jq,
            wu,
            extra,
            band,
            plane: (band + extra) * wu + slack,
        })
    }

    /// Pairs of taps per output channel.
    pub(super) const fn taps(&self, kh: usize) -> usize {
        self.cq * kh * self.jq
    }

    /// Tap `t`'s pair plane (channel or channel pair, row, column pair) and
    /// kernel row and column.
    #[inline(always)]
    pub(super) fn tap(&self, t: usize, kh: usize) -> (usize, usize, usize) {
        let (c, i, jq) = (t / (kh * self.jq), t / self.jq % kh, t % self.jq);
        (c, i, if self.channel_pairs { jq } else { 2 * jq })
    }
}

/// Two `i16`s in one `i32` lane, `lo` first in memory (`vpmaddwd`'s order).
#[inline(always)]
#[allow(clippy::cast_sign_loss)] // Bit patterns.
pub(super) fn pair(lo: i32, hi: i32) -> i32 {
    (lo as u32 & 0xFFFF | (hi as u32) << 16).cast_signed()
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
/// band of `rows` output rows, into pair planes (see the parent's docs),
/// and returns them: every plane's rows, then zeros to the plane's end.
///
/// The buffer is not zeroed first (that cost as much as filling it): this
/// writes every `i32` of the `cq · SH · SW` planes it returns, rows and
/// slack, on every call.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub(super) fn fill<
    'p,
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
    zp: i32,
    oy0: usize,
    rows: usize,
    planes: &'p mut [MaybeUninit<i32>; PLANES],
) -> &'p [i32] {
    let len = geo.cq * SH * SW * geo.plane;
    let (used, _) = planes.split_at_mut(len);
    for (p, plane) in used.chunks_exact_mut(geo.plane).enumerate() {
        // Plane p is phase (pr, pc) of channel (pair) c.
        let (c, pr, pc) = (p / (SH * SW), p / SW % SH, p % SW);
        // The two sources of each pair: channels (2c, 2c + 1), or channel c
        // and itself DW columns on.
        let (a, b, shift) = if geo.channel_pairs {
            (&x[2 * c], &x[2 * c + 1], 0)
        } else {
            (&x[c], &x[c], DW)
        };
        let (band, slack) = plane.split_at_mut((rows + geo.extra) * geo.wu);
        for (u, dest) in band.chunks_exact_mut(geo.wu).enumerate() {
            match ((oy0 + u) * SH + pr).checked_sub(PT).filter(|&r| r < H) {
                Some(r) => fill_row::<SW, PL, W>(dest, &a[r], &b[r], shift, pc, zp),
                None => dest.fill(MaybeUninit::new(0)),
            }
        }
        slack.fill(MaybeUninit::new(0));
    }
    // SAFETY: the loop above wrote every element of `used` (each plane is
    // its rows, each row written by `fill_row` or `fill`, then its slack),
    // and `MaybeUninit<i32>` has the layout of `i32`.
    unsafe { core::slice::from_raw_parts(used.as_ptr().cast::<i32>(), len) }
}

/// `dest[v] = pair(a[col] − zp, b[col + shift] − zp)` for the padded column
/// `SW·v + pc` (`col` = padded − `PL`), a half being 0 outside the row.
/// Writes every element of `dest`.
#[inline(always)]
fn fill_row<const SW: usize, const PL: usize, const W: usize>(
    dest: &mut [MaybeUninit<i32>],
    a: &[i8; W],
    b: &[i8; W],
    shift: usize,
    pc: usize,
    zp: i32,
) {
    let half = |row: &[i8; W], col: usize| -> i32 {
        match col.checked_sub(PL) {
            Some(k) if k < W => i32::from(row[k]) - zp,
            _ => 0,
        }
    };
    if SW == 1 && shift < W {
        // Columns PL .. PL + W − shift have both halves inside: a plain loop.
        let inner = W - shift;
        for (d, (&x, &y)) in dest[PL..PL + inner]
            .iter_mut()
            .zip(a.iter().zip(&b[shift..]))
        {
            d.write(pair(i32::from(x) - zp, i32::from(y) - zp));
        }
        for v in (0..PL).chain(PL + inner..dest.len()) {
            dest[v].write(pair(half(a, v), half(b, v + shift)));
        }
        return;
    }
    for (v, d) in dest.iter_mut().enumerate() {
        let col = v * SW + pc;
        d.write(pair(half(a, col), half(b, col + shift)));
    }
}

/// The weight pairs of output channels `weight` in tap order: `packed[t][k]`
/// for channel `k`; the lanes past `weight.len()` are left as they are.
#[inline(always)]
pub(super) fn pack<const KH: usize, const KW: usize, const CG: usize, const N: usize>(
    geo: &Geometry,
    weight: &[[[[i8; KW]; KH]; CG]],
    packed: &mut [[i32; N]],
) {
    for (t, p) in packed.iter_mut().enumerate() {
        let (c, i, j) = geo.tap(t, KH);
        for (p, w) in p.iter_mut().zip(weight) {
            *p = if geo.channel_pairs {
                pair(i32::from(w[2 * c][i][j]), i32::from(w[2 * c + 1][i][j]))
            } else {
                pair(
                    i32::from(w[c][i][j]),
                    w[c][i].get(j + 1).map_or(0, |&v| i32::from(v)),
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Geometry, NT, PLANES, TAPS};

    #[test]
    fn geometry_of_lenet_and_of_layers_that_do_not_fit() {
        // LeNet-5's conv2: channel pairs, the whole output in one band.
        let g = Geometry::new((1, 1, 1, 1), (6, 5, 5), (0, 14, 0), 10).expect("fits");
        assert_eq!(
            (g.channel_pairs, g.cq, g.jq, g.wu, g.extra, g.band),
            (true, 3, 5, 14, 4, 10)
        );
        // conv1: one channel, pairs of columns.
        let g = Geometry::new((1, 1, 1, 1), (1, 5, 5), (0, 32, 0), 28).expect("fits");
        assert_eq!(
            (g.channel_pairs, g.cq, g.jq, g.wu, g.band),
            (false, 1, 3, 32, 28)
        );
        // Stride 2 with padding: four phases of ⌈34 / 2⌉ columns, in bands.
        let g = Geometry::new((2, 2, 1, 1), (16, 3, 3), (1, 32, 1), 16).expect("fits");
        assert_eq!((g.wu, g.extra, g.band), (17, 1, 9));
        assert!(8 * 4 * g.plane <= PLANES);
        assert!(
            8 * 4 * (g.plane + 17) > PLANES,
            "the largest band that fits"
        );
        // Too many taps, or not one row of planes.
        assert!(Geometry::new((1, 1, 1, 1), (2 * (TAPS / 9 + 1), 3, 3), (1, 8, 1), 8).is_none());
        assert!(
            Geometry::new((1, 1, 1, 1), (128, 1, 1), (0, PLANES / 64 - NT + 1, 0), 1).is_none()
        );
    }
}
