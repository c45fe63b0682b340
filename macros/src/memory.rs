//! The workspace plan: where each intermediate activation lives during
//! `forward`, in one flat `f32` buffer.
//!
//! In a chain of layers an activation is dead as soon as the next layer that
//! produces a new tensor has read it; activations (and batch norm, softmax)
//! work in place and `Flatten` is a view, so only two tensors are ever live
//! at once: the input and the output of the current layer. Buffers are
//! therefore placed alternately at the bottom and at the top of the
//! workspace, and the workspace needs `max(len_k + len_k+1)` floats over
//! consecutive buffers — the least any placement can use, since those two
//! must coexist. Every float of it is touched by that largest pair.

use crate::check::Plan;
use crate::op::Op;
use crate::shape::Shape;

/// Which end of the workspace a buffer is placed against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `workspace[0..len]`.
    Bottom,
    /// `workspace[LEN - len..LEN]`.
    Top,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Bottom => Side::Top,
            Side::Top => Side::Bottom,
        }
    }
}

/// A buffer in the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub side: Side,
    pub len: usize,
}

/// Where the current activation is, and its logical shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// The caller's input, possibly viewed flat (`shape` then differs from
    /// the input's).
    Input { shape: Shape },
    /// A workspace buffer, viewed with `shape`.
    Buf { region: Region, shape: Shape },
}

impl Loc {
    #[cfg(test)]
    pub fn shape(self) -> Shape {
        match self {
            Loc::Input { shape } | Loc::Buf { shape, .. } => shape,
        }
    }
}

/// What one layer does to memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Reads `from`, writes a new buffer `to`.
    Produce { from: Loc, to: Region },
    /// Works in place on `at`; `copy_input` first copies the caller's input
    /// (read-only) there.
    InPlace { at: Region, copy_input: bool },
    /// A view or the identity: nothing moves.
    Nothing,
}

/// The plan for a whole network.
pub struct MemoryPlan {
    /// Workspace length in floats.
    pub len: usize,
    /// One step per layer, with where the layer's output is afterwards.
    pub steps: Vec<(Step, Loc)>,
    /// Where the network's output is at the end.
    pub output: Loc,
}

/// Places every activation of `plan`.
pub fn plan(plan: &Plan) -> MemoryPlan {
    let mut cur = Loc::Input { shape: plan.input };
    let mut len = 0usize;
    let mut steps = Vec::new();
    for layer in &plan.layers {
        let step = match layer.op {
            Op::Flatten | Op::Identity => {
                cur = match cur {
                    Loc::Input { .. } => Loc::Input {
                        shape: layer.output,
                    },
                    Loc::Buf { region, .. } => Loc::Buf {
                        region,
                        shape: layer.output,
                    },
                };
                Step::Nothing
            }
            ref op if op.in_place() => match cur {
                Loc::Buf { region, .. } => Step::InPlace {
                    at: region,
                    copy_input: false,
                },
                Loc::Input { shape } => {
                    let region = Region {
                        side: Side::Bottom,
                        len: shape.len().unwrap_or(0),
                    };
                    len = len.max(region.len);
                    cur = Loc::Buf { region, shape };
                    Step::InPlace {
                        at: region,
                        copy_input: true,
                    }
                }
            },
            _ => {
                let out_len = layer.output.len().unwrap_or(0);
                let side = match cur {
                    Loc::Input { .. } => Side::Bottom,
                    Loc::Buf { region, .. } => region.side.other(),
                };
                let need = match cur {
                    Loc::Input { .. } => out_len,
                    Loc::Buf { region, .. } => region.len + out_len,
                };
                len = len.max(need);
                let to = Region { side, len: out_len };
                let from = cur;
                cur = Loc::Buf {
                    region: to,
                    shape: layer.output,
                };
                Step::Produce { from, to }
            }
        };
        steps.push((step, cur));
    }
    MemoryPlan {
        len,
        steps,
        output: cur,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn lenet_plan() -> MemoryPlan {
        let net: crate::ast::Network = syn::parse2(quote! {
            [c] struct N {
                input: [1, 32, 32],
                Conv2d(1, 6, 5), ReLU, MaxPool2d(2),
                Conv2d(6, 16, 5), ReLU, MaxPool2d(2),
                Flatten, Linear(400, 120), ReLU, Linear(120, 84), ReLU, Linear(84, 10),
            }
        })
        .unwrap();
        plan(&crate::check::check(&net).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn lenet_needs_the_largest_consecutive_pair() {
        let p = lenet_plan();
        // conv1 out (6·28·28 = 4704) and pool1 out (6·14·14 = 1176) coexist.
        assert_eq!(p.len, 4704 + 1176);
        // Buffers alternate sides; in-place layers stay put.
        let sides: Vec<Option<Side>> = p
            .steps
            .iter()
            .map(|(s, _)| match s {
                Step::Produce { to, .. } => Some(to.side),
                _ => None,
            })
            .collect();
        assert_eq!(sides[0], Some(Side::Bottom));
        assert_eq!(sides[1], None);
        assert_eq!(sides[2], Some(Side::Top));
        assert_eq!(sides[3], Some(Side::Bottom));
        assert_eq!(p.output.shape(), Shape::Flat(10));
    }

    #[test]
    fn consecutive_buffers_never_overlap() {
        let p = lenet_plan();
        for (step, _) in &p.steps {
            if let Step::Produce {
                from: Loc::Buf { region, .. },
                to,
            } = step
            {
                assert_ne!(region.side, to.side);
                assert!(region.len + to.len <= p.len);
            }
        }
    }
}
