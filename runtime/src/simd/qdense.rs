//! int8 fully connected layer on Arm's DSP instructions (`simd::dsp`):
//! four int8 weights loaded as one word, split by `sxtb16` into the pairs
//! `(w0, w2)` and `(w1, w3)`, each multiplied with the matching pair of
//! inputs by one `smlad`.
//!
//! The inputs are rewritten once per call as `x − zp_in` in `i16`, in the
//! order the weights come out of `sxtb16`: for each group of four inputs
//! the words `(x0, x2)` and `(x1, x3)`, in a stack buffer of [`XWORDS`]
//! words. Per four multiply-accumulates the loop takes one weight load,
//! two `sxtb16`s, one double-word input load (`ldrd`) and two `smlad`s,
//! against about 4 instructions per multiply-accumulate for the portable
//! kernel of `quant::linear` (two sign-extending byte loads and a
//! multiply-add each, plus the sum of the weights for the zero point). The
//! last `I mod 4` inputs take the portable sum. Integer sums are exact:
//! the bits are `quant::linear`'s. A layer with more than `2 · XWORDS`
//! inputs returns `false` and runs on the portable kernel.

use super::dsp::{pair, smlad, sxtb16, sxtb16_ror8};
use crate::quant::Rescale;

/// The packed inputs, in words of two `i16` (2 KiB of stack).
pub(crate) const XWORDS: usize = 512;

/// `quant::linear::linear` on the DSP instructions (see the module docs),
/// or `false`, having written nothing, if `I > 2 · XWORDS`.
pub(crate) fn linear<const I: usize, const O: usize>(
    input: &[i8; I],
    input_zero: i8,
    weight: &[[i8; I]; O],
    rescale: &Rescale<'_, O>,
    output: &mut [i8; O],
) -> bool {
    if I > 2 * XWORDS {
        return false;
    }
    let zp = i16::from(input_zero);
    let mut xb = [0u32; XWORDS];
    let quads = input.chunks_exact(4);
    let tail = quads.remainder();
    for (q, d) in quads.zip(xb.chunks_exact_mut(2)) {
        let x = |k: usize| i16::from(q[k]) - zp;
        d[0] = pair(x(0), x(2));
        d[1] = pair(x(1), x(3));
    }
    for (o, (y, w)) in output.iter_mut().zip(weight).enumerate() {
        let mut acc = 0i32;
        let wq = w.chunks_exact(4);
        let wt = wq.remainder();
        for (q, x) in wq.zip(xb.chunks_exact(2)) {
            let word = u32::from_le_bytes([q[0], q[1], q[2], q[3]].map(|b| b.to_le_bytes()[0]));
            acc = smlad(sxtb16(word), x[0], acc);
            acc = smlad(sxtb16_ror8(word), x[1], acc);
        }
        for (&w, &x) in wt.iter().zip(tail) {
            acc += i32::from(w) * (i32::from(x) - i32::from(zp));
        }
        *y = rescale.store(o, acc);
    }
    true
}
