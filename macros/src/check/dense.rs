//! `Linear` and `Flatten`.

use super::{shape, written, Bindings, Bound, Cx, Flow, Out, Shape};
use crate::eval::Value;
use crate::op::Op;

impl Cx<'_> {
    pub(super) fn linear(&mut self, b: &Bindings) -> Option<Out> {
        let in_b = b.get("in_features");
        let out_f = self.positive(b.get("out_features"), "out_features");
        let bias = Self::bool(b.get("bias"));
        let declared_in = match in_b.value {
            Value::Infer => None,
            _ => self.positive(in_b, "in_features"),
        };
        let actual = match self.flow.map(|f| f.shape) {
            Some(Shape::Flat(n)) => Some(n),
            Some(Shape::Map { c, h, w }) => {
                let flow = self.flow?;
                let hint = shape::flatten(c, h, w)
                    .map(|f| format!("; in_features would then be {}", f.formula))
                    .unwrap_or_default();
                let msg = format!(
                    "`Linear` needs a flat input, but its input is the map {}, {}\nhelp: insert `Flatten,` before this layer{hint}",
                    flow.shape, flow.by
                );
                self.error(self.kind_span(), msg);
                None
            }
            None => None,
        };
        let in_f = match (actual, declared_in) {
            (Some(n), Some(d)) if d != n => {
                let flow = self.flow?;
                let mut msg = format!(
                    "expected in_features = {n}, found {d}{}\n{}",
                    written(in_b),
                    flow.explain()
                );
                if let Some((map, by, formula)) = &flow.map {
                    msg.push_str(&format!("\nthe {map} map is {by}: {formula}"));
                }
                msg.push_str(&format!("\nhelp: write `{n}`, or `_` to infer it"));
                self.error(in_b.range_or(self.kind_span()), msg);
                Some(d)
            }
            (Some(n), _) => Some(n),
            (None, d) => d,
        };
        let (in_f, out_f) = (in_f, out_f?);
        let flow_out = Some(Flow {
            shape: Shape::Flat(out_f),
            by: String::new(),
            formula: format!("out_features = {out_f}"),
            channels_by: String::new(),
            map: None,
        });
        let Some(in_f) = in_f else {
            // Unknown input size: the output is still `out_features`.
            self.failed = true;
            return Some(Out {
                op: Op::Identity,
                display: String::new(),
                params: 0,
                macs: 0,
                flow: flow_out,
            });
        };
        let mut display = format!("Linear({in_f}, {out_f}");
        if !bias {
            display.push_str(", bias = false");
        }
        display.push(')');
        let macs = self.weight_len(&[out_f, in_f])?;
        let params = macs.checked_add(if bias { out_f } else { 0 })?;
        Some(Out {
            op: Op::Linear {
                in_features: in_f,
                out_features: out_f,
                bias,
            },
            display,
            params,
            macs,
            flow: flow_out,
        })
    }

    /// `Flatten(start_dim, end_dim)`: PyTorch numbers dimensions with the
    /// batch first, so flattening one whole sample is `start_dim = 1`,
    /// `end_dim = -1` (or the last index). Anything that would leave a
    /// sample of another rank is refused.
    pub(super) fn flatten(&mut self, b: &Bindings) -> Option<Out> {
        let flow = self.flow?;
        let rank = flow.shape.batched_rank();
        let dim = |bound: &Bound| match bound.value {
            // Saturating: a dimension beyond ±i128::MAX is out of range anyway.
            Value::Int(d) if d < 0 => d.saturating_add(rank),
            Value::Int(d) => d,
            _ => -1,
        };
        let (start, end) = (dim(b.get("start_dim")), dim(b.get("end_dim")));
        if start != 1 || end != rank.saturating_sub(1) {
            let which = if start == 1 { "end_dim" } else { "start_dim" };
            let bound = b.get(which);
            let at = bound.range_or(self.kind_span());
            let why = if start == 0 || end == 0 {
                "dimension 0 is the batch dimension".to_string()
            } else {
                format!(
                    "the input {} is a batch of rank {rank}; flattening dimensions {start}..={end} of it would not give one flat sample",
                    flow.shape
                )
            };
            self.error(
                at,
                format!(
                    "only `Flatten(start_dim = 1, end_dim = -1)`, which flattens one whole sample, is supported, found {which} = {}: {why}",
                    bound.value.describe()
                ),
            );
            return None;
        }
        let (op, shape, formula, map) = match flow.shape {
            Shape::Flat(n) => (
                Op::Identity,
                Shape::Flat(n),
                format!("already flat: {n}"),
                None,
            ),
            Shape::Map { c, h, w } => {
                let Some(f) = shape::flatten(c, h, w) else {
                    self.error(
                        self.kind_span(),
                        "arithmetic overflow: the flattened size does not fit in usize",
                    );
                    return None;
                };
                (
                    Op::Flatten,
                    Shape::Flat(f.value),
                    f.formula,
                    Some((flow.shape, flow.by.clone(), flow.formula.clone())),
                )
            }
        };
        Some(Out {
            op,
            display: "Flatten".into(),
            params: 0,
            macs: 0,
            flow: Some(Flow {
                shape,
                by: String::new(),
                formula,
                channels_by: String::new(),
                map,
            }),
        })
    }
}
