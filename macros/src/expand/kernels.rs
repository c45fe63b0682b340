//! One node as one kernel call: which runtime function, with which const
//! parameters, on which operands. Shared by `forward` (operands in the
//! workspace) and `forward_traced` (operands in the trace).

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::types::{lit, map_dims, tensor_type};
use crate::graph::Node;
use crate::op::{Activation, Op, PadMode, Pads};
use crate::shape::Shape;

/// What a call needs to know.
pub struct Call<'a> {
    pub krate: &'a TokenStream,
    pub node: &'a Node,
    /// The node's index in the graph: its output is `Value::Node(index)`.
    pub index: usize,
    /// `&T` expressions of the node's inputs, with their shapes.
    pub inputs: Vec<(TokenStream, Shape)>,
    /// `&T` of the fused residual, if any.
    pub residual: Option<TokenStream>,
}

impl Call<'_> {
    pub fn input(&self, i: usize) -> (TokenStream, Shape) {
        self.inputs
            .get(i)
            .cloned()
            .unwrap_or_else(|| (quote!(input), Shape::Flat(0)))
    }

    /// `&self.<field>`'s tensors.
    pub fn weights(&self) -> TokenStream {
        let field = &self.node.field;
        quote!(self.#field)
    }

    /// The input `i` as `&[f32; N]`.
    fn flat(&self, i: usize) -> TokenStream {
        let krate = self.krate;
        let (src, shape) = self.input(i);
        let n = lit(shape.len().unwrap_or(0));
        quote!(#krate::tensor::view::<[f32; #n]>(#krate::Tensor::as_flat(#src)))
    }
}

/// Code for a node that writes a new value into `dst`, a `&mut [f32]` of
/// exactly its size.
pub fn produce(call: &Call, dst: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let out_ty = tensor_type(call.node.shape);
    let typed = quote!(#krate::tensor::view_mut::<#out_ty>(#dst));
    match call.node.op {
        Op::Conv2d { .. } => conv(call, &typed),
        Op::Linear { bias, .. } => linear(call, bias, &typed),
        Op::Cat => cat(call, dst),
        Op::Pad2d { mode, pads, value } => pad(call, mode, pads, value, &typed),
        _ => pool(call, &typed),
    }
}

/// Code for a node that works in place on `target`, a `&mut [f32]` that
/// already holds its first input.
pub fn in_place(call: &Call, target: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let ty = tensor_type(call.node.shape);
    let typed = quote!(#krate::tensor::view_mut::<#ty>(#target));
    match call.node.op {
        Op::Activation(act) => activation(krate, act, &quote!(#target)),
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
            quote!(#krate::act::#f::<#o, #d, #i, _>(#typed);)
        }
        Op::BatchNorm2d { eps, affine, .. } => {
            // A vector (BatchNorm1d) is a map of 1×1 planes.
            let [c, h, w] = map_dims(call.node.shape).map(lit);
            let typed = quote!(#krate::tensor::view_mut::<[[[f32; #w]; #h]; #c]>(#target));
            let bn = call.weights();
            let eps = Literal::f32_suffixed(eps);
            let (weight, bias) = norm_affine(&bn, affine);
            quote! {
                #krate::norm::batch_norm2d::<#c, #h, #w>(
                    #typed, #weight, #bias, &#bn.running_mean, &#bn.running_var, #eps,
                );
            }
        }
        Op::Add => {
            let n = lit(call.node.shape.len().unwrap_or(0));
            let adds = (1..call.inputs.len()).map(|i| {
                let other = call.flat(i);
                quote!(#krate::merge::add::<#n>(#krate::tensor::view_mut::<[f32; #n]>(#target), #other);)
            });
            quote!(#(#adds)*)
        }
        _ => quote!(),
    }
}

/// `act::relu(slice)` and the others.
fn activation(krate: &TokenStream, act: Activation, slice: &TokenStream) -> TokenStream {
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

/// `Some(&<weights>.bias)` for a layer with a bias, else `None`.
pub fn bias(weights: &TokenStream, bias: bool) -> TokenStream {
    if bias {
        quote!(Some(&#weights.bias))
    } else {
        quote!(None)
    }
}

/// A batch norm's `(weight, bias)` arguments: `Some(&<bn>.weight)` and
/// `Some(&<bn>.bias)` if it is affine, else `None` twice.
pub fn norm_affine(bn: &TokenStream, affine: bool) -> (TokenStream, TokenStream) {
    if affine {
        (quote!(Some(&#bn.weight)), quote!(Some(&#bn.bias)))
    } else {
        (quote!(None), quote!(None))
    }
}

/// The activation a convolution or linear layer applies in its store.
pub fn post_act(krate: &TokenStream, act: Option<Activation>) -> TokenStream {
    let act = match act {
        None => quote!(None),
        Some(Activation::Relu) => quote!(Relu),
        Some(Activation::Relu6) => quote!(Relu6),
        Some(Activation::LeakyRelu { negative_slope }) => {
            let s = Literal::f32_suffixed(negative_slope);
            quote!(LeakyRelu(#s))
        }
        Some(Activation::Hardswish) => quote!(Hardswish),
        Some(Activation::Hardsigmoid) => quote!(Hardsigmoid),
        // `fuse` folds only the acts above.
        Some(_) => quote!(None),
    };
    quote!(#krate::conv::PostAct::#act)
}

/// A convolution's const parameters in the order of the runtime's
/// `conv2d_fused` and `quant::conv::conv2d`: `SH, SW, PT, PB, PL, PR, DH,
/// DW, G, C, H, W, O, CG, KH, KW, OH, OW`.
pub fn conv_consts(call: &Call) -> TokenStream {
    let Op::Conv2d {
        in_channels,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        ..
    } = call.node.op
    else {
        return quote!();
    };
    let (_, in_shape) = call.input(0);
    let [c, h, w] = map_dims(in_shape).map(lit);
    let [o, oh, ow] = map_dims(call.node.shape).map(lit);
    let (sh, sw, dh, dw) = (
        lit(stride.0),
        lit(stride.1),
        lit(dilation.0),
        lit(dilation.1),
    );
    let (g, cg) = (
        lit(groups),
        lit(in_channels.checked_div(groups).unwrap_or(0)),
    );
    let (kh, kw) = (lit(kernel.0), lit(kernel.1));
    let Pads {
        top,
        bottom,
        left,
        right,
    } = padding;
    let (pt, pb, pl, pr) = (lit(top), lit(bottom), lit(left), lit(right));
    quote!(#sh, #sw, #pt, #pb, #pl, #pr, #dh, #dw, #g, #c, #h, #w, #o, #cg, #kh, #kw, #oh, #ow)
}

/// A convolution: the plain entry points when nothing is folded into it
/// and its padding is symmetric, else `conv2d_fused`.
fn conv(call: &Call, dst: &TokenStream) -> TokenStream {
    let Op::Conv2d {
        in_channels,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        bias,
        padding_mode,
        ..
    } = call.node.op
    else {
        return quote!();
    };
    let krate = call.krate;
    let (src, in_shape) = call.input(0);
    let weights = call.weights();
    let bias = self::bias(&weights, bias);
    let plain = call.node.post.is_empty() && call.residual.is_none();
    if let (Some((ph, pw)), true) = (padding.as_symmetric(), plain) {
        let [c, h, w] = map_dims(in_shape).map(lit);
        let [o, oh, ow] = map_dims(call.node.shape).map(lit);
        let (sh, sw, dh, dw) = (
            lit(stride.0),
            lit(stride.1),
            lit(dilation.0),
            lit(dilation.1),
        );
        let (g, cg) = (
            lit(groups),
            lit(in_channels.checked_div(groups).unwrap_or(0)),
        );
        let (kh, kw) = (lit(kernel.0), lit(kernel.1));
        let f = match padding_mode {
            PadMode::Zeros => quote!(conv2d),
            PadMode::Reflect => quote!(conv2d_reflect),
            PadMode::Replicate => quote!(conv2d_replicate),
            PadMode::Circular => quote!(conv2d_circular),
        };
        let (ph, pw) = (lit(ph), lit(pw));
        return quote! {
            #krate::conv::#f::<#sh, #sw, #ph, #pw, #dh, #dw, #g, #c, #h, #w, #o, #cg, #kh, #kw, #oh, #ow>(
                #src, &#weights.weight, #bias, #dst,
            );
        };
    }
    let mode = match padding_mode {
        PadMode::Zeros => quote!(Zeros),
        PadMode::Reflect => quote!(Reflect),
        PadMode::Replicate => quote!(Replicate),
        PadMode::Circular => quote!(Circular),
    };
    let consts = conv_consts(call);
    let post = post(call);
    quote! {
        #krate::conv::conv2d_fused::<#krate::conv::#mode, #consts>(
            #src, &#weights.weight, #bias, &#post, #dst,
        );
    }
}

/// The `conv::Post` of a fused convolution.
fn post(call: &Call) -> TokenStream {
    let krate = call.krate;
    let norm = call.node.post.norm.as_ref().map_or_else(
        || quote!(None),
        |bn| {
            let field = &bn.field;
            let eps = Literal::f32_suffixed(bn.eps);
            let (weight, bias) = norm_affine(&quote!(self.#field), bn.affine);
            quote!(Some(#krate::conv::Norm {
                weight: #weight,
                bias: #bias,
                running_mean: &self.#field.running_mean,
                running_var: &self.#field.running_var,
                eps: #eps,
            }))
        },
    );
    let residual = match &call.residual {
        Some(r) => quote!(Some(#r)),
        None => quote!(None),
    };
    let act = post_act(krate, call.node.post.act);
    quote!(#krate::conv::Post { norm: #norm, residual: #residual, act: #act })
}

fn linear(call: &Call, bias: bool, dst: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let (src, shape) = call.input(0);
    let (i, o) = (
        lit(shape.len().unwrap_or(0)),
        lit(call.node.shape.len().unwrap_or(0)),
    );
    let weights = call.weights();
    let bias = self::bias(&weights, bias);
    match call.node.post.act {
        None => quote! {
            #krate::linear::linear::<#i, #o>(#src, &#weights.weight, #bias, #dst);
        },
        act => {
            let act = post_act(krate, act);
            quote! {
                #krate::linear::linear_fused::<#i, #o>(#src, &#weights.weight, #bias, #act, #dst);
            }
        }
    }
}

/// `Cat`: each input copied into its range of `dst`.
fn cat(call: &Call, dst: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let mut start = 0usize;
    let copies = call.inputs.iter().map(|(src, shape)| {
        let n = shape.len().unwrap_or(0);
        let end = start.saturating_add(n);
        let (s, e) = (lit(start), lit(end));
        start = end;
        super::types::copy(krate, src, &quote!(&mut out[#s..#e]), *shape)
    });
    let copies: Vec<TokenStream> = copies.collect();
    quote! {
        let out: &mut [f32] = #dst;
        #(#copies)*
    }
}

fn pad(call: &Call, mode: PadMode, pads: Pads, value: f32, dst: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let (src, in_shape) = call.input(0);
    let [c, h, w] = map_dims(in_shape).map(lit);
    let [_, oh, ow] = map_dims(call.node.shape).map(lit);
    let mode = match mode {
        PadMode::Zeros => quote!(Zeros),
        PadMode::Reflect => quote!(Reflect),
        PadMode::Replicate => quote!(Replicate),
        PadMode::Circular => quote!(Circular),
    };
    let (pt, pb, pl, pr) = (
        lit(pads.top),
        lit(pads.bottom),
        lit(pads.left),
        lit(pads.right),
    );
    let value = Literal::f32_suffixed(value);
    quote! {
        #krate::pad::pad2d::<#krate::conv::#mode, #pt, #pb, #pl, #pr, #c, #h, #w, #oh, #ow>(#src, #value, #dst);
    }
}

/// The pooling layers.
fn pool(call: &Call, dst: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let (src, in_shape) = call.input(0);
    let [c, h, w] = map_dims(in_shape).map(lit);
    let [_, oh, ow] = map_dims(call.node.shape).map(lit);
    match call.node.op {
        Op::MaxPool2d {
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode,
        } => {
            let (kh, kw, sh, sw) = (lit(kernel.0), lit(kernel.1), lit(stride.0), lit(stride.1));
            let (ph, pw) = (lit(padding.0), lit(padding.1));
            let (dh, dw) = (lit(dilation.0), lit(dilation.1));
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
        _ => quote!(),
    }
}
