//! Matching a file against a declaration: every problem collected, then a
//! hint looked for in their pattern.
//!
//! The declaration is plain data, `(key, shape)` pairs, so that the
//! `#[weights]` macro, which has no `Network` type yet, runs exactly these
//! checks while compiling.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use super::error::{Hint, LoadError, TensorProblem};
use super::{LoadOptions, IGNORED_SUFFIX};

/// A declared tensor: its `state_dict` key and shape.
pub type Declared<'d> = (&'d str, &'d [usize]);

/// A file that passed [`check`]: every declared tensor is present, stored as
/// `F32`, `F16` or `BF16`, with exactly the declared shape.
#[derive(Debug)]
pub struct CheckedFile<'a> {
    /// One view per declared tensor, in declaration order.
    tensors: Vec<TensorView<'a>>,
}

/// One declared tensor of a [`CheckedFile`], ready to be read as `f32`.
#[derive(Clone, Copy, Debug)]
pub struct CheckedTensor<'t> {
    view: &'t TensorView<'t>,
}

/// Checks `bytes` against the `declared` tensors, with `options`, and
/// returns the checked file, from which each tensor can be read as `f32`.
///
/// This is the whole of the loader's checking, for code that has the
/// declaration as data rather than as a [`Network`](crate::Network) type
/// (the `#[weights]` macro calls it while compiling). Every problem is
/// reported at once; nothing panics, whatever the bytes.
///
/// ```
/// use constnet_runtime::load::{self, LoadOptions};
///
/// # let header = r#"{"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"fc.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}"#;
/// # let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
/// # bytes.extend_from_slice(header.as_bytes());
/// # for v in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5, -0.5] {
/// #     bytes.extend_from_slice(&v.to_le_bytes());
/// # }
/// let declared: [(&str, &[usize]); 2] = [("fc.weight", &[2, 3]), ("fc.bias", &[2])];
/// let file = load::check(&bytes, &declared, &LoadOptions::new())?;
/// let weight: Vec<f32> = file.tensor(0).map(|t| t.to_vec()).unwrap_or_default();
/// assert_eq!(weight, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
///
/// let wrong: [(&str, &[usize]); 1] = [("fc.weight", &[3, 2])];
/// let error = load::check(&bytes, &wrong, &LoadOptions::new()).unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "the file does not match the network (2 problems):\n  \
///      tensor `fc.weight` has shape [2, 3], but the network declares [3, 2]\n  \
///      unexpected tensor `fc.bias` of shape [2]: the network has no parameter of that name",
/// );
/// # Ok::<(), load::LoadError>(())
/// ```
///
/// # Errors
///
/// [`LoadError::Malformed`] if `bytes` are not a safetensors file,
/// [`LoadError::PrefixNotFound`] if a prefix to strip begins no key, and
/// otherwise [`LoadError::Mismatch`] with every problem.
pub fn check<'a>(
    bytes: &'a [u8],
    declared: &[Declared<'_>],
    options: &LoadOptions,
) -> Result<CheckedFile<'a>, LoadError> {
    let file = parse(bytes)?;
    let keys = select(&file, options)?;
    let tensors = match_keys(&keys, declared).map_err(|problems| LoadError::Mismatch {
        hint: hint(&file, &keys, declared, &problems, options),
        problems,
    })?;
    Ok(CheckedFile { tensors })
}

/// The file's tensors that the loader reads, by the key they are matched
/// under (the prefix to strip removed), with the key as the file spells it.
type Selected<'f, 'a> = BTreeMap<&'f str, (&'f str, TensorView<'a>)>;

/// The tensors under the prefix to strip, or all of them.
fn select<'f, 'a>(
    file: &'f SafeTensors<'a>,
    options: &LoadOptions,
) -> Result<Selected<'f, 'a>, LoadError> {
    let prefix = options.prefix();
    let keys: Selected<'f, 'a> = file
        .iter()
        .filter_map(|(key, view)| Some((key.strip_prefix(prefix)?, (key, view))))
        .collect();
    if keys.is_empty() && !file.is_empty() {
        return Err(LoadError::PrefixNotFound {
            prefix: prefix.to_string(),
            sample: file
                .iter()
                .map(|(key, _)| key)
                .min()
                .map(ToString::to_string),
        });
    }
    Ok(keys)
}

/// One view per declared tensor, or every problem in the documented order.
fn match_keys<'a>(
    keys: &Selected<'_, 'a>,
    declared: &[Declared<'_>],
) -> Result<Vec<TensorView<'a>>, Vec<TensorProblem>> {
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    let mut views = Vec::with_capacity(declared.len());
    for &(name, shape) in declared {
        match keys.get(name) {
            None => missing.push(TensorProblem::Missing {
                tensor: name.to_string(),
                shape: shape.to_vec(),
            }),
            Some((_, view)) => match problem(name, shape, view) {
                Some(p) => problems.push(p),
                None => views.push(view.clone()),
            },
        }
    }
    problems.append(&mut missing);
    problems.extend(unexpected(keys, declared));
    if problems.is_empty() {
        Ok(views)
    } else {
        Err(problems)
    }
}

/// What is wrong with a present tensor, if anything.
fn problem(name: &str, shape: &[usize], view: &TensorView<'_>) -> Option<TensorProblem> {
    if !loadable(view.dtype()) {
        Some(TensorProblem::WrongDtype {
            tensor: name.to_string(),
            dtype: view.dtype().to_string(),
        })
    } else if view.shape() != shape {
        Some(TensorProblem::WrongShape {
            tensor: name.to_string(),
            expected: shape.to_vec(),
            found: view.shape().to_vec(),
        })
    } else {
        None
    }
}

/// The selected tensors that are not declared, in the byte order of the
/// file's keys (never hash order), `*.num_batches_tracked` excepted.
fn unexpected<'k>(
    keys: &'k Selected<'_, '_>,
    declared: &[Declared<'_>],
) -> impl Iterator<Item = TensorProblem> + 'k {
    let names: BTreeSet<&str> = declared.iter().map(|&(name, _)| name).collect();
    let mut stray: Vec<(&str, &TensorView<'_>)> = keys
        .iter()
        .filter(|(key, _)| !names.contains(*key) && !key.ends_with(IGNORED_SUFFIX))
        .map(|(_, (original, view))| (*original, view))
        .collect();
    stray.sort_unstable_by_key(|&(original, _)| original);
    stray
        .into_iter()
        .map(|(original, view)| TensorProblem::Unexpected {
            tensor: original.to_string(),
            shape: view.shape().to_vec(),
        })
}

/// Whether `dtype` is one the loader converts to `f32`.
fn loadable(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16)
}

/// What the pattern of `problems` suggests: a prefix to strip first (it
/// explains the most), else a naming style.
fn hint(
    file: &SafeTensors<'_>,
    keys: &Selected<'_, '_>,
    declared: &[Declared<'_>],
    problems: &[TensorProblem],
    options: &LoadOptions,
) -> Option<Hint> {
    let found_now = declared
        .iter()
        .filter(|(name, _)| keys.contains_key(name))
        .count();
    super::hint::prefix(file, found_now, declared)
        .or_else(|| super::hint::naming(problems, options.prefix()))
}

/// Parses the header, with messages that say what is wrong in plain words
/// for the common cases (empty, truncated, not safetensors at all).
pub(super) fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>, LoadError> {
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

impl<'a> CheckedFile<'a> {
    /// The number of declared tensors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the declaration has no tensor.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The declared tensor at `index` (declaration order), or `None` past
    /// the end.
    #[must_use]
    pub fn tensor(&self, index: usize) -> Option<CheckedTensor<'_>> {
        self.tensors.get(index).map(|view| CheckedTensor { view })
    }

    /// The declared tensors, in declaration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = CheckedTensor<'_>> {
        self.tensors.iter().map(|view| CheckedTensor { view })
    }
}

impl CheckedTensor<'_> {
    /// The tensor's shape (the declared one).
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        self.view.shape()
    }

    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        // From the bytes, not the shape: safetensors checked that they agree,
        // and a division cannot overflow.
        self.view.data().len() / self.element_bytes()
    }

    fn element_bytes(&self) -> usize {
        match self.view.dtype() {
            Dtype::F16 | Dtype::BF16 => 2,
            _ => 4,
        }
    }

    /// Whether the tensor has no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Converts the elements to `f32` into `dst`, row-major, and returns how
    /// many were written: `min(dst.len(), self.len())`.
    ///
    /// `F32` is copied; `F16` and `BF16` widen exactly (NaNs stay NaN,
    /// subnormals and infinities are kept). Bytes are read, never cast, so
    /// the data may sit at any alignment.
    pub fn read_into(&self, dst: &mut [f32]) -> usize {
        let data = self.view.data();
        match self.view.dtype() {
            Dtype::F16 => widen(dst, data, |b| half::f16::from_le_bytes(b).to_f32()),
            Dtype::BF16 => widen(dst, data, |b| half::bf16::from_le_bytes(b).to_f32()),
            // `check` lets only F32, F16 and BF16 through.
            _ => widen(dst, data, f32::from_le_bytes),
        }
    }

    /// The elements as `f32`, row-major.
    #[must_use]
    pub fn to_vec(&self) -> Vec<f32> {
        let mut v = alloc::vec![0.0; self.len()];
        let n = self.read_into(&mut v);
        v.truncate(n);
        v
    }
}

/// Decodes little-endian `N`-byte elements of `data` into `dst`.
fn widen<const N: usize>(dst: &mut [f32], data: &[u8], decode: impl Fn([u8; N]) -> f32) -> usize {
    let mut n = 0;
    for (d, s) in dst.iter_mut().zip(data.as_chunks::<N>().0) {
        *d = decode(*s);
        n += 1;
    }
    n
}
