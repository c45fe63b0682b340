//! Calibration: the quantization parameters of a float network's input and
//! of every layer's output, from representative inputs.
//!
//! [`calibrate`] runs the float network on each input with
//! [`Network::forward_traced`], feeds every layer's output to one observer
//! per layer, and turns the ranges into [`QParams`] as TFLite's calibrator
//! does ([`QParams::from_range`]). [`Method::Percentile`] makes two passes:
//! the first finds each tensor's extremes, the second fills a histogram
//! over them.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use super::observe::{MinMax, Observer, Percentile, QParams, RangeError};
use crate::network::{LayerInfo, Network, Trace};
use crate::tensor::Tensor;

/// How ranges are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The extremes of all the values seen ([`MinMax`]).
    MinMax,
    /// The range holding all but this fraction of the values at each end
    /// ([`Percentile`]), e.g. `1e-4` for the 0.01st and 99.99th percentiles.
    Percentile(f64),
}

/// Quantization parameters for a network's input and each layer's output,
/// in the order of [`Network::LAYERS`].
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// The input's.
    pub input: QParams,
    /// Each layer's output's, with the layer.
    pub layers: Vec<(&'static LayerInfo, QParams)>,
}

/// Why calibration failed: which tensor, and what is wrong with its values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CalibrationError {
    /// No inputs were given.
    NoInputs,
    /// An input holds NaN or an infinity (`index` in the inputs given).
    BadInput {
        /// The input's index.
        index: usize,
    },
    /// A tensor's values give no parameters: `layer` is `None` for the
    /// network's input.
    Range {
        /// The layer whose output it is.
        layer: Option<&'static str>,
        /// What is wrong.
        error: RangeError,
    },
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationError::NoInputs => {
                write!(f, "calibration needs at least one input, none were given")
            }
            CalibrationError::BadInput { index } => {
                write!(
                    f,
                    "calibration input {index} holds NaN or an infinite value"
                )
            }
            CalibrationError::Range { layer: None, error } => {
                write!(f, "cannot quantize the network's input: {error}")
            }
            CalibrationError::Range {
                layer: Some(name),
                error,
            } => write!(f, "cannot quantize the output of layer `{name}`: {error}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CalibrationError {}

/// Calibrates `net` on `inputs` with `method`.
///
/// # Errors
///
/// [`CalibrationError::NoInputs`] for no inputs, [`CalibrationError::BadInput`]
/// for an input holding NaN or an infinity, and
/// [`CalibrationError::Range`] naming the first tensor whose values give no
/// parameters: a layer whose outputs are all 0 on every input (constant
/// inputs, or a dead ReLU), or NaN or infinite.
pub fn calibrate<N: Network>(
    net: &N,
    inputs: &[N::Input],
    method: Method,
) -> Result<Calibration, CalibrationError> {
    if inputs.is_empty() {
        return Err(CalibrationError::NoInputs);
    }
    if let Some(index) = inputs
        .iter()
        .position(|x| x.as_flat().iter().any(|v| !v.is_finite()))
    {
        return Err(CalibrationError::BadInput { index });
    }
    let mut trace = N::new_trace();
    let mut extremes: Vec<MinMax> = (0..=N::LAYERS.len()).map(|_| MinMax::default()).collect();
    run(net, inputs, &mut trace, &mut extremes);
    let ranges = match method {
        Method::MinMax => ranges::<N, _>(&extremes)?,
        Method::Percentile(fraction) => {
            let mut hist = ranges::<N, _>(&extremes)?
                .iter()
                .map(|&(lo, hi)| Box::new(Percentile::new(fraction, lo, hi)))
                .collect::<Vec<_>>();
            run(net, inputs, &mut trace, &mut hist);
            ranges::<N, _>(&hist)?
        }
    };
    let params = |i: usize, (lo, hi): (f32, f32)| {
        QParams::from_range(lo, hi).map_err(|error| range_error::<N>(i, error))
    };
    let mut layers = Vec::with_capacity(N::LAYERS.len());
    for (i, layer) in N::LAYERS.iter().enumerate() {
        layers.push((layer, params(i + 1, ranges[i + 1])?));
    }
    Ok(Calibration {
        input: params(0, ranges[0])?,
        layers,
    })
}

/// Feeds observer 0 every input and observer `i + 1` layer `i`'s outputs.
fn run<N: Network, O: Observer>(
    net: &N,
    inputs: &[N::Input],
    trace: &mut N::Trace,
    observers: &mut [O],
) {
    for x in inputs {
        observers[0].observe(x.as_flat());
        net.forward_traced(x, trace);
        let mut i = 1;
        trace.visit(&mut |_, values| {
            observers[i].observe(values);
            i += 1;
        });
    }
}

/// Every observer's range, or the first error with its tensor.
fn ranges<N: Network, O: Observer>(observers: &[O]) -> Result<Vec<(f32, f32)>, CalibrationError> {
    observers
        .iter()
        .enumerate()
        .map(|(i, o)| o.range().map_err(|e| range_error::<N>(i, e)))
        .collect()
}

/// The error for tensor `i` (0 the input, `i` layer `i − 1`'s output).
fn range_error<N: Network>(i: usize, error: RangeError) -> CalibrationError {
    CalibrationError::Range {
        layer: i.checked_sub(1).map(|l| N::LAYERS[l].name),
        error,
    }
}

impl<O: Observer + ?Sized> Observer for Box<O> {
    fn observe(&mut self, values: &[f32]) {
        (**self).observe(values);
    }

    fn range(&self) -> Result<(f32, f32), RangeError> {
        (**self).range()
    }
}
