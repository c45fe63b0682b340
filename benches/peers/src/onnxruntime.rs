//! ONNX Runtime from Rust: the `ort` crate on the C API of the
//! `libonnxruntime.so` that `ORT_DYLIB_PATH` names (loaded at run time), CPU
//! execution provider, one intra-op and one inter-op thread, sequential
//! execution, all graph optimisations. One session per network; for each
//! batch size an I/O binding to an input and an output tensor allocated once
//! by ORT: a call copies its images from the pool into the bound input,
//! runs the binding and copies the outputs out of the bound output into a
//! plain buffer — what `ort.py` does from Python.

use std::path::Path;
use std::sync::Arc;

use ort::environment::Environment;
use ort::logging::LogLevel;
use ort::memory::Allocator;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::Tensor;

use crate::engine::{Engine, Kind, Res, BIG};
use crate::nets::Case;

/// ONNX Runtime, loaded: the (one, process-wide) environment and the
/// library's version.
pub struct Runtime {
    environment: Environment,
    version: String,
}

impl Runtime {
    /// Loads `library` and creates the environment.
    pub fn load(library: &Path) -> Res<Self> {
        let environment = ort::init_from(library)?.with_name("peers").build()?;
        Ok(Runtime {
            environment,
            version: library_version(library)?,
        })
    }
}

/// `OrtGetApiBase()->GetVersionString()` of `library` (ort keeps it to
/// itself; its build information has no version).
fn library_version(library: &Path) -> Res<String> {
    // SAFETY: the library ort has loaded already; loading it again only
    // takes another reference to it.
    let lib = unsafe { libloading::Library::new(library) }?;
    // SAFETY: the C API's declaration of `OrtGetApiBase`.
    let get_api_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { lib.get(b"OrtGetApiBase") }?;
    // SAFETY: `OrtGetApiBase` takes nothing and returns a static table.
    let base = unsafe { get_api_base() };
    if base.is_null() {
        return Err(format!("{}: OrtGetApiBase returned null", library.display()).into());
    }
    // SAFETY: `base` is the library's API base; `GetVersionString` returns
    // a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(((*base).GetVersionString)()) };
    Ok(version.to_str()?.to_string())
}

pub struct Ort {
    version: String,
    session: Session,
    one: Bound,
    big: Bound,
    pool: Arc<[f32]>,
    input_len: usize,
    output_len: usize,
    out: Vec<f32>,
}

/// An I/O binding of one batch size, and the tensors it binds.
struct Bound {
    input: Tensor<f32>,
    output: Tensor<f32>,
    binding: IoBinding,
}

impl Bound {
    fn new(session: &Session, case: &Case, batch: usize) -> Res<Self> {
        let shape = |tail: &[usize]| -> Vec<i64> {
            std::iter::once(batch)
                .chain(tail.iter().copied())
                .map(|d| d as i64)
                .collect()
        };
        let allocator = Allocator::default();
        let mut input = Tensor::<f32>::new(&allocator, shape(case.input_shape))?;
        let mut output = Tensor::<f32>::new(&allocator, shape(case.output_shape))?;
        input.extract_tensor_mut().1.fill(0.0);
        let mut binding = session.create_binding()?;
        binding.bind_input(session.inputs()[0].name(), &input)?;
        binding.bind_output(session.outputs()[0].name(), &mut output)?;
        Ok(Bound {
            input,
            output,
            binding,
        })
    }
}

impl Ort {
    pub fn new(runtime: &Runtime, case: &Case) -> Res<Self> {
        let session = Session::builder(&runtime.environment)?
            .with_intra_threads(1)?
            .with_inter_threads(1)?
            .with_parallel_execution(false)?
            .with_optimization_level(GraphOptimizationLevel::All)?
            .with_log_level(LogLevel::Error)?
            .commit_from_file(&case.onnx)?;
        Ok(Ort {
            version: runtime.version.clone(),
            one: Bound::new(&session, case, 1)?,
            big: Bound::new(&session, case, BIG)?,
            session,
            pool: Arc::clone(&case.pool),
            input_len: case.input_len,
            output_len: case.output_len,
            out: vec![0.0; BIG * case.output_len],
        })
    }
}

impl Engine for Ort {
    fn kind(&self) -> Kind {
        Kind::OrtRust
    }
    fn name(&self) -> String {
        format!(
            "onnxruntime {} (ort {})",
            self.version,
            crate::locked_version("ort")
        )
    }
    fn run(&mut self, first: usize, batch: usize) -> Res<()> {
        let bound = if batch == 1 {
            &mut self.one
        } else {
            &mut self.big
        };
        let x = &self.pool[first * self.input_len..][..batch * self.input_len];
        bound.input.extract_tensor_mut().1.copy_from_slice(x);
        self.session.run_binding(&bound.binding)?;
        let y = bound.output.extract_tensor().1;
        self.out[..batch * self.output_len].copy_from_slice(y);
        Ok(())
    }
    fn output(&self, i: usize) -> &[f32] {
        &self.out[i * self.output_len..][..self.output_len]
    }
}
