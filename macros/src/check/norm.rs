//! `BatchNorm2d`, in inference mode.

use super::{Bindings, Cx, Out};
use crate::op::Op;

impl Cx<'_> {
    pub(super) fn batch_norm2d(&mut self, b: &Bindings) -> Option<Out> {
        let eps = Self::float(b.get("eps"));
        let affine = Self::bool(b.get("affine"));
        if !Self::bool(b.get("track_running_stats")) {
            let at = b.get("track_running_stats").range_or(self.kind_span());
            self.error(
                at,
                "track_running_stats = false makes BatchNorm2d normalise with the statistics of each batch even at inference; constnet runs one sample at a time with the running statistics, so it needs track_running_stats = true",
            );
        }
        if !(eps > 0.0 && eps.is_finite()) {
            let at = b.get("eps").range_or(self.kind_span());
            self.error(at, format!("eps must be a positive number, found {eps}"));
        } else {
            self.float32(b.get("eps"), "eps");
        }
        let map = self.need_map("BatchNorm2d");
        let features = self.channels(b.get("num_features"), "num_features", map)?;
        let (c, h, w) = map?;
        let mut display = format!("BatchNorm2d({features}");
        if (eps - 1e-5).abs() > f64::EPSILON {
            display.push_str(&format!(", eps = {eps:?}"));
        }
        if !affine {
            display.push_str(", affine = false");
        }
        display.push(')');
        let macs = self.count(&[c, h, w], "MAC count")?;
        Some(Out {
            op: Op::BatchNorm2d {
                features,
                #[allow(clippy::cast_possible_truncation)] // eps is used in f32, as PyTorch does for f32 tensors.
                eps: eps as f32,
                affine,
            },
            display,
            params: if affine { features.checked_mul(2)? } else { 0 },
            macs,
            flow: self.flow.cloned(),
        })
    }
}
