//! `forward_batch_with` for networks of dense layers: tiles of samples
//! through each layer at once.
//!
//! One sample reads every weight of a linear layer once for two FLOP per
//! weight, so a network of linear layers waits on memory (the MLPerf Tiny
//! autoencoder streams 1 MB of weights per sample). With many samples, the
//! layer runs `linear::linear_batch` on a tile of them: each block of
//! weight rows is loaded once and used for every sample of the tile. The
//! tile is two buffers of `TILE` rows, each as wide as the widest value,
//! on the stack: the layers write one and read the other in turn, and the
//! in-place layers (batch norm, activations, softmax) run row by row with
//! `forward`'s own kernel calls. So every output has the bits `forward`
//! gives its sample alone.
//!
//! Only chains qualify: every node reads the one before it, and computes
//! a linear layer (nothing but its activation folded in), an in-place
//! layer, or nothing (`Flatten`, `Identity`). Other networks keep the
//! trait's default, one sample at a time on the workspace: a convolution
//! already reuses each weight across the pixels of its map.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::kernels::{self, Call};
use super::types::lit;
use crate::graph::{Graph, Node, Value};
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

/// The `forward_batch_with` of the `Network` impl, or `None` if the
/// network is not a chain of dense layers (the trait's default then
/// applies).
pub fn method(krate: &TokenStream, graph: &Graph) -> Option<TokenStream> {
    let steps = chain(graph)?;
    let width = widest(graph)?;
    let tile = BUFFER_FLOATS.checked_div(width)?.min(MAX_TILE);
    if tile < 2 {
        return None;
    }
    let (w, t) = (lit(width), lit(tile));
    let input = lit(graph.input.len()?);
    let output = lit(graph.output_shape().len()?);
    let mut cur = format_ident!("a");
    let mut calls = Vec::new();
    for step in steps {
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
        "Runs the samples in tiles of {tile} through each layer, each weight row read once per tile: two buffers of {tile} rows of {width} floats ({} bytes) on the stack. Every output has the bits `forward` gives its sample alone.",
        tile.checked_mul(width)?.checked_mul(8)?
    );
    Some(quote! {
        #[doc = #doc]
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
            for (row, x) in a.iter_mut().zip(xs) {
                row[..#input].copy_from_slice(#krate::Tensor::as_flat(x));
            }
            #(#calls)*
            for (y, row) in ys.iter_mut().zip(&#cur) {
                #krate::Tensor::as_flat_mut(y).copy_from_slice(&row[..#output]);
            }
        }
        }
    })
}

/// The nodes that compute something, in order, if the graph is a chain
/// of dense layers with at least one linear layer.
fn chain(graph: &Graph) -> Option<Vec<Step<'_>>> {
    let mut value = Value::Input;
    let mut steps = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if node.op == Op::Folded {
            continue;
        }
        if node.inputs != [value] {
            return None;
        }
        let plain = node.post.norm.is_none() && node.post.residual.is_none();
        match node.op {
            Op::Linear { .. } if plain => steps.push(Step::Linear(node)),
            Op::BatchNorm2d { .. } | Op::Activation(_) | Op::Softmax { .. } => {
                steps.push(Step::InPlace(i, node));
            }
            Op::Flatten | Op::Identity => {}
            _ => return None,
        }
        value = Value::Node(i);
    }
    let linear = steps.iter().any(|s| matches!(s, Step::Linear(_)));
    (graph.output == value && linear).then_some(steps)
}

/// The length of the longest value, the input included.
fn widest(graph: &Graph) -> Option<usize> {
    let mut width = graph.input.len()?;
    for node in &graph.nodes {
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
