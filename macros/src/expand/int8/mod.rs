//! `#[int8]`: the quantized twin `<Name>Int8` of a network, its workspace,
//! and its `Int8Network` impl. Split by concern: `kernels` (one node as one
//! int8 kernel call), `quantize` (`quantize_from`: each layer made from the
//! float one); this file puts them together. `forward_with`'s body is the
//! float network's generator run on `i8` (`forward::body` with `Elem::I8`).

pub mod kernels;
mod quantize;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::forward;
use super::types::{array_type, lit, Elem};
use crate::ast::Network;
use crate::bake::Baked;
use crate::graph::Graph;
use crate::memory::MemoryPlan;
use crate::quant::{layers, quantized, value_index, weight_shape};
use constnet_runtime::quant::layer::Act;

/// Everything `#[int8]` generates. `graph` is the int8-fused graph
/// (`fuse::fuse_int8`), `shown` its rows per node, `layers` the float
/// network's number of layer-table rows.
pub fn items(
    krate: &TokenStream,
    net: &Network,
    graph: &Graph,
    shown: &[usize],
    layers: usize,
    memory: &MemoryPlan,
    baked: Option<&Baked>,
) -> TokenStream {
    let parts = Parts {
        krate,
        net,
        graph,
        name: format_ident!("{}Int8", net.ident),
        ws: format_ident!("{}Int8Workspace", net.ident),
    };
    let structs = parts.structs(memory);
    let network = parts.network_impl(shown, layers, memory);
    let baked = baked.map(|b| parts.baked(b));
    quote!(#structs #network #baked)
}

/// What both halves need.
struct Parts<'a> {
    krate: &'a TokenStream,
    net: &'a Network,
    graph: &'a Graph,
    /// `<Name>Int8`.
    name: Ident,
    /// `<Name>Int8Workspace`.
    ws: Ident,
}

impl Parts<'_> {
    /// The struct, its workspace, and their `Zeroable` impls.
    fn structs(&self, memory: &MemoryPlan) -> TokenStream {
        let Parts {
            krate,
            net,
            graph,
            name,
            ws,
        } = self;
        let Network {
            cfg, vis, ident, ..
        } = net;
        let (ws_len, values) = (lit(memory.len), lit(graph.nodes.len().saturating_add(1)));
        let fields = fields(krate, graph);
        let doc = format!(
            "[`{ident}`] quantized to int8 with TensorFlow Lite's semantics (see `constnet::quant`): per-channel int8 weights, int32 biases, int8 activations. Make one with `Int8Network::quantize(&float, &calibration)`; run it with `Int8Network::forward` (int8 in and out) or `forward_f32`. Workspace: {} bytes.",
            memory.len
        );
        let ws_doc = format!(
            "Scratch memory for one forward pass of [`{name}`]: {} bytes.",
            memory.len
        );
        quote! {
        #(#cfg)*
        #[doc = #doc]
        #[derive(Clone, PartialEq)]
        #vis struct #name {
            #(#fields)*
            /// The quantization parameters of the input (0) and of each
            /// node's output, in execution order.
            pub values: [#krate::quant::QParams; #values],
        }

        #(#cfg)*
        #[doc = #ws_doc]
        #[derive(Clone)]
        #vis struct #ws {
            buf: [i8; #ws_len],
        }

        #(#cfg)*
        impl #ws {
            /// A workspace of zeros.
            #[must_use]
            pub const fn new() -> Self {
                Self { buf: [0; #ws_len] }
            }
        }

        #(#cfg)*
        impl ::core::default::Default for #ws {
            fn default() -> Self {
                Self::new()
            }
        }

        // SAFETY: an `i8` array; all zeros is a valid value.
        #(#cfg)*
        #[allow(unsafe_code)]
        unsafe impl #krate::__private::bytemuck::Zeroable for #ws {}

        // SAFETY: every field is a `QLayer` of integer and float arrays or
        // an array of `QParams`, for which all zeros is a valid value.
        #(#cfg)*
        #[allow(unsafe_code)]
        unsafe impl #krate::__private::bytemuck::Zeroable for #name {}

        }
    }

    /// `<Name>Int8::baked()`, with the `include_bytes!` that rebuilds on
    /// change.
    fn baked(&self, b: &Baked) -> TokenStream {
        let (cfg, name) = (&self.net.cfg, &self.name);
        let (value, track) = (&b.value, &b.track);
        let file = self
            .net
            .int8
            .as_ref()
            .and_then(|i| i.weights.as_ref())
            .map(syn::LitStr::value)
            .unwrap_or_default();
        let doc = format!(
            "The int8 network saved in `{file}`, read, checked and baked in at compile time: a `static`, in flash on a microcontroller; no parsing, allocation or copy at run time."
        );
        quote! {
            // Rebuild when the int8 file changes.
            #(#cfg)*
            #track

            #(#cfg)*
            impl #name {
                #[doc = #doc]
                #[must_use]
                pub fn baked() -> &'static Self {
                    static BAKED: #name = #value;
                    &BAKED
                }
            }
        }
    }

    /// `impl Int8Network`.
    fn network_impl(&self, shown: &[usize], layers: usize, memory: &MemoryPlan) -> TokenStream {
        let Parts {
            krate,
            net,
            graph,
            name,
            ws,
        } = self;
        let Network { cfg, ident, .. } = net;
        let (input_ty, output_ty) = (Elem::I8.ty(graph.input), Elem::I8.ty(graph.output_shape()));
        let out = lit(value_index(graph.output));
        let quantize = quantize::body(krate, graph, shown, layers);
        let restore = quantize::restore(krate, graph);
        let (visit, visit_mut) = (
            quantize::visit(krate, graph, false),
            quantize::visit(krate, graph, true),
        );
        let forward = forward::body(krate, graph, memory, Elem::I8);
        let (row_values, row_keys) = rows(graph, layers);
        quote! {
        #(#cfg)*
        impl #krate::quant::Int8Network for #name {
            type Float = #ident;
            type Input = #input_ty;
            type Output = #output_ty;
            type Workspace = #ws;

            const ROW_VALUES: &'static [::core::option::Option<usize>] = &[#(#row_values),*];
            const ROW_KEYS: &'static [&'static str] = &[#(#row_keys),*];

            fn quantize_from(
                &mut self,
                float: &#ident,
                input: #krate::quant::QParams,
                layers: &[#krate::quant::QParams],
            ) -> ::core::result::Result<(), #krate::quant::QuantizeError> {
                #quantize
            }

            fn forward(&self, input: &Self::Input) -> Self::Output {
                let mut workspace = #ws::new();
                self.forward_with(input, &mut workspace)
            }

            fn forward_with(&self, input: &Self::Input, workspace: &mut #ws) -> Self::Output {
                #forward
            }

            fn values(&self) -> &[#krate::quant::QParams] {
                &self.values
            }

            fn values_mut(&mut self) -> &mut [#krate::quant::QParams] {
                &mut self.values
            }

            fn visit_stored(
                &self,
                f: &mut dyn FnMut(&'static str, &'static [usize], #krate::quant::network::Stored<'_>),
            ) {
                #visit
            }

            fn visit_stored_mut(
                &mut self,
                f: &mut dyn FnMut(&'static str, &'static [usize], #krate::quant::network::StoredMut<'_>),
            ) {
                #visit_mut
            }

            fn restore(&mut self) {
                #restore
            }

            fn input_params(&self) -> #krate::quant::QParams {
                self.values[0]
            }

            fn output_params(&self) -> #krate::quant::QParams {
                self.values[#out]
            }
        }
        }
    }
}

/// One `QLayer` field per convolution and linear layer, named as the float
/// network's.
fn fields(krate: &TokenStream, graph: &Graph) -> Vec<TokenStream> {
    layers(graph)
        .map(|(_, n)| {
            let (dims, o) = weight_shape(n);
            let (ty, o) = (array_type(&quote!(i8), &dims), lit(o));
            let (field, doc) = (&n.field, format!("`{}`, quantized.", n.key));
            quote! {
                #[doc = #doc]
                pub #field: #krate::quant::QLayer<#ty, #o>,
            }
        })
        .collect()
}

/// For each of the float network's `layers` rows, the values-table index
/// of the first node on that row (a fused activation's row shows the
/// convolution's clamped output) and the key of its quantized layer.
fn rows(graph: &Graph, layers: usize) -> (Vec<TokenStream>, Vec<String>) {
    (0..layers)
        .map(|r| {
            let node = graph.nodes.iter().enumerate().find(|(_, n)| n.row == r);
            let value = node.map_or_else(
                || quote!(::core::option::Option::None),
                |(i, _)| {
                    let v = lit(value_index(crate::graph::Value::Node(i)));
                    quote!(::core::option::Option::Some(#v))
                },
            );
            let key = node
                .filter(|(_, n)| quantized(n))
                .map_or_else(String::new, |(_, n)| n.key.clone());
            (value, key)
        })
        .unzip()
}

/// The name of `act`'s `constnet_runtime::quant::layer::Act` variant.
fn act_ident(act: Act) -> TokenStream {
    match act {
        Act::None => quote!(None),
        Act::Relu => quote!(Relu),
        Act::Relu6 => quote!(Relu6),
    }
}
