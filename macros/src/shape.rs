//! PyTorch's shape arithmetic, pure: no syn, no spans. Each function returns
//! the number together with the formula that produced it, written out with
//! the numbers filled in, so that error messages (and the layer table) can
//! show *how* a size was computed.

use std::fmt;

/// The shape of one sample (batch dimension dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `[N]`: a vector of features.
    Flat(usize),
    /// `[C, H, W]`: a feature map.
    Map { c: usize, h: usize, w: usize },
}

impl Shape {
    /// The rank PyTorch sees, batch dimension included: 2 or 4.
    pub fn batched_rank(&self) -> i128 {
        match self {
            Shape::Flat(_) => 2,
            Shape::Map { .. } => 4,
        }
    }

    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Flat(n) => vec![n],
            Shape::Map { c, h, w } => vec![c, h, w],
        }
    }

    /// `[a, b, c]` for any list of dimensions.
    pub fn dims_text(dims: &[usize]) -> String {
        let dims: Vec<String> = dims.iter().map(ToString::to_string).collect();
        format!("[{}]", dims.join(", "))
    }

    /// The number of elements, `None` on overflow.
    pub fn len(&self) -> Option<usize> {
        self.dims()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// The size in bytes of an `f32` tensor of this shape, `None` if it is
    /// larger than `isize::MAX`, the largest object Rust allows.
    pub fn bytes(&self) -> Option<usize> {
        Shape::bytes_of(&self.dims())
    }

    /// [`Shape::bytes`] of any list of dimensions.
    pub fn bytes_of(dims: &[usize]) -> Option<usize> {
        dims.iter()
            .try_fold(4usize, |acc, &d| acc.checked_mul(d))
            .filter(|&b| isize::try_from(b).is_ok())
    }

    /// The byte count of a shape too large for [`Shape::bytes`], for error
    /// messages: exact if it fits in `u128`.
    pub fn bytes_text(&self) -> String {
        self.dims()
            .iter()
            .try_fold(4u128, |acc, &d| acc.checked_mul(d as u128))
            .map_or_else(|| "more than 2^128".to_string(), |b| b.to_string())
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Shape::dims_text(&self.dims()))
    }
}

/// A size and how it was computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Computed {
    pub value: usize,
    /// E.g. `(32 + 2·0 − 1·(5 − 1) − 1) / 1 + 1 = 28`.
    pub formula: String,
}

/// Why a sliding window does not fit its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// The (dilated) window spans more than the padded input.
    TooLarge {
        /// `in + 2·padding`, written out.
        padded: String,
        /// `dilation·(kernel − 1) + 1`, written out.
        span: String,
    },
    /// A number too large for `usize`.
    Overflow,
}

/// One spatial axis of a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub input: usize,
    pub kernel: usize,
    pub stride: usize,
    /// Padding before and after (top and bottom, or left and right).
    pub padding: (usize, usize),
    pub dilation: usize,
}

impl Window {
    fn padded(&self) -> Option<usize> {
        self.padding
            .0
            .checked_add(self.padding.1)?
            .checked_add(self.input)
    }

    fn span(&self) -> Option<usize> {
        self.dilation
            .checked_mul(self.kernel.checked_sub(1)?)?
            .checked_add(1)
    }

    fn too_large(&self, padded: usize, span: usize) -> WindowError {
        WindowError::TooLarge {
            padded: format!("{} + {} = {padded}", self.input, self.pad_text()),
            span: format!("{}·({} − 1) + 1 = {span}", self.dilation, self.kernel),
        }
    }

    /// `2·p`, or `p1 + p2` when the two sides differ.
    fn pad_text(&self) -> String {
        let (before, after) = self.padding;
        if before == after {
            format!("2·{before}")
        } else {
            format!("{before} + {after}")
        }
    }

    /// The body of the formula: `(in + 2·p − d·(k − 1) − 1) / s`.
    fn body(&self) -> String {
        format!(
            "({} + {} − {}·({} − 1) − 1) / {}",
            self.input,
            self.pad_text(),
            self.dilation,
            self.kernel,
            self.stride
        )
    }

    /// The output size along this axis: `⌊(in + 2p − d(k − 1) − 1) / s⌋ + 1`
    /// as in `Conv2d` and pooling. With `ceil_mode` (pooling only) the
    /// division rounds up, and a last window that would start in the right
    /// padding is dropped, as in PyTorch. The caller guarantees kernel,
    /// stride and dilation are at least 1 (a zero is reported as an
    /// overflow rather than a division by zero).
    #[allow(clippy::arithmetic_side_effects)] // stride > 0 checked; u128 sums and products of usizes
    pub fn output(&self, ceil_mode: bool) -> Result<Computed, WindowError> {
        let padded = self.padded().ok_or(WindowError::Overflow)?;
        let span = self.span().ok_or(WindowError::Overflow)?;
        let Some(numerator) = padded.checked_sub(span) else {
            return Err(self.too_large(padded, span));
        };
        if self.stride == 0 {
            return Err(WindowError::Overflow);
        }
        let quotient = if ceil_mode {
            numerator.div_ceil(self.stride)
        } else {
            numerator / self.stride
        };
        let value = quotient.checked_add(1).ok_or(WindowError::Overflow)?;
        if !ceil_mode {
            return Ok(Computed {
                value,
                formula: format!("{} + 1 = {value}", self.body()),
            });
        }
        let mut formula = format!("⌈{}⌉ + 1 = {value}", self.body());
        // The last window starts at `quotient·stride` in the padded input;
        // PyTorch drops it if that is in the right padding. In `u128`,
        // where these products and sums of `usize`s cannot overflow.
        let last_start = quotient as u128 * self.stride as u128;
        let mut value = value;
        if last_start >= self.input as u128 + self.padding.0 as u128 {
            value = quotient;
            formula.push_str(&format!(
                ", minus the last window, which would start in the padding: {value}"
            ));
        }
        Ok(Computed { value, formula })
    }
}

/// The receptive field of one output pixel: how many input pixels (per
/// axis) can influence it, and the distance in input pixels between
/// neighbouring output pixels. Flat layers see the whole input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receptive {
    pub size: (usize, usize),
    pub jump: (usize, usize),
}

impl Receptive {
    /// One input pixel.
    pub const PIXEL: Receptive = Receptive {
        size: (1, 1),
        jump: (1, 1),
    };

    /// After a sliding window of `kernel`, `stride`, `dilation`:
    /// `size + (kernel − 1)·dilation·jump`, `jump·stride` (saturating).
    #[must_use]
    pub fn window(
        self,
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
    ) -> Receptive {
        let axis = |size: usize, jump: usize, k: usize, s: usize, d: usize| {
            (
                size.saturating_add(k.saturating_sub(1).saturating_mul(d).saturating_mul(jump)),
                jump.saturating_mul(s),
            )
        };
        let (sh, jh) = axis(self.size.0, self.jump.0, kernel.0, stride.0, dilation.0);
        let (sw, jw) = axis(self.size.1, self.jump.1, kernel.1, stride.1, dilation.1);
        Receptive {
            size: (sh, sw),
            jump: (jh, jw),
        }
    }

    /// Clipped to an input of `(h, w)`: a field cannot exceed the image.
    #[must_use]
    pub fn clip(self, (h, w): (usize, usize)) -> (usize, usize) {
        (self.size.0.min(h), self.size.1.min(w))
    }
}

/// `nn.Flatten()` on `[C, H, W]`: `C × H × W`, `None` on overflow.
pub fn flatten(c: usize, h: usize, w: usize) -> Option<Computed> {
    let value = c.checked_mul(h)?.checked_mul(w)?;
    Some(Computed {
        value,
        formula: format!("{c} × {h} × {w} = {value}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(input: usize, kernel: usize, stride: usize, padding: usize, dilation: usize) -> Window {
        Window {
            input,
            kernel,
            stride,
            padding: (padding, padding),
            dilation,
        }
    }

    #[test]
    fn lenet_sizes() {
        assert_eq!(w(32, 5, 1, 0, 1).output(false).unwrap().value, 28);
        assert_eq!(w(28, 2, 2, 0, 1).output(false).unwrap().value, 14);
        assert_eq!(w(14, 5, 1, 0, 1).output(false).unwrap().value, 10);
        assert_eq!(w(10, 2, 2, 0, 1).output(false).unwrap().value, 5);
        assert_eq!(
            w(14, 5, 1, 0, 1).output(false).unwrap().formula,
            "(14 + 2·0 − 1·(5 − 1) − 1) / 1 + 1 = 10"
        );
    }

    #[test]
    fn padding_dilation_stride() {
        // torch.nn.Conv2d(…, 3, stride=2, padding=1, dilation=2) on 8: (8+2-4-1)/2+1 = 3
        assert_eq!(w(8, 3, 2, 1, 2).output(false).unwrap().value, 3);
        // kernel == input
        assert_eq!(w(5, 5, 1, 0, 1).output(false).unwrap().value, 1);
        // stride > kernel: (7 - 1 - 1) / 3 + 1 = 2
        assert_eq!(w(7, 2, 3, 0, 1).output(false).unwrap().value, 2);
        // 1x1
        assert_eq!(w(9, 1, 1, 0, 1).output(false).unwrap().value, 9);
    }

    #[test]
    fn ceil_mode_matches_pytorch() {
        // MaxPool2d(3, 2, ceil_mode=True) on 4: ceil((4-3)/2)+1 = 2
        assert_eq!(w(4, 3, 2, 0, 1).output(true).unwrap().value, 2);
        // kernel 1, stride 2 on 2 (ONNX maxpool_2d_ceil_output_size_reduce_by_one): 1
        assert_eq!(w(2, 1, 2, 0, 1).output(true).unwrap().value, 1);
        // AvgPool2d(3, 3, padding 1, ceil) on 2: ceil((2+2-3)/3)+1 = 2, last starts
        // at 3 >= 2 + 1, dropped: 1
        let c = w(2, 3, 3, 1, 1).output(true).unwrap();
        assert_eq!(c.value, 1);
        assert!(c.formula.contains("padding"), "{}", c.formula);
    }

    #[test]
    fn too_large_windows_are_errors() {
        match w(3, 5, 1, 0, 1).output(false) {
            Err(WindowError::TooLarge { padded, span }) => {
                assert_eq!(padded, "3 + 2·0 = 3");
                assert_eq!(span, "1·(5 − 1) + 1 = 5");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            w(usize::MAX, 1, 1, 1, 1).output(false),
            Err(WindowError::Overflow)
        );
        assert_eq!(
            w(4, usize::MAX, 1, 0, 2).output(false),
            Err(WindowError::Overflow)
        );
    }

    #[test]
    fn lenet_receptive_fields() {
        let r = Receptive::PIXEL.window((5, 5), (1, 1), (1, 1));
        assert_eq!(r.size, (5, 5));
        let r = r.window((2, 2), (2, 2), (1, 1));
        assert_eq!((r.size, r.jump), ((6, 6), (2, 2)));
        let r = r.window((5, 5), (1, 1), (1, 1));
        assert_eq!(r.size, (14, 14));
        let r = r.window((2, 2), (2, 2), (1, 1));
        assert_eq!((r.size, r.jump), ((16, 16), (4, 4)));
        assert_eq!(r.clip((32, 32)), (16, 16));
        let dilated = Receptive::PIXEL.window((3, 3), (1, 1), (2, 2));
        assert_eq!(dilated.size, (5, 5));
    }

    #[test]
    fn flatten_and_shapes() {
        assert_eq!(flatten(16, 5, 5).unwrap().formula, "16 × 5 × 5 = 400");
        assert!(flatten(usize::MAX, 2, 1).is_none());
        assert_eq!(Shape::Map { c: 6, h: 28, w: 28 }.to_string(), "[6, 28, 28]");
        assert_eq!(Shape::Flat(10).len(), Some(10));
    }
}
