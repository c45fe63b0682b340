//! `quantize_from`: the values' parameters in execution order, each
//! convolution and linear layer quantized from the float one with them;
//! `restore`, the same derivation from stored tensors; the visitors of the
//! stored tensors.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::super::kernels::norm_affine;
use super::super::types::lit;
use super::act_ident;
use crate::graph::{Graph, Node};
use crate::op::Op;
use crate::quant::{act_rounding, layers, own_params, quantized, stored, value_index};
use constnet_runtime::quant::store::Kind;
use constnet_runtime::quant::Rounding;

/// The body of `quantize_from`.
pub fn body(krate: &TokenStream, graph: &Graph, shown: &[usize], layers: usize) -> TokenStream {
    let n_layers = lit(layers);
    let steps = graph.nodes.iter().enumerate().map(|(i, node)| {
        let this = lit(value_index(crate::graph::Value::Node(i)));
        let from = lit(node.inputs.first().map_or(0, |&v| value_index(v)));
        match node.op {
            // Its own parameters: its row's (after a fused ReLU, the
            // ReLU's; the `Cat`'s, for a value only a `Cat` reads).
            _ if own_params(node) => {
                let row = lit(shown.get(i).copied().unwrap_or(0));
                let layer = quantized(node).then(|| layer(krate, node, &from, &this));
                quote! {
                    self.values[#this] = layers[#row];
                    #layer
                }
            }
            // TFLite's fixed output grid.
            Op::Softmax { .. } => quote!(self.values[#this] = #krate::quant::softmax::OUTPUT;),
            // Folded into another node: never read; the parameters before
            // it, so that every entry is a valid one (saved files check).
            Op::Folded => {
                let before = lit(i);
                quote!(self.values[#this] = self.values[#before];)
            }
            // Pools, a lone ReLU, views: the input's parameters.
            _ => quote!(self.values[#this] = self.values[#from];),
        }
    });
    quote! {
        if layers.len() != #n_layers {
            return Err(#krate::quant::QuantizeError::Layers { expected: #n_layers, found: layers.len() });
        }
        self.values[0] = input;
        #(#steps)*
        Ok(())
    }
}

/// `self.<field>.quantize(…)` for a convolution or linear layer.
fn layer(krate: &TokenStream, node: &Node, from: &Literal, this: &Literal) -> TokenStream {
    let bias = matches!(
        node.op,
        Op::Conv2d { bias: true, .. } | Op::Linear { bias: true, .. }
    );
    let field = &node.field;
    let bias = if bias {
        quote!(Some(#krate::Tensor::as_flat(&float.#field.bias)))
    } else {
        quote!(None)
    };
    let norm = node.post.norm.as_ref().map_or_else(
        || quote!(None),
        |bn| {
            let f = &bn.field;
            let eps = Literal::f32_suffixed(bn.eps);
            let (weight, bias) = norm_affine(&quote!(float.#f), bn.affine);
            let flat = |t: TokenStream| quote!(#t.map(|t| #krate::Tensor::as_flat(t)));
            let (weight, bias) = (flat(weight), flat(bias));
            quote!(Some(#krate::quant::layer::Norm {
                weight: #weight,
                bias: #bias,
                mean: #krate::Tensor::as_flat(&float.#f.running_mean),
                var: #krate::Tensor::as_flat(&float.#f.running_var),
                eps: #eps,
            }))
        },
    );
    let (act, rounding) = act_rounding_idents(node);
    let key = &node.key;
    quote! {
        self.#field
            .quantize(
                #krate::quant::layer::Float {
                    weight: #krate::Tensor::as_flat(&float.#field.weight),
                    bias: #bias,
                    norm: #norm,
                },
                self.values[#from],
                self.values[#this],
                #krate::quant::layer::Act::#act,
                #krate::quant::Rounding::#rounding,
            )
            .map_err(|error| #krate::quant::QuantizeError::Weights { layer: #key, error })?;
    }
}

/// A layer's activation and rounding (`quant::act_rounding`) as the names
/// of their runtime variants.
fn act_rounding_idents(node: &Node) -> (TokenStream, TokenStream) {
    let (act, rounding) = act_rounding(node);
    let act = act_ident(act);
    let rounding = match rounding {
        Rounding::Single => quote!(Single),
        Rounding::Double => quote!(Double),
    };
    (act, rounding)
}

/// The body of `restore`: each layer's derived fields from its stored
/// tensors and the values' parameters.
pub fn restore(krate: &TokenStream, graph: &Graph) -> TokenStream {
    let steps = layers(graph).map(|(i, node)| {
        let this = lit(value_index(crate::graph::Value::Node(i)));
        let from = lit(node.inputs.first().map_or(0, |&v| value_index(v)));
        let (act, rounding) = act_rounding_idents(node);
        let field = &node.field;
        quote! {
            self.#field.restore(
                self.values[#from],
                self.values[#this],
                #krate::quant::layer::Act::#act,
                #krate::quant::Rounding::#rounding,
            );
        }
    });
    quote!(#(#steps)*)
}

/// The body of `visit_stored` (or, `mutable`, `visit_stored_mut`).
pub fn visit(krate: &TokenStream, graph: &Graph, mutable: bool) -> TokenStream {
    let (ty, flat, borrow) = if mutable {
        (quote!(StoredMut), quote!(as_flat_mut), quote!(&mut))
    } else {
        (quote!(Stored), quote!(as_flat), quote!(&))
    };
    let calls = layers(graph).flat_map(|(_, node)| {
        let field = &node.field;
        stored(node).map(|(name, dims, kind)| {
            let dims = dims.iter().map(|&d| lit(d));
            let (variant, data) = match kind {
                Kind::I8 => (
                    quote!(I8),
                    quote!(#krate::quant::QTensor::#flat(#borrow self.#field.weight)),
                ),
                Kind::I32 => (quote!(I32), quote!(#borrow self.#field.bias)),
                Kind::F32 => (quote!(F32), quote!(#borrow self.#field.weight_scale)),
            };
            quote!(f(#name, &[#(#dims),*], #krate::quant::network::#ty::#variant(#data));)
        })
    });
    quote!(#(#calls)*)
}
