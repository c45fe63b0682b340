//! `BatchNorm2d` and `BatchNorm1d`, in inference mode.

use super::{written, Bindings, Cx, Out, Shape};
use crate::eval::Value;
use crate::op::Op;

impl Cx<'_> {
    /// `BatchNorm2d` on a `[C, H, W]` map, or (`one_d`) `BatchNorm1d` on a
    /// vector `[N]` (PyTorch's `[batch, N]` input): the same arithmetic per
    /// channel or per feature.
    pub(super) fn batch_norm(&mut self, b: &Bindings, one_d: bool) -> Option<Out> {
        let kind = if one_d { "BatchNorm1d" } else { "BatchNorm2d" };
        let eps = Self::float(b.get("eps"));
        let affine = Self::bool(b.get("affine"));
        if !Self::bool(b.get("track_running_stats")) {
            let at = b.get("track_running_stats").range_or(self.kind_span());
            self.error(
                at,
                format!("track_running_stats = false makes {kind} normalise with the statistics of each batch even at inference; constnet runs one sample at a time with the running statistics, so it needs track_running_stats = true"),
            );
        }
        if !(eps > 0.0 && eps.is_finite()) {
            let at = b.get("eps").range_or(self.kind_span());
            self.error(at, format!("eps must be a positive number, found {eps}"));
        } else {
            self.float32(b.get("eps"), "eps");
        }
        let (features, len) = if one_d {
            let n = self.need_flat(kind);
            (self.features(b, n)?, n?)
        } else {
            let map = self.need_map(kind);
            let features = self.channels(b.get("num_features"), "num_features", map)?;
            let (c, h, w) = map?;
            (features, self.count(&[c, h, w], "MAC count")?)
        };
        let mut display = format!("{kind}({features}");
        if (eps - 1e-5).abs() > f64::EPSILON {
            display.push_str(&format!(", eps = {eps:?}"));
        }
        if !affine {
            display.push_str(", affine = false");
        }
        display.push(')');
        Some(Out {
            op: Op::BatchNorm2d {
                features,
                #[allow(clippy::cast_possible_truncation)] // eps is used in f32, as PyTorch does for f32 tensors.
                eps: eps as f32,
                affine,
            },
            display,
            params: if affine { features.checked_mul(2)? } else { 0 },
            macs: len,
            flow: self.flow.cloned(),
        })
    }

    /// The input as a vector `[N]`, or an error on the layer name.
    fn need_flat(&mut self, what: &str) -> Option<usize> {
        let flow = self.flow?;
        match flow.shape {
            Shape::Flat(n) => Some(n),
            Shape::Map { .. } => {
                let msg = format!(
                    "`{what}` needs a vector [N], but its input is the map {}, {}\nhelp: use BatchNorm2d on a map",
                    flow.shape, flow.by
                );
                self.error(self.kind_span(), msg);
                None
            }
        }
    }

    /// `BatchNorm1d`'s `num_features` (or `_`) against the vector's length.
    fn features(&mut self, b: &Bindings, n: Option<usize>) -> Option<usize> {
        let bound = b.get("num_features");
        let declared = match bound.value {
            Value::Infer => return n,
            _ => self.positive(bound, "num_features")?,
        };
        if let (Some(n), Some(flow)) = (n, self.flow) {
            if n != declared {
                let msg = format!(
                    "expected num_features = {n}, found {declared}{}\n{}\nhelp: write `{n}`, or `_` to infer it",
                    written(bound),
                    flow.explain()
                );
                self.error(bound.range_or(self.kind_span()), msg);
            }
        }
        Some(declared)
    }
}
