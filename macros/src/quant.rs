//! What the int8 network's generated code and its baked `static` agree on:
//! the table of values' parameters, which layers are quantized, and the
//! activation and rounding TFLite gives each.

use constnet_runtime::quant::layer::Act;
use constnet_runtime::quant::Rounding;

use crate::graph::{Graph, Node, Value};
use crate::op::{Activation, Op};

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
    graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.op, Op::Conv2d { .. } | Op::Linear { .. }))
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
