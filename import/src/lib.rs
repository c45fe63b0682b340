//! constnet-import: an ONNX model as a `constnet::network!` declaration and
//! a safetensors file of its weights under the declaration's keys.
//!
//! [`import`] reads the model (with prost, from the types generated from
//! `onnx.proto`), lowers its nodes to constnet's layers in constnet's NCHW
//! layout (folding NHWC transposes, writing `auto_pad` as explicit
//! padding), recovers residuals, sums and concatenations from the graph's
//! branches, and writes the declaration. Every problem is collected and
//! reported at once in a [`Report`]; [`write`] writes both files or none.

#![forbid(unsafe_code)]

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

mod emit;
mod lower;
mod model;
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::all,
    unreachable_pub
)]
mod onnx;
mod structure;
#[cfg(test)]
mod tests;

pub use emit::field_name;

/// What to import and how to name it.
#[derive(Clone, Debug)]
pub struct Options {
    /// The struct's name.
    pub name: String,
    /// The model's file name, for the generated comments.
    pub source: String,
    /// The input's shape without the batch dimension, in the model's own
    /// layout: needed when the model leaves a dimension dynamic.
    pub input: Option<Vec<usize>>,
}

/// An imported model.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The declaration: a file to `include!`.
    pub declaration: String,
    /// The tensors under the declaration's keys, in declaration order.
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    /// The declaration's input shape (`[C, H, W]` or `[N]`).
    pub input_shape: Vec<usize>,
    /// The ONNX input is NHWC: constnet takes it as `[C, H, W]`.
    pub input_nhwc: bool,
    /// The ONNX output is NHWC: constnet gives it as `[C, H, W]`.
    pub output_nhwc: bool,
}

impl Imported {
    /// The tensors as a safetensors file (float32).
    ///
    /// # Errors
    /// If safetensors refuses them (duplicate keys cannot happen).
    pub fn safetensors(&self) -> Result<Vec<u8>, String> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(k, s, v)| {
                (
                    k.clone(),
                    s.clone(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let mut views = Vec::with_capacity(bytes.len());
        for (k, s, b) in &bytes {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map_err(|e| format!("tensor `{k}`: {e}"))?;
            views.push((k.as_str(), view));
        }
        safetensors::serialize(views, None).map_err(|e| e.to_string())
    }

    /// The number of parameters.
    pub fn parameters(&self) -> usize {
        self.tensors.iter().map(|(_, _, v)| v.len()).sum()
    }
}

/// Every reason the model cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub problems: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "cannot import this model into constnet ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Report {}

/// `lenet5` → `Lenet5`, `resnet_18` → `Resnet18`: a struct name from a file
/// stem.
pub fn struct_name(stem: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Net");
    }
    out
}

/// Imports an ONNX model from its bytes.
///
/// # Errors
/// A [`Report`] of every problem: unsupported operators and attributes,
/// dynamic or wrong input shapes, graphs constnet cannot express.
pub fn import(bytes: &[u8], options: &Options) -> Result<Imported, Report> {
    let mut problems = Vec::new();
    if !is_identifier(&options.name) {
        problems.push(format!(
            "--name `{}` is not a Rust identifier",
            options.name
        ));
    }
    let Some(graph) = model::parse(bytes, &mut problems) else {
        return Err(Report { problems });
    };
    let lowered = lower::lower(&graph, options.input.as_deref(), &mut problems);
    let Some(lowered) = lowered.filter(|_| problems.is_empty()) else {
        return Err(Report { problems });
    };
    let items = match structure::structure(&lowered.nodes, lowered.output) {
        Ok(items) => items,
        Err(e) => {
            problems.push(e);
            return Err(Report { problems });
        }
    };
    let emitted = emit::emit(&lowered, &items);
    let input_text = format!(
        "[{}]",
        lowered
            .input_shape
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut header = format!(
        "// Generated by constnet-import {} from `{}` ({}, opset {}), input {}.\n",
        env!("CARGO_PKG_VERSION"),
        options.source,
        if graph.producer.is_empty() {
            "unknown producer"
        } else {
            &graph.producer
        },
        graph.opset,
        model::dims_text(&graph.input_dims),
    );
    if lowered.input_nhwc {
        header.push_str(&format!(
            "// The ONNX input `{}` is NHWC: give it to forward as [C, H, W] = {input_text} (transposed).\n",
            graph.input_name
        ));
    }
    if lowered.output_nhwc {
        header.push_str(&format!(
            "// The ONNX output `{}` is NHWC: forward gives it as [C, H, W] (transposed).\n",
            graph.output_name
        ));
    }
    let declaration = format!(
        "{header}\nconstnet::network! {{\n    /// `{}`, imported from ONNX.\n    pub struct {} {{\n        input: {input_text},\n{}    }}\n}}\n",
        options.source, options.name, emitted.body
    );
    Ok(Imported {
        declaration,
        tensors: emitted.tensors,
        input_shape: lowered.input_shape,
        input_nhwc: lowered.input_nhwc,
        output_nhwc: lowered.output_nhwc,
    })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes `dir/<stem>.rs` and `dir/<stem>.safetensors`, both or neither:
/// each is written to a temporary file first and renamed into place only
/// once both are written.
///
/// # Errors
/// An I/O error (the temporary files are removed).
pub fn write(imported: &Imported, dir: &Path, stem: &str) -> Result<(PathBuf, PathBuf), String> {
    let rs = dir.join(format!("{stem}.rs"));
    let st = dir.join(format!("{stem}.safetensors"));
    let tmp_rs = dir.join(format!(".{stem}.rs.tmp"));
    let tmp_st = dir.join(format!(".{stem}.safetensors.tmp"));
    let result = (|| {
        let bytes = imported.safetensors()?;
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        fs::write(&tmp_rs, &imported.declaration)
            .map_err(|e| format!("{}: {e}", tmp_rs.display()))?;
        fs::write(&tmp_st, bytes).map_err(|e| format!("{}: {e}", tmp_st.display()))?;
        fs::rename(&tmp_st, &st).map_err(|e| format!("{}: {e}", st.display()))?;
        fs::rename(&tmp_rs, &rs).map_err(|e| format!("{}: {e}", rs.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp_rs);
        let _ = fs::remove_file(&tmp_st);
    }
    result.map(|()| (rs, st))
}

/// Fills every float initializer of `model` that holds no values (tests
/// commit large models that way) with `fill(name, shape, values)`, and
/// returns the model's bytes.
///
/// # Errors
/// If `model` is not an ONNX model.
pub fn fill_empty_initializers(
    model: &[u8],
    mut fill: impl FnMut(&str, &[usize], &mut [f32]),
) -> Result<Vec<u8>, String> {
    use prost::Message;
    let mut m = onnx::ModelProto::decode(model).map_err(|e| format!("not an ONNX model: {e}"))?;
    let Some(graph) = m.graph.as_mut() else {
        return Err("not an ONNX model: it has no graph".into());
    };
    for t in &mut graph.initializer {
        let empty = t.raw_data.as_ref().is_none_or(Vec::is_empty) && t.float_data.is_empty();
        if t.data_type != Some(1) || !empty || t.dims.is_empty() {
            continue;
        }
        let shape: Vec<usize> = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        let mut values = vec![0.0f32; shape.iter().product()];
        fill(t.name.as_deref().unwrap_or_default(), &shape, &mut values);
        t.raw_data = Some(values.iter().flat_map(|v| v.to_le_bytes()).collect());
    }
    Ok(m.encode_to_vec())
}
