//! What can go wrong when a file is matched against a declaration, and how
//! it is worded.
//!
//! The wording lives here, in one place, because two loaders use it: the
//! run-time loader ([`LoadError`]'s `Display`) and the `#[weights]` macro,
//! whose compile errors are the same text ([`LoadError::display_for`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// How many problems [`LoadError::Mismatch`]'s `Display` lists before it
/// sums up the rest as "… and N more problems".
///
/// A file of an altogether different model can disagree on thousands of
/// tensors; the first ones say what is wrong, the rest only bury it. The
/// full list is always in [`LoadError::Mismatch::problems`].
pub const SHOWN_PROBLEMS: usize = 20;

/// How many layer renames a [`Hint`] spells out before it writes "…".
const SHOWN_RENAMES: usize = 8;

/// Why a safetensors file could not be loaded into (or written from) a
/// network.
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
    /// The file is well formed, but its tensors do not match the network's.
    ///
    /// `problems` lists every one of them, never just the first, in this
    /// order (see [`TensorProblem`]): tensors that are present but of the
    /// wrong dtype or shape, in declaration order; then missing tensors, in
    /// declaration order; then unexpected tensors, in the byte order of their
    /// keys. Present-but-wrong tensors come first because they are the most
    /// telling (a layer of another size); missing and unexpected tensors are
    /// often two sides of one naming mistake, which `hint` then names.
    Mismatch {
        /// Every problem, in the order above; never empty when returned by
        /// this crate.
        problems: Vec<TensorProblem>,
        /// What probably went wrong, and how to fix it, when the problems
        /// follow a pattern the loader recognises.
        hint: Option<Hint>,
    },
    /// [`LoadOptions::strip_prefix`](super::LoadOptions::strip_prefix) was
    /// given a prefix that no key of the file starts with.
    PrefixNotFound {
        /// The prefix given.
        prefix: String,
        /// The file's first key (in byte order), to show what its keys look
        /// like; `None` for a file without tensors.
        sample: Option<String>,
    },
    /// The file could not be read.
    #[cfg(feature = "std")]
    Io {
        /// The path given to [`from_file`](super::from_file).
        path: std::path::PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

/// One way in which a file's tensor and the network's declaration disagree.
///
/// Keys are the network's `state_dict` keys, except in
/// [`TensorProblem::Unexpected`], which names the key as the file spells it
/// (with any prefix that [`LoadOptions`](super::LoadOptions) strips).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TensorProblem {
    /// A tensor is stored with an element type other than `F32`, `F16` or
    /// `BF16`.
    WrongDtype {
        /// The `state_dict` key.
        tensor: String,
        /// The element type in the file, as safetensors spells it (`I64`,
        /// `F64`, ...).
        dtype: String,
    },
    /// A tensor's shape in the file differs from the declared one.
    WrongShape {
        /// The `state_dict` key.
        tensor: String,
        /// The shape the network declares.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor the network declares is not in the file.
    Missing {
        /// The `state_dict` key, e.g. `fc3.bias`.
        tensor: String,
        /// The shape the network declares for it.
        shape: Vec<usize>,
    },
    /// The file holds a tensor the network does not declare.
    Unexpected {
        /// The key found in the file.
        tensor: String,
        /// Its shape in the file.
        shape: Vec<usize>,
    },
}

impl TensorProblem {
    /// The key the problem is about.
    #[must_use]
    pub fn tensor(&self) -> &str {
        match self {
            TensorProblem::WrongDtype { tensor, .. }
            | TensorProblem::WrongShape { tensor, .. }
            | TensorProblem::Missing { tensor, .. }
            | TensorProblem::Unexpected { tensor, .. } => tensor,
        }
    }
}

/// A likely cause of a [`LoadError::Mismatch`], recognised from the pattern
/// of its problems, with the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// Most of the declared tensors (more than half, and more than are
    /// found as the file was read) are in the file under a prefix, as in
    /// checkpoints of `nn.DataParallel` (`module.`), PyTorch Lightning
    /// (`model.`), or a module that wraps the layers (`features.0.weight`
    /// for `0.weight`).
    /// The fix at run time is
    /// [`LoadOptions::strip_prefix`](super::LoadOptions::strip_prefix).
    StripPrefix {
        /// The whole prefix, e.g. `module.`.
        prefix: String,
        /// How many declared tensors are in the file under it.
        found: usize,
        /// How many tensors the network declares.
        declared: usize,
    },
    /// The file's keys name their layers (`conv1.weight`, saved from an
    /// `nn.Module` with attributes) where the declaration's layers are
    /// unnamed and read their index in the layer list (`0.weight`, as an
    /// `nn.Sequential`).
    NamedLayersInFile {
        /// One key of the file, e.g. `conv1.weight`.
        file_key: String,
        /// One key the declaration reads, e.g. `0.weight`.
        declared_key: String,
        /// Declared layer → file layer, for every layer whose tensors have
        /// the same names and shapes as exactly one layer of the file; empty
        /// unless every missing layer was matched so.
        renames: Vec<(String, String)>,
    },
    /// The reverse of [`Hint::NamedLayersInFile`]: the file's keys are
    /// `nn.Sequential` indices (`0.weight`) where the declaration names its
    /// layers (`conv1.weight`).
    IndexedLayersInFile {
        /// One key of the file, e.g. `0.weight`.
        file_key: String,
        /// One key the declaration reads, e.g. `conv1.weight`.
        declared_key: String,
        /// Declared layer → file layer, matched by tensor names and shapes
        /// as in [`Hint::NamedLayersInFile`].
        renames: Vec<(String, String)>,
    },
}

/// Who loads the file: the fix a [`Hint`] proposes depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loader {
    /// The run-time loader of this module, which
    /// [`LoadOptions`](super::LoadOptions) configure.
    Runtime,
    /// `#[weights("…")]`, which reads the file while compiling and takes no
    /// options: a prefix has to go from the file itself.
    Baked,
}

impl LoadError {
    /// The error's text as `loader` words it; `Display` is
    /// `display_for(Loader::Runtime)`. The two differ only in a hint's fix.
    #[must_use]
    pub fn display_for(&self, loader: Loader) -> impl fmt::Display + '_ {
        DisplayFor {
            error: self,
            loader,
        }
    }
}

struct DisplayFor<'e> {
    error: &'e LoadError,
    loader: Loader,
}

impl fmt::Display for DisplayFor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.error {
            LoadError::Malformed { reason } => {
                write!(f, "not a valid safetensors file: {reason}")
            }
            LoadError::Mismatch { problems, hint } => {
                write_mismatch(f, problems, hint.as_ref(), self.loader)
            }
            LoadError::PrefixNotFound { prefix, sample } => {
                write!(
                    f,
                    "no key of the file starts with `{prefix}`, the prefix to strip"
                )?;
                match sample {
                    Some(key) => write!(f, " (the file's keys look like `{key}`)"),
                    None => write!(f, " (the file holds no tensor)"),
                }
            }
            #[cfg(feature = "std")]
            LoadError::Io { path, error } => {
                write!(f, "cannot read `{}`: {error}", path.display())
            }
        }
    }
}

/// One problem alone on one line; otherwise a count, one problem per line
/// (at most [`SHOWN_PROBLEMS`]), and the hint last.
fn write_mismatch(
    f: &mut fmt::Formatter<'_>,
    problems: &[TensorProblem],
    hint: Option<&Hint>,
    loader: Loader,
) -> fmt::Result {
    if let ([problem], None) = (problems, hint) {
        return write!(f, "{problem}");
    }
    let n = problems.len();
    write!(
        f,
        "the file does not match the network ({n} problem{}):",
        plural(n)
    )?;
    for problem in problems.iter().take(SHOWN_PROBLEMS) {
        write!(f, "\n  {problem}")?;
    }
    if let Some(rest) = n.checked_sub(SHOWN_PROBLEMS).filter(|&r| r > 0) {
        write!(f, "\n  … and {rest} more problem{}", plural(rest))?;
    }
    if let Some(hint) = hint {
        write!(f, "\nhelp: ")?;
        write_hint(f, hint, loader)?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.display_for(Loader::Runtime).fmt(f)
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

impl fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorProblem::WrongDtype { tensor, dtype } => write!(
                f,
                "tensor `{tensor}` has dtype {dtype}; only F32, F16 and BF16 can be loaded"
            ),
            TensorProblem::WrongShape {
                tensor,
                expected,
                found,
            } => write!(
                f,
                "tensor `{tensor}` has shape {found:?}, but the network declares {expected:?}"
            ),
            TensorProblem::Missing { tensor, shape } => write!(
                f,
                "tensor `{tensor}` is missing from the file \
                 (the network declares it with shape {shape:?})"
            ),
            TensorProblem::Unexpected { tensor, shape } => write!(
                f,
                "unexpected tensor `{tensor}` of shape {shape:?}: \
                 the network has no parameter of that name"
            ),
        }
    }
}

impl fmt::Display for Hint {
    /// The hint as the run-time loader words it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hint(f, self, Loader::Runtime)
    }
}

fn write_hint(f: &mut fmt::Formatter<'_>, hint: &Hint, loader: Loader) -> fmt::Result {
    match hint {
        Hint::StripPrefix {
            prefix,
            found,
            declared,
        } => {
            if found == declared {
                write!(
                    f,
                    "every tensor the network declares is in the file under the prefix `{prefix}`"
                )?;
            } else {
                write!(
                    f,
                    "{found} of the {declared} tensors the network declares are in the file \
                     under the prefix `{prefix}`"
                )?;
            }
            match loader {
                Loader::Runtime => write!(
                    f,
                    ": load with `LoadOptions::new().strip_prefix(\"{prefix}\")`"
                ),
                Loader::Baked => write!(
                    f,
                    "; `#[weights]` reads keys as they are, so save the file without it: \
                     `save_file({{k.removeprefix(\"{prefix}\"): v for k, v in state_dict.items() \
                     if k.startswith(\"{prefix}\")}}, path)`, or load at run time with \
                     `LoadOptions::new().strip_prefix(\"{prefix}\")`"
                ),
            }
        }
        Hint::NamedLayersInFile {
            file_key,
            declared_key,
            renames,
        } => {
            write!(
                f,
                "the file's keys name their layers (`{file_key}`), but this declaration's \
                 unnamed layers read their index in the layer list (`{declared_key}`): \
                 name the layers as in the PyTorch module"
            )?;
            write_renames(f, renames, |f, (declared, file)| {
                write!(f, "layer {declared} is `{file}`")
            })?;
            write!(f, ", or save the state_dict of an nn.Sequential")
        }
        Hint::IndexedLayersInFile {
            file_key,
            declared_key,
            renames,
        } => {
            write!(
                f,
                "the file's keys are nn.Sequential indices (`{file_key}`), but this \
                 declaration names its layers (`{declared_key}`): leave the layers unnamed, \
                 so that each reads the index of its place in the layer list"
            )?;
            write_renames(f, renames, |f, (declared, file)| {
                write!(f, "`{declared}` is layer {file}")
            })?;
            write!(
                f,
                ", or save the state_dict of a module with these attribute names"
            )
        }
    }
}

/// ` (by their shapes, A, B, …)`, or nothing without renames.
fn write_renames(
    f: &mut fmt::Formatter<'_>,
    renames: &[(String, String)],
    one: impl Fn(&mut fmt::Formatter<'_>, &(String, String)) -> fmt::Result,
) -> fmt::Result {
    if renames.is_empty() {
        return Ok(());
    }
    write!(f, " (by their shapes, ")?;
    for (i, rename) in renames.iter().take(SHOWN_RENAMES).enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        one(f, rename)?;
    }
    if renames.len() > SHOWN_RENAMES {
        write!(f, ", …")?;
    }
    write!(f, ")")
}
