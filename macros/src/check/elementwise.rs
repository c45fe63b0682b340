//! Shape-preserving layers: activations, (log-)softmax, and the layers that
//! are the identity at inference (`Dropout`, `Dropout2d`, `Identity`).

use super::{Bindings, Cx, Out};
use crate::eval::Value;
use crate::op::{Activation, Op};

impl Cx<'_> {
    /// A layer that passes its input through unchanged (or changes values
    /// only), keeping the flow's provenance.
    pub(super) fn pass_through(&mut self, op: Op, display: String) -> Option<Out> {
        Some(Out {
            op,
            display,
            params: 0,
            macs: 0,
            flow: Some(self.flow?.clone()),
        })
    }

    /// `Dropout(p)` / `Dropout2d(p)`: the identity at inference; `p` is
    /// checked as PyTorch checks it.
    pub(super) fn dropout(&mut self, b: &Bindings, kind: &str) -> Option<Out> {
        let p = Self::float(b.get("p"));
        if !(0.0..=1.0).contains(&p) {
            let at = b.get("p").range_or(self.kind_span());
            self.error(
                at,
                format!("dropout probability has to be between 0 and 1, found p = {p}"),
            );
        }
        if kind == "Dropout2d" {
            self.need_map(kind)?;
        }
        self.pass_through(Op::Identity, format!("{kind}(p = {p:?})"))
    }

    /// The activations, by name.
    pub(super) fn activation(&mut self, b: &Bindings, kind: &str) -> Option<Out> {
        let (act, display) = match kind {
            "ReLU" => (Activation::Relu, "ReLU".to_string()),
            "ReLU6" => (Activation::Relu6, "ReLU6".to_string()),
            "LeakyReLU" => {
                let negative_slope = self.float32(b.get("negative_slope"), "negative_slope")?;
                (
                    Activation::LeakyRelu { negative_slope },
                    format!("LeakyReLU({negative_slope:?})"),
                )
            }
            "ELU" => {
                let alpha = self.float32(b.get("alpha"), "alpha")?;
                (Activation::Elu { alpha }, format!("ELU(alpha = {alpha:?})"))
            }
            "SELU" => (Activation::Selu, "SELU".to_string()),
            "GELU" => {
                if Self::string(b.get("approximate")) == "tanh" {
                    (
                        Activation::GeluTanh,
                        "GELU(approximate = \"tanh\")".to_string(),
                    )
                } else {
                    (Activation::Gelu, "GELU".to_string())
                }
            }
            "SiLU" => (Activation::Silu, "SiLU".to_string()),
            "Hardswish" => (Activation::Hardswish, "Hardswish".to_string()),
            "Hardsigmoid" => (Activation::Hardsigmoid, "Hardsigmoid".to_string()),
            "Sigmoid" => (Activation::Sigmoid, "Sigmoid".to_string()),
            "Tanh" => (Activation::Tanh, "Tanh".to_string()),
            _ => return None,
        };
        self.pass_through(Op::Activation(act), display)
    }

    /// `Softmax(dim)` / `LogSoftmax(dim)`, PyTorch's numbering (batch
    /// dimension first).
    pub(super) fn softmax(&mut self, b: &Bindings, log: bool) -> Option<Out> {
        let name = if log { "LogSoftmax" } else { "Softmax" };
        let flow = self.flow?;
        let dims = flow.shape.dims();
        // A sample of rank r is a tensor of rank r + 1 to PyTorch, and
        // `dim = None` means dimension 1 for ranks 2 and 4.
        let rank = flow.shape.batched_rank();
        let bound = b.get("dim");
        let dim = match bound.value {
            Value::None => 1,
            Value::Int(d) => d,
            _ => return None,
        };
        let normalised = if dim < 0 {
            dim.saturating_add(rank)
        } else {
            dim
        };
        if normalised <= 0 || normalised >= rank {
            let why = if normalised == 0 {
                "dimension 0 is the batch dimension; a network sees one sample".to_string()
            } else {
                format!(
                    "the input {} is a batch of rank {rank}, so dim must be in -{rank}..={} (1..={} per sample)",
                    flow.shape,
                    rank.saturating_sub(1),
                    rank.saturating_sub(1)
                )
            };
            let at = bound.range_or(self.kind_span());
            self.error(at, format!("{name} dim = {dim} is out of range: {why}"));
            return None;
        }
        let axis = usize::try_from(normalised.saturating_sub(1)).ok()?;
        // The input fits in memory, so no product of its dimensions overflows.
        let (before, rest) = dims.split_at_checked(axis)?;
        let (&along, after) = rest.split_first()?;
        let product = |d: &[usize]| d.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        let (outer, inner) = (product(before)?, product(after)?);
        let display = match bound.value {
            Value::None => name.to_string(),
            _ => format!("{name}(dim = {dim})"),
        };
        self.pass_through(
            Op::Softmax {
                outer,
                dim: along,
                inner,
                log,
            },
            display,
        )
    }
}
