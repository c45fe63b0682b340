//! What the int8 network's generated code and its baked `static` agree on:
//! the table of values' parameters and which nodes choose their own, which
//! layers are quantized, the activation and rounding TFLite gives each, and
//! the window of an adaptive average pool.

use constnet_runtime::quant::layer::Act;
use constnet_runtime::quant::store::Kind;
use constnet_runtime::quant::Rounding;

use crate::graph::{Graph, Node, Value};
use crate::op::{Activation, Op};
use crate::shape::Shape;

/// The index of a value in the int8 network's `values` table: 0 for the
/// input, `i + 1` for node `i`'s output.
pub fn value_index(v: Value) -> usize {
    match v {
        Value::Input => 0,
        Value::Node(i) => i.saturating_add(1),
    }
}

/// The convolution and linear layers (those with a `QLayer`) with their
/// node index, in execution order.
pub fn layers(graph: &Graph) -> impl Iterator<Item = (usize, &Node)> {
    graph.nodes.iter().enumerate().filter(|(_, n)| quantized(n))
}

/// Whether `node` is a quantized layer (a convolution or linear layer,
/// with a `QLayer`).
pub fn quantized(node: &Node) -> bool {
    matches!(node.op, Op::Conv2d { .. } | Op::Linear { .. })
}

/// Whether `node`'s output gets its own parameters from calibration (a
/// layer-table row's range): convolutions, linear layers, `Add`, `Cat` and
/// Hardswish. The others keep their input's (pools, a lone ReLU, views) or
/// have fixed ones (softmax).
pub fn own_params(node: &Node) -> bool {
    quantized(node)
        || matches!(
            node.op,
            Op::Add | Op::Cat | Op::Activation(Activation::Hardswish)
        )
}

/// A quantized layer's weight shape (PyTorch's) and its output channels.
pub fn weight_shape(node: &Node) -> (Vec<usize>, usize) {
    let shapes = node.op.param_shapes();
    let dims = shapes.first().map_or_else(Vec::new, |(_, d)| d.clone());
    let o = dims.first().copied().unwrap_or(0);
    (dims, o)
}

/// The tensors an int8 file stores for a quantized layer, in
/// `Int8Network::visit_stored`'s order: `weight` (`I8`), `bias` (`I32`),
/// `weight_scale` (`F32`), with their names and shapes.
pub fn stored(node: &Node) -> [(String, Vec<usize>, Kind); 3] {
    let (dims, o) = weight_shape(node);
    [
        (format!("{}.weight", node.key), dims, Kind::I8),
        (format!("{}.bias", node.key), vec![o], Kind::I32),
        (format!("{}.weight_scale", node.key), vec![o], Kind::F32),
    ]
}

/// The activation a layer clamps to and TFLite's rounding for its kind:
/// once for fully connected layers (ruy), twice for convolutions.
pub fn act_rounding(node: &Node) -> (Act, Rounding) {
    let act = match node.post.act {
        Some(Activation::Relu) => Act::Relu,
        Some(Activation::Relu6) => Act::Relu6,
        _ => Act::None,
    };
    let rounding = match node.op {
        Op::Linear { .. } => Rounding::Single,
        _ => Rounding::Double,
    };
    (act, rounding)
}

/// The window (and stride) `[kh, kw]` of an adaptive pool from `input` to
/// `output` whose bins divide the map: the same pool as `AvgPool2d` with
/// that kernel and stride.
pub fn adaptive_window(input: Shape, output: Shape) -> Option<[usize; 2]> {
    let (Shape::Map { h, w, .. }, Shape::Map { h: oh, w: ow, .. }) = (input, output) else {
        return None;
    };
    let even = |n: usize, o: usize| n.checked_div(o).filter(|&k| n.is_multiple_of(o) && k > 0);
    Some([even(h, oh)?, even(w, ow)?])
}
