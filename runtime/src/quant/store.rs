//! Saving and loading an int8 network as safetensors: calibrate once on a
//! host, ship the file (or bake it), and load it where it runs.
//!
//! The file holds, for each convolution and linear layer under its
//! `state_dict` prefix, `weight` (`I8`, PyTorch's shape), `bias` (`I32`)
//! and `weight_scale` (`F32`, one per output channel); and `values.scale`
//! (`F32`) and `values.zero_point` (`I8`), the parameters of the input and
//! of each node's output ([`Int8Network::values`]). The multipliers, zero
//! points and clamps are derived from these when loading, exactly as when
//! quantizing, so a loaded network gives the saved one's bits.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use safetensors::tensor::{Dtype, SafeTensors};

use super::network::{Int8Network, Stored, StoredMut};
use super::observe::QParams;
use crate::load::RawTensor;

/// Why an int8 file could not be loaded; every message names the tensor.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StoreError {
    /// Not a well-formed safetensors file (the crate's message).
    Malformed(String),
    /// A tensor the network stores is not in the file.
    Missing {
        /// Its name.
        tensor: String,
    },
    /// A tensor has another element type.
    WrongDtype {
        /// Its name.
        tensor: String,
        /// The type the network stores (`I8`, `I32`, `F32`).
        expected: &'static str,
        /// The type in the file.
        found: String,
    },
    /// A tensor has another shape.
    WrongShape {
        /// Its name.
        tensor: String,
        /// The network's.
        expected: Vec<usize>,
        /// The file's.
        found: Vec<usize>,
    },
    /// A scale is not a positive finite number.
    BadScale {
        /// The tensor.
        tensor: String,
        /// The index in it.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A zero point is not an `i8`.
    BadZeroPoint {
        /// The tensor.
        tensor: String,
        /// The value.
        value: i64,
    },
    /// The float network's weights could not be quantized (loading a
    /// network quantized elsewhere starts from it).
    Float(super::QuantizeError),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Malformed(reason) => write!(f, "not a safetensors file: {reason}"),
            StoreError::Missing { tensor } => {
                write!(f, "tensor `{tensor}` is missing from the file")
            }
            StoreError::WrongDtype {
                tensor,
                expected,
                found,
            } => write!(
                f,
                "tensor `{tensor}` has dtype {found}; the int8 network stores it as {expected}"
            ),
            StoreError::WrongShape {
                tensor,
                expected,
                found,
            } => write!(
                f,
                "tensor `{tensor}` has shape {found:?}, but the int8 network stores {expected:?}"
            ),
            StoreError::BadScale {
                tensor,
                index,
                value,
            } => write!(
                f,
                "tensor `{tensor}`[{index}] is {value}; a scale must be positive and finite"
            ),
            StoreError::BadZeroPoint { tensor, value } => write!(
                f,
                "tensor `{tensor}` is {value}; an int8 zero point must lie in [-128, 127]"
            ),
            StoreError::Float(e) => write!(f, "the float network: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for StoreError {}

fn raw(shape: &[usize], stored: &Stored<'_>) -> RawTensor {
    let (dtype, data) = match stored {
        Stored::I8(v) => (Dtype::I8, v.iter().map(|&x| x.to_le_bytes()[0]).collect()),
        Stored::I32(v) => (Dtype::I32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Stored::F32(v) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    RawTensor {
        dtype,
        shape: shape.to_vec(),
        data,
    }
}

/// The network's tensors as a safetensors file.
///
/// # Errors
///
/// [`StoreError::Malformed`] if the serializer refuses them (a header over
/// 100 MB).
pub fn to_safetensors<N: Int8Network>(net: &N) -> Result<Vec<u8>, StoreError> {
    let mut tensors: Vec<(String, RawTensor)> = Vec::new();
    net.visit_stored(&mut |name, shape, stored| {
        tensors.push((name.to_string(), raw(shape, &stored)))
    });
    let values = net.values();
    let scales: Vec<f32> = values.iter().map(|p| p.scale).collect();
    let zeros: Vec<i8> = values.iter().map(|p| p.zero_point).collect();
    tensors.push((
        "values.scale".into(),
        raw(&[scales.len()], &Stored::F32(&scales)),
    ));
    tensors.push((
        "values.zero_point".into(),
        raw(&[zeros.len()], &Stored::I8(&zeros)),
    ));
    let metadata = Some(
        [("format".to_string(), "constnet-int8".to_string())]
            .into_iter()
            .collect(),
    );
    safetensors::serialize(tensors.iter().map(|(k, t)| (k.as_str(), t)), metadata)
        .map_err(|e| StoreError::Malformed(format!("cannot serialise: {e}")))
}

/// Reads tensor `name` of `shape` into `dst`, checking its type and shape.
pub(super) fn read(
    file: &SafeTensors<'_>,
    name: &str,
    shape: &[usize],
    dst: StoredMut<'_>,
) -> Result<(), StoreError> {
    let t = file.tensor(name).map_err(|_| StoreError::Missing {
        tensor: name.to_string(),
    })?;
    let (expected, dtype) = match dst {
        StoredMut::I8(_) => ("I8", Dtype::I8),
        StoredMut::I32(_) => ("I32", Dtype::I32),
        StoredMut::F32(_) => ("F32", Dtype::F32),
    };
    if t.dtype() != dtype {
        return Err(StoreError::WrongDtype {
            tensor: name.to_string(),
            expected,
            found: format!("{:?}", t.dtype()),
        });
    }
    if t.shape() != shape {
        return Err(StoreError::WrongShape {
            tensor: name.to_string(),
            expected: shape.to_vec(),
            found: t.shape().to_vec(),
        });
    }
    let bytes = t.data();
    match dst {
        StoredMut::I8(d) => d
            .iter_mut()
            .zip(bytes)
            .for_each(|(d, &b)| *d = i8::from_le_bytes([b])),
        StoredMut::I32(d) => {
            for (d, b) in d.iter_mut().zip(bytes.chunks_exact(4)) {
                *d = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        StoredMut::F32(d) => {
            for (i, (d, b)) in d.iter_mut().zip(bytes.chunks_exact(4)).enumerate() {
                *d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if !(d.is_finite() && *d > 0.0) {
                    return Err(StoreError::BadScale {
                        tensor: name.to_string(),
                        index: i,
                        value: *d,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The element type of a tensor an int8 file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `I8`: weights, zero points.
    I8,
    /// `I32`: biases.
    I32,
    /// `F32`: scales (positive and finite).
    F32,
}

/// A tensor read by [`check`], decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    /// An `I8` tensor.
    I8(Vec<i8>),
    /// An `I32` tensor.
    I32(Vec<i32>),
    /// An `F32` tensor.
    F32(Vec<f32>),
}

/// Checks that the int8 file `bytes` holds each `(name, shape, kind)` of
/// `wanted` as [`from_safetensors`] would, and decodes them in that order:
/// what `#[int8(weights = "…")]` bakes in while compiling, so that a file
/// it accepts is exactly one the loader accepts.
///
/// # Errors
///
/// Every tensor that is missing, of another type or shape, or holds a
/// scale that is not positive and finite; or the one
/// [`StoreError::Malformed`].
pub fn check(
    bytes: &[u8],
    wanted: &[(&str, &[usize], Kind)],
) -> Result<Vec<Decoded>, Vec<StoreError>> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| alloc::vec![StoreError::Malformed(e.to_string())])?;
    let (mut decoded, mut errors) = (Vec::new(), Vec::new());
    for &(name, shape, kind) in wanted {
        // Sized by the file's tensor only once its shape is the one wanted
        // (its data then holds exactly that many values): a declared shape
        // the file does not have allocates nothing, however large.
        let len = match file.tensor(name) {
            Ok(t) if t.shape() == shape => shape.iter().product(),
            _ => 0,
        };
        let mut tensor = match kind {
            Kind::I8 => Decoded::I8(alloc::vec![0; len]),
            Kind::I32 => Decoded::I32(alloc::vec![0; len]),
            Kind::F32 => Decoded::F32(alloc::vec![0.0; len]),
        };
        let dst = match &mut tensor {
            Decoded::I8(v) => StoredMut::I8(v),
            Decoded::I32(v) => StoredMut::I32(v),
            Decoded::F32(v) => StoredMut::F32(v),
        };
        match read(&file, name, shape, dst) {
            Ok(()) => decoded.push(tensor),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(decoded)
    } else {
        Err(errors)
    }
}

/// The int8 network saved by [`to_safetensors`], on the heap.
///
/// # Errors
///
/// [`StoreError`] naming the first tensor that is missing, of another type
/// or shape, or holds a scale that is not positive and finite.
pub fn from_safetensors<N: Int8Network>(bytes: &[u8]) -> Result<Box<N>, StoreError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| StoreError::Malformed(e.to_string()))?;
    let mut net: Box<N> = bytemuck::zeroed_box();
    let mut result = Ok(());
    net.visit_stored_mut(&mut |name, shape, dst| {
        if result.is_ok() {
            result = read(&file, name, shape, dst);
        }
    });
    result?;
    let n = net.values().len();
    let mut scales = alloc::vec![0f32; n];
    let mut zeros = alloc::vec![0i8; n];
    read(&file, "values.scale", &[n], StoredMut::F32(&mut scales))?;
    read(&file, "values.zero_point", &[n], StoredMut::I8(&mut zeros))?;
    for ((p, &scale), &zero_point) in net.values_mut().iter_mut().zip(&scales).zip(&zeros) {
        *p = QParams { scale, zero_point };
    }
    net.restore();
    Ok(net)
}
