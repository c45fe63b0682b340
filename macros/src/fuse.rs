//! Fusion: nodes folded into the convolution (or linear layer) before them,
//! so that their work happens in its store instead of in passes of their
//! own over memory. `forward` runs the fused graph; `forward_traced`, which
//! must show every layer's own output, runs the graph as checked.
//!
//! Folded, where the value in between has no other reader:
//! - a padding layer into the convolution after it: zero padding adds to
//!   the convolution's own (asymmetric padding is fine), and a reflect,
//!   replicate or circular one becomes the `padding_mode` of a convolution
//!   that has no padding of its own;
//! - a `BatchNorm2d` after a convolution: applied per channel in the store
//!   (`y = acc·scale + shift`);
//! - an `Add` of the convolution's output and a value computed before it:
//!   the residual connection, added in the store;
//! - a ReLU, ReLU6, LeakyReLU, Hardswish or Hardsigmoid after a convolution
//!   or linear layer, applied in the store.

use crate::graph::{FoldedNorm, Graph, Node, Value};
use crate::op::{Activation, Op, PadMode};
use crate::quant::own_params;

/// The graph with every fusion applied. Folded nodes stay, as
/// `Op::Folded`, so that node indices keep their meaning.
pub fn fuse(graph: &Graph) -> Graph {
    let mut g = graph.clone();
    for i in 0..g.nodes.len() {
        match g.nodes[i].op {
            Op::Conv2d { .. } => {
                fold_pad(&mut g, i);
                fold_norm(&mut g, i);
                fold_residual(&mut g, i);
                fold_act(&mut g, i, cheap);
            }
            Op::Linear { .. } => {
                fold_act(&mut g, i, cheap);
            }
            _ => {}
        }
    }
    g
}

/// The fusions of the int8 network: a padding layer and a `BatchNorm2d`
/// into the convolution around them, a `BatchNorm1d` into the linear layer
/// before it (a norm into the weights, when quantizing), and a ReLU or ReLU6 into a convolution, linear layer or
/// `Add` (the clamp of its store, as TFLite's fused activations). Also returns, per node, the layer-table row
/// that shows its value after the fusions (a convolution's ReLU's row, say):
/// the row whose calibrated range quantizes that value.
pub fn fuse_int8(graph: &Graph) -> (Graph, Vec<usize>) {
    let mut g = graph.clone();
    let mut shown: Vec<usize> = g.nodes.iter().map(|n| n.row).collect();
    let clamp = |act: Activation| matches!(act, Activation::Relu | Activation::Relu6);
    for i in 0..g.nodes.len() {
        let folded = match g.nodes[i].op {
            Op::Conv2d { .. } => {
                fold_pad(&mut g, i);
                [fold_norm(&mut g, i), fold_act(&mut g, i, clamp)]
            }
            Op::Linear { .. } => [fold_norm(&mut g, i), fold_act(&mut g, i, clamp)],
            Op::Add => [None, fold_act(&mut g, i, clamp)],
            _ => [None, None],
        };
        for n in folded.into_iter().flatten() {
            shown[i] = shown[n];
        }
    }
    share_cat_params(&g, &mut shown);
    (g, shown)
}

/// A value only a `Cat` reads, and that gets its own parameters, is
/// quantized as the `Cat`'s output, so that the `Cat` copies it (TFLite's
/// converter does the same: an int8 concatenation's inputs have its
/// parameters). Outer `Cat`s first, so that a `Cat` of a `Cat` passes the
/// outer one's parameters on.
fn share_cat_params(g: &Graph, shown: &mut [usize]) {
    for (c, node) in g.nodes.iter().enumerate().rev() {
        if node.op != Op::Cat {
            continue;
        }
        for &v in &node.inputs {
            let Value::Node(i) = v else { continue };
            if own_params(&g.nodes[i]) && sole_reader(g, i) == Some(c) {
                shown[i] = shown[c];
            }
        }
    }
}

/// The activations the float kernels apply in a convolution's store.
fn cheap(act: Activation) -> bool {
    matches!(
        act,
        Activation::Relu
            | Activation::Relu6
            | Activation::LeakyRelu { .. }
            | Activation::Hardswish
            | Activation::Hardsigmoid
    )
}

/// The nodes that read `v` (the network's output counting as a reader,
/// `None`).
fn readers(g: &Graph, v: Value) -> Vec<Option<usize>> {
    let mut out: Vec<Option<usize>> = g
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.inputs.contains(&v) || n.post.residual == Some(v))
        .map(|(i, _)| Some(i))
        .collect();
    if g.output == v {
        out.push(None);
    }
    out
}

/// The one node that reads node `i`'s value, if there is exactly one and
/// it is not the network's output.
fn sole_reader(g: &Graph, i: usize) -> Option<usize> {
    match readers(g, Value::Node(i)).as_slice() {
        [Some(r)] => Some(*r),
        _ => None,
    }
}

/// Node `folded` is now computed by node `into`: every reader of its value
/// reads `into`'s instead.
fn absorb(g: &mut Graph, folded: usize, into: usize) {
    let (from, to) = (Value::Node(folded), Value::Node(into));
    g.nodes[folded].op = Op::Folded;
    g.nodes[folded].inputs.clear();
    for node in g.nodes.iter_mut().skip(folded.saturating_add(1)) {
        for v in &mut node.inputs {
            if *v == from {
                *v = to;
            }
        }
    }
    if g.output == from {
        g.output = to;
    }
}

/// A padding layer before convolution `i`.
fn fold_pad(g: &mut Graph, i: usize) {
    let Some(&Value::Node(p)) = g.nodes[i].inputs.first() else {
        return;
    };
    let Op::Pad2d { mode, pads, value } = g.nodes[p].op else {
        return;
    };
    if sole_reader(g, p) != Some(i) {
        return;
    }
    let source = g.nodes[p].inputs[0];
    let Op::Conv2d {
        ref mut padding,
        ref mut padding_mode,
        ..
    } = g.nodes[i].op
    else {
        return;
    };
    let folded = match mode {
        PadMode::Zeros if value.to_bits() == 0 && *padding_mode == PadMode::Zeros => {
            padding.checked_add(pads)
        }
        PadMode::Zeros => None,
        _ if padding.is_zero() => {
            *padding_mode = mode;
            Some(pads)
        }
        _ => None,
    };
    if let Some(sum) = folded {
        *padding = sum;
        g.nodes[i].inputs[0] = source;
        g.nodes[p].op = Op::Folded;
        g.nodes[p].inputs.clear();
    }
}

/// A `BatchNorm2d` after convolution `i`; returns the node folded.
fn fold_norm(g: &mut Graph, i: usize) -> Option<usize> {
    let n = sole_reader(g, i)?;
    if let (Op::BatchNorm2d { eps, affine, .. }, true) =
        (&g.nodes[n].op, g.nodes[i].post.is_empty())
    {
        g.nodes[i].post.norm = Some(FoldedNorm {
            field: g.nodes[n].field.clone(),
            eps: *eps,
            affine: *affine,
        });
        absorb(g, n, i);
        return Some(n);
    }
    None
}

/// An `Add` of convolution `i`'s output and a value computed before it.
fn fold_residual(g: &mut Graph, i: usize) {
    let Some(a) = sole_reader(g, i) else { return };
    let node: &Node = &g.nodes[a];
    let (Op::Add, [x, y]) = (&node.op, node.inputs.as_slice()) else {
        return;
    };
    let other = if *x == Value::Node(i) { *y } else { *x };
    let before = match other {
        Value::Input => true,
        Value::Node(o) => o < i,
    };
    if before && other != Value::Node(i) && g.nodes[i].post.act.is_none() {
        g.nodes[i].post.residual = Some(other);
        absorb(g, a, i);
    }
}

/// An activation that `foldable` accepts after node `i` (a convolution or a
/// linear layer); returns the node folded.
fn fold_act(g: &mut Graph, i: usize, foldable: impl Fn(Activation) -> bool) -> Option<usize> {
    let r = sole_reader(g, i)?;
    let Op::Activation(act) = g.nodes[r].op else {
        return None;
    };
    if foldable(act) && g.nodes[i].post.act.is_none() {
        g.nodes[i].post.act = Some(act);
        absorb(g, r, i);
        return Some(r);
    }
    None
}
