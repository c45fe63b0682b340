//! Loading and saving weights in the [safetensors] format, as written by
//! PyTorch's `safetensors.torch.save_file(model.state_dict(), path)`.
//!
//! Available with the `alloc` feature; nothing here needs `std` except
//! `from_file`, which reads a path (feature `std`). The file is matched
//! against [`Network::PARAMS`]: every declared tensor must be present, under
//! its PyTorch `state_dict` key, with exactly the declared shape, stored as
//! `F32`, `F16` or `BF16` (half precision is converted exactly to `f32`).
//! Every tensor in the file must be a declared one, with one exception: keys
//! ending in `.num_batches_tracked` (a counter PyTorch's `BatchNorm` layers
//! keep for training) are ignored. The `__metadata__` header entry is
//! ignored.
//!
//! Loading is all-or-nothing: the whole file is checked before any weight is
//! written, so on error the network is left untouched. No input, however
//! malformed, makes the loader panic, and no tensor is ever built on the
//! stack: [`from_safetensors`] builds the network in place on the heap.
//!
//! A file that does not match is reported whole, in one
//! [`LoadError::Mismatch`]: every wrongly typed or shaped, missing and
//! unexpected tensor, and a [`Hint`] when the keys follow another naming
//! than the declaration's. For a LeNet-5 checkpoint of `nn.DataParallel`
//! (every key `module.…`), the error reads:
//!
//! ```text
//! the file does not match the network (20 problems):
//!   tensor `conv1.weight` is missing from the file (the network declares it with shape [6, 1, 5, 5])
//!   …
//!   unexpected tensor `module.fc3.weight` of shape [10, 84]: the network has no parameter of that name
//! help: every tensor the network declares is in the file under the prefix `module.`: load with `LoadOptions::new().strip_prefix("module.")`
//! ```
//!
//! [`LoadOptions`] say how to read the keys; [`check`] runs the checks on a
//! declaration given as plain data, which is how `#[weights]` checks a file
//! while compiling, with the same words.
//!
//! On the Python side:
//!
//! ```python
//! from safetensors.torch import save_file
//! save_file(model.state_dict(), "lenet.safetensors")
//! ```
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

mod check;
mod error;
mod hint;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use safetensors::{Dtype, View};

use crate::network::{Network, ParamInfo};

pub use check::{check, CheckedFile, CheckedTensor, Declared};
pub use error::{Hint, LoadError, Loader, TensorProblem, SHOWN_PROBLEMS};

/// The suffix of `state_dict` keys that are ignored when present.
///
/// PyTorch's `BatchNorm` layers keep a `num_batches_tracked` step counter
/// (an `I64` scalar) that plays no part in inference.
pub const IGNORED_SUFFIX: &str = ".num_batches_tracked";

/// How to read a file's keys; [`LoadOptions::new`] reads them as they are.
///
/// Passed to the `_with` loaders ([`from_safetensors_with`],
/// [`load_into_with`], [`from_file_with`] and the matching
/// [`Network`] methods). When a load fails because the file's keys carry a
/// prefix, the error's [`Hint`] names the exact option to use.
///
/// ```
/// use constnet_runtime::load::{self, LoadOptions};
/// use constnet_runtime::Network;
///
/// /// A checkpoint of `nn.DataParallel(model)`: every key is `module.…`.
/// fn from_data_parallel<N: Network>(bytes: &[u8]) -> Result<Box<N>, load::LoadError> {
///     N::from_safetensors_with(bytes, &LoadOptions::new().strip_prefix("module."))
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    prefix: String,
}

impl LoadOptions {
    /// Keys read as they are.
    #[must_use]
    pub const fn new() -> Self {
        LoadOptions {
            prefix: String::new(),
        }
    }

    /// Reads only the file's keys that start with `prefix`, with it removed:
    /// `module.conv1.weight` is read as `conv1.weight`.
    ///
    /// This is PyTorch's `{k.removeprefix(p): v for k, v in sd.items() if
    /// k.startswith(p)}`: the prefix selects a sub-module, and the file's
    /// other keys are ignored (a Lightning checkpoint may hold a loss
    /// module's tensors next to `model.…`). Under the prefix the usual rules
    /// hold: every declared tensor present, nothing undeclared. A prefix
    /// that no key of the file starts with is an error,
    /// [`LoadError::PrefixNotFound`], not a silent no-op: it is almost
    /// certainly a mistake. Give the whole prefix, dot included. An empty
    /// prefix reads every key, like [`LoadOptions::new`].
    #[must_use]
    pub fn strip_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The prefix to strip; empty for none.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// The declaration of `N` as plain data, for [`check`].
fn declared<N: Network>() -> Vec<Declared<'static>> {
    N::PARAMS.iter().map(|p| (p.name, p.shape)).collect()
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
/// [`LoadError::Mismatch`] with every tensor that does not match the
/// network, in the order documented there, and a [`Hint`] when the keys
/// follow another naming (a prefix, named layers against indices).
pub fn load_into<N: Network>(net: &mut N, bytes: &[u8]) -> Result<(), LoadError> {
    load_into_with(net, bytes, &LoadOptions::new())
}

/// [`load_into`], reading the file's keys as `options` say.
///
/// # Errors
///
/// As [`load_into`], plus [`LoadError::PrefixNotFound`] for a prefix to
/// strip that no key starts with.
pub fn load_into_with<N: Network>(
    net: &mut N,
    bytes: &[u8],
    options: &LoadOptions,
) -> Result<(), LoadError> {
    let file = check(bytes, &declared::<N>(), options)?;
    fill(net, &file)
}

/// Copies the tensors of a checked file into `net`.
fn fill<N: Network>(net: &mut N, file: &CheckedFile<'_>) -> Result<(), LoadError> {
    // A `Network` impl visits exactly the tensors of `PARAMS`, in order, and
    // `check` checked those; stay panic-free if an impl breaks that
    // contract, and say which tensor it visited wrongly.
    let mut next = 0;
    let mut stray: Option<&'static ParamInfo> = None;
    net.visit_params_mut(&mut |info, dst| {
        let index = match N::PARAMS.get(next) {
            Some(p) if p.name == info.name => Some(next),
            _ => N::PARAMS.iter().position(|p| p.name == info.name),
        };
        match index.and_then(|i| Some((i, file.tensor(i)?))) {
            Some((i, tensor)) if tensor.len() == dst.len() => {
                tensor.read_into(dst);
                next = i + 1;
            }
            _ => {
                stray.get_or_insert(info);
            }
        }
    });
    match stray {
        Some(info) => Err(LoadError::Mismatch {
            problems: alloc::vec![TensorProblem::Missing {
                tensor: info.name.to_string(),
                shape: info.shape.to_vec(),
            }],
            hint: None,
        }),
        None => Ok(()),
    }
}

/// Builds a network on the heap from a safetensors file's bytes.
///
/// The network is built zeroed in place ([`Network::new_zeroed`]) and then
/// filled, so no weight array ever crosses the stack: this works for
/// networks of any size on small stacks.
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
    from_safetensors_with(bytes, &LoadOptions::new())
}

/// [`from_safetensors`], reading the file's keys as `options` say.
///
/// ```
/// use constnet_runtime::load::{self, LoadError, LoadOptions};
/// use constnet_runtime::Network;
///
/// /// Loads a `state_dict`, saved plain or from `nn.DataParallel`.
/// fn open<N: Network>(bytes: &[u8]) -> Result<Box<N>, LoadError> {
///     match load::from_safetensors::<N>(bytes) {
///         Err(LoadError::Mismatch { hint: Some(load::Hint::StripPrefix { prefix, .. }), .. })
///             if prefix == "module." =>
///         {
///             load::from_safetensors_with(bytes, &LoadOptions::new().strip_prefix(prefix))
///         }
///         other => other,
///     }
/// }
/// ```
///
/// # Errors
///
/// As [`load_into_with`].
pub fn from_safetensors_with<N: Network>(
    bytes: &[u8],
    options: &LoadOptions,
) -> Result<Box<N>, LoadError> {
    // Check before allocating the (possibly large) network.
    let file = check(bytes, &declared::<N>(), options)?;
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
    from_file_with(path, &LoadOptions::new())
}

/// [`from_file`], reading the file's keys as `options` say.
///
/// # Errors
///
/// [`LoadError::Io`] if the file cannot be read, otherwise as
/// [`load_into_with`].
#[cfg(feature = "std")]
pub fn from_file_with<N: Network>(
    path: impl AsRef<std::path::Path>,
    options: &LoadOptions,
) -> Result<Box<N>, LoadError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|error| LoadError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    from_safetensors_with(&bytes, options)
}

/// One tensor ready to be written: its type, shape and little-endian
/// bytes (also the int8 networks' tensors, `quant::store`).
pub(crate) struct RawTensor {
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) data: Vec<u8>,
}

impl View for &RawTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
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
    let mut tensors: Vec<(&'static str, RawTensor)> = Vec::with_capacity(N::PARAMS.len());
    net.visit_params(&mut |info, src| {
        let mut data = Vec::with_capacity(src.len() * 4);
        for v in src {
            data.extend_from_slice(&v.to_le_bytes());
        }
        tensors.push((
            info.name,
            RawTensor {
                dtype: Dtype::F32,
                shape: info.shape.to_vec(),
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
    use alloc::vec;

    #[test]
    fn display_messages() {
        let shape = TensorProblem::WrongShape {
            tensor: "conv1.weight".into(),
            expected: vec![6, 1, 5, 5],
            found: vec![6, 3, 5, 5],
        };
        assert_eq!(
            shape.to_string(),
            "tensor `conv1.weight` has shape [6, 3, 5, 5], but the network declares [6, 1, 5, 5]"
        );
        let missing = TensorProblem::Missing {
            tensor: "fc3.bias".into(),
            shape: vec![10],
        };
        assert_eq!(
            missing.to_string(),
            "tensor `fc3.bias` is missing from the file (the network declares it with shape [10])"
        );
        // One problem alone is one line; more get a count and a line each.
        let one = LoadError::Mismatch {
            problems: vec![missing.clone()],
            hint: None,
        };
        assert_eq!(one.to_string(), missing.to_string());
        let two = LoadError::Mismatch {
            problems: vec![shape.clone(), missing.clone()],
            hint: None,
        };
        assert_eq!(
            two.to_string(),
            format!("the file does not match the network (2 problems):\n  {shape}\n  {missing}")
        );
    }

    #[test]
    fn hints_depend_on_the_loader() {
        let e = LoadError::Mismatch {
            problems: Vec::new(),
            hint: Some(Hint::StripPrefix {
                prefix: "module.".into(),
                found: 2,
                declared: 2,
            }),
        };
        let runtime = e.to_string();
        assert!(runtime.ends_with("strip_prefix(\"module.\")`"), "{runtime}");
        let baked = e.display_for(Loader::Baked).to_string();
        assert!(baked.contains("k.removeprefix(\"module.\")"), "{baked}");
    }

    #[test]
    fn short_inputs_are_malformed() {
        for bytes in [
            &b""[..],
            b"\x01",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x02\0\0\0\0\0\0\0{",
        ] {
            assert!(matches!(
                check::parse(bytes),
                Err(LoadError::Malformed { .. })
            ));
        }
    }
}
