//! `quantize_from`: the values' parameters in execution order, each
//! convolution and linear layer quantized from the float one with them.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::super::kernels::norm_affine;
use super::super::types::lit;
use super::value_index;
use crate::graph::{Graph, Node};
use crate::op::{Activation, Op};

/// The body of `quantize_from`.
pub fn body(krate: &TokenStream, graph: &Graph, shown: &[usize], layers: usize) -> TokenStream {
    let n_layers = lit(layers);
    let steps = graph.nodes.iter().enumerate().map(|(i, node)| {
        let this = lit(value_index(crate::graph::Value::Node(i)));
        let from = lit(node.inputs.first().map_or(0, |&v| value_index(v)));
        match node.op {
            Op::Conv2d { .. } | Op::Linear { .. } => {
                let row = lit(shown.get(i).copied().unwrap_or(0));
                let layer = layer(krate, node, &from, &this);
                quote! {
                    self.values[#this] = layers[#row];
                    #layer
                }
            }
            // Folded into another node: never read.
            Op::Folded => quote!(),
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
    let (bias, rounding) = match node.op {
        Op::Conv2d { bias, .. } => (bias, quote!(Double)),
        Op::Linear { bias, .. } => (bias, quote!(Single)),
        _ => (false, quote!(Double)),
    };
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
    let act = match node.post.act {
        Some(Activation::Relu) => quote!(Relu),
        Some(Activation::Relu6) => quote!(Relu6),
        _ => quote!(None),
    };
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
