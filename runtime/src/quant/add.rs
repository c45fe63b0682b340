//! int8 elementwise addition (a residual connection), TFLite's `ADD`:
//! each input rescaled to a common fixed-point scale, summed, and the sum
//! rescaled to the output's, with the fused activation's clamp.
//!
//! TFLite's reference kernel (`reference_integer_ops::AddFunc`, with the
//! parameters its `Prepare` computes): both inputs are shifted left by 20
//! bits, so that rescaling them by `s_a / 2·max(s_a, s_b)` and
//! `s_b / 2·max(s_a, s_b)` (both at most ½) keeps 19 bits of fraction; the
//! sum is then multiplied by `2·max(s_a, s_b) / (2^20 · s_out)`. Every
//! multiplication is [`Requant::apply`] (TFLite's
//! `MultiplyByQuantizedMultiplierSmallerThanOneExp`: a rounding doubling
//! high multiply, then a rounding right shift). The multipliers are
//! computed in `f64` from the `f32` scales, as TFLite's `Prepare` does.
//!
//! The sum is symmetric in its two inputs: each has its own multiplier.

use super::fixed::Requant;
use super::layer::Act;
use super::observe::QParams;
use super::Clamp;
#[cfg(target_arch = "x86_64")]
use crate::simd::{self, Isa};

/// TFLite's left shift of both inputs for int8 `ADD`.
pub(crate) const LEFT_SHIFT: i32 = 20;

/// The fixed-point parameters of one int8 addition, derived from the scales
/// and zero points of its two inputs and its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QAdd {
    /// `s_a / (2 · max(s_a, s_b))`.
    pub a: Requant,
    /// `s_b / (2 · max(s_a, s_b))`.
    pub b: Requant,
    /// `2 · max(s_a, s_b) / (2^20 · s_out)`.
    pub out: Requant,
    /// The first input's zero point.
    pub a_zero: i8,
    /// The second input's zero point.
    pub b_zero: i8,
    /// The output's zero point.
    pub out_zero: i8,
    /// The fused activation's range.
    pub clamp: Clamp,
}

impl QAdd {
    /// The addition of a value quantized with `a` and one quantized with
    /// `b`, to an output quantized with `out`, followed by `act`.
    ///
    /// ```
    /// use constnet_runtime::quant::add::{add, QAdd};
    /// use constnet_runtime::quant::layer::Act;
    /// use constnet_runtime::quant::QParams;
    /// let p = |scale, zero_point| QParams { scale, zero_point };
    /// let op = QAdd::new(p(0.5, 0), p(0.25, 10), p(1.0, -3), Act::None);
    /// let mut x = [4i8, -128]; // 2.0, −64.0
    /// add(&mut x, &[14, 10], &op); // + 1.0, + 0.0
    /// assert_eq!(x, [0, -67]); // 3.0, −64.0 on scale 1 with zero point −3
    /// ```
    #[must_use]
    pub fn new(a: QParams, b: QParams, out: QParams, act: Act) -> QAdd {
        let twice_max = 2.0 * f64::from(a.scale.max(b.scale));
        let real_out = twice_max / (f64::from(1u32 << LEFT_SHIFT) * f64::from(out.scale));
        QAdd {
            a: Requant::new(f64::from(a.scale) / twice_max),
            b: Requant::new(f64::from(b.scale) / twice_max),
            out: Requant::new(real_out),
            a_zero: a.zero_point,
            b_zero: b.zero_point,
            out_zero: out.zero_point,
            clamp: act.clamp(out),
        }
    }

    /// One output: `x` of the first input plus `y` of the second.
    #[inline]
    #[must_use]
    pub fn apply(&self, x: i8, y: i8) -> i8 {
        // |q − zp| ≤ 255 < 2^8, so the shifted values stay below 2^28.
        let shifted = |q: i8, zero: i8| (i32::from(q) - i32::from(zero)) << LEFT_SHIFT;
        let sum = self.a.apply(shifted(x, self.a_zero)) + self.b.apply(shifted(y, self.b_zero));
        self.clamp
            .apply(self.out.apply(sum).saturating_add(i32::from(self.out_zero)))
    }
}

/// `target[i] = op(target[i], other[i])`: the first input is overwritten
/// by the sum (a residual connection adds in place). Both slices have the
/// tensor's length (the generated code passes arrays of one type).
///
/// With AVX2 or AVX-512F, whole vectors of elements go through
/// `simd::qadd` (the same integer steps, 8 or 16 lanes at a time), the
/// rest through [`QAdd::apply`].
pub fn add(target: &mut [i8], other: &[i8], op: &QAdd) {
    // SAFETY: `simd::best` says AVX2 or AVX-512F only where this CPU has
    // them (or the build enables them).
    #[cfg(target_arch = "x86_64")]
    let done = unsafe {
        match simd::best() {
            Isa::Avx512 => simd::qadd::add_avx512(target, other, op),
            Isa::Avx2 => simd::qadd::add_avx2(target, other, op),
            Isa::Portable => 0,
        }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for (x, &y) in target[done..].iter_mut().zip(&other[done..]) {
        *x = op.apply(*x, y);
    }
}

#[cfg(test)]
mod tests {
    use super::{add, QAdd};
    use crate::quant::layer::Act;
    use crate::quant::QParams;
    use crate::reference::test_util::Rng;

    fn params(rng: &mut Rng) -> QParams {
        let scale = 0.002 + rng.next_f32().abs() * 0.2;
        #[allow(clippy::cast_possible_truncation)]
        let zero_point = (rng.next_f32() * 100.0) as i8;
        QParams { scale, zero_point }
    }

    /// Against the real sum, rounded to the output's grid: TFLite's
    /// fixed-point form keeps 19 bits of fraction, so it is off by at most
    /// one step (on ties and near them), and exact away from them.
    #[test]
    fn follows_the_real_sum_within_one_step() {
        let mut rng = Rng::new(7);
        let (mut exact, mut total) = (0usize, 0usize);
        // (Miri: a fiftieth of the cases.)
        for _ in 0..if cfg!(miri) { 4 } else { 200 } {
            let (a, b) = (params(&mut rng), params(&mut rng));
            let out = QParams {
                scale: (a.scale + b.scale) * (0.5 + rng.next_f32().abs()),
                ..params(&mut rng)
            };
            let op = QAdd::new(a, b, out, Act::None);
            for x in (-128..=127).step_by(5) {
                for y in (-128..=127).step_by(7) {
                    let real = a.dequantize(x) + b.dequantize(y);
                    let want = f64::from(real) / f64::from(out.scale) + f64::from(out.zero_point);
                    let want = want.round().clamp(-128.0, 127.0);
                    let got = f64::from(op.apply(x, y));
                    assert!((got - want).abs() <= 1.0, "{a:?} {b:?} {out:?} {x} {y}");
                    exact += usize::from(got == want);
                    total += 1;
                }
            }
        }
        assert!(exact * 1000 > total * 995, "{exact} of {total} exact");
    }

    /// A worked case, by hand: scales 0.5 and 0.25, so `twice_max` = 1 and
    /// the multipliers are ½, ¼ and 2^−20; zero points 0, 10, −3.
    #[test]
    fn worked_example() {
        let p = |scale, zero_point| QParams { scale, zero_point };
        let op = QAdd::new(p(0.5, 0), p(0.25, 10), p(1.0, -3), Act::None);
        assert_eq!((op.a.multiplier, op.a.shift), (1 << 30, 0));
        assert_eq!((op.b.multiplier, op.b.shift), (1 << 30, -1));
        assert_eq!((op.out.multiplier, op.out.shift), (1 << 30, -19));
        // 1.5 + 0.75 = 2.25 → 2 (−3 + 2 = −1); 0.5 + 0.25 = 0.75 → 1;
        // 63.5 + 29.25 = 92.75 → 93.
        let mut x = [3i8, 1, 127];
        add(&mut x, &[13, 11, 127], &op);
        assert_eq!(x, [-1, -2, 90]);
        // A fused ReLU clamps at the output's zero point.
        let relu = QAdd::new(p(0.5, 0), p(0.25, 10), p(1.0, -3), Act::Relu);
        assert_eq!(relu.apply(-20, 10), -3);
        assert_eq!(op.apply(-20, 10), -13);
    }

    /// Swapping the inputs (with their parameters) gives the same sums.
    #[test]
    fn symmetric() {
        let mut rng = Rng::new(11);
        for _ in 0..if cfg!(miri) { 2 } else { 50 } {
            let (a, b, out) = (params(&mut rng), params(&mut rng), params(&mut rng));
            let (ab, ba) = (
                QAdd::new(a, b, out, Act::Relu),
                QAdd::new(b, a, out, Act::Relu),
            );
            for x in (-128..=127).step_by(3) {
                for y in (-128..=127).step_by(11) {
                    assert_eq!(ab.apply(x, y), ba.apply(y, x));
                }
            }
        }
    }
}
