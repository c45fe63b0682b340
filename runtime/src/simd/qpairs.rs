//! int8 convolution on pairs of `i16` taps: the shape of Arm's `smlad`
//! (two signed 16-bit products added to a 32-bit accumulator, one
//! instruction, one cycle on a Cortex-M4 or M7): `simd::dsp::smlad`, the
//! instruction where the target has the DSP extension and the same sum in
//! plain Rust elsewhere (so that the host tests run this kernel against
//! the naive twin). `examples/embedded/check.sh` checks that the int8
//! firmware holds `smlad` and runs it under QEMU against TFLite's int8
//! logits.
//!
//! # Pair words
//!
//! Once per band of output rows the kernel writes the band's input rows of
//! one group, `x − zp_in` in `i16` (padding as 0: the padded value is
//! `zp_in`), as *pair words*: word `k` of a row holds columns `k` and `k +
//! 1` (low, high), so the pair at any column is one aligned 32-bit load.
//! Each output channel's weights become pair words too: kernel row `i` of
//! channel `c` as `⌈KW / 2⌉` words `(w[2j], w[2j + 1])`, the last one
//! `(w[KW − 1], 0)` when `KW` is odd (its partner column is the row's extra
//! zero word). An output value is then, over `c` and `i`, `⌈KW / 2⌉`
//! `smlad`s of weight words with the input words at columns `ox · SW +
//! 2j`: any stride and padding, no tests in the loop.
//!
//! Two output channels at a time share each input word, their weight words
//! interleaved: per pair of taps one input load, two weight loads (one
//! `ldrd` where LLVM pairs them), two `smlad`s; about 1.25 instructions per
//! multiply-accumulate before loop overhead, against about 4 for the row
//! kernel of `quant::conv`. Measured in the int8 firmware under QEMU: see
//! `examples/embedded/README.md`.
//!
//! Integer sums are exact: the bits are `quant::conv`'s. A layer with a
//! column dilation (its taps are not adjacent), more weight words per
//! output channel than half of [`WWORDS`], or input rows too wide for one
//! output row's band in [`XWORDS`] returns `false` and runs on the row
//! kernel.

use super::dsp::{pair, smlad, smlad2};
use crate::quant::Rescale;

/// The band's input pair words (4 KiB of stack).
pub(crate) const XWORDS: usize = 1024;

/// The weight pair words of two output channels, interleaved (2 KiB of
/// stack): one output channel may take half.
pub(crate) const WWORDS: usize = 512;

/// One call's geometry, in pair words.
#[derive(Clone, Copy)]
struct Geometry {
    /// Words a padded input row takes: `PL + W + PR + 1` (the last one
    /// pairs the row's last column with a zero).
    row: usize,
    /// Weight words per kernel row: `⌈KW / 2⌉`.
    taps: usize,
    /// Output rows per band (the last band may hold fewer).
    band: usize,
}

impl Geometry {
    /// The geometry, or `None` if the layer does not fit the kernel:
    /// `span(n)` is the number of input rows `n` output rows read.
    fn new(
        cg: usize,
        kh: usize,
        kw: usize,
        width: usize,
        oh: usize,
        span: impl Fn(usize) -> usize,
    ) -> Option<Geometry> {
        let (row, taps) = (width + 1, kw.div_ceil(2));
        let fits = |n: usize| cg * span(n) * row <= XWORDS;
        if !fits(1) || 2 * cg * kh * taps > WWORDS {
            return None;
        }
        let mut band = 1;
        while band < oh && fits(band + 1) {
            band += 1;
        }
        Some(Geometry { row, taps, band })
    }
}

/// `quant::conv::conv2d` with the pairs kernel (see the module docs), or
/// `false`, having written nothing, if the layer does not fit it.
#[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
pub(crate) fn conv2d<
    const SH: usize,
    const SW: usize,
    const PT: usize,
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
    input: &[[[i8; W]; H]; C],
    input_zero: i8,
    weight: &[[[[i8; KW]; KH]; CG]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [[[i8; OW]; OH]; O],
) -> bool {
    let span = |n: usize| (n - 1) * SH + (KH - 1) * DH + 1;
    let geo = match Geometry::new(CG, KH, KW, PL + W + PR, OH, span) {
        Some(g) if DW == 1 => g,
        _ => return false,
    };
    let mut xb = [0u32; XWORDS];
    let mut wb = [0u32; WWORDS];
    let per_group = O / G;
    let mut oy0 = 0;
    while oy0 < OH {
        let n = geo.band.min(OH - oy0);
        let rows = span(n);
        for (g, x) in input.chunks_exact(CG).enumerate() {
            pack_input::<PT, PL, H, W>(x, input_zero, oy0 * SH, rows, geo.row, &mut xb);
            let mut o = g * per_group;
            while o < (g + 1) * per_group {
                let two = o + 1 < (g + 1) * per_group;
                wb.fill(0);
                for k in 0..1 + usize::from(two) {
                    if let Some(w) = weight.get(o + k) {
                        pack_weights(w.as_flattened(), geo.taps, k, &mut wb);
                    }
                }
                let band = Band {
                    geo,
                    rows,
                    first: oy0,
                    n,
                };
                band.run::<SH, SW, DH, CG, KH, O, OH, OW>(&xb, &wb, o, two, rescale, output);
                o += 1 + usize::from(two);
            }
        }
        oy0 += n;
    }
    true
}

/// One band of output rows for one or two output channels.
struct Band {
    geo: Geometry,
    /// Input rows per channel in the pair words.
    rows: usize,
    /// Its first output row.
    first: usize,
    /// Its output rows.
    n: usize,
}

impl Band {
    /// Output channels `o` and, if `two`, `o + 1`, from the packed band
    /// `xb` and their packed weights `wb`.
    #[allow(clippy::too_many_arguments)] // Const parameters, not arguments.
    #[inline(always)]
    fn run<
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const CG: usize,
        const KH: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
    >(
        &self,
        xb: &[u32; XWORDS],
        wb: &[u32; WWORDS],
        o: usize,
        two: bool,
        rescale: &Rescale<'_, O>,
        output: &mut [[[i8; OW]; OH]; O],
    ) {
        let Geometry { row, taps, .. } = self.geo;
        let plane = self.rows * row;
        for dy in 0..self.n {
            for ox in 0..OW {
                let (mut a0, mut a1) = (0, 0);
                for c in 0..CG {
                    for i in 0..KH {
                        let at = c * plane + (dy * SH + i * DH) * row + ox * SW;
                        let wat = (c * KH + i) * taps;
                        for j in 0..taps {
                            let x = word(xb, at + 2 * j);
                            let w = 2 * (wat + j);
                            if two {
                                (a0, a1) = smlad2(x, word(wb, w), word(wb, w + 1), a0, a1);
                            } else {
                                a0 = smlad(x, word(wb, w), a0);
                            }
                        }
                    }
                }
                let oy = self.first + dy;
                if let Some(y) = output
                    .get_mut(o)
                    .and_then(|p| p.get_mut(oy))
                    .and_then(|r| r.get_mut(ox))
                {
                    *y = rescale.store(o, a0);
                }
                if two {
                    if let Some(y) = output
                        .get_mut(o + 1)
                        .and_then(|p| p.get_mut(oy))
                        .and_then(|r| r.get_mut(ox))
                    {
                        *y = rescale.store(o + 1, a1);
                    }
                }
            }
        }
    }
}

/// `words[at]`, unchecked.
///
/// Every index the kernel forms is in bounds by [`Geometry::new`]: an
/// input word's `c · plane + (dy · SH + i · DH) · row + ox · SW + 2j` has
/// `c < CG`, `dy · SH + i · DH ≤ span(n) − 1 < rows` and `ox · SW + 2j ≤
/// (OW − 1) · SW + KW − 1 = PL + W + PR − 1 < row` (PyTorch's output width,
/// checked at compile time by `quant::conv::conv2d`), so it is below `CG ·
/// span(n) · row ≤ XWORDS`; a weight word's index, `2 · ((c · KH + i) ·
/// taps + j)` plus the channel (0 or 1), is below `2 · CG · KH · taps ≤
/// WWORDS`. The tests run every geometry with the bounds asserted (debug
/// builds) and under Miri.
#[inline(always)]
fn word<const N: usize>(words: &[u32; N], at: usize) -> u32 {
    debug_assert!(at < N, "qpairs: word {at} of {N}");
    // SAFETY: `at < N` for every index the kernel forms (see above).
    unsafe { *words.get_unchecked(at) }
}

/// Writes `rows` padded input rows from padded row `top` of each channel
/// of `x` into `xb` as pair words of `x − zp` (`row` words a row, 0 where
/// the row or column is padding).
fn pack_input<const PT: usize, const PL: usize, const H: usize, const W: usize>(
    x: &[[[i8; W]; H]],
    zp: i8,
    top: usize,
    rows: usize,
    row: usize,
    xb: &mut [u32; XWORDS],
) {
    let zp = i16::from(zp);
    for (plane, dst) in x.iter().zip(xb.chunks_exact_mut(rows * row)) {
        for (r, line) in dst.chunks_exact_mut(row).enumerate() {
            line.fill(0);
            let Some(src) = (top + r).checked_sub(PT).and_then(|y| plane.get(y)) else {
                continue;
            };
            // Column k of the padded row is `src[k − PL]`; word k pairs
            // columns k and k + 1.
            let at = |k: usize| {
                k.checked_sub(PL)
                    .and_then(|k| src.get(k))
                    .map_or(0, |&v| i16::from(v) - zp)
            };
            for (k, w) in line.iter_mut().enumerate() {
                *w = pair(at(k), at(k + 1));
            }
        }
    }
}

/// One output channel's weights `w` (`[CG][KH][KW]`, flattened to rows of
/// `KW`) as pair words, `taps` per kernel row, at the odd (`k` = 1) or even
/// (`k` = 0) words of `wb`: two channels interleaved, so that the kernel
/// loads both channels' words at once (`ldrd`).
fn pack_weights<const KW: usize>(w: &[[i8; KW]], taps: usize, k: usize, wb: &mut [u32; WWORDS]) {
    let words = wb.chunks_exact_mut(2).map(move |p| &mut p[k & 1]);
    let pairs = w.iter().flat_map(|line| {
        (0..taps).map(move |j| {
            let at = |t: usize| line.get(t).map_or(0, |&v| i16::from(v));
            pair(at(2 * j), at(2 * j + 1))
        })
    });
    for (d, p) in words.zip(pairs) {
        *d = p;
    }
}
