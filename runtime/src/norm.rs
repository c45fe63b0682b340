//! Normalisation layers: `torch.nn.BatchNorm2d` in evaluation mode.

#![allow(clippy::doc_markdown)] // "PyTorch" and "NaN" are names, not code.
use crate::tensor::head_mut;
/// `torch.nn.BatchNorm2d(C, eps)` in evaluation mode (`model.eval()`), in
/// place on one `[C, H, W]` sample:
/// `y = (x − running_mean) / sqrt(running_var + eps) · weight + bias`,
/// with `weight` 1 and `bias` 0 when `None` (`affine=False`).
///
/// Evaluated the way PyTorch's CPU kernel does, in `f32`: per channel
/// `alpha = weight · (1 / sqrt(var + eps))` and
/// `beta = bias − mean · alpha`, then `y = x · alpha + beta` — one multiply
/// and one add per element, a loop LLVM vectorises. The result therefore
/// matches PyTorch's to rounding of the same operations (not the textbook
/// formula's rounding).
///
/// Checked at compile time: `C > 0`.
///
/// ```
/// use constnet_runtime::norm::batch_norm2d;
/// let mut x = [[[1.0f32, 3.0]], [[0.0, 4.0]]];
/// batch_norm2d(&mut x, Some(&[1.0, 2.0]), Some(&[0.0, 1.0]), &[2.0, 2.0], &[1.0, 4.0], 0.0);
/// assert_eq!(x, [[[-1.0, 1.0]], [[-1.0, 3.0]]]);
/// ```
#[inline]
pub fn batch_norm2d<const C: usize, const H: usize, const W: usize>(
    x: &mut [[[f32; W]; H]; C],
    weight: Option<&[f32; C]>,
    bias: Option<&[f32; C]>,
    running_mean: &[f32; C],
    running_var: &[f32; C],
    eps: f32,
) {
    const { assert!(C > 0, "batch_norm2d: num_features must be positive") };
    let norm = Norm {
        weight,
        bias,
        running_mean,
        running_var,
        eps,
    };
    for (plane, (alpha, beta)) in x.iter_mut().zip(norm.coefficients()) {
        for v in plane.as_flattened_mut() {
            *v = *v * alpha + beta;
        }
    }
}

/// `torch.nn.BatchNorm1d` in evaluation mode on many samples at once: the
/// first `C` floats of each row of `W` (`C <= W`, checked at compile time)
/// are one sample's features. Each sample gets the bits [`batch_norm2d`]
/// gives it alone (the same coefficients, the same `x·α + β`); the
/// coefficients, a square root and a division per feature, are computed
/// once for all the rows instead of once per sample.
///
/// ```
/// use constnet_runtime::norm::batch_norm_rows;
/// // mean 1, var 3, eps 1: std 2; weight 4, bias -1.
/// let mut rows = [[1.0f32, 3.0, 9.0], [-1.0, 5.0, 9.0]];
/// batch_norm_rows::<2, 3>(&mut rows, Some(&[4.0, 4.0]), Some(&[-1.0, -1.0]), &[1.0, 1.0], &[3.0, 3.0], 1.0);
/// assert_eq!(rows, [[-1.0, 3.0, 9.0], [-5.0, 7.0, 9.0]]);
/// ```
#[inline]
pub fn batch_norm_rows<const C: usize, const W: usize>(
    rows: &mut [[f32; W]],
    weight: Option<&[f32; C]>,
    bias: Option<&[f32; C]>,
    running_mean: &[f32; C],
    running_var: &[f32; C],
    eps: f32,
) {
    const {
        assert!(C > 0, "batch_norm: num_features must be positive");
        assert!(C <= W, "batch_norm_rows: rows narrower than the features");
    };
    let norm = Norm {
        weight,
        bias,
        running_mean,
        running_var,
        eps,
    };
    let (mut alpha, mut beta) = ([0.0f32; C], [0.0f32; C]);
    for ((a, b), ab) in alpha.iter_mut().zip(&mut beta).zip(norm.coefficients()) {
        (*a, *b) = ab;
    }
    for row in rows {
        for ((v, a), b) in head_mut::<C, W>(row).iter_mut().zip(&alpha).zip(&beta) {
            *v = *v * a + b;
        }
    }
}

/// The parameters of a `torch.nn.BatchNorm2d(C, eps)` in evaluation mode,
/// for a kernel that applies the normalisation in the store of its results
/// (a fused epilogue, [`crate::conv::Post`]). `weight` and `bias` are `None`
/// for `affine=False`.
///
/// A fused normalisation computes, per channel and once per call, the same
/// `alpha = weight · (1 / sqrt(var + eps))` and `beta = bias − mean · alpha`
/// as [`batch_norm2d`] (one square root per channel), and stores
/// `y = x · alpha + beta` with the same two roundings: it gives
/// [`batch_norm2d`]'s bits. Nothing is precomputed or rewritten, so it works
/// on weights baked into flash as well.
#[derive(Clone, Copy, Debug)]
pub struct Norm<'a, const C: usize> {
    /// `weight` (γ), or `None` for 1.
    pub weight: Option<&'a [f32; C]>,
    /// `bias` (β), or `None` for 0.
    pub bias: Option<&'a [f32; C]>,
    /// `running_mean`.
    pub running_mean: &'a [f32; C],
    /// `running_var`.
    pub running_var: &'a [f32; C],
    /// `eps`.
    pub eps: f32,
}

impl<const C: usize> Norm<'_, C> {
    /// `(alpha, beta)` of every channel in order, such that the normalised
    /// value is `x · alpha + beta`: PyTorch's CPU kernel's per-channel
    /// coefficients, in `f32`.
    #[inline]
    pub(crate) fn coefficients(&self) -> impl Iterator<Item = (f32, f32)> + '_ {
        let mut weights = self.weight.into_iter().flatten();
        let mut biases = self.bias.into_iter().flatten();
        self.running_mean
            .iter()
            .zip(self.running_var)
            .map(move |(&mean, &var)| {
                let w = weights.next().copied().unwrap_or(1.0);
                let b = biases.next().copied().unwrap_or(0.0);
                alpha_beta(w, b, mean, var, self.eps, sqrt)
            })
    }
}

/// The IEEE square root: the SSE instruction on x86-64 (in every x86-64
/// CPU), `libm`'s otherwise (software: its `arch` feature, which would use
/// the hardware instruction through inline assembly, is off because Miri
/// cannot run inline assembly). One per channel per call; in software it
/// made a `BatchNorm1d` of 128 features cost about 1 µs.
#[inline]
fn sqrt(x: f32) -> f32 {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        use core::arch::x86_64::{_mm_cvtss_f32, _mm_set_ss, _mm_sqrt_ss};
        // SAFETY: SSE is part of the x86-64 baseline, which every x86-64
        // CPU has (the compiler enables it for every x86-64 target).
        unsafe { _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(x))) }
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        libm::sqrtf(x)
    }
}

/// `alpha = weight · (1 / sqrt(var + eps))`, `beta = bias − mean · alpha`,
/// with `sqrt` an IEEE (correctly rounded) square root.
#[inline]
fn alpha_beta(
    weight: f32,
    bias: f32,
    mean: f32,
    var: f32,
    eps: f32,
    sqrt: impl Fn(f32) -> f32,
) -> (f32, f32) {
    let invstd = 1.0 / sqrt(var + eps);
    let alpha = invstd * weight;
    let beta = bias - mean * alpha;
    (alpha, beta)
}

#[cfg(test)]
// Hand-worked values are exact, so exact comparisons are intended; test
// tensors of a few tens of KiB on the stack are fine.
#[allow(
    clippy::float_cmp,
    clippy::large_stack_arrays,
    clippy::cast_precision_loss
)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::reference::test_util::{assert_close, Rng};
    use crate::Tensor;

    /// The hardware and the software square roots are both correctly
    /// rounded: the same bits, over a sweep of the positive floats.
    #[test]
    fn sqrt_is_libms() {
        let step = if cfg!(miri) { 0x10_0001 } else { 0x1001 };
        for bits in (0..0x7f80_0000u32).step_by(step) {
            let x = f32::from_bits(bits);
            assert_eq!(sqrt(x).to_bits(), libm::sqrtf(x).to_bits(), "{x:e}");
        }
        assert!(sqrt(-1.0).is_nan() && sqrt(f32::NAN).is_nan());
        assert_eq!(sqrt(f32::INFINITY), f32::INFINITY);
    }

    #[test]
    fn hand_worked() {
        // mean 1, var 3, eps 1: std 2. weight 4, bias -1: y = (x-1)/2*4 - 1.
        let mut x = [[[1.0f32, 3.0, -1.0]]];
        batch_norm2d(&mut x, Some(&[4.0]), Some(&[-1.0]), &[1.0], &[3.0], 1.0);
        assert_eq!(x, [[[-1.0, 3.0, -5.0]]]);
        // affine=False.
        let mut x = [[[1.0f32, 3.0, -1.0]]];
        batch_norm2d(&mut x, None, None, &[1.0], &[3.0], 1.0);
        assert_eq!(x, [[[0.0, 1.0, -1.0]]]);
    }

    macro_rules! bn_case {
        ($seed:expr; C=$c:literal H=$h:literal W=$w:literal affine=$affine:literal) => {{
            const C: usize = $c;
            let mut rng = Rng::new($seed);
            let mut x = [[[0.0f32; $w]; $h]; C];
            rng.fill(Tensor::as_flat_mut(&mut x));
            let (mut weight, mut bias, mut mean, mut var) = ([0.0f32; C], [0.0f32; C], [0.0f32; C], [0.0f32; C]);
            rng.fill(&mut weight);
            rng.fill(&mut bias);
            rng.fill(&mut mean);
            rng.fill(&mut var);
            for v in &mut var {
                *v = v.abs() * 2.0;
            }
            let (w, b) = if $affine { (Some(&weight), Some(&bias)) } else { (None, None) };
            let mut expected = Tensor::as_flat(&x).to_vec();
            reference::batch_norm2d(&mut expected, C, w.map(|w| w.as_slice()), b.map(|b| b.as_slice()), &mean, &var, 1e-5);
            batch_norm2d(&mut x, w, b, &mean, &var, 1e-5);
            assert_close(Tensor::as_flat(&x), &expected, stringify!(batch_norm2d $seed));
        }};
    }

    /// `batch_norm_rows` gives each row `batch_norm2d`'s bits on that
    /// sample alone (as 1×1 planes), and leaves the rest of the row.
    #[test]
    fn rows_are_per_sample_bits() {
        const C: usize = 37;
        let mut rng = Rng::new(77);
        let mut rows = [[0.0f32; 40]; 5];
        rng.fill(rows.as_flattened_mut());
        let (mut weight, mut bias, mut mean, mut var) =
            ([0.0f32; C], [0.0f32; C], [0.0f32; C], [0.0f32; C]);
        for t in [&mut weight, &mut bias, &mut mean, &mut var] {
            rng.fill(t);
        }
        for v in &mut var {
            *v = v.abs() * 2.0;
        }
        for affine in [true, false] {
            let (w, b) = if affine {
                (Some(&weight), Some(&bias))
            } else {
                (None, None)
            };
            let mut got = rows;
            batch_norm_rows::<C, 40>(&mut got, w, b, &mean, &var, 1e-3);
            for (row, want) in got.iter().zip(&rows) {
                let mut alone: [[[f32; 1]; 1]; C] = core::array::from_fn(|c| [[want[c]]]);
                batch_norm2d(&mut alone, w, b, &mean, &var, 1e-3);
                let alone: std::vec::Vec<u32> = alone.iter().map(|p| p[0][0].to_bits()).collect();
                let row_bits: std::vec::Vec<u32> = row[..C].iter().map(|v| v.to_bits()).collect();
                assert_eq!(row_bits, alone, "affine={affine}");
                assert_eq!(row[C..], want[C..]);
            }
        }
    }

    #[test]
    fn matches_reference() {
        bn_case!(1; C=1 H=1 W=1 affine=true);
        bn_case!(2; C=3 H=4 W=5 affine=true);
        bn_case!(3; C=16 H=7 W=7 affine=true);
        bn_case!(4; C=8 H=9 W=3 affine=false);
        bn_case!(5; C=2 H=1 W=33 affine=true);
    }
}
