//! `forward_batch_with` for networks that end in dense layers: tiles of
//! samples through each of those layers at once.
//!
//! One sample reads every weight of a linear layer once for two FLOP per
//! weight, so a network of linear layers waits on memory (the MLPerf Tiny
//! autoencoder streams 1 MB of weights per sample; LeNet-5's `fc1` reads
//! 192 KB from L2 per sample, a fifth of its time at batch 1). With many
//! samples, each such layer runs `linear::linear_batch` on a tile of them:
//! each block of weight rows is loaded once and used for every sample of
//! the tile. The tile is two buffers of `TILE` rows, each as wide as the
//! widest value of the dense part, on the stack: the layers write one and
//! read the other in turn, and the in-place layers (batch norm,
//! activations, softmax) run row by row with `forward`'s own kernel calls.
//!
//! The dense part is the network's longest *tail* that is a chain: every
//! node reads the one before it, and computes a linear layer (nothing but
//! its activation folded in), an in-place layer, or nothing (`Flatten`,
//! `Identity`). What comes before it (the convolutions of a CNN) runs
//! sample by sample on the workspace, exactly as `forward_with` runs it,
//! and the value the tail starts from is copied into the sample's row. So
//! every output has the bits `forward` gives its sample alone. Networks
//! without a linear layer in such a tail keep the trait's default, one
//! sample at a time: a convolution already reuses each weight across the
//! pixels of its map.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::kernels::{self, Call};
use super::types::lit;
use crate::graph::{Graph, Node, Value};
use crate::memory::MemoryPlan;
use crate::op::Op;
use crate::shape::Shape;

/// The floats of one tile buffer: the two take at most 64 KiB of stack.
const BUFFER_FLOATS: usize = 8 * 1024;

/// At most this many samples per tile: a multiple of the SIMD bodies'
/// groups (3 samples with AVX2, 4 with AVX-512F).
const MAX_TILE: usize = 12;

/// What one node does to the tile.
enum Step<'a> {
    /// A linear layer: from one buffer into the other.
    Linear(&'a Node),
    /// An in-place layer (with its index), on each row.
    InPlace(usize, &'a Node),
}

/// The network's dense tail: the nodes from `first` on, which read
/// `start` (computed by the nodes before `first`, or the input) and then
/// one another.
struct Tail<'a> {
    first: usize,
    start: Value,
    steps: Vec<Step<'a>>,
}

/// The `forward_batch_with` of the `Network` impl, or `None` if the
/// network does not end in a chain of dense layers with a linear layer
/// (the trait's default then applies).
pub fn method(krate: &TokenStream, graph: &Graph, memory: &MemoryPlan) -> Option<TokenStream> {
    let tail = (0..graph.nodes.len()).find_map(|first| tail(graph, first))?;
    let width = widest(graph, &tail)?;
    let tile = BUFFER_FLOATS.checked_div(width)?.min(MAX_TILE);
    if tile < 2 {
        return None;
    }
    let (w, t) = (lit(width), lit(tile));
    let start = lit(graph.shape(tail.start).len()?);
    let output = lit(graph.output_shape().len()?);
    let prefix = super::forward::prefix(krate, graph, memory, tail.first, tail.start);
    let mut cur = format_ident!("a");
    let mut calls = Vec::new();
    for step in tail.steps {
        let next = if cur == "a" {
            format_ident!("b")
        } else {
            format_ident!("a")
        };
        match step {
            Step::Linear(node) => {
                calls.push(linear(krate, node, &cur, &next));
                cur = next;
            }
            Step::InPlace(i, node) => calls.push(in_place(krate, i, node, &cur)),
        }
    }
    let doc = format!(
        "Runs the samples in tiles of {tile} through each of the closing dense layers, each weight row read once per tile: two buffers of {tile} rows of {width} floats ({} bytes) on the stack.{} Every output has the bits `forward` gives its sample alone.",
        tile.checked_mul(width)?.checked_mul(8)?,
        if tail.first > 0 {
            " The layers before them run sample by sample on the workspace."
        } else {
            ""
        }
    );
    Some(quote! {
        #[doc = #doc]
        #[allow(clippy::large_stack_arrays)] // the tile: at most 64 KiB, by design (see the doc)
        fn forward_batch_with(&self, inputs: &[Self::Input], outputs: &mut [Self::Output], workspace: &mut Self::Workspace) {
        assert_eq!(
            inputs.len(),
            outputs.len(),
            "forward_batch_with: {} inputs but {} outputs",
            inputs.len(),
            outputs.len()
        );
        if inputs.len() < 2 {
            for (x, y) in inputs.iter().zip(outputs) {
                *y = self.forward_with(x, workspace);
            }
            return;
        }
        let mut a = [[0.0f32; #w]; #t];
        let mut b = [[0.0f32; #w]; #t];
        for (xs, ys) in inputs.chunks(#t).zip(outputs.chunks_mut(#t)) {
            let n = xs.len();
            for (row, input) in a.iter_mut().zip(xs) {
                let start: &[f32] = { #prefix };
                row[..#start].copy_from_slice(start);
            }
            #(#calls)*
            for (y, row) in ys.iter_mut().zip(&#cur) {
                #krate::Tensor::as_flat_mut(y).copy_from_slice(&row[..#output]);
            }
        }
        }
    })
}

/// The nodes from `first` on, if they are a chain of dense layers with
/// at least one linear layer that ends in the network's output and starts
/// from a value computed before `first`.
fn tail(graph: &Graph, first: usize) -> Option<Tail<'_>> {
    let mut start = None;
    let mut value = None;
    let mut steps = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate().skip(first) {
        if node.op == Op::Folded {
            continue;
        }
        let &[input] = node.inputs.as_slice() else {
            return None;
        };
        if input != *value.get_or_insert(input) {
            return None;
        }
        start.get_or_insert(input);
        let plain = node.post.norm.is_none() && node.post.residual.is_none();
        match node.op {
            Op::Linear { .. } if plain => steps.push(Step::Linear(node)),
            Op::BatchNorm2d { .. } | Op::Activation(_) | Op::Softmax { .. } => {
                steps.push(Step::InPlace(i, node));
            }
            Op::Flatten | Op::Identity => {}
            _ => return None,
        }
        value = Some(Value::Node(i));
    }
    let start = start?;
    let before = match start {
        Value::Input => true,
        Value::Node(j) => j < first,
    };
    let linear = steps.iter().any(|s| matches!(s, Step::Linear(_)));
    (before && linear && value == Some(graph.output)).then_some(Tail {
        first,
        start,
        steps,
    })
}

/// The length of the longest value of the tail, its start included.
fn widest(graph: &Graph, tail: &Tail) -> Option<usize> {
    let mut width = graph.shape(tail.start).len()?;
    for node in &graph.nodes[tail.first..] {
        width = width.max(node.shape.len()?);
    }
    Some(width)
}

/// `linear_batch` from rows of `src` into rows of `dst`.
fn linear(krate: &TokenStream, node: &Node, src: &Ident, dst: &Ident) -> TokenStream {
    let Op::Linear {
        in_features,
        out_features,
        bias,
    } = node.op
    else {
        return quote!();
    };
    let (i, o) = (lit(in_features), lit(out_features));
    let field = &node.field;
    let bias = kernels::bias(&quote!(self.#field), bias);
    let act = kernels::post_act(krate, node.post.act);
    quote! {
        #krate::linear::linear_batch::<#i, #o, _>(&#src[..n], &self.#field.weight, #bias, #act, &mut #dst[..n]);
    }
}

/// An in-place layer on the first `len` floats of each row of `buf`: a
/// batch norm of vectors with its coefficients computed once for the tile,
/// anything else with `forward`'s kernel call on each row.
fn in_place(krate: &TokenStream, index: usize, node: &Node, buf: &Ident) -> TokenStream {
    if let (Op::BatchNorm2d { eps, affine, .. }, Shape::Flat(c)) = (&node.op, node.shape) {
        let field = &node.field;
        let (c, eps) = (lit(c), Literal::f32_suffixed(*eps));
        let (weight, bias) = kernels::norm_affine(&quote!(self.#field), *affine);
        return quote! {
            #krate::norm::batch_norm_rows::<#c, _>(
                &mut #buf[..n], #weight, #bias, &self.#field.running_mean, &self.#field.running_var, #eps,
            );
        };
    }
    let len = lit(node.shape.len().unwrap_or(0));
    let call = Call {
        krate,
        node,
        index,
        inputs: Vec::new(),
        residual: None,
    };
    let code = kernels::in_place(&call, &quote!(&mut row[..#len]));
    quote! {
        for row in &mut #buf[..n] {
            #code
        }
    }
}
