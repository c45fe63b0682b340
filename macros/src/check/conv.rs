//! `Conv2d`.

use super::{pair_text, Bindings, Cx, Flow, Out, Shape, Window};
use crate::eval::Value;
use crate::op::{Op, PadMode};

impl Cx<'_> {
    pub(super) fn conv2d(&mut self, b: &Bindings) -> Option<Out> {
        let out_c = self.positive(b.get("out_channels"), "out_channels");
        let kernel = self.pair(b.get("kernel_size"), "kernel_size", 1);
        let stride = self.pair(b.get("stride"), "stride", 1);
        let dilation = self.pair(b.get("dilation"), "dilation", 1);
        let groups = self.positive(b.get("groups"), "groups");
        let bias = Self::bool(b.get("bias"));
        let mode = PadMode::parse(Self::string(b.get("padding_mode"))).unwrap_or(PadMode::Zeros);
        let padding = self.conv_padding(b, kernel, stride, dilation);
        let map = self.need_map("Conv2d");
        let in_c = self.channels(b.get("in_channels"), "in_channels", map);

        if let (Some(in_c), Some(g)) = (in_c, groups) {
            let at = b.get("groups").range_or(self.kind_span());
            if let Some(rem) = in_c.checked_rem(g).filter(|&r| r != 0) {
                self.error(
                    at,
                    format!("groups = {g} must divide in_channels = {in_c} ({in_c} % {g} = {rem})"),
                );
            }
            if let Some(o) = out_c {
                if let Some(rem) = o.checked_rem(g).filter(|&r| r != 0) {
                    self.error(
                        at,
                        format!("groups = {g} must divide out_channels = {o} ({o} % {g} = {rem})"),
                    );
                }
            }
        }
        let (in_c, out_c, kernel, stride, padding, dilation, groups) = (
            in_c?, out_c?, kernel?, stride?, padding?, dilation?, groups?,
        );

        let mut display = format!("Conv2d({in_c}, {out_c}, {}", pair_text(kernel));
        for (name, v, default) in [("stride", stride, (1, 1))] {
            if v != default {
                display.push_str(&format!(", {name} = {}", pair_text(v)));
            }
        }
        match &b.get("padding").value {
            Value::Str(s) => display.push_str(&format!(", padding = {s:?}")),
            _ if padding != (0, 0) => {
                display.push_str(&format!(", padding = {}", pair_text(padding)))
            }
            _ => {}
        }
        if dilation != (1, 1) {
            display.push_str(&format!(", dilation = {}", pair_text(dilation)));
        }
        if groups != 1 {
            display.push_str(&format!(", groups = {groups}"));
        }
        if !bias {
            display.push_str(", bias = false");
        }
        if mode != PadMode::Zeros {
            display.push_str(&format!(", padding_mode = {:?}", mode.name()));
        }
        display.push(')');

        let cg = in_c.checked_div(groups)?;
        let weights = self.weight_len(&[out_c, cg, kernel.0, kernel.1])?;
        let params = weights.checked_add(if bias { out_c } else { 0 })?;

        let (_, h, w) = map?;
        if mode != PadMode::Zeros {
            self.check_padding_mode(b, mode, padding, (h, w));
        }
        let (hc, wc) = self.spatial(
            Window {
                input: h,
                kernel: kernel.0,
                stride: stride.0,
                padding: padding.0,
                dilation: dilation.0,
            },
            Window {
                input: w,
                kernel: kernel.1,
                stride: stride.1,
                padding: padding.1,
                dilation: dilation.1,
            },
            false,
            b.get("kernel_size"),
        )?;
        let shape = Shape::Map {
            c: out_c,
            h: hc.value,
            w: wc.value,
        };
        let macs = self.count(
            &[out_c, hc.value, wc.value, cg, kernel.0, kernel.1],
            "MAC count",
        )?;
        let formula = format!(
            "out_channels = {out_c}; {}",
            Self::spatial_formula(&hc, &wc)
        );
        let channels_by = self.sets_channels(&display, "out_channels", out_c);
        Some(Out {
            op: Op::Conv2d {
                in_channels: in_c,
                out_channels: out_c,
                kernel,
                stride,
                padding,
                dilation,
                groups,
                bias,
                padding_mode: mode,
            },
            display,
            params,
            macs,
            flow: Some(Flow {
                shape,
                by: String::new(),
                formula,
                channels_by,
                map: None,
            }),
        })
    }

    /// `padding`: an integer, a pair, `"valid"` (no padding) or `"same"`
    /// (the output keeps the input size; PyTorch allows it only with
    /// stride 1).
    fn conv_padding(
        &mut self,
        b: &Bindings,
        kernel: Option<(usize, usize)>,
        stride: Option<(usize, usize)>,
        dilation: Option<(usize, usize)>,
    ) -> Option<(usize, usize)> {
        let bound = b.get("padding");
        let Value::Str(s) = &bound.value else {
            return self.pair(bound, "padding", 0);
        };
        if s == "valid" {
            return Some((0, 0));
        }
        let at = bound.range_or(self.kind_span());
        let stride = stride?;
        if stride != (1, 1) {
            self.error(
                at,
                format!(
                    "padding = \"same\" needs stride = 1, found stride = {} (PyTorch rejects this too: with a stride the output cannot keep the input size)",
                    pair_text(stride)
                ),
            );
            return None;
        }
        let (kernel, dilation) = (kernel?, dilation?);
        let total = |k: usize, d: usize| d.checked_mul(k.checked_sub(1)?);
        let (th, tw) = (total(kernel.0, dilation.0)?, total(kernel.1, dilation.1)?);
        if !th.is_multiple_of(2) || !tw.is_multiple_of(2) {
            self.error(
                at,
                format!(
                    "padding = \"same\" with kernel_size {} and dilation {} needs {} padding in total, which PyTorch splits unevenly (one more on the bottom/right); constnet supports only even totals: use an odd kernel, or pad explicitly",
                    pair_text(kernel),
                    pair_text(dilation),
                    if th % 2 == 1 { th } else { tw }
                ),
            );
            return None;
        }
        Some((th / 2, tw / 2))
    }

    /// PyTorch's limits on padding for the non-zero padding modes.
    fn check_padding_mode(
        &mut self,
        b: &Bindings,
        mode: PadMode,
        padding: (usize, usize),
        (h, w): (usize, usize),
    ) {
        let at = b.get("padding").range_or(self.kind_span());
        let ok = match mode {
            PadMode::Zeros => true,
            PadMode::Reflect => padding.0 < h && padding.1 < w,
            PadMode::Replicate => true,
            PadMode::Circular => padding.0 <= h && padding.1 <= w,
        };
        if !ok {
            let rule = if mode == PadMode::Reflect {
                "less than"
            } else {
                "at most"
            };
            self.error(
                at,
                format!(
                    "padding {} with padding_mode = {:?} must be {rule} the input size {h} × {w} (PyTorch rejects this too)",
                    pair_text(padding),
                    mode.name()
                ),
            );
        }
    }
}
