//! The body of `forward_with`: the fused graph's nodes in order, each a
//! kernel call on workspace buffers as the memory plan places them.
//!
//! A node that reads buffers while writing one splits the workspace around
//! the one it writes (`split_at_mut`), so that it can borrow that one
//! mutably and the others, which lie below or above it, immutably; all
//! ranges are constants, so the slicing compiles to pointer arithmetic.

use proc_macro2::TokenStream;
use quote::quote;

use super::kernels::{self, Call};
use super::types::{lit, map_dims, range, Elem};
use crate::graph::{Graph, Value};
use crate::memory::{Loc, MemoryPlan, Region, Step};
use crate::shape::Shape;

/// Renders the plan's locations as expressions.
struct Gen<'a> {
    krate: &'a TokenStream,
    graph: &'a Graph,
    memory: &'a MemoryPlan,
    elem: Elem,
}

/// `forward_with`'s statements, then its result: the float network's
/// (`Elem::F32`) or the int8 network's (`Elem::I8`), on a workspace of that
/// element.
pub fn body(krate: &TokenStream, graph: &Graph, memory: &MemoryPlan, elem: Elem) -> TokenStream {
    let gen = Gen {
        krate,
        graph,
        memory,
        elem,
    };
    let steps = (0..graph.nodes.len()).map(|i| gen.node(i));
    let result = gen.whole(graph.output);
    quote! {
        #(#steps)*
        *#result
    }
}

/// The float network's nodes before `end` (what `forward_with` runs of
/// them, on `input` and `workspace`), then `value`'s floats as one flat
/// slice: the part of the network that `batch` runs sample by sample.
pub fn prefix(
    krate: &TokenStream,
    graph: &Graph,
    memory: &MemoryPlan,
    end: usize,
    value: Value,
) -> TokenStream {
    let gen = Gen {
        krate,
        graph,
        memory,
        elem: Elem::F32,
    };
    let steps = (0..end).map(|i| gen.node(i));
    let value = gen.whole(value);
    quote! {
        #(#steps)*
        #krate::Tensor::as_flat(#value)
    }
}

impl Gen<'_> {
    /// `&T` for a value that nothing is writing.
    fn whole(&self, v: Value) -> TokenStream {
        match self.memory.loc(v) {
            Some(Loc::Buf { region, shape }) => {
                let (ty, r) = (self.elem.ty(shape), range(region.offset, region.end()));
                let tensors = self.elem.tensors(self.krate);
                quote!(#tensors::view::<#ty>(&workspace.buf[#r]))
            }
            Some(Loc::Input { shape }) => self.input(shape),
            None => quote!(compile_error!(
                "constnet internal error: a value has no place"
            )),
        }
    }

    /// The caller's input, viewed with `shape`.
    fn input(&self, shape: Shape) -> TokenStream {
        if shape == self.graph.input {
            return quote!(input);
        }
        let tensors = self.elem.tensors(self.krate);
        let [c, h, w] = map_dims(self.graph.input).map(lit);
        let n = lit(shape.len().unwrap_or(0));
        quote!(#tensors::flatten::<#c, #h, #w, #n>(input))
    }

    /// `&T` for a value read while `write` is written: from the half of
    /// the split workspace it lies in.
    fn beside(&self, v: Value, write: Region) -> TokenStream {
        let tensors = self.elem.tensors(self.krate);
        match self.memory.loc(v) {
            Some(Loc::Buf { region, shape }) => {
                let ty = self.elem.ty(shape);
                let half = if region.end() <= write.offset {
                    let r = range(region.offset, region.end());
                    quote!(&below[#r])
                } else {
                    let (Some(s), Some(e)) = (
                        region.offset.checked_sub(write.end()),
                        region.end().checked_sub(write.end()),
                    ) else {
                        return quote!(compile_error!("constnet internal error: a layer's input and output overlap in the workspace"));
                    };
                    let r = range(s, e);
                    quote!(&above[#r])
                };
                quote!(#tensors::view::<#ty>(#half))
            }
            Some(Loc::Input { shape }) => self.input(shape),
            None => quote!(compile_error!(
                "constnet internal error: a value has no place"
            )),
        }
    }

    /// Whether a node must split the workspace: it reads a buffer.
    fn reads_buffers(&self, values: &[Value]) -> bool {
        values
            .iter()
            .any(|&v| matches!(self.memory.loc(v), Some(Loc::Buf { .. })))
    }

    /// One node's statements, in a block of their own so that their
    /// borrows of the workspace end there.
    fn node(&self, i: usize) -> TokenStream {
        let node = &self.graph.nodes[i];
        let (write, copy) = match self.memory.steps[i] {
            Step::Nothing => return quote!(),
            Step::Produce { to } => (to, None),
            Step::InPlace { at, copy } => (at, Some(copy)),
        };
        let mut reads: Vec<Value> = node.inputs.clone();
        if copy == Some(None) {
            // In place on its first input: not read from elsewhere.
            reads.remove(0);
        }
        reads.extend(node.post.residual);
        let split = self.reads_buffers(&reads);
        let value = |v: Value| {
            if split {
                self.beside(v, write)
            } else {
                self.whole(v)
            }
        };
        let inputs = node
            .inputs
            .iter()
            .map(|&v| (value(v), self.graph.shape(v)))
            .collect();
        let call = Call {
            krate: self.krate,
            node,
            index: i,
            inputs,
            residual: node.post.residual.map(value),
        };
        let (target, prelude) = if split {
            let (at, len) = (lit(write.offset), lit(write.len));
            let prelude = quote! {
                let (below, rest) = workspace.buf.split_at_mut(#at);
                let (out, above) = rest.split_at_mut(#len);
            };
            (quote!(&mut *out), prelude)
        } else {
            let r = range(write.offset, write.end());
            (quote!(&mut workspace.buf[#r]), quote!())
        };
        let code = match (copy, self.elem) {
            (None, Elem::F32) => kernels::produce(&call, &target),
            (None, Elem::I8) => super::int8::kernels::produce(&call, &target),
            (Some(from), _) => {
                let copy = from.map(|src| {
                    let from = &call.inputs[0].0;
                    match self.elem {
                        Elem::F32 => super::types::copy(self.krate, from, &target, src.shape()),
                        Elem::I8 => super::int8::kernels::copy(self.krate, from, &target),
                    }
                });
                let op = match self.elem {
                    Elem::F32 => kernels::in_place(&call, &target),
                    Elem::I8 => super::int8::kernels::in_place(&call, &target),
                };
                quote!(#copy #op)
            }
        };
        quote!({ #prelude #code })
    }
}
