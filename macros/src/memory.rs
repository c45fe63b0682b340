//! The workspace plan: where each value of the (fused) graph lives during
//! `forward`, in one flat `f32` buffer.
//!
//! Every node that computes something writes a *buffer*, live from the node
//! that writes it to the last node that reads it (the network's output is
//! read at the end). Elementwise layers (activations, batch norm, softmax)
//! and an `Add` work in place on their input's buffer when no later node
//! reads it, and into a copy otherwise; `Flatten` and `Identity` are views.
//! Buffers live at the same time must not overlap; the plan places them so
//! that the workspace — the highest end of any buffer — is small.
//!
//! Two placements are tried and the smaller kept. *Two-sided*: each buffer
//! goes against the end of the workspace opposite to its input's, lowest
//! free offset first, so a chain alternates bottom, top, bottom — for a
//! chain of layers the least possible, the largest pair of consecutive
//! activations. *First-fit*: every buffer at the lowest offset free for its
//! lifetime, which suits branching graphs. Finally any stretch no buffer
//! ever covers is cut out, so that a forward pass writes every float of the
//! workspace and `WORKSPACE_BYTES` is exactly the plan's peak.

use crate::graph::{Graph, Value};
use crate::op::Op;
use crate::shape::Shape;

/// A buffer in the workspace: `workspace[offset..offset + len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub offset: usize,
    pub len: usize,
}

impl Region {
    /// One past the last float, `offset + len` (at most the workspace
    /// length, which the planner checked fits in memory).
    #[allow(clippy::arithmetic_side_effects)] // offset + len <= workspace length
    pub fn end(self) -> usize {
        self.offset + self.len
    }

    #[cfg(test)]
    fn overlaps(self, other: Region) -> bool {
        self.offset < other.end() && other.offset < self.end()
    }
}

/// Where a value is, and its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// The caller's input, possibly viewed flat (`shape` then differs from
    /// the input's).
    Input { shape: Shape },
    /// A workspace buffer, viewed with `shape`.
    Buf { region: Region, shape: Shape },
}

impl Loc {
    pub fn shape(self) -> Shape {
        match self {
            Loc::Input { shape } | Loc::Buf { shape, .. } => shape,
        }
    }
}

/// What one node does to memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Writes a new buffer, reading its inputs where they are.
    Produce { to: Region },
    /// Works in place on `at`, which holds its (first) input, or a copy of
    /// `copy` made first.
    InPlace { at: Region, copy: Option<Loc> },
    /// A view, or a node folded into another: nothing moves.
    Nothing,
}

/// The plan for a whole network.
pub struct MemoryPlan {
    /// Workspace length in floats.
    pub len: usize,
    /// Workspace size in bytes (`4 · len`, checked to fit in `isize`).
    pub bytes: usize,
    /// One step per node.
    pub steps: Vec<Step>,
    /// Where each node's value is after it (`None` for folded nodes).
    pub locs: Vec<Option<Loc>>,
    /// Where the network's input is.
    pub input: Loc,
}

impl MemoryPlan {
    /// Where a value is.
    pub fn loc(&self, v: Value) -> Option<Loc> {
        match v {
            Value::Input => Some(self.input),
            Value::Node(i) => self.locs.get(i).copied().flatten(),
        }
    }
}

/// The workspace would not fit in memory: its size in bytes, computed
/// without overflow (`u128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge {
    pub bytes: u128,
}

impl TooLarge {
    /// The compile error, on the network's name.
    pub fn error(self, name: &syn::Ident) -> syn::Error {
        syn::Error::new_spanned(
            name,
            format!(
                "network `{name}` would need a workspace of {} bytes, more than `isize::MAX` = {} bytes, the largest object Rust allows",
                self.bytes,
                isize::MAX
            ),
        )
    }
}

/// A buffer before placement.
#[derive(Clone, Copy, Debug)]
struct Buffer {
    len: usize,
    /// The node that writes it.
    first: usize,
    /// The last node that reads it.
    last: usize,
    /// The buffer its node's first input is in, if any.
    after: Option<usize>,
}

/// Where each value lives, before placement: the caller's input, or a
/// buffer (by index) viewed with a shape.
#[derive(Clone, Copy, Debug)]
enum Home {
    Input(Shape),
    Buf(usize, Shape),
}

/// Which buffer each value is in, and what each node does to memory.
struct Assignment {
    buffers: Vec<Buffer>,
    homes: Vec<Option<Home>>,
    /// Per node: `None` (nothing), or the buffer written and whether it is
    /// in place (with the value to copy first, if any).
    writes: Vec<Option<(usize, Option<Option<Value>>)>>,
}

/// Places every value of `graph`. Every size is checked: a workspace of
/// more than `isize::MAX` bytes (the largest object Rust allows) is an
/// error, never a wrapped number.
pub fn plan(graph: &Graph) -> Result<MemoryPlan, TooLarge> {
    let assignment = assign(graph);
    let two_sided = place(&assignment.buffers, true);
    let first_fit = place(&assignment.buffers, false);
    let offsets = if peak(&assignment.buffers, &first_fit) < peak(&assignment.buffers, &two_sided) {
        first_fit
    } else {
        two_sided
    };
    let offsets = compact(&assignment.buffers, offsets);
    let floats = peak(&assignment.buffers, &offsets);
    let bytes = floats.saturating_mul(4);
    let (Ok(len), Ok(bytes)) = (usize::try_from(floats), isize::try_from(bytes)) else {
        return Err(TooLarge { bytes });
    };
    let region = |b: usize| Region {
        offset: usize::try_from(offsets[b]).unwrap_or(0),
        len: assignment.buffers[b].len,
    };
    let loc = |home: Home| match home {
        Home::Input(shape) => Loc::Input { shape },
        Home::Buf(b, shape) => Loc::Buf {
            region: region(b),
            shape,
        },
    };
    let locs: Vec<Option<Loc>> = assignment.homes.iter().map(|h| h.map(loc)).collect();
    let input = Loc::Input { shape: graph.input };
    let at = |v: Value| match v {
        Value::Input => Some(input),
        Value::Node(i) => locs[i],
    };
    let steps = assignment
        .writes
        .iter()
        .map(|w| match *w {
            None => Step::Nothing,
            Some((b, None)) => Step::Produce { to: region(b) },
            Some((b, Some(copy))) => Step::InPlace {
                at: region(b),
                copy: copy.and_then(at),
            },
        })
        .collect();
    Ok(MemoryPlan {
        len,
        bytes: bytes.unsigned_abs(),
        steps,
        locs,
        input,
    })
}

/// Whether a node works in place on its first input.
pub fn in_place(op: &Op) -> bool {
    matches!(
        op,
        Op::Activation(_) | Op::Softmax { .. } | Op::BatchNorm2d { .. } | Op::Add
    )
}

/// Decides which buffer every value lives in.
fn assign(graph: &Graph) -> Assignment {
    let (_, last_reads) = graph.last_reads();
    let end = graph.nodes.len();
    let mut a = Assignment {
        buffers: Vec::new(),
        homes: vec![None; end],
        writes: vec![None; end],
    };
    let home = |a: &Assignment, v: Value| match v {
        Value::Input => Some(Home::Input(graph.input)),
        Value::Node(i) => a.homes[i],
    };
    for (i, node) in graph.nodes.iter().enumerate() {
        let read_until = last_reads[i].unwrap_or(i);
        let first = node.inputs.first().and_then(|&v| home(&a, v));
        let len = node.shape.len().unwrap_or(0);
        a.homes[i] = match (&node.op, first) {
            (Op::Folded, _) => None,
            (_, Some(Home::Buf(b, _))) if node.is_view() => {
                extend(&mut a.buffers[b], read_until);
                Some(Home::Buf(b, node.shape))
            }
            (_, Some(Home::Input(_))) if node.is_view() => Some(Home::Input(node.shape)),
            (op, Some(Home::Buf(b, _)))
                if in_place(op) && a.buffers[b].last <= i && !read_twice(node, b, &a) =>
            {
                a.writes[i] = Some((b, Some(None)));
                extend(&mut a.buffers[b], read_until);
                Some(Home::Buf(b, node.shape))
            }
            (op, _) => {
                let after = match first {
                    Some(Home::Buf(b, _)) => Some(b),
                    _ => None,
                };
                a.buffers.push(Buffer {
                    len,
                    first: i,
                    last: read_until,
                    after,
                });
                let b = a.buffers.len().saturating_sub(1);
                let copy = in_place(op).then(|| node.inputs.first().copied());
                a.writes[i] = Some((b, copy));
                Some(Home::Buf(b, node.shape))
            }
        };
        // Every buffer a node reads lives until then.
        for &v in node.inputs.iter().chain(&node.post.residual) {
            if let Some(Home::Buf(b, _)) = home(&a, v) {
                extend(&mut a.buffers[b], i);
            }
        }
    }
    if let Some(Home::Buf(b, _)) = home(&a, graph.output) {
        extend(&mut a.buffers[b], end);
    }
    a
}

fn extend(buffer: &mut Buffer, until: usize) {
    buffer.last = buffer.last.max(until);
}

/// Whether node `node` reads buffer `b` through another operand too (`x +
/// x`): then it cannot overwrite it in place.
fn read_twice(node: &crate::graph::Node, b: usize, a: &Assignment) -> bool {
    node.inputs
        .iter()
        .skip(1)
        .chain(&node.post.residual)
        .any(|&v| match v {
            Value::Node(j) => matches!(a.homes[j], Some(Home::Buf(c, _)) if c == b),
            Value::Input => false,
        })
}

/// Whether two buffers are live at the same time.
fn coexist(a: &Buffer, b: &Buffer) -> bool {
    a.first <= b.last && b.first <= a.last
}

/// Offsets (in `u128`, where no sum overflows) for every buffer: lowest
/// free offset first, from the end opposite to the input's buffer when
/// `two_sided`.
#[allow(clippy::arithmetic_side_effects)] // u128 sums of usizes
fn place(buffers: &[Buffer], two_sided: bool) -> Vec<u128> {
    // From its own end: the offset, and which end (true: the top).
    let mut placed: Vec<(u128, bool)> = Vec::with_capacity(buffers.len());
    for (i, buf) in buffers.iter().enumerate() {
        let top = two_sided && buf.after.is_some_and(|b| !placed[b].1);
        let busy: Vec<(u128, u128)> = buffers[..i]
            .iter()
            .zip(&placed)
            .filter(|(other, (_, t))| *t == top && coexist(other, buf))
            .map(|(other, &(o, _))| (o, o + other.len as u128))
            .collect();
        let fits = |o: u128| {
            busy.iter()
                .all(|&(s, e)| o + buf.len as u128 <= s || e <= o)
        };
        let offset = std::iter::once(0)
            .chain(busy.iter().map(|&(_, e)| e))
            .filter(|&o| fits(o))
            .min()
            .unwrap_or(0);
        placed.push((offset, top));
    }
    // The workspace must hold, at every node, its bottom and its top
    // buffers side by side; top buffers are then placed from the end.
    let total = (0..=buffers.iter().map(|b| b.last).max().unwrap_or(0))
        .map(|t| {
            let extent = |top: bool| {
                buffers
                    .iter()
                    .zip(&placed)
                    .filter(|(b, (_, s))| *s == top && b.first <= t && t <= b.last)
                    .map(|(b, &(o, _))| o + b.len as u128)
                    .max()
                    .unwrap_or(0)
            };
            extent(false) + extent(true)
        })
        .max()
        .unwrap_or(0);
    buffers
        .iter()
        .zip(placed)
        .map(|(b, (o, top))| if top { total - o - b.len as u128 } else { o })
        .collect()
}

/// The workspace length of a placement: the highest end of a buffer.
#[allow(clippy::arithmetic_side_effects)] // u128 sums of usizes
fn peak(buffers: &[Buffer], offsets: &[u128]) -> u128 {
    buffers
        .iter()
        .zip(offsets)
        .map(|(b, &o)| o + b.len as u128)
        .max()
        .unwrap_or(0)
}

/// Cuts out every stretch of the workspace that no buffer ever covers,
/// moving the buffers above it down: those that coexisted stay apart, as
/// none of them straddles the stretch.
#[allow(clippy::arithmetic_side_effects)] // u128 differences of ordered offsets
fn compact(buffers: &[Buffer], offsets: Vec<u128>) -> Vec<u128> {
    let mut spans: Vec<(u128, u128)> = buffers
        .iter()
        .zip(&offsets)
        .filter(|(b, _)| b.len > 0)
        .map(|(b, &o)| (o, o + b.len as u128))
        .collect();
    spans.sort_unstable();
    // The gaps, as (where they start, how long), in order.
    let mut gaps = Vec::new();
    let mut covered = 0u128;
    for (start, end) in spans {
        if start > covered {
            gaps.push((covered, start - covered));
        }
        covered = covered.max(end);
    }
    offsets
        .into_iter()
        .map(|o| {
            let below: u128 = gaps
                .iter()
                .filter(|&&(g, _)| g < o)
                .map(|&(_, len)| len)
                .sum();
            o - below
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn plan_of(tokens: proc_macro2::TokenStream) -> (Graph, MemoryPlan) {
        let inv: crate::ast::Invocation = syn::parse2(tokens).unwrap();
        let graph = crate::check::check(&inv, &inv.networks[0]).unwrap_or_else(|e| panic!("{e}"));
        let fused = crate::fuse::fuse(&graph);
        let memory = plan(&fused).unwrap();
        (fused, memory)
    }

    /// Every pair of buffers live at the same node is disjoint.
    fn assert_disjoint(graph: &Graph, memory: &MemoryPlan) {
        let assignment = assign(graph);
        for (i, a) in assignment.buffers.iter().enumerate() {
            for (j, b) in assignment.buffers.iter().enumerate().skip(i + 1) {
                if coexist(a, b) {
                    let (ra, rb) = (
                        region_of(memory, &assignment, i),
                        region_of(memory, &assignment, j),
                    );
                    assert!(
                        !ra.overlaps(rb),
                        "buffers {i} {a:?} and {j} {b:?} overlap: {ra:?} {rb:?}"
                    );
                }
            }
        }
    }

    fn region_of(memory: &MemoryPlan, a: &Assignment, b: usize) -> Region {
        let node = a.buffers[b].first;
        match memory.steps[node] {
            Step::Produce { to } | Step::InPlace { at: to, .. } => to,
            Step::Nothing => panic!("buffer {b} has no step"),
        }
    }

    #[test]
    fn lenet_needs_the_largest_consecutive_pair() {
        let (graph, memory) = plan_of(quote! {
            [c] struct N {
                input: [1, 32, 32],
                Conv2d(1, 6, 5), ReLU, MaxPool2d(2),
                Conv2d(6, 16, 5), ReLU, MaxPool2d(2),
                Flatten, Linear(400, 120), ReLU, Linear(120, 84), ReLU, Linear(84, 10),
            }
        });
        // conv1 out (6·28·28 = 4704) and pool1 out (6·14·14 = 1176) coexist.
        assert_eq!(memory.len, 4704 + 1176);
        assert_eq!(memory.loc(graph.output).unwrap().shape(), Shape::Flat(10));
        assert_disjoint(&graph, &memory);
    }

    #[test]
    fn a_residual_keeps_its_input_alive() {
        let (graph, memory) = plan_of(quote! {
            [c] struct N {
                input: [4, 8, 8],
                Conv2d(4, 4, 3, padding = 1),
                Residual { Conv2d(4, 4, 3, padding = 1), Tanh, Conv2d(4, 4, 3, padding = 1) },
                Tanh,
            }
        });
        // The block input, the body's tanh output and its conv's output
        // (with the input added in its store) coexist: 3 maps.
        assert_eq!(memory.len, 3 * 256);
        assert_disjoint(&graph, &memory);
    }

    #[test]
    fn an_in_place_layer_on_a_value_still_needed_works_on_a_copy() {
        let (graph, memory) = plan_of(quote! {
            [c] struct N {
                input: [2, 4, 4],
                Conv2d(2, 2, 1),
                Cat { Tanh, {} },
            }
        });
        let tanh = graph
            .nodes
            .iter()
            .position(|n| matches!(n.op, Op::Activation(_)))
            .unwrap();
        assert!(matches!(
            memory.steps[tanh],
            Step::InPlace { copy: Some(_), .. }
        ));
        assert_disjoint(&graph, &memory);
    }

    #[test]
    fn gaps_are_cut_out() {
        let buffers = [
            Buffer {
                len: 2,
                first: 0,
                last: 1,
                after: None,
            },
            Buffer {
                len: 3,
                first: 1,
                last: 2,
                after: None,
            },
        ];
        assert_eq!(compact(&buffers, vec![0, 5]), vec![0, 2]);
        assert_eq!(compact(&buffers, vec![4, 0]), vec![3, 0]);
    }
}
