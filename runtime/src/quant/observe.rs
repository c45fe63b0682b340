//! From real ranges to quantization parameters, as TFLite's calibrator
//! chooses them: activations asymmetric over a range widened to hold 0
//! (`GetAsymmetricQuantizationParams`), weights symmetric per output
//! channel (`SymmetricPerChannelQuantization`), biases on the product of
//! the input's and the channel's scales.
//!
//! Two observers turn a stream of values into a range: [`MinMax`] (the
//! extremes, TFLite's and PyTorch's default) and [`Percentile`] (the range
//! holding all but a given fraction of the values at each end, which a few
//! outliers no longer stretch: finer steps for everything else).

use core::fmt;

/// How a tensor's `i8` values map to reals: `real = scale · (q − zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    /// The real step between two consecutive `q`; positive.
    pub scale: f32,
    /// The `q` that stands for real 0.
    pub zero_point: i8,
}

impl QParams {
    /// TFLite's asymmetric int8 parameters for values in `[min, max]`: the
    /// range widened to hold 0, `scale = (max − min) / 255`, the zero point
    /// `−128 − min / scale` rounded (half away from zero) into `[−128, 127]`.
    ///
    /// # Errors
    ///
    /// [`RangeError::NotFinite`] if a bound is NaN or infinite,
    /// [`RangeError::Inverted`] if `min > max`, [`RangeError::Constant`] if
    /// the widened range is empty (every value 0: no scale to choose).
    ///
    /// ```
    /// use constnet_runtime::quant::QParams;
    /// let p = QParams::from_range(-1.0, 3.0).unwrap();
    /// assert_eq!(p.zero_point, -64);
    /// assert_eq!(p.quantize(0.0), -64);
    /// assert!(QParams::from_range(0.0, 0.0).is_err());
    /// ```
    #[allow(clippy::cast_possible_truncation)] // Rounded into [-128, 127] first.
    pub fn from_range(min: f32, max: f32) -> Result<QParams, RangeError> {
        if !min.is_finite() || !max.is_finite() {
            return Err(RangeError::NotFinite { min, max });
        }
        if min > max {
            return Err(RangeError::Inverted { min, max });
        }
        let (min, max) = (min.min(0.0), max.max(0.0));
        let scale = (max - min) / 255.0;
        if scale <= 0.0 || !scale.is_finite() {
            return Err(RangeError::Constant { value: min + max });
        }
        let from_min = -128.0 - min / scale;
        let zero_point = libm::roundf(from_min.clamp(-128.0, 127.0)) as i8;
        Ok(QParams { scale, zero_point })
    }

    /// `x / scale` rounded half away from zero, plus the zero point,
    /// saturated to `i8` (TFLite's `AffineQuantize`); NaN quantizes as 0.
    ///
    /// Written so that a loop of it vectorises (no call, no branch, no
    /// saturating conversion, which LLVM turns into a scalar conversion
    /// and two fix-ups per value): `x / scale` is first clamped to ±256,
    /// past which every zero point in `i8` saturates the sum the same way,
    /// then truncated, then moved one up or down where the remainder, which
    /// is exact, reaches ±½. The truncation is `to_int_unchecked` (in range
    /// by the clamp): after a plain `as i32` LLVM keeps the saturation's
    /// fix-ups, scalar, clamp or not (`taskset -c 0 cargo bench -p
    /// constnet-runtime --bench int8 -- 'quantize 1024'`, AVX-512: 1.08
    /// against 0.17 µs).
    #[must_use]
    #[inline]
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    pub fn quantize(self, x: f32) -> i8 {
        let v = x / self.scale;
        let v = if v.is_nan() {
            0.0
        } else {
            v.clamp(-256.0, 256.0)
        };
        // SAFETY: `v` is not NaN and lies in ±256, well inside `i32`.
        let t: i32 = unsafe { v.to_int_unchecked() };
        // Exact: `v` and `t` share their integer part and `|v| ≤ 256`.
        let r = v - t as f32;
        let rounded = t + i32::from(r >= 0.5) - i32::from(r <= -0.5);
        (rounded + i32::from(self.zero_point)).clamp(-128, 127) as i8
    }

    /// `scale · (q − zero_point)`, computed in `f64` as TFLite's
    /// `Dequantize` does.
    #[must_use]
    #[inline]
    #[allow(clippy::cast_possible_truncation)] // The float result TFLite returns.
    pub fn dequantize(self, q: i8) -> f32 {
        (f64::from(self.scale) * f64::from(i32::from(q) - i32::from(self.zero_point))) as f32
    }
}

/// Why a range has no quantization parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RangeError {
    /// No value was observed.
    Empty,
    /// A bound (or an observed value) is NaN or infinite.
    NotFinite {
        /// The lower bound.
        min: f32,
        /// The upper bound.
        max: f32,
    },
    /// `min > max`.
    Inverted {
        /// The lower bound.
        min: f32,
        /// The upper bound.
        max: f32,
    },
    /// Every value is 0, so the range (widened to hold 0) is empty.
    Constant {
        /// The one value.
        value: f32,
    },
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeError::Empty => write!(f, "no values were observed"),
            RangeError::NotFinite { min, max } => {
                write!(
                    f,
                    "the range [{min}, {max}] is not finite (NaN or infinite values)"
                )
            }
            RangeError::Inverted { min, max } => {
                write!(f, "the range [{min}, {max}] has min > max")
            }
            RangeError::Constant { value } => write!(
                f,
                "every value is {value}: a constant tensor has no scale (give inputs that vary)"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RangeError {}

/// Something that watches values and proposes a range for them.
pub trait Observer {
    /// Watches more values.
    fn observe(&mut self, values: &[f32]);
    /// The range to quantize, or why there is none.
    ///
    /// # Errors
    ///
    /// [`RangeError::Empty`] before any value, [`RangeError::NotFinite`]
    /// after a NaN or an infinity.
    fn range(&self) -> Result<(f32, f32), RangeError>;
}

/// The smallest and largest value seen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinMax {
    min: f32,
    max: f32,
    seen: bool,
    finite: bool,
}

impl Default for MinMax {
    fn default() -> Self {
        MinMax {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            seen: false,
            finite: true,
        }
    }
}

impl Observer for MinMax {
    fn observe(&mut self, values: &[f32]) {
        for &v in values {
            self.finite &= v.is_finite();
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.seen |= !values.is_empty();
    }

    fn range(&self) -> Result<(f32, f32), RangeError> {
        if !self.seen {
            return Err(RangeError::Empty);
        }
        if !self.finite {
            return Err(RangeError::NotFinite {
                min: f32::NAN,
                max: f32::NAN,
            });
        }
        Ok((self.min, self.max))
    }
}

/// The range holding all but `fraction` of the values below it and
/// `fraction` above it, read from a histogram of [`Percentile::BINS`] bins
/// over a known range `[lo, hi]` (a first pass with [`MinMax`] gives it);
/// bounds are bin edges, never outside `[lo, hi]`.
///
/// ```
/// use constnet_runtime::quant::observe::{Observer, Percentile};
/// let mut p = Percentile::new(0.01, -100.0, 1.0);
/// let mut xs = [0.0f32; 1000];
/// for (i, x) in xs.iter_mut().enumerate() { *x = i as f32 / 1000.0; }
/// xs[0] = -100.0; // one outlier in a thousand
/// p.observe(&xs);
/// let (min, max) = p.range().unwrap();
/// assert!(min > -0.1 && max > 0.98, "{min} {max}");
/// ```
#[derive(Clone, Debug)]
pub struct Percentile {
    fraction: f64,
    lo: f32,
    hi: f32,
    bins: [u64; Percentile::BINS],
    finite: bool,
}

impl Percentile {
    /// Histogram bins: 2,048, as TensorRT's and PyTorch's histogram
    /// calibrators use.
    pub const BINS: usize = 2048;

    /// A histogram over `[lo, hi]` keeping all but `fraction` (in `[0,
    /// 0.5)`) of the values at each end.
    #[must_use]
    pub fn new(fraction: f64, lo: f32, hi: f32) -> Percentile {
        assert!(
            (0.0..0.5).contains(&fraction),
            "Percentile: fraction {fraction}"
        );
        Percentile {
            fraction,
            lo,
            hi,
            bins: [0; Percentile::BINS],
            finite: lo.is_finite() && hi.is_finite() && lo <= hi,
        }
    }

    /// The bin of `v`, clamped into the histogram.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // Clamped to a bin index.
    fn bin(&self, v: f32) -> usize {
        let width = f64::from(self.hi) - f64::from(self.lo);
        if width <= 0.0 {
            return 0;
        }
        let t = (f64::from(v) - f64::from(self.lo)) / width * Percentile::BINS as f64;
        (t.max(0.0) as usize).min(Percentile::BINS - 1)
    }

    /// The real value at the lower edge of bin `i`.
    #[allow(clippy::cast_possible_truncation)] // Between `lo` and `hi`.
    fn edge(&self, i: usize) -> f32 {
        let width = f64::from(self.hi) - f64::from(self.lo);
        (f64::from(self.lo) + width * i as f64 / Percentile::BINS as f64) as f32
    }
}

impl Observer for Percentile {
    fn observe(&mut self, values: &[f32]) {
        for &v in values {
            self.finite &= v.is_finite();
            let b = self.bin(v);
            self.bins[b] += 1;
        }
    }

    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    fn range(&self) -> Result<(f32, f32), RangeError> {
        let total: u64 = self.bins.iter().sum();
        if total == 0 {
            return Err(RangeError::Empty);
        }
        if !self.finite {
            return Err(RangeError::NotFinite {
                min: self.lo,
                max: self.hi,
            });
        }
        let cut = self.fraction * total as f64;
        let mut below = 0u64;
        let first = self.bins.iter().position(|&n| {
            below += n;
            below as f64 > cut
        });
        let mut above = 0u64;
        let last = self.bins.iter().rposition(|&n| {
            above += n;
            above as f64 > cut
        });
        let (first, last) = (first.unwrap_or(0), last.unwrap_or(Percentile::BINS - 1));
        Ok((self.edge(first), self.edge(last + 1).min(self.hi)))
    }
}

/// Quantizes a weight tensor symmetrically per output channel, as TFLite
/// does: channel `o`'s scale is `max |w| / 127`, its values `round(w /
/// scale)` (half away from zero) in `[−127, 127]`; an all-zero channel gets
/// scale 1 and zeros. `weights` holds the channels one after the other
/// (`[O][…]` row-major), `scales` one per channel.
///
/// # Errors
///
/// [`RangeError::NotFinite`] if a weight is NaN or infinite.
///
/// ```
/// use constnet_runtime::quant::observe::quantize_weights;
/// let mut q = [0i8; 4];
/// let mut s = [0f32; 2];
/// quantize_weights(&[0.5, -1.0, 0.0, 0.0], &mut q, &mut s).unwrap();
/// assert_eq!(q, [64, -127, 0, 0]);
/// assert_eq!(s, [1.0 / 127.0, 1.0]);
/// ```
pub fn quantize_weights(
    weights: &[f32],
    quantized: &mut [i8],
    scales: &mut [f32],
) -> Result<(), RangeError> {
    assert_eq!(
        weights.len(),
        quantized.len(),
        "quantize_weights: lengths differ"
    );
    assert!(
        !scales.is_empty() && weights.len().is_multiple_of(scales.len()),
        "quantize_weights: {} weights in {} channels",
        weights.len(),
        scales.len()
    );
    let per = weights.len() / scales.len();
    for ((w, q), s) in weights
        .chunks(per)
        .zip(quantized.chunks_mut(per))
        .zip(scales)
    {
        *s = quantize_channel(w, 1.0, q)?;
    }
    Ok(())
}

/// One output channel of [`quantize_weights`], each weight multiplied by
/// `factor` first (a folded batch norm's `γ / √(σ² + ε)`, 1 otherwise):
/// writes `quantized` and returns the channel's scale.
///
/// # Errors
///
/// [`RangeError::NotFinite`] if a (scaled) weight is NaN or infinite.
#[allow(clippy::cast_possible_truncation)] // Rounded into [-127, 127] first.
pub fn quantize_channel(
    weights: &[f32],
    factor: f32,
    quantized: &mut [i8],
) -> Result<f32, RangeError> {
    let mut top = 0.0f32;
    for &x in weights {
        let x = x * factor;
        if !x.is_finite() {
            return Err(RangeError::NotFinite { min: x, max: x });
        }
        top = top.max(x.abs());
    }
    let scale = if top > 0.0 { top / 127.0 } else { 1.0 };
    for (q, &x) in quantized.iter_mut().zip(weights) {
        *q = libm::roundf(x * factor / scale).clamp(-127.0, 127.0) as i8;
    }
    Ok(scale)
}

/// Quantizes a bias to `i32` on each channel's accumulator scale `s_in ·
/// s_w[o]`: `round(b / (s_in · s_w[o]))`, saturated.
///
/// ```
/// use constnet_runtime::quant::observe::quantize_bias;
/// let mut q = [0i32; 2];
/// quantize_bias(&[1.0, -0.3], 0.1, &[0.5, 0.2], &mut q);
/// assert_eq!(q, [20, -15]);
/// ```
#[allow(clippy::cast_possible_truncation)] // A saturating float-to-int cast.
pub fn quantize_bias(bias: &[f32], input_scale: f32, weight_scales: &[f32], quantized: &mut [i32]) {
    assert!(
        bias.len() == weight_scales.len() && bias.len() == quantized.len(),
        "quantize_bias: lengths differ"
    );
    for ((q, &b), &sw) in quantized.iter_mut().zip(bias).zip(weight_scales) {
        *q = libm::round(f64::from(b) / (f64::from(input_scale) * f64::from(sw))) as i32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::test_util::Rng;

    #[test]
    fn range_params_hold_zero_and_the_range() {
        // Ranges not holding 0 are widened to it.
        for (lo, hi) in [
            (-1.0, 3.0),
            (0.5, 2.0),
            (-6.0, -0.1),
            (-0.001, 1000.0),
            (-3.0, 3.0),
        ] {
            let p = QParams::from_range(lo, hi).unwrap();
            let (lo, hi) = (lo.min(0.0), hi.max(0.0));
            assert_eq!(p.scale, (hi - lo) / 255.0);
            assert_eq!(p.dequantize(p.zero_point), 0.0, "{lo} {hi}");
            assert!(
                (p.dequantize(-128) - lo).abs() <= p.scale,
                "{lo} {hi}: {:?}",
                p
            );
            assert!(
                (p.dequantize(127) - hi).abs() <= p.scale,
                "{lo} {hi}: {:?}",
                p
            );
            assert_eq!(p.quantize(lo), -128);
            assert_eq!(p.quantize(hi), 127);
        }
        assert_eq!(QParams::from_range(0.0, 2.55).unwrap().zero_point, -128);
        assert_eq!(QParams::from_range(-2.55, 0.0).unwrap().zero_point, 127);
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert_eq!(
            QParams::from_range(0.0, 0.0),
            Err(RangeError::Constant { value: 0.0 })
        );
        assert!(matches!(
            QParams::from_range(f32::NAN, 1.0),
            Err(RangeError::NotFinite { .. })
        ));
        assert!(matches!(
            QParams::from_range(0.0, f32::INFINITY),
            Err(RangeError::NotFinite { .. })
        ));
        assert!(matches!(
            QParams::from_range(2.0, 1.0),
            Err(RangeError::Inverted { .. })
        ));
        assert_eq!(MinMax::default().range(), Err(RangeError::Empty));
        let mut m = MinMax::default();
        m.observe(&[1.0, f32::NAN, 2.0]);
        assert!(matches!(m.range(), Err(RangeError::NotFinite { .. })));
        let mut p = Percentile::new(0.01, 0.0, 1.0);
        assert_eq!(p.range(), Err(RangeError::Empty));
        p.observe(&[0.5, f32::INFINITY]);
        assert!(matches!(p.range(), Err(RangeError::NotFinite { .. })));
        let mut q = [0i8; 2];
        let mut s = [0f32; 1];
        assert!(quantize_weights(&[1.0, f32::NAN], &mut q, &mut s).is_err());
        for e in [RangeError::Empty, RangeError::Constant { value: 0.0 }] {
            assert!(!std::format!("{e}").is_empty());
        }
        let message = |e: RangeError| std::format!("{e}");
        assert_eq!(message(RangeError::Empty), "no values were observed");
        assert_eq!(
            message(QParams::from_range(2.0, 1.0).unwrap_err()),
            "the range [2, 1] has min > max"
        );
        assert_eq!(
            message(QParams::from_range(f32::NAN, 1.0).unwrap_err()),
            "the range [NaN, 1] is not finite (NaN or infinite values)"
        );
    }

    #[test]
    fn minmax_and_percentile_ranges() {
        let xs: std::vec::Vec<f32> = (0..10_000)
            .map(|i| (i as f32 / 10_000.0) * 2.0 - 1.0)
            .collect();
        let mut m = MinMax::default();
        m.observe(&xs[..5000]);
        m.observe(&xs[5000..]);
        m.observe(&[]);
        assert_eq!(m.range(), Ok((-1.0, xs[9999])));
        // Two outliers at each end; a 0.1% cut drops them.
        let mut with = xs.clone();
        with.extend([-50.0, -40.0, 30.0, 60.0]);
        let mut p = Percentile::new(0.001, -50.0, 60.0);
        p.observe(&with);
        let (lo, hi) = p.range().unwrap();
        let bin = 110.0 / Percentile::BINS as f32;
        assert!(
            (lo + 1.0).abs() <= bin && (hi - 1.0).abs() <= 2.0 * bin,
            "{lo} {hi}"
        );
        // No cut: the whole histogram.
        let mut p = Percentile::new(0.0, -50.0, 60.0);
        p.observe(&with);
        assert_eq!(p.range(), Ok((-50.0, 60.0)));
    }

    /// The vectorisable quantization against `libm::roundf(x / scale)`,
    /// saturated, on ties, values next to them, large values, infinities
    /// and NaN, and a sweep, with scales that make `x / scale` a tie, a
    /// near-tie, huge or infinite, and zero points from −128 to 127.
    #[test]
    #[allow(clippy::cast_possible_truncation)]
    fn quantize_rounds_as_libm_half_away_from_zero() {
        let mut values = std::vec![
            0.0f32,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            -2.5,
            0.499_999_97,
            -0.499_999_97,
            0.500_000_06,
            8_388_607.5,
            -8_388_607.5,
            8_388_608.0,
            16_777_217.0,
            2_147_483_500.0,
            2_147_483_648.0,
            -2_147_483_648.0,
            3.0e9,
            -3.0e9,
            1.0e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
        ];
        let mut rng = Rng::new(7);
        // Each value is quantized 25 ways: fewer under Miri's interpreter.
        let n = if cfg!(miri) { 200 } else { 20_000 };
        for _ in 0..n {
            let bits = rng.next_u32();
            let v = f32::from_bits(bits);
            values.push(v);
            // Values near the rounding ties too.
            values.push((bits % 4_000) as f32 / 8.0 - 250.0 + f32::EPSILON);
        }
        for v in values {
            for scale in [1.0, 0.5, 0.1, 3.0e-3, 1.0e-30] {
                for zero_point in [-128, -3, 0, 1, 127] {
                    let p = QParams { scale, zero_point };
                    let want = (libm::roundf(v / scale) as i32)
                        .saturating_add(i32::from(zero_point))
                        .clamp(-128, 127) as i8;
                    assert_eq!(p.quantize(v), want, "{v:e} / {scale} + {zero_point}");
                }
            }
        }
    }

    #[test]
    fn weights_and_biases_quantize_per_channel() {
        let w = [
            0.2, -0.4, 0.1, 0.0, 3.0, 1.5, -0.75, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let mut q = [0i8; 12];
        let mut s = [0f32; 3];
        quantize_weights(&w, &mut q, &mut s).unwrap();
        assert_eq!(s, [0.4 / 127.0, 3.0 / 127.0, 1.0]);
        assert_eq!(q, [64, -127, 32, 0, 127, 64, -32, 0, 0, 0, 0, 0]);
        for (i, (&q, &w)) in q.iter().zip(&w).enumerate() {
            assert!((f32::from(q) * s[i / 4] - w).abs() <= s[i / 4] / 2.0 + 1e-7);
        }
        let mut b = [0i32; 3];
        quantize_bias(&[1.0, -1.0, 1e30], 0.01, &s, &mut b);
        assert_eq!(b[..2], [31750, -4233]);
        assert_eq!(b[2], i32::MAX); // saturated
    }
}
