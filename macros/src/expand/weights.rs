//! The weights: one struct field per layer with parameters, in PyTorch's
//! layout, and what walks them (`PARAMS`, `visit_params`, `zeroed`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::types::{dims_tokens, lit, param_type, param_zero};
use crate::graph::Graph;
use crate::op::Op;
use crate::shape::Shape;

/// What the weights generate.
pub struct Weights {
    /// The struct's fields.
    pub fields: Vec<TokenStream>,
    /// `field: zero` for `const fn zeroed`.
    pub zeros: Vec<TokenStream>,
    /// `ParamInfo { … }` per tensor.
    pub params: Vec<TokenStream>,
    /// `visit_params` statements.
    pub visit: Vec<TokenStream>,
    /// `visit_params_mut` statements.
    pub visit_mut: Vec<TokenStream>,
}

pub fn weights(krate: &TokenStream, vis: &syn::Visibility, graph: &Graph) -> Weights {
    let mut w = Weights {
        fields: Vec::new(),
        zeros: Vec::new(),
        params: Vec::new(),
        visit: Vec::new(),
        visit_mut: Vec::new(),
    };
    for node in &graph.nodes {
        let shapes = node.op.param_shapes();
        if shapes.is_empty() {
            continue;
        }
        let field = &node.field;
        let (ty, zero) = weights_type(krate, &node.op, &shapes);
        let shape_doc: Vec<String> = shapes
            .iter()
            .map(|(n, d)| format!("`{n}` {}", Shape::dims_text(d)))
            .collect();
        let doc = format!(
            "`{}`: `{}`; {}.",
            node.key,
            graph.rows[node.row].display,
            shape_doc.join(", ")
        );
        w.fields.push(quote! {
            #[doc = #doc]
            #vis #field: #ty
        });
        w.zeros.push(quote!(#field: #zero));
        for (tensor, dims) in &shapes {
            let key = format!("{}.{tensor}", node.key);
            let dims_t = dims_tokens(dims);
            let i = lit(w.params.len());
            let t = format_ident!("{}", tensor);
            w.params
                .push(quote!(#krate::ParamInfo { name: #key, shape: #dims_t }));
            w.visit
                .push(quote!(f(&Self::PARAMS[#i], #krate::Tensor::as_flat(&self.#field.#t));));
            w.visit_mut.push(
                quote!(f(&Self::PARAMS[#i], #krate::Tensor::as_flat_mut(&mut self.#field.#t));),
            );
        }
    }
    w
}

/// The weights type of a layer and its zero value (for `const fn zeroed`):
/// `Weights<W, B>` for convolutions and linear layers, `BatchNormWeights<A,
/// S>` for batch norm; a missing bias (or `affine = false`) is `()`.
fn weights_type(
    krate: &TokenStream,
    op: &Op,
    shapes: &[(&'static str, Vec<usize>)],
) -> (TokenStream, TokenStream) {
    let find = |name: &str| shapes.iter().find(|(n, _)| *n == name).map(|(_, d)| d);
    let ty_zero = |name: &str| match find(name) {
        Some(d) => (param_type(d), param_zero(d)),
        None => (quote!(()), quote!(())),
    };
    if let Op::BatchNorm2d { .. } = op {
        let (aty, azero) = ty_zero("weight");
        let (sty, szero) = ty_zero("running_mean");
        return (
            quote!(#krate::BatchNormWeights<#aty, #sty>),
            quote!(#krate::BatchNormWeights { weight: #azero, bias: #azero, running_mean: #szero, running_var: #szero }),
        );
    }
    let (wty, wzero) = ty_zero("weight");
    let (bty, bzero) = ty_zero("bias");
    (
        quote!(#krate::Weights<#wty, #bty>),
        quote!(#krate::Weights { weight: #wzero, bias: #bzero }),
    )
}
