//! The [`Int8Network`] trait: what `network!` generates for `#[int8]`, the
//! quantized twin of a float [`Network`].

use core::fmt;

use super::observe::{QParams, RangeError};
use super::tensor::QTensor;
use super::{dequantize, quantize};
use crate::network::Network;
use crate::tensor::Tensor;

/// A declared network quantized to int8, TFLite's semantics (see
/// [`crate::quant`]). `network!` implements it for `<Name>Int8` when the
/// declaration carries `#[int8]`.
pub trait Int8Network: Sized + bytemuck::Zeroable + 'static {
    /// The float network it quantizes.
    type Float: Network;
    /// The quantized input, e.g. `[[[i8; 32]; 32]; 1]`.
    type Input: QTensor;
    /// The quantized output, e.g. `[i8; 10]`.
    type Output: QTensor;
    /// Scratch memory for one forward pass: every intermediate `i8` value.
    type Workspace: bytemuck::Zeroable;

    /// Bytes of the quantized network: int8 weights, int32 biases and the
    /// per-channel scales and multipliers.
    const WEIGHT_BYTES: usize = core::mem::size_of::<Self>();
    /// Bytes of scratch memory of one forward pass.
    const WORKSPACE_BYTES: usize = core::mem::size_of::<Self::Workspace>();

    /// For each row of the float network's [`Network::LAYERS`], the index
    /// in [`Int8Network::values`] of the value it shows (`None` for a row
    /// no int8 value stands for). Generated; [`Int8Network::summary`] reads it.
    const ROW_VALUES: &'static [Option<usize>];

    /// For each row of [`Network::LAYERS`], the `state_dict` prefix of its
    /// quantized layer (`""` for a row without weights). Generated.
    const ROW_KEYS: &'static [&'static str];

    /// Quantizes `float` with the parameters of its input and of every
    /// layer's output (`layers[i]` for [`Network::LAYERS`]`[i]`, as
    /// [`calibrate`](super::calibrate::calibrate) finds them).
    ///
    /// # Errors
    ///
    /// [`QuantizeError::Layers`] if `layers` does not have one entry per
    /// layer, [`QuantizeError::Weights`] naming the layer whose weights are
    /// not finite.
    fn quantize_from(
        &mut self,
        float: &Self::Float,
        input: QParams,
        layers: &[QParams],
    ) -> Result<(), QuantizeError>;

    /// Runs one quantized sample. No heap allocation; the workspace lives
    /// on the stack.
    fn forward(&self, input: &Self::Input) -> Self::Output;

    /// Runs one quantized sample in caller-owned scratch memory.
    fn forward_with(&self, input: &Self::Input, workspace: &mut Self::Workspace) -> Self::Output;

    /// The parameters of the input (0) and of each node's output, in
    /// execution order.
    fn values(&self) -> &[QParams];

    /// [`Int8Network::values`], mutably.
    fn values_mut(&mut self) -> &mut [QParams];

    /// Calls `f` with the name, shape and data of every stored tensor of
    /// the layers: `<key>.weight`, `<key>.bias`, `<key>.weight_scale`.
    fn visit_stored(&self, f: &mut dyn FnMut(&'static str, &'static [usize], Stored<'_>));

    /// [`Int8Network::visit_stored`], to fill them.
    fn visit_stored_mut(
        &mut self,
        f: &mut dyn FnMut(&'static str, &'static [usize], StoredMut<'_>),
    );

    /// Derives every layer's multipliers, zero points and clamp from the
    /// stored tensors and [`Int8Network::values`] (after loading).
    fn restore(&mut self);

    /// The network as a safetensors file ([`super::store`]).
    ///
    /// # Errors
    ///
    /// As [`super::store::to_safetensors`].
    #[cfg(feature = "alloc")]
    fn to_safetensors(&self) -> Result<alloc::vec::Vec<u8>, super::store::StoreError> {
        super::store::to_safetensors(self)
    }

    /// The network [`Int8Network::to_safetensors`] saved, on the heap.
    ///
    /// # Errors
    ///
    /// As [`super::store::from_safetensors`]: the error names the tensor.
    #[cfg(feature = "alloc")]
    fn from_safetensors(bytes: &[u8]) -> Result<alloc::boxed::Box<Self>, super::store::StoreError> {
        super::store::from_safetensors(bytes)
    }

    /// The network another tool quantized (TFLite's converter): weights
    /// and parameters named after `float`'s keys and layer-table rows, see
    /// [`super::import`]; on the heap.
    ///
    /// # Errors
    ///
    /// As [`super::import::from_row_parameters`]: the error names the tensor.
    #[cfg(feature = "alloc")]
    fn from_row_parameters(
        float: &Self::Float,
        bytes: &[u8],
    ) -> Result<alloc::boxed::Box<Self>, super::store::StoreError> {
        super::import::from_row_parameters(float, bytes)
    }

    /// How the input is quantized.
    fn input_params(&self) -> QParams;

    /// How the output is quantized.
    fn output_params(&self) -> QParams;

    /// Runs one float sample: quantized with [`Int8Network::input_params`],
    /// run in int8, dequantized with [`Int8Network::output_params`].
    fn forward_f32(
        &self,
        input: &<Self::Float as Network>::Input,
    ) -> <Self::Float as Network>::Output {
        let mut q = <Self::Input as bytemuck::Zeroable>::zeroed();
        quantize(input.as_flat(), self.input_params(), q.as_flat_mut());
        let out = self.forward(&q);
        let mut y = <<Self::Float as Network>::Output as Tensor>::zeroed();
        dequantize(out.as_flat(), self.output_params(), y.as_flat_mut());
        y
    }

    /// The quantized network of `float` with `calibration`'s parameters,
    /// on the heap.
    ///
    /// # Errors
    ///
    /// As [`Int8Network::quantize_from`].
    #[cfg(feature = "alloc")]
    fn quantize(
        float: &Self::Float,
        calibration: &super::calibrate::Calibration,
    ) -> Result<alloc::boxed::Box<Self>, QuantizeError> {
        let layers: alloc::vec::Vec<QParams> = calibration.layers.iter().map(|l| l.1).collect();
        let mut q: alloc::boxed::Box<Self> = bytemuck::zeroed_box();
        q.quantize_from(float, calibration.input, &layers)?;
        Ok(q)
    }

    /// The layer table with each row's output scale and zero point and the
    /// range of its weight scales; print it with `{}`.
    fn summary(&self) -> super::summary::Int8Summary<'_, Self> {
        super::summary::Int8Summary { net: self }
    }

    /// A zeroed workspace on the heap.
    #[cfg(feature = "alloc")]
    fn new_workspace() -> alloc::boxed::Box<Self::Workspace> {
        bytemuck::zeroed_box()
    }
}

/// One stored tensor of an int8 network, borrowed.
#[derive(Debug)]
pub enum Stored<'a> {
    /// Weights.
    I8(&'a [i8]),
    /// Biases.
    I32(&'a [i32]),
    /// Scales.
    F32(&'a [f32]),
}

/// One stored tensor of an int8 network, to fill.
#[derive(Debug)]
pub enum StoredMut<'a> {
    /// Weights.
    I8(&'a mut [i8]),
    /// Biases.
    I32(&'a mut [i32]),
    /// Scales.
    F32(&'a mut [f32]),
}

/// Why a network could not be quantized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QuantizeError {
    /// The parameters are not one per layer of the float network.
    Layers {
        /// The network's layers.
        expected: usize,
        /// The parameters given.
        found: usize,
    },
    /// A layer's weights or bias (a folded batch norm's included) are NaN
    /// or infinite.
    Weights {
        /// The layer's `state_dict` prefix.
        layer: &'static str,
        /// What is wrong.
        error: RangeError,
    },
}

impl fmt::Display for QuantizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantizeError::Layers { expected, found } => write!(
                f,
                "quantization parameters for {found} layers given, the network has {expected} (calibrate the same network)"
            ),
            QuantizeError::Weights { layer, error } => {
                write!(f, "cannot quantize the weights of layer `{layer}`: {error}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for QuantizeError {}
