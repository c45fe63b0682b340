//! Naive twins of the kernels, written for obviousness rather than speed.
//!
//! Every function here takes its parameters at run time and works on flat
//! row-major slices, computes each output element on its own straight from
//! the PyTorch definition (with an explicit "is this tap inside the input?"
//! test per tap), and accumulates in `f64`. The tests of the optimised
//! kernels compare against these; nothing in the inference path calls them.
//!
//! Nothing here allocates: the caller passes the output slice, sized with
//! the `output_hw` helpers. Lengths that do not match the parameters are a
//! caller bug and panic.
#![allow(clippy::cast_possible_wrap)] // Sizes are far below `isize::MAX`.
#![allow(clippy::cast_possible_truncation)] // f64 → f32 is the intended rounding.
#![allow(clippy::cast_precision_loss)] // Window sizes are small integers.
#![allow(clippy::cast_sign_loss)] // Indices are checked non-negative first.
#![allow(clippy::doc_markdown)] // "PyTorch" is a name, not code.
#![allow(clippy::similar_names, clippy::many_single_char_names)] // Math notation: h, w, oh_n, ow_n.

/// How a convolution fills positions outside its input, PyTorch's
/// `padding_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PaddingMode {
    /// `"zeros"`: padded positions are zero.
    #[default]
    Zeros,
    /// `"reflect"`: mirror at the edge without repeating it.
    Reflect,
    /// `"replicate"`: repeat the edge value.
    Replicate,
    /// `"circular"`: wrap around.
    Circular,
}

impl PaddingMode {
    /// The input index that position `i` (which may be negative or past the
    /// end) reads, or `None` for a zero. Straight from the definitions of
    /// `F.pad`'s modes.
    #[must_use]
    pub fn source(self, i: isize, len: usize) -> Option<usize> {
        let n = len as isize;
        if len == 0 {
            return None;
        }
        if (0..n).contains(&i) {
            return Some(i as usize);
        }
        match self {
            PaddingMode::Zeros => None,
            PaddingMode::Reflect => {
                let j = if i < 0 { -i } else { 2 * (n - 1) - i };
                (0..n).contains(&j).then_some(j as usize)
            }
            PaddingMode::Replicate => Some(i.clamp(0, n - 1) as usize),
            PaddingMode::Circular => Some(i.rem_euclid(n) as usize),
        }
    }
}

/// The parameters of a `torch.nn.Conv2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Input channels `C`.
    pub in_channels: usize,
    /// Output channels `O`.
    pub out_channels: usize,
    /// Kernel `(KH, KW)`.
    pub kernel: (usize, usize),
    /// Stride `(SH, SW)`.
    pub stride: (usize, usize),
    /// Padding `(PH, PW)` on each side.
    pub padding: (usize, usize),
    /// Dilation `(DH, DW)`.
    pub dilation: (usize, usize),
    /// Groups `G`.
    pub groups: usize,
    /// How the padding is filled.
    pub padding_mode: PaddingMode,
}

/// One axis of a convolution's output: `floor((len + 2p − d(k−1) − 1)/s) + 1`,
/// `None` when the dilated kernel does not fit or a parameter is zero.
fn conv_axis(len: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    if k == 0 || s == 0 || d == 0 {
        return None;
    }
    let room = (len + 2 * p) as isize - (d * (k - 1) + 1) as isize;
    (room >= 0).then(|| room as usize / s + 1)
}

impl Conv2dParams {
    /// The output height and width for an input of `(H, W)`, or `None` if the
    /// kernel does not fit.
    #[must_use]
    pub fn output_hw(&self, (h, w): (usize, usize)) -> Option<(usize, usize)> {
        Some((
            conv_axis(
                h,
                self.kernel.0,
                self.stride.0,
                self.padding.0,
                self.dilation.0,
            )?,
            conv_axis(
                w,
                self.kernel.1,
                self.stride.1,
                self.padding.1,
                self.dilation.1,
            )?,
        ))
    }

    /// The number of weight elements, `O · C/G · KH · KW`.
    #[must_use]
    pub fn weight_len(&self) -> usize {
        self.out_channels * (self.in_channels / self.groups) * self.kernel.0 * self.kernel.1
    }
}

/// `Conv2d` on one `[C, H, W]` sample into `output` (`[O, OH, OW]`).
///
/// # Panics
///
/// If the kernel does not fit or a slice length disagrees with `p`.
pub fn conv2d(
    p: &Conv2dParams,
    (h, w): (usize, usize),
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
) {
    let (oh_n, ow_n) = p.output_hw((h, w)).expect("conv2d: kernel does not fit");
    let cg = p.in_channels / p.groups;
    let og = p.out_channels / p.groups;
    let (kh_n, kw_n) = p.kernel;
    assert_eq!(cg * p.groups, p.in_channels);
    assert_eq!(og * p.groups, p.out_channels);
    assert_eq!(input.len(), p.in_channels * h * w);
    assert_eq!(weight.len(), p.weight_len());
    assert_eq!(output.len(), p.out_channels * oh_n * ow_n);
    if let Some(b) = bias {
        assert_eq!(b.len(), p.out_channels);
    }
    for o in 0..p.out_channels {
        let g = o / og;
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let mut acc = bias.map_or(0.0, |b| f64::from(b[o]));
                for ci in 0..cg {
                    let c = g * cg + ci;
                    for kh in 0..kh_n {
                        let ih =
                            (oh * p.stride.0 + kh * p.dilation.0) as isize - p.padding.0 as isize;
                        let Some(ih) = p.padding_mode.source(ih, h) else {
                            continue;
                        };
                        for kw in 0..kw_n {
                            let iw = (ow * p.stride.1 + kw * p.dilation.1) as isize
                                - p.padding.1 as isize;
                            let Some(iw) = p.padding_mode.source(iw, w) else {
                                continue;
                            };
                            let x = input[(c * h + ih) * w + iw];
                            let wt = weight[((o * cg + ci) * kh_n + kh) * kw_n + kw];
                            acc += f64::from(wt) * f64::from(x);
                        }
                    }
                }
                output[(o * oh_n + oh) * ow_n + ow] = acc as f32;
            }
        }
    }
}

/// The `i64` accumulators of an int8 `Conv2d` (TFLite's `ConvPerChannel`
/// before its bias and rescaling): `Σ w · (x − input_zero)` over every tap,
/// a tap outside the input reading `input_zero` (zero padding). `p.padding`
/// is the padding before the input (top, left); the padding after it only
/// sets `(oh, ow)`, given explicitly. `p.padding_mode` must be zeros.
///
/// # Panics
///
/// If a slice length disagrees with the sizes.
#[allow(clippy::too_many_arguments)] // The layer's parameters, as the kernel's.
pub fn quant_conv2d(
    p: &Conv2dParams,
    (h, w): (usize, usize),
    (oh_n, ow_n): (usize, usize),
    input: &[i8],
    input_zero: i8,
    weight: &[i8],
    acc: &mut [i64],
) {
    assert_eq!(p.padding_mode, PaddingMode::Zeros);
    let cg = p.in_channels / p.groups;
    let og = p.out_channels / p.groups;
    let (kh_n, kw_n) = p.kernel;
    assert_eq!(input.len(), p.in_channels * h * w);
    assert_eq!(weight.len(), p.weight_len());
    assert_eq!(acc.len(), p.out_channels * oh_n * ow_n);
    let at = |c: usize, ih: isize, iw: isize| -> i64 {
        if (0..h as isize).contains(&ih) && (0..w as isize).contains(&iw) {
            i64::from(input[(c * h + ih as usize) * w + iw as usize])
        } else {
            i64::from(input_zero)
        }
    };
    for o in 0..p.out_channels {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let mut sum = 0i64;
                for ci in 0..cg {
                    for kh in 0..kh_n {
                        for kw in 0..kw_n {
                            let ih = (oh * p.stride.0 + kh * p.dilation.0) as isize
                                - p.padding.0 as isize;
                            let iw = (ow * p.stride.1 + kw * p.dilation.1) as isize
                                - p.padding.1 as isize;
                            let x = at((o / og) * cg + ci, ih, iw) - i64::from(input_zero);
                            sum += i64::from(weight[((o * cg + ci) * kh_n + kh) * kw_n + kw]) * x;
                        }
                    }
                }
                acc[(o * oh_n + oh) * ow_n + ow] = sum;
            }
        }
    }
}

/// `F.pad(x, (left, right, top, bottom), mode, value)` on `[C, H, W]` into
/// `output` (`[C, top + H + bottom, left + W + right]`): each output pixel
/// reads the input position its mode maps it to, or is `value` where
/// [`PaddingMode::Zeros`] (here "constant") maps it nowhere.
///
/// # Panics
///
/// If a slice length disagrees with the sizes.
pub fn pad2d(
    mode: PaddingMode,
    channels: usize,
    (h, w): (usize, usize),
    (top, bottom, left, right): (usize, usize, usize, usize),
    value: f32,
    input: &[f32],
    output: &mut [f32],
) {
    let (oh_n, ow_n) = (top + h + bottom, left + w + right);
    assert_eq!(input.len(), channels * h * w);
    assert_eq!(output.len(), channels * oh_n * ow_n);
    for c in 0..channels {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let ih = mode.source(oh as isize - top as isize, h);
                let iw = mode.source(ow as isize - left as isize, w);
                output[(c * oh_n + oh) * ow_n + ow] = match (ih, iw) {
                    (Some(ih), Some(iw)) => input[(c * h + ih) * w + iw],
                    _ => value,
                };
            }
        }
    }
}

/// One axis of a pooling output, PyTorch's `pooling_output_shape`:
/// `floor` or `ceil` of `(len + 2p − d(k−1) − 1)/s`, plus one; in ceil mode
/// a last window that would start in the right padding is dropped. `None`
/// if a parameter is zero, `p` exceeds half the dilated kernel, or the
/// output would be empty.
fn pool_axis(len: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> Option<usize> {
    if k == 0 || s == 0 || d == 0 || len == 0 {
        return None;
    }
    let span = d * (k - 1) + 1;
    if p > span / 2 {
        return None;
    }
    let room = (len + 2 * p) as f64 - span as f64;
    let steps = room / s as f64;
    let mut out = if ceil {
        libm::ceil(steps)
    } else {
        libm::floor(steps)
    } as isize
        + 1;
    if ceil && ((out - 1) * s as isize) >= (len + p) as isize {
        out -= 1;
    }
    (out >= 1).then_some(out as usize)
}

/// The parameters of a `torch.nn.MaxPool2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2dParams {
    /// Window `(KH, KW)`.
    pub kernel: (usize, usize),
    /// Stride `(SH, SW)`.
    pub stride: (usize, usize),
    /// Implicit `-inf` padding `(PH, PW)` on each side.
    pub padding: (usize, usize),
    /// Dilation `(DH, DW)`.
    pub dilation: (usize, usize),
    /// `ceil_mode`.
    pub ceil_mode: bool,
}

impl MaxPool2dParams {
    /// The output height and width for an input of `(H, W)`, or `None` if
    /// PyTorch would reject the parameters.
    #[must_use]
    pub fn output_hw(&self, (h, w): (usize, usize)) -> Option<(usize, usize)> {
        Some((
            pool_axis(
                h,
                self.kernel.0,
                self.stride.0,
                self.padding.0,
                self.dilation.0,
                self.ceil_mode,
            )?,
            pool_axis(
                w,
                self.kernel.1,
                self.stride.1,
                self.padding.1,
                self.dilation.1,
                self.ceil_mode,
            )?,
        ))
    }
}

/// `MaxPool2d` on `[C, H, W]` into `output` (`[C, OH, OW]`): the largest
/// real input in each window, NaN if any is NaN, `-inf` for a window of
/// padding only.
///
/// # Panics
///
/// If PyTorch would reject the parameters or a slice length disagrees.
pub fn max_pool2d(
    p: &MaxPool2dParams,
    channels: usize,
    (h, w): (usize, usize),
    input: &[f32],
    output: &mut [f32],
) {
    let (oh_n, ow_n) = p.output_hw((h, w)).expect("max_pool2d: invalid parameters");
    assert_eq!(input.len(), channels * h * w);
    assert_eq!(output.len(), channels * oh_n * ow_n);
    for c in 0..channels {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let mut m = f32::NEG_INFINITY;
                let mut nan = false;
                for kh in 0..p.kernel.0 {
                    let ih = (oh * p.stride.0 + kh * p.dilation.0) as isize - p.padding.0 as isize;
                    for kw in 0..p.kernel.1 {
                        let iw =
                            (ow * p.stride.1 + kw * p.dilation.1) as isize - p.padding.1 as isize;
                        let inside = (0..h as isize).contains(&ih) && (0..w as isize).contains(&iw);
                        if inside {
                            let v = input[(c * h + ih as usize) * w + iw as usize];
                            nan |= v.is_nan();
                            if v > m {
                                m = v;
                            }
                        }
                    }
                }
                output[(c * oh_n + oh) * ow_n + ow] = if nan { f32::NAN } else { m };
            }
        }
    }
}

/// The parameters of a `torch.nn.AvgPool2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2dParams {
    /// Window `(KH, KW)`.
    pub kernel: (usize, usize),
    /// Stride `(SH, SW)`.
    pub stride: (usize, usize),
    /// Implicit zero padding `(PH, PW)` on each side.
    pub padding: (usize, usize),
    /// `ceil_mode`.
    pub ceil_mode: bool,
    /// `count_include_pad`.
    pub count_include_pad: bool,
    /// `divisor_override`.
    pub divisor_override: Option<usize>,
}

impl AvgPool2dParams {
    /// The output height and width for an input of `(H, W)`, or `None` if
    /// PyTorch would reject the parameters.
    #[must_use]
    pub fn output_hw(&self, (h, w): (usize, usize)) -> Option<(usize, usize)> {
        Some((
            pool_axis(
                h,
                self.kernel.0,
                self.stride.0,
                self.padding.0,
                1,
                self.ceil_mode,
            )?,
            pool_axis(
                w,
                self.kernel.1,
                self.stride.1,
                self.padding.1,
                1,
                self.ceil_mode,
            )?,
        ))
    }
}

/// `AvgPool2d` on `[C, H, W]` into `output` (`[C, OH, OW]`).
///
/// The sum of the real inputs in the window, divided by `divisor_override`
/// if set, else by the number of window positions inside the *padded* input
/// (`count_include_pad`; positions past the padding, which only ceil mode
/// creates, are not counted) or by the number of real inputs. A window with
/// no real input gives 0.
///
/// # Panics
///
/// If PyTorch would reject the parameters or a slice length disagrees.
pub fn avg_pool2d(
    p: &AvgPool2dParams,
    channels: usize,
    (h, w): (usize, usize),
    input: &[f32],
    output: &mut [f32],
) {
    let (oh_n, ow_n) = p.output_hw((h, w)).expect("avg_pool2d: invalid parameters");
    assert_eq!(input.len(), channels * h * w);
    assert_eq!(output.len(), channels * oh_n * ow_n);
    let (ph, pw) = (p.padding.0 as isize, p.padding.1 as isize);
    let (hi, wi) = (h as isize, w as isize);
    for c in 0..channels {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let mut sum = 0.0f64;
                let mut real = 0usize;
                let mut in_padded = 0usize;
                for kh in 0..p.kernel.0 {
                    let ih = (oh * p.stride.0 + kh) as isize - ph;
                    for kw in 0..p.kernel.1 {
                        let iw = (ow * p.stride.1 + kw) as isize - pw;
                        if (-ph..hi + ph).contains(&ih) && (-pw..wi + pw).contains(&iw) {
                            in_padded += 1;
                        }
                        if (0..hi).contains(&ih) && (0..wi).contains(&iw) {
                            real += 1;
                            sum += f64::from(input[(c * h + ih as usize) * w + iw as usize]);
                        }
                    }
                }
                let divisor = match p.divisor_override {
                    Some(d) => d,
                    None if p.count_include_pad => in_padded,
                    None => real,
                };
                output[(c * oh_n + oh) * ow_n + ow] = if real == 0 {
                    0.0
                } else {
                    (sum / divisor as f64) as f32
                };
            }
        }
    }
}

/// The input bin `start..end` of adaptive-pooling output `i` of `out` over an
/// axis of `len`: `start = floor(i·len/out)`, `end = ceil((i+1)·len/out)`.
#[must_use]
pub fn adaptive_bin(i: usize, out: usize, len: usize) -> (usize, usize) {
    let start = (i * len) as f64 / out as f64;
    let end = ((i + 1) * len) as f64 / out as f64;
    (libm::floor(start) as usize, libm::ceil(end) as usize)
}

/// `AdaptiveAvgPool2d((OH, OW))` on `[C, H, W]` into `output`
/// (`[C, OH, OW]`): the mean of each bin.
///
/// # Panics
///
/// If a slice length disagrees with the sizes.
pub fn adaptive_avg_pool2d(
    channels: usize,
    (h, w): (usize, usize),
    (oh_n, ow_n): (usize, usize),
    input: &[f32],
    output: &mut [f32],
) {
    assert_eq!(input.len(), channels * h * w);
    assert_eq!(output.len(), channels * oh_n * ow_n);
    for c in 0..channels {
        for oh in 0..oh_n {
            let (h0, h1) = adaptive_bin(oh, oh_n, h);
            for ow in 0..ow_n {
                let (w0, w1) = adaptive_bin(ow, ow_n, w);
                let mut sum = 0.0f64;
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        sum += f64::from(input[(c * h + ih) * w + iw]);
                    }
                }
                let n = ((h1 - h0) * (w1 - w0)) as f64;
                output[(c * oh_n + oh) * ow_n + ow] = (sum / n) as f32;
            }
        }
    }
}

/// `AdaptiveMaxPool2d((OH, OW))` on `[C, H, W]` into `output`
/// (`[C, OH, OW]`): the maximum of each bin, NaN if the bin holds a NaN.
///
/// # Panics
///
/// If a slice length disagrees with the sizes.
pub fn adaptive_max_pool2d(
    channels: usize,
    (h, w): (usize, usize),
    (oh_n, ow_n): (usize, usize),
    input: &[f32],
    output: &mut [f32],
) {
    assert_eq!(input.len(), channels * h * w);
    assert_eq!(output.len(), channels * oh_n * ow_n);
    for c in 0..channels {
        for oh in 0..oh_n {
            let (h0, h1) = adaptive_bin(oh, oh_n, h);
            for ow in 0..ow_n {
                let (w0, w1) = adaptive_bin(ow, ow_n, w);
                let bin =
                    (h0..h1).flat_map(|ih| (w0..w1).map(move |iw| input[(c * h + ih) * w + iw]));
                let m = bin.fold(f32::NEG_INFINITY, |m, v| {
                    if v.is_nan() || m.is_nan() {
                        f32::NAN
                    } else {
                        m.max(v)
                    }
                });
                output[(c * oh_n + oh) * ow_n + ow] = m;
            }
        }
    }
}

/// `Linear`: `output[o] = bias[o] + Σ_i weight[o][i] · input[i]`, with
/// `weight` row-major `[O, I]`.
///
/// # Panics
///
/// If a slice length disagrees with the sizes.
pub fn linear(input: &[f32], weight: &[f32], bias: Option<&[f32]>, output: &mut [f32]) {
    let (n_in, n_out) = (input.len(), output.len());
    assert_eq!(weight.len(), n_in * n_out);
    for (o, y) in output.iter_mut().enumerate() {
        let mut acc = bias.map_or(0.0, |b| f64::from(b[o]));
        for i in 0..n_in {
            acc += f64::from(weight[o * n_in + i]) * f64::from(input[i]);
        }
        *y = acc as f32;
    }
}

/// `softmax` over the middle axis of `x` viewed as `[outer, d, inner]`:
/// `exp(x − max) / Σ exp(x − max)`.
///
/// # Panics
///
/// If `x.len() != outer · d · inner`.
pub fn softmax(x: &mut [f32], outer: usize, d: usize, inner: usize) {
    normalize(x, outer, d, inner, false);
}

/// `log_softmax` over the middle axis of `x` viewed as `[outer, d, inner]`:
/// `x − max − ln Σ exp(x − max)`.
///
/// # Panics
///
/// If `x.len() != outer · d · inner`.
pub fn log_softmax(x: &mut [f32], outer: usize, d: usize, inner: usize) {
    normalize(x, outer, d, inner, true);
}

fn normalize(x: &mut [f32], outer: usize, d: usize, inner: usize, log: bool) {
    assert_eq!(x.len(), outer * d * inner);
    let at = |o: usize, k: usize, i: usize| (o * d + k) * inner + i;
    for o in 0..outer {
        for i in 0..inner {
            let max = (0..d)
                .map(|k| f64::from(x[at(o, k, i)]))
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..d)
                .map(|k| libm::exp(f64::from(x[at(o, k, i)]) - max))
                .sum();
            for k in 0..d {
                let v = f64::from(x[at(o, k, i)]);
                x[at(o, k, i)] = if log {
                    (v - max - libm::log(sum)) as f32
                } else {
                    (libm::exp(v - max) / sum) as f32
                };
            }
        }
    }
}

/// `BatchNorm2d` in eval mode on `[C, H·W]`:
/// `(x − mean) / sqrt(var + eps) · weight + bias`, weight 1 and bias 0 when
/// absent.
///
/// # Panics
///
/// If a slice length disagrees with `channels`.
pub fn batch_norm2d(
    x: &mut [f32],
    channels: usize,
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    mean: &[f32],
    var: &[f32],
    eps: f32,
) {
    assert_eq!(x.len() % channels.max(1), 0);
    assert_eq!(mean.len(), channels);
    assert_eq!(var.len(), channels);
    let plane = x.len().checked_div(channels).unwrap_or(0);
    for c in 0..channels {
        let w = weight.map_or(1.0, |w| f64::from(w[c]));
        let b = bias.map_or(0.0, |b| f64::from(b[c]));
        let std = libm::sqrt(f64::from(var[c]) + f64::from(eps));
        for v in &mut x[c * plane..(c + 1) * plane] {
            *v = ((f64::from(*v) - f64::from(mean[c])) / std * w + b) as f32;
        }
    }
}

/// Scalar activations, each PyTorch's definition evaluated in `f64`.
pub mod act {
    #![allow(clippy::cast_possible_truncation)] // f64 → f32 is the intended rounding.

    /// `max(0, x)`, NaN stays NaN.
    #[must_use]
    pub fn relu(x: f32) -> f32 {
        if x > 0.0 || x.is_nan() {
            x
        } else {
            0.0
        }
    }

    /// `min(max(0, x), 6)`, NaN stays NaN.
    #[must_use]
    pub fn relu6(x: f32) -> f32 {
        if x.is_nan() {
            x
        } else {
            x.clamp(0.0, 6.0)
        }
    }

    /// `x` if `x > 0`, else `slope · x`.
    #[must_use]
    pub fn leaky_relu(x: f32, slope: f32) -> f32 {
        (if x > 0.0 {
            f64::from(x)
        } else {
            f64::from(slope) * f64::from(x)
        }) as f32
    }

    /// `x` if `x > 0`, else `alpha · (eˣ − 1)`.
    #[must_use]
    pub fn elu(x: f32, alpha: f32) -> f32 {
        let x = f64::from(x);
        (if x > 0.0 {
            x
        } else {
            f64::from(alpha) * (libm::exp(x) - 1.0)
        }) as f32
    }

    /// `scale · (max(0, x) + min(0, alpha · (eˣ − 1)))` with PyTorch's
    /// constants.
    #[must_use]
    pub fn selu(x: f32) -> f32 {
        const ALPHA: f64 = 1.673_263_242_354_377_284_817_042_991_671_7;
        const SCALE: f64 = 1.050_700_987_355_480_493_419_334_985_294_6;
        let x = f64::from(x);
        (SCALE * (x.max(0.0) + (ALPHA * (libm::exp(x) - 1.0)).min(0.0))) as f32
    }

    /// `x · Φ(x) = x/2 · (1 + erf(x/√2))`.
    #[must_use]
    pub fn gelu(x: f32) -> f32 {
        let x = f64::from(x);
        (0.5 * x * (1.0 + libm::erf(x / core::f64::consts::SQRT_2))) as f32
    }

    /// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
    #[must_use]
    pub fn gelu_tanh(x: f32) -> f32 {
        let x = f64::from(x);
        let k = libm::sqrt(2.0 / core::f64::consts::PI);
        (0.5 * x * (1.0 + libm::tanh(k * (x + 0.044_715 * x * x * x)))) as f32
    }

    /// `x · sigmoid(x)`.
    #[must_use]
    pub fn silu(x: f32) -> f32 {
        let x = f64::from(x);
        (x / (1.0 + libm::exp(-x))) as f32
    }

    /// `x · relu6(x + 3) / 6`.
    #[must_use]
    pub fn hardswish(x: f32) -> f32 {
        let x = f64::from(x);
        (x * (x + 3.0).clamp(0.0, 6.0) / 6.0) as f32
    }

    /// `relu6(x + 3) / 6`.
    #[must_use]
    pub fn hardsigmoid(x: f32) -> f32 {
        let x = f64::from(x);
        ((x + 3.0).clamp(0.0, 6.0) / 6.0) as f32
    }

    /// `1 / (1 + e⁻ˣ)`.
    #[must_use]
    pub fn sigmoid(x: f32) -> f32 {
        (1.0 / (1.0 + libm::exp(-f64::from(x)))) as f32
    }

    /// `tanh(x)`.
    #[must_use]
    pub fn tanh(x: f32) -> f32 {
        libm::tanh(f64::from(x)) as f32
    }
}

/// The scalar `f32` activations with `libm`'s functions: the formulas and
/// operation order of PyTorch's CPU kernels, as constnet computed them
/// before the activations were vectorised. They are the yardstick of the
/// accuracy tests (each vectorised function is within a stated number of
/// ulps of its twin here) and the "before" of `benches/act_pool.rs`.
pub mod libm_act {
    // The same constants as `crate::act`'s, rounded the same way.
    #[allow(clippy::cast_possible_truncation)] // Intended rounding of a constant.
    const SELU_ALPHA: f32 = 1.673_263_242_354_377_3_f64 as f32;
    #[allow(clippy::cast_possible_truncation)] // Intended rounding of a constant.
    const SELU_SCALE: f32 = 1.050_700_987_355_480_5_f64 as f32;
    #[allow(clippy::cast_possible_truncation)] // Intended rounding of a constant.
    const GELU_BETA: f32 =
        (core::f64::consts::SQRT_2 * core::f64::consts::FRAC_2_SQRT_PI * 0.5) as f32;

    /// `libm::expf`.
    #[must_use]
    pub fn exp(x: f32) -> f32 {
        libm::expf(x)
    }

    /// `libm::expm1f`.
    #[must_use]
    pub fn expm1(x: f32) -> f32 {
        libm::expm1f(x)
    }

    /// `libm::erff`.
    #[must_use]
    pub fn erf(x: f32) -> f32 {
        libm::erff(x)
    }

    /// `libm::tanhf`.
    #[must_use]
    pub fn tanh(x: f32) -> f32 {
        libm::tanhf(x)
    }

    /// `1 / (1 + expf(−x))`.
    #[must_use]
    pub fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + libm::expf(-x))
    }

    /// `x / (1 + expf(−x))`.
    #[must_use]
    pub fn silu(x: f32) -> f32 {
        x / (1.0 + libm::expf(-x))
    }

    /// `x > 0 ? x : expm1f(x) · alpha`.
    #[must_use]
    pub fn elu(x: f32, alpha: f32) -> f32 {
        if x > 0.0 {
            x
        } else {
            libm::expm1f(x) * alpha
        }
    }

    /// `x > 0 ? x · scale : expm1f(x) · (alpha · scale)`.
    #[must_use]
    pub fn selu(x: f32) -> f32 {
        if x > 0.0 {
            x * SELU_SCALE
        } else {
            libm::expm1f(x) * (SELU_ALPHA * SELU_SCALE)
        }
    }

    /// `x · 0.5 · (1 + erff(x / √2))`.
    #[must_use]
    pub fn gelu(x: f32) -> f32 {
        x * 0.5 * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2))
    }

    /// `0.5 · x · (1 + tanhf(β · (x + 0.044715 · x³)))`.
    #[must_use]
    pub fn gelu_tanh(x: f32) -> f32 {
        let cube = x * x * x;
        let inner = GELU_BETA * (x + 0.044_715 * cube);
        0.5 * x * (1.0 + libm::tanhf(inner))
    }

    /// (Log-)softmax over the middle axis of `x` viewed as
    /// `[outer, d, inner]`, one lane at a time, with `expf` and `logf`.
    ///
    /// # Panics
    ///
    /// If `x.len() != outer · d · inner`.
    pub fn normalize(x: &mut [f32], outer: usize, d: usize, inner: usize, log: bool) {
        assert_eq!(x.len(), outer * d * inner);
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * d + k) * inner + i;
                let max = (0..d).map(|k| x[at(k)]).fold(f32::NEG_INFINITY, |m, v| {
                    if v > m || v.is_nan() {
                        v
                    } else {
                        m
                    }
                });
                let mut sum = 0.0f32;
                for k in 0..d {
                    let e = libm::expf(x[at(k)] - max);
                    sum += e;
                    if !log {
                        x[at(k)] = e;
                    }
                }
                if log {
                    let log_sum = libm::logf(sum);
                    for k in 0..d {
                        x[at(k)] = x[at(k)] - max - log_sum;
                    }
                } else {
                    let scale = 1.0 / sum;
                    for k in 0..d {
                        x[at(k)] *= scale;
                    }
                }
            }
        }
    }
}

/// Helpers shared by the kernel tests: deterministic data and comparison.
#[cfg(test)]
#[allow(clippy::float_cmp)] // Infinities must match exactly.
pub(crate) mod test_util {
    /// A xorshift32 generator: deterministic, dependency-free test data.
    pub(crate) struct Rng(u32);

    impl Rng {
        pub(crate) fn new(seed: u32) -> Self {
            // Mix the seed so that small seeds give unrelated streams; never 0.
            Rng(seed.wrapping_mul(0x9E37_79B9) | 1)
        }

        pub(crate) fn next_u32(&mut self) -> u32 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.0 = x;
            x
        }

        /// Uniform in `[-1, 1)`, on a 2⁻²³ grid.
        #[allow(clippy::cast_precision_loss)] // 24-bit values are exact in f32.
        pub(crate) fn next_f32(&mut self) -> f32 {
            (self.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        }

        pub(crate) fn fill(&mut self, xs: &mut [f32]) {
            for x in xs {
                *x = self.next_f32();
            }
        }
    }

    /// The bit patterns of `xs`, every NaN as the canonical quiet NaN: what
    /// "the same bits" means for kernels. Rust, like IEEE 754, leaves the sign
    /// and payload of a NaN an operation produces unspecified (Miri
    /// randomises them), so only NaN-ness is compared.
    pub(crate) fn bits(xs: &[f32]) -> std::vec::Vec<u32> {
        xs.iter()
            .map(|v| if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() })
            .collect()
    }

    /// Whether `a` is within `1e-5` of `e`, relative for `|e| > 1`; NaNs and
    /// infinities must match exactly.
    pub(crate) fn close(a: f32, e: f32) -> bool {
        if e.is_nan() || a.is_nan() {
            return e.is_nan() && a.is_nan();
        }
        if e.is_infinite() || a.is_infinite() {
            return a == e;
        }
        (a - e).abs() <= 1e-5 * e.abs().max(1.0)
    }

    /// Asserts that every element of `actual` is [`close`] to `expected`.
    #[track_caller]
    pub(crate) fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: length");
        for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
            assert!(close(a, e), "{what}: element {i}: got {a}, expected {e}");
        }
    }
}

#[cfg(test)]
// Hand-worked values are exact, so exact comparisons are intended; test
// tensors of a few tens of KiB on the stack are fine.
#[allow(
    clippy::float_cmp,
    clippy::large_stack_arrays,
    clippy::cast_precision_loss
)]
mod tests {
    use super::*;

    #[test]
    fn padding_mode_sources() {
        let map = |m: PaddingMode| -> [Option<usize>; 7] {
            core::array::from_fn(|i| m.source(i as isize - 2, 3))
        };
        assert_eq!(
            map(PaddingMode::Reflect),
            [
                Some(2),
                Some(1),
                Some(0),
                Some(1),
                Some(2),
                Some(1),
                Some(0)
            ]
        );
        assert_eq!(
            map(PaddingMode::Circular),
            [
                Some(1),
                Some(2),
                Some(0),
                Some(1),
                Some(2),
                Some(0),
                Some(1)
            ]
        );
        assert_eq!(
            map(PaddingMode::Replicate),
            [
                Some(0),
                Some(0),
                Some(0),
                Some(1),
                Some(2),
                Some(2),
                Some(2)
            ]
        );
        assert_eq!(
            map(PaddingMode::Zeros),
            [None, None, Some(0), Some(1), Some(2), None, None]
        );
    }

    #[test]
    fn pool_axis_follows_pytorch() {
        // nn.MaxPool2d(2) on 5: floor → 2, ceil → 3.
        assert_eq!(pool_axis(5, 2, 2, 0, 1, false), Some(2));
        assert_eq!(pool_axis(5, 2, 2, 0, 1, true), Some(3));
        // ceil mode, the last window would start in the right padding:
        // in 4, k 3, s 2, p 1: ceil((4+2-3)/2)+1 = 3, but (3-1)*2 = 4 >= 4+1? no → 3.
        assert_eq!(pool_axis(4, 3, 2, 1, 1, true), Some(3));
        // in 5, k 2, s 2, p 1: ceil(5/2)+1 = 4, (4-1)*2 = 6 >= 6 → 3.
        assert_eq!(pool_axis(5, 2, 2, 1, 1, true), Some(3));
        // Padding over half the kernel is rejected.
        assert_eq!(pool_axis(5, 2, 2, 2, 1, false), None);
        assert_eq!(adaptive_bin(0, 3, 5), (0, 2));
        assert_eq!(adaptive_bin(1, 3, 5), (1, 4));
        assert_eq!(adaptive_bin(2, 3, 5), (3, 5));
    }

    #[test]
    fn conv_shapes() {
        let p = Conv2dParams {
            in_channels: 1,
            out_channels: 6,
            kernel: (5, 5),
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            padding_mode: PaddingMode::Zeros,
        };
        assert_eq!(p.output_hw((32, 32)), Some((28, 28)));
        assert_eq!(p.output_hw((4, 32)), None);
        assert_eq!(p.weight_len(), 150);
    }
}
