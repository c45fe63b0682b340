//! What each checked layer computes, with every size resolved: the
//! interface between `check` (which builds these) and `expand` (which turns
//! them into kernel calls).

/// How a convolution fills positions outside its input (`padding_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    Zeros,
    Reflect,
    Replicate,
    Circular,
}

impl PadMode {
    pub fn parse(s: &str) -> Option<PadMode> {
        Some(match s {
            "zeros" => PadMode::Zeros,
            "reflect" => PadMode::Reflect,
            "replicate" => PadMode::Replicate,
            "circular" => PadMode::Circular,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PadMode::Zeros => "zeros",
            PadMode::Reflect => "reflect",
            PadMode::Replicate => "replicate",
            PadMode::Circular => "circular",
        }
    }
}

/// Padding on each side of a map, as PyTorch's padding layers give it
/// (`(left, right, top, bottom)`) or a convolution's `padding` implies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pads {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Pads {
    /// `(h, w)`: `h` above and below, `w` left and right.
    pub fn symmetric((h, w): (usize, usize)) -> Pads {
        Pads {
            top: h,
            bottom: h,
            left: w,
            right: w,
        }
    }

    /// `Some((h, w))` if both sides of each axis are equal.
    pub fn as_symmetric(self) -> Option<(usize, usize)> {
        (self.top == self.bottom && self.left == self.right).then_some((self.top, self.left))
    }

    pub fn is_zero(self) -> bool {
        self == Pads::default()
    }

    /// The sum of two paddings, `None` on overflow.
    pub fn checked_add(self, other: Pads) -> Option<Pads> {
        Some(Pads {
            top: self.top.checked_add(other.top)?,
            bottom: self.bottom.checked_add(other.bottom)?,
            left: self.left.checked_add(other.left)?,
            right: self.right.checked_add(other.right)?,
        })
    }

    /// As the layer text writes it: `1`, `(1, 2)` (symmetric `(h, w)`), or
    /// `(left, right, top, bottom)`.
    pub fn text(self) -> String {
        match self.as_symmetric() {
            Some((h, w)) if h == w => h.to_string(),
            Some((h, w)) => format!("({h}, {w})"),
            None => format!(
                "({}, {}, {}, {})",
                self.left, self.right, self.top, self.bottom
            ),
        }
    }
}

/// An elementwise activation, applied in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    Relu6,
    LeakyRelu { negative_slope: f32 },
    Elu { alpha: f32 },
    Selu,
    Gelu,
    GeluTanh,
    Silu,
    Hardswish,
    Hardsigmoid,
    Sigmoid,
    Tanh,
}

/// What a layer computes, with concrete sizes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Pads,
        dilation: (usize, usize),
        groups: usize,
        bias: bool,
        padding_mode: PadMode,
    },
    MaxPool2d {
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        ceil_mode: bool,
    },
    AvgPool2d {
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        ceil_mode: bool,
        count_include_pad: bool,
        /// `divisor_override`, 0 for `None`.
        divisor: usize,
    },
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    BatchNorm2d {
        features: usize,
        eps: f32,
        affine: bool,
    },
    Linear {
        in_features: usize,
        out_features: usize,
        bias: bool,
    },
    /// `ZeroPad2d`, `ConstantPad2d` (mode `Zeros` with the constant
    /// `value`), `ReflectionPad2d`, `ReplicationPad2d`, `CircularPad2d`.
    Pad2d {
        mode: PadMode,
        pads: Pads,
        value: f32,
    },
    /// The sum of two or more values of one shape.
    Add,
    /// The concatenation of values along channels (features, for vectors).
    Cat,
    /// A node that `fuse` folded into an earlier one: its value is that
    /// node's.
    Folded,
    /// `Flatten` on a map: a view, no computation.
    Flatten,
    /// `Identity`, `Dropout`, `Dropout2d` at inference, and `Flatten` of a
    /// vector: nothing to compute.
    Identity,
    Activation(Activation),
    /// (Log-)softmax along the middle axis of the input viewed as
    /// `[outer, dim, inner]`.
    Softmax {
        outer: usize,
        dim: usize,
        inner: usize,
        log: bool,
    },
}

impl Op {
    /// The tensors this layer loads, with their `state_dict` suffixes and
    /// shapes in PyTorch's layout, in PyTorch's order. The suffixes are also
    /// the field names of the runtime's weight structs.
    pub fn param_shapes(&self) -> Vec<(&'static str, Vec<usize>)> {
        let mut v = Vec::new();
        match *self {
            Op::Conv2d {
                in_channels,
                out_channels,
                kernel,
                groups,
                bias,
                ..
            } => {
                v.push((
                    "weight",
                    vec![
                        out_channels,
                        in_channels.checked_div(groups).unwrap_or(0),
                        kernel.0,
                        kernel.1,
                    ],
                ));
                if bias {
                    v.push(("bias", vec![out_channels]));
                }
            }
            Op::Linear {
                in_features,
                out_features,
                bias,
            } => {
                v.push(("weight", vec![out_features, in_features]));
                if bias {
                    v.push(("bias", vec![out_features]));
                }
            }
            Op::BatchNorm2d {
                features, affine, ..
            } => {
                if affine {
                    v.push(("weight", vec![features]));
                    v.push(("bias", vec![features]));
                }
                v.push(("running_mean", vec![features]));
                v.push(("running_var", vec![features]));
            }
            _ => {}
        }
        v
    }

    /// How the layer changes the receptive field of one output pixel.
    pub fn receptive(
        &self,
        before: crate::shape::Receptive,
        input_hw: (usize, usize),
        output_hw: (usize, usize),
    ) -> crate::shape::Receptive {
        let everything = crate::shape::Receptive {
            size: (usize::MAX, usize::MAX),
            jump: before.jump,
        };
        match *self {
            Op::Conv2d {
                kernel,
                stride,
                dilation,
                ..
            }
            | Op::MaxPool2d {
                kernel,
                stride,
                dilation,
                ..
            } => before.window(kernel, stride, dilation),
            Op::AvgPool2d { kernel, stride, .. } => before.window(kernel, stride, (1, 1)),
            // Adaptive bins (PyTorch's ⌊i·in/out⌋ .. ⌈(i+1)·in/out⌉) are at
            // most `⌈in/out⌉ + 1` wide when `out` does not divide `in`.
            Op::AdaptiveAvgPool2d | Op::AdaptiveMaxPool2d => {
                let (h, w) = input_hw;
                let (oh, ow) = output_hw;
                // `o >= 1` (checked); `⌈i/o⌉ + 1 <= i + 1`, saturating.
                let bin = |i: usize, o: usize| {
                    i.checked_div(o).map_or(i, |q| {
                        q.saturating_add(usize::from(!i.is_multiple_of(o)))
                            .saturating_add(usize::from(!i.is_multiple_of(o)))
                    })
                };
                let step = |i: usize, o: usize| i.checked_div(o).unwrap_or(1).max(1);
                before.window((bin(h, oh), bin(w, ow)), (step(h, oh), step(w, ow)), (1, 1))
            }
            // A flat layer mixes everything.
            Op::Linear { .. } => everything,
            _ => before,
        }
    }
}
