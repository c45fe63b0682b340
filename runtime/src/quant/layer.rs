//! A quantized convolution or linear layer, and how one is made from the
//! float layer: TFLite's rules, with a batch norm after a convolution
//! folded into its weights first.

use super::observe::{quantize_bias, quantize_channel, QParams, RangeError};
use super::tensor::QTensor;
use super::{Clamp, Requant, Rescale, Rounding};

/// A convolution or linear layer of an int8 network: `W` its weights'
/// array type (`[[[[i8; KW]; KH]; CG]; O]` or `[[i8; I]; O]`), `O` its
/// output channels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QLayer<W, const O: usize> {
    /// Symmetric int8 weights, in PyTorch's layout.
    pub weight: W,
    /// The bias on the accumulator's scale `s_in · s_w[o]` (0 without one).
    pub bias: [i32; O],
    /// Each output channel's weight scale `s_w[o]`.
    pub weight_scale: [f32; O],
    /// `s_in · s_w[o] / s_out`.
    pub requant: [Requant; O],
    /// The input's zero point.
    pub input_zero: i8,
    /// The output's parameters.
    pub output: QParams,
    /// The fused activation.
    pub clamp: Clamp,
    /// TFLite's rounding for this kind of layer.
    pub rounding: Rounding,
}

// SAFETY: every field is an integer, a float, an array of them, or a
// `QTensor` array, for which all zeros is a valid value (`Rounding`'s 0 is
// `Double`, `#[repr(u8)]`).
unsafe impl<W: bytemuck::Zeroable, const O: usize> bytemuck::Zeroable for QLayer<W, O> {}

/// The activation a layer's clamp stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// None.
    None,
    /// ReLU.
    Relu,
    /// ReLU6.
    Relu6,
}

impl Act {
    /// The clamp of this activation on an output quantized with `output`.
    #[must_use]
    pub fn clamp(self, output: QParams) -> Clamp {
        match self {
            Act::None => Clamp::NONE,
            Act::Relu => Clamp::relu(output),
            Act::Relu6 => Clamp::relu6(output),
        }
    }
}

/// The multiplier of output channel `o` whose weights have scale `s_w`:
/// `s_in · s_w / s_out`, computed in `f64` as TFLite does.
#[must_use]
pub fn requant(input: QParams, s_w: f32, output: QParams) -> Requant {
    Requant::new(f64::from(input.scale) * f64::from(s_w) / f64::from(output.scale))
}

/// A float layer's tensors, as the float network holds them.
#[derive(Clone, Copy, Debug)]
pub struct Float<'a> {
    /// The weights, flat (`[O][…]` row-major).
    pub weight: &'a [f32],
    /// The bias, if the layer has one.
    pub bias: Option<&'a [f32]>,
    /// A batch norm after it, folded into it.
    pub norm: Option<Norm<'a>>,
}

/// A `BatchNorm2d`'s tensors (`weight` and `bias` absent when not affine).
#[derive(Clone, Copy, Debug)]
pub struct Norm<'a> {
    /// `γ`.
    pub weight: Option<&'a [f32]>,
    /// `β`.
    pub bias: Option<&'a [f32]>,
    /// The running mean `μ`.
    pub mean: &'a [f32],
    /// The running variance `σ²`.
    pub var: &'a [f32],
    /// `ε`.
    pub eps: f32,
}

impl Norm<'_> {
    /// Channel `o` as `(k, shift)`: the norm is `x · k + shift` with `k = γ /
    /// √(σ² + ε)`, `shift = β − μ · k` (in `f32`, as PyTorch's
    /// `fuse_conv_bn_weights`).
    fn channel(&self, o: usize) -> (f32, f32) {
        let gamma = self.weight.map_or(1.0, |w| w[o]);
        let beta = self.bias.map_or(0.0, |b| b[o]);
        let k = gamma / libm::sqrtf(self.var[o] + self.eps);
        (k, beta - self.mean[o] * k)
    }
}

impl<W: QTensor, const O: usize> QLayer<W, O> {
    /// The store rule of this layer's kernel call.
    #[must_use]
    pub fn rescale(&self) -> Rescale<'_, O> {
        Rescale {
            bias: Some(&self.bias),
            requant: &self.requant,
            zero_point: self.output.zero_point,
            clamp: self.clamp,
            rounding: self.rounding,
        }
    }

    /// Quantizes `float` (a batch norm folded in first: `w · k`, `(b − μ) ·
    /// k + β`) for an input quantized with `input` and an output with
    /// `output`: per-channel symmetric weights, `i32` biases on `s_in ·
    /// s_w[o]`, the multipliers, and the clamp of `act` on the output.
    ///
    /// # Errors
    ///
    /// [`RangeError::NotFinite`] if a weight or bias (after folding) is NaN
    /// or infinite.
    ///
    /// # Panics
    ///
    /// If the float tensors' lengths do not match `W` and `O` (a bug in the
    /// caller: generated code passes the float network's own arrays).
    pub fn quantize(
        &mut self,
        float: Float<'_>,
        input: QParams,
        output: QParams,
        act: Act,
        rounding: Rounding,
    ) -> Result<(), RangeError> {
        assert_eq!(
            float.weight.len(),
            W::LEN,
            "QLayer::quantize: weight length"
        );
        let per = W::LEN / O;
        let weights = self.weight.as_flat_mut().chunks_mut(per);
        let mut bias = [0f32; O];
        for (o, (q, w)) in weights.zip(float.weight.chunks(per)).enumerate() {
            let b = float.bias.map_or(0.0, |b| b[o]);
            let (k, shift) = float.norm.map_or((1.0, 0.0), |n| n.channel(o));
            bias[o] = b * k + shift;
            if !bias[o].is_finite() {
                return Err(RangeError::NotFinite {
                    min: bias[o],
                    max: bias[o],
                });
            }
            self.weight_scale[o] = quantize_channel(w, k, q)?;
        }
        quantize_bias(&bias, input.scale, &self.weight_scale, &mut self.bias);
        self.restore(input, output, act, rounding);
        Ok(())
    }

    /// Sets what follows from the stored tensors (weights, bias, weight
    /// scales) and the input's and output's parameters: the multipliers
    /// `s_in · s_w[o] / s_out` (as TFLite computes them, in `f64`), the zero
    /// points, the clamp of `act`, the rounding. [`QLayer::quantize`] ends
    /// with it; loading a saved int8 network calls it too.
    pub fn restore(&mut self, input: QParams, output: QParams, act: Act, rounding: Rounding) {
        for (r, &s_w) in self.requant.iter_mut().zip(&self.weight_scale) {
            *r = requant(input, s_w, output);
        }
        self.input_zero = input.zero_point;
        self.output = output;
        self.rounding = rounding;
        self.clamp = act.clamp(output);
    }
}
