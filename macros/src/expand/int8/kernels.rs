//! One node of the int8 network as one call of an int8 kernel
//! (`constnet_runtime::quant`), on `i8` operands.

use proc_macro2::TokenStream;
use quote::quote;

use super::super::kernels::{conv_consts, Call};
use super::super::types::{lit, map_dims, Elem};
use super::act_ident;
use crate::graph::Value;
use crate::op::{Activation, Op};
use crate::quant::{act_rounding, adaptive_window, value_index};

/// `self.values[k]`: the quantization parameters of the node's input `i`.
fn input_params(call: &Call, i: usize) -> TokenStream {
    let k = lit(call.node.inputs.get(i).map_or(0, |&v| value_index(v)));
    quote!(self.values[#k])
}

/// `self.values[k]`: the quantization parameters of the node's output.
fn output_params(call: &Call) -> TokenStream {
    let k = lit(value_index(Value::Node(call.index)));
    quote!(self.values[#k])
}

/// Code for a node that writes a new value into `dst`, a `&mut [i8]` of
/// exactly its size.
pub fn produce(call: &Call, dst: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let out_ty = Elem::I8.ty(call.node.shape);
    let typed = quote!(#krate::quant::tensor::view_mut::<#out_ty>(#dst));
    let (src, in_shape) = call.input(0);
    let weights = call.weights();
    match call.node.op {
        Op::Conv2d { .. } => conv(call, &typed),
        Op::Linear { .. } => {
            let (i, o) = (
                lit(in_shape.len().unwrap_or(0)),
                lit(call.node.shape.len().unwrap_or(0)),
            );
            quote! {
                #krate::quant::linear::linear::<#i, #o>(
                    #src, #weights.input_zero, &#weights.weight, &#weights.rescale(), #typed,
                );
            }
        }
        Op::Cat => cat(call, dst),
        _ => pool(call, &typed),
    }
}

/// `Cat`: each input requantized (a copy, when it has the output's
/// parameters) into its range of `dst`.
fn cat(call: &Call, dst: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let to = output_params(call);
    let mut start = 0usize;
    let copies: Vec<TokenStream> = call
        .inputs
        .iter()
        .enumerate()
        .map(|(i, (src, shape))| {
            let end = start.saturating_add(shape.len().unwrap_or(0));
            let (s, e) = (lit(start), lit(end));
            start = end;
            let from = input_params(call, i);
            quote! {
                #krate::quant::cat::requantize(
                    #krate::quant::QTensor::as_flat(#src), #from, #to, &mut out[#s..#e],
                );
            }
        })
        .collect();
    quote! {
        let out: &mut [i8] = #dst;
        #(#copies)*
    }
}

/// Code for a node that works in place on `target`, which holds its first
/// input: a ReLU on its own (the value keeps its input's parameters, so it
/// is `max(q, zero_point)`), a Hardswish, a softmax, or an `Add` of the
/// second input into it.
pub fn in_place(call: &Call, target: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let params = input_params(call, 0);
    match call.node.op {
        Op::Activation(Activation::Hardswish) => {
            let out = output_params(call);
            quote! {
                #krate::quant::hardswish::hardswish(
                    #target,
                    &#krate::quant::hardswish::QHardswish::new(#params, #out),
                );
            }
        }
        Op::Activation(_) => quote!(#krate::quant::relu(#target, #params.zero_point);),
        Op::Softmax {
            outer, dim, inner, ..
        } => {
            let (o, d, i) = (lit(outer), lit(dim), lit(inner));
            quote! {
                #krate::quant::softmax::softmax::<#o, #d, #i>(
                    #krate::quant::tensor::view_mut::<[[[i8; #i]; #d]; #o]>(#target),
                    &#krate::quant::softmax::QSoftmax::new(#params),
                );
            }
        }
        Op::Add => {
            let (other, _) = call.input(1);
            let b = input_params(call, 1);
            let out = output_params(call);
            let act = act_ident(act_rounding(call.node).0);
            quote! {
                #krate::quant::add::add(
                    #target,
                    #krate::quant::QTensor::as_flat(#other),
                    &#krate::quant::add::QAdd::new(
                        #params, #b, #out, #krate::quant::layer::Act::#act,
                    ),
                );
            }
        }
        _ => quote!(),
    }
}

/// Copies the `i8` tensor `src` (an `&T`) into `dst` (an `&mut [i8]` of its
/// length).
pub fn copy(krate: &TokenStream, src: &TokenStream, dst: &TokenStream) -> TokenStream {
    quote!((#dst).copy_from_slice(#krate::quant::QTensor::as_flat(#src));)
}

fn conv(call: &Call, dst: &TokenStream) -> TokenStream {
    let krate = call.krate;
    let (src, _) = call.input(0);
    let (consts, weights) = (conv_consts(call), call.weights());
    quote! {
        #krate::quant::conv::conv2d::<#consts>(
            #src, #weights.input_zero, &#weights.weight, &#weights.rescale(), #dst,
        );
    }
}

/// The pooling layers (`check::int8` lets through only what these take).
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
            ceil_mode,
            ..
        } => {
            let (kh, kw, sh, sw) = (lit(kernel.0), lit(kernel.1), lit(stride.0), lit(stride.1));
            let (ph, pw) = (lit(padding.0), lit(padding.1));
            quote! {
                #krate::quant::pool::max_pool2d::<#kh, #kw, #sh, #sw, #ph, #pw, #ceil_mode, #c, #h, #w, #oh, #ow>(#src, #dst);
            }
        }
        Op::AvgPool2d {
            kernel,
            stride,
            padding,
            count_include_pad,
            ..
        } => {
            let (kh, kw, sh, sw) = (lit(kernel.0), lit(kernel.1), lit(stride.0), lit(stride.1));
            let (ph, pw) = (lit(padding.0), lit(padding.1));
            let params = input_params(call, 0);
            quote! {
                #krate::quant::pool::avg_pool2d::<#kh, #kw, #sh, #sw, #ph, #pw, #count_include_pad, #c, #h, #w, #oh, #ow>(
                    #src, #params.zero_point, #dst,
                );
            }
        }
        // Bins that divide the map (`check::int8`): an average pool with
        // the bin as kernel and stride.
        Op::AdaptiveAvgPool2d => {
            let [kh, kw] = adaptive_window(in_shape, call.node.shape)
                .unwrap_or([1, 1])
                .map(lit);
            let params = input_params(call, 0);
            quote! {
                #krate::quant::pool::avg_pool2d::<#kh, #kw, #kh, #kw, 0, 0, true, #c, #h, #w, #oh, #ow>(
                    #src, #params.zero_point, #dst,
                );
            }
        }
        _ => {
            quote!(compile_error!("constnet internal error: a layer without an int8 kernel passed the int8 check");)
        }
    }
}
