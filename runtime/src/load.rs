//! Loading and saving weights in the [safetensors] format, as written by
//! PyTorch's `safetensors.torch.save_file(model.state_dict(), path)`.
//!
//! Available with the `alloc` feature; nothing here needs `std` except
//! `from_file`, which reads a path (feature `std`). The file is matched against [`Network::PARAMS`]: every
//! declared tensor must be present, under its PyTorch `state_dict` key, with
//! exactly the declared shape, stored as `F32`, `F16` or `BF16` (half
//! precision is converted exactly to `f32`). Every tensor in the file must be
//! a declared one, with one exception: keys ending in `.num_batches_tracked`
//! (a counter PyTorch's `BatchNorm` layers keep for training) are ignored.
//! The `__metadata__` header entry is ignored.
//!
//! Loading is all-or-nothing: the whole file is checked before any weight is
//! written, so on error the network is left untouched. No input, however
//! malformed, makes the loader panic, and no tensor is ever built on the
//! stack: [`from_safetensors`] builds the network in place on the heap.
//!
//! On the Python side:
//!
//! ```python
//! from safetensors.torch import save_file
//! save_file(model.state_dict(), "lenet.safetensors")
//! ```
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};

use crate::network::{Network, ParamInfo};

/// The suffix of `state_dict` keys that are ignored when present.
///
/// PyTorch's `BatchNorm` layers keep a `num_batches_tracked` step counter
/// (an `I64` scalar) that plays no part in inference.
pub const IGNORED_SUFFIX: &str = ".num_batches_tracked";

/// Why a safetensors file could not be loaded into (or written from) a
/// network.
///
/// Each variant's `Display` names the tensor at fault and shows what the file
/// holds next to what the network declares.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not a well-formed safetensors file: too short, truncated,
    /// a header length pointing past the end, a header that is not UTF-8 JSON,
    /// or inconsistent tensor offsets.
    Malformed {
        /// What is wrong, including the `safetensors` crate's own message.
        reason: String,
    },
    /// A tensor the network declares is not in the file.
    Missing {
        /// The `state_dict` key, e.g. `fc3.bias`.
        tensor: &'static str,
        /// The shape the network declares for it.
        shape: &'static [usize],
    },
    /// The file holds a tensor the network does not declare.
    Unexpected {
        /// The key found in the file.
        tensor: String,
    },
    /// A tensor is stored with an element type other than `F32`, `F16` or
    /// `BF16`.
    WrongDtype {
        /// The `state_dict` key.
        tensor: &'static str,
        /// The element type in the file, as safetensors spells it (`I64`,
        /// `F64`, ...).
        dtype: String,
    },
    /// A tensor's shape in the file differs from the declared one.
    WrongShape {
        /// The `state_dict` key.
        tensor: &'static str,
        /// The shape the network declares.
        expected: &'static [usize],
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// The file could not be read.
    #[cfg(feature = "std")]
    Io {
        /// The path given to [`from_file`].
        path: std::path::PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Malformed { reason } => {
                write!(f, "not a valid safetensors file: {reason}")
            }
            LoadError::Missing { tensor, shape } => write!(
                f,
                "tensor `{tensor}` is missing from the file \
                 (the network declares it with shape {shape:?})"
            ),
            LoadError::Unexpected { tensor } => write!(
                f,
                "unexpected tensor `{tensor}`: the network has no parameter of that name"
            ),
            LoadError::WrongDtype { tensor, dtype } => write!(
                f,
                "tensor `{tensor}` has dtype {dtype}; only F32, F16 and BF16 can be loaded"
            ),
            LoadError::WrongShape {
                tensor,
                expected,
                found,
            } => write!(
                f,
                "tensor `{tensor}` has shape {found:?}, but the network declares {expected:?}"
            ),
            #[cfg(feature = "std")]
            LoadError::Io { path, error } => {
                write!(f, "cannot read `{}`: {error}", path.display())
            }
        }
    }
}

impl core::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            #[cfg(feature = "std")]
            LoadError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Parses the header, with messages that say what is wrong in plain words
/// for the common cases (empty, truncated, not safetensors at all).
fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>, LoadError> {
    let malformed = |reason: String| LoadError::Malformed { reason };
    let Some((prefix, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(malformed(if bytes.is_empty() {
            "the file is empty".to_string()
        } else {
            format!(
                "the file is {} bytes long, shorter than the 8-byte header length",
                bytes.len()
            )
        }));
    };
    let header_len = u64::from_le_bytes(*prefix);
    if header_len > rest.len() as u64 {
        return Err(malformed(format!(
            "the header length field says {header_len} bytes, but only {} bytes follow \
             (truncated, or not a safetensors file)",
            rest.len()
        )));
    }
    SafeTensors::deserialize(bytes).map_err(|e| {
        let hint = match e {
            SafeTensorError::MetadataIncompleteBuffer => {
                " (the tensor data does not fill the file exactly: truncated or trailing bytes)"
            }
            SafeTensorError::InvalidHeader(_)
            | SafeTensorError::InvalidHeaderDeserialization(_) => " (not a safetensors file?)",
            _ => "",
        };
        malformed(format!("{e}{hint}"))
    })
}

/// Whether `dtype` is one the loader converts to `f32`.
fn loadable(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16)
}

/// Checks the file against `params` without writing anything.
fn validate(file: &SafeTensors<'_>, params: &'static [ParamInfo]) -> Result<(), LoadError> {
    for param in params {
        let view = file.tensor(param.name).map_err(|_| LoadError::Missing {
            tensor: param.name,
            shape: param.shape,
        })?;
        if !loadable(view.dtype()) {
            return Err(LoadError::WrongDtype {
                tensor: param.name,
                dtype: view.dtype().to_string(),
            });
        }
        if view.shape() != param.shape {
            return Err(LoadError::WrongShape {
                tensor: param.name,
                expected: param.shape,
                found: view.shape().to_vec(),
            });
        }
    }
    // Report the alphabetically first stray key, so that the error does not
    // depend on hash-map iteration order.
    let unexpected = file
        .names()
        .into_iter()
        .filter(|name| !params.iter().any(|p| p.name == *name) && !name.ends_with(IGNORED_SUFFIX))
        .min();
    match unexpected {
        Some(name) => Err(LoadError::Unexpected {
            tensor: name.to_string(),
        }),
        None => Ok(()),
    }
}

/// Converts little-endian `F32`/`F16`/`BF16` bytes into `dst`.
///
/// Reads bytes, never casts pointers, so the tensor data may sit at any
/// alignment in the buffer. Half-precision values widen exactly (NaNs stay
/// NaN). The caller has checked the dtype and that the element counts agree.
fn convert(view: &TensorView<'_>, dst: &mut [f32]) {
    let data = view.data();
    match view.dtype() {
        Dtype::F32 => {
            for (d, s) in dst.iter_mut().zip(data.as_chunks::<4>().0) {
                *d = f32::from_le_bytes(*s);
            }
        }
        Dtype::F16 => {
            for (d, s) in dst.iter_mut().zip(data.as_chunks::<2>().0) {
                *d = half::f16::from_le_bytes(*s).to_f32();
            }
        }
        Dtype::BF16 => {
            for (d, s) in dst.iter_mut().zip(data.as_chunks::<2>().0) {
                *d = half::bf16::from_le_bytes(*s).to_f32();
            }
        }
        // Excluded by `validate`.
        _ => {}
    }
}

/// Loads a safetensors file's tensors into an existing network.
///
/// Everything is checked first — every tensor of [`Network::PARAMS`] present,
/// no undeclared tensor (keys ending in `.num_batches_tracked` excepted),
/// dtypes `F32`/`F16`/`BF16`, shapes exactly as declared — and only then are
/// the weights overwritten; on error `net` is unchanged. Never panics,
/// whatever the bytes; the data may sit at any alignment in `bytes`.
///
/// ```
/// use constnet_runtime::{load, Network};
///
/// /// Reloads fresh weights into a network that is already running.
/// fn reload<N: Network>(net: &mut N, bytes: &[u8]) -> Result<(), load::LoadError> {
///     load::load_into(net, bytes)
/// }
/// ```
///
/// # Errors
///
/// [`LoadError::Malformed`] if `bytes` are not a safetensors file, otherwise
/// the first mismatch against the network: [`LoadError::Missing`],
/// [`LoadError::WrongDtype`], [`LoadError::WrongShape`] (checked in
/// declaration order), then [`LoadError::Unexpected`].
pub fn load_into<N: Network>(net: &mut N, bytes: &[u8]) -> Result<(), LoadError> {
    let file = parse(bytes)?;
    validate(&file, N::PARAMS)?;
    fill(net, &file)
}

/// Copies the tensors of a validated file into `net`.
fn fill<N: Network>(net: &mut N, file: &SafeTensors<'_>) -> Result<(), LoadError> {
    // A `Network` impl visits exactly the tensors of `PARAMS`, which
    // `validate` checked, so every lookup below succeeds; stay panic-free
    // if an impl breaks that contract.
    let mut stray: Option<&'static ParamInfo> = None;
    net.visit_params_mut(&mut |info, dst| match file.tensor(info.name) {
        Ok(view) if loadable(view.dtype()) && view.shape() == info.shape => {
            debug_assert_eq!(dst.len(), info.len(), "`{}`: slice length", info.name);
            convert(&view, dst);
        }
        _ => {
            stray.get_or_insert(info);
        }
    });
    match stray {
        Some(info) => Err(LoadError::Missing {
            tensor: info.name,
            shape: info.shape,
        }),
        None => Ok(()),
    }
}

/// Builds a network on the heap from a safetensors file's bytes.
///
/// The network is built zeroed in place ([`Network::new_zeroed`]) and then
/// filled by [`load_into`], so no weight array ever crosses the stack: this
/// works for networks of any size on small stacks.
///
/// ```
/// use constnet_runtime::{load, Network};
///
/// /// Weights exported with
/// /// `safetensors.torch.save_file(model.state_dict(), "net.safetensors")`
/// /// and embedded in the binary with `include_bytes!`.
/// fn build<N: Network>(bytes: &[u8]) -> Box<N> {
///     match load::from_safetensors::<N>(bytes) {
///         Ok(net) => net,
///         Err(e) => panic!("{e}"),
///     }
/// }
/// ```
///
/// # Errors
///
/// As [`load_into`].
pub fn from_safetensors<N: Network>(bytes: &[u8]) -> Result<Box<N>, LoadError> {
    // Parse and check before allocating the (possibly large) network.
    let file = parse(bytes)?;
    validate(&file, N::PARAMS)?;
    let mut net = N::new_zeroed();
    fill(&mut *net, &file)?;
    Ok(net)
}

/// Reads a safetensors file and builds a network on the heap from it.
///
/// Requires the `std` feature.
///
/// ```no_run
/// use constnet_runtime::{load, Network};
///
/// fn open<N: Network>() -> Result<Box<N>, load::LoadError> {
///     load::from_file::<N>("lenet.safetensors")
/// }
/// ```
///
/// # Errors
///
/// [`LoadError::Io`] if the file cannot be read, otherwise as [`load_into`].
#[cfg(feature = "std")]
pub fn from_file<N: Network>(path: impl AsRef<std::path::Path>) -> Result<Box<N>, LoadError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|error| LoadError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    from_safetensors(&bytes)
}

/// One tensor ready to be written: `F32`, little-endian bytes.
struct F32Tensor {
    shape: &'static [usize],
    data: Vec<u8>,
}

impl View for &F32Tensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> alloc::borrow::Cow<'_, [u8]> {
        alloc::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Serialises a network's weights as a safetensors file: one `F32` tensor per
/// entry of [`Network::PARAMS`], under its PyTorch `state_dict` key, with
/// `{"format": "pt"}` metadata.
///
/// [`from_safetensors`] reads the result back bit for bit, and so does
/// `model.load_state_dict(safetensors.torch.load_file(path))` on a PyTorch
/// model with the same layers.
///
/// ```
/// use constnet_runtime::{load, Network};
///
/// fn checkpoint<N: Network>(net: &N) -> Vec<u8> {
///     load::to_safetensors(net).expect("weights serialise")
/// }
/// ```
///
/// # Errors
///
/// [`LoadError::Malformed`] if the `safetensors` serializer refuses the
/// tensors, which happens only for a header over 100 MB.
pub fn to_safetensors<N: Network>(net: &N) -> Result<Vec<u8>, LoadError> {
    let mut tensors: Vec<(&'static str, F32Tensor)> = Vec::with_capacity(N::PARAMS.len());
    net.visit_params(&mut |info, src| {
        let mut data = Vec::with_capacity(src.len() * 4);
        for v in src {
            data.extend_from_slice(&v.to_le_bytes());
        }
        tensors.push((
            info.name,
            F32Tensor {
                shape: info.shape,
                data,
            },
        ));
    });
    let metadata = Some(
        [("format".to_string(), "pt".to_string())]
            .into_iter()
            .collect(),
    );
    safetensors::serialize(tensors.iter().map(|(k, t)| (*k, t)), metadata).map_err(|e| {
        LoadError::Malformed {
            reason: format!("cannot serialise the weights: {e}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_messages() {
        let e = LoadError::WrongShape {
            tensor: "conv1.weight",
            expected: &[6, 1, 5, 5],
            found: alloc::vec![6, 3, 5, 5],
        };
        assert_eq!(
            e.to_string(),
            "tensor `conv1.weight` has shape [6, 3, 5, 5], but the network declares [6, 1, 5, 5]"
        );
        let e = LoadError::Missing {
            tensor: "fc3.bias",
            shape: &[10],
        };
        assert_eq!(
            e.to_string(),
            "tensor `fc3.bias` is missing from the file (the network declares it with shape [10])"
        );
    }

    #[test]
    fn short_inputs_are_malformed() {
        for bytes in [
            &b""[..],
            b"\x01",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x02\0\0\0\0\0\0\0{",
        ] {
            assert!(matches!(parse(bytes), Err(LoadError::Malformed { .. })));
        }
    }
}
