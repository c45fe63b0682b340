//! `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`, `AdaptiveMaxPool2d`.

use super::{pair_text, Bindings, Bound, Computed, Cx, Out, Shape, Window};
use crate::eval::Value;
use crate::op::Op;

impl Cx<'_> {
    /// `stride`: a size, or `None` (PyTorch's default), meaning the kernel.
    fn pool_stride(&mut self, b: &Bound, kernel: Option<(usize, usize)>) -> Option<(usize, usize)> {
        match b.value {
            Value::None => kernel,
            _ => self.pair(b, "stride", 1),
        }
    }

    /// PyTorch's rule: padding at most half of the (dilated) window.
    fn pool_padding_limit(
        &mut self,
        b: &Bound,
        padding: (usize, usize),
        kernel: (usize, usize),
        dilation: (usize, usize),
    ) {
        // In `u128`, where these products of `usize`s cannot overflow.
        #[allow(clippy::arithmetic_side_effects)]
        let span = |k: usize, d: usize| d as u128 * (k as u128).saturating_sub(1);
        let limit = |k: usize, d: usize| span(k, d).div_ceil(2);
        let (lh, lw) = (limit(kernel.0, dilation.0), limit(kernel.1, dilation.1));
        if padding.0 as u128 > lh || padding.1 as u128 > lw {
            let effective = if dilation == (1, 1) {
                format!("kernel_size {}", pair_text(kernel))
            } else {
                // At most usize::MAX² + 1: no overflow in `u128`.
                #[allow(clippy::arithmetic_side_effects)]
                let window = |k: usize, d: usize| span(k, d) + 1;
                format!(
                    "the dilated window {}",
                    pair_text((window(kernel.0, dilation.0), window(kernel.1, dilation.1)))
                )
            };
            self.error(
                b.range_or(self.kind_span()),
                format!(
                    "padding {} is more than half of {effective} (at most {}); PyTorch rejects this too",
                    pair_text(padding),
                    pair_text((lh, lw))
                ),
            );
        }
    }

    /// The output map of a sliding-window pool over the input map, given
    /// `[kernel, stride, padding, dilation]`.
    fn pool_output(
        &mut self,
        name: &str,
        [kernel, stride, padding, dilation]: [(usize, usize); 4],
        ceil_mode: bool,
        kernel_arg: &Bound,
    ) -> Option<(usize, Computed, Computed)> {
        let (c, h, w) = self.need_map(name)?;
        let (hc, wc) = self.spatial(
            Window {
                input: h,
                kernel: kernel.0,
                stride: stride.0,
                padding: (padding.0, padding.0),
                dilation: dilation.0,
            },
            Window {
                input: w,
                kernel: kernel.1,
                stride: stride.1,
                padding: (padding.1, padding.1),
                dilation: dilation.1,
            },
            ceil_mode,
            kernel_arg,
        )?;
        Some((c, hc, wc))
    }

    pub(super) fn max_pool2d(&mut self, b: &Bindings) -> Option<Out> {
        let kernel = self.pair(b.get("kernel_size"), "kernel_size", 1);
        let stride = self.pool_stride(b.get("stride"), kernel);
        let padding = self.pair(b.get("padding"), "padding", 0);
        let dilation = self.pair(b.get("dilation"), "dilation", 1);
        let ceil_mode = Self::bool(b.get("ceil_mode"));
        if Self::bool(b.get("return_indices")) {
            let at = b.get("return_indices").range_or(self.kind_span());
            self.error(at, "return_indices = true is not supported: a network passes one tensor from layer to layer");
        }
        let (kernel, stride, padding, dilation) = (kernel?, stride?, padding?, dilation?);
        self.pool_padding_limit(b.get("padding"), padding, kernel, dilation);

        let mut display = format!("MaxPool2d({}", pair_text(kernel));
        if stride != kernel {
            display.push_str(&format!(", stride = {}", pair_text(stride)));
        }
        if padding != (0, 0) {
            display.push_str(&format!(", padding = {}", pair_text(padding)));
        }
        if dilation != (1, 1) {
            display.push_str(&format!(", dilation = {}", pair_text(dilation)));
        }
        if ceil_mode {
            display.push_str(", ceil_mode = true");
        }
        display.push(')');
        let (c, hc, wc) = self.pool_output(
            "MaxPool2d",
            [kernel, stride, padding, dilation],
            ceil_mode,
            b.get("kernel_size"),
        )?;
        let shape = Shape::Map {
            c,
            h: hc.value,
            w: wc.value,
        };
        Some(Out {
            op: Op::MaxPool2d {
                kernel,
                stride,
                padding,
                dilation,
                ceil_mode,
            },
            display,
            params: 0,
            macs: 0,
            flow: self.same_channels(shape, Self::spatial_formula(&hc, &wc)),
        })
    }

    pub(super) fn avg_pool2d(&mut self, b: &Bindings) -> Option<Out> {
        let kernel = self.pair(b.get("kernel_size"), "kernel_size", 1);
        let stride = self.pool_stride(b.get("stride"), kernel);
        let padding = self.pair(b.get("padding"), "padding", 0);
        let ceil_mode = Self::bool(b.get("ceil_mode"));
        let count_include_pad = Self::bool(b.get("count_include_pad"));
        let divisor = match b.get("divisor_override").value {
            Value::None => Some(0),
            _ => self.positive(b.get("divisor_override"), "divisor_override"),
        };
        let (kernel, stride, padding, divisor) = (kernel?, stride?, padding?, divisor?);
        self.pool_padding_limit(b.get("padding"), padding, kernel, (1, 1));

        let mut display = format!("AvgPool2d({}", pair_text(kernel));
        if stride != kernel {
            display.push_str(&format!(", stride = {}", pair_text(stride)));
        }
        if padding != (0, 0) {
            display.push_str(&format!(", padding = {}", pair_text(padding)));
        }
        if ceil_mode {
            display.push_str(", ceil_mode = true");
        }
        if !count_include_pad {
            display.push_str(", count_include_pad = false");
        }
        if divisor != 0 {
            display.push_str(&format!(", divisor_override = {divisor}"));
        }
        display.push(')');
        let (c, hc, wc) = self.pool_output(
            "AvgPool2d",
            [kernel, stride, padding, (1, 1)],
            ceil_mode,
            b.get("kernel_size"),
        )?;
        let shape = Shape::Map {
            c,
            h: hc.value,
            w: wc.value,
        };
        Some(Out {
            op: Op::AvgPool2d {
                kernel,
                stride,
                padding,
                ceil_mode,
                count_include_pad,
                divisor,
            },
            display,
            params: 0,
            macs: 0,
            flow: self.same_channels(shape, Self::spatial_formula(&hc, &wc)),
        })
    }

    pub(super) fn adaptive_pool2d(&mut self, b: &Bindings, kind: &str) -> Option<Out> {
        let size_arg = b.get("output_size");
        let size = self.pair(size_arg, "output_size", 1);
        if kind == "AdaptiveMaxPool2d" && Self::bool(b.get("return_indices")) {
            let at = b.get("return_indices").range_or(self.kind_span());
            self.error(at, "return_indices = true is not supported: a network passes one tensor from layer to layer");
        }
        let (oh, ow) = size?;
        let display = format!("{kind}({})", pair_text((oh, ow)));
        let (c, h, w) = self.need_map(kind)?;
        if oh > h || ow > w {
            let flow = self.flow.map(super::Flow::explain).unwrap_or_default();
            self.error(
                size_arg.range_or(self.kind_span()),
                format!(
                    "output_size {} is larger than the input {h} × {w}: adaptive pooling would repeat input pixels (an upsampling), which is almost certainly a mistake\n{flow}",
                    pair_text((oh, ow))
                ),
            );
            return None;
        }
        let formula = format!("H × W = output_size = {oh} × {ow}");
        let shape = Shape::Map { c, h: oh, w: ow };
        Some(Out {
            op: if kind == "AdaptiveAvgPool2d" {
                Op::AdaptiveAvgPool2d
            } else {
                Op::AdaptiveMaxPool2d
            },
            display,
            params: 0,
            macs: 0,
            flow: self.same_channels(shape, formula),
        })
    }
}
