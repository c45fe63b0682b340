//! `Conv2d`.

use super::{pair_text, Bindings, Cx, Flow, Out, Shape, Window};
use crate::eval::Value;
use crate::op::{Op, PadMode, Pads};

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

        self.check_groups(b, in_c, out_c, groups);
        let (in_c, out_c, kernel, stride, padding, dilation, groups) = (
            in_c?, out_c?, kernel?, stride?, padding?, dilation?, groups?,
        );

        let display = conv_display(
            b,
            [in_c, out_c, groups],
            [kernel, stride, dilation],
            padding,
            bias,
            mode,
        );

        let cg = in_c.checked_div(groups)?;
        let weights = self.weight_len(&[out_c, cg, kernel.0, kernel.1])?;
        let params = weights.checked_add(if bias { out_c } else { 0 })?;

        let (_, h, w) = map?;
        if mode != PadMode::Zeros {
            self.check_padding_mode(b, mode, padding, (h, w));
        }
        let [hwin, wwin] = windows((h, w), kernel, stride, padding, dilation);
        let (hc, wc) = self.spatial(hwin, wwin, false, b.get("kernel_size"))?;
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

    /// `groups` must divide both channel counts.
    fn check_groups(
        &mut self,
        b: &Bindings,
        in_c: Option<usize>,
        out_c: Option<usize>,
        groups: Option<usize>,
    ) {
        let Some(g) = groups else { return };
        let at = b.get("groups").range_or(self.kind_span());
        for (what, n) in [("in_channels", in_c), ("out_channels", out_c)] {
            if let Some((n, rem)) = n.and_then(|n| Some((n, n.checked_rem(g)?))) {
                if rem != 0 {
                    let msg = format!("groups = {g} must divide {what} = {n} ({n} % {g} = {rem})");
                    self.error(at, msg);
                }
            }
        }
    }

    /// `padding`: an integer, a pair, `"valid"` (no padding) or `"same"`
    /// (the output keeps the input size; PyTorch allows it only with
    /// stride 1, and pads an odd total one more at the bottom and right).
    fn conv_padding(
        &mut self,
        b: &Bindings,
        kernel: Option<(usize, usize)>,
        stride: Option<(usize, usize)>,
        dilation: Option<(usize, usize)>,
    ) -> Option<Pads> {
        let bound = b.get("padding");
        let Value::Str(s) = &bound.value else {
            return self.pair(bound, "padding", 0).map(Pads::symmetric);
        };
        if s == "valid" {
            return Some(Pads::default());
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
        // PyTorch's split: half before, the rest (one more if odd) after.
        Some(Pads {
            top: th / 2,
            bottom: th.div_ceil(2),
            left: tw / 2,
            right: tw.div_ceil(2),
        })
    }

    /// PyTorch's limits on padding for the non-zero padding modes.
    fn check_padding_mode(
        &mut self,
        b: &Bindings,
        mode: PadMode,
        padding: Pads,
        (h, w): (usize, usize),
    ) {
        let at = b.get("padding").range_or(self.kind_span());
        let (most_h, most_w) = (
            padding.top.max(padding.bottom),
            padding.left.max(padding.right),
        );
        let ok = match mode {
            PadMode::Zeros | PadMode::Replicate => true,
            PadMode::Reflect => most_h < h && most_w < w,
            PadMode::Circular => most_h <= h && most_w <= w,
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
                    padding.text(),
                    mode.name()
                ),
            );
        }
    }
}

/// `Conv2d(3, 16, 3, stride = 2, padding = 1)`: the layer with its
/// arguments resolved, those at their defaults left out.
fn conv_display(
    b: &Bindings,
    [in_c, out_c, groups]: [usize; 3],
    [kernel, stride, dilation]: [(usize, usize); 3],
    padding: Pads,
    bias: bool,
    mode: PadMode,
) -> String {
    let mut display = format!("Conv2d({in_c}, {out_c}, {}", pair_text(kernel));
    if stride != (1, 1) {
        display.push_str(&format!(", stride = {}", pair_text(stride)));
    }
    match &b.get("padding").value {
        Value::Str(s) => display.push_str(&format!(", padding = {s:?}")),
        _ if !padding.is_zero() => {
            display.push_str(&format!(", padding = {}", padding.text()));
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
    display
}

/// The sliding windows along the height and the width.
fn windows(
    (h, w): (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Pads,
    dilation: (usize, usize),
) -> [Window; 2] {
    [
        Window {
            input: h,
            kernel: kernel.0,
            stride: stride.0,
            padding: (padding.top, padding.bottom),
            dilation: dilation.0,
        },
        Window {
            input: w,
            kernel: kernel.1,
            stride: stride.1,
            padding: (padding.left, padding.right),
            dilation: dilation.1,
        },
    ]
}
