//! `#[int8(weights = "file.safetensors")]`: an int8 file saved by
//! `to_safetensors`, read, checked and baked in while compiling, as a
//! `static` of the quantized network.
//!
//! The file is checked and decoded by the run-time loader's own code
//! (`constnet_runtime::quant::store::check`): a file the attribute accepts
//! is exactly one `from_safetensors` accepts, and every missing, wrongly
//! typed or shaped tensor and every bad scale is reported at once, as one
//! compile error on the path. The multipliers and clamps are derived from
//! the stored scales by the functions loading calls (`quant::layer::requant`,
//! `Act::clamp`), so the baked network equals the loaded one, field for
//! field (`tests/int8_lenet.rs` checks it).

use constnet_runtime::quant::layer::requant;
use constnet_runtime::quant::store::{self, Decoded, Kind};
use constnet_runtime::quant::{QParams, Rounding};
use proc_macro2::{Literal, TokenStream};
use quote::quote;
use syn::LitStr;

use super::{float, nested_with, read_file, track, Baked};
use crate::graph::{Graph, Node, Value};
use crate::quant::{act_rounding, layers, stored, value_index, weight_shape};

/// The tensors an int8 file holds for `graph`, in the order of
/// `Int8Network::visit_stored` then the values' table: each layer's
/// `weight` (`I8`), `bias` (`I32`), `weight_scale` (`F32`), then
/// `values.scale` (`F32`) and `values.zero_point` (`I8`).
fn wanted(graph: &Graph) -> Vec<(String, Vec<usize>, Kind)> {
    let mut wanted: Vec<_> = layers(graph).flat_map(|(_, node)| stored(node)).collect();
    let n = vec![graph.nodes.len().saturating_add(1)];
    wanted.push(("values.scale".into(), n.clone(), Kind::F32));
    wanted.push(("values.zero_point".into(), n, Kind::I8));
    wanted
}

/// Reads and checks the int8 file named by `path`, then spells out the
/// value of `name` (`<Name>Int8`).
pub fn bake(
    path: &LitStr,
    graph: &Graph,
    krate: &TokenStream,
    name: &syn::Ident,
) -> syn::Result<Baked> {
    let (file, bytes) = read_file(path)?;
    let wanted = wanted(graph);
    let specs: Vec<(&str, &[usize], Kind)> = wanted
        .iter()
        .map(|(n, d, k)| (n.as_str(), d.as_slice(), *k))
        .collect();
    let decoded = store::check(&bytes, &specs).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| format!("\n  - {e}")).collect();
        syn::Error::new_spanned(
            path,
            format!(
                "int8 weights file `{}` does not fit `{name}`:{}",
                path.value(),
                list.concat()
            ),
        )
    })?;
    let mut tensors = decoded.into_iter();
    let mut layer_tensors = Vec::new();
    for _ in layers(graph) {
        match (tensors.next(), tensors.next(), tensors.next()) {
            (Some(Decoded::I8(w)), Some(Decoded::I32(b)), Some(Decoded::F32(s))) => {
                layer_tensors.push((w, b, s));
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    path,
                    "internal: tensors out of order",
                ))
            }
        }
    }
    let (Some(Decoded::F32(scales)), Some(Decoded::I8(zeros))) = (tensors.next(), tensors.next())
    else {
        return Err(syn::Error::new_spanned(
            path,
            "internal: values out of order",
        ));
    };
    let values: Vec<QParams> = scales
        .iter()
        .zip(&zeros)
        .map(|(&scale, &zero_point)| QParams { scale, zero_point })
        .collect();
    let fields = layers(graph)
        .zip(&layer_tensors)
        .map(|((i, node), stored)| layer(krate, &values, i, node, stored));
    let params = values.iter().map(|&p| qparams(krate, p));
    Ok(Baked {
        value: quote!(#name { #(#fields)* values: [#(#params),*] }),
        track: track(&file),
    })
}

/// `field: QLayer { … },` for node `i` with its stored weights, bias and
/// weight scales, and the fields loading derives from them
/// (`QLayer::restore`).
fn layer(
    krate: &TokenStream,
    values: &[QParams],
    i: usize,
    node: &Node,
    (weight, bias, scales): &(Vec<i8>, Vec<i32>, Vec<f32>),
) -> TokenStream {
    // `store::check` read one parameter per value: never the fallback.
    let param = |v: Value| {
        values.get(value_index(v)).copied().unwrap_or(QParams {
            scale: 1.0,
            zero_point: 0,
        })
    };
    let input = param(node.inputs.first().copied().unwrap_or(Value::Input));
    let output = param(Value::Node(i));
    let (act, rounding) = act_rounding(node);
    let (dims, _) = weight_shape(node);
    let weight = nested_with(&dims, weight, &|q: i8| int(q.into()));
    let bias = bias.iter().map(|&b| int(b.into()));
    let weight_scale = scales.iter().map(|&s| float(s));
    let requant = scales.iter().map(|&s| {
        let r = requant(input, s, output);
        let (m, shift) = (int(r.multiplier.into()), int(r.shift.into()));
        quote!(#krate::quant::Requant { multiplier: #m, shift: #shift })
    });
    let clamp = act.clamp(output);
    let (min, max) = (int(clamp.min.into()), int(clamp.max.into()));
    let input_zero = int(input.zero_point.into());
    let output = qparams(krate, output);
    let rounding = match rounding {
        Rounding::Single => quote!(Single),
        Rounding::Double => quote!(Double),
    };
    let field = &node.field;
    quote! {
        #field: #krate::quant::QLayer {
            weight: #weight,
            bias: [#(#bias),*],
            weight_scale: [#(#weight_scale),*],
            requant: [#(#requant),*],
            input_zero: #input_zero,
            output: #output,
            clamp: #krate::quant::Clamp { min: #min, max: #max },
            rounding: #krate::quant::Rounding::#rounding,
        },
    }
}

/// `QParams { scale, zero_point }` as a literal.
fn qparams(krate: &TokenStream, p: QParams) -> TokenStream {
    let (scale, zero) = (float(p.scale), int(p.zero_point.into()));
    quote!(#krate::quant::QParams { scale: #scale, zero_point: #zero })
}

/// An integer literal, negative ones as `-` and the magnitude (which reads
/// back exactly, `i8::MIN` and `i32::MIN` included).
fn int(v: i64) -> TokenStream {
    let magnitude = Literal::u64_unsuffixed(v.unsigned_abs());
    if v < 0 {
        quote!(-#magnitude)
    } else {
        quote!(#magnitude)
    }
}
