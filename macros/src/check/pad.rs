//! The padding layers: `ZeroPad2d`, `ConstantPad2d`, `ReflectionPad2d`,
//! `ReplicationPad2d`, `CircularPad2d`, with an integer or PyTorch's
//! `(left, right, top, bottom)`.

use super::{Bindings, Cx, Out};
use crate::eval::Value;
use crate::op::{Op, PadMode, Pads};
use crate::shape::Shape;

/// The padding layers, by name.
pub(super) const KINDS: &[&str] = &[
    "ZeroPad2d",
    "ConstantPad2d",
    "ReflectionPad2d",
    "ReplicationPad2d",
    "CircularPad2d",
];

impl Cx<'_> {
    pub(super) fn pad2d(&mut self, b: &Bindings, kind: &str) -> Option<Out> {
        let mode = match kind {
            "ReflectionPad2d" => PadMode::Reflect,
            "ReplicationPad2d" => PadMode::Replicate,
            "CircularPad2d" => PadMode::Circular,
            _ => PadMode::Zeros,
        };
        let value = if kind == "ConstantPad2d" {
            self.float32(b.get("value"), "value")?
        } else {
            0.0
        };
        let pads = self.pads(b)?;
        let (c, h, w) = self.need_map(kind)?;
        self.pad_fits(b, mode, pads, (h, w))?;
        let grow = |n: usize, a: usize, b: usize| n.checked_add(a)?.checked_add(b);
        let (Some(oh), Some(ow)) = (
            grow(h, pads.top, pads.bottom),
            grow(w, pads.left, pads.right),
        ) else {
            self.error(
                self.kind_span(),
                "arithmetic overflow: the padded size does not fit in usize",
            );
            return None;
        };
        let side = |n: usize, a: usize, b: usize, out: usize| {
            if a == b {
                format!("{n} + 2·{a} = {out}")
            } else {
                format!("{n} + {a} + {b} = {out}")
            }
        };
        let (fh, fw) = (
            side(h, pads.top, pads.bottom, oh),
            side(w, pads.left, pads.right, ow),
        );
        let formula = if fh == fw {
            format!("H = W = {fh}")
        } else {
            format!("H = {fh}; W = {fw}")
        };
        let display = match kind {
            "ConstantPad2d" => format!("{kind}({}, {value:?})", pads.text()),
            _ => format!("{kind}({})", pads.text()),
        };
        Some(Out {
            op: Op::Pad2d { mode, pads, value },
            display,
            params: 0,
            macs: 0,
            flow: self.same_channels(Shape::Map { c, h: oh, w: ow }, formula),
        })
    }

    /// `padding`: one size for all four sides, or `(left, right, top,
    /// bottom)`, each non-negative.
    fn pads(&mut self, b: &Bindings) -> Option<Pads> {
        let bound = b.get("padding");
        let at = bound.range_or(self.kind_span());
        let sides = match bound.value {
            Value::Int(n) => [n; 4],
            Value::Quad(q) => q,
            _ => return None,
        };
        if sides.iter().any(|&v| v < 0) {
            self.error(
                at,
                format!(
                    "padding {} has a negative side; negative padding (cropping) is not supported",
                    bound.value.describe()
                ),
            );
            return None;
        }
        let [l, r, t, b] = sides.map(|v| usize::try_from(v).ok());
        let (Some(left), Some(right), Some(top), Some(bottom)) = (l, r, t, b) else {
            self.error(
                at,
                format!(
                    "arithmetic overflow: padding {} does not fit in usize",
                    bound.value.describe()
                ),
            );
            return None;
        };
        Some(Pads {
            top,
            bottom,
            left,
            right,
        })
    }

    /// PyTorch's limits: reflection needs each pad smaller than the input
    /// size, circular padding at most the size.
    fn pad_fits(
        &mut self,
        b: &Bindings,
        mode: PadMode,
        pads: Pads,
        (h, w): (usize, usize),
    ) -> Option<()> {
        let (most_h, most_w) = (pads.top.max(pads.bottom), pads.left.max(pads.right));
        let (ok, rule) = match mode {
            PadMode::Reflect => (most_h < h && most_w < w, "less than"),
            PadMode::Circular => (most_h <= h && most_w <= w, "at most"),
            PadMode::Zeros | PadMode::Replicate => (true, ""),
        };
        if ok {
            return Some(());
        }
        let flow = self.flow.map(super::Flow::explain).unwrap_or_default();
        self.error(
            b.get("padding").range_or(self.kind_span()),
            format!(
                "padding {} must be {rule} the input size {h} × {w} for {} padding (PyTorch rejects this too)\n{flow}",
                pads.text(),
                mode.name()
            ),
        );
        None
    }
}
