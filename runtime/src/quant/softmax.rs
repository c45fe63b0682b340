//! int8 softmax, TFLite's reference `SOFTMAX` kernel: integer arithmetic
//! throughout, in gemmlowp's fixed-point formats.
//!
//! The output is a probability on TFLite's fixed grid: scale 1/256, zero
//! point −128 ([`OUTPUT`]). Per row (the elements along the softmax
//! dimension):
//!
//! 1. each `q − max` (≤ 0) is rescaled by `s_in · 2^26` into Q5.26 (a real
//!    in `[−32, 0]`, [`QSoftmax::new`] computes the multiplier as TFLite's
//!    `PreprocessSoftmaxScaling`); differences below `diff_min` (`exp`
//!    rounds to 0 at this precision) are skipped and output −128;
//! 2. `exp` of it in Q0.31 ([`exp_on_negative_values`]: a Taylor
//!    polynomial on `[−1/4, 0)` and a product of `exp(−2^k)` constants for
//!    the whole quarters, gemmlowp's);
//! 3. the sum of the `exp`s in Q12.19, its reciprocal by Newton–Raphson
//!    (`reciprocal`), and each output `exp · (1 / sum)` shifted down to 8
//!    bits, rounded, offset by −128 and clamped.
//!
//! Every step is one of gemmlowp's: [`rounding_doubling_high_mul`] for a
//! product, [`rounding_divide_by_pot`] or a saturating left shift to change
//! formats; a product of two formats' raw values is in the sum of their
//! integer bits.

use super::fixed::{rounding_divide_by_pot, rounding_doubling_high_mul, Requant};
use super::observe::QParams;

/// The parameters of every int8 softmax output: 1/256 and −128, so that
/// `q = −128 + 256 · p` covers `p` in `[0, 1)`.
pub const OUTPUT: QParams = QParams {
    scale: 1.0 / 256.0,
    zero_point: -128,
};

/// Integer bits of the rescaled differences (Q5.26).
const DIFF_BITS: i32 = 5;
/// Integer bits of the sum of `exp`s (Q12.19).
const SUM_BITS: i32 = 12;

/// What a softmax derives from its input's scale, as TFLite's `Prepare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QSoftmax {
    /// `s_in · 2^26 = multiplier · 2^(left_shift − 31)` (β = 1).
    pub multiplier: i32,
    /// Its power of two.
    pub left_shift: i32,
    /// The smallest `q − max` whose `exp` counts.
    pub diff_min: i32,
}

impl QSoftmax {
    /// TFLite's `PreprocessSoftmaxScaling` (the real multiplier capped at
    /// `2^31 − 1`) and `CalculateInputRadius` for an input quantized with
    /// `input`.
    #[must_use]
    #[allow(clippy::cast_possible_truncation)] // A radius below 2^31.
    pub fn new(input: QParams) -> QSoftmax {
        let real =
            (f64::from(input.scale) * f64::from(1u32 << (31 - DIFF_BITS))).min(f64::from(i32::MAX));
        let Requant { multiplier, shift } = Requant::new(real);
        // floor((2^5 − 1) · 2^26 / 2^shift)
        let radius = f64::from((1 << DIFF_BITS) - 1) * f64::from(1u32 << (31 - DIFF_BITS))
            / libm::pow(2.0, f64::from(shift));
        QSoftmax {
            multiplier,
            left_shift: shift,
            diff_min: -(libm::floor(radius) as i32),
        }
    }

    /// `q − max` in Q5.26: TFLite's `MultiplyByQuantizedMultiplierGreaterThanOne`.
    #[inline]
    fn rescale(self, diff: i32) -> i32 {
        // |diff| · 2^left_shift ≤ 31 · 2^26 (diff ≥ diff_min): no overflow;
        // a shift below zero (a scale below 2^−26) is a right shift.
        let shifted = if self.left_shift >= 0 {
            diff.wrapping_shl(self.left_shift.unsigned_abs())
        } else {
            rounding_divide_by_pot(diff, self.left_shift.saturating_neg().min(31))
        };
        rounding_doubling_high_mul(shifted, self.multiplier)
    }
}

/// gemmlowp's `SaturatingRoundingMultiplyByPOT` for a positive exponent:
/// `x · 2^e`, saturated to `i32`.
#[inline]
fn saturating_shl(x: i32, e: u32) -> i32 {
    let threshold = (1i32 << (31 - e)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << e
    }
}

/// `exp(a)` for `a` in `[−1/4, 0)`, Q0.31 in and out: gemmlowp's Taylor
/// expansion around −1/8 to the fourth power.
fn exp_quarter(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668; // exp(−1/8) in Q0.31
    const ONE_THIRD: i32 = 715_827_883; // 1/3 in Q0.31
    let mul = rounding_doubling_high_mul;
    let x = a + (1 << 28); // a + 1/8
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let poly = rounding_divide_by_pot(mul(x4_over_4 + x3, ONE_THIRD) + x2, 1);
    EXP_MINUS_ONE_EIGHTH + mul(EXP_MINUS_ONE_EIGHTH, x + poly)
}

/// `exp(a)` for a Q5.26 `a ≤ 0`, in Q0.31 (1 saturating to `i32::MAX`):
/// gemmlowp's `exp_on_negative_values`. The remainder of `a` modulo 1/4
/// goes to `exp_quarter`; each bit of the whole quarters multiplies by
/// `exp(−2^k)`.
#[must_use]
pub fn exp_on_negative_values(a: i32) -> i32 {
    /// `exp(−2^k)` in Q0.31 for k = −2, −1, 0, 1, 2, 3, 4.
    const FACTORS: [i32; 7] = [
        1_672_461_947,
        1_302_514_674,
        790_015_084,
        290_630_308,
        39_332_535,
        720_401,
        242,
    ];
    const FRACTION_BITS: i32 = 31 - DIFF_BITS;
    let quarter = 1 << (FRACTION_BITS - 2);
    let mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    let mut result = exp_quarter(saturating_shl(
        mod_quarter_minus_quarter,
        DIFF_BITS.unsigned_abs(),
    ));
    let remainder = mod_quarter_minus_quarter.wrapping_sub(a);
    for (k, factor) in (-2..=4).zip(FACTORS) {
        if remainder & (1 << (FRACTION_BITS + k)) != 0 {
            result = rounding_doubling_high_mul(result, factor);
        }
    }
    if a == 0 {
        i32::MAX
    } else {
        result
    }
}

/// `1 / (1 + x)` for a Q0.31 `x` in `[0, 1)`, in Q0.31: gemmlowp's
/// `one_over_one_plus_x_for_x_in_0_1`, three Newton–Raphson steps on half
/// the denominator, in Q2.29.
fn one_over_one_plus_x(x: i32) -> i32 {
    const FORTY_EIGHT_SEVENTEENTHS: i32 = 1_515_870_810; // 48/17 in Q2.29
    const MINUS_THIRTY_TWO_SEVENTEENTHS: i32 = -1_010_580_540; // −32/17 in Q2.29
    const ONE_Q2: i32 = 1 << 29;
    let mul = rounding_doubling_high_mul;
    // RoundingHalfSum(x, 1): (x + 1 ± 1) / 2 with 1 as i32::MAX.
    let sum = i64::from(x) + i64::from(i32::MAX);
    #[allow(clippy::cast_possible_truncation)] // Half of two i32s.
    let half_denominator = ((sum + if sum >= 0 { 1 } else { -1 }) / 2) as i32;
    let mut r = FORTY_EIGHT_SEVENTEENTHS + mul(half_denominator, MINUS_THIRTY_TWO_SEVENTEENTHS);
    for _ in 0..3 {
        let one_minus = ONE_Q2 - mul(half_denominator, r);
        r += saturating_shl(mul(r, one_minus), 2);
    }
    saturating_shl(r, 1)
}

/// TFLite's `GetReciprocal` of a positive Q12.19 sum: `(1 / sum) ·
/// 2^bits_over_unit` in Q0.31 and `bits_over_unit`.
fn reciprocal(sum: i32) -> (i32, i32) {
    let headroom_plus_one = sum.leading_zeros();
    let bits_over_unit = SUM_BITS - headroom_plus_one.cast_signed();
    let shifted_minus_one = (sum.cast_unsigned() << headroom_plus_one).wrapping_sub(1 << 31);
    (
        one_over_one_plus_x(shifted_minus_one.cast_signed()),
        bits_over_unit,
    )
}

/// `torch.nn.Softmax(dim)` on an int8 tensor viewed as `[OUTER][DIM][INNER]`
/// (the softmax along `DIM`), in place, TFLite's reference kernel: the
/// input quantized with `input`, the output with [`OUTPUT`].
///
/// ```
/// use constnet_runtime::quant::softmax::{softmax, QSoftmax, OUTPUT};
/// use constnet_runtime::quant::QParams;
/// let input = QParams { scale: 0.05, zero_point: 0 };
/// let mut x = [[[40i8], [0], [-40]]]; // 2.0, 0.0, −2.0
/// softmax::<1, 3, 1>(&mut x, &QSoftmax::new(input));
/// let p: Vec<f32> = x.iter().flatten().flatten().map(|&q| OUTPUT.dequantize(q)).collect();
/// assert_eq!(p, [0.8671875, 0.1171875, 0.015625]); // exactly: 0.867, 0.117, 0.016
/// ```
pub fn softmax<const OUTER: usize, const DIM: usize, const INNER: usize>(
    x: &mut [[[i8; INNER]; DIM]; OUTER],
    params: &QSoftmax,
) {
    for block in x.iter_mut() {
        for i in 0..INNER {
            row(block, i, params);
        }
    }
}

/// One softmax along `block[..][i]`.
#[allow(clippy::cast_possible_truncation)] // Clamped to `i8`.
fn row<const DIM: usize, const INNER: usize>(
    block: &mut [[i8; INNER]; DIM],
    i: usize,
    params: &QSoftmax,
) {
    let max = block.iter().map(|r| r[i]).max().unwrap_or(i8::MIN);
    let exp = |q: i8| {
        let diff = i32::from(q) - i32::from(max);
        (diff >= params.diff_min).then(|| exp_on_negative_values(params.rescale(diff)))
    };
    // Saturating: a sum past 2^12 (more than 4,096 maximal elements) makes
    // every probability round to 0, as below, where TFLite's `int32` sum
    // would overflow.
    let sum = block.iter().filter_map(|r| exp(r[i])).fold(0i32, |s, e| {
        s.saturating_add(rounding_divide_by_pot(e, SUM_BITS))
    });
    let (scale, bits_over_unit) = reciprocal(sum);
    let exponent = bits_over_unit + 31 - 8;
    for r in block.iter_mut() {
        r[i] = match exp(r[i]) {
            // A sum of 2^9 or more (TFLite checks the shift and stops):
            // every probability is below 1/512, half a step.
            Some(_) if exponent > 31 => i8::MIN,
            Some(e) => {
                let p = rounding_divide_by_pot(rounding_doubling_high_mul(scale, e), exponent);
                (p - 128).clamp(-128, 127) as i8
            }
            None => i8::MIN,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::{exp_on_negative_values, one_over_one_plus_x, softmax, QSoftmax, OUTPUT};
    use crate::quant::QParams;
    use crate::reference::test_util::Rng;

    /// gemmlowp's `exp` is accurate to a few units of 2^−31 · 2^…: within
    /// 2^−20 of the real one over `[−32, 0]`.
    #[test]
    fn exp_follows_libm() {
        let step = if cfg!(miri) { 64 } else { 1 };
        for i in (0..=4096).step_by(step) {
            let a = -(i64::from(i) << 19) - i64::from(i % 7) * 12_345; // down to −32
            let a = i32::try_from(a.max(-(31 << 26))).unwrap();
            let real = libm::exp(f64::from(a) / f64::from(1 << 26));
            let got = f64::from(exp_on_negative_values(a)) / 2f64.powi(31);
            assert!((got - real).abs() < 1e-6, "exp({a}) = {got}, not {real}");
        }
        assert_eq!(exp_on_negative_values(0), i32::MAX);
    }

    #[test]
    fn reciprocal_follows_division() {
        for i in 0..1000 {
            let x = i * (i32::MAX / 1000);
            let real = 1.0 / (1.0 + f64::from(x) / 2f64.powi(31));
            let got = f64::from(one_over_one_plus_x(x)) / 2f64.powi(31);
            assert!(
                (got - real).abs() < 1e-8,
                "1 / (1 + {x}) = {got}, not {real}"
            );
        }
    }

    /// Long rows of equal values (a constant input to a 600- or 5,000-way
    /// classifier): every probability rounds to 0, no overflow or panic
    /// (TFLite stops on the first, its sum overflows on the second).
    #[test]
    fn long_rows_round_to_zero() {
        let input = QParams {
            scale: 0.1,
            zero_point: 0,
        };
        let mut x = [[[7i8]; 600]; 1];
        softmax::<1, 600, 1>(&mut x, &QSoftmax::new(input));
        assert!(x.iter().flatten().all(|v| v[0] == -128));
        if !cfg!(miri) {
            let mut x = [[[7i8]; 5000]; 1];
            softmax::<1, 5000, 1>(&mut x, &QSoftmax::new(input));
            assert!(x.iter().flatten().all(|v| v[0] == -128));
        }
        // 300 equal values: 256 / 300 rounds to 1 step each.
        let mut x = [[[7i8]; 300]; 1];
        softmax::<1, 300, 1>(&mut x, &QSoftmax::new(input));
        assert!(x.iter().flatten().all(|v| v[0] == -127));
    }

    /// Against the real softmax of the dequantized inputs: within one
    /// output step (1/256), rows of every length and scale.
    #[test]
    fn follows_the_real_softmax() {
        let mut rng = Rng::new(5);
        for _ in 0..if cfg!(miri) { 5 } else { 300 } {
            let input = QParams {
                scale: 0.005 + rng.next_f32().abs() * 0.2,
                zero_point: 0,
            };
            let mut x = [[[0i8; 3]; 7]; 2];
            for q in x.as_flattened_mut().as_flattened_mut() {
                *q = (rng.next_u32() >> 24).cast_signed() as i8;
            }
            let before = x;
            softmax::<2, 7, 3>(&mut x, &QSoftmax::new(input));
            for (o, block) in before.iter().enumerate() {
                for i in 0..3 {
                    let e: std::vec::Vec<f64> = block
                        .iter()
                        .map(|r| libm::exp(f64::from(input.dequantize(r[i]))))
                        .collect();
                    let total: f64 = e.iter().sum();
                    for (d, &v) in e.iter().enumerate() {
                        let p = f64::from(OUTPUT.dequantize(x[o][d][i]));
                        assert!((p - v / total).abs() <= 1.0 / 256.0, "{input:?} {block:?}");
                    }
                }
            }
        }
    }
}
