//! Activations and (log-)softmax.
//!
//! The elementwise activations work in place on a flat `&mut [f32]` (any
//! [`Tensor`] gives one through [`Tensor::as_flat_mut`]). Each evaluates
//! exactly the formula of PyTorch's CPU kernel, in `f32`, in the same
//! operation order, with the transcendental functions from `libm` (so the
//! crate stays `no_std`). PyTorch's vectorised kernels use their own
//! `exp`/`erf`/`tanh` approximations, so transcendental activations agree
//! with PyTorch to an ulp or so, not bit for bit; the piecewise-linear ones
//! (`relu`, `relu6`, `leaky_relu`, `hardswish`, `hardsigmoid`) agree
//! exactly.
//!
//! NaN propagates through every activation, as in PyTorch
//! (`torch.relu(nan)` is NaN): the clamps are written as comparisons that
//! are false for NaN rather than with `f32::max`, which would drop it.
//!
//! The piecewise-linear activations compile to branch-free selects that LLVM
//! vectorises; the transcendental ones are a `libm` call per element.
//! [`relu`], the one in every CNN, has explicit AVX-512 and AVX2 bodies on
//! x86-64 (chosen as for the convolution), with the same bits as the
//! portable loop.

#![allow(clippy::doc_markdown)] // "PyTorch" and "NaN" are names, not code.
#![deny(clippy::undocumented_unsafe_blocks)]
use crate::simd::math::{self, Scalar, Unary};
use crate::simd::{self, Isa};
use crate::Tensor;

/// `min(max(v, 0), 6)` with NaN kept, as PyTorch's `std::min(std::max(v, 0), 6)`
/// and `clamp` do.
#[inline]
fn clamp_0_6(v: f32) -> f32 {
    // `f32::clamp` returns NaN for NaN.
    v.clamp(0.0, 6.0)
}

/// ReLU of one value: `v < 0 ? 0 : v` (NaN and `-0.0` kept).
#[inline]
fn relu1(v: f32) -> f32 {
    if v < 0.0 {
        0.0
    } else {
        v
    }
}

/// LeakyReLU of one value: `v > 0 ? v : v · slope`.
#[inline]
fn leaky_relu1(v: f32, negative_slope: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        v * negative_slope
    }
}

/// Hardswish of one value: `v · relu6(v + 3) / 6`, in that order.
#[inline]
fn hardswish1(v: f32) -> f32 {
    v * clamp_0_6(v + 3.0) / 6.0
}

/// Hardsigmoid of one value: `relu6(v + 3) / 6`.
#[inline]
fn hardsigmoid1(v: f32) -> f32 {
    clamp_0_6(v + 3.0) / 6.0
}

/// An activation that a kernel can apply in the store of its results (a
/// fused epilogue: [`crate::conv::Post`], [`crate::linear::linear_fused`]),
/// instead of a separate pass over the output.
///
/// Only the cheap piecewise-linear activations are offered: each is a few
/// vector instructions per stored vector. Every kernel body applies exactly
/// the operations of the standalone function ([`relu`], [`relu6`],
/// [`leaky_relu`], [`hardswish`], [`hardsigmoid`]) in the same order, so a
/// fused activation gives the same bits as the kernel followed by the
/// activation (NaN stays NaN; its payload is not specified).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum PostAct {
    /// No activation.
    #[default]
    None,
    /// [`relu`].
    Relu,
    /// [`relu6`].
    Relu6,
    /// [`leaky_relu`] with this `negative_slope`.
    LeakyRelu(f32),
    /// [`hardswish`].
    Hardswish,
    /// [`hardsigmoid`].
    Hardsigmoid,
}

impl PostAct {
    /// The activation of one value, as the standalone function computes it.
    #[inline]
    pub(crate) fn apply(self, v: f32) -> f32 {
        match self {
            PostAct::None => v,
            PostAct::Relu => relu1(v),
            PostAct::Relu6 => clamp_0_6(v),
            PostAct::LeakyRelu(slope) => leaky_relu1(v, slope),
            PostAct::Hardswish => hardswish1(v),
            PostAct::Hardsigmoid => hardsigmoid1(v),
        }
    }

    /// The activation of every element of `x`, with the portable loops (one
    /// `match` per call, then a loop LLVM vectorises).
    #[inline]
    pub(crate) fn apply_all(self, x: &mut [f32]) {
        match self {
            PostAct::None => {}
            PostAct::Relu => map(x, relu1),
            PostAct::Relu6 => map(x, clamp_0_6),
            PostAct::LeakyRelu(slope) => map(x, |v| leaky_relu1(v, slope)),
            PostAct::Hardswish => map(x, hardswish1),
            PostAct::Hardsigmoid => map(x, hardsigmoid1),
        }
    }
}

/// Applies `f` to every element.
#[inline]
fn map(x: &mut [f32], f: impl Fn(f32) -> f32) {
    for v in x {
        *v = f(*v);
    }
}

/// `nn.ReLU`: `max(x, 0)`; NaN stays NaN.
#[inline]
pub fn relu(x: &mut [f32]) {
    relu_with(simd::best(), x);
}

/// [`relu`] on the SIMD body of `isa` if the CPU has it, else the portable
/// loop. Every body gives the same bits.
#[inline]
fn relu_with(isa: Isa, x: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if simd::has_avx512() => {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe { simd::act::relu_avx512(x) };
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if simd::has_avx2_fma() => {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe { simd::act::relu_avx2(x) };
        }
        _ => map(x, relu1),
    }
}

/// A piecewise-linear activation on the SIMD body of `isa` if the CPU has
/// it, else the portable loop; every body gives the same bits.
#[inline]
fn piecewise_with(isa: Isa, act: PostAct, x: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if simd::has_avx512() => {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe { simd::act::piecewise_avx512(x, act) };
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if simd::has_avx2_fma() => {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe { simd::act::piecewise_avx2(x, act) };
        }
        _ => act.apply_all(x),
    }
}

/// A transcendental activation on the SIMD body of `isa` if the CPU has
/// it, else the portable loop (the same approximation, unfused).
#[inline]
fn unary_with(isa: Isa, k: Unary, x: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if simd::has_avx512() => {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe { simd::act::unary_avx512(x, k) };
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if simd::has_avx2_fma() => {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe { simd::act::unary_avx2(x, k) };
        }
        _ => math::apply(Scalar, k, x),
    }
}

/// `nn.ReLU6`: `min(max(x, 0), 6)` (PyTorch's `hardtanh(x, 0, 6)`); NaN
/// stays NaN.
#[inline]
pub fn relu6(x: &mut [f32]) {
    piecewise_with(simd::best(), PostAct::Relu6, x);
}

/// `nn.LeakyReLU(negative_slope)`: `x` if `x > 0`, else
/// `x · negative_slope`.
#[inline]
pub fn leaky_relu(x: &mut [f32], negative_slope: f32) {
    piecewise_with(simd::best(), PostAct::LeakyRelu(negative_slope), x);
}

/// PyTorch's SELU `alpha`, rounded to `f32` once.
#[allow(clippy::cast_possible_truncation)] // Intended rounding of a constant.
pub(crate) const SELU_ALPHA: f32 = 1.673_263_242_354_377_3_f64 as f32;
/// PyTorch's SELU `scale`, rounded to `f32` once.
#[allow(clippy::cast_possible_truncation)] // Intended rounding of a constant.
pub(crate) const SELU_SCALE: f32 = 1.050_700_987_355_480_5_f64 as f32;
/// `alpha · scale` formed in `f32`, as PyTorch does.
pub(crate) const SELU_NEG: f32 = SELU_ALPHA * SELU_SCALE;
/// PyTorch's GELU `kBeta = M_SQRT2 * M_2_SQRTPI * 0.5`, rounded to `f32`
/// once.
#[allow(clippy::cast_possible_truncation)] // Intended rounding of a constant.
pub(crate) const GELU_BETA: f32 =
    (core::f64::consts::SQRT_2 * core::f64::consts::FRAC_2_SQRT_PI * 0.5) as f32;
/// PyTorch's GELU `kKappa`.
pub(crate) const GELU_KAPPA: f32 = 0.044_715;

/// `nn.ELU(alpha)`: `x` if `x > 0`, else `expm1(x) · alpha`.
///
/// `expm1` rather than `exp(x) − 1` keeps full relative precision for `x`
/// near zero, as PyTorch's vectorised kernel does. `expm1` is the
/// polynomial of the module docs; against `libm::expm1f(x) · alpha` it is
/// within the error measured there for each `alpha` tested.
#[inline]
pub fn elu(x: &mut [f32], alpha: f32) {
    unary_with(simd::best(), Unary::Elu(alpha), x);
}

/// `nn.SELU`: `scale · x` if `x > 0`, else `expm1(x) · (alpha · scale)`,
/// with PyTorch's `alpha = 1.6732632423543772848170429916717` and
/// `scale = 1.0507009873554804934193349852946`.
///
/// PyTorch evaluates SELU as ELU with these coefficients and forms
/// `alpha · scale` in `f32`; so does this.
#[inline]
pub fn selu(x: &mut [f32]) {
    unary_with(simd::best(), Unary::Selu, x);
}

/// `nn.GELU()` (`approximate="none"`): `x · 0.5 · (1 + erf(x / √2))`,
/// PyTorch's formula and order, with the vectorised `erf` of the module
/// docs.
#[inline]
pub fn gelu(x: &mut [f32]) {
    unary_with(simd::best(), Unary::Gelu, x);
}

/// `nn.GELU(approximate="tanh")`:
/// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`, PyTorch's formula
/// and order, with the vectorised `tanh`.
#[inline]
pub fn gelu_tanh(x: &mut [f32]) {
    unary_with(simd::best(), Unary::GeluTanh, x);
}

/// `nn.SiLU` (swish): `x / (1 + e⁻ˣ)`.
///
/// For very negative `x`, `e⁻ˣ` overflows to infinity and the result is
/// `-0.0`, as with `libm`; no NaN arises for finite `x`.
#[inline]
pub fn silu(x: &mut [f32]) {
    unary_with(simd::best(), Unary::Silu, x);
}

/// `nn.Hardswish`: `x · relu6(x + 3) / 6`.
#[inline]
pub fn hardswish(x: &mut [f32]) {
    piecewise_with(simd::best(), PostAct::Hardswish, x);
}

/// `nn.Hardsigmoid`: `relu6(x + 3) / 6`.
#[inline]
pub fn hardsigmoid(x: &mut [f32]) {
    piecewise_with(simd::best(), PostAct::Hardsigmoid, x);
}

/// `nn.Sigmoid`: `1 / (1 + e⁻ˣ)`, PyTorch's formula.
///
/// It is numerically safe for any `x` in `f32`: for large negative `x`,
/// `e⁻ˣ` overflows to infinity and the result is `0`; for large positive `x`
/// it underflows to `0` and the result is `1`. No `inf/inf` or `0/0` can
/// occur.
#[inline]
pub fn sigmoid(x: &mut [f32]) {
    unary_with(simd::best(), Unary::Sigmoid, x);
}

/// `nn.Tanh`.
#[inline]
pub fn tanh(x: &mut [f32]) {
    unary_with(simd::best(), Unary::Tanh, x);
}

/// Normalises every lane of `x` viewed as `[_, D, INNER]` on the SIMD body
/// of `isa` if the CPU has it, else the portable loop.
#[inline]
fn normalize_with(isa: Isa, x: &mut [f32], d: usize, inner: usize, log: bool) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if simd::has_avx512() => {
            // SAFETY: the guard just checked that the CPU has AVX-512F, the
            // one feature this body is compiled with.
            unsafe { simd::act::normalize_avx512(x, d, inner, log) };
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if simd::has_avx2_fma() => {
            // SAFETY: the guard just checked that the CPU has AVX2 and FMA,
            // the features this body is compiled with.
            unsafe { simd::act::normalize_avx2(x, d, inner, log) };
        }
        _ => math::normalize(Scalar, x, d, inner, log),
    }
}

/// `torch.softmax(x, dim)` with `x` viewed, row-major, as `[OUTER, D, INNER]`
/// and `dim` the middle axis: `OUTER` is the product of the dimensions
/// before `dim`, `D` the size of `dim`, `INNER` the product of those after
/// it. For a vector, `softmax::<1, N, 1, _>`.
///
/// Computed as PyTorch does, stable for any input: `m = max(x)`,
/// `e = exp(x − m)`, `y = e · (1 / Σ e)`. A lane containing NaN gives NaN.
///
/// Checked at compile time: `OUTER · D · INNER == T::LEN`.
///
/// ```
/// use constnet_runtime::act::softmax;
/// let mut x = [1.0f32, 2.0, 3.0];
/// softmax::<1, 3, 1, _>(&mut x);
/// assert!((x[2] - 0.665_240_9).abs() < 1e-6);
/// ```
#[inline]
pub fn softmax<const OUTER: usize, const D: usize, const INNER: usize, T: Tensor>(x: &mut T) {
    const {
        assert!(
            OUTER * D * INNER == T::LEN,
            "softmax: OUTER * D * INNER must equal the tensor's length"
        );
    };
    normalize_with(simd::best(), x.as_flat_mut(), D, INNER, false);
}

/// `torch.log_softmax(x, dim)` over the middle axis of `x` viewed as
/// `[OUTER, D, INNER]` (see [`softmax`]): `y = x − m − ln Σ exp(x − m)` with
/// `m = max(x)`, which never takes the log of an underflowed softmax.
///
/// Checked at compile time: `OUTER · D · INNER == T::LEN`.
#[inline]
pub fn log_softmax<const OUTER: usize, const D: usize, const INNER: usize, T: Tensor>(x: &mut T) {
    const {
        assert!(
            OUTER * D * INNER == T::LEN,
            "log_softmax: OUTER * D * INNER must equal the tensor's length"
        );
    };
    normalize_with(simd::best(), x.as_flat_mut(), D, INNER, true);
}

#[cfg(test)]
mod accuracy;

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
    use crate::reference::test_util::{assert_close, bits, Rng};
    use crate::reference::{self, act as r};
    use std::vec::Vec;

    /// Inputs covering zero, both signs, small and large magnitudes and the
    /// kinks of the piecewise activations.
    fn probe() -> Vec<f32> {
        let mut xs = std::vec![
            0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 3.0, -3.0, 6.0, -6.0, 2.9, 3.1, 5.9, 6.1, 1e-3, -1e-3,
            1e-7, -1e-7, 10.0, -10.0, 20.0, -20.0, 50.0, -50.0, 88.0, -88.0, 100.0, -100.0, 1e30,
            -1e30,
        ];
        let mut rng = Rng::new(7);
        xs.extend((0..500).map(|_| rng.next_f32() * 8.0));
        xs
    }

    fn check(kernel: fn(&mut [f32]), reference: fn(f32) -> f32, what: &str) {
        let xs = probe();
        let mut ys = xs.clone();
        kernel(&mut ys);
        let expected: Vec<f32> = xs.iter().map(|&x| reference(x)).collect();
        assert_close(&ys, &expected, what);
        let mut nan = [f32::NAN];
        kernel(&mut nan);
        assert!(nan[0].is_nan(), "{what}(NaN) must be NaN");
    }

    /// ReLU on every instruction set gives the portable loop's bits, on lengths
    /// around the vector widths, with NaN, infinities and signed zeros.
    #[test]
    fn relu_every_isa_is_exact() {
        let mut isas = std::vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if simd::has_avx2_fma() {
                isas.push(Isa::Avx2);
            } else {
                std::eprintln!("skipped: this CPU has no AVX2+FMA");
            }
            if cfg!(miri) {
                // Miri does not implement `_mm512_cmp_ps_mask`
                // (`llvm.x86.avx512.mask.cmp.ps.512`), which this body uses.
                std::eprintln!("skipped: Miri cannot run the AVX-512F body");
            } else if simd::has_avx512() {
                isas.push(Isa::Avx512);
            } else {
                std::eprintln!("skipped: this CPU has no AVX-512F");
            }
        }
        // Under Miri, some thousands of times slower: lengths below 40
        // (several full vectors and every tail length) and 255..=257, but
        // not 4704 (LeNet's conv1 output).
        #[cfg(not(miri))]
        let lengths = (0..70).chain([255, 256, 257, 4704]);
        #[cfg(miri)]
        let lengths = (0..40).chain([255, 256, 257]);
        let mut rng = Rng::new(77);
        for len in lengths {
            let mut xs = std::vec![0.0f32; len];
            rng.fill(&mut xs);
            let specials = [
                f32::NAN,
                -0.0,
                0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                -1e-40,
            ];
            for (x, s) in xs.iter_mut().step_by(3).zip(specials.iter().cycle()) {
                *x = *s;
            }
            // The portable loop's bits (it keeps -0.0, as PyTorch's
            // `clamp_min` does), which are the reference's up to the sign
            // of zero.
            let expected: Vec<u32> = xs
                .iter()
                .map(|&v| if v < 0.0 { 0.0f32 } else { v }.to_bits())
                .collect();
            for (&e, &v) in expected.iter().zip(&xs) {
                let r = r::relu(v);
                assert!(f32::from_bits(e) == r || (r.is_nan() && v.is_nan()));
            }
            for &isa in &isas {
                // Every start offset within a 64-byte line, for the
                // aligned-body split of the AVX-512 path.
                for start in 0..len.min(16) + 1 {
                    let mut ys = xs.clone();
                    relu_with(isa, &mut ys[start..]);
                    let got: Vec<u32> = ys[start..].iter().map(|v| v.to_bits()).collect();
                    // NaN payloads are kept as they are, so bits compare.
                    assert_eq!(
                        got,
                        expected[start..],
                        "relu on {isa:?}, length {len}, start {start}"
                    );
                    let untouched: Vec<u32> = ys[..start].iter().map(|v| v.to_bits()).collect();
                    let before: Vec<u32> = xs[..start].iter().map(|v| v.to_bits()).collect();
                    assert_eq!(untouched, before, "relu wrote before its slice");
                }
            }
        }
    }

    /// Every fused activation gives its standalone function's bits: the
    /// portable `PostAct::apply`, and the AVX2 and AVX-512 bodies the
    /// convolution and linear stores use, on the probe values with NaN,
    /// infinities, signed zeros and the kinks.
    #[test]
    fn post_act_every_isa_is_the_standalone_function() {
        let mut xs = probe();
        xs.extend([
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            -3.0,
            3.0,
            -1e-40,
            1e-40,
        ]);
        // A whole number of AVX-512 vectors.
        while !xs.len().is_multiple_of(16) {
            xs.push(0.25);
        }
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        let acts = [
            (PostAct::None, (|_| {}) as fn(&mut [f32])),
            (PostAct::Relu, relu),
            (PostAct::Relu6, relu6),
            (PostAct::LeakyRelu(0.01), |x| leaky_relu(x, 0.01)),
            (PostAct::LeakyRelu(-2.5), |x| leaky_relu(x, -2.5)),
            (PostAct::Hardswish, hardswish),
            (PostAct::Hardsigmoid, hardsigmoid),
        ];
        for (act, standalone) in acts {
            let mut expected = xs.clone();
            if cfg!(miri) {
                // The standalone functions dispatch at run time, to the
                // AVX-512F bodies when Miri runs with that feature, and Miri
                // implements neither `_mm512_cmp_ps_mask` nor
                // `_mm512_max_ps`: their AVX2 body stands in (each body is
                // the portable loop's bits, `piecewise_every_isa_is_exact`).
                piecewise_with(Isa::Avx2, act, &mut expected);
            } else {
                standalone(&mut expected);
            }
            let mut all = xs.clone();
            act.apply_all(&mut all);
            for ((&x, &e), &a) in xs.iter().zip(&expected).zip(&all) {
                assert!(same(act.apply(x), e), "{act:?}.apply({x})");
                assert!(same(a, e), "{act:?}.apply_all({x})");
            }
            #[cfg(target_arch = "x86_64")]
            {
                if simd::has_avx2_fma() {
                    for (chunk, e) in xs.chunks_exact(8).zip(expected.chunks_exact(8)) {
                        let mut v: [f32; 8] = chunk.try_into().unwrap();
                        // SAFETY: the guard checked that the CPU has AVX.
                        unsafe { simd::act::post_act256_on(&mut v, act) };
                        for ((&x, &g), &e) in chunk.iter().zip(&v).zip(e) {
                            assert!(same(g, e), "{act:?} AVX2 ({x}): {g} vs {e}");
                        }
                    }
                }
                // Miri does not implement `_mm512_cmp_ps_mask`, which the
                // AVX-512F body uses.
                if simd::has_avx512() && !cfg!(miri) {
                    for (chunk, e) in xs.chunks_exact(16).zip(expected.chunks_exact(16)) {
                        let mut v: [f32; 16] = chunk.try_into().unwrap();
                        // SAFETY: the guard checked that the CPU has AVX-512F.
                        unsafe { simd::act::post_act512_on(&mut v, act) };
                        for ((&x, &g), &e) in chunk.iter().zip(&v).zip(e) {
                            assert!(same(g, e), "{act:?} AVX-512 ({x}): {g} vs {e}");
                        }
                    }
                }
            }
        }
    }

    fn every_isa() -> Vec<Isa> {
        let mut isas = std::vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if simd::has_avx2_fma() {
                isas.push(Isa::Avx2);
            } else {
                std::eprintln!("skipped: this CPU has no AVX2+FMA");
            }
            if cfg!(miri) {
                // Miri implements neither `_mm512_cmp_ps_mask` nor
                // `_mm512_max_ps` (`llvm.x86.avx512.max.ps.512`), which the
                // AVX-512F bodies use.
                std::eprintln!("skipped: Miri cannot run the AVX-512F bodies");
            } else if simd::has_avx512() {
                isas.push(Isa::Avx512);
            } else {
                std::eprintln!("skipped: this CPU has no AVX-512F");
            }
        }
        isas
    }

    /// ReLU6, LeakyReLU, Hardswish and Hardsigmoid on every instruction set
    /// give the portable loop's bits, on lengths around the vector widths,
    /// with NaN, infinities, signed zeros and the kinks.
    #[test]
    fn piecewise_every_isa_is_exact() {
        let mut rng = Rng::new(78);
        let acts = [
            PostAct::Relu,
            PostAct::Relu6,
            PostAct::LeakyRelu(0.01),
            PostAct::LeakyRelu(-2.5),
            PostAct::Hardswish,
            PostAct::Hardsigmoid,
        ];
        let specials = [
            f32::NAN,
            -0.0,
            0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -1e-40,
            -3.0,
            3.0,
            6.0,
        ];
        for len in (0..40).chain([63, 64, 65, 1000]) {
            let mut xs = std::vec![0.0f32; len];
            rng.fill(&mut xs);
            for v in &mut xs {
                *v *= 8.0;
            }
            for (x, s) in xs.iter_mut().step_by(3).zip(specials.iter().cycle()) {
                *x = *s;
            }
            for act in acts {
                let mut want = xs.clone();
                act.apply_all(&mut want);
                let want = bits(&want);
                for isa in every_isa() {
                    let mut got = xs.clone();
                    piecewise_with(isa, act, &mut got);
                    assert_eq!(bits(&got), want, "{act:?} on {isa:?}, length {len}");
                }
            }
        }
    }

    /// Softmax and log-softmax on every instruction set, contiguous
    /// (`INNER == 1`) and strided (`INNER > 1`) lanes, lengths around the
    /// vector widths: within rounding of the `f64` reference and of the
    /// scalar `libm` twin; a NaN or `+inf` poisons its lane only.
    #[test]
    fn normalize_every_isa_matches_reference() {
        let shapes = [
            (1, 1, 1),
            (1, 10, 1),
            (3, 7, 1),
            (2, 16, 1),
            (1, 17, 1),
            (2, 33, 1),
            (1, 1000, 1),
            (1, 3, 4),
            (2, 3, 5),
            (1, 10, 16),
            (2, 5, 17),
            (1, 6, 100),
            (3, 1, 9),
        ];
        let mut rng = Rng::new(79);
        for (outer, d, inner) in shapes {
            let mut xs = std::vec![0.0f32; outer * d * inner];
            rng.fill(&mut xs);
            for v in &mut xs {
                *v *= 20.0;
            }
            for log in [false, true] {
                let mut want = xs.clone();
                let mut twin = xs.clone();
                if log {
                    reference::log_softmax(&mut want, outer, d, inner);
                } else {
                    reference::softmax(&mut want, outer, d, inner);
                }
                reference::libm_act::normalize(&mut twin, outer, d, inner, log);
                for isa in every_isa() {
                    let mut got = xs.clone();
                    normalize_with(isa, &mut got, d, inner, log);
                    let what = std::format!("{isa:?} log={log} [{outer}, {d}, {inner}]");
                    assert_close(&got, &want, &what);
                    for (&g, &t) in got.iter().zip(&twin) {
                        assert!(
                            (g - t).abs() <= 4.0 * f32::EPSILON * t.abs().max(1.0),
                            "{what}: {g} vs libm {t}"
                        );
                    }
                    // A NaN, then a +inf, in lane (0, 0) poison it only.
                    for bad in [f32::NAN, f32::INFINITY] {
                        let mut got = xs.clone();
                        got[(d - 1) * inner] = bad;
                        let mut twin = got.clone();
                        normalize_with(isa, &mut got, d, inner, log);
                        reference::libm_act::normalize(&mut twin, outer, d, inner, log);
                        for (i, (&g, &t)) in got.iter().zip(&twin).enumerate() {
                            assert_eq!(g.is_nan(), t.is_nan(), "{what} {bad}: element {i}");
                            assert_eq!(
                                g.is_nan(),
                                i % inner == 0 && i < d * inner,
                                "{what} {bad}: element {i}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn activations_match_reference() {
        check(relu, r::relu, "relu");
        check(relu6, r::relu6, "relu6");
        check(
            |x| leaky_relu(x, 0.01),
            |x| r::leaky_relu(x, 0.01),
            "leaky_relu",
        );
        check(
            |x| leaky_relu(x, 0.2),
            |x| r::leaky_relu(x, 0.2),
            "leaky_relu 0.2",
        );
        check(|x| elu(x, 1.0), |x| r::elu(x, 1.0), "elu");
        check(|x| elu(x, 0.5), |x| r::elu(x, 0.5), "elu 0.5");
        check(selu, r::selu, "selu");
        check(gelu, r::gelu, "gelu");
        check(gelu_tanh, r::gelu_tanh, "gelu_tanh");
        check(silu, r::silu, "silu");
        check(hardswish, r::hardswish, "hardswish");
        check(hardsigmoid, r::hardsigmoid, "hardsigmoid");
        check(sigmoid, r::sigmoid, "sigmoid");
        check(tanh, r::tanh, "tanh");
    }

    /// Applies a slice activation to one value.
    fn at(f: impl Fn(&mut [f32]), x: f32) -> f32 {
        let mut v = [x];
        f(&mut v);
        v[0]
    }

    #[test]
    fn pytorch_known_values() {
        // Values printed by PyTorch (float32).
        let close = |a: f32, e: f32| (a - e).abs() <= 2e-7 * e.abs().max(1.0);
        let cases: [(f32, f32, &str); 12] = [
            (at(gelu, 1.0), 0.841_344_7, "gelu(1)"),
            (at(gelu, -1.0), -0.158_655_26, "gelu(-1)"),
            (at(gelu_tanh, 1.0), 0.841_192, "gelu_tanh(1)"),
            (at(selu, -1.0), -1.111_330_7, "selu(-1)"),
            (at(selu, 1.0), 1.050_701, "selu(1)"),
            (at(|x| elu(x, 1.0), -1.0), -0.632_120_56, "elu(-1)"),
            (at(silu, 1.0), 0.731_058_6, "silu(1)"),
            (at(sigmoid, 1.0), 0.731_058_6, "sigmoid(1)"),
            (at(sigmoid, -100.0), 0.0, "sigmoid(-100)"),
            (at(sigmoid, 100.0), 1.0, "sigmoid(100)"),
            (at(tanh, 0.5), 0.462_117_16, "tanh(0.5)"),
            (at(|x| leaky_relu(x, 0.01), -2.0), -0.02, "leaky_relu(-2)"),
        ];
        for (got, want, what) in cases {
            assert!(close(got, want), "{what}: got {got}, want {want}");
        }
    }

    #[test]
    fn piecewise_known_values() {
        let mut x = [-1.0f32, 0.0, 3.0, 6.0, 7.5, f32::NAN];
        relu6(&mut x);
        assert_eq!(&x[..5], &[0.0, 0.0, 3.0, 6.0, 6.0]);
        assert!(x[5].is_nan());
        let mut x = [-2.0f32, 0.0, 2.0, f32::NAN];
        relu(&mut x);
        assert_eq!(&x[..3], &[0.0, 0.0, 2.0]);
        assert!(x[3].is_nan());
        // hardswish: -4 → 0, -3 → 0, -1 → -1·2/6, 0 → 0, 1 → 1·4/6, 3 → 3, 4 → 4.
        let mut x = [-4.0f32, -3.0, -1.0, 0.0, 1.0, 3.0, 4.0];
        hardswish(&mut x);
        assert_eq!(x, [0.0, 0.0, -2.0 / 6.0, 0.0, 4.0 / 6.0, 3.0, 4.0]);
        let mut x = [-4.0f32, -3.0, 0.0, 1.5, 3.0, 4.0];
        hardsigmoid(&mut x);
        assert_eq!(x, [0.0, 0.0, 0.5, 0.75, 1.0, 1.0]);
        // silu of a huge negative value is -0, not NaN.
        assert_eq!(at(silu, -1e30), 0.0);
        assert!(!at(silu, -1e30).is_nan());
    }

    #[test]
    fn softmax_known_values() {
        let mut x = [1.0f32, 2.0, 3.0];
        softmax::<1, 3, 1, _>(&mut x);
        let want = [0.090_030_57, 0.244_728_48, 0.665_240_94];
        for (a, e) in x.iter().zip(want) {
            assert!((a - e).abs() < 1e-7, "{a} vs {e}");
        }
        let mut x = [1.0f32, 2.0, 3.0];
        log_softmax::<1, 3, 1, _>(&mut x);
        let want = [-2.407_606, -1.407_606, -0.407_606];
        for (a, e) in x.iter().zip(want) {
            assert!((a - e).abs() < 1e-6, "{a} vs {e}");
        }
        // Stable for large inputs.
        let mut x = [1000.0f32, 1001.0, 1002.0];
        softmax::<1, 3, 1, _>(&mut x);
        assert!((x[2] - 0.665_240_94).abs() < 1e-6);
        let mut x = [-1000.0f32, 0.0];
        log_softmax::<1, 2, 1, _>(&mut x);
        assert_eq!(x, [-1000.0, 0.0]);
        // NaN poisons its lane only.
        let mut x = [[1.0f32, f32::NAN], [1.0, 2.0]];
        softmax::<2, 2, 1, _>(&mut x);
        assert!(x[0].iter().all(|v| v.is_nan()));
        assert!((x[1][0] + x[1][1] - 1.0).abs() < 1e-6);
    }

    macro_rules! softmax_case {
        ($seed:expr, $t:ty, $outer:literal, $d:literal, $inner:literal) => {{
            let mut rng = Rng::new($seed);
            let mut x = <$t as Tensor>::zeroed();
            rng.fill(Tensor::as_flat_mut(&mut x));
            for v in Tensor::as_flat_mut(&mut x) {
                *v *= 10.0;
            }
            let mut y = x;
            softmax::<$outer, $d, $inner, $t>(&mut y);
            let mut expected = Tensor::as_flat(&x).to_vec();
            reference::softmax(&mut expected, $outer, $d, $inner);
            assert_close(Tensor::as_flat(&y), &expected, stringify!(softmax $t $outer $d $inner));
            let mut y = x;
            log_softmax::<$outer, $d, $inner, $t>(&mut y);
            let mut expected = Tensor::as_flat(&x).to_vec();
            reference::log_softmax(&mut expected, $outer, $d, $inner);
            assert_close(Tensor::as_flat(&y), &expected, stringify!(log_softmax $t $outer $d $inner));
        }};
    }

    #[test]
    fn softmax_matches_reference() {
        softmax_case!(1, [f32; 10], 1, 10, 1);
        softmax_case!(2, [f32; 1], 1, 1, 1);
        softmax_case!(3, [f32; 1000], 1, 1000, 1);
        // [3, 4]: dim 1 and dim 0.
        softmax_case!(4, [[f32; 4]; 3], 3, 4, 1);
        softmax_case!(5, [[f32; 4]; 3], 1, 3, 4);
        // [2, 3, 5]: each of the three dims.
        softmax_case!(6, [[[f32; 5]; 3]; 2], 1, 2, 15);
        softmax_case!(7, [[[f32; 5]; 3]; 2], 2, 3, 5);
        softmax_case!(8, [[[f32; 5]; 3]; 2], 6, 5, 1);
    }
}
