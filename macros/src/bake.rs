//! `#[weights("file.safetensors")]`: the weights read, checked and baked in
//! while compiling, as a `static`.
//!
//! The file is found relative to the crate's `CARGO_MANIFEST_DIR`, or else
//! to the declaring source file's directory (`locate`). It is
//! checked and decoded by the run-time loader's own code
//! (`constnet_runtime::load::check`), so that a file `#[weights]` accepts is
//! exactly one `from_safetensors` accepts, with the same values, and a
//! problem reads the same: every missing, unexpected, wrongly typed and
//! wrongly shaped tensor at once, with the same hints, as one compile error
//! on the attribute. The generated code `include_bytes!`s the file, so that
//! editing it rebuilds the crate, and spells every weight as a float literal
//! (bit-exact; NaN, infinities and −0 through `f32::from_bits`).

use std::path::PathBuf;

use constnet_runtime::load::{self, LoadOptions, Loader};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::LitStr;

use crate::graph::{Graph, Node};
use crate::op::Op;

pub mod int8;

/// The baked weights as the expression of a `Name { … }` value, plus the
/// `include_bytes!` that makes the file a dependency of the build.
pub struct Baked {
    pub value: TokenStream,
    pub track: TokenStream,
}

/// One layer's tensors: `weight`, `bias`, … with their shapes.
type Shapes = Vec<(&'static str, Vec<usize>)>;

/// One layer's tensors: `weight`, `bias`, … with shape and values.
type LayerTensors = Vec<(&'static str, Vec<usize>, Vec<f32>)>;

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

/// The file `path` names (`locate`) and its bytes, or an error on `path`.
fn read_file(path: &LitStr) -> syn::Result<(PathBuf, Vec<u8>)> {
    let error = |msg: String| syn::Error::new_spanned(path, msg);
    let shown = path.value();
    let file = locate(path).ok_or_else(|| {
        error(format!(
            "cannot find the weights file `{shown}`: it is neither relative to the crate's directory (where its Cargo.toml is) nor to the directory of the source file that declares the network"
        ))
    })?;
    let bytes = std::fs::read(&file)
        .map_err(|e| error(format!("cannot read the weights file `{shown}`: {e}")))?;
    Ok((file, bytes))
}

/// `include_bytes!` of `file`, so that editing it rebuilds the crate.
fn track(file: &std::path::Path) -> TokenStream {
    let abs = file.to_string_lossy().into_owned();
    quote!(
        const _: &[u8] = include_bytes!(#abs);
    )
}

/// Reads and checks the file named by `path`, then spells out the weights.
pub fn bake(
    path: &LitStr,
    graph: &Graph,
    krate: &TokenStream,
    name: &syn::Ident,
) -> syn::Result<Baked> {
    let error = |msg: String| syn::Error::new_spanned(path, msg);
    let shown = path.value();
    let (file, bytes) = read_file(path)?;
    let fields = read(&bytes, graph).map_err(|e| {
        error(format!(
            "weights file `{shown}`: {}",
            e.display_for(Loader::Baked)
        ))
    })?;

    let inits = fields.iter().map(|(layer, tensors)| {
        let field = &layer.field;
        let parts = tensors.iter().map(|(suffix, dims, values)| {
            let name = format_ident!("{}", suffix);
            let value = nested(dims, values);
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
    Ok(Baked {
        value: quote!(#name { #(#inits),* }),
        track: track(&file),
    })
}

/// Checks `bytes` against the graph's tensors with the run-time loader's
/// checks, then decodes each layer's tensors to `f32`.
fn read<'p>(
    bytes: &[u8],
    graph: &'p Graph,
) -> Result<Vec<(&'p Node, LayerTensors)>, load::LoadError> {
    let layers: Vec<(&Node, Shapes)> = graph
        .nodes
        .iter()
        .map(|layer| (layer, layer.op.param_shapes()))
        .filter(|(_, shapes)| !shapes.is_empty())
        .collect();
    let keys: Vec<(String, &[usize])> = layers
        .iter()
        .flat_map(|(layer, shapes)| {
            shapes
                .iter()
                .map(|(suffix, dims)| (format!("{}.{suffix}", layer.key), dims.as_slice()))
        })
        .collect();
    let declared: Vec<(&str, &[usize])> = keys.iter().map(|(k, d)| (k.as_str(), *d)).collect();
    let checked = load::check(bytes, &declared, &LoadOptions::new())?;
    // `check` returns one tensor per declared key, in order.
    let mut tensors = checked.iter();
    Ok(layers
        .into_iter()
        .map(|(layer, shapes)| {
            let values = shapes
                .into_iter()
                .map(|(suffix, dims)| {
                    let values = tensors.next().map(|t| t.to_vec()).unwrap_or_default();
                    (suffix, dims, values)
                })
                .collect();
            (layer, values)
        })
        .collect())
}

/// A nested array literal of `dims` over row-major `f32` `values`.
fn nested(dims: &[usize], values: &[f32]) -> TokenStream {
    nested_with(dims, values, &float)
}

/// A nested array literal of `dims` over row-major `values`, each spelled
/// by `spell` (0 for values missing).
#[allow(clippy::arithmetic_side_effects)] // offsets within `values`, whose length the loader checked
fn nested_with<T: Copy + Default>(
    dims: &[usize],
    values: &[T],
    spell: &dyn Fn(T) -> TokenStream,
) -> TokenStream {
    match dims.split_first() {
        None => spell(values.first().copied().unwrap_or_default()),
        Some((&n, rest)) => {
            let stride: usize = rest.iter().product();
            let items = (0..n).map(|i| {
                let start = (i * stride).min(values.len());
                let end = (start + stride).min(values.len());
                nested_with(rest, &values[start..end], spell)
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
