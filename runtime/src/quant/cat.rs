//! int8 concatenation along channels (`torch.cat(dim=1)`): each input
//! copied into its range of the output.
//!
//! TFLite's int8 `CONCATENATION` requires every input to have the output's
//! scale and zero point, and its converter gives them that; `#[int8]` does
//! the same for every input it quantizes itself (one only the `Cat` reads),
//! so the concatenation is a copy. An input whose parameters are fixed
//! elsewhere (the network's input, a value other layers read too, a pool's
//! output) is requantized to the output's on the way, as TFLite's
//! `QUANTIZE` of an int8 tensor to another scale does (its `Requantize`
//! kernel).

use super::fixed::Requant;
use super::observe::QParams;

/// Writes `src`, quantized with `from`, into `dst` (of the same length),
/// quantized with `to`: a copy when the two are equal, otherwise
/// `clamp(round((q − zp_from) · s_from / s_to) + zp_to)` with TFLite's
/// fixed-point rounding ([`Requant::apply`]).
///
/// ```
/// use constnet_runtime::quant::cat::requantize;
/// use constnet_runtime::quant::QParams;
/// let (from, to) = (QParams { scale: 0.5, zero_point: 0 }, QParams { scale: 0.25, zero_point: -10 });
/// let mut out = [0i8; 3];
/// requantize(&[3, -7, 100], from, to, &mut out);
/// assert_eq!(out, [-4, -24, 127]); // 1.5, −3.5, 50 (clamped) on the finer grid
/// ```
#[allow(clippy::float_cmp)] // Equal parameters: a copy, bit for bit.
pub fn requantize(src: &[i8], from: QParams, to: QParams, dst: &mut [i8]) {
    if from.scale == to.scale && from.zero_point == to.zero_point {
        dst.copy_from_slice(src);
        return;
    }
    let m = Requant::new(f64::from(from.scale) / f64::from(to.scale));
    let (zf, zt) = (i32::from(from.zero_point), i32::from(to.zero_point));
    for (d, &q) in dst.iter_mut().zip(src) {
        let v = m.apply(i32::from(q) - zf).saturating_add(zt);
        #[allow(clippy::cast_possible_truncation)] // Clamped to `i8`.
        let v = v.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8;
        *d = v;
    }
}

#[cfg(test)]
mod tests {
    use super::requantize;
    use crate::quant::QParams;
    use crate::reference::test_util::Rng;

    /// Against the real value rounded to the new grid (half away from
    /// zero): within one step, as TFLite's two roundings (the second, a
    /// right shift of a small product, can round a value already rounded);
    /// exact for nearly all.
    #[test]
    fn follows_the_real_value() {
        let mut rng = Rng::new(3);
        let src: std::vec::Vec<i8> = (-128..=127).collect();
        let mut dst = [0i8; 256];
        let mut exact = 0;
        for _ in 0..100 {
            #[allow(clippy::cast_possible_truncation)]
            let p = |rng: &mut Rng| QParams {
                scale: 0.01 + rng.next_f32().abs() * 0.3,
                zero_point: (rng.next_f32() * 127.0) as i8,
            };
            let (from, to) = (p(&mut rng), p(&mut rng));
            requantize(&src, from, to, &mut dst);
            for (&q, &got) in src.iter().zip(&dst) {
                let real = f64::from(i32::from(q) - i32::from(from.zero_point))
                    * f64::from(from.scale)
                    / f64::from(to.scale);
                let want = (libm::round(real) + f64::from(to.zero_point)).clamp(-128.0, 127.0);
                assert!((f64::from(got) - want).abs() <= 1.0, "{from:?} {to:?} {q}");
                exact += usize::from(f64::from(got) == want);
            }
        }
        assert!(exact > 25_600 * 95 / 100, "{exact} of 25,600 exact");
    }

    #[test]
    fn equal_parameters_copy() {
        let p = QParams {
            scale: 0.1,
            zero_point: 3,
        };
        let src = [1i8, -128, 127, 3];
        let mut dst = [0i8; 4];
        requantize(&src, p, p, &mut dst);
        assert_eq!(dst, src);
    }
}
