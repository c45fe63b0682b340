//! int8 inference: quantized tensors and the kernels that run on them.
//!
//! # Semantics: TensorFlow Lite's int8 kernels
//!
//! Every operation here computes what TFLite's reference int8 kernels
//! (`reference_integer_ops`) compute, on PyTorch's `[C][H][W]` layout instead
//! of TFLite's `[H][W][C]` (the same numbers, another order):
//!
//! - a tensor's real value is `scale · (q − zero_point)` with `q` an `i8`
//!   ([`QParams`]): activations asymmetric, one scale and zero point per
//!   tensor; weights symmetric (zero point 0, values in `[−127, 127]`), one
//!   scale per output channel; biases `i32` on the scale `s_in · s_w[o]`;
//! - a convolution or linear layer sums `w · (x − zp_in)` in `i32`, adds the
//!   bias, rescales to the output's scale by the fixed-point multiplier
//!   [`Requant`] (`s_in · s_w[o] / s_out`; see [`fixed`]) with TFLite's
//!   rounding for the layer ([`Rounding`]: two roundings in a convolution,
//!   gemmlowp's; one in a linear layer, ruy's), adds the output
//!   zero point and clamps to the fused activation's range ([`Clamp`]:
//!   ReLU and ReLU6 are clamps, not passes);
//! - zero padding is the input's zero point (TFLite skips the taps outside
//!   the input, which is the same sum);
//! - max pooling keeps the input's scale and takes the largest `q`;
//!   average pooling too, dividing the sum by the count rounded half away
//!   from zero;
//! - an addition rescales both inputs to a common fixed-point scale and
//!   the sum to the output's ([`add`], TFLite's `ADD`, with the fused
//!   activation's clamp); a concatenation copies inputs that have its
//!   parameters (those `#[int8]` quantizes itself get them, as in TFLite)
//!   and requantizes the others ([`cat`]); a softmax is gemmlowp's
//!   fixed-point `exp` and reciprocal, its output on the grid 1/256, −128
//!   ([`softmax`]); a Hardswish is TFLite's 16-bit fixed-point kernel
//!   ([`hardswish`]);
//! - [`quantize`] rounds `x / scale` half away from zero and adds the zero
//!   point, saturating; [`dequantize`] is `scale · (q − zero_point)`.
//!
//! The modules: [`fixed`] (the fixed-point arithmetic), [`conv`],
//! [`linear`], [`pool`], [`add`], [`cat`], [`softmax`], [`hardswish`] (the kernels, portable Rust; the AVX2 bodies of
//! the first two are in `simd::qconv` and `simd::qlinear`), [`tensor`] (`i8`
//! arrays viewed flat), [`observe`] (ranges to quantization parameters, as
//! TFLite's calibrator chooses them), [`layer`] (a quantized layer made
//! from a float one), [`network`] (the [`Int8Network`] trait `network!`
//! implements for `#[int8]`) and, with `alloc`, [`calibrate`] (ranges of
//! every layer of a float network over representative inputs), [`store`]
//! (saving and loading an int8 network as safetensors) and [`import`]
//! (loading one another tool quantized, TFLite's converter).

pub mod add;
#[cfg(feature = "alloc")]
pub mod calibrate;
pub mod cat;
pub mod conv;
pub mod fixed;
pub mod hardswish;
#[cfg(feature = "alloc")]
pub mod import;
pub mod layer;
pub mod linear;
pub mod network;
pub mod observe;
pub mod pool;
pub mod softmax;
#[cfg(feature = "alloc")]
pub mod store;
pub mod summary;
pub mod tensor;

pub use fixed::{Requant, Rounding};
pub use layer::QLayer;
pub use network::{Int8Network, QuantizeError};
pub use observe::{QParams, RangeError};
pub use tensor::QTensor;

// SAFETY: plain integers and floats; all zeros is a valid value of each.
unsafe impl bytemuck::Zeroable for QParams {}
// SAFETY: as above.
unsafe impl bytemuck::Zeroable for Clamp {}
// SAFETY: as above.
unsafe impl bytemuck::Zeroable for Requant {}

/// The range a layer's `i8` outputs are clamped to: `[−128, 127]`, or
/// narrower for a fused ReLU (`[zp, 127]`) or ReLU6 (`[zp, zp + round(6 /
/// scale)]`), as TFLite's `CalculateActivationRangeQuantized`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clamp {
    /// The smallest output.
    pub min: i8,
    /// The largest output.
    pub max: i8,
}

impl Clamp {
    /// No activation: the whole `i8` range.
    pub const NONE: Clamp = Clamp {
        min: i8::MIN,
        max: i8::MAX,
    };

    /// A fused ReLU on an output quantized with `out`: real 0 and above.
    #[must_use]
    pub fn relu(out: QParams) -> Clamp {
        Clamp {
            min: out.zero_point,
            max: i8::MAX,
        }
    }

    /// A fused ReLU6 on an output quantized with `out`: real 0 to 6.
    #[must_use]
    pub fn relu6(out: QParams) -> Clamp {
        Clamp {
            min: out.zero_point,
            max: out.quantize(6.0),
        }
    }

    /// `v` clamped to `[min, max]`. Not `i32::clamp`, whose `min <= max`
    /// assertion (the fields are public) would keep panic code in every
    /// int8 kernel on targets where nothing proves it, as on `thumbv7em`;
    /// for a valid clamp the two are equal, and for any the result is an
    /// `i8` (`max(v, min)` then `min(…, max)` lies between two `i8`s).
    #[inline]
    #[allow(clippy::cast_possible_truncation)] // Between two `i8`s.
    fn apply(self, v: i32) -> i8 {
        v.max(i32::from(self.min)).min(i32::from(self.max)) as i8
    }
}

/// What a convolution or linear layer does with its `i32` accumulators as it
/// stores them: `clamp(requant[o].apply(acc + bias[o]) + zero_point)`.
#[derive(Clone, Copy, Debug)]
pub struct Rescale<'a, const O: usize> {
    /// The `i32` bias on the accumulator's scale `s_in · s_w[o]`.
    pub bias: Option<&'a [i32; O]>,
    /// `s_in · s_w[o] / s_out` per output channel.
    pub requant: &'a [Requant; O],
    /// The output's zero point.
    pub zero_point: i8,
    /// The fused activation.
    pub clamp: Clamp,
    /// How `acc · M` is rounded: [`Rounding::Double`] in convolutions,
    /// [`Rounding::Single`] in linear layers, as TFLite's kernels.
    pub rounding: Rounding,
}

impl<const O: usize> Rescale<'_, O> {
    /// Output channel `o`'s value for the accumulator `acc`.
    #[inline(always)]
    #[must_use]
    pub fn store(&self, o: usize, acc: i32) -> i8 {
        let acc = match self.bias {
            Some(b) => acc.wrapping_add(b[o]),
            None => acc,
        };
        let v = self.requant[o]
            .apply_with(self.rounding, acc)
            .saturating_add(i32::from(self.zero_point));
        self.clamp.apply(v)
    }
}

/// `output[i] = quantize(input[i])` with `params` (TFLite's `Quantize`).
///
/// ```
/// use constnet_runtime::quant::{quantize, QParams};
/// let p = QParams { scale: 0.5, zero_point: -10 };
/// let mut q = [0i8; 4];
/// quantize(&[0.0, 1.25, -0.25, 1000.0], p, &mut q);
/// assert_eq!(q, [-10, -7, -11, 127]);
/// ```
///
/// With AVX-512 or AVX2 the same loop runs compiled for them
/// (`simd/quantize.rs`): the same bytes, 16 or 8 values a step.
pub fn quantize(input: &[f32], params: QParams, output: &mut [i8]) {
    assert_eq!(input.len(), output.len(), "quantize: lengths differ");
    #[cfg(target_arch = "x86_64")]
    match crate::simd::best() {
        // SAFETY: `best` returns `Avx512` only where AVX-512F is there.
        crate::simd::Isa::Avx512 => {
            return unsafe { crate::simd::quantize::avx512(input, params, output) }
        }
        // SAFETY: `best` returns `Avx2` only where AVX2 is there.
        crate::simd::Isa::Avx2 => {
            return unsafe { crate::simd::quantize::avx2(input, params, output) }
        }
        crate::simd::Isa::Portable => {}
    }
    quantize_each(input, params, output);
}

/// [`quantize`]'s loop, inlined into the SIMD bodies that compile it for
/// wider vectors. Lengths checked by the caller.
#[inline(always)]
#[allow(clippy::inline_always)] // Must inline into #[target_feature] callers.
pub(crate) fn quantize_each(input: &[f32], params: QParams, output: &mut [i8]) {
    for (q, &x) in output.iter_mut().zip(input) {
        *q = params.quantize(x);
    }
}

/// `output[i] = dequantize(input[i])` with `params` (TFLite's `Dequantize`).
///
/// ```
/// use constnet_runtime::quant::{dequantize, QParams};
/// let p = QParams { scale: 0.5, zero_point: -10 };
/// let mut x = [0.0f32; 3];
/// dequantize(&[-10, -7, 127], p, &mut x);
/// assert_eq!(x, [0.0, 1.5, 68.5]);
/// ```
pub fn dequantize(input: &[i8], params: QParams, output: &mut [f32]) {
    assert_eq!(input.len(), output.len(), "dequantize: lengths differ");
    for (x, &q) in output.iter_mut().zip(input) {
        *x = params.dequantize(q);
    }
}

/// ReLU on a tensor quantized with zero point `zero_point`, in place: `max(q,
/// zero_point)`. Layers before it fuse it as a [`Clamp`] instead.
pub fn relu(values: &mut [i8], zero_point: i8) {
    for q in values {
        *q = (*q).max(zero_point);
    }
}

/// Helpers the int8 kernel tests share.
#[cfg(test)]
pub(crate) mod test_util {
    use super::Rescale;
    use crate::reference::test_util::Rng;

    /// The instruction sets an int8 kernel test runs: the portable code,
    /// the best this CPU has (on x86 with AVX-512: VNNI where it is) and,
    /// below it, AVX2.
    pub(crate) fn isas() -> std::vec::Vec<crate::simd::Isa> {
        #[allow(unused_mut)] // Pushed to on x86 only.
        let mut isas = std::vec![crate::simd::Isa::Portable, crate::simd::best()];
        #[cfg(target_arch = "x86_64")]
        if crate::simd::best() == crate::simd::Isa::Avx512 {
            isas.push(crate::simd::Isa::Avx2);
        }
        isas
    }

    /// Random `i8`s in `[lo, hi]`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    pub(crate) fn bytes(rng: &mut Rng, out: &mut [i8], lo: i8, hi: i8) {
        let span = (i32::from(hi) - i32::from(lo) + 1) as u32;
        for x in out {
            *x = (i32::from(lo) + (rng.next_u32() % span) as i32) as i8;
        }
    }

    /// Per-channel multipliers that map channel `o`'s largest accumulator to
    /// about ±100, so the outputs spread over the `i8` range.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn multipliers<const O: usize>(
        rng: &mut Rng,
        acc: &[i64],
        bias: &[i32; O],
    ) -> [f64; O] {
        let per = acc.len() / O;
        core::array::from_fn(|o| {
            let top = acc[o * per..][..per]
                .iter()
                .map(|a| (a + i64::from(bias[o])).abs())
                .max()
                .unwrap_or(1);
            100.0 / top.max(1) as f64 * (1.0 + 0.5 * f64::from(rng.next_f32()))
        })
    }

    /// Checks `got` against the twin's accumulators: exactly through the same
    /// `store`, and within one unit of rounding the real product once.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    pub(crate) fn check<const O: usize>(
        got: &[i8],
        acc: &[i64],
        r: &Rescale<'_, O>,
        real: &[f64; O],
        what: &str,
    ) {
        let per = acc.len() / O;
        let mut inside = 0;
        for (i, (&g, &a)) in got.iter().zip(acc).enumerate() {
            let o = i / per;
            assert_eq!(g, r.store(o, a as i32), "{what}: output {i} (channel {o})");
            let b = r.bias.map_or(0, |b| b[o]);
            let once = libm::round((a + i64::from(b)) as f64 * real[o]) + f64::from(r.zero_point);
            let once = once.clamp(f64::from(r.clamp.min), f64::from(r.clamp.max));
            assert!(
                (f64::from(g) - once).abs() <= 1.0,
                "{what}: output {i}: {g} against {once}"
            );
            inside += usize::from(g > r.clamp.min && g < r.clamp.max);
        }
        assert!(
            inside * 4 > got.len(),
            "{what}: most outputs clamped, the check says little"
        );
    }
}
