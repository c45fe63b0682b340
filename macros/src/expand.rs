//! Code generation from a checked [`Plan`]: the weights struct, the
//! workspace struct, `forward`, and the `Network` impl with the layer table.
//!
//! The generated code names the runtime only through `krate` (the facade's
//! `$crate`), so it keeps working when the user renames the dependency, and
//! it is meant to read well under `cargo expand`: one kernel call
//! per layer.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::ast::Network;
use crate::bake::Baked;
use crate::check::{Checked, Plan};
use crate::memory::{Loc, MemoryPlan, Region, Step};
use crate::op::{Activation, Op, PadMode};
use crate::shape::{Receptive, Shape};

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// `[f32; n]` or `[[[f32; w]; h]; c]`.
fn tensor_type(shape: Shape) -> TokenStream {
    match shape {
        Shape::Flat(n) => {
            let n = lit(n);
            quote!([f32; #n])
        }
        Shape::Map { c, h, w } => {
            let (c, h, w) = (lit(c), lit(h), lit(w));
            quote!([[[f32; #w]; #h]; #c])
        }
    }
}

/// The type of a parameter tensor with PyTorch's shape.
fn param_type(dims: &[usize]) -> TokenStream {
    dims.iter().rev().fold(quote!(f32), |inner, &d| {
        let d = lit(d);
        quote!([#inner; #d])
    })
}

/// A zero value of a parameter tensor, usable in `const` context.
fn param_zero(dims: &[usize]) -> TokenStream {
    dims.iter().rev().fold(quote!(0.0), |inner, &d| {
        let d = lit(d);
        quote!([#inner; #d])
    })
}

fn zero(shape: Shape) -> TokenStream {
    param_zero(&shape.dims())
}

fn dims_tokens(dims: &[usize]) -> TokenStream {
    let dims = dims.iter().map(|&d| lit(d));
    quote!(&[#(#dims),*])
}

/// Renders the memory plan's locations as expressions.
struct Gen<'a> {
    krate: &'a TokenStream,
    /// The network's input shape.
    input: Shape,
}

/// `a..b` over constants, or `..b` from the start.
fn range(start: usize, end: usize) -> TokenStream {
    let end = lit(end);
    if start == 0 {
        quote!(..#end)
    } else {
        let start = lit(start);
        quote!(#start..#end)
    }
}

/// How to borrow a region that is only read while `write` is written:
/// the half of the workspace split at `write` that holds it, and its range
/// in that half. `None` if the two overlap (the planner never does that).
fn beside(read: Region, write: Region) -> Option<(TokenStream, TokenStream)> {
    if read.end() <= write.offset {
        Some((quote!(below), range(read.offset, read.end())))
    } else {
        let start = read.offset.checked_sub(write.end())?;
        let end = read.end().checked_sub(write.end())?;
        Some((quote!(above), range(start, end)))
    }
}

impl Gen<'_> {
    /// An expression of type `&T` for an activation.
    fn read(&self, loc: Loc) -> TokenStream {
        let krate = self.krate;
        match loc {
            Loc::Input { shape } if shape == self.input => quote!(input),
            Loc::Input { shape } => {
                let [c, h, w] = map_dims(self.input);
                let n = lit(shape.len().unwrap_or(0));
                let (c, h, w) = (lit(c), lit(h), lit(w));
                quote!(#krate::tensor::flatten::<#c, #h, #w, #n>(input))
            }
            Loc::Buf { region, shape } => {
                let (ty, range) = (tensor_type(shape), range(region.offset, region.end()));
                quote!(#krate::tensor::view::<#ty>(&workspace.buf[#range]))
            }
        }
    }

    /// An expression of type `&mut T` for a workspace region.
    fn write(&self, region: Region, shape: Shape) -> TokenStream {
        let krate = self.krate;
        let (ty, range) = (tensor_type(shape), range(region.offset, region.end()));
        quote!(#krate::tensor::view_mut::<#ty>(&mut workspace.buf[#range]))
    }

    /// One layer's code.
    fn step(&self, step: Step, layer: &Checked) -> TokenStream {
        let krate = self.krate;
        match step {
            Step::Nothing => quote!(),
            Step::InPlace { at, copy_input } => {
                let target = self.write(at, layer.input);
                let copy = if copy_input {
                    let src = self.read(Loc::Input { shape: layer.input });
                    quote!(*#target = *#src;)
                } else {
                    quote!()
                };
                let call = in_place(krate, &layer.op, layer, &target);
                quote! { #copy #call }
            }
            Step::Produce {
                from: from @ Loc::Input { .. },
                to,
            } => {
                let (src, dst) = (self.read(from), self.write(to, layer.output));
                producing(krate, &layer.op, layer, &src, &dst)
            }
            Step::Produce {
                from: Loc::Buf { region, shape },
                to,
            } => {
                // Split the workspace around the output to borrow it mutably
                // next to the input.
                let Some((half, src_range)) = beside(region, to) else {
                    return quote!(compile_error!("constnet internal error: a layer's input and output overlap in the workspace"););
                };
                let (in_ty, out_ty) = (tensor_type(shape), tensor_type(layer.output));
                let (at, len) = (lit(to.offset), lit(to.len));
                let src = quote!(#krate::tensor::view::<#in_ty>(&#half[#src_range]));
                let dst = quote!(#krate::tensor::view_mut::<#out_ty>(out));
                let call = producing(krate, &layer.op, layer, &src, &dst);
                quote! {
                    let (below, rest) = workspace.buf.split_at_mut(#at);
                    let (out, above) = rest.split_at_mut(#len);
                    #call
                }
            }
        }
    }
}

fn map_dims(shape: Shape) -> [usize; 3] {
    match shape {
        Shape::Map { c, h, w } => [c, h, w],
        Shape::Flat(n) => [n, 1, 1],
    }
}

/// Generates everything for one declaration.
pub fn expand(
    net: &Network,
    plan: &Plan,
    memory: &MemoryPlan,
    baked: Option<&Baked>,
) -> TokenStream {
    let krate = &net.krate;
    // `#[cfg(…)]` on the declaration applies to every item it generates.
    let cfg = &net.cfg;
    let gen = Gen {
        krate,
        input: plan.input,
    };
    let name = &net.ident;
    let vis = &net.vis;
    let attrs = &net.attrs;
    let ws_name = format_ident!("{}Workspace", name);
    let input_ty = tensor_type(plan.input);
    let output_ty = tensor_type(plan.output());

    // Weights: one field per layer with parameters.
    let mut fields = Vec::new();
    let mut zero_fields = Vec::new();
    let mut params_info = Vec::new();
    let mut visit = Vec::new();
    let mut visit_mut = Vec::new();
    for layer in &plan.layers {
        let shapes = layer.op.param_shapes();
        if shapes.is_empty() {
            continue;
        }
        let field = &layer.field;
        let (ty, zero_value) = weights_type(krate, &layer.op, &shapes);
        let shape_doc: Vec<String> = shapes
            .iter()
            .map(|(n, d)| format!("`{n}` {}", Shape::dims_text(d)))
            .collect();
        let doc = format!(
            "`{}`: `{}`; {}.",
            layer.key,
            layer.display,
            shape_doc.join(", ")
        );
        fields.push(quote! {
            #[doc = #doc]
            #vis #field: #ty
        });
        zero_fields.push(quote! {
            #field: #zero_value
        });
        for (tensor, dims) in &shapes {
            let key = format!("{}.{tensor}", layer.key);
            let dims_t = dims_tokens(dims);
            let i = lit(params_info.len());
            let t = format_ident!("{}", tensor);
            params_info.push(quote!(#krate::ParamInfo { name: #key, shape: #dims_t }));
            visit.push(quote!(f(&Self::PARAMS[#i], #krate::Tensor::as_flat(&self.#field.#t));));
            visit_mut.push(
                quote!(f(&Self::PARAMS[#i], #krate::Tensor::as_flat_mut(&mut self.#field.#t));),
            );
        }
    }

    // Forward: one kernel call per layer, activations in the workspace as
    // the memory plan places them.
    let mut steps = Vec::new();
    let mut traced_steps = Vec::new();
    for (layer, &(step, after)) in plan.layers.iter().zip(&memory.steps) {
        let code = gen.step(step, layer);
        let field = &layer.field;
        let now = gen.read(after);
        // Each step is a block, so its borrows of the workspace end there.
        traced_steps.push(quote! {
            { #code }
            trace.#field = *#now;
        });
        steps.push(quote!({ #code }));
    }
    let result = gen.read(memory.output);

    // The trace: one field per layer holding that layer's output.
    let trace_fields = plan.layers.iter().map(|l| {
        let (f, ty) = (&l.field, tensor_type(l.output));
        let doc = format!(
            "The output of `{}`: `{}`, shape {}.",
            l.key, l.display, l.output
        );
        quote! {
            #[doc = #doc]
            pub #f: #ty
        }
    });
    let trace_visit = plan.layers.iter().enumerate().map(|(i, l)| {
        let (f, i) = (&l.field, lit(i));
        quote!(f(&layers[#i], #krate::Tensor::as_flat(&self.#f));)
    });
    let trace_zero = plan.layers.iter().map(|l| {
        let (f, z) = (&l.field, zero(l.output));
        quote!(#f: #z)
    });

    let ws_len = lit(memory.len);
    let ws_bytes = memory.bytes;
    let ws_bytes_lit = lit(ws_bytes);
    let weight_bytes = lit(plan.totals.weight_bytes);

    let fields_seen = receptive_fields(plan);
    let layers_info = plan
        .layers
        .iter()
        .zip(&fields_seen)
        .map(|(l, &rf)| layer_info(krate, l, rf));
    let parameters = lit(plan.totals.params);
    let macs = lit(plan.totals.macs);
    let table = doc_table(plan, memory, &input_ty, &output_ty);
    let trace_name = format_ident!("{}Trace", name);
    let trace_doc = format!(
        "Every layer's output during one forward pass of [`{name}`], captured by [`{name}::forward_traced`]: one fixed-size array per layer, no heap."
    );
    let ws_doc = format!(
        "Scratch memory for one forward pass of [`{name}`]: {ws_bytes} bytes, in which the intermediate activations are placed alternately at the bottom and the top, so that a buffer is reused as soon as its activation is dead. Reuse one across calls with [`{name}::forward_with`]."
    );
    let name_str = name.to_string();
    let baked = baked.map(|b| {
        let (value, track) = (&b.value, &b.track);
        let doc = format!(
            "The weights of `{}`, read, checked and baked in at compile time: a `static`, in flash on a microcontroller; no parsing, allocation or copy at run time.",
            net.weights.as_ref().map(syn::LitStr::value).unwrap_or_default()
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
    });

    quote! {
        #baked

        #(#attrs)*
        #[doc = ""]
        #(#[doc = #table])*
        #[derive(Clone, PartialEq)]
        #(#cfg)*
        #vis struct #name {
            #(#fields,)*
        }

        #[doc = #ws_doc]
        #[derive(Clone)]
        #(#cfg)*
        #vis struct #ws_name {
            buf: [f32; #ws_len],
        }

        #[doc = #trace_doc]
        #[derive(Clone, PartialEq)]
        #(#cfg)*
        #vis struct #trace_name {
            #(#trace_fields,)*
        }

        #(#cfg)*
        impl #trace_name {
            /// A trace of zeros.
            #[must_use]
            #[allow(clippy::large_stack_arrays)] // `const`: evaluated at compile time in a `static`
            pub const fn new() -> Self {
                Self { #(#trace_zero,)* }
            }
        }

        #(#cfg)*
        impl #krate::Trace for #trace_name {
            fn visit(&self, f: &mut dyn FnMut(&'static #krate::LayerInfo, &[f32])) {
                let layers = <#name as #krate::Network>::LAYERS;
                #(#trace_visit)*
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
        #[allow(unsafe_code)]
        #(#cfg)*
        unsafe impl #krate::__private::bytemuck::Zeroable for #trace_name {}

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
        #[allow(unsafe_code)]
        #(#cfg)*
        unsafe impl #krate::__private::bytemuck::Zeroable for #ws_name {}

        // SAFETY: every field is a `Weights` of `f32` arrays (or `()`), for
        // which all-zero bytes are a valid value.
        #[allow(unsafe_code)]
        #(#cfg)*
        unsafe impl #krate::__private::bytemuck::Zeroable for #name {}

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
            pub const WORKSPACE_BYTES: usize = #ws_bytes_lit;

            /// A network with every weight zero, built at compile time when
            /// used in a `const` or `static`. At run time prefer
            /// `Network::new_zeroed`, which builds it on the heap in place.
            #[must_use]
            #[allow(clippy::large_stack_arrays)] // `const`: evaluated at compile time in a `static`
            pub const fn zeroed() -> Self {
                Self { #(#zero_fields,)* }
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
                #(#steps)*
                *#result
            }
        }

        #(#cfg)*
        impl #name {
            /// Runs one sample like `forward_with`, and also copies every
            /// layer's output into `trace` (caller-owned: no heap).
            #[must_use]
            pub fn forward_traced(
                &self,
                input: &#input_ty,
                workspace: &mut #ws_name,
                trace: &mut #trace_name,
            ) -> #output_ty {
                #(#traced_steps)*
                *#result
            }
        }

        #(#cfg)*
        impl #krate::Network for #name {
            type Input = #input_ty;
            type Output = #output_ty;
            type Workspace = #ws_name;
            type Trace = #trace_name;

            const LAYERS: &'static [#krate::LayerInfo] = &[#(#layers_info),*];
            const PARAMS: &'static [#krate::ParamInfo] = &[#(#params_info),*];
            const PARAMETERS: usize = #name::PARAMETERS;
            const MACS: usize = #name::MACS;


            fn forward(&self, input: &Self::Input) -> Self::Output {
                #name::forward(self, input)
            }

            fn forward_with(&self, input: &Self::Input, workspace: &mut Self::Workspace) -> Self::Output {
                #name::forward_with(self, input, workspace)
            }

            fn forward_traced(
                &self,
                input: &Self::Input,
                workspace: &mut Self::Workspace,
                trace: &mut Self::Trace,
            ) -> Self::Output {
                #name::forward_traced(self, input, workspace, trace)
            }

            fn visit_params(&self, f: &mut dyn FnMut(&'static #krate::ParamInfo, &[f32])) {
                #(#visit)*
            }

            fn visit_params_mut(&mut self, f: &mut dyn FnMut(&'static #krate::ParamInfo, &mut [f32])) {
                #(#visit_mut)*
            }
        }
    }
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

/// The call for a layer that works in place on the current activation.
fn in_place(krate: &TokenStream, op: &Op, layer: &Checked, target: &TokenStream) -> TokenStream {
    let slice = quote!(#krate::Tensor::as_flat_mut(#target));
    let field = &layer.field;
    match *op {
        Op::Activation(act) => {
            let (name, arg) = match act {
                Activation::Relu => ("relu", None),
                Activation::Relu6 => ("relu6", None),
                Activation::LeakyRelu { negative_slope } => ("leaky_relu", Some(negative_slope)),
                Activation::Elu { alpha } => ("elu", Some(alpha)),
                Activation::Selu => ("selu", None),
                Activation::Gelu => ("gelu", None),
                Activation::GeluTanh => ("gelu_tanh", None),
                Activation::Silu => ("silu", None),
                Activation::Hardswish => ("hardswish", None),
                Activation::Hardsigmoid => ("hardsigmoid", None),
                Activation::Sigmoid => ("sigmoid", None),
                Activation::Tanh => ("tanh", None),
            };
            let f = format_ident!("{}", name);
            match arg {
                Some(v) => {
                    let v = Literal::f32_suffixed(v);
                    quote!(#krate::act::#f(#slice, #v);)
                }
                None => quote!(#krate::act::#f(#slice);),
            }
        }
        Op::Softmax {
            outer,
            dim,
            inner,
            log,
        } => {
            let (o, d, i) = (lit(outer), lit(dim), lit(inner));
            let f = if log {
                quote!(log_softmax)
            } else {
                quote!(softmax)
            };
            quote!(#krate::act::#f::<#o, #d, #i, _>(#target);)
        }
        Op::BatchNorm2d { eps, affine, .. } => {
            let [c, h, w] = map_dims(layer.input);
            let (c, h, w) = (lit(c), lit(h), lit(w));
            let eps = Literal::f32_suffixed(eps);
            let (weight, bias) = if affine {
                (
                    quote!(Some(&self.#field.weight)),
                    quote!(Some(&self.#field.bias)),
                )
            } else {
                (quote!(None), quote!(None))
            };
            quote! {
                #krate::norm::batch_norm2d::<#c, #h, #w>(
                    #target, #weight, #bias, &self.#field.running_mean, &self.#field.running_var, #eps,
                );
            }
        }
        _ => quote!(),
    }
}

/// The call for a layer that writes a new buffer (`workspace.<field>`).
fn producing(
    krate: &TokenStream,
    op: &Op,
    layer: &Checked,
    src: &TokenStream,
    dst: &TokenStream,
) -> TokenStream {
    let field = &layer.field;
    let [c, h, w] = map_dims(layer.input);
    let [oc, oh, ow] = map_dims(layer.output);
    let (c, h, w, oc, oh, ow) = (lit(c), lit(h), lit(w), lit(oc), lit(oh), lit(ow));
    match *op {
        Op::Conv2d {
            in_channels,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            ..
        } => {
            let f = match padding_mode {
                PadMode::Zeros => quote!(conv2d),
                PadMode::Reflect => quote!(conv2d_reflect),
                PadMode::Replicate => quote!(conv2d_replicate),
                PadMode::Circular => quote!(conv2d_circular),
            };
            let (sh, sw, ph, pw) = (lit(stride.0), lit(stride.1), lit(padding.0), lit(padding.1));
            let (dh, dw, g) = (lit(dilation.0), lit(dilation.1), lit(groups));
            let cg = lit(in_channels.checked_div(groups).unwrap_or(0));
            let (kh, kw) = (lit(kernel.0), lit(kernel.1));
            let bias = if bias {
                quote!(Some(&self.#field.bias))
            } else {
                quote!(None)
            };
            quote! {
                #krate::conv::#f::<#sh, #sw, #ph, #pw, #dh, #dw, #g, #c, #h, #w, #oc, #cg, #kh, #kw, #oh, #ow>(
                    #src, &self.#field.weight, #bias, #dst,
                );
            }
        }
        Op::MaxPool2d {
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode,
        } => {
            let (kh, kw, sh, sw) = (lit(kernel.0), lit(kernel.1), lit(stride.0), lit(stride.1));
            let (ph, pw, dh, dw) = (
                lit(padding.0),
                lit(padding.1),
                lit(dilation.0),
                lit(dilation.1),
            );
            quote! {
                #krate::pool::max_pool2d::<#kh, #kw, #sh, #sw, #ph, #pw, #dh, #dw, #ceil_mode, #c, #h, #w, #oh, #ow>(
                    #src, #dst,
                );
            }
        }
        Op::AvgPool2d {
            kernel,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
            divisor,
        } => {
            let (kh, kw, sh, sw) = (lit(kernel.0), lit(kernel.1), lit(stride.0), lit(stride.1));
            let (ph, pw, div) = (lit(padding.0), lit(padding.1), lit(divisor));
            quote! {
                #krate::pool::avg_pool2d::<#kh, #kw, #sh, #sw, #ph, #pw, #ceil_mode, #count_include_pad, #div, #c, #h, #w, #oh, #ow>(
                    #src, #dst,
                );
            }
        }
        Op::AdaptiveAvgPool2d => quote! {
            #krate::pool::adaptive_avg_pool2d::<#c, #h, #w, #oh, #ow>(#src, #dst);
        },
        Op::AdaptiveMaxPool2d => quote! {
            #krate::pool::adaptive_max_pool2d::<#c, #h, #w, #oh, #ow>(#src, #dst);
        },
        Op::Linear {
            in_features,
            out_features,
            bias,
        } => {
            let (i, o) = (lit(in_features), lit(out_features));
            let bias = if bias {
                quote!(Some(&self.#field.bias))
            } else {
                quote!(None)
            };
            quote! {
                #krate::linear::linear::<#i, #o>(#src, &self.#field.weight, #bias, #dst);
            }
        }
        _ => quote!(),
    }
}

/// The receptive field of one output value of each layer, in input pixels,
/// clipped to the input.
fn receptive_fields(plan: &Plan) -> Vec<(usize, usize)> {
    let input_hw = match plan.input {
        Shape::Map { h, w, .. } => (h, w),
        Shape::Flat(n) => (n, 1),
    };
    let hw = |s: Shape| match s {
        Shape::Map { h, w, .. } => (h, w),
        Shape::Flat(_) => (1, 1),
    };
    let mut field = Receptive::PIXEL;
    plan.layers
        .iter()
        .map(|l| {
            field = l.op.receptive(field, hw(l.input), hw(l.output));
            field.clip(input_hw)
        })
        .collect()
}

fn layer_info(krate: &TokenStream, l: &Checked, (rh, rw): (usize, usize)) -> TokenStream {
    let name = &l.key;
    let kind = &l.display;
    let input = dims_tokens(&l.input.dims());
    let output = dims_tokens(&l.output.dims());
    let (params, macs) = (lit(l.params), lit(l.macs));
    let formula = &l.formula;
    let (rh, rw) = (lit(rh), lit(rw));
    quote! {
        #krate::LayerInfo {
            name: #name,
            kind: #kind,
            input_shape: #input,
            output_shape: #output,
            params: #params,
            macs: #macs,
            formula: #formula,
            receptive_field: [#rh, #rw],
        }
    }
}

/// The layer table as rustdoc lines (Markdown).
fn doc_table(
    plan: &Plan,
    memory: &MemoryPlan,
    input_ty: &TokenStream,
    output_ty: &TokenStream,
) -> Vec<String> {
    let mut lines = vec![
        "# Layers".to_string(),
        String::new(),
        "Generated by `constnet::network!`, checked at compile time.".to_string(),
        String::new(),
        "| # | name | layer | input → output | receptive field | params | MACs | activation bytes | how |".to_string(),
        "|---|---|---|---|---|---:|---:|---:|---|".to_string(),
        format!("| | input | | `{}` | | | | | |", plan.input),
    ];
    for (l, (rh, rw)) in plan.layers.iter().zip(receptive_fields(plan)) {
        let how = if l.formula.is_empty() {
            String::new()
        } else {
            format!("`{}`", l.formula)
        };
        let bytes = l.output.bytes().unwrap_or(0);
        lines.push(format!(
            "| {} | `{}` | `{}` | `{}` → `{}` | {rh}×{rw} | {} | {} | {bytes} | {how} |",
            l.index, l.key, l.display, l.input, l.output, l.params, l.macs
        ));
    }
    lines.push(String::new());
    lines.push(format!(
        "Input `{}`, output `{}`; {} parameters, {} multiply-accumulates per sample; a forward pass needs {} bytes of workspace.",
        compact(input_ty),
        compact(output_ty),
        plan.totals.params,
        plan.totals.macs,
        memory.bytes
    ));
    lines
}

/// `[[[f32 ; 32] ; 32] ; 1]` → `[[[f32; 32]; 32]; 1]`.
fn compact(ty: &TokenStream) -> String {
    ty.to_string()
        .replace(" ;", ";")
        .replace("[ ", "[")
        .replace(" ]", "]")
}
