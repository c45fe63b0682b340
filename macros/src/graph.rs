//! The checked network as a graph: the one intermediate representation
//! between `check` (which builds it), `fuse` (which merges nodes into
//! fused kernels), `memory` (which places every value in the workspace) and
//! `expand` (which turns nodes into kernel calls).
//!
//! Nodes are in execution order; each produces one value, read by later
//! nodes. A plain chain of layers is a graph where every node reads the one
//! before it.

use proc_macro2::{Ident, Span};

use crate::op::{Activation, Op};
use crate::shape::{Receptive, Shape};

/// A value flowing between nodes: the caller's input, or a node's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    Input,
    Node(usize),
}

/// One operation, with everything resolved.
#[derive(Clone)]
pub struct Node {
    pub op: Op,
    /// What it reads, in the op's order (one value, except for merges).
    pub inputs: Vec<Value>,
    /// The shape it produces.
    pub shape: Shape,
    /// The struct field holding its weights (if any) and its trace entry:
    /// the dotted key with `_` for `.` (`layer1_0_conv1`), `layer{i}` for
    /// an unnamed layer of the network itself.
    pub field: Ident,
    /// The `state_dict` prefix of its weights (`layer1.0.conv1`).
    pub key: String,
    /// Its row in the layer table.
    pub row: usize,
    /// What `fuse` folded into it.
    pub post: Post,
    /// The layer's kind in the source (`Conv2d`, `Add`), for errors about it
    /// found after `check` (int8 support).
    pub span: Span,
}

impl Node {
    /// Whether the node computes nothing: its value is its input's, seen
    /// with another shape (`Flatten`, `Identity`, `Dropout`).
    pub fn is_view(&self) -> bool {
        matches!(self.op, Op::Flatten | Op::Identity)
    }
}

/// Work folded into a convolution or linear layer's store by `fuse`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Post {
    /// A `BatchNorm2d` that followed.
    pub norm: Option<FoldedNorm>,
    /// A residual value added after the norm.
    pub residual: Option<Value>,
    /// An activation applied last.
    pub act: Option<Activation>,
}

/// A batch norm folded into the layer before it: where its weights are.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldedNorm {
    /// The struct field of the batch norm's weights.
    pub field: Ident,
    pub eps: f32,
    pub affine: bool,
}

impl Post {
    pub fn is_empty(&self) -> bool {
        *self == Post::default()
    }
}

/// One row of the layer table (`Network::LAYERS`) and one field of the
/// trace: a layer, a merge, or a module (a block's use or a `Sequential`),
/// in pre-order.
#[derive(Clone)]
pub struct Row {
    /// The dotted name: the `state_dict` prefix of a layer or module,
    /// `<module>.add` for a merge.
    pub name: String,
    /// The trace field.
    pub field: Ident,
    /// The layer with its arguments resolved, e.g. `Conv2d(1, 6, 5)`.
    pub display: String,
    pub input: Shape,
    pub output: Shape,
    /// The value the row shows (a module's: its last value).
    pub value: Value,
    /// Nesting: 0 for the network's own layers.
    pub depth: usize,
    pub params: usize,
    pub macs: usize,
    /// How the output shape was computed (empty if unchanged).
    pub formula: String,
    /// The receptive field of one output value, in input pixels.
    pub receptive: (usize, usize),
}

/// A checked network.
#[derive(Clone)]
pub struct Graph {
    pub input: Shape,
    pub nodes: Vec<Node>,
    pub rows: Vec<Row>,
    pub output: Value,
    pub totals: Totals,
}

impl Graph {
    /// The shape of a value.
    pub fn shape(&self, v: Value) -> Shape {
        match v {
            Value::Input => self.input,
            Value::Node(i) => self.nodes[i].shape,
        }
    }

    /// The shape `forward` returns.
    pub fn output_shape(&self) -> Shape {
        self.shape(self.output)
    }

    /// For every value, the last node that reads it (`None`: never read),
    /// the network's output counting as read at the end.
    pub fn last_reads(&self) -> (Option<usize>, Vec<Option<usize>>) {
        let mut input = None;
        let mut nodes = vec![None; self.nodes.len()];
        let mut read = |v: Value, at: usize| match v {
            Value::Input => input = Some(at),
            Value::Node(i) => nodes[i] = Some(at),
        };
        for (at, node) in self.nodes.iter().enumerate() {
            for &v in &node.inputs {
                read(v, at);
            }
            if let Some(r) = node.post.residual {
                read(r, at);
            }
        }
        read(self.output, self.nodes.len());
        (input, nodes)
    }
}

/// Whole-network counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    /// Learnable parameters.
    pub params: usize,
    /// Multiply-accumulates per sample.
    pub macs: usize,
    /// Bytes of every tensor loaded from the `state_dict` (`f32`).
    pub weight_bytes: usize,
}

/// The receptive field after each node, from those of its inputs (a merge
/// sees the widest of its inputs).
pub fn receptive_fields(input: Shape, nodes: &[Node]) -> Vec<Receptive> {
    let hw = |s: Shape| match s {
        Shape::Map { h, w, .. } => (h, w),
        Shape::Flat(_) => (1, 1),
    };
    let mut fields: Vec<Receptive> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let of = |v: Value, fields: &[Receptive]| match v {
            Value::Input => (Receptive::PIXEL, input),
            Value::Node(i) => (fields[i], nodes[i].shape),
        };
        let (before, in_shape) = node
            .inputs
            .iter()
            .map(|&v| of(v, &fields))
            .reduce(|a, b| if b.0.size > a.0.size { b } else { a })
            .unwrap_or((Receptive::PIXEL, input));
        fields.push(node.op.receptive(before, hw(in_shape), hw(node.shape)));
    }
    fields
}
