//! Code generation: the weights struct, the workspace struct, the trace,
//! `forward`, and the `Network` impl with the layer table. Split by
//! concern: `weights` (the struct's fields and what walks them), `forward`
//! (the fused graph on the workspace), `batch` (tiles of samples through
//! the dense layers a network ends in), `trace` (the checked graph on the
//! trace), `kernels` (one node as one kernel call, for both), `table` (the
//! layer table), `types` (shared helpers); this file puts them together.
//!
//! The generated code names the runtime only through `krate` (the facade's
//! `$crate`), so it keeps working when the user renames the dependency, and
//! it is meant to read well under `cargo expand`: one kernel call per node.

mod batch;
mod forward;
mod int8;
mod kernels;
mod table;
mod trace;
mod types;
mod weights;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::Network;
use crate::bake::Baked;
use crate::graph::Graph;
use crate::memory::MemoryPlan;
use types::{lit, tensor_type};

pub use int8::items as int8_items;

/// Everything one network generates. `graph` is the network as checked
/// (the weights, the table, the trace); `fused` the same after `fuse`,
/// which `forward` runs with the workspace as `memory` places it.
pub fn expand(
    krate: &TokenStream,
    net: &Network,
    graph: &Graph,
    fused: &Graph,
    memory: &MemoryPlan,
    baked: Option<&Baked>,
) -> TokenStream {
    let parts = Parts {
        krate,
        net,
        graph,
        input_ty: tensor_type(graph.input),
        output_ty: tensor_type(graph.output_shape()),
    };
    let weights = weights::weights(krate, &net.vis, graph);
    let structs = parts.structs(&weights.fields, memory);
    let trace = trace::items(krate, &net.ident, &net.vis, &net.cfg, graph);
    let inherent = parts.inherent(&weights.zeros, fused, memory);
    let network = parts.network_impl(&weights, batch::method(krate, fused, memory));
    let baked = baked.map(|b| parts.baked(b));
    quote! {
        #baked
        #structs
        #trace
        #inherent
        #network
    }
}

/// What every part needs.
struct Parts<'a> {
    krate: &'a TokenStream,
    net: &'a Network,
    graph: &'a Graph,
    input_ty: TokenStream,
    output_ty: TokenStream,
}

impl Parts<'_> {
    /// The network struct (with the layer table in its docs) and the
    /// workspace struct.
    fn structs(&self, fields: &[TokenStream], memory: &MemoryPlan) -> TokenStream {
        let Network {
            attrs,
            cfg,
            vis,
            ident: name,
            ..
        } = self.net;
        let krate = self.krate;
        let ws_name = format_ident!("{}Workspace", name);
        let ws_len = lit(memory.len);
        let table = table::doc(self.graph, memory.bytes, &self.input_ty, &self.output_ty);
        let ws_doc = format!(
            "Scratch memory for one forward pass of [`{name}`]: {} bytes, in which every intermediate activation has its place, reused as soon as the activation is dead. Reuse one across calls with [`{name}::forward_with`].",
            memory.bytes
        );
        quote! {
            #(#attrs)*
            #[doc = ""]
            #(#[doc = #table])*
            #(#cfg)*
            #[derive(Clone, PartialEq)]
            #vis struct #name {
                #(#fields,)*
            }

            #(#cfg)*
            #[doc = #ws_doc]
            #[derive(Clone)]
            #vis struct #ws_name {
                buf: [f32; #ws_len],
            }

            #(#cfg)*
            impl #ws_name {
                /// A workspace of zeros.
                #[must_use]
                #[allow(clippy::large_stack_arrays)] // `const`: evaluated at compile time in a `static`
                pub const fn new() -> Self {
                    Self { buf: [0.0; #ws_len] }
                }

                /// The workspace as raw floats, for inspection (every float of
                /// it is used by some forward pass step).
                #[must_use]
                pub fn floats(&self) -> &[f32; #ws_len] {
                    &self.buf
                }

                /// The workspace as raw floats, mutably.
                pub fn floats_mut(&mut self) -> &mut [f32; #ws_len] {
                    &mut self.buf
                }
            }

            #(#cfg)*
            impl ::core::default::Default for #ws_name {
                fn default() -> Self {
                    Self::new()
                }
            }

            // SAFETY: every field is an `f32` array, for which all-zero bytes
            // are a valid value (0.0).
            #(#cfg)*
            #[allow(unsafe_code)]
            unsafe impl #krate::__private::bytemuck::Zeroable for #ws_name {}

            // SAFETY: every field is a `Weights` of `f32` arrays (or `()`), for
            // which all-zero bytes are a valid value.
            #(#cfg)*
            #[allow(unsafe_code)]
            unsafe impl #krate::__private::bytemuck::Zeroable for #name {}
        }
    }

    /// The constants, `zeroed`, `forward`, `forward_with`,
    /// `forward_traced` and `Debug`.
    fn inherent(&self, zeros: &[TokenStream], fused: &Graph, memory: &MemoryPlan) -> TokenStream {
        let Network {
            cfg, ident: name, ..
        } = self.net;
        let krate = self.krate;
        let (input_ty, output_ty) = (&self.input_ty, &self.output_ty);
        let ws_name = format_ident!("{}Workspace", name);
        let trace_name = format_ident!("{}Trace", name);
        let totals = self.graph.totals;
        let (parameters, macs) = (lit(totals.params), lit(totals.macs));
        let (weight_bytes, ws_bytes) = (lit(totals.weight_bytes), lit(memory.bytes));
        let forward = forward::body(krate, fused, memory, types::Elem::F32);
        let traced = trace::body(krate, self.graph);
        let name_str = name.to_string();
        quote! {
            #(#cfg)*
            impl ::core::fmt::Debug for #name {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(#name_str)
                        .field("parameters", &<Self as #krate::Network>::PARAMETERS)
                        .finish_non_exhaustive()
                }
            }

            #(#cfg)*
            impl #name {
                /// Learnable parameters (PyTorch's `sum(p.numel() for p in model.parameters())`).
                pub const PARAMETERS: usize = #parameters;
                /// Bytes of every tensor loaded from the `state_dict` (`f32`),
                /// batch-norm running statistics included.
                pub const WEIGHT_BYTES: usize = #weight_bytes;
                /// Multiply-accumulates of one forward pass of one sample.
                pub const MACS: usize = #macs;
                /// Bytes of scratch memory one forward pass needs: the size of
                /// the workspace, which holds every intermediate activation
                /// with buffers reused as soon as an activation is dead.
                /// `forward` puts it on the stack; `forward_with` takes it from
                /// the caller. Assert a memory budget at compile time with
                /// `const _: () = assert!(Net::WORKSPACE_BYTES <= 16 * 1024);`.
                pub const WORKSPACE_BYTES: usize = #ws_bytes;

                /// A network with every weight zero, built at compile time when
                /// used in a `const` or `static`. At run time prefer
                /// `Network::new_zeroed`, which builds it on the heap in place.
                #[must_use]
                #[allow(clippy::large_stack_arrays)] // `const`: evaluated at compile time in a `static`
                pub const fn zeroed() -> Self {
                    Self { #(#zeros,)* }
                }

                /// Runs one sample. No heap allocation; the intermediate
                /// activations live on the stack (see `forward_with` to supply
                /// them instead).
                #[must_use]
                pub fn forward(&self, input: &#input_ty) -> #output_ty {
                    let mut workspace = #ws_name::new();
                    self.forward_with(input, &mut workspace)
                }

                /// Runs one sample with caller-owned scratch memory: no heap
                /// allocation and a small stack frame.
                #[must_use]
                pub fn forward_with(&self, input: &#input_ty, workspace: &mut #ws_name) -> #output_ty {
                    #forward
                }

                /// Runs one sample layer by layer, without fusing any, and
                /// keeps every layer's, merge's and block's output in `trace`
                /// (caller-owned: no heap; `Network::new_trace` makes one on
                /// the heap). The result equals `forward`'s up to the
                /// rounding of fused batch norms.
                #[must_use]
                pub fn forward_traced(&self, input: &#input_ty, trace: &mut #trace_name) -> #output_ty {
                    #traced
                }
            }
        }
    }

    /// `impl Network`.
    fn network_impl(&self, weights: &weights::Weights, batch: Option<TokenStream>) -> TokenStream {
        let Network {
            cfg, ident: name, ..
        } = self.net;
        let krate = self.krate;
        let (input_ty, output_ty) = (&self.input_ty, &self.output_ty);
        let ws_name = format_ident!("{}Workspace", name);
        let trace_name = format_ident!("{}Trace", name);
        let layers = table::layers(krate, self.graph);
        let (params, visit, visit_mut) = (&weights.params, &weights.visit, &weights.visit_mut);
        quote! {
            #(#cfg)*
            impl #krate::Network for #name {
                type Input = #input_ty;
                type Output = #output_ty;
                type Workspace = #ws_name;
                type Trace = #trace_name;

                const LAYERS: &'static [#krate::LayerInfo] = #layers;
                const PARAMS: &'static [#krate::ParamInfo] = &[#(#params),*];
                const PARAMETERS: usize = #name::PARAMETERS;
                const MACS: usize = #name::MACS;

                fn forward(&self, input: &Self::Input) -> Self::Output {
                    #name::forward(self, input)
                }

                fn forward_with(&self, input: &Self::Input, workspace: &mut Self::Workspace) -> Self::Output {
                    #name::forward_with(self, input, workspace)
                }

                fn forward_traced(&self, input: &Self::Input, trace: &mut Self::Trace) -> Self::Output {
                    #name::forward_traced(self, input, trace)
                }

                #batch

                fn visit_params(&self, f: &mut dyn FnMut(&'static #krate::ParamInfo, &[f32])) {
                    #(#visit)*
                }

                fn visit_params_mut(&mut self, f: &mut dyn FnMut(&'static #krate::ParamInfo, &mut [f32])) {
                    #(#visit_mut)*
                }
            }
        }
    }

    /// `Name::baked()`, with the `include_bytes!` that rebuilds on change.
    fn baked(&self, b: &Baked) -> TokenStream {
        let Network {
            cfg,
            ident: name,
            weights,
            ..
        } = self.net;
        let (value, track) = (&b.value, &b.track);
        let doc = format!(
            "The weights of `{}`, read, checked and baked in at compile time: a `static`, in flash on a microcontroller; no parsing, allocation or copy at run time.",
            weights.as_ref().map(syn::LitStr::value).unwrap_or_default()
        );
        quote! {
            // Rebuild when the weights file changes.
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
}
