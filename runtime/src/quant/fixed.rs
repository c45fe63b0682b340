//! Fixed-point requantization, as TensorFlow Lite computes it.
//!
//! An int8 layer's integer accumulator `acc` stands for the real value
//! `acc · s_in · s_w`; its output is that value on the output's scale,
//! `acc · M` with `M = s_in · s_w / s_out`. TFLite never multiplies by `M`
//! in floating point: [`Requant::new`] writes `M = m · 2^(shift − 31)` with
//! `m` an `i32` in `[2^30, 2^31)` (`QuantizeMultiplier`), and
//! [`Requant::apply`] computes `acc · M` in two integer roundings
//! (`MultiplyByQuantizedMultiplier`, TFLite's default build, without
//! `TFLITE_SINGLE_ROUNDING`):
//!
//! 1. [`rounding_doubling_high_mul`]`(acc, m)`: `acc · m / 2^31`, rounded
//!    to nearest with ties toward +∞ (gemmlowp's
//!    `SaturatingRoundingDoublingHighMul`: its nudge `1 − 2^30` for negative
//!    products makes −0.5 round to 0, +0.5 to 1);
//! 2. [`rounding_divide_by_pot`]`(·, −shift)`: divided by `2^−shift`, rounded
//!    half away from zero (gemmlowp's `RoundingDivideByPOT`).
//!
//! [`Requant::apply_single`] rounds once instead (ruy's version, which
//! TFLite's fully connected layers run; [`Rounding`] says which).
//!
//! Rounding twice can differ from rounding `acc · M` once, by one unit, when
//! the first rounding lands on a tie of the second: TFLite's results have
//! that unit, so these do too. (The rule is often summed up as "round half
//! away from zero": that holds for step 2, and for step 1 on positive
//! products only.) The tests check both steps against their
//! definitions evaluated exactly in `i128`.

/// A real multiplier `M` as TFLite stores it: `M = multiplier · 2^(shift − 31)`,
/// `multiplier` in `[2^30, 2^31)` (or 0 for `M = 0`), `shift` in `[−31, 30]`.
///
/// `#[repr(C)]`, the multiplier first: the AVX-512 dense store reads one
/// as a 64-bit lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Requant {
    /// The mantissa, a Q0.31 fixed-point number in `[0.5, 1)`.
    pub multiplier: i32,
    /// The power of two: positive shifts left, negative shifts right.
    pub shift: i32,
}

impl Requant {
    /// TFLite's `QuantizeMultiplier`: `M = q · 2^shift` with `q` in
    /// `[0.5, 1)` (`frexp`), `multiplier = round(q · 2^31)` (half away from
    /// zero). A `q` that rounds up to `2^31` is halved and the shift
    /// incremented; multipliers below `2^−31` (shift below −31) flush to
    /// zero; above `2^30` they saturate (shift 30, mantissa `2^31 − 1`).
    /// `M` must be finite and not negative (a ratio of scales).
    ///
    /// ```
    /// use constnet_runtime::quant::Requant;
    /// let r = Requant::new(0.25);
    /// assert_eq!((r.multiplier, r.shift), (1 << 30, -1));
    /// assert_eq!(r.apply(100), 25);
    /// assert_eq!(r.apply(-6), -2); // −1.5 rounds away from zero
    /// ```
    #[must_use]
    #[allow(clippy::cast_possible_truncation)] // `q_fixed` is checked to fit.
    pub fn new(real: f64) -> Requant {
        debug_assert!(real >= 0.0 && real.is_finite(), "multiplier {real}");
        if real <= 0.0 || real.is_nan() {
            return Requant::default();
        }
        let (q, mut shift) = libm::frexp(real);
        let mut q_fixed = libm::round(q * (1u64 << 31) as f64) as i64;
        if q_fixed == 1 << 31 {
            q_fixed /= 2;
            shift += 1;
        }
        if shift < -31 {
            return Requant::default();
        }
        if shift > 30 {
            return Requant {
                multiplier: i32::MAX,
                shift: 30,
            };
        }
        Requant {
            multiplier: q_fixed as i32,
            shift,
        }
    }

    /// `acc · M`, rounded as TFLite's `MultiplyByQuantizedMultiplier`:
    /// `acc` shifted left by a positive shift (wrapping, as the C code's
    /// `int32` product does on every target TFLite runs on), then
    /// [`rounding_doubling_high_mul`] and [`rounding_divide_by_pot`].
    #[must_use]
    #[inline(always)]
    pub fn apply(self, acc: i32) -> i32 {
        let left = self.shift.max(0);
        let right = (-self.shift).max(0);
        rounding_divide_by_pot(
            rounding_doubling_high_mul(acc.wrapping_shl(left as u32), self.multiplier),
            right,
        )
    }
}

/// How [`Requant::apply_with`] rounds `acc · M`: TFLite rounds differently
/// in different kernels, and constnet follows each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)] // `Double` is 0: a zeroed `QLayer` is valid.
pub enum Rounding {
    /// Twice, [`Requant::apply`]: TFLite's reference convolutions (gemmlowp's
    /// fixed-point functions).
    #[default]
    Double = 0,
    /// Once, [`Requant::apply_single`]: TFLite's fully connected layers, which
    /// run on ruy (and every kernel built with `TFLITE_SINGLE_ROUNDING`).
    Single,
}

impl Requant {
    /// `acc · M` rounded once to the nearest integer, ties toward +∞: ruy's
    /// `MultiplyByQuantizedMultiplier`, `(acc · multiplier + 2^(s − 1)) >> s`
    /// in `i64` with `s = 31 − shift`, saturated to `i32`.
    ///
    /// ```
    /// use constnet_runtime::quant::Requant;
    /// let r = Requant::new(0.25);
    /// assert_eq!(r.apply_single(-6), -1); // −1.5 rounds up
    /// assert_eq!(r.apply(-6), -2); // twice: away from zero
    /// ```
    #[must_use]
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)] // Clamped into `i32` first.
    pub fn apply_single(self, acc: i32) -> i32 {
        let total = 31 - self.shift;
        let v = (i64::from(acc) * i64::from(self.multiplier) + (1i64 << (total - 1))) >> total;
        v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }

    /// [`Requant::apply`] or [`Requant::apply_single`], as `rounding` says.
    #[must_use]
    #[inline(always)]
    pub fn apply_with(self, rounding: Rounding, acc: i32) -> i32 {
        match rounding {
            Rounding::Double => self.apply(acc),
            Rounding::Single => self.apply_single(acc),
        }
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `a · b / 2^31` rounded to
/// the nearest integer, ties toward +∞ (the nudge for a negative product is
/// `1 − 2^30`, not `−2^30`); the one overflowing case, `i32::MIN ·
/// i32::MIN`, saturates to `i32::MAX`.
#[must_use]
#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // |a·b / 2^31| ≤ 2^31, and 2^31 is the saturated case.
pub fn rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    // gemmlowp truncates `(ab + nudge) / 2^31` toward zero, the nudge `2^30`
    // for `ab ≥ 0` and `1 − 2^30` below. Both equal `⌊(ab + 2^30) / 2^31⌋`:
    // for `ab ≥ 0` truncation is the floor; for `ab < 0`, `t = ab + 2^30`,
    // truncating `(t + 1 − 2^31) / 2^31` is `−⌊(2^31 − 1 − t) / 2^31⌋`,
    // which is `⌊t / 2^31⌋` for every integer `t`. One arithmetic shift
    // instead of a signed division (and its sign fix-ups on 32-bit cores);
    // the tests check it against the definition on every sign.
    let ab = i64::from(a) * i64::from(b);
    ((ab + (1 << 30)) >> 31) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to the nearest
/// integer, ties away from zero. `exponent` in `0..=31`.
#[must_use]
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent), "exponent {exponent}");
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n / d` (`d > 0`) rounded to nearest, ties toward +∞, exactly.
    fn div_round_up(n: i128, d: i128) -> i128 {
        (2 * n + d).div_euclid(2 * d)
    }

    /// `n / d` (`d > 0`) rounded to nearest, ties away from zero, exactly.
    fn div_round_away(n: i128, d: i128) -> i128 {
        let q = (2 * n.abs() + d) / (2 * d);
        if n < 0 {
            -q
        } else {
            q
        }
    }

    /// A deterministic spread of `i32`s: small, near powers of two, extremes.
    fn samples() -> std::vec::Vec<i32> {
        let mut v = std::vec![0, 1, -1, 2, -2, 3, -3, i32::MAX, i32::MIN, i32::MIN + 1];
        for k in 0..31 {
            for d in [-1, 0, 1] {
                v.push((1i32 << k).wrapping_add(d));
                v.push((-(1i64 << k) + i64::from(d)) as i32);
            }
        }
        let mut s = 0x9E37_79B9u32;
        for _ in 0..200 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            v.push(s as i32);
            v.push((s as i32) >> (s % 31));
        }
        v
    }

    #[test]
    fn high_mul_is_the_rounded_exact_product() {
        let xs = samples();
        for &a in &xs {
            for &b in xs.iter().step_by(7) {
                let exact = div_round_up(i128::from(a) * i128::from(b), 1 << 31);
                let expected = i32::try_from(exact).unwrap_or(i32::MAX);
                assert_eq!(rounding_doubling_high_mul(a, b), expected, "{a} · {b}");
            }
        }
    }

    #[test]
    fn divide_by_pot_is_the_rounded_exact_quotient() {
        for &x in &samples() {
            for e in 0..=31 {
                let exact = div_round_away(i128::from(x), 1i128 << e);
                assert_eq!(rounding_divide_by_pot(x, e), exact as i32, "{x} / 2^{e}");
            }
        }
    }

    #[test]
    fn multiplier_represents_the_real_one() {
        for real in [
            1e-9,
            3.1e-5,
            0.000_123,
            0.0039,
            0.25,
            0.5,
            0.999_999_999_9,
            1.0,
            1.5,
            17.0,
            1e6,
        ] {
            let r = Requant::new(real);
            assert!(
                (1 << 30..=i32::MAX).contains(&r.multiplier),
                "{real}: {r:?}"
            );
            let back = f64::from(r.multiplier) * libm::pow(2.0, f64::from(r.shift - 31));
            assert!(
                (back - real).abs() <= real * 2f64.powi(-30),
                "{real}: {back}"
            );
        }
        // q · 2^31 rounds up to 2^31: the mantissa is halved.
        let r = Requant::new(1.0 - 1e-12);
        assert_eq!((r.multiplier, r.shift), (1 << 30, 1));
        assert_eq!(Requant::new(0.0), Requant::default());
        assert_eq!(Requant::new(1e-12), Requant::default()); // below 2^-31: flushed
        assert_eq!(
            Requant::new(1e12),
            Requant {
                multiplier: i32::MAX,
                shift: 30
            }
        );
    }

    #[test]
    fn apply_single_is_one_rounding_of_the_exact_product() {
        let mut differ = 0;
        for real in [0.000_37, 0.0021, 0.031_25, 0.3, 0.77, 1.0, 2.5] {
            let r = Requant::new(real);
            for &acc in &samples() {
                let exact = div_round_up(
                    i128::from(acc) * i128::from(r.multiplier),
                    1i128 << (31 - r.shift),
                );
                let expected = exact.clamp(i128::from(i32::MIN), i128::from(i32::MAX));
                assert_eq!(i128::from(r.apply_single(acc)), expected, "{acc} · {real}");
                assert_eq!(r.apply_with(Rounding::Single, acc), r.apply_single(acc));
                assert_eq!(r.apply_with(Rounding::Double, acc), r.apply(acc));
                differ += usize::from(
                    acc.unsigned_abs() < 1 << 24 && r.apply_single(acc) != r.apply(acc),
                );
            }
        }
        assert!(
            differ > 0,
            "the two roundings never differed: the test cannot tell them apart"
        );
    }

    #[test]
    fn apply_is_two_roundings_of_the_exact_product() {
        for real in [0.000_37, 0.0021, 0.031_25, 0.3, 0.77, 1.0, 2.5] {
            let r = Requant::new(real);
            for &acc in samples().iter().filter(|a| a.unsigned_abs() < 1 << 24) {
                let left = r.shift.max(0);
                let first = div_round_up(
                    i128::from(acc) * (1 << left) * i128::from(r.multiplier),
                    1 << 31,
                );
                let expected = div_round_away(first, 1i128 << (-r.shift).max(0));
                assert_eq!(i128::from(r.apply(acc)), expected, "{acc} · {real}");
                // And within one unit of rounding acc · M once.
                let once = libm::round(f64::from(acc) * real);
                assert!(
                    (f64::from(r.apply(acc)) - once).abs() <= 1.0,
                    "{acc} · {real}"
                );
            }
        }
    }
}
