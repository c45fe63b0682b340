//! `#[weights("file.safetensors")]`: the weights read, checked and baked in
//! while compiling, as a `static`.
//!
//! The file is found relative to the crate's `CARGO_MANIFEST_DIR`. Every
//! tensor is checked like the run-time loader checks it (names, dtype
//! F32/F16/BF16, shapes, no unexpected tensor except `*.num_batches_tracked`),
//! but a problem is a compile error on the attribute. The generated code
//! `include_bytes!`s the file, so that editing it rebuilds the crate, and
//! spells every weight as a float literal (bit-exact; NaN, infinities and
//! −0 through `f32::from_bits`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use safetensors::{Dtype, SafeTensors};
use syn::LitStr;

use crate::check::Plan;
use crate::op::Op;

/// The ignored `state_dict` suffix (PyTorch's batch-norm step counter).
const IGNORED_SUFFIX: &str = ".num_batches_tracked";

/// The baked weights as the expression of a `Name { … }` value, plus the
/// `include_bytes!` that makes the file a dependency of the build.
pub struct Baked {
    pub value: TokenStream,
    pub track: TokenStream,
}

fn shape_text(dims: &[usize]) -> String {
    let d: Vec<String> = dims.iter().map(ToString::to_string).collect();
    format!("[{}]", d.join(", "))
}

/// Where `#[weights("…")]` points: relative to the crate's directory (its
/// `CARGO_MANIFEST_DIR`), as documented, or else relative to the directory
/// of the source file holding the declaration, as `include_bytes!` resolves
/// paths (known to the compiler since Rust 1.88). The second rule also
/// makes a declaration compiled from elsewhere find its file — trybuild
/// compiles the compile-fail tests from a crate inside the target directory.
fn locate(path: &LitStr) -> Option<PathBuf> {
    let relative = path.value();
    let by_manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").map(|d| PathBuf::from(d).join(&relative));
    let by_source = path
        .span()
        .local_file()
        .and_then(|f| Some(f.parent()?.join(&relative)));
    [by_manifest, by_source]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
}

/// Reads and checks the file named by `path`, then spells out the weights.
pub fn bake(
    path: &LitStr,
    plan: &Plan,
    krate: &TokenStream,
    name: &syn::Ident,
) -> syn::Result<Baked> {
    let error = |msg: String| syn::Error::new_spanned(path, msg);
    let shown = path.value();
    let file = locate(path).ok_or_else(|| {
        error(format!(
            "cannot find the weights file `{shown}`: it is neither relative to the crate's directory (where its Cargo.toml is) nor to the directory of the source file that declares the network"
        ))
    })?;
    let bytes = std::fs::read(&file)
        .map_err(|e| error(format!("cannot read the weights file `{shown}`: {e}")))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| error(format!("`{shown}` is not a valid safetensors file: {e}")))?;

    let mut errors: Vec<syn::Error> = Vec::new();
    let mut declared = BTreeSet::new();
    let mut fields = Vec::new();
    for layer in &plan.layers {
        let shapes = layer.op.param_shapes();
        if shapes.is_empty() {
            continue;
        }
        let mut tensors = Vec::new();
        for (suffix, dims) in &shapes {
            let key = format!("{}.{suffix}", layer.key);
            declared.insert(key.clone());
            let values = match st.tensor(&key) {
                Err(_) => {
                    errors.push(error(format!(
                        "tensor `{key}` is missing from `{shown}` (the network declares it with shape {})",
                        shape_text(dims)
                    )));
                    None
                }
                Ok(t) if !matches!(t.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) => {
                    errors.push(error(format!(
                        "tensor `{key}` in `{shown}` has dtype {:?}; only F32, F16 and BF16 can be loaded",
                        t.dtype()
                    )));
                    None
                }
                Ok(t) if t.shape() != dims.as_slice() => {
                    errors.push(error(format!(
                        "tensor `{key}` in `{shown}` has shape {}, but the network declares {}",
                        shape_text(t.shape()),
                        shape_text(dims)
                    )));
                    None
                }
                Ok(t) => Some(decode(t.dtype(), t.data())),
            };
            tensors.push((*suffix, dims.clone(), values));
        }
        fields.push((layer, tensors));
    }
    for (name, _) in st.tensors() {
        if !declared.contains(&name) && !name.ends_with(IGNORED_SUFFIX) {
            errors.push(error(format!(
                "unexpected tensor `{name}` in `{shown}`: the network has no parameter of that name"
            )));
        }
    }
    if let Some(e) = errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        return Err(e);
    }

    let inits = fields.iter().map(|(layer, tensors)| {
        let field = &layer.field;
        let parts = tensors.iter().map(|(suffix, dims, values)| {
            let name = format_ident!("{}", suffix);
            let value = nested(dims, values.as_deref().unwrap_or(&[]));
            quote!(#name: #value)
        });
        let ty = match layer.op {
            Op::BatchNorm2d { affine: false, .. } => {
                quote!(#krate::BatchNormWeights { weight: (), bias: (), #(#parts),* })
            }
            Op::BatchNorm2d { .. } => quote!(#krate::BatchNormWeights { #(#parts),* }),
            _ if tensors.len() == 1 => quote!(#krate::Weights { #(#parts),*, bias: () }),
            _ => quote!(#krate::Weights { #(#parts),* }),
        };
        quote!(#field: #ty)
    });
    let abs = file.to_string_lossy().into_owned();
    Ok(Baked {
        value: quote!(#name { #(#inits),* }),
        track: quote!(
            const _: &[u8] = include_bytes!(#abs);
        ),
    })
}

/// Little-endian F32, F16 or BF16 data as `f32` (exact).
fn decode(dtype: Dtype, data: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    }
}

/// A nested array literal of `dims` over row-major `values`.
#[allow(clippy::arithmetic_side_effects)] // offsets within `values`, whose length the loader checked
fn nested(dims: &[usize], values: &[f32]) -> TokenStream {
    match dims.split_first() {
        None => values.first().map_or_else(|| quote!(0.0), |&v| float(v)),
        Some((&n, rest)) => {
            let stride: usize = rest.iter().product();
            let items = (0..n).map(|i| {
                let start = (i * stride).min(values.len());
                let end = (start + stride).min(values.len());
                nested(rest, &values[start..end])
            });
            quote!([#(#items),*])
        }
    }
}

/// One `f32` as a literal that the compiler reads back to the same bits.
fn float(v: f32) -> TokenStream {
    if v.is_finite() && v.to_bits() != (-0.0f32).to_bits() {
        let lit = Literal::f32_unsuffixed(v.abs());
        if v < 0.0 {
            quote!(-#lit)
        } else {
            quote!(#lit)
        }
    } else {
        let bits = Literal::u32_unsuffixed(v.to_bits());
        quote!(f32::from_bits(#bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_through_their_text() {
        for v in [
            1.0f32,
            -2.5,
            1e-40,
            -1e-40,
            3.4028235e38,
            0.1,
            1.0 / 3.0,
            0.0,
        ] {
            let text = float(v).to_string().replace(' ', "");
            let back: f32 = text.parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{v} -> {text}");
        }
        assert!(float(-0.0).to_string().contains("from_bits"));
        assert!(float(f32::NAN).to_string().contains("from_bits"));
    }

    #[test]
    fn nested_literals_follow_row_major_order() {
        let t = nested(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).to_string();
        assert_eq!(t.replace(' ', ""), "[[1.0,2.0,3.0],[4.0,5.0,6.0]]");
    }
}
