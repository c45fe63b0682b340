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

/// A buffer in the workspace: `workspace[offset..offset + len]`, placed
/// against one end of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub side: Side,
    pub offset: usize,
    pub len: usize,
}

impl Region {
    /// A region against `side`; its offset is set once the workspace length
    /// is known (`place`).
    fn at(side: Side, len: usize) -> Region {
        Region {
            side,
            offset: 0,
            len,
        }
    }

    /// One past the last float, `offset + len` (at most the workspace
    /// length, which the planner checked fits in memory).
    #[allow(clippy::arithmetic_side_effects)] // offset + len <= workspace length
    pub fn end(self) -> usize {
        self.offset + self.len
    }

    /// The offset of a `Top` region in a workspace of `total` floats.
    #[allow(clippy::arithmetic_side_effects)] // len <= total, checked by the planner
    fn place(mut self, total: usize) -> Region {
        if self.side == Side::Top {
            self.offset = total - self.len;
        }
        self
    }
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
    /// Workspace size in bytes (`4 · len`, checked to fit in `isize`).
    pub bytes: usize,
    /// One step per layer, with where the layer's output is afterwards.
    pub steps: Vec<(Step, Loc)>,
    /// Where the network's output is at the end.
    pub output: Loc,
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

/// Places every activation of `plan`. Every size is checked: a workspace
/// of more than `isize::MAX` bytes (the largest object Rust allows) is an
/// error, never a wrapped number.
#[allow(clippy::arithmetic_side_effects)] // `u128` sums and products of `usize`s cannot overflow
pub fn plan(plan: &Plan) -> Result<MemoryPlan, TooLarge> {
    let mut cur = Loc::Input { shape: plan.input };
    // The largest number of floats live at once, in `u128` so that a sum
    // of two activations cannot overflow.
    let mut peak: u128 = 0;
    let mut steps = Vec::new();
    // `check` verified that every activation fits in memory on its own.
    let len_of = |shape: Shape| shape.len().unwrap_or(usize::MAX);
    for layer in &plan.layers {
        let step = match layer.op {
            Op::Flatten | Op::Identity => {
                cur = cur.viewed_as(layer.output);
                Step::Nothing
            }
            ref op if op.in_place() => match cur {
                Loc::Buf { region, .. } => Step::InPlace {
                    at: region,
                    copy_input: false,
                },
                Loc::Input { shape } => {
                    let region = Region::at(Side::Bottom, len_of(shape));
                    peak = peak.max(region.len as u128);
                    cur = Loc::Buf { region, shape };
                    Step::InPlace {
                        at: region,
                        copy_input: true,
                    }
                }
            },
            _ => {
                let out_len = len_of(layer.output);
                let (side, live) = match cur {
                    Loc::Input { .. } => (Side::Bottom, 0),
                    Loc::Buf { region, .. } => (region.side.other(), region.len),
                };
                // The input and the output coexist.
                peak = peak.max(live as u128 + out_len as u128);
                let to = Region::at(side, out_len);
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
    let bytes = peak * 4;
    let (Ok(len), Ok(bytes)) = (usize::try_from(peak), isize::try_from(bytes)) else {
        return Err(TooLarge { bytes });
    };
    let steps = steps
        .into_iter()
        .map(|(step, loc)| (step.place(len), loc.place(len)))
        .collect();
    Ok(MemoryPlan {
        len,
        bytes: bytes.unsigned_abs(),
        steps,
        output: cur.place(len),
    })
}

impl Loc {
    /// The same memory viewed with another shape (`Flatten`, `Identity`).
    fn viewed_as(self, shape: Shape) -> Loc {
        match self {
            Loc::Input { .. } => Loc::Input { shape },
            Loc::Buf { region, .. } => Loc::Buf { region, shape },
        }
    }

    fn place(self, total: usize) -> Loc {
        match self {
            Loc::Input { .. } => self,
            Loc::Buf { region, shape } => Loc::Buf {
                region: region.place(total),
                shape,
            },
        }
    }
}

impl Step {
    fn place(self, total: usize) -> Step {
        match self {
            Step::Produce { from, to } => Step::Produce {
                from: from.place(total),
                to: to.place(total),
            },
            Step::InPlace { at, copy_input } => Step::InPlace {
                at: at.place(total),
                copy_input,
            },
            Step::Nothing => Step::Nothing,
        }
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
        plan(&crate::check::check(&net).unwrap_or_else(|e| panic!("{e}"))).unwrap()
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
