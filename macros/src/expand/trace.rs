//! The trace: one field per row of the layer table (every layer, merge and
//! module), and `forward_traced`, which runs the graph as checked — no
//! fusion, every layer's own output — with the trace's fields as its only
//! storage: each node reads the fields of its inputs and writes its own.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::kernels::{self, Call};
use super::types::{copy, lit, map_dims, tensor_type, zero};
use crate::graph::{Graph, Value};
use crate::op::Op;
use crate::shape::Shape;

/// The trace struct, its constructor and its `Trace` impl.
pub fn items(
    krate: &TokenStream,
    name: &Ident,
    vis: &syn::Visibility,
    cfg: &[syn::Attribute],
    graph: &Graph,
) -> TokenStream {
    let trace_name = format_ident!("{}Trace", name);
    let fields = graph.rows.iter().map(|r| {
        let (f, ty) = (&r.field, tensor_type(r.output));
        let doc = format!(
            "The output of `{}`: `{}`, shape {}.",
            r.name, r.display, r.output
        );
        quote! {
            #[doc = #doc]
            pub #f: #ty
        }
    });
    let zeros = graph.rows.iter().map(|r| {
        let (f, z) = (&r.field, zero(r.output));
        quote!(#f: #z)
    });
    let visits = graph.rows.iter().enumerate().map(|(i, r)| {
        let (f, i) = (&r.field, lit(i));
        quote!(f(&layers[#i], #krate::Tensor::as_flat(&self.#f));)
    });
    let doc = format!(
        "Every layer's output during one forward pass of [`{name}`], captured by [`{name}::forward_traced`]: one fixed-size array per layer, merge and block, no heap."
    );
    quote! {
        #(#cfg)*
        #[doc = #doc]
        #[derive(Clone, PartialEq)]
        #vis struct #trace_name {
            #(#fields,)*
        }

        #(#cfg)*
        impl #trace_name {
            /// A trace of zeros.
            #[must_use]
            #[allow(clippy::large_stack_arrays)] // `const`: evaluated at compile time in a `static`
            pub const fn new() -> Self {
                Self { #(#zeros,)* }
            }
        }

        #(#cfg)*
        impl #krate::Trace for #trace_name {
            fn visit(&self, f: &mut dyn FnMut(&'static #krate::LayerInfo, &[f32])) {
                let layers = <#name as #krate::Network>::LAYERS;
                #(#visits)*
            }
        }

        #(#cfg)*
        impl ::core::default::Default for #trace_name {
            fn default() -> Self {
                Self::new()
            }
        }

        // SAFETY: every field is an `f32` array, for which all-zero bytes
        // are a valid value (0.0).
        #(#cfg)*
        #[allow(unsafe_code)]
        unsafe impl #krate::__private::bytemuck::Zeroable for #trace_name {}
    }
}

/// `forward_traced`'s statements, then its result.
pub fn body(krate: &TokenStream, graph: &Graph) -> TokenStream {
    let value = |v: Value, shape: Shape| read(krate, graph, v, shape);
    let steps = graph.nodes.iter().enumerate().map(|(index, node)| {
        let field = &node.field;
        let inputs: Vec<(TokenStream, Shape)> = node
            .inputs
            .iter()
            .map(|&v| (value(v, graph.shape(v)), graph.shape(v)))
            .collect();
        let first = inputs.first().map(|(e, _)| e.clone());
        let call = Call {
            krate,
            node,
            index,
            inputs,
            residual: None,
        };
        let target = quote!(#krate::Tensor::as_flat_mut(&mut trace.#field));
        match (&node.op, first) {
            (Op::Flatten | Op::Identity, Some(src)) => {
                let src = match node.inputs.first() {
                    Some(&v) => read(krate, graph, v, node.shape),
                    None => src,
                };
                copy(krate, &src, &target, node.shape)
            }
            (op, Some(src)) if crate::memory::in_place(op) => {
                let shape = node.inputs.first().map_or(node.shape, |&v| graph.shape(v));
                let copy = copy(krate, &src, &target, shape);
                let code = kernels::in_place(&call, &target);
                quote! {
                    #copy
                    #code
                }
            }
            _ => kernels::produce(&call, &target),
        }
    });
    // A module's entry is a copy of its last value.
    let own: Vec<usize> = graph.nodes.iter().map(|n| n.row).collect();
    let modules = graph
        .rows
        .iter()
        .enumerate()
        .filter(|(i, _)| !own.contains(i))
        .map(|(_, r)| {
            let (f, src) = (&r.field, read(krate, graph, r.value, r.output));
            let dst = quote!(#krate::Tensor::as_flat_mut(&mut trace.#f));
            copy(krate, &src, &dst, r.output)
        });
    let result = read(krate, graph, graph.output, graph.output_shape());
    quote! {
        #(#steps)*
        #(#modules)*
        *#result
    }
}

/// `&T` for a value in the trace (or the input), viewed with `shape`.
fn read(krate: &TokenStream, graph: &Graph, v: Value, shape: Shape) -> TokenStream {
    let (base, base_shape) = match v {
        Value::Input => (quote!(input), graph.input),
        Value::Node(i) => {
            let f = &graph.nodes[i].field;
            (quote!((&trace.#f)), graph.nodes[i].shape)
        }
    };
    if shape == base_shape {
        return base;
    }
    let [c, h, w] = map_dims(base_shape).map(lit);
    let n = lit(shape.len().unwrap_or(0));
    quote!(#krate::tensor::flatten::<#c, #h, #w, #n>(#base))
}
