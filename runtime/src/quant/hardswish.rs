//! int8 Hardswish (`x · relu6(x + 3) / 6`), TFLite's reference
//! `HARD_SWISH` kernel: 16-bit fixed point throughout.
//!
//! Per value, with `v = q − zp_in` on a scale 128 times finer (`v · 2^7`,
//! "hires"):
//!
//! - `x` on the output's scale, before the final shift: `v · 2^7` times
//!   `s_in / (128 · s_out)` as a Q0.15 multiplier;
//! - the "relu-ish" factor `relu6(x + 3) / 6` in Q0.15: `v · 2^7` rescaled
//!   so that 3.0 is 32768 (saturating at ±3), then mapped from [−1, 1] to
//!   [0, 1];
//! - their product with a truncating doubling high multiply (TFLite's
//!   choice: it cancels the bias of the rounding one before), shifted down
//!   by the output multiplier's exponent, plus the output zero point.
//!
//! The multipliers come from TFLite's `HardSwishPrepare`: `f32` ratios,
//! `QuantizeMultiplier` ([`Requant::new`]), then rounded to 16 bits
//! (`DownScaleInt32ToInt16Multiplier`). TFLite refuses an output multiplier
//! of 1 or more (an output scale below 1/128 of the input's); constnet then
//! shifts left, saturating.

use super::fixed::Requant;
use super::observe::QParams;

/// What a Hardswish derives from its input's and output's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QHardswish {
    /// The input's zero point.
    pub input_zero: i8,
    /// The output's zero point.
    pub output_zero: i8,
    /// `s_in / (128 · s_out) = output_multiplier · 2^(output_exponent − 15)`.
    pub output_multiplier: i16,
    /// Its power of two.
    pub output_exponent: i32,
    /// `(s_in / 128) / (3 / 32768) = reluish_multiplier · 2^(reluish_exponent − 15)`.
    pub reluish_multiplier: i16,
    /// Its power of two.
    pub reluish_exponent: i32,
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`: a Q0.31 multiplier rounded
/// to Q0.15.
#[allow(clippy::cast_possible_truncation)] // Below 2^15 after the shift.
fn down_scale(m: i32) -> i16 {
    const OFFSET: i32 = 1 << 15;
    if m >= i32::MAX - OFFSET {
        return i16::MAX;
    }
    ((m + OFFSET) >> 16) as i16
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul` on `i16`.
#[allow(clippy::cast_possible_truncation)] // |a·b| / 2^15 < 2^15 but for the saturated case.
fn rounding_high_mul(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// TFLite's `SaturatingDoublingHighMul`: the same, truncating toward zero.
#[allow(clippy::cast_possible_truncation)] // As above.
fn truncating_high_mul(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

/// TFLite's `SaturatingLeftShift` on `i16`.
#[allow(clippy::cast_possible_truncation)] // Clamped to `i16`.
fn saturating_shl(v: i16, amount: i32) -> i16 {
    let r = i64::from(v) * (1i64 << amount.clamp(0, 31));
    r.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// gemmlowp's `RoundingDivideByPOT` on `i16` (its mask an `i16`, as the
/// C++ template computes it).
#[allow(clippy::cast_possible_truncation)] // The C++ `i16` arithmetic.
fn rounding_divide_by_pot(x: i16, exponent: i32) -> i16 {
    let e = exponent.clamp(0, 31);
    let mask = ((1i64 << e) - 1) as i16;
    let remainder = x & mask;
    let threshold = i32::from(mask >> 1) + i32::from(x < 0);
    (i32::from(x >> e.min(15)) + i32::from(i32::from(remainder) > threshold)) as i16
}

impl QHardswish {
    /// TFLite's `HardSwishPrepare` for an input quantized with `input` and
    /// an output with `output`.
    #[must_use]
    pub fn new(input: QParams, output: QParams) -> QHardswish {
        let hires_input_scale = (1.0f32 / 128.0) * input.scale;
        let reluish_scale = 3.0f32 / 32768.0;
        let out = Requant::new(f64::from(hires_input_scale / output.scale));
        let reluish = Requant::new(f64::from(hires_input_scale / reluish_scale));
        QHardswish {
            input_zero: input.zero_point,
            output_zero: output.zero_point,
            output_multiplier: down_scale(out.multiplier),
            output_exponent: out.shift,
            reluish_multiplier: down_scale(reluish.multiplier),
            reluish_exponent: reluish.shift,
        }
    }

    /// One output.
    #[must_use]
    #[allow(clippy::cast_possible_truncation)] // Each step fits, as in TFLite's `i16` code.
    pub fn apply(&self, q: i8) -> i8 {
        // |q − zp| ≤ 255, so `· 2^7` fits in an i16.
        let hires = (i16::from(q) - i16::from(self.input_zero)) * (1 << 7);
        let preshift_output = rounding_high_mul(hires, self.output_multiplier);
        let mut reluish = hires;
        if self.reluish_exponent > 0 {
            reluish = saturating_shl(reluish, self.reluish_exponent - 1);
        }
        reluish = rounding_high_mul(reluish, self.reluish_multiplier);
        if self.reluish_exponent > 0 {
            reluish = saturating_shl(reluish, 1);
        }
        if self.reluish_exponent < 0 {
            reluish = rounding_divide_by_pot(reluish, -self.reluish_exponent);
        }
        // [−1, 1] → [0, 1] in Q0.15.
        let reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let product = truncating_high_mul(reluish, preshift_output);
        let shifted = if self.output_exponent <= 0 {
            rounding_divide_by_pot(product, -self.output_exponent)
        } else {
            saturating_shl(product, self.output_exponent)
        };
        (i32::from(shifted) + i32::from(self.output_zero)).clamp(-128, 127) as i8
    }
}

/// `torch.nn.Hardswish` on int8 values, in place.
///
/// ```
/// use constnet_runtime::quant::hardswish::{hardswish, QHardswish};
/// use constnet_runtime::quant::QParams;
/// let (input, output) = (QParams { scale: 0.05, zero_point: 0 }, QParams { scale: 0.05, zero_point: -10 });
/// let mut x = [-100i8, -20, 0, 20, 100]; // −5, −1, 0, 1, 5
/// hardswish(&mut x, &QHardswish::new(input, output));
/// // 0, −1/3, 0, 2/3, 5 on the output's grid
/// assert_eq!(x, [-10, -17, -10, 3, 90]);
/// ```
pub fn hardswish(values: &mut [i8], op: &QHardswish) {
    for q in values {
        *q = op.apply(*q);
    }
}

#[cfg(test)]
mod tests {
    use super::{hardswish, rounding_divide_by_pot, QHardswish};
    use crate::quant::QParams;
    use crate::reference::test_util::Rng;

    /// Within one output step of `x · relu6(x + 3) / 6` for every `i8`
    /// input, over random scales and zero points (TFLite's 16-bit
    /// arithmetic is good to about 2^−8 of the output scale).
    #[test]
    fn follows_the_real_hardswish() {
        let mut rng = Rng::new(9);
        let all: std::vec::Vec<i8> = (-128..=127).collect();
        for _ in 0..if cfg!(miri) { 3 } else { 200 } {
            #[allow(clippy::cast_possible_truncation)]
            let p = |rng: &mut Rng, lo: f32| QParams {
                scale: lo + rng.next_f32().abs() * 0.1,
                zero_point: (rng.next_f32() * 100.0) as i8,
            };
            let (input, output) = (p(&mut rng, 0.01), p(&mut rng, 0.01));
            let mut y = all.clone();
            hardswish(&mut y, &QHardswish::new(input, output));
            for (&q, &got) in all.iter().zip(&y) {
                let x = f64::from(input.dequantize(q));
                let real = x * (x + 3.0).clamp(0.0, 6.0) / 6.0;
                let want = (real / f64::from(output.scale)).round() + f64::from(output.zero_point);
                let want = want.clamp(-128.0, 127.0);
                assert!(
                    (f64::from(got) - want).abs() <= 1.0,
                    "{input:?} {output:?} q {q}: {got}, not {want}"
                );
            }
        }
    }

    /// The `i16` rounding shift: ties away from zero.
    #[test]
    fn rounding_shift() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(32767, 15), 1);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
    }
}
