//! What `#[int8]` accepts: the layers that have int8 kernels, after the
//! int8 fusions (`fuse::fuse_int8`). Every other layer is an error on its
//! kind in the source, all reported at once, then one on the attribute
//! listing what is supported.

use crate::graph::{Graph, Node};
use crate::op::{Activation, Op, PadMode};
use crate::quant::adaptive_window;

/// What the error says the int8 network supports.
const SUPPORTED: &str = "`#[int8]` quantizes Conv2d (zero padding), Linear, BatchNorm2d after a convolution and BatchNorm1d after a linear layer, ReLU and ReLU6 after a convolution, linear layer or Add, ReLU, Hardswish, Softmax, Add of two values, Cat, MaxPool2d (without dilation), AvgPool2d (without ceil_mode or divisor_override), AdaptiveAvgPool2d whose bins divide the map, padding layers folded into the convolution after them, Flatten, Dropout and Identity";

/// Every node of the int8-fused `graph` has an int8 kernel, or an error
/// per node that has none and one on `attr` (the `#[int8]`).
pub fn check(graph: &Graph, attr: &syn::Attribute) -> syn::Result<()> {
    let mut errors = graph
        .nodes
        .iter()
        .filter_map(|n| why_not(graph, n).map(|why| error(graph, n, why)))
        .reduce(|mut a, b| {
            a.combine(b);
            a
        });
    if let Some(e) = &mut errors {
        e.combine(syn::Error::new_spanned(attr, SUPPORTED));
    }
    errors.map_or(Ok(()), Err)
}

/// Why node `n` has no int8 kernel, or `None` if it has one.
fn why_not(graph: &Graph, n: &Node) -> Option<&'static str> {
    match n.op {
        Op::Conv2d { padding_mode, .. } if padding_mode != PadMode::Zeros => {
            Some("int8 convolutions pad with zeros only")
        }
        Op::Conv2d { .. }
        | Op::Linear { .. }
        | Op::Flatten
        | Op::Identity
        | Op::Folded
        | Op::Activation(Activation::Relu) => None,
        Op::MaxPool2d { dilation, .. } if dilation != (1, 1) => {
            Some("int8 max pooling has no dilation")
        }
        Op::AvgPool2d {
            ceil_mode, divisor, ..
        } if ceil_mode || divisor != 0 => {
            Some("int8 average pooling has no ceil_mode or divisor_override")
        }
        Op::MaxPool2d { .. } | Op::AvgPool2d { .. } => None,
        Op::Add if n.inputs.len() != 2 => Some("an int8 Add adds two values only"),
        Op::Add
        | Op::Cat
        | Op::Softmax { log: false, .. }
        | Op::Activation(Activation::Hardswish) => None,
        Op::AdaptiveAvgPool2d => {
            let input = n.inputs.first().map(|&v| graph.shape(v));
            let even = input.and_then(|s| adaptive_window(s, n.shape)).is_some();
            (!even).then_some("int8 adaptive average pooling needs bins that divide the map")
        }
        Op::Activation(Activation::Relu6) => {
            Some("int8 ReLU6 is fused into the convolution or linear layer before it only")
        }
        Op::BatchNorm2d { .. } => {
            Some("an int8 batch norm is folded into the convolution or linear layer before it only")
        }
        _ => Some("this layer has no int8 kernel yet"),
    }
}

fn error(graph: &Graph, n: &Node, why: &str) -> syn::Error {
    let display = graph.rows.get(n.row).map_or("", |r| r.display.as_str());
    syn::Error::new(
        n.span,
        format!("`{display}` (layer `{}`) cannot be quantized: {why}", n.key),
    )
}
